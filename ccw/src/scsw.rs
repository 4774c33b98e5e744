//! The subchannel-status word, command-mode form (Principles of Operation,
//! chapter 16, "Interruption-Response Block", "Subchannel-Status Word").
//!
//! Twelve bytes, the first part of the IRB (TEST SUBCHANNEL) and of the SCHIB
//! (STORE SUBCHANNEL):
//!
//! | word | bits  | field |
//! |------|-------|-------|
//! | 0    | 0–3   | key: subchannel key |
//! | 0    | 4     | S: suspend control |
//! | 0    | 5     | L: ESW format (format-0 ESW stored) |
//! | 0    | 6–7   | CC: deferred condition code |
//! | 0    | 8     | F: CCW format |
//! | 0    | 9     | P: prefetch |
//! | 0    | 10    | I: initial-status-interruption control |
//! | 0    | 11    | A: address-limit-checking control |
//! | 0    | 12    | U: suppress-suspended interruption |
//! | 0    | 13    | Z: zero condition code |
//! | 0    | 14    | E: extended control (ECW stored) |
//! | 0    | 15    | N: path not operational |
//! | 0    | 16    | reserved |
//! | 0    | 17–19 | FC: function control (start, halt, clear) |
//! | 0    | 20–26 | AC: activity control |
//! | 0    | 27–31 | SC: status control |
//! | 1    | 0–31  | CCW address |
//! | 2    | 0–7   | device status |
//! | 2    | 8–15  | subchannel status |
//! | 2    | 16–31 | residual count |
//!
//! [`FunctionControl`], [`ActivityControl`] and [`StatusControl`] hold their
//! field in the low bits of a byte. Build them from the constants and
//! setters (or read them from a decoded SCSW): a value made with `from_bits`
//! that has a bit above its field set makes the `ScswControls` setter panic.

use bitfield_struct::bitfield;

use crate::status::{DeviceStatus, SubchannelStatus};

/// Joins the names of the set bits among the low `names.len()` bits of
/// `bits`; `names[0]` is the most significant of them. `0` when none is set.
pub(crate) fn join_low_names(bits: u8, names: &[&str]) -> String {
    let n = names.len();
    let mut out = String::new();
    for (i, name) in names.iter().enumerate() {
        if bits & (1 << (n - 1 - i)) != 0 {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
        }
    }
    if out.is_empty() {
        out.push('0');
    }
    out
}

/// Function control, SCSW word 0 bits 17–19, held in the low three bits.
#[bitfield(u8, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct FunctionControl {
    /// Not part of the field; zero.
    #[bits(5)]
    __: u8,
    /// Bit 17: start function.
    pub start: bool,
    /// Bit 18: halt function.
    pub halt: bool,
    /// Bit 19: clear function.
    pub clear: bool,
}

impl FunctionControl {
    /// The start function.
    pub const START: Self = Self::new().with_start(true);
    /// The halt function.
    pub const HALT: Self = Self::new().with_halt(true);
    /// The clear function.
    pub const CLEAR: Self = Self::new().with_clear(true);

    /// `START|HALT|CLEAR` names of the set bits, or `0`.
    #[must_use]
    pub fn names(self) -> String {
        join_low_names(self.into_bits(), &["START", "HALT", "CLEAR"])
    }
}

/// Activity control, SCSW word 0 bits 20–26, held in the low seven bits.
#[bitfield(u8, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct ActivityControl {
    /// Not part of the field; zero.
    __: bool,
    /// Bit 20: resume pending.
    pub resume_pending: bool,
    /// Bit 21: start pending.
    pub start_pending: bool,
    /// Bit 22: halt pending.
    pub halt_pending: bool,
    /// Bit 23: clear pending.
    pub clear_pending: bool,
    /// Bit 24: subchannel active.
    pub subchannel_active: bool,
    /// Bit 25: device active.
    pub device_active: bool,
    /// Bit 26: suspended.
    pub suspended: bool,
}

impl ActivityControl {
    /// Resume pending.
    pub const RESUME_PEND: Self = Self::new().with_resume_pending(true);
    /// Start pending.
    pub const START_PEND: Self = Self::new().with_start_pending(true);
    /// Halt pending.
    pub const HALT_PEND: Self = Self::new().with_halt_pending(true);
    /// Clear pending.
    pub const CLEAR_PEND: Self = Self::new().with_clear_pending(true);
    /// Subchannel active.
    pub const SCH_ACT: Self = Self::new().with_subchannel_active(true);
    /// Device active.
    pub const DEV_ACT: Self = Self::new().with_device_active(true);
    /// Suspended.
    pub const SUSP: Self = Self::new().with_suspended(true);

    /// `RESUME_PEND|START_PEND|HALT_PEND|CLEAR_PEND|SCH_ACT|DEV_ACT|SUSP`
    /// names of the set bits, or `0`.
    #[must_use]
    pub fn names(self) -> String {
        join_low_names(
            self.into_bits(),
            &[
                "RESUME_PEND",
                "START_PEND",
                "HALT_PEND",
                "CLEAR_PEND",
                "SCH_ACT",
                "DEV_ACT",
                "SUSP",
            ],
        )
    }
}

/// Status control, SCSW word 0 bits 27–31, held in the low five bits.
#[bitfield(u8, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct StatusControl {
    /// Not part of the field; zero.
    #[bits(3)]
    __: u8,
    /// Bit 27: alert status.
    pub alert: bool,
    /// Bit 28: intermediate status.
    pub intermediate: bool,
    /// Bit 29: primary status.
    pub primary: bool,
    /// Bit 30: secondary status.
    pub secondary: bool,
    /// Bit 31: status pending.
    pub pending: bool,
}

impl StatusControl {
    /// Alert status.
    pub const ALERT: Self = Self::new().with_alert(true);
    /// Intermediate status.
    pub const INTER: Self = Self::new().with_intermediate(true);
    /// Primary status.
    pub const PRIM: Self = Self::new().with_primary(true);
    /// Secondary status.
    pub const SEC: Self = Self::new().with_secondary(true);
    /// Status pending.
    pub const PEND: Self = Self::new().with_pending(true);
    /// Primary, secondary and status pending: the usual end of a start function.
    pub const PRIM_SEC_PEND: Self = Self::new().with_primary(true).with_secondary(true).with_pending(true);

    /// `ALERT|INTER|PRIM|SEC|PEND` names of the set bits, or `0`.
    #[must_use]
    pub fn names(self) -> String {
        join_low_names(self.into_bits(), &["ALERT", "INTER", "PRIM", "SEC", "PEND"])
    }
}

macro_rules! bit_or {
    ($t:ty) => {
        impl core::ops::BitOr for $t {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                Self::from_bits(self.into_bits() | rhs.into_bits())
            }
        }
    };
}
bit_or!(FunctionControl);
bit_or!(ActivityControl);
bit_or!(StatusControl);

/// SCSW word 0, the control fields, in PoO bit order.
#[bitfield(u32, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct ScswControls {
    /// Bits 0–3: subchannel key (from the ORB).
    #[bits(4)]
    pub key: u8,
    /// Bit 4 (S): suspend control (from the ORB).
    pub suspend: bool,
    /// Bit 5 (L): ESW format — a format-0 ESW is stored.
    pub esw_format: bool,
    /// Bits 6–7 (CC): deferred condition code.
    #[bits(2)]
    pub cc: u8,
    /// Bit 8 (F): CCW format (from the ORB).
    pub format1: bool,
    /// Bit 9 (P): prefetch control (from the ORB).
    pub prefetch: bool,
    /// Bit 10 (I): initial-status-interruption control (from the ORB).
    pub initial_status: bool,
    /// Bit 11 (A): address-limit-checking control (from the ORB).
    pub address_limit: bool,
    /// Bit 12 (U): suppress-suspended-interruption control (from the ORB).
    pub suppress_suspended: bool,
    /// Bit 13 (Z): zero condition code (intermediate status after a start with cc 0).
    pub zero_cc: bool,
    /// Bit 14 (E): extended control — an ECW is stored in the IRB.
    pub extended_control: bool,
    /// Bit 15 (N): path not operational.
    pub path_not_operational: bool,
    /// Bit 16: reserved (zero in command mode).
    pub reserved16: bool,
    /// Bits 17–19: function control.
    #[bits(3)]
    pub fctl: FunctionControl,
    /// Bits 20–26: activity control.
    #[bits(7)]
    pub actl: ActivityControl,
    /// Bits 27–31: status control.
    #[bits(5)]
    pub stctl: StatusControl,
}

/// The subchannel-status word (command mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scsw {
    /// Word 0: controls.
    pub ctrl: ScswControls,
    /// Word 1: CCW address (normally the last CCW used plus 8).
    pub cpa: u32,
    /// Word 2 bits 0–7: device status.
    pub dstat: DeviceStatus,
    /// Word 2 bits 8–15: subchannel status.
    pub cstat: SubchannelStatus,
    /// Word 2 bits 16–31: residual count.
    pub count: u16,
}

impl Scsw {
    /// Length of the SCSW in bytes.
    pub const LEN: usize = 12;

    /// Decodes the stored big-endian form.
    #[must_use]
    pub const fn from_be_bytes(b: [u8; 12]) -> Self {
        Self {
            ctrl: ScswControls::from_bits(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            cpa: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            dstat: DeviceStatus::from_bits(b[8]),
            cstat: SubchannelStatus::from_bits(b[9]),
            count: u16::from_be_bytes([b[10], b[11]]),
        }
    }

    /// Encodes to the stored big-endian form.
    #[must_use]
    pub const fn to_be_bytes(self) -> [u8; 12] {
        let w0 = self.ctrl.into_bits().to_be_bytes();
        let w1 = self.cpa.to_be_bytes();
        let c = self.count.to_be_bytes();
        [
            w0[0],
            w0[1],
            w0[2],
            w0[3],
            w1[0],
            w1[1],
            w1[2],
            w1[3],
            self.dstat.into_bits(),
            self.cstat.into_bits(),
            c[0],
            c[1],
        ]
    }

    /// Decodes from the first 12 bytes of `b`; `None` if `b` is shorter.
    #[must_use]
    pub fn decode(b: &[u8]) -> Option<Self> {
        Some(Self::from_be_bytes(b.get(..Self::LEN)?.try_into().ok()?))
    }

    /// Whether status is pending (SC bit 31).
    #[must_use]
    pub const fn is_status_pending(&self) -> bool {
        self.ctrl.stctl().pending()
    }

    /// Whether a function is in progress that will still end with status:
    /// no status pending, and start, resume, halt or clear pending, or the
    /// subchannel or device active (activity control, PoO chapter 16) — not
    /// merely suspended.
    #[must_use]
    pub fn awaits_status(&self) -> bool {
        let a = self.ctrl.actl();
        !self.is_status_pending()
            && (a.start_pending()
                || a.resume_pending()
                || a.halt_pending()
                || a.clear_pending()
                || a.subchannel_active()
                || a.device_active())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_in_poo_bit_order() {
        assert_eq!(ScswControls::new().with_key(0xf).into_bits(), 0xf000_0000);
        assert_eq!(ScswControls::new().with_suspend(true).into_bits(), 0x0800_0000);
        assert_eq!(ScswControls::new().with_esw_format(true).into_bits(), 0x0400_0000);
        assert_eq!(ScswControls::new().with_cc(3).into_bits(), 0x0300_0000);
        assert_eq!(ScswControls::new().with_format1(true).into_bits(), 0x0080_0000);
        assert_eq!(ScswControls::new().with_prefetch(true).into_bits(), 0x0040_0000);
        assert_eq!(ScswControls::new().with_initial_status(true).into_bits(), 0x0020_0000);
        assert_eq!(ScswControls::new().with_address_limit(true).into_bits(), 0x0010_0000);
        assert_eq!(
            ScswControls::new().with_suppress_suspended(true).into_bits(),
            0x0008_0000
        );
        assert_eq!(ScswControls::new().with_zero_cc(true).into_bits(), 0x0004_0000);
        assert_eq!(ScswControls::new().with_extended_control(true).into_bits(), 0x0002_0000);
        assert_eq!(
            ScswControls::new().with_path_not_operational(true).into_bits(),
            0x0001_0000
        );
        assert_eq!(ScswControls::new().with_reserved16(true).into_bits(), 0x0000_8000);
    }

    #[test]
    fn function_control_bits_are_17_to_19() {
        let w = |f| ScswControls::new().with_fctl(f).into_bits();
        assert_eq!(w(FunctionControl::START), 0x0000_4000);
        assert_eq!(w(FunctionControl::HALT), 0x0000_2000);
        assert_eq!(w(FunctionControl::CLEAR), 0x0000_1000);
        assert_eq!(FunctionControl::START.into_bits(), 4);
        assert_eq!((FunctionControl::START | FunctionControl::HALT).names(), "START|HALT");
        assert_eq!(FunctionControl::new().names(), "0");
    }

    #[test]
    fn activity_control_bits_are_20_to_26() {
        let w = |a| ScswControls::new().with_actl(a).into_bits();
        assert_eq!(w(ActivityControl::RESUME_PEND), 0x0000_0800);
        assert_eq!(w(ActivityControl::START_PEND), 0x0000_0400);
        assert_eq!(w(ActivityControl::HALT_PEND), 0x0000_0200);
        assert_eq!(w(ActivityControl::CLEAR_PEND), 0x0000_0100);
        assert_eq!(w(ActivityControl::SCH_ACT), 0x0000_0080);
        assert_eq!(w(ActivityControl::DEV_ACT), 0x0000_0040);
        assert_eq!(w(ActivityControl::SUSP), 0x0000_0020);
        assert_eq!(
            (ActivityControl::START_PEND | ActivityControl::SCH_ACT).names(),
            "START_PEND|SCH_ACT"
        );
    }

    #[test]
    fn status_control_bits_are_27_to_31() {
        let w = |s| ScswControls::new().with_stctl(s).into_bits();
        assert_eq!(w(StatusControl::ALERT), 0x0000_0010);
        assert_eq!(w(StatusControl::INTER), 0x0000_0008);
        assert_eq!(w(StatusControl::PRIM), 0x0000_0004);
        assert_eq!(w(StatusControl::SEC), 0x0000_0002);
        assert_eq!(w(StatusControl::PEND), 0x0000_0001);
        assert_eq!(StatusControl::PRIM_SEC_PEND.names(), "PRIM|SEC|PEND");
        assert_eq!(StatusControl::new().names(), "0");
    }

    #[test]
    fn decode_hercules_concurrent_sense_scsw() {
        // Observed on a 3390: F, E, start; alert|primary|secondary|pending; UC.
        let raw = [0x00, 0x82, 0x40, 0x17, 0, 0, 0x10, 0x08, 0x0e, 0x00, 0, 0];
        let s = Scsw::from_be_bytes(raw);
        assert!(s.ctrl.format1());
        assert!(s.ctrl.extended_control());
        assert!(!s.ctrl.esw_format());
        assert_eq!(s.ctrl.fctl(), FunctionControl::START);
        assert_eq!(s.ctrl.actl(), ActivityControl::new());
        assert_eq!(s.ctrl.stctl(), StatusControl::ALERT | StatusControl::PRIM_SEC_PEND);
        assert_eq!(s.cpa, 0x1008);
        assert_eq!(s.dstat, DeviceStatus::CE_DE_UC);
        assert!(s.is_status_pending());
        assert_eq!(s.to_be_bytes(), raw);
    }

    #[test]
    fn decode_suspended_intermediate_scsw() {
        // S, F, start; suspended; intermediate|pending; residual 0x10.
        let raw = [0x08, 0x80, 0x40, 0x29, 0, 0, 0x20, 0x10, 0x00, 0x00, 0x00, 0x10];
        let s = Scsw::from_be_bytes(raw);
        assert!(s.ctrl.suspend());
        assert_eq!(s.ctrl.actl(), ActivityControl::SUSP);
        assert_eq!(s.ctrl.stctl(), StatusControl::INTER | StatusControl::PEND);
        assert_eq!(s.count, 0x10);
        assert_eq!(s.cpa, 0x2010);
    }

    #[test]
    fn encode_builds_normal_ending() {
        let s = Scsw {
            ctrl: ScswControls::new()
                .with_key(6)
                .with_format1(true)
                .with_fctl(FunctionControl::START)
                .with_stctl(StatusControl::PRIM_SEC_PEND),
            cpa: 0x0000_1008,
            dstat: DeviceStatus::CE_DE,
            cstat: SubchannelStatus::new().with_incorrect_length(true),
            count: 0x00f8,
        };
        assert_eq!(
            s.to_be_bytes(),
            [0x60, 0x80, 0x40, 0x07, 0, 0, 0x10, 0x08, 0x0c, 0x40, 0x00, 0xf8]
        );
    }

    #[test]
    fn decode_short_input_is_none() {
        assert_eq!(Scsw::decode(&[0; 11]), None);
        assert_eq!(Scsw::decode(&[0; 13]), Some(Scsw::default()));
    }

    proptest::proptest! {
        #[test]
        fn encode_decode_identity(raw: [u8; 12]) {
            proptest::prop_assert_eq!(Scsw::from_be_bytes(raw).to_be_bytes(), raw);
        }

        #[test]
        fn field_setters_accept_decoded_fields(raw: [u8; 12]) {
            let s = Scsw::from_be_bytes(raw);
            let rebuilt = ScswControls::from_bits(s.ctrl.into_bits() & 0xffff_8000)
                .with_fctl(s.ctrl.fctl())
                .with_actl(s.ctrl.actl())
                .with_stctl(s.ctrl.stctl());
            proptest::prop_assert_eq!(rebuilt, s.ctrl);
        }
    }
}
