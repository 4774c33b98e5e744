//! STORE SUBCHANNEL (Principles of Operation, chapter 14, "STORE
//! SUBCHANNEL"; chapter 15, "Subchannel-Information Block").
//!
//! Priority: privileged operation, specification (SCHIB address not on a
//! word boundary), access to the SCHIB (recognized before the GR1 check,
//! as the instruction is defined to check its store operand first), operand
//! (GR1).
//!
//! Which subchannels are provided: in every visible subchannel set, the
//! subchannels 0 up to the highest one that holds a device. Subchannel
//! numbers are contiguous from zero, so a number below that highest one
//! without a device is a provided subchannel with no valid device number
//! (DNV = 0): STORE SUBCHANNEL stores its SCHIB (all zero: not enabled, no
//! device, no paths) with cc 0. Numbers above it are not provided: cc 3. The
//! guest's discovery loop (STSCH from 0 until cc 3) therefore finds every
//! device. QEMU behaves the same way.

use zcss_ccw::schib::Schib;
use zcss_ccw::sid::SubchannelId;

use crate::ctx::{aligned, IoCtx};
use crate::error::{Cc, InsnResult};
use crate::observer::Insn;
use crate::Css;

impl Css {
    /// STORE SUBCHANNEL: stores the SCHIB at `schib_addr`.
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn stsch(&self, ctx: &IoCtx<'_>, gr1: u32, schib_addr: u64) -> InsnResult {
        let _span = tracing::trace_span!(
            "stsch",
            gr1 = format_args!("{gr1:#x}"),
            schib_addr = format_args!("{schib_addr:#x}")
        )
        .entered();
        self.observed(Insn::Stsch { gr1, schib_addr }, ctx, |sh, ctx| {
            ctx.privileged()?;
            aligned(schib_addr, 4)?;
            ctx.probe_store(schib_addr, Schib::LEN as u64)?;
            let Some((cssid, ssid, schno)) = sh.decode_parts(gr1)? else {
                return Ok(Cc::Three);
            };
            let Some(set) = sh.tables.set(cssid, ssid) else {
                return Ok(Cc::Three);
            };
            let Some(highest) = set.highest() else {
                return Ok(Cc::Three);
            };
            if schno > highest {
                return Ok(Cc::Three);
            }
            let bytes = match sh.tables.get(SubchannelId { cssid, ssid, schno }) {
                Some(sch) => {
                    let mut st = sch.state.lock();
                    if st.is_passthrough() {
                        // The host's current paths (PoO: STSCH stores the
                        // path masks as they are now).
                        st = sh.refresh_paths(sch, st);
                    }
                    if st.present {
                        st.schib().to_be_bytes()
                    } else {
                        [0; Schib::LEN]
                    }
                }
                None => [0; Schib::LEN],
            };
            ctx.store(schib_addr, &bytes)?;
            Ok(Cc::Zero)
        })
    }
}
