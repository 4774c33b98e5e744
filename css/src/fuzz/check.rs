//! The harness's oracles that need no device knowledge: the architected
//! consistency of a stored SCSW, and stores outside the allowed areas.

use std::ops::Range;

use zcss_ccw::generate::LaidOut;
use zcss_ccw::scsw::Scsw;

/// Bytes compared at once by [`first_stray`].
const CHUNK: usize = 64;

/// The first byte that differs between `a` and `b` outside `allowed`.
/// Compares 64-byte chunks and looks into a chunk only where it differs
/// and is not wholly allowed: a step changes a few places of storage.
pub(super) fn first_stray(a: &[u8], b: &[u8], allowed: &[Range<u64>]) -> Option<u64> {
    let off = |i: usize| u64::try_from(i).unwrap_or(u64::MAX);
    for (k, (x, y)) in a.chunks(CHUNK).zip(b.chunks(CHUNK)).enumerate() {
        if x == y {
            continue;
        }
        let base = k * CHUNK;
        let whole = off(base)..off(base + x.len());
        if allowed.iter().any(|r| r.start <= whole.start && whole.end <= r.end) {
            continue;
        }
        let stray = x
            .iter()
            .zip(y)
            .enumerate()
            .filter(|(_, (p, q))| p != q)
            .map(|(i, _)| off(base + i))
            .find(|o| !allowed.iter().any(|r| r.contains(o)));
        if stray.is_some() {
            return stray;
        }
    }
    None
}

/// The architected consistency of an SCSW TEST SUBCHANNEL stored with
/// condition code 0 (PoO "Subchannel-Status Word": function, activity and
/// status control; CCW address; count). `last` is the subchannel's last
/// start and whether it was well formed.
///
/// # Errors
/// The rule that broke.
pub fn check_scsw(scsw: &Scsw, last: Option<&(LaidOut, bool)>) -> Result<(), String> {
    let c = scsw.ctrl;
    let (f, a, s) = (c.fctl(), c.actl(), c.stctl());
    if !s.pending() {
        return Err(format!("TSCH cc 0 without status pending (stctl {})", s.names()));
    }
    let no_function = f.into_bits() == 0;
    if no_function && (s.primary() || s.secondary() || s.intermediate()) {
        return Err(format!("status control {} without a function", s.names()));
    }
    if no_function && !s.alert() {
        return Err("no function and no alert status".into());
    }
    if (a.suspended() || a.resume_pending()) && !f.start() {
        return Err(format!("activity {} without the start function", a.names()));
    }
    let checks = scsw.cstat.program_check()
        || scsw.cstat.protection_check()
        || scsw.cstat.chaining_check()
        || scsw.cstat.channel_control_check()
        || scsw.cstat.interface_control_check()
        || scsw.cstat.channel_data_check();
    let Some((laid, true)) = last else { return Ok(()) };
    let plain_end = f.start() && !f.halt() && !f.clear() && s.primary();
    if !plain_end || checks || scsw.dstat.busy() {
        return Ok(());
    }
    let cpa = u64::from(scsw.cpa);
    let Some(k) = laid.ccw_addrs.iter().position(|&x| x + 8 == cpa) else {
        return Err(format!(
            "CCW address {cpa:#x} is not after a CCW of the program ({:#x}..{:#x})",
            laid.ccw_addrs.first().copied().unwrap_or(0),
            laid.ccw_addrs.last().copied().unwrap_or(0) + 8
        ));
    };
    let ccw = laid
        .stores
        .iter()
        .rev()
        .find(|(x, b)| *x == laid.ccw_addrs[k] && b.len() == 8)
        .map(|(_, b)| b.clone())
        .unwrap_or_default();
    let count = if laid.orb.ctrl.format1() {
        ccw.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]]))
    } else {
        ccw.get(6..8).map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    match count {
        Some(n) if scsw.count > n => Err(format!(
            "residual count {} exceeds the count {n} of the CCW at {:#x}",
            scsw.count, laid.ccw_addrs[k]
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_stray_finds_the_first_change_outside_the_allowed_areas() {
        let a = vec![0u8; 1000];
        let mut b = a.clone();
        assert_eq!(first_stray(&a, &b, &[]), None);
        b[70] = 1; // inside an allowed area that covers its whole chunk
        b[130] = 1; // inside an allowed area covering part of its chunk
        assert_eq!(first_stray(&a, &b, &[64..128, 129..131]), None);
        b[999] = 2; // the last, short chunk
        assert_eq!(first_stray(&a, &b, &[64..128, 129..131]), Some(999));
        b[131] = 3;
        assert_eq!(first_stray(&a, &b, &[64..128, 129..131]), Some(131));
    }
}
