//! Indirect-data-address words and modified-indirect-data-address words
//! (Principles of Operation, chapter 15, "Indirect Data Addressing" and
//! "Modified Indirect Data Addressing").
//!
//! * A **format-1 IDAW** (ORB H = 0) is a word: bit 0 must be zero, bits 1–31
//!   hold a 31-bit absolute address. Blocks are 2K.
//! * A **format-2 IDAW** (ORB H = 1) is a doubleword holding a 64-bit absolute
//!   address. Blocks are 4K, or 2K when the ORB 2K-IDAW control (T) is one.
//! * A **MIDAW** (ORB D = 1 and CCW MIDA flag) is a quadword: bits 0–39
//!   reserved, bits 40–47 flags (last, skip, data-transfer interruption, the
//!   rest reserved), bits 48–63 count, bits 64–127 a 64-bit data address.
//!
//! In every IDAL the first IDAW may address any byte; each following IDAW
//! must address the start of a block. A MIDAW may not cross a 4K boundary
//! (unless it skips), and the MIDAW counts must add up to the CCW count.

use bitfield_struct::bitfield;

use crate::address::GuestAddr;

/// Size in bytes of a format-1 IDAW.
pub const IDAW1_LEN: u64 = 4;
/// Size in bytes of a format-2 IDAW.
pub const IDAW2_LEN: u64 = 8;
/// Size in bytes of a MIDAW.
pub const MIDAW_LEN: u64 = 16;
/// A MIDAW's data area may not cross this boundary.
pub const MIDAW_BOUNDARY: u64 = 4096;

/// A format-1 IDAW (31-bit address, 2K blocks).
#[bitfield(u32, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct Idaw1 {
    /// Bit 0: must be zero (program check otherwise).
    pub reserved: bool,
    /// Bits 1–31: data address.
    #[bits(31)]
    pub addr: u32,
}

impl Idaw1 {
    /// Decodes the stored big-endian form.
    #[must_use]
    pub const fn from_be_bytes(b: [u8; 4]) -> Self {
        Self::from_bits(u32::from_be_bytes(b))
    }

    /// Encodes to the stored big-endian form.
    #[must_use]
    pub const fn to_be_bytes(self) -> [u8; 4] {
        self.into_bits().to_be_bytes()
    }

    /// Whether the IDAW is valid (bit 0 zero).
    #[must_use]
    pub const fn is_valid(self) -> bool {
        !self.reserved()
    }

    /// The data address (bits 1–31) as a 31-bit address; `None` when the
    /// IDAW is invalid (bit 0 one).
    #[must_use]
    pub const fn data_address(self) -> Option<GuestAddr> {
        if self.is_valid() {
            Some(GuestAddr::from_u31(self.addr()))
        } else {
            None
        }
    }
}

/// A format-2 IDAW (64-bit address, 4K or 2K blocks).
#[bitfield(u64, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct Idaw2 {
    /// Bits 0–63: data address.
    pub addr: u64,
}

impl Idaw2 {
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

    /// The data address as a 64-bit address.
    #[must_use]
    pub const fn data_address(self) -> GuestAddr {
        GuestAddr::from_u64(self.addr())
    }
}

/// The MIDAW flag byte (MIDAW bits 40–47).
#[bitfield(u8, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct MidawFlags {
    /// Bit 40: last MIDAW of the list.
    pub last: bool,
    /// Bit 41: skip (input data is not stored).
    pub skip: bool,
    /// Bit 42: data-transfer interruption.
    pub dti: bool,
    /// Bits 43–47: reserved, must be zero.
    #[bits(5)]
    pub reserved: u8,
}

/// A modified indirect-data-address word.
#[bitfield(u128, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct Midaw {
    /// Bits 0–39: reserved, must be zero.
    #[bits(40)]
    pub reserved: u64,
    /// Bits 40–47: flags.
    #[bits(8)]
    pub flags: MidawFlags,
    /// Bits 48–63: count.
    pub count: u16,
    /// Bits 64–127: data address.
    pub addr: u64,
}

impl Midaw {
    /// Decodes the stored big-endian form.
    #[must_use]
    pub const fn from_be_bytes(b: [u8; 16]) -> Self {
        Self::from_bits(u128::from_be_bytes(b))
    }

    /// Encodes to the stored big-endian form.
    #[must_use]
    pub const fn to_be_bytes(self) -> [u8; 16] {
        self.into_bits().to_be_bytes()
    }

    /// Whether every reserved bit is zero and the count is not zero.
    #[must_use]
    pub const fn is_valid(self) -> bool {
        self.reserved() == 0 && self.flags().reserved() == 0 && self.count() != 0
    }

    /// The data address (bits 64–127) as a 64-bit address.
    #[must_use]
    pub const fn data_address(self) -> GuestAddr {
        GuestAddr::from_u64(self.addr())
    }

    /// Whether the data area crosses a 4K boundary.
    #[must_use]
    pub const fn crosses_4k(self) -> bool {
        (self.addr() % MIDAW_BOUNDARY) + self.count() as u64 > MIDAW_BOUNDARY
    }
}

/// Which IDAW format (and block size) an ORB selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdawFormat {
    /// ORB H = 0: format-1 IDAWs, 2K blocks.
    Format1,
    /// ORB H = 1, T = 0: format-2 IDAWs, 4K blocks.
    Format2_4K,
    /// ORB H = 1, T = 1: format-2 IDAWs, 2K blocks.
    Format2_2K,
}

impl IdawFormat {
    /// Selects the format from the ORB H and T bits.
    #[must_use]
    pub const fn from_orb(h: bool, t: bool) -> Self {
        match (h, t) {
            (false, _) => Self::Format1,
            (true, false) => Self::Format2_4K,
            (true, true) => Self::Format2_2K,
        }
    }

    /// Size of one IDAW (also the required IDAL alignment).
    #[must_use]
    pub const fn idaw_len(self) -> u64 {
        match self {
            Self::Format1 => IDAW1_LEN,
            Self::Format2_4K | Self::Format2_2K => IDAW2_LEN,
        }
    }

    /// Data block size addressed by one IDAW.
    #[must_use]
    pub const fn block(self) -> u64 {
        match self {
            Self::Format1 | Self::Format2_2K => 2048,
            Self::Format2_4K => 4096,
        }
    }

    /// Number of IDAWs (and so the IDAL length in IDAWs) needed to address
    /// `count` bytes starting at `first`: the Linux "IDAL length by format"
    /// fix computes exactly this. At least one IDAW for a zero count.
    #[must_use]
    pub const fn idaws_for(self, first: u64, count: u16) -> u64 {
        let block = self.block();
        let bytes = if count == 0 { 1 } else { count as u64 };
        ((first % block) + bytes).div_ceil(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idaw1_bit0_is_reserved() {
        assert!(!Idaw1::from_be_bytes([0x80, 0, 0x10, 0]).is_valid());
        let w = Idaw1::from_be_bytes([0x7f, 0xff, 0xf8, 0x00]);
        assert!(w.is_valid());
        assert_eq!(w.addr(), 0x7fff_f800);
        assert_eq!(w.data_address().map(GuestAddr::get), Some(0x7fff_f800));
        assert_eq!(Idaw1::from_be_bytes([0x80, 0, 0x10, 0]).data_address(), None);
    }

    #[test]
    fn idaw2_holds_64bit_address() {
        let w = Idaw2::from_be_bytes([0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x20, 0x00]);
        assert_eq!(w.addr(), 0x1_0000_2000);
        assert_eq!(w.data_address().get(), 0x1_0000_2000);
    }

    #[test]
    fn midaw_decodes_fields_in_poo_order() {
        let raw = [0, 0, 0, 0, 0, 0xc0, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0x30, 0x00];
        let m = Midaw::from_be_bytes(raw);
        assert!(m.flags().last());
        assert!(m.flags().skip());
        assert!(!m.flags().dti());
        assert_eq!(m.count(), 0x100);
        assert_eq!(m.addr(), 0x3000);
        assert!(m.is_valid());
        assert!(!m.crosses_4k());
        assert_eq!(MidawFlags::new().with_dti(true).into_bits(), 0x20);
    }

    #[test]
    fn midaw_reserved_bits_or_zero_count_are_invalid() {
        let mut raw = [0u8; 16];
        raw[7] = 1;
        assert!(Midaw::from_be_bytes(raw).is_valid());
        raw[0] = 1;
        assert!(!Midaw::from_be_bytes(raw).is_valid());
        raw[0] = 0;
        raw[5] = 0x10; // reserved flag bit
        assert!(!Midaw::from_be_bytes(raw).is_valid());
        raw[5] = 0;
        raw[7] = 0;
        assert!(!Midaw::from_be_bytes(raw).is_valid());
    }

    #[test]
    fn midaw_crossing_4k_is_detected() {
        let m = Midaw::new().with_count(2).with_addr(0xfff);
        assert!(m.crosses_4k());
        assert!(!Midaw::new().with_count(1).with_addr(0xfff).crosses_4k());
        assert!(!Midaw::new().with_count(4096).with_addr(0x1000).crosses_4k());
    }

    #[test]
    fn idal_length_depends_on_format() {
        assert_eq!(IdawFormat::Format1.idaws_for(0x1000, 4096), 2);
        assert_eq!(IdawFormat::Format2_4K.idaws_for(0x1000, 4096), 1);
        assert_eq!(IdawFormat::Format2_4K.idaws_for(0x1ff0, 32), 2);
        assert_eq!(IdawFormat::Format2_2K.idaws_for(0x1000, 0), 1);
        assert_eq!(IdawFormat::Format1.idaw_len(), 4);
        assert_eq!(IdawFormat::from_orb(true, true), IdawFormat::Format2_2K);
        assert_eq!(IdawFormat::from_orb(false, true), IdawFormat::Format1);
    }

    proptest::proptest! {
        #[test]
        fn idaw1_roundtrip(raw: [u8; 4]) {
            proptest::prop_assert_eq!(Idaw1::from_be_bytes(raw).to_be_bytes(), raw);
        }

        #[test]
        fn idaw2_roundtrip(raw: [u8; 8]) {
            proptest::prop_assert_eq!(Idaw2::from_be_bytes(raw).to_be_bytes(), raw);
        }

        #[test]
        fn midaw_roundtrip(raw: [u8; 16]) {
            proptest::prop_assert_eq!(Midaw::from_be_bytes(raw).to_be_bytes(), raw);
        }
    }
}
