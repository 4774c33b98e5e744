//! Replay: run a parsed trace on a fresh machine and compare every result
//! and every `expect`; report differences by field for the structures the
//! channel subsystem stores (IRB, SCHIB, interruption code, CRW); optionally
//! produce the blessed trace (results and expectations replaced by what
//! happened).

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use zcss_ccw::fields::{collect_fields, diff_fields, FieldList};
use zcss_ccw::intcode::InterruptionCode;
use zcss_ccw::irb::Irb;
use zcss_ccw::schib::Schib;
use zcss_ccw::status::{DeviceStatus, SubchannelStatus};
use zcss_ccw::{Ccw, CcwAddress, CcwFlags, Chaining, Limits, Orb, ProgramControls, ProgramWalker};

use super::ast::{DeviceKind, Insn, Outcome, Pattern, Statement, Trace};
use super::exec::{host_event_name, Executed, Executor};
use super::program_log::{capture, ProgramEvent};
use super::symbolic::SymStmt;
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
    /// Stop at the first statement that does not match.
    pub stop_at_first: bool,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// 1-based line of the statement.
    pub line: usize,
    /// What differs, for a person (`irb.scsw.dstat expected CE|DE got
    /// CE|DE|UC`); storage differences span several lines (a hexdump of
    /// the rows that differ).
    pub message: String,
    /// What was compared: a field (`irb.scsw.dstat`), an instruction's
    /// result (`ssch`), storage (`storage at 0x3010`), `store` or `wait`.
    pub field: String,
    /// The expected value as the trace says it (`CE|DE`, `cc=0`, hex bytes
    /// with `..` wildcards); empty when there is none.
    pub expected: String,
    /// What replay found.
    pub got: String,
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

    /// `12 statements, 5 instructions, 9 checks, 0 mismatches, 0.12 ms`
    /// (with the singular for one: `1 mismatch`).
    #[must_use]
    pub fn summary(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 && self.statements >= 10_000 {
            format!(", {:.2} M statements/s", self.statements as f64 / secs / 1e6)
        } else {
            String::new()
        };
        format!(
            "{}, {}, {}, {}, {:.3} ms{rate}",
            plural(self.statements, "statement"),
            plural(self.instructions, "instruction"),
            plural(self.checks, "check"),
            plural(self.failed_checks, "mismatch"),
            secs * 1e3
        )
    }
}

pub use crate::decode::plural;

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
            // TEST SUBCHANNEL stores 64 bytes: no extended-measurement word.
            Self::Irb(a) => (a, Irb::LEN_NO_EMW, "irb"),
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

/// Most rows of 16 bytes a storage difference shows.
pub const MAX_DUMP_ROWS: usize = 8;

pub use super::exec::WAIT_TIMEOUT;

struct Run<'a> {
    m: Machine,
    /// Runs the statements (and knows whether a `device` is a hot plug).
    exec: Executor<'a>,
    opts: ReplayOptions,
    out: &'a mut dyn Write,
    report: FileReport,
    stored: Option<Stored>,
    blessed: Option<Trace>,
    /// CCWs of the program being listed: shown, and fetched beyond
    /// [`MAX_LISTED_CCWS`].
    listed: usize,
    unlisted: usize,
    /// Addresses listed of the program; the first one fetched again (a
    /// loop) ends the listing of CCWs.
    seen: Vec<u64>,
    loop_to: Option<u64>,
}

/// Most CCWs a `--verbose` listing shows of one program (a loop goes on
/// as a count).
pub const MAX_LISTED_CCWS: usize = 48;

impl Run<'_> {
    /// Records a difference; `--verbose` shows it at once, below its
    /// statement.
    fn mismatch(&mut self, line: usize, field: &str, expected: &str, got: &str, message: String) {
        if self.opts.verbose {
            for (k, l) in message.lines().enumerate() {
                let head = if k == 0 { "  ^^^ MISMATCH:" } else { "  " };
                let _ = writeln!(self.out, "       {head} {l}");
            }
        }
        self.report.mismatches.push(Mismatch {
            line,
            message,
            field: field.to_owned(),
            expected: expected.to_owned(),
            got: got.to_owned(),
        });
    }

    fn store_failed(&mut self, line: usize, e: &zcss_ccw::AccessError) {
        self.report.failed_checks += 1;
        let got = e.to_string();
        self.mismatch(line, "store", "", &got, format!("store outside guest storage ({e})"));
    }

    /// Judges an `expect` by the bytes `fetched` at `addr`.
    fn expect(&mut self, idx: usize, addr: u64, pat: &Pattern, fetched: Result<Vec<u8>, zcss_ccw::AccessError>) {
        let line = idx + 1;
        self.report.checks += 1;
        let actual = match fetched {
            Ok(a) => a,
            Err(e) => {
                self.report.failed_checks += 1;
                let got = e.to_string();
                self.mismatch(line, "expect", "", &got, format!("expect outside guest storage ({e})"));
                return;
            }
        };
        if let Some(t) = &mut self.blessed {
            if let Some(Statement::Expect { data, .. }) = &mut t.lines[idx].stmt {
                // `..` bytes stay wildcards, unless the whole `expect` is
                // wildcards: then it asks to be filled.
                let fill_all = data.bytes.iter().all(Option::is_none);
                for (e, a) in data.bytes.iter_mut().zip(&actual) {
                    if e.is_some() || fill_all {
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
                        let field = format!("{name}.{f}");
                        self.mismatch(line, &field, &e, &g, format!("{field} expected {e} got {g}"));
                        reported = true;
                    }
                    // Bytes of the expect outside the structure.
                    let outside = pat.bytes.iter().zip(&actual).enumerate().find(|(k, (e, a))| {
                        let off = addr.wrapping_add(*k as u64).wrapping_sub(s_addr);
                        off >= s_len as u64 && e.is_some_and(|e| e != **a)
                    });
                    if outside.is_some() {
                        self.raw_mismatch(line, addr, pat, &actual, Some((s_addr, s_len)));
                        reported = true;
                    }
                }
            }
        }
        if !reported {
            self.raw_mismatch(line, addr, pat, &actual, None);
        }
    }

    /// `expect irb|schib <addr> <field>=<value>…`, judged by the
    /// structure's bytes `fetched`: only the named fields are compared.
    fn expect_fields(
        &mut self,
        idx: usize,
        s: &super::symbolic::SymStmt,
        fetched: Result<Vec<u8>, zcss_ccw::AccessError>,
    ) {
        use super::symbolic as sym;
        let line = idx + 1;
        self.report.checks += 1;
        let actual = match fetched {
            Ok(a) => sym::stored_fields(s.kind, &a),
            Err(e) => {
                self.report.failed_checks += 1;
                let got = e.to_string();
                self.mismatch(line, "expect", "", &got, format!("expect outside guest storage ({e})"));
                return;
            }
        };
        let prefix = if s.kind == sym::SymKind::ExpectIrb {
            "irb"
        } else {
            "schib"
        };
        let mut failed = false;
        let mut blessed = Vec::new();
        for p in &s.params {
            let sym::SymValue::Text(written) = &p.value else {
                continue;
            };
            let Some(name) = sym::resolve_field(s.kind, &p.key) else {
                continue;
            };
            let got = actual.iter().find(|(n, _)| *n == name).map_or("-", |(_, v)| v.as_str());
            blessed.push(got.to_owned());
            if !sym::value_matches(written, got) {
                failed = true;
                let field = format!("{prefix}.{name}");
                let got = got.to_owned();
                self.mismatch(
                    line,
                    &field,
                    written,
                    &got,
                    format!("{field} expected {written} got {got}"),
                );
            }
        }
        if failed {
            self.report.failed_checks += 1;
        }
        if let Some(t) = &mut self.blessed {
            if let Some(Statement::Symbolic(b)) = &mut t.lines[idx].stmt {
                let texts = b
                    .params
                    .iter_mut()
                    .filter(|p| matches!(p.value, sym::SymValue::Text(_)));
                for (p, v) in texts.zip(blessed) {
                    if let sym::SymValue::Text(w) = &p.value {
                        if !sym::value_matches(w, &v) {
                            p.value = sym::SymValue::Text(v);
                        }
                    }
                }
            }
        }
    }

    /// A storage difference as a hexdump of the 16-byte rows that differ
    /// (at most [`MAX_DUMP_ROWS`] of them), expected over got, with the
    /// differing bytes marked; bytes inside `skip` (a structure already
    /// reported by field) are not counted.
    fn raw_mismatch(&mut self, line: usize, addr: u64, pat: &Pattern, actual: &[u8], skip: Option<(u64, usize)>) {
        let differs = |k: usize| {
            let a = addr.wrapping_add(k as u64);
            let skipped = skip.is_some_and(|(s, n)| a.wrapping_sub(s) < n as u64);
            !skipped
                && pat
                    .bytes
                    .get(k)
                    .copied()
                    .flatten()
                    .zip(actual.get(k))
                    .is_some_and(|(e, g)| e != *g)
        };
        let n_diff = (0..pat.bytes.len()).filter(|&k| differs(k)).count();
        let Some(first) = (0..pat.bytes.len()).find(|&k| differs(k)) else {
            return;
        };
        // Rows of 16 bytes on 16-byte boundaries of the guest address.
        let row_of = |k: usize| addr.wrapping_add(k as u64) & !0xf;
        let mut rows: Vec<u64> = Vec::new();
        for k in (0..pat.bytes.len()).filter(|&k| differs(k)) {
            let r = row_of(k);
            if rows.last() != Some(&r) {
                rows.push(r);
            }
        }
        let more = rows.len().saturating_sub(MAX_DUMP_ROWS);
        rows.truncate(MAX_DUMP_ROWS);
        let at = addr.wrapping_add(first as u64);
        let mut msg = format!(
            "storage at {at:#x} (offset {first} of the expect at {addr:#x}): {} differ{}",
            plural(n_diff as u64, "byte"),
            if n_diff == 1 { "s" } else { "" }
        );
        let (mut exp_all, mut got_all) = (String::new(), String::new());
        for r in &rows {
            let (mut e_line, mut g_line, mut mark) = (String::new(), String::new(), String::new());
            for col in 0..16u64 {
                let sep = if col == 8 {
                    "  "
                } else if col == 0 {
                    ""
                } else {
                    " "
                };
                e_line.push_str(sep);
                g_line.push_str(sep);
                mark.push_str(sep);
                let k = r.wrapping_add(col).wrapping_sub(addr);
                let k = usize::try_from(k).ok().filter(|&k| k < pat.bytes.len());
                match k {
                    Some(k) => {
                        let e = pat.bytes[k].map_or_else(|| "..".to_owned(), |b| format!("{b:02x}"));
                        let g = actual.get(k).map_or_else(|| "  ".to_owned(), |b| format!("{b:02x}"));
                        e_line.push_str(&e);
                        g_line.push_str(&g);
                        mark.push_str(if differs(k) { "^^" } else { "  " });
                        exp_all.push_str(&e);
                        got_all.push_str(&g);
                    }
                    None => {
                        e_line.push_str("  ");
                        g_line.push_str("  ");
                        mark.push_str("  ");
                    }
                }
            }
            let _ = write!(
                msg,
                "\n  {r:#010x}  expected {}\n              got      {}\n                       {}",
                e_line.trim_end(),
                g_line.trim_end(),
                mark.trim_end()
            );
        }
        if more > 0 {
            let _ = write!(msg, "\n  ... and {} more", plural(more as u64, "differing row"));
        }
        self.mismatch(line, &format!("storage at {at:#x}"), &exp_all, &got_all, msg);
    }

    /// Judges an instruction that gave `got` (with the channel-program
    /// `events` captured for `--verbose`).
    fn insn(&mut self, idx: usize, insn: &Insn, expected: Option<Outcome>, got: Outcome, events: &[ProgramEvent]) {
        let line = idx + 1;
        self.report.instructions += 1;
        if self.opts.verbose {
            self.after_insn(insn, got, events);
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
        if let Some(e) = expected {
            self.report.checks += 1;
            if !e.accepts(got) {
                self.report.failed_checks += 1;
                let context = match *insn {
                    Insn::Ssch { orb, .. } => self.orb_summary(orb.value).map(|o| format!(" (orb: {o})")),
                    _ => None,
                };
                let (es, gs) = (e.to_string(), got.to_string());
                self.mismatch(
                    line,
                    insn.mnemonic(),
                    &es,
                    &gs,
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
    }

    /// Verbose, after an instruction ran: the channel program it ran.
    fn after_insn(&mut self, insn: &Insn, got: Outcome, events: &[ProgramEvent]) {
        let (gr1, orb) = match *insn {
            Insn::Ssch { gr1, orb } => (gr1, self.orb_at(orb.value)),
            Insn::Rsch { gr1 } | Insn::Ipl { gr1 } => (gr1, None),
            _ => return,
        };
        let kind = self.m.kind_of(self.m.operand_word(gr1));
        let controls = match (&orb, insn) {
            (Some(o), _) => ProgramControls::from_orb(o),
            (None, Insn::Ipl { .. }) => ProgramControls::from_orb(&Orb::default()),
            (None, _) => ProgramControls::from_orb(&Orb {
                ctrl: zcss_ccw::OrbControls::new().with_format1(true),
                ..Orb::default()
            }),
        };
        if !events.is_empty() {
            self.list_run(kind, controls, events);
        } else if let (Some(o), Outcome::Cc(0)) = (orb, got) {
            self.list_from_storage(kind, &o);
        }
    }

    /// Verbose, before an instruction: the ORB of an SSCH, the SCHIB of
    /// an MSCH.
    fn before_insn(&mut self, insn: &Insn) {
        match *insn {
            Insn::Ssch { orb, .. } => {
                if let Some(o) = self.orb_at(orb.value) {
                    let _ = writeln!(self.out, "           {}", SymStmt::orb(orb.value, &o));
                }
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

    /// The ORB at `addr`, if START SUBCHANNEL could fetch one there (a
    /// word boundary, in storage).
    fn orb_at(&self, addr: u64) -> Option<Orb> {
        if addr % 4 != 0 {
            return None;
        }
        let b = self
            .m
            .mem
            .fetch(addr, 32)
            .or_else(|_| self.m.mem.fetch(addr, 12))
            .ok()?;
        Orb::decode(&b)
    }

    /// The ORB at `addr` as its non-zero fields (`intparm=0x1 f=1 …`).
    fn orb_summary(&self, addr: u64) -> Option<String> {
        let orb = self.orb_at(addr)?;
        let fields: Vec<String> = collect_fields(&orb)
            .into_iter()
            .filter(|(_, v)| !is_zero_value(v))
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        Some(fields.join(" "))
    }

    /// Verbose, after an instruction: the channel program the engine ran,
    /// from its events — each CCW fetched in order (TICs included) in the
    /// symbolic form, with the command's name (or, on data chaining, that
    /// its command code is not used), the bytes it moved and its IDAL or
    /// MIDAL as used; then where and why the program ended.
    fn list_run(&mut self, kind: Option<DeviceKind>, controls: ProgramControls, events: &[ProgramEvent]) {
        // The CCWs of the command running, written out when it ends.
        let mut pending: Vec<(u64, Ccw, bool)> = Vec::new();
        self.listed = 0;
        self.unlisted = 0;
        self.seen.clear();
        self.loop_to = None;
        for ev in events {
            match ev {
                ProgramEvent::Ccw {
                    addr,
                    cmd,
                    flags,
                    count,
                    cda,
                    how,
                } => {
                    let ccw = Ccw {
                        cmd: *cmd,
                        flags: CcwFlags::from_bits(*flags),
                        count: *count,
                        cda: *cda,
                    };
                    pending.push((*addr, ccw, how == "Data"));
                }
                ProgramEvent::Command { moved, residual, .. } => {
                    let ccws = std::mem::take(&mut pending);
                    let data: Vec<usize> = (0..ccws.len()).filter(|&k| !ccws[k].1.is_tic()).collect();
                    let last = data.last().copied();
                    for (k, (addr, ccw, chained)) in ccws.iter().enumerate() {
                        // Data chaining happens only once a count is used
                        // up; the last CCW moved its count less the residual.
                        let bytes = if Some(k) == last {
                            u64::from(ccw.count.saturating_sub(*residual))
                        } else {
                            u64::from(ccw.count)
                        };
                        let bytes = if data.len() == 1 { *moved } else { bytes };
                        self.list_ccw(kind, controls, *addr, ccw, *chained, Some(bytes));
                    }
                }
                ProgramEvent::End {
                    cpa,
                    count,
                    dstat,
                    cstat,
                    ending,
                    check,
                } => {
                    for (addr, ccw, chained) in std::mem::take(&mut pending) {
                        self.list_ccw(kind, controls, addr, &ccw, chained, None);
                    }
                    match (self.unlisted, self.loop_to) {
                        (0, _) => {}
                        (n, Some(to)) => {
                            let _ = writeln!(
                                self.out,
                                "           … the program loops back to {to:#x}: {n} more CCWs fetched"
                            );
                        }
                        (n, None) => {
                            let _ = writeln!(self.out, "           … {n} more CCWs fetched");
                        }
                    }
                    let why = match check.strip_prefix("Some(").and_then(|c| c.strip_suffix(')')) {
                        Some("WorkLimit") => format!(
                            "{ending}: WorkLimit (the bound on a loop without data transfer, machine ccw-loop-limit=)"
                        ),
                        Some(c) => format!("{ending}: {c}"),
                        None => ending.clone(),
                    };
                    let _ = writeln!(
                        self.out,
                        "           ended: {why} — scsw cpa={cpa:#x} count={count} dstat={} cstat={}",
                        DeviceStatus::from_bits(*dstat).names(),
                        SubchannelStatus::from_bits(*cstat).names()
                    );
                }
            }
        }
    }

    fn list_ccw(
        &mut self,
        kind: Option<DeviceKind>,
        controls: ProgramControls,
        addr: u64,
        ccw: &Ccw,
        data_chained: bool,
        bytes: Option<u64>,
    ) {
        let name = if ccw.is_tic() {
            "TIC".to_owned()
        } else if data_chained {
            "data chained (command code not used)".to_owned()
        } else {
            command_name_for(kind, ccw.cmd).map_or_else(|| format!("command {:#04x}", ccw.cmd), str::to_owned)
        };
        let moved = match bytes {
            Some(_) if ccw.is_tic() => String::new(),
            Some(1) => ", 1 byte".to_owned(),
            Some(n) => format!(", {n} bytes"),
            None if ccw.is_tic() => String::new(),
            None => ", not executed".to_owned(),
        };
        if self.loop_to.is_none() && self.seen.contains(&addr) {
            self.loop_to = Some(addr);
        }
        if self.listed >= MAX_LISTED_CCWS || self.loop_to.is_some() {
            self.unlisted += 1;
            return;
        }
        self.listed += 1;
        self.seen.push(addr);
        let _ = writeln!(
            self.out,
            "           {}  # {name}{moved}",
            SymStmt::ccw(controls.format, addr, ccw)
        );
        let n = bytes.unwrap_or(0).max(1);
        if ccw.flags.ida() && !ccw.is_tic() {
            let f2 = controls.idaw.idaw_len() == 8;
            let block = controls.idaw.block();
            let first = u64::from(ccw.cda);
            let mut idaws = Vec::new();
            let mut covered = 0u64;
            while covered < n && idaws.len() < 64 {
                let at = first + idaws.len() as u64 * controls.idaw.idaw_len();
                let Ok(b) = self
                    .m
                    .mem
                    .fetch(at, usize::try_from(controls.idaw.idaw_len()).unwrap_or(4))
                else {
                    break;
                };
                let v = b.iter().fold(0u64, |a, x| a << 8 | u64::from(*x));
                covered += block - (v % block);
                idaws.push(v);
            }
            let _ = writeln!(self.out, "             {}", SymStmt::idal(f2, first, &idaws));
        } else if ccw.flags.mida() && !ccw.is_tic() {
            let mut at = u64::from(ccw.cda);
            let mut covered = 0u64;
            for _ in 0..64 {
                let Ok(b) = self.m.mem.fetch(at, 16) else { break };
                let Ok(q) = <[u8; 16]>::try_from(b.as_slice()) else {
                    break;
                };
                let _ = writeln!(self.out, "             {}", SymStmt::midaw(at, &q));
                covered += u64::from(u16::from_be_bytes([q[6], q[7]]));
                if q[5] & 0x80 != 0 || covered >= u64::from(ccw.count) {
                    break;
                }
                at += 16;
            }
        }
    }

    /// A program the engine did not run on this thread (a passthrough
    /// device's, which runs on the host): listed from storage as a
    /// translator walks it, at most 64 CCWs.
    fn list_from_storage(&mut self, kind: Option<DeviceKind>, orb: &Orb) {
        self.listed = 0;
        self.unlisted = 0;
        self.seen.clear();
        self.loop_to = None;
        let _ = writeln!(
            self.out,
            "           (the program runs on the host; listed from storage)"
        );
        let controls = ProgramControls::from_orb(orb);
        let limits = Limits {
            max_idle_ccws: 64,
            max_ccws: 64,
        };
        let mut walker = ProgramWalker::new(controls, limits, CcwAddress::new(orb.cpa));
        loop {
            if walker.ccws() >= 64 {
                let _ = writeln!(self.out, "           … (listing stops after 64 CCWs)");
                return;
            }
            let w = match walker.next(&*self.m.mem) {
                Ok(w) => w,
                Err(c) => {
                    let _ = writeln!(self.out, "           {:#010x}  ({:?})", c.at.get(), c.cause);
                    return;
                }
            };
            if let Some(tic) = w.tic {
                self.list_ccw(kind, controls, tic.addr.get(), &tic.ccw, false, None);
            }
            self.list_ccw(kind, controls, w.addr.get(), &w.ccw, w.how == Chaining::Data, None);
            if w.ccw.flags.cd() {
                walker.chain_data();
            } else if w.ccw.flags.cc() {
                walker.chain_command(false);
            } else {
                return;
            }
        }
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
    replay_with_machine(trace, base, opts, out, progress).map(|(r, _)| r)
}

/// [`replay`], and the machine as the trace left it (for `zcss lscss
/// --after`).
///
/// # Errors
/// Only when the machine cannot be built; differences are in the report.
pub fn replay_with_machine(
    trace: &Trace,
    base: &Path,
    opts: &ReplayOptions,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(usize),
) -> Result<(FileReport, Machine), ReplayError> {
    let start = Instant::now();
    let cfg = crate::machine::MachineConfig {
        write_images: opts.write_images,
        ..crate::machine::MachineConfig::from_trace(trace)
    };
    let m = Machine::build(&cfg, base, None).map_err(|(line, error)| ReplayError::Machine { line, error })?;
    let mut run = Run {
        m,
        exec: Executor::new(base),
        opts: *opts,
        out,
        report: FileReport::default(),
        stored: None,
        blessed: opts.bless.then(|| trace.clone()),
        listed: 0,
        unlisted: 0,
        seen: Vec::new(),
        loop_to: None,
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
        let before = run.report.mismatches.len();
        let insn = match stmt {
            Statement::Insn(s) => Some(s),
            _ => None,
        };
        let (done, events) = match insn {
            Some(s) if run.opts.verbose => {
                run.before_insn(&s.insn);
                capture(|| run.exec.step(&mut run.m, stmt))
            }
            _ => (run.exec.step(&mut run.m, stmt), Vec::new()),
        };
        match (done, stmt) {
            (Executed::Insn(got), Statement::Insn(s)) => run.insn(idx, &s.insn, s.outcome, got, &events),
            (Executed::Stored(Err(e)), _) => run.store_failed(idx + 1, &e),
            (Executed::Fetched(r), Statement::Expect { addr, data }) => run.expect(idx, addr.value, data, r),
            (Executed::Fetched(r), Statement::Symbolic(s)) => run.expect_fields(idx, s, r),
            (Executed::Host(Err(e)), _) => {
                run.report.failed_checks += 1;
                let name = host_event_name(stmt).unwrap_or("host event");
                let label = if name == "hot-plug" { "hot plug" } else { name };
                run.mismatch(idx + 1, name, "done", &e.to_string(), format!("{label}: {e}"));
            }
            (Executed::Waited(false), _) => {
                run.report.failed_checks += 1;
                run.mismatch(
                    idx + 1,
                    "wait",
                    "done",
                    "timeout",
                    format!("wait: asynchronous work did not finish in {} s", WAIT_TIMEOUT.as_secs()),
                );
            }
            _ => {}
        }
        if run.opts.stop_at_first && run.report.mismatches.len() > before {
            if run.opts.verbose {
                let _ = writeln!(run.out, "       (stopped at the first mismatch)");
            }
            break;
        }
    }
    let mut report = run.report;
    report.blessed = run.blessed;
    report.elapsed = start.elapsed();
    Ok((report, run.m))
}
