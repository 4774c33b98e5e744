//! The harness's oracles that need no device knowledge: the architected
//! consistency of a stored SCSW, and stores outside the allowed areas.

use std::ops::Range;

use zcss_ccw::generate::LaidOut;
use zcss_ccw::scsw::Scsw;

/// The first byte that differs between `a` and `b` outside `allowed`.
pub(super) fn first_stray(a: &[u8], b: &[u8], allowed: &[Range<u64>]) -> Option<u64> {
    if a == b {
        return None;
    }
    a.iter()
        .zip(b)
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, _)| u64::try_from(i).unwrap_or(u64::MAX))
        .find(|off| !allowed.iter().any(|r| r.contains(off)))
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
