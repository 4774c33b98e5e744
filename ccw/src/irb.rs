//! The interruption-response block (Principles of Operation, chapter 16,
//! "Interruption-Response Block"), operand of TEST SUBCHANNEL.
//!
//! 96 bytes: SCSW (0–11), ESW (12–31), ECW (32–63), EMW (64–95). The EMW is
//! stored only when extended-measurement-word mode is enabled; otherwise
//! TEST SUBCHANNEL stores (and checks access to) the first 64 bytes.

use crate::esw::{Ecw, Emw, Esw};
use crate::scsw::Scsw;

/// The interruption-response block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Irb {
    /// Bytes 0–11: subchannel-status word.
    pub scsw: Scsw,
    /// Bytes 12–31: extended-status word.
    pub esw: Esw,
    /// Bytes 32–63: extended-control word.
    pub ecw: Ecw,
    /// Bytes 64–95: extended-measurement word.
    pub emw: Emw,
}

impl Irb {
    /// Length of the full IRB in bytes.
    pub const LEN: usize = 96;
    /// Length of the IRB without the extended-measurement word.
    pub const LEN_NO_EMW: usize = 64;

    /// Encodes all 96 bytes; store `..Self::LEN_NO_EMW` of them when the EMW
    /// is not stored.
    #[must_use]
    pub fn encode(&self) -> [u8; 96] {
        let mut b = [0u8; 96];
        b[0..12].copy_from_slice(&self.scsw.to_be_bytes());
        b[12..32].copy_from_slice(&self.esw.to_be_bytes());
        b[32..64].copy_from_slice(&self.ecw);
        b[64..96].copy_from_slice(&self.emw);
        b
    }

    /// Decodes 64 or more bytes; the EMW is taken when 96 bytes are present
    /// and is zero otherwise. `None` if `b` is shorter than 64 bytes.
    #[must_use]
    pub fn decode(b: &[u8]) -> Option<Self> {
        let head = b.get(..Self::LEN_NO_EMW)?;
        let mut irb = Self {
            scsw: Scsw::decode(head)?,
            esw: Esw::from_be_bytes(head[12..32].try_into().ok()?),
            ecw: head[32..64].try_into().ok()?,
            emw: [0; 32],
        };
        if let Some(emw) = b.get(Self::LEN_NO_EMW..Self::LEN) {
            irb.emw.copy_from_slice(emw);
        }
        Some(irb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esw::ExtendedReportWord;
    use crate::scsw::{FunctionControl, ScswControls, StatusControl};
    use crate::status::DeviceStatus;

    fn unit_check_irb() -> Irb {
        let mut ecw = [0u8; 32];
        ecw[0] = 0x80; // command reject
        ecw[27] = 0x80;
        Irb {
            scsw: Scsw {
                ctrl: ScswControls::new()
                    .with_esw_format(true)
                    .with_format1(true)
                    .with_extended_control(true)
                    .with_fctl(FunctionControl::START)
                    .with_stctl(StatusControl::ALERT | StatusControl::PRIM_SEC_PEND),
                cpa: 0x1008,
                dstat: DeviceStatus::CE_DE_UC,
                ..Scsw::default()
            },
            esw: Esw {
                erw: ExtendedReportWord::with_sense(32),
                ..Esw::with_lpum(0x80)
            },
            ecw,
            emw: [0; 32],
        }
    }

    #[test]
    fn encode_places_parts_at_their_offsets() {
        let b = unit_check_irb().encode();
        assert_eq!(b[0..12], [0x04, 0x82, 0x40, 0x17, 0, 0, 0x10, 0x08, 0x0e, 0, 0, 0]);
        assert_eq!(b[12..16], [0x00, 0x80, 0x40, 0x00]);
        assert_eq!(b[16..20], [0x01, 0x20, 0x00, 0x00]);
        assert_eq!(b[32], 0x80);
        assert_eq!(b[59], 0x80);
        assert_eq!(b[64..], [0u8; 32]);
    }

    #[test]
    fn decode_64_bytes_leaves_emw_zero() {
        let mut b = unit_check_irb().encode();
        b[64..].fill(0xff);
        let irb = Irb::decode(&b[..64]).unwrap();
        assert_eq!(irb, unit_check_irb());
        assert_eq!(Irb::decode(&b).unwrap().emw, [0xff; 32]);
    }

    #[test]
    fn decode_short_input_is_none() {
        assert_eq!(Irb::decode(&[0; 63]), None);
        assert_eq!(Irb::decode(&[]), None);
    }

    #[test]
    fn decode_between_64_and_96_bytes_ignores_partial_emw() {
        let irb = Irb::decode(&[0xaa; 80]).unwrap();
        assert_eq!(irb.emw, [0; 32]);
        assert_eq!(irb.ecw, [0xaa; 32]);
    }

    proptest::proptest! {
        #[test]
        fn encode_decode_identity(raw in proptest::collection::vec(proptest::num::u8::ANY, 96)) {
            let irb = Irb::decode(&raw).unwrap();
            proptest::prop_assert_eq!(&irb.encode()[..], &raw[..]);
        }

        #[test]
        fn decode_never_panics(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            proptest::prop_assert_eq!(Irb::decode(&raw).is_some(), raw.len() >= 64);
        }
    }
}
