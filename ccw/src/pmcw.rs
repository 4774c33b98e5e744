//! The path-management-control word (Principles of Operation, chapter 15,
//! "Subchannel-Information Block", "Path-Management-Control Word").
//!
//! 28 bytes, the first part of the SCHIB:
//!
//! | word | bits  | field |
//! |------|-------|-------|
//! | 0    | 0–31  | interruption parameter |
//! | 1    | 0–1   | reserved (MSCH: must be zero) |
//! | 1    | 2–4   | ISC: interruption subclass |
//! | 1    | 5     | reserved (MSCH: ignored) |
//! | 1    | 6–7   | reserved (MSCH: must be zero) |
//! | 1    | 8     | E: enabled |
//! | 1    | 9–10  | LM: limit mode |
//! | 1    | 11–12 | MM: measurement-mode enable |
//! | 1    | 13    | D: multipath mode |
//! | 1    | 14    | T: timing facility |
//! | 1    | 15    | V: device number valid |
//! | 1    | 16–31 | device number |
//! | 2    | 0–7 / 8–15 / 16–23 / 24–31 | LPM, PNOM, LPUM, PIM |
//! | 3    | 0–15 / 16–23 / 24–31 | MBI, POM, PAM |
//! | 4–5  |       | CHPIDs 0–7 |
//! | 6    | 0–7   | reserved |
//! | 6    | 8–10  | ST: subchannel type (0 = I/O subchannel) |
//! | 6    | 11–28 | reserved |
//! | 6    | 29    | F: measurement-block format control |
//! | 6    | 30    | X: extended-measurement-word mode enable |
//! | 6    | 31    | S: concurrent sense |
//!
//! The reserved masks QEMU applies on MSCH agree with this layout: its
//! "flags" mask `0xc300` is word 1 bits 0, 1, 6 and 7 (bit 5 is not in
//! it — MSCH ignores bit 5, kvm-unit-tests checks that), and its "chars"
//! mask `0xff1ffff8` is word 6 bits 0–7 and 11–28, leaving out the
//! subchannel type (bits 8–10) and F, X, S. Linux calls word 1 bits 0
//! and 1 "Q" (QDIO) and "W"; QDIO is not in the PoO, and zcss has no QDIO.

use bitfield_struct::bitfield;

/// PMCW word 1: interruption subclass, modes and device number.
#[bitfield(u32, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct PmcwFlags {
    /// Bits 0–1: reserved (Linux: Q, W). MSCH requires zeros.
    #[bits(2)]
    pub reserved_0_1: u8,
    /// Bits 2–4: interruption subclass.
    #[bits(3)]
    pub isc: u8,
    /// Bit 5: reserved; MSCH ignores it and STSCH stores zero.
    pub reserved_5: bool,
    /// Bits 6–7: reserved. MSCH requires zeros.
    #[bits(2)]
    pub reserved_6_7: u8,
    /// Bit 8 (E): enabled.
    pub enabled: bool,
    /// Bits 9–10 (LM): limit mode (0 none, 1 lower limit, 2 upper limit, 3 reserved).
    #[bits(2)]
    pub limit_mode: u8,
    /// Bits 11–12 (MM): measurement-mode enable (bit 11 measurement-block
    /// update, bit 12 device-connect-time measurement).
    #[bits(2)]
    pub measurement_mode: u8,
    /// Bit 13 (D): multipath mode.
    pub multipath: bool,
    /// Bit 14 (T): timing facility.
    pub timing: bool,
    /// Bit 15 (V): device number valid.
    pub dnv: bool,
    /// Bits 16–31: device number.
    pub devno: u16,
}

impl PmcwFlags {
    /// Bits MSCH requires to be zero: 0, 1, 6 and 7.
    pub const MSCH_RESERVED: u32 = 0xc300_0000;
    /// Bits an installation stores as zero and MSCH ignores: bit 5.
    pub const MSCH_IGNORED: u32 = 0x0400_0000;
}

/// PMCW word 6: subchannel characteristics.
#[bitfield(u32, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct PmcwChars {
    /// Bits 0–7: reserved.
    pub reserved_0_7: u8,
    /// Bits 8–10 (ST): subchannel type (0 I/O, 1 CHSC, 2 message, 3 ADM).
    #[bits(3)]
    pub subchannel_type: u8,
    /// Bits 11–28: reserved.
    #[bits(18)]
    pub reserved_11_28: u32,
    /// Bit 29 (F): measurement-block format control (1 = format-1 block at the SCHIB MBA).
    pub mbfc: bool,
    /// Bit 30 (X): extended-measurement-word mode enable.
    pub xmwme: bool,
    /// Bit 31 (S): concurrent sense.
    pub csense: bool,
}

impl PmcwChars {
    /// Bits MSCH requires to be zero: 0–7 and 11–28.
    pub const MSCH_RESERVED: u32 = 0xff1f_fff8;
}

/// Reserved bits found set by [`Pmcw::msch_reserved`]; MSCH then ends with
/// an operand exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PmcwReserved {
    /// Offending bits of word 1 (a subset of [`PmcwFlags::MSCH_RESERVED`]).
    pub word1: u32,
    /// Offending bits of word 6 (a subset of [`PmcwChars::MSCH_RESERVED`]).
    pub word6: u32,
}

impl PmcwReserved {
    /// Whether no reserved bit is set.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.word1 == 0 && self.word6 == 0
    }
}

/// The path-management-control word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pmcw {
    /// Word 0: interruption parameter.
    pub intparm: u32,
    /// Word 1: ISC, modes and device number.
    pub flags: PmcwFlags,
    /// Word 2 bits 0–7: logical-path mask.
    pub lpm: u8,
    /// Word 2 bits 8–15: path-not-operational mask.
    pub pnom: u8,
    /// Word 2 bits 16–23: last-path-used mask.
    pub lpum: u8,
    /// Word 2 bits 24–31: path-installed mask.
    pub pim: u8,
    /// Word 3 bits 0–15: measurement-block index.
    pub mbi: u16,
    /// Word 3 bits 16–23: path-operational mask.
    pub pom: u8,
    /// Word 3 bits 24–31: path-available mask.
    pub pam: u8,
    /// Words 4–5: channel-path identifiers of paths 0–7.
    pub chpid: [u8; 8],
    /// Word 6: characteristics.
    pub chars: PmcwChars,
}

impl Pmcw {
    /// Length of the PMCW in bytes.
    pub const LEN: usize = 28;

    /// Decodes the stored big-endian form.
    #[must_use]
    pub fn from_be_bytes(b: &[u8; 28]) -> Self {
        let w = |i: usize| u32::from_be_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        let mut chpid = [0u8; 8];
        chpid.copy_from_slice(&b[16..24]);
        Self {
            intparm: w(0),
            flags: PmcwFlags::from_bits(w(1)),
            lpm: b[8],
            pnom: b[9],
            lpum: b[10],
            pim: b[11],
            mbi: u16::from_be_bytes([b[12], b[13]]),
            pom: b[14],
            pam: b[15],
            chpid,
            chars: PmcwChars::from_bits(w(6)),
        }
    }

    /// Encodes to the stored big-endian form.
    #[must_use]
    pub fn to_be_bytes(&self) -> [u8; 28] {
        let mut b = [0u8; 28];
        b[0..4].copy_from_slice(&self.intparm.to_be_bytes());
        b[4..8].copy_from_slice(&self.flags.into_bits().to_be_bytes());
        b[8..12].copy_from_slice(&[self.lpm, self.pnom, self.lpum, self.pim]);
        b[12..14].copy_from_slice(&self.mbi.to_be_bytes());
        b[14] = self.pom;
        b[15] = self.pam;
        b[16..24].copy_from_slice(&self.chpid);
        b[24..28].copy_from_slice(&self.chars.into_bits().to_be_bytes());
        b
    }

    /// The reserved bits MODIFY SUBCHANNEL rejects (operand exception) that
    /// are set in this PMCW: word 1 bits 0, 1, 6, 7 and word 6 bits 0–7,
    /// 11–28. Word 1 bit 5 is ignored, not rejected. Whether X (extended
    /// measurement words) or F with a misaligned measurement-block address
    /// are acceptable depends on the installed facilities and is the
    /// channel subsystem's decision (see [`crate::schib::Schib::mba_aligned`]).
    #[must_use]
    pub const fn msch_reserved(&self) -> PmcwReserved {
        PmcwReserved {
            word1: self.flags.into_bits() & PmcwFlags::MSCH_RESERVED,
            word6: self.chars.into_bits() & PmcwChars::MSCH_RESERVED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_in_poo_bit_order() {
        assert_eq!(PmcwFlags::new().with_reserved_0_1(3).into_bits(), 0xc000_0000);
        assert_eq!(PmcwFlags::new().with_isc(7).into_bits(), 0x3800_0000);
        assert_eq!(
            PmcwFlags::new().with_reserved_5(true).into_bits(),
            PmcwFlags::MSCH_IGNORED
        );
        assert_eq!(PmcwFlags::new().with_reserved_6_7(3).into_bits(), 0x0300_0000);
        assert_eq!(PmcwFlags::new().with_enabled(true).into_bits(), 0x0080_0000);
        assert_eq!(PmcwFlags::new().with_limit_mode(3).into_bits(), 0x0060_0000);
        assert_eq!(PmcwFlags::new().with_measurement_mode(3).into_bits(), 0x0018_0000);
        assert_eq!(PmcwFlags::new().with_multipath(true).into_bits(), 0x0004_0000);
        assert_eq!(PmcwFlags::new().with_timing(true).into_bits(), 0x0002_0000);
        assert_eq!(PmcwFlags::new().with_dnv(true).into_bits(), 0x0001_0000);
        assert_eq!(PmcwFlags::new().with_devno(0xabcd).into_bits(), 0x0000_abcd);
    }

    #[test]
    fn reserved_masks_match_qemu_masks() {
        // QEMU keeps word 1 as a halfword of flags (bits 0-15) and the devno.
        assert_eq!(PmcwFlags::MSCH_RESERVED >> 16, 0xc300);
        assert_eq!(PmcwChars::MSCH_RESERVED, 0xff1f_fff8);
        let all = PmcwChars::new()
            .with_reserved_0_7(0xff)
            .with_reserved_11_28(0x3_ffff)
            .into_bits();
        assert_eq!(all, PmcwChars::MSCH_RESERVED);
    }

    #[test]
    fn chars_are_in_poo_bit_order() {
        assert_eq!(PmcwChars::new().with_subchannel_type(7).into_bits(), 0x00e0_0000);
        assert_eq!(PmcwChars::new().with_mbfc(true).into_bits(), 4);
        assert_eq!(PmcwChars::new().with_xmwme(true).into_bits(), 2);
        assert_eq!(PmcwChars::new().with_csense(true).into_bits(), 1);
    }

    #[test]
    fn decode_qemu_virtio_pmcw() {
        // intparm 0, ISC 3, enabled, DNV, devno 0x0000; pim = pam = 0x80, pom 0xff, CHPID 0; csense.
        let mut raw = [0u8; 28];
        raw[4..8].copy_from_slice(&[0x18, 0x81, 0x00, 0x00]);
        raw[8..12].copy_from_slice(&[0x80, 0x00, 0x80, 0x80]);
        raw[12..16].copy_from_slice(&[0x00, 0x00, 0xff, 0x80]);
        raw[27] = 0x01;
        let p = Pmcw::from_be_bytes(&raw);
        assert_eq!(p.flags.isc(), 3);
        assert!(p.flags.enabled());
        assert!(p.flags.dnv());
        assert_eq!(p.lpm, 0x80);
        assert_eq!(p.pim, 0x80);
        assert_eq!(p.pam, 0x80);
        assert_eq!(p.pom, 0xff);
        assert!(p.chars.csense());
        assert!(p.msch_reserved().is_empty());
        assert_eq!(p.to_be_bytes(), raw);
    }

    #[test]
    fn msch_reserved_reports_word1_bits_0_1_6_7() {
        for (bits, expect) in [
            (0x8000_0000, 0x8000_0000),
            (0x4000_0000, 0x4000_0000),
            (0x0200_0000, 0x0200_0000),
            (0x0100_0000, 0x0100_0000),
            (0x0400_0000, 0),
        ] {
            let p = Pmcw {
                flags: PmcwFlags::from_bits(bits | 0x0081_1234),
                ..Pmcw::default()
            };
            assert_eq!(p.msch_reserved().word1, expect, "{bits:#x}");
        }
    }

    #[test]
    fn msch_reserved_reports_word6_bits() {
        let p = Pmcw {
            chars: PmcwChars::from_bits(0xffff_ffff),
            ..Pmcw::default()
        };
        assert_eq!(
            p.msch_reserved(),
            PmcwReserved {
                word1: 0,
                word6: 0xff1f_fff8
            }
        );
    }

    proptest::proptest! {
        #[test]
        fn encode_decode_identity(raw: [u8; 28]) {
            proptest::prop_assert_eq!(Pmcw::from_be_bytes(&raw).to_be_bytes(), raw);
        }
    }
}
