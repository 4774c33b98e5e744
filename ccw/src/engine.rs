//! The channel-program engine: interprets the start function of one
//! subchannel against a [`CcwDevice`] (Principles of Operation, chapter 15,
//! "Execution of I/O Operations", "Chaining", "Transfer in Channel",
//! "Suspension of Channel-Program Execution", "Program-Controlled Interruption";
//! chapter 16, "Subchannel Status" and "CCW-Address Field").
//!
//! CONTRACT (used by the css crate): `Engine::start`, `Engine::resume`,
//! `EngineHooks`, `Completion`, `Ending` and `Limits` keep their shape.
//!
//! # Architected outcomes
//! | ending | `cpa` | `count` | `dstat` | `cstat` |
//! |---|---|---|---|---|
//! | chain ends normally (no CC, or CC suppressed by UC/UE/ATTN/BUSY/IL/missing CE or DE) | last CCW used + 8 | its residual | device status | IL, PCI as applicable |
//! | check on a CCW's contents (command code, count, flags, TIC fields, TIC-to-TIC, S without ORB S) | that CCW + 8 | its count (0 for a TIC) | 0, or the device status if data moved | PC |
//! | check while fetching a CCW (misaligned, beyond the format limit, outside storage, key) — from the ORB, a TIC or chaining | fetched address + 8 | 0 | 0 or device status | PC or PROT |
//! | check on data, IDAW or MIDAW | current CCW + 8 | its residual | device status (or 0 if the command was not started) | PC or PROT |
//! | work bound exceeded ([`Limits`]) | the CCW that would be fetched + 8 | 0 | 0 | PC |
//! | suspended | suspended CCW + 8 | its count | 0 | PCI if requested earlier |
//! | stopped by the hooks | last CCW used + 8 | its residual | last device status | PCI if requested |
//!
//! # Decisions where the engine had to choose
//! * **Incorrect length** is indicated when the device ends a command with a
//!   residual count in the last CCW used (short block, also when more
//!   data-chained CCWs would have followed) or wanted more data than the
//!   counts offered (long block). SLI of the current CCW suppresses it, but
//!   not when that CCW also specifies data chaining. An unsuppressed IL ends
//!   the chain.
//! * **Immediate operations** (the device never touched the [`DataStream`]):
//!   with format-0 CCWs, or format-1 CCWs and ORB L = 1
//!   (incorrect-length-suppression mode), IL is never indicated; with
//!   format-1 CCWs and L = 0, IL is indicated when the count is not zero and
//!   SLI does not suppress it. A command ending with unit check before any
//!   transfer (command reject) and a status without channel end (busy)
//!   never indicate IL.
//! * **Chaining** proceeds only on CE and DE without UC, UE, ATTN or BUSY;
//!   with status modifier the next CCW is skipped (chaining continues at
//!   CCW + 16).
//! * **Suspend**: the S flag is acted on before any other check of the CCW
//!   (which is refetched and checked on resume). An S flag on a CCW reached
//!   by data chaining is a program check ([`CheckCause::SuspendInDataChain`]):
//!   suspension needs a command boundary.
//! * A **TIC** as the first CCW of a program (from the ORB or RESUME) is a
//!   program check, as is a TIC whose target is a TIC.
//! * **Read backward** (`xxxx1100`) is not supported: the engine ends the
//!   command as a command reject (CE|DE|UC, sense byte 0 = 0x80) without
//!   calling the device.
//! * **Address-limit checking** (ORB A with the PMCW limit mode) is not
//!   performed: the limit registers belong to the css.
//! * **Work bound**: at most [`Limits::max_idle_ccws`] consecutive CCWs (TICs
//!   included) that move no data, and [`Limits::max_ccws`] CCWs in all per
//!   start or resume (command-chained, data-chained and TICs); exceeding
//!   either is a program check ([`CheckCause::WorkLimit`]).

use crate::ccw::{Ccw, CcwFormat};
use crate::datastream::{cpa_after, DataStream, StreamOutcome, StreamStop};
use crate::device::{CcwDevice, DeviceResult, ProgramEnd, Sense};
use crate::fetch::{fetch_ccw, tic_target, validate_ccw, Ctx};
use crate::memory::GuestMemory;
use crate::orb::Orb;
use crate::status::{DeviceStatus, SubchannelStatus};

/// Bounds on the work of one start function, so that a looping channel
/// program cannot hang the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most consecutive CCWs that transfer no data (TICs included); the next
    /// one is a program check. Default 1024: a TIC loop ends after 1024
    /// TICs, while long control chains (hundreds of NOPs) still run.
    pub max_idle_ccws: u32,
    /// Most CCWs (command-chained, data-chained and TICs) per start or
    /// resume; the next one is a program check. Default 2^20: a looping
    /// program that moves data each time (READ + TIC) still ends, while a
    /// 65,536-CCW data program runs.
    pub max_ccws: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_idle_ccws: 1024,
            max_ccws: 1 << 20,
        }
    }
}

/// Why the channel subsystem ended a program with a program check or a
/// protection check (PoO chapter 16, "Program Check", "Protection Check").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckCause {
    /// A CCW address (ORB, TIC target, chaining) is not a multiple of 8.
    CcwAddressSpecification,
    /// A CCW lies beyond the format limit (2^24 / 2^31) or outside storage.
    InvalidCcwAddress,
    /// Command code with low four bits zero on a command-chained CCW.
    InvalidCommandCode,
    /// Count zero where not allowed (format 0; format 1 with data chaining).
    InvalidCount,
    /// Format-1 TIC with non-zero bits 0–3 or 8–31.
    InvalidTic,
    /// A TIC designates another TIC.
    TicToTic,
    /// The first CCW of the program is a TIC.
    FirstCcwTic,
    /// MIDA flag without ORB D, or with IDA or skip.
    InvalidFlags,
    /// S flag while the ORB S bit is zero.
    SuspendNotAllowed,
    /// S flag on a CCW reached by data chaining.
    SuspendInDataChain,
    /// Format-1 data address with bit 0 set, data beyond the format limit,
    /// or data outside storage.
    InvalidDataAddress,
    /// IDAL or MIDAL address misaligned (4, 8 or 16).
    IdawAddressSpecification,
    /// IDAW or MIDAW outside storage, or IDAL/MIDAL address with bit 0 set.
    InvalidIdawAddress,
    /// Format-1 IDAW with bit 0 set, or a non-first IDAW not on a block boundary.
    InvalidIdaw,
    /// MIDAW with reserved bits, zero count, counts not matching the CCW
    /// count, or crossing a 4K boundary without skip.
    InvalidMidaw,
    /// The work bound of [`Limits`] was exceeded.
    WorkLimit,
    /// Key-controlled protection on a CCW fetch.
    CcwProtection,
    /// Key-controlled protection on an IDAW or MIDAW fetch.
    IdawProtection,
    /// Key-controlled protection on a data access.
    DataProtection,
}

impl CheckCause {
    /// Whether this is a protection check (else a program check).
    #[must_use]
    pub const fn is_protection(self) -> bool {
        matches!(self, Self::CcwProtection | Self::IdawProtection | Self::DataProtection)
    }

    /// The subchannel-status bit this cause sets.
    #[must_use]
    pub const fn status(self) -> SubchannelStatus {
        if self.is_protection() {
            SubchannelStatus::new().with_protection_check(true)
        } else {
            SubchannelStatus::new().with_program_check(true)
        }
    }
}

/// How the start function ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ending {
    /// The chain ended with the device's status (normal, unit check, unit
    /// exception, incorrect length, busy, …).
    Completed,
    /// The channel subsystem detected a check (program, protection) and
    /// ended the operation; [`Completion::check`] names it.
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
    /// CCWs fetched and acted on (command-chained, data-chained, TICs).
    pub ccws: u32,
    /// The cause of a program or protection check ([`Ending::Checked`]).
    pub check: Option<CheckCause>,
}

/// Callbacks from the engine to the channel subsystem.
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

/// The channel-program interpreter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Engine {
    /// Work bounds.
    pub limits: Limits,
}

/// Per-run counters.
struct Run {
    ccws: u32,
    idle: u32,
    pci: bool,
    /// Status of the last command executed (for a stop between CCWs).
    dstat: DeviceStatus,
    /// Last CCW used and its residual (for a stop between CCWs).
    last: Option<(u64, u16)>,
}

impl Run {
    fn cstat(&self) -> SubchannelStatus {
        SubchannelStatus::new().with_pci(self.pci)
    }

    fn done(&self, cpa: u32, count: u16, dstat: DeviceStatus, cstat: SubchannelStatus, ending: Ending) -> Completion {
        Completion {
            cpa,
            count,
            dstat,
            cstat: SubchannelStatus::from_bits(cstat.into_bits() | self.cstat().into_bits()),
            ending,
            sense: None,
            ccws: self.ccws,
            check: None,
        }
    }

    fn checked(&self, cause: CheckCause, cpa: u32, count: u16, res: Option<DeviceResult>) -> Completion {
        Completion {
            sense: res.and_then(|r| r.sense),
            check: Some(cause),
            ..self.done(
                cpa,
                count,
                res.map_or(DeviceStatus::new(), |r| r.status),
                cause.status(),
                Ending::Checked,
            )
        }
    }
}

impl Engine {
    /// An engine with the given work bounds.
    #[must_use]
    pub const fn new(limits: Limits) -> Self {
        Self { limits }
    }

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
    /// `ccw_addr` (the suspended CCW, `Completion::cpa - 8`). If its S flag is
    /// still one the program suspends again.
    pub fn resume(
        &self,
        mem: &dyn GuestMemory,
        orb: &Orb,
        ccw_addr: u32,
        dev: &mut dyn CcwDevice,
        hooks: &mut dyn EngineHooks,
    ) -> Completion {
        dev.program_start();
        let c = self.run(mem, orb, ccw_addr, dev, hooks);
        dev.program_end(match c.ending {
            Ending::Completed => ProgramEnd::Completed,
            Ending::Checked => ProgramEnd::Terminated,
            Ending::Suspended => ProgramEnd::Suspended,
            Ending::Stopped(how) => how,
        });
        tracing::trace!(
            cpa = c.cpa,
            count = c.count,
            dstat = c.dstat.into_bits(),
            cstat = c.cstat.into_bits(),
            ccws = c.ccws,
            "channel program ended: {:?}",
            c.ending
        );
        c
    }

    fn run(
        &self,
        mem: &dyn GuestMemory,
        orb: &Orb,
        first: u32,
        dev: &mut dyn CcwDevice,
        hooks: &mut dyn EngineHooks,
    ) -> Completion {
        let ctx = Ctx::new(orb, self.limits);
        let mut r = Run {
            ccws: 0,
            idle: 0,
            pci: false,
            dstat: DeviceStatus::new(),
            last: None,
        };
        let mut addr = u64::from(first);
        let mut first_ccw = true;
        let mut via_tic = false;
        loop {
            if let Some((last, residual)) = r.last {
                if !via_tic {
                    if let Some(how) = hooks.stop_requested() {
                        return r.done(cpa_after(last), residual, r.dstat, r.cstat(), Ending::Stopped(how));
                    }
                }
            }
            if r.ccws >= ctx.limits.max_ccws || r.idle >= ctx.limits.max_idle_ccws {
                return r.checked(CheckCause::WorkLimit, cpa_after(addr), 0, None);
            }
            r.ccws += 1;
            let ccw = match fetch_ccw(mem, &ctx, addr) {
                Ok(c) => c,
                Err(cause) => return r.checked(cause, cpa_after(addr), 0, None),
            };
            tracing::trace!(
                addr,
                cmd = ccw.cmd,
                flags = ccw.flags.into_bits(),
                count = ccw.count,
                cda = ccw.cda,
                "ccw"
            );
            if ccw.is_tic() {
                let bad = if first_ccw {
                    Some(CheckCause::FirstCcwTic)
                } else if via_tic {
                    Some(CheckCause::TicToTic)
                } else {
                    None
                };
                match bad.map_or_else(|| tic_target(&ctx, &ccw), Err) {
                    Ok(target) => {
                        r.idle = r.idle.saturating_add(1);
                        via_tic = true;
                        addr = target;
                        continue;
                    }
                    Err(cause) => return r.checked(cause, cpa_after(addr), 0, None),
                }
            }
            first_ccw = false;
            via_tic = false;
            if ccw.cmd & 0x0f == 0 {
                return r.checked(CheckCause::InvalidCommandCode, cpa_after(addr), ccw.count, None);
            }
            if ccw.flags.suspend() {
                if !ctx.suspend {
                    return r.checked(CheckCause::SuspendNotAllowed, cpa_after(addr), ccw.count, None);
                }
                if hooks.resume_pending() {
                    // Resume pending: the flag is not honoured this time.
                    tracing::trace!(addr, "suspend flag passed: resume pending");
                } else {
                    return r.done(
                        cpa_after(addr),
                        ccw.count,
                        DeviceStatus::new(),
                        SubchannelStatus::new(),
                        Ending::Suspended,
                    );
                }
            }
            if let Err(cause) = validate_ccw(&ctx, &ccw, false) {
                return r.checked(cause, cpa_after(addr), ccw.count, None);
            }
            if ccw.is_read_backward() {
                return Completion {
                    sense: DeviceResult::COMMAND_REJECT.sense,
                    ..r.done(
                        cpa_after(addr),
                        ccw.count,
                        DeviceResult::COMMAND_REJECT.status,
                        SubchannelStatus::new(),
                        Ending::Completed,
                    )
                };
            }
            if ccw.flags.pci() {
                r.pci = true;
                hooks.pci(cpa_after(addr));
            }
            let budget = ctx.limits.max_ccws.saturating_sub(r.ccws);
            let (res, out) = execute(mem, &mut *hooks, ctx, addr, &ccw, dev, budget);
            r.ccws = r.ccws.saturating_add(out.ccws);
            r.pci |= out.pci;
            if out.moved > 0 {
                r.idle = 0;
            } else {
                r.idle = r.idle.saturating_add(1);
            }
            match (out.stop, res) {
                (Some(StreamStop::Check { cause, cpa, count }), res) => return r.checked(cause, cpa, count, res),
                (Some(StreamStop::Stopped(how)), res) => {
                    let dstat = res.map_or(DeviceStatus::new(), |d| d.status);
                    return r.done(
                        cpa_after(out.ccw_addr),
                        out.residual,
                        dstat,
                        r.cstat(),
                        Ending::Stopped(how),
                    );
                }
                (None, None) => {
                    // Unreachable: the device is called whenever the stream
                    // did not fail; treated as a check for robustness.
                    return r.checked(
                        CheckCause::InvalidDataAddress,
                        cpa_after(out.ccw_addr),
                        out.residual,
                        None,
                    );
                }
                (None, Some(res)) => {
                    let st = res.status;
                    // Length is judged at channel end; without CE (busy) there is none.
                    // A command rejected before any transfer (UC, stream
                    // untouched) has no length to judge either.
                    let rejected = st.unit_check() && !out.touched;
                    let il = st.channel_end() && !rejected && incorrect_length(&ctx, &out);
                    let unusual = st.unit_check() || st.unit_exception() || st.attention() || st.busy();
                    let chain = out.ccw.flags.cc() && !il && !unusual && st.channel_end() && st.device_end();
                    if !chain {
                        return Completion {
                            sense: res.sense,
                            ..r.done(
                                cpa_after(out.ccw_addr),
                                out.residual,
                                st,
                                SubchannelStatus::new().with_incorrect_length(il),
                                Ending::Completed,
                            )
                        };
                    }
                    r.dstat = st;
                    r.last = Some((out.ccw_addr, out.residual));
                    addr = out.ccw_addr + if st.status_modifier() { 16 } else { 8 };
                }
            }
        }
    }
}

/// Sends one command to the device through a fresh stream. The device is not
/// called when the stream failed while setting up (first IDAW/MIDAW).
fn execute(
    mem: &dyn GuestMemory,
    hooks: &mut dyn EngineHooks,
    ctx: Ctx,
    addr: u64,
    ccw: &Ccw,
    dev: &mut dyn CcwDevice,
    budget: u32,
) -> (Option<DeviceResult>, StreamOutcome) {
    let mut s = DataStream::new(mem, hooks, ctx, addr, *ccw, budget);
    s.open();
    let res = if s.failed() {
        None
    } else {
        Some(dev.execute(ccw, &mut s))
    };
    (res, s.finish())
}

/// Whether the ending of a command is an incorrect-length condition that
/// SLI (or the immediate-operation rules) do not suppress.
fn incorrect_length(ctx: &Ctx, out: &StreamOutcome) -> bool {
    let f = out.ccw.flags;
    let sli = f.sli() && !f.cd();
    if !out.touched {
        return ctx.format == CcwFormat::Format1 && !ctx.ils && out.ccw.count != 0 && !sli;
    }
    (out.residual != 0 || out.wanted_more) && !sli
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
