//! TEST SUBCHANNEL (Principles of Operation, chapter 14, "TEST
//! SUBCHANNEL"; chapter 16, "Interruption-Response Block").
//!
//! Priority: privileged operation, operand (GR1), specification (IRB address
//! not on a word boundary), access to the IRB. Condition codes: 0 the
//! subchannel was status pending (the IRB shows it and the status is
//! cleared, with any queued interruption request), 1 not status pending (the
//! IRB shows the current SCSW), 3 not operational (no device, not valid, not
//! enabled). The IRB is 64 bytes: extended-measurement-word mode cannot be
//! enabled, so no EMW is stored.

use zcss_ccw::esw::Esw;
use zcss_ccw::irb::Irb;

use crate::ctx::{aligned, IoCtx};
use crate::error::{Cc, InsnResult};
use crate::observer::Insn;
use crate::Css;

impl Css {
    /// TEST SUBCHANNEL: stores the IRB at `irb_addr`.
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn tsch(&self, ctx: &IoCtx<'_>, gr1: u32, irb_addr: u64) -> InsnResult {
        let _span = tracing::trace_span!(
            "tsch",
            gr1 = format_args!("{gr1:#x}"),
            irb_addr = format_args!("{irb_addr:#x}")
        )
        .entered();
        self.observed(Insn::Tsch { gr1, irb_addr }, ctx, |sh, ctx| {
            ctx.privileged()?;
            let sch = sh.lookup(gr1)?;
            aligned(irb_addr, 4)?;
            sh.poll_if_needed();
            let Some(sch) = sch else { return Ok(Cc::Three) };
            let mut st = sch.state.lock();
            if !st.operational() {
                return Ok(Cc::Three);
            }
            let pending = st.status_pending();
            let irb = Irb {
                scsw: st.scsw,
                esw: if pending { st.esw() } else { Esw::default() },
                ecw: if pending && st.scsw.ctrl.extended_control() {
                    st.ecw
                } else {
                    [0; 32]
                },
                emw: [0; 32],
            };
            ctx.store(irb_addr, &irb.encode()[..Irb::LEN_NO_EMW])?;
            if !pending {
                return Ok(Cc::One);
            }
            sh.withdraw(sch.sid, &mut st);
            st.clear_status();
            if st.is_passthrough() {
                // Status the host reported meanwhile can now be taken.
                let mask = sh.release_waiting(sch, &mut st);
                drop(st);
                sh.wake_iscs(mask);
            }
            Ok(Cc::Zero)
        })
    }
}
