//! Shared builders for the ECKD tests: channel programs laid out in guest
//! storage and run through the channel-program engine against a [`Dasd`],
//! parameter blocks, and volumes with formatted tracks.
#![allow(dead_code)]

use zcss_ccw::{Ccw, CcwFlags, Completion, Engine, NoHooks, Orb, OrbControls, VecMemory};
use zcss_dasd::store::MemStore;
use zcss_dasd::track::{Count, TrackAddr, TrackBuilder};
use zcss_dasd::{ControlUnit, Dasd, DasdConfig, TrackStore};

/// Where programs start.
pub const PROG: u64 = 0x1000;
/// Where CCW data areas start.
pub const DATA: u64 = 0x2_0000;
/// Guest storage size.
pub const MEM: u64 = 4 << 20;

/// CCW flags.
pub const CD: u8 = 0x80;
/// Command chaining (set by [`Program`] itself on all but the last CCW).
pub const CC: u8 = 0x40;
/// Suppress length indication.
pub const SLI: u8 = 0x20;
/// Skip.
pub const SKIP: u8 = 0x10;
/// Indirect data addressing.
pub const IDA: u8 = 0x04;

/// A channel program being built: format-1 CCWs at [`PROG`], their data
/// areas from [`DATA`] on (each 8-aligned).
#[derive(Debug, Default, Clone)]
pub struct Program {
    ccws: Vec<Ccw>,
    data: Vec<(u64, Vec<u8>)>,
    next: u64,
}

impl Program {
    /// An empty program.
    #[must_use]
    pub fn new() -> Self {
        Self {
            next: DATA,
            ..Self::default()
        }
    }

    fn area(&mut self, len: usize) -> u64 {
        let at = self.next;
        self.next = (self.next + len.max(1) as u64 + 7) & !7;
        at
    }

    /// A CCW sending `data` (write-type or control commands); returns its
    /// data address.
    pub fn out(&mut self, cmd: u8, flags: u8, data: &[u8]) -> u64 {
        let at = self.area(data.len());
        self.data.push((at, data.to_vec()));
        self.raw(cmd, flags, u16::try_from(data.len()).unwrap(), at);
        at
    }

    /// A CCW taking `count` bytes (read-type commands); returns its data
    /// address.
    pub fn inp(&mut self, cmd: u8, flags: u8, count: u16) -> u64 {
        let at = self.area(usize::from(count));
        self.raw(cmd, flags, count, at);
        at
    }

    /// A CCW as given.
    pub fn raw(&mut self, cmd: u8, flags: u8, count: u16, cda: u64) {
        self.ccws.push(Ccw {
            cmd,
            flags: CcwFlags::from_bits(flags),
            count,
            cda: u32::try_from(cda).unwrap(),
        });
    }

    /// A TIC to CCW number `index`.
    pub fn tic(&mut self, index: usize) {
        self.raw(0x08, 0, 0, PROG + 8 * index as u64);
    }

    /// Number of CCWs so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ccws.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ccws.is_empty()
    }

    /// Stores the program (command chaining on every CCW but the last,
    /// except TICs, which carry no flags) and its data into `mem`.
    pub fn store(&self, mem: &VecMemory) {
        let n = self.ccws.len();
        for (i, c) in self.ccws.iter().enumerate() {
            let mut c = *c;
            if i + 1 < n && c.cmd != 0x08 && !c.flags.cd() {
                c.flags = c.flags.with_cc(true);
            }
            mem.store(PROG + 8 * i as u64, &c.to_format1().to_be_bytes()).unwrap();
        }
        for (at, d) in &self.data {
            mem.store(*at, d).unwrap();
        }
    }
}

/// A device with guest storage and an engine.
pub struct Rig {
    /// Guest storage.
    pub mem: VecMemory,
    /// The device.
    pub dev: Dasd,
    /// Use format-2 IDAWs (4K) in the ORB.
    pub idaw2: bool,
    /// The channel path programs run on (LPUM).
    pub lpum: u8,
}

impl Rig {
    /// A 3990-6 with a 3390-3 identity on an in-memory volume of
    /// `cylinders` cylinders (every track HA + R0).
    #[must_use]
    pub fn new(cylinders: u32) -> Self {
        Self::with(DasdConfig::default(), Box::new(MemStore::new(cylinders)))
    }

    /// A device of `cu` on `store`.
    #[must_use]
    pub fn cu(cu: ControlUnit, store: MemStore) -> Self {
        Self::with(
            DasdConfig {
                cu,
                ..DasdConfig::default()
            },
            Box::new(store),
        )
    }

    /// A device of `cfg` on `store`.
    #[must_use]
    pub fn with(cfg: DasdConfig, store: Box<dyn TrackStore>) -> Self {
        Self {
            mem: VecMemory::new(MEM),
            dev: Dasd::new(cfg, store),
            idaw2: false,
            lpum: 0x80,
        }
    }

    /// Runs `p` and returns the engine's completion.
    pub fn run(&mut self, p: &Program) -> Completion {
        p.store(&self.mem);
        self.run_stored(p)
    }

    /// Runs `p`, already in storage ([`Program::store`]).
    pub fn run_stored(&mut self, _p: &Program) -> Completion {
        let orb = Orb {
            ctrl: OrbControls::new()
                .with_format1(true)
                .with_lpm(0xff)
                .with_idaw_format2(self.idaw2),
            cpa: u32::try_from(PROG).unwrap(),
            ..Orb::default()
        };
        Engine::default().start(&self.mem, &orb, self.lpum, &mut self.dev, &mut NoHooks)
    }

    /// Bytes of guest storage.
    #[must_use]
    pub fn fetch(&self, at: u64, len: usize) -> Vec<u8> {
        self.mem.fetch(at, len).unwrap()
    }

    /// The image of track `t`.
    pub fn track(&mut self, t: TrackAddr) -> Vec<u8> {
        self.dev.flush().unwrap();
        self.dev.store_mut().read(t).unwrap().to_vec()
    }
}

/// DEFINE EXTENT parameters.
#[must_use]
pub fn de(mask: u8, attr: u8, blksize: u16, from: (u16, u16), to: (u16, u16)) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = mask;
    b[1] = attr;
    b[2..4].copy_from_slice(&blksize.to_be_bytes());
    b[8..10].copy_from_slice(&from.0.to_be_bytes());
    b[10..12].copy_from_slice(&from.1.to_be_bytes());
    b[12..14].copy_from_slice(&to.0.to_be_bytes());
    b[14..16].copy_from_slice(&to.1.to_be_bytes());
    b
}

/// LOCATE RECORD parameters: operation byte, auxiliary byte, count, seek
/// track, search record number (the search CCHH is the seek track),
/// sector, transfer length factor.
#[must_use]
pub fn lr(op: u8, aux: u8, count: u8, seek: (u16, u16), rec: u8, sector: u8, tlf: u16) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = op;
    b[1] = aux;
    b[3] = count;
    b[4..6].copy_from_slice(&seek.0.to_be_bytes());
    b[6..8].copy_from_slice(&seek.1.to_be_bytes());
    b.copy_within(4..8, 8);
    b[12] = rec;
    b[13] = sector;
    b[14..16].copy_from_slice(&tlf.to_be_bytes());
    b
}

/// LOCATE RECORD EXTENDED parameters: the LR fields, the extended
/// operation and extended parameters.
#[must_use]
#[expect(clippy::too_many_arguments, reason = "one argument per LRE field a test varies")]
pub fn lre(op: u8, aux: u8, count: u8, seek: (u16, u16), rec: u8, tlf: u16, ext_op: u8, ext: &[u8]) -> Vec<u8> {
    let mut b = lr(op, aux, count, seek, rec, 0, tlf).to_vec();
    b.extend_from_slice(&[0, ext_op]);
    b.extend_from_slice(&u16::try_from(ext.len()).unwrap().to_be_bytes());
    b.extend_from_slice(ext);
    b
}

/// PREFIX parameters: format 0 (DE only) when `lre` is `None`.
#[must_use]
pub fn pfx(de16: &[u8; 16], lre: Option<&[u8]>) -> Vec<u8> {
    let mut b = vec![0u8; 12];
    b[0] = u8::from(lre.is_some());
    b[1] = 0x80;
    b.extend_from_slice(de16);
    b.extend_from_slice(&[0u8; 16]);
    match lre {
        Some(l) => b.extend_from_slice(l),
        None => b.extend_from_slice(&[0u8; 20]),
    }
    b
}

/// A count area.
#[must_use]
pub fn count(cyl: u16, head: u16, rec: u8, kl: u8, dl: u16) -> [u8; 8] {
    Count::new(cyl, head, rec, kl, dl).to_bytes()
}

/// The data of record `r` of track `t` in [`volume`]s: a pattern that
/// differs per track and record.
pub use zcss_dasd::mock::pattern;

/// A volume of `cylinders` cylinders whose tracks `tracks` hold `n`
/// records R1…Rn of `dl` bytes without keys, data by [`pattern`].
#[must_use]
pub fn volume(cylinders: u32, tracks: impl IntoIterator<Item = TrackAddr>, n: u8, dl: u16) -> MemStore {
    let mut s = MemStore::new(cylinders);
    let mut b = TrackBuilder::default();
    for t in tracks {
        let (c, h) = (u16::try_from(t.cyl).unwrap(), u16::try_from(t.head).unwrap());
        b.start(t);
        for r in 1..=n {
            b.record(Count::new(c, h, r, 0, 0), &[], &pattern(t, r, usize::from(dl)));
        }
        s.write(t, b.finish()).unwrap();
    }
    s
}

/// The first `n` tracks.
pub fn first_tracks(n: u64) -> impl Iterator<Item = TrackAddr> {
    (0..n).map(TrackAddr::from_index)
}

/// The SCSW CCW address after CCW number `i` of a program.
#[must_use]
pub fn cpa_after(i: u64) -> u32 {
    u32::try_from(PROG + 8 * (i + 1)).unwrap()
}

/// The sense bytes of a unit check.
#[must_use]
pub fn sense(c: &Completion) -> [u8; 32] {
    c.sense.expect("unit check with sense").bytes
}

/// Whether the program ended with channel end and device end only.
#[must_use]
pub fn clean(c: &Completion) -> bool {
    c.dstat.into_bits() == 0x0c && c.cstat.into_bits() == 0
}
