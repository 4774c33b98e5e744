//! Replay throughput: parse and replay a large generated trace of a
//! STSCH / SSCH / TSCH mix (each SSCH a one-CCW SENSE ID on one of 16
//! enabled virtio-rng subchannels), in statements per second.
//!
//! `cargo bench --bench replay`

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zcss::trace::replay::{replay, ReplayOptions};
use zcss::trace::{parse, print};

const DEVICES: u16 = 16;

/// A trace of `rounds` × (STSCH, SSCH, TSCH) after enabling `DEVICES`
/// subchannels; every result is checked.
fn generate(rounds: u32) -> String {
    let mut t = String::from("zcss-trace 1\nmachine memory=0x100000\n");
    for s in 0..DEVICES {
        let _ = writeln!(t, "device fe.0.{s:04x} devno={s:04x} virtio-rng");
    }
    for s in 0..DEVICES {
        let w = 0x0001_0000 | u32::from(s);
        let _ = writeln!(t, "stsch {w:#010x} 0x1000 => cc=0");
        let _ = writeln!(t, "store 0x1004 18810{s:03x}\nmsch {w:#010x} 0x1000 => cc=0");
    }
    t.push_str("store 0x1800 00000001 0080ff00 00002000\nstore 0x2000 e4200008 00003000\n");
    for r in 0..rounds {
        let s = u16::try_from(r % u32::from(DEVICES)).unwrap_or(0);
        let w = 0x0001_0000 | u32::from(s);
        // Every fourth STSCH looks past the last device (cc 3).
        let probe = if r % 4 == 0 {
            0x0001_0000 | u32::from(DEVICES)
        } else {
            w
        };
        let cc = if r % 4 == 0 { 3 } else { 0 };
        let _ = writeln!(t, "stsch {probe:#010x} 0x1000 => cc={cc}");
        let _ = writeln!(t, "ssch {w:#010x} 0x1800 => cc=0");
        let _ = writeln!(t, "tsch {w:#010x} 0x4000 => cc=0");
    }
    t
}

fn bench_replay(c: &mut Criterion) {
    let text = generate(100_000);
    let trace = parse(&text).unwrap();
    let statements = trace.statements().count() as u64;
    // The trace is valid: a replay finds nothing.
    let mut sink = std::io::sink();
    let r = replay(
        &trace,
        Path::new("."),
        &ReplayOptions::default(),
        &mut sink,
        &mut |_| {},
    )
    .unwrap();
    assert!(
        r.mismatches.is_empty(),
        "{:?}",
        &r.mismatches[..r.mismatches.len().min(3)]
    );
    assert_eq!(print(&trace), text);

    let mut g = c.benchmark_group("replay");
    g.throughput(Throughput::Elements(statements));
    g.sample_size(10);
    g.bench_function("parse+replay stsch/ssch/tsch (300k statements)", |b| {
        b.iter(|| {
            let t = parse(black_box(&text)).unwrap();
            let mut sink = std::io::sink();
            replay(&t, Path::new("."), &ReplayOptions::default(), &mut sink, &mut |_| {}).unwrap()
        });
    });
    g.bench_function("replay only (300k statements)", |b| {
        b.iter(|| {
            let mut sink = std::io::sink();
            replay(
                black_box(&trace),
                Path::new("."),
                &ReplayOptions::default(),
                &mut sink,
                &mut |_| {},
            )
            .unwrap()
        });
    });
    g.bench_function("parse only (300k statements)", |b| {
        b.iter(|| parse(black_box(&text)).unwrap());
    });
    g.finish();
}

criterion_group!(benches, bench_replay);
criterion_main!(benches);
