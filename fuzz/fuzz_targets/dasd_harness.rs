//! `dasd_harness`: the `zcss_css::fuzz` harness (generated starts of
//! `zcss_ccw::generate`, HSCH/CSCH/XSCH/RSCH, TSCH, TPI, unsolicited status
//! and css-level steps on up to four subchannels) against emulated 3390s
//! (`zcss_dasd::Dasd`, 3990-6, a fresh two-cylinder volume), built exactly
//! as the trace's `device … dasd-3390 cu=3990-6 cylinders=2` line builds
//! them, checking the harness's invariants. `dasd_eckd` runs ECKD
//! programs with the DASD-specific oracles (extents, track validity); this
//! target adds the channel-side view of arbitrary programs.
//!
//! `cargo fuzz fmt dasd_harness <input>` prints the input as a `.zct`
//! trace that `zcss replay` runs on the same volumes.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zcss::machine::Machine;
use zcss_css::fuzz::{DeviceUnderTest, Harness, Scenario};

/// The trace's device kind and keys.
const DEVICE: &str = "dasd-3390 cu=3990-6 cylinders=2";

#[derive(Arbitrary)]
struct Input {
    scenario: Scenario,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.scenario.trace(DEVICE))
    }
}

fuzz_target!(|input: Input| {
    Harness::new(|i| {
        let devno = u16::try_from(i).unwrap_or(0);
        match Machine::dasd(DEVICE, devno) {
            Ok(d) => DeviceUnderTest::Interpreted(Box::new(d)),
            Err(e) => panic!("{DEVICE}: {e}"),
        }
    })
    .run(&input.scenario);
});
