//! The interface between the channel-program [`Engine`](crate::Engine) and a
//! device interpreted one CCW at a time (Principles of Operation, chapter 15,
//! "Execution of I/O Operations": the channel subsystem sends each command to
//! the device, transfers data, and receives the device status that ends it).

use crate::ccw::Ccw;
use crate::datastream::DataStream;
use crate::hooks::ProgramEnd;
use crate::status::DeviceStatus;

/// Sense data a device presents with unit check (up to 32 bytes, the size of
/// the ECW and of BASIC SENSE data for most devices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sense {
    /// The sense bytes; only `len` are meaningful.
    pub bytes: [u8; 32],
    /// Number of valid sense bytes.
    pub len: u8,
}

impl Sense {
    /// Sense byte 0 bit 0: command reject.
    pub const COMMAND_REJECT: u8 = 0x80;
    /// Sense byte 0 bit 1: intervention required.
    pub const INTERVENTION_REQUIRED: u8 = 0x40;
    /// Sense byte 0 bit 2: bus-out check.
    pub const BUS_OUT_CHECK: u8 = 0x20;
    /// Sense byte 0 bit 3: equipment check.
    pub const EQUIPMENT_CHECK: u8 = 0x10;
    /// Sense byte 0 bit 4: data check.
    pub const DATA_CHECK: u8 = 0x08;
    /// Sense byte 0 bit 5: overrun.
    pub const OVERRUN: u8 = 0x04;

    /// Sense data from a byte slice (at most 32 bytes are kept).
    #[must_use]
    pub fn from_slice(s: &[u8]) -> Self {
        let mut bytes = [0u8; 32];
        let n = s.len().min(32);
        bytes[..n].copy_from_slice(&s[..n]);
        Self {
            bytes,
            len: u8::try_from(n).unwrap_or(32),
        }
    }

    /// Sense data with only byte 0 set (e.g. [`Sense::COMMAND_REJECT`]), 32 bytes long.
    #[must_use]
    pub const fn byte0(b0: u8) -> Self {
        let mut bytes = [0u8; 32];
        bytes[0] = b0;
        Self { bytes, len: 32 }
    }

    /// The valid sense bytes.
    #[must_use]
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len).min(32)]
    }
}

/// How a device ended one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceResult {
    /// Device status presented at the end of the command (normally CE|DE).
    /// With command chaining, status modifier makes the channel skip the next
    /// CCW; unit check or unit exception ends the chain.
    pub status: DeviceStatus,
    /// Sense data accompanying unit check, for concurrent sense or a later SENSE.
    pub sense: Option<Sense>,
}

impl DeviceResult {
    /// Channel end and device end.
    pub const OK: Self = Self {
        status: DeviceStatus::CE_DE,
        sense: None,
    };

    /// Normal ending with status modifier (CE|DE|SM): skip the next CCW.
    pub const STATUS_MODIFIER: Self = Self {
        status: DeviceStatus::from_bits(0x4c),
        sense: None,
    };

    /// Command reject: CE|DE|UC with sense byte 0 = 0x80.
    pub const COMMAND_REJECT: Self = Self::unit_check(Sense::byte0(Sense::COMMAND_REJECT));

    /// Unit exception (CE|DE|UE), e.g. end of file.
    pub const UNIT_EXCEPTION: Self = Self {
        status: DeviceStatus::CE_DE_UE,
        sense: None,
    };

    /// CE|DE|UC with the given sense data.
    #[must_use]
    pub const fn unit_check(sense: Sense) -> Self {
        Self {
            status: DeviceStatus::CE_DE_UC,
            sense: Some(sense),
        }
    }
}

/// A device interpreted one CCW at a time by the [`Engine`](crate::Engine).
///
/// The engine calls [`CcwDevice::program_start`] once per start function
/// (and once per resume), then [`CcwDevice::execute`] for each command
/// (data-chained CCWs continue the same call through the [`DataStream`]),
/// then [`CcwDevice::program_end`]. Control units keep state across a
/// command chain (a DASD's Define Extent domain, for instance) and drop it
/// at the end.
pub trait CcwDevice: Send {
    /// A new channel program begins (or a suspended one resumes) on the
    /// channel path `lpum` — the last-path-used mask of the subchannel, one
    /// bit set, e.g. `0x80` for the path of PIM bit 0 (PoO chapter 15,
    /// "Subchannel-Information Block", LPUM). A control unit that keeps
    /// per-path state (path groups, reserves) uses it.
    fn program_start(&mut self, _lpum: u8) {}

    /// Executes one command. Data moves only through `data`, which enforces the
    /// count, data chaining, IDAW/MIDAW addressing, skip and storage keys.
    /// A command the device does not support must answer
    /// [`DeviceResult::COMMAND_REJECT`].
    fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult;

    /// The channel program ended (or was suspended, halted, cleared).
    fn program_end(&mut self, _how: ProgramEnd) {}
}
