//! Track access for the device: track images straight from the
//! [`TrackStore`] for reads and update writes, and one write-back buffer
//! for the track being formatted.
//!
//! A format write (WRITE CKD, WRITE R0, ERASE, …) changes a track's
//! layout record by record; rebuilding and storing the whole track after
//! each record would copy a track per record. The device instead edits a
//! copy of the track in [`Volume`]'s buffer and stores it once, when the
//! channel program moves to another track or ends (the device calls
//! [`Volume::flush`]). Until then reads of that track see the buffer.
//! Reads never copy a track: they borrow the store's image and the device
//! moves the record straight into the data stream.

use crate::eckd::sense::Fault;
use crate::store::{StoreError, TrackStore};
use crate::track::{self, TrackAddr};

/// The volume behind the device.
pub struct Volume {
    store: Box<dyn TrackStore>,
    cylinders: u32,
    pending: Option<TrackAddr>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Volume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Volume")
            .field("cylinders", &self.cylinders)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

/// How a store failure reaches the guest.
#[must_use]
pub fn fault_of(e: &StoreError) -> Fault {
    match e {
        StoreError::Format { .. } | StoreError::Damaged(_) => Fault::DataCheck,
        StoreError::TooLong { .. } => Fault::InvalidTrackFormat,
        StoreError::ReadOnly => Fault::WriteInhibited,
        StoreError::NoSuchTrack(_) | StoreError::OutOfTrack(_) | StoreError::Io(_) => Fault::EquipmentCheck,
    }
}

fn log(e: &StoreError) -> Fault {
    tracing::warn!("dasd store: {e}");
    fault_of(e)
}

impl Volume {
    /// The volume in `store`. The buffer is allocated here, once.
    #[must_use]
    pub fn new(store: Box<dyn TrackStore>) -> Self {
        let cylinders = store.cylinders();
        Self {
            store,
            cylinders,
            pending: None,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Cylinders of the volume.
    #[must_use]
    pub const fn cylinders(&self) -> u32 {
        self.cylinders
    }

    /// The longest track image the store holds.
    #[must_use]
    pub fn max_track_len(&self) -> usize {
        self.store.max_track_len()
    }

    /// The store (for embedders: flush, inspection).
    pub fn store_mut(&mut self) -> &mut dyn TrackStore {
        self.store.as_mut()
    }

    /// Puts `wrap(store)` in the store's place — a wrapper that observes
    /// it (the fuzzing probe); a pending edit is stored first.
    ///
    /// # Errors
    /// The pending edit cannot be stored (the store stays as it was).
    #[cfg(any(test, feature = "test-utils"))]
    pub(crate) fn wrap_store(
        &mut self,
        wrap: impl FnOnce(Box<dyn TrackStore>) -> Box<dyn TrackStore>,
    ) -> Result<(), Fault> {
        self.flush()?;
        let store = std::mem::replace(&mut self.store, Box::new(crate::store::MemStore::new(0)));
        self.store = wrap(store);
        Ok(())
    }

    /// The image of track `t` (the edited copy while it is pending).
    ///
    /// # Errors
    /// The store's failure as a fault.
    #[inline]
    pub fn track(&mut self, t: TrackAddr) -> Result<&[u8], Fault> {
        if self.pending == Some(t) {
            return Ok(&self.buf);
        }
        self.store.read(t).map_err(|e| log(&e))
    }

    /// The editable image of track `t`: the pending copy, or a fresh copy
    /// of the stored track (another pending track is stored first).
    ///
    /// # Errors
    /// The store's failure as a fault.
    pub fn edit(&mut self, t: TrackAddr) -> Result<&mut Vec<u8>, Fault> {
        if self.pending != Some(t) {
            self.flush()?;
            let img = self.store.read(t).map_err(|e| log(&e))?;
            self.buf.clear();
            self.buf.extend_from_slice(img);
            self.pending = Some(t);
        }
        Ok(&mut self.buf)
    }

    /// Overwrites `data.len()` bytes of track `t` at `offset` (record
    /// contents; the layout stays).
    ///
    /// # Errors
    /// The store's failure as a fault.
    pub fn update(&mut self, t: TrackAddr, offset: usize, data: &[u8]) -> Result<(), Fault> {
        if self.pending == Some(t) {
            let end = offset.checked_add(data.len()).ok_or(Fault::EquipmentCheck)?;
            let dst = self.buf.get_mut(offset..end).ok_or(Fault::EquipmentCheck)?;
            dst.copy_from_slice(data);
            return Ok(());
        }
        self.store.update(t, offset, data).map_err(|e| log(&e))
    }

    /// Stores the pending track, if any.
    ///
    /// # Errors
    /// The store's failure as a fault (the track stays pending).
    pub fn flush(&mut self) -> Result<(), Fault> {
        if let Some(t) = self.pending {
            debug_assert!(track::validate(&self.buf).is_ok());
            self.store.write(t, &self.buf).map_err(|e| log(&e))?;
            self.pending = None;
        }
        Ok(())
    }

    /// Stores the pending track and makes every completed write durable.
    ///
    /// # Errors
    /// The store's failure.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        if let Some(t) = self.pending {
            self.store.write(t, &self.buf)?;
            self.pending = None;
        }
        self.store.flush()
    }

    /// The end of a program that wrote: the store's sync point (a commit
    /// when the image is opened write-through).
    pub fn sync_point(&mut self) -> Result<(), StoreError> {
        self.store.sync_point()
    }
}
