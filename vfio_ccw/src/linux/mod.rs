//! The Linux backend: a vfio-ccw mediated device opened through
//! `/dev/vfio` (Linux `Documentation/driver-api/vfio.rst`,
//! `Documentation/arch/s390/vfio-ccw.rst`).
//!
//! Opening follows the VFIO sequence: the container (`/dev/vfio/vfio`,
//! API version, the type-1 IOMMU extension), the group (viable, attached
//! to the container), the IOMMU type, a DMA mapping of guest storage
//! (IOVA = guest absolute address, so the kernel reads the guest's
//! channel program through it), the device fd, its regions (the I/O
//! region at index 0; the command, SCHIB and CRW regions found by their
//! `VFIO_REGION_INFO_CAP_TYPE` capability) and its interrupts (I/O, CRW,
//! REQ through eventfds; a missing CRW or REQ interrupt is tolerated, QEMU
//! 6178d4689a). A poller thread turns eventfd signals into [`HostIrq`]
//! messages.
//!
//! Here the **kernel** translates the channel program: the backend writes
//! the guest's ORB and SCSW into the I/O region as they are.
//!
//! Everything the backend asks of the kernel goes through [`VfioKernel`]:
//! [`SysKernel`] makes the system calls (Linux only), the fake kernel of
//! the tests checks every ioctl and region access.

#[cfg(any(test, feature = "test-utils"))]
pub mod fake;
pub mod kernel;
#[cfg(target_os = "linux")]
mod sys;

use std::ffi::CString;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use vfio_bindings::bindings::vfio::{
    vfio_device_info, vfio_group_status, vfio_iommu_type1_dma_map, vfio_iommu_type1_dma_unmap, vfio_irq_info,
    VFIO_API_VERSION, VFIO_DEVICE_FLAGS_CCW, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, VFIO_GROUP_FLAGS_VIABLE,
    VFIO_IRQ_INFO_EVENTFD, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_DATA_EVENTFD, VFIO_REGION_INFO_CAP_TYPE,
    VFIO_REGION_INFO_FLAG_CAPS, VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE, VFIO_TYPE1_IOMMU,
};
use zcss_ccw::schib::Schib;

use crate::host::{HostBackend, HostDevice, HostIrq, RegionReadError};
use crate::uapi::{
    CmdRegion, CrwRegion, Errno, IoRegion, IrqIndex, RegionSubtype, SchibRegion, CONFIG_REGION_INDEX, REGION_TYPE_CCW,
};
pub use kernel::{Fd, Ioctl, IrqSetEventfd, VfioKernel};
#[cfg(target_os = "linux")]
pub use sys::SysKernel;

/// Why opening a vfio-ccw device failed.
#[derive(Debug, thiserror::Error)]
pub enum LinuxError {
    /// A file could not be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// An ioctl failed.
    #[error("{what} failed: {source}")]
    Ioctl {
        /// The request.
        what: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The container speaks another VFIO API version.
    #[error("VFIO API version {0}, expected 0")]
    ApiVersion(i32),
    /// The container has no type-1 IOMMU.
    #[error("the container offers no type-1 IOMMU")]
    NoType1Iommu,
    /// The group is not viable (not all its devices are bound to VFIO).
    #[error("the VFIO group is not viable")]
    GroupNotViable,
    /// The device name contains a NUL byte.
    #[error("bad device name")]
    BadName,
    /// The device is not a vfio-ccw device.
    #[error("not a vfio-ccw device (flags {0:#x})")]
    NotCcw(u32),
    /// The I/O region is missing, too small or not read-write.
    #[error("the I/O region is unusable (size {size}, flags {flags:#x})")]
    IoRegion {
        /// Its size.
        size: u64,
        /// Its flags.
        flags: u32,
    },
    /// The region-info capability chain is malformed.
    #[error("region {0}: malformed capability chain")]
    Capabilities(u32),
    /// The I/O interrupt is missing or not an eventfd interrupt.
    #[error("interrupt index {0} is unusable")]
    Irq(u32),
    /// The interrupt poller thread could not be started.
    #[error("cannot start the interrupt poller: {0}")]
    Thread(#[source] io::Error),
}

/// Where `/dev/vfio` puts the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxConfig {
    /// The container device (normally `/dev/vfio/vfio`).
    pub container: PathBuf,
    /// The group device (`/dev/vfio/<group>`).
    pub group: PathBuf,
    /// The mediated device's name in the group (its UUID).
    pub device: String,
    /// The host subchannel, device number, types and channel paths (from
    /// the host's sysfs, as QEMU reads them).
    pub host: HostDevice,
}

/// A range of guest storage mapped for the device's DMA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DmaRange {
    /// Guest absolute address (the IOVA).
    pub iova: u64,
    /// Host virtual address of the first byte.
    pub vaddr: u64,
    /// Length in bytes (page multiple).
    pub size: u64,
}

/// A region's place in the device file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RegionLoc {
    offset: u64,
    size: u64,
}

/// What `VFIO_DEVICE_GET_REGION_INFO` told about a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RegionInfo {
    flags: u32,
    size: u64,
    offset: u64,
    /// `(type, subtype)` of a `VFIO_REGION_INFO_CAP_TYPE` capability.
    cap_type: Option<(u32, u32)>,
}

/// Size of `struct vfio_region_info`.
const REGION_INFO_LEN: usize = 32;

fn get_u32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off.checked_add(4)?)?.try_into().ok()?))
}

fn get_u16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(off..off.checked_add(2)?)?.try_into().ok()?))
}

fn get_u64(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(off..off.checked_add(8)?)?.try_into().ok()?))
}

/// The bytes of a doubleword buffer.
fn words_to_bytes(w: &[u64]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

/// A zeroed region-info buffer of `len` bytes (rounded up to doublewords)
/// with `argsz` and `index` set.
fn region_info_buf(len: usize, index: u32) -> Vec<u64> {
    let words = len.div_ceil(8);
    let mut b = vec![0u8; words * 8];
    let argsz = u32::try_from(words * 8).unwrap_or(u32::MAX);
    b[0..4].copy_from_slice(&argsz.to_ne_bytes());
    b[8..12].copy_from_slice(&index.to_ne_bytes());
    b.chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8])))
        .collect()
}

/// Parses a region-info answer, following the capability chain.
fn parse_region_info(index: u32, b: &[u8]) -> Result<RegionInfo, LinuxError> {
    let bad = || LinuxError::Capabilities(index);
    let flags = get_u32(b, 4).ok_or_else(bad)?;
    let mut info = RegionInfo {
        flags,
        size: get_u64(b, 16).ok_or_else(bad)?,
        offset: get_u64(b, 24).ok_or_else(bad)?,
        cap_type: None,
    };
    if flags & VFIO_REGION_INFO_FLAG_CAPS == 0 {
        return Ok(info);
    }
    let mut off = usize::try_from(get_u32(b, 12).ok_or_else(bad)?).map_err(|_| bad())?;
    // Each capability is at least a header; a chain longer than the buffer
    // allows is a loop.
    let mut budget = b.len() / 8 + 1;
    while off != 0 {
        if off < REGION_INFO_LEN || budget == 0 {
            return Err(bad());
        }
        budget -= 1;
        let id = get_u16(b, off).ok_or_else(bad)?;
        let next = get_u32(b, off + 4).ok_or_else(bad)?;
        if u32::from(id) == VFIO_REGION_INFO_CAP_TYPE {
            let t = get_u32(b, off + 8).ok_or_else(bad)?;
            let s = get_u32(b, off + 12).ok_or_else(bad)?;
            info.cap_type = Some((t, s));
        }
        off = usize::try_from(next).map_err(|_| bad())?;
    }
    Ok(info)
}

/// An open vfio-ccw device on a Linux host. Dropping it unsets the
/// interrupts, closes the device, unmaps the DMA ranges and releases the
/// group and container.
pub struct LinuxHost {
    kernel: Arc<dyn VfioKernel>,
    host: HostDevice,
    container: Fd,
    group: Fd,
    device: Fd,
    dma: Vec<DmaRange>,
    io: RegionLoc,
    cmd: Option<RegionLoc>,
    schib: Option<RegionLoc>,
    crw: Option<RegionLoc>,
    /// eventfds of the I/O, CRW and REQ interrupts (those the device has).
    irq_fds: [Option<Fd>; 3],
    stop_fd: Fd,
    irq_rx: crossbeam_channel::Receiver<HostIrq>,
    poller: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for LinuxHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxHost")
            .field("host", &self.host)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// Descriptors opened so far, closed on an error (and by `Drop` once the
/// device is complete).
struct Opened<'k> {
    kernel: &'k dyn VfioKernel,
    fds: Vec<Fd>,
}

impl Drop for Opened<'_> {
    fn drop(&mut self) {
        for &fd in self.fds.iter().rev() {
            self.kernel.close(fd);
        }
    }
}

impl LinuxHost {
    /// Opens the device of `cfg` and maps `dma` for it.
    ///
    /// # Safety
    /// Every range of `dma` must be guest storage that the embedder keeps
    /// mapped at `vaddr` for as long as the device is open and treats as
    /// shared with a device that may write it at any time (as the
    /// channel subsystem does): the kernel pins those pages and the real
    /// subchannel stores into them.
    ///
    /// # Errors
    /// The step of the VFIO sequence that failed.
    pub unsafe fn open(kernel: &Arc<dyn VfioKernel>, cfg: &LinuxConfig, dma: &[DmaRange]) -> Result<Self, LinuxError> {
        let keep = Arc::clone(kernel);
        let k: &dyn VfioKernel = &**kernel;
        let ioctl = |fd: Fd, what: &'static str, req: Ioctl<'_>| {
            k.ioctl(fd, req).map_err(|source| LinuxError::Ioctl { what, source })
        };
        let mut opened = Opened {
            kernel: k,
            fds: Vec::new(),
        };
        let open = |opened: &mut Opened<'_>, path: &PathBuf| -> Result<Fd, LinuxError> {
            let fd = k.open(path).map_err(|source| LinuxError::Open {
                path: path.clone(),
                source,
            })?;
            opened.fds.push(fd);
            Ok(fd)
        };

        let container = open(&mut opened, &cfg.container)?;
        let version = ioctl(container, "VFIO_GET_API_VERSION", Ioctl::GetApiVersion)?;
        if u32::try_from(version).ok() != Some(VFIO_API_VERSION) {
            return Err(LinuxError::ApiVersion(version));
        }
        if ioctl(
            container,
            "VFIO_CHECK_EXTENSION",
            Ioctl::CheckExtension(VFIO_TYPE1_IOMMU),
        )? <= 0
        {
            return Err(LinuxError::NoType1Iommu);
        }
        let group = open(&mut opened, &cfg.group)?;
        let mut status = vfio_group_status {
            argsz: struct_len::<vfio_group_status>(),
            flags: 0,
        };
        ioctl(group, "VFIO_GROUP_GET_STATUS", Ioctl::GroupGetStatus(&mut status))?;
        if status.flags & VFIO_GROUP_FLAGS_VIABLE == 0 {
            return Err(LinuxError::GroupNotViable);
        }
        ioctl(group, "VFIO_GROUP_SET_CONTAINER", Ioctl::GroupSetContainer(container))?;
        ioctl(container, "VFIO_SET_IOMMU", Ioctl::SetIommu(VFIO_TYPE1_IOMMU))?;
        for r in dma {
            let map = vfio_iommu_type1_dma_map {
                argsz: struct_len::<vfio_iommu_type1_dma_map>(),
                flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                vaddr: r.vaddr,
                iova: r.iova,
                size: r.size,
            };
            ioctl(container, "VFIO_IOMMU_MAP_DMA", Ioctl::IommuMapDma(&map))?;
        }
        let name = CString::new(cfg.device.as_bytes()).map_err(|_| LinuxError::BadName)?;
        let device = ioctl(group, "VFIO_GROUP_GET_DEVICE_FD", Ioctl::GroupGetDeviceFd(&name))?;
        opened.fds.push(device);

        let mut dinfo = vfio_device_info {
            argsz: struct_len::<vfio_device_info>(),
            ..vfio_device_info::default()
        };
        ioctl(device, "VFIO_DEVICE_GET_INFO", Ioctl::DeviceGetInfo(&mut dinfo))?;
        if dinfo.flags & VFIO_DEVICE_FLAGS_CCW == 0 {
            return Err(LinuxError::NotCcw(dinfo.flags));
        }
        let region = |index: u32| -> Result<RegionInfo, LinuxError> {
            let mut buf = region_info_buf(REGION_INFO_LEN, index);
            ioctl(
                device,
                "VFIO_DEVICE_GET_REGION_INFO",
                Ioctl::DeviceGetRegionInfo(&mut buf),
            )?;
            let want = usize::try_from(get_u32(&words_to_bytes(&buf), 0).unwrap_or(0)).unwrap_or(0);
            if want > buf.len() * 8 {
                // Capabilities follow: ask again with room for them.
                buf = region_info_buf(want, index);
                ioctl(
                    device,
                    "VFIO_DEVICE_GET_REGION_INFO",
                    Ioctl::DeviceGetRegionInfo(&mut buf),
                )?;
            }
            parse_region_info(index, &words_to_bytes(&buf))
        };
        let rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
        if dinfo.num_regions == 0 {
            return Err(LinuxError::IoRegion { size: 0, flags: 0 });
        }
        let io_info = region(CONFIG_REGION_INDEX)?;
        if io_info.size < IoRegion::SIZE as u64 || io_info.flags & rw != rw {
            return Err(LinuxError::IoRegion {
                size: io_info.size,
                flags: io_info.flags,
            });
        }
        let mut extra: [Option<RegionLoc>; 3] = [None; 3];
        for index in (CONFIG_REGION_INDEX + 1)..dinfo.num_regions {
            let info = region(index)?;
            let Some((REGION_TYPE_CCW, sub)) = info.cap_type else {
                continue;
            };
            let Some(sub) = RegionSubtype::from_u32(sub) else {
                continue;
            };
            if info.size < sub.size() as u64 {
                continue;
            }
            let slot = RegionSubtype::ALL.iter().position(|&s| s == sub).unwrap_or(0);
            extra[slot] = Some(RegionLoc {
                offset: info.offset,
                size: info.size,
            });
        }

        let mut irq_fds: [Option<Fd>; 3] = [None; 3];
        for irq in IrqIndex::ALL {
            let index = irq as u32;
            if index >= dinfo.num_irqs {
                if irq == IrqIndex::Io {
                    return Err(LinuxError::Irq(index));
                }
                continue;
            }
            let mut ii = vfio_irq_info {
                argsz: struct_len::<vfio_irq_info>(),
                index,
                ..vfio_irq_info::default()
            };
            let usable = ioctl(device, "VFIO_DEVICE_GET_IRQ_INFO", Ioctl::DeviceGetIrqInfo(&mut ii)).is_ok()
                && ii.count == 1
                && ii.flags & VFIO_IRQ_INFO_EVENTFD != 0;
            if !usable {
                if irq == IrqIndex::Io {
                    return Err(LinuxError::Irq(index));
                }
                continue;
            }
            let efd = k.eventfd().map_err(|source| LinuxError::Ioctl {
                what: "eventfd",
                source,
            })?;
            opened.fds.push(efd);
            ioctl(
                device,
                "VFIO_DEVICE_SET_IRQS",
                Ioctl::DeviceSetIrqs(&set_irq(index, efd)),
            )?;
            irq_fds[irq as usize] = Some(efd);
        }
        let stop_fd = k.eventfd().map_err(|source| LinuxError::Ioctl {
            what: "eventfd",
            source,
        })?;
        opened.fds.push(stop_fd);

        let (tx, irq_rx) = crossbeam_channel::unbounded();
        let poller = {
            let kernel = Arc::clone(kernel);
            std::thread::Builder::new()
                .name("vfio-ccw-irq".into())
                .spawn(move || poll_irqs(&*kernel, irq_fds, stop_fd, &tx))
                .map_err(LinuxError::Thread)?
        };
        // Complete: `Drop` of the host releases everything from here on.
        opened.fds.clear();
        Ok(Self {
            kernel: keep,
            host: cfg.host,
            container,
            group,
            device,
            dma: dma.to_vec(),
            io: RegionLoc {
                offset: io_info.offset,
                size: io_info.size,
            },
            cmd: extra[0],
            schib: extra[1],
            crw: extra[2],
            irq_fds,
            stop_fd,
            irq_rx,
            poller: Some(poller),
        })
    }

    /// `VFIO_DEVICE_RESET`: the kernel closes and reopens the device
    /// (quiescing the host subchannel).
    ///
    /// # Errors
    /// The ioctl's error.
    pub fn reset(&self) -> io::Result<()> {
        self.kernel.ioctl(self.device, Ioctl::DeviceReset).map(|_| ())
    }

    fn errno(e: &io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(Errno::EIO.0))
    }

    fn read_region(&self, loc: RegionLoc, buf: &mut [u8]) -> Result<(), RegionReadError> {
        if buf.len() as u64 > loc.size {
            return Err(RegionReadError::Errno(Errno::EINVAL));
        }
        match self.kernel.pread(self.device, buf, loc.offset) {
            Ok(n) if n == buf.len() => Ok(()),
            Ok(n) => Err(RegionReadError::Short(n)),
            Err(e) => Err(RegionReadError::Errno(Self::errno(&e))),
        }
    }

    fn write_region(&self, loc: RegionLoc, buf: &[u8]) -> Result<(), Errno> {
        match self.kernel.pwrite(self.device, buf, loc.offset) {
            Ok(n) if n == buf.len() => Ok(()),
            // A short write without an errno (QEMU d6cd66311f).
            Ok(_) => Err(Errno::EFAULT),
            Err(e) => Err(Self::errno(&e)),
        }
    }
}

/// `size_of::<T>()` as an `argsz`.
fn struct_len<T>() -> u32 {
    u32::try_from(std::mem::size_of::<T>()).unwrap_or(u32::MAX)
}

/// The `VFIO_DEVICE_SET_IRQS` argument that sets (or with -1 unsets) the
/// eventfd of interrupt `index`.
fn set_irq(index: u32, fd: Fd) -> IrqSetEventfd {
    IrqSetEventfd {
        argsz: struct_len::<IrqSetEventfd>(),
        flags: VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
        index,
        start: 0,
        count: 1,
        fd,
    }
}

/// The poller thread: waits on the interrupt eventfds and the stop eventfd,
/// and turns each signal into one message.
fn poll_irqs(k: &dyn VfioKernel, irq_fds: [Option<Fd>; 3], stop: Fd, tx: &crossbeam_channel::Sender<HostIrq>) {
    let mut fds = Vec::with_capacity(4);
    let mut kinds = Vec::with_capacity(3);
    for (irq, fd) in IrqIndex::ALL.iter().zip(irq_fds) {
        if let Some(fd) = fd {
            fds.push(fd);
            kinds.push(match irq {
                IrqIndex::Io => HostIrq::Io,
                IrqIndex::Crw => HostIrq::Crw,
                IrqIndex::Req => HostIrq::Req,
            });
        }
    }
    fds.push(stop);
    let stop_bit = 1u64 << (fds.len() - 1);
    loop {
        let mask = match k.poll(&fds, None) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::error!(error = %e, "vfio-ccw interrupt poll failed");
                return;
            }
        };
        if mask & stop_bit != 0 {
            return;
        }
        for (i, kind) in kinds.iter().enumerate() {
            if mask & (1 << i) != 0 && k.eventfd_read(fds[i]).unwrap_or(0) > 0 && tx.send(*kind).is_err() {
                return;
            }
        }
    }
}

impl Drop for LinuxHost {
    fn drop(&mut self) {
        let k = &*self.kernel;
        if k.eventfd_write(self.stop_fd, 1).is_ok() {
            if let Some(p) = self.poller.take() {
                let _ = p.join();
            }
        }
        for (index, fd) in (0u32..).zip(self.irq_fds) {
            if let Some(fd) = fd {
                let _ = k.ioctl(self.device, Ioctl::DeviceSetIrqs(&set_irq(index, -1)));
                k.close(fd);
            }
        }
        k.close(self.stop_fd);
        k.close(self.device);
        for r in &self.dma {
            let mut u = vfio_iommu_type1_dma_unmap {
                argsz: struct_len::<vfio_iommu_type1_dma_unmap>(),
                iova: r.iova,
                size: r.size,
                ..vfio_iommu_type1_dma_unmap::default()
            };
            let _ = k.ioctl(self.container, Ioctl::IommuUnmapDma(&mut u));
        }
        let _ = k.ioctl(self.group, Ioctl::GroupUnsetContainer);
        k.close(self.group);
        k.close(self.container);
    }
}

impl HostBackend for LinuxHost {
    fn device(&self) -> HostDevice {
        self.host
    }

    fn write_io(&self, region: &IoRegion) -> Result<(), Errno> {
        self.write_region(self.io, &region.to_bytes())
    }

    fn read_io(&self) -> Result<IoRegion, RegionReadError> {
        let mut b = [0u8; IoRegion::SIZE];
        self.read_region(self.io, &mut b)?;
        Ok(IoRegion::from_bytes(&b))
    }

    fn reset(&self) -> Option<Result<(), Errno>> {
        Some(LinuxHost::reset(self).map_err(|e| Self::errno(&e)))
    }

    fn write_cmd(&self, command: u32) -> Option<Result<(), Errno>> {
        let loc = self.cmd?;
        let r = CmdRegion { command, ret_code: 0 };
        Some(self.write_region(loc, &r.to_bytes()))
    }

    fn read_schib(&self) -> Option<Result<Schib, Errno>> {
        let loc = self.schib?;
        let mut b = [0u8; SchibRegion::SIZE];
        Some(match self.read_region(loc, &mut b) {
            Ok(()) => Ok(Schib::from_be_bytes(&b)),
            Err(RegionReadError::Errno(e)) => Err(e),
            Err(RegionReadError::Short(_)) => Err(Errno::EFAULT),
        })
    }

    fn read_crw(&self) -> Option<Result<u32, Errno>> {
        let loc = self.crw?;
        let mut b = [0u8; CrwRegion::SIZE];
        Some(match self.read_region(loc, &mut b) {
            Ok(()) => Ok(CrwRegion::from_bytes(&b).crw),
            Err(RegionReadError::Errno(e)) => Err(e),
            Err(RegionReadError::Short(_)) => Err(Errno::EFAULT),
        })
    }

    fn irqs(&self) -> crossbeam_channel::Receiver<HostIrq> {
        self.irq_rx.clone()
    }
}

#[cfg(test)]
mod tests;
