//! The virtio proxy control unit: CU type 0x3832, model = virtio device id,
//! on a virtual channel path of type 0x32 (virtio 1.x §4.3 "Virtio Over
//! Channel I/O"). It answers the basic commands every control unit answers
//! (NOP, BASIC SENSE, SENSE ID) and the virtio-ccw commands, keeps the
//! transport revision, device status, negotiated features, queues and
//! indicators, and turns DIAG 0x500 notifications into queue processing and
//! host → guest indications.
//!
//! Decisions (see the crate README):
//! - Every command transfers exactly its payload size; the channel reports
//!   incorrect length when the CCW count differs and SLI is off (PoO
//!   chapter 15), instead of QEMU's program check.
//! - A payload the count does not fully provide (the data is not there) is a
//!   command reject: unit check alone (no channel end or device end), sense
//!   byte 0 = command reject, as QEMU's virtio-ccw presents it.
//! - SENSE ID offers the 256-byte block of a device without CIWs; the
//!   channel moves `min(count, 256)` bytes and judges the length.
//! - READ_STATUS needs revision 2 and SET_IND_ADAPTER revision 1, as the
//!   virtio spec says (QEMU gates neither).
//! - Revision 0 (legacy) is supported: big-endian rings in one contiguous
//!   area aligned to 4096, big-endian configuration space.
//! - Classic and configuration indications end with an unsolicited
//!   interruption carrying no device status (status pending with alert
//!   status only), which is what the Linux driver recognises as a host
//!   notification; a status such as attention would be an error there.

use zcss_ccw::memory::{AccessError, AccessKey, GuestMemory};
use zcss_ccw::{Ccw, CcwDevice, DataStream, DeviceResult, DeviceStatus, Sense};
use zcss_css::{ChannelPaths, Device, DeviceInfo, DeviceState, DeviceStateError, NotifyResult, SubchannelHandle};

use crate::commands::*;
use crate::device::{
    queue_bit, VirtioDevice, STATUS_DEVICE_NEEDS_RESET, STATUS_DRIVER_OK, STATUS_FEATURES_OK, VIRTIO_F_VERSION_1,
};
use crate::queue::{Endian, QueueState, SplitQueue, LEGACY_ALIGN};
use crate::transfer::{StreamTransfer, Transfer};

/// EINVAL, returned (negated) by a notification the device cannot take.
pub const EINVAL: i64 = 22;

/// How the proxy ends a rejected command: unit check alone with sense byte 0
/// = command reject (see `VirtioCcwDevice::reject`).
pub const COMMAND_REJECT: DeviceResult = DeviceResult {
    status: DeviceStatus::from_bits(0x02),
    sense: Some(Sense::byte0(Sense::COMMAND_REJECT)),
};

/// Two-stage (adapter) indicators set by SET_IND_ADAPTER.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct AdapterIndicators {
    /// Address of the summary indicator byte.
    pub summary: u64,
    /// Address of the device indicator bits.
    pub indicator: u64,
    /// Bit number of queue 0 within the device indicators.
    pub bit: u64,
    /// Interruption subclass of the adapter interruption.
    pub isc: u8,
}

/// The host → guest indicators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Indicators {
    /// Classic queue indicators (SET_IND).
    pub classic: Option<u64>,
    /// Configuration-change indicator (SET_CONF_IND).
    pub config: Option<u64>,
    /// Adapter indicators (SET_IND_ADAPTER).
    pub adapter: Option<AdapterIndicators>,
}

/// Kind name of a virtio-ccw device's state in a snapshot.
pub const STATE_KIND: &str = "virtio-ccw";
/// Version of that state.
pub const STATE_VERSION: u32 = 1;

/// The transport state of a [`VirtioCcwDevice`] in a snapshot (the
/// repository's `docs/snapshot.md` describes each field).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VirtioCcwState {
    /// The virtio device id of the back-end (checked on restore).
    pub device_type: u8,
    /// The negotiated revision (`None`: not yet negotiated).
    pub revision: Option<u8>,
    /// The device status byte.
    pub status: u8,
    /// The features the driver wrote.
    pub driver_features: u64,
    /// Every queue.
    pub queues: Vec<QueueState>,
    /// The indicators.
    pub indicators: Indicators,
    /// Sense data kept for BASIC SENSE (its valid bytes).
    #[serde(with = "zcss_css::snapshot::hex_opt")]
    pub sense: Option<Vec<u8>>,
    /// The back-end's own state ([`VirtioDevice::save_state`]).
    pub backend: serde_json::Value,
}

/// The virtio-ccw proxy control unit around a virtio back-end.
pub struct VirtioCcwDevice {
    dev: Box<dyn VirtioDevice>,
    max_revision: u8,
    legacy: bool,
    revision: Option<u8>,
    status: u8,
    driver_features: u64,
    queues: Vec<SplitQueue>,
    ind: Indicators,
    sense: Option<Sense>,
    handle: Option<SubchannelHandle>,
    config_buf: Vec<u8>,
}

impl std::fmt::Debug for VirtioCcwDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtioCcwDevice")
            .field("device_type", &self.dev.device_type())
            .field("revision", &self.revision)
            .field("status", &self.status)
            .field("indicators", &self.ind)
            .finish_non_exhaustive()
    }
}

impl VirtioCcwDevice {
    /// A transitional proxy (revisions 0 to 2) for `dev`. A device that does
    /// not offer VERSION_1 is legacy-only (revision 0).
    #[must_use]
    pub fn new(dev: Box<dyn VirtioDevice>) -> Self {
        let queues = dev.queue_max_sizes().iter().map(|&m| SplitQueue::new(m)).collect();
        let modern = dev.features() & VIRTIO_F_VERSION_1 != 0;
        let config_buf = vec![0; dev.config_len()];
        Self {
            dev,
            max_revision: if modern { MAX_REVISION } else { 0 },
            legacy: true,
            revision: None,
            status: 0,
            driver_features: 0,
            queues,
            ind: Indicators::default(),
            sense: None,
            handle: None,
            config_buf,
        }
    }

    /// A modern-only device: no revision 0, every command before
    /// SET_VIRTIO_REV is rejected.
    #[must_use]
    pub fn modern_only(mut self) -> Self {
        self.legacy = false;
        self
    }

    /// Caps the revision the device accepts.
    #[must_use]
    pub fn with_max_revision(mut self, rev: u8) -> Self {
        self.max_revision = self.max_revision.min(rev);
        self
    }

    /// The negotiated revision, if any.
    #[must_use]
    pub const fn revision(&self) -> Option<u8> {
        self.revision
    }

    /// The virtio device status byte.
    #[must_use]
    pub const fn status(&self) -> u8 {
        self.status
    }

    /// The features the driver wrote.
    #[must_use]
    pub const fn driver_features(&self) -> u64 {
        self.driver_features
    }

    /// The indicators.
    #[must_use]
    pub const fn indicators(&self) -> Indicators {
        self.ind
    }

    /// The guest storage the device may store into now, as the guest gave
    /// it (virtio 1.x §2.7 "Split Virtqueues", §4.3.2.6 "Setting Up
    /// Indicators"): the buffer of every device-writable descriptor in the
    /// descriptor table of every ready queue, as the table reads in `mem`
    /// now, each ready queue's used ring, and the indicators (classic,
    /// configuration change, and the adapter summary byte and indicator
    /// bits). A fuzzer's oracle: whatever else the device stores into is a
    /// bug. Allocates; not for the data path.
    #[must_use]
    pub fn writable_areas(&self, mem: &dyn GuestMemory) -> Vec<std::ops::Range<u64>> {
        let mut out = Vec::new();
        for q in self.queues.iter().filter(|q| q.ready()) {
            let (desc, _, used) = q.addresses();
            let s = u64::from(q.size());
            out.push(used..used.saturating_add(4 + 8 * s));
            let e = q.endian();
            for k in 0..s {
                let mut raw = [0u8; 16];
                if mem
                    .read(desc.saturating_add(16 * k), &mut raw, AccessKey::ZERO)
                    .is_err()
                {
                    continue;
                }
                let addr = e.u64([raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]]);
                let len = e.u32([raw[8], raw[9], raw[10], raw[11]]);
                if e.u16([raw[12], raw[13]]) & crate::queue::VIRTQ_DESC_F_WRITE != 0 {
                    out.push(addr..addr.saturating_add(u64::from(len)));
                }
            }
        }
        if let Some(a) = self.ind.classic {
            out.push(a..a.saturating_add(8));
        }
        if let Some(a) = self.ind.config {
            out.push(a..a.saturating_add(8));
        }
        if let Some(a) = self.ind.adapter {
            out.push(a.summary..a.summary.saturating_add(1));
            let last = a.bit.saturating_add(64) / 8 + 1;
            out.push(a.indicator..a.indicator.saturating_add(last));
        }
        out
    }

    /// Queue `i`.
    #[must_use]
    pub fn queue(&self, i: usize) -> Option<&SplitQueue> {
        self.queues.get(i)
    }

    /// The back-end.
    #[must_use]
    pub fn device(&self) -> &dyn VirtioDevice {
        self.dev.as_ref()
    }

    /// The back-end as its concrete type (a [`crate::Block`] to look at its
    /// image), if it is a `T`.
    #[must_use]
    pub fn device_as<T: VirtioDevice>(&self) -> Option<&T> {
        let d: &dyn std::any::Any = self.dev.as_ref();
        d.downcast_ref()
    }

    /// The back-end as its concrete type, mutably.
    pub fn device_as_mut<T: VirtioDevice>(&mut self) -> Option<&mut T> {
        let d: &mut dyn std::any::Any = self.dev.as_mut();
        d.downcast_mut()
    }

    /// The pending sense data (after a command reject).
    #[must_use]
    pub const fn pending_sense(&self) -> Option<Sense> {
        self.sense
    }

    /// Sets the subchannel handle (normally done by the css through
    /// [`Device::attached`]).
    pub fn set_handle(&mut self, handle: SubchannelHandle) {
        self.handle = Some(handle);
    }

    fn endian(&self) -> Endian {
        if self.revision.unwrap_or(0) >= 1 {
            Endian::Little
        } else {
            Endian::Big
        }
    }

    fn offered_features(&self) -> u64 {
        let f = self.dev.features();
        if self.revision.unwrap_or(0) == 0 {
            f & 0xffff_ffff
        } else {
            f
        }
    }

    /// Command reject: unit check alone (no channel end or device end), sense
    /// byte 0 = command reject, kept for BASIC SENSE or stored as concurrent
    /// sense. The device refuses the command when it is presented (PoO
    /// chapter 15, "Unit Check"; "Command Reject" in the sense-byte
    /// description of chapter 17), which is also what QEMU's virtio-ccw
    /// presents. The channel ends the chain and judges no length without
    /// channel end.
    fn reject(&mut self, cmd: u8) -> DeviceResult {
        tracing::debug!(
            sid = %self.sid_name(),
            cmd = format_args!("{cmd:#04x}"),
            revision = ?self.revision,
            status = format_args!("{:#04x}", self.status),
            "virtio-ccw command reject"
        );
        let s = Sense::byte0(Sense::COMMAND_REJECT);
        self.sense = Some(s);
        COMMAND_REJECT
    }

    /// The SENSE ID data (PoO chapter 17, "Sense ID"): byte 0 = 0xff, CU
    /// type 0x3832, CU model = virtio device id, device type and model 0,
    /// then zeros up to [`SENSE_ID_LEN`] bytes: no CIWs. The whole block is
    /// offered to the channel, which moves `min(count, 256)` bytes and
    /// judges the length (SLI).
    fn sense_id_data(&self) -> [u8; SENSE_ID_LEN] {
        let mut b = [0u8; SENSE_ID_LEN];
        let [t0, t1] = VIRTIO_CCW_CU_TYPE.to_be_bytes();
        b[..4].copy_from_slice(&[0xff, t0, t1, self.dev.device_type()]);
        b
    }

    /// Virtio reset (VDEV_RESET, status 0): status, features, queues, the
    /// back-end and the indicators; the revision is kept.
    fn reset_virtio(&mut self) {
        self.status = 0;
        self.driver_features = 0;
        for q in &mut self.queues {
            q.reset();
        }
        self.ind = Indicators::default();
        self.dev.reset();
    }

    /// Executes one command with its data path. This is the whole command
    /// logic; [`CcwDevice::execute`] wraps the channel's data stream.
    pub fn execute_command(&mut self, ccw: &Ccw, io: &mut dyn Transfer) -> DeviceResult {
        let cmd = ccw.cmd;
        if cmd != CCW_CMD_BASIC_SENSE {
            self.sense = None;
        }
        match cmd {
            CCW_CMD_NOOP => return DeviceResult::OK,
            CCW_CMD_BASIC_SENSE => {
                let s = self.sense.take().map_or([0; SENSE_LEN], |s| s.bytes);
                io.write(&s);
                return DeviceResult::OK;
            }
            CCW_CMD_SENSE_ID => {
                io.write(&self.sense_id_data());
                return DeviceResult::OK;
            }
            _ => {}
        }
        if !is_virtio_command(cmd) {
            return self.reject(cmd);
        }
        if cmd == CCW_CMD_SET_VIRTIO_REV {
            return self.set_virtio_rev(io);
        }
        if self.revision.is_none() {
            if !self.legacy {
                return self.reject(cmd);
            }
            self.revision = Some(0);
        }
        let ok = match cmd {
            CCW_CMD_VDEV_RESET => {
                self.reset_virtio();
                true
            }
            CCW_CMD_READ_FEAT => self.read_feat(io),
            CCW_CMD_WRITE_FEAT => self.write_feat(io),
            CCW_CMD_READ_CONF => self.read_conf(ccw, io),
            CCW_CMD_WRITE_CONF => self.write_conf(ccw, io),
            CCW_CMD_WRITE_STATUS => self.write_status(io),
            CCW_CMD_READ_STATUS => {
                if self.revision < Some(2) {
                    false
                } else {
                    io.write(&[self.status]);
                    true
                }
            }
            CCW_CMD_SET_VQ => self.set_vq(io),
            CCW_CMD_READ_VQ_CONF => self.read_vq_conf(io),
            CCW_CMD_SET_IND => self.set_ind(io),
            CCW_CMD_SET_CONF_IND => self.set_conf_ind(io),
            CCW_CMD_SET_IND_ADAPTER => self.set_ind_adapter(io),
            _ => false,
        };
        if ok || io.failed() {
            // After a channel check the channel reports it; the device status
            // is immaterial.
            DeviceResult::OK
        } else {
            self.reject(cmd)
        }
    }

    /// Reads exactly `buf.len()` bytes; false when the count or a check cut
    /// the payload short (the data is not there).
    fn fetch(io: &mut dyn Transfer, buf: &mut [u8]) -> bool {
        io.read(buf) == buf.len() && !io.failed()
    }

    /// The subchannel, for events (`-` before the device is attached).
    fn sid_name(&self) -> String {
        self.handle
            .as_ref()
            .map_or_else(|| "-".to_owned(), |h| h.sid().to_string())
    }

    fn set_virtio_rev(&mut self, io: &mut dyn Transfer) -> DeviceResult {
        let cmd = CCW_CMD_SET_VIRTIO_REV;
        let mut b = [0u8; REV_INFO_LEN];
        if !Self::fetch(io, &mut b) {
            return if io.failed() {
                DeviceResult::OK
            } else {
                self.reject(cmd)
            };
        }
        let rev = be16(&b, 0);
        let len = be16(&b, 2);
        // Revisions 0..=2 carry no data: length must be 0.
        let acceptable =
            self.revision.is_none() && rev <= u16::from(self.max_revision) && (rev != 0 || self.legacy) && len == 0;
        if !acceptable {
            return self.reject(cmd);
        }
        self.revision = u8::try_from(rev).ok();
        DeviceResult::OK
    }

    fn read_feat(&mut self, io: &mut dyn Transfer) -> bool {
        // The index is byte 4 of the area this command stores into.
        let mut index = [0u8; 1];
        if !io.peek(FEAT_LEN - 1, &mut index) {
            return false;
        }
        let index = index[0];
        let f = self.offered_features();
        let page = match index {
            0 => f & 0xffff_ffff,
            1 => f >> 32,
            _ => 0,
        };
        let page = u32::try_from(page).unwrap_or(0);
        let mut b = [0u8; FEAT_LEN];
        b[..4].copy_from_slice(&page.to_le_bytes());
        b[4] = index;
        io.write(&b);
        true
    }

    fn write_feat(&mut self, io: &mut dyn Transfer) -> bool {
        let mut b = [0u8; FEAT_LEN];
        if !Self::fetch(io, &mut b) || self.status & STATUS_FEATURES_OK != 0 {
            return false;
        }
        let v = u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        match (b[4], self.revision.unwrap_or(0)) {
            (0, _) => self.driver_features = (self.driver_features & !0xffff_ffff) | v,
            (1, r) if r >= 1 => self.driver_features = (self.driver_features & 0xffff_ffff) | (v << 32),
            // Pages the device does not have: only "no features" is acceptable.
            _ => return v == 0,
        }
        true
    }

    fn conf_len(&self, ccw: &Ccw) -> usize {
        let len = self.dev.config_len();
        if ccw.flags.cd() {
            len
        } else {
            len.min(usize::from(ccw.count))
        }
    }

    fn read_conf(&mut self, ccw: &Ccw, io: &mut dyn Transfer) -> bool {
        let n = self.conf_len(ccw);
        let e = self.endian();
        self.dev.read_config(0, &mut self.config_buf[..n], e);
        io.write(&self.config_buf[..n]);
        true
    }

    fn write_conf(&mut self, ccw: &Ccw, io: &mut dyn Transfer) -> bool {
        let n = self.conf_len(ccw);
        let mut buf = std::mem::take(&mut self.config_buf);
        let got = io.read(&mut buf[..n]);
        if !io.failed() {
            let e = self.endian();
            self.dev.write_config(0, &buf[..got], e);
        }
        self.config_buf = buf;
        got == n
    }

    fn write_status(&mut self, io: &mut dyn Transfer) -> bool {
        let mut b = [0u8; 1];
        if !Self::fetch(io, &mut b) {
            return false;
        }
        let new = b[0];
        if new == 0 {
            self.reset_virtio();
            return true;
        }
        let old = self.status;
        let rev = self.revision.unwrap_or(0);
        if new & STATUS_FEATURES_OK != 0 && old & STATUS_FEATURES_OK == 0 {
            let offered = self.offered_features();
            let f = self.driver_features;
            if f & !offered != 0 || (rev >= 1 && f & VIRTIO_F_VERSION_1 == 0) {
                return false;
            }
        }
        if new & STATUS_DRIVER_OK != 0 && old & STATUS_DRIVER_OK == 0 {
            if rev >= 1 && new & STATUS_FEATURES_OK == 0 {
                return false;
            }
            let e = self.endian();
            for q in &mut self.queues {
                q.set_endian(e);
            }
            if self.dev.activate(self.driver_features, &self.queues).is_err() {
                self.status = new | (old & STATUS_DEVICE_NEEDS_RESET) | STATUS_DEVICE_NEEDS_RESET;
                return true;
            }
        }
        self.status = new | (old & STATUS_DEVICE_NEEDS_RESET);
        true
    }

    fn set_vq(&mut self, io: &mut dyn Transfer) -> bool {
        let legacy = self.revision == Some(0);
        let mut b = [0u8; VQ_INFO_LEN];
        let len = if legacy { VQ_INFO_LEGACY_LEN } else { VQ_INFO_LEN };
        if !Self::fetch(io, &mut b[..len]) {
            return false;
        }
        let index = usize::from(be16(&b, 12));
        let num = be16(&b, 14);
        let endian = self.endian();
        let Some(q) = self.queues.get_mut(index) else {
            return false;
        };
        if legacy {
            let base = be64(&b, 0);
            let align = be32(&b, 8);
            if base == 0 {
                q.reset();
                return true;
            }
            // Legacy: the device chose the size (READ_VQ_CONF) and the ring
            // is aligned to 4096.
            if u64::from(align) != LEGACY_ALIGN || num != q.max_size() {
                return false;
            }
            q.set_endian(endian);
            q.enable_legacy(num, base).is_ok()
        } else {
            let desc = be64(&b, 0);
            let avail = be64(&b, 16);
            let used = be64(&b, 24);
            if desc == 0 {
                q.reset();
                return true;
            }
            q.set_endian(endian);
            q.enable(num, desc, avail, used).is_ok()
        }
    }

    fn read_vq_conf(&mut self, io: &mut dyn Transfer) -> bool {
        // The queue index is bytes 0-1 of the area this command stores into.
        let mut b = [0u8; VQ_CONFIG_LEN];
        if !io.peek(0, &mut b[..2]) {
            return false;
        }
        let index = be16(&b, 0);
        let Some(q) = self.queues.get(usize::from(index)) else {
            return false;
        };
        b[2..].copy_from_slice(&q.max_size().to_be_bytes());
        io.write(&b);
        true
    }

    fn set_ind(&mut self, io: &mut dyn Transfer) -> bool {
        let mut b = [0u8; 8];
        if !Self::fetch(io, &mut b) {
            return false;
        }
        let addr = be64(&b, 0);
        if addr == 0 {
            self.ind.classic = None;
            return true;
        }
        let ok = self.ind.adapter.is_none()
            && self.ind.classic.is_none()
            && self.queues.len() <= MAX_CLASSIC_QUEUES
            && addr % 8 == 0;
        if ok {
            self.ind.classic = Some(addr);
        }
        ok
    }

    fn set_conf_ind(&mut self, io: &mut dyn Transfer) -> bool {
        let mut b = [0u8; 8];
        if !Self::fetch(io, &mut b) {
            return false;
        }
        let addr = be64(&b, 0);
        if addr == 0 {
            self.ind.config = None;
            return true;
        }
        let ok = self.ind.config.is_none() && addr % 8 == 0;
        if ok {
            self.ind.config = Some(addr);
        }
        ok
    }

    fn set_ind_adapter(&mut self, io: &mut dyn Transfer) -> bool {
        let mut b = [0u8; THININT_LEN];
        if !Self::fetch(io, &mut b) || self.revision < Some(1) {
            return false;
        }
        let a = AdapterIndicators {
            summary: be64(&b, 0),
            indicator: be64(&b, 8),
            bit: be64(&b, 16),
            isc: b[24],
        };
        if a.summary == 0 && a.indicator == 0 {
            self.ind.adapter = None;
            return true;
        }
        let last_bit = a.bit.checked_add(self.queues.len() as u64);
        let fits = last_bit.and_then(|l| a.indicator.checked_add(l / 8)).is_some();
        let ok = self.ind.classic.is_none() && self.ind.adapter.is_none() && a.isc <= 7 && fits;
        if ok {
            self.ind.adapter = Some(a);
        }
        ok
    }

    /// Processes queue `queue` after a driver notification and signals the
    /// guest. Returns the value for GR2: a cookie ≥ 0, or -EINVAL for a queue
    /// that does not exist or is not set up.
    pub fn notify_queue(&mut self, mem: &dyn GuestMemory, queue: u64) -> NotifyResult {
        let Some(index) = usize::try_from(queue)
            .ok()
            .filter(|&i| i < self.queues.len() && self.queues[i].ready())
        else {
            tracing::debug!(
                sid = %self.sid_name(),
                queue = format_args!("{queue:#x}"),
                "virtio-ccw notification refused: no such queue, or not set up (-EINVAL)"
            );
            return -EINVAL;
        };
        if self.status & STATUS_DRIVER_OK == 0 || self.status & STATUS_DEVICE_NEEDS_RESET != 0 {
            // Notifications before DRIVER_OK (or while broken) are ignored.
            tracing::debug!(
                sid = %self.sid_name(),
                queue = format_args!("{queue:#x}"),
                status = format_args!("{:#04x}", self.status),
                "virtio-ccw notification ignored: no DRIVER_OK, or DEVICE_NEEDS_RESET"
            );
            return 0;
        }
        match self.dev.process_queue(index, &mut self.queues, mem) {
            Ok(mask) => self.signal_queues(mem, mask),
            Err(_) => self.needs_reset(mem),
        }
        0
    }

    /// Host-side work of the back-end (console input); signals the guest.
    pub fn poll(&mut self, mem: &dyn GuestMemory) {
        if self.status & STATUS_DRIVER_OK == 0 || self.status & STATUS_DEVICE_NEEDS_RESET != 0 {
            return;
        }
        match self.dev.poll(&mut self.queues, mem) {
            Ok(mask) => self.signal_queues(mem, mask),
            Err(_) => self.needs_reset(mem),
        }
    }

    /// Marks the device as needing reset and tells the driver through the
    /// configuration-change indication (virtio 1.x §2.1.2).
    fn needs_reset(&mut self, mem: &dyn GuestMemory) {
        tracing::warn!(
            sid = %self.sid_name(),
            status = format_args!("{:#04x}", self.status),
            "virtio-ccw device sets DEVICE_NEEDS_RESET (malformed queue or unreachable indicator)"
        );
        self.status |= STATUS_DEVICE_NEEDS_RESET;
        self.signal_config(mem);
    }

    /// Raises the configuration-change indication.
    pub fn signal_config(&mut self, mem: &dyn GuestMemory) {
        let Some(addr) = self.ind.config else {
            return;
        };
        match mem.fetch_or_u64_be(addr, 1, AccessKey::ZERO) {
            Ok(_) => self.unsolicited(),
            Err(_) => self.status |= STATUS_DEVICE_NEEDS_RESET,
        }
    }

    fn unsolicited(&self) {
        if let Some(h) = &self.handle {
            h.unsolicited(DeviceStatus::new());
        }
    }

    /// Sets the indicators of the queues in `mask` whose driver wants
    /// notifications, then interrupts.
    fn signal_queues(&mut self, mem: &dyn GuestMemory, mask: u64) {
        let mut wanted = 0u64;
        for (i, q) in self.queues.iter().enumerate() {
            if mask & queue_bit(i) != 0 && q.needs_notification(mem).unwrap_or(true) {
                wanted |= queue_bit(i);
            }
        }
        if wanted == 0 {
            return;
        }
        let r = if let Some(a) = self.ind.adapter {
            self.signal_adapter(mem, a, wanted)
        } else if let Some(addr) = self.ind.classic {
            mem.fetch_or_u64_be(addr, wanted, AccessKey::ZERO)
                .map(|_| self.unsolicited())
        } else {
            Ok(())
        };
        if r.is_err() {
            self.needs_reset(mem);
        }
    }

    fn signal_adapter(&self, mem: &dyn GuestMemory, a: AdapterIndicators, wanted: u64) -> Result<(), AccessError> {
        for vq in 0..64u64 {
            if wanted & (1 << vq) == 0 {
                continue;
            }
            // Validated at SET_IND_ADAPTER: no overflow for vq < queue count.
            let nr = a.bit.saturating_add(vq);
            let addr = a.indicator.saturating_add(nr / 8);
            mem.fetch_or_u8(addr, 0x80 >> (nr % 8), AccessKey::ZERO)?;
        }
        let old = mem.fetch_or_u8(a.summary, 0x01, AccessKey::ZERO)?;
        if old == 0 {
            if let Some(h) = &self.handle {
                h.adapter_interrupt(a.isc);
            }
        }
        Ok(())
    }
}

impl CcwDevice for VirtioCcwDevice {
    fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
        let mut io = StreamTransfer { stream: data };
        self.execute_command(ccw, &mut io)
    }
}

impl Device for VirtioCcwDevice {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            cu_type: VIRTIO_CCW_CU_TYPE,
            cu_model: self.dev.device_type(),
            dev_type: 0,
            dev_model: 0,
            paths: ChannelPaths::single(VIRTIO_CCW_CHPID, VIRTIO_CCW_CHPID_TYPE),
        }
    }

    fn attached(&mut self, handle: SubchannelHandle) {
        self.handle = Some(handle);
    }

    fn subchannel_disabled(&mut self) {
        // The revision is negotiated per enablement of the subchannel.
        self.revision = None;
    }

    /// The I/O-system reset is the virtio device reset (virtio 1.x §2.4
    /// "Device Reset", §4.3.2.1 for the revision): status 0, features,
    /// queues and indicators gone, the back-end reset, the revision unset
    /// (the next SET_VIRTIO_REV is accepted) and no pending sense. A
    /// notification of an old queue afterwards finds it disabled and
    /// touches no storage.
    fn io_system_reset(&mut self) {
        self.reset_virtio();
        self.revision = None;
        self.sense = None;
    }

    fn notify(&mut self, mem: &dyn GuestMemory, queue: u64, _cookie: u64) -> Option<NotifyResult> {
        Some(self.notify_queue(mem, queue))
    }

    /// The transport state and the back-end's ([`VirtioCcwState`]).
    fn save_state(&mut self) -> Result<DeviceState, DeviceStateError> {
        let s = VirtioCcwState {
            device_type: self.dev.device_type(),
            revision: self.revision,
            status: self.status,
            driver_features: self.driver_features,
            queues: self.queues.iter().map(SplitQueue::state).collect(),
            indicators: self.ind,
            sense: self.sense.map(|s| s.bytes[..usize::from(s.len).min(32)].to_vec()),
            backend: self.dev.save_state()?,
        };
        DeviceState::new(STATE_KIND, STATE_VERSION, &s)
    }

    fn restore_state(&mut self, state: &DeviceState) -> Result<(), DeviceStateError> {
        let s: VirtioCcwState = state.parse(STATE_KIND, STATE_VERSION)?;
        if s.device_type != self.dev.device_type() || s.queues.len() != self.queues.len() {
            return Err(DeviceStateError::Invalid(format!(
                "virtio device {} with {} queues, this is device {} with {}",
                s.device_type,
                s.queues.len(),
                self.dev.device_type(),
                self.queues.len()
            )));
        }
        let sense = match s.sense {
            Some(b) => {
                let len = u8::try_from(b.len())
                    .ok()
                    .filter(|&n| n <= 32)
                    .ok_or_else(|| DeviceStateError::Invalid("sense longer than 32 bytes".into()))?;
                let mut bytes = [0u8; 32];
                bytes[..b.len()].copy_from_slice(&b);
                Some(Sense { bytes, len })
            }
            None => None,
        };
        for (q, qs) in self.queues.iter_mut().zip(&s.queues) {
            q.set_state(qs)
                .map_err(|e| DeviceStateError::Invalid(format!("queue: {e}")))?;
        }
        self.dev.restore_state(&s.backend)?;
        self.revision = s.revision;
        self.status = s.status;
        self.driver_features = s.driver_features;
        self.ind = s.indicators;
        self.sense = sense;
        Ok(())
    }

    fn host_input(&mut self, mem: &dyn GuestMemory, data: &[u8]) -> bool {
        if !self.dev.host_input(data) {
            return false;
        }
        self.poll(mem);
        true
    }
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
