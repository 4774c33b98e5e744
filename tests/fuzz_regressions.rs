//! Fuzz findings and corpus entries kept as traces (`tests/fuzz-regressions/*.zct`,
//! printed by `cargo fuzz fmt <target> <input>`): each replays without a
//! mismatch and keeps the fuzz harness's invariants (`zcss::fuzz_replay`).

use std::path::Path;

#[test]
fn replay_fuzz_regression_traces_keeps_harness_invariants() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "zct") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let trace = zcss::trace::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let insns =
            zcss::fuzz_replay::replay_checked(&trace, &dir).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(insns > 0, "{}: no instruction", path.display());
        let mut out = Vec::new();
        let report = zcss::trace::replay::replay(&trace, &dir, &Default::default(), &mut out, &mut |_| {}).unwrap();
        assert_eq!(
            report.failed_checks,
            0,
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out)
        );
        n += 1;
    }
    assert!(n > 0, "no traces in {}", dir.display());
}

/// Runs generated scenarios through the harness with `make`'s devices and
/// replays each one's trace (devices `device(i)`): the replay must leave
/// guest storage byte for byte as the harness left it. Returns the
/// scenarios compared and the step kinds seen.
fn trace_replays_to_harness_storage(
    seeds: std::ops::Range<u32>,
    mut make: impl FnMut(usize) -> zcss_css::fuzz::DeviceUnderTest,
    device: &dyn Fn(usize) -> String,
    prepare: &dyn Fn(&mut zcss_css::fuzz::Scenario),
) -> (usize, std::collections::BTreeSet<String>) {
    use arbitrary::{Arbitrary, Unstructured};
    use zcss_ccw::memory::{AccessKey, GuestMemory};
    use zcss_css::fuzz::{Harness, Scenario, Step, STORAGE};

    let mut kinds = std::collections::BTreeSet::new();
    let mut compared = 0;
    for seed in seeds {
        let bytes = zcss_css::fuzz::noise(seed, 16384);
        let Ok(mut scenario) =
            Scenario::<zcss_ccw::generate::StartDesc>::arbitrary_take_rest(Unstructured::new(&bytes))
        else {
            continue;
        };
        prepare(&mut scenario);
        for s in &scenario.steps {
            let name = match s {
                Step::Css(c) => format!("{c:?}"),
                other => format!("{other:?}"),
            };
            kinds.insert(name.split(['(', ' ']).next().unwrap_or("").to_owned());
        }
        let last = std::cell::RefCell::new(vec![0u8; usize::try_from(STORAGE).unwrap()]);
        Harness::new(&mut make)
            .check_each_step(|v| {
                let _ = v.mem.read(0, &mut last.borrow_mut(), AccessKey::ZERO);
                Ok(())
            })
            .run(&scenario);
        if scenario.steps.is_empty() {
            continue;
        }
        let text = scenario.trace_each(device);
        zcss::fuzz_replay::check_replays_to(&text, std::path::Path::new("."), &last.borrow())
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        compared += 1;
    }
    (compared, kinds)
}

/// The trace a scenario prints is what the harness ran: for generated
/// scenarios on the scriptable mock (every kind of step: starts, the
/// subchannel instructions, MODIFY SUBCHANNEL with arbitrary PMCW fields,
/// measurement, CHSC, hot plug and unplug, reset, unsolicited status,
/// storage keys, hostile operands), replaying the trace leaves guest
/// storage byte for byte as the harness left it.
#[test]
fn trace_of_generated_scenario_replays_to_the_storage_the_harness_left() {
    let (compared, kinds) = trace_replays_to_harness_storage(
        0..160,
        zcss::fuzz_replay::interpreted_devices("mock"),
        &|_| "mock".into(),
        &|_| {},
    );
    assert!(compared > 100, "only {compared} scenarios compared");
    assert!(kinds.len() >= 20, "steps seen: {kinds:?}");
}

/// The same for 3390s passed through vfio-ccw (the `vfio_harness` target):
/// the harness waits for the host after every step, the trace says `wait`.
#[test]
fn trace_of_generated_passthrough_scenario_replays_to_the_storage_the_harness_left() {
    use zcss_css::fuzz::DeviceUnderTest;
    let device = |i: usize| format!("vfio-dasd host=0.0.{i:04x} cu=3990-6 cylinders=1");
    let mut host = std::sync::Arc::new(zcss::vfio_ccw::SimHost::new());
    let mut last_run = usize::MAX;
    let (compared, _) = trace_replays_to_harness_storage(
        0..24,
        |i| {
            // A fresh host for every run: subchannel 0 comes first.
            if i == 0 || last_run == usize::MAX {
                host = std::sync::Arc::new(zcss::vfio_ccw::SimHost::new());
            }
            last_run = i;
            let host = host.clone();
            let d = device(i);
            DeviceUnderTest::PassthroughOn(Box::new(move |guest| {
                zcss::machine::Machine::passthrough_device(&d, &host, guest).unwrap()
            }))
        },
        &device,
        // As the vfio_harness target: suspension keeps its interruption
        // (vfio-ccw does not support suspension; see the target).
        &|s| {
            for step in &mut s.steps {
                if let zcss_css::fuzz::Step::Start(_, d) = step {
                    if d.orb.suspend {
                        d.orb.suppress_suspended = false;
                    }
                }
            }
        },
    );
    assert!(compared > 12, "only {compared} scenarios compared");
}

#[test]
fn interpreted_device_builds_trace_kinds_and_refuses_what_needs_a_machine() {
    use zcss::machine::Machine;
    let blk = Machine::interpreted_device("virtio-blk size=65536", 0).unwrap();
    assert_eq!(blk.info().cu_type, 0x3832);
    let dasd = Machine::interpreted_device("dasd-3390 cu=3990-3 cylinders=2", 0).unwrap();
    assert_eq!(dasd.info().cu_type, 0x3990);
    let Err(e) = Machine::interpreted_device("vfio-dasd host=0.0.0001 cylinders=2", 0) else {
        panic!("a passthrough kind was built");
    };
    assert!(e.contains("passthrough"), "{e}");
    assert!(Machine::interpreted_device("virtio-blk size=4096 io=async", 0).is_err());
    assert!(Machine::interpreted_device("no-such-kind", 0).is_err());
}
