//! Running one trace statement on a machine: the one place that says what
//! each statement does to the machine. Replay ([`super::replay`]) judges
//! what it gave against the trace; the snapshot property test
//! ([`run_statements`](crate::machine::snapshot::run_statements)) compares
//! it between an uninterrupted run and one restored from a snapshot.
//!
//! What runs (`docs/trace-format.md`): `store` and the storing symbolic
//! statements (CCW, ORB, IDAL, MIDAW) put their bytes in guest storage; an
//! instruction executes; an `expect` (bytes or symbolic `expect irb|schib`)
//! reads the storage it compares; `wait` lets asynchronous work finish;
//! the host events — a `device` after the trace's first instruction (a hot
//! plug), `detach`, `reset`, `console-input`, `unsolicited` — act on the
//! machine; `skey` sets a storage key. The
//! header, `machine` and the `device` statements before the first
//! instruction built the machine and do nothing here.

use std::path::Path;

use zcss_ccw::AccessError;

use super::ast::{Outcome, Statement, Trace};
use super::symbolic::stored_len;
use crate::machine::{Machine, MachineError};

/// Upper bound on the wait for asynchronous device work (a `wait`).
pub const WAIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What running one statement did.
#[derive(Debug)]
pub enum Executed {
    /// Nothing ran: the header, `machine`, a `device` of the starting
    /// configuration.
    Nothing,
    /// An instruction's result.
    Insn(Outcome),
    /// A `store`, or a storing symbolic statement (CCW, ORB, IDAL, MIDAW):
    /// whether the bytes were in guest storage.
    Stored(Result<(), AccessError>),
    /// The storage an `expect` compares: the pattern's length at its
    /// address, or the IRB (64 bytes) or SCHIB of an `expect irb|schib`.
    Fetched(Result<Vec<u8>, AccessError>),
    /// A host event (hot plug, `detach`, `reset`, `console-input`).
    Host(Result<(), MachineError>),
    /// Whether a `wait` saw the asynchronous work finish within
    /// [`WAIT_TIMEOUT`].
    Waited(bool),
}

/// Runs the statements of one trace, in order, on one machine, keeping
/// what decides their meaning: whether an instruction ran yet (a `device`
/// after it is a hot plug). Image paths of hot-plugged devices are
/// relative to `base`.
#[derive(Debug, Clone, Copy)]
pub struct Executor<'a> {
    base: &'a Path,
    started: bool,
}

impl<'a> Executor<'a> {
    /// For a run from the start of a trace.
    #[must_use]
    pub fn new(base: &'a Path) -> Self {
        Self { base, started: false }
    }

    /// For a run that goes on at line index `idx` of `trace`, the
    /// statements before it having run.
    #[must_use]
    pub fn at(trace: &Trace, idx: usize, base: &'a Path) -> Self {
        let before = &trace.lines[..idx.min(trace.lines.len())];
        Self {
            base,
            started: before.iter().any(|l| matches!(l.stmt, Some(Statement::Insn(_)))),
        }
    }

    /// Whether an instruction ran: a `device` now is a hot plug.
    #[must_use]
    pub fn started(&self) -> bool {
        self.started
    }

    /// Runs `stmt` on `m`.
    pub fn step(&mut self, m: &mut Machine, stmt: &Statement) -> Executed {
        match stmt {
            Statement::Header(_) | Statement::Machine(_) => Executed::Nothing,
            Statement::Device(_) | Statement::Detach(_) => self.step_device_set(m, stmt),
            Statement::Reset => {
                m.reset();
                Executed::Host(Ok(()))
            }
            Statement::ConsoleInput { sch, data } => Executed::Host(m.console_input(*sch, &data.bytes)),
            Statement::Unsolicited { sch, dstat, sense } => Executed::Host(m.unsolicited(
                *sch,
                u8::try_from(dstat.value).unwrap_or(0),
                sense.as_ref().map(|s| s.bytes.as_slice()),
            )),
            Statement::Skey { addr, key } => {
                Executed::Stored(m.set_storage_key(addr.value, u8::try_from(key.value).unwrap_or(0)))
            }
            Statement::Store { addr, data } => Executed::Stored(m.mem.store(addr.value, &data.bytes)),
            Statement::Expect { addr, data } => Executed::Fetched(m.mem.fetch(addr.value, data.bytes.len())),
            Statement::Insn(s) => {
                self.started = true;
                Executed::Insn(m.execute(&s.insn))
            }
            Statement::Symbolic(s) => match s.bytes() {
                Some(b) => Executed::Stored(m.mem.store(s.addr.value, &b)),
                None => Executed::Fetched(m.mem.fetch(s.addr.value, stored_len(s.kind))),
            },
            Statement::Wait => Executed::Waited(m.wait(WAIT_TIMEOUT)),
        }
    }

    /// Runs only what changes the machine's set of devices — a hot plug
    /// (a `device` after the first instruction) and `detach` — and notes
    /// an instruction without running it. Run over the statements before a
    /// position, this gives a freshly built machine the devices the trace
    /// has there, to restore a snapshot taken there into
    /// ([`restore_target`](crate::machine::snapshot::restore_target)).
    pub fn step_device_set(&mut self, m: &mut Machine, stmt: &Statement) -> Executed {
        match stmt {
            Statement::Device(d) if self.started => Executed::Host(m.hot_plug(d, self.base)),
            Statement::Detach(sch) => Executed::Host(m.detach(*sch)),
            Statement::Insn(_) => {
                self.started = true;
                Executed::Nothing
            }
            _ => Executed::Nothing,
        }
    }
}

/// The name of a host event's statement, for messages (`hot-plug`,
/// `detach`, `reset`, `console-input`); `None` for other statements.
#[must_use]
pub fn host_event_name(stmt: &Statement) -> Option<&'static str> {
    match stmt {
        Statement::Device(_) => Some("hot-plug"),
        Statement::Detach(_) => Some("detach"),
        Statement::Reset => Some("reset"),
        Statement::ConsoleInput { .. } => Some("console-input"),
        Statement::Unsolicited { .. } => Some("unsolicited"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::parse;

    const TRACE: &str = "zcss-trace 1\n\
        device fe.0.0000 devno=0000 virtio-rng\n\
        stsch 0x00010000 0x1000 => cc=0\n\
        device fe.0.0001 devno=0001 virtio-console\n\
        console-input fe.0.0001 6869\n\
        detach fe.0.0001\n\
        stsch 0x00010001 0x1000 => cc=3\n";

    #[test]
    fn at_after_first_instruction_is_started() {
        let t = parse(TRACE).unwrap();
        assert!(!Executor::at(&t, 2, Path::new(".")).started());
        assert!(Executor::at(&t, 3, Path::new(".")).started());
    }

    #[test]
    fn step_device_after_first_instruction_hot_plugs_and_detach_unplugs() {
        let t = parse(TRACE).unwrap();
        let mut m = Machine::from_trace(&t, Path::new(".")).unwrap();
        let mut x = Executor::new(Path::new("."));
        let got: Vec<String> = t
            .lines
            .iter()
            .filter_map(|l| l.stmt.as_ref())
            .map(|s| format!("{:?}", x.step(&mut m, s)))
            .collect();
        assert_eq!(got[1], "Nothing", "a device of the starting configuration");
        assert_eq!(got[3], "Host(Ok(()))", "hot plug");
        assert_eq!(got[4], "Host(Ok(()))", "console input to the plugged console");
        assert_eq!(got[5], "Host(Ok(()))", "detach");
        assert_eq!(got[6], format!("{:?}", Executed::Insn(Outcome::Cc(3))));
    }

    #[test]
    fn step_device_set_runs_no_instruction() {
        let t = parse(TRACE).unwrap();
        let mut m = Machine::from_trace(&t, Path::new(".")).unwrap();
        let mut x = Executor::new(Path::new("."));
        for s in t.lines.iter().filter_map(|l| l.stmt.as_ref()).take(4) {
            x.step_device_set(&mut m, s);
        }
        assert!(x.started());
        assert!(m.css.has_device(zcss_ccw::sid::SubchannelId {
            cssid: 0xfe,
            ssid: 0,
            schno: 1
        }));
        assert_eq!(m.mem.fetch(0x1000, 4).unwrap(), vec![0; 4], "STSCH not run");
    }
}
