//! virtio-rng, the entropy device (virtio 1.x §5.4): one request queue whose
//! device-writable buffers the device fills with host entropy.

use std::io::Read;

use zcss_ccw::memory::{AccessKey, GuestMemory};

use crate::device::{id, queue_bit, VirtioDevice, VIRTIO_F_VERSION_1};
use crate::queue::{Endian, QueueError, SplitQueue};

const QUEUE_SIZE: u16 = 64;
/// Most bytes supplied per request (the driver's buffers may be larger; the
/// used length tells it how much it got).
pub const MAX_PER_REQUEST: usize = 4096;

/// Where entropy comes from.
pub type EntropySource = Box<dyn Read + Send>;

/// A virtio-rng device.
pub struct Rng {
    source: Option<EntropySource>,
    buf: Box<[u8; MAX_PER_REQUEST]>,
    sizes: [u16; 1],
}

impl std::fmt::Debug for Rng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rng")
            .field("source", &self.source.is_some())
            .finish_non_exhaustive()
    }
}

impl Rng {
    /// An entropy device reading the host's `/dev/urandom` (opened on first
    /// use; if it cannot be opened, requests complete with 0 bytes).
    #[must_use]
    pub fn new() -> Self {
        Self::with_source(None)
    }

    /// An entropy device reading `source` (tests use a deterministic one).
    #[must_use]
    pub fn with_source(source: Option<EntropySource>) -> Self {
        Self {
            source,
            buf: Box::new([0; MAX_PER_REQUEST]),
            sizes: [QUEUE_SIZE],
        }
    }

    fn fill(&mut self, n: usize) -> usize {
        if self.source.is_none() {
            self.source = std::fs::File::open("/dev/urandom")
                .ok()
                .map(|f| Box::new(f) as EntropySource);
        }
        let Some(src) = self.source.as_mut() else {
            return 0;
        };
        let mut got = 0;
        while got < n {
            match src.read(&mut self.buf[got..n]) {
                Ok(0) | Err(_) => break,
                Ok(k) => got += k,
            }
        }
        got
    }
}

impl Default for Rng {
    fn default() -> Self {
        Self::new()
    }
}

impl VirtioDevice for Rng {
    fn device_type(&self) -> u8 {
        id::RNG
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.sizes
    }

    fn features(&self) -> u64 {
        VIRTIO_F_VERSION_1
    }

    fn config_len(&self) -> usize {
        0
    }

    fn read_config(&self, _offset: usize, data: &mut [u8], _endian: Endian) {
        data.fill(0);
    }

    fn process_queue(
        &mut self,
        index: usize,
        queues: &mut [SplitQueue],
        mem: &dyn GuestMemory,
    ) -> Result<u64, QueueError> {
        let Some(q) = queues.get_mut(index).filter(|_| index == 0) else {
            return Ok(0);
        };
        let mut completed = false;
        while let Some(chain) = q.pop(mem)? {
            let head = chain.head;
            let want = usize::try_from(chain.writable_len())
                .unwrap_or(usize::MAX)
                .min(MAX_PER_REQUEST);
            let n = self.fill(want);
            chain.for_each_segment(true, 0, n as u64, |addr, pos, k| {
                mem.write(addr, &self.buf[pos..pos + k], AccessKey::ZERO)
                    .map_err(QueueError::Access)
            })?;
            q.add_used(mem, head, u32::try_from(n).unwrap_or(0))?;
            completed = true;
        }
        Ok(if completed { queue_bit(index) } else { 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};
    use zcss_ccw::VecMemory;

    fn put_desc(m: &VecMemory, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&addr.to_le_bytes());
        raw[8..12].copy_from_slice(&len.to_le_bytes());
        raw[12..14].copy_from_slice(&flags.to_le_bytes());
        raw[14..].copy_from_slice(&next.to_le_bytes());
        m.store(0x1000 + 16 * u64::from(i), &raw).unwrap();
    }

    #[test]
    fn request_is_filled_from_source() {
        let m = VecMemory::new(0x10000);
        let mut q = SplitQueue::new(64);
        q.enable(8, 0x1000, 0x2000, 0x3000).unwrap();
        put_desc(&m, 0, 0x5000, 3, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
        put_desc(&m, 1, 0x6000, 5, VIRTQ_DESC_F_WRITE, 0);
        m.store(0x2002, &1u16.to_le_bytes()).unwrap();
        let src: EntropySource = Box::new(std::io::repeat(0xab));
        let mut dev = Rng::with_source(Some(src));
        let mut qs = [q];
        assert_eq!(dev.process_queue(0, &mut qs, &m), Ok(1));
        assert_eq!(m.fetch(0x5000, 4).unwrap(), vec![0xab, 0xab, 0xab, 0]);
        assert_eq!(m.fetch(0x6000, 6).unwrap(), vec![0xab, 0xab, 0xab, 0xab, 0xab, 0]);
        assert_eq!(m.fetch(0x3004, 8).unwrap(), vec![0, 0, 0, 0, 8, 0, 0, 0]);
    }

    #[test]
    fn readable_only_chain_gets_zero_bytes() {
        let m = VecMemory::new(0x10000);
        let mut q = SplitQueue::new(64);
        q.enable(8, 0x1000, 0x2000, 0x3000).unwrap();
        put_desc(&m, 0, 0x5000, 16, 0, 0);
        m.store(0x2002, &1u16.to_le_bytes()).unwrap();
        let mut dev = Rng::with_source(Some(Box::new(std::io::repeat(1))));
        let mut qs = [q];
        assert_eq!(dev.process_queue(0, &mut qs, &m), Ok(1));
        assert_eq!(m.fetch(0x5000, 16).unwrap(), vec![0; 16]);
        assert_eq!(m.fetch(0x3008, 4).unwrap(), vec![0; 4]);
    }

    #[test]
    fn host_urandom_fills_buffer() {
        let m = VecMemory::new(0x10000);
        let mut q = SplitQueue::new(64);
        q.enable(8, 0x1000, 0x2000, 0x3000).unwrap();
        put_desc(&m, 0, 0x5000, 64, VIRTQ_DESC_F_WRITE, 0);
        m.store(0x2002, &1u16.to_le_bytes()).unwrap();
        let mut dev = Rng::new();
        let mut qs = [q];
        dev.process_queue(0, &mut qs, &m).unwrap();
        assert_eq!(m.fetch(0x3008, 4).unwrap(), vec![64, 0, 0, 0]);
        assert_ne!(m.fetch(0x5000, 64).unwrap(), vec![0; 64]);
    }
}
