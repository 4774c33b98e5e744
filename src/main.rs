//! The `zcss` command: replay channel-subsystem traces, list a trace's
//! machine like s390-tools' lscss, and decode architected structures.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

mod dasd_cli;

use clap::{Parser, Subcommand};
use zcss::decode::{decode_fields, parse_hex, render_fields, Structure};
use zcss::machine::{Machine, MachineError};
use zcss::trace::replay::{replay, FileReport, ReplayError, ReplayOptions};
use zcss::trace::{parse_bytes, print};

/// Exit status: everything replayed as recorded.
const EXIT_OK: u8 = 0;
/// Exit status: at least one result or `expect` differed.
const EXIT_MISMATCH: u8 = 1;
/// Exit status: bad command line (clap uses 2 as well).
const EXIT_USAGE: u8 = 2;
/// Exit status: a malformed trace, or a machine this build cannot build.
const EXIT_MALFORMED: u8 = 3;
/// Exit status: a file could not be read or written.
const EXIT_IO: u8 = 4;

const EXIT_CODES: &str = "\
Exit status:
  0  success (every result and expectation matched)
  1  mismatch (replay found a difference; details on stdout)
  2  usage error (bad arguments, bad hex for decode)
  3  malformed trace (reported as FILE:LINE:COLUMN) or a machine this build cannot build
  4  I/O error (a trace or an image file could not be read or written)";

/// zcss: an s390 channel-subsystem emulator — replay, list and decode
/// channel-subsystem traces (.zct files).
#[derive(Debug, Parser)]
#[command(
    name = "zcss",
    version,
    about = "zcss, an s390 channel-subsystem emulator: replay, list and decode channel-subsystem traces (.zct files)",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay trace files against a fresh machine each and compare every
    /// result and every `expect`.
    #[command(after_help = EXIT_CODES)]
    Replay {
        /// Print every statement with its decoded structures (the channel
        /// program as a listing, IRBs and SCHIBs by field).
        #[arg(short, long)]
        verbose: bool,
        /// Rewrite the files in place with the results and storage contents
        /// that replay produced (comments and `..` wildcards are kept).
        #[arg(long)]
        bless: bool,
        /// Print only mismatches and the total.
        #[arg(short, long, conflicts_with = "verbose")]
        quiet: bool,
        /// Let the guest's writes reach the DASD image files of the traces
        /// (committed when each channel program that wrote ends). Without
        /// it an image is never modified: writes go to an in-memory
        /// overlay.
        #[arg(long)]
        write_images: bool,
        /// Trace files (.zct).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// List the subchannels of a trace's machine in the layout of s390-tools'
    /// lscss.
    #[command(after_help = EXIT_CODES)]
    Lscss {
        /// Trace file (.zct).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Decode hex bytes as an architected structure and list its fields.
    #[command(after_help = EXIT_CODES)]
    Decode {
        /// The structure.
        #[arg(value_enum)]
        structure: Structure,
        /// The bytes in hex; several words are concatenated
        /// (`e4200008 00002000`).
        #[arg(required = true, value_name = "HEX")]
        hex: Vec<String>,
    },
    /// Create and list 3390 volume images (Hercules CKD and CCKD).
    #[command(subcommand, after_help = EXIT_CODES)]
    Dasd(dasd_cli::DasdCommand),
}

/// Events to stderr as `RUST_LOG` selects (`RUST_LOG=zcss_css=debug` for
/// every instruction with its operands and outcome, `zcss_virtio_ccw=debug`
/// for command rejects and refused notifications, `trace` for each CCW);
/// nothing without it.
fn init_tracing() {
    let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Replay {
            verbose,
            bless,
            quiet,
            write_images,
            files,
        } => cmd_replay(
            &files,
            &ReplayOptions {
                verbose,
                bless,
                write_images,
            },
            quiet,
        ),
        Command::Lscss { file } => cmd_lscss(&file),
        Command::Decode { structure, hex } => cmd_decode(structure, &hex),
        Command::Dasd(cmd) => dasd_cli::run(cmd),
    };
    ExitCode::from(code)
}

/// Reads and parses a trace; prints the error and returns the exit code on failure.
fn load(path: &Path) -> Result<zcss::trace::Trace, u8> {
    let data = std::fs::read(path).map_err(|e| {
        eprintln!("zcss: {}: {e}", path.display());
        EXIT_IO
    })?;
    parse_bytes(&data).map_err(|e| {
        eprintln!("{}:{}:{}: {}", path.display(), e.line, e.column, e.kind);
        EXIT_MALFORMED
    })
}

fn machine_error_code(e: &MachineError) -> u8 {
    if e.is_io() {
        EXIT_IO
    } else {
        EXIT_MALFORMED
    }
}

fn cmd_replay(files: &[PathBuf], opts: &ReplayOptions, quiet: bool) -> u8 {
    let (verbose, bless) = (opts.verbose, opts.bless);
    let start = Instant::now();
    let mut worst = EXIT_OK;
    let mut total = FileReport::default();
    let mut stdout = std::io::stdout().lock();
    let show_progress = !verbose && std::io::stderr().is_terminal();
    for path in files {
        let file_start = Instant::now();
        let trace = match load(path) {
            Ok(t) => t,
            Err(code) => {
                worst = worst.max(code);
                continue;
            }
        };
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let progress = show_progress.then(|| Progress::new(path, trace.lines.len()));
        let mut sink: Box<dyn Write> = if verbose {
            Box::new(std::io::stdout())
        } else {
            Box::new(std::io::sink())
        };
        let result = replay(&trace, base, opts, &mut *sink, &mut |line| {
            if let Some(p) = &progress {
                p.set(line);
            }
        });
        if let Some(p) = progress {
            p.finish();
        }
        let mut report = match result {
            Ok(r) => r,
            Err(ReplayError::Machine { line, error }) => {
                eprintln!("{}:{line}: {error}", path.display());
                worst = worst.max(machine_error_code(&error));
                continue;
            }
        };
        // The file's time includes reading and parsing it.
        report.elapsed = file_start.elapsed();
        for m in &report.mismatches {
            let _ = writeln!(stdout, "{}:{}: {}", path.display(), m.line, m.message);
        }
        if !quiet {
            let _ = writeln!(stdout, "{}: {}", path.display(), report.summary());
        }
        if !report.mismatches.is_empty() {
            worst = worst.max(EXIT_MISMATCH);
        }
        if bless {
            if let Some(t) = &report.blessed {
                if let Err(e) = std::fs::write(path, print(t)) {
                    eprintln!("zcss: {}: {e}", path.display());
                    worst = worst.max(EXIT_IO);
                } else if !quiet {
                    let _ = writeln!(stdout, "{}: blessed", path.display());
                }
            }
        }
        total.add(&report);
    }
    total.elapsed = start.elapsed();
    let verdict = if worst == EXIT_OK { "ok" } else { "FAILED" };
    let _ = writeln!(
        stdout,
        "total: {} file(s), {} — {verdict}",
        files.len(),
        total.summary()
    );
    worst
}

/// An indicatif progress bar on stderr, shown only once a replay has run
/// for a moment (short replays print nothing).
struct Progress {
    bar: indicatif::ProgressBar,
}

impl Progress {
    fn new(path: &Path, lines: usize) -> Self {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(u64::try_from(lines).unwrap_or(u64::MAX)),
            indicatif::ProgressDrawTarget::hidden(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} lines ({eta})") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(path.display().to_string());
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

fn cmd_lscss(path: &Path) -> u8 {
    let trace = match load(path) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    match Machine::from_trace(&trace, base) {
        Ok(m) => {
            print!("{}", m.lscss());
            EXIT_OK
        }
        Err((line, e)) => {
            eprintln!("{}:{line}: {e}", path.display());
            machine_error_code(&e)
        }
    }
}

fn cmd_decode(s: Structure, hex: &[String]) -> u8 {
    let bytes = match parse_hex(hex) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("zcss: {e}");
            return EXIT_USAGE;
        }
    };
    match decode_fields(s, &bytes) {
        Ok(fields) => {
            print!("{}", render_fields(s.name(), &fields, ""));
            EXIT_OK
        }
        Err(e) => {
            eprintln!("zcss: {e}");
            EXIT_USAGE
        }
    }
}
