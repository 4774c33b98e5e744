//! Symbolic statements *(extension)*: the structures a guest builds in
//! storage written by field (`ccw1 0x2000 cmd=0xe4 flags=sli count=8
//! cda=0x3000`, `orb …`, IDAW and MIDAW lists), and expectations of the
//! structures an instruction stores written by the fields that matter
//! (`expect irb 0x4000 dstat=CE|DE cpa=0x2008`; only the named fields are
//! compared).
//!
//! A storing statement means exactly the `store` of the bytes it encodes
//! ([`SymStmt::bytes`]); layouts from the Principles of Operation, chapter
//! 15 ("Channel-Command Word", "Operation-Request Block", "Indirect Data
//! Addressing", "Modified Indirect Data Addressing") and chapter 14
//! ("Interruption-Response Block", "Subchannel-Information Block").

use std::fmt;

use zcss_ccw::fields::{collect_fields, FieldList};
use zcss_ccw::irb::Irb;
use zcss_ccw::schib::Schib;

use super::num::{Num, NumStyle};

/// What a symbolic statement describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SymKind {
    /// `ccw0 <addr> cmd= flags= count= cda=`: a format-0 CCW.
    Ccw0,
    /// `ccw1 <addr> cmd= flags= count= cda=`: a format-1 CCW.
    Ccw1,
    /// `orb <addr> intparm= key= controls= lpm= cpa= [css-priority= cu-priority=]`.
    Orb,
    /// `idal1 <addr> <addr>…`: format-1 IDAWs (4 bytes each).
    Idal1,
    /// `idal2 <addr> <addr>…`: format-2 IDAWs (8 bytes each).
    Idal2,
    /// `midaw <addr> flags= count= cda=`: one MIDAW (16 bytes).
    Midaw,
    /// `expect irb <addr> <field>=<value>…`: the named fields of the IRB
    /// TEST SUBCHANNEL stored (64 bytes).
    ExpectIrb,
    /// `expect schib <addr> <field>=<value>…`: the named fields of a SCHIB.
    ExpectSchib,
}

impl SymKind {
    /// The statement's keyword (for `expect irb`, both words).
    #[must_use]
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Ccw0 => "ccw0",
            Self::Ccw1 => "ccw1",
            Self::Orb => "orb",
            Self::Idal1 => "idal1",
            Self::Idal2 => "idal2",
            Self::Midaw => "midaw",
            Self::ExpectIrb => "expect irb",
            Self::ExpectSchib => "expect schib",
        }
    }

    /// Whether the statement checks storage (else it stores).
    #[must_use]
    pub fn is_expect(self) -> bool {
        matches!(self, Self::ExpectIrb | Self::ExpectSchib)
    }
}

/// A value of a symbolic field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SymValue {
    /// A number, kept as written.
    Num(Num),
    /// Flag or control names joined by `|` (none: `0`).
    Names(Vec<String>),
    /// An expected field value as written (`CE|DE`, `0x2008`).
    Text(String),
}

impl fmt::Display for SymValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Num(n) => write!(f, "{n}"),
            Self::Names(v) if v.is_empty() => f.write_str("0"),
            Self::Names(v) => f.write_str(&v.join("|")),
            Self::Text(t) => f.write_str(t),
        }
    }
}

/// One `key=value` of a symbolic statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymParam {
    /// The key (a field name).
    pub key: String,
    /// The value.
    pub value: SymValue,
}

/// A symbolic statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymStmt {
    /// What it describes.
    pub kind: SymKind,
    /// Guest absolute address of the structure.
    pub addr: Num,
    /// The addresses of an IDAW list (empty for the other kinds).
    pub list: Vec<Num>,
    /// The fields, in the order written.
    pub params: Vec<SymParam>,
}

impl fmt::Display for SymStmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.keyword(), self.addr)?;
        for n in &self.list {
            write!(f, " {n}")?;
        }
        for p in &self.params {
            write!(f, " {}={}", p.key, p.value)?;
        }
        Ok(())
    }
}

/// CCW flag names in bit order (CCW bits 8–15 in format 1).
pub const CCW_FLAGS: [&str; 8] = ["cd", "cc", "sli", "skip", "pci", "ida", "s", "mida"];

/// ORB word-1 control names with their PoO bit numbers.
pub const ORB_CONTROLS: [(&str, u32); 15] = [
    ("suspend", 4),
    ("streaming", 5),
    ("modification", 6),
    ("synchronization", 7),
    ("format1", 8),
    ("prefetch", 9),
    ("initial-status", 10),
    ("address-limit", 11),
    ("suppress-suspended", 12),
    ("transport", 13),
    ("idaw-format2", 14),
    ("idaw-2k", 15),
    ("ils", 24),
    ("midaw", 25),
    ("extension", 31),
];

/// MIDAW flag names in bit order (MIDAW bits 40–42).
pub const MIDAW_FLAGS: [&str; 3] = ["last", "skip", "dtic"];

/// The keys a storing kind takes, with the largest value of a number key
/// (`None`: a list of names) and whether it is required.
#[must_use]
pub fn keys(kind: SymKind) -> &'static [(&'static str, Option<u64>, bool)] {
    match kind {
        SymKind::Ccw0 => &[
            ("cmd", Some(0xff), true),
            ("flags", None, false),
            ("count", Some(0xffff), false),
            ("cda", Some(0xff_ffff), false),
        ],
        SymKind::Ccw1 => &[
            ("cmd", Some(0xff), true),
            ("flags", None, false),
            ("count", Some(0xffff), false),
            ("cda", Some(0xffff_ffff), false),
        ],
        SymKind::Orb => &[
            ("intparm", Some(0xffff_ffff), false),
            ("key", Some(0xf), false),
            ("controls", None, false),
            ("lpm", Some(0xff), false),
            ("cpa", Some(0xffff_ffff), true),
            ("css-priority", Some(0xff), false),
            ("cu-priority", Some(0xff), false),
        ],
        SymKind::Midaw => &[
            ("flags", None, false),
            ("count", Some(0xffff), false),
            ("cda", Some(u64::MAX), false),
        ],
        SymKind::Idal1 | SymKind::Idal2 | SymKind::ExpectIrb | SymKind::ExpectSchib => &[],
    }
}

/// The names a names-valued key of `kind` takes.
#[must_use]
pub fn names_of(kind: SymKind, key: &str) -> &'static [&'static str] {
    const ORB_NAMES: [&str; 15] = [
        "suspend",
        "streaming",
        "modification",
        "synchronization",
        "format1",
        "prefetch",
        "initial-status",
        "address-limit",
        "suppress-suspended",
        "transport",
        "idaw-format2",
        "idaw-2k",
        "ils",
        "midaw",
        "extension",
    ];
    match (kind, key) {
        (SymKind::Ccw0 | SymKind::Ccw1, "flags") => &CCW_FLAGS,
        (SymKind::Orb, "controls") => &ORB_NAMES,
        (SymKind::Midaw, "flags") => &MIDAW_FLAGS,
        _ => &[],
    }
}

/// The field names of the structure an `expect irb|schib` checks, as
/// `zcss decode` lists them.
#[must_use]
pub fn field_names(kind: SymKind) -> Vec<&'static str> {
    stored_fields(kind, &[0; 96]).into_iter().map(|(n, _)| n).collect()
}

/// The field a written key names: the full name (`scsw.dstat`) or, for
/// the fields people check most, the short one (`dstat` in an IRB is the
/// SCSW's, `devno` in a SCHIB the PMCW's).
#[must_use]
pub fn resolve_field(kind: SymKind, key: &str) -> Option<&'static str> {
    let names = field_names(kind);
    let prefix = match kind {
        SymKind::ExpectIrb => "scsw.",
        SymKind::ExpectSchib => "pmcw.",
        _ => return None,
    };
    names
        .iter()
        .find(|n| **n == key)
        .or_else(|| names.iter().find(|n| n.strip_prefix(prefix) == Some(key)))
        .copied()
}

/// The fields of the structure an `expect irb|schib` checks, decoded from
/// storage bytes (at least the structure's length).
#[must_use]
pub fn stored_fields(kind: SymKind, b: &[u8]) -> Vec<(&'static str, String)> {
    fn list<T: FieldList>(v: Option<T>) -> Vec<(&'static str, String)> {
        v.map(|v| collect_fields(&v)).unwrap_or_default()
    }
    match kind {
        // TEST SUBCHANNEL stores 64 bytes: no extended-measurement word.
        SymKind::ExpectIrb => list(b.get(..Irb::LEN_NO_EMW).and_then(Irb::decode))
            .into_iter()
            .filter(|(n, _)| !n.starts_with("emw"))
            .collect(),
        SymKind::ExpectSchib => list(b.get(..Schib::LEN).and_then(Schib::decode)),
        _ => Vec::new(),
    }
}

/// The length of the structure an `expect irb|schib` checks.
#[must_use]
pub fn stored_len(kind: SymKind) -> usize {
    match kind {
        SymKind::ExpectSchib => Schib::LEN,
        _ => Irb::LEN_NO_EMW,
    }
}

/// Whether a field's value as written matches its value as decoded:
/// numbers compare by value (`0x0005` = `5`), name sets as sets in any
/// order and case (`DE|CE` = `CE|DE`; `0` is the empty set).
#[must_use]
pub fn value_matches(written: &str, actual: &str) -> bool {
    fn number(s: &str) -> Option<u64> {
        match s.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => s.parse().ok(),
        }
    }
    if let (Some(w), Some(a)) = (number(written), number(actual)) {
        return w == a;
    }
    let set = |s: &str| {
        let mut v: Vec<String> = s
            .split('|')
            .filter(|n| !n.is_empty() && *n != "0")
            .map(str::to_ascii_uppercase)
            .collect();
        v.sort();
        v
    };
    set(written) == set(actual)
}

/// The names of the bits set in `bits` (`names[k]` is bit `width - 1 - k`).
fn names_of_bits(bits: u64, names: &[&str], width: u32) -> Vec<String> {
    names
        .iter()
        .enumerate()
        .filter(|(k, _)| bits >> (width - 1 - u32::try_from(*k).unwrap_or(0)) & 1 == 1)
        .map(|(_, n)| (*n).to_owned())
        .collect()
}

/// `v` as `0x` and as many hex digits as it needs (so that it reads back
/// with the same style).
fn natural_hex(v: u64) -> Num {
    let digits = (64 - v.leading_zeros()).div_ceil(4).max(1);
    Num {
        value: v,
        style: NumStyle::Hex(u8::try_from(digits).unwrap_or(16)),
    }
}

fn param(key: &str, value: SymValue) -> SymParam {
    SymParam {
        key: key.to_owned(),
        value,
    }
}

impl SymStmt {
    /// The statement that stores `ccw` (in `format`) at `addr`:
    /// `ccw1 0x2000 cmd=0xe4 flags=cc|sli count=8 cda=0x3000`.
    #[must_use]
    pub fn ccw(format: zcss_ccw::CcwFormat, addr: u64, ccw: &zcss_ccw::Ccw) -> Self {
        let kind = match format {
            zcss_ccw::CcwFormat::Format0 => SymKind::Ccw0,
            zcss_ccw::CcwFormat::Format1 => SymKind::Ccw1,
        };
        Self {
            kind,
            addr: Num::hex(addr),
            list: Vec::new(),
            params: vec![
                param(
                    "cmd",
                    SymValue::Num(Num {
                        value: u64::from(ccw.cmd),
                        style: NumStyle::Hex(2),
                    }),
                ),
                param(
                    "flags",
                    SymValue::Names(names_of_bits(u64::from(ccw.flags.into_bits()), &CCW_FLAGS, 8)),
                ),
                param("count", SymValue::Num(Num::dec(u64::from(ccw.count)))),
                param("cda", SymValue::Num(natural_hex(u64::from(ccw.cda)))),
            ],
        }
    }

    /// The statement that stores `orb` at `addr`: `orb 0x1800 intparm=0x1
    /// key=0 controls=format1 lpm=0x80 cpa=0x2000` (and the priorities
    /// with X = 1).
    #[must_use]
    pub fn orb(addr: u64, orb: &zcss_ccw::Orb) -> Self {
        let w1 = u64::from(orb.ctrl.into_bits());
        let controls: Vec<String> = ORB_CONTROLS
            .iter()
            .filter(|(_, bit)| w1 >> (31 - bit) & 1 == 1)
            .map(|(n, _)| (*n).to_owned())
            .collect();
        let hex = |v: u64| SymValue::Num(natural_hex(v));
        let mut params = vec![
            param("intparm", hex(u64::from(orb.intparm))),
            param("key", SymValue::Num(Num::dec(u64::from(orb.ctrl.key())))),
            param("controls", SymValue::Names(controls)),
            param(
                "lpm",
                SymValue::Num(Num {
                    value: u64::from(orb.ctrl.lpm()),
                    style: NumStyle::Hex(2),
                }),
            ),
            param("cpa", hex(u64::from(orb.cpa))),
        ];
        if orb.ctrl.extension() {
            params.push(param("css-priority", hex(u64::from(orb.css_priority))));
            params.push(param("cu-priority", hex(u64::from(orb.cu_priority))));
        }
        Self {
            kind: SymKind::Orb,
            addr: Num::hex(addr),
            list: Vec::new(),
            params,
        }
    }

    /// An IDAW list: `idal1`/`idal2` at `addr` with the data addresses
    /// `idaws` (each written with the IDAW's width).
    #[must_use]
    pub fn idal(format2: bool, addr: u64, idaws: &[u64]) -> Self {
        let (kind, width) = if format2 {
            (SymKind::Idal2, 16)
        } else {
            (SymKind::Idal1, 8)
        };
        Self {
            kind,
            addr: Num::hex(addr),
            list: idaws
                .iter()
                .map(|&value| Num {
                    value,
                    style: NumStyle::Hex(width),
                })
                .collect(),
            params: Vec::new(),
        }
    }

    /// One MIDAW (the 16 bytes `b`) at `addr`.
    #[must_use]
    pub fn midaw(addr: u64, b: &[u8; 16]) -> Self {
        let [.., f, c0, c1] = <[u8; 8]>::try_from(&b[..8]).unwrap_or_default();
        let cda = u64::from_be_bytes(<[u8; 8]>::try_from(&b[8..]).unwrap_or_default());
        Self {
            kind: SymKind::Midaw,
            addr: Num::hex(addr),
            list: Vec::new(),
            params: vec![
                param("flags", SymValue::Names(names_of_bits(u64::from(f), &MIDAW_FLAGS, 8))),
                param(
                    "count",
                    SymValue::Num(Num::dec(u64::from(u16::from_be_bytes([c0, c1])))),
                ),
                param("cda", SymValue::Num(natural_hex(cda))),
            ],
        }
    }

    fn num(&self, key: &str) -> u64 {
        self.params
            .iter()
            .find(|p| p.key == key)
            .and_then(|p| match &p.value {
                SymValue::Num(n) => Some(n.value),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// The bits of the names of `key`: name `k` of `names` is bit
    /// `width - 1 - k`.
    fn bits(&self, key: &str, names: &[&str], width: u32) -> u64 {
        let mut v = 0u64;
        for p in self.params.iter().filter(|p| p.key == key) {
            if let SymValue::Names(ns) = &p.value {
                for n in ns {
                    if let Some(k) = names.iter().position(|x| x == n) {
                        v |= 1 << (width - 1 - u32::try_from(k).unwrap_or(0));
                    }
                }
            }
        }
        v
    }

    /// The bytes a storing statement puts at [`SymStmt::addr`]; `None`
    /// for an `expect`.
    #[must_use]
    pub fn bytes(&self) -> Option<Vec<u8>> {
        let low = |v: u64, n: usize| v.to_be_bytes()[8 - n..].to_vec();
        Some(match self.kind {
            SymKind::Ccw1 => {
                let mut b = vec![low(self.num("cmd"), 1)[0], low(self.bits("flags", &CCW_FLAGS, 8), 1)[0]];
                b.extend(low(self.num("count"), 2));
                b.extend(low(self.num("cda"), 4));
                b
            }
            SymKind::Ccw0 => {
                let mut b = vec![low(self.num("cmd"), 1)[0]];
                b.extend(low(self.num("cda"), 3));
                b.push(low(self.bits("flags", &CCW_FLAGS, 8), 1)[0]);
                b.push(0);
                b.extend(low(self.num("count"), 2));
                b
            }
            SymKind::Orb => {
                let mut w1 = u32::try_from(self.num("key") & 0xf).unwrap_or(0) << 28;
                for p in self.params.iter().filter(|p| p.key == "controls") {
                    if let SymValue::Names(ns) = &p.value {
                        for n in ns {
                            if let Some((_, bit)) = ORB_CONTROLS.iter().find(|(x, _)| x == n) {
                                w1 |= 1 << (31 - bit);
                            }
                        }
                    }
                }
                let lpm = if self.params.iter().any(|p| p.key == "lpm") {
                    self.num("lpm")
                } else {
                    0xff
                };
                w1 |= u32::try_from(lpm & 0xff).unwrap_or(0) << 8;
                let mut b = low(self.num("intparm"), 4);
                b.extend(w1.to_be_bytes());
                b.extend(low(self.num("cpa"), 4));
                if w1 & 1 != 0 {
                    b.extend([
                        low(self.num("css-priority"), 1)[0],
                        0,
                        low(self.num("cu-priority"), 1)[0],
                        0,
                    ]);
                    b.extend([0; 16]);
                }
                b
            }
            SymKind::Idal1 => self.list.iter().flat_map(|n| low(n.value, 4)).collect(),
            SymKind::Idal2 => self.list.iter().flat_map(|n| n.value.to_be_bytes()).collect(),
            SymKind::Midaw => {
                let mut b = vec![0u8; 5];
                b.push(low(self.bits("flags", &MIDAW_FLAGS, 8), 1)[0]);
                b.extend(low(self.num("count"), 2));
                b.extend(self.num("cda").to_be_bytes());
                b
            }
            SymKind::ExpectIrb | SymKind::ExpectSchib => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(kind: SymKind, params: &[(&str, SymValue)]) -> SymStmt {
        SymStmt {
            kind,
            addr: Num::hex(0x2000),
            list: Vec::new(),
            params: params
                .iter()
                .map(|(k, v)| SymParam {
                    key: (*k).to_owned(),
                    value: v.clone(),
                })
                .collect(),
        }
    }

    fn names(v: &[&str]) -> SymValue {
        SymValue::Names(v.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn bytes_of_ccw1_are_the_format1_layout() {
        let s = stmt(
            SymKind::Ccw1,
            &[
                ("cmd", SymValue::Num(Num::hex(0xe4))),
                ("flags", names(&["cc", "sli"])),
                ("count", SymValue::Num(Num::dec(8))),
                ("cda", SymValue::Num(Num::hex(0x3000))),
            ],
        );
        assert_eq!(s.bytes().unwrap(), [0xe4, 0x60, 0, 8, 0, 0, 0x30, 0]);
    }

    #[test]
    fn bytes_of_ccw0_are_the_format0_layout() {
        let s = stmt(
            SymKind::Ccw0,
            &[
                ("cmd", SymValue::Num(Num::hex(0x02))),
                ("cda", SymValue::Num(Num::hex(0x12_3456))),
                ("flags", names(&["sli"])),
                ("count", SymValue::Num(Num::dec(24))),
            ],
        );
        assert_eq!(s.bytes().unwrap(), [0x02, 0x12, 0x34, 0x56, 0x20, 0, 0, 24]);
    }

    #[test]
    fn bytes_of_orb_set_the_named_control_bits() {
        let s = stmt(
            SymKind::Orb,
            &[
                ("intparm", SymValue::Num(Num::hex(0xc))),
                ("controls", names(&["format1", "prefetch", "initial-status"])),
                ("cpa", SymValue::Num(Num::hex(0x2000))),
            ],
        );
        assert_eq!(
            s.bytes().unwrap(),
            [0, 0, 0, 0xc, 0x00, 0xe0, 0xff, 0x00, 0, 0, 0x20, 0]
        );
    }

    #[test]
    fn bytes_of_midaw_are_a_quadword() {
        let s = stmt(
            SymKind::Midaw,
            &[
                ("flags", names(&["last"])),
                ("count", SymValue::Num(Num::dec(16))),
                ("cda", SymValue::Num(Num::hex(0x3000))),
            ],
        );
        assert_eq!(
            s.bytes().unwrap(),
            [0, 0, 0, 0, 0, 0x80, 0, 16, 0, 0, 0, 0, 0, 0, 0x30, 0]
        );
    }

    #[test]
    fn ccw_and_orb_constructors_encode_back_to_the_same_bytes() {
        let raw = [0xe4, 0x60, 0, 8, 0, 0, 0x30, 0];
        let ccw = zcss_ccw::Ccw::decode(zcss_ccw::CcwFormat::Format1, raw);
        let s = SymStmt::ccw(zcss_ccw::CcwFormat::Format1, 0x2000, &ccw);
        assert_eq!(
            s.to_string(),
            "ccw1 0x00002000 cmd=0xe4 flags=cc|sli count=8 cda=0x3000"
        );
        assert_eq!(s.bytes().unwrap(), raw);
        let orb_bytes = [0, 0, 0, 1, 0x40, 0x80, 0x80, 0x00, 0, 0, 0x20, 0];
        let orb = zcss_ccw::Orb::decode(&orb_bytes).unwrap();
        let s = SymStmt::orb(0x1800, &orb);
        assert_eq!(
            s.to_string(),
            "orb 0x00001800 intparm=0x1 key=4 controls=format1 lpm=0x80 cpa=0x2000"
        );
        assert_eq!(s.bytes().unwrap(), orb_bytes);
    }

    #[test]
    fn value_matches_compares_numbers_and_name_sets() {
        assert!(value_matches("0x0005", "0x5"));
        assert!(value_matches("5", "0x5"));
        assert!(value_matches("de|ce", "CE|DE"));
        assert!(value_matches("0", "0"));
        assert!(!value_matches("CE", "CE|DE"));
    }

    #[test]
    fn resolve_field_takes_short_names() {
        assert_eq!(resolve_field(SymKind::ExpectIrb, "dstat"), Some("scsw.dstat"));
        assert_eq!(resolve_field(SymKind::ExpectIrb, "scsw.cpa"), Some("scsw.cpa"));
        assert_eq!(resolve_field(SymKind::ExpectSchib, "devno"), Some("pmcw.devno"));
        assert_eq!(resolve_field(SymKind::ExpectIrb, "emw"), None);
    }
}
