//! The data stream of one command: the bytes a CCW (and the CCWs data-chained
//! to it) lets a device move, through direct, IDAW or MIDAW addressing
//! (Principles of Operation, chapter 15, "Data Chaining", "Indirect Data
//! Addressing", "Modified Indirect Data Addressing", "Skip Flag").
//!
//! CONTRACT (used by devices and the css): `DataStream::{count, residual,
//! read, write, failed}` keep their signatures. The engine owns the rest.
//!
//! # Behaviour
//! * Data moves in whole contiguous runs (up to the end of the current CCW
//!   count, IDAW block or MIDAW), one [`GuestMemory`] call per run.
//! * Each IDAW and MIDAW is fetched exactly once, when the stream reaches it
//!   (the first one when the CCW becomes current), and never re-read: a guest
//!   changing an IDAL during the transfer cannot make the stream use two
//!   different values of one IDAW.
//! * When the count of a CCW with the chain-data flag reaches zero, the next
//!   CCW is fetched at once (following at most one TIC), as the channel does;
//!   its flags (IDA, MIDA, skip, SLI, CD, CC, PCI) govern its part.
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

use crate::ccw::{Ccw, CcwFormat};
use crate::device::ProgramEnd;
use crate::engine::{CheckCause, EngineHooks, Limits};
use crate::fetch::{fetch_ccw, tic_target, validate_ccw, Ctx};
use crate::idaw::{Idaw1, Idaw2, IdawFormat, Midaw, MIDAW_LEN};
use crate::memory::{AccessError, AccessKey, GuestMemory, FRAME_SIZE};
use crate::orb::{Orb, OrbControls};

/// Why the stream stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamStop {
    /// A check: cause, the SCSW CCW address and residual count it implies.
    Check { cause: CheckCause, cpa: u32, count: u16 },
    /// The hooks asked to stop between data-chained CCWs.
    Stopped(ProgramEnd),
}

/// Where the next byte of the current CCW lives.
#[derive(Debug, Clone, Copy)]
enum Addressing {
    /// Direct addressing: the next data address.
    Direct { next: u64 },
    /// IDAL: the current position, bytes left in the current (possibly
    /// coalesced) run of blocks, the address of the next IDAW, and an IDAW
    /// already fetched by look-ahead but not contiguous (or invalid), to be
    /// used — never refetched — when the stream reaches it.
    Idal {
        cur: u64,
        left: u64,
        next_idaw: u64,
        pending: Option<Result<u64, CheckCause>>,
    },
    /// MIDAL: the current MIDAW position, bytes left in it, its skip flag,
    /// and the address of the next MIDAW.
    Midal {
        cur: u64,
        left: u64,
        skip: bool,
        next_midaw: u64,
    },
}

/// What the engine needs from a finished stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamOutcome {
    pub ccw_addr: u64,
    pub ccw: Ccw,
    pub residual: u16,
    pub touched: bool,
    pub wanted_more: bool,
    pub moved: u64,
    pub ccws: u32,
    pub pci: bool,
    pub stop: Option<StreamStop>,
}

/// The data a device may transfer for the current command.
pub struct DataStream<'a> {
    pub(crate) mem: &'a dyn GuestMemory,
    hooks: Option<&'a mut dyn EngineHooks>,
    ctx: Ctx,
    ccw_addr: u64,
    ccw: Ccw,
    remaining: u16,
    addressing: Addressing,
    input: bool,
    touched: bool,
    wanted_more: bool,
    moved: u64,
    ccws: u32,
    budget: u32,
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

/// Converts an address known to lie below 2^31 to the 32-bit CCW-address form.
fn cpa_of(addr: u64) -> u32 {
    u32::try_from(addr & 0xffff_ffff).unwrap_or(u32::MAX)
}

/// SCSW CCW address for a check on the CCW at `addr`: that address plus 8
/// (modulo 2^32, since a failing TIC target may be anywhere).
pub(crate) fn cpa_after(addr: u64) -> u32 {
    cpa_of(addr).wrapping_add(8)
}

impl<'a> DataStream<'a> {
    /// A stream over one direct-addressed CCW, outside any channel program:
    /// for device unit tests. `format` decides the address limit; the command
    /// code decides the direction (skip applies to input commands). The CD
    /// flag is ignored (there is no program to chain data from).
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
        let ctx = Ctx::new(&orb, Limits::default());
        let mut s = Self::empty(mem, None, ctx, 0, ccw, 0);
        s.addressing = Addressing::Direct {
            next: u64::from(ccw.cda),
        };
        s
    }

    #[inline]
    fn empty(
        mem: &'a dyn GuestMemory,
        hooks: Option<&'a mut dyn EngineHooks>,
        ctx: Ctx,
        ccw_addr: u64,
        ccw: Ccw,
        budget: u32,
    ) -> Self {
        Self {
            mem,
            hooks,
            ctx,
            ccw_addr,
            ccw,
            remaining: ccw.count,
            addressing: Addressing::Direct { next: 0 },
            input: ccw.is_input(),
            touched: false,
            wanted_more: false,
            moved: 0,
            ccws: 0,
            budget,
            pci: false,
            stop: None,
        }
    }

    /// The stream of the command-chained (already validated) `ccw` at
    /// `ccw_addr`, before [`DataStream::open`]. A plain constructor so that
    /// the caller builds it in place (no copy of the struct per CCW).
    #[inline]
    pub(crate) fn new(
        mem: &'a dyn GuestMemory,
        hooks: &'a mut dyn EngineHooks,
        ctx: Ctx,
        ccw_addr: u64,
        ccw: Ccw,
        budget: u32,
    ) -> Self {
        Self::empty(mem, Some(hooks), ctx, ccw_addr, ccw, budget)
    }

    /// Sets up the addressing of the first CCW; the stream is failed when
    /// the first IDAW or MIDAW is invalid (the device is then not started).
    #[inline]
    pub(crate) fn open(&mut self) {
        if self.ccw.count != 0 && (self.ccw.flags.ida() || self.ccw.flags.mida()) {
            if let Err(cause) = self.setup() {
                self.fail(cause);
            }
        } else {
            self.addressing = Addressing::Direct {
                next: u64::from(self.ccw.cda),
            };
        }
    }

    /// Sets up the addressing of the current CCW: fetches the first IDAW or
    /// MIDAW when there is data to address.
    fn setup(&mut self) -> Result<(), CheckCause> {
        let cda = u64::from(self.ccw.cda);
        self.addressing = if self.ccw.count == 0 {
            Addressing::Direct { next: cda }
        } else if self.ccw.flags.ida() {
            let block = self.ctx.idaw.block();
            let cur = fetch_idaw(self.mem, &self.ctx, cda, true)?;
            Addressing::Idal {
                cur,
                left: block - cur % block,
                next_idaw: cda + self.ctx.idaw.idaw_len(),
                pending: None,
            }
        } else if self.ccw.flags.mida() {
            let m = fetch_midaw(self.mem, &self.ctx, cda, self.remaining)?;
            Addressing::Midal {
                cur: m.addr(),
                left: u64::from(m.count()),
                skip: m.flags().skip(),
                next_midaw: cda + MIDAW_LEN,
            }
        } else {
            Addressing::Direct { next: cda }
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
            ccws: self.ccws,
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

    /// Address of the CCW currently transferring data.
    #[must_use]
    pub fn ccw_address(&self) -> u32 {
        cpa_of(self.ccw_addr)
    }

    /// Moves storage → device (write-type commands) into `buf`, following data
    /// chaining. Returns the bytes moved; fewer than `buf.len()` when the
    /// stream ended (the device wanted more: incorrect length unless
    /// suppressed) or a check stopped it ([`DataStream::failed`]).
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let len = buf.len();
        self.transfer(len, false, |mem, addr, off, n, key| {
            mem.read(addr, &mut buf[off..off + n], key)
        })
    }

    /// Moves device → storage (read-type commands), following data chaining
    /// and honouring skip. Returns the bytes accepted, as for [`DataStream::read`].
    pub fn write(&mut self, data: &[u8]) -> usize {
        self.transfer(data.len(), true, |mem, addr, off, n, key| {
            mem.write(addr, &data[off..off + n], key)
        })
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
        let end = end as u64;
        match self.next_run(end, false) {
            Err(cause) => {
                self.fail(cause);
                false
            }
            Ok((addr, n, _)) if n >= end => match self.mem.read(addr + offset as u64, buf, self.ctx.key) {
                Ok(()) => true,
                Err(AccessError::Protection { .. }) => {
                    self.fail(CheckCause::DataProtection);
                    false
                }
                Err(AccessError::Addressing { .. }) => {
                    self.fail(CheckCause::InvalidDataAddress);
                    false
                }
            },
            Ok(_) => false,
        }
    }

    /// Whether a check (program, protection, addressing) stopped the transfer;
    /// the device should end the command at once.
    #[must_use]
    pub fn failed(&self) -> bool {
        self.stop.is_some()
    }

    /// The transfer loop shared by `read` and `write`. Every iteration moves
    /// at least one byte or ends the loop, so it is bounded by `len`.
    fn transfer<F>(&mut self, len: usize, store: bool, mut op: F) -> usize
    where
        F: FnMut(&dyn GuestMemory, u64, usize, usize, AccessKey) -> Result<(), AccessError>,
    {
        self.touched = true;
        let mut done = 0usize;
        while done < len && self.stop.is_none() {
            if self.remaining == 0 {
                // Data chaining happens as soon as a count reaches zero, so
                // here the last CCW of the chain is exhausted: long block.
                self.wanted_more = true;
                break;
            }
            let want = (len - done).min(usize::from(self.remaining));
            let (addr, n, skip) = match self.next_run(want as u64, store) {
                Ok(run) => run,
                Err(cause) => {
                    self.fail(cause);
                    break;
                }
            };
            // n <= want <= u16::MAX.
            let n = usize::try_from(n).unwrap_or(0).min(want);
            if n == 0 {
                // Unreachable (every run has at least one byte); kept so that
                // the loop provably makes progress or ends.
                self.fail(CheckCause::InvalidDataAddress);
                break;
            }
            let (ok, check) = if skip {
                (n, None)
            } else {
                self.access(addr, done, n, &mut op)
            };
            self.advance(ok);
            done += ok;
            if let Some(cause) = check {
                self.fail(cause);
                break;
            }
            if self.remaining == 0 && self.ccw.flags.cd() {
                self.chain_data();
            }
        }
        done
    }

    /// Performs one run; returns the bytes done and, when fewer than `n`,
    /// the check that stopped it.
    fn access<F>(&self, addr: u64, off: usize, n: usize, op: &mut F) -> (usize, Option<CheckCause>)
    where
        F: FnMut(&dyn GuestMemory, u64, usize, usize, AccessKey) -> Result<(), AccessError>,
    {
        let size = self.mem.size();
        if addr >= size {
            return (0, Some(CheckCause::InvalidDataAddress));
        }
        let m = n.min(usize::try_from(size - addr).unwrap_or(usize::MAX));
        match op(self.mem, addr, off, m, self.ctx.key) {
            Ok(()) if m == n => return (n, None),
            Ok(()) => return (m, Some(CheckCause::InvalidDataAddress)),
            Err(AccessError::Addressing { .. }) => return (0, Some(CheckCause::InvalidDataAddress)),
            Err(AccessError::Protection { .. }) => {}
        }
        // Protection somewhere in the run: redo it frame by frame so that
        // exactly the bytes before the protected frame are moved.
        let mut a = addr;
        let mut k = 0usize;
        while k < m {
            let chunk = usize::try_from(FRAME_SIZE - a % FRAME_SIZE)
                .unwrap_or(usize::MAX)
                .min(m - k);
            if op(self.mem, a, off + k, chunk, self.ctx.key).is_err() {
                break;
            }
            k += chunk;
            a += chunk as u64;
        }
        (k, Some(CheckCause::DataProtection))
    }

    /// The next contiguous run of at most `want` bytes: address, length and
    /// whether it is skipped.
    fn next_run(&mut self, want: u64, store: bool) -> Result<(u64, u64, bool), CheckCause> {
        let skip_ccw = store && self.input && self.ccw.flags.skip();
        match &mut self.addressing {
            Addressing::Direct { next } => {
                if skip_ccw {
                    return Ok((*next, want, true));
                }
                let limit = self.ctx.format.address_limit();
                if *next >= limit {
                    return Err(CheckCause::InvalidDataAddress);
                }
                Ok((*next, want.min(limit - *next), false))
            }
            Addressing::Idal {
                cur,
                left,
                next_idaw,
                pending,
            } => {
                let block = self.ctx.idaw.block();
                let len = self.ctx.idaw.idaw_len();
                if *left == 0 {
                    *cur = match pending.take() {
                        Some(p) => p?,
                        None => {
                            let a = fetch_idaw(self.mem, &self.ctx, *next_idaw, false)?;
                            *next_idaw += len;
                            a
                        }
                    };
                    *left = block;
                }
                // Look-ahead: the transfer needs `want` bytes, so the IDAWs
                // covering them are needed anyway; fetch them now (once each)
                // and merge contiguous blocks into one run.
                while *left < want && pending.is_none() {
                    let next = fetch_idaw(self.mem, &self.ctx, *next_idaw, false);
                    *next_idaw += len;
                    match next {
                        Ok(a) if a == cur.wrapping_add(*left) => *left += block,
                        other => *pending = Some(other),
                    }
                }
                Ok((*cur, want.min(*left), skip_ccw))
            }
            Addressing::Midal {
                cur,
                left,
                skip,
                next_midaw,
            } => {
                if *left == 0 {
                    let m = fetch_midaw(self.mem, &self.ctx, *next_midaw, self.remaining)?;
                    *cur = m.addr();
                    *left = u64::from(m.count());
                    *skip = m.flags().skip();
                    *next_midaw += MIDAW_LEN;
                }
                Ok((*cur, want.min(*left), store && self.input && *skip))
            }
        }
    }

    /// Advances the position within the current block by `n` bytes.
    fn advance_pos(&mut self, n: usize) {
        let n = n as u64;
        match &mut self.addressing {
            Addressing::Direct { next } => *next = next.wrapping_add(n),
            Addressing::Idal { cur, left, .. } | Addressing::Midal { cur, left, .. } => {
                *cur = cur.wrapping_add(n);
                *left -= n.min(*left);
            }
        }
    }

    /// Accounts `n` transferred bytes of the current CCW.
    fn advance(&mut self, n: usize) {
        self.advance_pos(n);
        self.remaining -= u16::try_from(n).unwrap_or(self.remaining).min(self.remaining);
        self.moved += n as u64;
    }

    /// Data chaining: the count of the current CCW (with CD) reached zero;
    /// fetch the next CCW (following one TIC) and make it current.
    fn chain_data(&mut self) {
        if let Some(how) = self.hooks.as_mut().and_then(|h| h.stop_requested()) {
            self.stop = Some(StreamStop::Stopped(how));
            return;
        }
        let mut addr = self.ccw_addr + 8;
        let mut via_tic = false;
        loop {
            let check = |cause, count| StreamStop::Check {
                cause,
                cpa: cpa_after(addr),
                count,
            };
            if self.budget == 0 {
                self.stop = Some(check(CheckCause::WorkLimit, 0));
                return;
            }
            self.budget -= 1;
            self.ccws += 1;
            let ccw = match fetch_ccw(self.mem, &self.ctx, addr) {
                Ok(c) => c,
                Err(cause) => {
                    self.stop = Some(check(cause, 0));
                    return;
                }
            };
            tracing::trace!(
                addr,
                cmd = ccw.cmd,
                flags = ccw.flags.into_bits(),
                count = ccw.count,
                cda = ccw.cda,
                "ccw data-chained"
            );
            if ccw.is_tic() {
                if via_tic {
                    self.stop = Some(check(CheckCause::TicToTic, 0));
                    return;
                }
                match tic_target(&self.ctx, &ccw) {
                    Ok(t) => {
                        addr = t;
                        via_tic = true;
                        continue;
                    }
                    Err(cause) => {
                        self.stop = Some(check(cause, 0));
                        return;
                    }
                }
            }
            let valid = if ccw.flags.suspend() {
                Err(if self.ctx.suspend {
                    CheckCause::SuspendInDataChain
                } else {
                    CheckCause::SuspendNotAllowed
                })
            } else {
                validate_ccw(&self.ctx, &ccw, true)
            };
            self.ccw_addr = addr;
            self.ccw = ccw;
            self.remaining = ccw.count;
            if let Err(cause) = valid.and_then(|()| self.setup()) {
                self.fail(cause);
                return;
            }
            if ccw.flags.pci() {
                self.pci = true;
                if let Some(h) = self.hooks.as_mut() {
                    h.pci(cpa_after(addr));
                }
            }
            return;
        }
    }
}

/// Fetches one IDAW. `first` IDAWs may address any byte; the others must
/// address the start of a block.
fn fetch_idaw(mem: &dyn GuestMemory, ctx: &Ctx, at: u64, first: bool) -> Result<u64, CheckCause> {
    let map = |e| match e {
        AccessError::Addressing { .. } => CheckCause::InvalidIdawAddress,
        AccessError::Protection { .. } => CheckCause::IdawProtection,
    };
    let addr = match ctx.idaw {
        IdawFormat::Format1 => {
            let mut b = [0u8; 4];
            mem.read(at, &mut b, ctx.key).map_err(map)?;
            let w = Idaw1::from_be_bytes(b);
            if !w.is_valid() {
                return Err(CheckCause::InvalidIdaw);
            }
            u64::from(w.addr())
        }
        IdawFormat::Format2_4K | IdawFormat::Format2_2K => {
            let mut b = [0u8; 8];
            mem.read(at, &mut b, ctx.key).map_err(map)?;
            Idaw2::from_be_bytes(b).addr()
        }
    };
    if !first && addr % ctx.idaw.block() != 0 {
        return Err(CheckCause::InvalidIdaw);
    }
    Ok(addr)
}

/// Fetches one MIDAW and checks it against the bytes still to be addressed
/// by the CCW: reserved bits zero, count non-zero, counts adding up to the
/// CCW count exactly at the MIDAW flagged last, no 4K crossing unless skip.
fn fetch_midaw(mem: &dyn GuestMemory, ctx: &Ctx, at: u64, remaining: u16) -> Result<Midaw, CheckCause> {
    let mut b = [0u8; 16];
    mem.read(at, &mut b, ctx.key).map_err(|e| match e {
        AccessError::Addressing { .. } => CheckCause::InvalidIdawAddress,
        AccessError::Protection { .. } => CheckCause::IdawProtection,
    })?;
    let m = Midaw::from_be_bytes(b);
    let last = m.flags().last();
    let fits = if last {
        m.count() == remaining
    } else {
        m.count() < remaining
    };
    if !m.is_valid() || !fits || (m.crosses_4k() && !m.flags().skip()) {
        return Err(CheckCause::InvalidMidaw);
    }
    Ok(m)
}

#[cfg(test)]
mod peek_tests {
    use super::*;
    use crate::ccw::CcwFlags;
    use crate::device::{CcwDevice, DeviceResult};
    use crate::engine::{Engine, NoHooks};
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
        let c = Engine::default().start(&mem, &orb, &mut dev, &mut NoHooks);
        assert_eq!(dev.0, Some(1));
        assert_eq!(c.count, 1);
        assert_eq!(c.cstat.into_bits(), 0);
        assert_eq!(mem.fetch(0x5000, 5).unwrap(), vec![0xaa, 0xaa, 0xaa, 0xaa, 1]);
    }
}
