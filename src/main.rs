//! The `zcss` command: replay channel-subsystem traces, list a trace's
//! machine like s390-tools' lscss, and decode architected structures.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};

/// The exit status a command ends with should its standard output be
/// closed under it (a reader like `head` went away): what it found so far.
pub(crate) static STATUS_SO_FAR: AtomicU8 = AtomicU8::new(EXIT_OK);

/// Ends the command after a failed write to standard output: quietly when
/// the reader went away (a closed pipe), with an error message and
/// [`EXIT_IO`] otherwise (a full disk).
fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(i32::from(STATUS_SO_FAR.load(Ordering::Relaxed)));
    }
    let _ = writeln!(std::io::stderr(), "zcss: cannot write to standard output: {e}");
    std::process::exit(i32::from(EXIT_IO));
}

/// Writes to standard output; a failed write ends the command
/// ([`stdout_failed`]), never a panic.
fn write_stdout(args: std::fmt::Arguments<'_>) {
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        stdout_failed(&e);
    }
}

/// `print!` that handles a closed pipe and a full disk.
macro_rules! out {
    ($($t:tt)*) => { $crate::write_stdout(format_args!($($t)*)) };
}

/// `println!` that handles a closed pipe and a full disk.
macro_rules! outln {
    () => { $crate::write_stdout(format_args!("\n")) };
    ($($t:tt)*) => { $crate::write_stdout(format_args!("{}\n", format_args!($($t)*))) };
}

/// Standard output as a [`Write`] for the replay's verbose listing, with
/// the same handling of failed writes.
pub(crate) struct StdoutSink;

impl Write for StdoutSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::io::stdout().lock().write(buf) {
            Ok(n) => Ok(n),
            Err(e) => stdout_failed(&e),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match std::io::stdout().lock().flush() {
            Ok(()) => Ok(()),
            Err(e) => stdout_failed(&e),
        }
    }
}

mod dasd_cli;
mod replay_cli;

use clap::{Parser, Subcommand};
use zcss::decode::{decode_fields, parse_hex, render_fields, Structure};
use zcss::machine::{Machine, MachineError};
use zcss::trace::parse_bytes;

/// Exit status: everything replayed as recorded.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status: at least one result or `expect` differed.
pub(crate) const EXIT_MISMATCH: u8 = 1;
/// Exit status: bad command line (clap uses 2 as well).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status: a malformed trace, or a machine this build cannot build.
pub(crate) const EXIT_MALFORMED: u8 = 3;
/// Exit status: a file could not be read or written.
pub(crate) const EXIT_IO: u8 = 4;

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
    Replay(replay_cli::ReplayArgs),
    /// List the subchannels of a trace's machine in the layout of s390-tools'
    /// lscss.
    #[command(after_help = EXIT_CODES)]
    Lscss {
        /// Replay each trace first and list the subchannels as it left
        /// them (the Use column shows which the guest enabled).
        #[arg(long)]
        after: bool,
        /// Trace files (.zct); with several, each listing is headed by its
        /// file's name.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
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
        Command::Replay(args) => replay_cli::run(&args),
        Command::Lscss { after, files } => {
            let mut worst = EXIT_OK;
            for (k, f) in files.iter().enumerate() {
                if files.len() > 1 {
                    outln!("{}{}:", if k == 0 { "" } else { "\n" }, f.display());
                }
                worst = worst.max(cmd_lscss(f, after));
                STATUS_SO_FAR.fetch_max(worst, Ordering::Relaxed);
            }
            worst
        }
        Command::Decode { structure, hex } => cmd_decode(structure, &hex),
        Command::Dasd(cmd) => dasd_cli::run(cmd),
    };
    STATUS_SO_FAR.fetch_max(code, Ordering::Relaxed);
    if let Err(e) = std::io::stdout().lock().flush() {
        stdout_failed(&e);
    }
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

pub(crate) fn machine_error_code(e: &MachineError) -> u8 {
    if e.is_io() {
        EXIT_IO
    } else {
        EXIT_MALFORMED
    }
}

fn cmd_lscss(path: &Path, after: bool) -> u8 {
    let trace = match load(path) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    for (line, w) in zcss::machine::MachineConfig::from_trace(&trace).warnings() {
        eprintln!("{}:{line}: warning: {w}", path.display());
    }
    let built = if after {
        zcss::trace::replay::replay_with_machine(
            &trace,
            base,
            &zcss::trace::replay::ReplayOptions::default(),
            &mut std::io::sink(),
            &mut |_| {},
        )
        .map(|(report, m)| {
            if !report.mismatches.is_empty() {
                eprintln!(
                    "{}: the replay found {} (see zcss replay)",
                    path.display(),
                    zcss::trace::replay::plural(report.mismatches.len() as u64, "mismatch")
                );
            }
            m
        })
        .map_err(|zcss::trace::replay::ReplayError::Machine { line, error }| (line, error))
    } else {
        Machine::from_trace(&trace, base)
    };
    match built {
        Ok(m) => {
            out!("{}", m.lscss());
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
            out!("{}", render_fields(s.name(), &fields, ""));
            EXIT_OK
        }
        Err(e) => {
            eprintln!("zcss: {e}");
            EXIT_USAGE
        }
    }
}
