//! Unit tests of the proxy control unit: every command under every
//! revision, every reject path, notifications and indicators.

use std::sync::Arc;

use parking_lot::Mutex;
use zcss_ccw::memory::{AccessKey, GuestMemory};
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::{Ccw, CcwFlags, DeviceStatus, VecMemory};
use zcss_css::{Device, InterruptSink, SubchannelHandle};

use super::*;
use crate::blk::{Block, VIRTIO_BLK_S_OK, VIRTIO_BLK_T_IN};
use crate::device::{
    id, STATUS_ACKNOWLEDGE, STATUS_DEVICE_NEEDS_RESET, STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FEATURES_OK,
};
use crate::queue::{Endian, QueueError, VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};
use crate::transfer::BufferTransfer;

#[derive(Default)]
struct Recorder {
    unsolicited: Mutex<Vec<u8>>,
    adapter: Mutex<Vec<u8>>,
}

impl InterruptSink for Recorder {
    fn unsolicited(&self, _sid: SubchannelId, status: DeviceStatus, _sense: Option<&zcss_ccw::Sense>) -> bool {
        self.unsolicited.lock().push(status.into_bits());
        true
    }
    fn adapter_interrupt(&self, isc: u8) {
        self.adapter.lock().push(isc);
    }
}

/// A back-end with `n` queues that completes nothing.
struct Fake(Vec<u16>);

impl VirtioDevice for Fake {
    fn device_type(&self) -> u8 {
        99
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &self.0
    }
    fn features(&self) -> u64 {
        VIRTIO_F_VERSION_1
    }
    fn config_len(&self) -> usize {
        0
    }
    fn read_config(&self, _o: usize, d: &mut [u8], _e: Endian) {
        d.fill(0);
    }
    fn process_queue(&mut self, _i: usize, _q: &mut [SplitQueue], _m: &dyn GuestMemory) -> Result<u64, QueueError> {
        Ok(0)
    }
}

fn ccw(cmd: u8, count: usize, sli: bool) -> Ccw {
    Ccw {
        cmd,
        flags: CcwFlags::new().with_sli(sli),
        count: u16::try_from(count).unwrap(),
        cda: 0x1000,
    }
}

/// Runs `cmd` with a data area holding `data` (count = its length).
fn run(d: &mut VirtioCcwDevice, cmd: u8, data: &[u8]) -> (DeviceResult, BufferTransfer) {
    let mut io = BufferTransfer::new(data);
    let r = d.execute_command(&ccw(cmd, data.len(), false), &mut io);
    (r, io)
}

fn ok(d: &mut VirtioCcwDevice, cmd: u8, data: &[u8]) -> BufferTransfer {
    let (r, io) = run(d, cmd, data);
    assert_eq!(r, DeviceResult::OK, "command {cmd:#x}");
    io
}

fn rejected(d: &mut VirtioCcwDevice, cmd: u8, data: &[u8]) -> bool {
    run(d, cmd, data).0 == COMMAND_REJECT
}

fn blk() -> VirtioCcwDevice {
    VirtioCcwDevice::new(Box::new(Block::in_memory(64).unwrap()))
}

fn rev(d: &mut VirtioCcwDevice, r: u16) {
    let mut b = [0u8; 4];
    b[..2].copy_from_slice(&r.to_be_bytes());
    ok(d, CCW_CMD_SET_VIRTIO_REV, &b);
}

fn rev_info(r: u16, len: u16) -> [u8; 4] {
    let mut b = [0u8; 4];
    b[..2].copy_from_slice(&r.to_be_bytes());
    b[2..].copy_from_slice(&len.to_be_bytes());
    b
}

fn feat(v: u32, index: u8) -> [u8; 5] {
    let mut b = [0u8; 5];
    b[..4].copy_from_slice(&v.to_le_bytes());
    b[4] = index;
    b
}

fn vq_info(desc: u64, index: u16, num: u16, avail: u64, used: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&desc.to_be_bytes());
    b[12..14].copy_from_slice(&index.to_be_bytes());
    b[14..16].copy_from_slice(&num.to_be_bytes());
    b[16..24].copy_from_slice(&avail.to_be_bytes());
    b[24..].copy_from_slice(&used.to_be_bytes());
    b
}

fn vq_legacy(queue: u64, align: u32, index: u16, num: u16) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&queue.to_be_bytes());
    b[8..12].copy_from_slice(&align.to_be_bytes());
    b[12..14].copy_from_slice(&index.to_be_bytes());
    b[14..].copy_from_slice(&num.to_be_bytes());
    b
}

fn thinint(summary: u64, ind: u64, bit: u64, isc: u8) -> [u8; 25] {
    let mut b = [0u8; 25];
    b[..8].copy_from_slice(&summary.to_be_bytes());
    b[8..16].copy_from_slice(&ind.to_be_bytes());
    b[16..24].copy_from_slice(&bit.to_be_bytes());
    b[24] = isc;
    b
}

fn status(d: &mut VirtioCcwDevice, s: u8) {
    ok(d, CCW_CMD_WRITE_STATUS, &[s]);
}

/// Negotiates revision 1 features and sets up queue 0 of a blk device at
/// desc 0x10000, avail 0x11000, used 0x12000, size 16; then DRIVER_OK.
fn ready_blk(d: &mut VirtioCcwDevice, r: u16) {
    rev(d, r);
    ok(d, CCW_CMD_VDEV_RESET, &[]);
    status(d, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    ok(d, CCW_CMD_WRITE_FEAT, &feat(0, 0));
    ok(d, CCW_CMD_WRITE_FEAT, &feat(1, 1));
    status(d, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
    ok(d, CCW_CMD_SET_VQ, &vq_info(0x10000, 0, 16, 0x11000, 0x12000));
}

fn driver_ok(d: &mut VirtioCcwDevice) {
    status(
        d,
        STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK,
    );
}

fn attach(d: &mut VirtioCcwDevice) -> Arc<Recorder> {
    let rec = Arc::new(Recorder::default());
    let sid = SubchannelId::new(0xfe, 0, 1).unwrap();
    d.attached(SubchannelHandle::new(sid, rec.clone()));
    rec
}

/// Puts a blk IN request (1 sector into 0x20000, status at 0x21000) as
/// chain 0 into slot `n` of the little-endian ring and publishes idx n+1.
fn offer_read(m: &VecMemory, n: u16, e: Endian) {
    let descs: [(u64, u32, u16, u16); 3] = [
        (0x22000, 16, VIRTQ_DESC_F_NEXT, 1),
        (0x20000, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2),
        (0x21000, 1, VIRTQ_DESC_F_WRITE, 0),
    ];
    for (i, (a, l, f, nx)) in descs.iter().enumerate() {
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&e.bytes64(*a));
        raw[8..12].copy_from_slice(&e.bytes32(*l));
        raw[12..14].copy_from_slice(&e.bytes16(*f));
        raw[14..].copy_from_slice(&e.bytes16(*nx));
        m.store(0x10000 + 16 * i as u64, &raw).unwrap();
    }
    let mut hdr = [0u8; 16];
    hdr[..4].copy_from_slice(&e.bytes32(VIRTIO_BLK_T_IN));
    m.store(0x22000, &hdr).unwrap();
    m.store(0x21000, &[0xee]).unwrap();
    m.store(0x11004 + 2 * u64::from(n % 16), &e.bytes16(0)).unwrap();
    m.store(0x11002, &e.bytes16(n + 1)).unwrap();
}

// ---- basic commands -------------------------------------------------------

#[test]
fn sense_id_reports_cu_3832_and_device_id_without_locking_revision() {
    let mut d = blk();
    let io = ok(&mut d, CCW_CMD_SENSE_ID, &[0xcc; 256]);
    let mut want = vec![0xff, 0x38, 0x32, id::BLOCK];
    want.resize(256, 0);
    assert_eq!(io.area, want, "identification, then zeros: no CIWs");
    assert_eq!(io.residual(), 0);
    assert_eq!(d.revision(), None);
}

#[test]
fn sense_id_with_short_count_transfers_count_bytes() {
    let mut d = blk();
    let mut io = BufferTransfer::new(&[0xcc; 9]);
    let r = d.execute_command(&ccw(CCW_CMD_SENSE_ID, 9, true), &mut io);
    assert_eq!(r, DeviceResult::OK);
    assert_eq!(io.area, vec![0xff, 0x38, 0x32, id::BLOCK, 0, 0, 0, 0, 0]);
}

#[test]
fn sense_id_with_count_below_four_keeps_byte0_ff() {
    // Deliberately unlike QEMU (which stores byte 0 = 0 when fewer than 4
    // bytes fit): the data is the same block whatever the count.
    let mut d = blk();
    let mut io = BufferTransfer::zeroed(2);
    let r = d.execute_command(&ccw(CCW_CMD_SENSE_ID, 2, true), &mut io);
    assert_eq!(r, DeviceResult::OK);
    assert_eq!(io.area, vec![0xff, 0x38]);
}

#[test]
fn sense_id_with_count_above_256_leaves_residual_for_the_channel() {
    let mut d = blk();
    let io = ok(&mut d, CCW_CMD_SENSE_ID, &[0; 300]);
    assert_eq!(io.residual(), 44);
}

#[test]
fn command_reject_is_unit_check_alone_with_command_reject_sense() {
    let mut d = blk();
    let (r, _) = run(&mut d, 0x02, &[0; 4]);
    assert_eq!(r.status.into_bits(), 0x02, "UC without CE or DE");
    assert_eq!(r.sense.map(|s| s.bytes[0]), Some(0x80));
    assert_eq!(d.pending_sense().map(|s| s.bytes[0]), Some(0x80));
}

#[test]
fn nop_succeeds_without_locking_revision() {
    let mut d = blk();
    let io = ok(&mut d, CCW_CMD_NOOP, &[]);
    assert!(!io.touched);
    assert_eq!(d.revision(), None);
}

#[test]
fn unknown_command_is_rejected_and_basic_sense_reports_then_clears() {
    let mut d = blk();
    assert!(rejected(&mut d, 0x02, &[0; 4]));
    assert_eq!(d.revision(), None);
    let io = ok(&mut d, CCW_CMD_BASIC_SENSE, &[0xaa; 32]);
    assert_eq!(io.area[0], 0x80);
    assert_eq!(&io.area[1..], &[0; 31]);
    let io = ok(&mut d, CCW_CMD_BASIC_SENSE, &[0xaa; 32]);
    assert_eq!(io.area[0], 0);
}

#[test]
fn info_reports_virtio_identity() {
    let d = VirtioCcwDevice::new(Box::new(crate::rng::Rng::new()));
    let i = d.info();
    assert_eq!(
        (i.cu_type, i.cu_model, i.dev_type, i.dev_model),
        (0x3832, id::RNG, 0, 0)
    );
    assert_eq!(i.paths.iter().collect::<Vec<_>>(), vec![(0x80, 0x00, 0x32)]);
}

// ---- revisions --------------------------------------------------------------

#[test]
fn set_virtio_rev_accepts_each_revision_once() {
    for r in 0..=2u16 {
        let mut d = blk();
        rev(&mut d, r);
        assert_eq!(d.revision(), Some(u8::try_from(r).unwrap()));
        assert!(rejected(&mut d, CCW_CMD_SET_VIRTIO_REV, &rev_info(r, 0)));
    }
}

#[test]
fn set_virtio_rev_above_max_is_rejected() {
    let mut d = blk();
    assert!(rejected(&mut d, CCW_CMD_SET_VIRTIO_REV, &rev_info(3, 0)));
    let mut d = blk().with_max_revision(1);
    assert!(rejected(&mut d, CCW_CMD_SET_VIRTIO_REV, &rev_info(2, 0)));
    rev(&mut d, 1);
}

#[test]
fn set_virtio_rev_0_on_modern_only_is_rejected() {
    let mut d = blk().modern_only();
    assert!(rejected(&mut d, CCW_CMD_SET_VIRTIO_REV, &rev_info(0, 0)));
    rev(&mut d, 1);
}

#[test]
fn set_virtio_rev_with_data_length_is_rejected() {
    let mut d = blk();
    assert!(rejected(&mut d, CCW_CMD_SET_VIRTIO_REV, &rev_info(1, 4)));
    assert_eq!(d.revision(), None);
}

#[test]
fn set_virtio_rev_with_short_count_is_rejected() {
    let mut d = blk();
    assert!(rejected(&mut d, CCW_CMD_SET_VIRTIO_REV, &[0, 1]));
    assert_eq!(d.revision(), None);
}

#[test]
fn set_virtio_rev_with_long_count_leaves_residual() {
    let mut d = blk();
    let io = ok(&mut d, CCW_CMD_SET_VIRTIO_REV, &[0, 1, 0, 0, 9, 9]);
    assert_eq!(io.residual(), 2);
    assert_eq!(d.revision(), Some(1));
}

#[test]
fn transitional_device_locks_revision_0_on_first_virtio_command() {
    let mut d = blk();
    ok(&mut d, CCW_CMD_VDEV_RESET, &[]);
    assert_eq!(d.revision(), Some(0));
    assert!(rejected(&mut d, CCW_CMD_SET_VIRTIO_REV, &rev_info(1, 0)));
}

#[test]
fn modern_only_device_rejects_commands_before_set_virtio_rev() {
    let mut d = blk().modern_only();
    for (cmd, data) in [
        (CCW_CMD_VDEV_RESET, vec![]),
        (CCW_CMD_READ_FEAT, vec![0; 5]),
        (CCW_CMD_WRITE_STATUS, vec![1]),
        (CCW_CMD_READ_VQ_CONF, vec![0; 4]),
    ] {
        assert!(rejected(&mut d, cmd, &data), "{cmd:#x}");
    }
    assert_eq!(d.revision(), None);
    rev(&mut d, 1);
    ok(&mut d, CCW_CMD_VDEV_RESET, &[]);
}

#[test]
fn legacy_only_device_has_max_revision_0() {
    struct Legacy(Fake);
    impl VirtioDevice for Legacy {
        fn device_type(&self) -> u8 {
            1
        }
        fn queue_max_sizes(&self) -> &[u16] {
            self.0.queue_max_sizes()
        }
        fn features(&self) -> u64 {
            0
        }
        fn config_len(&self) -> usize {
            0
        }
        fn read_config(&self, o: usize, d: &mut [u8], e: Endian) {
            self.0.read_config(o, d, e);
        }
        fn process_queue(&mut self, i: usize, q: &mut [SplitQueue], m: &dyn GuestMemory) -> Result<u64, QueueError> {
            self.0.process_queue(i, q, m)
        }
    }
    let mut d = VirtioCcwDevice::new(Box::new(Legacy(Fake(vec![8]))));
    assert!(rejected(&mut d, CCW_CMD_SET_VIRTIO_REV, &rev_info(1, 0)));
    rev(&mut d, 0);
}

#[test]
fn subchannel_disable_forgets_revision() {
    let mut d = blk();
    rev(&mut d, 2);
    d.subchannel_disabled();
    assert_eq!(d.revision(), None);
    rev(&mut d, 1);
}

// ---- features ---------------------------------------------------------------

#[test]
fn read_feat_pages_per_revision() {
    for r in 0..=2u16 {
        let mut d = blk();
        rev(&mut d, r);
        let p0 = ok(&mut d, CCW_CMD_READ_FEAT, &feat(0, 0)).area;
        let p1 = ok(&mut d, CCW_CMD_READ_FEAT, &feat(0xffff_ffff, 1)).area;
        let p2 = ok(&mut d, CCW_CMD_READ_FEAT, &feat(0xffff_ffff, 2)).area;
        let want0 = u32::try_from(d.device().features() & 0xffff_ffff).unwrap();
        assert_eq!(p0, feat(want0, 0).to_vec());
        let want1 = u32::from(r >= 1);
        assert_eq!(p1, feat(want1, 1).to_vec(), "rev {r}");
        assert_eq!(p2, feat(0, 2).to_vec());
    }
}

#[test]
fn read_feat_with_short_count_is_rejected() {
    let mut d = blk();
    rev(&mut d, 1);
    assert!(rejected(&mut d, CCW_CMD_READ_FEAT, &[0; 3]));
}

#[test]
fn write_feat_stores_both_pages_at_revision_1() {
    let mut d = blk();
    rev(&mut d, 1);
    ok(&mut d, CCW_CMD_WRITE_FEAT, &feat(0x240, 0));
    ok(&mut d, CCW_CMD_WRITE_FEAT, &feat(1, 1));
    assert_eq!(d.driver_features(), 0x1_0000_0240);
}

#[test]
fn write_feat_page_1_at_revision_0_is_rejected() {
    let mut d = blk();
    rev(&mut d, 0);
    assert!(rejected(&mut d, CCW_CMD_WRITE_FEAT, &feat(1, 1)));
    ok(&mut d, CCW_CMD_WRITE_FEAT, &feat(0, 1));
    ok(&mut d, CCW_CMD_WRITE_FEAT, &feat(0, 7));
    assert!(rejected(&mut d, CCW_CMD_WRITE_FEAT, &feat(4, 7)));
}

#[test]
fn write_feat_after_features_ok_is_rejected() {
    let mut d = blk();
    ready_blk(&mut d, 1);
    assert!(rejected(&mut d, CCW_CMD_WRITE_FEAT, &feat(0, 0)));
}

#[test]
fn write_feat_with_short_count_is_rejected() {
    let mut d = blk();
    rev(&mut d, 1);
    assert!(rejected(&mut d, CCW_CMD_WRITE_FEAT, &[1, 0, 0, 0]));
    assert_eq!(d.driver_features(), 0);
}

#[test]
fn write_feat_with_long_count_reads_exactly_five_bytes() {
    let mut d = blk();
    rev(&mut d, 1);
    let io = ok(&mut d, CCW_CMD_WRITE_FEAT, &[2, 0, 0, 0, 0, 0xff]);
    assert_eq!(io.residual(), 1);
    assert_eq!(d.driver_features(), 2);
}

// ---- configuration ------------------------------------------------------------

#[test]
fn read_conf_partial_read_returns_count_bytes_little_endian_at_rev1() {
    let mut d = blk();
    rev(&mut d, 1);
    let io = ok(&mut d, CCW_CMD_READ_CONF, &[0; 8]);
    assert_eq!(io.area, 64u64.to_le_bytes().to_vec());
    assert_eq!(io.residual(), 0);
}

#[test]
fn read_conf_is_big_endian_at_revision_0() {
    let mut d = blk();
    rev(&mut d, 0);
    let io = ok(&mut d, CCW_CMD_READ_CONF, &[0; 8]);
    assert_eq!(io.area, 64u64.to_be_bytes().to_vec());
}

#[test]
fn read_conf_beyond_config_space_leaves_residual() {
    let mut d = blk();
    rev(&mut d, 1);
    let io = ok(&mut d, CCW_CMD_READ_CONF, &[0; 100]);
    assert_eq!(io.residual(), 100 - crate::blk::CONFIG_LEN);
}

#[test]
fn write_conf_is_accepted_at_every_revision() {
    for r in 0..=2 {
        let mut d = blk();
        rev(&mut d, r);
        let io = ok(&mut d, CCW_CMD_WRITE_CONF, &[1; 4]);
        assert_eq!(io.residual(), 0);
        let io = ok(&mut d, CCW_CMD_WRITE_CONF, &[1; 40]);
        assert_eq!(io.residual(), 40 - crate::blk::CONFIG_LEN);
    }
}

// ---- status -------------------------------------------------------------------

#[test]
fn read_status_needs_revision_2() {
    for r in 0..=1 {
        let mut d = blk();
        rev(&mut d, r);
        assert!(rejected(&mut d, CCW_CMD_READ_STATUS, &[0]));
    }
    let mut d = blk();
    rev(&mut d, 2);
    status(&mut d, STATUS_ACKNOWLEDGE);
    assert_eq!(ok(&mut d, CCW_CMD_READ_STATUS, &[0xff]).area, vec![STATUS_ACKNOWLEDGE]);
}

#[test]
fn write_status_features_ok_without_version_1_is_rejected_at_rev1() {
    let mut d = blk();
    rev(&mut d, 1);
    ok(&mut d, CCW_CMD_WRITE_FEAT, &feat(0, 0));
    assert!(rejected(&mut d, CCW_CMD_WRITE_STATUS, &[STATUS_FEATURES_OK]));
    assert_eq!(d.status(), 0);
}

#[test]
fn write_status_features_ok_with_unoffered_feature_is_rejected() {
    let mut d = blk();
    rev(&mut d, 1);
    ok(&mut d, CCW_CMD_WRITE_FEAT, &feat(1 << 31, 0));
    ok(&mut d, CCW_CMD_WRITE_FEAT, &feat(1, 1));
    assert!(rejected(&mut d, CCW_CMD_WRITE_STATUS, &[STATUS_FEATURES_OK]));
}

#[test]
fn write_status_driver_ok_without_features_ok_is_rejected_at_rev1() {
    let mut d = blk();
    rev(&mut d, 1);
    assert!(rejected(&mut d, CCW_CMD_WRITE_STATUS, &[STATUS_DRIVER_OK]));
}

#[test]
fn write_status_driver_ok_at_revision_0_needs_no_features_ok() {
    let mut d = blk();
    rev(&mut d, 0);
    status(&mut d, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK);
    assert_eq!(d.status(), 7);
}

#[test]
fn write_status_zero_resets_device_keeping_revision() {
    let mut d = blk();
    ready_blk(&mut d, 1);
    status(&mut d, 0);
    assert_eq!((d.status(), d.driver_features(), d.revision()), (0, 0, Some(1)));
    assert!(!d.queue(0).unwrap().ready());
}

#[test]
fn write_status_with_no_data_is_rejected() {
    let mut d = blk();
    rev(&mut d, 1);
    assert!(rejected(&mut d, CCW_CMD_WRITE_STATUS, &[]));
}

#[test]
fn vdev_reset_clears_status_queues_and_indicators_but_keeps_revision() {
    for r in 1..=2 {
        vdev_reset_at(r);
    }
}

fn vdev_reset_at(r: u16) {
    let mut d = blk();
    ready_blk(&mut d, r);
    ok(&mut d, CCW_CMD_SET_IND, &0x8000u64.to_be_bytes());
    ok(&mut d, CCW_CMD_SET_CONF_IND, &0x8008u64.to_be_bytes());
    ok(&mut d, CCW_CMD_VDEV_RESET, &[]);
    assert_eq!(d.status(), 0);
    assert_eq!(d.indicators(), Indicators::default());
    assert!(!d.queue(0).unwrap().ready());
    assert_eq!(d.revision(), Some(u8::try_from(r).unwrap()));
    ok(&mut d, CCW_CMD_SET_IND, &0x8000u64.to_be_bytes());
}

// ---- queues -------------------------------------------------------------------

#[test]
fn set_vq_revision_1_layout_enables_queue() {
    for r in 1..=2 {
        let mut d = blk();
        rev(&mut d, r);
        ok(&mut d, CCW_CMD_SET_VQ, &vq_info(0x10000, 0, 128, 0x11000, 0x12000));
        let q = d.queue(0).unwrap();
        assert_eq!(
            (q.ready(), q.size(), q.addresses()),
            (true, 128, (0x10000, 0x11000, 0x12000))
        );
    }
}

#[test]
fn set_vq_bad_index_size_or_alignment_is_rejected() {
    let mut d = blk();
    rev(&mut d, 1);
    assert!(rejected(
        &mut d,
        CCW_CMD_SET_VQ,
        &vq_info(0x10000, 1, 16, 0x11000, 0x12000)
    ));
    assert!(rejected(
        &mut d,
        CCW_CMD_SET_VQ,
        &vq_info(0x10000, 0, 12, 0x11000, 0x12000)
    ));
    assert!(rejected(
        &mut d,
        CCW_CMD_SET_VQ,
        &vq_info(0x10000, 0, 512, 0x11000, 0x12000)
    ));
    assert!(rejected(
        &mut d,
        CCW_CMD_SET_VQ,
        &vq_info(0x10000, 0, 0, 0x11000, 0x12000)
    ));
    assert!(rejected(
        &mut d,
        CCW_CMD_SET_VQ,
        &vq_info(0x10008, 0, 16, 0x11000, 0x12000)
    ));
    assert!(rejected(
        &mut d,
        CCW_CMD_SET_VQ,
        &vq_info(0x10000, 0, 16, 0x11001, 0x12000)
    ));
    assert!(rejected(
        &mut d,
        CCW_CMD_SET_VQ,
        &vq_info(0x10000, 0, 16, 0x11000, 0x12002)
    ));
    assert!(rejected(
        &mut d,
        CCW_CMD_SET_VQ,
        &vq_info(u64::MAX - 15, 0, 16, 0x11000, 0x12000)
    ));
    assert!(!d.queue(0).unwrap().ready());
}

#[test]
fn set_vq_revision_1_with_legacy_length_is_rejected() {
    let mut d = blk();
    rev(&mut d, 1);
    assert!(rejected(&mut d, CCW_CMD_SET_VQ, &vq_legacy(0x10000, 4096, 0, 256)));
}

#[test]
fn set_vq_desc_zero_disables_queue() {
    let mut d = blk();
    ready_blk(&mut d, 1);
    ok(&mut d, CCW_CMD_SET_VQ, &[0; 32]);
    assert!(!d.queue(0).unwrap().ready());
}

#[test]
fn set_vq_legacy_layout_needs_align_4096_and_device_size() {
    let mut d = blk();
    rev(&mut d, 0);
    assert!(rejected(&mut d, CCW_CMD_SET_VQ, &vq_legacy(0x10000, 2048, 0, 256)));
    assert!(rejected(&mut d, CCW_CMD_SET_VQ, &vq_legacy(0x10000, 4096, 0, 128)));
    assert!(rejected(&mut d, CCW_CMD_SET_VQ, &vq_legacy(0x10800, 4096, 0, 256)));
    assert!(rejected(&mut d, CCW_CMD_SET_VQ, &vq_legacy(0x10000, 4096, 1, 256)));
    assert!(rejected(&mut d, CCW_CMD_SET_VQ, &[0; 8]));
    ok(&mut d, CCW_CMD_SET_VQ, &vq_legacy(0x10000, 4096, 0, 256));
    let q = d.queue(0).unwrap();
    assert_eq!(
        (q.size(), q.endian(), q.addresses()),
        (256, Endian::Big, (0x10000, 0x11000, 0x12000))
    );
    ok(&mut d, CCW_CMD_SET_VQ, &vq_legacy(0, 0, 0, 0));
    assert!(!d.queue(0).unwrap().ready());
}

#[test]
fn read_vq_conf_returns_max_size_per_revision() {
    for r in 0..=2 {
        let mut d = blk();
        rev(&mut d, r);
        assert_eq!(ok(&mut d, CCW_CMD_READ_VQ_CONF, &[0, 0, 0, 0]).area, vec![0, 0, 1, 0]);
        assert!(rejected(&mut d, CCW_CMD_READ_VQ_CONF, &[0, 1, 0, 0]));
        // The index does not fit: the device cannot know the queue.
        assert!(rejected(&mut d, CCW_CMD_READ_VQ_CONF, &[0]));
        // The index fits, the answer does not: the count cuts it (the
        // channel judges the length).
        let io = ok(&mut d, CCW_CMD_READ_VQ_CONF, &[0, 0]);
        assert_eq!((io.residual(), io.area), (0, vec![0, 0]));
    }
}

#[test]
fn buffer_peek_reads_at_offset_from_position_without_moving() {
    let mut io = BufferTransfer::new(&[1, 2, 3, 4, 5]);
    let mut b = [0u8; 2];
    assert!(io.peek(3, &mut b));
    assert_eq!((b, io.pos), ([4, 5], 0));
    assert!(!io.peek(4, &mut b), "beyond the count");
    assert!(!io.peek(usize::MAX, &mut b), "offset overflow");
    let mut first = [0u8; 2];
    io.read(&mut first);
    assert!(io.peek(0, &mut b));
    assert_eq!(b, [3, 4]);
}

// ---- indicators ---------------------------------------------------------------

#[test]
fn set_ind_accepts_once_and_zero_clears() {
    for r in 0..=2 {
        let mut d = blk();
        rev(&mut d, r);
        ok(&mut d, CCW_CMD_SET_IND, &0x8000u64.to_be_bytes());
        assert!(rejected(&mut d, CCW_CMD_SET_IND, &0x9000u64.to_be_bytes()));
        assert_eq!(d.indicators().classic, Some(0x8000));
        ok(&mut d, CCW_CMD_SET_IND, &[0; 8]);
        assert_eq!(d.indicators().classic, None);
    }
}

#[test]
fn set_ind_misaligned_or_short_is_rejected() {
    let mut d = blk();
    rev(&mut d, 1);
    assert!(rejected(&mut d, CCW_CMD_SET_IND, &0x8004u64.to_be_bytes()));
    assert!(rejected(&mut d, CCW_CMD_SET_IND, &[0; 4]));
}

#[test]
fn set_ind_with_more_than_64_queues_is_rejected() {
    let mut d = VirtioCcwDevice::new(Box::new(Fake(vec![8; 65])));
    rev(&mut d, 1);
    assert!(rejected(&mut d, CCW_CMD_SET_IND, &0x8000u64.to_be_bytes()));
    let mut d = VirtioCcwDevice::new(Box::new(Fake(vec![8; 64])));
    rev(&mut d, 1);
    ok(&mut d, CCW_CMD_SET_IND, &0x8000u64.to_be_bytes());
}

#[test]
fn set_ind_after_set_ind_adapter_is_rejected() {
    let mut d = blk();
    rev(&mut d, 1);
    ok(&mut d, CCW_CMD_SET_IND_ADAPTER, &thinint(0x8000, 0x8100, 0, 3));
    assert!(rejected(&mut d, CCW_CMD_SET_IND, &0x9000u64.to_be_bytes()));
}

#[test]
fn set_conf_ind_accepts_once() {
    for r in 0..=2 {
        let mut d = blk();
        rev(&mut d, r);
        ok(&mut d, CCW_CMD_SET_CONF_IND, &0x8008u64.to_be_bytes());
        assert!(rejected(&mut d, CCW_CMD_SET_CONF_IND, &0x9008u64.to_be_bytes()));
        assert_eq!(d.indicators().config, Some(0x8008));
    }
}

#[test]
fn set_ind_adapter_sets_two_stage_indicators() {
    for r in 1..=2 {
        let mut d = blk();
        rev(&mut d, r);
        ok(&mut d, CCW_CMD_SET_IND_ADAPTER, &thinint(0x8000, 0x8100, 5, 3));
        let want = AdapterIndicators {
            summary: 0x8000,
            indicator: 0x8100,
            bit: 5,
            isc: 3,
        };
        assert_eq!(d.indicators().adapter, Some(want));
        assert!(rejected(
            &mut d,
            CCW_CMD_SET_IND_ADAPTER,
            &thinint(0x9000, 0x9100, 0, 3)
        ));
        ok(&mut d, CCW_CMD_SET_IND_ADAPTER, &thinint(0, 0, 0, 0));
        assert_eq!(d.indicators().adapter, None);
    }
}

#[test]
fn set_ind_adapter_rejects_bad_isc_overflow_classic_and_revision_0() {
    let mut d = blk();
    rev(&mut d, 1);
    assert!(rejected(
        &mut d,
        CCW_CMD_SET_IND_ADAPTER,
        &thinint(0x8000, 0x8100, 0, 8)
    ));
    assert!(rejected(
        &mut d,
        CCW_CMD_SET_IND_ADAPTER,
        &thinint(0x8000, 0x8100, u64::MAX, 3)
    ));
    assert!(rejected(
        &mut d,
        CCW_CMD_SET_IND_ADAPTER,
        &thinint(0x8000, u64::MAX, 64, 3)
    ));
    assert!(rejected(&mut d, CCW_CMD_SET_IND_ADAPTER, &[0; 24]));
    ok(&mut d, CCW_CMD_SET_IND, &0x9000u64.to_be_bytes());
    assert!(rejected(
        &mut d,
        CCW_CMD_SET_IND_ADAPTER,
        &thinint(0x8000, 0x8100, 0, 3)
    ));
    let mut d = blk();
    rev(&mut d, 0);
    assert!(rejected(
        &mut d,
        CCW_CMD_SET_IND_ADAPTER,
        &thinint(0x8000, 0x8100, 0, 3)
    ));
}

#[test]
fn set_ind_adapter_with_sli_and_long_count_reads_25_bytes() {
    let mut d = blk();
    rev(&mut d, 1);
    let mut data = thinint(0x8000, 0x8100, 0, 3).to_vec();
    data.extend_from_slice(&[0xff; 7]);
    let mut io = BufferTransfer::new(&data);
    let r = d.execute_command(&ccw(CCW_CMD_SET_IND_ADAPTER, 32, true), &mut io);
    assert_eq!(r, DeviceResult::OK);
    assert_eq!(io.residual(), 7);
}

// ---- notifications ------------------------------------------------------------

#[test]
fn notify_unknown_or_disabled_queue_returns_einval() {
    let m = VecMemory::new(0x40000);
    let mut d = blk();
    rev(&mut d, 1);
    assert_eq!(d.notify(&m, 1, 0), Some(-22));
    assert_eq!(d.notify(&m, u64::MAX, 0), Some(-22));
    assert_eq!(d.notify(&m, 0, 0), Some(-22));
}

#[test]
fn notify_before_driver_ok_does_not_process() {
    let m = VecMemory::new(0x40000);
    let mut d = blk();
    ready_blk(&mut d, 1);
    offer_read(&m, 0, Endian::Little);
    assert_eq!(d.notify(&m, 0, 0), Some(0));
    assert_eq!(m.fetch(0x21000, 1).unwrap(), vec![0xee]);
}

#[test]
fn notify_completes_request_and_sets_classic_indicator() {
    let m = VecMemory::new(0x40000);
    let mut d = blk();
    let rec = attach(&mut d);
    ready_blk(&mut d, 1);
    ok(&mut d, CCW_CMD_SET_IND, &0x8000u64.to_be_bytes());
    driver_ok(&mut d);
    offer_read(&m, 0, Endian::Little);
    assert_eq!(d.notify(&m, 0, 7), Some(0));
    assert_eq!(m.fetch(0x21000, 1).unwrap(), vec![VIRTIO_BLK_S_OK]);
    assert_eq!(m.fetch(0x12002, 2).unwrap(), vec![1, 0]);
    assert_eq!(m.fetch(0x8000, 8).unwrap(), vec![0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(rec.unsolicited.lock().as_slice(), &[0]);
}

#[test]
fn notify_with_no_interrupt_flag_sets_no_indicator() {
    let m = VecMemory::new(0x40000);
    let mut d = blk();
    let rec = attach(&mut d);
    ready_blk(&mut d, 1);
    ok(&mut d, CCW_CMD_SET_IND, &0x8000u64.to_be_bytes());
    driver_ok(&mut d);
    offer_read(&m, 0, Endian::Little);
    m.store(0x11000, &VIRTQ_AVAIL_F_NO_INTERRUPT.to_le_bytes()).unwrap();
    d.notify(&m, 0, 0);
    assert_eq!(m.fetch(0x12002, 2).unwrap(), vec![1, 0]);
    assert_eq!(m.fetch(0x8000, 8).unwrap(), vec![0; 8]);
    assert!(rec.unsolicited.lock().is_empty());
}

#[test]
fn notify_sets_adapter_indicators_and_interrupts_only_on_summary_0_to_1() {
    let m = VecMemory::new(0x40000);
    let mut d = blk();
    let rec = attach(&mut d);
    ready_blk(&mut d, 2);
    ok(&mut d, CCW_CMD_SET_IND_ADAPTER, &thinint(0x8000, 0x8100, 9, 3));
    driver_ok(&mut d);
    offer_read(&m, 0, Endian::Little);
    d.notify(&m, 0, 0);
    // Bit 9 = byte 1, mask 0x80 >> 1.
    assert_eq!(m.fetch(0x8100, 2).unwrap(), vec![0, 0x40]);
    assert_eq!(m.fetch(0x8000, 1).unwrap(), vec![1]);
    assert_eq!(rec.adapter.lock().as_slice(), &[3]);
    offer_read(&m, 1, Endian::Little);
    d.notify(&m, 0, 0);
    assert_eq!(rec.adapter.lock().len(), 1);
    assert!(rec.unsolicited.lock().is_empty());
}

#[test]
fn notify_with_unmapped_indicators_sets_needs_reset_and_config_indication() {
    let m = VecMemory::new(0x40000);
    let mut d = blk();
    let rec = attach(&mut d);
    ready_blk(&mut d, 1);
    ok(&mut d, CCW_CMD_SET_IND, &0x100_0000u64.to_be_bytes());
    ok(&mut d, CCW_CMD_SET_CONF_IND, &0x8008u64.to_be_bytes());
    driver_ok(&mut d);
    offer_read(&m, 0, Endian::Little);
    d.notify(&m, 0, 0);
    assert_ne!(d.status() & STATUS_DEVICE_NEEDS_RESET, 0);
    assert_eq!(m.fetch(0x8008, 8).unwrap(), vec![0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(rec.unsolicited.lock().as_slice(), &[0]);
}

#[test]
fn notify_with_unmapped_adapter_summary_sets_needs_reset() {
    let m = VecMemory::new(0x40000);
    let mut d = blk();
    let rec = attach(&mut d);
    ready_blk(&mut d, 1);
    ok(&mut d, CCW_CMD_SET_IND_ADAPTER, &thinint(0x100_0000, 0x8100, 0, 3));
    driver_ok(&mut d);
    offer_read(&m, 0, Endian::Little);
    d.notify(&m, 0, 0);
    assert_ne!(d.status() & STATUS_DEVICE_NEEDS_RESET, 0);
    assert!(rec.adapter.lock().is_empty());
}

#[test]
fn notify_looping_chain_sets_needs_reset_and_writes_nothing() {
    let m = VecMemory::new(0x40000);
    let mut d = blk();
    attach(&mut d);
    ready_blk(&mut d, 1);
    ok(&mut d, CCW_CMD_SET_CONF_IND, &0x8008u64.to_be_bytes());
    driver_ok(&mut d);
    offer_read(&m, 0, Endian::Little);
    // Descriptor 2 points back to 0.
    m.store(
        0x10000 + 32 + 12,
        &(VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT).to_le_bytes(),
    )
    .unwrap();
    d.notify(&m, 0, 0);
    assert_ne!(d.status() & STATUS_DEVICE_NEEDS_RESET, 0);
    assert_eq!(m.fetch(0x21000, 1).unwrap(), vec![0xee]);
    assert_eq!(m.fetch(0x12002, 2).unwrap(), vec![0, 0]);
    assert_eq!(m.fetch(0x8008, 8).unwrap(), vec![0, 0, 0, 0, 0, 0, 0, 1]);
    // A broken device ignores further notifications.
    assert_eq!(d.notify(&m, 0, 0), Some(0));
    assert_eq!(m.fetch(0x12002, 2).unwrap(), vec![0, 0]);
}

#[test]
fn notify_ring_beyond_storage_sets_needs_reset() {
    let m = VecMemory::new(0x11800);
    let mut d = blk();
    ready_blk(&mut d, 1);
    driver_ok(&mut d);
    assert_eq!(d.notify(&m, 0, 0), Some(0));
    assert_ne!(d.status() & STATUS_DEVICE_NEEDS_RESET, 0);
}

#[test]
fn needs_reset_survives_status_writes_until_reset() {
    let m = VecMemory::new(0x11800);
    let mut d = blk();
    ready_blk(&mut d, 2);
    driver_ok(&mut d);
    d.notify(&m, 0, 0);
    let s = ok(&mut d, CCW_CMD_READ_STATUS, &[0]).area[0];
    assert_ne!(s & STATUS_DEVICE_NEEDS_RESET, 0);
    ok(&mut d, CCW_CMD_VDEV_RESET, &[]);
    assert_eq!(d.status(), 0);
}

#[test]
fn legacy_revision_0_request_uses_big_endian_rings() {
    let m = VecMemory::new(0x40000);
    let mut d = blk();
    attach(&mut d);
    rev(&mut d, 0);
    status(&mut d, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    ok(&mut d, CCW_CMD_WRITE_FEAT, &feat(0, 0));
    ok(&mut d, CCW_CMD_SET_VQ, &vq_legacy(0x10000, 4096, 0, 256));
    ok(&mut d, CCW_CMD_SET_IND, &0x8000u64.to_be_bytes());
    status(&mut d, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK);
    // Legacy ring at 0x10000 with 256 entries: avail at 0x11000, used at 0x12000,
    // which offer_read's addresses match.
    offer_read(&m, 0, Endian::Big);
    d.notify(&m, 0, 0);
    assert_eq!(m.fetch(0x21000, 1).unwrap(), vec![VIRTIO_BLK_S_OK]);
    assert_eq!(m.fetch(0x12002, 10).unwrap(), vec![0, 1, 0, 0, 0, 0, 0, 0, 2, 1]);
}

#[test]
fn config_change_signal_sets_bit_and_interrupts() {
    let m = VecMemory::new(0x10000);
    let mut d = blk();
    let rec = attach(&mut d);
    rev(&mut d, 1);
    ok(&mut d, CCW_CMD_SET_CONF_IND, &0x8008u64.to_be_bytes());
    d.signal_config(&m);
    assert_eq!(m.fetch(0x8008, 8).unwrap(), vec![0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(rec.unsolicited.lock().len(), 1);
    let _ = m.read(0, &mut [0u8; 1], AccessKey::ZERO);
}

#[test]
fn vdev_reset_at_revision_0_keeps_revision_0() {
    let mut d = blk();
    rev(&mut d, 0);
    ok(&mut d, CCW_CMD_SET_VQ, &vq_legacy(0x10000, 4096, 0, 256));
    ok(&mut d, CCW_CMD_SET_IND, &0x8000u64.to_be_bytes());
    status(&mut d, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK);
    ok(&mut d, CCW_CMD_VDEV_RESET, &[]);
    assert_eq!((d.status(), d.revision()), (0, Some(0)));
    assert_eq!(d.indicators(), Indicators::default());
    assert!(!d.queue(0).unwrap().ready());
}

#[test]
fn poll_delivers_console_input_and_sets_indicator() {
    let m = VecMemory::new(0x40000);
    let input = crate::ConsoleInput::default();
    let mut d = VirtioCcwDevice::new(Box::new(crate::Console::new(Box::new(std::io::sink()), input.clone())));
    let rec = attach(&mut d);
    rev(&mut d, 1);
    ok(&mut d, CCW_CMD_WRITE_FEAT, &feat(1, 1));
    status(&mut d, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
    ok(&mut d, CCW_CMD_SET_VQ, &vq_info(0x10000, 0, 8, 0x11000, 0x12000));
    ok(&mut d, CCW_CMD_SET_VQ, &vq_info(0x14000, 1, 8, 0x15000, 0x16000));
    ok(&mut d, CCW_CMD_SET_IND, &0x8000u64.to_be_bytes());
    driver_ok(&mut d);
    // One 16-byte receive buffer on receiveq0.
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&0x20000u64.to_le_bytes());
    raw[8..12].copy_from_slice(&16u32.to_le_bytes());
    raw[12..14].copy_from_slice(&VIRTQ_DESC_F_WRITE.to_le_bytes());
    m.store(0x10000, &raw).unwrap();
    m.store(0x11002, &1u16.to_le_bytes()).unwrap();
    d.poll(&m);
    assert!(rec.unsolicited.lock().is_empty());
    input.push(b"ls -l\n");
    d.poll(&m);
    assert_eq!(m.fetch(0x20000, 6).unwrap(), b"ls -l\n".to_vec());
    assert_eq!(m.fetch(0x12008, 4).unwrap(), vec![6, 0, 0, 0]);
    assert_eq!(m.fetch(0x8000, 8).unwrap(), vec![0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(rec.unsolicited.lock().as_slice(), &[0]);
}

#[test]
fn needs_reset_in_adapter_mode_uses_config_indicator_and_io_interruption() {
    let m = VecMemory::new(0x11800);
    let mut d = blk();
    let rec = attach(&mut d);
    ready_blk(&mut d, 2);
    ok(&mut d, CCW_CMD_SET_IND_ADAPTER, &thinint(0x8000, 0x8100, 0, 3));
    ok(&mut d, CCW_CMD_SET_CONF_IND, &0x8008u64.to_be_bytes());
    driver_ok(&mut d);
    // The rings lie beyond storage: the device breaks.
    d.notify(&m, 0, 0);
    assert_ne!(d.status() & STATUS_DEVICE_NEEDS_RESET, 0);
    assert_eq!(m.fetch(0x8008, 8).unwrap(), vec![0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(rec.unsolicited.lock().as_slice(), &[0]);
    assert!(rec.adapter.lock().is_empty());
}

#[test]
fn notify_completes_every_pending_request_with_one_interruption() {
    let m = VecMemory::new(0x40000);
    let mut d = blk();
    let rec = attach(&mut d);
    ready_blk(&mut d, 1);
    ok(&mut d, CCW_CMD_SET_IND, &0x8000u64.to_be_bytes());
    driver_ok(&mut d);
    offer_read(&m, 0, Endian::Little);
    // The same chain offered again in slot 1 (avail idx 2).
    offer_read(&m, 1, Endian::Little);
    d.notify(&m, 0, 0);
    assert_eq!(m.fetch(0x12002, 2).unwrap(), vec![2, 0]);
    assert_eq!(m.fetch(0x12004, 16).unwrap(), [[0, 0, 0, 0, 1, 2, 0, 0]; 2].concat());
    assert_eq!(rec.unsolicited.lock().len(), 1);
}
