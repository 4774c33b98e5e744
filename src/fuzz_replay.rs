//! Replaying a fuzz finding with the harness's invariants (the
//! `zcss_css::fuzz` harness): a trace printed by `cargo fuzz fmt` runs
//! statement by statement on the machine it names, and after every
//! instruction the channel subsystem's state invariants
//! (`Css::check_invariants`: status pending ⇔ exactly one queued
//! interruption; no activity without a function) and, after each TEST
//! SUBCHANNEL that stores status, the architected consistency of the SCSW
//! ([`zcss_css::fuzz::check_scsw`]) are checked. `zcss replay` checks a
//! trace's results; this checks what the harness checks, so a regression
//! test built from a finding fails the way the fuzzer did.

use std::path::Path;

use zcss_ccw::scsw::Scsw;

use crate::machine::Machine;
use crate::trace::exec::{Executed, Executor};
use crate::trace::{Insn, Outcome, Statement, Trace};

/// Runs `trace` (image paths relative to `base`) and checks the harness's
/// invariants after every instruction and host event. Returns the
/// instructions run.
///
/// # Errors
/// The line and the invariant that broke, or why the machine cannot be built.
pub fn replay_checked(trace: &Trace, base: &Path) -> Result<usize, String> {
    let mut m = Machine::from_trace(trace, base).map_err(|(line, e)| format!("line {line}: {e}"))?;
    let mut x = Executor::new(base);
    let mut insns = 0;
    for (line, stmt) in trace.statements() {
        let done = x.step(&mut m, stmt);
        match (&done, stmt) {
            (Executed::Insn(outcome), Statement::Insn(s)) => {
                insns += 1;
                if let (Insn::Tsch { irb, .. }, Outcome::Cc(0)) = (s.insn, outcome) {
                    let b = m
                        .mem
                        .fetch(irb.value, Scsw::LEN)
                        .map_err(|e| format!("line {line}: {e}"))?;
                    let scsw = Scsw::decode(&b).ok_or_else(|| format!("line {line}: short IRB"))?;
                    zcss_css::fuzz::check_scsw(&scsw, None).map_err(|e| format!("line {line}: {e}"))?;
                }
            }
            (Executed::Host(_) | Executed::Waited(_), _) => {}
            _ => continue,
        }
        m.css.check_invariants().map_err(|e| format!("line {line}: {e}"))?;
    }
    Ok(insns)
}

/// Runs every statement of the trace `text` (image paths relative to
/// `base`) on the machine it names and compares guest storage afterwards
/// with `want` — the storage the fuzz harness left after running the
/// scenario the trace was printed from: the trace is what ran.
///
/// # Errors
/// The trace does not parse or build, or the first byte that differs.
pub fn check_replays_to(text: &str, base: &Path, want: &[u8]) -> Result<(), String> {
    let trace = crate::trace::parse(text).map_err(|e| e.to_string())?;
    let mut m = Machine::from_trace(&trace, base).map_err(|(line, e)| format!("line {line}: {e}"))?;
    let mut x = Executor::new(base);
    for (_, stmt) in trace.statements() {
        x.step(&mut m, stmt);
    }
    let got = m.mem.fetch(0, want.len()).map_err(|e| e.to_string())?;
    match got.iter().zip(want).position(|(g, w)| g != w) {
        None => Ok(()),
        Some(k) => Err(format!(
            "storage at {k:#x} is {:#04x} after the replay, {:#04x} after the harness",
            got[k], want[k]
        )),
    }
}

/// The harness's device maker for the device kind and keys of a trace's
/// `device` line (`mock replies=…`, `virtio-rng`, `dasd-3390 …`): the
/// device of subchannel `i` is built as replay builds the line
/// `device fe.0.000i devno=000i <kind_and_keys>`
/// ([`Machine::interpreted_device`]).
///
/// # Panics
/// When the kind and keys do not build (the maker is called by the
/// harness, whose findings are panics).
pub fn interpreted_devices(kind_and_keys: &str) -> impl FnMut(usize) -> zcss_css::fuzz::DeviceUnderTest + '_ {
    move |i| {
        let devno = u16::try_from(i).unwrap_or(0);
        match Machine::interpreted_device(kind_and_keys, devno) {
            Ok(d) => zcss_css::fuzz::DeviceUnderTest::Interpreted(d),
            Err(e) => panic!("device `{kind_and_keys}`: {e}"),
        }
    }
}
