//! How devices attach to the channel subsystem.
//!
//! CONTRACT shared by the css, virtio_ccw and (later) vfio_ccw crates: the
//! names and signatures here may gain items but do not change meaning.
//!
//! Locking rule: the channel subsystem never holds a subchannel's state lock
//! while it calls into a device, so a device may call back into the css
//! through its [`SubchannelHandle`] at any time (from `execute`, `notify`, or
//! a worker thread) without deadlock.

use std::sync::Arc;

use zcss_ccw::engine::Completion;
use zcss_ccw::memory::GuestMemory;
use zcss_ccw::orb::Orb;
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::{CcwDevice, DeviceStatus};

/// Identity a device reports: what SENSE ID and the SCHIB show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceInfo {
    /// Control-unit type (e.g. 0x3832 for virtio, 0x3990 for DASD).
    pub cu_type: u16,
    /// Control-unit model (for virtio: the virtio device id).
    pub cu_model: u8,
    /// Device type (e.g. 0x3390), 0 if none.
    pub dev_type: u16,
    /// Device model.
    pub dev_model: u8,
    /// Channel-path type of the path the device hangs on (0x32 = virtual,
    /// as QEMU uses for virtio; 0x1b? FICON etc. for passthrough).
    pub chpid_type: u8,
}

/// What a device's notification hypercall (DIAG 0x500 subcode 3) returns in GR2.
pub type NotifyResult = i64;

/// A device interpreted CCW by CCW by the channel-program engine, completed
/// before START SUBCHANNEL returns (virtio-ccw, emulated DASD, test devices).
pub trait Device: CcwDevice {
    /// Identity for SENSE ID / the SCHIB.
    fn info(&self) -> DeviceInfo;

    /// Called once when the device is placed on a subchannel; the handle lets
    /// it raise unsolicited status and adapter interruptions later.
    fn attached(&mut self, _handle: SubchannelHandle) {}

    /// The subchannel was reset (CLEAR SUBCHANNEL, or disabled by MSCH),
    /// the device should drop per-program state. Virtio devices keep their
    /// virtio state on clear; see the virtio spec.
    fn subchannel_reset(&mut self) {}

    /// The subchannel was disabled (MSCH with E = 0).
    fn subchannel_disabled(&mut self) {}

    /// DIAG 0x500 subcode 3 (virtio notify): `queue` is GR3, `cookie` GR4.
    /// Returns the value for GR2 (new cookie ≥ 0, or a negative errno).
    /// `None` means "not a device that takes notifications" (the css then
    /// returns -EINVAL = -22).
    fn notify(&mut self, _mem: &dyn GuestMemory, _queue: u64, _cookie: u64) -> Option<NotifyResult> {
        None
    }
}

/// Where device-originated events go; implemented by the css internals (and
/// by test doubles).
pub trait InterruptSink: Send + Sync {
    /// Unsolicited device status (e.g. attention, or CE|DE|... with no
    /// operation in progress): makes the subchannel status pending with alert
    /// status and queues an I/O interruption, if the subchannel is enabled and
    /// not already status pending. Returns whether it was accepted.
    fn unsolicited(&self, sid: SubchannelId, status: DeviceStatus) -> bool;

    /// Raises an adapter interruption for `isc` (0..=7), subject to the
    /// adapter-interruption suppression (AIS) controls set by SIC.
    fn adapter_interrupt(&self, isc: u8);
}

/// A cheap, cloneable, `Send + Sync` handle a device keeps to talk to its
/// subchannel.
#[derive(Clone)]
pub struct SubchannelHandle {
    sid: SubchannelId,
    sink: Arc<dyn InterruptSink>,
}

impl std::fmt::Debug for SubchannelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubchannelHandle")
            .field("sid", &self.sid)
            .finish_non_exhaustive()
    }
}

impl SubchannelHandle {
    /// A handle for `sid` delivering to `sink`.
    #[must_use]
    pub fn new(sid: SubchannelId, sink: Arc<dyn InterruptSink>) -> Self {
        Self { sid, sink }
    }

    /// The subchannel the device is on.
    #[must_use]
    pub fn sid(&self) -> SubchannelId {
        self.sid
    }

    /// See [`InterruptSink::unsolicited`].
    pub fn unsolicited(&self, status: DeviceStatus) -> bool {
        self.sink.unsolicited(self.sid, status)
    }

    /// See [`InterruptSink::adapter_interrupt`].
    pub fn adapter_interrupt(&self, isc: u8) {
        self.sink.adapter_interrupt(isc);
    }
}

/// Why a passthrough device refused a request; START, HALT and CLEAR
/// SUBCHANNEL forward it to the program as condition code 2 or 3 (the host
/// subchannel's answer), and the subchannel is left as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum PassthroughError {
    /// The device (or host subchannel) is busy: condition code 2.
    #[error("passthrough device busy")]
    Busy,
    /// The device (or host subchannel) is not operational: condition code 3.
    #[error("passthrough device not operational")]
    NotOperational,
}

/// The final (or suspended) outcome of a channel program a passthrough
/// device ran, sent back over the device's [`PassthroughReply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PassthroughDone {
    /// The subchannel.
    pub sid: SubchannelId,
    /// The token the css gave with the start or resume.
    pub token: u64,
    /// The SCSW-relevant outcome, as the channel-program engine would
    /// report it (`Ending::Stopped` is ignored: halt and clear complete in the css).
    pub completion: Completion,
}

/// The sending half a passthrough device completes its work through.
/// Cloneable and `Send`: hand it to the worker thread. Sending also wakes
/// the embedder ([`crate::Wake::Completion`]); completions are applied on
/// the next [`crate::Css::poll`] or I/O instruction.
#[derive(Clone)]
pub struct PassthroughReply {
    sid: SubchannelId,
    tx: crossbeam_channel::Sender<PassthroughDone>,
    wake: Arc<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for PassthroughReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassthroughReply")
            .field("sid", &self.sid)
            .finish_non_exhaustive()
    }
}

impl PassthroughReply {
    pub(crate) fn new(
        sid: SubchannelId,
        tx: crossbeam_channel::Sender<PassthroughDone>,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        Self { sid, tx, wake }
    }

    /// The subchannel the device is on.
    #[must_use]
    pub fn sid(&self) -> SubchannelId {
        self.sid
    }

    /// Reports the outcome of the program started with `token`. A report
    /// for a program that halt or clear already ended is discarded by the
    /// css. Returns `false` if the channel subsystem is gone.
    pub fn complete(&self, token: u64, completion: Completion) -> bool {
        let ok = self
            .tx
            .send(PassthroughDone {
                sid: self.sid,
                token,
                completion,
            })
            .is_ok();
        (self.wake)();
        ok
    }
}

/// A device that takes the whole channel program at once and completes it
/// later (vfio-ccw: the program is translated and run by the host).
///
/// START SUBCHANNEL calls [`PassthroughDevice::start`] with the ORB and
/// returns as soon as the device accepted it; the device reports the outcome
/// through the [`PassthroughReply`] it got in [`PassthroughDevice::attached`].
/// HALT and CLEAR SUBCHANNEL overtake a program in flight: the css calls
/// [`PassthroughDevice::halt`] or [`PassthroughDevice::clear`], completes
/// the halt or clear function itself once the device accepted, and drops
/// any later report for the overtaken program.
pub trait PassthroughDevice: Send {
    /// Identity for the SCHIB and channel-path descriptions.
    fn info(&self) -> DeviceInfo;

    /// Placed on a subchannel: keep `reply` for completions, `handle` for
    /// unsolicited status.
    fn attached(&mut self, _handle: SubchannelHandle, _reply: PassthroughReply) {}

    /// Starts the program of `orb` (already validated, LPM path selected).
    /// `mem` is guest storage for translating the program now; a device
    /// that works later keeps its own handle on guest storage.
    ///
    /// # Errors
    /// Busy or not operational: START SUBCHANNEL ends with cc 2 or 3.
    fn start(&mut self, mem: &dyn GuestMemory, orb: &Orb, token: u64) -> Result<(), PassthroughError>;

    /// Resumes the suspended program at the CCW at `ccw_addr` (RESUME
    /// SUBCHANNEL). The default refuses as busy.
    ///
    /// # Errors
    /// As [`PassthroughDevice::start`].
    fn resume(
        &mut self,
        _mem: &dyn GuestMemory,
        _orb: &Orb,
        _ccw_addr: u32,
        _token: u64,
    ) -> Result<(), PassthroughError> {
        Err(PassthroughError::Busy)
    }

    /// HALT SUBCHANNEL: stop the program `token` (0 if none is running).
    ///
    /// # Errors
    /// Busy or not operational: HALT SUBCHANNEL ends with cc 2 or 3.
    fn halt(&mut self, token: u64) -> Result<(), PassthroughError>;

    /// CLEAR SUBCHANNEL: stop the program `token` (0 if none) and reset.
    ///
    /// # Errors
    /// Not operational: CLEAR SUBCHANNEL ends with cc 3.
    fn clear(&mut self, token: u64) -> Result<(), PassthroughError>;

    /// The subchannel was disabled (MSCH with E = 0).
    fn subchannel_disabled(&mut self) {}
}
