//! Fetching indirect-data-address lists and modified-indirect-data-address
//! lists from guest storage (Principles of Operation, chapter 15, "Indirect
//! Data Addressing", "Modified Indirect Data Addressing"; chapter 16,
//! "Program Check" and "Protection Check" for what a bad list causes).
//!
//! An [`IdalCursor`] or [`MidalCursor`] walks the list of one CCW and yields
//! one [`DataSegment`] per IDAW or MIDAW: the storage that word addresses,
//! cut to the bytes of the CCW count it still covers. Each word is fetched
//! from storage exactly once — when [`IdalCursor::next`] reaches it, or
//! before, among the words [`IdalCursor::prefetch`] fetches ahead with one
//! access — and the validity rules are applied to that one copy when the
//! cursor reaches it — a guest changing its list
//! while the channel works on it cannot make one word count twice with two
//! values. The [`DataStream`](crate::DataStream) moves data through these
//! cursors; a channel-program translator (vfio-ccw) walks the same lists
//! with them without moving data.
//!
//! The list itself lies under the 31-bit limit: its address is a CCW data
//! address (24- or 31-bit) and the words follow it in ascending order; a
//! list running past 2^31 − 1 is an invalid IDAW address, as is a word
//! outside storage.

use crate::address::{AddrLimit, GuestAddr};
use crate::check::CheckCause;
use crate::idaw::{Idaw1, Idaw2, IdawFormat, Midaw, MIDAW_LEN};
use crate::memory::{AccessKey, GuestMemory};

/// The storage one IDAW or MIDAW designates for a CCW.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataSegment {
    /// First byte.
    pub addr: GuestAddr,
    /// Bytes, at least 1: up to the end of the IDAW's block, or the MIDAW
    /// count, and never more than the CCW count left.
    pub len: u16,
    /// The MIDAW skip flag (input data is counted but not stored); always
    /// `false` for IDAWs, whose skip comes from the CCW.
    pub skip: bool,
}

/// Fetches the IDAW of `format` at `at` with access key `key` and returns
/// the data address it holds.
///
/// # Errors
/// [`CheckCause::InvalidIdawAddress`] or [`CheckCause::IdawProtection`] when
/// the IDAW cannot be fetched; [`CheckCause::InvalidIdaw`] for a format-1
/// IDAW with bit 0 set.
pub fn fetch_idaw(
    mem: &dyn GuestMemory,
    format: IdawFormat,
    key: AccessKey,
    at: GuestAddr,
) -> Result<GuestAddr, CheckCause> {
    let mut b = [0u8; 8];
    let len = idaw_len(format);
    mem.read(at.get(), &mut b[..len], key)
        .map_err(CheckCause::of_idaw_fetch)?;
    idaw_address(format, &b[..len])
}

/// Size of one IDAW of `format` ([`IdawFormat::idaw_len`]) as a slice length.
#[inline(always)]
fn idaw_len(format: IdawFormat) -> usize {
    usize::try_from(format.idaw_len()).unwrap_or(8)
}

/// The data address of the stored IDAW `raw` (4 or 8 bytes by `format`).
#[inline(always)]
fn idaw_address(format: IdawFormat, raw: &[u8]) -> Result<GuestAddr, CheckCause> {
    match format {
        IdawFormat::Format1 => {
            let mut b = [0u8; 4];
            b.copy_from_slice(raw.get(..4).ok_or(CheckCause::InvalidIdaw)?);
            Idaw1::from_be_bytes(b).data_address().ok_or(CheckCause::InvalidIdaw)
        }
        IdawFormat::Format2_4K | IdawFormat::Format2_2K => {
            let mut b = [0u8; 8];
            b.copy_from_slice(raw.get(..8).ok_or(CheckCause::InvalidIdaw)?);
            Ok(Idaw2::from_be_bytes(b).data_address())
        }
    }
}

/// The data address of IDAW `i` of the IDAWs fetched ahead in `ahead`.
///
/// # Errors
/// [`CheckCause::InvalidIdaw`] for a format-1 IDAW with bit 0 set (or an
/// index past `ahead`, which the cursor never passes).
#[inline(always)]
fn fetched_address(format: IdawFormat, ahead: &[u8; AHEAD_BYTES], i: u8) -> Result<GuestAddr, CheckCause> {
    let i = usize::from(i);
    match format {
        IdawFormat::Format1 => {
            let raw = ahead.get(4 * i..).and_then(<[u8]>::first_chunk::<4>);
            Idaw1::from_be_bytes(*raw.ok_or(CheckCause::InvalidIdaw)?)
                .data_address()
                .ok_or(CheckCause::InvalidIdaw)
        }
        IdawFormat::Format2_4K | IdawFormat::Format2_2K => {
            let raw = ahead.get(8 * i..).and_then(<[u8]>::first_chunk::<8>);
            Ok(Idaw2::from_be_bytes(*raw.ok_or(CheckCause::InvalidIdaw)?).data_address())
        }
    }
}

/// Fetches the MIDAW at `at` with access key `key`, as stored (its validity
/// depends on the list around it: see [`MidalCursor`]).
///
/// # Errors
/// [`CheckCause::InvalidIdawAddress`] or [`CheckCause::IdawProtection`] when
/// the MIDAW cannot be fetched.
pub fn fetch_midaw(mem: &dyn GuestMemory, key: AccessKey, at: GuestAddr) -> Result<Midaw, CheckCause> {
    let mut b = [0u8; 16];
    mem.read(at.get(), &mut b, key).map_err(CheckCause::of_idaw_fetch)?;
    Ok(Midaw::from_be_bytes(b))
}

/// Where a cursor stands in its list: the address of the next word (which
/// may lie beyond the 31-bit limit: the list ran past it) and the bytes of
/// the count not yet covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ListPos {
    next: u64,
    remaining: u16,
}

impl ListPos {
    fn new(list: GuestAddr, count: u16) -> Self {
        Self {
            next: list.get(),
            remaining: count,
        }
    }

    /// The address of the next word (`word` bytes long) and the position
    /// after it; `None` when the count is covered.
    ///
    /// A list address is a multiple of its word size (checked with the
    /// CCW), so a word that starts under the 31-bit limit ends under it.
    #[inline]
    fn step(&mut self, word: u64) -> Result<Option<GuestAddr>, CheckCause> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let at = GuestAddr::new(self.next, AddrLimit::Bits31).ok_or(CheckCause::InvalidIdawAddress)?;
        // No overflow: at most 65,535 words of at most 16 bytes follow an
        // address under 2^31.
        self.next += word;
        Ok(Some(at))
    }

    /// How many whole words of `word` bytes from the next one on lie under
    /// the 31-bit limit.
    fn words_under_limit(&self, word: u64) -> u64 {
        (AddrLimit::Bits31.max() + 1).saturating_sub(self.next) / word
    }
}

/// A cursor over the IDAL of one CCW.
///
/// The first IDAW may address any byte; every following IDAW must address
/// the start of a block (2K or 4K by the ORB), else
/// [`CheckCause::InvalidIdaw`]. The cursor fetches only the IDAWs the CCW
/// count needs ([`IdawFormat::idaws_for`]). The IDAL address itself is
/// checked by [`ProgramControls::check_ccw`](crate::ProgramControls::check_ccw)
/// (alignment, bit 0 of a format-1 address) before the cursor is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdalCursor {
    format: IdawFormat,
    key: AccessKey,
    pos: ListPos,
    first: bool,
    /// IDAWs fetched ahead by [`IdalCursor::prefetch`], as stored, used in
    /// order (`ahead[taken..filled]`), never fetched again. They all lie
    /// under the 31-bit limit; `pos.next` is the word after them.
    ahead: [u8; AHEAD_BYTES],
    taken: u8,
    filled: u8,
}

/// Bytes of IDAWs one [`IdalCursor::prefetch`] fetches at most.
const AHEAD_BYTES: usize = 128;

impl IdalCursor {
    /// A cursor over the IDAL at `idal` for a CCW of `count` bytes.
    #[must_use]
    pub fn new(format: IdawFormat, key: AccessKey, idal: GuestAddr, count: u16) -> Self {
        Self {
            format,
            key,
            pos: ListPos::new(idal, count),
            first: true,
            ahead: [0; AHEAD_BYTES],
            taken: 0,
            filled: 0,
        }
    }

    /// Bytes of the CCW count that no IDAW fetched so far covers.
    #[must_use]
    pub const fn remaining(&self) -> u16 {
        self.pos.remaining
    }

    /// Makes this cursor `fresh` (a cursor no IDAW was taken from), keeping
    /// its own look-ahead buffer, whose contents are dead: cheaper than
    /// copying `fresh` whole.
    #[inline]
    pub(crate) fn restart(&mut self, fresh: &Self) {
        self.format = fresh.format;
        self.key = fresh.key;
        self.pos = fresh.pos;
        self.first = fresh.first;
        self.taken = fresh.taken;
        self.filled = fresh.filled;
    }

    /// Whether IDAWs fetched ahead remain to be taken.
    #[must_use]
    pub const fn has_fetched(&self) -> bool {
        self.taken < self.filled
    }

    /// Fetches, with one storage access, the IDAWs that will address the
    /// next `bytes` bytes of the count (at most 128 bytes of IDAWs: 16
    /// format-2 or 32 format-1 IDAWs), so that the following
    /// [`IdalCursor::next`] calls take them from the cursor instead of
    /// storage. Each IDAW is still fetched once.
    ///
    /// Only IDAWs the caller is about to use are fetched: `bytes` bytes
    /// starting at a block boundary need one IDAW per block begun, and
    /// bytes starting inside the first IDAW's block (whose offset is not
    /// known before it is fetched) need at least as many. When the access
    /// fails nothing is kept, and `next` fetches one IDAW at a time and
    /// reports the check at the IDAW that causes it.
    #[inline]
    pub fn prefetch(&mut self, mem: &dyn GuestMemory, bytes: u64) {
        if self.taken >= self.filled {
            self.fetch_ahead(mem, bytes);
        }
    }

    fn fetch_ahead(&mut self, mem: &dyn GuestMemory, bytes: u64) {
        self.taken = 0;
        self.filled = 0;
        let block = self.format.block();
        let len = idaw_len(self.format);
        let want = bytes
            .min(u64::from(self.pos.remaining))
            .div_ceil(block)
            .min(self.pos.words_under_limit(len as u64));
        let n = usize::try_from(want).unwrap_or(usize::MAX).min(AHEAD_BYTES / len);
        if n >= 2 && mem.read(self.pos.next, &mut self.ahead[..n * len], self.key).is_ok() {
            self.filled = u8::try_from(n).unwrap_or(0);
            // The position after the words fetched: `next` takes them from
            // `ahead` before it fetches again.
            self.pos.next += (n * len) as u64;
        }
    }

    /// Fetches the next IDAW (or takes the one [`IdalCursor::prefetch`]
    /// fetched) and returns the segment it designates, or `None` once the
    /// IDAWs fetched cover the whole count.
    ///
    /// # Errors
    /// The check the IDAW causes (see [`fetch_idaw`]; a non-first IDAW off
    /// a block boundary is [`CheckCause::InvalidIdaw`]). The list ends
    /// there for the CCW; the cursor has moved past the failing IDAW.
    #[inline(always)]
    pub fn next(&mut self, mem: &dyn GuestMemory) -> Result<Option<DataSegment>, CheckCause> {
        if self.pos.remaining == 0 {
            return Ok(None);
        }
        let addr = if self.taken < self.filled {
            let addr = fetched_address(self.format, &self.ahead, self.taken);
            self.taken += 1;
            addr?
        } else {
            self.fetch_next(mem)?
        };
        let (seg, remaining) = segment(self.format, self.first, self.pos.remaining, addr)?;
        self.first = false;
        self.pos.remaining = remaining;
        Ok(Some(seg))
    }

    /// Takes the IDAWs fetched ahead ([`IdalCursor::prefetch`]) in one
    /// loop, with the checks of [`IdalCursor::next`]: passes the segment of
    /// each to `take`, which returns whether it wants another, until it
    /// does not, the count is covered or no IDAW fetched ahead is left
    /// (then [`IdalCursor::next`] goes on).
    ///
    /// # Errors
    /// As [`IdalCursor::next`], for the IDAW that causes the check.
    #[inline(always)]
    pub(crate) fn take_fetched(&mut self, mut take: impl FnMut(DataSegment) -> bool) -> Result<(), CheckCause> {
        let mut taken = self.taken;
        let mut remaining = self.pos.remaining;
        let mut first = self.first;
        let mut result = Ok(());
        while taken < self.filled && remaining != 0 {
            let addr = fetched_address(self.format, &self.ahead, taken);
            taken += 1;
            let seg = match addr.and_then(|addr| segment(self.format, first, remaining, addr)) {
                Ok((seg, left)) => {
                    remaining = left;
                    seg
                }
                Err(cause) => {
                    result = Err(cause);
                    break;
                }
            };
            first = false;
            if !take(seg) {
                break;
            }
        }
        self.taken = taken;
        self.pos.remaining = remaining;
        self.first = first;
        result
    }

    /// Fetches the next IDAW from storage and returns its data address.
    #[inline(never)]
    fn fetch_next(&mut self, mem: &dyn GuestMemory) -> Result<GuestAddr, CheckCause> {
        let len = idaw_len(self.format);
        let Some(at) = self.pos.step(len as u64)? else {
            return Err(CheckCause::InvalidIdaw);
        };
        fetch_idaw(mem, self.format, self.key, at)
    }
}

/// The segment of the IDAW of `format` holding `addr` (the list's first
/// IDAW when `first`), for a count with `remaining` bytes not yet covered,
/// and the bytes left after it.
///
/// # Errors
/// [`CheckCause::InvalidIdaw`] for an IDAW other than the first that does
/// not address the start of a block.
#[inline(always)]
fn segment(format: IdawFormat, first: bool, remaining: u16, addr: GuestAddr) -> Result<(DataSegment, u16), CheckCause> {
    let block = format.block();
    if !first && !addr.is_aligned(block) {
        return Err(CheckCause::InvalidIdaw);
    }
    // The span is at most a block (4K).
    let span = u16::try_from(block - addr.offset_in(block)).unwrap_or(u16::MAX);
    let len = span.min(remaining);
    Ok((DataSegment { addr, len, skip: false }, remaining - len))
}

/// A cursor over the MIDAL of one CCW.
///
/// Each MIDAW must have its reserved bits zero and a count that is not
/// zero; the counts must add up to the CCW count exactly at the MIDAW
/// flagged last (a last flag too early or too late, or a count beyond the
/// CCW's, is invalid); a MIDAW may cross a 4K boundary only with skip.
/// Any violation is [`CheckCause::InvalidMidaw`]. The MIDAL address is
/// checked by [`ProgramControls::check_ccw`](crate::ProgramControls::check_ccw)
/// (16-byte alignment, bit 0) before the cursor is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MidalCursor {
    key: AccessKey,
    pos: ListPos,
}

impl MidalCursor {
    /// A cursor over the MIDAL at `midal` for a CCW of `count` bytes.
    #[must_use]
    pub fn new(key: AccessKey, midal: GuestAddr, count: u16) -> Self {
        Self {
            key,
            pos: ListPos::new(midal, count),
        }
    }

    /// Bytes of the CCW count that no MIDAW fetched so far covers.
    #[must_use]
    pub const fn remaining(&self) -> u16 {
        self.pos.remaining
    }

    /// Fetches and checks the next MIDAW and returns its segment, or `None`
    /// after the MIDAW flagged last.
    ///
    /// # Errors
    /// The check the MIDAW causes (see [`fetch_midaw`] and the rules above).
    pub fn next(&mut self, mem: &dyn GuestMemory) -> Result<Option<DataSegment>, CheckCause> {
        let Some(at) = self.pos.step(MIDAW_LEN)? else {
            return Ok(None);
        };
        let m = fetch_midaw(mem, self.key, at)?;
        let skip = m.flags().skip();
        let fits = if m.flags().last() {
            m.count() == self.pos.remaining
        } else {
            m.count() < self.pos.remaining
        };
        if !m.is_valid() || !fits || (m.crosses_4k() && !skip) {
            return Err(CheckCause::InvalidMidaw);
        }
        self.pos.remaining -= m.count();
        Ok(Some(DataSegment {
            addr: m.data_address(),
            len: m.count(),
            skip,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idaw::MidawFlags;
    use crate::memory::{StorageKey, VecMemory};

    fn addr(v: u64) -> GuestAddr {
        GuestAddr::new(v, AddrLimit::Bits31).unwrap()
    }

    fn segments(c: &mut IdalCursor, mem: &VecMemory) -> Vec<Result<(u64, u16), CheckCause>> {
        let mut v = Vec::new();
        loop {
            match c.next(mem) {
                Ok(Some(s)) => v.push(Ok((s.addr.get(), s.len))),
                Ok(None) => return v,
                Err(e) => {
                    v.push(Err(e));
                    return v;
                }
            }
        }
    }

    #[test]
    fn idal_cursor_cuts_segments_at_blocks_and_count() {
        let mem = VecMemory::new(0x10000);
        mem.store(0x100, &0x2100u64.to_be_bytes()).unwrap();
        mem.store(0x108, &0x5000u64.to_be_bytes()).unwrap();
        mem.store(0x110, &0x9000u64.to_be_bytes()).unwrap();
        let mut c = IdalCursor::new(IdawFormat::Format2_4K, AccessKey::ZERO, addr(0x100), 0x1000);
        assert_eq!(
            segments(&mut c, &mem),
            vec![Ok((0x2100, 0xf00)), Ok((0x5000, 0x100))],
            "the third IDAW is not needed and not fetched"
        );
        assert_eq!(c.remaining(), 0);
    }

    #[test]
    fn idal_cursor_prefetch_takes_later_idaws_from_one_fetch() {
        let mem = VecMemory::new(0x10000);
        for (i, a) in [0x2000u64, 0x5000, 0x7000, 0x9000].iter().enumerate() {
            mem.store(0x100 + 8 * i as u64, &a.to_be_bytes()).unwrap();
        }
        let mut c = IdalCursor::new(IdawFormat::Format2_4K, AccessKey::ZERO, addr(0x100), 0x3000);
        c.prefetch(&mem, 0x3000);
        assert_eq!(c.next(&mem).unwrap().map(|s| s.addr.get()), Some(0x2000));
        c.prefetch(&mem, 0x3000);
        // The guest rewrites an IDAW the cursor already holds: it keeps its copy.
        mem.store(0x108, &0xb000u64.to_be_bytes()).unwrap();
        assert_eq!(c.next(&mem).unwrap().map(|s| s.addr.get()), Some(0x5000));
        assert_eq!(c.next(&mem).unwrap().map(|s| s.addr.get()), Some(0x7000));
        assert_eq!(c.next(&mem), Ok(None), "the fourth IDAW is beyond the count");
    }

    #[test]
    fn idal_cursor_prefetch_failing_leaves_the_check_to_its_idaw() {
        let mem = VecMemory::new(0x1010);
        mem.store(0x1000, &0x2000u64.to_be_bytes()).unwrap();
        mem.store(0x1008, &0x3000u64.to_be_bytes()).unwrap();
        let mut c = IdalCursor::new(IdawFormat::Format2_4K, AccessKey::ZERO, addr(0x1000), 0x3000);
        assert!(c.next(&mem).unwrap().is_some());
        // The IDAWs for 0x2000 more bytes run past storage: nothing is kept.
        c.prefetch(&mem, 0x2000);
        assert_eq!(c.next(&mem).unwrap().map(|s| s.addr.get()), Some(0x3000));
        assert_eq!(c.next(&mem), Err(CheckCause::InvalidIdawAddress));
    }

    #[test]
    fn idal_cursor_non_first_idaw_off_block_is_invalid() {
        let mem = VecMemory::new(0x10000);
        mem.store(0x100, &0x2100u32.to_be_bytes()).unwrap();
        mem.store(0x104, &0x3004u32.to_be_bytes()).unwrap();
        let mut c = IdalCursor::new(IdawFormat::Format1, AccessKey::ZERO, addr(0x100), 0x1000);
        assert_eq!(
            segments(&mut c, &mem),
            vec![Ok((0x2100, 0x700)), Err(CheckCause::InvalidIdaw)]
        );
    }

    #[test]
    fn idal_cursor_format1_bit0_is_invalid_idaw() {
        let mem = VecMemory::new(0x10000);
        mem.store(0x100, &0x8000_2000u32.to_be_bytes()).unwrap();
        let mut c = IdalCursor::new(IdawFormat::Format1, AccessKey::ZERO, addr(0x100), 1);
        assert_eq!(c.next(&mem), Err(CheckCause::InvalidIdaw));
    }

    #[test]
    fn idal_cursor_fetches_each_idaw_once() {
        let mem = VecMemory::new(0x10000);
        mem.store(0x100, &0x2000u64.to_be_bytes()).unwrap();
        mem.store(0x108, &0x3000u64.to_be_bytes()).unwrap();
        let mut c = IdalCursor::new(IdawFormat::Format2_4K, AccessKey::ZERO, addr(0x100), 0x2000);
        assert_eq!(c.next(&mem).unwrap().map(|s| s.addr.get()), Some(0x2000));
        // The guest rewrites the IDAW already used: the cursor never looks back.
        mem.store(0x100, &0x7000u64.to_be_bytes()).unwrap();
        assert_eq!(c.next(&mem).unwrap().map(|s| s.addr.get()), Some(0x3000));
        assert_eq!(c.next(&mem), Ok(None));
    }

    #[test]
    fn idal_cursor_list_outside_storage_or_protected_is_checked() {
        let mem = VecMemory::with_storage_keys(0x2000);
        let mut c = IdalCursor::new(IdawFormat::Format2_4K, AccessKey::ZERO, addr(0x1ffc), 1);
        assert_eq!(c.next(&mem), Err(CheckCause::InvalidIdawAddress));
        mem.set_storage_key(0x1000, StorageKey::new(5, true));
        let mut c = IdalCursor::new(IdawFormat::Format2_4K, AccessKey::new(4), addr(0x1000), 1);
        assert_eq!(c.next(&mem), Err(CheckCause::IdawProtection));
    }

    #[test]
    fn idal_cursor_list_beyond_31_bits_is_invalid_idaw_address() {
        let mem = VecMemory::new(0x1000);
        let mut c = IdalCursor::new(
            IdawFormat::Format1,
            AccessKey::ZERO,
            GuestAddr::from_u64(0x8000_0000),
            1,
        );
        assert_eq!(c.next(&mem), Err(CheckCause::InvalidIdawAddress));
    }

    fn midaw(last: bool, skip: bool, count: u16, data: u64) -> [u8; 16] {
        Midaw::new()
            .with_flags(MidawFlags::new().with_last(last).with_skip(skip))
            .with_count(count)
            .with_addr(data)
            .to_be_bytes()
    }

    #[test]
    fn midal_cursor_yields_segments_until_last() {
        let mem = VecMemory::new(0x10000);
        mem.store(0x100, &midaw(false, true, 0x10, 0xfff8)).unwrap();
        mem.store(0x110, &midaw(true, false, 0x20, 0x3000)).unwrap();
        let mut c = MidalCursor::new(AccessKey::ZERO, addr(0x100), 0x30);
        let s = c.next(&mem).unwrap().unwrap();
        assert_eq!((s.addr.get(), s.len, s.skip), (0xfff8, 0x10, true));
        let s = c.next(&mem).unwrap().unwrap();
        assert_eq!((s.addr.get(), s.len, s.skip), (0x3000, 0x20, false));
        assert_eq!(c.next(&mem), Ok(None));
    }

    #[test]
    fn midal_cursor_counts_not_matching_are_invalid() {
        let mem = VecMemory::new(0x10000);
        // Last flag before the count is covered.
        mem.store(0x100, &midaw(true, false, 0x10, 0x3000)).unwrap();
        assert_eq!(
            MidalCursor::new(AccessKey::ZERO, addr(0x100), 0x30).next(&mem),
            Err(CheckCause::InvalidMidaw)
        );
        // No last flag on the MIDAW that covers the count.
        mem.store(0x100, &midaw(false, false, 0x30, 0x3000)).unwrap();
        assert_eq!(
            MidalCursor::new(AccessKey::ZERO, addr(0x100), 0x30).next(&mem),
            Err(CheckCause::InvalidMidaw)
        );
        // Crossing 4K without skip.
        mem.store(0x100, &midaw(true, false, 0x30, 0x3ff0)).unwrap();
        assert_eq!(
            MidalCursor::new(AccessKey::ZERO, addr(0x100), 0x30).next(&mem),
            Err(CheckCause::InvalidMidaw)
        );
    }

    #[test]
    fn fetch_midaw_returns_the_stored_word() {
        let mem = VecMemory::new(0x1000);
        mem.store(0x200, &midaw(true, true, 7, 0x1_0000_0000)).unwrap();
        let m = fetch_midaw(&mem, AccessKey::ZERO, addr(0x200)).unwrap();
        assert_eq!((m.count(), m.data_address().get()), (7, 0x1_0000_0000));
        assert_eq!(
            fetch_midaw(&mem, AccessKey::ZERO, addr(0xff8)),
            Err(CheckCause::InvalidIdawAddress)
        );
    }
}
