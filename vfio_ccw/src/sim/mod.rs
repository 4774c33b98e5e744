//! The simulated host: an s390 host's channel subsystem and its Linux
//! vfio-ccw driver, so that passthrough runs end to end without s390
//! hardware.
//!
//! * The host's channel subsystem is a [`Css`] of its own with real css
//!   images 0–3 (MCSS-E and MSS on, as a host sees them); devices sit on
//!   host subchannels ([`SimHost::add_device`], any [`Device`]: an emulated
//!   DASD, a test device).
//! * Opening a device ([`SimHost::open`]) plays the kernel's side of the
//!   mediated device: the host subchannel is enabled on ISC 3 with
//!   concurrent sense, a 2 MiB kernel area (31-bit) holds the translated
//!   program, and guest storage is mapped behind [`GUEST_WINDOW`] (the
//!   IOMMU, IOVA = guest absolute address). The returned [`SimBackend`] is
//!   a [`HostBackend`](crate::HostBackend).
//! * An I/O-region write runs the state machine ([`crate::fsm`]), the
//!   translator ([`crate::cp`]) and START SUBCHANNEL on the host
//!   subchannel. The program runs on the device's *channel thread*; the
//!   write returns once the host channel subsystem has accepted it (the
//!   device was selected) or answered with a condition code, so a HALT or
//!   CLEAR through the command region overtakes a running program as on a
//!   real channel.
//! * A host interrupt thread takes the host css's I/O interruptions, tests
//!   the subchannel, translates the CCW address back, and signals the IRB
//!   on the device's I/O interrupt (IRBs are queued until user space reads
//!   them; the kernel keeps only the last one, which a user that reads
//!   after every signal cannot tell apart).
//! * Channel-path events ([`SimHost::chp_event`]) change the paths of every
//!   open device on the CHPID and queue the CRWs vfio-ccw queues
//!   (`vfio_ccw_chp_event`).

mod device;
mod view;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use zcss_ccw::crw::{erc, rsc, Crw};
use zcss_ccw::memory::GuestMemory;
use zcss_ccw::sid::SubchannelId;
use zcss_css::{Css, CssConfig, CssError, Device, DeviceInfo, IoCtx, Wake};

pub use device::SimBackend;
use device::{Gate, Gated, SimDevice};
pub use view::{GuestDma, HostView, GUEST_WINDOW, KERNEL_AREA};

use crate::host::HostDevice;
use crate::uapi::Errno;

/// Host address of the first device kernel area.
const KERNEL_BASE: u64 = 0x0100_0000;
/// Kernel areas available (all below 2 GiB).
const KERNEL_SLOTS: usize = 256;

/// Why the simulated host refused a request.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A host subchannel lies in css image 0–3.
    #[error("css image {0:#x} is not a real css image (0-3)")]
    NotRealCss(u8),
    /// The host css refused the device.
    #[error(transparent)]
    Css(#[from] CssError),
    /// No device on that host subchannel.
    #[error("no device on host subchannel {0}")]
    NoDevice(SubchannelId),
    /// The device is already open.
    #[error("host subchannel {0} is already open")]
    AlreadyOpen(SubchannelId),
    /// Every kernel area is in use.
    #[error("no kernel memory left for another device")]
    NoKernelArea,
    /// Opening failed in the driver.
    #[error("open failed: {0}")]
    Open(Errno),
}

/// A channel-path event of the host (Linux `enum chp_event` as
/// `vfio_ccw_chp_event` handles it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChpEvent {
    /// The path came online: a channel-path CRW (ERC initialized).
    Online,
    /// The path went offline: a channel-path CRW (ERC permanent error, not
    /// initialized); a program using it is halted.
    Offline,
    /// The host varied the path online (logical path mask; no CRW).
    VaryOn,
    /// The host varied the path offline (no CRW); a program using it is
    /// halted.
    VaryOff,
}

/// A device on a host subchannel: its gate, device number and identity.
type HostSlot = (Arc<Gate>, u16, DeviceInfo);

/// Host devices and open devices.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// Devices on host subchannels: their gate, device number and identity.
    devices: Mutex<HashMap<SubchannelId, HostSlot>>,
    /// Open devices by subchannel-identification word.
    open: Mutex<HashMap<u32, Arc<SimDevice>>>,
    /// Kernel areas in use.
    slots: Mutex<Vec<Option<u32>>>,
}

impl Registry {
    /// Forgets an open device and frees its kernel area.
    fn close(&self, gr1: u32) {
        self.open.lock().remove(&gr1);
        for s in self.slots.lock().iter_mut() {
            if *s == Some(gr1) {
                *s = None;
            }
        }
    }
}

/// The simulated host (see the [module documentation](self)).
pub struct SimHost {
    css: Css,
    registry: Arc<Registry>,
    stop: Option<crossbeam_channel::Sender<()>>,
    irq_thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SimHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHost")
            .field("css", &self.css)
            .finish_non_exhaustive()
    }
}

impl Default for SimHost {
    fn default() -> Self {
        Self::new()
    }
}

impl SimHost {
    /// A host with an empty channel subsystem (css images 0–3, MCSS-E and
    /// MSS enabled) and its interrupt thread.
    #[must_use]
    pub fn new() -> Self {
        let css = Css::new(CssConfig {
            default_cssid: 0,
            mcss: true,
            mss: true,
            ..CssConfig::default()
        });
        let registry = Arc::new(Registry {
            slots: Mutex::new(vec![None; KERNEL_SLOTS]),
            ..Registry::default()
        });
        let (wake_tx, wake_rx) = crossbeam_channel::unbounded::<Wake>();
        css.set_waker_channel(wake_tx);
        let (stop, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let irq_thread = {
            let css = css.clone();
            let registry = Arc::clone(&registry);
            std::thread::Builder::new()
                .name("sim-host-irq".into())
                .spawn(move || loop {
                    crossbeam_channel::select! {
                        recv(wake_rx) -> w => {
                            if w.is_err() {
                                return;
                            }
                            while let Some(code) = css.next_interrupt(0xff) {
                                let dev = registry.open.lock().get(&code.sid).cloned();
                                match dev {
                                    Some(d) => d.interrupt(),
                                    None => tracing::debug!(sid = code.sid, "host interruption of a closed device"),
                                }
                            }
                        }
                        recv(stop_rx) -> _ => return,
                    }
                })
                .ok()
        };
        Self {
            css,
            registry,
            stop: Some(stop),
            irq_thread,
        }
    }

    /// The host's channel subsystem.
    #[must_use]
    pub fn css(&self) -> &Css {
        &self.css
    }

    /// Places `dev` on host subchannel `sid` (css image 0–3) with device
    /// number `devno`; its channel paths are installed in that image.
    ///
    /// # Errors
    /// A css image other than 0–3, or the host css's refusal.
    pub fn add_device(&self, sid: SubchannelId, devno: u16, dev: Box<dyn Device>) -> Result<(), SimError> {
        if sid.cssid > 3 {
            return Err(SimError::NotRealCss(sid.cssid));
        }
        let info = dev.info();
        let gate = Arc::new(Gate::default());
        self.css.attach_cold(
            sid,
            devno,
            Box::new(Gated {
                inner: dev,
                gate: Arc::clone(&gate),
            }),
        )?;
        self.registry.devices.lock().insert(sid, (gate, devno, info));
        Ok(())
    }

    /// Identity of the device on host subchannel `sid`.
    #[must_use]
    pub fn device(&self, sid: SubchannelId) -> Option<HostDevice> {
        self.registry
            .devices
            .lock()
            .get(&sid)
            .map(|&(_, devno, info)| HostDevice { sid, devno, info })
    }

    /// Opens the device on `sid` for a guest whose storage is `guest` (the
    /// whole storage is mapped for the device's DMA).
    ///
    /// # Errors
    /// No such device, already open, no kernel area left, or the host
    /// subchannel could not be enabled.
    pub fn open(&self, sid: SubchannelId, guest: Arc<dyn GuestMemory>) -> Result<SimBackend, SimError> {
        let (gate, devno, info) = self
            .registry
            .devices
            .lock()
            .get(&sid)
            .cloned()
            .ok_or(SimError::NoDevice(sid))?;
        let gr1 = sid.to_word(true);
        let mut open = self.registry.open.lock();
        if open.contains_key(&gr1) {
            return Err(SimError::AlreadyOpen(sid));
        }
        let slot = {
            let mut slots = self.registry.slots.lock();
            let i = slots.iter().position(Option::is_none).ok_or(SimError::NoKernelArea)?;
            slots[i] = Some(gr1);
            i
        };
        let base = KERNEL_BASE + slot as u64 * KERNEL_AREA;
        let view = Arc::new(HostView::new(base, guest));
        let host = HostDevice { sid, devno, info };
        match SimDevice::open(host, self.css.clone(), view, gate) {
            Ok(dev) => {
                open.insert(gr1, Arc::clone(&dev));
                Ok(SimBackend(dev, Arc::clone(&self.registry)))
            }
            Err(e) => {
                self.registry.slots.lock()[slot] = None;
                Err(SimError::Open(e))
            }
        }
    }

    /// A channel-path event on CHPID `chpid` of css image `cssid`: every
    /// open device on it is affected as `vfio_ccw_chp_event` does. Returns
    /// how many devices were.
    pub fn chp_event(&self, cssid: u8, chpid: u8, ev: ChpEvent) -> usize {
        let devs: Vec<Arc<SimDevice>> = self
            .registry
            .open
            .lock()
            .values()
            .filter(|d| d.host.sid.cssid == cssid)
            .cloned()
            .collect();
        let mut n = 0;
        for d in devs {
            let Some((mask, _, _)) = d.host.info.paths.iter().find(|&(_, c, _)| c == chpid) else {
                continue;
            };
            n += 1;
            let lpum = d.stsch().map_or(0, |s| s.pmcw.lpum);
            let mut st = d.io.lock();
            let in_use = lpum & mask != 0 && st.fsm == crate::fsm::State::CpPending;
            match ev {
                ChpEvent::Offline => {
                    st.offline |= mask;
                    st.crws.push_back(
                        Crw::report(rsc::CHANNEL_PATH, erc::PERM_ERROR_NOT_INIT, u16::from(chpid)).into_bits(),
                    );
                }
                ChpEvent::Online => {
                    st.offline &= !mask;
                    st.lpm |= mask;
                    st.crws
                        .push_back(Crw::report(rsc::CHANNEL_PATH, erc::INIT, u16::from(chpid)).into_bits());
                }
                ChpEvent::VaryOff => st.lpm &= !mask,
                ChpEvent::VaryOn => st.lpm |= mask,
            }
            let offline = st.offline;
            let crw = matches!(ev, ChpEvent::Offline | ChpEvent::Online);
            drop(st);
            if matches!(ev, ChpEvent::Offline | ChpEvent::Online) {
                let _ = d.modify(|s| s.pmcw.pom = !offline);
            }
            if in_use && matches!(ev, ChpEvent::Offline | ChpEvent::VaryOff) {
                // cio_cancel_halt_clear: the program cannot be cancelled
                // once active; halt it.
                let ctx = IoCtx::new(&*d.view);
                let _ = self.css.hsch(&ctx, d.gr1);
            }
            if crw {
                d.signal_crw();
            }
        }
        n
    }

    /// Signals a removal request for the open device on `sid`.
    pub fn request_removal(&self, sid: SubchannelId) -> bool {
        let dev = self.registry.open.lock().get(&sid.to_word(true)).cloned();
        dev.is_some_and(|d| {
            d.request_removal();
            true
        })
    }

    /// Queues `crw` on the open device on `sid` and signals it.
    pub fn queue_crw(&self, sid: SubchannelId, crw: Crw) -> bool {
        let dev = self.registry.open.lock().get(&sid.to_word(true)).cloned();
        dev.is_some_and(|d| {
            d.queue_crw(crw);
            true
        })
    }
}

impl Drop for SimHost {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(t) = self.irq_thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests;
