//! The one cursor over a channel program: CCW fetching, the TIC rules, the
//! checks a CCW passes when it becomes current, and the work bound
//! (Principles of Operation, chapter 15, "Channel-Command Word", "Chaining",
//! "Transfer in Channel", "Data Chaining", "Command Chaining"; chapter 16,
//! "Program Check" and "Protection Check").
//!
//! [`ProgramWalker`] is used by the [`Engine`](crate::Engine) for command
//! chaining, by the [`DataStream`](crate::DataStream) for data chaining
//! (both through the same walker, so one counter bounds the work of a start
//! function), and by any tool that walks a guest program without executing
//! it, such as a channel-program translator. [`ProgramControls`] holds the
//! per-CCW rules the walker applies, for callers that need them one by one.
//!
//! The walker only reads guest storage, one doubleword per CCW, and each
//! CCW is fetched once per visit: its checks and its use see the same copy.

use crate::address::{CcwAddress, GuestAddr};
use crate::ccw::{Ccw, CcwFormat};
use crate::check::CheckCause;
use crate::idaw::{IdawFormat, MIDAW_LEN};
use crate::memory::{AccessKey, GuestMemory};
use crate::orb::Orb;

/// Bounds on the work of one start (or resume) function, so that a looping
/// channel program cannot hang the caller.
///
/// The architecture sets no limit on the length of a channel program; these
/// bounds exist only to end endless loops, and a program can only loop by
/// coming back to a CCW address it has fetched, which takes a TIC (every
/// other step — command chaining, data chaining, a status-modifier skip —
/// moves forward). So both bounds apply only once a fetch has come back to
/// an address the program (for [`Limits::max_ccws`]) or its current run of
/// CCWs without data transfer (for [`Limits::max_idle_ccws`]) already
/// fetched: a straight-line chain of any length runs to its end. A bound
/// that ends a program is a program check ([`CheckCause::WorkLimit`]),
/// indistinguishable for the guest from other channel-program checks, and
/// the engine logs a `tracing` warning naming the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most consecutive CCWs that transfer no data (TICs included) in a
    /// run that has looped back; the next one is a program check. Default
    /// 1024: a TIC loop without data ends after 1024 CCWs, while a loop
    /// that moves data each time around (a DASD SEARCH … TIC) is not
    /// limited by it. The trace key `machine ccw-loop-limit=<n>` sets it.
    pub max_idle_ccws: u32,
    /// Most CCWs (command-chained, data-chained and TICs) per start or
    /// resume of a program that has looped back; the next one is a program
    /// check. Default 2^20: a looping program that moves data each time
    /// (READ + TIC) still ends.
    pub max_ccws: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_idle_ccws: 1024,
            max_ccws: 1 << 20,
        }
    }
}

/// How a CCW became current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chaining {
    /// First CCW of the program (from the ORB, or the CCW refetched by
    /// RESUME SUBCHANNEL): a TIC here is a program check.
    Start,
    /// Command chaining from the previous CCW.
    Command,
    /// Data chaining from the previous CCW: no new command, no suspension.
    Data,
}

/// The ORB controls that decide how a channel program is fetched and
/// checked (PoO chapter 15, "Operation-Request Block").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProgramControls {
    /// CCW format (ORB F).
    pub format: CcwFormat,
    /// Access key of every storage access of the program (ORB key).
    pub key: AccessKey,
    /// IDAW format and block size (ORB H, T).
    pub idaw: IdawFormat,
    /// MIDAWs allowed (ORB D).
    pub midaw: bool,
    /// Suspension allowed (ORB S).
    pub suspend: bool,
    /// Incorrect-length-suppression mode (ORB L).
    pub ils: bool,
}

impl ProgramControls {
    /// The controls of the program `orb` starts.
    #[must_use]
    pub const fn from_orb(orb: &Orb) -> Self {
        Self {
            format: orb.ccw_format(),
            key: AccessKey::new(orb.ctrl.key()),
            idaw: IdawFormat::from_orb(orb.ctrl.idaw_format2(), orb.ctrl.idaw_2k()),
            midaw: orb.ctrl.midaw(),
            suspend: orb.ctrl.suspend(),
            ils: orb.ctrl.ils(),
        }
    }

    /// Fetches the CCW at `at` with the program's key.
    ///
    /// # Errors
    /// [`CheckCause::CcwAddressSpecification`] when `at` is not a multiple
    /// of 8; [`CheckCause::InvalidCcwAddress`] when the doubleword lies
    /// beyond the format's limit (2^24, 2^31) or outside storage;
    /// [`CheckCause::CcwProtection`] on a key mismatch.
    #[inline]
    pub fn fetch_ccw(&self, mem: &dyn GuestMemory, at: CcwAddress) -> Result<(GuestAddr, Ccw), CheckCause> {
        let addr = at.resolve(self.format.address_limit())?;
        let mut raw = [0u8; 8];
        mem.read(addr.get(), &mut raw, self.key)
            .map_err(CheckCause::of_ccw_fetch)?;
        Ok((addr, Ccw::decode(self.format, raw)))
    }

    /// The target of the TIC `tic`.
    ///
    /// A format-1 TIC must have zero in bits 0–3 and 8–31 (flags and count
    /// are reserved); format-0 TICs ignore those fields. The target is a
    /// [`CcwAddress`]: a format-1 target with bit 0 set lies beyond 2^31
    /// and is reported when the target is fetched.
    ///
    /// # Errors
    /// [`CheckCause::InvalidTic`] for a format-1 TIC with reserved bits set.
    pub const fn tic_target(&self, tic: &Ccw) -> Result<CcwAddress, CheckCause> {
        if matches!(self.format, CcwFormat::Format1)
            && (tic.cmd & 0xf0 != 0 || tic.flags.into_bits() != 0 || tic.count != 0)
        {
            return Err(CheckCause::InvalidTic);
        }
        Ok(CcwAddress::new(tic.cda))
    }

    /// The checks a CCW other than a TIC passes when it becomes current
    /// by `how`, in the order the channel subsystem applies them:
    ///
    /// 1. command code with low four bits zero (not on data chaining);
    /// 2. the S flag: on data chaining always a check
    ///    ([`CheckCause::SuspendInDataChain`], or
    ///    [`CheckCause::SuspendNotAllowed`] without ORB S); otherwise a
    ///    check without ORB S, and with it `Ok` at once — the program
    ///    suspends before any other check of the CCW, which is refetched
    ///    and checked on resume;
    /// 3. count zero: invalid in format 0; in format 1 with data chaining
    ///    or when reached by data chaining;
    /// 4. MIDA without ORB D, or together with IDA or skip;
    /// 5. a data (or IDAL/MIDAL) address the format cannot hold (format-1
    ///    bit 0 set);
    /// 6. an IDAL address not a multiple of the IDAW size, a MIDAL address
    ///    not a multiple of 16.
    ///
    /// # Errors
    /// The first rule violated.
    #[inline]
    pub fn check_ccw(&self, ccw: &Ccw, how: Chaining) -> Result<(), CheckCause> {
        let data_chained = how == Chaining::Data;
        let f = ccw.flags;
        if !data_chained && ccw.cmd & 0x0f == 0 {
            return Err(CheckCause::InvalidCommandCode);
        }
        if f.suspend() {
            return match (data_chained, self.suspend) {
                (_, false) => Err(CheckCause::SuspendNotAllowed),
                (true, true) => Err(CheckCause::SuspendInDataChain),
                (false, true) => Ok(()),
            };
        }
        if ccw.count == 0 && (self.format == CcwFormat::Format0 || f.cd() || data_chained) {
            return Err(CheckCause::InvalidCount);
        }
        if f.mida() && (!self.midaw || f.ida() || f.skip()) {
            return Err(CheckCause::InvalidFlags);
        }
        let Some(cda) = ccw.data_address(self.format) else {
            return Err(if f.ida() || f.mida() {
                CheckCause::InvalidIdawAddress
            } else {
                CheckCause::InvalidDataAddress
            });
        };
        if (f.ida() && !cda.is_aligned(self.idaw.idaw_len())) || (f.mida() && !cda.is_aligned(MIDAW_LEN)) {
            return Err(CheckCause::IdawAddressSpecification);
        }
        Ok(())
    }
}

/// A TIC the walker went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tic {
    /// Where the TIC was fetched.
    pub addr: GuestAddr,
    /// The TIC as fetched (its data-address field is the target).
    pub ccw: Ccw,
}

/// A CCW the walker made current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WalkedCcw {
    /// Where it was fetched.
    pub addr: GuestAddr,
    /// The CCW as fetched (this copy is the only one the walker reads).
    pub ccw: Ccw,
    /// How it became current.
    pub how: Chaining,
    /// The TIC that led to it, if one did.
    pub tic: Option<Tic>,
}

impl WalkedCcw {
    /// The SCSW CCW-address field naming this CCW as the last one used.
    #[must_use]
    pub fn scsw_cpa(&self) -> u32 {
        cpa_after(self.addr)
    }
}

/// A check the walker found, with what the SCSW reports for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WalkCheck {
    /// The cause.
    pub cause: CheckCause,
    /// The CCW the check is about: the one whose fetch failed, the TIC in
    /// error, or the CCW whose contents are invalid.
    pub at: CcwAddress,
    /// The residual count the SCSW shows: the CCW's count when its contents
    /// are in error, else 0.
    pub count: u16,
}

impl WalkCheck {
    /// The SCSW CCW-address field: `at` + 8 (modulo 2^32, since a failing
    /// TIC target may be any 32-bit value).
    #[must_use]
    pub const fn cpa(&self) -> u32 {
        self.at.scsw_cpa()
    }
}

/// The SCSW CCW-address field for the CCW at `addr` (a CCW address, 24 or
/// 31 bits, so it always fits).
pub(crate) fn cpa_after(addr: GuestAddr) -> u32 {
    addr.to_ccw_address().map_or(u32::MAX, CcwAddress::scsw_cpa)
}

/// A cursor over one channel program.
///
/// [`ProgramWalker::next`] fetches the CCW at the current position,
/// follows a TIC (at most one in a row), applies
/// [`ProgramControls::check_ccw`] and returns the CCW; the caller then says
/// how the program goes on: [`ProgramWalker::chain_command`] (with or
/// without status modifier) or [`ProgramWalker::chain_data`]. A translator
/// that does not execute the program chains linearly
/// (`chain_command(false)` when the CCW has CC, `chain_data()` when it has
/// CD).
///
/// Work bound: every fetch (TICs included) counts against
/// [`Limits::max_ccws`]; every fetch also counts as a CCW that moved no
/// data until the caller reports data ([`ProgramWalker::data_moved`], or
/// data chaining, which happens only once a count is exhausted), and more
/// than [`Limits::max_idle_ccws`] of those in a row is a check. Each bound
/// applies only once a fetch came back to an address already fetched (by
/// the program, or in the current run without data) — which a program can
/// do only after a TIC, and must do to loop. A program that never comes
/// back is never bounded, and fetches each address at most once, so storage
/// bounds its work. The fetch that would exceed a bound
/// is [`CheckCause::WorkLimit`] at the address it would have fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramWalker {
    controls: ProgramControls,
    limits: Limits,
    next: CcwAddress,
    how: Chaining,
    current: Option<GuestAddr>,
    /// `current` in the 32-bit form, for chaining.
    current_at: CcwAddress,
    ccws: u32,
    idle: u32,
    /// The addresses fetched in the program, and in its current run of
    /// CCWs without data transfer.
    program: Visited,
    run: Visited,
}

/// The addresses fetched, as the runs of ascending fetches they form, and
/// whether a fetch came back into one of them. A program moves forward
/// (chaining, skipping) except through a TIC, so each TIC starts a new
/// run; coming back to an address it fetched is looping. Up to
/// [`Visited::SPANS`] runs are kept exactly; a program with more TICs is
/// judged by the hull of all its runs (coming back within the lowest and
/// highest address fetched), which errs on the side of bounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Visited {
    /// `(first, last)` address of each run, `n` of them in use.
    spans: [(u64, u64); Visited::SPANS],
    n: usize,
    looped: bool,
}

impl Visited {
    const SPANS: usize = 8;

    const EMPTY: Self = Self {
        spans: [(0, 0); Self::SPANS],
        n: 0,
        looped: false,
    };

    fn fetched(&mut self, addr: u64) {
        let live = &mut self.spans[..self.n];
        if live.iter().any(|&(a, b)| a <= addr && addr <= b) {
            self.looped = true;
        }
        // Chaining (8 on) or a status-modifier skip (16 on) extends the
        // run of the last fetch; anything else (a TIC) starts a run.
        if let Some(last) = live.last_mut() {
            if addr > last.1 && addr - last.1 <= 16 {
                last.1 = addr;
                return;
            }
        }
        if self.n < Self::SPANS {
            self.spans[self.n] = (addr, addr);
            self.n += 1;
        } else {
            let low = live.iter().map(|s| s.0).min().unwrap_or(addr).min(addr);
            let high = live.iter().map(|s| s.1).max().unwrap_or(addr).max(addr);
            self.spans[0] = (low, high);
            self.spans[1] = (addr, addr);
            self.n = 2;
        }
    }
}

impl ProgramWalker {
    /// A walker whose first CCW is at `first` (the ORB channel-program
    /// address, or the suspended CCW for RESUME SUBCHANNEL).
    #[must_use]
    pub const fn new(controls: ProgramControls, limits: Limits, first: CcwAddress) -> Self {
        Self {
            controls,
            limits,
            next: first,
            how: Chaining::Start,
            current: None,
            current_at: first,
            ccws: 0,
            idle: 0,
            program: Visited::EMPTY,
            run: Visited::EMPTY,
        }
    }

    /// The bounds the walker applies.
    #[must_use]
    pub const fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether a fetch came back to an address this program already
    /// fetched (the work bounds apply only then).
    #[must_use]
    pub const fn looped(&self) -> bool {
        self.program.looped
    }

    /// A run of CCWs without data transfer ends: the idle bound starts over.
    const fn end_run(&mut self) {
        self.idle = 0;
        self.run = Visited::EMPTY;
    }

    /// The controls the walker applies.
    #[must_use]
    pub const fn controls(&self) -> &ProgramControls {
        &self.controls
    }

    /// CCWs fetched so far (command-chained, data-chained and TICs,
    /// including one whose fetch failed).
    #[must_use]
    pub const fn ccws(&self) -> u32 {
        self.ccws
    }

    /// The address of the CCW last made current.
    #[must_use]
    pub const fn current(&self) -> Option<GuestAddr> {
        self.current
    }

    /// Where the next CCW will be fetched.
    #[must_use]
    pub const fn position(&self) -> CcwAddress {
        self.next
    }

    /// Command chaining: the next CCW follows the current one, or the one
    /// after it when the device presented status modifier.
    pub fn chain_command(&mut self, status_modifier: bool) {
        self.advance(if status_modifier { 16 } else { 8 }, Chaining::Command);
    }

    /// Data chaining: the current CCW's count is exhausted (so data moved)
    /// and the next CCW continues the same command.
    pub fn chain_data(&mut self) {
        self.end_run();
        self.advance(8, Chaining::Data);
    }

    /// The command of the current CCW moved (or skipped) data.
    pub fn data_moved(&mut self) {
        self.end_run();
    }

    fn advance(&mut self, by: u32, how: Chaining) {
        if self.current.is_some() {
            self.next = self.current_at.wrapping_add(by);
        }
        self.how = how;
    }

    /// Fetches the next CCW, following a TIC, and checks it.
    ///
    /// # Errors
    /// The first check met, with the CCW address and count the SCSW shows:
    /// the work bound; a failed fetch; a TIC as the first CCW
    /// ([`CheckCause::FirstCcwTic`]), a TIC to a TIC
    /// ([`CheckCause::TicToTic`]), a format-1 TIC with reserved bits
    /// ([`CheckCause::InvalidTic`]); and the rules of
    /// [`ProgramControls::check_ccw`].
    #[inline]
    pub fn next(&mut self, mem: &dyn GuestMemory) -> Result<WalkedCcw, WalkCheck> {
        let mut tic = None;
        loop {
            let at = self.next;
            let check = |cause, count| WalkCheck { cause, at, count };
            if (self.program.looped && self.ccws >= self.limits.max_ccws)
                || (self.run.looped && self.idle >= self.limits.max_idle_ccws)
            {
                return Err(check(CheckCause::WorkLimit, 0));
            }
            self.ccws = self.ccws.saturating_add(1);
            self.idle = self.idle.saturating_add(1);
            let (addr, ccw) = self.controls.fetch_ccw(mem, at).map_err(|c| check(c, 0))?;
            self.program.fetched(addr.get());
            self.run.fetched(addr.get());
            tracing::trace!(
                addr = format_args!("{:#x}", addr.get()),
                cmd = format_args!("{:#04x}", ccw.cmd),
                flags = format_args!("{:#04x}", ccw.flags.into_bits()),
                count = ccw.count,
                cda = format_args!("{:#x}", ccw.cda),
                how = ?self.how,
                "ccw"
            );
            if ccw.is_tic() {
                if tic.is_some() {
                    return Err(check(CheckCause::TicToTic, 0));
                }
                if self.how == Chaining::Start {
                    return Err(check(CheckCause::FirstCcwTic, 0));
                }
                self.next = self.controls.tic_target(&ccw).map_err(|c| check(c, 0))?;
                tic = Some(Tic { addr, ccw });
                continue;
            }
            self.current = Some(addr);
            self.current_at = at;
            self.controls
                .check_ccw(&ccw, self.how)
                .map_err(|c| check(c, ccw.count))?;
            return Ok(WalkedCcw {
                addr,
                ccw,
                how: self.how,
                tic,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ccw::CcwFlags;
    use crate::memory::{StorageKey, VecMemory};
    use crate::mock::ccw1;
    use crate::mock::flags::{CC, CD, SUSP};
    use crate::orb::OrbControls;

    const NOP: u8 = 0x03;
    const READ: u8 = 0x02;
    const TIC: u8 = 0x08;

    fn controls(ctrl: OrbControls) -> ProgramControls {
        ProgramControls::from_orb(&Orb {
            ctrl: ctrl.with_format1(true),
            ..Orb::default()
        })
    }

    fn walker(first: u32) -> ProgramWalker {
        ProgramWalker::new(controls(OrbControls::new()), Limits::default(), CcwAddress::new(first))
    }

    fn err(cause: CheckCause, at: u32, count: u16) -> WalkCheck {
        WalkCheck {
            cause,
            at: CcwAddress::new(at),
            count,
        }
    }

    #[test]
    fn next_follows_one_tic_and_reports_it() {
        let mem = VecMemory::new(0x10000);
        mem.store(0x1000, &ccw1(NOP, CC, 0, 0)).unwrap();
        mem.store(0x1008, &ccw1(TIC, 0, 0, 0x2000)).unwrap();
        mem.store(0x2000, &ccw1(READ, 0, 4, 0x3000)).unwrap();
        let mut w = walker(0x1000);
        let first = w.next(&mem).unwrap();
        assert_eq!(
            (first.addr.get(), first.how, first.tic),
            (0x1000, Chaining::Start, None)
        );
        w.chain_command(false);
        let second = w.next(&mem).unwrap();
        assert_eq!(second.addr.get(), 0x2000);
        assert_eq!(second.tic.map(|t| (t.addr.get(), t.ccw.cda)), Some((0x1008, 0x2000)));
        assert_eq!(second.how, Chaining::Command);
        assert_eq!(second.scsw_cpa(), 0x2008);
        assert_eq!(w.ccws(), 3);
    }

    #[test]
    fn next_first_ccw_tic_is_program_check() {
        let mem = VecMemory::new(0x10000);
        mem.store(0x1000, &ccw1(TIC, 0, 0, 0x2000)).unwrap();
        assert_eq!(walker(0x1000).next(&mem), Err(err(CheckCause::FirstCcwTic, 0x1000, 0)));
    }

    #[test]
    fn next_tic_to_tic_is_program_check_at_the_second_tic() {
        let mem = VecMemory::new(0x10000);
        mem.store(0x1000, &ccw1(NOP, CC, 0, 0)).unwrap();
        mem.store(0x1008, &ccw1(TIC, 0, 0, 0x2000)).unwrap();
        mem.store(0x2000, &ccw1(TIC, 0, 0, 0x1000)).unwrap();
        let mut w = walker(0x1000);
        w.next(&mem).unwrap();
        w.chain_command(false);
        assert_eq!(w.next(&mem), Err(err(CheckCause::TicToTic, 0x2000, 0)));
    }

    #[test]
    fn next_tic_target_beyond_31_bits_reports_wrapped_cpa() {
        let mem = VecMemory::new(0x10000);
        mem.store(0x1000, &ccw1(NOP, CC, 0, 0)).unwrap();
        mem.store(0x1008, &ccw1(TIC, 0, 0, 0xffff_fff8)).unwrap();
        let mut w = walker(0x1000);
        w.next(&mem).unwrap();
        w.chain_command(false);
        let e = w.next(&mem).unwrap_err();
        assert_eq!(e, err(CheckCause::InvalidCcwAddress, 0xffff_fff8, 0));
        assert_eq!(e.cpa(), 0);
    }

    #[test]
    fn next_format1_tic_reserved_bits_are_invalid_tic() {
        let mem = VecMemory::new(0x10000);
        mem.store(0x1000, &ccw1(NOP, CC, 0, 0)).unwrap();
        mem.store(0x1008, &ccw1(TIC, 0, 1, 0x2000)).unwrap();
        let mut w = walker(0x1000);
        w.next(&mem).unwrap();
        w.chain_command(false);
        assert_eq!(w.next(&mem), Err(err(CheckCause::InvalidTic, 0x1008, 0)));
    }

    #[test]
    fn next_tic_loop_ends_at_the_idle_bound() {
        let mem = VecMemory::new(0x10000);
        mem.store(0x1000, &ccw1(NOP, CC, 0, 0)).unwrap();
        mem.store(0x1008, &ccw1(TIC, 0, 0, 0x1000)).unwrap();
        let limits = Limits {
            max_idle_ccws: 10,
            max_ccws: 1000,
        };
        let mut w = ProgramWalker::new(controls(OrbControls::new()), limits, CcwAddress::new(0x1000));
        let e = loop {
            match w.next(&mem) {
                Ok(_) => w.chain_command(false),
                Err(e) => break e,
            }
        };
        assert_eq!(e.cause, CheckCause::WorkLimit);
        assert_eq!(w.ccws(), 10);
    }

    #[test]
    fn next_straight_chain_longer_than_the_bounds_runs_to_its_end() {
        let mem = VecMemory::new(0x10000);
        for k in 0..100u32 {
            let flags = if k < 99 { CC } else { 0 };
            mem.store(u64::from(0x1000 + 8 * k), &ccw1(NOP, flags, 0, 0)).unwrap();
        }
        let limits = Limits {
            max_idle_ccws: 10,
            max_ccws: 20,
        };
        let mut w = ProgramWalker::new(controls(OrbControls::new()), limits, CcwAddress::new(0x1000));
        let mut n = 0;
        loop {
            let c = w.next(&mem).unwrap();
            n += 1;
            if !c.ccw.flags.cc() {
                break;
            }
            w.chain_command(false);
        }
        assert_eq!((n, w.looped()), (100, false));
    }

    #[test]
    fn next_forward_tic_does_not_count_as_a_loop() {
        let mem = VecMemory::new(0x10000);
        mem.store(0x1000, &ccw1(NOP, CC, 0, 0)).unwrap();
        mem.store(0x1008, &ccw1(TIC, 0, 0, 0x2000)).unwrap();
        mem.store(0x2000, &ccw1(NOP, 0, 0, 0)).unwrap();
        let mut w = walker(0x1000);
        w.next(&mem).unwrap();
        w.chain_command(false);
        assert_eq!(w.next(&mem).unwrap().addr.get(), 0x2000);
        assert!(!w.looped());
    }

    #[test]
    fn next_coming_back_from_below_by_chaining_is_a_loop() {
        // 0x2000 NOP, TIC to 0x1ff0 (below everything fetched), then two
        // chained NOPs lead back up to 0x2000: a loop without a TIC into
        // the addresses fetched.
        let mem = VecMemory::new(0x10000);
        mem.store(0x1ff0, &ccw1(NOP, CC, 0, 0)).unwrap();
        mem.store(0x1ff8, &ccw1(NOP, CC, 0, 0)).unwrap();
        mem.store(0x2000, &ccw1(NOP, CC, 0, 0)).unwrap();
        mem.store(0x2008, &ccw1(TIC, 0, 0, 0x1ff0)).unwrap();
        let mut w = walker(0x2000);
        let mut seen = Vec::new();
        while !w.looped() {
            seen.push(w.next(&mem).unwrap().addr.get());
            w.chain_command(false);
        }
        assert_eq!(seen, vec![0x2000, 0x1ff0, 0x1ff8, 0x2000]);
    }

    #[test]
    fn next_counts_every_fetch_against_max_ccws() {
        let mem = VecMemory::new(0x10000);
        mem.store(0x1000, &ccw1(READ, CD, 1, 0x3000)).unwrap();
        mem.store(0x1008, &ccw1(TIC, 0, 0, 0x1000)).unwrap();
        let limits = Limits {
            max_idle_ccws: 10,
            max_ccws: 7,
        };
        let mut w = ProgramWalker::new(controls(OrbControls::new()), limits, CcwAddress::new(0x1000));
        let e = loop {
            match w.next(&mem) {
                Ok(_) => w.chain_data(),
                Err(e) => break e,
            }
        };
        assert_eq!(
            e,
            err(CheckCause::WorkLimit, 0x1008, 0),
            "the 8th fetch would be the TIC"
        );
        assert_eq!(w.ccws(), 7);
    }

    #[test]
    fn next_suspend_flag_depends_on_chaining_and_orb_s() {
        let mem = VecMemory::new(0x10000);
        mem.store(0x1000, &ccw1(READ, CD, 1, 0x3000)).unwrap();
        mem.store(0x1008, &ccw1(READ, SUSP, 1, 0x3000)).unwrap();
        let suspend = controls(OrbControls::new().with_suspend(true));
        let mut w = ProgramWalker::new(suspend, Limits::default(), CcwAddress::new(0x1008));
        assert!(w.next(&mem).unwrap().ccw.flags.suspend(), "command boundary: suspends");
        let mut w = ProgramWalker::new(suspend, Limits::default(), CcwAddress::new(0x1000));
        w.next(&mem).unwrap();
        w.chain_data();
        assert_eq!(w.next(&mem), Err(err(CheckCause::SuspendInDataChain, 0x1008, 1)));
        assert_eq!(
            walker(0x1008).next(&mem),
            Err(err(CheckCause::SuspendNotAllowed, 0x1008, 1))
        );
    }

    #[test]
    fn next_fetch_checks_alignment_limit_and_key() {
        let mem = VecMemory::with_storage_keys(0x10000);
        assert_eq!(
            walker(0x1004).next(&mem),
            Err(err(CheckCause::CcwAddressSpecification, 0x1004, 0))
        );
        assert_eq!(
            walker(0x10000).next(&mem),
            Err(err(CheckCause::InvalidCcwAddress, 0x10000, 0))
        );
        let f0 = ProgramControls::from_orb(&Orb::default());
        assert_eq!(
            ProgramWalker::new(f0, Limits::default(), CcwAddress::new(0x0100_0000)).next(&mem),
            Err(err(CheckCause::InvalidCcwAddress, 0x0100_0000, 0))
        );
        mem.set_storage_key(0x1000, StorageKey::new(3, true));
        let keyed = controls(OrbControls::new().with_key(4));
        assert_eq!(
            ProgramWalker::new(keyed, Limits::default(), CcwAddress::new(0x1000)).next(&mem),
            Err(err(CheckCause::CcwProtection, 0x1000, 0))
        );
    }

    #[test]
    fn check_ccw_applies_rules_in_order() {
        let c = controls(OrbControls::new());
        let ccw = |cmd, flags, count, cda| Ccw {
            cmd,
            flags: CcwFlags::from_bits(flags),
            count,
            cda,
        };
        assert_eq!(
            c.check_ccw(&ccw(0x10, 0, 0, 0), Chaining::Command),
            Err(CheckCause::InvalidCommandCode)
        );
        assert_eq!(c.check_ccw(&ccw(0x10, CD, 1, 0), Chaining::Data), Ok(()));
        assert_eq!(
            c.check_ccw(&ccw(READ, 0, 0, 0), Chaining::Data),
            Err(CheckCause::InvalidCount)
        );
        assert_eq!(
            c.check_ccw(&ccw(READ, 0x01, 1, 0x10), Chaining::Command),
            Err(CheckCause::InvalidFlags)
        );
        assert_eq!(
            c.check_ccw(&ccw(READ, 0, 1, 0x8000_0000), Chaining::Command),
            Err(CheckCause::InvalidDataAddress)
        );
        assert_eq!(
            c.check_ccw(&ccw(READ, 0x04, 1, 0x8000_0000), Chaining::Command),
            Err(CheckCause::InvalidIdawAddress)
        );
        assert_eq!(
            c.check_ccw(&ccw(READ, 0x04, 1, 0x1002), Chaining::Command),
            Err(CheckCause::IdawAddressSpecification)
        );
        let midaw = controls(OrbControls::new().with_midaw(true));
        assert_eq!(
            midaw.check_ccw(&ccw(READ, 0x01, 1, 0x1008), Chaining::Command),
            Err(CheckCause::IdawAddressSpecification)
        );
        assert_eq!(midaw.check_ccw(&ccw(READ, 0x01, 1, 0x1010), Chaining::Command), Ok(()));
    }

    /// A translator's walk: every CCW of a program once, linearly, with the
    /// TIC it went through, without executing anything.
    #[test]
    fn walk_without_executing_visits_each_ccw_once() {
        let mem = VecMemory::new(0x10000);
        mem.store(0x1000, &ccw1(READ, CD, 4, 0x3000)).unwrap();
        mem.store(0x1008, &ccw1(TIC, 0, 0, 0x2000)).unwrap();
        mem.store(0x2000, &ccw1(READ, CC, 4, 0x3004)).unwrap();
        mem.store(0x2008, &ccw1(NOP, 0, 0, 0)).unwrap();
        let mut w = walker(0x1000);
        let mut seen = Vec::new();
        loop {
            let c = w.next(&mem).unwrap();
            seen.push((c.addr.get(), c.tic.map(|t| t.addr.get())));
            match (c.ccw.flags.cd(), c.ccw.flags.cc()) {
                (true, _) => w.chain_data(),
                (false, true) => w.chain_command(false),
                (false, false) => break,
            }
        }
        assert_eq!(seen, vec![(0x1000, None), (0x2000, Some(0x1008)), (0x2008, None)]);
    }
}
