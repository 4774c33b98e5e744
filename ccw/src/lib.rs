//! # zcss-ccw — the bottom layer of zcss
//!
//! Architected channel-subsystem formats (CCW, ORB, SCSW, ESW, IRB, PMCW,
//! SCHIB, SENSE ID, CRW, IDAW, MIDAW, the subchannel-id word, the I/O
//! interruption code), guest storage with key-controlled protection, and the
//! channel-program [`Engine`] that walks a channel program for one subchannel
//! against a [`CcwDevice`].
//!
//! Every type cites the section of the z/Architecture Principles of
//! Operation (SA22-7832) it implements. Nothing here knows about
//! subchannels or devices beyond the [`CcwDevice`] trait.
#![deny(missing_docs)]

pub mod ccw;
pub mod crw;
pub mod datastream;
pub mod device;
pub mod engine;
pub mod esw;
mod fetch;
pub mod fields;
pub mod idaw;
pub mod intcode;
pub mod irb;
pub mod memory;
#[cfg(any(test, feature = "test-utils"))]
pub mod mock;
pub mod orb;
pub mod pmcw;
pub mod schib;
pub mod scsw;
pub mod senseid;
pub mod sid;
pub mod status;
#[cfg(feature = "vm-memory")]
pub mod vm_memory;

pub use ccw::{Ccw, Ccw0, Ccw1, CcwFlags, CcwFormat};
pub use crw::Crw;
pub use datastream::DataStream;
pub use device::{CcwDevice, DeviceResult, ProgramEnd, Sense};
pub use engine::{Completion, Ending, Engine, EngineHooks, Limits, NoHooks};
pub use esw::{Ecw, Emw, Esw, ExtendedReportWord, SubchannelLogout};
pub use fields::{collect_fields, diff_fields, FieldDiff, FieldList};
pub use intcode::{InterruptionCode, InterruptionId};
pub use irb::Irb;
pub use memory::{AccessError, AccessKey, GuestMemory, StorageKey, VecMemory};
pub use orb::{Orb, OrbControls, OrbError};
pub use pmcw::{Pmcw, PmcwChars, PmcwFlags, PmcwReserved};
pub use schib::Schib;
pub use scsw::{ActivityControl, FunctionControl, Scsw, ScswControls, StatusControl};
pub use senseid::{Ciw, SenseId};
pub use sid::{ParsedSid, SidError, SubchannelId, SubchannelIdWord};
pub use status::{DeviceStatus, SubchannelStatus};
