//! SET CHANNEL MONITOR (Principles of Operation, chapter 14, "SET CHANNEL
//! MONITOR"; chapter 17, "Channel-Subsystem Monitoring"). GR1 holds the
//! measurement-block key and the M and D bits (bits 36–61 must be zero), GR2
//! the origin of the format-0 measurement-block area (32-byte aligned when M
//! is one); an invalid operand is an operand exception. See `measurement`.

use crate::ctx::IoCtx;
use crate::error::ProgramCheck;
use crate::observer::Insn;
use crate::Css;

impl Css {
    /// SET CHANNEL MONITOR.
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn schm(&self, ctx: &IoCtx<'_>, gr1: u32, gr2: u64) -> Result<(), ProgramCheck> {
        let _span =
            tracing::trace_span!("schm", gr1 = format_args!("{gr1:#x}"), gr2 = format_args!("{gr2:#x}")).entered();
        self.observed(Insn::Schm { gr1, gr2 }, ctx, |sh, ctx| {
            ctx.privileged()?;
            sh.ext
                .measurement
                .monitor
                .schm(u64::from(gr1), gr2)
                .map_err(|_| ProgramCheck::Operand)
        })
    }
}
