//! virtio-ccw benches: the Linux probe sequence through the proxy control
//! unit, and virtio-blk 4K reads (notify → used ring → indicator) with an
//! in-memory back-end, against a plain 4K memcpy in the same run.
//!
//! The group `virtio_blk_async` compares `io=sync` with `io=async` (the
//! disk on an I/O thread): the notifying CPU's cost and the throughput.
//!
//! Run: `cargo bench --bench virtio`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::{Ccw, CcwFlags, DeviceStatus, GuestMemory, VecMemory};
use zcss_css::{Css, CssConfig, Device, InterruptSink, IoCtx, SubchannelHandle};
use zcss_virtio_ccw::commands::*;
use zcss_virtio_ccw::driver_model::{layout, LinuxDriver};
use zcss_virtio_ccw::queue::{VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};
use zcss_virtio_ccw::{Block, BufferTransfer, IoThreadDevice, VirtioCcwDevice};

struct Sink;
impl InterruptSink for Sink {
    fn unsolicited(&self, _sid: SubchannelId, _status: DeviceStatus, _sense: Option<&zcss_ccw::Sense>) -> bool {
        true
    }
    fn adapter_interrupt(&self, _isc: u8) {}
}

const DESC: u64 = 0x10000;
const AVAIL: u64 = 0x11000;
const USED: u64 = 0x12000;
const IND: u64 = 0x8000;
const HDRS: u64 = 0x20000;
const STATUS: u64 = 0x30000;
const DATA: u64 = 0x100000;
const QSIZE: u16 = 256;
const BATCH: u16 = 64;

fn cmd(d: &mut VirtioCcwDevice, code: u8, data: &[u8]) -> BufferTransfer {
    let mut io = BufferTransfer::new(data);
    let ccw = Ccw {
        cmd: code,
        flags: CcwFlags::new(),
        count: u16::try_from(data.len()).unwrap_or(0),
        cda: 0x1000,
    };
    let r = d.execute_command(&ccw, &mut io);
    assert!(!r.status.unit_check(), "command {code:#x} rejected");
    io
}

/// The Linux probe sequence (linux-notes §4) for a revision-2 virtio-blk.
fn probe(d: &mut VirtioCcwDevice) {
    cmd(d, CCW_CMD_SENSE_ID, &[0; 8]);
    cmd(d, CCW_CMD_NOOP, &[]);
    cmd(d, CCW_CMD_SET_VIRTIO_REV, &[0, 2, 0, 0]);
    cmd(d, CCW_CMD_VDEV_RESET, &[]);
    for s in [1u8, 3] {
        cmd(d, CCW_CMD_READ_STATUS, &[0]);
        cmd(d, CCW_CMD_WRITE_STATUS, &[s]);
    }
    let f0 = cmd(d, CCW_CMD_READ_FEAT, &[0, 0, 0, 0, 0]).area;
    let f1 = cmd(d, CCW_CMD_READ_FEAT, &[0, 0, 0, 0, 1]).area;
    cmd(d, CCW_CMD_WRITE_FEAT, &f0);
    cmd(d, CCW_CMD_WRITE_FEAT, &f1);
    cmd(d, CCW_CMD_READ_STATUS, &[0]);
    cmd(d, CCW_CMD_WRITE_STATUS, &[0x0b]);
    cmd(d, CCW_CMD_READ_STATUS, &[0]);
    cmd(d, CCW_CMD_READ_CONF, &[0; 24]);
    let mut vq = [0u8; 32];
    vq[..8].copy_from_slice(&DESC.to_be_bytes());
    vq[14..16].copy_from_slice(&QSIZE.to_be_bytes());
    vq[16..24].copy_from_slice(&AVAIL.to_be_bytes());
    vq[24..].copy_from_slice(&USED.to_be_bytes());
    cmd(d, CCW_CMD_READ_VQ_CONF, &[0, 0, 0, 0]);
    cmd(d, CCW_CMD_SET_VQ, &vq);
    cmd(d, CCW_CMD_SET_IND, &IND.to_be_bytes());
    cmd(d, CCW_CMD_SET_CONF_IND, &(IND + 8).to_be_bytes());
    cmd(d, CCW_CMD_READ_STATUS, &[0]);
    cmd(d, CCW_CMD_WRITE_STATUS, &[0x0f]);
}

fn device() -> VirtioCcwDevice {
    let mut d = VirtioCcwDevice::new(Box::new(Block::in_memory(2048).unwrap()));
    d.attached(SubchannelHandle::new(
        SubchannelId::new(0xfe, 0, 0).expect("sid"),
        Arc::new(Sink),
    ));
    d
}

/// Builds BATCH chains (header, 4K data, status) and fills every slot of
/// the available ring with them.
fn rings(m: &VecMemory) {
    rings_at(m, DESC, AVAIL);
}

fn rings_at(m: &VecMemory, desc: u64, avail: u64) {
    for c in 0..u64::from(BATCH) {
        let descs = [
            (HDRS + 16 * c, 16u32, VIRTQ_DESC_F_NEXT, 3 * c + 1),
            (DATA + 4096 * c, 4096, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3 * c + 2),
            (STATUS + c, 1, VIRTQ_DESC_F_WRITE, 0),
        ];
        for (k, (a, l, f, n)) in descs.iter().enumerate() {
            let mut raw = [0u8; 16];
            raw[..8].copy_from_slice(&a.to_le_bytes());
            raw[8..12].copy_from_slice(&l.to_le_bytes());
            raw[12..14].copy_from_slice(&f.to_le_bytes());
            raw[14..].copy_from_slice(&u16::try_from(*n).unwrap_or(0).to_le_bytes());
            m.store(desc + 16 * (3 * c + k as u64), &raw).unwrap();
        }
        let mut hdr = [0u8; 16];
        hdr[8..].copy_from_slice(&(8 * c).to_le_bytes()); // IN, sector 8c
        m.store(HDRS + 16 * c, &hdr).unwrap();
    }
    for slot in 0..u64::from(QSIZE) {
        let head = u16::try_from(3 * (slot % u64::from(BATCH))).unwrap_or(0);
        m.store(avail + 4 + 2 * slot, &head.to_le_bytes()).unwrap();
    }
}

/// A css with a revision-2 virtio-blk probed by the Linux driver model
/// (adapter interruptions); returns the css, storage and subchannel word.
fn linux_machine() -> (Css, Arc<VecMemory>, LinuxDriver) {
    let mem = Arc::new(VecMemory::new(4 << 20));
    let css = Css::new(CssConfig::default());
    let sid = SubchannelId::new(0xfe, 0, 0).expect("sid");
    let d = VirtioCcwDevice::new(Box::new(Block::in_memory(2048).unwrap()));
    css.attach_cold(sid, 1, Box::new(d)).expect("attach");
    let mut drv = LinuxDriver::new(css.clone(), mem.clone(), sid);
    drv.enable().expect("enable");
    drv.probe(u64::MAX).expect("probe");
    drv.find_vqs(1).expect("queues");
    drv.driver_ok().expect("driver ok");
    (css, mem, drv)
}

fn bench(c: &mut Criterion) {
    c.bench_function("virtio_probe_linux_over_css", |b| {
        b.iter(|| {
            let (_, _, drv) = linux_machine();
            black_box(drv.revision())
        });
    });

    c.bench_function("virtio_probe_sequence", |b| {
        b.iter(|| {
            let mut d = device();
            probe(&mut d);
            black_box(d.status())
        });
    });

    let m = VecMemory::new(4 << 20);
    rings(&m);
    let mut d = device();
    probe(&mut d);
    let mut idx: u16 = 0;

    let mut g = c.benchmark_group("virtio_blk_4k_read");
    g.throughput(Throughput::Elements(u64::from(BATCH)));
    g.bench_function("batch_of_64_per_notify", |b| {
        b.iter(|| {
            idx = idx.wrapping_add(BATCH);
            m.store(AVAIL + 2, &idx.to_le_bytes()).unwrap();
            black_box(d.notify(&m, 0, 0))
        });
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_per_notify", |b| {
        b.iter(|| {
            idx = idx.wrapping_add(1);
            m.store(AVAIL + 2, &idx.to_le_bytes()).unwrap();
            black_box(d.notify(&m, 0, 0))
        });
    });
    let src = vec![0x5au8; 4096];
    g.bench_function("memcpy_4k_guest_write", |b| {
        b.iter(|| {
            m.write(DATA, black_box(&src), zcss_ccw::AccessKey::ZERO).unwrap();
        });
    });
    let mut dst = vec![0u8; 4096];
    g.bench_function("memcpy_4k_host", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        });
    });
    // The same through the css: DIAG 0x500 → device → used ring → adapter
    // indicator, on the rings the Linux driver model set up.
    let (css, gm, _drv) = linux_machine();
    rings_at(&gm, layout::RINGS, layout::RINGS + 0x8000);
    let mut gidx: u16 = 0;
    g.throughput(Throughput::Elements(u64::from(BATCH)));
    g.bench_function("batch_of_64_via_diag500", |b| {
        b.iter(|| {
            gidx = gidx.wrapping_add(BATCH);
            gm.store(layout::RINGS + 0x8000 + 2, &gidx.to_le_bytes()).unwrap();
            let ctx = IoCtx::new(gm.as_ref());
            black_box(css.diag500(&ctx, 3, 0x0001_0000, 0, 0).unwrap())
        });
    });
    g.finish();
    assert_eq!(m.fetch(STATUS, 1).unwrap(), vec![0], "requests succeed");
    assert_eq!(gm.fetch(STATUS, 1).unwrap(), vec![0], "requests via diag500 succeed");
    assert_eq!(d.status() & 0x40, 0, "device healthy");
}

/// Sync against async (`io=async`, [`IoThreadDevice`]) in the same run:
/// the notifying CPU's cost of one DIAG 0x500 notification with one 4K read
/// available (sync: the request is done inside; async: the doorbell only),
/// and the throughput of 64 4K reads, notified as one batch or one by one
/// and waited for.
fn bench_async(c: &mut Criterion) {
    let sync_mem = VecMemory::new(4 << 20);
    rings(&sync_mem);
    let mut sync_dev = device();
    probe(&mut sync_dev);
    let async_mem = Arc::new(VecMemory::new(4 << 20));
    rings(&async_mem);
    let mut inner = device();
    probe(&mut inner);
    let mut async_dev = IoThreadDevice::new(inner, async_mem.clone()).expect("I/O thread");
    let idle = async_dev.idle();
    let (mut sidx, mut aidx) = (0u16, 0u16);

    let mut g = c.benchmark_group("virtio_blk_async");
    g.throughput(Throughput::Elements(1));
    g.bench_function("notify_cost_sync_1x4k", |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                sidx = sidx.wrapping_add(1);
                sync_mem.store(AVAIL + 2, &sidx.to_le_bytes()).unwrap();
                let s = Instant::now();
                black_box(sync_dev.notify(&sync_mem, 0, 0));
                t += s.elapsed();
            }
            t
        });
    });
    g.bench_function("notify_cost_async_1x4k", |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                aidx = aidx.wrapping_add(1);
                async_mem.store(AVAIL + 2, &aidx.to_le_bytes()).unwrap();
                let s = Instant::now();
                black_box(async_dev.notify(&*async_mem, 0, 0));
                t += s.elapsed();
                // Untimed: the I/O thread catches up (the ring never runs
                // more than its size ahead).
                assert!(idle.wait_idle(Duration::from_secs(5)));
            }
            t
        });
    });
    g.throughput(Throughput::Elements(u64::from(BATCH)));
    g.bench_function("throughput_sync_64x4k_one_notify", |b| {
        b.iter(|| {
            sidx = sidx.wrapping_add(BATCH);
            sync_mem.store(AVAIL + 2, &sidx.to_le_bytes()).unwrap();
            black_box(sync_dev.notify(&sync_mem, 0, 0))
        });
    });
    g.bench_function("throughput_async_64x4k_one_notify", |b| {
        b.iter(|| {
            aidx = aidx.wrapping_add(BATCH);
            async_mem.store(AVAIL + 2, &aidx.to_le_bytes()).unwrap();
            black_box(async_dev.notify(&*async_mem, 0, 0));
            assert!(idle.wait_idle(Duration::from_secs(5)));
        });
    });
    g.bench_function("throughput_sync_64x4k_notify_each", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                sidx = sidx.wrapping_add(1);
                sync_mem.store(AVAIL + 2, &sidx.to_le_bytes()).unwrap();
                black_box(sync_dev.notify(&sync_mem, 0, 0));
            }
        });
    });
    g.bench_function("throughput_async_64x4k_notify_each", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                aidx = aidx.wrapping_add(1);
                async_mem.store(AVAIL + 2, &aidx.to_le_bytes()).unwrap();
                black_box(async_dev.notify(&*async_mem, 0, 0));
            }
            assert!(idle.wait_idle(Duration::from_secs(5)));
        });
    });
    g.finish();
    assert_eq!(sync_mem.fetch(STATUS, 1).unwrap(), vec![0], "sync requests succeed");
    assert_eq!(async_mem.fetch(STATUS, 1).unwrap(), vec![0], "async requests succeed");
    async_dev.with_device(|d| assert_eq!(d.status() & 0x40, 0, "async device healthy"));
}

criterion_group!(benches, bench, bench_async);
criterion_main!(benches);
