//! Decoding raw bytes as architected structures into field listings, for
//! `zcss decode`, `replay --verbose` and the replay diff.

use std::fmt::Write as _;

use zcss_ccw::crw::Crw;
use zcss_ccw::fields::{collect_fields, FieldList};
use zcss_ccw::intcode::InterruptionCode;
use zcss_ccw::irb::Irb;
use zcss_ccw::pmcw::Pmcw;
use zcss_ccw::schib::Schib;
use zcss_ccw::scsw::Scsw;
use zcss_ccw::senseid::SenseId;
use zcss_ccw::{Ccw, CcwFormat, Orb};

/// The structures `decode` knows (also the `zcss decode` argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Structure {
    /// Operation-request block (12 bytes, 32 with X = 1).
    Orb,
    /// Format-0 CCWs (8 bytes each).
    Ccw0,
    /// Format-1 CCWs (8 bytes each).
    Ccw1,
    /// Subchannel-status word (12 bytes).
    Scsw,
    /// Interruption-response block (64 or 96 bytes).
    Irb,
    /// Subchannel-information block (52 bytes).
    Schib,
    /// Path-management-control word (28 bytes).
    Pmcw,
    /// Channel-report word (4 bytes).
    Crw,
    /// SENSE ID data (8 bytes and up to eight 4-byte CIWs).
    Senseid,
    /// I/O-interruption code (8 bytes as TPI stores it, 12 in the prefix area).
    Intcode,
}

impl Structure {
    /// Every structure.
    pub const ALL: [Self; 10] = [
        Self::Orb,
        Self::Ccw0,
        Self::Ccw1,
        Self::Scsw,
        Self::Irb,
        Self::Schib,
        Self::Pmcw,
        Self::Crw,
        Self::Senseid,
        Self::Intcode,
    ];

    /// The name used on the command line and as a field prefix.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Orb => "orb",
            Self::Ccw0 => "ccw0",
            Self::Ccw1 => "ccw1",
            Self::Scsw => "scsw",
            Self::Irb => "irb",
            Self::Schib => "schib",
            Self::Pmcw => "pmcw",
            Self::Crw => "crw",
            Self::Senseid => "senseid",
            Self::Intcode => "intcode",
        }
    }

    /// The fewest bytes that decode.
    #[must_use]
    pub fn min_len(self) -> usize {
        match self {
            Self::Orb | Self::Scsw => 12,
            Self::Ccw0 | Self::Ccw1 | Self::Senseid | Self::Intcode => 8,
            Self::Irb => Irb::LEN_NO_EMW,
            Self::Schib => Schib::LEN,
            Self::Pmcw => Pmcw::LEN,
            Self::Crw => Crw::LEN,
        }
    }

    /// The most bytes that belong to the structure.
    #[must_use]
    pub fn max_len(self) -> usize {
        match self {
            Self::Orb => 32,
            Self::Ccw0 | Self::Ccw1 => usize::MAX,
            Self::Scsw => Scsw::LEN,
            Self::Irb => Irb::LEN,
            Self::Schib => Schib::LEN,
            Self::Pmcw => Pmcw::LEN,
            Self::Crw => Crw::LEN,
            Self::Senseid => 8 + 4 * SenseId::MAX_CIWS,
            Self::Intcode => InterruptionCode::LOWCORE_LEN,
        }
    }
}

/// Why bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not hex.
    #[error("`{0}` is not hex bytes")]
    NotHex(String),
    /// Too few or too many bytes.
    #[error("{structure} takes {min}..={max} bytes, got {got}")]
    Length {
        /// The structure name.
        structure: &'static str,
        /// Fewest bytes.
        min: usize,
        /// Most bytes.
        max: usize,
        /// Bytes given.
        got: usize,
    },
    /// CCWs come in multiples of 8 bytes.
    #[error("CCWs take a multiple of 8 bytes, got {0}")]
    CcwLength(usize),
    /// An interruption code is 8 or 12 bytes.
    #[error("an interruption code is 8 (TPI) or 12 (prefix area) bytes, got {0}")]
    IntcodeLength(usize),
}

/// Parses hex text (whitespace, `0x` prefixes and `_` separators allowed)
/// into bytes.
///
/// # Errors
/// [`DecodeError::NotHex`] for anything else or an odd digit count.
pub fn parse_hex(words: &[String]) -> Result<Vec<u8>, DecodeError> {
    let mut digits = String::new();
    for w in words {
        for part in w.split_whitespace() {
            let part = part.strip_prefix("0x").unwrap_or(part);
            digits.extend(part.chars().filter(|c| *c != '_'));
        }
    }
    if digits.len() % 2 != 0 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DecodeError::NotHex(words.join(" ")));
    }
    (0..digits.len() / 2)
        .map(|k| u8::from_str_radix(&digits[2 * k..2 * k + 2], 16).map_err(|_| DecodeError::NotHex(words.join(" "))))
        .collect()
}

/// Decodes `b` as `s` into `(field, value)` pairs. CCWs are numbered
/// (`ccw[0].cmd`).
///
/// # Errors
/// Wrong length.
pub fn decode_fields(s: Structure, b: &[u8]) -> Result<Vec<(String, String)>, DecodeError> {
    let named = |v: &dyn FieldList| -> Vec<(String, String)> {
        collect_fields(v).into_iter().map(|(n, v)| (n.to_owned(), v)).collect()
    };
    if matches!(s, Structure::Ccw0 | Structure::Ccw1) {
        if b.is_empty() || b.len() % 8 != 0 {
            return Err(DecodeError::CcwLength(b.len()));
        }
        let format = if s == Structure::Ccw0 {
            CcwFormat::Format0
        } else {
            CcwFormat::Format1
        };
        let mut out = Vec::new();
        for (k, c) in b.chunks_exact(8).enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            let ccw = Ccw::decode(format, w);
            for (n, v) in collect_fields(&ccw) {
                out.push((format!("ccw[{k}].{n}"), v));
            }
        }
        return Ok(out);
    }
    if b.len() < s.min_len() || b.len() > s.max_len() {
        return Err(DecodeError::Length {
            structure: s.name(),
            min: s.min_len(),
            max: s.max_len(),
            got: b.len(),
        });
    }
    let too_short = || DecodeError::Length {
        structure: s.name(),
        min: s.min_len(),
        max: s.max_len(),
        got: b.len(),
    };
    Ok(match s {
        Structure::Orb => named(&Orb::decode(b).ok_or_else(too_short)?),
        Structure::Scsw => named(&Scsw::decode(b).ok_or_else(too_short)?),
        Structure::Irb => named(&Irb::decode(b).ok_or_else(too_short)?),
        Structure::Schib => named(&Schib::decode(b).ok_or_else(too_short)?),
        Structure::Pmcw => {
            let a: &[u8; Pmcw::LEN] = b.try_into().map_err(|_| too_short())?;
            named(&Pmcw::from_be_bytes(a))
        }
        Structure::Crw => {
            let a: [u8; Crw::LEN] = b.try_into().map_err(|_| too_short())?;
            named(&Crw::from_be_bytes(a))
        }
        Structure::Senseid => named(&SenseId::decode(b).ok_or_else(too_short)?),
        Structure::Intcode => named(&InterruptionCode::decode(b).ok_or(DecodeError::IntcodeLength(b.len()))?),
        Structure::Ccw0 | Structure::Ccw1 => Vec::new(),
    })
}

/// Renders a field listing, one `name = value` per line, names aligned and
/// prefixed with `prefix.` (if not empty), each line indented by `indent`.
#[must_use]
pub fn render_fields(prefix: &str, fields: &[(String, String)], indent: &str) -> String {
    let full = |n: &str| {
        if prefix.is_empty() {
            n.to_owned()
        } else {
            format!("{prefix}.{n}")
        }
    };
    let width = fields.iter().map(|(n, _)| full(n).len()).max().unwrap_or(0);
    let mut s = String::new();
    for (n, v) in fields {
        let _ = writeln!(s, "{indent}{:<width$} = {v}", full(n));
    }
    s
}

/// The name of an ECKD command code of a 3390 behind a 3990 (IBM 3990
/// Storage Control Reference; the multitrack forms with bit 0 set).
#[must_use]
pub fn dasd_command_name(cmd: u8) -> Option<&'static str> {
    Some(match cmd {
        0x02 => "READ IPL",
        0x03 => "NOP",
        0x04 => "SENSE",
        0x05 => "WRITE DATA",
        0x85 => "WRITE UPDATE DATA",
        0x06 => "READ DATA",
        0x86 => "READ DATA MT",
        0x07 => "SEEK",
        0x08 => "TIC",
        0x0b => "SEEK CYLINDER",
        0x0d => "WRITE KEY AND DATA",
        0x8d => "WRITE UPDATE KEY AND DATA",
        0x0e => "READ KEY AND DATA",
        0x8e => "READ KEY AND DATA MT",
        0x11 => "ERASE",
        0x12 => "READ COUNT",
        0x92 => "READ COUNT MT",
        0x13 => "RECALIBRATE",
        0x14 => "UNCONDITIONAL RESERVE",
        0x15 => "WRITE RECORD ZERO",
        0x16 => "READ RECORD ZERO",
        0x19 => "WRITE HOME ADDRESS",
        0x1a => "READ HOME ADDRESS",
        0x1b => "SEEK HEAD",
        0x1d => "WRITE CKD",
        0x9d => "WRITE CKD NEXT TRACK",
        0x1e => "READ CKD",
        0x9e => "READ CKD MT",
        0x1f => "SET FILE MASK",
        0x22 => "READ SECTOR",
        0x23 => "SET SECTOR",
        0x27 => "PERFORM SUBSYSTEM FUNCTION",
        0x29 => "SEARCH KEY EQUAL",
        0x31 => "SEARCH ID EQUAL",
        0x34 => "SENSE PATH GROUP ID",
        0x39 => "SEARCH HA EQUAL",
        0x3e => "READ SUBSYSTEM DATA",
        0x47 => "LOCATE RECORD",
        0x4b => "LOCATE RECORD EXTENDED",
        0x54 => "SENSE SUBSYSTEM STATUS",
        0x5e => "READ MULTIPLE CKD",
        0x63 => "DEFINE EXTENT",
        0x64 => "READ DEVICE CHARACTERISTICS",
        0x94 => "RELEASE",
        0x95 => "WRITE FULL TRACK",
        0xa5 => "WRITE TRACK DATA",
        0xa6 => "READ TRACK DATA",
        0xaf => "SET PATH GROUP ID",
        0xb4 => "RESERVE",
        0xde => "READ TRACK",
        0xe4 => "SENSE ID",
        0xe7 => "PREFIX",
        0xfa => "READ CONFIGURATION DATA",
        _ => return None,
    })
}

/// The name of a CCW command code for a device of `kind` (DASD kinds: the
/// ECKD names; others, or unknown: [`command_name`]).
#[must_use]
pub fn command_name_for(kind: Option<crate::trace::DeviceKind>, cmd: u8) -> Option<&'static str> {
    use crate::trace::DeviceKind as K;
    match kind {
        Some(K::Dasd3390 | K::VfioDasd) => dasd_command_name(cmd),
        _ => command_name(cmd),
    }
}

/// The name of a CCW command code, for channel-program listings (the basic
/// commands every control unit knows and the virtio-ccw commands).
#[must_use]
pub fn command_name(cmd: u8) -> Option<&'static str> {
    use zcss_virtio_ccw::commands as v;
    Some(match cmd {
        0x08 => "TIC",
        v::CCW_CMD_NOOP => "NOP",
        v::CCW_CMD_BASIC_SENSE => "SENSE",
        v::CCW_CMD_SENSE_ID => "SENSE ID",
        v::CCW_CMD_SET_VQ => "SET_VQ",
        v::CCW_CMD_VDEV_RESET => "VDEV_RESET",
        v::CCW_CMD_READ_FEAT => "READ_FEAT",
        v::CCW_CMD_WRITE_FEAT => "WRITE_FEAT",
        v::CCW_CMD_READ_CONF => "READ_CONF",
        v::CCW_CMD_WRITE_CONF => "WRITE_CONF",
        v::CCW_CMD_WRITE_STATUS => "WRITE_STATUS",
        v::CCW_CMD_READ_STATUS => "READ_STATUS",
        v::CCW_CMD_SET_IND => "SET_IND",
        v::CCW_CMD_SET_CONF_IND => "SET_CONF_IND",
        v::CCW_CMD_READ_VQ_CONF => "READ_VQ_CONF",
        v::CCW_CMD_SET_IND_ADAPTER => "SET_IND_ADAPTER",
        v::CCW_CMD_SET_VIRTIO_REV => "SET_VIRTIO_REV",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_ccw1_lists_each_ccw() {
        let b = parse_hex(&["83200006 00002000 08000000 00003000".into()]).unwrap();
        let f = decode_fields(Structure::Ccw1, &b).unwrap();
        assert_eq!(f[0], ("ccw[0].cmd".to_owned(), "0x83".to_owned()));
        assert!(f.iter().any(|(n, v)| n == "ccw[1].cda" && v == "0x3000"));
    }

    #[test]
    fn decode_scsw_short_input_reports_length() {
        let e = decode_fields(Structure::Scsw, &[0; 4]).unwrap_err();
        assert_eq!(
            e,
            DecodeError::Length {
                structure: "scsw",
                min: 12,
                max: 12,
                got: 4
            }
        );
    }

    #[test]
    fn decode_irb_names_device_status() {
        let mut b = vec![0u8; 64];
        b[8] = 0x0c;
        let f = decode_fields(Structure::Irb, &b).unwrap();
        assert!(f.iter().any(|(n, v)| n == "scsw.dstat" && v == "CE|DE"), "{f:?}");
    }

    #[test]
    fn decode_every_structure_at_min_and_max_length_lists_fields() {
        for s in Structure::ALL {
            let max = s.max_len().min(96);
            for len in [s.min_len(), max] {
                let f = decode_fields(s, &vec![0; len]).unwrap_or_else(|e| panic!("{s:?} {len}: {e}"));
                assert!(!f.is_empty(), "{s:?} {len}");
            }
        }
    }

    #[test]
    fn decode_one_byte_too_many_reports_length() {
        for s in Structure::ALL.into_iter().filter(|s| s.max_len() < 1000) {
            let e = decode_fields(s, &vec![0; s.max_len() + 1]).unwrap_err();
            assert!(matches!(e, DecodeError::Length { .. }), "{s:?}: {e}");
        }
    }

    #[test]
    fn parse_hex_odd_digits_is_an_error() {
        assert!(matches!(parse_hex(&["abc".into()]), Err(DecodeError::NotHex(_))));
    }

    #[test]
    fn render_fields_aligns_names() {
        let s = render_fields("irb", &[("a".into(), "1".into()), ("bbb".into(), "2".into())], "  ");
        assert_eq!(s, "  irb.a   = 1\n  irb.bbb = 2\n");
    }
}
