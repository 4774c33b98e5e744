//! Named, printable fields of the architected formats, for the replay diff
//! (`irb.scsw.dstat: expected CE|DE, got CE|DE|UC`) and the `decode` command.
//!
//! Each type emits its fields under names relative to itself (`dstat`,
//! `cpa`); containers prefix their parts (`scsw.dstat` inside an IRB), and a
//! caller prefixes the whole (`irb.`). Values are rendered as text: one-bit
//! flags as `0`/`1`, numbers in hex (`0x1008`), flag sets symbolically
//! (`CE|DE`, `START|HALT`, `0` when empty), byte strings as plain hex.
//! Reserved fields are listed too, so that any two different images differ
//! in at least one field.

use core::fmt::LowerHex;

use crate::ccw::{Ccw, CcwFlags};
use crate::crw::{erc, rsc, Crw};
use crate::esw::Esw;
use crate::intcode::InterruptionCode;
use crate::irb::Irb;
use crate::orb::Orb;
use crate::pmcw::Pmcw;
use crate::schib::Schib;
use crate::scsw::Scsw;
use crate::senseid::SenseId;
use crate::status::join_names;

/// A value that can list its fields as `(name, rendered value)` pairs.
pub trait FieldList {
    /// Calls `out` once per field, in layout order.
    fn fields(&self, out: &mut dyn FnMut(&'static str, String));
}

/// Collects the fields of `v` into a vector.
#[must_use]
pub fn collect_fields(v: &dyn FieldList) -> Vec<(&'static str, String)> {
    let mut all = Vec::new();
    v.fields(&mut |name, value| all.push((name, value)));
    all
}

/// One field whose value differs between two values of the same type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDiff {
    /// Field name, relative to the compared values.
    pub name: &'static str,
    /// Rendered value in the expected value.
    pub expected: String,
    /// Rendered value in the actual value.
    pub got: String,
}

/// The fields that differ between `expected` and `got`, in layout order.
/// A field present in only one of them (an ORB extension, a CIW) is
/// reported with `-` for the side that lacks it.
#[must_use]
pub fn diff_fields<T: FieldList + ?Sized>(expected: &T, got: &T) -> Vec<FieldDiff> {
    let mut e = Vec::new();
    expected.fields(&mut |n, v| e.push((n, v)));
    let mut g = Vec::new();
    got.fields(&mut |n, v| g.push((n, v)));
    let mut out = Vec::new();
    for (name, ev) in &e {
        let gv = g.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let gv = gv.unwrap_or_else(|| "-".to_owned());
        if *ev != gv {
            out.push(FieldDiff {
                name,
                expected: ev.clone(),
                got: gv,
            });
        }
    }
    for (name, gv) in &g {
        if !e.iter().any(|(n, _)| n == name) {
            out.push(FieldDiff {
                name,
                expected: "-".to_owned(),
                got: gv.clone(),
            });
        }
    }
    out
}

fn hex<T: LowerHex>(v: T) -> String {
    format!("{v:#x}")
}

fn bit(b: bool) -> String {
    if b { "1" } else { "0" }.to_owned()
}

fn bytes_hex(b: &[u8]) -> String {
    use core::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// `CD|CC|SLI|SKIP|PCI|IDA|S|MIDA` names of the set CCW flags, or `0`.
#[must_use]
pub fn ccw_flag_names(f: CcwFlags) -> String {
    join_names(f.into_bits(), &["CD", "CC", "SLI", "SKIP", "PCI", "IDA", "S", "MIDA"])
}

/// A subchannel-identification word in hex and, when it is a valid one, as
/// the bus id Linux names the subchannel by (`0x10004 (0.0.0004)`; without
/// M the css is shown as 0, as a guest without MCSS-E sees it).
#[must_use]
pub fn sid_word(word: u32) -> String {
    match crate::sid::SubchannelId::from_word(word, 0) {
        Ok(sid) => format!("{word:#x} ({sid})"),
        Err(_) => hex(word),
    }
}

/// Builds a `[&'static str; N]` of `prefix` joined to each name.
macro_rules! names {
    ($prefix:literal; $($n:literal),* $(,)?) => { [$(concat!($prefix, $n)),*] };
}

macro_rules! scsw_names {
    ($p:literal) => {
        names!($p; "key", "s", "l", "cc", "f", "p", "i", "a", "u", "z", "e", "n", "res16", "fctl", "actl", "stctl",
            "cpa", "dstat", "cstat", "count")
    };
}

fn scsw_fields(s: &Scsw, n: &[&'static str; 20], out: &mut dyn FnMut(&'static str, String)) {
    let c = s.ctrl;
    let values = [
        hex(c.key()),
        bit(c.suspend()),
        bit(c.esw_format()),
        hex(c.cc()),
        bit(c.format1()),
        bit(c.prefetch()),
        bit(c.initial_status()),
        bit(c.address_limit()),
        bit(c.suppress_suspended()),
        bit(c.zero_cc()),
        bit(c.extended_control()),
        bit(c.path_not_operational()),
        bit(c.reserved16()),
        c.fctl().names(),
        c.actl().names(),
        c.stctl().names(),
        hex(s.cpa),
        s.dstat.names(),
        s.cstat.names(),
        hex(s.count),
    ];
    for (name, v) in n.iter().zip(values) {
        out(name, v);
    }
}

impl FieldList for Scsw {
    fn fields(&self, out: &mut dyn FnMut(&'static str, String)) {
        scsw_fields(self, &scsw_names!(""), out);
    }
}

macro_rules! esw_names {
    ($p:literal) => {
        names!($p; "scl.res0", "scl.esf", "scl.lpum", "scl.a", "scl.fvf", "scl.sa", "scl.tc", "scl.d", "scl.e",
            "scl.i", "scl.sc", "erw.res0", "erw.l", "erw.e", "erw.a", "erw.p", "erw.t", "erw.f", "erw.s", "erw.c",
            "erw.r", "erw.scnt", "erw.res16", "fsa", "sca")
    };
}

fn esw_fields(e: &Esw, n: &[&'static str; 25], out: &mut dyn FnMut(&'static str, String)) {
    let l = e.scl;
    let r = e.erw;
    let values = [
        bit(l.reserved0()),
        hex(l.esf()),
        hex(l.lpum()),
        bit(l.ancillary()),
        hex(l.fvf()),
        hex(l.storage_access()),
        hex(l.termination()),
        bit(l.device_status_check()),
        bit(l.secondary_error()),
        bit(l.io_error_alert()),
        hex(l.sequence()),
        bit(r.reserved0()),
        bit(r.request_logging()),
        bit(r.extended_logout_pending()),
        bit(r.authorization_check()),
        bit(r.path_verification()),
        bit(r.channel_path_timeout()),
        bit(r.fsa_valid()),
        bit(r.concurrent_sense()),
        bit(r.secondary_ccw_valid()),
        bit(r.fsa_format64()),
        hex(r.sense_count()),
        hex(r.reserved16()),
        hex(e.fsa),
        hex(e.secondary_ccw),
    ];
    for (name, v) in n.iter().zip(values) {
        out(name, v);
    }
}

impl FieldList for Esw {
    fn fields(&self, out: &mut dyn FnMut(&'static str, String)) {
        esw_fields(self, &esw_names!(""), out);
    }
}

impl FieldList for Irb {
    fn fields(&self, out: &mut dyn FnMut(&'static str, String)) {
        scsw_fields(&self.scsw, &scsw_names!("scsw."), out);
        esw_fields(&self.esw, &esw_names!("esw."), out);
        out("ecw", bytes_hex(&self.ecw));
        out("emw", bytes_hex(&self.emw));
    }
}

macro_rules! pmcw_names {
    ($p:literal) => {
        names!($p; "intparm", "res0", "isc", "res5", "res6", "ena", "lm", "mme", "mp", "tf", "dnv", "devno", "lpm",
            "pnom", "lpum", "pim", "mbi", "pom", "pam", "chpid", "res24", "st", "res27", "mbfc", "xmwme", "csense")
    };
}

fn pmcw_fields(p: &Pmcw, n: &[&'static str; 26], out: &mut dyn FnMut(&'static str, String)) {
    let f = p.flags;
    let c = p.chars;
    let values = [
        hex(p.intparm),
        hex(f.reserved_0_1()),
        hex(f.isc()),
        bit(f.reserved_5()),
        hex(f.reserved_6_7()),
        bit(f.enabled()),
        hex(f.limit_mode()),
        hex(f.measurement_mode()),
        bit(f.multipath()),
        bit(f.timing()),
        bit(f.dnv()),
        hex(f.devno()),
        hex(p.lpm),
        hex(p.pnom),
        hex(p.lpum),
        hex(p.pim),
        hex(p.mbi),
        hex(p.pom),
        hex(p.pam),
        bytes_hex(&p.chpid),
        hex(c.reserved_0_7()),
        hex(c.subchannel_type()),
        hex(c.reserved_11_28()),
        bit(c.mbfc()),
        bit(c.xmwme()),
        bit(c.csense()),
    ];
    for (name, v) in n.iter().zip(values) {
        out(name, v);
    }
}

impl FieldList for Pmcw {
    fn fields(&self, out: &mut dyn FnMut(&'static str, String)) {
        pmcw_fields(self, &pmcw_names!(""), out);
    }
}

impl FieldList for Schib {
    fn fields(&self, out: &mut dyn FnMut(&'static str, String)) {
        pmcw_fields(&self.pmcw, &pmcw_names!("pmcw."), out);
        scsw_fields(&self.scsw, &scsw_names!("scsw."), out);
        out("mba", hex(self.mba));
        out("mda", bytes_hex(&self.mda));
    }
}

impl FieldList for Orb {
    fn fields(&self, out: &mut dyn FnMut(&'static str, String)) {
        let c = self.ctrl;
        out("intparm", hex(self.intparm));
        out("key", hex(c.key()));
        out("s", bit(c.suspend()));
        out("c", bit(c.streaming()));
        out("m", bit(c.modification()));
        out("y", bit(c.synchronization()));
        out("f", bit(c.format1()));
        out("p", bit(c.prefetch()));
        out("i", bit(c.initial_status()));
        out("a", bit(c.address_limit()));
        out("u", bit(c.suppress_suspended()));
        out("b", bit(c.transport_mode()));
        out("h", bit(c.idaw_format2()));
        out("t", bit(c.idaw_2k()));
        out("lpm", hex(c.lpm()));
        out("l", bit(c.ils()));
        out("d", bit(c.midaw()));
        out("res26", hex(c.reserved()));
        out("x", bit(c.extension()));
        out("cpa", hex(self.cpa));
        if c.extension() {
            out("css_priority", hex(self.css_priority));
            out("cu_priority", hex(self.cu_priority));
            out("res_ext", bytes_hex(&self.reserved_ext));
        }
    }
}

impl FieldList for Ccw {
    fn fields(&self, out: &mut dyn FnMut(&'static str, String)) {
        out("cmd", hex(self.cmd));
        out("flags", ccw_flag_names(self.flags));
        out("count", hex(self.count));
        out("cda", hex(self.cda));
    }
}

impl FieldList for Crw {
    fn fields(&self, out: &mut dyn FnMut(&'static str, String)) {
        out("res0", bit(self.reserved0()));
        out("s", bit(self.solicited()));
        out("r", bit(self.overflow()));
        out("c", bit(self.chaining()));
        out(
            "rsc",
            rsc::name(self.rsc()).map_or_else(|| hex(self.rsc()), str::to_owned),
        );
        out("a", bit(self.ancillary()));
        out("res9", bit(self.reserved9()));
        out(
            "erc",
            erc::name(self.erc()).map_or_else(|| hex(self.erc()), str::to_owned),
        );
        out("rsid", hex(self.rsid()));
    }
}

impl FieldList for InterruptionCode {
    fn fields(&self, out: &mut dyn FnMut(&'static str, String)) {
        out("sid", sid_word(self.sid));
        out("intparm", hex(self.intparm));
        out("a", bit(self.iiw.adapter()));
        out("res1", bit(self.iiw.reserved1()));
        out("isc", hex(self.iiw.isc()));
        out("res5", hex(self.iiw.reserved()));
    }
}

const CIW_NAMES: [&str; SenseId::MAX_CIWS] = names!("ciw"; "0", "1", "2", "3", "4", "5", "6", "7");

impl FieldList for SenseId {
    fn fields(&self, out: &mut dyn FnMut(&'static str, String)) {
        out("byte0", hex(self.byte0));
        out("cu_type", hex(self.cu_type));
        out("cu_model", hex(self.cu_model));
        out("dev_type", hex(self.dev_type));
        out("dev_model", hex(self.dev_model));
        out("res7", hex(self.reserved7));
        for (name, ciw) in CIW_NAMES.iter().zip(self.ciws()) {
            out(name, format!("{:#010x}", ciw.into_bits()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ccw::CcwFormat;
    use crate::esw::ExtendedReportWord;
    use crate::scsw::{FunctionControl, ScswControls, StatusControl};
    use crate::senseid::Ciw;
    use crate::status::DeviceStatus;

    fn get(v: &dyn FieldList, name: &str) -> Option<String> {
        collect_fields(v).into_iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    fn ok_scsw() -> Scsw {
        Scsw {
            ctrl: ScswControls::new()
                .with_format1(true)
                .with_fctl(FunctionControl::START)
                .with_stctl(StatusControl::PRIM_SEC_PEND),
            cpa: 0x1008,
            dstat: DeviceStatus::CE_DE,
            ..Scsw::default()
        }
    }

    #[test]
    fn scsw_fields_render_symbolically() {
        let f = collect_fields(&ok_scsw());
        let names: Vec<_> = f.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "key", "s", "l", "cc", "f", "p", "i", "a", "u", "z", "e", "n", "res16", "fctl", "actl", "stctl", "cpa",
                "dstat", "cstat", "count"
            ]
        );
        assert_eq!(get(&ok_scsw(), "dstat").as_deref(), Some("CE|DE"));
        assert_eq!(get(&ok_scsw(), "fctl").as_deref(), Some("START"));
        assert_eq!(get(&ok_scsw(), "stctl").as_deref(), Some("PRIM|SEC|PEND"));
        assert_eq!(get(&ok_scsw(), "actl").as_deref(), Some("0"));
        assert_eq!(get(&ok_scsw(), "cpa").as_deref(), Some("0x1008"));
        assert_eq!(get(&ok_scsw(), "f").as_deref(), Some("1"));
    }

    #[test]
    fn irb_diff_names_prefixed_fields() {
        let expected = Irb {
            scsw: ok_scsw(),
            ..Irb::default()
        };
        let mut got = expected;
        got.scsw.dstat = DeviceStatus::CE_DE_UC;
        got.esw.erw = ExtendedReportWord::with_sense(32);
        got.ecw[0] = 0x80;
        let d = diff_fields(&expected, &got);
        assert_eq!(d.len(), 4);
        assert_eq!(
            d[0],
            FieldDiff {
                name: "scsw.dstat",
                expected: "CE|DE".into(),
                got: "CE|DE|UC".into()
            }
        );
        assert_eq!((d[1].name, d[1].got.as_str()), ("esw.erw.s", "1"));
        assert_eq!((d[2].name, d[2].got.as_str()), ("esw.erw.scnt", "0x20"));
        assert_eq!(d[3].name, "ecw");
        assert!(d[3].got.starts_with("80000000"));
    }

    #[test]
    fn diff_of_equal_values_is_empty() {
        let a = Irb::decode(&[0x5a; 96]).unwrap();
        assert!(diff_fields(&a, &a).is_empty());
    }

    #[test]
    fn schib_fields_cover_pmcw_scsw_and_mba() {
        let s = Schib::from_be_bytes(&[0u8; 52]);
        let f = collect_fields(&s);
        assert_eq!(f.len(), 26 + 20 + 2);
        assert_eq!(f[0].0, "pmcw.intparm");
        assert_eq!(f[26].0, "scsw.key");
        assert_eq!(f[46], ("mba", "0x0".to_owned()));
        assert_eq!(get(&s.pmcw, "chpid").as_deref(), Some("0000000000000000"));
    }

    #[test]
    fn orb_fields_include_extension_only_with_x() {
        let mut raw = [0u8; 32];
        raw[4] = 0x00;
        raw[5] = 0x80;
        let basic = Orb::decode(&raw).unwrap();
        assert_eq!(get(&basic, "css_priority"), None);
        assert_eq!(get(&basic, "f").as_deref(), Some("1"));
        raw[7] = 0x01;
        raw[12] = 0x33;
        let ext = Orb::decode(&raw).unwrap();
        assert_eq!(get(&ext, "css_priority").as_deref(), Some("0x33"));
        let d = diff_fields(&basic, &ext);
        assert_eq!(
            d.iter().map(|x| x.name).collect::<Vec<_>>(),
            ["x", "css_priority", "cu_priority", "res_ext"]
        );
        assert_eq!(d[1].expected, "-");
    }

    #[test]
    fn ccw_fields_render_flags() {
        let c = Ccw::decode(CcwFormat::Format1, [0xe4, 0x60, 0x01, 0x00, 0, 0, 0x20, 0]);
        assert_eq!(
            collect_fields(&c),
            [
                ("cmd", "0xe4".to_owned()),
                ("flags", "CC|SLI".to_owned()),
                ("count", "0x100".to_owned()),
                ("cda", "0x2000".to_owned())
            ]
        );
    }

    #[test]
    fn crw_fields_name_codes() {
        let crw = Crw::from_bits(0x4402_0000);
        assert_eq!(get(&crw, "rsc").as_deref(), Some("CHP"));
        assert_eq!(get(&crw, "erc").as_deref(), Some("INIT"));
        assert_eq!(get(&Crw::from_bits(0x0f3f_0000), "erc").as_deref(), Some("0x3f"));
        assert_eq!(get(&Crw::from_bits(0x0f3f_0000), "rsc").as_deref(), Some("0xf"));
    }

    #[test]
    fn intcode_and_esw_fields() {
        let c = InterruptionCode::from_lowcore_bytes([0, 1, 0, 4, 0, 0, 0, 7, 0x98, 0, 0, 0]);
        assert_eq!(get(&c, "a").as_deref(), Some("1"));
        assert_eq!(get(&c, "isc").as_deref(), Some("0x3"));
        assert_eq!(get(&c, "sid").as_deref(), Some("0x10004 (0.0.0004)"));
        assert_eq!(get(&Esw::with_lpum(0x80), "scl.lpum").as_deref(), Some("0x80"));
    }

    #[test]
    fn senseid_fields_list_present_ciws() {
        let s = SenseId::new(0x3990, 0xe9, 0x3390, 0x0c)
            .with_ciw(Ciw::entry(Ciw::TYPE_RCD, 0xfa, 0x100))
            .unwrap();
        let f = collect_fields(&s);
        assert_eq!(f.len(), 7);
        assert_eq!(f[6], ("ciw0", "0x40fa0100".to_owned()));
        assert_eq!(f[1], ("cu_type", "0x3990".to_owned()));
    }

    proptest::proptest! {
        #[test]
        fn different_irbs_differ_in_some_field(
            a in proptest::collection::vec(proptest::num::u8::ANY, 96),
            b in proptest::collection::vec(proptest::num::u8::ANY, 96),
        ) {
            let (x, y) = (Irb::decode(&a).unwrap(), Irb::decode(&b).unwrap());
            proptest::prop_assert_eq!(diff_fields(&x, &y).is_empty(), a == b);
        }

        #[test]
        fn different_schibs_differ_in_some_field(
            a in proptest::collection::vec(proptest::num::u8::ANY, 52),
            flip in 0usize..52 * 8,
        ) {
            let mut b = a.clone();
            b[flip / 8] ^= 0x80 >> (flip % 8);
            let x = Schib::decode(&a).unwrap();
            let y = Schib::decode(&b).unwrap();
            proptest::prop_assert_eq!(diff_fields(&x, &y).len(), 1);
        }

        #[test]
        fn different_orbs_differ_in_some_field(
            a in proptest::collection::vec(proptest::num::u8::ANY, 32),
            flip in 0usize..12 * 8,
        ) {
            let mut b = a.clone();
            b[flip / 8] ^= 0x80 >> (flip % 8);
            let x = Orb::decode(&a).unwrap();
            let y = Orb::decode(&b).unwrap();
            proptest::prop_assert!(!diff_fields(&x, &y).is_empty());
        }
    }
}
