//! The `virtio_ccw` fuzz target's scenarios (`zcss_virtio_ccw::fuzzing`
//! starts on the `zcss_css::fuzz` harness, devices built as replay builds
//! them): their printed trace replays to the storage the harness left, and
//! the generated programs reach the device — queues set up, requests
//! processed.

use arbitrary::{Arbitrary, Unstructured};
use zcss::machine::Machine;
use zcss_ccw::memory::{AccessKey, GuestMemory};
use zcss_css::fuzz::{CssStep, Harness, MachineOpts, Scenario, Step, STORAGE};
use zcss_virtio_ccw::commands::{CCW_CMD_SET_VQ, CCW_CMD_WRITE_STATUS};
use zcss_virtio_ccw::fuzzing::{writable_areas, Counters, Guarded, VirtioStart};

const KINDS: [&str; 3] = ["virtio-blk size=65536", "virtio-rng", "virtio-console"];

fn bytes(seed: u32) -> Vec<u8> {
    zcss_css::fuzz::noise(seed, 6144)
}

/// The scenario of `seed`: machine, subchannels and 24 steps drawn from
/// the bytes (a drawn step list is two steps long on average; the fuzzer
/// grows it), with TEST SUBCHANNEL (so the next start finds the
/// subchannel idle) and notifications of queues 0–2 of the started
/// subchannel after every start (random bytes rarely name a queue that exists; the
/// fuzzer finds them by comparison feedback).
fn scenario(seed: u32) -> Option<Scenario<VirtioStart>> {
    let data = bytes(seed);
    let mut u = Unstructured::new(&data);
    let machine = MachineOpts::arbitrary(&mut u).ok()?;
    let subchannels = u8::arbitrary(&mut u).ok()?;
    let mut steps = Vec::new();
    for _ in 0..24 {
        let step = Step::<VirtioStart>::arbitrary(&mut u).ok()?;
        let notify = match &step {
            Step::Start(i, _) => Some(*i),
            _ => None,
        };
        steps.push(step);
        if let Some(i) = notify {
            steps.push(Step::Test(i));
            steps.extend((0..3).map(|q| Step::Css(CssStep::Notify(i, q, 0))));
        }
    }
    Some(Scenario {
        machine,
        subchannels,
        steps,
    })
}

/// Runs `s` on `kind` through the harness; returns the storage it left.
fn run(s: &Scenario<VirtioStart>, kind: &str, counters: &std::sync::Arc<Counters>) -> Vec<u8> {
    let last = std::cell::RefCell::new(vec![0u8; usize::try_from(STORAGE).unwrap()]);
    let log = counters.log.clone();
    Harness::new(|i| {
        Guarded::new(
            Machine::interpreted_device(kind, u16::try_from(i).unwrap()).unwrap(),
            counters,
        )
        .unwrap()
        .under_test()
    })
    .writable(&writable_areas())
    .writable_each_step(move || std::mem::take(&mut *log.lock()))
    .check_each_step(|v| {
        let _ = v.mem.read(0, &mut last.borrow_mut(), AccessKey::ZERO);
        Ok(())
    })
    .run(s);
    last.into_inner()
}

#[test]
fn trace_of_generated_virtio_scenario_replays_to_the_storage_the_harness_left() {
    let mut compared = 0;
    for seed in 0..60u32 {
        let Some(s) = scenario(seed) else { continue };
        if s.steps.is_empty() {
            continue;
        }
        let kind = KINDS[usize::try_from(seed).unwrap() % KINDS.len()];
        let want = run(&s, kind, &Guarded::counters());
        let text = s.trace(kind);
        zcss::fuzz_replay::check_replays_to(&text, std::path::Path::new("."), &want)
            .unwrap_or_else(|e| panic!("seed {seed} ({kind}): {e}\n{text}"));
        compared += 1;
    }
    assert!(compared > 30, "only {compared} scenarios compared");
}

#[test]
fn generated_virtio_programs_set_up_queues_and_devices_process_them() {
    let counters = Guarded::counters();
    for seed in 0..150u32 {
        let Some(s) = scenario(seed) else { continue };
        let _ = run(&s, KINDS[usize::try_from(seed).unwrap() % KINDS.len()], &counters);
    }
    let set_vq = counters.accepted(CCW_CMD_SET_VQ);
    let status = counters.accepted(CCW_CMD_WRITE_STATUS);
    let stores = counters.stores.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("SET_VQ accepted {set_vq}, WRITE_STATUS accepted {status}, device stores {stores}");
    assert!(set_vq > 10, "only {set_vq} SET_VQ accepted");
    assert!(stores > 0, "the devices stored nothing in notifications");
}
