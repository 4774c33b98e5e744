//! Channel-subsystem monitoring: SET CHANNEL MONITOR, the measurement blocks
//! updated for each start function, and the timing facility.
//!
//! Principles of Operation, chapter 17 ("I/O Support Functions",
//! "Channel-Subsystem Monitoring": "Channel-Subsystem Timing",
//! "Measurement-Block Update", format-0 and format-1 measurement blocks,
//! device-connect-time measurement) and chapter 14 ("SET CHANNEL MONITOR").
//!
//! # SCHM operands
//!
//! | register | bits | meaning |
//! |---|---|---|
//! | GR1 | 32-35 | MBK: measurement-block key, used for every store into a measurement block |
//! | GR1 | 36-61 | reserved, must be zero (operand exception) |
//! | GR1 | 62 | M: measurement-block-update mode |
//! | GR1 | 63 | D: device-connect-time-measurement mode |
//! | GR2 | 33-63 | MBO: origin of the format-0 measurement-block area when M is one; bits 59-63 must be zero (operand exception) |
//!
//! Bits 0-31 of GR1 and bits 0-32 of GR2 are ignored.
//!
//! # Measurement blocks
//!
//! A subchannel is measured when the channel subsystem is in
//! measurement-block-update mode and the subchannel's PMCW has the
//! measurement-block-update enable (MM bit 11). Its block is:
//! * **format 0** (PMCW F = 0): 32 bytes at MBO + 32 × MBI (a 31-bit
//!   address; a block that does not lie below 2 GiB is a measurement-block
//!   program check):
//!
//!   | offset | size | field |
//!   |---|---|---|
//!   | 0 | 2 | SSCH + RSCH count |
//!   | 2 | 2 | sample count |
//!   | 4 | 4 | device-connect time |
//!   | 8 | 4 | function-pending time |
//!   | 12 | 4 | device-disconnect time |
//!   | 16 | 4 | control-unit-queuing time |
//!   | 20 | 4 | device-active-only time |
//!   | 24 | 8 | reserved |
//!
//! * **format 1** (PMCW F = 1, extended measurement-block facility): 64
//!   bytes at the 64-bit measurement-block address (MBA) of the SCHIB,
//!   64-byte aligned:
//!
//!   | offset | size | field |
//!   |---|---|---|
//!   | 0 | 4 | SSCH + RSCH count |
//!   | 4 | 4 | sample count |
//!   | 8 | 4 | device-connect time |
//!   | 12 | 4 | function-pending time |
//!   | 16 | 4 | device-disconnect time |
//!   | 20 | 4 | control-unit-queuing time |
//!   | 24 | 4 | device-active-only time |
//!   | 28 | 4 | device-busy time |
//!   | 32 | 4 | initial-command-response time |
//!   | 36 | 28 | reserved |
//!
//! Times are in units of 128 microseconds in both formats (Linux `cmf.c`
//! converts either block's time fields with `time_to_nsec`, × 128 000 ns).
//! Counts and times wrap around.
//!
//! # What is counted
//!
//! * **SSCH + RSCH count**: one for every start or resume function of a
//!   measured subchannel, when the device is selected for it.
//! * **Sample count and time fields**: only for a subchannel with the
//!   *timing facility* (PMCW word 1 bit 14, T). The sample count counts
//!   timing samples — Linux `cmf.c` divides every time field by it
//!   (`time_to_avg_nsec`) — so without timing data there is no sample. zcss
//!   subchannels have T = 0 unless the embedder gives one the facility with
//!   [`Css::set_timing_facility`] (a trace: the device key `timing=on`); then
//!   only the SSCH + RSCH count changes, which is also what QEMU
//!   (`css_update_chnmon`) and Hercules (`execute_ccw_chain`) store.
//!
//! # The timing facility
//!
//! For a timed subchannel (T = 1, measured) the css reads its clock
//! ([`CssClock`], [`Css::set_clock`]; host time by default) three times per
//! start or resume function of an interpreted device: when the function is
//! taken up, when the device is selected, and when the channel program
//! stops. From the readings, in 128-µs units (unit boundaries crossed, so
//! consecutive intervals add up exactly):
//!
//! | field | an interpreted device |
//! |---|---|
//! | function-pending | taken up → selected |
//! | device-connect | selected → program stopped |
//! | device-busy (format 1) | selected → stopped instead, when the device was busy at selection (deferred condition code 1) |
//! | device-disconnect, control-unit-queuing, device-active-only, initial-command-response | 0: the device never disconnects, has no control-unit queue, presents channel end and device end together and accepts each command as it is issued |
//!
//! A program that suspends keeps its times open: the time it spends
//! suspended is not counted, and the resumed segments add to the same
//! sample. When the start function ends with primary status, the sample
//! count goes up by one and the times are added, before the status becomes
//! pending. A function ended by HALT or CLEAR SUBCHANNEL takes no sample.
//! Passthrough devices do not offer the timing facility (their host times
//! the real device).
//!
//! The time fields hold what the clock said, so they are the one part of
//! guest storage the css stores that a replay does not reproduce: the
//! observer is told ([`crate::Observer::nondeterministic_store`]), and a
//! trace replay gives the css a [`StepClock`].

mod block;
mod clock;
mod monitor;
mod timing;

use std::sync::Arc;

pub use block::{
    BlockContents, BlockFormat, MeasurementBlock, MeasurementCheck, Sample, FORMAT0_BLOCK_LEN, FORMAT1_BLOCK_LEN,
    TIME_UNIT,
};
pub use clock::{units_between, CssClock, HostClock, StepClock};
pub use monitor::{ChannelMonitor, MeasurementError, MonitorState, SubchannelMonitoring};
pub(crate) use timing::Measurement;
use zcss_ccw::sid::SubchannelId;

use crate::{Css, CssError};

impl Css {
    /// Gives the timing facility (PMCW T = 1) to the subchannel of an
    /// interpreted device, or takes it away. A model property: MODIFY
    /// SUBCHANNEL cannot change it and the I/O-system reset keeps it; a
    /// device attached anew starts without it.
    ///
    /// # Errors
    /// [`CssError::NoDevice`]; [`CssError::NoTimingFacility`] for a
    /// passthrough device.
    pub fn set_timing_facility(&self, sid: SubchannelId, on: bool) -> Result<(), CssError> {
        let sch = self.sh.tables.get(sid).ok_or(CssError::NoDevice(sid))?;
        let mut st = sch.state.lock();
        if !st.present {
            return Err(CssError::NoDevice(sid));
        }
        if st.is_passthrough() {
            return Err(CssError::NoTimingFacility(sid));
        }
        st.pmcw.flags.set_timing(on);
        Ok(())
    }

    /// Whether the subchannel has the timing facility; `None` without a device.
    #[must_use]
    pub fn timing_facility(&self, sid: SubchannelId) -> Option<bool> {
        let st = self.sh.tables.get(sid)?.state.lock();
        st.present.then(|| st.pmcw.flags.timing())
    }

    /// Sets the clock the timing facility reads (by default a [`HostClock`]
    /// made with the css).
    pub fn set_clock(&self, clock: Arc<dyn CssClock>) {
        self.sh.ext.measurement.set_clock(clock);
    }

    /// The clock the timing facility reads.
    #[must_use]
    pub fn clock(&self) -> Arc<dyn CssClock> {
        self.sh.ext.measurement.clock()
    }
}
