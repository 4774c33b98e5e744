//! Glue between the subchannels and channel monitoring (`measurement`):
//! the start function counts in the subchannel's measurement block, and
//! the device-connect time of an emulated channel program (host time spent
//! running it) goes into the sample when the start function ends.

use std::time::{Duration, Instant};

use zcss_ccw::memory::GuestMemory;

use crate::measurement::{ChannelMonitor, Sample, SubchannelMonitoring};
use crate::subchannel::SchState;

/// The css's measurement state.
pub(crate) struct Measurement {
    pub monitor: ChannelMonitor,
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
    pub const fn new() -> Self {
        Self {
            monitor: ChannelMonitor::new(),
        }
    }

    /// Whether the subchannel is measured (cheap: one atomic load).
    pub fn measured(&self, st: &SchState) -> bool {
        st.pmcw.flags.measurement_mode() & 0b10 != 0 && self.monitor.state().update
    }

    /// Counts a start or resume function. A measurement-block check does not
    /// affect the I/O operation.
    pub fn count_start(&self, st: &SchState, mem: &dyn GuestMemory) {
        if !self.measured(st) {
            return;
        }
        if let Err(e) = self.monitor.record_start(&monitoring(st), mem) {
            tracing::debug!(error = %e, "measurement block not updated");
        }
    }

    /// The start timer of a measured start function.
    pub fn timer(&self, st: &SchState) -> Option<Instant> {
        self.measured(st).then(Instant::now)
    }

    /// The start function ended with primary status after running since `t0`.
    pub fn sample(&self, st: &SchState, t0: Option<Instant>, mem: &dyn GuestMemory) {
        let Some(t0) = t0 else { return };
        let connect = if self.monitor.device_connect_time_active(&monitoring(st)) {
            t0.elapsed()
        } else {
            Duration::ZERO
        };
        let sample = Sample::from_durations(Duration::ZERO, connect, Duration::ZERO);
        if let Err(e) = self.monitor.record_sample(&monitoring(st), &sample, mem) {
            tracing::debug!(error = %e, "measurement block not updated");
        }
    }
}
