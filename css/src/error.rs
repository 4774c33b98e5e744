//! Architected outcomes of I/O instructions (condition codes and program
//! exceptions) and the host-side errors of the css API.
//!
//! Principles of Operation, chapter 14 ("I/O Instructions": condition codes
//! and program exceptions of each instruction) and chapter 6 ("Program
//! Interruption"). A program exception is a guest-visible outcome, so it is a
//! value (`Err(ProgramCheck)` of an instruction method), never a host error.

use thiserror::Error;
use zcss_ccw::memory::AccessError;
use zcss_ccw::sid::SubchannelId;

/// The condition code an I/O instruction sets in the PSW.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Cc {
    /// Condition code 0.
    Zero = 0,
    /// Condition code 1.
    One = 1,
    /// Condition code 2.
    Two = 2,
    /// Condition code 3.
    Three = 3,
}

impl Cc {
    /// The numeric value 0..=3.
    #[must_use]
    pub const fn value(self) -> u8 {
        self as u8
    }

    /// The condition code for a numeric value (only the low two bits count).
    #[must_use]
    pub const fn from_value(v: u8) -> Self {
        match v & 3 {
            0 => Self::Zero,
            1 => Self::One,
            2 => Self::Two,
            _ => Self::Three,
        }
    }
}

impl std::fmt::Display for Cc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cc={}", self.value())
    }
}

/// A program exception an I/O instruction recognizes instead of completing
/// (Principles of Operation, chapter 6, "Program-Interruption Conditions").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum ProgramCheck {
    /// Operand exception (code 0x0015): an invalid operand (subchannel-id
    /// word, ORB, PMCW field, register contents).
    #[error("operand exception")]
    Operand,
    /// Specification exception (code 0x0006): a misaligned operand address.
    #[error("specification exception")]
    Specification,
    /// Addressing exception (code 0x0005): the operand is not in storage.
    #[error("addressing exception")]
    Addressing,
    /// Protection exception (code 0x0004): key-controlled protection.
    #[error("protection exception")]
    Protection,
    /// Privileged-operation exception (code 0x0002): issued in the problem state.
    #[error("privileged-operation exception")]
    PrivilegedOperation,
}

impl ProgramCheck {
    /// The program-interruption code.
    #[must_use]
    pub const fn code(self) -> u16 {
        match self {
            Self::Operand => 0x15,
            Self::Specification => 0x06,
            Self::Addressing => 0x05,
            Self::Protection => 0x04,
            Self::PrivilegedOperation => 0x02,
        }
    }

    /// The trace-format name (`operand`, `specification`, …).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Operand => "operand",
            Self::Specification => "specification",
            Self::Addressing => "addressing",
            Self::Protection => "protection",
            Self::PrivilegedOperation => "privileged-operation",
        }
    }
}

impl From<AccessError> for ProgramCheck {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Addressing { .. } => Self::Addressing,
            AccessError::Protection { .. } => Self::Protection,
        }
    }
}

/// Result of an I/O instruction that sets a condition code.
pub type InsnResult = Result<Cc, ProgramCheck>;

/// Host-side errors of the css API (configuration, attaching devices).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CssError {
    /// css image 255 is reserved.
    #[error("css image 0xff is reserved")]
    ReservedCssid,
    /// The subchannel already has a device.
    #[error("subchannel {0} already has a device")]
    SubchannelInUse(SubchannelId),
    /// The device number is already used in that subchannel set.
    #[error("device number {devno:#06x} is already used in css {cssid:#x} set {ssid}")]
    DevnoInUse {
        /// css image.
        cssid: u8,
        /// Subchannel set.
        ssid: u8,
        /// The duplicate device number.
        devno: u16,
    },
    /// The device at the subchannel takes no host input.
    #[error("the device at subchannel {0} takes no host input")]
    NoInput(SubchannelId),
    /// The device at the subchannel is not of the type asked for.
    #[error("the device at subchannel {0} is of another type")]
    DeviceType(SubchannelId),
    /// No device is attached at the subchannel.
    #[error("no device at subchannel {0}")]
    NoDevice(SubchannelId),
    /// No free subchannel is left for automatic placement.
    #[error("no free subchannel left")]
    Full,
    /// The subchannel-set id is above 3.
    #[error("subchannel-set id {0} is above 3")]
    BadSsid(u8),
    /// A device names a CHPID that its css image has installed with another
    /// channel-path type.
    #[error("CHPID {cssid:x}.{chpid:02x} is a path of type {installed:#04x}, not {wanted:#04x}")]
    ChpidType {
        /// css image.
        cssid: u8,
        /// The CHPID.
        chpid: u8,
        /// Its installed type.
        installed: u8,
        /// The type the device wants.
        wanted: u8,
    },
    /// The timing facility was asked for a subchannel whose device is
    /// passed through (the host times the real device).
    #[error("subchannel {0} has a passthrough device, which offers no timing facility")]
    NoTimingFacility(SubchannelId),
}
