//! The parts of an arbitrary ECKD channel program: parameter blocks built
//! field by field (IBM 3990 Storage Control Reference GA32-0099, "Define
//! Extent", "Locate Record", "Locate Record Extended", "Prefix") or raw,
//! the commands of a 3390 with their data, and the coherent recipes that
//! start a chain the way a driver does. [`super::EckdStart`] lays them out.

use arbitrary::Arbitrary;

use zcss_ccw::mock::flags;

use crate::track::Count;

/// Cylinder numbers drawn: 0 ..= this (a small volume has fewer: the rest
/// are beyond it).
pub(super) const DRAWN_CYLINDERS: u16 = 4;

/// DEFINE EXTENT fields.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Dx {
    mask: u8,
    attributes: u8,
    block_size: u8,
    ga_extended: u8,
    extended: bool,
    from: (u8, u8),
    to: (u8, u8),
}

/// LOCATE RECORD (EXTENDED) fields.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Lr {
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
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub(super) enum Params<T> {
    Built(T),
    Raw(Vec<u8>),
}

/// One command of the arbitrary part of a program.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub(super) enum Op {
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

/// How a CCW addresses its data.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Addressing {
    /// The data area, `shift` × 16 bytes past the next free doubleword.
    Direct { shift: u8 },
    /// Through an IDAL of the ORB's format; `bad` replaces IDAW `.0`
    /// (modulo the IDAWs) by `.1` when the top three bits of `.0` are all
    /// one (the start is then not well formed).
    Indirect { shift: u8, bad: Option<(u8, u32)> },
}

/// One CCW of the arbitrary part (two with data chaining).
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub(super) struct FuzzCcw {
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

/// A coherent start of a chain — the shapes a driver builds (DEFINE
/// EXTENT + LOCATE RECORD, or PREFIX, then the commands of the domain with
/// data of the records' sizes; or SEEK, SEARCH ID EQUAL, TIC and a write
/// outside a domain) — so that programs reach the volume; every field
/// stays arbitrary. Kinds 1, 2, 4 and 5 format tracks: a fresh volume
/// holds records on track 0 only.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub(super) struct Recipe {
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
// The extent (`from`, `to`: cylinder modulo 4, head modulo 15, in order)
// holds the domain's track (`track.0` picks it; `track.1` is unused).

pub(super) fn pick<T: Copy>(v: &[T], i: u8) -> T {
    v[usize::from(i) % v.len()]
}

/// A cylinder number, sometimes beyond the volume.
fn cyl(c: u8) -> u16 {
    u16::from(c) % (DRAWN_CYLINDERS + 1)
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
                // `count` tracks from the seek track on.
                0x0e | 0x11 => trackset(u32::from(fixed[3])).to_vec(),
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

/// A trackset bit map of `n` (1–16) tracks from the first on.
fn trackset(n: u32) -> [u8; 2] {
    let n = n.clamp(1, 16);
    u16::try_from((0xffff_u32 << (16 - n)) & 0xffff)
        .unwrap_or(0)
        .to_be_bytes()
}

/// What a CCW of the program does with its data.
#[derive(Debug, Clone)]
pub(super) enum Dir {
    /// Sends these bytes.
    Out(Vec<u8>),
    /// Takes `count` bytes.
    In(u16),
    /// TIC to op number `target` (misaligned: 4 bytes off).
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
        Op::WriteTrackData { len } => (0xa5, Dir::Out(vec![0x66; usize::from(*len % 0x4000)])),
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
#[derive(Debug, Clone)]
pub(super) struct Planned {
    pub(super) cmd: u8,
    pub(super) dir: Dir,
    pub(super) flags: u8,
    pub(super) shift: u8,
    pub(super) ida: bool,
    pub(super) bad: Option<(u8, u32)>,
    pub(super) split: Option<u16>,
}

impl Planned {
    pub(super) fn of(c: &FuzzCcw) -> Self {
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
            Addressing::Indirect { shift, bad } => (shift, true, bad.filter(|(i, _)| i & 0xe0 == 0xe0)),
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

    fn plain(cmd: u8, dir: Dir, ida: bool, split: Option<u16>) -> Self {
        Self {
            cmd,
            dir,
            flags: 0,
            shift: 0,
            ida,
            bad: None,
            split,
        }
    }
}

impl Recipe {
    /// A recipe of `kind` over the extent `from..=to` (cylinder, head),
    /// mask `C0`, on track (0, 1), record 0, two records of 512 bytes.
    #[cfg(test)]
    pub(super) fn for_test(kind: u8, from: (u8, u8), to: (u8, u8)) -> Self {
        Self {
            kind,
            prefix: false,
            mask: 3,
            from,
            to,
            track: (0, 1),
            record: 0,
            count: 1,
            dl: 0,
            ida: false,
            split: None,
        }
    }

    /// What the recipe does, for the trace.
    pub(super) fn describe(&self) -> &'static str {
        match self.kind % 8 {
            0 => "update write",
            1 => "format write",
            2 => "write track",
            3 => "read data",
            4 => "write trackset (full tracks)",
            5 => "write track data",
            6 => "read tracks",
            _ => "seek, search, TIC, write",
        }
    }

    pub(super) fn plan(&self) -> Vec<Planned> {
        // Cylinders and heads of the volume's first cylinders.
        let reduce = |(c, h): (u8, u8)| (c % 4, h % 15);
        let (from, to) = (reduce(self.from), reduce(self.to));
        let (from, to) = (from.min(to), from.max(to));
        // The domain's track: inside the extent.
        let index = |(c, h): (u8, u8)| u16::from(c) * 15 + u16::from(h);
        let t = index(from) + u16::from(self.track.0) % (index(to) - index(from) + 1);
        let track = (u8::try_from(t / 15).unwrap_or(0), u8::try_from(t % 15).unwrap_or(0));
        let (c, h) = (cyl(track.0), head(track.1));
        let n = self.count % 6 + 1;
        let dl = pick(&[512u16, 512, 512, 700, 4096, 8, 0, 2048], self.dl);
        let r = self.record % 5;
        // Cylinders and heads of the volume's first cylinders.
        let dx = Dx {
            mask: pick(&[0x00u8, 0x40, 0x80, 0xc0, 0x18, 0xc0, 0xc0, self.mask], self.mask),
            attributes: 0,
            block_size: 0,
            ga_extended: 0,
            extended: false,
            from,
            to,
        };
        let mut lr = [0u8; 16];
        lr[3] = n;
        lr[4..8].copy_from_slice(&cchh(track.0, track.1));
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
        let domain: Vec<(u8, Dir)> = match self.kind % 8 {
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
                ext = trackset(u32::from(n)).to_vec();
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
                seek.extend_from_slice(&cchh(track.0, track.1));
                let mut id = cchh(track.0, track.1).to_vec();
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
                    .map(|(cmd, dir)| Planned::plain(cmd, dir, self.ida, None))
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
                Planned::plain(cmd, dir, self.ida && data, split)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trackset_of_n_tracks_sets_the_first_n_bits() {
        assert_eq!(trackset(1), [0x80, 0x00]);
        assert_eq!(trackset(6), [0xfc, 0x00]);
        assert_eq!(trackset(16), [0xff, 0xff]);
        assert_eq!(trackset(0), [0x80, 0x00]);
    }

    #[test]
    fn ccw_flags_of_zero_are_clear_and_of_all_ones_are_all_four() {
        assert_eq!(ccw_flags(0), 0);
        assert_eq!(ccw_flags(0xff), flags::SLI | flags::SKIP | flags::PCI | flags::SUSP);
    }
}
