//! The passthrough contract, played by `MockPassthrough`: host status is
//! passed to the guest as reported (several reports per program), HALT and
//! CLEAR are requests whose host condition code is the guest's, path
//! information is refreshed for STSCH, and channel reports are forwarded.

mod common;

use std::time::Duration;

use common::*;
use zcss_ccw::crw::{erc, rsc, Crw};
use zcss_ccw::scsw::{ActivityControl, FunctionControl, StatusControl};
use zcss_ccw::status::{DeviceStatus, SubchannelStatus};
use zcss_css::mock::{MockPassthrough, PassthroughScript};
use zcss_css::{chpid_type, Cc, ChannelPaths, PassthroughError, PathState, Wake};

type Script = std::sync::Arc<parking_lot::Mutex<PassthroughScript>>;

/// A machine with a passthrough device at fe.0.0000 (enabled, ISC 3) and
/// a waker channel.
fn machine() -> (Machine, Script, crossbeam_channel::Receiver<Wake>) {
    let m = Machine::new(0);
    let d = MockPassthrough::new(0x3990);
    let script = d.script();
    m.css.attach_passthrough(sid(0), 0x100, Box::new(d), false).unwrap();
    m.enable(gr1(0), 3);
    let (tx, rx) = crossbeam_channel::unbounded();
    m.css.set_waker_channel(tx);
    (m, script, rx)
}

/// Waits for the next passthrough report and applies it.
fn await_report(m: &Machine, rx: &crossbeam_channel::Receiver<Wake>) {
    loop {
        let w = rx.recv_timeout(Duration::from_secs(5)).expect("a passthrough report");
        if w == Wake::Completion {
            break;
        }
    }
    m.css.poll();
}

#[test]
fn passthrough_intermediate_then_final_status_both_reach_the_guest() {
    let (m, script, rx) = machine();
    script.lock().intermediate = true;
    script.lock().delay = Duration::from_millis(50);
    assert_eq!(m.start(gr1(0), 7, 0x03, 0x20, 0), Ok(Cc::Zero));
    await_report(&m, &rx);
    assert_eq!(m.css.next_interrupt(0xff).map(|c| c.intparm), Some(7));
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    assert_eq!(irb.scsw.ctrl.stctl(), StatusControl::INTER | StatusControl::PEND);
    assert!(irb.scsw.cstat.pci());
    assert_eq!(
        irb.scsw.ctrl.actl(),
        ActivityControl::SCH_ACT | ActivityControl::DEV_ACT,
        "the program still runs"
    );
    // The token survived the first report: the final status is presented.
    await_report(&m, &rx);
    assert!(m.css.next_interrupt(0xff).is_some());
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    assert_eq!(irb.scsw.ctrl.stctl(), StatusControl::PRIM_SEC_PEND);
    assert_eq!(irb.scsw.dstat, DeviceStatus::CE_DE);
    assert_eq!(
        m.stsch(gr1(0)).scsw.ctrl.fctl(),
        FunctionControl::new(),
        "function ended"
    );
    m.css.check_invariants().unwrap();
}

#[test]
fn passthrough_final_status_waits_while_intermediate_status_is_pending() {
    let (m, script, rx) = machine();
    script.lock().intermediate = true;
    assert_eq!(m.start(gr1(0), 7, 0x03, 0x20, 0), Ok(Cc::Zero));
    await_report(&m, &rx);
    await_report(&m, &rx);
    // Both reports arrived; only the intermediate status is pending.
    assert!(m.css.next_interrupt(0xff).is_some());
    assert_eq!(m.css.next_interrupt(0xff), None, "the final status is stacked");
    assert_eq!(
        m.stsch(gr1(0)).scsw.ctrl.stctl(),
        StatusControl::INTER | StatusControl::PEND
    );
    assert_eq!(m.tsch(gr1(0)).0, Ok(Cc::Zero));
    // TSCH made room: the final status is pending now.
    assert!(m.css.next_interrupt(0xff).is_some());
    assert_eq!(m.tsch(gr1(0)).1.scsw.ctrl.stctl(), StatusControl::PRIM_SEC_PEND);
    m.css.check_invariants().unwrap();
}

#[test]
fn passthrough_hsch_overtakes_running_program_with_host_halt_status() {
    let (m, script, rx) = machine();
    script.lock().delay = Duration::from_secs(2);
    assert_eq!(m.start(gr1(0), 9, 0x03, 0x20, 0), Ok(Cc::Zero));
    assert_eq!(m.css.hsch(&m.ctx(), gr1(0)), Ok(Cc::Zero), "host cc 0");
    assert_eq!(script.lock().halted.len(), 1);
    let s = m.stsch(gr1(0)).scsw;
    assert_eq!(s.ctrl.fctl(), FunctionControl::START | FunctionControl::HALT);
    assert!(s.ctrl.actl().halt_pending());
    assert_eq!(m.css.hsch(&m.ctx(), gr1(0)), Ok(Cc::Two), "halt already in progress");
    await_report(&m, &rx);
    assert_eq!(m.css.next_interrupt(0xff).map(|c| c.intparm), Some(9));
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    assert_eq!(irb.scsw.ctrl.fctl(), FunctionControl::START | FunctionControl::HALT);
    assert_eq!(irb.scsw.ctrl.stctl(), StatusControl::PEND);
    assert_eq!(irb.scsw.dstat, DeviceStatus::new().with_device_end(true));
    m.css.check_invariants().unwrap();
}

#[test]
fn passthrough_host_condition_codes_are_the_guests() {
    let (m, script, _rx) = machine();
    let before = m.stsch(gr1(0)).scsw;
    script.lock().refuse_start = Some(PassthroughError::StatusPending);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::One));
    assert_eq!(m.stsch(gr1(0)).scsw, before, "a refused start changes nothing");
    script.lock().refuse_start = Some(PassthroughError::NotOperational);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Three));
    assert_eq!(m.stsch(gr1(0)).scsw, before);
    script.lock().refuse_halt = Some(PassthroughError::StatusPending);
    assert_eq!(m.css.hsch(&m.ctx(), gr1(0)), Ok(Cc::One));
    script.lock().refuse_halt = Some(PassthroughError::NotOperational);
    assert_eq!(m.css.hsch(&m.ctx(), gr1(0)), Ok(Cc::Three));
    script.lock().refuse_clear = Some(PassthroughError::NotOperational);
    assert_eq!(m.css.csch(&m.ctx(), gr1(0)), Ok(Cc::Three));
    assert_eq!(m.stsch(gr1(0)).scsw, before, "refused halt and clear change nothing");
    assert_eq!(m.css.next_interrupt(0xff), None);
}

#[test]
fn passthrough_host_failure_on_start_is_cc0_and_unit_exception() {
    let (m, script, _rx) = machine();
    script.lock().refuse_start = Some(PassthroughError::HostFailure);
    assert_eq!(m.start(gr1(0), 5, 0x03, 0x20, 0), Ok(Cc::Zero));
    assert_eq!(m.css.next_interrupt(0xff).map(|c| c.intparm), Some(5));
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    assert_eq!(irb.scsw.dstat, DeviceStatus::new().with_unit_exception(true));
    assert_eq!(
        irb.scsw.ctrl.stctl(),
        StatusControl::PRIM_SEC_PEND | StatusControl::ALERT
    );
    assert_eq!(irb.scsw.cpa, CCW32 + 8);
}

#[test]
fn passthrough_clear_drops_reports_of_the_cleared_program() {
    let (m, script, rx) = machine();
    script.lock().delay = Duration::from_millis(100);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    assert_eq!(m.css.csch(&m.ctx(), gr1(0)), Ok(Cc::Zero));
    await_report(&m, &rx);
    let (_, irb) = m.tsch(gr1(0));
    assert_eq!(irb.scsw.ctrl.fctl(), FunctionControl::CLEAR);
    std::thread::sleep(Duration::from_millis(200));
    m.css.poll();
    assert_eq!(m.css.next_interrupt(0xff), None);
    assert_eq!(m.tsch(gr1(0)).0, Ok(Cc::One));
}

#[test]
fn passthrough_xsch_is_a_request_to_the_host() {
    let (m, script, _rx) = machine();
    script.lock().delay = Duration::from_millis(100);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    // Running at the host: the subchannel is active, cc 2 without asking.
    assert_eq!(m.css.xsch(&m.ctx(), gr1(0)), Ok(Cc::Two));
}

#[test]
fn passthrough_stsch_shows_paths_refreshed_from_the_host() {
    let (m, script, _rx) = machine();
    assert_eq!(m.stsch(gr1(0)).pmcw.chpid[0], 1, "the device's own description");
    let paths = ChannelPaths::new(&[(0x40, chpid_type::FICON), (0x41, chpid_type::FICON)]).unwrap();
    let asked = script.lock().refreshes;
    script.lock().paths = Some(PathState {
        paths,
        pam: 0xc0,
        pom: 0xbf,
        pnom: 0x40,
        lpum: 0x80,
    });
    let s = m.stsch(gr1(0));
    assert_eq!(script.lock().refreshes, asked + 1, "STSCH asked the host once");
    assert_eq!(
        (s.pmcw.pim, s.pmcw.pam, s.pmcw.pom, s.pmcw.pnom, s.pmcw.lpum),
        (0xc0, 0xc0, 0xbf, 0x40, 0x80)
    );
    assert_eq!(s.pmcw.chpid[..3], [0x40, 0x41, 0]);
    assert_eq!(m.css.channel_path_type(0xfe, 0x41), Some(chpid_type::FICON));
}

#[test]
fn passthrough_forwarded_crw_is_seen_by_stcrw() {
    let (m, script, rx) = machine();
    let handle = script.lock().handle.clone().expect("attached");
    let crw = Crw::report(rsc::CHANNEL_PATH, erc::INIT, 0x40);
    assert!(handle.channel_report(&[crw]));
    assert_eq!(rx.recv_timeout(Duration::from_secs(1)), Ok(Wake::ChannelReport));
    assert_eq!(m.css.stcrw(&m.ctx(), SCRATCH), Ok(Cc::Zero));
    assert_eq!(m.mem.fetch(SCRATCH, 4).unwrap(), crw.to_be_bytes().to_vec());
    assert_eq!(m.css.stcrw(&m.ctx(), SCRATCH), Ok(Cc::One));
}

#[test]
fn passthrough_subchannel_status_from_host_is_passed_through() {
    let (m, script, rx) = machine();
    script.lock().status = DeviceStatus::CE_DE_UC;
    script.lock().cstat = SubchannelStatus::new().with_incorrect_length(true);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    await_report(&m, &rx);
    let (_, irb) = m.tsch(gr1(0));
    assert_eq!(irb.scsw.dstat, DeviceStatus::CE_DE_UC);
    assert!(irb.scsw.cstat.incorrect_length());
    assert!(irb.scsw.ctrl.stctl().alert());
}

#[test]
fn passthrough_ecw_reaches_the_guest_only_with_concurrent_sense() {
    // The host stores concurrent sense; the guest's PMCW decides (QEMU).
    let (m, script, rx) = machine();
    script.lock().status = DeviceStatus::CE_DE_UC;
    script.lock().sense = Some([0x80, 0, 0, 0]);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    await_report(&m, &rx);
    let (_, irb) = m.tsch(gr1(0));
    assert!(!irb.scsw.ctrl.extended_control(), "guest without concurrent sense");
    assert!(!irb.esw.erw.concurrent_sense());
    assert!(
        !irb.scsw.ctrl.esw_format(),
        "SCSW L as an emulated subchannel stores it"
    );
    assert_eq!(irb.ecw, [0; 32]);
    let mut s = m.stsch(gr1(0));
    s.pmcw.chars = s.pmcw.chars.with_csense(true);
    assert_eq!(m.msch(gr1(0), &s), Ok(Cc::Zero));
    assert!(script.lock().csense, "the device saw the guest's PMCW");
    assert_eq!(m.start(gr1(0), 2, 0x03, 0x20, 0), Ok(Cc::Zero));
    await_report(&m, &rx);
    let (_, irb) = m.tsch(gr1(0));
    assert!(irb.scsw.ctrl.extended_control());
    assert_eq!(irb.esw.erw.sense_count(), 4);
    assert_eq!(irb.ecw[0], 0x80);
}

#[test]
fn passthrough_device_may_refuse_an_orb_with_an_operand_exception() {
    let (m, script, _rx) = machine();
    script.lock().refuse_midaw = true;
    m.ccw1(CCW, 0x03, 0x20, 0, DATA32);
    m.orb(1, Machine::fmt1().with_midaw(true), CCW32);
    assert_eq!(m.css.ssch(&m.ctx(), gr1(0), ORB), Err(zcss_css::ProgramCheck::Operand));
    assert_eq!(script.lock().started.len(), 0);
}
