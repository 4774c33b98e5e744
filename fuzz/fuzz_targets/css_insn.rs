//! Arbitrary sequences of I/O instructions, device events and hot plugs
//! against a channel subsystem with mock devices. The interpreter
//! (`zcss_css::fuzzing::run`) checks the state invariants after every step:
//! status pending ⇔ exactly one queued interruption per subchannel, empty
//! function control ⇒ empty activity control, bounded queues.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = zcss_css::fuzzing::run(data);
});
