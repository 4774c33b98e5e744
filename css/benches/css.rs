//! Channel-subsystem benchmarks: the SSCH→TSCH round trip of a one-CCW
//! program, the STSCH discovery scan of a css image, two CPUs on distinct
//! subchannels (on one ISC and on two) against one, and the
//! idle-subchannel footprint.
//!
//! Run: `cargo bench -p zcss-css --bench css`

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zcss_ccw::device::{CcwDevice, DeviceResult};
use zcss_ccw::memory::VecMemory;
use zcss_ccw::{Ccw, DataStream};
use zcss_css::{Cc, Css, CssConfig, Device, DeviceInfo, IoCtx, SubchannelId};

/// A device that ends every command with CE|DE at once.
struct Nop;

impl CcwDevice for Nop {
    fn execute(&mut self, _ccw: &Ccw, _data: &mut DataStream<'_>) -> DeviceResult {
        DeviceResult::OK
    }
}

impl Device for Nop {
    fn info(&self) -> DeviceInfo {
        DeviceInfo::virtual_device(0x3832, 1)
    }
}

fn sid(ssid: u8, schno: u16) -> SubchannelId {
    SubchannelId {
        cssid: 0xfe,
        ssid,
        schno,
    }
}

/// A css with `n` enabled NOP devices in set 0 and storage holding, per
/// device `i`, a NOP CCW at 0x1000·(i+1) and its ORB 0x100 after it.
fn machine(n: u16) -> (Css, VecMemory) {
    let css = Css::new(CssConfig {
        mss: true,
        ..CssConfig::default()
    });
    let mem = VecMemory::new(1 << 20);
    let ctx = IoCtx::new(&mem);
    for i in 0..n {
        css.attach_cold(sid(0, i), i, Box::new(Nop)).unwrap();
        let gr1 = 0x0001_0000 | u32::from(i);
        let base = 0x1000 * (u64::from(i) + 1);
        assert_eq!(css.stsch(&ctx, gr1, base + 0x200), Ok(Cc::Zero));
        let mut w1 = mem.fetch(base + 0x204, 2).unwrap();
        w1[0] |= 3 << 3;
        w1[1] |= 0x80;
        mem.store(base + 0x204, &w1).unwrap();
        assert_eq!(css.msch(&ctx, gr1, base + 0x200), Ok(Cc::Zero));
        mem.store(base, &[0x03, 0x20, 0, 0, 0, 0, 0, 0]).unwrap();
        let cpa = u32::try_from(base).unwrap().to_be_bytes();
        let orb = [0, 0, 0, 1, 0x00, 0x80, 0x80, 0x00, cpa[0], cpa[1], cpa[2], cpa[3]];
        mem.store(base + 0x100, &orb).unwrap();
    }
    (css, mem)
}

fn round_trip(css: &Css, ctx: &IoCtx<'_>, i: u16) {
    let gr1 = 0x0001_0000 | u32::from(i);
    let base = 0x1000 * (u64::from(i) + 1);
    let r = css.ssch(ctx, gr1, base + 0x100);
    debug_assert_eq!(r, Ok(Cc::Zero));
    let r = css.tsch(ctx, gr1, base + 0x300);
    debug_assert_eq!(r, Ok(Cc::Zero));
    black_box(r).ok();
}

fn bench_round_trip(c: &mut Criterion) {
    let (css, mem) = machine(1);
    let ctx = IoCtx::new(&mem);
    eprintln!(
        "idle-subchannel footprint: {} bytes",
        zcss_css::Css::subchannel_footprint()
    );
    c.bench_function("ssch_tsch_round_trip_one_ccw", |b| b.iter(|| round_trip(&css, &ctx, 0)));
}

fn bench_stsch_scan(c: &mut Criterion) {
    let (css, mem) = machine(64);
    let ctx = IoCtx::new(&mem);
    let mut g = c.benchmark_group("stsch_scan_4x65536");
    g.throughput(Throughput::Elements(4 * 65536));
    g.bench_function("image_with_64_devices", |b| {
        b.iter(|| {
            let mut found = 0u32;
            for ssid in 0..4u32 {
                for schno in 0..=0xffffu32 {
                    let gr1 = 0x0001_0000 | ssid << 17 | schno;
                    if css.stsch(&ctx, gr1, 0x8000) == Ok(Cc::Zero) {
                        found += 1;
                    }
                }
            }
            assert_eq!(found, 64);
            black_box(found)
        });
    });
    g.finish();
}

/// Runs `iters` round trips on each of `threads` threads (distinct
/// subchannels), returning the wall time.
fn parallel(css: &Arc<Css>, mem: &Arc<VecMemory>, threads: u16, iters: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(usize::from(threads) + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let css = Arc::clone(css);
            let mem = Arc::clone(mem);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let ctx = IoCtx::new(&*mem);
                barrier.wait();
                for _ in 0..iters {
                    round_trip(&css, &ctx, t);
                }
            })
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    for h in handles {
        h.join().unwrap();
    }
    t0.elapsed()
}

/// CPU time (user + system) of the calling thread, from
/// `/proc/thread-self/stat` (clock ticks of 10 ms), if available.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Round trips per second of CPU time, per thread, with `threads` threads
/// on distinct subchannels: independent of other load on the machine, it
/// shows whether the threads slow each other down (contention).
fn cpu_time_per_round_trip(css: &Arc<Css>, mem: &Arc<VecMemory>, threads: u16, iters: u64) -> Duration {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let css = Arc::clone(css);
            let mem = Arc::clone(mem);
            std::thread::spawn(move || {
                let ctx = IoCtx::new(&*mem);
                let t0 = thread_cpu_time().unwrap_or_default();
                for _ in 0..iters {
                    round_trip(&css, &ctx, t);
                }
                thread_cpu_time().unwrap_or_default().saturating_sub(t0)
            })
        })
        .collect();
    let total: Duration = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total / u32::try_from(iters * u64::from(threads)).unwrap_or(u32::MAX)
}

/// Wall-clock throughput scaling, 2 threads against 1, measured in
/// alternating runs so that load from other processes that drifts during
/// the bench hits both alike: prints each run's ratio and the median.
fn wall_clock_scaling(name: &str, css: &Arc<Css>, mem: &Arc<VecMemory>) {
    let n = 500_000;
    let mut ratios: Vec<f64> = (0..7)
        .map(|_| {
            let one = parallel(css, mem, 1, n);
            let two = parallel(css, mem, 2, n);
            2.0 * one.as_secs_f64() / two.as_secs_f64().max(1e-12)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let runs: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    eprintln!(
        "{name}: wall-clock throughput scaling, 2 threads vs 1, alternating runs: median {:.2}x (sorted: {})",
        ratios[ratios.len() / 2],
        runs.join(" ")
    );
}

fn bench_scaling(c: &mut Criterion) {
    for distinct_isc in [false, true] {
        let (css, mem) = machine(2);
        if distinct_isc {
            // Subchannel 1 on ISC 4: the two CPUs share no interruption queue.
            let ctx = IoCtx::new(&mem);
            assert_eq!(css.stsch(&ctx, 0x0001_0001, 0x8000), Ok(Cc::Zero));
            let mut w1 = mem.fetch(0x8004, 1).unwrap();
            w1[0] = (w1[0] & !0x38) | 4 << 3;
            mem.store(0x8004, &w1).unwrap();
            assert_eq!(css.msch(&ctx, 0x0001_0001, 0x8000), Ok(Cc::Zero));
        }
        let (css, mem) = (Arc::new(css), Arc::new(mem));
        let name = if distinct_isc { "distinct_isc" } else { "same_isc" };
        let mut g = c.benchmark_group(format!("round_trips_distinct_subchannels_{name}"));
        for threads in [1u16, 2] {
            g.throughput(Throughput::Elements(u64::from(threads)));
            g.bench_function(format!("{threads}_threads"), |b| {
                b.iter_custom(|iters| parallel(&css, &mem, threads, iters));
            });
        }
        g.finish();
        wall_clock_scaling(name, &css, &mem);
        if thread_cpu_time().is_some() {
            let n = 2_000_000;
            let one = cpu_time_per_round_trip(&css, &mem, 1, n);
            let two = cpu_time_per_round_trip(&css, &mem, 2, n);
            eprintln!(
                "{name}: CPU time per round trip: 1 thread {one:?}, 2 threads {two:?} each; \
                 throughput scaling at equal CPU share {:.2}x",
                2.0 * one.as_secs_f64() / two.as_secs_f64().max(1e-12)
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench_round_trip, bench_stsch_scan, bench_scaling
}
criterion_main!(benches);
