//! The css side of passthrough devices: applying the status a host
//! subchannel reported to the guest subchannel, as reported (see
//! [`crate::device::PassthroughDevice`] for the contract).
//!
//! Reports travel over one `crossbeam-channel` from the devices' worker
//! threads and are applied by [`Shared::poll`] on the thread of the next
//! I/O instruction (or of [`crate::Css::poll`]), so that guest-visible
//! state changes only at instruction boundaries of some CPU.

use zcss_ccw::irb::Irb;
use zcss_ccw::scsw::{ActivityControl, StatusControl};
use zcss_ccw::status::{DeviceStatus, SubchannelStatus};

use parking_lot::MutexGuard;
use zcss_ccw::memory::GuestMemory;
use zcss_ccw::scsw::FunctionControl;

use crate::css::Shared;
use crate::device::{PassthroughError, PassthroughEvent};
use crate::error::Cc;
use crate::pt_state::Waiting;
use crate::slot::PtRequest;
use crate::subchannel::{SchState, Subchannel};

impl SchState {
    /// Stores a host-reported IRB into the subchannel as reported: the SCSW
    /// and ESW as they are, the ECW when the SCSW's E bit is one. Returns
    /// whether the subchannel is now status pending.
    pub fn apply_report(&mut self, irb: &Irb) -> bool {
        self.scsw = irb.scsw;
        let mut esw = irb.esw;
        if irb.scsw.ctrl.extended_control() && self.pmcw.chars.csense() {
            self.ecw = irb.ecw;
        } else {
            // Concurrent sense only when the guest's PMCW asks for it (QEMU
            // hw/vfio/ccw.c copies the ECW only then).
            self.ecw = [0; 32];
            if esw.erw.concurrent_sense() {
                self.scsw.ctrl.set_extended_control(false);
                esw.erw = esw.erw.with_concurrent_sense(false).with_sense_count(0);
                // Without the sense, L stays only for a logout of a channel
                // check (as an emulated subchannel stores it).
                let c = self.scsw.cstat;
                let logout = c.channel_data_check() || c.channel_control_check() || c.interface_control_check();
                self.scsw.ctrl.set_esw_format(logout);
            }
        }
        self.erw = esw.erw;
        if let Some(pt) = self.pt.as_mut() {
            pt.esw = Some(esw);
        }
        self.status_pending()
    }

    /// A request the host failed without a condition code: the guest sees
    /// cc 0 and then a unit-exception interruption with primary,
    /// secondary and alert status and the CCW address past the first CCW
    /// of the last start (QEMU hw/s390x/css.c `sch_gen_unit_exception`,
    /// which hw/vfio/ccw.c uses for every host error other than EBUSY,
    /// ENODEV and EACCES). The host function is over: later reports for it
    /// are dropped.
    pub fn host_failure(&mut self) {
        if let Some(pt) = self.pt.as_mut() {
            pt.token = 0;
            pt.esw = None;
            pt.drop_waiting();
        }
        self.scsw.cpa = self.orb.cpa.wrapping_add(8);
        self.scsw.dstat = DeviceStatus::new().with_unit_exception(true);
        self.scsw.cstat = SubchannelStatus::new();
        self.set_actl(ActivityControl::new());
        self.set_stctl(StatusControl::PRIM_SEC_PEND | StatusControl::ALERT);
    }

    /// Whether unsolicited status may be made pending now: no function in
    /// progress and no status pending.
    fn idle_for_unsolicited(&self) -> bool {
        !self.status_pending() && self.fctl().into_bits() == 0
    }
}

impl Shared {
    /// Sends RESUME, HALT, CLEAR or CANCEL SUBCHANNEL to the passthrough
    /// device of `sch` (whose state lock `st` the caller held).
    ///
    /// `Ok` is the host's acceptance (cc 0): the state is locked again and
    /// the request's token given, for the caller to post the function.
    /// `Err` is the instruction's condition code, final: the host's cc 1,
    /// 2 or 3 (3 also when the device went away meanwhile), or cc 0 after a
    /// host failure, whose unit-exception status is then already pending.
    pub fn pt_request<'a>(
        &self,
        sch: &'a Subchannel,
        mem: &dyn GuestMemory,
        st: MutexGuard<'a, SchState>,
        req: PtRequest,
    ) -> Result<(MutexGuard<'a, SchState>, u64), Cc> {
        let generation = st.generation;
        let current = st.pt.as_ref().map_or(0, |pt| pt.token);
        let token = match req {
            PtRequest::Clear => self.next_token(),
            PtRequest::Halt | PtRequest::Resume | PtRequest::Cancel if current != 0 => current,
            _ => self.next_token(),
        };
        drop(st);
        let r = sch.dev.lock().request(req, mem, token);
        let mut st = sch.state.lock();
        if st.generation != generation || !st.operational() {
            return Err(Cc::Three);
        }
        match r {
            Ok(()) => Ok((st, token)),
            Err(PassthroughError::HostFailure) => {
                if req == PtRequest::Clear {
                    self.withdraw(sch.sid, &mut st);
                    st.set_fctl(FunctionControl::CLEAR);
                } else if req == PtRequest::Halt {
                    let f = st.fctl().with_halt(true);
                    st.set_fctl(f);
                }
                st.host_failure();
                let mask = self.queue_interrupt_mask(sch, &mut st);
                drop(st);
                self.wake_iscs(mask);
                Err(Cc::Zero)
            }
            Err(PassthroughError::StatusPending) => Err(Cc::One),
            Err(PassthroughError::Busy) => Err(Cc::Two),
            Err(PassthroughError::NotOperational) => Err(Cc::Three),
        }
    }

    /// Before STORE SUBCHANNEL: the passthrough device's current host path
    /// information goes into the guest's PMCW (and its CHPIDs into the
    /// installed channel paths).
    pub fn refresh_paths<'a>(&self, sch: &'a Subchannel, st: MutexGuard<'a, SchState>) -> MutexGuard<'a, SchState> {
        let generation = st.generation;
        drop(st);
        let ps = sch.dev.lock().refresh_paths();
        let mut st = sch.state.lock();
        if let Some(ps) = ps {
            if st.generation == generation && st.present {
                if let Err(e) = self.install_paths(sch.sid.cssid, &ps.paths) {
                    tracing::warn!(sid = %sch.sid, error = %e, "host paths not installed");
                }
                st.apply_paths(&ps);
            }
        }
        st
    }

    /// Waits up to `timeout` for a passthrough report, then applies every
    /// report that arrived (for callers that must wait for a host, such as
    /// IPL).
    pub fn wait_report(&self, timeout: std::time::Duration) {
        if let Ok(ev) = self.pt_rx.recv_timeout(timeout) {
            // Put it back in order: apply it first, then the rest.
            self.apply_event(ev);
        }
        self.poll();
    }

    /// Applies the reports passthrough devices sent since the last poll.
    pub fn poll(&self) {
        while let Ok(ev) = self.pt_rx.try_recv() {
            self.apply_event(ev);
        }
    }

    /// Applies one report (or queues it behind the pending status).
    fn apply_event(&self, ev: PassthroughEvent) {
        let Some(sch) = self.tables.get(ev.sid()) else { return };
        let mut st = sch.state.lock();
        let waiting = match ev {
            PassthroughEvent::Status { token, irb, .. } => Waiting {
                token: Some(token),
                irb,
            },
            PassthroughEvent::Unsolicited { irb, .. } => Waiting { token: None, irb },
        };
        if !st.present {
            return;
        }
        let Some(pt) = st.pt.as_mut() else { return };
        if waiting.token.is_some_and(|t| t == 0 || t != pt.token) {
            // A report of a request CLEAR overtook (or of none).
            tracing::debug!(sid = %sch.sid, token = ?waiting.token, "stale passthrough report dropped");
            return;
        }
        pt.waiting.push_back(waiting);
        let mask = self.release_waiting(sch, &mut st);
        drop(st);
        self.wake_iscs(mask);
    }

    /// Applies the reports waiting on `sch` for as long as the subchannel
    /// can take them (not status pending; unsolicited status only when
    /// idle). Returns the CR6-order mask of ISCs that got a request.
    pub fn release_waiting(&self, sch: &Subchannel, st: &mut SchState) -> u8 {
        let mut mask = 0u8;
        loop {
            let Some(pt) = st.pt.as_mut() else { return mask };
            let Some(head) = pt.waiting.front() else { return mask };
            let stale = head.token.is_some_and(|t| t != pt.token);
            if stale {
                pt.waiting.pop_front();
                continue;
            }
            let solicited = head.token.is_some();
            if st.status_pending() || (!solicited && !st.idle_for_unsolicited()) {
                return mask;
            }
            let Some(w) = st.pt.as_mut().and_then(|pt| pt.waiting.pop_front()) else {
                return mask;
            };
            tracing::trace!(
                sid = %sch.sid,
                scsw = ?w.irb.scsw,
                solicited,
                "passthrough status applied"
            );
            let ends = solicited && w.irb.scsw.ctrl.actl().into_bits() == 0;
            if st.apply_report(&w.irb) {
                let isc = self.queue_interrupt(sch.sid, st);
                mask |= 0x80 >> isc;
            }
            if ends {
                // The request is over: its token is forgotten, so that a
                // HALT SUBCHANNEL of the idle subchannel is a function of
                // its own (a fresh token) and late reports of the old one
                // are dropped.
                if let Some(pt) = st.pt.as_mut() {
                    pt.token = 0;
                }
            }
        }
    }
}
