//! Running [`EckdStart`] scenarios on the `zcss_css::fuzz` harness with the
//! DASD's own oracles, checked after every step.

use std::cell::RefCell;
use std::collections::BTreeSet;

use zcss_css::fuzz::{DeviceUnderTest, Harness, Report, Scenario, Step, StepView};
use zcss_css::Cc;

use super::{EckdStart, Extent, Probe, Probed};
use crate::eckd::Dasd;
use crate::geometry::TRACK_CELLS;
use crate::track::{used_cells, validate, TrackAddr};

/// One device the scenario attached (a hot plug attaches another).
struct Slot {
    probe: Probe,
    cylinders: u32,
    /// What the running (or last) program stated about its extent
    /// ([`EckdStart::stated_extent`]); `None`: nothing.
    claim: Option<Option<Extent>>,
}

#[derive(Default)]
struct Devices {
    slots: Vec<Slot>,
    /// The slot of each subchannel's device now.
    current: Vec<Option<usize>>,
}

/// Runs `scenario` on the harness against DASDs built by `make(i)` for
/// subchannel `i` (again after a hot unplug), each observed by a
/// [`Probe`], and checks after every step, besides the harness's own
/// invariants:
///
/// * no store write reaches a track outside the extent the device had in
///   force (GA32-0099, "Define Extent": every track accessed lies in the
///   extent);
/// * every track a step wrote is a valid image (`track::validate`) whose
///   records fit the 3390 track (`used_cells` ≤ [`TRACK_CELLS`]);
/// * when a program that START SUBCHANNEL accepted begins with DEFINE
///   EXTENT or PREFIX ([`EckdStart::stated_extent`], derived from the
///   input alone), the device installs exactly the extent the parameter
///   bytes name and only tracks inside it change (none when the bytes
///   name no valid extent) — until the next program on that device.
///
/// After the run (the devices are dropped with the channel subsystem and
/// store a pending edit then) the same checks run once more.
///
/// # Panics
/// When an invariant breaks: the message names the step and the rule.
pub fn run_scenario(scenario: &Scenario<EckdStart>, make: impl FnMut(usize) -> Dasd) -> Report {
    run_scenario_observed(scenario, make, |_| {})
}

/// [`run_scenario`], with `observe` called after every step's checks (a
/// test keeps the guest storage the harness left, to compare it with a
/// replay of the scenario's trace).
///
/// # Panics
/// When an invariant breaks: the message names the step and the rule.
pub fn run_scenario_observed(
    scenario: &Scenario<EckdStart>,
    mut make: impl FnMut(usize) -> Dasd,
    mut observe: impl FnMut(&StepView<'_>),
) -> Report {
    let devices = RefCell::new(Devices {
        slots: Vec::new(),
        current: vec![None; scenario.subchannel_count()],
    });
    let report = Harness::new(|i| {
        let dasd = make(i);
        let cylinders = dasd.cylinders();
        let (dev, probe) = match Probed::wrap(dasd) {
            Ok(x) => x,
            Err(e) => panic!("dasd fuzzing: the volume of subchannel {i} cannot be read: {e}"),
        };
        let tracks: Vec<u64> = (0..probe.track_count()).collect();
        if let Err(e) = check_tracks(&probe, tracks) {
            panic!("dasd fuzzing: the volume of subchannel {i} as built: {e}");
        }
        let mut d = devices.borrow_mut();
        let slot = d.slots.len();
        d.slots.push(Slot {
            probe,
            cylinders,
            claim: None,
        });
        if let Some(c) = d.current.get_mut(i) {
            *c = Some(slot);
        }
        DeviceUnderTest::Interpreted(Box::new(dev))
    })
    .check_each_step(|v: &StepView<'_>| {
        let mut d = devices.borrow_mut();
        if let (Some((i, Some(Cc::Zero))), Some(Step::Start(_, s))) = (v.start, scenario.steps.get(v.index)) {
            if let Some(k) = d.current.get(i).copied().flatten() {
                let slot = &mut d.slots[k];
                slot.claim = s.stated_extent(slot.cylinders);
            }
        }
        d.slots.iter().try_for_each(check_slot)?;
        observe(v);
        Ok(())
    })
    .run(scenario);
    for s in &devices.borrow().slots {
        if let Err(e) = check_slot(s) {
            panic!("after the run: {e}");
        }
    }
    report
}

/// The writes and extents since the last check of one device.
fn check_slot(s: &Slot) -> Result<(), String> {
    let mut written = BTreeSet::new();
    for w in s.probe.take_writes() {
        if let Some((a, z)) = w.extent {
            if !(a <= w.track && w.track <= z) {
                return Err(format!("track {} written outside the extent {a}..={z}", w.track));
            }
        }
        if let Some(stated) = s.claim {
            if !stated.is_some_and(|(a, z)| a <= w.track && w.track <= z) {
                return Err(format!(
                    "track {} changed outside the extent {stated:?} the program's first CCW states",
                    w.track
                ));
            }
        }
        written.insert(w.track.index());
    }
    for e in s.probe.take_defined() {
        if let Some(stated) = s.claim {
            if Some(e) != stated {
                return Err(format!(
                    "device installed the extent {e:?}, the program's first CCW states {stated:?}"
                ));
            }
        }
    }
    check_tracks(&s.probe, written)
}

/// Every track of `which` is a valid image that fits the track.
fn check_tracks(probe: &Probe, which: impl IntoIterator<Item = u64>) -> Result<(), String> {
    for i in which {
        let t = TrackAddr::from_index(i);
        let Some(img) = probe.track(t) else { continue };
        if let Err(e) = validate(&img) {
            return Err(format!("track {t} malformed: {e}"));
        }
        match used_cells(&img) {
            Some(cells) if cells <= TRACK_CELLS => {}
            cells => {
                return Err(format!(
                    "track {t} uses {cells:?} cells (a 3390 track has {TRACK_CELLS})"
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eckd::DasdConfig;
    use crate::store::MemStore;
    use arbitrary::{Arbitrary, Unstructured};

    fn bytes(seed: u32) -> Vec<u8> {
        zcss_css::fuzz::noise(seed, 16384)
    }

    #[test]
    fn run_generated_eckd_scenarios_keeps_oracles_and_reaches_the_volume() {
        let mut ccws = 0;
        let mut started = 0;
        for seed in 0..400 {
            let Ok(s) = Scenario::<EckdStart>::arbitrary(&mut Unstructured::new(&bytes(seed))) else {
                continue;
            };
            let r = run_scenario(&s, |i| {
                let devno = u16::try_from(i).unwrap_or(0);
                Dasd::new(DasdConfig::for_devno(devno), Box::new(MemStore::new(4)))
            });
            ccws += r.ccws;
            started += r.started;
        }
        assert!(started > 20, "only {started} starts took");
        assert!(ccws > started, "only {ccws} CCWs ran in {started} programs");
    }

    #[test]
    fn run_format_write_recipe_inside_its_extent_writes_and_passes() {
        use zcss_css::fuzz::MachineOpts;
        // Format write (kind 1) on track (0, 1) under the extent (0, 1) ..= (1, 2),
        // then TEST SUBCHANNEL.
        let s = Scenario {
            machine: MachineOpts::default(),
            subchannels: 0,
            steps: vec![Step::Start(0, EckdStart::for_test(1)), Step::Test(0)],
        };
        let r = run_scenario(&s, |_| Dasd::new(DasdConfig::for_devno(0), Box::new(MemStore::new(2))));
        assert_eq!((r.started, r.tested), (1, 1));
        // DEFINE EXTENT, LOCATE RECORD, WRITE CKD.
        assert!(r.ccws >= 3, "{r:?}");
    }

    #[test]
    fn check_slot_with_write_outside_claimed_extent_is_an_error() {
        let (mut dev, probe) = Probed::new(DasdConfig::default(), Box::new(MemStore::new(2))).unwrap();
        let t = TrackAddr::new(1, 3);
        let img = probe.track(t).unwrap();
        dev.dasd.store_mut().write(t, &img).unwrap();
        let claim = Some(Some((TrackAddr::new(0, 0), TrackAddr::new(0, 14))));
        let slot = Slot {
            probe,
            cylinders: 2,
            claim,
        };
        let e = check_slot(&slot).unwrap_err();
        assert!(e.contains("outside the extent"), "{e}");
        // Taken: the next check has nothing to say.
        assert_eq!(check_slot(&slot), Ok(()));
    }
}
