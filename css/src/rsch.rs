//! RESUME SUBCHANNEL (Principles of Operation, chapter 14, "RESUME
//! SUBCHANNEL"; chapter 15, "Suspension of Channel-Program Execution").
//!
//! Priority: privileged operation, operand (GR1). Condition codes: 3 not
//! operational; 1 status pending; 2 unless the only function is start, the
//! subchannel is suspended with no resume pending, and the ORB of the start
//! asked for suspend control (S); 0 resume pending is set and the program
//! continues at the CCW it suspended at (refetched). The measurement block
//! counts it as a start.

use zcss_ccw::scsw::{ActivityControl, FunctionControl};

use crate::ctx::IoCtx;
use crate::device::PassthroughError;
use crate::error::{Cc, InsnResult};
use crate::observer::Insn;
use crate::Css;

impl Css {
    /// RESUME SUBCHANNEL.
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn rsch(&self, ctx: &IoCtx<'_>, gr1: u32) -> InsnResult {
        let _span = tracing::trace_span!("rsch", gr1).entered();
        self.observed(Insn::Rsch { gr1 }, ctx, |sh, ctx| {
            ctx.privileged()?;
            let Some((sch, mut st)) = sh.operational(gr1)? else {
                return Ok(Cc::Three);
            };
            if st.status_pending() {
                return Ok(Cc::One);
            }
            if st.fctl() != FunctionControl::START
                || st.actl() != ActivityControl::SUSP
                || !st.orb.ctrl.suspend()
                || st.running
            {
                return Ok(Cc::Two);
            }
            st.set_actl(ActivityControl::SUSP | ActivityControl::RESUME_PEND);
            match sh.run(sch, ctx.mem, st) {
                Ok(()) => Ok(Cc::Zero),
                Err(PassthroughError::Busy) => Ok(Cc::Two),
                Err(PassthroughError::NotOperational) => Ok(Cc::Three),
            }
        })
    }
}
