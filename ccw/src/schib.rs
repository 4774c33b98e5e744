//! The subchannel-information block (Principles of Operation, chapter 15,
//! "Subchannel-Information Block"), operand of STORE SUBCHANNEL and MODIFY
//! SUBCHANNEL.
//!
//! 52 bytes: the [`Pmcw`] (bytes 0–27), the [`Scsw`] (bytes 28–39) and a
//! model-dependent area (bytes 40–51). When the extended-I/O-measurement-block
//! facility is used (PMCW F = 1), bytes 40–47 are the 64-bit
//! measurement-block address; bytes 48–51 stay model dependent.

use crate::pmcw::Pmcw;
use crate::scsw::Scsw;

/// The subchannel-information block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Schib {
    /// Bytes 0–27: path-management-control word.
    pub pmcw: Pmcw,
    /// Bytes 28–39: subchannel-status word (ignored by MSCH).
    pub scsw: Scsw,
    /// Bytes 40–47: measurement-block address (format-1 measurement blocks),
    /// otherwise model dependent.
    pub mba: u64,
    /// Bytes 48–51: model dependent.
    pub mda: [u8; 4],
}

impl Schib {
    /// Length of the SCHIB in bytes.
    pub const LEN: usize = 52;
    /// Required alignment of a format-1 measurement block (64 bytes).
    pub const MBA_ALIGN: u64 = 64;

    /// Decodes the stored big-endian form.
    #[must_use]
    pub fn from_be_bytes(b: &[u8; 52]) -> Self {
        let mut pmcw = [0u8; 28];
        pmcw.copy_from_slice(&b[..28]);
        let mut scsw = [0u8; 12];
        scsw.copy_from_slice(&b[28..40]);
        let mut mba = [0u8; 8];
        mba.copy_from_slice(&b[40..48]);
        let mut mda = [0u8; 4];
        mda.copy_from_slice(&b[48..52]);
        Self {
            pmcw: Pmcw::from_be_bytes(&pmcw),
            scsw: Scsw::from_be_bytes(scsw),
            mba: u64::from_be_bytes(mba),
            mda,
        }
    }

    /// Encodes to the stored big-endian form.
    #[must_use]
    pub fn to_be_bytes(&self) -> [u8; 52] {
        let mut b = [0u8; 52];
        b[..28].copy_from_slice(&self.pmcw.to_be_bytes());
        b[28..40].copy_from_slice(&self.scsw.to_be_bytes());
        b[40..48].copy_from_slice(&self.mba.to_be_bytes());
        b[48..52].copy_from_slice(&self.mda);
        b
    }

    /// Decodes from the first 52 bytes of `b`; `None` if `b` is shorter.
    #[must_use]
    pub fn decode(b: &[u8]) -> Option<Self> {
        Some(Self::from_be_bytes(b.get(..Self::LEN)?.try_into().ok()?))
    }

    /// Whether the measurement-block address is on a 64-byte boundary, as a
    /// format-1 measurement block (PMCW F = 1) requires; MSCH with F = 1 and
    /// a misaligned address is an operand exception.
    #[must_use]
    pub const fn mba_aligned(&self) -> bool {
        self.mba % Self::MBA_ALIGN == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pmcw::PmcwFlags;
    use crate::scsw::{ScswControls, StatusControl};

    #[test]
    fn decode_places_parts_at_their_offsets() {
        let mut raw = [0u8; 52];
        raw[0..4].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        raw[6..8].copy_from_slice(&[0x12, 0x34]);
        raw[31] = 0x01;
        raw[40..48].copy_from_slice(&0x0000_0000_0010_0040u64.to_be_bytes());
        raw[48..52].copy_from_slice(&[1, 2, 3, 4]);
        let s = Schib::from_be_bytes(&raw);
        assert_eq!(s.pmcw.intparm, 0x1234_5678);
        assert_eq!(s.pmcw.flags.devno(), 0x1234);
        assert_eq!(s.scsw.ctrl.stctl(), StatusControl::PEND);
        assert_eq!(s.mba, 0x10_0040);
        assert_eq!(s.mda, [1, 2, 3, 4]);
        assert!(s.mba_aligned());
        assert_eq!(s.to_be_bytes(), raw);
    }

    #[test]
    fn encode_places_parts_at_their_offsets() {
        let s = Schib {
            pmcw: Pmcw {
                flags: PmcwFlags::new().with_dnv(true).with_devno(0x0042),
                ..Pmcw::default()
            },
            scsw: Scsw {
                ctrl: ScswControls::new().with_stctl(StatusControl::ALERT | StatusControl::PEND),
                ..Scsw::default()
            },
            mba: 0x41,
            mda: [0; 4],
        };
        let b = s.to_be_bytes();
        assert_eq!(b[4..8], [0x00, 0x01, 0x00, 0x42]);
        assert_eq!(b[28..32], [0, 0, 0, 0x11]);
        assert_eq!(b[40..48], [0, 0, 0, 0, 0, 0, 0, 0x41]);
        assert!(!s.mba_aligned());
    }

    #[test]
    fn decode_short_input_is_none() {
        assert_eq!(Schib::decode(&[0; 51]), None);
        assert_eq!(Schib::decode(&[0; 52]), Some(Schib::default()));
    }

    proptest::proptest! {
        #[test]
        fn encode_decode_identity(raw in proptest::collection::vec(proptest::num::u8::ANY, 52)) {
            let a: [u8; 52] = raw.as_slice().try_into().unwrap();
            proptest::prop_assert_eq!(Schib::from_be_bytes(&a).to_be_bytes(), a);
        }
    }
}
