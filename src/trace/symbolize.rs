//! A trace in the symbolic forms: the `store` lines that hold the ORB, the
//! CCWs and the IDAWs of a START SUBCHANNEL rewritten as `orb`, `ccw0` /
//! `ccw1` and `idal1` / `idal2` statements, and subchannel-id operands as
//! bus ids. Each rewritten line stores exactly the bytes the `store` did,
//! so the trace means the same; the recorder writes this form with
//! [`Recorder::symbolic_text`](super::Recorder::symbolic_text).

use std::collections::HashMap;

use zcss_ccw::{Ccw, CcwFormat, Orb};

use super::ast::{HexBytes, Insn, Line, Num, SchAddr, Statement, Trace};
use super::symbolic::SymStmt;
use crate::machine::config::MachineConfig;

/// What a `store` line turns into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    Orb,
    Ccws(CcwFormat),
    Idal { format2: bool },
}

/// Most CCWs followed per program.
const MAX_CCWS: usize = 256;

/// The `store` lines so far, with the storage they describe.
#[derive(Default)]
struct Shadow {
    bytes: HashMap<u64, u8>,
    /// (line index, address, length) of each `store`, in order.
    stores: Vec<(usize, u64, usize)>,
}

impl Shadow {
    fn get(&self, addr: u64, n: usize) -> Option<Vec<u8>> {
        (0..n as u64)
            .map(|k| self.bytes.get(&addr.wrapping_add(k)).copied())
            .collect()
    }

    /// The last `store` line before now that wrote exactly `[addr, addr + len)`
    /// or a range that the whole of is `unit`-sized pieces starting at
    /// `addr`'s alignment.
    fn writer(&self, addr: u64) -> Option<(usize, u64, usize)> {
        self.stores
            .iter()
            .rev()
            .take(4096)
            .find(|(_, a, n)| (*a..a.saturating_add(*n as u64)).contains(&addr))
            .copied()
    }
}

/// The subchannel a GR1 word names without MCSS-E (M = 0), as a bus id.
fn bus_id(word: &Num, default_css: u8) -> Option<Num> {
    let w = u32::try_from(word.value).ok()?;
    let sid = zcss_ccw::sid::SubchannelId::from_word(w, default_css).ok()?;
    (w >> 19 & 1 == 0).then(|| {
        Num::bus_id(SchAddr {
            cssid: sid.cssid,
            ssid: sid.ssid,
            schno: sid.schno,
        })
    })
}

/// `trace` with the structures of its channel programs and its subchannel
/// operands written symbolically (see the module documentation).
#[must_use]
pub fn symbolize(trace: &Trace) -> Trace {
    let cfg = MachineConfig::from_trace(trace);
    let mut shadow = Shadow::default();
    let mut readings: HashMap<usize, Reading> = HashMap::new();
    let mut out = trace.clone();
    // Bus ids only while the words mean the default css: MCSS-E off, and
    // no CHSC (which may enable it) yet.
    let mut plain_words = !cfg.mcss;
    for (idx, line) in trace.lines.iter().enumerate() {
        match &line.stmt {
            Some(Statement::Store { addr, data }) => {
                for (k, b) in data.bytes.iter().enumerate() {
                    shadow.bytes.insert(addr.value.wrapping_add(k as u64), *b);
                }
                shadow.stores.push((idx, addr.value, data.bytes.len()));
            }
            Some(Statement::Insn(s)) => {
                if let Insn::Chsc { .. } = s.insn {
                    plain_words = false;
                }
                if let Insn::Ssch { orb, .. } = s.insn {
                    mark_program(&shadow, orb.value, &mut readings);
                }
                if plain_words {
                    if let Some(Statement::Insn(o)) = &mut out.lines[idx].stmt {
                        rewrite_operands(&mut o.insn, cfg.default_css);
                    }
                }
            }
            _ => {}
        }
    }
    // Rewrite the marked store lines, from the end so indices hold.
    let mut marked: Vec<(usize, Reading)> = readings.into_iter().collect();
    marked.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
    for (idx, reading) in marked {
        let Some(Statement::Store { addr, data }) = &trace.lines[idx].stmt else {
            continue;
        };
        let Some(new) = rewrite(addr.value, data, reading) else {
            continue;
        };
        let comment = trace.lines[idx].comment.clone();
        let mut lines: Vec<Line> = new.into_iter().map(|s| Line::stmt(Statement::Symbolic(s))).collect();
        if let Some(last) = lines.last_mut() {
            last.comment = comment;
        }
        out.lines.splice(idx..=idx, lines);
    }
    out
}

fn rewrite_operands(insn: &mut Insn, default_css: u8) {
    let gr = match insn {
        Insn::Ssch { gr1, .. }
        | Insn::Tsch { gr1, .. }
        | Insn::Stsch { gr1, .. }
        | Insn::Msch { gr1, .. }
        | Insn::Csch { gr1 }
        | Insn::Hsch { gr1 }
        | Insn::Xsch { gr1 }
        | Insn::Rsch { gr1 }
        | Insn::Ipl { gr1 } => gr1,
        Insn::Diag500 { gr2, .. } => gr2,
        _ => return,
    };
    if let Some(b) = bus_id(gr, default_css) {
        *gr = b;
    }
}

/// Marks the store lines that hold the ORB at `orb_addr`, the CCWs of its
/// program and their IDALs, as the shadow holds them now.
fn mark_program(shadow: &Shadow, orb_addr: u64, readings: &mut HashMap<usize, Reading>) {
    let Some(head) = shadow.get(orb_addr, 12) else { return };
    let Some(orb) = Orb::decode(&head) else { return };
    let orb_len = if orb.ctrl.extension() { 32 } else { 12 };
    let mut mark = |addr: u64, len: usize, unit: usize, r: Reading| {
        // A store line is rewritten only when the structure fills it
        // exactly (one ORB) or in whole units from its start (CCWs,
        // IDAWs), and nothing read it otherwise.
        if let Some((idx, a, n)) = shadow.writer(addr) {
            let fits = if r == Reading::Orb {
                a == addr && n == len
            } else {
                (addr - a) % unit as u64 == 0 && n % unit == 0
            };
            match readings.get(&idx) {
                Some(old) if *old != r => {
                    readings.remove(&idx);
                }
                _ if fits => {
                    readings.insert(idx, r);
                }
                _ => {}
            }
        }
    };
    mark(orb_addr, orb_len, orb_len, Reading::Orb);
    let format = orb.ccw_format();
    let idaw_len: usize = if orb.ctrl.idaw_format2() { 8 } else { 4 };
    let block: u64 = if orb.ctrl.idaw_format2() && !orb.ctrl.idaw_2k() {
        4096
    } else {
        2048
    };
    let mut at = u64::from(orb.cpa);
    let mut seen = Vec::new();
    while seen.len() < MAX_CCWS && at % 8 == 0 && !seen.contains(&at) {
        seen.push(at);
        let Some(raw) = shadow.get(at, 8).and_then(|v| <[u8; 8]>::try_from(v).ok()) else {
            return;
        };
        let ccw = Ccw::decode(format, raw);
        mark(at, 8, 8, Reading::Ccws(format));
        if ccw.is_tic() {
            at = u64::from(ccw.cda);
            continue;
        }
        if ccw.flags.ida() && !ccw.flags.mida() {
            let first = u64::from(ccw.cda);
            let mut covered = 0u64;
            let mut k = 0u64;
            while covered < u64::from(ccw.count.max(1)) && k < 64 {
                let a = first + k * idaw_len as u64;
                let Some(b) = shadow.get(a, idaw_len) else { break };
                let v = b.iter().fold(0u64, |x, y| x << 8 | u64::from(*y));
                mark(a, idaw_len, idaw_len, Reading::Idal { format2: idaw_len == 8 });
                covered += block - v % block;
                k += 1;
            }
        }
        if !(ccw.flags.cc() || ccw.flags.cd()) {
            return;
        }
        at += 8;
    }
}

/// The symbolic statements that store `data` at `addr` read as `r`; `None`
/// if the bytes do not divide into it.
fn rewrite(addr: u64, data: &HexBytes, r: Reading) -> Option<Vec<SymStmt>> {
    let b = &data.bytes;
    match r {
        Reading::Orb => {
            let orb = Orb::decode(b)?;
            let s = SymStmt::orb(addr, &orb);
            (s.bytes()? == *b).then(|| vec![s])
        }
        Reading::Ccws(format) => b
            .chunks(8)
            .enumerate()
            .map(|(k, c)| {
                let raw = <[u8; 8]>::try_from(c).ok()?;
                let s = SymStmt::ccw(format, addr + 8 * k as u64, &Ccw::decode(format, raw));
                (s.bytes()? == c).then_some(s)
            })
            .collect(),
        Reading::Idal { format2 } => {
            let n = if format2 { 8 } else { 4 };
            let idaws: Option<Vec<u64>> = b
                .chunks(n)
                .map(|c| (c.len() == n).then(|| c.iter().fold(0u64, |x, y| x << 8 | u64::from(*y))))
                .collect();
            let s = SymStmt::idal(format2, addr, &idaws?);
            (s.bytes()? == *b).then(|| vec![s])
        }
    }
}
