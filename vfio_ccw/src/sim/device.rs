//! One simulated vfio-ccw device: the kernel driver's side of an opened
//! mediated device (`vfio_ccw_ops.c`, `vfio_ccw_fsm.c`, `vfio_ccw_async.c`,
//! `vfio_ccw_drv.c`) over a host subchannel of the simulated host's css.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use zcss_ccw::crw::Crw;
use zcss_ccw::irb::Irb;
use zcss_ccw::orb::Orb;
use zcss_ccw::schib::Schib;
use zcss_ccw::scsw::StatusControl;
use zcss_ccw::sid::SubchannelId;
use zcss_css::device::DeviceWrapper;
use zcss_css::{Cc, Css, Device, IoCtx};

use crate::cp::{ChannelProgram, HostLayout, MAX_IDAWS};
use crate::fsm::{action, Action, Event, State};
use crate::host::{HostBackend, HostDevice, HostIrq, RegionReadError};
use crate::uapi::{Errno, IoRegion, ASYNC_CMD_CSCH, ASYNC_CMD_HSCH, VFIO_CCW_ISC};

use super::view::{GuestDma, HostView};

/// Offsets in a device's kernel area.
const ORB_OFF: u64 = 0x8000;
const IRB_OFF: u64 = 0x8100;
const SCHIB_OFF: u64 = 0x8200;
const IDAL_OFF: u64 = 0x1_0000;

/// The acceptance signal of a host start: the device's `program_start`
/// (the channel subsystem accepted the start and selected the device) or
/// the condition code SSCH ended with, whichever comes first.
#[derive(Debug, Default)]
pub(super) struct Gate {
    ack: Mutex<Option<crossbeam_channel::Sender<Cc>>>,
}

impl Gate {
    fn arm(&self, tx: crossbeam_channel::Sender<Cc>) {
        *self.ack.lock() = Some(tx);
    }

    fn fire(&self, cc: Cc) {
        if let Some(tx) = self.ack.lock().take() {
            let _ = tx.send(cc);
        }
    }
}

/// A host device as the host css holds it: the device itself, telling the
/// gate when its program starts.
pub(super) struct Gated {
    pub inner: Box<dyn Device>,
    pub gate: Arc<Gate>,
}

impl DeviceWrapper for Gated {
    type Inner = dyn Device;

    fn inner(&self) -> &dyn Device {
        &*self.inner
    }

    fn inner_mut(&mut self) -> &mut dyn Device {
        &mut *self.inner
    }

    fn program_start(&mut self, lpum: u8) {
        self.gate.fire(Cc::Zero);
        self.inner.program_start(lpum);
    }
}

zcss_css::device_wrapper!(Gated);

/// What the device's I/O lock (`io_mutex`) guards: the state, the channel
/// program, the regions.
#[derive(Debug)]
pub(super) struct IoState {
    pub fsm: State,
    pub cp: ChannelProgram,
    /// The I/O region as last written, with the last IRB.
    pub io: IoRegion,
    /// IRBs not yet read from the I/O region, oldest first.
    pub irbs: VecDeque<Irb>,
    /// Queued channel reports.
    pub crws: VecDeque<u32>,
    /// The subchannel's logical path mask (`sch->lpm`): the host ORB's LPM
    /// when the guest's is 0.
    pub lpm: u8,
    /// Paths the host configured offline.
    pub offline: u8,
    /// Scratch for storing the host program.
    pub buf: Vec<u8>,
}

/// A start for the device's channel thread.
struct Start {
    ack: crossbeam_channel::Sender<Cc>,
}

/// One opened device.
pub(super) struct SimDevice {
    pub host: HostDevice,
    pub gr1: u32,
    pub css: Css,
    pub view: Arc<HostView>,
    pub dma: GuestDma,
    pub gate: Arc<Gate>,
    pub io: Mutex<IoState>,
    irq_tx: crossbeam_channel::Sender<HostIrq>,
    irq_rx: crossbeam_channel::Receiver<HostIrq>,
    channel: Mutex<Option<crossbeam_channel::Sender<Start>>>,
    /// The acceptance channel of host starts (one answer per start).
    ack: (crossbeam_channel::Sender<Cc>, crossbeam_channel::Receiver<Cc>),
    channel_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for SimDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDevice")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// `scsw_is_solicited`: a deferred condition code, or status other than
/// alert alone.
fn solicited(irb: &Irb) -> bool {
    irb.scsw.ctrl.cc() != 0 || irb.scsw.ctrl.stctl() != (StatusControl::ALERT | StatusControl::PEND)
}

impl SimDevice {
    /// Opens the device (`fsm_open`): enables the host subchannel on ISC 3
    /// with concurrent sense, as Linux's cio does, and starts its channel
    /// thread. State STANDBY → IDLE.
    pub fn open(host: HostDevice, css: Css, view: Arc<HostView>, gate: Arc<Gate>) -> Result<Arc<Self>, Errno> {
        let gr1 = host.sid.to_word(true);
        let base = view.base();
        let layout = HostLayout {
            ccw_base: u32::try_from(base).map_err(|_| Errno::ENOMEM)?,
            idal_base: u32::try_from(base + IDAL_OFF).map_err(|_| Errno::ENOMEM)?,
            idal_capacity: MAX_IDAWS,
        };
        let (irq_tx, irq_rx) = crossbeam_channel::unbounded();
        let dev = Arc::new(Self {
            host,
            gr1,
            css,
            dma: GuestDma::new(Arc::clone(view.guest())),
            view,
            gate,
            io: Mutex::new(IoState {
                fsm: State::Standby,
                cp: ChannelProgram::new(layout),
                io: IoRegion::default(),
                irbs: VecDeque::new(),
                crws: VecDeque::new(),
                lpm: host.info.paths.pim(),
                offline: 0,
                buf: Vec::with_capacity(2048),
            }),
            irq_tx,
            irq_rx,
            channel: Mutex::new(None),
            ack: crossbeam_channel::bounded(1),
            channel_thread: Mutex::new(None),
        });
        let mut st = dev.io.lock();
        if action(st.fsm, Event::Open) != Action::Open {
            return Err(Errno::EIO);
        }
        if dev.modify(|s| {
            s.pmcw.flags = s.pmcw.flags.with_enabled(true).with_isc(VFIO_CCW_ISC);
            s.pmcw.intparm = gr1;
            s.pmcw.chars = s.pmcw.chars.with_csense(true);
        }) != Ok(Cc::Zero)
        {
            st.fsm = State::NotOper;
            return Err(Errno::ENODEV);
        }
        st.fsm = State::Idle;
        drop(st);
        let (tx, rx) = crossbeam_channel::unbounded::<Start>();
        let d = Arc::downgrade(&dev);
        let t = std::thread::Builder::new()
            .name("sim-channel".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    let Some(dev) = d.upgrade() else { return };
                    dev.gate.arm(job.ack);
                    let ctx = IoCtx::new(&*dev.view);
                    let cc = dev
                        .css
                        .ssch(&ctx, dev.gr1, dev.view.base() + ORB_OFF)
                        .unwrap_or(Cc::Three);
                    dev.gate.fire(cc);
                }
            })
            .map_err(|_| Errno::ENOMEM)?;
        *dev.channel.lock() = Some(tx);
        *dev.channel_thread.lock() = Some(t);
        Ok(dev)
    }

    fn ctx(&self) -> IoCtx<'_> {
        IoCtx::new(&*self.view)
    }

    /// STORE SUBCHANNEL of the host subchannel.
    pub fn stsch(&self) -> Result<Schib, Errno> {
        let a = self.view.base() + SCHIB_OFF;
        match self.css.stsch(&self.ctx(), self.gr1, a) {
            Ok(Cc::Zero) => {
                let mut b = [0u8; Schib::LEN];
                zcss_ccw::GuestMemory::read(&*self.view, a, &mut b, zcss_ccw::AccessKey::ZERO)
                    .map_err(|_| Errno::EFAULT)?;
                Ok(Schib::from_be_bytes(&b))
            }
            _ => Err(Errno::ENODEV),
        }
    }

    /// STSCH, `f` on the SCHIB, MSCH.
    pub fn modify(&self, f: impl FnOnce(&mut Schib)) -> Result<Cc, Errno> {
        let mut s = self.stsch()?;
        f(&mut s);
        let a = self.view.base() + SCHIB_OFF;
        zcss_ccw::GuestMemory::write(&*self.view, a, &s.to_be_bytes(), zcss_ccw::AccessKey::ZERO)
            .map_err(|_| Errno::EFAULT)?;
        self.css.msch(&self.ctx(), self.gr1, a).map_err(|_| Errno::EINVAL)
    }

    /// The POM the host's offline paths leave (applied before each start).
    fn sync_offline(&self, offline: u8) {
        let _ = self.modify(|s| s.pmcw.pom = !offline);
    }

    /// `fsm_io_request`: CP_PROCESSING while the program is translated
    /// and started, CP_PENDING once it runs, IDLE on any error.
    fn io_request(&self, st: &mut IoState) -> Result<(), Errno> {
        st.fsm = State::CpProcessing;
        let fctl = st.io.scsw().ctrl.fctl();
        let r = if fctl.start() {
            self.start(st)
        } else if fctl.halt() || fctl.clear() {
            // Halt and clear go through the command region.
            Err(Errno::EOPNOTSUPP)
        } else {
            Ok(())
        };
        st.fsm = if r.is_ok() && fctl.start() {
            State::CpPending
        } else {
            State::Idle
        };
        r
    }

    fn start(&self, st: &mut IoState) -> Result<(), Errno> {
        let orb = st.io.orb();
        if orb.ctrl.transport_mode() {
            return Err(Errno::EOPNOTSUPP);
        }
        st.cp.init(&orb, &self.dma).map_err(|e| e.errno())?;
        if let Err(e) = st.cp.prefetch(&self.dma) {
            st.cp.free(&self.dma);
            return Err(e.errno());
        }
        self.io_helper(st, &orb).inspect_err(|_| st.cp.free(&self.dma))
    }

    /// `fsm_io_helper`: stores the host program and its ORB, starts it.
    fn io_helper(&self, st: &mut IoState, guest_orb: &Orb) -> Result<(), Errno> {
        let IoState {
            cp, buf, lpm, offline, ..
        } = st;
        if *offline != 0 {
            self.sync_offline(*offline);
        }
        let view = &*self.view;
        cp.store(buf, |a, b| {
            zcss_ccw::GuestMemory::write(view, a, b, zcss_ccw::AccessKey::ZERO)
        })
        .map_err(|_| Errno::EFAULT)?;
        let host_orb = cp.host_orb(self.gr1, *lpm);
        let (o, n) = host_orb.encode();
        zcss_ccw::GuestMemory::write(view, view.base() + ORB_OFF, &o[..n], zcss_ccw::AccessKey::ZERO)
            .map_err(|_| Errno::EFAULT)?;
        let (ack, done) = (&self.ack.0, &self.ack.1);
        while done.try_recv().is_ok() {}
        let sent = self
            .channel
            .lock()
            .as_ref()
            .is_some_and(|c| c.send(Start { ack: ack.clone() }).is_ok());
        if !sent {
            return Err(Errno::EIO);
        }
        match done.recv().unwrap_or(Cc::Three) {
            Cc::Zero => Ok(()),
            Cc::One | Cc::Two => Err(Errno::EBUSY),
            Cc::Three => {
                let mask = guest_orb.ctrl.lpm();
                *lpm = if mask != 0 { *lpm & !mask } else { 0 };
                match self.stsch() {
                    Err(_) => Err(Errno::ENODEV),
                    Ok(_) if *lpm != 0 => Err(Errno::EACCES),
                    Ok(_) => Err(Errno::ENODEV),
                }
            }
        }
    }

    /// `fsm_async_request`.
    fn async_request(&self, command: u32) -> Result<(), Errno> {
        let ctx = self.ctx();
        match command {
            ASYNC_CMD_HSCH => match self.css.hsch(&ctx, self.gr1) {
                Ok(Cc::Zero) => Ok(()),
                Ok(Cc::One | Cc::Two) => Err(Errno::EBUSY),
                _ => Err(Errno::ENODEV),
            },
            ASYNC_CMD_CSCH => match self.css.csch(&ctx, self.gr1) {
                Ok(Cc::Zero) => Ok(()),
                _ => Err(Errno::ENODEV),
            },
            _ => Err(Errno::EINVAL),
        }
    }

    /// An I/O interruption of the host subchannel (`vfio_ccw_sch_irq`,
    /// `fsm_irq`, `vfio_ccw_sch_io_todo`): the kernel tests the
    /// subchannel, translates the CCW address of solicited status back,
    /// frees the program on its final status, and signals the IRB.
    pub fn interrupt(&self) {
        let a = self.view.base() + IRB_OFF;
        if self.css.tsch(&self.ctx(), self.gr1, a) != Ok(Cc::Zero) {
            return;
        }
        let mut b = [0u8; Irb::LEN_NO_EMW];
        if zcss_ccw::GuestMemory::read(&*self.view, a, &mut b, zcss_ccw::AccessKey::ZERO).is_err() {
            return;
        }
        let Some(mut irb) = Irb::decode(&b) else { return };
        let mut st = self.io.lock();
        match action(st.fsm, Event::Interrupt) {
            Action::Irq => {}
            Action::DisableAgain => {
                drop(st);
                let _ = self.modify(|s| s.pmcw.flags = s.pmcw.flags.with_enabled(false));
                return;
            }
            _ => return,
        }
        if solicited(&irb) {
            st.cp.update_scsw(&mut irb.scsw);
            let ac = irb.scsw.ctrl.actl();
            let is_final = !ac.device_active() && !ac.subchannel_active();
            if is_final && st.fsm == State::CpPending {
                st.cp.free(&self.dma);
                st.fsm = State::Idle;
            }
        }
        st.io.irb_area = irb.encode();
        st.irbs.push_back(irb);
        drop(st);
        let _ = self.irq_tx.send(HostIrq::Io);
    }

    /// `VFIO_DEVICE_RESET` (`vfio_ccw_mdev_reset`: close, then open): the
    /// program is freed, the host subchannel and its device get the host's
    /// reset ([`Css::reset_subchannel`]: disabled, no status, the device's
    /// I/O-system reset — an emulated DASD drops its path groups and
    /// reserves, so that the guest sees what it sees of the same device
    /// emulated directly), IRBs not yet read are dropped, and the
    /// subchannel is enabled again as [`SimDevice::open`] enables it.
    ///
    /// # Errors
    /// `ENODEV` when the device is not operational or cannot be enabled.
    pub fn reset(&self) -> Result<(), Errno> {
        let mut st = self.io.lock();
        if st.fsm == State::NotOper {
            return Err(Errno::ENODEV);
        }
        st.cp.free(&self.dma);
        self.css.reset_subchannel(self.host.sid);
        st.irbs.clear();
        let enabled = self.modify(|s| {
            s.pmcw.flags = s.pmcw.flags.with_enabled(true).with_isc(VFIO_CCW_ISC);
            s.pmcw.intparm = self.gr1;
            s.pmcw.chars = s.pmcw.chars.with_csense(true);
        });
        if enabled == Ok(Cc::Zero) {
            st.fsm = State::Idle;
            Ok(())
        } else {
            st.fsm = State::NotOper;
            Err(Errno::ENODEV)
        }
    }

    /// Queues a channel report and signals it.
    pub fn queue_crw(&self, crw: Crw) {
        self.io.lock().crws.push_back(crw.into_bits());
        let _ = self.irq_tx.send(HostIrq::Crw);
    }

    /// Signals queued channel reports.
    pub fn signal_crw(&self) {
        let _ = self.irq_tx.send(HostIrq::Crw);
    }

    /// Signals the removal request.
    pub fn request_removal(&self) {
        let _ = self.irq_tx.send(HostIrq::Req);
    }

    /// `fsm_close`: disables the host subchannel (clearing it if busy);
    /// state STANDBY. Stops the channel thread.
    pub fn close(&self) {
        {
            let mut st = self.io.lock();
            if action(st.fsm, Event::Close) == Action::Close {
                if self.modify(|s| s.pmcw.flags = s.pmcw.flags.with_enabled(false)) != Ok(Cc::Zero) {
                    let _ = self.css.csch(&self.ctx(), self.gr1);
                    let _ = self.modify(|s| s.pmcw.flags = s.pmcw.flags.with_enabled(false));
                }
                st.cp.free(&self.dma);
                st.fsm = State::Standby;
            }
        }
        *self.channel.lock() = None;
        if let Some(t) = self.channel_thread.lock().take() {
            let _ = t.join();
        }
    }
}

impl HostBackend for SimBackend {
    fn device(&self) -> HostDevice {
        self.0.host
    }

    fn write_io(&self, region: &IoRegion) -> Result<(), Errno> {
        let d = &self.0;
        let Some(mut st) = d.io.try_lock() else {
            return Err(Errno::EAGAIN);
        };
        let r = match action(st.fsm, Event::IoReq) {
            Action::Fail(e) => Err(e),
            Action::IoRequest => {
                let irb = st.io.irb_area;
                st.io = *region;
                st.io.irb_area = irb;
                d.io_request(&mut st)
            }
            _ => Err(Errno::EIO),
        };
        let ret = match r {
            Ok(()) => region.ret(),
            Err(e) => e.ret(),
        };
        st.io.set_ret(ret);
        Errno::from_ret(ret).map_or(Ok(()), Err)
    }

    fn read_io(&self) -> Result<IoRegion, RegionReadError> {
        let mut st = self.0.io.lock();
        if st.fsm == State::NotOper {
            return Err(RegionReadError::Errno(Errno::ENODEV));
        }
        let mut r = st.io;
        if let Some(irb) = st.irbs.pop_front() {
            r.irb_area = irb.encode();
        }
        Ok(r)
    }

    fn write_cmd(&self, command: u32) -> Option<Result<(), Errno>> {
        let d = &self.0;
        let Some(st) = d.io.try_lock() else {
            return Some(Err(Errno::EAGAIN));
        };
        Some(match action(st.fsm, Event::AsyncReq) {
            Action::Fail(e) => Err(e),
            Action::AsyncRequest => d.async_request(command),
            _ => Err(Errno::EIO),
        })
    }

    fn read_schib(&self) -> Option<Result<Schib, Errno>> {
        let offline = self.0.io.lock().offline;
        Some(self.0.stsch().map(|mut s| {
            s.pmcw.pam &= !offline;
            s.pmcw.pom &= !offline;
            s
        }))
    }

    fn read_crw(&self) -> Option<Result<u32, Errno>> {
        let mut st = self.0.io.lock();
        let crw = st.crws.pop_front().unwrap_or(0);
        let more = !st.crws.is_empty();
        drop(st);
        if more {
            let _ = self.0.irq_tx.send(HostIrq::Crw);
        }
        Some(Ok(crw))
    }

    fn irqs(&self) -> crossbeam_channel::Receiver<HostIrq> {
        self.0.irq_rx.clone()
    }

    fn guest_memory(&self) -> Option<Arc<dyn zcss_ccw::GuestMemory>> {
        Some(Arc::clone(self.0.view.guest()))
    }

    fn reset(&self) -> Option<Result<(), Errno>> {
        Some(self.0.reset())
    }

    fn set_concurrent_sense(&self, on: bool) -> Result<(), Errno> {
        // Under the I/O lock: no start is being translated meanwhile.
        let _st = self.0.io.lock();
        match self.0.modify(|s| s.pmcw.chars = s.pmcw.chars.with_csense(on))? {
            Cc::Zero => Ok(()),
            Cc::One | Cc::Two => Err(Errno::EBUSY),
            Cc::Three => Err(Errno::ENODEV),
        }
    }
}

/// An opened simulated device, as user space holds it ([`HostBackend`]).
/// Dropping the last handle closes the device.
#[derive(Debug)]
pub struct SimBackend(pub(super) Arc<SimDevice>, pub(super) Arc<super::Registry>);

impl SimBackend {
    /// The host subchannel.
    #[must_use]
    pub fn host_sid(&self) -> SubchannelId {
        self.0.host.sid
    }

    /// The device state (for tests and diagnostics).
    #[must_use]
    pub fn state(&self) -> State {
        self.0.io.lock().fsm
    }

    /// Whether a channel program is translated (for tests).
    #[must_use]
    pub fn program_in_progress(&self) -> bool {
        self.0.io.lock().cp.is_initialized()
    }
}

impl Drop for SimBackend {
    fn drop(&mut self) {
        self.1.close(self.0.gr1);
        self.0.close();
    }
}

/// The interface info of a backend.
impl SimBackend {
    /// Host device information.
    #[must_use]
    pub fn host(&self) -> HostDevice {
        self.0.host
    }
}

impl From<RegionReadError> for Errno {
    fn from(e: RegionReadError) -> Self {
        match e {
            RegionReadError::Errno(e) => e,
            RegionReadError::Short(_) => Self::EFAULT,
        }
    }
}
