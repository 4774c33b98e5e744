//! The kvm-unit-tests `s390x/css.c` cases (linux-notes.md §5), one named
//! test each, against a machine with a virtio-like mock device (CU 0x3832)
//! at the first subchannel of the default css.
//!
//! | kvm-unit-tests case | test |
//! |---|---|
//! | initialize CSS (chsc SCSC) | `kut_initialize_css_chsc_scsc_reports_extended_mb` |
//! | enumerate (stsch) | `kut_enumerate_stsch_finds_device_then_cc3` |
//! | enable (msch) | `kut_enable_msch_sets_ena_and_isc` |
//! | sense (ssch/tsch) | `kut_sense_id_ssch_tsch_interrupt_and_irb` |
//! | I/O handler: lowcore intparm = schid word | `kut_io_interrupt_lowcore_intparm_is_schid` |
//! | measurement block (schm) | `kut_schm_operand_and_privileged_checks` |
//! | measurement block format0 | `kut_measurement_block_format0_counts_ten_sense_ids` |
//! | measurement block format1 | `kut_measurement_block_format1_alignment_and_count` |
//! | msch | `kut_msch_specification_and_reserved_pmcw_bits` |
//! | stcrw | `kut_stcrw_specification_empty_and_rchp_report` |
//! | ssch | `kut_ssch_specification_and_invalid_orb` |
//! | stsch | `kut_stsch_specification_cc3_and_operand` |
//! | pmcw bit 5 ignored | `kut_pmcw_bit5_ignored_and_stored_as_zero` |
//! | tsch | `kut_tsch_specification_cc3_and_operand` |
//! | skey.c: CHSC SCSC under storage keys | `kut_skey_chsc_scsc_key_controlled_protection` |
//! | epsw.c: enumerate, enable, RCHP CRW | covered by the enumerate, enable and stcrw tests |

mod common;

use common::*;
use zcss_ccw::memory::{AccessKey, StorageKey, VecMemory};
use zcss_ccw::scsw::StatusControl;
use zcss_ccw::senseid::SenseId;
use zcss_css::{Cc, IoCtx, ProgramCheck};

const ISC3: u8 = 0x80 >> 3;

#[test]
fn kut_initialize_css_chsc_scsc_reports_extended_mb() {
    let m = Machine::new(1);
    m.chsc_request(0x0010, 0x0010, &[]);
    assert_eq!(m.css.chsc(&m.ctx(), CHSC_BLOCK), Ok(Cc::Zero));
    let resp = m.mem.fetch(CHSC_BLOCK + 0x10, 16).unwrap();
    assert_eq!(u16::from_be_bytes([resp[2], resp[3]]), 0x0001, "response code");
    // General characteristics start at response +8; bit 48 = extended measurement block.
    let gc = m.mem.fetch(CHSC_BLOCK + 0x10 + 8, 8).unwrap();
    assert_ne!(gc[6] & 0x80, 0, "general characteristics bit 48");
}

#[test]
fn kut_enumerate_stsch_finds_device_then_cc3() {
    let m = Machine::new(3);
    let ctx = m.ctx();
    let mut found = Vec::new();
    let mut schno = 0u16;
    let cc = loop {
        let cc = m.css.stsch(&ctx, gr1(schno), SCHIB).unwrap();
        if cc != Cc::Zero {
            break cc;
        }
        let s = zcss_ccw::schib::Schib::decode(&m.mem.fetch(SCHIB, 52).unwrap()).unwrap();
        if s.pmcw.flags.dnv() && s.pmcw.chars.subchannel_type() == 0 {
            found.push(schno);
        }
        schno += 1;
    };
    assert_eq!(cc, Cc::Three);
    assert_eq!(found, vec![0, 1, 2]);
}

#[test]
fn kut_enable_msch_sets_ena_and_isc() {
    let m = Machine::new(1);
    let mut s = m.stsch(gr1(0));
    assert!(!s.pmcw.flags.enabled());
    s.pmcw.flags = s.pmcw.flags.with_enabled(true).with_isc(3);
    assert_eq!(m.msch(gr1(0), &s), Ok(Cc::Zero));
    let s = m.stsch(gr1(0));
    assert!(s.pmcw.flags.enabled());
    assert_eq!(s.pmcw.flags.isc(), 3);
}

#[test]
fn kut_sense_id_ssch_tsch_interrupt_and_irb() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    // SENSE ID, SLI, count 256; ORB: intparm = schid, I (ISIC) | F, LPM 0x80, no P, no c64.
    m.ccw1(CCW, 0xe4, 0x20, 256, DATA32);
    m.orb(gr1(0), Machine::fmt1().with_initial_status(true), CCW32);
    assert_eq!(m.css.ssch(&m.ctx(), gr1(0), ORB), Ok(Cc::Zero));
    let code = m.css.next_interrupt(ISC3).expect("one I/O interruption");
    assert_eq!(code.sid, gr1(0));
    assert_eq!(code.intparm, gr1(0));
    assert_eq!(m.css.next_interrupt(0xff), None, "exactly one interruption");
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    let sc = irb.scsw.ctrl.stctl();
    assert!(sc.pending());
    assert!(sc.primary() || sc.secondary());
    assert!(irb.scsw.dstat.device_end() || irb.scsw.dstat.channel_end());
    assert_eq!(irb.scsw.cstat.into_bits() & !0x40, 0, "no subchannel status but IL");
    assert!(256 - irb.scsw.count >= 8, "at least 8 bytes moved");
    let id = SenseId::decode(&m.mem.fetch(DATA, 8).unwrap()).unwrap();
    assert_eq!(id.byte0, 0xff);
    assert_eq!(id.cu_type, 0x3832);
}

#[test]
fn kut_io_interrupt_lowcore_intparm_is_schid() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    assert_eq!(m.start(gr1(0), gr1(0), 0xe4, 0x20, 256), Ok(Cc::Zero));
    // TPI with address 0 stores the 12-byte code at the prefix area +0xb8.
    assert_eq!(m.css.tpi(&m.ctx(), 0, ISC3), Ok(Cc::One));
    let lc = m.mem.fetch(0xb8, 12).unwrap();
    assert_eq!(lc[0..4], gr1(0).to_be_bytes());
    assert_eq!(lc[4..8], gr1(0).to_be_bytes());
    assert_eq!(lc[8..12], (3u32 << 27).to_be_bytes());
    assert_eq!(m.tsch(gr1(0)).0, Ok(Cc::Zero));
}

#[test]
fn kut_schm_operand_and_privileged_checks() {
    let m = Machine::new(1);
    let ctx = m.ctx();
    const MBU: u32 = 0x2;
    assert_eq!(m.css.schm(&ctx, MBU, 0x1), Err(ProgramCheck::Operand));
    assert_eq!(m.css.schm(&ctx, 0xffff_fffc, 0), Err(ProgramCheck::Operand));
    let problem = ctx.with_problem_state(true);
    assert_eq!(m.css.schm(&problem, 0, 0), Err(ProgramCheck::PrivilegedOperation));
    assert_eq!(m.css.schm(&ctx, MBU, 0), Ok(()));
    assert_eq!(m.css.schm(&ctx, 0, 0), Ok(()));
}

fn sense_ids(m: &Machine, n: u32) {
    for i in 0..n {
        assert_eq!(m.start(gr1(0), i, 0xe4, 0x20, 256), Ok(Cc::Zero));
        assert_eq!(m.tsch(gr1(0)).0, Ok(Cc::Zero));
    }
}

#[test]
fn kut_measurement_block_format0_counts_ten_sense_ids() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    let area = 0x10000u64;
    assert_eq!(m.css.schm(&m.ctx(), 0x2, area), Ok(()));
    for mbi in [0u16, 1] {
        let mut s = m.stsch(gr1(0));
        s.pmcw.flags = s.pmcw.flags.with_measurement_mode(0b10);
        s.pmcw.mbi = mbi;
        assert_eq!(m.msch(gr1(0), &s), Ok(Cc::Zero));
        sense_ids(&m, 10);
        let blk = m.mem.fetch(area + u64::from(mbi) * 32, 2).unwrap();
        assert_eq!(u16::from_be_bytes([blk[0], blk[1]]), 10, "mbi {mbi}");
    }
}

#[test]
fn kut_measurement_block_format1_alignment_and_count() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    assert_eq!(m.css.schm(&m.ctx(), 0x2, 0), Ok(()));
    let mb = 0x20000u64;
    let mut s = m.stsch(gr1(0));
    s.pmcw.flags = s.pmcw.flags.with_measurement_mode(0b10);
    s.pmcw.chars = s.pmcw.chars.with_mbfc(true);
    s.mba = mb + 1;
    assert_eq!(m.msch(gr1(0), &s), Err(ProgramCheck::Operand));
    s.mba = mb;
    assert_eq!(m.msch(gr1(0), &s), Ok(Cc::Zero));
    sense_ids(&m, 10);
    let blk = m.mem.fetch(mb, 4).unwrap();
    assert_eq!(u32::from_be_bytes(blk.try_into().unwrap()), 10);
}

#[test]
fn kut_msch_specification_and_reserved_pmcw_bits() {
    let m = Machine::new(1);
    let ctx = m.ctx();
    for off in [1, 2] {
        assert_eq!(m.css.msch(&ctx, gr1(0), SCHIB + off), Err(ProgramCheck::Specification));
    }
    for bit in [0u32, 1, 6, 7] {
        let mut s = m.stsch(gr1(0));
        s.pmcw.flags = zcss_ccw::pmcw::PmcwFlags::from_bits(s.pmcw.flags.into_bits() | (0x8000_0000 >> bit));
        assert_eq!(m.msch(gr1(0), &s), Err(ProgramCheck::Operand), "bit {bit}");
        let s = m.stsch(gr1(0));
        assert_eq!(
            s.pmcw.flags.into_bits() & (0x8000_0000 >> bit),
            0,
            "bit {bit} stays clear"
        );
    }
}

#[test]
fn kut_stcrw_specification_empty_and_rchp_report() {
    let m = Machine::new(1);
    let ctx = m.ctx();
    for off in [1, 2] {
        assert_eq!(m.css.stcrw(&ctx, SCRATCH + off), Err(ProgramCheck::Specification));
    }
    m.mem.store(SCRATCH, &[0xff; 4]).unwrap();
    assert_eq!(m.css.stcrw(&ctx, SCRATCH), Ok(Cc::One));
    assert_eq!(m.mem.fetch(SCRATCH, 4).unwrap(), [0; 4]);
    // The first installed CHPID (virtio: 0).
    assert_eq!(m.css.rchp(&ctx, 0x0000_0000), Ok(Cc::Zero));
    assert_eq!(m.css.stcrw(&ctx, SCRATCH), Ok(Cc::Zero));
    let crw = zcss_ccw::crw::Crw::from_be_bytes(m.mem.fetch(SCRATCH, 4).unwrap().try_into().unwrap());
    assert_eq!(crw.rsc(), 4, "channel-path report");
    m.mem.store(SCRATCH, &[0xff; 4]).unwrap();
    assert_eq!(m.css.stcrw(&ctx, SCRATCH), Ok(Cc::One));
    assert_eq!(m.mem.fetch(SCRATCH, 4).unwrap(), [0; 4]);
}

#[test]
fn kut_ssch_specification_and_invalid_orb() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    let ctx = m.ctx();
    for off in [1, 2] {
        assert_eq!(m.css.ssch(&ctx, gr1(0), ORB + off), Err(ProgramCheck::Specification));
    }
    m.mem.store(ORB, &[0xff; 32]).unwrap();
    assert_eq!(m.css.ssch(&ctx, gr1(0), ORB), Err(ProgramCheck::Operand));
}

#[test]
fn kut_stsch_specification_cc3_and_operand() {
    let m = Machine::new(1);
    let ctx = m.ctx();
    for off in [1, 2] {
        assert_eq!(m.css.stsch(&ctx, gr1(0), SCHIB + off), Err(ProgramCheck::Specification));
    }
    assert_eq!(m.css.stsch(&ctx, 0x0001_ffff, SCHIB), Ok(Cc::Three));
    assert_eq!(m.css.stsch(&ctx, 0x0000_ffff, SCHIB), Err(ProgramCheck::Operand));
}

#[test]
fn kut_pmcw_bit5_ignored_and_stored_as_zero() {
    let m = Machine::new(1);
    for set in [true, false] {
        let mut s = m.stsch(gr1(0));
        s.pmcw.flags = s.pmcw.flags.with_reserved_5(set);
        assert_eq!(m.msch(gr1(0), &s), Ok(Cc::Zero));
        assert!(!m.stsch(gr1(0)).pmcw.flags.reserved_5());
    }
}

#[test]
fn kut_tsch_specification_cc3_and_operand() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    let ctx = m.ctx();
    for off in [1, 2] {
        assert_eq!(m.css.tsch(&ctx, gr1(0), IRB + off), Err(ProgramCheck::Specification));
    }
    assert_eq!(m.css.tsch(&ctx, 0x0001_ffff, IRB), Ok(Cc::Three));
    assert_eq!(m.css.tsch(&ctx, 0x0000_ffff, IRB), Err(ProgramCheck::Operand));
    // The operand check comes before the specification check.
    assert_eq!(m.css.tsch(&ctx, 0x0000_ffff, IRB + 1), Err(ProgramCheck::Operand));
}

#[test]
fn kut_skey_chsc_scsc_key_controlled_protection() {
    let m = Machine::new(1);
    let mem = VecMemory::with_storage_keys(1 << 20);
    let block = CHSC_BLOCK;
    let mut req = vec![0u8; 16];
    req[0..2].copy_from_slice(&0x0010u16.to_be_bytes());
    req[2..4].copy_from_slice(&0x0010u16.to_be_bytes());
    mem.store(block, &req).unwrap();
    mem.set_storage_key(block, StorageKey::new(2, true));
    // Key mismatch with fetch protection: protection exception.
    let ctx = IoCtx::new(&mem).with_key(AccessKey::new(1));
    assert_eq!(m.css.chsc(&ctx, block), Err(ProgramCheck::Protection));
    // Without fetch protection the fetch works but the response store does not.
    mem.set_storage_key(block, StorageKey::new(2, false));
    assert_eq!(m.css.chsc(&ctx, block), Err(ProgramCheck::Protection));
    // Matching key, and key 0 (override), succeed.
    let ok = IoCtx::new(&mem).with_key(AccessKey::new(2));
    assert_eq!(m.css.chsc(&ok, block), Ok(Cc::Zero));
    assert_eq!(m.css.chsc(&IoCtx::new(&mem), block), Ok(Cc::Zero));
    let resp = mem.fetch(block + 0x10, 4).unwrap();
    assert_eq!(u16::from_be_bytes([resp[2], resp[3]]), 1);
    let _ = StatusControl::PEND;
}
