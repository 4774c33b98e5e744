//! Durability: after a crash at any point an image opens and every track
//! holds its contents as of the last completed flush or a later complete
//! write — never a torn or mixed image.
//!
//! Two ways: a crash-simulating file system stops a write sequence after
//! every operation in turn and offers each state the disk may then hold
//! (every operation not yet synced kept or lost, in order or not, a write
//! torn in half); and a writer process killed at random moments.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{check_all, spec, stamped, version_of, TempDir};
use zcss_dasd::image::sim::SimStorage;
use zcss_dasd::image::{create, Compression, CreateOptions, Format, Storage};
use zcss_dasd::layout::VolumeSpec;
use zcss_dasd::track::TrackAddr;
use zcss_dasd::{Image, OpenOptions, TrackStore};

/// What a scenario did: each track's versions in order, and how many of
/// them the last completed flush covered.
#[derive(Debug, Default, Clone)]
struct History {
    versions: BTreeMap<u64, Vec<u32>>,
    durable: BTreeMap<u64, usize>,
}

impl History {
    fn new(tracks: u64) -> Self {
        Self {
            versions: (0..tracks).map(|n| (n, vec![0])).collect(),
            durable: (0..tracks).map(|n| (n, 0)).collect(),
        }
    }

    fn written(&mut self, n: u64, v: u32) {
        self.versions.get_mut(&n).unwrap().push(v);
    }

    fn flushed(&mut self) {
        for (n, v) in &self.versions {
            self.durable.insert(*n, v.len() - 1);
        }
    }

    /// Versions track `n` may hold after a crash.
    fn allowed(&self, n: u64) -> Vec<u32> {
        self.versions[&n][self.durable[&n]..].to_vec()
    }
}

/// Three rounds of writes (every `stride`-th track, then every second and
/// third of those) with flushes between them, through a cache of four
/// tracks (so commits also happen inside writes), then drop.
fn scenario(st: &Arc<dyn Storage>, path: &Path, s: &VolumeSpec, stride: u64, h: &mut History) {
    let opts = OpenOptions {
        cache_tracks: 4,
        ..OpenOptions::read_write().on(Arc::clone(st))
    };
    let Ok(mut img) = Image::open(path, &opts) else { return };
    let plan: [(u32, u64, u64); 3] = [(1, 0, 1), (2, 1, 2), (3, 2, 3)];
    for (v, first, step) in plan {
        for n in (first * stride..s.tracks()).step_by(usize::try_from(step * stride).unwrap()) {
            let t = TrackAddr::from_index(n);
            if img.write(t, &stamped(t, v)).is_err() {
                return;
            }
            h.written(n, v);
        }
        if v < 3 {
            if img.flush().is_err() {
                return;
            }
            h.flushed();
        }
    }
    // The last round is committed by the drop, which may not complete.
}

/// The base image (created and durable) as files; a split P370 volume
/// has two cylinders per file (the least the headers can say: a first
/// file's highest cylinder 0 would mean "last file").
fn base(format: Format, s: &VolumeSpec, path: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let fs = SimStorage::new();
    let mut copts = CreateOptions::new(format);
    copts.split_cylinders = 2;
    copts.storage = Arc::new(fs.clone());
    create(path, s, &copts, &mut |_, _| {}).unwrap();
    fs.files()
}

/// Checks one crash state: opens read-only (a pending journal laid over
/// the image) and read-write (the journal applied), and checks every
/// track both times.
fn check_state(fs: &SimStorage, path: &Path, s: &VolumeSpec, h: &History, what: &str) {
    let allowed = |n: u64| h.allowed(n);
    let ro = OpenOptions::read_only().on(Arc::new(fs.clone()));
    let mut img = Image::open(path, &ro).unwrap_or_else(|e| panic!("{what}: read-only open: {e}"));
    check_all(&mut img, s, &allowed).unwrap_or_else(|e| panic!("{what}: read-only: {e}"));
    drop(img);
    let rw = OpenOptions::read_write().on(Arc::new(fs.clone()));
    let mut img = Image::open(path, &rw).unwrap_or_else(|e| panic!("{what}: read-write open: {e}"));
    check_all(&mut img, s, &allowed).unwrap_or_else(|e| panic!("{what}: read-write: {e}"));
    if let Image::Cckd(c) = &img {
        c.check_space().unwrap_or_else(|e| panic!("{what}: space: {e}"));
    }
    img.close().unwrap_or_else(|e| panic!("{what}: close: {e}"));
    // After a clean close everything reads the same again.
    let mut img = Image::open(path, &ro).unwrap();
    check_all(&mut img, s, &allowed).unwrap_or_else(|e| panic!("{what}: after close: {e}"));
}

fn cut_everywhere(format: Format, cylinders: u32, stride: u64, path: &Path) {
    let s = spec(cylinders, "CUT001", false);
    let files = base(format, &s, path);
    // A run without a crash: how many operations, and its result.
    let fs = SimStorage::with_files(files.clone());
    let st: Arc<dyn Storage> = Arc::new(fs.clone());
    let mut h = History::new(s.tracks());
    scenario(&st, path, &s, stride, &mut h);
    let total = fs.ops();
    assert!(total > 20, "{format:?}: only {total} operations");
    check_state(&fs, path, &s, &h, "no crash");
    let mut states = 0u64;
    for n in 0..=total {
        let fs = SimStorage::with_files(files.clone());
        fs.crash_after(n);
        let st: Arc<dyn Storage> = Arc::new(fs.clone());
        let mut h = History::new(s.tracks());
        scenario(&st, path, &s, stride, &mut h);
        for (what, state) in fs.crash_states() {
            check_state(
                &state,
                path,
                &s,
                &h,
                &format!("{format:?}, crash after {n} of {total}, {what}"),
            );
            states += 1;
        }
    }
    assert!(states > 3 * total);
}

#[test]
fn p370_survives_a_crash_after_every_operation() {
    cut_everywhere(Format::Ckd { split: false }, 1, 1, Path::new("d/cut.3390"));
}

#[test]
fn split_p370_survives_a_crash_after_every_operation() {
    // Files of two cylinders and one: a commit spans both.
    cut_everywhere(Format::Ckd { split: true }, 3, 4, Path::new("d/cut_1.3390"));
}

#[test]
fn cckd_survives_a_crash_after_every_operation() {
    cut_everywhere(Format::Cckd(Compression::Zlib), 1, 1, Path::new("d/cut.cckd"));
}

#[test]
fn cckd_uncompressed_survives_a_crash_after_every_operation() {
    cut_everywhere(Format::Cckd(Compression::None), 1, 1, Path::new("d/cut0.cckd"));
}

/// The child of `killed_writers_leave_consistent_images`: rewrites every
/// track round after round, flushing and reporting each round.
fn writer(path: &str, cylinders: u32) {
    let s = spec(cylinders, "KIL001", false);
    let opts = OpenOptions {
        cache_tracks: 8,
        ..OpenOptions::read_write()
    };
    let mut img = Image::open(Path::new(path), &opts).unwrap();
    for v in 1..=100_000u32 {
        for n in 0..s.tracks() {
            let t = TrackAddr::from_index(n);
            img.write(t, &stamped(t, v)).unwrap();
        }
        img.flush().unwrap();
        println!("flushed {v}");
    }
}

#[test]
fn killed_writers_leave_consistent_images() {
    const CYLINDERS: u32 = 2;
    if let (Ok(p), Ok(c)) = (std::env::var("ZCSS_KILL_WRITER"), std::env::var("ZCSS_KILL_CYLINDERS")) {
        writer(&p, c.parse().unwrap());
        return;
    }
    let dir = TempDir::new("kill");
    let s = spec(CYLINDERS, "KIL001", false);
    let exe = std::env::current_exe().unwrap();
    for (i, format) in [Format::Ckd { split: false }, Format::Cckd(Compression::Zlib)]
        .into_iter()
        .enumerate()
    {
        let p = dir.join(&format!("k{i}.img"));
        create(&p, &s, &CreateOptions::new(format), &mut |_, _| {}).unwrap();
        for (k, delay_ms) in [0u64, 3, 7, 13, 29].into_iter().enumerate() {
            let mut child = Command::new(&exe)
                .args([
                    "--exact",
                    "killed_writers_leave_consistent_images",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("ZCSS_KILL_WRITER", &p)
                .env("ZCSS_KILL_CYLINDERS", CYLINDERS.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let mut last = 0u32;
            // Let a few rounds complete, then kill it mid-way through one.
            while last < 2 + u32::try_from(k).unwrap() {
                let l = lines.next().expect("writer exited early").unwrap();
                if let Some(v) = l.strip_prefix("flushed ") {
                    last = v.parse().unwrap();
                }
            }
            std::thread::sleep(Duration::from_millis(delay_ms));
            child.kill().unwrap();
            child.wait().unwrap();
            for l in lines.map_while(Result::ok) {
                if let Some(v) = l.strip_prefix("flushed ") {
                    last = v.parse().unwrap();
                }
            }
            let mut img = Image::open(&p, &OpenOptions::read_write()).unwrap();
            for n in 0..s.tracks() {
                let t = TrackAddr::from_index(n);
                let v = version_of(t, img.read(t).unwrap(), &s).unwrap_or_else(|| panic!("track {t} torn"));
                assert!(
                    v == last || v == last + 1,
                    "{format:?} kill {k}: track {t} at {v}, last flush {last}"
                );
            }
            if let Image::Cckd(c) = &img {
                c.check_space().unwrap();
            }
            img.close().unwrap();
        }
    }
}
