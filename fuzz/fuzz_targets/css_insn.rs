//! `css_insn`: the channel subsystem's instructions and host events rather
//! than channel programs — STORE and MODIFY SUBCHANNEL with arbitrary PMCW
//! fields, TEST SUBCHANNEL, TEST PENDING INTERRUPTION and STORE CHANNEL
//! REPORT WORD with hostile operands, subchannel-id words naming nothing,
//! SET CHANNEL MONITOR, CHSC, RESET CHANNEL PATH, SET INTERRUPTION
//! CONTROLS, hot plug and unplug, the I/O-system reset — half of the steps,
//! the other half the harness's usual ones (starts included), on a machine
//! with or without MCSS-E, MSS and the timing facility, against the
//! scriptable mock device. The `zcss_css::fuzz` harness checks its
//! invariants after every step (css state, SCSW consistency, no store
//! outside the operands and data areas, bounded work).
//!
//! `cargo fuzz fmt css_insn <input>` prints the `.zct` trace of what ran.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use zcss::fuzz_replay::interpreted_devices;
use zcss_css::fuzz::{Harness, MockScript, Scenario};

/// About half of the steps css-level (of 255).
const CSS_SHARE: u8 = 128;

struct Input {
    mock: MockScript,
    scenario: Scenario,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self {
            mock: MockScript::arbitrary(u)?,
            scenario: Scenario::arbitrary_mixed(u, CSS_SHARE)?,
        })
    }
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.scenario.trace(&self.mock.device()))
    }
}

fuzz_target!(|input: Input| {
    let device = input.mock.device();
    Harness::new(interpreted_devices(&device)).run(&input.scenario);
});
