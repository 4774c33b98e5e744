//! Write and format commands of the ECKD device: what reaches the volume,
//! and what is refused with which sense.

mod eckd_harness;

use eckd_harness::*;
use zcss_dasd::track::{Records, TrackAddr, END_MARKER, HA_LEN};
use zcss_dasd::{ControlUnit, Count};

const T0: TrackAddr = TrackAddr::new(0, 0);
const T1: TrackAddr = TrackAddr::new(0, 1);

fn counts(img: &[u8]) -> Vec<Count> {
    Records::new(img).map(|r| r.unwrap().count).collect()
}

/// DX + LR format write of `n` records of `dl` bytes from R0 of `first`,
/// over `tracks` tracks, `1D` per record and `9D` at each new track, as
/// Linux dasdfmt builds it.
fn format_program(first: (u16, u16), tracks: u16, n: u8, dl: u16) -> Program {
    let mut p = Program::new();
    let last = (first.0, first.1 + tracks - 1);
    let mut d = de(0x00, 0xc4, 0, first, last);
    d[7] = 0x04;
    p.out(0x63, 0, &d);
    p.out(
        0x47,
        0,
        &lr(0x03, 0x80, n * u8::try_from(tracks).unwrap(), first, 0, 0, dl),
    );
    for t in 0..tracks {
        for r in 1..=n {
            let cmd = if t > 0 && r == 1 { 0x9d } else { 0x1d };
            p.out(cmd, SLI, &count(first.0, first.1 + t, r, 0, dl));
        }
    }
    p
}

#[test]
fn format_write_formats_twelve_4k_records_per_track_over_tracks() {
    let mut rig = Rig::new(10);
    let c = rig.run(&format_program((0, 0), 2, 12, 4096));
    assert!(clean(&c), "{c:?}");
    for t in [T0, T1] {
        let cs = counts(&rig.track(t));
        assert_eq!(cs.len(), 13);
        assert_eq!(cs[12], Count::new(0, u16::try_from(t.head).unwrap(), 12, 0, 4096));
    }
}

#[test]
fn write_ckd_thirteenth_4k_record_is_invalid_track_format() {
    let mut rig = Rig::new(10);
    let c = rig.run(&format_program((0, 0), 1, 13, 4096));
    assert_eq!(c.dstat.into_bits(), 0x0e);
    let s = sense(&c);
    assert_eq!(s[1] & 0x40, 0x40, "invalid track format");
    assert_eq!(counts(&rig.track(T0)).len(), 13, "R1..R12 written, R13 not");
}

#[test]
fn write_update_data_rewrites_records_in_place() {
    let mut rig = Rig::cu(ControlUnit::Model6, volume(10, first_tracks(2), 12, 4096));
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x80, 0xc0, 0, (0, 0), (0, 1)));
    p.out(0x47, 0, &lr(0x01, 0x80, 2, (0, 0), 12, 0, 4096));
    p.out(0x85, 0, &[0xaa; 4096]);
    p.out(0x85, 0, &[0xbb; 4096]);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    let img = rig.track(T0);
    assert!(img[img.len() - 8 - 4096..img.len() - 8] == [0xaa; 4096], "record data");
    let img1 = rig.track(T1);
    let r1 = Records::new(&img1).nth(1).unwrap().unwrap();
    assert!(img1[r1.data_offset()..r1.end()] == [0xbb; 4096], "record data");
}

#[test]
fn write_data_with_length_other_than_tlf_is_invalid_track_format() {
    let mut rig = Rig::cu(ControlUnit::Model6, volume(10, first_tracks(1), 2, 512));
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x80, 0xc0, 0, (0, 0), (0, 0)));
    p.out(0x47, 0, &lr(0x01, 0x80, 1, (0, 0), 1, 0, 4096));
    p.out(0x85, 0, &[0xaa; 4096]);
    let c = rig.run(&p);
    assert_eq!(sense(&c)[1] & 0x40, 0x40);
    assert_eq!(counts(&rig.track(T0))[1].dl, 512);
    let img = rig.track(T0);
    let r1 = Records::new(&img).nth(1).unwrap().unwrap();
    assert_eq!(
        img[r1.data_offset()..r1.end()].to_vec(),
        pattern(T0, 1, 512),
        "unchanged"
    );
}

#[test]
fn locate_record_outside_extent_is_file_protected_and_writes_nothing() {
    let mut rig = Rig::cu(ControlUnit::Model6, volume(10, first_tracks(3), 1, 64));
    let before = rig.track(TrackAddr::new(0, 2));
    let mut p = Program::new();
    p.out(0x63, 0, &de(0xc0, 0xc0, 0, (0, 0), (0, 1)));
    p.out(0x47, 0, &lr(0x01, 0x80, 1, (0, 2), 1, 0, 64));
    p.out(0x85, 0, &[0xee; 64]);
    let c = rig.run(&p);
    assert_eq!(sense(&c)[1], 0x04);
    assert_eq!(rig.track(TrackAddr::new(0, 2)), before);
}

#[test]
fn locate_record_write_with_read_only_file_mask_is_rejected() {
    let mut rig = Rig::cu(ControlUnit::Model6, volume(10, first_tracks(1), 1, 64));
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 0)));
    p.out(0x47, 0, &lr(0x01, 0x80, 1, (0, 0), 1, 0, 64));
    p.out(0x85, 0, &[0xee; 64]);
    let c = rig.run(&p);
    assert_eq!((sense(&c)[0], sense(&c)[7]), (0x80, 2));
}

#[test]
fn format_write_with_update_only_mask_is_rejected() {
    let mut rig = Rig::new(10);
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x80, 0xc0, 0, (0, 0), (0, 0)));
    p.out(0x47, 0, &lr(0x03, 0, 1, (0, 0), 0, 0, 0));
    p.out(0x1d, SLI, &count(0, 0, 1, 0, 8));
    let c = rig.run(&p);
    assert_eq!((sense(&c)[0], sense(&c)[7]), (0x80, 2));
}

#[test]
fn write_data_outside_domain_needs_equal_search() {
    let mut rig = Rig::cu(ControlUnit::Model6, volume(10, first_tracks(1), 3, 32));
    let mut p = Program::new();
    p.out(0x07, 0, &[0; 6]);
    p.out(0x05, 0, &[1; 32]);
    let c = rig.run(&p);
    assert_eq!((sense(&c)[0], sense(&c)[7]), (0x80, 2));
    let mut p = Program::new();
    p.out(0x07, 0, &[0; 6]);
    p.out(0x31, 0, &[0, 0, 0, 0, 2]);
    p.tic(1);
    p.out(0x05, 0, &[7; 32]);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    let img = rig.track(T0);
    let r2 = Records::new(&img).nth(2).unwrap().unwrap();
    assert_eq!(&img[r2.data_offset()..r2.end()], &[7; 32][..]);
}

#[test]
fn write_ckd_short_count_pads_record_with_zeros() {
    let mut rig = Rig::new(10);
    let mut p = format_program((0, 0), 1, 1, 100);
    let _ = &mut p;
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    let img = rig.track(T0);
    let r1 = Records::new(&img).nth(1).unwrap().unwrap();
    assert_eq!(&img[r1.data_offset()..r1.end()], &[0u8; 100][..]);
}

#[test]
fn write_ckd_with_fewer_than_eight_bytes_is_count_too_small() {
    let mut rig = Rig::new(10);
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x00, 0xc0, 0, (0, 0), (0, 0)));
    p.out(0x47, 0, &lr(0x03, 0, 1, (0, 0), 0, 0, 0));
    p.out(0x1d, SLI, &count(0, 0, 1, 0, 8)[..6]);
    let c = rig.run(&p);
    assert_eq!((sense(&c)[0], sense(&c)[7]), (0x80, 3));
}

#[test]
fn write_r0_after_search_ha_replaces_r0_and_erases_track() {
    let mut rig = Rig::cu(ControlUnit::Model6, volume(10, first_tracks(1), 3, 32));
    let mut p = Program::new();
    p.out(0x1f, 0, &[0xc0]);
    p.out(0x07, 0, &[0; 6]);
    p.out(0x39, 0, &[0, 0, 0, 0]);
    p.tic(2);
    p.out(0x15, 0, &[&count(0, 0, 0, 0, 8)[..], &[9; 8]].concat());
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    let img = rig.track(T0);
    assert_eq!(counts(&img).len(), 1);
    assert_eq!(&img[HA_LEN + 8..HA_LEN + 16], &[9; 8]);
    assert_eq!(&img[HA_LEN + 16..], &END_MARKER);
}

#[test]
fn write_r0_with_nonstandard_count_is_invalid_parameter() {
    let mut rig = Rig::new(10);
    let mut p = Program::new();
    p.out(0x63, 0, &de(0xc0, 0xc0, 0, (0, 0), (0, 0)));
    p.out(0x47, 0, &lr(0x43, 0, 1, (0, 0), 0, 0, 0));
    p.out(0x15, 0, &[&count(0, 0, 0, 0, 16)[..], &[9; 8]].concat());
    let c = rig.run(&p);
    assert_eq!((sense(&c)[0], sense(&c)[7]), (0x80, 4));
}

#[test]
fn erase_truncates_the_track_after_the_current_record() {
    let mut rig = Rig::cu(ControlUnit::Model6, volume(10, first_tracks(1), 5, 32));
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x00, 0xc0, 0, (0, 0), (0, 0)));
    p.out(0x47, 0, &lr(0x0b, 0, 2, (0, 0), 0, 0, 0));
    p.out(0x05, 0, &[3; 8]);
    p.out(0x11, 0, &count(0, 0, 1, 0, 0));
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    let img = rig.track(T0);
    assert_eq!(counts(&img).len(), 1, "only R0 is left");
    assert_eq!(&img[HA_LEN + 8..HA_LEN + 16], &[3; 8], "R0's data updated");
}

#[test]
fn write_full_track_replaces_records_of_trackset() {
    let mut rig = Rig::cu(ControlUnit::Model6, volume(10, first_tracks(2), 3, 32));
    let mut track = count(0, 1, 0, 0, 8).to_vec();
    track.extend_from_slice(&[0; 8]);
    for r in 1..=2u8 {
        track.extend_from_slice(&count(0, 1, r, 0, 100));
        track.extend_from_slice(&[r; 100]);
    }
    track.extend_from_slice(&END_MARKER);
    let mut p = Program::new();
    p.out(0x63, 0, &de(0xc0, 0xc0, 0, (0, 0), (0, 1)));
    p.out(0x4b, 0, &lre(0x3f, 0, 1, (0, 1), 0, 0, 0x11, &[0x80]));
    p.out(0x95, SLI, &track);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    let img = rig.track(T1);
    assert_eq!(&img[HA_LEN..], &track[..]);
    assert_eq!(counts(&rig.track(T0)).len(), 4, "track 0 untouched");
}

#[test]
fn write_track_data_updates_records_across_tracks() {
    let mut rig = Rig::cu(ControlUnit::Model6, volume(10, first_tracks(2), 12, 4096));
    let mut p = Program::new();
    let mut d = de(0x80, 0xc0, 4096, (0, 0), (0, 1));
    d[7] = 0x40;
    p.out(0x63, 0, &d);
    p.out(0x4b, 0, &lre(0x3f, 0x80, 2, (0, 0), 12, 4096, 0x23, &[]));
    p.out(0xa5, 0, &[0x11; 4096]);
    p.out(0xa5, 0, &[0x22; 8192]);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    let img = rig.track(T0);
    assert!(img[img.len() - 8 - 4096..img.len() - 8] == [0x11; 4096], "record data");
    let img1 = rig.track(T1);
    for r in Records::new(&img1).skip(1).take(2) {
        let r = r.unwrap();
        assert!(img1[r.data_offset()..r.end()] == [0x22; 4096], "record data");
    }
    let r3 = Records::new(&img1).nth(3).unwrap().unwrap();
    assert!(
        img1[r3.data_offset()..r3.end()] == pattern(T1, 3, 4096)[..],
        "R3 unchanged"
    );
}

#[test]
fn prefix_with_lre_and_prefix_with_locate_record_read_and_write() {
    let mut rig = Rig::cu(ControlUnit::Model6, volume(10, first_tracks(1), 12, 4096));
    // Format 0 (DE only) + LR + WRITE UPDATE DATA.
    let mut p = Program::new();
    p.out(0xe7, 0, &pfx(&de(0x80, 0xc0, 0, (0, 0), (0, 0)), None));
    p.out(0x47, 0, &lr(0x01, 0x80, 1, (0, 0), 5, 0, 4096));
    p.out(0x85, 0, &[0x5a; 4096]);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    // Format 1 (DE + LRE read) + READ.
    let mut p = Program::new();
    let l = lre(0x06, 0x80, 1, (0, 0), 5, 4096, 0, &[]);
    p.out(0xe7, 0, &pfx(&de(0x40, 0xc0, 0, (0, 0), (0, 0)), Some(&l)));
    let a = p.inp(0x86, 0, 4096);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    assert!(rig.fetch(a, 4096) == vec![0x5a; 4096], "read back what was written");
}

#[test]
fn prefix_on_3990_3_is_invalid_command() {
    let mut rig = Rig::cu(ControlUnit::Model3, volume(10, first_tracks(1), 1, 16));
    let mut p = Program::new();
    p.out(0xe7, 0, &pfx(&de(0x40, 0xc0, 0, (0, 0), (0, 0)), None));
    let c = rig.run(&p);
    assert_eq!((sense(&c)[0], sense(&c)[7]), (0x80, 1));
}

#[test]
fn write_to_read_only_volume_is_write_inhibited() {
    struct ReadOnly(zcss_dasd::MemStore);
    impl zcss_dasd::TrackStore for ReadOnly {
        fn cylinders(&self) -> u32 {
            self.0.cylinders()
        }
        fn read(&mut self, t: TrackAddr) -> Result<&[u8], zcss_dasd::StoreError> {
            self.0.read(t)
        }
        fn write(&mut self, _t: TrackAddr, _i: &[u8]) -> Result<(), zcss_dasd::StoreError> {
            Err(zcss_dasd::StoreError::ReadOnly)
        }
        fn update(&mut self, _t: TrackAddr, _o: usize, _d: &[u8]) -> Result<(), zcss_dasd::StoreError> {
            Err(zcss_dasd::StoreError::ReadOnly)
        }
    }
    let mut rig = Rig::with(
        zcss_dasd::DasdConfig::default(),
        Box::new(ReadOnly(volume(10, first_tracks(1), 1, 16))),
    );
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x80, 0xc0, 0, (0, 0), (0, 0)));
    p.out(0x47, 0, &lr(0x01, 0x80, 1, (0, 0), 1, 0, 16));
    p.out(0x85, 0, &[1; 16]);
    let c = rig.run(&p);
    assert_eq!(sense(&c)[1], 0x02, "write inhibited");
}
