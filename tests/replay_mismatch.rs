//! Replay mismatches: deliberately wrong traces fail with the right field
//! names, replay goes on after a mismatch, `--bless` repairs a trace keeping
//! comments and wildcards, and the `zcss` command's exit codes.

use std::path::Path;
use std::process::Command;

use zcss::trace::replay::{replay, FileReport, ReplayOptions};
use zcss::trace::{parse, print};

/// A SENSE ID on an enabled virtio-blk subchannel (devno 0005), checked at
/// every step. Replays clean (asserted by `base_trace_replays_clean`).
const BASE: &str = "\
zcss-trace 1
machine memory=0x100000
device fe.0.0000 devno=0005 virtio-blk size=65536
# enable the subchannel
stsch 0x00010000 0x1000 => cc=0
expect 0x1000 00000000 00010005 80000080 0000ff80 00000000 00000000 00000000
store 0x1004 18810005
msch 0x00010000 0x1000 => cc=0
# SENSE ID
store 0x1800 0000000c 0080ff00 00002000
store 0x2000 e4200008 00003000
ssch 0x00010000 0x1800 => cc=0
expect 0x3000 ff383202 ........
tpi 0x4800 => cc=1
expect 0x4800 00010000 0000000c
tsch 0x00010000 0x4000 => cc=0
expect 0x4000 00804007 00002008 0c000000 00800000
";

fn run(text: &str, bless: bool) -> FileReport {
    let trace = parse(text).unwrap();
    let mut out = Vec::new();
    replay(
        &trace,
        Path::new("."),
        &ReplayOptions {
            verbose: false,
            bless,
            ..ReplayOptions::default()
        },
        &mut out,
        &mut |_| {},
    )
    .unwrap()
}

fn messages(r: &FileReport) -> Vec<(usize, String)> {
    r.mismatches.iter().map(|m| (m.line, m.message.clone())).collect()
}

#[test]
fn base_trace_replays_clean() {
    let r = run(BASE, false);
    assert_eq!(messages(&r), vec![]);
    assert_eq!(r.statements, 15);
    assert_eq!(r.instructions, 5);
    assert_eq!(r.checks, 9);
}

#[test]
fn replay_wrong_device_status_names_irb_scsw_dstat() {
    let text = BASE.replace("00002008 0c000000 00800000", "00002008 0e000000 00800000");
    let r = run(&text, false);
    assert_eq!(
        messages(&r),
        vec![(17, "irb.scsw.dstat expected CE|DE|UC got CE|DE".into())]
    );
    assert_eq!(r.failed_checks, 1);
}

#[test]
fn replay_wrong_devno_names_schib_pmcw_devno() {
    let text = BASE.replace("00010005 80000080", "00010006 80000080");
    let r = run(&text, false);
    assert_eq!(messages(&r), vec![(6, "schib.pmcw.devno expected 0x6 got 0x5".into())]);
}

#[test]
fn replay_wrong_intparm_names_intcode_intparm() {
    let text = BASE.replace("expect 0x4800 00010000 0000000c", "expect 0x4800 00010000 0000000d");
    let r = run(&text, false);
    assert_eq!(messages(&r), vec![(15, "intcode.intparm expected 0xd got 0xc".into())]);
}

#[test]
fn replay_wrong_cc_reports_expected_and_got() {
    let text = BASE.replace("ssch 0x00010000 0x1800 => cc=0", "ssch 0x00010000 0x1800 => cc=1");
    let r = run(&text, false);
    assert_eq!(
        messages(&r),
        vec![(
            12,
            "ssch: expected cc=1 got cc=0 (orb: intparm=0xc f=1 lpm=0xff cpa=0x2000)".into()
        )]
    );
}

#[test]
fn replay_wrong_program_check_reports_names() {
    let text = BASE.replace(
        "msch 0x00010000 0x1000 => cc=0",
        "msch 0x00010000 0x1000 => pgm=operand",
    );
    let r = run(&text, false);
    assert_eq!(messages(&r), vec![(8, "msch: expected pgm=operand got cc=0".into())]);
}

#[test]
fn replay_wrong_data_reports_storage_offset() {
    let text = BASE.replace("expect 0x3000 ff383202", "expect 0x3000 ff383203");
    let r = run(&text, false);
    assert_eq!(
        messages(&r),
        vec![(
            13,
            "storage at 0x3003 (offset 3 of the expect at 0x3000): 1 byte differs\n  \
             0x00003000  expected ff 38 32 03 .. .. .. ..\n              \
             got      ff 38 32 02 00 00 00 00\n                                \
             ^^"
            .into()
        )]
    );
}

#[test]
fn replay_after_mismatch_goes_on_and_reports_every_one() {
    let text = BASE
        .replace("ssch 0x00010000 0x1800 => cc=0", "ssch 0x00010000 0x1800 => cc=2")
        .replace("00002008 0c000000 00800000", "00002008 0c000000 00000000");
    let r = run(&text, false);
    let m = messages(&r);
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(m[0].0, 12);
    assert_eq!(m[1], (17, "irb.esw.scl.lpum expected 0x0 got 0x80".into()));
}

#[test]
fn replay_wildcards_are_not_compared() {
    let text = BASE.replace("expect 0x4000 00804007 00002008", "expect 0x4000 ........ 00002008");
    let r = run(&text, false);
    assert_eq!(messages(&r), vec![]);
}

#[test]
fn replay_store_outside_storage_is_a_mismatch() {
    let text = BASE.replace("store 0x2000 e4200008", "store 0x200000 e4200008");
    let r = run(&text, false);
    assert_eq!(r.mismatches[0].line, 11);
    assert!(
        r.mismatches[0].message.starts_with("store outside guest storage"),
        "{:?}",
        r.mismatches
    );
}

#[test]
fn bless_rewrites_results_and_bytes_keeping_comments_and_wildcards() {
    let wrong = BASE
        .replace(
            "ssch 0x00010000 0x1800 => cc=0",
            "ssch 0x00010000 0x1800 => cc=2 # was wrong",
        )
        .replace("expect 0x3000 ff383202 ........", "expect 0x3000 00000000 ........")
        .replace("tsch 0x00010000 0x4000 => cc=0", "tsch 0x00010000 0x4000");
    assert!(!run(&wrong, false).mismatches.is_empty());
    let r = run(&wrong, true);
    let blessed = print(r.blessed.as_ref().unwrap());
    let expected = BASE.replace(
        "ssch 0x00010000 0x1800 => cc=0",
        "ssch 0x00010000 0x1800 => cc=0 # was wrong",
    );
    assert_eq!(blessed, expected);
    assert_eq!(messages(&run(&blessed, false)), vec![]);
}

#[test]
fn bless_keeps_gr2_cookie_when_it_holds() {
    let text = "zcss-trace 1\ndevice fe.0.0000 devno=0000 virtio-rng\ndiag500 3 0x00010000 0 0 => gr2=-22\n";
    let r = run(text, true);
    assert_eq!(messages(&r), vec![]);
    assert_eq!(print(r.blessed.as_ref().unwrap()), text);
}

fn zcss(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zcss")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_trace(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("zcss-replay-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn cli_replay_clean_trace_exits_0_with_summary() {
    let p = temp_trace("clean.zct", BASE);
    let (code, out, _) = zcss(&["replay", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("15 statements, 5 instructions, 9 checks, 0 mismatches"),
        "{out}"
    );
    assert!(out.contains("total: 1 file: 1 passed"), "{out}");
}

#[test]
fn cli_replay_mismatch_exits_1_and_names_file_line_field() {
    let p = temp_trace("wrong.zct", &BASE.replace("0c000000 00800000", "0e000000 00800000"));
    let (code, out, _) = zcss(&["replay", p.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("wrong.zct:17: irb.scsw.dstat expected CE|DE|UC got CE|DE"),
        "{out}"
    );
}

#[test]
fn cli_replay_malformed_trace_exits_3_with_line_and_column() {
    let p = temp_trace("bad.zct", "zcss-trace 1\nssch 0x10000 0xzz\n");
    let (code, _, err) = zcss(&["replay", p.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(err.contains("bad.zct:2:14: expected a number"), "{err}");
}

#[test]
fn cli_replay_unbuildable_device_exits_3_naming_its_line() {
    let p = temp_trace(
        "dasd.zct",
        "zcss-trace 1\ndevice 0.0.0000 devno=0100 dasd-3390 model=9 cylinders=20000\n",
    );
    let (code, _, err) = zcss(&["replay", p.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(
        err.contains("dasd.zct:2: cylinders=20000: a 3390-9 has 1 to 10020 cylinders"),
        "{err}"
    );
}

#[test]
fn cli_replay_absurd_memory_exits_3() {
    let p = temp_trace("mem.zct", "zcss-trace 1\nmachine memory=0x100000000000\n");
    let (code, _, err) = zcss(&["replay", p.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(err.contains("out of range"), "{err}");
}

#[test]
fn cli_replay_missing_file_exits_4() {
    let (code, _, err) = zcss(&["replay", "/nonexistent/x.zct"]);
    assert_eq!(code, 4);
    assert!(err.contains("/nonexistent/x.zct"), "{err}");
}

#[test]
fn cli_replay_missing_image_exits_4() {
    let p = temp_trace(
        "img.zct",
        "zcss-trace 1\ndevice fe.0.0000 devno=0000 virtio-blk image=nothere.img\n",
    );
    let (code, _, err) = zcss(&["replay", p.to_str().unwrap()]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("nothere.img"), "{err}");
}

#[test]
fn cli_usage_error_exits_2() {
    let (code, _, _) = zcss(&["replay"]);
    assert_eq!(code, 2);
    let (code, _, _) = zcss(&["decode", "irb", "xyz"]);
    assert_eq!(code, 2);
}

#[test]
fn cli_bless_rewrites_the_file() {
    let p = temp_trace("bless.zct", &BASE.replace("tpi 0x4800 => cc=1", "tpi 0x4800 => cc=0"));
    let (code, out, _) = zcss(&["replay", "--bless", p.to_str().unwrap()]);
    assert_eq!(code, 0, "a successful bless exits 0: {out}");
    assert!(
        out.contains("bless.zct:14: tpi: expected cc=0 got cc=1"),
        "it still says what differed: {out}"
    );
    assert_eq!(std::fs::read_to_string(&p).unwrap(), BASE);
    let (code, _, _) = zcss(&["replay", p.to_str().unwrap()]);
    assert_eq!(code, 0);
}

#[test]
fn cli_verbose_lists_the_channel_program_and_irb() {
    let p = temp_trace("verbose.zct", BASE);
    let (code, out, _) = zcss(&["replay", "--verbose", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("ccw1 0x00002000 cmd=0xe4 flags=sli count=8 cda=0x3000  # SENSE ID, 8 bytes"),
        "{out}"
    );
    assert!(out.contains("irb.scsw.dstat = CE|DE"), "{out}");
    assert!(out.contains("schib.pmcw.devno = 0x5"), "{out}");
}

#[test]
fn cli_decode_lists_fields() {
    let (code, out, _) = zcss(&["decode", "ccw1", "e4200008", "00003000"]);
    assert_eq!(code, 0);
    assert!(out.contains("ccw1.ccw[0].cmd"), "{out}");
    assert!(out.contains("= SLI"), "{out}");
    let (code, out, _) = zcss(&["decode", "scsw", "00804007 00002008 0c000000"]);
    assert_eq!(code, 0);
    assert!(out.contains("scsw.dstat") && out.contains("CE|DE"), "{out}");
}

#[test]
fn cli_lscss_lists_devices_like_lscss() {
    let p = temp_trace(
        "lscss.zct",
        "zcss-trace 1\ndevice fe.0.0000 devno=0000 virtio-blk\ndevice fe.0.0001 devno=0300 virtio-rng\n",
    );
    let (code, out, _) = zcss(&["lscss", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Device   Subchan.  DevType CU Type Use  PIM PAM POM  CHPIDs");
    assert_eq!(lines[1], "-".repeat(70));
    assert_eq!(
        lines[2],
        "0.0.0000 0.0.0000  0000/00 3832/02      80  80  ff   00000000 00000000"
    );
    assert_eq!(
        lines[3],
        "0.0.0300 0.0.0001  0000/00 3832/04      80  80  ff   00000000 00000000"
    );
}

#[test]
fn replay_wrong_crw_names_crw_field() {
    // No channel report is pending: STCRW stores zeros with cc 1.
    let text = "zcss-trace 1\nstcrw 0x5000 => cc=1\nexpect 0x5000 00000001\n";
    let r = run(text, false);
    assert_eq!(messages(&r), vec![(3, "crw.rsid expected 0x1 got 0x0".into())]);
}

#[test]
fn replay_wrong_prefix_area_code_names_intcode_field() {
    let text = BASE.replace(
        "tpi 0x4800 => cc=1\nexpect 0x4800 00010000 0000000c",
        "tpi 0x0 => cc=1\nexpect 0xb8 00010000 0000000c 08000000",
    );
    let r = run(&text, false);
    assert_eq!(messages(&r), vec![(15, "intcode.isc expected 0x1 got 0x3".into())]);
}

#[test]
fn cli_replay_image_that_is_a_device_node_exits_4() {
    let p = temp_trace(
        "devzero.zct",
        "zcss-trace 1\ndevice fe.0.0000 devno=0000 virtio-blk image=/dev/zero\n",
    );
    let (code, _, err) = zcss(&["replay", p.to_str().unwrap()]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
}

#[test]
fn replay_virtio_blk_image_is_read_and_never_written() {
    let dir = std::env::temp_dir().join(format!("zcss-image-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("disk.img");
    std::fs::write(&img, vec![0x5a; 1024]).unwrap();
    let p = dir.join("img.zct");
    std::fs::write(
        &p,
        "zcss-trace 1\ndevice fe.0.0000 devno=0000 virtio-blk image=disk.img\nstsch 0x00010000 0x1000 => cc=0\n",
    )
    .unwrap();
    let (code, out, err) = zcss(&["replay", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(std::fs::read(&img).unwrap(), vec![0x5a; 1024]);
}
