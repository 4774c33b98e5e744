//! The I/O-interruption code (Principles of Operation, chapter 6,
//! "Interruptions", "I/O Interruption"; chapter 14, "TEST PENDING
//! INTERRUPTION").
//!
//! Three words: the subchannel-identification word, the interruption
//! parameter and the interruption-identification word. An I/O interruption
//! stores all twelve bytes at real locations 184–195 (`0xb8`–`0xc3`);
//! TEST PENDING INTERRUPTION with a non-zero second-operand address stores
//! only the first eight bytes there, and with address zero all twelve at
//! 184–195.
//!
//! Interruption-identification word:
//!
//! | bits  | field |
//! |-------|-------|
//! | 0     | A: adapter interruption |
//! | 1     | reserved (Linux names it a directed-interruption flag) |
//! | 2–4   | ISC: interruption subclass |
//! | 5–31  | reserved |
//!
//! So an I/O interruption on ISC `n` has the word `n << 27`, an adapter
//! interruption `0x8000_0000 | n << 27`.

use bitfield_struct::bitfield;

use crate::sid::SubchannelId;

/// The interruption-identification word.
#[bitfield(u32, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct InterruptionId {
    /// Bit 0 (A): adapter interruption.
    pub adapter: bool,
    /// Bit 1: reserved.
    pub reserved1: bool,
    /// Bits 2–4: interruption subclass.
    #[bits(3)]
    pub isc: u8,
    /// Bits 5–31: reserved.
    #[bits(27)]
    pub reserved: u32,
}

/// The I/O-interruption code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct InterruptionCode {
    /// Word 0: subchannel-identification word (zero for an adapter interruption).
    pub sid: u32,
    /// Word 1: interruption parameter (zero for an adapter interruption).
    pub intparm: u32,
    /// Word 2: interruption-identification word.
    pub iiw: InterruptionId,
}

impl InterruptionCode {
    /// Real address where an I/O interruption stores the code.
    pub const LOWCORE_ADDR: u64 = 0xb8;
    /// Length stored by TEST PENDING INTERRUPTION at a non-zero address.
    pub const TPI_LEN: usize = 8;
    /// Length stored at [`Self::LOWCORE_ADDR`].
    pub const LOWCORE_LEN: usize = 12;

    /// The code of an I/O interruption for subchannel `sid` on ISC `isc`
    /// (only its low three bits are used).
    #[must_use]
    pub const fn io(sid: SubchannelId, mcss_enabled: bool, intparm: u32, isc: u8) -> Self {
        Self {
            sid: sid.to_word(mcss_enabled),
            intparm,
            iiw: InterruptionId::new().with_isc(isc & 7),
        }
    }

    /// The code of an adapter interruption on ISC `isc` (low three bits used).
    #[must_use]
    pub const fn adapter(isc: u8) -> Self {
        Self {
            sid: 0,
            intparm: 0,
            iiw: InterruptionId::new().with_adapter(true).with_isc(isc & 7),
        }
    }

    /// The twelve bytes stored at [`Self::LOWCORE_ADDR`].
    #[must_use]
    pub const fn to_lowcore_bytes(&self) -> [u8; 12] {
        let a = self.sid.to_be_bytes();
        let b = self.intparm.to_be_bytes();
        let c = self.iiw.into_bits().to_be_bytes();
        [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3], c[0], c[1], c[2], c[3]]
    }

    /// The eight bytes TEST PENDING INTERRUPTION stores at a non-zero address.
    #[must_use]
    pub const fn to_tpi_bytes(&self) -> [u8; 8] {
        let a = self.sid.to_be_bytes();
        let b = self.intparm.to_be_bytes();
        [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
    }

    /// Decodes the twelve-byte form.
    #[must_use]
    pub const fn from_lowcore_bytes(b: [u8; 12]) -> Self {
        Self {
            sid: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            intparm: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            iiw: InterruptionId::from_bits(u32::from_be_bytes([b[8], b[9], b[10], b[11]])),
        }
    }

    /// Decodes the eight-byte form; the identification word is not part
    /// of it and reads as zero.
    #[must_use]
    pub const fn from_tpi_bytes(b: [u8; 8]) -> Self {
        Self {
            sid: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            intparm: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            iiw: InterruptionId::new(),
        }
    }

    /// Decodes 12 bytes, or 8 (TPI form); `None` for any other length.
    #[must_use]
    pub fn decode(b: &[u8]) -> Option<Self> {
        match b.len() {
            Self::LOWCORE_LEN => Some(Self::from_lowcore_bytes(b.try_into().ok()?)),
            Self::TPI_LEN => Some(Self::from_tpi_bytes(b.try_into().ok()?)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iiw_fields_are_in_poo_bit_order() {
        assert_eq!(InterruptionId::new().with_adapter(true).into_bits(), 0x8000_0000);
        assert_eq!(InterruptionId::new().with_reserved1(true).into_bits(), 0x4000_0000);
        assert_eq!(InterruptionId::new().with_isc(7).into_bits(), 0x3800_0000);
        assert_eq!(InterruptionId::new().with_reserved(0x7ff_ffff).into_bits(), 0x07ff_ffff);
    }

    #[test]
    fn io_code_stores_isc_shifted_27() {
        let sid = SubchannelId::new(0xfe, 0, 4).unwrap();
        let code = InterruptionCode::io(sid, false, 0x1234_5678, 3);
        assert_eq!(
            code.to_lowcore_bytes(),
            [0x00, 0x01, 0x00, 0x04, 0x12, 0x34, 0x56, 0x78, 0x18, 0x00, 0x00, 0x00]
        );
        assert_eq!(code.to_tpi_bytes(), [0x00, 0x01, 0x00, 0x04, 0x12, 0x34, 0x56, 0x78]);
    }

    #[test]
    fn io_code_with_mcss_shows_cssid() {
        let sid = SubchannelId::new(0xfe, 1, 4).unwrap();
        assert_eq!(InterruptionCode::io(sid, true, 0, 0).sid, 0xfe0b_0004);
    }

    #[test]
    fn adapter_code_sets_a_and_isc() {
        assert_eq!(InterruptionCode::adapter(3).iiw.into_bits(), 0x9800_0000);
        assert_eq!(InterruptionCode::adapter(3).to_lowcore_bytes()[..8], [0; 8]);
    }

    #[test]
    fn decode_by_length() {
        let b = [0, 1, 0, 4, 0, 0, 0, 9, 0x38, 0, 0, 0];
        let c = InterruptionCode::decode(&b).unwrap();
        assert_eq!(c.iiw.isc(), 7);
        assert_eq!(c.intparm, 9);
        let t = InterruptionCode::decode(&b[..8]).unwrap();
        assert_eq!(t.iiw, InterruptionId::new());
        assert_eq!(t.sid, 0x0001_0004);
        assert_eq!(InterruptionCode::decode(&b[..7]), None);
        assert_eq!(InterruptionCode::decode(&[0; 13]), None);
    }

    proptest::proptest! {
        #[test]
        fn lowcore_encode_decode_identity(raw: [u8; 12]) {
            proptest::prop_assert_eq!(InterruptionCode::from_lowcore_bytes(raw).to_lowcore_bytes(), raw);
        }

        #[test]
        fn tpi_encode_decode_identity(raw: [u8; 8]) {
            proptest::prop_assert_eq!(InterruptionCode::from_tpi_bytes(raw).to_tpi_bytes(), raw);
        }
    }
}
