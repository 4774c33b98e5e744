//! What a scenario step does, one trace statement per action: the harness
//! runs the actions and prints them, so a finding's trace is what ran
//! (`docs/trace-format.md`).

use std::fmt::Write as _;
use std::ops::Range;

use super::{Scenario, STORAGE};

/// One action of a step: a guest store, a storage key, an instruction, or
/// a host event. Subchannels are indices into the scenario's subchannels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A trace comment.
    Comment(String),
    /// `store`: the guest puts bytes into storage.
    Store(u64, Vec<u8>),
    /// `skey`: the storage key of the 4K frame holding the address.
    Skey(u64, u8),
    /// START SUBCHANNEL (GR1, ORB address).
    Ssch(u32, u64),
    /// TEST SUBCHANNEL (GR1, IRB address).
    Tsch(u32, u64),
    /// STORE SUBCHANNEL (GR1, SCHIB address).
    Stsch(u32, u64),
    /// MODIFY SUBCHANNEL (GR1, SCHIB address).
    Msch(u32, u64),
    /// HALT SUBCHANNEL.
    Hsch(u32),
    /// CLEAR SUBCHANNEL.
    Csch(u32),
    /// CANCEL SUBCHANNEL.
    Xsch(u32),
    /// RESUME SUBCHANNEL.
    Rsch(u32),
    /// TEST PENDING INTERRUPTION (address, CR6 ISC mask).
    Tpi(u64, u8),
    /// STORE CHANNEL REPORT WORD.
    Stcrw(u64),
    /// CHANNEL SUBSYSTEM CALL (request-block address).
    Chsc(u64),
    /// SET CHANNEL MONITOR (GR1, GR2).
    Schm(u32, u64),
    /// RESET CHANNEL PATH.
    Rchp(u32),
    /// SET ADDRESS LIMIT.
    Sal(u32),
    /// SET INTERRUPTION CONTROLS (GR1, GR3).
    Sic(u64, u64),
    /// DIAGNOSE 0x500 (GR1 subcode, GR2, GR3, GR4).
    Diag500(u64, u64, u64, u64),
    /// The device presents unsolicited status.
    Unsolicited(usize, u8),
    /// The host unplugs the device.
    Detach(usize),
    /// The host plugs a new device (the harness's `make`) in.
    Attach(usize),
    /// The I/O-system reset.
    Reset,
    /// Input typed on the host for the device (a console).
    Input(usize, Vec<u8>),
}

/// Bytes of an IRB (SCSW, ESW, ECW, EMW).
const IRB_LEN: u64 = 96;
/// Bytes of a SCHIB.
const SCHIB_LEN: u64 = 52;

impl Action {
    /// The guest storage the instruction itself may store into (its
    /// operand), clipped to storage; empty for the others.
    #[must_use]
    pub fn operand_area(&self) -> Range<u64> {
        let (at, len) = match *self {
            Self::Tsch(_, a) => (a, IRB_LEN),
            Self::Stsch(_, a) => (a, SCHIB_LEN),
            // Address 0: the 12-byte form in the prefix area.
            Self::Tpi(0, _) => (0xb8, 12),
            Self::Tpi(a, _) => (a, 8),
            Self::Stcrw(a) => (a, 4),
            // The response follows the request in the same 4K page.
            Self::Chsc(a) => (a & !0xfff, 0x1000),
            _ => (0, 0),
        };
        at.min(STORAGE)..at.saturating_add(len).min(STORAGE)
    }

    /// The action as a trace line (`docs/trace-format.md`); `device(i)` is
    /// the device kind and keys of subchannel `i` (for an `Attach`: a
    /// `device` line after the first instruction is a hot plug), `timing`
    /// whether the machine has the timing facility on its devices.
    pub fn write_trace(&self, out: &mut String, device: &dyn Fn(usize) -> String, timing: bool) {
        let sch = |i: usize| Scenario::<zcss_ccw::generate::StartDesc>::sid(i);
        // The harness leaves these out for a passthrough device (its
        // status comes from its host; it is not hot plugged).
        let kind = match self {
            Self::Unsolicited(i, _) | Self::Attach(i) | Self::Input(i, _) => device(*i),
            _ => String::new(),
        };
        let passthrough = is_passthrough(&kind);
        let _ = match self {
            Self::Comment(c) => writeln!(out, "# {c}"),
            Self::Unsolicited(i, s) if passthrough => {
                writeln!(
                    out,
                    "# unsolicited {} {s:#04x}: left out for a passthrough device",
                    sch(*i)
                )
            }
            Self::Attach(i) if passthrough => {
                writeln!(out, "# hot plug {}: left out for a passthrough device", sch(*i))
            }
            Self::Store(a, b) => writeln!(out, "store {a:#010x} {}", hex(b)),
            Self::Skey(a, k) => writeln!(out, "skey {a:#010x} {k:#04x}"),
            Self::Ssch(g, a) => writeln!(out, "ssch {g:#010x} {a:#010x}"),
            Self::Tsch(g, a) => writeln!(out, "tsch {g:#010x} {a:#010x}"),
            Self::Stsch(g, a) => writeln!(out, "stsch {g:#010x} {a:#010x}"),
            Self::Msch(g, a) => writeln!(out, "msch {g:#010x} {a:#010x}"),
            Self::Hsch(g) => writeln!(out, "hsch {g:#010x}"),
            Self::Csch(g) => writeln!(out, "csch {g:#010x}"),
            Self::Xsch(g) => writeln!(out, "xsch {g:#010x}"),
            Self::Rsch(g) => writeln!(out, "rsch {g:#010x}"),
            Self::Tpi(a, 0xff) => writeln!(out, "tpi {a:#010x}"),
            Self::Tpi(a, m) => writeln!(out, "tpi {a:#010x} isc-mask={m:#04x}"),
            Self::Stcrw(a) => writeln!(out, "stcrw {a:#010x}"),
            Self::Chsc(a) => writeln!(out, "chsc {a:#010x}"),
            Self::Schm(g1, g2) => writeln!(out, "schm {g1:#010x} {g2:#x}"),
            Self::Rchp(g) => writeln!(out, "rchp {g:#010x}"),
            Self::Sal(g) => writeln!(out, "sal {g:#010x}"),
            Self::Sic(g1, g3) => writeln!(out, "sic {g1:#x} {g3:#x}"),
            Self::Diag500(g1, g2, g3, g4) => writeln!(out, "diag500 {g1:#x} {g2:#x} {g3:#x} {g4:#x}"),
            Self::Unsolicited(i, s) => writeln!(out, "unsolicited {} {s:#04x}", sch(*i)),
            Self::Detach(i) => writeln!(out, "detach {}", sch(*i)),
            Self::Attach(i) => {
                write_device(out, *i, &kind, timing);
                Ok(())
            }
            Self::Reset => writeln!(out, "reset"),
            // The format has console input for consoles only; to another
            // device it does nothing (Css::device_input refuses it).
            Self::Input(i, b) if b.is_empty() || !kind.starts_with("virtio-console") => {
                writeln!(out, "# console input to {}: {}", sch(*i), hex(b))
            }
            Self::Input(i, b) => writeln!(out, "console-input {} {}", sch(*i), hex(b)),
        };
    }
}

/// Whether a trace device kind is a passthrough kind.
pub(super) fn is_passthrough(kind: &str) -> bool {
    kind.starts_with("vfio-")
}

/// The `device` line of subchannel `i`: kind and keys `device`, with
/// `timing=on` when the machine has the timing facility.
pub(super) fn write_device(out: &mut String, i: usize, device: &str, timing: bool) {
    let _ = writeln!(
        out,
        "device {} devno={i:04x} {device}{}",
        Scenario::<zcss_ccw::generate::StartDesc>::sid(i),
        // The timing facility is the css's for its own channel programs;
        // a passthrough subchannel's programs run on the host's.
        if timing && !is_passthrough(device) {
            " timing=on"
        } else {
            ""
        }
    );
}

/// Bytes as trace hex: groups of four bytes.
pub(super) fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (k, chunk) in b.chunks(4).enumerate() {
        if k > 0 {
            s.push(' ');
        }
        for x in chunk {
            let _ = write!(s, "{x:02x}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operand_area_of_tpi_zero_is_the_prefix_area_form() {
        assert_eq!(Action::Tpi(0, 0xff).operand_area(), 0xb8..0xc4);
        assert_eq!(Action::Tsch(1, 0x200).operand_area(), 0x200..0x260);
        assert_eq!(Action::Stcrw(STORAGE + 8).operand_area(), STORAGE..STORAGE);
        assert_eq!(Action::Chsc(0x1010).operand_area(), 0x1000..0x2000);
        assert!(Action::Hsch(1).operand_area().is_empty());
    }

    #[test]
    fn write_trace_prints_host_events_as_statements() {
        let mut t = String::new();
        Action::Unsolicited(2, 0x0c).write_trace(&mut t, &|_| "mock".into(), false);
        Action::Skey(0x11000, 0x38).write_trace(&mut t, &|_| "mock".into(), false);
        Action::Attach(1).write_trace(&mut t, &|_| "mock".into(), true);
        Action::Input(0, vec![0x68, 0x69]).write_trace(&mut t, &|_| "virtio-console".into(), false);
        Action::Unsolicited(1, 0x80).write_trace(&mut t, &|_| "vfio-dasd host=0.0.0001".into(), false);
        Action::Attach(1).write_trace(&mut t, &|_| "vfio-dasd host=0.0.0001".into(), false);
        assert_eq!(
            t,
            "unsolicited fe.0.0002 0x0c\nskey 0x00011000 0x38\ndevice fe.0.0001 devno=0001 mock timing=on\nconsole-input fe.0.0000 6869\n\
             # unsolicited fe.0.0001 0x80: left out for a passthrough device\n\
             # hot plug fe.0.0001: left out for a passthrough device\n"
        );
    }
}
