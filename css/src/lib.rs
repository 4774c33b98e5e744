//! # zcss-css — the channel subsystem
//!
//! css images, subchannel sets and subchannels; every I/O instruction;
//! I/O and adapter interruptions; channel reports; CHSC; channel measurement.
#![deny(missing_docs)]

pub mod device;

pub use device::{Device, DeviceInfo, InterruptSink, NotifyResult, SubchannelHandle};
