//! Device status and subchannel status, the two status bytes of the SCSW
//! (Principles of Operation, chapter 16, "Device Status" and "Subchannel Status").

use bitfield_struct::bitfield;

/// Device status (SCSW word 2 bits 0–7), as presented by the device.
#[bitfield(u8, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct DeviceStatus {
    /// Bit 0: attention.
    pub attention: bool,
    /// Bit 1: status modifier.
    pub status_modifier: bool,
    /// Bit 2: control-unit end.
    pub control_unit_end: bool,
    /// Bit 3: busy.
    pub busy: bool,
    /// Bit 4: channel end.
    pub channel_end: bool,
    /// Bit 5: device end.
    pub device_end: bool,
    /// Bit 6: unit check.
    pub unit_check: bool,
    /// Bit 7: unit exception.
    pub unit_exception: bool,
}

impl DeviceStatus {
    /// Channel end and device end: the normal ending of a command.
    pub const CE_DE: Self = Self::from_bits(0x0c);
    /// Channel end, device end and unit check.
    pub const CE_DE_UC: Self = Self::from_bits(0x0e);
    /// Channel end, device end and unit exception.
    pub const CE_DE_UE: Self = Self::from_bits(0x0d);

    /// `ATTN|SM|CUE|BUSY|CE|DE|UC|UE` names of the set bits joined by `|`, or `0`.
    #[must_use]
    pub fn names(self) -> String {
        join_names(self.into_bits(), &["ATTN", "SM", "CUE", "BUSY", "CE", "DE", "UC", "UE"])
    }
}

/// Subchannel status (SCSW word 2 bits 8–15), as detected by the channel subsystem.
#[bitfield(u8, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct SubchannelStatus {
    /// Bit 8: program-controlled interruption.
    pub pci: bool,
    /// Bit 9: incorrect length.
    pub incorrect_length: bool,
    /// Bit 10: program check.
    pub program_check: bool,
    /// Bit 11: protection check.
    pub protection_check: bool,
    /// Bit 12: channel-data check.
    pub channel_data_check: bool,
    /// Bit 13: channel-control check.
    pub channel_control_check: bool,
    /// Bit 14: interface-control check.
    pub interface_control_check: bool,
    /// Bit 15: chaining check.
    pub chaining_check: bool,
}

impl SubchannelStatus {
    /// `PCI|IL|PC|PROT|CDC|CCC|ICC|CHC` names of the set bits joined by `|`, or `0`.
    #[must_use]
    pub fn names(self) -> String {
        join_names(
            self.into_bits(),
            &["PCI", "IL", "PC", "PROT", "CDC", "CCC", "ICC", "CHC"],
        )
    }
}

/// Joins the names of the set bits of `bits` (bit 0 = MSB = `names[0]`).
#[must_use]
pub fn join_names(bits: u8, names: &[&str; 8]) -> String {
    if bits == 0 {
        return "0".to_owned();
    }
    let mut out = String::new();
    for (i, name) in names.iter().enumerate() {
        if bits & (0x80 >> i) != 0 {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_status_bits_follow_poo() {
        assert_eq!(DeviceStatus::new().with_attention(true).into_bits(), 0x80);
        assert_eq!(DeviceStatus::new().with_channel_end(true).into_bits(), 0x08);
        assert_eq!(DeviceStatus::new().with_unit_exception(true).into_bits(), 0x01);
        assert_eq!(DeviceStatus::CE_DE.names(), "CE|DE");
        assert_eq!(DeviceStatus::CE_DE_UC.names(), "CE|DE|UC");
        assert_eq!(DeviceStatus::new().names(), "0");
    }

    #[test]
    fn subchannel_status_bits_follow_poo() {
        assert_eq!(SubchannelStatus::new().with_pci(true).into_bits(), 0x80);
        assert_eq!(SubchannelStatus::new().with_incorrect_length(true).into_bits(), 0x40);
        assert_eq!(SubchannelStatus::new().with_program_check(true).into_bits(), 0x20);
        assert_eq!(SubchannelStatus::new().with_protection_check(true).into_bits(), 0x10);
        assert_eq!(SubchannelStatus::from_bits(0x60).names(), "IL|PC");
    }
}
