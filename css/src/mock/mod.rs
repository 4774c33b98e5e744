//! A scriptable mock device for tests and fuzzing (feature `test-utils`).
//!
//! [`MockDevice`] answers SENSE ID from its [`DeviceInfo`], BASIC SENSE with
//! the sense of its last unit check, and every other command from a
//! programmable table: a reply per command code ([`MockReply`]), data to
//! return for read-type commands, and a log of the data written to it. A
//! [`MockControl`] (cloneable, `Send`) reprograms it after it is attached,
//! raises unsolicited status (attention), and inspects what it saw.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use zcss_ccw::device::{CcwDevice, DeviceResult, Sense};
use zcss_ccw::hooks::ProgramEnd;
use zcss_ccw::senseid::SenseId;
use zcss_ccw::status::DeviceStatus;
use zcss_ccw::{Ccw, DataStream};

use crate::device::{Device, DeviceInfo, SubchannelHandle};

mod passthrough;
pub use passthrough::{MockPassthrough, PassthroughScript};

/// Command code of SENSE ID.
pub const CMD_SENSE_ID: u8 = 0xe4;
/// Command code of BASIC SENSE.
pub const CMD_SENSE: u8 = 0x04;
/// Command code of NO OPERATION (control).
pub const CMD_NOP: u8 = 0x03;

/// How the mock ends one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MockReply {
    /// Transfer data as the command type asks, then CE|DE.
    Ok,
    /// End with this device status, transferring nothing.
    Status(DeviceStatus),
    /// CE|DE|UC with this sense (kept for BASIC SENSE).
    UnitCheck(Sense),
    /// Busy status.
    Busy,
}

/// What the mock saw and will do; shared between the device and its controls.
#[derive(Debug, Default)]
pub struct MockState {
    replies: HashMap<u8, MockReply>,
    read_data: HashMap<u8, Vec<u8>>,
    /// Data written to the device, per command, in order.
    pub written: Vec<(u8, Vec<u8>)>,
    /// Command codes executed, in order.
    pub commands: Vec<u8>,
    /// Program ends seen.
    pub ends: Vec<ProgramEnd>,
    /// The channel path (LPUM) of the last program start or resume.
    pub lpum: Option<u8>,
    /// Subchannel resets seen (clear, disable).
    pub resets: u32,
    /// I/O-system resets seen ([`Device::io_system_reset`]).
    pub system_resets: u32,
    /// Times the subchannel was disabled.
    pub disabled: u32,
    /// Notifications received (queue, cookie).
    pub notified: Vec<(u64, u64)>,
    notify_result: Option<i64>,
    sense: Option<Sense>,
    delay: Option<Duration>,
    handle: Option<SubchannelHandle>,
}

/// A scriptable test device.
#[derive(Debug)]
pub struct MockDevice {
    info: DeviceInfo,
    state: Arc<Mutex<MockState>>,
}

/// Controls of a [`MockDevice`], usable after it was attached.
#[derive(Debug, Clone)]
pub struct MockControl {
    state: Arc<Mutex<MockState>>,
}

impl MockDevice {
    /// A device of control-unit type `cu_type`, model `cu_model`, on a
    /// virtual channel path (type 0x32).
    #[must_use]
    pub fn new(cu_type: u16, cu_model: u8) -> Self {
        Self::with_info(DeviceInfo::virtual_device(cu_type, cu_model))
    }

    /// A device with the given identity.
    #[must_use]
    pub fn with_info(info: DeviceInfo) -> Self {
        Self {
            info,
            state: Arc::new(Mutex::new(MockState::default())),
        }
    }

    /// Its controls.
    #[must_use]
    pub fn control(&self) -> MockControl {
        MockControl {
            state: Arc::clone(&self.state),
        }
    }
}

impl MockControl {
    /// Answers command `cmd` with `reply` from now on.
    pub fn set_reply(&self, cmd: u8, reply: MockReply) {
        self.state.lock().replies.insert(cmd, reply);
    }

    /// Returns `data` for read-type command `cmd`.
    pub fn set_read_data(&self, cmd: u8, data: Vec<u8>) {
        self.state.lock().read_data.insert(cmd, data);
    }

    /// Answers DIAG 0x500 notifications with `result` (`None`: the device
    /// takes no notifications).
    pub fn set_notify_result(&self, result: Option<i64>) {
        self.state.lock().notify_result = result;
    }

    /// Sleeps this long in every command (to let other threads overtake).
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.state.lock().delay = delay;
    }

    /// Presents unsolicited status (e.g. attention); returns whether the
    /// subchannel accepted it.
    pub fn unsolicited(&self, status: DeviceStatus) -> bool {
        let handle = self.state.lock().handle.clone();
        handle.is_some_and(|h| h.unsolicited(status))
    }

    /// Presents attention.
    pub fn attention(&self) -> bool {
        self.unsolicited(DeviceStatus::new().with_attention(true))
    }

    /// Raises an adapter interruption for `isc` through the device's handle.
    pub fn adapter_interrupt(&self, isc: u8) {
        let handle = self.state.lock().handle.clone();
        if let Some(h) = handle {
            h.adapter_interrupt(isc);
        }
    }

    /// Runs `f` on the recorded state.
    pub fn with_state<R>(&self, f: impl FnOnce(&MockState) -> R) -> R {
        f(&self.state.lock())
    }

    /// Command codes executed so far.
    #[must_use]
    pub fn commands(&self) -> Vec<u8> {
        self.state.lock().commands.clone()
    }
}

impl CcwDevice for MockDevice {
    fn program_start(&mut self, lpum: u8) {
        self.state.lock().lpum = Some(lpum);
    }

    fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
        let (reply, read, delay) = {
            let mut s = self.state.lock();
            s.commands.push(ccw.cmd);
            (
                s.replies.get(&ccw.cmd).cloned().unwrap_or(MockReply::Ok),
                s.read_data.get(&ccw.cmd).cloned(),
                s.delay,
            )
        };
        if let Some(d) = delay {
            std::thread::sleep(d);
        }
        match reply {
            MockReply::Status(st) => {
                return DeviceResult {
                    status: st,
                    sense: None,
                }
            }
            MockReply::Busy => {
                return DeviceResult {
                    status: DeviceStatus::new().with_busy(true),
                    sense: None,
                }
            }
            MockReply::UnitCheck(sense) => {
                self.state.lock().sense = Some(sense);
                return DeviceResult::unit_check(sense);
            }
            MockReply::Ok => {}
        }
        match ccw.cmd {
            CMD_SENSE_ID => {
                let i = self.info;
                let (b, n) = SenseId::new(i.cu_type, i.cu_model, i.dev_type, i.dev_model).encode();
                data.write(&b[..n]);
            }
            CMD_SENSE => {
                let sense = self.state.lock().sense.take().unwrap_or(Sense::from_slice(&[0; 32]));
                data.write(&sense.bytes);
            }
            c if c & 3 == 1 => {
                let mut buf = vec![0u8; usize::from(data.count())];
                let mut got = Vec::new();
                loop {
                    let n = data.read(&mut buf);
                    got.extend_from_slice(&buf[..n]);
                    if n < buf.len() || n == 0 || data.failed() {
                        break;
                    }
                    if got.len() > 1 << 20 {
                        break;
                    }
                }
                self.state.lock().written.push((c, got));
            }
            c if c & 3 == 2 || c & 0xf == 0xc => {
                if let Some(d) = read {
                    data.write(&d);
                }
            }
            _ => {}
        }
        DeviceResult::OK
    }

    fn program_end(&mut self, how: ProgramEnd) {
        self.state.lock().ends.push(how);
    }
}

impl Device for MockDevice {
    fn info(&self) -> DeviceInfo {
        self.info
    }

    fn attached(&mut self, handle: SubchannelHandle) {
        self.state.lock().handle = Some(handle);
    }

    fn subchannel_reset(&mut self) {
        self.state.lock().resets += 1;
    }

    fn io_system_reset(&mut self) {
        self.state.lock().system_resets += 1;
    }

    /// The mock keeps no state a guest set up: an empty state of kind
    /// `mock`.
    fn save_state(&mut self) -> Result<crate::DeviceState, crate::DeviceStateError> {
        crate::DeviceState::new("mock", 1, &())
    }

    fn restore_state(&mut self, state: &crate::DeviceState) -> Result<(), crate::DeviceStateError> {
        state.parse::<()>("mock", 1)
    }

    fn subchannel_disabled(&mut self) {
        self.state.lock().disabled += 1;
    }

    fn notify(&mut self, _mem: &dyn zcss_ccw::memory::GuestMemory, queue: u64, cookie: u64) -> Option<i64> {
        let mut s = self.state.lock();
        let r = s.notify_result?;
        s.notified.push((queue, cookie));
        Some(r)
    }
}
