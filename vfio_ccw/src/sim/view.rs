//! Host storage as the simulated host's channel subsystem sees it, and the
//! IOMMU view of guest storage the translator reads through.
//!
//! Host absolute storage has two parts a device's program touches:
//! * the device's *kernel area* (2 MiB below 2 GiB, as `GFP_DMA`
//!   allocations are): its CCW segments, IDALs, ORB, IRB and SCHIB;
//! * the guest's storage, pinned, at [`GUEST_WINDOW`] and above: host page
//!   `GUEST_WINDOW + p` is guest page `p`, so a host IDAW is the guest
//!   address plus the window (format-2 IDAWs reach it).
//!
//! Other host storage below the window exists but holds nothing of the
//! device's (reads return zeros, stores are dropped); nothing lies beyond
//! the guest's last page.

use std::sync::Arc;

use zcss_ccw::memory::{AccessError, AccessKey, GuestMemory, StorageKey, VecMemory};

use crate::cp::{Dma, PAGE_SIZE};
use crate::uapi::Errno;

/// Host address of guest page 0.
pub const GUEST_WINDOW: u64 = 1 << 40;

/// Size of one device's kernel area.
pub const KERNEL_AREA: u64 = 2 << 20;

/// One device's view of host storage.
pub struct HostView {
    base: u64,
    kernel: VecMemory,
    guest: Arc<dyn GuestMemory>,
}

impl std::fmt::Debug for HostView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostView")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Where an access lands.
enum Place {
    Kernel(u64),
    Guest(u64),
    Elsewhere,
}

impl HostView {
    /// A view with the kernel area at `base` and `guest` at the window.
    #[must_use]
    pub fn new(base: u64, guest: Arc<dyn GuestMemory>) -> Self {
        Self {
            base,
            kernel: VecMemory::new(KERNEL_AREA),
            guest,
        }
    }

    /// The kernel area's first address.
    #[must_use]
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The guest storage behind the window.
    #[must_use]
    pub fn guest(&self) -> &Arc<dyn GuestMemory> {
        &self.guest
    }

    fn place(&self, addr: u64, len: usize) -> Result<Place, AccessError> {
        let end = addr.checked_add(len as u64).ok_or(AccessError::Addressing { addr })?;
        if addr >= self.base && end <= self.base + KERNEL_AREA {
            return Ok(Place::Kernel(addr - self.base));
        }
        if addr >= GUEST_WINDOW {
            return Ok(Place::Guest(addr - GUEST_WINDOW));
        }
        if end <= GUEST_WINDOW && (end <= self.base || addr >= self.base + KERNEL_AREA) {
            return Ok(Place::Elsewhere);
        }
        Err(AccessError::Addressing { addr })
    }

    /// Host error → its address in host terms.
    fn host_err(e: AccessError) -> AccessError {
        match e {
            AccessError::Addressing { addr } => AccessError::Addressing {
                addr: addr.saturating_add(GUEST_WINDOW),
            },
            AccessError::Protection { addr, key } => AccessError::Protection {
                addr: addr.saturating_add(GUEST_WINDOW),
                key,
            },
        }
    }
}

impl GuestMemory for HostView {
    fn size(&self) -> u64 {
        GUEST_WINDOW + self.guest.size()
    }

    fn read(&self, addr: u64, buf: &mut [u8], key: AccessKey) -> Result<(), AccessError> {
        match self.place(addr, buf.len())? {
            Place::Kernel(a) => self.kernel.read(a, buf, AccessKey::ZERO),
            Place::Guest(a) => self.guest.read(a, buf, key).map_err(Self::host_err),
            Place::Elsewhere => {
                buf.fill(0);
                Ok(())
            }
        }
    }

    fn write(&self, addr: u64, data: &[u8], key: AccessKey) -> Result<(), AccessError> {
        match self.place(addr, data.len())? {
            Place::Kernel(a) => self.kernel.write(a, data, AccessKey::ZERO),
            Place::Guest(a) => self.guest.write(a, data, key).map_err(Self::host_err),
            Place::Elsewhere => {
                tracing::warn!(
                    addr,
                    len = data.len(),
                    "simulated host: store outside any device area dropped"
                );
                Ok(())
            }
        }
    }

    fn fetch_or_u8(&self, addr: u64, mask: u8, key: AccessKey) -> Result<u8, AccessError> {
        match self.place(addr, 1)? {
            Place::Kernel(a) => self.kernel.fetch_or_u8(a, mask, AccessKey::ZERO),
            Place::Guest(a) => self.guest.fetch_or_u8(a, mask, key).map_err(Self::host_err),
            Place::Elsewhere => Ok(0),
        }
    }

    fn fetch_or_u64_be(&self, addr: u64, mask: u64, key: AccessKey) -> Result<u64, AccessError> {
        match self.place(addr, 8)? {
            Place::Kernel(a) => self.kernel.fetch_or_u64_be(a, mask, AccessKey::ZERO),
            Place::Guest(a) => self.guest.fetch_or_u64_be(a, mask, key).map_err(Self::host_err),
            Place::Elsewhere => Ok(0),
        }
    }

    fn storage_key(&self, addr: u64) -> Option<StorageKey> {
        addr.checked_sub(GUEST_WINDOW).and_then(|a| self.guest.storage_key(a))
    }
}

/// The IOMMU over guest storage: the whole storage is mapped (IOVA = guest
/// absolute address), reads ignore storage keys (`vfio_dma_rw`), a pinned
/// page is the host page behind the window.
#[derive(Clone)]
pub struct GuestDma {
    guest: Arc<dyn GuestMemory>,
    /// The storage size (fixed while the device is open).
    size: u64,
}

impl std::fmt::Debug for GuestDma {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestDma").finish_non_exhaustive()
    }
}

impl GuestDma {
    /// The IOMMU mapping all of `guest`.
    #[must_use]
    pub fn new(guest: Arc<dyn GuestMemory>) -> Self {
        let size = guest.size();
        Self { guest, size }
    }
}

impl Dma for GuestDma {
    fn read(&self, iova: u64, buf: &mut [u8]) -> Result<(), Errno> {
        // An IOVA range outside the mapping is EINVAL (vfio_find_dma fails).
        self.guest.read(iova, buf, AccessKey::ZERO).map_err(|_| Errno::EINVAL)
    }

    fn pin(&self, iova: u64) -> Result<u64, Errno> {
        let page = iova & !(PAGE_SIZE - 1);
        if page < self.size {
            Ok(GUEST_WINDOW + page)
        } else {
            Err(Errno::EINVAL)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> (HostView, Arc<VecMemory>) {
        let g = Arc::new(VecMemory::new(1 << 16));
        (HostView::new(0x100_0000, g.clone()), g)
    }

    #[test]
    fn window_reaches_guest_storage_with_the_key() {
        let (v, g) = view();
        g.store(0x1234, &[7]).unwrap();
        let mut b = [0u8];
        v.read(GUEST_WINDOW + 0x1234, &mut b, AccessKey::new(3)).unwrap();
        assert_eq!(b, [7]);
        assert!(matches!(
            v.read(GUEST_WINDOW + (1 << 16), &mut b, AccessKey::ZERO),
            Err(AccessError::Addressing { .. })
        ));
    }

    #[test]
    fn kernel_area_is_private_and_other_host_storage_reads_zero() {
        let (v, g) = view();
        v.write(0x100_0000, &[1, 2], AccessKey::new(5)).unwrap();
        let mut b = [0u8; 2];
        v.read(0x100_0000, &mut b, AccessKey::ZERO).unwrap();
        assert_eq!(b, [1, 2]);
        assert_eq!(g.fetch(0, 2).unwrap(), [0, 0]);
        v.read(0x5000, &mut b, AccessKey::ZERO).unwrap();
        assert_eq!(b, [0, 0]);
        // Straddling the kernel area's edge is not one area.
        assert!(v.read(0x100_0000 - 1, &mut b, AccessKey::ZERO).is_err());
    }

    #[test]
    fn guest_dma_pins_pages_inside_storage_only() {
        let g: Arc<dyn GuestMemory> = Arc::new(VecMemory::new(1 << 16));
        let d = GuestDma::new(g);
        assert_eq!(d.pin(0x2345), Ok(GUEST_WINDOW + 0x2000));
        assert_eq!(d.pin(1 << 16), Err(Errno::EINVAL));
        let mut b = [0u8; 8];
        assert_eq!(d.read((1 << 16) - 4, &mut b), Err(Errno::EINVAL));
    }
}
