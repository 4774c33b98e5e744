//! Dispatch of a decoded intercepted instruction ([`IoInstruction`], from
//! `intercept`) to the [`Css`] method of the same name, plus DIAGNOSE
//! 0x500 (the virtio-ccw hypercall) and the instructions a virtual channel
//! subsystem treats as no-ops.

use zcss_ccw::sid::SubchannelId;

use crate::ctx::IoCtx;
use crate::error::{Cc, ProgramCheck};
use crate::intercept::IoInstruction;
use crate::observer::Outcome;
use crate::subchannel::DevSlot;
use crate::Css;

/// `-EINVAL`, what DIAG 0x500 notify returns in GR2 for a bad subchannel.
pub const DIAG500_EINVAL: i64 = -22;

/// The register image of a signed result (two's complement).
#[must_use]
pub const fn gr_bits(v: i64) -> u64 {
    u64::from_ne_bytes(v.to_ne_bytes())
}

/// What the embedder does after [`Css::execute`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Executed {
    /// Set this condition code, complete without one, or present this
    /// program interruption.
    pub outcome: Outcome,
    /// DIAGNOSE 0x500: the new contents of GR2.
    pub gr2: Option<u64>,
}

impl From<Result<Cc, ProgramCheck>> for Executed {
    fn from(r: Result<Cc, ProgramCheck>) -> Self {
        Self {
            outcome: r.into(),
            gr2: None,
        }
    }
}

impl From<Result<(), ProgramCheck>> for Executed {
    fn from(r: Result<(), ProgramCheck>) -> Self {
        Self {
            outcome: r.into(),
            gr2: None,
        }
    }
}

impl Css {
    /// Executes a decoded I/O instruction. `isc_mask` is the CPU's CR6
    /// I/O-interruption subclass mask (bits 32–39), which TPI needs.
    pub fn execute(&self, ctx: &IoCtx<'_>, insn: &IoInstruction, isc_mask: u8) -> Executed {
        match *insn {
            IoInstruction::Csch { sid_word } => self.csch(ctx, sid_word).into(),
            IoInstruction::Hsch { sid_word } => self.hsch(ctx, sid_word).into(),
            IoInstruction::Msch { sid_word, schib_addr } => self.msch(ctx, sid_word, schib_addr).into(),
            IoInstruction::Ssch { sid_word, orb_addr } => self.ssch(ctx, sid_word, orb_addr).into(),
            IoInstruction::Stsch { sid_word, schib_addr } => self.stsch(ctx, sid_word, schib_addr).into(),
            IoInstruction::Tsch { sid_word, irb_addr } => self.tsch(ctx, sid_word, irb_addr).into(),
            IoInstruction::Tpi { intcode_addr } => self.tpi(ctx, intcode_addr, isc_mask).into(),
            IoInstruction::Sal { gr1 } => self.sal(ctx, gr1).into(),
            IoInstruction::Rsch { sid_word } => self.rsch(ctx, sid_word).into(),
            IoInstruction::Stcrw { crw_addr } => self.stcrw(ctx, crw_addr).into(),
            IoInstruction::Rchp { gr1 } => self.rchp(ctx, gr1).into(),
            IoInstruction::Schm { gr1, gr2 } => self.schm(ctx, gr1, gr2).into(),
            IoInstruction::Xsch { sid_word } => self.xsch(ctx, sid_word).into(),
            IoInstruction::Chsc { block_addr, .. } => self.chsc(ctx, block_addr).into(),
            IoInstruction::Sic { gr_r1, gr_r3, .. } => self.sic(ctx, gr_r1, gr_r3).into(),
            // STORE CHANNEL PATH STATUS: no channel-path status to report;
            // completes without storing (privileged like every I/O instruction).
            IoInstruction::Stcps { .. } => ctx.privileged().into(),
            // SIGNAL ADAPTER: no QDIO subchannels, so none is operational.
            IoInstruction::Siga { .. } => ctx.privileged().map(|()| Cc::Three).into(),
            IoInstruction::Diag500 { subcode, gr2, gr3, gr4 } => match self.diag500(ctx, subcode, gr2, gr3, gr4) {
                Ok(v) => Executed {
                    outcome: Outcome::Ok,
                    gr2: Some(v),
                },
                Err(p) => Executed {
                    outcome: Outcome::Program(p),
                    gr2: None,
                },
            },
        }
    }

    /// DIAGNOSE 0x500, the virtio-ccw hypercall: subcode 3 (notify) hands
    /// queue GR3 with cookie GR4 to the device of the subchannel named by the
    /// subchannel-id word in GR2 and returns its answer for GR2
    /// (`-EINVAL` for a bad, invisible or non-notifying subchannel);
    /// subcode 0 does nothing; subcode 4 returns the highest storage
    /// address. Any other subcode is a specification exception.
    ///
    /// # Errors
    /// Privileged operation, specification.
    pub fn diag500(&self, ctx: &IoCtx<'_>, subcode: u64, gr2: u64, gr3: u64, gr4: u64) -> Result<u64, ProgramCheck> {
        let _span = tracing::trace_span!("diag500", subcode, gr2, gr3, gr4).entered();
        ctx.privileged()?;
        let einval = gr_bits(DIAG500_EINVAL);
        match subcode {
            0 => Ok(gr2),
            3 => {
                let word = u32::try_from(gr2 & 0xffff_ffff).unwrap_or(0);
                let Ok(Some(sid)) = self.sh.decode_sid(word) else {
                    return Ok(einval);
                };
                Ok(self.notify(ctx, sid, gr3, gr4).map_or(einval, gr_bits))
            }
            4 => Ok(ctx.mem.size().saturating_sub(1)),
            _ => Err(ProgramCheck::Specification),
        }
    }

    fn notify(&self, ctx: &IoCtx<'_>, sid: SubchannelId, queue: u64, cookie: u64) -> Option<i64> {
        let sch = self.sh.tables.get(sid)?;
        if !sch.state.lock().present {
            return None;
        }
        match &mut *sch.dev.lock() {
            DevSlot::Ccw(dev) => dev.notify(ctx.mem, queue, cookie),
            _ => None,
        }
    }
}
