//! Symbolic traces: CCWs, ORBs, IDAW and MIDAW lists by field, bus-id
//! subchannel operands, `expect irb|schib` of named fields; print ∘ parse
//! is the identity and each storing statement means the `store` of its
//! bytes.

use std::path::Path;

use zcss::trace::replay::{replay, FileReport, ReplayOptions};
use zcss::trace::{parse, print, Statement};

fn run(text: &str, bless: bool) -> FileReport {
    let t = parse(text).unwrap_or_else(|e| panic!("{e}"));
    let opts = ReplayOptions {
        bless,
        ..ReplayOptions::default()
    };
    replay(&t, Path::new("."), &opts, &mut Vec::new(), &mut |_| {}).unwrap()
}

const SYMBOLIC: &str = "\
zcss-trace 1
machine memory=0x100000
device fe.0.0000 devno=0005 virtio-blk size=65536
stsch fe.0.0000 0x1000 => cc=0
expect schib 0x1000 devno=0x0005 ena=0
store 0x1004 18810005
msch fe.0.0000 0x1000 => cc=0
orb 0x1800 intparm=0xc key=0 controls=format1|prefetch lpm=0xff cpa=0x2000
ccw1 0x2000 cmd=0xe4 flags=cc|sli count=8 cda=0x3000
ccw1 0x2008 cmd=0x03 flags=sli count=0 cda=0x0
ssch fe.0.0000 0x1800 => cc=0
tsch fe.0.0000 0x4000 => cc=0
expect irb 0x4000 dstat=CE|DE cstat=0 cpa=0x2010 count=0
ccw0 0x2100 cmd=0x02 flags=cc|sli count=24 cda=0x0
idal1 0x3800 0x000037f8 0x00004800
idal2 0x3900 0x0000000000005000
midaw 0x3a00 flags=last|skip count=16 cda=0x6000
orb 0x1820 intparm=0x1 controls=format1|midaw|extension lpm=0x80 cpa=0x2000 css-priority=0x3 cu-priority=0x4
diag500 3 fe.0.0000 0 0 => gr2=-22
";

#[test]
fn symbolic_trace_print_parse_is_identity() {
    let t = parse(SYMBOLIC).unwrap();
    assert_eq!(print(&t), SYMBOLIC);
    assert_eq!(parse(&print(&t)).unwrap(), t);
}

#[test]
fn symbolic_trace_replays_clean() {
    let r = run(SYMBOLIC, false);
    assert_eq!(r.mismatches, vec![]);
}

/// Each storing statement stores what its equivalent hex `store` stores.
#[test]
fn symbolic_stores_equal_their_hex_stores() {
    let pairs = [
        (
            "orb 0x1800 intparm=0xc controls=format1|prefetch lpm=0xff cpa=0x2000",
            "store 0x1800 0000000c 00c0ff00 00002000",
        ),
        (
            "ccw1 0x2000 cmd=0xe4 flags=cc|sli count=8 cda=0x3000",
            "store 0x2000 e4600008 00003000",
        ),
        (
            "ccw0 0x2000 cmd=0x02 flags=cc|sli count=24 cda=0x123456",
            "store 0x2000 02123456 60000018",
        ),
        ("idal1 0x3800 0x000037f8 0x00004800", "store 0x3800 000037f8 00004800"),
        ("idal2 0x3800 0x5000", "store 0x3800 00000000 00005000"),
        (
            "midaw 0x3a00 flags=last|skip count=16 cda=0x6000",
            "store 0x3a00 00000000 00c00010 00000000 00006000",
        ),
        (
            "orb 0x1800 controls=extension cpa=0x0 css-priority=0x3 cu-priority=0x4",
            "store 0x1800 00000000 0000ff01 00000000 03000400 00000000 00000000 00000000 00000000",
        ),
    ];
    for (symbolic, hex) in pairs {
        let Some(Statement::Symbolic(s)) = parse(&format!("zcss-trace 1\n{symbolic}\n")).unwrap().lines[1]
            .stmt
            .clone()
        else {
            panic!("{symbolic}");
        };
        let Some(Statement::Store { addr, data }) =
            parse(&format!("zcss-trace 1\n{hex}\n")).unwrap().lines[1].stmt.clone()
        else {
            panic!("{hex}");
        };
        assert_eq!(
            (s.addr.value, s.bytes().unwrap()),
            (addr.value, data.bytes),
            "{symbolic}"
        );
    }
}

#[test]
fn expect_irb_compares_only_the_named_fields_and_names_them() {
    let text = SYMBOLIC.replace("dstat=CE|DE cstat=0", "dstat=CE|DE|UC cstat=0");
    let r = run(&text, false);
    assert_eq!(r.mismatches.len(), 1, "{:?}", r.mismatches);
    assert_eq!(r.mismatches[0].message, "irb.scsw.dstat expected CE|DE|UC got CE|DE");
    assert_eq!(r.mismatches[0].line, 13);
}

#[test]
fn bless_rewrites_a_wrong_symbolic_field() {
    let text = SYMBOLIC.replace("cpa=0x2010 count=0", "cpa=0x2008 count=0");
    let r = run(&text, true);
    assert_eq!(r.mismatches.len(), 1);
    let blessed = zcss::trace::bless_text(&text, &parse(&text).unwrap(), r.blessed.as_ref().unwrap());
    assert!(
        blessed.contains("expect irb 0x4000 dstat=CE|DE cstat=0 cpa=0x2010 count=0"),
        "{blessed}"
    );
}

#[test]
fn bus_id_operand_of_another_css_without_mcss_is_the_m_word() {
    // Without MCSS-E a guest cannot name css 0: the operand is the word
    // with M = 1 and cssid 0, which finds nothing.
    let text = "zcss-trace 1\nmachine mcss=off\ndevice fe.0.0000 devno=0005 virtio-rng\n\
                stsch fe.0.0000 0x1000 => cc=0\nstsch 0x00010000 0x1000 => cc=0\n\
                stsch 0.0.0000 0x1000 => cc=3\nstsch 0x00090000 0x1000 => cc=3\n";
    assert_eq!(run(text, false).mismatches, vec![]);
}

#[test]
fn bus_id_operand_with_mcss_names_the_css() {
    let text = "zcss-trace 1\nmachine mcss=on\ndevice fe.0.0000 devno=0005 virtio-rng\n\
                stsch fe.0.0000 0x1000 => cc=0\nstsch 0xfe090000 0x1000 => cc=0\nstsch 0x00090000 0x1000 => cc=3\n";
    assert_eq!(run(text, false).mismatches, vec![]);
}

#[test]
fn parse_symbolic_errors_point_at_the_field() {
    let cases = [
        ("ccw1 0x2000 cmd=0xe4 flags=cc|bogus", 28),
        ("ccw1 0x2000 flags=cc", 21),
        ("ccw1 0x2000 cmd=0x1e4", 17),
        ("orb 0x1800 controls=format1 nosuch=1 cpa=0", 29),
        ("expect irb 0x4000 nosuch=1", 19),
        ("idal1 0x3800 0x100000000", 14),
    ];
    for (line, column) in cases {
        let e = parse(&format!("zcss-trace 1\n{line}\n")).unwrap_err();
        assert_eq!((e.line, e.column), (2, column), "{line}: {e}");
    }
}

#[test]
fn symbolic_example_replays_clean() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/symbolic-sense-id.zct");
    let text = std::fs::read_to_string(&p).unwrap();
    let t = parse(&text).unwrap();
    assert_eq!(print(&t), text, "the example is canonical");
    let r = replay(
        &t,
        p.parent().unwrap(),
        &ReplayOptions::default(),
        &mut Vec::new(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(r.mismatches, vec![]);
    assert!(r.checks >= 10);
}

/// The recorder's symbolic form: every example, symbolized, replays as
/// clean as the original, reads back as itself, and uses the forms.
#[test]
fn symbolize_every_example_keeps_its_meaning() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut symbolic_lines = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("zct") {
            continue;
        }
        let t = parse(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let s = zcss::trace::symbolize(&t);
        let text = print(&s);
        assert_eq!(print(&parse(&text).unwrap()), text, "{}", p.display());
        assert!(
            parse(&text).unwrap() == s,
            "{}: print ∘ parse changed the trace",
            p.display()
        );
        let r = replay(&s, &dir, &ReplayOptions::default(), &mut Vec::new(), &mut |_| {}).unwrap();
        assert_eq!(r.mismatches, vec![], "{}:\n{text}", p.display());
        symbolic_lines += s
            .lines
            .iter()
            .filter(|l| matches!(l.stmt, Some(Statement::Symbolic(_))))
            .count();
    }
    assert!(symbolic_lines > 20, "{symbolic_lines}");
}

#[test]
fn symbolize_hostile_writes_orbs_ccws_idals_and_bus_ids() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hostile.zct");
    let text = print(&zcss::trace::symbolize(
        &parse(&std::fs::read_to_string(p).unwrap()).unwrap(),
    ));
    assert!(
        text.contains("orb 0x00001800 intparm=0x4 key=0 controls=format1 lpm=0xff cpa=0x2000"),
        "{text}"
    );
    assert!(
        text.contains("ccw1 0x00002008 cmd=0x08 flags=0 count=0 cda=0x2000"),
        "{text}"
    );
    assert!(text.contains("idal1 0x00003800 0x000037f8 0x00004404"), "{text}");
    assert!(text.contains("ssch fe.0.0000 0x00001800 => cc=0"), "{text}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// The symbolic statements with bytes changed at random: the parser
    /// never panics, and what parses prints and parses back to itself.
    #[test]
    fn parse_mutated_symbolic_trace_is_stable(
        edits in proptest::collection::vec((0usize..4096, proptest::prelude::any::<u8>()), 1..6)
    ) {
        let mut b = SYMBOLIC.as_bytes().to_vec();
        for (at, v) in edits {
            let k = at % b.len();
            b[k] = v;
        }
        if let Ok(t) = zcss::trace::parse_bytes(&b) {
            let text = print(&t);
            let again = parse(&text).unwrap();
            proptest::prop_assert_eq!(&t, &again);
            proptest::prop_assert_eq!(print(&again), text);
        }
    }
}
