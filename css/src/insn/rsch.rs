//! RESUME SUBCHANNEL (Principles of Operation, chapter 14, "RESUME
//! SUBCHANNEL"; chapter 15, "Suspension of Channel-Program Execution").
//!
//! Priority: privileged operation, operand (GR1). Condition codes: 3 not
//! operational; 1 status pending; 2 unless the only function is start, no
//! resume is pending already, and the ORB of the start asked for suspend
//! control (S); otherwise 0 and the subchannel becomes resume pending:
//! * a suspended program continues at the CCW it suspended at (refetched);
//!   the measurement block counts it as a start;
//! * a program still running (on another CPU's thread) does not honour the
//!   next suspend flag it meets — the resume-pending condition is consumed
//!   by that CCW instead.
//!
//! The second case is the PoO's reading and original Hercules' (channel.c
//! `resume_subchan` set resume pending whatever the activity, and the CCW
//! interpreter skipped a suspend when resume pending was already set);
//! QEMU (`css_do_rsch`) and Hercules since 2013 answer cc 2 unless the
//! subchannel is suspended. Linux never issues RSCH unless its copy of the
//! SCSW shows the subchannel suspended (cio `ccw_device_resume`), so only a
//! program that races its own suspension sees the difference.
//!
//! For a passthrough device RESUME is a request to the host (the vfio-ccw
//! uAPI has none: such devices answer busy, cc 2).

use std::sync::atomic::Ordering;

use zcss_ccw::scsw::{ActivityControl, FunctionControl};

use crate::ctx::IoCtx;
use crate::device::PassthroughError;
use crate::error::{Cc, InsnResult};
use crate::observer::Insn;
use crate::slot::PtRequest;
use crate::Css;

impl Css {
    /// RESUME SUBCHANNEL.
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn rsch(&self, ctx: &IoCtx<'_>, gr1: u32) -> InsnResult {
        let _span = tracing::trace_span!("rsch", gr1 = format_args!("{gr1:#x}")).entered();
        self.observed(Insn::Rsch { gr1 }, ctx, |sh, ctx| {
            ctx.privileged()?;
            let Some((sch, mut st)) = sh.operational(gr1)? else {
                return Ok(Cc::Three);
            };
            if st.status_pending() {
                return Ok(Cc::One);
            }
            let ac = st.actl();
            if st.fctl() != FunctionControl::START || !st.orb.ctrl.suspend() || ac.resume_pending() {
                return Ok(Cc::Two);
            }
            if ac == ActivityControl::SUSP && !st.running {
                st.set_actl(ActivityControl::SUSP | ActivityControl::RESUME_PEND);
                return match sh.run(sch, ctx.mem, st) {
                    Ok(()) => Ok(Cc::Zero),
                    Err(PassthroughError::StatusPending) => Ok(Cc::One),
                    Err(PassthroughError::Busy) => Ok(Cc::Two),
                    Err(PassthroughError::NotOperational | PassthroughError::HostFailure) => Ok(Cc::Three),
                };
            }
            // The program is still running: resume pending makes it pass
            // its next suspend flag.
            if st.is_passthrough() {
                st = match sh.pt_request(sch, ctx.mem, st, PtRequest::Resume) {
                    Ok((locked, _)) => locked,
                    Err(cc) => return Ok(cc),
                };
            } else {
                sch.resume.store(true, Ordering::Release);
            }
            let a = st.actl().with_resume_pending(true);
            st.set_actl(a);
            Ok(Cc::Zero)
        })
    }
}
