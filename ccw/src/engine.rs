//! The channel-program engine: interprets the start function of one
//! subchannel against a [`CcwDevice`] (Principles of Operation, chapter 15,
//! "Execution of I/O Operations", "Chaining", "Transfer in Channel",
//! "Suspension of Channel-Program Execution", "Program-Controlled Interruption").
//!
//! CONTRACT (used by the css crate): `Engine::start`, `Engine::resume`,
//! `EngineHooks`, `Completion`, `Ending` and `Limits` keep their shape.

use crate::device::{CcwDevice, ProgramEnd, Sense};
use crate::memory::GuestMemory;
use crate::orb::Orb;
use crate::status::{DeviceStatus, SubchannelStatus};

/// Bounds on the work of one start function, so that a looping channel
/// program cannot hang the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most consecutive CCWs that transfer no data (TICs included) before a
    /// program check.
    pub max_idle_ccws: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_idle_ccws: 256 }
    }
}

/// How the start function ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ending {
    /// The chain ended with the device's status (normal, unit check, unit
    /// exception, incorrect length, …).
    Completed,
    /// The channel subsystem detected a check (program, protection,
    /// chaining, channel-data) and ended the operation.
    Checked,
    /// The program is suspended at the CCW at `Completion::cpa - 8`.
    Suspended,
    /// The hooks asked to stop (halt or clear overtook the program).
    Stopped(ProgramEnd),
}

/// The SCSW-relevant outcome of a start (or resume) function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Completion {
    /// The CCW-address field of the SCSW.
    pub cpa: u32,
    /// The residual count of the SCSW.
    pub count: u16,
    /// Device status.
    pub dstat: DeviceStatus,
    /// Subchannel status (PCI included if a PCI was requested).
    pub cstat: SubchannelStatus,
    /// How it ended.
    pub ending: Ending,
    /// Sense data presented with unit check.
    pub sense: Option<Sense>,
    /// CCWs executed (for measurement and tests).
    pub ccws: u32,
}

/// Callbacks from the engine to the channel subsystem.
pub trait EngineHooks {
    /// A CCW with the PCI flag became current (`cpa` = its address + 8).
    fn pci(&mut self, _cpa: u32) {}
    /// Polled between CCWs: `Some` ends the program at once (halt, clear).
    fn stop_requested(&mut self) -> Option<ProgramEnd> {
        None
    }
}

/// Hooks that do nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHooks;
impl EngineHooks for NoHooks {}

/// The channel-program interpreter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Engine {
    /// Work bounds.
    pub limits: Limits,
}

impl Engine {
    /// Runs the start function described by `orb` (already validated).
    pub fn start(
        &self,
        mem: &dyn GuestMemory,
        orb: &Orb,
        dev: &mut dyn CcwDevice,
        hooks: &mut dyn EngineHooks,
    ) -> Completion {
        self.resume(mem, orb, orb.cpa, dev, hooks)
    }

    /// Resumes a suspended program (RESUME SUBCHANNEL) by refetching the CCW at
    /// `ccw_addr`.
    pub fn resume(
        &self,
        mem: &dyn GuestMemory,
        orb: &Orb,
        ccw_addr: u32,
        dev: &mut dyn CcwDevice,
        hooks: &mut dyn EngineHooks,
    ) -> Completion {
        let _ = (mem, dev, hooks, orb);
        Completion {
            cpa: ccw_addr.wrapping_add(8),
            count: 0,
            dstat: DeviceStatus::new(),
            cstat: SubchannelStatus::new().with_program_check(true),
            ending: Ending::Checked,
            sense: None,
            ccws: 0,
        }
    }
}
