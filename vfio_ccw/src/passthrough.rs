//! The passthrough subchannel device: what QEMU's `hw/vfio/ccw.c` does for
//! a guest subchannel, on the css's passthrough contract
//! ([`zcss_css::PassthroughDevice`]) and over any [`HostBackend`].
//!
//! | guest request | host | answer (QEMU `vfio_ccw_handle_request`, `_halt`, `_clear`) |
//! |---|---|---|
//! | START | write the guest ORB and SCSW to the I/O region | 0 → cc 0; `EAGAIN` → retried; `EBUSY` → cc 2; `ENODEV`, `EACCES` → cc 3; anything else → cc 0 and a unit-exception interruption ([`PassthroughError::HostFailure`]) |
//! | RESUME | the I/O region again (the kernel answers `EBUSY`: it has no resume) | as START |
//! | HALT | `VFIO_CCW_ASYNC_CMD_HSCH` to the command region | 0 → cc 0; `EBUSY` → cc 2; `ENODEV`, `EACCES` → cc 3; anything else → host failure |
//! | CLEAR | `VFIO_CCW_ASYNC_CMD_CSCH` | 0 → cc 0; `ENODEV`, `EACCES` → cc 3; anything else (`EBUSY` included) → host failure |
//! | CANCEL | none (the uAPI cannot cancel) | cc 2 |
//! | STORE SUBCHANNEL | read the SCHIB region | the host's PIM, PAM, POM, PNOM, LPUM and CHPIDs; a failed read keeps what the guest had |
//!
//! Without a command region, HALT and CLEAR are performed here and end
//! with an interruption (QEMU's fallback injects none, which leaves a
//! guest waiting).
//!
//! A worker thread waits for the backend's interrupts. On an I/O interrupt
//! it reads the I/O region and reports the IRB to the guest subchannel as
//! the host stored it — with one exception: the SCSW's CCW-format bit F is
//! the guest ORB's (the host program is always format 1, so a format-0
//! guest would otherwise see F = 1, as it does under QEMU; zcss keeps
//! passthrough transparent). A failed read becomes what QEMU makes of it:
//! `ENODEV` a deferred condition code 3, `EFAULT` a channel-data check,
//! another errno a channel-program check, a short read a channel-control
//! check. Status with an empty function control is unsolicited. The
//! report's token is the clear's for clear status, the program's
//! otherwise, so the css drops status a clear overtook. On a CRW
//! interrupt it reads the CRW region until it answers 0 and forwards the
//! reports (chained as the host chained them); on a REQ interrupt it calls
//! the removal handler.
//!
//! **IPL.** A start whose ORB is the IPL's (format 0, CCW address 0,
//! interruption parameter 0) with the implied READ IPL at 0 runs in host
//! programs of its own, as QEMU's s390-ccw BIOS runs it
//! ([`crate::ipl`]): the READ IPL alone, the IPL1 READ of a DASD after
//! SEEK and SEARCH, the rest split after each READ that chains into a
//! TIC; guest storage is put back as the emulated device leaves it. The
//! guest sees the last program's status, as from one chain.

use std::sync::Arc;

use parking_lot::Mutex;
use zcss_ccw::crw::Crw;
use zcss_ccw::esw::Esw;
use zcss_ccw::irb::Irb;
use zcss_ccw::memory::GuestMemory;
use zcss_ccw::orb::Orb;
use zcss_ccw::pmcw::Pmcw;
use zcss_ccw::schib::Schib;
use zcss_ccw::scsw::{ActivityControl, FunctionControl, Scsw, ScswControls, StatusControl};
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::status::{DeviceStatus, SubchannelStatus};
use zcss_css::{
    ChannelPaths, DeviceInfo, DeviceState, DeviceStateError, PassthroughDevice, PassthroughError, PassthroughReply,
    PathState, ProgramCheck, SubchannelHandle,
};

use crate::host::{HostBackend, HostDevice, HostIrq, RegionReadError};
use crate::ipl::{is_ipl, IplRun, Next};
use crate::uapi::{Errno, IoRegion, ASYNC_CMD_CSCH, ASYNC_CMD_HSCH};

/// Who is told about a removal request (the host wants the device back).
pub type RemovalHandler = Arc<dyn Fn(SubchannelId) + Send + Sync>;

/// What the worker needs to attribute host status.
#[derive(Debug, Clone, Default)]
struct Program {
    /// Token of the program (start) or of a halt of an idle subchannel.
    token: u64,
    /// Token of the last clear.
    clear: u64,
    /// The guest ORB of the program.
    orb: Orb,
    /// A start is on the host (its final status has not arrived).
    active: bool,
    /// An IPL running in pieces ([`crate::ipl`]).
    ipl: Option<IplRun>,
    /// The final status of the program `token` was reported.
    final_reported: bool,
}

/// How many clear statuses the host reported, for a reset that waits for
/// its clear to finish.
#[derive(Debug, Default)]
struct ClearsDone {
    n: Mutex<u64>,
    cv: parking_lot::Condvar,
}

/// Kind name of a vfio-ccw device's state in a snapshot.
pub const STATE_KIND: &str = "vfio-ccw";
/// Version of that state.
pub const STATE_VERSION: u32 = 1;

/// A vfio-ccw device in a snapshot: the host device it drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VfioCcwState {
    /// The host subchannel.
    pub host: zcss_css::snapshot::SidState,
    /// The host device number.
    pub devno: u16,
}

/// How long an I/O-system reset waits for the host's clear status.
const RESET_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A guest subchannel passed through to a host subchannel (see the
/// [module documentation](self)).
pub struct VfioCcw {
    backend: Arc<dyn HostBackend>,
    host: HostDevice,
    guest: Option<Arc<dyn GuestMemory>>,
    program: Arc<Mutex<Program>>,
    clears: Arc<ClearsDone>,
    reply: Option<PassthroughReply>,
    removal: Option<RemovalHandler>,
    stop: Option<crossbeam_channel::Sender<()>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for VfioCcw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VfioCcw")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl VfioCcw {
    /// A passthrough device over `backend`.
    #[must_use]
    pub fn new(backend: Arc<dyn HostBackend>) -> Self {
        let host = backend.device();
        Self {
            guest: backend.guest_memory(),
            backend,
            host,
            program: Arc::new(Mutex::new(Program::default())),
            clears: Arc::new(ClearsDone::default()),
            reply: None,
            removal: None,
            stop: None,
            worker: None,
        }
    }

    /// Calls `f` with the guest subchannel when the host asks for the
    /// device back (the REQ interrupt; QEMU unplugs the device). Set it
    /// before attaching.
    #[must_use]
    pub fn on_removal_request(mut self, f: impl Fn(SubchannelId) + Send + Sync + 'static) -> Self {
        self.removal = Some(Arc::new(f));
        self
    }

    /// Guest storage for the firmware steps of an IPL ([`crate::ipl`]),
    /// for a backend that does not hold it (the Linux backend). Without it
    /// an IPL runs the READ IPL and then the chain at 8 unchanged.
    #[must_use]
    pub fn with_guest_memory(mut self, mem: Arc<dyn GuestMemory>) -> Self {
        self.guest = Some(mem);
        self
    }

    /// The host subchannel.
    #[must_use]
    pub fn host(&self) -> HostDevice {
        self.host
    }

    /// The backend.
    #[must_use]
    pub fn backend(&self) -> &Arc<dyn HostBackend> {
        &self.backend
    }

    /// Writes the I/O region, retrying while the host answers `EAGAIN`.
    fn write_io(&self, region: &IoRegion) -> Result<(), Errno> {
        loop {
            match self.backend.write_io(region) {
                Err(Errno::EAGAIN) => std::thread::yield_now(),
                r => return r,
            }
        }
    }

    /// Writes the command region, retrying on `EAGAIN`.
    fn write_cmd(&self, command: u32) -> Option<Result<(), Errno>> {
        loop {
            match self.backend.write_cmd(command) {
                Some(Err(Errno::EAGAIN)) => std::thread::yield_now(),
                r => return r,
            }
        }
    }

    /// The guest SCSW QEMU writes with a start or resume request.
    fn request_scsw(orb: &Orb, actl: ActivityControl) -> Scsw {
        let mut s = guest_scsw(orb);
        s.ctrl = s.ctrl.with_fctl(FunctionControl::START).with_actl(actl);
        s
    }

    /// A halt or clear performed here when the host has no command region.
    fn local_function(&self, fctl: FunctionControl, token: u64) {
        let (orb, active) = {
            let p = self.program.lock();
            (p.orb, p.active)
        };
        let mut s = guest_scsw(&orb);
        let mut f = fctl;
        if fctl.halt() && active {
            f = f.with_start(true);
            s.dstat = DeviceStatus::new().with_device_end(true);
        }
        s.ctrl = s.ctrl.with_fctl(f).with_stctl(StatusControl::PEND);
        if fctl.clear() {
            s.cpa = 0;
        }
        self.program.lock().active = false;
        if let Some(r) = &self.reply {
            r.report(
                token,
                Irb {
                    scsw: s,
                    esw: Esw::format1(0),
                    ..Irb::default()
                },
            );
        }
    }
}

/// The SCSW controls a subchannel takes from the guest ORB.
fn guest_scsw(orb: &Orb) -> Scsw {
    let c = orb.ctrl;
    Scsw {
        ctrl: ScswControls::new()
            .with_key(c.key())
            .with_suspend(c.suspend())
            .with_format1(c.format1())
            .with_prefetch(c.prefetch())
            .with_initial_status(c.initial_status())
            .with_address_limit(c.address_limit())
            .with_suppress_suspended(c.suppress_suspended()),
        ..Scsw::default()
    }
}

/// The status QEMU makes for a request the host failed
/// (`sch_gen_unit_exception`).
fn unit_exception_irb(orb: &Orb) -> Irb {
    let mut s = guest_scsw(orb);
    s.ctrl = s
        .ctrl
        .with_fctl(FunctionControl::START)
        .with_stctl(StatusControl::PRIM_SEC_PEND | StatusControl::ALERT);
    s.cpa = orb.cpa.wrapping_add(8);
    s.dstat = DeviceStatus::new().with_unit_exception(true);
    Irb {
        scsw: s,
        ..Irb::default()
    }
}

/// The condition code of a start or resume request's errno (QEMU
/// `vfio_ccw_handle_request`).
#[must_use]
pub const fn start_error(e: Errno) -> PassthroughError {
    match e {
        Errno::EBUSY => PassthroughError::Busy,
        Errno::ENODEV | Errno::EACCES => PassthroughError::NotOperational,
        _ => PassthroughError::HostFailure,
    }
}

/// The answer to a halt request's errno (QEMU `vfio_ccw_handle_halt`).
#[must_use]
pub const fn halt_error(e: Errno) -> PassthroughError {
    start_error(e)
}

/// The answer to a clear request's errno (QEMU `vfio_ccw_handle_clear`:
/// `EBUSY` is not a clear's answer).
#[must_use]
pub const fn clear_error(e: Errno) -> PassthroughError {
    match e {
        Errno::ENODEV | Errno::EACCES => PassthroughError::NotOperational,
        _ => PassthroughError::HostFailure,
    }
}

/// The status QEMU presents when the I/O region cannot be read
/// (`vfio_ccw_io_notifier_handler`), on top of the guest's SCSW of the
/// program.
#[must_use]
pub fn read_error_irb(orb: &Orb, e: RegionReadError) -> Irb {
    let mut s = guest_scsw(orb);
    s.ctrl = s.ctrl.with_fctl(FunctionControl::START);
    let check = match e {
        RegionReadError::Errno(Errno::ENODEV) => {
            // A deferred condition code 3.
            s.ctrl = s.ctrl.with_cc(3).with_stctl(StatusControl::ALERT | StatusControl::PEND);
            return Irb {
                scsw: s,
                ..Irb::default()
            };
        }
        RegionReadError::Errno(Errno::EFAULT) => SubchannelStatus::new().with_channel_data_check(true),
        RegionReadError::Errno(_) => SubchannelStatus::new().with_program_check(true),
        RegionReadError::Short(_) => SubchannelStatus::new().with_channel_control_check(true),
    };
    s.cstat = check;
    s.ctrl = s
        .ctrl
        .with_actl(ActivityControl::new())
        .with_stctl(StatusControl::PRIM_SEC_PEND | StatusControl::ALERT);
    Irb {
        scsw: s,
        ..Irb::default()
    }
}

/// Path information from the host's SCHIB, with the channel-path types
/// the device was described with.
#[must_use]
pub fn path_state(schib: &Schib, known: &ChannelPaths) -> PathState {
    let p = &schib.pmcw;
    let kind_of = |chpid: u8| {
        known
            .iter()
            .find(|&(_, c, _)| c == chpid)
            .map_or(known.first_type(), |(_, _, k)| k)
    };
    // ChannelPaths describes paths from 0x80 down without gaps; a host PIM
    // with gaps keeps the known description.
    let n = p.pim.leading_ones() as usize;
    let contiguous = p.pim != 0 && p.pim.count_ones() as usize == n;
    let mut pairs = [(0u8, 0u8); 8];
    for (i, slot) in pairs.iter_mut().enumerate().take(n) {
        *slot = (p.chpid[i], kind_of(p.chpid[i]));
    }
    let paths = if contiguous {
        ChannelPaths::new(&pairs[..n]).unwrap_or(*known)
    } else {
        *known
    };
    PathState {
        paths,
        pam: p.pam,
        pom: p.pom,
        pnom: p.pnom,
        lpum: p.lpum,
    }
}

/// Everything the worker thread owns.
struct Worker {
    backend: Arc<dyn HostBackend>,
    guest: Option<Arc<dyn GuestMemory>>,
    program: Arc<Mutex<Program>>,
    clears: Arc<ClearsDone>,
    reply: PassthroughReply,
    handle: SubchannelHandle,
    removal: Option<RemovalHandler>,
}

impl Worker {
    fn run(&self, irqs: &crossbeam_channel::Receiver<HostIrq>, stop: &crossbeam_channel::Receiver<()>) {
        loop {
            crossbeam_channel::select! {
                recv(irqs) -> m => match m {
                    Ok(HostIrq::Io) => self.io(),
                    Ok(HostIrq::Crw) => self.crws(),
                    Ok(HostIrq::Req) => {
                        if let Some(f) = &self.removal {
                            f(self.reply.sid());
                        }
                    }
                    Err(_) => return,
                },
                recv(stop) -> _ => return,
            }
        }
    }

    /// An I/O interrupt: the IRB of the I/O region goes to the guest.
    fn io(&self) {
        let read = self.backend.read_io();
        let mut p = self.program.lock();
        let mut irb = match read {
            Ok(r) => r.irb(),
            Err(e) => read_error_irb(&p.orb, e),
        };
        let fctl = irb.scsw.ctrl.fctl();
        let solicited = fctl.into_bits() != 0;
        let token = if fctl.clear() { p.clear } else { p.token };
        if fctl.start() {
            irb.scsw.ctrl = irb.scsw.ctrl.with_format1(p.orb.ctrl.format1());
        }
        let is_final = solicited && irb.scsw.ctrl.actl().into_bits() == 0 && irb.scsw.is_status_pending();
        if is_final && fctl == FunctionControl::START {
            if let Some(run) = p.ipl.as_mut() {
                let next = match self.guest.as_deref() {
                    Some(mem) => run.next(mem, &irb),
                    None => run.next_blind(&irb),
                };
                match next {
                    Next::Start(cpa) => {
                        // The next piece of the IPL's program.
                        let orb = Orb { cpa, ..p.orb };
                        drop(p);
                        let region = IoRegion::request(&orb, &VfioCcw::request_scsw(&orb, ActivityControl::START_PEND));
                        let r = loop {
                            match self.backend.write_io(&region) {
                                Err(Errno::EAGAIN) => std::thread::yield_now(),
                                r => break r,
                            }
                        };
                        if r.is_ok() {
                            return;
                        }
                        tracing::warn!(error = ?r, cpa, "vfio-ccw: IPL piece refused by the host");
                        irb = unit_exception_irb(&orb);
                        p = self.program.lock();
                    }
                    Next::Done(done) => irb = done,
                }
                p.ipl = None;
            }
        }
        if fctl == FunctionControl::HALT && p.final_reported {
            // The guest's HALT overtook the program's end: the host halted
            // an idle subchannel, and the program's final status already
            // ended the guest's function. One interruption, not two.
            tracing::debug!("halt status after the program's final status dropped");
            return;
        }
        if is_final {
            p.active = false;
            p.final_reported = true;
        }
        drop(p);
        if solicited {
            self.reply.report(token, irb);
        } else {
            self.reply.unsolicited(irb);
        }
        if fctl.clear() {
            *self.clears.n.lock() += 1;
            self.clears.cv.notify_all();
        }
    }

    /// A CRW interrupt: read the CRW region until it is empty and forward
    /// the reports, chained as the host chained them.
    fn crws(&self) {
        let mut chain: Vec<Crw> = Vec::new();
        loop {
            let crw = match self.backend.read_crw() {
                Some(Ok(0)) | None => break,
                Some(Ok(w)) => Crw::from_bits(w),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "vfio-ccw CRW region read failed");
                    break;
                }
            };
            chain.push(crw);
            if !crw.chaining() {
                self.handle.channel_report(&chain);
                chain.clear();
            }
        }
        if !chain.is_empty() {
            self.handle.channel_report(&chain);
        }
    }
}

impl Drop for VfioCcw {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl PassthroughDevice for VfioCcw {
    fn info(&self) -> DeviceInfo {
        self.host.info
    }

    fn attached(&mut self, handle: SubchannelHandle, reply: PassthroughReply) {
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let w = Worker {
            backend: Arc::clone(&self.backend),
            guest: self.guest.clone(),
            program: Arc::clone(&self.program),
            clears: Arc::clone(&self.clears),
            reply: reply.clone(),
            handle,
            removal: self.removal.clone(),
        };
        let irqs = self.backend.irqs();
        self.reply = Some(reply);
        self.stop = Some(stop_tx);
        self.worker = std::thread::Builder::new()
            .name("vfio-ccw".into())
            .spawn(move || w.run(&irqs, &stop_rx))
            .ok();
    }

    fn start(&mut self, mem: &dyn GuestMemory, orb: &Orb, token: u64) -> Result<(), PassthroughError> {
        let ipl = if is_ipl(mem, orb) {
            // The READ IPL runs alone first (see the module documentation).
            Some(IplRun::begin(mem, &self.host.info).ok_or(PassthroughError::HostFailure)?)
        } else {
            None
        };
        {
            let mut p = self.program.lock();
            p.token = token;
            p.orb = *orb;
            p.active = true;
            p.ipl = ipl;
            p.final_reported = false;
        }
        let region = IoRegion::request(orb, &Self::request_scsw(orb, ActivityControl::START_PEND));
        let r = self.write_io(&region).map_err(start_error);
        if r.is_err() {
            self.program.lock().active = false;
        }
        r
    }

    fn resume(&mut self, _mem: &dyn GuestMemory, token: u64) -> Result<(), PassthroughError> {
        let orb = {
            let mut p = self.program.lock();
            p.token = token;
            p.orb
        };
        let region = IoRegion::request(&orb, &Self::request_scsw(&orb, ActivityControl::RESUME_PEND));
        self.write_io(&region).map_err(start_error)
    }

    fn halt(&mut self, token: u64) -> Result<(), PassthroughError> {
        {
            let mut p = self.program.lock();
            if p.token != token {
                // A halt of an idle subchannel: a function of its own.
                p.final_reported = false;
            }
            p.token = token;
        }
        match self.write_cmd(ASYNC_CMD_HSCH) {
            Some(r) => r.map_err(halt_error),
            None => {
                self.local_function(FunctionControl::HALT, token);
                Ok(())
            }
        }
    }

    fn clear(&mut self, token: u64) -> Result<(), PassthroughError> {
        {
            let mut p = self.program.lock();
            p.clear = token;
            p.ipl = None;
        }
        let before = *self.clears.n.lock();
        match self.write_cmd(ASYNC_CMD_CSCH) {
            Some(Ok(())) if token == 0 => {
                // The I/O-system reset (token 0): the host's clear finishes
                // before the reset does, so that what follows (an IPL)
                // does not find the host subchannel still clearing.
                let deadline = std::time::Instant::now() + RESET_WAIT;
                let mut n = self.clears.n.lock();
                while *n == before && !self.clears.cv.wait_until(&mut n, deadline).timed_out() {}
                Ok(())
            }
            Some(r) => r.map_err(clear_error),
            None => {
                self.local_function(FunctionControl::CLEAR, token);
                Ok(())
            }
        }
    }

    /// The guest's I/O-system reset: the host subchannel is cleared (and
    /// the clear waited for, as [`PassthroughDevice::clear`] does for token
    /// 0), then the host device reset ([`HostBackend::reset`],
    /// `VFIO_DEVICE_RESET`), as QEMU's vfio-ccw does on a subchannel
    /// reset (hw/vfio/ccw.c `vfio_ccw_reset`). IRBs the host still holds
    /// for requests before the reset are dropped by the css (the clear's
    /// token overtook them).
    fn io_system_reset(&mut self) {
        let _ = self.clear(0);
        if let Some(Err(e)) = self.backend.reset() {
            tracing::warn!(error = %e, "vfio-ccw: host device reset failed");
        }
        let mut p = self.program.lock();
        p.active = false;
        p.ipl = None;
    }

    /// Which host device this is (host subchannel and device number),
    /// checked on restore. The host device's own state is the host's: a
    /// real device cannot be carried in a snapshot (the simulated host's
    /// can, through its own css — see the `zcss` package's machine
    /// snapshot).
    fn save_state(&mut self) -> Result<DeviceState, DeviceStateError> {
        let s = VfioCcwState {
            host: self.host.sid.into(),
            devno: self.host.devno,
        };
        DeviceState::new(STATE_KIND, STATE_VERSION, &s)
    }

    fn restore_state(&mut self, state: &DeviceState) -> Result<(), DeviceStateError> {
        let s: VfioCcwState = state.parse(STATE_KIND, STATE_VERSION)?;
        let here = VfioCcwState {
            host: self.host.sid.into(),
            devno: self.host.devno,
        };
        if s != here {
            return Err(DeviceStateError::Invalid(format!(
                "host device {:?} devno {:04x}, this is {:?} devno {:04x}",
                s.host, s.devno, here.host, here.devno
            )));
        }
        let mut p = self.program.lock();
        p.active = false;
        p.ipl = None;
        p.final_reported = true;
        Ok(())
    }

    fn subchannel_modified(&mut self, pmcw: &Pmcw) {
        if let Err(e) = self.backend.set_concurrent_sense(pmcw.chars.csense()) {
            tracing::warn!(error = %e, "vfio-ccw: concurrent sense not mirrored onto the host subchannel");
        }
    }

    fn check_orb(&self, orb: &Orb) -> Result<(), ProgramCheck> {
        // QEMU `ioinst_orb_valid`: an ORB asking for MIDAWs is an operand
        // exception (the kernel's translator does not know MIDAWs).
        if orb.ctrl.midaw() {
            return Err(ProgramCheck::Operand);
        }
        Ok(())
    }

    fn refresh_paths(&mut self) -> Option<PathState> {
        match self.backend.read_schib()? {
            Ok(s) => Some(path_state(&s, &self.host.info.paths)),
            Err(e) => {
                tracing::warn!(error = %e, "vfio-ccw SCHIB region read failed");
                None
            }
        }
    }
}

#[cfg(test)]
#[path = "passthrough_tests.rs"]
mod tests;
