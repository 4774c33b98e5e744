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

    /// Whether `len` bytes are a whole structure of this kind (an ORB is
    /// 12 or 32 bytes, an IRB 64 or 96, CCWs a multiple of 8, …).
    #[must_use]
    pub fn takes(self, len: usize) -> bool {
        match self {
            Self::Orb => len == Orb::BASIC_LEN || len == Orb::EXTENDED_LEN,
            Self::Ccw0 | Self::Ccw1 => len > 0 && len % 8 == 0,
            Self::Scsw => len == Scsw::LEN,
            Self::Irb => len == Irb::LEN_NO_EMW || len == Irb::LEN,
            Self::Schib => len == Schib::LEN,
            Self::Pmcw => len == Pmcw::LEN,
            Self::Crw => len == Crw::LEN,
            Self::Senseid => (SenseId::BASIC_LEN..=SenseId::MAX_LEN).contains(&len) && len % 4 == 0,
            Self::Intcode => len == InterruptionCode::TPI_LEN || len == InterruptionCode::LOWCORE_LEN,
        }
    }

    /// The longest form of the structure (what a decoder may read).
    fn full_len(self) -> usize {
        match self {
            Self::Orb => Orb::EXTENDED_LEN,
            Self::Irb => Irb::LEN,
            Self::Senseid => SenseId::MAX_LEN,
            Self::Intcode => InterruptionCode::LOWCORE_LEN,
            Self::Scsw => Scsw::LEN,
            Self::Schib => Schib::LEN,
            Self::Pmcw => Pmcw::LEN,
            Self::Crw => Crw::LEN,
            Self::Ccw0 | Self::Ccw1 => 8,
        }
    }

    /// The lengths this structure comes in, in words (`12 or 32 bytes`).
    #[must_use]
    pub fn lengths(self) -> &'static str {
        match self {
            Self::Orb => "an ORB is 12 bytes (words 0-2) or 32 bytes (with the extension, X = 1)",
            Self::Ccw0 | Self::Ccw1 => "CCWs are 8 bytes each",
            Self::Scsw => "an SCSW is 12 bytes",
            Self::Irb => "an IRB is 64 bytes, or 96 with the extended-measurement word",
            Self::Schib => "a SCHIB is 52 bytes",
            Self::Pmcw => "a PMCW is 28 bytes",
            Self::Crw => "a CRW is 4 bytes",
            Self::Senseid => "SENSE ID data is 8 bytes and up to eight 4-byte CIWs (8, 12, 16, ... or 40 bytes)",
            Self::Intcode => "an interruption code is 8 bytes (as TPI stores it) or 12 (in the prefix area)",
        }
    }
}

/// Why bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not hex.
    #[error("`{0}` is not hex bytes")]
    NotHex(String),
    /// Not a length the structure comes in.
    #[error("{lengths}; got {}", crate::trace::replay::plural(*.got as u64, "byte"))]
    Length {
        /// The structure name.
        structure: &'static str,
        /// The lengths it takes, in words ([`Structure::lengths`]).
        lengths: &'static str,
        /// Bytes given.
        got: usize,
    },
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
/// (`ccw[0].cmd`). Only fields held in the given bytes are listed: a
/// 12-byte ORB with X = 1 shows no extension fields, a 64-byte IRB no
/// extended-measurement word.
///
/// # Errors
/// `b` is not a length the structure comes in.
pub fn decode_fields(s: Structure, b: &[u8]) -> Result<Vec<(String, String)>, DecodeError> {
    if !s.takes(b.len()) {
        return Err(DecodeError::Length {
            structure: s.name(),
            lengths: s.lengths(),
            got: b.len(),
        });
    }
    if matches!(s, Structure::Ccw0 | Structure::Ccw1) {
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
    // A structure may decode more than the bytes given (an ORB's extension
    // when X = 1, an IRB's EMW): decode the bytes padded once with zeros
    // and once with ones, and keep the fields that do not depend on the
    // padding, which are exactly those the given bytes hold.
    let full = s.full_len();
    let padded = |fill: u8| {
        let mut v = b.to_vec();
        v.resize(full.max(b.len()), fill);
        v
    };
    let zeros = fields_of(s, &padded(0), b.len());
    let ones = fields_of(s, &padded(0xff), b.len());
    Ok(zeros.into_iter().filter(|f| ones.contains(f)).collect())
}

/// The fields of `s` decoded from `b` (padded to the structure's full
/// length), `given` of them from the caller.
fn fields_of(s: Structure, b: &[u8], given: usize) -> Vec<(String, String)> {
    let named = |v: &dyn FieldList| -> Vec<(String, String)> {
        collect_fields(v).into_iter().map(|(n, v)| (n.to_owned(), v)).collect()
    };
    let b_given = b.get(..given).unwrap_or(b);
    match s {
        Structure::Orb => Orb::decode(b).map(|v| named(&v)),
        Structure::Scsw => Scsw::decode(b).map(|v| named(&v)),
        Structure::Irb => Irb::decode(b).map(|v| named(&v)),
        Structure::Schib => Schib::decode(b).map(|v| named(&v)),
        Structure::Pmcw => <&[u8; Pmcw::LEN]>::try_from(b)
            .ok()
            .map(|a| named(&Pmcw::from_be_bytes(a))),
        Structure::Crw => <[u8; Crw::LEN]>::try_from(b)
            .ok()
            .map(|a| named(&Crw::from_be_bytes(a))),
        Structure::Senseid => SenseId::decode(b_given).map(|v| named(&v)),
        Structure::Intcode => InterruptionCode::decode(b_given).map(|v| named(&v)),
        Structure::Ccw0 | Structure::Ccw1 => None,
    }
    .unwrap_or_default()
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
    fn decode_scsw_short_input_reports_length_in_words() {
        let e = decode_fields(Structure::Scsw, &[0; 4]).unwrap_err();
        assert_eq!(e.to_string(), "an SCSW is 12 bytes; got 4 bytes");
    }

    #[test]
    fn decode_orb_of_13_bytes_is_refused() {
        let e = decode_fields(Structure::Orb, &[0; 13]).unwrap_err();
        assert!(e.to_string().starts_with("an ORB is 12 bytes"), "{e}");
        assert!(!e.to_string().contains("..="), "{e}");
    }

    #[test]
    fn decode_12_byte_orb_with_x_lists_no_extension_fields() {
        let b = parse_hex(&["00000001 0080ff01 00002000".into()]).unwrap();
        let f = decode_fields(Structure::Orb, &b).unwrap();
        assert!(f.iter().any(|(n, v)| n == "x" && v == "1"), "{f:?}");
        assert!(
            !f.iter()
                .any(|(n, _)| n == "css_priority" || n == "cu_priority" || n == "res_ext"),
            "{f:?}"
        );
        let mut b32 = b.clone();
        b32.resize(32, 0);
        let f32 = decode_fields(Structure::Orb, &b32).unwrap();
        assert!(f32.iter().any(|(n, _)| n == "css_priority"), "{f32:?}");
    }

    #[test]
    fn decode_64_byte_irb_lists_no_emw() {
        let f = decode_fields(Structure::Irb, &[0; 64]).unwrap();
        assert!(!f.iter().any(|(n, _)| n.starts_with("emw")), "{f:?}");
        let f96 = decode_fields(Structure::Irb, &[0; 96]).unwrap();
        assert!(f96.iter().any(|(n, _)| n.starts_with("emw")), "{f96:?}");
    }

    #[test]
    fn decode_irb_names_device_status() {
        let mut b = vec![0u8; 64];
        b[8] = 0x0c;
        let f = decode_fields(Structure::Irb, &b).unwrap();
        assert!(f.iter().any(|(n, v)| n == "scsw.dstat" && v == "CE|DE"), "{f:?}");
    }

    #[test]
    fn decode_every_structure_at_each_length_it_takes_lists_fields() {
        for s in Structure::ALL {
            for len in (1..=96).filter(|&l| s.takes(l)) {
                let f = decode_fields(s, &vec![0; len]).unwrap_or_else(|e| panic!("{s:?} {len}: {e}"));
                assert!(!f.is_empty(), "{s:?} {len}");
            }
        }
    }

    #[test]
    fn decode_one_byte_too_many_reports_length() {
        for s in Structure::ALL {
            let len = (1..=96).filter(|&l| s.takes(l)).max().unwrap() + 1;
            let e = decode_fields(s, &vec![0; len]).unwrap_err();
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
