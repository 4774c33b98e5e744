//! # zcss-dasd — an IBM 3390 behind a 3990 storage control
//!
//! An ECKD direct-access storage device for the zcss channel subsystem:
//! the 3390 models 1, 2, 3, 9, 27 and 54 behind a 3990 (plain, model 3 or
//! model 6), interpreted CCW by CCW as a [`zcss_css::Device`], on volumes
//! stored as Hercules CKD (`CKD_P370`) or compressed CCKD (`CKD_C370`)
//! images, or in memory.
//!
//! Layers, bottom up:
//! * [`geometry`] — models, cylinders, heads and the real 3390 track
//!   capacity (1729 cells of 34 bytes after R0);
//! * [`track`] — the track image (home address, R0, records, end of
//!   track) as bytes, with its record walk and builder;
//! * [`store`] — [`store::TrackStore`], where a volume's tracks live: in
//!   memory ([`store::MemStore`]) or in image files ([`image`]: Hercules
//!   CKD and CCKD images with a write-back cache and a journal);
//! * [`layout`] — what `dasdinit` writes on a new volume, the VTOC
//!   `fdasd -a` writes, and their readers;
//! * [`eckd`] — the device: [`Dasd`], a 3390 behind a 3990 executing ECKD
//!   channel programs as a [`zcss_css::Device`];
//! * [`linux`] — a model of Linux's DASD driver (cio, `dasd_eckd`,
//!   `dasdfmt`, `fdasd`) that runs its channel programs through a channel
//!   subsystem: the engine of `zcss dasd format`;
//! * `mock` (feature `test-utils`) — the device and the Linux sessions the
//!   driver's tests (and other crates' tests) use.
//! * `fuzzing` (feature `test-utils`; with `arbitrary`, ECKD starts for the
//!   fuzz harness) — a DASD whose store writes are
//!   observed, with the extent in force, for the `dasd_eckd` fuzz target;
//!
//! Reference facts: `shared/spec/dasd-notes.md` of the project; the IBM
//! 3990 Storage Control Reference (GA32-0099) and 3390 reference.
#![deny(missing_docs)]

pub mod eckd;
#[cfg(any(test, feature = "test-utils"))]
pub mod fuzzing;
pub mod geometry;
pub mod image;
pub mod layout;
pub mod linux;
#[cfg(any(test, feature = "test-utils"))]
pub mod mock;
pub mod store;
pub mod track;

pub use eckd::{Dasd, DasdConfig};
pub use geometry::{ControlUnit, Model};
pub use image::{open_store, Image, ImageError, OpenOptions};
pub use layout::{Volser, VolumeSpec};
pub use store::{CowStore, MemStore, StoreError, TrackStore};
pub use track::{Count, TrackAddr};
