//! Command-chain rules of the 3990: DEFINE EXTENT once, LOCATE RECORD
//! after an extent, domain counts, parameter validation, and the sense
//! each violation presents.

mod eckd_harness;

use eckd_harness::*;
use zcss_dasd::ControlUnit;

fn rig() -> Rig {
    Rig::cu(ControlUnit::Model6, volume(10, first_tracks(2), 12, 4096))
}

fn reject(c: &zcss_ccw::Completion) -> (u8, u8) {
    let s = sense(c);
    (s[0], s[7])
}

#[test]
fn define_extent_twice_is_invalid_sequence() {
    let mut r = rig();
    let mut p = Program::new();
    let d = de(0x40, 0xc0, 0, (0, 0), (0, 1));
    p.out(0x63, 0, &d);
    p.out(0x63, 0, &d);
    let c = r.run(&p);
    assert_eq!(reject(&c), (0x80, 2));
    assert_eq!(c.cpa, cpa_after(1));
}

#[test]
fn define_extent_after_set_file_mask_is_invalid_sequence() {
    let mut r = rig();
    let mut p = Program::new();
    p.out(0x1f, 0, &[0x40]);
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 1)));
    assert_eq!(reject(&r.run(&p)), (0x80, 2));
}

#[test]
fn define_extent_short_is_count_too_small() {
    let mut r = rig();
    let mut p = Program::new();
    p.out(0x63, SLI, &de(0x40, 0xc0, 0, (0, 0), (0, 1))[..12]);
    assert_eq!(reject(&r.run(&p)), (0x80, 3));
}

#[test]
fn define_extent_with_extended_parameters_takes_32_bytes() {
    let mut r = rig();
    let mut d = de(0x40, 0xc0, 0, (0, 0), (0, 1)).to_vec();
    d[7] = 0x0a;
    let mut p = Program::new();
    p.out(0x63, SLI, &d);
    assert_eq!(reject(&r.run(&p)), (0x80, 3), "16 of 32 bytes");
    d.extend_from_slice(&[0; 16]);
    let mut p = Program::new();
    p.out(0x63, SLI, &d);
    p.out(0x47, 0, &lr(0x06, 0x80, 1, (0, 0), 1, 0, 4096));
    p.inp(0x86, 0, 4096);
    let c = r.run(&p);
    assert!(clean(&c), "{c:?}");
}

#[test]
fn define_extent_invalid_parameters_are_rejected_with_message_4() {
    let mut r = rig();
    for d in [
        de(0x40, 0x00, 0, (0, 0), (0, 1)),  // not ECKD mode
        de(0x60, 0xc0, 0, (0, 0), (0, 1)),  // reserved mask bit
        de(0x40, 0xc0, 0, (0, 1), (0, 0)),  // begin after end
        de(0x40, 0xc0, 0, (0, 0), (10, 0)), // beyond the volume
        de(0x40, 0xc0, 60000, (0, 0), (0, 1)),
    ] {
        let mut p = Program::new();
        p.out(0x63, 0, &d);
        assert_eq!(reject(&r.run(&p)), (0x80, 4), "{d:02x?}");
    }
}

#[test]
fn locate_record_without_define_extent_is_invalid_sequence() {
    let mut r = rig();
    let mut p = Program::new();
    p.out(0x47, 0, &lr(0x06, 0x80, 1, (0, 0), 1, 0, 4096));
    assert_eq!(reject(&r.run(&p)), (0x80, 2));
}

#[test]
fn locate_record_invalid_parameters_are_rejected_with_message_4() {
    let mut r = rig();
    for l in [
        lr(0x06, 0x80, 0, (0, 0), 1, 0, 4096),   // count zero
        lr(0x4b, 0x80, 1, (0, 0), 1, 0, 4096),   // write track from the home address
        lr(0x06, 0x80, 1, (0, 15), 1, 0, 4096),  // head 15
        lr(0x06, 0x80, 1, (0, 0), 1, 250, 4096), // sector 250
        lr(0x3f, 0x00, 1, (0, 0), 1, 0, 0),      // extended op in LR
    ] {
        let mut p = Program::new();
        p.out(0x63, 0, &de(0xc0, 0xc0, 0, (0, 0), (0, 1)));
        p.out(0x47, 0, &l);
        assert_eq!(reject(&r.run(&p)), (0x80, 4), "{l:02x?}");
    }
}

#[test]
fn locate_record_tlf_above_block_size_is_invalid_parameter() {
    let mut r = rig();
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 512, (0, 0), (0, 1)));
    p.out(0x47, 0, &lr(0x06, 0x80, 1, (0, 0), 1, 0, 4096));
    assert_eq!(reject(&r.run(&p)), (0x80, 4));
}

#[test]
fn locate_record_inside_domain_is_invalid_sequence() {
    let mut r = rig();
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 1)));
    p.out(0x47, 0, &lr(0x06, 0x80, 2, (0, 0), 1, 0, 4096));
    p.inp(0x86, 0, 4096);
    p.out(0x47, 0, &lr(0x06, 0x80, 1, (0, 0), 1, 0, 4096));
    assert_eq!(reject(&r.run(&p)), (0x80, 2));
}

#[test]
fn nop_inside_domain_is_invalid_sequence() {
    let mut r = rig();
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 1)));
    p.out(0x47, 0, &lr(0x06, 0x80, 2, (0, 0), 1, 0, 4096));
    p.raw(0x03, 0, 0, 0);
    assert_eq!(reject(&r.run(&p)), (0x80, 2));
}

#[test]
fn write_in_read_domain_is_invalid_sequence() {
    let mut r = rig();
    let mut p = Program::new();
    p.out(0x63, 0, &de(0xc0, 0xc0, 0, (0, 0), (0, 1)));
    p.out(0x47, 0, &lr(0x06, 0x80, 1, (0, 0), 1, 0, 4096));
    p.out(0x85, 0, &[0; 4096]);
    assert_eq!(reject(&r.run(&p)), (0x80, 2));
    assert_eq!(
        r.track(zcss_dasd::TrackAddr::new(0, 0)).len(),
        5 + 16 + 12 * 4104 + 8,
        "unchanged"
    );
}

#[test]
fn domain_not_finished_when_chain_ends_is_operation_incomplete() {
    let mut r = rig();
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 1)));
    p.out(0x47, 0, &lr(0x06, 0x80, 3, (0, 0), 1, 0, 4096));
    p.inp(0x86, 0, 4096);
    let c = r.run(&p);
    let s = sense(&c);
    assert_eq!((s[0], s[1], s[7]), (0x81, 0, 2));
    assert_eq!(s[3], 2, "two records of the domain left");
}

#[test]
fn locate_record_extended_on_plain_3990_is_invalid_command() {
    let mut r = Rig::cu(ControlUnit::Plain, volume(10, first_tracks(1), 1, 16));
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 0)));
    p.out(0x4b, 0, &lre(0x0c, 0, 1, (0, 0), 0, 0, 0, &[]));
    assert_eq!(reject(&r.run(&p)), (0x80, 1));
}

#[test]
fn set_file_mask_reserved_bit_is_invalid_parameter() {
    let mut r = rig();
    let mut p = Program::new();
    p.out(0x1f, 0, &[0x20]);
    assert_eq!(reject(&r.run(&p)), (0x80, 4));
}

#[test]
fn diagnostic_control_without_authorization_is_message_5() {
    let mut r = rig();
    let mut p = Program::new();
    p.raw(0xf3, 0, 0, 0);
    assert_eq!(reject(&r.run(&p)), (0x80, 5));
}

#[test]
fn chain_state_does_not_survive_the_program() {
    let mut r = rig();
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 1)));
    assert!(clean(&r.run(&p)));
    let mut p = Program::new();
    p.out(0x47, 0, &lr(0x06, 0x80, 1, (0, 0), 1, 0, 4096));
    assert_eq!(reject(&r.run(&p)), (0x80, 2), "the extent ended with its program");
}

#[test]
fn read_into_storage_outside_memory_ends_with_program_check_not_unit_check() {
    let mut r = rig();
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 1)));
    p.out(0x47, 0, &lr(0x06, 0x80, 1, (0, 0), 1, 0, 4096));
    p.raw(0x86, 0, 4096, MEM - 100);
    let c = r.run(&p);
    assert!(c.cstat.program_check(), "{c:?}");
    assert!(!c.dstat.unit_check());
}

#[test]
fn suspended_program_keeps_its_domain_on_resume() {
    use zcss_ccw::{CcwAddress, Engine, NoHooks, Orb, OrbControls};
    let mut r = rig();
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 1)));
    p.out(0x47, 0, &lr(0x06, 0x80, 2, (0, 0), 1, 0, 4096));
    p.inp(0x86, 0, 4096);
    let b = p.inp(0x86, 0x02, 4096); // S: suspend before the second READ
    p.store(&r.mem);
    let orb = Orb {
        ctrl: OrbControls::new().with_format1(true).with_suspend(true).with_lpm(0x80),
        cpa: u32::try_from(PROG).unwrap(),
        ..Orb::default()
    };
    let e = Engine::default();
    let c = e.start(&r.mem, &orb, 0x80, &mut r.dev, &mut NoHooks);
    assert_eq!(c.ending, zcss_ccw::Ending::Suspended, "{c:?}");
    // The program clears the S flag and resumes at the suspended CCW.
    r.mem.store(PROG + 8 * 3 + 1, &[0x00]).unwrap();
    let c = e.resume(&r.mem, &orb, CcwAddress::new(c.cpa - 8), 0x80, &mut r.dev, &mut NoHooks);
    assert!(clean(&c), "{c:?}");
    assert!(
        r.fetch(b, 4096) == pattern(zcss_dasd::TrackAddr::new(0, 0), 2, 4096),
        "R2 read after resume"
    );
}
