//! Instruction behaviour beyond the kvm-unit-tests and QEMU lists:
//! interruption priority, deferred condition codes, initial status,
//! suspend and resume, unsolicited status, hot plug and its channel reports,
//! subchannel-set and css-image visibility, adapter interruptions, access
//! exceptions, the observer, the waker and the intercept dispatch.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use zcss_ccw::crw::Crw;
use zcss_ccw::memory::{AccessKey, StorageKey, VecMemory};
use zcss_ccw::scsw::{ActivityControl, FunctionControl, StatusControl};
use zcss_ccw::status::DeviceStatus;
use zcss_css::intercept::{AddressingMode, InstructionText, IoInstruction};
use zcss_css::mock::{MockDevice, MockReply};
use zcss_css::{
    Cc, CssConfig, Insn, IoCtx, Observer, Outcome, ProgramCheck, StorageAccess, SubchannelId, Wake, DIAG500_EINVAL,
};

#[test]
fn tpi_presents_isc0_first_and_fifo_within_isc() {
    let m = Machine::new(4);
    m.enable(gr1(0), 5);
    m.enable(gr1(1), 2);
    m.enable(gr1(2), 5);
    m.enable(gr1(3), 2);
    for s in [0u16, 1, 2, 3] {
        assert_eq!(m.start(gr1(s), u32::from(s) + 100, 0x03, 0x20, 0), Ok(Cc::Zero));
    }
    let ctx = m.ctx();
    let mut order = Vec::new();
    while m.css.tpi(&ctx, SCRATCH, 0xff) == Ok(Cc::One) {
        let b = m.mem.fetch(SCRATCH, 8).unwrap();
        order.push(u32::from_be_bytes(b[4..8].try_into().unwrap()));
    }
    assert_eq!(order, vec![101, 103, 100, 102]);
    assert_eq!(m.css.tpi(&ctx, SCRATCH, 0xff), Ok(Cc::Zero));
    // Status stays pending after TPI until TSCH.
    assert_eq!(m.tsch(gr1(0)).0, Ok(Cc::Zero));
}

#[test]
fn tpi_respects_isc_mask_and_checks_alignment_first() {
    let m = Machine::new(1);
    m.enable(gr1(0), 6);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    let ctx = m.ctx();
    assert_eq!(m.css.tpi(&ctx, SCRATCH, 0xfd), Ok(Cc::Zero), "ISC 6 masked");
    assert_eq!(m.css.tpi(&ctx, SCRATCH + 2, 0x02), Err(ProgramCheck::Specification));
    assert_eq!(m.css.tpi(&ctx, 1 << 40, 0x02), Err(ProgramCheck::Addressing));
    assert_eq!(m.css.pending_iscs(), 0x02, "a failed store loses nothing");
    assert_eq!(m.css.tpi(&ctx, SCRATCH, 0x02), Ok(Cc::One));
}

#[test]
fn no_path_in_lpm_gives_deferred_cc3() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    m.ccw1(CCW, 0x03, 0x20, 0, 0);
    m.orb(1, Machine::fmt1().with_lpm(0x40), CCW32);
    assert_eq!(m.css.ssch(&m.ctx(), gr1(0), ORB), Ok(Cc::Zero));
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    assert_eq!(irb.scsw.ctrl.cc(), 3);
    assert_eq!(irb.scsw.ctrl.fctl(), FunctionControl::START);
    assert!(irb.scsw.ctrl.stctl().alert());
    assert!(m.ctl[0].commands().is_empty(), "the device was never selected");
}

#[test]
fn device_busy_at_initial_selection_gives_deferred_cc1() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    m.ctl[0].set_reply(0x03, MockReply::Busy);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    let (_, irb) = m.tsch(gr1(0));
    assert_eq!(irb.scsw.ctrl.cc(), 1);
    assert!(irb.scsw.dstat.busy());
}

#[test]
fn initial_status_request_sets_z_with_the_final_status() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    m.ccw1(CCW, 0x03, 0x20, 0, 0);
    m.orb(1, Machine::fmt1().with_initial_status(true), CCW32);
    assert_eq!(m.css.ssch(&m.ctx(), gr1(0), ORB), Ok(Cc::Zero));
    assert!(m.css.next_interrupt(0xff).is_some());
    assert_eq!(m.css.next_interrupt(0xff), None, "one interruption");
    let (_, irb) = m.tsch(gr1(0));
    assert!(irb.scsw.ctrl.zero_cc());
    assert!(irb.scsw.ctrl.stctl().intermediate());
    assert!(irb.scsw.ctrl.stctl().primary());
}

#[test]
fn suspend_then_resume_runs_the_rest_of_the_program() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    m.ccw1(CCW, 0x03, 0x20 | 0x40, 0, 0); // NOP, CC
    m.ccw1(CCW + 8, 0x13, 0x20 | 0x02, 0, 0); // control 0x13, suspend
    m.orb(1, Machine::fmt1().with_suspend(true), CCW32);
    let ctx = m.ctx();
    assert_eq!(m.css.ssch(&ctx, gr1(0), ORB), Ok(Cc::Zero));
    assert_eq!(m.ctl[0].commands(), vec![0x03]);
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    assert_eq!(irb.scsw.ctrl.stctl(), StatusControl::INTER | StatusControl::PEND);
    assert_eq!(irb.scsw.ctrl.actl(), ActivityControl::SUSP);
    assert_eq!(irb.scsw.cpa, CCW32 + 16);
    // The program clears the S flag, then resumes.
    m.ccw1(CCW + 8, 0x13, 0x20, 0, 0);
    assert_eq!(m.css.rsch(&ctx, gr1(0)), Ok(Cc::Zero));
    assert_eq!(m.ctl[0].commands(), vec![0x03, 0x13]);
    let (_, irb) = m.tsch(gr1(0));
    assert_eq!(irb.scsw.ctrl.stctl(), StatusControl::PRIM_SEC_PEND);
    assert_eq!(irb.scsw.ctrl.fctl(), FunctionControl::START);
    assert_eq!(m.css.rsch(&ctx, gr1(0)), Ok(Cc::Two), "nothing suspended");
}

#[test]
fn suspend_with_u_makes_no_interruption() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    m.ccw1(CCW, 0x03, 0x20 | 0x02, 0, 0);
    m.orb(
        1,
        Machine::fmt1().with_suspend(true).with_suppress_suspended(true),
        CCW32,
    );
    assert_eq!(m.css.ssch(&m.ctx(), gr1(0), ORB), Ok(Cc::Zero));
    assert_eq!(m.css.next_interrupt(0xff), None);
    assert_eq!(m.tsch(gr1(0)).0, Ok(Cc::One));
    // Resume without S in the ORB is refused.
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    m.ccw1(CCW, 0x03, 0x20 | 0x02, 0, 0);
    m.orb(1, Machine::fmt1(), CCW32);
    assert_eq!(m.css.ssch(&m.ctx(), gr1(0), ORB), Ok(Cc::Zero));
    let (_, irb) = m.tsch(gr1(0));
    assert!(irb.scsw.cstat.program_check(), "suspend flag without ORB S");
}

#[test]
fn unsolicited_status_is_refused_while_status_pending_or_running() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    assert!(m.ctl[0].attention());
    assert!(!m.ctl[0].attention(), "already status pending");
    assert_eq!(m.tsch(gr1(0)).0, Ok(Cc::Zero));
    assert!(m.ctl[0].unsolicited(DeviceStatus::CE_DE));
    let (_, irb) = m.tsch(gr1(0));
    assert_eq!(irb.scsw.dstat, DeviceStatus::CE_DE);
    assert_eq!(irb.scsw.ctrl.fctl(), FunctionControl::new());
    m.css.check_invariants().unwrap();
}

#[test]
fn hot_plug_reports_chained_crw_with_mss() {
    let m = Machine::with_config(
        0,
        CssConfig {
            mss: true,
            ..CssConfig::default()
        },
    );
    let s = SubchannelId {
        cssid: 0xfe,
        ssid: 1,
        schno: 5,
    };
    m.css.attach(s, 0x4444, Box::new(MockDevice::new(0x3832, 1))).unwrap();
    let ctx = m.ctx();
    assert!(m.css.take_crw_machine_check());
    assert_eq!(m.css.stcrw(&ctx, SCRATCH), Ok(Cc::Zero));
    let c1 = Crw::from_be_bytes(m.mem.fetch(SCRATCH, 4).unwrap().try_into().unwrap());
    assert_eq!((c1.rsc(), c1.erc(), c1.rsid(), c1.chaining()), (3, 4, 5, true));
    assert_eq!(m.css.stcrw(&ctx, SCRATCH), Ok(Cc::Zero));
    let c2 = Crw::from_be_bytes(m.mem.fetch(SCRATCH, 4).unwrap().try_into().unwrap());
    assert_eq!(c2.rsid(), 1 << 4, "css 0 (MCSS-E off), set 1");
    assert_eq!(m.css.stcrw(&ctx, SCRATCH), Ok(Cc::One));
    // Cold plug reports nothing; an invisible set reports nothing.
    let m = Machine::new(1);
    assert_eq!(m.css.pending_crws(), 0);
    m.css.attach(s, 1, Box::new(MockDevice::new(0x3832, 1))).unwrap();
    assert_eq!(m.css.pending_crws(), 0, "set 1 invisible without MSS");
}

#[test]
fn subchannel_sets_and_images_are_invisible_until_enabled_by_chsc_sda() {
    let m = Machine::new(0);
    let s1 = SubchannelId {
        cssid: 0xfe,
        ssid: 1,
        schno: 0,
    };
    let other = SubchannelId {
        cssid: 3,
        ssid: 0,
        schno: 0,
    };
    m.css.attach_cold(s1, 0, Box::new(MockDevice::new(0x3832, 1))).unwrap();
    m.css
        .attach_cold(other, 0, Box::new(MockDevice::new(0x3832, 1)))
        .unwrap();
    let ctx = m.ctx();
    assert_eq!(
        m.css.stsch(&ctx, 0x0003_0000, SCHIB),
        Ok(Cc::Three),
        "set 1 without MSS"
    );
    assert_eq!(m.css.stsch(&ctx, 0x0308_0000 | 0x0001_0000, SCHIB), Ok(Cc::Three));
    // CHSC SDA: operation code 2 enables MSS, 0 enables MCSS-E.
    for op in [2u8, 0] {
        let mut req = [0u8; 0x400];
        req[0..4].copy_from_slice(&[0x04, 0x00, 0x00, 0x31]);
        req[7] = op;
        m.mem.store(CHSC_BLOCK, &req).unwrap();
        assert_eq!(m.css.chsc(&ctx, CHSC_BLOCK), Ok(Cc::Zero));
        let h = m.mem.fetch(CHSC_BLOCK + 0x400, 4).unwrap();
        assert_eq!(u16::from_be_bytes([h[2], h[3]]), 1, "SDA op {op}");
    }
    assert!(m.css.mss_enabled() && m.css.mcss_enabled());
    assert_eq!(m.css.stsch(&ctx, 0x0003_0000, SCHIB), Ok(Cc::Zero));
    assert_eq!(m.css.stsch(&ctx, 0x0309_0000, SCHIB), Ok(Cc::Zero));
    // M = 0 with a CSSID is still an operand exception.
    assert_eq!(m.css.stsch(&ctx, 0x0301_0000, SCHIB), Err(ProgramCheck::Operand));
}

#[test]
fn interruption_code_shows_cssid_only_with_mcss() {
    let cfg = CssConfig {
        mcss: true,
        ..CssConfig::default()
    };
    let m = Machine::with_config(1, cfg);
    m.enable(gr1(0), 3);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    assert_eq!(m.css.next_interrupt(0xff).unwrap().sid, 0xfe09_0000);
}

#[test]
fn adapter_interruptions_follow_sic_ais_modes() {
    let m = Machine::new(1);
    let ctx = m.ctx();
    m.ctl[0].adapter_interrupt(3);
    m.ctl[0].adapter_interrupt(3);
    let code = m.css.next_interrupt(0xff).unwrap();
    assert_eq!(
        (code.sid, code.intparm, code.iiw.into_bits()),
        (0, 0, 0x8000_0000 | 3 << 27)
    );
    assert_eq!(m.css.next_interrupt(0xff), None, "coalesced per ISC");
    // Single-interruption mode: one, then suppressed until the next SIC.
    assert_eq!(m.css.sic(&ctx, 1, 3 << 27), Ok(()));
    m.ctl[0].adapter_interrupt(3);
    assert!(m.css.next_interrupt(0xff).is_some());
    m.ctl[0].adapter_interrupt(3);
    assert_eq!(m.css.next_interrupt(0xff), None);
    assert_eq!(m.css.sic(&ctx, 2, 0), Err(ProgramCheck::Operand));
    assert_eq!(m.css.sic(&ctx, 0, 3 << 27), Ok(()));
    m.ctl[0].adapter_interrupt(3);
    assert!(m.css.next_interrupt(0x10).is_some());
}

#[test]
fn io_interruption_precedes_adapter_interruption_of_the_same_isc() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    m.css.adapter_interrupt(3);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    assert_eq!(m.css.next_interrupt(0xff).unwrap().sid, gr1(0));
    assert!(m.css.next_interrupt(0xff).unwrap().iiw.adapter());
}

#[test]
fn every_instruction_is_privileged() {
    let m = Machine::new(1);
    let mem = &m.mem;
    let p = IoCtx::new(mem).with_problem_state(true);
    let pgm = Err(ProgramCheck::PrivilegedOperation);
    assert_eq!(m.css.ssch(&p, gr1(0), ORB), pgm);
    assert_eq!(m.css.tsch(&p, gr1(0), IRB), pgm);
    assert_eq!(m.css.stsch(&p, gr1(0), SCHIB), pgm);
    assert_eq!(m.css.msch(&p, gr1(0), SCHIB), pgm);
    assert_eq!(m.css.csch(&p, gr1(0)), pgm);
    assert_eq!(m.css.hsch(&p, gr1(0)), pgm);
    assert_eq!(m.css.xsch(&p, gr1(0)), pgm);
    assert_eq!(m.css.rsch(&p, gr1(0)), pgm);
    assert_eq!(m.css.tpi(&p, 0, 0xff), pgm);
    assert_eq!(m.css.stcrw(&p, SCRATCH), pgm);
    assert_eq!(m.css.rchp(&p, 0), pgm);
    assert_eq!(m.css.chsc(&p, CHSC_BLOCK), pgm);
    assert_eq!(m.css.sal(&p, 0), Err(ProgramCheck::PrivilegedOperation));
    assert_eq!(m.css.schm(&p, 0, 0), Err(ProgramCheck::PrivilegedOperation));
    assert_eq!(m.css.sic(&p, 0, 0), Err(ProgramCheck::PrivilegedOperation));
}

#[test]
fn operand_access_exceptions_are_reported_and_change_nothing() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    let ctx = m.ctx();
    let beyond = 1u64 << 20;
    assert_eq!(m.css.ssch(&ctx, gr1(0), beyond), Err(ProgramCheck::Addressing));
    assert_eq!(m.css.msch(&ctx, gr1(0), beyond - 4), Err(ProgramCheck::Addressing));
    assert_eq!(m.css.stsch(&ctx, gr1(0), beyond - 48), Err(ProgramCheck::Addressing));
    // STSCH: the access check comes before the GR1 check.
    assert_eq!(m.css.stsch(&ctx, 0, beyond), Err(ProgramCheck::Addressing));
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    assert_eq!(m.css.tsch(&ctx, gr1(0), beyond - 60), Err(ProgramCheck::Addressing));
    // Protection: status stays pending.
    let keyed = VecMemory::with_storage_keys(1 << 20);
    keyed.set_storage_key(IRB, StorageKey::new(4, false));
    let kctx = IoCtx::new(&keyed).with_key(AccessKey::new(5));
    assert_eq!(m.css.tsch(&kctx, gr1(0), IRB), Err(ProgramCheck::Protection));
    assert_eq!(m.tsch(gr1(0)).0, Ok(Cc::Zero));
    assert_eq!(m.css.sal(&ctx, 0x8000_0000), Err(ProgramCheck::Operand));
    assert_eq!(m.css.sal(&ctx, 0x0000_0001), Err(ProgramCheck::Operand));
    assert_eq!(m.css.sal(&ctx, 0x1234_0000), Ok(()));
}

#[derive(Default)]
struct Recorder {
    log: Mutex<Vec<(Insn, Outcome, Vec<StorageAccess>)>>,
}

impl Observer for Recorder {
    fn instruction(&self, insn: &Insn, outcome: Outcome, accesses: &[StorageAccess]) {
        self.log.lock().unwrap().push((*insn, outcome, accesses.to_vec()));
    }
}

#[test]
fn observer_sees_operands_outcome_and_storage() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    let rec = Arc::new(Recorder::default());
    m.css.set_observer(Some(rec.clone()));
    assert_eq!(m.start(gr1(0), 1, 0xe4, 0x20, 256), Ok(Cc::Zero));
    assert_eq!(m.css.tsch(&m.ctx(), 0, IRB), Err(ProgramCheck::Operand));
    m.css.set_observer(None);
    assert_eq!(m.tsch(gr1(0)).0, Ok(Cc::Zero));
    let log = rec.log.lock().unwrap();
    assert_eq!(log.len(), 2);
    let (insn, outcome, acc) = &log[0];
    assert_eq!(
        *insn,
        Insn::Ssch {
            gr1: gr1(0),
            orb_addr: ORB
        }
    );
    assert_eq!(*outcome, Outcome::Cc(Cc::Zero));
    assert!(
        acc.iter().any(|a| !a.store && a.addr == ORB && a.data.len() == 12),
        "ORB fetch"
    );
    assert!(acc.iter().any(|a| !a.store && a.addr == CCW), "CCW fetch");
    assert!(
        acc.iter().any(|a| a.store && a.addr == DATA && a.data[0] == 0xff),
        "SENSE ID data"
    );
    assert_eq!(log[1].1, Outcome::Program(ProgramCheck::Operand));
}

#[test]
fn waker_is_called_for_io_adapter_and_channel_report() {
    let m = Machine::new(1);
    m.enable(gr1(0), 4);
    let (tx, rx) = crossbeam_channel::unbounded();
    m.css.set_waker_channel(tx);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    assert_eq!(rx.try_recv(), Ok(Wake::Io { isc: 4 }));
    m.css.adapter_interrupt(6);
    assert_eq!(rx.try_recv(), Ok(Wake::Adapter { isc: 6 }));
    m.css.detach(sid(0)).unwrap();
    assert_eq!(rx.try_recv(), Ok(Wake::ChannelReport));
    assert!(rx.try_recv().is_err());
}

fn s_text(op: u16, b2: u8, d2: u16) -> InstructionText {
    InstructionText::from_ipa_ipb(op, (u32::from(b2) << 28) | (u32::from(d2) << 16))
}

#[test]
fn execute_dispatches_intercepted_instructions() {
    let m = Machine::new(1);
    let ctx = m.ctx();
    let mut regs = [0u64; 16];
    regs[1] = u64::from(gr1(0));
    regs[5] = SCHIB;
    let stsch = IoInstruction::decode(s_text(0xb234, 5, 0), &regs, AddressingMode::Bits64).unwrap();
    assert_eq!(
        stsch,
        IoInstruction::Stsch {
            sid_word: gr1(0),
            schib_addr: SCHIB
        }
    );
    let r = m.css.execute(&ctx, &stsch, 0xff);
    assert_eq!(r.outcome, Outcome::Cc(Cc::Zero));
    assert_eq!(m.mem.fetch(SCHIB + 6, 2).unwrap(), [0, 0], "devno 0");
    regs[1] = 0;
    let tsch = IoInstruction::decode(s_text(0xb235, 5, 0), &regs, AddressingMode::Bits64).unwrap();
    assert_eq!(
        m.css.execute(&ctx, &tsch, 0xff).outcome,
        Outcome::Program(ProgramCheck::Operand)
    );
    let d = IoInstruction::Diag500 {
        subcode: 3,
        gr2: u64::from(gr1(0)),
        gr3: 0,
        gr4: 0,
    };
    let r = m.css.execute(&ctx, &d, 0xff);
    assert_eq!(
        r.gr2,
        Some(zcss_css::gr_bits(DIAG500_EINVAL)),
        "the mock takes no notifications"
    );
    m.ctl[0].set_notify_result(Some(77));
    let d = IoInstruction::Diag500 {
        subcode: 3,
        gr2: u64::from(gr1(0)),
        gr3: 2,
        gr4: 5,
    };
    assert_eq!(m.css.execute(&ctx, &d, 0xff).gr2, Some(77));
    assert_eq!(m.ctl[0].with_state(|s| s.notified.clone()), vec![(2, 5)]);
    let bad_sid = IoInstruction::Diag500 {
        subcode: 3,
        gr2: 0x0001_0009,
        gr3: 0,
        gr4: 0,
    };
    assert_eq!(
        m.css.execute(&ctx, &bad_sid, 0xff).gr2,
        Some(zcss_css::gr_bits(DIAG500_EINVAL))
    );
    let d = IoInstruction::Diag500 {
        subcode: 9,
        gr2: 0,
        gr3: 0,
        gr4: 0,
    };
    assert_eq!(
        m.css.execute(&ctx, &d, 0xff).outcome,
        Outcome::Program(ProgramCheck::Specification)
    );
}

#[test]
fn attach_rejects_duplicates_and_auto_places() {
    let m = Machine::new(1);
    let dev = || Box::new(MockDevice::new(0x3832, 1));
    assert!(m.css.attach_cold(sid(0), 9, dev()).is_err(), "subchannel in use");
    assert!(m.css.attach_cold(sid(1), 0, dev()).is_err(), "devno in use");
    let placed = m.css.attach_auto(None, dev()).unwrap();
    assert_eq!(placed, sid(1));
    assert!(m.css.has_device(sid(1)));
    assert_eq!(m.css.schib(sid(1)).map(|s| s.pmcw.flags.devno()), Some(1));
    assert_eq!(m.css.schib(sid(2)), None);
    assert!(m.css.detach(sid(7)).is_err());
}

#[test]
fn reset_returns_subchannels_to_initial_state_and_drops_pending_work() {
    let m = Machine::new(2);
    m.enable(gr1(0), 3);
    m.enable(gr1(1), 4);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    m.css.adapter_interrupt(2);
    assert_eq!(m.css.rchp(&m.ctx(), 0), Ok(Cc::Zero));
    m.css.enable_mss();
    m.css.reset();
    assert_eq!(m.css.pending_iscs(), 0);
    assert_eq!(m.css.pending_crws(), 0);
    assert!(!m.css.mss_enabled());
    let s = m.stsch(gr1(0));
    assert!(!s.pmcw.flags.enabled());
    assert!(s.pmcw.flags.dnv());
    assert_eq!(s.scsw.ctrl.stctl(), StatusControl::new());
    assert_eq!(
        m.ctl[0].with_state(|st| (st.system_resets, st.resets)),
        (1, 0),
        "the I/O-system reset hook, not the clear hook"
    );
    m.css.check_invariants().unwrap();
}

#[test]
fn devices_hang_on_the_paths_they_describe() {
    let m = Machine::new(2);
    let pt = zcss_css::mock::MockPassthrough::new(0x3990);
    m.css.attach_passthrough(sid(2), 2, Box::new(pt), false).unwrap();
    assert_eq!(m.css.schib(sid(0)).unwrap().pmcw.chpid[0], 0);
    assert_eq!(m.css.schib(sid(1)).unwrap().pmcw.chpid[0], 0, "same type, same path");
    assert_eq!(m.css.schib(sid(2)).unwrap().pmcw.chpid[0], 1);
    let ctx = m.ctx();
    assert_eq!(m.css.rchp(&ctx, 1), Ok(Cc::Zero));
    assert_eq!(m.css.rchp(&ctx, 2), Ok(Cc::Three));
    // SCPD reports both paths with their types (format 0, CHPIDs 0..1).
    m.chsc_request(16, 0x0002, &[0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(m.css.chsc(&ctx, CHSC_BLOCK), Ok(Cc::Zero));
    let d = m.mem.fetch(CHSC_BLOCK + 16 + 8, 16).unwrap();
    assert_eq!((d[2], d[3]), (0x32, 0));
    assert_eq!((d[8 + 2], d[8 + 3]), (zcss_css::chpid_type::FICON, 1));
}

#[test]
fn chpids_do_not_depend_on_attach_order() {
    let m = Machine::new(0);
    // The FICON device first: it still gets CHPID 0x01, virtio CHPID 0x00.
    let pt = zcss_css::mock::MockPassthrough::new(0x3990);
    m.css.attach_passthrough(sid(1), 1, Box::new(pt), false).unwrap();
    m.css
        .attach_cold(sid(0), 0, Box::new(zcss_css::mock::MockDevice::new(0x3832, 1)))
        .unwrap();
    assert_eq!(m.css.schib(sid(1)).unwrap().pmcw.chpid[0], 1);
    assert_eq!(m.css.schib(sid(0)).unwrap().pmcw.chpid[0], 0);
    assert_eq!(m.css.channel_path_type(0xfe, 0), Some(0x32));
    assert_eq!(m.css.channel_path_type(0xfe, 1), Some(zcss_css::chpid_type::FICON));
}

#[test]
fn attach_on_chpid_of_another_type_is_refused() {
    let m = Machine::new(1);
    let mut info = zcss_css::DeviceInfo::virtual_device(0x3990, 0);
    info.paths = zcss_css::ChannelPaths::single(0x00, zcss_css::chpid_type::FICON);
    let dev = zcss_css::mock::MockDevice::with_info(info);
    assert!(matches!(
        m.css.attach_cold(sid(1), 1, Box::new(dev)),
        Err(zcss_css::CssError::ChpidType {
            chpid: 0,
            installed: 0x32,
            ..
        })
    ));
    assert!(!m.css.has_device(sid(1)));
}

#[test]
fn set_paths_installs_several_paths_and_start_uses_the_first_usable() {
    let m = Machine::new(1);
    let paths = zcss_css::ChannelPaths::with_chpids(&[0x40, 0x41, 0x42], 0x32).unwrap();
    m.css.set_paths(sid(0), paths).unwrap();
    let s = m.stsch(gr1(0));
    assert_eq!((s.pmcw.pim, s.pmcw.pam, s.pmcw.pom), (0xe0, 0xe0, 0xff));
    assert_eq!(s.pmcw.chpid[..4], [0x40, 0x41, 0x42, 0]);
    m.enable(gr1(0), 3);
    // LPM 0x60: paths 0x40 and 0x20 allowed; the first usable is 0x40.
    assert_eq!(m.start_lpm(gr1(0), 0x60), Ok(Cc::Zero));
    assert_eq!(m.stsch(gr1(0)).pmcw.lpum, 0x40);
    assert_eq!(m.tsch(gr1(0)).0, Ok(Cc::Zero));
    assert_eq!(m.css.channel_path_type(0xfe, 0x42), Some(0x32));
}

#[test]
fn reset_resets_passthrough_devices_through_their_hook() {
    let m = Machine::new(1);
    let pt = zcss_css::mock::MockPassthrough::new(0x3990);
    let script = pt.script();
    m.css.attach_passthrough(sid(2), 2, Box::new(pt), false).unwrap();
    m.css.reset();
    let (system_resets, cleared) = {
        let s = script.lock();
        (s.system_resets, s.cleared.clone())
    };
    assert_eq!((system_resets, cleared), (1, vec![0]));
}
