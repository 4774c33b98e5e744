//! The trace printer.
//!
//! A trace is *canonical* when it is written the way this printer writes it:
//! no blank at the start or end of a line, tokens separated by one space, one
//! space between a statement and its comment, lowercase hex digits and `0x`,
//! decimal numbers without leading zeros, subchannels as
//! `<cssid>.<ssid>.<schno>` with a four-digit `schno` and no leading zeros
//! elsewhere, `devno=` with four digits, and every line ending in `\n` (no CR).
//! Numbers keep the radix and digit count they were written with, and hex-byte
//! operands keep their tokens, so `print(parse(t)) == t` for every canonical
//! trace `t`; comments are kept verbatim.

use std::fmt::{self, Write as _};

use super::ast::{Insn, InsnStmt, Line, MachineKey, Pattern, Statement, Trace};

fn write_groups(
    f: &mut fmt::Formatter<'_>,
    groups: &[u32],
    mut byte: impl FnMut(&mut fmt::Formatter<'_>, usize) -> fmt::Result,
) -> fmt::Result {
    let mut k = 0usize;
    for g in groups {
        f.write_char(' ')?;
        for _ in 0..*g {
            byte(f, k)?;
            k += 1;
        }
    }
    Ok(())
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

impl fmt::Display for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mnemonic())?;
        match self {
            Self::Ssch { gr1, orb: a }
            | Self::Tsch { gr1, irb: a }
            | Self::Stsch { gr1, schib: a }
            | Self::Msch { gr1, schib: a }
            | Self::Schm { gr1, gr2: a }
            | Self::Sic { gr1, gr3: a } => write!(f, " {gr1} {a}"),
            Self::Csch { gr1 }
            | Self::Hsch { gr1 }
            | Self::Xsch { gr1 }
            | Self::Rsch { gr1 }
            | Self::Ipl { gr1 }
            | Self::Rchp { gr1 }
            | Self::Sal { gr1 }
            | Self::Stcrw { addr: gr1 }
            | Self::Chsc { addr: gr1 } => write!(f, " {gr1}"),
            Self::Tpi { addr, isc_mask } => {
                write!(f, " {addr}")?;
                match isc_mask {
                    Some(m) => write!(f, " isc-mask={m}"),
                    None => Ok(()),
                }
            }
            Self::Diag500 { gr1, gr2, gr3, gr4 } => write!(f, " {gr1} {gr2} {gr3} {gr4}"),
        }
    }
}

impl fmt::Display for InsnStmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.insn)?;
        match self.outcome {
            Some(o) => write!(f, " => {o}"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Pattern {
    /// The tokens, each preceded by a space.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_groups(f, &self.groups, |f, k| match self.bytes.get(k) {
            Some(Some(b)) => write!(f, "{b:02x}"),
            Some(None) => f.write_str(".."),
            None => Ok(()),
        })
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header(v) => write!(f, "zcss-trace {v}"),
            Self::Machine(keys) => {
                f.write_str("machine")?;
                for k in keys {
                    match k {
                        MachineKey::Memory(n) => write!(f, " memory={n}")?,
                        MachineKey::Mcss(b) => write!(f, " mcss={}", on_off(*b))?,
                        MachineKey::Mss(b) => write!(f, " mss={}", on_off(*b))?,
                        MachineKey::DefaultCss(n) => write!(f, " default-css={n}")?,
                        MachineKey::MapCss(b) => write!(f, " map-css={}", on_off(*b))?,
                        MachineKey::CcwLoopLimit(n) => write!(f, " ccw-loop-limit={n}")?,
                        MachineKey::CcwLimit(n) => write!(f, " ccw-limit={n}")?,
                        MachineKey::StorageKeys(b) => write!(f, " storage-keys={}", on_off(*b))?,
                    }
                }
                Ok(())
            }
            Self::Device(d) => {
                write!(f, "device {} devno={:04x} {}", d.sch, d.devno, d.kind.name())?;
                for p in &d.params {
                    write!(f, " {}={}", p.key, p.value)?;
                }
                Ok(())
            }
            Self::Store { addr, data } => {
                write!(f, "store {addr}")?;
                write_groups(f, &data.groups, |f, k| match data.bytes.get(k) {
                    Some(b) => write!(f, "{b:02x}"),
                    None => Ok(()),
                })
            }
            Self::Expect { addr, data } => write!(f, "expect {addr}{data}"),
            Self::Insn(i) => write!(f, "{i}"),
            Self::Wait => f.write_str("wait"),
            Self::Symbolic(s) => write!(f, "{s}"),
            Self::Detach(sch) => write!(f, "detach {sch}"),
            Self::Reset => f.write_str("reset"),
            Self::Skey { addr, key } => write!(f, "skey {addr} {key}"),
            Self::Unsolicited { sch, dstat, sense } => {
                write!(f, "unsolicited {sch} {dstat}")?;
                if let Some(s) = sense {
                    f.write_str(" sense=")?;
                    for b in &s.bytes {
                        write!(f, "{b:02x}")?;
                    }
                }
                Ok(())
            }
            Self::ConsoleInput { sch, data } => {
                write!(f, "console-input {sch}")?;
                write_groups(f, &data.groups, |f, k| match data.bytes.get(k) {
                    Some(b) => write!(f, "{b:02x}"),
                    None => Ok(()),
                })
            }
        }
    }
}

impl fmt::Display for Line {
    /// The line without its newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.stmt, &self.comment) {
            (Some(s), Some(c)) => write!(f, "{s} {c}"),
            (Some(s), None) => write!(f, "{s}"),
            (None, Some(c)) => f.write_str(c),
            (None, None) => Ok(()),
        }
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            writeln!(f, "{l}")?;
        }
        Ok(())
    }
}

/// The canonical text of `trace`.
#[must_use]
pub fn print(trace: &Trace) -> String {
    trace.to_string()
}
