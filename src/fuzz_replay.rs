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
use crate::trace::{Insn, Outcome, Statement, Trace};

/// Runs `trace` (image paths relative to `base`) and checks the harness's
/// invariants after every instruction. Returns the instructions run.
///
/// # Errors
/// The line and the invariant that broke, or why the machine cannot be built.
pub fn replay_checked(trace: &Trace, base: &Path) -> Result<usize, String> {
    let m = Machine::from_trace(trace, base).map_err(|(line, e)| format!("line {line}: {e}"))?;
    let mut insns = 0;
    for (idx, l) in trace.lines.iter().enumerate() {
        let line = idx + 1;
        match &l.stmt {
            Some(Statement::Store { addr, data }) => {
                m.mem
                    .store(addr.value, &data.bytes)
                    .map_err(|e| format!("line {line}: {e}"))?;
            }
            Some(Statement::Insn(s)) => {
                insns += 1;
                let outcome = m.execute(&s.insn);
                m.css.check_invariants().map_err(|e| format!("line {line}: {e}"))?;
                if let (Insn::Tsch { irb, .. }, Outcome::Cc(0)) = (s.insn, outcome) {
                    let b = m
                        .mem
                        .fetch(irb.value, Scsw::LEN)
                        .map_err(|e| format!("line {line}: {e}"))?;
                    let scsw = Scsw::decode(&b).ok_or_else(|| format!("line {line}: short IRB"))?;
                    zcss_css::fuzz::check_scsw(&scsw, None).map_err(|e| format!("line {line}: {e}"))?;
                }
            }
            Some(Statement::Wait) => {
                let _ = m.wait(std::time::Duration::from_secs(5));
            }
            _ => {}
        }
    }
    Ok(insns)
}
