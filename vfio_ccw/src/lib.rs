//! # zcss-vfio-ccw — channel-subsystem passthrough through vfio-ccw
//!
//! A DASD (or any I/O subchannel) of an s390 host handed to a guest the way
//! Linux's vfio-ccw and QEMU's `vfio-ccw` device do it:
//!
//! * [`uapi`]: the vfio-ccw regions and interrupt indexes with the kernel's
//!   exact layouts;
//! * [`fsm`]: the vfio-ccw device state machine;
//! * [`host`]: the host backend trait; [`linux`]: the `/dev/vfio` backend.
#![deny(missing_docs)]

pub mod cp;
pub mod fsm;
pub mod host;
pub mod linux;
#[cfg(any(test, feature = "test-utils"))]
pub mod mock;
pub mod passthrough;
pub mod sim;
pub mod uapi;

pub use fsm::{Action, Event, State};
pub use host::{HostBackend, HostDevice, HostIrq, RegionReadError};
pub use passthrough::VfioCcw;
pub use uapi::{CmdRegion, CrwRegion, Errno, IoRegion, IrqIndex, RegionSubtype, SchibRegion};
