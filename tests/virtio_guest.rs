//! End to end: the Linux virtio-ccw driver model probes virtio-blk,
//! virtio-rng and virtio-console devices on one channel subsystem through
//! the public `Css` API (STSCH/MSCH/SSCH/TSCH with ORBs and CCWs in guest
//! storage, DIAG 0x500 notifications, classic and adapter indicators), then
//! writes blocks and reads them back, reads entropy and prints to the console.

use std::io::Write;
use std::sync::{Arc, Mutex};

use zcss_ccw::sid::SubchannelId;
use zcss_ccw::VecMemory;
use zcss_css::{Css, CssConfig};
use zcss_virtio_ccw::blk::{VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK};
use zcss_virtio_ccw::driver_model::LinuxDriver;
use zcss_virtio_ccw::{
    Block, BlockBackend, Console, ConsoleInput, Rng, VirtioCcwDevice, VirtioDevice, VIRTIO_F_VERSION_1,
};

const BLK_FEATURES: u64 = VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH;

fn sid(schno: u16) -> SubchannelId {
    SubchannelId {
        cssid: 0xfe,
        ssid: 0,
        schno,
    }
}

/// Attaches `dev` at subchannel `schno` with its own 2 MiB of guest storage
/// and returns an enabled driver for it.
fn attach(css: &Css, schno: u16, dev: Box<dyn VirtioDevice>, max_rev: u8) -> LinuxDriver {
    let mem = Arc::new(VecMemory::new(2 << 20));
    let d = VirtioCcwDevice::new(dev).with_max_revision(max_rev);
    css.attach_cold(sid(schno), 0x1000 + schno, Box::new(d))
        .expect("attach");
    let mut drv = LinuxDriver::new(css.clone(), mem, sid(schno));
    drv.enable().expect("enable subchannel");
    drv
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn pattern(seed: u8) -> Vec<u8> {
    (0..8192u32)
        .map(|i| u8::try_from(i % 251).unwrap_or(0).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn guest_writes_and_reads_back_blocks_at_every_revision() {
    let css = Css::new(CssConfig::default());
    for (schno, rev) in [(0u16, 2u8), (1, 1), (2, 0)] {
        let mut drv = attach(&css, schno, Box::new(Block::in_memory(256).unwrap()), rev);
        drv.probe(BLK_FEATURES).expect("probe");
        drv.read_conf(24).expect("config");
        drv.find_vqs(1).expect("queues");
        drv.driver_ok().expect("DRIVER_OK");
        assert_eq!(drv.revision(), rev);
        for (i, sector) in [0u64, 17, 240].into_iter().enumerate() {
            let mut data = pattern(u8::try_from(i).unwrap_or(0) + u8::try_from(schno).unwrap_or(0));
            assert_eq!(drv.blk(true, sector, &mut data).expect("write"), VIRTIO_BLK_S_OK);
            let mut back = vec![0u8; data.len()];
            assert_eq!(drv.blk(false, sector, &mut back).expect("read"), VIRTIO_BLK_S_OK);
            assert_eq!(back, data, "revision {rev} sector {sector}");
        }
        let mut past_end = vec![0u8; 8192];
        assert_eq!(drv.blk(false, 250, &mut past_end).expect("read"), VIRTIO_BLK_S_IOERR);
    }
}

#[test]
fn guest_uses_file_backed_disk() {
    let path = std::env::temp_dir().join(format!("zcss-virtio-guest-{}.img", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .expect("image");
    file.set_len(1 << 20).expect("size");
    let css = Css::new(CssConfig::default());
    let blk = Block::new(BlockBackend::File(file), false).expect("block");
    let mut drv = attach(&css, 5, Box::new(blk), 2);
    drv.probe(BLK_FEATURES).expect("probe");
    drv.find_vqs(1).expect("queues");
    drv.driver_ok().expect("DRIVER_OK");
    let mut data = pattern(9);
    assert_eq!(drv.blk(true, 100, &mut data).expect("write"), VIRTIO_BLK_S_OK);
    let on_disk = std::fs::read(&path).expect("read image");
    assert_eq!(&on_disk[100 * 512..100 * 512 + data.len()], &data[..]);
    let mut back = vec![0u8; data.len()];
    assert_eq!(drv.blk(false, 100, &mut back).expect("read"), VIRTIO_BLK_S_OK);
    assert_eq!(back, data);
    let _ = std::fs::remove_file(path);
}

#[test]
fn guest_reads_entropy_and_prints_to_console_beside_a_disk() {
    let css = Css::new(CssConfig::default());
    let out = Captured::default();
    let mut disk = attach(&css, 0, Box::new(Block::in_memory(64).unwrap()), 2);
    let mut rng = attach(&css, 1, Box::new(Rng::new()), 2);
    let mut con = attach(
        &css,
        2,
        Box::new(Console::new(Box::new(out.clone()), ConsoleInput::default())),
        2,
    );
    disk.probe(BLK_FEATURES).expect("probe disk");
    disk.find_vqs(1).expect("disk queues");
    disk.driver_ok().expect("disk ok");
    rng.probe(VIRTIO_F_VERSION_1).expect("probe rng");
    rng.find_vqs(1).expect("rng queue");
    rng.driver_ok().expect("rng ok");
    con.probe(VIRTIO_F_VERSION_1).expect("probe console");
    con.find_vqs(2).expect("console queues");
    con.driver_ok().expect("console ok");

    let a = rng.rng(32).expect("entropy");
    let b = rng.rng(32).expect("entropy");
    assert_eq!((a.len(), b.len()), (32, 32));
    assert_ne!(a, b);

    con.console_write(b"zcss: hello from the guest\n").expect("console");
    assert_eq!(out.0.lock().expect("lock").as_slice(), b"zcss: hello from the guest\n");

    let mut data = pattern(3);
    assert_eq!(disk.blk(true, 8, &mut data).expect("write"), VIRTIO_BLK_S_OK);
    let mut back = vec![0u8; data.len()];
    assert_eq!(disk.blk(false, 8, &mut back).expect("read"), VIRTIO_BLK_S_OK);
    assert_eq!(back, data);
}

/// A console attached with a typed handle and driven by the Linux driver
/// model; the guest has posted one 16-byte receive buffer.
fn console_with_posted_buffer() -> (
    Css,
    Arc<VecMemory>,
    ConsoleInput,
    zcss_css::DeviceHandle<VirtioCcwDevice>,
) {
    let css = Css::new(CssConfig::default());
    let mem = Arc::new(VecMemory::new(2 << 20));
    let input = ConsoleInput::default();
    let dev = VirtioCcwDevice::new(Box::new(Console::new(Box::new(std::io::sink()), input.clone())));
    let handle = css.attach_device(sid(2), 0x1002, dev, false).expect("attach");
    let mut con = LinuxDriver::new(css.clone(), mem.clone(), sid(2));
    con.enable().expect("enable");
    con.probe(VIRTIO_F_VERSION_1).expect("probe console");
    con.find_vqs(2).expect("console queues");
    con.driver_ok().expect("console ok");
    // Nothing to read yet: the buffer stays posted, no indication.
    assert!(matches!(
        con.request(0, &[(0x18_0000, 16, true)]),
        Err(zcss_virtio_ccw::driver_model::DriverError::NoInterrupt(_))
    ));
    (css, mem, input, handle)
}

#[test]
fn console_input_after_the_guest_posted_buffers_is_delivered_by_polling_the_handle() {
    let (css, mem, input, handle) = console_with_posted_buffer();
    assert_eq!(
        handle.with(|d| d.status() & zcss_virtio_ccw::device::STATUS_DRIVER_OK),
        Some(zcss_virtio_ccw::device::STATUS_DRIVER_OK),
        "the device's status is reachable through the handle"
    );
    input.push(b"ls -l\n");
    assert_eq!(
        mem.fetch(0x18_0000, 6).unwrap(),
        [0; 6],
        "pushing alone delivers nothing"
    );
    assert_eq!(handle.with(|d| d.poll(&*mem)), Some(()));
    assert_eq!(mem.fetch(0x18_0000, 6).unwrap(), b"ls -l\n".to_vec());
    assert!(input.is_empty());
    assert!(css.next_interrupt(0xff).is_some(), "the guest is told");
}

#[test]
fn console_input_through_the_css_is_delivered_at_once() {
    let (css, mem, input, _handle) = console_with_posted_buffer();
    css.device_input(sid(2), &*mem, b"date\n").expect("input");
    assert_eq!(mem.fetch(0x18_0000, 5).unwrap(), b"date\n".to_vec());
    assert!(input.is_empty());
    assert!(css.next_interrupt(0xff).is_some(), "the guest is told");
    assert_eq!(
        css.device_input(sid(7), &*mem, b"x"),
        Err(zcss_css::CssError::NoDevice(sid(7)))
    );
}

#[test]
fn device_handle_reaches_the_block_image_and_not_a_later_device() {
    let css = Css::new(CssConfig::default());
    let dev = VirtioCcwDevice::new(Box::new(Block::in_memory(8).unwrap()));
    let handle = css.attach_device(sid(0), 0, dev, false).expect("attach");
    let mut drv = LinuxDriver::new(css.clone(), Arc::new(VecMemory::new(2 << 20)), sid(0));
    drv.enable().expect("enable");
    drv.probe(BLK_FEATURES).expect("probe");
    drv.find_vqs(1).expect("queues");
    drv.driver_ok().expect("ok");
    let mut data = pattern(9);
    data.truncate(512);
    assert_eq!(drv.blk(true, 2, &mut data).expect("write"), VIRTIO_BLK_S_OK);
    let on_disk = handle
        .with(|d| {
            d.device_as::<Block>()
                .and_then(Block::image)
                .map(|i| i[1024..1536].to_vec())
        })
        .flatten();
    assert_eq!(on_disk.as_deref(), Some(&data[..]));
    assert_eq!(
        css.with_device_as::<VirtioCcwDevice, _>(sid(0), |d| d.device_as::<Rng>().is_some()),
        Some(false),
        "the back-end is a Block, not an Rng"
    );
    css.detach(sid(0)).expect("detach");
    assert!(!handle.is_attached());
    css.attach_cold(
        sid(0),
        0,
        Box::new(VirtioCcwDevice::new(Box::new(Block::in_memory(8).unwrap()))),
    )
    .expect("attach again");
    assert_eq!(handle.with(|_| ()), None, "a handle never reaches a later device");
    assert!(css.device_handle::<VirtioCcwDevice>(sid(0)).is_some());
}
