//! No hidden limit on legal channel programs: a straight chain of any
//! length runs to its end, a TIC loop without data still ends in a
//! channel-program check, and `machine ccw-loop-limit=<n>` sets that bound.

use std::fmt::Write as _;
use std::path::Path;

use zcss::trace::replay::{replay, FileReport, ReplayOptions};
use zcss::trace::{parse, print};

const CCWS: u32 = 0x10000;

/// A trace that enables 0.0.0000 (a virtio-blk), stores `ccws` at 0x10000,
/// starts them (format 1) and expects the IRB word 1 (CPA) and word 2
/// (device status, subchannel status, count) given.
fn program_trace(machine: &str, ccws: &[[u8; 8]], cpa: u32, word2: &str) -> String {
    let mut t = format!(
        "zcss-trace 1\nmachine memory=0x1000000{machine}\ndevice fe.0.0000 devno=0000 virtio-blk size=65536\n\
         stsch 0x00010000 0x1000 => cc=0\nstore 0x1004 18810000\nmsch 0x00010000 0x1000 => cc=0\n"
    );
    let mut bytes = String::new();
    for c in ccws {
        for b in c {
            let _ = write!(bytes, "{b:02x}");
        }
    }
    let _ = writeln!(t, "store {CCWS:#x} {bytes}");
    let _ = writeln!(t, "store 0x1800 00000001 0080ff00 {CCWS:08x}");
    t.push_str("ssch 0x00010000 0x1800 => cc=0\n");
    t.push_str("tsch 0x00010000 0x4000 => cc=0\n");
    let _ = writeln!(t, "expect 0x4004 {cpa:08x} {word2}");
    t
}

fn nop(chain: bool) -> [u8; 8] {
    [0x03, if chain { 0x40 } else { 0x00 }, 0, 0, 0, 0, 0, 0]
}

fn tic(to: u32) -> [u8; 8] {
    let a = to.to_be_bytes();
    [0x08, 0, 0, 0, a[0], a[1], a[2], a[3]]
}

fn run(text: &str) -> FileReport {
    let t = parse(text).unwrap();
    replay(
        &t,
        Path::new("."),
        &ReplayOptions::default(),
        &mut Vec::new(),
        &mut |_| {},
    )
    .unwrap()
}

fn straight_nops(n: u32) -> Vec<[u8; 8]> {
    (0..n).map(|k| nop(k + 1 < n)).collect()
}

#[test]
fn replay_1025_chained_nops_end_normally() {
    let r = run(&program_trace("", &straight_nops(1025), CCWS + 8 * 1025, "0c000000"));
    assert_eq!(r.mismatches, vec![]);
    assert_eq!(r.checks, 5);
}

#[test]
fn replay_100000_chained_nops_end_normally() {
    let r = run(&program_trace(
        "",
        &straight_nops(100_000),
        CCWS + 8 * 100_000,
        "0c000000",
    ));
    assert_eq!(r.mismatches, vec![]);
}

#[test]
fn replay_tic_loop_ends_in_a_program_check_at_the_default_bound() {
    // Nine NOPs and a TIC back: a loop of ten CCWs. The default bound
    // (1024 CCWs without data) lets fetch 1024 through, and the 1025th —
    // at index 1024 mod 10 = 4 of the loop — is the check.
    let mut ccws = straight_nops(9);
    ccws[8] = nop(true);
    ccws.push(tic(CCWS));
    let r = run(&program_trace("", &ccws, CCWS + 8 * 4 + 8, "00200000"));
    assert_eq!(r.mismatches, vec![]);
}

#[test]
fn replay_ccw_loop_limit_sets_the_bound() {
    let mut ccws = straight_nops(9);
    ccws[8] = nop(true);
    ccws.push(tic(CCWS));
    // Bound 15: the 16th fetch (index 15 mod 10 = 5) is the check.
    let text = program_trace(" ccw-loop-limit=15", &ccws, CCWS + 8 * 5 + 8, "00200000");
    let r = run(&text);
    assert_eq!(r.mismatches, vec![]);
    assert_eq!(print(&parse(&text).unwrap()), text, "the key prints as written");
}

#[test]
fn parse_ccw_loop_limit_zero_is_refused() {
    let e = parse("zcss-trace 1\nmachine ccw-loop-limit=0\n").unwrap_err();
    assert_eq!((e.line, e.column), (2, 24));
}
