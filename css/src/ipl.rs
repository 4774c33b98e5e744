//! CCW-type initial program loading (Principles of Operation, chapter 17,
//! "Initial Program Loading": load-normal with a CCW-type IPL device).
//!
//! What the load function does, in order:
//! 1. a subsystem reset (the I/O-system reset, [`Css::reset`]);
//! 2. the IPL device's subchannel is enabled and a start function runs with
//!    key 0, format-0 CCWs, no interruption parameter and every path
//!    allowed, beginning with an *implied* CCW: READ IPL (command 0x02),
//!    data address 0, count 24, command chaining and SLI — as if that CCW
//!    were at absolute location 0, so the chain continues with the CCWs the
//!    read placed at 8 and 16 (and wherever they chain or TIC to);
//! 3. the IPL succeeds when the program ends with channel end and device
//!    end alone and no subchannel status; the status is taken without an
//!    interruption (the subchannel is left idle, not status pending);
//! 4. the subsystem-identification word of the IPL subchannel is stored at
//!    absolute 184–187 and zeros at 188–191;
//! 5. the CPU loads the IPL PSW from absolute 0 — the embedder's part: the
//!    eight bytes are handed back ([`IplOutcome::Loaded`]).
//!
//! The implied CCW is placed at absolute 0 before the program starts (the
//! read overwrites it), as Hercules' `load_ipl` does; a guest sees no
//! difference, since the IPL read fills 0–23 or the IPL fails.

use zcss_ccw::memory::AccessKey;
use zcss_ccw::orb::{Orb, OrbControls};
use zcss_ccw::status::{DeviceStatus, SubchannelStatus};

use crate::ctx::IoCtx;
use crate::error::{Cc, ProgramCheck};
use crate::observer::{Insn, Outcome};
use crate::Css;

/// Absolute address of the subsystem-identification word stored by IPL.
pub const IPL_SID_ADDR: u64 = 184;

/// How long an IPL waits for a passthrough device's host to report.
pub const IPL_HOST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The implied first CCW of an IPL: READ IPL, data address 0, CC and SLI,
/// count 24 (format 0).
pub const IPL_CCW: [u8; 8] = [0x02, 0x00, 0x00, 0x00, 0x60, 0x00, 0x00, 24];

/// How an IPL ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IplOutcome {
    /// The IPL I/O completed: the CPU loads this PSW (absolute 0–7).
    Loaded {
        /// The IPL PSW.
        psw: [u8; 8],
    },
    /// No operational device at the subchannel (nothing was done beyond the
    /// reset).
    NotOperational,
    /// The IPL I/O ended with other status (unit check, a program check of
    /// the channel program, …): the load does not complete.
    Failed {
        /// Device status the program ended with.
        dstat: DeviceStatus,
        /// Subchannel status it ended with.
        cstat: SubchannelStatus,
    },
}

impl From<Result<IplOutcome, ProgramCheck>> for Outcome {
    fn from(r: Result<IplOutcome, ProgramCheck>) -> Self {
        match r {
            Ok(IplOutcome::Loaded { .. }) => Self::Ok,
            Ok(IplOutcome::NotOperational | IplOutcome::Failed { .. }) => Self::Cc(Cc::Three),
            Err(p) => Self::Program(p),
        }
    }
}

impl Css {
    /// Initial program loading from the device at the subchannel GR1 names
    /// (load-normal, CCW-type). See the [module documentation](self).
    ///
    /// # Errors
    /// An operand exception for an invalid subchannel-identification word.
    pub fn ipl(&self, ctx: &IoCtx<'_>, gr1: u32) -> Result<IplOutcome, ProgramCheck> {
        let _span = tracing::debug_span!("ipl", gr1 = format_args!("{gr1:#010x}")).entered();
        self.observed(Insn::Ipl { gr1 }, ctx, |sh, ctx| {
            let sid = sh.decode_sid(gr1)?;
            self.reset_unobserved();
            let Some(sid) = sid else {
                return Ok(IplOutcome::NotOperational);
            };
            let Some(sch) = sh.tables.get(sid) else {
                return Ok(IplOutcome::NotOperational);
            };
            let mut st = sch.state.lock();
            if !st.present || !st.pmcw.flags.dnv() {
                return Ok(IplOutcome::NotOperational);
            }
            st.pmcw.flags = st.pmcw.flags.with_enabled(true);
            if ctx.mem.write(0, &IPL_CCW, AccessKey::ZERO).is_err() {
                return Ok(IplOutcome::NotOperational);
            }
            let orb = Orb {
                intparm: 0,
                ctrl: OrbControls::new().with_lpm(0xff),
                cpa: 0,
                ..Orb::default()
            };
            st.begin_start(&orb);
            if sh.run(sch, ctx.mem, st).is_err() {
                return Ok(IplOutcome::NotOperational);
            }
            let mut st = sch.state.lock();
            if st.is_passthrough() {
                // The host completes the program later: the load waits for
                // its status (bounded).
                let deadline = std::time::Instant::now() + IPL_HOST_TIMEOUT;
                while !st.status_pending() && std::time::Instant::now() < deadline {
                    drop(st);
                    sh.wait_report(std::time::Duration::from_millis(5));
                    st = sch.state.lock();
                }
            }
            if !st.status_pending() {
                return Ok(IplOutcome::NotOperational);
            }
            let (dstat, cstat) = (st.scsw.dstat, st.scsw.cstat);
            sh.withdraw(sch.sid, &mut st);
            st.clear_status();
            drop(st);
            let ok = dstat == DeviceStatus::CE_DE && cstat.into_bits() == 0;
            tracing::debug!(
                dstat = dstat.into_bits(),
                cstat = cstat.into_bits(),
                ok,
                "ipl i/o ended"
            );
            if !ok {
                return Ok(IplOutcome::Failed { dstat, cstat });
            }
            let word = sid.to_word(sh.mcss());
            let mut lowcore = [0u8; 8];
            lowcore[..4].copy_from_slice(&word.to_be_bytes());
            let mut psw = [0u8; 8];
            if ctx.mem.write(IPL_SID_ADDR, &lowcore, AccessKey::ZERO).is_err()
                || ctx.mem.read(0, &mut psw, AccessKey::ZERO).is_err()
            {
                return Ok(IplOutcome::NotOperational);
            }
            Ok(IplOutcome::Loaded { psw })
        })
    }
}
