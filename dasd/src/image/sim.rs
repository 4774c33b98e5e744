//! A crash simulator under the image stores (feature `test-utils`).
//!
//! [`SimStorage`] keeps files in memory in two states: what readers see
//! (every operation applied) and what is *durable* (what survives a crash).
//! A write or length change becomes durable when its file is synced; a
//! create, rename or removal when its directory is synced (or, for a
//! create, when the new file is synced). Every mutating operation counts;
//! [`SimStorage::crash_after`] makes the operation after the n-th and every
//! later one fail, as if the machine stopped there. [`SimStorage::crash_states`]
//! then lists the states the disk may hold after such a crash: the durable
//! state plus any ordered subset of the operations not yet durable — all of
//! them (a killed process: the page cache survives), none (power lost),
//! every prefix, every one left out, and a torn write (half of it).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::io::{BlockFile, Storage};

#[derive(Debug, Clone)]
enum Op {
    Write { path: PathBuf, offset: u64, data: Vec<u8> },
    SetLen { path: PathBuf, len: u64 },
    Create { path: PathBuf },
    Rename { from: PathBuf, to: PathBuf },
    Remove { path: PathBuf },
}

impl Op {
    /// Applies the operation to a state; operations on missing files are
    /// dropped (their data went with the file).
    fn apply(&self, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
        match self {
            Self::Write { path, offset, data } => {
                if let Some(f) = files.get_mut(path) {
                    let off = usize::try_from(*offset).unwrap_or(usize::MAX);
                    let end = off.saturating_add(data.len());
                    if f.len() < end {
                        f.resize(end, 0);
                    }
                    f[off..end].copy_from_slice(data);
                }
            }
            Self::SetLen { path, len } => {
                if let Some(f) = files.get_mut(path) {
                    f.resize(usize::try_from(*len).unwrap_or(usize::MAX), 0);
                }
            }
            Self::Create { path } => {
                files.insert(path.clone(), Vec::new());
            }
            Self::Rename { from, to } => {
                if let Some(f) = files.remove(from) {
                    files.insert(to.clone(), f);
                }
            }
            Self::Remove { path } => {
                files.remove(path);
            }
        }
    }

    /// Whether a sync of `path` makes the operation durable.
    fn synced_by_file(&self, p: &Path) -> bool {
        match self {
            Self::Write { path, .. } | Self::SetLen { path, .. } | Self::Create { path } => path == p,
            Self::Rename { .. } | Self::Remove { .. } => false,
        }
    }

    /// Whether a sync of directory `dir` makes the operation durable.
    fn synced_by_dir(&self, dir: &Path) -> bool {
        let in_dir = |p: &Path| p.parent().unwrap_or_else(|| Path::new("")) == dir;
        match self {
            Self::Create { path } | Self::Remove { path } => in_dir(path),
            Self::Rename { from, to } => in_dir(from) || in_dir(to),
            Self::Write { .. } | Self::SetLen { .. } => false,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    current: BTreeMap<PathBuf, Vec<u8>>,
    durable: BTreeMap<PathBuf, Vec<u8>>,
    pending: Vec<Op>,
    ops: u64,
    crash_after: Option<u64>,
    syncs: u64,
}

impl State {
    /// Counts a mutating operation; fails once the crash point is passed.
    fn tick(&mut self) -> io::Result<()> {
        if self.crash_after.is_some_and(|n| self.ops >= n) {
            return Err(io::Error::other("simulated crash"));
        }
        self.ops += 1;
        Ok(())
    }

    fn record(&mut self, op: Op) {
        op.apply(&mut self.current);
        self.pending.push(op);
    }

    /// Makes the pending operations matching `pred` durable, in order.
    fn harden(&mut self, pred: impl Fn(&Op) -> bool) {
        let mut rest = Vec::with_capacity(self.pending.len());
        for op in self.pending.drain(..) {
            if pred(&op) {
                op.apply(&mut self.durable);
            } else {
                rest.push(op);
            }
        }
        self.pending = rest;
    }
}

/// An in-memory file system that can crash; clones share the files.
#[derive(Debug, Clone, Default)]
pub struct SimStorage {
    state: Arc<Mutex<State>>,
}

impl SimStorage {
    /// An empty file system.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A file system holding `files`, all durable.
    #[must_use]
    pub fn with_files(files: BTreeMap<PathBuf, Vec<u8>>) -> Self {
        let s = Self::default();
        {
            let mut st = s.state.lock();
            st.current = files.clone();
            st.durable = files;
        }
        s
    }

    /// Makes the operation after the `n`-th mutating one (counted from
    /// now) and every later one fail.
    pub fn crash_after(&self, n: u64) {
        let mut st = self.state.lock();
        st.crash_after = Some(st.ops + n);
    }

    /// Mutating operations so far (writes, length changes, syncs, creates,
    /// renames, removals).
    #[must_use]
    pub fn ops(&self) -> u64 {
        self.state.lock().ops
    }

    /// File syncs so far.
    #[must_use]
    pub fn syncs(&self) -> u64 {
        self.state.lock().syncs
    }

    /// The files as readers see them now.
    #[must_use]
    pub fn files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        self.state.lock().current.clone()
    }

    /// Operations not yet durable.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.state.lock().pending.len()
    }

    /// The states the disk may hold after a crash now, each as a fresh
    /// file system: every pending operation applied, none, every prefix,
    /// every one left out, and every write torn in half after its prefix.
    #[must_use]
    pub fn crash_states(&self) -> Vec<(String, Self)> {
        let st = self.state.lock();
        let n = st.pending.len();
        let mut out = Vec::new();
        let make = |ops: &mut dyn Iterator<Item = Op>| {
            let mut files = st.durable.clone();
            for op in ops {
                op.apply(&mut files);
            }
            Self::with_files(files)
        };
        out.push(("all".to_owned(), make(&mut st.pending.iter().cloned())));
        out.push(("none".to_owned(), make(&mut std::iter::empty())));
        for k in 1..n {
            out.push((format!("prefix {k}"), make(&mut st.pending[..k].iter().cloned())));
        }
        if n > 1 {
            for skip in 0..n {
                let mut it = st
                    .pending
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| i != skip)
                    .map(|(_, op)| op.clone());
                out.push((format!("all but {skip}"), make(&mut it)));
            }
        }
        for (i, op) in st.pending.iter().enumerate() {
            if let Op::Write { path, offset, data } = op {
                if data.len() < 2 {
                    continue;
                }
                let half = data.len() / 2;
                let torn_head = Op::Write {
                    path: path.clone(),
                    offset: *offset,
                    data: data[..half].to_vec(),
                };
                let torn_tail = Op::Write {
                    path: path.clone(),
                    offset: *offset + half as u64,
                    data: data[half..].to_vec(),
                };
                for (what, torn) in [("head", torn_head), ("tail", torn_tail)] {
                    let mut it = st.pending[..i].iter().cloned().chain(std::iter::once(torn));
                    out.push((format!("prefix {i} + torn {what} of {i}"), make(&mut it)));
                }
            }
        }
        out
    }
}

/// A file of a [`SimStorage`].
#[derive(Debug)]
struct SimFile {
    fs: SimStorage,
    path: PathBuf,
    writable: bool,
}

impl Storage for SimStorage {
    fn open(&self, path: &Path, writable: bool) -> io::Result<Box<dyn BlockFile>> {
        if !self.state.lock().current.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such file", path.display()),
            ));
        }
        Ok(Box::new(SimFile {
            fs: self.clone(),
            path: path.to_path_buf(),
            writable,
        }))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn BlockFile>> {
        let mut st = self.state.lock();
        st.tick()?;
        st.record(Op::Create {
            path: path.to_path_buf(),
        });
        Ok(Box::new(SimFile {
            fs: self.clone(),
            path: path.to_path_buf(),
            writable: true,
        }))
    }

    fn exists(&self, path: &Path) -> bool {
        self.state.lock().current.contains_key(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        if !st.current.contains_key(from) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "rename: no such file"));
        }
        st.tick()?;
        st.record(Op::Rename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
        });
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        if !st.current.contains_key(path) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "remove: no such file"));
        }
        st.tick()?;
        st.record(Op::Remove {
            path: path.to_path_buf(),
        });
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state.lock();
        st.tick()?;
        st.harden(|op| op.synced_by_dir(dir));
        Ok(())
    }
}

impl BlockFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let st = self.fs.state.lock();
        let f = st
            .current
            .get(&self.path)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "file removed"))?;
        let off = usize::try_from(offset).unwrap_or(usize::MAX);
        let src = off
            .checked_add(buf.len())
            .and_then(|end| f.get(off..end))
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "read-only"));
        }
        let mut st = self.fs.state.lock();
        st.tick()?;
        st.record(Op::Write {
            path: self.path.clone(),
            offset,
            data: buf.to_vec(),
        });
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        let st = self.fs.state.lock();
        st.current
            .get(&self.path)
            .map(|f| f.len() as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "file removed"))
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "read-only"));
        }
        let mut st = self.fs.state.lock();
        st.tick()?;
        st.record(Op::SetLen {
            path: self.path.clone(),
            len,
        });
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut st = self.fs.state.lock();
        st.tick()?;
        st.syncs += 1;
        let p = self.path.clone();
        st.harden(|op| op.synced_by_file(&p));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsynced_writes_may_be_lost_synced_ones_survive() {
        let fs = SimStorage::new();
        let p = Path::new("d/f");
        let mut f = fs.create(p).unwrap();
        f.write_at(b"abcd", 0).unwrap();
        f.sync().unwrap();
        f.write_at(b"XY", 1).unwrap();
        let states = fs.crash_states();
        let all = &states.iter().find(|(n, _)| n == "all").unwrap().1;
        let none = &states.iter().find(|(n, _)| n == "none").unwrap().1;
        assert_eq!(all.files()[p], b"aXYd");
        assert_eq!(none.files()[p], b"abcd");
        assert!(states.iter().any(|(_, s)| s.files()[p] == b"aXcd"));
    }

    #[test]
    fn crash_point_stops_every_later_operation() {
        let fs = SimStorage::new();
        let mut f = fs.create(Path::new("f")).unwrap();
        fs.crash_after(1);
        f.write_at(b"a", 0).unwrap();
        assert!(f.write_at(b"b", 1).is_err());
        assert!(f.sync().is_err());
        assert_eq!(fs.ops(), 2);
    }

    #[test]
    fn a_create_not_synced_may_vanish() {
        let fs = SimStorage::new();
        let _f = fs.create(Path::new("d/new")).unwrap();
        let states = fs.crash_states();
        let none = &states.iter().find(|(n, _)| n == "none").unwrap().1;
        assert!(!none.exists(Path::new("d/new")));
        fs.sync_dir(Path::new("d")).unwrap();
        assert_eq!(fs.pending(), 0);
    }
}
