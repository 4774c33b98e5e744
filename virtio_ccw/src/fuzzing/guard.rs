//! [`Guarded`]: the virtio-ccw device with a check around every call that
//! gives it guest storage (a notification, host input): each store it
//! makes must lie inside what the guest gave it at that moment — a
//! device-writable buffer of a descriptor of a ready queue, a used ring, an
//! indicator ([`VirtioCcwDevice::writable_areas`]). The stores it made are
//! logged for the harness ([`Counters::log`]), which allows them besides
//! the fixed writable areas; everything else the harness checks as usual.

use std::any::Any;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use zcss_ccw::memory::GuestMemory;
use zcss_ccw::{Ccw, CcwDevice, DataStream, DeviceResult};
use zcss_css::device::DeviceWrapper;
use zcss_css::fuzz::DeviceUnderTest;
use zcss_css::observer::RecordingMemory;
use zcss_css::{Device, NotifyResult, DIAG500_EINVAL};

use crate::VirtioCcwDevice;

/// What the guarded devices of a run did, shared by all of them.
#[derive(Debug, Default)]
pub struct Counters {
    /// The stores the devices made and the check allowed, since the log
    /// was last taken (the harness takes it after every step).
    pub log: Arc<Mutex<Vec<Range<u64>>>>,
    /// Per command code, the CCWs the devices ended without unit check.
    pub accepted: Mutex<BTreeMap<u8, usize>>,
    /// Stores the devices made in notifications and host input.
    pub stores: AtomicUsize,
}

impl Counters {
    /// The CCWs of command `cmd` ended without unit check.
    #[must_use]
    pub fn accepted(&self, cmd: u8) -> usize {
        self.accepted.lock().get(&cmd).copied().unwrap_or(0)
    }
}

/// A [`VirtioCcwDevice`] whose stores into guest storage are checked.
pub struct Guarded {
    inner: Box<VirtioCcwDevice>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Guarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Guarded {
    /// Fresh counters for a run.
    #[must_use]
    pub fn counters() -> Arc<Counters> {
        Arc::new(Counters::default())
    }

    /// Guards `device`, counting into `counters`.
    #[must_use]
    pub fn wrap(device: VirtioCcwDevice, counters: &Arc<Counters>) -> Self {
        Self {
            inner: Box::new(device),
            counters: counters.clone(),
        }
    }

    /// Guards a device built elsewhere (e.g. `zcss::machine::Machine::interpreted_device`);
    /// `None` when it is not a [`VirtioCcwDevice`].
    #[must_use]
    pub fn new(device: Box<dyn Device>, counters: &Arc<Counters>) -> Option<Self> {
        let any: Box<dyn Any> = device;
        any.downcast::<VirtioCcwDevice>().ok().map(|inner| Self {
            inner,
            counters: counters.clone(),
        })
    }

    /// A guarded virtio-rng with a constant entropy source (examples, tests).
    #[must_use]
    pub fn rng(counters: &Arc<Counters>) -> Self {
        let rng = crate::Rng::with_source(Some(Box::new(std::io::repeat(0xa5))));
        Self::wrap(VirtioCcwDevice::new(Box::new(rng)), counters)
    }

    /// As the harness's device under test.
    #[must_use]
    pub fn under_test(self) -> DeviceUnderTest {
        DeviceUnderTest::Interpreted(Box::new(self))
    }

    /// Runs `f` on the device with `mem` recorded; panics on a store
    /// outside what the guest gave the device when `f` began.
    fn guarded<R>(
        &mut self,
        mem: &dyn GuestMemory,
        what: &str,
        f: impl FnOnce(&mut VirtioCcwDevice, &dyn GuestMemory) -> R,
    ) -> R {
        let allowed = self.inner.writable_areas(mem);
        let rec = RecordingMemory::new(mem);
        let r = f(&mut self.inner, &rec);
        let mut log = self.counters.log.lock();
        for a in rec.take().into_iter().filter(|a| a.store) {
            let end = a.addr.saturating_add(u64::try_from(a.data.len()).unwrap_or(u64::MAX));
            assert!(
                allowed.iter().any(|r| r.start <= a.addr && end <= r.end),
                "virtio-ccw {what}: the device stored {} bytes at {:#x} outside what the guest gave it {allowed:x?}",
                a.data.len(),
                a.addr
            );
            self.counters.stores.fetch_add(1, Ordering::Relaxed);
            log.push(a.addr..end);
        }
        r
    }
}

impl DeviceWrapper for Guarded {
    type Inner = VirtioCcwDevice;

    fn inner(&self) -> &VirtioCcwDevice {
        &self.inner
    }

    fn inner_mut(&mut self) -> &mut VirtioCcwDevice {
        &mut self.inner
    }

    fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
        let r = self.inner.execute(ccw, data);
        if !r.status.unit_check() {
            *self.counters.accepted.lock().entry(ccw.cmd).or_default() += 1;
        }
        r
    }

    /// The notification, guarded; the result is a cookie (0) or -EINVAL.
    fn notify(&mut self, mem: &dyn GuestMemory, queue: u64, cookie: u64) -> Option<NotifyResult> {
        let r = self.guarded(mem, "notification", |d, m| d.notify(m, queue, cookie));
        assert!(
            matches!(r, Some(0 | DIAG500_EINVAL)),
            "virtio-ccw notification of queue {queue:#x} returned {r:?}"
        );
        r
    }

    fn host_input(&mut self, mem: &dyn GuestMemory, data: &[u8]) -> bool {
        self.guarded(mem, "host input", |d, m| d.host_input(m, data))
    }
}

zcss_css::device_wrapper!(Guarded);
