//! [`EckdStart`]: an arbitrary ECKD channel program as a start of the
//! `zcss_css::fuzz` harness, laid out in the subchannel's region of guest
//! storage (PoO chapter 15, "Operation-Request Block", "Channel-Command
//! Word", "Indirect Data Addressing").

use arbitrary::Arbitrary;
use zcss_ccw::generate::{LaidOut, Layout};
use zcss_ccw::{Ccw, Ccw0, CcwFlags, Orb, OrbControls};
use zcss_css::fuzz::Start;

use zcss_ccw::mock::flags;

use super::program::{Dir, FuzzCcw, Planned, Recipe};
use super::Extent;
use crate::geometry::HEADS;
use crate::track::TrackAddr;

/// Most CCWs of a program (with data chaining; half as many planned).
const MAX_CCWS: usize = 96;
/// The interruption parameter of every start.
const INTPARM: u32 = 0x1234_5678;

/// An arbitrary ECKD channel program: an optional coherent recipe
/// (DEFINE EXTENT + LOCATE RECORD (EXTENDED) or PREFIX and the domain's
/// commands with data of the records' sizes, or SEEK + SEARCH + TIC +
/// WRITE), then arbitrary commands (parameter blocks built field by field
/// and mutated, or raw bytes; seeks, searches, reads, update and format
/// writes, TICs), each addressing its data directly or through an IDAL of
/// the ORB's format, perhaps split by data chaining, with SLI, skip, PCI
/// and suspend flags; format-0 or format-1 CCWs, prefetch, suspend control
/// and the LPM in the ORB.
///
/// It is well formed ([`Start::well_formed`]) unless an IDAW is replaced
/// by an arbitrary address or a TIC is misaligned.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct EckdStart {
    recipe: Option<Recipe>,
    format0: bool,
    c64: bool,
    i2k: bool,
    prefetch: bool,
    suspend: bool,
    /// The LPM: all paths unless the low four bits are all one (then
    /// this byte).
    lpm: u8,
    /// Command chaining stops after CCW `stop >> 3` when the low three
    /// bits are all one (otherwise after the last).
    stop: u8,
    ccws: Vec<FuzzCcw>,
}

/// A program laid out, with what the oracles derive from the input.
struct Built {
    laid: LaidOut,
    /// The parameter bytes the first CCW sends when it is DEFINE EXTENT
    /// or PREFIX, runs at START SUBCHANNEL (no suspend before it) and is
    /// not skipped.
    first_params: Option<(u8, Vec<u8>)>,
    /// An IDAW replaced, a misaligned TIC.
    malformed: Vec<&'static str>,
}

/// Where the program's pieces go in the region.
struct Placer {
    at: Layout,
    ccws: Vec<(u8, u8, u16, u32)>,
    list_next: u64,
    data_next: u64,
    out: LaidOut,
}

impl Placer {
    /// A data area of `len` bytes; `None` when the data region is used up.
    fn area(&mut self, len: usize, shift: u8) -> Option<u64> {
        let at = (self.data_next + u64::from(shift) * 16 + 7) & !7;
        let end = at.checked_add(u64::try_from(len).ok()?)?;
        if end > self.at.data_end {
            return None;
        }
        self.data_next = end;
        if end > at {
            self.out.data_areas.push(at..end);
        }
        Some(at)
    }

    /// An IDAL for `len` bytes at `at`; returns its address. A `bad` IDAW
    /// names the rest of its block as a data area too.
    fn idal(&mut self, at: u64, len: usize, c64: bool, i2k: bool, bad: Option<(u8, u32)>) -> Option<u32> {
        let block: u64 = if c64 && !i2k { 4096 } else { 2048 };
        let mut words = vec![at];
        let end = at + u64::try_from(len).ok()?;
        let mut a = (at & !(block - 1)) + block;
        while a < end {
            words.push(a);
            a += block;
        }
        if let Some((i, v)) = bad {
            let n = words.len();
            let v = u64::from(v);
            words[usize::from(i) % n] = v;
            let stop = (v & !(block - 1)) + block;
            self.out.data_areas.push(v..stop);
        }
        let size: u64 = if c64 { 8 } else { 4 };
        let base = (self.list_next + 7) & !7;
        let n = u64::try_from(words.len()).ok()?;
        if base + n * size > self.at.data {
            return None;
        }
        let mut bytes = Vec::with_capacity(words.len() * 8);
        for w in &words {
            if c64 {
                bytes.extend_from_slice(&w.to_be_bytes());
            } else {
                let w = u32::try_from(*w & 0xffff_ffff).unwrap_or(0);
                bytes.extend_from_slice(&w.to_be_bytes());
            }
        }
        self.out.stores.push((base, bytes));
        self.list_next = base + n * size;
        u32::try_from(base).ok()
    }
}

impl EckdStart {
    fn build(&self, at: &Layout) -> Built {
        let ctrl = OrbControls::new()
            .with_format1(!self.format0)
            .with_idaw_format2(self.c64)
            .with_idaw_2k(self.i2k)
            .with_prefetch(self.prefetch)
            .with_suspend(self.suspend)
            .with_lpm(if self.lpm & 0x0f == 0x0f { self.lpm } else { 0xff });
        let orb = Orb {
            intparm: INTPARM,
            ctrl,
            cpa: u32::try_from(at.program).unwrap_or(0),
            ..Orb::default()
        };
        let mut p = Placer {
            at: *at,
            ccws: Vec::new(),
            list_next: at.lists,
            data_next: at.data,
            out: LaidOut {
                orb,
                ccw_addrs: Vec::new(),
                data_areas: Vec::new(),
                stores: Vec::new(),
                keys: Vec::new(),
            },
        };
        let mut malformed = Vec::new();
        let mut first_index = Vec::new();
        let mut tics = Vec::new();
        let mut first_params = None;
        let mut planned: Vec<Planned> = self.recipe.as_ref().map(Recipe::plan).unwrap_or_default();
        planned.extend(self.ccws.iter().take(MAX_CCWS / 2).map(Planned::of));
        for (n, c) in planned.into_iter().take(MAX_CCWS / 2).enumerate() {
            first_index.push(p.ccws.len());
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
                    tics.push((p.ccws.len(), target, misaligned));
                    p.ccws.push((0x08, 0, 0, 0));
                    continue;
                }
                Dir::Out(mut b) => {
                    let len = u16::try_from(b.len()).unwrap_or(u16::MAX);
                    b.truncate(usize::from(len));
                    (Some(b), len)
                }
                Dir::In(count) => (None, count),
            };
            let Some(data) = p.area(usize::from(count), shift) else {
                break;
            };
            let suspended_first = self.suspend && f & flags::SUSP != 0;
            if n == 0 && matches!(cmd, 0x63 | 0xe7) && f & flags::SKIP == 0 && bad.is_none() && !suspended_first {
                first_params = bytes.clone().map(|b| (cmd, b));
            }
            // (A trace's `store` names at least one byte.)
            if let Some(b) = bytes.filter(|b| !b.is_empty()) {
                p.out.stores.push((data, b));
            }
            if bad.is_some() && ida {
                malformed.push("an IDAW replaced");
            }
            // Data chaining: two CCWs sharing the area.
            let pieces: Vec<(u64, u16)> = match split {
                Some(s) if count > 0 => {
                    let first = u16::try_from(u32::from(s) % (u32::from(count) + 1)).unwrap_or(0);
                    vec![(data, first), (data + u64::from(first), count - first)]
                }
                _ => vec![(data, count)],
            };
            let last = pieces.len() - 1;
            for (k, &(a, len)) in pieces.iter().enumerate() {
                let cda = if ida {
                    match p.idal(a, usize::from(len), self.c64, self.i2k, bad) {
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
                p.ccws.push((cmd, fl, len, cda));
            }
        }
        let n = p.ccws.len();
        if n > 0 {
            for (at_, target, misaligned) in tics {
                let idx = first_index[usize::from(target) % first_index.len()];
                let off = u64::try_from(idx).unwrap_or(0) * 8 + if misaligned { 4 } else { 0 };
                if misaligned {
                    malformed.push("a misaligned TIC");
                }
                p.ccws[at_].3 = u32::try_from(at.program + off).unwrap_or(0);
            }
        }
        let stop = if self.stop & 7 == 7 {
            usize::from(self.stop >> 3) % n.max(1)
        } else {
            n.saturating_sub(1)
        };
        let mut program = Vec::with_capacity((n + 1) * 8);
        for (i, &(cmd, fl, count, cda)) in p.ccws.iter().enumerate() {
            let mut fl = fl;
            if i < stop && cmd != 0x08 && fl & flags::CD == 0 {
                fl |= flags::CC;
            }
            let raw = if self.format0 {
                Ccw0::new()
                    .with_cmd(cmd)
                    .with_cda(cda & 0x00ff_ffff)
                    .with_flags(CcwFlags::from_bits(fl))
                    .with_count(count)
                    .to_be_bytes()
            } else {
                Ccw {
                    cmd,
                    flags: CcwFlags::from_bits(fl),
                    count,
                    cda,
                }
                .to_format1()
                .to_be_bytes()
            };
            p.out.ccw_addrs.push(at.program + 8 * u64::try_from(i).unwrap_or(0));
            program.extend_from_slice(&raw);
        }
        // A zero doubleword ends the program: a CCW an earlier program
        // left behind is never fetched (a search's status modifier skips
        // past the last CCW into it: a program check).
        program.extend_from_slice(&[0; 8]);
        p.out.stores.push((at.program, program));
        let (orb_bytes, len) = orb.encode();
        p.out.stores.push((at.orb, orb_bytes[..len].to_vec()));
        Built {
            laid: p.out,
            first_params,
            malformed,
        }
    }

    /// The extent the first CCW's parameter bytes name on a volume of
    /// `cylinders` cylinders — when the program starts with DEFINE EXTENT
    /// or PREFIX, not suspended or skipped before it, so that START
    /// SUBCHANNEL runs it: `Some(None)` when the bytes name no extent a
    /// device may accept, `None` when the program makes no such
    /// statement. GA32-0099, "Define Extent": the beginning and ending
    /// CCHH, a head in the low four bits of HH, the high twelve bits
    /// extending the cylinder.
    #[must_use]
    pub fn stated_extent(&self, cylinders: u32) -> Option<Option<Extent>> {
        let (cmd, b) = self.build(&Layout::default()).first_params?;
        let off = if cmd == 0xe7 { 12 } else { 0 };
        let Some(f) = b.get(off + 8..off + 16) else {
            return Some(None);
        };
        let track = |x: &[u8]| {
            let c = u32::from(u16::from_be_bytes([x[0], x[1]]));
            let hh = u32::from(u16::from_be_bytes([x[2], x[3]]));
            let cyl = c | ((hh >> 4) << 16);
            let head = hh & 0xf;
            (cyl < cylinders && head < HEADS).then_some(TrackAddr::new(cyl, head))
        };
        Some(match (track(&f[..4]), track(&f[4..])) {
            (Some(a), Some(z)) if a <= z => Some((a, z)),
            _ => None,
        })
    }
}

impl EckdStart {
    /// A start of the recipe `kind` only (tests).
    #[cfg(test)]
    pub(super) fn for_test(kind: u8) -> Self {
        Self {
            recipe: Some(Recipe::for_test(kind, (0, 1), (1, 2))),
            format0: false,
            c64: false,
            i2k: false,
            prefetch: false,
            suspend: false,
            lpm: 0,
            stop: 0,
            ccws: Vec::new(),
        }
    }
}

impl Start for EckdStart {
    fn lay_out(&self, at: &Layout) -> LaidOut {
        self.build(at).laid
    }

    fn well_formed(&self) -> bool {
        self.build(&Layout::default()).malformed.is_empty()
    }

    fn note(&self) -> Option<String> {
        let b = self.build(&Layout::default());
        let mut s = format!(
            "eckd start: {} CCWs{}",
            b.laid.ccw_addrs.len(),
            self.recipe
                .as_ref()
                .map(|r| format!(", recipe {}", r.describe()))
                .unwrap_or_default()
        );
        if !b.malformed.is_empty() {
            s.push_str("; malformed: ");
            s.push_str(&b.malformed.join(", "));
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbitrary::Unstructured;

    fn bytes(seed: u32) -> Vec<u8> {
        zcss_css::fuzz::noise(seed, 16384)
    }

    #[test]
    fn lay_out_keeps_every_store_in_the_region() {
        let at = Layout::default().shifted(2);
        for seed in 0..64 {
            let Ok(s) = EckdStart::arbitrary(&mut Unstructured::new(&bytes(seed))) else {
                continue;
            };
            let laid = s.lay_out(&at);
            for (a, b) in &laid.stores {
                let end = a + u64::try_from(b.len()).unwrap();
                assert!(
                    *a >= at.orb && end <= at.data_end,
                    "seed {seed}: store {a:#x}..{end:#x}"
                );
            }
            assert!(
                laid.stores.iter().all(|(_, b)| !b.is_empty()),
                "seed {seed}: an empty store"
            );
            assert_eq!(u64::from(laid.orb.cpa), at.program);
            assert!(laid.ccw_addrs.iter().all(|&c| c >= at.program && c + 8 <= at.lists));
        }
    }

    #[test]
    fn lay_out_of_dx_recipe_states_its_extent() {
        // Recipe: kind 3 (read), DEFINE EXTENT from (0, 1) to (1, 2).
        let s = EckdStart::for_test(3);
        assert_eq!(
            s.stated_extent(2),
            Some(Some((TrackAddr::new(0, 1), TrackAddr::new(1, 2))))
        );
        assert_eq!(s.stated_extent(1), Some(None));
        assert!(s.well_formed());
        let laid = s.lay_out(&Layout::default());
        // DEFINE EXTENT, LOCATE RECORD, and the reads of the domain.
        assert!(laid.ccw_addrs.len() >= 3);
        let first = &laid.stores.iter().find(|(a, _)| *a == 0x1000).unwrap().1;
        assert_eq!(first[0], 0x63);
        assert_eq!(first[1] & flags::CC, flags::CC);
    }
}
