//! `CKD_P370` images: fixed track slots, one file or a split volume.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cache::{CachedImage, Front};
use super::header::{DevHeader, ImageKind, HEADER_LEN};
use super::io::{BlockFile, Storage};
use super::journal::{self, Journal, Overlay};
use super::{ImageError, ImageInfo, OpenOptions};
use crate::geometry::{Model, HEADS};
use crate::store::StoreError;
use crate::track::{home_address, validate, TrackAddr};

/// Most cylinders of a volume image (Hercules' limit; a 3390-54 with its
/// alternates has 65,523).
pub(crate) const MAX_CYLINDERS: u32 = 65_536;

/// Most files of a split volume (Hercules `CKD_MAXFILES`).
pub(crate) const MAX_FILES: u32 = 27;

/// The name of file `seq` (1…27) of a split volume whose first file is
/// `first`: the character before the first dot of the file name (or its
/// last character) becomes `seq` in base 36 (Hercules `ckddasd.c`
/// `ckddasd_init_handler`, `dasdutil.c` `create_ckd`).
pub(crate) fn split_name(first: &Path, seq: u32) -> Option<PathBuf> {
    let s = first.to_str()?;
    let name_start = s.rfind('/').map_or(0, |i| i + 1);
    let at = s[name_start..].find('.').map_or(s.len(), |i| name_start + i);
    let pos = at.checked_sub(1)?;
    let c = match seq {
        1..=9 => char::from_digit(seq, 10)?,
        10..=MAX_FILES => char::from(b'A' + u8::try_from(seq - 10).ok()?),
        _ => return None,
    };
    if !s.is_char_boundary(pos) || !s.is_char_boundary(at) {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..pos]);
    out.push(c);
    out.push_str(&s[at..]);
    Some(PathBuf::from(out))
}

/// A `CKD_P370` image.
#[derive(Debug)]
pub struct CkdImage {
    paths: Vec<PathBuf>,
    files: Vec<Box<dyn BlockFile>>,
    /// First relative track of each file, then the volume's track count.
    bounds: Vec<u64>,
    front: Front,
    journal: Journal,
    closed: bool,
    scratch: Vec<u8>,
}

impl CkdImage {
    /// Opens the image whose (first) file is `path`.
    ///
    /// # Errors
    /// A missing, damaged or foreign file.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self, ImageError> {
        let storage: &Arc<dyn Storage> = &opts.storage;
        let mut paths = Vec::new();
        let mut files = Vec::new();
        let mut bounds = vec![0u64];
        let mut cyls_so_far = 0u32;
        let mut slot = 0u32;
        let mut seq = 1u32;
        let mut name = path.to_path_buf();
        loop {
            let f = storage
                .open(&name, opts.writable)
                .map_err(|e| ImageError::io(&name, e))?;
            let mut h = [0u8; HEADER_LEN];
            f.read_at(&mut h, 0).map_err(|e| ImageError::io(&name, e))?;
            let hdr = DevHeader::parse(&h).ok_or_else(|| ImageError::NotAnImage { path: name.clone() })?;
            if hdr.kind != ImageKind::Plain {
                return Err(ImageError::damaged(&name, "a file of a split volume is not CKD_P370"));
            }
            check_3390(&name, &hdr)?;
            if seq == 1 {
                slot = hdr.track_size;
            } else if hdr.track_size != slot {
                return Err(ImageError::damaged(&name, "track size differs from the first file's"));
            }
            let len = f.size().map_err(|e| ImageError::io(&name, e))?;
            let body = len.saturating_sub(HEADER_LEN as u64);
            if len < HEADER_LEN as u64 || body % u64::from(slot) != 0 {
                return Err(ImageError::damaged(&name, "file size is not a whole number of tracks"));
            }
            let trks = body / u64::from(slot);
            if trks % u64::from(HEADS) != 0 {
                return Err(ImageError::damaged(
                    &name,
                    "file size is not a whole number of cylinders",
                ));
            }
            let cyls = u32::try_from(trks / u64::from(HEADS))
                .ok()
                .filter(|&c| c > 0 && cyls_so_far + c <= MAX_CYLINDERS)
                .ok_or_else(|| ImageError::damaged(&name, "no cylinders, or more than a 3390 can have"))?;
            let mut highcyl = u32::from(hdr.highcyl);
            let mut fileseq = u32::from(hdr.fileseq);
            if seq == 1 && highcyl == cyls {
                // A first file holding the whole volume (Hercules' rule).
                fileseq = 0;
                highcyl = 0;
            }
            if fileseq != seq && !(fileseq == 0 && seq == 1) {
                return Err(ImageError::damaged(
                    &name,
                    format!("file out of sequence (header says {fileseq}, expected {seq})"),
                ));
            }
            if highcyl != 0 && highcyl != cyls_so_far + cyls - 1 {
                return Err(ImageError::damaged(
                    &name,
                    "highest cylinder in the header does not match the file size",
                ));
            }
            cyls_so_far += cyls;
            bounds.push(bounds[bounds.len() - 1] + trks);
            paths.push(name.clone());
            files.push(f);
            if highcyl == 0 {
                break;
            }
            seq += 1;
            name = split_name(path, seq)
                .ok_or_else(|| ImageError::damaged(path, "more files than a split volume may have"))?;
        }
        let (journal, pending) = Journal::open(Arc::clone(storage), path, opts.writable)
            .map_err(|e| ImageError::io(&journal::journal_path(path), e))?;
        let mut img = Self {
            paths,
            files,
            bounds,
            front: Front::new(cyls_so_far, slot, opts),
            journal,
            closed: false,
            scratch: vec![0; usize::try_from(slot).unwrap_or(usize::MAX)],
        };
        if !pending.is_empty() {
            if opts.writable {
                journal::apply(&mut img.files, &pending).map_err(|e| ImageError::io(path, e))?;
                img.journal.retire().map_err(|e| ImageError::io(path, e))?;
            } else {
                img.files = std::mem::take(&mut img.files)
                    .into_iter()
                    .zip(0u32..)
                    .map(|(f, i)| Box::new(Overlay::new(f, i, &pending)) as Box<dyn BlockFile>)
                    .collect();
            }
        }
        Ok(img)
    }

    /// Facts about the image.
    #[must_use]
    pub fn info(&self) -> ImageInfo {
        ImageInfo {
            kind: ImageKind::Plain,
            cylinders: self.front.cylinders,
            model: Model::for_image_cylinders(self.front.cylinders),
            files: self.paths.clone(),
            track_size: self.front.slot,
            compression: None,
            null_format: None,
            writable: self.front.writable,
        }
    }

    /// File and offset of track `t`'s slot.
    fn locate(&self, t: u64) -> (usize, u64) {
        let f = self.bounds.partition_point(|&b| b <= t).saturating_sub(1);
        let first = self.bounds[f];
        (f, HEADER_LEN as u64 + (t - first) * u64::from(self.front.slot))
    }

    /// Commits and closes.
    ///
    /// # Errors
    /// The commit failed.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.closed = true;
        if self.front.writable {
            self.commit()?;
        }
        Ok(())
    }
}

/// Checks a 3390 device header.
pub(crate) fn check_3390(path: &Path, h: &DevHeader) -> Result<(), ImageError> {
    if h.devtype != super::header::DEVTYPE_3390 || h.heads != HEADS {
        return Err(ImageError::Unsupported {
            path: path.to_path_buf(),
            what: format!(
                "device type 33{:02X} with {} heads (only the 3390 is)",
                h.devtype, h.heads
            ),
        });
    }
    if h.track_size < 512 || h.track_size > 65_536 {
        return Err(ImageError::damaged(path, format!("track size {}", h.track_size)));
    }
    Ok(())
}

/// Checks a track image read from an image: well formed, for track `t`;
/// returns its length.
pub(crate) fn check_image(t: TrackAddr, img: &[u8]) -> Result<usize, StoreError> {
    let len = validate(img).map_err(|source| StoreError::Format { track: t, source })?;
    let ha = home_address(img).map_err(|source| StoreError::Format { track: t, source })?;
    if Some(ha) != t.cchh() {
        return Err(StoreError::Damaged(format!(
            "track {t}: home address {:02x}{:02x}{:02x}{:02x} is another track's",
            ha[0], ha[1], ha[2], ha[3]
        )));
    }
    Ok(len)
}

impl Drop for CkdImage {
    fn drop(&mut self) {
        if self.front.writable && !self.closed {
            if let Err(e) = self.commit() {
                tracing::warn!(image = %self.paths[0].display(), error = %e, "commit on close failed");
            }
        }
    }
}

impl CachedImage for CkdImage {
    fn front(&self) -> &Front {
        &self.front
    }

    fn front_mut(&mut self) -> &mut Front {
        &mut self.front
    }

    /// Reads track `t`'s slot into cache slot `slot`.
    fn fill(&mut self, t: TrackAddr, slot: usize) -> Result<(), StoreError> {
        let (f, off) = self.locate(t.index());
        // The slot is read into a buffer kept at the slot's size, so no
        // read zero-fills a fresh one.
        self.files[f].read_at(&mut self.scratch, off)?;
        let len = check_image(t, &self.scratch)?;
        let buf = self.front.cache.data_mut(slot);
        buf.clear();
        buf.extend_from_slice(&self.scratch[..len]);
        Ok(())
    }

    /// Commits every dirty track: journal, then the slots in place.
    fn commit(&mut self) -> Result<(), StoreError> {
        if self.front.cache.dirty() == 0 {
            return Ok(());
        }
        let dirty = self.front.cache.dirty_slots();
        self.journal.begin();
        for &i in &dirty {
            let s = self.front.cache.slot(i);
            let (f, off) = self.locate(s.track.unwrap_or(0));
            self.journal
                .write(u32::try_from(f).unwrap_or(u32::MAX), off, &s.data, self.front.slot);
        }
        self.journal.commit()?;
        let mut touched = vec![false; self.files.len()];
        for &i in &dirty {
            let s = self.front.cache.slot(i);
            let (f, off) = self.locate(s.track.unwrap_or(0));
            journal::write_filled(&mut *self.files[f], off, &s.data, self.front.slot)?;
            touched[f] = true;
        }
        for (f, t) in self.files.iter_mut().zip(touched) {
            if t {
                f.sync()?;
            }
        }
        self.journal.retire()?;
        self.front.cache.clean_all();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names_follow_hercules() {
        let p = Path::new("/d/vol_1.3390");
        assert_eq!(split_name(p, 2).unwrap(), Path::new("/d/vol_2.3390"));
        assert_eq!(split_name(p, 10).unwrap(), Path::new("/d/vol_A.3390"));
        assert_eq!(split_name(Path::new("/a.b/vol_1"), 3).unwrap(), Path::new("/a.b/vol_3"));
        assert_eq!(split_name(p, 28), None);
    }
}
