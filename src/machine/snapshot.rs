//! Snapshot and restore of a [`Machine`]'s I/O state (the format is in
//! `docs/snapshot.md`): the channel subsystem's
//! ([`zcss_css::CssSnapshot`]), the simulated host's channel subsystem
//! when the machine has passthrough devices (the host DASD's path groups
//! and tracks), the position of the css clock (measurement times) and of
//! the virtio-rng entropy streams. Guest storage is not in it: it belongs
//! to the embedder, which saves it beside the snapshot (the tests copy
//! [`Machine::mem`]).
//!
//! [`run_statements`] runs a slice of a trace's statements on a machine and
//! returns what each one gave, so that a run split by a snapshot and
//! restore can be compared with an uninterrupted one; [`restore_target`]
//! builds the machine to restore into at a position after host events
//! (hot plug, detach) changed the devices.

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use zcss_css::{CssSnapshot, SnapshotError};

use super::{Machine, MachineError};
use crate::trace::exec::{Executed, Executor};
use crate::trace::{Outcome, Trace};

/// Name in [`MachineSnapshot::format`].
pub const MACHINE_SNAPSHOT_FORMAT: &str = "zcss-machine-snapshot";
/// The machine snapshot version this build writes and reads.
pub const MACHINE_SNAPSHOT_VERSION: u32 = 1;

/// The I/O state of a machine built from a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineSnapshot {
    /// Always [`MACHINE_SNAPSHOT_FORMAT`].
    pub format: String,
    /// [`MACHINE_SNAPSHOT_VERSION`].
    pub version: u32,
    /// The guest's channel subsystem.
    pub css: CssSnapshot,
    /// The simulated host's channel subsystem, for a machine with
    /// passthrough devices.
    pub host: Option<CssSnapshot>,
    /// The next reading of the css clock.
    pub clock: u64,
    /// The entropy streams of the virtio-rng devices, in device order.
    pub entropy: Vec<u64>,
}

impl MachineSnapshot {
    /// The snapshot as JSON.
    ///
    /// # Errors
    /// Not expected (the state is plain data).
    pub fn to_json(&self) -> Result<String, SnapshotError> {
        Ok(serde_json::to_string(self)?)
    }

    /// Parses a machine snapshot, checking its format and version first.
    ///
    /// # Errors
    /// [`SnapshotError::Format`], [`SnapshotError::Version`] or
    /// [`SnapshotError::Json`].
    pub fn from_json(text: &str) -> Result<Self, SnapshotError> {
        let v: serde_json::Value = serde_json::from_str(text)?;
        let format = v.get("format").and_then(serde_json::Value::as_str).unwrap_or("");
        if format != MACHINE_SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format(format.to_owned()));
        }
        let version = v.get("version").and_then(serde_json::Value::as_u64).unwrap_or(0);
        if version != u64::from(MACHINE_SNAPSHOT_VERSION) {
            return Err(SnapshotError::Version {
                found: version,
                supported: MACHINE_SNAPSHOT_VERSION,
            });
        }
        let mut v = v;
        // The parts are checked by their own parsers.
        let css = CssSnapshot::from_value(v["css"].take())?;
        let host = match v["host"].take() {
            serde_json::Value::Null => None,
            h => Some(CssSnapshot::from_value(h)?),
        };
        Ok(Self {
            format: MACHINE_SNAPSHOT_FORMAT.to_owned(),
            version: MACHINE_SNAPSHOT_VERSION,
            css,
            host,
            clock: v["clock"].as_u64().unwrap_or(0),
            entropy: serde_json::from_value(v["entropy"].take())?,
        })
    }
}

impl Machine {
    /// Saves the machine's I/O state (see the [module documentation](self)).
    /// Asynchronous work must be over: a passthrough function in flight is
    /// refused (after a trace's `wait` there is none).
    ///
    /// # Errors
    /// See [`Css::snapshot`](zcss_css::Css::snapshot).
    pub fn snapshot(&self) -> Result<MachineSnapshot, SnapshotError> {
        let css = self.css.snapshot()?;
        let host = self.sim_host.as_ref().map(|h| h.css().snapshot()).transpose()?;
        Ok(MachineSnapshot {
            format: MACHINE_SNAPSHOT_FORMAT.to_owned(),
            version: MACHINE_SNAPSHOT_VERSION,
            css,
            host,
            clock: self.clock.position(),
            entropy: self.entropy.iter().map(|e| e.load(Ordering::Relaxed)).collect(),
        })
    }

    /// Restores a snapshot into this machine, built from the same machine
    /// description (guest storage is restored by the caller).
    ///
    /// # Errors
    /// A snapshot of another machine (devices, passthrough host, rng
    /// count), or what [`Css::restore`](zcss_css::Css::restore) refuses.
    pub fn restore(&self, snap: &MachineSnapshot) -> Result<(), SnapshotError> {
        if snap.entropy.len() != self.entropy.len() || snap.host.is_some() != self.sim_host.is_some() {
            return Err(SnapshotError::Invalid(
                "a snapshot of a machine with other devices".into(),
            ));
        }
        if let (Some(h), Some(s)) = (&self.sim_host, &snap.host) {
            h.css().restore(s)?;
        }
        self.css.restore(&snap.css)?;
        self.clock.set_position(snap.clock);
        for (e, v) in self.entropy.iter().zip(&snap.entropy) {
            e.store(*v, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// What one statement gave when run by [`run_statements`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// An instruction's result.
    Insn(Outcome),
    /// Whether a `store` (or a storing symbolic statement: CCW, ORB, IDAL,
    /// MIDAW) was inside guest storage.
    Stored(bool),
    /// The bytes an `expect` compares (all of them, wildcards too; the
    /// whole IRB or SCHIB of an `expect irb|schib`); empty outside guest
    /// storage.
    Storage(Vec<u8>),
    /// A host event (hot plug, `detach`, `reset`, `console-input`): done,
    /// or why not.
    Host(Result<(), String>),
    /// Whether a `wait` saw the asynchronous work finish.
    Wait(bool),
}

/// Runs the statements of `trace` on lines `range` (0-based line
/// indices) on `m`, everything replay runs ([`Executor`]): stores
/// (symbolic ones too), instructions, `expect`s (the bytes there are read,
/// not judged), `wait`s and the host events (hot plug, `detach`, `reset`,
/// `console-input`). The statements before `range` are taken to have run
/// on `m` (a `device` after the first instruction is a hot plug). Image
/// paths of hot-plugged devices are relative to `base`. Returns the line
/// index and what it gave, for each statement that did something.
pub fn run_statements(m: &mut Machine, trace: &Trace, base: &Path, range: Range<usize>) -> Vec<(usize, Observed)> {
    let mut out = Vec::new();
    let end = range.end.min(trace.lines.len());
    let start = range.start.min(end);
    let mut exec = Executor::at(trace, start, base);
    for idx in start..end {
        let Some(stmt) = &trace.lines[idx].stmt else { continue };
        let o = match exec.step(m, stmt) {
            Executed::Nothing => continue,
            Executed::Insn(o) => Observed::Insn(o),
            Executed::Stored(r) => Observed::Stored(r.is_ok()),
            Executed::Fetched(r) => Observed::Storage(r.unwrap_or_default()),
            Executed::Host(r) => Observed::Host(r.map_err(|e| e.to_string())),
            Executed::Waited(w) => Observed::Wait(w),
        };
        out.push((idx, o));
    }
    out
}

/// A freshly built machine of `trace` with the devices the trace has
/// before line index `position`: the hot plugs (`device` after the first
/// instruction) and `detach`es before it are applied, nothing else runs.
/// A snapshot taken at `position` restores into it
/// ([`Machine::restore`]); the other host events (`reset`,
/// `console-input`) change only state the snapshot carries.
///
/// # Errors
/// The line (1-based) of the statement that cannot be built or applied,
/// and why.
pub fn restore_target(trace: &Trace, base: &Path, position: usize) -> Result<Machine, (usize, MachineError)> {
    let mut m = Machine::from_trace(trace, base)?;
    let mut exec = Executor::new(base);
    for (idx, l) in trace.lines.iter().enumerate().take(position) {
        let Some(stmt) = &l.stmt else { continue };
        if let Executed::Host(Err(e)) = exec.step_device_set(&mut m, stmt) {
            return Err((idx + 1, e));
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::parse;
    use zcss_ccw::sid::SubchannelId;

    const TRACE: &str = "zcss-trace 1\n\
        device fe.0.0000 devno=0000 virtio-rng\n\
        stsch fe.0.0000 0x1000 => cc=0\n\
        device fe.0.0001 devno=0001 virtio-console\n\
        console-input fe.0.0001 6869\n\
        detach fe.0.0000\n\
        reset\n\
        stsch fe.0.0001 0x1000 => cc=0\n";

    fn devices(m: &Machine) -> [bool; 2] {
        [0, 1].map(|schno| {
            m.css.has_device(SubchannelId {
                cssid: 0xfe,
                ssid: 0,
                schno,
            })
        })
    }

    #[test]
    fn restore_target_at_each_position_has_the_devices_of_the_run_there() {
        let t = parse(TRACE).unwrap();
        let base = Path::new(".");
        let mut run = Machine::from_trace(&t, base).unwrap();
        for p in 0..=t.lines.len() {
            let target = restore_target(&t, base, p).unwrap();
            assert_eq!(devices(&target), devices(&run), "before line {}", p + 1);
            assert_eq!(target.mem.fetch(0x1000, 4).unwrap(), vec![0; 4], "no instruction ran");
            run_statements(&mut run, &t, base, p..p + 1);
        }
        assert_eq!(devices(&run), [false, true]);
    }

    #[test]
    fn run_statements_reports_host_events_and_their_failures() {
        let t = parse(TRACE).unwrap();
        let base = Path::new(".");
        let mut m = Machine::from_trace(&t, base).unwrap();
        let got = run_statements(&mut m, &t, base, 0..t.lines.len());
        let host: Vec<usize> = got
            .iter()
            .filter(|(_, o)| *o == Observed::Host(Ok(())))
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(host, vec![3, 4, 5, 6], "hot plug, console input, detach, reset");
        // Again from the detach on: the device is gone now.
        let again = run_statements(&mut m, &t, base, 5..6);
        assert!(matches!(&again[..], [(5, Observed::Host(Err(_)))]), "{again:?}");
    }
}
