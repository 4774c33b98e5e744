//! Subchannel identification: the [`SubchannelId`] a subchannel is known by,
//! and the subchannel-identification word that I/O instructions find in
//! general register 1 (Principles of Operation, chapter 14, "I/O
//! Instructions", "Subchannel-Identification Word"; chapter 17 for the
//! multiple-subchannel-set and MCSS-E facilities).
//!
//! Word layout (bit 0 is the most significant bit of the 32-bit word):
//!
//! | bits  | field |
//! |-------|-------|
//! | 0–7   | CSSID, meaningful only when M is one |
//! | 8–11  | reserved, must be zero |
//! | 12    | M: the MCSS-E form of the word (CSSID field valid) |
//! | 13–14 | SSID, subchannel-set identifier |
//! | 15    | must be one |
//! | 16–31 | subchannel number |
//!
//! So a word is `cssid<<24 | m<<19 | ssid<<17 | 1<<16 | schno`.

use core::fmt;
use core::str::FromStr;

use bitfield_struct::bitfield;

/// Why a subchannel-identification word or a textual subchannel id is invalid.
///
/// For an I/O instruction every word variant is an operand exception.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SidError {
    /// Bit 15 of the word, which must be one, is zero.
    #[error("subchannel-identification word bit 15 is zero")]
    OneBitZero,
    /// Bits 8–11 of the word are not zero.
    #[error("subchannel-identification word reserved bits 8-11 are not zero")]
    ReservedBits,
    /// M is zero but the CSSID field (bits 0–7) is not zero.
    #[error("subchannel-identification word has a CSSID but M is zero")]
    CssidWithoutM,
    /// The text is not of the form `<cssid>.<ssid>.<schno>` in hex.
    #[error("subchannel id {0:?} is not of the form cssid.ssid.schno in hex")]
    Syntax(String),
    /// The SSID of a textual subchannel id is above 3.
    #[error("subchannel-set id {0:#x} is above 3")]
    SsidRange(u32),
}

/// Identity of a subchannel: channel-subsystem image, subchannel set and
/// subchannel number.
///
/// `ssid` is 0–3 (two bits in the identification word); [`SubchannelId::new`]
/// and [`FromStr`] enforce this, a struct literal should respect it.
/// Ordered by (cssid, ssid, schno), which is the order of a discovery loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SubchannelId {
    /// Channel-subsystem-image id (0–255; QEMU's virtual image is `0xfe`).
    pub cssid: u8,
    /// Subchannel-set id (0–3).
    pub ssid: u8,
    /// Subchannel number.
    pub schno: u16,
}

impl SubchannelId {
    /// Highest subchannel-set id.
    pub const MAX_SSID: u8 = 3;

    /// Builds an id; `None` if `ssid` is above 3.
    #[must_use]
    pub const fn new(cssid: u8, ssid: u8, schno: u16) -> Option<Self> {
        if ssid > Self::MAX_SSID {
            return None;
        }
        Some(Self { cssid, ssid, schno })
    }

    /// The subchannel-identification word the channel subsystem stores for
    /// this subchannel (in an interruption code, a CRW-chained report, or
    /// GR1 as a guest builds it). With MCSS-E enabled the word carries the
    /// CSSID and M = 1; otherwise the CSSID is not shown and M = 0.
    /// Only the low two bits of `ssid` are used.
    #[must_use]
    pub const fn to_word(self, mcss_enabled: bool) -> u32 {
        let w = SubchannelIdWord::new()
            .with_ssid(self.ssid & 3)
            .with_one(true)
            .with_schno(self.schno);
        if mcss_enabled {
            w.with_m(true).with_cssid(self.cssid).into_bits()
        } else {
            w.into_bits()
        }
    }

    /// Decodes and validates a GR1 word; the CSSID is `default_cssid` when
    /// M is zero.
    ///
    /// # Errors
    /// As [`SubchannelIdWord::parse`].
    pub fn from_word(word: u32, default_cssid: u8) -> Result<Self, SidError> {
        SubchannelIdWord::from_bits(word)
            .parse()
            .map(|p| p.with_default_css(default_cssid))
    }
}

impl fmt::Display for SubchannelId {
    /// Linux bus-id form, lowercase hex: `fe.0.0004`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}.{:x}.{:04x}", self.cssid, self.ssid, self.schno)
    }
}

impl FromStr for SubchannelId {
    type Err = SidError;

    /// Parses `<cssid>.<ssid>.<schno>`, each part one or more hex digits
    /// (either case, at most 2, 1 and 4 digits' worth of value).
    fn from_str(s: &str) -> Result<Self, SidError> {
        let syntax = || SidError::Syntax(s.chars().take(64).collect());
        let mut parts = s.split('.');
        let mut next = |max: u32| -> Result<u32, SidError> {
            let p = parts.next().ok_or_else(syntax)?;
            if p.is_empty() || p.len() > 8 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(syntax());
            }
            let v = u32::from_str_radix(p, 16).map_err(|_| syntax())?;
            if v > max {
                return Err(syntax());
            }
            Ok(v)
        };
        let cssid = next(0xff)?;
        let ssid = next(0xffff_ffff)?;
        let schno = next(0xffff)?;
        if parts.next().is_some() {
            return Err(syntax());
        }
        let ssid = u8::try_from(ssid)
            .ok()
            .filter(|&v| v <= Self::MAX_SSID)
            .ok_or(SidError::SsidRange(ssid))?;
        // Both fit: checked against their maxima above.
        let cssid = u8::try_from(cssid).map_err(|_| syntax())?;
        let schno = u16::try_from(schno).map_err(|_| syntax())?;
        Ok(Self { cssid, ssid, schno })
    }
}

/// The subchannel-identification word of general register 1, bit for bit.
#[bitfield(u32, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct SubchannelIdWord {
    /// Bits 0–7: CSSID (only meaningful when M is one; must be zero otherwise).
    pub cssid: u8,
    /// Bits 8–11: reserved, must be zero.
    #[bits(4)]
    pub reserved: u8,
    /// Bit 12 (M): the word is in MCSS-E form and the CSSID field is valid.
    pub m: bool,
    /// Bits 13–14: subchannel-set id.
    #[bits(2)]
    pub ssid: u8,
    /// Bit 15: must be one.
    pub one: bool,
    /// Bits 16–31: subchannel number.
    pub schno: u16,
}

/// A validated subchannel-identification word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParsedSid {
    /// The CSSID when M is one; `None` means "the default css image".
    pub cssid: Option<u8>,
    /// Subchannel-set id (0–3).
    pub ssid: u8,
    /// Subchannel number.
    pub schno: u16,
}

impl ParsedSid {
    /// The subchannel id, taking `default_cssid` when the word named no css image.
    #[must_use]
    pub const fn with_default_css(self, default_cssid: u8) -> SubchannelId {
        SubchannelId {
            cssid: match self.cssid {
                Some(c) => c,
                None => default_cssid,
            },
            ssid: self.ssid,
            schno: self.schno,
        }
    }
}

impl SubchannelIdWord {
    /// Validates the word as an I/O instruction does before anything else.
    ///
    /// The PoO requires bits 8–11 to be zero (operand exception otherwise);
    /// QEMU does not check them — zcss follows the PoO. Whether M = 1 is
    /// acceptable while MCSS-E is not enabled, and whether the named
    /// subchannel exists (cc 3), is for the channel subsystem to decide.
    ///
    /// # Errors
    /// [`SidError::OneBitZero`], [`SidError::ReservedBits`] or
    /// [`SidError::CssidWithoutM`], checked in that order.
    pub const fn parse(self) -> Result<ParsedSid, SidError> {
        if !self.one() {
            return Err(SidError::OneBitZero);
        }
        if self.reserved() != 0 {
            return Err(SidError::ReservedBits);
        }
        if !self.m() && self.cssid() != 0 {
            return Err(SidError::CssidWithoutM);
        }
        Ok(ParsedSid {
            cssid: if self.m() { Some(self.cssid()) } else { None },
            ssid: self.ssid(),
            schno: self.schno(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_uses_linux_bus_id_form() {
        let sid = SubchannelId::new(0xfe, 0, 4).unwrap();
        assert_eq!(sid.to_string(), "fe.0.0004");
        assert_eq!(SubchannelId::new(0, 3, 0xabcd).unwrap().to_string(), "0.3.abcd");
    }

    #[test]
    fn from_str_parses_bus_id_form() {
        assert_eq!("fe.0.0004".parse(), Ok(SubchannelId::new(0xfe, 0, 4).unwrap()));
        assert_eq!("0.0.0".parse(), Ok(SubchannelId::new(0, 0, 0).unwrap()));
        assert_eq!("FF.3.FFFF".parse(), Ok(SubchannelId::new(0xff, 3, 0xffff).unwrap()));
    }

    #[test]
    fn from_str_malformed_is_error() {
        for bad in [
            "",
            "fe",
            "fe.0",
            "fe.0.0004.1",
            "100.0.0",
            "fe.0.10000",
            "fe..0",
            "+1.0.0",
            "fe.0.-1",
            "g.0.0",
            " fe.0.0",
        ] {
            assert!(matches!(bad.parse::<SubchannelId>(), Err(SidError::Syntax(_))), "{bad}");
        }
        assert_eq!("fe.4.0".parse::<SubchannelId>(), Err(SidError::SsidRange(4)));
    }

    #[test]
    fn new_ssid_above_3_is_none() {
        assert_eq!(SubchannelId::new(0, 4, 0), None);
    }

    #[test]
    fn to_word_without_mcss_hides_cssid() {
        let sid = SubchannelId::new(0xfe, 2, 0x1234).unwrap();
        assert_eq!(sid.to_word(false), 0x0005_1234);
    }

    #[test]
    fn to_word_with_mcss_shows_cssid_and_m() {
        let sid = SubchannelId::new(0xfe, 2, 0x1234).unwrap();
        assert_eq!(sid.to_word(true), 0xfe0d_1234);
    }

    #[test]
    fn word_fields_are_in_poo_bit_order() {
        assert_eq!(SubchannelIdWord::new().with_cssid(0xff).into_bits(), 0xff00_0000);
        assert_eq!(SubchannelIdWord::new().with_reserved(0xf).into_bits(), 0x00f0_0000);
        assert_eq!(SubchannelIdWord::new().with_m(true).into_bits(), 0x0008_0000);
        assert_eq!(SubchannelIdWord::new().with_ssid(3).into_bits(), 0x0006_0000);
        assert_eq!(SubchannelIdWord::new().with_one(true).into_bits(), 0x0001_0000);
        assert_eq!(SubchannelIdWord::new().with_schno(0xffff).into_bits(), 0x0000_ffff);
    }

    #[test]
    fn parse_kvm_unit_tests_valid_word() {
        let p = SubchannelIdWord::from_bits(0x0001_ffff).parse().unwrap();
        assert_eq!(
            p,
            ParsedSid {
                cssid: None,
                ssid: 0,
                schno: 0xffff
            }
        );
        assert_eq!(p.with_default_css(0xfe), SubchannelId::new(0xfe, 0, 0xffff).unwrap());
    }

    #[test]
    fn parse_one_bit_zero_is_error() {
        assert_eq!(
            SubchannelIdWord::from_bits(0x0000_ffff).parse(),
            Err(SidError::OneBitZero)
        );
    }

    #[test]
    fn parse_reserved_bits_set_is_error() {
        for w in [0x0081_0000, 0x0041_0000, 0x0021_0000, 0x0011_0000] {
            assert_eq!(SubchannelIdWord::from_bits(w).parse(), Err(SidError::ReservedBits));
        }
    }

    #[test]
    fn parse_cssid_without_m_is_error() {
        assert_eq!(
            SubchannelIdWord::from_bits(0x0101_0000).parse(),
            Err(SidError::CssidWithoutM)
        );
    }

    #[test]
    fn parse_m_with_cssid_names_the_image() {
        let p = SubchannelIdWord::from_bits(0xfe0b_0004).parse().unwrap();
        assert_eq!(p.cssid, Some(0xfe));
        assert_eq!(p.ssid, 1);
        assert_eq!(p.schno, 4);
        assert_eq!(
            SubchannelId::from_word(0x0009_0004, 0xfe),
            Ok(SubchannelId::new(0, 0, 4).unwrap())
        );
    }

    proptest::proptest! {
        #[test]
        fn display_from_str_roundtrip(cssid: u8, ssid in 0u8..4, schno: u16) {
            let sid = SubchannelId { cssid, ssid, schno };
            proptest::prop_assert_eq!(sid.to_string().parse::<SubchannelId>(), Ok(sid));
        }

        #[test]
        fn to_word_parse_roundtrip(cssid: u8, ssid in 0u8..4, schno: u16, mcss: bool) {
            let sid = SubchannelId { cssid, ssid, schno };
            let back = SubchannelId::from_word(sid.to_word(mcss), if mcss { 0 } else { cssid });
            proptest::prop_assert_eq!(back, Ok(sid));
        }

        #[test]
        fn parse_accepts_exactly_the_valid_words(word: u32) {
            let valid = word & 0x00f1_0000 == 0x0001_0000 && (word & 0x0008_0000 != 0 || word >> 24 == 0);
            proptest::prop_assert_eq!(SubchannelIdWord::from_bits(word).parse().is_ok(), valid);
        }
    }
}
