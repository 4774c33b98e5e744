//! [`GuestMemory`] over rust-vmm's `vm-memory` (cargo feature `vm-memory`),
//! so that a rust-vmm based VMM can hand its guest memory to zcss directly.
//!
//! `vm-memory` has no storage keys: every access key is permitted everywhere
//! (as on a machine whose storage keys are all zero and never fetch-protected)
//! and [`GuestMemory::storage_key`] answers `None`. Addresses that no region
//! backs are addressing errors. The interlocked updates use real atomics on
//! the host mapping (`VolatileMemory::get_atomic_ref`).
//!
//! Copies go through `vm-memory`'s own `read_slice` / `write_slice`, so this
//! adapter gives the concurrency guarantees of `vm-memory`, no more: in
//! `vm-memory` 0.18 (`volatile_memory.rs`, `copy_slice`) a copy of up to 8
//! bytes is a volatile access and a longer one is a `copy_nonoverlapping`.
//! Each byte is still moved once and only bytes in range are written, as
//! [`GuestMemory`] requires.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use vm_memory::{Bytes, GuestAddress, GuestMemory as VmMemory, GuestMemoryBackend, Permissions, VolatileMemory};

use crate::memory::{check_range, AccessError, AccessKey, GuestMemory};

/// Adapter from a `vm_memory::GuestMemory` to [`GuestMemory`].
#[derive(Debug, Clone)]
pub struct VmGuestMemory<M> {
    mem: M,
    size: u64,
}

impl<M: VmMemory> VmGuestMemory<M> {
    /// Wraps `mem`, whose installed size is `size` bytes (absolute addresses
    /// `0..size`; holes inside are addressing errors).
    pub fn with_size(mem: M, size: u64) -> Self {
        Self { mem, size }
    }

    /// The wrapped memory.
    pub fn inner(&self) -> &M {
        &self.mem
    }

    fn atomic<R>(
        &self,
        addr: u64,
        len: usize,
        f: impl FnOnce(vm_memory::VolatileSlice<'_, vm_memory::bitmap::BS<'_, M::Bitmap>>) -> Option<R>,
    ) -> Result<R, AccessError> {
        check_range(addr, len, self.size)?;
        let mut it = self
            .mem
            .get_slices(GuestAddress(addr), len, Permissions::ReadWrite)
            .map_err(|_| AccessError::Addressing { addr })?;
        match it.next() {
            Some(Ok(slice)) if slice.len() == len => f(slice).ok_or(AccessError::Addressing { addr }),
            _ => Err(AccessError::Addressing { addr }),
        }
    }
}

impl<M: GuestMemoryBackend> VmGuestMemory<M> {
    /// Wraps a plain (IOMMU-less) guest memory; the size is its last address + 1.
    pub fn new(mem: M) -> Self {
        let size = if mem.num_regions() == 0 {
            0
        } else {
            mem.last_addr().0.saturating_add(1)
        };
        Self { mem, size }
    }
}

impl<M> GuestMemory for VmGuestMemory<M>
where
    M: VmMemory + Send + Sync,
{
    fn size(&self) -> u64 {
        self.size
    }

    fn read(&self, addr: u64, buf: &mut [u8], _key: AccessKey) -> Result<(), AccessError> {
        check_range(addr, buf.len(), self.size)?;
        self.mem
            .read_slice(buf, GuestAddress(addr))
            .map_err(|_| AccessError::Addressing { addr })
    }

    fn write(&self, addr: u64, data: &[u8], _key: AccessKey) -> Result<(), AccessError> {
        check_range(addr, data.len(), self.size)?;
        // Check the whole range first so that a failed store changes nothing.
        if !self.mem.check_range(GuestAddress(addr), data.len(), Permissions::Write) {
            return Err(AccessError::Addressing { addr });
        }
        self.mem
            .write_slice(data, GuestAddress(addr))
            .map_err(|_| AccessError::Addressing { addr })
    }

    fn fetch_or_u8(&self, addr: u64, mask: u8, _key: AccessKey) -> Result<u8, AccessError> {
        self.atomic(addr, 1, |s| {
            s.get_atomic_ref::<AtomicU8>(0)
                .ok()
                .map(|a| a.fetch_or(mask, Ordering::SeqCst))
        })
    }

    fn fetch_or_u64_be(&self, addr: u64, mask: u64, _key: AccessKey) -> Result<u64, AccessError> {
        if addr % 8 != 0 {
            return Err(AccessError::Addressing { addr });
        }
        self.atomic(addr, 8, |s| {
            s.get_atomic_ref::<AtomicU64>(0).ok().map(|a| {
                let old = a.fetch_or(u64::from_ne_bytes(mask.to_be_bytes()), Ordering::SeqCst);
                u64::from_be_bytes(old.to_ne_bytes())
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestMemoryMmap;

    fn mem(size: usize) -> VmGuestMemory<GuestMemoryMmap<()>> {
        VmGuestMemory::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), size)]).unwrap())
    }

    #[test]
    fn new_takes_size_from_regions() {
        assert_eq!(mem(0x4000).size(), 0x4000);
    }

    #[test]
    fn write_then_read_roundtrips() {
        let m = mem(0x4000);
        m.write(0x1ffe, &[1, 2, 3, 4], AccessKey::new(7)).unwrap();
        let mut b = [0u8; 4];
        m.read(0x1ffe, &mut b, AccessKey::ZERO).unwrap();
        assert_eq!(b, [1, 2, 3, 4]);
    }

    #[test]
    fn access_beyond_size_is_addressing() {
        let m = mem(0x1000);
        let mut b = [0u8; 8];
        assert_eq!(
            m.read(0xffc, &mut b, AccessKey::ZERO),
            Err(AccessError::Addressing { addr: 0x1000 })
        );
        assert!(m.write(u64::MAX - 1, &b, AccessKey::ZERO).is_err());
        assert!(m.fetch_or_u8(0x1000, 1, AccessKey::ZERO).is_err());
    }

    #[test]
    fn hole_between_regions_is_addressing_and_store_is_atomic() {
        let gm =
            GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x1000), (GuestAddress(0x2000), 0x1000)]).unwrap();
        let m = VmGuestMemory::new(gm);
        assert_eq!(m.size(), 0x3000);
        assert!(m.write(0xff0, &[9; 0x20], AccessKey::ZERO).is_err());
        let mut b = [0u8; 0x10];
        m.read(0xff0, &mut b, AccessKey::ZERO).unwrap();
        assert_eq!(b, [0; 0x10], "a failed store changes nothing");
        assert!(m.read(0x1800, &mut b, AccessKey::ZERO).is_err());
    }

    #[test]
    fn fetch_or_u8_sets_bits_and_returns_old() {
        let m = mem(0x1000);
        assert_eq!(m.fetch_or_u8(5, 0x80, AccessKey::ZERO), Ok(0));
        assert_eq!(m.fetch_or_u8(5, 0x01, AccessKey::ZERO), Ok(0x80));
        let mut b = [0u8; 1];
        m.read(5, &mut b, AccessKey::ZERO).unwrap();
        assert_eq!(b, [0x81]);
    }

    #[test]
    fn fetch_or_u64_be_is_big_endian_in_storage() {
        let m = mem(0x1000);
        assert_eq!(m.fetch_or_u64_be(16, 1, AccessKey::ZERO), Ok(0));
        assert_eq!(m.fetch_or_u64_be(16, 1 << 63, AccessKey::ZERO), Ok(1));
        let mut b = [0u8; 8];
        m.read(16, &mut b, AccessKey::ZERO).unwrap();
        assert_eq!(b, [0x80, 0, 0, 0, 0, 0, 0, 1]);
        assert!(m.fetch_or_u64_be(17, 1, AccessKey::ZERO).is_err());
    }

    #[test]
    fn storage_key_is_none() {
        assert_eq!(mem(0x1000).storage_key(0), None);
    }

    #[test]
    fn engine_runs_a_program_in_vm_memory() {
        use crate::mock::{ccw1 as ccw, Action, ScriptedDevice, Step};
        use crate::{Ending, Engine, NoHooks, Orb, OrbControls};
        let m = mem(0x4000);
        m.write(0x1000, &ccw(0x02, 0x80, 2, 0x2000), AccessKey::ZERO).unwrap();
        m.write(0x1008, &ccw(0x00, 0x00, 2, 0x3ffe), AccessKey::ZERO).unwrap();
        let orb = Orb {
            ctrl: OrbControls::new().with_format1(true),
            cpa: 0x1000,
            ..Orb::default()
        };
        let mut dev = ScriptedDevice::new(vec![Step::ok(vec![Action::Write(vec![1, 2, 3, 4])])]);
        let c = Engine::default().start(&m, &orb, 0x80, &mut dev, &mut NoHooks);
        assert_eq!(c.ending, Ending::Completed);
        assert_eq!(c.cpa, 0x1010);
        assert_eq!(c.count, 0);
        let mut b = [0u8; 2];
        m.read(0x3ffe, &mut b, AccessKey::ZERO).unwrap();
        assert_eq!(b, [3, 4]);
    }
}
