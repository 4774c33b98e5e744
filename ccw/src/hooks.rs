//! What a running channel program tells the channel subsystem and the
//! device about its course (Principles of Operation, chapter 15,
//! "Program-Controlled Interruption"; chapter 14, "HALT SUBCHANNEL",
//! "CLEAR SUBCHANNEL" for the functions that end a program from outside).

/// Why a channel program ended before its natural end, as told to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgramEnd {
    /// The chain ended (last CCW without chaining, or status ended it).
    Completed,
    /// The channel subsystem detected a check (program, protection, …) and
    /// terminated the operation.
    Terminated,
    /// The program suspended (CCW S flag); it may be resumed.
    Suspended,
    /// HALT SUBCHANNEL ended the operation.
    Halted,
    /// CLEAR SUBCHANNEL ended the operation and reset the device's path state.
    Cleared,
}

/// Callbacks from a running program to the channel subsystem, made by the
/// [`Engine`](crate::Engine) between commands and by the
/// [`DataStream`](crate::DataStream) between data-chained CCWs.
pub trait EngineHooks {
    /// A CCW with the PCI flag became current (`cpa` = its address + 8).
    fn pci(&mut self, _cpa: u32) {}
    /// Polled between CCWs (command- and data-chained): `Some` ends the
    /// program at once (halt, clear).
    fn stop_requested(&mut self) -> Option<ProgramEnd> {
        None
    }
    /// Asked when a command-chained CCW with the S flag becomes current:
    /// `true` (RESUME SUBCHANNEL arrived while the program ran, leaving
    /// the subchannel resume pending) makes the channel subsystem not
    /// honour the flag, and consumes the resume-pending condition (PoO
    /// chapter 15, "Suspension of Channel-Program Execution").
    fn resume_pending(&mut self) -> bool {
        false
    }
}

/// Hooks that do nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHooks;
impl EngineHooks for NoHooks {}
