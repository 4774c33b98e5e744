//! Hercules CKD volume images as [`TrackStore`]s.
//!
//! Two formats, both as made by Hercules' `dasdinit` (Hercules 3.13
//! `hstructs.h`, `ckddasd.c`, `cckddasd.c`, `dasdutil.c`;
//! `shared/spec/dasd-notes.md` §5):
//! * [`CkdImage`] — `CKD_P370`: a 512-byte device header, then one fixed
//!   slot per track (56,832 bytes for a 3390), the track image at its
//!   start and zeros after it. A volume beyond 2 GiB may be split over
//!   files `name_1.ext`, `name_2.ext`, … (the device headers carry the
//!   file sequence and each file's highest cylinder).
//! * [`CckdImage`] — `CKD_C370`: device header, compressed header, a
//!   level-1 table of level-2 table offsets, level-2 tables of 256 track
//!   entries (offset, length, size), track images (the 5-byte home address
//!   in clear, its first byte naming the compression of the rest: none or
//!   zlib) anywhere in the file, and free space between them. A track not
//!   stored is a null track of format 0, 1 or 2.
//!
//! [`Image`] opens either (the device header says which), read-only or
//! read-write, with a write-back track cache.
//!
//! # Durability
//!
//! A *commit* makes every write completed before it durable; it runs on
//! [`TrackStore::flush`], on drop, at [`TrackStore::sync_point`] when the
//! image is opened write-through, and whenever the cache's dirty tracks
//! fill half of it. After a crash at any point the image opens and every
//! track holds its contents as of the last completed commit or of a later
//! write — never a torn or mixed image:
//! * P370 overwrites track slots in place, so a commit first writes every
//!   dirty track to the journal beside the image (`<image>.zcss-journal`,
//!   checksummed) and syncs it, then writes the slots and syncs the image,
//!   then empties the journal. Opening replays a valid journal and drops
//!   an invalid one (`journal` module).
//! * CCKD writes new track images only to space no committed level-2 entry
//!   refers to (free space, or the end of the file) and syncs them; the
//!   level-1 and level-2 tables and the header then change through the
//!   same journal. Space a commit frees becomes reusable only after it.
//!   While the image is open read-write its header carries Hercules'
//!   OPENED bit (so Hercules' `cckdcdsk` and Hercules itself rebuild the
//!   free space of an image left open by a crash); a clean close writes
//!   the free-space list (Hercules' new format, at the end of the file) and
//!   the exact space statistics, so `cckdcdsk -2` finds nothing to fix.
//!
//! Tests cut the write sequence at every operation on a crash-simulating
//! [`io::Storage`] and check every track of the reopened image
//! (`tests/image_crash.rs`), and kill a writer process.

mod cache;
mod cckd;
mod ckd;
mod create;
mod header;
pub mod io;
mod journal;
#[cfg(any(test, feature = "test-utils"))]
pub mod sim;
mod space;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

pub use cckd::{CckdImage, Compression};
pub use ckd::CkdImage;
pub use create::{create, CreateOptions, Format, SPLIT_CYLINDERS};
pub use header::{ImageKind, TRACK_SLOT_3390};
pub use io::{BlockFile, HostStorage, Storage};
pub use journal::journal_path;

use crate::geometry::Model;
use crate::store::{StoreError, TrackStore};
use crate::track::TrackAddr;

/// Why an image could not be opened or created.
#[derive(Debug, Error)]
pub enum ImageError {
    /// An I/O error on a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Not a Hercules CKD image.
    #[error("{}: not a Hercules CKD image (no CKD_P370/CKD_C370 header)", path.display())]
    NotAnImage {
        /// The file.
        path: PathBuf,
    },
    /// A Hercules image this crate does not handle.
    #[error("{}: {what} is not supported", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What.
        what: String,
    },
    /// A damaged image.
    #[error("{}: damaged image: {what}", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The image's geometry does not agree with the model asked for.
    #[error(
        "{}: the image has {cylinders} cylinders, a {}; the device is a {expected} ({} cylinders)",
        path.display(),
        found.map_or_else(|| "size no 3390 model has".to_owned(), |m| m.to_string()),
        expected.cylinders()
    )]
    Geometry {
        /// The file.
        path: PathBuf,
        /// Cylinders of the image.
        cylinders: u32,
        /// The model the image's cylinders make (Hercules' choice).
        found: Option<Model>,
        /// The model asked for.
        expected: Model,
    },
    /// Creating an image whose file exists.
    #[error("{}: exists", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A store error while creating or closing.
    #[error("{}: {source}", path.display())]
    Store {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: StoreError,
    },
}

impl ImageError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn damaged(path: &Path, what: impl Into<String>) -> Self {
        Self::Damaged {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}

/// How to open an image.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Open for writing.
    pub writable: bool,
    /// Commit at every [`TrackStore::sync_point`] (the device calls it
    /// when a channel program that wrote ends).
    pub write_through: bool,
    /// Tracks the cache holds (at least 2; half of them may be dirty).
    pub cache_tracks: usize,
    /// The file system (the host's by default).
    pub storage: Arc<dyn Storage>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            writable: false,
            write_through: false,
            cache_tracks: 256,
            storage: Arc::new(HostStorage),
        }
    }
}

impl OpenOptions {
    /// Read-only, host files.
    #[must_use]
    pub fn read_only() -> Self {
        Self::default()
    }

    /// Read-write with a write-back cache, host files.
    #[must_use]
    pub fn read_write() -> Self {
        Self {
            writable: true,
            ..Self::default()
        }
    }

    /// The same options with write-through set.
    #[must_use]
    pub fn write_through(mut self, on: bool) -> Self {
        self.write_through = on;
        self
    }

    /// The same options on another file system.
    #[must_use]
    pub fn on(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = storage;
        self
    }
}

/// Facts about an open image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The format.
    pub kind: ImageKind,
    /// Cylinders.
    pub cylinders: u32,
    /// The 3390 model the cylinder count makes (primary plus alternate
    /// cylinders, as Hercules picks it), if any.
    pub model: Option<Model>,
    /// The files (several for a split P370 volume).
    pub files: Vec<PathBuf>,
    /// Track slot size of the header (the longest track image).
    pub track_size: u32,
    /// CCKD: the compression of new track images.
    pub compression: Option<Compression>,
    /// CCKD: the null track format of the header.
    pub null_format: Option<u8>,
    /// Opened for writing.
    pub writable: bool,
}

/// An open CKD or CCKD image.
#[derive(Debug)]
pub enum Image {
    /// A `CKD_P370` image.
    Ckd(Box<CkdImage>),
    /// A `CKD_C370` image.
    Cckd(Box<CckdImage>),
}

impl Image {
    /// Opens the image at `path` (for a split volume, the first file).
    ///
    /// # Errors
    /// The file is missing, not an image, damaged or of an unsupported
    /// kind.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self, ImageError> {
        let f = opts.storage.open(path, false).map_err(|e| ImageError::io(path, e))?;
        let mut h = [0u8; header::HEADER_LEN];
        f.read_at(&mut h, 0).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => ImageError::NotAnImage {
                path: path.to_path_buf(),
            },
            _ => ImageError::io(path, e),
        })?;
        drop(f);
        match header::DevHeader::parse(&h).map(|d| d.kind) {
            Some(ImageKind::Plain) => Ok(Self::Ckd(Box::new(CkdImage::open(path, opts)?))),
            Some(ImageKind::Compressed) => Ok(Self::Cckd(Box::new(CckdImage::open(path, opts)?))),
            Some(ImageKind::Shadow) => Err(ImageError::Unsupported {
                path: path.to_path_buf(),
                what: "a CCKD shadow file (CKD_S370)".to_owned(),
            }),
            None => Err(ImageError::NotAnImage {
                path: path.to_path_buf(),
            }),
        }
    }

    /// Opens the image and checks that its cylinders make `model` (the
    /// model's primary cylinders plus its alternates at most, more than the
    /// next smaller model's) — the geometry check a device of that model
    /// needs.
    ///
    /// # Errors
    /// As [`Image::open`], or [`ImageError::Geometry`].
    pub fn open_as(path: &Path, opts: &OpenOptions, model: Model) -> Result<Self, ImageError> {
        let img = Self::open(path, opts)?;
        img.check_model(model)?;
        Ok(img)
    }

    /// Checks that the image's cylinders make `model`.
    ///
    /// # Errors
    /// [`ImageError::Geometry`].
    pub fn check_model(&self, model: Model) -> Result<(), ImageError> {
        let info = self.info();
        if info.model == Some(model) {
            Ok(())
        } else {
            Err(ImageError::Geometry {
                path: info.files.first().cloned().unwrap_or_default(),
                cylinders: info.cylinders,
                found: info.model,
                expected: model,
            })
        }
    }

    /// Facts about the image.
    #[must_use]
    pub fn info(&self) -> ImageInfo {
        match self {
            Self::Ckd(i) => i.info(),
            Self::Cckd(i) => i.info(),
        }
    }

    /// Commits, closes the files and reports what failed (dropping does
    /// the same but can only log).
    ///
    /// # Errors
    /// The final commit or close failed.
    pub fn close(self) -> Result<(), StoreError> {
        match self {
            Self::Ckd(i) => (*i).close(),
            Self::Cckd(i) => (*i).close(),
        }
    }

    fn store(&mut self) -> &mut dyn TrackStore {
        match self {
            Self::Ckd(i) => &mut **i,
            Self::Cckd(i) => &mut **i,
        }
    }

    fn store_ref(&self) -> &dyn TrackStore {
        match self {
            Self::Ckd(i) => &**i,
            Self::Cckd(i) => &**i,
        }
    }
}

impl TrackStore for Image {
    fn cylinders(&self) -> u32 {
        self.store_ref().cylinders()
    }

    fn read(&mut self, t: TrackAddr) -> Result<&[u8], StoreError> {
        self.store().read(t)
    }

    fn write(&mut self, t: TrackAddr, image: &[u8]) -> Result<(), StoreError> {
        self.store().write(t, image)
    }

    fn update(&mut self, t: TrackAddr, offset: usize, data: &[u8]) -> Result<(), StoreError> {
        self.store().update(t, offset, data)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.store().flush()
    }

    fn sync_point(&mut self) -> Result<(), StoreError> {
        self.store().sync_point()
    }

    fn max_track_len(&self) -> usize {
        self.store_ref().max_track_len()
    }
}

/// Opens an image as a boxed [`TrackStore`] for a device of `model`.
///
/// # Errors
/// As [`Image::open_as`].
pub fn open_store(path: &Path, opts: &OpenOptions, model: Model) -> Result<Box<dyn TrackStore>, ImageError> {
    Ok(Box::new(Image::open_as(path, opts, model)?))
}
