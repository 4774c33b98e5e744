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
use zcss_css::chsc::CHSC_AREA_LEN;

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
    /// Format-1 IDAWs (4 bytes each, 31-bit data addresses).
    Idal1,
    /// Format-2 IDAWs (8 bytes each, 64-bit data addresses).
    Idal2,
    /// MIDAWs (16 bytes each).
    Midal,
    /// Command-information words of SENSE ID data (4 bytes each).
    Ciw,
    /// A CHSC command block: the request and, after it, the response.
    Chsc,
}

impl Structure {
    /// Every structure.
    pub const ALL: [Self; 15] = [
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
        Self::Idal1,
        Self::Idal2,
        Self::Midal,
        Self::Ciw,
        Self::Chsc,
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
            Self::Idal1 => "idal1",
            Self::Idal2 => "idal2",
            Self::Midal => "midal",
            Self::Ciw => "ciw",
            Self::Chsc => "chsc",
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
            Self::Idal1 | Self::Ciw => len > 0 && len % 4 == 0,
            Self::Idal2 => len > 0 && len % 8 == 0,
            Self::Midal => len > 0 && len % 16 == 0,
            Self::Chsc => (4..=CHSC_AREA_LEN).contains(&len) && len % 4 == 0,
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
            Self::Ccw0 | Self::Ccw1 | Self::Idal2 => 8,
            Self::Idal1 | Self::Ciw => 4,
            Self::Midal => 16,
            Self::Chsc => CHSC_AREA_LEN,
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
            Self::Idal1 => "format-1 IDAWs are 4 bytes each",
            Self::Idal2 => "format-2 IDAWs are 8 bytes each",
            Self::Midal => "MIDAWs are 16 bytes each",
            Self::Ciw => "CIWs are 4 bytes each",
            Self::Chsc => "a CHSC block is a multiple of 4 bytes, from its 4-byte header up to 4096",
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
    #[error("{lengths}; got {}", plural(*.got as u64, "byte"))]
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
    if let Some(list) = decode_list(s, b) {
        return Ok(list);
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

/// The lists and blocks: IDAWs, MIDAWs, CIWs (numbered `idaw[0]`, …) and
/// CHSC blocks; `None` for the other structures.
fn decode_list(s: Structure, b: &[u8]) -> Option<Vec<(String, String)>> {
    let word = |c: &[u8]| c.iter().fold(0u64, |a, x| a << 8 | u64::from(*x));
    Some(match s {
        Structure::Idal1 => b
            .chunks_exact(4)
            .enumerate()
            .map(|(k, c)| (format!("idaw[{k}]"), format!("{:#010x}", word(c))))
            .collect(),
        Structure::Idal2 => b
            .chunks_exact(8)
            .enumerate()
            .map(|(k, c)| (format!("idaw[{k}]"), format!("{:#018x}", word(c))))
            .collect(),
        Structure::Midal => {
            let mut out = Vec::new();
            for (k, c) in b.chunks_exact(16).enumerate() {
                let flags = zcss_ccw::status::join_names(
                    c[5],
                    &["LAST", "SKIP", "DTIC", "RES43", "RES44", "RES45", "RES46", "RES47"],
                );
                out.push((format!("midaw[{k}].res0"), format!("{:#x}", word(&c[..5]))));
                out.push((format!("midaw[{k}].flags"), flags));
                out.push((format!("midaw[{k}].count"), format!("{:#x}", word(&c[6..8]))));
                out.push((format!("midaw[{k}].cda"), format!("{:#x}", word(&c[8..]))));
            }
            out
        }
        Structure::Ciw => {
            let mut out = Vec::new();
            for (k, c) in b.chunks_exact(4).enumerate() {
                let entry = c[0] >> 6;
                let kind = c[0] & 0x0f;
                let kind_name = match kind {
                    0 => "RCD (read configuration data)",
                    1 => "SII (set interface identifier)",
                    2 => "RNI (read node identifier)",
                    _ => "",
                };
                out.push((
                    format!("ciw[{k}].et"),
                    format!("{entry}{}", if entry == 1 { " (a CIW)" } else { " (not a CIW)" }),
                ));
                out.push((format!("ciw[{k}].res2"), format!("{:#x}", (c[0] >> 4) & 3)));
                out.push((
                    format!("ciw[{k}].ct"),
                    format!(
                        "{kind}{}",
                        if kind_name.is_empty() {
                            String::new()
                        } else {
                            format!(" {kind_name}")
                        }
                    ),
                ));
                out.push((format!("ciw[{k}].command"), format!("{:#04x}", c[1])));
                out.push((format!("ciw[{k}].count"), format!("{:#x}", word(&c[2..]))));
            }
            out
        }
        Structure::Chsc => decode_chsc(b),
        _ => return None,
    })
}

/// A CHSC block: the request header (length, command code and its name),
/// the request body as hex words, and — when the bytes go on past the
/// request — the response header (length, response code and its name,
/// the command-dependent word) and body.
fn decode_chsc(b: &[u8]) -> Vec<(String, String)> {
    use zcss_css::chsc::{command, response};
    let half = |k: usize| b.get(k..k + 2).map_or(0, |h| u16::from_be_bytes([h[0], h[1]]));
    let words = |r: &[u8]| {
        r.chunks(4)
            .map(|w| w.iter().map(|x| format!("{x:02x}")).collect::<String>())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = Vec::new();
    let len = usize::from(half(0));
    let code = half(2);
    let name = match code {
        command::SCPD => " (store channel-path description)",
        command::SSD => " (store subchannel description)",
        command::SEI => " (store event information)",
        command::SCSC => " (store channel-subsystem characteristics)",
        command::SDA => " (set domain attributes)",
        command::SDCAL => " (store domain configuration attributes list)",
        _ => "",
    };
    out.push(("request.length".to_owned(), format!("{len:#x}")));
    out.push(("request.code".to_owned(), format!("{code:#06x}{name}")));
    let req_end = len.clamp(4, b.len());
    if req_end > 4 {
        out.push(("request.body".to_owned(), words(&b[4..req_end])));
    }
    if b.len() >= req_end + 4 && len >= 4 {
        let r = &b[req_end..];
        let rlen = usize::from(u16::from_be_bytes([r[0], r[1]]));
        let rcode = u16::from_be_bytes([r[2], r[3]]);
        let rname = match rcode {
            response::OK => " (successful)",
            response::INVALID_COMMAND => " (invalid command)",
            response::REQUEST_ERROR => " (request error)",
            response::NOT_PROVIDED => " (not provided)",
            response::NO_EVENT => " (no event information pending)",
            response::INVALID_FORMAT => " (invalid format)",
            response::INVALID_CSSID => " (invalid css id)",
            response::FACILITY_NOT_ENABLED => " (facility not enabled)",
            _ => "",
        };
        out.push(("response.length".to_owned(), format!("{rlen:#x}")));
        out.push(("response.code".to_owned(), format!("{rcode:#06x}{rname}")));
        if r.len() >= 8 {
            out.push(("response.word1".to_owned(), words(&r[4..8])));
        }
        if r.len() > 8 {
            let body_end = rlen.clamp(8, r.len());
            if body_end > 8 {
                out.push(("response.body".to_owned(), words(&r[8..body_end])));
            }
        }
    }
    out
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
        Structure::Ccw0
        | Structure::Ccw1
        | Structure::Idal1
        | Structure::Idal2
        | Structure::Midal
        | Structure::Ciw
        | Structure::Chsc => None,
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

/// `n` and `noun`, in the plural unless `n` is 1 (`1 mismatch`, `2
/// mismatches`, `0 files`).
#[must_use]
pub fn plural(n: u64, noun: &str) -> String {
    match (n, noun.ends_with("ch") || noun.ends_with('s')) {
        (1, _) => format!("1 {noun}"),
        (_, true) => format!("{n} {noun}es"),
        (_, false) => format!("{n} {noun}s"),
    }
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
    fn decode_idal_midal_and_ciw_list_each_entry() {
        let f = decode_fields(Structure::Idal1, &parse_hex(&["000037f8 00004000".into()]).unwrap()).unwrap();
        assert_eq!(
            f,
            vec![
                ("idaw[0]".into(), "0x000037f8".into()),
                ("idaw[1]".into(), "0x00004000".into())
            ]
        );
        let f = decode_fields(Structure::Idal2, &[0, 0, 0, 1, 0, 0, 0x50, 0]).unwrap();
        assert_eq!(f, vec![("idaw[0]".into(), "0x0000000100005000".into())]);
        let m = parse_hex(&["00000000 00c00010 00000000 00006000".into()]).unwrap();
        let f = decode_fields(Structure::Midal, &m).unwrap();
        assert!(f.contains(&("midaw[0].flags".into(), "LAST|SKIP".into())), "{f:?}");
        assert!(f.contains(&("midaw[0].count".into(), "0x10".into())), "{f:?}");
        let f = decode_fields(Structure::Ciw, &[0x40, 0xfa, 0x01, 0x00]).unwrap();
        assert!(f.contains(&("ciw[0].command".into(), "0xfa".into())), "{f:?}");
        assert!(f.iter().any(|(n, v)| n == "ciw[0].ct" && v.contains("RCD")), "{f:?}");
    }

    #[test]
    fn decode_chsc_names_command_and_response() {
        let b = parse_hex(&["00100004 00000000 00000000 00000000 00100001 00000000".into()]).unwrap();
        let f = decode_fields(Structure::Chsc, &b).unwrap();
        assert!(
            f.contains(&("request.code".into(), "0x0004 (store subchannel description)".into())),
            "{f:?}"
        );
        assert!(
            f.contains(&("response.code".into(), "0x0001 (successful)".into())),
            "{f:?}"
        );
    }

    #[test]
    fn decode_chsc_of_any_length_it_takes_never_panics() {
        for len in (4..=64).step_by(4) {
            for fill in [0u8, 0xff, 0x08] {
                let mut b = vec![fill; len];
                b[1] = 0x08;
                assert!(decode_fields(Structure::Chsc, &b).is_ok(), "{len} {fill}");
            }
        }
    }

    #[test]
    fn decode_any_structure_any_length_never_panics() {
        for s in Structure::ALL {
            for len in 0..=160 {
                let b: Vec<u8> = (0..len).map(|k| u8::try_from((k * 37 + len) % 256).unwrap()).collect();
                let _ = decode_fields(s, &b);
            }
        }
    }

    #[test]
    fn decode_intcode_names_the_subchannel() {
        let f = decode_fields(Structure::Intcode, &[0, 1, 0, 4, 0, 0, 0, 7]).unwrap();
        assert!(f.contains(&("sid".into(), "0x10004 (0.0.0004)".into())), "{f:?}");
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
