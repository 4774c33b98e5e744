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
//! use zcss_ccw::{AccessKey, VecMemory};
//! use zcss_css::mock::MockDevice;
//! use zcss_css::{Cc, Css, CssConfig, IoCtx};
//!
//! let css = Css::new(CssConfig::default());
//! let sid = SubchannelId { cssid: 0xfe, ssid: 0, schno: 0 };
//! css.attach_cold(sid, 0x1234, Box::new(MockDevice::new(0x3832, 1))).unwrap();
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
//! assert_eq!(mem.fetch(0x3000, 1).unwrap(), [0xff]);
//! ```
//!
//! ## Concurrency
//!
//! [`Css`] is `Send + Sync` and cheap to clone. Each subchannel has its own
//! state lock and its own device lock; there is no global lock on the
//! instruction path (the per-ISC interruption queues are the only shared
//! structure). The state lock is never held while the css calls into a
//! device. START SUBCHANNEL on an interpreted device ([`Device`]) runs the
//! channel program on the calling thread before it returns; HALT or CLEAR
//! SUBCHANNEL from another thread set a stop flag the engine polls between
//! CCWs, and the thread running the program completes the halt or clear.
//! A [`PassthroughDevice`] gets the whole program and completes it later
//! through its [`PassthroughReply`]; halt and clear overtake it.
//!
//! ## Choices where the architecture leaves room or QEMU differs
//!
//! * Provided subchannels: in each visible set, numbers 0 up to the highest
//!   one with a device. A number in that range without a device has a zero
//!   SCHIB (DNV = 0, cc 0 for STSCH and MSCH, cc 3 for the others); numbers
//!   above it are not provided (cc 3). This is what the guest's discovery
//!   loop (STSCH until cc 3) needs, and what QEMU does.
//! * "Not operational" (cc 3) for SSCH, TSCH, HSCH, CSCH, XSCH and RSCH:
//!   not provided, DNV = 0, or not enabled.
//! * GR1: bit 15 must be one and bits 8–11 zero, M = 0 requires CSSID 0
//!   (operand exception). M = 1 names a css image directly even before
//!   MCSS-E is enabled; an image the program cannot see answers cc 3 (as
//!   QEMU). css image 255 is reserved: it can hold no device.
//! * HSCH keeps the start function indicated next to halt (QEMU drops it).
//! * Alert status accompanies unit check, attention, any subchannel-detected
//!   check (program, protection, channel-data, channel-control,
//!   interface-control, chaining check), unsolicited status and deferred
//!   condition codes.
//! * A device presenting busy to the first command gives deferred cc 1.
//! * The initial-status request (ORB I) is honoured: the Z bit and
//!   intermediate status are presented with the final status of the same
//!   interruption, since an interpreted program ends before SSCH returns.
//! * Concurrent sense: the ERW sense count is in bits 10–15 (PoO and Linux
//!   layout; QEMU stores it elsewhere).
//! * The ESW TEST SUBCHANNEL stores: for a normal ending (and any ending
//!   without the checks below) the format-1 ESW, SCSW L = 0, word 0 = the
//!   LPUM in bits 8–15 alone (`0x00800000` for path `0x80`), as QEMU does
//!   and as the PoO's format-1 layout gives. After a channel-data,
//!   channel-control or interface-control check, SCSW L = 1 and the
//!   format-0 ESW's subchannel logout is `0x04804000`: extended-status flag
//!   CCW check (bit 5), LPUM (bits 8–15) and its field-validity flag (bit
//!   17), the value QEMU stores. Concurrent sense also sets L (the ERW in
//!   word 1 carries S and the count) with word 0 = the LPUM alone, as QEMU.
//! * The halt and clear functions set LPUM to the path the halt or clear
//!   signal went out on (the first installed, available and operational
//!   path: `0x80` for the single-path virtual devices), also on an idle
//!   subchannel; a halt that finds the start only pending signals no device
//!   and leaves LPUM alone.
//! * CHSC SCSC reports QEMU's general characteristics exactly (bits 6, 7,
//!   45, 46, 47, 48, 51, 108; no adapter-interruption bit 41) and QEMU's
//!   CHSC characteristics (bits 1, 109) plus bit 3, since zcss provides SSD
//!   ([`chsc::Characteristics::ZCSS`]).
//! * DIAGNOSE 0x500 subcode 0 (the retired s390-virtio notify) answers as
//!   QEMU: GR2 = 0 when GR2 is an address inside guest storage, −22
//!   (`EINVAL`) otherwise; subcode 4 gives the storage size − 1; subcodes
//!   other than 0, 3 and 4 are a specification exception.
//! * The invariant of the interruption queues: a subchannel has at most one
//!   queued I/O-interruption request, and it has one only while status
//!   pending. TPI or [`Css::next_interrupt`] takes the request but leaves
//!   the subchannel status pending until TEST SUBCHANNEL, as the
//!   architecture says.
#![deny(missing_docs)]

pub mod adapter;
#[cfg(test)]
mod cc_matrix;
pub mod chsc;
mod chsc_insn;
pub mod crw_queue;
mod csch;
mod css;
mod css_ext;
mod ctx;
pub mod device;
mod error;
mod execute;
#[cfg(any(test, feature = "test-utils"))]
#[doc(hidden)]
pub mod fuzzing;
mod hsch;
pub mod intercept;
pub mod interrupt;
pub mod measurement;
#[cfg(any(test, feature = "test-utils"))]
pub mod mock;
mod msch;
pub mod observer;
mod rchp;
mod rsch;
mod schm;
mod sic;
mod ssch;
mod stcrw;
mod stsch;
mod subchannel;
mod table;
mod tpi;
mod tsch;
mod xsch;

pub use css::{Css, CssConfig, DEFAULT_CSSID};
pub use ctx::IoCtx;
pub use device::{
    Device, DeviceInfo, InterruptSink, NotifyResult, PassthroughDevice, PassthroughDone, PassthroughError,
    PassthroughReply, SubchannelHandle,
};
pub use error::{Cc, CssError, InsnResult, ProgramCheck};
pub use execute::{gr_bits, Executed, DIAG500_EINVAL};
pub use interrupt::{InterruptionCode, Wake};
pub use observer::{Insn, Observer, Outcome, StorageAccess};
pub use zcss_ccw::sid::SubchannelId;
