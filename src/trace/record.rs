//! The recorder: writes a trace from a live embedding.
//!
//! [`Recorder`] is a css [`Observer`]: every I/O instruction the css reports
//! becomes an instruction statement with its result, preceded by `store`
//! lines for the guest storage the instruction read (only bytes a replay
//! would not already hold) and followed by `expect` lines for the storage it
//! wrote. DIAGNOSE 0x500 (the virtio notification) is reported like any
//! other instruction and becomes a `diag500` statement with the storage the
//! device touched while it handled the notification.
//!
//! [`Recorder::wrap_memory`] gives the devices storage that logs every
//! access made outside an instruction (a device working on its own thread),
//! including the old value of an interlocked OR (adapter indicators), which
//! a replay needs; those accesses go with the next statement.
//!
//! Bytes the css stored from its clock (the time fields of a measurement
//! block under the timing facility, see
//! [`Observer::nondeterministic_store`]) are written as `..` in `expect`
//! lines: a replay's clock gives other values.
//!
//! Interruptions the embedding takes with `Css::next_interrupt` are written
//! as `tpi 0x0 isc-mask=<that ISC>` with an `expect` of the interruption code
//! in the prefix area: the same effect on a replay.
//!
//! The recorder keeps a sparse shadow of what a replay's storage will hold
//! (zero at first, then every `store` and every recorded write), so a read of
//! unchanged storage costs no `store` line.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::ThreadId;

use parking_lot::Mutex;
use zcss_ccw::intcode::InterruptionCode;
use zcss_ccw::memory::{AccessError, AccessKey, GuestMemory, StorageKey};
use zcss_ccw::Ccw;
use zcss_css::observer::HostEvent;
use zcss_css::observer::{Insn as CssInsn, Outcome as CssOutcome, StorageAccess};
use zcss_css::{Css, Device, Observer};
use zcss_virtio_ccw::{Block, VirtioCcwDevice};

use super::ast::HexBytes;
use super::ast::{
    DeviceKind, DeviceStmt, Insn, InsnStmt, Line, Num, Outcome, Param, Pattern, SchAddr, Statement, Trace,
};
use crate::machine::config::MachineConfig;

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

/// An access a wrapper logged outside the observer's report.
struct Pending {
    /// The thread that made it: an instruction takes only its own
    /// thread's accesses.
    thread: ThreadId,
    /// An asynchronous device's access ([`Recorder::wrap_async_memory`]),
    /// which waits for the next `wait` (or IPL, which waits for its device).
    deferred: bool,
    access: StorageAccess,
}

/// Where the recorder saves the starting contents of disks.
#[derive(Debug, Clone)]
struct ImageDir {
    dir: PathBuf,
    /// Images saved so far (numbers the file names).
    saved: usize,
}

struct State {
    lines: Vec<Line>,
    shadow: Shadow,
    /// Accesses seen by the wrappers since the last recorded statement, in
    /// the order they happened.
    pending: Vec<Pending>,
    /// An instruction was recorded: a `device` line is a hot plug now.
    started: bool,
    /// Where disk images go ([`Recorder::start`]).
    images: Option<ImageDir>,
    /// Host events the recorder could not write (a device it cannot
    /// describe).
    problems: Vec<String>,
    /// Ranges (address, length) the css stores from its clock: never
    /// expected byte for byte.
    nondeterministic: BTreeSet<(u64, u64)>,
    /// The device kinds by subchannel set and number (for naming the
    /// commands of a channel program).
    kinds: HashMap<(u8, u16), DeviceKind>,
    /// Guest storage size, so that a comment never describes a CCW beyond
    /// it.
    memory: u64,
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
    /// replay's storage holds it, for the device GR1 names.
    fn describe_program(&self, gr1: u64, orb_addr: u64) -> Option<String> {
        let orb = zcss_ccw::Orb::decode(&self.bytes_of(orb_addr, 12))?;
        let format = if orb.ctrl.format1() {
            zcss_ccw::CcwFormat::Format1
        } else {
            zcss_ccw::CcwFormat::Format0
        };
        let cpa = u64::from(orb.cpa);
        if cpa % 8 != 0 {
            return Some(format!("# no CCW: the CPA {cpa:#x} is not on a doubleword boundary"));
        }
        if cpa.saturating_add(8) > self.memory {
            return Some(format!("# no CCW: the CPA {cpa:#x} is outside guest storage"));
        }
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&self.bytes_of(cpa, 8));
        let ccw = Ccw::decode(format, raw);
        let [.., ss, n0, n1] = gr1.to_be_bytes();
        let kind = self.kinds.get(&((ss >> 1) & 3, u16::from_be_bytes([n0, n1]))).copied();
        let name = crate::decode::command_name_for(kind, ccw.cmd)
            .map_or_else(|| format!("cmd {:#04x}", ccw.cmd), str::to_owned);
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

    /// Whether the css stores the byte at `addr` from its clock.
    fn is_nondeterministic(&self, addr: u64) -> bool {
        self.nondeterministic
            .range(..=(addr, u64::MAX))
            .any(|&(a, l)| addr.wrapping_sub(a) < l)
    }

    /// `expect` lines for the written ranges, with the final contents (`..`
    /// for bytes the css stores from its clock).
    fn emit_expects(&mut self, ranges: Vec<(u64, u64)>) {
        for (a, l) in merge(ranges) {
            let mut off = 0;
            while off < l {
                let n = (l - off).min(BYTES_PER_LINE as u64);
                let at = a + off;
                let bytes = self.bytes_of(at, n);
                let mut data = Pattern::exact(&bytes, BYTES_PER_TOKEN);
                for (k, b) in (at..).zip(data.bytes.iter_mut()) {
                    if self.is_nondeterministic(k) {
                        *b = None;
                    }
                }
                self.lines.push(Line::stmt(Statement::Expect {
                    addr: Num::hex(at),
                    data,
                }));
                off += n;
            }
        }
    }

    /// The logged accesses that belong to a statement now, in the order
    /// they happened: those of synchronous work on `thread` (all threads'
    /// for `None`, a `wait`), and with `with_async` (a `wait` or an IPL)
    /// the asynchronous devices' writes. Asynchronous devices' reads are
    /// dropped: they run while the guest goes on, so what they read was
    /// stored before the instruction that started them (the CPU's stores,
    /// [`Recorder::cpu_memory`]) or is in flux — never a `store` a replay
    /// needs at this point.
    fn take_pending(&mut self, with_async: bool, thread: Option<ThreadId>) -> Vec<StorageAccess> {
        let mut out = Vec::new();
        let mut kept = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            let mine = thread.is_none_or(|t| t == p.thread);
            match (p.deferred, with_async) {
                (false, _) if mine => out.push(p.access),
                (false, _) => kept.push(p),
                (true, true) if p.access.store => out.push(p.access),
                (true, true) => {}
                (true, false) => kept.push(p),
            }
        }
        self.pending = kept;
        out
    }

    /// Records one statement with the storage accesses that belong to it:
    /// the wrappers' log of this thread (for an IPL, which waits for its
    /// device, with the asynchronous devices' writes), then `extra` (the
    /// observer's list) unless the log already holds it (the css worked
    /// through a wrapper): `store` lines before, the statement, `expect`
    /// lines after.
    fn record(&mut self, stmt: Statement, extra: &[StorageAccess]) {
        if !matches!(stmt, Statement::Insn(_)) {
            self.start_run();
        }
        let with_async = matches!(
            &stmt,
            Statement::Insn(InsnStmt {
                insn: Insn::Ipl { .. },
                ..
            })
        );
        let pending = self.take_pending(with_async, Some(std::thread::current().id()));
        let mut stores = BTreeMap::new();
        let mut writes = Vec::new();
        self.absorb(&pending, &mut stores, &mut writes);
        let mut rest = pending.iter();
        let logged = extra.iter().all(|e| rest.any(|p| p == e));
        if !logged {
            self.absorb(extra, &mut stores, &mut writes);
        }
        self.emit_stores(&stores);
        let comment = match &stmt {
            Statement::Insn(InsnStmt {
                insn: Insn::Ssch { gr1, orb },
                outcome: Some(Outcome::Cc(0)),
            }) => self.describe_program(gr1.value, orb.value),
            _ => None,
        };
        if matches!(stmt, Statement::Insn(_)) {
            self.started = true;
        }
        self.lines.push(Line {
            stmt: Some(stmt),
            comment,
        });
        self.emit_expects(writes);
    }

    /// Before the first instruction, a host event (a hot plug, detach,
    /// reset or input) needs one: `device` lines before it are the
    /// machine's, built before anything runs. An instruction without
    /// effect (TPI with no ISC enabled) is written then.
    fn start_run(&mut self) {
        if self.started {
            return;
        }
        self.lines.push(Line::comment(
            "# an instruction without effect: the machine is built, the run begins",
        ));
        self.record(
            Statement::Insn(InsnStmt {
                insn: Insn::Tpi {
                    addr: Num::hex(0),
                    isc_mask: Some(Num::bare_hex(0, 2)),
                },
                outcome: Some(Outcome::Cc(0)),
            }),
            &[],
        );
    }

    /// A `device` line for a device attached now (a hot plug once an
    /// instruction was recorded). A hot plug before the first instruction
    /// is preceded by an instruction without effect ([`State::start_run`]),
    /// so that the replay plugs it hot too.
    fn attach(&mut self, d: DeviceStmt, hot: bool) {
        if hot {
            self.start_run();
        }
        self.kinds.insert((d.sch.ssid, d.sch.schno), d.kind);
        self.lines.push(Line::stmt(Statement::Device(d)));
    }
}

/// Why [`Recorder::start`] cannot record a channel subsystem.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A device the trace format cannot describe, or cannot describe from
    /// the live css.
    #[error("cannot record the device at {sch}: {reason}")]
    Describe {
        /// Its subchannel.
        sch: SchAddr,
        /// Why.
        reason: String,
    },
    /// A disk's starting contents could not be saved.
    #[error("cannot save the starting contents of the disk at {sch} to {path}: {source}")]
    Image {
        /// The disk's subchannel.
        sch: SchAddr,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The trace address of a subchannel.
fn sch_of(sid: zcss_css::SubchannelId) -> SchAddr {
    SchAddr {
        cssid: sid.cssid,
        ssid: sid.ssid,
        schno: sid.schno,
    }
}

/// The `device` statement of a device attached at `sid`: the kinds the
/// trace format names, found by downcasting. A disk whose contents are not
/// all zero gets `image=` with its starting contents saved in `images`
/// (refused without a directory).
fn describe(
    sid: zcss_css::SubchannelId,
    devno: u16,
    device: Option<&dyn Device>,
    images: Option<&mut ImageDir>,
) -> Result<DeviceStmt, RecordError> {
    let sch = sch_of(sid);
    let refuse = |reason: &str| RecordError::Describe {
        sch,
        reason: reason.to_owned(),
    };
    let Some(device) = device else {
        return Err(refuse(
            "a passthrough device is described by its configuration only: build the machine with \
             Machine::build and a recorder",
        ));
    };
    let any: &dyn Any = device;
    let Some(proxy) = any.downcast_ref::<VirtioCcwDevice>() else {
        return Err(refuse(
            "only virtio-ccw devices are described from a live css (an emulated DASD is recorded through \
             Machine::build and a recorder)",
        ));
    };
    let mut params = Vec::new();
    let param = |k: &str, v: String| Param {
        key: k.into(),
        value: v,
    };
    let kind = match proxy.device().device_type() {
        zcss_virtio_ccw::device::id::BLOCK => {
            let blk = proxy
                .device_as::<Block>()
                .ok_or_else(|| refuse("a virtio block device other than zcss's Block"))?;
            params.push(param("size", (blk.capacity().saturating_mul(512)).to_string()));
            let contents = blk.contents().map_err(|source| RecordError::Image {
                sch,
                path: PathBuf::from("<disk>"),
                source,
            })?;
            if blk.is_file_backed() || contents.iter().any(|&b| b != 0) {
                let Some(dir) = images else {
                    return Err(refuse(
                        "the disk has contents a replay needs; give the recorder a directory to save them in",
                    ));
                };
                dir.saved += 1;
                let name = format!(
                    "disk-{:x}.{:x}.{:04x}-{}.img",
                    sid.cssid, sid.ssid, sid.schno, dir.saved
                );
                let path = dir.dir.join(&name);
                std::fs::write(&path, &contents).map_err(|source| RecordError::Image { sch, path, source })?;
                params.push(param("image", name));
            }
            if blk.read_only() {
                params.push(param("readonly", "on".into()));
            }
            DeviceKind::VirtioBlk
        }
        zcss_virtio_ccw::device::id::RNG => DeviceKind::VirtioRng,
        zcss_virtio_ccw::device::id::CONSOLE => DeviceKind::VirtioConsole,
        other => return Err(refuse(&format!("virtio device id {other} has no trace kind"))),
    };
    Ok(DeviceStmt {
        sch,
        devno,
        kind,
        params,
    })
}

/// Records a trace from a live embedding; see the module documentation.
pub struct Recorder {
    st: Mutex<State>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

pub use super::ast::trace_program_check;

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
        CssInsn::Ipl { gr1 } => Insn::Ipl { gr1: h(gr1) },
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
        CssInsn::Diag500 { subcode, gr2, gr3, gr4 } => Insn::Diag500 {
            gr1: Num::dec(subcode),
            gr2: Num::hex(gr2),
            gr3: Num::dec(gr3),
            gr4: Num::dec(gr4),
        },
    }
}

/// The trace form of a css outcome.
#[must_use]
pub fn trace_outcome(o: CssOutcome) -> Outcome {
    match o {
        CssOutcome::Cc(cc) => Outcome::Cc(cc.value()),
        CssOutcome::Ok => Outcome::Ok,
        CssOutcome::Gr2(v) => Outcome::Gr2(i64::from_ne_bytes(v.to_ne_bytes())),
        CssOutcome::Program(p) => Outcome::Pgm(trace_program_check(p)),
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
                started: false,
                images: None,
                problems: Vec::new(),
                nondeterministic: BTreeSet::new(),
                kinds: cfg
                    .devices
                    .iter()
                    .map(|(_, d)| ((d.sch.ssid, d.sch.schno), d.kind))
                    .collect(),
                memory: cfg.memory,
            }),
        })
    }

    /// Starts recording `css` in one step: describes the machine from the
    /// live css (its configuration, `memory_size` bytes of guest storage,
    /// every device attached now as a `device` line) and registers the
    /// recorder as its observer, so that every instruction, interruption
    /// taken and host event (attach, detach, reset, device input) from now
    /// on is recorded, whichever thread it happens on. Instructions need no
    /// wrapped storage: the css reports the storage each one touched.
    ///
    /// A virtio-blk disk with contents (not all zero, or backed by a file,
    /// which the guest changes) has its starting contents saved in
    /// `image_dir` as `disk-<sch>-<n>.img` and named by `image=`: save the
    /// trace in the same directory. Without `image_dir` such a disk is
    /// refused. Devices the trace format cannot describe from the css
    /// (passthrough devices, emulated DASDs, other virtio devices) are
    /// refused; record those through [`crate::machine::Machine::build`]. A
    /// virtio-rng is replayed with [`crate::machine::DeterministicEntropy`]:
    /// record it with that source.
    ///
    /// Start it before the guest runs.
    ///
    /// # Errors
    /// A device that cannot be described, or an image that cannot be saved;
    /// nothing is registered then.
    pub fn start(css: &Css, memory_size: u64, image_dir: Option<&Path>) -> Result<Arc<Self>, RecordError> {
        let mut rec = None;
        css.install_observer(|css| {
            let mut images = image_dir.map(|d| ImageDir {
                dir: d.to_path_buf(),
                saved: 0,
            });
            let cfg_css = css.config();
            let mut cfg = MachineConfig {
                memory: memory_size,
                mcss: cfg_css.mcss,
                mss: cfg_css.mss,
                default_css: cfg_css.default_cssid,
                ..MachineConfig::default()
            };
            for (sid, devno) in css.devices() {
                let d = css
                    .inspect_device(sid, |dev| describe(sid, devno, Some(dev), images.as_mut()))
                    .unwrap_or_else(|| describe(sid, devno, None, None))?;
                let d = with_css_keys(css, sid, d);
                cfg.devices.push((0, d));
            }
            let r = Self::new(&cfg);
            r.st.lock().images = images;
            rec = Some(r.clone());
            Ok::<_, RecordError>(r as Arc<dyn Observer>)
        })?;
        Ok(rec.unwrap_or_else(|| Self::new(&MachineConfig::default())))
    }

    /// What the recorder could not write (a device hot-plugged during the
    /// recording that it cannot describe): a replay of such a recording
    /// differs from the run.
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        self.st.lock().problems.clone()
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
            Statement::Insn(InsnStmt {
                insn,
                outcome: Some(outcome),
            }),
            accesses,
        );
    }

    /// Adds a `wait` statement: a replay lets asynchronous device work
    /// finish here. Record it where the embedding waited for a passthrough
    /// device, before it took the interruption: the storage the
    /// asynchronous devices wrote since the last `wait` is expected after
    /// it.
    pub fn wait(&self) {
        let mut st = self.st.lock();
        let accesses = st.take_pending(true, None);
        let mut stores = BTreeMap::new();
        let mut writes = Vec::new();
        st.absorb(&accesses, &mut stores, &mut writes);
        st.emit_stores(&stores);
        st.lines.push(Line::stmt(Statement::Wait));
        st.emit_expects(writes);
    }

    /// Storage for devices that complete asynchronously (passthrough):
    /// their writes belong to the `wait` that lets them finish
    /// ([`Recorder::wait`]) — or to an IPL, which waits for its device —
    /// not to the instruction that happens to be recorded while they run;
    /// their reads are not written (the data they read must reach the trace
    /// as the CPU's stores: [`Recorder::cpu_memory`]). `inner` is the
    /// storage itself.
    #[must_use]
    pub fn wrap_async_memory(self: &Arc<Self>, inner: Arc<dyn GuestMemory>) -> Arc<dyn GuestMemory> {
        Arc::new(LoggedMemory {
            inner,
            rec: self.clone(),
            deferred: true,
        })
    }

    /// Records a store by the guest's CPU: `store` lines for `data` when a
    /// replay's storage does not already hold it (the whole range, as a
    /// read is written out whole; none when it holds every byte).
    pub fn cpu_store(&self, addr: u64, data: &[u8]) {
        let mut st = self.st.lock();
        let at = |k: usize| addr.wrapping_add(k as u64);
        if data.iter().enumerate().all(|(k, &b)| st.shadow.get(at(k)) == b) {
            return;
        }
        let mut bytes = BTreeMap::new();
        for (k, &b) in data.iter().enumerate() {
            st.shadow.set(at(k), b);
            bytes.insert(at(k), b);
        }
        st.emit_stores(&bytes);
    }

    /// Storage for the guest's CPU: its writes become `store` lines at once
    /// ([`Recorder::cpu_store`]), its reads are not logged. A driver that
    /// fills buffers for a device working asynchronously (a passthrough
    /// device reads the data of a write after START SUBCHANNEL has been
    /// recorded) writes through it, so the replay's storage holds the data
    /// before the instruction. An interlocked update is recorded as a store
    /// of the value it leaves. `inner` is the storage itself, not a
    /// [`Recorder::wrap_memory`] wrapper (whose log would take the CPU's
    /// accesses for a device's).
    #[must_use]
    pub fn cpu_memory(self: &Arc<Self>, inner: Arc<dyn GuestMemory>) -> Arc<dyn GuestMemory> {
        Arc::new(CpuMemory {
            inner,
            rec: self.clone(),
        })
    }

    /// Storage that logs every access into this recorder: give it to
    /// devices that touch guest storage outside an instruction. (The
    /// accesses of an instruction, its channel program and a DIAG 0x500
    /// notification included, reach the recorder as an observer anyway.)
    #[must_use]
    pub fn wrap_memory(self: &Arc<Self>, inner: Arc<dyn GuestMemory>) -> Arc<dyn GuestMemory> {
        Arc::new(LoggedMemory {
            inner,
            rec: self.clone(),
            deferred: false,
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

    /// The trace recorded so far, as text in the symbolic forms (ORBs,
    /// CCWs and IDALs by field, subchannel operands as bus ids; see
    /// [`super::symbolize()`]): the same trace, for people.
    #[must_use]
    pub fn symbolic_text(&self) -> String {
        super::print(&super::symbolize(&self.trace()))
    }

    fn log(&self, deferred: bool, store: bool, addr: u64, data: &[u8]) {
        self.st.lock().pending.push(Pending {
            thread: std::thread::current().id(),
            deferred,
            access: StorageAccess {
                store,
                addr,
                data: data.to_vec(),
            },
        });
    }
}

/// `chpids=` and `timing=on` for a device whose subchannel the css set up
/// otherwise than the device's own description says.
fn with_css_keys(css: &Css, sid: zcss_css::SubchannelId, mut d: DeviceStmt) -> DeviceStmt {
    if let (Some(schib), Some(info)) = (css.schib(sid), css.device_info(sid)) {
        let p = &schib.pmcw;
        if p.pim != info.paths.pim() || p.chpid != info.paths.chpids() {
            let list: Vec<String> = (0..8)
                .filter(|k| p.pim & (0x80 >> k) != 0)
                .map(|k| format!("{:02x}", p.chpid[k]))
                .collect();
            if !list.is_empty() {
                d.params.push(Param {
                    key: "chpids".into(),
                    value: list.join(","),
                });
            }
        }
    }
    if css.timing_facility(sid) == Some(true) {
        d.params.push(Param {
            key: super::TIMING_KEY.into(),
            value: "on".into(),
        });
    }
    d
}

impl Observer for Recorder {
    fn instruction(&self, insn: &CssInsn, outcome: CssOutcome, accesses: &[StorageAccess]) {
        self.record(trace_insn(insn), trace_outcome(outcome), accesses);
    }

    fn host_event(&self, event: &HostEvent<'_>, accesses: &[StorageAccess]) {
        let mut guard = self.st.lock();
        let st = &mut *guard;
        match *event {
            HostEvent::Attach {
                sid,
                devno,
                hot,
                device,
            } => match describe(sid, devno, device, st.images.as_mut()) {
                Ok(d) => {
                    if st.started && !hot {
                        // The format has no cold plug after the first
                        // instruction: the replay makes a channel report.
                        st.problems.push(format!(
                            "{}: cold plug after the first instruction is replayed as a hot plug",
                            d.sch
                        ));
                    }
                    st.attach(d, hot);
                }
                Err(e) => {
                    let text = e.to_string();
                    st.lines.push(Line::comment(&format!("# not recorded: {text}")));
                    st.problems.push(text);
                }
            },
            HostEvent::Detach { sid, hot } => {
                if !hot {
                    st.problems.push(format!(
                        "{}: a detach without a channel report is replayed as a hot unplug",
                        sch_of(sid)
                    ));
                }
                st.kinds.remove(&(sid.ssid, sid.schno));
                st.record(Statement::Detach(sch_of(sid)), accesses);
            }
            HostEvent::Reset => st.record(Statement::Reset, accesses),
            HostEvent::Unsolicited { sid, status, sense } => st.record(
                Statement::Unsolicited {
                    sch: sch_of(sid),
                    dstat: Num {
                        value: u64::from(status.into_bits()),
                        style: crate::trace::NumStyle::Hex(2),
                    },
                    sense: sense.map(|s| HexBytes::grouped(s.as_slice().to_vec(), 32)),
                },
                accesses,
            ),
            HostEvent::Input { sid, data } => st.record(
                Statement::ConsoleInput {
                    sch: sch_of(sid),
                    data: HexBytes::grouped(data.to_vec(), BYTES_PER_TOKEN),
                },
                accesses,
            ),
        }
    }

    fn nondeterministic_store(&self, addr: u64, len: u64) {
        self.st.lock().nondeterministic.insert((addr, len));
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
            Statement::Insn(InsnStmt {
                insn: Insn::Tpi {
                    addr: Num::hex(0),
                    isc_mask: Some(Num::bare_hex(u64::from(0x80u8 >> isc), 2)),
                },
                outcome: Some(Outcome::Cc(1)),
            }),
            &[access],
        );
    }
}

/// The CPU's storage: writes are recorded as `store` lines.
struct CpuMemory {
    inner: Arc<dyn GuestMemory>,
    rec: Arc<Recorder>,
}

impl GuestMemory for CpuMemory {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn read(&self, addr: u64, buf: &mut [u8], key: AccessKey) -> Result<(), AccessError> {
        self.inner.read(addr, buf, key)
    }

    fn write(&self, addr: u64, data: &[u8], key: AccessKey) -> Result<(), AccessError> {
        self.inner.write(addr, data, key)?;
        self.rec.cpu_store(addr, data);
        Ok(())
    }

    fn fetch_or_u8(&self, addr: u64, mask: u8, key: AccessKey) -> Result<u8, AccessError> {
        let old = self.inner.fetch_or_u8(addr, mask, key)?;
        self.rec.cpu_store(addr, &[old | mask]);
        Ok(old)
    }

    fn fetch_or_u64_be(&self, addr: u64, mask: u64, key: AccessKey) -> Result<u64, AccessError> {
        let old = self.inner.fetch_or_u64_be(addr, mask, key)?;
        self.rec.cpu_store(addr, &(old | mask).to_be_bytes());
        Ok(old)
    }

    fn storage_key(&self, addr: u64) -> Option<StorageKey> {
        self.inner.storage_key(addr)
    }
}

/// Storage that logs every access into a recorder.
struct LoggedMemory {
    inner: Arc<dyn GuestMemory>,
    rec: Arc<Recorder>,
    /// An asynchronous device's: logged for the next `wait`.
    deferred: bool,
}

impl GuestMemory for LoggedMemory {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn read(&self, addr: u64, buf: &mut [u8], key: AccessKey) -> Result<(), AccessError> {
        self.inner.read(addr, buf, key)?;
        self.rec.log(self.deferred, false, addr, buf);
        Ok(())
    }

    fn write(&self, addr: u64, data: &[u8], key: AccessKey) -> Result<(), AccessError> {
        self.inner.write(addr, data, key)?;
        self.rec.log(self.deferred, true, addr, data);
        Ok(())
    }

    fn fetch_or_u8(&self, addr: u64, mask: u8, key: AccessKey) -> Result<u8, AccessError> {
        let old = self.inner.fetch_or_u8(addr, mask, key)?;
        // The old value decides what happens next (a summary indicator going
        // from 0 to 1 raises an adapter interruption): a replay needs it.
        self.rec.log(self.deferred, false, addr, &[old]);
        self.rec.log(self.deferred, true, addr, &[old | mask]);
        Ok(old)
    }

    fn fetch_or_u64_be(&self, addr: u64, mask: u64, key: AccessKey) -> Result<u64, AccessError> {
        let old = self.inner.fetch_or_u64_be(addr, mask, key)?;
        self.rec.log(self.deferred, false, addr, &old.to_be_bytes());
        self.rec.log(self.deferred, true, addr, &(old | mask).to_be_bytes());
        Ok(old)
    }

    fn storage_key(&self, addr: u64) -> Option<StorageKey> {
        self.inner.storage_key(addr)
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

    #[test]
    fn cpu_store_emits_what_a_replay_lacks_once_and_device_reads_of_it_emit_nothing() {
        let rec = Recorder::new(&MachineConfig::default());
        let mem = rec.cpu_memory(Arc::new(zcss_ccw::VecMemory::new(0x1000)));
        mem.write(0x100, &[0, 7, 8, 0], AccessKey::ZERO).unwrap();
        mem.write(0x100, &[0, 7, 8, 0], AccessKey::ZERO).unwrap();
        rec.wait();
        let read = StorageAccess {
            store: false,
            addr: 0x100,
            data: vec![0, 7, 8, 0],
        };
        rec.record(Insn::Csch { gr1: Num::hex(0x10000) }, Outcome::Cc(0), &[read]);
        let text = rec.text();
        let body: Vec<&str> = text.lines().skip(3).collect();
        assert_eq!(
            body,
            vec!["store 0x00000100 00070800", "wait", "csch 0x00010000 => cc=0"]
        );
    }

    #[test]
    fn async_device_writes_are_expected_after_the_wait_not_the_instruction_running() {
        let rec = Recorder::new(&MachineConfig::default());
        let dma = rec.wrap_async_memory(Arc::new(zcss_ccw::VecMemory::new(0x1000)));
        let mut b = [0u8; 2];
        dma.read(0x300, &mut b, AccessKey::ZERO).unwrap();
        dma.write(0x200, &[5, 6], AccessKey::ZERO).unwrap();
        rec.record(Insn::Csch { gr1: Num::hex(0x10000) }, Outcome::Cc(0), &[]);
        rec.wait();
        let text = rec.text();
        let body: Vec<&str> = text.lines().skip(3).collect();
        assert_eq!(body, vec!["csch 0x00010000 => cc=0", "wait", "expect 0x00000200 0506"]);
    }

    #[test]
    fn ipl_takes_async_writes_in_the_order_they_happened() {
        let rec = Recorder::new(&MachineConfig::default());
        let inner: Arc<dyn GuestMemory> = Arc::new(zcss_ccw::VecMemory::new(0x1000));
        let css_view = rec.wrap_memory(inner.clone());
        let dma = rec.wrap_async_memory(inner);
        // The css places a CCW, the device overwrites it, the css reads
        // what was loaded: no `store` is needed before the IPL.
        css_view.write(0, &[2, 0, 0, 0], AccessKey::ZERO).unwrap();
        dma.write(0, &[9, 8, 7, 6], AccessKey::ZERO).unwrap();
        let mut b = [0u8; 4];
        css_view.read(0, &mut b, AccessKey::ZERO).unwrap();
        rec.record(Insn::Ipl { gr1: Num::hex(0x10000) }, Outcome::Ok, &[]);
        let text = rec.text();
        let body: Vec<&str> = text.lines().skip(3).collect();
        assert_eq!(body, vec!["ipl 0x00010000 => ok", "expect 0x00000000 09080706"]);
    }

    #[test]
    fn record_takes_only_the_wrapped_accesses_of_its_own_thread() {
        let rec = Recorder::new(&MachineConfig::default());
        let mem = rec.wrap_memory(Arc::new(zcss_ccw::VecMemory::new(0x1000)));
        // Another thread (a device working on its own) writes meanwhile.
        let other = mem.clone();
        std::thread::spawn(move || other.write(0x300, &[7], AccessKey::ZERO).unwrap())
            .join()
            .unwrap();
        mem.write(0x200, &[5], AccessKey::ZERO).unwrap();
        rec.record(Insn::Csch { gr1: Num::hex(0x10000) }, Outcome::Cc(0), &[]);
        rec.wait();
        let text = rec.text();
        let body: Vec<&str> = text.lines().skip(3).collect();
        assert_eq!(
            body,
            vec![
                "csch 0x00010000 => cc=0",
                "expect 0x00000200 05",
                "wait",
                "expect 0x00000300 07"
            ],
            "the other thread's write is not this instruction's; `wait` takes it"
        );
    }

    #[test]
    fn host_event_before_the_first_instruction_begins_the_run_with_a_no_op() {
        let rec = Recorder::new(&MachineConfig::default());
        rec.host_event(&HostEvent::Reset, &[]);
        rec.host_event(
            &HostEvent::Attach {
                sid: zcss_css::SubchannelId {
                    cssid: 0xfe,
                    ssid: 0,
                    schno: 1,
                },
                devno: 1,
                hot: false,
                device: None,
            },
            &[],
        );
        let text = rec.text();
        let body: Vec<&str> = text.lines().skip(3).collect();
        assert_eq!(body[1], "tpi 0x00000000 isc-mask=00 => cc=0", "{text}");
        assert_eq!(body[2], "reset", "{text}");
        assert!(
            body[3].starts_with("# not recorded: cannot record the device at fe.0.0001"),
            "{text}"
        );
        assert_eq!(rec.problems().len(), 1);
        let t = super::super::parse(&text).unwrap();
        assert_eq!(super::super::print(&t), text);
    }

    #[test]
    fn record_write_over_nondeterministic_range_expects_wildcards_there() {
        let rec = Recorder::new(&MachineConfig::default());
        rec.nondeterministic_store(0x104, 4);
        let write = StorageAccess {
            store: true,
            addr: 0x100,
            data: (1..=10).collect(),
        };
        rec.record(Insn::Csch { gr1: Num::hex(0x10000) }, Outcome::Cc(0), &[write]);
        let text = rec.text();
        let body: Vec<&str> = text.lines().skip(3).collect();
        assert_eq!(
            body,
            vec!["csch 0x00010000 => cc=0", "expect 0x00000100 01020304 ........ 090a"]
        );
        let trace = super::super::parse(&text).unwrap();
        assert_eq!(super::super::print(&trace), text, "the recording is canonical");
    }
}
