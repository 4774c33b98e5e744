//! How devices attach to the channel subsystem.
//!
//! Two kinds of device attach to a subchannel:
//! * a [`Device`] is interpreted one CCW at a time by the channel-program
//!   engine on the thread that issued START SUBCHANNEL (virtio-ccw, an
//!   emulated DASD, test devices); the css derives the SCSW from the
//!   engine's outcome, as a channel subsystem does for its own devices;
//! * a [`PassthroughDevice`] takes whole programs and requests (start,
//!   resume, halt, clear, cancel) to a host subchannel and reports the
//!   host's interruption-response blocks, which the css passes to the
//!   guest as reported (see [`passthrough`]).
//!
//! Every device describes its channel paths ([`ChannelPaths`]): the PMCW's
//! PIM and CHPIDs come from there, never from the order of attachment.
//!
//! Locking rule: the channel subsystem never holds a subchannel's state lock
//! while it calls into a device, so a device may call back into the css
//! through its [`SubchannelHandle`] at any time (from `execute`, `notify`, or
//! a worker thread) without deadlock.

mod handle;
pub mod passthrough;
mod paths;

use std::any::Any;
use std::sync::Arc;

use zcss_ccw::crw::Crw;
use zcss_ccw::memory::GuestMemory;
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::{CcwDevice, DeviceStatus, Sense};

mod state;
mod wrapper;
pub use handle::DeviceHandle;
pub use passthrough::{PassthroughDevice, PassthroughError, PassthroughEvent, PassthroughReply, PathState};
pub use paths::{chpid_type, ChannelPaths, PathsError};
pub use state::{DeviceState, DeviceStateError};
pub use wrapper::{wrapped, DeviceWrapper};

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
    /// The channel paths the device hangs on: PIM, CHPIDs and their types
    /// ([`ChannelPaths::VIRTUAL`] for virtio: CHPID 0x00 of type 0x32).
    pub paths: ChannelPaths,
}

impl DeviceInfo {
    /// A device on the virtual channel path (CHPID 0x00, type 0x32), with
    /// no device type: what virtio-ccw devices and test devices report.
    #[must_use]
    pub const fn virtual_device(cu_type: u16, cu_model: u8) -> Self {
        Self {
            cu_type,
            cu_model,
            dev_type: 0,
            dev_model: 0,
            paths: ChannelPaths::VIRTUAL,
        }
    }
}

/// What a device's notification hypercall (DIAG 0x500 subcode 3) returns in GR2.
pub type NotifyResult = i64;

/// A device interpreted CCW by CCW by the channel-program engine, completed
/// before START SUBCHANNEL returns (virtio-ccw, emulated DASD, test devices).
///
/// A device is [`Any`], so an embedder reaches the concrete type it
/// attached: [`crate::Css::with_device_as`], or the [`DeviceHandle`] that
/// [`crate::Css::attach_device`] returns.
pub trait Device: CcwDevice + Any {
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

    /// The I/O-system reset reached the device (PoO chapter 17,
    /// "I/O-System Reset": the reset signal goes to every device, which
    /// ends its operations and returns to its reset state). Unlike
    /// [`Device::subchannel_reset`] (clear subchannel, after which a
    /// virtio device keeps its virtio state), the device forgets
    /// everything a program set up: a virtio device does the virtio
    /// device reset and unlocks its revision, a DASD drops its path groups
    /// and reserves. Called by [`crate::Css::reset`] for every device. The
    /// default drops the per-program state ([`Device::subchannel_reset`]).
    fn io_system_reset(&mut self) {
        self.subchannel_reset();
    }

    /// The device's state for a snapshot ([`crate::Css::snapshot`]),
    /// taken between channel programs. The default cannot save.
    ///
    /// # Errors
    /// [`DeviceStateError::Unsupported`] when the device cannot save its
    /// state (now or at all).
    fn save_state(&mut self) -> Result<DeviceState, DeviceStateError> {
        Err(DeviceStateError::Unsupported(
            "the device has no snapshot support".into(),
        ))
    }

    /// Restores what [`Device::save_state`] saved, into a device built like
    /// the one that saved it.
    ///
    /// # Errors
    /// Another kind or version of state, or a state that does not fit.
    fn restore_state(&mut self, _state: &DeviceState) -> Result<(), DeviceStateError> {
        Err(DeviceStateError::Unsupported(
            "the device has no snapshot support".into(),
        ))
    }

    /// DIAG 0x500 subcode 3 (virtio notify): `queue` is GR3, `cookie` GR4.
    /// Returns the value for GR2 (new cookie ≥ 0, or a negative errno).
    /// `None` means "not a device that takes notifications" (the css then
    /// returns -EINVAL = -22).
    fn notify(&mut self, _mem: &dyn GuestMemory, _queue: u64, _cookie: u64) -> Option<NotifyResult> {
        None
    }

    /// Host input for the device (console input typed on the host): the
    /// device keeps the bytes and hands them to the guest through `mem`
    /// when the driver has offered buffers for them (now, or when it offers
    /// them). Returns `false` when the device takes no input. Called by
    /// [`crate::Css::device_input`].
    fn host_input(&mut self, _mem: &dyn GuestMemory, _data: &[u8]) -> bool {
        false
    }
}

/// Where device-originated events go; implemented by the css internals (and
/// by test doubles).
pub trait InterruptSink: Send + Sync {
    /// Unsolicited device status (e.g. attention, or CE|DE|... with no
    /// operation in progress): makes the subchannel status pending with alert
    /// status and queues an I/O interruption, if the subchannel is enabled,
    /// idle and not already status pending. With unit check, `sense` is
    /// presented as concurrent sense when the PMCW asks for it. Returns
    /// whether it was accepted.
    fn unsolicited(&self, sid: SubchannelId, status: DeviceStatus, sense: Option<&Sense>) -> bool;

    /// Channel reports from the device's side of the configuration (a
    /// passthrough device forwards the host's CRWs): queued as one chain
    /// for STORE CHANNEL REPORT; returns whether they were queued.
    fn channel_report(&self, _chain: &[Crw]) -> bool {
        false
    }

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

    /// See [`InterruptSink::unsolicited`] (no sense data).
    pub fn unsolicited(&self, status: DeviceStatus) -> bool {
        self.sink.unsolicited(self.sid, status, None)
    }

    /// Unsolicited status with sense data (for a unit check); see
    /// [`InterruptSink::unsolicited`].
    pub fn unsolicited_with_sense(&self, status: DeviceStatus, sense: &Sense) -> bool {
        self.sink.unsolicited(self.sid, status, Some(sense))
    }

    /// See [`InterruptSink::channel_report`].
    pub fn channel_report(&self, chain: &[Crw]) -> bool {
        self.sink.channel_report(chain)
    }

    /// See [`InterruptSink::adapter_interrupt`].
    pub fn adapter_interrupt(&self, isc: u8) {
        self.sink.adapter_interrupt(isc);
    }
}
