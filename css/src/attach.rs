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

use std::any::Any;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use zcss_ccw::crw::Crw;
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::status::DeviceStatus;
use zcss_ccw::Sense;

use crate::crw_queue::Queued;
use crate::css::Shared;
use crate::device::{ChannelPaths, Device, DeviceHandle, PassthroughDevice, PassthroughReply};
use crate::error::CssError;
use crate::interrupt::Wake;
use crate::observer::HostEvent;
use crate::slot::DevSlot;
use crate::subchannel::{SchState, STOP_CLEAR, STOP_NONE};
use crate::Css;

impl Css {
    /// Attaches a device before the machine runs (cold plug): no channel report.
    ///
    /// # Errors
    /// Reserved css image, subchannel or device number in use.
    pub fn attach_cold(&self, sid: SubchannelId, devno: u16, dev: Box<dyn Device>) -> Result<(), CssError> {
        self.attach_observed(sid, devno, DevSlot::Ccw(dev), false).map(|_| ())
    }

    /// Hot-plugs a device: the subchannel becomes valid and a channel report
    /// (subchannel, "installed parameters initialized") is queued if the
    /// subchannel is visible to the program.
    ///
    /// # Errors
    /// As [`Css::attach_cold`].
    pub fn attach(&self, sid: SubchannelId, devno: u16, dev: Box<dyn Device>) -> Result<(), CssError> {
        self.attach_observed(sid, devno, DevSlot::Ccw(dev), true).map(|_| ())
    }

    /// Attaches `dev` (hot plug with its channel report when `hot`, as
    /// [`Css::attach`]; cold plug otherwise, as [`Css::attach_cold`]) and
    /// returns a typed handle on it, through which the embedder reaches the
    /// device later (poll it, read its state).
    ///
    /// # Errors
    /// As [`Css::attach_cold`].
    pub fn attach_device<T: Device>(
        &self,
        sid: SubchannelId,
        devno: u16,
        dev: T,
        hot: bool,
    ) -> Result<DeviceHandle<T>, CssError> {
        let token = self.attach_observed(sid, devno, DevSlot::Ccw(Box::new(dev)), hot)?;
        Ok(DeviceHandle::new(self.sh.me.clone(), sid, token))
    }

    /// A typed handle on the device at `sid`, if there is one of type `T`.
    #[must_use]
    pub fn device_handle<T: Device>(&self, sid: SubchannelId) -> Option<DeviceHandle<T>> {
        let sch = self.sh.tables.get(sid)?;
        let mut slot = sch.dev.lock();
        let token = sch.token.load(Ordering::Acquire);
        let dev: &mut dyn Any = slot.device_mut()?;
        (token != 0 && dev.is::<T>()).then(|| DeviceHandle::new(self.sh.me.clone(), sid, token))
    }

    /// Runs `f` on the device at `sid` as its concrete type `T` (outside
    /// the subchannel's state lock, with its device lock held: `f` must not
    /// issue instructions, see [`DeviceHandle::with`]). `None` when there
    /// is no interpreted device there or it is of another type.
    pub fn with_device_as<T: Device, R>(&self, sid: SubchannelId, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let sch = self.sh.tables.get(sid)?;
        let mut slot = sch.dev.lock();
        let dev: &mut dyn Any = slot.device_mut()?;
        dev.downcast_mut::<T>().map(f)
    }

    /// The subchannels that have a device, in css-image, subchannel-set and
    /// subchannel-number order, with their device numbers.
    #[must_use]
    pub fn devices(&self) -> Vec<(SubchannelId, u16)> {
        let mut out = Vec::new();
        self.sh.tables.for_each(|sch| {
            let st = sch.state.lock();
            if st.present {
                out.push((sch.sid, st.pmcw.flags.devno()));
            }
        });
        out.sort_unstable_by_key(|(s, _)| (s.cssid, s.ssid, s.schno));
        out
    }

    /// Runs `f` on the interpreted device at `sid` as `&dyn Device` (for a
    /// recorder describing it). `None` without one.
    pub fn inspect_device<R>(&self, sid: SubchannelId, f: impl FnOnce(&dyn Device) -> R) -> Option<R> {
        let sch = self.sh.tables.get(sid)?;
        let mut slot = sch.dev.lock();
        let dev: &dyn Device = slot.device_mut()?;
        Some(f(dev))
    }

    /// Attaches under the recording lock and reports the attach.
    fn attach_observed(&self, sid: SubchannelId, devno: u16, slot: DevSlot, hot: bool) -> Result<u32, CssError> {
        self.host_observed(
            None,
            |css, _, emit| {
                let Some(sch) = css.sh.tables.get(sid) else { return };
                let mut slot = sch.dev.lock();
                let device: Option<&dyn Device> = slot.device_mut().map(|d| &*d);
                emit(&HostEvent::Attach {
                    sid,
                    devno,
                    hot,
                    device,
                });
            },
            |css, _| {
                let r = css.sh.attach(sid, devno, slot, hot);
                if r.is_ok() {
                    tracing::debug!(sid = %sid, devno = format_args!("{devno:#06x}"), hot, "device attached");
                }
                r
            },
        )
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
        self.attach_observed(sid, devno, DevSlot::Passthrough(dev), hot)
            .map(|_| ())
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
                    self.attach_observed(sid, devno, DevSlot::Ccw(dev), false)?;
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
        self.detach_observed(sid, true)
    }

    /// Removes a device without a channel report (machine teardown).
    ///
    /// # Errors
    /// [`CssError::NoDevice`].
    pub fn detach_cold(&self, sid: SubchannelId) -> Result<(), CssError> {
        self.detach_observed(sid, false)
    }

    fn detach_observed(&self, sid: SubchannelId, hot: bool) -> Result<(), CssError> {
        self.host_observed(
            None,
            |_, _, emit| emit(&HostEvent::Detach { sid, hot }),
            |css, _| {
                let r = css.sh.detach(sid, hot);
                if r.is_ok() {
                    tracing::debug!(sid = %sid, hot, "device detached");
                }
                r
            },
        )
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

    /// Attaches; returns the token of the device (see
    /// [`crate::subchannel::Subchannel::token`]).
    pub(crate) fn attach(&self, sid: SubchannelId, devno: u16, mut slot: DevSlot, hot: bool) -> Result<u32, CssError> {
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
        // 0 means "no device": skipped when the counter wraps (after 2^32
        // attaches; a handle kept that long compares against a live token
        // only if exactly 2^32 − 1 attaches happened in between).
        let token = match self.device_tokens.fetch_add(1, Ordering::Relaxed) {
            0 => self.device_tokens.fetch_add(1, Ordering::Relaxed),
            t => t,
        };
        {
            let mut d = sch.dev.lock();
            *d = slot;
            sch.token.store(token, Ordering::Release);
        }
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
        Ok(token)
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
        let old = {
            let mut d = sch.dev.lock();
            sch.token.store(0, Ordering::Release);
            std::mem::replace(&mut *d, DevSlot::Empty)
        };
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
