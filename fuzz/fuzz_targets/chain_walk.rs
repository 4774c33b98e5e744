//! `chain_walk`: structured channel programs (`zcss_ccw::generate`) on up to
//! four subchannels with HSCH/CSCH/XSCH/RSCH, TSCH, TPI, unsolicited status
//! and the css-level steps interleaved, against the scriptable mock device
//! (replies scripted per command), through the `zcss_css::fuzz` harness
//! and its invariants.
//!
//! `cargo fuzz fmt chain_walk <input>` prints the input as the `.zct` trace
//! of what ran; `zcss replay` runs it (device kind `mock replies=…`, built
//! from the same string here).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zcss::fuzz_replay::interpreted_devices;
use zcss_css::fuzz::{Harness, MockScript, Scenario};

#[derive(Arbitrary)]
struct Input {
    mock: MockScript,
    scenario: Scenario,
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
