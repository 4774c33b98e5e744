//! Numbers in a trace, which remember how they were written
//! ([`NumStyle`]) so that printing reproduces them, and subchannel
//! addresses ([`SchAddr`]).

use std::fmt;

/// How a number was written, so that printing reproduces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumStyle {
    /// Decimal digits.
    Dec,
    /// `0x` and this many hex digits (zero padded when printed).
    Hex(u8),
    /// Hex digits without `0x` (fields the contract defines as hex, like
    /// `devno=` or `isc-mask=`), this many digits.
    BareHex(u8),
    /// *(extension)* A subchannel-id operand written as a bus id
    /// (`fe.0.0004`); the value holds cssid << 24 | ssid << 16 | schno (see
    /// [`Num::bus_id`]) and stands for the subchannel-identification word the
    /// guest would use when the instruction runs.
    BusId,
}

/// A number with the way it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Num {
    /// The value.
    pub value: u64,
    /// How it is printed.
    pub style: NumStyle,
}

impl Num {
    /// `value` printed as `0x` and at least 8 hex digits (16 if it needs
    /// more than 8): the recorder's form for register values and addresses.
    #[must_use]
    pub fn hex(value: u64) -> Self {
        let width = if value > u64::from(u32::MAX) { 16 } else { 8 };
        Self {
            value,
            style: NumStyle::Hex(width),
        }
    }

    /// `value` printed in decimal.
    #[must_use]
    pub fn dec(value: u64) -> Self {
        Self {
            value,
            style: NumStyle::Dec,
        }
    }

    /// The subchannel `s` as a bus-id operand ([`NumStyle::BusId`]).
    #[must_use]
    pub fn bus_id(s: SchAddr) -> Self {
        Self {
            value: u64::from(s.cssid) << 24 | u64::from(s.ssid) << 16 | u64::from(s.schno),
            style: NumStyle::BusId,
        }
    }

    /// The subchannel of a bus-id operand.
    #[must_use]
    pub fn as_bus_id(&self) -> Option<SchAddr> {
        let [.., c, s, n0, n1] = self.value.to_be_bytes();
        (self.style == NumStyle::BusId).then_some(SchAddr {
            cssid: c,
            ssid: s & 3,
            schno: u16::from_be_bytes([n0, n1]),
        })
    }

    /// `value` printed as bare hex digits, at least `width` of them.
    #[must_use]
    pub fn bare_hex(value: u64, width: u8) -> Self {
        Self {
            value,
            style: NumStyle::BareHex(width),
        }
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.style {
            NumStyle::Dec => write!(f, "{}", self.value),
            NumStyle::Hex(w) => write!(f, "0x{:0w$x}", self.value, w = usize::from(w)),
            NumStyle::BareHex(w) => write!(f, "{:0w$x}", self.value, w = usize::from(w)),
            NumStyle::BusId => match self.as_bus_id() {
                Some(s) => write!(f, "{s}"),
                None => write!(f, "{:#x}", self.value),
            },
        }
    }
}

/// A subchannel written `<cssid>.<ssid>.<schno>` in hex (`fe.0.0004`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchAddr {
    /// Channel-subsystem image id.
    pub cssid: u8,
    /// Subchannel-set id (0..=3).
    pub ssid: u8,
    /// Subchannel number.
    pub schno: u16,
}

impl fmt::Display for SchAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}.{:x}.{:04x}", self.cssid, self.ssid, self.schno)
    }
}
