//! ECKD device benchmarks, each against a baseline measured in the same
//! run (issue 9 item 8):
//!
//! * `eckd_full_track/dx_lr_12x4k_idaw2` — DEFINE EXTENT + LOCATE RECORD +
//!   12 × READ DATA (MT) of 4 KiB through format-2 IDAWs, one whole 3390
//!   track, run by the channel-program engine; baseline
//!   `eckd_full_track/memcpy_48k` (a host `copy_from_slice` of the same
//!   48 KiB). Target: throughput ≥ 0.5 × memcpy.
//! * `eckd_random_4k/ssch_tsch_dx_lr_read` — a random 4 KiB record read,
//!   START SUBCHANNEL → interruption → TEST SUBCHANNEL through the css,
//!   DX + LR + READ DATA, on an in-memory volume; baseline
//!   `eckd_random_4k/ssch_tsch_one_ccw` (the css round trip of one NOP to
//!   the same device). Target: ≤ 6 × the baseline.
//!
//! After the criterion groups the bench prints both ratios from a short
//! interleaved measurement of its own.
//!
//! Run: `cargo bench -p zcss-dasd --bench eckd -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::{Ccw, CcwFlags, Engine, NoHooks, Orb, OrbControls, VecMemory};
use zcss_css::{Cc, Css, CssConfig, IoCtx};
use zcss_dasd::store::MemStore;
use zcss_dasd::track::{Count, TrackAddr, TrackBuilder};
use zcss_dasd::{Dasd, DasdConfig, TrackStore};

const CYLS: u32 = 20;
const PROG: u64 = 0x1000;
const PARAMS: u64 = 0x2000;
const IDAL: u64 = 0x3000;
const SCHIB: u64 = 0x4000;
const ORB: u64 = 0x4800;
const IRB: u64 = 0x5000;
const BUF: u64 = 0x10_0000;
const TRACK_BYTES: usize = 12 * 4096;

/// A volume of `CYLS` cylinders, every track 12 records of 4 KiB.
fn volume() -> MemStore {
    let mut s = MemStore::new(CYLS);
    let mut b = TrackBuilder::default();
    let data = vec![0xa5u8; 4096];
    for t in (0..u64::from(CYLS) * 15).map(TrackAddr::from_index) {
        let (c, h) = (u16::try_from(t.cyl).unwrap(), u16::try_from(t.head).unwrap());
        b.start(t);
        for r in 1..=12 {
            b.record(Count::new(c, h, r, 0, 4096), &[], &data);
        }
        s.write(t, b.finish()).unwrap();
    }
    s
}

fn ccw(cmd: u8, flags: u8, count: u16, cda: u64) -> [u8; 8] {
    Ccw {
        cmd,
        flags: CcwFlags::from_bits(flags),
        count,
        cda: u32::try_from(cda).unwrap(),
    }
    .to_format1()
    .to_be_bytes()
}

fn de(from: u32, to: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = 0x40;
    b[1] = 0xc0;
    let t = |x: u32| TrackAddr::from_index(u64::from(x)).cchh().unwrap();
    b[8..12].copy_from_slice(&t(from));
    b[12..16].copy_from_slice(&t(to));
    b
}

fn lr(track: u32, rec: u8, count: u8) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = 0x06;
    b[1] = 0x80;
    b[3] = count;
    b[4..8].copy_from_slice(&TrackAddr::from_index(u64::from(track)).cchh().unwrap());
    b.copy_within(4..8, 8);
    b[12] = rec;
    b[14..16].copy_from_slice(&4096u16.to_be_bytes());
    b
}

/// DX + LR + 12 READ DATA (MT), each through one format-2 IDAW.
fn full_track_program(mem: &VecMemory, track: u32) {
    mem.store(PARAMS, &de(track, track)).unwrap();
    mem.store(PARAMS + 16, &lr(track, 1, 12)).unwrap();
    mem.store(PROG, &ccw(0x63, 0x40, 16, PARAMS)).unwrap();
    mem.store(PROG + 8, &ccw(0x47, 0x40, 16, PARAMS + 16)).unwrap();
    for i in 0..12u64 {
        mem.store(IDAL + 8 * i, &(BUF + 4096 * i).to_be_bytes()).unwrap();
        let flags = if i == 11 { 0x04 } else { 0x44 };
        mem.store(PROG + 16 + 8 * i, &ccw(0x86, flags, 4096, IDAL + 8 * i))
            .unwrap();
    }
}

/// DX + LR + one READ DATA of a 4 KiB record into `BUF`.
fn random_program(mem: &VecMemory) {
    mem.store(PROG, &ccw(0x63, 0x40, 16, PARAMS)).unwrap();
    mem.store(PROG + 8, &ccw(0x47, 0x40, 16, PARAMS + 16)).unwrap();
    mem.store(PROG + 16, &ccw(0x86, 0, 4096, BUF)).unwrap();
    mem.store(PROG + 24, &ccw(0x03, 0x20, 0, 0)).unwrap();
}

fn orb_idaw2() -> Orb {
    Orb {
        ctrl: OrbControls::new()
            .with_format1(true)
            .with_idaw_format2(true)
            .with_lpm(0x80),
        cpa: u32::try_from(PROG).unwrap(),
        ..Orb::default()
    }
}

/// A css with the 3390 on subchannel 0, enabled.
fn machine() -> (Css, VecMemory) {
    let css = Css::new(CssConfig::default());
    let sid = SubchannelId::new(0xfe, 0, 0).unwrap();
    let dev = Dasd::new(DasdConfig::for_devno(0x0120), Box::new(volume()));
    css.attach_cold(sid, 0x0120, Box::new(dev)).unwrap();
    let mem = VecMemory::new(4 << 20);
    let ctx = IoCtx::new(&mem);
    assert_eq!(css.stsch(&ctx, 0x0001_0000, SCHIB), Ok(Cc::Zero));
    let mut s = mem.fetch(SCHIB, 28).unwrap();
    s[4] |= 3 << 3;
    s[5] |= 0x80;
    mem.store(SCHIB, &s).unwrap();
    assert_eq!(css.msch(&ctx, 0x0001_0000, SCHIB), Ok(Cc::Zero));
    (css, mem)
}

/// The ORB of a program at `cpa`.
fn store_orb(mem: &VecMemory, cpa: u64) {
    let mut orb = [0u8; 12];
    orb[5] = 0x80 | 0x02;
    orb[6] = 0x80;
    orb[8..].copy_from_slice(&u32::try_from(cpa).unwrap().to_be_bytes());
    mem.store(ORB, &orb).unwrap();
}

/// SSCH, take the interruption, TSCH; returns TSCH's condition code.
fn round_trip(css: &Css, mem: &VecMemory) -> bool {
    let ctx = IoCtx::new(mem);
    let cc = css.ssch(&ctx, 0x0001_0000, ORB);
    debug_assert_eq!(cc, Ok(Cc::Zero));
    let _ = css.next_interrupt(0xff);
    css.tsch(&ctx, 0x0001_0000, IRB) == Ok(Cc::Zero)
}

/// A cheap deterministic sequence of (track, record).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> (u32, u8) {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let x = self.0 >> 33;
        let tracks = u64::from(CYLS) * 15;
        (
            u32::try_from(x % tracks).unwrap(),
            u8::try_from(x / tracks % 12).unwrap() + 1,
        )
    }
}

fn full_track(c: &mut Criterion) {
    let mem = VecMemory::new(4 << 20);
    let mut dev = Dasd::new(DasdConfig::default(), Box::new(volume()));
    full_track_program(&mem, 5);
    let orb = orb_idaw2();
    let engine = Engine::default();
    let done = engine.start(&mem, &orb, 0x80, &mut dev, &mut NoHooks);
    assert_eq!(done.dstat.into_bits(), 0x0c, "{done:?}");
    assert_eq!(mem.fetch(BUF + TRACK_BYTES as u64 - 1, 1).unwrap(), [0xa5]);
    let mut g = c.benchmark_group("eckd_full_track");
    g.throughput(Throughput::Bytes(TRACK_BYTES as u64));
    g.bench_function("dx_lr_12x4k_idaw2", |b| {
        b.iter(|| black_box(engine.start(&mem, &orb, 0x80, &mut dev, &mut NoHooks)));
    });
    let src = vec![0xa5u8; TRACK_BYTES];
    let mut dst = vec![0u8; TRACK_BYTES];
    g.bench_function("memcpy_48k", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        });
    });
    g.finish();
}

fn random_4k(c: &mut Criterion) {
    let (css, mem) = machine();
    // The program works: the IRB shows CE|DE and the record arrived.
    random_program(&mem);
    store_orb(&mem, PROG);
    mem.store(PARAMS, &de(7, 7)).unwrap();
    mem.store(PARAMS + 16, &lr(7, 3, 1)).unwrap();
    assert!(round_trip(&css, &mem));
    assert_eq!(mem.fetch(IRB + 8, 2).unwrap(), [0x0c, 0x00]);
    assert_eq!(mem.fetch(BUF + 4095, 1).unwrap(), [0xa5]);
    let mut rng = Lcg(7);
    random_program(&mem);
    mem.store(PROG + 0x100, &ccw(0x03, 0x20, 0, 0)).unwrap();
    let mut g = c.benchmark_group("eckd_random_4k");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ssch_tsch_dx_lr_read", |b| {
        store_orb(&mem, PROG);
        b.iter(|| {
            let (t, r) = rng.next();
            mem.store(PARAMS, &de(t, t)).unwrap();
            mem.store(PARAMS + 16, &lr(t, r, 1)).unwrap();
            black_box(round_trip(&css, &mem))
        });
    });
    g.bench_function("ssch_tsch_one_ccw", |b| {
        store_orb(&mem, PROG + 0x100);
        b.iter(|| black_box(round_trip(&css, &mem)));
    });
    g.finish();
}

/// Mean time per call of `f` over `d`.
fn time(d: Duration, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < d {
        for _ in 0..64 {
            f();
        }
        n += 64;
    }
    start.elapsed().as_secs_f64() / n as f64
}

/// The two ratios of the targets, measured interleaved.
fn ratios() {
    let d = Duration::from_millis(300);
    let mem = VecMemory::new(4 << 20);
    let mut dev = Dasd::new(DasdConfig::default(), Box::new(volume()));
    full_track_program(&mem, 5);
    let orb = orb_idaw2();
    let engine = Engine::default();
    let src = vec![0xa5u8; TRACK_BYTES];
    let mut dst = vec![0u8; TRACK_BYTES];
    let (mut track, mut copy) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        track = track.min(time(d, || {
            black_box(engine.start(&mem, &orb, 0x80, &mut dev, &mut NoHooks));
        }));
        copy = copy.min(time(d, || {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        }));
    }
    println!(
        "eckd ratio full_track: {:.2} × memcpy throughput (target ≥ 0.5; track {:.2} µs, memcpy {:.2} µs)",
        copy / track,
        track * 1e6,
        copy * 1e6
    );
    let (css, mem) = machine();
    random_program(&mem);
    mem.store(PROG + 0x100, &ccw(0x03, 0x20, 0, 0)).unwrap();
    let mut rng = Lcg(11);
    let (mut read, mut one) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        store_orb(&mem, PROG);
        read = read.min(time(d, || {
            let (t, r) = rng.next();
            mem.store(PARAMS, &de(t, t)).unwrap();
            mem.store(PARAMS + 16, &lr(t, r, 1)).unwrap();
            black_box(round_trip(&css, &mem));
        }));
        store_orb(&mem, PROG + 0x100);
        one = one.min(time(d, || {
            black_box(round_trip(&css, &mem));
        }));
    }
    println!(
        "eckd ratio random_4k: {:.2} × the one-CCW round trip (target ≤ 6; read {:.2} µs, one CCW {:.2} µs)",
        read / one,
        read * 1e6,
        one * 1e6
    );
}

criterion_group!(benches, full_track, random_4k);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    ratios();
}
