//! virtio-blk (virtio 1.x §5.2 "Block Device"): one request queue, requests
//! IN, OUT, FLUSH and GET_ID, capacity in 512-byte sectors and the block size
//! in configuration space, backed by memory or a host file.
//!
//! Each request is parsed, then validated against the spec's MUSTs before
//! any data moves: a 16-byte device-readable header (type, reserved, sector),
//! data buffers, and a device-writable status byte as the last writable
//! byte. Message framing across descriptors is free (virtio 1.x §2.6.4).
//! A request that breaks these rules but still has a status byte gets
//! VIRTIO_BLK_S_IOERR (or UNSUPP for unknown types); one without any
//! writable byte cannot be answered and is a queue error (needs reset).

use std::fs::File;
use std::io;

use serde::{Deserialize, Serialize};
use zcss_ccw::memory::{AccessKey, GuestMemory};
use zcss_css::DeviceStateError;

use crate::device::{copy_config, id, queue_bit, VirtioDevice, VIRTIO_F_VERSION_1};
use crate::queue::{DescriptorChain, Endian, QueueError, SplitQueue};

/// Sector size of virtio-blk addressing.
pub const SECTOR_SIZE: u64 = 512;
/// Request type: read.
pub const VIRTIO_BLK_T_IN: u32 = 0;
/// Request type: write.
pub const VIRTIO_BLK_T_OUT: u32 = 1;
/// Request type: flush.
pub const VIRTIO_BLK_T_FLUSH: u32 = 4;
/// Request type: get device id string.
pub const VIRTIO_BLK_T_GET_ID: u32 = 8;
/// Status: success.
pub const VIRTIO_BLK_S_OK: u8 = 0;
/// Status: I/O error (also for invalid requests).
pub const VIRTIO_BLK_S_IOERR: u8 = 1;
/// Status: unsupported request type.
pub const VIRTIO_BLK_S_UNSUPP: u8 = 2;
/// Feature: maximum number of segments in `seg_max`.
pub const VIRTIO_BLK_F_SEG_MAX: u64 = 1 << 2;
/// Feature: read-only device.
pub const VIRTIO_BLK_F_RO: u64 = 1 << 5;
/// Feature: block size in `blk_size`.
pub const VIRTIO_BLK_F_BLK_SIZE: u64 = 1 << 6;
/// Feature: FLUSH supported.
pub const VIRTIO_BLK_F_FLUSH: u64 = 1 << 9;
/// Length of the device id string returned by GET_ID.
pub const VIRTIO_BLK_ID_BYTES: usize = 20;
/// Configuration space length: capacity, size_max, seg_max, geometry, blk_size.
pub const CONFIG_LEN: usize = 24;

const HEADER_LEN: u64 = 16;
const QUEUE_SIZE: u16 = 256;
const SCRATCH: usize = 64 * 1024;

/// Where the blocks live.
#[derive(Debug)]
pub enum BlockBackend {
    /// An in-memory image.
    Memory(Vec<u8>),
    /// A host file (positioned I/O, never resized).
    File(File),
}

impl BlockBackend {
    fn len(&self) -> io::Result<u64> {
        match self {
            Self::Memory(v) => Ok(v.len() as u64),
            Self::File(f) => Ok(f.metadata()?.len()),
        }
    }
}

/// A virtio-blk device.
#[derive(Debug)]
pub struct Block {
    backend: BlockBackend,
    capacity: u64,
    read_only: bool,
    id: [u8; VIRTIO_BLK_ID_BYTES],
    endian: Endian,
    scratch: Vec<u8>,
    sizes: [u16; 1],
}

impl Block {
    /// A block device over `backend`; its capacity is the backend length
    /// rounded down to whole sectors.
    ///
    /// # Errors
    /// The file's length cannot be read.
    pub fn new(backend: BlockBackend, read_only: bool) -> io::Result<Self> {
        let capacity = backend.len()? / SECTOR_SIZE;
        Ok(Self {
            backend,
            capacity,
            read_only,
            id: *b"zcss-virtio-blk\0\0\0\0\0",
            endian: Endian::Little,
            scratch: Vec::new(),
            sizes: [QUEUE_SIZE],
        })
    }

    /// An in-memory device of `sectors` zeroed sectors.
    ///
    /// # Errors
    /// [`io::ErrorKind::OutOfMemory`] when the host cannot allocate that
    /// much (or the size does not fit the address space).
    pub fn in_memory(sectors: u64) -> io::Result<Self> {
        let too_big = || io::Error::new(io::ErrorKind::OutOfMemory, "virtio-blk image too large for host memory");
        let len = sectors
            .checked_mul(SECTOR_SIZE)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(too_big)?;
        let mut v = Vec::new();
        v.try_reserve_exact(len).map_err(|_| too_big())?;
        v.resize(len, 0);
        Ok(Self {
            backend: BlockBackend::Memory(v),
            capacity: sectors,
            read_only: false,
            id: *b"zcss-virtio-blk\0\0\0\0\0",
            endian: Endian::Little,
            scratch: Vec::new(),
            sizes: [QUEUE_SIZE],
        })
    }

    /// Sets the id string returned by GET_ID (truncated to 20 bytes).
    #[must_use]
    pub fn with_id(mut self, id: &str) -> Self {
        self.id = [0; VIRTIO_BLK_ID_BYTES];
        let n = id.len().min(VIRTIO_BLK_ID_BYTES);
        self.id[..n].copy_from_slice(&id.as_bytes()[..n]);
        self
    }

    /// Capacity in 512-byte sectors.
    #[must_use]
    pub const fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Whether the device is read-only.
    #[must_use]
    pub const fn read_only(&self) -> bool {
        self.read_only
    }

    /// Whether the image is a file (changed in place by the guest's writes).
    #[must_use]
    pub const fn is_file_backed(&self) -> bool {
        matches!(self.backend, BlockBackend::File(_))
    }

    /// A copy of the whole image as it is now (`capacity` sectors), from
    /// memory or read from the file — what a trace recorder saves beside
    /// the trace so that a replay starts from the same contents.
    ///
    /// # Errors
    /// The file cannot be read, or the copy cannot be allocated.
    pub fn contents(&self) -> io::Result<Vec<u8>> {
        let len = self
            .capacity
            .checked_mul(SECTOR_SIZE)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "image too large"))?;
        match &self.backend {
            BlockBackend::Memory(v) => Ok(v.get(..len).unwrap_or(v).to_vec()),
            BlockBackend::File(f) => {
                let mut out = Vec::new();
                out.try_reserve_exact(len)
                    .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "image too large"))?;
                out.resize(len, 0);
                file_read_at(f, &mut out, 0)?;
                Ok(out)
            }
        }
    }

    /// The in-memory image, if memory-backed.
    #[must_use]
    pub fn image(&self) -> Option<&[u8]> {
        match &self.backend {
            BlockBackend::Memory(v) => Some(v),
            BlockBackend::File(_) => None,
        }
    }

    /// Handles one validated chain; returns (status, bytes written into
    /// writable buffers excluding the status byte).
    fn handle(&mut self, mem: &dyn GuestMemory, c: &DescriptorChain) -> Result<(u8, u64), QueueError> {
        if c.readable_len() < HEADER_LEN {
            return Ok((VIRTIO_BLK_S_IOERR, 0));
        }
        let mut hdr = [0u8; 16];
        c.read_at(mem, 0, &mut hdr)?;
        let e = self.endian;
        let kind = e.u32([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let sector = e.u64([hdr[8], hdr[9], hdr[10], hdr[11], hdr[12], hdr[13], hdr[14], hdr[15]]);
        // The status byte is the last writable byte (validated non-empty).
        let data_in = c.writable_len() - 1;
        let data_out = c.readable_len() - HEADER_LEN;
        match kind {
            VIRTIO_BLK_T_IN => {
                if data_out != 0 {
                    return Ok((VIRTIO_BLK_S_IOERR, 0));
                }
                let Some(off) = self.range(sector, data_in) else {
                    return Ok((VIRTIO_BLK_S_IOERR, 0));
                };
                match self.read_into(mem, c, off, data_in) {
                    Ok(()) => Ok((VIRTIO_BLK_S_OK, data_in)),
                    Err(BackendError::Io) => Ok((VIRTIO_BLK_S_IOERR, 0)),
                    Err(BackendError::Queue(q)) => Err(q),
                }
            }
            VIRTIO_BLK_T_OUT => {
                if data_in != 0 || self.read_only {
                    return Ok((VIRTIO_BLK_S_IOERR, 0));
                }
                let Some(off) = self.range(sector, data_out) else {
                    return Ok((VIRTIO_BLK_S_IOERR, 0));
                };
                match self.write_from(mem, c, off, data_out) {
                    Ok(()) => Ok((VIRTIO_BLK_S_OK, 0)),
                    Err(BackendError::Io) => Ok((VIRTIO_BLK_S_IOERR, 0)),
                    Err(BackendError::Queue(q)) => Err(q),
                }
            }
            VIRTIO_BLK_T_FLUSH => {
                if data_in != 0 || data_out != 0 {
                    return Ok((VIRTIO_BLK_S_IOERR, 0));
                }
                let ok = match &self.backend {
                    BlockBackend::Memory(_) => true,
                    BlockBackend::File(f) => f.sync_data().is_ok(),
                };
                Ok((if ok { VIRTIO_BLK_S_OK } else { VIRTIO_BLK_S_IOERR }, 0))
            }
            VIRTIO_BLK_T_GET_ID => {
                if data_out != 0 {
                    return Ok((VIRTIO_BLK_S_IOERR, 0));
                }
                let n = usize::try_from(data_in).unwrap_or(usize::MAX).min(VIRTIO_BLK_ID_BYTES);
                c.write_at(mem, 0, &self.id[..n])?;
                Ok((VIRTIO_BLK_S_OK, n as u64))
            }
            _ => Ok((VIRTIO_BLK_S_UNSUPP, 0)),
        }
    }

    /// Byte offset of `sector` if `len` bytes from there are whole sectors
    /// inside the capacity.
    fn range(&self, sector: u64, len: u64) -> Option<u64> {
        if len % SECTOR_SIZE != 0 {
            return None;
        }
        let end = sector.checked_add(len / SECTOR_SIZE)?;
        (end <= self.capacity).then(|| sector * SECTOR_SIZE)
    }

    fn read_into(
        &mut self,
        mem: &dyn GuestMemory,
        c: &DescriptorChain,
        off: u64,
        len: u64,
    ) -> Result<(), BackendError> {
        match &mut self.backend {
            BlockBackend::Memory(img) => c
                .for_each_segment(true, 0, len, |addr, pos, n| {
                    let start = usize::try_from(off).map_err(|_| QueueError::ChainLength)? + pos;
                    mem.write(addr, &img[start..start + n], AccessKey::ZERO)
                        .map_err(QueueError::Access)
                })
                .map_err(BackendError::Queue),
            BlockBackend::File(f) => {
                let scratch = &mut self.scratch;
                let mut io_failed = false;
                c.for_each_segment(true, 0, len, |addr, pos, n| {
                    let mut done = 0;
                    while done < n && !io_failed {
                        let k = (n - done).min(SCRATCH);
                        scratch.resize(k, 0);
                        let at = off + (pos + done) as u64;
                        if file_read_at(f, &mut scratch[..k], at).is_err() {
                            io_failed = true;
                            break;
                        }
                        mem.write(addr + done as u64, &scratch[..k], AccessKey::ZERO)
                            .map_err(QueueError::Access)?;
                        done += k;
                    }
                    Ok(())
                })
                .map_err(BackendError::Queue)?;
                if io_failed {
                    Err(BackendError::Io)
                } else {
                    Ok(())
                }
            }
        }
    }

    fn write_from(
        &mut self,
        mem: &dyn GuestMemory,
        c: &DescriptorChain,
        off: u64,
        len: u64,
    ) -> Result<(), BackendError> {
        match &mut self.backend {
            BlockBackend::Memory(img) => c
                .for_each_segment(false, HEADER_LEN, len, |addr, pos, n| {
                    let start = usize::try_from(off).map_err(|_| QueueError::ChainLength)? + pos;
                    mem.read(addr, &mut img[start..start + n], AccessKey::ZERO)
                        .map_err(QueueError::Access)
                })
                .map_err(BackendError::Queue),
            BlockBackend::File(f) => {
                let scratch = &mut self.scratch;
                let mut io_failed = false;
                c.for_each_segment(false, HEADER_LEN, len, |addr, pos, n| {
                    let mut done = 0;
                    while done < n && !io_failed {
                        let k = (n - done).min(SCRATCH);
                        scratch.resize(k, 0);
                        mem.read(addr + done as u64, &mut scratch[..k], AccessKey::ZERO)
                            .map_err(QueueError::Access)?;
                        if file_write_at(f, &scratch[..k], off + (pos + done) as u64).is_err() {
                            io_failed = true;
                        }
                        done += k;
                    }
                    Ok(())
                })
                .map_err(BackendError::Queue)?;
                if io_failed {
                    Err(BackendError::Io)
                } else {
                    Ok(())
                }
            }
        }
    }
}

enum BackendError {
    Io,
    Queue(QueueError),
}

#[cfg(unix)]
fn file_read_at(f: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, at)
}

#[cfg(unix)]
fn file_write_at(f: &File, buf: &[u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, at)
}

#[cfg(not(unix))]
fn file_read_at(mut f: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(buf)
}

#[cfg(not(unix))]
fn file_write_at(mut f: &File, buf: &[u8], at: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    f.seek(SeekFrom::Start(at))?;
    f.write_all(buf)
}

/// A run of sectors of an in-memory disk in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SectorRun {
    /// First sector.
    sector: u64,
    /// Whole sectors.
    #[serde(with = "zcss_css::snapshot::hex")]
    data: Vec<u8>,
}

/// A virtio-blk back-end in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct BlockState {
    /// Capacity in sectors (checked on restore).
    capacity: u64,
    /// Legacy (big-endian) request headers.
    big_endian: bool,
    /// The non-zero sectors of an in-memory disk; `None` for a file.
    runs: Option<Vec<SectorRun>>,
}

/// The runs of non-zero sectors of `img`.
fn nonzero_runs(img: &[u8]) -> Vec<SectorRun> {
    let mut runs: Vec<SectorRun> = Vec::new();
    for (i, s) in (0u64..).zip(img.chunks(512)) {
        if s.iter().all(|&b| b == 0) {
            continue;
        }
        match runs.last_mut() {
            Some(r) if r.sector + r.data.len() as u64 / SECTOR_SIZE == i => r.data.extend_from_slice(s),
            _ => runs.push(SectorRun {
                sector: i,
                data: s.to_vec(),
            }),
        }
    }
    runs
}

impl VirtioDevice for Block {
    fn device_type(&self) -> u8 {
        id::BLOCK
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.sizes
    }

    fn features(&self) -> u64 {
        let ro = if self.read_only { VIRTIO_BLK_F_RO } else { 0 };
        VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH | ro
    }

    fn config_len(&self) -> usize {
        CONFIG_LEN
    }

    fn read_config(&self, offset: usize, data: &mut [u8], endian: Endian) {
        let mut cfg = [0u8; CONFIG_LEN];
        cfg[0..8].copy_from_slice(&endian.bytes64(self.capacity));
        // size_max (8..12) is not offered; seg_max: a chain holds at most the
        // queue size minus header and status.
        cfg[12..16].copy_from_slice(&endian.bytes32(u32::from(QUEUE_SIZE) - 2));
        cfg[20..24].copy_from_slice(&endian.bytes32(512));
        copy_config(&cfg, offset, data);
    }

    fn activate(&mut self, features: u64, _queues: &[SplitQueue]) -> Result<(), crate::device::ActivateError> {
        self.endian = if features & VIRTIO_F_VERSION_1 != 0 {
            Endian::Little
        } else {
            Endian::Big
        };
        Ok(())
    }

    /// An in-memory disk saves its non-zero sectors (runs of them, hex);
    /// a file-backed disk is flushed and saves no data: its contents are
    /// the file, which the embedder keeps with the snapshot.
    fn save_state(&mut self) -> Result<serde_json::Value, DeviceStateError> {
        let data = match &self.backend {
            BlockBackend::Memory(img) => Some(nonzero_runs(img)),
            BlockBackend::File(f) => {
                f.sync_data()
                    .map_err(|e| DeviceStateError::Unsupported(format!("flushing the disk file: {e}")))?;
                None
            }
        };
        let s = BlockState {
            capacity: self.capacity,
            big_endian: matches!(self.endian, Endian::Big),
            runs: data,
        };
        serde_json::to_value(s).map_err(|e| DeviceStateError::Invalid(e.to_string()))
    }

    fn restore_state(&mut self, state: &serde_json::Value) -> Result<(), DeviceStateError> {
        let s = BlockState::deserialize(state).map_err(|e| DeviceStateError::Invalid(e.to_string()))?;
        if s.capacity != self.capacity {
            return Err(DeviceStateError::Invalid(format!(
                "a disk of {} sectors, this one has {}",
                s.capacity, self.capacity
            )));
        }
        match (&mut self.backend, s.runs) {
            (BlockBackend::Memory(img), Some(runs)) => {
                let mut fresh = vec![0u8; img.len()];
                for r in runs {
                    let at = usize::try_from(r.sector.saturating_mul(SECTOR_SIZE)).unwrap_or(usize::MAX);
                    let dst = at
                        .checked_add(r.data.len())
                        .and_then(|end| fresh.get_mut(at..end))
                        .ok_or_else(|| DeviceStateError::Invalid("sectors beyond the disk".into()))?;
                    dst.copy_from_slice(&r.data);
                }
                *img = fresh;
            }
            (BlockBackend::File(_), None) => {}
            _ => {
                return Err(DeviceStateError::Invalid(
                    "the snapshot's disk and this one are not both in memory or both files".into(),
                ))
            }
        }
        self.endian = if s.big_endian { Endian::Big } else { Endian::Little };
        Ok(())
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
        let mut completed = 0u64;
        while let Some(chain) = q.pop(mem)? {
            if chain.writable_len() == 0 {
                return Err(QueueError::ChainLength);
            }
            let head = chain.head;
            let status_at = chain.writable_len() - 1;
            let (status, written) = self.handle(mem, chain)?;
            chain.write_at(mem, status_at, &[status])?;
            let used = u32::try_from(written + 1).map_err(|_| QueueError::ChainLength)?;
            q.add_used(mem, head, used)?;
            completed += 1;
        }
        Ok(if completed > 0 { queue_bit(index) } else { 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};
    use zcss_ccw::VecMemory;

    const DESC: u64 = 0x1000;
    const AVAIL: u64 = 0x2000;
    const USED: u64 = 0x3000;
    const HDR: u64 = 0x4000;
    const DATA: u64 = 0x8000;
    const STATUS: u64 = 0x5000;

    struct Rig {
        mem: VecMemory,
        queues: Vec<SplitQueue>,
        n: u16,
    }

    impl Rig {
        fn new() -> Self {
            let mut q = SplitQueue::new(256);
            q.enable(16, DESC, AVAIL, USED).unwrap();
            Self {
                mem: VecMemory::new(0x20000),
                queues: vec![q],
                n: 0,
            }
        }

        fn desc(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
            let mut raw = [0u8; 16];
            raw[..8].copy_from_slice(&addr.to_le_bytes());
            raw[8..12].copy_from_slice(&len.to_le_bytes());
            raw[12..14].copy_from_slice(&flags.to_le_bytes());
            raw[14..].copy_from_slice(&next.to_le_bytes());
            self.mem.store(DESC + 16 * u64::from(i), &raw).unwrap();
        }

        /// Offers header + optional data + status as a 3-descriptor chain.
        fn request(&mut self, kind: u32, sector: u64, data_len: u32, data_writable: bool) {
            let mut hdr = [0u8; 16];
            hdr[..4].copy_from_slice(&kind.to_le_bytes());
            hdr[8..].copy_from_slice(&sector.to_le_bytes());
            self.mem.store(HDR, &hdr).unwrap();
            self.mem.store(STATUS, &[0xee]).unwrap();
            if data_len > 0 {
                self.desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
                let f = if data_writable { VIRTQ_DESC_F_WRITE } else { 0 };
                self.desc(1, DATA, data_len, f | VIRTQ_DESC_F_NEXT, 2);
                self.desc(2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
            } else {
                self.desc(0, HDR, 16, VIRTQ_DESC_F_NEXT, 2);
                self.desc(2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
            }
            self.offer(0);
        }

        fn offer(&mut self, head: u16) {
            self.mem
                .store(AVAIL + 4 + 2 * u64::from(self.n % 16), &head.to_le_bytes())
                .unwrap();
            self.n += 1;
            self.mem.store(AVAIL + 2, &self.n.to_le_bytes()).unwrap();
        }

        fn run(&mut self, dev: &mut Block) -> Result<u64, QueueError> {
            dev.process_queue(0, &mut self.queues, &self.mem)
        }

        fn status(&self) -> u8 {
            self.mem.fetch(STATUS, 1).unwrap()[0]
        }

        fn used_len(&self) -> u32 {
            let slot = u64::from((self.n - 1) % 16);
            let b = self.mem.fetch(USED + 4 + 8 * slot + 4, 4).unwrap();
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        }
    }

    #[test]
    fn in_memory_of_absurd_size_is_an_error_not_a_panic() {
        let e = Block::in_memory(u64::MAX / 2).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::OutOfMemory);
        let e = Block::in_memory(1 << 50).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::OutOfMemory);
    }

    #[test]
    fn write_then_read_roundtrips_sector_data() {
        let mut rig = Rig::new();
        let mut dev = Block::in_memory(64).unwrap();
        rig.mem.store(DATA, &[0x5a; 1024]).unwrap();
        rig.request(VIRTIO_BLK_T_OUT, 3, 1024, false);
        assert_eq!(rig.run(&mut dev), Ok(1));
        assert_eq!((rig.status(), rig.used_len()), (VIRTIO_BLK_S_OK, 1));
        assert_eq!(&dev.image().unwrap()[3 * 512..5 * 512], &[0x5a; 1024][..]);
        rig.mem.store(DATA, &[0; 1024]).unwrap();
        rig.request(VIRTIO_BLK_T_IN, 3, 1024, true);
        assert_eq!(rig.run(&mut dev), Ok(1));
        assert_eq!((rig.status(), rig.used_len()), (VIRTIO_BLK_S_OK, 1025));
        assert_eq!(rig.mem.fetch(DATA, 1024).unwrap(), vec![0x5a; 1024]);
    }

    #[test]
    fn read_beyond_capacity_is_ioerr() {
        let mut rig = Rig::new();
        let mut dev = Block::in_memory(8).unwrap();
        rig.request(VIRTIO_BLK_T_IN, 7, 1024, true);
        rig.run(&mut dev).unwrap();
        assert_eq!(rig.status(), VIRTIO_BLK_S_IOERR);
        assert_eq!(rig.used_len(), 1);
    }

    #[test]
    fn sector_overflow_is_ioerr() {
        let mut rig = Rig::new();
        let mut dev = Block::in_memory(8).unwrap();
        rig.request(VIRTIO_BLK_T_IN, u64::MAX, 512, true);
        rig.run(&mut dev).unwrap();
        assert_eq!(rig.status(), VIRTIO_BLK_S_IOERR);
    }

    #[test]
    fn partial_sector_is_ioerr() {
        let mut rig = Rig::new();
        let mut dev = Block::in_memory(8).unwrap();
        rig.request(VIRTIO_BLK_T_IN, 0, 100, true);
        rig.run(&mut dev).unwrap();
        assert_eq!(rig.status(), VIRTIO_BLK_S_IOERR);
        assert_eq!(rig.mem.fetch(DATA, 100).unwrap(), vec![0; 100]);
    }

    #[test]
    fn write_on_read_only_device_is_ioerr_and_offers_ro() {
        let mut rig = Rig::new();
        let mut dev = Block::new(BlockBackend::Memory(vec![0; 4096]), true).unwrap();
        assert_ne!(dev.features() & VIRTIO_BLK_F_RO, 0);
        rig.mem.store(DATA, &[1; 512]).unwrap();
        rig.request(VIRTIO_BLK_T_OUT, 0, 512, false);
        rig.run(&mut dev).unwrap();
        assert_eq!(rig.status(), VIRTIO_BLK_S_IOERR);
        assert_eq!(dev.image().unwrap()[0], 0);
    }

    #[test]
    fn read_with_readable_data_buffer_is_ioerr() {
        let mut rig = Rig::new();
        let mut dev = Block::in_memory(8).unwrap();
        rig.request(VIRTIO_BLK_T_IN, 0, 512, false);
        rig.run(&mut dev).unwrap();
        assert_eq!(rig.status(), VIRTIO_BLK_S_IOERR);
    }

    #[test]
    fn short_header_is_ioerr() {
        let mut rig = Rig::new();
        let mut dev = Block::in_memory(8).unwrap();
        rig.desc(0, HDR, 8, VIRTQ_DESC_F_NEXT, 1);
        rig.desc(1, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
        rig.mem.store(STATUS, &[0xee]).unwrap();
        rig.offer(0);
        rig.run(&mut dev).unwrap();
        assert_eq!(rig.status(), VIRTIO_BLK_S_IOERR);
    }

    #[test]
    fn chain_without_status_byte_is_queue_error() {
        let mut rig = Rig::new();
        let mut dev = Block::in_memory(8).unwrap();
        rig.desc(0, HDR, 16, 0, 0);
        rig.offer(0);
        assert_eq!(rig.run(&mut dev), Err(QueueError::ChainLength));
    }

    #[test]
    fn unknown_type_is_unsupp() {
        let mut rig = Rig::new();
        let mut dev = Block::in_memory(8).unwrap();
        rig.request(77, 0, 0, false);
        rig.run(&mut dev).unwrap();
        assert_eq!(rig.status(), VIRTIO_BLK_S_UNSUPP);
    }

    #[test]
    fn flush_and_get_id_succeed() {
        let mut rig = Rig::new();
        let mut dev = Block::in_memory(8).unwrap().with_id("disk-7");
        rig.request(VIRTIO_BLK_T_FLUSH, 0, 0, false);
        rig.run(&mut dev).unwrap();
        assert_eq!(rig.status(), VIRTIO_BLK_S_OK);
        rig.request(VIRTIO_BLK_T_GET_ID, 0, 20, true);
        rig.run(&mut dev).unwrap();
        assert_eq!(rig.status(), VIRTIO_BLK_S_OK);
        assert_eq!(rig.used_len(), 21);
        assert_eq!(&rig.mem.fetch(DATA, 7).unwrap(), b"disk-7\0");
    }

    #[test]
    fn config_reports_capacity_and_block_size() {
        let dev = Block::in_memory(0x1234).unwrap();
        let mut cfg = [0u8; CONFIG_LEN];
        dev.read_config(0, &mut cfg, Endian::Little);
        assert_eq!(&cfg[..8], &0x1234u64.to_le_bytes());
        assert_eq!(&cfg[20..], &512u32.to_le_bytes());
        dev.read_config(0, &mut cfg, Endian::Big);
        assert_eq!(&cfg[..8], &0x1234u64.to_be_bytes());
        let mut tail = [0xffu8; 4];
        dev.read_config(22, &mut tail, Endian::Big);
        assert_eq!(tail, [2, 0, 0, 0]);
    }

    #[test]
    fn file_backend_roundtrips() {
        let path = std::env::temp_dir().join(format!("zcss-blk-{}.img", std::process::id()));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.set_len(8192).unwrap();
        let mut dev = Block::new(BlockBackend::File(f), false).unwrap();
        assert_eq!(dev.capacity(), 16);
        let mut rig = Rig::new();
        rig.mem.store(DATA, &[0x33; 512]).unwrap();
        rig.request(VIRTIO_BLK_T_OUT, 15, 512, false);
        rig.run(&mut dev).unwrap();
        assert_eq!(rig.status(), VIRTIO_BLK_S_OK);
        rig.mem.store(DATA, &[0; 512]).unwrap();
        rig.request(VIRTIO_BLK_T_IN, 15, 512, true);
        rig.run(&mut dev).unwrap();
        assert_eq!(rig.status(), VIRTIO_BLK_S_OK);
        assert_eq!(rig.mem.fetch(DATA, 512).unwrap(), vec![0x33; 512]);
        let _ = std::fs::remove_file(path);
    }
}
