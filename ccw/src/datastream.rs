//! The data stream of one command: the bytes a CCW (and the CCWs data-chained
//! to it) lets a device move, through direct, IDAW or MIDAW addressing
//! (Principles of Operation, chapter 15, "Data Chaining", "Indirect Data
//! Addressing", "Modified Indirect Data Addressing", "Skip Flag").
//!
//! # Contract
//! Devices see [`DataStream::read`], [`DataStream::write`],
//! [`DataStream::peek`], [`DataStream::failed`] and the accessors
//! ([`DataStream::count`], [`DataStream::residual`],
//! [`DataStream::transferred`], [`DataStream::is_input`],
//! [`DataStream::ccw_address`]); [`DataStream::direct`] builds a stream
//! outside any program for device unit tests. The [`Engine`](crate::Engine)
//! makes every other stream: it lends the stream its
//! [`ProgramWalker`], through which data chaining
//! fetches the next CCW under the same rules and the same work bound as
//! command chaining.
//!
//! # Behaviour
//! * Data moves in whole contiguous runs (up to the end of the current CCW
//!   count, IDAW block or MIDAW). Direct and MIDAW addressing make one
//!   [`GuestMemory`] call per run; an IDAL transfer gathers the runs of up
//!   to 16 IDAWs (contiguous blocks merged into one run) and moves them
//!   with one [`GuestMemory::write_vectored`] or
//!   [`GuestMemory::read_vectored`], so a scattered 2K IDAL costs one
//!   storage call per 16 blocks, not one per block. A failing run is
//!   redone alone so that the bytes before the failing byte move.
//! * Each IDAW and MIDAW is fetched exactly once, through an
//!   [`IdalCursor`] or [`MidalCursor`], when the stream reaches it (the
//!   first one when the CCW becomes current), and never re-read: a guest
//!   changing an IDAL during the transfer cannot make the stream use two
//!   different values of one IDAW. The IDAWs the transfer in progress
//!   needs are fetched ahead, several with one storage access (on data
//!   chaining, together with the next CCW's first IDAW).
//! * When the count of a CCW with the chain-data flag reaches zero, the next
//!   CCW is fetched at once (following at most one TIC), as the channel does;
//!   its flags (IDA, MIDA, skip, SLI, CD, CC, PCI) govern its part.
//! * Addresses keep their limit ([`GuestAddr`]): a direct transfer that
//!   would pass 2^24 − 1 (format 0) or 2^31 − 1 (format 1) stops there with
//!   a program check.
//! * Skip (CCW flag, or MIDAW flag) applies to input commands only: the bytes
//!   are counted but not stored and their addresses are not checked.
//! * A check (addressing, format limit, protection, invalid IDAW/MIDAW or
//!   data-chained CCW) or a stop request ends the stream: further calls move
//!   nothing and [`DataStream::failed`] is true. Bytes before the failing
//!   byte are moved (protection is resolved per 4K frame).
//! * A device that never calls [`DataStream::read`] or [`DataStream::write`]
//!   performed an *immediate operation* (PoO: incorrect length then follows
//!   the ORB L rule); a device that transfers zero bytes of a non-immediate
//!   command should call `write(&[])` or `read(&mut [])`.

use crate::address::GuestAddr;
use crate::ccw::{Ccw, CcwFormat};
use crate::check::CheckCause;
use crate::hooks::{EngineHooks, ProgramEnd};
use crate::idal::{DataSegment, IdalCursor, MidalCursor};
use crate::memory::{AccessError, AccessKey, GuestMemory, GuestRange, VectoredAccessError, FRAME_SIZE};
use crate::orb::{Orb, OrbControls};
use crate::walker::{cpa_after, ProgramControls, ProgramWalker, WalkCheck, WalkedCcw};

/// Why the stream stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamStop {
    /// A check: cause, the SCSW CCW address and residual count it implies.
    Check { cause: CheckCause, cpa: u32, count: u16 },
    /// The hooks asked to stop between data-chained CCWs.
    Stopped(ProgramEnd),
}

impl From<WalkCheck> for StreamStop {
    fn from(c: WalkCheck) -> Self {
        Self::Check {
            cause: c.cause,
            cpa: c.cpa(),
            count: c.count,
        }
    }
}

/// A contiguous stretch of storage being transferred: `len` bytes from
/// `start`, of which `used` are done.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: GuestAddr,
    len: u64,
    used: u64,
}

impl Run {
    fn of(seg: DataSegment) -> Self {
        Self {
            start: seg.addr,
            len: u64::from(seg.len),
            used: 0,
        }
    }

    fn left(&self) -> u64 {
        self.len - self.used
    }

    /// The next byte (a run lies under its limit, so this is `Some` while
    /// bytes are left).
    fn at(&self) -> Option<GuestAddr> {
        self.start.checked_add(self.used)
    }

    /// Whether `seg` starts where this run ends.
    fn extends(&self, seg: &DataSegment) -> bool {
        self.start.get().checked_add(self.len) == Some(seg.addr.get())
    }
}

/// Where the next byte of the current CCW lives.
#[derive(Debug, Clone, Copy)]
enum Addressing {
    /// Direct addressing: the data address (`None` when the CCW holds none
    /// its format allows) and the bytes done.
    Direct { start: Option<GuestAddr>, used: u64 },
    /// IDAL: the current (possibly coalesced) run of blocks, the cursor
    /// over the rest of the list, and an IDAW already fetched by look-ahead
    /// but not contiguous (or invalid), to be used — never refetched — when
    /// the stream reaches it.
    Idal {
        run: Run,
        cursor: IdalCursor,
        pending: Option<Result<DataSegment, CheckCause>>,
    },
    /// MIDAL: the current MIDAW's run, its skip flag, and the cursor.
    Midal { run: Run, skip: bool, cursor: MidalCursor },
}

/// Most ranges (runs of contiguous IDAW blocks) one vectored storage
/// access of an IDAL transfer moves.
const IDAL_BATCH: usize = 16;

/// Adds the `len` bytes at `at` to the batch of one vectored access of
/// an IDAL transfer: `ranges[..*k]` holding `total` bytes, `last` the
/// start (with its limit) of `ranges[*k - 1]` and `end` the address after
/// it. A segment that starts at `end` merges into the last range.
///
/// Callers stop adding when all [`IDAL_BATCH`] ranges are used, so there
/// is room (a full batch may still take a segment that merges). The batch
/// is loose variables rather than a struct so that the counters stay in
/// registers in the IDAW loop.
#[inline(always)]
fn push_range(
    ranges: &mut [GuestRange; IDAL_BATCH],
    k: &mut usize,
    total: &mut u64,
    last: &mut Option<GuestAddr>,
    end: &mut Option<u64>,
    at: GuestAddr,
    len: u64,
) {
    let addr = at.get();
    let n = usize::try_from(len).unwrap_or(0);
    if *end == Some(addr) {
        if let Some(r) = ranges.get_mut(k.wrapping_sub(1)) {
            r.len += n;
        }
    } else if let Some(r) = ranges.get_mut(*k) {
        *r = GuestRange { addr, len: n };
        *k += 1;
        *last = Some(at);
    } else {
        // Unreachable: see above.
        return;
    }
    *end = addr.checked_add(len);
    *total += len;
}

/// The direction of a transfer, with the device's buffer.
trait Direction {
    /// Whether data goes into storage (skip applies).
    const STORE: bool;
    /// Length of the device's buffer.
    fn len(&self) -> usize;
    /// Moves `n` bytes between storage at `addr` and the buffer at `off`.
    fn one(
        &mut self,
        mem: &dyn GuestMemory,
        addr: u64,
        off: usize,
        n: usize,
        key: AccessKey,
    ) -> Result<(), AccessError>;
    /// Moves `ranges` of storage and the buffer from `off` on.
    fn ranges(
        &mut self,
        mem: &dyn GuestMemory,
        ranges: &[GuestRange],
        off: usize,
        key: AccessKey,
    ) -> Result<(), VectoredAccessError>;
}

/// Storage → device.
struct Fetch<'b>(&'b mut [u8]);

impl Direction for Fetch<'_> {
    const STORE: bool = false;

    fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn one(
        &mut self,
        mem: &dyn GuestMemory,
        addr: u64,
        off: usize,
        n: usize,
        key: AccessKey,
    ) -> Result<(), AccessError> {
        mem.read(addr, &mut self.0[off..off + n], key)
    }

    #[inline]
    fn ranges(
        &mut self,
        mem: &dyn GuestMemory,
        ranges: &[GuestRange],
        off: usize,
        key: AccessKey,
    ) -> Result<(), VectoredAccessError> {
        mem.read_vectored(ranges, &mut self.0[off..], key)
    }
}

/// Device → storage.
struct Store<'b>(&'b [u8]);

impl Direction for Store<'_> {
    const STORE: bool = true;

    fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn one(
        &mut self,
        mem: &dyn GuestMemory,
        addr: u64,
        off: usize,
        n: usize,
        key: AccessKey,
    ) -> Result<(), AccessError> {
        mem.write(addr, &self.0[off..off + n], key)
    }

    #[inline]
    fn ranges(
        &mut self,
        mem: &dyn GuestMemory,
        ranges: &[GuestRange],
        off: usize,
        key: AccessKey,
    ) -> Result<(), VectoredAccessError> {
        mem.write_vectored(ranges, &self.0[off..], key)
    }
}

/// One piece of a transfer: skipped bytes, or bytes at an address.
#[derive(Debug, Clone, Copy)]
enum Piece {
    Skip(u64),
    Access(GuestAddr, u64),
}

/// What the engine needs from a finished stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamOutcome {
    pub ccw_addr: GuestAddr,
    pub ccw: Ccw,
    pub residual: u16,
    pub touched: bool,
    pub wanted_more: bool,
    pub moved: u64,
    pub pci: bool,
    pub stop: Option<StreamStop>,
}

/// The program a stream belongs to: its walker (for data chaining) and the
/// hooks of the channel subsystem.
struct Chain<'a> {
    walker: &'a mut ProgramWalker,
    hooks: &'a mut dyn EngineHooks,
}

/// The data a device may transfer for the current command.
pub struct DataStream<'a> {
    mem: &'a dyn GuestMemory,
    chain: Option<Chain<'a>>,
    controls: ProgramControls,
    ccw_addr: GuestAddr,
    ccw: Ccw,
    remaining: u16,
    addressing: Addressing,
    input: bool,
    touched: bool,
    wanted_more: bool,
    moved: u64,
    pci: bool,
    stop: Option<StreamStop>,
}

impl std::fmt::Debug for DataStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataStream")
            .field("ccw_addr", &self.ccw_addr)
            .field("ccw", &self.ccw)
            .field("remaining", &self.remaining)
            .field("moved", &self.moved)
            .field("stop", &self.stop)
            .finish_non_exhaustive()
    }
}

impl<'a> DataStream<'a> {
    /// A stream over one direct-addressed CCW, outside any channel program:
    /// for device unit tests. `format` decides the address limit; the command
    /// code decides the direction (skip applies to input commands). The CD
    /// flag is ignored (there is no program to chain data from), and so are
    /// IDA and MIDA (the data address is used directly).
    #[must_use]
    pub fn direct(mem: &'a dyn GuestMemory, format: CcwFormat, key: AccessKey, ccw: Ccw) -> Self {
        let ccw = Ccw {
            flags: ccw.flags.with_cd(false),
            ..ccw
        };
        let orb = Orb {
            ctrl: OrbControls::new()
                .with_key(key.get())
                .with_format1(format == CcwFormat::Format1),
            ..Orb::default()
        };
        let controls = ProgramControls::from_orb(&orb);
        let mut s = Self::empty(mem, None, controls, GuestAddr::from_u31(0), ccw);
        s.addressing = Addressing::Direct {
            start: ccw.data_address(format),
            used: 0,
        };
        s
    }

    #[inline]
    fn empty(
        mem: &'a dyn GuestMemory,
        chain: Option<Chain<'a>>,
        controls: ProgramControls,
        ccw_addr: GuestAddr,
        ccw: Ccw,
    ) -> Self {
        Self {
            mem,
            chain,
            controls,
            ccw_addr,
            ccw,
            remaining: ccw.count,
            // Set by `open` (or by `direct`).
            addressing: Addressing::Direct { start: None, used: 0 },
            input: ccw.is_input(),
            touched: false,
            wanted_more: false,
            moved: 0,
            pci: false,
            stop: None,
        }
    }

    /// The stream of the command-chained (already checked) CCW `first`,
    /// which `walker` made current, before [`DataStream::open`]. A plain
    /// constructor so that the caller builds it in place.
    #[inline]
    pub(crate) fn new(
        mem: &'a dyn GuestMemory,
        walker: &'a mut ProgramWalker,
        hooks: &'a mut dyn EngineHooks,
        first: &WalkedCcw,
    ) -> Self {
        let controls = *walker.controls();
        Self::empty(mem, Some(Chain { walker, hooks }), controls, first.addr, first.ccw)
    }

    /// Sets up the addressing of the first CCW; the stream is failed when
    /// the first IDAW or MIDAW is invalid (the device is then not started).
    #[inline]
    pub(crate) fn open(&mut self) {
        if let Err(cause) = self.setup(0) {
            self.fail(cause);
        }
    }

    /// Sets up the addressing of the current CCW: fetches the first IDAW or
    /// MIDAW when there is data to address. `wanted` is how many more bytes
    /// the transfer in progress wants (0 when no transfer is in progress):
    /// the IDAWs addressing them are fetched with the first one.
    #[inline]
    fn setup(&mut self, wanted: u64) -> Result<(), CheckCause> {
        let f = self.ccw.flags;
        let cda = self.ccw.data_address(self.controls.format);
        if self.ccw.count == 0 || !(f.ida() || f.mida()) {
            self.addressing = Addressing::Direct { start: cda, used: 0 };
            return Ok(());
        }
        // The walker checked the list address; `None` cannot occur here.
        let list = cda.ok_or(CheckCause::InvalidIdawAddress)?;
        let key = self.controls.key;
        if f.ida() {
            let fresh = IdalCursor::new(self.controls.idaw, key, list, self.remaining);
            if let Addressing::Idal { cursor, pending, .. } = &mut self.addressing {
                // Data chaining from an IDAL to an IDAL: the cursor starts
                // over in place (its look-ahead buffer need not be copied).
                cursor.restart(&fresh);
                *pending = None;
            } else {
                self.addressing = Addressing::Idal {
                    run: Run::of(DataSegment {
                        addr: list,
                        len: 0,
                        skip: false,
                    }),
                    cursor: fresh,
                    pending: None,
                };
            }
            if let Addressing::Idal { run, cursor, .. } = &mut self.addressing {
                cursor.prefetch(self.mem, wanted);
                let first = cursor.next(self.mem)?.ok_or(CheckCause::InvalidIdaw)?;
                *run = Run::of(first);
            }
            return Ok(());
        }
        let mut cursor = MidalCursor::new(key, list, self.remaining);
        let first = cursor.next(self.mem)?.ok_or(CheckCause::InvalidMidaw)?;
        self.addressing = Addressing::Midal {
            run: Run::of(first),
            skip: first.skip,
            cursor,
        };
        Ok(())
    }

    pub(crate) fn finish(&self) -> StreamOutcome {
        StreamOutcome {
            ccw_addr: self.ccw_addr,
            ccw: self.ccw,
            residual: self.remaining,
            touched: self.touched,
            wanted_more: self.wanted_more,
            moved: self.moved,
            pci: self.pci,
            stop: self.stop,
        }
    }

    fn fail(&mut self, cause: CheckCause) {
        self.stop = Some(StreamStop::Check {
            cause,
            cpa: cpa_after(self.ccw_addr),
            count: self.remaining,
        });
    }

    /// The count of the CCW currently transferring data.
    #[must_use]
    pub fn count(&self) -> u16 {
        self.ccw.count
    }

    /// Bytes not yet transferred in the current CCW.
    #[must_use]
    pub fn residual(&self) -> u16 {
        self.remaining
    }

    /// Whether the command (the command code of the first CCW) is an input
    /// command: read, read backward or sense.
    #[must_use]
    pub fn is_input(&self) -> bool {
        self.input
    }

    /// Bytes moved (or skipped) so far in this command, across data chaining.
    #[must_use]
    pub fn transferred(&self) -> u64 {
        self.moved
    }

    /// Address of the CCW currently transferring data (0 for a
    /// [`DataStream::direct`] stream).
    #[must_use]
    pub fn ccw_address(&self) -> GuestAddr {
        self.ccw_addr
    }

    /// Moves storage → device (write-type commands) into `buf`, following data
    /// chaining. Returns the bytes moved; fewer than `buf.len()` when the
    /// stream ended (the device wanted more: incorrect length unless
    /// suppressed) or a check stopped it ([`DataStream::failed`]).
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        self.transfer(&mut Fetch(buf))
    }

    /// Moves device → storage (read-type commands), following data chaining
    /// and honouring skip. Returns the bytes accepted, as for [`DataStream::read`].
    pub fn write(&mut self, data: &[u8]) -> usize {
        self.transfer(&mut Store(data))
    }

    /// Fetches `buf.len()` bytes at `offset` past the current position of
    /// the current CCW without transferring them (the position, residual
    /// count and incorrect-length state do not change).
    ///
    /// For commands whose input area carries a parameter the device must
    /// see before it stores its answer over it (virtio-ccw READ_FEAT and
    /// READ_VQ_CONF carry an index), the way a channel reads a parameter
    /// before the device sends data. Each IDAW involved is still fetched
    /// only once (the stream keeps it for the later transfer). Returns
    /// `false` when the range is not within the current CCW's count or not
    /// in one contiguous run of storage (then nothing is read), or when a
    /// check occurred — which is recorded as for a transfer
    /// ([`DataStream::failed`]).
    pub fn peek(&mut self, offset: usize, buf: &mut [u8]) -> bool {
        let Some(end) = offset.checked_add(buf.len()) else {
            return false;
        };
        if self.stop.is_some() || end > usize::from(self.remaining) {
            return false;
        }
        // end <= remaining <= u16::MAX.
        let (Ok(end), Ok(offset)) = (u64::try_from(end), u64::try_from(offset)) else {
            return false;
        };
        let at = match self.next_run(end, false) {
            Err(cause) => {
                self.fail(cause);
                return false;
            }
            Ok(Piece::Access(at, n)) if n >= end => at.checked_add(offset),
            Ok(_) => return false,
        };
        let Some(at) = at else {
            return false;
        };
        match self.mem.read(at.get(), buf, self.controls.key) {
            Ok(()) => true,
            Err(e) => {
                self.fail(CheckCause::of_data_access(e));
                false
            }
        }
    }

    /// Whether a check (program, protection, addressing) stopped the transfer;
    /// the device should end the command at once.
    #[must_use]
    pub fn failed(&self) -> bool {
        self.stop.is_some()
    }

    /// The transfer loop shared by `read` and `write`. Every iteration moves
    /// at least one byte or ends the loop, so it is bounded by the length
    /// of the device's buffer.
    fn transfer<D: Direction>(&mut self, dir: &mut D) -> usize {
        self.touched = true;
        let len = dir.len();
        let mut done = 0usize;
        while done < len && self.stop.is_none() {
            if self.remaining == 0 {
                // Data chaining happens as soon as a count reaches zero, so
                // here the last CCW of the chain is exhausted: long block.
                self.wanted_more = true;
                break;
            }
            let want = (len - done).min(usize::from(self.remaining));
            let skip = D::STORE && self.input && self.ccw.flags.skip();
            let (ok, check) = if matches!(self.addressing, Addressing::Idal { .. }) && !skip {
                self.idal_batch(want, done, dir)
            } else {
                self.piece(want, done, dir)
            };
            self.account(ok);
            done += ok;
            if let Some(cause) = check {
                self.fail(cause);
                break;
            }
            if self.remaining == 0 && self.ccw.flags.cd() {
                self.chain_data((len - done) as u64);
            }
        }
        done
    }

    /// Moves the next contiguous piece (at most `want` bytes, at offset
    /// `off` of the device's buffer); returns the bytes done and the check
    /// that stopped it, if one did.
    fn piece<D: Direction>(&mut self, want: usize, off: usize, dir: &mut D) -> (usize, Option<CheckCause>) {
        let piece = match self.next_run(u64::try_from(want).unwrap_or(0), D::STORE) {
            Ok(p) => p,
            Err(cause) => return (0, Some(cause)),
        };
        let (at, n) = match piece {
            Piece::Skip(n) => (None, n),
            Piece::Access(at, n) => (Some(at), n),
        };
        // n <= want <= u16::MAX.
        let n = usize::try_from(n).unwrap_or(0).min(want);
        if n == 0 {
            // Unreachable (every run has at least one byte); kept so that
            // the loop provably makes progress or ends.
            return (0, Some(CheckCause::InvalidDataAddress));
        }
        let (ok, check) = match at {
            None => (n, None),
            Some(at) => self.access(at.get(), off, n, dir),
        };
        self.advance(ok);
        (ok, check)
    }

    /// Moves up to `want` bytes (at offset `off` of the device's buffer)
    /// through the IDAL of the current CCW, without skip: gathers the runs
    /// of the next IDAWs (contiguous blocks merged) into one batch and
    /// moves the batch with one vectored storage access. Each IDAW is
    /// still fetched once, by the cursor; the IDAWs fetched are those the
    /// `want` bytes need, as for a run at a time. An invalid IDAW ends the
    /// batch before it and is reported when the stream reaches it.
    /// Returns the bytes done and the check that stopped them, if any.
    fn idal_batch<D: Direction>(&mut self, want: usize, off: usize, dir: &mut D) -> (usize, Option<CheckCause>) {
        let mem = self.mem;
        let key = self.controls.key;
        let Addressing::Idal { run, cursor, pending } = &mut self.addressing else {
            return (0, Some(CheckCause::InvalidIdaw));
        };
        let want64 = want as u64;
        let mut ranges = [GuestRange::default(); IDAL_BATCH];
        let (mut k, mut total, mut last, mut end) = (0usize, 0u64, None, None);
        if let (true, Some(at)) = (run.left() > 0, run.at()) {
            push_range(&mut ranges, &mut k, &mut total, &mut last, &mut end, at, run.left());
        }
        // A segment that `next_run` fetched ahead comes next (there is
        // room: at most the run is in the batch); an invalid IDAW waits
        // until the stream reaches it.
        match pending.take() {
            Some(Ok(seg)) if total < want64 => {
                push_range(
                    &mut ranges,
                    &mut k,
                    &mut total,
                    &mut last,
                    &mut end,
                    seg.addr,
                    u64::from(seg.len),
                );
            }
            other => *pending = other,
        }
        if pending.is_none() {
            while total < want64 && k < IDAL_BATCH && cursor.remaining() != 0 {
                cursor.prefetch(mem, want64 - total);
                let next = if cursor.has_fetched() {
                    // IDAWs fetched ahead, in one loop.
                    cursor
                        .take_fetched(|seg| {
                            push_range(
                                &mut ranges,
                                &mut k,
                                &mut total,
                                &mut last,
                                &mut end,
                                seg.addr,
                                u64::from(seg.len),
                            );
                            total < want64 && k < IDAL_BATCH
                        })
                        .map(|()| None)
                } else {
                    cursor.next(mem)
                };
                match next {
                    Ok(Some(seg)) => {
                        push_range(
                            &mut ranges,
                            &mut k,
                            &mut total,
                            &mut last,
                            &mut end,
                            seg.addr,
                            u64::from(seg.len),
                        );
                    }
                    Ok(None) => {}
                    Err(cause) => {
                        *pending = Some(Err(cause));
                        break;
                    }
                }
            }
        }
        let (Some(r), Some(start)) = (ranges[..k].last_mut(), last) else {
            let cause = match pending.take() {
                Some(Err(cause)) => cause,
                _ => CheckCause::InvalidIdaw,
            };
            return (0, Some(cause));
        };
        // Cut the batch to `want`; what is left of its last range stays the run.
        let excess = usize::try_from(total.saturating_sub(want64)).unwrap_or(0);
        let full = r.len;
        r.len -= excess.min(r.len);
        *run = Run {
            start,
            len: full as u64,
            used: r.len as u64,
        };
        let moved = total.min(want64);
        let moved = usize::try_from(moved).unwrap_or(0);
        match dir.ranges(mem, &ranges[..k], off, key) {
            Ok(()) => (moved, None),
            Err(VectoredAccessError { done, .. }) => {
                // The ranges before `done` moved whole; go on one range at a
                // time, so that the bytes before the failing byte move.
                let mut ok: usize = ranges[..done].iter().map(|r| r.len).sum();
                for r in ranges[..k].iter().skip(done) {
                    let (n, check) = Self::access_with(mem, key, r.addr, off + ok, r.len, dir);
                    ok += n;
                    if check.is_some() {
                        return (ok, check);
                    }
                }
                (ok, None)
            }
        }
    }

    /// Performs one run; returns the bytes done and, when fewer than `n`,
    /// the check that stopped it.
    fn access<D: Direction>(&self, addr: u64, off: usize, n: usize, dir: &mut D) -> (usize, Option<CheckCause>) {
        Self::access_with(self.mem, self.controls.key, addr, off, n, dir)
    }

    fn access_with<D: Direction>(
        mem: &dyn GuestMemory,
        key: AccessKey,
        addr: u64,
        off: usize,
        n: usize,
        dir: &mut D,
    ) -> (usize, Option<CheckCause>) {
        let mut m = n;
        match dir.one(mem, addr, off, n, key) {
            Ok(()) => return (n, None),
            Err(AccessError::Protection { .. }) => {}
            Err(AccessError::Addressing { .. }) => {
                // The run leaves storage: move the bytes before the first
                // missing one, then check.
                let size = mem.size();
                if addr >= size {
                    return (0, Some(CheckCause::InvalidDataAddress));
                }
                m = n.min(usize::try_from(size - addr).unwrap_or(usize::MAX));
                match dir.one(mem, addr, off, m, key) {
                    Ok(()) => return (m, Some(CheckCause::InvalidDataAddress)),
                    Err(AccessError::Addressing { .. }) => return (0, Some(CheckCause::InvalidDataAddress)),
                    Err(AccessError::Protection { .. }) => {}
                }
            }
        }
        // Protection somewhere in the run: redo it frame by frame so that
        // exactly the bytes before the protected frame are moved.
        let mut a = addr;
        let mut k = 0usize;
        while k < m {
            let chunk = usize::try_from(FRAME_SIZE - a % FRAME_SIZE)
                .unwrap_or(usize::MAX)
                .min(m - k);
            if let Err(e) = dir.one(mem, a, off + k, chunk, key) {
                return (k, Some(CheckCause::of_data_access(e)));
            }
            k += chunk;
            a += chunk as u64;
        }
        // Unreachable for a memory that reported protection in the range;
        // kept so that a misbehaving implementation still ends the stream.
        (k, Some(CheckCause::DataProtection))
    }

    /// The next contiguous piece of at most `want` bytes.
    fn next_run(&mut self, want: u64, store: bool) -> Result<Piece, CheckCause> {
        let skip_ccw = store && self.input && self.ccw.flags.skip();
        let (run, skip) = match &mut self.addressing {
            Addressing::Direct { start, used } => {
                if skip_ccw {
                    return Ok(Piece::Skip(want));
                }
                let at = start
                    .and_then(|s| s.checked_add(*used))
                    .ok_or(CheckCause::InvalidDataAddress)?;
                return Ok(Piece::Access(at, want.min(at.bytes_to_limit())));
            }
            Addressing::Idal { run, cursor, pending } => {
                if run.left() == 0 {
                    let seg = match pending.take() {
                        Some(p) => p?,
                        None => {
                            cursor.prefetch(self.mem, want);
                            cursor.next(self.mem)?.ok_or(CheckCause::InvalidIdaw)?
                        }
                    };
                    *run = Run::of(seg);
                }
                // Look-ahead: the transfer needs `want` bytes, so the IDAWs
                // covering them are needed anyway; fetch them now (once each,
                // several with one storage access) and merge contiguous
                // blocks into one run.
                while run.left() < want && pending.is_none() {
                    cursor.prefetch(self.mem, want - run.left());
                    match cursor.next(self.mem) {
                        Ok(Some(seg)) if run.extends(&seg) => run.len += u64::from(seg.len),
                        Ok(Some(seg)) => *pending = Some(Ok(seg)),
                        Ok(None) => break,
                        Err(e) => *pending = Some(Err(e)),
                    }
                }
                (*run, skip_ccw)
            }
            Addressing::Midal { run, skip, cursor } => {
                if run.left() == 0 {
                    let seg = cursor.next(self.mem)?.ok_or(CheckCause::InvalidMidaw)?;
                    *run = Run::of(seg);
                    *skip = seg.skip;
                }
                (*run, store && self.input && *skip)
            }
        };
        let n = want.min(run.left());
        if skip {
            return Ok(Piece::Skip(n));
        }
        let at = run.at().ok_or(CheckCause::InvalidDataAddress)?;
        Ok(Piece::Access(at, n))
    }

    /// Moves the position of the current CCW's addressing `n` bytes on
    /// (after a piece from [`DataStream::next_run`]).
    fn advance(&mut self, n: usize) {
        let n64 = n as u64;
        match &mut self.addressing {
            Addressing::Direct { used, .. } => *used += n64,
            Addressing::Idal { run, .. } | Addressing::Midal { run, .. } => run.used += n64.min(run.left()),
        }
    }

    /// Counts `n` transferred bytes of the current CCW.
    fn account(&mut self, n: usize) {
        self.remaining -= u16::try_from(n).unwrap_or(self.remaining).min(self.remaining);
        self.moved += n as u64;
    }

    /// Data chaining: the count of the current CCW (with CD) reached zero
    /// while the transfer in progress wants `wanted` more bytes; the walker
    /// fetches the next CCW (following one TIC), which becomes current.
    fn chain_data(&mut self, wanted: u64) {
        let Some(chain) = self.chain.as_mut() else {
            return;
        };
        if let Some(how) = chain.hooks.stop_requested() {
            self.stop = Some(StreamStop::Stopped(how));
            return;
        }
        chain.walker.chain_data();
        let next = match chain.walker.next(self.mem) {
            Ok(w) => w,
            Err(c) => {
                self.stop = Some(c.into());
                return;
            }
        };
        self.ccw_addr = next.addr;
        self.ccw = next.ccw;
        self.remaining = next.ccw.count;
        if let Err(cause) = self.setup(wanted) {
            self.fail(cause);
            return;
        }
        if next.ccw.flags.pci() {
            self.pci = true;
            if let Some(chain) = self.chain.as_mut() {
                chain.hooks.pci(next.scsw_cpa());
            }
        }
    }
}

#[cfg(test)]
mod peek_tests {
    use super::*;
    use crate::ccw::CcwFlags;
    use crate::device::{CcwDevice, DeviceResult};
    use crate::engine::Engine;
    use crate::hooks::NoHooks;
    use crate::memory::{StorageKey, VecMemory};

    fn read_ccw(cda: u32, count: u16) -> Ccw {
        Ccw {
            cmd: 0x02,
            flags: CcwFlags::new(),
            count,
            cda,
        }
    }

    #[test]
    fn peek_direct_reads_parameter_without_moving() {
        let mem = VecMemory::new(0x10000);
        mem.store(0x2000, &[1, 2, 3, 4, 5]).unwrap();
        let mut s = DataStream::direct(&mem, CcwFormat::Format1, AccessKey::ZERO, read_ccw(0x2000, 5));
        let mut b = [0u8; 1];
        assert!(s.peek(4, &mut b));
        assert_eq!(b, [5]);
        assert_eq!(s.residual(), 5);
        assert_eq!(s.transferred(), 0);
        assert_eq!(s.write(&[9, 9, 9, 9]), 4);
        assert_eq!(mem.fetch(0x2000, 5).unwrap(), vec![9, 9, 9, 9, 5]);
    }

    #[test]
    fn peek_beyond_count_is_refused() {
        let mem = VecMemory::new(0x10000);
        let mut s = DataStream::direct(&mem, CcwFormat::Format1, AccessKey::ZERO, read_ccw(0x2000, 4));
        let mut b = [0u8; 1];
        assert!(!s.peek(4, &mut b));
        assert!(!s.peek(usize::MAX, &mut b));
        assert!(!s.failed());
    }

    #[test]
    fn peek_outside_storage_is_program_check() {
        let mem = VecMemory::new(0x1000);
        let mut s = DataStream::direct(&mem, CcwFormat::Format1, AccessKey::ZERO, read_ccw(0xffe, 5));
        let mut b = [0u8; 1];
        assert!(!s.peek(4, &mut b));
        assert!(s.failed());
    }

    #[test]
    fn peek_protected_is_protection_check() {
        let mem = VecMemory::with_storage_keys(0x4000);
        mem.set_storage_key(0x2000, StorageKey::new(7, true));
        let mut s = DataStream::direct(&mem, CcwFormat::Format1, AccessKey::new(3), read_ccw(0x2000, 5));
        let mut b = [0u8; 1];
        assert!(!s.peek(4, &mut b));
        assert!(s.failed());
    }

    /// READ_FEAT-like device: reads the index byte at offset 4 then stores 4 bytes.
    struct IndexedRead(Option<u8>);

    impl CcwDevice for IndexedRead {
        fn execute(&mut self, _ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
            let mut idx = [0u8; 1];
            if !data.peek(4, &mut idx) {
                return DeviceResult::COMMAND_REJECT;
            }
            self.0 = Some(idx[0]);
            data.write(&[0xaa; 4]);
            DeviceResult::OK
        }
    }

    #[test]
    fn peek_through_format2_idal_sees_parameter_and_write_follows() {
        let mem = VecMemory::new(0x10000);
        // CCW: READ, IDA, SLI, count 5, IDAL at 0x3000 with one IDAW -> 0x5000.
        mem.store(0x1000, &[0x02, 0x24, 0x00, 0x05, 0x00, 0x00, 0x30, 0x00])
            .unwrap();
        mem.store(0x3000, &0x5000u64.to_be_bytes()).unwrap();
        mem.store(0x5000, &[0, 0, 0, 0, 1]).unwrap();
        let orb = Orb {
            ctrl: OrbControls::new().with_format1(true).with_idaw_format2(true),
            cpa: 0x1000,
            ..Orb::default()
        };
        let mut dev = IndexedRead(None);
        let c = Engine::default().start(&mem, &orb, 0x80, &mut dev, &mut NoHooks);
        assert_eq!(dev.0, Some(1));
        assert_eq!(c.count, 1);
        assert_eq!(c.cstat.into_bits(), 0);
        assert_eq!(mem.fetch(0x5000, 5).unwrap(), vec![0xaa, 0xaa, 0xaa, 0xaa, 1]);
    }
}

/// The IDAL transfer path (batches of runs moved by one vectored access)
/// against a byte-by-byte model of indirect data addressing.
#[cfg(test)]
mod idal_batch_tests {
    use std::sync::{Arc, Mutex};

    use proptest::prelude::*;

    use super::*;
    use crate::device::{CcwDevice, DeviceResult};
    use crate::engine::{Completion, Ending, Engine};
    use crate::hooks::NoHooks;
    use crate::idaw::IdawFormat;
    use crate::memory::{StorageKey, VecMemory};
    use crate::mock::flags::{CD, IDA};
    use crate::mock::{ccw1, Action, ScriptedDevice, Step};

    const PROG: u64 = 0x1000;
    const IDALS: u64 = 0x2000;
    /// Data blocks are taken from this area, 4K-aligned.
    const DATA: u64 = 0x1_0000;
    const SIZE: u64 = 0x10_0000;
    const READ: u8 = 0x02;
    const WRITE: u8 = 0x01;

    fn orb(format: IdawFormat) -> Orb {
        Orb {
            ctrl: OrbControls::new()
                .with_format1(true)
                .with_idaw_format2(format != IdawFormat::Format1)
                .with_idaw_2k(format == IdawFormat::Format2_2K),
            cpa: u32::try_from(PROG).unwrap(),
            ..Orb::default()
        }
    }

    /// One data-chained CCW of the program: its count, the offset of its
    /// first byte in its first block, and the block numbers (in the data
    /// area) its IDAWs address, in list order.
    #[derive(Debug, Clone)]
    struct Part {
        count: u16,
        offset: u64,
        blocks: Vec<u64>,
    }

    /// Stores the program (one command, the parts data-chained) and its IDALs.
    fn store_program(mem: &dyn GuestMemory, format: IdawFormat, cmd: u8, parts: &[Part]) {
        let block = format.block();
        let word = format.idaw_len();
        let mut idal = IDALS;
        for (p, part) in parts.iter().enumerate() {
            let flags = if p + 1 == parts.len() { IDA } else { IDA | CD };
            let ccw = ccw1(cmd, flags, part.count, u32::try_from(idal).unwrap());
            mem.write(PROG + 8 * p as u64, &ccw, AccessKey::ZERO).unwrap();
            for (i, b) in part.blocks.iter().enumerate() {
                let at = DATA + b * block + if i == 0 { part.offset } else { 0 };
                let raw = if word == 4 {
                    u32::try_from(at).unwrap().to_be_bytes().to_vec()
                } else {
                    at.to_be_bytes().to_vec()
                };
                mem.write(idal, &raw, AccessKey::ZERO).unwrap();
                idal += word;
            }
        }
    }

    /// Where the model puts byte `i` of a part: PoO indirect data
    /// addressing, one byte at a time.
    fn model_address(format: IdawFormat, part: &Part, i: u64) -> u64 {
        let block = format.block();
        let first_span = block - part.offset;
        if i < first_span {
            return DATA + part.blocks[0] * block + part.offset + i;
        }
        let k = usize::try_from((i - first_span) / block + 1).unwrap();
        DATA + part.blocks[k] * block + (i - first_span) % block
    }

    fn stream_byte(i: usize) -> u8 {
        u8::try_from(i % 253).unwrap().wrapping_add(1)
    }

    /// A part of `count` bytes starting `offset` into its first block, its
    /// blocks taken in `order` from `next_block` on.
    fn part(format: IdawFormat, count: u16, offset: u64, order: &[u64], next_block: &mut u64) -> Part {
        let n = format.idaws_for(offset, count);
        let blocks: Vec<u64> = order.iter().filter(|&&b| b < n).map(|b| *next_block + b).collect();
        *next_block += n;
        Part { count, offset, blocks }
    }

    fn format_of(k: u8) -> IdawFormat {
        match k % 3 {
            0 => IdawFormat::Format1,
            1 => IdawFormat::Format2_4K,
            _ => IdawFormat::Format2_2K,
        }
    }

    /// Runs the program over `parts` with a device moving the whole stream
    /// in `chunks` (then the rest); returns the completion, the storage and
    /// the bytes the device read.
    fn run(
        format: IdawFormat,
        cmd: u8,
        parts: &[Part],
        chunks: &[usize],
        mem: &dyn GuestMemory,
    ) -> (Completion, Vec<u8>) {
        store_program(mem, format, cmd, parts);
        let total: usize = parts.iter().map(|p| usize::from(p.count)).sum();
        let mut sizes = Vec::new();
        let mut left = total;
        for &c in chunks.iter().chain(std::iter::once(&total)) {
            let c = c.min(left);
            if c > 0 {
                sizes.push(c);
                left -= c;
            }
        }
        let mut at = 0;
        let actions = sizes
            .iter()
            .map(|&n| {
                let a = if cmd == READ {
                    Action::Write((at..at + n).map(stream_byte).collect())
                } else {
                    Action::Read(n)
                };
                at += n;
                a
            })
            .collect();
        let mut dev = ScriptedDevice::new(vec![Step::ok(actions)]);
        let c = Engine::default().start(mem, &orb(format), 0x80, &mut dev, &mut NoHooks);
        (c, dev.log.first().map(|e| e.read.clone()).unwrap_or_default())
    }

    /// Block orders: in list order (contiguous blocks, coalesced), reversed,
    /// or interleaved (odd blocks first), for up to `n` blocks.
    fn order(kind: u8, n: u64) -> Vec<u64> {
        match kind % 3 {
            0 => (0..n).collect(),
            1 => (0..n).rev().collect(),
            _ => (0..n)
                .filter(|b| b % 2 == 1)
                .chain((0..n).filter(|b| b % 2 == 0))
                .collect(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Every byte of a (possibly data-chained) IDAL transfer lands where
        /// the model puts it, in both directions, for any IDAW format,
        /// first offset, block order and device chunking; no other byte
        /// of the data area changes.
        #[test]
        fn idal_transfer_places_every_byte_as_the_model(
            fmt in 0u8..3,
            kind in 0u8..3,
            counts in prop::collection::vec(1u16..=0xffff, 1..3),
            offsets in prop::collection::vec(0u64..4096, 2),
            chunks in prop::collection::vec(1usize..9000, 0..6),
            input in any::<bool>(),
        ) {
            let format = format_of(fmt);
            let block = format.block();
            let mut next_block = 0;
            let parts: Vec<Part> = counts
                .iter()
                .zip(&offsets)
                .map(|(&count, &off)| {
                    let offset = off % block;
                    let n = format.idaws_for(offset, count);
                    part(format, count, offset, &order(kind, n), &mut next_block)
                })
                .collect();
            let mem = Arc::new(VecMemory::new(SIZE));
            let cmd = if input { READ } else { WRITE };
            if !input {
                // Storage holds the stream at the model's addresses.
                let mut i = 0;
                for p in &parts {
                    for j in 0..u64::from(p.count) {
                        mem.store(model_address(format, p, j), &[stream_byte(i)]).unwrap();
                        i += 1;
                    }
                }
            }
            let (c, read) = run(format, cmd, &parts, &chunks, &*mem);
            prop_assert_eq!(c.ending, Ending::Completed);
            prop_assert_eq!(c.count, 0);
            prop_assert_eq!(c.ccws, u32::try_from(parts.len()).unwrap());
            let total: usize = parts.iter().map(|p| usize::from(p.count)).sum();
            if input {
                let mut expect = vec![0u8; usize::try_from(SIZE - DATA).unwrap()];
                let mut i = 0;
                for p in &parts {
                    for j in 0..u64::from(p.count) {
                        expect[usize::try_from(model_address(format, p, j) - DATA).unwrap()] = stream_byte(i);
                        i += 1;
                    }
                }
                prop_assert!(mem.fetch(DATA, expect.len()).unwrap() == expect, "storage differs from the model");
            } else {
                let expect: Vec<u8> = (0..total).map(stream_byte).collect();
                prop_assert!(read == expect, "device read differs from the model");
            }
        }
    }

    /// Storage that counts the fetches of every byte of the IDAL area and
    /// implements only the required methods (so the engine goes through the
    /// default vectored accesses).
    struct Counting {
        inner: VecMemory,
        fetches: Mutex<Vec<u32>>,
    }

    impl Counting {
        fn new() -> Self {
            Self {
                inner: VecMemory::new(SIZE),
                fetches: Mutex::new(vec![0; 0x1000]),
            }
        }
    }

    impl GuestMemory for Counting {
        fn size(&self) -> u64 {
            self.inner.size()
        }

        fn read(&self, addr: u64, buf: &mut [u8], key: AccessKey) -> Result<(), AccessError> {
            let mut f = self.fetches.lock().unwrap();
            for a in addr..addr + buf.len() as u64 {
                if let Some(n) = a.checked_sub(IDALS).and_then(|i| f.get_mut(usize::try_from(i).ok()?)) {
                    *n += 1;
                }
            }
            self.inner.read(addr, buf, key)
        }

        fn write(&self, addr: u64, data: &[u8], key: AccessKey) -> Result<(), AccessError> {
            self.inner.write(addr, data, key)
        }

        fn fetch_or_u8(&self, addr: u64, mask: u8, key: AccessKey) -> Result<u8, AccessError> {
            self.inner.fetch_or_u8(addr, mask, key)
        }

        fn fetch_or_u64_be(&self, addr: u64, mask: u64, key: AccessKey) -> Result<u64, AccessError> {
            self.inner.fetch_or_u64_be(addr, mask, key)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Each IDAW the transfer needs is fetched exactly once, and none
        /// past them, with batches, look-ahead and data chaining, in both
        /// directions, through the default vectored accesses.
        #[test]
        fn idal_transfer_fetches_each_needed_idaw_once(
            fmt in 0u8..3,
            counts in prop::collection::vec(1u16..=0x9000, 1..4),
            offset in 0u64..4096,
            chunks in prop::collection::vec(1usize..9000, 0..6),
            input in any::<bool>(),
        ) {
            let format = format_of(fmt);
            let mut next_block = 0;
            let parts: Vec<Part> = counts
                .iter()
                .map(|&count| {
                    let offset = offset % format.block();
                    let n = format.idaws_for(offset, count);
                    part(format, count, offset, &order(1, n), &mut next_block)
                })
                .collect();
            let mem = Arc::new(Counting::new());
            let cmd = if input { READ } else { WRITE };
            let (c, _) = run(format, cmd, &parts, &chunks, &*mem);
            prop_assert_eq!(c.ending, Ending::Completed);
            let words: u64 = parts.iter().map(|p| p.blocks.len() as u64).sum();
            let used = usize::try_from(words * format.idaw_len()).unwrap();
            let f = mem.fetches.lock().unwrap();
            prop_assert!(f[..used].iter().all(|&n| n == 1), "an IDAW byte fetched other than once: {:?}", &f[..used]);
            prop_assert!(f[used..].iter().all(|&n| n == 0), "an IDAW past the needed ones was fetched");
        }
    }

    /// Two blocks then a protected block, all in one batch: the two blocks
    /// are stored, nothing of the third, and the residual count says so.
    #[test]
    fn idal_batch_protected_block_moves_the_blocks_before_it() {
        let mem = Arc::new(VecMemory::with_storage_keys(SIZE));
        let format = IdawFormat::Format2_4K;
        let p = Part {
            count: 0x4000,
            offset: 0,
            blocks: vec![5, 1, 3, 7],
        };
        for b in [5, 1, 7] {
            mem.set_storage_key(DATA + b * 0x1000, StorageKey::new(5, false));
        }
        mem.set_storage_key(DATA + 3 * 0x1000, StorageKey::new(6, false));
        store_program(&*mem, format, READ, std::slice::from_ref(&p));
        let mut o = orb(format);
        o.ctrl = o.ctrl.with_key(5);
        let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::WriteFill(0x4000, 1)])]);
        let c = Engine::default().start(&*mem, &o, 0x80, &mut dev, &mut NoHooks);
        assert_eq!(c.check, Some(CheckCause::DataProtection));
        assert_eq!(c.count, 0x2000, "two blocks moved");
        assert_eq!(dev.log[0].written, 0x2000);
        assert_eq!(mem.fetch(DATA + 5 * 0x1000, 1).unwrap(), vec![1]);
        // Stream byte 0x1ffe (the block's last but one): seed 1 + 0xfe.
        assert_eq!(mem.fetch(DATA + 0x1000 + 0xffe, 1).unwrap(), vec![0xff]);
        assert_eq!(mem.fetch(DATA + 3 * 0x1000, 1).unwrap(), vec![0]);
    }

    /// The same with a fetch-protected block on a write command: the device
    /// gets the blocks before it.
    #[test]
    fn idal_batch_fetch_protected_block_ends_the_read_before_it() {
        let mem = Arc::new(VecMemory::with_storage_keys(SIZE));
        let format = IdawFormat::Format1;
        let p = Part {
            count: 0x1800,
            offset: 0x100,
            blocks: vec![2, 7, 4, 6],
        };
        let block_at = |b: u64| DATA + b * 0x800;
        mem.set_storage_key(block_at(4), StorageKey::new(6, true));
        mem.store(block_at(7) + 0x7ff, &[0x5a]).unwrap();
        mem.store(block_at(4), &[0xa5]).unwrap();
        store_program(&*mem, format, WRITE, std::slice::from_ref(&p));
        let mut o = orb(format);
        o.ctrl = o.ctrl.with_key(5);
        let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Read(0x1800)])]);
        let c = Engine::default().start(&*mem, &o, 0x80, &mut dev, &mut NoHooks);
        assert_eq!(c.check, Some(CheckCause::DataProtection));
        assert_eq!(dev.log[0].read.len(), 0x700 + 0x800);
        assert_eq!(dev.log[0].read.last(), Some(&0x5a));
        assert_eq!(c.count, 0x1800 - 0xf00);
    }

    /// A misaligned IDAW in the middle of a batch: the blocks before it
    /// move, then the check, at the residual count of the bytes it would
    /// have addressed.
    #[test]
    fn idal_batch_invalid_idaw_moves_the_blocks_before_it() {
        let mem = Arc::new(VecMemory::new(SIZE));
        let format = IdawFormat::Format2_2K;
        let p = Part {
            count: 0x2000,
            offset: 0,
            blocks: vec![9, 2, 4, 6],
        };
        store_program(&*mem, format, READ, std::slice::from_ref(&p));
        // The third IDAW, off its block boundary.
        mem.store(IDALS + 16, &(DATA + 4 * 0x800 + 8).to_be_bytes()).unwrap();
        let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::WriteFill(0x2000, 0)])]);
        let c = Engine::default().start(&*mem, &orb(format), 0x80, &mut dev, &mut NoHooks);
        assert_eq!(c.check, Some(CheckCause::InvalidIdaw));
        assert_eq!(c.count, 0x1000);
        assert_eq!(mem.fetch(DATA + 2 * 0x800 + 0x7ff, 1).unwrap(), vec![0xff]);
        assert_eq!(mem.fetch(DATA + 4 * 0x800 + 8, 1).unwrap(), vec![0]);
    }

    /// A device that moves a CCW's data in two calls: the batch ends inside
    /// a block and the rest of that block is the next batch's first run.
    #[test]
    fn idal_batch_cut_inside_a_block_resumes_there() {
        struct Halves;
        impl CcwDevice for Halves {
            fn execute(&mut self, _ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
                let bytes: Vec<u8> = (0..0x1800).map(stream_byte).collect();
                data.write(&bytes[..0xc00]);
                data.write(&bytes[0xc00..]);
                DeviceResult::OK
            }
        }
        let mem = Arc::new(VecMemory::new(SIZE));
        let format = IdawFormat::Format2_2K;
        let p = Part {
            count: 0x1800,
            offset: 0,
            blocks: vec![3, 0, 8],
        };
        store_program(&*mem, format, READ, std::slice::from_ref(&p));
        let c = Engine::default().start(&*mem, &orb(format), 0x80, &mut Halves, &mut NoHooks);
        assert_eq!((c.ending, c.count), (Ending::Completed, 0));
        for i in [0u64, 0x7ff, 0x800, 0xbff, 0xc00, 0xfff, 0x1000, 0x17ff] {
            assert_eq!(
                mem.fetch(model_address(format, &p, i), 1).unwrap(),
                vec![stream_byte(usize::try_from(i).unwrap())],
                "byte {i:#x}"
            );
        }
    }
}
