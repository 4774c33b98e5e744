//! Guest storage as the channel subsystem sees it: absolute addresses,
//! addressing exceptions beyond the installed size, and key-controlled
//! protection for channel-subsystem accesses.
//!
//! Principles of Operation, chapter 3 ("Storage", "Protection": key-controlled
//! protection, the storage key with its access-control bits, fetch-protection
//! bit, reference bit and change bit) and chapter 15 ("Protection check"): a
//! channel-subsystem access uses the key of the ORB; key 0 matches every
//! storage key; a store needs the keys to match, a fetch needs them to match
//! or the fetch-protection bit to be off.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use thiserror::Error;

/// Size of the unit that carries a storage key (4K frame).
pub const FRAME_SIZE: u64 = 4096;

/// Why a guest-storage access failed. Channel-subsystem code turns these into
/// the architected outcome (program check, protection check, addressing
/// exception); they are not host errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AccessError {
    /// The location is not installed (beyond the storage size, or the range
    /// wraps around the address space).
    #[error("addressing: {addr:#x} is not available")]
    Addressing {
        /// First unavailable absolute address of the access.
        addr: u64,
    },
    /// Key-controlled protection forbids the access.
    #[error("protection: access key {key} may not access {addr:#x}")]
    Protection {
        /// First protected absolute address of the access.
        addr: u64,
        /// The access key used.
        key: u8,
    },
}

/// Storage-key domain error type re-exported under the domain name.
pub type MemoryError = AccessError;

/// A 4-bit access key (PSW key or ORB key), as used in key-controlled protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct AccessKey(u8);

impl AccessKey {
    /// Key 0: the master key, matches every storage key.
    pub const ZERO: Self = Self(0);

    /// Builds a key from the low four bits of `key`; higher bits are ignored.
    #[must_use]
    pub const fn new(key: u8) -> Self {
        Self(key & 0xf)
    }

    /// The key value (0..=15).
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// A storage key of one 4K frame: access-control bits (ACC, bits 0–3),
/// fetch-protection bit (F, bit 4), reference bit (R, bit 5), change bit (C, bit 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct StorageKey(u8);

impl StorageKey {
    /// Reference bit.
    pub const R: u8 = 0x04;
    /// Change bit.
    pub const C: u8 = 0x02;
    /// Fetch-protection bit.
    pub const F: u8 = 0x08;

    /// Builds a storage key from its 7-bit architected byte form (`ACC F R C 0`).
    #[must_use]
    pub const fn from_byte(byte: u8) -> Self {
        Self(byte & 0xfe)
    }

    /// Builds a key from its parts.
    #[must_use]
    pub const fn new(acc: u8, fetch_protect: bool) -> Self {
        Self(((acc & 0xf) << 4) | if fetch_protect { Self::F } else { 0 })
    }

    /// The architected byte form (`ACC F R C 0`).
    #[must_use]
    pub const fn byte(self) -> u8 {
        self.0
    }

    /// Access-control bits.
    #[must_use]
    pub const fn acc(self) -> u8 {
        self.0 >> 4
    }

    /// Fetch-protection bit.
    #[must_use]
    pub const fn fetch_protected(self) -> bool {
        self.0 & Self::F != 0
    }

    /// Reference bit.
    #[must_use]
    pub const fn referenced(self) -> bool {
        self.0 & Self::R != 0
    }

    /// Change bit.
    #[must_use]
    pub const fn changed(self) -> bool {
        self.0 & Self::C != 0
    }

    /// Whether a fetch with `key` is permitted (key 0, matching keys, or F off).
    #[must_use]
    pub const fn permits_fetch(self, key: AccessKey) -> bool {
        key.0 == 0 || key.0 == self.acc() || !self.fetch_protected()
    }

    /// Whether a store with `key` is permitted (key 0 or matching keys).
    #[must_use]
    pub const fn permits_store(self, key: AccessKey) -> bool {
        key.0 == 0 || key.0 == self.acc()
    }
}

/// Guest absolute storage, shared between CPUs, the channel subsystem and
/// device back-ends (hence `&self` for writes: like real storage it is shared,
/// and implementations provide the interior mutability).
///
/// Every method checks the whole range once, so a 4K block costs one bounds
/// check and one copy. Implementations must never panic on any address or
/// length: an access that leaves storage is [`AccessError::Addressing`].
pub trait GuestMemory: Send + Sync {
    /// Installed storage size in bytes; absolute addresses `0..size()` exist.
    fn size(&self) -> u64;

    /// Fetches `buf.len()` bytes at `addr` with access key `key`.
    ///
    /// # Errors
    /// Addressing or protection; on error nothing is guaranteed about `buf`.
    fn read(&self, addr: u64, buf: &mut [u8], key: AccessKey) -> Result<(), AccessError>;

    /// Stores `data` at `addr` with access key `key`.
    ///
    /// # Errors
    /// Addressing or protection. The whole range is checked before any byte
    /// is stored, so a failed store changes nothing.
    fn write(&self, addr: u64, data: &[u8], key: AccessKey) -> Result<(), AccessError>;

    /// Atomically ORs `mask` into the byte at `addr` and returns the old value
    /// (interlocked update, as the channel subsystem does for adapter
    /// indicators).
    ///
    /// # Errors
    /// Addressing or protection.
    fn fetch_or_u8(&self, addr: u64, mask: u8, key: AccessKey) -> Result<u8, AccessError>;

    /// Atomically ORs the big-endian doubleword `mask` into the 8 bytes at the
    /// doubleword-aligned `addr` and returns the old big-endian value (classic
    /// virtio-ccw indicators).
    ///
    /// # Errors
    /// Addressing (also for a misaligned `addr`) or protection.
    fn fetch_or_u64_be(&self, addr: u64, mask: u64, key: AccessKey) -> Result<u64, AccessError>;

    /// The storage key of the frame holding `addr`, if this storage has keys.
    fn storage_key(&self, _addr: u64) -> Option<StorageKey> {
        None
    }
}

/// Checks that `addr..addr+len` lies inside `size` bytes of storage.
///
/// # Errors
/// [`AccessError::Addressing`] naming the first missing address.
#[inline]
pub fn check_range(addr: u64, len: usize, size: u64) -> Result<(), AccessError> {
    let len = len as u64;
    match addr.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(AccessError::Addressing { addr: addr.max(size) }),
    }
}

/// Flat guest storage in host memory, with optional storage keys.
///
/// Used by tests, fuzzing and replay. The bytes live in a `Box<[AtomicU64]>`
/// so that the allocation is shared-mutable by construction (atomics are
/// `UnsafeCell`s) and doubleword atomics (`fetch_or_u64_be`) are plain atomic
/// operations; bulk copies use `copy_nonoverlapping`, like `vm-memory` does,
/// because guest storage is by nature shared with concurrent CPUs and devices.
pub struct VecMemory {
    words: Box<[AtomicU64]>,
    size: u64,
    keys: Option<Box<[AtomicU8]>>,
}

impl std::fmt::Debug for VecMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VecMemory")
            .field("size", &self.size)
            .field("keys", &self.keys.is_some())
            .finish_non_exhaustive()
    }
}

impl VecMemory {
    /// Zeroed storage of `size` bytes, without storage keys (every access
    /// key is permitted everywhere).
    ///
    /// # Panics
    /// If `size` does not fit the host address space.
    #[must_use]
    pub fn new(size: u64) -> Self {
        let words = usize::try_from(size.div_ceil(8)).expect("storage size fits the host");
        Self {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            size,
            keys: None,
        }
    }

    /// Zeroed storage of `size` bytes with storage keys, all initially 0.
    ///
    /// # Panics
    /// If `size` does not fit the host address space.
    #[must_use]
    pub fn with_storage_keys(size: u64) -> Self {
        let frames = usize::try_from(size.div_ceil(FRAME_SIZE)).expect("storage size fits the host");
        Self {
            keys: Some((0..frames).map(|_| AtomicU8::new(0)).collect()),
            ..Self::new(size)
        }
    }

    /// Whether this storage has storage keys.
    #[must_use]
    pub fn has_storage_keys(&self) -> bool {
        self.keys.is_some()
    }

    /// Sets the storage key (ACC and F; R and C as given) of the frame
    /// holding `addr` (SSKE). Without storage keys, or outside storage,
    /// this does nothing and returns `false`.
    pub fn set_storage_key(&self, addr: u64, key: StorageKey) -> bool {
        match self.frame_key(addr) {
            Some(k) => {
                k.store(key.byte(), Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Copies `data` into storage with key 0, for set-up code.
    ///
    /// # Errors
    /// Addressing.
    pub fn store(&self, addr: u64, data: &[u8]) -> Result<(), AccessError> {
        self.write(addr, data, AccessKey::ZERO)
    }

    /// Fetches `len` bytes with key 0 into a new vector, for checks and tools.
    ///
    /// # Errors
    /// Addressing.
    pub fn fetch(&self, addr: u64, len: usize) -> Result<Vec<u8>, AccessError> {
        check_range(addr, len, self.size)?;
        let mut v = vec![0; len];
        self.read(addr, &mut v, AccessKey::ZERO)?;
        Ok(v)
    }

    fn frame_key(&self, addr: u64) -> Option<&AtomicU8> {
        let keys = self.keys.as_ref()?;
        keys.get(usize::try_from(addr / FRAME_SIZE).ok()?)
    }

    /// Applies key-controlled protection to every frame of the range and
    /// sets the reference (and, for stores, change) bits.
    #[inline]
    fn check_keys(&self, addr: u64, len: usize, key: AccessKey, store: bool) -> Result<(), AccessError> {
        let Some(keys) = self.keys.as_ref() else {
            return Ok(());
        };
        if len == 0 {
            return Ok(());
        }
        let first = addr / FRAME_SIZE;
        let last = (addr + len as u64 - 1) / FRAME_SIZE;
        for frame in first..=last {
            // In range: check_range ran first and keys cover the whole size.
            let Some(k) = usize::try_from(frame).ok().and_then(|f| keys.get(f)) else {
                return Err(AccessError::Addressing {
                    addr: frame * FRAME_SIZE,
                });
            };
            let sk = StorageKey::from_byte(k.load(Ordering::Relaxed));
            let ok = if store {
                sk.permits_store(key)
            } else {
                sk.permits_fetch(key)
            };
            if !ok {
                return Err(AccessError::Protection {
                    addr: (frame * FRAME_SIZE).max(addr),
                    key: key.get(),
                });
            }
        }
        let bits = if store {
            StorageKey::R | StorageKey::C
        } else {
            StorageKey::R
        };
        for frame in first..=last {
            if let Some(k) = usize::try_from(frame).ok().and_then(|f| keys.get(f)) {
                k.fetch_or(bits, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Checks the range and returns the host offset of `addr`.
    #[inline]
    fn locate(&self, addr: u64, len: usize) -> Result<usize, AccessError> {
        check_range(addr, len, self.size)?;
        // In range, so it fits: size was allocated on this host.
        usize::try_from(addr).map_err(|_| AccessError::Addressing { addr })
    }

    #[inline]
    fn base(&self) -> *mut u8 {
        self.words.as_ptr().cast::<u8>().cast_mut()
    }
}

impl GuestMemory for VecMemory {
    fn size(&self) -> u64 {
        self.size
    }

    #[inline]
    fn read(&self, addr: u64, buf: &mut [u8], key: AccessKey) -> Result<(), AccessError> {
        let off = self.locate(addr, buf.len())?;
        self.check_keys(addr, buf.len(), key, false)?;
        // SAFETY: `check_range` proved addr + len <= size <= 8 * words.len(),
        // so the source range lies inside the `words` allocation, which lives
        // as long as `self`. The allocation consists of atomics (UnsafeCell),
        // so reading it through a pointer derived from a shared reference is
        // allowed; `buf` is a distinct exclusive borrow, so the ranges do not
        // overlap. Concurrent stores by other threads race exactly as guest
        // storage does on real hardware (vm-memory accepts the same model).
        unsafe {
            std::ptr::copy_nonoverlapping(self.base().add(off), buf.as_mut_ptr(), buf.len());
        }
        Ok(())
    }

    #[inline]
    fn write(&self, addr: u64, data: &[u8], key: AccessKey) -> Result<(), AccessError> {
        let off = self.locate(addr, data.len())?;
        self.check_keys(addr, data.len(), key, true)?;
        // SAFETY: as in `read`: the destination lies inside the allocation,
        // which is interior-mutable (atomics), and `data` is a separate borrow.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.base().add(off), data.len());
        }
        Ok(())
    }

    fn fetch_or_u8(&self, addr: u64, mask: u8, key: AccessKey) -> Result<u8, AccessError> {
        let off = self.locate(addr, 1)?;
        self.check_keys(addr, 1, key, true)?;
        let word = &self.words[off / 8];
        let mut bytes = [0u8; 8];
        bytes[off % 8] = mask;
        let old = word.fetch_or(u64::from_ne_bytes(bytes), Ordering::SeqCst);
        Ok(old.to_ne_bytes()[off % 8])
    }

    fn fetch_or_u64_be(&self, addr: u64, mask: u64, key: AccessKey) -> Result<u64, AccessError> {
        if addr % 8 != 0 {
            return Err(AccessError::Addressing { addr });
        }
        let off = self.locate(addr, 8)?;
        self.check_keys(addr, 8, key, true)?;
        let word = &self.words[off / 8];
        let old = word.fetch_or(u64::from_ne_bytes(mask.to_be_bytes()), Ordering::SeqCst);
        Ok(u64::from_be_bytes(old.to_ne_bytes()))
    }

    fn storage_key(&self, addr: u64) -> Option<StorageKey> {
        self.frame_key(addr)
            .map(|k| StorageKey::from_byte(k.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_beyond_size_is_addressing() {
        let m = VecMemory::new(4096);
        let mut b = [0u8; 8];
        assert_eq!(
            m.read(4092, &mut b, AccessKey::ZERO),
            Err(AccessError::Addressing { addr: 4096 })
        );
        assert_eq!(
            m.read(u64::MAX - 2, &mut b, AccessKey::ZERO),
            Err(AccessError::Addressing { addr: u64::MAX - 2 })
        );
    }

    #[test]
    fn write_then_read_roundtrips_bytes() {
        let m = VecMemory::new(8192);
        m.write(4093, &[1, 2, 3, 4, 5], AccessKey::ZERO).unwrap();
        let mut b = [0u8; 5];
        m.read(4093, &mut b, AccessKey::ZERO).unwrap();
        assert_eq!(b, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn odd_size_has_exact_limit() {
        let m = VecMemory::new(13);
        assert!(m.write(12, &[1], AccessKey::ZERO).is_ok());
        assert!(m.write(13, &[1], AccessKey::ZERO).is_err());
    }

    #[test]
    fn store_with_mismatched_key_is_protection() {
        let m = VecMemory::with_storage_keys(3 * 4096);
        m.set_storage_key(4096, StorageKey::new(6, false));
        assert_eq!(
            m.write(4096, &[0; 200], AccessKey::new(5)),
            Err(AccessError::Protection { addr: 4096, key: 5 })
        );
        // Nothing stored on failure.
        assert_eq!(m.fetch(4096, 4).unwrap(), vec![0; 4]);
        // A range whose second frame mismatches stores nothing at all.
        m.set_storage_key(0, StorageKey::new(5, false));
        assert_eq!(
            m.write(4000, &[7; 200], AccessKey::new(5)),
            Err(AccessError::Protection { addr: 4096, key: 5 })
        );
        assert_eq!(m.fetch(4000, 4).unwrap(), vec![0; 4]);
        m.set_storage_key(0, StorageKey::new(0, false));
        assert!(m.write(4000, &[1; 200], AccessKey::new(6)).is_err()); // frame 0 has key 0
        assert!(m.write(4096, &[1; 200], AccessKey::new(6)).is_ok());
        assert!(m.write(4096, &[1; 200], AccessKey::ZERO).is_ok());
    }

    #[test]
    fn fetch_protection_applies_only_with_f_bit() {
        let m = VecMemory::with_storage_keys(2 * 4096);
        m.set_storage_key(0, StorageKey::new(3, false));
        m.set_storage_key(4096, StorageKey::new(3, true));
        let mut b = [0u8; 4];
        assert!(m.read(0, &mut b, AccessKey::new(9)).is_ok());
        assert_eq!(
            m.read(4096, &mut b, AccessKey::new(9)),
            Err(AccessError::Protection { addr: 4096, key: 9 })
        );
        assert!(m.read(4096, &mut b, AccessKey::new(3)).is_ok());
    }

    #[test]
    fn accesses_set_reference_and_change_bits() {
        let m = VecMemory::with_storage_keys(2 * 4096);
        let mut b = [0u8; 1];
        m.read(10, &mut b, AccessKey::ZERO).unwrap();
        m.write(4097, &b, AccessKey::ZERO).unwrap();
        assert!(m.storage_key(0).unwrap().referenced());
        assert!(!m.storage_key(0).unwrap().changed());
        assert!(m.storage_key(4096).unwrap().changed());
    }

    #[test]
    fn fetch_or_u8_sets_bits_and_returns_old() {
        let m = VecMemory::new(64);
        assert_eq!(m.fetch_or_u8(9, 0x80, AccessKey::ZERO), Ok(0));
        assert_eq!(m.fetch_or_u8(9, 0x01, AccessKey::ZERO), Ok(0x80));
        assert_eq!(m.fetch(8, 3).unwrap(), vec![0, 0x81, 0]);
    }

    #[test]
    fn fetch_or_u64_be_is_big_endian_in_storage() {
        let m = VecMemory::new(64);
        assert_eq!(m.fetch_or_u64_be(16, 1 << 0, AccessKey::ZERO), Ok(0));
        assert_eq!(m.fetch_or_u64_be(16, 1 << 63, AccessKey::ZERO), Ok(1));
        assert_eq!(m.fetch(16, 8).unwrap(), vec![0x80, 0, 0, 0, 0, 0, 0, 1]);
        assert!(m.fetch_or_u64_be(17, 1, AccessKey::ZERO).is_err());
        assert!(m.fetch_or_u64_be(64, 1, AccessKey::ZERO).is_err());
    }
}
