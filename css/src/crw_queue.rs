//! The channel-report queue: pending channel-report words (CRWs), STORE
//! CHANNEL REPORT WORD, overflow and the channel-report-pending machine-check
//! condition.
//!
//! Principles of Operation, chapter 17 ("Channel-Subsystem Recovery":
//! channel report, channel-report word; "STORE CHANNEL REPORT WORD") and
//! chapter 11 ("Machine-Check Handling": channel report pending).
//!
//! CRW layout (bit 0 is the most significant bit of the word):
//!
//! | bits | field |
//! |---|---|
//! | 0 | reserved (zero) |
//! | 1 | S — solicited (the report answers RESET CHANNEL PATH) |
//! | 2 | R — overflow: one or more earlier reports were lost |
//! | 3 | C — chaining: the next CRW belongs to the same report |
//! | 4-7 | RSC — reporting-source code |
//! | 8 | A — ancillary report |
//! | 9 | reserved (zero) |
//! | 10-15 | ERC — error-recovery code |
//! | 16-31 | RSID — reporting-source ID |
//!
//! Model:
//! * The queue is a FIFO of at most [`CRW_QUEUE_CAPACITY`] words, held in a
//!   fixed ring inside the struct (no allocation after construction).
//! * A report of several CRWs (a chain, e.g. a subchannel report followed
//!   by the CSSID/SSID report when MSS or MCSS-E is enabled) is queued
//!   atomically: either every CRW of it fits, or the whole report is lost.
//!   The C bit is set on every CRW of a chain but the last.
//! * When a report is lost for lack of room, the R bit is set in the first
//!   CRW of the next report that is queued (QEMU does the same: a lost report
//!   is signalled by the next one made pending).
//! * A channel-report-pending machine-check condition is generated when a
//!   report is queued while the condition is *armed*; generating it disarms
//!   it, and STCRW re-arms it when it finds no CRW pending (condition code
//!   1). The program is expected to issue STCRW until it gets condition
//!   code 1 after each such machine check, so no report is missed.
//!
//! The queue is plain data (`&mut self`); the channel subsystem keeps it
//! under its own lock.

use zcss_ccw::crw::{erc, rsc, Crw};

/// Number of CRWs the queue holds; further reports are lost (and the next
/// queued report carries the R bit). 256 is far more than one report per
/// subchannel of a realistic hot-plug burst and keeps the ring at 1 KiB.
pub const CRW_QUEUE_CAPACITY: usize = 256;

/// The result of STORE CHANNEL REPORT WORD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stcrw {
    /// Condition code 0: this CRW is stored.
    Stored(Crw),
    /// Condition code 1: no CRW was pending; zeros are stored and the
    /// channel-report-pending machine check is re-armed.
    Empty,
}

impl Stcrw {
    /// The condition code.
    #[must_use]
    pub const fn cc(self) -> u8 {
        match self {
            Self::Stored(_) => 0,
            Self::Empty => 1,
        }
    }

    /// The CRW STCRW stores (all zeros for condition code 1).
    #[must_use]
    pub const fn crw(self) -> Crw {
        match self {
            Self::Stored(w) => w,
            Self::Empty => Crw::new(),
        }
    }
}

/// Why a report was not queued. Not an error of the host: the caller may
/// ignore it (the loss is reported to the program through the R bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Queued {
    /// The report is pending.
    Yes,
    /// The queue had no room: the report is lost and the next queued report
    /// carries the R bit.
    Lost,
    /// An empty report (no CRWs) was given; nothing happened.
    Empty,
    /// A channel-subsystem event report was already pending (see
    /// [`CrwQueue::push_css_event`]).
    AlreadyPending,
}

/// The pending channel reports of a channel subsystem.
#[derive(Clone)]
pub struct CrwQueue {
    ring: [u32; CRW_QUEUE_CAPACITY],
    head: usize,
    len: usize,
    /// Reports were lost since the last queued one: set R on the next.
    lost: bool,
    /// Total reports lost (for diagnostics).
    lost_total: u64,
    /// A new report generates a machine check.
    mchk_armed: bool,
    /// A channel-report-pending machine check was generated and not yet
    /// taken by the embedder.
    mchk_pending: bool,
    /// A channel-subsystem (SEI) report is pending and its events have not
    /// all been stored by CHSC SEI yet.
    css_event_pending: bool,
}

impl Default for CrwQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for CrwQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrwQueue")
            .field("pending", &self.iter().collect::<Vec<_>>())
            .field("lost", &self.lost)
            .field("lost_total", &self.lost_total)
            .field("mchk_armed", &self.mchk_armed)
            .field("mchk_pending", &self.mchk_pending)
            .field("css_event_pending", &self.css_event_pending)
            .finish()
    }
}

/// The contents of a [`CrwQueue`] as plain data (snapshot).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CrwQueueState {
    /// The pending CRWs, oldest first.
    pub crws: Vec<u32>,
    /// Reports were lost since the last queued one.
    pub lost: bool,
    /// Total reports lost.
    pub lost_total: u64,
    /// A new report generates a machine check.
    pub mchk_armed: bool,
    /// A machine check was generated and not yet taken.
    pub mchk_pending: bool,
    /// A channel-subsystem (SEI) report is pending.
    pub css_event_pending: bool,
}

impl CrwQueue {
    /// The queue as plain data.
    #[must_use]
    pub fn state(&self) -> CrwQueueState {
        CrwQueueState {
            crws: self.iter().map(Crw::into_bits).collect(),
            lost: self.lost,
            lost_total: self.lost_total,
            mchk_armed: self.mchk_armed,
            mchk_pending: self.mchk_pending,
            css_event_pending: self.css_event_pending,
        }
    }

    /// A queue with the contents of `s`.
    ///
    /// # Errors
    /// More CRWs than the queue holds.
    pub fn from_state(s: &CrwQueueState) -> Result<Self, String> {
        if s.crws.len() > CRW_QUEUE_CAPACITY {
            return Err(format!("{} CRWs, the queue holds {CRW_QUEUE_CAPACITY}", s.crws.len()));
        }
        let mut q = Self::new();
        q.ring[..s.crws.len()].copy_from_slice(&s.crws);
        q.len = s.crws.len();
        q.lost = s.lost;
        q.lost_total = s.lost_total;
        q.mchk_armed = s.mchk_armed;
        q.mchk_pending = s.mchk_pending;
        q.css_event_pending = s.css_event_pending;
        Ok(q)
    }

    /// An empty queue with the machine check armed.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            ring: [0; CRW_QUEUE_CAPACITY],
            head: 0,
            len: 0,
            lost: false,
            lost_total: 0,
            mchk_armed: true,
            mchk_pending: false,
            css_event_pending: false,
        }
    }

    /// Channel-subsystem reset: no report pending, nothing lost, the machine
    /// check armed and not pending.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Number of pending CRWs.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no CRW is pending.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of reports lost to overflow since construction or reset.
    #[must_use]
    pub const fn lost_reports(&self) -> u64 {
        self.lost_total
    }

    /// The pending CRWs, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = Crw> + '_ {
        (0..self.len).map(move |i| Crw::from_bits(self.ring[(self.head + i) % CRW_QUEUE_CAPACITY]))
    }

    /// Queues a report of one CRW. The C and R bits of `crw` are replaced.
    pub fn push(&mut self, crw: Crw) -> Queued {
        self.push_chain(&[crw])
    }

    /// Queues a report of `crws.len()` chained CRWs atomically: the C bit is
    /// set on all but the last, the R bit on the first if an earlier report
    /// was lost. If the whole report does not fit, none of it is queued.
    pub fn push_chain(&mut self, crws: &[Crw]) -> Queued {
        let n = crws.len();
        if n == 0 {
            return Queued::Empty;
        }
        if n > CRW_QUEUE_CAPACITY - self.len {
            self.lost = true;
            self.lost_total = self.lost_total.saturating_add(1);
            return Queued::Lost;
        }
        for (i, &crw) in crws.iter().enumerate() {
            let w = crw.with_chaining(i + 1 < n).with_overflow(i == 0 && self.lost);
            self.ring[(self.head + self.len) % CRW_QUEUE_CAPACITY] = w.into_bits();
            self.len += 1;
        }
        self.lost = false;
        if self.mchk_armed {
            self.mchk_armed = false;
            self.mchk_pending = true;
        }
        Queued::Yes
    }

    /// Queues a channel-subsystem report (RSC 0xB, event information
    /// pending) unless one is already outstanding: only one such report is
    /// pending until CHSC STORE EVENT INFORMATION has stored every event
    /// ([`CrwQueue::css_events_drained`]). `rsid` is the CSSID the events
    /// concern.
    pub fn push_css_event(&mut self, rsid: u16) -> Queued {
        if self.css_event_pending {
            return Queued::AlreadyPending;
        }
        let q = self.push(Crw::report(rsc::CSS, erc::EVENT, rsid));
        if q == Queued::Yes {
            self.css_event_pending = true;
        }
        q
    }

    /// CHSC SEI found no further event: a new event may queue a new
    /// channel-subsystem report.
    pub fn css_events_drained(&mut self) {
        self.css_event_pending = false;
    }

    /// Whether a channel-subsystem event report is outstanding.
    #[must_use]
    pub const fn css_event_pending(&self) -> bool {
        self.css_event_pending
    }

    /// The oldest pending CRW, without removing it (STCRW stores it first and
    /// removes it with [`CrwQueue::pop`] only if the store succeeded).
    #[must_use]
    pub fn front(&self) -> Option<Crw> {
        (self.len > 0).then(|| Crw::from_bits(self.ring[self.head]))
    }

    /// Removes the oldest pending CRW.
    pub fn pop(&mut self) -> Option<Crw> {
        let w = self.front()?;
        self.head = (self.head + 1) % CRW_QUEUE_CAPACITY;
        self.len -= 1;
        Some(w)
    }

    /// STORE CHANNEL REPORT WORD: removes and returns the oldest CRW
    /// (condition code 0), or reports that none is pending (condition code
    /// 1) and re-arms the channel-report-pending machine check.
    ///
    /// An embedder whose store of the CRW can fail should use
    /// [`CrwQueue::front`], store, then [`CrwQueue::pop`] (or
    /// [`CrwQueue::rearm_if_empty`] when `front` was `None`).
    pub fn stcrw(&mut self) -> Stcrw {
        match self.pop() {
            Some(w) => Stcrw::Stored(w),
            None => {
                self.mchk_armed = true;
                Stcrw::Empty
            }
        }
    }

    /// The condition-code-1 side of STCRW, for embedders that split it:
    /// re-arms the machine check if no CRW is pending. Returns whether the
    /// queue was empty.
    pub fn rearm_if_empty(&mut self) -> bool {
        if self.len == 0 {
            self.mchk_armed = true;
            true
        } else {
            false
        }
    }

    /// Takes the channel-report-pending machine-check condition: `true` once
    /// for each machine check generated (the embedder then presents a
    /// machine-check interruption with the channel-report-pending bit when
    /// CR14 allows it).
    pub fn take_machine_check_pending(&mut self) -> bool {
        std::mem::take(&mut self.mchk_pending)
    }

    /// Whether a generated machine check has not been taken yet.
    #[must_use]
    pub const fn machine_check_pending(&self) -> bool {
        self.mchk_pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The capacity as a subchannel-number range for filling the queue.
    const CAP16: u16 = 256;

    #[test]
    fn capacity_constant_matches() {
        assert_eq!(usize::from(CAP16), CRW_QUEUE_CAPACITY);
    }

    fn sch_crw(schno: u16) -> Crw {
        Crw::report(rsc::SUBCHANNEL, erc::INSTALLED_PARMS_INIT, schno)
    }

    #[test]
    fn stcrw_on_empty_queue_is_cc1_with_zero_word() {
        let mut q = CrwQueue::new();
        let r = q.stcrw();
        assert_eq!(r, Stcrw::Empty);
        assert_eq!(r.cc(), 1);
        assert_eq!(r.crw().into_bits(), 0);
    }

    #[test]
    fn stcrw_returns_reports_in_fifo_order() {
        let mut q = CrwQueue::new();
        for n in 1..=3 {
            assert_eq!(q.push(sch_crw(n)), Queued::Yes);
        }
        assert_eq!(q.len(), 3);
        for n in 1..=3 {
            let r = q.stcrw();
            assert_eq!(r.cc(), 0);
            assert_eq!(r.crw(), sch_crw(n));
        }
        assert_eq!(q.stcrw(), Stcrw::Empty);
    }

    #[test]
    fn push_clears_caller_supplied_c_and_r_bits() {
        let mut q = CrwQueue::new();
        q.push(sch_crw(7).with_chaining(true).with_overflow(true));
        assert_eq!(q.stcrw(), Stcrw::Stored(sch_crw(7)));
    }

    #[test]
    fn push_chain_sets_c_on_all_but_last() {
        let mut q = CrwQueue::new();
        let second = Crw::report(
            rsc::SUBCHANNEL,
            erc::INSTALLED_PARMS_INIT,
            Crw::subchannel_chain_rsid(0xfe, 1),
        );
        assert_eq!(q.push_chain(&[sch_crw(1), second]), Queued::Yes);
        assert_eq!(q.stcrw(), Stcrw::Stored(sch_crw(1).with_chaining(true)));
        assert_eq!(q.stcrw(), Stcrw::Stored(second));
        assert_eq!(q.push_chain(&[]), Queued::Empty);
        assert!(q.is_empty());
    }

    #[test]
    fn overflow_loses_report_and_sets_r_on_next_queued() {
        let mut q = CrwQueue::new();
        for n in 0..CAP16 {
            assert_eq!(q.push(sch_crw(n)), Queued::Yes);
        }
        assert_eq!(q.push(sch_crw(0xffff)), Queued::Lost);
        assert_eq!(q.len(), CRW_QUEUE_CAPACITY);
        assert_eq!(q.lost_reports(), 1);
        // Nothing pending carries R yet.
        assert!(q.iter().all(|w| !w.overflow()));
        assert_eq!(q.stcrw().crw(), sch_crw(0));
        assert_eq!(q.push(sch_crw(0x5555)), Queued::Yes);
        let last = q.iter().last().unwrap();
        assert_eq!(last, sch_crw(0x5555).with_overflow(true));
        // Only the first report after the loss carries R.
        assert_eq!(q.stcrw().crw(), sch_crw(1));
        q.stcrw();
        assert_eq!(q.push(sch_crw(0x6666)), Queued::Yes);
        assert_eq!(q.iter().last().unwrap(), sch_crw(0x6666));
    }

    #[test]
    fn chain_that_does_not_fit_is_lost_whole() {
        let mut q = CrwQueue::new();
        for n in 0..CAP16 - 1 {
            q.push(sch_crw(n));
        }
        assert_eq!(q.push_chain(&[sch_crw(1), sch_crw(2)]), Queued::Lost);
        assert_eq!(q.len(), CRW_QUEUE_CAPACITY - 1, "no half chain queued");
        assert_eq!(q.push(sch_crw(9)), Queued::Yes);
        assert_eq!(q.iter().last().unwrap(), sch_crw(9).with_overflow(true));
        assert_eq!(q.len(), CRW_QUEUE_CAPACITY);
    }

    #[test]
    fn chain_longer_than_capacity_is_lost_not_panicking() {
        let mut q = CrwQueue::new();
        let big = vec![sch_crw(1); CRW_QUEUE_CAPACITY + 1];
        assert_eq!(q.push_chain(&big), Queued::Lost);
        assert!(q.is_empty());
        let full = vec![sch_crw(1); CRW_QUEUE_CAPACITY];
        assert_eq!(q.push_chain(&full), Queued::Yes);
        assert_eq!(q.len(), CRW_QUEUE_CAPACITY);
    }

    #[test]
    fn ring_wraps_many_times_in_order() {
        let mut q = CrwQueue::new();
        for n in 0..(3 * CAP16) {
            q.push(sch_crw(n));
            q.push(sch_crw(n.wrapping_add(0x8000)));
            assert_eq!(q.stcrw().crw(), sch_crw(n));
            assert_eq!(q.stcrw().crw(), sch_crw(n.wrapping_add(0x8000)));
        }
        assert!(q.is_empty());
    }

    #[test]
    fn machine_check_is_generated_once_until_empty_stcrw_rearms() {
        let mut q = CrwQueue::new();
        assert!(!q.take_machine_check_pending());
        q.push(sch_crw(1));
        assert!(q.machine_check_pending());
        assert!(q.take_machine_check_pending());
        assert!(!q.take_machine_check_pending(), "taken once");
        q.push(sch_crw(2));
        assert!(!q.take_machine_check_pending(), "not re-armed while reports pending");
        q.stcrw();
        q.stcrw();
        // Queue drained by cc 0 stores, but not yet re-armed.
        q.push(sch_crw(3));
        assert!(!q.take_machine_check_pending());
        assert_eq!(q.stcrw().cc(), 0);
        assert_eq!(q.stcrw().cc(), 1);
        q.push(sch_crw(4));
        assert!(q.take_machine_check_pending(), "re-armed by the cc 1 STCRW");
    }

    #[test]
    fn lost_report_does_not_generate_machine_check() {
        let mut q = CrwQueue::new();
        for n in 0..CAP16 {
            q.push(sch_crw(n));
        }
        assert!(q.take_machine_check_pending());
        while q.stcrw().cc() == 0 {}
        for n in 0..CAP16 {
            q.push(sch_crw(n));
        }
        assert!(q.take_machine_check_pending());
        assert_eq!(q.push(Crw::new()), Queued::Lost);
        assert!(!q.take_machine_check_pending());
    }

    #[test]
    fn front_then_pop_allows_requeue_on_failed_store() {
        let mut q = CrwQueue::new();
        q.push(sch_crw(1));
        q.push(sch_crw(2));
        assert_eq!(q.front(), Some(sch_crw(1)));
        // Store failed: the CRW stays at the head.
        assert_eq!(q.front(), Some(sch_crw(1)));
        assert_eq!(q.pop(), Some(sch_crw(1)));
        assert_eq!(q.pop(), Some(sch_crw(2)));
        assert_eq!(q.pop(), None);
        q.take_machine_check_pending();
        assert!(q.rearm_if_empty());
        q.push(sch_crw(3));
        assert!(!q.rearm_if_empty());
        assert!(q.take_machine_check_pending());
    }

    #[test]
    fn solicited_bit_is_kept() {
        let mut q = CrwQueue::new();
        let rchp = Crw::report(rsc::CHANNEL_PATH, erc::INIT, 0x00).with_solicited(true);
        q.push(rchp);
        let w = q.stcrw().crw();
        assert!(w.solicited());
        assert_eq!(w.rsc(), rsc::CHANNEL_PATH);
        assert_eq!(w.into_bits(), 0x4402_0000);
    }

    #[test]
    fn only_one_css_event_report_is_pending() {
        let mut q = CrwQueue::new();
        assert_eq!(q.push_css_event(0xfe), Queued::Yes);
        assert_eq!(q.push_css_event(0xfe), Queued::AlreadyPending);
        assert_eq!(q.len(), 1);
        assert_eq!(q.stcrw().crw().into_bits(), 0x0b00_00fe);
        // Still outstanding until SEI drained the events.
        assert_eq!(q.push_css_event(0xfe), Queued::AlreadyPending);
        q.css_events_drained();
        assert!(!q.css_event_pending());
        assert_eq!(q.push_css_event(0), Queued::Yes);
        assert!(q.css_event_pending());
    }

    #[test]
    fn lost_css_event_report_can_be_retried() {
        let mut q = CrwQueue::new();
        for n in 0..CAP16 {
            q.push(sch_crw(n));
        }
        assert_eq!(q.push_css_event(0), Queued::Lost);
        assert!(!q.css_event_pending());
        q.stcrw();
        assert_eq!(q.push_css_event(0), Queued::Yes);
    }

    #[test]
    fn reset_empties_and_rearms() {
        let mut q = CrwQueue::new();
        q.push(sch_crw(1));
        q.push_css_event(0);
        q.reset();
        assert!(q.is_empty());
        assert!(!q.css_event_pending());
        assert!(!q.machine_check_pending());
        q.push(sch_crw(2));
        assert!(q.take_machine_check_pending());
    }
}
