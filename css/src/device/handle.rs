//! Typed access to an attached device: the embedder attached a concrete
//! device (a virtio-ccw proxy, a DASD) and reaches it again by its type —
//! to poll it, read its status, or look at a disk image — without keeping
//! a second reference to it.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Weak;

use zcss_ccw::sid::SubchannelId;

use crate::css::Shared;
use crate::device::Device;

/// A typed handle on a device attached at a subchannel, returned by
/// [`crate::Css::attach_device`] (or made by
/// [`crate::Css::device_handle`]). It reaches only the device it was made
/// for: after a detach (or a detach and another attach at the same
/// subchannel) [`DeviceHandle::with`] returns `None`. It does not keep the
/// channel subsystem alive.
///
/// What `f` makes the device do is not an instruction or host event, so an
/// observer (a trace recorder) does not hear of it: deliver input with
/// [`crate::Css::device_input`] when recording.
pub struct DeviceHandle<T> {
    sh: Weak<Shared>,
    sid: SubchannelId,
    token: u32,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for DeviceHandle<T> {
    fn clone(&self) -> Self {
        Self {
            sh: self.sh.clone(),
            sid: self.sid,
            token: self.token,
            _type: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for DeviceHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceHandle")
            .field("sid", &self.sid)
            .field("type", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

impl<T: Device> DeviceHandle<T> {
    pub(crate) fn new(sh: Weak<Shared>, sid: SubchannelId, token: u32) -> Self {
        Self {
            sh,
            sid,
            token,
            _type: PhantomData,
        }
    }

    /// The subchannel the device is attached at.
    #[must_use]
    pub fn sid(&self) -> SubchannelId {
        self.sid
    }

    /// Runs `f` on the device, with the subchannel's device lock held (as
    /// the css holds it while it runs a channel program there). `f` must
    /// not issue I/O instructions or host events: one to this subchannel
    /// waits for the lock `f` holds, and with an observer registered any
    /// of them waits for the instruction in progress, which may wait for
    /// this device. `None` when the device is no longer attached or the
    /// channel subsystem is gone.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let sh = self.sh.upgrade()?;
        let sch = sh.tables.get(self.sid)?;
        let mut slot = sch.dev.lock();
        if sch.token.load(Ordering::Acquire) != self.token {
            return None;
        }
        let dev: &mut dyn Any = slot.device_mut()?;
        dev.downcast_mut::<T>().map(f)
    }

    /// Whether the device is still attached.
    #[must_use]
    pub fn is_attached(&self) -> bool {
        self.sh
            .upgrade()
            .and_then(|sh| {
                sh.tables
                    .get(self.sid)
                    .map(|s| s.token.load(Ordering::Acquire) == self.token)
            })
            .unwrap_or(false)
    }
}
