//! # zcss-virtio-ccw — virtio over channel I/O
//!
//! The virtio proxy control unit (CU type 0x3832, model = virtio device id)
//! and virtio device back-ends behind a transport-agnostic trait
//! (virtio 1.x §4.3 "Virtio Over Channel I/O").
//!
//! - [`proxy`]: [`VirtioCcwDevice`], the control unit (channel commands,
//!   revisions 0–2, indicators, DIAG 0x500 notifications).
//! - [`device`]: the [`VirtioDevice`] trait back-ends implement.
//! - [`queue`]: split virtqueues in guest storage, both byte orders.
//! - [`blk`], [`rng`], [`console`]: back-ends.
//! - [`io_thread`]: [`IoThreadDevice`], queues processed on an I/O thread
//!   (asynchronous block I/O).
//! - [`commands`]: command codes and payload sizes.
//! - [`transfer`]: the data path of one command.
//! - `driver_model` (feature `test-utils`): the Linux guest driver's probe
//!   sequence and I/O over the public `Css` API.
//! - `fuzzing` (feature `arbitrary`): virtio-ccw channel programs for the
//!   `zcss_css::fuzz` harness, and the device with its stores checked.
//! - `mock` (feature `test-utils`): recording storage and sink, the
//!   hostile-guest harness used by the fuzz target.
#![deny(missing_docs)]

pub mod blk;
pub mod commands;
pub mod console;
pub mod device;
#[cfg(any(test, feature = "test-utils"))]
pub mod driver_model;
#[cfg(feature = "arbitrary")]
pub mod fuzzing;
pub mod io_thread;
#[cfg(any(test, feature = "test-utils"))]
pub mod mock;
pub mod proxy;
pub mod queue;
pub mod rng;
pub mod transfer;

pub use blk::{Block, BlockBackend};
pub use console::{Console, ConsoleInput, ConsoleSink};
pub use device::{VirtioDevice, VIRTIO_F_VERSION_1};
pub use io_thread::{IoIdle, IoThreadDevice};
pub use proxy::{AdapterIndicators, Indicators, VirtioCcwDevice, VirtioCcwState};
pub use queue::{Descriptor, DescriptorChain, Endian, QueueError, QueueState, SetupError, SplitQueue};
pub use rng::Rng;
pub use transfer::{BufferTransfer, StreamTransfer, Transfer};
