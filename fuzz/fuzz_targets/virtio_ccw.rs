//! `virtio_ccw`: virtio-ccw channel programs (`zcss_virtio_ccw::fuzzing::VirtioStart`:
//! a driver's set-up sequence and arbitrary commands — SET_VIRTIO_REV,
//! features, configuration, status, SET_VQ in both layouts with ring
//! contents, indicators classic and adapter, raw commands — with mostly
//! well-formed payloads and a share of hostile ones), guest stores into
//! rings and buffers, DIAG 0x500 notifications, console input, MODIFY
//! SUBCHANNEL, HALT/CLEAR, hot plug and the I/O-system reset, on up to four
//! subchannels holding a virtio-blk, virtio-rng or virtio-console built as
//! `zcss replay` builds it (`Machine::interpreted_device`), through the
//! `zcss_css::fuzz` harness and its invariants.
//!
//! Stores: the harness allows the programs' data areas, the instructions'
//! operands and the writable part of each subchannel's region (indicators,
//! rings, buffers); the device itself is wrapped (`fuzzing::Guarded`) so
//! that every store it makes in a notification or for console input must
//! lie in a device-writable descriptor buffer, a used ring or an indicator
//! the guest gave it at that moment.
//!
//! `cargo fuzz fmt virtio_ccw <input>` prints the input as a `.zct` trace
//! that `zcss replay` runs.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zcss::machine::Machine;
use zcss_css::fuzz::{Harness, Scenario};
use zcss_virtio_ccw::fuzzing::{aim, writable_areas, Guarded, VirtioStart};

/// The device kind on every subchannel.
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Kind {
    Blk,
    Rng,
    Console,
}

impl Kind {
    /// The trace's device kind and keys.
    fn device(self) -> &'static str {
        match self {
            Self::Blk => "virtio-blk size=65536",
            Self::Rng => "virtio-rng",
            Self::Console => "virtio-console",
        }
    }
}

/// The device kind and the scenario, its notifications aimed at queues
/// that exist (`fuzzing::aim`).
struct Input {
    kind: Kind,
    scenario: Scenario<VirtioStart>,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let kind = Kind::arbitrary(u)?;
        let mut scenario = Scenario::arbitrary(u)?;
        aim(&mut scenario);
        Ok(Self { kind, scenario })
    }

    fn arbitrary_take_rest(mut u: arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let kind = Kind::arbitrary(&mut u)?;
        let mut scenario = Scenario::arbitrary_take_rest(u)?;
        aim(&mut scenario);
        Ok(Self { kind, scenario })
    }
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.scenario.trace(self.kind.device()))
    }
}

fuzz_target!(|input: Input| {
    let counters = Guarded::counters();
    let log = counters.log.clone();
    Harness::new(|i| {
        let devno = u16::try_from(i).unwrap_or(0);
        let d = Machine::interpreted_device(input.kind.device(), devno).expect("the device kind builds");
        Guarded::new(d, &counters).expect("a virtio-ccw device").under_test()
    })
    .writable(&writable_areas())
    .writable_each_step(move || std::mem::take(&mut *log.lock()))
    .run(&input.scenario);
});
