//! The transport-agnostic virtio device interface (virtio 1.x §2 "Basic
//! Facilities of a Virtio Device") that back-ends implement. It knows nothing
//! of channels: the virtio-ccw proxy control unit owns the queues and the
//! device status and calls into the back-end.

use thiserror::Error;
use zcss_ccw::memory::GuestMemory;
use zcss_css::DeviceStateError;

use crate::queue::{Endian, QueueError, SplitQueue};

/// Device status bit: the guest found the device (virtio 1.x §2.1).
pub const STATUS_ACKNOWLEDGE: u8 = 1;
/// Device status bit: the guest knows how to drive it.
pub const STATUS_DRIVER: u8 = 2;
/// Device status bit: the driver is ready.
pub const STATUS_DRIVER_OK: u8 = 4;
/// Device status bit: feature negotiation is complete.
pub const STATUS_FEATURES_OK: u8 = 8;
/// Device status bit: the device hit an error and needs a reset.
pub const STATUS_DEVICE_NEEDS_RESET: u8 = 0x40;
/// Device status bit: the driver gave up.
pub const STATUS_FAILED: u8 = 0x80;

/// Feature bit 32: the device complies with virtio 1.x (virtio 1.x §6).
pub const VIRTIO_F_VERSION_1: u64 = 1 << 32;

/// Virtio device ids (virtio 1.x §5).
pub mod id {
    /// Block device.
    pub const BLOCK: u8 = 2;
    /// Console.
    pub const CONSOLE: u8 = 3;
    /// Entropy source.
    pub const RNG: u8 = 4;
}

/// Why a back-end refused to start.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ActivateError {
    /// A required queue is not enabled.
    #[error("queue {0} is not enabled")]
    QueueNotReady(usize),
}

/// A virtio device back-end.
///
/// The transport owns the [`SplitQueue`]s (one per entry of
/// [`VirtioDevice::queue_max_sizes`]) and hands them to the back-end when the
/// driver notifies a queue or the embedder polls the device.
pub trait VirtioDevice: Send + std::any::Any {
    /// The virtio device id (virtio 1.x §5), e.g. [`id::BLOCK`].
    fn device_type(&self) -> u8;

    /// Largest size of each queue; the length is the number of queues.
    fn queue_max_sizes(&self) -> &[u16];

    /// Feature bits the device offers (VERSION_1 included for a device that
    /// speaks virtio 1.x).
    fn features(&self) -> u64;

    /// Size of the device-specific configuration space in bytes.
    fn config_len(&self) -> usize;

    /// Reads configuration space from `offset`; bytes beyond the space read
    /// as zero. `endian` is little for virtio 1.x, big for a legacy s390 driver.
    fn read_config(&self, offset: usize, data: &mut [u8], endian: Endian);

    /// Writes configuration space (most devices ignore writes).
    fn write_config(&mut self, _offset: usize, _data: &[u8], _endian: Endian) {}

    /// The driver set DRIVER_OK with `features` negotiated.
    ///
    /// # Errors
    /// The device cannot start (the transport then reports NEEDS_RESET).
    fn activate(&mut self, _features: u64, _queues: &[SplitQueue]) -> Result<(), ActivateError> {
        Ok(())
    }

    /// Device reset: forget negotiated state and in-flight work.
    fn reset(&mut self) {}

    /// The driver notified queue `index`: consume available buffers and
    /// complete them into the used ring. Returns a bit mask of the queues
    /// that got used buffers (bit `i` = queue `i`).
    ///
    /// # Errors
    /// A malformed ring or chain; the transport marks the device as needing reset.
    fn process_queue(
        &mut self,
        index: usize,
        queues: &mut [SplitQueue],
        mem: &dyn GuestMemory,
    ) -> Result<u64, QueueError>;

    /// The back-end's own state for a snapshot (an in-memory disk's
    /// contents, console input not yet delivered, …). The default: a
    /// back-end without state (null).
    ///
    /// # Errors
    /// The back-end cannot save its state now.
    fn save_state(&mut self) -> Result<serde_json::Value, DeviceStateError> {
        Ok(serde_json::Value::Null)
    }

    /// Restores what [`VirtioDevice::save_state`] saved, into a back-end
    /// built like the one that saved it.
    ///
    /// # Errors
    /// A state that does not fit the back-end.
    fn restore_state(&mut self, _state: &serde_json::Value) -> Result<(), DeviceStateError> {
        Ok(())
    }

    /// Host input (console input typed on the host): the device keeps
    /// `data` for the guest; the transport then polls it. `false` when the
    /// device takes no input.
    fn host_input(&mut self, _data: &[u8]) -> bool {
        false
    }

    /// Host-side work (console input, …), called by the embedder. Returns the
    /// mask of queues that got used buffers.
    ///
    /// # Errors
    /// As [`VirtioDevice::process_queue`].
    fn poll(&mut self, _queues: &mut [SplitQueue], _mem: &dyn GuestMemory) -> Result<u64, QueueError> {
        Ok(0)
    }
}

/// Copies `src` (a device's configuration image) from `offset` into `data`,
/// zero-filling what lies beyond it.
pub fn copy_config(src: &[u8], offset: usize, data: &mut [u8]) {
    data.fill(0);
    if let Some(tail) = src.get(offset..) {
        let n = tail.len().min(data.len());
        data[..n].copy_from_slice(&tail[..n]);
    }
}

/// Bit mask with bit `index` set (0 for indices ≥ 64).
#[must_use]
pub fn queue_bit(index: usize) -> u64 {
    u32::try_from(index).ok().and_then(|i| 1u64.checked_shl(i)).unwrap_or(0)
}
