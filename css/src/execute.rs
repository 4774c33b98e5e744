//! Dispatch of a decoded intercepted instruction ([`IoInstruction`], from
//! `intercept`) to the [`Css`] method of the same name, plus DIAGNOSE
//! 0x500 (the virtio-ccw hypercall) and the instructions a virtual channel
//! subsystem treats as no-ops.

use zcss_ccw::sid::SubchannelId;

use crate::ctx::IoCtx;
use crate::error::{Cc, ProgramCheck};
use crate::intercept::IoInstruction;
use crate::observer::{Insn, Outcome};
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
    /// subcode 4 returns the highest storage address (storage size − 1).
    /// Subcode 0, the notify of the retired s390-virtio transport, notifies
    /// nothing and answers as QEMU does: 0 when GR2 is an address inside
    /// guest storage, `-EINVAL` otherwise. Any other subcode is a
    /// specification exception.
    ///
    /// The observer sees it like every I/O instruction
    /// ([`Insn::Diag500`], outcome [`Outcome::Gr2`]), with the guest storage
    /// the device touched while it handled the notification.
    ///
    /// # Errors
    /// Privileged operation, specification.
    pub fn diag500(&self, ctx: &IoCtx<'_>, subcode: u64, gr2: u64, gr3: u64, gr4: u64) -> Result<u64, ProgramCheck> {
        let _span = tracing::trace_span!(
            "diag500",
            subcode = format_args!("{subcode:#x}"),
            gr2 = format_args!("{gr2:#x}"),
            gr3 = format_args!("{gr3:#x}"),
            gr4 = format_args!("{gr4:#x}")
        )
        .entered();
        let insn = Insn::Diag500 { subcode, gr2, gr3, gr4 };
        self.observed(insn, ctx, |_, ctx| {
            ctx.privileged()?;
            let einval = gr_bits(DIAG500_EINVAL);
            match subcode {
                0 => Ok(if gr2 < ctx.mem.size() { 0 } else { einval }),
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
        })
    }

    fn notify(&self, ctx: &IoCtx<'_>, sid: SubchannelId, queue: u64, cookie: u64) -> Option<i64> {
        let sch = self.sh.tables.get(sid)?;
        if !sch.state.lock().present {
            return None;
        }
        let r = sch.dev.lock().notify(ctx.mem, queue, cookie);
        r
    }
}

#[cfg(test)]
mod tests {
    use zcss_ccw::VecMemory;

    use super::*;
    use crate::mock::MockDevice;
    use crate::CssConfig;

    const SIZE: u64 = 1 << 20;

    fn css() -> Css {
        let css = Css::new(CssConfig::default());
        let sid = SubchannelId {
            cssid: 0xfe,
            ssid: 0,
            schno: 0,
        };
        css.attach_cold(sid, 0x1234, Box::new(MockDevice::new(0x3832, 1)))
            .unwrap();
        css
    }

    #[test]
    fn diag500_subcode0_address_inside_storage_returns_zero() {
        let mem = VecMemory::new(SIZE);
        let ctx = IoCtx::new(&mem);
        let css = css();
        assert_eq!(css.diag500(&ctx, 0, 0, 0, 0), Ok(0));
        assert_eq!(css.diag500(&ctx, 0, 0x1000, 7, 9), Ok(0));
        assert_eq!(css.diag500(&ctx, 0, SIZE - 1, 0, 0), Ok(0));
    }

    #[test]
    fn diag500_subcode0_address_outside_storage_returns_einval() {
        let mem = VecMemory::new(SIZE);
        let ctx = IoCtx::new(&mem);
        let css = css();
        let einval = gr_bits(DIAG500_EINVAL);
        assert_eq!(einval, 0xffff_ffff_ffff_ffea);
        assert_eq!(css.diag500(&ctx, 0, SIZE, 0, 0), Ok(einval));
        assert_eq!(css.diag500(&ctx, 0, u64::MAX, 0, 0), Ok(einval));
    }

    #[test]
    fn diag500_subcode4_returns_last_storage_address() {
        let mem = VecMemory::new(SIZE);
        let ctx = IoCtx::new(&mem);
        assert_eq!(css().diag500(&ctx, 4, 0xdead, 0, 0), Ok(SIZE - 1));
    }

    #[test]
    fn diag500_other_subcode_is_specification_exception() {
        let mem = VecMemory::new(SIZE);
        let ctx = IoCtx::new(&mem);
        let css = css();
        for subcode in [1u64, 2, 5, 0x100, u64::MAX] {
            assert_eq!(
                css.diag500(&ctx, subcode, 0, 0, 0),
                Err(ProgramCheck::Specification),
                "{subcode}"
            );
        }
    }

    #[test]
    fn diag500_problem_state_is_privileged_operation() {
        let mem = VecMemory::new(SIZE);
        let ctx = IoCtx::new(&mem).with_problem_state(true);
        assert_eq!(css().diag500(&ctx, 0, 0, 0, 0), Err(ProgramCheck::PrivilegedOperation));
    }

    #[test]
    fn execute_diag500_subcode0_sets_gr2() {
        let mem = VecMemory::new(SIZE);
        let ctx = IoCtx::new(&mem);
        let insn = IoInstruction::Diag500 {
            subcode: 0,
            gr2: SIZE + 8,
            gr3: 0,
            gr4: 0,
        };
        let e = css().execute(&ctx, &insn, 0xff);
        assert_eq!(e.outcome, Outcome::Ok);
        assert_eq!(e.gr2, Some(gr_bits(DIAG500_EINVAL)));
    }

    /// An observer that keeps what it saw.
    #[derive(Default)]
    struct Seen(parking_lot::Mutex<Vec<(Insn, Outcome, Vec<crate::observer::StorageAccess>)>>);

    impl crate::Observer for Seen {
        fn instruction(&self, insn: &Insn, outcome: Outcome, accesses: &[crate::observer::StorageAccess]) {
            self.0.lock().push((*insn, outcome, accesses.to_vec()));
        }
    }

    /// A device whose notify ORs an indicator bit into guest storage, as a
    /// virtio device with adapter indicators does.
    #[derive(Debug)]
    struct Indicator;

    impl zcss_ccw::CcwDevice for Indicator {
        fn execute(&mut self, _: &zcss_ccw::Ccw, _: &mut zcss_ccw::DataStream<'_>) -> zcss_ccw::DeviceResult {
            zcss_ccw::DeviceResult::OK
        }
    }

    impl crate::Device for Indicator {
        fn info(&self) -> crate::DeviceInfo {
            crate::DeviceInfo::virtual_device(0x3832, 1)
        }

        fn notify(&mut self, mem: &dyn zcss_ccw::memory::GuestMemory, queue: u64, _cookie: u64) -> Option<i64> {
            mem.fetch_or_u8(0x5000, 0x80, zcss_ccw::AccessKey::ZERO).ok()?;
            i64::try_from(queue).ok()
        }
    }

    #[test]
    fn diag500_notify_is_observed_with_gr2_and_the_device_storage_accesses() {
        let mem = VecMemory::new(SIZE);
        mem.store(0x5000, &[0x01]).unwrap();
        let ctx = IoCtx::new(&mem);
        let css = Css::new(CssConfig::default());
        let sid = SubchannelId {
            cssid: 0xfe,
            ssid: 0,
            schno: 0,
        };
        css.attach_cold(sid, 0, Box::new(Indicator)).unwrap();
        let seen = std::sync::Arc::new(Seen::default());
        css.set_observer(Some(seen.clone()));
        assert_eq!(css.diag500(&ctx, 3, 0x0001_0000, 7, 9), Ok(7));
        let log = seen.0.lock();
        let (insn, outcome, accesses) = &log[0];
        assert_eq!(
            *insn,
            Insn::Diag500 {
                subcode: 3,
                gr2: 0x0001_0000,
                gr3: 7,
                gr4: 9
            }
        );
        assert_eq!(*outcome, Outcome::Gr2(7));
        let seen_accesses: Vec<(bool, u64, Vec<u8>)> =
            accesses.iter().map(|a| (a.store, a.addr, a.data.clone())).collect();
        assert_eq!(
            seen_accesses,
            vec![(false, 0x5000, vec![0x01]), (true, 0x5000, vec![0x81])],
            "the OR fetches the old value, then stores the new one"
        );
    }

    #[test]
    fn diag500_program_check_is_observed_as_program_outcome() {
        let mem = VecMemory::new(SIZE);
        let ctx = IoCtx::new(&mem);
        let css = css();
        let seen = std::sync::Arc::new(Seen::default());
        css.set_observer(Some(seen.clone()));
        assert_eq!(css.diag500(&ctx, 9, 0, 0, 0), Err(ProgramCheck::Specification));
        assert_eq!(css.diag500(&ctx, 4, 0, 0, 0), Ok(SIZE - 1));
        let outcomes: Vec<Outcome> = seen.0.lock().iter().map(|(_, o, _)| *o).collect();
        assert_eq!(
            outcomes,
            vec![Outcome::Program(ProgramCheck::Specification), Outcome::Gr2(SIZE - 1)]
        );
    }
}
