//! `io=async` virtio-blk in traces: the example probe with the disk on an
//! I/O thread and a `wait` after every notification replays clean; an
//! unknown `io=` value is refused.

use std::path::Path;

use zcss::machine::Machine;
use zcss::trace::parse;
use zcss::trace::replay::{replay, ReplayOptions};

#[path = "support/async_probe.rs"]
mod async_probe;
use async_probe::async_probe;

#[test]
fn async_virtio_blk_probe_with_waits_replays_clean() {
    let text = async_probe();
    assert!(text.matches("\nwait\n").count() >= 2, "waits inserted");
    let trace = parse(&text).unwrap();
    let mut out = Vec::new();
    let r = replay(&trace, Path::new("."), &ReplayOptions::default(), &mut out, &mut |_| {}).unwrap();
    assert!(r.mismatches.is_empty(), "{:?}", r.mismatches);
    assert!(r.checks > 20, "checks made: {}", r.checks);
}

#[test]
fn unknown_io_mode_or_io_on_another_kind_is_refused_at_its_line() {
    for bad in [
        "device fe.0.0000 devno=0000 virtio-blk io=threads",
        "device fe.0.0000 devno=0000 dasd-3390 io=async",
    ] {
        let e = parse(&format!("zcss-trace 1\n{bad}\n")).unwrap_err();
        assert_eq!(e.line, 2, "{bad}: {e:?}");
    }
    let trace = parse("zcss-trace 1\ndevice fe.0.0000 devno=0000 virtio-blk io=sync\n").unwrap();
    assert!(
        Machine::from_trace(&trace, Path::new(".")).is_ok(),
        "io=sync is the default mode"
    );
}
