//! CANCEL SUBCHANNEL (Principles of Operation, chapter 14, "CANCEL
//! SUBCHANNEL").
//!
//! Priority: privileged operation, operand (GR1). Condition codes: 3 not
//! operational; 1 status pending (any status-control bit); 2 unless the
//! only function is start and it is start pending, resume pending or
//! suspended without the subchannel or device being active; 0 the start
//! function is withdrawn: function and activity control are cleared and no
//! interruption is made.

use zcss_ccw::scsw::{ActivityControl, FunctionControl};
use zcss_ccw::ProgramEnd;

use crate::ctx::IoCtx;
use crate::error::{Cc, InsnResult};
use crate::observer::Insn;
use crate::slot::PtRequest;
use crate::Css;

impl Css {
    /// CANCEL SUBCHANNEL.
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn xsch(&self, ctx: &IoCtx<'_>, gr1: u32) -> InsnResult {
        let _span = tracing::trace_span!("xsch", gr1 = format_args!("{gr1:#x}")).entered();
        self.observed(Insn::Xsch { gr1 }, ctx, |sh, ctx| {
            ctx.privileged()?;
            let Some((sch, mut st)) = sh.operational(gr1)? else {
                return Ok(Cc::Three);
            };
            if st.stctl().into_bits() != 0 {
                return Ok(Cc::One);
            }
            let ac = st.actl();
            let cancelable = st.fctl() == FunctionControl::START
                && (ac.start_pending() || ac.resume_pending() || ac.suspended())
                && !ac.subchannel_active()
                && !ac.device_active()
                && !st.running;
            if !cancelable {
                return Ok(Cc::Two);
            }
            if st.is_passthrough() {
                // The host withdraws the function (or says why not).
                st = match sh.pt_request(sch, ctx.mem, st, PtRequest::Cancel) {
                    Ok((locked, _)) => locked,
                    Err(cc) => return Ok(cc),
                };
            }
            st.set_fctl(FunctionControl::new());
            st.set_actl(ActivityControl::new());
            drop(st);
            if ac.suspended() {
                sch.dev.lock().program_end(ProgramEnd::Terminated);
            }
            Ok(Cc::Zero)
        })
    }
}
