//! virtio-console (virtio 1.x §5.3 "Console Device"), port 0 only: queue 0
//! is receiveq0 (host → guest input), queue 1 is transmitq0 (guest output).
//! Output goes to a sink the embedder chooses; input comes from a shared
//! buffer the embedder fills, delivered when the driver offers receive
//! buffers (on its notification) or when the embedder polls the device.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;

use parking_lot::Mutex;
use zcss_ccw::memory::{AccessKey, GuestMemory};

use crate::device::{copy_config, id, queue_bit, VirtioDevice, VIRTIO_F_VERSION_1};
use crate::queue::{Endian, QueueError, SplitQueue};

const QUEUE_SIZE: u16 = 64;
/// receiveq0.
pub const RECEIVEQ: usize = 0;
/// transmitq0.
pub const TRANSMITQ: usize = 1;
/// Configuration space: cols, rows, max_nr_ports, emerg_wr (all zero, as
/// no console feature is offered).
pub const CONFIG_LEN: usize = 12;
const CHUNK: usize = 4096;

/// Bytes waiting to be delivered to the guest; the embedder pushes, the
/// device takes. Cheap to clone (a shared queue); the lock inside is an
/// implementation detail (the public API exposes no lock type, so it can
/// change without breaking embedders).
///
/// Pushing input does not deliver it: the device delivers it when the
/// driver offers receive buffers (its notification) or when the embedder
/// polls the device (`VirtioCcwDevice::poll` through a `DeviceHandle`).
/// [`zcss_css::Css::device_input`] pushes and delivers in one step, and is
/// what a trace recorder sees.
#[derive(Clone, Default)]
pub struct ConsoleInput(Arc<Mutex<VecDeque<u8>>>);

impl std::fmt::Debug for ConsoleInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleInput").field("len", &self.len()).finish()
    }
}

impl ConsoleInput {
    /// Queues `data` for the guest.
    pub fn push(&self, data: &[u8]) {
        self.0.lock().extend(data);
    }

    /// Bytes waiting.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.lock().len()
    }

    /// Whether no byte is waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.lock().is_empty()
    }

    /// The bytes waiting, in order (a snapshot's copy).
    pub(crate) fn pending(&self) -> Vec<u8> {
        self.0.lock().iter().copied().collect()
    }

    /// Replaces the bytes waiting (a restore).
    pub(crate) fn replace(&self, bytes: impl IntoIterator<Item = u8>) {
        let mut q = self.0.lock();
        q.clear();
        q.extend(bytes);
    }

    /// Takes up to `buf.len()` bytes into `buf`; returns how many.
    fn take_into(&self, buf: &mut [u8]) -> usize {
        let mut q = self.0.lock();
        let n = buf.len().min(q.len());
        for (dst, b) in buf[..n].iter_mut().zip(q.drain(..n)) {
            *dst = b;
        }
        n
    }
}

/// Where guest output goes.
pub type ConsoleSink = Box<dyn Write + Send>;

/// A virtio-console device with one port.
pub struct Console {
    sink: ConsoleSink,
    input: ConsoleInput,
    buf: Box<[u8; CHUNK]>,
    sizes: [u16; 2],
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}

impl Console {
    /// A console writing guest output to `sink` and reading input from `input`.
    #[must_use]
    pub fn new(sink: ConsoleSink, input: ConsoleInput) -> Self {
        Self {
            sink,
            input,
            buf: Box::new([0; CHUNK]),
            sizes: [QUEUE_SIZE, QUEUE_SIZE],
        }
    }

    fn transmit(&mut self, q: &mut SplitQueue, mem: &dyn GuestMemory) -> Result<bool, QueueError> {
        let mut any = false;
        while let Some(chain) = q.pop(mem)? {
            let head = chain.head;
            let mut off = 0u64;
            let total = chain.readable_len();
            while off < total {
                let n = usize::try_from(total - off).unwrap_or(CHUNK).min(CHUNK);
                chain.read_at(mem, off, &mut self.buf[..n])?;
                // A failing sink loses output; the guest is not told (the
                // device has no way to report it).
                let _ = self.sink.write_all(&self.buf[..n]);
                off += n as u64;
            }
            let _ = self.sink.flush();
            q.add_used(mem, head, 0)?;
            any = true;
        }
        Ok(any)
    }

    fn receive(&mut self, q: &mut SplitQueue, mem: &dyn GuestMemory) -> Result<bool, QueueError> {
        let mut any = false;
        loop {
            if self.input.is_empty() || !q.ready() {
                return Ok(any);
            }
            let Some(chain) = q.pop(mem)? else {
                return Ok(any);
            };
            let head = chain.head;
            let room = usize::try_from(chain.writable_len()).unwrap_or(usize::MAX).min(CHUNK);
            let n = self.input.take_into(&mut self.buf[..room]);
            chain.for_each_segment(true, 0, n as u64, |addr, pos, k| {
                mem.write(addr, &self.buf[pos..pos + k], AccessKey::ZERO)
                    .map_err(QueueError::Access)
            })?;
            q.add_used(mem, head, u32::try_from(n).unwrap_or(0))?;
            any = true;
        }
    }
}

impl VirtioDevice for Console {
    fn device_type(&self) -> u8 {
        id::CONSOLE
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.sizes
    }

    fn features(&self) -> u64 {
        VIRTIO_F_VERSION_1
    }

    fn config_len(&self) -> usize {
        CONFIG_LEN
    }

    fn read_config(&self, offset: usize, data: &mut [u8], _endian: Endian) {
        copy_config(&[0; CONFIG_LEN], offset, data);
    }

    /// Input not yet delivered to the guest (hex).
    fn save_state(&mut self) -> Result<serde_json::Value, zcss_css::DeviceStateError> {
        let pending = self.input.pending();
        let mut hex = String::with_capacity(pending.len() * 2);
        for b in pending {
            hex.push_str(&format!("{b:02x}"));
        }
        Ok(serde_json::json!({ "input": hex }))
    }

    fn restore_state(&mut self, state: &serde_json::Value) -> Result<(), zcss_css::DeviceStateError> {
        let hex = state.get("input").and_then(serde_json::Value::as_str).unwrap_or("");
        let bytes = zcss_css::snapshot::hex::decode(hex)
            .ok_or_else(|| zcss_css::DeviceStateError::Invalid("console input is not hex".into()))?;
        self.input.replace(bytes);
        Ok(())
    }

    fn process_queue(
        &mut self,
        index: usize,
        queues: &mut [SplitQueue],
        mem: &dyn GuestMemory,
    ) -> Result<u64, QueueError> {
        match index {
            TRANSMITQ => {
                let Some(q) = queues.get_mut(TRANSMITQ) else {
                    return Ok(0);
                };
                Ok(if self.transmit(q, mem)? {
                    queue_bit(TRANSMITQ)
                } else {
                    0
                })
            }
            RECEIVEQ => self.poll(queues, mem),
            _ => Ok(0),
        }
    }

    fn host_input(&mut self, data: &[u8]) -> bool {
        self.input.push(data);
        true
    }

    fn poll(&mut self, queues: &mut [SplitQueue], mem: &dyn GuestMemory) -> Result<u64, QueueError> {
        let Some(q) = queues.get_mut(RECEIVEQ) else {
            return Ok(0);
        };
        Ok(if self.receive(q, mem)? { queue_bit(RECEIVEQ) } else { 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::VIRTQ_DESC_F_WRITE;
    use zcss_ccw::VecMemory;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn put_desc(m: &VecMemory, base: u64, i: u16, addr: u64, len: u32, flags: u16) {
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&addr.to_le_bytes());
        raw[8..12].copy_from_slice(&len.to_le_bytes());
        raw[12..14].copy_from_slice(&flags.to_le_bytes());
        m.store(base + 16 * u64::from(i), &raw).unwrap();
    }

    fn rig() -> (VecMemory, Vec<SplitQueue>) {
        let mut rx = SplitQueue::new(64);
        rx.enable(8, 0x1000, 0x1800, 0x1c00).unwrap();
        let mut tx = SplitQueue::new(64);
        tx.enable(8, 0x2000, 0x2800, 0x2c00).unwrap();
        (VecMemory::new(0x10000), vec![rx, tx])
    }

    #[test]
    fn transmit_writes_guest_output_to_sink() {
        let (m, mut qs) = rig();
        let out = Shared::default();
        let mut dev = Console::new(Box::new(out.clone()), ConsoleInput::default());
        m.store(0x5000, b"hello, s390\n").unwrap();
        put_desc(&m, 0x2000, 0, 0x5000, 12, 0);
        m.store(0x2802, &1u16.to_le_bytes()).unwrap();
        assert_eq!(dev.process_queue(TRANSMITQ, &mut qs, &m), Ok(2));
        assert_eq!(out.0.lock().as_slice(), b"hello, s390\n");
    }

    #[test]
    fn input_is_delivered_into_receive_buffers() {
        let (m, mut qs) = rig();
        let input = ConsoleInput::default();
        let mut dev = Console::new(Box::new(std::io::sink()), input.clone());
        put_desc(&m, 0x1000, 0, 0x6000, 4, VIRTQ_DESC_F_WRITE);
        m.store(0x1802, &1u16.to_le_bytes()).unwrap();
        // No input yet: the buffer stays available.
        assert_eq!(dev.poll(&mut qs, &m), Ok(0));
        input.push(b"abcdef");
        assert_eq!(dev.poll(&mut qs, &m), Ok(1));
        assert_eq!(m.fetch(0x6000, 4).unwrap(), b"abcd".to_vec());
        assert_eq!(m.fetch(0x1c08, 4).unwrap(), vec![4, 0, 0, 0]);
        assert_eq!(input.len(), 2);
    }
}
