//! The trace parser: nom, one line at a time (`all_consuming` per line),
//! never panicking, with errors located by line and column.
//!
//! Each line is split at its first `#` into a statement and a comment; the
//! statement part is parsed by the statement parser under `all_consuming`, so text
//! left over after a complete statement is an error at its column. Checks
//! that span lines (header first, one `machine` before any `device`, no two
//! devices on one subchannel) run as the lines are collected.

use nom::bytes::complete::take_till1;
use nom::combinator::all_consuming;
use nom::error::{ErrorKind, ParseError as NomParseError};
use nom::{IResult, Parser};

use super::ast::{
    DeviceKind, DeviceStmt, HexBytes, Insn, InsnStmt, Line, MachineKey, Num, NumStyle, Outcome, OutcomeClass, Param,
    Pattern, PgmName, SchAddr, Statement, Trace, TIMING_KEY,
};
use super::symbolic::{self as sym, SymKind, SymParam, SymStmt, SymValue};

/// What is wrong at a position of a trace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    /// The text is not UTF-8.
    #[error("the trace is not UTF-8 text")]
    NotUtf8,
    /// The first statement is not `zcss-trace 1`.
    #[error("a trace starts with the header `zcss-trace 1`")]
    MissingHeader,
    /// `zcss-trace <n>` with an unknown version.
    #[error("unsupported trace version {0} (this zcss reads version 1)")]
    UnsupportedVersion(String),
    /// A second header.
    #[error("a second `zcss-trace` header")]
    DuplicateHeader,
    /// The first word of a line is no statement.
    #[error("unknown statement `{0}`")]
    UnknownStatement(String),
    /// An operand is missing.
    #[error("missing {0}")]
    MissingOperand(&'static str),
    /// Text after a complete statement.
    #[error("unexpected text `{0}`")]
    UnexpectedText(String),
    /// A number is malformed.
    #[error("expected a number (decimal digits or 0x and hex digits) for {0}")]
    BadNumber(&'static str),
    /// A number does not fit its field.
    #[error("{0} is out of range")]
    NumberOutOfRange(&'static str),
    /// A subchannel is not `<cssid>.<ssid>.<schno>`.
    #[error("expected a subchannel `<cssid>.<ssid>.<schno>` in hex (cssid <= ff, ssid <= 3, schno <= ffff)")]
    BadSubchannel,
    /// A hex-byte token has a non-hex character.
    #[error("expected hex digits")]
    BadHexDigit,
    /// A hex-byte token has an odd number of digits.
    #[error("a hex-byte token needs an even number of digits")]
    OddHexDigits,
    /// A `..` wildcard outside `expect`.
    #[error("`..` wildcards are only allowed in `expect`")]
    WildcardOutsideExpect,
    /// Not `key=value`.
    #[error("expected `key=value`")]
    ExpectedKeyValue,
    /// A key this statement does not take.
    #[error("unknown key `{0}`")]
    UnknownKey(String),
    /// A key given twice.
    #[error("key `{0}` given twice")]
    DuplicateKey(String),
    /// A value of the wrong form.
    #[error("bad value for `{key}`: expected {expected}")]
    BadValue {
        /// The key.
        key: String,
        /// What the value may be.
        expected: &'static str,
    },
    /// An unknown device kind.
    #[error("unknown device kind `{0}` (kinds: virtio-blk, virtio-rng, virtio-console, dasd-3390, vfio-dasd, mock)")]
    UnknownDeviceKind(String),
    /// An unknown result after `=>`.
    #[error("unknown result `{0}` (expected cc=<0..3>, ok, pgm=<name> or, for diag500, gr2=<n> or gr2=cookie)")]
    UnknownResult(String),
    /// An unknown program-check name.
    #[error(
        "unknown program check `{0}` (expected operand, specification, addressing, protection, privileged-operation)"
    )]
    UnknownProgramCheck(String),
    /// A result this instruction cannot have.
    #[error("`{insn}` cannot have the result `{result}`")]
    ResultNotPossible {
        /// The mnemonic.
        insn: &'static str,
        /// The result as written.
        result: String,
    },
    /// A second `machine` statement.
    #[error("a second `machine` statement")]
    DuplicateMachine,
    /// `machine` after a `device`.
    #[error("`machine` must come before any `device`")]
    MachineAfterDevice,
    /// Two devices on one subchannel.
    #[error("subchannel {0} already has a device")]
    DuplicateSubchannel(SchAddr),
    /// Two devices with one device number in one subchannel set.
    #[error("device number {devno:04x} is already used in subchannel set {cssid:x}.{ssid:x}")]
    DuplicateDevno {
        /// css image.
        cssid: u8,
        /// Subchannel set.
        ssid: u8,
        /// The device number.
        devno: u16,
    },
    /// A `detach` or `console-input` naming a subchannel without a device
    /// at that point of the trace.
    #[error("subchannel {0} has no device here")]
    NoDevice(SchAddr),
    /// A `console-input` for a device that is no virtio-console.
    #[error("subchannel {0} holds no virtio-console")]
    NotAConsole(SchAddr),
    /// An `unsolicited` for a passthrough device (its status comes from
    /// its host).
    #[error("subchannel {0} holds a passthrough device: its unsolicited status comes from the host")]
    PassthroughUnsolicited(SchAddr),
    /// An `skey` on a machine without storage keys.
    #[error("`skey` needs `machine storage-keys=on`")]
    NoStorageKeys,
    /// Generic syntax error.
    #[error("syntax error")]
    Syntax,
}

/// A syntax error with its 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {kind}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub kind: SyntaxError,
}

/// The nom error: where, and what.
#[derive(Debug)]
struct PErr<'a> {
    at: &'a str,
    kind: SyntaxError,
}

impl<'a> NomParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, kind: ErrorKind) -> Self {
        if kind == ErrorKind::Eof {
            let at = input.trim_start_matches(is_space);
            return Self {
                at,
                kind: SyntaxError::UnexpectedText(first_token(at).to_owned()),
            };
        }
        Self {
            at: input,
            kind: SyntaxError::Syntax,
        }
    }

    fn append(_: &'a str, _: ErrorKind, other: Self) -> Self {
        other
    }
}

type Res<'a, T> = IResult<&'a str, T, PErr<'a>>;

fn fail<T>(at: &str, kind: SyntaxError) -> Res<'_, T> {
    Err(nom::Err::Failure(PErr { at, kind }))
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn first_token(s: &str) -> &str {
    s.split(is_space).next().unwrap_or("")
}

/// One token (a run of non-blank characters).
fn token(i: &str) -> Res<'_, &str> {
    take_till1(is_space)(i)
}

/// `i` without its leading blanks.
#[inline]
fn skip_blanks(i: &str) -> &str {
    let n = i.bytes().take_while(|&b| b == b' ' || b == b'\t').count();
    // Blanks are ASCII, so `n` is a character boundary.
    i.get(n..).unwrap_or("")
}

/// The token at the start of `j` (no leading blank) and the rest.
#[inline]
fn split_token(j: &str) -> (&str, &str) {
    let n = j.bytes().position(|b| b == b' ' || b == b'\t').unwrap_or(j.len());
    (j.get(..n).unwrap_or(j), j.get(n..).unwrap_or(""))
}

/// A blank and the next operand token; `what` names the operand if the line
/// ends (or reaches `=>`) first.
#[inline]
fn operand<'a>(i: &'a str, what: &'static str) -> Res<'a, &'a str> {
    let j = skip_blanks(i);
    if split_token(j).0 == "=>" {
        return fail(j, SyntaxError::MissingOperand(what));
    }
    any_operand(i, what)
}

/// A blank and the next token, whatever it is.
#[inline]
fn any_operand<'a>(i: &'a str, what: &'static str) -> Res<'a, &'a str> {
    let j = skip_blanks(i);
    if j.is_empty() {
        return fail(j, SyntaxError::MissingOperand(what));
    }
    if j.len() == i.len() {
        return fail(j, SyntaxError::UnexpectedText(first_token(j).to_owned()));
    }
    let (tok, rest) = split_token(j);
    Ok((rest, tok))
}

/// The next token if the line goes on (after a blank).
#[inline]
fn peek_token(i: &str) -> Option<&str> {
    let j = skip_blanks(i);
    (!j.is_empty() && j.len() < i.len()).then(|| split_token(j).0)
}

/// A number token: `0x` + 1..=16 hex digits, or decimal digits.
fn num_value(tok: &str, what: &'static str) -> Result<Num, SyntaxError> {
    if let Some(h) = tok.strip_prefix("0x") {
        hex_value(h, what).map(|(value, w)| Num {
            value,
            style: NumStyle::Hex(w),
        })
    } else if !tok.is_empty() && tok.bytes().all(|b| b.is_ascii_digit()) {
        tok.parse::<u64>()
            .map(Num::dec)
            .map_err(|_| SyntaxError::NumberOutOfRange(what))
    } else {
        Err(SyntaxError::BadNumber(what))
    }
}

/// 1..=16 hex digits (more only if leading zeros keep it in range is not
/// accepted: the width must fit the canonical form).
fn hex_value(h: &str, what: &'static str) -> Result<(u64, u8), SyntaxError> {
    if h.is_empty() {
        return Err(SyntaxError::BadNumber(what));
    }
    let mut v = 0u64;
    for b in h.bytes() {
        let Some(d) = hex_nibble(b) else {
            return Err(SyntaxError::BadNumber(what));
        };
        v = (v << 4) | u64::from(d);
    }
    if h.len() > 16 {
        return Err(SyntaxError::NumberOutOfRange(what));
    }
    // h.len() <= 16 checked above.
    Ok((v, u8::try_from(h.len()).unwrap_or(16)))
}

/// A field the contract defines as hex: bare hex digits or `0x` + hex digits,
/// at most `max`.
fn hex_field(tok: &str, what: &'static str, max: u64) -> Result<Num, SyntaxError> {
    let (digits, prefixed) = match tok.strip_prefix("0x") {
        Some(d) => (d, true),
        None => (tok, false),
    };
    let (value, w) = hex_value(digits, what)?;
    if value > max {
        return Err(SyntaxError::NumberOutOfRange(what));
    }
    let style = if prefixed {
        NumStyle::Hex(w)
    } else {
        NumStyle::BareHex(w)
    };
    Ok(Num { value, style })
}

/// A number of at most 0xff.
fn byte_value(tok: &str, what: &'static str) -> Result<Num, SyntaxError> {
    let n = num_value(tok, what)?;
    if n.value > 0xff {
        return Err(SyntaxError::NumberOutOfRange(what));
    }
    Ok(n)
}

/// Runs a token-level check and turns its error into a failure at the token.
fn at<'a, T>(tok: &'a str, r: Result<T, SyntaxError>) -> Result<T, nom::Err<PErr<'a>>> {
    r.map_err(|kind| nom::Err::Failure(PErr { at: tok, kind }))
}

fn num<'a>(i: &'a str, what: &'static str) -> Res<'a, Num> {
    let (i, tok) = operand(i, what)?;
    Ok((i, at(tok, num_value(tok, what))?))
}

/// A subchannel-id word operand: a number, or *(extension)* a bus id
/// `<cssid>.<ssid>.<schno>` standing for the word the guest would use.
fn sch_operand<'a>(i: &'a str, what: &'static str) -> Res<'a, Num> {
    let (i, tok) = operand(i, what)?;
    if tok.contains('.') {
        return Ok((i, Num::bus_id(at(tok, sch_value(tok))?)));
    }
    Ok((i, at(tok, num_value(tok, what))?))
}

/// *(extension)* A symbolic statement after its keyword: the address, an
/// IDAW list or `key=value` fields.
fn symbolic(i: &str, kind: SymKind) -> Res<'_, Statement> {
    let (mut i, addr) = num(i, "address")?;
    let mut list = Vec::new();
    let mut params: Vec<SymParam> = Vec::new();
    if matches!(kind, SymKind::Idal1 | SymKind::Idal2) {
        let max = if kind == SymKind::Idal1 {
            u64::from(u32::MAX)
        } else {
            u64::MAX
        };
        while list.is_empty() || peek_token(i).is_some() {
            let (j, tok) = operand(i, "IDAW data address")?;
            let n = at(tok, num_value(tok, "IDAW data address"))?;
            if n.value > max {
                return fail(tok, SyntaxError::NumberOutOfRange("a format-1 IDAW (4 bytes)"));
            }
            list.push(n);
            i = j;
        }
    }
    while peek_token(i).is_some() && !matches!(kind, SymKind::Idal1 | SymKind::Idal2) {
        let (j, tok) = operand(i, "field=value")?;
        let (k, v) = at(tok, key_value(tok))?;
        let val = &tok[k.len() + 1..];
        if params.iter().any(|p| p.key == k) {
            return fail(tok, SyntaxError::DuplicateKey(k.to_owned()));
        }
        let value = if kind.is_expect() {
            if sym::resolve_field(kind, k).is_none() {
                return fail(tok, SyntaxError::UnknownKey(k.to_owned()));
            }
            SymValue::Text(v.to_owned())
        } else {
            let Some(&(name, max, _)) = sym::keys(kind).iter().find(|(n, _, _)| *n == k) else {
                return fail(tok, SyntaxError::UnknownKey(k.to_owned()));
            };
            match max {
                Some(max) => {
                    let n = at(val, num_value(v, name))?;
                    if n.value > max {
                        return fail(val, SyntaxError::NumberOutOfRange(name));
                    }
                    SymValue::Num(n)
                }
                None => {
                    let allowed = sym::names_of(kind, name);
                    let names: Vec<String> = if v == "0" {
                        Vec::new()
                    } else {
                        v.split('|').map(str::to_owned).collect()
                    };
                    if names.iter().any(|n| !allowed.contains(&n.as_str())) {
                        return fail(
                            val,
                            SyntaxError::BadValue {
                                key: k.to_owned(),
                                expected: "names joined by `|` (see docs/trace-format.md), or 0",
                            },
                        );
                    }
                    SymValue::Names(names)
                }
            }
        };
        params.push(SymParam {
            key: k.to_owned(),
            value,
        });
        i = j;
    }
    if let Some((name, _, _)) = sym::keys(kind)
        .iter()
        .find(|(n, _, req)| *req && !params.iter().any(|p| p.key == *n))
    {
        return fail(i, SyntaxError::MissingOperand(name));
    }
    if kind.is_expect() && params.is_empty() {
        return fail(i, SyntaxError::MissingOperand("field=value"));
    }
    Ok((
        i,
        Statement::Symbolic(SymStmt {
            kind,
            addr,
            list,
            params,
        }),
    ))
}

/// `<cssid>.<ssid>.<schno>` in hex, as a trace writes subchannels.
impl std::str::FromStr for SchAddr {
    type Err = SyntaxError;

    fn from_str(s: &str) -> Result<Self, SyntaxError> {
        sch_value(s)
    }
}

fn sch_value(tok: &str) -> Result<SchAddr, SyntaxError> {
    let mut parts = tok.split('.');
    let (Some(c), Some(s), Some(n), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(SyntaxError::BadSubchannel);
    };
    let hex = |p: &str, max_len: usize| {
        (!p.is_empty() && p.len() <= max_len && p.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(p, 16).ok())
            .flatten()
    };
    match (hex(c, 2), hex(s, 1), hex(n, 4)) {
        (Some(cssid), Some(ssid @ 0..=3), Some(schno)) => Ok(SchAddr {
            cssid: u8::try_from(cssid).map_err(|_| SyntaxError::BadSubchannel)?,
            ssid: u8::try_from(ssid).map_err(|_| SyntaxError::BadSubchannel)?,
            schno: u16::try_from(schno).map_err(|_| SyntaxError::BadSubchannel)?,
        }),
        _ => Err(SyntaxError::BadSubchannel),
    }
}

fn hex_nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One or more hex-byte tokens to the end of the statement; `..` pairs are
/// wildcards (allowed only if `wild`). Returns bytes (None = wildcard) and
/// the token lengths.
fn hex_bytes<'a>(mut i: &'a str, wild: bool) -> Res<'a, (Vec<Option<u8>>, Vec<u32>)> {
    let mut bytes = Vec::new();
    let mut groups = Vec::new();
    loop {
        if groups.is_empty() || peek_token(i).is_some() {
            let (j, tok) = operand(i, "hex bytes")?;
            hex_token(tok, wild, &mut bytes, &mut groups)?;
            i = j;
        } else {
            return Ok((i, (bytes, groups)));
        }
    }
}

fn hex_token<'a>(
    tok: &'a str,
    wild: bool,
    bytes: &mut Vec<Option<u8>>,
    groups: &mut Vec<u32>,
) -> Result<(), nom::Err<PErr<'a>>> {
    let b = tok.as_bytes();
    for (k, pair) in b.chunks(2).enumerate() {
        let here = tok.get(k * 2..).unwrap_or(tok);
        match pair {
            [b'.', b'.'] if wild => bytes.push(None),
            [b'.', b'.'] => return Err(failure(here, SyntaxError::WildcardOutsideExpect)),
            [h, l] => match (hex_nibble(*h), hex_nibble(*l)) {
                (Some(h), Some(l)) => bytes.push(Some(h << 4 | l)),
                (None, _) => return Err(failure(here, SyntaxError::BadHexDigit)),
                (_, None) => return Err(failure(tok.get(k * 2 + 1..).unwrap_or(tok), SyntaxError::BadHexDigit)),
            },
            [h] if hex_nibble(*h).is_none() && *h != b'.' => {
                return Err(failure(here, SyntaxError::BadHexDigit));
            }
            _ => return Err(failure(tok, SyntaxError::OddHexDigits)),
        }
    }
    groups.push(u32::try_from(b.len() / 2).unwrap_or(u32::MAX));
    Ok(())
}

fn failure(at: &str, kind: SyntaxError) -> nom::Err<PErr<'_>> {
    nom::Err::Failure(PErr { at, kind })
}

/// Splits `key=value`.
fn key_value(tok: &str) -> Result<(&str, &str), SyntaxError> {
    match tok.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k, v)),
        _ => Err(SyntaxError::ExpectedKeyValue),
    }
}

fn on_off(key: &str, v: &str) -> Result<bool, SyntaxError> {
    match v {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(SyntaxError::BadValue {
            key: key.to_owned(),
            expected: "on or off",
        }),
    }
}

fn machine(mut i: &str) -> Res<'_, Statement> {
    let mut keys: Vec<MachineKey> = Vec::new();
    while peek_token(i).is_some() {
        let (j, tok) = operand(i, "key=value")?;
        let (k, v) = at(tok, key_value(tok))?;
        let val = &tok[k.len() + 1..];
        let key = match k {
            "memory" => MachineKey::Memory(at(val, num_value(v, "memory"))?),
            "mcss" => MachineKey::Mcss(at(val, on_off(k, v))?),
            "mss" => MachineKey::Mss(at(val, on_off(k, v))?),
            "default-css" => MachineKey::DefaultCss(at(val, hex_field(v, "default-css", 0xff))?),
            "map-css" => MachineKey::MapCss(at(val, on_off(k, v))?),
            "ccw-loop-limit" => {
                let n = at(val, num_value(v, "ccw-loop-limit"))?;
                if n.value == 0 || n.value > u64::from(u32::MAX) {
                    return fail(val, SyntaxError::NumberOutOfRange("ccw-loop-limit (1 to 4294967295)"));
                }
                MachineKey::CcwLoopLimit(n)
            }
            "ccw-limit" => {
                let n = at(val, num_value(v, "ccw-limit"))?;
                if n.value == 0 || n.value > u64::from(u32::MAX) {
                    return fail(val, SyntaxError::NumberOutOfRange("ccw-limit (1 to 4294967295)"));
                }
                MachineKey::CcwLimit(n)
            }
            "storage-keys" => MachineKey::StorageKeys(at(val, on_off(k, v))?),
            _ => return fail(tok, SyntaxError::UnknownKey(k.to_owned())),
        };
        if keys
            .iter()
            .any(|old| std::mem::discriminant(old) == std::mem::discriminant(&key))
        {
            return fail(tok, SyntaxError::DuplicateKey(k.to_owned()));
        }
        keys.push(key);
        i = j;
    }
    Ok((i, Statement::Machine(keys)))
}

fn device_value(kind: DeviceKind, key: &str, v: &str) -> Result<(), SyntaxError> {
    let bad = |expected| {
        Err(SyntaxError::BadValue {
            key: key.to_owned(),
            expected,
        })
    };
    match (kind, key) {
        (DeviceKind::VirtioBlk, "size") => num_value(v, "size").map(|_| ()),
        (DeviceKind::VirtioBlk, "readonly") => on_off(key, v).map(|_| ()),
        (DeviceKind::VirtioBlk, "io") => match v {
            "sync" | "async" => Ok(()),
            _ => bad("sync or async"),
        },
        (DeviceKind::Dasd3390 | DeviceKind::VfioDasd, "model") => match v {
            "3" | "9" | "27" | "54" => Ok(()),
            _ => bad("3, 9, 27 or 54"),
        },
        (DeviceKind::Dasd3390 | DeviceKind::VfioDasd, "cu") => match v {
            "3990" | "3990-3" | "3990-6" => Ok(()),
            _ => bad("3990, 3990-3 or 3990-6"),
        },
        (DeviceKind::Dasd3390 | DeviceKind::VfioDasd, "cylinders") => num_value(v, "cylinders").map(|_| ()),
        (DeviceKind::VfioDasd, "host") => sch_value(v).map(|_| ()),
        (DeviceKind::Mock, "replies") => crate::trace::ast::parse_mock_replies(v).map(|_| ()).or_else(bad),
        (_, "chpids") => crate::trace::ast::parse_chpids(v).map(|_| ()).or_else(bad),
        (_, TIMING_KEY) => on_off(key, v).map(|_| ()),
        _ => Ok(()),
    }
}

fn device(i: &str) -> Res<'_, Statement> {
    let (i, tok) = operand(i, "subchannel")?;
    let sch = at(tok, sch_value(tok))?;
    let (i, tok) = operand(i, "devno=<hex4>")?;
    let devno = match tok.strip_prefix("devno=") {
        Some(v) => {
            let n = at(v, hex_field(v, "devno", 0xffff))?;
            if n.style != NumStyle::BareHex(4) {
                return fail(
                    v,
                    SyntaxError::BadValue {
                        key: "devno".into(),
                        expected: "four hex digits",
                    },
                );
            }
            u16::try_from(n.value).map_err(|_| failure(v, SyntaxError::NumberOutOfRange("devno")))?
        }
        None => return fail(tok, SyntaxError::MissingOperand("devno=<hex4>")),
    };
    let (mut i, kind_tok) = operand(i, "device kind")?;
    let Some(kind) = DeviceKind::ALL.into_iter().find(|k| k.name() == kind_tok) else {
        return fail(kind_tok, SyntaxError::UnknownDeviceKind(kind_tok.to_owned()));
    };
    let mut params: Vec<Param> = Vec::new();
    while peek_token(i).is_some() {
        let (j, tok) = operand(i, "key=value")?;
        let (k, v) = at(tok, key_value(tok))?;
        if !kind.keys().contains(&k) && !DeviceKind::COMMON_KEYS.contains(&k) {
            return fail(tok, SyntaxError::UnknownKey(k.to_owned()));
        }
        if params.iter().any(|p| p.key == k) {
            return fail(tok, SyntaxError::DuplicateKey(k.to_owned()));
        }
        at(&tok[k.len() + 1..], device_value(kind, k, v))?;
        params.push(Param {
            key: k.to_owned(),
            value: v.to_owned(),
        });
        i = j;
    }
    if kind == DeviceKind::VfioDasd && !params.iter().any(|p| p.key == "host") {
        return fail(
            kind_tok,
            SyntaxError::MissingOperand("host=<subchannel> (the host subchannel of a vfio-dasd)"),
        );
    }
    Ok((
        i,
        Statement::Device(DeviceStmt {
            sch,
            devno,
            kind,
            params,
        }),
    ))
}

fn outcome_value(tok: &str) -> Result<Outcome, SyntaxError> {
    if tok == "ok" {
        return Ok(Outcome::Ok);
    }
    let unknown = || SyntaxError::UnknownResult(tok.to_owned());
    let (k, v) = key_value(tok).map_err(|_| unknown())?;
    match k {
        "cc" => match v {
            "0" => Ok(Outcome::Cc(0)),
            "1" => Ok(Outcome::Cc(1)),
            "2" => Ok(Outcome::Cc(2)),
            "3" => Ok(Outcome::Cc(3)),
            _ => Err(SyntaxError::BadValue {
                key: "cc".into(),
                expected: "0, 1, 2 or 3",
            }),
        },
        "pgm" => PgmName::ALL
            .into_iter()
            .find(|p| p.name() == v)
            .map(Outcome::Pgm)
            .ok_or_else(|| SyntaxError::UnknownProgramCheck(v.to_owned())),
        "gr2" if v == "cookie" => Ok(Outcome::Gr2Cookie),
        "gr2" => {
            let digits = v.strip_prefix('-').unwrap_or(v);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SyntaxError::BadValue {
                    key: "gr2".into(),
                    expected: "a decimal number or `cookie`",
                });
            }
            v.parse::<i64>()
                .map(Outcome::Gr2)
                .map_err(|_| SyntaxError::NumberOutOfRange("gr2"))
        }
        _ => Err(unknown()),
    }
}

/// The optional ` => <result>` at the end of an instruction statement.
fn outcome<'a>(i: &'a str, insn: &Insn) -> Res<'a, Option<Outcome>> {
    match peek_token(i) {
        Some("=>") => {}
        Some(_) | None => return Ok((i, None)),
    }
    let (i, _) = any_operand(i, "`=>`")?;
    let (i, tok) = operand(i, "result")?;
    let o = at(tok, outcome_value(tok))?;
    let possible = matches!(
        (insn.outcome_class(), o),
        (_, Outcome::Pgm(_))
            | (OutcomeClass::Cc, Outcome::Cc(_))
            | (OutcomeClass::NoCc, Outcome::Ok)
            | (OutcomeClass::Gr2, Outcome::Gr2(_) | Outcome::Gr2Cookie)
            | (OutcomeClass::Load, Outcome::Ok | Outcome::Cc(3))
    );
    if !possible {
        return fail(
            tok,
            SyntaxError::ResultNotPossible {
                insn: insn.mnemonic(),
                result: tok.to_owned(),
            },
        );
    }
    Ok((i, Some(o)))
}

fn instruction<'a>(i: &'a str, mnemonic: &str) -> Option<Res<'a, Statement>> {
    const MNEMONICS: [&str; 17] = [
        "ssch", "tsch", "stsch", "msch", "csch", "hsch", "xsch", "rsch", "rchp", "sal", "schm", "tpi", "stcrw", "chsc",
        "sic", "diag500", "ipl",
    ];
    if !MNEMONICS.contains(&mnemonic) {
        return None;
    }
    let gr1 = |i| sch_operand(i, "gr1");
    let r: Res<'a, Insn> = (|| {
        Ok(match mnemonic {
            "ssch" => {
                let (i, gr1) = gr1(i)?;
                let (i, orb) = num(i, "ORB address")?;
                (i, Insn::Ssch { gr1, orb })
            }
            "tsch" => {
                let (i, gr1) = gr1(i)?;
                let (i, irb) = num(i, "IRB address")?;
                (i, Insn::Tsch { gr1, irb })
            }
            "stsch" => {
                let (i, gr1) = gr1(i)?;
                let (i, schib) = num(i, "SCHIB address")?;
                (i, Insn::Stsch { gr1, schib })
            }
            "msch" => {
                let (i, gr1) = gr1(i)?;
                let (i, schib) = num(i, "SCHIB address")?;
                (i, Insn::Msch { gr1, schib })
            }
            "csch" => gr1(i).map(|(i, gr1)| (i, Insn::Csch { gr1 }))?,
            "hsch" => gr1(i).map(|(i, gr1)| (i, Insn::Hsch { gr1 }))?,
            "xsch" => gr1(i).map(|(i, gr1)| (i, Insn::Xsch { gr1 }))?,
            "rsch" => gr1(i).map(|(i, gr1)| (i, Insn::Rsch { gr1 }))?,
            "ipl" => gr1(i).map(|(i, gr1)| (i, Insn::Ipl { gr1 }))?,
            "rchp" => num(i, "gr1").map(|(i, gr1)| (i, Insn::Rchp { gr1 }))?,
            "sal" => num(i, "gr1").map(|(i, gr1)| (i, Insn::Sal { gr1 }))?,
            "schm" => {
                let (i, gr1) = num(i, "gr1")?;
                let (i, gr2) = num(i, "gr2")?;
                (i, Insn::Schm { gr1, gr2 })
            }
            "tpi" => {
                let (mut i, addr) = num(i, "address")?;
                let mut isc_mask = None;
                if peek_token(i).is_some_and(|t| t.starts_with("isc-mask=")) {
                    let (j, tok) = operand(i, "isc-mask")?;
                    let v = &tok["isc-mask=".len()..];
                    isc_mask = Some(at(v, hex_field(v, "isc-mask", 0xff))?);
                    i = j;
                }
                (i, Insn::Tpi { addr, isc_mask })
            }
            "stcrw" => num(i, "address").map(|(i, addr)| (i, Insn::Stcrw { addr }))?,
            "chsc" => num(i, "request-block address").map(|(i, addr)| (i, Insn::Chsc { addr }))?,
            "sic" => {
                let (i, gr1) = num(i, "gr1")?;
                let (i, gr3) = num(i, "gr3")?;
                (i, Insn::Sic { gr1, gr3 })
            }
            "diag500" => {
                let (i, gr1) = num(i, "gr1")?;
                let (i, gr2) = sch_operand(i, "gr2")?;
                let (i, gr3) = num(i, "gr3")?;
                let (i, gr4) = num(i, "gr4")?;
                (i, Insn::Diag500 { gr1, gr2, gr3, gr4 })
            }
            _ => return fail(i, SyntaxError::Syntax),
        })
    })();
    Some(r.and_then(|(i, insn)| {
        let (i, o) = outcome(i, &insn)?;
        Ok((i, Statement::Insn(InsnStmt { insn, outcome: o })))
    }))
}

/// One statement (the part of a line before any comment, trimmed).
fn statement(i: &str) -> Res<'_, Statement> {
    let (i, kw) = token(i)?;
    match kw {
        "zcss-trace" => {
            let (i, tok) = operand(i, "version")?;
            if tok == "1" {
                Ok((i, Statement::Header(1)))
            } else {
                fail(tok, SyntaxError::UnsupportedVersion(tok.to_owned()))
            }
        }
        "machine" => machine(i),
        "device" => device(i),
        "store" => {
            let (i, addr) = num(i, "address")?;
            let (i, (bytes, groups)) = hex_bytes(i, false)?;
            let bytes = bytes.into_iter().map(|b| b.unwrap_or(0)).collect();
            Ok((
                i,
                Statement::Store {
                    addr,
                    data: HexBytes { bytes, groups },
                },
            ))
        }
        "expect" => {
            let (word, rest) = split_token(skip_blanks(i));
            match word {
                "irb" => return symbolic(rest, SymKind::ExpectIrb),
                "schib" => return symbolic(rest, SymKind::ExpectSchib),
                _ => {}
            }
            let (i, addr) = num(i, "address")?;
            let (i, (bytes, groups)) = hex_bytes(i, true)?;
            Ok((
                i,
                Statement::Expect {
                    addr,
                    data: Pattern { bytes, groups },
                },
            ))
        }
        "wait" => Ok((i, Statement::Wait)),
        "ccw0" => symbolic(i, SymKind::Ccw0),
        "ccw1" => symbolic(i, SymKind::Ccw1),
        "orb" => symbolic(i, SymKind::Orb),
        "idal1" => symbolic(i, SymKind::Idal1),
        "idal2" => symbolic(i, SymKind::Idal2),
        "midaw" => symbolic(i, SymKind::Midaw),
        "reset" => Ok((i, Statement::Reset)),
        "skey" => {
            let (i, addr) = num(i, "address")?;
            let (i, tok) = operand(i, "storage key")?;
            let key = at(tok, byte_value(tok, "storage key (0 to 0xff)"))?;
            Ok((i, Statement::Skey { addr, key }))
        }
        "unsolicited" => {
            let (i, tok) = operand(i, "subchannel")?;
            let sch = at(tok, sch_value(tok))?;
            let (i, tok) = operand(i, "device status")?;
            let dstat = at(tok, byte_value(tok, "device status (0 to 0xff)"))?;
            let (i, sense) = match peek_token(i) {
                Some(_) => {
                    let (i, tok) = operand(i, "sense=<hex-bytes>")?;
                    let Some(hex) = tok.strip_prefix("sense=") else {
                        return fail(
                            tok,
                            SyntaxError::UnknownKey(tok.split('=').next().unwrap_or(tok).to_owned()),
                        );
                    };
                    let (mut bytes, mut groups) = (Vec::new(), Vec::new());
                    hex_token(hex, false, &mut bytes, &mut groups)?;
                    if bytes.is_empty() || bytes.len() > 32 {
                        return fail(tok, SyntaxError::NumberOutOfRange("sense (1 to 32 bytes)"));
                    }
                    let bytes = bytes.into_iter().map(|b| b.unwrap_or(0)).collect();
                    (i, Some(HexBytes { bytes, groups }))
                }
                None => (i, None),
            };
            Ok((i, Statement::Unsolicited { sch, dstat, sense }))
        }
        "detach" => {
            let (i, tok) = operand(i, "subchannel")?;
            Ok((i, Statement::Detach(at(tok, sch_value(tok))?)))
        }
        "console-input" => {
            let (i, tok) = operand(i, "subchannel")?;
            let sch = at(tok, sch_value(tok))?;
            let (i, (bytes, groups)) = hex_bytes(i, false)?;
            let bytes = bytes.into_iter().map(|b| b.unwrap_or(0)).collect();
            Ok((
                i,
                Statement::ConsoleInput {
                    sch,
                    data: HexBytes { bytes, groups },
                },
            ))
        }
        _ => instruction(i, kw).unwrap_or_else(|| fail(kw, SyntaxError::UnknownStatement(kw.to_owned()))),
    }
}

/// Column (1-based, in characters) of `at`, a slice of `line`.
fn column(line: &str, at: &str) -> usize {
    // Every error position is a sub-slice of the line; fall back to column 1
    // should that ever not hold.
    let off = (at.as_ptr() as usize)
        .checked_sub(line.as_ptr() as usize)
        .filter(|&o| o <= line.len())
        .unwrap_or(0);
    line.get(..off).map_or(0, |p| p.chars().count()) + 1
}

/// Parses one line into a [`Line`].
///
/// # Errors
/// The column and kind of the first error on the line (line number 0; the
/// caller sets it).
pub fn parse_line(text: &str) -> Result<Line, ParseError> {
    let (stmt_part, comment) = match text.bytes().position(|b| b == b'#') {
        Some(k) => (&text[..k], Some(text[k..].to_owned())),
        None => (text, None),
    };
    let s = stmt_part.trim_end_matches(is_space);
    let body = s.trim_start_matches(is_space);
    if body.is_empty() {
        // A comment-only line is kept whole, indentation included.
        let comment = comment.map(|_| text.to_owned());
        return Ok(Line { stmt: None, comment });
    }
    match all_consuming(statement).parse(body) {
        Ok((_, stmt)) => Ok(Line {
            stmt: Some(stmt),
            comment,
        }),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(ParseError {
            line: 0,
            column: column(text, e.at),
            kind: e.kind,
        }),
        Err(nom::Err::Incomplete(_)) => Err(ParseError {
            line: 0,
            column: 1,
            kind: SyntaxError::Syntax,
        }),
    }
}

/// Cross-line state while collecting statements.
#[derive(Default)]
struct Checks {
    header: bool,
    machine: bool,
    device: bool,
    /// The devices attached at this point: subchannel → (devno, kind).
    schs: std::collections::HashMap<SchAddr, (u16, DeviceKind)>,
    devnos: std::collections::HashSet<(u8, u8, u16)>,
    /// `machine storage-keys=on`.
    storage_keys: bool,
}

impl Checks {
    fn check(&mut self, stmt: &Statement) -> Result<(), SyntaxError> {
        if !self.header {
            return match stmt {
                Statement::Header(_) => {
                    self.header = true;
                    Ok(())
                }
                _ => Err(SyntaxError::MissingHeader),
            };
        }
        match stmt {
            Statement::Header(_) => Err(SyntaxError::DuplicateHeader),
            Statement::Machine(_) if self.machine => Err(SyntaxError::DuplicateMachine),
            Statement::Machine(_) if self.device => Err(SyntaxError::MachineAfterDevice),
            Statement::Machine(keys) => {
                self.machine = true;
                self.storage_keys = keys.contains(&MachineKey::StorageKeys(true));
                Ok(())
            }
            Statement::Device(d) => {
                self.device = true;
                if self.schs.contains_key(&d.sch) {
                    return Err(SyntaxError::DuplicateSubchannel(d.sch));
                }
                if !self.devnos.insert((d.sch.cssid, d.sch.ssid, d.devno)) {
                    return Err(SyntaxError::DuplicateDevno {
                        cssid: d.sch.cssid,
                        ssid: d.sch.ssid,
                        devno: d.devno,
                    });
                }
                self.schs.insert(d.sch, (d.devno, d.kind));
                Ok(())
            }
            Statement::Detach(sch) => {
                let (devno, _) = self.schs.remove(sch).ok_or(SyntaxError::NoDevice(*sch))?;
                self.devnos.remove(&(sch.cssid, sch.ssid, devno));
                Ok(())
            }
            Statement::ConsoleInput { sch, .. } => match self.schs.get(sch) {
                None => Err(SyntaxError::NoDevice(*sch)),
                Some((_, DeviceKind::VirtioConsole)) => Ok(()),
                Some(_) => Err(SyntaxError::NotAConsole(*sch)),
            },
            Statement::Unsolicited { sch, .. } => match self.schs.get(sch) {
                None => Err(SyntaxError::NoDevice(*sch)),
                Some((_, kind)) if kind.is_passthrough() => Err(SyntaxError::PassthroughUnsolicited(*sch)),
                Some(_) => Ok(()),
            },
            Statement::Skey { .. } if !self.storage_keys => Err(SyntaxError::NoStorageKeys),
            _ => Ok(()),
        }
    }
}

/// Parses a whole trace.
///
/// # Errors
/// The first syntax error, with its line and column.
pub fn parse(text: &str) -> Result<Trace, ParseError> {
    let mut lines = Vec::new();
    let mut checks = Checks::default();
    // A final newline ends the last line; it does not start another.
    let body = text.strip_suffix('\n').unwrap_or(text);
    let pieces = (!text.is_empty()).then(|| body.split('\n')).into_iter().flatten();
    lines.reserve(body.bytes().filter(|&b| b == b'\n').count() + 1);
    for (n, raw) in pieces.enumerate() {
        let raw = raw.trim_end_matches('\r');
        let line = parse_line(raw).map_err(|e| ParseError { line: n + 1, ..e })?;
        if let Some(stmt) = &line.stmt {
            checks.check(stmt).map_err(|kind| ParseError {
                line: n + 1,
                column: column(raw, raw.trim_start_matches(is_space)),
                kind,
            })?;
        }
        lines.push(line);
    }
    if !checks.header {
        return Err(ParseError {
            line: lines.len().max(1),
            column: 1,
            kind: SyntaxError::MissingHeader,
        });
    }
    Ok(Trace { lines })
}

/// Parses bytes that should be UTF-8 text.
///
/// # Errors
/// Not UTF-8 (located at the first bad byte), or a syntax error.
pub fn parse_bytes(data: &[u8]) -> Result<Trace, ParseError> {
    match std::str::from_utf8(data) {
        Ok(text) => parse(text),
        Err(e) => {
            let good = &data[..e.valid_up_to()];
            let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
            let start = good.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            let column = std::str::from_utf8(&good[start..]).map_or(1, |s| s.chars().count() + 1);
            Err(ParseError {
                line,
                column,
                kind: SyntaxError::NotUtf8,
            })
        }
    }
}
