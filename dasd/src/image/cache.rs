//! The track cache of the image stores: a fixed set of slots, each holding
//! one track image, replaced by the clock algorithm. Written tracks stay
//! dirty in their slot until the store commits them (write-back); the
//! clock never evicts a dirty slot, and the store commits before the dirty
//! slots reach half the cache, so a read always finds a slot. A slot's
//! buffer is allocated on its first use and reused after.

use std::collections::HashMap;

/// One cached track.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    /// Relative track number, when the slot holds one.
    pub track: Option<u64>,
    /// The track image.
    pub data: Vec<u8>,
    /// Written since the last commit.
    pub dirty: bool,
    referenced: bool,
}

/// The cache.
#[derive(Debug)]
pub(crate) struct TrackCache {
    slots: Vec<Slot>,
    map: HashMap<u64, usize>,
    hand: usize,
    dirty: usize,
    capacity: usize,
}

impl TrackCache {
    /// A cache of `slots` tracks (at least 2) of up to `capacity` bytes.
    pub(crate) fn new(slots: usize, capacity: usize) -> Self {
        let n = slots.max(2);
        Self {
            slots: (0..n).map(|_| Slot::default()).collect(),
            map: HashMap::with_capacity(n),
            hand: 0,
            dirty: 0,
            capacity,
        }
    }

    /// The slot holding track `t`.
    pub(crate) fn lookup(&mut self, t: u64) -> Option<usize> {
        let i = *self.map.get(&t)?;
        self.slots[i].referenced = true;
        Some(i)
    }

    /// The slot `i`.
    pub(crate) fn slot(&self, i: usize) -> &Slot {
        &self.slots[i]
    }

    /// The data buffer of slot `i`.
    pub(crate) fn data_mut(&mut self, i: usize) -> &mut Vec<u8> {
        &mut self.slots[i].data
    }

    /// Dirty slots.
    pub(crate) const fn dirty(&self) -> usize {
        self.dirty
    }

    /// Whether the dirty slots reached half the cache (the store commits
    /// before writing more).
    pub(crate) fn dirty_full(&self) -> bool {
        self.dirty * 2 >= self.slots.len()
    }

    /// Takes a clean slot for track `t` (evicting what it held) and returns
    /// its emptied buffer's slot index; `None` if every slot is dirty.
    pub(crate) fn claim(&mut self, t: u64) -> Option<usize> {
        let n = self.slots.len();
        let mut victim = None;
        for _ in 0..2 * n {
            let i = self.hand;
            self.hand = (self.hand + 1) % n;
            let s = &mut self.slots[i];
            if s.dirty {
                continue;
            }
            if s.referenced && s.track.is_some() {
                s.referenced = false;
                continue;
            }
            victim = Some(i);
            break;
        }
        let i = victim?;
        let cap = self.capacity;
        let s = &mut self.slots[i];
        if let Some(old) = s.track.take() {
            self.map.remove(&old);
        }
        if s.data.capacity() < cap {
            s.data = Vec::with_capacity(cap);
        }
        s.data.clear();
        s.track = Some(t);
        s.referenced = true;
        self.map.insert(t, i);
        Some(i)
    }

    /// Forgets slot `i`'s track (its load failed).
    pub(crate) fn drop_slot(&mut self, i: usize) {
        let s = &mut self.slots[i];
        if s.dirty {
            s.dirty = false;
            self.dirty -= 1;
        }
        if let Some(t) = s.track.take() {
            self.map.remove(&t);
        }
    }

    /// Marks slot `i` written.
    pub(crate) fn mark_dirty(&mut self, i: usize) {
        let s = &mut self.slots[i];
        if !s.dirty {
            s.dirty = true;
            self.dirty += 1;
        }
    }

    /// The dirty slots' tracks and images, by track number.
    pub(crate) fn dirty_slots(&self) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.slots.len()).filter(|&i| self.slots[i].dirty).collect();
        v.sort_by_key(|&i| self.slots[i].track);
        v
    }

    /// Marks every slot clean (its contents committed).
    pub(crate) fn clean_all(&mut self) {
        for s in &mut self.slots {
            s.dirty = false;
        }
        self.dirty = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_evicts_clean_slots_and_keeps_dirty_ones() {
        let mut c = TrackCache::new(3, 16);
        let a = c.claim(1).unwrap();
        c.mark_dirty(a);
        let b = c.claim(2).unwrap();
        let d = c.claim(3).unwrap();
        assert_ne!(a, b);
        assert_ne!(b, d);
        // Track 4 evicts a clean one, never the dirty track 1.
        let e = c.claim(4).unwrap();
        assert_ne!(e, a);
        assert_eq!(c.lookup(1), Some(a));
        assert!(c.dirty_full() || c.dirty() == 1);
        assert_eq!(c.dirty_slots(), vec![a]);
        c.clean_all();
        assert_eq!(c.dirty(), 0);
    }

    #[test]
    fn all_dirty_cache_has_no_slot() {
        let mut c = TrackCache::new(2, 8);
        for t in 0..2 {
            let i = c.claim(t).unwrap();
            c.mark_dirty(i);
        }
        assert_eq!(c.claim(9), None);
        assert!(c.dirty_full());
    }
}
