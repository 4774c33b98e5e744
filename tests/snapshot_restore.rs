//! Snapshot and restore, the strong way: for every example trace
//! (`examples/*.zct`), recorded sessions (several CPU threads with console
//! input, hot plug, unplug and reset, recorded with `Recorder::start`) and
//! a hand-written trace of host events and symbolic statements, at many
//! statement positions, the machine runs to the position, is snapshotted
//! (through JSON), restored into a freshly built machine with the devices
//! the trace has there (`restore_target`, guest storage copied), and the
//! rest of the trace runs there. Every instruction result, store,
//! `expect`ed storage range (symbolic ones too), host event, `wait` and the
//! final guest storage must be those of the uninterrupted run.
//!
//! Positions: every statement of a trace (after the starting
//! configuration) with at most `ALL_UP_TO` statements, otherwise `SAMPLES`
//! positions spread evenly (the first and the last included) plus the
//! statements around each host event. A snapshot that is refused (a
//! passthrough function in flight between a START and its `wait`) is
//! counted, and the test demands that most positions are taken.

use std::path::{Path, PathBuf};

use zcss::machine::snapshot::{restore_target, run_statements, MachineSnapshot, Observed};
use zcss::machine::Machine;
use zcss::trace::replay::{replay, ReplayOptions};
use zcss::trace::{parse, Statement, Trace};
use zcss_ccw::GuestMemory;
use zcss_css::SnapshotError;

#[path = "support/async_probe.rs"]
mod async_probe;
#[path = "support/three_cpus.rs"]
mod three_cpus;

#[path = "../examples/embed_vmm.rs"]
#[expect(dead_code, reason = "the example's main is not called here")]
mod embed_vmm;

const ALL_UP_TO: usize = 60;
const SAMPLES: usize = 40;
/// Recordings of each session.
const RECORDED_RUNS: usize = 2;

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

/// Line indices of the statements that run (not header, machine, the
/// devices of the starting configuration), in order.
fn positions(t: &Trace) -> Vec<usize> {
    let initial: Vec<usize> = t.initial_devices().map(|(n, _)| n - 1).collect();
    let stmts: Vec<usize> = t
        .lines
        .iter()
        .enumerate()
        .filter(|(i, l)| {
            l.stmt
                .as_ref()
                .is_some_and(|s| !matches!(s, Statement::Header(_) | Statement::Machine(_)))
                && !initial.contains(i)
        })
        .map(|(i, _)| i)
        .collect();
    if stmts.len() <= ALL_UP_TO {
        return stmts;
    }
    let n = stmts.len();
    let mut v: Vec<usize> = (0..SAMPLES).map(|k| stmts[k * (n - 1) / (SAMPLES - 1)]).collect();
    // Before and after each host event.
    for (k, &i) in stmts.iter().enumerate() {
        let host = t.lines[i].stmt.as_ref().is_some_and(|s| {
            matches!(
                s,
                Statement::Device(_) | Statement::Detach(_) | Statement::Reset | Statement::ConsoleInput { .. }
            )
        });
        if host {
            v.push(i);
            v.extend(stmts.get(k + 1));
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Guest storage's keys (`machine storage-keys=on`) go with its bytes.
fn copy_storage_keys(from: &Machine, to: &Machine) {
    use zcss::ccw::memory::GuestMemory;
    for frame in (0..from.mem.size()).step_by(4096) {
        if let Some(k) = from.mem.storage_key(frame) {
            to.mem.set_storage_key(frame, k);
        }
    }
}

fn storage(m: &Machine) -> Vec<u8> {
    m.mem.fetch(0, usize::try_from(m.mem.size()).unwrap()).unwrap()
}

struct Count {
    taken: usize,
    refused: usize,
    /// Positions taken after a hot plug or a detach (the restore target
    /// has other devices than the trace's starting configuration).
    replugged: usize,
}

/// Whether a hot plug or a detach comes before line index `p`.
fn devices_changed_before(t: &Trace, p: usize) -> bool {
    let first_insn = t
        .lines
        .iter()
        .position(|l| matches!(l.stmt, Some(Statement::Insn(_))))
        .unwrap_or(usize::MAX);
    t.lines[..p].iter().enumerate().any(|(i, l)| match l.stmt {
        Some(Statement::Detach(_)) => true,
        Some(Statement::Device(_)) => i > first_insn,
        _ => false,
    })
}

fn check_trace(name: &str, text: &str, base: &Path) -> Count {
    let trace = parse(text).unwrap();
    let n = trace.lines.len();
    let mut whole = Machine::from_trace(&trace, base).unwrap();
    let expected = run_statements(&mut whole, &trace, base, 0..n);
    let expected_storage = storage(&whole);
    drop(whole);
    let mut count = Count {
        taken: 0,
        refused: 0,
        replugged: 0,
    };
    let mut run = Machine::from_trace(&trace, base).unwrap();
    let mut at = 0;
    let mut seen: Vec<(usize, Observed)> = Vec::new();
    for p in positions(&trace) {
        seen.extend(run_statements(&mut run, &trace, base, at..p));
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
        let mut fresh = restore_target(&trace, base, p).unwrap();
        fresh.mem.store(0, &storage(&run)).unwrap();
        copy_storage_keys(&run, &fresh);
        fresh
            .restore(&MachineSnapshot::from_json(&json).unwrap())
            .unwrap_or_else(|e| panic!("{name}: restore before line {}: {e}", p + 1));
        let mut got = seen.clone();
        got.extend(run_statements(&mut fresh, &trace, base, p..n));
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
        count.replugged += usize::from(devices_changed_before(&trace, p));
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
        assert_eq!(c.replugged, 0, "{name}: the examples have no host events");
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

/// Host events and symbolic statements, by hand: SENSE ID on the disk
/// (ORB and CCW by field, the IRB and SCHIB judged by field), a console
/// hot-plugged and typed into before it has buffers, an entropy device
/// plugged and unplugged, an I/O-system reset, and the disk used again.
const HOST_EVENTS: &str = "zcss-trace 1
machine memory=0x100000 storage-keys=on
device fe.0.0000 devno=0000 virtio-blk size=65536
stsch fe.0.0000 0x1000 => cc=0
expect schib 0x1000 devno=0x0000 ena=0
store 0x1004 18810000
msch fe.0.0000 0x1000 => cc=0
orb 0x1800 intparm=0x1 controls=format1 lpm=0x80 cpa=0x2000
ccw1 0x2000 cmd=0xe4 flags=cc|sli count=8 cda=0x3000
ccw1 0x2008 cmd=0x03 flags=sli count=0 cda=0
ssch fe.0.0000 0x1800 => cc=0
expect 0x3000 ff383202 ........
tsch fe.0.0000 0x4000 => cc=0
expect irb 0x4000 fctl=START stctl=PRIM|SEC|PEND dstat=CE|DE cpa=0x2010 count=0
device fe.0.0002 devno=0002 virtio-console
stcrw 0x0100 => cc=0
console-input fe.0.0002 68690a
stsch fe.0.0002 0x1000 => cc=0
expect schib 0x1000 devno=0x0002 ena=0
store 0x1004 18810000
msch fe.0.0002 0x1000 => cc=0
orb 0x1800 intparm=0x2 controls=format1 lpm=0x80 cpa=0x2000
ccw1 0x2000 cmd=0xe4 flags=sli count=8 cda=0x3000
ssch fe.0.0002 0x1800 => cc=0
tsch fe.0.0002 0x4000 => cc=0
expect irb 0x4000 dstat=CE|DE cpa=0x2008 count=0
expect 0x3000 ff383203
device fe.0.0005 devno=0005 virtio-rng
stcrw 0x0100 => cc=0
stsch fe.0.0005 0x1000 => cc=0
detach fe.0.0005
stcrw 0x0100 => cc=0
stsch fe.0.0005 0x1000 => cc=3
reset
stsch fe.0.0000 0x1000 => cc=0
expect schib 0x1000 ena=0
store 0x1004 18810000
msch fe.0.0000 0x1000 => cc=0
orb 0x1800 intparm=0x3 controls=format1 lpm=0x80 cpa=0x2000
ccw1 0x2000 cmd=0xe4 flags=sli count=8 cda=0x3000
ssch fe.0.0000 0x1800 => cc=0
tsch fe.0.0000 0x4000 => cc=0
expect irb 0x4000 dstat=CE|DE cpa=0x2008 count=0
unsolicited fe.0.0000 0x80
tsch fe.0.0000 0x4000 => cc=0
expect irb 0x4000 stctl=ALERT|PEND dstat=ATTN
store 0x3000 00000000 00000000
skey 0x3000 0x18
orb 0x1800 intparm=0x4 key=3 controls=format1 lpm=0x80 cpa=0x2000
ccw1 0x2000 cmd=0xe4 flags=sli count=8 cda=0x3000
ssch fe.0.0000 0x1800 => cc=0
tsch fe.0.0000 0x4000 => cc=0
expect irb 0x4000 cstat=PROT
expect 0x3000 00000000 00000000
skey 0x3000 0x38
ssch fe.0.0000 0x1800 => cc=0
tsch fe.0.0000 0x4000 => cc=0
expect irb 0x4000 dstat=CE|DE cstat=0 count=0
expect 0x3000 ff383202 ........
stcrw 0x0100 => cc=1
";

fn replay_clean(name: &str, text: &str, base: &Path) {
    let trace = parse(text).unwrap();
    let mut out = Vec::new();
    let r = replay(&trace, base, &ReplayOptions::default(), &mut out, &mut |_| {}).unwrap();
    assert_eq!(r.mismatches, vec![], "{name}:\n{text}");
}

/// Checks `text` at many positions; the positions after a hot plug or
/// detach must be most of them once the trace has host events.
fn check_with_host_events(name: &str, text: &str, base: &Path) -> String {
    for needle in ["\nconsole-input ", "\ndetach ", "\nreset\n"] {
        assert!(text.contains(needle), "{name}: {needle:?} missing:\n{text}");
    }
    replay_clean(name, text, base);
    let c = check_trace(name, text, base);
    assert_eq!(c.refused, 0, "{name}: no passthrough devices, nothing refused");
    assert!(c.taken >= SAMPLES.min(ALL_UP_TO), "{name}: {} positions", c.taken);
    assert!(c.replugged > 0, "{name}: no position after a hot plug or detach");
    format!(
        "{name}: {} positions restored ({} after a hot plug or detach), of {} lines",
        c.taken,
        c.replugged,
        text.lines().count()
    )
}

#[test]
fn restore_at_many_positions_of_host_events_and_symbolic_statements_continues_as_the_uninterrupted_run() {
    let r = check_with_host_events("host events by hand", HOST_EVENTS, Path::new("."));
    println!("{r}");
}

#[test]
fn restore_at_many_positions_of_recorded_sessions_continues_as_the_uninterrupted_run() {
    let mut report = Vec::new();
    // Three threads (two CPUs, an interrupt thread) and the host: console
    // input, a hot plug and an unplug during the run, a reset after it.
    for k in 0..RECORDED_RUNS {
        let text = three_cpus::record_run(8, 3);
        report.push(check_with_host_events(
            &format!("three CPUs, run {k}"),
            &text,
            Path::new("."),
        ));
    }
    // The acceptance embedding: three CPUs, an interrupt thread, a
    // file-backed disk (its starting contents saved beside the trace).
    for k in 0..RECORDED_RUNS {
        let dir = std::env::temp_dir().join(format!("zcss-snapshot-vmm-{}-{k}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let r = embed_vmm::run(&dir);
        report.push(check_with_host_events(&format!("embed_vmm, run {k}"), &r.trace, &dir));
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!("{}", report.join("\n"));
}
