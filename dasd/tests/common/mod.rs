//! Helpers shared by the image tests.
#![allow(dead_code, reason = "each test file uses a part")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

use zcss_dasd::layout::VolumeSpec;
use zcss_dasd::track::{Count, Records, TrackAddr, TrackBuilder};
use zcss_dasd::{TrackStore, Volser};

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("zcss-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The volume a test creates.
pub fn spec(cylinders: u32, volser: &str, linux: bool) -> VolumeSpec {
    VolumeSpec {
        cylinders,
        volser: Volser::new(volser).unwrap(),
        linux,
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Whether Hercules' tools are installed. Without them a test returns
/// early (one line printed per test binary) — unless `ZCSS_REQUIRE_HERCULES`
/// is set (as `.ci/run` does), when the test fails.
pub fn hercules() -> bool {
    static NOTE: Once = Once::new();
    let have = ["dasdinit", "dasdls", "cckdcdsk"].iter().all(|t| on_path(t));
    if !have {
        if std::env::var_os("ZCSS_REQUIRE_HERCULES").is_some_and(|v| v != "0") {
            panic!("ZCSS_REQUIRE_HERCULES is set but Hercules' dasdinit/dasdls/cckdcdsk are not on PATH");
        }
        // Past the test harness, which captures what tests print.
        NOTE.call_once(|| {
            use std::io::Write;
            let line =
                "skipping Hercules tool checks: dasdinit, dasdls, cckdcdsk not installed (apt-get install hercules)";
            match std::fs::OpenOptions::new().append(true).open("/dev/stderr") {
                Ok(mut f) => {
                    let _ = writeln!(f, "{line}");
                }
                Err(_) => eprintln!("{line}"),
            }
        });
    }
    have
}

/// Runs a tool; returns (success, stdout + stderr).
pub fn run(tool: &str, args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(tool).args(args).current_dir(dir).output().unwrap();
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), s)
}

/// A byte of the data of track `t`, version `v`, record `r`, position `i`.
fn pattern(t: u64, v: u32, r: u8, i: usize) -> u8 {
    let x = t.wrapping_mul(0x9e37_79b9).wrapping_add(u64::from(v) * 0x85eb_ca6b) ^ (u64::from(r) << 24) ^ (i as u64);
    (x ^ (x >> 13) ^ (x >> 29)).to_le_bytes()[0]
}

thread_local! {
    static STAMPED: std::cell::RefCell<std::collections::HashMap<(u64, u32), Vec<u8>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Track `t` at version `v` (v ≥ 1): `1 + v % 4` records of 4 KiB whose
/// first 12 bytes name track and version and whose other bytes follow a
/// pattern of both, so a torn or mixed image is recognized.
pub fn stamped(t: TrackAddr, v: u32) -> Vec<u8> {
    STAMPED.with(|m| {
        m.borrow_mut()
            .entry((t.index(), v))
            .or_insert_with(|| build_stamped(t, v))
            .clone()
    })
}

fn build_stamped(t: TrackAddr, v: u32) -> Vec<u8> {
    let n = t.index();
    let mut b = TrackBuilder::default();
    b.start(t);
    for r in 1..=(1 + (v % 4) as u8) {
        let mut d: Vec<u8> = (0..4096).map(|i| pattern(n, v, r, i)).collect();
        d[..8].copy_from_slice(&n.to_be_bytes());
        d[8..12].copy_from_slice(&v.to_be_bytes());
        let (c, h) = (u16::try_from(t.cyl).unwrap(), u16::try_from(t.head).unwrap());
        b.record(Count::new(c, h, r, 0, 4096), &[], &d);
    }
    b.finish().to_vec()
}

/// The version a stamped track image is, checking every byte; `Some(0)`
/// for the track as `spec` created it; `None` for anything else.
pub fn version_of(t: TrackAddr, img: &[u8], spec: &VolumeSpec) -> Option<u32> {
    let mut b = TrackBuilder::default();
    if img == spec.track(t, &mut b) {
        return Some(0);
    }
    let recs: Vec<_> = Records::new(img).collect::<Result<_, _>>().ok()?;
    let first = recs.get(1)?;
    let d = &img[first.data_offset()..first.end()];
    if d.len() < 12 {
        return None;
    }
    let v = u32::from_be_bytes(d[8..12].try_into().ok()?);
    if v == 0 || u64::from_be_bytes(d[..8].try_into().ok()?) != t.index() {
        return None;
    }
    STAMPED
        .with(|m| {
            m.borrow_mut()
                .entry((t.index(), v))
                .or_insert_with(|| build_stamped(t, v))
                .as_slice()
                == img
        })
        .then_some(v)
}

/// Every track of a store checked against `allowed(track) -> versions`.
pub fn check_all(
    store: &mut dyn TrackStore,
    spec: &VolumeSpec,
    allowed: &dyn Fn(u64) -> Vec<u32>,
) -> Result<(), String> {
    for n in 0..spec.tracks() {
        let t = TrackAddr::from_index(n);
        let img = store.read(t).map_err(|e| format!("track {t}: {e}"))?;
        let v = version_of(t, img, spec).ok_or_else(|| format!("track {t}: torn or foreign image"))?;
        let ok = allowed(n);
        if !ok.contains(&v) {
            return Err(format!("track {t}: version {v}, allowed {ok:?}"));
        }
    }
    Ok(())
}
