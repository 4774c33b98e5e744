//! Translation and back-translation of a 256-CCW chain with 4K IDALs (the
//! target is 10 µs), and a 4 KiB read of a 3390 (DEFINE EXTENT, LOCATE
//! RECORD, READ DATA) through the simulated host against the same read on
//! the DASD emulated directly.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use zcss_ccw::memory::{GuestMemory, VecMemory};
use zcss_ccw::orb::{Orb, OrbControls};
use zcss_ccw::status::DeviceStatus;
use zcss_ccw::{Ccw1, CcwFlags};
use zcss_dasd::store::MemStore;
use zcss_dasd::track::{TrackAddr, TrackBuilder};
use zcss_dasd::{Count, Dasd, DasdConfig, TrackStore};
use zcss_vfio_ccw::cp::{ChannelProgram, HostLayout, MAX_IDAWS};
use zcss_vfio_ccw::mock::Twin;
use zcss_vfio_ccw::sim::GuestDma;

/// 256 READs of 4 KiB, each through a one-IDAW format-2 IDAL.
fn chain(mem: &VecMemory) -> Orb {
    for i in 0..256u32 {
        let flags = CcwFlags::new().with_ida(true).with_cc(i < 255);
        let idal = 0x1_0000 + 8 * i;
        let c = Ccw1::new()
            .with_cmd(0x06)
            .with_flags(flags)
            .with_count(4096)
            .with_cda(idal);
        mem.store(0x2000 + 8 * u64::from(i), &c.to_be_bytes()).unwrap();
        let data = 0x10_0000 + 0x1000 * u64::from(i);
        mem.store(u64::from(idal), &data.to_be_bytes()).unwrap();
    }
    Orb {
        ctrl: OrbControls::new()
            .with_format1(true)
            .with_prefetch(true)
            .with_idaw_format2(true)
            .with_lpm(0xff),
        cpa: 0x2000,
        ..Orb::default()
    }
}

fn translate(c: &mut Criterion) {
    let mem: Arc<dyn GuestMemory> = {
        let m = VecMemory::new(4 << 20);
        let orb = chain(&m);
        let m: Arc<dyn GuestMemory> = Arc::new(m);
        let dma = GuestDma::new(Arc::clone(&m));
        let mut cp = ChannelProgram::new(LAYOUT);
        cp.translate(&orb, &dma).unwrap();
        assert_eq!(cp.segments()[0].len, 256);
        m
    };
    let dma = GuestDma::new(Arc::clone(&mem));
    let orb = Orb {
        ctrl: OrbControls::new()
            .with_format1(true)
            .with_prefetch(true)
            .with_idaw_format2(true)
            .with_lpm(0xff),
        cpa: 0x2000,
        ..Orb::default()
    };
    let mut cp = ChannelProgram::new(LAYOUT);
    let end = LAYOUT.ccw_base + 256 * 8;
    c.bench_function("vfio/translate_256_ccw_4k_idal", |b| {
        b.iter(|| {
            cp.translate(black_box(&orb), &dma).unwrap();
            let mut cpa = 0;
            for i in 0..=256u32 {
                cpa ^= cp.guest_cpa(black_box(LAYOUT.ccw_base + 8 * i));
            }
            assert_eq!(cp.guest_cpa(end), 0x2800);
            cp.free(&dma);
            cpa
        });
    });
}

const LAYOUT: HostLayout = HostLayout {
    ccw_base: 0x0100_0000,
    idal_base: 0x0101_0000,
    idal_capacity: MAX_IDAWS,
};

/// A 3390 on a 3990-6 whose track 0 holds twelve 4 KiB records.
fn dasd() -> Box<dyn zcss_css::Device> {
    let mut store = MemStore::new(10);
    let mut b = TrackBuilder::default();
    b.start(TrackAddr::new(0, 0));
    for r in 1..=12u8 {
        b.record(Count::new(0, 0, r, 0, 4096), &[], &[r; 4096]);
    }
    store.write(TrackAddr::new(0, 0), b.finish()).unwrap();
    Box::new(Dasd::new(DasdConfig::for_devno(0x0d21), Box::new(store)))
}

/// DEFINE EXTENT, LOCATE RECORD (read data, R5) and READ DATA of 4 KiB to
/// 0x8000 at 0x2000, with the parameters at 0x3000: the random read of a
/// Linux guest.
fn read_program(t: &Twin) -> Orb {
    let mut de = [0u8; 16];
    de[0] = 0x40;
    de[1] = 0xc0;
    let mut lr = [0u8; 16];
    lr[0] = 0x06;
    lr[1] = 0x80;
    lr[3] = 1;
    lr[12] = 5;
    lr[14..].copy_from_slice(&4096u16.to_be_bytes());
    t.store(0x3000, &de);
    t.store(0x3010, &lr);
    let cc = CcwFlags::new().with_cc(true);
    let ccws = [
        Ccw1::new()
            .with_cmd(0x63)
            .with_flags(cc)
            .with_count(16)
            .with_cda(0x3000),
        Ccw1::new()
            .with_cmd(0x47)
            .with_flags(cc)
            .with_count(16)
            .with_cda(0x3010),
        Ccw1::new().with_cmd(0x86).with_count(4096).with_cda(0x8000),
    ];
    for (i, c) in (0u64..).zip(ccws) {
        t.store(0x2000 + 8 * i, &c.to_be_bytes());
    }
    Orb {
        ctrl: OrbControls::new().with_format1(true).with_prefetch(true).with_lpm(0xff),
        cpa: 0x2000,
        ..Orb::default()
    }
}

fn read_4k(c: &mut Criterion) {
    let t = Twin::new(dasd, 1 << 20, false);
    let orb = read_program(&t);
    for g in [&t.direct, &t.passed] {
        let seen = Twin::run_in(g, t.sid, &orb);
        assert_eq!(seen.irb.expect("status").scsw.dstat, DeviceStatus::CE_DE);
        assert_eq!(g.mem.fetch(0x8000, 4096).unwrap(), vec![5; 4096]);
    }
    let mut g = c.benchmark_group("vfio/read_4k");
    g.bench_function("emulated", |b| {
        b.iter(|| Twin::run_in(&t.direct, t.sid, &orb));
    });
    g.bench_function("passthrough", |b| {
        b.iter(|| Twin::run_in(&t.passed, t.sid, &orb));
    });
    g.finish();
    // The ratio, measured interleaved (the machine is shared), unless a
    // filter left this group out.
    // (Option values are numbers; a filter is any other free argument.)
    let filtered = std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && a.parse::<f64>().is_err() && !"vfio/read_4k".contains(a.as_str()));
    if filtered {
        return;
    }
    let (mut direct, mut passed) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..200 {
        let t0 = Instant::now();
        for _ in 0..10 {
            black_box(Twin::run_in(&t.direct, t.sid, &orb));
        }
        let t1 = Instant::now();
        for _ in 0..10 {
            black_box(Twin::run_in(&t.passed, t.sid, &orb));
        }
        passed += t1.elapsed();
        direct += t1 - t0;
    }
    println!(
        "vfio/read_4k: emulated {:.2} us, passthrough {:.2} us, ratio {:.0}",
        direct.as_secs_f64() * 1e6 / 2000.0,
        passed.as_secs_f64() * 1e6 / 2000.0,
        passed.as_secs_f64() / direct.as_secs_f64()
    );
}

criterion_group!(benches, translate, read_4k);
criterion_main!(benches);
