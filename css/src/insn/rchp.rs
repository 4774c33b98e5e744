//! RESET CHANNEL PATH and SET ADDRESS LIMIT (Principles of Operation,
//! chapter 14).
//!
//! RCHP: GR1 bits 16–23 hold the CSSID (meaningful with MCSS-E; zero
//! otherwise, naming the default css image) and bits 24–31 the CHPID; the
//! other bits must be zero (operand exception), as must a CSSID the program
//! cannot name. Condition code 3 when the channel path is not installed;
//! otherwise 0, the path is reset, and a solicited channel-path report
//! (RSC 4, ERC 2 "initialized") is made pending — chained with the CSSID
//! when MCSS-E is enabled.
//!
//! SAL: GR1 bit 0 and bits 16–31 must be zero (operand exception); the
//! address limit is otherwise set, which only matters for channel programs
//! with address-limit checking; zcss accepts it and checks nothing more.

use crate::ctx::IoCtx;
use crate::error::{Cc, InsnResult, ProgramCheck};
use crate::interrupt::Wake;
use crate::observer::Insn;
use crate::Css;

impl Css {
    /// RESET CHANNEL PATH.
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn rchp(&self, ctx: &IoCtx<'_>, gr1: u32) -> InsnResult {
        let _span = tracing::trace_span!("rchp", gr1 = format_args!("{gr1:#x}")).entered();
        self.observed(Insn::Rchp { gr1 }, ctx, |sh, ctx| {
            ctx.privileged()?;
            if gr1 & 0xff00_ff00 != 0 {
                return Err(ProgramCheck::Operand);
            }
            let [_, cssid, _, chpid] = gr1.to_be_bytes();
            let mcss = sh.mcss();
            let cssid = if mcss {
                cssid
            } else if cssid == 0 {
                sh.cfg.default_cssid
            } else {
                return Err(ProgramCheck::Operand);
            };
            if cssid == 0xff {
                return Err(ProgramCheck::Operand);
            }
            if !sh.paths.lock().contains_key(&(cssid, chpid)) {
                return Ok(Cc::Three);
            }
            if sh.ext.channel_path_crw(cssid, chpid, mcss) {
                sh.wake(Wake::ChannelReport);
            }
            Ok(Cc::Zero)
        })
    }

    /// SET ADDRESS LIMIT.
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn sal(&self, ctx: &IoCtx<'_>, gr1: u32) -> Result<(), ProgramCheck> {
        let _span = tracing::trace_span!("sal", gr1 = format_args!("{gr1:#x}")).entered();
        self.observed(Insn::Sal { gr1 }, ctx, |_, ctx| {
            ctx.privileged()?;
            if gr1 & 0x8000_ffff != 0 {
                return Err(ProgramCheck::Operand);
            }
            Ok(())
        })
    }
}
