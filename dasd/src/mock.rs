//! Test helpers (feature `test-utils`) around the Linux driver model
//! ([`crate::linux`]), for this crate's tests and for other crates that
//! run the same guest against the device another way (passed through
//! vfio-ccw, …): the 3390 the driver's tests use, the driver on a channel
//! subsystem of its own, a data pattern, and the Linux sessions the tests
//! run (discovery and dasdfmt's CDL format one cylinder per request, the
//! bootstrap records, block round trips with the data verified).
//!
//! The sessions panic on what Linux would treat as an I/O error (they are
//! test helpers); the driver itself returns errors.

use std::sync::Arc;

use zcss_ccw::sid::SubchannelId;
use zcss_ccw::VecMemory;
use zcss_css::{chpid_type, ChannelPaths, Css};

use crate::linux::{Channel, CssChannel, DiskLayout, Intensity, Layout, LinuxDasd};
use crate::store::MemStore;
use crate::track::TrackAddr;
use crate::{ControlUnit, Dasd, DasdConfig};

/// Where the tests keep things in guest storage.
pub mod layout {
    /// The driver's control blocks ([`crate::linux::AREA_LEN`] bytes).
    pub const AREA: u64 = 0x1_0000;
    /// Block buffers the sessions write from.
    pub const BUF: u64 = 0x10_0000;
    /// Block buffers the sessions read into.
    pub const RBUF: u64 = 0x30_0000;
    /// Storage of a test guest.
    pub const MEM: u64 = 8 << 20;
}

/// A 3390 behind `cu` on an empty in-memory volume of `cylinders`
/// cylinders, device number 0x0120, on CHPID 0x01 (FICON) — the device
/// the driver's tests use.
#[must_use]
pub fn linux_dasd(cu: ControlUnit, cylinders: u32) -> Dasd {
    let cfg = DasdConfig {
        cu,
        paths: ChannelPaths::single(0x01, chpid_type::FICON),
        ..DasdConfig::for_devno(0x0120)
    };
    Dasd::new(cfg, Box::new(MemStore::new(cylinders)))
}

/// Subchannel fe.0.0000 of a css with the default configuration holding
/// `dev` (device number 0x0120), with [`layout::MEM`] of storage.
///
/// # Panics
/// If the device cannot be attached.
#[must_use]
pub fn css_channel(dev: Dasd) -> CssChannel {
    let css = Css::default();
    let sid = SubchannelId {
        cssid: 0xfe,
        ssid: 0,
        schno: 0,
    };
    css.attach_cold(sid, 0x0120, Box::new(dev)).expect("attach the DASD");
    CssChannel::new(css, Arc::new(VecMemory::new(layout::MEM)), sid)
}

/// Linux's driver on `dev` alone ([`css_channel`]), its control blocks at
/// [`layout::AREA`]; not enabled yet.
#[must_use]
pub fn driver_for(dev: Dasd) -> LinuxDasd<CssChannel> {
    LinuxDasd::new(css_channel(dev), layout::AREA)
}

/// The data of block `t`, record `r`: a pattern that differs per track and
/// record.
#[must_use]
pub fn pattern(t: TrackAddr, r: u8, len: usize) -> Vec<u8> {
    let seed = t.index().wrapping_mul(31).wrapping_add(u64::from(r) * 7);
    (0..len as u64)
        .map(|i| u8::try_from(seed.wrapping_add(i) % 251).unwrap_or(0))
        .collect()
}

/// Sets the device online (it must be unformatted), formats the first
/// `tracks` tracks CDL with 4 KiB blocks one cylinder per request
/// (dasdfmt's `-r 1` steps, without its labels), and checks that the
/// analysis finds CDL.
///
/// # Panics
/// If a step fails or finds what Linux would not.
pub fn discover_and_format<C: Channel>(l: &mut LinuxDasd<C>, tracks: u32) {
    assert_eq!(l.online().expect("online"), Layout::Unformatted);
    let mut t = 0;
    while t < tracks {
        let stop = (t + 14).min(tracks - 1);
        l.format_request(t, stop, 4096, Intensity::Format(DiskLayout::Cdl))
            .unwrap_or_else(|e| panic!("format {t}..={stop}: {e}"));
        t = stop + 1;
    }
    assert_eq!(l.analyze().expect("analysis"), Layout::Cdl(4096));
}

/// A bootstrap as a boot loader installer writes it through the block
/// device of a CDL volume: IPL1 (key, then `ipl1`: the IPL PSW and two
/// CCWs) as block 0 and IPL2 (key, then `ipl2`) as block 1.
///
/// # Panics
/// If a write fails.
pub fn write_ipl_records<C: Channel>(l: &mut LinuxDasd<C>, ipl1: &[u8; 24], ipl2: &[u8; 144]) {
    let bs = u64::from(l.layout().block_size().expect("formatted"));
    let keyed = |key: [u8; 4], d: &[u8]| [&key[..], d].concat();
    l.write_bytes(0, &keyed([0xc9, 0xd7, 0xd3, 0xf1], ipl1)).expect("IPL1");
    l.write_bytes(bs, &keyed([0xc9, 0xd7, 0xd3, 0xf2], ipl2)).expect("IPL2");
}

/// Writes blocks `first..first + n` with the test pattern from
/// [`layout::BUF`], reads them back into a cleared [`layout::RBUF`], and
/// compares (CDL special blocks by their record's length).
///
/// # Panics
/// If a request fails or a block reads back differently.
pub fn round_trip<C: Channel>(l: &mut LinuxDasd<C>, first: u32, n: u32) {
    let bs = u64::from(l.layout().block_size().expect("formatted"));
    let data = |l: &LinuxDasd<C>, b: u32| pattern(TrackAddr::from_index(u64::from(b)), 0x55, l.block_len(b));
    for b in first..first + n {
        l.store(layout::BUF + bs * u64::from(b - first), &data(l, b))
            .expect("buffer");
    }
    l.write_blocks(first, n, layout::BUF)
        .unwrap_or_else(|e| panic!("write {first}+{n}: {e}"));
    let len = usize::try_from(bs * u64::from(n)).expect("length");
    l.store(layout::RBUF, &vec![0u8; len]).expect("buffer");
    l.read_blocks(first, n, layout::RBUF)
        .unwrap_or_else(|e| panic!("read {first}+{n}: {e}"));
    for b in first..first + n {
        let want = data(l, b);
        let got = l
            .fetch(layout::RBUF + bs * u64::from(b - first), want.len())
            .expect("buffer");
        assert!(got == want, "block {b} differs");
    }
}
