//! The channel-report word (Principles of Operation, chapter 17, "I/O
//! Support Functions", "Channel-Subsystem Recovery", "Channel-Report Word"),
//! stored by STORE CHANNEL REPORT WORD after a channel-report-pending
//! machine check.
//!
//! | bits  | field |
//! |-------|-------|
//! | 0     | reserved |
//! | 1     | S: solicited |
//! | 2     | R: overflow (CRWs were lost) |
//! | 3     | C: chaining (another CRW of the same report follows) |
//! | 4–7   | RSC: reporting-source code |
//! | 8     | A: ancillary report |
//! | 9     | reserved |
//! | 10–15 | ERC: error-recovery code |
//! | 16–31 | RSID: reporting-source id |

use bitfield_struct::bitfield;

/// Reporting-source codes (CRW bits 4–7).
pub mod rsc {
    /// Monitoring facility.
    pub const MONITOR: u8 = 0x2;
    /// Subchannel; RSID = subchannel number. With multiple subchannel sets
    /// or MCSS-E, a chained second CRW names the CSSID and SSID (see
    /// [`super::Crw::subchannel_chain_rsid`]).
    pub const SUBCHANNEL: u8 = 0x3;
    /// Channel path; RSID = CHPID (CRW bits 24–31); a chained second CRW
    /// carries the CSSID in CRW bits 16–23.
    pub const CHANNEL_PATH: u8 = 0x4;
    /// Configuration-alert facility.
    pub const CONFIG_ALERT: u8 = 0x9;
    /// Channel subsystem (event information pending for CHSC store-event-information).
    pub const CSS: u8 = 0xb;

    /// Short name of a reporting-source code, or `None` if unassigned here.
    #[must_use]
    pub const fn name(code: u8) -> Option<&'static str> {
        match code {
            MONITOR => Some("MONITOR"),
            SUBCHANNEL => Some("SCH"),
            CHANNEL_PATH => Some("CHP"),
            CONFIG_ALERT => Some("CONFIG"),
            CSS => Some("CSS"),
            _ => None,
        }
    }
}

/// Error-recovery codes (CRW bits 10–15).
pub mod erc {
    /// Event information pending.
    pub const EVENT: u8 = 0;
    /// Available.
    pub const AVAILABLE: u8 = 1;
    /// Initialized.
    pub const INIT: u8 = 2;
    /// Temporary error.
    pub const TEMP_ERROR: u8 = 3;
    /// Installed parameters initialized.
    pub const INSTALLED_PARMS_INIT: u8 = 4;
    /// Terminal.
    pub const TERMINAL: u8 = 5;
    /// Permanent error with the facility not initialized.
    pub const PERM_ERROR_NOT_INIT: u8 = 6;
    /// Permanent error with the facility initialized.
    pub const PERM_ERROR_INIT: u8 = 7;
    /// Installed parameters modified.
    pub const INSTALLED_PARMS_MODIFIED: u8 = 8;

    /// Short name of an error-recovery code, or `None` if unassigned here.
    #[must_use]
    pub const fn name(code: u8) -> Option<&'static str> {
        match code {
            EVENT => Some("EVENT"),
            AVAILABLE => Some("AVAIL"),
            INIT => Some("INIT"),
            TEMP_ERROR => Some("TERROR"),
            INSTALLED_PARMS_INIT => Some("IPARM"),
            TERMINAL => Some("TERM"),
            PERM_ERROR_NOT_INIT => Some("PERRN"),
            PERM_ERROR_INIT => Some("PERRI"),
            INSTALLED_PARMS_MODIFIED => Some("PMOD"),
            _ => None,
        }
    }
}

/// The channel-report word.
#[bitfield(u32, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct Crw {
    /// Bit 0: reserved.
    pub reserved0: bool,
    /// Bit 1 (S): solicited (the report answers a program request such as RCHP).
    pub solicited: bool,
    /// Bit 2 (R): overflow — one or more CRWs were lost before this one.
    pub overflow: bool,
    /// Bit 3 (C): chaining — more CRWs of the same report follow.
    pub chaining: bool,
    /// Bits 4–7: reporting-source code (see [`rsc`]).
    #[bits(4)]
    pub rsc: u8,
    /// Bit 8 (A): ancillary report.
    pub ancillary: bool,
    /// Bit 9: reserved.
    pub reserved9: bool,
    /// Bits 10–15: error-recovery code (see [`erc`]).
    #[bits(6)]
    pub erc: u8,
    /// Bits 16–31: reporting-source id.
    pub rsid: u16,
}

impl Crw {
    /// Length of a CRW in bytes.
    pub const LEN: usize = 4;

    /// A CRW with the given source, recovery code and source id (codes
    /// are masked to their field widths).
    #[must_use]
    pub const fn report(rsc: u8, erc: u8, rsid: u16) -> Self {
        Self::new().with_rsc(rsc & 0xf).with_erc(erc & 0x3f).with_rsid(rsid)
    }

    /// RSID of the second CRW of a chained subchannel report: CSSID in bits
    /// 16–23 of the CRW (RSID bits 0–7) and SSID in CRW bits 26–27 (RSID
    /// bits 10–11), i.e. `cssid << 8 | ssid << 4`.
    #[must_use]
    pub const fn subchannel_chain_rsid(cssid: u8, ssid: u8) -> u16 {
        (cssid as u16) << 8 | ((ssid & 3) as u16) << 4
    }

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

    /// Symbolic form, e.g. `S|C rsc=CHP erc=INIT rsid=0x0000`; unnamed
    /// codes are shown in hex, reserved bits only when set.
    #[must_use]
    pub fn describe(self) -> String {
        use core::fmt::Write;
        let mut out = String::new();
        for (set, name) in [
            (self.reserved0(), "RES0"),
            (self.solicited(), "S"),
            (self.overflow(), "R"),
            (self.chaining(), "C"),
            (self.ancillary(), "A"),
            (self.reserved9(), "RES9"),
        ] {
            if set {
                if !out.is_empty() {
                    out.push('|');
                }
                out.push_str(name);
            }
        }
        if !out.is_empty() {
            out.push(' ');
        }
        let _ = match rsc::name(self.rsc()) {
            Some(n) => write!(out, "rsc={n}"),
            None => write!(out, "rsc={:#x}", self.rsc()),
        };
        let _ = match erc::name(self.erc()) {
            Some(n) => write!(out, " erc={n}"),
            None => write!(out, " erc={:#x}", self.erc()),
        };
        let _ = write!(out, " rsid={:#06x}", self.rsid());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_in_poo_bit_order() {
        assert_eq!(Crw::new().with_reserved0(true).into_bits(), 0x8000_0000);
        assert_eq!(Crw::new().with_solicited(true).into_bits(), 0x4000_0000);
        assert_eq!(Crw::new().with_overflow(true).into_bits(), 0x2000_0000);
        assert_eq!(Crw::new().with_chaining(true).into_bits(), 0x1000_0000);
        assert_eq!(Crw::new().with_rsc(0xf).into_bits(), 0x0f00_0000);
        assert_eq!(Crw::new().with_ancillary(true).into_bits(), 0x0080_0000);
        assert_eq!(Crw::new().with_reserved9(true).into_bits(), 0x0040_0000);
        assert_eq!(Crw::new().with_erc(0x3f).into_bits(), 0x003f_0000);
        assert_eq!(Crw::new().with_rsid(0xffff).into_bits(), 0x0000_ffff);
    }

    #[test]
    fn rchp_report_is_solicited_channel_path_init() {
        let crw = Crw::report(rsc::CHANNEL_PATH, erc::INIT, 0x00).with_solicited(true);
        assert_eq!(crw.to_be_bytes(), [0x44, 0x02, 0x00, 0x00]);
        assert_eq!(crw.describe(), "S rsc=CHP erc=INIT rsid=0x0000");
    }

    #[test]
    fn subchannel_report_chained_with_css_and_ssid() {
        let first = Crw::report(rsc::SUBCHANNEL, erc::INSTALLED_PARMS_INIT, 0x0004).with_chaining(true);
        assert_eq!(first.into_bits(), 0x1304_0004);
        let second = Crw::report(
            rsc::SUBCHANNEL,
            erc::INSTALLED_PARMS_INIT,
            Crw::subchannel_chain_rsid(0xfe, 1),
        );
        assert_eq!(second.into_bits(), 0x0304_fe10);
        assert_eq!(first.describe(), "C rsc=SCH erc=IPARM rsid=0x0004");
    }

    #[test]
    fn describe_unnamed_codes_in_hex() {
        let crw = Crw::from_bits(0xbfff_1234);
        assert_eq!(crw.describe(), "RES0|R|C|A|RES9 rsc=0xf erc=0x3f rsid=0x1234");
        assert_eq!(
            Crw::report(rsc::CSS, erc::EVENT, 0).describe(),
            "rsc=CSS erc=EVENT rsid=0x0000"
        );
    }

    #[test]
    fn erc_and_rsc_values_follow_poo() {
        assert_eq!(
            [
                erc::EVENT,
                erc::AVAILABLE,
                erc::INIT,
                erc::TEMP_ERROR,
                erc::INSTALLED_PARMS_INIT
            ],
            [0, 1, 2, 3, 4]
        );
        assert_eq!(
            [
                erc::TERMINAL,
                erc::PERM_ERROR_NOT_INIT,
                erc::PERM_ERROR_INIT,
                erc::INSTALLED_PARMS_MODIFIED
            ],
            [5, 6, 7, 8]
        );
        assert_eq!(
            [rsc::SUBCHANNEL, rsc::CHANNEL_PATH, rsc::CONFIG_ALERT, rsc::CSS],
            [3, 4, 9, 0xb]
        );
    }

    proptest::proptest! {
        #[test]
        fn encode_decode_identity(raw: [u8; 4]) {
            proptest::prop_assert_eq!(Crw::from_be_bytes(raw).to_be_bytes(), raw);
        }
    }
}
