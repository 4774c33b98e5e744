//! One subchannel: its PMCW, SCSW and saved ORB, the device behind it, and
//! the state transitions of the start, halt, clear and cancel functions
//! (Principles of Operation, chapter 15, "Subchannel", and chapter 16,
//! "Subchannel-Status Word": function, activity and status control).
//!
//! The state sits behind one lock per subchannel; the device sits behind a
//! second lock. The css never holds the state lock while it calls into the
//! device (see [`crate::device`]).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};

use parking_lot::Mutex;
use zcss_ccw::engine::{Completion, Ending};
use zcss_ccw::esw::{Ecw, Esw, ExtendedReportWord};
use zcss_ccw::hooks::EngineHooks;
use zcss_ccw::orb::Orb;
use zcss_ccw::pmcw::{Pmcw, PmcwFlags};
use zcss_ccw::schib::Schib;
use zcss_ccw::scsw::{ActivityControl, FunctionControl, Scsw, StatusControl};
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::status::{DeviceStatus, SubchannelStatus};
use zcss_ccw::{ProgramEnd, Sense};

use crate::device::{ChannelPaths, PathState};
use crate::pt_state::PtState;
use crate::slot::DevSlot;

/// No stop requested.
pub(crate) const STOP_NONE: u8 = 0;
/// HALT SUBCHANNEL asked the running program to stop.
pub(crate) const STOP_HALT: u8 = 1;
/// CLEAR SUBCHANNEL asked the running program to stop.
pub(crate) const STOP_CLEAR: u8 = 2;

/// A subchannel. Allocated once per subchannel number that ever held a
/// device; never freed while the css lives (a detached subchannel keeps its
/// slot, without a device). Cache-line aligned: CPUs working on
/// neighbouring subchannels do not share lines.
#[repr(align(64))]
pub(crate) struct Subchannel {
    pub sid: SubchannelId,
    pub state: Mutex<SchState>,
    pub dev: Mutex<DevSlot>,
    /// Halt or clear requested while a program runs ([`STOP_HALT`], [`STOP_CLEAR`]).
    pub stop: AtomicU8,
    /// Sequence number of the queued I/O-interruption request, 0 = none.
    /// Written only with the state lock held; read without it too, so that
    /// compacting an interruption queue never locks a subchannel.
    pub queued: AtomicU32,
    /// RESUME SUBCHANNEL found the program running: its next suspend flag
    /// is not honoured (set and cleared with the state lock held; the
    /// engine consumes it without the lock).
    pub resume: AtomicBool,
    /// Identifies the device attached now (0: none): set after the device
    /// is placed, cleared before it is taken, so a [`crate::DeviceHandle`]
    /// never reaches a later device on the same subchannel.
    pub token: AtomicU32,
}

impl Subchannel {
    pub fn new(sid: SubchannelId) -> Self {
        Self {
            sid,
            state: Mutex::new(SchState::default()),
            dev: Mutex::new(DevSlot::Empty),
            stop: AtomicU8::new(STOP_NONE),
            queued: AtomicU32::new(0),
            resume: AtomicBool::new(false),
            token: AtomicU32::new(0),
        }
    }
}

/// The architected state of a subchannel plus the css's bookkeeping.
#[derive(Debug, Clone, Default)]
pub(crate) struct SchState {
    /// A device is attached (the subchannel is "provided" and valid).
    pub present: bool,
    pub pmcw: Pmcw,
    pub scsw: Scsw,
    /// Measurement-block address (format-1 measurement blocks).
    pub mba: u64,
    /// ORB of the current start function.
    pub orb: Orb,
    /// Extended-report word of the pending status.
    pub erw: ExtendedReportWord,
    /// Extended-control word (concurrent sense) of the pending status.
    pub ecw: Ecw,
    /// Last sequence number used.
    pub seq: u32,
    /// A thread (or a passthrough device) is performing this subchannel's
    /// functions; others only post requests in the activity control.
    pub running: bool,
    /// The passthrough side of the subchannel (`Some` exactly when the
    /// device is a passthrough device): the request in flight, the ESW the
    /// host reported, reports waiting for the status to be cleared.
    pub pt: Option<Box<PtState>>,
    /// Generation, bumped on attach and detach: work begun for an older
    /// device is discarded.
    pub generation: u32,
}

impl SchState {
    /// The state of a freshly attached device: PMCW defaults (not enabled,
    /// DNV, the device's channel paths all available and operational, LPM
    /// = PIM), SCSW zero.
    pub fn attached(devno: u16, paths: &ChannelPaths, passthrough: bool, generation: u32) -> Self {
        Self::initial(devno, paths.pim(), paths.chpids(), passthrough, generation)
    }

    fn initial(devno: u16, pim: u8, chpid: [u8; 8], passthrough: bool, generation: u32) -> Self {
        Self {
            present: true,
            pmcw: Pmcw {
                flags: PmcwFlags::new().with_dnv(true).with_devno(devno),
                lpm: pim,
                pim,
                pam: pim,
                pom: 0xff,
                chpid,
                ..Pmcw::default()
            },
            pt: passthrough.then(Box::<PtState>::default),
            generation,
            ..Self::default()
        }
    }

    /// Back to the initial state of an attached device (I/O-system reset):
    /// the device number and channel paths stay, everything else is as
    /// after attach; work begun before is discarded (new generation).
    pub fn reset_initial(&mut self) {
        let p = self.pmcw;
        let seq = self.seq;
        let timing = p.flags.timing();
        *self = Self::initial(
            p.flags.devno(),
            p.pim,
            p.chpid,
            self.pt.is_some(),
            self.generation.wrapping_add(1),
        );
        self.seq = seq;
        // The timing facility is a property of the model, not of the state.
        self.pmcw.flags.set_timing(timing);
    }

    /// Takes the path information a passthrough device read from its host
    /// subchannel.
    pub fn apply_paths(&mut self, ps: &PathState) {
        let p = &mut self.pmcw;
        p.pim = ps.paths.pim();
        p.chpid = ps.paths.chpids();
        p.pam = ps.pam;
        p.pom = ps.pom;
        p.pnom = ps.pnom;
        p.lpum = ps.lpum;
    }

    /// Whether the device is a passthrough device.
    pub fn is_passthrough(&self) -> bool {
        self.pt.is_some()
    }

    /// The subchannel is valid and enabled: operational for SSCH, HSCH,
    /// CSCH, XSCH, RSCH and TSCH.
    pub fn operational(&self) -> bool {
        self.present && self.pmcw.flags.dnv() && self.pmcw.flags.enabled()
    }

    pub fn status_pending(&self) -> bool {
        self.scsw.ctrl.stctl().pending()
    }

    pub fn fctl(&self) -> FunctionControl {
        self.scsw.ctrl.fctl()
    }

    pub fn actl(&self) -> ActivityControl {
        self.scsw.ctrl.actl()
    }

    pub fn stctl(&self) -> StatusControl {
        self.scsw.ctrl.stctl()
    }

    pub fn set_fctl(&mut self, f: FunctionControl) {
        self.scsw.ctrl.set_fctl(f);
    }

    pub fn set_actl(&mut self, a: ActivityControl) {
        self.scsw.ctrl.set_actl(a);
    }

    pub fn set_stctl(&mut self, s: StatusControl) {
        self.scsw.ctrl.set_stctl(s);
    }

    pub fn isc(&self) -> u8 {
        self.pmcw.flags.isc()
    }

    /// The next interruption sequence number (never 0).
    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// The SCHIB STORE SUBCHANNEL stores.
    pub fn schib(&self) -> Schib {
        Schib {
            pmcw: self.pmcw,
            scsw: self.scsw,
            mba: self.mba,
            mda: [0; 4],
        }
    }

    /// The ESW of the pending status. Normally the format-1 ESW: the LPUM
    /// alone in word 0. After a channel-data, channel-control or
    /// interface-control check the SCSW L bit is one and the format-0 ESW
    /// carries the subchannel logout `0x04804000` (CCW check, LPUM, LPUM
    /// valid; see [`Esw::channel_check`]). The ERW (word 1) holds the
    /// concurrent-sense indication; concurrent sense also sets L, with the
    /// LPUM alone in word 0.
    pub fn esw(&self) -> Esw {
        if let Some(esw) = self.pt.as_ref().and_then(|pt| pt.esw) {
            // Status a host reported: its ESW as the host stored it.
            return esw;
        }
        let lpum = self.pmcw.lpum;
        let mut esw = if self.scsw.ctrl.esw_format() && logout_check(self.scsw.cstat) {
            Esw::channel_check(lpum)
        } else {
            Esw::format1(lpum)
        };
        esw.erw = self.erw;
        esw
    }

    /// A channel-data, channel-control or interface-control check in the
    /// subchannel status asks for the format-0 ESW: sets SCSW L.
    fn note_logout(&mut self) {
        if logout_check(self.scsw.cstat) {
            self.scsw.ctrl.set_esw_format(true);
        }
    }

    /// The channel path a halt or clear signal goes out on: the first path
    /// installed, available and operational (the LPM does not restrict it).
    fn signal_path(&self) -> Option<u8> {
        let p = &self.pmcw;
        let usable = p.pim & p.pam & p.pom;
        (usable != 0).then(|| 0x80 >> usable.leading_zeros())
    }

    /// Begins the start function (START SUBCHANNEL accepted with cc 0):
    /// the ORB's controls go into the SCSW, its interruption parameter and
    /// LPM into the PMCW; function control start, activity control start
    /// pending. Device and subchannel status are cleared; the residual count
    /// is not (PoO: only the fields the start function defines change).
    pub fn begin_start(&mut self, orb: &Orb) {
        let c = orb.ctrl;
        self.orb = *orb;
        self.pmcw.intparm = orb.intparm;
        self.pmcw.lpm = c.lpm();
        let ctrl = self
            .scsw
            .ctrl
            .with_key(c.key())
            .with_suspend(c.suspend())
            .with_esw_format(false)
            .with_cc(0)
            .with_format1(c.format1())
            .with_prefetch(c.prefetch())
            .with_initial_status(c.initial_status())
            .with_address_limit(c.address_limit())
            .with_suppress_suspended(c.suppress_suspended())
            .with_zero_cc(false)
            .with_extended_control(false)
            .with_path_not_operational(false)
            .with_fctl(FunctionControl::START)
            .with_actl(ActivityControl::START_PEND)
            .with_stctl(StatusControl::new());
        self.scsw.ctrl = ctrl;
        self.scsw.dstat = DeviceStatus::new();
        self.scsw.cstat = SubchannelStatus::new();
        self.erw = ExtendedReportWord::new();
        self.ecw = [0; 32];
    }

    /// Path selection for a start or resume: the first path in LPM that is
    /// installed, available and operational. `None` is the "no path
    /// available" case (deferred condition code 3).
    pub fn select_path(&self) -> Option<u8> {
        let p = &self.pmcw;
        let usable = p.lpm & p.pim & p.pam & p.pom;
        if usable == 0 {
            None
        } else {
            Some(0x80 >> usable.leading_zeros())
        }
    }

    /// No path was available for the start function: deferred condition
    /// code 3, alert status (PoO: "status pending with deferred condition
    /// code 3"; the paths in LPM that were tried are shown in PNOM).
    pub fn deferred_cc3(&mut self) {
        let p = &mut self.pmcw;
        p.pnom = p.lpm & !p.pom;
        self.scsw.ctrl = self
            .scsw
            .ctrl
            .with_cc(3)
            .with_path_not_operational(self.pmcw.pnom != 0)
            .with_actl(ActivityControl::new())
            .with_stctl(StatusControl::ALERT | StatusControl::PEND);
    }

    /// The device was selected on `path`: subchannel and device active.
    pub fn activate(&mut self, path: u8) {
        self.pmcw.lpum = path;
        let ac = self
            .actl()
            .with_start_pending(false)
            .with_resume_pending(false)
            .with_suspended(false);
        self.set_actl(ac.with_subchannel_active(true).with_device_active(true));
    }

    /// Applies the outcome of the channel program to the SCSW (start or
    /// resume function ended, suspended or stopped by halt). Returns whether
    /// the subchannel became status pending (an interruption is to be queued).
    ///
    /// `csense`: the PMCW concurrent-sense bit.
    pub fn complete_start(&mut self, c: &Completion) -> bool {
        self.scsw.cpa = c.cpa;
        self.scsw.count = c.count;
        self.scsw.dstat = c.dstat;
        self.scsw.cstat = SubchannelStatus::from_bits(self.scsw.cstat.into_bits() | c.cstat.into_bits());
        self.note_logout();
        let initial = self.scsw.ctrl.initial_status();
        match c.ending {
            Ending::Suspended => {
                self.set_actl(ActivityControl::SUSP);
                if self.scsw.ctrl.suppress_suspended() && !c.cstat.pci() {
                    // U: no intermediate interruption for the suspension.
                    self.set_stctl(StatusControl::new());
                    return false;
                }
                self.scsw.ctrl.set_zero_cc(initial);
                self.set_stctl(StatusControl::INTER | StatusControl::PEND);
                true
            }
            Ending::Completed | Ending::Checked | Ending::Stopped(_) => {
                self.set_actl(ActivityControl::new());
                let mut sc = StatusControl::PRIM_SEC_PEND;
                if c.dstat.busy() && c.ccws <= 1 {
                    // The device was busy at initial selection: deferred cc 1.
                    self.scsw.ctrl.set_cc(1);
                    sc = StatusControl::PRIM | StatusControl::PEND;
                }
                if initial {
                    // The initial-status condition (Z) merged into the final status.
                    self.scsw.ctrl.set_zero_cc(true);
                    sc = sc | StatusControl::INTER;
                }
                if alert_condition(c.dstat, c.cstat) || self.scsw.ctrl.cc() != 0 {
                    sc = sc | StatusControl::ALERT;
                }
                self.set_stctl(sc);
                if c.dstat.unit_check() {
                    if let Some(sense) = &c.sense {
                        self.concurrent_sense(sense);
                    }
                }
                true
            }
        }
    }

    /// Performs the end of the halt function (PoO: "Halt Function"): the
    /// start function (if any) is terminated; the subchannel becomes status
    /// pending. `stopped` is the engine's outcome if the halt stopped a
    /// running program.
    pub fn complete_halt(&mut self, stopped: Option<&Completion>) {
        let ac = self.actl();
        let was_suspended = ac.suspended();
        let was_start_pending = ac.start_pending() || ac.resume_pending();
        let mut dstat = DeviceStatus::new();
        if let Some(c) = stopped {
            self.scsw.cpa = c.cpa;
            self.scsw.count = c.count;
            dstat = c.dstat;
            self.scsw.cstat = c.cstat;
        }
        if stopped.is_some() || !(was_start_pending || was_suspended) {
            // The device was signalled (active, or idle): it ends with device end.
            dstat = dstat.with_device_end(true);
        }
        if stopped.is_none() && !(was_start_pending || was_suspended) {
            // Idle: the halt signal went out on a path of its own, which
            // LPUM now shows (a running program's path is already there).
            if let Some(path) = self.signal_path() {
                self.pmcw.lpum = path;
            }
        }
        if was_suspended && stopped.is_none() {
            self.scsw.cpa = self.scsw.cpa.wrapping_add(8);
        }
        self.scsw.dstat = dstat;
        self.note_logout();
        self.set_actl(ActivityControl::new());
        let mut sc = StatusControl::PEND;
        if alert_condition(dstat, self.scsw.cstat) {
            sc = sc | StatusControl::ALERT;
        }
        self.set_stctl(sc);
    }

    /// Performs the clear function (PoO: "Clear Function"): every function
    /// is terminated, path masks reset, the clear signal goes to the device
    /// (LPUM shows its path), the subchannel becomes status pending with
    /// status pending alone and clear in the function control.
    pub fn complete_clear(&mut self) {
        self.pmcw.pom = 0xff;
        self.pmcw.pnom = 0;
        if let Some(path) = self.signal_path() {
            self.pmcw.lpum = path;
        }
        self.scsw.ctrl = self
            .scsw
            .ctrl
            .with_cc(0)
            .with_path_not_operational(false)
            .with_zero_cc(false)
            .with_esw_format(false)
            .with_extended_control(false)
            .with_fctl(FunctionControl::CLEAR)
            .with_actl(ActivityControl::new())
            .with_stctl(StatusControl::PEND);
        self.scsw.dstat = DeviceStatus::new();
        self.scsw.cstat = SubchannelStatus::new();
        self.erw = ExtendedReportWord::new();
        self.ecw = [0; 32];
    }

    /// TEST SUBCHANNEL with status pending clears the status (PoO: "TEST
    /// SUBCHANNEL": function, activity and status control are cleared when
    /// the status is a function's final status; intermediate status alone
    /// leaves the function going).
    pub fn clear_status(&mut self) {
        // The function has ended when no activity is left (or primary
        // status is presented); a suspended or still-running start keeps
        // its function and activity control.
        let final_status = self.stctl().primary() || self.actl().into_bits() == 0;
        let mut ctrl = self
            .scsw
            .ctrl
            .with_zero_cc(false)
            .with_esw_format(false)
            .with_extended_control(false)
            .with_path_not_operational(false)
            .with_stctl(StatusControl::new());
        if final_status {
            ctrl = ctrl
                .with_cc(0)
                .with_fctl(FunctionControl::new())
                .with_actl(ActivityControl::new());
        } else {
            // Intermediate status of a suspended or running start: the PCI
            // indication goes with the interruption.
            self.scsw.cstat = self.scsw.cstat.with_pci(false);
        }
        self.scsw.ctrl = ctrl;
        self.erw = ExtendedReportWord::new();
        self.ecw = [0; 32];
        if let Some(pt) = self.pt.as_mut() {
            pt.esw = None;
        }
    }

    /// Unsolicited device status (alert status alone); with unit check,
    /// `sense` becomes concurrent sense when the PMCW asks for it.
    pub fn unsolicited(&mut self, status: DeviceStatus, sense: Option<&Sense>) {
        self.scsw.dstat = status;
        self.scsw.cstat = SubchannelStatus::new();
        self.set_stctl(StatusControl::ALERT | StatusControl::PEND);
        if status.unit_check() {
            if let Some(sense) = sense {
                self.concurrent_sense(sense);
            }
        }
    }

    /// Presents `sense` in the ECW when the PMCW's concurrent-sense bit is
    /// one (PoO chapter 16, "Extended-Control Word" and "Concurrent
    /// Sense"): ERW S and the sense count, SCSW L and E.
    fn concurrent_sense(&mut self, sense: &Sense) {
        if !self.pmcw.chars.csense() {
            return;
        }
        let n = sense.as_slice().len();
        self.ecw = [0; 32];
        self.ecw[..n].copy_from_slice(sense.as_slice());
        self.erw = ExtendedReportWord::with_sense(u8::try_from(n).unwrap_or(32));
        self.scsw.ctrl = self.scsw.ctrl.with_esw_format(true).with_extended_control(true);
    }

    /// Back to the state of a subchannel without a device.
    pub fn reset_absent(&mut self) {
        let generation = self.generation.wrapping_add(1);
        let seq = self.seq;
        *self = Self {
            generation,
            seq,
            ..Self::default()
        };
    }
}

/// Status that makes the interruption an alert interruption (PoO, "Alert
/// Status"): attention, unit check, or a subchannel-detected check.
pub(crate) fn alert_condition(dstat: DeviceStatus, cstat: SubchannelStatus) -> bool {
    const CHECKS: u8 = 0x3f; // PC, PROT, CDC, CCC, ICC, CHC
    dstat.attention() || dstat.unit_check() || cstat.into_bits() & CHECKS != 0
}

/// Subchannel status that the format-0 ESW's logout describes: channel-data,
/// channel-control or interface-control check.
pub(crate) fn logout_check(cstat: SubchannelStatus) -> bool {
    cstat.channel_data_check() || cstat.channel_control_check() || cstat.interface_control_check()
}

/// Engine hooks of a running start or resume: poll the stop flag and
/// the resume-pending flag.
pub(crate) struct StopHooks<'a> {
    pub stop: &'a AtomicU8,
    pub resume: &'a AtomicBool,
}

impl EngineHooks for StopHooks<'_> {
    /// A RESUME SUBCHANNEL that arrived while the program ran is consumed
    /// by the suspend flag it cancels.
    fn resume_pending(&mut self) -> bool {
        self.resume.swap(false, Ordering::AcqRel)
    }

    fn stop_requested(&mut self) -> Option<ProgramEnd> {
        match self.stop.load(Ordering::Acquire) {
            STOP_HALT => Some(ProgramEnd::Halted),
            STOP_CLEAR => Some(ProgramEnd::Cleared),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use zcss_ccw::orb::OrbControls;

    use super::*;

    fn enabled() -> SchState {
        let mut st = SchState::attached(0x1234, &ChannelPaths::VIRTUAL, false, 1);
        st.pmcw.flags = st.pmcw.flags.with_enabled(true);
        st
    }

    fn orb() -> Orb {
        Orb {
            ctrl: OrbControls::new().with_format1(true).with_lpm(0x80),
            cpa: 0x2000,
            ..Orb::default()
        }
    }

    #[test]
    fn complete_halt_idle_sets_lpum_and_device_end() {
        let mut st = enabled();
        st.set_fctl(FunctionControl::HALT);
        st.complete_halt(None);
        assert_eq!(st.pmcw.lpum, 0x80);
        assert!(st.scsw.dstat.device_end());
    }

    #[test]
    fn complete_halt_start_pending_leaves_lpum_unchanged() {
        let mut st = enabled();
        st.begin_start(&orb());
        st.complete_halt(None);
        assert_eq!(st.pmcw.lpum, 0, "no halt signal went to the device");
        assert!(!st.scsw.dstat.device_end());
    }

    #[test]
    fn complete_halt_without_usable_path_leaves_lpum_unchanged() {
        let mut st = enabled();
        st.pmcw.pam = 0;
        st.pmcw.lpum = 0x20;
        st.complete_halt(None);
        assert_eq!(st.pmcw.lpum, 0x20);
    }

    #[test]
    fn complete_clear_sets_lpum_after_resetting_pom() {
        let mut st = enabled();
        st.pmcw.pom = 0;
        st.pmcw.pnom = 0x80;
        st.complete_clear();
        assert_eq!(st.pmcw.pom, 0xff);
        assert_eq!(st.pmcw.pnom, 0);
        assert_eq!(st.pmcw.lpum, 0x80);
        assert_eq!(st.esw().to_be_bytes()[..4], [0x00, 0x80, 0x00, 0x00]);
    }

    #[test]
    fn complete_start_channel_data_check_sets_l_and_logout() {
        let mut st = enabled();
        st.begin_start(&orb());
        st.activate(0x80);
        let c = Completion {
            cpa: 0x2008,
            count: 0,
            dstat: DeviceStatus::new(),
            cstat: SubchannelStatus::new().with_channel_data_check(true),
            ending: Ending::Checked,
            sense: None,
            ccws: 1,
            check: None,
        };
        assert!(st.complete_start(&c));
        assert!(st.scsw.ctrl.esw_format());
        assert_eq!(st.esw().to_be_bytes()[..4], [0x04, 0x80, 0x40, 0x00]);
        st.clear_status();
        assert!(!st.scsw.ctrl.esw_format());
    }

    #[test]
    fn complete_start_normal_ending_keeps_format1() {
        let mut st = enabled();
        st.begin_start(&orb());
        st.activate(0x80);
        let c = Completion {
            cpa: 0x2008,
            count: 0,
            dstat: DeviceStatus::CE_DE,
            cstat: SubchannelStatus::new(),
            ending: Ending::Completed,
            sense: None,
            ccws: 1,
            check: None,
        };
        assert!(st.complete_start(&c));
        assert!(!st.scsw.ctrl.esw_format());
        assert_eq!(st.esw().to_be_bytes()[..4], [0x00, 0x80, 0x00, 0x00]);
    }

    #[test]
    fn complete_halt_stopping_program_with_interface_check_sets_l() {
        let mut st = enabled();
        st.begin_start(&orb());
        st.activate(0x80);
        let c = Completion {
            cpa: 0x2008,
            count: 4,
            dstat: DeviceStatus::new(),
            cstat: SubchannelStatus::new().with_interface_control_check(true),
            ending: Ending::Stopped(ProgramEnd::Halted),
            sense: None,
            ccws: 1,
            check: None,
        };
        st.complete_halt(Some(&c));
        assert!(st.scsw.ctrl.esw_format());
        assert_eq!(st.esw().scl.into_bits(), 0x0480_4000);
    }
}
