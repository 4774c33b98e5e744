//! A model of Linux's DASD stack driving the 3390 through a real channel
//! subsystem: cio's device recognition and path grouping, `dasd_eckd`'s
//! characteristics check, volume analysis, dasdfmt's CDL format, the
//! label writes, and block I/O through DEFINE EXTENT + LOCATE RECORD +
//! READ/WRITE and through PREFIX (single-record and track mode), with the
//! data verified (shared/spec/dasd-notes.md §4; the channel programs are
//! the ones Linux `drivers/s390/block/dasd_eckd.c` builds in
//! `define_extent`, `locate_record`, `locate_record_ext`, `prefix_LRE`,
//! `dasd_eckd_analysis_ccw`, `dasd_eckd_build_format`,
//! `dasd_eckd_build_cp_cmd_single` and `dasd_eckd_build_cp_cmd_track`;
//! cio's in `device_id.c` and `device_pgid.c`).
//!
//! Every program runs through `Css::ssch`, the I/O interruption and
//! `Css::tsch`, with concurrent sense enabled as Linux does; the device
//! sits on CHPID 0x01 of type FICON.

mod eckd_harness;

use std::sync::Arc;

use eckd_harness::{count, pattern};
use zcss_ccw::scsw::Scsw;
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::VecMemory;
use zcss_css::{chpid_type, Cc, ChannelPaths, Css, CssConfig, IoCtx};
use zcss_dasd::store::MemStore;
use zcss_dasd::track::{Records, TrackAddr};
use zcss_dasd::{ControlUnit, Dasd, DasdConfig, TrackStore};

/// Guest storage layout.
mod layout {
    pub const SCHIB: u64 = 0x1000;
    pub const ORB: u64 = 0x1800;
    pub const IRB: u64 = 0x1c00;
    pub const CP: u64 = 0x2000;
    pub const DATA: u64 = 0x8_0000;
    pub const BUF: u64 = 0x10_0000;
}

const ISC: u8 = 3;

// Linux dasd_eckd.h command codes.
const READ_COUNT: u8 = 0x12;
const READ_MT: u8 = 0x86;
const WRITE_MT: u8 = 0x85;
const READ_KD_MT: u8 = 0x8e;
const WRITE_KD_MT: u8 = 0x8d;
const WRITE_CKD: u8 = 0x1d;
const WRITE_CKD_MT: u8 = 0x9d;
const READ_TRACK_DATA: u8 = 0xa6;
const WRITE_TRACK_DATA: u8 = 0xa5;
const DEFINE_EXTENT: u8 = 0x63;
const LOCATE_RECORD: u8 = 0x47;
const LOCATE_RECORD_EXT: u8 = 0x4b;
const PFX: u8 = 0xe7;
const PSF: u8 = 0x27;
const RSSD: u8 = 0x3e;
const RCD: u8 = 0xfa;
const RDC: u8 = 0x64;

const CC: u8 = 0x40;
const SLI: u8 = 0x20;
const IDA: u8 = 0x04;

/// CDL record lengths (key and data) of track 0's records 1–3, and of
/// every record of track 1 (Linux `sizes_trk0`, `LABEL_SIZE`).
const SIZES_TRK0: [u16; 3] = [28, 148, 84];
const LABEL_SIZE: u16 = 140;

/// How the guest classified the volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Unformatted,
    Cdl(u16),
    Ldl(u16),
    Unsupported,
}

/// A program's end as the driver sees it.
#[derive(Debug, Clone, Copy)]
struct End {
    scsw: Scsw,
    sense: Option<[u8; 32]>,
}

impl End {
    fn ok(&self) -> bool {
        self.scsw.dstat.into_bits() & !0x0c == 0 && self.scsw.cstat.into_bits() == 0
    }
}

/// A channel program under construction in guest storage.
struct Cp {
    ccws: Vec<[u8; 8]>,
    next: u64,
    mem: Arc<VecMemory>,
}

impl Cp {
    fn new(mem: &Arc<VecMemory>) -> Self {
        Self {
            ccws: Vec::new(),
            next: layout::DATA,
            mem: mem.clone(),
        }
    }

    /// Stores `data` in the program's data area; returns its address.
    fn data(&mut self, data: &[u8]) -> u32 {
        let at = self.next;
        self.mem.store(at, data).unwrap();
        self.next = (at + data.len() as u64 + 7) & !7;
        u32::try_from(at).unwrap()
    }

    /// Reserves `len` bytes of the data area.
    fn area(&mut self, len: usize) -> u32 {
        self.data(&vec![0; len])
    }

    fn ccw(&mut self, cmd: u8, flags: u8, count: u16, cda: u32) {
        if let Some(prev) = self.ccws.last_mut() {
            prev[1] |= CC;
        }
        let c = count.to_be_bytes();
        let a = cda.to_be_bytes();
        self.ccws.push([cmd, flags, c[0], c[1], a[0], a[1], a[2], a[3]]);
    }

    /// A CCW sending `data`.
    fn out(&mut self, cmd: u8, flags: u8, data: &[u8]) {
        let a = self.data(data);
        self.ccw(cmd, flags, u16::try_from(data.len()).unwrap(), a);
    }

    /// A CCW whose data are addressed by format-2 IDAWs covering
    /// `len` bytes at `buf` (the first IDAW may start anywhere, the next
    /// ones at 4K boundaries, as Linux `idal_create_words` writes them).
    fn idal(&mut self, cmd: u8, flags: u8, buf: u64, len: usize) {
        let mut idaws = Vec::new();
        let mut a = buf;
        let end = buf + len as u64;
        while a < end {
            idaws.extend_from_slice(&a.to_be_bytes());
            a = (a & !0xfff) + 0x1000;
        }
        let at = self.data(&idaws);
        self.ccw(cmd, flags | IDA, u16::try_from(len).unwrap(), at);
    }
}

/// ceil(a / b).
const fn ceil(a: u32, b: u32) -> u32 {
    a.div_ceil(b)
}

/// Records of `kl`/`dl` per 3390 track (Linux `recs_per_track`).
fn recs_per_track(kl: u32, dl: u32) -> u32 {
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
    u8::try_from((49 + (rec - 1) * (10 + d)) / 8).unwrap()
}

fn ch(trk: u32) -> [u8; 4] {
    let (c, h) = (trk / 15, trk % 15);
    let mut b = [0u8; 4];
    b[..2].copy_from_slice(&u16::try_from(c & 0xffff).unwrap().to_be_bytes());
    b[2..].copy_from_slice(&u16::try_from(((c >> 16) << 4) | h).unwrap().to_be_bytes());
    b
}

/// The guest.
struct Linux {
    css: Css,
    mem: Arc<VecMemory>,
    gr1: u32,
    opm: u8,
    /// Command codes of every CCW started, in order.
    trace: Vec<u8>,
    rdc: [u8; 64],
    conf: [u8; 256],
    features: [u8; 256],
    cylinders: u32,
    layout: Layout,
}

impl Linux {
    /// A css with the DASD `dev` on subchannel 0 (device 0x0120), the
    /// subchannel enabled for ISC 3 with concurrent sense.
    fn boot(dev: Dasd) -> Self {
        let css = Css::new(CssConfig::default());
        let sid = SubchannelId::new(0xfe, 0, 0).unwrap();
        css.attach_cold(sid, 0x0120, Box::new(dev)).unwrap();
        let mem = Arc::new(VecMemory::new(8 << 20));
        let mut l = Self {
            css,
            mem,
            gr1: 0x0001_0000,
            opm: 0,
            trace: Vec::new(),
            rdc: [0; 64],
            conf: [0; 256],
            features: [0; 256],
            cylinders: 0,
            layout: Layout::Unsupported,
        };
        let ctx = IoCtx::new(l.mem.as_ref());
        assert_eq!(l.css.stsch(&ctx, l.gr1, layout::SCHIB), Ok(Cc::Zero));
        let mut schib = l.mem.fetch(layout::SCHIB, 28).unwrap();
        schib[4] = (schib[4] & !0x38) | (ISC << 3);
        schib[5] |= 0x80;
        schib[27] |= 0x01; // concurrent sense
                           // Operational paths: PIM & POM & PAM; the LPM allows them.
        l.opm = schib[11] & schib[14] & schib[15];
        schib[8] = l.opm;
        assert_eq!(schib[16], 0x01, "CHPID 0x01");
        l.mem.store(layout::SCHIB, &schib).unwrap();
        assert_eq!(l.css.msch(&ctx, l.gr1, layout::SCHIB), Ok(Cc::Zero));
        l
    }

    /// Runs `cp` on the paths `lpm`: SSCH, the interruption, TSCH.
    fn run(&mut self, cp: &Cp, lpm: u8) -> End {
        for (i, c) in cp.ccws.iter().enumerate() {
            self.mem.store(layout::CP + 8 * i as u64, c).unwrap();
            self.trace.push(c[0]);
        }
        let mut orb = [0u8; 12];
        orb[..4].copy_from_slice(&0xd45d_0000u32.to_be_bytes());
        orb[5] = 0x80 | 0x02; // F (format-1 CCWs), H (format-2 IDAWs)
        orb[6] = lpm;
        orb[8..].copy_from_slice(&u32::try_from(layout::CP).unwrap().to_be_bytes());
        self.mem.store(layout::ORB, &orb).unwrap();
        let ctx = IoCtx::new(self.mem.as_ref());
        assert_eq!(self.css.ssch(&ctx, self.gr1, layout::ORB), Ok(Cc::Zero));
        let code = self.css.next_interrupt(0xff).expect("I/O interruption");
        assert_eq!(code.intparm, 0xd45d_0000);
        assert_eq!(self.css.tsch(&ctx, self.gr1, layout::IRB), Ok(Cc::Zero));
        let irb = self.mem.fetch(layout::IRB, 64).unwrap();
        let scsw = Scsw::decode(&irb).unwrap();
        let sense = scsw.dstat.unit_check().then(|| {
            let mut s = [0u8; 32];
            s.copy_from_slice(&irb[32..64]);
            s
        });
        End { scsw, sense }
    }

    /// cio's device recognition and path verification: SENSE ID, then per
    /// path SENSE PATH GROUP ID and SET PATH GROUP ID (establish,
    /// multipath).
    fn recognize(&mut self) -> [u8; 40] {
        let mut cp = Cp::new(&self.mem);
        let a = cp.area(40);
        cp.ccw(0xe4, SLI, 40, a);
        assert!(self.run(&cp, self.opm).ok());
        let mut id = [0u8; 40];
        id.copy_from_slice(&self.mem.fetch(u64::from(a), 40).unwrap());
        let mut pgid = [0u8; 12];
        pgid[0] = 0x80;
        pgid[1..].copy_from_slice(&[0x00, 0x01, 0x12, 0x34, 0x56, 0x39, 0x06, 0xd4, 0x5d, 0x00, 0x01]);
        let opm = self.opm;
        for lpm in (0..8).map(|i| 0x80u8 >> i).filter(|m| opm & m != 0) {
            let mut cp = Cp::new(&self.mem);
            let s = cp.area(12);
            cp.ccw(0x34, SLI, 12, s);
            assert!(self.run(&cp, lpm).ok());
            let mut cp = Cp::new(&self.mem);
            cp.out(0xaf, 0, &pgid);
            assert!(self.run(&cp, lpm).ok());
            let mut cp = Cp::new(&self.mem);
            let s = cp.area(12);
            cp.ccw(0x34, SLI, 12, s);
            assert!(self.run(&cp, lpm).ok());
            assert_eq!(
                self.mem.fetch(u64::from(s), 1).unwrap()[0] & 0xc8,
                0xc8,
                "grouped, multipath"
            );
        }
        id
    }

    /// RCD on one path, buffer preset with EBCDIC "V1.0" as Linux does.
    fn read_conf(&mut self, lpm: u8) -> [u8; 256] {
        let mut cp = Cp::new(&self.mem);
        let mut buf = [0u8; 256];
        buf[..4].copy_from_slice(&[0xe5, 0xf1, 0x4b, 0xf0]);
        let a = cp.data(&buf);
        cp.ccw(RCD, 0, 256, a);
        assert!(self.run(&cp, lpm).ok());
        buf.copy_from_slice(&self.mem.fetch(u64::from(a), 256).unwrap());
        buf
    }

    /// PSF prepare-for-read-subsystem-data of `suborder` chained to RSSD.
    fn prssd(&mut self, suborder: u8, len: u16) -> Result<Vec<u8>, [u8; 32]> {
        let mut cp = Cp::new(&self.mem);
        let mut p = [0u8; 12];
        p[0] = 0x18;
        p[6] = suborder;
        cp.out(PSF, 0, &p);
        let a = cp.area(usize::from(len));
        cp.ccw(RSSD, 0, len, a);
        let e = self.run(&cp, self.opm);
        if e.ok() {
            Ok(self.mem.fetch(u64::from(a), usize::from(len)).unwrap())
        } else {
            Err(e.sense.unwrap())
        }
    }

    /// `dasd_eckd_check_characteristics`: RCD per path, PSF SSC, RCD
    /// again, feature codes, volume storage and logical configuration
    /// queries (errors ignored), RDC, unit address configuration.
    fn check_characteristics(&mut self) {
        let opm = self.opm;
        for lpm in (0..8).map(|i| 0x80u8 >> i).filter(|m| opm & m != 0) {
            self.conf = self.read_conf(lpm);
        }
        let mut ssc = [0u8; 66];
        ssc[0] = 0x1d;
        ssc[6] = 0xc8;
        ssc[7] = 0x88;
        let mut cp = Cp::new(&self.mem);
        cp.out(PSF, 0, &ssc);
        assert!(self.run(&cp, self.opm).ok(), "PSF SSC");
        self.conf = self.read_conf(self.opm);
        let f = self.prssd(0x41, 256).expect("feature codes");
        self.features.copy_from_slice(&f);
        for sub in [0x52, 0x53] {
            let _ = self.prssd(sub, 256);
        }
        let mut cp = Cp::new(&self.mem);
        let a = cp.area(64);
        cp.ccw(RDC, 0, 64, a);
        assert!(self.run(&cp, self.opm).ok());
        self.rdc.copy_from_slice(&self.mem.fetch(u64::from(a), 64).unwrap());
        self.cylinders = u32::from(u16::from_be_bytes([self.rdc[12], self.rdc[13]]));
        if self.cu_type() == 0x3990 && self.features[8] & 0x01 != 0 {
            let uac = self.prssd(0x0e, 512).expect("unit address configuration");
            let ua = usize::from(self.ned()[31]);
            assert_eq!(uac[2 * ua], 0x01, "our unit address is a base device");
        }
    }

    fn cu_type(&self) -> u16 {
        u16::from_be_bytes([self.rdc[0], self.rdc[1]])
    }

    /// The device NED (identifier 3, descriptor 1), as
    /// `dasd_eckd_identify_conf_parts` finds it; panics without one and a
    /// GNEQ.
    fn ned(&self) -> [u8; 32] {
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
        ned.expect("device NED").try_into().unwrap()
    }

    fn use_prefix(&self) -> bool {
        self.features[8] & 0x01 != 0
    }

    fn blk_per_trk(&self) -> u32 {
        match self.layout {
            Layout::Cdl(b) | Layout::Ldl(b) => recs_per_track(0, u32::from(b)),
            _ => 0,
        }
    }

    /// Linux `define_extent`: 16 bytes, or 32 with the time stamp of
    /// writes (`set_timestamp`, count 32 and SLI).
    fn define_extent(&self, cp: &mut Cp, trk: u32, totrk: u32, cmd: u8, blksize: u16) {
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
            cp.out(DEFINE_EXTENT, SLI, &d);
        } else {
            cp.out(DEFINE_EXTENT, 0, &d[..16]);
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
        b[12] = u8::try_from(rec).unwrap();
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
        b[12] = u8::try_from(rec).unwrap();
        b
    }

    /// Linux `prefix_LRE`: format 0 (DE only) or 1 (DE + LRE), 64 bytes.
    fn prefix(&self, cp: &mut Cp, trk: u32, totrk: u32, cmd: u8, lre: Option<[u8; 20]>, blksize: u16) {
        let mut de = Cp::new(&self.mem);
        self.define_extent(&mut de, trk, totrk, cmd, blksize);
        let dx_at = u64::from(u32::from_be_bytes(de.ccws[0][4..8].try_into().unwrap()));
        let dx = self.mem.fetch(dx_at, 32).unwrap();
        let ned = self.ned();
        let mut p = vec![u8::from(lre.is_some()), 0x80, ned[31], 0, ned[30], 0, 0, 0, 0, 0, 0, 0];
        if dx[7] & 0x0a == 0x0a {
            p[1] |= 0x40;
        }
        p.extend_from_slice(&dx);
        p.extend_from_slice(&lre.unwrap_or([0; 20]));
        cp.out(PFX, 0, &p);
    }

    /// `dasd_eckd_analysis_ccw` and the layout decision of
    /// `dasd_eckd_end_analysis`.
    fn analyze(&mut self) -> Layout {
        let mut cp = Cp::new(&self.mem);
        self.define_extent(&mut cp, 0, 2, READ_COUNT, 0);
        cp.out(LOCATE_RECORD, 0, &Self::lo(0, 0, 4, READ_COUNT, 0));
        let counts: Vec<u32> = (0..5).map(|_| cp.area(8)).collect();
        for &a in &counts[..4] {
            cp.ccw(READ_COUNT, 0, 8, a);
        }
        cp.out(LOCATE_RECORD, 0, &Self::lo(2, 0, 1, READ_COUNT, 0));
        cp.ccw(READ_COUNT, 0, 8, counts[4]);
        let e = self.run(&cp, self.opm);
        self.layout = if !e.ok() {
            let s = e.sense.expect("unit check with concurrent sense");
            assert_eq!(s[1] & 0x08, 0x08, "anything but no record found is an I/O error");
            Layout::Unformatted
        } else {
            let c: Vec<[u8; 8]> = counts
                .iter()
                .map(|&a| self.mem.fetch(u64::from(a), 8).unwrap().try_into().unwrap())
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
        };
        self.layout
    }

    /// `dasd_eckd_build_format` with intensity `08` (CDL) and R0
    /// permission, for tracks `start..=stop`.
    fn format(&mut self, start: u32, stop: u32, blksize: u16) -> End {
        let rpt = recs_per_track(0, u32::from(blksize));
        let nr = stop - start + 1;
        let mut cp = Cp::new(&self.mem);
        if self.use_prefix() {
            let mut p = Cp::new(&self.mem);
            self.prefix(&mut p, start, stop, WRITE_CKD, None, 0);
            let at = u64::from(u32::from_be_bytes(p.ccws[0][4..8].try_into().unwrap()));
            let mut pfx = self.mem.fetch(at, 64).unwrap();
            pfx[12 + 7] |= 0x04;
            cp.out(PFX, 0, &pfx);
        } else {
            let mut d = Cp::new(&self.mem);
            self.define_extent(&mut d, start, stop, WRITE_CKD, 0);
            let at = u64::from(u32::from_be_bytes(d.ccws[0][4..8].try_into().unwrap()));
            let n = usize::from(u16::from_be_bytes([d.ccws[0][2], d.ccws[0][3]]));
            let mut dx = self.mem.fetch(at, n).unwrap();
            dx[7] |= 0x04;
            cp.out(DEFINE_EXTENT, d.ccws[0][1] & SLI, &dx);
        }
        let count_all = u8::try_from(rpt * nr).expect("one LR count");
        cp.out(LOCATE_RECORD, 0, &Self::lo(start, 0, count_all, WRITE_CKD, blksize));
        for j in 0..nr {
            let t = start + j;
            let (c, h) = (u16::try_from(t / 15).unwrap(), u16::try_from(t % 15).unwrap());
            for i in 0..rpt {
                let (kl, dl) = match (t, i) {
                    (0, 0..=2) => (4, SIZES_TRK0[usize::try_from(i).unwrap()] - 4),
                    (1, _) => (44, LABEL_SIZE - 44),
                    _ => (0, blksize),
                };
                let cmd = if i != 0 || j == 0 { WRITE_CKD } else { WRITE_CKD_MT };
                cp.out(cmd, SLI, &count(c, h, u8::try_from(i + 1).unwrap(), kl, dl));
            }
        }
        self.run(&cp, self.opm)
    }

    /// `dasd_eckd_build_cp`: a request of `n` blocks from `first`, data at
    /// `buf` (a block's room is `blksize` bytes; CDL special blocks use
    /// only their record's length).
    fn block_io(&mut self, write: bool, first: u32, n: u32, buf: u64) -> End {
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
        let mut cp = Cp::new(&self.mem);
        if self.use_prefix() {
            self.prefix(&mut cp, first_trk, last_trk, cmd, None, 0);
        } else {
            self.define_extent(&mut cp, first_trk, last_trk, cmd, 0);
        }
        if !cdl || first > 2 * bpt {
            cp.out(
                LOCATE_RECORD,
                0,
                &Self::lo(
                    first_trk,
                    first_offs + 1,
                    u8::try_from(last - first + 1).unwrap(),
                    cmd,
                    bs,
                ),
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
                        SIZES_TRK0[usize::try_from(recid).unwrap()]
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
                    &Self::lo(trk, offs + 1, u8::try_from(last - recid + 1).unwrap(), cmd, len),
                );
            }
            let at = buf + u64::from(recid - first) * u64::from(bs);
            cp.ccw(rcmd, 0, len, u32::try_from(at).unwrap());
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
        let trkcount = u8::try_from(last_trk - first_trk + 1).unwrap();
        let lre = Self::lre(
            first_trk,
            first_offs + 1,
            trkcount,
            cmd,
            bs,
            u16::try_from(tlf).unwrap(),
        );
        let mut cp = Cp::new(&self.mem);
        self.prefix(&mut cp, first_trk, last_trk, cmd, Some(lre), bs);
        let mut recid = first;
        let mut at = buf;
        while recid <= last {
            let offs = recid % bpt;
            let n = (last - recid + 1).min(bpt - offs);
            let len = usize::try_from(n * u32::from(bs)).unwrap();
            cp.idal(cmd, 0, at, len);
            at += len as u64;
            recid += n;
        }
        cp
    }
}

fn dasd(cu: ControlUnit, cylinders: u32) -> Dasd {
    let cfg = DasdConfig {
        cu,
        paths: ChannelPaths::single(0x01, chpid_type::FICON),
        ..DasdConfig::for_devno(0x0120)
    };
    Dasd::new(cfg, Box::new(MemStore::new(cylinders)))
}

/// Discovery, analysis, CDL format of `tracks` tracks, labels, and block
/// I/O verified, for a 3390 behind `cu`; returns the guest.
fn session(cu: ControlUnit, tracks: u32) -> Linux {
    let mut l = Linux::boot(dasd(cu, 20));
    assert_eq!(l.opm, 0x80);
    let id = l.recognize();
    assert_eq!(&id[..7], &[0xff, 0x39, 0x90, cu.model_byte(), 0x33, 0x90, 0x0a]);
    let rcd_ciw = id[8..40].chunks(4).find(|c| c[0] & 0xcf == 0x40).expect("RCD CIW");
    assert_eq!(rcd_ciw[1], RCD);
    l.check_characteristics();
    assert_eq!(l.cylinders, 20);
    assert_eq!(u16::from_be_bytes([l.rdc[14], l.rdc[15]]), 15);
    assert_eq!(l.ned()[31], 0x20);
    assert_eq!(l.analyze(), Layout::Unformatted);

    // dasdfmt: one request per cylinder.
    let mut t = 0;
    while t < tracks {
        let stop = (t + 14).min(tracks - 1);
        let e = l.format(t, stop, 4096);
        assert!(e.ok(), "format {t}..={stop}: {:?} {:02x?}", e.scsw, e.sense);
        t = stop + 1;
    }
    assert_eq!(l.analyze(), Layout::Cdl(4096));
    assert_eq!(l.blk_per_trk(), 12);

    // dasdfmt's labels: IPL1, IPL2, VOL1 (key + data of records 1–3).
    let mut labels = Vec::new();
    for (i, &len) in SIZES_TRK0.iter().enumerate() {
        let mut rec = vec![0u8; usize::from(len)];
        rec[..4].copy_from_slice(
            &[
                [0xc9, 0xd7, 0xd3, 0xf1],
                [0xc9, 0xd7, 0xd3, 0xf2],
                [0xe5, 0xd6, 0xd3, 0xf1],
            ][i],
        );
        rec[4] = u8::try_from(i).unwrap() + 1;
        l.mem.store(layout::BUF + 4096 * i as u64, &rec).unwrap();
        labels.push(rec);
    }
    let e = l.block_io(true, 0, 3, layout::BUF);
    assert!(e.ok(), "labels: {:?} {:02x?}", e.scsw, e.sense);
    l
}

/// Writes blocks `first..first + n` with the test pattern, reads them
/// back into a cleared buffer, and compares (special CDL blocks by their
/// record length).
fn round_trip(l: &mut Linux, first: u32, n: u32) {
    let bpt = l.blk_per_trk();
    let len_of = |b: u32| -> usize {
        if b < 3 {
            usize::from(SIZES_TRK0[usize::try_from(b).unwrap()])
        } else if (bpt..2 * bpt).contains(&b) {
            usize::from(LABEL_SIZE)
        } else {
            4096
        }
    };
    for b in first..first + n {
        let data = pattern(TrackAddr::from_index(u64::from(b)), 0x55, len_of(b));
        l.mem.store(layout::BUF + 4096 * u64::from(b - first), &data).unwrap();
    }
    let e = l.block_io(true, first, n, layout::BUF);
    assert!(e.ok(), "write {first}+{n}: {:?} {:02x?}", e.scsw, e.sense);
    let rbuf = layout::BUF + 0x20_0000;
    l.mem
        .store(rbuf, &vec![0u8; 4096 * usize::try_from(n).unwrap()])
        .unwrap();
    let e = l.block_io(false, first, n, rbuf);
    assert!(e.ok(), "read {first}+{n}: {:?} {:02x?}", e.scsw, e.sense);
    for b in first..first + n {
        let want = pattern(TrackAddr::from_index(u64::from(b)), 0x55, len_of(b));
        let got = l.mem.fetch(rbuf + 4096 * u64::from(b - first), want.len()).unwrap();
        assert!(got == want, "block {b} differs");
    }
}

#[test]
fn linux_session_on_3990_6_uses_prefix_and_track_mode() {
    let mut l = session(ControlUnit::Model6, 45);
    assert!(l.use_prefix());
    let before = l.trace.len();
    // Track mode across three tracks (blocks 30..65), then CDL special
    // blocks through PREFIX + LOCATE RECORD per block.
    round_trip(&mut l, 30, 35);
    assert!(l.trace[before..].contains(&WRITE_TRACK_DATA));
    assert!(l.trace[before..].contains(&READ_TRACK_DATA));
    assert!(!l.trace[before..].contains(&DEFINE_EXTENT));
    let before = l.trace.len();
    round_trip(&mut l, 3, 30);
    assert!(l.trace[before..].contains(&PFX));
    assert!(l.trace[before..].contains(&WRITE_KD_MT));
    assert!(l.trace[before..].contains(&READ_KD_MT));
}

#[test]
fn linux_session_on_3990_3_uses_define_extent_and_locate_record() {
    let mut l = session(ControlUnit::Model3, 45);
    assert!(!l.use_prefix());
    let before = l.trace.len();
    round_trip(&mut l, 30, 35);
    round_trip(&mut l, 0, 40);
    let t = &l.trace[before..];
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
    let mut l = Linux::boot(dasd(ControlUnit::Model6, 10));
    l.recognize();
    l.check_characteristics();
    // SENSE ID; SNID, SPID, SNID (path 0x80); RCD; PSF SSC; RCD; PSF+RSSD
    // features; PSF 52 (rejected, RSSD not reached); PSF 53 (same); RDC;
    // PSF+RSSD unit address configuration.
    assert_eq!(
        l.trace,
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
    let mut l = Linux::boot(Dasd::new(cfg, Box::new(store.clone())));
    l.recognize();
    l.check_characteristics();
    assert_eq!(l.analyze(), Layout::Unformatted);
    assert!(l.format(0, 14, 4096).ok());
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
