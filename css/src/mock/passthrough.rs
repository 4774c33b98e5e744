//! A scriptable passthrough device: a worker thread plays the host
//! subchannel, reporting IRBs the way a real one presents them.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use zcss_ccw::esw::Esw;
use zcss_ccw::irb::Irb;
use zcss_ccw::memory::GuestMemory;
use zcss_ccw::orb::Orb;
use zcss_ccw::scsw::{ActivityControl, FunctionControl, Scsw, ScswControls, StatusControl};
use zcss_ccw::status::{DeviceStatus, SubchannelStatus};

use crate::device::{
    chpid_type, ChannelPaths, DeviceInfo, PassthroughDevice, PassthroughError, PassthroughReply, PathState,
    SubchannelHandle,
};

/// Controls of a [`MockPassthrough`]: what its host answers and reports.
#[derive(Debug, Default)]
pub struct PassthroughScript {
    /// Refuse starts with this error.
    pub refuse_start: Option<PassthroughError>,
    /// Refuse halts with this error.
    pub refuse_halt: Option<PassthroughError>,
    /// Refuse clears with this error.
    pub refuse_clear: Option<PassthroughError>,
    /// Accept cancels (by default they are refused as busy, as vfio-ccw
    /// has no cancel).
    pub accept_cancel: bool,
    /// How long the host takes per program.
    pub delay: Duration,
    /// Device status the program ends with.
    pub status: DeviceStatus,
    /// Subchannel status the program ends with (e.g. a channel-data check
    /// the host channel detected).
    pub cstat: SubchannelStatus,
    /// Report intermediate status (PCI) before the final status.
    pub intermediate: bool,
    /// What a path refresh answers (`None`: no refresh).
    pub paths: Option<PathState>,
    /// Tokens started, in order.
    pub started: Vec<u64>,
    /// Tokens halted.
    pub halted: Vec<u64>,
    /// Tokens cleared.
    pub cleared: Vec<u64>,
    /// I/O-system resets seen (each also clears with token 0).
    pub system_resets: u32,
    /// Path refreshes asked for.
    pub refreshes: u32,
    /// The handle the device got when attached (for forwarding CRWs).
    pub handle: Option<SubchannelHandle>,
    /// Sense the host stores as concurrent sense with a unit check.
    pub sense: Option<[u8; 4]>,
    /// The guest PMCW's concurrent-sense bit, as MSCH last told the device.
    pub csense: bool,
    /// Refuse ORBs with MIDAW (operand exception), as QEMU's vfio-ccw.
    pub refuse_midaw: bool,
}

/// What the worker is told.
enum Job {
    Start { token: u64, orb: Orb },
    Halt { token: u64 },
    Clear { token: u64 },
}

/// A passthrough test device on one FICON path (CHPID 0x01, type 0x1a).
///
/// A worker thread plays the host subchannel: a start "runs" for the
/// scripted delay (intermediate status first if asked), then reports the
/// final status — primary, secondary, and alert with unit check or a
/// subchannel check — with the CCW address after the first CCW and a zero
/// residual count. A halt arriving while a program runs ends it with the
/// halt status (start and halt function, status pending, device end); a
/// halt of an idle subchannel reports halt status alone; a clear reports
/// the clear status. The condition codes come from the script.
#[derive(Debug)]
pub struct MockPassthrough {
    info: DeviceInfo,
    script: Arc<Mutex<PassthroughScript>>,
    jobs: Option<crossbeam_channel::Sender<Job>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl MockPassthrough {
    /// A device of CU type `cu_type` (device type 3390).
    #[must_use]
    pub fn new(cu_type: u16) -> Self {
        Self {
            info: DeviceInfo {
                cu_type,
                cu_model: 0,
                dev_type: 0x3390,
                dev_model: 0x0c,
                paths: ChannelPaths::single(0x01, chpid_type::FICON),
            },
            script: Arc::new(Mutex::new(PassthroughScript {
                status: DeviceStatus::CE_DE,
                ..PassthroughScript::default()
            })),
            jobs: None,
            worker: None,
        }
    }

    /// Its script (shared with the worker).
    #[must_use]
    pub fn script(&self) -> Arc<Mutex<PassthroughScript>> {
        Arc::clone(&self.script)
    }
}

impl Drop for MockPassthrough {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// An SCSW with the ORB's controls, as a host subchannel stores it.
fn scsw(orb: &Orb, fctl: FunctionControl, actl: ActivityControl, stctl: StatusControl) -> Scsw {
    let c = orb.ctrl;
    Scsw {
        ctrl: ScswControls::new()
            .with_key(c.key())
            .with_suspend(c.suspend())
            .with_format1(c.format1())
            .with_prefetch(c.prefetch())
            .with_initial_status(c.initial_status())
            .with_address_limit(c.address_limit())
            .with_suppress_suspended(c.suppress_suspended())
            .with_fctl(fctl)
            .with_actl(actl)
            .with_stctl(stctl),
        cpa: orb.cpa.wrapping_add(8),
        ..Scsw::default()
    }
}

/// The IRB a host stores for `scsw`: the format-0 ESW with its logout (and
/// SCSW L) after a channel-data, channel-control or interface-control
/// check, the format-1 ESW otherwise; LPUM 0x80.
fn irb(mut scsw: Scsw) -> Irb {
    let c = scsw.cstat;
    let logout = c.channel_data_check() || c.channel_control_check() || c.interface_control_check();
    scsw.ctrl.set_esw_format(logout);
    Irb {
        scsw,
        esw: if logout {
            Esw::channel_check(0x80)
        } else {
            Esw::format1(0x80)
        },
        ..Irb::default()
    }
}

/// The host subchannel's side: runs one job queue.
fn host(rx: &crossbeam_channel::Receiver<Job>, script: &Mutex<PassthroughScript>, reply: &PassthroughReply) {
    let mut next = rx.recv().ok();
    while let Some(job) = next.take() {
        let report = match job {
            Job::Start { token, orb } => {
                let (delay, status, cstat, intermediate, sense) = {
                    let s = script.lock();
                    (s.delay, s.status, s.cstat, s.intermediate, s.sense)
                };
                if intermediate {
                    let mut s = scsw(
                        &orb,
                        FunctionControl::START,
                        ActivityControl::SCH_ACT | ActivityControl::DEV_ACT,
                        StatusControl::INTER | StatusControl::PEND,
                    );
                    s.cstat = SubchannelStatus::new().with_pci(true);
                    reply.report(token, irb(s));
                }
                match rx.recv_timeout(delay) {
                    Ok(Job::Halt { token: t }) if t == token => {
                        let mut s = scsw(
                            &orb,
                            FunctionControl::START.with_halt(true),
                            ActivityControl::new(),
                            StatusControl::PEND,
                        );
                        s.dstat = DeviceStatus::new().with_device_end(true);
                        Some((token, irb(s)))
                    }
                    Ok(other) => {
                        // Anything else (a clear) overtakes the program.
                        next = Some(other);
                        None
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                        let alert = status.unit_check() || cstat.into_bits() & 0x3f != 0;
                        let mut sc = StatusControl::PRIM_SEC_PEND;
                        if alert {
                            sc = sc | StatusControl::ALERT;
                        }
                        let mut s = scsw(&orb, FunctionControl::START, ActivityControl::new(), sc);
                        s.dstat = status;
                        s.cstat = cstat;
                        let mut irb = irb(s);
                        if let (true, Some(sense)) = (status.unit_check(), sense) {
                            // The host subchannel presents concurrent sense.
                            irb.scsw.ctrl = irb.scsw.ctrl.with_esw_format(true).with_extended_control(true);
                            irb.esw.erw = zcss_ccw::esw::ExtendedReportWord::with_sense(4);
                            irb.ecw[..4].copy_from_slice(&sense);
                        }
                        Some((token, irb))
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                }
            }
            Job::Halt { token } => {
                let mut s = scsw(
                    &Orb::default(),
                    FunctionControl::HALT,
                    ActivityControl::new(),
                    StatusControl::PEND,
                );
                s.cpa = 0;
                s.dstat = DeviceStatus::new().with_device_end(true);
                Some((token, irb(s)))
            }
            Job::Clear { token } => {
                let mut s = scsw(
                    &Orb::default(),
                    FunctionControl::CLEAR,
                    ActivityControl::new(),
                    StatusControl::PEND,
                );
                s.cpa = 0;
                Some((token, irb(s)))
            }
        };
        if let Some((token, irb)) = report {
            if !reply.report(token, irb) {
                return;
            }
        }
        if next.is_none() {
            next = rx.recv().ok();
        }
    }
}

impl MockPassthrough {
    fn send(&self, job: Job) -> Result<(), PassthroughError> {
        self.jobs
            .as_ref()
            .and_then(|j| j.send(job).ok())
            .ok_or(PassthroughError::NotOperational)
    }
}

impl PassthroughDevice for MockPassthrough {
    fn info(&self) -> DeviceInfo {
        self.info
    }

    fn attached(&mut self, handle: SubchannelHandle, reply: PassthroughReply) {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let script = Arc::clone(&self.script);
        script.lock().handle = Some(handle);
        self.jobs = Some(tx);
        self.worker = Some(std::thread::spawn(move || host(&rx, &script, &reply)));
    }

    fn start(&mut self, _mem: &dyn GuestMemory, orb: &Orb, token: u64) -> Result<(), PassthroughError> {
        let mut s = self.script.lock();
        if let Some(e) = s.refuse_start {
            return Err(e);
        }
        s.started.push(token);
        drop(s);
        self.send(Job::Start { token, orb: *orb })
    }

    fn halt(&mut self, token: u64) -> Result<(), PassthroughError> {
        let mut s = self.script.lock();
        if let Some(e) = s.refuse_halt {
            return Err(e);
        }
        s.halted.push(token);
        drop(s);
        self.send(Job::Halt { token })
    }

    fn clear(&mut self, token: u64) -> Result<(), PassthroughError> {
        let mut s = self.script.lock();
        if let Some(e) = s.refuse_clear {
            return Err(e);
        }
        s.cleared.push(token);
        drop(s);
        self.send(Job::Clear { token })
    }

    fn save_state(&mut self) -> Result<crate::DeviceState, crate::DeviceStateError> {
        crate::DeviceState::new("mock-passthrough", 1, &())
    }

    fn restore_state(&mut self, state: &crate::DeviceState) -> Result<(), crate::DeviceStateError> {
        state.parse::<()>("mock-passthrough", 1)
    }

    fn io_system_reset(&mut self) {
        self.script.lock().system_resets += 1;
        let _ = self.clear(0);
    }

    fn cancel(&mut self, _token: u64) -> Result<(), PassthroughError> {
        if self.script.lock().accept_cancel {
            Ok(())
        } else {
            Err(PassthroughError::Busy)
        }
    }

    fn subchannel_modified(&mut self, pmcw: &zcss_ccw::pmcw::Pmcw) {
        self.script.lock().csense = pmcw.chars.csense();
    }

    fn check_orb(&self, orb: &Orb) -> Result<(), crate::error::ProgramCheck> {
        if orb.ctrl.midaw() && self.script.lock().refuse_midaw {
            return Err(crate::error::ProgramCheck::Operand);
        }
        Ok(())
    }

    fn refresh_paths(&mut self) -> Option<PathState> {
        let mut s = self.script.lock();
        s.refreshes += 1;
        s.paths
    }
}
