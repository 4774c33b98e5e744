//! The configuration side of the channel subsystem: devices attached to
//! and detached from subchannels (cold plug, hot plug with its channel
//! report), the channel paths they hang on, and the channel reports and
//! unsolicited status devices originate (Principles of Operation, chapter
//! 15, "Subchannel" and "Path-Management-Control Word"; chapter 17,
//! "Channel-Subsystem Recovery": channel reports).
//!
//! Channel paths come from the devices' own descriptions
//! ([`crate::device::ChannelPaths`]), never from the order of attachment,
//! so a configuration (and a trace) gives the same CHPIDs whatever order its
//! devices are attached in. A CHPID is installed in a css image with one
//! channel-path type; a device naming it with another type is refused.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use zcss_ccw::crw::Crw;
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::status::DeviceStatus;
use zcss_ccw::Sense;

use crate::crw_queue::Queued;
use crate::css::Shared;
use crate::device::{ChannelPaths, Device, PassthroughDevice, PassthroughReply};
use crate::error::CssError;
use crate::interrupt::Wake;
use crate::slot::DevSlot;
use crate::subchannel::{SchState, STOP_CLEAR, STOP_NONE};
use crate::Css;

impl Css {
    /// Attaches a device before the machine runs (cold plug): no channel report.
    ///
    /// # Errors
    /// Reserved css image, subchannel or device number in use.
    pub fn attach_cold(&self, sid: SubchannelId, devno: u16, dev: Box<dyn Device>) -> Result<(), CssError> {
        self.sh.attach(sid, devno, DevSlot::Ccw(dev), false)
    }

    /// Hot-plugs a device: the subchannel becomes valid and a channel report
    /// (subchannel, "installed parameters initialized") is queued if the
    /// subchannel is visible to the program.
    ///
    /// # Errors
    /// As [`Css::attach_cold`].
    pub fn attach(&self, sid: SubchannelId, devno: u16, dev: Box<dyn Device>) -> Result<(), CssError> {
        self.sh.attach(sid, devno, DevSlot::Ccw(dev), true)
    }

    /// Attaches a passthrough device (cold plug when `hot` is false).
    ///
    /// # Errors
    /// As [`Css::attach_cold`].
    pub fn attach_passthrough(
        &self,
        sid: SubchannelId,
        devno: u16,
        dev: Box<dyn PassthroughDevice>,
        hot: bool,
    ) -> Result<(), CssError> {
        self.sh.has_pt.store(true, Ordering::Release);
        self.sh.attach(sid, devno, DevSlot::Passthrough(dev), hot)
    }

    /// Places a device automatically: the first free subchannel of the
    /// default css image in the visible subchannel sets, with device number
    /// `devno` or, if `None`, the subchannel number. Cold plug.
    ///
    /// # Errors
    /// [`CssError::Full`] when no subchannel is free.
    pub fn attach_auto(&self, devno: Option<u16>, dev: Box<dyn Device>) -> Result<SubchannelId, CssError> {
        let max_ssid = if self.mss_enabled() { 3 } else { 0 };
        let cssid = self.sh.cfg.default_cssid;
        for ssid in 0..=max_ssid {
            for schno in 0..=u16::MAX {
                let sid = SubchannelId { cssid, ssid, schno };
                let free = self.sh.tables.get(sid).is_none_or(|s| !s.state.lock().present);
                let devno = devno.unwrap_or(schno);
                if free && !self.sh.book.lock().contains(&(cssid, ssid, devno)) {
                    self.sh.attach(sid, devno, DevSlot::Ccw(dev), false)?;
                    return Ok(sid);
                }
            }
        }
        Err(CssError::Full)
    }

    /// Hot-unplugs the device of `sid`: the subchannel loses its device, its
    /// pending interruption is withdrawn, and a channel report is queued if
    /// the subchannel was visible. A program running on it is stopped first.
    ///
    /// # Errors
    /// [`CssError::NoDevice`].
    pub fn detach(&self, sid: SubchannelId) -> Result<(), CssError> {
        self.sh.detach(sid, true)
    }

    /// Removes a device without a channel report (machine teardown).
    ///
    /// # Errors
    /// [`CssError::NoDevice`].
    pub fn detach_cold(&self, sid: SubchannelId) -> Result<(), CssError> {
        self.sh.detach(sid, false)
    }

    /// Whether a device is attached at `sid`.
    #[must_use]
    pub fn has_device(&self, sid: SubchannelId) -> bool {
        self.sh.tables.get(sid).is_some_and(|s| s.state.lock().present)
    }

    /// Changes the channel paths of the device at `sid` (a reconfiguration
    /// on the host side, or a trace's `chpids=`): PIM, PAM and LPM become
    /// the new paths, POM all ones, the CHPIDs are installed in the css
    /// image. Takes effect for the next start function; no channel report
    /// is made.
    ///
    /// # Errors
    /// [`CssError::NoDevice`], or [`CssError::ChpidType`] when a CHPID is
    /// installed with another type.
    pub fn set_paths(&self, sid: SubchannelId, paths: ChannelPaths) -> Result<(), CssError> {
        let sch = self.sh.tables.get(sid).ok_or(CssError::NoDevice(sid))?;
        if !sch.state.lock().present {
            return Err(CssError::NoDevice(sid));
        }
        self.sh.install_paths(sid.cssid, &paths)?;
        let mut st = sch.state.lock();
        let p = &mut st.pmcw;
        p.pim = paths.pim();
        p.pam = paths.pim();
        p.lpm = paths.pim();
        p.pom = 0xff;
        p.chpid = paths.chpids();
        Ok(())
    }

    /// The type of channel path `chpid` in css image `cssid`, if installed.
    #[must_use]
    pub fn channel_path_type(&self, cssid: u8, chpid: u8) -> Option<u8> {
        self.sh.paths.lock().get(&(cssid, chpid)).copied()
    }
}

impl Shared {
    /// Installs the channel paths of a device in css image `cssid`. All
    /// or nothing: a CHPID already installed with another type refuses the
    /// whole set.
    pub fn install_paths(&self, cssid: u8, paths: &ChannelPaths) -> Result<(), CssError> {
        let mut installed = self.paths.lock();
        for (_, chpid, kind) in paths.iter() {
            if let Some(&have) = installed.get(&(cssid, chpid)) {
                if have != kind {
                    return Err(CssError::ChpidType {
                        cssid,
                        chpid,
                        installed: have,
                        wanted: kind,
                    });
                }
            }
        }
        for (_, chpid, kind) in paths.iter() {
            installed.insert((cssid, chpid), kind);
        }
        Ok(())
    }

    /// Unsolicited status from an interpreted device (see
    /// [`crate::device::InterruptSink::unsolicited`]).
    pub fn unsolicited(&self, sid: SubchannelId, status: DeviceStatus, sense: Option<&Sense>) -> bool {
        let Some(sch) = self.tables.get(sid) else { return false };
        let mut st = sch.state.lock();
        let ac = st.actl();
        if !st.operational()
            || st.status_pending()
            || st.running
            || ac.subchannel_active()
            || ac.start_pending()
            || ac.resume_pending()
            || ac.halt_pending()
            || ac.clear_pending()
        {
            return false;
        }
        st.unsolicited(status, sense);
        let isc = self.queue_interrupt(sid, &mut st);
        drop(st);
        self.wake(Wake::Io { isc });
        true
    }

    /// Channel reports a device forwards: one chain for STCRW.
    pub fn channel_report(&self, chain: &[Crw]) -> bool {
        let pending = {
            let mut q = self.ext.crw.lock();
            if q.push_chain(chain) != Queued::Yes {
                return false;
            }
            q.machine_check_pending()
        };
        if pending {
            self.wake(Wake::ChannelReport);
        }
        true
    }

    pub(crate) fn attach(&self, sid: SubchannelId, devno: u16, mut slot: DevSlot, hot: bool) -> Result<(), CssError> {
        if sid.cssid == 0xff {
            return Err(CssError::ReservedCssid);
        }
        if sid.ssid > 3 {
            return Err(CssError::BadSsid(sid.ssid));
        }
        let mut book = self.book.lock();
        if book.contains(&(sid.cssid, sid.ssid, devno)) {
            return Err(CssError::DevnoInUse {
                cssid: sid.cssid,
                ssid: sid.ssid,
                devno,
            });
        }
        let sch = self.tables.get_or_alloc(sid).ok_or(CssError::BadSsid(sid.ssid))?;
        if sch.state.lock().present {
            return Err(CssError::SubchannelInUse(sid));
        }
        let Some(info) = slot.info() else {
            return Err(CssError::NoDevice(sid));
        };
        let passthrough = slot.is_passthrough();
        self.install_paths(sid.cssid, &info.paths)?;
        let handle = self.handle(sid);
        slot.attached(handle, || {
            let me = self.me.clone();
            let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
                if let Some(sh) = me.upgrade() {
                    sh.wake(Wake::Completion);
                }
            });
            PassthroughReply::new(sid, self.pt_tx.clone(), wake)
        });
        *sch.dev.lock() = slot;
        {
            let mut st = sch.state.lock();
            let generation = st.generation.wrapping_add(1);
            let seq = st.seq;
            *st = SchState::attached(devno, &info.paths, passthrough, generation);
            st.seq = seq;
        }
        book.insert((sid.cssid, sid.ssid, devno));
        if let Some(set) = self.tables.set(sid.cssid, sid.ssid) {
            if set.highest().is_none_or(|h| h < sid.schno) {
                set.set_highest(Some(sid.schno));
            }
        }
        drop(book);
        if hot {
            self.subchannel_report(sid);
        }
        Ok(())
    }

    pub(crate) fn detach(&self, sid: SubchannelId, hot: bool) -> Result<(), CssError> {
        let mut book = self.book.lock();
        let sch = self.tables.get(sid).ok_or(CssError::NoDevice(sid))?;
        let devno = {
            let st = sch.state.lock();
            if !st.present {
                return Err(CssError::NoDevice(sid));
            }
            st.pmcw.flags.devno()
        };
        // Stop a running program, then take the device (waits for the engine).
        sch.stop.store(STOP_CLEAR, Ordering::Release);
        let old = std::mem::replace(&mut *sch.dev.lock(), DevSlot::Empty);
        {
            let mut st = sch.state.lock();
            self.withdraw(sid, &mut st);
            st.reset_absent();
        }
        sch.stop.store(STOP_NONE, Ordering::Release);
        drop(old);
        book.remove(&(sid.cssid, sid.ssid, devno));
        if let Some(set) = self.tables.set(sid.cssid, sid.ssid) {
            if set.highest() == Some(sid.schno) {
                let mut h = None;
                for schno in (0..sid.schno).rev() {
                    let s = SubchannelId { schno, ..sid };
                    if self.tables.get(s).is_some_and(|x| x.state.lock().present) {
                        h = Some(schno);
                        break;
                    }
                }
                set.set_highest(h);
            }
        }
        drop(book);
        if hot {
            self.subchannel_report(sid);
        }
        Ok(())
    }

    /// Queues the channel report of a subchannel whose installed parameters
    /// changed (hot plug, hot unplug), if the program can see it.
    fn subchannel_report(&self, sid: SubchannelId) {
        if !self.visible(sid.cssid, sid.ssid) {
            return;
        }
        if self.ext.subchannel_crw(sid, self.mcss(), self.mss()) {
            self.wake(Wake::ChannelReport);
        }
    }
}
