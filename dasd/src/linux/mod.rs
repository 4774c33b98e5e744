//! A model of Linux's DASD stack driving a 3390 through a channel
//! subsystem: cio's device recognition and path grouping, `dasd_eckd`'s
//! characteristics check, volume analysis and block I/O, `dasdfmt` (full
//! mode: the kernel's format requests, then the labels and the empty VTOC)
//! and `fdasd -a` (one partition over the volume).
//!
//! Every operation is a real channel program, run the way the kernel runs
//! it: START SUBCHANNEL, the I/O interruption, TEST SUBCHANNEL — with
//! concurrent sense, or, on a subchannel without it, a BASIC SENSE after a
//! unit check as cio's `ccw_device_do_sense` issues it. The programs are
//! the ones Linux builds (`drivers/s390/block/dasd_eckd.c`:
//! `define_extent`, `locate_record`, `locate_record_ext`, `prefix_LRE`,
//! `dasd_eckd_analysis_ccw`, `dasd_eckd_build_format`,
//! `dasd_eckd_format_process_data`, `dasd_eckd_build_cp_cmd_single`,
//! `dasd_eckd_build_cp_cmd_track`; cio's `device_id.c` and
//! `device_pgid.c`; s390-tools `dasdfmt.c`, `fdasd.c` and `libvtoc`), as
//! `shared/spec/dasd-notes.md` §4 lists them.
//!
//! [`LinuxDasd`] runs its programs through a [`Channel`]: the instructions
//! of its subchannel and the guest storage it builds programs in.
//! [`CssChannel`] is a subchannel of a [`zcss_css::Css`] (give it a settle
//! hook for a device that completes asynchronously, and a recorder's CPU
//! storage to record the driver's stores). The driver is the engine of
//! `zcss dasd format`, the guest of the DASD example traces, and the guest
//! the passthrough transparency tests run on two channel subsystems at
//! once.
//!
//! Nothing here panics on what the device or the channel subsystem
//! answers: an answer Linux would treat as an error is a [`DriverError`].

mod block;
mod channel;
mod driver;
mod format;
mod online;
mod program;

pub use channel::{Channel, CssChannel, IO_TIMEOUT};
pub use driver::{DriverError, DriverResult, Layout, LinuxDasd, AREA_LEN, ISC};
pub use format::{DasdfmtOptions, DiskLayout, Intensity};
pub use program::{cmd, recs_per_track, LABEL_SIZE, SIZES_TRK0};
