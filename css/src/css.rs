//! The channel subsystem: css images, subchannel sets, visibility, devices
//! attached and detached, interruption delivery, and the function executor
//! shared by START, RESUME, HALT and CLEAR SUBCHANNEL (Principles of
//! Operation, chapters 13–17).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, MutexGuard, ReentrantMutex, RwLock};
use zcss_ccw::crw::Crw;
use zcss_ccw::engine::Engine;
use zcss_ccw::intcode::InterruptionCode;
use zcss_ccw::memory::GuestMemory;
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::status::DeviceStatus;
use zcss_ccw::walker::Limits;
use zcss_ccw::Sense;

use crate::adapter::AdapterInterruptions;
use crate::ctx::IoCtx;
use crate::device::{Device, DeviceInfo, InterruptSink, PassthroughEvent, SubchannelHandle};
use crate::error::{CssError, ProgramCheck};
use crate::interrupt::{Entry, IoQueues, Wake};
use crate::observer::{HostEvent, Insn, Observer, Outcome, RecordingMemory, StorageAccess};
use crate::subchannel::{SchState, Subchannel, STOP_CLEAR, STOP_HALT, STOP_NONE};
use crate::table::Tables;

/// The css image a guest without MCSS-E sees (QEMU's virtual css).
pub const DEFAULT_CSSID: u8 = 0xfe;

/// Configuration of a channel subsystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CssConfig {
    /// The default css image: the one a program without MCSS-E sees, and
    /// the one GR1 with M = 0 names.
    pub default_cssid: u8,
    /// MCSS-E enabled from the start (otherwise CHSC SDA enables it).
    pub mcss: bool,
    /// Multiple-subchannel-set facility enabled from the start (otherwise
    /// CHSC SDA enables it).
    pub mss: bool,
    /// Work bounds of the channel-program engine: they end only programs
    /// that loop (a TIC back to an address already fetched); see
    /// [`Limits`]. A trace sets `max_idle_ccws` with `machine
    /// ccw-loop-limit=<n>`.
    pub limits: Limits,
}

impl Default for CssConfig {
    fn default() -> Self {
        Self {
            default_cssid: DEFAULT_CSSID,
            mcss: false,
            mss: false,
            limits: Limits::default(),
        }
    }
}

type Waker = Arc<dyn Fn(Wake) + Send + Sync>;

/// Everything shared by the handles of one channel subsystem.
pub(crate) struct Shared {
    pub me: Weak<Shared>,
    pub cfg: CssConfig,
    pub tables: Tables,
    pub queues: IoQueues,
    pub adapters: AdapterInterruptions,
    pub mcss: AtomicBool,
    pub mss: AtomicBool,
    pub engine: Engine,
    waker: RwLock<Option<Waker>>,
    has_waker: AtomicBool,
    observer: RwLock<Option<Arc<dyn Observer>>>,
    has_observer: AtomicBool,
    /// Held by an observed instruction, host event or interruption from
    /// before it starts until it is reported (see [`Observer`]):
    /// reentrant, so a waker may call into the css on the same thread.
    pub record_lock: ReentrantMutex<()>,
    /// The next device token (see [`crate::subchannel::Subchannel::token`]).
    pub device_tokens: AtomicU32,
    /// Serializes attach and detach; the device numbers in use.
    pub book: Mutex<HashSet<(u8, u8, u16)>>,
    /// Installed channel paths: (cssid, chpid) → channel-path type.
    pub paths: Mutex<std::collections::BTreeMap<(u8, u8), u8>>,
    pub pt_tx: crossbeam_channel::Sender<PassthroughEvent>,
    pub pt_rx: crossbeam_channel::Receiver<PassthroughEvent>,
    pub has_pt: AtomicBool,
    pub pt_token: AtomicU64,
    pub ext: crate::css_ext::Extensions,
}

/// The channel subsystem. Cheap to clone (a shared handle), `Send + Sync`:
/// every CPU thread of the embedder calls the instruction methods on its
/// own clone or a shared reference.
#[derive(Clone)]
pub struct Css {
    pub(crate) sh: Arc<Shared>,
}

impl std::fmt::Debug for Css {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Css").field("cfg", &self.sh.cfg).finish_non_exhaustive()
    }
}

impl Default for Css {
    fn default() -> Self {
        Self::new(CssConfig::default())
    }
}

struct Sink(Weak<Shared>);

impl InterruptSink for Sink {
    fn unsolicited(&self, sid: SubchannelId, status: DeviceStatus, sense: Option<&Sense>) -> bool {
        self.0.upgrade().is_some_and(|sh| sh.unsolicited(sid, status, sense))
    }

    fn channel_report(&self, chain: &[Crw]) -> bool {
        self.0.upgrade().is_some_and(|sh| sh.channel_report(chain))
    }

    fn adapter_interrupt(&self, isc: u8) {
        if let Some(sh) = self.0.upgrade() {
            sh.raise_adapter(isc & 7);
        }
    }
}

impl Css {
    /// A channel subsystem without devices. Allocates only the top-level
    /// image table.
    #[must_use]
    pub fn new(cfg: CssConfig) -> Self {
        let (pt_tx, pt_rx) = crossbeam_channel::unbounded();
        let sh = Arc::new_cyclic(|me| Shared {
            me: me.clone(),
            cfg,
            tables: Tables::default(),
            queues: IoQueues::default(),
            adapters: AdapterInterruptions::new(),
            mcss: AtomicBool::new(cfg.mcss),
            mss: AtomicBool::new(cfg.mss),
            engine: Engine { limits: cfg.limits },
            waker: RwLock::new(None),
            has_waker: AtomicBool::new(false),
            observer: RwLock::new(None),
            has_observer: AtomicBool::new(false),
            record_lock: ReentrantMutex::new(()),
            device_tokens: AtomicU32::new(1),
            book: Mutex::new(HashSet::new()),
            paths: Mutex::new(std::collections::BTreeMap::new()),
            pt_tx,
            pt_rx,
            has_pt: AtomicBool::new(false),
            pt_token: AtomicU64::new(0),
            ext: crate::css_ext::Extensions::new(),
        });
        Self { sh }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &CssConfig {
        &self.sh.cfg
    }

    /// Whether MCSS-E is enabled (by configuration or CHSC SDA).
    #[must_use]
    pub fn mcss_enabled(&self) -> bool {
        self.sh.mcss.load(Ordering::Acquire)
    }

    /// Whether multiple subchannel sets are enabled.
    #[must_use]
    pub fn mss_enabled(&self) -> bool {
        self.sh.mss.load(Ordering::Acquire)
    }

    /// Enables MCSS-E (what CHSC SDA operation code 0 does).
    pub fn enable_mcss(&self) {
        self.sh.mcss.store(true, Ordering::Release);
    }

    /// Enables multiple subchannel sets (what CHSC SDA operation code 2 does).
    pub fn enable_mss(&self) {
        self.sh.mss.store(true, Ordering::Release);
    }

    /// I/O-system reset (PoO chapter 17, "I/O-System Reset"): every
    /// subchannel back to its initial state (not enabled, no function, no
    /// status), every device reset ([`Device::io_system_reset`],
    /// [`crate::PassthroughDevice::io_system_reset`]), no interruption
    /// pending, no channel report, monitoring off, every ISC in
    /// all-interruptions mode, MCSS-E and MSS as configured. Devices stay
    /// attached. A program running on another thread is stopped first.
    pub fn reset(&self) {
        self.host_observed(
            None,
            |_, (), emit| emit(&HostEvent::Reset),
            |css, _| css.reset_unobserved(),
        );
    }

    /// The I/O-system reset without its report (IPL, which is reported itself,
    /// resets as its first step).
    pub(crate) fn reset_unobserved(&self) {
        let sh = &self.sh;
        sh.tables.for_each(|sch| sh.reset_subchannel(sch));
        // Every request was withdrawn above; drop the stale entries too.
        sh.queues.clear();
        sh.adapters.reset();
        sh.ext.crw.lock().reset();
        sh.ext.measurement.reset();
        sh.mcss.store(sh.cfg.mcss, Ordering::Release);
        sh.mss.store(sh.cfg.mss, Ordering::Release);
        tracing::debug!("I/O-system reset");
    }

    /// Delivers host input to the device of `sid` (console input typed on
    /// the host, for instance): the device takes the bytes and hands them to
    /// the guest now if the driver has offered buffers for them, later
    /// otherwise. The observer sees it as [`HostEvent::Input`] with the
    /// storage the device wrote, so a recording replays it at this point.
    ///
    /// # Errors
    /// [`CssError::NoDevice`] without an interpreted device there,
    /// [`CssError::NoInput`] when the device takes no input.
    pub fn device_input(&self, sid: SubchannelId, mem: &dyn GuestMemory, data: &[u8]) -> Result<(), CssError> {
        self.host_observed(
            Some(mem),
            |_, _, emit| emit(&HostEvent::Input { sid, data }),
            |css, m| {
                let mem = m.unwrap_or(mem);
                let sch = css.sh.tables.get(sid).ok_or(CssError::NoDevice(sid))?;
                let mut slot = sch.dev.lock();
                let dev = slot.device_mut().ok_or(CssError::NoDevice(sid))?;
                if dev.host_input(mem, data) {
                    tracing::debug!(sid = %sid, len = data.len(), "host input");
                    Ok(())
                } else {
                    Err(CssError::NoInput(sid))
                }
            },
        )
    }

    /// Unsolicited status from the interpreted device of `sid`, as if the
    /// device presented it through its [`crate::SubchannelHandle`]: the
    /// subchannel becomes status pending with alert status (and the sense
    /// as concurrent sense when the PMCW asks for it) if it is enabled,
    /// idle and not status pending. Returns whether it was presented. The
    /// observer sees it as [`HostEvent::Unsolicited`] (a trace's
    /// `unsolicited` statement).
    ///
    /// # Errors
    /// [`CssError::NoDevice`] without an interpreted device there.
    pub fn unsolicited(
        &self,
        sid: SubchannelId,
        status: zcss_ccw::status::DeviceStatus,
        sense: Option<&zcss_ccw::device::Sense>,
    ) -> Result<bool, CssError> {
        self.host_observed(
            None,
            |_, r: &Result<bool, CssError>, emit| {
                if matches!(r, Ok(true)) {
                    emit(&HostEvent::Unsolicited { sid, status, sense });
                }
            },
            |css, _| {
                let interpreted = css
                    .sh
                    .tables
                    .get(sid)
                    .is_some_and(|sch| sch.dev.lock().device_mut().is_some());
                if !interpreted {
                    return Err(CssError::NoDevice(sid));
                }
                Ok(css.sh.unsolicited(sid, status, sense))
            },
        )
    }

    /// Runs a host event `f` (with `mem` wrapped for recording when an
    /// observer is registered) and, unless `f` failed, lets `report` hand
    /// the event to the observer, all under the recording lock.
    pub(crate) fn host_observed<R: HostResult>(
        &self,
        mem: Option<&dyn GuestMemory>,
        report: impl FnOnce(&Self, &R, &mut dyn FnMut(&HostEvent<'_>)),
        f: impl FnOnce(&Self, Option<&dyn GuestMemory>) -> R,
    ) -> R {
        if !self.sh.has_observer.load(Ordering::Acquire) {
            return f(self, mem);
        }
        let _order = self.sh.record_lock.lock();
        let Some(obs) = self.sh.observer.read().clone() else {
            return f(self, mem);
        };
        let nesting = Nesting::enter();
        let rec = mem.map(RecordingMemory::new);
        let r = f(self, rec.as_ref().map(|r| r as &dyn GuestMemory));
        if r.succeeded() {
            let accesses: Vec<StorageAccess> = rec.map(|r| r.take()).unwrap_or_default();
            // The event borrows from the css: reported now even when nested.
            report(self, &r, &mut |e| obs.host_event(e, &accesses));
        }
        nesting.flush();
        r
    }

    /// The I/O-system reset of one subchannel and its device: what
    /// [`Css::reset`] does to each subchannel (initial state, the
    /// device's [`Device::io_system_reset`], its interruption request
    /// withdrawn), for a host that resets one device (the simulated
    /// vfio-ccw host's `VFIO_DEVICE_RESET`). The css-wide state (other
    /// subchannels, channel reports, measurement) is untouched. Returns
    /// whether a device is attached there.
    pub fn reset_subchannel(&self, sid: SubchannelId) -> bool {
        let Some(sch) = self.sh.tables.get(sid) else {
            return false;
        };
        self.sh.reset_subchannel(sch);
        sch.state.lock().present
    }

    /// Registers the waker called whenever an interruption becomes pending,
    /// a channel report is queued, or a passthrough device completed work.
    /// It runs on whatever thread caused the event, after the css released
    /// its locks; it may call back into the css.
    pub fn set_waker(&self, waker: impl Fn(Wake) + Send + Sync + 'static) {
        *self.sh.waker.write() = Some(Arc::new(waker));
        self.sh.has_waker.store(true, Ordering::Release);
    }

    /// Registers a crossbeam-channel sender as the waker.
    pub fn set_waker_channel(&self, tx: crossbeam_channel::Sender<Wake>) {
        self.set_waker(move |w| {
            let _ = tx.try_send(w);
        });
    }

    /// Registers (or with `None` removes) the instruction observer.
    pub fn set_observer(&self, observer: Option<Arc<dyn Observer>>) {
        let _order = self.sh.record_lock.lock();
        let some = observer.is_some();
        *self.sh.observer.write() = observer;
        self.sh.has_observer.store(some, Ordering::Release);
    }

    /// Registers the observer `make` builds after looking at the css (a
    /// recorder describing the devices attached now): from the moment
    /// `make` is called, instructions, host events and interruptions
    /// taken wait until the observer is in place, so none is lost between
    /// the look and the first report. Start it before the guest runs: an
    /// instruction already under way is not reported.
    ///
    /// # Errors
    /// What `make` returns; no observer is registered then.
    pub fn install_observer<E>(&self, make: impl FnOnce(&Self) -> Result<Arc<dyn Observer>, E>) -> Result<(), E> {
        let _order = self.sh.record_lock.lock();
        let before = self.sh.has_observer.swap(true, Ordering::AcqRel);
        match make(self) {
            Ok(o) => {
                *self.sh.observer.write() = Some(o);
                Ok(())
            }
            Err(e) => {
                self.sh.has_observer.store(before, Ordering::Release);
                Err(e)
            }
        }
    }

    /// The SCHIB of `sid` as STORE SUBCHANNEL would store it, without the
    /// visibility rules (for tools, tracing and tests). `None` if no device
    /// is attached there.
    #[must_use]
    pub fn schib(&self, sid: SubchannelId) -> Option<zcss_ccw::schib::Schib> {
        let st = self.sh.tables.get(sid)?.state.lock();
        st.present.then(|| st.schib())
    }

    /// A handle for `sid`, as its device gets it (for tests and embedders
    /// that raise unsolicited status themselves).
    #[must_use]
    pub fn handle(&self, sid: SubchannelId) -> SubchannelHandle {
        self.sh.handle(sid)
    }

    /// Runs `f` on the device at `sid` (outside the subchannel's state
    /// lock). `None` if there is no interpreted device there.
    pub fn with_device<R>(&self, sid: SubchannelId, f: impl FnOnce(&mut dyn Device) -> R) -> Option<R> {
        let sch = self.sh.tables.get(sid)?;
        let mut d = sch.dev.lock();
        d.device_mut().map(f)
    }

    /// Identity and channel paths of the device on `sid` — an interpreted
    /// or a passthrough device — if there is one (what SENSE ID reports,
    /// for listings such as `lscss`).
    #[must_use]
    pub fn device_info(&self, sid: SubchannelId) -> Option<DeviceInfo> {
        let sch = self.sh.tables.get(sid)?;
        let d = sch.dev.lock();
        d.info()
    }

    /// Applies passthrough completions that arrived. Instructions do this
    /// too; call it when woken with [`Wake::Completion`].
    pub fn poll(&self) {
        self.sh.poll();
    }

    /// Waits up to `timeout` for `done` to hold, applying passthrough
    /// reports as they arrive (for tools and tests that wait for a
    /// passthrough device; a CPU model is told by the waker instead).
    /// Returns whether `done` held in time.
    pub fn wait_until(&self, timeout: std::time::Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            self.poll();
            if done(self) {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            self.sh
                .wait_report((deadline - now).min(std::time::Duration::from_millis(1)));
        }
    }

    /// Waits up to `timeout` for an I/O or adapter interruption enabled by
    /// `isc_mask` and takes it (see [`Css::next_interrupt`]).
    pub fn wait_interrupt(&self, isc_mask: u8, timeout: std::time::Duration) -> Option<InterruptionCode> {
        let mut code = None;
        self.wait_until(timeout, |css| {
            code = css.next_interrupt(isc_mask);
            code.is_some()
        });
        code
    }

    /// Takes the highest-priority pending interruption enabled by
    /// `isc_mask` (CR6 bits 32–39: 0x80 = ISC 0): ISC 0 first; within an
    /// ISC, the I/O interruptions, then the adapter interruption. The
    /// embedder stores the code at the prefix area and loads the I/O new
    /// PSW itself.
    ///
    /// Order within an ISC (details in [`crate::interrupt`]): requests made
    /// on one thread come in the order they were made (one thread making
    /// subchannel A and then B status pending on ISC 3 gets A before B);
    /// requests made on different threads come in the order of the
    /// monotonic clock read when each was made, so one made after another
    /// (happens-after) does not come before it unless both readings are
    /// equal; requests made concurrently on different threads may come in
    /// either order.
    pub fn next_interrupt(&self, isc_mask: u8) -> Option<InterruptionCode> {
        self.sh.poll_if_needed();
        if !self.sh.has_observer.load(Ordering::Acquire) {
            return self.sh.take_interrupt(isc_mask);
        }
        // Taken and reported in one step: another thread's instruction
        // cannot come between.
        let _order = self.sh.record_lock.lock();
        let nesting = Nesting::enter();
        let code = self.sh.take_interrupt(isc_mask)?;
        if let Some(o) = self.sh.observer.read().clone() {
            nesting.report(move || o.interruption(&code));
        }
        tracing::debug!(
            sid = format_args!("{:#010x}", code.sid),
            intparm = format_args!("{:#010x}", code.intparm),
            "interruption taken"
        );
        Some(code)
    }

    /// CR6-order mask of the ISCs with a pending interruption (I/O or
    /// adapter). Requests withdrawn by TEST SUBCHANNEL, CLEAR SUBCHANNEL or
    /// an unplug are not counted (their stale queue entries are dropped here).
    #[must_use]
    pub fn pending_iscs(&self) -> u8 {
        self.sh.queues.live_mask(|e| self.sh.is_live(e)) | self.sh.adapters.pending_mask()
    }

    /// Checks the state invariants (fuzzing, tests): every queued
    /// interruption belongs to a status-pending subchannel that remembers it,
    /// exactly once; an empty function control has an empty activity
    /// control; the channel-report queue is bounded.
    ///
    /// # Errors
    /// A description of the first violation.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        self.sh.check_invariants()
    }

    /// Bytes one allocated subchannel occupies (state, device slot, locks),
    /// not counting its device.
    #[doc(hidden)]
    #[must_use]
    pub const fn subchannel_footprint() -> usize {
        std::mem::size_of::<Subchannel>()
    }

    pub(crate) fn observed<R>(&self, insn: Insn, ctx: &IoCtx<'_>, f: impl FnOnce(&Shared, &IoCtx<'_>) -> R) -> R
    where
        R: Copy + Into<Outcome>,
    {
        if !self.sh.has_observer.load(Ordering::Acquire) {
            let r = f(&self.sh, ctx);
            trace_insn(&insn, r.into());
            return r;
        }
        // The instruction runs and is reported under the recording lock:
        // an interruption it makes pending wakes another CPU, whose TPI
        // waits here until this instruction has been reported.
        let _order = self.sh.record_lock.lock();
        let Some(obs) = self.sh.observer.read().clone() else {
            let r = f(&self.sh, ctx);
            trace_insn(&insn, r.into());
            return r;
        };
        let nesting = Nesting::enter();
        let rec = RecordingMemory::new(ctx.mem);
        let ctx2 = IoCtx { mem: &rec, ..*ctx };
        let r = f(&self.sh, &ctx2);
        trace_insn(&insn, r.into());
        let accesses = rec.take();
        let outcome: Outcome = r.into();
        nesting.report(move || obs.instruction(&insn, outcome, &accesses));
        r
    }
}

thread_local! {
    /// Observed operations under way on this thread: a waker may issue an
    /// instruction (or take an interruption) inside the one that woke it.
    static NESTING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// Reports of nested operations, made after the outermost one's.
    static DEFERRED: std::cell::RefCell<std::collections::VecDeque<Box<dyn FnOnce()>>> =
        const { std::cell::RefCell::new(std::collections::VecDeque::new()) };
}

/// One observed operation on this thread. An operation nested in another
/// (run by the waker the outer one called) completes first, but what it
/// saw follows from the outer one: its report waits until the outer one
/// has been reported, so the observer hears them in an order a replay can
/// follow.
struct Nesting {
    outer: bool,
}

impl Nesting {
    fn enter() -> Self {
        let depth = NESTING.with(|n| {
            let d = n.get();
            n.set(d.saturating_add(1));
            d
        });
        Self { outer: depth == 0 }
    }

    /// Makes the report now (and then the deferred ones) when this is the
    /// outermost operation; defers it otherwise.
    fn report(&self, f: impl FnOnce() + 'static) {
        if !self.outer {
            DEFERRED.with(|d| d.borrow_mut().push_back(Box::new(f)));
            return;
        }
        f();
        self.flush();
    }

    /// Makes the deferred reports, if this is the outermost operation.
    fn flush(&self) {
        if !self.outer {
            return;
        }
        while let Some(next) = DEFERRED.with(|d| d.borrow_mut().pop_front()) {
            next();
        }
    }
}

impl Drop for Nesting {
    fn drop(&mut self) {
        NESTING.with(|n| n.set(n.get().saturating_sub(1)));
    }
}

/// The DEBUG event of an instruction: its operands and outcome in hex
/// (`ssch gr1=0x00010000 orb=0x1800 => cc=0`).
#[inline]
fn trace_insn(insn: &Insn, outcome: Outcome) {
    tracing::debug!(target: "zcss_css::insn", "{insn} => {outcome}");
}

/// What a host event's function returns: whether it happened (and is
/// reported).
pub(crate) trait HostResult {
    fn succeeded(&self) -> bool;
}

impl<T, E> HostResult for Result<T, E> {
    fn succeeded(&self) -> bool {
        self.is_ok()
    }
}

impl HostResult for () {
    fn succeeded(&self) -> bool {
        true
    }
}

impl Shared {
    pub fn handle(&self, sid: SubchannelId) -> SubchannelHandle {
        let sink: Arc<dyn InterruptSink> = Arc::new(Sink(self.me.clone()));
        SubchannelHandle::new(sid, sink)
    }

    /// The I/O-system reset of one subchannel (see [`Css::reset`]): a
    /// program running on another thread is stopped first.
    fn reset_subchannel(&self, sch: &Subchannel) {
        sch.stop.store(STOP_CLEAR, Ordering::Release);
        let mut dev = sch.dev.lock();
        let mut st = sch.state.lock();
        self.withdraw(sch.sid, &mut st);
        if st.present {
            st.reset_initial();
        }
        drop(st);
        dev.io_reset();
        sch.stop.store(STOP_NONE, Ordering::Release);
    }

    pub fn mcss(&self) -> bool {
        self.mcss.load(Ordering::Acquire)
    }

    pub fn mss(&self) -> bool {
        self.mss.load(Ordering::Acquire)
    }

    /// Whether the program can see subchannels of `cssid`/`ssid`.
    #[inline]
    pub fn visible(&self, cssid: u8, ssid: u8) -> bool {
        (ssid == 0 || self.mss()) && (cssid == self.cfg.default_cssid || self.mcss()) && cssid != 0xff
    }

    /// Decodes GR1 into (CSSID, SSID, subchannel number): operand exception
    /// for an invalid word (bit 15 zero, bits 8–11 not zero, or a CSSID with
    /// M = 0 — the rules of [`zcss_ccw::sid::SubchannelIdWord::parse`], in plain bit
    /// operations so that the parts stay in registers); `Ok(None)` for a
    /// subchannel the program cannot see (condition code 3).
    #[inline]
    pub fn decode_parts(&self, gr1: u32) -> Result<Option<(u8, u8, u16)>, ProgramCheck> {
        if gr1 & 0x0001_0000 == 0 || gr1 & 0x00f0_0000 != 0 {
            return Err(ProgramCheck::Operand);
        }
        let [field, ..] = gr1.to_be_bytes();
        let cssid = if gr1 & 0x0008_0000 != 0 {
            field
        } else if field == 0 {
            self.cfg.default_cssid
        } else {
            return Err(ProgramCheck::Operand);
        };
        let [_, b1, s0, s1] = gr1.to_be_bytes();
        let ssid = (b1 >> 1) & 3;
        let schno = u16::from_be_bytes([s0, s1]);
        Ok(self.visible(cssid, ssid).then_some((cssid, ssid, schno)))
    }

    /// Decodes GR1 (see [`Shared::decode_parts`]) into a subchannel id.
    #[inline]
    pub fn decode_sid(&self, gr1: u32) -> Result<Option<SubchannelId>, ProgramCheck> {
        Ok(self
            .decode_parts(gr1)?
            .map(|(cssid, ssid, schno)| SubchannelId { cssid, ssid, schno }))
    }

    /// The subchannel, if it holds (or once held) a device and is visible.
    #[inline]
    pub fn lookup(&self, gr1: u32) -> Result<Option<&Subchannel>, ProgramCheck> {
        Ok(self.decode_sid(gr1)?.and_then(|sid| self.tables.get(sid)))
    }

    /// The subchannel GR1 names with its state locked, if it is operational
    /// (provided, valid and enabled); `None` means condition code 3. Pending
    /// passthrough completions are taken first so that the state is current.
    ///
    /// # Errors
    /// An operand exception for an invalid subchannel-identification word.
    pub fn operational(&self, gr1: u32) -> Result<Option<(&Subchannel, MutexGuard<'_, SchState>)>, ProgramCheck> {
        let Some(sch) = self.lookup(gr1)? else {
            return Ok(None);
        };
        self.poll_if_needed();
        let st = sch.state.lock();
        Ok(if st.operational() { Some((sch, st)) } else { None })
    }

    /// The observer, if one is registered.
    pub fn observer(&self) -> Option<Arc<dyn Observer>> {
        if !self.has_observer.load(Ordering::Acquire) {
            return None;
        }
        self.observer.read().clone()
    }

    pub fn wake(&self, w: Wake) {
        if !self.has_waker.load(Ordering::Acquire) {
            return;
        }
        let waker = self.waker.read().clone();
        if let Some(waker) = waker {
            waker(w);
        }
    }

    /// Makes the subchannel's interruption request (status just became pending).
    pub fn queue_interrupt(&self, sid: SubchannelId, st: &mut SchState) -> u8 {
        let seq = st.next_seq();
        self.set_queued(sid, st, seq);
        let isc = st.isc();
        self.queues.push(isc, Entry { sid, seq }, |e| self.is_live(e));
        isc
    }

    /// Whether a queue entry is its subchannel's current request (lock-free).
    pub fn is_live(&self, e: &Entry) -> bool {
        self.tables
            .get(e.sid)
            .is_some_and(|s| s.queued.load(Ordering::Acquire) == e.seq)
    }

    /// Withdraws the subchannel's queued interruption request, if any: the
    /// queue entry becomes stale (see [`crate::interrupt`]), the shared queue
    /// is not touched.
    pub fn withdraw(&self, sid: SubchannelId, st: &mut SchState) {
        self.set_queued(sid, st, 0);
    }

    /// Records the live request `seq` (0: none) of the subchannel whose
    /// state lock the caller holds (`_st` is the proof).
    fn set_queued(&self, sid: SubchannelId, _st: &mut SchState, seq: u32) {
        if let Some(sch) = self.tables.get(sid) {
            debug_assert!(seq == 0 || sch.queued.load(Ordering::Relaxed) == 0);
            sch.queued.store(seq, Ordering::Release);
        }
    }

    pub fn take_interrupt(&self, isc_mask: u8) -> Option<InterruptionCode> {
        loop {
            let pending = (self.queues.pending_mask() | self.adapters.pending_mask()) & isc_mask;
            if pending == 0 {
                return None;
            }
            let isc = u8::try_from(pending.leading_zeros()).unwrap_or(7);
            if let Some(e) = self.queues.pop(isc) {
                let Some(sch) = self.tables.get(e.sid) else { continue };
                let mut st = sch.state.lock();
                if sch.queued.load(Ordering::Acquire) != e.seq {
                    continue;
                }
                self.set_queued(e.sid, &mut st, 0);
                return Some(InterruptionCode::io(e.sid, self.mcss(), st.pmcw.intparm, isc));
            }
            if self.adapters.take(0x80 >> isc).is_some() {
                return Some(InterruptionCode::adapter(isc));
            }
        }
    }

    pub fn raise_adapter(&self, isc: u8) {
        if self.adapters.raise(isc) {
            self.wake(Wake::Adapter { isc });
        }
    }

    fn check_invariants(&self) -> Result<(), String> {
        let mut err = None;
        let mut count = 0usize;
        let snapshot = self.queues.snapshot();
        self.tables.for_each(|sch| {
            count += 1;
            if err.is_some() {
                return;
            }
            let st = sch.state.lock();
            let queued = sch.queued.load(Ordering::Acquire);
            let live = |e: &Entry| e.sid == sch.sid && queued != 0 && e.seq == queued;
            let n = snapshot.iter().filter(|(_, e)| live(e)).count();
            let expect = usize::from(queued != 0);
            if n != expect {
                err = Some(format!("{}: {n} queued interruptions, state says {expect}", sch.sid));
            } else if queued != 0 && !st.status_pending() {
                err = Some(format!("{}: interruption queued but not status pending", sch.sid));
            } else if let Some((isc, _)) = snapshot.iter().find(|(_, e)| live(e)) {
                if *isc != st.isc() {
                    err = Some(format!("{}: queued on ISC {isc}, PMCW ISC {}", sch.sid, st.isc()));
                }
            }
            if err.is_none() && st.fctl().into_bits() == 0 && st.actl().into_bits() != 0 {
                err = Some(format!(
                    "{}: empty function control with activity {}",
                    sch.sid,
                    st.actl().names()
                ));
            }
            if err.is_none() && !st.present && (st.status_pending() || st.fctl().into_bits() != 0) {
                err = Some(format!("{}: no device but status or function", sch.sid));
            }
            if err.is_none() && st.running {
                err = Some(format!("{}: executor still marked running", sch.sid));
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        self.queues.check_bound(count)?;
        self.ext.check_invariants()
    }
}

/// Stop codes for the executor.
pub(crate) const fn stop_code(clear: bool) -> u8 {
    if clear {
        STOP_CLEAR
    } else {
        STOP_HALT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zcss_ccw::sid::SubchannelIdWord;

    proptest::proptest! {
        #[test]
        fn decode_parts_agrees_with_the_word_parser(word: u32, mcss: bool, mss: bool) {
            let css = Css::new(CssConfig { mcss, mss, ..CssConfig::default() });
            let ours = css.sh.decode_sid(word);
            let theirs = SubchannelIdWord::from_bits(word).parse();
            match theirs {
                Err(_) => proptest::prop_assert_eq!(ours, Err(ProgramCheck::Operand)),
                Ok(p) => {
                    let sid = p.with_default_css(DEFAULT_CSSID);
                    let visible = css.sh.visible(sid.cssid, sid.ssid);
                    proptest::prop_assert_eq!(ours, Ok(visible.then_some(sid)));
                }
            }
        }
    }
}
