//! A fuzzing harness for any device (feature `arbitrary`): generated
//! starts ([`zcss_ccw::generate::StartDesc`]) on several subchannels, with
//! HALT, CLEAR, CANCEL and RESUME SUBCHANNEL, TEST SUBCHANNEL, TEST PENDING
//! INTERRUPTION and unsolicited status interleaved, against a [`Css`]
//! holding *your* [`Device`] or [`PassthroughDevice`]; after every step the
//! harness checks the invariants the architecture gives every device:
//!
//! * no panic, and bounded work (the device sees at most
//!   [`MAX_CCWS_PER_STEP`] CCWs per step);
//! * the css state invariants: status pending ⇔ exactly one queued
//!   interruption, on the PMCW's ISC; no activity without a function
//!   (`Css::check_invariants`);
//! * every SCSW that TEST SUBCHANNEL stores is consistent (PoO chapter 16,
//!   "Subchannel-Status Word"): status pending is set; alert, primary,
//!   secondary and intermediate status have a function, or are alone
//!   (unsolicited alert status); suspended and resume pending only with the
//!   start function; for the primary status of a well-formed start that
//!   ended without a check, the CCW address lies after a CCW of the program
//!   and the residual count is at most that CCW's count;
//! * nothing is stored outside the data areas the started programs named,
//!   the operands of the instructions (IRB, interruption code, SCHIB) and
//!   the areas the device declares it may write ([`Harness::writable`]).
//!
//! A violation panics with the step and what broke: that is the finding.
//! Every [`Scenario`] prints as a `.zct` trace ([`Scenario::trace`]), so a
//! finding is a file people read and `zcss replay` runs.
//!
//! ```
//! use arbitrary::{Arbitrary, Unstructured};
//! use zcss_css::fuzz::{DeviceUnderTest, Harness, Scenario};
//! use zcss_css::mock::MockDevice;
//!
//! let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
//! let scenario = Scenario::arbitrary(&mut Unstructured::new(&bytes)).unwrap();
//! let report = Harness::new(|_| DeviceUnderTest::Interpreted(Box::new(MockDevice::new(0x3832, 1))))
//!     .run(&scenario);
//! assert_eq!(report.steps, scenario.steps.len().min(zcss_css::fuzz::MAX_STEPS));
//! assert!(scenario.trace("mock").starts_with("zcss-trace 1\n"));
//! ```

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use zcss_ccw::generate::{LaidOut, Layout, StartDesc};
use zcss_ccw::memory::{AccessKey, GuestMemory, StorageKey, VecMemory};
use zcss_ccw::scsw::Scsw;
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::status::DeviceStatus;
use zcss_ccw::walker::Limits;
use zcss_ccw::{Ccw, CcwDevice, DataStream, DeviceResult, ProgramEnd};

use crate::device::{DeviceInfo, SubchannelHandle};
use crate::{Cc, Css, CssConfig, Device, IoCtx, PassthroughDevice};

/// Most subchannels of a scenario.
pub const MAX_SUBCHANNELS: usize = 4;
/// Most steps run from one scenario.
pub const MAX_STEPS: usize = 32;
/// Most CCWs the device may see in one step: the css runs with
/// `max_ccws` 2048 and `max_idle_ccws` 64, which bound a program only once
/// it loops (a TIC back to an address it fetched); before that each
/// doubleword of storage is fetched at most once.
pub const MAX_CCWS_PER_STEP: usize = 2048 + STORAGE_DOUBLEWORDS;
/// Doublewords of guest storage.
const STORAGE_DOUBLEWORDS: usize = (STORAGE / 8) as usize;
/// Guest storage: the operand page at 0 (IRB at [`IRB_ADDR`], interruption
/// code at [`TPI_ADDR`], SCHIB at [`SCHIB_ADDR`]), then 64 KiB per
/// subchannel, laid out as [`Layout::default`] shifted by the subchannel's
/// index + 1.
pub const STORAGE: u64 = 0x1_0000 * (MAX_SUBCHANNELS as u64 + 1);
/// Where TEST SUBCHANNEL stores the IRB.
pub const IRB_ADDR: u64 = 0x200;
/// Where TEST PENDING INTERRUPTION stores the interruption code.
pub const TPI_ADDR: u64 = 0x300;
/// Where STORE SUBCHANNEL stores the SCHIB (set-up).
pub const SCHIB_ADDR: u64 = 0x400;
/// The ISC of every subchannel.
const ISC: u8 = 3;

/// One step of a scenario; the `u8` picks the subchannel (modulo the
/// scenario's count).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum Step {
    /// Lay out a start and issue START SUBCHANNEL.
    Start(u8, StartDesc),
    /// TEST SUBCHANNEL.
    Test(u8),
    /// HALT SUBCHANNEL.
    Halt(u8),
    /// CLEAR SUBCHANNEL.
    Clear(u8),
    /// CANCEL SUBCHANNEL.
    Cancel(u8),
    /// RESUME SUBCHANNEL.
    Resume(u8),
    /// TEST PENDING INTERRUPTION (all ISCs).
    Tpi,
    /// The device presents this status unsolicited.
    Unsolicited(u8, u8),
}

/// A scenario: how many subchannels hold the device, and the steps.
#[derive(Clone, PartialEq, Eq, Arbitrary)]
pub struct Scenario {
    /// Subchannels 0.0.0000 … (taken as 1 + this modulo [`MAX_SUBCHANNELS`]).
    pub subchannels: u8,
    /// The steps, at most [`MAX_STEPS`] run.
    pub steps: Vec<Step>,
}

/// What the harness attaches to a subchannel: an interpreted device
/// (the css runs the channel program, one CCW at a time) or a passthrough
/// device (it gets the whole program).
pub enum DeviceUnderTest {
    /// A [`Device`].
    Interpreted(Box<dyn Device>),
    /// A [`PassthroughDevice`]; the harness waits for its reports after
    /// every step (up to a second).
    Passthrough(Box<dyn PassthroughDevice>),
}

impl std::fmt::Debug for DeviceUnderTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Interpreted(_) => "Interpreted",
            Self::Passthrough(_) => "Passthrough",
        })
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Steps run.
    pub steps: usize,
    /// START SUBCHANNELs that set condition code 0.
    pub started: usize,
    /// TEST SUBCHANNELs that stored status.
    pub tested: usize,
    /// CCWs the devices executed.
    pub ccws: usize,
}

impl Scenario {
    /// The number of subchannels used.
    #[must_use]
    pub fn subchannel_count(&self) -> usize {
        1 + usize::from(self.subchannels) % MAX_SUBCHANNELS
    }

    /// The subchannel of index `i`: fe.0.000i.
    #[must_use]
    pub fn sid(i: usize) -> SubchannelId {
        SubchannelId {
            cssid: 0xfe,
            ssid: 0,
            schno: u16::try_from(i).unwrap_or(0),
        }
    }

    fn gr1(i: usize) -> u32 {
        0x0001_0000 | u32::try_from(i).unwrap_or(0)
    }

    fn layout(i: usize) -> Layout {
        Layout::default().shifted(u64::try_from(i).unwrap_or(0) + 1)
    }

    /// The scenario as a `.zct` trace (docs/trace-format.md): the machine,
    /// one `device` line per subchannel of kind `device` (a kind and its
    /// keys, e.g. `mock replies=03:busy`), the set-up (STSCH, MSCH enabling
    /// each subchannel on ISC 3), and per step the stores that lay out the
    /// start and the instruction. Results are left out (replay runs them
    /// unchecked, `--bless` fills them in). Unsolicited status and storage
    /// keys have no trace statement: they appear as comments.
    #[must_use]
    pub fn trace(&self, device: &str) -> String {
        let n = self.subchannel_count();
        let mut t = String::from("zcss-trace 1\n# a zcss_css::fuzz scenario\n");
        let _ = writeln!(t, "machine memory={STORAGE:#010x}");
        for i in 0..n {
            let _ = writeln!(t, "device fe.0.{i:04x} devno={i:04x} {device}");
        }
        for i in 0..n {
            let gr1 = Self::gr1(i);
            let _ = writeln!(t, "stsch {gr1:#010x} {SCHIB_ADDR:#010x}");
            let _ = writeln!(t, "store {:#010x} {}", SCHIB_ADDR + 4, hex(&enable_word(i)));
            let _ = writeln!(t, "msch {gr1:#010x} {SCHIB_ADDR:#010x}");
        }
        for step in self.steps.iter().take(MAX_STEPS) {
            let i = |s: u8| usize::from(s) % n;
            match step {
                Step::Start(s, d) => {
                    let laid = d.layout(&Self::layout(i(*s)));
                    if let Some(m) = d.malformation {
                        let _ = writeln!(t, "# malformed: {m:?}");
                    }
                    for (a, k) in &laid.keys {
                        let _ = writeln!(t, "# storage key {a:#010x} = {k:#04x}");
                    }
                    for (a, b) in &laid.stores {
                        let _ = writeln!(t, "store {a:#010x} {}", hex(b));
                    }
                    let _ = writeln!(t, "ssch {:#010x} {:#010x}", Self::gr1(i(*s)), Self::layout(i(*s)).orb);
                }
                Step::Test(s) => {
                    let _ = writeln!(t, "tsch {:#010x} {IRB_ADDR:#010x}", Self::gr1(i(*s)));
                }
                Step::Halt(s) => {
                    let _ = writeln!(t, "hsch {:#010x}", Self::gr1(i(*s)));
                }
                Step::Clear(s) => {
                    let _ = writeln!(t, "csch {:#010x}", Self::gr1(i(*s)));
                }
                Step::Cancel(s) => {
                    let _ = writeln!(t, "xsch {:#010x}", Self::gr1(i(*s)));
                }
                Step::Resume(s) => {
                    let _ = writeln!(t, "rsch {:#010x}", Self::gr1(i(*s)));
                }
                Step::Tpi => {
                    let _ = writeln!(t, "tpi {TPI_ADDR:#010x}");
                }
                Step::Unsolicited(s, st) => {
                    let _ = writeln!(t, "# unsolicited status fe.0.{:04x} dstat={st:#04x}", i(*s));
                }
            }
        }
        t
    }
}

impl std::fmt::Debug for Scenario {
    /// The trace ([`Scenario::trace`]) with the device kind `mock` standing
    /// in for the device under test (a comment says so): `zcss replay`
    /// runs the channel side of it; the harness replays it with the device.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.trace("mock");
        let (header, rest) = t.split_once('\n').unwrap_or((&t, ""));
        write!(
            f,
            "{header}\n# the device under test is the fuzz target's own; `mock` stands in for it\n{rest}"
        )
    }
}

/// Bytes as trace hex: groups of four bytes.
fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (k, chunk) in b.chunks(4).enumerate() {
        if k > 0 {
            s.push(' ');
        }
        for x in chunk {
            let _ = write!(s, "{x:02x}");
        }
    }
    s
}

/// SCHIB word 1 enabling subchannel `i` on ISC 3 (PMCW bytes 4–7: ISC, E,
/// device number).
fn enable_word(i: usize) -> [u8; 4] {
    let devno = u16::try_from(i).unwrap_or(0).to_be_bytes();
    [ISC << 3, 0x80, devno[0], devno[1]]
}

/// Counts the CCWs a device executes.
struct Counted {
    inner: Box<dyn Device>,
    ccws: Arc<AtomicUsize>,
}

impl CcwDevice for Counted {
    fn program_start(&mut self, lpum: u8) {
        self.inner.program_start(lpum);
    }

    fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
        self.ccws.fetch_add(1, Ordering::Relaxed);
        self.inner.execute(ccw, data)
    }

    fn program_end(&mut self, how: ProgramEnd) {
        self.inner.program_end(how);
    }
}

impl Device for Counted {
    fn info(&self) -> DeviceInfo {
        self.inner.info()
    }

    fn attached(&mut self, handle: SubchannelHandle) {
        self.inner.attached(handle.clone());
    }

    fn subchannel_reset(&mut self) {
        self.inner.subchannel_reset();
    }

    fn subchannel_disabled(&mut self) {
        self.inner.subchannel_disabled();
    }

    fn io_system_reset(&mut self) {
        self.inner.io_system_reset();
    }

    fn save_state(&mut self) -> Result<crate::DeviceState, crate::DeviceStateError> {
        self.inner.save_state()
    }

    fn restore_state(&mut self, state: &crate::DeviceState) -> Result<(), crate::DeviceStateError> {
        self.inner.restore_state(state)
    }

    fn notify(&mut self, mem: &dyn GuestMemory, queue: u64, cookie: u64) -> Option<crate::NotifyResult> {
        self.inner.notify(mem, queue, cookie)
    }
}

/// Runs scenarios against a device.
pub struct Harness<F> {
    make: F,
    writable: Vec<Range<u64>>,
}

impl<F> std::fmt::Debug for Harness<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("writable", &self.writable)
            .finish_non_exhaustive()
    }
}

/// Per-subchannel bookkeeping.
#[derive(Default)]
struct Sub {
    /// The last start laid out (its CCWs, for the CPA check).
    last: Option<(LaidOut, bool)>,
    handle: Option<SubchannelHandle>,
}

/// Records the handle the css gives a device, for unsolicited status.
struct HandleTap {
    inner: Counted,
    out: Arc<parking_lot::Mutex<Option<SubchannelHandle>>>,
}

impl CcwDevice for HandleTap {
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

impl Device for HandleTap {
    fn info(&self) -> DeviceInfo {
        self.inner.info()
    }

    fn attached(&mut self, handle: SubchannelHandle) {
        *self.out.lock() = Some(handle.clone());
        self.inner.attached(handle);
    }

    fn subchannel_reset(&mut self) {
        self.inner.subchannel_reset();
    }

    fn subchannel_disabled(&mut self) {
        self.inner.subchannel_disabled();
    }

    fn io_system_reset(&mut self) {
        self.inner.io_system_reset();
    }

    fn notify(&mut self, mem: &dyn GuestMemory, queue: u64, cookie: u64) -> Option<crate::NotifyResult> {
        self.inner.notify(mem, queue, cookie)
    }
}

impl<F: FnMut(usize) -> DeviceUnderTest> Harness<F> {
    /// A harness building the device of subchannel `i` with `make(i)`.
    pub fn new(make: F) -> Self {
        Self {
            make,
            writable: Vec::new(),
        }
    }

    /// Declares guest storage the device may write besides the data areas
    /// of the programs (virtio rings, indicators, …).
    #[must_use]
    pub fn writable(mut self, areas: &[Range<u64>]) -> Self {
        self.writable.extend_from_slice(areas);
        self
    }

    /// Runs `scenario` and checks the invariants after every step.
    ///
    /// # Panics
    /// When an invariant breaks (the message names the step and the rule).
    pub fn run(&mut self, scenario: &Scenario) -> Report {
        let n = scenario.subchannel_count();
        let css = Css::new(CssConfig {
            limits: Limits {
                max_idle_ccws: 64,
                max_ccws: 2048,
            },
            ..CssConfig::default()
        });
        let mem = VecMemory::with_storage_keys(STORAGE);
        let ccws = Arc::new(AtomicUsize::new(0));
        let mut subs: Vec<Sub> = (0..n).map(|_| Sub::default()).collect();
        let mut passthrough = false;
        for (i, sub) in subs.iter_mut().enumerate() {
            let devno = u16::try_from(i).unwrap_or(0);
            let attached = match (self.make)(i) {
                DeviceUnderTest::Interpreted(d) => {
                    let out = Arc::new(parking_lot::Mutex::new(None));
                    let tap = HandleTap {
                        inner: Counted {
                            inner: d,
                            ccws: ccws.clone(),
                        },
                        out: out.clone(),
                    };
                    let r = css.attach_cold(Scenario::sid(i), devno, Box::new(tap));
                    sub.handle = out.lock().take();
                    r
                }
                DeviceUnderTest::Passthrough(d) => {
                    passthrough = true;
                    css.attach_passthrough(Scenario::sid(i), devno, d, false)
                }
            };
            assert!(
                attached.is_ok(),
                "harness: attaching the device to fe.0.{i:04x} failed: {attached:?}"
            );
        }
        let ctx = IoCtx::new(&mem);
        for i in 0..n {
            let gr1 = Scenario::gr1(i);
            assert_eq!(
                css.stsch(&ctx, gr1, SCHIB_ADDR),
                Ok(Cc::Zero),
                "harness: STSCH fe.0.{i:04x}"
            );
            store(&mem, SCHIB_ADDR + 4, &enable_word(i));
            assert_eq!(
                css.msch(&ctx, gr1, SCHIB_ADDR),
                Ok(Cc::Zero),
                "harness: MSCH fe.0.{i:04x}"
            );
        }
        let mut shadow = vec![0u8; usize::try_from(STORAGE).unwrap_or(0)];
        let _ = mem.read(0, &mut shadow, AccessKey::ZERO);
        let mut now = shadow.clone();
        let mut allowed: Vec<Range<u64>> = self.writable.clone();
        allowed.push(IRB_ADDR..IRB_ADDR + 96);
        allowed.push(TPI_ADDR..TPI_ADDR + 12);
        allowed.push(SCHIB_ADDR..SCHIB_ADDR + 52);
        let mut report = Report::default();
        for (k, step) in scenario.steps.iter().take(MAX_STEPS).enumerate() {
            let before = ccws.load(Ordering::Relaxed);
            let idx = |s: &u8| usize::from(*s) % n;
            match step {
                Step::Start(s, d) => {
                    let i = idx(s);
                    let at = Scenario::layout(i);
                    let laid = d.layout(&at);
                    for (a, b) in &laid.stores {
                        store(&mem, *a, b);
                    }
                    for (a, k) in &laid.keys {
                        mem.set_storage_key(*a, StorageKey::from_byte(*k));
                    }
                    allowed.extend(laid.data_areas.iter().cloned());
                    let _ = mem.read(0, &mut shadow, AccessKey::ZERO);
                    if css.ssch(&ctx, Scenario::gr1(i), at.orb) == Ok(Cc::Zero) {
                        report.started += 1;
                        subs[i].last = Some((laid, d.malformation.is_none()));
                    } else if let Some(last) = &mut subs[i].last {
                        // The start was refused but its CCWs overwrote the
                        // program of the status pending or suspended: the
                        // CCW address and count no longer have a program
                        // to be checked against.
                        last.1 = false;
                    }
                }
                Step::Test(s) => {
                    let i = idx(s);
                    if css.tsch(&ctx, Scenario::gr1(i), IRB_ADDR) == Ok(Cc::Zero) {
                        report.tested += 1;
                        let mut b = [0u8; Scsw::LEN];
                        let _ = mem.read(IRB_ADDR, &mut b, AccessKey::ZERO);
                        if let Err(e) = check_scsw(&Scsw::from_be_bytes(b), subs[i].last.as_ref()) {
                            panic!("step {k} ({step:?}): SCSW of fe.0.{i:04x}: {e}");
                        }
                    }
                }
                Step::Halt(s) => {
                    let _ = css.hsch(&ctx, Scenario::gr1(idx(s)));
                }
                Step::Clear(s) => {
                    let _ = css.csch(&ctx, Scenario::gr1(idx(s)));
                }
                Step::Cancel(s) => {
                    let _ = css.xsch(&ctx, Scenario::gr1(idx(s)));
                }
                Step::Resume(s) => {
                    let _ = css.rsch(&ctx, Scenario::gr1(idx(s)));
                }
                Step::Tpi => {
                    let _ = css.tpi(&ctx, TPI_ADDR, 0xff);
                }
                Step::Unsolicited(s, st) => {
                    if let Some(h) = &subs[idx(s)].handle {
                        let _ = h.unsolicited(DeviceStatus::from_bits(*st));
                    }
                }
            }
            if passthrough {
                let _ = css.wait_until(Duration::from_secs(1), |c| {
                    (0..n).all(|i| c.schib(Scenario::sid(i)).is_none_or(|s| !s.scsw.awaits_status()))
                });
            }
            let used = ccws.load(Ordering::Relaxed) - before;
            report.ccws += used;
            assert!(
                used <= MAX_CCWS_PER_STEP,
                "step {k} ({step:?}): the device executed {used} CCWs (bound {MAX_CCWS_PER_STEP})"
            );
            if let Err(e) = css.check_invariants() {
                panic!("step {k} ({step:?}): css invariant broken: {e}");
            }
            let _ = mem.read(0, &mut now, AccessKey::ZERO);
            if let Some(off) = first_stray(&shadow, &now, &allowed) {
                panic!(
                    "step {k} ({step:?}): storage at {off:#x} changed ({:#04x} -> {:#04x}) outside the data areas the programs named and the device's writable areas",
                    shadow[usize::try_from(off).unwrap_or(0)],
                    now[usize::try_from(off).unwrap_or(0)]
                );
            }
            std::mem::swap(&mut shadow, &mut now);
            report.steps += 1;
        }
        report
    }
}

fn store(mem: &VecMemory, addr: u64, b: &[u8]) {
    let _ = mem.write(addr, b, AccessKey::ZERO);
}

/// The first byte that differs between `a` and `b` outside `allowed`.
fn first_stray(a: &[u8], b: &[u8], allowed: &[Range<u64>]) -> Option<u64> {
    if a == b {
        return None;
    }
    a.iter()
        .zip(b)
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, _)| u64::try_from(i).unwrap_or(u64::MAX))
        .find(|off| !allowed.iter().any(|r| r.contains(off)))
}

/// The architected consistency of an SCSW TEST SUBCHANNEL stored with
/// condition code 0 (PoO "Subchannel-Status Word": function, activity and
/// status control; CCW address; count). `last` is the subchannel's last
/// start and whether it was well formed.
///
/// # Errors
/// The rule that broke.
pub fn check_scsw(scsw: &Scsw, last: Option<&(LaidOut, bool)>) -> Result<(), String> {
    let c = scsw.ctrl;
    let (f, a, s) = (c.fctl(), c.actl(), c.stctl());
    if !s.pending() {
        return Err(format!("TSCH cc 0 without status pending (stctl {})", s.names()));
    }
    let no_function = f.into_bits() == 0;
    if no_function && (s.primary() || s.secondary() || s.intermediate()) {
        return Err(format!("status control {} without a function", s.names()));
    }
    if no_function && !s.alert() {
        return Err("no function and no alert status".into());
    }
    if (a.suspended() || a.resume_pending()) && !f.start() {
        return Err(format!("activity {} without the start function", a.names()));
    }
    let checks = scsw.cstat.program_check()
        || scsw.cstat.protection_check()
        || scsw.cstat.chaining_check()
        || scsw.cstat.channel_control_check()
        || scsw.cstat.interface_control_check()
        || scsw.cstat.channel_data_check();
    let Some((laid, true)) = last else { return Ok(()) };
    let plain_end = f.start() && !f.halt() && !f.clear() && s.primary();
    if !plain_end || checks || scsw.dstat.busy() {
        return Ok(());
    }
    let cpa = u64::from(scsw.cpa);
    let Some(k) = laid.ccw_addrs.iter().position(|&x| x + 8 == cpa) else {
        return Err(format!(
            "CCW address {cpa:#x} is not after a CCW of the program ({:#x}..{:#x})",
            laid.ccw_addrs.first().copied().unwrap_or(0),
            laid.ccw_addrs.last().copied().unwrap_or(0) + 8
        ));
    };
    let ccw = laid
        .stores
        .iter()
        .rev()
        .find(|(x, b)| *x == laid.ccw_addrs[k] && b.len() == 8)
        .map(|(_, b)| b.clone())
        .unwrap_or_default();
    let count = if laid.orb.ctrl.format1() {
        ccw.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]]))
    } else {
        ccw.get(6..8).map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    match count {
        Some(n) if scsw.count > n => Err(format!(
            "residual count {} exceeds the count {n} of the CCW at {:#x}",
            scsw.count, laid.ccw_addrs[k]
        )),
        _ => Ok(()),
    }
}

/// Runs `data` as a scenario against `make`'s devices: the one-line body
/// of a fuzz target (`fuzz_target!(|data: &[u8]| { run_bytes(data, …) })`)
/// and of a regression test replaying a crash file.
///
/// # Panics
/// When an invariant breaks.
pub fn run_bytes(data: &[u8], make: impl FnMut(usize) -> DeviceUnderTest) -> Option<Report> {
    let scenario = Scenario::arbitrary(&mut Unstructured::new(data)).ok()?;
    Some(Harness::new(make).run(&scenario))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockDevice;

    fn mock(_: usize) -> DeviceUnderTest {
        DeviceUnderTest::Interpreted(Box::new(MockDevice::new(0x3832, 1)))
    }

    pub(super) fn bytes(seed: u32) -> Vec<u8> {
        // xorshift32: every bit pattern, so continuation bytes go on.
        let mut x = seed.wrapping_mul(2_654_435_761) | 1;
        (0..8192)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_be_bytes()[0]
            })
            .collect()
    }

    #[test]
    fn run_generated_scenarios_on_mock_keeps_invariants_and_starts_programs() {
        let mut started = 0;
        let mut ccws = 0;
        for seed in 0..48 {
            let r = run_bytes(&bytes(seed), mock).unwrap();
            started += r.started;
            ccws += r.ccws;
        }
        assert!(started > 3, "only {started} starts took");
        assert!(ccws > 0, "no CCW ran");
    }

    #[test]
    fn run_device_storing_outside_data_areas_panics() {
        struct Stray;
        impl CcwDevice for Stray {
            fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
                let _ = ccw;
                let _ = data.write(&[1]);
                DeviceResult::OK
            }
        }
        impl Device for Stray {
            fn info(&self) -> DeviceInfo {
                DeviceInfo::virtual_device(0x3832, 1)
            }
        }
        // The device is right, but declares nothing; a program whose data
        // address the harness did not lay out is the stray store here:
        // check the helper directly.
        let allowed = vec![0x10..0x20, 0x40..0x41];
        assert_eq!(first_stray(&[0; 64], &[0; 64], &allowed), None);
        let mut b = [0; 64];
        b[0x18] = 1;
        assert_eq!(first_stray(&[0; 64], &b, &allowed), None);
        b[0x30] = 1;
        assert_eq!(first_stray(&[0; 64], &b, &allowed), Some(0x30));
        let r = run_bytes(&bytes(3), |_| DeviceUnderTest::Interpreted(Box::new(Stray)));
        assert!(r.is_some());
    }

    #[test]
    fn check_scsw_without_status_pending_is_an_error() {
        let s = Scsw::from_be_bytes([0; 12]);
        assert!(check_scsw(&s, None).is_err());
    }

    #[test]
    fn trace_of_scenario_has_machine_devices_and_ssch() {
        let s = Scenario {
            subchannels: 1,
            steps: vec![
                Step::Start(0, StartDesc::arbitrary(&mut Unstructured::new(&bytes(1))).unwrap()),
                Step::Test(1),
            ],
        };
        let t = s.trace("mock");
        assert!(t.contains("device fe.0.0000 devno=0000 mock\ndevice fe.0.0001 devno=0001 mock\n"));
        assert!(t.contains("\nssch 0x00010000 0x00010800\n"));
        assert!(t.contains("\ntsch 0x00010001 0x00000200\n"));
    }
}
