//! The operation-request block (Principles of Operation, chapter 15,
//! "Operation-Request Block"), operand of START SUBCHANNEL.
//!
//! Word 0 is the interruption parameter; word 1 holds the controls; word 2 the
//! channel-program address. Words 3–7 are present when the ORB-extension
//! control X (word 1 bit 31) is one.

use bitfield_struct::bitfield;

use crate::address::{AddrLimit, GuestAddr};
use crate::ccw::CcwFormat;

/// ORB word 1: the control fields, in PoO bit order.
#[bitfield(u32, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct OrbControls {
    /// Bits 0–3: subchannel key (access key for every storage access of the program).
    #[bits(4)]
    pub key: u8,
    /// Bit 4 (S): suspend control.
    pub suspend: bool,
    /// Bit 5 (C): streaming-mode control.
    pub streaming: bool,
    /// Bit 6 (M): modification control.
    pub modification: bool,
    /// Bit 7 (Y): synchronization control.
    pub synchronization: bool,
    /// Bit 8 (F): CCW format (0 = format 0, 1 = format 1).
    pub format1: bool,
    /// Bit 9 (P): prefetch control.
    pub prefetch: bool,
    /// Bit 10 (I): initial-status-interruption control.
    pub initial_status: bool,
    /// Bit 11 (A): address-limit-checking control.
    pub address_limit: bool,
    /// Bit 12 (U): suppress-suspended-interruption control.
    pub suppress_suspended: bool,
    /// Bit 13 (B): channel-program type (0 = CCW, 1 = transport-mode TCW).
    pub transport_mode: bool,
    /// Bit 14 (H): format-2-IDAW control (64-bit IDAWs).
    pub idaw_format2: bool,
    /// Bit 15 (T): 2K-IDAW control (format-2 IDAWs address 2K blocks).
    pub idaw_2k: bool,
    /// Bits 16–23: logical-path mask.
    pub lpm: u8,
    /// Bit 24 (L): incorrect-length-suppression mode.
    pub ils: bool,
    /// Bit 25 (D): modified-CCW-indirect-data-addressing (MIDAW) control.
    pub midaw: bool,
    /// Bits 26–30: reserved, must be zero.
    #[bits(5)]
    pub reserved: u8,
    /// Bit 31 (X): ORB-extension control.
    pub extension: bool,
}

/// Why an ORB is invalid: START SUBCHANNEL then ends with an operand exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OrbError {
    /// Word 1 bits 26–30 are not zero.
    #[error("ORB reserved bits 26-30 of word 1 are not zero")]
    ReservedControls,
    /// Word 2 bit 0 (above the 31-bit channel-program address) is one.
    #[error("ORB channel-program address bit 0 is one")]
    CpaBit0,
    /// Transport mode (B = 1) is requested but not installed.
    #[error("ORB requests transport mode, which is not installed")]
    TransportMode,
    /// A reserved field of the ORB extension (words 3–7) is not zero.
    #[error("ORB extension reserved field is not zero")]
    ReservedExtension,
}

/// The operation-request block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Orb {
    /// Word 0: interruption parameter.
    pub intparm: u32,
    /// Word 1: controls.
    pub ctrl: OrbControls,
    /// Word 2: channel-program address (bit 0 must be zero).
    pub cpa: u32,
    /// Word 3 byte 0: channel-subsystem priority (X = 1 only).
    pub css_priority: u8,
    /// Word 3 byte 2: control-unit priority (X = 1 only).
    pub cu_priority: u8,
    /// Word 3 bytes 1 and 3 and words 4–7: reserved (X = 1 only), kept to be checked.
    pub reserved_ext: [u8; 18],
}

impl Orb {
    /// Length of the basic ORB (words 0–2), fetched always.
    pub const BASIC_LEN: usize = 12;
    /// Length of the extended ORB (words 0–7), fetched when X = 1.
    pub const EXTENDED_LEN: usize = 32;

    /// Decodes an ORB from 12 or more bytes; words 3–7 are taken when
    /// present and X is one. Returns `None` if `b` is shorter than 12 bytes.
    #[must_use]
    pub fn decode(b: &[u8]) -> Option<Self> {
        let word = |i: usize| -> Option<u32> { Some(u32::from_be_bytes(b.get(i * 4..i * 4 + 4)?.try_into().ok()?)) };
        let ctrl = OrbControls::from_bits(word(1)?);
        let mut orb = Self {
            intparm: word(0)?,
            ctrl,
            cpa: word(2)?,
            ..Self::default()
        };
        if ctrl.extension() {
            if let Some(ext) = b.get(12..32) {
                orb.css_priority = ext[0];
                orb.cu_priority = ext[2];
                orb.reserved_ext[0] = ext[1];
                orb.reserved_ext[1] = ext[3];
                orb.reserved_ext[2..].copy_from_slice(&ext[4..20]);
            }
        }
        Some(orb)
    }

    /// Encodes the ORB: 12 bytes, or 32 when X is one.
    #[must_use]
    pub fn encode(&self) -> ([u8; 32], usize) {
        let mut b = [0u8; 32];
        b[0..4].copy_from_slice(&self.intparm.to_be_bytes());
        b[4..8].copy_from_slice(&self.ctrl.into_bits().to_be_bytes());
        b[8..12].copy_from_slice(&self.cpa.to_be_bytes());
        if !self.ctrl.extension() {
            return (b, Self::BASIC_LEN);
        }
        b[12] = self.css_priority;
        b[13] = self.reserved_ext[0];
        b[14] = self.cu_priority;
        b[15] = self.reserved_ext[1];
        b[16..32].copy_from_slice(&self.reserved_ext[2..]);
        (b, Self::EXTENDED_LEN)
    }

    /// Validity checks START SUBCHANNEL applies before anything else happens
    /// (an invalid ORB is an operand exception). MIDAW (D) is supported;
    /// transport mode (B) is not installed.
    ///
    /// # Errors
    /// The first violated rule.
    pub fn validate(&self) -> Result<(), OrbError> {
        if self.ctrl.reserved() != 0 {
            return Err(OrbError::ReservedControls);
        }
        if self.program_address().is_none() {
            return Err(OrbError::CpaBit0);
        }
        if self.ctrl.transport_mode() {
            return Err(OrbError::TransportMode);
        }
        if self.ctrl.extension() && self.reserved_ext.iter().any(|&b| b != 0) {
            return Err(OrbError::ReservedExtension);
        }
        Ok(())
    }

    /// The channel-program address (word 2) as a 31-bit address; `None`
    /// when bit 0 is one (an invalid ORB). The first CCW of the program is
    /// fetched there, where its alignment and the format-0 limit are
    /// checked (see [`crate::CcwAddress`]).
    #[must_use]
    pub const fn program_address(&self) -> Option<GuestAddr> {
        GuestAddr::new(self.cpa as u64, AddrLimit::Bits31)
    }

    /// CCW format selected by F.
    #[must_use]
    pub const fn ccw_format(&self) -> CcwFormat {
        if self.ctrl.format1() {
            CcwFormat::Format1
        } else {
            CcwFormat::Format0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_kvm_unit_tests_orb() {
        // intparm, F|I (ISIC|FMT), LPM 0x80, CPA 0x1000.
        let raw = [0, 0x01, 0, 0x04, 0x00, 0xc0, 0x80, 0x00, 0, 0, 0x10, 0];
        let orb = Orb::decode(&raw).unwrap();
        assert_eq!(orb.intparm, 0x0001_0004);
        assert!(orb.ctrl.format1());
        assert!(orb.ctrl.prefetch());
        assert!(!orb.ctrl.initial_status());
        assert_eq!(orb.ctrl.lpm(), 0x80);
        assert_eq!(orb.cpa, 0x1000);
        assert_eq!(orb.validate(), Ok(()));
        assert_eq!(orb.encode().0[..12], raw);
    }

    #[test]
    fn control_bits_are_in_poo_order() {
        assert_eq!(OrbControls::new().with_key(0xf).into_bits(), 0xf000_0000);
        assert_eq!(OrbControls::new().with_suspend(true).into_bits(), 0x0800_0000);
        assert_eq!(OrbControls::new().with_format1(true).into_bits(), 0x0080_0000);
        assert_eq!(OrbControls::new().with_transport_mode(true).into_bits(), 0x0004_0000);
        assert_eq!(OrbControls::new().with_idaw_format2(true).into_bits(), 0x0002_0000);
        assert_eq!(OrbControls::new().with_idaw_2k(true).into_bits(), 0x0001_0000);
        assert_eq!(OrbControls::new().with_ils(true).into_bits(), 0x0000_0080);
        assert_eq!(OrbControls::new().with_midaw(true).into_bits(), 0x0000_0040);
        assert_eq!(OrbControls::new().with_reserved(0x1f).into_bits(), 0x0000_003e);
        assert_eq!(OrbControls::new().with_extension(true).into_bits(), 0x0000_0001);
    }

    #[test]
    fn validate_all_ones_orb_is_invalid() {
        let orb = Orb::decode(&[0xff; 32]).unwrap();
        assert_eq!(orb.validate(), Err(OrbError::ReservedControls));
    }

    #[test]
    fn program_address_is_31_bit() {
        let orb = Orb {
            cpa: 0x7fff_fff8,
            ..Orb::default()
        };
        assert_eq!(orb.program_address().map(GuestAddr::get), Some(0x7fff_fff8));
        let orb = Orb {
            cpa: 0x8000_0000,
            ..Orb::default()
        };
        assert_eq!(orb.program_address(), None);
    }

    #[test]
    fn validate_cpa_bit0_is_invalid() {
        let orb = Orb {
            cpa: 0x8000_1000,
            ..Orb::default()
        };
        assert_eq!(orb.validate(), Err(OrbError::CpaBit0));
    }

    #[test]
    fn validate_transport_mode_is_invalid() {
        let orb = Orb {
            ctrl: OrbControls::new().with_transport_mode(true),
            ..Orb::default()
        };
        assert_eq!(orb.validate(), Err(OrbError::TransportMode));
    }

    #[test]
    fn validate_extension_reserved_is_invalid() {
        let mut raw = [0u8; 32];
        raw[7] = 0x01; // X
        raw[20] = 1;
        let orb = Orb::decode(&raw).unwrap();
        assert_eq!(orb.validate(), Err(OrbError::ReservedExtension));
        raw[20] = 0;
        raw[12] = 0x55;
        let orb = Orb::decode(&raw).unwrap();
        assert_eq!(orb.validate(), Ok(()));
        assert_eq!(orb.css_priority, 0x55);
    }

    #[test]
    fn decode_short_input_is_none() {
        assert_eq!(Orb::decode(&[0; 11]), None);
    }

    proptest::proptest! {
        #[test]
        fn encode_decode_identity(raw: [u8; 32]) {
            let orb = Orb::decode(&raw).unwrap();
            let (b, len) = orb.encode();
            proptest::prop_assert_eq!(&b[..len], &raw[..len]);
            proptest::prop_assert_eq!(Orb::decode(&b[..len]).unwrap(), orb);
        }
    }
}
