//! Snapshot and restore, the strong way: for every example trace
//! (`examples/*.zct`), at many statement positions, the machine runs to
//! the position, is snapshotted (through JSON), restored into a freshly
//! built machine (guest storage copied), and the rest of the trace runs
//! there. Every instruction result, every `expect`ed storage range, every
//! `wait` and the final guest storage must be those of the uninterrupted
//! run.
//!
//! Positions: every statement of a trace with at most `ALL_UP_TO`
//! statements, otherwise `SAMPLES` positions spread evenly (the first and
//! the last included). A snapshot that is refused (a passthrough function
//! in flight between a START and its `wait`) is counted, and the test
//! demands that most positions are taken.

use std::path::{Path, PathBuf};

use zcss::machine::snapshot::{run_statements, MachineSnapshot, Observed};
use zcss::machine::Machine;
use zcss::trace::{parse, Statement, Trace};
use zcss_ccw::GuestMemory;
use zcss_css::SnapshotError;

#[path = "support/async_probe.rs"]
mod async_probe;

const ALL_UP_TO: usize = 60;
const SAMPLES: usize = 40;

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zct"))
        .collect();
    v.sort();
    v
}

/// Line indices of the statements that run (not header, machine, device).
fn positions(t: &Trace) -> Vec<usize> {
    let stmts: Vec<usize> = t
        .lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            l.stmt
                .as_ref()
                .is_some_and(|s| !matches!(s, Statement::Header(_) | Statement::Machine(_) | Statement::Device(_)))
        })
        .map(|(i, _)| i)
        .collect();
    if stmts.len() <= ALL_UP_TO {
        return stmts;
    }
    let n = stmts.len();
    (0..SAMPLES).map(|k| stmts[k * (n - 1) / (SAMPLES - 1)]).collect()
}

fn storage(m: &Machine) -> Vec<u8> {
    m.mem.fetch(0, usize::try_from(m.mem.size()).unwrap()).unwrap()
}

struct Count {
    taken: usize,
    refused: usize,
}

fn check_trace(name: &str, text: &str, base: &Path) -> Count {
    let trace = parse(text).unwrap();
    let n = trace.lines.len();
    let whole = Machine::from_trace(&trace, base).unwrap();
    let expected = run_statements(&whole, &trace, 0..n);
    let expected_storage = storage(&whole);
    drop(whole);
    let mut count = Count { taken: 0, refused: 0 };
    let run = Machine::from_trace(&trace, base).unwrap();
    let mut at = 0;
    let mut seen: Vec<(usize, Observed)> = Vec::new();
    for p in positions(&trace) {
        seen.extend(run_statements(&run, &trace, at..p));
        at = p;
        let snap = match run.snapshot() {
            Ok(s) => s,
            Err(SnapshotError::PassthroughInFlight(_)) => {
                count.refused += 1;
                continue;
            }
            Err(e) => panic!("{name}: snapshot before line {}: {e}", p + 1),
        };
        let json = snap.to_json().unwrap();
        let fresh = Machine::from_trace(&trace, base).unwrap();
        fresh.mem.store(0, &storage(&run)).unwrap();
        fresh
            .restore(&MachineSnapshot::from_json(&json).unwrap())
            .unwrap_or_else(|e| panic!("{name}: restore before line {}: {e}", p + 1));
        let mut got = seen.clone();
        got.extend(run_statements(&fresh, &trace, p..n));
        if let Some(k) = got.iter().zip(&expected).position(|(g, e)| g != e) {
            panic!(
                "{name}: restored before line {}: line {} gave {:?}, the uninterrupted run {:?}",
                p + 1,
                expected[k].0 + 1,
                got[k].1,
                expected[k].1
            );
        }
        assert_eq!(got.len(), expected.len(), "{name}: statements run");
        assert!(
            storage(&fresh) == expected_storage,
            "{name}: restored before line {}: final guest storage differs",
            p + 1
        );
        count.taken += 1;
    }
    count
}

#[test]
fn restore_at_many_positions_of_every_example_continues_as_the_uninterrupted_run() {
    let mut report = Vec::new();
    let mut traces: Vec<(String, String, PathBuf)> = examples()
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            (name, text, p.parent().unwrap().to_path_buf())
        })
        .collect();
    // The disk on an I/O thread, a `wait` after each notification.
    traces.push((
        "virtio-blk-probe.zct with io=async".into(),
        async_probe::async_probe(),
        PathBuf::from("."),
    ));
    for (name, text, base) in &traces {
        let c = check_trace(name, text, base);
        assert!(c.taken > 0, "{name}: no position could be snapshotted");
        assert!(
            c.refused * 2 <= c.taken + c.refused,
            "{name}: {} of {} positions refused",
            c.refused,
            c.taken + c.refused
        );
        report.push(format!("{name}: {} positions restored, {} refused", c.taken, c.refused));
    }
    assert!(report.len() >= 6, "every example: {report:?}");
    println!("{}", report.join("\n"));
}

#[test]
fn machine_snapshot_of_another_version_or_machine_is_refused() {
    let trace = parse("zcss-trace 1\ndevice fe.0.0000 devno=0000 virtio-rng\n").unwrap();
    let m = Machine::from_trace(&trace, Path::new(".")).unwrap();
    let json = m.snapshot().unwrap().to_json().unwrap();
    let bumped = json.replacen("\"version\":1", "\"version\":2", 1);
    let e = MachineSnapshot::from_json(&bumped).unwrap_err();
    assert!(matches!(e, SnapshotError::Version { found: 2, supported: 1 }), "{e}");
    let other = parse("zcss-trace 1\ndevice fe.0.0000 devno=0000 virtio-blk\n").unwrap();
    let o = Machine::from_trace(&other, Path::new(".")).unwrap();
    let e = o.restore(&MachineSnapshot::from_json(&json).unwrap()).unwrap_err();
    assert!(e.to_string().contains("other devices"), "{e}");
}
