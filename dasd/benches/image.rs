//! Sequential read of a volume image from disk, against reading the file
//! itself in the same run.
//!
//! A 100-cylinder volume (1,500 tracks of twelve 4 KiB records) with data
//! that compresses about 2:1 — a third of the blocks zero, a third
//! text-like, a third random — is read track by track through
//! [`zcss_dasd::Image`]; `read_file` reads the same file in 1 MiB pieces.
//! Throughput counts track-image bytes for the volume and file bytes for
//! the file (both from the page cache after the first pass). For CCKD,
//! `inflate_only` decompresses the same stored images from memory with
//! nothing else: the bound zlib sets on `read_volume`.
//!
//! `cargo bench -p zcss-dasd --bench image -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zcss_dasd::image::{create, Compression, CreateOptions, Format};
use zcss_dasd::layout::VolumeSpec;
use zcss_dasd::track::{Count, TrackAddr, TrackBuilder};
use zcss_dasd::{Image, OpenOptions, TrackStore, Volser};

const CYLINDERS: u32 = 100;

/// A 4 KiB block: zeros, text-like words or xorshift noise.
fn block(n: u64, out: &mut [u8]) {
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    match n % 3 {
        0 => out.fill(0),
        1 => {
            let words: [&[u8]; 8] = [
                b"volume ",
                b"track ",
                b"record ",
                b"the ",
                b"channel ",
                b"data ",
                b"\n",
                b"zcss ",
            ];
            let mut i = 0;
            while i < out.len() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let w = words[usize::try_from(x % 8).unwrap_or(0)];
                let k = w.len().min(out.len() - i);
                out[i..i + k].copy_from_slice(&w[..k]);
                i += k;
            }
        }
        _ => {
            for b in out.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x.to_le_bytes()[0];
            }
        }
    }
}

fn make(dir: &Path, format: Format, name: &str) -> (PathBuf, u64) {
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    let _ = std::fs::remove_file(zcss_dasd::image::journal_path(&p));
    let spec = VolumeSpec {
        cylinders: CYLINDERS,
        volser: Volser::new("BENCH1").unwrap(),
        linux: false,
    };
    create(&p, &spec, &CreateOptions::new(format), &mut |_, _| {}).unwrap();
    let mut img = Image::open(&p, &OpenOptions::read_write()).unwrap();
    let mut b = TrackBuilder::default();
    let mut data = vec![0u8; 4096];
    let mut bytes = 0u64;
    for n in 0..spec.tracks() {
        let t = TrackAddr::from_index(n);
        b.start(t);
        for r in 1..=12u8 {
            block(n * 12 + u64::from(r), &mut data);
            let (c, h) = (u16::try_from(t.cyl).unwrap(), u16::try_from(t.head).unwrap());
            b.record(Count::new(c, h, r, 0, 4096), &[], &data);
        }
        let img_bytes = b.finish();
        bytes += img_bytes.len() as u64;
        img.write(t, img_bytes).unwrap();
    }
    img.close().unwrap();
    (p, bytes)
}

fn read_volume(p: &Path) -> u64 {
    let mut img = Image::open(p, &OpenOptions::read_only()).unwrap();
    let mut sum = 0u64;
    for n in 0..zcss_dasd::Model::tracks(img.cylinders()) {
        let t = img.read(TrackAddr::from_index(n)).unwrap();
        sum += u64::from(t[t.len() - 9]);
    }
    sum
}

fn read_file(p: &Path, buf: &mut [u8]) -> u64 {
    let mut f = std::fs::File::open(p).unwrap();
    let mut sum = 0u64;
    loop {
        let n = f.read(buf).unwrap();
        if n == 0 {
            return sum;
        }
        sum += u64::from(buf[n - 1]);
    }
}

/// The stored (compressed) track images of a CCKD image.
fn stored_images(p: &Path) -> Vec<Vec<u8>> {
    let img = zcss_dasd::image::CckdImage::open(p, &OpenOptions::read_only()).unwrap();
    let file = std::fs::read(p).unwrap();
    (0..zcss_dasd::Model::tracks(img.cylinders()))
        .filter_map(|n| img.location(TrackAddr::from_index(n)))
        .map(|(pos, len)| {
            let at = usize::try_from(pos).unwrap();
            file[at..at + usize::from(len)].to_vec()
        })
        .collect()
}

/// Inflates stored images (those compressed) into a reused buffer.
fn inflate_all(stored: &[Vec<u8>], z: &mut flate2::Decompress, out: &mut Vec<u8>) -> u64 {
    let mut sum = 0u64;
    for s in stored.iter().filter(|s| s[0] == 1) {
        z.reset(true);
        out.clear();
        z.decompress_vec(&s[5..], out, flate2::FlushDecompress::Finish).unwrap();
        sum += out.len() as u64;
    }
    sum
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("zcss-bench-image-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    for (label, format, name) in [
        ("cckd", Format::Cckd(Compression::Zlib), "b.cckd"),
        ("p370", Format::Ckd { split: false }, "b.3390"),
    ] {
        let (p, track_bytes) = make(&dir, format, name);
        let file_bytes = std::fs::metadata(&p).unwrap().len();
        let mut g = c.benchmark_group(format!("image_{label}"));
        g.sample_size(10);
        g.throughput(Throughput::Bytes(track_bytes));
        g.bench_function("read_volume", |b| b.iter(|| black_box(read_volume(&p))));
        if label == "cckd" {
            let stored = stored_images(&p);
            let mut z = flate2::Decompress::new(true);
            let mut out = Vec::with_capacity(64 * 1024);
            let inflated = inflate_all(&stored, &mut z, &mut out);
            let raw: u64 = stored.iter().filter(|s| s[0] == 0).map(|s| s.len() as u64).sum();
            g.throughput(Throughput::Bytes(inflated + raw));
            g.bench_function("inflate_only", |b| {
                b.iter(|| black_box(inflate_all(&stored, &mut z, &mut out)))
            });
        }
        g.throughput(Throughput::Bytes(file_bytes));
        g.bench_function("read_file", |b| b.iter(|| black_box(read_file(&p, &mut buf))));
        g.finish();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
