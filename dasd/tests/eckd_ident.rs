//! Identification, sense, path groups, reserve and subsystem functions of
//! the ECKD device.

mod eckd_harness;

use eckd_harness::*;
use zcss_ccw::SenseId;
use zcss_dasd::eckd::sense::SenseFormat;
use zcss_dasd::store::MemStore;
use zcss_dasd::{ControlUnit, DasdConfig, Model};

fn rig(cu: ControlUnit) -> Rig {
    Rig::cu(cu, MemStore::new(3339))
}

fn one(rig: &mut Rig, cmd: u8, flags: u8, count: u16) -> (zcss_ccw::Completion, Vec<u8>) {
    let mut p = Program::new();
    let a = p.inp(cmd, flags, count);
    let c = rig.run(&p);
    (c, rig.fetch(a, usize::from(count)))
}

#[test]
fn sense_id_of_3990_6_has_rcd_sii_and_rni_ciws() {
    let mut r = rig(ControlUnit::Model6);
    let (c, b) = one(&mut r, 0xe4, SLI, 256);
    assert!(clean(&c), "{c:?}");
    assert_eq!(c.count, 256 - 20);
    assert_eq!(&b[..8], &[0xff, 0x39, 0x90, 0xe9, 0x33, 0x90, 0x0a, 0]);
    assert_eq!(
        &b[8..20],
        &[0x40, 0xfa, 0x01, 0x00, 0x41, 0x27, 0x00, 0x04, 0x42, 0x3e, 0x00, 0x60]
    );
    let id = SenseId::decode(&b[..20]).unwrap();
    assert_eq!(id.find_ciw(0).map(|c| c.command()), Some(0xfa));
}

#[test]
fn sense_id_of_plain_3990_has_rcd_ciw_only() {
    let mut r = rig(ControlUnit::Plain);
    let (c, b) = one(&mut r, 0xe4, SLI, 256);
    assert_eq!(c.count, 256 - 12);
    assert_eq!(b[3], 0xc2);
    assert_eq!(&b[8..12], &[0x40, 0xfa, 0x01, 0x00]);
}

#[test]
fn read_device_characteristics_describes_each_model() {
    for m in Model::ALL {
        let cyl = m.cylinders();
        let mut rig = Rig::with(
            DasdConfig {
                model: m,
                ..DasdConfig::default()
            },
            Box::new(MemStore::new(cyl)),
        );
        let (c, b) = one(&mut rig, 0x64, 0, 64);
        assert!(clean(&c), "{c:?}");
        assert_eq!(&b[0..6], &[0x39, 0x90, 0xe9, 0x33, 0x90, m.model_byte()]);
        assert_eq!(u32::from(u16::from_be_bytes([b[12], b[13]])), cyl);
        assert_eq!(&b[14..22], &[0, 15, 0xe0, 0x00, 0xe5, 0xa2, 0x05, 0x94]);
        assert_eq!(&b[22..28], &[0x02, 0x22, 0x13, 0x09, 0x06, 0x74]);
        assert_eq!(&b[44..46], &[0xdf, 0xee]);
        assert_eq!(b[11], m.unit_type());
        assert_ne!(b[57], 0xff, "a real 3390, not Hercules' array code");
        assert_eq!(b[6] & 0x40, 0x40, "read track in LR (Linux raw-track access)");
    }
}

#[test]
fn read_device_characteristics_reports_alternate_cylinders_beyond_model() {
    let mut rig = Rig::with(DasdConfig::default(), Box::new(MemStore::new(3340)));
    let (_, b) = one(&mut rig, 0x64, 0, 64);
    assert_eq!(u16::from_be_bytes([b[12], b[13]]), 3339);
    assert_eq!(u16::from_be_bytes([b[30], b[31]]), 15);
}

#[test]
fn read_configuration_data_has_device_ned_and_gneq() {
    let mut rig = Rig::with(
        DasdConfig {
            unit_address: 0x21,
            ssid: 0x0120,
            serial: 42,
            ..DasdConfig::default()
        },
        Box::new(MemStore::new(10)),
    );
    let (c, b) = one(&mut rig, 0xfa, 0, 256);
    assert!(clean(&c), "{c:?}");
    // The device NED: identifier 3, descriptor 1, type 003390.
    assert_eq!(b[0] >> 6, 3);
    assert_eq!(b[1], 1);
    assert_eq!(&b[4..10], &[0xf0, 0xf0, 0xf3, 0xf3, 0xf9, 0xf0]);
    assert_eq!(&b[28..30], &[0xf4, 0xf2]);
    assert_eq!(b[31], 0x21);
    // Exactly one NED with descriptor 1 (Linux takes the last one it sees).
    assert_eq!((0..7).filter(|i| b[32 * i] >> 6 == 3 && b[32 * i + 1] == 1).count(), 1);
    // GNEQ: identifier 2, timeout, SSID.
    assert_eq!(b[224] >> 6, 2);
    assert_eq!(b[230], 0x1e);
    assert_eq!(&b[232..234], &[0x01, 0x20]);
    assert_eq!(b[235], 0x21);
}

#[test]
fn sense_after_unit_check_returns_it_once_then_no_error_sense() {
    let mut r = rig(ControlUnit::Model6);
    let (c, _) = one(&mut r, 0x06, 0, 8);
    assert_eq!(c.dstat.into_bits(), 0x0e);
    let (c, b) = one(&mut r, 0x04, 0, 32);
    assert!(clean(&c), "{c:?}");
    assert_eq!((b[0], b[7], b[27]), (0x80, 2, 0x80));
    let (_, b) = one(&mut r, 0x04, 0, 32);
    assert_eq!((b[0], b[1], b[27]), (0, 0, 0x80));
}

#[test]
fn sense_pending_is_reset_by_another_command() {
    let mut r = rig(ControlUnit::Model6);
    one(&mut r, 0x06, 0, 8);
    one(&mut r, 0x03, 0, 0);
    let (_, b) = one(&mut r, 0x04, 0, 32);
    assert_eq!(b[0], 0);
}

#[test]
fn native_sense_format_has_program_action_code() {
    let mut rig = Rig::with(
        DasdConfig {
            sense_format: SenseFormat::Native32,
            ..DasdConfig::default()
        },
        Box::new(MemStore::new(10)),
    );
    let (c, _) = one(&mut rig, 0x06, 0, 8);
    let s = sense(&c);
    assert_eq!((s[0], s[25], s[27]), (0x80, 1, 0));
}

#[test]
fn invalid_command_is_rejected_with_message_1() {
    let mut r = rig(ControlUnit::Model6);
    for cmd in [0x01, 0x09, 0xf9, 0xea] {
        let (c, _) = one(&mut r, cmd, SLI, 8);
        let s = sense(&c);
        assert_eq!((s[0], s[7]), (0x80, 1), "{cmd:#x}");
    }
}

#[test]
fn set_path_group_id_groups_path_and_sense_path_group_id_reports_it() {
    let mut r = rig(ControlUnit::Model6);
    let (_, b) = one(&mut r, 0x34, 0, 12);
    assert_eq!(b, vec![0; 12], "reset");
    let mut pgid = vec![0x80];
    pgid.extend_from_slice(&[7; 11]);
    let mut p = Program::new();
    p.out(0xaf, 0, &pgid);
    assert!(clean(&r.run(&p)));
    let (_, b) = one(&mut r, 0x34, 0, 12);
    assert_eq!(b[0], 0xc8, "grouped, multipath");
    assert_eq!(&b[1..], &[7; 11]);
    // Another path is still reset.
    r.lpum = 0x40;
    let (_, b) = one(&mut r, 0x34, 0, 12);
    assert_eq!(b[0], 0);
}

#[test]
fn reserve_blocks_other_paths_until_release() {
    let mut r = rig(ControlUnit::Model6);
    r.lpum = 0x80;
    let (c, b) = one(&mut r, 0xb4, 0, 32);
    assert!(clean(&c), "{c:?}");
    assert_eq!(b[27], 0x80, "sense bytes returned");
    r.lpum = 0x40;
    let (c, _) = one(&mut r, 0x03, 0, 0);
    assert_eq!(c.dstat.into_bits(), 0x10, "busy");
    let (_, b) = one(&mut r, 0x34, 0, 12);
    assert_eq!(b[0] & 0x30, 0x20, "reserved to another path");
    r.lpum = 0x80;
    let (_, b) = one(&mut r, 0x34, 0, 12);
    assert_eq!(b[0] & 0x30, 0x30, "reserved to this path");
    let (c, _) = one(&mut r, 0x94, 0, 32);
    assert!(clean(&c));
    r.lpum = 0x40;
    let (c, _) = one(&mut r, 0x03, 0, 0);
    assert!(clean(&c));
}

#[test]
fn unconditional_reserve_takes_the_reservation() {
    let mut r = rig(ControlUnit::Model6);
    r.lpum = 0x80;
    one(&mut r, 0xb4, 0, 32);
    r.lpum = 0x20;
    let (c, _) = one(&mut r, 0x14, 0, 32);
    assert!(clean(&c), "{c:?}");
    r.lpum = 0x80;
    let (c, _) = one(&mut r, 0x03, 0, 0);
    assert_eq!(c.dstat.into_bits(), 0x10);
}

#[test]
fn reserve_not_first_in_chain_is_rejected() {
    let mut r = rig(ControlUnit::Model6);
    let mut p = Program::new();
    p.raw(0x03, 0, 0, 0);
    p.inp(0xb4, 0, 32);
    let c = r.run(&p);
    assert_eq!(sense(&c)[7], 2);
}

#[test]
fn psf_prssd_feature_codes_then_rssd_returns_them() {
    let mut r = rig(ControlUnit::Model6);
    let mut p = Program::new();
    let mut prssd = [0u8; 12];
    prssd[0] = 0x18;
    prssd[6] = 0x41;
    p.out(0x27, 0, &prssd);
    let a = p.inp(0x3e, 0, 256);
    let c = r.run(&p);
    assert!(clean(&c), "{c:?}");
    let f = r.fetch(a, 256);
    assert_eq!((f[8], f[9], f[12]), (0x01, 0x20, 0x40));
    let mut r3 = rig(ControlUnit::Model3);
    let c = r3.run(&p);
    assert!(clean(&c));
    assert_eq!(r3.fetch(a, 256), vec![0; 256], "a 3990-3 offers no PREFIX");
}

#[test]
fn rssd_without_psf_is_rejected_and_bad_suborder_is_invalid_parameter() {
    let mut r = rig(ControlUnit::Model6);
    let (c, _) = one(&mut r, 0x3e, 0, 256);
    assert_eq!(sense(&c)[7], 2);
    let mut p = Program::new();
    let mut prssd = [0u8; 12];
    prssd[0] = 0x18;
    prssd[6] = 0x52;
    p.out(0x27, 0, &prssd);
    let c = r.run(&p);
    assert_eq!(sense(&c)[7], 4);
    let mut p = Program::new();
    p.out(0x27, 0, &[0x1d; 10]);
    let c = r.run(&p);
    assert_eq!(sense(&c)[7], 3, "SSC needs 66 bytes");
}

#[test]
fn sense_subsystem_status_only_first_in_chain() {
    let mut r = rig(ControlUnit::Model6);
    let (c, _) = one(&mut r, 0x54, 0, 44);
    assert!(clean(&c), "{c:?}");
    let mut p = Program::new();
    p.raw(0x03, 0, 0, 0);
    p.inp(0x54, 0, 44);
    let c = r.run(&p);
    assert_eq!(sense(&c)[7], 2);
}

#[test]
fn io_system_reset_drops_path_groups_and_reserve_but_clear_keeps_them() {
    use zcss_css::Device;
    let mut r = rig(ControlUnit::Model6);
    let mut pgid = vec![0x80];
    pgid.extend_from_slice(&[7; 11]);
    let mut p = Program::new();
    p.out(0xaf, 0, &pgid);
    assert!(clean(&r.run(&p)));
    one(&mut r, 0xb4, 0, 32);
    r.dev.subchannel_reset();
    let (_, b) = one(&mut r, 0x34, 0, 12);
    assert_eq!(b[0], 0xf8, "clear keeps grouped, reserved to this path");
    r.dev.io_system_reset();
    let (_, b) = one(&mut r, 0x34, 0, 12);
    assert_eq!(b, vec![0; 12], "reset state, no reservation");
    r.lpum = 0x40;
    let (c, _) = one(&mut r, 0x03, 0, 0);
    assert!(clean(&c), "another path is not blocked: {c:?}");
}

#[test]
fn saved_state_restores_path_groups_reserve_and_written_tracks_into_a_fresh_device() {
    use zcss_css::Device;
    let mut r = rig(ControlUnit::Model6);
    let mut pgid = vec![0x80];
    pgid.extend_from_slice(&[9; 11]);
    let mut p = Program::new();
    p.out(0xaf, 0, &pgid);
    assert!(clean(&r.run(&p)));
    one(&mut r, 0xb4, 0, 32);
    let t = zcss_dasd::track::TrackAddr::new(0, 3);
    let img = r.dev.store_mut().read(t).unwrap().to_vec();
    r.dev.store_mut().write(t, &img).unwrap();
    let state = r.dev.save_state().unwrap();
    let mut fresh = rig(ControlUnit::Model6);
    fresh.dev.restore_state(&state).unwrap();
    let (_, b) = one(&mut fresh, 0x34, 0, 12);
    assert_eq!(b[0], 0xf8, "grouped, reserved to this path");
    assert_eq!(&b[1..], &[9; 11]);
    assert_eq!(fresh.dev.save_state().unwrap(), state, "the same state again");
}

#[test]
fn state_of_another_volume_size_or_with_a_suspended_program_is_refused() {
    use zcss_ccw::{CcwDevice, ProgramEnd};
    use zcss_css::{Device, DeviceStateError};
    let mut r = rig(ControlUnit::Model6);
    let state = r.dev.save_state().unwrap();
    let mut small = Rig::cu(ControlUnit::Model6, MemStore::new(10));
    let e = small.dev.restore_state(&state).unwrap_err();
    assert!(
        matches!(&e, DeviceStateError::Invalid(m) if m.contains("3339 cylinders")),
        "{e}"
    );
    r.dev.program_end(ProgramEnd::Suspended);
    assert!(matches!(r.dev.save_state(), Err(DeviceStateError::Unsupported(_))));
}
