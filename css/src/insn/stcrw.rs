//! STORE CHANNEL REPORT WORD (Principles of Operation, chapter 14, "STORE
//! CHANNEL REPORT WORD"; chapter 17, "Channel Report").
//!
//! Priority: privileged operation, specification (operand not on a word
//! boundary), access. Condition code 0: the oldest pending CRW is stored and
//! removed; 1: none is pending, zeros are stored and the channel-report
//! machine check is re-armed. The store is checked before the CRW is
//! removed, so a failed store loses no report.

use crate::ctx::{aligned, IoCtx};
use crate::error::{Cc, InsnResult};
use crate::observer::Insn;
use crate::Css;

impl Css {
    /// STORE CHANNEL REPORT WORD at `addr`.
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn stcrw(&self, ctx: &IoCtx<'_>, addr: u64) -> InsnResult {
        let _span = tracing::trace_span!("stcrw", addr = format_args!("{addr:#x}")).entered();
        self.observed(Insn::Stcrw { addr }, ctx, |sh, ctx| {
            ctx.privileged()?;
            aligned(addr, 4)?;
            ctx.probe_store(addr, 4)?;
            let r = sh.ext.crw.lock().stcrw();
            ctx.store(addr, &r.crw().to_be_bytes())?;
            Ok(Cc::from_value(r.cc()))
        })
    }

    /// Takes the channel-report-pending machine-check condition: `true` once
    /// for each machine check generated (the embedder presents a machine-check
    /// interruption with channel report pending when CR14 allows it).
    pub fn take_crw_machine_check(&self) -> bool {
        self.sh.ext.crw.lock().take_machine_check_pending()
    }

    /// Number of pending channel-report words.
    #[must_use]
    pub fn pending_crws(&self) -> usize {
        self.sh.ext.crw.lock().len()
    }
}
