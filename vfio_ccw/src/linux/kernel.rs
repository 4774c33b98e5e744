//! The narrow interface between the Linux backend and the kernel: open,
//! close, the VFIO ioctls (typed, one variant per request), `pread` and
//! `pwrite` on regions, and eventfds. [`SysKernel`](super::SysKernel) makes
//! the system calls; the fake kernel of the tests checks every call.
//!
//! Ioctl numbers are `_IO(VFIO_TYPE, VFIO_BASE + n)` (Linux
//! `include/uapi/linux/vfio.h`): no direction or size bits, type `';'`
//! (59), numbers from 100.

use std::ffi::CStr;
use std::io;
use std::path::Path;
use std::time::Duration;

use vfio_bindings::bindings::vfio::{
    vfio_device_info, vfio_group_status, vfio_iommu_type1_dma_map, vfio_iommu_type1_dma_unmap, vfio_irq_info,
    vfio_irq_set, VFIO_BASE, VFIO_TYPE,
};

/// A file descriptor.
pub type Fd = i32;

/// `_IO(VFIO_TYPE, VFIO_BASE + n)`.
const fn vfio_io(n: u32) -> u64 {
    ((VFIO_TYPE as u64) << 8) | (VFIO_BASE + n) as u64
}

/// `VFIO_GET_API_VERSION`.
pub const VFIO_GET_API_VERSION: u64 = vfio_io(0);
/// `VFIO_CHECK_EXTENSION`.
pub const VFIO_CHECK_EXTENSION: u64 = vfio_io(1);
/// `VFIO_SET_IOMMU`.
pub const VFIO_SET_IOMMU: u64 = vfio_io(2);
/// `VFIO_GROUP_GET_STATUS`.
pub const VFIO_GROUP_GET_STATUS: u64 = vfio_io(3);
/// `VFIO_GROUP_SET_CONTAINER`.
pub const VFIO_GROUP_SET_CONTAINER: u64 = vfio_io(4);
/// `VFIO_GROUP_UNSET_CONTAINER`.
pub const VFIO_GROUP_UNSET_CONTAINER: u64 = vfio_io(5);
/// `VFIO_GROUP_GET_DEVICE_FD`.
pub const VFIO_GROUP_GET_DEVICE_FD: u64 = vfio_io(6);
/// `VFIO_DEVICE_GET_INFO`.
pub const VFIO_DEVICE_GET_INFO: u64 = vfio_io(7);
/// `VFIO_DEVICE_GET_REGION_INFO`.
pub const VFIO_DEVICE_GET_REGION_INFO: u64 = vfio_io(8);
/// `VFIO_DEVICE_GET_IRQ_INFO`.
pub const VFIO_DEVICE_GET_IRQ_INFO: u64 = vfio_io(9);
/// `VFIO_DEVICE_SET_IRQS`.
pub const VFIO_DEVICE_SET_IRQS: u64 = vfio_io(10);
/// `VFIO_DEVICE_RESET`.
pub const VFIO_DEVICE_RESET: u64 = vfio_io(11);
/// `VFIO_IOMMU_MAP_DMA`.
pub const VFIO_IOMMU_MAP_DMA: u64 = vfio_io(13);
/// `VFIO_IOMMU_UNMAP_DMA`.
pub const VFIO_IOMMU_UNMAP_DMA: u64 = vfio_io(14);

/// `struct vfio_irq_set` followed by one eventfd: the argument of
/// `VFIO_DEVICE_SET_IRQS` with `VFIO_IRQ_SET_DATA_EVENTFD` and count 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct IrqSetEventfd {
    /// Size of the whole argument (24).
    pub argsz: u32,
    /// `VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER`.
    pub flags: u32,
    /// The interrupt index.
    pub index: u32,
    /// First vector (0).
    pub start: u32,
    /// Number of vectors (1).
    pub count: u32,
    /// The eventfd, or -1 to unset it.
    pub fd: i32,
}

const _: () = {
    assert!(std::mem::size_of::<vfio_irq_set>() == 20);
    assert!(std::mem::size_of::<IrqSetEventfd>() == 24);
    assert!(std::mem::offset_of!(IrqSetEventfd, fd) == std::mem::size_of::<vfio_irq_set>());
    assert!(std::mem::offset_of!(IrqSetEventfd, count) == std::mem::offset_of!(vfio_irq_set, count));
    assert!(std::mem::size_of::<vfio_iommu_type1_dma_unmap>() == 24);
    assert!(VFIO_GET_API_VERSION == 0x3b64);
    assert!(VFIO_IOMMU_UNMAP_DMA == 0x3b72);
};

/// One VFIO ioctl with its typed argument.
#[derive(Debug)]
pub enum Ioctl<'a> {
    /// `VFIO_GET_API_VERSION` on the container.
    GetApiVersion,
    /// `VFIO_CHECK_EXTENSION` on the container.
    CheckExtension(u32),
    /// `VFIO_SET_IOMMU` on the container.
    SetIommu(u32),
    /// `VFIO_GROUP_GET_STATUS`.
    GroupGetStatus(&'a mut vfio_group_status),
    /// `VFIO_GROUP_SET_CONTAINER` (the container's fd).
    GroupSetContainer(Fd),
    /// `VFIO_GROUP_UNSET_CONTAINER`.
    GroupUnsetContainer,
    /// `VFIO_GROUP_GET_DEVICE_FD` (the device's name); returns the fd.
    GroupGetDeviceFd(&'a CStr),
    /// `VFIO_DEVICE_GET_INFO`.
    DeviceGetInfo(&'a mut vfio_device_info),
    /// `VFIO_DEVICE_GET_REGION_INFO`: a buffer of `argsz` bytes (as
    /// doublewords) starting with `struct vfio_region_info`, capabilities
    /// after it.
    DeviceGetRegionInfo(&'a mut [u64]),
    /// `VFIO_DEVICE_GET_IRQ_INFO`.
    DeviceGetIrqInfo(&'a mut vfio_irq_info),
    /// `VFIO_DEVICE_SET_IRQS` with one eventfd.
    DeviceSetIrqs(&'a IrqSetEventfd),
    /// `VFIO_DEVICE_RESET`.
    DeviceReset,
    /// `VFIO_IOMMU_MAP_DMA` on the container.
    IommuMapDma(&'a vfio_iommu_type1_dma_map),
    /// `VFIO_IOMMU_UNMAP_DMA` on the container.
    IommuUnmapDma(&'a mut vfio_iommu_type1_dma_unmap),
}

impl Ioctl<'_> {
    /// The request number.
    #[must_use]
    pub const fn request(&self) -> u64 {
        match self {
            Self::GetApiVersion => VFIO_GET_API_VERSION,
            Self::CheckExtension(_) => VFIO_CHECK_EXTENSION,
            Self::SetIommu(_) => VFIO_SET_IOMMU,
            Self::GroupGetStatus(_) => VFIO_GROUP_GET_STATUS,
            Self::GroupSetContainer(_) => VFIO_GROUP_SET_CONTAINER,
            Self::GroupUnsetContainer => VFIO_GROUP_UNSET_CONTAINER,
            Self::GroupGetDeviceFd(_) => VFIO_GROUP_GET_DEVICE_FD,
            Self::DeviceGetInfo(_) => VFIO_DEVICE_GET_INFO,
            Self::DeviceGetRegionInfo(_) => VFIO_DEVICE_GET_REGION_INFO,
            Self::DeviceGetIrqInfo(_) => VFIO_DEVICE_GET_IRQ_INFO,
            Self::DeviceSetIrqs(_) => VFIO_DEVICE_SET_IRQS,
            Self::DeviceReset => VFIO_DEVICE_RESET,
            Self::IommuMapDma(_) => VFIO_IOMMU_MAP_DMA,
            Self::IommuUnmapDma(_) => VFIO_IOMMU_UNMAP_DMA,
        }
    }
}

/// The kernel services the Linux backend uses.
pub trait VfioKernel: Send + Sync {
    /// Opens `path` read-write, close-on-exec.
    ///
    /// # Errors
    /// The system call's error.
    fn open(&self, path: &Path) -> io::Result<Fd>;

    /// Closes `fd`.
    fn close(&self, fd: Fd);

    /// Issues a VFIO ioctl; returns its non-negative result.
    ///
    /// # Errors
    /// The system call's error.
    fn ioctl(&self, fd: Fd, req: Ioctl<'_>) -> io::Result<i32>;

    /// `pread` of `buf.len()` bytes at `offset`.
    ///
    /// # Errors
    /// The system call's error.
    fn pread(&self, fd: Fd, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// `pwrite` of `buf` at `offset`.
    ///
    /// # Errors
    /// The system call's error.
    fn pwrite(&self, fd: Fd, buf: &[u8], offset: u64) -> io::Result<usize>;

    /// A new eventfd (close-on-exec, counter 0).
    ///
    /// # Errors
    /// The system call's error.
    fn eventfd(&self) -> io::Result<Fd>;

    /// Reads (and so resets) an eventfd's counter; 0 when it is not
    /// signalled.
    ///
    /// # Errors
    /// The system call's error.
    fn eventfd_read(&self, fd: Fd) -> io::Result<u64>;

    /// Adds `v` to an eventfd's counter.
    ///
    /// # Errors
    /// The system call's error.
    fn eventfd_write(&self, fd: Fd, v: u64) -> io::Result<()>;

    /// Waits until one of `fds` is readable (or `timeout`); returns a mask
    /// with bit `i` set when `fds[i]` is readable.
    ///
    /// # Errors
    /// The system call's error.
    fn poll(&self, fds: &[Fd], timeout: Option<Duration>) -> io::Result<u64>;
}
