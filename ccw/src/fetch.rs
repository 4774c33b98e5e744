//! CCW fetching and the validity checks the channel subsystem applies to a
//! CCW when it becomes current (Principles of Operation, chapter 15,
//! "Channel-Command Word", "Transfer in Channel", "Data Chaining"; chapter
//! 16, "Program Check" and "Protection Check").
//!
//! Shared by the [`Engine`](crate::Engine) (command chaining, TIC) and the
//! [`DataStream`](crate::DataStream) (data chaining).

use crate::ccw::{Ccw, CcwFormat};
use crate::engine::{CheckCause, Limits};
use crate::idaw::{IdawFormat, MIDAW_LEN};
use crate::memory::{AccessError, AccessKey, GuestMemory};
use crate::orb::Orb;

/// The ORB-derived parameters of one start function.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    /// CCW format (ORB F).
    pub format: CcwFormat,
    /// Access key for every storage access (ORB key).
    pub key: AccessKey,
    /// IDAW format and block size (ORB H, T).
    pub idaw: IdawFormat,
    /// MIDAWs allowed (ORB D).
    pub midaw: bool,
    /// Suspension allowed (ORB S).
    pub suspend: bool,
    /// Incorrect-length-suppression mode (ORB L).
    pub ils: bool,
    /// Work bounds.
    pub limits: Limits,
}

impl Ctx {
    pub(crate) fn new(orb: &Orb, limits: Limits) -> Self {
        Self {
            format: orb.ccw_format(),
            key: AccessKey::new(orb.ctrl.key()),
            idaw: IdawFormat::from_orb(orb.ctrl.idaw_format2(), orb.ctrl.idaw_2k()),
            midaw: orb.ctrl.midaw(),
            suspend: orb.ctrl.suspend(),
            ils: orb.ctrl.ils(),
            limits,
        }
    }
}

/// Fetches the CCW at `addr` with the ORB key.
///
/// A CCW address that is not a multiple of 8 is a CCW-address specification
/// error; one whose doubleword lies beyond the format limit (2^24 for format
/// 0, 2^31 for format 1) or outside storage is an invalid CCW address; a
/// key mismatch is a protection check.
pub(crate) fn fetch_ccw(mem: &dyn GuestMemory, ctx: &Ctx, addr: u64) -> Result<Ccw, CheckCause> {
    if addr % 8 != 0 {
        return Err(CheckCause::CcwAddressSpecification);
    }
    if addr + 8 > ctx.format.address_limit() {
        return Err(CheckCause::InvalidCcwAddress);
    }
    let mut raw = [0u8; 8];
    match mem.read(addr, &mut raw, ctx.key) {
        Ok(()) => Ok(Ccw::decode(ctx.format, raw)),
        Err(AccessError::Addressing { .. }) => Err(CheckCause::InvalidCcwAddress),
        Err(AccessError::Protection { .. }) => Err(CheckCause::CcwProtection),
    }
}

/// Validates a TIC and returns its target address.
///
/// A format-1 TIC must have zero in bits 0–3 and 8–31 (flags and count are
/// reserved). Format-0 TICs ignore those fields. A format-1 target with bit 0
/// set lies beyond 2^31 and is reported when the target is fetched.
pub(crate) fn tic_target(ctx: &Ctx, tic: &Ccw) -> Result<u64, CheckCause> {
    if ctx.format == CcwFormat::Format1 && (tic.cmd & 0xf0 != 0 || tic.flags.into_bits() != 0 || tic.count != 0) {
        return Err(CheckCause::InvalidTic);
    }
    Ok(u64::from(tic.cda))
}

/// The checks every non-TIC CCW passes when it becomes current, apart from
/// the command code (checked only on command chaining) and the suspend flag
/// (handled by the caller).
///
/// * count zero: invalid in format 0; in format 1 invalid when the CCW
///   specifies data chaining or was itself reached by data chaining;
/// * MIDA without ORB D, or together with IDA or skip;
/// * format-1 data address (or IDAL/MIDAL address) with bit 0 set;
/// * IDAL address not a multiple of the IDAW size, MIDAL address not a
///   multiple of 16.
pub(crate) fn validate_ccw(ctx: &Ctx, ccw: &Ccw, data_chained: bool) -> Result<(), CheckCause> {
    let f = ccw.flags;
    if ccw.count == 0 && (ctx.format == CcwFormat::Format0 || f.cd() || data_chained) {
        return Err(CheckCause::InvalidCount);
    }
    if f.mida() && (!ctx.midaw || f.ida() || f.skip()) {
        return Err(CheckCause::InvalidFlags);
    }
    if ctx.format == CcwFormat::Format1 && ccw.cda & 0x8000_0000 != 0 {
        return Err(if f.ida() || f.mida() {
            CheckCause::InvalidIdawAddress
        } else {
            CheckCause::InvalidDataAddress
        });
    }
    if f.ida() && u64::from(ccw.cda) % ctx.idaw.idaw_len() != 0 {
        return Err(CheckCause::IdawAddressSpecification);
    }
    if f.mida() && u64::from(ccw.cda) % MIDAW_LEN != 0 {
        return Err(CheckCause::IdawAddressSpecification);
    }
    Ok(())
}
