//! Where a volume's tracks live.
//!
//! A [`TrackStore`] hands out track images (see [`crate::track`]) by track
//! address and takes new ones. The device model works on track images
//! only; the store decides how they are kept: [`MemStore`] keeps written
//! tracks in memory and shows every other track as a formatted empty track
//! (home address, R0, end of track), so a full-size 3390-54 costs only what
//! is written to it; the image stores keep Hercules CKD and CCKD files.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use thiserror::Error;

use crate::track::{validate, TrackAddr, TrackBuilder, TrackFormatError};

/// A failure of the store (host side): the device presents it to the guest
/// as an equipment check.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The track is beyond the volume.
    #[error("track {0} is beyond the volume")]
    NoSuchTrack(TrackAddr),
    /// A track image is not well formed.
    #[error("track {track}: {source}")]
    Format {
        /// The track.
        track: TrackAddr,
        /// What is wrong.
        #[source]
        source: TrackFormatError,
    },
    /// A track image is longer than the store can hold.
    #[error("track {track}: {len} bytes do not fit the {max}-byte track slot")]
    TooLong {
        /// The track.
        track: TrackAddr,
        /// Its length.
        len: usize,
        /// What the store holds.
        max: usize,
    },
    /// An update reaches beyond the track image.
    #[error("track {0}: update outside the track image")]
    OutOfTrack(TrackAddr),
    /// The store is read-only.
    #[error("the volume is read-only")]
    ReadOnly,
    /// An I/O error of the image file.
    #[error("image I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The image file is damaged.
    #[error("image damaged: {0}")]
    Damaged(String),
}

/// Track-level access to a volume.
pub trait TrackStore: Send {
    /// Cylinders of the volume (15 tracks each).
    fn cylinders(&self) -> u32;

    /// The image of track `t`, from the home address through the end
    /// marker.
    ///
    /// # Errors
    /// No such track, or the image could not be read.
    fn read(&mut self, t: TrackAddr) -> Result<&[u8], StoreError>;

    /// Replaces track `t` with `image` (a well-formed track image).
    ///
    /// # Errors
    /// No such track, a malformed or too long image, or the write failed.
    fn write(&mut self, t: TrackAddr, image: &[u8]) -> Result<(), StoreError>;

    /// Overwrites `data.len()` bytes of track `t`'s image at `offset` (an
    /// update of record contents that keeps the track's layout). The
    /// default reads, patches and writes the whole track.
    ///
    /// # Errors
    /// As [`TrackStore::write`], or [`StoreError::OutOfTrack`].
    fn update(&mut self, t: TrackAddr, offset: usize, data: &[u8]) -> Result<(), StoreError> {
        let mut img = self.read(t)?.to_vec();
        let end = offset.checked_add(data.len()).ok_or(StoreError::OutOfTrack(t))?;
        img.get_mut(offset..end)
            .ok_or(StoreError::OutOfTrack(t))?
            .copy_from_slice(data);
        self.write(t, &img)
    }

    /// Makes every completed write durable.
    ///
    /// # Errors
    /// The flush failed.
    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// The device calls this when a channel program that wrote ends (with
    /// device end): a store opened write-through commits, every other does
    /// nothing.
    ///
    /// # Errors
    /// The commit failed.
    fn sync_point(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Largest track image the store can hold (a Hercules image's track
    /// slot); the device refuses layouts beyond it.
    fn max_track_len(&self) -> usize {
        usize::MAX
    }

    /// The tracks held only in memory, by relative track number, for a
    /// snapshot: `Some` for a store in memory ([`MemStore`], the written
    /// tracks of a [`CowStore`]); `None` for a store whose contents live in
    /// its file (a snapshot flushes it and carries no tracks).
    fn memory_tracks(&self) -> Option<Vec<(u64, Vec<u8>)>> {
        None
    }

    /// Replaces the tracks held in memory with `tracks` (restore of
    /// [`TrackStore::memory_tracks`]).
    ///
    /// # Errors
    /// [`StoreError::ReadOnly`] for a store without tracks in memory; a
    /// track beyond the volume or a malformed image.
    fn set_memory_tracks(&mut self, _tracks: Vec<(u64, Vec<u8>)>) -> Result<(), StoreError> {
        Err(StoreError::ReadOnly)
    }
}

/// Checks that `t` is on a volume of `cylinders` cylinders.
///
/// # Errors
/// [`StoreError::NoSuchTrack`].
pub fn check_track(t: TrackAddr, cylinders: u32) -> Result<(), StoreError> {
    if t.cyl < cylinders && t.head < crate::geometry::HEADS {
        Ok(())
    } else {
        Err(StoreError::NoSuchTrack(t))
    }
}

/// Hashes a relative track number with one multiplication (Fibonacci
/// hashing): the device looks a track up for every record it reads, and
/// the keys are bounded track numbers (fewer than a million on a
/// 3390-54), not arbitrary data.
#[derive(Debug, Default, Clone, Copy)]
pub struct TrackHasher(u64);

impl Hasher for TrackHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A volume in memory: written tracks are kept, every other track reads as
/// a formatted empty track.
#[derive(Debug, Default)]
pub struct MemStore {
    cylinders: u32,
    tracks: HashMap<u64, Vec<u8>, BuildHasherDefault<TrackHasher>>,
    empty: TrackBuilder,
}

impl MemStore {
    /// An empty volume of `cylinders` cylinders (every track formatted with
    /// HA and R0 only, as `dasdinit` leaves tracks past track 0).
    #[must_use]
    pub fn new(cylinders: u32) -> Self {
        Self {
            cylinders,
            tracks: HashMap::default(),
            empty: TrackBuilder::default(),
        }
    }

    /// Tracks that were written (the memory the volume costs).
    #[must_use]
    pub fn written_tracks(&self) -> usize {
        self.tracks.len()
    }
}

impl TrackStore for MemStore {
    fn cylinders(&self) -> u32 {
        self.cylinders
    }

    fn read(&mut self, t: TrackAddr) -> Result<&[u8], StoreError> {
        check_track(t, self.cylinders)?;
        match self.tracks.get(&t.index()) {
            Some(img) => Ok(img),
            None => Ok(self.empty.start(t).finish()),
        }
    }

    fn write(&mut self, t: TrackAddr, image: &[u8]) -> Result<(), StoreError> {
        check_track(t, self.cylinders)?;
        let len = validate(image).map_err(|source| StoreError::Format { track: t, source })?;
        let slot = self.tracks.entry(t.index()).or_default();
        slot.clear();
        slot.extend_from_slice(&image[..len]);
        Ok(())
    }

    fn update(&mut self, t: TrackAddr, offset: usize, data: &[u8]) -> Result<(), StoreError> {
        check_track(t, self.cylinders)?;
        if !self.tracks.contains_key(&t.index()) {
            let img = self.empty.start(t).finish().to_vec();
            self.tracks.insert(t.index(), img);
        }
        let img = self.tracks.get_mut(&t.index()).ok_or(StoreError::OutOfTrack(t))?;
        let end = offset.checked_add(data.len()).ok_or(StoreError::OutOfTrack(t))?;
        img.get_mut(offset..end)
            .ok_or(StoreError::OutOfTrack(t))?
            .copy_from_slice(data);
        Ok(())
    }

    fn memory_tracks(&self) -> Option<Vec<(u64, Vec<u8>)>> {
        let mut v: Vec<_> = self.tracks.iter().map(|(k, t)| (*k, t.clone())).collect();
        v.sort_by_key(|(k, _)| *k);
        Some(v)
    }

    fn set_memory_tracks(&mut self, tracks: Vec<(u64, Vec<u8>)>) -> Result<(), StoreError> {
        self.tracks.clear();
        for (k, img) in tracks {
            self.write(TrackAddr::from_index(k), &img)?;
        }
        Ok(())
    }
}

/// A volume whose writes stay in memory over a base store that is only
/// read (replay over an image it must not modify).
#[derive(Debug)]
pub struct CowStore<S> {
    base: S,
    written: HashMap<u64, Vec<u8>>,
    max: usize,
}

impl<S: TrackStore> CowStore<S> {
    /// Writes over `base` kept in memory.
    #[must_use]
    pub fn new(base: S) -> Self {
        let max = base.max_track_len();
        Self {
            base,
            written: HashMap::new(),
            max,
        }
    }

    /// Tracks written (held in memory).
    #[must_use]
    pub fn written_tracks(&self) -> usize {
        self.written.len()
    }

    /// The base store.
    pub fn into_base(self) -> S {
        self.base
    }
}

impl<S: TrackStore> TrackStore for CowStore<S> {
    fn cylinders(&self) -> u32 {
        self.base.cylinders()
    }

    fn read(&mut self, t: TrackAddr) -> Result<&[u8], StoreError> {
        check_track(t, self.base.cylinders())?;
        match self.written.get(&t.index()) {
            Some(img) => Ok(img),
            None => self.base.read(t),
        }
    }

    fn write(&mut self, t: TrackAddr, image: &[u8]) -> Result<(), StoreError> {
        check_track(t, self.base.cylinders())?;
        let len = validate(image).map_err(|source| StoreError::Format { track: t, source })?;
        if len > self.max {
            return Err(StoreError::TooLong {
                track: t,
                len,
                max: self.max,
            });
        }
        let slot = self.written.entry(t.index()).or_default();
        slot.clear();
        slot.extend_from_slice(&image[..len]);
        Ok(())
    }

    fn update(&mut self, t: TrackAddr, offset: usize, data: &[u8]) -> Result<(), StoreError> {
        check_track(t, self.base.cylinders())?;
        if !self.written.contains_key(&t.index()) {
            let img = self.base.read(t)?.to_vec();
            self.written.insert(t.index(), img);
        }
        let img = self.written.get_mut(&t.index()).ok_or(StoreError::OutOfTrack(t))?;
        let end = offset.checked_add(data.len()).ok_or(StoreError::OutOfTrack(t))?;
        img.get_mut(offset..end)
            .ok_or(StoreError::OutOfTrack(t))?
            .copy_from_slice(data);
        Ok(())
    }

    fn max_track_len(&self) -> usize {
        self.max
    }

    fn memory_tracks(&self) -> Option<Vec<(u64, Vec<u8>)>> {
        let mut v: Vec<_> = self.written.iter().map(|(k, t)| (*k, t.clone())).collect();
        v.sort_by_key(|(k, _)| *k);
        Some(v)
    }

    fn set_memory_tracks(&mut self, tracks: Vec<(u64, Vec<u8>)>) -> Result<(), StoreError> {
        self.written.clear();
        for (k, img) in tracks {
            self.write(TrackAddr::from_index(k), &img)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::{Count, Records};

    #[test]
    fn unwritten_tracks_read_as_formatted_empty_tracks() {
        let mut s = MemStore::new(10);
        let img = s.read(TrackAddr::new(9, 14)).unwrap().to_vec();
        let recs: Vec<_> = Records::new(&img).map(Result::unwrap).collect();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].count, Count::new(9, 14, 0, 0, 8));
        assert_eq!(s.written_tracks(), 0);
        assert!(matches!(s.read(TrackAddr::new(10, 0)), Err(StoreError::NoSuchTrack(_))));
        assert!(matches!(s.read(TrackAddr::new(0, 15)), Err(StoreError::NoSuchTrack(_))));
    }

    #[test]
    fn cow_store_keeps_writes_off_its_base() {
        let t = TrackAddr::new(1, 2);
        let mut base = MemStore::new(2);
        let mut b = TrackBuilder::default();
        let orig = b
            .start(t)
            .record(Count::new(1, 2, 1, 0, 0), &[], &[1; 8])
            .finish()
            .to_vec();
        base.write(t, &orig).unwrap();
        let mut cow = CowStore::new(base);
        cow.update(t, orig.len() - 16, &[9; 8]).unwrap();
        assert_eq!(&cow.read(t).unwrap()[orig.len() - 16..orig.len() - 8], &[9; 8]);
        let other = TrackAddr::new(0, 0);
        let img = b.start(other).finish().to_vec();
        cow.write(other, &img).unwrap();
        assert_eq!(cow.written_tracks(), 2);
        assert!(matches!(
            cow.read(TrackAddr::new(2, 0)),
            Err(StoreError::NoSuchTrack(_))
        ));
        let mut base = cow.into_base();
        assert_eq!(base.read(t).unwrap(), &orig[..]);
        assert_eq!(base.written_tracks(), 1);
    }

    #[test]
    fn writes_and_updates_are_read_back() {
        let mut s = MemStore::new(2);
        let t = TrackAddr::new(1, 2);
        let mut b = TrackBuilder::default();
        let img = b
            .start(t)
            .record(Count::new(1, 2, 1, 0, 0), &[], &[7; 16])
            .finish()
            .to_vec();
        s.write(t, &img).unwrap();
        assert_eq!(s.read(t).unwrap(), &img[..]);
        s.update(t, img.len() - 8 - 16, &[9; 4]).unwrap();
        assert_eq!(&s.read(t).unwrap()[img.len() - 24..img.len() - 20], &[9; 4]);
        assert!(matches!(s.update(t, img.len(), &[1]), Err(StoreError::OutOfTrack(_))));
        assert!(matches!(s.write(t, &img[..10]), Err(StoreError::Format { .. })));
    }
}
