//! Pending I/O interruptions (Principles of Operation, chapter 6, "I/O
//! Interruption", and chapter 16, "Interruption-Response Block": a
//! subchannel that becomes status pending makes an I/O-interruption request
//! for the interruption subclass (ISC) in its PMCW; the requests of an
//! enabled ISC are presented by priority, ISC 0 first).
//!
//! # Order of presentation
//!
//! [`crate::Css::next_interrupt`] and TEST PENDING INTERRUPTION take the
//! request of the lowest-numbered enabled ISC that has one; within an ISC,
//! I/O-interruption requests come before the ISC's adapter interruption,
//! and among the I/O-interruption requests of one ISC:
//!
//! * **Requests made on one thread are presented in the order they were
//!   made.** A request is made on the thread whose call into the css made
//!   the subchannel status pending: an instruction method (START, HALT,
//!   CLEAR, RESUME SUBCHANNEL…), [`crate::Css::poll`] or another method
//!   that applies passthrough completions, or a device's
//!   [`crate::InterruptSink`] call. If one thread makes subchannel A and
//!   then subchannel B status pending on ISC 3, A is presented before B.
//!   This holds however many threads exist.
//! * **Requests made on different threads** are presented in the order of
//!   the monotonic clock ([`std::time::Instant`]) read when each request
//!   was made. That clock never goes backwards, so a request whose making
//!   happens after the making of another (in the sense of the Rust memory
//!   model: the second thread synchronized with the first after the first
//!   request, through a lock, a channel, a join, a status it observed) is
//!   not presented before it — except when both clock readings are equal,
//!   which the clock does not exclude; then either may come first. Requests
//!   made concurrently on different threads may be presented in either
//!   order.
//! * A request withdrawn (TEST SUBCHANNEL, CLEAR SUBCHANNEL, reset, detach)
//!   and made again is ordered by when it was made again.
//!
//! A single-threaded user — a trace replay, a test — therefore sees exact
//! FIFO order within an ISC.
//!
//! # Structure
//!
//! Linux places every I/O subchannel on ISC 3, so CPUs doing I/O on
//! distinct subchannels of one ISC is the common case; one queue per ISC
//! would make its lock and cache lines the one point all of them contend
//! for. Instead the requests are sharded by thread: a thread claims one of
//! the css's 16 shards the first time it makes a request — a free one if
//! there is one, else the one the fewest threads hold; a thread's claim
//! ends when it exits — and always queues into it. A shard
//! holds one FIFO queue per ISC behind one lock, in its own cache lines;
//! its "non-empty" mask sits in separate cache lines and is written only
//! when a queue of the shard becomes empty or non-empty. Making a request
//! thus writes only lines of the calling thread's own shard. Each entry
//! carries the clock reading taken under the shard lock, so every queue is
//! sorted by it; delivery takes the oldest head among the shards that have
//! entries for the ISC.
//!
//! Each queue entry names the subchannel and the sequence number of the
//! request. A subchannel holds at most one live request at a time (the
//! sequence number in its `queued` word). TEST SUBCHANNEL, CLEAR SUBCHANNEL
//! and the other withdrawals do not touch the queues: they only forget the
//! sequence number in the subchannel, which makes the entry stale (the
//! request may sit in another thread's shard). Delivery skips stale
//! entries, and a push compacts its queue whenever the queue has doubled
//! since its last compaction (and holds at least 64 entries), so no queue
//! ever holds more than twice the number of subchannels, or 64 entries if
//! that is more.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use zcss_ccw::sid::SubchannelId;

pub use zcss_ccw::intcode::InterruptionCode;

/// Why the embedder is being woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wake {
    /// An I/O interruption became pending on ISC `isc`.
    Io {
        /// The interruption subclass.
        isc: u8,
    },
    /// An adapter interruption became pending on ISC `isc`.
    Adapter {
        /// The interruption subclass.
        isc: u8,
    },
    /// A channel report is pending: a CRW machine check should be presented.
    ChannelReport,
    /// A passthrough device completed work: call [`crate::Css::poll`].
    Completion,
}

/// A queued I/O-interruption request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub sid: SubchannelId,
    pub seq: u32,
}

/// Number of shards per channel subsystem: up to this many threads make
/// requests without sharing a shard.
pub(crate) const SHARDS: usize = 16;

/// Queue length below which a push never compacts.
const COMPACT_MIN: usize = 64;

/// An entry and the clock reading taken when it was queued.
#[derive(Debug, Clone, Copy)]
struct Queued {
    entry: Entry,
    at: Instant,
}

/// One ISC's entries in one shard, and the length at which the next push
/// compacts them.
#[derive(Debug)]
struct Queue {
    entries: VecDeque<Queued>,
    compact_at: usize,
}

impl Default for Queue {
    fn default() -> Self {
        Self {
            entries: VecDeque::new(),
            compact_at: COMPACT_MIN,
        }
    }
}

/// One shard: a queue per ISC behind one lock, alone in its cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    queues: Mutex<[Queue; 8]>,
}

/// A shard's CR6-order mask of non-empty queues (possibly holding only
/// stale entries), alone in its cache lines. Written only with the shard
/// locked and only when a bit changes; read without the lock as a hint.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Hint(AtomicU8);

impl Hint {
    fn set(&self, bit: u8, on: bool) {
        let old = self.0.load(Ordering::Relaxed);
        let new = if on { old | bit } else { old & !bit };
        if new != old {
            self.0.store(new, Ordering::Release);
        }
    }
}

/// The pending I/O-interruption requests of a channel subsystem, sharded
/// by thread (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct IoQueues {
    hints: [Hint; SHARDS],
    shards: [Shard; SHARDS],
}

/// Threads holding each shard index (process-wide: a thread uses the same
/// index in every channel subsystem).
static CLAIMS: [AtomicUsize; SHARDS] = [const { AtomicUsize::new(0) }; SHARDS];

/// Releases the calling thread's shard claim when the thread exits.
struct Release(Cell<usize>);

impl Drop for Release {
    fn drop(&mut self) {
        if let Some(c) = CLAIMS.get(self.0.get()) {
            c.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

thread_local! {
    /// The calling thread's shard index, `usize::MAX` before its first
    /// request. No destructor: it stays readable while the thread's other
    /// thread-locals are destroyed.
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    static RELEASE: Release = const { Release(Cell::new(usize::MAX)) };
}

/// The calling thread's shard index.
#[inline]
fn my_shard() -> usize {
    let k = SHARD.with(Cell::get);
    if k < SHARDS {
        k
    } else {
        claim_shard()
    }
}

/// Claims a shard for the calling thread: a free one if any, else the one
/// held by the fewest threads.
#[cold]
fn claim_shard() -> usize {
    let k = (0..SHARDS)
        .find(|&k| {
            CLAIMS[k]
                .compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        })
        .unwrap_or_else(|| {
            let k = (0..SHARDS)
                .min_by_key(|&k| CLAIMS[k].load(Ordering::Relaxed))
                .unwrap_or(0);
            CLAIMS[k].fetch_add(1, Ordering::Relaxed);
            k
        });
    SHARD.with(|s| s.set(k));
    // During thread exit the release guard may already be gone: then the
    // claim is simply never released (shards are shared, never exhausted).
    let _ = RELEASE.try_with(|r| r.0.set(k));
    k
}

impl IoQueues {
    /// Queues `e` on ISC `isc` in the calling thread's shard. When that
    /// queue has doubled since its last compaction, drops the entries
    /// `live` says are stale first (`live` must not lock a subchannel: the
    /// caller may hold one).
    pub fn push(&self, isc: u8, e: Entry, live: impl Fn(&Entry) -> bool) {
        let i = usize::from(isc & 7);
        let k = my_shard();
        let mut queues = self.shards[k].queues.lock();
        let q = &mut queues[i];
        if q.entries.len() >= q.compact_at {
            q.entries.retain(|q| live(&q.entry));
            q.compact_at = COMPACT_MIN.max(2 * q.entries.len());
        }
        // Read under the lock: every queue is sorted by `at`.
        q.entries.push_back(Queued {
            entry: e,
            at: Instant::now(),
        });
        self.hints[k].set(0x80 >> i, true);
    }

    /// Empties every queue (I/O-system reset, after every request was withdrawn).
    pub fn clear(&self) {
        for (shard, hint) in self.shards.iter().zip(&self.hints) {
            let mut queues = shard.queues.lock();
            for q in queues.iter_mut() {
                q.entries.clear();
                q.compact_at = COMPACT_MIN;
            }
            hint.0.store(0, Ordering::Release);
        }
    }

    /// Pops the oldest entry of ISC `isc` over all shards (possibly a
    /// stale one: the caller checks and asks again).
    pub fn pop(&self, isc: u8) -> Option<Entry> {
        let i = usize::from(isc & 7);
        let bit = 0x80u8 >> i;
        loop {
            let mut candidates = (0..SHARDS).filter(|&k| self.hints[k].0.load(Ordering::Acquire) & bit != 0);
            let first = candidates.next()?;
            let Some(second) = candidates.next() else {
                // One shard has entries: no clock comparison needed.
                return self.pop_front(first, i);
            };
            // Several shards: find the oldest head, then take it if it is
            // still there (another CPU may have taken it meanwhile).
            let mut oldest: Option<(Instant, usize)> = None;
            for k in [first, second].into_iter().chain(candidates) {
                let queues = self.shards[k].queues.lock();
                if let Some(h) = queues[i].entries.front() {
                    if oldest.is_none_or(|(at, _)| h.at < at) {
                        oldest = Some((h.at, k));
                    }
                }
            }
            let (at, k) = oldest?;
            let mut queues = self.shards[k].queues.lock();
            let q = &mut queues[i];
            if q.entries.front().is_some_and(|h| h.at == at) {
                let e = q.entries.pop_front().map(|q| q.entry);
                self.hints[k].set(bit, !q.entries.is_empty());
                return e;
            }
        }
    }

    /// Pops the head of queue `i` of shard `k`.
    fn pop_front(&self, k: usize, i: usize) -> Option<Entry> {
        let mut queues = self.shards[k].queues.lock();
        let q = &mut queues[i];
        let e = q.entries.pop_front().map(|q| q.entry);
        self.hints[k].set(0x80 >> i, !q.entries.is_empty());
        e
    }

    /// CR6-order mask of ISCs with a live request: stale entries at the
    /// head of each non-empty queue are dropped first (`live` must not lock
    /// a subchannel).
    pub fn live_mask(&self, live: impl Fn(&Entry) -> bool) -> u8 {
        let mut m = 0;
        for (shard, hint) in self.shards.iter().zip(&self.hints) {
            let bits = hint.0.load(Ordering::Acquire);
            if bits == 0 {
                continue;
            }
            let mut queues = shard.queues.lock();
            for (i, q) in queues.iter_mut().enumerate() {
                let bit = 0x80u8 >> i;
                if bits & bit == 0 {
                    continue;
                }
                while q.entries.front().is_some_and(|q| !live(&q.entry)) {
                    q.entries.pop_front();
                }
                hint.set(bit, !q.entries.is_empty());
                if !q.entries.is_empty() {
                    m |= bit;
                }
            }
        }
        m
    }

    /// CR6-order mask of ISCs with queued entries (possibly only stale ones:
    /// a hint, delivery decides).
    pub fn pending_mask(&self) -> u8 {
        self.hints.iter().fold(0, |m, h| m | h.0.load(Ordering::Acquire))
    }

    /// All entries with their ISCs, each ISC's in the order delivery takes
    /// them (for invariant checks).
    pub fn snapshot(&self) -> Vec<(u8, Entry)> {
        let mut v = Vec::new();
        for shard in &self.shards {
            let queues = shard.queues.lock();
            for (isc, q) in (0u8..).zip(queues.iter()) {
                v.extend(q.entries.iter().map(|q| (isc, q.at, q.entry)));
            }
        }
        v.sort_by_key(|&(isc, at, _)| (isc, at));
        v.into_iter().map(|(isc, _, e)| (isc, e)).collect()
    }

    /// Checks the bound compaction keeps: no queue longer than twice the
    /// `subchannels` that exist, or `COMPACT_MIN` if that is more.
    ///
    /// # Errors
    /// A description of the first queue over the bound.
    pub fn check_bound(&self, subchannels: usize) -> Result<(), String> {
        let bound = COMPACT_MIN.max(2 * subchannels);
        for (k, shard) in self.shards.iter().enumerate() {
            let queues = shard.queues.lock();
            for (isc, q) in queues.iter().enumerate() {
                if q.entries.len() > bound {
                    return Err(format!(
                        "ISC {isc} shard {k}: {} queued interruptions for {subchannels} subchannels",
                        q.entries.len()
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn entry(schno: u16, seq: u32) -> Entry {
        Entry {
            sid: SubchannelId {
                cssid: 0xfe,
                ssid: 0,
                schno,
            },
            seq,
        }
    }

    fn drain(q: &IoQueues, isc: u8) -> Vec<u16> {
        std::iter::from_fn(|| q.pop(isc)).map(|e| e.sid.schno).collect()
    }

    #[test]
    fn pop_after_pushes_on_one_thread_returns_them_in_push_order() {
        let q = IoQueues::default();
        for s in [5, 1, 9, 3] {
            q.push(3, entry(s, 1), |_| true);
        }
        assert_eq!(drain(&q, 3), vec![5, 1, 9, 3]);
        assert_eq!(q.pending_mask(), 0);
    }

    /// Thread A queues 1 and 2, then thread B (still alive beside A, so in
    /// another shard) queues 3, then A queues 4: delivery follows the order
    /// in which they were made.
    #[test]
    fn pop_after_pushes_on_two_threads_in_sequence_returns_them_in_order() {
        let q = IoQueues::default();
        let (to_b, b_rx) = mpsc::channel::<()>();
        let (to_a, a_rx) = mpsc::channel::<()>();
        let shards = std::thread::scope(|s| {
            let q = &q;
            let a = s.spawn(move || {
                q.push(3, entry(1, 1), |_| true);
                q.push(3, entry(2, 1), |_| true);
                to_b.send(()).unwrap();
                a_rx.recv().unwrap();
                q.push(3, entry(4, 1), |_| true);
                my_shard()
            });
            let b = s.spawn(move || {
                b_rx.recv().unwrap();
                q.push(3, entry(3, 1), |_| true);
                let k = my_shard();
                to_a.send(()).unwrap();
                k
            });
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_ne!(shards.0, shards.1);
        assert_eq!(drain(&q, 3), vec![1, 2, 3, 4]);
    }

    #[test]
    fn live_mask_with_only_stale_entries_clears_the_hint() {
        let q = IoQueues::default();
        q.push(3, entry(1, 1), |_| true);
        q.push(5, entry(2, 1), |_| true);
        assert_eq!(q.pending_mask(), 0x10 | 0x04);
        assert_eq!(q.live_mask(|e| e.sid.schno == 2), 0x04);
        assert_eq!(q.pending_mask(), 0x04);
    }

    #[test]
    fn push_with_stale_entries_compacts_and_stays_bounded() {
        let q = IoQueues::default();
        for seq in 1..=10_000u32 {
            q.push(3, entry(0, seq), |e| e.seq == seq);
        }
        q.check_bound(1).unwrap();
        assert!(q.snapshot().len() <= COMPACT_MIN);
    }

    #[test]
    fn clear_after_pushes_leaves_nothing_pending() {
        let q = IoQueues::default();
        q.push(0, entry(1, 1), |_| true);
        q.push(7, entry(2, 1), |_| true);
        q.clear();
        assert_eq!(q.pending_mask(), 0);
        assert_eq!(q.pop(0), None);
        assert!(q.snapshot().is_empty());
    }
}
