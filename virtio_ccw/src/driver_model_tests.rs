//! End-to-end tests of the proxy control unit under the Linux driver model,
//! through the real channel subsystem and channel-program engine.

use std::io::Write;
use std::sync::Arc;

use parking_lot::Mutex;
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::VecMemory;
use zcss_css::{Css, CssConfig};

use super::*;
use crate::blk::{VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK};
use crate::{Block, Console, ConsoleInput, Rng, VirtioCcwDevice, VirtioDevice};

const SID: SubchannelId = SubchannelId {
    cssid: 0xfe,
    ssid: 0,
    schno: 0,
};

fn machine(dev: Box<dyn VirtioDevice>, tune: impl FnOnce(VirtioCcwDevice) -> VirtioCcwDevice) -> LinuxDriver {
    let mem = Arc::new(VecMemory::new(2 << 20));
    let css = Css::new(CssConfig::default());
    let d = tune(VirtioCcwDevice::new(dev));
    css.attach_cold(SID, 0x0001, Box::new(d)).unwrap();
    let mut drv = LinuxDriver::new(css, mem, SID);
    drv.enable().unwrap();
    drv
}

const BLK_ACCEPT: u64 = VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH;

fn bring_up_blk(drv: &mut LinuxDriver) {
    drv.probe(BLK_ACCEPT).unwrap();
    let cap = drv.read_conf(8).unwrap();
    let e = drv.endian();
    assert_eq!(e.u64(cap.try_into().unwrap()), 128);
    drv.find_vqs(1).unwrap();
    drv.driver_ok().unwrap();
}

fn write_read_verify(drv: &mut LinuxDriver) {
    let mut data: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!(drv.blk(true, 16, &mut data).unwrap(), VIRTIO_BLK_S_OK);
    let mut back = vec![0u8; 4096];
    assert_eq!(drv.blk(false, 16, &mut back).unwrap(), VIRTIO_BLK_S_OK);
    assert_eq!(back, data);
    let mut beyond = vec![0u8; 512];
    assert_eq!(drv.blk(false, 128, &mut beyond).unwrap(), VIRTIO_BLK_S_IOERR);
}

#[test]
fn linux_probe_negotiates_revision_2_with_adapter_interrupts_and_blk_roundtrips() {
    let mut drv = machine(Box::new(Block::in_memory(128).unwrap()), |d| d);
    bring_up_blk(&mut drv);
    assert_eq!(drv.revision(), 2);
    assert!(drv.airq());
    assert_eq!(drv.features(), BLK_ACCEPT);
    assert_eq!(drv.status().unwrap(), 0x0f);
    write_read_verify(&mut drv);
    assert!(drv.interrupts.iter().any(|i| i.scsw.is_none() && i.queues == 1));
}

#[test]
fn linux_probe_issues_the_documented_command_sequence() {
    let mut drv = machine(Box::new(Block::in_memory(128).unwrap()), |d| d);
    bring_up_blk(&mut drv);
    let want = [
        CCW_CMD_SENSE_ID,
        CCW_CMD_NOOP,
        CCW_CMD_SET_VIRTIO_REV,
        CCW_CMD_VDEV_RESET,
        CCW_CMD_READ_STATUS,
        CCW_CMD_WRITE_STATUS,
        CCW_CMD_READ_STATUS,
        CCW_CMD_WRITE_STATUS,
        CCW_CMD_READ_FEAT,
        CCW_CMD_READ_FEAT,
        CCW_CMD_WRITE_FEAT,
        CCW_CMD_WRITE_FEAT,
        CCW_CMD_READ_STATUS,
        CCW_CMD_WRITE_STATUS,
        CCW_CMD_READ_STATUS,
        CCW_CMD_READ_CONF,
        CCW_CMD_READ_VQ_CONF,
        CCW_CMD_SET_VQ,
        CCW_CMD_SET_IND_ADAPTER,
        CCW_CMD_SET_CONF_IND,
        CCW_CMD_READ_STATUS,
        CCW_CMD_WRITE_STATUS,
        CCW_CMD_READ_STATUS,
    ];
    assert_eq!(drv.trace, want);
}

#[test]
fn linux_probe_falls_back_to_revision_1_and_classic_indicators() {
    let mut drv = machine(Box::new(Block::in_memory(128).unwrap()), |d| d.with_max_revision(1));
    drv.want_airq = false;
    bring_up_blk(&mut drv);
    assert_eq!(drv.revision(), 1);
    assert!(!drv.airq());
    assert!(!drv.trace.contains(&CCW_CMD_READ_STATUS));
    write_read_verify(&mut drv);
    assert!(drv.interrupts.iter().any(|i| i.scsw.is_some() && i.queues == 1));
}

#[test]
fn linux_probe_falls_back_to_legacy_revision_0_with_big_endian_rings() {
    let mut drv = machine(Box::new(Block::in_memory(128).unwrap()), |d| d.with_max_revision(0));
    bring_up_blk(&mut drv);
    assert_eq!(drv.revision(), 0);
    // SET_IND_ADAPTER is refused in revision 0: classic indicators.
    assert!(!drv.airq());
    assert_eq!(drv.trace.iter().filter(|&&c| c == CCW_CMD_SET_VIRTIO_REV).count(), 3);
    write_read_verify(&mut drv);
}

#[test]
fn linux_probe_on_modern_only_device_uses_revision_2() {
    let mut drv = machine(Box::new(Block::in_memory(128).unwrap()), VirtioCcwDevice::modern_only);
    bring_up_blk(&mut drv);
    assert_eq!(drv.revision(), 2);
    write_read_verify(&mut drv);
}

#[test]
fn linux_driver_reads_entropy() {
    let mut drv = machine(Box::new(Rng::new()), |d| d);
    drv.probe(VIRTIO_F_VERSION_1).unwrap();
    drv.find_vqs(1).unwrap();
    drv.driver_ok().unwrap();
    let a = drv.rng(64).unwrap();
    let b = drv.rng(64).unwrap();
    assert_eq!(a.len(), 64);
    assert_ne!(a, b);
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);
impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn linux_driver_writes_console_output() {
    let out = Shared::default();
    let mut drv = machine(
        Box::new(Console::new(Box::new(out.clone()), ConsoleInput::default())),
        |d| d,
    );
    drv.probe(VIRTIO_F_VERSION_1).unwrap();
    drv.find_vqs(2).unwrap();
    drv.driver_ok().unwrap();
    drv.console_write(b"Linux version 6.x (s390x)\n").unwrap();
    assert_eq!(out.0.lock().as_slice(), b"Linux version 6.x (s390x)\n");
}

#[test]
fn notify_for_missing_queue_returns_einval_through_css() {
    let mut drv = machine(Box::new(Block::in_memory(8).unwrap()), |d| d);
    bring_up_blk_small(&mut drv);
    assert_eq!(drv.notify(5), Err(DriverError::Notify(-22)));
}

fn bring_up_blk_small(drv: &mut LinuxDriver) {
    drv.probe(BLK_ACCEPT).unwrap();
    drv.find_vqs(1).unwrap();
    drv.driver_ok().unwrap();
}

/// Stores `data` at the model's payload area and runs one CCW on it.
fn raw(
    drv: &mut LinuxDriver,
    cmd: u8,
    flags: u8,
    count: u16,
    data: &[u8],
) -> Result<zcss_ccw::scsw::Scsw, DriverError> {
    drv.mem.store(layout::DATA, data).unwrap();
    drv.ccw(cmd, flags, count, u32::try_from(layout::DATA).unwrap())
}

#[test]
fn count_longer_than_payload_without_sli_gives_incorrect_length() {
    let mut drv = machine(Box::new(Block::in_memory(8).unwrap()), |d| d);
    raw(&mut drv, CCW_CMD_SET_VIRTIO_REV, 0, 4, &[0, 1, 0, 0]).unwrap();
    let r = raw(&mut drv, CCW_CMD_WRITE_FEAT, 0, 6, &[1, 0, 0, 0, 0, 0]);
    assert!(
        matches!(
            r,
            Err(DriverError::Io {
                cstat: 0x40,
                dstat: 0x0c,
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn count_longer_than_payload_with_sli_completes_with_residual() {
    let mut drv = machine(Box::new(Block::in_memory(8).unwrap()), |d| d);
    raw(&mut drv, CCW_CMD_SET_VIRTIO_REV, 0, 4, &[0, 1, 0, 0]).unwrap();
    let s = raw(&mut drv, CCW_CMD_WRITE_FEAT, 0x20, 8, &[1, 0, 0, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(s.count, 3);
}

#[test]
fn count_shorter_than_payload_is_command_reject() {
    let mut drv = machine(Box::new(Block::in_memory(8).unwrap()), |d| d);
    raw(&mut drv, CCW_CMD_SET_VIRTIO_REV, 0, 4, &[0, 1, 0, 0]).unwrap();
    let r = raw(&mut drv, CCW_CMD_SET_IND_ADAPTER, 0x20, 20, &[0; 25]);
    assert_eq!(r, Err(DriverError::Rejected(CCW_CMD_SET_IND_ADAPTER)));
}

#[test]
fn read_conf_beyond_config_space_without_sli_gives_incorrect_length() {
    let mut drv = machine(Box::new(Block::in_memory(8).unwrap()), |d| d);
    raw(&mut drv, CCW_CMD_SET_VIRTIO_REV, 0, 4, &[0, 1, 0, 0]).unwrap();
    let partial = raw(&mut drv, CCW_CMD_READ_CONF, 0, 8, &[0; 8]).unwrap();
    assert_eq!(partial.count, 0);
    let r = raw(&mut drv, CCW_CMD_READ_CONF, 0, 64, &[0; 64]);
    assert!(matches!(r, Err(DriverError::Io { cstat: 0x40, .. })), "{r:?}");
}

#[test]
fn read_feat_and_read_vq_conf_through_indirect_addressing_read_the_index() {
    // The device has no guest storage of its own: the index comes through
    // the channel's DataStream::peek, whatever the addressing.
    let mut drv = machine(Box::new(Block::in_memory(8).unwrap()), |d| d);
    raw(&mut drv, CCW_CMD_SET_VIRTIO_REV, 0, 4, &[0, 1, 0, 0]).unwrap();
    // Format-1 IDAL (ORB C64 = 0): one IDAW pointing at the payload.
    drv.mem.store(0x3800, &0x3000u32.to_be_bytes()).unwrap();
    drv.mem.store(0x3000, &[0xee, 0xee, 0xee, 0xee, 1]).unwrap();
    drv.ccw(CCW_CMD_READ_FEAT, 0x04, 5, 0x3800).unwrap();
    let page1 = drv.mem.fetch(0x3000, 5).unwrap();
    assert_eq!(page1[0] & 0x01, 0x01, "VERSION_1 (bit 32) in feature page 1");
    assert_eq!(page1[4], 1, "index kept");
    drv.mem.store(0x3000, &[0, 0, 0xee, 0xee]).unwrap();
    drv.ccw(CCW_CMD_READ_VQ_CONF, 0x04, 4, 0x3800).unwrap();
    let conf = drv.mem.fetch(0x3000, 4).unwrap();
    assert_eq!(conf[..2], [0, 0]);
    assert_ne!(conf[2..], [0xee, 0xee], "queue 0 maximum size stored");
}

#[test]
fn read_feat_index_across_an_idaw_boundary_is_rejected() {
    // The first IDAW ends 2 bytes into the area (2 KiB boundary), so the
    // 5-byte payload is not one contiguous run: DataStream::peek refuses
    // it and the device cannot see the index.
    let mut drv = machine(Box::new(Block::in_memory(8).unwrap()), |d| d);
    raw(&mut drv, CCW_CMD_SET_VIRTIO_REV, 0, 4, &[0, 1, 0, 0]).unwrap();
    drv.mem.store(0x3800, &0x37feu32.to_be_bytes()).unwrap();
    drv.mem.store(0x3804, &0x5000u32.to_be_bytes()).unwrap();
    let r = drv.ccw(CCW_CMD_READ_FEAT, 0x04, 5, 0x3800);
    assert_eq!(r, Err(DriverError::Rejected(CCW_CMD_READ_FEAT)));
}

/// Offers a virtio-blk read of sector 0 into the buffers without
/// notifying (what a guest had queued when the system was reset).
fn offer_blk_read(drv: &mut LinuxDriver) {
    let e = drv.endian();
    let mut hdr = [0u8; 16];
    hdr[..4].copy_from_slice(&e.bytes32(crate::blk::VIRTIO_BLK_T_IN));
    drv.mem.store(layout::REQ, &hdr).unwrap();
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
fn notify_of_an_old_queue_after_io_system_reset_writes_no_storage() {
    let mut drv = machine(Box::new(Block::in_memory(128).unwrap()), |d| d);
    bring_up_blk(&mut drv);
    let mut data = vec![0xa5u8; 512];
    assert_eq!(drv.blk(true, 0, &mut data).unwrap(), VIRTIO_BLK_S_OK);
    offer_blk_read(&mut drv);
    drv.css.reset();
    // The rebooted guest enables the subchannel again; an old notify
    // arrives for the queue set up before the reset.
    drv.enable().unwrap();
    let before = drv.mem.fetch(0, 2 << 20).unwrap();
    assert_eq!(drv.notify(0), Err(DriverError::Notify(-22)));
    assert!(drv.mem.fetch(0, 2 << 20).unwrap() == before, "storage changed");
    assert_eq!(drv.css.pending_iscs(), 0, "no indication");
}

#[test]
fn io_system_reset_unlocks_the_revision_for_the_rebooted_guest() {
    let mut drv = machine(Box::new(Block::in_memory(128).unwrap()), |d| d);
    bring_up_blk(&mut drv);
    assert_eq!(drv.revision(), 2);
    drv.css.reset();
    let mut fresh = LinuxDriver::new(drv.css.clone(), drv.mem.clone(), SID);
    fresh.enable().unwrap();
    assert_eq!(fresh.status().unwrap(), 0, "device status after reset");
    bring_up_blk(&mut fresh);
    assert_eq!(fresh.revision(), 2, "SET_VIRTIO_REV accepted again");
    let mut back = vec![0u8; 512];
    assert_eq!(fresh.blk(false, 0, &mut back).unwrap(), VIRTIO_BLK_S_OK);
}

#[test]
fn clear_subchannel_keeps_virtio_state_unlike_io_system_reset() {
    let mut drv = machine(Box::new(Block::in_memory(128).unwrap()), |d| d);
    bring_up_blk(&mut drv);
    let ctx = zcss_css::IoCtx::new(drv.mem.as_ref());
    assert_eq!(drv.css.csch(&ctx, drv.gr1), Ok(zcss_css::Cc::Zero));
    while drv.css.next_interrupt(0xff).is_some() {}
    assert_eq!(drv.css.tsch(&ctx, drv.gr1, 0x1000), Ok(zcss_css::Cc::Zero));
    let mut back = vec![0u8; 512];
    assert_eq!(drv.blk(false, 0, &mut back).unwrap(), VIRTIO_BLK_S_OK, "queues kept");
}

#[test]
fn restore_into_a_fresh_css_continues_the_driver_with_disk_queues_and_indicators() {
    let mut drv = machine(Box::new(Block::in_memory(128).unwrap()), |d| d);
    bring_up_blk(&mut drv);
    let mut data: Vec<u8> = (0..1024u32).map(|i| (i % 253) as u8).collect();
    assert_eq!(drv.blk(true, 5, &mut data).unwrap(), VIRTIO_BLK_S_OK);
    let json = drv.css.snapshot().unwrap().to_json().unwrap();
    let fresh = Css::new(CssConfig::default());
    fresh
        .attach_cold(
            SID,
            0x0001,
            Box::new(VirtioCcwDevice::new(Box::new(Block::in_memory(128).unwrap()))),
        )
        .unwrap();
    fresh
        .restore(&zcss_css::CssSnapshot::from_json(&json).unwrap())
        .unwrap();
    drv.css = fresh;
    let mut back = vec![0u8; 1024];
    assert_eq!(drv.blk(false, 5, &mut back).unwrap(), VIRTIO_BLK_S_OK);
    assert_eq!(
        back, data,
        "disk contents, used index and adapter indicators carried over"
    );
    assert_eq!(drv.status().unwrap(), 0x0f);
}

#[test]
fn restore_of_a_disk_of_another_size_is_refused() {
    let mut drv = machine(Box::new(Block::in_memory(128).unwrap()), |d| d);
    bring_up_blk(&mut drv);
    let snap = drv.css.snapshot().unwrap();
    let fresh = Css::new(CssConfig::default());
    fresh
        .attach_cold(
            SID,
            0x0001,
            Box::new(VirtioCcwDevice::new(Box::new(Block::in_memory(64).unwrap()))),
        )
        .unwrap();
    let e = fresh.restore(&snap).unwrap_err();
    assert!(e.to_string().contains("128 sectors"), "{e}");
}
