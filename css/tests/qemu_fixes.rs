//! The QEMU fixes of qemu-notes.md §4 that concern instruction semantics,
//! status, CHSC and CRWs, each as a named test of the behaviour the fix
//! established (or, where QEMU is still wrong at HEAD, of the architected
//! behaviour). Channel-program fixes (TIC, counts, IDAWs, …) are tested in
//! the ccw engine; virtio and vfio-ccw fixes in their crates.
//!
//! | QEMU commit | trigger → correct behaviour | test |
//! |---|---|---|
//! | f53b033e4c | refused passthrough SSCH → SCSW restored | `qemu_f53b033e4c_refused_passthrough_ssch_restores_scsw` |
//! | 2df59b73e0 | PMCW reserved bits 0, 1, 6, 7 → operand | `qemu_2df59b73e0_msch_reserved_pmcw_bits_are_operand` |
//! | a54b8ac340 / 0dd05d0606 | MBA misaligned → operand | `qemu_a54b8ac340_msch_misaligned_mba_is_operand` |
//! | 89c6722da2 | unit exception clears only the active bits | `qemu_89c6722da2_unit_exception_ends_start_with_primary_status` |
//! | 759a5d3be0 | host cc forwarded for HSCH/CSCH | `qemu_759a5d3be0_passthrough_hsch_csch_forward_host_cc` |
//! | 6c86462220 | XSCH cc 1 / cc 2 | `qemu_6c86462220_xsch_status_pending_cc1_active_cc2` |
//! | c679e74d2e | ENA and DNV required | `qemu_c679e74d2e_disabled_subchannel_is_not_operational` |
//! | 6b7741c2be | cstat cleared at start, not on resume | `qemu_6b7741c2be_start_clears_cstat_resume_keeps_it` |
//! | 4c6bf79a22 | CSCH sets clear pending | `qemu_4c6bf79a22_csch_sets_clear_pending_while_program_runs` |
//! | 2ed982b6a9 | CPA updated | `qemu_2ed982b6a9_scsw_cpa_points_after_last_ccw` |
//! | 485dd69088 | SCSW F = ORB F | `qemu_485dd69088_scsw_format_follows_orb` |
//! | f068d320de | 64-byte IRB | `qemu_f068d320de_tsch_stores_64_bytes` |
//! | 8312976e73 | concurrent-sense off-by-one | `qemu_8312976e73_concurrent_sense_fills_ecw_and_scnt` |
//! | 38dd7cc776 | last-subchannel check honours M | `qemu_38dd7cc776_stsch_highest_schid_honours_m` |
//! | 6e9c893ecd | attention on a disabled subchannel | `qemu_6e9c893ecd_attention_on_disabled_subchannel_is_dropped` |
//! | 22f2da06a8 | SCPD overflow capped | `qemu_22f2da06a8_scpd_full_range_fits_the_area` |
//! | 386268daea | strict SEI length and format | `qemu_386268daea_sei_bad_length_or_format_is_request_error` |
//! | 882b3b9769 | schid 0xffffffff / cssid 255 reserved | `qemu_882b3b9769_cssid_255_is_reserved` |
//! | c81b4f896f | one SEI CRW | `qemu_c81b4f896f_only_one_css_event_crw_pending` |
//! | 5c8d6f008c | solicited RCHP CRW | `qemu_5c8d6f008c_rchp_crw_is_solicited` |
//! | c1755b14fa | an IPI CRW clears queued interrupts | `qemu_c1755b14fa_unplug_withdraws_queued_interruption` |
//! | unfixed: passthrough halt/clear fallback injects no interrupt | `qemu_unfixed_passthrough_halt_and_clear_interrupt` |
//! | unfixed: XSCH success while host I/O runs | `qemu_unfixed_xsch_on_running_passthrough_is_cc2` |

mod common;

use std::time::Duration;

use common::*;
use zcss_ccw::crw::Crw;
use zcss_ccw::device::Sense;
use zcss_ccw::orb::OrbControls;
use zcss_ccw::scsw::{ActivityControl, FunctionControl, StatusControl};
use zcss_ccw::status::DeviceStatus;
use zcss_css::crw_queue::CrwQueue;
use zcss_css::mock::{MockPassthrough, MockReply};
use zcss_css::{Cc, Css, CssConfig, IoCtx, PassthroughError, ProgramCheck, SubchannelId};

fn passthrough_machine() -> (
    Machine,
    std::sync::Arc<parking_lot::Mutex<zcss_css::mock::PassthroughScript>>,
) {
    let m = Machine::new(0);
    let d = MockPassthrough::new(0x3990);
    let script = d.script();
    m.css.attach_passthrough(sid(0), 0x100, Box::new(d), false).unwrap();
    m.enable(gr1(0), 3);
    (m, script)
}

#[test]
fn qemu_f53b033e4c_refused_passthrough_ssch_restores_scsw() {
    let (m, script) = passthrough_machine();
    let before = m.stsch(gr1(0)).scsw;
    script.lock().refuse_start = Some(PassthroughError::Busy);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0, 0), Ok(Cc::Two));
    assert_eq!(m.stsch(gr1(0)).scsw, before);
    script.lock().refuse_start = Some(PassthroughError::NotOperational);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0, 0), Ok(Cc::Three));
    let after = m.stsch(gr1(0)).scsw;
    assert_eq!(after.ctrl.fctl(), FunctionControl::new());
    assert_eq!(after.ctrl.actl(), ActivityControl::new());
    script.lock().refuse_start = None;
    assert_eq!(m.start(gr1(0), 1, 0x03, 0, 0), Ok(Cc::Zero));
}

#[test]
fn qemu_2df59b73e0_msch_reserved_pmcw_bits_are_operand() {
    let m = Machine::new(1);
    for mask in [0x8000_0000u32, 0x4000_0000, 0x0200_0000, 0x0100_0000] {
        let mut s = m.stsch(gr1(0));
        s.pmcw.flags = zcss_ccw::pmcw::PmcwFlags::from_bits(s.pmcw.flags.into_bits() | mask);
        assert_eq!(m.msch(gr1(0), &s), Err(ProgramCheck::Operand));
    }
    let mut s = m.stsch(gr1(0));
    s.pmcw.chars = zcss_ccw::pmcw::PmcwChars::from_bits(0x0000_0008);
    assert_eq!(m.msch(gr1(0), &s), Err(ProgramCheck::Operand), "word 6 reserved bit 28");
}

#[test]
fn qemu_a54b8ac340_msch_misaligned_mba_is_operand() {
    let m = Machine::new(1);
    let mut s = m.stsch(gr1(0));
    s.pmcw.chars = s.pmcw.chars.with_mbfc(true);
    for mba in [0x1001u64, 0x1020, 0x103f] {
        s.mba = mba;
        assert_eq!(m.msch(gr1(0), &s), Err(ProgramCheck::Operand), "{mba:#x}");
    }
    s.mba = 0x1040;
    assert_eq!(m.msch(gr1(0), &s), Ok(Cc::Zero));
    // Without F the MBA is not a measurement-block address.
    s.pmcw.chars = s.pmcw.chars.with_mbfc(false);
    s.mba = 0x1001;
    assert_eq!(m.msch(gr1(0), &s), Ok(Cc::Zero));
}

#[test]
fn qemu_89c6722da2_unit_exception_ends_start_with_primary_status() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    m.ctl[0].set_reply(0x02, MockReply::Status(DeviceStatus::CE_DE_UE));
    assert_eq!(m.start(gr1(0), 7, 0x02, 0x20, 16), Ok(Cc::Zero));
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    assert_eq!(irb.scsw.dstat, DeviceStatus::CE_DE_UE);
    assert_eq!(irb.scsw.ctrl.fctl(), FunctionControl::START);
    assert_eq!(irb.scsw.ctrl.actl(), ActivityControl::new());
    assert_eq!(irb.scsw.ctrl.stctl(), StatusControl::PRIM_SEC_PEND);
    // After TSCH the subchannel is idle and can start again.
    assert_eq!(m.start(gr1(0), 8, 0x03, 0, 0), Ok(Cc::Zero));
}

#[test]
fn qemu_759a5d3be0_passthrough_hsch_csch_forward_host_cc() {
    let (m, script) = passthrough_machine();
    script.lock().delay = Duration::from_millis(200);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0, 0), Ok(Cc::Zero));
    let ctx = m.ctx();
    script.lock().refuse_halt = Some(PassthroughError::Busy);
    assert_eq!(m.css.hsch(&ctx, gr1(0)), Ok(Cc::Two));
    script.lock().refuse_halt = Some(PassthroughError::NotOperational);
    assert_eq!(m.css.hsch(&ctx, gr1(0)), Ok(Cc::Three));
    script.lock().refuse_clear = Some(PassthroughError::NotOperational);
    assert_eq!(m.css.csch(&ctx, gr1(0)), Ok(Cc::Three));
    script.lock().refuse_clear = None;
    assert_eq!(m.css.csch(&ctx, gr1(0)), Ok(Cc::Zero));
    assert_eq!(script.lock().cleared.len(), 1);
}

#[test]
fn qemu_6c86462220_xsch_status_pending_cc1_active_cc2() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    let ctx = m.ctx();
    assert_eq!(
        m.css.xsch(&ctx, gr1(0)),
        Ok(Cc::Two),
        "idle: no start function to cancel"
    );
    assert_eq!(m.start(gr1(0), 1, 0x03, 0, 0), Ok(Cc::Zero));
    assert_eq!(m.css.xsch(&ctx, gr1(0)), Ok(Cc::One), "status pending");
    assert_eq!(m.tsch(gr1(0)).0, Ok(Cc::Zero));
    // Suspended: cancellable.
    m.ccw1(CCW, 0x03, 0x02, 0, 0); // S flag
    m.orb(
        1,
        Machine::fmt1().with_suspend(true).with_suppress_suspended(true),
        CCW32,
    );
    assert_eq!(m.css.ssch(&ctx, gr1(0), ORB), Ok(Cc::Zero));
    assert_eq!(m.stsch(gr1(0)).scsw.ctrl.actl(), ActivityControl::SUSP);
    assert_eq!(m.css.xsch(&ctx, gr1(0)), Ok(Cc::Zero));
    let s = m.stsch(gr1(0)).scsw;
    assert_eq!(s.ctrl.fctl(), FunctionControl::new());
    assert_eq!(s.ctrl.actl(), ActivityControl::new());
    assert_eq!(m.css.next_interrupt(0xff), None, "no interruption for cancel");
}

#[test]
fn qemu_c679e74d2e_disabled_subchannel_is_not_operational() {
    let m = Machine::new(1);
    let ctx = m.ctx();
    // DNV = 1 but E = 0.
    assert_eq!(m.start(gr1(0), 1, 0x03, 0, 0), Ok(Cc::Three));
    assert_eq!(m.css.hsch(&ctx, gr1(0)), Ok(Cc::Three));
    assert_eq!(m.css.csch(&ctx, gr1(0)), Ok(Cc::Three));
    assert_eq!(m.css.tsch(&ctx, gr1(0), IRB), Ok(Cc::Three));
    // A provided subchannel without a device (DNV = 0) below the highest one.
    let css = Css::new(CssConfig::default());
    css.attach_cold(sid(2), 2, Box::new(zcss_css::mock::MockDevice::new(0x3832, 1)))
        .unwrap();
    assert_eq!(css.stsch(&ctx, gr1(1), SCHIB), Ok(Cc::Zero));
    assert_eq!(m.mem.fetch(SCHIB, 52).unwrap(), vec![0; 52]);
    assert_eq!(css.ssch(&ctx, gr1(1), ORB), Ok(Cc::Three));
    assert_eq!(css.msch(&ctx, gr1(1), SCHIB), Ok(Cc::Zero), "DNV = 0: nothing changes");
}

#[test]
fn qemu_6b7741c2be_start_clears_cstat_resume_keeps_it() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    // A read with a short count and no SLI: incorrect length.
    m.ctl[0].set_read_data(0x02, vec![1; 32]);
    assert_eq!(m.start(gr1(0), 1, 0x02, 0, 8), Ok(Cc::Zero));
    let (_, irb) = m.tsch(gr1(0));
    assert!(irb.scsw.cstat.incorrect_length());
    // The next start begins with clean subchannel status.
    assert_eq!(m.start(gr1(0), 2, 0x03, 0x20, 0), Ok(Cc::Zero));
    let (_, irb) = m.tsch(gr1(0));
    assert_eq!(irb.scsw.cstat.into_bits(), 0);
    // PCI at a suspended CCW stays in the status across the resume.
    m.ccw1(CCW, 0x03, 0x20 | 0x08 | 0x40, 0, 0); // SLI, PCI, CC
    m.ccw1(CCW + 8, 0x03, 0x20 | 0x02, 0, 0); // SLI, suspend
    m.orb(
        3,
        Machine::fmt1().with_suspend(true).with_suppress_suspended(true),
        CCW32,
    );
    assert_eq!(m.css.ssch(&m.ctx(), gr1(0), ORB), Ok(Cc::Zero));
    let s = m.stsch(gr1(0)).scsw;
    assert_eq!(s.ctrl.actl(), ActivityControl::SUSP);
    assert!(s.cstat.pci(), "PCI reported with the suspension");
}

#[test]
fn qemu_4c6bf79a22_csch_sets_clear_pending_while_program_runs() {
    let m = std::sync::Arc::new(Machine::new(1));
    m.enable(gr1(0), 3);
    m.ctl[0].set_delay(Some(Duration::from_millis(300)));
    m.ccw1(CCW, 0x03, 0x20 | 0x40, 0, 0);
    m.ccw1(CCW + 8, 0x03, 0x20, 0, 0);
    m.orb(1, Machine::fmt1(), CCW32);
    let m2 = std::sync::Arc::clone(&m);
    let t = std::thread::spawn(move || m2.css.ssch(&m2.ctx(), gr1(0), ORB));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(m.css.csch(&m.ctx(), gr1(0)), Ok(Cc::Zero));
    let mid = m.stsch(gr1(0)).scsw;
    assert_eq!(mid.ctrl.fctl(), FunctionControl::CLEAR);
    assert!(mid.ctrl.actl().clear_pending());
    assert_eq!(t.join().unwrap(), Ok(Cc::Zero));
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    assert_eq!(irb.scsw.ctrl.fctl(), FunctionControl::CLEAR);
    assert_eq!(irb.scsw.ctrl.stctl(), StatusControl::PEND);
    assert_eq!(m.ctl[0].commands(), vec![0x03], "the chain stopped after the first CCW");
}

#[test]
fn qemu_2ed982b6a9_scsw_cpa_points_after_last_ccw() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    m.ccw1(CCW, 0x03, 0x20 | 0x40, 0, 0);
    m.ccw1(CCW + 8, 0x03, 0x20, 0, 0);
    m.orb(1, Machine::fmt1(), CCW32);
    assert_eq!(m.css.ssch(&m.ctx(), gr1(0), ORB), Ok(Cc::Zero));
    let (_, irb) = m.tsch(gr1(0));
    assert_eq!(irb.scsw.cpa, CCW32 + 16);
}

#[test]
fn qemu_485dd69088_scsw_format_follows_orb() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    // Format 0: cmd, 24-bit address, flags, reserved, count.
    m.mem.store(CCW, &[0x03, 0, 0, 0, 0x20, 0, 0, 0]).unwrap();
    m.orb(1, OrbControls::new().with_lpm(0x80), CCW32);
    assert_eq!(m.css.ssch(&m.ctx(), gr1(0), ORB), Ok(Cc::Zero));
    assert!(!m.tsch(gr1(0)).1.scsw.ctrl.format1());
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    assert!(m.tsch(gr1(0)).1.scsw.ctrl.format1());
}

#[test]
fn qemu_f068d320de_tsch_stores_64_bytes() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    m.mem.store(IRB, &[0xaa; 96]).unwrap();
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    assert_eq!(m.css.tsch(&m.ctx(), gr1(0), IRB), Ok(Cc::Zero));
    assert_eq!(m.mem.fetch(IRB + 64, 32).unwrap(), vec![0xaa; 32]);
    assert_ne!(m.mem.fetch(IRB + 60, 4).unwrap(), vec![0xaa; 4]);
}

#[test]
fn qemu_8312976e73_concurrent_sense_fills_ecw_and_scnt() {
    let m = Machine::new(1);
    let mut s = m.stsch(gr1(0));
    s.pmcw.flags = s.pmcw.flags.with_enabled(true).with_isc(3);
    s.pmcw.chars = s.pmcw.chars.with_csense(true);
    assert_eq!(m.msch(gr1(0), &s), Ok(Cc::Zero));
    let sense: Vec<u8> = (1..=32).collect();
    m.ctl[0].set_reply(0x03, MockReply::UnitCheck(Sense::from_slice(&sense)));
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    let (_, irb) = m.tsch(gr1(0));
    assert!(irb.scsw.dstat.unit_check());
    assert!(irb.scsw.ctrl.extended_control());
    assert!(irb.scsw.ctrl.esw_format());
    assert!(irb.scsw.ctrl.stctl().alert());
    assert!(irb.esw.erw.concurrent_sense());
    assert_eq!(irb.esw.erw.sense_count(), 32);
    assert_eq!(irb.ecw.to_vec(), sense, "every byte, none shifted");
    // Without S the sense stays with the device for BASIC SENSE.
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    m.ctl[0].set_reply(0x03, MockReply::UnitCheck(Sense::from_slice(&sense)));
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    let (_, irb) = m.tsch(gr1(0));
    assert!(!irb.scsw.ctrl.extended_control());
    assert!(!irb.esw.erw.concurrent_sense());
    assert_eq!(m.start(gr1(0), 2, 0x04, 0, 32), Ok(Cc::Zero));
    assert_eq!(m.tsch(gr1(0)).0, Ok(Cc::Zero));
    assert_eq!(m.mem.fetch(DATA, 32).unwrap(), sense);
}

#[test]
fn qemu_38dd7cc776_stsch_highest_schid_honours_m() {
    let cfg = CssConfig {
        mcss: true,
        ..CssConfig::default()
    };
    let m = Machine::with_config(2, cfg);
    let ctx = m.ctx();
    // M = 1, cssid 0xfe: the same image as M = 0.
    let m1 = |schno: u32| 0xfe09_0000 | schno;
    assert_eq!(m.css.stsch(&ctx, m1(1), SCHIB), Ok(Cc::Zero));
    assert_eq!(m.css.stsch(&ctx, m1(2), SCHIB), Ok(Cc::Three));
    assert_eq!(m.css.stsch(&ctx, gr1(1), SCHIB), Ok(Cc::Zero));
    assert_eq!(m.css.stsch(&ctx, gr1(2), SCHIB), Ok(Cc::Three));
    // M = 1, cssid 0: an image with no subchannels.
    assert_eq!(m.css.stsch(&ctx, 0x0009_0000, SCHIB), Ok(Cc::Three));
}

#[test]
fn qemu_6e9c893ecd_attention_on_disabled_subchannel_is_dropped() {
    let m = Machine::new(1);
    assert!(!m.ctl[0].attention(), "disabled: not accepted");
    m.enable(gr1(0), 3);
    assert_eq!(
        m.start(gr1(0), 1, 0x03, 0x20, 0),
        Ok(Cc::Zero),
        "no spurious status pending"
    );
    assert_eq!(m.tsch(gr1(0)).0, Ok(Cc::Zero));
    assert!(m.ctl[0].attention(), "enabled and idle: accepted");
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    assert_eq!(irb.scsw.ctrl.stctl(), StatusControl::ALERT | StatusControl::PEND);
    assert!(irb.scsw.dstat.attention());
}

#[test]
fn qemu_22f2da06a8_scpd_full_range_fits_the_area() {
    let m = Machine::new(1);
    // SCPD, C (format 1), first 0, last 0xff.
    m.chsc_request(16, 0x0002, &[0x10, 0, 0, 0x00, 0, 0, 0, 0xff]);
    assert_eq!(m.css.chsc(&m.ctx(), CHSC_BLOCK), Ok(Cc::Zero));
    let h = m.mem.fetch(CHSC_BLOCK + 16, 8).unwrap();
    let l2 = u64::from(u16::from_be_bytes([h[0], h[1]]));
    assert_eq!(u16::from_be_bytes([h[2], h[3]]), 1);
    assert!(16 + l2 <= 4096);
    assert_eq!(l2, 8 + 32, "one installed path, one 32-byte descriptor");
}

#[test]
fn qemu_386268daea_sei_bad_length_or_format_is_request_error() {
    let m = Machine::new(1);
    m.chsc_request(24, 0x000e, &[]);
    assert_eq!(m.css.chsc(&m.ctx(), CHSC_BLOCK), Ok(Cc::Zero));
    let h = m.mem.fetch(CHSC_BLOCK + 24, 4).unwrap();
    assert_eq!(u16::from_be_bytes([h[2], h[3]]), 3);
    m.chsc_request(16, 0x000e, &[0, 0, 0, 1]);
    assert_eq!(m.css.chsc(&m.ctx(), CHSC_BLOCK), Ok(Cc::Zero));
    let h = m.mem.fetch(CHSC_BLOCK + 16, 4).unwrap();
    assert_eq!(u16::from_be_bytes([h[2], h[3]]), 3);
    m.chsc_request(16, 0x000e, &[]);
    assert_eq!(m.css.chsc(&m.ctx(), CHSC_BLOCK), Ok(Cc::Zero));
    let h = m.mem.fetch(CHSC_BLOCK + 16, 4).unwrap();
    assert_eq!(u16::from_be_bytes([h[2], h[3]]), 5, "no event");
}

#[test]
fn qemu_882b3b9769_cssid_255_is_reserved() {
    let cfg = CssConfig {
        mcss: true,
        mss: true,
        ..CssConfig::default()
    };
    let m = Machine::with_config(1, cfg);
    let ctx = m.ctx();
    assert_eq!(
        m.css.stsch(&ctx, 0xffff_ffff, SCHIB),
        Err(ProgramCheck::Operand),
        "bits 8-11"
    );
    assert_eq!(m.css.stsch(&ctx, 0xff0f_ffff, SCHIB), Ok(Cc::Three));
    assert_eq!(m.css.tsch(&ctx, 0xff0f_ffff, IRB), Ok(Cc::Three));
    assert_eq!(m.css.ssch(&ctx, 0xff0f_ffff, ORB), Ok(Cc::Three));
    let dev = Box::new(zcss_css::mock::MockDevice::new(0x3832, 1));
    let reserved = SubchannelId {
        cssid: 0xff,
        ssid: 0,
        schno: 0,
    };
    assert!(m.css.attach_cold(reserved, 5, dev).is_err());
}

#[test]
fn qemu_c81b4f896f_only_one_css_event_crw_pending() {
    let mut q = CrwQueue::new();
    assert_eq!(q.push_css_event(0), zcss_css::crw_queue::Queued::Yes);
    assert_eq!(q.push_css_event(0), zcss_css::crw_queue::Queued::AlreadyPending);
    assert_eq!(q.len(), 1);
    // SEI with no event drains, then a new report may be queued.
    let m = Machine::new(1);
    m.chsc_request(16, 0x000e, &[]);
    assert_eq!(m.css.chsc(&m.ctx(), CHSC_BLOCK), Ok(Cc::Zero));
    q.css_events_drained();
    assert_eq!(q.push_css_event(0), zcss_css::crw_queue::Queued::Yes);
}

#[test]
fn qemu_5c8d6f008c_rchp_crw_is_solicited() {
    for mcss in [false, true] {
        let m = Machine::with_config(
            1,
            CssConfig {
                mcss,
                ..CssConfig::default()
            },
        );
        let ctx = m.ctx();
        let gr1 = if mcss { 0x00fe_0000 } else { 0 };
        assert_eq!(m.css.rchp(&ctx, gr1), Ok(Cc::Zero));
        assert_eq!(m.css.rchp(&ctx, gr1 | 0x42), Ok(Cc::Three), "not installed");
        assert_eq!(m.css.rchp(&ctx, 0x0100_0000), Err(ProgramCheck::Operand));
        assert_eq!(m.css.stcrw(&ctx, SCRATCH), Ok(Cc::Zero));
        let crw = Crw::from_be_bytes(m.mem.fetch(SCRATCH, 4).unwrap().try_into().unwrap());
        assert!(crw.solicited());
        assert_eq!((crw.rsc(), crw.erc(), crw.rsid()), (4, 2, 0));
        assert_eq!(crw.chaining(), mcss);
        if mcss {
            assert_eq!(m.css.stcrw(&ctx, SCRATCH), Ok(Cc::Zero));
            let c2 = Crw::from_be_bytes(m.mem.fetch(SCRATCH, 4).unwrap().try_into().unwrap());
            assert_eq!(c2.rsid(), 0xfe00);
        }
        assert_eq!(m.css.stcrw(&ctx, SCRATCH), Ok(Cc::One));
    }
}

#[test]
fn qemu_c1755b14fa_unplug_withdraws_queued_interruption() {
    let m = Machine::new(2);
    m.enable(gr1(1), 3);
    assert_eq!(m.start(gr1(1), 9, 0x03, 0x20, 0), Ok(Cc::Zero));
    assert_ne!(m.css.pending_iscs(), 0);
    m.css.detach(sid(1)).unwrap();
    assert_eq!(m.css.pending_iscs(), 0);
    assert_eq!(m.css.next_interrupt(0xff), None);
    m.css.check_invariants().unwrap();
    // The unplug is reported: subchannel CRW, installed parameters initialized.
    let ctx = m.ctx();
    assert!(m.css.take_crw_machine_check());
    assert_eq!(m.css.stcrw(&ctx, SCRATCH), Ok(Cc::Zero));
    let crw = Crw::from_be_bytes(m.mem.fetch(SCRATCH, 4).unwrap().try_into().unwrap());
    assert_eq!((crw.rsc(), crw.erc(), crw.rsid()), (3, 4, 1));
    assert_eq!(m.css.stsch(&ctx, gr1(1), SCHIB), Ok(Cc::Three), "no longer provided");
    // Replug: a fresh subchannel, nothing stale.
    m.css
        .attach(sid(1), 1, Box::new(zcss_css::mock::MockDevice::new(0x3832, 1)))
        .unwrap();
    assert_eq!(m.css.stcrw(&ctx, SCRATCH), Ok(Cc::Zero));
    assert_eq!(m.css.tsch(&ctx, gr1(1), IRB), Ok(Cc::Three), "not enabled yet");
    m.css.check_invariants().unwrap();
}

/// Waits for a passthrough report and applies it.
fn await_report(m: &Machine, rx: &crossbeam_channel::Receiver<zcss_css::Wake>) {
    loop {
        let w = rx.recv_timeout(Duration::from_secs(5)).expect("a passthrough report");
        if w == zcss_css::Wake::Completion {
            break;
        }
    }
    m.css.poll();
}

#[test]
fn qemu_unfixed_passthrough_halt_and_clear_interrupt() {
    // QEMU falls back to completing halt and clear itself without an
    // interruption; zcss forwards them to the host and presents the host's
    // halt or clear status when it arrives.
    let (m, script) = passthrough_machine();
    let (tx, rx) = crossbeam_channel::unbounded();
    m.css.set_waker_channel(tx);
    script.lock().delay = Duration::from_millis(300);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0, 0), Ok(Cc::Zero));
    let ctx = m.ctx();
    assert_eq!(m.css.hsch(&ctx, gr1(0)), Ok(Cc::Zero));
    let s = m.stsch(gr1(0)).scsw;
    assert!(s.ctrl.actl().halt_pending(), "halt pending until the host reports");
    assert_eq!(m.css.next_interrupt(0xff), None, "nothing before the host's status");
    await_report(&m, &rx);
    let code = m.css.next_interrupt(0xff).expect("halt interrupts");
    assert_eq!(code.intparm, 1);
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    assert_eq!(irb.scsw.ctrl.fctl(), FunctionControl::START | FunctionControl::HALT);
    assert_eq!(irb.scsw.dstat, DeviceStatus::new().with_device_end(true));
    // The halted program reports nothing more.
    std::thread::sleep(Duration::from_millis(400));
    m.css.poll();
    assert_eq!(m.css.next_interrupt(0xff), None);
    assert_eq!(m.css.tsch(&ctx, gr1(0), IRB), Ok(Cc::One));
    // A completed program on a passthrough device interrupts after poll.
    script.lock().delay = Duration::ZERO;
    assert_eq!(m.start(gr1(0), 2, 0x03, 0, 0), Ok(Cc::Zero));
    await_report(&m, &rx);
    let code = m.css.next_interrupt(0xff).expect("completion interrupts");
    assert_eq!(code.intparm, 2);
    let (_, irb) = m.tsch(gr1(0));
    assert_eq!(irb.scsw.dstat, DeviceStatus::CE_DE);
    assert_eq!(irb.scsw.cpa, CCW32 + 8);
    // Clear overtakes too: the host's clear status, and nothing of the
    // cleared program.
    script.lock().delay = Duration::from_millis(300);
    assert_eq!(m.start(gr1(0), 3, 0x03, 0, 0), Ok(Cc::Zero));
    assert_eq!(m.css.csch(&ctx, gr1(0)), Ok(Cc::Zero));
    await_report(&m, &rx);
    assert!(m.css.next_interrupt(0xff).is_some());
    assert_eq!(m.tsch(gr1(0)).1.scsw.ctrl.fctl(), FunctionControl::CLEAR);
    std::thread::sleep(Duration::from_millis(400));
    m.css.poll();
    assert_eq!(m.css.next_interrupt(0xff), None);
    m.css.check_invariants().unwrap();
}

#[test]
fn qemu_unfixed_xsch_on_running_passthrough_is_cc2() {
    let (m, script) = passthrough_machine();
    script.lock().delay = Duration::from_millis(200);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0, 0), Ok(Cc::Zero));
    assert_eq!(m.css.xsch(&IoCtx::new(&m.mem), gr1(0)), Ok(Cc::Two));
}
