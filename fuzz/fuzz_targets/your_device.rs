//! `your_device`: the example device of `examples/fuzz-your-device` behind
//! zcss's channel subsystem, through the `zcss_css::fuzz` harness — the
//! whole target a device author writes. Build with `--features planted-bug`
//! to watch the harness find the planted bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zcss_css::fuzz::{DeviceUnderTest, Harness, Scenario};

fuzz_target!(|scenario: Scenario| {
    Harness::new(|_| DeviceUnderTest::Interpreted(Box::<fuzz_your_device::Echo>::default())).run(&scenario);
});
