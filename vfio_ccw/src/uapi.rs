//! The vfio-ccw user-space API as Rust types with the kernel's layouts
//! (Linux `include/uapi/linux/vfio_ccw.h` and the CCW parts of
//! `include/uapi/linux/vfio.h`).
//!
//! A vfio-ccw device has four regions, each at offset `index << 10` of the
//! device file (`drivers/s390/cio/vfio_ccw_private.h`,
//! `VFIO_CCW_INDEX_TO_OFFSET`):
//!
//! | index | region | layout | access |
//! |---|---|---|---|
//! | 0 | I/O (config) | [`IoRegion`], 124 bytes | read/write: a write starts a channel program |
//! | 1 | asynchronous command | [`CmdRegion`], 8 bytes | write: HALT or CLEAR SUBCHANNEL |
//! | 2 | SCHIB | [`SchibRegion`], 52 bytes | read: STORE SUBCHANNEL of the host subchannel |
//! | 3 | CRW | [`CrwRegion`], 8 bytes | read: dequeue one channel report |
//!
//! Regions 1–3 are device-specific regions found through the
//! `VFIO_REGION_INFO_CAP_TYPE` capability (type [`REGION_TYPE_CCW`],
//! subtypes [`RegionSubtype`]). Three interrupt indexes ([`IrqIndex`])
//! signal through eventfds: I/O, CRW and REQ (removal request).
//!
//! The architected areas (ORB, SCSW, IRB, SCHIB) hold big-endian
//! Principles-of-Operation formats; `ret_code`, `command` and `crw` are
//! host-endian `__u32`s, as the kernel stores them.

use zcss_ccw::irb::Irb;
use zcss_ccw::orb::Orb;
use zcss_ccw::schib::Schib;
use zcss_ccw::scsw::Scsw;

/// Size of the ORB area of the I/O region (`ORB_AREA_SIZE`).
pub const ORB_AREA_SIZE: usize = 12;
/// Size of the SCSW area of the I/O region (`SCSW_AREA_SIZE`).
pub const SCSW_AREA_SIZE: usize = 12;
/// Size of the IRB area of the I/O region (`IRB_AREA_SIZE`).
pub const IRB_AREA_SIZE: usize = 96;
/// Size of the SCHIB area of the SCHIB region (`SCHIB_AREA_SIZE`).
pub const SCHIB_AREA_SIZE: usize = 52;

/// `VFIO_CCW_ASYNC_CMD_HSCH`: the command-region command for HALT SUBCHANNEL.
pub const ASYNC_CMD_HSCH: u32 = 1 << 0;
/// `VFIO_CCW_ASYNC_CMD_CSCH`: the command-region command for CLEAR SUBCHANNEL.
pub const ASYNC_CMD_CSCH: u32 = 1 << 1;

/// `VFIO_REGION_TYPE_CCW`: the region type of the device-specific regions.
pub const REGION_TYPE_CCW: u32 = vfio_bindings::bindings::vfio::VFIO_REGION_TYPE_CCW;

/// The interrupt subclass vfio-ccw enables host subchannels with
/// (`VFIO_CCW_ISC` = `IO_SCH_ISC` = 3).
pub const VFIO_CCW_ISC: u8 = 3;

/// Shift from a region index to its offset in the device file
/// (`VFIO_CCW_OFFSET_SHIFT`).
pub const OFFSET_SHIFT: u32 = 10;

/// Offset of region `index` in the device file (`VFIO_CCW_INDEX_TO_OFFSET`).
#[must_use]
pub const fn region_offset(index: u32) -> u64 {
    (index as u64) << OFFSET_SHIFT
}

/// The region an offset of the device file falls in
/// (`VFIO_CCW_OFFSET_TO_INDEX`).
#[must_use]
pub const fn offset_index(offset: u64) -> u64 {
    offset >> OFFSET_SHIFT
}

/// Subtypes of the device-specific regions (`VFIO_REGION_SUBTYPE_CCW_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum RegionSubtype {
    /// The asynchronous command region (HALT, CLEAR).
    AsyncCmd = vfio_bindings::bindings::vfio::VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD,
    /// The SCHIB region.
    Schib = vfio_bindings::bindings::vfio::VFIO_REGION_SUBTYPE_CCW_SCHIB,
    /// The CRW region.
    Crw = vfio_bindings::bindings::vfio::VFIO_REGION_SUBTYPE_CCW_CRW,
}

impl RegionSubtype {
    /// Every subtype, in region-index order.
    pub const ALL: [Self; 3] = [Self::AsyncCmd, Self::Schib, Self::Crw];

    /// The subtype of a `VFIO_REGION_INFO_CAP_TYPE` subtype field.
    #[must_use]
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::AsyncCmd),
            2 => Some(Self::Schib),
            3 => Some(Self::Crw),
            _ => None,
        }
    }

    /// The region index the Linux driver gives the region (regions are
    /// added in this order at open).
    #[must_use]
    pub const fn linux_index(self) -> u32 {
        self as u32
    }

    /// Size of the region's structure.
    #[must_use]
    pub const fn size(self) -> usize {
        match self {
            Self::AsyncCmd => CmdRegion::SIZE,
            Self::Schib => SchibRegion::SIZE,
            Self::Crw => CrwRegion::SIZE,
        }
    }
}

/// Index of the I/O region (`VFIO_CCW_CONFIG_REGION_INDEX`).
pub const CONFIG_REGION_INDEX: u32 = vfio_bindings::bindings::vfio::VFIO_CCW_CONFIG_REGION_INDEX;

/// The interrupt indexes of a vfio-ccw device (`VFIO_CCW_*_IRQ_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum IrqIndex {
    /// I/O interruption: an IRB is in the I/O region.
    Io = vfio_bindings::bindings::vfio::VFIO_CCW_IO_IRQ_INDEX,
    /// Channel reports are queued in the CRW region.
    Crw = vfio_bindings::bindings::vfio::VFIO_CCW_CRW_IRQ_INDEX,
    /// The host asks for the device back (removal request).
    Req = vfio_bindings::bindings::vfio::VFIO_CCW_REQ_IRQ_INDEX,
}

impl IrqIndex {
    /// Every index, in order.
    pub const ALL: [Self; 3] = [Self::Io, Self::Crw, Self::Req];
}

/// Number of interrupt indexes (`VFIO_CCW_NUM_IRQS`).
pub const NUM_IRQS: u32 = vfio_bindings::bindings::vfio::VFIO_CCW_NUM_IRQS;

/// `struct ccw_io_region` (packed, 124 bytes): the guest's ORB and SCSW go
/// in, the host's IRB and the request's return code come out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, packed)]
pub struct IoRegion {
    /// The ORB of a start function (architected, big-endian).
    pub orb_area: [u8; ORB_AREA_SIZE],
    /// The SCSW whose function control says which function is asked.
    pub scsw_area: [u8; SCSW_AREA_SIZE],
    /// The last IRB the host subchannel stored.
    pub irb_area: [u8; IRB_AREA_SIZE],
    /// 0 or a negative errno of the last request (host-endian).
    pub ret_code: u32,
}

/// `struct ccw_cmd_region` (packed, 8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C, packed)]
pub struct CmdRegion {
    /// [`ASYNC_CMD_HSCH`] or [`ASYNC_CMD_CSCH`] (host-endian).
    pub command: u32,
    /// 0 or a negative errno (host-endian).
    pub ret_code: u32,
}

/// `struct ccw_schib_region` (packed, 52 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, packed)]
pub struct SchibRegion {
    /// The host subchannel's SCHIB (architected, big-endian).
    pub schib_area: [u8; SCHIB_AREA_SIZE],
}

/// `struct ccw_crw_region` (packed, 8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C, packed)]
pub struct CrwRegion {
    /// One channel-report word, 0 when none is queued (host-endian).
    pub crw: u32,
    /// Padding.
    pub pad: u32,
}

// The kernel's layouts, checked at compile time.
const _: () = {
    assert!(std::mem::size_of::<IoRegion>() == 124);
    assert!(std::mem::offset_of!(IoRegion, orb_area) == 0);
    assert!(std::mem::offset_of!(IoRegion, scsw_area) == 12);
    assert!(std::mem::offset_of!(IoRegion, irb_area) == 24);
    assert!(std::mem::offset_of!(IoRegion, ret_code) == 120);
    assert!(std::mem::size_of::<CmdRegion>() == 8);
    assert!(std::mem::offset_of!(CmdRegion, command) == 0);
    assert!(std::mem::offset_of!(CmdRegion, ret_code) == 4);
    assert!(std::mem::size_of::<SchibRegion>() == 52);
    assert!(std::mem::offset_of!(SchibRegion, schib_area) == 0);
    assert!(std::mem::size_of::<CrwRegion>() == 8);
    assert!(std::mem::offset_of!(CrwRegion, crw) == 0);
    assert!(std::mem::offset_of!(CrwRegion, pad) == 4);
    assert!(IRB_AREA_SIZE == Irb::LEN);
    assert!(SCHIB_AREA_SIZE == Schib::LEN);
    assert!(SCSW_AREA_SIZE == Scsw::LEN);
    assert!(ORB_AREA_SIZE == Orb::BASIC_LEN);
    assert!(CONFIG_REGION_INDEX == 0);
    assert!(NUM_IRQS == 3);
    assert!(region_offset(3) == 3072);
};

impl Default for IoRegion {
    fn default() -> Self {
        Self {
            orb_area: [0; ORB_AREA_SIZE],
            scsw_area: [0; SCSW_AREA_SIZE],
            irb_area: [0; IRB_AREA_SIZE],
            ret_code: 0,
        }
    }
}

impl Default for SchibRegion {
    fn default() -> Self {
        Self {
            schib_area: [0; SCHIB_AREA_SIZE],
        }
    }
}

impl IoRegion {
    /// Size of the region.
    pub const SIZE: usize = 124;

    /// A start request for `orb`: the ORB, an SCSW whose function control
    /// is `scsw`'s, an empty IRB area and a zero return code (what QEMU
    /// writes, hw/vfio/ccw.c `vfio_ccw_handle_request`).
    #[must_use]
    pub fn request(orb: &Orb, scsw: &Scsw) -> Self {
        let (o, _) = orb.encode();
        let mut orb_area = [0u8; ORB_AREA_SIZE];
        orb_area.copy_from_slice(&o[..ORB_AREA_SIZE]);
        Self {
            orb_area,
            scsw_area: scsw.to_be_bytes(),
            ..Self::default()
        }
    }

    /// The ORB area decoded.
    #[must_use]
    pub fn orb(&self) -> Orb {
        let a = self.orb_area;
        Orb::decode(&a).unwrap_or_default()
    }

    /// The SCSW area decoded.
    #[must_use]
    pub fn scsw(&self) -> Scsw {
        Scsw::from_be_bytes(self.scsw_area)
    }

    /// The IRB area decoded.
    #[must_use]
    pub fn irb(&self) -> Irb {
        let a = self.irb_area;
        Irb::decode(&a).unwrap_or_default()
    }

    /// The return code as the kernel's `int` (0 or a negative errno).
    #[must_use]
    pub fn ret(&self) -> i32 {
        i32::from_ne_bytes(self.ret_code.to_ne_bytes())
    }

    /// Sets the return code from an `int`.
    pub fn set_ret(&mut self, r: i32) {
        self.ret_code = u32::from_ne_bytes(r.to_ne_bytes());
    }

    /// The region's bytes as a `pread`/`pwrite` moves them.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..12].copy_from_slice(&{ self.orb_area });
        b[12..24].copy_from_slice(&{ self.scsw_area });
        b[24..120].copy_from_slice(&{ self.irb_area });
        b[120..124].copy_from_slice(&{ self.ret_code }.to_ne_bytes());
        b
    }

    /// The region from its bytes.
    #[must_use]
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let mut r = Self::default();
        r.orb_area.copy_from_slice(&b[0..12]);
        r.scsw_area.copy_from_slice(&b[12..24]);
        r.irb_area.copy_from_slice(&b[24..120]);
        r.ret_code = u32::from_ne_bytes([b[120], b[121], b[122], b[123]]);
        r
    }
}

impl CmdRegion {
    /// Size of the region.
    pub const SIZE: usize = 8;

    /// The return code as the kernel's `int`.
    #[must_use]
    pub fn ret(&self) -> i32 {
        i32::from_ne_bytes({ self.ret_code }.to_ne_bytes())
    }

    /// The region's bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&{ self.command }.to_ne_bytes());
        b[4..8].copy_from_slice(&{ self.ret_code }.to_ne_bytes());
        b
    }

    /// The region from its bytes.
    #[must_use]
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        Self {
            command: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            ret_code: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

impl SchibRegion {
    /// Size of the region.
    pub const SIZE: usize = 52;

    /// The SCHIB decoded.
    #[must_use]
    pub fn schib(&self) -> Schib {
        Schib::from_be_bytes(&{ self.schib_area })
    }
}

impl CrwRegion {
    /// Size of the region.
    pub const SIZE: usize = 8;

    /// The region's bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&{ self.crw }.to_ne_bytes());
        b[4..8].copy_from_slice(&{ self.pad }.to_ne_bytes());
        b
    }

    /// The region from its bytes.
    #[must_use]
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        Self {
            crw: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            pad: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// A Linux errno as the vfio-ccw regions return it (the positive value;
/// the kernel stores and returns its negation). Values are the generic
/// Linux ones (`include/uapi/asm-generic/errno-base.h`, `errno.h`), which
/// s390 uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("errno {0} ({name})", name = self.name())]
pub struct Errno(pub i32);

impl Errno {
    /// I/O error.
    pub const EIO: Self = Self(5);
    /// Try again.
    pub const EAGAIN: Self = Self(11);
    /// Out of memory.
    pub const ENOMEM: Self = Self(12);
    /// Permission denied.
    pub const EACCES: Self = Self(13);
    /// Bad address.
    pub const EFAULT: Self = Self(14);
    /// Device or resource busy.
    pub const EBUSY: Self = Self(16);
    /// No such device.
    pub const ENODEV: Self = Self(19);
    /// Invalid argument.
    pub const EINVAL: Self = Self(22);
    /// Operation not supported.
    pub const EOPNOTSUPP: Self = Self(95);

    /// The symbolic name, or `"?"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self.0 {
            5 => "EIO",
            11 => "EAGAIN",
            12 => "ENOMEM",
            13 => "EACCES",
            14 => "EFAULT",
            16 => "EBUSY",
            19 => "ENODEV",
            22 => "EINVAL",
            95 => "EOPNOTSUPP",
            _ => "?",
        }
    }

    /// The kernel's return value (`-errno`).
    #[must_use]
    pub const fn ret(self) -> i32 {
        -self.0
    }

    /// The errno of a kernel return value; `None` for 0 or a positive value.
    #[must_use]
    pub const fn from_ret(r: i32) -> Option<Self> {
        if r < 0 {
            Some(Self(r.wrapping_neg()))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zcss_ccw::orb::OrbControls;
    use zcss_ccw::scsw::{FunctionControl, ScswControls};

    #[test]
    fn io_region_bytes_follow_the_kernel_layout() {
        let orb = Orb {
            intparm: 0x1122_3344,
            ctrl: OrbControls::new().with_format1(true).with_prefetch(true).with_lpm(0xff),
            cpa: 0x2000,
            ..Orb::default()
        };
        let scsw = Scsw {
            ctrl: ScswControls::new().with_fctl(FunctionControl::START),
            ..Scsw::default()
        };
        let mut r = IoRegion::request(&orb, &scsw);
        r.set_ret(Errno::EBUSY.ret());
        let b = r.to_bytes();
        assert_eq!(b[..4], [0x11, 0x22, 0x33, 0x44]);
        assert_eq!(b[8..12], [0, 0, 0x20, 0]);
        assert_eq!(b[12..16], 0x0000_4000u32.to_be_bytes());
        assert_eq!(b[120..], (-16i32).to_ne_bytes());
        let back = IoRegion::from_bytes(&b);
        assert_eq!(back, r);
        assert_eq!(back.orb(), orb);
        assert_eq!(back.scsw(), scsw);
        assert_eq!(back.ret(), -16);
    }

    #[test]
    fn cmd_and_crw_regions_roundtrip() {
        let c = CmdRegion {
            command: ASYNC_CMD_CSCH,
            ret_code: u32::from_ne_bytes((-19i32).to_ne_bytes()),
        };
        assert_eq!(CmdRegion::from_bytes(&c.to_bytes()), c);
        assert_eq!(c.ret(), -19);
        let w = CrwRegion {
            crw: 0x0442_0001,
            pad: 0,
        };
        assert_eq!(CrwRegion::from_bytes(&w.to_bytes()), w);
    }

    #[test]
    fn region_offsets_are_index_shifted_by_ten() {
        assert_eq!(region_offset(CONFIG_REGION_INDEX), 0);
        assert_eq!(region_offset(RegionSubtype::Schib.linux_index()), 2048);
        assert_eq!(offset_index(3072 + 7), 3);
    }

    #[test]
    fn subtypes_and_irq_indexes_have_kernel_values() {
        assert_eq!(RegionSubtype::from_u32(2), Some(RegionSubtype::Schib));
        assert_eq!(RegionSubtype::from_u32(4), None);
        assert_eq!(RegionSubtype::Crw.size(), 8);
        assert_eq!(IrqIndex::Req as u32, 2);
        assert_eq!(REGION_TYPE_CCW, 2);
    }

    #[test]
    fn errno_ret_roundtrips() {
        assert_eq!(Errno::from_ret(Errno::EOPNOTSUPP.ret()), Some(Errno::EOPNOTSUPP));
        assert_eq!(Errno::from_ret(0), None);
        assert_eq!(Errno::ENODEV.to_string(), "errno 19 (ENODEV)");
    }
}
