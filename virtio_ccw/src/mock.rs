//! Test utilities: guest storage that records every store the device makes,
//! an interrupt sink that records interruptions, and the hostile-guest
//! harness shared by the fuzz target and the property tests: arbitrary
//! command sequences, payloads and ring contents must never panic and never
//! make the device store outside what the guest gave it (device-writable
//! descriptors, used rings, indicators).

use std::sync::Arc;

use parking_lot::Mutex;
use zcss_ccw::memory::{AccessError, AccessKey, GuestMemory};
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::{Ccw, CcwFlags, DeviceStatus, VecMemory};
use zcss_css::{Device, InterruptSink, SubchannelHandle};

use crate::{Block, Console, ConsoleInput, Rng, VirtioCcwDevice};

/// Guest storage that records the ranges the device stores into.
#[derive(Debug)]
pub struct RecordingMemory {
    /// The storage.
    pub inner: VecMemory,
    /// `(address, length)` of every store through the [`GuestMemory`] trait.
    pub writes: Mutex<Vec<(u64, usize)>>,
}

impl RecordingMemory {
    /// Zeroed storage of `size` bytes.
    #[must_use]
    pub fn new(size: u64) -> Self {
        Self {
            inner: VecMemory::new(size),
            writes: Mutex::new(Vec::new()),
        }
    }
}

impl GuestMemory for RecordingMemory {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read(&self, addr: u64, buf: &mut [u8], key: AccessKey) -> Result<(), AccessError> {
        self.inner.read(addr, buf, key)
    }
    fn write(&self, addr: u64, data: &[u8], key: AccessKey) -> Result<(), AccessError> {
        let r = self.inner.write(addr, data, key);
        if r.is_ok() {
            self.writes.lock().push((addr, data.len()));
        }
        r
    }
    fn fetch_or_u8(&self, addr: u64, mask: u8, key: AccessKey) -> Result<u8, AccessError> {
        let r = self.inner.fetch_or_u8(addr, mask, key);
        if r.is_ok() {
            self.writes.lock().push((addr, 1));
        }
        r
    }
    fn fetch_or_u64_be(&self, addr: u64, mask: u64, key: AccessKey) -> Result<u64, AccessError> {
        let r = self.inner.fetch_or_u64_be(addr, mask, key);
        if r.is_ok() {
            self.writes.lock().push((addr, 8));
        }
        r
    }
}

/// Records unsolicited status and adapter interruptions.
#[derive(Debug, Default)]
pub struct RecordingSink {
    /// Device status of each unsolicited interruption.
    pub unsolicited: Mutex<Vec<u8>>,
    /// ISC of each adapter interruption.
    pub adapter: Mutex<Vec<u8>>,
}

impl InterruptSink for RecordingSink {
    fn unsolicited(&self, _sid: SubchannelId, status: DeviceStatus, _sense: Option<&zcss_ccw::Sense>) -> bool {
        self.unsolicited.lock().push(status.into_bits());
        true
    }
    fn adapter_interrupt(&self, isc: u8) {
        self.adapter.lock().push(isc);
    }
}

/// One step of a hostile guest.
#[derive(Debug, Clone)]
pub enum HostileOp {
    /// A channel command with a data area holding `data` (count = its length).
    Command {
        /// Command code.
        cmd: u8,
        /// SLI flag.
        sli: bool,
        /// The data area.
        data: Vec<u8>,
    },
    /// The guest stores bytes (ring contents, descriptors, buffers).
    Store {
        /// Address (wrapped into storage).
        addr: u32,
        /// Bytes.
        bytes: Vec<u8>,
    },
    /// DIAG 0x500 subcode 3 for a queue.
    Notify {
        /// GR3.
        queue: u64,
    },
    /// Console input arrives and the embedder polls.
    Input {
        /// Bytes typed.
        bytes: Vec<u8>,
    },
    /// The subchannel is disabled.
    Disable,
}

/// Storage size of the hostile harness (small, so random addresses hit rings).
pub const HOSTILE_STORAGE: u64 = 0x4_0000;

/// Runs `ops` against a proxy around back-end `which` (0 blk, 1 rng,
/// 2 console, other: read-only blk) and checks that every device store
/// lies inside a range the guest gave it. Returns the number of stores.
///
/// # Panics
/// On a store outside the permitted ranges (that is the bug it hunts).
#[must_use]
pub fn run_hostile(which: u8, ops: &[HostileOp]) -> usize {
    let mem = RecordingMemory::new(HOSTILE_STORAGE);
    let input = ConsoleInput::default();
    let dev: Box<dyn crate::VirtioDevice> = match which % 4 {
        0 => Box::new(Block::in_memory(64).unwrap()),
        1 => Box::new(Rng::with_source(Some(Box::new(std::io::repeat(0xa5))))),
        2 => Box::new(Console::new(Box::new(std::io::sink()), input.clone())),
        _ => Box::new(
            Block::new(crate::BlockBackend::Memory(vec![0; 8192]), true).unwrap_or(Block::in_memory(8).unwrap()),
        ),
    };
    let mut d = VirtioCcwDevice::new(dev);
    let sink = Arc::new(RecordingSink::default());
    d.attached(SubchannelHandle::new(
        SubchannelId::new(0xfe, 0, 0).expect("0.0.0 is a valid subchannel id"),
        sink,
    ));
    let mut stores = 0;
    for op in ops {
        match op {
            HostileOp::Command { cmd, sli, data } => {
                let data = &data[..data.len().min(usize::from(u16::MAX))];
                let mut io = crate::BufferTransfer::new(data);
                let ccw = Ccw {
                    cmd: *cmd,
                    flags: CcwFlags::new().with_sli(*sli),
                    count: u16::try_from(data.len()).unwrap_or(u16::MAX),
                    cda: 0,
                };
                let _ = d.execute_command(&ccw, &mut io);
                assert!(io.pos <= data.len());
            }
            HostileOp::Store { addr, bytes } => {
                let a = u64::from(*addr) % HOSTILE_STORAGE;
                let n = bytes.len().min(usize::try_from(HOSTILE_STORAGE - a).unwrap_or(0));
                let _ = mem.inner.store(a, &bytes[..n]);
            }
            HostileOp::Notify { queue } => {
                let allowed = permitted(&d, &mem.inner);
                mem.writes.lock().clear();
                let r = d.notify(&mem, *queue, 0);
                assert!(matches!(r, Some(0 | -22)));
                stores += check(&mem, &allowed);
            }
            HostileOp::Input { bytes } => {
                input.push(&bytes[..bytes.len().min(4096)]);
                let allowed = permitted(&d, &mem.inner);
                mem.writes.lock().clear();
                d.poll(&mem);
                stores += check(&mem, &allowed);
            }
            HostileOp::Disable => d.subchannel_disabled(),
        }
    }
    stores
}

fn check(mem: &RecordingMemory, allowed: &[(u64, u64)]) -> usize {
    let writes = mem.writes.lock();
    for &(addr, len) in writes.iter() {
        let end = addr + len as u64;
        assert!(
            allowed.iter().any(|&(a, b)| a <= addr && end <= b),
            "device stored {len} bytes at {addr:#x} outside guest-given ranges {allowed:x?}"
        );
    }
    writes.len()
}

/// The ranges the device may store into now
/// ([`VirtioCcwDevice::writable_areas`]), as `(start, end)`.
fn permitted(d: &VirtioCcwDevice, mem: &VecMemory) -> Vec<(u64, u64)> {
    d.writable_areas(mem).into_iter().map(|r| (r.start, r.end)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::*;
    use proptest::prelude::*;

    fn op() -> impl Strategy<Value = HostileOp> {
        let cmds = prop::sample::select(vec![
            CCW_CMD_SET_VQ,
            CCW_CMD_VDEV_RESET,
            CCW_CMD_READ_FEAT,
            CCW_CMD_WRITE_FEAT,
            CCW_CMD_READ_CONF,
            CCW_CMD_WRITE_CONF,
            CCW_CMD_WRITE_STATUS,
            CCW_CMD_READ_STATUS,
            CCW_CMD_SET_IND,
            CCW_CMD_SET_CONF_IND,
            CCW_CMD_READ_VQ_CONF,
            CCW_CMD_SET_IND_ADAPTER,
            CCW_CMD_SET_VIRTIO_REV,
            CCW_CMD_SENSE_ID,
            CCW_CMD_BASIC_SENSE,
            0x01,
        ]);
        prop_oneof![
            (cmds, any::<bool>(), prop::collection::vec(any::<u8>(), 0..40))
                .prop_map(|(cmd, sli, data)| HostileOp::Command { cmd, sli, data }),
            (0u32..0x4_0000, prop::collection::vec(any::<u8>(), 0..64))
                .prop_map(|(addr, bytes)| HostileOp::Store { addr, bytes }),
            (0u64..4).prop_map(|queue| HostileOp::Notify { queue }),
            prop::collection::vec(any::<u8>(), 0..8).prop_map(|bytes| HostileOp::Input { bytes }),
            Just(HostileOp::Disable),
        ]
    }

    /// Commands that bring a revision-1 device with queue 0 at
    /// 0x1000/0x2000/0x3000 (size 16) and classic indicators to DRIVER_OK.
    fn setup() -> Vec<HostileOp> {
        let mut vq = [0u8; 32];
        vq[..8].copy_from_slice(&0x1000u64.to_be_bytes());
        vq[14..16].copy_from_slice(&16u16.to_be_bytes());
        vq[16..24].copy_from_slice(&0x2000u64.to_be_bytes());
        vq[24..].copy_from_slice(&0x3000u64.to_be_bytes());
        let c = |cmd, data: &[u8]| HostileOp::Command {
            cmd,
            sli: false,
            data: data.to_vec(),
        };
        vec![
            c(CCW_CMD_SET_VIRTIO_REV, &[0, 1, 0, 0]),
            c(CCW_CMD_WRITE_FEAT, &[0, 0, 0, 0, 0]),
            c(CCW_CMD_WRITE_FEAT, &[1, 0, 0, 0, 1]),
            c(CCW_CMD_WRITE_STATUS, &[0x0b]),
            c(CCW_CMD_SET_VQ, &vq),
            c(CCW_CMD_SET_IND, &0x8000u64.to_be_bytes()),
            c(CCW_CMD_SET_CONF_IND, &0x8008u64.to_be_bytes()),
            c(CCW_CMD_WRITE_STATUS, &[0x0f]),
        ]
    }

    fn ring_op() -> impl Strategy<Value = HostileOp> {
        prop_oneof![
            (0x1000u32..0x1100, prop::collection::vec(any::<u8>(), 1..48))
                .prop_map(|(addr, bytes)| HostileOp::Store { addr, bytes }),
            (0u8..16, 0u16..20).prop_map(|(slot, idx)| {
                let mut bytes = vec![0u8, 0];
                bytes.extend_from_slice(&idx.to_le_bytes());
                bytes.extend(std::iter::repeat_n([slot, 0], 16).flatten());
                HostileOp::Store { addr: 0x2000, bytes }
            }),
            (0u64..3).prop_map(|queue| HostileOp::Notify { queue }),
            prop::collection::vec(any::<u8>(), 1..8).prop_map(|bytes| HostileOp::Input { bytes }),
        ]
    }

    /// A legacy (revision 0) virtio-blk with the contiguous big-endian ring
    /// at 0x1000 (256 entries: available ring at 0x2000, used ring at 0x3000).
    fn setup_legacy() -> Vec<HostileOp> {
        let mut vq = [0u8; 16];
        vq[..8].copy_from_slice(&0x1000u64.to_be_bytes());
        vq[8..12].copy_from_slice(&4096u32.to_be_bytes());
        vq[14..16].copy_from_slice(&256u16.to_be_bytes());
        let c = |cmd, data: &[u8]| HostileOp::Command {
            cmd,
            sli: false,
            data: data.to_vec(),
        };
        vec![
            c(CCW_CMD_SET_VIRTIO_REV, &[0, 0, 0, 0]),
            c(CCW_CMD_WRITE_STATUS, &[0x03]),
            c(CCW_CMD_SET_VQ, &vq),
            c(CCW_CMD_SET_IND, &0x8000u64.to_be_bytes()),
            c(CCW_CMD_SET_CONF_IND, &0x8008u64.to_be_bytes()),
            c(CCW_CMD_WRITE_STATUS, &[0x07]),
        ]
    }

    proptest! {
        #[test]
        fn hostile_legacy_rings_never_store_outside_guest_buffers(
            ops in prop::collection::vec(ring_op(), 0..40),
        ) {
            let mut all = setup_legacy();
            all.extend(ops);
            let _ = run_hostile(0, &all);
        }

        #[test]
        fn hostile_sequences_never_store_outside_guest_buffers(
            which in 0u8..4,
            ops in prop::collection::vec(op(), 0..60),
        ) {
            let _ = run_hostile(which, &ops);
        }

        #[test]
        fn hostile_rings_after_setup_never_store_outside_guest_buffers(
            which in 0u8..4,
            ops in prop::collection::vec(ring_op(), 0..40),
        ) {
            let mut all = setup();
            all.extend(ops);
            let _ = run_hostile(which, &all);
        }
    }

    /// A well-formed device set up by the harness, then a descriptor table
    /// full of random bytes: the device may only store into writable
    /// descriptors, the used ring and indicators.
    #[test]
    fn random_ring_contents_stay_inside_guest_buffers() {
        let mut vq = [0u8; 32];
        vq[..8].copy_from_slice(&0x1000u64.to_be_bytes());
        vq[14..16].copy_from_slice(&16u16.to_be_bytes());
        vq[16..24].copy_from_slice(&0x2000u64.to_be_bytes());
        vq[24..].copy_from_slice(&0x3000u64.to_be_bytes());
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut total = 0;
        for round in 0..200u32 {
            let mut table = vec![0u8; 16 * 16];
            for b in &mut table {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *b = (seed & 0xff) as u8;
            }
            // Keep addresses inside storage half the time so chains get used.
            if round % 2 == 0 {
                for k in 0..16 {
                    table[16 * k + 3..16 * k + 8].fill(0);
                    table[16 * k + 2] &= 0x03;
                    table[16 * k + 9..16 * k + 12].fill(0);
                    table[16 * k + 14] &= 0x0f;
                    table[16 * k + 15] = 0;
                }
            }
            let mut avail = vec![0u8, 0, 4, 0];
            for k in 0..4u8 {
                avail.extend_from_slice(&[k, 0]);
            }
            let ops = vec![
                HostileOp::Command {
                    cmd: CCW_CMD_SET_VIRTIO_REV,
                    sli: false,
                    data: vec![0, 1, 0, 0],
                },
                HostileOp::Command {
                    cmd: CCW_CMD_WRITE_FEAT,
                    sli: false,
                    data: vec![0, 0, 0, 0, 0],
                },
                HostileOp::Command {
                    cmd: CCW_CMD_WRITE_FEAT,
                    sli: false,
                    data: vec![1, 0, 0, 0, 1],
                },
                HostileOp::Command {
                    cmd: CCW_CMD_WRITE_STATUS,
                    sli: false,
                    data: vec![0x0b],
                },
                HostileOp::Command {
                    cmd: CCW_CMD_SET_VQ,
                    sli: false,
                    data: vq.to_vec(),
                },
                HostileOp::Command {
                    cmd: CCW_CMD_SET_IND,
                    sli: false,
                    data: 0x8000u64.to_be_bytes().to_vec(),
                },
                HostileOp::Command {
                    cmd: CCW_CMD_WRITE_STATUS,
                    sli: false,
                    data: vec![0x0f],
                },
                HostileOp::Store {
                    addr: 0x1000,
                    bytes: table,
                },
                HostileOp::Store {
                    addr: 0x2000,
                    bytes: avail,
                },
                HostileOp::Notify { queue: 0 },
            ];
            total += run_hostile(u8::try_from(round % 2).unwrap_or(0), &ops);
        }
        assert!(total > 0, "some rounds completed requests");
    }
}
