//! The `zcss` command as people and scripts use it: write errors (a closed
//! pipe, a full disk), `decode` lengths, `--bless` keeping the author's
//! text, readable failures, `--stop-at-first`, per-file verdicts, the JSON
//! and JUnit reports, standard input, directories and `--strict`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A SENSE ID on an enabled virtio-blk subchannel, written the way a person
/// would: `FE.0.0000`, upper-case hex, aligned comments. Replays clean.
const TRACE: &str = "\
zcss-trace 1
machine memory=0x100000
device FE.0.0000 devno=0005 virtio-blk size=65536      # the disk
stsch 0x00010000 0x1000 => cc=0
store 0x1004 18810005
msch 0x00010000 0x1000 => cc=0           # enable, ISC 3
store 0x1800 0000000C 0080FF00 00002000
store 0x2000 E4200008 00003000
ssch 0x00010000 0x1800 => cc=0
expect 0x3000 ff383202 ........
tsch 0x00010000 0x4000 => cc=0
expect 0x4000 00804007 00002008 0C000000 00800000     # CE|DE
";

fn zcss_bin() -> &'static str {
    env!("CARGO_BIN_EXE_zcss")
}

fn zcss(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(zcss_bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn zcss_stdin(args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(zcss_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fresh directory for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zcss-cli-replay-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
        .display()
        .to_string()
}

/// Runs `zcss args` with its standard output a pipe whose reading end is
/// closed before zcss writes; returns the exit status and stderr.
fn with_closed_stdout(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(zcss_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---- item 1: write errors -------------------------------------------------

#[test]
fn decode_into_closed_pipe_ends_quietly() {
    let ccws = "e4200008 00003000 ".repeat(2000);
    let (code, err) = with_closed_stdout(&["decode", "ccw1", &ccws]);
    assert_eq!((code, err.as_str()), (0, ""));
}

#[test]
fn lscss_into_closed_pipe_ends_quietly() {
    let (code, err) = with_closed_stdout(&["lscss", &example("discovery.zct")]);
    assert_eq!((code, err.as_str()), (0, ""));
}

#[test]
fn replay_verbose_into_closed_pipe_ends_quietly() {
    let (code, err) = with_closed_stdout(&["replay", "--verbose", &example("hostile.zct")]);
    assert_eq!((code, err.as_str()), (0, ""));
}

#[test]
fn decode_into_full_disk_is_an_io_error_message() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return;
    };
    let out = Command::new(zcss_bin())
        .args(["decode", "scsw", "00000000 00000000 00000000"])
        .stdout(full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("cannot write to standard output"), "{err}");
}

// ---- item 1: decode lengths -----------------------------------------------

#[test]
fn decode_13_byte_orb_is_refused_in_words() {
    let (code, out, err) = zcss(&["decode", "orb", "00000001 0080ff01 00002000 00"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("an ORB is 12 bytes") && err.contains("got 13 bytes"),
        "{err}"
    );
    assert!(!err.contains("..="), "{err}");
}

#[test]
fn decode_12_byte_orb_with_x_shows_only_its_words() {
    let (code, out, _) = zcss(&["decode", "orb", "00000001 0080ff01 00002000"]);
    assert_eq!(code, 0);
    assert!(out.contains("orb.x") && out.contains("orb.cpa"), "{out}");
    assert!(!out.contains("css_priority") && !out.contains("res_ext"), "{out}");
}

// ---- item 1: expect past what TSCH stored ---------------------------------

#[test]
fn expect_past_the_stored_irb_names_no_emw_field() {
    let dir = temp_dir("past-irb");
    let text = TRACE.replace(
        "expect 0x4000 00804007 00002008 0C000000 00800000     # CE|DE",
        &format!(
            "expect 0x4000 00804007 00002008 0c000000 00800000{}{}",
            " 00000000".repeat(12),
            " 00000001".repeat(8)
        ),
    );
    let p = write(&dir, "past.zct", &text);
    let (code, out, _) = zcss(&["replay", p.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(!out.contains("emw"), "{out}");
    assert!(out.contains("storage at 0x4043"), "{out}");
}

// ---- item 1: bless ----------------------------------------------------------

#[test]
fn bless_keeps_the_authors_text_and_exits_0() {
    let dir = temp_dir("bless");
    let wrong = TRACE
        .replace("ssch 0x00010000 0x1800 => cc=0", "ssch 0x00010000 0x1800 => cc=1")
        .replace("0C000000 00800000     # CE|DE", "0C000000 00800001     # CE|DE");
    let p = write(&dir, "b.zct", &wrong);
    let (code, out, err) = zcss(&["replay", "--bless", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("blessed"), "{out}");
    let blessed = std::fs::read_to_string(&p).unwrap();
    assert_eq!(blessed, TRACE, "only results and expected bytes change");
    assert!(blessed.contains("device FE.0.0000 devno=0005 virtio-blk size=65536      # the disk"));
    let (code, out, _) = zcss(&["replay", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn bless_fills_an_all_wildcard_expect() {
    let dir = temp_dir("bless-wild");
    let text = TRACE.replace("expect 0x3000 ff383202 ........", "expect 0x3000 ........ ........");
    let p = write(&dir, "w.zct", &text);
    let (code, _, _) = zcss(&["replay", "--bless", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    let blessed = std::fs::read_to_string(&p).unwrap();
    assert!(blessed.contains("expect 0x3000 ff383202 00000000"), "{blessed}");
}

#[test]
fn hostile_example_comment_for_cpa_outside_storage_names_no_ccw() {
    let text = std::fs::read_to_string(example("hostile.zct")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("store 0x00001800 00000003"))
        .and_then(|_| {
            text.lines()
                .skip_while(|l| !l.starts_with("store 0x00001800 00000003"))
                .nth(1)
        })
        .unwrap();
    assert!(line.contains("outside guest storage"), "{line}");
    assert!(!line.contains("cda="), "{line}");
}

// ---- item 4: readable failures --------------------------------------------

#[test]
fn verbose_shows_a_mismatch_below_its_statement() {
    let dir = temp_dir("inline");
    let p = write(
        &dir,
        "i.zct",
        &TRACE.replace("ssch 0x00010000 0x1800 => cc=0", "ssch 0x00010000 0x1800 => cc=2"),
    );
    let (code, out, _) = zcss(&["replay", "--verbose", p.to_str().unwrap()]);
    assert_eq!(code, 1);
    let lines: Vec<&str> = out.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with("9  ssch"))
        .unwrap();
    let mark = lines
        .iter()
        .position(|l| l.contains("MISMATCH: ssch: expected cc=2 got cc=0"))
        .unwrap();
    let next = lines
        .iter()
        .position(|l| l.trim_start().starts_with("10  expect"))
        .unwrap();
    assert!(at < mark && mark < next, "{out}");
}

#[test]
fn large_expect_difference_is_a_bounded_hexdump() {
    let dir = temp_dir("hexdump");
    let mib = "00".repeat(1 << 20);
    let text =
        format!("zcss-trace 1\nmachine memory=0x400000\nstore 0x100000 01\nstore 0x180010 ff\nexpect 0x100000 {mib}\n");
    let p = write(&dir, "h.zct", &text);
    let (code, out, _) = zcss(&["replay", p.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.len() < 2000, "{} characters", out.len());
    assert!(out.contains("2 bytes differ"), "{out}");
    assert!(out.contains("0x00100000  expected 00 00"), "{out}");
    assert!(out.contains("0x00180010  expected 00"), "{out}");
    assert!(out.lines().all(|l| l.len() < 80 || !l.starts_with("  ")), "{out}");
}

#[test]
fn stop_at_first_ends_at_the_first_mismatch() {
    let dir = temp_dir("stop");
    let bad = TRACE
        .replace("stsch 0x00010000 0x1000 => cc=0", "stsch 0x00010000 0x1000 => cc=1")
        .replace("ssch 0x00010000 0x1800 => cc=0", "ssch 0x00010000 0x1800 => cc=2");
    let p1 = write(&dir, "a.zct", &bad);
    let p2 = write(&dir, "b.zct", TRACE);
    let (code, out, _) = zcss(&["replay", "-x", p1.to_str().unwrap(), p2.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("a.zct:4: stsch"), "{out}");
    assert!(!out.contains("a.zct:9:"), "{out}");
    assert!(!out.contains("b.zct"), "{out}");
}

#[test]
fn every_file_gets_a_verdict_and_the_total_counts_them() {
    let dir = temp_dir("verdicts");
    let good = write(&dir, "good.zct", TRACE);
    let bad = write(
        &dir,
        "bad.zct",
        &TRACE.replace("ssch 0x00010000 0x1800 => cc=0", "ssch 0x00010000 0x1800 => cc=2"),
    );
    let broken = write(&dir, "broken.zct", "zcss-trace 1\nssch 0x10000\n");
    let (code, out, _) = zcss(&[
        "replay",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
        broken.to_str().unwrap(),
    ]);
    assert_eq!(code, 3);
    assert!(
        out.contains("good.zct: PASS — 12 statements, 4 instructions, 6 checks, 0 mismatches"),
        "{out}"
    );
    assert!(
        out.contains("bad.zct: FAIL — 12 statements, 4 instructions, 6 checks, 1 mismatch,"),
        "{out}"
    );
    assert!(out.contains("broken.zct: MALFORMED"), "{out}");
    assert!(
        out.contains("total: 3 files: 1 passed, 1 failed, 1 malformed;"),
        "{out}"
    );
    assert!(!out.contains("1 mismatches"), "{out}");
}

// ---- item 6: CI formats, stdin, directories, --strict ---------------------

/// A JSON Schema subset validator (type, enum, required, properties,
/// additionalProperties: false, items, minimum): enough for
/// docs/replay-report.schema.json, and it refuses what it does not know.
fn validate(schema: &serde_json::Value, v: &serde_json::Value, at: &str) -> Result<(), String> {
    use serde_json::Value;
    let obj = schema.as_object().ok_or(format!("{at}: schema is not an object"))?;
    for key in obj.keys() {
        let known = [
            "$schema",
            "$id",
            "title",
            "description",
            "type",
            "enum",
            "required",
            "properties",
            "additionalProperties",
            "items",
            "minimum",
        ];
        if !known.contains(&key.as_str()) {
            return Err(format!("{at}: validator does not know `{key}`"));
        }
    }
    if let Some(t) = obj.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{at}: bad type")),
        };
        let ok = types.iter().any(|t| match *t {
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            "integer" => v.is_u64() || v.is_i64(),
            "number" => v.is_number(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            _ => false,
        });
        if !ok {
            return Err(format!("{at}: {v} is not {types:?}"));
        }
    }
    if let Some(Value::Array(e)) = obj.get("enum") {
        if !e.contains(v) {
            return Err(format!("{at}: {v} not in {e:?}"));
        }
    }
    if let (Some(min), Some(n)) = (obj.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if n < min {
            return Err(format!("{at}: {n} < {min}"));
        }
    }
    if let Some(o) = v.as_object() {
        let props = obj.get("properties").and_then(Value::as_object);
        for r in obj.get("required").and_then(Value::as_array).into_iter().flatten() {
            let r = r.as_str().unwrap_or_default();
            if !o.contains_key(r) {
                return Err(format!("{at}: `{r}` missing"));
            }
        }
        for (k, val) in o {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(s, val, &format!("{at}.{k}"))?,
                None if obj.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{at}: `{k}` is not in the schema"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(a)) = (obj.get("items"), v.as_array()) {
        for (k, x) in a.iter().enumerate() {
            validate(items, x, &format!("{at}[{k}]"))?;
        }
    }
    Ok(())
}

#[test]
fn json_report_validates_against_its_schema() {
    let dir = temp_dir("json");
    let good = write(&dir, "good.zct", TRACE);
    let bad = write(
        &dir,
        "bad.zct",
        &TRACE.replace("expect 0x3000 ff383202", "expect 0x3000 ff383203"),
    );
    let broken = write(&dir, "broken.zct", "zcss-trace 1\nssch 0x10000\n");
    let (code, out, _) = zcss(&[
        "replay",
        "--format",
        "json",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
        broken.to_str().unwrap(),
    ]);
    assert_eq!(code, 3);
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/replay-report.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let report: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    validate(&schema, &report, "$").unwrap();
    let files = report.as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[0]["passed"], true);
    assert_eq!(files[1]["passed"], false);
    assert_eq!(files[1]["mismatches"][0]["line"], 10);
    assert_eq!(files[1]["mismatches"][0]["field"], "storage at 0x3003");
    assert_eq!(files[1]["mismatches"][0]["expected"], "ff383203........");
    assert_eq!(files[2]["status"], "malformed");
    // And the validator does refuse what the schema forbids.
    let mut wrong = report.clone();
    wrong[0]["passed"] = serde_json::Value::from("yes");
    assert!(validate(&schema, &wrong, "$").is_err());
}

#[test]
fn junit_report_has_the_surefire_elements() {
    let dir = temp_dir("junit");
    let good = write(&dir, "good.zct", TRACE);
    let bad = write(
        &dir,
        "bad.zct",
        &TRACE.replace("ssch 0x00010000 0x1800 => cc=0", "ssch 0x00010000 0x1800 => cc=2"),
    );
    let broken = write(&dir, "broken.zct", "zcss-trace 1\nssch 0x10000 <\n");
    let (code, out, _) = zcss(&[
        "replay",
        "--format",
        "junit",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
        broken.to_str().unwrap(),
    ]);
    assert_eq!(code, 3);
    let doc = xml::parse(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(doc.name, "testsuite");
    assert_eq!(doc.attr("tests"), Some("3"));
    assert_eq!(doc.attr("failures"), Some("1"));
    assert_eq!(doc.attr("errors"), Some("1"));
    assert!(doc.attr("time").is_some() && doc.attr("name").is_some());
    let cases: Vec<&xml::Element> = doc.children.iter().filter(|c| c.name == "testcase").collect();
    assert_eq!(cases.len(), 3);
    for c in &cases {
        assert!(c.attr("name").is_some() && c.attr("classname").is_some() && c.attr("time").is_some());
    }
    assert!(cases[0].children.is_empty());
    let failure = &cases[1].children[0];
    assert_eq!(failure.name, "failure");
    assert_eq!(failure.attr("message"), Some("1 mismatch"));
    assert!(
        failure.text.contains("bad.zct:9: ssch: expected cc=2 got cc=0"),
        "{}",
        failure.text
    );
    let error = &cases[2].children[0];
    assert_eq!(error.name, "error");
    assert!(error.attr("message").unwrap().contains("broken.zct:2:"), "{out}");
}

/// A minimal XML reader for the JUnit test: elements, attributes, text,
/// the five predefined entities and an XML declaration.
mod xml {
    #[derive(Debug, Default)]
    pub struct Element {
        pub name: String,
        pub attrs: Vec<(String, String)>,
        pub children: Vec<Element>,
        pub text: String,
    }

    impl Element {
        pub fn attr(&self, k: &str) -> Option<&str> {
            self.attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
        }
    }

    fn unescape(s: &str) -> Result<String, String> {
        let mut o = String::new();
        let mut rest = s;
        while let Some(k) = rest.find('&') {
            o.push_str(&rest[..k]);
            let end = rest[k..].find(';').ok_or("unterminated entity")? + k;
            o.push_str(match &rest[k + 1..end] {
                "amp" => "&",
                "lt" => "<",
                "gt" => ">",
                "quot" => "\"",
                "apos" => "'",
                e => return Err(format!("unknown entity {e}")),
            });
            rest = &rest[end + 1..];
        }
        if rest.contains('<') {
            return Err("bare < in text".into());
        }
        o.push_str(rest);
        Ok(o)
    }

    pub fn parse(s: &str) -> Result<Element, String> {
        let s = s.trim_start();
        let s = match s.strip_prefix("<?xml") {
            Some(r) => &r[r.find("?>").ok_or("bad declaration")? + 2..],
            None => s,
        };
        let (e, rest) = element(s.trim_start())?;
        if !rest.trim().is_empty() {
            return Err(format!("text after the root: {rest}"));
        }
        Ok(e)
    }

    fn element(s: &str) -> Result<(Element, &str), String> {
        let s = s.strip_prefix('<').ok_or("expected <")?;
        let end = s.find('>').ok_or("unterminated tag")?;
        let (tag, self_closing) = match s[..end].strip_suffix('/') {
            Some(t) => (t, true),
            None => (&s[..end], false),
        };
        let mut e = Element::default();
        let mut parts = tag.trim();
        let name_end = parts.find(char::is_whitespace).unwrap_or(parts.len());
        e.name = parts[..name_end].to_owned();
        parts = parts[name_end..].trim_start();
        while !parts.is_empty() {
            let eq = parts.find("=\"").ok_or(format!("bad attribute in {tag}"))?;
            let key = parts[..eq].trim().to_owned();
            let v_end = parts[eq + 2..].find('"').ok_or("unterminated value")? + eq + 2;
            e.attrs.push((key, unescape(&parts[eq + 2..v_end])?));
            parts = parts[v_end + 1..].trim_start();
        }
        let mut rest = &s[end + 1..];
        if self_closing {
            return Ok((e, rest));
        }
        loop {
            let lt = rest.find('<').ok_or(format!("unclosed {}", e.name))?;
            e.text.push_str(&unescape(&rest[..lt])?);
            rest = &rest[lt..];
            if let Some(r) = rest.strip_prefix("</") {
                let close = r.find('>').ok_or("bad end tag")?;
                if r[..close].trim() != e.name {
                    return Err(format!("</{}> closes <{}>", &r[..close], e.name));
                }
                return Ok((e, &r[close + 1..]));
            }
            let (child, r) = element(rest)?;
            e.children.push(child);
            rest = r;
        }
    }
}

#[test]
fn dash_reads_the_trace_from_standard_input() {
    let (code, out, err) = zcss_stdin(&["replay", "-"], TRACE);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("-: PASS"), "{out}");
}

#[test]
fn directory_argument_replays_the_zct_files_under_it() {
    let dir = temp_dir("dir");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    write(&dir, "a.zct", TRACE);
    write(&dir.join("sub"), "b.zct", TRACE);
    write(&dir, "notes.txt", "not a trace");
    let (code, out, _) = zcss(&["replay", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("a.zct: PASS") && out.contains("b.zct: PASS"), "{out}");
    assert!(out.contains("total: 2 files: 2 passed"), "{out}");
}

#[test]
fn strict_refuses_a_left_out_result_and_warns_on_decimal_and_line_end() {
    let dir = temp_dir("strict");
    let left_out = write(
        &dir,
        "l.zct",
        &TRACE.replace("msch 0x00010000 0x1000 => cc=0", "msch 0x00010000 0x1000"),
    );
    let (code, _, err) = zcss(&["replay", "--strict", left_out.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("l.zct:6:1: the result of `msch` is left out"), "{err}");
    let (code, _, _) = zcss(&["replay", left_out.to_str().unwrap()]);
    assert_eq!(code, 0, "without --strict a left-out result is not checked");

    let decimal = "zcss-trace 1\ndevice fe.0.0000 devno=0005 virtio-rng\nstsch 0x00010000 4000 => cc=0";
    let p = write(&dir, "d.zct", decimal);
    let (code, _, err) = zcss(&["replay", "--strict", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("d.zct:3:18: warning: `4000` is decimal (0xfa0)"), "{err}");
    assert!(
        err.contains("d.zct:3:1: warning: the last line has no line end"),
        "{err}"
    );
}

// ---- item 7: lscss -----------------------------------------------------------

const TWO_IMAGES: &str = "\
zcss-trace 1
device fe.0.0000 devno=0000 virtio-blk
device 0.0.0001 devno=0001 virtio-rng
stsch fe.0.0000 0x1000 => cc=0
store 0x1004 18810000
msch fe.0.0000 0x1000 => cc=0
";

#[test]
fn lscss_after_shows_the_state_the_trace_left() {
    let dir = temp_dir("lscss-after");
    let p = write(&dir, "t.zct", TWO_IMAGES);
    let (code, before, _) = zcss(&["lscss", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    let row = |out: &str| out.lines().find(|l| l.starts_with("0.0.0000")).unwrap().to_owned();
    assert!(!row(&before).contains("yes"), "{before}");
    let (code, after, _) = zcss(&["lscss", "--after", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(row(&after).contains(" yes "), "{after}");
}

#[test]
fn lscss_takes_several_files_each_under_its_name() {
    let dir = temp_dir("lscss-many");
    let a = write(&dir, "a.zct", TWO_IMAGES);
    let (code, out, _) = zcss(&["lscss", a.to_str().unwrap(), &example("discovery.zct")]);
    assert_eq!(code, 0);
    assert!(out.contains("a.zct:\nDevice"), "{out}");
    assert!(out.contains("discovery.zct:\nDevice"), "{out}");
    assert_eq!(out.matches("Subchan.").count(), 2, "{out}");
}

#[test]
fn lscss_device_invisible_without_mcss_is_warned_and_shown_apart() {
    let dir = temp_dir("lscss-images");
    let p = write(&dir, "t.zct", TWO_IMAGES);
    let (code, out, err) = zcss(&["lscss", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        err.contains("t.zct:3: warning: device 0.0.0001 (devno 0001) is in css 0, not the default css fe"),
        "{err}"
    );
    let fe = out.find("css fe (the default css").unwrap();
    let zero = out.find("css 0 (seen only once the guest enables MCSS-E)").unwrap();
    let rng = out.find("0.0.0001 0.0.0001").unwrap();
    assert!(fe < zero && zero < rng, "{out}");
    let (_, _, err) = zcss(&["replay", p.to_str().unwrap()]);
    assert!(err.contains("warning: device 0.0.0001"), "replay warns too: {err}");
}
