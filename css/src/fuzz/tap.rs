//! The wrapper the harness puts around an interpreted device: it counts
//! the CCWs the device executes (the work bound) and keeps the subchannel
//! handle the css gives it (for unsolicited status); everything else goes
//! to the device unchanged.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use zcss_ccw::memory::GuestMemory;
use zcss_ccw::{Ccw, CcwDevice, DataStream, DeviceResult, ProgramEnd};

use crate::device::{DeviceInfo, SubchannelHandle};
use crate::{Device, DeviceState, DeviceStateError, NotifyResult};

/// Counts CCWs and taps the handle; forwards every [`Device`] method.
pub(super) struct Tap {
    pub(super) inner: Box<dyn Device>,
    pub(super) ccws: Arc<AtomicUsize>,
    pub(super) handle: Arc<Mutex<Option<SubchannelHandle>>>,
}

impl CcwDevice for Tap {
    fn program_start(&mut self, lpum: u8) {
        self.inner.program_start(lpum);
    }

    fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
        self.ccws.fetch_add(1, Ordering::Relaxed);
        self.inner.execute(ccw, data)
    }

    fn program_end(&mut self, how: ProgramEnd) {
        self.inner.program_end(how);
    }
}

impl Device for Tap {
    fn info(&self) -> DeviceInfo {
        self.inner.info()
    }

    fn attached(&mut self, handle: SubchannelHandle) {
        *self.handle.lock() = Some(handle.clone());
        self.inner.attached(handle);
    }

    fn subchannel_reset(&mut self) {
        self.inner.subchannel_reset();
    }

    fn subchannel_disabled(&mut self) {
        self.inner.subchannel_disabled();
    }

    fn io_system_reset(&mut self) {
        self.inner.io_system_reset();
    }

    fn save_state(&mut self) -> Result<DeviceState, DeviceStateError> {
        self.inner.save_state()
    }

    fn restore_state(&mut self, state: &DeviceState) -> Result<(), DeviceStateError> {
        self.inner.restore_state(state)
    }

    fn notify(&mut self, mem: &dyn GuestMemory, queue: u64, cookie: u64) -> Option<NotifyResult> {
        self.inner.notify(mem, queue, cookie)
    }

    fn host_input(&mut self, mem: &dyn GuestMemory, data: &[u8]) -> bool {
        self.inner.host_input(mem, data)
    }
}
