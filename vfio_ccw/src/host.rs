//! The host side of a passthrough device, behind one trait: what user space
//! (QEMU's `hw/vfio/ccw.c`, here [`crate::VfioCcw`]) can do with an open
//! vfio-ccw device — write and read its regions and wait for its
//! interrupts.
//!
//! Two backends implement [`HostBackend`]: the Linux one
//! ([`crate::linux::LinuxHost`], `/dev/vfio`, where the kernel translates
//! the channel program) and the simulated host ([`crate::sim::SimHost`],
//! which plays the kernel and the host's channel subsystem).

use std::sync::Arc;

use zcss_ccw::memory::GuestMemory;
use zcss_ccw::schib::Schib;
use zcss_ccw::sid::SubchannelId;
use zcss_css::DeviceInfo;

use crate::uapi::{Errno, IoRegion};

/// Identity of the host subchannel a backend drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostDevice {
    /// The host subchannel: its cssid is the device's real css image.
    pub sid: SubchannelId,
    /// The host device number.
    pub devno: u16,
    /// Control-unit and device type, and the channel paths with their
    /// types (QEMU reads them from the host's sysfs).
    pub info: DeviceInfo,
}

/// What a backend's eventfds signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostIrq {
    /// I/O interruption: an IRB waits in the I/O region.
    Io,
    /// Channel reports wait in the CRW region.
    Crw,
    /// The host asks for the device back.
    Req,
}

/// Why reading a region failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum RegionReadError {
    /// The read failed with this errno.
    #[error("region read failed: {0}")]
    Errno(Errno),
    /// The read returned fewer bytes than the region holds.
    #[error("short region read: {0} bytes")]
    Short(usize),
}

/// An open vfio-ccw device, as user space sees it. Methods take `&self`:
/// the regions of a device are independent files offsets that several
/// threads use at once (the interrupt worker reads the I/O region while a
/// CPU thread writes the command region), as with the kernel.
pub trait HostBackend: Send + Sync {
    /// The host subchannel.
    fn device(&self) -> HostDevice;

    /// Writes the I/O region (a start request: ORB and SCSW). `Ok` when the
    /// whole region was written, otherwise the errno (a short write without
    /// one is `EFAULT`, QEMU d6cd66311f).
    ///
    /// # Errors
    /// The request's errno: `EAGAIN` (try again), `EBUSY`, `ENODEV`,
    /// `EACCES`, or any other failure.
    fn write_io(&self, region: &IoRegion) -> Result<(), Errno>;

    /// Reads the I/O region (after an I/O interrupt).
    ///
    /// # Errors
    /// The read's errno or a short read.
    fn read_io(&self) -> Result<IoRegion, RegionReadError>;

    /// Writes `command` to the asynchronous command region; `None` when the
    /// device has no such region.
    fn write_cmd(&self, command: u32) -> Option<Result<(), Errno>>;

    /// Reads the SCHIB region (a STORE SUBCHANNEL of the host subchannel);
    /// `None` when the device has no such region.
    fn read_schib(&self) -> Option<Result<Schib, Errno>>;

    /// Reads the CRW region: one channel-report word, 0 when none is left;
    /// `None` when the device has no such region.
    fn read_crw(&self) -> Option<Result<u32, Errno>>;

    /// The receiver of the device's interrupts (one message per eventfd
    /// signal).
    fn irqs(&self) -> crossbeam_channel::Receiver<HostIrq>;

    /// The guest's PMCW now asks for concurrent sense (`on`) or not (MSCH):
    /// a host that can mirrors it onto the host subchannel, so that the
    /// status it stores is the status the guest's subchannel would store
    /// (with concurrent sense off, no ECW and SCSW L and E zero). The
    /// Linux uAPI has no such request — the host's cio decides the host
    /// subchannel's PMCW — so the default does nothing.
    ///
    /// # Errors
    /// The host subchannel could not be modified.
    fn set_concurrent_sense(&self, _on: bool) -> Result<(), Errno> {
        Ok(())
    }

    /// Resets the device (`VFIO_DEVICE_RESET`: the kernel quiesces the
    /// host subchannel — clearing it when busy — and enables it again);
    /// `None` when the backend cannot reset. What the guest's I/O-system
    /// reset asks of a passthrough device ([`crate::VfioCcw`]).
    ///
    /// # Errors
    /// The reset failed.
    fn reset(&self) -> Option<Result<(), Errno>> {
        None
    }

    /// Guest storage as the backend maps it for the device, if it holds
    /// it: what an IPL's firmware steps read and change between the
    /// pieces of the load program ([`crate::ipl`]). The Linux backend maps
    /// raw ranges and has none; see [`crate::VfioCcw::with_guest_memory`].
    fn guest_memory(&self) -> Option<Arc<dyn GuestMemory>> {
        None
    }
}
