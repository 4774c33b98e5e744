//! The harness: runs a scenario's actions on a css holding the devices
//! under test and checks the invariants after every step.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use zcss_ccw::generate::{LaidOut, StartDesc};
use zcss_ccw::memory::{AccessKey, GuestMemory, StorageKey, VecMemory};
use zcss_ccw::scsw::Scsw;
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::status::DeviceStatus;
use zcss_ccw::walker::Limits;

use super::check::{check_scsw, first_stray};
use super::tap::Tap;
use super::{
    Action, Planned, Scenario, Start, Step, CCW_LIMIT, CCW_LOOP_LIMIT, IRB_ADDR, MAX_CCWS_PER_STEP, MEASUREMENT_ADDR,
    PASSTHROUGH_WAIT, SCHIB_ADDR, STORAGE, TPI_ADDR,
};
use crate::measurement::StepClock;
use crate::{Cc, Css, CssConfig, Device, IoCtx, PassthroughDevice};

/// What the harness attaches to a subchannel: an interpreted device
/// (the css runs the channel program, one CCW at a time) or a passthrough
/// device (it gets the whole program).
pub enum DeviceUnderTest {
    /// A [`Device`].
    Interpreted(Box<dyn Device>),
    /// A [`PassthroughDevice`]; the harness waits for its reports after
    /// every step (a function still waiting for its status after
    /// [`PASSTHROUGH_WAIT`] is a finding). Hot plug and unsolicited status are
    /// left out (comments in the trace): a passthrough device is not hot
    /// plugged, and its unsolicited status comes from its host.
    Passthrough(Box<dyn PassthroughDevice>),
    /// A [`PassthroughDevice`] whose host moves data to and from guest
    /// storage itself (vfio-ccw's host channel): built from the run's
    /// guest storage, then as [`DeviceUnderTest::Passthrough`].
    PassthroughOn(PassthroughMaker),
}

/// Builds a passthrough device on the run's guest storage.
pub type PassthroughMaker = Box<dyn FnOnce(Arc<dyn GuestMemory>) -> Box<dyn PassthroughDevice>>;

impl std::fmt::Debug for DeviceUnderTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Interpreted(_) => "Interpreted",
            Self::Passthrough(_) => "Passthrough",
            Self::PassthroughOn(_) => "PassthroughOn",
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

/// What a target's own check ([`Harness::check_each_step`]) sees after a
/// step.
pub struct StepView<'a> {
    /// The step's index in the scenario.
    pub index: usize,
    /// For a [`Step::Start`]: the subchannel's index and the condition
    /// code of its START SUBCHANNEL (`None`: a program check).
    pub start: Option<(usize, Option<Cc>)>,
    /// The channel subsystem.
    pub css: &'a Css,
    /// Guest storage.
    pub mem: &'a Arc<VecMemory>,
}

/// A target's own check after every step.
type StepCheck<'h> = Box<dyn FnMut(&StepView<'_>) -> Result<(), String> + 'h>;

/// The storage a device declares writable as the guest goes.
type WritableNow<'h> = Box<dyn FnMut() -> Vec<Range<u64>> + 'h>;

/// Runs scenarios against a device.
pub struct Harness<'h, F> {
    make: F,
    writable: Vec<Range<u64>>,
    writable_now: Option<WritableNow<'h>>,
    check: Option<StepCheck<'h>>,
}

impl<F> std::fmt::Debug for Harness<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("writable", &self.writable)
            .finish_non_exhaustive()
    }
}

/// Per-subchannel bookkeeping.
#[derive(Default)]
struct Sub {
    /// The last start issued (its CCWs, for the CPA check) and whether it
    /// was well formed.
    last: Option<(LaidOut, bool)>,
    /// Whether the device is passthrough.
    passthrough: bool,
}

/// One run's machine and bookkeeping.
struct Run<'r> {
    css: Css,
    mem: Arc<VecMemory>,
    ccws: Arc<AtomicUsize>,
    subs: Vec<Sub>,
    mcss: bool,
    timing: bool,
    /// Storage as the guest left it: the harness's own stores go here too.
    shadow: Vec<u8>,
    now: Vec<u8>,
    allowed: Vec<Range<u64>>,
    report: &'r mut Report,
}

impl<'h, F: FnMut(usize) -> DeviceUnderTest> Harness<'h, F> {
    /// A harness building the device of subchannel `i` with `make(i)`
    /// (again for a hot plug after an unplug).
    pub fn new(make: F) -> Self {
        Self {
            make,
            writable: Vec::new(),
            writable_now: None,
            check: None,
        }
    }

    /// Declares guest storage the device may write besides the data areas
    /// of the programs (virtio rings, indicators, …).
    #[must_use]
    pub fn writable(mut self, areas: &[Range<u64>]) -> Self {
        self.writable.extend_from_slice(areas);
        self
    }

    /// Declares guest storage the device may write that the guest names as
    /// it goes (the buffers of a virtio driver's descriptors, anywhere in
    /// storage): `f` is asked after every step, and the areas it returns
    /// are allowed for that step's stores. The target answers for them —
    /// e.g. a wrapper that checks each store against the descriptors when
    /// the device makes it, and returns the stores it allowed.
    #[must_use]
    pub fn writable_each_step(mut self, f: impl FnMut() -> Vec<Range<u64>> + 'h) -> Self {
        self.writable_now = Some(Box::new(f));
        self
    }

    /// Adds a target's own check, run after every step (after the
    /// harness's): an `Err` is a finding, reported with the step.
    #[must_use]
    pub fn check_each_step(mut self, f: impl FnMut(&StepView<'_>) -> Result<(), String> + 'h) -> Self {
        self.check = Some(Box::new(f));
        self
    }

    /// Runs `scenario` and checks the invariants after every step.
    ///
    /// # Panics
    /// When an invariant breaks (the message names the step and the rule).
    pub fn run<S: Start>(&mut self, scenario: &Scenario<S>) -> Report {
        let n = scenario.subchannel_count();
        let m = scenario.machine;
        let css = Css::new(CssConfig {
            mcss: m.mcss,
            mss: m.mss,
            limits: Limits {
                max_idle_ccws: CCW_LOOP_LIMIT,
                max_ccws: CCW_LIMIT,
            },
            ..CssConfig::default()
        });
        css.set_clock(Arc::new(StepClock::replay()));
        let mut report = Report::default();
        let mut run = Run {
            css,
            mem: Arc::new(VecMemory::with_storage_keys(STORAGE)),
            ccws: Arc::new(AtomicUsize::new(0)),
            subs: (0..n).map(|_| Sub::default()).collect(),
            mcss: m.mcss,
            timing: m.timing,
            shadow: vec![0u8; usize::try_from(STORAGE).unwrap_or(0)],
            now: vec![0u8; usize::try_from(STORAGE).unwrap_or(0)],
            allowed: self.writable.clone(),
            report: &mut report,
        };
        for i in 0..n {
            let r = run.attach(i, &mut self.make, false);
            assert!(r.is_ok(), "harness: attaching the device to fe.0.{i:04x} failed: {r:?}");
        }
        for i in 0..n {
            for a in Scenario::<S>::enable(i, m.mcss) {
                let cc = run.act(&a, &mut self.make);
                assert!(
                    !matches!(a, Action::Stsch(..) | Action::Msch(..)) || cc == Some(Some(Cc::Zero)),
                    "harness: {a:?} on fe.0.{i:04x}: {cc:?}"
                );
            }
        }
        let _ = run.mem.read(0, &mut run.shadow, AccessKey::ZERO);
        let fixed = [
            IRB_ADDR..IRB_ADDR + 96,
            TPI_ADDR..TPI_ADDR + 12,
            SCHIB_ADDR..SCHIB_ADDR + 52,
            MEASUREMENT_ADDR..MEASUREMENT_ADDR + 0x400,
        ];
        run.allowed.extend(fixed);
        for (k, (step, Planned { actions, start })) in scenario.steps.iter().zip(scenario.plan()).enumerate() {
            let before = run.ccws.load(Ordering::Relaxed);
            let mut start_cc = None;
            let mut operands: Vec<Range<u64>> = Vec::new();
            if let Some((_, laid)) = &start {
                run.allowed.extend(laid.data_areas.iter().cloned());
            }
            for a in &actions {
                if let Action::Unsolicited(i, _) | Action::Attach(i) = a {
                    if run.subs[*i].passthrough {
                        continue;
                    }
                }
                operands.push(a.operand_area());
                let cc = run.act(a, &mut self.make);
                if let (Action::Ssch(..), Some((i, laid))) = (a, &start) {
                    start_cc = Some((*i, cc.flatten()));
                    run.started(*i, cc.flatten(), laid, step);
                }
                if let (Action::Tsch(g, at), Some(Some(Cc::Zero))) = (a, cc) {
                    run.report.tested += 1;
                    if let Err(e) = run.check_tsch(*g, *at) {
                        panic!("step {k} ({step:?}): {e}");
                    }
                }
            }
            if run.subs.iter().any(|s| s.passthrough) {
                let done = run.css.wait_until(PASSTHROUGH_WAIT, |c| {
                    (0..n).all(|i| {
                        c.schib(Scenario::<StartDesc>::sid(i))
                            .is_none_or(|s| !s.scsw.awaits_status())
                    })
                });
                if !done {
                    let late: Vec<String> = (0..n)
                        .filter_map(|i| {
                            let s = run.css.schib(Scenario::<StartDesc>::sid(i))?;
                            s.scsw
                                .awaits_status()
                                .then(|| format!("fe.0.{i:04x} ({:?})", s.scsw.ctrl))
                        })
                        .collect();
                    panic!(
                        "step {k} ({step:?}): the passthrough device did not end its function within {PASSTHROUGH_WAIT:?}: {}",
                        late.join(", ")
                    );
                }
            }
            let used = run.ccws.load(Ordering::Relaxed) - before;
            run.report.ccws += used;
            assert!(
                used <= MAX_CCWS_PER_STEP,
                "step {k} ({step:?}): the device executed {used} CCWs (bound {MAX_CCWS_PER_STEP})"
            );
            if let Err(e) = run.css.check_invariants() {
                panic!("step {k} ({step:?}): css invariant broken: {e}");
            }
            if let Some(f) = &mut self.writable_now {
                operands.extend(f());
            }
            run.check_stores(&operands, k, step);
            if let Some(check) = &mut self.check {
                let view = StepView {
                    index: k,
                    start: start_cc,
                    css: &run.css,
                    mem: &run.mem,
                };
                if let Err(e) = check(&view) {
                    panic!("step {k} ({step:?}): {e}");
                }
            }
            run.report.steps += 1;
        }
        report
    }
}

impl Run<'_> {
    fn sid(i: usize) -> SubchannelId {
        Scenario::<StartDesc>::sid(i)
    }

    /// Attaches `make(i)`'s device to subchannel `i` (`hot`: a hot plug).
    fn attach(
        &mut self,
        i: usize,
        make: &mut impl FnMut(usize) -> DeviceUnderTest,
        hot: bool,
    ) -> Result<(), crate::CssError> {
        let devno = u16::try_from(i).unwrap_or(0);
        let sid = Self::sid(i);
        let r = match make(i) {
            DeviceUnderTest::Interpreted(d) => {
                self.subs[i].passthrough = false;
                let tap = Box::new(Tap {
                    inner: d,
                    ccws: self.ccws.clone(),
                    handle: Arc::new(parking_lot::Mutex::new(None)),
                });
                if hot {
                    self.css.attach(sid, devno, tap)
                } else {
                    self.css.attach_cold(sid, devno, tap)
                }
            }
            DeviceUnderTest::PassthroughOn(build) => {
                self.subs[i].passthrough = true;
                let d = build(self.mem.clone());
                self.css.attach_passthrough(sid, devno, d, hot)
            }
            DeviceUnderTest::Passthrough(d) => {
                self.subs[i].passthrough = true;
                self.css.attach_passthrough(sid, devno, d, hot)
            }
        };
        if r.is_ok() && self.timing {
            let _ = self.css.set_timing_facility(sid, true);
        }
        r
    }

    /// Runs one action; for an instruction, its condition code
    /// (`Some(None)`: a program check; `None`: not an instruction with one).
    fn act(&mut self, a: &Action, make: &mut impl FnMut(usize) -> DeviceUnderTest) -> Option<Option<Cc>> {
        let ctx = IoCtx::new(&*self.mem);
        let css = &self.css;
        let cc = |r: crate::InsnResult| Some(r.ok());
        match a {
            Action::Comment(_) => None,
            Action::Store(at, b) => {
                let _ = self.mem.write(*at, b, AccessKey::ZERO);
                let (s, e) = (usize::try_from(*at).unwrap_or(usize::MAX), b.len());
                if let Some(dst) = self.shadow.get_mut(s..s.saturating_add(e)) {
                    dst.copy_from_slice(b);
                }
                None
            }
            Action::Skey(at, k) => {
                self.mem.set_storage_key(*at, StorageKey::from_byte(*k));
                None
            }
            Action::Ssch(g, at) => cc(css.ssch(&ctx, *g, *at)),
            Action::Tsch(g, at) => cc(css.tsch(&ctx, *g, *at)),
            Action::Stsch(g, at) => cc(css.stsch(&ctx, *g, *at)),
            Action::Msch(g, at) => cc(css.msch(&ctx, *g, *at)),
            Action::Hsch(g) => cc(css.hsch(&ctx, *g)),
            Action::Csch(g) => cc(css.csch(&ctx, *g)),
            Action::Xsch(g) => cc(css.xsch(&ctx, *g)),
            Action::Rsch(g) => cc(css.rsch(&ctx, *g)),
            Action::Tpi(at, mask) => cc(css.tpi(&ctx, *at, *mask)),
            Action::Stcrw(at) => cc(css.stcrw(&ctx, *at)),
            Action::Chsc(at) => cc(css.chsc(&ctx, *at)),
            Action::Rchp(g) => cc(css.rchp(&ctx, *g)),
            Action::Schm(g1, g2) => {
                let _ = css.schm(&ctx, *g1, *g2);
                None
            }
            Action::Sal(g) => {
                let _ = css.sal(&ctx, *g);
                None
            }
            Action::Sic(g1, g3) => {
                let _ = css.sic(&ctx, *g1, *g3);
                None
            }
            Action::Diag500(g1, g2, g3, g4) => {
                let _ = css.diag500(&ctx, *g1, *g2, *g3, *g4);
                None
            }
            Action::Unsolicited(i, st) => {
                let _ = css.unsolicited(Self::sid(*i), DeviceStatus::from_bits(*st), None);
                None
            }
            Action::Detach(i) => {
                if css.detach(Self::sid(*i)).is_ok() {
                    self.subs[*i].last = None;
                }
                None
            }
            Action::Attach(i) => {
                if !css.has_device(Self::sid(*i)) {
                    let _ = self.attach(*i, make, true);
                }
                None
            }
            Action::Reset => {
                css.reset();
                for s in &mut self.subs {
                    s.last = None;
                }
                None
            }
            Action::Input(i, b) => {
                let _ = css.device_input(Self::sid(*i), &*self.mem, b);
                None
            }
        }
    }

    /// Bookkeeping of a START SUBCHANNEL of subchannel `i`.
    fn started<S: Start>(&mut self, i: usize, cc: Option<Cc>, laid: &LaidOut, step: &Step<S>) {
        if cc == Some(Cc::Zero) {
            self.report.started += 1;
            let well_formed = matches!(step, Step::Start(_, d) if d.well_formed());
            self.subs[i].last = Some((laid.clone(), well_formed));
        } else if let Some(last) = &mut self.subs[i].last {
            // The start was refused but its CCWs overwrote the program of
            // the status pending or suspended: the CCW address and count
            // no longer have a program to be checked against.
            last.1 = false;
        }
    }

    /// Checks the SCSW a TEST SUBCHANNEL with condition code 0 stored at
    /// `at` for the subchannel `gr1` names (one of the scenario's, or
    /// another: then without its program).
    fn check_tsch(&self, gr1: u32, at: u64) -> Result<(), String> {
        let mut b = [0u8; Scsw::LEN];
        let _ = self.mem.read(at, &mut b, AccessKey::ZERO);
        let own = (0..self.subs.len()).find(|&i| Scenario::<StartDesc>::gr1(i, self.mcss) == gr1);
        let last = own.and_then(|i| self.subs[i].last.as_ref());
        check_scsw(&Scsw::from_be_bytes(b), last).map_err(|e| format!("SCSW of {gr1:#010x}: {e}"))
    }

    /// Panics on a store outside the allowed areas and this step's
    /// instruction operands; then takes the storage as the new shadow.
    fn check_stores<S: Start>(&mut self, operands: &[Range<u64>], k: usize, step: &Step<S>) {
        let _ = self.mem.read(0, &mut self.now, AccessKey::ZERO);
        let mut allowed = self.allowed.clone();
        allowed.extend(operands.iter().cloned());
        if let Some(off) = first_stray(&self.shadow, &self.now, &allowed) {
            let at = usize::try_from(off).unwrap_or(0);
            panic!(
                "step {k} ({step:?}): storage at {off:#x} changed ({:#04x} -> {:#04x}) outside the data areas the programs named, the instructions' operands and the device's writable areas",
                self.shadow[at], self.now[at]
            );
        }
        std::mem::swap(&mut self.shadow, &mut self.now);
    }
}
