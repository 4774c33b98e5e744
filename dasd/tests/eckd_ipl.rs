//! Initial program loading from the 3390 through the css (PoO chapter 17,
//! "Initial Program Loading"): the implied READ IPL reads IPL1's data
//! (PSW and two CCWs) to absolute 0, the chain continues with those CCWs,
//! which read IPL2 — the records of a CDL volume's track 0.

use zcss_ccw::sid::SubchannelId;
use zcss_ccw::VecMemory;
use zcss_css::ipl::IplOutcome;
use zcss_css::{Css, CssConfig, IoCtx};
use zcss_dasd::store::MemStore;
use zcss_dasd::track::{TrackAddr, TrackBuilder};
use zcss_dasd::{Count, Dasd, DasdConfig, TrackStore};

/// Track 0 of a CDL volume whose IPL1 holds `psw` and the format-0 CCWs
/// READ DATA (IPL2, 144 bytes to 0x2000, chained) and NOP, and IPL2 `text`.
fn volume(psw: [u8; 8], text: &[u8; 144]) -> MemStore {
    let mut ipl1 = psw.to_vec();
    ipl1.extend_from_slice(&[0x06, 0x00, 0x20, 0x00, 0x40, 0x00, 0x00, 144]);
    ipl1.extend_from_slice(&[0x03, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x01]);
    let mut s = MemStore::new(10);
    let mut b = TrackBuilder::default();
    b.start(TrackAddr::new(0, 0))
        .record(Count::new(0, 0, 1, 0, 0), &[0xc9, 0xd7, 0xd3, 0xf1], &ipl1)
        .record(Count::new(0, 0, 2, 0, 0), &[0xc9, 0xd7, 0xd3, 0xf2], text)
        .record(Count::new(0, 0, 3, 0, 0), &[0xe5, 0xd6, 0xd3, 0xf1], &[0x40; 80]);
    s.write(TrackAddr::new(0, 0), b.finish()).unwrap();
    s
}

#[test]
fn ipl_from_cdl_volume_loads_ipl1_and_ipl2_and_returns_psw() {
    let psw = [0x00, 0x08, 0x00, 0x00, 0x80, 0x00, 0x20, 0x00];
    let text: [u8; 144] = std::array::from_fn(|i| u8::try_from(i).unwrap());
    let css = Css::new(CssConfig::default());
    let sid = SubchannelId::new(0xfe, 0, 0).unwrap();
    let dev = Dasd::new(DasdConfig::for_devno(0x0120), Box::new(volume(psw, &text)));
    css.attach_cold(sid, 0x0120, Box::new(dev)).unwrap();
    let mem = VecMemory::new(1 << 20);
    let ctx = IoCtx::new(&mem);
    let out = css.ipl(&ctx, 0x0001_0000).unwrap();
    assert_eq!(out, IplOutcome::Loaded { psw });
    assert_eq!(mem.fetch(0, 8).unwrap(), psw.to_vec());
    assert_eq!(mem.fetch(0x2000, 144).unwrap(), text.to_vec());
    assert_eq!(mem.fetch(184, 4).unwrap(), vec![0, 1, 0, 0]);
}

#[test]
fn ipl_from_volume_without_ipl1_fails_with_unit_check() {
    let css = Css::new(CssConfig::default());
    let sid = SubchannelId::new(0xfe, 0, 0).unwrap();
    let dev = Dasd::new(DasdConfig::for_devno(0x0120), Box::new(MemStore::new(10)));
    css.attach_cold(sid, 0x0120, Box::new(dev)).unwrap();
    let mem = VecMemory::new(1 << 20);
    let out = css.ipl(&IoCtx::new(&mem), 0x0001_0000).unwrap();
    let IplOutcome::Failed { dstat, .. } = out else {
        panic!("{out:?}")
    };
    assert!(dstat.unit_check());
}
