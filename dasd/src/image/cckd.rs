//! `CKD_C370` compressed images (Hercules `cckddasd.c`; format in the
//! `image` module's documentation and `header`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

use super::cache::{CachedImage, Front};
use super::ckd::{check_3390, check_image};
use super::header::{
    u32_at, u32_bytes, CompressedHeader, DevHeader, ImageKind, L2Entry, HEADER_LEN, L1_POS, L2_ENTRIES, L2_ENTRY_LEN,
    L2_TABLE_LEN, OPT_OPENED, OPT_ORDWR,
};
use super::io::BlockFile;
use super::journal::{self, Change, Journal, Overlay};
use super::space::SpaceMap;
use super::{ImageError, ImageInfo, OpenOptions};
use crate::geometry::{Model, HEADS};
use crate::layout::NullTrack;
use crate::store::StoreError;
use crate::track::{TrackAddr, TrackBuilder, HA_LEN};

/// How new track images are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// As they are.
    None,
    /// zlib (deflate with the zlib header), as Hercules `compress2`.
    #[default]
    Zlib,
}

impl Compression {
    /// The code of the compressed header and of a stored image's first
    /// byte.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Zlib => 1,
        }
    }
}

/// Track images shorter than this are stored uncompressed (Hercules
/// `CCKD_COMPRESS_MIN`).
const COMPRESS_MIN: usize = 512;
/// The largest file a CCKD image may grow to (offsets are 32 bits).
const MAX_FILE: u64 = u32::MAX as u64;
/// The tag of Hercules' new-format free-space list.
const FREE_BLK: &[u8; 8] = b"FREE_BLK";

/// The level-1 and level-2 tables.
#[derive(Debug)]
struct Tables {
    hdr: CompressedHeader,
    be: bool,
    l1: Vec<u32>,
    l2: Vec<Option<Box<[L2Entry]>>>,
}

impl Tables {
    fn entry(&self, n: u64) -> L2Entry {
        let l1x = usize::try_from(n / L2_ENTRIES as u64).unwrap_or(usize::MAX);
        let l2x = usize::try_from(n % L2_ENTRIES as u64).unwrap_or(0);
        match self.l2.get(l1x) {
            Some(Some(t)) => t[l2x],
            _ => L2Entry::null(self.hdr.nullfmt),
        }
    }

    /// The null format of an entry with position 0 (Hercules
    /// `cckd_null_trk`: length 0 under a format-2 header means format 2).
    fn null_format(&self, e: L2Entry) -> Option<NullTrack> {
        if e.len == 0 && self.hdr.nullfmt == 2 {
            return Some(NullTrack::Format2);
        }
        NullTrack::from_number(u8::try_from(e.len).ok()?)
    }

    fn encode_l2(&self, l1x: usize, out: &mut Vec<u8>) {
        out.clear();
        out.resize(L2_TABLE_LEN, 0);
        if let Some(Some(t)) = self.l2.get(l1x) {
            for (e, b) in t.iter().zip(out.chunks_exact_mut(L2_ENTRY_LEN)) {
                e.encode(b, self.be);
            }
        }
    }
}

/// Compression buffers, reused.
#[derive(Debug)]
struct Codec {
    zbuf: Vec<u8>,
    inflate: Decompress,
    deflate: Compress,
    builder: TrackBuilder,
}

impl Codec {
    fn new(slot: usize, level: u32) -> Self {
        Self {
            zbuf: Vec::with_capacity(slot + 64),
            inflate: Decompress::new(true),
            deflate: Compress::new(flate2::Compression::new(level), true),
            builder: TrackBuilder::default(),
        }
    }

    /// Reads track `t` (entry `e`) into `out`; returns its length.
    fn load(
        &mut self,
        file: &dyn BlockFile,
        tables: &Tables,
        t: TrackAddr,
        out: &mut Vec<u8>,
    ) -> Result<usize, StoreError> {
        let e = tables.entry(t.index());
        out.clear();
        if e.pos == 0 {
            let f = tables
                .null_format(e)
                .ok_or_else(|| StoreError::Damaged(format!("track {t}: null track of unknown format {}", e.len)))?;
            out.extend_from_slice(f.build(t, &mut self.builder));
            return Ok(out.len());
        }
        if e.pos == u32::MAX {
            return Err(StoreError::Damaged(format!(
                "track {t}: a shadow-file entry in a base image"
            )));
        }
        let len = usize::from(e.len);
        if len < HA_LEN {
            return Err(StoreError::Damaged(format!("track {t}: stored image of {len} bytes")));
        }
        self.zbuf.resize(len, 0);
        file.read_at(&mut self.zbuf, u64::from(e.pos))?;
        match self.zbuf[0] {
            0 => out.extend_from_slice(&self.zbuf),
            1 => {
                out.extend_from_slice(&self.zbuf[..HA_LEN]);
                self.inflate.reset(true);
                let st = self
                    .inflate
                    .decompress_vec(&self.zbuf[HA_LEN..], out, FlushDecompress::Finish)
                    .map_err(|e| StoreError::Damaged(format!("track {t}: zlib: {e}")))?;
                if st != Status::StreamEnd {
                    return Err(StoreError::Damaged(format!(
                        "track {t}: zlib stream does not end within a track"
                    )));
                }
            }
            2 => {
                return Err(StoreError::Damaged(format!(
                    "track {t}: compressed with bzip2, which zcss does not read"
                )))
            }
            c => return Err(StoreError::Damaged(format!("track {t}: unknown compression {c}"))),
        }
        out[0] = 0;
        check_image(t, out)
    }

    /// The stored form of `img` (first byte the compression).
    fn encode<'a>(&'a mut self, img: &'a [u8], comp: Compression) -> &'a [u8] {
        self.zbuf.clear();
        if comp == Compression::Zlib && img.len() >= COMPRESS_MIN {
            self.zbuf.extend_from_slice(&img[..HA_LEN]);
            self.zbuf[0] = Compression::Zlib.code();
            self.deflate.reset();
            let ok = matches!(
                self.deflate
                    .compress_vec(&img[HA_LEN..], &mut self.zbuf, FlushCompress::Finish),
                Ok(Status::StreamEnd)
            );
            if ok && self.zbuf.len() < img.len() {
                return &self.zbuf;
            }
            self.zbuf.clear();
        }
        if img[0] == 0 {
            return img;
        }
        self.zbuf.extend_from_slice(img);
        self.zbuf[0] = 0;
        &self.zbuf
    }

    /// The null format `img` is, when track `t` holds nothing else.
    fn null_of(&mut self, t: TrackAddr, img: &[u8], header_null: u8) -> Option<NullTrack> {
        NullTrack::ALL.into_iter().find(|&f| {
            // Under a format-2 header, an entry of length 0 reads as format 2.
            let representable = !(f == NullTrack::Format0 && header_null == 2);
            representable && img.len() == f.image_len() && img == f.build(t, &mut self.builder)
        })
    }
}

/// A `CKD_C370` image.
#[derive(Debug)]
pub struct CckdImage {
    path: PathBuf,
    files: Vec<Box<dyn BlockFile>>,
    tables: Tables,
    front: Front,
    l1_dirty: BTreeSet<usize>,
    l2_dirty: BTreeSet<usize>,
    space: Option<SpaceMap>,
    compression: Compression,
    codec: Codec,
    journal: Journal,
    /// The durable header carries OPENED (a clean close must clear it).
    opened: bool,
    closed: bool,
    l2buf: Vec<u8>,
}

fn read_exact(f: &dyn BlockFile, path: &Path, buf: &mut [u8], at: u64) -> Result<(), ImageError> {
    f.read_at(buf, at).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            ImageError::damaged(path, format!("file ends before offset {}", at + buf.len() as u64))
        }
        _ => ImageError::io(path, e),
    })
}

impl CckdImage {
    /// Opens the image at `path`.
    ///
    /// # Errors
    /// A missing, damaged or foreign file.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self, ImageError> {
        let storage = &opts.storage;
        let mut file = storage.open(path, opts.writable).map_err(|e| ImageError::io(path, e))?;
        let (mut journal, pending) = Journal::open(Arc::clone(storage), path, opts.writable)
            .map_err(|e| ImageError::io(&journal::journal_path(path), e))?;
        if !pending.is_empty() {
            if opts.writable {
                let mut fs = vec![file];
                journal::apply(&mut fs, &pending).map_err(|e| ImageError::io(path, e))?;
                journal.retire().map_err(|e| ImageError::io(path, e))?;
                file = fs.pop().ok_or_else(|| ImageError::damaged(path, "lost the file"))?;
            } else {
                file = Box::new(Overlay::new(file, 0, &pending));
            }
        }
        let mut h = [0u8; HEADER_LEN];
        read_exact(&*file, path, &mut h, 0)?;
        let dev = DevHeader::parse(&h).ok_or_else(|| ImageError::NotAnImage {
            path: path.to_path_buf(),
        })?;
        if dev.kind != ImageKind::Compressed {
            return Err(ImageError::NotAnImage {
                path: path.to_path_buf(),
            });
        }
        check_3390(path, &dev)?;
        read_exact(&*file, path, &mut h, HEADER_LEN as u64)?;
        let mut hdr = CompressedHeader::parse(&h);
        if hdr.nullfmt > 2 {
            hdr.nullfmt = 0;
        }
        let cylinders = hdr.cyls;
        let tracks = Model::tracks(cylinders);
        let need = tracks.div_ceil(L2_ENTRIES as u64);
        if cylinders == 0
            || cylinders > super::ckd::MAX_CYLINDERS
            || (u64::from(hdr.numl1tab) != need && u64::from(hdr.numl1tab) != need + 1)
        {
            return Err(ImageError::damaged(
                path,
                format!("{} level-1 entries for {cylinders} cylinders", hdr.numl1tab),
            ));
        }
        if hdr.numl2tab != 256 {
            return Err(ImageError::damaged(
                path,
                format!("{} level-2 entries per table", hdr.numl2tab),
            ));
        }
        let be = hdr.big_endian();
        let flen = file.size().map_err(|e| ImageError::io(path, e))?;
        let n1 = usize::try_from(hdr.numl1tab).map_err(|_| ImageError::damaged(path, "level-1 table too large"))?;
        let mut raw = vec![0u8; n1 * 4];
        read_exact(&*file, path, &mut raw, L1_POS)?;
        let l1: Vec<u32> = raw.chunks_exact(4).map(|b| u32_at(b, be)).collect();
        let mut l2 = Vec::with_capacity(n1);
        let mut tab = vec![0u8; L2_TABLE_LEN];
        for (i, &pos) in l1.iter().enumerate() {
            if pos == 0 {
                l2.push(None);
                continue;
            }
            if pos == u32::MAX {
                return Err(ImageError::Unsupported {
                    path: path.to_path_buf(),
                    what: "a level-1 table of a shadow file".to_owned(),
                });
            }
            if u64::from(pos) + L2_TABLE_LEN as u64 > flen {
                return Err(ImageError::damaged(
                    path,
                    format!("level-2 table {i} at {pos:#x} lies past the end of the file"),
                ));
            }
            read_exact(&*file, path, &mut tab, u64::from(pos))?;
            let t: Box<[L2Entry]> = tab.chunks_exact(L2_ENTRY_LEN).map(|b| L2Entry::parse(b, be)).collect();
            l2.push(Some(t));
        }
        let tables = Tables { hdr, be, l1, l2 };
        let space = if opts.writable {
            Some(build_space(path, &tables, flen)?)
        } else {
            None
        };
        let slot = dev.track_size;
        let slot_len = usize::try_from(slot).unwrap_or(usize::MAX);
        let level = u32::try_from(hdr.compress_parm).ok().filter(|&l| l <= 9).unwrap_or(6);
        let compression = if hdr.compress == 0 {
            Compression::None
        } else {
            Compression::Zlib
        };
        Ok(Self {
            path: path.to_path_buf(),
            files: vec![file],
            tables,
            front: Front::new(cylinders, slot, opts),
            l1_dirty: BTreeSet::new(),
            l2_dirty: BTreeSet::new(),
            space,
            compression,
            codec: Codec::new(slot_len, level),
            journal,
            opened: hdr.options & OPT_OPENED != 0,
            closed: false,
            l2buf: Vec::with_capacity(L2_TABLE_LEN),
        })
    }

    /// Facts about the image.
    #[must_use]
    pub fn info(&self) -> ImageInfo {
        ImageInfo {
            kind: ImageKind::Compressed,
            cylinders: self.front.cylinders,
            model: Model::for_image_cylinders(self.front.cylinders),
            files: vec![self.path.clone()],
            track_size: self.front.slot,
            compression: Some(self.compression),
            null_format: Some(self.tables.hdr.nullfmt),
            writable: self.front.writable,
        }
    }

    /// Where track `t` is stored: `None` for a null track, else the file
    /// offset and stored length.
    #[must_use]
    pub fn location(&self, t: TrackAddr) -> Option<(u32, u16)> {
        let e = self.tables.entry(t.index());
        (e.pos != 0).then_some((e.pos, e.len))
    }

    /// Writes `changes` through the journal: durable there, applied, synced.
    fn journaled(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        self.journal.begin();
        for c in changes {
            match c {
                Change::Write {
                    file,
                    offset,
                    data,
                    fill,
                } => self.journal.write(*file, *offset, data, *fill),
                Change::SetLen { file, len } => self.journal.set_len(*file, *len),
            }
        }
        self.journal.commit()?;
        journal::apply(&mut self.files, changes)?;
        self.journal.retire()?;
        Ok(())
    }

    /// The header as the current state makes it (OPENED set while open).
    fn header_now(&self, opened: bool) -> CompressedHeader {
        let mut h = self.tables.hdr;
        h.vrm = CompressedHeader::VRM;
        if opened {
            h.options |= OPT_OPENED | OPT_ORDWR;
        } else {
            h.options &= !OPT_OPENED;
        }
        if let Some(s) = &self.space {
            h.size = u32::try_from(s.end()).unwrap_or(u32::MAX);
        }
        h
    }

    /// Makes OPENED durable before the first write into space the
    /// committed free-space list describes.
    fn mark_opened(&mut self) -> Result<(), StoreError> {
        let h = self.header_now(true);
        self.journaled(&[Change::Write {
            file: 0,
            offset: HEADER_LEN as u64,
            data: h.encode().to_vec(),
            fill: 0,
        }])?;
        self.tables.hdr = h;
        self.opened = true;
        Ok(())
    }

    /// Commits, then writes the clean header and Hercules' free-space list.
    fn close_clean(&mut self) -> Result<(), StoreError> {
        self.commit()?;
        if !self.opened {
            return Ok(());
        }
        let Some(space) = &self.space else {
            return Ok(());
        };
        let end = space.end();
        let (n, gaps, largest) = space.stats();
        let imbed: u64 = self
            .tables
            .l2
            .iter()
            .flatten()
            .flat_map(|t| t.iter())
            .filter(|e| e.pos != 0)
            .map(|e| u64::from(e.size.saturating_sub(e.len)))
            .sum();
        let mut h = self.header_now(false);
        let w = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        h.size = w(end);
        h.used = w(end - gaps - imbed);
        h.free_total = w(gaps + imbed);
        h.free_imbed = w(imbed);
        h.free_largest = w(largest);
        h.free_number = w(n);
        h.free = if n > 0 { w(end) } else { 0 };
        let mut changes = vec![Change::SetLen { file: 0, len: end }];
        if n > 0 {
            let mut fsp = FREE_BLK.to_vec();
            for (p, l) in space.extents() {
                fsp.extend_from_slice(&u32_bytes(w(p), self.tables.be));
                fsp.extend_from_slice(&u32_bytes(w(l), self.tables.be));
            }
            changes.push(Change::Write {
                file: 0,
                offset: end,
                data: fsp,
                fill: 0,
            });
        }
        changes.push(Change::Write {
            file: 0,
            offset: HEADER_LEN as u64,
            data: h.encode().to_vec(),
            fill: 0,
        });
        self.journaled(&changes)?;
        self.tables.hdr = h;
        self.opened = false;
        Ok(())
    }

    /// Commits, writes the clean header and free space, and closes.
    ///
    /// # Errors
    /// The commit or the final header failed.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.closed = true;
        if self.front.writable {
            self.close_clean()?;
        }
        Ok(())
    }

    /// Checks the image's space: every stored track and level-2 table
    /// inside the file and none overlapping another; returns the number of
    /// stored tracks.
    ///
    /// # Errors
    /// A description of the first problem.
    pub fn check_space(&self) -> Result<u64, StoreError> {
        let len = self.files[0].size()?;
        build_space(&self.path, &self.tables, len).map_err(|e| StoreError::Damaged(e.to_string()))?;
        Ok(self
            .tables
            .l2
            .iter()
            .flatten()
            .flat_map(|t| t.iter())
            .filter(|e| e.pos != 0)
            .count() as u64)
    }
}

/// The space map of an image: headers and level-1 table, level-2 tables
/// and stored tracks are used, the rest is free.
fn build_space(path: &Path, tables: &Tables, file_len: u64) -> Result<SpaceMap, ImageError> {
    let l1_end = L1_POS + 4 * tables.l1.len() as u64;
    let mut used = vec![(0u64, l1_end)];
    for (i, (&pos, tab)) in tables.l1.iter().zip(&tables.l2).enumerate() {
        let Some(tab) = tab else { continue };
        used.push((u64::from(pos), L2_TABLE_LEN as u64));
        for (j, e) in tab.iter().enumerate() {
            if e.pos == 0 {
                continue;
            }
            if e.pos == u32::MAX || usize::from(e.len) < HA_LEN || e.size < e.len {
                return Err(ImageError::damaged(
                    path,
                    format!("track {}: level-2 entry {e:?}", i * L2_ENTRIES + j),
                ));
            }
            if u64::from(e.pos) + u64::from(e.size) > file_len {
                return Err(ImageError::damaged(
                    path,
                    format!("track {} lies past the end of the file", i * L2_ENTRIES + j),
                ));
            }
            used.push((u64::from(e.pos), u64::from(e.size)));
        }
    }
    SpaceMap::from_used(0, &mut used)
        .map_err(|(p, l)| ImageError::damaged(path, format!("space at {p:#x} ({l} bytes) overlaps another")))
}

impl Drop for CckdImage {
    fn drop(&mut self) {
        if self.front.writable && !self.closed {
            if let Err(e) = self.close_clean() {
                tracing::warn!(image = %self.path.display(), error = %e, "close failed");
            }
        }
    }
}

/// Tracks of a CCKD volume of `cylinders` cylinders and the level-1
/// entries it needs.
pub(crate) fn l1_entries(cylinders: u32) -> u64 {
    (u64::from(cylinders) * u64::from(HEADS)).div_ceil(L2_ENTRIES as u64)
}

impl CachedImage for CckdImage {
    fn front(&self) -> &Front {
        &self.front
    }

    fn front_mut(&mut self) -> &mut Front {
        &mut self.front
    }

    fn fill(&mut self, t: TrackAddr, slot: usize) -> Result<(), StoreError> {
        let buf = self.front.cache.data_mut(slot);
        let len = self.codec.load(&*self.files[0], &self.tables, t, buf)?;
        buf.truncate(len);
        Ok(())
    }

    /// Commits every dirty track: images to unreferenced space, synced;
    /// then tables and header through the journal.
    fn commit(&mut self) -> Result<(), StoreError> {
        if self.front.cache.dirty() == 0 {
            return Ok(());
        }
        if !self.opened {
            self.mark_opened()?;
        }
        let nullfmt = self.tables.hdr.nullfmt;
        for i in self.front.cache.dirty_slots() {
            let s = self.front.cache.slot(i);
            let n = s.track.unwrap_or(0);
            let t = TrackAddr::from_index(n);
            let space = self.space.as_mut().ok_or(StoreError::ReadOnly)?;
            let new = if let Some(f) = self.codec.null_of(t, &s.data, nullfmt) {
                L2Entry::null(f.number())
            } else {
                let stored = self.codec.encode(&s.data, self.compression);
                let len = u16::try_from(stored.len()).map_err(|_| StoreError::TooLong {
                    track: t,
                    len: stored.len(),
                    max: usize::from(u16::MAX),
                })?;
                let pos = space.alloc(u64::from(len), MAX_FILE).ok_or_else(|| {
                    StoreError::Io(std::io::Error::new(
                        std::io::ErrorKind::StorageFull,
                        "a CCKD image cannot grow beyond 4 GiB",
                    ))
                })?;
                self.files[0].write_at(stored, pos)?;
                L2Entry {
                    pos: u32::try_from(pos).unwrap_or(u32::MAX),
                    len,
                    size: len,
                }
            };
            let old = self.tables.entry(n);
            if old.pos != 0 {
                space.release(u64::from(old.pos), u64::from(old.size));
            }
            let l1x = usize::try_from(n / L2_ENTRIES as u64).unwrap_or(usize::MAX);
            let l2x = usize::try_from(n % L2_ENTRIES as u64).unwrap_or(0);
            if self.tables.l2[l1x].is_none() {
                let pos = space.alloc(L2_TABLE_LEN as u64, MAX_FILE).ok_or_else(|| {
                    StoreError::Io(std::io::Error::new(
                        std::io::ErrorKind::StorageFull,
                        "a CCKD image cannot grow beyond 4 GiB",
                    ))
                })?;
                self.tables.l1[l1x] = u32::try_from(pos).unwrap_or(u32::MAX);
                self.tables.l2[l1x] = Some(vec![L2Entry::null(nullfmt); L2_ENTRIES].into_boxed_slice());
                self.l1_dirty.insert(l1x);
            }
            if let Some(tab) = self.tables.l2[l1x].as_mut() {
                tab[l2x] = new;
            }
            self.l2_dirty.insert(l1x);
        }
        self.files[0].sync()?;
        let mut changes = Vec::with_capacity(1 + self.l1_dirty.len() + self.l2_dirty.len());
        let h = self.header_now(true);
        changes.push(Change::Write {
            file: 0,
            offset: HEADER_LEN as u64,
            data: h.encode().to_vec(),
            fill: 0,
        });
        for &l1x in &self.l1_dirty {
            changes.push(Change::Write {
                file: 0,
                offset: L1_POS + 4 * l1x as u64,
                data: u32_bytes(self.tables.l1[l1x], self.tables.be).to_vec(),
                fill: 0,
            });
        }
        for &l1x in &self.l2_dirty {
            self.tables.encode_l2(l1x, &mut self.l2buf);
            changes.push(Change::Write {
                file: 0,
                offset: u64::from(self.tables.l1[l1x]),
                data: self.l2buf.clone(),
                fill: 0,
            });
        }
        self.journaled(&changes)?;
        self.tables.hdr = h;
        self.l1_dirty.clear();
        self.l2_dirty.clear();
        if let Some(s) = self.space.as_mut() {
            s.commit();
        }
        self.front.cache.clean_all();
        Ok(())
    }
}
