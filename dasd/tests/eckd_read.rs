//! Read commands and positioning of the ECKD device, through channel
//! programs run by the channel-program engine.

mod eckd_harness;

use eckd_harness::*;
use zcss_dasd::track::{TrackAddr, END_MARKER};
use zcss_dasd::ControlUnit;

const T0: TrackAddr = TrackAddr::new(0, 0);

fn rig_with(tracks: u64, n: u8, dl: u16) -> Rig {
    Rig::cu(ControlUnit::Model6, volume(10, first_tracks(tracks), n, dl))
}

#[test]
fn read_data_after_locate_record_returns_the_located_records() {
    let mut rig = rig_with(2, 12, 4096);
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 1)));
    p.out(0x47, 0, &lr(0x06, 0x80, 3, (0, 1), 4, 0, 4096));
    let a = [p.inp(0x86, 0, 4096), p.inp(0x86, 0, 4096), p.inp(0x86, 0, 4096)];
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    for (i, at) in a.iter().enumerate() {
        let r = u8::try_from(i + 4).unwrap();
        assert!(rig.fetch(*at, 4096) == pattern(TrackAddr::new(0, 1), r, 4096), "R{r}");
    }
}

#[test]
fn read_data_multitrack_in_domain_continues_on_next_track() {
    let mut rig = rig_with(3, 12, 4096);
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 2)));
    p.out(0x47, 0, &lr(0x06, 0x80, 2, (0, 0), 12, 0, 4096));
    let a = p.inp(0x86, 0, 4096);
    let b = p.inp(0x86, 0, 4096);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    assert!(rig.fetch(a, 4096) == pattern(T0, 12, 4096), "R12");
    assert!(
        rig.fetch(b, 4096) == pattern(TrackAddr::new(0, 1), 1, 4096),
        "next track R1"
    );
}

#[test]
fn read_data_single_track_in_domain_wraps_past_index() {
    let mut rig = rig_with(1, 3, 64);
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 0)));
    p.out(0x47, 0, &lr(0x06, 0, 4, (0, 0), 0, 0, 0));
    let a: Vec<u64> = (0..4).map(|_| p.inp(0x12, 0, 8)).collect();
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    let recs: Vec<u8> = a.iter().map(|&x| rig.fetch(x, 8)[4]).collect();
    assert_eq!(recs, vec![1, 2, 3, 1]);
}

#[test]
fn read_data_multitrack_leaving_extent_is_file_protected() {
    let mut rig = rig_with(2, 12, 4096);
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 0)));
    p.out(0x47, 0, &lr(0x06, 0x80, 2, (0, 0), 12, 0, 4096));
    p.inp(0x86, 0, 4096);
    p.inp(0x86, 0, 4096);
    let c = rig.run(&p);
    assert_eq!(c.dstat.into_bits(), 0x0e);
    let s = sense(&c);
    assert_eq!(s[1], 0x04, "file protected, no imprecise end: nothing was left");
}

#[test]
fn read_data_fault_with_records_left_reports_imprecise_end() {
    let mut rig = rig_with(2, 12, 4096);
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 0)));
    p.out(0x47, 0, &lr(0x06, 0x80, 4, (0, 0), 12, 0, 4096));
    p.inp(0x86, 0, 4096);
    p.inp(0x86, 0, 4096);
    p.inp(0x86, 0, 4096);
    p.inp(0x86, 0, 4096);
    let c = rig.run(&p);
    let s = sense(&c);
    assert_eq!(s[1], 0x05, "file protected with imprecise end");
    assert_eq!(s[3], 2, "two records of the domain not processed");
}

#[test]
fn read_count_outside_domain_multitrack_at_last_head_is_end_of_cylinder() {
    let mut rig = rig_with(15, 1, 16);
    let mut p = Program::new();
    p.out(0x07, 0, &[0, 0, 0, 0, 0, 14]);
    p.inp(0x92, 0, 8);
    p.inp(0x92, 0, 8);
    let c = rig.run(&p);
    assert_eq!(c.dstat.into_bits(), 0x0e);
    assert_eq!(sense(&c)[1], 0x20, "end of cylinder");
}

#[test]
fn read_without_positioning_is_rejected_with_message_2() {
    let mut rig = rig_with(1, 1, 16);
    let mut p = Program::new();
    p.inp(0x06, 0, 16);
    let c = rig.run(&p);
    let s = sense(&c);
    assert_eq!((s[0], s[7]), (0x80, 2));
}

#[test]
fn locate_record_search_not_on_track_is_no_record_found() {
    let mut rig = rig_with(1, 3, 16);
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 0)));
    p.out(0x47, 0, &lr(0x06, 0, 1, (0, 0), 9, 0, 0));
    p.inp(0x06, 0, 16);
    let c = rig.run(&p);
    let s = sense(&c);
    assert_eq!((s[0], s[1]), (0, 0x08));
    assert_eq!(c.cpa, cpa_after(1), "the LOCATE RECORD ended the chain");
}

#[test]
fn read_data_of_empty_track_is_no_record_found() {
    let mut rig = Rig::new(10);
    let mut p = Program::new();
    p.out(0x07, 0, &[0; 6]);
    p.inp(0x06, 0, 16);
    let c = rig.run(&p);
    assert_eq!(sense(&c)[1], 0x08);
}

#[test]
fn read_data_of_zero_length_record_is_unit_exception() {
    let mut s = volume(10, first_tracks(0), 0, 0);
    let mut b = zcss_dasd::track::TrackBuilder::default();
    b.start(T0).record(zcss_dasd::Count::new(0, 0, 1, 0, 0), &[], &[]);
    zcss_dasd::TrackStore::write(&mut s, T0, b.finish()).unwrap();
    let mut rig = Rig::cu(ControlUnit::Model6, s);
    let mut p = Program::new();
    p.out(0x07, 0, &[0; 6]);
    p.inp(0x06, SLI, 16);
    p.inp(0x06, SLI, 16);
    let c = rig.run(&p);
    assert_eq!(c.dstat.into_bits(), 0x0d, "CE|DE|UE");
    assert_eq!(c.cpa, cpa_after(1));
}

#[test]
fn search_id_tic_loop_finds_record_and_skips_tic() {
    let mut rig = rig_with(1, 5, 100);
    let mut p = Program::new();
    p.out(0x07, 0, &[0; 6]);
    p.out(0x31, 0, &[0, 0, 0, 0, 4]);
    p.tic(1);
    let a = p.inp(0x06, 0, 100);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    assert_eq!(rig.fetch(a, 100), pattern(T0, 4, 100));
}

#[test]
fn search_id_loop_for_missing_record_ends_no_record_found() {
    let mut rig = rig_with(1, 5, 100);
    let mut p = Program::new();
    p.out(0x07, 0, &[0; 6]);
    p.out(0x31, 0, &[0, 0, 0, 0, 9]);
    p.tic(1);
    p.inp(0x06, 0, 100);
    let c = rig.run(&p);
    assert_eq!(sense(&c)[1], 0x08);
}

#[test]
fn search_id_high_matches_first_record_above_argument() {
    let mut rig = rig_with(1, 5, 100);
    let mut p = Program::new();
    p.out(0x07, 0, &[0; 6]);
    p.out(0x51, 0, &[0, 0, 0, 0, 2]);
    p.tic(1);
    let a = p.inp(0x12, 0, 8);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    assert_eq!(rig.fetch(a, 8)[4], 4, "R3 matched; READ COUNT reads R4's count");
}

#[test]
fn search_key_equal_finds_keyed_record() {
    let mut s = volume(10, first_tracks(0), 0, 0);
    let mut b = zcss_dasd::track::TrackBuilder::default();
    b.start(T0);
    for r in 1..=3u8 {
        b.record(zcss_dasd::Count::new(0, 0, r, 0, 0), &[0xc0 + r; 4], &[r; 20]);
    }
    zcss_dasd::TrackStore::write(&mut s, T0, b.finish()).unwrap();
    let mut rig = Rig::cu(ControlUnit::Model6, s);
    let mut p = Program::new();
    p.out(0x07, 0, &[0; 6]);
    p.out(0x29, 0, &[0xc2; 4]);
    p.tic(1);
    let a = p.inp(0x06, 0, 20);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    assert_eq!(rig.fetch(a, 20), vec![2; 20]);
}

#[test]
fn search_ha_and_read_r0_and_read_ha_return_track_header() {
    let mut rig = rig_with(3, 1, 16);
    let mut p = Program::new();
    p.out(0x07, 0, &[0, 0, 0, 0, 0, 2]);
    p.out(0x39, 0, &[0, 0, 0, 2]);
    p.tic(1);
    let r0 = p.inp(0x16, 0, 16);
    let ha = p.inp(0x1a, 0, 5);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    assert_eq!(rig.fetch(r0, 16), [&count(0, 2, 0, 0, 8)[..], &[0; 8]].concat());
    assert_eq!(rig.fetch(ha, 5), vec![0, 0, 0, 0, 2]);
}

#[test]
fn read_ckd_reads_r0_after_home_address_and_then_r1() {
    let mut rig = rig_with(1, 2, 16);
    let mut p = Program::new();
    p.out(0x07, 0, &[0; 6]);
    p.inp(0x1a, 0, 5);
    let a = p.inp(0x1e, 0, 16);
    let b = p.inp(0x1e, 0, 24);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    assert_eq!(rig.fetch(a, 8), count(0, 0, 0, 0, 8).to_vec());
    assert_eq!(rig.fetch(b, 8), count(0, 0, 1, 0, 16).to_vec());
    assert_eq!(rig.fetch(b + 8, 16), pattern(T0, 1, 16));
}

#[test]
fn read_multiple_ckd_returns_every_record_to_index() {
    let mut rig = rig_with(1, 3, 10);
    let mut p = Program::new();
    p.out(0x07, 0, &[0; 6]);
    let a = p.inp(0x5e, SLI, 200);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    assert_eq!(c.count, 200 - 3 * 18);
    for r in 0..3u64 {
        let rec = u8::try_from(r + 1).unwrap();
        assert_eq!(rig.fetch(a + 18 * r, 8), count(0, 0, rec, 0, 10).to_vec());
    }
}

#[test]
fn read_ipl_reads_r1_of_track_zero_and_continues_the_chain() {
    let mut rig = rig_with(1, 3, 24);
    let mut p = Program::new();
    let a = p.inp(0x02, 0, 24);
    let b = p.inp(0x06, 0, 24);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    assert_eq!(rig.fetch(a, 24), pattern(T0, 1, 24));
    assert_eq!(rig.fetch(b, 24), pattern(T0, 2, 24));
}

#[test]
fn read_ipl_after_define_extent_is_rejected() {
    let mut rig = rig_with(1, 3, 24);
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 0)));
    p.inp(0x02, 0, 24);
    let c = rig.run(&p);
    assert_eq!(sense(&c)[7], 2);
}

#[test]
fn read_track_returns_records_and_end_marker_per_track() {
    let mut rig = rig_with(2, 2, 8);
    let mut p = Program::new();
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 1)));
    p.out(0x4b, 0, &lre(0x4c, 0, 2, (0, 0), 0, 0, 0, &[]));
    let a = p.inp(0xde, SLI, 200);
    let b = p.inp(0xde, SLI, 200);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    // R0 (16) + 2 × (8 + 8) + end marker.
    assert_eq!(rig.fetch(a, 8), count(0, 0, 0, 0, 8).to_vec());
    assert_eq!(rig.fetch(a + 16, 8), count(0, 0, 1, 0, 8).to_vec());
    assert_eq!(rig.fetch(a + 48, 8), END_MARKER.to_vec());
    assert_eq!(rig.fetch(b + 32, 8), count(0, 1, 2, 0, 8).to_vec());
}

#[test]
fn read_track_data_moves_data_areas_of_consecutive_tracks() {
    let mut rig = rig_with(2, 12, 4096);
    rig.idaw2 = true;
    let mut p = Program::new();
    let buf = DATA + 0x1_0000;
    // As Linux: no DX block size, the LRE length is the bytes of the last
    // track.
    p.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 1)));
    p.out(0x4b, 0, &lre(0x0c, 0x80, 2, (0, 0), 11, 8192, 0, &[]));
    // Track 0: R11, R12 (8 KiB); track 1: R1, R2 (8 KiB), via IDAWs.
    let idal = DATA + 0x8000;
    for i in 0..4u64 {
        rig.mem.store(idal + 8 * i, &(buf + 4096 * i).to_be_bytes()).unwrap();
    }
    p.raw(0xa6, IDA, 8192, idal);
    p.raw(0xa6, IDA, 8192, idal + 16);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    assert!(rig.fetch(buf, 4096) == pattern(T0, 11, 4096), "R11");
    assert!(rig.fetch(buf + 4096, 4096) == pattern(T0, 12, 4096), "R12");
    assert!(
        rig.fetch(buf + 8192, 4096) == pattern(TrackAddr::new(0, 1), 1, 4096),
        "1 R1"
    );
    assert!(
        rig.fetch(buf + 12288, 4096) == pattern(TrackAddr::new(0, 1), 2, 4096),
        "1 R2"
    );
}

#[test]
fn read_sector_and_set_sector_round_trip_position() {
    let mut rig = rig_with(1, 12, 4096);
    let mut p = Program::new();
    p.out(0x07, 0, &[0; 6]);
    p.out(0x31, 0, &[0, 0, 0, 0, 6]);
    p.tic(1);
    let s = p.inp(0x22, 0, 1);
    p.out(0x23, 0, &[0]);
    let a = p.inp(0x12, 0, 8);
    let c = rig.run(&p);
    assert!(clean(&c), "{c:?}");
    let sector = rig.fetch(s, 1)[0];
    assert!(sector > 80 && sector < 120, "R6 of twelve lies mid-track: {sector}");
    assert_eq!(rig.fetch(a, 8)[4], 1);
}

#[test]
fn seek_outside_extent_is_file_protected_and_invalid_seek_is_rejected() {
    let mut rig = rig_with(1, 1, 16);
    let mut p = Program::new();
    p.out(0x1f, 0, &[0x18]);
    p.out(0x07, 0, &[0, 0, 0, 1, 0, 0]);
    let c = rig.run(&p);
    assert_eq!(sense(&c)[1], 0x04, "seek forbidden by the file mask");
    let mut p = Program::new();
    p.out(0x07, 0, &[0, 0, 0, 10, 0, 0]);
    let c = rig.run(&p);
    assert_eq!((sense(&c)[0], sense(&c)[7]), (0x80, 4), "cylinder 10 of 10");
    let mut p = Program::new();
    p.out(0x07, 0, &[0, 0, 0, 1]);
    let c = rig.run(&p);
    assert_eq!((sense(&c)[0], sense(&c)[7]), (0x80, 3), "four bytes of six");
}

/// A store that fails: reads of track 0/1 give an I/O error, reads of
/// track 0/2 a damaged image.
struct Broken(zcss_dasd::MemStore, Vec<u8>);

impl zcss_dasd::TrackStore for Broken {
    fn cylinders(&self) -> u32 {
        self.0.cylinders()
    }
    fn read(&mut self, t: TrackAddr) -> Result<&[u8], zcss_dasd::StoreError> {
        match (t.cyl, t.head) {
            (0, 1) => Err(zcss_dasd::StoreError::Io(std::io::Error::other("disk gone"))),
            (0, 2) => {
                self.1 = vec![0, 0, 0, 0, 2, 0, 0, 0, 2, 1, 0, 0x10, 0];
                Ok(&self.1)
            }
            _ => self.0.read(t),
        }
    }
    fn write(&mut self, t: TrackAddr, image: &[u8]) -> Result<(), zcss_dasd::StoreError> {
        self.0.write(t, image)
    }
}

#[test]
fn read_of_failing_store_is_equipment_check_and_damaged_track_is_data_check() {
    let mut rig = Rig::with(
        zcss_dasd::DasdConfig::default(),
        Box::new(Broken(volume(10, first_tracks(3), 1, 16), Vec::new())),
    );
    for (head, b0) in [(1u8, 0x10u8), (2, 0x08)] {
        let mut p = Program::new();
        p.out(0x07, 0, &[0, 0, 0, 0, 0, head]);
        p.inp(0x06, 0, 16);
        let c = rig.run(&p);
        assert_eq!(c.dstat.into_bits(), 0x0e);
        assert_eq!(sense(&c)[0], b0, "head {head}");
    }
}
