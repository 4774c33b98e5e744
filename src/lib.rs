//! # zcss — an s390 channel-subsystem emulator
//!
//! Facade over the member crates: [`ccw`] (formats, guest storage, the
//! channel-program engine).
#![deny(missing_docs)]

pub use zcss_ccw as ccw;
