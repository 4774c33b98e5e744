//! zcss against Hercules' own tools (Debian package `hercules`): volumes
//! `dasdinit` makes open and read as Hercules reads them, and volumes zcss
//! writes pass `cckdcdsk -2` and list with `dasdls`.
//!
//! Without the tools each test returns early (one line printed); with
//! `ZCSS_REQUIRE_HERCULES=1` (`.ci/run` installs the package and sets it)
//! a missing tool fails the test.

mod common;

use std::path::Path;

use common::{hercules, run, spec, stamped, version_of, TempDir};
use zcss_dasd::image::{create, CckdImage, Compression, CreateOptions, Format, ImageKind};
use zcss_dasd::layout::{read_label, read_vtoc, CdlVtoc, NullTrack, Volser, VolumeSpec};
use zcss_dasd::track::{TrackAddr, TrackBuilder};
use zcss_dasd::{Image, Model, OpenOptions, TrackStore};

fn dasdinit(dir: &Path, args: &[&str]) {
    let (ok, out) = run("dasdinit", args, dir);
    assert!(ok && out.contains("successfully"), "dasdinit {args:?}: {out}");
}

/// `cckdcdsk -2` on a file: no message at all (it prints HHCCU… lines for
/// every finding and exits 0 either way).
fn cckdcdsk_clean(dir: &Path, file: &str) {
    let (_, out) = run("cckdcdsk", &["-2", file], dir);
    assert!(!out.contains("HHCCU"), "cckdcdsk -2 {file}:\n{out}");
}

/// `dasdls` output for a file.
fn dasdls(dir: &Path, file: &str) -> String {
    run("dasdls", &[file], dir).1
}

/// What Hercules reads on track `t` of a `dasdinit` volume: `spec`'s track,
/// except that in a `-z` image the tracks 2–255 have level-2 entries of
/// length 0 and read as null format 0 (an R1 of length 0).
fn hercules_view(s: &VolumeSpec, t: TrackAddr, cckd: bool, b: &mut TrackBuilder) -> Vec<u8> {
    let n = t.index();
    if cckd && !s.linux && (2..256).contains(&n) {
        NullTrack::Format0.build(t, b).to_vec()
    } else {
        s.track(t, b).to_vec()
    }
}

#[test]
fn dasdinit_volumes_open_and_read_as_hercules_reads_them() {
    if !hercules() {
        return;
    }
    let dir = TempDir::new("herc-dasdinit");
    let cases: [(&str, &[&str], bool, bool); 5] = [
        ("plain.3390", &[], false, false),
        ("z.cckd", &["-z"], true, false),
        ("zl.cckd", &["-z", "-linux"], true, true),
        ("p.3390", &["-lfs"], false, false),
        ("pl.3390", &["-lfs", "-linux"], false, true),
    ];
    for (name, opts, cckd, linux) in cases {
        let mut args: Vec<&str> = opts.to_vec();
        args.extend([name, "3390-1", "HRC001", "40"]);
        dasdinit(&dir.0, &args);
        let s = spec(40, "HRC001", linux);
        let mut img = Image::open(&dir.join(name), &OpenOptions::read_only()).unwrap();
        assert_eq!(
            img.info().kind,
            if cckd { ImageKind::Compressed } else { ImageKind::Plain }
        );
        assert_eq!(img.cylinders(), 40);
        let mut b = TrackBuilder::default();
        for n in 0..s.tracks() {
            let t = TrackAddr::from_index(n);
            let want = hercules_view(&s, t, cckd, &mut b);
            assert_eq!(img.read(t).unwrap(), &want[..], "{name} track {t}");
        }
        let l = read_label(&mut img).unwrap().unwrap();
        assert_eq!(l.volser.as_str(), "HRC001");
        assert_eq!(l.owner, "HERCULES");
        let vtoc = read_vtoc(&mut img, &l).unwrap();
        assert_eq!(vtoc.is_some(), linux, "{name}");
    }
}

#[test]
fn dasdinit_full_size_and_split_volumes_open() {
    if !hercules() {
        return;
    }
    let dir = TempDir::new("herc-split");
    // A 3390-3 in compressed form is a few kilobytes.
    dasdinit(&dir.0, &["-z", "m3.cckd", "3390-3", "M3VOL1"]);
    let img = Image::open_as(&dir.join("m3.cckd"), &OpenOptions::read_only(), Model::M3).unwrap();
    assert_eq!(img.cylinders(), 3339);
    drop(img);
    // Without -lfs, dasdinit splits a volume beyond 2,519 cylinders.
    dasdinit(&dir.0, &["sp.3390", "3390-3", "SPL001", "2520"]);
    let first = dir.join("sp_1.3390");
    let mut img = Image::open(&first, &OpenOptions::read_write()).unwrap();
    assert_eq!(img.cylinders(), 2520);
    assert_eq!(img.info().files.len(), 2);
    let s = spec(2520, "SPL001", false);
    let mut b = TrackBuilder::default();
    for t in [
        TrackAddr::new(0, 0),
        TrackAddr::new(2518, 14),
        TrackAddr::new(2519, 0),
        TrackAddr::new(2519, 14),
    ] {
        assert_eq!(img.read(t).unwrap(), s.track(t, &mut b), "track {t}");
    }
    let t = TrackAddr::new(2519, 7);
    img.write(t, &stamped(t, 1)).unwrap();
    img.close().unwrap();
    let mut img = Image::open(&first, &OpenOptions::read_only()).unwrap();
    assert_eq!(version_of(t, img.read(t).unwrap(), &s), Some(1));
    assert!(dasdls(&dir.0, "sp_1.3390").contains("F4DSCB record not found"));
}

/// Writes data tracks and a VTOC over a volume zcss created.
fn fill_and_partition(path: &Path, s: &VolumeSpec, rounds: u32) {
    let mut img = Image::open(path, &OpenOptions::read_write()).unwrap();
    for round in 1..=rounds {
        for n in (2..s.tracks()).step_by(usize::try_from(round).unwrap()) {
            let t = TrackAddr::from_index(n);
            img.write(t, &stamped(t, round)).unwrap();
        }
        img.flush().unwrap();
    }
    CdlVtoc::new(s.volser, s.cylinders).write(&mut img).unwrap();
    img.close().unwrap();
}

#[test]
fn zcss_cckd_volumes_pass_cckdcdsk_and_dasdls() {
    if !hercules() {
        return;
    }
    let dir = TempDir::new("herc-zcss");
    for (name, comp) in [("z.cckd", Compression::Zlib), ("n.cckd", Compression::None)] {
        let s = spec(30, "ZCS001", false);
        let p = dir.join(name);
        create(&p, &s, &CreateOptions::new(Format::Cckd(comp)), &mut |_, _| {}).unwrap();
        cckdcdsk_clean(&dir.0, name);
        // Rewrites leave free space behind: the free-space list and the
        // statistics of the header must be exact.
        fill_and_partition(&p, &s, 3);
        cckdcdsk_clean(&dir.0, name);
        let ls = dasdls(&dir.0, name);
        assert!(ls.contains("VOLSER=ZCS001"), "{ls}");
        assert!(ls.contains("LINUX.VZCS001.PART0001.NATIVE"), "{ls}");
        // zcss reads back what it wrote, and so does Hercules' listing after
        // zcss reopened and closed the image without writing.
        drop(Image::open(&p, &OpenOptions::read_write()).unwrap());
        cckdcdsk_clean(&dir.0, name);
        let mut img = CckdImage::open(&p, &OpenOptions::read_only()).unwrap();
        img.check_space().unwrap();
        // Rounds wrote every track from 2 on, every second, every third.
        for (n, v) in [(3, 1), (4, 2), (5, 3), (8, 3)] {
            let t = TrackAddr::from_index(n);
            assert_eq!(version_of(t, img.read(t).unwrap(), &s), Some(v), "track {t}");
        }
    }
}

#[test]
fn zcss_writes_to_dasdinit_volumes_pass_hercules_tools() {
    if !hercules() {
        return;
    }
    let dir = TempDir::new("herc-mixed");
    dasdinit(&dir.0, &["-z", "h.cckd", "3390-1", "MIX001", "20"]);
    dasdinit(&dir.0, &["-lfs", "h.3390", "3390-1", "MIX002", "20"]);
    for (name, vol) in [("h.cckd", "MIX001"), ("h.3390", "MIX002")] {
        let s = spec(20, vol, false);
        fill_and_partition(&dir.join(name), &s, 2);
        if name.ends_with("cckd") {
            cckdcdsk_clean(&dir.0, name);
        }
        let ls = dasdls(&dir.0, name);
        assert!(ls.contains(&format!("VOLSER={vol}")), "{ls}");
        assert!(ls.contains(&format!("LINUX.V{vol}.PART0001.NATIVE")), "{ls}");
    }
}

#[test]
fn zcss_p370_volumes_list_with_dasdls() {
    if !hercules() {
        return;
    }
    let dir = TempDir::new("herc-p370");
    let s = spec(12, "P37001", false);
    let p = dir.join("v.3390");
    create(
        &p,
        &s,
        &CreateOptions::new(Format::Ckd { split: false }),
        &mut |_, _| {},
    )
    .unwrap();
    assert!(dasdls(&dir.0, "v.3390").contains("F4DSCB record not found"));
    fill_and_partition(&p, &s, 1);
    let ls = dasdls(&dir.0, "v.3390");
    assert!(ls.contains("VOLSER=P37001"), "{ls}");
    assert!(ls.contains("LINUX.VP37001.PART0001.NATIVE"), "{ls}");
    // The listing as zcss reads it agrees.
    let mut img = Image::open(&p, &OpenOptions::read_only()).unwrap();
    let l = read_label(&mut img).unwrap().unwrap();
    let v = read_vtoc(&mut img, &l).unwrap().unwrap();
    assert_eq!(v.data_sets.len(), 1);
    assert_eq!(v.data_sets[0].tracks(), s.tracks() - 2);
    assert_eq!(l.volser, Volser::new("P37001").unwrap());
}

#[test]
fn zcss_p370_volumes_are_byte_identical_to_dasdinit_s() {
    if !hercules() {
        return;
    }
    let dir = TempDir::new("herc-bytes");
    for linux in [false, true] {
        let theirs = if linux { "d-linux.3390" } else { "d.3390" };
        let mut args = vec!["-lfs"];
        if linux {
            args.push("-linux");
        }
        args.extend([theirs, "3390-1", "BYT001", "6"]);
        dasdinit(&dir.0, &args);
        let ours = dir.join(&format!("z{linux}.3390"));
        create(
            &ours,
            &spec(6, "BYT001", linux),
            &CreateOptions::new(Format::Ckd { split: false }),
            &mut |_, _| {},
        )
        .unwrap();
        assert!(
            std::fs::read(dir.join(theirs)).unwrap() == std::fs::read(&ours).unwrap(),
            "linux {linux}"
        );
    }
}

#[test]
fn large_linux_volumes_get_dasdinit_s_vtoc() {
    if !hercules() {
        return;
    }
    // Beyond 65,535 tracks the empty VTOC has a format-7 DSCB and no free
    // extent in the format-5 key.
    let dir = TempDir::new("herc-big");
    for (model, cyls) in [("3390-9", 10_017u32), ("3390-3", 3339)] {
        dasdinit(&dir.0, &["-z", "-linux", "big.cckd", model, "BIG001"]);
        let mut img = Image::open(&dir.join("big.cckd"), &OpenOptions::read_only()).unwrap();
        let s = spec(cyls, "BIG001", true);
        let mut b = TrackBuilder::default();
        for t in [TrackAddr::new(0, 0), TrackAddr::new(0, 1), TrackAddr::new(cyls - 1, 14)] {
            assert_eq!(img.read(t).unwrap(), s.track(t, &mut b), "{model} track {t}");
        }
        drop(img);
        std::fs::remove_file(dir.join("big.cckd")).unwrap();
    }
}

#[test]
fn big_endian_cckd_images_read_and_write() {
    if !hercules() {
        return;
    }
    // cckdswap turns a dasdinit image big-endian (as on an s390 host); zcss
    // keeps its byte order when writing.
    let dir = TempDir::new("herc-be");
    dasdinit(&dir.0, &["-z", "be.cckd", "3390-1", "BEV001", "20"]);
    let (_, out) = run("cckdswap", &["be.cckd"], &dir.0);
    assert!(out.contains("big-endian"), "{out}");
    let s = spec(20, "BEV001", false);
    fill_and_partition(&dir.join("be.cckd"), &s, 2);
    let opts = std::fs::read(dir.join("be.cckd")).unwrap()[512 + 3];
    assert_eq!(opts & 0x02, 0x02, "still big-endian");
    let (_, out) = run("cckdcdsk", &["-2", "-ro", "be.cckd"], &dir.0);
    assert!(!out.contains("HHCCU"), "{out}");
    let ls = dasdls(&dir.0, "be.cckd");
    assert!(ls.contains("LINUX.VBEV001.PART0001.NATIVE"), "{ls}");
    let mut img = Image::open(&dir.join("be.cckd"), &OpenOptions::read_only()).unwrap();
    let t = TrackAddr::from_index(7);
    assert_eq!(version_of(t, img.read(t).unwrap(), &s), Some(1));
    let t = TrackAddr::from_index(8);
    assert_eq!(version_of(t, img.read(t).unwrap(), &s), Some(2));
}
