//! `zcss replay`: inputs (files, directories, standard input), `--strict`
//! checks, and the three report formats (text, JSON, JUnit XML).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use zcss::trace::replay::{plural, replay, FileReport, Mismatch, ReplayError, ReplayOptions};
use zcss::trace::{bless_text, parse_bytes, NumStyle, Statement, Trace};

use crate::{machine_error_code, StdoutSink, EXIT_IO, EXIT_MALFORMED, EXIT_MISMATCH, EXIT_OK, STATUS_SO_FAR};

/// How `replay` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// For people: mismatches as `FILE:LINE: …`, a PASS/FAIL line per file
    /// and a total.
    #[default]
    Text,
    /// One JSON array, one object per file (schema: docs/replay-report.schema.json).
    Json,
    /// JUnit XML in the Surefire layout: one `testsuite`, one `testcase`
    /// per file, a `failure` per failed file, an `error` per malformed one.
    Junit,
}

/// The arguments of `zcss replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Print every statement with its decoded structures (the channel
    /// program as the engine ran it, IRBs and SCHIBs by field), and each
    /// mismatch right below its statement.
    #[arg(short, long)]
    verbose: bool,
    /// Rewrite the files in place with the results and storage contents
    /// that replay produced; everything else in the text (comments, blanks,
    /// subchannels and numbers as written, `..` wildcards) is kept. An
    /// `expect` of wildcards only is filled in. Exits 0 when every file was
    /// blessed.
    #[arg(long)]
    bless: bool,
    /// Print only mismatches and the total.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// Stop at the first mismatch (the rest of that file and the remaining
    /// files are not replayed).
    #[arg(short = 'x', long)]
    stop_at_first: bool,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text, conflicts_with = "verbose")]
    format: Format,
    /// Refuse a trace with an instruction whose result is left out; warn
    /// on a decimal address or register operand (the format's other
    /// operands are hex: `tsch 0x00010000 4000` means 0xfa0) and on a
    /// missing line end at the end of the file.
    #[arg(long)]
    strict: bool,
    /// Let the guest's writes reach the DASD image files of the traces
    /// (committed when each channel program that wrote ends). Without
    /// it an image is never modified: writes go to an in-memory
    /// overlay.
    #[arg(long)]
    write_images: bool,
    /// Trace files (.zct); a directory stands for the .zct files under it,
    /// `-` for standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// What became of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail,
    /// Mismatched, and `--bless` rewrote it with what happened.
    Blessed,
    /// Not replayed: malformed, refused by `--strict`, or a machine this
    /// build cannot build.
    Malformed,
    /// Not replayed: it could not be read (or written back).
    Error,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Blessed => "BLESSED",
            Self::Malformed => "MALFORMED",
            Self::Error => "ERROR",
        }
    }
}

/// One file's result, for the JSON and JUnit reports.
struct FileResult {
    name: String,
    verdict: Verdict,
    error: Option<String>,
    report: FileReport,
}

/// One input: a file or standard input.
enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    fn name(&self) -> String {
        match self {
            Self::Stdin => "-".to_owned(),
            Self::File(p) => p.display().to_string(),
        }
    }
}

/// The inputs the arguments name: a directory stands for the `.zct` files
/// under it (sorted, recursively).
fn expand(args: &[PathBuf]) -> Result<Vec<Input>, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|x| x == "zct") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut inputs = Vec::new();
    for a in args {
        if a.as_os_str() == "-" {
            inputs.push(Input::Stdin);
        } else if a.is_dir() {
            let mut found = Vec::new();
            walk(a, &mut found).map_err(|e| format!("zcss: {}: {e}", a.display()))?;
            if found.is_empty() {
                return Err(format!("zcss: {}: no .zct files in this directory", a.display()));
            }
            inputs.extend(found.into_iter().map(Input::File));
        } else {
            inputs.push(Input::File(a.clone()));
        }
    }
    Ok(inputs)
}

/// A `--strict` finding: line, column, text.
type Finding = (usize, usize, String);

/// `--strict`: errors (a result left out) and warnings (a decimal operand
/// where the format's others are hex, no line end at the end).
fn strict_findings(text: &str, trace: &Trace) -> (Vec<Finding>, Vec<Finding>) {
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    let raw_lines: Vec<&str> = text.split('\n').collect();
    let column_of = |line: usize, token: &str| {
        raw_lines
            .get(line - 1)
            .and_then(|l| l.split('#').next().and_then(|s| s.find(token)))
            .map_or(1, |k| k + 1)
    };
    for (line, stmt) in trace.statements() {
        let mut nums = Vec::new();
        match stmt {
            Statement::Insn(s) => {
                if s.outcome.is_none() {
                    errors.push((
                        line,
                        1,
                        format!(
                            "the result of `{}` is left out (write `=> <result>`)",
                            s.insn.mnemonic()
                        ),
                    ));
                }
                nums.extend(s.insn.hex_operands());
            }
            Statement::Store { addr, .. } | Statement::Expect { addr, .. } => nums.push(*addr),
            _ => {}
        }
        for n in nums {
            if n.style == NumStyle::Dec && n.value >= 10 {
                let tok = n.value.to_string();
                warnings.push((
                    line,
                    column_of(line, &tok),
                    format!(
                        "`{tok}` is decimal ({:#x}); the format's other operands are hex — write {:#x} if that is meant, or 0x{tok}",
                        n.value, n.value
                    ),
                ));
            }
        }
    }
    if !text.is_empty() && !text.ends_with('\n') {
        let last = text.split('\n').count();
        warnings.push((last, 1, "the last line has no line end".to_owned()));
    }
    (errors, warnings)
}

/// Runs `zcss replay`; returns the exit status.
pub fn run(a: &ReplayArgs) -> u8 {
    let start = Instant::now();
    let opts = ReplayOptions {
        verbose: a.verbose,
        bless: a.bless,
        write_images: a.write_images,
        stop_at_first: a.stop_at_first,
    };
    let inputs = match expand(&a.files) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_IO;
        }
    };
    let text_out = a.format == Format::Text;
    let mut worst = EXIT_OK;
    let mut total = FileReport::default();
    let mut results: Vec<FileResult> = Vec::new();
    let show_progress = !a.verbose && std::io::stderr().is_terminal();
    let mut stdin_used = false;
    for input in &inputs {
        let name = input.name();
        let file_start = Instant::now();
        let (code, result) = one_file(a, &opts, input, &name, show_progress, &mut stdin_used);
        let mut result = result;
        result.report.elapsed = file_start.elapsed();
        worst = worst.max(code);
        STATUS_SO_FAR.fetch_max(worst, Ordering::Relaxed);
        if text_out {
            for m in &result.report.mismatches {
                outln!("{name}:{}: {}", m.line, m.message);
            }
            if !a.quiet {
                match result.verdict {
                    Verdict::Pass | Verdict::Fail | Verdict::Blessed => {
                        outln!("{name}: {} — {}", result.verdict.word(), result.report.summary());
                    }
                    Verdict::Malformed | Verdict::Error => outln!("{name}: {}", result.verdict.word()),
                }
            }
        }
        total.add(&result.report);
        let stop = a.stop_at_first && result.verdict != Verdict::Pass;
        results.push(result);
        if stop {
            break;
        }
    }
    total.elapsed = start.elapsed();
    let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count() as u64;
    match a.format {
        Format::Text => {
            let verdict = if worst == EXIT_OK { "ok" } else { "FAILED" };
            let mut files = format!(
                "{}: {} passed, {} failed, {} malformed",
                plural(results.len() as u64, "file"),
                count(Verdict::Pass),
                count(Verdict::Fail),
                count(Verdict::Malformed)
            );
            if count(Verdict::Blessed) > 0 {
                files.push_str(&format!(", {} blessed", count(Verdict::Blessed)));
            }
            if count(Verdict::Error) > 0 {
                files.push_str(&format!(", {} unreadable", count(Verdict::Error)));
            }
            outln!("total: {files}; {} — {verdict}", total.summary());
        }
        Format::Json => out!("{}", json_report(&results)),
        Format::Junit => out!("{}", junit_report(&results, total.elapsed)),
    }
    worst
}

/// Reads, checks, parses and replays one input.
fn one_file(
    a: &ReplayArgs,
    opts: &ReplayOptions,
    input: &Input,
    name: &str,
    show_progress: bool,
    stdin_used: &mut bool,
) -> (u8, FileResult) {
    let mut result = FileResult {
        name: name.to_owned(),
        verdict: Verdict::Error,
        error: None,
        report: FileReport::default(),
    };
    let mut fail = |verdict, code, msg: String| {
        eprintln!("{msg}");
        result.verdict = verdict;
        result.error = Some(msg);
        (code, std::mem::replace(&mut result, dummy()))
    };
    let data = match input {
        Input::Stdin if *stdin_used => {
            return fail(
                Verdict::Error,
                EXIT_IO,
                "zcss: -: standard input was read already".into(),
            );
        }
        Input::Stdin => {
            *stdin_used = true;
            let mut v = Vec::new();
            match std::io::stdin().lock().read_to_end(&mut v) {
                Ok(_) => v,
                Err(e) => return fail(Verdict::Error, EXIT_IO, format!("zcss: -: {e}")),
            }
        }
        Input::File(p) => match std::fs::read(p) {
            Ok(d) => d,
            Err(e) => return fail(Verdict::Error, EXIT_IO, format!("zcss: {name}: {e}")),
        },
    };
    let trace = match parse_bytes(&data) {
        Ok(t) => t,
        Err(e) => {
            return fail(
                Verdict::Malformed,
                EXIT_MALFORMED,
                format!("{name}:{}:{}: {}", e.line, e.column, e.kind),
            )
        }
    };
    for (line, w) in zcss::machine::MachineConfig::from_trace(&trace).warnings() {
        eprintln!("{name}:{line}: warning: {w}");
    }
    // parse_bytes accepted it, so it is UTF-8.
    let text = String::from_utf8_lossy(&data);
    if a.strict {
        let (errors, warnings) = strict_findings(&text, &trace);
        for (l, c, w) in &warnings {
            eprintln!("{name}:{l}:{c}: warning: {w}");
        }
        if let Some((l, c, e)) = errors.first() {
            return fail(
                Verdict::Malformed,
                EXIT_MALFORMED,
                format!("{name}:{l}:{c}: {e} (--strict)"),
            );
        }
    }
    let base = match input {
        Input::File(p) => p.parent().unwrap_or_else(|| Path::new(".")).to_path_buf(),
        Input::Stdin => PathBuf::from("."),
    };
    let progress = show_progress.then(|| Progress::new(name, trace.lines.len()));
    let mut sink: Box<dyn std::io::Write> = if opts.verbose {
        Box::new(StdoutSink)
    } else {
        Box::new(std::io::sink())
    };
    let r = replay(&trace, &base, opts, &mut *sink, &mut |line| {
        if let Some(p) = &progress {
            p.set(line);
        }
    });
    if let Some(p) = progress {
        p.finish();
    }
    let report = match r {
        Ok(r) => r,
        Err(ReplayError::Machine { line, error }) => {
            return fail(
                Verdict::Malformed,
                machine_error_code(&error),
                format!("{name}:{line}: {error}"),
            )
        }
    };
    let mut code = if report.mismatches.is_empty() {
        EXIT_OK
    } else {
        EXIT_MISMATCH
    };
    result.verdict = if code == EXIT_OK { Verdict::Pass } else { Verdict::Fail };
    if a.bless {
        if let Some(b) = &report.blessed {
            match input {
                Input::Stdin => {
                    eprintln!("zcss: -: --bless cannot rewrite standard input");
                    code = code.max(EXIT_IO);
                }
                Input::File(p) => {
                    let new = bless_text(&text, &trace, b);
                    if let Err(e) = std::fs::write(p, new) {
                        eprintln!("zcss: {name}: {e}");
                        code = EXIT_IO;
                    } else if code == EXIT_MISMATCH {
                        // The file now says what happened.
                        code = EXIT_OK;
                        result.verdict = Verdict::Blessed;
                    }
                }
            }
        }
    }
    result.report = report;
    (code, result)
}

fn dummy() -> FileResult {
    FileResult {
        name: String::new(),
        verdict: Verdict::Error,
        error: None,
        report: FileReport::default(),
    }
}

/// `s` as a JSON string literal.
fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if u32::from(c) < 0x20 => o.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_mismatch(m: &Mismatch) -> String {
    format!(
        "{{\"line\": {}, \"field\": {}, \"expected\": {}, \"got\": {}, \"message\": {}}}",
        m.line,
        json_str(&m.field),
        json_str(&m.expected),
        json_str(&m.got),
        json_str(&m.message)
    )
}

/// The JSON report: an array with one object per file
/// (docs/replay-report.schema.json).
fn json_report(results: &[FileResult]) -> String {
    let mut o = String::from("[");
    for (k, r) in results.iter().enumerate() {
        let mismatches: Vec<String> = r.report.mismatches.iter().map(json_mismatch).collect();
        o.push_str(if k == 0 { "\n  " } else { ",\n  " });
        o.push_str(&format!(
            "{{\"file\": {}, \"passed\": {}, \"status\": {}, \"error\": {}, \"statements\": {}, \"instructions\": {}, \"checks\": {}, \"mismatches\": [{}], \"elapsed_ms\": {:.3}}}",
            json_str(&r.name),
            r.verdict == Verdict::Pass,
            json_str(&r.verdict.word().to_ascii_lowercase()),
            r.error.as_deref().map_or_else(|| "null".to_owned(), json_str),
            r.report.statements,
            r.report.instructions,
            r.report.checks,
            mismatches.join(", "),
            r.report.elapsed.as_secs_f64() * 1e3
        ));
    }
    o.push_str(if results.is_empty() { "]\n" } else { "\n]\n" });
    o
}

/// `s` escaped for XML text and attribute values.
fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\n' | '\t' => o.push(c),
            c if u32::from(c) < 0x20 => {}
            c => o.push(c),
        }
    }
    o
}

/// The JUnit report in the Surefire layout: one `testsuite`, one
/// `testcase` per file (class name `zcss.replay`), with a `failure` for
/// mismatches and an `error` for a file that could not be replayed.
fn junit_report(results: &[FileResult], elapsed: Duration) -> String {
    let count = |v: &[Verdict]| results.iter().filter(|r| v.contains(&r.verdict)).count();
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    o.push_str(&format!(
        "<testsuite name=\"zcss replay\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{:.3}\">\n",
        results.len(),
        count(&[Verdict::Fail]),
        count(&[Verdict::Malformed, Verdict::Error]),
        elapsed.as_secs_f64()
    ));
    for r in results {
        o.push_str(&format!(
            "  <testcase name=\"{}\" classname=\"zcss.replay\" time=\"{:.3}\"",
            xml(&r.name),
            r.report.elapsed.as_secs_f64()
        ));
        match r.verdict {
            Verdict::Pass | Verdict::Blessed => o.push_str("/>\n"),
            Verdict::Fail => {
                let body: Vec<String> = r
                    .report
                    .mismatches
                    .iter()
                    .map(|m| format!("{}:{}: {}", r.name, m.line, m.message))
                    .collect();
                o.push_str(&format!(
                    ">\n    <failure message=\"{}\" type=\"mismatch\">{}</failure>\n  </testcase>\n",
                    xml(&plural(r.report.mismatches.len() as u64, "mismatch")),
                    xml(&body.join("\n"))
                ));
            }
            Verdict::Malformed | Verdict::Error => {
                let msg = r.error.clone().unwrap_or_default();
                o.push_str(&format!(
                    ">\n    <error message=\"{}\" type=\"{}\">{}</error>\n  </testcase>\n",
                    xml(&msg),
                    r.verdict.word().to_ascii_lowercase(),
                    xml(&msg)
                ));
            }
        }
    }
    o.push_str("</testsuite>\n");
    o
}

/// An indicatif progress bar on stderr, shown only once a replay has run
/// for a moment (short replays print nothing).
struct Progress {
    bar: indicatif::ProgressBar,
}

impl Progress {
    fn new(name: &str, lines: usize) -> Self {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(u64::try_from(lines).unwrap_or(u64::MAX)),
            indicatif::ProgressDrawTarget::hidden(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} lines ({eta})") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(name.to_owned());
        Self { bar }
    }

    /// Shows the bar once the replay has run for half a second.
    fn set(&self, line: usize) {
        if self.bar.is_hidden() && self.bar.elapsed() > Duration::from_millis(500) {
            self.bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        self.bar.set_position(u64::try_from(line).unwrap_or(u64::MAX));
    }

    fn finish(self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_findings_left_out_result_is_an_error() {
        let text = "zcss-trace 1\nstsch 0x00010000 0x1000\n";
        let t = zcss::trace::parse(text).unwrap();
        let (errors, warnings) = strict_findings(text, &t);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, 2);
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn strict_findings_decimal_address_and_missing_line_end_warn() {
        let text = "zcss-trace 1\ntsch 0x00010000 4000 => cc=1";
        let t = zcss::trace::parse(text).unwrap();
        let (errors, warnings) = strict_findings(text, &t);
        assert!(errors.is_empty());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert_eq!((warnings[0].0, warnings[0].1), (2, 17));
        assert!(warnings[0].2.contains("0xfa0"), "{warnings:?}");
        assert!(warnings[1].2.contains("line end"), "{warnings:?}");
    }

    #[test]
    fn json_str_escapes_quotes_and_newlines() {
        assert_eq!(json_str("a\"b\nc\\"), "\"a\\\"b\\nc\\\\\"");
    }

    #[test]
    fn xml_escapes_markup() {
        assert_eq!(xml("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
