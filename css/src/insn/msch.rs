//! MODIFY SUBCHANNEL (Principles of Operation, chapter 14, "MODIFY
//! SUBCHANNEL"; chapter 15, "Path-Management-Control Word").
//!
//! Priority: privileged operation, specification (SCHIB address not on a
//! word boundary), access to the SCHIB, operand (GR1; then the SCHIB: PMCW
//! word 1 bits 0, 1, 6, 7 or word 6 reserved bits set, X set — the
//! extended-measurement-word facility is not provided —, or F set with a
//! measurement-block address not on a 64-byte boundary). Condition codes: 3
//! not provided, 0 with nothing changed when the subchannel has no valid
//! device number, 1 status pending, 2 a function in progress, 0 done.
//!
//! Fields taken from the SCHIB: interruption parameter, ISC, E, LM, MM, D,
//! LPM, MBI, POM, the PMCW F and S bits, and the measurement-block address
//! (SCHIB bytes 40–47). Word 1 bit 5 is ignored and stays zero; T, V, the
//! device number, PNOM, LPUM, PIM, PAM, the CHPIDs, the subchannel type
//! and the SCSW are not changed.

use zcss_ccw::schib::Schib;

use crate::ctx::{aligned, IoCtx};
use crate::error::{Cc, InsnResult, ProgramCheck};
use crate::observer::Insn;
use crate::Css;

impl Css {
    /// MODIFY SUBCHANNEL with the SCHIB at `schib_addr`.
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn msch(&self, ctx: &IoCtx<'_>, gr1: u32, schib_addr: u64) -> InsnResult {
        let _span = tracing::trace_span!(
            "msch",
            gr1 = format_args!("{gr1:#x}"),
            schib_addr = format_args!("{schib_addr:#x}")
        )
        .entered();
        self.observed(Insn::Msch { gr1, schib_addr }, ctx, |sh, ctx| {
            ctx.privileged()?;
            aligned(schib_addr, 4)?;
            let mut raw = [0u8; Schib::LEN];
            ctx.fetch(schib_addr, &mut raw)?;
            let sid = sh.decode_sid(gr1)?;
            let new = Schib::from_be_bytes(&raw);
            if !new.pmcw.msch_reserved().is_empty() || new.pmcw.chars.xmwme() {
                return Err(ProgramCheck::Operand);
            }
            if new.pmcw.chars.mbfc() && !new.mba_aligned() {
                return Err(ProgramCheck::Operand);
            }
            let Some(sid) = sid else { return Ok(Cc::Three) };
            let Some(highest) = sh.tables.set(sid.cssid, sid.ssid).and_then(|s| s.highest()) else {
                return Ok(Cc::Three);
            };
            if sid.schno > highest {
                return Ok(Cc::Three);
            }
            let Some(sch) = sh.tables.get(sid) else {
                // Provided, without a valid device number: nothing to modify.
                return Ok(Cc::Zero);
            };
            let mut st = sch.state.lock();
            if !st.present || !st.pmcw.flags.dnv() {
                return Ok(Cc::Zero);
            }
            if st.status_pending() {
                return Ok(Cc::One);
            }
            if st.fctl().into_bits() != 0 || st.running {
                return Ok(Cc::Two);
            }
            let was_enabled = st.pmcw.flags.enabled();
            let n = new.pmcw;
            let p = &mut st.pmcw;
            p.intparm = n.intparm;
            p.flags = p
                .flags
                .with_isc(n.flags.isc())
                .with_enabled(n.flags.enabled())
                .with_limit_mode(n.flags.limit_mode())
                .with_measurement_mode(n.flags.measurement_mode())
                .with_multipath(n.flags.multipath())
                .with_reserved_5(false);
            p.lpm = n.lpm;
            p.mbi = n.mbi;
            p.pom = n.pom;
            p.chars = p.chars.with_mbfc(n.chars.mbfc()).with_csense(n.chars.csense());
            st.mba = new.mba;
            let disabled = was_enabled && !st.pmcw.flags.enabled();
            let (pmcw, passthrough) = (st.pmcw, st.is_passthrough());
            drop(st);
            if passthrough || disabled {
                let mut dev = sch.dev.lock();
                dev.modified(&pmcw);
                if disabled {
                    dev.disabled();
                }
            }
            Ok(Cc::Zero)
        })
    }
}
