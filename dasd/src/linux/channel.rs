//! Where the driver's instructions go: a [`Channel`] is one subchannel as
//! the guest's CPU reaches it — the I/O instructions on it, the wait for
//! its I/O interruption — and the guest storage the driver builds its
//! control blocks and channel programs in. [`CssChannel`] is a subchannel
//! of a [`Css`]; another implementation can run each instruction on two
//! channel subsystems at once and compare them (`zcss-vfio-ccw`'s
//! transparency tests do).

use std::sync::Arc;
use std::time::Duration;

use zcss_ccw::memory::GuestMemory;
use zcss_ccw::sid::SubchannelId;
use zcss_css::{Css, InsnResult, InterruptionCode, IoCtx};

/// How long [`CssChannel`] waits for an interruption unless told
/// otherwise.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The instructions of the driver's subchannel and the storage it works
/// in. Operands are guest absolute addresses, as the instructions' second
/// operands (PoO "I/O Instructions").
pub trait Channel {
    /// Guest storage as the driver (the CPU) reads and writes it.
    fn memory(&self) -> &dyn GuestMemory;
    /// STORE SUBCHANNEL, the SCHIB to `schib`.
    fn stsch(&mut self, schib: u64) -> InsnResult;
    /// MODIFY SUBCHANNEL with the SCHIB at `schib`.
    fn msch(&mut self, schib: u64) -> InsnResult;
    /// START SUBCHANNEL with the ORB at `orb`.
    fn ssch(&mut self, orb: u64) -> InsnResult;
    /// Waits for an I/O interruption of a subclass in `isc_mask` (bit 0x80
    /// is ISC 0) and takes it; `None` when none came in the time the
    /// channel allows.
    fn wait(&mut self, isc_mask: u8) -> Option<InterruptionCode>;
    /// TEST SUBCHANNEL, the IRB to `irb`.
    fn tsch(&mut self, irb: u64) -> InsnResult;
}

/// A subchannel of a [`Css`]: the instructions go to the css with `io` as
/// the storage it works on; the driver's own stores and fetches go through
/// the CPU's storage ([`CssChannel::with_cpu_memory`], by default `io`).
pub struct CssChannel {
    css: Css,
    sid: SubchannelId,
    io: Arc<dyn GuestMemory>,
    cpu: Arc<dyn GuestMemory>,
    settle: Option<Box<dyn FnMut() + Send>>,
    timeout: Duration,
}

impl std::fmt::Debug for CssChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CssChannel")
            .field("sid", &self.sid)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl CssChannel {
    /// Subchannel `sid` of `css`; `io` is the storage the channel subsystem
    /// works on.
    #[must_use]
    pub fn new(css: Css, io: Arc<dyn GuestMemory>, sid: SubchannelId) -> Self {
        Self {
            css,
            sid,
            cpu: io.clone(),
            io,
            settle: None,
            timeout: IO_TIMEOUT,
        }
    }

    /// The driver's own stores and fetches go through `cpu` (a trace
    /// recorder's CPU storage, so that a trace holds what the driver put
    /// into storage).
    #[must_use]
    pub fn with_cpu_memory(mut self, cpu: Arc<dyn GuestMemory>) -> Self {
        self.cpu = cpu;
        self
    }

    /// Calls `settle` before each wait for an interruption: for a device
    /// that completes asynchronously, a recording embedding lets the work
    /// finish there and records `wait`.
    #[must_use]
    pub fn with_settle(mut self, settle: impl FnMut() + Send + 'static) -> Self {
        self.settle = Some(Box::new(settle));
        self
    }

    /// Waits at most `timeout` for an interruption (default
    /// [`IO_TIMEOUT`]).
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The channel subsystem.
    #[must_use]
    pub const fn css(&self) -> &Css {
        &self.css
    }

    /// The subchannel.
    #[must_use]
    pub const fn sid(&self) -> SubchannelId {
        self.sid
    }

    /// The subchannel-identification word of general register 1.
    #[must_use]
    pub fn gr1(&self) -> u32 {
        self.sid.to_word(self.css.mcss_enabled())
    }

    fn ctx(&self) -> IoCtx<'_> {
        IoCtx::new(&*self.io)
    }
}

impl Channel for CssChannel {
    fn memory(&self) -> &dyn GuestMemory {
        &*self.cpu
    }

    fn stsch(&mut self, schib: u64) -> InsnResult {
        self.css.stsch(&self.ctx(), self.gr1(), schib)
    }

    fn msch(&mut self, schib: u64) -> InsnResult {
        self.css.msch(&self.ctx(), self.gr1(), schib)
    }

    fn ssch(&mut self, orb: u64) -> InsnResult {
        self.css.ssch(&self.ctx(), self.gr1(), orb)
    }

    fn wait(&mut self, isc_mask: u8) -> Option<InterruptionCode> {
        if let Some(settle) = &mut self.settle {
            settle();
        }
        // An emulated device has finished before SSCH returned; a
        // passed-through one reports later.
        self.css.wait_interrupt(isc_mask, self.timeout)
    }

    fn tsch(&mut self, irb: u64) -> InsnResult {
        self.css.tsch(&self.ctx(), self.gr1(), irb)
    }
}
