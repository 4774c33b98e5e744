//! The `dasd_eckd` fuzz target's traces are what its harness ran: for
//! generated scenarios of ECKD programs (`zcss_dasd::fuzzing::EckdStart`)
//! on 3390s built as the trace's `dasd-3390` device line builds them,
//! replaying the printed trace leaves guest storage byte for byte as the
//! harness left it.

use arbitrary::{Arbitrary, Unstructured};
use zcss::machine::Machine;
use zcss_ccw::memory::{AccessKey, GuestMemory};
use zcss_css::fuzz::{MachineOpts, Scenario, Step, STORAGE};
use zcss_dasd::fuzzing::{run_scenario_observed, EckdStart};

fn bytes(seed: u32) -> Vec<u8> {
    zcss_css::fuzz::noise(seed, 16384)
}

/// Replays `text` and compares guest storage with `want`.
fn assert_replays_to(text: &str, want: &[u8], seed: u32) {
    zcss::fuzz_replay::check_replays_to(text, std::path::Path::new("."), want)
        .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
}

#[test]
fn trace_of_generated_eckd_scenario_replays_to_the_storage_the_harness_left() {
    let cus = ["3990", "3990-3", "3990-6"];
    let mut compared = 0;
    let mut starts = 0;
    let mut ccws = 0;
    for seed in 0..320u32 {
        let b = bytes(seed);
        // Odd seeds: a scenario as the fuzzer draws it (few steps from
        // random bytes); even seeds: three programs drawn as the fuzzer
        // draws them, each followed by TEST SUBCHANNEL, on two subchannels.
        let scenario = if seed % 2 == 1 {
            let Ok(s) = Scenario::<EckdStart>::arbitrary(&mut Unstructured::new(&b)) else {
                continue;
            };
            s
        } else {
            let mut u = Unstructured::new(&b);
            let mut steps = Vec::new();
            for k in 0..3u8 {
                let Ok(start) = EckdStart::arbitrary(&mut u) else { break };
                steps.push(Step::Start(k % 2, start));
                steps.push(Step::Test(k % 2));
            }
            Scenario {
                machine: MachineOpts::default(),
                subchannels: 1,
                steps,
            }
        };
        if scenario.steps.is_empty() {
            continue;
        }
        let device = format!(
            "dasd-3390 cu={} cylinders={}",
            cus[usize::try_from(seed).unwrap() % 3],
            1 + (seed / 2) % 4
        );
        let last = std::cell::RefCell::new(vec![0u8; usize::try_from(STORAGE).unwrap()]);
        let report = run_scenario_observed(
            &scenario,
            |i| Machine::dasd(&device, u16::try_from(i).unwrap()).unwrap(),
            |v| {
                let _ = v.mem.read(0, &mut last.borrow_mut(), AccessKey::ZERO);
            },
        );
        starts += report.started;
        ccws += report.ccws;
        assert_replays_to(&scenario.trace(&device), &last.borrow(), seed);
        compared += 1;
    }
    assert!(compared > 160, "only {compared} scenarios compared");
    assert!(
        starts > 200 && ccws > starts / 2,
        "{starts} starts ran only {ccws} CCWs"
    );
}

#[test]
fn dasd_of_device_line_has_the_devno_identity_and_refuses_other_kinds() {
    let d = Machine::dasd("dasd-3390 cu=3990-3 cylinders=2", 0x0123).unwrap();
    assert_eq!(
        (d.cylinders(), d.config().unit_address, d.config().ssid),
        (2, 0x23, 0x0120)
    );
    let Err(e) = Machine::dasd("virtio-blk size=65536", 0) else {
        panic!("a virtio-blk was built as a DASD");
    };
    assert!(e.contains("not a dasd-3390"), "{e}");
    assert!(Machine::dasd("dasd-3390 cylinders=0", 0).is_err());
}

/// The `dasd_harness` target: generated starts (`zcss_ccw::generate`) on
/// 3390s built from its device line, one per subchannel with its device
/// number; the trace replays to the storage the harness left.
#[test]
fn trace_of_generated_scenario_on_dasd_replays_to_the_storage_the_harness_left() {
    use zcss_css::fuzz::{DeviceUnderTest, Harness};
    const DEVICE: &str = "dasd-3390 cu=3990-6 cylinders=2";
    let mut compared = 0;
    let mut ccws = 0;
    for seed in 0..160u32 {
        let Ok(scenario) = Scenario::<zcss_ccw::generate::StartDesc>::arbitrary(&mut Unstructured::new(&bytes(seed)))
        else {
            continue;
        };
        if scenario.steps.is_empty() {
            continue;
        }
        let last = std::cell::RefCell::new(vec![0u8; usize::try_from(STORAGE).unwrap()]);
        let report = Harness::new(|i| {
            DeviceUnderTest::Interpreted(Box::new(Machine::dasd(DEVICE, u16::try_from(i).unwrap()).unwrap()))
        })
        .check_each_step(|v| {
            let _ = v.mem.read(0, &mut last.borrow_mut(), AccessKey::ZERO);
            Ok(())
        })
        .run(&scenario);
        ccws += report.ccws;
        assert_replays_to(&scenario.trace(DEVICE), &last.borrow(), seed);
        compared += 1;
    }
    assert!(compared > 60 && ccws > 0, "{compared} scenarios compared, {ccws} CCWs");
}
