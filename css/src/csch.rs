//! CLEAR SUBCHANNEL (Principles of Operation, chapter 14, "CLEAR
//! SUBCHANNEL"; chapter 15, "Clear Function").
//!
//! Priority: privileged operation, operand (GR1). Condition codes: 3 not
//! operational, otherwise 0: any pending interruption request of the
//! subchannel is withdrawn, the function control becomes clear with clear
//! pending, and the clear function is performed — at once, or by the
//! thread running the subchannel's channel program, which stops it at the
//! next CCW boundary. The subchannel then becomes status pending.

use std::sync::atomic::Ordering;

use zcss_ccw::scsw::{ActivityControl, FunctionControl, StatusControl};

use crate::css::stop_code;
use crate::ctx::IoCtx;
use crate::device::PassthroughError;
use crate::error::{Cc, InsnResult};
use crate::observer::Insn;
use crate::subchannel::DevSlot;
use crate::Css;

impl Css {
    /// CLEAR SUBCHANNEL.
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn csch(&self, ctx: &IoCtx<'_>, gr1: u32) -> InsnResult {
        let _span = tracing::trace_span!("csch", gr1).entered();
        self.observed(Insn::Csch { gr1 }, ctx, |sh, ctx| {
            ctx.privileged()?;
            let Some((sch, mut st)) = sh.operational(gr1)? else {
                return Ok(Cc::Three);
            };
            if st.passthrough {
                // Overtake the program on the device (the host answers first).
                let token = st.pt_token;
                let generation = st.generation;
                drop(st);
                let r = match &mut *sch.dev.lock() {
                    DevSlot::Passthrough(dev) => dev.clear(token),
                    _ => Err(PassthroughError::NotOperational),
                };
                if r == Err(PassthroughError::NotOperational) {
                    return Ok(Cc::Three);
                }
                st = sch.state.lock();
                if st.generation != generation || !st.operational() {
                    return Ok(Cc::Three);
                }
                st.pt_token = 0;
            }
            sh.withdraw(sch.sid, &mut st);
            st.set_fctl(FunctionControl::CLEAR);
            st.set_actl(ActivityControl::CLEAR_PEND);
            st.set_stctl(StatusControl::new());
            sch.stop.store(stop_code(true), Ordering::Release);
            // The clear function cannot be refused.
            let _ = sh.kick(sch, ctx.mem, st);
            Ok(Cc::Zero)
        })
    }
}
