//! Measurement blocks: the format-0 and format-1 layouts, and the stores
//! that update them (Principles of Operation, chapter 17,
//! "Measurement-Block Update", "Format-0 Measurement Block", "Format-1
//! Measurement Block"). The field order and widths agree with Linux
//! `drivers/s390/cio/cmf.c` (`struct cmb`, `struct cmbe`) and z/VM's
//! `HCPSCMBK` / `HCPSCGBK` control-block maps; Linux converts every time
//! field of either format with `time_to_nsec` (× 128 000 ns).

use std::time::Duration;

use thiserror::Error;
use zcss_ccw::memory::{AccessError, AccessKey, GuestMemory};

/// Size of a format-0 measurement block.
pub const FORMAT0_BLOCK_LEN: usize = 32;
/// Size (and required alignment) of a format-1 measurement block.
pub const FORMAT1_BLOCK_LEN: usize = 64;
/// Measurement time unit: 128 microseconds (both block formats).
pub const TIME_UNIT: Duration = Duration::from_micros(128);
/// [`TIME_UNIT`] in nanoseconds.
pub(crate) const TIME_UNIT_NS: u64 = 128_000;

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

/// Measurement-block format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockFormat {
    /// 32-byte block with 16-bit counts and five time fields.
    Format0,
    /// 64-byte block (extended measurement block) with 32-bit counts and
    /// seven time fields.
    Format1,
}

/// Offsets of the fields in a block of one format.
struct Layout {
    /// Width of the two counts (bytes).
    count_width: usize,
    /// Offset of the sample count (the SSCH + RSCH count is at 0).
    sample_count: usize,
    /// Offset of the first time field.
    times: usize,
    /// Number of 4-byte time fields.
    n_times: usize,
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

    /// Number of time fields: five in format 0, seven in format 1 (which
    /// adds device-busy and initial-command-response time).
    #[must_use]
    pub const fn time_fields(self) -> usize {
        self.layout().n_times
    }

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

/// Times of one sample (or accumulated times), in units of 128 µs (see
/// [`TIME_UNIT`]). Field order is the block's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    /// Device-connect time: the device was connected to a channel path
    /// (commands and data moving).
    pub device_connect: u32,
    /// Function-pending time: from the start or resume function being taken
    /// up at the subchannel until the device is selected.
    pub function_pending: u32,
    /// Device-disconnect time: the subchannel was active but the device
    /// disconnected.
    pub device_disconnect: u32,
    /// Control-unit-queuing time: the start waited for a busy control unit.
    pub control_unit_queuing: u32,
    /// Device-active-only time: from primary status (channel end) to
    /// secondary status (device end).
    pub device_active_only: u32,
    /// Device-busy time: the device was busy when the start was attempted
    /// (format 1 only).
    pub device_busy: u32,
    /// Initial-command-response time: from the first command being sent
    /// until the device accepted it (format 1 only).
    pub initial_command_response: u32,
}

impl Sample {
    /// Converts a duration into 128-µs units, saturating at `u32::MAX`.
    #[must_use]
    pub fn units(d: Duration) -> u32 {
        let n = d.as_micros() / TIME_UNIT.as_micros();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// A sample from measured durations of the function-pending,
    /// device-connect and device-disconnect intervals.
    #[must_use]
    pub fn from_durations(function_pending: Duration, device_connect: Duration, device_disconnect: Duration) -> Self {
        Self {
            device_connect: Self::units(device_connect),
            function_pending: Self::units(function_pending),
            device_disconnect: Self::units(device_disconnect),
            ..Self::default()
        }
    }

    /// Field-wise wrapping sum (the block's fields wrap the same way).
    #[must_use]
    pub const fn wrapping_add(self, o: Self) -> Self {
        Self {
            device_connect: self.device_connect.wrapping_add(o.device_connect),
            function_pending: self.function_pending.wrapping_add(o.function_pending),
            device_disconnect: self.device_disconnect.wrapping_add(o.device_disconnect),
            control_unit_queuing: self.control_unit_queuing.wrapping_add(o.control_unit_queuing),
            device_active_only: self.device_active_only.wrapping_add(o.device_active_only),
            device_busy: self.device_busy.wrapping_add(o.device_busy),
            initial_command_response: self.initial_command_response.wrapping_add(o.initial_command_response),
        }
    }

    /// The fields in block order.
    const fn fields(&self) -> [u32; 7] {
        [
            self.device_connect,
            self.function_pending,
            self.device_disconnect,
            self.control_unit_queuing,
            self.device_active_only,
            self.device_busy,
            self.initial_command_response,
        ]
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
    /// Address and length of the block's time fields (what the timing
    /// facility stores from its clock).
    #[must_use]
    pub const fn time_fields(&self) -> (u64, u64) {
        let l = self.format.layout();
        (self.addr.wrapping_add(l.times as u64), 4 * l.n_times as u64)
    }

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

    /// Adds one to the sample count and the sample's times to the time
    /// fields (each wrapping), in one fetch and one store. Format 0 has no
    /// device-busy and initial-command-response fields; those times are
    /// dropped.
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
        for (i, t) in sample.fields().iter().take(l.n_times).enumerate() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use zcss_ccw::memory::VecMemory;

    fn seven() -> Sample {
        Sample {
            device_connect: 1,
            function_pending: 2,
            device_disconnect: 3,
            control_unit_queuing: 4,
            device_active_only: 5,
            device_busy: 6,
            initial_command_response: 7,
        }
    }

    #[test]
    fn sample_units_are_128_microseconds() {
        assert_eq!(Sample::units(Duration::from_micros(127)), 0);
        assert_eq!(Sample::units(Duration::from_micros(128)), 1);
        assert_eq!(Sample::units(Duration::from_millis(1)), 7);
        assert_eq!(Sample::units(Duration::from_secs(u64::MAX)), u32::MAX);
        assert_eq!(TIME_UNIT.as_nanos(), u128::from(TIME_UNIT_NS));
        let s = Sample::from_durations(
            Duration::from_micros(256),
            Duration::from_micros(1280),
            Duration::from_micros(384),
        );
        assert_eq!((s.function_pending, s.device_connect, s.device_disconnect), (2, 10, 3));
    }

    #[test]
    fn sample_wrapping_add_adds_each_field() {
        let s = seven().wrapping_add(seven());
        assert_eq!(s.fields(), [2, 4, 6, 8, 10, 12, 14]);
        let max = Sample {
            device_busy: u32::MAX,
            ..Sample::default()
        };
        assert_eq!(max.wrapping_add(seven()).device_busy, 5);
    }

    #[test]
    fn time_fields_cover_five_words_in_format0_and_seven_in_format1() {
        let b0 = MeasurementBlock {
            addr: 0x1000,
            format: BlockFormat::Format0,
            key: AccessKey::ZERO,
        };
        assert_eq!(b0.time_fields(), (0x1004, 20));
        let b1 = MeasurementBlock {
            format: BlockFormat::Format1,
            ..b0
        };
        assert_eq!(b1.time_fields(), (0x1008, 28));
        assert_eq!(BlockFormat::Format0.time_fields(), 5);
        assert_eq!(BlockFormat::Format1.time_fields(), 7);
    }

    #[test]
    fn add_sample_format0_lays_out_like_linux_struct_cmb() {
        let mem = VecMemory::new(0x2000);
        let b = MeasurementBlock {
            addr: 0x1000,
            format: BlockFormat::Format0,
            key: AccessKey::ZERO,
        };
        b.add_sample(&seven(), &mem).unwrap();
        let want: Vec<u8> = [
            &[0, 0, 0, 1][..],
            &[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5],
            &[0; 8],
        ]
        .concat();
        assert_eq!(mem.fetch(0x1000, 32).unwrap(), want);
    }

    #[test]
    fn add_sample_format1_lays_out_like_linux_struct_cmbe() {
        let mem = VecMemory::new(0x2000);
        let b = MeasurementBlock {
            addr: 0x1000,
            format: BlockFormat::Format1,
            key: AccessKey::ZERO,
        };
        b.add_start(&mem).unwrap();
        b.add_sample(&seven(), &mem).unwrap();
        let mut want = vec![0, 0, 0, 1, 0, 0, 0, 1];
        for v in 1..=7u8 {
            want.extend_from_slice(&[0, 0, 0, v]);
        }
        want.resize(64, 0);
        assert_eq!(mem.fetch(0x1000, 64).unwrap(), want);
        assert_eq!(
            b.read(&mem).unwrap(),
            BlockContents {
                ssch_rsch_count: 1,
                sample_count: 1,
                times: seven()
            }
        );
    }
}
