//! SET INTERRUPTION CONTROLS (adapter-interruption-suppression facility):
//! GR R1 bits 48–63 select the mode for the ISC in GR R3 bits 34–36 (0 all
//! interruptions, 1 single interruption; any other value is an operand
//! exception). See `adapter` for the AIS state.

use crate::ctx::IoCtx;
use crate::error::ProgramCheck;
use crate::observer::Insn;
use crate::Css;

impl Css {
    /// SET INTERRUPTION CONTROLS.
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn sic(&self, ctx: &IoCtx<'_>, gr1: u64, gr3: u64) -> Result<(), ProgramCheck> {
        let _span =
            tracing::trace_span!("sic", gr1 = format_args!("{gr1:#x}"), gr3 = format_args!("{gr3:#x}")).entered();
        self.observed(Insn::Sic { gr1, gr3 }, ctx, |sh, ctx| {
            ctx.privileged()?;
            sh.adapters.sic(gr1, gr3).map_err(|_| ProgramCheck::Operand)
        })
    }

    /// Raises an adapter interruption on `isc` as a device would (subject to AIS).
    pub fn adapter_interrupt(&self, isc: u8) {
        self.sh.raise_adapter(isc & 7);
    }
}
