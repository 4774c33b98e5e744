//! The css side of channel measurement: the SSCH + RSCH count of every
//! measured start, and the timing facility's samples (see the [module
//! documentation](super) for the rules and the clock readings).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use zcss_ccw::memory::GuestMemory;
use zcss_ccw::sid::SubchannelId;

use super::block::Sample;
use super::clock::{units_between, CssClock, HostClock};
use super::monitor::{ChannelMonitor, SubchannelMonitoring};
use crate::css::Shared;
use crate::subchannel::SchState;

/// The clock readings of one segment of a timed start function: from the
/// start (or resume) being taken up to the device being selected.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    /// A resume (the segment continues a suspended program).
    resume: bool,
    /// The start or resume function was taken up.
    taken_up: u64,
    /// The device was selected; the channel program runs from here.
    selected: u64,
}

/// The css's measurement state.
pub(crate) struct Measurement {
    /// What SCHM set.
    pub monitor: ChannelMonitor,
    clock: RwLock<Arc<dyn CssClock>>,
    /// Times of timed start functions that are suspended (one entry per
    /// subchannel at most; a new start replaces a stale one).
    suspended: Mutex<HashMap<SubchannelId, Sample>>,
}

fn monitoring(st: &SchState) -> SubchannelMonitoring {
    SubchannelMonitoring::from_fields(
        st.pmcw.flags.measurement_mode(),
        st.pmcw.chars.mbfc(),
        st.pmcw.mbi,
        st.mba,
    )
}

impl Measurement {
    pub fn new() -> Self {
        Self {
            monitor: ChannelMonitor::new(),
            clock: RwLock::new(Arc::new(HostClock::new())),
            suspended: Mutex::new(HashMap::new()),
        }
    }

    /// The times of suspended timed start functions, in subchannel order
    /// (snapshot).
    pub fn suspended_samples(&self) -> Vec<(SubchannelId, Sample)> {
        let mut v: Vec<_> = self.suspended.lock().iter().map(|(k, v)| (*k, *v)).collect();
        v.sort_by_key(|(sid, _)| (sid.cssid, sid.ssid, sid.schno));
        v
    }

    /// Replaces the times of suspended timed start functions (restore).
    pub fn set_suspended_samples(&self, samples: impl IntoIterator<Item = (SubchannelId, Sample)>) {
        let mut m = self.suspended.lock();
        m.clear();
        m.extend(samples);
    }

    pub fn set_clock(&self, clock: Arc<dyn CssClock>) {
        *self.clock.write() = clock;
    }

    pub fn clock(&self) -> Arc<dyn CssClock> {
        Arc::clone(&self.clock.read())
    }

    /// Channel-subsystem reset: monitoring off, no open sample.
    pub fn reset(&self) {
        self.monitor.reset();
        self.suspended.lock().clear();
    }

    /// Whether the subchannel is measured: update mode on and its MM bit 11
    /// (cheap: one atomic load).
    fn measured(&self, st: &SchState) -> bool {
        st.pmcw.flags.measurement_mode() & 0b10 != 0 && self.monitor.state().update
    }

    /// Whether the subchannel's start functions are timed: measured, and it
    /// has the timing facility (PMCW T).
    fn timed(&self, st: &SchState) -> bool {
        st.pmcw.flags.timing() && self.measured(st)
    }

    fn now(&self) -> u64 {
        self.clock.read().now_ns()
    }

    /// The executor took up a start or resume function: the first reading
    /// of a timed function.
    pub fn taken_up(&self, st: &SchState) -> Option<u64> {
        self.timed(st).then(|| self.now())
    }

    /// The device was selected for a start or resume function: counts it
    /// in the SSCH + RSCH count (a measurement-block check does not affect
    /// the I/O operation) and, for a timed function, reads the clock.
    pub fn started(&self, st: &SchState, mem: &dyn GuestMemory, resume: bool, taken_up: Option<u64>) -> Option<Span> {
        if !self.measured(st) {
            return None;
        }
        if let Err(e) = self.monitor.record_start(&monitoring(st), mem) {
            tracing::debug!(error = %e, "measurement block not updated");
        }
        taken_up.map(|taken_up| Span {
            resume,
            taken_up,
            selected: self.now(),
        })
    }

    /// The channel program of a timed segment stopped and the subchannel
    /// shows how: suspended, the segment's times wait for the rest of the
    /// function; ended with primary status, one sample of all its segments
    /// goes into the block (before the status is made pending). Anything
    /// else (halt, clear) drops the times.
    pub fn stopped(&self, sh: &Shared, sid: SubchannelId, st: &SchState, span: Option<Span>, mem: &dyn GuestMemory) {
        let Some(span) = span else { return };
        let end = self.now();
        let active = units_between(span.selected, end);
        // Deferred condition code 1: the device was busy when selected.
        let busy = st.scsw.ctrl.cc() == 1;
        let segment = Sample {
            function_pending: units_between(span.taken_up, span.selected),
            device_connect: if busy { 0 } else { active },
            device_busy: if busy { active } else { 0 },
            ..Sample::default()
        };
        let earlier = {
            let mut open = self.suspended.lock();
            let earlier = open.remove(&sid).filter(|_| span.resume).unwrap_or_default();
            if st.actl().suspended() {
                open.insert(sid, earlier.wrapping_add(segment));
                return;
            }
            earlier
        };
        if !st.stctl().primary() {
            return;
        }
        let sample = earlier.wrapping_add(segment);
        let block = match self.monitor.block(&monitoring(st)) {
            Ok(Some(b)) => b,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "measurement block not updated");
                return;
            }
        };
        match block.add_sample(&sample, mem) {
            Ok(()) => {
                if let Some(obs) = sh.observer() {
                    let (addr, len) = block.time_fields();
                    obs.nondeterministic_store(addr, len);
                }
            }
            Err(e) => tracing::debug!(error = %e, "measurement block not updated"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use zcss_ccw::memory::VecMemory;
    use zcss_ccw::orb::{Orb, OrbControls};

    use super::*;
    use crate::measurement::{BlockContents, StepClock};
    use crate::mock::{MockDevice, MockPassthrough, MockReply};
    use crate::observer::{Insn, Observer, Outcome, StorageAccess};
    use crate::{Cc, Css, CssConfig, CssError, IoCtx};

    const SCHIB: u64 = 0x1000;
    const ORB: u64 = 0x1800;
    const CCW: u64 = 0x2000;
    const IRB: u64 = 0x4000;
    const MBO: u64 = 0x6000;
    const MBA: u64 = 0x7000;
    const GR1: u32 = 0x0001_0000;
    const SID: SubchannelId = SubchannelId {
        cssid: 0xfe,
        ssid: 0,
        schno: 0,
    };
    /// Format-1 CCW flags: command chaining, SLI, suspend.
    const CC: u8 = 0x40;
    const SLI: u8 = 0x20;
    const SUSPEND: u8 = 0x02;

    /// A clock that answers a script of readings (nanoseconds).
    #[derive(Debug)]
    struct Script(Mutex<VecDeque<u64>>);

    impl Script {
        fn new(readings: &[u64]) -> Arc<Self> {
            Arc::new(Self(Mutex::new(readings.iter().copied().collect())))
        }

        fn left(&self) -> usize {
            self.0.lock().len()
        }
    }

    impl CssClock for Script {
        fn now_ns(&self) -> u64 {
            self.0.lock().pop_front().expect("no clock reading left in the script")
        }
    }

    /// Units of 128 µs, in nanoseconds.
    const fn units(n: u64) -> u64 {
        n * 128_000
    }

    struct Rig {
        css: Css,
        mem: VecMemory,
        dev: crate::mock::MockControl,
    }

    impl Rig {
        /// A mock device at 0xfe.0.0000, enabled, with measurement-block
        /// update (MM bit 11) in format 0 (MBI 1) or format 1 (at `MBA`),
        /// and the channel subsystem in measurement-block-update mode.
        fn new(format1: bool, timing: bool) -> Self {
            let css = Css::new(CssConfig::default());
            let dev = MockDevice::new(0x3832, 1);
            let control = dev.control();
            css.attach_cold(SID, 0, Box::new(dev)).unwrap();
            if timing {
                css.set_timing_facility(SID, true).unwrap();
            }
            let r = Self {
                css,
                mem: VecMemory::new(1 << 16),
                dev: control,
            };
            let ctx = r.ctx();
            assert_eq!(r.css.stsch(&ctx, GR1, SCHIB), Ok(Cc::Zero));
            let mut schib = r.mem.fetch(SCHIB, 52).unwrap();
            schib[4] |= 3 << 3; // ISC 3
            schib[5] |= 0x80 | 0x10; // E, MM bit 11
            schib[12..14].copy_from_slice(&1u16.to_be_bytes()); // MBI
            if format1 {
                schib[27] |= 0x04; // F (MBFC)
                schib[40..48].copy_from_slice(&MBA.to_be_bytes());
            }
            r.mem.store(SCHIB, &schib).unwrap();
            assert_eq!(r.css.msch(&ctx, GR1, SCHIB), Ok(Cc::Zero));
            assert_eq!(r.css.schm(&ctx, 0x0000_0002, MBO), Ok(()));
            r
        }

        fn ctx(&self) -> IoCtx<'_> {
            IoCtx::new(&self.mem)
        }

        /// Runs a channel program of format-1 CCWs (cmd, flags) to the end
        /// of its start function and takes the status.
        fn ssch(&self, ccws: &[(u8, u8)], suspend_control: bool) -> Cc {
            for (i, (cmd, flags)) in ccws.iter().enumerate() {
                let at = CCW + 8 * u64::try_from(i).unwrap();
                self.mem.store(at, &[*cmd, *flags, 0, 1, 0, 0, 0x30, 0]).unwrap();
            }
            let orb = Orb {
                intparm: 1,
                ctrl: OrbControls::new()
                    .with_format1(true)
                    .with_lpm(0x80)
                    .with_suspend(suspend_control),
                cpa: u32::try_from(CCW).unwrap(),
                ..Orb::default()
            };
            self.mem.store(ORB, &orb.encode().0[..12]).unwrap();
            let cc = self.css.ssch(&self.ctx(), GR1, ORB).unwrap();
            assert_eq!(self.css.tsch(&self.ctx(), GR1, IRB), Ok(Cc::Zero));
            cc
        }

        fn block(&self, format1: bool) -> BlockContents {
            let sub = SubchannelMonitoring::from_fields(0b10, format1, 1, MBA);
            let m = ChannelMonitor::new();
            m.schm(2, MBO).unwrap();
            m.block(&sub).unwrap().unwrap().read(&self.mem).unwrap()
        }
    }

    #[test]
    fn ssch_without_timing_facility_counts_start_but_takes_no_sample() {
        let rig = Rig::new(false, false);
        let clock = Script::new(&[]);
        rig.css.set_clock(clock.clone());
        for _ in 0..3 {
            assert_eq!(rig.ssch(&[(0x03, SLI)], false), Cc::Zero);
        }
        assert_eq!(
            rig.block(false),
            BlockContents {
                ssch_rsch_count: 3,
                ..BlockContents::default()
            },
            "T = 0: only the SSCH + RSCH count changes"
        );
        assert_eq!(rig.mem.fetch(MBO + 32, 32).unwrap()[2..], [0; 30]);
        let schib = rig.css.schib(SID).unwrap();
        assert!(!schib.pmcw.flags.timing(), "PMCW T = 0 by default");
    }

    #[test]
    fn ssch_with_timing_facility_format0_stores_clock_times() {
        let rig = Rig::new(false, true);
        // Taken up, device selected, program ended — twice.
        let clock = Script::new(&[units(10), units(12) + 5, units(19) + 1, units(30), units(31), units(40)]);
        rig.css.set_clock(clock.clone());
        assert_eq!(rig.ssch(&[(0x03, SLI)], false), Cc::Zero);
        assert_eq!(rig.ssch(&[(0x03, CC | SLI), (0x03, SLI)], false), Cc::Zero);
        assert_eq!(clock.left(), 0, "three readings per start function");
        let b = rig.block(false);
        assert_eq!((b.ssch_rsch_count, b.sample_count), (2, 2));
        assert_eq!(
            b.times,
            Sample {
                function_pending: 2 + 1,
                device_connect: 7 + 9,
                ..Sample::default()
            }
        );
        let raw = rig.mem.fetch(MBO + 32, 32).unwrap();
        assert_eq!(
            raw,
            [&[0, 2, 0, 2][..], &[0, 0, 0, 16, 0, 0, 0, 3], &[0; 12], &[0; 8],].concat(),
            "format-0 layout: connect at +4, pending at +8, reserved +24 untouched"
        );
    }

    #[test]
    fn ssch_with_timing_facility_format1_stores_clock_times() {
        let rig = Rig::new(true, true);
        let clock = Script::new(&[units(1), units(4), units(104)]);
        rig.css.set_clock(clock);
        assert_eq!(rig.ssch(&[(0x03, SLI)], false), Cc::Zero);
        let mut want = vec![0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 100, 0, 0, 0, 3];
        want.resize(64, 0);
        assert_eq!(rig.mem.fetch(MBA, 64).unwrap(), want);
    }

    #[test]
    fn busy_device_at_selection_counts_device_busy_time() {
        let rig = Rig::new(true, true);
        rig.dev.set_reply(0x03, MockReply::Busy);
        rig.css.set_clock(Script::new(&[units(0), units(1), units(6)]));
        assert_eq!(rig.ssch(&[(0x03, SLI)], false), Cc::Zero);
        let b = rig.block(true);
        assert_eq!(b.sample_count, 1);
        assert_eq!(
            b.times,
            Sample {
                function_pending: 1,
                device_busy: 5,
                ..Sample::default()
            }
        );
    }

    #[test]
    fn suspended_program_is_one_sample_over_start_and_resume() {
        let rig = Rig::new(true, true);
        let clock = Script::new(&[units(0), units(1), units(3), units(50), units(52), units(57)]);
        rig.css.set_clock(clock.clone());
        // NOP, then a NOP marked suspend: the program suspends before it.
        assert_eq!(rig.ssch(&[(0x03, CC | SLI), (0x03, SLI | SUSPEND)], true), Cc::Zero);
        assert_eq!(rig.block(true).sample_count, 0, "no sample while suspended");
        assert_eq!(clock.left(), 3);
        rig.mem.store(CCW + 9, &[SLI]).unwrap();
        assert_eq!(rig.css.rsch(&rig.ctx(), GR1), Ok(Cc::Zero));
        assert_eq!(rig.css.tsch(&rig.ctx(), GR1, IRB), Ok(Cc::Zero));
        let b = rig.block(true);
        assert_eq!((b.ssch_rsch_count, b.sample_count), (2, 1));
        assert_eq!(
            b.times,
            Sample {
                function_pending: 1 + 2,
                device_connect: 2 + 5,
                ..Sample::default()
            },
            "the 47 units suspended are not counted"
        );
    }

    #[test]
    fn timing_without_measurement_mode_reads_no_clock() {
        let rig = Rig::new(false, true);
        assert_eq!(rig.css.schm(&rig.ctx(), 0, 0), Ok(()));
        rig.css.set_clock(Script::new(&[]));
        assert_eq!(rig.ssch(&[(0x03, SLI)], false), Cc::Zero);
        assert_eq!(rig.mem.fetch(MBO + 32, 32).unwrap(), vec![0; 32]);
    }

    #[derive(Debug, Default)]
    struct Nondeterministic(Mutex<Vec<(u64, u64)>>);

    impl Observer for Nondeterministic {
        fn instruction(&self, _: &Insn, _: Outcome, _: &[StorageAccess]) {}

        fn nondeterministic_store(&self, addr: u64, len: u64) {
            self.0.lock().push((addr, len));
        }
    }

    #[test]
    fn sample_reports_time_fields_to_the_observer() {
        for (format1, range) in [(false, (MBO + 32 + 4, 20)), (true, (MBA + 8, 28))] {
            let rig = Rig::new(format1, true);
            rig.css.set_clock(Arc::new(StepClock::replay()));
            let obs = Arc::new(Nondeterministic::default());
            rig.css.set_observer(Some(obs.clone()));
            assert_eq!(rig.ssch(&[(0x03, SLI)], false), Cc::Zero);
            assert_eq!(*obs.0.lock(), vec![range]);
        }
    }

    #[test]
    fn step_clock_gives_the_same_block_on_every_run() {
        let run = || {
            let rig = Rig::new(true, true);
            rig.css.set_clock(Arc::new(StepClock::replay()));
            for _ in 0..4 {
                rig.ssch(&[(0x03, CC | SLI), (0x03, SLI)], false);
            }
            rig.mem.fetch(MBA, 64).unwrap()
        };
        let first = run();
        assert_eq!(first, run());
        assert_eq!(
            &first[4..16],
            &[0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4],
            "one unit per interval"
        );
    }

    #[test]
    fn set_timing_facility_shows_in_stsch_and_survives_reset() {
        let rig = Rig::new(false, false);
        assert_eq!(rig.css.timing_facility(SID), Some(false));
        rig.css.set_timing_facility(SID, true).unwrap();
        assert_eq!(rig.css.stsch(&rig.ctx(), GR1, SCHIB), Ok(Cc::Zero));
        assert_eq!(
            rig.mem.fetch(SCHIB + 5, 1).unwrap()[0] & 0x02,
            0x02,
            "PMCW word 1 bit 14"
        );
        rig.css.reset();
        assert_eq!(rig.css.timing_facility(SID), Some(true), "a model property, not reset");
        let s = rig.css.schib(SID).unwrap();
        assert!(s.pmcw.flags.timing() && !s.pmcw.flags.enabled());
    }

    #[test]
    fn set_timing_facility_on_passthrough_or_empty_subchannel_is_refused() {
        let css = Css::new(CssConfig::default());
        assert_eq!(css.set_timing_facility(SID, true), Err(CssError::NoDevice(SID)));
        assert_eq!(css.timing_facility(SID), None);
        css.attach_passthrough(SID, 0, Box::new(MockPassthrough::new(0x3990)), false)
            .unwrap();
        assert_eq!(css.set_timing_facility(SID, true), Err(CssError::NoTimingFacility(SID)));
        assert_eq!(css.timing_facility(SID), Some(false));
    }

    #[test]
    fn msch_cannot_change_the_timing_facility() {
        let rig = Rig::new(false, true);
        let mut schib = rig.mem.fetch(SCHIB, 52).unwrap();
        schib[5] &= !0x02;
        rig.mem.store(SCHIB, &schib).unwrap();
        assert_eq!(rig.css.msch(&rig.ctx(), GR1, SCHIB), Ok(Cc::Zero));
        assert_eq!(rig.css.timing_facility(SID), Some(true));
    }
}
