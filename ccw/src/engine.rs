//! The channel-program engine: interprets the start function of one
//! subchannel against a [`CcwDevice`] (Principles of Operation, chapter 15,
//! "Execution of I/O Operations", "Chaining", "Transfer in Channel",
//! "Suspension of Channel-Program Execution", "Program-Controlled Interruption";
//! chapter 16, "Subchannel Status" and "CCW-Address Field").
//!
//! # Contract
//! The channel subsystem calls [`Engine::start`] for a start function and
//! [`Engine::resume`] for a resume function, each on the path (LPUM) the
//! subchannel chose, with its [`EngineHooks`] (PCI, stop requests). The
//! engine returns a [`Completion`]: the SCSW-relevant outcome, how the
//! program ended ([`Ending`]), the check cause, the sense data and the CCW
//! count. The device sees [`CcwDevice::program_start`] (with the LPUM),
//! one [`CcwDevice::execute`] per command and [`CcwDevice::program_end`].
//! CCW fetching, the TIC rules, the CCW checks and the work bound are the
//! [`ProgramWalker`]'s; data movement is the [`DataStream`]'s. The engine
//! adds what needs a device: execution, status, chaining decisions,
//! incorrect length, suspension and PCI.
//!
//! # Program trace
//! A program's course is told as `tracing` events at TRACE level, in
//! order, on the thread that runs it: `ccw` (the walker, for every CCW
//! fetched, TICs included: `addr`, `cmd`, `flags`, `count`, `cda`, `how`),
//! `command` (after each command: `ccw`, the address of the last CCW it
//! used; `moved` bytes; `residual`; `dstat`) and `channel program ended`
//! (`cpa`, `count`, `dstat`, `cstat`, `ccws`, `ending`, `check`). `zcss
//! replay --verbose` lists the program from them.
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
//! * **Suspend**: the S flag is acted on before any check of the CCW other
//!   than its command code (the CCW is refetched and checked on resume). An S flag on a CCW reached
//!   by data chaining is a program check ([`CheckCause::SuspendInDataChain`]):
//!   suspension needs a command boundary.
//! * A **TIC** as the first CCW of a program (from the ORB or RESUME) is a
//!   program check, as is a TIC whose target is a TIC.
//! * **Read backward** (`xxxx1100`) is not supported: the engine ends the
//!   command as a command reject (CE|DE|UC, sense byte 0 = 0x80) without
//!   calling the device.
//! * **Address-limit checking** (ORB A with the PMCW limit mode) is not
//!   performed: the limit registers belong to the css.
//! * **Work bound**: the architecture limits no channel program; only a
//!   program that loops (a fetch came back within the addresses it already fetched)
//!   is bounded: at most [`Limits::max_idle_ccws`] consecutive CCWs (TICs
//!   included) that move no data in a run that looped, and
//!   [`Limits::max_ccws`] CCWs in all per start or resume of a program that
//!   looped (command-chained, data-chained and TICs), counted by the one
//!   [`ProgramWalker`] of the start function; exceeding either is a program
//!   check ([`CheckCause::WorkLimit`]) and a `tracing` warning. A
//!   straight-line chain of any length runs to its end.

use crate::address::CcwAddress;
use crate::ccw::CcwFormat;
use crate::check::CheckCause;
use crate::datastream::{DataStream, StreamOutcome, StreamStop};
use crate::device::{CcwDevice, DeviceResult, Sense};
use crate::hooks::{EngineHooks, ProgramEnd};
use crate::memory::GuestMemory;
use crate::orb::Orb;
use crate::status::{DeviceStatus, SubchannelStatus};
use crate::walker::{cpa_after, Limits, ProgramControls, ProgramWalker, WalkedCcw};

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

/// The channel-program interpreter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Engine {
    /// Work bounds.
    pub limits: Limits,
}

/// Per-run state besides the walker.
struct Run {
    pci: bool,
    /// Status of the last command executed (for a stop between CCWs).
    dstat: DeviceStatus,
    /// Last CCW used and its residual (for a stop between CCWs).
    last: Option<(u32, u16)>,
}

impl Run {
    fn cstat(&self) -> SubchannelStatus {
        SubchannelStatus::new().with_pci(self.pci)
    }

    fn done(
        &self,
        walker: &ProgramWalker,
        cpa: u32,
        count: u16,
        dstat: DeviceStatus,
        cstat: SubchannelStatus,
        ending: Ending,
    ) -> Completion {
        Completion {
            cpa,
            count,
            dstat,
            cstat: SubchannelStatus::from_bits(cstat.into_bits() | self.cstat().into_bits()),
            ending,
            sense: None,
            ccws: walker.ccws(),
            check: None,
        }
    }

    fn checked(
        &self,
        walker: &ProgramWalker,
        cause: CheckCause,
        cpa: u32,
        count: u16,
        res: Option<DeviceResult>,
    ) -> Completion {
        if cause == CheckCause::WorkLimit {
            let l = walker.limits();
            let bound = if walker.ccws() >= l.max_ccws {
                format!("max_ccws = {} CCWs in a looping program", l.max_ccws)
            } else {
                format!(
                    "max_idle_ccws = {} CCWs without data transfer in a loop (trace key ccw-loop-limit)",
                    l.max_idle_ccws
                )
            };
            tracing::warn!(
                cpa,
                ccws = walker.ccws(),
                "channel program ended by the work bound {bound}: program check (a TIC loop; see zcss_ccw::Limits)"
            );
        }
        Completion {
            sense: res.and_then(|r| r.sense),
            check: Some(cause),
            ..self.done(
                walker,
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

    /// Runs the start function described by `orb` (already validated) on
    /// the channel path `lpum` (one bit, e.g. `0x80`). The first CCW is
    /// fetched at the ORB channel-program address.
    pub fn start(
        &self,
        mem: &dyn GuestMemory,
        orb: &Orb,
        lpum: u8,
        dev: &mut dyn CcwDevice,
        hooks: &mut dyn EngineHooks,
    ) -> Completion {
        self.resume(mem, orb, CcwAddress::new(orb.cpa), lpum, dev, hooks)
    }

    /// Resumes a suspended program (RESUME SUBCHANNEL) on the channel path
    /// `lpum` by refetching the CCW at `ccw_addr` (the suspended CCW:
    /// [`CcwAddress::before_scsw_cpa`] of the SCSW CCW address). If its S
    /// flag is still one the program suspends again. Like any CCW address,
    /// `ccw_addr` is checked when the CCW is fetched.
    pub fn resume(
        &self,
        mem: &dyn GuestMemory,
        orb: &Orb,
        ccw_addr: CcwAddress,
        lpum: u8,
        dev: &mut dyn CcwDevice,
        hooks: &mut dyn EngineHooks,
    ) -> Completion {
        dev.program_start(lpum);
        let c = self.run(mem, orb, ccw_addr, dev, hooks);
        dev.program_end(match c.ending {
            Ending::Completed => ProgramEnd::Completed,
            Ending::Checked => ProgramEnd::Terminated,
            Ending::Suspended => ProgramEnd::Suspended,
            Ending::Stopped(how) => how,
        });
        // Unit check (0x02) or any channel status: what a person debugging
        // a guest looks for first, at DEBUG; every other ending at TRACE.
        // (`replay --verbose` reads these fields: keep the message.)
        macro_rules! ended {
            ($level:expr) => {
                tracing::event!(
                    $level,
                    cpa = format_args!("{:#x}", c.cpa),
                    count = c.count,
                    dstat = format_args!("{:#04x}", c.dstat.into_bits()),
                    cstat = format_args!("{:#04x}", c.cstat.into_bits()),
                    ccws = c.ccws,
                    ending = ?c.ending,
                    check = ?c.check,
                    "channel program ended"
                )
            };
        }
        if c.dstat.into_bits() & 0x02 != 0 || c.cstat.into_bits() != 0 {
            ended!(tracing::Level::DEBUG);
        } else {
            ended!(tracing::Level::TRACE);
        }
        c
    }

    fn run(
        &self,
        mem: &dyn GuestMemory,
        orb: &Orb,
        first: CcwAddress,
        dev: &mut dyn CcwDevice,
        hooks: &mut dyn EngineHooks,
    ) -> Completion {
        let controls = ProgramControls::from_orb(orb);
        let mut walker = ProgramWalker::new(controls, self.limits, first);
        let mut r = Run {
            pci: false,
            dstat: DeviceStatus::new(),
            last: None,
        };
        loop {
            if let Some((cpa, residual)) = r.last {
                if let Some(how) = hooks.stop_requested() {
                    return r.done(&walker, cpa, residual, r.dstat, r.cstat(), Ending::Stopped(how));
                }
            }
            let w = match walker.next(mem) {
                Ok(w) => w,
                Err(c) => return r.checked(&walker, c.cause, c.cpa(), c.count, None),
            };
            let cpa = w.scsw_cpa();
            if w.ccw.flags.suspend() {
                // The walker let the S flag through: ORB S is one and this
                // is a command boundary.
                if hooks.resume_pending() {
                    // Resume pending: the flag is not honoured this time.
                    tracing::trace!(cpa = format_args!("{cpa:#x}"), "suspend flag passed: resume pending");
                } else {
                    return r.done(
                        &walker,
                        cpa,
                        w.ccw.count,
                        DeviceStatus::new(),
                        SubchannelStatus::new(),
                        Ending::Suspended,
                    );
                }
            }
            if w.ccw.is_read_backward() {
                return Completion {
                    sense: DeviceResult::COMMAND_REJECT.sense,
                    ..r.done(
                        &walker,
                        cpa,
                        w.ccw.count,
                        DeviceResult::COMMAND_REJECT.status,
                        SubchannelStatus::new(),
                        Ending::Completed,
                    )
                };
            }
            if w.ccw.flags.pci() {
                r.pci = true;
                hooks.pci(cpa);
            }
            let (res, out) = execute(mem, &mut *hooks, &mut walker, &w, dev);
            tracing::trace!(
                ccw = out.ccw_addr.get(),
                moved = out.moved,
                residual = out.residual,
                dstat = res.map_or(0, |d| d.status.into_bits()),
                "command"
            );
            r.pci |= out.pci;
            if out.moved > 0 {
                walker.data_moved();
            }
            let end_cpa = cpa_after(out.ccw_addr);
            match (out.stop, res) {
                (Some(StreamStop::Check { cause, cpa, count }), res) => {
                    return r.checked(&walker, cause, cpa, count, res)
                }
                (Some(StreamStop::Stopped(how)), res) => {
                    let dstat = res.map_or(DeviceStatus::new(), |d| d.status);
                    return r.done(&walker, end_cpa, out.residual, dstat, r.cstat(), Ending::Stopped(how));
                }
                (None, None) => {
                    // Unreachable: the device is called whenever the stream
                    // did not fail; treated as a check for robustness.
                    return r.checked(&walker, CheckCause::InvalidDataAddress, end_cpa, out.residual, None);
                }
                (None, Some(res)) => {
                    let st = res.status;
                    // Length is judged at channel end; without CE (busy) there is none.
                    // A command rejected before any transfer (UC, stream
                    // untouched) has no length to judge either.
                    let rejected = st.unit_check() && !out.touched;
                    let il = st.channel_end() && !rejected && incorrect_length(walker.controls(), &out);
                    let unusual = st.unit_check() || st.unit_exception() || st.attention() || st.busy();
                    let chain = out.ccw.flags.cc() && !il && !unusual && st.channel_end() && st.device_end();
                    if !chain {
                        return Completion {
                            sense: res.sense,
                            ..r.done(
                                &walker,
                                end_cpa,
                                out.residual,
                                st,
                                SubchannelStatus::new().with_incorrect_length(il),
                                Ending::Completed,
                            )
                        };
                    }
                    r.dstat = st;
                    r.last = Some((end_cpa, out.residual));
                    walker.chain_command(st.status_modifier());
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
    walker: &mut ProgramWalker,
    first: &WalkedCcw,
    dev: &mut dyn CcwDevice,
) -> (Option<DeviceResult>, StreamOutcome) {
    let mut s = DataStream::new(mem, walker, hooks, first);
    s.open();
    let res = if s.failed() {
        None
    } else {
        Some(dev.execute(&first.ccw, &mut s))
    };
    (res, s.finish())
}

/// Whether the ending of a command is an incorrect-length condition that
/// SLI (or the immediate-operation rules) do not suppress.
fn incorrect_length(controls: &ProgramControls, out: &StreamOutcome) -> bool {
    let f = out.ccw.flags;
    let sli = f.sli() && !f.cd();
    if !out.touched {
        return controls.format == CcwFormat::Format1 && !controls.ils && out.ccw.count != 0 && !sli;
    }
    (out.residual != 0 || out.wanted_more) && !sli
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
