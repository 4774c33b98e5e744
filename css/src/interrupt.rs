//! Pending I/O interruptions: one FIFO queue per interruption subclass
//! (Principles of Operation, chapter 6, "I/O Interruption", and chapter 16,
//! "Interruption-Response Block": a subchannel that becomes status pending
//! makes an I/O-interruption request for the ISC in its PMCW; requests are
//! presented ISC 0 first, and within an ISC in the order they were made).
//!
//! Each queue entry names the subchannel and the sequence number of the
//! request. A subchannel holds at most one live request at a time (its state
//! remembers the sequence number). TEST SUBCHANNEL, CLEAR SUBCHANNEL and the
//! other withdrawals do not touch the shared queue: they only forget the
//! sequence number in the subchannel, which makes the entry stale. That
//! keeps the one shared structure out of the TSCH path (two CPUs on one ISC
//! would otherwise contend for its cache line twice per I/O). Delivery skips
//! stale entries, and a push compacts the queue whenever it has doubled
//! since the last compaction, so a queue never holds more than twice its live
//! requests plus `COMPACT_MIN` (64) entries.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Queue length below which a push never compacts.
pub(crate) const COMPACT_MIN: usize = 64;

/// One ISC's entries and the length at which the next push compacts them.
#[derive(Debug)]
struct Queue {
    entries: VecDeque<Entry>,
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

/// One ISC's queue and its "not empty" flag (which may stay set while only
/// stale entries remain), alone in its cache lines so that CPUs working on
/// different ISCs do not share a line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Slot {
    queue: Mutex<Queue>,
    nonempty: AtomicBool,
}

/// The eight per-ISC FIFO queues.
#[derive(Debug, Default)]
pub(crate) struct IoQueues {
    slots: [Slot; 8],
}

impl IoQueues {
    /// Appends `e` to queue `isc`. When the queue has doubled since its last
    /// compaction, drops the entries `live` says are stale first (`live`
    /// must not lock a subchannel: the caller may hold one).
    pub fn push(&self, isc: u8, e: Entry, live: impl Fn(&Entry) -> bool) {
        let slot = &self.slots[usize::from(isc & 7)];
        let mut q = slot.queue.lock();
        if q.entries.len() >= q.compact_at {
            q.entries.retain(|e| live(e));
            q.compact_at = COMPACT_MIN.max(2 * q.entries.len());
        }
        q.entries.push_back(e);
        slot.nonempty.store(true, Ordering::Release);
    }

    /// Empties every queue (I/O-system reset, after every request was withdrawn).
    pub fn clear(&self) {
        for slot in &self.slots {
            let mut q = slot.queue.lock();
            q.entries.clear();
            q.compact_at = COMPACT_MIN;
            slot.nonempty.store(false, Ordering::Release);
        }
    }

    /// Pops the oldest entry of queue `isc`.
    pub fn pop(&self, isc: u8) -> Option<Entry> {
        let slot = &self.slots[usize::from(isc & 7)];
        if !slot.nonempty.load(Ordering::Acquire) {
            return None;
        }
        let mut q = slot.queue.lock();
        let e = q.entries.pop_front();
        if q.entries.is_empty() {
            slot.nonempty.store(false, Ordering::Release);
        }
        e
    }

    /// CR6-order mask of ISCs with a live request: stale entries at the
    /// head of each non-empty queue are dropped first (`live` must not lock
    /// a subchannel).
    pub fn live_mask(&self, live: impl Fn(&Entry) -> bool) -> u8 {
        let mut m = 0;
        for (i, slot) in self.slots.iter().enumerate() {
            if !slot.nonempty.load(Ordering::Acquire) {
                continue;
            }
            let mut q = slot.queue.lock();
            while q.entries.front().is_some_and(|e| !live(e)) {
                q.entries.pop_front();
            }
            if q.entries.is_empty() {
                slot.nonempty.store(false, Ordering::Release);
            } else {
                m |= 0x80 >> i;
            }
        }
        m
    }

    /// CR6-order mask of ISCs with queued entries (possibly only stale ones:
    /// a hint, delivery decides).
    pub fn pending_mask(&self) -> u8 {
        let mut m = 0;
        for (i, slot) in self.slots.iter().enumerate() {
            if slot.nonempty.load(Ordering::Acquire) {
                m |= 0x80 >> i;
            }
        }
        m
    }

    /// All entries (for invariant checks).
    pub fn snapshot(&self) -> Vec<(u8, Entry)> {
        let mut v = Vec::new();
        for (isc, slot) in (0u8..).zip(self.slots.iter()) {
            v.extend(slot.queue.lock().entries.iter().map(|&e| (isc, e)));
        }
        v
    }
}
