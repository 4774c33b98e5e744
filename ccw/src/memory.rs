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
///
/// # Concurrency: what embedders may rely on
/// Guest storage is shared with other CPUs and devices while zcss reads
/// and writes it, as real storage is shared between CPUs and channels
/// (compare PoO chapter 5, "Storage-Operand Consistency"). Implementations
/// must give the following; [`VecMemory`] does, and the `vm-memory` adapter
/// does as far as `vm-memory` itself does (see `vm_memory`).
///
/// * **Well defined under concurrency.** No access is a plain Rust access
///   to memory another thread may change: [`VecMemory`] uses atomics and,
///   for bulk copies on x86-64, one fast-string instruction that the
///   compiler treats as opaque (as a volatile copy), so racing copies, ORs
///   and guest CPUs are well defined.
/// * **Interlocked updates are atomic.** [`GuestMemory::fetch_or_u8`] and
///   [`GuestMemory::fetch_or_u64_be`] are single read-modify-writes,
///   sequentially consistent; bits ORed by one thread are never lost to an
///   OR or a copy by another unless that copy's range covers them.
/// * **A copy touches exactly its range.** [`GuestMemory::write`] never
///   writes a byte outside `addr..addr + len` (no read-modify-write of a
///   containing word), and each byte is read or written exactly once.
/// * **Atomicity is per byte, not per copy.** A copy racing with other
///   stores may observe (or leave) any mix of old and new values across its
///   range, and may tear an unaligned or multi-doubleword field; each byte
///   it returns is a value some store wrote. [`VecMemory`] moves aligned
///   doublewords whole except in its bulk (`rep movsb`) path; no
///   implementation promises it.
/// * **No ordering.** Copies are unordered (relaxed): seeing a byte written
///   by another thread does not make that thread's earlier stores visible.
///   Embedders order guest-visible effects through their own
///   synchronization (the css does so with its locks and interruption
///   queues; a device publishes data before it presents status).
/// * **Read once.** zcss itself fetches each CCW, IDAW, MIDAW and ORB once
///   and acts on that copy; it never reads a location twice assuming it
///   unchanged.
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

    /// Fetches the `ranges` of storage, in order, into consecutive bytes
    /// of `buf` (a gather: the channel moving one IDAL's blocks into one
    /// device buffer). A range that runs past the end of `buf` is cut to
    /// it, and the ranges after it are ignored.
    ///
    /// Each range is one [`GuestMemory::read`] with its own checks and the
    /// same guarantees; the default implementation is exactly that loop,
    /// so an implementation that records or translates its accesses sees
    /// one `read` per range. Implementations may override it to save the
    /// per-call cost, keeping that meaning.
    ///
    /// # Errors
    /// The first range that fails, with its index ([`VectoredAccessError::done`]
    /// ranges were fetched whole before it) and its [`AccessError`]; the
    /// ranges after it are not accessed, and nothing is guaranteed about
    /// the part of `buf` of the failing range.
    #[inline]
    fn read_vectored(&self, ranges: &[GuestRange], buf: &mut [u8], key: AccessKey) -> Result<(), VectoredAccessError> {
        let mut rest = buf;
        for (done, r) in ranges.iter().enumerate() {
            let n = r.len.min(rest.len());
            let (part, tail) = std::mem::take(&mut rest).split_at_mut(n);
            self.read(r.addr, part, key)
                .map_err(|error| VectoredAccessError { done, error })?;
            rest = tail;
        }
        Ok(())
    }

    /// Stores consecutive bytes of `data` into the `ranges` of storage, in
    /// order (a scatter: one device buffer into the blocks of an IDAL). A
    /// range that runs past the end of `data` is cut to it, and the ranges
    /// after it are ignored.
    ///
    /// Each range is one [`GuestMemory::write`] with its own checks and the
    /// same guarantees; the default implementation is exactly that loop.
    ///
    /// # Errors
    /// The first range that fails, with its index ([`VectoredAccessError::done`]
    /// ranges were stored whole before it) and its [`AccessError`]; the
    /// failing range and those after it store nothing.
    #[inline]
    fn write_vectored(&self, ranges: &[GuestRange], data: &[u8], key: AccessKey) -> Result<(), VectoredAccessError> {
        let mut rest = data;
        for (done, r) in ranges.iter().enumerate() {
            let (part, tail) = rest.split_at(r.len.min(rest.len()));
            self.write(r.addr, part, key)
                .map_err(|error| VectoredAccessError { done, error })?;
            rest = tail;
        }
        Ok(())
    }
}

/// One stretch of storage in a vectored access
/// ([`GuestMemory::read_vectored`], [`GuestMemory::write_vectored`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct GuestRange {
    /// First absolute address.
    pub addr: u64,
    /// Length in bytes.
    pub len: usize,
}

/// Where a vectored access stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("range {done} of a vectored access failed")]
pub struct VectoredAccessError {
    /// Ranges accessed whole before the failing one (its index).
    pub done: usize,
    /// Why the range `done` failed.
    #[source]
    pub error: AccessError,
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
        _ => Err(beyond(addr, size)),
    }
}

/// The addressing error of an access at `addr` that leaves `size` bytes.
#[cold]
fn beyond(addr: u64, size: u64) -> AccessError {
    AccessError::Addressing { addr: addr.max(size) }
}

/// Flat guest storage in host memory, with optional storage keys.
///
/// Used by tests, fuzzing and replay. The bytes live in a `Box<[AtomicU64]>`
/// (8 guest bytes per word, in ascending address order in host memory);
/// no access to them is a plain Rust access:
///
/// * [`GuestMemory::fetch_or_u8`] and [`GuestMemory::fetch_or_u64_be`] are
///   sequentially consistent read-modify-writes of the containing word.
/// * A copy ([`GuestMemory::read`], [`GuestMemory::write`]) treats a partial
///   doubleword at either end of its range with one relaxed atomic load, or
///   a compare-and-swap that replaces only the bytes in range — so bits
///   another thread ORs into the neighbouring bytes are never lost.
/// * The doublewords wholly inside the range are copied with one relaxed
///   atomic load or store each; on x86-64 a run of at least
///   [`VecMemory::BULK_COPY_MIN`] bytes is instead copied by one
///   `rep movsb` (fast-string copy, the instruction `memcpy` itself uses
///   at this size), which moves whole cache lines without first reading
///   the destination and keeps copies at `memcpy` speed. Like the volatile
///   copies of `vm-memory`, the compiler can neither elide, repeat nor
///   split it; the hardware moves every byte once and never writes a byte
///   outside the range. Miri cannot run inline assembly and takes the
///   atomic-word path.
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
    #[inline(always)]
    fn check_keys(&self, addr: u64, len: usize, key: AccessKey, store: bool) -> Result<(), AccessError> {
        match self.keys.as_ref() {
            None => Ok(()),
            Some(keys) => Self::check_frame_keys(keys, addr, len, key, store),
        }
    }

    /// [`VecMemory::check_keys`] with storage keys.
    fn check_frame_keys(
        keys: &[AtomicU8],
        addr: u64,
        len: usize,
        key: AccessKey,
        store: bool,
    ) -> Result<(), AccessError> {
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

    /// [`GuestMemory::read`].
    #[inline(always)]
    fn read_one(&self, addr: u64, buf: &mut [u8], key: AccessKey) -> Result<(), AccessError> {
        let off = self.locate(addr, buf.len())?;
        self.check_keys(addr, buf.len(), key, false)?;
        self.copy_out(off, buf);
        Ok(())
    }

    /// [`GuestMemory::write`].
    #[inline(always)]
    fn write_one(&self, addr: u64, data: &[u8], key: AccessKey) -> Result<(), AccessError> {
        let off = self.locate(addr, data.len())?;
        self.check_keys(addr, data.len(), key, true)?;
        self.copy_in(off, data);
        Ok(())
    }

    /// Smallest whole-doubleword run a copy moves with `rep movsb` on
    /// x86-64 (below it, one atomic access per doubleword is faster).
    pub const BULK_COPY_MIN: usize = 256;

    /// The words from the one holding host offset `off` on.
    #[inline]
    fn words_from(&self, off: usize) -> &[AtomicU64] {
        self.words.get(off / 8..).unwrap_or_default()
    }

    /// Copies storage bytes `off..off + buf.len()` (host offsets, in range)
    /// into `buf`.
    #[inline(always)]
    fn copy_out(&self, off: usize, buf: &mut [u8]) {
        if buf.len() == 8 && off % 8 == 0 {
            // One aligned doubleword (a CCW, an IDAW, a MIDAW half).
            if let Some(w) = self.words.get(off / 8) {
                buf.copy_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes());
            }
            return;
        }
        if off % 8 == 0 && buf.len() % 8 == 0 {
            // Whole doublewords: a MIDAW, IDAWs fetched ahead, data blocks.
            if let Some(words) = self.words.get(off / 8..off / 8 + buf.len() / 8) {
                load_words(words, buf);
            }
            return;
        }
        self.copy_out_partial(off, buf);
    }

    /// [`VecMemory::copy_out`] of a range that starts or ends inside a
    /// doubleword.
    #[inline(never)]
    fn copy_out_partial(&self, off: usize, buf: &mut [u8]) {
        let mut words = self.words_from(off);
        let mut rest = buf;
        let lead = off % 8;
        if lead != 0 || rest.len() < 8 {
            let Some((w, more)) = words.split_first() else {
                return;
            };
            let n = rest.len().min(8 - lead);
            let (head, tail) = rest.split_at_mut(n);
            head.copy_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes()[lead..lead + n]);
            (words, rest) = (more, tail);
        }
        let whole = (rest.len() / 8).min(words.len());
        let (body, tail) = rest.split_at_mut(whole * 8);
        let (body_words, words) = words.split_at(whole);
        load_words(body_words, body);
        if let (false, Some(w)) = (tail.is_empty(), words.first()) {
            let n = tail.len().min(8);
            tail[..n].copy_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes()[..n]);
        }
    }

    /// Copies `data` into storage bytes `off..off + data.len()` (host
    /// offsets, in range); partial words by a compare-and-swap that keeps
    /// the bytes outside the range.
    #[inline(always)]
    fn copy_in(&self, off: usize, data: &[u8]) {
        if off % 8 == 0 && data.len() % 8 == 0 {
            // Whole doublewords (data blocks, IDAW and MIDAW targets).
            if let Some(words) = self.words.get(off / 8..off / 8 + data.len() / 8) {
                store_words(words, data);
            }
            return;
        }
        self.copy_in_partial(off, data);
    }

    /// [`VecMemory::copy_in`] of a range that starts or ends inside a
    /// doubleword.
    #[inline(never)]
    fn copy_in_partial(&self, off: usize, data: &[u8]) {
        let mut words = self.words_from(off);
        let mut rest = data;
        let lead = off % 8;
        if lead != 0 || rest.len() < 8 {
            let Some((w, more)) = words.split_first() else {
                return;
            };
            let (head, tail) = rest.split_at(rest.len().min(8 - lead));
            merge_bytes(w, lead, head);
            (words, rest) = (more, tail);
        }
        let whole = (rest.len() / 8).min(words.len());
        let (body, tail) = rest.split_at(whole * 8);
        let (body_words, words) = words.split_at(whole);
        store_words(body_words, body);
        if let (false, Some(w)) = (tail.is_empty(), words.first()) {
            merge_bytes(w, 0, &tail[..tail.len().min(8)]);
        }
    }
}

/// Loads `words` into `dst` (`8 * words.len()` bytes).
#[inline(always)]
fn load_words(words: &[AtomicU64], dst: &mut [u8]) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if dst.len() >= VecMemory::BULK_COPY_MIN && dst.len() == 8 * words.len() {
        // SAFETY: the source is the `words` slice (8 * words.len() bytes,
        // all readable), the destination is the exclusively borrowed `dst`
        // of the same length; they do not overlap (`dst` is a `&mut`). The
        // words are atomics (`UnsafeCell`), so reading them through a
        // pointer derived from a shared reference is allowed while other
        // threads update them atomically.
        unsafe { fast_string_copy(dst.as_mut_ptr(), words.as_ptr().cast::<u8>(), dst.len()) };
        return;
    }
    load_words_atomic(words, dst);
}

/// Stores `src` (`8 * words.len()` bytes) into `words`.
#[inline(always)]
fn store_words(words: &[AtomicU64], src: &[u8]) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if src.len() >= VecMemory::BULK_COPY_MIN && src.len() == 8 * words.len() {
        // SAFETY: the destination is the `words` slice (8 * words.len()
        // bytes), interior-mutable (atomics are `UnsafeCell`s), so writing
        // through a pointer derived from a shared reference is allowed; the
        // source is `src` of the same length, which cannot overlap it (no
        // safe `&[u8]` can point into atomics).
        unsafe { fast_string_copy(words.as_ptr().cast::<u8>().cast_mut(), src.as_ptr(), src.len()) };
        return;
    }
    store_words_atomic(words, src);
}

/// Loads `words` into `dst` with one relaxed atomic load per word.
#[inline]
fn load_words_atomic(words: &[AtomicU64], dst: &mut [u8]) {
    for (d, w) in dst.chunks_exact_mut(8).zip(words) {
        d.copy_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes());
    }
}

/// Stores `src` into `words` with one relaxed atomic store per word.
#[inline]
fn store_words_atomic(words: &[AtomicU64], src: &[u8]) {
    for (s, w) in src.chunks_exact(8).zip(words) {
        let mut b = [0u8; 8];
        b.copy_from_slice(s);
        w.store(u64::from_ne_bytes(b), Ordering::Relaxed);
    }
}

/// Copies `len` bytes from `src` to `dst` with one `rep movsb`.
///
/// # Safety
/// `src..src + len` must be readable and `dst..dst + len` writable for the
/// whole call, the two ranges must not overlap, and any other thread may
/// access the ranges only with atomic operations (the copy is then as
/// racy as a volatile copy: each byte is read or written once, no byte
/// outside the ranges is touched).
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline]
unsafe fn fast_string_copy(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: the caller guarantees the ranges; the direction flag is clear
    // on entry to inline assembly (Rust's x86 asm rules), so the copy runs
    // upward; rcx, rsi and rdi are declared clobbered, flags are preserved
    // and no stack is used.
    unsafe {
        std::arch::asm!(
            "rep movsb",
            inout("rcx") len => _,
            inout("rsi") src => _,
            inout("rdi") dst => _,
            options(nostack, preserves_flags),
        );
    }
}

/// Replaces bytes `at..at + bytes.len()` of the word `w` (host byte order)
/// with `bytes`, atomically with respect to concurrent updates of its other
/// bytes.
fn merge_bytes(w: &AtomicU64, at: usize, bytes: &[u8]) {
    let mut cur = w.load(Ordering::Relaxed);
    loop {
        let mut b = cur.to_ne_bytes();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        match w.compare_exchange_weak(cur, u64::from_ne_bytes(b), Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => cur = now,
        }
    }
}

impl GuestMemory for VecMemory {
    fn size(&self) -> u64 {
        self.size
    }

    #[inline]
    fn read(&self, addr: u64, buf: &mut [u8], key: AccessKey) -> Result<(), AccessError> {
        self.read_one(addr, buf, key)
    }

    #[inline]
    fn write(&self, addr: u64, data: &[u8], key: AccessKey) -> Result<(), AccessError> {
        self.write_one(addr, data, key)
    }

    /// One [`VecMemory`] read per range, inlined into one loop.
    fn read_vectored(&self, ranges: &[GuestRange], buf: &mut [u8], key: AccessKey) -> Result<(), VectoredAccessError> {
        let mut rest = buf;
        for (done, r) in ranges.iter().enumerate() {
            let n = r.len.min(rest.len());
            let (part, tail) = std::mem::take(&mut rest).split_at_mut(n);
            self.read_one(r.addr, part, key)
                .map_err(|error| VectoredAccessError { done, error })?;
            rest = tail;
        }
        Ok(())
    }

    /// One [`VecMemory`] write per range, inlined into one loop.
    fn write_vectored(&self, ranges: &[GuestRange], data: &[u8], key: AccessKey) -> Result<(), VectoredAccessError> {
        let mut rest = data;
        for (done, r) in ranges.iter().enumerate() {
            let (part, tail) = rest.split_at(r.len.min(rest.len()));
            self.write_one(r.addr, part, key)
                .map_err(|error| VectoredAccessError { done, error })?;
            rest = tail;
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

    #[test]
    fn copies_at_any_alignment_and_length_touch_only_their_range() {
        let lens = [0usize, 1, 7, 8, 9, 15, 16, 17, 255, 256, 257, 300, 519, 520, 600];
        let m = VecMemory::new(1024);
        for off in 0..9u64 {
            for &len in &lens {
                m.store(0, &[0xee; 1024]).unwrap();
                let data: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
                m.write(64 + off, &data, AccessKey::ZERO).unwrap();
                let mut back = vec![0u8; len];
                m.read(64 + off, &mut back, AccessKey::ZERO).unwrap();
                assert_eq!(back, data, "off {off} len {len}");
                let all = m.fetch(0, 1024).unwrap();
                let end = usize::try_from(64 + off).unwrap() + len;
                assert!(all[..usize::try_from(64 + off).unwrap()].iter().all(|&b| b == 0xee));
                assert!(all[end..].iter().all(|&b| b == 0xee), "off {off} len {len}");
            }
        }
    }

    /// Storage implementing only the required methods: exercises the
    /// default vectored accesses.
    struct Plain(VecMemory);

    impl GuestMemory for Plain {
        fn size(&self) -> u64 {
            self.0.size()
        }

        fn read(&self, addr: u64, buf: &mut [u8], key: AccessKey) -> Result<(), AccessError> {
            self.0.read(addr, buf, key)
        }

        fn write(&self, addr: u64, data: &[u8], key: AccessKey) -> Result<(), AccessError> {
            self.0.write(addr, data, key)
        }

        fn fetch_or_u8(&self, addr: u64, mask: u8, key: AccessKey) -> Result<u8, AccessError> {
            self.0.fetch_or_u8(addr, mask, key)
        }

        fn fetch_or_u64_be(&self, addr: u64, mask: u64, key: AccessKey) -> Result<u64, AccessError> {
            self.0.fetch_or_u64_be(addr, mask, key)
        }
    }

    /// The same storage through `VecMemory`'s own vectored accesses and
    /// through the trait's default ones.
    fn both(make: impl Fn() -> VecMemory) -> [(Box<dyn GuestMemory>, &'static str); 2] {
        [(Box::new(make()), "VecMemory"), (Box::new(Plain(make())), "default")]
    }

    fn range(addr: u64, len: usize) -> GuestRange {
        GuestRange { addr, len }
    }

    #[test]
    fn write_vectored_scatters_consecutive_bytes_in_range_order() {
        let data: Vec<u8> = (1..=40).collect();
        for (m, which) in both(|| VecMemory::new(0x2000)) {
            // Aligned bulk, unaligned, one byte, an empty range, and a
            // range running past the data (cut to it).
            let ranges = [
                range(0x1000, 16),
                range(0x13, 5),
                range(0x800, 1),
                range(0x900, 0),
                range(0x1800, 64),
            ];
            m.write_vectored(&ranges, &data, AccessKey::ZERO).unwrap();
            let mut b = [0u8; 18];
            m.read(0x1000, &mut b[..16], AccessKey::ZERO).unwrap();
            assert_eq!(b[..16], data[..16], "{which}");
            m.read(0x12, &mut b[..7], AccessKey::ZERO).unwrap();
            assert_eq!(b[..7], [0, 17, 18, 19, 20, 21, 0], "{which}");
            m.read(0x800, &mut b[..1], AccessKey::ZERO).unwrap();
            assert_eq!(b[0], 22, "{which}");
            m.read(0x1800, &mut b, AccessKey::ZERO).unwrap();
            assert_eq!(b[..18], data[22..], "{which}: cut at the end of the data");
        }
    }

    #[test]
    fn read_vectored_gathers_ranges_and_cuts_them_at_the_buffer_end() {
        for (m, which) in both(|| VecMemory::new(0x2000)) {
            let bytes: Vec<u8> = (0..=255).collect();
            m.write(0x1000, &bytes, AccessKey::ZERO).unwrap();
            let mut buf = [0u8; 12];
            let ranges = [range(0x1010, 4), range(0x1003, 3), range(0x10f0, 9), range(0x1000, 4)];
            m.read_vectored(&ranges, &mut buf, AccessKey::ZERO).unwrap();
            assert_eq!(
                buf,
                [0x10, 0x11, 0x12, 0x13, 3, 4, 5, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4],
                "{which}"
            );
        }
    }

    #[test]
    fn write_vectored_failing_range_is_named_and_stores_nothing_from_it() {
        let keyed = || {
            let m = VecMemory::with_storage_keys(0x4000);
            m.set_storage_key(0x1000, StorageKey::new(6, false));
            m.set_storage_key(0x2000, StorageKey::new(5, false));
            m.set_storage_key(0x3000, StorageKey::new(6, false));
            m
        };
        for (m, which) in both(keyed) {
            let mut b = [0u8; 8];
            let ranges = [range(0x1000, 8), range(0x2000, 8), range(0x3000, 8)];
            assert_eq!(
                m.write_vectored(&ranges, &[7; 24], AccessKey::new(6)),
                Err(VectoredAccessError {
                    done: 1,
                    error: AccessError::Protection { addr: 0x2000, key: 6 }
                }),
                "{which}"
            );
            m.read(0x1000, &mut b, AccessKey::ZERO).unwrap();
            assert_eq!(b, [7; 8], "{which}: the range before the failing one is stored");
            m.read(0x2000, &mut b, AccessKey::ZERO).unwrap();
            assert_eq!(b, [0; 8], "{which}: nothing of the failing range");
            m.read(0x3000, &mut b, AccessKey::ZERO).unwrap();
            assert_eq!(b, [0; 8], "{which}: nothing after it");
            let ranges = [range(0x3000, 8), range(0x3ffc, 8), range(0x1000, 8)];
            assert_eq!(
                m.write_vectored(&ranges, &[9; 24], AccessKey::new(6)),
                Err(VectoredAccessError {
                    done: 1,
                    error: AccessError::Addressing { addr: 0x4000 }
                }),
                "{which}"
            );
            m.read(0x3000, &mut b, AccessKey::ZERO).unwrap();
            assert_eq!(b, [9; 8], "{which}");
            m.read(0x3ff8, &mut b, AccessKey::ZERO).unwrap();
            assert_eq!(b, [0; 8], "{which}");
            m.read(0x1000, &mut b, AccessKey::ZERO).unwrap();
            assert_eq!(b, [7; 8], "{which}");
        }
    }

    /// Stress: one thread ORs bits (byte and doubleword interlocked
    /// updates) into bytes that no copy covers, while two threads copy
    /// into the bytes around them — single partial doublewords, a run
    /// below the bulk threshold and a bulk run — and one thread copies the
    /// whole area out. Each OR waits for the copiers to make progress, so
    /// the two interleave. No OR bit may be lost, ever (the OR bytes only
    /// gain bits), and every copied-out byte must be a value some copy
    /// wrote.
    #[test]
    fn concurrent_ors_and_copies_lose_no_bits_and_invent_no_values() {
        use std::sync::atomic::{AtomicBool, AtomicU32};
        use std::sync::Arc;

        // One block: (start, len) of each copy range; the byte before each
        // range and the byte after it are OR bytes.
        const BLOCK: [(u64, usize); 4] = [(1, 14), (17, 14), (41, 198), (257, 526)];
        const BLOCK_LEN: u64 = 784;
        const BLOCKS: u64 = if cfg!(miri) { 1 } else { 8 };
        let areas: Vec<(u64, usize)> = (0..BLOCKS)
            .flat_map(|b| BLOCK.iter().map(move |&(s, l)| (b * BLOCK_LEN + s, l)))
            .collect();
        let or_bytes: Vec<u64> = areas
            .iter()
            .flat_map(|&(start, len)| [start - 1, start + len as u64])
            .collect();
        let values = [0x00u8, 0x5a, 0xa5, 0x3c];
        let span = usize::try_from(BLOCKS * BLOCK_LEN).unwrap();
        let m = Arc::new(VecMemory::new(BLOCKS * BLOCK_LEN));
        let done = Arc::new(AtomicBool::new(false));
        let passes = Arc::new(AtomicU32::new(0));

        let orer = {
            let (m, or_bytes, passes) = (Arc::clone(&m), or_bytes.clone(), Arc::clone(&passes));
            std::thread::spawn(move || {
                for (k, &a) in or_bytes.iter().enumerate() {
                    for bit in 0..8u32 {
                        let seen = passes.load(Ordering::Relaxed);
                        while passes.load(Ordering::Relaxed) == seen {
                            std::thread::yield_now();
                        }
                        if (k + usize::try_from(bit).unwrap()) % 2 == 0 {
                            m.fetch_or_u8(a, 1 << bit, AccessKey::ZERO).unwrap();
                        } else {
                            // The doubleword holding the OR byte, the mask
                            // only in that byte (big-endian: byte j of the
                            // doubleword is bits 56 - 8j .. 63 - 8j).
                            let shift = 8 * (7 - (a % 8)) + u64::from(bit);
                            m.fetch_or_u64_be(a - a % 8, 1 << shift, AccessKey::ZERO).unwrap();
                        }
                    }
                }
            })
        };
        let writers: Vec<_> = (0..2usize)
            .map(|t| {
                let (m, done, passes, areas) = (Arc::clone(&m), Arc::clone(&done), Arc::clone(&passes), areas.clone());
                std::thread::spawn(move || {
                    let mut i = t;
                    while !done.load(Ordering::Relaxed) {
                        let v = values[1 + i % 3];
                        for &(start, len) in &areas {
                            m.write(start, &vec![v; len], AccessKey::ZERO).unwrap();
                            passes.fetch_add(1, Ordering::Relaxed);
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        let reader = {
            let (m, done, or_bytes, areas) = (Arc::clone(&m), Arc::clone(&done), or_bytes.clone(), areas.clone());
            std::thread::spawn(move || {
                let mut seen = vec![0u8; or_bytes.len()];
                let mut buf = vec![0u8; span];
                while !done.load(Ordering::Relaxed) {
                    m.read(0, &mut buf, AccessKey::ZERO).unwrap();
                    for (k, &a) in or_bytes.iter().enumerate() {
                        let now = buf[usize::try_from(a).unwrap()];
                        assert_eq!(now & seen[k], seen[k], "OR bits at {a:#x} went away");
                        seen[k] = now;
                    }
                    for &(start, len) in &areas {
                        let s = usize::try_from(start).unwrap();
                        for &b in &buf[s..s + len] {
                            assert!(values.contains(&b), "invented value {b:#x}");
                        }
                    }
                }
            })
        };
        let ored = orer.join();
        done.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        reader.join().unwrap();
        ored.unwrap();
        for &a in &or_bytes {
            assert_eq!(m.fetch(a, 1).unwrap()[0], 0xff, "OR bits lost at {a:#x}");
        }
    }
}
