//! A model of Linux's DASD stack driving the 3390 through a real channel
//! subsystem: cio's device recognition and path grouping, `dasd_eckd`'s
//! characteristics check, volume analysis, dasdfmt's CDL format, the
//! label writes, and block I/O through DEFINE EXTENT + LOCATE RECORD +
//! READ/WRITE and through PREFIX (single-record and track mode), with the
//! data verified (shared/spec/dasd-notes.md §4). The driver model is
//! `zcss_dasd::linux::LinuxDasd`, the engine of `zcss dasd format`, shared
//! with the passthrough tests of `zcss-vfio-ccw`.
//!
//! Every program runs through `Css::ssch`, the I/O interruption and
//! `Css::tsch`, with concurrent sense enabled as Linux does; the device
//! sits on CHPID 0x01 of type FICON.

use std::sync::Arc;

use zcss_dasd::linux::cmd::*;
use zcss_dasd::linux::{CssChannel, DiskLayout, Intensity, Layout, LinuxDasd};
use zcss_dasd::mock::{driver_for, linux_dasd, round_trip, write_ipl_records};
use zcss_dasd::store::MemStore;
use zcss_dasd::track::{Records, TrackAddr};
use zcss_dasd::{ControlUnit, Dasd, DasdConfig, TrackStore};

type Linux = LinuxDasd<CssChannel>;

const CDL: Intensity = Intensity::Format(DiskLayout::Cdl);

/// Discovery, analysis, CDL format of `tracks` tracks, labels, and block
/// I/O verified, for a 3390 behind `cu`; returns the guest.
fn session(cu: ControlUnit, tracks: u32) -> Linux {
    let mut l = driver_for(linux_dasd(cu, 20));
    l.enable().unwrap();
    assert_eq!(l.opm(), 0x80);
    let id = l.recognize().unwrap();
    assert_eq!(&id[..7], &[0xff, 0x39, 0x90, cu.model_byte(), 0x33, 0x90, 0x0a]);
    let rcd_ciw = id[8..40].chunks(4).find(|c| c[0] & 0xcf == 0x40).expect("RCD CIW");
    assert_eq!(rcd_ciw[1], RCD);
    l.check_characteristics().unwrap();
    assert_eq!(l.cylinders(), 20);
    assert_eq!(u16::from_be_bytes([l.rdc()[14], l.rdc()[15]]), 15);
    assert_eq!(l.ned().unwrap()[31], 0x20);
    assert_eq!(l.analyze().unwrap(), Layout::Unformatted);

    // dasdfmt: one request per cylinder.
    let mut t = 0;
    while t < tracks {
        let stop = (t + 14).min(tracks - 1);
        l.format_request(t, stop, 4096, CDL)
            .unwrap_or_else(|e| panic!("format {t}..={stop}: {e}"));
        t = stop + 1;
    }
    assert_eq!(l.analyze().unwrap(), Layout::Cdl(4096));
    assert_eq!(l.blocks_per_track(), 12);

    // A bootstrap: IPL1 and IPL2 (key + data of records 1 and 2).
    let mut ipl1 = [0u8; 24];
    ipl1[0] = 1;
    let mut ipl2 = [0u8; 144];
    ipl2[0] = 2;
    write_ipl_records(&mut l, &ipl1, &ipl2);
    assert_eq!(l.read_bytes(0, 5).unwrap(), [0xc9, 0xd7, 0xd3, 0xf1, 1]);
    assert_eq!(l.read_bytes(4096, 5).unwrap(), [0xc9, 0xd7, 0xd3, 0xf2, 2]);
    l
}

#[test]
fn linux_session_on_3990_6_uses_prefix_and_track_mode() {
    let mut l = session(ControlUnit::Model6, 45);
    assert!(l.uses_prefix());
    let before = l.commands().len();
    // Track mode across three tracks (blocks 30..65), then CDL special
    // blocks through PREFIX + LOCATE RECORD per block.
    round_trip(&mut l, 30, 35);
    assert!(l.commands()[before..].contains(&WRITE_TRACK_DATA));
    assert!(l.commands()[before..].contains(&READ_TRACK_DATA));
    assert!(!l.commands()[before..].contains(&DEFINE_EXTENT));
    let before = l.commands().len();
    round_trip(&mut l, 3, 30);
    assert!(l.commands()[before..].contains(&PFX));
    assert!(l.commands()[before..].contains(&WRITE_KD_MT));
    assert!(l.commands()[before..].contains(&READ_KD_MT));
}

#[test]
fn linux_session_on_3990_3_uses_define_extent_and_locate_record() {
    let mut l = session(ControlUnit::Model3, 45);
    assert!(!l.uses_prefix());
    let before = l.commands().len();
    round_trip(&mut l, 30, 35);
    round_trip(&mut l, 0, 40);
    let t = &l.commands()[before..];
    assert!(t.contains(&DEFINE_EXTENT) && t.contains(&LOCATE_RECORD));
    assert!(t.contains(&WRITE_MT) && t.contains(&READ_MT));
    assert!(!t.contains(&PFX) && !t.contains(&LOCATE_RECORD_EXT));
}

#[test]
fn linux_session_on_plain_3990_formats_and_round_trips() {
    let mut l = session(ControlUnit::Plain, 30);
    round_trip(&mut l, 24, 12);
}

#[test]
fn linux_discovery_issues_dasd_eckd_sequence() {
    let mut l: Linux = driver_for(linux_dasd(ControlUnit::Model6, 10));
    l.enable().unwrap();
    l.recognize().unwrap();
    l.check_characteristics().unwrap();
    // SENSE ID; SNID, SPID, SNID (path 0x80); RCD; PSF SSC; RCD; PSF+RSSD
    // features; PSF 52 (rejected, RSSD not reached); PSF 53 (same); RDC;
    // PSF+RSSD unit address configuration (which says base device).
    assert_eq!(
        l.commands(),
        vec![0xe4, 0x34, 0xaf, 0x34, RCD, PSF, RCD, PSF, RSSD, PSF, RSSD, PSF, RSSD, RDC, PSF, RSSD]
    );
}

/// A store the test keeps a handle on while the css owns the device.
#[derive(Clone)]
struct Shared(Arc<parking_lot::Mutex<MemStore>>, Vec<u8>);

impl TrackStore for Shared {
    fn cylinders(&self) -> u32 {
        self.0.lock().cylinders()
    }
    fn read(&mut self, t: TrackAddr) -> Result<&[u8], zcss_dasd::StoreError> {
        let img = self.0.lock().read(t)?.to_vec();
        self.1 = img;
        Ok(&self.1)
    }
    fn write(&mut self, t: TrackAddr, image: &[u8]) -> Result<(), zcss_dasd::StoreError> {
        self.0.lock().write(t, image)
    }
    fn update(&mut self, t: TrackAddr, offset: usize, data: &[u8]) -> Result<(), zcss_dasd::StoreError> {
        self.0.lock().update(t, offset, data)
    }
}

#[test]
fn linux_format_writes_cdl_track_layout_and_labels() {
    let store = Shared(Arc::new(parking_lot::Mutex::new(MemStore::new(20))), Vec::new());
    let cfg = DasdConfig {
        cu: ControlUnit::Model3,
        ..DasdConfig::for_devno(0x0120)
    };
    let mut l = driver_for(Dasd::new(cfg, Box::new(store.clone())));
    assert_eq!(l.online().unwrap(), Layout::Unformatted);
    l.format_request(0, 14, 4096, CDL).unwrap();
    let mut s = store.0.lock();
    let counts = |s: &mut MemStore, t: TrackAddr| -> Vec<zcss_dasd::Count> {
        Records::new(s.read(t).unwrap()).map(|r| r.unwrap().count).collect()
    };
    let t0 = counts(&mut s, TrackAddr::new(0, 0));
    assert_eq!(t0.len(), 13);
    assert_eq!((t0[1].kl, t0[1].dl, t0[2].dl, t0[3].dl), (4, 24, 144, 80));
    assert_eq!((t0[4].kl, t0[4].dl, t0[12].rec), (0, 4096, 12));
    let t1 = counts(&mut s, TrackAddr::new(0, 1));
    assert!(t1[1..].iter().all(|c| (c.kl, c.dl) == (44, 96)));
    assert_eq!(t1.len(), 13);
    let t14 = counts(&mut s, TrackAddr::new(0, 14));
    assert_eq!(t14.len(), 13);
    assert_eq!(t14[1], zcss_dasd::Count::new(0, 14, 1, 0, 4096));
    assert_eq!(counts(&mut s, TrackAddr::new(1, 0)).len(), 1, "beyond the request");
}
