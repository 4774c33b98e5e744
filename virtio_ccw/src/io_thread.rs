//! Asynchronous queue processing: a virtio-ccw device whose queues are
//! processed on an I/O thread of its own ([`IoThreadDevice`]), so that the
//! CPU issuing the DIAG 0x500 notification returns at once.
//!
//! The notification (virtio 1.x §4.3.3.2 "Guest->Host Notification")
//! checks the queue as the synchronous device does — a queue that does not
//! exist or is not set up answers -EINVAL — marks the queue pending and
//! rings the thread's doorbell; GR2 is 0. The I/O thread takes the pending
//! queues, processes them with the back-end on its own handle on guest
//! storage, puts the buffers into the used ring and raises the indicators
//! and the interruption (unsolicited status or an adapter interruption)
//! from the thread — the same completion path the synchronous device runs
//! on the CPU. Notifications of one queue that arrive while it is pending
//! are one (the thread takes everything available).
//!
//! Channel commands (SET_VQ, WRITE_STATUS, …) run on the CPU thread under
//! the same lock as the I/O thread's work, so a command waits for a batch
//! in progress. The I/O-system reset drops pending notifications; a batch
//! the thread had already taken finds its queue reset and writes nothing.
//! A snapshot ([`Device::save_state`]) first waits for the thread to be
//! idle.
//!
//! [`IoIdle`] tells an embedder (or a trace's `wait`) when every
//! notification so far has been completed.
//!
//! Adaptive polling: after a batch the thread keeps looking for new
//! notifications for [`POLL_WINDOW`] before it sleeps on the doorbell (the
//! idea of QEMU's `aio-poll`, whose default window is 32 µs). While it
//! polls, a notification only marks its queue pending — no wake-up system
//! call — and a stream of notifications is processed without a sleep and
//! wake between batches. The doorbell is never lost: the notifier marks the
//! queue and then reads the polling flag, the thread clears the flag and
//! then reads the pending queues (both sequentially consistent), so one of
//! the two sees the other.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use zcss_ccw::memory::GuestMemory;
use zcss_ccw::{Ccw, CcwDevice, DataStream, DeviceResult, ProgramEnd};
use zcss_css::{Device, DeviceInfo, DeviceState, DeviceStateError, NotifyResult, SubchannelHandle};

use crate::device::queue_bit;
use crate::proxy::{VirtioCcwDevice, EINVAL};

/// How long a snapshot waits for the I/O thread to finish its work.
pub const SNAPSHOT_WAIT: Duration = Duration::from_secs(5);

/// How long the I/O thread polls for new notifications after a batch
/// before it sleeps, and how long [`IoIdle::wait_idle`] polls before it
/// sleeps.
pub const POLL_WINDOW: Duration = Duration::from_micros(32);

/// What the CPU side and the I/O thread share.
#[derive(Debug, Default)]
struct Shared {
    /// Queues notified and not yet taken by the thread (bit `i` = queue `i`).
    pending: AtomicU64,
    /// Queues that are set up (mirrored after every command), checked by
    /// the notification without a lock.
    ready: AtomicU64,
    /// The thread is processing what it took.
    working: AtomicBool,
    /// The thread is polling for notifications (no doorbell needed).
    polling: AtomicBool,
    /// The device is being dropped.
    stop: AtomicBool,
    /// Signalled when the thread finished a batch.
    done: Condvar,
    done_lock: Mutex<()>,
}

impl Shared {
    fn is_idle(&self) -> bool {
        // The thread sets `working` before it takes `pending`: seeing no
        // pending queue and the thread not working means all is done.
        self.pending.load(Ordering::SeqCst) == 0 && !self.working.load(Ordering::SeqCst)
    }
}

/// Tells whether an [`IoThreadDevice`] has completed every notification
/// it accepted. Cloneable, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct IoIdle(Arc<Shared>);

impl IoIdle {
    /// Whether every accepted notification has been completed (used ring
    /// and indicators updated, the interruption made pending).
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.0.is_idle()
    }

    /// Waits up to `timeout` for [`IoIdle::is_idle`]; returns whether it
    /// held in time.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let start = Instant::now();
        let deadline = start + timeout;
        // A batch usually ends within microseconds: poll before sleeping.
        while start.elapsed() < POLL_WINDOW.min(timeout) {
            if self.0.is_idle() {
                return true;
            }
            std::hint::spin_loop();
        }
        let mut g = self.0.done_lock.lock();
        while !self.0.is_idle() {
            if self.0.done.wait_until(&mut g, deadline).timed_out() {
                return self.0.is_idle();
            }
        }
        true
    }
}

/// A [`VirtioCcwDevice`] whose queues are processed on an I/O thread (see
/// the [module documentation](self)).
pub struct IoThreadDevice {
    dev: Arc<Mutex<VirtioCcwDevice>>,
    shared: Arc<Shared>,
    doorbell: crossbeam_channel::Sender<()>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for IoThreadDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoThreadDevice")
            .field("pending", &self.shared.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl IoThreadDevice {
    /// Puts `dev` on an I/O thread that reaches guest storage through
    /// `mem`.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn new(dev: VirtioCcwDevice, mem: Arc<dyn GuestMemory>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let dev = Arc::new(Mutex::new(dev));
        let (doorbell, rx) = crossbeam_channel::bounded::<()>(1);
        let (s, d) = (Arc::clone(&shared), Arc::clone(&dev));
        let worker = std::thread::Builder::new()
            .name("virtio-io".into())
            .spawn(move || run(&s, &d, &*mem, &rx))?;
        let me = Self {
            dev,
            shared,
            doorbell,
            worker: Some(worker),
        };
        me.sync_ready(&me.dev.lock());
        Ok(me)
    }

    /// The idle indicator of this device.
    #[must_use]
    pub fn idle(&self) -> IoIdle {
        IoIdle(Arc::clone(&self.shared))
    }

    /// Runs `f` on the device (waits for a batch in progress).
    pub fn with_device<R>(&self, f: impl FnOnce(&mut VirtioCcwDevice) -> R) -> R {
        let mut d = self.dev.lock();
        let r = f(&mut d);
        self.sync_ready(&d);
        r
    }

    /// Mirrors which queues are set up (after anything that may change it).
    fn sync_ready(&self, d: &VirtioCcwDevice) {
        let mut mask = 0;
        let mut i = 0;
        while let Some(q) = d.queue(i) {
            if q.ready() {
                mask |= queue_bit(i);
            }
            i += 1;
        }
        self.shared.ready.store(mask, Ordering::SeqCst);
    }
}

/// The I/O thread: waits for the doorbell, takes the pending queues and
/// processes them.
fn run(s: &Shared, dev: &Mutex<VirtioCcwDevice>, mem: &dyn GuestMemory, rx: &crossbeam_channel::Receiver<()>) {
    while rx.recv().is_ok() {
        loop {
            if s.stop.load(Ordering::SeqCst) {
                return;
            }
            s.working.store(true, Ordering::SeqCst);
            loop {
                let bits = s.pending.swap(0, Ordering::SeqCst);
                if bits == 0 {
                    break;
                }
                let mut d = dev.lock();
                for q in (0..64u64).filter(|q| bits & (1 << q) != 0) {
                    let _ = d.notify_queue(mem, q);
                }
            }
            s.working.store(false, Ordering::SeqCst);
            {
                let _g = s.done_lock.lock();
                s.done.notify_all();
            }
            if !poll(s) {
                break;
            }
        }
    }
}

/// Polls for a notification for up to [`POLL_WINDOW`]; whether one came.
/// On `false` the polling flag is down and nothing is pending: a later
/// notification rings the doorbell.
fn poll(s: &Shared) -> bool {
    s.polling.store(true, Ordering::SeqCst);
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        if s.pending.load(Ordering::SeqCst) != 0 || s.stop.load(Ordering::SeqCst) {
            s.polling.store(false, Ordering::SeqCst);
            return true;
        }
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins % 64 == 0 && start.elapsed() >= POLL_WINDOW {
            break;
        }
    }
    s.polling.store(false, Ordering::SeqCst);
    // A notifier that saw the flag up rang no doorbell: look once more.
    s.pending.load(Ordering::SeqCst) != 0
}

impl Drop for IoThreadDevice {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.doorbell.try_send(());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl CcwDevice for IoThreadDevice {
    fn program_start(&mut self, lpum: u8) {
        self.dev.lock().program_start(lpum);
    }

    fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
        let mut d = self.dev.lock();
        let r = d.execute(ccw, data);
        self.sync_ready(&d);
        r
    }

    fn program_end(&mut self, how: ProgramEnd) {
        self.dev.lock().program_end(how);
    }
}

impl Device for IoThreadDevice {
    fn info(&self) -> DeviceInfo {
        self.dev.lock().info()
    }

    fn attached(&mut self, handle: SubchannelHandle) {
        self.dev.lock().attached(handle);
    }

    fn subchannel_reset(&mut self) {
        self.with_device(|d| d.subchannel_reset());
    }

    fn subchannel_disabled(&mut self) {
        self.with_device(|d| d.subchannel_disabled());
    }

    /// The virtio device reset; notifications not yet taken are dropped.
    fn io_system_reset(&mut self) {
        let mut d = self.dev.lock();
        self.shared.pending.store(0, Ordering::SeqCst);
        d.io_system_reset();
        self.sync_ready(&d);
    }

    /// Accepts the notification for the I/O thread: -EINVAL for a queue
    /// that does not exist or is not set up, 0 otherwise.
    fn notify(&mut self, _mem: &dyn GuestMemory, queue: u64, _cookie: u64) -> Option<NotifyResult> {
        let bit = u32::try_from(queue).ok().and_then(|q| 1u64.checked_shl(q)).unwrap_or(0);
        if bit == 0 || self.shared.ready.load(Ordering::SeqCst) & bit == 0 {
            return Some(-EINVAL);
        }
        self.shared.pending.fetch_or(bit, Ordering::SeqCst);
        // A polling thread sees the pending queue without a wake-up; a full
        // doorbell already wakes the thread, which takes every pending
        // queue.
        if !self.shared.polling.load(Ordering::SeqCst) {
            let _ = self.doorbell.try_send(());
        }
        Some(0)
    }

    /// Waits for the I/O thread to be idle, then saves the device as the
    /// synchronous one does (the same state: a snapshot does not record
    /// the mode).
    fn save_state(&mut self) -> Result<DeviceState, DeviceStateError> {
        if !self.idle().wait_idle(SNAPSHOT_WAIT) {
            return Err(DeviceStateError::Unsupported(
                "the I/O thread did not finish its requests".into(),
            ));
        }
        self.dev.lock().save_state()
    }

    fn restore_state(&mut self, state: &DeviceState) -> Result<(), DeviceStateError> {
        let mut d = self.dev.lock();
        self.shared.pending.store(0, Ordering::SeqCst);
        let r = d.restore_state(state);
        self.sync_ready(&d);
        r
    }
}

#[cfg(test)]
#[path = "io_thread_tests.rs"]
mod tests;
