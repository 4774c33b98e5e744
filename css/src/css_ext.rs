//! The css-wide facilities around the subchannels: the channel-report
//! queue, channel measurement, and what CHSC needs to know. Glue between
//! [`crate::Css`] and the self-contained pieces in `crw_queue`,
//! `measurement`, `chsc` and `adapter`.

use parking_lot::Mutex;
use zcss_ccw::crw::{erc, rsc, Crw};
use zcss_ccw::sid::SubchannelId;

use crate::crw_queue::{CrwQueue, Queued, CRW_QUEUE_CAPACITY};

/// css-wide state beside the subchannel tables.
pub(crate) struct Extensions {
    pub crw: Mutex<CrwQueue>,
    pub measurement: crate::measurement::Measurement,
}

impl Extensions {
    pub fn new() -> Self {
        Self {
            crw: Mutex::new(CrwQueue::new()),
            measurement: crate::measurement::Measurement::new(),
        }
    }

    /// Queues a subchannel report (RSC 3, ERC 4 "installed parameters
    /// initialized"), chained to a report naming the css image and set when
    /// MSS or MCSS-E is enabled. Returns whether a machine check became pending.
    pub fn subchannel_crw(&self, sid: SubchannelId, mcss: bool, mss: bool) -> bool {
        let first = Crw::report(rsc::SUBCHANNEL, erc::INSTALLED_PARMS_INIT, sid.schno);
        let mut q = self.crw.lock();
        let r = if mcss || mss {
            let cssid = if mcss { sid.cssid } else { 0 };
            let second = Crw::report(
                rsc::SUBCHANNEL,
                erc::INSTALLED_PARMS_INIT,
                Crw::subchannel_chain_rsid(cssid, sid.ssid),
            );
            q.push_chain(&[first, second])
        } else {
            q.push(first)
        };
        r == Queued::Yes && q.machine_check_pending()
    }

    /// Queues a channel-path report (RSC 4) for RESET CHANNEL PATH.
    pub fn channel_path_crw(&self, cssid: u8, chpid: u8, mcss: bool) -> bool {
        let first = Crw::report(rsc::CHANNEL_PATH, erc::INIT, u16::from(chpid)).with_solicited(true);
        let mut q = self.crw.lock();
        let r = if mcss {
            let second = Crw::report(rsc::CHANNEL_PATH, erc::INIT, u16::from(cssid) << 8).with_solicited(true);
            q.push_chain(&[first, second])
        } else {
            q.push(first)
        };
        r == Queued::Yes && q.machine_check_pending()
    }

    pub fn check_invariants(&self) -> Result<(), String> {
        let n = self.crw.lock().len();
        if n > CRW_QUEUE_CAPACITY {
            return Err(format!("CRW queue holds {n} words, more than its capacity"));
        }
        Ok(())
    }
}
