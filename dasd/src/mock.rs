//! Test helpers (feature `test-utils`): a model of Linux's DASD stack
//! driving a 3390 through a channel subsystem, for this crate's tests and
//! for other crates that run the same guest against the device another
//! way (passed through vfio-ccw, …).
//!
//! [`LinuxDriver`] issues the channel programs Linux builds: cio's device
//! recognition and path grouping (`device_id.c`, `device_pgid.c`),
//! `dasd_eckd_check_characteristics`, the volume analysis
//! (`dasd_eckd_analysis_ccw`, `dasd_eckd_end_analysis`), dasdfmt's CDL
//! format (`dasd_eckd_build_format`), the label writes, and block I/O
//! through DEFINE EXTENT + LOCATE RECORD + READ/WRITE
//! (`dasd_eckd_build_cp_cmd_single`) and through PREFIX track mode
//! (`dasd_eckd_build_cp_cmd_track`); the parameter blocks are those of
//! `define_extent`, `locate_record`, `locate_record_ext` and `prefix_LRE`
//! (shared/spec/dasd-notes.md §4). A unit check without concurrent sense
//! is followed by a BASIC SENSE, as cio's `ccw_device_do_sense` does.
//!
//! The driver runs its programs through a [`Channel`]: the instructions on
//! its subchannel and the guest storage it builds programs in.
//! [`CssChannel`] is a subchannel of a [`Css`]; another implementation can
//! run each instruction on two channel subsystems at once and compare them.
//!
//! The driver asserts what Linux would treat as an I/O error of its own
//! setup sequence (it panics: it is a test helper).

use std::sync::Arc;
use std::time::{Duration, Instant};

use zcss_ccw::irb::Irb;
use zcss_ccw::scsw::Scsw;
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::VecMemory;
use zcss_css::{chpid_type, Cc, ChannelPaths, Css, InsnResult, InterruptionCode, IoCtx};

use crate::store::MemStore;
use crate::track::{Count, TrackAddr};
use crate::{ControlUnit, Dasd, DasdConfig};

/// Where the driver keeps things in guest storage.
pub mod layout {
    /// The SCHIB of STSCH and MSCH.
    pub const SCHIB: u64 = 0x1000;
    /// The ORB.
    pub const ORB: u64 = 0x1800;
    /// The IRB TSCH stores.
    pub const IRB: u64 = 0x1c00;
    /// The channel program (format-1 CCWs).
    pub const CP: u64 = 0x2000;
    /// Parameter blocks and small data areas of the program.
    pub const DATA: u64 = 0x8_0000;
    /// Block buffers.
    pub const BUF: u64 = 0x10_0000;
    /// Storage the driver needs.
    pub const MEM: u64 = 8 << 20;
}

/// The interruption parameter of every program the driver starts.
pub const INTPARM: u32 = 0xd45d_0000;

/// Linux `dasd_eckd.h` command codes.
pub mod cmd {
    /// SENSE ID.
    pub const SENSE_ID: u8 = 0xe4;
    /// BASIC SENSE.
    pub const SENSE: u8 = 0x04;
    /// SENSE PATH GROUP ID.
    pub const SNID: u8 = 0x34;
    /// SET PATH GROUP ID.
    pub const SPID: u8 = 0xaf;
    /// READ COUNT.
    pub const READ_COUNT: u8 = 0x12;
    /// READ DATA.
    pub const READ: u8 = 0x06;
    /// READ DATA (multitrack).
    pub const READ_MT: u8 = 0x86;
    /// WRITE DATA (multitrack).
    pub const WRITE_MT: u8 = 0x85;
    /// READ KEY AND DATA (multitrack).
    pub const READ_KD_MT: u8 = 0x8e;
    /// WRITE KEY AND DATA (multitrack).
    pub const WRITE_KD_MT: u8 = 0x8d;
    /// WRITE COUNT, KEY AND DATA.
    pub const WRITE_CKD: u8 = 0x1d;
    /// WRITE COUNT, KEY AND DATA (multitrack).
    pub const WRITE_CKD_MT: u8 = 0x9d;
    /// READ TRACK DATA.
    pub const READ_TRACK_DATA: u8 = 0xa6;
    /// WRITE TRACK DATA.
    pub const WRITE_TRACK_DATA: u8 = 0xa5;
    /// DEFINE EXTENT.
    pub const DEFINE_EXTENT: u8 = 0x63;
    /// LOCATE RECORD.
    pub const LOCATE_RECORD: u8 = 0x47;
    /// LOCATE RECORD EXTENDED.
    pub const LOCATE_RECORD_EXT: u8 = 0x4b;
    /// PREFIX.
    pub const PFX: u8 = 0xe7;
    /// PERFORM SUBSYSTEM FUNCTION.
    pub const PSF: u8 = 0x27;
    /// READ SUBSYSTEM DATA.
    pub const RSSD: u8 = 0x3e;
    /// READ CONFIGURATION DATA.
    pub const RCD: u8 = 0xfa;
    /// READ DEVICE CHARACTERISTICS.
    pub const RDC: u8 = 0x64;
}
use cmd::*;

const CC: u8 = 0x40;
const SLI: u8 = 0x20;
const IDA: u8 = 0x04;

/// CDL record lengths (key and data) of track 0's records 1–3 (Linux
/// `sizes_trk0`).
pub const SIZES_TRK0: [u16; 3] = [28, 148, 84];
/// CDL record length (key and data) of every record of track 1 (Linux
/// `LABEL_SIZE`).
pub const LABEL_SIZE: u16 = 140;

/// The instructions of the driver's subchannel, and the storage it builds
/// programs in.
pub trait Channel {
    /// Guest storage.
    fn mem(&self) -> &VecMemory;
    /// STORE SUBCHANNEL, the SCHIB at `addr`.
    fn stsch(&mut self, addr: u64) -> InsnResult;
    /// MODIFY SUBCHANNEL with the SCHIB at `addr`.
    fn msch(&mut self, addr: u64) -> InsnResult;
    /// START SUBCHANNEL with the ORB at `addr`.
    fn ssch(&mut self, addr: u64) -> InsnResult;
    /// Waits for the subchannel's I/O interruption (`None`: none came).
    fn wait(&mut self) -> Option<InterruptionCode>;
    /// TEST SUBCHANNEL, the IRB at `addr`.
    fn tsch(&mut self, addr: u64) -> InsnResult;
}

/// A subchannel of a [`Css`] with its guest storage.
#[derive(Debug, Clone)]
pub struct CssChannel {
    /// The channel subsystem.
    pub css: Css,
    /// Guest storage.
    pub mem: Arc<VecMemory>,
    /// The subchannel.
    pub sid: SubchannelId,
    /// How long [`Channel::wait`] waits.
    pub timeout: Duration,
}

impl CssChannel {
    /// Subchannel `sid` of `css`, with `mem` as guest storage.
    #[must_use]
    pub fn new(css: Css, mem: Arc<VecMemory>, sid: SubchannelId) -> Self {
        Self {
            css,
            mem,
            sid,
            timeout: Duration::from_secs(10),
        }
    }

    /// A css with the default configuration holding `dev` (device number
    /// 0x0120) on subchannel 0xfe.0.0000, and [`layout::MEM`] of storage.
    ///
    /// # Panics
    /// If the device cannot be attached.
    #[must_use]
    pub fn with_device(dev: Dasd) -> Self {
        let css = Css::default();
        let sid = SubchannelId {
            cssid: 0xfe,
            ssid: 0,
            schno: 0,
        };
        css.attach_cold(sid, 0x0120, Box::new(dev)).expect("attach the DASD");
        Self::new(css, Arc::new(VecMemory::new(layout::MEM)), sid)
    }

    fn gr1(&self) -> u32 {
        self.sid.to_word(self.css.mcss_enabled())
    }
}

impl Channel for CssChannel {
    fn mem(&self) -> &VecMemory {
        &self.mem
    }

    fn stsch(&mut self, addr: u64) -> InsnResult {
        self.css.stsch(&IoCtx::new(&*self.mem), self.gr1(), addr)
    }

    fn msch(&mut self, addr: u64) -> InsnResult {
        self.css.msch(&IoCtx::new(&*self.mem), self.gr1(), addr)
    }

    fn ssch(&mut self, addr: u64) -> InsnResult {
        self.css.ssch(&IoCtx::new(&*self.mem), self.gr1(), addr)
    }

    fn wait(&mut self) -> Option<InterruptionCode> {
        // An emulated device has finished before SSCH returned; a
        // passed-through one reports later.
        let deadline = Instant::now() + self.timeout;
        let mut spins = 0u32;
        loop {
            self.css.poll();
            if let Some(c) = self.css.next_interrupt(0xff) {
                return Some(c);
            }
            if Instant::now() >= deadline {
                return None;
            }
            if spins < 1000 {
                spins += 1;
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }

    fn tsch(&mut self, addr: u64) -> InsnResult {
        self.css.tsch(&IoCtx::new(&*self.mem), self.gr1(), addr)
    }
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

/// The data of block `t`, record `r`: a pattern that differs per track and
/// record.
///
/// # Panics
/// Never (every value is below 251).
#[must_use]
pub fn pattern(t: TrackAddr, r: u8, len: usize) -> Vec<u8> {
    let seed = t.index().wrapping_mul(31).wrapping_add(u64::from(r) * 7);
    (0..len as u64)
        .map(|i| u8::try_from(seed.wrapping_add(i) % 251).unwrap_or(0))
        .collect()
}

/// How the driver classified the volume (`dasd_eckd_end_analysis`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Not analysed yet, or a layout Linux does not support.
    Unsupported,
    /// No records (no record found on track 0).
    Unformatted,
    /// Compatible disk layout with this block size.
    Cdl(u16),
    /// Linux disk layout with this block size.
    Ldl(u16),
}

/// A program's end as the driver sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct End {
    /// The SCSW of the final status.
    pub scsw: Scsw,
    /// The sense of a unit check: concurrent sense, or a BASIC SENSE's.
    pub sense: Option<[u8; 32]>,
}

impl End {
    /// Channel end and device end (and nothing else that is an error).
    #[must_use]
    pub fn ok(&self) -> bool {
        self.scsw.dstat.into_bits() & !0x0c == 0 && self.scsw.cstat.into_bits() == 0
    }
}

/// A channel program under construction: format-1 CCWs for
/// [`layout::CP`], their data from [`layout::DATA`] on.
#[derive(Debug, Clone)]
pub struct Cp {
    ccws: Vec<[u8; 8]>,
    data: Vec<(u64, Vec<u8>)>,
    next: u64,
}

impl Default for Cp {
    fn default() -> Self {
        Self::new()
    }
}

impl Cp {
    /// An empty program.
    #[must_use]
    pub fn new() -> Self {
        Self {
            ccws: Vec::new(),
            data: Vec::new(),
            next: layout::DATA,
        }
    }

    /// Places `data` in the program's data area; returns its address.
    ///
    /// # Panics
    /// If the data area passes 4 GiB.
    pub fn data(&mut self, data: &[u8]) -> u32 {
        let at = self.next;
        self.data.push((at, data.to_vec()));
        self.next = (at + data.len() as u64 + 7) & !7;
        u32::try_from(at).expect("data area below 4G")
    }

    /// Reserves `len` bytes (zeroed) of the data area.
    pub fn area(&mut self, len: usize) -> u32 {
        self.data(&vec![0; len])
    }

    /// Appends a CCW, command-chaining the previous one to it.
    pub fn ccw(&mut self, cmd: u8, flags: u8, count: u16, cda: u32) {
        if let Some(prev) = self.ccws.last_mut() {
            prev[1] |= CC;
        }
        let c = count.to_be_bytes();
        let a = cda.to_be_bytes();
        self.ccws.push([cmd, flags, c[0], c[1], a[0], a[1], a[2], a[3]]);
    }

    /// A CCW sending `data`.
    ///
    /// # Panics
    /// If `data` is longer than 65,535 bytes.
    pub fn out(&mut self, cmd: u8, flags: u8, data: &[u8]) {
        let a = self.data(data);
        self.ccw(cmd, flags, u16::try_from(data.len()).expect("CCW count"), a);
    }

    /// A CCW whose data are addressed by format-2 IDAWs covering `len`
    /// bytes at `buf` (the first IDAW may start anywhere, the next ones at
    /// 4K boundaries, as Linux `idal_create_words` writes them).
    ///
    /// # Panics
    /// If `len` is more than 65,535 bytes.
    pub fn idal(&mut self, cmd: u8, flags: u8, buf: u64, len: usize) {
        let mut idaws = Vec::new();
        let mut a = buf;
        let end = buf + len as u64;
        while a < end {
            idaws.extend_from_slice(&a.to_be_bytes());
            a = (a & !0xfff) + 0x1000;
        }
        let at = self.data(&idaws);
        self.ccw(cmd, flags | IDA, u16::try_from(len).expect("CCW count"), at);
    }

    /// The CCWs.
    #[must_use]
    pub fn ccws(&self) -> &[[u8; 8]] {
        &self.ccws
    }

    /// Stores the data areas and the CCWs.
    ///
    /// # Panics
    /// If they do not fit `mem`.
    pub fn store(&self, mem: &VecMemory) {
        for (at, d) in &self.data {
            mem.store(*at, d).expect("data area in storage");
        }
        for (i, c) in self.ccws.iter().enumerate() {
            mem.store(layout::CP + 8 * i as u64, c).expect("program in storage");
        }
    }
}

/// ceil(a / b).
const fn ceil(a: u32, b: u32) -> u32 {
    a.div_ceil(b)
}

/// Records of `kl`/`dl` per 3390 track (Linux `recs_per_track`).
#[must_use]
pub fn recs_per_track(kl: u32, dl: u32) -> u32 {
    let dn = ceil(dl + 6, 232) + 1;
    if kl > 0 {
        let kn = ceil(kl + 6, 232) + 1;
        1729 / (10 + 9 + ceil(kl + 6 * kn, 34) + 9 + ceil(dl + 6 * dn, 34))
    } else {
        1729 / (10 + 9 + ceil(dl + 6 * dn, 34))
    }
}

/// The 3390 sector of record `rec` of `reclen` bytes (Linux
/// `locate_record`).
fn sector(rec: u32, reclen: u32) -> u8 {
    if rec == 0 {
        return 0;
    }
    let dn = ceil(reclen + 6, 232);
    let d = 9 + ceil(reclen + 6 * (dn + 1), 34);
    u8::try_from((49 + (rec - 1) * (10 + d)) / 8).unwrap_or(0xff)
}

/// Cylinder and head of track number `trk` as four bytes (large-volume
/// format: the cylinder's high bits in the head halfword).
fn ch(trk: u32) -> [u8; 4] {
    let (c, h) = (trk / 15, trk % 15);
    let mut b = [0u8; 4];
    b[..2].copy_from_slice(&u16::try_from(c & 0xffff).unwrap_or(0).to_be_bytes());
    b[2..].copy_from_slice(&u16::try_from(((c >> 16) << 4) | h).unwrap_or(0).to_be_bytes());
    b
}

/// Bytes of a count area.
fn count(cyl: u16, head: u16, rec: u8, kl: u8, dl: u16) -> [u8; 8] {
    Count::new(cyl, head, rec, kl, dl).to_bytes()
}

/// The guest: Linux's DASD stack on one subchannel (see the
/// [module documentation](self)).
#[derive(Debug)]
pub struct LinuxDriver<C: Channel> {
    /// Where the programs run.
    pub ch: C,
    /// Operational paths (PIM & PAM & POM).
    pub opm: u8,
    /// Command codes of every CCW started, in order (BASIC SENSE
    /// included).
    pub trace: Vec<u8>,
    /// READ DEVICE CHARACTERISTICS data.
    pub rdc: [u8; 64],
    /// READ CONFIGURATION DATA.
    pub conf: [u8; 256],
    /// The feature codes (PSF/RSSD suborder 0x41).
    pub features: [u8; 256],
    /// Cylinders from RDC.
    pub cylinders: u32,
    /// The analysis' verdict.
    pub layout: Layout,
    /// BASIC SENSE programs issued after unit checks without concurrent
    /// sense.
    pub basic_senses: u32,
}

impl LinuxDriver<CssChannel> {
    /// The driver on a css holding `dev` alone ([`CssChannel::with_device`]),
    /// booted with concurrent sense.
    #[must_use]
    pub fn with_device(dev: Dasd) -> Self {
        Self::boot(CssChannel::with_device(dev), true)
    }
}

impl<C: Channel> LinuxDriver<C> {
    /// Enables the subchannel for ISC 3 (with concurrent sense if
    /// `csense`, as Linux's cio does) and takes the operational paths.
    ///
    /// # Panics
    /// If STSCH or MSCH does not answer cc 0, or the device is not on
    /// CHPID 0x01.
    pub fn boot(mut ch: C, csense: bool) -> Self {
        assert_eq!(ch.stsch(layout::SCHIB), Ok(Cc::Zero), "stsch");
        let mut schib = ch.mem().fetch(layout::SCHIB, 28).expect("schib");
        schib[4] = (schib[4] & !0x38) | (3 << 3);
        schib[5] |= 0x80;
        if csense {
            schib[27] |= 0x01;
        } else {
            schib[27] &= !0x01;
        }
        // Operational paths: PIM & POM & PAM; the LPM allows them.
        let opm = schib[11] & schib[14] & schib[15];
        schib[8] = opm;
        ch.mem().store(layout::SCHIB, &schib).expect("schib");
        assert_eq!(ch.msch(layout::SCHIB), Ok(Cc::Zero), "msch");
        Self {
            ch,
            opm,
            trace: Vec::new(),
            rdc: [0; 64],
            conf: [0; 256],
            features: [0; 256],
            cylinders: 0,
            layout: Layout::Unsupported,
            basic_senses: 0,
        }
    }

    /// Guest storage.
    pub fn mem(&self) -> &VecMemory {
        self.ch.mem()
    }

    /// Starts the program at [`layout::CP`] on the paths `lpm`, waits for
    /// the interruption and tests the subchannel: the IRB.
    fn start(&mut self, lpm: u8) -> Irb {
        let mut orb = [0u8; 12];
        orb[..4].copy_from_slice(&INTPARM.to_be_bytes());
        orb[5] = 0x80 | 0x02; // F (format-1 CCWs), H (format-2 IDAWs)
        orb[6] = lpm;
        orb[8..].copy_from_slice(&u32::try_from(layout::CP).unwrap_or(0).to_be_bytes());
        self.mem().store(layout::ORB, &orb).expect("orb");
        assert_eq!(self.ch.ssch(layout::ORB), Ok(Cc::Zero), "ssch");
        let code = self.ch.wait().expect("I/O interruption");
        assert_eq!(code.intparm, INTPARM);
        assert_eq!(self.ch.tsch(layout::IRB), Ok(Cc::Zero), "tsch");
        let b = self.mem().fetch(layout::IRB, 64).expect("irb");
        Irb::decode(&b).expect("an IRB")
    }

    /// Runs `cp` on the paths `lpm`: SSCH, the interruption, TSCH; after a
    /// unit check without concurrent sense, BASIC SENSE.
    pub fn run(&mut self, cp: &Cp, lpm: u8) -> End {
        cp.store(self.mem());
        self.trace.extend(cp.ccws.iter().map(|c| c[0]));
        let irb = self.start(lpm);
        let sense = if !irb.scsw.dstat.unit_check() {
            None
        } else if irb.esw.erw.concurrent_sense() {
            Some(irb.ecw)
        } else {
            Some(self.basic_sense())
        };
        End { scsw: irb.scsw, sense }
    }

    /// cio's BASIC SENSE: 32 bytes with SLI, every path allowed.
    fn basic_sense(&mut self) -> [u8; 32] {
        self.basic_senses += 1;
        let mut cp = Cp::new();
        let a = cp.area(32);
        cp.ccw(SENSE, SLI, 32, a);
        cp.store(self.mem());
        self.trace.push(SENSE);
        let irb = self.start(0xff);
        assert_eq!(irb.scsw.dstat.into_bits(), 0x0c, "basic sense ends cleanly");
        let mut s = [0u8; 32];
        s.copy_from_slice(&self.mem().fetch(u64::from(a), 32).expect("sense"));
        s
    }

    /// Paths of the operational-path mask, one bit each.
    fn paths(&self) -> impl Iterator<Item = u8> {
        let opm = self.opm;
        (0..8).map(|i| 0x80u8 >> i).filter(move |m| opm & m != 0)
    }

    /// cio's device recognition and path verification: SENSE ID, then per
    /// path SENSE PATH GROUP ID and SET PATH GROUP ID (establish,
    /// multipath). Returns the SENSE ID data.
    ///
    /// # Panics
    /// If a program fails or the device is not grouped.
    pub fn recognize(&mut self) -> [u8; 40] {
        let mut cp = Cp::new();
        let a = cp.area(40);
        cp.ccw(SENSE_ID, SLI, 40, a);
        assert!(self.run(&cp, self.opm).ok());
        let mut id = [0u8; 40];
        id.copy_from_slice(&self.mem().fetch(u64::from(a), 40).expect("id"));
        let mut pgid = [0u8; 12];
        pgid[0] = 0x80;
        pgid[1..].copy_from_slice(&[0x00, 0x01, 0x12, 0x34, 0x56, 0x39, 0x06, 0xd4, 0x5d, 0x00, 0x01]);
        let paths: Vec<u8> = self.paths().collect();
        for lpm in paths {
            let mut cp = Cp::new();
            let s = cp.area(12);
            cp.ccw(SNID, SLI, 12, s);
            assert!(self.run(&cp, lpm).ok());
            let mut cp = Cp::new();
            cp.out(SPID, 0, &pgid);
            assert!(self.run(&cp, lpm).ok());
            let mut cp = Cp::new();
            let s = cp.area(12);
            cp.ccw(SNID, SLI, 12, s);
            assert!(self.run(&cp, lpm).ok());
            assert_eq!(
                self.mem().fetch(u64::from(s), 1).expect("pgid")[0] & 0xc8,
                0xc8,
                "grouped, multipath"
            );
        }
        id
    }

    /// RCD on one path, buffer preset with EBCDIC "V1.0" as Linux does.
    fn read_conf(&mut self, lpm: u8) -> [u8; 256] {
        let mut cp = Cp::new();
        let mut buf = [0u8; 256];
        buf[..4].copy_from_slice(&[0xe5, 0xf1, 0x4b, 0xf0]);
        let a = cp.data(&buf);
        cp.ccw(RCD, 0, 256, a);
        assert!(self.run(&cp, lpm).ok());
        buf.copy_from_slice(&self.mem().fetch(u64::from(a), 256).expect("rcd"));
        buf
    }

    /// PSF prepare-for-read-subsystem-data of `suborder` chained to RSSD:
    /// the data, or the sense of the unit check.
    ///
    /// # Panics
    /// If the program fails without sense.
    pub fn prssd(&mut self, suborder: u8, len: u16) -> Result<Vec<u8>, [u8; 32]> {
        let mut cp = Cp::new();
        let mut p = [0u8; 12];
        p[0] = 0x18;
        p[6] = suborder;
        cp.out(PSF, 0, &p);
        let a = cp.area(usize::from(len));
        cp.ccw(RSSD, 0, len, a);
        let e = self.run(&cp, self.opm);
        if e.ok() {
            Ok(self.mem().fetch(u64::from(a), usize::from(len)).expect("rssd"))
        } else {
            Err(e.sense.expect("sense of the unit check"))
        }
    }

    /// `dasd_eckd_check_characteristics`: RCD per path, PSF SSC, RCD
    /// again, feature codes, volume storage and logical configuration
    /// queries (errors ignored), RDC, unit address configuration.
    ///
    /// # Panics
    /// If a program Linux depends on fails.
    pub fn check_characteristics(&mut self) {
        let paths: Vec<u8> = self.paths().collect();
        for lpm in paths {
            self.conf = self.read_conf(lpm);
        }
        let mut ssc = [0u8; 66];
        ssc[0] = 0x1d;
        ssc[6] = 0xc8;
        ssc[7] = 0x88;
        let mut cp = Cp::new();
        cp.out(PSF, 0, &ssc);
        assert!(self.run(&cp, self.opm).ok(), "PSF SSC");
        self.conf = self.read_conf(self.opm);
        let f = self.prssd(0x41, 256).expect("feature codes");
        self.features.copy_from_slice(&f);
        for sub in [0x52, 0x53] {
            let _ = self.prssd(sub, 256);
        }
        let mut cp = Cp::new();
        let a = cp.area(64);
        cp.ccw(RDC, 0, 64, a);
        assert!(self.run(&cp, self.opm).ok());
        let rdc = self.mem().fetch(u64::from(a), 64).expect("rdc");
        self.rdc.copy_from_slice(&rdc);
        self.cylinders = u32::from(u16::from_be_bytes([self.rdc[12], self.rdc[13]]));
        if self.cu_type() == 0x3990 && self.features[8] & 0x01 != 0 {
            let uac = self.prssd(0x0e, 512).expect("unit address configuration");
            let ua = usize::from(self.ned()[31]);
            assert_eq!(uac[2 * ua], 0x01, "our unit address is a base device");
        }
    }

    /// Control-unit type from RDC.
    #[must_use]
    pub fn cu_type(&self) -> u16 {
        u16::from_be_bytes([self.rdc[0], self.rdc[1]])
    }

    /// The device NED (identifier 3, descriptor 1), as
    /// `dasd_eckd_identify_conf_parts` finds it.
    ///
    /// # Panics
    /// Without a device NED and a GNEQ.
    #[must_use]
    pub fn ned(&self) -> [u8; 32] {
        let mut ned = None;
        let mut gneq = None;
        for e in self.conf.chunks(32) {
            match (e[0] >> 6, e[1]) {
                (3, 1) => ned = Some(e),
                (2, _) => gneq = Some(e),
                _ => {}
            }
        }
        assert!(gneq.is_some(), "GNEQ present");
        ned.expect("device NED").try_into().expect("32 bytes")
    }

    /// Whether the feature codes offer PREFIX.
    #[must_use]
    pub fn use_prefix(&self) -> bool {
        self.features[8] & 0x01 != 0
    }

    /// Blocks per track of the analysed layout.
    #[must_use]
    pub fn blk_per_trk(&self) -> u32 {
        match self.layout {
            Layout::Cdl(b) | Layout::Ldl(b) => recs_per_track(0, u32::from(b)),
            _ => 0,
        }
    }

    /// Linux `define_extent` parameters: 16 bytes, or 32 with the time
    /// stamp of writes (`set_timestamp`, count 32 and SLI) — the second
    /// value says which.
    fn extent(trk: u32, totrk: u32, cmd: u8, blksize: u16) -> ([u8; 32], bool) {
        let mut d = [0u8; 32];
        let (mask, attr, stamp, bs) = match cmd {
            READ_COUNT => (0x40, 0xc4, false, 0),
            0x06 | READ_MT | 0x0e | READ_KD_MT | 0x1e | 0x9e | 0x16 | 0x1a => (0x40, 0xc0, false, 0),
            0xde | READ_TRACK_DATA => (0x40, 0xc0, false, 0),
            0x05 | WRITE_MT | 0x0d | WRITE_KD_MT => (0x80, 0xc0, true, 0),
            WRITE_CKD | WRITE_CKD_MT => (0x00, 0xc4, true, 0),
            0x11 | 0x15 | 0x19 => (0xc2, 0xc4, true, 0),
            0x95 => (0xc0, 0xc0, false, 0),
            WRITE_TRACK_DATA => (0x80, 0xc0, true, blksize),
            _ => panic!("define_extent for {cmd:#x}"),
        };
        d[0] = mask;
        d[1] = attr;
        d[2..4].copy_from_slice(&bs.to_be_bytes());
        d[8..12].copy_from_slice(&ch(trk));
        d[12..16].copy_from_slice(&ch(totrk));
        if stamp {
            d[7] |= 0x0a;
            d[16..24].copy_from_slice(&0x00d8_1234_5678_9abcu64.to_be_bytes());
        }
        (d, stamp)
    }

    /// Appends Linux's DEFINE EXTENT.
    fn define_extent(cp: &mut Cp, trk: u32, totrk: u32, cmd: u8, blksize: u16) {
        match Self::extent(trk, totrk, cmd, blksize) {
            (d, true) => cp.out(DEFINE_EXTENT, SLI, &d),
            (d, false) => cp.out(DEFINE_EXTENT, 0, &d[..16]),
        }
    }

    /// Linux `locate_record` parameters.
    fn lo(trk: u32, rec: u32, no_rec: u8, cmd: u8, reclen: u16) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[13] = sector(rec, u32::from(reclen));
        b[3] = no_rec;
        let (op, aux, len) = match cmd {
            0x05 | WRITE_MT | 0x0d | WRITE_KD_MT => (0x01, 0x80, reclen),
            WRITE_CKD | WRITE_CKD_MT => (0x03, 0x80, reclen),
            0x06 | READ_MT | 0x0e | READ_KD_MT => (0x06, 0x80, reclen),
            0x1e | 0x9e => (0x16, 0x80, reclen),
            READ_COUNT => (0x06, 0, 0),
            _ => panic!("locate_record for {cmd:#x}"),
        };
        b[0] = op;
        b[1] = aux;
        b[14..16].copy_from_slice(&len.to_be_bytes());
        b[4..8].copy_from_slice(&ch(trk));
        b.copy_within(4..8, 8);
        b[12] = u8::try_from(rec).unwrap_or(0xff);
        b
    }

    /// Linux `locate_record_ext` parameters for the track-mode commands.
    fn lre(trk: u32, rec: u32, count: u8, cmd: u8, reclen: u16, tlf: u16) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[13] = sector(rec, u32::from(reclen));
        b[3] = count;
        match cmd {
            READ_TRACK_DATA => {
                b[0] = 0x0c;
                b[1] = 0x80;
                b[14..16].copy_from_slice(&tlf.to_be_bytes());
            }
            WRITE_TRACK_DATA => {
                b[0] = 0x3f;
                b[17] = 0x23;
                b[1] = 0x80;
                b[14..16].copy_from_slice(&reclen.to_be_bytes());
            }
            _ => panic!("locate_record_ext for {cmd:#x}"),
        }
        b[4..8].copy_from_slice(&ch(trk));
        b.copy_within(4..8, 8);
        b[12] = u8::try_from(rec).unwrap_or(0xff);
        b
    }

    /// Linux `prefix_LRE` parameters: format 0 (DE only) or 1 (DE + LRE),
    /// 64 bytes.
    fn prefix_params(&self, trk: u32, totrk: u32, cmd: u8, lre: Option<[u8; 20]>, blksize: u16) -> Vec<u8> {
        let (dx, _) = Self::extent(trk, totrk, cmd, blksize);
        let ned = self.ned();
        let mut p = vec![u8::from(lre.is_some()), 0x80, ned[31], 0, ned[30], 0, 0, 0, 0, 0, 0, 0];
        if dx[7] & 0x0a == 0x0a {
            p[1] |= 0x40;
        }
        p.extend_from_slice(&dx);
        p.extend_from_slice(&lre.unwrap_or([0; 20]));
        p
    }

    /// `dasd_eckd_analysis_ccw` and the layout decision of
    /// `dasd_eckd_end_analysis`.
    ///
    /// # Panics
    /// If the analysis ends with an error other than no record found.
    pub fn analyze(&mut self) -> Layout {
        let mut cp = Cp::new();
        Self::define_extent(&mut cp, 0, 2, READ_COUNT, 0);
        cp.out(LOCATE_RECORD, 0, &Self::lo(0, 0, 4, READ_COUNT, 0));
        let counts: Vec<u32> = (0..5).map(|_| cp.area(8)).collect();
        for &a in &counts[..4] {
            cp.ccw(READ_COUNT, 0, 8, a);
        }
        cp.out(LOCATE_RECORD, 0, &Self::lo(2, 0, 1, READ_COUNT, 0));
        cp.ccw(READ_COUNT, 0, 8, counts[4]);
        let e = self.run(&cp, self.opm);
        self.layout = if e.ok() {
            let c: Vec<[u8; 8]> = counts
                .iter()
                .map(|&a| {
                    self.mem()
                        .fetch(u64::from(a), 8)
                        .expect("count")
                        .try_into()
                        .expect("8 bytes")
                })
                .collect();
            let kl = |i: usize| c[i][5];
            let dl = |i: usize| u16::from_be_bytes([c[i][6], c[i][7]]);
            let id = |i: usize| {
                (
                    u16::from_be_bytes([c[i][0], c[i][1]]),
                    u16::from_be_bytes([c[i][2], c[i][3]]),
                    c[i][4],
                )
            };
            let heads = [0u16, 0, 0, 0, 2];
            let recs = [1u8, 2, 3, 4, 1];
            let cdl = (0..3).all(|i| kl(i) == 4 && dl(i) == SIZES_TRK0[i] - 4 && id(i) == (0, heads[i], recs[i]));
            let candidate = if cdl { 4 } else { 0 };
            let ldl = !cdl && (0..5).all(|i| kl(i) == 0 && dl(i) == dl(0) && id(i) == (0, heads[i], recs[i]));
            let bs = dl(candidate);
            let ok_size = kl(candidate) == 0 && matches!(bs, 512 | 1024 | 2048 | 4096);
            match (cdl, ldl, ok_size) {
                (true, _, true) => Layout::Cdl(bs),
                (false, true, true) => Layout::Ldl(bs),
                _ => Layout::Unsupported,
            }
        } else {
            let s = e.sense.expect("unit check with sense");
            assert_eq!(s[1] & 0x08, 0x08, "anything but no record found is an I/O error");
            Layout::Unformatted
        };
        self.layout
    }

    /// `dasd_eckd_build_format` with intensity `08` (CDL) and R0
    /// permission, for tracks `start..=stop`.
    ///
    /// # Panics
    /// If the tracks' records do not fit one LOCATE RECORD count.
    pub fn format(&mut self, start: u32, stop: u32, blksize: u16) -> End {
        let rpt = recs_per_track(0, u32::from(blksize));
        let nr = stop - start + 1;
        let mut cp = Cp::new();
        if self.use_prefix() {
            let mut pfx = self.prefix_params(start, stop, WRITE_CKD, None, 0);
            pfx[12 + 7] |= 0x04;
            cp.out(PFX, 0, &pfx);
        } else {
            match Self::extent(start, stop, WRITE_CKD, 0) {
                (mut dx, true) => {
                    dx[7] |= 0x04;
                    cp.out(DEFINE_EXTENT, SLI, &dx);
                }
                (mut dx, false) => {
                    dx[7] |= 0x04;
                    cp.out(DEFINE_EXTENT, 0, &dx[..16]);
                }
            }
        }
        let count_all = u8::try_from(rpt * nr).expect("one LR count");
        cp.out(LOCATE_RECORD, 0, &Self::lo(start, 0, count_all, WRITE_CKD, blksize));
        for j in 0..nr {
            let t = start + j;
            let (c, h) = (
                u16::try_from(t / 15).expect("cylinder"),
                u16::try_from(t % 15).expect("head"),
            );
            for i in 0..rpt {
                let (kl, dl) = match (t, i) {
                    (0, 0..=2) => (4, SIZES_TRK0[usize::try_from(i).unwrap_or(0)] - 4),
                    (1, _) => (44, LABEL_SIZE - 44),
                    _ => (0, blksize),
                };
                let cmd = if i != 0 || j == 0 { WRITE_CKD } else { WRITE_CKD_MT };
                let rec = u8::try_from(i + 1).expect("record number");
                cp.out(cmd, SLI, &count(c, h, rec, kl, dl));
            }
        }
        self.run(&cp, self.opm)
    }

    /// `dasd_eckd_build_cp`: a request of `n` blocks from `first`, data at
    /// `buf` (a block's room is the block size; CDL special blocks use
    /// only their record's length).
    ///
    /// # Panics
    /// Before the analysis found a block size.
    pub fn block_io(&mut self, write: bool, first: u32, n: u32, buf: u64) -> End {
        let (Layout::Cdl(bs) | Layout::Ldl(bs)) = self.layout else {
            panic!("no block size before analysis");
        };
        let cdl = matches!(self.layout, Layout::Cdl(_));
        let bpt = self.blk_per_trk();
        let last = first + n - 1;
        let cdlspecial = cdl && first < 2 * bpt;
        let cmdrtd = self.features[9] & 0x20 != 0;
        let cmdwtd = self.features[12] & 0x40 != 0;
        let track_mode = !cdlspecial && self.use_prefix() && if write { cmdwtd } else { cmdrtd };
        let cp = if track_mode {
            self.cp_track(write, first, last, bs, buf)
        } else {
            self.cp_single(write, first, last, bs, buf, cdl)
        };
        self.run(&cp, self.opm)
    }

    /// `dasd_eckd_build_cp_cmd_single`.
    fn cp_single(&self, write: bool, first: u32, last: u32, bs: u16, buf: u64, cdl: bool) -> Cp {
        let bpt = self.blk_per_trk();
        let cmd = if write { WRITE_MT } else { READ_MT };
        let (first_trk, first_offs) = (first / bpt, first % bpt);
        let last_trk = last / bpt;
        let mut cp = Cp::new();
        if self.use_prefix() {
            let p = self.prefix_params(first_trk, last_trk, cmd, None, 0);
            cp.out(PFX, 0, &p);
        } else {
            Self::define_extent(&mut cp, first_trk, last_trk, cmd, 0);
        }
        let n = |k: u32| u8::try_from(k).expect("one LR count");
        if !cdl || first > 2 * bpt {
            cp.out(
                LOCATE_RECORD,
                0,
                &Self::lo(first_trk, first_offs + 1, n(last - first + 1), cmd, bs),
            );
        }
        for recid in first..=last {
            let (trk, offs) = (recid / bpt, recid % bpt);
            let mut rcmd = cmd;
            let mut len = bs;
            if cdl && recid < 2 * bpt {
                if recid < 3 || (bpt..2 * bpt).contains(&recid) {
                    rcmd |= 0x08;
                    len = if recid < 3 {
                        SIZES_TRK0[usize::try_from(recid).unwrap_or(0)]
                    } else {
                        LABEL_SIZE
                    };
                }
                cp.out(LOCATE_RECORD, 0, &Self::lo(trk, offs + 1, 1, rcmd, len));
            }
            if cdl && recid == 2 * bpt {
                cp.out(
                    LOCATE_RECORD,
                    0,
                    &Self::lo(trk, offs + 1, n(last - recid + 1), cmd, len),
                );
            }
            let at = buf + u64::from(recid - first) * u64::from(bs);
            cp.ccw(rcmd, 0, len, u32::try_from(at).expect("buffer below 4G"));
        }
        cp
    }

    /// `dasd_eckd_build_cp_cmd_track`: PREFIX format 1 with an LRE, then
    /// one READ/WRITE TRACK DATA per track through IDAWs.
    fn cp_track(&self, write: bool, first: u32, last: u32, bs: u16, buf: u64) -> Cp {
        let bpt = self.blk_per_trk();
        let cmd = if write { WRITE_TRACK_DATA } else { READ_TRACK_DATA };
        let (first_trk, first_offs) = (first / bpt, first % bpt);
        let (last_trk, last_offs) = (last / bpt, last % bpt);
        let tlf = if first_trk == last_trk {
            last_offs - first_offs + 1
        } else {
            last_offs + 1
        } * u32::from(bs);
        let trkcount = u8::try_from(last_trk - first_trk + 1).expect("track count");
        let lre = Self::lre(
            first_trk,
            first_offs + 1,
            trkcount,
            cmd,
            bs,
            u16::try_from(tlf).expect("transfer length factor"),
        );
        let mut cp = Cp::new();
        let p = self.prefix_params(first_trk, last_trk, cmd, Some(lre), bs);
        cp.out(PFX, 0, &p);
        let mut recid = first;
        let mut at = buf;
        while recid <= last {
            let offs = recid % bpt;
            let n = (last - recid + 1).min(bpt - offs);
            let len = usize::try_from(n * u32::from(bs)).expect("length");
            cp.idal(cmd, 0, at, len);
            at += len as u64;
            recid += n;
        }
        cp
    }

    /// The length of block `b` of a CDL volume (special blocks by their
    /// record's length).
    #[must_use]
    pub fn block_len(&self, b: u32) -> usize {
        let bpt = self.blk_per_trk();
        let bs = match self.layout {
            Layout::Cdl(bs) | Layout::Ldl(bs) => usize::from(bs),
            _ => 0,
        };
        if !matches!(self.layout, Layout::Cdl(_)) {
            bs
        } else if b < 3 {
            usize::from(SIZES_TRK0[usize::try_from(b).unwrap_or(0)])
        } else if (bpt..2 * bpt).contains(&b) {
            usize::from(LABEL_SIZE)
        } else {
            bs
        }
    }

    /// Discovery (recognition and characteristics), the analysis of an
    /// unformatted volume, dasdfmt's CDL format of the first `tracks`
    /// tracks with 4 KiB blocks (one request per cylinder) and the
    /// analysis that finds it.
    ///
    /// # Panics
    /// If a step fails or finds what Linux would not.
    pub fn discover_and_format(&mut self, tracks: u32) {
        self.recognize();
        self.check_characteristics();
        assert_eq!(self.analyze(), Layout::Unformatted);
        let mut t = 0;
        while t < tracks {
            let stop = (t + 14).min(tracks - 1);
            let e = self.format(t, stop, 4096);
            assert!(e.ok(), "format {t}..={stop}: {:?} {:02x?}", e.scsw, e.sense);
            t = stop + 1;
        }
        assert_eq!(self.analyze(), Layout::Cdl(4096));
    }

    /// dasdfmt's labels: the key and data of records 1–3 of track 0 (IPL1,
    /// IPL2, VOL1), written as blocks 0–2. `ipl1` and `ipl2` are the data
    /// of IPL1 (24 bytes: the IPL PSW and two CCWs) and IPL2 (144 bytes).
    ///
    /// # Panics
    /// If the write fails.
    pub fn write_labels(&mut self, ipl1: &[u8; 24], ipl2: &[u8; 144]) {
        let keys = [
            [0xc9, 0xd7, 0xd3, 0xf1],
            [0xc9, 0xd7, 0xd3, 0xf2],
            [0xe5, 0xd6, 0xd3, 0xf1],
        ];
        let mut vol1 = [0x40u8; 80];
        vol1[..4].copy_from_slice(&keys[2]);
        let data: [&[u8]; 3] = [ipl1, ipl2, &vol1];
        for (i, (key, d)) in keys.iter().zip(data).enumerate() {
            let mut rec = key.to_vec();
            rec.extend_from_slice(d);
            assert_eq!(rec.len(), usize::from(SIZES_TRK0[i]));
            self.mem().store(layout::BUF + 4096 * i as u64, &rec).expect("buffer");
        }
        let e = self.block_io(true, 0, 3, layout::BUF);
        assert!(e.ok(), "labels: {:?} {:02x?}", e.scsw, e.sense);
    }

    /// Writes blocks `first..first + n` with the test pattern, reads them
    /// back into a cleared buffer, and compares (special CDL blocks by
    /// their record length).
    ///
    /// # Panics
    /// If a request fails or a block reads back differently.
    pub fn round_trip(&mut self, first: u32, n: u32) {
        for b in first..first + n {
            let data = pattern(TrackAddr::from_index(u64::from(b)), 0x55, self.block_len(b));
            self.mem()
                .store(layout::BUF + 4096 * u64::from(b - first), &data)
                .expect("buffer");
        }
        let e = self.block_io(true, first, n, layout::BUF);
        assert!(e.ok(), "write {first}+{n}: {:?} {:02x?}", e.scsw, e.sense);
        let rbuf = layout::BUF + 0x20_0000;
        self.mem()
            .store(rbuf, &vec![0u8; 4096 * usize::try_from(n).unwrap_or(0)])
            .expect("buffer");
        let e = self.block_io(false, first, n, rbuf);
        assert!(e.ok(), "read {first}+{n}: {:?} {:02x?}", e.scsw, e.sense);
        for b in first..first + n {
            let want = pattern(TrackAddr::from_index(u64::from(b)), 0x55, self.block_len(b));
            let got = self
                .mem()
                .fetch(rbuf + 4096 * u64::from(b - first), want.len())
                .expect("buffer");
            assert!(got == want, "block {b} differs");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recs_per_track_of_4k_blocks_is_12() {
        assert_eq!(recs_per_track(0, 4096), 12);
        assert_eq!(recs_per_track(0, 512), 49);
    }

    #[test]
    fn driver_without_concurrent_sense_reads_the_sense_with_basic_sense() {
        let mut l = LinuxDriver::boot(CssChannel::with_device(linux_dasd(ControlUnit::Model6, 5)), false);
        l.recognize();
        l.check_characteristics();
        let before = l.basic_senses;
        assert_eq!(l.analyze(), Layout::Unformatted);
        assert_eq!(l.basic_senses, before + 1);
        assert_eq!(l.trace.last(), Some(&SENSE));
    }

    #[test]
    fn driver_with_concurrent_sense_issues_no_basic_sense() {
        let mut l = LinuxDriver::with_device(linux_dasd(ControlUnit::Model6, 5));
        l.recognize();
        l.check_characteristics();
        assert_eq!(l.analyze(), Layout::Unformatted);
        assert_eq!(l.basic_senses, 0);
    }
}
