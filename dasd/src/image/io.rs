//! The I/O layer under the image stores: files named by path, read and
//! written at offsets, made durable by `sync`.
//!
//! [`HostStorage`] is the host file system. The stores take any
//! [`Storage`], so tests put a crash simulator underneath
//! (`image::sim::SimStorage`, feature `test-utils`) and cut the write
//! sequence at every point.

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// A file system holding image files.
pub trait Storage: Send + Sync + Debug {
    /// Opens an existing file, for reading and, when `writable`, writing.
    ///
    /// # Errors
    /// The file does not exist or cannot be opened.
    fn open(&self, path: &Path, writable: bool) -> io::Result<Box<dyn BlockFile>>;

    /// Creates a file (empty, replacing one of the same name) for reading
    /// and writing.
    ///
    /// # Errors
    /// The file cannot be created.
    fn create(&self, path: &Path) -> io::Result<Box<dyn BlockFile>>;

    /// Whether a file of that name exists.
    fn exists(&self, path: &Path) -> bool;

    /// Renames `from` to `to`, replacing `to`.
    ///
    /// # Errors
    /// The rename failed.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Removes a file.
    ///
    /// # Errors
    /// The removal failed.
    fn remove(&self, path: &Path) -> io::Result<()>;

    /// Makes the names in directory `dir` durable (files created, renamed
    /// or removed there).
    ///
    /// # Errors
    /// The sync failed.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// An open file.
pub trait BlockFile: Send + Debug {
    /// Reads exactly `buf.len()` bytes at `offset`.
    ///
    /// # Errors
    /// [`io::ErrorKind::UnexpectedEof`] past the end, or the read failed.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;

    /// Writes all of `buf` at `offset` (extending the file).
    ///
    /// # Errors
    /// The write failed.
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;

    /// The file's length.
    ///
    /// # Errors
    /// The length cannot be read.
    fn size(&self) -> io::Result<u64>;

    /// Cuts or extends (with zeros) the file to `len` bytes.
    ///
    /// # Errors
    /// The change failed.
    fn set_len(&mut self, len: u64) -> io::Result<()>;

    /// Makes every completed write and length change durable (fsync).
    ///
    /// # Errors
    /// The sync failed.
    fn sync(&mut self) -> io::Result<()>;
}

/// The host file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostStorage;

/// A host file.
#[derive(Debug)]
struct HostFile(File);

impl Storage for HostStorage {
    fn open(&self, path: &Path, writable: bool) -> io::Result<Box<dyn BlockFile>> {
        let f = OpenOptions::new().read(true).write(writable).open(path)?;
        Ok(Box::new(HostFile(f)))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn BlockFile>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(HostFile(f)))
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        #[cfg(unix)]
        {
            let d = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            File::open(d)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            let _ = dir;
            Ok(())
        }
    }
}

impl BlockFile for HostFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_exact_at(&self.0, buf, offset)
        }
        #[cfg(not(unix))]
        {
            use std::io::{Read, Seek, SeekFrom};
            let mut f = &self.0;
            f.seek(SeekFrom::Start(offset))?;
            f.read_exact(buf)
        }
    }

    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::write_all_at(&self.0, buf, offset)
        }
        #[cfg(not(unix))]
        {
            use std::io::{Seek, SeekFrom, Write};
            self.0.seek(SeekFrom::Start(offset))?;
            self.0.write_all(buf)
        }
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}

/// Bytes of the blocks [`write_sparse`] skips.
const SPARSE_BLOCK: u64 = 4096;

/// Writes `data` at `offset` of a file known to read as zeros there (a new
/// file extended with `set_len`), skipping the 4 KiB blocks of `data` that
/// are all zero, so fresh volumes stay sparse on the host.
///
/// # Errors
/// A write failed.
pub fn write_sparse(f: &mut dyn BlockFile, data: &[u8], offset: u64) -> io::Result<()> {
    let mut pos = 0usize;
    while pos < data.len() {
        let abs = offset + pos as u64;
        let block_end = (abs / SPARSE_BLOCK + 1) * SPARSE_BLOCK;
        let n = usize::try_from(block_end - abs)
            .unwrap_or(usize::MAX)
            .min(data.len() - pos);
        let chunk = &data[pos..pos + n];
        if chunk.iter().any(|&b| b != 0) {
            f.write_at(chunk, abs)?;
        }
        pos += n;
    }
    Ok(())
}

/// Reads up to `buf.len()` bytes at `offset`, zero-filling past the end of
/// the file; returns the bytes that were in the file.
///
/// # Errors
/// The read failed.
pub fn read_zero_filled(f: &dyn BlockFile, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let len = f.size()?;
    let avail = usize::try_from(len.saturating_sub(offset))
        .unwrap_or(usize::MAX)
        .min(buf.len());
    f.read_at(&mut buf[..avail], offset)?;
    buf[avail..].fill(0);
    Ok(avail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_files_read_back_what_was_written() {
        let dir = std::env::temp_dir().join(format!("zcss-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        let s = HostStorage;
        let mut f = s.create(&p).unwrap();
        f.set_len(3 * SPARSE_BLOCK).unwrap();
        let mut data = vec![0u8; 6000];
        data[5000] = 7;
        write_sparse(&mut *f, &data, 100).unwrap();
        f.sync().unwrap();
        let mut back = vec![1u8; 6000];
        f.read_at(&mut back, 100).unwrap();
        assert_eq!(back, data);
        let mut tail = [9u8; 10];
        assert_eq!(read_zero_filled(&*f, &mut tail, 3 * SPARSE_BLOCK - 4).unwrap(), 4);
        assert_eq!(tail, [0; 10]);
        assert!(f.read_at(&mut [0; 8], 3 * SPARSE_BLOCK - 4).is_err());
        drop(f);
        s.rename(&p, &dir.join("g")).unwrap();
        assert!(!s.exists(&p));
        s.sync_dir(&dir).unwrap();
        s.remove(&dir.join("g")).unwrap();
        std::fs::remove_dir(&dir).unwrap();
    }
}
