//! Channel-command words, format 0 and format 1 (Principles of Operation,
//! chapter 15, "Channel-Command Word").
//!
//! Format 0 (ORB F = 0): `cmd(8) data-address(24) flags(8) reserved(8) count(16)`.
//! Format 1 (ORB F = 1): `cmd(8) flags(8) count(16) data-address(32)`, where bit 32
//! (the first bit of the address) must be zero.
//!
//! Both decode into [`Ccw`], the format-independent view the engine and the
//! devices use; the raw forms [`Ccw0`] and [`Ccw1`] keep every bit for tools.

use bitfield_struct::bitfield;

use crate::address::{AddrLimit, GuestAddr};

/// Command code of TRANSFER IN CHANNEL (low four bits `1000`, high four ignored
/// in format 0 and required zero in format 1).
pub const CMD_TIC: u8 = 0x08;

/// The CCW flag byte (format-1 bits 8–15, format-0 bits 32–39).
#[bitfield(u8, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct CcwFlags {
    /// CD, bit 0 of the byte: chain data.
    pub cd: bool,
    /// CC, bit 1: chain command.
    pub cc: bool,
    /// SLI, bit 2: suppress length indication.
    pub sli: bool,
    /// SKP, bit 3: skip (suppress transfer of data to storage).
    pub skip: bool,
    /// PCI, bit 4: program-controlled interruption.
    pub pci: bool,
    /// IDA, bit 5: indirect data addressing.
    pub ida: bool,
    /// S, bit 6: suspend.
    pub suspend: bool,
    /// MIDA, bit 7: modified indirect data addressing.
    pub mida: bool,
}

/// A format-0 CCW as stored (big-endian doubleword).
#[bitfield(u64, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct Ccw0 {
    /// Bits 0–7: command code.
    pub cmd: u8,
    /// Bits 8–31: data address (24 bits).
    #[bits(24)]
    pub cda: u32,
    /// Bits 32–39: flags.
    #[bits(8)]
    pub flags: CcwFlags,
    /// Bits 40–47: ignored by the channel subsystem.
    pub reserved: u8,
    /// Bits 48–63: count.
    pub count: u16,
}

/// A format-1 CCW as stored (big-endian doubleword).
#[bitfield(u64, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct Ccw1 {
    /// Bits 0–7: command code.
    pub cmd: u8,
    /// Bits 8–15: flags.
    #[bits(8)]
    pub flags: CcwFlags,
    /// Bits 16–31: count.
    pub count: u16,
    /// Bits 32–63: data address; bit 32 must be zero.
    pub cda: u32,
}

impl Ccw0 {
    /// Decodes the stored big-endian form.
    #[must_use]
    pub const fn from_be_bytes(b: [u8; 8]) -> Self {
        Self::from_bits(u64::from_be_bytes(b))
    }

    /// Encodes to the stored big-endian form.
    #[must_use]
    pub const fn to_be_bytes(self) -> [u8; 8] {
        self.into_bits().to_be_bytes()
    }
}

impl Ccw1 {
    /// Decodes the stored big-endian form.
    #[must_use]
    pub const fn from_be_bytes(b: [u8; 8]) -> Self {
        Self::from_bits(u64::from_be_bytes(b))
    }

    /// Encodes to the stored big-endian form.
    #[must_use]
    pub const fn to_be_bytes(self) -> [u8; 8] {
        self.into_bits().to_be_bytes()
    }
}

/// The format of the CCWs of a channel program (ORB bit F).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CcwFormat {
    /// Format 0: 24-bit data addresses.
    Format0,
    /// Format 1: 31-bit data addresses.
    Format1,
}

impl CcwFormat {
    /// The limit of the data and CCW addresses of the format (2^24 or 2^31).
    #[must_use]
    pub const fn address_limit(self) -> AddrLimit {
        match self {
            Self::Format0 => AddrLimit::Bits24,
            Self::Format1 => AddrLimit::Bits31,
        }
    }
}

/// A CCW in format-independent form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ccw {
    /// Command code.
    pub cmd: u8,
    /// Flags.
    pub flags: CcwFlags,
    /// Byte count.
    pub count: u16,
    /// Data address (or IDAL/MIDAL address, or TIC target). For format 1
    /// this is the full 32-bit field, so that bit 32 can be checked.
    pub cda: u32,
}

impl Ccw {
    /// Decodes a stored CCW of the given format.
    #[must_use]
    pub const fn decode(format: CcwFormat, b: [u8; 8]) -> Self {
        match format {
            CcwFormat::Format0 => {
                let c = Ccw0::from_be_bytes(b);
                Self {
                    cmd: c.cmd(),
                    flags: c.flags(),
                    count: c.count(),
                    cda: c.cda(),
                }
            }
            CcwFormat::Format1 => {
                let c = Ccw1::from_be_bytes(b);
                Self {
                    cmd: c.cmd(),
                    flags: c.flags(),
                    count: c.count(),
                    cda: c.cda(),
                }
            }
        }
    }

    /// Encodes in format 1 (the data address is stored as given).
    #[must_use]
    pub const fn to_format1(self) -> Ccw1 {
        Ccw1::new()
            .with_cmd(self.cmd)
            .with_flags(self.flags)
            .with_count(self.count)
            .with_cda(self.cda)
    }

    /// The data-address field read as an address of `format`: the data
    /// address, or with IDA or MIDA the address of the IDAL or MIDAL.
    /// `None` when the field does not hold one: a format-1 field with bit 32
    /// (the first bit of the address) set, or a hand-built format-0 value
    /// wider than 24 bits. For a TIC the field is the target, a
    /// [`CcwAddress`](crate::CcwAddress) validated when fetched.
    #[must_use]
    pub const fn data_address(&self, format: CcwFormat) -> Option<GuestAddr> {
        GuestAddr::new(self.cda as u64, format.address_limit())
    }

    /// Whether this is a TRANSFER IN CHANNEL (low four bits `1000`). Format 0
    /// ignores the high four bits; in format 1 they must be zero, which the
    /// engine checks (program check).
    #[must_use]
    pub const fn is_tic(&self) -> bool {
        self.cmd & 0x0f == CMD_TIC
    }

    /// Whether the command code is a read-backward command (`xxxx1100`).
    #[must_use]
    pub const fn is_read_backward(&self) -> bool {
        self.cmd & 0x0f == 0x0c
    }

    /// Whether the command is a write-type command (`xxxxxx01`): data flows
    /// from storage to the device.
    #[must_use]
    pub const fn is_write(&self) -> bool {
        self.cmd & 0x03 == 0x01
    }

    /// Whether the command is a read-type command (`xxxxxx10`), a sense
    /// (`xxxx0100`) or read backward (`xxxx1100`): data flows into storage.
    #[must_use]
    pub const fn is_input(&self) -> bool {
        self.cmd & 0x03 == 0x02 || self.cmd & 0x0f == 0x04 || self.cmd & 0x0f == 0x0c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ccw1_decodes_sense_id() {
        // SENSE ID, SLI, count 256, data at 0x2000.
        let c = Ccw::decode(CcwFormat::Format1, [0xe4, 0x20, 0x01, 0x00, 0x00, 0x00, 0x20, 0x00]);
        assert_eq!(c.cmd, 0xe4);
        assert!(c.flags.sli());
        assert!(!c.flags.cc());
        assert_eq!(c.count, 256);
        assert_eq!(c.cda, 0x2000);
    }

    #[test]
    fn ccw0_decodes_24bit_address_and_flags() {
        let c = Ccw::decode(CcwFormat::Format0, [0x02, 0x12, 0x34, 0x56, 0x44, 0xff, 0x00, 0x50]);
        assert_eq!(c.cmd, 0x02);
        assert_eq!(c.cda, 0x0012_3456);
        assert!(c.flags.cc());
        assert!(c.flags.ida());
        assert_eq!(c.count, 0x50);
    }

    #[test]
    fn data_address_applies_the_format_limit() {
        let mut c = Ccw::decode(CcwFormat::Format1, [0x02, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff]);
        assert_eq!(
            c.data_address(CcwFormat::Format1).map(GuestAddr::get),
            Some(0x7fff_ffff)
        );
        assert_eq!(c.data_address(CcwFormat::Format0), None);
        c.cda = 0x8000_0000;
        assert_eq!(c.data_address(CcwFormat::Format1), None);
        c.cda = 0x00ff_ffff;
        assert_eq!(
            c.data_address(CcwFormat::Format0).map(GuestAddr::limit),
            Some(AddrLimit::Bits24)
        );
    }

    #[test]
    fn flags_are_in_poo_bit_order() {
        assert_eq!(CcwFlags::new().with_cd(true).into_bits(), 0x80);
        assert_eq!(CcwFlags::new().with_cc(true).into_bits(), 0x40);
        assert_eq!(CcwFlags::new().with_sli(true).into_bits(), 0x20);
        assert_eq!(CcwFlags::new().with_skip(true).into_bits(), 0x10);
        assert_eq!(CcwFlags::new().with_pci(true).into_bits(), 0x08);
        assert_eq!(CcwFlags::new().with_ida(true).into_bits(), 0x04);
        assert_eq!(CcwFlags::new().with_suspend(true).into_bits(), 0x02);
        assert_eq!(CcwFlags::new().with_mida(true).into_bits(), 0x01);
    }

    #[test]
    fn command_direction_classification() {
        let mk = |cmd| Ccw {
            cmd,
            flags: CcwFlags::new(),
            count: 1,
            cda: 0,
        };
        assert!(mk(0x01).is_write());
        assert!(mk(0x02).is_input());
        assert!(mk(0x04).is_input());
        assert!(mk(0xe4).is_input());
        assert!(mk(0x0c).is_input() && mk(0x0c).is_read_backward());
        assert!(!mk(0x03).is_input() && !mk(0x03).is_write());
        assert!(mk(0x08).is_tic());
        assert!(mk(0x18).is_tic());
    }

    proptest::proptest! {
        #[test]
        fn ccw1_encode_decode_identity(raw: [u8; 8]) {
            proptest::prop_assert_eq!(Ccw1::from_be_bytes(raw).to_be_bytes(), raw);
        }

        #[test]
        fn ccw0_encode_decode_identity(raw: [u8; 8]) {
            proptest::prop_assert_eq!(Ccw0::from_be_bytes(raw).to_be_bytes(), raw);
        }

        #[test]
        fn ccw_format1_roundtrip(raw: [u8; 8]) {
            let c = Ccw::decode(CcwFormat::Format1, raw);
            proptest::prop_assert_eq!(c.to_format1().to_be_bytes(), raw);
        }
    }
}
