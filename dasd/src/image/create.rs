//! Creating images: a new volume laid out as `dasdinit` lays it out
//! ([`VolumeSpec`]), in a P370 image (one sparse file, or split into files
//! of at most 2 GiB as `dasdinit` without `-lfs` does) or a CCKD image
//! (only the tracks that are not null tracks stored).
//!
//! Each file is written under a temporary name, synced, and renamed into
//! place with its directory synced, so a crash never leaves a partial image
//! under the image's name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cckd::{l1_entries, Compression};
use super::ckd::split_name;
use super::header::{
    CompressedHeader, DevHeader, ImageKind, L2Entry, HEADER_LEN, L1_POS, L2_ENTRIES, L2_ENTRY_LEN, L2_TABLE_LEN,
    OPT_NOFUDGE, OPT_ORDWR, TRACK_SLOT_3390,
};
use super::io::{write_sparse, HostStorage, Storage};
use super::ImageError;
use crate::geometry::HEADS;
use crate::layout::VolumeSpec;
use crate::track::{TrackAddr, TrackBuilder, HA_LEN};

/// The image format to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `CKD_P370`; `split`: in files of at most 2 GiB named `name_1.ext`…
    /// (`dasdinit` without `-lfs`), else one file (`-lfs`).
    Ckd {
        /// Split beyond 2 GiB.
        split: bool,
    },
    /// `CKD_C370` with this compression (`dasdinit -z`, `-0`).
    Cckd(Compression),
}

/// How to create an image.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The format.
    pub format: Format,
    /// Cylinders per file of a split P370 volume ([`SPLIT_CYLINDERS`], as
    /// `dasdinit`; smaller in tests, but at least 2: a first file whose
    /// highest cylinder is 0 would read as the last file).
    pub split_cylinders: u32,
    /// The file system.
    pub storage: Arc<dyn Storage>,
}

impl CreateOptions {
    /// Options for `format` on the host file system.
    #[must_use]
    pub fn new(format: Format) -> Self {
        Self {
            format,
            split_cylinders: SPLIT_CYLINDERS,
            storage: Arc::new(HostStorage),
        }
    }
}

/// Cylinders of one file of a split volume, 2,519 (Hercules `create_ckd`:
/// `(0x7fffffff − 512 + 1) / (slot · heads)`, files below 2 GiB).
pub const SPLIT_CYLINDERS: u32 = (0x7fff_ffff - 512 + 1) / (TRACK_SLOT_3390 * HEADS);

/// The first file's name of a split volume: `_1` before the first dot of
/// the file name, unless the name already has `_x` there (Hercules
/// `create_ckd`).
fn first_split_name(path: &Path) -> PathBuf {
    let s = path.to_string_lossy().into_owned();
    let name_start = s.rfind('/').map_or(0, |i| i + 1);
    match s[name_start..].find('.').map(|i| name_start + i) {
        Some(dot) if dot >= name_start + 2 && s.as_bytes()[dot - 2] == b'_' => path.to_path_buf(),
        Some(dot) => format!("{}_1{}", &s[..dot], &s[dot..]).into(),
        None if s.len() >= name_start + 2 && s.as_bytes()[s.len() - 2] == b'_' => path.to_path_buf(),
        None => format!("{s}_1").into(),
    }
}

fn temp_name(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".zcss-tmp");
    PathBuf::from(s)
}

/// Creates the volume `spec` at `path`; returns the files written (the
/// first is the one to open). `progress` sees (tracks written, tracks).
///
/// # Errors
/// A file exists already or could not be written.
pub fn create(
    path: &Path,
    spec: &VolumeSpec,
    opts: &CreateOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<PathBuf>, ImageError> {
    if spec.cylinders == 0 || spec.cylinders > 65_535 + 3 {
        return Err(ImageError::Unsupported {
            path: path.to_path_buf(),
            what: format!("a volume of {} cylinders", spec.cylinders),
        });
    }
    let st = &*opts.storage;
    let files = match opts.format {
        Format::Ckd { split } => {
            let per = opts.split_cylinders.max(2);
            if split && spec.cylinders > per {
                let first = first_split_name(path);
                let n = spec.cylinders.div_ceil(per);
                (1..=n)
                    .map(|seq| {
                        split_name(&first, seq).ok_or_else(|| ImageError::Unsupported {
                            path: path.to_path_buf(),
                            what: "a split volume name without a place for the file number".to_owned(),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?
            } else {
                vec![path.to_path_buf()]
            }
        }
        Format::Cckd(_) => vec![path.to_path_buf()],
    };
    for f in &files {
        if st.exists(f) {
            return Err(ImageError::Exists { path: f.clone() });
        }
    }
    match opts.format {
        Format::Ckd { .. } => create_ckd(st, &files, spec, opts.split_cylinders.max(2), progress)?,
        Format::Cckd(c) => create_cckd(st, &files[0], spec, c, progress)?,
    }
    for f in &files {
        st.rename(&temp_name(f), f).map_err(|e| ImageError::io(f, e))?;
    }
    let dir = path.parent().unwrap_or_else(|| Path::new(""));
    st.sync_dir(dir).map_err(|e| ImageError::io(path, e))?;
    Ok(files)
}

fn create_ckd(
    st: &dyn Storage,
    files: &[PathBuf],
    spec: &VolumeSpec,
    split: u32,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), ImageError> {
    let per = if files.len() > 1 { split } else { spec.cylinders };
    let slot = u64::from(TRACK_SLOT_3390);
    let total = spec.tracks();
    let mut b = TrackBuilder::default();
    let mut done = 0u64;
    for (i, name) in files.iter().enumerate() {
        let seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let first = per * (seq - 1);
        let last = (first + per).min(spec.cylinders) - 1;
        let only = files.len() == 1;
        let mut h = DevHeader::new_3390(ImageKind::Plain);
        h.fileseq = if only { 0 } else { u8::try_from(seq).unwrap_or(u8::MAX) };
        h.highcyl = if last + 1 == spec.cylinders {
            0
        } else {
            u16::try_from(last).unwrap_or(u16::MAX)
        };
        let tmp = temp_name(name);
        let mut f = st.create(&tmp).map_err(|e| ImageError::io(&tmp, e))?;
        let io = |e| ImageError::io(&tmp, e);
        f.write_at(&h.encode(), 0).map_err(io)?;
        let trks = u64::from(last + 1 - first) * u64::from(HEADS);
        f.set_len(HEADER_LEN as u64 + trks * slot).map_err(io)?;
        for k in 0..trks {
            let t = TrackAddr::from_index(u64::from(first) * u64::from(HEADS) + k);
            let img = spec.track(t, &mut b);
            write_sparse(&mut *f, img, HEADER_LEN as u64 + k * slot).map_err(io)?;
            done += 1;
            if done % 1024 == 0 {
                progress(done, total);
            }
        }
        f.sync().map_err(io)?;
    }
    progress(total, total);
    Ok(())
}

fn create_cckd(
    st: &dyn Storage,
    path: &Path,
    spec: &VolumeSpec,
    comp: Compression,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), ImageError> {
    let n1 = l1_entries(spec.cylinders);
    let l1_len = usize::try_from(n1 * 4).unwrap_or(usize::MAX);
    let null = spec.null_track();
    let l2_pos = L1_POS + n1 * 4;
    let mut out = vec![0u8; HEADER_LEN * 2 + l1_len + L2_TABLE_LEN];
    let mut l2 = vec![L2Entry::null(null.number()); L2_ENTRIES];
    let mut b = TrackBuilder::default();
    let mut deflate = flate2::Compress::new(flate2::Compression::default(), true);
    let special = if spec.linux { 2 } else { 1 };
    for n in 0..special.min(spec.tracks()) {
        let t = TrackAddr::from_index(n);
        let img = spec.track(t, &mut b).to_vec();
        let stored = store_image(&img, comp, &mut deflate);
        let pos = out.len();
        out.extend_from_slice(&stored);
        l2[usize::try_from(n).unwrap_or(0)] = L2Entry {
            pos: u32::try_from(pos).unwrap_or(u32::MAX),
            len: u16::try_from(stored.len()).unwrap_or(u16::MAX),
            size: u16::try_from(stored.len()).unwrap_or(u16::MAX),
        };
    }
    let size = u32::try_from(out.len()).unwrap_or(u32::MAX);
    out[..HEADER_LEN].copy_from_slice(&DevHeader::new_3390(ImageKind::Compressed).encode());
    let h = CompressedHeader {
        vrm: CompressedHeader::VRM,
        options: OPT_ORDWR | OPT_NOFUDGE,
        numl1tab: u32::try_from(n1).unwrap_or(u32::MAX),
        numl2tab: 256,
        size,
        used: size,
        cyls: spec.cylinders,
        nullfmt: null.number(),
        compress: comp.code(),
        compress_parm: -1,
        ..CompressedHeader::default()
    };
    out[HEADER_LEN..2 * HEADER_LEN].copy_from_slice(&h.encode());
    let l1_at = usize::try_from(L1_POS).unwrap_or(0);
    out[l1_at..l1_at + 4].copy_from_slice(&u32::try_from(l2_pos).unwrap_or(u32::MAX).to_le_bytes());
    let l2_at = usize::try_from(l2_pos).unwrap_or(0);
    for (e, chunk) in l2
        .iter()
        .zip(out[l2_at..l2_at + L2_TABLE_LEN].chunks_exact_mut(L2_ENTRY_LEN))
    {
        e.encode(chunk, false);
    }
    let tmp = temp_name(path);
    let io = |e| ImageError::io(&tmp, e);
    let mut f = st.create(&tmp).map_err(io)?;
    f.write_at(&out, 0).map_err(io)?;
    f.sync().map_err(io)?;
    progress(spec.tracks(), spec.tracks());
    Ok(())
}

/// The stored form of a track image (first byte the compression).
fn store_image(img: &[u8], comp: Compression, deflate: &mut flate2::Compress) -> Vec<u8> {
    if comp == Compression::Zlib && img.len() >= 512 {
        let mut z = Vec::with_capacity(img.len() + 64);
        z.extend_from_slice(&img[..HA_LEN]);
        z[0] = 1;
        deflate.reset();
        let ok = matches!(
            deflate.compress_vec(&img[HA_LEN..], &mut z, flate2::FlushCompress::Finish),
            Ok(flate2::Status::StreamEnd)
        );
        if ok && z.len() < img.len() {
            return z;
        }
    }
    let mut v = img.to_vec();
    v[0] = 0;
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_file_names_are_dasdinit_s() {
        assert_eq!(first_split_name(Path::new("/d/vol.3390")), Path::new("/d/vol_1.3390"));
        assert_eq!(first_split_name(Path::new("/d/vol_1.3390")), Path::new("/d/vol_1.3390"));
        assert_eq!(first_split_name(Path::new("/d.x/vol")), Path::new("/d.x/vol_1"));
        assert_eq!(SPLIT_CYLINDERS, 2519);
    }
}
