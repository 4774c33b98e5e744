//! Unit tests of the engine: one per ending, each asserting the exact
//! SCSW-relevant outcome.

use std::sync::Arc;

use super::*;
use crate::ccw::{Ccw, CMD_TIC};
use crate::hooks::NoHooks;
use crate::memory::{StorageKey, VecMemory};
use crate::mock::flags::{CC, CD, IDA, MIDA, PCI, SKIP, SLI, SUSP};
use crate::mock::{ccw0, ccw1, Action, ScriptedDevice, Step};
use crate::orb::OrbControls;

const PROG: u32 = 0x1000;
const DATA: u32 = 0x2000;

const READ: u8 = 0x02;
const WRITE: u8 = 0x01;
const NOP: u8 = 0x03;
const SENSE: u8 = 0x04;

fn mem_with(ccws: &[[u8; 8]]) -> Arc<VecMemory> {
    let m = Arc::new(VecMemory::new(0x10000));
    for (i, c) in ccws.iter().enumerate() {
        m.store(u64::from(PROG) + 8 * i as u64, c).unwrap();
    }
    m
}

fn orb1() -> Orb {
    Orb {
        ctrl: OrbControls::new().with_format1(true),
        cpa: PROG,
        ..Orb::default()
    }
}

fn orb0() -> Orb {
    Orb {
        ctrl: OrbControls::new(),
        cpa: PROG,
        ..Orb::default()
    }
}

fn run(mem: &VecMemory, orb: &Orb, dev: &mut ScriptedDevice) -> Completion {
    Engine::default().start(mem, orb, 0x80, dev, &mut NoHooks)
}

fn done(cpa: u32, count: u16, dstat: u8, cstat: u8, ccws: u32) -> Completion {
    Completion {
        cpa,
        count,
        dstat: DeviceStatus::from_bits(dstat),
        cstat: SubchannelStatus::from_bits(cstat),
        ending: Ending::Completed,
        sense: None,
        ccws,
        check: None,
    }
}

fn checked(cause: CheckCause, cpa: u32, count: u16, dstat: u8, ccws: u32) -> Completion {
    Completion {
        cpa,
        count,
        dstat: DeviceStatus::from_bits(dstat),
        cstat: cause.status(),
        ending: Ending::Checked,
        sense: None,
        ccws,
        check: Some(cause),
    }
}

const CE_DE: u8 = 0x0c;
const IL: u8 = 0x40;

#[derive(Default)]
struct Recorder {
    pcis: Vec<u32>,
    stop_after_polls: Option<(u32, ProgramEnd)>,
    polls: u32,
}

impl EngineHooks for Recorder {
    fn pci(&mut self, cpa: u32) {
        self.pcis.push(cpa);
    }

    fn stop_requested(&mut self) -> Option<ProgramEnd> {
        self.polls += 1;
        self.stop_after_polls
            .and_then(|(n, how)| (self.polls >= n).then_some(how))
    }
}

// ---- normal endings ------------------------------------------------------

#[test]
fn read_single_ccw_ends_with_ce_de_and_cpa_plus_8() {
    let m = mem_with(&[ccw1(READ, 0, 4, DATA)]);
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Write(vec![1, 2, 3, 4])])]);
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(c, done(PROG + 8, 0, CE_DE, 0, 1));
    assert_eq!(m.fetch(u64::from(DATA), 4).unwrap(), vec![1, 2, 3, 4]);
    assert_eq!(dev.starts, 1);
    assert_eq!(dev.ends, vec![ProgramEnd::Completed]);
}

#[test]
fn command_chain_executes_every_ccw_and_ends_after_last() {
    let m = mem_with(&[
        ccw1(WRITE, CC, 2, DATA),
        ccw1(NOP, CC | SLI, 0, 0),
        ccw1(READ, 0, 2, DATA + 2),
    ]);
    m.store(u64::from(DATA), &[0xaa, 0xbb]).unwrap();
    let mut dev = ScriptedDevice::new(vec![
        Step::ok(vec![Action::Read(2)]),
        Step::ok(vec![]),
        Step::ok(vec![Action::Write(vec![7, 8])]),
    ]);
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(c, done(PROG + 24, 0, CE_DE, 0, 3));
    assert_eq!(dev.log[0].read, vec![0xaa, 0xbb]);
    assert_eq!(
        dev.log.iter().map(|e| e.ccw.cmd).collect::<Vec<_>>(),
        vec![WRITE, NOP, READ]
    );
    assert_eq!(m.fetch(u64::from(DATA) + 2, 2).unwrap(), vec![7, 8]);
}

#[test]
fn format0_program_uses_24bit_ccws() {
    let m = mem_with(&[ccw0(WRITE, CC, 1, DATA), ccw0(READ, 0, 1, DATA + 1)]);
    let mut dev = ScriptedDevice::new(vec![
        Step::ok(vec![Action::Read(1)]),
        Step::ok(vec![Action::Write(vec![5])]),
    ]);
    let c = run(&m, &orb0(), &mut dev);
    assert_eq!(c, done(PROG + 16, 0, CE_DE, 0, 2));
    assert_eq!(m.fetch(u64::from(DATA) + 1, 1).unwrap(), vec![5]);
}

#[test]
fn format1_zero_count_without_cd_is_valid() {
    let m = mem_with(&[ccw1(NOP, 0, 0, 0)]);
    let c = run(&m, &orb1(), &mut ScriptedDevice::default());
    assert_eq!(c, done(PROG + 8, 0, CE_DE, 0, 1));
}

#[test]
fn unit_check_ends_chain_and_carries_sense() {
    let m = mem_with(&[ccw1(SENSE, CC | SLI, 32, DATA), ccw1(NOP, 0, 0, 0)]);
    let sense = Sense::byte0(Sense::EQUIPMENT_CHECK);
    let mut dev = ScriptedDevice::new(vec![Step::status(DeviceResult::unit_check(sense))]);
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(
        c,
        Completion {
            sense: Some(sense),
            ..done(PROG + 8, 32, 0x0e, 0, 1)
        }
    );
    assert_eq!(dev.log.len(), 1);
}

#[test]
fn unit_exception_ends_chain() {
    let m = mem_with(&[ccw1(READ, CC | SLI, 80, DATA), ccw1(NOP, 0, 0, 0)]);
    let mut dev = ScriptedDevice::new(vec![Step {
        actions: vec![Action::Touch],
        result: DeviceResult::UNIT_EXCEPTION,
    }]);
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(c, done(PROG + 8, 80, 0x0d, 0, 1));
    assert_eq!(dev.log.len(), 1);
}

#[test]
fn busy_on_first_command_is_reported_as_is() {
    let m = mem_with(&[ccw1(READ, CC, 8, DATA), ccw1(NOP, 0, 0, 0)]);
    let busy = DeviceResult {
        status: DeviceStatus::new().with_busy(true),
        sense: None,
    };
    let c = run(&m, &orb1(), &mut ScriptedDevice::new(vec![Step::status(busy)]));
    assert_eq!(c.ending, Ending::Completed);
    assert_eq!(c.dstat, DeviceStatus::new().with_busy(true));
    assert_eq!(c.cpa, PROG + 8);
    assert_eq!(c.count, 8);
    assert_eq!(c.cstat, SubchannelStatus::new());
    assert_eq!(c.ccws, 1);
}

#[test]
fn contiguous_idaws_are_coalesced_and_each_fetched_once() {
    // Three contiguous 2K IDAWs then a fourth elsewhere: same data as
    // block-by-block, and the list is not read past the IDAWs needed.
    let (c, m) = idal_run(orb1(), 0, &[0x8000, 0x8800, 0x9000, 0xc000], 0x1c00);
    assert_eq!(c, done(PROG + 8, 0, CE_DE, 0, 1));
    assert_eq!(
        m.fetch(0x8fff, 2).unwrap(),
        vec![u8::try_from(0xfff % 251).unwrap(), u8::try_from(0x1000 % 251).unwrap()]
    );
    assert_eq!(m.fetch(0xc000, 1).unwrap(), vec![u8::try_from(0x1800 % 251).unwrap()]);
    assert_eq!(m.fetch(0x9800, 1).unwrap(), vec![0]);
}

#[test]
fn read_backward_is_rejected_without_calling_device() {
    let m = mem_with(&[ccw1(0x0c, 0, 8, DATA)]);
    let mut dev = ScriptedDevice::default();
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(
        c,
        Completion {
            sense: Some(Sense::byte0(Sense::COMMAND_REJECT)),
            ..done(PROG + 8, 8, 0x0e, 0, 1)
        }
    );
    assert!(dev.log.is_empty());
}

// ---- incorrect length ----------------------------------------------------

#[test]
fn short_read_sets_il_and_suppresses_chaining() {
    let m = mem_with(&[ccw1(READ, CC, 8, DATA), ccw1(NOP, 0, 0, 0)]);
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Write(vec![1; 5])])]);
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(c, done(PROG + 8, 3, CE_DE, IL, 1));
    assert_eq!(dev.log.len(), 1);
}

#[test]
fn long_write_sets_il_with_zero_residual() {
    let m = mem_with(&[ccw1(WRITE, 0, 4, DATA)]);
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Read(6)])]);
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(c, done(PROG + 8, 0, CE_DE, IL, 1));
    assert_eq!(dev.log[0].read.len(), 4);
}

#[test]
fn long_read_offer_sets_il() {
    let m = mem_with(&[ccw1(READ, 0, 4, DATA)]);
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Write(vec![9; 10])])]);
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(c, done(PROG + 8, 0, CE_DE, IL, 1));
    assert_eq!(dev.log[0].written, 4);
}

#[test]
fn sli_suppresses_il_and_chaining_continues() {
    let m = mem_with(&[ccw1(READ, CC | SLI, 8, DATA), ccw1(NOP, SLI, 1, 0)]);
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Write(vec![1; 5])]), Step::ok(vec![])]);
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(c, done(PROG + 16, 1, CE_DE, 0, 2));
}

#[test]
fn sli_with_cd_does_not_suppress_short_block() {
    let m = mem_with(&[
        ccw1(READ, CD | SLI | CC, 4, DATA),
        ccw1(READ, CC, 4, DATA + 4),
        ccw1(NOP, 0, 0, 0),
    ]);
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Write(vec![1; 2])])]);
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(c, done(PROG + 8, 2, CE_DE, IL, 1));
}

#[test]
fn device_ending_at_data_chain_boundary_sees_next_ccw_count_as_residual() {
    // The count of the first CCW is exhausted, so the channel chains data
    // at once; the device then ends: short block in the second CCW.
    let m = mem_with(&[ccw1(READ, CD, 4, DATA), ccw1(READ, SLI, 4, DATA + 4)]);
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Write(vec![1; 4])])]);
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(c, done(PROG + 16, 4, CE_DE, 0, 2));
}

#[test]
fn immediate_format1_nonzero_count_without_ils_mode_is_il() {
    let m = mem_with(&[ccw1(NOP, CC, 0x500, 0x500), ccw1(NOP, 0, 0, 0)]);
    let c = run(&m, &orb1(), &mut ScriptedDevice::default());
    assert_eq!(c, done(PROG + 8, 0x500, CE_DE, IL, 1));
}

#[test]
fn immediate_format1_with_ils_mode_has_no_il_and_chains() {
    let m = mem_with(&[ccw1(NOP, CC, 0x500, 0x500), ccw1(NOP, 0, 0, 0)]);
    let orb = Orb {
        ctrl: orb1().ctrl.with_ils(true),
        ..orb1()
    };
    let c = run(&m, &orb, &mut ScriptedDevice::default());
    assert_eq!(c, done(PROG + 16, 0, CE_DE, 0, 2));
}

#[test]
fn immediate_format1_with_sli_has_no_il() {
    let m = mem_with(&[ccw1(NOP, SLI, 0x500, 0x500)]);
    let c = run(&m, &orb1(), &mut ScriptedDevice::default());
    assert_eq!(c, done(PROG + 8, 0x500, CE_DE, 0, 1));
}

#[test]
fn immediate_format0_nonzero_count_has_no_il() {
    let m = mem_with(&[ccw0(NOP, 0, 0x500, 0x500)]);
    let c = run(&m, &orb0(), &mut ScriptedDevice::default());
    assert_eq!(c, done(PROG + 8, 0x500, CE_DE, 0, 1));
}

#[test]
fn zero_length_transfer_is_not_immediate() {
    let m = mem_with(&[ccw1(READ, 0, 8, DATA)]);
    let c = run(
        &m,
        &orb1(),
        &mut ScriptedDevice::new(vec![Step::ok(vec![Action::Touch])]),
    );
    assert_eq!(c, done(PROG + 8, 8, CE_DE, IL, 1));
}

// ---- data chaining, skip, status modifier, PCI ---------------------------

#[test]
fn data_chaining_continues_one_command_across_ccws() {
    // The second CCW's command code (0x00) is ignored under data chaining.
    let m = mem_with(&[ccw1(READ, CD, 3, DATA), ccw1(0x00, 0, 5, DATA + 0x100)]);
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Write(vec![1, 2, 3, 4, 5, 6, 7, 8])])]);
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(c, done(PROG + 16, 0, CE_DE, 0, 2));
    assert_eq!(dev.log.len(), 1);
    assert_eq!(dev.log[0].ccw.cmd, READ);
    assert_eq!(m.fetch(u64::from(DATA), 3).unwrap(), vec![1, 2, 3]);
    assert_eq!(m.fetch(u64::from(DATA) + 0x100, 5).unwrap(), vec![4, 5, 6, 7, 8]);
}

#[test]
fn data_chaining_follows_a_tic_and_last_ccw_decides_command_chaining() {
    let m = mem_with(&[ccw1(WRITE, CD, 2, DATA), ccw1(CMD_TIC, 0, 0, PROG + 0x40)]);
    m.store(u64::from(PROG) + 0x40, &ccw1(0x00, CC, 2, DATA + 2)).unwrap();
    m.store(u64::from(PROG) + 0x48, &ccw1(NOP, 0, 0, 0)).unwrap();
    m.store(u64::from(DATA), &[1, 2, 3, 4]).unwrap();
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Read(4)])]);
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(c, done(PROG + 0x50, 0, CE_DE, 0, 4));
    assert_eq!(dev.log[0].read, vec![1, 2, 3, 4]);
    assert_eq!(dev.log[1].ccw.cmd, NOP);
}

#[test]
fn data_chained_ccw_flags_apply_to_its_part() {
    // First part direct, second part skipped.
    let m = mem_with(&[ccw1(READ, CD, 2, DATA), ccw1(0, SKIP, 2, DATA + 2)]);
    m.store(u64::from(DATA), &[0xee; 4]).unwrap();
    let c = run(
        &m,
        &orb1(),
        &mut ScriptedDevice::new(vec![Step::ok(vec![Action::Write(vec![1, 2, 3, 4])])]),
    );
    assert_eq!(c, done(PROG + 16, 0, CE_DE, 0, 2));
    assert_eq!(m.fetch(u64::from(DATA), 4).unwrap(), vec![1, 2, 0xee, 0xee]);
}

#[test]
fn skip_on_input_counts_but_does_not_store() {
    let m = mem_with(&[ccw1(READ, SKIP, 4, DATA)]);
    let c = run(
        &m,
        &orb1(),
        &mut ScriptedDevice::new(vec![Step::ok(vec![Action::Write(vec![1; 4])])]),
    );
    assert_eq!(c, done(PROG + 8, 0, CE_DE, 0, 1));
    assert_eq!(m.fetch(u64::from(DATA), 4).unwrap(), vec![0; 4]);
}

#[test]
fn skip_on_input_does_not_check_data_address() {
    let m = mem_with(&[ccw1(READ, SKIP, 4, 0x7fff_fff0)]);
    let c = run(
        &m,
        &orb1(),
        &mut ScriptedDevice::new(vec![Step::ok(vec![Action::Write(vec![1; 4])])]),
    );
    assert_eq!(c, done(PROG + 8, 0, CE_DE, 0, 1));
}

#[test]
fn skip_on_write_command_is_ignored() {
    let m = mem_with(&[ccw1(WRITE, SKIP, 2, DATA)]);
    m.store(u64::from(DATA), &[4, 2]).unwrap();
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Read(2)])]);
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(c, done(PROG + 8, 0, CE_DE, 0, 1));
    assert_eq!(dev.log[0].read, vec![4, 2]);
}

#[test]
fn status_modifier_with_cc_skips_next_ccw() {
    let m = mem_with(&[ccw1(NOP, CC | SLI, 1, 0), ccw1(0x31, CC, 1, 0), ccw1(NOP, SLI, 1, 0)]);
    let mut dev = ScriptedDevice::new(vec![Step::status(DeviceResult::STATUS_MODIFIER), Step::ok(vec![])]);
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(c, done(PROG + 24, 1, CE_DE, 0, 2));
    assert_eq!(dev.log.iter().map(|e| e.ccw.cmd).collect::<Vec<_>>(), vec![NOP, NOP]);
}

#[test]
fn status_modifier_without_cc_just_ends() {
    let m = mem_with(&[ccw1(NOP, SLI, 1, 0)]);
    let c = run(
        &m,
        &orb1(),
        &mut ScriptedDevice::new(vec![Step::status(DeviceResult::STATUS_MODIFIER)]),
    );
    assert_eq!(c, done(PROG + 8, 1, 0x4c, 0, 1));
}

#[test]
fn pci_flag_calls_hook_and_sets_pci_status() {
    let m = mem_with(&[
        ccw1(NOP, CC | PCI, 0, 0),
        ccw1(READ, CD, 1, DATA),
        ccw1(0, PCI, 1, DATA + 1),
    ]);
    let mut hooks = Recorder::default();
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![]), Step::ok(vec![Action::Write(vec![1, 2])])]);
    let c = Engine::default().start(&*m, &orb1(), 0x80, &mut dev, &mut hooks);
    assert_eq!(c, done(PROG + 24, 0, CE_DE, 0x80, 3));
    assert_eq!(hooks.pcis, vec![PROG + 8, PROG + 24]);
}

// ---- stop, suspend -------------------------------------------------------

#[test]
fn stop_request_between_ccws_ends_program() {
    let m = mem_with(&[ccw1(NOP, CC, 0, 0), ccw1(NOP, CC, 0, 0), ccw1(NOP, 0, 0, 0)]);
    let mut hooks = Recorder {
        stop_after_polls: Some((1, ProgramEnd::Halted)),
        ..Recorder::default()
    };
    let mut dev = ScriptedDevice::default();
    let c = Engine::default().start(&*m, &orb1(), 0x80, &mut dev, &mut hooks);
    assert_eq!(
        c,
        Completion {
            ending: Ending::Stopped(ProgramEnd::Halted),
            ..done(PROG + 8, 0, CE_DE, 0, 1)
        }
    );
    assert_eq!(dev.ends, vec![ProgramEnd::Halted]);
}

#[test]
fn stop_request_between_data_chained_ccws_fails_stream() {
    let m = mem_with(&[ccw1(READ, CD, 2, DATA), ccw1(0, 0, 2, DATA + 2)]);
    let mut hooks = Recorder {
        stop_after_polls: Some((1, ProgramEnd::Cleared)),
        ..Recorder::default()
    };
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Write(vec![1; 4])])]);
    let c = Engine::default().start(&*m, &orb1(), 0x80, &mut dev, &mut hooks);
    assert_eq!(
        c,
        Completion {
            ending: Ending::Stopped(ProgramEnd::Cleared),
            ..done(PROG + 8, 0, CE_DE, 0, 1)
        }
    );
    assert_eq!(dev.log[0].written, 2);
    assert!(dev.log[0].failed);
}

#[test]
fn start_and_resume_tell_the_device_the_lpum() {
    let m = mem_with(&[ccw1(NOP, CC, 0, 0), ccw1(NOP, SUSP, 0, 0)]);
    let mut dev = ScriptedDevice::default();
    let e = Engine::default();
    let c = e.start(&*m, &orb_s(), 0x20, &mut dev, &mut NoHooks);
    assert_eq!((dev.starts, dev.lpum), (1, Some(0x20)));
    e.resume(
        &*m,
        &orb_s(),
        CcwAddress::before_scsw_cpa(c.cpa),
        0x04,
        &mut dev,
        &mut NoHooks,
    );
    assert_eq!((dev.starts, dev.lpum), (2, Some(0x04)));
}

#[test]
fn resume_at_a_misaligned_address_is_program_check() {
    let m = mem_with(&[ccw1(NOP, 0, 0, 0)]);
    let mut dev = ScriptedDevice::default();
    let c = Engine::default().resume(&*m, &orb_s(), CcwAddress::new(PROG + 4), 0x80, &mut dev, &mut NoHooks);
    assert_eq!(c, checked(CheckCause::CcwAddressSpecification, PROG + 12, 0, 0, 1));
    assert!(dev.log.is_empty());
}

fn orb_s() -> Orb {
    Orb {
        ctrl: orb1().ctrl.with_suspend(true),
        ..orb1()
    }
}

#[test]
fn suspend_flag_suspends_before_the_ccw_and_resume_continues() {
    let m = mem_with(&[ccw1(NOP, CC, 0, 0), ccw1(READ, SUSP, 2, DATA)]);
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![]), Step::ok(vec![Action::Write(vec![6, 6])])]);
    let e = Engine::default();
    let c = e.start(&*m, &orb_s(), 0x80, &mut dev, &mut NoHooks);
    assert_eq!(
        c,
        Completion {
            ending: Ending::Suspended,
            ..done(PROG + 16, 2, 0, 0, 2)
        }
    );
    assert_eq!(dev.log.len(), 1);
    assert_eq!(dev.ends, vec![ProgramEnd::Suspended]);
    // Resume with the S flag still one: suspends again, device untouched.
    let again = e.resume(
        &*m,
        &orb_s(),
        CcwAddress::before_scsw_cpa(c.cpa),
        0x80,
        &mut dev,
        &mut NoHooks,
    );
    assert_eq!(again.ending, Ending::Suspended);
    assert_eq!(again.cpa, PROG + 16);
    assert_eq!(dev.log.len(), 1);
    // The program clears the flag and resumes.
    m.store(u64::from(PROG) + 8, &ccw1(READ, 0, 2, DATA)).unwrap();
    let fin = e.resume(
        &*m,
        &orb_s(),
        CcwAddress::before_scsw_cpa(c.cpa),
        0x80,
        &mut dev,
        &mut NoHooks,
    );
    assert_eq!(fin, done(PROG + 16, 0, CE_DE, 0, 1));
    assert_eq!(m.fetch(u64::from(DATA), 2).unwrap(), vec![6, 6]);
    assert_eq!(dev.starts, 3);
}

#[test]
fn suspend_flag_on_first_ccw_suspends_at_once() {
    let m = mem_with(&[ccw1(NOP, SUSP, 0, 0)]);
    let c = run(&m, &orb_s(), &mut ScriptedDevice::default());
    assert_eq!(
        c,
        Completion {
            ending: Ending::Suspended,
            ..done(PROG + 8, 0, 0, 0, 1)
        }
    );
}

// ---- program checks ------------------------------------------------------

struct PcCase {
    name: &'static str,
    ccws: Vec<[u8; 8]>,
    orb: Orb,
    cause: CheckCause,
    cpa: u32,
    count: u16,
    ccws_run: u32,
    dstat: u8,
}

fn pc_cases() -> Vec<PcCase> {
    let o1 = orb1();
    let midaw = Orb {
        ctrl: o1.ctrl.with_midaw(true),
        ..o1
    };
    let f2 = Orb {
        ctrl: o1.ctrl.with_idaw_format2(true),
        ..o1
    };
    let c = |name, ccws, orb, cause, cpa, count, ccws_run, dstat| PcCase {
        name,
        ccws,
        orb,
        cause,
        cpa,
        count,
        ccws_run,
        dstat,
    };
    vec![
        c(
            "cmd low nibble 0",
            vec![ccw1(0x10, 0, 1, DATA)],
            o1,
            CheckCause::InvalidCommandCode,
            PROG + 8,
            1,
            1,
            0,
        ),
        c(
            "cmd 0x00 after chaining",
            vec![ccw1(NOP, CC | SLI, 0, 0), ccw1(0x00, 0, 1, DATA)],
            o1,
            CheckCause::InvalidCommandCode,
            PROG + 16,
            1,
            2,
            0,
        ),
        c(
            "format-0 count 0",
            vec![ccw0(READ, 0, 0, DATA)],
            orb0(),
            CheckCause::InvalidCount,
            PROG + 8,
            0,
            1,
            0,
        ),
        c(
            "format-1 count 0 with CD",
            vec![ccw1(READ, CD, 0, DATA)],
            o1,
            CheckCause::InvalidCount,
            PROG + 8,
            0,
            1,
            0,
        ),
        c(
            "format-1 TIC with flags",
            vec![ccw1(NOP, CC | SLI, 0, 0), ccw1(CMD_TIC, CC, 0, PROG)],
            o1,
            CheckCause::InvalidTic,
            PROG + 16,
            0,
            2,
            0,
        ),
        c(
            "format-1 TIC with count",
            vec![ccw1(NOP, CC | SLI, 0, 0), ccw1(CMD_TIC, 0, 8, PROG)],
            o1,
            CheckCause::InvalidTic,
            PROG + 16,
            0,
            2,
            0,
        ),
        c(
            "format-1 TIC with high nibble",
            vec![ccw1(NOP, CC | SLI, 0, 0), ccw1(0x18, 0, 0, PROG)],
            o1,
            CheckCause::InvalidTic,
            PROG + 16,
            0,
            2,
            0,
        ),
        c(
            "TIC to TIC",
            vec![
                ccw1(NOP, CC | SLI, 0, 0),
                ccw1(CMD_TIC, 0, 0, PROG + 16),
                ccw1(CMD_TIC, 0, 0, PROG),
            ],
            o1,
            CheckCause::TicToTic,
            PROG + 24,
            0,
            3,
            0,
        ),
        c(
            "TIC first",
            vec![ccw1(CMD_TIC, 0, 0, PROG + 8), ccw1(NOP, 0, 0, 0)],
            o1,
            CheckCause::FirstCcwTic,
            PROG + 8,
            0,
            1,
            0,
        ),
        c(
            "TIC target misaligned",
            vec![ccw1(NOP, CC | SLI, 0, 0), ccw1(CMD_TIC, 0, 0, PROG + 0x44)],
            o1,
            CheckCause::CcwAddressSpecification,
            PROG + 0x4c,
            0,
            3,
            0,
        ),
        c(
            "TIC target beyond 31 bits",
            vec![ccw1(NOP, CC | SLI, 0, 0), ccw1(CMD_TIC, 0, 0, 0x8000_1000)],
            o1,
            CheckCause::InvalidCcwAddress,
            0x8000_1008,
            0,
            3,
            0,
        ),
        c(
            "TIC target outside storage",
            vec![ccw1(NOP, CC | SLI, 0, 0), ccw1(CMD_TIC, 0, 0, 0x10_0000)],
            o1,
            CheckCause::InvalidCcwAddress,
            0x10_0008,
            0,
            3,
            0,
        ),
        c(
            "MIDA without ORB D",
            vec![ccw1(READ, MIDA, 8, DATA)],
            o1,
            CheckCause::InvalidFlags,
            PROG + 8,
            8,
            1,
            0,
        ),
        c(
            "MIDA with IDA",
            vec![ccw1(READ, MIDA | IDA, 8, DATA)],
            midaw,
            CheckCause::InvalidFlags,
            PROG + 8,
            8,
            1,
            0,
        ),
        c(
            "MIDA with skip",
            vec![ccw1(READ, MIDA | SKIP, 8, DATA)],
            midaw,
            CheckCause::InvalidFlags,
            PROG + 8,
            8,
            1,
            0,
        ),
        c(
            "S without ORB S",
            vec![ccw1(READ, SUSP, 8, DATA)],
            o1,
            CheckCause::SuspendNotAllowed,
            PROG + 8,
            8,
            1,
            0,
        ),
        c(
            "S in data-chained CCW",
            vec![ccw1(READ, CD, 1, DATA), ccw1(READ, SUSP, 1, DATA)],
            orb_s(),
            CheckCause::SuspendInDataChain,
            PROG + 16,
            1,
            2,
            CE_DE,
        ),
        c(
            "format-1 data address bit 0",
            vec![ccw1(READ, 0, 8, 0x8000_2000)],
            o1,
            CheckCause::InvalidDataAddress,
            PROG + 8,
            8,
            1,
            0,
        ),
        c(
            "format-1 IDAL misaligned",
            vec![ccw1(READ, IDA, 8, DATA + 2)],
            o1,
            CheckCause::IdawAddressSpecification,
            PROG + 8,
            8,
            1,
            0,
        ),
        c(
            "format-2 IDAL misaligned",
            vec![ccw1(READ, IDA, 8, DATA + 4)],
            f2,
            CheckCause::IdawAddressSpecification,
            PROG + 8,
            8,
            1,
            0,
        ),
        c(
            "MIDAL misaligned",
            vec![ccw1(READ, MIDA, 8, DATA + 8)],
            midaw,
            CheckCause::IdawAddressSpecification,
            PROG + 8,
            8,
            1,
            0,
        ),
        c(
            "IDAL outside storage",
            vec![ccw1(READ, IDA, 8, 0x10_0000)],
            o1,
            CheckCause::InvalidIdawAddress,
            PROG + 8,
            8,
            1,
            0,
        ),
        c(
            "data-chained count 0",
            vec![ccw1(READ, CD, 1, DATA), ccw1(READ, 0, 0, DATA)],
            o1,
            CheckCause::InvalidCount,
            PROG + 16,
            0,
            2,
            CE_DE,
        ),
        c(
            "data-chained TIC to TIC",
            vec![
                ccw1(READ, CD, 1, DATA),
                ccw1(CMD_TIC, 0, 0, PROG + 24),
                ccw1(NOP, 0, 0, 0),
                ccw1(CMD_TIC, 0, 0, PROG),
            ],
            o1,
            CheckCause::TicToTic,
            PROG + 32,
            0,
            3,
            CE_DE,
        ),
    ]
}

#[test]
fn program_checks_report_cause_cpa_and_count() {
    for case in pc_cases() {
        let m = mem_with(&case.ccws);
        // The device offers one byte, so data-chaining cases reach the next CCW.
        let mut dev = ScriptedDevice::default().with_fallback(Step::ok(vec![Action::Write(vec![1])]));
        let c = run(&m, &case.orb, &mut dev);
        assert_eq!(
            c,
            checked(case.cause, case.cpa, case.count, case.dstat, case.ccws_run),
            "{}",
            case.name
        );
        assert_eq!(dev.ends, vec![ProgramEnd::Terminated], "{}", case.name);
    }
}

#[test]
fn ccw_address_misaligned_in_orb_is_program_check() {
    let m = mem_with(&[ccw1(NOP, 0, 0, 0)]);
    let orb = Orb {
        cpa: PROG + 4,
        ..orb1()
    };
    let c = run(&m, &orb, &mut ScriptedDevice::default());
    assert_eq!(c, checked(CheckCause::CcwAddressSpecification, PROG + 12, 0, 0, 1));
}

#[test]
fn format0_ccw_beyond_24_bits_is_invalid_ccw_address() {
    let m = VecMemory::new((1 << 24) + 0x1000);
    m.store(1 << 24, &ccw0(NOP, 0, 1, 0)).unwrap();
    let orb = Orb { cpa: 1 << 24, ..orb0() };
    let c = run(&m, &orb, &mut ScriptedDevice::default());
    assert_eq!(c, checked(CheckCause::InvalidCcwAddress, (1 << 24) + 8, 0, 0, 1));
}

#[test]
fn format0_data_beyond_24_bits_is_invalid_data_address() {
    let m = VecMemory::new((1 << 24) + 0x1000);
    m.store(u64::from(PROG), &ccw0(READ, 0, 8, 0xff_fffc)).unwrap();
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Write(vec![3; 8])])]);
    let c = run(&m, &orb0(), &mut dev);
    assert_eq!(c, checked(CheckCause::InvalidDataAddress, PROG + 8, 4, CE_DE, 1));
    assert_eq!(dev.log[0].written, 4);
    assert_eq!(m.fetch(0xff_fffc, 4).unwrap(), vec![3; 4]);
    assert_eq!(m.fetch(1 << 24, 4).unwrap(), vec![0; 4]);
}

#[test]
fn data_beyond_storage_moves_bytes_before_it_then_checks() {
    let m = mem_with(&[ccw1(READ, 0, 8, 0xfffc)]);
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Write(vec![5; 8])])]);
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(c, checked(CheckCause::InvalidDataAddress, PROG + 8, 4, CE_DE, 1));
    assert_eq!(dev.log[0].written, 4);
    assert!(dev.log[0].failed);
}

#[test]
fn work_limit_bounds_idle_ccws_of_a_tic_loop_exactly() {
    let limits = Limits {
        max_idle_ccws: 4,
        max_ccws: 100,
    };
    // NOP, NOP, TIC back: the TIC makes it a loop; the fifth fetch (the
    // second NOP again) is one too many.
    let looping = mem_with(&[ccw1(NOP, CC, 0, 0), ccw1(NOP, CC, 0, 0), ccw1(CMD_TIC, 0, 0, PROG)]);
    let c = Engine::new(limits).start(&*looping, &orb1(), 0x80, &mut ScriptedDevice::default(), &mut NoHooks);
    assert_eq!(c, checked(CheckCause::WorkLimit, PROG + 16, 0, 0, 4));
}

/// Counts `tracing` warnings (a subscriber of its own, for one test).
#[derive(Default)]
struct WarnCounter(std::sync::atomic::AtomicUsize);

impl tracing::Subscriber for WarnCounter {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        if *e.metadata().level() == tracing::Level::WARN {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn work_limit_ending_a_program_logs_a_warning() {
    let counter = Arc::new(WarnCounter::default());
    let looping = mem_with(&[ccw1(NOP, CC, 0, 0), ccw1(CMD_TIC, 0, 0, PROG)]);
    let straight = mem_with(&[ccw1(NOP, CC, 0, 0), ccw1(NOP, 0, 0, 0)]);
    tracing::subscriber::with_default(counter.clone(), || {
        let e = Engine::default();
        e.start(&*straight, &orb1(), 0x80, &mut ScriptedDevice::default(), &mut NoHooks);
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::Relaxed), 0);
        let c = e.start(&*looping, &orb1(), 0x80, &mut ScriptedDevice::default(), &mut NoHooks);
        assert_eq!(c.check, Some(CheckCause::WorkLimit));
    });
    assert_eq!(counter.0.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn work_limit_never_ends_a_straight_chain() {
    let limits = Limits {
        max_idle_ccws: 4,
        max_ccws: 10,
    };
    let mut ccws = vec![ccw1(NOP, CC, 0, 0); 1025];
    ccws.push(ccw1(NOP, 0, 0, 0));
    let m = mem_with(&ccws);
    let c = Engine::new(limits).start(&*m, &orb1(), 0x80, &mut ScriptedDevice::default(), &mut NoHooks);
    assert_eq!(c, done(PROG + 8 * 1026, 0, CE_DE, 0, 1026));
}

#[test]
fn work_limit_bounds_total_ccws_of_a_data_loop() {
    // READ 1 byte + TIC back: moves data forever.
    let m = mem_with(&[ccw1(READ, CC, 1, DATA), ccw1(CMD_TIC, 0, 0, PROG)]);
    let limits = Limits {
        max_idle_ccws: 4,
        max_ccws: 10,
    };
    let mut dev = ScriptedDevice::default().with_fallback(Step::ok(vec![Action::Write(vec![1])]));
    let c = Engine::new(limits).start(&*m, &orb1(), 0x80, &mut dev, &mut NoHooks);
    assert_eq!(c, checked(CheckCause::WorkLimit, PROG + 8, 0, 0, 10));
    assert_eq!(dev.log.len(), 5);
}

// ---- protection checks ---------------------------------------------------

fn keyed(ccws: &[[u8; 8]]) -> Arc<VecMemory> {
    let m = Arc::new(VecMemory::with_storage_keys(0x10000));
    for (i, c) in ccws.iter().enumerate() {
        m.store(u64::from(PROG) + 8 * i as u64, c).unwrap();
    }
    m
}

fn orb_key(key: u8) -> Orb {
    Orb {
        ctrl: orb1().ctrl.with_key(key),
        ..orb1()
    }
}

#[test]
fn ccw_fetch_protected_is_protection_check() {
    let m = keyed(&[ccw1(NOP, 0, 0, 0)]);
    m.set_storage_key(u64::from(PROG), StorageKey::new(3, true));
    let c = run(&m, &orb_key(5), &mut ScriptedDevice::default());
    assert_eq!(c, checked(CheckCause::CcwProtection, PROG + 8, 0, 0, 1));
    // Same key (or key 0) may fetch.
    assert_eq!(
        run(&m, &orb_key(3), &mut ScriptedDevice::default()).ending,
        Ending::Completed
    );
}

#[test]
fn idaw_fetch_protected_is_protection_check() {
    let m = keyed(&[ccw1(READ, IDA, 8, 0x3000)]);
    m.store(0x3000, &0x4000u32.to_be_bytes()).unwrap();
    m.set_storage_key(0x3000, StorageKey::new(3, true));
    m.set_storage_key(0x4000, StorageKey::new(5, false));
    let mut dev = ScriptedDevice::default();
    let c = run(&m, &orb_key(5), &mut dev);
    assert_eq!(c, checked(CheckCause::IdawProtection, PROG + 8, 8, 0, 1));
    assert!(dev.log.is_empty());
}

#[test]
fn data_store_protected_moves_bytes_before_frame_then_checks() {
    let m = keyed(&[ccw1(READ, 0, 32, 0x4ff0)]);
    m.set_storage_key(0x4000, StorageKey::new(5, false));
    m.set_storage_key(0x5000, StorageKey::new(6, false));
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Write(vec![7; 32])])]);
    let c = run(&m, &orb_key(5), &mut dev);
    assert_eq!(c, checked(CheckCause::DataProtection, PROG + 8, 16, CE_DE, 1));
    assert_eq!(dev.log[0].written, 16);
    assert_eq!(m.fetch(0x4ff0, 16).unwrap(), vec![7; 16]);
    assert_eq!(m.fetch(0x5000, 16).unwrap(), vec![0; 16]);
}

#[test]
fn data_fetch_protected_is_protection_check() {
    let m = keyed(&[ccw1(WRITE, 0, 8, 0x4000)]);
    m.set_storage_key(0x4000, StorageKey::new(6, true));
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Read(8)])]);
    let c = run(&m, &orb_key(5), &mut dev);
    assert_eq!(c, checked(CheckCause::DataProtection, PROG + 8, 8, CE_DE, 1));
    assert!(dev.log[0].read.is_empty());
}

// ---- IDAL and MIDAL ------------------------------------------------------

fn idal_run(orb: Orb, first: u64, idaws: &[u64], count: u16) -> (Completion, Arc<VecMemory>) {
    let m = mem_with(&[ccw1(READ, IDA, count, 0x3000)]);
    for (i, a) in idaws.iter().enumerate() {
        if orb.ctrl.idaw_format2() {
            m.store(0x3000 + 8 * i as u64, &a.to_be_bytes()).unwrap();
        } else {
            m.store(0x3000 + 4 * i as u64, &u32::try_from(*a).unwrap().to_be_bytes())
                .unwrap();
        }
    }
    let _ = first;
    let data: Vec<u8> = (0..count).map(|i| u8::try_from(i % 251).unwrap()).collect();
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Write(data)])]);
    let c = run(&m, &orb, &mut dev);
    (c, m)
}

#[test]
fn format1_idal_moves_data_in_2k_blocks_first_may_start_anywhere() {
    let (c, m) = idal_run(orb1(), 0, &[0x8700, 0xa000, 0xc800], 0x1000);
    assert_eq!(c, done(PROG + 8, 0, CE_DE, 0, 1));
    // First IDAW: 0x100 bytes to the 2K boundary, then 2K, then the rest.
    assert_eq!(m.fetch(0x8700, 2).unwrap(), vec![0, 1]);
    assert_eq!(m.fetch(0x8800, 1).unwrap(), vec![0]);
    assert_eq!(m.fetch(0xa000, 1).unwrap(), vec![u8::try_from(0x100 % 251).unwrap()]);
    assert_eq!(m.fetch(0xc800, 1).unwrap(), vec![u8::try_from(0x900 % 251).unwrap()]);
}

#[test]
fn format2_idal_uses_4k_blocks_and_2k_with_orb_t() {
    let f2 = Orb {
        ctrl: orb1().ctrl.with_idaw_format2(true),
        ..orb1()
    };
    let (c, m) = idal_run(f2, 0, &[0x8000, 0xa000], 0x1800);
    assert_eq!(c, done(PROG + 8, 0, CE_DE, 0, 1));
    assert_eq!(m.fetch(0xa000, 1).unwrap(), vec![u8::try_from(0x1000 % 251).unwrap()]);
    let f2k = Orb {
        ctrl: f2.ctrl.with_idaw_2k(true),
        ..f2
    };
    let (c, m) = idal_run(f2k, 0, &[0x8000, 0xa000, 0xc000], 0x1800);
    assert_eq!(c, done(PROG + 8, 0, CE_DE, 0, 1));
    assert_eq!(m.fetch(0xa000, 1).unwrap(), vec![u8::try_from(0x800 % 251).unwrap()]);
    assert_eq!(m.fetch(0xc000, 1).unwrap(), vec![u8::try_from(0x1000 % 251).unwrap()]);
}

#[test]
fn idaw_not_on_block_boundary_is_program_check_after_first_block() {
    let (c, m) = idal_run(orb1(), 0, &[0x8700, 0xa100], 0x400);
    assert_eq!(c, checked(CheckCause::InvalidIdaw, PROG + 8, 0x300, CE_DE, 1));
    assert_eq!(m.fetch(0x8700, 1).unwrap(), vec![0]);
}

#[test]
fn format1_idaw_bit0_is_program_check_before_device_starts() {
    let (c, _) = idal_run(orb1(), 0, &[0x8000_8000], 0x10);
    assert_eq!(c, checked(CheckCause::InvalidIdaw, PROG + 8, 0x10, 0, 1));
}

fn midaw(flags: u8, count: u16, addr: u64) -> [u8; 16] {
    crate::idaw::Midaw::new()
        .with_flags(crate::idaw::MidawFlags::from_bits(flags))
        .with_count(count)
        .with_addr(addr)
        .to_be_bytes()
}

fn midal_run(midaws: &[[u8; 16]], count: u16, write: usize) -> (Completion, Arc<VecMemory>) {
    let m = mem_with(&[ccw1(READ, MIDA, count, 0x3000)]);
    for (i, w) in midaws.iter().enumerate() {
        m.store(0x3000 + 16 * i as u64, w).unwrap();
    }
    let orb = Orb {
        ctrl: orb1().ctrl.with_midaw(true),
        ..orb1()
    };
    let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::WriteFill(write, 1)])]);
    let c = run(&m, &orb, &mut dev);
    (c, m)
}

#[test]
fn midal_moves_data_per_midaw_and_honours_midaw_skip() {
    let (c, m) = midal_run(
        &[midaw(0, 4, 0x8ffc), midaw(0x40, 4, 0x9000), midaw(0x80, 2, 0xa000)],
        10,
        10,
    );
    assert_eq!(c, done(PROG + 8, 0, CE_DE, 0, 1));
    assert_eq!(m.fetch(0x8ffc, 4).unwrap(), vec![1, 2, 3, 4]);
    assert_eq!(m.fetch(0x9000, 4).unwrap(), vec![0; 4]);
    assert_eq!(m.fetch(0xa000, 2).unwrap(), vec![9, 10]);
}

#[test]
fn invalid_midaws_are_program_checks() {
    let cases: [(&str, Vec<[u8; 16]>, u16); 5] = [
        ("reserved flag", vec![midaw(0x90, 4, 0x8000)], 4),
        ("zero count", vec![midaw(0, 0, 0x8000), midaw(0x80, 4, 0x8000)], 4),
        ("last too early", vec![midaw(0x80, 2, 0x8000)], 4),
        ("last missing", vec![midaw(0, 4, 0x8000)], 4),
        ("crosses 4K", vec![midaw(0x80, 4, 0x8ffe)], 4),
    ];
    for (name, ws, count) in cases {
        let (c, _) = midal_run(&ws, count, usize::from(count));
        assert_eq!(c, checked(CheckCause::InvalidMidaw, PROG + 8, count, 0, 1), "{name}");
    }
}

#[test]
fn skipping_midaw_may_cross_4k() {
    let (c, _) = midal_run(&[midaw(0xc0, 8, 0x8ffc)], 8, 8);
    assert_eq!(c, done(PROG + 8, 0, CE_DE, 0, 1));
}

#[test]
fn datastream_direct_serves_device_unit_tests() {
    let m = VecMemory::new(0x100);
    let ccw = Ccw::decode(CcwFormat::Format1, ccw1(READ, 0, 4, 0x10));
    let mut s = DataStream::direct(&m, CcwFormat::Format1, crate::memory::AccessKey::ZERO, ccw);
    assert_eq!(s.write(&[1, 2, 3, 4, 5]), 4);
    assert_eq!(s.residual(), 0);
    assert_eq!(s.count(), 4);
    assert!(!s.failed());
    assert_eq!(m.fetch(0x10, 4).unwrap(), vec![1, 2, 3, 4]);
}

#[test]
fn chaining_past_end_of_storage_is_invalid_ccw_address() {
    let m = mem_with(&[ccw1(CMD_TIC, 0, 0, 0)]);
    m.store(0xfff8, &ccw1(NOP, CC | SLI, 0, 0)).unwrap();
    let orb = Orb { cpa: 0xfff8, ..orb1() };
    let c = run(&m, &orb, &mut ScriptedDevice::default());
    assert_eq!(c, checked(CheckCause::InvalidCcwAddress, 0x1_0008, 0, 0, 2));
}

#[test]
fn command_reject_before_transfer_has_no_il() {
    let m = mem_with(&[ccw1(0x27, CC, 16, DATA), ccw1(NOP, 0, 0, 0)]);
    let mut dev = ScriptedDevice::new(vec![Step::status(DeviceResult::COMMAND_REJECT)]);
    let c = run(&m, &orb1(), &mut dev);
    assert_eq!(
        c,
        Completion {
            sense: Some(Sense::byte0(Sense::COMMAND_REJECT)),
            ..done(PROG + 8, 16, 0x0e, 0, 1)
        }
    );
}
