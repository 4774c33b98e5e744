//! Structured generation of starts for fuzzing (feature `arbitrary`): an
//! [`arbitrary::Arbitrary`] description of what START SUBCHANNEL hands the
//! channel subsystem — the ORB controls (PoO chapter 15,
//! "Operation-Request Block"), a channel program laid out in storage
//! ("Channel-Command Word": command and data chaining, TIC backward and
//! forward, skip, PCI, SLI, suspend, zero counts), its data addressed
//! directly, through IDALs of format 1 or 2 (2K or 4K blocks) or a MIDAL
//! ("Indirect Data Addressing", "Modified Indirect Data Addressing"), and
//! the storage keys of the data frames.
//!
//! Most descriptions lay out *structurally valid* programs, so a fuzzer's
//! time goes into the device behind the channel; a tunable share
//! ([`GenConfig::malformed_per_256`]) carries one [`Malformation`]: a bad
//! address, TIC to TIC, reserved bits, a runaway chain, a misaligned TIC or
//! a raw doubleword.
//!
//! [`StartDesc::layout`] turns a description into the stores to make (in
//! order), the ORB, the addresses of the CCWs and the data areas the program
//! names — the only places its input may store into.
//!
//! ```
//! use arbitrary::Unstructured;
//! use zcss_ccw::generate::{GenConfig, Layout, StartDesc};
//!
//! let bytes = [7u8; 256];
//! let valid = GenConfig { malformed_per_256: 0 };
//! let desc = StartDesc::arbitrary_with(&mut Unstructured::new(&bytes), valid).unwrap();
//! let laid = desc.layout(&Layout::default());
//! assert_eq!(laid.orb.cpa, u32::try_from(laid.ccw_addrs[0]).unwrap());
//! assert!(laid.data_areas.iter().all(|a| a.end <= Layout::default().storage));
//! ```

use std::ops::Range;

use arbitrary::{Arbitrary, Unstructured};

use crate::ccw::{Ccw0, Ccw1, CcwFlags, CMD_TIC};
use crate::idaw::{MidawFlags, MIDAW_BOUNDARY};
use crate::orb::{Orb, OrbControls};

/// Most CCWs in a generated program.
pub const MAX_CCWS: usize = 24;
/// Most IDAWs or MIDAWs of one CCW.
const MAX_LIST: usize = 8;

/// Where a laid-out start lives in guest storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Size of guest storage (at least 64 KiB).
    pub storage: u64,
    /// The ORB's address.
    pub orb: u64,
    /// The first CCW (doubleword aligned); room for [`MAX_CCWS`] + 1.
    pub program: u64,
    /// IDALs and MIDALs (doubleword aligned), [`MAX_CCWS`] × 128 bytes.
    pub lists: u64,
    /// Start of the data region (4K aligned) …
    pub data: u64,
    /// … and its end.
    pub data_end: u64,
}

impl Default for Layout {
    /// 64 KiB: ORB at 0x0800, program at 0x1000, lists at 0x2000, data
    /// 0x4000–0x10000.
    fn default() -> Self {
        Self {
            storage: 0x1_0000,
            orb: 0x0800,
            program: 0x1000,
            lists: 0x2000,
            data: 0x4000,
            data_end: 0x1_0000,
        }
    }
}

impl Layout {
    /// The same layout `index` × 64 KiB further up (several subchannels
    /// side by side); storage must hold it.
    #[must_use]
    pub const fn shifted(self, index: u64) -> Self {
        let d = index * 0x1_0000;
        Self {
            storage: self.storage,
            orb: self.orb + d,
            program: self.program + d,
            lists: self.lists + d,
            data: self.data + d,
            data_end: self.data_end + d,
        }
    }
}

/// How descriptions are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenConfig {
    /// Share of starts carrying a [`Malformation`], in 255ths (0: none,
    /// 255: all).
    pub malformed_per_256: u8,
}

impl Default for GenConfig {
    /// One start in eight malformed.
    fn default() -> Self {
        Self { malformed_per_256: 32 }
    }
}

/// The ORB controls a start asks for (word 1; PoO "Operation-Request Block").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct OrbSpec {
    /// Interruption parameter (word 0).
    pub intparm: u32,
    /// Bits 0–3: the subchannel key (taken modulo 16).
    pub key: u8,
    /// Bit 4 (S): suspend control.
    pub suspend: bool,
    /// Bit 8 (F): format-1 CCWs.
    pub format1: bool,
    /// Bit 9 (P): prefetch.
    pub prefetch: bool,
    /// Bit 10 (I): initial-status interruption.
    pub initial_status: bool,
    /// Bit 12 (U): suppress the suspended interruption.
    pub suppress_suspended: bool,
    /// Bit 14 (H): format-2 IDAWs.
    pub idaw_format2: bool,
    /// Bit 15 (T): 2K format-2 IDAWs.
    pub idaw_2k: bool,
    /// Bits 16–23: the logical-path mask (0xff unless the start is malformed
    /// with [`Malformation::OrbControls`]).
    pub lpm: u8,
    /// Bit 24 (L): incorrect-length-suppression mode.
    pub ils: bool,
    /// Bit 25 (D): MIDAWs allowed.
    pub midaw: bool,
}

/// A CCW's byte count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Count {
    /// 1–256 bytes.
    Small(u8),
    /// Up to 4 KiB (zero now and then).
    Page(u16),
    /// Up to 16 KiB (crosses blocks; the data region bounds it).
    Large(u16),
}

impl Count {
    fn bytes(self) -> u16 {
        match self {
            Self::Small(n) => u16::from(n) + 1,
            Self::Page(n) => n % 4097,
            Self::Large(n) => n % 0x4001,
        }
    }
}

/// How a CCW addresses its data.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum DataSpec {
    /// The data address names a contiguous area at this offset (in bytes,
    /// modulo the data region) of the data region.
    Direct(u16),
    /// An IDAL (flag IDA): the first IDAW at `first` (an offset in the data
    /// region), every further one at the start of the block of index
    /// `blocks[i]` (modulo the blocks of the region) — scattered data.
    Indirect {
        /// Offset of the first byte.
        first: u16,
        /// Blocks of the further IDAWs.
        blocks: Vec<u8>,
    },
    /// A MIDAL (flag MIDA): one MIDAW per entry, each (offset, count, skip)
    /// kept inside its 4K block; the counts are cut so they add up to the
    /// CCW's count.
    Modified(Vec<(u16, u16, bool)>),
}

/// The flags a CCW asks for (PoO "Channel-Command Word", bits 8–15 of format 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct FlagSpec {
    /// CD: chain data.
    pub cd: bool,
    /// CC: chain command.
    pub cc: bool,
    /// SLI: suppress length indication.
    pub sli: bool,
    /// SKP: skip.
    pub skip: bool,
    /// PCI: program-controlled interruption.
    pub pci: bool,
    /// S: suspend.
    pub suspend: bool,
}

/// One CCW of a generated program.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum CcwSpec {
    /// A command (anything but TIC) with its count, flags and data.
    Command {
        /// Command code; low four bits 0 (invalid) or 8 (TIC) become
        /// control (x3) unless malformed.
        cmd: u8,
        /// Flags.
        flags: FlagSpec,
        /// Byte count.
        count: Count,
        /// Data addressing.
        data: DataSpec,
    },
    /// TRANSFER IN CHANNEL to the CCW of this index (modulo the program's
    /// length: backward or forward); a TIC to a TIC is moved on to the next
    /// command unless malformed.
    Tic(u8),
}

/// One way to make a start invalid (PoO "Program-Check Condition",
/// "Protection Check", "Chaining Check").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Malformation {
    /// The ORB's CPA points outside storage (or is not aligned).
    BadCpa(u32),
    /// CCW `i`'s data address points outside storage.
    BadDataAddress(u8),
    /// The CCW `i` becomes a TIC to the CCW after it, itself made a TIC.
    TicToTic(u8),
    /// Reserved bits: a format-1 CCW's bit 32, an IDAW's invalid bits, a
    /// MIDAW's reserved flags (whichever CCW `i` has).
    ReservedBits(u8),
    /// Every CCW command-chained and the last one a TIC to the first.
    Runaway,
    /// A TIC (CCW `i`) to an address off a doubleword boundary.
    MisalignedTic(u8),
    /// CCW `i` replaced by these eight bytes.
    Raw(u8, [u8; 8]),
    /// The ORB's logical-path mask zero and reserved controls left as drawn.
    OrbControls(u8),
}

/// Storage keys of the data region's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum KeySpec {
    /// No keys (key 0 everywhere, no fetch protection).
    None,
    /// Every data frame keyed with the ORB's key.
    Matching,
    /// Frame `n` (modulo the frames) gets this storage-key byte, the
    /// others the ORB's key.
    OneOff(u8, u8),
}

/// A description of one start: ORB, channel program, data, storage keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartDesc {
    /// The ORB controls.
    pub orb: OrbSpec,
    /// The CCWs, 1 to [`MAX_CCWS`].
    pub ccws: Vec<CcwSpec>,
    /// Storage keys.
    pub keys: KeySpec,
    /// The malformation, if this start carries one.
    pub malformation: Option<Malformation>,
}

impl<'a> Arbitrary<'a> for StartDesc {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Self::arbitrary_with(u, GenConfig::default())
    }
}

impl StartDesc {
    /// Draws a description with `cfg`'s share of malformed starts.
    ///
    /// # Errors
    /// When `u` runs out in a way `arbitrary` reports.
    pub fn arbitrary_with(u: &mut Unstructured<'_>, cfg: GenConfig) -> arbitrary::Result<Self> {
        let orb = OrbSpec::arbitrary(u)?;
        let n = u.int_in_range(1..=MAX_CCWS)?;
        let mut ccws = Vec::with_capacity(n);
        for _ in 0..n {
            ccws.push(CcwSpec::arbitrary(u)?);
        }
        let keys = KeySpec::arbitrary(u)?;
        let malformation = if cfg.malformed_per_256 > 0 && u.ratio(cfg.malformed_per_256, 255u8)? {
            Some(Malformation::arbitrary(u)?)
        } else {
            None
        };
        Ok(Self {
            orb,
            ccws,
            keys,
            malformation,
        })
    }

    /// Lays the start out in `at`: the stores to make, the ORB, the CCW
    /// addresses and the data areas.
    #[must_use]
    pub fn layout(&self, at: &Layout) -> LaidOut {
        Builder::new(self, at).build()
    }
}

/// A start laid out in storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaidOut {
    /// The ORB (also among `stores`, at [`Layout::orb`]).
    pub orb: Orb,
    /// Address of each CCW, in program order.
    pub ccw_addrs: Vec<u64>,
    /// The areas the program's data addresses name (direct areas, IDAW
    /// blocks, MIDAW areas): the only places input data may be stored.
    pub data_areas: Vec<Range<u64>>,
    /// The stores that lay it out, in order: (address, bytes).
    pub stores: Vec<(u64, Vec<u8>)>,
    /// Storage keys to set: (frame address, storage-key byte).
    pub keys: Vec<(u64, u8)>,
}

struct Builder<'s> {
    d: &'s StartDesc,
    at: Layout,
    /// The controls as they will be in the ORB.
    ctrl: OrbControls,
    out: LaidOut,
    list_next: u64,
    /// Per CCW: (cmd, flags, count, cda) before encoding.
    ccws: Vec<(u8, CcwFlags, u16, u32)>,
}

fn low32(v: u64) -> u32 {
    u32::try_from(v & 0x7fff_ffff).unwrap_or(0)
}

impl<'s> Builder<'s> {
    fn new(d: &'s StartDesc, at: &Layout) -> Self {
        let o = d.orb;
        let malformed_orb = matches!(d.malformation, Some(Malformation::OrbControls(_)));
        // Without storage keys a nonzero key would make every store a
        // protection check: key 0 then, unless malformed.
        let key = if d.keys == KeySpec::None && d.malformation.is_none() {
            0
        } else {
            o.key & 0xf
        };
        let mut ctrl = OrbControls::new()
            .with_key(key)
            .with_suspend(o.suspend)
            .with_format1(o.format1)
            .with_prefetch(o.prefetch)
            .with_initial_status(o.initial_status)
            .with_suppress_suspended(o.suppress_suspended)
            .with_idaw_format2(o.idaw_format2)
            .with_idaw_2k(o.idaw_2k)
            .with_lpm(if malformed_orb { o.lpm } else { 0xff })
            .with_ils(o.ils)
            .with_midaw(o.midaw);
        if let Some(Malformation::OrbControls(r)) = d.malformation {
            ctrl = ctrl.with_reserved(r & 0x1f);
        }
        Self {
            d,
            at: *at,
            ctrl,
            out: LaidOut {
                orb: Orb::default(),
                ccw_addrs: Vec::new(),
                data_areas: Vec::new(),
                stores: Vec::new(),
                keys: Vec::new(),
            },
            list_next: at.lists,
            ccws: Vec::new(),
        }
    }

    fn region(&self) -> u64 {
        self.at.data_end - self.at.data
    }

    /// A data area of `len` bytes at `off` (modulo the region), cut at the
    /// region's end; returns its address.
    fn area(&mut self, off: u16, len: u64) -> u64 {
        let start = self.at.data + u64::from(off) % self.region();
        let end = (start + len).min(self.at.data_end);
        if end > start {
            self.out.data_areas.push(start..end);
        }
        start
    }

    fn list(&mut self, bytes: Vec<u8>) -> u64 {
        let a = self.list_next;
        self.list_next += 128;
        self.out.stores.push((a, bytes));
        a
    }

    /// The data address (and flags) of a command's data.
    fn data(&mut self, i: usize, data: &DataSpec, count: u16, flags: &mut CcwFlags) -> u32 {
        let reserved = self.d.malformation == Some(Malformation::ReservedBits(u8::try_from(i).unwrap_or(0)));
        let len = u64::from(count);
        match data {
            DataSpec::Direct(off) => {
                let a = self.area(*off, len.max(1));
                // A direct area must not run past the region: pull it back.
                let a = if a + len > self.at.data_end {
                    let back = self.at.data_end.saturating_sub(len).max(self.at.data);
                    self.out.data_areas.pop();
                    self.out.data_areas.push(back..(back + len).min(self.at.data_end));
                    back
                } else {
                    a
                };
                let mut cda = low32(a);
                if reserved && self.ctrl.format1() {
                    cda |= 0x8000_0000;
                }
                cda
            }
            DataSpec::Indirect { first, blocks } => {
                flags.set_ida(true);
                let f2 = self.ctrl.idaw_format2();
                let block: u64 = if f2 && !self.ctrl.idaw_2k() { 4096 } else { 2048 };
                let nblocks = self.region() / block;
                let mut addrs = Vec::new();
                let a0 = self.at.data + u64::from(*first) % self.region();
                let mut left = len;
                let first_len = (block - a0 % block).min(left);
                self.out.data_areas.push(a0..a0 + first_len.max(1));
                addrs.push(a0);
                left -= first_len;
                let mut k = 0;
                while left > 0 && addrs.len() < MAX_LIST {
                    let b = blocks.get(k).copied().unwrap_or(u8::try_from(k).unwrap_or(0));
                    k += 1;
                    let a = self.at.data + (u64::from(b) % nblocks) * block;
                    let n = block.min(left);
                    self.out.data_areas.push(a..a + n);
                    addrs.push(a);
                    left -= n;
                }
                let mut bytes = Vec::new();
                for (j, a) in addrs.iter().enumerate() {
                    if f2 {
                        let v = if reserved && j == 0 { a | 1 << 63 } else { *a };
                        bytes.extend(v.to_be_bytes());
                    } else {
                        let v = if reserved && j == 0 {
                            low32(*a) | 0x8000_0000
                        } else {
                            low32(*a)
                        };
                        bytes.extend(v.to_be_bytes());
                    }
                }
                low32(self.list(bytes))
            }
            DataSpec::Modified(entries) => {
                flags.set_mida(true);
                let mut bytes = Vec::new();
                let mut left = len;
                let mut j = 0;
                while left > 0 && j < MAX_LIST {
                    let (off, want, skip) = entries.get(j).copied().unwrap_or((0, u16::MAX, false));
                    let a = self.at.data + u64::from(off) % self.region();
                    let room = MIDAW_BOUNDARY - a % MIDAW_BOUNDARY;
                    let last_possible = j + 1 == MAX_LIST;
                    let mut n = (u64::from(want) % 4096).max(1).min(room).min(left);
                    if last_possible || j + 1 >= entries.len() {
                        n = room.min(left);
                    }
                    left -= n;
                    let last = left == 0 || j + 1 == MAX_LIST;
                    let mut fl = MidawFlags::new().with_last(last).with_skip(skip);
                    if reserved && j == 0 {
                        fl.set_reserved(1);
                    }
                    self.out.data_areas.push(a..a + n);
                    let mut w = [0u8; 16];
                    w[5] = fl.into_bits();
                    w[6..8].copy_from_slice(&u16::try_from(n).unwrap_or(0).to_be_bytes());
                    w[8..16].copy_from_slice(&a.to_be_bytes());
                    bytes.extend(w);
                    j += 1;
                }
                if bytes.is_empty() {
                    // A zero count: one MIDAW of one byte, marked last.
                    let a = self.area(0, 1);
                    let mut w = [0u8; 16];
                    w[5] = MidawFlags::new().with_last(true).into_bits();
                    w[7] = 1;
                    w[8..16].copy_from_slice(&a.to_be_bytes());
                    bytes.extend(w);
                }
                low32(self.list(bytes))
            }
        }
    }

    fn build(mut self) -> LaidOut {
        let d = self.d;
        let n = d.ccws.len().clamp(1, MAX_CCWS);
        let specs = &d.ccws[..n.min(d.ccws.len())];
        let mal = d.malformation;
        let idx = |v: u8| usize::from(v) % n.max(1);
        let is_tic = |s: &CcwSpec| matches!(s, CcwSpec::Tic(_));
        for (i, a) in (0..n).map(|i| (i, self.at.program + 8 * u64::try_from(i).unwrap_or(0))) {
            let _ = i;
            self.out.ccw_addrs.push(a);
        }
        for (i, s) in specs.iter().enumerate() {
            let last = i + 1 == n;
            let entry = match s {
                CcwSpec::Command {
                    cmd,
                    flags: f,
                    count,
                    data,
                } => {
                    let mut cmd = *cmd;
                    if cmd & 0xf == 0 || cmd & 0xf == 8 {
                        cmd |= 3;
                    }
                    let mut count = count.bytes();
                    let mut flags = CcwFlags::new()
                        .with_cd(f.cd)
                        .with_cc(f.cc)
                        .with_sli(f.sli)
                        .with_skip(f.skip)
                        .with_pci(f.pci)
                        .with_suspend(f.suspend && self.ctrl.suspend());
                    if flags.cd() && count == 0 {
                        count = 1;
                    }
                    if last && mal != Some(Malformation::Runaway) {
                        // The channel would fetch the zero doubleword after it.
                        flags.set_cd(false);
                        flags.set_cc(false);
                    }
                    let data = match data {
                        DataSpec::Modified(_) if !self.ctrl.midaw() => &DataSpec::Direct(0),
                        DataSpec::Modified(_) if flags.skip() && !matches!(mal, Some(Malformation::Raw(..))) => {
                            &DataSpec::Direct(0)
                        }
                        other => other,
                    };
                    let cda = self.data(i, data, count, &mut flags);
                    (cmd, flags, count, cda)
                }
                CcwSpec::Tic(t) => {
                    let mut t = idx(*t);
                    // No TIC to a TIC: move on to the next command, if any.
                    for _ in 0..n {
                        if !is_tic(&specs[t]) {
                            break;
                        }
                        t = (t + 1) % n;
                    }
                    if is_tic(&specs[t]) || (last && !specs.iter().take(i).any(|s| !is_tic(s))) {
                        // Only TICs: a NOP instead.
                        (0x03, CcwFlags::new(), 0, 0)
                    } else {
                        (CMD_TIC, CcwFlags::new(), 0, low32(self.out.ccw_addrs[t]))
                    }
                }
            };
            self.ccws.push(entry);
        }
        // A TIC is only reached by chaining: the CCW before it chains.
        for i in 1..self.ccws.len() {
            if self.ccws[i].0 == CMD_TIC && !self.ccws[i - 1].1.cd() {
                self.ccws[i - 1].1.set_cc(true);
            }
        }
        if self.ccws.first().is_some_and(|c| c.0 == CMD_TIC) && self.ccws.len() == 1 {
            self.ccws[0] = (0x03, CcwFlags::new(), 0, 0);
        }
        self.malform();
        let f1 = self.ctrl.format1();
        for (i, &(cmd, flags, count, cda)) in self.ccws.iter().enumerate() {
            let bytes = if f1 {
                Ccw1::new()
                    .with_cmd(cmd)
                    .with_flags(flags)
                    .with_count(count)
                    .with_cda(cda)
                    .to_be_bytes()
            } else {
                Ccw0::new()
                    .with_cmd(cmd)
                    .with_flags(flags)
                    .with_count(count)
                    .with_cda(cda & 0x00ff_ffff)
                    .to_be_bytes()
            };
            let bytes = match mal {
                Some(Malformation::Raw(j, raw)) if idx(j) == i => raw,
                _ => bytes,
            };
            self.out.stores.push((self.out.ccw_addrs[i], bytes.to_vec()));
        }
        // The doubleword after the program: zero, so a chain past it program-checks.
        self.out.stores.push((
            self.at.program + 8 * u64::try_from(self.ccws.len()).unwrap_or(0),
            vec![0; 8],
        ));
        let cpa = match mal {
            Some(Malformation::BadCpa(c)) => c & 0x7fff_ffff,
            _ => low32(self.at.program),
        };
        self.out.orb = Orb {
            intparm: d.orb.intparm,
            ctrl: self.ctrl,
            cpa,
            ..Orb::default()
        };
        let (b, len) = self.out.orb.encode();
        self.out.stores.push((self.at.orb, b[..len].to_vec()));
        let key = self.ctrl.key();
        let frames = self.region() / 4096;
        match d.keys {
            KeySpec::None => {}
            KeySpec::Matching | KeySpec::OneOff(..) => {
                for f in 0..frames {
                    let byte = match d.keys {
                        KeySpec::OneOff(which, b) if u64::from(which) % frames == f => b & 0xfe,
                        _ => key << 4,
                    };
                    self.out.keys.push((self.at.data + f * 4096, byte));
                }
            }
        }
        self.out
    }

    fn malform(&mut self) {
        let n = self.ccws.len();
        let i = |v: u8| usize::from(v) % n;
        match self.d.malformation {
            Some(Malformation::BadDataAddress(j)) => {
                self.ccws[i(j)].3 = 0x7fff_f000;
                self.ccws[i(j)].1.set_ida(false);
                self.ccws[i(j)].1.set_mida(false);
            }
            Some(Malformation::TicToTic(j)) if n >= 2 => {
                let a = i(j).min(n - 2);
                let target = low32(self.out.ccw_addrs[a + 1]);
                let after = low32(self.out.ccw_addrs[a]);
                self.ccws[a] = (CMD_TIC, CcwFlags::new(), 0, target);
                self.ccws[a + 1] = (CMD_TIC, CcwFlags::new(), 0, after);
                if a > 0 {
                    self.ccws[a - 1].1.set_cc(true);
                }
            }
            Some(Malformation::Runaway) => {
                for c in &mut self.ccws {
                    if c.0 != CMD_TIC {
                        c.1.set_cc(true);
                        c.1.set_suspend(false);
                    }
                }
                let first = low32(self.out.ccw_addrs[0]);
                if n >= 2 {
                    self.ccws[n - 1] = (CMD_TIC, CcwFlags::new(), 0, first);
                }
            }
            Some(Malformation::MisalignedTic(j)) if n >= 2 => {
                let a = i(j).max(1);
                self.ccws[a] = (CMD_TIC, CcwFlags::new(), 0, low32(self.out.ccw_addrs[0]) + 4);
                self.ccws[a - 1].1.set_cc(true);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(seed: u8, cfg: GenConfig) -> StartDesc {
        let bytes: Vec<u8> = (0..2048u32)
            .map(|i| u8::try_from((i * 131 + u32::from(seed) * 17) % 251).unwrap_or(0))
            .collect();
        StartDesc::arbitrary_with(&mut Unstructured::new(&bytes), cfg).unwrap()
    }

    #[test]
    fn layout_without_malformation_keeps_data_areas_in_region() {
        let at = Layout::default();
        for seed in 0..64 {
            let d = draw(seed, GenConfig { malformed_per_256: 0 });
            assert_eq!(d.malformation, None);
            let l = d.layout(&at);
            assert!(l.data_areas.iter().all(|a| a.start >= at.data && a.end <= at.data_end));
            assert_eq!(l.ccw_addrs.len(), d.ccws.len());
            assert_eq!(u64::from(l.orb.cpa), at.program);
        }
    }

    #[test]
    fn layout_of_valid_program_has_no_tic_to_tic() {
        let at = Layout::default();
        for seed in 0..64 {
            let d = draw(seed, GenConfig { malformed_per_256: 0 });
            let l = d.layout(&at);
            let f1 = l.orb.ctrl.format1();
            let ccw = |a: u64| {
                let (_, b) = l.stores.iter().rev().find(|(s, b)| *s == a && b.len() == 8).unwrap();
                let b: [u8; 8] = b.as_slice().try_into().unwrap();
                if f1 {
                    let c = Ccw1::from_be_bytes(b);
                    (c.cmd(), u64::from(c.cda()))
                } else {
                    let c = Ccw0::from_be_bytes(b);
                    (c.cmd(), u64::from(c.cda()))
                }
            };
            for &a in &l.ccw_addrs {
                let (cmd, cda) = ccw(a);
                if cmd & 0xf == CMD_TIC {
                    assert_ne!(ccw(cda).0 & 0xf, CMD_TIC, "TIC at {a:#x} to a TIC");
                }
            }
        }
    }

    #[test]
    fn arbitrary_with_full_share_is_always_malformed() {
        for seed in 0..16 {
            assert!(draw(seed, GenConfig { malformed_per_256: 255 }).malformation.is_some());
        }
    }
}
