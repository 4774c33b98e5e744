//! The wrapper the harness puts around an interpreted device: it counts
//! the CCWs the device executes (the work bound) and keeps the subchannel
//! handle the css gives it; everything else goes to the device unchanged
//! ([`DeviceWrapper`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use zcss_ccw::{Ccw, DataStream, DeviceResult};

use crate::device::{DeviceWrapper, SubchannelHandle};
use crate::Device;

/// Counts CCWs and taps the handle.
pub(super) struct Tap {
    pub(super) inner: Box<dyn Device>,
    pub(super) ccws: Arc<AtomicUsize>,
    pub(super) handle: Arc<Mutex<Option<SubchannelHandle>>>,
}

impl DeviceWrapper for Tap {
    type Inner = dyn Device;

    fn inner(&self) -> &dyn Device {
        &*self.inner
    }

    fn inner_mut(&mut self) -> &mut dyn Device {
        &mut *self.inner
    }

    fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
        self.ccws.fetch_add(1, Ordering::Relaxed);
        self.inner.execute(ccw, data)
    }

    fn attached(&mut self, handle: SubchannelHandle) {
        *self.handle.lock() = Some(handle.clone());
        self.inner.attached(handle);
    }
}

crate::device_wrapper!(Tap);
