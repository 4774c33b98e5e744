//! A scriptable test device (test utilities, behind the `test-utils` feature).
//!
//! [`ScriptedDevice`] answers each `execute` call with the next [`Step`] of
//! its script (then with its fallback step): a list of [`Action`]s performed
//! on the [`DataStream`] (reads and writes of given lengths, or stores into
//! guest storage, as a CPU racing the channel would do) and the
//! [`DeviceResult`] to end the command with. It records what it saw.
//!
//! [`ccw1`], [`ccw0`] and the [`flags`] constants build stored channel
//! programs for tests.

use std::sync::Arc;

use crate::ccw::{Ccw, Ccw0, CcwFlags};
use crate::datastream::DataStream;
use crate::device::{CcwDevice, DeviceResult};
use crate::hooks::ProgramEnd;
use crate::memory::{AccessKey, GuestMemory};

/// CCW flag bytes (PoO chapter 15, "Channel-Command Word": flag bits in
/// order CD, CC, SLI, SKP, PCI, IDA, S, MIDA).
pub mod flags {
    /// Chain data.
    pub const CD: u8 = 0x80;
    /// Chain command.
    pub const CC: u8 = 0x40;
    /// Suppress length indication.
    pub const SLI: u8 = 0x20;
    /// Skip.
    pub const SKIP: u8 = 0x10;
    /// Program-controlled interruption.
    pub const PCI: u8 = 0x08;
    /// Indirect data addressing.
    pub const IDA: u8 = 0x04;
    /// Suspend.
    pub const SUSP: u8 = 0x02;
    /// Modified indirect data addressing.
    pub const MIDA: u8 = 0x01;
}

/// A stored format-1 CCW.
#[must_use]
pub fn ccw1(cmd: u8, flags: u8, count: u16, cda: u32) -> [u8; 8] {
    Ccw {
        cmd,
        flags: CcwFlags::from_bits(flags),
        count,
        cda,
    }
    .to_format1()
    .to_be_bytes()
}

/// A stored format-0 CCW (`cda` keeps its low 24 bits).
#[must_use]
pub fn ccw0(cmd: u8, flags: u8, count: u16, cda: u32) -> [u8; 8] {
    Ccw0::new()
        .with_cmd(cmd)
        .with_cda(cda & 0x00ff_ffff)
        .with_flags(CcwFlags::from_bits(flags))
        .with_count(count)
        .to_be_bytes()
}

/// One thing the device does during a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Storage → device: asks the stream for `n` bytes (write-type command).
    Read(usize),
    /// Device → storage: offers these bytes (read-type command).
    Write(Vec<u8>),
    /// Device → storage: offers `n` bytes, byte `i` being `seed + i` (wrapping).
    WriteFill(usize, u8),
    /// A zero-length write: marks the command as not immediate.
    Touch,
    /// Stores `bytes` at `addr` in guest storage with key 0, bypassing the
    /// stream (needs [`ScriptedDevice::with_memory`]).
    Poke {
        /// Absolute address.
        addr: u64,
        /// Bytes to store.
        bytes: Vec<u8>,
    },
}

/// The script for one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Actions, performed in order; the rest are dropped once the stream fails.
    pub actions: Vec<Action>,
    /// Status to end the command with.
    pub result: DeviceResult,
}

impl Step {
    /// A step ending with CE|DE after `actions`.
    #[must_use]
    pub fn ok(actions: Vec<Action>) -> Self {
        Self {
            actions,
            result: DeviceResult::OK,
        }
    }

    /// A step that transfers nothing (immediate) and ends with `result`.
    #[must_use]
    pub fn status(result: DeviceResult) -> Self {
        Self {
            actions: Vec::new(),
            result,
        }
    }
}

/// What the device saw for one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// The CCW passed to `execute`.
    pub ccw: Ccw,
    /// Bytes obtained through [`Action::Read`].
    pub read: Vec<u8>,
    /// Bytes accepted through writes.
    pub written: usize,
    /// Whether the stream had failed when the device ended.
    pub failed: bool,
}

/// A device driven by a script.
#[derive(Default)]
pub struct ScriptedDevice {
    script: Vec<Step>,
    next: usize,
    /// Step used once the script is exhausted (default: immediate CE|DE).
    pub fallback: Option<Step>,
    mem: Option<Arc<dyn GuestMemory>>,
    /// Every command executed, in order.
    pub log: Vec<Executed>,
    /// Number of `program_start` calls.
    pub starts: u32,
    /// The LPUM of the last `program_start` call.
    pub lpum: Option<u8>,
    /// Every `program_end` call, in order.
    pub ends: Vec<ProgramEnd>,
}

impl std::fmt::Debug for ScriptedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedDevice")
            .field("next", &self.next)
            .field("log", &self.log)
            .field("starts", &self.starts)
            .field("lpum", &self.lpum)
            .field("ends", &self.ends)
            .finish_non_exhaustive()
    }
}

impl ScriptedDevice {
    /// A device answering with `script`, then with immediate CE|DE.
    #[must_use]
    pub fn new(script: Vec<Step>) -> Self {
        Self {
            script,
            ..Self::default()
        }
    }

    /// Lets [`Action::Poke`] store into `mem`.
    #[must_use]
    pub fn with_memory(mut self, mem: Arc<dyn GuestMemory>) -> Self {
        self.mem = Some(mem);
        self
    }

    /// Sets the step used once the script is exhausted.
    #[must_use]
    pub fn with_fallback(mut self, step: Step) -> Self {
        self.fallback = Some(step);
        self
    }
}

impl CcwDevice for ScriptedDevice {
    fn program_start(&mut self, lpum: u8) {
        self.starts += 1;
        self.lpum = Some(lpum);
    }

    fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
        let step = match self.script.get(self.next) {
            Some(s) => {
                self.next += 1;
                s.clone()
            }
            None => self.fallback.clone().unwrap_or(Step::status(DeviceResult::OK)),
        };
        let mut seen = Executed {
            ccw: *ccw,
            read: Vec::new(),
            written: 0,
            failed: false,
        };
        for action in &step.actions {
            if data.failed() {
                break;
            }
            match action {
                Action::Read(n) => {
                    let mut buf = vec![0u8; *n];
                    let got = data.read(&mut buf);
                    seen.read.extend_from_slice(&buf[..got]);
                }
                Action::Write(bytes) => seen.written += data.write(bytes),
                Action::WriteFill(n, seed) => {
                    let bytes: Vec<u8> = (0..*n)
                        .map(|i| seed.wrapping_add(u8::try_from(i % 256).unwrap_or(0)))
                        .collect();
                    seen.written += data.write(&bytes);
                }
                Action::Touch => seen.written += data.write(&[]),
                Action::Poke { addr, bytes } => {
                    if let Some(m) = &self.mem {
                        // A store outside storage is the test's own mistake; ignore it.
                        let _ = m.write(*addr, bytes, AccessKey::ZERO);
                    }
                }
            }
        }
        seen.failed = data.failed();
        self.log.push(seen);
        step.result
    }

    fn program_end(&mut self, how: ProgramEnd) {
        self.ends.push(how);
    }
}
