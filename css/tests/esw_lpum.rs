//! The extended-status word TEST SUBCHANNEL stores (format 1 for a normal
//! ending, format 0 with SCSW L after a channel-data, channel-control or
//! interface-control check) and the last-path-used mask the halt and
//! clear functions leave (PoO chapter 15, "Halt Function", "Clear
//! Function"; chapter 16, "Extended-Status Word").

mod common;

use std::time::Duration;

use common::*;
use zcss_ccw::status::{DeviceStatus, SubchannelStatus};
use zcss_css::mock::MockPassthrough;
use zcss_css::Cc;

fn word0(irb: &zcss_ccw::irb::Irb) -> u32 {
    u32::from_be_bytes(irb.esw.to_be_bytes()[..4].try_into().unwrap())
}

#[test]
fn tsch_normal_ending_stores_format1_esw() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    assert!(!irb.scsw.ctrl.esw_format(), "SCSW L = 0: format-1 ESW");
    assert_eq!(word0(&irb), 0x0080_0000, "LPUM alone, no field-validity flags");
    assert_eq!(irb.esw.to_be_bytes()[4..], [0u8; 16]);
}

#[test]
fn start_runs_the_program_on_the_lpum_path() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    assert_eq!(m.ctl[0].with_state(|s| s.lpum), None);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    assert_eq!(
        m.ctl[0].with_state(|s| s.lpum),
        Some(0x80),
        "the device saw the path LPUM names"
    );
}

/// A passthrough program that ends with `cstat`; returns the IRB.
fn passthrough_ending(cstat: SubchannelStatus) -> zcss_ccw::irb::Irb {
    let m = Machine::new(0);
    let d = MockPassthrough::new(0x3990);
    let script = d.script();
    m.css.attach_passthrough(sid(0), 0x100, Box::new(d), false).unwrap();
    m.enable(gr1(0), 3);
    script.lock().cstat = cstat;
    let (tx, rx) = crossbeam_channel::unbounded();
    m.css.set_waker_channel(tx);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0, 0), Ok(Cc::Zero));
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(zcss_css::Wake::Completion));
    m.css.poll();
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    assert_eq!(irb.scsw.cstat, cstat);
    // TSCH cleared the status: the next status starts from format 1 again.
    m.css.check_invariants().unwrap();
    irb
}

#[test]
fn tsch_after_channel_checks_stores_format0_logout() {
    for cstat in [
        SubchannelStatus::new().with_channel_data_check(true),
        SubchannelStatus::new().with_channel_control_check(true),
        SubchannelStatus::new().with_interface_control_check(true),
    ] {
        let irb = passthrough_ending(cstat);
        assert!(irb.scsw.ctrl.esw_format(), "{cstat:?}: SCSW L = 1");
        assert_eq!(word0(&irb), 0x0480_4000, "{cstat:?}: CCW check, LPUM 0x80, LPUM valid");
        assert_eq!(irb.esw.scl.lpum(), 0x80);
        assert!(irb.scsw.ctrl.stctl().alert());
    }
}

#[test]
fn tsch_after_program_check_stores_format1_esw() {
    for cstat in [
        SubchannelStatus::new().with_program_check(true),
        SubchannelStatus::new().with_protection_check(true),
        SubchannelStatus::new().with_chaining_check(true),
        SubchannelStatus::new().with_incorrect_length(true),
    ] {
        let irb = passthrough_ending(cstat);
        assert!(!irb.scsw.ctrl.esw_format(), "{cstat:?}");
        assert_eq!(word0(&irb), 0x0080_0000, "{cstat:?}");
    }
}

#[test]
fn hsch_idle_subchannel_sets_lpum_to_signal_path() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    assert_eq!(m.stsch(gr1(0)).pmcw.lpum, 0);
    assert_eq!(m.css.hsch(&m.ctx(), gr1(0)), Ok(Cc::Zero));
    assert_eq!(m.stsch(gr1(0)).pmcw.lpum, 0x80);
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    assert!(irb.scsw.ctrl.fctl().halt());
    assert_eq!(irb.scsw.dstat, DeviceStatus::new().with_device_end(true));
    assert_eq!(word0(&irb), 0x0080_0000);
}

#[test]
fn csch_idle_subchannel_sets_lpum_to_signal_path() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    assert_eq!(m.css.csch(&m.ctx(), gr1(0)), Ok(Cc::Zero));
    assert_eq!(m.stsch(gr1(0)).pmcw.lpum, 0x80);
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    assert!(irb.scsw.ctrl.fctl().clear());
    assert_eq!(word0(&irb), 0x0080_0000);
}

#[test]
fn deferred_cc3_leaves_lpum_zero_until_a_halt_signal() {
    // LPM without an available path: the start ends with deferred cc 3
    // without using a path, so LPUM stays 0; HSCH on the now idle
    // subchannel signals the device and LPUM shows the path.
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    m.ccw1(CCW, 0x03, 0x20, 0, DATA32);
    m.orb(1, Machine::fmt1().with_lpm(0x40), CCW32);
    assert_eq!(m.css.ssch(&m.ctx(), gr1(0), ORB), Ok(Cc::Zero));
    let (_, irb) = m.tsch(gr1(0));
    assert_eq!(irb.scsw.ctrl.cc(), 3);
    assert_eq!(m.stsch(gr1(0)).pmcw.lpum, 0, "no path was used");
    assert_eq!(m.css.hsch(&m.ctx(), gr1(0)), Ok(Cc::Zero));
    assert_eq!(m.stsch(gr1(0)).pmcw.lpum, 0x80);
}
