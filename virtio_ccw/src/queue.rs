//! Split virtqueues in guest storage (virtio 1.x §2.7 "Split Virtqueues",
//! and §2.7.2 legacy interfaces for the contiguous revision-0 layout).
//!
//! This is our own small implementation instead of the `virtio-queue` crate:
//! that crate reaches guest memory through `vm_memory::GuestMemory` regions
//! with host pointers, while zcss guest storage is a `&dyn GuestMemory` with
//! access keys and no slice borrowing; and `virtio-queue` only speaks
//! little-endian rings, while a legacy (revision 0) s390 driver uses its
//! native byte order, big-endian. A split ring is three small structures, so
//! the whole device side fits here with every guest value checked once:
//!
//! - the available index may run at most `size` entries ahead;
//! - head and `next` indices must be below the queue size;
//! - a chain holds at most `size` descriptors (which also ends loops);
//! - indirect descriptors are refused (the feature is never offered);
//! - every buffer lies inside guest storage (checked arithmetic);
//! - device-readable descriptors precede device-writable ones.
//!
//! The device writes only into device-writable descriptors and the used ring.

use thiserror::Error;
use zcss_ccw::memory::{check_range, AccessError, AccessKey, GuestMemory};

/// Descriptor flag: the chain continues at `next`.
pub const VIRTQ_DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the buffer is device-writable.
pub const VIRTQ_DESC_F_WRITE: u16 = 2;
/// Descriptor flag: the buffer holds an indirect descriptor table.
pub const VIRTQ_DESC_F_INDIRECT: u16 = 4;
/// Available-ring flag: the driver does not want used-buffer notifications.
pub const VIRTQ_AVAIL_F_NO_INTERRUPT: u16 = 1;
/// Alignment of the used ring in the legacy contiguous layout (virtio-ccw
/// revision 0 always uses 4096).
pub const LEGACY_ALIGN: u64 = 4096;
/// Largest queue size a split ring can have (virtio 1.x §2.7).
pub const MAX_QUEUE_SIZE: u16 = 32768;

/// Byte order of the ring fields and device-specific headers: little-endian
/// for virtio 1.x (VERSION_1 negotiated), the guest's native order, big-endian
/// on s390, for a legacy driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Endian {
    /// virtio 1.x.
    #[default]
    Little,
    /// Legacy virtio on s390.
    Big,
}

impl Endian {
    /// Decodes a u16.
    #[must_use]
    pub const fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Self::Little => u16::from_le_bytes(b),
            Self::Big => u16::from_be_bytes(b),
        }
    }

    /// Decodes a u32.
    #[must_use]
    pub const fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Self::Little => u32::from_le_bytes(b),
            Self::Big => u32::from_be_bytes(b),
        }
    }

    /// Decodes a u64.
    #[must_use]
    pub const fn u64(self, b: [u8; 8]) -> u64 {
        match self {
            Self::Little => u64::from_le_bytes(b),
            Self::Big => u64::from_be_bytes(b),
        }
    }

    /// Encodes a u16.
    #[must_use]
    pub const fn bytes16(self, v: u16) -> [u8; 2] {
        match self {
            Self::Little => v.to_le_bytes(),
            Self::Big => v.to_be_bytes(),
        }
    }

    /// Encodes a u32.
    #[must_use]
    pub const fn bytes32(self, v: u32) -> [u8; 4] {
        match self {
            Self::Little => v.to_le_bytes(),
            Self::Big => v.to_be_bytes(),
        }
    }

    /// Encodes a u64.
    #[must_use]
    pub const fn bytes64(self, v: u64) -> [u8; 8] {
        match self {
            Self::Little => v.to_le_bytes(),
            Self::Big => v.to_be_bytes(),
        }
    }
}

/// Why a queue cannot be used; the transport answers by setting
/// DEVICE_NEEDS_RESET (virtio 1.x §2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum QueueError {
    /// The queue is not enabled (no SET_VQ, or disabled).
    #[error("queue is not enabled")]
    NotReady,
    /// A ring structure lies (partly) outside guest storage.
    #[error("ring outside guest storage: {0}")]
    Ring(AccessError),
    /// The available index ran more than the queue size ahead.
    #[error("available index {avail} is {pending} entries ahead (size {size})")]
    AvailIndex {
        /// The driver's available index.
        avail: u16,
        /// Entries it claims are pending.
        pending: u16,
        /// Queue size.
        size: u16,
    },
    /// A head or `next` index is not below the queue size.
    #[error("descriptor index {0} out of range")]
    DescriptorIndex(u16),
    /// The chain has more descriptors than the queue size (or loops).
    #[error("descriptor chain longer than the queue size")]
    ChainTooLong,
    /// An indirect descriptor although the feature was not offered.
    #[error("indirect descriptor not negotiated")]
    Indirect,
    /// A device-readable descriptor after a device-writable one.
    #[error("device-readable descriptor after a device-writable one")]
    ReadableAfterWritable,
    /// A buffer lies (partly) outside guest storage or its length overflows.
    #[error("buffer {addr:#x}+{len:#x} outside guest storage")]
    Buffer {
        /// Buffer address.
        addr: u64,
        /// Buffer length.
        len: u32,
    },
    /// The chain's total length exceeds 4 GiB - 1.
    #[error("descriptor chain length overflows")]
    ChainLength,
    /// A data access failed while the device used a buffer.
    #[error("buffer access: {0}")]
    Access(AccessError),
}

/// One validated descriptor of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Descriptor {
    /// Guest absolute address of the buffer (checked to lie in storage).
    pub addr: u64,
    /// Buffer length in bytes.
    pub len: u32,
    /// Device-writable (VIRTQ_DESC_F_WRITE).
    pub writable: bool,
}

/// The validated descriptor chain of one request: readable buffers first,
/// then writable ones.
#[derive(Debug, Clone, Default)]
pub struct DescriptorChain {
    /// Head index (the id returned in the used ring).
    pub head: u16,
    descs: Vec<Descriptor>,
    readable: u64,
    writable: u64,
}

impl DescriptorChain {
    /// The descriptors.
    #[must_use]
    pub fn descriptors(&self) -> &[Descriptor] {
        &self.descs
    }

    /// Total device-readable bytes.
    #[must_use]
    pub const fn readable_len(&self) -> u64 {
        self.readable
    }

    /// Total device-writable bytes.
    #[must_use]
    pub const fn writable_len(&self) -> u64 {
        self.writable
    }

    /// Calls `f(addr, pos, n)` for each piece of the byte range
    /// `start..start+len` of the readable (or writable) part of the chain,
    /// where `pos` counts from `start`. The range must lie within that part.
    ///
    /// # Errors
    /// Whatever `f` returns; [`QueueError::ChainLength`] if the range is
    /// not inside the part.
    pub fn for_each_segment<F>(&self, writable: bool, start: u64, len: u64, mut f: F) -> Result<(), QueueError>
    where
        F: FnMut(u64, usize, usize) -> Result<(), QueueError>,
    {
        let total = if writable { self.writable } else { self.readable };
        match start.checked_add(len) {
            Some(end) if end <= total => {}
            _ => return Err(QueueError::ChainLength),
        }
        let mut skip = start;
        let mut left = len;
        let mut pos = 0usize;
        for d in self.descs.iter().filter(|d| d.writable == writable) {
            if left == 0 {
                break;
            }
            let dlen = u64::from(d.len);
            if skip >= dlen {
                skip -= dlen;
                continue;
            }
            let n = (dlen - skip).min(left);
            let nu = usize::try_from(n).map_err(|_| QueueError::ChainLength)?;
            f(d.addr + skip, pos, nu)?;
            pos += nu;
            left -= n;
            skip = 0;
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes from the readable part at `offset`.
    ///
    /// # Errors
    /// Range or access errors.
    pub fn read_at(&self, mem: &dyn GuestMemory, offset: u64, buf: &mut [u8]) -> Result<(), QueueError> {
        self.for_each_segment(false, offset, buf.len() as u64, |addr, pos, n| {
            mem.read(addr, &mut buf[pos..pos + n], AccessKey::ZERO)
                .map_err(QueueError::Access)
        })
    }

    /// Writes `data` into the writable part at `offset`.
    ///
    /// # Errors
    /// Range or access errors.
    pub fn write_at(&self, mem: &dyn GuestMemory, offset: u64, data: &[u8]) -> Result<(), QueueError> {
        self.for_each_segment(true, offset, data.len() as u64, |addr, pos, n| {
            mem.write(addr, &data[pos..pos + n], AccessKey::ZERO)
                .map_err(QueueError::Access)
        })
    }
}

/// The device side of a [`SplitQueue`] as plain data (snapshot): its
/// configuration and where the device is in the rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueState {
    /// Queue size (0 while disabled).
    pub size: u16,
    /// Descriptor table address.
    pub desc: u64,
    /// Available ring address.
    pub avail: u64,
    /// Used ring address.
    pub used: u64,
    /// Enabled.
    pub ready: bool,
    /// Big-endian rings (legacy).
    pub big_endian: bool,
    /// The next available-ring entry the device takes.
    pub next_avail: u16,
    /// The next used-ring entry the device fills.
    pub next_used: u16,
}

/// The device side of one split virtqueue. Plain state: guest storage is an
/// argument of every call.
#[derive(Debug, Clone)]
pub struct SplitQueue {
    max_size: u16,
    size: u16,
    desc: u64,
    avail: u64,
    used: u64,
    ready: bool,
    endian: Endian,
    next_avail: u16,
    next_used: u16,
    chain: DescriptorChain,
}

impl SplitQueue {
    /// A disabled queue that accepts at most `max_size` entries (a power of
    /// two, at most [`MAX_QUEUE_SIZE`]; other values are rounded down).
    #[must_use]
    pub fn new(max_size: u16) -> Self {
        let max_size = match max_size.min(MAX_QUEUE_SIZE) {
            0 => 0,
            m => 1 << (15 - m.leading_zeros()),
        };
        Self {
            max_size,
            size: 0,
            desc: 0,
            avail: 0,
            used: 0,
            ready: false,
            endian: Endian::Little,
            next_avail: 0,
            next_used: 0,
            chain: DescriptorChain {
                head: 0,
                descs: Vec::with_capacity(usize::from(max_size)),
                readable: 0,
                writable: 0,
            },
        }
    }

    /// Largest size the device accepts.
    #[must_use]
    pub const fn max_size(&self) -> u16 {
        self.max_size
    }

    /// Current size (0 while disabled).
    #[must_use]
    pub const fn size(&self) -> u16 {
        self.size
    }

    /// Whether the queue is enabled.
    #[must_use]
    pub const fn ready(&self) -> bool {
        self.ready
    }

    /// Descriptor table, available ring and used ring addresses.
    #[must_use]
    pub const fn addresses(&self) -> (u64, u64, u64) {
        (self.desc, self.avail, self.used)
    }

    /// Ring byte order.
    #[must_use]
    pub const fn endian(&self) -> Endian {
        self.endian
    }

    /// Sets the ring byte order (from the negotiated features).
    pub fn set_endian(&mut self, endian: Endian) {
        self.endian = endian;
    }

    /// The queue's state (snapshot).
    #[must_use]
    pub const fn state(&self) -> QueueState {
        QueueState {
            size: self.size,
            desc: self.desc,
            avail: self.avail,
            used: self.used,
            ready: self.ready,
            big_endian: matches!(self.endian, Endian::Big),
            next_avail: self.next_avail,
            next_used: self.next_used,
        }
    }

    /// Restores [`SplitQueue::state`] into a queue of the same maximum size.
    ///
    /// # Errors
    /// A size that is no power of two or above the maximum, or an enabled
    /// queue whose areas are misaligned or overflow (the checks of
    /// [`SplitQueue::enable`]).
    pub fn set_state(&mut self, s: &QueueState) -> Result<(), SetupError> {
        if s.ready {
            self.enable(s.size, s.desc, s.avail, s.used)?;
        } else {
            self.reset();
        }
        self.endian = if s.big_endian { Endian::Big } else { Endian::Little };
        self.next_avail = s.next_avail;
        self.next_used = s.next_used;
        Ok(())
    }

    /// Disables the queue and forgets its rings (reset).
    pub fn reset(&mut self) {
        self.size = 0;
        self.desc = 0;
        self.avail = 0;
        self.used = 0;
        self.ready = false;
        self.next_avail = 0;
        self.next_used = 0;
    }

    /// Enables the queue with separate areas (virtio 1.x layout). `size` must
    /// be a power of two not above the maximum; the areas must have their
    /// architected alignment (16, 2, 4).
    ///
    /// # Errors
    /// A [`SetupError`] naming the first invalid value; the queue is unchanged.
    pub fn enable(&mut self, size: u16, desc: u64, avail: u64, used: u64) -> Result<(), SetupError> {
        if size == 0 || !size.is_power_of_two() || size > self.max_size {
            return Err(SetupError::Size(size));
        }
        if desc % 16 != 0 || avail % 2 != 0 || used % 4 != 0 {
            return Err(SetupError::Alignment);
        }
        let s = u64::from(size);
        // The areas' ends must be representable (their presence in storage
        // is checked at each use, as storage may change size).
        for (base, len) in [(desc, 16 * s), (avail, 6 + 2 * s), (used, 6 + 8 * s)] {
            if base.checked_add(len).is_none() {
                return Err(SetupError::Overflow);
            }
        }
        self.size = size;
        self.desc = desc;
        self.avail = avail;
        self.used = used;
        self.ready = true;
        self.next_avail = 0;
        self.next_used = 0;
        Ok(())
    }

    /// Enables the queue in the legacy contiguous layout at `base`:
    /// descriptor table, available ring, padding to `LEGACY_ALIGN`, used ring
    /// (virtio 1.x §2.7.2 "Legacy Interfaces: A Note on Virtqueue Layout").
    ///
    /// # Errors
    /// As [`SplitQueue::enable`]; `base` must be `LEGACY_ALIGN`-aligned.
    pub fn enable_legacy(&mut self, size: u16, base: u64) -> Result<(), SetupError> {
        if base % LEGACY_ALIGN != 0 {
            return Err(SetupError::Alignment);
        }
        if size == 0 || !size.is_power_of_two() || size > self.max_size {
            return Err(SetupError::Size(size));
        }
        let (avail, used) = legacy_offsets(size);
        let avail = base.checked_add(avail).ok_or(SetupError::Overflow)?;
        let used = base.checked_add(used).ok_or(SetupError::Overflow)?;
        self.enable(size, base, avail, used)
    }

    fn check_rings(&self, mem: &dyn GuestMemory) -> Result<(), QueueError> {
        let s = u64::from(self.size);
        let size = mem.size();
        for (base, len) in [(self.desc, 16 * s), (self.avail, 4 + 2 * s), (self.used, 4 + 8 * s)] {
            // Lengths fit usize: size ≤ 32768.
            check_range(base, usize::try_from(len).unwrap_or(usize::MAX), size).map_err(QueueError::Ring)?;
        }
        Ok(())
    }

    fn read16(&self, mem: &dyn GuestMemory, addr: u64) -> Result<u16, QueueError> {
        let mut b = [0u8; 2];
        mem.read(addr, &mut b, AccessKey::ZERO).map_err(QueueError::Ring)?;
        Ok(self.endian.u16(b))
    }

    /// Takes the next available chain, validating it completely before the
    /// device sees it. `Ok(None)` when the driver offered nothing new.
    ///
    /// # Errors
    /// A [`QueueError`]; the transport then marks the device as needing reset.
    pub fn pop(&mut self, mem: &dyn GuestMemory) -> Result<Option<&DescriptorChain>, QueueError> {
        if !self.ready {
            return Err(QueueError::NotReady);
        }
        self.check_rings(mem)?;
        let avail_idx = self.read16(mem, self.avail + 2)?;
        let pending = avail_idx.wrapping_sub(self.next_avail);
        if pending == 0 {
            return Ok(None);
        }
        if pending > self.size {
            return Err(QueueError::AvailIndex {
                avail: avail_idx,
                pending,
                size: self.size,
            });
        }
        let slot = u64::from(self.next_avail % self.size);
        let head = self.read16(mem, self.avail + 4 + 2 * slot)?;
        self.walk(mem, head)?;
        self.next_avail = self.next_avail.wrapping_add(1);
        Ok(Some(&self.chain))
    }

    fn walk(&mut self, mem: &dyn GuestMemory, head: u16) -> Result<(), QueueError> {
        let chain = &mut self.chain;
        chain.descs.clear();
        chain.head = head;
        chain.readable = 0;
        chain.writable = 0;
        let mut idx = head;
        let storage = mem.size();
        let mut seen_writable = false;
        loop {
            if idx >= self.size {
                return Err(QueueError::DescriptorIndex(idx));
            }
            if chain.descs.len() >= usize::from(self.size) {
                return Err(QueueError::ChainTooLong);
            }
            let mut raw = [0u8; 16];
            mem.read(self.desc + 16 * u64::from(idx), &mut raw, AccessKey::ZERO)
                .map_err(QueueError::Ring)?;
            let e = self.endian;
            let addr = e.u64([raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]]);
            let len = e.u32([raw[8], raw[9], raw[10], raw[11]]);
            let flags = e.u16([raw[12], raw[13]]);
            let next = e.u16([raw[14], raw[15]]);
            if flags & VIRTQ_DESC_F_INDIRECT != 0 {
                return Err(QueueError::Indirect);
            }
            match addr.checked_add(u64::from(len)) {
                Some(end) if end <= storage => {}
                _ => return Err(QueueError::Buffer { addr, len }),
            }
            let writable = flags & VIRTQ_DESC_F_WRITE != 0;
            if writable {
                seen_writable = true;
                chain.writable += u64::from(len);
            } else {
                if seen_writable {
                    return Err(QueueError::ReadableAfterWritable);
                }
                chain.readable += u64::from(len);
            }
            if chain.readable + chain.writable > u64::from(u32::MAX) {
                return Err(QueueError::ChainLength);
            }
            chain.descs.push(Descriptor { addr, len, writable });
            if flags & VIRTQ_DESC_F_NEXT == 0 {
                return Ok(());
            }
            idx = next;
        }
    }

    /// Puts the chain `head` into the used ring with `len` bytes written and
    /// publishes the new used index.
    ///
    /// # Errors
    /// The used ring is outside storage.
    pub fn add_used(&mut self, mem: &dyn GuestMemory, head: u16, len: u32) -> Result<(), QueueError> {
        if !self.ready {
            return Err(QueueError::NotReady);
        }
        let slot = u64::from(self.next_used % self.size);
        let mut elem = [0u8; 8];
        elem[..4].copy_from_slice(&self.endian.bytes32(u32::from(head)));
        elem[4..].copy_from_slice(&self.endian.bytes32(len));
        mem.write(self.used + 4 + 8 * slot, &elem, AccessKey::ZERO)
            .map_err(QueueError::Ring)?;
        self.next_used = self.next_used.wrapping_add(1);
        mem.write(self.used + 2, &self.endian.bytes16(self.next_used), AccessKey::ZERO)
            .map_err(QueueError::Ring)
    }

    /// Whether the driver wants a used-buffer notification (the available
    /// ring's NO_INTERRUPT flag is clear; event index is never offered).
    ///
    /// # Errors
    /// The available ring is outside storage.
    pub fn needs_notification(&self, mem: &dyn GuestMemory) -> Result<bool, QueueError> {
        Ok(self.read16(mem, self.avail)? & VIRTQ_AVAIL_F_NO_INTERRUPT == 0)
    }

    /// Index of the next used entry (the count of completed chains, mod 2^16).
    #[must_use]
    pub const fn next_used(&self) -> u16 {
        self.next_used
    }
}

/// Offsets of the available and used rings from the base of a legacy
/// contiguous ring of `size` entries.
#[must_use]
pub const fn legacy_offsets(size: u16) -> (u64, u64) {
    let s = size as u64;
    let avail = 16 * s;
    let avail_end = avail + 4 + 2 * s + 2;
    let used = avail_end.div_ceil(LEGACY_ALIGN) * LEGACY_ALIGN;
    (avail, used)
}

/// Why a ring set-up is refused (a command reject on the channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SetupError {
    /// Size 0, not a power of two, or above the maximum.
    #[error("queue size {0} not acceptable")]
    Size(u16),
    /// A ring area is not aligned as required.
    #[error("ring misaligned")]
    Alignment,
    /// A ring area wraps the address space.
    #[error("ring wraps the address space")]
    Overflow,
}

#[cfg(test)]
mod tests {
    use super::*;
    use zcss_ccw::VecMemory;

    const DESC: u64 = 0x1000;
    const AVAIL: u64 = 0x2000;
    const USED: u64 = 0x3000;

    fn put_desc(m: &VecMemory, e: Endian, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&e.bytes64(addr));
        raw[8..12].copy_from_slice(&e.bytes32(len));
        raw[12..14].copy_from_slice(&e.bytes16(flags));
        raw[14..].copy_from_slice(&e.bytes16(next));
        m.store(DESC + 16 * u64::from(i), &raw).unwrap();
    }

    fn offer(m: &VecMemory, e: Endian, slot: u16, head: u16, idx: u16) {
        m.store(AVAIL + 4 + 2 * u64::from(slot), &e.bytes16(head)).unwrap();
        m.store(AVAIL + 2, &e.bytes16(idx)).unwrap();
    }

    fn queue(size: u16) -> SplitQueue {
        let mut q = SplitQueue::new(256);
        q.enable(size, DESC, AVAIL, USED).unwrap();
        q
    }

    #[test]
    fn pop_valid_chain_returns_descriptors() {
        let m = VecMemory::new(0x10000);
        put_desc(&m, Endian::Little, 0, 0x5000, 16, VIRTQ_DESC_F_NEXT, 1);
        put_desc(
            &m,
            Endian::Little,
            1,
            0x6000,
            512,
            VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
            2,
        );
        put_desc(&m, Endian::Little, 2, 0x7000, 1, VIRTQ_DESC_F_WRITE, 0);
        offer(&m, Endian::Little, 0, 0, 1);
        let mut q = queue(8);
        let c = q.pop(&m).unwrap().unwrap();
        assert_eq!(c.head, 0);
        assert_eq!(c.readable_len(), 16);
        assert_eq!(c.writable_len(), 513);
        assert_eq!(c.descriptors().len(), 3);
        assert!(q.pop(&m).unwrap().is_none());
    }

    #[test]
    fn pop_looping_chain_is_too_long() {
        let m = VecMemory::new(0x10000);
        put_desc(&m, Endian::Little, 0, 0x5000, 16, VIRTQ_DESC_F_NEXT, 1);
        put_desc(&m, Endian::Little, 1, 0x5000, 16, VIRTQ_DESC_F_NEXT, 0);
        offer(&m, Endian::Little, 0, 0, 1);
        let mut q = queue(8);
        assert_eq!(q.pop(&m).unwrap_err(), QueueError::ChainTooLong);
    }

    #[test]
    fn pop_self_loop_is_too_long() {
        let m = VecMemory::new(0x10000);
        put_desc(&m, Endian::Little, 3, 0x5000, 16, VIRTQ_DESC_F_NEXT, 3);
        offer(&m, Endian::Little, 0, 3, 1);
        let mut q = queue(4);
        assert_eq!(q.pop(&m).unwrap_err(), QueueError::ChainTooLong);
    }

    #[test]
    fn pop_buffer_outside_storage_is_refused() {
        let m = VecMemory::new(0x10000);
        put_desc(&m, Endian::Little, 0, 0xfff0, 0x20, 0, 0);
        offer(&m, Endian::Little, 0, 0, 1);
        let mut q = queue(8);
        assert_eq!(
            q.pop(&m).unwrap_err(),
            QueueError::Buffer {
                addr: 0xfff0,
                len: 0x20
            }
        );
    }

    #[test]
    fn pop_buffer_wrapping_address_space_is_refused() {
        let m = VecMemory::new(0x10000);
        put_desc(&m, Endian::Little, 0, u64::MAX - 4, 0x20, 0, 0);
        offer(&m, Endian::Little, 0, 0, 1);
        let mut q = queue(8);
        assert!(matches!(q.pop(&m).unwrap_err(), QueueError::Buffer { .. }));
    }

    /// Storage claiming 1 TiB, backed by 64 KiB (reads above read zeros),
    /// so that descriptor lengths near 4 GiB pass the storage check.
    struct HugeMemory(VecMemory);

    impl GuestMemory for HugeMemory {
        fn size(&self) -> u64 {
            1 << 40
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

    #[test]
    fn pop_total_length_over_4g_is_refused() {
        let m = HugeMemory(VecMemory::new(0x10000));
        put_desc(
            &m.0,
            Endian::Little,
            0,
            0x1_0000_0000,
            0xffff_0000,
            VIRTQ_DESC_F_NEXT,
            1,
        );
        put_desc(&m.0, Endian::Little, 1, 0x2_0000_0000, 0xffff_0000, 0, 0);
        offer(&m.0, Endian::Little, 0, 0, 1);
        let mut q = queue(8);
        assert_eq!(q.pop(&m).unwrap_err(), QueueError::ChainLength);
    }

    #[test]
    fn pop_head_index_out_of_range_is_refused() {
        let m = VecMemory::new(0x10000);
        offer(&m, Endian::Little, 0, 9, 1);
        let mut q = queue(8);
        assert_eq!(q.pop(&m).unwrap_err(), QueueError::DescriptorIndex(9));
    }

    #[test]
    fn pop_next_index_out_of_range_is_refused() {
        let m = VecMemory::new(0x10000);
        put_desc(&m, Endian::Little, 0, 0x5000, 16, VIRTQ_DESC_F_NEXT, 200);
        offer(&m, Endian::Little, 0, 0, 1);
        let mut q = queue(8);
        assert_eq!(q.pop(&m).unwrap_err(), QueueError::DescriptorIndex(200));
    }

    #[test]
    fn pop_indirect_descriptor_is_refused() {
        let m = VecMemory::new(0x10000);
        put_desc(&m, Endian::Little, 0, 0x5000, 32, VIRTQ_DESC_F_INDIRECT, 0);
        offer(&m, Endian::Little, 0, 0, 1);
        let mut q = queue(8);
        assert_eq!(q.pop(&m).unwrap_err(), QueueError::Indirect);
    }

    #[test]
    fn pop_readable_after_writable_is_refused() {
        let m = VecMemory::new(0x10000);
        put_desc(
            &m,
            Endian::Little,
            0,
            0x5000,
            1,
            VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
            1,
        );
        put_desc(&m, Endian::Little, 1, 0x6000, 16, 0, 0);
        offer(&m, Endian::Little, 0, 0, 1);
        let mut q = queue(8);
        assert_eq!(q.pop(&m).unwrap_err(), QueueError::ReadableAfterWritable);
    }

    #[test]
    fn pop_avail_index_jump_is_refused() {
        let m = VecMemory::new(0x10000);
        offer(&m, Endian::Little, 0, 0, 9);
        let mut q = queue(8);
        assert!(matches!(
            q.pop(&m).unwrap_err(),
            QueueError::AvailIndex { pending: 9, .. }
        ));
    }

    #[test]
    fn pop_ring_outside_storage_is_refused() {
        let m = VecMemory::new(0x2800);
        let mut q = queue(8);
        assert!(matches!(q.pop(&m).unwrap_err(), QueueError::Ring(_)));
    }

    #[test]
    fn pop_disabled_queue_is_not_ready() {
        let m = VecMemory::new(0x10000);
        let mut q = SplitQueue::new(8);
        assert_eq!(q.pop(&m).unwrap_err(), QueueError::NotReady);
    }

    #[test]
    fn enable_size_not_power_of_two_is_refused() {
        let mut q = SplitQueue::new(256);
        assert_eq!(q.enable(12, DESC, AVAIL, USED), Err(SetupError::Size(12)));
        assert_eq!(q.enable(0, DESC, AVAIL, USED), Err(SetupError::Size(0)));
        assert_eq!(q.enable(512, DESC, AVAIL, USED), Err(SetupError::Size(512)));
        assert!(!q.ready());
    }

    #[test]
    fn enable_misaligned_rings_are_refused() {
        let mut q = SplitQueue::new(256);
        assert_eq!(q.enable(8, DESC + 8, AVAIL, USED), Err(SetupError::Alignment));
        assert_eq!(q.enable(8, DESC, AVAIL + 1, USED), Err(SetupError::Alignment));
        assert_eq!(q.enable(8, DESC, AVAIL, USED + 2), Err(SetupError::Alignment));
        assert_eq!(q.enable_legacy(8, 0x1800), Err(SetupError::Alignment));
    }

    #[test]
    fn enable_wrapping_rings_are_refused() {
        let mut q = SplitQueue::new(256);
        assert_eq!(q.enable(8, u64::MAX - 15, AVAIL, USED), Err(SetupError::Overflow));
        assert_eq!(q.enable_legacy(8, u64::MAX - 4095), Err(SetupError::Overflow));
    }

    #[test]
    fn new_rounds_max_size_down_to_power_of_two() {
        assert_eq!(SplitQueue::new(300).max_size(), 256);
        assert_eq!(SplitQueue::new(u16::MAX).max_size(), MAX_QUEUE_SIZE);
        assert_eq!(SplitQueue::new(0).max_size(), 0);
    }

    #[test]
    fn legacy_layout_places_used_ring_on_page_boundary() {
        assert_eq!(legacy_offsets(128), (2048, 4096));
        assert_eq!(legacy_offsets(256), (4096, 8192));
        let m = VecMemory::new(0x10000);
        let mut q = SplitQueue::new(256);
        q.enable_legacy(256, 0x4000).unwrap();
        q.set_endian(Endian::Big);
        assert_eq!(q.addresses(), (0x4000, 0x5000, 0x6000));
        // Big-endian descriptor and available ring.
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&0x9000u64.to_be_bytes());
        raw[8..12].copy_from_slice(&4u32.to_be_bytes());
        raw[12..14].copy_from_slice(&VIRTQ_DESC_F_WRITE.to_be_bytes());
        m.store(0x4000 + 16 * 5, &raw).unwrap();
        m.store(0x5004, &5u16.to_be_bytes()).unwrap();
        m.store(0x5002, &1u16.to_be_bytes()).unwrap();
        let c = q.pop(&m).unwrap().unwrap();
        assert_eq!((c.head, c.writable_len()), (5, 4));
        q.add_used(&m, 5, 4).unwrap();
        assert_eq!(m.fetch(0x6002, 10).unwrap(), vec![0, 1, 0, 0, 0, 5, 0, 0, 0, 4]);
    }

    #[test]
    fn add_used_writes_element_and_index() {
        let m = VecMemory::new(0x10000);
        let mut q = queue(8);
        q.add_used(&m, 3, 0x201).unwrap();
        assert_eq!(m.fetch(USED + 2, 10).unwrap(), vec![1, 0, 3, 0, 0, 0, 1, 2, 0, 0]);
        assert_eq!(q.next_used(), 1);
    }

    #[test]
    fn chain_segments_split_across_descriptors() {
        let m = VecMemory::new(0x10000);
        put_desc(&m, Endian::Little, 0, 0x5000, 10, VIRTQ_DESC_F_NEXT, 1);
        put_desc(&m, Endian::Little, 1, 0x6000, 10, VIRTQ_DESC_F_NEXT, 2);
        put_desc(
            &m,
            Endian::Little,
            2,
            0x7000,
            4,
            VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
            3,
        );
        put_desc(&m, Endian::Little, 3, 0x8000, 4, VIRTQ_DESC_F_WRITE, 0);
        m.store(0x5000, b"0123456789").unwrap();
        m.store(0x6000, b"abcdefghij").unwrap();
        offer(&m, Endian::Little, 0, 0, 1);
        let mut q = queue(8);
        let c = q.pop(&m).unwrap().unwrap();
        let mut b = [0u8; 6];
        c.read_at(&m, 7, &mut b).unwrap();
        assert_eq!(&b, b"789abc");
        c.write_at(&m, 2, b"WXYZ").unwrap();
        assert_eq!(m.fetch(0x7000, 4).unwrap(), vec![0, 0, b'W', b'X']);
        assert_eq!(m.fetch(0x8000, 4).unwrap(), vec![b'Y', b'Z', 0, 0]);
        assert_eq!(c.write_at(&m, 6, b"abc"), Err(QueueError::ChainLength));
    }

    #[test]
    fn needs_notification_honours_no_interrupt_flag() {
        let m = VecMemory::new(0x10000);
        let q = queue(8);
        assert!(q.needs_notification(&m).unwrap());
        m.store(AVAIL, &1u16.to_le_bytes()).unwrap();
        assert!(!q.needs_notification(&m).unwrap());
    }
}
