//! Channel-subsystem monitoring: SET CHANNEL MONITOR and the measurement
//! blocks updated for each start function.
//!
//! Principles of Operation, chapter 17 ("I/O Support Functions",
//! "Channel-Subsystem Monitoring": measurement-block update, format-0 and
//! format-1 measurement blocks, device-connect-time measurement) and chapter
//! 14 ("SET CHANNEL MONITOR").
//!
//! SCHM operands:
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
//! Times are in units of 128 microseconds. Counts and times wrap around.
//!
//! Accounting: [`ChannelMonitor::record_start`] is called when a start or
//! resume function is initiated (SSCH, RSCH) and adds one to the SSCH+RSCH
//! count; [`ChannelMonitor::record_sample`] is called when the start
//! function ends with primary status and adds one to the sample count and
//! the [`Sample`]'s times to the timing fields. Timing is whatever the
//! caller measures: [`Sample::from_durations`] converts host time (for
//! example the time a device took to execute the channel program, or the
//! time a passthrough program was outstanding) into 128-µs units. The
//! components a virtual device does not have (control-unit queuing, device
//! busy) are naturally zero.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use thiserror::Error;
use zcss_ccw::memory::{AccessError, AccessKey, GuestMemory};

/// Size of a format-0 measurement block.
pub const FORMAT0_BLOCK_LEN: usize = 32;
/// Size (and required alignment) of a format-1 measurement block.
pub const FORMAT1_BLOCK_LEN: usize = 64;
/// Measurement time unit: 128 microseconds.
pub const TIME_UNIT: Duration = Duration::from_micros(128);

/// SCHM operand errors; each is an operand exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MeasurementError {
    /// GR1 bits 36-61 are not zero.
    #[error("SCHM: reserved bits of GR1 are set ({gr1:#010x}) (operand exception)")]
    ReservedBits {
        /// Bits 32-63 of GR1.
        gr1: u32,
    },
    /// M is one and the MBO in GR2 is not on a 32-byte boundary.
    #[error("SCHM: measurement-block origin {mbo:#x} is not 32-byte aligned (operand exception)")]
    MboAlignment {
        /// Bits 33-63 of GR2.
        mbo: u64,
    },
}

/// Why a measurement-block update failed. The channel subsystem reports it
/// in the extended-status flags of the ESW (measurement-block program
/// check, measurement-block protection check); the I/O operation itself is
/// not affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MeasurementCheck {
    /// The block is not in available storage, lies beyond the 31-bit range
    /// (format 0) or is misaligned (format 1): measurement-block program check.
    #[error("measurement-block program check at {addr:#x}")]
    Program {
        /// Address of the block (or the failing byte).
        addr: u64,
    },
    /// The measurement-block key does not permit the store:
    /// measurement-block protection check.
    #[error("measurement-block protection check at {addr:#x}")]
    Protection {
        /// Address of the failing byte.
        addr: u64,
    },
}

impl From<AccessError> for MeasurementCheck {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Addressing { addr } => Self::Program { addr },
            AccessError::Protection { addr, .. } => Self::Protection { addr },
        }
    }
}

/// The channel-subsystem-wide monitoring controls set by SCHM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MonitorState {
    /// M: measurement-block-update mode.
    pub update: bool,
    /// D: device-connect-time-measurement mode.
    pub dct: bool,
    /// MBK: the key used to store into measurement blocks.
    pub key: AccessKey,
    /// MBO: origin of the format-0 measurement-block area (31-bit, 32-byte
    /// aligned). Meaningful only while `update` is on.
    pub mbo: u64,
}

impl MonitorState {
    /// Decodes and validates the SCHM operands.
    ///
    /// With M = 0 the MBO is not used and reads as zero.
    ///
    /// # Errors
    /// [`MeasurementError`] (operand exception) for reserved bits or a
    /// misaligned MBO.
    pub fn from_schm(gr1: u64, gr2: u64) -> Result<Self, MeasurementError> {
        let w = (gr1 & 0xffff_ffff) as u32;
        if w & 0x0fff_fffc != 0 {
            return Err(MeasurementError::ReservedBits { gr1: w });
        }
        let update = w & 0x2 != 0;
        let mbo = if update { gr2 & 0x7fff_ffff } else { 0 };
        if mbo & 0x1f != 0 {
            return Err(MeasurementError::MboAlignment { mbo });
        }
        Ok(Self {
            update,
            dct: w & 0x1 != 0,
            key: AccessKey::new((w >> 28) as u8),
            mbo,
        })
    }

    fn pack(self) -> u64 {
        u64::from(self.update) << 63
            | u64::from(self.dct) << 62
            | u64::from(self.key.get()) << 56
            | (self.mbo & 0x7fff_ffff)
    }

    fn unpack(v: u64) -> Self {
        Self {
            update: v & (1 << 63) != 0,
            dct: v & (1 << 62) != 0,
            key: AccessKey::new(((v >> 56) & 0xf) as u8),
            mbo: v & 0x7fff_ffff,
        }
    }
}

/// The measurement controls of one subchannel, from its PMCW and SCHIB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubchannelMonitoring {
    /// PMCW MM bit 11: measurement-block-update enable.
    pub block_update: bool,
    /// PMCW MM bit 12: device-connect-time-measurement enable.
    pub device_connect_time: bool,
    /// PMCW F: format-1 measurement block (at `mba`) instead of format 0.
    pub format1: bool,
    /// PMCW MBI: index of the format-0 block in the MBO area.
    pub mbi: u16,
    /// SCHIB MBA: address of the format-1 block.
    pub mba: u64,
}

impl SubchannelMonitoring {
    /// From the PMCW's two-bit measurement-mode field (MM: bit 11 in the
    /// high bit, bit 12 in the low bit), F bit, MBI, and the SCHIB's MBA.
    #[must_use]
    pub const fn from_fields(measurement_mode: u8, format1: bool, mbi: u16, mba: u64) -> Self {
        Self {
            block_update: measurement_mode & 0b10 != 0,
            device_connect_time: measurement_mode & 0b01 != 0,
            format1,
            mbi,
            mba,
        }
    }
}

/// Measurement-block format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockFormat {
    /// 32-byte block with 16-bit counts.
    Format0,
    /// 64-byte block with 32-bit counts.
    Format1,
}

impl BlockFormat {
    /// Block size in bytes.
    #[must_use]
    pub const fn size(self) -> usize {
        match self {
            Self::Format0 => FORMAT0_BLOCK_LEN,
            Self::Format1 => FORMAT1_BLOCK_LEN,
        }
    }
}

/// Times of one start function, in units of 128 µs (see [`TIME_UNIT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Sample {
    /// Device-connect time.
    pub device_connect: u32,
    /// Function-pending time (from acceptance of the start function to the
    /// first command being accepted by the device).
    pub function_pending: u32,
    /// Device-disconnect time.
    pub device_disconnect: u32,
    /// Control-unit-queuing time.
    pub control_unit_queuing: u32,
    /// Device-active-only time.
    pub device_active_only: u32,
    /// Device-busy time (format 1 only).
    pub device_busy: u32,
    /// Initial-command-response time (format 1 only).
    pub initial_command_response: u32,
}

impl Sample {
    /// Converts a duration into 128-µs units, saturating at `u32::MAX`.
    #[must_use]
    pub fn units(d: Duration) -> u32 {
        let n = d.as_micros() / TIME_UNIT.as_micros();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// A sample from measured host durations: time the start function was
    /// pending, time the device was connected (executing), and time it was
    /// disconnected (e.g. a passthrough program outstanding on the host).
    #[must_use]
    pub fn from_durations(function_pending: Duration, device_connect: Duration, device_disconnect: Duration) -> Self {
        Self {
            device_connect: Self::units(device_connect),
            function_pending: Self::units(function_pending),
            device_disconnect: Self::units(device_disconnect),
            ..Self::default()
        }
    }
}

/// Decoded contents of a measurement block (for tools and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BlockContents {
    /// SSCH + RSCH count.
    pub ssch_rsch_count: u32,
    /// Sample count.
    pub sample_count: u32,
    /// Accumulated times.
    pub times: Sample,
}

/// A located measurement block: where it is, its format and the key that
/// stores into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MeasurementBlock {
    /// Absolute address of the block.
    pub addr: u64,
    /// Its format.
    pub format: BlockFormat,
    /// The measurement-block key.
    pub key: AccessKey,
}

/// Offsets of the fields in a block of each format.
struct Layout {
    count_width: usize,
    sample_count: usize,
    times: usize,
    n_times: usize,
}

impl BlockFormat {
    const fn layout(self) -> Layout {
        match self {
            Self::Format0 => Layout {
                count_width: 2,
                sample_count: 2,
                times: 4,
                n_times: 5,
            },
            Self::Format1 => Layout {
                count_width: 4,
                sample_count: 4,
                times: 8,
                n_times: 7,
            },
        }
    }
}

fn get_be(b: &[u8], off: usize, width: usize) -> u32 {
    b[off..off + width]
        .iter()
        .fold(0u32, |acc, &x| (acc << 8) | u32::from(x))
}

fn put_be(b: &mut [u8], off: usize, width: usize, v: u32) {
    let bytes = v.to_be_bytes();
    b[off..off + width].copy_from_slice(&bytes[4 - width..]);
}

impl MeasurementBlock {
    /// Adds one to the SSCH + RSCH count (wrapping).
    ///
    /// # Errors
    /// [`MeasurementCheck`] when the block cannot be fetched or stored.
    pub fn add_start(&self, mem: &dyn GuestMemory) -> Result<(), MeasurementCheck> {
        let w = self.format.layout().count_width;
        let mut buf = [0u8; 4];
        let b = &mut buf[..w];
        mem.read(self.addr, b, self.key)?;
        let v = get_be(b, 0, w).wrapping_add(1);
        put_be(b, 0, w, v);
        mem.write(self.addr, b, self.key)?;
        Ok(())
    }

    /// Adds one to the sample count and the sample's times to the timing
    /// fields (each wrapping). Format 0 has no device-busy and
    /// initial-command-response fields; those times are dropped.
    ///
    /// # Errors
    /// [`MeasurementCheck`] when the block cannot be fetched or stored.
    pub fn add_sample(&self, sample: &Sample, mem: &dyn GuestMemory) -> Result<(), MeasurementCheck> {
        let l = self.format.layout();
        let start = l.sample_count;
        let end = l.times + 4 * l.n_times;
        let mut buf = [0u8; FORMAT1_BLOCK_LEN];
        let b = &mut buf[start..end];
        let base = self.addr.wrapping_add(start as u64);
        mem.read(base, b, self.key)?;
        let count = get_be(b, 0, l.count_width).wrapping_add(1);
        put_be(b, 0, l.count_width, count);
        let times = [
            sample.device_connect,
            sample.function_pending,
            sample.device_disconnect,
            sample.control_unit_queuing,
            sample.device_active_only,
            sample.device_busy,
            sample.initial_command_response,
        ];
        for (i, t) in times.iter().take(l.n_times).enumerate() {
            let off = l.times - start + 4 * i;
            let v = get_be(b, off, 4).wrapping_add(*t);
            put_be(b, off, 4, v);
        }
        mem.write(base, b, self.key)?;
        Ok(())
    }

    /// Reads and decodes the block (with the measurement-block key).
    ///
    /// # Errors
    /// [`MeasurementCheck`] when the block cannot be fetched.
    pub fn read(&self, mem: &dyn GuestMemory) -> Result<BlockContents, MeasurementCheck> {
        let l = self.format.layout();
        let mut buf = [0u8; FORMAT1_BLOCK_LEN];
        let b = &mut buf[..self.format.size()];
        mem.read(self.addr, b, self.key)?;
        let t = |i: usize| {
            if i < l.n_times {
                get_be(b, l.times + 4 * i, 4)
            } else {
                0
            }
        };
        Ok(BlockContents {
            ssch_rsch_count: get_be(b, 0, l.count_width),
            sample_count: get_be(b, l.sample_count, l.count_width),
            times: Sample {
                device_connect: t(0),
                function_pending: t(1),
                device_disconnect: t(2),
                control_unit_queuing: t(3),
                device_active_only: t(4),
                device_busy: t(5),
                initial_command_response: t(6),
            },
        })
    }
}

/// The channel subsystem's monitoring state (SCHM), readable without a lock
/// on every start function.
#[derive(Debug, Default)]
pub struct ChannelMonitor {
    state: AtomicU64,
}

impl ChannelMonitor {
    /// Monitoring off (the state after reset).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            state: AtomicU64::new(0),
        }
    }

    /// SET CHANNEL MONITOR with the contents of GR1 and GR2.
    ///
    /// # Errors
    /// [`MeasurementError`] (operand exception); the state is unchanged then.
    pub fn schm(&self, gr1: u64, gr2: u64) -> Result<(), MeasurementError> {
        let s = MonitorState::from_schm(gr1, gr2)?;
        self.set(s);
        Ok(())
    }

    /// Sets the monitoring state directly (restore, tests).
    pub fn set(&self, state: MonitorState) {
        self.state.store(state.pack(), Ordering::SeqCst);
    }

    /// The current monitoring state.
    #[must_use]
    pub fn state(&self) -> MonitorState {
        MonitorState::unpack(self.state.load(Ordering::SeqCst))
    }

    /// Channel-subsystem reset: monitoring off.
    pub fn reset(&self) {
        self.state.store(0, Ordering::SeqCst);
    }

    /// Whether device-connect-time measurement applies to a subchannel
    /// (channel subsystem in D mode and the subchannel's MM bit 12 on).
    #[must_use]
    pub fn device_connect_time_active(&self, sub: &SubchannelMonitoring) -> bool {
        self.state().dct && sub.device_connect_time
    }

    /// The measurement block of a subchannel, or `Ok(None)` when it is not
    /// being measured (update mode off, or the subchannel's MM bit 11 off).
    ///
    /// # Errors
    /// [`MeasurementCheck::Program`] for a format-0 block that does not lie
    /// below 2 GiB, or a format-1 address not on a 64-byte boundary.
    pub fn block(&self, sub: &SubchannelMonitoring) -> Result<Option<MeasurementBlock>, MeasurementCheck> {
        let s = self.state();
        if !(s.update && sub.block_update) {
            return Ok(None);
        }
        let (addr, format) = if sub.format1 {
            if sub.mba & (FORMAT1_BLOCK_LEN as u64 - 1) != 0 {
                return Err(MeasurementCheck::Program { addr: sub.mba });
            }
            (sub.mba, BlockFormat::Format1)
        } else {
            let addr = s.mbo + u64::from(sub.mbi) * FORMAT0_BLOCK_LEN as u64;
            if addr + FORMAT0_BLOCK_LEN as u64 > 1 << 31 {
                return Err(MeasurementCheck::Program { addr });
            }
            (addr, BlockFormat::Format0)
        };
        Ok(Some(MeasurementBlock {
            addr,
            format,
            key: s.key,
        }))
    }

    /// A start or resume function was initiated for the subchannel: adds one
    /// to its SSCH + RSCH count if it is measured. Returns whether a block
    /// was updated.
    ///
    /// # Errors
    /// [`MeasurementCheck`] when the block cannot be located, fetched or stored.
    pub fn record_start(&self, sub: &SubchannelMonitoring, mem: &dyn GuestMemory) -> Result<bool, MeasurementCheck> {
        match self.block(sub)? {
            Some(b) => b.add_start(mem).map(|()| true),
            None => Ok(false),
        }
    }

    /// The start function ended with primary status: adds one to the sample
    /// count and accumulates the sample's times if the subchannel is
    /// measured. Returns whether a block was updated.
    ///
    /// # Errors
    /// [`MeasurementCheck`] when the block cannot be located, fetched or stored.
    pub fn record_sample(
        &self,
        sub: &SubchannelMonitoring,
        sample: &Sample,
        mem: &dyn GuestMemory,
    ) -> Result<bool, MeasurementCheck> {
        match self.block(sub)? {
            Some(b) => b.add_sample(sample, mem).map(|()| true),
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zcss_ccw::memory::{StorageKey, VecMemory};

    const MBU: u64 = 0x2;

    fn fmt0(mbi: u16) -> SubchannelMonitoring {
        SubchannelMonitoring::from_fields(0b10, false, mbi, 0)
    }

    fn fmt1(mba: u64) -> SubchannelMonitoring {
        SubchannelMonitoring::from_fields(0b10, true, 0, mba)
    }

    #[test]
    fn schm_reserved_gr1_bits_are_operand_error() {
        let m = ChannelMonitor::new();
        assert_eq!(
            m.schm(0xffff_fffc, 0),
            Err(MeasurementError::ReservedBits { gr1: 0xffff_fffc })
        );
        for bit in 2..28 {
            assert!(m.schm(1 << bit, 0).is_err(), "bit {bit}");
        }
        assert_eq!(m.state(), MonitorState::default(), "state unchanged");
    }

    #[test]
    fn schm_update_with_misaligned_mbo_is_operand_error() {
        let m = ChannelMonitor::new();
        assert_eq!(m.schm(MBU, 0x1), Err(MeasurementError::MboAlignment { mbo: 1 }));
        assert_eq!(m.schm(MBU, 0x1010), Err(MeasurementError::MboAlignment { mbo: 0x1010 }));
        assert!(!m.state().update);
    }

    #[test]
    fn schm_without_update_ignores_gr2() {
        let m = ChannelMonitor::new();
        m.schm(0x1, 0x1).unwrap();
        assert_eq!(
            m.state(),
            MonitorState {
                update: false,
                dct: true,
                key: AccessKey::ZERO,
                mbo: 0
            }
        );
    }

    #[test]
    fn schm_decodes_key_modes_and_mbo() {
        let m = ChannelMonitor::new();
        // High word of GR1 and bits 0-32 of GR2 ignored.
        m.schm(0xffff_ffff_9000_0003, 0xffff_ffff_8000_1040).unwrap();
        assert_eq!(
            m.state(),
            MonitorState {
                update: true,
                dct: true,
                key: AccessKey::new(9),
                mbo: 0x1040
            }
        );
        m.schm(MBU, 0).unwrap();
        assert_eq!(m.state().mbo, 0, "schm(NULL, MBU) is valid");
        m.reset();
        assert_eq!(m.state(), MonitorState::default());
    }

    #[test]
    fn record_start_format0_counts_at_mbo_plus_mbi_times_32() {
        let mem = VecMemory::new(0x10000);
        let m = ChannelMonitor::new();
        m.schm(MBU, 0x2000).unwrap();
        for _ in 0..10 {
            assert_eq!(m.record_start(&fmt0(1), &mem), Ok(true));
        }
        assert_eq!(mem.fetch(0x2020, 2).unwrap(), vec![0, 10]);
        assert_eq!(mem.fetch(0x2000, 32).unwrap(), vec![0; 32], "block 0 untouched");
        let b = m.block(&fmt0(1)).unwrap().unwrap();
        assert_eq!(b.read(&mem).unwrap().ssch_rsch_count, 10);
    }

    #[test]
    fn record_start_format0_count_wraps_at_16_bits() {
        let mem = VecMemory::new(0x4000);
        mem.store(0x1000, &[0xff, 0xff]).unwrap();
        let m = ChannelMonitor::new();
        m.schm(MBU, 0x1000).unwrap();
        m.record_start(&fmt0(0), &mem).unwrap();
        assert_eq!(mem.fetch(0x1000, 4).unwrap(), vec![0, 0, 0, 0]);
    }

    #[test]
    fn record_start_format1_counts_u32_at_mba() {
        let mem = VecMemory::new(0x10000);
        let m = ChannelMonitor::new();
        m.schm(MBU, 0).unwrap();
        for _ in 0..10 {
            assert_eq!(m.record_start(&fmt1(0x3040), &mem), Ok(true));
        }
        assert_eq!(mem.fetch(0x3040, 4).unwrap(), vec![0, 0, 0, 10]);
        mem.store(0x3040, &[0, 1, 0xff, 0xff]).unwrap();
        m.record_start(&fmt1(0x3040), &mem).unwrap();
        assert_eq!(mem.fetch(0x3040, 4).unwrap(), vec![0, 2, 0, 0]);
    }

    #[test]
    fn record_start_without_update_mode_or_mme_does_nothing() {
        let mem = VecMemory::new(0x4000);
        let m = ChannelMonitor::new();
        assert_eq!(m.record_start(&fmt0(0), &mem), Ok(false), "monitoring off");
        m.schm(MBU, 0x1000).unwrap();
        let off = SubchannelMonitoring::from_fields(0b01, false, 0, 0);
        assert_eq!(m.record_start(&off, &mem), Ok(false), "MM bit 11 off");
        assert_eq!(mem.fetch(0x1000, 32).unwrap(), vec![0; 32]);
    }

    #[test]
    fn record_sample_format0_accumulates_five_times() {
        let mem = VecMemory::new(0x4000);
        let m = ChannelMonitor::new();
        m.schm(MBU, 0x1000).unwrap();
        let s = Sample {
            device_connect: 1,
            function_pending: 2,
            device_disconnect: 3,
            control_unit_queuing: 4,
            device_active_only: 5,
            device_busy: 6,
            initial_command_response: 7,
        };
        m.record_sample(&fmt0(2), &s, &mem).unwrap();
        m.record_sample(&fmt0(2), &s, &mem).unwrap();
        let b = mem.fetch(0x1040, 32).unwrap();
        assert_eq!(&b[0..4], &[0, 0, 0, 2], "SSCH count untouched, sample count 2");
        assert_eq!(
            &b[4..24],
            &[0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 6, 0, 0, 0, 8, 0, 0, 0, 10]
        );
        assert_eq!(&b[24..32], &[0; 8], "reserved words untouched");
        let c = m.block(&fmt0(2)).unwrap().unwrap().read(&mem).unwrap();
        assert_eq!(c.sample_count, 2);
        assert_eq!(c.times.device_busy, 0, "format 0 has no device-busy field");
    }

    #[test]
    fn record_sample_format1_accumulates_seven_times() {
        let mem = VecMemory::new(0x4000);
        let m = ChannelMonitor::new();
        m.schm(MBU, 0).unwrap();
        let s = Sample {
            device_connect: 0x10,
            function_pending: 0x20,
            device_disconnect: 0x30,
            control_unit_queuing: 0x40,
            device_active_only: 0x50,
            device_busy: 0x60,
            initial_command_response: 0x70,
        };
        m.record_start(&fmt1(0x1000), &mem).unwrap();
        m.record_sample(&fmt1(0x1000), &s, &mem).unwrap();
        let c = m.block(&fmt1(0x1000)).unwrap().unwrap().read(&mem).unwrap();
        assert_eq!(
            c,
            BlockContents {
                ssch_rsch_count: 1,
                sample_count: 1,
                times: s
            }
        );
        assert_eq!(mem.fetch(0x1000 + 36, 28).unwrap(), vec![0; 28], "reserved untouched");
    }

    #[test]
    fn record_sample_times_wrap() {
        let mem = VecMemory::new(0x4000);
        mem.store(0x1008, &[0xff, 0xff, 0xff, 0xff]).unwrap();
        let m = ChannelMonitor::new();
        m.schm(MBU, 0).unwrap();
        let s = Sample {
            device_connect: 2,
            ..Sample::default()
        };
        m.record_sample(&fmt1(0x1000), &s, &mem).unwrap();
        assert_eq!(mem.fetch(0x1008, 4).unwrap(), vec![0, 0, 0, 1]);
    }

    #[test]
    fn block_beyond_storage_is_program_check() {
        let mem = VecMemory::new(0x2000);
        let m = ChannelMonitor::new();
        m.schm(MBU, 0x1fe0).unwrap();
        assert_eq!(m.record_start(&fmt0(0), &mem), Ok(true));
        assert_eq!(
            m.record_start(&fmt0(1), &mem),
            Err(MeasurementCheck::Program { addr: 0x2000 })
        );
        assert_eq!(
            m.record_start(&fmt1(0x1_0000_0000), &mem),
            Err(MeasurementCheck::Program { addr: 0x1_0000_0000 })
        );
    }

    #[test]
    fn format0_block_beyond_2g_is_program_check() {
        let m = ChannelMonitor::new();
        m.schm(MBU, 0x7fff_ffe0).unwrap();
        assert!(m.block(&fmt0(0)).unwrap().is_some());
        assert_eq!(m.block(&fmt0(1)), Err(MeasurementCheck::Program { addr: 0x8000_0000 }));
        m.schm(MBU, 0x7fff_0000).unwrap();
        assert!(m.block(&fmt0(0xffff)).is_err());
    }

    #[test]
    fn format1_misaligned_mba_is_program_check() {
        let m = ChannelMonitor::new();
        m.schm(MBU, 0).unwrap();
        assert_eq!(m.block(&fmt1(0x1001)), Err(MeasurementCheck::Program { addr: 0x1001 }));
        assert_eq!(m.block(&fmt1(0x1020)), Err(MeasurementCheck::Program { addr: 0x1020 }));
        assert!(m.block(&fmt1(u64::MAX - 63)).unwrap().is_some());
    }

    #[test]
    fn store_with_mismatched_key_is_protection_check() {
        let mem = VecMemory::with_storage_keys(0x4000);
        mem.set_storage_key(0x1000, StorageKey::new(6, false));
        let m = ChannelMonitor::new();
        m.schm(0x5000_0002, 0x1000).unwrap();
        assert_eq!(
            m.record_start(&fmt0(0), &mem),
            Err(MeasurementCheck::Protection { addr: 0x1000 })
        );
        assert_eq!(mem.fetch(0x1000, 2).unwrap(), vec![0, 0]);
        m.schm(0x6000_0002, 0x1000).unwrap();
        assert_eq!(m.record_start(&fmt0(0), &mem), Ok(true));
        assert_eq!(mem.fetch(0x1000, 2).unwrap(), vec![0, 1]);
    }

    #[test]
    fn sample_units_are_128_microseconds() {
        assert_eq!(Sample::units(Duration::from_micros(127)), 0);
        assert_eq!(Sample::units(Duration::from_micros(128)), 1);
        assert_eq!(Sample::units(Duration::from_millis(1)), 7);
        assert_eq!(Sample::units(Duration::from_secs(u64::MAX)), u32::MAX);
        let s = Sample::from_durations(
            Duration::from_micros(256),
            Duration::from_micros(1280),
            Duration::from_micros(384),
        );
        assert_eq!((s.function_pending, s.device_connect, s.device_disconnect), (2, 10, 3));
    }

    #[test]
    fn device_connect_time_needs_both_modes() {
        let m = ChannelMonitor::new();
        let sub = SubchannelMonitoring::from_fields(0b01, false, 0, 0);
        assert!(!m.device_connect_time_active(&sub));
        m.schm(0x1, 0).unwrap();
        assert!(m.device_connect_time_active(&sub));
        assert!(!m.device_connect_time_active(&fmt0(0)));
    }
}
