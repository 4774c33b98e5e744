//! The timing facility in traces: `timing=on` gives a device's subchannel
//! PMCW T = 1; replay reads a deterministic clock, so the measurement block's
//! time fields replay exactly; the recorder writes `..` for them, since a
//! live run's clock gives other values.

use std::path::Path;
use std::sync::Arc;

use zcss::ccw::sid::SubchannelId;
use zcss::machine::{Machine, MachineConfig};
use zcss::trace::replay::{replay, ReplayOptions};
use zcss::trace::{parse, print, DeviceKind, DeviceStmt, Param, Recorder, SchAddr, Statement};
use zcss_css::measurement::StepClock;
use zcss_css::{Cc, IoCtx};
use zcss_virtio_ccw::driver_model::LinuxDriver;

/// Two SENSE IDs on a timed, measured virtio-rng with a format-1 block at
/// 0x7000. Replay's clock steps one unit (128 µs) per reading, and reads it
/// when a start is taken up, when the device is selected and when the
/// program ends: each start adds one unit of function-pending and one of
/// device-connect time.
const TIMED: &str = "\
zcss-trace 1
device fe.0.0000 devno=0000 virtio-rng timing=on
stsch 0x00010000 0x1000 => cc=0
expect 0x1004 00030000
# ISC 3; E, MM bit 11 (block update), T stays, DNV; F (format-1 block); MBA
store 0x1004 18930000
store 0x101b 04
store 0x1028 00000000 00007000
msch 0x00010000 0x1000 => cc=0
schm 0x00000002 0x00000000 => ok
store 0x1800 00000001 00808000 00002000
store 0x2000 e4200100 00003000
ssch 0x00010000 0x1800 => cc=0
tsch 0x00010000 0x4000 => cc=0
ssch 0x00010000 0x1800 => cc=0
tsch 0x00010000 0x4000 => cc=0
expect 0x7000 00000002 00000002 00000002 00000002 00000000 00000000 00000000 00000000
expect 0x7020 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
";

fn run(text: &str, bless: bool) -> zcss::trace::replay::FileReport {
    let trace = parse(text).unwrap();
    let mut out = Vec::new();
    let opts = ReplayOptions {
        bless,
        ..ReplayOptions::default()
    };
    replay(&trace, Path::new("."), &opts, &mut out, &mut |_| {}).unwrap()
}

#[test]
fn replay_timed_device_stores_exact_clock_times() {
    let r = run(TIMED, false);
    assert_eq!(r.mismatches, vec![]);
    assert_eq!(r.checks, 10, "seven results and three expects compared");
    let wrong = TIMED.replace(
        "expect 0x7000 00000002 00000002 00000002 00000002",
        "expect 0x7000 00000002 00000002 00000003 00000002",
    );
    let r = run(&wrong, false);
    assert_eq!(r.mismatches.len(), 1, "{:?}", r.mismatches);
    assert_eq!(r.mismatches[0].line, 17);
}

#[test]
fn replay_timed_device_is_the_same_every_run() {
    let first = run(TIMED, true).blessed.expect("blessed trace");
    let second = run(TIMED, true).blessed.expect("blessed trace");
    assert_eq!(print(&first), print(&second));
    assert_eq!(print(&first), TIMED, "bless changes nothing");
}

#[test]
fn replay_without_timing_counts_starts_only() {
    let untimed = TIMED
        .replace(" timing=on", "")
        .replace("expect 0x1004 00030000", "expect 0x1004 00010000")
        .replace(
            "expect 0x7000 00000002 00000002 00000002 00000002",
            "expect 0x7000 00000002 00000000 00000000 00000000",
        );
    let r = run(&untimed, false);
    assert_eq!(r.mismatches, vec![], "T = 0: sample count and times stay zero");
}

#[test]
fn replay_bad_timing_value_is_a_syntax_error() {
    let e = parse(&TIMED.replace("timing=on", "timing=yes")).unwrap_err();
    assert_eq!(e.line, 2, "{e}");
}

fn timed_blk_config() -> MachineConfig {
    MachineConfig {
        devices: vec![(
            0,
            DeviceStmt {
                sch: SchAddr {
                    cssid: 0xfe,
                    ssid: 0,
                    schno: 0,
                },
                devno: 0,
                kind: DeviceKind::VirtioBlk,
                params: vec![
                    Param {
                        key: "size".into(),
                        value: "65536".into(),
                    },
                    Param {
                        key: "timing".into(),
                        value: "on".into(),
                    },
                ],
            },
        )],
        ..MachineConfig::default()
    }
}

const MBA: u64 = 0x7000;
const SCRATCH_SCHIB: u64 = 0x8000;

#[test]
fn record_timed_device_writes_wildcards_for_times_and_replays_clean() {
    let cfg = timed_blk_config();
    let rec = Recorder::new(&cfg);
    let m = Machine::build(&cfg, Path::new("."), Some(&rec)).unwrap();
    // A live run: a clock unlike replay's.
    m.css.set_clock(Arc::new(StepClock::new(1_000_000, 333_333)));
    let sid = SubchannelId {
        cssid: 0xfe,
        ssid: 0,
        schno: 0,
    };
    assert_eq!(m.css.timing_facility(sid), Some(true));
    let mut drv = LinuxDriver::new(m.css.clone(), Arc::clone(&m.mem), sid);
    drv.enable().unwrap();
    // Linux cmf.c set_cmbe: SCHM with M = 1, then MSCH with MM bit 11, F, MBA.
    let ctx = IoCtx::new(&*m.mem);
    assert_eq!(m.css.schm(&ctx, 0x0000_0002, 0), Ok(()));
    assert_eq!(m.css.stsch(&ctx, 0x0001_0000, SCRATCH_SCHIB), Ok(Cc::Zero));
    let mut schib = m.mem.fetch(SCRATCH_SCHIB, 52).unwrap();
    schib[5] |= 0x10;
    schib[27] |= 0x04;
    schib[40..48].copy_from_slice(&MBA.to_be_bytes());
    m.mem.store(SCRATCH_SCHIB, &schib).unwrap();
    assert_eq!(m.css.msch(&ctx, 0x0001_0000, SCRATCH_SCHIB), Ok(Cc::Zero));
    drv.probe(u64::MAX).unwrap();
    let live = m.mem.fetch(MBA, 64).unwrap();
    assert_ne!(&live[8..16], &[0; 8], "the live clock stored times");

    let text = rec.text();
    let trace = parse(&text).unwrap();
    assert!(text.contains("virtio-blk size=65536 timing=on"), "{text}");
    // The last expect of each byte of the block: counts exact, the seven
    // time fields (bytes 8-35) wildcarded.
    let mut block: Vec<Option<Option<u8>>> = vec![None; 64];
    for (_, s) in trace.statements() {
        if let Statement::Expect { addr, data } = s {
            for (a, b) in (addr.value..).zip(&data.bytes) {
                if let Some(k) = a.checked_sub(MBA).and_then(|k| usize::try_from(k).ok()) {
                    if k < 64 {
                        block[k] = Some(*b);
                    }
                }
            }
        }
    }
    let expected: Vec<Option<Option<u8>>> = (0..36).map(|k| Some((k < 8).then(|| live[k]))).collect();
    assert_eq!(&block[..36], &expected[..], "{text}");
    assert!(block[36..].iter().all(Option::is_none), "reserved bytes never stored");
    assert_eq!(live[0..4], live[4..8], "a sample for each start");
    assert_ne!(live[0..4], [0; 4]);
    let mut out = Vec::new();
    let r = replay(&trace, Path::new("."), &ReplayOptions::default(), &mut out, &mut |_| {}).unwrap();
    assert_eq!(r.mismatches, vec![], "recording:\n{text}");
}
