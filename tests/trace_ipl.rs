//! The `ipl <gr1> => ok|cc=3` trace statement: parsed, printed, replayed
//! through `Css::ipl` (emulated DASD IPL traces are in the dasd tests).

use std::path::Path;

use zcss::trace::replay::{replay, FileReport, ReplayOptions};
use zcss::trace::{parse, print, SyntaxError};

fn run(text: &str) -> FileReport {
    let trace = parse(text).unwrap();
    let mut out = Vec::new();
    replay(&trace, Path::new("."), &ReplayOptions::default(), &mut out, &mut |_| {}).unwrap()
}

#[test]
fn ipl_statement_round_trips() {
    let text = "zcss-trace 1\nipl 0x00010000 => ok\nipl 0x00010001 => cc=3\n";
    assert_eq!(print(&parse(text).unwrap()), text);
}

#[test]
fn ipl_result_must_be_ok_or_cc3() {
    let e = parse("zcss-trace 1\nipl 0x00010000 => cc=0\n").unwrap_err();
    assert!(
        matches!(e.kind, SyntaxError::ResultNotPossible { insn: "ipl", .. }),
        "{e:?}"
    );
}

#[test]
fn ipl_from_a_device_without_read_ipl_is_cc3_and_from_nothing_too() {
    // virtio rejects READ IPL (command 0x02): the IPL I/O fails.
    let r = run("zcss-trace 1\n\
        device fe.0.0000 devno=0000 virtio-rng\n\
        ipl 0x00010000 => cc=3\n\
        ipl 0x00010007 => cc=3\n\
        ipl 0x00000000 => pgm=operand\n");
    assert!(r.mismatches.is_empty(), "{:?}", r.mismatches);
    assert_eq!(r.instructions, 3);
}
