//! # zcss-css — the channel subsystem
//!
//! css images, subchannel sets and subchannels; every I/O instruction;
//! I/O and adapter interruptions; channel reports; CHSC; channel measurement
//! (z/Architecture Principles of Operation, chapters 13–17).
//!
//! An embedder owns the CPUs and guest storage. When a guest executes an I/O
//! instruction, the embedder decodes its operands (or lets
//! [`intercept`] do it) and calls the [`Css`] method of the same name with
//! an [`IoCtx`] (guest storage, PSW key, problem state). The method returns
//! the condition code, or the program exception to present. Interruptions
//! that become pending are taken with [`Css::next_interrupt`] (or by the
//! guest's TPI); a waker tells the embedder when one arrives.
//!
//! ```
//! use zcss_ccw::sid::SubchannelId;
//! use zcss_ccw::{Ccw, CcwDevice, DataStream, DeviceResult, VecMemory};
//! use zcss_css::{Cc, Css, CssConfig, Device, DeviceInfo, IoCtx};
//!
//! /// A device that answers SENSE ID (control unit 0x3832 model 1) and
//! /// counts the programs it ran.
//! struct Probe {
//!     programs: u32,
//! }
//!
//! impl CcwDevice for Probe {
//!     fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
//!         self.programs += 1;
//!         match ccw.cmd {
//!             0xe4 => {
//!                 data.write(&[0xff, 0x38, 0x32, 0x01, 0, 0, 0, 0]);
//!                 DeviceResult::OK
//!             }
//!             _ => DeviceResult::COMMAND_REJECT,
//!         }
//!     }
//! }
//!
//! impl Device for Probe {
//!     fn info(&self) -> DeviceInfo {
//!         DeviceInfo::virtual_device(0x3832, 1)
//!     }
//! }
//!
//! let css = Css::new(CssConfig::default());
//! let sid = SubchannelId { cssid: 0xfe, ssid: 0, schno: 0 };
//! // Cold plug (no channel report); the handle reaches the device later.
//! let probe = css.attach_device(sid, 0x1234, Probe { programs: 0 }, false).unwrap();
//!
//! let mem = VecMemory::new(1 << 20);
//! let ctx = IoCtx::new(&mem);
//! let gr1 = 0x0001_0000; // subchannel 0 of set 0, default css
//! // Enable the subchannel on ISC 3: STSCH, set E and the ISC, MSCH.
//! assert_eq!(css.stsch(&ctx, gr1, 0x1000), Ok(Cc::Zero));
//! let mut w1 = mem.fetch(0x1004, 4).unwrap();
//! w1[0] |= 3 << 3;
//! w1[1] |= 0x80;
//! mem.store(0x1004, &w1).unwrap();
//! assert_eq!(css.msch(&ctx, gr1, 0x1000), Ok(Cc::Zero));
//! // SENSE ID (format-1 CCW at 0x2000, 256 bytes to 0x3000, SLI).
//! mem.store(0x2000, &[0xe4, 0x20, 0x01, 0x00, 0, 0, 0x30, 0]).unwrap();
//! // ORB: intparm, F (format 1) and LPM 0x80, channel-program address.
//! mem.store(0x1800, &[0xca, 0xfe, 0, 0, 0x00, 0x80, 0x80, 0x00, 0, 0, 0x20, 0]).unwrap();
//! assert_eq!(css.ssch(&ctx, gr1, 0x1800), Ok(Cc::Zero));
//! let code = css.next_interrupt(0xff).expect("an I/O interruption");
//! assert_eq!(code.intparm, 0xcafe_0000);
//! assert_eq!(css.tsch(&ctx, gr1, 0x4000), Ok(Cc::Zero));
//! assert_eq!(mem.fetch(0x3000, 4).unwrap(), [0xff, 0x38, 0x32, 0x01]);
//! assert_eq!(probe.with(|p| p.programs), Some(1));
//! ```
//!
//! ## Concurrency
//!
//! [`Css`] is `Send + Sync` and cheap to clone. Each subchannel has its own
//! state lock and its own device lock; there is no global lock on the
//! instruction path. Interruption requests go into per-thread shards of
//! per-ISC queues ([`interrupt`]): a CPU thread writes only its own shard,
//! so two CPUs doing I/O on one ISC do not share a cache line; within an
//! ISC, the requests one thread makes come in the order it made them, and
//! requests of different threads in the order of the monotonic clock. The
//! state lock is never held while the css calls into a
//! device. START SUBCHANNEL on an interpreted device ([`Device`]) runs the
//! channel program on the calling thread before it returns; HALT or CLEAR
//! SUBCHANNEL from another thread set a stop flag the engine polls between
//! CCWs, and the thread running the program completes the halt or clear.
//! A [`PassthroughDevice`] gets the whole program and reports the host
//! subchannel's status later through its [`PassthroughReply`], as often as
//! the host presents status; HALT, CLEAR and CANCEL are requests to it
//! whose host condition code is the guest's (see [`device`]).
//!
//! With an [`Observer`] registered (a trace recorder), the css serializes
//! what it reports: each instruction, interruption taken and host event
//! runs and is reported before the next one starts, whichever CPU thread
//! issues it, so a recording is one valid order of what happened (see
//! [`observer`]). Without one, nothing is serialized.
//!
//! ## Choices where the architecture leaves room or QEMU differs
//!
//! They are listed, with the reasons, in the repository's
//! `docs/css-choices.md`.
#![deny(missing_docs)]

pub mod adapter;
mod attach;
#[cfg(test)]
mod cc_matrix;
pub mod chsc;
pub mod crw_queue;
mod css;
mod css_ext;
mod ctx;
pub mod device;
mod error;
mod execute;
mod executor;
#[cfg(feature = "arbitrary")]
pub mod fuzz;
#[cfg(any(test, feature = "test-utils"))]
#[doc(hidden)]
pub mod fuzzing;
mod insn;
pub mod intercept;
pub mod interrupt;
pub mod ipl;
pub mod measurement;
#[cfg(any(test, feature = "test-utils"))]
pub mod mock;
pub mod observer;
mod passthrough;
mod pt_state;
mod slot;
pub mod snapshot;
mod subchannel;
mod table;

pub use css::{Css, CssConfig, DEFAULT_CSSID};
pub use ctx::IoCtx;
pub use device::{
    chpid_type, ChannelPaths, Device, DeviceHandle, DeviceInfo, InterruptSink, NotifyResult, PassthroughDevice,
    PassthroughError, PassthroughEvent, PassthroughReply, PathState, PathsError, SubchannelHandle,
};
pub use error::{Cc, CssError, InsnResult, ProgramCheck};
pub use execute::{gr_bits, Executed, DIAG500_EINVAL};
pub use interrupt::{InterruptionCode, Wake};
pub use ipl::IplOutcome;
pub use observer::{HostEvent, Insn, Observer, Outcome, StorageAccess};
pub use snapshot::{CssSnapshot, DeviceState, DeviceStateError, SnapshotError, SNAPSHOT_VERSION};
pub use zcss_ccw::sid::SubchannelId;
