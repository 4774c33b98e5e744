//! DASD passthrough is transparent: the Linux guest-driver model's
//! programs and hostile programs run on a 3390 emulated directly and on the
//! same 3390 passed through the simulated host, compared field by field.

mod dasd_twin;

use dasd_twin::{DasdTwin, DEFAULT};
use zcss_dasd::mock::{linux_dasd, LinuxDriver};
use zcss_dasd::ControlUnit;

#[test]
fn linux_session_on_3990_6_is_transparent() {
    let t = DasdTwin::new(|| linux_dasd(ControlUnit::Model6, 20), DEFAULT);
    let mut l = LinuxDriver::boot(t, true);
    l.discover_and_format(45);
    l.write_labels(&[0; 24], &[0; 144]);
    l.round_trip(30, 35);
    l.round_trip(3, 30);
    eprintln!("steps {} trace {}", l.ch.steps, l.trace.len());
    l.ch.assert_transparent();
}

#[test]
fn linux_session_without_concurrent_sense_is_transparent() {
    let t = DasdTwin::new(|| linux_dasd(ControlUnit::Model3, 20), DEFAULT);
    let mut l = LinuxDriver::boot(t, false);
    l.discover_and_format(20);
    l.round_trip(30, 20);
    assert!(l.basic_senses > 0);
    l.ch.assert_transparent();
}
