//! START SUBCHANNEL (Principles of Operation, chapter 14, "START
//! SUBCHANNEL"; chapter 15, "Start Function").
//!
//! Priority: privileged operation, specification (ORB address not on a word
//! boundary), operand (GR1), access to the ORB, operand (invalid ORB), then
//! the condition code: 3 not operational (no device, not valid, not
//! enabled), 1 status pending, 2 a function in progress, 0 the start
//! function is initiated. Emulated devices run the whole channel program
//! before the instruction returns. A passthrough device's answer is the
//! condition code; a refused start leaves the subchannel as it was.

use zcss_ccw::orb::Orb;

use crate::ctx::{aligned, IoCtx};
use crate::device::PassthroughError;
use crate::error::{Cc, InsnResult, ProgramCheck};
use crate::observer::Insn;
use crate::Css;

impl Css {
    /// START SUBCHANNEL: GR1 holds the subchannel-identification word,
    /// `orb_addr` is the second-operand address of the ORB.
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn ssch(&self, ctx: &IoCtx<'_>, gr1: u32, orb_addr: u64) -> InsnResult {
        let _span = tracing::trace_span!(
            "ssch",
            gr1 = format_args!("{gr1:#x}"),
            orb_addr = format_args!("{orb_addr:#x}")
        )
        .entered();
        self.observed(Insn::Ssch { gr1, orb_addr }, ctx, |sh, ctx| {
            ctx.privileged()?;
            aligned(orb_addr, 4)?;
            let sch = sh.lookup(gr1)?;
            let mut raw = [0u8; Orb::EXTENDED_LEN];
            ctx.fetch(orb_addr, &mut raw[..Orb::BASIC_LEN])?;
            if raw[7] & 1 != 0 {
                ctx.fetch(orb_addr + 12, &mut raw[Orb::BASIC_LEN..])?;
            }
            let orb = Orb::decode(&raw).ok_or(ProgramCheck::Operand)?;
            orb.validate().map_err(|_| ProgramCheck::Operand)?;
            if let Some(sch) = sch.filter(|_| sh.has_pt.load(std::sync::atomic::Ordering::Acquire)) {
                // A passthrough device may refuse an ORB its host cannot
                // run (an operand exception, like an invalid ORB).
                sch.dev.lock().check_orb(&orb)?;
            }
            sh.poll_if_needed();
            let Some(sch) = sch else { return Ok(Cc::Three) };
            let mut st = sch.state.lock();
            if !st.operational() {
                return Ok(Cc::Three);
            }
            if st.status_pending() {
                return Ok(Cc::One);
            }
            if st.fctl().into_bits() != 0 || st.running {
                return Ok(Cc::Two);
            }
            let before = (st.scsw, st.pmcw.intparm, st.pmcw.lpm, st.pmcw.lpum, st.generation);
            st.begin_start(&orb);
            let cc = match sh.run(sch, ctx.mem, st) {
                // A host failure has become a unit-exception interruption.
                Ok(()) | Err(PassthroughError::HostFailure) => return Ok(Cc::Zero),
                Err(PassthroughError::StatusPending) => Cc::One,
                Err(PassthroughError::Busy) => Cc::Two,
                Err(PassthroughError::NotOperational) => Cc::Three,
            };
            // A passthrough device refused the program: the subchannel is
            // left exactly as before the instruction.
            let mut st = sch.state.lock();
            if st.generation == before.4 && st.fctl().into_bits() == 0 && !st.running {
                st.scsw = before.0;
                st.pmcw.intparm = before.1;
                st.pmcw.lpm = before.2;
                st.pmcw.lpum = before.3;
            }
            Ok(cc)
        })
    }
}
