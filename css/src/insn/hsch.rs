//! HALT SUBCHANNEL (Principles of Operation, chapter 14, "HALT
//! SUBCHANNEL"; chapter 15, "Halt Function").
//!
//! Priority: privileged operation, operand (GR1). Condition codes: 3 not
//! operational; 1 status pending with anything but intermediate status
//! alone (primary, secondary or alert status, or status pending alone); 2 a
//! halt or clear function is already in progress; 0 the halt function is
//! initiated. A pending intermediate status is withdrawn. The start
//! function stays indicated in the function control next to halt (PoO:
//! HSCH adds the halt function; QEMU drops the start bit — zcss keeps it).
//!
//! For a passthrough device the halt is a request to the host subchannel:
//! its condition code is the instruction's, and the halt status arrives
//! later as the host reports it.

use std::sync::atomic::Ordering;

use zcss_ccw::scsw::StatusControl;

use crate::css::stop_code;
use crate::ctx::IoCtx;
use crate::error::{Cc, InsnResult};
use crate::observer::Insn;
use crate::slot::PtRequest;
use crate::Css;

impl Css {
    /// HALT SUBCHANNEL.
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn hsch(&self, ctx: &IoCtx<'_>, gr1: u32) -> InsnResult {
        let _span = tracing::trace_span!("hsch", gr1 = format_args!("{gr1:#x}")).entered();
        self.observed(Insn::Hsch { gr1 }, ctx, |sh, ctx| {
            ctx.privileged()?;
            let Some((sch, mut st)) = sh.operational(gr1)? else {
                return Ok(Cc::Three);
            };
            let sc = st.stctl();
            if sc.pending() && (sc.primary() || sc.secondary() || sc.alert() || sc == StatusControl::PEND) {
                return Ok(Cc::One);
            }
            let f = st.fctl();
            if f.halt() || f.clear() {
                return Ok(Cc::Two);
            }
            let passthrough = st.is_passthrough();
            if passthrough {
                let (locked, token) = match sh.pt_request(sch, ctx.mem, st, PtRequest::Halt) {
                    Ok(accepted) => accepted,
                    Err(cc) => return Ok(cc),
                };
                st = locked;
                if let Some(pt) = st.pt.as_mut() {
                    pt.token = token;
                }
            }
            if st.stctl().pending() {
                // Intermediate status alone: withdrawn by the halt.
                sh.withdraw(sch.sid, &mut st);
                st.set_stctl(StatusControl::new());
            }
            let f = st.fctl().with_halt(true);
            st.set_fctl(f);
            let a = st.actl().with_halt_pending(true);
            st.set_actl(a);
            if passthrough {
                // The host performs the halt and reports its status.
                return Ok(Cc::Zero);
            }
            sch.stop.store(stop_code(false), Ordering::Release);
            let _ = sh.kick(sch, ctx.mem, st);
            Ok(Cc::Zero)
        })
    }
}
