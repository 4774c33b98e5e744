//! # zcss-ccw — the bottom layer of zcss
//!
//! Architected channel-subsystem formats (CCW, ORB, SCSW, ESW, IRB, PMCW,
//! SCHIB, SENSE ID, CRW, IDAW, MIDAW, the subchannel-id word, the I/O
//! interruption code), guest addresses that carry their 24-, 31- or 64-bit
//! limit, guest storage with key-controlled protection, and the
//! channel-program [`Engine`] that runs a channel program for one
//! subchannel against a [`CcwDevice`].
//!
//! Every type cites the section of the z/Architecture Principles of
//! Operation (SA22-7832) it implements. Nothing here knows about
//! subchannels or devices beyond the [`CcwDevice`] trait.
//!
//! # Layers
//! Modules depend on each other in one direction only:
//!
//! 1. [`address`] — [`GuestAddr`] with its [`AddrLimit`], [`CcwAddress`];
//! 2. the formats ([`ccw`], [`idaw`], [`orb`], [`scsw`], [`status`], …);
//! 3. [`memory`] — [`GuestMemory`], [`VecMemory`];
//! 4. [`check`] — [`CheckCause`];
//! 5. [`idal`] — IDAL and MIDAL cursors, each word fetched once;
//! 6. [`walker`] — the one [`ProgramWalker`] over a channel program (CCW
//!    fetch, TIC rules, CCW checks, work bound), used by the data stream,
//!    the engine and channel-program translators alike;
//! 7. [`hooks`] — [`EngineHooks`], [`ProgramEnd`];
//! 8. [`datastream`] — the [`DataStream`] a device moves data through;
//! 9. [`device`] — the [`CcwDevice`] trait and [`DeviceResult`];
//! 10. [`engine`] — the [`Engine`].
#![deny(missing_docs)]

pub mod address;
pub mod ccw;
pub mod check;
pub mod crw;
pub mod datastream;
pub mod device;
pub mod engine;
pub mod esw;
pub mod fields;
#[cfg(feature = "arbitrary")]
pub mod generate;
pub mod hooks;
pub mod idal;
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
pub mod walker;

pub use address::{AddrLimit, CcwAddress, CcwAddressError, GuestAddr};
pub use ccw::{Ccw, Ccw0, Ccw1, CcwFlags, CcwFormat};
pub use check::CheckCause;
pub use crw::Crw;
pub use datastream::DataStream;
pub use device::{CcwDevice, DeviceResult, Sense};
pub use engine::{Completion, Ending, Engine};
pub use esw::{Ecw, Emw, Esw, ExtendedReportWord, SubchannelLogout};
pub use fields::{collect_fields, diff_fields, FieldDiff, FieldList};
pub use hooks::{EngineHooks, NoHooks, ProgramEnd};
pub use idal::{DataSegment, IdalCursor, MidalCursor};
pub use idaw::{Idaw1, Idaw2, IdawFormat, Midaw, MidawFlags};
pub use intcode::{InterruptionCode, InterruptionId};
pub use irb::Irb;
pub use memory::{AccessError, AccessKey, GuestMemory, GuestRange, StorageKey, VecMemory, VectoredAccessError};
pub use orb::{Orb, OrbControls, OrbError};
pub use pmcw::{Pmcw, PmcwChars, PmcwFlags, PmcwReserved};
pub use schib::Schib;
pub use scsw::{ActivityControl, FunctionControl, Scsw, ScswControls, StatusControl};
pub use senseid::{Ciw, SenseId};
pub use sid::{ParsedSid, SidError, SubchannelId, SubchannelIdWord};
pub use status::{DeviceStatus, SubchannelStatus};
pub use walker::{Chaining, Limits, ProgramControls, ProgramWalker, Tic, WalkCheck, WalkedCcw};
