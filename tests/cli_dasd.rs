//! `zcss dasd format` and DASD images under replay, end to end: a volume
//! made by Hercules' `dasdinit -z` is formatted CDL with a partition
//! through channel programs, round-trips data, and passes Hercules'
//! `cckdcdsk -2` and `dasdls`; replay leaves images alone unless
//! `--write-images` is given.
//!
//! Tests that need Hercules' tools print one line and return when they are
//! missing, and fail when `ZCSS_REQUIRE_HERCULES` is set (`.ci/run`
//! installs them and sets it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Once};

use zcss::dasd::linux::{CssChannel, DiskLayout, Intensity, Layout, LinuxDasd, AREA_LEN, LABEL_SIZE};
use zcss::machine::{Machine, MachineConfig};
use zcss::trace::{parse, Recorder};
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::VecMemory;
use zcss_css::{Css, CssConfig};
use zcss_dasd::layout::{read_label, read_vtoc};
use zcss_dasd::{Dasd, DasdConfig, Image, OpenOptions, TrackStore};

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("zcss-cli-dasd-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Whether Hercules' tools are installed; without them a test returns
/// early (one line printed), unless `ZCSS_REQUIRE_HERCULES` is set.
fn hercules() -> bool {
    static NOTE: Once = Once::new();
    let have = ["dasdinit", "dasdls", "cckdcdsk"].iter().all(|t| on_path(t));
    if !have {
        assert!(
            std::env::var_os("ZCSS_REQUIRE_HERCULES").is_none_or(|v| v == "0"),
            "ZCSS_REQUIRE_HERCULES is set but Hercules' dasdinit/dasdls/cckdcdsk are not on PATH"
        );
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

/// Runs a program; returns (exit code, stdout, stderr).
fn run(prog: &str, args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(prog).args(args).current_dir(dir).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn zcss(args: &[&str], dir: &Path) -> (i32, String, String) {
    run(env!("CARGO_BIN_EXE_zcss"), args, dir)
}

/// Block `b`'s test data, version `v`.
fn pattern(b: u32, v: u8, len: usize) -> Vec<u8> {
    let [b0, b1, ..] = b.to_le_bytes();
    (0..len)
        .map(|i| {
            let [i0, ..] = i.to_le_bytes();
            b0 ^ b1.rotate_left(3) ^ i0.wrapping_mul(29) ^ v
        })
        .collect()
}

/// Linux's driver on the image at `path` (read-write), a 3390 on
/// subchannel fe.0.0000 of a channel subsystem of its own; `f` runs with
/// the driver online; the image is closed afterwards.
fn with_image<T>(path: &Path, f: impl FnOnce(&mut LinuxDasd) -> T) -> T {
    let img = Image::open(path, &OpenOptions::read_write()).unwrap();
    let model = img.info().model.unwrap();
    let css = Css::new(CssConfig::default());
    let sid = SubchannelId::new(0xfe, 0, 0).unwrap();
    let cfg = DasdConfig {
        model,
        ..DasdConfig::for_devno(0x0120)
    };
    css.attach_cold(sid, 0x0120, Box::new(Dasd::new(cfg, Box::new(img))))
        .unwrap();
    let mem = Arc::new(VecMemory::new(1 << 22));
    let mut d = LinuxDasd::new(CssChannel::new(css, mem, sid), AREA_LEN);
    d.online().unwrap();
    f(&mut d)
}

const BUF: u64 = 0x10_0000;

/// Writes blocks `first..first + n` of version `v` (4 KiB blocks, none of
/// them special).
fn write_blocks(d: &mut LinuxDasd, first: u32, n: u32, v: u8) {
    for b in first..first + n {
        d.store(BUF + u64::from(b - first) * 4096, &pattern(b, v, 4096))
            .unwrap();
    }
    d.write_blocks(first, n, BUF).unwrap();
}

/// Reads blocks `first..first + n` and checks they are version `v`.
fn check_blocks(d: &mut LinuxDasd, first: u32, n: u32, v: u8) {
    let rbuf = BUF + 0x10_0000;
    d.store(rbuf, &vec![0; 4096 * usize::try_from(n).unwrap()]).unwrap();
    d.read_blocks(first, n, rbuf).unwrap();
    for b in first..first + n {
        let got = d.fetch(rbuf + u64::from(b - first) * 4096, 4096).unwrap();
        assert!(got == pattern(b, v, 4096), "block {b} is not version {v}");
    }
}

#[test]
fn dasdinit_z_volume_formatted_cdl_with_partition_round_trips_and_passes_hercules_tools() {
    if !hercules() {
        return;
    }
    let dir = TempDir::new("accept");
    let (code, out, err) = run("dasdinit", &["-z", "v.cckd", "3390-1", "HRC001", "20"], &dir.0);
    assert!(
        code == 0 && (out + &err).contains("successfully"),
        "dasdinit exit {code}"
    );
    let (code, out, err) = zcss(
        &["dasd", "format", "v.cckd", "--cdl", "--partition", "--volser", "LNX001"],
        &dir.0,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("v.cckd: 3390-1 formatted CDL, 4096-byte blocks, 20 cylinders, 300 tracks, volume LNX001, partition LINUX.VLNX001.PART0001.NATIVE"),
        "{out}"
    );
    // Data through channel programs: written, then read back after the
    // image was closed and opened again.
    with_image(&dir.join("v.cckd"), |d| {
        assert_eq!(d.layout(), Layout::Cdl(4096));
        write_blocks(d, 24, 40, 1);
        write_blocks(d, 3575, 25, 2);
        check_blocks(d, 24, 40, 1);
    });
    with_image(&dir.join("v.cckd"), |d| {
        check_blocks(d, 24, 40, 1);
        check_blocks(d, 3575, 25, 2);
        // The VTOC's DSCBs read through the block device.
        let f1 = d.read_bytes(14 * 4096, usize::from(LABEL_SIZE)).unwrap();
        assert_eq!(f1[44], 0xf1, "format-1 DSCB of the partition");
    });
    let (_, out, err) = run("cckdcdsk", &["-2", "v.cckd"], &dir.0);
    assert!(
        !out.contains("HHCCU") && !err.contains("HHCCU"),
        "cckdcdsk -2:\n{out}{err}"
    );
    let (_, out, _) = run("dasdls", &["v.cckd"], &dir.0);
    assert!(out.contains("VOLSER=LNX001"), "{out}");
    assert!(out.contains("LINUX.VLNX001.PART0001.NATIVE"), "{out}");
    // zcss's own listing agrees.
    let mut img = Image::open(&dir.join("v.cckd"), &OpenOptions::read_only()).unwrap();
    let label = read_label(&mut img).unwrap().unwrap();
    let vtoc = read_vtoc(&mut img, &label).unwrap().unwrap();
    assert_eq!(vtoc.data_sets.len(), 1);
    assert_eq!(vtoc.data_sets[0].tracks(), 298);
}

#[test]
fn dasd_format_without_partition_writes_dasdfmt_s_empty_vtoc() {
    let dir = TempDir::new("empty-vtoc");
    let (code, out, err) = zcss(
        &[
            "dasd",
            "init",
            "e.cckd",
            "--model",
            "3390-1",
            "--volser",
            "OLD001",
            "--cckd",
            "--cylinders",
            "10",
        ],
        &dir.0,
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = zcss(&["dasd", "format", "e.cckd", "--cdl", "--cu", "3990-3"], &dir.0);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("volume 0X0120"), "dasdfmt's default volser: {out}");
    let (code, out, _) = zcss(&["dasd", "ls", "e.cckd"], &dir.0);
    assert_eq!(code, 0);
    assert!(out.contains("label   VOL1 0X0120, VTOC at 0/1 record 1"), "{out}");
    assert!(out.contains("no data sets"), "{out}");
    assert!(out.contains("148  12 records: 12 × 4096  (first 0/2)"), "{out}");
    if hercules() {
        let (_, out, err) = run("cckdcdsk", &["-2", "e.cckd"], &dir.0);
        assert!(
            !out.contains("HHCCU") && !err.contains("HHCCU"),
            "cckdcdsk -2:\n{out}{err}"
        );
        let (_, out, _) = run("dasdls", &["e.cckd"], &dir.0);
        assert!(out.contains("VOLSER=0X0120"), "{out}");
    }
}

#[test]
fn dasd_format_ldl_gives_every_track_the_block_size() {
    let dir = TempDir::new("ldl");
    let (code, ..) = zcss(
        &[
            "dasd",
            "init",
            "l.cckd",
            "--model",
            "3390-1",
            "--volser",
            "OLD001",
            "--cckd",
            "--cylinders",
            "4",
        ],
        &dir.0,
    );
    assert_eq!(code, 0);
    let (code, out, err) = zcss(
        &[
            "dasd",
            "format",
            "l.cckd",
            "--ldl",
            "--blocksize",
            "1024",
            "--volser",
            "ldl1",
        ],
        &dir.0,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("formatted LDL, 1024-byte blocks") && out.contains("volume LDL1"),
        "{out}"
    );
    let (_, out, _) = zcss(&["dasd", "ls", "l.cckd"], &dir.0);
    assert!(out.contains("60  33 records: 33 × 1024  (first 0/0)"), "{out}");
}

#[test]
fn dasd_format_usage_errors_exit_2() {
    let dir = TempDir::new("usage");
    for args in [
        &["dasd", "format", "x.cckd"][..],
        &["dasd", "format", "x.cckd", "--cdl", "--ldl"],
        &["dasd", "format", "x.cckd", "--ldl", "--partition"],
        &["dasd", "format", "x.cckd", "--cdl", "--blocksize", "1000"],
        &["dasd", "format", "x.cckd", "--cdl", "--cu", "3880"],
    ] {
        let (code, _, err) = zcss(args, &dir.0);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
    let (code, _, err) = zcss(&["dasd", "format", "missing.cckd", "--cdl"], &dir.0);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("missing.cckd"), "{err}");
}

/// A recorded trace of Linux formatting two cylinders of the image `img`
/// (a full-size 3390-3 CCKD volume) and writing a block.
fn recorded_format(dir: &TempDir, img: &str) -> String {
    let cfg = MachineConfig {
        memory: 1 << 22,
        ..MachineConfig::from_trace(
            &parse(&format!(
                "zcss-trace 1\ndevice fe.0.0000 devno=0120 dasd-3390 image={img}\n"
            ))
            .unwrap(),
        )
    };
    let rec = Recorder::new(&cfg);
    let m = Machine::build(&cfg, &dir.0, Some(&rec)).unwrap();
    let cpu = rec.cpu_memory(m.mem.clone());
    let ch =
        CssChannel::new(m.css.clone(), m.io_mem.clone(), SubchannelId::new(0xfe, 0, 0).unwrap()).with_cpu_memory(cpu);
    let mut d = LinuxDasd::new(ch, 0x1_0000);
    assert_eq!(d.online().unwrap(), Layout::Unformatted);
    d.format(0, 29, 4096, Intensity::Format(DiskLayout::Ldl)).unwrap();
    assert_eq!(d.analyze().unwrap(), Layout::Ldl(4096));
    write_blocks(&mut d, 100, 2, 9);
    check_blocks(&mut d, 100, 2, 9);
    rec.text()
}

#[test]
fn replay_leaves_images_alone_unless_write_images() {
    let dir = TempDir::new("images");
    let (code, out, err) = zcss(
        &[
            "dasd",
            "init",
            "full.cckd",
            "--model",
            "3390-3",
            "--volser",
            "FULL01",
            "--cckd",
        ],
        &dir.0,
    );
    assert_eq!(code, 0, "{out}{err}");
    let text = recorded_format(&dir, "full.cckd");
    let before = std::fs::read(dir.join("full.cckd")).unwrap();
    std::fs::write(dir.join("t.zct"), &text).unwrap();
    let (code, out, err) = zcss(&["replay", "t.zct"], &dir.0);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 mismatches"), "{out}");
    assert_eq!(
        std::fs::read(dir.join("full.cckd")).unwrap(),
        before,
        "replay wrote to the image"
    );
    let (code, out, err) = zcss(&["replay", "--write-images", "t.zct"], &dir.0);
    assert_eq!(code, 0, "{out}{err}");
    assert_ne!(std::fs::read(dir.join("full.cckd")).unwrap(), before);
    let mut img = Image::open(&dir.join("full.cckd"), &OpenOptions::read_only()).unwrap();
    let t = img.read(zcss_dasd::TrackAddr::new(0, 8)).unwrap().to_vec();
    let recs: Vec<_> = zcss_dasd::track::Records::new(&t).map(|r| r.unwrap()).collect();
    assert_eq!(recs.len(), 13, "R0 and twelve 4 KiB records");
    let r5 = recs[5];
    assert_eq!(
        &t[r5.data_offset()..r5.end()],
        &pattern(100, 9, 4096)[..],
        "block 100 is track 8 record 5"
    );
    // The trace was recorded on the unformatted image: replayed over the
    // formatted one, the analysis differs.
    let (code, out, _) = zcss(&["replay", "t.zct"], &dir.0);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn image_of_another_model_is_refused_naming_the_line() {
    let dir = TempDir::new("geometry");
    let (code, ..) = zcss(
        &[
            "dasd", "init", "one.cckd", "--model", "3390-1", "--volser", "ONE001", "--cckd",
        ],
        &dir.0,
    );
    assert_eq!(code, 0);
    std::fs::write(
        dir.join("g.zct"),
        "zcss-trace 1\n# a 3390-1 image on a 3390-9\ndevice fe.0.0000 devno=0120 dasd-3390 model=9 image=one.cckd\n",
    )
    .unwrap();
    let (code, _, err) = zcss(&["replay", "g.zct"], &dir.0);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("g.zct:3: DASD image ")
            && err.contains("the image has 1113 cylinders, a 3390-1; the device is a 3390-9"),
        "{err}"
    );
    let (code, _, err) = zcss(&["lscss", "g.zct"], &dir.0);
    assert_eq!(code, 3, "{err}");
}
