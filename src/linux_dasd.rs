//! A model of Linux's DASD stack driving a 3390 through a channel
//! subsystem: cio's device recognition and path verification,
//! `dasd_eckd`'s characteristics check, volume analysis and block I/O,
//! `dasdfmt` (full mode: the kernel's format requests, then the labels and
//! the empty VTOC) and `fdasd -a` (one partition over the volume).
//!
//! Every operation is a real channel program, run the way the kernel runs
//! it: START SUBCHANNEL, the I/O interruption, TEST SUBCHANNEL, with
//! concurrent sense. The programs are the ones Linux builds
//! (`drivers/s390/block/dasd_eckd.c`: `define_extent`, `locate_record`,
//! `locate_record_ext`, `prefix_LRE`, `dasd_eckd_analysis_ccw`,
//! `dasd_eckd_build_format`, `dasd_eckd_format_process_data`,
//! `dasd_eckd_build_cp_cmd_single`, `dasd_eckd_build_cp_cmd_track`; cio's
//! `device_id.c` and `device_pgid.c`; s390-tools `dasdfmt.c`, `fdasd.c`
//! and `libvtoc`), as `shared/spec/dasd-notes.md` §4 lists them. The
//! driver is the engine of `zcss dasd format` and the guest of the DASD
//! example traces; it works on emulated and on passthrough devices (give
//! it a settle hook for the latter, see [`LinuxDasd::with_settle`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use zcss_ccw::memory::{AccessError, AccessKey, GuestMemory};
use zcss_ccw::scsw::Scsw;
use zcss_ccw::sid::SubchannelId;
use zcss_css::{Cc, Css, IoCtx, ProgramCheck};
use zcss_dasd::layout::{CdlVtoc, DscbDate, Volser, VolumeSpec};
use zcss_dasd::track::{Records, TrackAddr, TrackBuilder};

/// The I/O-interruption subclass the driver enables its subchannel for
/// (Linux cio's default for DASDs).
pub const ISC: u8 = 3;

/// Guest storage the driver needs for its control blocks, channel
/// programs and parameters, at the address given to [`LinuxDasd::new`].
pub const AREA_LEN: u64 = 0x1_0000;

/// Offsets in the driver's area.
mod area {
    pub const SCHIB: u64 = 0x0000;
    pub const ORB: u64 = 0x0040;
    pub const IRB: u64 = 0x0080;
    pub const CCWS: u64 = 0x0100;
    pub const CCWS_END: u64 = 0x1000;
    pub const DATA: u64 = 0x1000;
    pub const DATA_END: u64 = super::AREA_LEN;
}

/// How long the driver waits for an interruption.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

// Command codes (Linux dasd_eckd.h).
const SENSE_ID: u8 = 0xe4;
const SNID: u8 = 0x34;
const SPID: u8 = 0xaf;
const READ_COUNT: u8 = 0x12;
const READ_MT: u8 = 0x86;
const WRITE_MT: u8 = 0x85;
const WRITE_KD_MT: u8 = 0x8d;
const WRITE_CKD: u8 = 0x1d;
const WRITE_CKD_MT: u8 = 0x9d;
const READ_TRACK_DATA: u8 = 0xa6;
const WRITE_TRACK_DATA: u8 = 0xa5;
const DEFINE_EXTENT: u8 = 0x63;
const LOCATE_RECORD: u8 = 0x47;
const PFX: u8 = 0xe7;
const PSF: u8 = 0x27;
const RSSD: u8 = 0x3e;
const RCD: u8 = 0xfa;
const RDC: u8 = 0x64;

// CCW flags.
const CC: u8 = 0x40;
const SLI: u8 = 0x20;
const IDA: u8 = 0x04;

/// CDL record lengths (key and data) of track 0's records 1–3 (Linux
/// `sizes_trk0`), and of every record of track 1 (`LABEL_SIZE`).
pub const SIZES_TRK0: [u16; 3] = [28, 148, 84];
/// Key plus data of a CDL track-1 record: one DSCB.
pub const LABEL_SIZE: u16 = 140;

/// Linux `DASD_CQR_MAX_CCW`: the CCWs of one format request, which bounds
/// its tracks (`dasd_eckd_format_process_data`).
const MAX_CCW: u32 = 255;

/// The time stamp of write DEFINE EXTENTs (Linux `set_timestamp` takes
/// the TOD clock; a fixed value keeps recorded traces replayable).
const TIMESTAMP: u64 = 0x00d8_1234_5678_9abc;

/// The empty bootstrap `dasdfmt` writes: IPL1 (key and 24 data bytes: a
/// PSW and a NOP CCW) and IPL2 (key and 144 data bytes), s390-tools
/// `dasdfmt.h` `ipl1`, `ipl2`.
const IPL1: [u8; 28] = [
    0xc9, 0xd7, 0xd3, 0xf1, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];
/// The first 48 bytes of IPL2 (key and data; the rest is zero).
const IPL2_HEAD: [u8; 48] = [
    0xc9, 0xd7, 0xd3, 0xf2, 0x07, 0x00, 0x3a, 0xb8, 0x40, 0x00, 0x00, 0x06, 0x31, 0x00, 0x3a, 0xbe, 0x40, 0x00, 0x00,
    0x05, 0x08, 0x00, 0x3a, 0xa0, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
];

/// How the driver classified the volume (`dasd_eckd_end_analysis`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// No records where the analysis looks: "not formatted".
    Unformatted,
    /// Compatible disk layout with this block size.
    Cdl(u16),
    /// Linux disk layout with this block size.
    Ldl(u16),
    /// Formatted, but in a layout Linux does not use.
    Unsupported,
}

impl Layout {
    /// The block size of a formatted layout.
    #[must_use]
    pub const fn block_size(self) -> Option<u16> {
        match self {
            Self::Cdl(b) | Self::Ldl(b) => Some(b),
            _ => None,
        }
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unformatted => f.write_str("not formatted"),
            Self::Cdl(b) => write!(f, "CDL, {b}-byte blocks"),
            Self::Ldl(b) => write!(f, "LDL, {b}-byte blocks"),
            Self::Unsupported => f.write_str("a layout Linux does not use"),
        }
    }
}

/// The disk layouts `dasdfmt -d` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiskLayout {
    /// Compatible disk layout (`-d cdl`, the default).
    Cdl,
    /// Linux disk layout (`-d ldl`).
    Ldl,
}

/// What `dasdfmt` is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DasdfmtOptions {
    /// The layout.
    pub layout: DiskLayout,
    /// Block size: 512, 1024, 2048 or 4096 (`-b`, default 4096).
    pub block_size: u16,
    /// Volume serial (`-l`; default `0X` and the device number).
    pub volser: Option<Volser>,
    /// Cylinders per format step (`-r`, default 10).
    pub request_cylinders: u32,
}

impl Default for DasdfmtOptions {
    fn default() -> Self {
        Self {
            layout: DiskLayout::Cdl,
            block_size: 4096,
            volser: None,
            request_cylinders: 10,
        }
    }
}

/// What a format request writes (`format_data_t` intensity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intensity {
    /// Records of the block size (CDL: with the special records of tracks
    /// 0 and 1), permission to format R0 granted.
    Format(DiskLayout),
    /// One empty record R1 (key and data length 0) per track: the track
    /// reads as not formatted.
    Invalidate,
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// An I/O instruction answered other than the driver expects.
    #[error("{insn} answered {outcome}")]
    Instruction {
        /// The mnemonic.
        insn: &'static str,
        /// What it answered.
        outcome: String,
    },
    /// No interruption within the time allowed.
    #[error("no I/O interruption within {0:?}")]
    NoInterruption(Duration),
    /// A channel program ended with other status than channel end and
    /// device end.
    #[error(
        "{what}: device status {dstat:#04x}, subchannel status {cstat:#04x}{}",
        sense_text(sense)
    )]
    Io {
        /// What the program was for.
        what: &'static str,
        /// Device status.
        dstat: u8,
        /// Subchannel status.
        cstat: u8,
        /// The concurrent sense of a unit check.
        sense: Option<[u8; 32]>,
    },
    /// Guest storage could not be accessed.
    #[error("guest storage: {0}")]
    Storage(#[from] AccessError),
    /// The operation needs a formatted volume of another layout.
    #[error("the volume is {0}")]
    Layout(Layout),
    /// A parameter the operation cannot use.
    #[error("{0}")]
    Invalid(String),
}

fn sense_text(s: &Option<[u8; 32]>) -> String {
    s.map_or_else(String::new, |s| {
        format!(", sense {:02x}{:02x}{:02x}{:02x}", s[0], s[1], s[2], s[3])
    })
}

/// Result of driver operations.
pub type DriverResult<T> = Result<T, DriverError>;

/// How a channel program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct End {
    /// The SCSW TEST SUBCHANNEL stored.
    pub scsw: Scsw,
    /// The concurrent sense, when the program ended with unit check.
    pub sense: Option<[u8; 32]>,
}

impl End {
    /// Channel end and device end (with nothing else but status modifier
    /// or attention), no subchannel status.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.scsw.dstat.into_bits() & !0x0c == 0 && self.scsw.cstat.into_bits() == 0
    }

    fn check(self, what: &'static str) -> DriverResult<()> {
        if self.ok() {
            Ok(())
        } else {
            Err(DriverError::Io {
                what,
                dstat: self.scsw.dstat.into_bits(),
                cstat: self.scsw.cstat.into_bits(),
                sense: self.sense,
            })
        }
    }
}

/// A channel program being built: its CCWs and the parameters they point
/// to, laid out in the driver's area when it runs.
struct Cp {
    ccws: Vec<[u8; 8]>,
    data: Vec<u8>,
    base: u64,
}

impl Cp {
    fn new(area: u64) -> Self {
        Self {
            ccws: Vec::new(),
            data: Vec::new(),
            base: area + area::DATA,
        }
    }

    /// Places `bytes` among the program's parameters; returns their
    /// address.
    fn data(&mut self, bytes: &[u8]) -> u32 {
        let at = self.base + self.data.len() as u64;
        self.data.extend_from_slice(bytes);
        self.data.resize(self.data.len().next_multiple_of(8), 0);
        u32::try_from(at).unwrap_or(u32::MAX)
    }

    /// Reserves `len` bytes for the device to fill.
    fn area(&mut self, len: usize) -> u32 {
        let at = self.base + self.data.len() as u64;
        self.data.resize((self.data.len() + len).next_multiple_of(8), 0);
        u32::try_from(at).unwrap_or(u32::MAX)
    }

    /// A format-1 CCW; the previous one gets command chaining.
    fn ccw(&mut self, cmd: u8, flags: u8, count: u16, cda: u32) {
        if let Some(prev) = self.ccws.last_mut() {
            prev[1] |= CC;
        }
        let c = count.to_be_bytes();
        let a = cda.to_be_bytes();
        self.ccws.push([cmd, flags, c[0], c[1], a[0], a[1], a[2], a[3]]);
    }

    /// A CCW sending `bytes`.
    fn out(&mut self, cmd: u8, flags: u8, bytes: &[u8]) {
        let a = self.data(bytes);
        self.ccw(cmd, flags, u16::try_from(bytes.len()).unwrap_or(u16::MAX), a);
    }

    /// A CCW whose data are addressed by format-2 IDAWs covering `len`
    /// bytes at `buf` (the first IDAW anywhere, the next ones at 4K
    /// boundaries, as Linux `idal_create_words` writes them).
    fn idal(&mut self, cmd: u8, flags: u8, buf: u64, len: usize) {
        let mut idaws = Vec::new();
        let mut a = buf;
        let end = buf + len as u64;
        while a < end {
            idaws.extend_from_slice(&a.to_be_bytes());
            a = (a & !0xfff) + 0x1000;
        }
        let at = self.data(&idaws);
        self.ccw(cmd, flags | IDA, u16::try_from(len).unwrap_or(u16::MAX), at);
    }
}

/// Records of `kl`/`dl` per 3390 track (Linux `recs_per_track`).
#[must_use]
pub fn recs_per_track(kl: u32, dl: u32) -> u32 {
    let dn = (dl + 6).div_ceil(232) + 1;
    if kl > 0 {
        let kn = (kl + 6).div_ceil(232) + 1;
        1729 / (10 + 9 + (kl + 6 * kn).div_ceil(34) + 9 + (dl + 6 * dn).div_ceil(34))
    } else {
        1729 / (10 + 9 + (dl + 6 * dn).div_ceil(34))
    }
}

/// The 3390 sector of record `rec` of `reclen` bytes (Linux
/// `locate_record`).
fn sector(rec: u32, reclen: u32) -> u8 {
    if rec == 0 {
        return 0;
    }
    let dn = (reclen + 6).div_ceil(232);
    let d = 9 + (reclen + 6 * (dn + 1)).div_ceil(34);
    u8::try_from((49 + (rec - 1) * (10 + d)) / 8).unwrap_or(0xff)
}

/// The CCHH of relative track `trk` (cylinders beyond 65,535 keep their
/// high bits in the head field, Linux `set_ch_t`).
fn ch(trk: u32) -> [u8; 4] {
    let (c, h) = (trk / 15, trk % 15);
    let cc = u16::try_from(c & 0xffff).unwrap_or(0);
    let hh = u16::try_from(((c >> 16) << 4) | h).unwrap_or(0);
    let [c0, c1] = cc.to_be_bytes();
    let [h0, h1] = hh.to_be_bytes();
    [c0, c1, h0, h1]
}

/// An 8-byte count field.
fn count_field(trk: u32, rec: u8, kl: u8, dl: u16) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&ch(trk));
    b[4] = rec;
    b[5] = kl;
    b[6..].copy_from_slice(&dl.to_be_bytes());
    b
}

/// Linux's DASD driver on one subchannel (see the [module
/// documentation](self)).
pub struct LinuxDasd {
    css: Css,
    io: Arc<dyn GuestMemory>,
    cpu: Arc<dyn GuestMemory>,
    gr1: u32,
    area: u64,
    settle: Option<Box<dyn FnMut() + Send>>,
    intparm: u32,
    opm: u8,
    devno: u16,
    commands: Vec<u8>,
    rdc: [u8; 64],
    conf: [u8; 256],
    features: [u8; 256],
    cylinders: u32,
    layout: Layout,
}

impl std::fmt::Debug for LinuxDasd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxDasd")
            .field("gr1", &self.gr1)
            .field("cylinders", &self.cylinders)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl LinuxDasd {
    /// The driver for the DASD on `sid` of `css`; `io` is the storage the
    /// channel subsystem works on, and the driver's control blocks live at
    /// `area` (its [`AREA_LEN`] bytes must lie in storage, below 2 GiB).
    #[must_use]
    pub fn new(css: Css, io: Arc<dyn GuestMemory>, sid: SubchannelId, area: u64) -> Self {
        let gr1 = sid.to_word(css.mcss_enabled());
        Self {
            css,
            cpu: io.clone(),
            io,
            gr1,
            area,
            settle: None,
            intparm: 0x0da5_d000,
            opm: 0x80,
            devno: 0,
            commands: Vec::new(),
            rdc: [0; 64],
            conf: [0; 256],
            features: [0; 256],
            cylinders: 0,
            layout: Layout::Unformatted,
        }
    }

    /// The driver's own stores and fetches go through `cpu` (a recorder's
    /// [`cpu_memory`](crate::trace::Recorder::cpu_memory), so that a trace
    /// holds what the driver put into storage).
    #[must_use]
    pub fn with_cpu_memory(mut self, cpu: Arc<dyn GuestMemory>) -> Self {
        self.cpu = cpu;
        self
    }

    /// Calls `settle` after each START SUBCHANNEL, before the driver takes
    /// the interruption: for a device that completes asynchronously, a
    /// recording embedding lets the work finish there and records `wait`.
    #[must_use]
    pub fn with_settle(mut self, settle: impl FnMut() + Send + 'static) -> Self {
        self.settle = Some(Box::new(settle));
        self
    }

    /// The command codes of every CCW the driver started, in order.
    #[must_use]
    pub fn commands(&self) -> &[u8] {
        &self.commands
    }

    /// READ DEVICE CHARACTERISTICS as the characteristics check read it.
    #[must_use]
    pub const fn rdc(&self) -> &[u8; 64] {
        &self.rdc
    }

    /// The feature codes (PSF/RSSD suborder 0x41).
    #[must_use]
    pub const fn features(&self) -> &[u8; 256] {
        &self.features
    }

    /// Cylinders (RDC).
    #[must_use]
    pub const fn cylinders(&self) -> u32 {
        self.cylinders
    }

    /// Tracks of the volume.
    #[must_use]
    pub const fn tracks(&self) -> u32 {
        self.cylinders.saturating_mul(15)
    }

    /// The layout the last analysis found.
    #[must_use]
    pub const fn layout(&self) -> Layout {
        self.layout
    }

    /// The device number (from STORE SUBCHANNEL).
    #[must_use]
    pub const fn devno(&self) -> u16 {
        self.devno
    }

    /// Whether the driver uses PREFIX (feature code byte 8, `01`).
    #[must_use]
    pub fn uses_prefix(&self) -> bool {
        self.features[8] & 0x01 != 0
    }

    /// Blocks per track of the analysed layout (0 if not formatted).
    #[must_use]
    pub fn blocks_per_track(&self) -> u32 {
        self.layout.block_size().map_or(0, |b| recs_per_track(0, u32::from(b)))
    }

    /// Writes `data` into guest storage as the CPU.
    ///
    /// # Errors
    /// Outside storage.
    pub fn store(&self, addr: u64, data: &[u8]) -> DriverResult<()> {
        Ok(self.cpu.write(addr, data, AccessKey::ZERO)?)
    }

    /// Reads `len` bytes of guest storage as the CPU.
    ///
    /// # Errors
    /// Outside storage.
    pub fn fetch(&self, addr: u64, len: usize) -> DriverResult<Vec<u8>> {
        let mut b = vec![0; len];
        self.cpu.read(addr, &mut b, AccessKey::ZERO)?;
        Ok(b)
    }

    fn ctx(&self) -> IoCtx<'_> {
        IoCtx::new(&*self.io)
    }

    fn insn(insn: &'static str, r: Result<Cc, ProgramCheck>) -> DriverResult<()> {
        match r {
            Ok(Cc::Zero) => Ok(()),
            Ok(cc) => Err(DriverError::Instruction {
                insn,
                outcome: format!("cc {}", cc.value()),
            }),
            Err(p) => Err(DriverError::Instruction {
                insn,
                outcome: format!("a program check ({p:?})"),
            }),
        }
    }

    /// Everything setting the device online does: [`Self::enable`],
    /// [`Self::recognize`], [`Self::check_characteristics`] and
    /// [`Self::analyze`].
    ///
    /// # Errors
    /// An instruction or channel program failed.
    pub fn online(&mut self) -> DriverResult<Layout> {
        self.enable()?;
        self.recognize()?;
        self.check_characteristics()?;
        self.analyze()
    }

    /// cio's subchannel setup: STORE SUBCHANNEL, then MODIFY SUBCHANNEL
    /// with the subchannel enabled on ISC 3, concurrent sense, and the
    /// operational paths as LPM.
    ///
    /// # Errors
    /// The subchannel is not operational.
    pub fn enable(&mut self) -> DriverResult<()> {
        let schib = self.area + area::SCHIB;
        Self::insn("stsch", self.css.stsch(&self.ctx(), self.gr1, schib))?;
        let mut s = self.fetch(schib, 28)?;
        s[4] = (s[4] & !0x38) | (ISC << 3);
        s[5] |= 0x80;
        s[27] |= 0x01;
        self.opm = s[11] & s[14] & s[15];
        s[8] = self.opm;
        self.devno = u16::from_be_bytes([s[6], s[7]]);
        self.store(schib, &s)?;
        Self::insn("msch", self.css.msch(&self.ctx(), self.gr1, schib))
    }

    /// Runs `cp` on the paths `lpm`: START SUBCHANNEL, the interruption,
    /// TEST SUBCHANNEL.
    fn run(&mut self, cp: &Cp, lpm: u8) -> DriverResult<End> {
        let ccw_room = usize::try_from(area::CCWS_END - area::CCWS).unwrap_or(0) / 8;
        let data_room = usize::try_from(area::DATA_END - area::DATA).unwrap_or(0);
        if cp.ccws.len() > ccw_room || cp.data.len() > data_room {
            return Err(DriverError::Invalid(format!(
                "a channel program of {} CCWs and {} parameter bytes does not fit the driver's area",
                cp.ccws.len(),
                cp.data.len()
            )));
        }
        let flat: Vec<u8> = cp.ccws.iter().flatten().copied().collect();
        self.store(self.area + area::CCWS, &flat)?;
        if !cp.data.is_empty() {
            self.store(cp.base, &cp.data)?;
        }
        self.commands.extend(cp.ccws.iter().map(|c| c[0]));
        self.intparm = self.intparm.wrapping_add(1);
        let cpa = u32::try_from(self.area + area::CCWS).unwrap_or(0);
        let mut orb = [0u8; 12];
        orb[..4].copy_from_slice(&self.intparm.to_be_bytes());
        // F (format-1 CCWs), H (format-2 IDAWs); the paths.
        orb[5] = 0x80 | 0x02;
        orb[6] = lpm;
        orb[8..].copy_from_slice(&cpa.to_be_bytes());
        let orb_addr = self.area + area::ORB;
        self.store(orb_addr, &orb)?;
        Self::insn("ssch", self.css.ssch(&self.ctx(), self.gr1, orb_addr))?;
        if let Some(settle) = &mut self.settle {
            settle();
        }
        let deadline = Instant::now() + IO_TIMEOUT;
        let mut spins = 0u32;
        let code = loop {
            self.css.poll();
            if let Some(code) = self.css.next_interrupt(0x80 >> ISC) {
                break code;
            }
            if Instant::now() >= deadline {
                return Err(DriverError::NoInterruption(IO_TIMEOUT));
            }
            if spins < 1000 {
                spins += 1;
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        };
        if code.intparm != self.intparm {
            return Err(DriverError::Instruction {
                insn: "tpi",
                outcome: format!("interruption parameter {:#x}, not {:#x}", code.intparm, self.intparm),
            });
        }
        let irb_addr = self.area + area::IRB;
        Self::insn("tsch", self.css.tsch(&self.ctx(), self.gr1, irb_addr))?;
        let irb = self.fetch(irb_addr, 64)?;
        let scsw = Scsw::decode(&irb).ok_or_else(|| DriverError::Invalid("undecodable SCSW".into()))?;
        let sense = (scsw.dstat.unit_check() && scsw.ctrl.extended_control()).then(|| {
            let mut s = [0u8; 32];
            s.copy_from_slice(&irb[32..64]);
            s
        });
        Ok(End { scsw, sense })
    }

    /// Paths of the operational path mask, 0x80 first.
    fn paths(&self) -> impl Iterator<Item = u8> {
        let opm = self.opm;
        (0..8).map(|i| 0x80u8 >> i).filter(move |m| opm & m != 0)
    }

    /// cio's device recognition and path verification: SENSE ID, then per
    /// path SENSE PATH GROUP ID, SET PATH GROUP ID (establish, multipath)
    /// and SENSE PATH GROUP ID again. Returns the SENSE ID data.
    ///
    /// # Errors
    /// A program failed, or the path group was not established.
    pub fn recognize(&mut self) -> DriverResult<[u8; 40]> {
        let mut cp = Cp::new(self.area);
        let a = cp.area(40);
        cp.ccw(SENSE_ID, SLI, 40, a);
        self.run(&cp, self.opm)?.check("sense id")?;
        let mut id = [0u8; 40];
        id.copy_from_slice(&self.fetch(u64::from(a), 40)?);
        // A path group id: CPU address, CPU id and model, TOD high word.
        let mut pgid = [0u8; 12];
        pgid[0] = 0x80;
        pgid[1..].copy_from_slice(&[0x00, 0x01, 0x12, 0x34, 0x56, 0x39, 0x06, 0xd4, 0x5d, 0x00, 0x01]);
        let paths: Vec<u8> = self.paths().collect();
        for lpm in paths {
            let mut cp = Cp::new(self.area);
            let s = cp.area(12);
            cp.ccw(SNID, SLI, 12, s);
            self.run(&cp, lpm)?.check("sense path group id")?;
            let mut cp = Cp::new(self.area);
            cp.out(SPID, 0, &pgid);
            self.run(&cp, lpm)?.check("set path group id")?;
            let mut cp = Cp::new(self.area);
            let s = cp.area(12);
            cp.ccw(SNID, SLI, 12, s);
            self.run(&cp, lpm)?.check("sense path group id")?;
            if self.fetch(u64::from(s), 1)?[0] & 0xc8 != 0xc8 {
                return Err(DriverError::Invalid(format!(
                    "path {lpm:#04x}: the path group is not grouped multipath"
                )));
            }
        }
        Ok(id)
    }

    /// READ CONFIGURATION DATA on one path, the buffer preset with EBCDIC
    /// "V1.0" as Linux does.
    fn read_conf(&mut self, lpm: u8) -> DriverResult<[u8; 256]> {
        let mut cp = Cp::new(self.area);
        let mut buf = [0u8; 256];
        buf[..4].copy_from_slice(&[0xe5, 0xf1, 0x4b, 0xf0]);
        let a = cp.data(&buf);
        cp.ccw(RCD, 0, 256, a);
        self.run(&cp, lpm)?.check("read configuration data")?;
        buf.copy_from_slice(&self.fetch(u64::from(a), 256)?);
        Ok(buf)
    }

    /// PERFORM SUBSYSTEM FUNCTION prepare-for-read-subsystem-data of
    /// `suborder` chained to READ SUBSYSTEM DATA; `None` when the device
    /// refused it.
    fn prssd(&mut self, suborder: u8, len: u16) -> DriverResult<Option<Vec<u8>>> {
        let mut cp = Cp::new(self.area);
        let mut p = [0u8; 12];
        p[0] = 0x18;
        p[6] = suborder;
        cp.out(PSF, 0, &p);
        let a = cp.area(usize::from(len));
        cp.ccw(RSSD, 0, len, a);
        let e = self.run(&cp, self.opm)?;
        if e.ok() {
            Ok(Some(self.fetch(u64::from(a), usize::from(len))?))
        } else {
            Ok(None)
        }
    }

    /// `dasd_eckd_check_characteristics`: RCD per path, PSF Set Subsystem
    /// Characteristics, RCD again, the feature codes, the volume storage
    /// and logical configuration queries (errors ignored), RDC, and on a
    /// PREFIX-capable 3990 the unit address configuration.
    ///
    /// # Errors
    /// A program Linux needs failed, or the configuration data lack the
    /// device NED or the GNEQ.
    pub fn check_characteristics(&mut self) -> DriverResult<()> {
        let paths: Vec<u8> = self.paths().collect();
        for lpm in paths {
            self.conf = self.read_conf(lpm)?;
        }
        let mut ssc = [0u8; 66];
        ssc[0] = 0x1d;
        ssc[6] = 0xc8;
        ssc[7] = 0x88;
        let mut cp = Cp::new(self.area);
        cp.out(PSF, 0, &ssc);
        self.run(&cp, self.opm)?.check("set subsystem characteristics")?;
        self.conf = self.read_conf(self.opm)?;
        let f = self
            .prssd(0x41, 256)?
            .ok_or_else(|| DriverError::Invalid("the device refused the feature codes (PSF/RSSD 41)".into()))?;
        self.features.copy_from_slice(&f);
        for sub in [0x52, 0x53] {
            let _ = self.prssd(sub, 256)?;
        }
        let mut cp = Cp::new(self.area);
        let a = cp.area(64);
        cp.ccw(RDC, 0, 64, a);
        self.run(&cp, self.opm)?.check("read device characteristics")?;
        let rdc = self.fetch(u64::from(a), 64)?;
        self.rdc.copy_from_slice(&rdc);
        self.cylinders = u32::from(u16::from_be_bytes([self.rdc[12], self.rdc[13]]));
        if self.cylinders == 0xfffe {
            self.cylinders = u32::from_be_bytes([self.rdc[60], self.rdc[61], self.rdc[62], self.rdc[63]]);
        }
        self.ned()?;
        if u16::from_be_bytes([self.rdc[0], self.rdc[1]]) == 0x3990 && self.uses_prefix() {
            let _ = self.prssd(0x0e, 512)?;
        }
        Ok(())
    }

    /// The device NED (identifier 3, descriptor 1) of the configuration
    /// data, as `dasd_eckd_identify_conf_parts` finds it.
    fn ned(&self) -> DriverResult<[u8; 32]> {
        let mut ned = None;
        let mut gneq = false;
        for e in self.conf.chunks(32) {
            match (e[0] >> 6, e[1]) {
                (3, 1) => ned = Some(e),
                (2, _) => gneq = true,
                _ => {}
            }
        }
        match ned {
            Some(n) if gneq => {
                let mut b = [0u8; 32];
                b.copy_from_slice(n);
                Ok(b)
            }
            _ => Err(DriverError::Invalid(
                "the configuration data have no device NED or no GNEQ".into(),
            )),
        }
    }

    /// Linux `define_extent`: 16 bytes, or 32 with the time stamp of
    /// writes (count 32 and SLI).
    fn define_extent(cp: &mut Cp, trk: u32, totrk: u32, cmd: u8, blksize: u16, r0_perm: bool) {
        let d = Self::de_bytes(trk, totrk, cmd, blksize, r0_perm);
        if d.len() == 32 {
            cp.out(DEFINE_EXTENT, SLI, &d);
        } else {
            cp.out(DEFINE_EXTENT, 0, &d);
        }
    }

    /// The DEFINE EXTENT parameters (16 bytes, or 32 with a time stamp).
    fn de_bytes(trk: u32, totrk: u32, cmd: u8, blksize: u16, r0_perm: bool) -> Vec<u8> {
        let mut d = [0u8; 32];
        let (mask, attr, stamp, bs) = match cmd {
            READ_COUNT => (0x40, 0xc4, false, 0),
            WRITE_MT | WRITE_KD_MT => (0x80, 0xc0, true, 0),
            WRITE_CKD | WRITE_CKD_MT => (0x00, 0xc4, true, 0),
            WRITE_TRACK_DATA => (0x80, 0xc0, true, blksize),
            // READ_MT, READ KEY AND DATA MT (0x8e), READ_TRACK_DATA.
            _ => (0x40, 0xc0, false, 0),
        };
        d[0] = mask;
        d[1] = attr;
        d[2..4].copy_from_slice(&bs.to_be_bytes());
        if r0_perm {
            d[7] |= 0x04;
        }
        d[8..12].copy_from_slice(&ch(trk));
        d[12..16].copy_from_slice(&ch(totrk));
        if stamp {
            d[7] |= 0x0a;
            d[16..24].copy_from_slice(&TIMESTAMP.to_be_bytes());
            d.to_vec()
        } else {
            d[..16].to_vec()
        }
    }

    /// Linux `locate_record` parameters.
    fn lo(trk: u32, rec: u32, no_rec: u8, cmd: u8, reclen: u16) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[13] = sector(rec, u32::from(reclen));
        b[3] = no_rec;
        let (op, aux, len) = match cmd {
            WRITE_MT | WRITE_KD_MT => (0x01, 0x80, reclen),
            WRITE_CKD | WRITE_CKD_MT => (0x03, 0x80, reclen),
            READ_COUNT => (0x06, 0, 0),
            // READ_MT, READ KEY AND DATA MT (0x8e).
            _ => (0x06, 0x80, reclen),
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
        if cmd == WRITE_TRACK_DATA {
            b[0] = 0x3f;
            b[17] = 0x23;
            b[1] = 0x80;
            b[14..16].copy_from_slice(&reclen.to_be_bytes());
        } else {
            b[0] = 0x0c;
            b[1] = 0x80;
            b[14..16].copy_from_slice(&tlf.to_be_bytes());
        }
        b[4..8].copy_from_slice(&ch(trk));
        b.copy_within(4..8, 8);
        b[12] = u8::try_from(rec).unwrap_or(0xff);
        b
    }

    /// Linux `prefix_LRE`: format 0 (DE only) or 1 (DE + LRE), 64 bytes.
    #[expect(clippy::too_many_arguments, reason = "the parameters of Linux's prefix_LRE")]
    fn prefix(
        &self,
        cp: &mut Cp,
        trk: u32,
        totrk: u32,
        cmd: u8,
        lre: Option<[u8; 20]>,
        blksize: u16,
        r0_perm: bool,
    ) -> DriverResult<()> {
        let dx = Self::de_bytes(trk, totrk, cmd, blksize, r0_perm);
        let ned = self.ned()?;
        let mut p = vec![u8::from(lre.is_some()), 0x80, ned[31], 0, ned[30], 0, 0, 0, 0, 0, 0, 0];
        if dx.len() == 32 {
            p[1] |= 0x40;
        }
        p.extend_from_slice(&dx);
        p.resize(44, 0);
        p.extend_from_slice(&lre.unwrap_or([0; 20]));
        cp.out(PFX, 0, &p);
        Ok(())
    }

    /// `dasd_eckd_analysis_ccw` and the layout decision of
    /// `dasd_eckd_end_analysis`: the counts of track 0's first four
    /// records and of track 1's first.
    ///
    /// # Errors
    /// A program failed other than with "no record found".
    pub fn analyze(&mut self) -> DriverResult<Layout> {
        let mut cp = Cp::new(self.area);
        Self::define_extent(&mut cp, 0, 1, READ_COUNT, 0, false);
        cp.out(LOCATE_RECORD, 0, &Self::lo(0, 0, 4, READ_COUNT, 0));
        let counts: Vec<u32> = (0..5).map(|_| cp.area(8)).collect();
        for &a in &counts[..4] {
            cp.ccw(READ_COUNT, 0, 8, a);
        }
        cp.out(LOCATE_RECORD, 0, &Self::lo(1, 0, 1, READ_COUNT, 0));
        cp.ccw(READ_COUNT, 0, 8, counts[4]);
        let e = self.run(&cp, self.opm)?;
        self.layout = if e.ok() {
            let mut c = Vec::new();
            for &a in &counts {
                c.push(self.fetch(u64::from(a), 8)?);
            }
            classify(&c)
        } else if e.sense.is_some_and(|s| s[1] & 0x08 != 0) {
            Layout::Unformatted
        } else {
            e.check("volume analysis")?;
            Layout::Unformatted
        };
        Ok(self.layout)
    }

    /// One format request, `dasd_eckd_build_format`: tracks `start..=stop`
    /// (at most 255 CCWs, Linux `DASD_CQR_MAX_CCW`).
    ///
    /// # Errors
    /// Too many tracks for one request, a bad block size, or the program
    /// failed.
    pub fn format_request(&mut self, start: u32, stop: u32, blksize: u16, intensity: Intensity) -> DriverResult<()> {
        if !matches!(blksize, 512 | 1024 | 2048 | 4096) {
            return Err(DriverError::Invalid(format!(
                "block size {blksize}: 512, 1024, 2048 or 4096"
            )));
        }
        let rpt = recs_per_track(0, u32::from(blksize));
        let nr = stop.checked_sub(start).map_or(0, |n| n + 1);
        let per_track = if intensity == Intensity::Invalidate { 1 } else { rpt };
        let count_all = u8::try_from(per_track * nr)
            .ok()
            .filter(|_| nr > 0 && per_track * nr + 2 <= MAX_CCW)
            .ok_or_else(|| DriverError::Invalid(format!("tracks {start}..={stop} do not fit one format request")))?;
        let cdl = intensity == Intensity::Format(DiskLayout::Cdl);
        let r0_perm = intensity != Intensity::Invalidate;
        let mut cp = Cp::new(self.area);
        if self.uses_prefix() {
            self.prefix(&mut cp, start, stop, WRITE_CKD, None, 0, r0_perm)?;
        } else {
            Self::define_extent(&mut cp, start, stop, WRITE_CKD, 0, r0_perm);
        }
        if intensity == Intensity::Invalidate {
            cp.out(LOCATE_RECORD, 0, &Self::lo(start, 0, 1, WRITE_CKD, 8));
        } else {
            cp.out(LOCATE_RECORD, 0, &Self::lo(start, 0, count_all, WRITE_CKD, blksize));
        }
        for j in 0..nr {
            let t = start + j;
            if intensity == Intensity::Invalidate {
                cp.out(WRITE_CKD, SLI, &count_field(t, 1, 0, 0));
                continue;
            }
            for i in 0..rpt {
                let (kl, dl) = match (cdl, t, i) {
                    (true, 0, 0..=2) => (4, SIZES_TRK0[usize::try_from(i).unwrap_or(0)] - 4),
                    (true, 1, _) => (44, LABEL_SIZE - 44),
                    _ => (0, blksize),
                };
                let cmd = if i != 0 || j == 0 { WRITE_CKD } else { WRITE_CKD_MT };
                cp.out(cmd, SLI, &count_field(t, u8::try_from(i + 1).unwrap_or(0), kl, dl));
            }
        }
        self.run(&cp, self.opm)?.check("format")
    }

    /// The kernel's part of a format ioctl (`dasd_eckd_format_process_data`):
    /// tracks `start..=stop` in requests of `255 / records per track`
    /// tracks.
    ///
    /// # Errors
    /// As [`Self::format_request`].
    pub fn format(&mut self, start: u32, stop: u32, blksize: u16, intensity: Intensity) -> DriverResult<()> {
        let step = MAX_CCW / recs_per_track(0, u32::from(blksize)).max(1);
        let mut s = start;
        while s <= stop {
            let e = stop.min(s + step - 1);
            self.format_request(s, e, blksize, intensity)?;
            s = e + 1;
        }
        Ok(())
    }

    /// `dasdfmt` in full mode: invalidate track 0, format tracks 1 to the
    /// end in steps of `request_cylinders` cylinders, format track 0 again,
    /// then write the empty bootstrap, the volume label and (on both
    /// layouts, as dasdfmt does) the empty VTOC; finally analyse the
    /// volume as the kernel does after formatting. `progress` is called
    /// with the tracks done and the tracks of the volume.
    ///
    /// # Errors
    /// Bad options, or a program failed.
    pub fn dasdfmt(&mut self, opts: &DasdfmtOptions, progress: &mut dyn FnMut(u64, u64)) -> DriverResult<Layout> {
        let bs = opts.block_size;
        let tracks = self.tracks();
        if tracks < 2 {
            return Err(DriverError::Invalid("the volume has no tracks to format".into()));
        }
        let total = u64::from(tracks);
        let volser = match opts.volser {
            Some(v) => v,
            None => Volser::new(&format!("0X{:04X}", self.devno)).map_err(|e| DriverError::Invalid(e.to_string()))?,
        };
        let intensity = Intensity::Format(opts.layout);
        self.format(0, 0, bs, Intensity::Invalidate)?;
        let heads = 15;
        let reqsize = opts.request_cylinders.max(1);
        let stop = tracks - 1;
        let mut cur = 1;
        while cur < stop {
            let step = reqsize * heads - cur % heads;
            let end = if cur + heads * reqsize >= stop {
                stop
            } else {
                cur + step - 1
            };
            self.format(cur, end, bs, intensity)?;
            progress(u64::from(end) + 1, total);
            cur += step;
        }
        self.format(0, 0, bs, intensity)?;
        self.analyze()?;
        self.write_labels(opts.layout, volser, bs)?;
        progress(total, total);
        self.analyze()
    }

    /// `dasdfmt_write_labels`: IPL1 and IPL2 (with their keys on CDL), the
    /// volume label at block 2, and format-4, format-5 (and, beyond 65,536
    /// tracks, format-7) DSCBs at the VTOC's first blocks, track 1 — the
    /// empty VTOC of libvtoc, the one Hercules' `dasdinit -linux` copies.
    fn write_labels(&mut self, layout: DiskLayout, volser: Volser, bs: u16) -> DriverResult<()> {
        let bsz = u64::from(bs);
        let mut ipl2 = [0u8; 148];
        ipl2[..IPL2_HEAD.len()].copy_from_slice(&IPL2_HEAD);
        let cdl = layout == DiskLayout::Cdl;
        let keyed = |b: &[u8]| if cdl { b.to_vec() } else { b[4..].to_vec() };
        self.write_bytes(0, &keyed(&IPL1))?;
        self.write_bytes(bsz, &keyed(&ipl2))?;
        let vtoc = CdlVtoc::new(volser, self.cylinders);
        let mut label = vec![0xe5, 0xd6, 0xd3, 0xf1];
        label.extend_from_slice(&vtoc.vol1());
        if !cdl {
            label.drain(..4);
            // LNX1, no VTOC pointer; then the LDL version and the blocks
            // formatted.
            label[..4].copy_from_slice(&[0xd3, 0xd5, 0xe7, 0xf1]);
            label[11..16].fill(0x40);
            label[79] = 0xf2;
            let blocks = u64::from(self.tracks()) * u64::from(recs_per_track(0, u32::from(bs)));
            label.extend_from_slice(&blocks.to_be_bytes());
        }
        self.write_bytes(2 * bsz, &label)?;
        let spec = VolumeSpec {
            cylinders: self.cylinders,
            volser,
            linux: true,
        };
        let mut b = TrackBuilder::default();
        let t1 = spec.track(TrackAddr::new(0, 1), &mut b).to_vec();
        let bpt = u64::from(recs_per_track(0, u32::from(bs)));
        let big = u64::from(self.tracks()) > 0x10000;
        for (i, r) in Records::new(&t1).skip(1).take(if big { 3 } else { 2 }).enumerate() {
            let r = r.map_err(|e| DriverError::Invalid(e.to_string()))?;
            self.write_bytes((bpt + i as u64) * bsz, &t1[r.key_offset()..r.end()])?;
        }
        Ok(())
    }

    /// `fdasd -a`: one partition over the volume (track 2 to the end): the
    /// volume label and the VTOC's DSCBs (format 4, 5, 7 on large
    /// volumes, the partition's format 1, empty DSCBs up to nine),
    /// written through the block device as fdasd writes them. `created`
    /// dates the partition.
    ///
    /// # Errors
    /// The volume is not CDL, or a program failed.
    pub fn fdasd_auto(&mut self, created: DscbDate) -> DriverResult<()> {
        let Layout::Cdl(bs) = self.layout else {
            return Err(DriverError::Layout(self.layout));
        };
        let bsz = u64::from(bs);
        let label = self.read_bytes(2 * bsz, 84)?;
        let mut vs = [0u8; 6];
        vs.copy_from_slice(&label[8..14]);
        let vtoc = CdlVtoc {
            blksize: bs,
            created,
            ..CdlVtoc::new(Volser::from_ebcdic(vs), self.cylinders)
        };
        let mut vol1 = vec![0xe5, 0xd6, 0xd3, 0xf1];
        vol1.extend_from_slice(&vtoc.vol1());
        self.write_bytes(2 * bsz, &vol1)?;
        let dscbs = vtoc.dscbs().map_err(|e| DriverError::Invalid(e.to_string()))?;
        let bpt = u64::from(self.blocks_per_track());
        for (i, d) in dscbs.iter().enumerate() {
            self.write_bytes((bpt + i as u64) * bsz, d)?;
        }
        Ok(())
    }

    /// Where the driver stages block data for [`Self::read_bytes`] and
    /// [`Self::write_bytes`]: the upper half of its area.
    fn staging(&self) -> u64 {
        self.area + AREA_LEN / 2
    }

    /// Reads `len` bytes at byte `offset` of the block device (each block
    /// `blksize` bytes; a CDL special block holds only its record).
    ///
    /// # Errors
    /// Not formatted, or a program failed.
    pub fn read_bytes(&mut self, offset: u64, len: usize) -> DriverResult<Vec<u8>> {
        let bs = u64::from(self.layout.block_size().ok_or(DriverError::Layout(self.layout))?);
        let mut out = Vec::with_capacity(len);
        let mut at = offset;
        let end = offset + len as u64;
        while at < end {
            let blk = u32::try_from(at / bs).map_err(|_| DriverError::Invalid("offset beyond the volume".into()))?;
            let buf = self.staging();
            self.read_blocks(blk, 1, buf)?;
            let from = usize::try_from(at % bs).unwrap_or(0);
            let n = usize::try_from((bs - at % bs).min(end - at)).unwrap_or(0);
            out.extend_from_slice(&self.fetch(buf + from as u64, n)?);
            at += n as u64;
        }
        Ok(out)
    }

    /// Writes `data` at byte `offset` of the block device, reading and
    /// rewriting each block it touches (the page cache's
    /// read-modify-write of a partial block).
    ///
    /// # Errors
    /// Not formatted, or a program failed.
    pub fn write_bytes(&mut self, offset: u64, data: &[u8]) -> DriverResult<()> {
        let bs = u64::from(self.layout.block_size().ok_or(DriverError::Layout(self.layout))?);
        let mut at = offset;
        let end = offset + data.len() as u64;
        while at < end {
            let blk = u32::try_from(at / bs).map_err(|_| DriverError::Invalid("offset beyond the volume".into()))?;
            let buf = self.staging();
            let from = at % bs;
            let n = (bs - from).min(end - at);
            if from != 0 || n != bs {
                self.read_blocks(blk, 1, buf)?;
            }
            let src = usize::try_from(at - offset).unwrap_or(0);
            self.store(buf + from, &data[src..src + usize::try_from(n).unwrap_or(0)])?;
            self.write_blocks(blk, 1, buf)?;
            at += n;
        }
        Ok(())
    }

    /// Reads blocks `first..first + n` into guest storage at `buf` (block
    /// `k` at `buf + k × blksize`; CDL special blocks fill only their
    /// record's length).
    ///
    /// # Errors
    /// Not formatted, or a program failed.
    pub fn read_blocks(&mut self, first: u32, n: u32, buf: u64) -> DriverResult<()> {
        self.block_io(false, first, n, buf)
    }

    /// Writes blocks `first..first + n` from guest storage at `buf`.
    ///
    /// # Errors
    /// Not formatted, or a program failed.
    pub fn write_blocks(&mut self, first: u32, n: u32, buf: u64) -> DriverResult<()> {
        self.block_io(true, first, n, buf)
    }

    /// `dasd_eckd_build_cp`: track mode (PREFIX with LRE and one READ or
    /// WRITE TRACK DATA per track) when the features allow it and no CDL
    /// special block is involved, single-record mode otherwise.
    fn block_io(&mut self, write: bool, first: u32, n: u32, buf: u64) -> DriverResult<()> {
        let (Layout::Cdl(bs) | Layout::Ldl(bs)) = self.layout else {
            return Err(DriverError::Layout(self.layout));
        };
        if n == 0 {
            return Ok(());
        }
        let cdl = matches!(self.layout, Layout::Cdl(_));
        let bpt = self.blocks_per_track();
        let last = first + n - 1;
        if u64::from(last) >= u64::from(bpt) * u64::from(self.tracks()) {
            return Err(DriverError::Invalid(format!("block {last} is beyond the volume")));
        }
        let cdlspecial = cdl && first < 2 * bpt;
        let cmdrtd = self.features[9] & 0x20 != 0;
        let cmdwtd = self.features[12] & 0x40 != 0;
        let track_mode = !cdlspecial && self.uses_prefix() && if write { cmdwtd } else { cmdrtd };
        let cp = if track_mode {
            self.cp_track(write, first, last, bs, buf)?
        } else {
            self.cp_single(write, first, last, bs, buf, cdl)?
        };
        self.run(&cp, self.opm)?
            .check(if write { "block write" } else { "block read" })
    }

    /// `dasd_eckd_build_cp_cmd_single`.
    fn cp_single(&self, write: bool, first: u32, last: u32, bs: u16, buf: u64, cdl: bool) -> DriverResult<Cp> {
        let bpt = self.blocks_per_track();
        let cmd = if write { WRITE_MT } else { READ_MT };
        let (first_trk, first_offs) = (first / bpt, first % bpt);
        let last_trk = last / bpt;
        let mut cp = Cp::new(self.area);
        if self.uses_prefix() {
            self.prefix(&mut cp, first_trk, last_trk, cmd, None, 0, false)?;
        } else {
            Self::define_extent(&mut cp, first_trk, last_trk, cmd, 0, false);
        }
        let count =
            |k: u32| u8::try_from(k).map_err(|_| DriverError::Invalid("too many blocks for one request".into()));
        if !cdl || first > 2 * bpt {
            cp.out(
                LOCATE_RECORD,
                0,
                &Self::lo(first_trk, first_offs + 1, count(last - first + 1)?, cmd, bs),
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
                    &Self::lo(trk, offs + 1, count(last - recid + 1)?, cmd, len),
                );
            }
            let at = buf + u64::from(recid - first) * u64::from(bs);
            let at = u32::try_from(at).map_err(|_| DriverError::Invalid("buffer above 2 GiB".into()))?;
            cp.ccw(rcmd, 0, len, at);
        }
        Ok(cp)
    }

    /// `dasd_eckd_build_cp_cmd_track`: PREFIX format 1 with an LRE, then
    /// one READ/WRITE TRACK DATA per track through IDAWs.
    fn cp_track(&self, write: bool, first: u32, last: u32, bs: u16, buf: u64) -> DriverResult<Cp> {
        let bpt = self.blocks_per_track();
        let cmd = if write { WRITE_TRACK_DATA } else { READ_TRACK_DATA };
        let (first_trk, first_offs) = (first / bpt, first % bpt);
        let (last_trk, last_offs) = (last / bpt, last % bpt);
        let tlf = if first_trk == last_trk {
            last_offs - first_offs + 1
        } else {
            last_offs + 1
        } * u32::from(bs);
        let bad = || DriverError::Invalid("too many blocks for one request".into());
        let trkcount = u8::try_from(last_trk - first_trk + 1).map_err(|_| bad())?;
        let lre = Self::lre(
            first_trk,
            first_offs + 1,
            trkcount,
            cmd,
            bs,
            u16::try_from(tlf).map_err(|_| bad())?,
        );
        let mut cp = Cp::new(self.area);
        self.prefix(&mut cp, first_trk, last_trk, cmd, Some(lre), bs, false)?;
        let mut recid = first;
        let mut at = buf;
        while recid <= last {
            let offs = recid % bpt;
            let k = (last - recid + 1).min(bpt - offs);
            let len = usize::try_from(k * u32::from(bs)).map_err(|_| bad())?;
            cp.idal(cmd, 0, at, len);
            at += len as u64;
            recid += k;
        }
        Ok(cp)
    }
}

/// The layout of the five counts the analysis read (Linux
/// `dasd_eckd_end_analysis`): CDL when track 0's records 1–3 have key
/// length 4 and data lengths 24, 144, 80, LDL when all five are equal
/// unkeyed records; the block size from the fourth (CDL) or first count.
fn classify(c: &[Vec<u8>]) -> Layout {
    let kl = |i: usize| c[i][5];
    let dl = |i: usize| u16::from_be_bytes([c[i][6], c[i][7]]);
    let id = |i: usize| {
        (
            u16::from_be_bytes([c[i][0], c[i][1]]),
            u16::from_be_bytes([c[i][2], c[i][3]]),
            c[i][4],
        )
    };
    let heads = [0u16, 0, 0, 0, 1];
    let recs = [1u8, 2, 3, 4, 1];
    let cdl = (0..3).all(|i| kl(i) == 4 && dl(i) == SIZES_TRK0[i] - 4 && id(i) == (0, heads[i], recs[i]));
    let candidate = if cdl { 3 } else { 0 };
    let ldl = !cdl && (0..5).all(|i| kl(i) == 0 && dl(i) == dl(0) && id(i) == (0, heads[i], recs[i]));
    let bs = dl(candidate);
    let ok_size = kl(candidate) == 0 && matches!(bs, 512 | 1024 | 2048 | 4096);
    match (cdl, ldl, ok_size) {
        (true, _, true) => Layout::Cdl(bs),
        (false, true, true) => Layout::Ldl(bs),
        _ => Layout::Unsupported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recs_per_track_is_linux_s_3390_table() {
        let got: Vec<u32> = [512, 1024, 2048, 4096].iter().map(|&b| recs_per_track(0, b)).collect();
        assert_eq!(got, vec![49, 33, 21, 12]);
        assert_eq!(recs_per_track(44, 96), 50, "a track of DSCBs holds more than twelve");
        assert_eq!(recs_per_track(4, 24), 55);
    }

    #[test]
    fn sector_of_record_zero_is_zero_and_grows_with_the_record() {
        assert_eq!(sector(0, 4096), 0);
        assert_eq!(sector(1, 4096), 6);
        assert!(sector(12, 4096) > sector(11, 4096));
        assert!(sector(12, 4096) < 224);
    }

    #[test]
    fn ch_keeps_high_cylinder_bits_in_the_head_field() {
        assert_eq!(ch(16), [0, 1, 0, 1]);
        let t = 70_000 * 15 + 3;
        assert_eq!(ch(t), [0x11, 0x70, 0x00, 0x13]);
    }

    fn counts(c: &[(u16, u16, u8, u8, u16)]) -> Vec<Vec<u8>> {
        c.iter()
            .map(|&(cyl, head, rec, kl, dl)| {
                let mut b = cyl.to_be_bytes().to_vec();
                b.extend_from_slice(&head.to_be_bytes());
                b.extend_from_slice(&[rec, kl]);
                b.extend_from_slice(&dl.to_be_bytes());
                b
            })
            .collect()
    }

    #[test]
    fn classify_tells_cdl_ldl_and_other_layouts_apart() {
        let cdl = counts(&[
            (0, 0, 1, 4, 24),
            (0, 0, 2, 4, 144),
            (0, 0, 3, 4, 80),
            (0, 0, 4, 0, 4096),
            (0, 1, 1, 44, 96),
        ]);
        assert_eq!(classify(&cdl), Layout::Cdl(4096));
        let ldl = counts(&[
            (0, 0, 1, 0, 2048),
            (0, 0, 2, 0, 2048),
            (0, 0, 3, 0, 2048),
            (0, 0, 4, 0, 2048),
            (0, 1, 1, 0, 2048),
        ]);
        assert_eq!(classify(&ldl), Layout::Ldl(2048));
        // dasdinit's track 0 read past index: R1 again as the fourth count.
        let herc = counts(&[
            (0, 0, 1, 4, 24),
            (0, 0, 2, 4, 144),
            (0, 0, 3, 4, 80),
            (0, 0, 1, 4, 24),
            (0, 1, 1, 0, 0),
        ]);
        assert_eq!(classify(&herc), Layout::Unsupported);
        let odd = counts(&[
            (0, 0, 1, 0, 800),
            (0, 0, 2, 0, 800),
            (0, 0, 3, 0, 800),
            (0, 0, 4, 0, 800),
            (0, 1, 1, 0, 800),
        ]);
        assert_eq!(classify(&odd), Layout::Unsupported, "800 is no Linux block size");
    }

    #[test]
    fn format_request_refuses_more_tracks_than_one_request_holds_and_bad_sizes() {
        let css = Css::new(zcss_css::CssConfig::default());
        let mem: Arc<dyn GuestMemory> = Arc::new(zcss_ccw::VecMemory::new(0x4_0000));
        let mut d = LinuxDasd::new(css, mem, SubchannelId::new(0xfe, 0, 0).unwrap_or_default(), 0x1_0000);
        let e = d.format_request(0, 21, 4096, Intensity::Format(DiskLayout::Ldl));
        assert!(matches!(e, Err(DriverError::Invalid(_))), "{e:?}");
        let e = d.format_request(0, 0, 1000, Intensity::Format(DiskLayout::Ldl));
        assert!(matches!(e, Err(DriverError::Invalid(_))), "{e:?}");
        assert!(matches!(
            d.read_blocks(0, 1, 0),
            Err(DriverError::Layout(Layout::Unformatted))
        ));
    }
}
