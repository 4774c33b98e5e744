//! The track cache of the image stores: a fixed set of slots, each holding
//! one track image, replaced by the clock algorithm. Written tracks stay
//! dirty in their slot until the store commits them (write-back); the
//! clock never evicts a dirty slot, and the store commits before the dirty
//! slots reach half the cache, so a read always finds a slot. A slot's
//! buffer is allocated on its first use and reused after.

use std::collections::HashMap;

use super::OpenOptions;
use crate::store::{check_track, StoreError, TrackStore};
use crate::track::{validate, Records, TrackAddr, COUNT_LEN, HA_LEN};

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

/// Overwrites `data` at `offset` of a cached track image: only key and
/// data areas may change (not the home address, a count or the end
/// marker), so the track keeps its layout.
pub(crate) fn patch(img: &mut [u8], t: TrackAddr, offset: usize, data: &[u8]) -> Result<(), StoreError> {
    let end = offset.checked_add(data.len()).ok_or(StoreError::OutOfTrack(t))?;
    if end > img.len() {
        return Err(StoreError::OutOfTrack(t));
    }
    let hits = |lo: usize, hi: usize| offset < hi && lo < end;
    let layout = || StoreError::Damaged(format!("track {t}: an update would change the track's layout"));
    if hits(0, HA_LEN) {
        return Err(layout());
    }
    let mut it = Records::new(img);
    for r in it.by_ref() {
        let r = r.map_err(|source| StoreError::Format { track: t, source })?;
        if hits(r.offset, r.offset + COUNT_LEN) {
            return Err(layout());
        }
    }
    let eot = it.position();
    if hits(eot, eot + COUNT_LEN) {
        return Err(layout());
    }
    img[offset..end].copy_from_slice(data);
    Ok(())
}

/// What both image formats keep in front of their files: the geometry, the
/// access mode and the track cache.
#[derive(Debug)]
pub(crate) struct Front {
    /// Cylinders of the volume.
    pub cylinders: u32,
    /// Track slot size (the longest track image the image holds).
    pub slot: u32,
    /// Opened for writing.
    pub writable: bool,
    /// Commit at every sync point.
    pub write_through: bool,
    /// The track cache.
    pub cache: TrackCache,
}

impl Front {
    /// The front of an image of `cylinders` cylinders with `slot`-byte
    /// track slots, opened with `opts`.
    pub(crate) fn new(cylinders: u32, slot: u32, opts: &OpenOptions) -> Self {
        Self {
            cylinders,
            slot,
            writable: opts.writable,
            write_through: opts.write_through,
            cache: TrackCache::new(opts.cache_tracks, usize::try_from(slot).unwrap_or(usize::MAX)),
        }
    }
}

/// An image format behind a [`Front`]: how a track gets into the cache,
/// how a written track gets a slot, and how dirty tracks reach the files.
/// Every such format is a [`TrackStore`] in the same way.
pub(crate) trait CachedImage: Send {
    /// The front.
    fn front(&self) -> &Front;
    /// The front, to change.
    fn front_mut(&mut self) -> &mut Front;
    /// Reads track `t` from the files into cache slot `slot` (claimed for
    /// it; dropped again if this fails).
    ///
    /// # Errors
    /// The image could not be read, or the track in it is damaged.
    fn fill(&mut self, t: TrackAddr, slot: usize) -> Result<(), StoreError>;
    /// Makes the dirty tracks durable in the files.
    ///
    /// # Errors
    /// The files could not be written.
    fn commit(&mut self) -> Result<(), StoreError>;

    /// The cache slot holding track `t`, read from the files if needed.
    ///
    /// # Errors
    /// No such track, or the image could not be read.
    fn load(&mut self, t: TrackAddr) -> Result<usize, StoreError> {
        check_track(t, self.front().cylinders)?;
        let n = t.index();
        if let Some(i) = self.front_mut().cache.lookup(n) {
            return Ok(i);
        }
        let i = self.claim(n)?;
        if let Err(e) = self.fill(t, i) {
            self.front_mut().cache.drop_slot(i);
            return Err(e);
        }
        Ok(i)
    }

    /// A cache slot for writing track `t`: its cached copy or a fresh slot
    /// (read-only images refuse).
    ///
    /// # Errors
    /// Read-only, no such track, or a commit to make room failed.
    fn slot_for_write(&mut self, t: TrackAddr) -> Result<usize, StoreError> {
        if !self.front().writable {
            return Err(StoreError::ReadOnly);
        }
        check_track(t, self.front().cylinders)?;
        if self.front().cache.dirty_full() {
            self.commit()?;
        }
        let n = t.index();
        if let Some(i) = self.front_mut().cache.lookup(n) {
            return Ok(i);
        }
        self.claim(n)
    }

    /// A clean slot for track number `n`, committing first if every slot
    /// is dirty.
    ///
    /// # Errors
    /// The commit failed.
    fn claim(&mut self, n: u64) -> Result<usize, StoreError> {
        if let Some(i) = self.front_mut().cache.claim(n) {
            return Ok(i);
        }
        self.commit()?;
        self.front_mut()
            .cache
            .claim(n)
            .ok_or_else(|| StoreError::Damaged("track cache has no clean slot".into()))
    }
}

impl<T: CachedImage> TrackStore for T {
    fn cylinders(&self) -> u32 {
        self.front().cylinders
    }

    fn read(&mut self, t: TrackAddr) -> Result<&[u8], StoreError> {
        let i = self.load(t)?;
        Ok(&self.front().cache.slot(i).data)
    }

    fn write(&mut self, t: TrackAddr, image: &[u8]) -> Result<(), StoreError> {
        let len = validate(image).map_err(|source| StoreError::Format { track: t, source })?;
        let max = self.max_track_len();
        if len > max {
            return Err(StoreError::TooLong { track: t, len, max });
        }
        let i = self.slot_for_write(t)?;
        let cache = &mut self.front_mut().cache;
        let buf = cache.data_mut(i);
        buf.clear();
        buf.extend_from_slice(&image[..len]);
        cache.mark_dirty(i);
        Ok(())
    }

    fn update(&mut self, t: TrackAddr, offset: usize, data: &[u8]) -> Result<(), StoreError> {
        if !self.front().writable {
            return Err(StoreError::ReadOnly);
        }
        if self.front().cache.dirty_full() {
            self.commit()?;
        }
        let i = self.load(t)?;
        let cache = &mut self.front_mut().cache;
        patch(cache.data_mut(i), t, offset, data)?;
        cache.mark_dirty(i);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if self.front().writable {
            self.commit()?;
        }
        Ok(())
    }

    fn sync_point(&mut self) -> Result<(), StoreError> {
        if self.front().write_through {
            self.flush()?;
        }
        Ok(())
    }

    fn max_track_len(&self) -> usize {
        usize::try_from(self.front().slot).unwrap_or(usize::MAX)
    }
}
