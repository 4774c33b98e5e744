//! # zcss — an s390 channel-subsystem emulator
//!
//! Facade over the member crates — [`ccw`] (formats, guest storage, the
//! channel-program engine), [`css`] (the channel subsystem and its I/O
//! instructions), [`virtio_ccw`] (virtio devices on channel I/O), [`dasd`]
//! (the 3390/3990 DASD and its volumes) and [`vfio_ccw`] (DASD passthrough
//! and the simulated host) — plus the machine a trace describes
//! ([`machine`]), the trace format ([`trace`]: parse, print, replay and
//! record `.zct` files). The model of Linux's DASD driver that `zcss dasd
//! format` runs is [`dasd::linux`].
#![deny(missing_docs)]

pub use zcss_ccw as ccw;
pub use zcss_css as css;
pub use zcss_dasd as dasd;
pub use zcss_vfio_ccw as vfio_ccw;
pub use zcss_virtio_ccw as virtio_ccw;

pub mod decode;
pub mod fuzz_replay;
pub mod machine;
pub mod trace;

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
