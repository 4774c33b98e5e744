//! The device behind a subchannel, and every place the css treats the two
//! kinds of device differently: interpreted devices ([`Device`], run by
//! the channel-program engine) and passthrough devices
//! ([`PassthroughDevice`], requests to a host subchannel). The rest of the
//! css calls these methods and never matches on the kind itself.

use zcss_ccw::engine::{Completion, Engine};
use zcss_ccw::memory::GuestMemory;
use zcss_ccw::orb::Orb;
use zcss_ccw::EngineHooks;
use zcss_ccw::{CcwAddress, ProgramEnd};

use crate::device::{
    Device, DeviceInfo, NotifyResult, PassthroughDevice, PassthroughError, PassthroughReply, PathState,
    SubchannelHandle,
};

/// What drives the subchannel's device.
pub(crate) enum DevSlot {
    /// No device.
    Empty,
    /// A device interpreted CCW by CCW.
    Ccw(Box<dyn Device>),
    /// A device that takes whole channel programs.
    Passthrough(Box<dyn PassthroughDevice>),
}

/// A request to a passthrough device other than start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PtRequest {
    /// RESUME SUBCHANNEL.
    Resume,
    /// HALT SUBCHANNEL.
    Halt,
    /// CLEAR SUBCHANNEL.
    Clear,
    /// CANCEL SUBCHANNEL.
    Cancel,
}

impl DevSlot {
    /// Identity and paths; `None` for an empty slot.
    pub fn info(&self) -> Option<DeviceInfo> {
        match self {
            Self::Ccw(d) => Some(d.info()),
            Self::Passthrough(d) => Some(d.info()),
            Self::Empty => None,
        }
    }

    /// Whether the device takes whole programs.
    pub fn is_passthrough(&self) -> bool {
        matches!(self, Self::Passthrough(_))
    }

    /// The device is placed on its subchannel. `reply` builds the report
    /// channel of a passthrough device.
    pub fn attached(&mut self, handle: SubchannelHandle, reply: impl FnOnce() -> PassthroughReply) {
        match self {
            Self::Ccw(d) => d.attached(handle),
            Self::Passthrough(d) => d.attached(handle, reply()),
            Self::Empty => {}
        }
    }

    /// The interpreted device, if that is what the slot holds.
    pub fn device_mut(&mut self) -> Option<&mut dyn Device> {
        match self {
            Self::Ccw(d) => Some(d.as_mut()),
            _ => None,
        }
    }

    /// Runs (or resumes at `resume_at`) a channel program on an
    /// interpreted device over the channel path `lpum`; `None` when the
    /// slot holds none.
    pub fn run_program(
        &mut self,
        engine: &Engine,
        mem: &dyn GuestMemory,
        orb: &Orb,
        resume_at: Option<u32>,
        lpum: u8,
        hooks: &mut dyn EngineHooks,
    ) -> Option<Completion> {
        let dev: &mut dyn Device = self.device_mut()?;
        Some(match resume_at {
            Some(ccw_addr) => engine.resume(mem, orb, CcwAddress::new(ccw_addr), lpum, dev, hooks),
            None => engine.start(mem, orb, lpum, dev, hooks),
        })
    }

    /// START SUBCHANNEL to a passthrough device (not operational for any
    /// other slot).
    pub fn start(&mut self, mem: &dyn GuestMemory, orb: &Orb, token: u64) -> Result<(), PassthroughError> {
        match self {
            Self::Passthrough(d) => d.start(mem, orb, token),
            _ => Err(PassthroughError::NotOperational),
        }
    }

    /// Another request to a passthrough device (not operational for any
    /// other slot).
    pub fn request(&mut self, req: PtRequest, mem: &dyn GuestMemory, token: u64) -> Result<(), PassthroughError> {
        let Self::Passthrough(d) = self else {
            return Err(PassthroughError::NotOperational);
        };
        match req {
            PtRequest::Resume => d.resume(mem, token),
            PtRequest::Halt => d.halt(token),
            PtRequest::Clear => d.clear(token),
            PtRequest::Cancel => d.cancel(token),
        }
    }

    /// Current host path information of a passthrough device.
    pub fn refresh_paths(&mut self) -> Option<PathState> {
        match self {
            Self::Passthrough(d) => d.refresh_paths(),
            _ => None,
        }
    }

    /// The program of an interpreted device ended outside the engine
    /// (a suspended program halted, cleared or cancelled).
    pub fn program_end(&mut self, how: ProgramEnd) {
        if let Self::Ccw(d) = self {
            d.program_end(how);
        }
    }

    /// The clear function reset the subchannel: an interpreted device drops
    /// its per-program state (a passthrough device got the clear request).
    pub fn subchannel_reset(&mut self) {
        if let Self::Ccw(d) = self {
            d.subchannel_reset();
        }
    }

    /// The I/O-system reset reached the device.
    pub fn io_reset(&mut self) {
        match self {
            Self::Ccw(d) => d.io_system_reset(),
            Self::Passthrough(d) => d.io_system_reset(),
            Self::Empty => {}
        }
    }

    /// The device's state for a snapshot; `None` for an empty slot.
    pub fn save_state(&mut self) -> Option<Result<crate::DeviceState, crate::DeviceStateError>> {
        match self {
            Self::Ccw(d) => Some(d.save_state()),
            Self::Passthrough(d) => Some(d.save_state()),
            Self::Empty => None,
        }
    }

    /// Restores a device's state; `None` for an empty slot.
    pub fn restore_state(&mut self, s: &crate::DeviceState) -> Option<Result<(), crate::DeviceStateError>> {
        match self {
            Self::Ccw(d) => Some(d.restore_state(s)),
            Self::Passthrough(d) => Some(d.restore_state(s)),
            Self::Empty => None,
        }
    }

    /// MSCH changed the PMCW (a passthrough device mirrors what it needs).
    pub fn modified(&mut self, pmcw: &zcss_ccw::pmcw::Pmcw) {
        if let Self::Passthrough(d) = self {
            d.subchannel_modified(pmcw);
        }
    }

    /// A passthrough device's check of an ORB before START SUBCHANNEL.
    pub fn check_orb(&self, orb: &Orb) -> Result<(), crate::error::ProgramCheck> {
        match self {
            Self::Passthrough(d) => d.check_orb(orb),
            _ => Ok(()),
        }
    }

    /// MSCH disabled the subchannel.
    pub fn disabled(&mut self) {
        match self {
            Self::Ccw(d) => d.subchannel_disabled(),
            Self::Passthrough(d) => d.subchannel_disabled(),
            Self::Empty => {}
        }
    }

    /// DIAG 0x500 notify; `None` when the device takes no notifications.
    pub fn notify(&mut self, mem: &dyn GuestMemory, queue: u64, cookie: u64) -> Option<NotifyResult> {
        match self {
            Self::Ccw(d) => d.notify(mem, queue, cookie),
            _ => None,
        }
    }
}
