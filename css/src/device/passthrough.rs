//! The contract of a device whose channel programs run on a host
//! subchannel (vfio-ccw passthrough, or any device that completes work
//! asynchronously and reports what a real subchannel reports).
//!
//! A host subchannel answers each request with a condition code and later
//! presents interruption-response blocks. The guest must see exactly that,
//! so the css does not model what the host probably did — it passes the
//! host's status through:
//!
//! * START, RESUME, HALT, CLEAR and CANCEL SUBCHANNEL are *requests* to the
//!   device ([`PassthroughDevice::start`], …). The css first applies the
//!   architected checks against the guest's own subchannel state (status
//!   pending, a function in progress, …); when they pass, the device's
//!   answer is the instruction's condition code: `Ok` is cc 0,
//!   [`PassthroughError::StatusPending`] cc 1, [`PassthroughError::Busy`]
//!   cc 2, [`PassthroughError::NotOperational`] cc 3. A refused request
//!   leaves the guest subchannel exactly as it was. A
//!   [`PassthroughError::HostFailure`] (the host side broke without a
//!   condition code) is what QEMU's vfio-ccw turns into cc 0 followed by a
//!   unit-exception interruption for a start, and cc 3 for halt, clear and
//!   cancel (hw/vfio/ccw.c `vfio_ccw_handle_request`/`_halt`/`_clear`).
//! * Each request carries a *token*. The device reports the host's status
//!   with [`PassthroughReply::report`] and the token of the request it
//!   belongs to; it may report several times for one program (intermediate
//!   status for a PCI or a suspension, then the final status). HALT keeps
//!   the token of the program it halts (the halt status ends that
//!   program); CLEAR gets a new token, and reports still carrying an older
//!   token are dropped (the clear function overtook them).
//! * A report carries the whole IRB content ([`Irb`]): the SCSW as the host
//!   stored it (condition code, function, activity and status control —
//!   intermediate and alert status included —, the flag bits, the CCW
//!   address already translated back into the guest's program, residual
//!   count, device and subchannel status), the ESW and the ECW (concurrent
//!   sense). The css stores the SCSW and ESW into the guest subchannel as
//!   they are, keeps the ECW when the SCSW's E bit says it is valid, and
//!   makes an I/O-interruption request when the SCSW is status pending.
//!   The request ends (its token is forgotten) with the first report whose
//!   activity control is empty.
//! * A report that arrives while the guest subchannel is still status
//!   pending waits until TEST SUBCHANNEL clears it (a real device stacks
//!   its status the same way); the order of reports is kept.
//! * Reports are applied on the next [`crate::Css::poll`] or I/O
//!   instruction; sending one wakes the embedder with
//!   [`crate::Wake::Completion`].
//! * STORE SUBCHANNEL asks the device for current path information
//!   ([`PassthroughDevice::refresh_paths`]) before it stores the SCHIB.
//! * The device forwards the host's channel reports through its
//!   [`SubchannelHandle`] ([`SubchannelHandle::channel_report`]) and
//!   presents unsolicited status with [`PassthroughReply::unsolicited`]
//!   (an IRB whose SCSW has alert and status pending, as the host stored
//!   it).

use zcss_ccw::irb::Irb;
use zcss_ccw::memory::GuestMemory;
use zcss_ccw::orb::Orb;
use zcss_ccw::sid::SubchannelId;

use zcss_ccw::pmcw::Pmcw;

use super::{ChannelPaths, DeviceInfo, SubchannelHandle};
use crate::error::{Cc, ProgramCheck};

/// Why a host subchannel did not accept a request: its condition code, or
/// a failure of the host side itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum PassthroughError {
    /// The host subchannel is status pending: condition code 1.
    #[error("host subchannel status pending")]
    StatusPending,
    /// The host subchannel is busy with a function: condition code 2.
    #[error("host subchannel busy")]
    Busy,
    /// The host subchannel or device is not operational: condition code 3.
    #[error("host subchannel not operational")]
    NotOperational,
    /// The host side failed without a condition code (an error writing the
    /// request, a program the host refused to translate). A start then
    /// ends with cc 0 and a unit-exception interruption; halt, clear and
    /// cancel with cc 3 (what QEMU's vfio-ccw does).
    #[error("host failure")]
    HostFailure,
}

impl PassthroughError {
    /// The condition code the guest sees for a refused halt, clear, cancel
    /// or resume.
    #[must_use]
    pub const fn cc(self) -> Cc {
        match self {
            Self::StatusPending => Cc::One,
            Self::Busy => Cc::Two,
            Self::NotOperational | Self::HostFailure => Cc::Three,
        }
    }
}

/// Path information of a host subchannel, as its SCHIB holds it: what
/// STORE SUBCHANNEL shows the guest for a passthrough device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PathState {
    /// Installed paths, their CHPIDs and types (PIM, CHPID 0–7).
    pub paths: ChannelPaths,
    /// Path-available mask.
    pub pam: u8,
    /// Path-operational mask.
    pub pom: u8,
    /// Path-not-operational mask.
    pub pnom: u8,
    /// Last-path-used mask.
    pub lpum: u8,
}

/// One report from a passthrough device, carried to the css.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassthroughEvent {
    /// Status of the request `token` (start, resume, halt or clear).
    Status {
        /// The subchannel.
        sid: SubchannelId,
        /// The token of the request the status belongs to.
        token: u64,
        /// The IRB content as the host stored it.
        irb: Irb,
    },
    /// Unsolicited status (no request of the guest's in progress).
    Unsolicited {
        /// The subchannel.
        sid: SubchannelId,
        /// The IRB content as the host stored it.
        irb: Irb,
    },
}

impl PassthroughEvent {
    /// The subchannel the event is for.
    #[must_use]
    pub const fn sid(&self) -> SubchannelId {
        match self {
            Self::Status { sid, .. } | Self::Unsolicited { sid, .. } => *sid,
        }
    }
}

/// The sending half a passthrough device reports through. Cloneable and
/// `Send`: hand it to the worker thread. Sending also wakes the embedder
/// ([`crate::Wake::Completion`]); reports are applied on the next
/// [`crate::Css::poll`] or I/O instruction.
#[derive(Clone)]
pub struct PassthroughReply {
    sid: SubchannelId,
    tx: crossbeam_channel::Sender<PassthroughEvent>,
    wake: std::sync::Arc<dyn Fn() + Send + Sync>,
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
        tx: crossbeam_channel::Sender<PassthroughEvent>,
        wake: std::sync::Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        Self { sid, tx, wake }
    }

    /// The subchannel the device is on.
    #[must_use]
    pub fn sid(&self) -> SubchannelId {
        self.sid
    }

    fn send(&self, ev: PassthroughEvent) -> bool {
        let ok = self.tx.send(ev).is_ok();
        (self.wake)();
        ok
    }

    /// Reports the host's status for the request `token`. May be called
    /// several times per request (intermediate, then final status). A
    /// report for a request that CLEAR overtook is dropped by the css.
    /// Returns `false` if the channel subsystem is gone.
    pub fn report(&self, token: u64, irb: Irb) -> bool {
        self.send(PassthroughEvent::Status {
            sid: self.sid,
            token,
            irb,
        })
    }

    /// Presents unsolicited status (attention, a unit check with sense,
    /// …) as the host stored it. It becomes pending when the guest
    /// subchannel is idle and not status pending (it waits otherwise).
    /// Returns `false` if the channel subsystem is gone.
    pub fn unsolicited(&self, irb: Irb) -> bool {
        self.send(PassthroughEvent::Unsolicited { sid: self.sid, irb })
    }
}

/// A device that takes whole channel programs and requests and reports the
/// host subchannel's status (see the [module documentation](self)).
pub trait PassthroughDevice: Send {
    /// Identity and channel paths for the SCHIB and CHSC.
    fn info(&self) -> DeviceInfo;

    /// Placed on a subchannel: keep `reply` for status reports and
    /// `handle` for channel reports.
    fn attached(&mut self, _handle: SubchannelHandle, _reply: PassthroughReply) {}

    /// START SUBCHANNEL: run the program of `orb` (already validated; the
    /// guest subchannel's checks passed). `mem` is guest storage for
    /// translating the program now; a device that works later keeps its
    /// own handle on guest storage.
    ///
    /// # Errors
    /// The host's condition code, or a host failure.
    fn start(&mut self, mem: &dyn GuestMemory, orb: &Orb, token: u64) -> Result<(), PassthroughError>;

    /// RESUME SUBCHANNEL of the suspended program `token`. The default
    /// answers busy (cc 2): the vfio-ccw uAPI has no resume.
    ///
    /// # Errors
    /// As [`PassthroughDevice::start`].
    fn resume(&mut self, _mem: &dyn GuestMemory, _token: u64) -> Result<(), PassthroughError> {
        Err(PassthroughError::Busy)
    }

    /// HALT SUBCHANNEL: halt the program `token` (a fresh token when the
    /// subchannel is idle). The halt status is reported later with `token`.
    ///
    /// # Errors
    /// The host's condition code, or a host failure.
    fn halt(&mut self, token: u64) -> Result<(), PassthroughError>;

    /// CLEAR SUBCHANNEL: clear the host subchannel; the clear status is
    /// reported later with the new `token`, and nothing more is reported
    /// for older tokens.
    ///
    /// # Errors
    /// The host's condition code, or a host failure.
    fn clear(&mut self, token: u64) -> Result<(), PassthroughError>;

    /// CANCEL SUBCHANNEL of the program `token`, which has not begun at the
    /// device (start pending or suspended). The default answers busy (cc
    /// 2): the vfio-ccw uAPI cannot cancel.
    ///
    /// # Errors
    /// The host's condition code, or a host failure.
    fn cancel(&mut self, _token: u64) -> Result<(), PassthroughError> {
        Err(PassthroughError::Busy)
    }

    /// Current path information of the host subchannel, read before STORE
    /// SUBCHANNEL stores the guest's SCHIB; `None` keeps what the guest
    /// subchannel shows.
    fn refresh_paths(&mut self) -> Option<PathState> {
        None
    }

    /// The subchannel was disabled (MSCH with E = 0).
    fn subchannel_disabled(&mut self) {}

    /// The I/O-system reset reached the device ([`crate::Css::reset`]):
    /// the host subchannel is cleared and the host device reset, before
    /// this returns, so that what follows the reset (an IPL) finds the host
    /// side idle. Nothing is reported for requests made before. The
    /// default only clears (token 0: reports of every older request are
    /// dropped).
    fn io_system_reset(&mut self) {
        let _ = self.clear(0);
    }

    /// The device's state for a snapshot, taken when the guest subchannel
    /// has no function in flight (the css refuses the snapshot otherwise).
    /// The host device's own state is the host's, not in the snapshot.
    /// The default cannot save.
    ///
    /// # Errors
    /// [`crate::DeviceStateError::Unsupported`].
    fn save_state(&mut self) -> Result<crate::DeviceState, crate::DeviceStateError> {
        Err(crate::DeviceStateError::Unsupported(
            "the device has no snapshot support".into(),
        ))
    }

    /// Restores what [`PassthroughDevice::save_state`] saved.
    ///
    /// # Errors
    /// Another kind of state, or another host device.
    fn restore_state(&mut self, _state: &crate::DeviceState) -> Result<(), crate::DeviceStateError> {
        Err(crate::DeviceStateError::Unsupported(
            "the device has no snapshot support".into(),
        ))
    }

    /// MODIFY SUBCHANNEL changed the guest's PMCW (`pmcw` as it is now):
    /// a device mirrors what its host subchannel needs to match, such as
    /// the concurrent-sense bit. The css presents a reported ECW only when
    /// the guest's PMCW asks for concurrent sense, as QEMU does.
    fn subchannel_modified(&mut self, _pmcw: &Pmcw) {}

    /// START SUBCHANNEL's check of an ORB the host cannot run: an operand
    /// exception instead of the start (QEMU `ioinst_orb_valid` refuses
    /// MIDAW ORBs for its passthrough devices). The ORB has passed the
    /// architected checks; the default accepts it.
    ///
    /// # Errors
    /// The program exception SSCH recognizes.
    fn check_orb(&self, _orb: &Orb) -> Result<(), ProgramCheck> {
        Ok(())
    }
}
