//! The clock of the timing facility: where the channel subsystem reads the
//! time when it measures a start function (Principles of Operation, chapter
//! 17, "Channel-Subsystem Timing" and "Measurement-Block Update": the time
//! fields of a measurement block count units of 128 microseconds).
//!
//! A [`Css`](crate::Css) reads its clock only for a subchannel that has the
//! timing facility (PMCW T = 1, see
//! [`Css::set_timing_facility`](crate::Css::set_timing_facility)) and is
//! being measured. By default that is [`HostClock`]; a trace replay installs
//! a [`StepClock`] so that every replay stores the same times.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::block::TIME_UNIT_NS;

/// A monotonic time source in nanoseconds from an origin of its choosing.
///
/// The channel subsystem calls [`CssClock::now_ns`] at fixed points of a
/// measured start function (see the [module documentation](super)), so a
/// clock that answers the same sequence of values gives the same
/// measurement blocks.
pub trait CssClock: Send + Sync + std::fmt::Debug {
    /// The current time in nanoseconds. Successive readings never decrease.
    fn now_ns(&self) -> u64;
}

/// Host time: nanoseconds since the clock was made (`std::time::Instant`).
#[derive(Debug, Clone, Copy)]
pub struct HostClock {
    origin: Instant,
}

impl HostClock {
    /// A clock whose origin is now.
    #[must_use]
    pub fn new() -> Self {
        Self { origin: Instant::now() }
    }
}

impl Default for HostClock {
    fn default() -> Self {
        Self::new()
    }
}

impl CssClock for HostClock {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A deterministic clock: each reading answers the previous one plus a
/// fixed step. Replays use it so that a trace's measurement blocks come out
/// the same on every run and every host.
#[derive(Debug)]
pub struct StepClock {
    next: AtomicU64,
    step_ns: u64,
}

impl StepClock {
    /// The step a trace replay uses: one architected time unit (128 µs), so
    /// that every interval between two readings adds one unit.
    pub const REPLAY_STEP_NS: u64 = TIME_UNIT_NS;

    /// A clock whose first reading is `start_ns`, each later one `step_ns`
    /// further.
    #[must_use]
    pub const fn new(start_ns: u64, step_ns: u64) -> Self {
        Self {
            next: AtomicU64::new(start_ns),
            step_ns,
        }
    }

    /// The clock of trace replay: starts at 0, steps [`Self::REPLAY_STEP_NS`].
    #[must_use]
    pub const fn replay() -> Self {
        Self::new(0, Self::REPLAY_STEP_NS)
    }

    /// The next reading (what a snapshot saves).
    #[must_use]
    pub fn position(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }

    /// Makes `ns` the next reading (restore of [`StepClock::position`]).
    pub fn set_position(&self, ns: u64) {
        self.next.store(ns, Ordering::Relaxed);
    }
}

impl CssClock for StepClock {
    fn now_ns(&self) -> u64 {
        self.next.fetch_add(self.step_ns, Ordering::Relaxed)
    }
}

/// The time units (128 µs) between two readings: the number of unit
/// boundaries the clock crossed from `from_ns` to `to_ns` (0 if it went
/// backwards), saturating at `u32::MAX`.
///
/// Counting boundaries instead of dividing each interval means the units of
/// consecutive intervals add up to the units of the whole: many intervals
/// shorter than a unit are not all lost to rounding.
#[must_use]
pub fn units_between(from_ns: u64, to_ns: u64) -> u32 {
    let ticks = (to_ns / TIME_UNIT_NS).saturating_sub(from_ns / TIME_UNIT_NS);
    u32::try_from(ticks).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_clock_answers_start_then_steps() {
        let c = StepClock::new(5, 7);
        assert_eq!([c.now_ns(), c.now_ns(), c.now_ns()], [5, 12, 19]);
        let r = StepClock::replay();
        assert_eq!([r.now_ns(), r.now_ns()], [0, 128_000]);
    }

    #[test]
    fn host_clock_never_goes_backwards() {
        let c = HostClock::new();
        let a = c.now_ns();
        let b = c.now_ns();
        assert!(b >= a, "{a} then {b}");
    }

    #[test]
    fn units_between_counts_unit_boundaries() {
        assert_eq!(units_between(0, 127_999), 0);
        assert_eq!(units_between(0, 128_000), 1);
        assert_eq!(units_between(127_999, 128_000), 1, "a boundary crossed");
        assert_eq!(units_between(128_000, 255_999), 0);
        assert_eq!(units_between(1_000_000, 2_000_000), 8, "7.8 units, 8 boundaries");
        assert_eq!(units_between(500, 100), 0, "backwards");
        assert_eq!(units_between(0, u64::MAX), u32::MAX);
    }

    #[test]
    fn units_between_of_adjacent_intervals_add_up() {
        let points = [0u64, 50_000, 130_000, 200_000, 300_000, 390_000];
        let sum: u32 = points.windows(2).map(|w| units_between(w[0], w[1])).sum();
        assert_eq!(sum, units_between(points[0], points[5]));
        assert_eq!(sum, 3);
    }
}
