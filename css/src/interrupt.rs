//! Pending I/O interruptions: one FIFO queue per interruption subclass
//! (Principles of Operation, chapter 6, "I/O Interruption", and chapter 16,
//! "Interruption-Response Block": a subchannel that becomes status pending
//! makes an I/O-interruption request for the ISC in its PMCW; requests are
//! presented ISC 0 first, and within an ISC in the order they were made).
//!
//! Each queue entry names the subchannel and the sequence number of the
//! request. A subchannel holds at most one request at a time (its state
//! remembers the sequence number), so a queue never holds more entries than
//! there are subchannels, and TEST SUBCHANNEL or CLEAR SUBCHANNEL remove
//! the entry outright: there are no stale entries.

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

/// One ISC's queue and its "not empty" flag, alone in its cache lines so
/// that CPUs working on different ISCs do not share a line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Slot {
    queue: Mutex<VecDeque<Entry>>,
    nonempty: AtomicBool,
}

/// The eight per-ISC FIFO queues.
#[derive(Debug, Default)]
pub(crate) struct IoQueues {
    slots: [Slot; 8],
}

impl IoQueues {
    pub fn push(&self, isc: u8, e: Entry) {
        let slot = &self.slots[usize::from(isc & 7)];
        let mut q = slot.queue.lock();
        q.push_back(e);
        slot.nonempty.store(true, Ordering::Release);
    }

    /// Removes the entry of `sid` with `seq` from queue `isc`.
    pub fn remove(&self, isc: u8, sid: SubchannelId, seq: u32) -> bool {
        let slot = &self.slots[usize::from(isc & 7)];
        let mut q = slot.queue.lock();
        let Some(pos) = q.iter().position(|e| e.sid == sid && e.seq == seq) else {
            return false;
        };
        q.remove(pos);
        if q.is_empty() {
            slot.nonempty.store(false, Ordering::Release);
        }
        true
    }

    /// Pops the oldest entry of queue `isc`.
    pub fn pop(&self, isc: u8) -> Option<Entry> {
        let slot = &self.slots[usize::from(isc & 7)];
        if !slot.nonempty.load(Ordering::Acquire) {
            return None;
        }
        let mut q = slot.queue.lock();
        let e = q.pop_front();
        if q.is_empty() {
            slot.nonempty.store(false, Ordering::Release);
        }
        e
    }

    /// CR6-order mask of ISCs with queued requests.
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
            v.extend(slot.queue.lock().iter().map(|&e| (isc, e)));
        }
        v
    }
}
