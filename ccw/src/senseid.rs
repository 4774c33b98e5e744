//! SENSE ID data (Principles of Operation, chapter 15, "Sense ID"; IBM
//! "Common I/O-Device Commands and Self Description", SENSE ID and the
//! command-information word).
//!
//! | bytes | field |
//! |-------|-------|
//! | 0     | `FF` |
//! | 1–2   | control-unit type |
//! | 3     | control-unit model |
//! | 4–5   | device type |
//! | 6     | device model |
//! | 7     | reserved |
//! | 8–    | up to eight command-information words (CIWs), 4 bytes each |
//!
//! CIW: bits 0–1 entry type (`01`), bits 2–3 reserved, bits 4–7 command type
//! (0 read configuration data, 1 set interface identifier, 2 read node
//! identifier), byte 1 the command code to use, bytes 2–3 the count.

use bitfield_struct::bitfield;

/// A command-information word.
#[bitfield(u32, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct Ciw {
    /// Bits 0–1: entry type; `01` marks a CIW.
    #[bits(2)]
    pub entry_type: u8,
    /// Bits 2–3: reserved.
    #[bits(2)]
    pub reserved: u8,
    /// Bits 4–7: command type (see the `TYPE_*` constants).
    #[bits(4)]
    pub command_type: u8,
    /// Bits 8–15: command code that performs the function.
    pub command: u8,
    /// Bits 16–31: byte count to use with the command.
    pub count: u16,
}

impl Ciw {
    /// Entry type of a CIW.
    pub const ENTRY_CIW: u8 = 0b01;
    /// Command type: read configuration data.
    pub const TYPE_RCD: u8 = 0;
    /// Command type: set interface identifier.
    pub const TYPE_SII: u8 = 1;
    /// Command type: read node identifier.
    pub const TYPE_RNI: u8 = 2;

    /// A CIW (entry type `01`) of `command_type` (low four bits used).
    #[must_use]
    pub const fn entry(command_type: u8, command: u8, count: u16) -> Self {
        Self::new()
            .with_entry_type(Self::ENTRY_CIW)
            .with_command_type(command_type & 0xf)
            .with_command(command)
            .with_count(count)
    }

    /// Whether the entry type is `01`.
    #[must_use]
    pub const fn is_ciw(self) -> bool {
        self.entry_type() == Self::ENTRY_CIW
    }
}

/// SENSE ID data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SenseId {
    /// Byte 0: `FF` when the device supports the extended form.
    pub byte0: u8,
    /// Bytes 1–2: control-unit type.
    pub cu_type: u16,
    /// Byte 3: control-unit model.
    pub cu_model: u8,
    /// Bytes 4–5: device type.
    pub dev_type: u16,
    /// Byte 6: device model.
    pub dev_model: u8,
    /// Byte 7: reserved.
    pub reserved7: u8,
    /// Bytes 8–: the CIWs; entries past `n_ciws` are zero.
    ciws: [Ciw; SenseId::MAX_CIWS],
    n_ciws: u8,
}

impl SenseId {
    /// Most CIWs SENSE ID data can hold.
    pub const MAX_CIWS: usize = 8;
    /// Length of the fixed part.
    pub const BASIC_LEN: usize = 8;
    /// Length with all eight CIWs.
    pub const MAX_LEN: usize = Self::BASIC_LEN + 4 * Self::MAX_CIWS;

    /// SENSE ID data without CIWs (byte 0 `FF`).
    #[must_use]
    pub const fn new(cu_type: u16, cu_model: u8, dev_type: u16, dev_model: u8) -> Self {
        Self {
            byte0: 0xff,
            cu_type,
            cu_model,
            dev_type,
            dev_model,
            reserved7: 0,
            ciws: [Ciw::new(); Self::MAX_CIWS],
            n_ciws: 0,
        }
    }

    /// Appends a CIW; `None` if eight are already present.
    #[must_use]
    pub const fn with_ciw(mut self, ciw: Ciw) -> Option<Self> {
        if self.n_ciws as usize >= Self::MAX_CIWS {
            return None;
        }
        self.ciws[self.n_ciws as usize] = ciw;
        self.n_ciws += 1;
        Some(self)
    }

    /// Every CIW slot present (as decoded or appended), valid or not.
    #[must_use]
    pub fn ciws(&self) -> &[Ciw] {
        &self.ciws[..usize::from(self.n_ciws)]
    }

    /// The CIWs a program would use: those before the first entry whose
    /// entry type is not `01`.
    pub fn valid_ciws(&self) -> impl Iterator<Item = Ciw> + '_ {
        self.ciws().iter().copied().take_while(|c| c.is_ciw())
    }

    /// The CIW of `command_type`, if any.
    #[must_use]
    pub fn find_ciw(&self, command_type: u8) -> Option<Ciw> {
        self.valid_ciws().find(|c| c.command_type() == command_type)
    }

    /// Number of bytes [`Self::encode`] produces: 8 plus 4 per CIW.
    #[must_use]
    pub const fn len(&self) -> usize {
        Self::BASIC_LEN + 4 * self.n_ciws as usize
    }

    /// Always false: SENSE ID data has at least its eight basic bytes.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// Encodes: the buffer and the number of meaningful bytes in it.
    #[must_use]
    pub fn encode(&self) -> ([u8; 40], usize) {
        let mut b = [0u8; 40];
        b[0] = self.byte0;
        b[1..3].copy_from_slice(&self.cu_type.to_be_bytes());
        b[3] = self.cu_model;
        b[4..6].copy_from_slice(&self.dev_type.to_be_bytes());
        b[6] = self.dev_model;
        b[7] = self.reserved7;
        for (i, c) in self.ciws().iter().enumerate() {
            b[8 + 4 * i..12 + 4 * i].copy_from_slice(&c.into_bits().to_be_bytes());
        }
        (b, self.len())
    }

    /// Decodes the eight basic bytes and every complete 4-byte group after
    /// them (at most eight) as CIWs; a trailing partial group is ignored.
    /// `None` if `b` is shorter than 8 bytes.
    #[must_use]
    pub fn decode(b: &[u8]) -> Option<Self> {
        let basic = b.get(..Self::BASIC_LEN)?;
        let mut s = Self {
            byte0: basic[0],
            reserved7: basic[7],
            ..Self::new(
                u16::from_be_bytes([basic[1], basic[2]]),
                basic[3],
                u16::from_be_bytes([basic[4], basic[5]]),
                basic[6],
            )
        };
        for chunk in b[Self::BASIC_LEN..].chunks_exact(4).take(Self::MAX_CIWS) {
            let ciw = Ciw::from_bits(u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
            s = s.with_ciw(ciw)?;
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciw_fields_are_in_bit_order() {
        assert_eq!(Ciw::new().with_entry_type(3).into_bits(), 0xc000_0000);
        assert_eq!(Ciw::new().with_reserved(3).into_bits(), 0x3000_0000);
        assert_eq!(Ciw::new().with_command_type(0xf).into_bits(), 0x0f00_0000);
        assert_eq!(Ciw::new().with_command(0xff).into_bits(), 0x00ff_0000);
        assert_eq!(Ciw::new().with_count(0xffff).into_bits(), 0x0000_ffff);
    }

    #[test]
    fn encode_3990_6_sense_id() {
        let s = SenseId::new(0x3990, 0xe9, 0x3390, 0x0c)
            .with_ciw(Ciw::entry(Ciw::TYPE_RCD, 0xfa, 0x100))
            .and_then(|s| s.with_ciw(Ciw::entry(Ciw::TYPE_SII, 0x27, 0x04)))
            .and_then(|s| s.with_ciw(Ciw::entry(Ciw::TYPE_RNI, 0x3e, 0x60)))
            .unwrap();
        let (b, len) = s.encode();
        assert_eq!(len, 20);
        assert_eq!(
            b[..20],
            [
                0xff, 0x39, 0x90, 0xe9, 0x33, 0x90, 0x0c, 0x00, 0x40, 0xfa, 0x01, 0x00, 0x41, 0x27, 0x00, 0x04, 0x42,
                0x3e, 0x00, 0x60
            ]
        );
        assert_eq!(s.find_ciw(Ciw::TYPE_RNI), Some(Ciw::entry(2, 0x3e, 0x60)));
    }

    #[test]
    fn encode_virtio_sense_id_has_no_ciws() {
        let (b, len) = SenseId::new(0x3832, 0x02, 0, 0).encode();
        assert_eq!(len, 8);
        assert_eq!(b[..8], [0xff, 0x38, 0x32, 0x02, 0, 0, 0, 0]);
    }

    #[test]
    fn decode_stops_valid_ciws_at_first_non_ciw() {
        let raw = [
            0xff, 0x38, 0x32, 0x01, 0, 0, 0, 0, 0x40, 0xfa, 0, 0x10, 0, 0, 0, 0, 0x41, 0x27, 0, 4, 0xaa,
        ];
        let s = SenseId::decode(&raw).unwrap();
        assert_eq!(s.cu_type, 0x3832);
        assert_eq!(s.cu_model, 1);
        assert_eq!(s.ciws().len(), 3);
        assert_eq!(s.valid_ciws().count(), 1);
        assert_eq!(s.find_ciw(Ciw::TYPE_SII), None);
        let (b, len) = s.encode();
        assert_eq!(b[..len], raw[..20]);
    }

    #[test]
    fn decode_short_input_is_none() {
        assert_eq!(SenseId::decode(&[0xff; 7]), None);
    }

    #[test]
    fn decode_long_input_keeps_eight_ciws() {
        let s = SenseId::decode(&[0x40; 256]).unwrap();
        assert_eq!(s.ciws().len(), 8);
        assert_eq!(s.len(), SenseId::MAX_LEN);
        assert_eq!(s.with_ciw(Ciw::new()), None);
    }

    proptest::proptest! {
        #[test]
        fn encode_decode_identity(raw in proptest::collection::vec(proptest::num::u8::ANY, 8..=40)) {
            let s = SenseId::decode(&raw).unwrap();
            let (b, len) = s.encode();
            let whole = 8 + (raw.len() - 8) / 4 * 4;
            proptest::prop_assert_eq!(len, whole);
            proptest::prop_assert_eq!(&b[..len], &raw[..whole]);
        }
    }
}
