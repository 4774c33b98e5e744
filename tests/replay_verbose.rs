//! `replay --verbose` lists the channel program the engine ran: the CCWs
//! fetched in order (TICs included), what data chaining did to the command
//! code, the bytes each CCW moved, the IDAL as used, where the program
//! stopped and why — not a decoding of storage after the CPA.

use std::path::Path;

use zcss::trace::parse;
use zcss::trace::replay::{replay, ReplayOptions};

const HEAD: &str = "\
zcss-trace 1
machine memory=0x100000
device fe.0.0000 devno=0000 virtio-blk size=65536
stsch fe.0.0000 0x1000 => cc=0
store 0x1004 18810000
msch fe.0.0000 0x1000 => cc=0
";

fn verbose(body: &str) -> String {
    let text = format!("{HEAD}{body}");
    let t = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    let opts = ReplayOptions {
        verbose: true,
        ..ReplayOptions::default()
    };
    let r = replay(&t, Path::new("."), &opts, &mut out, &mut |_| {}).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(r.mismatches, vec![], "{out}");
    out
}

/// The listing lines of the statement on line `line`: from it to the next
/// statement.
fn listing(out: &str, line: usize) -> Vec<String> {
    let mut lines = out
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(&format!("{line}  ")));
    let mut v = Vec::new();
    lines.next();
    for l in lines {
        if l.len() > 6 && l[..5].trim().parse::<usize>().is_ok() {
            break;
        }
        v.push(l.trim().to_owned());
    }
    v
}

#[test]
fn verbose_tic_to_tic_lists_the_two_tics_and_the_check() {
    let out = verbose(
        "orb 0x1800 intparm=0x2 controls=format1 lpm=0x80 cpa=0x2100
ccw1 0x2100 cmd=0x03 flags=cc count=0 cda=0
ccw1 0x2108 cmd=0x08 cda=0x2110
ccw1 0x2110 cmd=0x08 cda=0x2100
ssch fe.0.0000 0x1800 => cc=0
",
    );
    let l = listing(&out, 11);
    assert_eq!(
        l,
        vec![
            "orb 0x00001800 intparm=0x2 key=0 controls=format1 lpm=0x80 cpa=0x2100",
            "ccw1 0x00002100 cmd=0x03 flags=cc count=0 cda=0x0  # NOP, 0 bytes",
            "ccw1 0x00002108 cmd=0x08 flags=0 count=0 cda=0x2110  # TIC",
            "ccw1 0x00002110 cmd=0x08 flags=0 count=0 cda=0x2100  # TIC",
            "ended: Checked: TicToTic — scsw cpa=0x2118 count=0 dstat=0 cstat=PC",
            "got cc=0",
        ]
    );
}

#[test]
fn verbose_tic_loop_is_listed_once_with_a_count() {
    let out = verbose(
        "orb 0x1800 intparm=0x4 controls=format1 lpm=0x80 cpa=0x2000
ccw1 0x2000 cmd=0x03 flags=cc|sli count=0 cda=0
ccw1 0x2008 cmd=0x08 cda=0x2000
ssch fe.0.0000 0x1800 => cc=0
",
    );
    let l = listing(&out, 10);
    assert_eq!(l.len(), 6, "{l:?}");
    assert_eq!(l[3], "… the program loops back to 0x2000: 1022 more CCWs fetched");
    assert!(l[4].starts_with("ended: Checked: WorkLimit"), "{l:?}");
}

#[test]
fn verbose_data_chaining_labels_the_ignored_command_code_and_bytes() {
    let out = verbose(
        "orb 0x1800 intparm=0x1 controls=format1 lpm=0x80 cpa=0x2000
ccw1 0x2000 cmd=0xe4 flags=cd count=4 cda=0x3000
ccw1 0x2008 cmd=0x99 flags=sli count=8 cda=0x3100
ssch fe.0.0000 0x1800 => cc=0
",
    );
    let l = listing(&out, 10);
    assert_eq!(
        l[1],
        "ccw1 0x00002000 cmd=0xe4 flags=cd count=4 cda=0x3000  # SENSE ID, 4 bytes"
    );
    assert!(
        l[2].starts_with(
            "ccw1 0x00002008 cmd=0x99 flags=sli count=8 cda=0x3100  # data chained (command code not used), "
        ),
        "{l:?}"
    );
}

#[test]
fn verbose_lists_the_idal_as_used() {
    let out = verbose(
        "orb 0x1800 intparm=0x1 controls=format1 lpm=0x80 cpa=0x2000
idal1 0x3800 0x000057fc 0x00005800 0x00006000
ccw1 0x2000 cmd=0xe4 flags=sli|ida count=8 cda=0x3800
ssch fe.0.0000 0x1800 => cc=0
",
    );
    let l = listing(&out, 10);
    assert_eq!(
        l[2], "idal1 0x00003800 0x000057fc 0x00005800",
        "only the IDAWs the 8 bytes used: {l:?}"
    );
}

#[test]
fn verbose_misaligned_orb_lists_no_program() {
    let out = verbose("ssch fe.0.0000 0x1802 => pgm=specification\n");
    assert_eq!(listing(&out, 7), vec!["got pgm=specification"]);
}
