//! # zcss-vfio-ccw — channel-subsystem passthrough through vfio-ccw
//!
//! A device of an s390 host (a DASD, or any I/O subchannel) handed to a
//! guest the way Linux's vfio-ccw driver and QEMU's `vfio-ccw` device do
//! it, with a simulated host so the whole path runs without s390 hardware.
//!
//! ```text
//! guest SSCH ─▶ css (guest subchannel) ─▶ VfioCcw ─▶ HostBackend
//!                 ▲ IRB as the host stored it    │      ├─ LinuxHost: /dev/vfio, the kernel translates
//!                 └────── worker thread ◀────────┘      └─ SimHost: cp translation → host Css → device
//! ```
//!
//! * [`uapi`]: the vfio-ccw regions, interrupt indexes and errnos with the
//!   kernel's exact layouts; [`fsm`]: the driver's state machine.
//! * [`cp`]: channel-program translation as the kernel does it, with every
//!   fix through 2026, and back-translation of the CCW address.
//! * [`host`]: the [`HostBackend`] trait — what user space does with an
//!   open vfio-ccw device; [`linux`]: the `/dev/vfio` backend behind a
//!   narrow kernel interface ([`linux::VfioKernel`]) with a fake kernel for
//!   tests; [`sim`]: the simulated host (host css with real css images
//!   0–3, devices on host subchannels, the kernel's side).
//! * [`passthrough`]: [`VfioCcw`], the guest subchannel's device on the
//!   css's passthrough contract, mapping every host outcome as QEMU does.
//! * [`remap`]: css remapping — where the device appears in the guest.
//! * [`ipl`]: the load function through passthrough, in host programs as
//!   QEMU's s390-ccw BIOS runs it.
//!
//! Passthrough is transparent: through the simulated host a device
//! presents the guest-visible results of the same device emulated
//! directly, except that completion is asynchronous and for the classes
//! the kernel refuses (listed in the crate's README).
#![deny(missing_docs)]

pub mod cp;
pub mod fsm;
pub mod host;
pub mod ipl;
pub mod linux;
#[cfg(any(test, feature = "test-utils"))]
pub mod mock;
pub mod passthrough;
pub mod remap;
pub mod sim;
pub mod uapi;

pub use cp::{ChannelProgram, CpError};
pub use fsm::{Action, Event, State};
pub use host::{HostBackend, HostDevice, HostIrq, RegionReadError};
pub use passthrough::VfioCcw;
pub use remap::{Placement, RemapError};
pub use sim::{ChpEvent, SimBackend, SimError, SimHost};
pub use uapi::{CmdRegion, CrwRegion, Errno, IoRegion, IrqIndex, RegionSubtype, SchibRegion};
