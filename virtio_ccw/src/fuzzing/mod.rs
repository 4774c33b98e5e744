//! Fuzzing virtio-ccw behind a real channel subsystem (feature
//! `arbitrary`): [`VirtioStart`], the channel programs a virtio-ccw driver
//! issues (virtio 1.x §4.3 "Virtio Over Channel I/O": SET_VIRTIO_REV,
//! READ/WRITE_FEAT, READ/WRITE_CONF, WRITE/READ_STATUS, SET_VQ in both
//! layouts, READ_VQ_CONF, SET_IND, SET_CONF_IND, SET_IND_ADAPTER, NOP,
//! SENSE ID, BASIC SENSE, raw commands), for the starts of the
//! [`zcss_css::fuzz`] harness; and [`Guarded`], a wrapper around the
//! virtio-ccw device that checks every store the device makes into guest
//! storage against what the guest gave it
//! ([`VirtioCcwDevice::writable_areas`](crate::VirtioCcwDevice::writable_areas)).
//!
//! Where a start lays things out in its subchannel's region
//! ([`zcss_css::fuzz::Scenario::layout`], offsets from [`Layout::data`]):
//!
//! | offset | what |
//! |---|---|
//! | `0x0000..0x2800` | the CCWs' payloads, 256 bytes each (the programs' data areas) |
//! | `0x4000..0x4100` | indicators (32 doublewords) |
//! | `0x5000..0xb000` | virtqueues (descriptor tables, available and used rings) |
//! | `0xb000..0xc000` | the buffers the descriptors name |
//!
//! Everything from `0x4000` on is where the device may store
//! ([`writable_areas`], for [`zcss_css::fuzz::Harness::writable`]); a
//! descriptor the guest points elsewhere makes the device store there
//! legitimately, and [`Guarded`] reports such stores
//! ([`Guarded::log`]) for [`zcss_css::fuzz::Harness::writable_each_step`].
//!
//! ```
//! use arbitrary::{Arbitrary, Unstructured};
//! use zcss_css::fuzz::{Harness, Scenario};
//! use zcss_virtio_ccw::fuzzing::{writable_areas, Guarded, VirtioStart};
//!
//! let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 13 % 251) as u8).collect();
//! let scenario = Scenario::<VirtioStart>::arbitrary(&mut Unstructured::new(&bytes)).unwrap();
//! let guard = Guarded::counters();
//! let log = guard.log.clone();
//! let report = Harness::new(|_| Guarded::rng(&guard).under_test())
//!     .writable(&writable_areas())
//!     .writable_each_step(move || std::mem::take(&mut *log.lock()))
//!     .run(&scenario);
//! assert!(report.steps <= zcss_css::fuzz::MAX_STEPS);
//! ```

mod guard;
mod start;

use std::ops::Range;

use zcss_ccw::generate::{Layout, StartDesc};
use zcss_css::fuzz::{CssStep, Scenario, Step, MAX_SUBCHANNELS};

pub use guard::{Counters, Guarded};
pub use start::{
    Addr, Chain, Command, Desc, Head, QueueSpec, Setup, Variant, VirtioCcw, VirtioGen, VirtioStart, VqSpec,
};

/// Offset of the CCW payloads from [`Layout::data`], and the room of each.
pub const PAYLOADS: u64 = 0;
/// Bytes of each CCW's payload area.
pub const PAYLOAD_ROOM: u64 = 0x100;
/// Offset of the part the device may write (indicators, rings, buffers).
pub const WRITABLE: u64 = 0x4000;
/// Offset of the indicator doublewords.
pub const INDICATORS: u64 = 0x4000;
/// Offset of the virtqueue area.
pub const RINGS: u64 = 0x5000;
/// Offset of the buffer area.
pub const BUFFERS: u64 = 0xb000;

/// The part of every harness subchannel's region the device may write:
/// from [`WRITABLE`] to the end of the data region.
#[must_use]
pub fn writable_areas() -> Vec<Range<u64>> {
    (0..MAX_SUBCHANNELS)
        .map(|i| {
            let l: Layout = Scenario::<StartDesc>::layout(i);
            l.data + WRITABLE..l.data_end
        })
        .collect()
}

/// Aims the notifications of `scenario` at queues that exist, as a driver
/// does: the queue index of a [`CssStep::Notify`] is taken modulo 4
/// unless its top bit is set (then it stays as drawn, a hostile index);
/// and after a start with a driver set-up come TEST SUBCHANNEL (the
/// driver takes the set-up's interruption) and a notification of each
/// queue the set-up enabled. A drawn 16-bit index names queue 0, 1 or 2
/// once in 20,000 draws, and a fuzzer spends its time in the device's
/// queues only when notifications reach set-up queues. A target aims its
/// scenario before it runs and prints it.
pub fn aim(scenario: &mut Scenario<VirtioStart>) {
    let mut steps = Vec::with_capacity(scenario.steps.len());
    for mut step in scenario.steps.drain(..) {
        if let Step::Css(CssStep::Notify(_, q, _)) = &mut step {
            if *q & 0x8000 == 0 {
                *q %= 4;
            }
        }
        let kick = match &step {
            Step::Start(i, VirtioStart { setup: Some(s), .. }) => Some((*i, s.queues.len().min(3))),
            _ => None,
        };
        steps.push(step);
        if let Some((i, queues)) = kick {
            steps.push(Step::Test(i));
            steps.extend((0..queues).map(|q| Step::Css(CssStep::Notify(i, u16::try_from(q).unwrap_or(0), 0))));
        }
    }
    scenario.steps = steps;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{CCW_CMD_SET_VQ, CCW_CMD_WRITE_STATUS};
    use zcss_css::fuzz::{CssStep, Harness, MachineOpts, Step};

    fn setup(revision: u8) -> VirtioStart {
        VirtioStart {
            intparm: 1,
            format0: false,
            setup: Some(Setup {
                revision,
                features: 0,
                queues: vec![QueueSpec {
                    num: 6,
                    fill: vec![Chain {
                        head: Head::Bytes(vec![]),
                        first: Desc {
                            buf: 1,
                            len: 64,
                            write: true,
                        },
                        more: Vec::new(),
                    }],
                }],
                adapter: None,
                indicator: 0,
                config_indicator: 1,
            }),
            commands: Vec::new(),
            hostile: false,
        }
    }

    #[test]
    fn run_with_descriptor_outside_the_region_allows_the_store_the_guard_logged() {
        // Revision 1: little-endian descriptors. The guest rewrites
        // descriptor 0 to name 16 writable bytes next to the ORB, outside
        // every declared area: the rng fills them, the guard allows it (the
        // guest gave them), and the harness takes the guard's log.
        let region = Scenario::<StartDesc>::layout(0);
        let outside = region.orb + 0x100;
        let mut desc = outside.to_le_bytes().to_vec();
        desc.extend_from_slice(&16u32.to_le_bytes());
        desc.extend_from_slice(&2u16.to_le_bytes());
        desc.extend_from_slice(&0u16.to_le_bytes());
        let scenario = Scenario {
            machine: MachineOpts::default(),
            subchannels: 0,
            steps: vec![
                Step::Start(0, setup(1)),
                Step::Test(0),
                Step::Css(CssStep::Store(0, u16::try_from(RINGS).unwrap(), desc)),
                Step::Css(CssStep::Notify(0, 0, 0)),
            ],
        };
        let counters = Guarded::counters();
        let log = counters.log.clone();
        Harness::new(|_| Guarded::rng(&counters).under_test())
            .writable(&writable_areas())
            .writable_each_step(move || std::mem::take(&mut *log.lock()))
            .check_each_step(|v| {
                let mut b = [0u8; 16];
                let _ =
                    zcss_ccw::memory::GuestMemory::read(&**v.mem, outside, &mut b, zcss_ccw::memory::AccessKey::ZERO);
                match v.index {
                    3 if b != [0xa5; 16] => Err(format!("the rng filled {b:02x?}")),
                    _ => Ok(()),
                }
            })
            .run(&scenario);
        let unlogged = std::panic::catch_unwind(|| {
            Harness::new(|_| Guarded::rng(&Guarded::counters()).under_test())
                .writable(&writable_areas())
                .run(&scenario)
        });
        let msg = unlogged.expect_err("the harness took a store outside its areas");
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains(&format!("storage at {outside:#x} changed")), "{msg}");
    }

    #[test]
    fn aim_folds_queue_indices_and_kicks_set_up_queues() {
        let mut s = Scenario {
            machine: MachineOpts::default(),
            subchannels: 1,
            steps: vec![
                Step::Css(CssStep::Notify(1, 0x1235, 7)),
                Step::Css(CssStep::Notify(1, 0x8123, 7)),
                Step::Start(1, setup(1)),
            ],
        };
        aim(&mut s);
        assert_eq!(
            s.steps[..2],
            [
                Step::Css(CssStep::Notify(1, 1, 7)),
                Step::Css(CssStep::Notify(1, 0x8123, 7))
            ]
        );
        assert_eq!(s.steps[3..], [Step::Test(1), Step::Css(CssStep::Notify(1, 0, 0))]);
    }

    #[test]
    fn setup_start_sets_up_queue_and_notify_fills_the_buffer() {
        for (revision, mcss) in [(0, false), (1, true), (2, false), (2, true)] {
            let scenario = Scenario {
                machine: MachineOpts {
                    mcss,
                    ..MachineOpts::default()
                },
                subchannels: 0,
                steps: vec![
                    Step::Start(0, setup(revision)),
                    Step::Test(0),
                    Step::Css(CssStep::Notify(0, 0, 0)),
                ],
            };
            let counters = Guarded::counters();
            let log = counters.log.clone();
            let report = Harness::new(|_| Guarded::rng(&counters).under_test())
                .writable(&writable_areas())
                .writable_each_step(move || std::mem::take(&mut *log.lock()))
                .run(&scenario);
            assert_eq!(report.started, 1, "revision {revision}");
            assert_eq!(
                counters.accepted(CCW_CMD_SET_VQ),
                1,
                "revision {revision}: {counters:?}"
            );
            assert!(
                counters.accepted(CCW_CMD_WRITE_STATUS) >= 2,
                "revision {revision}: {counters:?}"
            );
            // The buffer, the used ring and the indicator.
            assert!(
                counters.stores.load(std::sync::atomic::Ordering::Relaxed) >= 3,
                "revision {revision}: {counters:?}"
            );
        }
    }
}
