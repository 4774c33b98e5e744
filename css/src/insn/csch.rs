//! CLEAR SUBCHANNEL (Principles of Operation, chapter 14, "CLEAR
//! SUBCHANNEL"; chapter 15, "Clear Function").
//!
//! Priority: privileged operation, operand (GR1). Condition codes: 3 not
//! operational, otherwise 0: any pending interruption request of the
//! subchannel is withdrawn, the function control becomes clear with clear
//! pending, and the clear function is performed — at once, or by the
//! thread running the subchannel's channel program, which stops it at the
//! next CCW boundary. The subchannel then becomes status pending.
//!
//! For a passthrough device the clear is a request to the host subchannel:
//! its condition code is the instruction's; the clear status arrives later
//! as the host reports it, and nothing the host reports for the cleared
//! program reaches the guest any more.

use std::sync::atomic::Ordering;

use zcss_ccw::scsw::{ActivityControl, FunctionControl, StatusControl};

use crate::css::stop_code;
use crate::ctx::IoCtx;
use crate::error::{Cc, InsnResult};
use crate::observer::Insn;
use crate::slot::PtRequest;
use crate::Css;

impl Css {
    /// CLEAR SUBCHANNEL.
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn csch(&self, ctx: &IoCtx<'_>, gr1: u32) -> InsnResult {
        let _span = tracing::trace_span!("csch", gr1 = format_args!("{gr1:#x}")).entered();
        self.observed(Insn::Csch { gr1 }, ctx, |sh, ctx| {
            ctx.privileged()?;
            let Some((sch, mut st)) = sh.operational(gr1)? else {
                return Ok(Cc::Three);
            };
            let passthrough = st.is_passthrough();
            if passthrough {
                let (locked, token) = match sh.pt_request(sch, ctx.mem, st, PtRequest::Clear) {
                    Ok(accepted) => accepted,
                    Err(cc) => return Ok(cc),
                };
                st = locked;
                if let Some(pt) = st.pt.as_mut() {
                    pt.token = token;
                    pt.esw = None;
                    pt.drop_waiting();
                }
            }
            sh.withdraw(sch.sid, &mut st);
            st.set_fctl(FunctionControl::CLEAR);
            st.set_actl(ActivityControl::CLEAR_PEND);
            st.set_stctl(StatusControl::new());
            if passthrough {
                // The host performs the clear and reports its status.
                return Ok(Cc::Zero);
            }
            sch.stop.store(stop_code(true), Ordering::Release);
            // The clear function cannot be refused.
            let _ = sh.kick(sch, ctx.mem, st);
            Ok(Cc::Zero)
        })
    }
}
