//! Translation and back-translation of a 256-CCW chain with 4K IDALs (the
//! target is 10 µs), and a 4 KiB read through the simulated host against
//! the same read on the device emulated directly.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use zcss_ccw::memory::{GuestMemory, VecMemory};
use zcss_ccw::orb::{Orb, OrbControls};
use zcss_ccw::{Ccw1, CcwFlags};
use zcss_css::mock::MockDevice;
use zcss_css::{chpid_type, ChannelPaths, DeviceInfo};
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

fn read_4k(c: &mut Criterion) {
    let info = DeviceInfo {
        cu_type: 0x3990,
        cu_model: 0xe9,
        dev_type: 0x3390,
        dev_model: 0x0c,
        paths: ChannelPaths::single(0x40, chpid_type::FICON),
    };
    let t = Twin::new(
        || {
            let d = MockDevice::with_info(info);
            d.control().set_read_data(0x06, vec![0xa5; 4096]);
            Box::new(d)
        },
        1 << 20,
        false,
    );
    let c1 = Ccw1::new().with_cmd(0x06).with_count(4096).with_cda(0x8000);
    t.store(0x2000, &c1.to_be_bytes());
    let orb = Orb {
        ctrl: OrbControls::new().with_format1(true).with_prefetch(true).with_lpm(0xff),
        cpa: 0x2000,
        ..Orb::default()
    };
    let mut g = c.benchmark_group("vfio/read_4k");
    g.bench_function("emulated", |b| {
        b.iter(|| Twin::run_in(&t.direct, t.sid, &orb));
    });
    g.bench_function("passthrough", |b| {
        b.iter(|| Twin::run_in(&t.passed, t.sid, &orb));
    });
    g.finish();
}

criterion_group!(benches, translate, read_4k);
criterion_main!(benches);
