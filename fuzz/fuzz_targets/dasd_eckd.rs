//! `dasd_eckd`: arbitrary ECKD channel programs — DEFINE EXTENT, LOCATE
//! RECORD (EXTENDED) and PREFIX parameter blocks built field by field and
//! then mutated (or raw bytes), seeks, searches, reads, update and format
//! writes, TICs, data chaining, format-1 and format-2 IDALs, suspend — run
//! through a real `zcss_css::Css` (SSCH, TSCH, RSCH, HSCH, CSCH) against a
//! 3390 (`zcss_dasd::Dasd`, any storage control) on a four-cylinder
//! in-memory volume with formatted tracks. A program may start with a
//! coherent recipe (DEFINE EXTENT + LOCATE RECORD (EXTENDED) or PREFIX and
//! the domain's commands with data of the records' sizes, or SEEK + SEARCH
//! + TIC + WRITE) so that most programs reach the volume; arbitrary CCWs
//! follow.
//!
//! Asserts: no panic; `Css::check_invariants` after every instruction; no
//! store write reaches a track outside the extent the device had in force
//! (`zcss_dasd::fuzzing::Probe`); and, derived from the input alone, when a
//! program starts with DEFINE EXTENT or PREFIX, only tracks inside the
//! extent its parameter bytes name change (none when they name no valid
//! extent), and the device installs exactly that extent; after every
//! program every track is a valid image (`track::validate`) whose records
//! fit the 3390 track (`used_cells` ≤ 1729).
#![no_main]

use std::collections::BTreeSet;
use std::sync::Arc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zcss_ccw::mock::{ccw0, ccw1, flags};
use zcss_ccw::scsw::Scsw;
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::{Limits, Orb, OrbControls, VecMemory};
use zcss_css::{Cc, Css, CssConfig, IoCtx};
use zcss_dasd::eckd::sense::SenseFormat;
use zcss_dasd::fuzzing::{Extent, Probe, Probed};
use zcss_dasd::geometry::{record_cells, HEADS, TRACK_CELLS};
use zcss_dasd::store::MemStore;
use zcss_dasd::track::{used_cells, validate, Count, TrackAddr, TrackBuilder};
use zcss_dasd::{ControlUnit, DasdConfig, TrackStore};

/// Cylinders of the volume.
const CYLS: u32 = 4;
/// Tracks of the volume.
const TRACKS: u64 = CYLS as u64 * HEADS as u64;
/// Guest storage.
const MEM: u64 = 1 << 18;
const ORB: u64 = 0x800;
const SCHIB: u64 = 0x900;
const IRB: u64 = 0xa00;
/// CCWs start here (at most `MAX_CCWS`).
const PROG: u64 = 0x1000;
const MAX_CCWS: usize = 96;
/// IDALs live between here and `DATA`.
const IDALS: u64 = 0x2000;
/// Data areas from here to the end of storage.
const DATA: u64 = 0x1_0000;
const GR1: u32 = 0x0001_0000;

// ---------------------------------------------------------------- input

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Cu {
    Plain,
    Model3,
    Model6,
}

/// A track formatted before the run: `records` records of `kl`/`dl`.
#[derive(Arbitrary, Debug)]
struct Format {
    track: u8,
    records: u8,
    kl: u8,
    dl: u16,
}

/// DEFINE EXTENT fields.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Dx {
    mask: u8,
    attributes: u8,
    block_size: u8,
    ga_extended: u8,
    extended: bool,
    from: (u8, u8),
    to: (u8, u8),
}

/// LOCATE RECORD (EXTENDED) fields.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Lr {
    op: u8,
    orientation: u8,
    aux: u8,
    count: u8,
    seek: (u8, u8),
    record: u8,
    sector: u8,
    tlf: u8,
    ext_op: u8,
    /// Extended parameters consistent with the operation (set size 1, a
    /// trackset of `count` tracks), else `raw_ext`.
    consistent: bool,
    raw_ext: u16,
    raw_ext_len: u8,
}

/// A parameter block: built from fields, or raw bytes.
#[derive(Arbitrary, Debug)]
enum Params<T> {
    Built(T),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Op {
    DefineExtent(Params<Dx>),
    LocateRecord(Params<Lr>),
    LocateRecordExtended(Params<Lr>),
    Prefix {
        format1: bool,
        validity: u8,
        dx: Dx,
        lr: Lr,
    },
    Seek {
        code: u8,
        cyl: u8,
        head: u8,
    },
    Search {
        code: u8,
        cyl: u8,
        head: u8,
        record: u8,
        key_len: u8,
    },
    Read {
        code: u8,
        count: u16,
    },
    WriteData {
        code: u8,
        len: u16,
        fill: u8,
    },
    /// WRITE CKD (1D, 9D), ERASE (11), WRITE R0 (15): a count area, key
    /// and data.
    WriteCount {
        code: u8,
        cyl: u8,
        head: u8,
        record: u8,
        kl: u8,
        dl: u16,
        /// Bytes sent instead of 8 + KL + DL.
        len: Option<u16>,
        fill: u8,
    },
    WriteFullTrack {
        r0: bool,
        records: Vec<(u8, u8, u16)>,
        end_marker: bool,
    },
    WriteTrackData {
        len: u16,
    },
    WriteHomeAddress {
        flag: u8,
        cyl: u8,
        head: u8,
    },
    SetFileMask(u8),
    SetSector(u8),
    /// Commands without parameters or with a small input (NOP, SENSE,
    /// RECALIBRATE, READ IPL, …), by index.
    Simple(u8),
    Tic {
        target: u8,
        misaligned: bool,
    },
    Raw {
        cmd: u8,
        count: u16,
        data: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
enum Addressing {
    /// The data area, `shift` × 16 bytes past the next free doubleword.
    Direct { shift: u8 },
    /// Through an IDAL of the ORB's format; `bad` replaces one IDAW.
    Indirect { shift: u8, bad: Option<(u8, u32)> },
}

#[derive(Arbitrary, Debug)]
struct FuzzCcw {
    op: Op,
    /// SLI, skip, PCI, suspend (each from two or three bits, so mostly
    /// clear).
    flags: u8,
    addressing: Addressing,
    /// Data chaining: the first CCW moves this many bytes (modulo the
    /// length), the second the rest.
    split: Option<u16>,
    /// Parameter or data bytes replaced: (index modulo the length, value).
    mutations: Vec<(u8, u8)>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum After {
    Tsch,
    Rsch,
    Hsch,
    Csch,
}

/// A coherent start of a chain — the shapes Linux's `dasd_eckd` builds
/// (DEFINE EXTENT + LOCATE RECORD, or PREFIX, then the commands of the
/// domain with data of the records' sizes; or SEEK, SEARCH ID EQUAL, TIC
/// and a write outside a domain) — so that programs reach the volume;
/// every field stays arbitrary.
#[derive(Arbitrary, Debug)]
struct Recipe {
    kind: u8,
    /// PREFIX (format 1, with the LOCATE RECORD EXTENDED) instead of
    /// DEFINE EXTENT + LOCATE RECORD.
    prefix: bool,
    mask: u8,
    from: (u8, u8),
    to: (u8, u8),
    track: (u8, u8),
    record: u8,
    count: u8,
    dl: u8,
    /// IDAWs for the data of the domain's commands.
    ida: bool,
    /// Data chaining: the domain command of this index split in two.
    split: Option<(u8, u16)>,
}

#[derive(Arbitrary, Debug)]
struct Program {
    recipe: Option<Recipe>,
    format0: bool,
    c64: bool,
    i2k: bool,
    prefetch: bool,
    suspend: bool,
    /// The LPM when given (otherwise all paths).
    lpm: Option<u8>,
    /// Command chaining stops after this CCW (otherwise after the last).
    stop: Option<u8>,
    ccws: Vec<FuzzCcw>,
    after: Vec<After>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    cu: Cu,
    native_sense: bool,
    concurrent_sense: bool,
    formats: Vec<Format>,
    programs: Vec<Program>,
}

// ------------------------------------------------------------ builders

fn pick<T: Copy>(v: &[T], i: u8) -> T {
    v[usize::from(i) % v.len()]
}

/// A cylinder number of the volume, sometimes one past it.
fn cyl(c: u8) -> u16 {
    u16::from(c) % (u16::try_from(CYLS).unwrap_or(4) + 1)
}

/// A head, sometimes 15 (not a head).
fn head(h: u8) -> u16 {
    u16::from(h) % 16
}

fn cchh(c: u8, h: u8) -> [u8; 4] {
    let (c, h) = (cyl(c).to_be_bytes(), head(h).to_be_bytes());
    [c[0], c[1], h[0], h[1]]
}

impl Dx {
    fn bytes(&self, ext_always: bool) -> Vec<u8> {
        let mut b = vec![0u8; 16];
        // Bit 2 (reserved) only sometimes.
        b[0] = if self.mask & 0x07 == 0x07 {
            self.mask
        } else {
            self.mask & !0x20
        };
        b[1] = 0xc0 | (self.attributes & 0x3f);
        if self.attributes & 0xc0 == 0x40 {
            b[1] = self.attributes;
        }
        let bs = pick(&[0u16, 512, 4096, 8, 0x8000, 4104, 56664, 1], self.block_size);
        b[2..4].copy_from_slice(&bs.to_be_bytes());
        b[7] = (self.ga_extended & 0x4c) | if self.extended { 0x02 } else { 0 };
        b[8..12].copy_from_slice(&cchh(self.from.0, self.from.1));
        b[12..16].copy_from_slice(&cchh(self.to.0, self.to.1));
        if self.extended || ext_always {
            b.resize(32, 0);
        }
        b
    }
}

impl Lr {
    fn fixed(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        let op = pick(&[0x00u8, 0x01, 0x03, 0x06, 0x0b, 0x0c, 0x16, 0x3f, 0x3f, 0x3f], self.op);
        b[0] = ((self.orientation & 3) << 6) | op;
        b[1] = pick(&[0x00u8, 0x80, 0x01, 0x81, 0x40], self.aux);
        b[3] = self.count % 16;
        b[4..8].copy_from_slice(&cchh(self.seek.0, self.seek.1));
        b.copy_within(4..8, 8);
        b[12] = self.record % 16;
        b[13] = pick(&[0xffu8, 0, 1, 100, 223, 224], self.sector);
        let tlf = pick(&[0u16, 512, 700, 4096, 8, 56664], self.tlf);
        b[14..16].copy_from_slice(&tlf.to_be_bytes());
        b
    }

    fn lr_bytes(&self) -> Vec<u8> {
        self.fixed().to_vec()
    }

    fn lre_bytes(&self) -> Vec<u8> {
        let fixed = self.fixed();
        let mut b = fixed.to_vec();
        let ext_op = if fixed[0] & 0x3f == 0x3f {
            pick(&[0x09u8, 0x0a, 0x0e, 0x11, 0x23, 0x13], self.ext_op)
        } else {
            0
        };
        let ext: Vec<u8> = if self.consistent {
            match ext_op {
                0x09 | 0x0a => vec![1],
                0x0e | 0x11 => {
                    // `count` tracks from the seek track on.
                    let n = u32::from(fixed[3]).clamp(1, 16);
                    let map = (0xffffu32 << (16 - n)) as u16;
                    map.to_be_bytes().to_vec()
                }
                _ => vec![],
            }
        } else {
            let n = usize::from(self.raw_ext_len % 4);
            self.raw_ext.to_be_bytes().iter().copied().cycle().take(n).collect()
        };
        b.push(0);
        b.push(ext_op);
        b.extend_from_slice(&u16::try_from(ext.len()).unwrap_or(0).to_be_bytes());
        b.extend_from_slice(&ext);
        b
    }
}

/// What a CCW of the program does with its data.
enum Dir {
    /// Sends these bytes.
    Out(Vec<u8>),
    /// Takes `count` bytes.
    In(u16),
    /// TIC to op number `target`.
    Tic(u8, bool),
}

const READS: [u8; 26] = [
    0x06, 0x86, 0x0e, 0x8e, 0x12, 0x92, 0x16, 0x96, 0x1a, 0x9a, 0x1e, 0x9e, 0x5e, 0xde, 0xa6, 0x02, 0x22, 0x04, 0xe4,
    0x64, 0xfa, 0x54, 0x34, 0x3e, 0xa4, 0xb4,
];

fn op_dir(op: &Op) -> (u8, Dir) {
    match op {
        Op::DefineExtent(Params::Built(d)) => (0x63, Dir::Out(d.bytes(false))),
        Op::DefineExtent(Params::Raw(b)) => (0x63, Dir::Out(b.clone())),
        Op::LocateRecord(Params::Built(l)) => (0x47, Dir::Out(l.lr_bytes())),
        Op::LocateRecord(Params::Raw(b)) => (0x47, Dir::Out(b.clone())),
        Op::LocateRecordExtended(Params::Built(l)) => (0x4b, Dir::Out(l.lre_bytes())),
        Op::LocateRecordExtended(Params::Raw(b)) => (0x4b, Dir::Out(b.clone())),
        Op::Prefix {
            format1,
            validity,
            dx,
            lr,
        } => {
            let mut b = vec![0u8; 12];
            b[0] = u8::from(*format1);
            b[1] = 0x80 | (validity & 0x70);
            if validity & 0x8f == 0x8f {
                b[1] = *validity;
            }
            b.extend_from_slice(&dx.bytes(true));
            if *format1 {
                b.extend_from_slice(&lr.lre_bytes());
            } else {
                b.extend_from_slice(&[0u8; 20]);
            }
            (0xe7, Dir::Out(b))
        }
        Op::Seek { code, cyl: c, head: h } => {
            let mut b = vec![0u8, 0];
            b.extend_from_slice(&cchh(*c, *h));
            (pick(&[0x07u8, 0x0b, 0x1b], *code), Dir::Out(b))
        }
        Op::Search {
            code,
            cyl: c,
            head: h,
            record,
            key_len,
        } => {
            let code = pick(
                &[0x31u8, 0x51, 0x71, 0xb1, 0xd1, 0xf1, 0x29, 0x49, 0x69, 0xa9, 0x39, 0xb9],
                *code,
            );
            let b = match code & 0x7f {
                0x29 | 0x49 | 0x69 => vec![0x5a; usize::from(key_len % 48)],
                0x39 => cchh(*c, *h).to_vec(),
                _ => {
                    let mut b = cchh(*c, *h).to_vec();
                    b.push(record % 16);
                    b
                }
            };
            (code, Dir::Out(b))
        }
        Op::Read { code, count } => (pick(&READS, *code), Dir::In(*count % 0x4000)),
        Op::WriteData { code, len, fill } => (
            pick(&[0x05u8, 0x85, 0x0d, 0x8d], *code),
            Dir::Out(vec![*fill; usize::from(*len % 0x2000)]),
        ),
        Op::WriteCount {
            code,
            cyl: c,
            head: h,
            record,
            kl,
            dl,
            len,
            fill,
        } => {
            let code = pick(&[0x1du8, 0x9d, 0x11, 0x15, 0x1d, 0x1d], *code);
            let (c, h) = (cyl(*c), head(*h));
            let rec = if code == 0x15 { 0 } else { record % 16 };
            let kl = pick(&[0u8, 0, 4, 8, 44, 255], *kl);
            let dl = if dl & 0x8000 != 0 { *dl & 0xdfff } else { *dl % 0x1100 };
            let mut b = Count::new(c, h, rec, kl, dl).to_bytes().to_vec();
            let n = match len {
                Some(l) => usize::from(*l),
                None => 8 + usize::from(kl) + usize::from(dl),
            };
            b.resize(n, *fill);
            (code, Dir::Out(b))
        }
        Op::WriteFullTrack {
            r0,
            records,
            end_marker,
        } => {
            let mut b = Vec::new();
            if *r0 {
                b.extend_from_slice(&Count::new(0, 0, 0, 0, 8).to_bytes());
                b.extend_from_slice(&[0; 8]);
            }
            for (i, &(rec, kl, dl)) in records.iter().take(16).enumerate() {
                let kl = kl % 16;
                let dl = dl % 0x1100;
                let rec = if rec & 0x80 != 0 {
                    rec
                } else {
                    u8::try_from(i + 1).unwrap_or(1)
                };
                b.extend_from_slice(&Count::new(0, 0, rec, kl, dl).to_bytes());
                b.resize(b.len() + usize::from(kl) + usize::from(dl), 0x77);
            }
            if *end_marker {
                b.extend_from_slice(&[0xff; 8]);
            }
            (0x95, Dir::Out(b))
        }
        Op::WriteTrackData { len } => (0xa5, Dir::Out(vec![0x66; usize::from(*len)])),
        Op::WriteHomeAddress { flag, cyl: c, head: h } => {
            let mut b = vec![*flag];
            b.extend_from_slice(&cchh(*c, *h));
            (0x19, Dir::Out(b))
        }
        Op::SetFileMask(m) => (0x1f, Dir::Out(vec![*m])),
        Op::SetSector(s) => (0x23, Dir::Out(vec![*s])),
        Op::Simple(i) => {
            let (cmd, n) = pick(
                &[
                    (0x03u8, 0u16),
                    (0x13, 0),
                    (0x04, 32),
                    (0x02, 24),
                    (0xf3, 0),
                    (0x5b, 0),
                    (0x94, 32),
                    (0x14, 32),
                    (0x22, 1),
                    (0xe4, 40),
                ],
                *i,
            );
            (cmd, Dir::In(n))
        }
        Op::Tic { target, misaligned } => (0x08, Dir::Tic(*target, *misaligned)),
        Op::Raw { cmd, count, data } => {
            let cmd = if cmd & 0x0f == 0x08 { cmd & 0xf7 } else { *cmd };
            if cmd & 0x03 == 0x01 || cmd & 0x03 == 0x03 {
                let mut d = data.clone();
                d.resize(usize::from(*count % 0x1000).max(d.len().min(0x1000)), 0);
                (cmd, Dir::Out(d))
            } else {
                (cmd, Dir::In(*count))
            }
        }
    }
}

/// Where the program's pieces go in storage.
struct Layout {
    ccws: Vec<(u8, u8, u16, u32)>,
    idal_next: u64,
    data_next: u64,
}

impl Layout {
    /// A data area of `len` bytes; `None` when storage is used up.
    fn area(&mut self, len: usize, shift: u8) -> Option<u64> {
        let at = (self.data_next + u64::from(shift) * 16 + 7) & !7;
        let end = at.checked_add(len as u64)?;
        if end > MEM {
            return None;
        }
        self.data_next = end;
        Some(at)
    }

    /// An IDAL for `len` bytes at `at`; returns its address.
    fn idal(
        &mut self,
        mem: &VecMemory,
        at: u64,
        len: usize,
        c64: bool,
        i2k: bool,
        bad: Option<(u8, u32)>,
    ) -> Option<u32> {
        let block: u64 = if c64 && !i2k { 4096 } else { 2048 };
        let mut words = vec![at];
        let end = at + len as u64;
        let mut a = (at & !(block - 1)) + block;
        while a < end {
            words.push(a);
            a += block;
        }
        if let Some((i, v)) = bad {
            let n = words.len();
            words[usize::from(i) % n] = u64::from(v);
        }
        let size = if c64 { 8 } else { 4 };
        let base = (self.idal_next + 7) & !7;
        if base + (words.len() * size) as u64 > DATA {
            return None;
        }
        for (k, w) in words.iter().enumerate() {
            let addr = base + (k * size) as u64;
            if c64 {
                mem.store(addr, &w.to_be_bytes()).ok()?;
            } else {
                let w = u32::try_from(*w & 0xffff_ffff).unwrap_or(0);
                mem.store(addr, &w.to_be_bytes()).ok()?;
            }
        }
        self.idal_next = base + (words.len() * size) as u64;
        u32::try_from(base).ok()
    }
}

/// Bits of `f` turned into CCW flags, each mostly clear.
fn ccw_flags(f: u8) -> u8 {
    let mut out = 0;
    if f & 0x01 != 0 {
        out |= flags::SLI;
    }
    if f & 0x06 == 0x06 {
        out |= flags::SKIP;
    }
    if f & 0x18 == 0x18 {
        out |= flags::PCI;
    }
    if f & 0xe0 == 0xe0 {
        out |= flags::SUSP;
    }
    out
}

/// One CCW (two with data chaining) to lay out.
struct Planned {
    cmd: u8,
    dir: Dir,
    flags: u8,
    shift: u8,
    ida: bool,
    bad: Option<(u8, u32)>,
    split: Option<u16>,
}

impl Planned {
    fn of(c: &FuzzCcw) -> Self {
        let (cmd, mut dir) = op_dir(&c.op);
        if let Dir::Out(b) = &mut dir {
            for &(i, v) in c.mutations.iter().take(8) {
                if !b.is_empty() {
                    let k = usize::from(i) % b.len();
                    b[k] = v;
                }
            }
        }
        let (shift, ida, bad) = match c.addressing {
            Addressing::Direct { shift } => (shift, false, None),
            Addressing::Indirect { shift, bad } => (shift, true, bad),
        };
        Self {
            cmd,
            dir,
            flags: ccw_flags(c.flags),
            shift,
            ida,
            bad,
            split: c.split,
        }
    }
}

impl Recipe {
    fn plan(&self) -> Vec<Planned> {
        let (c, h) = (cyl(self.track.0), head(self.track.1));
        let n = self.count % 6 + 1;
        let dl = pick(&[512u16, 512, 512, 700, 4096, 8, 0, 2048], self.dl);
        let r = self.record % 5;
        let mut dx = Dx {
            mask: self.mask,
            attributes: 0,
            block_size: 0,
            ga_extended: 0,
            extended: false,
            from: self.from,
            to: self.to,
        };
        dx.mask = pick(&[0x00u8, 0x40, 0x80, 0xc0, 0x18, 0xc0, 0xc0, self.mask], self.mask);
        let mut lr = [0u8; 16];
        lr[3] = n;
        lr[4..8].copy_from_slice(&cchh(self.track.0, self.track.1));
        lr.copy_within(4..8, 8);
        lr[12] = r;
        lr[13] = 0xff;
        let tlf = |lr: &mut [u8; 16]| {
            lr[1] = 0x80;
            lr[14..16].copy_from_slice(&dl.to_be_bytes());
        };
        let count = |rec: u8| {
            let mut b = Count::new(c, h, rec, 0, dl).to_bytes().to_vec();
            b.resize(8 + usize::from(dl), rec);
            b
        };
        let mut ext_op = 0u8;
        let mut ext: Vec<u8> = Vec::new();
        let out = |cmd: u8, b: Vec<u8>| (cmd, Dir::Out(b));
        let kind = self.kind % 8;
        let domain: Vec<(u8, Dir)> = match kind {
            // Update write of n records after record r.
            0 => {
                lr[0] = 0x01;
                tlf(&mut lr);
                (0..n).map(|i| out(0x85, vec![i; usize::from(dl)])).collect()
            }
            // Format write of records r + 1 … r + n.
            1 => {
                lr[0] = 0x03;
                (0..n).map(|i| out(0x1d, count(r + 1 + i))).collect()
            }
            // Write track: R0's data, then records 1 … n − 1.
            2 => {
                lr[0] = 0x0b;
                lr[12] = 0;
                let mut v = vec![out(0x05, vec![0; 8])];
                v.extend((1..n).map(|i| out(0x1d, count(i))));
                v
            }
            // Read n records.
            3 => {
                lr[0] = 0x06;
                tlf(&mut lr);
                (0..n).map(|_| (0x86, Dir::In(dl))).collect()
            }
            // Write trackset: n full tracks.
            4 => {
                lr[0] = 0x3f;
                lr[12] = 0;
                ext_op = 0x11;
                let map = (0xffffu32 << (16 - u32::from(n))) as u16;
                ext = map.to_be_bytes().to_vec();
                (0..n)
                    .map(|_| {
                        let mut b = Count::new(c, h, 0, 0, 8).to_bytes().to_vec();
                        b.extend_from_slice(&[0; 8]);
                        for rec in 1..=r.max(1) {
                            b.extend_from_slice(&Count::new(c, h, rec, 0, dl).to_bytes());
                            b.resize(b.len() + usize::from(dl), rec);
                        }
                        b.extend_from_slice(&[0xff; 8]);
                        out(0x95, b)
                    })
                    .collect()
            }
            // Write track data: n tracks of four records.
            5 => {
                lr[0] = 0x3f;
                lr[12] = 0;
                ext_op = 0x23;
                tlf(&mut lr);
                (0..n).map(|i| out(0xa5, vec![i; 4 * usize::from(dl)])).collect()
            }
            // Read tracks.
            6 => {
                lr[0] = 0x0c;
                lr[12] = 0;
                (0..n).map(|_| (0xa6, Dir::In(4 * dl))).collect()
            }
            // Outside a domain: seek, search, TIC back, write.
            _ => {
                let mut seek = vec![0u8, 0];
                seek.extend_from_slice(&cchh(self.track.0, self.track.1));
                let mut id = cchh(self.track.0, self.track.1).to_vec();
                id.push(r.max(1));
                let mut v = vec![];
                if self.prefix {
                    v.push(out(0x63, dx.bytes(false)));
                }
                v.push(out(0x07, seek));
                v.push(out(0x31, id));
                v.push((0x08, Dir::Tic(1 + u8::from(self.prefix), false)));
                v.push(out(0x05, vec![0x3c; usize::from(dl)]));
                return v
                    .into_iter()
                    .map(|(cmd, dir)| Planned {
                        cmd,
                        dir,
                        flags: 0,
                        shift: 0,
                        ida: self.ida,
                        bad: None,
                        split: None,
                    })
                    .collect();
            }
        };
        let extended = ext_op != 0 || self.prefix;
        let mut locate = lr.to_vec();
        if extended {
            locate.push(0);
            locate.push(ext_op);
            locate.extend_from_slice(&u16::try_from(ext.len()).unwrap_or(0).to_be_bytes());
            locate.extend_from_slice(&ext);
        }
        let mut v = Vec::new();
        if self.prefix {
            let mut b = vec![1u8, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            b.extend_from_slice(&dx.bytes(true));
            b.extend_from_slice(&locate);
            v.push(out(0xe7, b));
        } else {
            v.push(out(0x63, dx.bytes(false)));
            v.push(out(if extended { 0x4b } else { 0x47 }, locate));
        }
        let first_domain = v.len();
        v.extend(domain);
        v.into_iter()
            .enumerate()
            .map(|(i, (cmd, dir))| {
                let data = i >= first_domain;
                let split = self
                    .split
                    .filter(|&(k, _)| data && usize::from(k) % usize::from(n) == i - first_domain)
                    .map(|(_, at)| at);
                Planned {
                    cmd,
                    dir,
                    flags: 0,
                    shift: 0,
                    ida: self.ida && data,
                    bad: None,
                    split,
                }
            })
            .collect()
    }
}

/// Lays `p` out in `mem`; returns the parameter bytes the first CCW sends
/// when it is DEFINE EXTENT or PREFIX without skip (the input's own
/// statement of the extent).
fn lay_out(p: &Program, mem: &VecMemory) -> Option<(u8, Vec<u8>)> {
    let mut l = Layout {
        ccws: Vec::new(),
        idal_next: IDALS,
        data_next: DATA,
    };
    // No CCW of an earlier program stays behind this one's.
    mem.store(PROG, &[0u8; MAX_CCWS * 8]).ok()?;
    let mut first_index = Vec::new();
    let mut tics = Vec::new();
    let mut first_params = None;
    let mut planned: Vec<Planned> = p.recipe.as_ref().map(Recipe::plan).unwrap_or_default();
    planned.extend(p.ccws.iter().take(MAX_CCWS / 2).map(Planned::of));
    for (n, c) in planned.into_iter().take(MAX_CCWS / 2).enumerate() {
        first_index.push(l.ccws.len());
        let Planned {
            cmd,
            dir,
            flags: f,
            shift,
            ida,
            bad,
            split,
        } = c;
        let (bytes, count) = match dir {
            Dir::Tic(target, misaligned) => {
                tics.push((l.ccws.len(), target, misaligned));
                l.ccws.push((0x08, 0, 0, 0));
                continue;
            }
            Dir::Out(mut b) => {
                let len = u16::try_from(b.len()).unwrap_or(u16::MAX);
                b.truncate(usize::from(len));
                (Some(b), len)
            }
            Dir::In(count) => (None, count),
        };
        let Some(at) = l.area(usize::from(count), shift) else {
            break;
        };
        if n == 0 && matches!(cmd, 0x63 | 0xe7) && f & flags::SKIP == 0 && bad.is_none() {
            first_params = bytes.clone().map(|b| (cmd, b));
        }
        if let Some(b) = &bytes {
            mem.store(at, b).ok()?;
        }
        // Data chaining: two CCWs sharing the area.
        let pieces: Vec<(u64, u16)> = match split {
            Some(s) if count > 0 => {
                let first = u16::try_from(u32::from(s) % (u32::from(count) + 1)).unwrap_or(0);
                vec![(at, first), (at + u64::from(first), count - first)]
            }
            _ => vec![(at, count)],
        };
        let last = pieces.len() - 1;
        for (k, &(a, n)) in pieces.iter().enumerate() {
            let cda = if ida {
                match l.idal(mem, a, usize::from(n), p.c64, p.i2k, bad) {
                    Some(x) => x,
                    None => break,
                }
            } else {
                u32::try_from(a).unwrap_or(0)
            };
            let mut fl = f | if ida { flags::IDA } else { 0 };
            if k < last {
                fl |= flags::CD;
            }
            l.ccws.push((cmd, fl, n, cda));
        }
    }
    let n = l.ccws.len();
    if n == 0 {
        return first_params;
    }
    for (at, target, misaligned) in tics {
        let idx = first_index[usize::from(target) % first_index.len()];
        l.ccws[at].3 = u32::try_from(PROG + 8 * idx as u64 + if misaligned { 4 } else { 0 }).unwrap_or(0);
    }
    let stop = p.stop.map_or(n - 1, |s| usize::from(s) % n);
    for (i, c) in l.ccws.iter_mut().enumerate() {
        if i < stop && c.0 != 0x08 && c.1 & flags::CD == 0 {
            c.1 |= flags::CC;
        }
    }
    for (i, &(cmd, fl, count, cda)) in l.ccws.iter().enumerate() {
        let raw = if p.format0 {
            ccw0(cmd, fl, count, cda)
        } else {
            ccw1(cmd, fl, count, cda)
        };
        mem.store(PROG + 8 * i as u64, &raw).ok()?;
    }
    first_params
}

/// The extent the first CCW's parameter bytes name, if any; `Some(None)`
/// when they name none a device may accept.
fn stated_extent(first: Option<(u8, Vec<u8>)>) -> Option<Option<Extent>> {
    let (cmd, b) = first?;
    let off = if cmd == 0xe7 { 12 } else { 0 };
    let Some(f) = b.get(off + 8..off + 16) else {
        return Some(None);
    };
    let track = |x: &[u8]| {
        let c = u32::from(u16::from_be_bytes([x[0], x[1]]));
        let hh = u32::from(u16::from_be_bytes([x[2], x[3]]));
        let cyl = c | ((hh >> 4) << 16);
        let head = hh & 0xf;
        (cyl < CYLS && head < HEADS).then_some(TrackAddr::new(cyl, head))
    };
    Some(match (track(&f[..4]), track(&f[4..])) {
        (Some(a), Some(z)) if a <= z => Some((a, z)),
        _ => None,
    })
}

fn volume(formats: &[Format]) -> MemStore {
    let mut s = MemStore::new(CYLS);
    let mut b = TrackBuilder::default();
    // Cylinders 0 and 1: four 512-byte records per track.
    for i in 0..30u64 {
        let t = TrackAddr::from_index(i);
        let (c, h) = (u16::try_from(t.cyl).unwrap_or(0), u16::try_from(t.head).unwrap_or(0));
        b.start(t);
        for r in 1..=4u8 {
            b.record(Count::new(c, h, r, 0, 512), &[], &[r; 512]);
        }
        s.write(t, b.finish()).expect("well-formed track");
    }
    for f in formats.iter().take(8) {
        let t = TrackAddr::from_index(u64::from(f.track) % TRACKS);
        let (c, h) = (u16::try_from(t.cyl).unwrap_or(0), u16::try_from(t.head).unwrap_or(0));
        let kl = f.kl % 64;
        let dl = f.dl % 0x2000;
        let mut cells = 0;
        b.start(t);
        for r in 1..=f.records % 20 {
            cells += record_cells(kl, dl);
            if cells > TRACK_CELLS {
                break;
            }
            b.record(
                Count::new(c, h, r, kl, dl),
                &vec![r; usize::from(kl)],
                &vec![r; usize::from(dl)],
            );
        }
        s.write(t, b.finish()).expect("well-formed track");
    }
    s
}

// ----------------------------------------------------------------- run

struct Machine {
    css: Css,
    mem: Arc<VecMemory>,
}

impl Machine {
    fn ctx(&self) -> IoCtx<'_> {
        IoCtx::new(self.mem.as_ref())
    }

    fn check(&self) {
        if let Err(e) = self.css.check_invariants() {
            panic!("css invariant: {e}");
        }
    }

    fn do_(&self, a: After) {
        let ctx = self.ctx();
        let _ = match a {
            After::Tsch => self.css.tsch(&ctx, GR1, IRB),
            After::Rsch => self.css.rsch(&ctx, GR1),
            After::Hsch => self.css.hsch(&ctx, GR1),
            After::Csch => self.css.csch(&ctx, GR1),
        };
        self.check();
    }

    /// Ends whatever the program left: status is taken, a suspended or
    /// still active program is cleared.
    fn settle(&self) {
        let ctx = self.ctx();
        for _ in 0..4 {
            let r = self.css.tsch(&ctx, GR1, IRB);
            self.check();
            if r != Ok(Cc::Zero) {
                break;
            }
        }
        assert_eq!(self.css.stsch(&ctx, GR1, SCHIB), Ok(Cc::Zero));
        let schib = self.mem.fetch(SCHIB + 28, 12).expect("schib");
        let scsw = Scsw::decode(&schib).expect("scsw");
        if scsw.ctrl.fctl().into_bits() != 0 {
            assert_eq!(self.css.csch(&ctx, GR1), Ok(Cc::Zero));
            self.check();
            assert_eq!(self.css.tsch(&ctx, GR1, IRB), Ok(Cc::Zero));
            self.check();
        }
    }
}

fn changed(before: &[Vec<u8>], after: &[Vec<u8>]) -> BTreeSet<u64> {
    (0..TRACKS)
        .filter(|&i| {
            let i = usize::try_from(i).unwrap_or(0);
            before[i] != after[i]
        })
        .collect()
}

fn check_writes(probe: &Probe) {
    for w in probe.take_writes() {
        if let Some((a, z)) = w.extent {
            assert!(
                a <= w.track && w.track <= z,
                "track {} written outside the extent {a}..={z}",
                w.track
            );
        }
    }
}

fn check_tracks(tracks: &[Vec<u8>], which: impl Iterator<Item = u64>) {
    for i in which {
        let img = &tracks[usize::try_from(i).unwrap_or(0)];
        let t = TrackAddr::from_index(i);
        if let Err(e) = validate(img) {
            panic!("track {t} malformed: {e}");
        }
        let cells = used_cells(img).expect("valid track");
        assert!(cells <= TRACK_CELLS, "track {t} uses {cells} cells");
    }
}

fuzz_target!(|input: Input| {
    let cfg = DasdConfig {
        cu: match input.cu {
            Cu::Plain => ControlUnit::Plain,
            Cu::Model3 => ControlUnit::Model3,
            Cu::Model6 => ControlUnit::Model6,
        },
        sense_format: if input.native_sense {
            SenseFormat::Native32
        } else {
            SenseFormat::Compat24
        },
        ..DasdConfig::for_devno(0x0120)
    };
    let (dev, probe) = Probed::new(cfg, Box::new(volume(&input.formats))).expect("volume");
    let m = Machine {
        // Bounded work per program, as `chain_walk` bounds it: far above
        // what a search loop over a track needs.
        css: Css::new(CssConfig {
            limits: Limits {
                max_idle_ccws: 64,
                max_ccws: 4096,
            },
            ..CssConfig::default()
        }),
        mem: Arc::new(VecMemory::new(MEM)),
    };
    let sid = SubchannelId::new(0xfe, 0, 0).expect("sid");
    m.css.attach_cold(sid, 0x0120, Box::new(dev)).expect("attach");
    let ctx = m.ctx();
    assert_eq!(m.css.stsch(&ctx, GR1, SCHIB), Ok(Cc::Zero));
    let mut schib = m.mem.fetch(SCHIB, 28).expect("pmcw");
    schib[4] = (schib[4] & !0x38) | (3 << 3);
    schib[5] |= 0x80;
    if input.concurrent_sense {
        schib[27] |= 0x01;
    }
    m.mem.store(SCHIB, &schib).expect("pmcw");
    assert_eq!(m.css.msch(&ctx, GR1, SCHIB), Ok(Cc::Zero));
    m.check();
    check_tracks(&probe.tracks(), 0..TRACKS);

    for p in input.programs.iter().take(4) {
        let first = lay_out(p, &m.mem);
        let stated = stated_extent(first);
        let ctrl = OrbControls::new()
            .with_format1(!p.format0)
            .with_idaw_format2(p.c64)
            .with_idaw_2k(p.i2k)
            .with_prefetch(p.prefetch)
            .with_suspend(p.suspend)
            .with_lpm(p.lpm.unwrap_or(0xff));
        let orb = Orb {
            intparm: 0x1234_5678,
            ctrl,
            cpa: u32::try_from(PROG).unwrap_or(0),
            ..Orb::default()
        };
        let (bytes, n) = orb.encode();
        m.mem.store(ORB, &bytes[..n]).expect("orb");
        let before = probe.tracks();
        let _ = probe.take_defined();
        let cc = m.css.ssch(&m.ctx(), GR1, ORB);
        m.check();
        for &a in p.after.iter().take(4) {
            m.do_(a);
        }
        m.settle();
        let after = probe.tracks();
        let diff = changed(&before, &after);
        check_writes(&probe);
        let defined = probe.take_defined();
        if cc == Ok(Cc::Zero) {
            if let Some(stated) = stated {
                // The input's own statement of the extent bounds the
                // program's writes, and is the one the device took.
                for &e in &defined {
                    assert_eq!(
                        Some(e),
                        stated,
                        "device installed another extent than the parameters name"
                    );
                }
                for &i in &diff {
                    let t = TrackAddr::from_index(i);
                    assert!(
                        stated.is_some_and(|(a, z)| a <= t && t <= z),
                        "track {t} changed outside the extent {stated:?} of the program's DEFINE EXTENT"
                    );
                }
            }
        }
        check_tracks(&after, diff.into_iter());
    }
    // The device goes with the css: a pending edit is stored then.
    drop(m);
    check_writes(&probe);
    check_tracks(&probe.tracks(), 0..TRACKS);
});
