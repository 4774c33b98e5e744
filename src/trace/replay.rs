//! Replay: run a parsed trace on a fresh machine and compare every result
//! and every `expect`; report differences by field for the structures the
//! channel subsystem stores (IRB, SCHIB, interruption code, CRW); optionally
//! produce the blessed trace (results and expectations replaced by what
//! happened).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use zcss_ccw::fields::{collect_fields, diff_fields, FieldList};
use zcss_ccw::intcode::InterruptionCode;
use zcss_ccw::irb::Irb;
use zcss_ccw::schib::Schib;
use zcss_ccw::{Ccw, CcwAddress, CheckCause, Limits, Orb, ProgramControls, ProgramWalker};

use super::ast::{Insn, Outcome, Pattern, Statement, Trace};
use crate::decode::command_name_for;
use crate::machine::{Machine, MachineError};

/// How to replay.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayOptions {
    /// Write each statement with its decoded structures to the output.
    pub verbose: bool,
    /// Produce the blessed trace in [`FileReport::blessed`].
    pub bless: bool,
    /// Let guest writes reach DASD image files (otherwise they go to an
    /// in-memory overlay and the images are never modified).
    pub write_images: bool,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// 1-based line of the statement.
    pub line: usize,
    /// What differs (`irb.scsw.dstat expected CE|DE got CE|DE|UC`).
    pub message: String,
}

/// What replaying one file found.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    /// Statements executed.
    pub statements: u64,
    /// Instructions among them.
    pub instructions: u64,
    /// Results and `expect`s compared.
    pub checks: u64,
    /// Checks that failed.
    pub failed_checks: u64,
    /// The differences, in line order (a failed `expect` of a structure
    /// gives one per differing field).
    pub mismatches: Vec<Mismatch>,
    /// Wall time.
    pub elapsed: Duration,
    /// With [`ReplayOptions::bless`]: the trace with results and
    /// expectations replaced by what happened.
    pub blessed: Option<Trace>,
}

impl FileReport {
    /// Adds another report's counts (for a total).
    pub fn add(&mut self, o: &Self) {
        self.statements += o.statements;
        self.instructions += o.instructions;
        self.checks += o.checks;
        self.failed_checks += o.failed_checks;
        self.mismatches.extend(o.mismatches.iter().cloned());
        self.elapsed += o.elapsed;
    }

    /// `12 statements, 5 instructions, 9 checks, 0 mismatches, 0.12 ms`.
    #[must_use]
    pub fn summary(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 && self.statements >= 10_000 {
            format!(", {:.2} M statements/s", self.statements as f64 / secs / 1e6)
        } else {
            String::new()
        };
        format!(
            "{} statements, {} instructions, {} checks, {} mismatches, {:.3} ms{rate}",
            self.statements,
            self.instructions,
            self.checks,
            self.failed_checks,
            secs * 1e3
        )
    }
}

/// Why a file could not be replayed at all.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The machine could not be built.
    #[error("line {line}: {error}")]
    Machine {
        /// The statement that could not be built (0: `machine`).
        line: usize,
        /// Why.
        error: MachineError,
    },
}

/// A structure the previous instruction stored, for decoding `expect`s.
#[derive(Debug, Clone, Copy)]
enum Stored {
    Irb(u64),
    Schib(u64),
    IntCode { addr: u64, len: usize },
    Crw(u64),
}

impl Stored {
    fn range(self) -> (u64, usize, &'static str) {
        match self {
            Self::Irb(a) => (a, Irb::LEN, "irb"),
            Self::Schib(a) => (a, Schib::LEN, "schib"),
            Self::IntCode { addr, len } => (addr, len, "intcode"),
            Self::Crw(a) => (a, zcss_ccw::crw::Crw::LEN, "crw"),
        }
    }

    /// The field differences between the structure with `expected` bytes and
    /// with `actual` bytes (same length as the structure).
    fn diff(self, expected: &[u8], actual: &[u8]) -> Vec<(String, String, String)> {
        fn d<T: FieldList>(e: Option<T>, a: Option<T>) -> Vec<(String, String, String)> {
            match (e, a) {
                (Some(e), Some(a)) => diff_fields(&e, &a)
                    .into_iter()
                    .map(|f| (f.name.to_owned(), f.expected, f.got))
                    .collect(),
                _ => Vec::new(),
            }
        }
        match self {
            Self::Irb(_) => d(Irb::decode(expected), Irb::decode(actual)),
            Self::Schib(_) => d(Schib::decode(expected), Schib::decode(actual)),
            Self::IntCode { .. } => d(InterruptionCode::decode(expected), InterruptionCode::decode(actual)),
            Self::Crw(_) => {
                let crw = |b: &[u8]| <[u8; 4]>::try_from(b).ok().map(zcss_ccw::crw::Crw::from_be_bytes);
                d(crw(expected), crw(actual))
            }
        }
    }

    fn fields(self, b: &[u8]) -> Vec<(&'static str, String)> {
        match self {
            Self::Irb(_) => Irb::decode(b).map(|v| collect_fields(&v)),
            Self::Schib(_) => Schib::decode(b).map(|v| collect_fields(&v)),
            Self::IntCode { .. } => InterruptionCode::decode(b).map(|v| collect_fields(&v)),
            Self::Crw(_) => <[u8; 4]>::try_from(b)
                .ok()
                .map(|a| collect_fields(&zcss_ccw::crw::Crw::from_be_bytes(a))),
        }
        .unwrap_or_default()
    }
}

/// Upper bound on the wait for asynchronous device work.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(5);

struct Run<'a> {
    m: Machine,
    /// Where image paths are relative to (hot-plugged devices).
    base: &'a Path,
    /// An instruction was replayed: a `device` is a hot plug now.
    started: bool,
    opts: ReplayOptions,
    out: &'a mut dyn Write,
    report: FileReport,
    stored: Option<Stored>,
    blessed: Option<Trace>,
}

impl Run<'_> {
    fn mismatch(&mut self, line: usize, message: String) {
        self.report.mismatches.push(Mismatch { line, message });
    }

    fn store(&mut self, line: usize, addr: u64, data: &[u8]) {
        if let Err(e) = self.m.mem.store(addr, data) {
            self.report.failed_checks += 1;
            self.mismatch(line, format!("store outside guest storage ({e})"));
        }
    }

    fn expect(&mut self, idx: usize, addr: u64, pat: &Pattern) {
        let line = idx + 1;
        self.report.checks += 1;
        let actual = match self.m.mem.fetch(addr, pat.bytes.len()) {
            Ok(a) => a,
            Err(e) => {
                self.report.failed_checks += 1;
                self.mismatch(line, format!("expect outside guest storage ({e})"));
                return;
            }
        };
        if let Some(t) = &mut self.blessed {
            if let Some(Statement::Expect { data, .. }) = &mut t.lines[idx].stmt {
                for (e, a) in data.bytes.iter_mut().zip(&actual) {
                    if e.is_some() {
                        *e = Some(*a);
                    }
                }
            }
        }
        if pat.matches(&actual) {
            return;
        }
        self.report.failed_checks += 1;
        let mut reported = false;
        if let Some(st) = self.stored {
            let (s_addr, s_len, name) = st.range();
            if let Ok(s_actual) = self.m.mem.fetch(s_addr, s_len) {
                // The structure as the expectation describes it: actual bytes
                // overlaid with the compared bytes of the `expect`.
                let mut s_expected = s_actual.clone();
                let mut overlap = false;
                for (k, e) in pat.bytes.iter().enumerate() {
                    let a = addr.wrapping_add(k as u64);
                    if let (Some(e), Some(off)) = (e, a.checked_sub(s_addr)) {
                        if let Some(slot) = usize::try_from(off).ok().and_then(|o| s_expected.get_mut(o)) {
                            *slot = *e;
                            overlap = true;
                        }
                    }
                }
                if overlap {
                    for (f, e, g) in st.diff(&s_expected, &s_actual) {
                        self.mismatch(line, format!("{name}.{f} expected {e} got {g}"));
                        reported = true;
                    }
                    // Bytes of the expect outside the structure.
                    let outside = pat.bytes.iter().zip(&actual).enumerate().find(|(k, (e, a))| {
                        let off = addr.wrapping_add(*k as u64).wrapping_sub(s_addr);
                        off >= s_len as u64 && e.is_some_and(|e| e != **a)
                    });
                    if let Some((k, _)) = outside {
                        self.raw_mismatch(line, addr, pat, &actual, k);
                        reported = true;
                    }
                }
            }
        }
        if !reported {
            let k = pat
                .bytes
                .iter()
                .zip(&actual)
                .position(|(e, a)| e.is_some_and(|e| e != *a))
                .unwrap_or(0);
            self.raw_mismatch(line, addr, pat, &actual, k);
        }
    }

    fn raw_mismatch(&mut self, line: usize, addr: u64, pat: &Pattern, actual: &[u8], first: usize) {
        let exp: String = pat
            .bytes
            .iter()
            .map(|b| b.map_or_else(|| "..".to_owned(), |b| format!("{b:02x}")))
            .collect();
        let got: String = actual.iter().map(|b| format!("{b:02x}")).collect();
        self.mismatch(
            line,
            format!(
                "storage at {:#x} (offset {first}) expected {exp} got {got}",
                addr.wrapping_add(first as u64)
            ),
        );
    }

    fn insn(&mut self, idx: usize, insn: &Insn, expected: Option<Outcome>) {
        let line = idx + 1;
        self.report.instructions += 1;
        if self.opts.verbose {
            self.before_insn(insn);
        }
        let got = self.m.execute(insn);
        if let Some(e) = expected {
            self.report.checks += 1;
            if !e.accepts(got) {
                self.report.failed_checks += 1;
                let context = match *insn {
                    Insn::Ssch { orb, .. } => self.orb_summary(orb.value).map(|o| format!(" (orb: {o})")),
                    _ => None,
                };
                self.mismatch(
                    line,
                    format!(
                        "{}: expected {e} got {got}{}",
                        insn.mnemonic(),
                        context.unwrap_or_default()
                    ),
                );
            }
        }
        if let Some(t) = &mut self.blessed {
            if let Some(Statement::Insn(s)) = &mut t.lines[idx].stmt {
                let keep = expected.is_some_and(|e| e == Outcome::Gr2Cookie && e.accepts(got));
                if !keep {
                    s.outcome = Some(got);
                }
            }
        }
        self.stored = match (*insn, got) {
            (Insn::Tsch { irb, .. }, Outcome::Cc(0 | 1)) => Some(Stored::Irb(irb.value)),
            (Insn::Stsch { schib, .. }, Outcome::Cc(0)) => Some(Stored::Schib(schib.value)),
            (Insn::Tpi { addr, .. }, Outcome::Cc(1)) if addr.value == 0 => Some(Stored::IntCode {
                addr: InterruptionCode::LOWCORE_ADDR,
                len: InterruptionCode::LOWCORE_LEN,
            }),
            (Insn::Tpi { addr, .. }, Outcome::Cc(1)) => Some(Stored::IntCode {
                addr: addr.value,
                len: InterruptionCode::TPI_LEN,
            }),
            (Insn::Stcrw { addr }, Outcome::Cc(0 | 1)) => Some(Stored::Crw(addr.value)),
            _ => None,
        };
        if self.opts.verbose {
            let _ = writeln!(self.out, "        got {got}");
            if let Some(st) = self.stored {
                let (a, len, name) = st.range();
                if let Ok(b) = self.m.mem.fetch(a, len) {
                    for (n, v) in st.fields(&b) {
                        if !is_zero_value(&v) {
                            let _ = writeln!(self.out, "           {name}.{n} = {v}");
                        }
                    }
                }
            }
        }
    }

    /// Verbose: the ORB and channel program of an SSCH, the SCHIB of an MSCH.
    fn before_insn(&mut self, insn: &Insn) {
        match *insn {
            Insn::Ssch { gr1, orb } => {
                let kind = u32::try_from(gr1.value & 0xffff_ffff)
                    .ok()
                    .and_then(|w| self.m.kind_of(w));
                self.list_program(kind, orb.value);
            }
            Insn::Msch { schib, .. } => {
                if let Ok(b) = self.m.mem.fetch(schib.value, Schib::LEN) {
                    if let Some(s) = Schib::decode(&b) {
                        for (n, v) in collect_fields(&s) {
                            if !is_zero_value(&v) {
                                let _ = writeln!(self.out, "           schib.{n} = {v}");
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The ORB at `addr` as its non-zero fields (`intparm=0x1 f=1 …`).
    fn orb_summary(&self, addr: u64) -> Option<String> {
        let b = self
            .m
            .mem
            .fetch(addr, 32)
            .or_else(|_| self.m.mem.fetch(addr, 12))
            .ok()?;
        let orb = Orb::decode(&b)?;
        let fields: Vec<String> = collect_fields(&orb)
            .into_iter()
            .filter(|(_, v)| !is_zero_value(v))
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        Some(fields.join(" "))
    }

    fn list_program(&mut self, kind: Option<crate::trace::DeviceKind>, orb_addr: u64) {
        let Ok(b) = self
            .m
            .mem
            .fetch(orb_addr, 32)
            .or_else(|_| self.m.mem.fetch(orb_addr, 12))
        else {
            return;
        };
        let Some(orb) = Orb::decode(&b) else { return };
        if let Some(summary) = self.orb_summary(orb_addr) {
            let _ = writeln!(self.out, "           orb: {summary}");
        }
        // A listing, not an execution: the program is walked as a
        // translator would (linearly, TICs followed) with the channel
        // subsystem's own rules, and the listing stops at the first check
        // or after 64 CCWs.
        let limits = Limits {
            max_idle_ccws: 64,
            max_ccws: 64,
        };
        let mut walker = ProgramWalker::new(ProgramControls::from_orb(&orb), limits, CcwAddress::new(orb.cpa));
        loop {
            let w = match walker.next(&*self.m.mem) {
                Ok(w) => w,
                Err(c) if c.cause == CheckCause::WorkLimit => {
                    let _ = writeln!(self.out, "           … (listing stops after 64 CCWs)");
                    return;
                }
                Err(c) => {
                    let _ = writeln!(self.out, "           {:#010x}  ({:?})", c.at.get(), c.cause);
                    return;
                }
            };
            if let Some(tic) = w.tic {
                self.list_ccw(kind, tic.addr.get(), &tic.ccw);
            }
            self.list_ccw(kind, w.addr.get(), &w.ccw);
            if w.ccw.flags.cd() {
                walker.chain_data();
            } else if w.ccw.flags.cc() {
                walker.chain_command(false);
            } else {
                return;
            }
        }
    }

    fn list_ccw(&mut self, kind: Option<crate::trace::DeviceKind>, addr: u64, ccw: &Ccw) {
        let name = if ccw.is_tic() {
            "TIC"
        } else {
            command_name_for(kind, ccw.cmd).unwrap_or("")
        };
        let flags = zcss_ccw::fields::ccw_flag_names(ccw.flags);
        let _ = writeln!(
            self.out,
            "           {addr:#010x}  {:02x} {name:<16} flags={flags:<10} count={:<5} cda={:#010x}",
            ccw.cmd, ccw.count, ccw.cda
        );
    }
}

fn is_zero_value(v: &str) -> bool {
    v == "0" || v == "0x0" || (!v.is_empty() && v.bytes().all(|b| b == b'0'))
}

/// Replays `trace` on a fresh machine; image paths are relative to `base`.
/// `progress` is called now and then with the line reached.
///
/// # Errors
/// Only when the machine cannot be built; differences are in the report.
pub fn replay(
    trace: &Trace,
    base: &Path,
    opts: &ReplayOptions,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(usize),
) -> Result<FileReport, ReplayError> {
    let start = Instant::now();
    let cfg = crate::machine::MachineConfig {
        write_images: opts.write_images,
        ..crate::machine::MachineConfig::from_trace(trace)
    };
    let m = Machine::build(&cfg, base, None).map_err(|(line, error)| ReplayError::Machine { line, error })?;
    let mut run = Run {
        m,
        base,
        started: false,
        opts: *opts,
        out,
        report: FileReport::default(),
        stored: None,
        blessed: opts.bless.then(|| trace.clone()),
    };
    for (idx, l) in trace.lines.iter().enumerate() {
        let Some(stmt) = &l.stmt else {
            if run.opts.verbose {
                if let Some(c) = &l.comment {
                    let _ = writeln!(run.out, "{:>5}  {c}", idx + 1);
                }
            }
            continue;
        };
        run.report.statements += 1;
        if idx % 4096 == 0 {
            progress(idx + 1);
        }
        if run.opts.verbose {
            let _ = writeln!(run.out, "{:>5}  {l}", idx + 1);
        }
        match stmt {
            Statement::Header(_) | Statement::Machine(_) => {}
            Statement::Device(d) if run.started => {
                if let Err(e) = run.m.hot_plug(d, run.base) {
                    run.report.failed_checks += 1;
                    run.mismatch(idx + 1, format!("hot plug: {e}"));
                }
            }
            Statement::Device(_) => {}
            Statement::Detach(sch) => {
                if let Err(e) = run.m.detach(*sch) {
                    run.report.failed_checks += 1;
                    run.mismatch(idx + 1, format!("detach: {e}"));
                }
            }
            Statement::Reset => run.m.reset(),
            Statement::ConsoleInput { sch, data } => {
                if let Err(e) = run.m.console_input(*sch, &data.bytes) {
                    run.report.failed_checks += 1;
                    run.mismatch(idx + 1, format!("console-input: {e}"));
                }
            }
            Statement::Store { addr, data } => run.store(idx + 1, addr.value, &data.bytes),
            Statement::Expect { addr, data } => run.expect(idx, addr.value, data),
            Statement::Insn(s) => {
                run.started = true;
                run.insn(idx, &s.insn, s.outcome);
            }
            Statement::Wait => {
                if !run.m.wait(WAIT_TIMEOUT) {
                    run.report.failed_checks += 1;
                    run.mismatch(
                        idx + 1,
                        format!("wait: asynchronous work did not finish in {} s", WAIT_TIMEOUT.as_secs()),
                    );
                }
            }
        }
    }
    let mut report = run.report;
    report.blessed = run.blessed;
    report.elapsed = start.elapsed();
    Ok(report)
}
