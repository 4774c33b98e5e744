//! TEST PENDING INTERRUPTION (Principles of Operation, chapter 14, "TEST
//! PENDING INTERRUPTION").
//!
//! Priority: privileged operation, specification (a non-zero operand address
//! not on a word boundary), access. Takes the highest-priority pending I/O
//! interruption enabled by the CR6 subclass mask (ISC 0 first; within an
//! ISC in the order [`crate::interrupt`] describes — FIFO for the requests
//! made on one thread; the adapter interruption of an ISC after its I/O
//! interruptions):
//! condition code 1 with the interruption code stored — the subchannel-id
//! word and interruption parameter (8 bytes) at a non-zero address, or the
//! 12-byte code with the interruption-identification word at the prefix area
//! (+0xb8) when the address is zero — or condition code 0 when none is
//! pending. The access is checked before the interruption is taken, so a
//! failed store loses nothing.

use zcss_ccw::intcode::InterruptionCode;
use zcss_ccw::memory::AccessKey;

use crate::ctx::{aligned, IoCtx};
use crate::error::{Cc, InsnResult, ProgramCheck};
use crate::observer::Insn;
use crate::Css;

impl Css {
    /// TEST PENDING INTERRUPTION; `isc_mask` is the CR6 subclass mask
    /// (0x80 = ISC 0 … 0x01 = ISC 7).
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn tpi(&self, ctx: &IoCtx<'_>, addr: u64, isc_mask: u8) -> InsnResult {
        let _span = tracing::trace_span!(
            "tpi",
            addr = format_args!("{addr:#x}"),
            isc_mask = format_args!("{isc_mask:#x}")
        )
        .entered();
        self.observed(Insn::Tpi { addr, isc_mask }, ctx, |sh, ctx| {
            ctx.privileged()?;
            let (target, len, key) = if addr == 0 {
                // The prefix area is addressed by real address: no key check.
                (
                    ctx.prefix.wrapping_add(InterruptionCode::LOWCORE_ADDR),
                    InterruptionCode::LOWCORE_LEN,
                    AccessKey::ZERO,
                )
            } else {
                aligned(addr, 4)?;
                (addr, InterruptionCode::TPI_LEN, ctx.key)
            };
            let probe = IoCtx { key, ..*ctx };
            probe.probe_store(target, len as u64)?;
            sh.poll_if_needed();
            let Some(code) = sh.take_interrupt(isc_mask) else {
                return Ok(Cc::Zero);
            };
            let bytes = code.to_lowcore_bytes();
            ctx.mem.write(target, &bytes[..len], key).map_err(ProgramCheck::from)?;
            Ok(Cc::One)
        })
    }
}
