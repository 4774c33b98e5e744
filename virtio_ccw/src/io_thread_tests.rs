//! The I/O-thread device under the Linux driver model, through the css.

use std::sync::Arc;
use std::time::Duration;

use zcss_ccw::sid::SubchannelId;
use zcss_ccw::{GuestMemory, VecMemory};
use zcss_css::{Css, CssConfig};

use super::*;
use crate::blk::{VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_S_OK, VIRTIO_BLK_T_IN};
use crate::device::ActivateError;
use crate::driver_model::{layout, DriverError, LinuxDriver};
use crate::queue::{Endian, QueueError, SplitQueue};
use crate::{Block, VirtioDevice, VIRTIO_F_VERSION_1};

const SID: SubchannelId = SubchannelId {
    cssid: 0xfe,
    ssid: 0,
    schno: 0,
};
const WAIT: Duration = Duration::from_secs(5);

/// A virtio-blk whose requests wait until the test opens the gate.
struct Gated {
    blk: Block,
    gate: crossbeam_channel::Receiver<()>,
}

impl VirtioDevice for Gated {
    fn device_type(&self) -> u8 {
        self.blk.device_type()
    }
    fn queue_max_sizes(&self) -> &[u16] {
        self.blk.queue_max_sizes()
    }
    fn features(&self) -> u64 {
        self.blk.features()
    }
    fn config_len(&self) -> usize {
        self.blk.config_len()
    }
    fn read_config(&self, offset: usize, data: &mut [u8], endian: Endian) {
        self.blk.read_config(offset, data, endian);
    }
    fn activate(&mut self, features: u64, queues: &[SplitQueue]) -> Result<(), ActivateError> {
        self.blk.activate(features, queues)
    }
    fn save_state(&mut self) -> Result<serde_json::Value, zcss_css::DeviceStateError> {
        self.blk.save_state()
    }
    fn process_queue(&mut self, i: usize, q: &mut [SplitQueue], mem: &dyn GuestMemory) -> Result<u64, QueueError> {
        let _ = self.gate.recv_timeout(WAIT);
        self.blk.process_queue(i, q, mem)
    }
}

fn machine(dev: Box<dyn VirtioDevice>) -> (LinuxDriver, IoIdle) {
    let mem = Arc::new(VecMemory::new(2 << 20));
    let css = Css::new(CssConfig::default());
    let d = IoThreadDevice::new(VirtioCcwDevice::new(dev), mem.clone()).unwrap();
    let idle = d.idle();
    css.attach_cold(SID, 0x0001, Box::new(d)).unwrap();
    let mut drv = LinuxDriver::new(css, mem, SID);
    drv.enable().unwrap();
    drv.probe(VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH)
        .unwrap();
    drv.find_vqs(1).unwrap();
    drv.driver_ok().unwrap();
    (drv, idle)
}

fn offer_read(drv: &mut LinuxDriver) {
    let e = drv.endian();
    let mut hdr = [0u8; 16];
    hdr[..4].copy_from_slice(&e.bytes32(VIRTIO_BLK_T_IN));
    hdr[8..].copy_from_slice(&e.bytes64(2));
    drv.memory().store(layout::REQ, &hdr).unwrap();
    drv.memory().store(layout::REQ + 0x100, &[0xff]).unwrap();
    drv.offer(
        0,
        &[
            (layout::REQ, 16, false),
            (layout::BUFFERS, 512, true),
            (layout::REQ + 0x100, 1, true),
        ],
    )
    .unwrap();
}

#[test]
fn async_blk_roundtrips_like_the_synchronous_device() {
    let (mut drv, idle) = machine(Box::new(Block::in_memory(128).unwrap()));
    let mut data = vec![0x3cu8; 2048];
    assert_eq!(drv.blk(true, 4, &mut data).unwrap(), VIRTIO_BLK_S_OK);
    let mut back = vec![0u8; 2048];
    assert_eq!(drv.blk(false, 4, &mut back).unwrap(), VIRTIO_BLK_S_OK);
    assert_eq!(back, data);
    assert!(idle.is_idle());
}

#[test]
fn notify_returns_before_the_request_completes_and_the_io_thread_interrupts() {
    let (open, gate) = crossbeam_channel::unbounded();
    let (mut drv, idle) = machine(Box::new(Gated {
        blk: Block::in_memory(128).unwrap(),
        gate,
    }));
    offer_read(&mut drv);
    assert_eq!(drv.notify(0), Ok(0), "accepted at once");
    assert!(!idle.is_idle(), "the request is on the I/O thread");
    assert_eq!(
        drv.memory().fetch(layout::REQ + 0x100, 1).unwrap(),
        [0xff],
        "not completed yet"
    );
    assert_eq!(drv.css().pending_iscs(), 0, "no interruption yet");
    open.send(()).unwrap();
    assert!(idle.wait_idle(WAIT));
    assert_ne!(drv.css().pending_iscs(), 0, "the I/O thread raised the interruption");
    assert_eq!(drv.complete(0).unwrap(), 513);
    assert_eq!(drv.memory().fetch(layout::REQ + 0x100, 1).unwrap(), [VIRTIO_BLK_S_OK]);
}

#[test]
fn notify_of_a_queue_not_set_up_is_einval_at_once() {
    let (mut drv, _) = machine(Box::new(Block::in_memory(128).unwrap()));
    assert_eq!(drv.notify(1), Err(DriverError::Notify(-22)));
}

#[test]
fn notify_after_io_system_reset_is_einval_and_writes_no_storage() {
    let (mut drv, idle) = machine(Box::new(Block::in_memory(128).unwrap()));
    offer_read(&mut drv);
    drv.css().reset();
    drv.enable().unwrap();
    let before = drv.memory().fetch(0, 2 << 20).unwrap();
    assert_eq!(drv.notify(0), Err(DriverError::Notify(-22)));
    assert!(idle.wait_idle(WAIT));
    assert!(drv.memory().fetch(0, 2 << 20).unwrap() == before, "storage changed");
}

#[test]
fn snapshot_waits_for_the_io_thread_and_restores_into_a_synchronous_device() {
    let (open, gate) = crossbeam_channel::unbounded();
    let (mut drv, _) = machine(Box::new(Gated {
        blk: Block::in_memory(128).unwrap(),
        gate,
    }));
    offer_read(&mut drv);
    assert_eq!(drv.notify(0), Ok(0));
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        open.send(()).unwrap();
    });
    let snap = drv.css().snapshot().unwrap();
    opener.join().unwrap();
    assert_eq!(
        drv.memory().fetch(layout::REQ + 0x100, 1).unwrap(),
        [VIRTIO_BLK_S_OK],
        "completed first"
    );
    let fresh = Css::new(CssConfig::default());
    fresh
        .attach_cold(
            SID,
            0x0001,
            Box::new(VirtioCcwDevice::new(Box::new(Block::in_memory(128).unwrap()))),
        )
        .unwrap();
    fresh.restore(&snap).unwrap();
    drv.set_css(fresh);
    assert_eq!(
        drv.complete(0).unwrap(),
        513,
        "the interruption and used entry carried over"
    );
}

#[test]
fn notifications_while_polling_and_after_the_window_are_all_completed() {
    // Requests at intervals inside, around and beyond the polling window:
    // a notification that skips the doorbell because the thread polls must
    // still be taken (a lost doorbell would leave `blk` waiting).
    let (mut drv, idle) = machine(Box::new(Block::in_memory(128).unwrap()));
    let gaps = [0u64, 5, 20, 31, 33, 50, 200];
    for k in 0..140u8 {
        let mut data = vec![k; 512];
        assert_eq!(drv.blk(true, u64::from(k % 64), &mut data).unwrap(), VIRTIO_BLK_S_OK);
        std::thread::sleep(std::time::Duration::from_micros(gaps[usize::from(k) % gaps.len()]));
    }
    for k in 76..140u8 {
        let mut back = vec![0u8; 512];
        assert_eq!(drv.blk(false, u64::from(k % 64), &mut back).unwrap(), VIRTIO_BLK_S_OK);
        assert!(back.iter().all(|&b| b == k), "sector {}", k % 64);
    }
    assert!(idle.wait_idle(WAIT));
}
