//! CHANNEL SUBSYSTEM CALL as an instruction (Principles of Operation,
//! chapter 14): specification exception unless the operand is on a 4K
//! boundary; the 4K area is fetched once with the PSW key (access
//! exceptions), the command runs on that copy (`chsc::execute`), an invalid
//! request length is an operand exception, and the response block is stored
//! after the request. Store access to the area is checked before the
//! command runs, so a protected area changes nothing (not even SDA).
//! Condition code 0.

use zcss_ccw::sid::SubchannelId;

use crate::chsc::{
    execute, ChannelPathDescription, ChscContext, ChscOutcome, SeiEvent, SubchannelDescription, CHSC_AREA_LEN,
};
use crate::css::Shared;
use crate::ctx::{aligned, IoCtx};
use crate::error::{Cc, InsnResult, ProgramCheck};
use crate::observer::Insn;
use crate::Css;

/// The css seen through the questions CHSC asks.
struct Ctx<'a> {
    sh: &'a Shared,
}

impl ChscContext for Ctx<'_> {
    fn default_cssid(&self) -> u8 {
        self.sh.cfg.default_cssid
    }

    fn css_present(&self, cssid: u8) -> bool {
        cssid != 0xff && (cssid == self.sh.cfg.default_cssid || self.sh.tables.has_image(cssid))
    }

    fn mcss_enabled(&self) -> bool {
        self.sh.mcss()
    }

    fn channel_path(&self, cssid: u8, chpid: u8) -> Option<ChannelPathDescription> {
        let t = *self.sh.paths.lock().get(&(cssid, chpid))?;
        Some(ChannelPathDescription { chpid_type: t })
    }

    fn subchannel(&self, cssid: u8, ssid: u8, schno: u16) -> Option<SubchannelDescription> {
        if !self.sh.visible(cssid, ssid) {
            return None;
        }
        let sch = self.sh.tables.get(SubchannelId { cssid, ssid, schno })?;
        let st = sch.state.lock();
        if !st.present {
            return None;
        }
        let p = &st.pmcw;
        Some(SubchannelDescription {
            subchannel_type: p.chars.subchannel_type(),
            dnv: p.flags.dnv(),
            devno: p.flags.devno(),
            unit_addr: p.flags.devno().to_be_bytes()[1],
            pim: p.pim,
            chpids: p.chpid,
            fla_valid_mask: 0,
            fla: [0; 8],
        })
    }

    fn enable_mcss(&mut self) -> bool {
        self.sh.mcss.store(true, std::sync::atomic::Ordering::Release);
        true
    }

    fn enable_mss(&mut self) -> bool {
        self.sh.mss.store(true, std::sync::atomic::Ordering::Release);
        true
    }

    fn sei_next(&mut self, _ntsm: u64) -> Option<SeiEvent> {
        // No channel-subsystem events are generated yet: the report (if any)
        // is drained.
        self.sh.ext.crw.lock().css_events_drained();
        None
    }

    fn sei_more(&self, _ntsm: u64) -> bool {
        false
    }
}

impl Css {
    /// CHANNEL SUBSYSTEM CALL with the request block at `addr`.
    ///
    /// # Errors
    /// The program exception the instruction recognizes.
    pub fn chsc(&self, ctx: &IoCtx<'_>, addr: u64) -> InsnResult {
        let _span = tracing::trace_span!("chsc", addr = format_args!("{addr:#x}")).entered();
        self.observed(Insn::Chsc { addr }, ctx, |sh, ctx| {
            ctx.privileged()?;
            aligned(addr, CHSC_AREA_LEN as u64)?;
            let mut area = [0u8; CHSC_AREA_LEN];
            ctx.fetch(addr, &mut area[..])?;
            ctx.probe_store(addr, CHSC_AREA_LEN as u64)?;
            match execute(&mut area, &mut Ctx { sh }) {
                ChscOutcome::OperandException => Err(ProgramCheck::Operand),
                ChscOutcome::Complete(r) => {
                    tracing::trace!(
                        command = format_args!("{:#06x}", r.command),
                        code = format_args!("{:#06x}", r.code),
                        "chsc"
                    );
                    ctx.store(addr + r.offset as u64, r.bytes(&area))?;
                    Ok(Cc::Zero)
                }
            }
        })
    }
}
