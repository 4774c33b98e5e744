//! Image formats without Hercules' tools: volumes zcss creates open and
//! read as `dasdinit` lays them out, writes persist, split volumes span
//! their files, and the geometry check refuses a foreign model.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{spec, stamped, version_of, TempDir};
use zcss_dasd::image::sim::SimStorage;
use zcss_dasd::image::{create, CckdImage, Compression, CreateOptions, Format, ImageKind};
use zcss_dasd::layout::{NullTrack, VolumeSpec};
use zcss_dasd::track::{Records, TrackAddr, TrackBuilder};
use zcss_dasd::{Image, ImageError, Model, OpenOptions, StoreError, TrackStore};

const FORMATS: [Format; 3] = [
    Format::Ckd { split: false },
    Format::Cckd(Compression::Zlib),
    Format::Cckd(Compression::None),
];

fn make(dir: &TempDir, name: &str, s: &VolumeSpec, f: Format) -> std::path::PathBuf {
    let p = dir.join(name);
    create(&p, s, &CreateOptions::new(f), &mut |_, _| {}).unwrap();
    p
}

fn all_tracks_match(img: &mut dyn TrackStore, s: &VolumeSpec) {
    let mut b = TrackBuilder::default();
    for n in 0..s.tracks() {
        let t = TrackAddr::from_index(n);
        assert_eq!(img.read(t).unwrap(), s.track(t, &mut b), "track {t}");
    }
}

#[test]
fn created_volumes_read_as_dasdinit_lays_them_out() {
    let dir = TempDir::new("fmt-create");
    for (i, f) in FORMATS.into_iter().enumerate() {
        for linux in [false, true] {
            let s = spec(3, "ZCSS01", linux);
            let p = make(&dir, &format!("v{i}{linux}.img"), &s, f);
            let mut img = Image::open(&p, &OpenOptions::read_only()).unwrap();
            assert_eq!(img.cylinders(), 3);
            assert_eq!(img.info().model, Some(Model::M1));
            assert_eq!(img.max_track_len(), 56_832);
            all_tracks_match(&mut img, &s);
        }
    }
}

#[test]
fn cckd_stores_only_tracks_that_are_not_null() {
    let dir = TempDir::new("fmt-null");
    let s = spec(20, "NUL001", true);
    let p = make(&dir, "n.cckd", &s, Format::Cckd(Compression::Zlib));
    let mut img = CckdImage::open(&p, &OpenOptions::read_write()).unwrap();
    assert!(img.location(TrackAddr::new(0, 0)).is_some());
    assert!(img.location(TrackAddr::new(0, 1)).is_some());
    assert!(img.location(TrackAddr::new(0, 2)).is_none());
    // A stamped track is stored; writing the null format back frees it.
    let t = TrackAddr::new(7, 3);
    img.write(t, &stamped(t, 1)).unwrap();
    img.flush().unwrap();
    assert!(img.location(t).is_some());
    let mut b = TrackBuilder::default();
    let empty = NullTrack::Format2.build(t, &mut b).to_vec();
    img.write(t, &empty).unwrap();
    img.flush().unwrap();
    assert_eq!(img.location(t), None);
    assert_eq!(img.read(t).unwrap(), &empty[..]);
    assert_eq!(img.check_space().unwrap(), 2);
}

#[test]
fn writes_and_updates_persist_across_reopen() {
    let dir = TempDir::new("fmt-persist");
    for (i, f) in FORMATS.into_iter().enumerate() {
        let s = spec(2, "PER001", false);
        let p = make(&dir, &format!("p{i}.img"), &s, f);
        let t1 = TrackAddr::new(1, 4);
        let t2 = TrackAddr::new(0, 0);
        {
            let mut img = Image::open(&p, &OpenOptions::read_write()).unwrap();
            img.write(t1, &stamped(t1, 2)).unwrap();
            // Update VOL1's owner field in place.
            let r3 = Records::new(img.read(t2).unwrap()).nth(3).unwrap().unwrap();
            img.update(t2, r3.data_offset() + 37, b"\xe9\xc3\xe2\xe2").unwrap();
            // An update may not touch a count field.
            assert!(img.update(t2, r3.offset, &[0; 8]).is_err());
            assert!(matches!(img.update(t2, 60_000, &[0]), Err(StoreError::OutOfTrack(_))));
        } // drop commits
        let mut img = Image::open(&p, &OpenOptions::read_only()).unwrap();
        assert_eq!(version_of(t1, img.read(t1).unwrap(), &s), Some(2));
        let r3 = Records::new(img.read(t2).unwrap()).nth(3).unwrap().unwrap();
        let d = img.read(t2).unwrap();
        assert_eq!(&d[r3.data_offset() + 37..r3.data_offset() + 41], b"\xe9\xc3\xe2\xe2");
        assert!(matches!(img.write(t1, &stamped(t1, 3)), Err(StoreError::ReadOnly)));
        assert!(matches!(
            img.read(TrackAddr::new(2, 0)),
            Err(StoreError::NoSuchTrack(_))
        ));
        assert!(
            !zcss_dasd::image::journal_path(&p).exists()
                || std::fs::metadata(zcss_dasd::image::journal_path(&p)).unwrap().len() == 0
        );
    }
}

#[test]
fn many_rewrites_keep_a_cckd_image_compact_and_consistent() {
    let dir = TempDir::new("fmt-rewrite");
    let s = spec(4, "RW0001", false);
    let p = make(&dir, "rw.cckd", &s, Format::Cckd(Compression::Zlib));
    let opts = OpenOptions {
        cache_tracks: 8,
        ..OpenOptions::read_write()
    };
    let mut img = CckdImage::open(&p, &opts).unwrap();
    for round in 1..=6u32 {
        for n in (0..s.tracks()).filter(|n| n % 3 != round as u64 % 3) {
            let t = TrackAddr::from_index(n);
            img.write(t, &stamped(t, round)).unwrap();
        }
        img.flush().unwrap();
        img.check_space().unwrap();
    }
    img.close().unwrap();
    let len = std::fs::metadata(&p).unwrap().len();
    // Every track holds one to four 4 KiB records of incompressible data;
    // freed space is reused, so the file stays near the data it holds.
    let mut img = Image::open(&p, &OpenOptions::read_only()).unwrap();
    let mut data = 0u64;
    for n in 0..s.tracks() {
        let t = TrackAddr::from_index(n);
        let v = version_of(t, img.read(t).unwrap(), &s).unwrap();
        let expect = (1..=6u32).rev().find(|r| n % 3 != u64::from(*r) % 3).unwrap();
        assert_eq!(v, expect, "track {t}");
        data += img.read(t).unwrap().len() as u64;
    }
    assert!(len < data * 2, "file {len} bytes for {data} bytes of tracks");
}

#[test]
fn open_as_checks_the_model() {
    let dir = TempDir::new("fmt-geom");
    let p = make(
        &dir,
        "g.cckd",
        &spec(10, "GEO001", false),
        Format::Cckd(Compression::Zlib),
    );
    assert!(Image::open_as(&p, &OpenOptions::read_only(), Model::M1).is_ok());
    let e = Image::open_as(&p, &OpenOptions::read_only(), Model::M3).unwrap_err();
    assert!(matches!(
        e,
        ImageError::Geometry {
            cylinders: 10,
            found: Some(Model::M1),
            expected: Model::M3,
            ..
        }
    ));
    assert!(e.to_string().contains("3390-3"), "{e}");
    let store = zcss_dasd::open_store(&p, &OpenOptions::read_only(), Model::M1).unwrap();
    assert_eq!(store.cylinders(), 10);
}

#[test]
fn foreign_and_missing_files_are_errors() {
    let dir = TempDir::new("fmt-foreign");
    let p = dir.join("junk");
    std::fs::write(&p, vec![7u8; 2000]).unwrap();
    assert!(matches!(
        Image::open(&p, &OpenOptions::read_only()),
        Err(ImageError::NotAnImage { .. })
    ));
    std::fs::write(&p, b"short").unwrap();
    assert!(matches!(
        Image::open(&p, &OpenOptions::read_only()),
        Err(ImageError::NotAnImage { .. })
    ));
    assert!(matches!(
        Image::open(&dir.join("none"), &OpenOptions::read_only()),
        Err(ImageError::Io { .. })
    ));
    let q = make(&dir, "x.3390", &spec(1, "X", false), Format::Ckd { split: false });
    assert!(matches!(
        create(
            &q,
            &spec(1, "X", false),
            &CreateOptions::new(Format::Ckd { split: false }),
            &mut |_, _| {}
        ),
        Err(ImageError::Exists { .. })
    ));
    // A P370 file cut short is damaged.
    let len = std::fs::metadata(&q).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&q).unwrap();
    f.set_len(len - 100).unwrap();
    assert!(matches!(
        Image::open(&q, &OpenOptions::read_only()),
        Err(ImageError::Damaged { .. })
    ));
}

#[test]
fn split_volume_spans_its_files() {
    // Files of 2 cylinders (dasdinit's are 2,519); same names and headers.
    let fs = SimStorage::new();
    let st: Arc<dyn zcss_dasd::image::Storage> = Arc::new(fs.clone());
    let s = spec(5, "SPL001", false);
    let mut copts = CreateOptions::new(Format::Ckd { split: true });
    copts.split_cylinders = 2;
    copts.storage = Arc::clone(&st);
    let files = create(Path::new("d/vol.3390"), &s, &copts, &mut |_, _| {}).unwrap();
    assert_eq!(
        files,
        ["d/vol_1.3390", "d/vol_2.3390", "d/vol_3.3390"].map(std::path::PathBuf::from)
    );
    let t = TrackAddr::new(4, 14);
    let first_of_2 = TrackAddr::new(2, 0);
    let last_of_1 = TrackAddr::new(1, 14);
    let opts = OpenOptions::read_write().on(Arc::clone(&st));
    {
        let mut img = Image::open(&files[0], &opts).unwrap();
        assert_eq!(img.cylinders(), 5);
        assert_eq!(img.info().files, files);
        assert_eq!(img.info().kind, ImageKind::Plain);
        img.write(t, &stamped(t, 1)).unwrap();
        img.write(first_of_2, &stamped(first_of_2, 3)).unwrap();
        img.close().unwrap();
    }
    let mut img = Image::open(&files[0], &OpenOptions::read_only().on(Arc::clone(&st))).unwrap();
    all_versions(&mut img, &s, &[(t, 1), (first_of_2, 3), (last_of_1, 0)]);
    let f = fs.files();
    // Headers: sequence 1 to 3, each file's highest cylinder, 0 on the last.
    let h: Vec<_> = files
        .iter()
        .map(|p| (f[p][17], u16::from_le_bytes([f[p][18], f[p][19]])))
        .collect();
    assert_eq!(h, vec![(1, 1), (2, 3), (3, 0)]);
    assert_eq!(f[&files[2]].len(), 512 + 15 * 56_832);
    // A missing file is an error naming it.
    let mut gone = f.clone();
    gone.remove(&files[2]);
    let e = Image::open(
        &files[0],
        &OpenOptions::read_only().on(Arc::new(SimStorage::with_files(gone))),
    )
    .unwrap_err();
    assert!(e.to_string().contains("vol_3.3390"), "{e}");
}

fn all_versions(img: &mut dyn TrackStore, s: &VolumeSpec, expect: &[(TrackAddr, u32)]) {
    for &(t, v) in expect {
        assert_eq!(version_of(t, img.read(t).unwrap(), s), Some(v), "track {t}");
    }
}

#[test]
fn committed_journal_is_replayed_or_overlaid() {
    // Build a P370 image in memory, then stop a commit right after its
    // journal became durable.
    let fs = SimStorage::new();
    let st: Arc<dyn zcss_dasd::image::Storage> = Arc::new(fs.clone());
    let p = Path::new("j.3390");
    let s = spec(1, "JNL001", false);
    let mut copts = CreateOptions::new(Format::Ckd { split: false });
    copts.storage = Arc::clone(&st);
    create(p, &s, &copts, &mut |_, _| {}).unwrap();
    let t = TrackAddr::new(0, 5);
    let opts = OpenOptions::read_write().on(Arc::clone(&st));
    let mut img = Image::open(p, &opts).unwrap();
    img.write(t, &stamped(t, 1)).unwrap();
    // Journal write + journal sync, and the journal is durable (first commit
    // also creates the journal file and syncs its directory).
    fs.crash_after(4);
    assert!(img.flush().is_err());
    drop(img);
    let after = SimStorage::with_files(fs.files());
    let journal = zcss_dasd::image::journal_path(p);
    assert!(after.files()[&journal].len() > 64, "journal holds the commit");
    let ro = OpenOptions::read_only().on(Arc::new(after.clone()));
    let mut img = Image::open(p, &ro).unwrap();
    assert_eq!(
        version_of(t, img.read(t).unwrap(), &s),
        Some(1),
        "read-only open overlays the journal"
    );
    drop(img);
    assert!(after.files()[&journal].len() > 64, "read-only open leaves the journal");
    let rw = OpenOptions::read_write().on(Arc::new(after.clone()));
    drop(Image::open(p, &rw).unwrap());
    assert_eq!(
        after.files()[&journal].len(),
        0,
        "read-write open applies and empties it"
    );
    let mut img = Image::open(p, &ro).unwrap();
    assert_eq!(version_of(t, img.read(t).unwrap(), &s), Some(1));
}

#[test]
fn write_through_commits_at_each_sync_point() {
    for f in [Format::Ckd { split: false }, Format::Cckd(Compression::Zlib)] {
        let fs = SimStorage::new();
        let st: Arc<dyn zcss_dasd::image::Storage> = Arc::new(fs.clone());
        let p = Path::new("w.img");
        let s = spec(1, "WT0001", false);
        let mut copts = CreateOptions::new(f);
        copts.storage = Arc::clone(&st);
        create(p, &s, &copts, &mut |_, _| {}).unwrap();
        let t = TrackAddr::new(0, 9);
        let mut img = Image::open(p, &OpenOptions::read_write().write_through(true).on(Arc::clone(&st))).unwrap();
        img.write(t, &stamped(t, 1)).unwrap();
        img.sync_point().unwrap();
        // Power lost now: the write is durable.
        let (_, none) = fs.crash_states().into_iter().find(|(n, _)| n == "none").unwrap();
        let mut back = Image::open(p, &OpenOptions::read_only().on(Arc::new(none))).unwrap();
        assert_eq!(version_of(t, back.read(t).unwrap(), &s), Some(1), "{f:?}");
        // A write-back image does nothing at a sync point.
        drop(img);
        let mut img = Image::open(p, &OpenOptions::read_write().on(Arc::clone(&st))).unwrap();
        img.write(t, &stamped(t, 2)).unwrap();
        let before = fs.syncs();
        img.sync_point().unwrap();
        assert_eq!(fs.syncs(), before, "{f:?}");
    }
}

/// Opening and reading every track of a damaged image reports errors and
/// never panics.
fn read_everything(files: std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>, p: &Path) {
    let st: Arc<dyn zcss_dasd::image::Storage> = Arc::new(SimStorage::with_files(files));
    for opts in [OpenOptions::read_only(), OpenOptions::read_write()] {
        if let Ok(mut img) = Image::open(p, &opts.on(Arc::clone(&st))) {
            for n in 0..zcss_dasd::Model::tracks(img.cylinders()).min(100) {
                let _ = img.read(TrackAddr::from_index(n));
            }
            let t = TrackAddr::new(0, 3);
            let _ = img.write(t, &stamped(t, 1));
            let _ = img.flush();
        }
    }
}

fn sim_image(f: Format) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let fs = SimStorage::new();
    let mut copts = CreateOptions::new(f);
    copts.storage = Arc::new(fs.clone());
    create(Path::new("x.img"), &spec(1, "DMG001", true), &copts, &mut |_, _| {}).unwrap();
    fs.files()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    #[test]
    fn damaged_cckd_images_never_panic(hits in proptest::collection::vec((0usize..70_000, proptest::num::u8::ANY), 1..12)) {
        let mut files = sim_image(Format::Cckd(Compression::Zlib));
        let img = files.get_mut(Path::new("x.img")).unwrap();
        for (at, b) in hits {
            let at = at % img.len();
            img[at] = b;
        }
        read_everything(files, Path::new("x.img"));
    }

    #[test]
    fn damaged_p370_images_never_panic(hits in proptest::collection::vec((0usize..2_000, proptest::num::u8::ANY), 1..12)) {
        let mut files = sim_image(Format::Ckd { split: false });
        let img = files.get_mut(Path::new("x.img")).unwrap();
        for (at, b) in hits {
            // Headers and the first track's records.
            img[at % 2_000] = b;
        }
        read_everything(files, Path::new("x.img"));
    }
}
