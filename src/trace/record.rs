//! The recorder: writes a trace from a live embedding.
//!
//! [`Recorder`] is a css [`Observer`]: every I/O instruction the css reports
//! becomes an instruction statement with its result, preceded by `store`
//! lines for the guest storage the instruction read (only bytes a replay
//! would not already hold) and followed by `expect` lines for the storage it
//! wrote. Two wrappers let it see what the observer cannot:
//!
//! - [`Recorder::wrap_memory`]: storage for the devices (and, optionally,
//!   the css) that logs every access, including the old value of an
//!   interlocked OR (adapter indicators), which a replay needs;
//! - [`Recorder::wrap_device`]: a device whose DIAG 0x500 notifications
//!   are recorded as `diag500` statements (the css does not report DIAG).
//!
//! Interruptions the embedding takes with `Css::next_interrupt` are written
//! as `tpi 0x0 isc-mask=<that ISC>` with an `expect` of the interruption code
//! in the prefix area: the same effect on a replay.
//!
//! The recorder keeps a sparse shadow of what a replay's storage will hold
//! (zero at first, then every `store` and every recorded write), so a read of
//! unchanged storage costs no `store` line.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use zcss_ccw::intcode::InterruptionCode;
use zcss_ccw::memory::{AccessError, AccessKey, GuestMemory, StorageKey};
use zcss_ccw::{Ccw, CcwDevice, DataStream, DeviceResult, ProgramEnd};
use zcss_css::observer::{Insn as CssInsn, Outcome as CssOutcome, StorageAccess};
use zcss_css::{Device, DeviceInfo, NotifyResult, Observer, SubchannelHandle};

use super::ast::HexBytes;
use super::ast::{Insn, InsnStmt, Line, Num, Outcome, Pattern, PgmName, Statement, Trace};
use crate::machine::MachineConfig;

/// Bytes per `store` / `expect` line.
const BYTES_PER_LINE: usize = 32;
/// Bytes per hex token.
const BYTES_PER_TOKEN: usize = 4;
const PAGE: u64 = 4096;

/// What a replay's storage holds, sparsely.
#[derive(Default)]
struct Shadow {
    pages: HashMap<u64, Box<[u8; 4096]>>,
}

impl Shadow {
    fn get(&self, addr: u64) -> u8 {
        self.pages
            .get(&(addr / PAGE))
            .map_or(0, |p| p[usize::try_from(addr % PAGE).unwrap_or(0)])
    }

    fn set(&mut self, addr: u64, v: u8) {
        if v == 0 && !self.pages.contains_key(&(addr / PAGE)) {
            return;
        }
        let p = self.pages.entry(addr / PAGE).or_insert_with(|| Box::new([0; 4096]));
        p[usize::try_from(addr % PAGE).unwrap_or(0)] = v;
    }
}

/// Merges `(addr, len)` ranges into sorted disjoint ones.
fn merge(mut r: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    r.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (a, l) in r {
        let end = a.saturating_add(l);
        match out.last_mut() {
            Some((pa, pl)) if a <= pa.saturating_add(*pl) => {
                let pend = pa.saturating_add(*pl).max(end);
                *pl = pend - *pa;
            }
            _ => out.push((a, l)),
        }
    }
    out
}

struct State {
    lines: Vec<Line>,
    shadow: Shadow,
    /// Accesses seen by the wrappers since the last recorded statement.
    pending: Vec<StorageAccess>,
    mcss: bool,
}

impl State {
    /// Turns accesses into `store` lines (before) and `expect` ranges
    /// (after), updating the shadow.
    fn absorb(&mut self, accesses: &[StorageAccess], stores: &mut BTreeMap<u64, u8>, writes: &mut Vec<(u64, u64)>) {
        for a in accesses {
            let len = a.data.len() as u64;
            if a.store {
                for (k, b) in a.data.iter().enumerate() {
                    self.shadow.set(a.addr.wrapping_add(k as u64), *b);
                }
                writes.push((a.addr, len));
            } else if a
                .data
                .iter()
                .enumerate()
                .any(|(k, b)| self.shadow.get(a.addr.wrapping_add(k as u64)) != *b)
            {
                // The whole range as read (a whole CCW, ORB, SCHIB …) reads
                // better than the bytes that changed; the first read of a
                // byte is its value before the instruction.
                for (k, b) in a.data.iter().enumerate() {
                    let at = a.addr.wrapping_add(k as u64);
                    self.shadow.set(at, *b);
                    stores.entry(at).or_insert(*b);
                }
            }
        }
    }

    fn bytes_of(&self, addr: u64, len: u64) -> Vec<u8> {
        (0..len).map(|k| self.shadow.get(addr.wrapping_add(k))).collect()
    }

    /// A comment naming the first CCW of the program an ORB points to, as a
    /// replay's storage holds it.
    fn describe_program(&self, orb_addr: u64) -> Option<String> {
        let orb = zcss_ccw::Orb::decode(&self.bytes_of(orb_addr, 12))?;
        let format = if orb.ctrl.format1() {
            zcss_ccw::CcwFormat::Format1
        } else {
            zcss_ccw::CcwFormat::Format0
        };
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&self.bytes_of(u64::from(orb.cpa), 8));
        let ccw = Ccw::decode(format, raw);
        let name = crate::decode::command_name(ccw.cmd).map_or_else(|| format!("cmd {:#04x}", ccw.cmd), str::to_owned);
        Some(format!("# {name} count={} cda={:#x}", ccw.count, ccw.cda))
    }

    /// `store` lines for the bytes of `stores`, in runs of adjacent addresses.
    fn emit_stores(&mut self, stores: &BTreeMap<u64, u8>) {
        let mut run: Vec<u8> = Vec::new();
        let mut start = 0u64;
        let flush = |run: &mut Vec<u8>, start: u64, lines: &mut Vec<Line>| {
            for (k, chunk) in run.chunks(BYTES_PER_LINE).enumerate() {
                lines.push(Line::stmt(Statement::Store {
                    addr: Num::hex(start + (k * BYTES_PER_LINE) as u64),
                    data: HexBytes::grouped(chunk.to_vec(), BYTES_PER_TOKEN),
                }));
            }
            run.clear();
        };
        for (&a, &b) in stores {
            if !run.is_empty() && a != start + run.len() as u64 {
                flush(&mut run, start, &mut self.lines);
            }
            if run.is_empty() {
                start = a;
            }
            run.push(b);
        }
        flush(&mut run, start, &mut self.lines);
    }

    /// `expect` lines for the written ranges, with the final contents.
    fn emit_expects(&mut self, ranges: Vec<(u64, u64)>) {
        for (a, l) in merge(ranges) {
            let mut off = 0;
            while off < l {
                let n = (l - off).min(BYTES_PER_LINE as u64);
                let at = a + off;
                let bytes = self.bytes_of(at, n);
                self.lines.push(Line::stmt(Statement::Expect {
                    addr: Num::hex(at),
                    data: Pattern::exact(&bytes, BYTES_PER_TOKEN),
                }));
                off += n;
            }
        }
    }

    /// Records one statement with the storage accesses that belong to it:
    /// first the wrappers' pending log, then `extra` (the observer's list).
    fn record(&mut self, stmt: InsnStmt, extra: &[StorageAccess]) {
        let pending = std::mem::take(&mut self.pending);
        let mut stores = BTreeMap::new();
        let mut writes = Vec::new();
        self.absorb(&pending, &mut stores, &mut writes);
        self.absorb(extra, &mut stores, &mut writes);
        self.emit_stores(&stores);
        let comment = match (stmt.insn, stmt.outcome) {
            (Insn::Ssch { orb, .. }, Some(Outcome::Cc(0))) => self.describe_program(orb.value),
            _ => None,
        };
        self.lines.push(Line {
            stmt: Some(Statement::Insn(stmt)),
            comment,
        });
        self.emit_expects(writes);
    }
}

/// Records a trace from a live embedding; see the module documentation.
pub struct Recorder {
    st: Mutex<State>,
    /// Set while [`Recorder::diag500`] runs: the device wrapper then leaves
    /// the recording of the notification to it.
    in_diag: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

fn pgm(p: zcss_css::ProgramCheck) -> PgmName {
    use zcss_css::ProgramCheck as P;
    match p {
        P::Operand => PgmName::Operand,
        P::Specification => PgmName::Specification,
        P::Addressing => PgmName::Addressing,
        P::Protection => PgmName::Protection,
        P::PrivilegedOperation => PgmName::PrivilegedOperation,
    }
}

/// The trace form of an instruction the css reports.
#[must_use]
pub fn trace_insn(i: &CssInsn) -> Insn {
    let h = |v: u32| Num::hex(u64::from(v));
    match *i {
        CssInsn::Ssch { gr1, orb_addr } => Insn::Ssch {
            gr1: h(gr1),
            orb: Num::hex(orb_addr),
        },
        CssInsn::Tsch { gr1, irb_addr } => Insn::Tsch {
            gr1: h(gr1),
            irb: Num::hex(irb_addr),
        },
        CssInsn::Stsch { gr1, schib_addr } => Insn::Stsch {
            gr1: h(gr1),
            schib: Num::hex(schib_addr),
        },
        CssInsn::Msch { gr1, schib_addr } => Insn::Msch {
            gr1: h(gr1),
            schib: Num::hex(schib_addr),
        },
        CssInsn::Csch { gr1 } => Insn::Csch { gr1: h(gr1) },
        CssInsn::Hsch { gr1 } => Insn::Hsch { gr1: h(gr1) },
        CssInsn::Xsch { gr1 } => Insn::Xsch { gr1: h(gr1) },
        CssInsn::Rsch { gr1 } => Insn::Rsch { gr1: h(gr1) },
        CssInsn::Tpi { addr, isc_mask } => Insn::Tpi {
            addr: Num::hex(addr),
            isc_mask: (isc_mask != 0xff).then(|| Num::bare_hex(u64::from(isc_mask), 2)),
        },
        CssInsn::Stcrw { addr } => Insn::Stcrw { addr: Num::hex(addr) },
        CssInsn::Rchp { gr1 } => Insn::Rchp { gr1: h(gr1) },
        CssInsn::Sal { gr1 } => Insn::Sal { gr1: h(gr1) },
        CssInsn::Schm { gr1, gr2 } => Insn::Schm {
            gr1: h(gr1),
            gr2: Num::hex(gr2),
        },
        CssInsn::Chsc { addr } => Insn::Chsc { addr: Num::hex(addr) },
        CssInsn::Sic { gr1, gr3 } => Insn::Sic {
            gr1: Num::hex(gr1),
            gr3: Num::hex(gr3),
        },
    }
}

/// The trace form of a css outcome.
#[must_use]
pub fn trace_outcome(o: CssOutcome) -> Outcome {
    match o {
        CssOutcome::Cc(cc) => Outcome::Cc(cc.value()),
        CssOutcome::Ok => Outcome::Ok,
        CssOutcome::Program(p) => Outcome::Pgm(pgm(p)),
    }
}

impl Recorder {
    /// A recorder for a machine built from `cfg` (header, `machine` and
    /// `device` lines are written now).
    #[must_use]
    pub fn new(cfg: &MachineConfig) -> Arc<Self> {
        let mut lines = vec![
            Line::stmt(Statement::Header(1)),
            Line::comment("# recorded by zcss"),
            Line::stmt(cfg.machine_statement()),
        ];
        for (_, d) in &cfg.devices {
            lines.push(Line::stmt(Statement::Device(d.clone())));
        }
        Arc::new(Self {
            st: Mutex::new(State {
                lines,
                shadow: Shadow::default(),
                pending: Vec::new(),
                mcss: cfg.mcss,
            }),
            in_diag: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Adds a comment line.
    pub fn comment(&self, text: &str) {
        let text = text.replace(['\n', '\r'], " ");
        self.st.lock().lines.push(Line::comment(&text));
    }

    /// Records an instruction executed outside the css's observer (with the
    /// storage accesses the wrappers logged since the last statement, plus
    /// `accesses`).
    pub fn record(&self, insn: Insn, outcome: Outcome, accesses: &[StorageAccess]) {
        self.st.lock().record(
            InsnStmt {
                insn,
                outcome: Some(outcome),
            },
            accesses,
        );
    }

    /// Executes DIAGNOSE 0x500 through `css` and records it with the
    /// registers as given and the storage the device touched, whatever the
    /// outcome (the css does not report DIAG to its observer).
    ///
    /// # Errors
    /// The program exception DIAG 0x500 ended with.
    pub fn diag500(
        &self,
        css: &zcss_css::Css,
        ctx: &zcss_css::IoCtx<'_>,
        gr: [u64; 4],
    ) -> Result<u64, zcss_css::ProgramCheck> {
        use std::sync::atomic::Ordering;
        self.in_diag.store(true, Ordering::SeqCst);
        let r = css.diag500(ctx, gr[0], gr[1], gr[2], gr[3]);
        self.in_diag.store(false, Ordering::SeqCst);
        let outcome = match r {
            Ok(v) => Outcome::Gr2(i64::from_ne_bytes(v.to_ne_bytes())),
            Err(p) => Outcome::Pgm(pgm(p)),
        };
        self.record(
            Insn::Diag500 {
                gr1: Num::dec(gr[0]),
                gr2: Num::hex(gr[1]),
                gr3: Num::dec(gr[2]),
                gr4: Num::dec(gr[3]),
            },
            outcome,
            &[],
        );
        r
    }

    /// Storage that logs every access into this recorder (use it as the
    /// storage of the instructions, so that device accesses made through the
    /// css — data streams, DIAG 0x500 notifications — are logged too).
    #[must_use]
    pub fn wrap_memory(self: &Arc<Self>, inner: Arc<dyn GuestMemory>) -> Arc<dyn GuestMemory> {
        Arc::new(LoggedMemory {
            inner,
            rec: self.clone(),
        })
    }

    /// A device whose DIAG 0x500 notifications are recorded as `diag500`
    /// statements (with the storage the device touched while handling them).
    #[must_use]
    pub fn wrap_device(self: &Arc<Self>, inner: Box<dyn Device>) -> Box<dyn Device> {
        Box::new(RecordedDevice {
            inner,
            rec: self.clone(),
            sid_word: None,
        })
    }

    /// The trace recorded so far.
    #[must_use]
    pub fn trace(&self) -> Trace {
        Trace {
            lines: self.st.lock().lines.clone(),
        }
    }

    /// The trace recorded so far, as text.
    #[must_use]
    pub fn text(&self) -> String {
        super::print(&self.trace())
    }

    fn log(&self, store: bool, addr: u64, data: &[u8]) {
        self.st.lock().pending.push(StorageAccess {
            store,
            addr,
            data: data.to_vec(),
        });
    }
}

impl Observer for Recorder {
    fn instruction(&self, insn: &CssInsn, outcome: CssOutcome, accesses: &[StorageAccess]) {
        self.record(trace_insn(insn), trace_outcome(outcome), accesses);
    }

    fn interruption(&self, code: &InterruptionCode) {
        let isc = code.iiw.isc() & 7;
        let bytes = code.to_lowcore_bytes();
        let access = StorageAccess {
            store: true,
            addr: InterruptionCode::LOWCORE_ADDR,
            data: bytes.to_vec(),
        };
        self.st.lock().record(
            InsnStmt {
                insn: Insn::Tpi {
                    addr: Num::hex(0),
                    isc_mask: Some(Num::bare_hex(u64::from(0x80u8 >> isc), 2)),
                },
                outcome: Some(Outcome::Cc(1)),
            },
            &[access],
        );
    }
}

/// Storage that logs every access into a recorder.
struct LoggedMemory {
    inner: Arc<dyn GuestMemory>,
    rec: Arc<Recorder>,
}

/// The logging itself, over borrowed storage.
struct LogRef<'a> {
    inner: &'a dyn GuestMemory,
    rec: &'a Recorder,
}

impl GuestMemory for LogRef<'_> {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn read(&self, addr: u64, buf: &mut [u8], key: AccessKey) -> Result<(), AccessError> {
        self.inner.read(addr, buf, key)?;
        self.rec.log(false, addr, buf);
        Ok(())
    }

    fn write(&self, addr: u64, data: &[u8], key: AccessKey) -> Result<(), AccessError> {
        self.inner.write(addr, data, key)?;
        self.rec.log(true, addr, data);
        Ok(())
    }

    fn fetch_or_u8(&self, addr: u64, mask: u8, key: AccessKey) -> Result<u8, AccessError> {
        let old = self.inner.fetch_or_u8(addr, mask, key)?;
        // The old value decides what happens next (a summary indicator going
        // from 0 to 1 raises an adapter interruption): a replay needs it.
        self.rec.log(false, addr, &[old]);
        self.rec.log(true, addr, &[old | mask]);
        Ok(old)
    }

    fn fetch_or_u64_be(&self, addr: u64, mask: u64, key: AccessKey) -> Result<u64, AccessError> {
        let old = self.inner.fetch_or_u64_be(addr, mask, key)?;
        self.rec.log(false, addr, &old.to_be_bytes());
        self.rec.log(true, addr, &(old | mask).to_be_bytes());
        Ok(old)
    }

    fn storage_key(&self, addr: u64) -> Option<StorageKey> {
        self.inner.storage_key(addr)
    }
}

impl LoggedMemory {
    fn r(&self) -> LogRef<'_> {
        LogRef {
            inner: &*self.inner,
            rec: &self.rec,
        }
    }
}

impl GuestMemory for LoggedMemory {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn read(&self, addr: u64, buf: &mut [u8], key: AccessKey) -> Result<(), AccessError> {
        self.r().read(addr, buf, key)
    }

    fn write(&self, addr: u64, data: &[u8], key: AccessKey) -> Result<(), AccessError> {
        self.r().write(addr, data, key)
    }

    fn fetch_or_u8(&self, addr: u64, mask: u8, key: AccessKey) -> Result<u8, AccessError> {
        self.r().fetch_or_u8(addr, mask, key)
    }

    fn fetch_or_u64_be(&self, addr: u64, mask: u64, key: AccessKey) -> Result<u64, AccessError> {
        self.r().fetch_or_u64_be(addr, mask, key)
    }

    fn storage_key(&self, addr: u64) -> Option<StorageKey> {
        self.inner.storage_key(addr)
    }
}

/// A device whose notifications are recorded.
struct RecordedDevice {
    inner: Box<dyn Device>,
    rec: Arc<Recorder>,
    sid_word: Option<u32>,
}

impl CcwDevice for RecordedDevice {
    fn program_start(&mut self, lpum: u8) {
        self.inner.program_start(lpum);
    }

    fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
        self.inner.execute(ccw, data)
    }

    fn program_end(&mut self, how: ProgramEnd) {
        self.inner.program_end(how);
    }
}

impl Device for RecordedDevice {
    fn info(&self) -> DeviceInfo {
        self.inner.info()
    }

    fn attached(&mut self, handle: SubchannelHandle) {
        let mcss = self.rec.st.lock().mcss;
        self.sid_word = Some(handle.sid().to_word(mcss));
        self.inner.attached(handle);
    }

    fn subchannel_reset(&mut self) {
        self.inner.subchannel_reset();
    }

    fn subchannel_disabled(&mut self) {
        self.inner.subchannel_disabled();
    }

    fn notify(&mut self, mem: &dyn GuestMemory, queue: u64, cookie: u64) -> Option<NotifyResult> {
        let logged = LogRef {
            inner: mem,
            rec: &self.rec,
        };
        let r = self.inner.notify(&logged, queue, cookie);
        if self.rec.in_diag.load(std::sync::atomic::Ordering::SeqCst) {
            // Recorder::diag500 records the instruction itself.
            return r;
        }
        let word = self.sid_word.unwrap_or(0);
        self.rec.record(
            Insn::Diag500 {
                gr1: Num::dec(3),
                gr2: Num::hex(u64::from(word)),
                gr3: Num::dec(queue),
                gr4: Num::dec(cookie),
            },
            r.map_or(Outcome::Gr2(-22), Outcome::Gr2),
            &[],
        );
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_joins_overlapping_and_adjacent_ranges() {
        assert_eq!(
            merge(vec![(10, 5), (0, 4), (4, 2), (12, 10), (40, 1)]),
            vec![(0, 6), (10, 12), (40, 1)]
        );
    }

    #[test]
    fn shadow_reads_zero_until_set() {
        let mut s = Shadow::default();
        assert_eq!(s.get(0x1234), 0);
        s.set(0x1234, 7);
        assert_eq!(s.get(0x1234), 7);
        assert_eq!(s.get(0x1235), 0);
        s.set(0x9000, 0);
        assert_eq!(
            s.pages.len(),
            1,
            "storing zero into an untouched page allocates nothing"
        );
    }

    #[test]
    fn record_read_of_changed_range_emits_store_before_and_expect_after() {
        let rec = Recorder::new(&MachineConfig::default());
        let read = StorageAccess {
            store: false,
            addr: 0x100,
            data: vec![1, 2, 3],
        };
        let write = StorageAccess {
            store: true,
            addr: 0x200,
            data: vec![9],
        };
        rec.record(
            Insn::Csch { gr1: Num::hex(0x10000) },
            Outcome::Cc(0),
            &[read.clone(), write],
        );
        // The same read again: replay storage already holds it, no store.
        rec.record(Insn::Csch { gr1: Num::hex(0x10000) }, Outcome::Cc(0), &[read]);
        let text = rec.text();
        let body: Vec<&str> = text.lines().skip(3).collect();
        assert_eq!(
            body,
            vec![
                "store 0x00000100 010203",
                "csch 0x00010000 => cc=0",
                "expect 0x00000200 09",
                "csch 0x00010000 => cc=0",
            ]
        );
    }
}
