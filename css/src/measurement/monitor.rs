//! SET CHANNEL MONITOR state and the measurement controls of a subchannel
//! (Principles of Operation, chapter 14, "SET CHANNEL MONITOR"; chapter 17,
//! "Channel-Subsystem Monitoring", "Measurement-Block Update").
//!
//! [`ChannelMonitor`] holds what SCHM sets (update mode M, device-connect-time
//! mode D, the measurement-block key and the format-0 area origin) in one
//! atomic word, so every start function can read it without a lock, and
//! locates the measurement block of a subchannel from its
//! [`SubchannelMonitoring`] controls.

use std::sync::atomic::{AtomicU64, Ordering};

use thiserror::Error;
use zcss_ccw::memory::{AccessKey, GuestMemory};

use super::block::{BlockFormat, MeasurementBlock, MeasurementCheck, Sample, FORMAT0_BLOCK_LEN, FORMAT1_BLOCK_LEN};

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
    /// (channel subsystem in D mode and the subchannel's MM bit 12 on). That
    /// mode reports the device-connect time of each start function in the
    /// ESW (format-2 ESW, DCTI), which zcss does not store; it does not
    /// affect the measurement block.
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

    /// A timing sample: adds one to the sample count and the sample's times
    /// to the time fields if the subchannel is measured. The channel
    /// subsystem stores a sample only for a subchannel with the timing
    /// facility (PMCW T = 1), when its start function ends with primary
    /// status. Returns whether a block was updated.
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
    use crate::measurement::BlockContents;
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
    fn device_connect_time_needs_both_modes() {
        let m = ChannelMonitor::new();
        let sub = SubchannelMonitoring::from_fields(0b01, false, 0, 0);
        assert!(!m.device_connect_time_active(&sub));
        m.schm(0x1, 0).unwrap();
        assert!(m.device_connect_time_active(&sub));
        assert!(!m.device_connect_time_active(&fmt0(0)));
    }
}
