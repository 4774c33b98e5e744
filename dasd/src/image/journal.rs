//! The write-ahead journal beside an image (`<image>.zcss-journal`).
//!
//! Everything a commit changes in place in an image file — a P370 track
//! slot, a CCKD header, level-1 entries or level-2 table, the length of the
//! file — is first written to the journal as one checksummed batch and
//! synced; only then are the changes applied to the image and the image
//! synced, and the journal emptied. On open a valid journal (magic,
//! header checksum, body checksum, complete length) is applied again —
//! applying it twice gives the same bytes — and an invalid one (a commit
//! cut before its journal was durable) is discarded: the image was not
//! touched by that commit yet. A commit is therefore all or nothing.
//!
//! ```text
//! header (64 bytes, little-endian)
//!   0  magic "ZCSSJNL1"     8  sequence number   16  body length
//!  24  record count        28  CRC-32 of the body
//!  32  CRC-32 of bytes 0..32, then zeros (checked)
//! record
//!   0  kind (0 write, 1 set length)   4  file index
//!   8  offset (write) or length (set length)
//!  16  data length   20  fill: the write covers max(data, fill) bytes,
//!      zeros after the data
//!  24  data
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::io::{BlockFile, Storage};

const MAGIC: &[u8; 8] = b"ZCSSJNL1";
const HEADER_LEN: usize = 64;
const RECORD_HEADER_LEN: usize = 24;
/// The largest body the journal accepts on replay (a commit of a cache
/// full of P370 tracks is a few tens of MiB).
const MAX_BODY: u64 = 1 << 32;

/// A change to an image file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Write `data`, then zeros up to `fill` bytes, at `offset`.
    Write {
        /// Which file of a multi-file volume.
        file: u32,
        /// Byte offset.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
        /// Bytes covered (zeros after `data`).
        fill: u32,
    },
    /// Set the file's length.
    SetLen {
        /// Which file.
        file: u32,
        /// The length.
        len: u64,
    },
}

impl Change {
    /// The file the change applies to.
    pub(crate) const fn file(&self) -> u32 {
        match self {
            Self::Write { file, .. } | Self::SetLen { file, .. } => *file,
        }
    }
}

/// The journal file of one image.
#[derive(Debug)]
pub(crate) struct Journal {
    storage: Arc<dyn Storage>,
    path: PathBuf,
    file: Option<Box<dyn BlockFile>>,
    seq: u64,
    buf: Vec<u8>,
    count: u32,
}

/// The journal's name beside an image file (`<image>.zcss-journal`).
#[must_use]
pub fn journal_path(image: &Path) -> PathBuf {
    let mut s = image.as_os_str().to_owned();
    s.push(".zcss-journal");
    PathBuf::from(s)
}

fn crc(b: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(b);
    c.sum()
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Decodes a journal's bytes: the changes of a complete, valid commit, or
/// `None`.
pub(crate) fn parse(bytes: &[u8]) -> Option<(u64, Vec<Change>)> {
    let h = bytes.get(..HEADER_LEN)?;
    if &h[..8] != MAGIC || crc(&h[..32]) != le32(h, 32) || h[36..].iter().any(|&b| b != 0) {
        return None;
    }
    let seq = le64(h, 8);
    let body_len = le64(h, 16);
    let count = le32(h, 24);
    if body_len > MAX_BODY {
        return None;
    }
    let body = bytes.get(HEADER_LEN..HEADER_LEN + usize::try_from(body_len).ok()?)?;
    if crc(body) != le32(h, 28) {
        return None;
    }
    let mut out = Vec::new();
    let mut pos = 0usize;
    for _ in 0..count {
        let r = body.get(pos..pos + RECORD_HEADER_LEN)?;
        let kind = le32(r, 0);
        let file = le32(r, 4);
        let off = le64(r, 8);
        let len = usize::try_from(le32(r, 16)).ok()?;
        let fill = le32(r, 20);
        let data = body.get(pos + RECORD_HEADER_LEN..pos + RECORD_HEADER_LEN + len)?;
        pos += RECORD_HEADER_LEN + len;
        out.push(match kind {
            0 => Change::Write {
                file,
                offset: off,
                data: data.to_vec(),
                fill,
            },
            1 => Change::SetLen { file, len: off },
            _ => return None,
        });
    }
    (pos == body.len()).then_some((seq, out))
}

impl Journal {
    /// The journal of the image at `image`; returns it with the changes of
    /// a committed batch not yet known applied (to apply before anything
    /// else). A writable journal discards an invalid file's contents.
    ///
    /// # Errors
    /// The journal exists but cannot be read (or emptied).
    pub(crate) fn open(storage: Arc<dyn Storage>, image: &Path, writable: bool) -> io::Result<(Self, Vec<Change>)> {
        let path = journal_path(image);
        let mut j = Self {
            storage,
            path,
            file: None,
            seq: 0,
            buf: Vec::new(),
            count: 0,
        };
        if !j.storage.exists(&j.path) {
            return Ok((j, Vec::new()));
        }
        let f = j.storage.open(&j.path, writable)?;
        let len = usize::try_from(f.size()?).unwrap_or(usize::MAX);
        let mut bytes = vec![0u8; len.min(HEADER_LEN + usize::try_from(MAX_BODY).unwrap_or(usize::MAX))];
        f.read_at(&mut bytes, 0)?;
        j.file = Some(f);
        match parse(&bytes) {
            Some((seq, changes)) => {
                j.seq = seq;
                Ok((j, changes))
            }
            None => {
                if writable && len > 0 {
                    j.retire()?;
                }
                Ok((j, Vec::new()))
            }
        }
    }

    /// Starts a batch.
    pub(crate) fn begin(&mut self) {
        self.buf.clear();
        self.buf.resize(HEADER_LEN, 0);
        self.count = 0;
    }

    fn push_record(&mut self, kind: u32, file: u32, off: u64, data: &[u8], fill: u32) {
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(&kind.to_le_bytes());
        self.buf.extend_from_slice(&file.to_le_bytes());
        self.buf.extend_from_slice(&off.to_le_bytes());
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(&fill.to_le_bytes());
        self.buf.extend_from_slice(data);
        self.count += 1;
    }

    /// Adds a write of `data` (then zeros up to `fill` bytes) at `offset`
    /// of file `file`.
    pub(crate) fn write(&mut self, file: u32, offset: u64, data: &[u8], fill: u32) {
        self.push_record(0, file, offset, data, fill);
    }

    /// Adds a length change of file `file`.
    pub(crate) fn set_len(&mut self, file: u32, len: u64) {
        self.push_record(1, file, len, &[], 0);
    }

    /// Writes the batch and makes it durable: from here on the batch is
    /// committed (a crash replays it).
    ///
    /// # Errors
    /// The journal could not be written or synced.
    pub(crate) fn commit(&mut self) -> io::Result<()> {
        self.seq += 1;
        let body_len = (self.buf.len() - HEADER_LEN) as u64;
        let body_crc = crc(&self.buf[HEADER_LEN..]);
        let h = &mut self.buf[..HEADER_LEN];
        h[..8].copy_from_slice(MAGIC);
        h[8..16].copy_from_slice(&self.seq.to_le_bytes());
        h[16..24].copy_from_slice(&body_len.to_le_bytes());
        h[24..28].copy_from_slice(&self.count.to_le_bytes());
        h[28..32].copy_from_slice(&body_crc.to_le_bytes());
        let hc = crc(&h[..32]);
        h[32..36].copy_from_slice(&hc.to_le_bytes());
        if self.file.is_none() {
            let f = self.storage.create(&self.path)?;
            self.file = Some(f);
            let dir = self.path.parent().unwrap_or_else(|| Path::new(""));
            self.storage.sync_dir(dir)?;
        }
        let f = self.file.as_mut().ok_or_else(|| io::Error::other("journal not open"))?;
        f.write_at(&self.buf, 0)?;
        f.sync()
    }

    /// Empties the journal once its batch is applied and durable in the
    /// image (not synced: replaying an applied batch again is harmless).
    ///
    /// # Errors
    /// The journal could not be cut.
    pub(crate) fn retire(&mut self) -> io::Result<()> {
        if let Some(f) = self.file.as_mut() {
            f.set_len(0)?;
        }
        Ok(())
    }
}

/// Zeros for fills.
static ZEROS: [u8; 65_536] = [0; 65_536];

/// Writes `data` at `offset`, then zeros up to `fill` bytes.
///
/// # Errors
/// A write failed.
pub(crate) fn write_filled(f: &mut dyn BlockFile, offset: u64, data: &[u8], fill: u32) -> io::Result<()> {
    f.write_at(data, offset)?;
    let mut at = offset + data.len() as u64;
    let end = offset + u64::from(fill);
    while at < end {
        let n = usize::try_from(end - at).unwrap_or(usize::MAX).min(ZEROS.len());
        f.write_at(&ZEROS[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Applies changes to the files and syncs the files touched.
///
/// # Errors
/// A write or sync failed, or a change names a file that is not there.
pub(crate) fn apply(files: &mut [Box<dyn BlockFile>], changes: &[Change]) -> io::Result<()> {
    let mut touched = vec![false; files.len()];
    for c in changes {
        let i = usize::try_from(c.file()).unwrap_or(usize::MAX);
        let f = files
            .get_mut(i)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "journal names a file the volume lacks"))?;
        touched[i] = true;
        match c {
            Change::Write { offset, data, fill, .. } => write_filled(&mut **f, *offset, data, *fill)?,
            Change::SetLen { len, .. } => f.set_len(*len)?,
        }
    }
    for (f, t) in files.iter_mut().zip(touched) {
        if t {
            f.sync()?;
        }
    }
    Ok(())
}

/// A read-only view of a file with a committed journal's changes laid
/// over it (a read-only open of an image whose last commit was not yet
/// applied).
#[derive(Debug)]
pub(crate) struct Overlay {
    inner: Box<dyn BlockFile>,
    changes: Vec<Change>,
}

impl Overlay {
    /// `inner` as the changes of file `file` leave it.
    pub(crate) fn new(inner: Box<dyn BlockFile>, file: u32, changes: &[Change]) -> Self {
        Self {
            inner,
            changes: changes.iter().filter(|c| c.file() == file).cloned().collect(),
        }
    }
}

impl BlockFile for Overlay {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let len = self.size()?;
        let end = offset + buf.len() as u64;
        if end > len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"));
        }
        super::io::read_zero_filled(&*self.inner, buf, offset)?;
        // Later changes win; set-length cuts zero what lies beyond.
        for c in &self.changes {
            match c {
                Change::Write {
                    offset: o, data, fill, ..
                } => {
                    let cover = (data.len() as u64).max(u64::from(*fill));
                    let lo = offset.max(*o);
                    let hi = end.min(o + cover);
                    if lo < hi {
                        let idx = |p: u64, base: u64| usize::try_from(p - base).unwrap_or(usize::MAX);
                        // The data part, then zeros of the fill.
                        let data_hi = hi.min(o + data.len() as u64).max(lo);
                        buf[idx(lo, offset)..idx(data_hi, offset)]
                            .copy_from_slice(&data[idx(lo, *o)..idx(data_hi, *o)]);
                        buf[idx(data_hi, offset)..idx(hi, offset)].fill(0);
                    }
                }
                Change::SetLen { len: l, .. } => {
                    let from = usize::try_from(offset.max(*l).min(end) - offset).unwrap_or(usize::MAX);
                    buf[from..].fill(0);
                }
            }
        }
        Ok(())
    }

    fn write_at(&mut self, _: &[u8], _: u64) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, "read-only"))
    }

    fn size(&self) -> io::Result<u64> {
        let mut len = self.inner.size()?;
        for c in &self.changes {
            match c {
                Change::Write { offset, data, fill, .. } => {
                    len = len.max(offset + (data.len() as u64).max(u64::from(*fill)));
                }
                Change::SetLen { len: l, .. } => len = *l,
            }
        }
        Ok(len)
    }

    fn set_len(&mut self, _: u64) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, "read-only"))
    }

    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::sim::SimStorage;

    fn batch(j: &mut Journal) {
        j.begin();
        j.write(0, 4, b"abc", 6);
        j.set_len(0, 8);
    }

    #[test]
    fn committed_batch_parses_back() {
        let fs = SimStorage::new();
        let (mut j, pending) = Journal::open(Arc::new(fs.clone()), Path::new("img"), true).unwrap();
        assert!(pending.is_empty());
        batch(&mut j);
        j.commit().unwrap();
        let bytes = fs.files()[&journal_path(Path::new("img"))].clone();
        let (seq, changes) = parse(&bytes).unwrap();
        assert_eq!(seq, 1);
        assert_eq!(
            changes,
            vec![
                Change::Write {
                    file: 0,
                    offset: 4,
                    data: b"abc".to_vec(),
                    fill: 6
                },
                Change::SetLen { file: 0, len: 8 }
            ]
        );
        let (_, again) = Journal::open(Arc::new(fs), Path::new("img"), false).unwrap();
        assert_eq!(again, changes);
    }

    #[test]
    fn any_damage_invalidates_the_batch() {
        let fs = SimStorage::new();
        let (mut j, _) = Journal::open(Arc::new(fs.clone()), Path::new("img"), true).unwrap();
        batch(&mut j);
        j.commit().unwrap();
        let bytes = fs.files()[&journal_path(Path::new("img"))].clone();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert_eq!(parse(&b), None, "byte {i}");
        }
        for cut in 0..bytes.len() {
            assert_eq!(parse(&bytes[..cut]), None, "cut {cut}");
        }
    }

    #[test]
    fn apply_and_overlay_agree() {
        let fs = SimStorage::new();
        let mut f = fs.create(Path::new("img")).unwrap();
        f.write_at(b"0123456789", 0).unwrap();
        let changes = vec![
            Change::Write {
                file: 0,
                offset: 2,
                data: b"ab".to_vec(),
                fill: 4,
            },
            Change::SetLen { file: 0, len: 12 },
            Change::Write {
                file: 0,
                offset: 11,
                data: b"z".to_vec(),
                fill: 0,
            },
        ];
        let before = SimStorage::with_files(fs.files());
        let view = Overlay::new(before.open(Path::new("img"), false).unwrap(), 0, &changes);
        let mut files = vec![f];
        apply(&mut files, &changes).unwrap();
        let applied = fs.files()[Path::new("img")].clone();
        assert_eq!(applied, b"01ab\x00\x006789\x00z");
        let mut seen = vec![0u8; usize::try_from(view.size().unwrap()).unwrap()];
        view.read_at(&mut seen, 0).unwrap();
        assert_eq!(seen, applied);
    }
}
