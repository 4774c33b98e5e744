//! The architected unit-check sense of the 3990 for a 3390 (IBM 3990
//! Storage Control Reference GA32-0099, "Sense Information"; the byte
//! layout is the one Linux `dasd_3990_erp.c` decodes and
//! `shared/spec/dasd-notes.md` §3 records).
//!
//! | byte | 24-byte-compatible format (byte 27 bit 0 = 1) |
//! |---|---|
//! | 0 | 80 command reject, 40 intervention required, 10 equipment check, 08 data check, 01 operation incomplete |
//! | 1 | 40 invalid track format, 20 end of cylinder, 08 no record found, 04 file protected, 02 write inhibited, 01 imprecise end |
//! | 3 | Locate Record count not processed (with imprecise end or operation incomplete) |
//! | 4 | unit address |
//! | 5–6 | cylinder low byte; cylinder high nibble ‖ head (`FF FF` above 4,095 cylinders) |
//! | 7 | format (high nibble) ‖ message (low nibble): format 0 messages of command reject |
//! | 27 | `80`: 24-byte-compatible sense |
//! | 29–30, 31 | cylinder, head |
//!
//! The native 32-byte format keeps bytes 0–3, moves the format to byte 6
//! (low nibble) and the message to byte 7, and gives the program action
//! code in byte 25 (`01` = the program is in error, do not retry; `00` =
//! retry), which is what the 32-byte path of Linux's ERP reads. Byte 27
//! bit 0 is zero.

use zcss_ccw::Sense;

use crate::track::TrackAddr;

/// Format-0 messages of command reject (sense byte 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectMsg {
    /// Message 1: invalid command (not supported by this storage control).
    InvalidCommand = 1,
    /// Message 2: invalid command sequence.
    InvalidSequence = 2,
    /// Message 3: CCW count less than required.
    CountTooSmall = 3,
    /// Message 4: invalid parameter.
    InvalidParameter = 4,
    /// Message 5: diagnostic command not permitted.
    DiagnosticNotPermitted = 5,
}

/// Why a command ended with unit check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Command reject (byte 0 bit 0) with its format-0 message.
    Reject(RejectMsg),
    /// The channel program ended inside a Locate Record domain: command
    /// reject and operation incomplete (byte 0 `81`), message 2.
    DomainIncomplete,
    /// No record found (byte 1 bit 4).
    NoRecordFound,
    /// File protected (byte 1 bit 5): outside the defined extent, or a
    /// seek or multitrack operation the file mask forbids.
    FileProtected,
    /// Invalid track format (byte 1 bit 1): a record does not fit the
    /// track, or its length does not match the transfer length factor.
    InvalidTrackFormat,
    /// End of cylinder (byte 1 bit 2): a multitrack operation outside a
    /// Locate Record domain ran past the last head.
    EndOfCylinder,
    /// Write inhibited (byte 1 bit 6): the volume is read-only.
    WriteInhibited,
    /// Equipment check (byte 0 bit 3): the volume's store failed.
    EquipmentCheck,
    /// Data check (byte 0 bit 4): a track image could not be read as a
    /// track.
    DataCheck,
}

impl Fault {
    /// Command reject with `msg`.
    #[must_use]
    pub const fn reject(msg: RejectMsg) -> Self {
        Self::Reject(msg)
    }

    /// Whether the fault is a program error (no retry helps).
    #[must_use]
    pub const fn is_program_error(self) -> bool {
        !matches!(self, Self::EquipmentCheck | Self::DataCheck)
    }

    /// Sense bytes 0 and 1 and the message of byte 7.
    const fn bytes(self) -> (u8, u8, u8) {
        match self {
            Self::Reject(m) => (0x80, 0, m as u8),
            Self::DomainIncomplete => (0x81, 0, RejectMsg::InvalidSequence as u8),
            Self::NoRecordFound => (0, 0x08, 0),
            Self::FileProtected => (0, 0x04, 0),
            Self::InvalidTrackFormat => (0, 0x40, 0),
            Self::EndOfCylinder => (0, 0x20, 0),
            Self::WriteInhibited => (0, 0x02, 0),
            Self::EquipmentCheck => (0x10, 0, 0),
            Self::DataCheck => (0x08, 0, 0),
        }
    }
}

/// The sense layout the device presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SenseFormat {
    /// 24-byte-compatible sense in 32 bytes (byte 27 bit 0 set): what a
    /// 3990 in 3990 mode presents and what Linux's 24-byte ERP expects.
    #[default]
    Compat24,
    /// Native 32-byte sense (byte 27 bit 0 zero, program action code in
    /// byte 25).
    Native32,
}

/// Where the device stood when the fault happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SenseContext {
    /// The track the device was on.
    pub track: TrackAddr,
    /// The device's unit address.
    pub unit_address: u8,
    /// The Locate Record count not yet processed, when the fault ended a
    /// Locate Record domain early (imprecise end).
    pub lr_residual: Option<u8>,
}

/// Builds the sense bytes of `fault` (`None`: the "no error" sense that
/// SENSE returns when nothing is pending).
#[must_use]
pub fn build(fault: Option<Fault>, ctx: SenseContext, format: SenseFormat) -> Sense {
    let mut b = [0u8; 32];
    if let Some(f) = fault {
        let (b0, b1, msg) = f.bytes();
        b[0] = b0;
        b[1] = b1;
        if let Some(left) = ctx.lr_residual {
            b[3] = left;
            if !matches!(f, Fault::DomainIncomplete) {
                b[1] |= 0x01;
            }
        }
        match format {
            SenseFormat::Compat24 => b[7] = msg,
            SenseFormat::Native32 => {
                b[7] = msg;
                b[25] = u8::from(f.is_program_error());
            }
        }
    }
    b[4] = ctx.unit_address;
    let cyl = ctx.track.cyl;
    let head = u8::try_from(ctx.track.head & 0x0f).unwrap_or(0);
    if cyl > 0x0fff {
        b[5] = 0xff;
        b[6] = 0xff;
    } else {
        let [hi, lo] = u16::try_from(cyl).unwrap_or(0).to_be_bytes();
        b[5] = lo;
        b[6] = ((hi & 0x0f) << 4) | head;
    }
    if format == SenseFormat::Compat24 {
        b[27] = 0x80;
    }
    let [c0, c1] = u16::try_from(cyl).unwrap_or(u16::MAX).to_be_bytes();
    b[29] = c0;
    b[30] = c1;
    b[31] = head;
    Sense { bytes: b, len: 32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> SenseContext {
        SenseContext {
            track: TrackAddr::new(0x123, 4),
            unit_address: 0x21,
            lr_residual: None,
        }
    }

    #[test]
    fn reject_carries_message_and_position() {
        let s = build(
            Some(Fault::reject(RejectMsg::CountTooSmall)),
            ctx(),
            SenseFormat::Compat24,
        );
        assert_eq!(&s.bytes[..8], &[0x80, 0, 0, 0, 0x21, 0x23, 0x14, 3]);
        assert_eq!(s.bytes[27], 0x80);
        assert_eq!(&s.bytes[29..], &[0x01, 0x23, 4]);
    }

    #[test]
    fn imprecise_end_sets_byte1_bit7_and_residual() {
        let c = SenseContext {
            lr_residual: Some(5),
            ..ctx()
        };
        let s = build(Some(Fault::NoRecordFound), c, SenseFormat::Compat24);
        assert_eq!(s.bytes[1], 0x09);
        assert_eq!(s.bytes[3], 5);
        let s = build(Some(Fault::DomainIncomplete), c, SenseFormat::Compat24);
        assert_eq!((s.bytes[0], s.bytes[1], s.bytes[7]), (0x81, 0, 2));
    }

    #[test]
    fn native_format_has_program_action_code_and_no_compat_flag() {
        let s = build(Some(Fault::FileProtected), ctx(), SenseFormat::Native32);
        assert_eq!(s.bytes[1], 0x04);
        assert_eq!(s.bytes[25], 1);
        assert_eq!(s.bytes[27], 0);
        let s = build(Some(Fault::EquipmentCheck), ctx(), SenseFormat::Native32);
        assert_eq!((s.bytes[0], s.bytes[25]), (0x10, 0));
    }

    #[test]
    fn large_cylinders_give_ff_in_bytes_5_and_6() {
        let c = SenseContext {
            track: TrackAddr::new(10_000, 2),
            ..ctx()
        };
        let s = build(None, c, SenseFormat::Compat24);
        assert_eq!(&s.bytes[5..7], &[0xff, 0xff]);
        assert_eq!(s.bytes[0], 0);
        assert_eq!(&s.bytes[29..], &[0x27, 0x10, 2]);
    }
}
