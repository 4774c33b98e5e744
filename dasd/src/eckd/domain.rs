//! The state a 3990 keeps across one command chain: the defined extent
//! and file mask, whether a track address was given, and the Locate
//! Record domain with its count (IBM 3990 Storage Control Reference
//! GA32-0099 and SA22-1025, "Define Extent", "Locate Record Domain",
//! "Chaining and Restrictions" of each command).
//!
//! Rules enforced here:
//! * DEFINE EXTENT (or PREFIX) at most once per chain, never after SET
//!   FILE MASK or READ IPL, never inside a domain (command reject,
//!   message 2);
//! * LOCATE RECORD needs a DEFINE EXTENT, PREFIX or READ IPL earlier in the
//!   chain and opens a domain of `count` commands that must suit its
//!   operation (message 2 otherwise);
//! * a command that reads, writes or searches needs a track address given
//!   earlier in the chain (SEEK, LOCATE RECORD, READ IPL, RECALIBRATE);
//! * every track the device accesses lies inside the extent (file
//!   protected otherwise), so no write can leave it;
//! * a domain still open when the chain ends is an error of its last
//!   command (command reject with operation incomplete).

use crate::eckd::params::{DefineExtent, FileMask, LocateOp, Orientation};
use crate::eckd::sense::{Fault, RejectMsg};
use crate::track::TrackAddr;

/// Where the extent of the chain came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExtentSource {
    /// No extent: the whole volume, file mask as set (SET FILE MASK or
    /// the default `00`).
    #[default]
    None,
    /// DEFINE EXTENT.
    DefineExtent,
    /// PREFIX with its embedded DEFINE EXTENT.
    Prefix,
    /// READ IPL's implied extent (the whole volume).
    ReadIpl,
}

/// The kind of equal search the previous command made (the write
/// commands outside a domain need one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Searched {
    /// SEARCH ID EQUAL on all five bytes.
    Id,
    /// SEARCH KEY EQUAL on the whole key.
    Key,
    /// SEARCH HOME ADDRESS EQUAL on all four bytes.
    HomeAddress,
    /// A write that a following format write may continue (WRITE HA,
    /// WRITE R0, WRITE CKD).
    Written,
}

/// An open Locate Record domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Domain {
    /// The operation.
    pub op: LocateOp,
    /// The orientation it established.
    pub orientation: Orientation,
    /// Commands (records or tracks) still to come.
    pub left: u8,
    /// The transfer length factor in force (LR bytes 14–15, else the
    /// DEFINE EXTENT block size), if any.
    pub tlf: Option<u16>,
    /// The last command is a READ COUNT suffix.
    pub suffix: bool,
    /// Commands executed in the domain so far.
    pub done: u16,
    /// The update command of a write-data domain (WRITE UPDATE DATA and
    /// WRITE UPDATE KEY AND DATA do not mix).
    pub update: Option<bool>,
    /// Tracks of a trackset still to come (bit 15 = the next track).
    pub trackset: u16,
}

/// Whether `cmd` may be the next command of a domain.
fn suits(d: &Domain, cmd: u8) -> bool {
    let first = d.done == 0;
    let last = d.left == 1;
    let read_count = matches!(cmd, 0x12 | 0x92);
    if d.suffix && last {
        return read_count;
    }
    let plain_read = matches!(
        cmd,
        0x06 | 0x86 | 0x0e | 0x8e | 0x12 | 0x92 | 0x16 | 0x96 | 0x1a | 0x9a | 0x1e | 0x9e
    );
    match d.op {
        LocateOp::Orient => false,
        LocateOp::ReadData | LocateOp::Read => plain_read,
        LocateOp::ReadAny => matches!(cmd, 0x06 | 0x86 | 0x0e | 0x8e | 0x12 | 0x92 | 0x1e | 0x9e),
        LocateOp::WriteData => {
            let kd = matches!(cmd, 0x0d | 0x8d);
            let ok = if first && d.orientation == Orientation::Count {
                matches!(cmd, 0x05 | 0x85 | 0x0d | 0x8d)
            } else {
                matches!(cmd, 0x85 | 0x8d)
            };
            ok && d.update.is_none_or(|k| k == kd)
        }
        LocateOp::WriteAny => matches!(cmd, 0x05 | 0x85),
        LocateOp::FormatWrite => match cmd {
            0x15 => first && matches!(d.orientation, Orientation::HomeAddress | Orientation::Index),
            0x19 => first && d.orientation == Orientation::Index,
            0x1d | 0x9d => true,
            _ => false,
        },
        LocateOp::WriteTrack => match cmd {
            0x05 => first,
            0x1d | 0x11 => !first,
            _ => false,
        },
        LocateOp::ReadTracks => matches!(cmd, 0xde | 0xa6),
        LocateOp::ReadTrackset => cmd == 0xde,
        LocateOp::WriteTrackset => cmd == 0x95,
        LocateOp::WriteTrackData => cmd == 0xa5,
    }
}

/// The state of one command chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Chain {
    /// Commands executed in this chain.
    pub commands: u32,
    /// The previous command's code.
    pub prev: Option<u8>,
    /// The extent in force.
    pub extent: Option<DefineExtent>,
    /// Where it came from.
    pub source: ExtentSource,
    /// The file mask in force.
    pub mask: FileMask,
    /// SET FILE MASK was executed.
    pub mask_set: bool,
    /// A track address was given (seek, LR, READ IPL, recalibrate).
    pub positioned: bool,
    /// The open domain.
    pub domain: Option<Domain>,
    /// The equal search (or write) this command made (the next command
    /// sees it as [`Chain::enabling`]).
    pub searched: Option<Searched>,
    /// The equal search (or write) the previous command made.
    pub enabling: Option<Searched>,
    /// Index points passed by searches without a match on this track.
    pub index_passes: u8,
    /// The chain wrote to the volume.
    pub wrote: bool,
}

impl Chain {
    /// Whether `t` is inside the extent (the whole volume when none was
    /// defined).
    #[must_use]
    pub fn in_extent(&self, t: TrackAddr) -> bool {
        self.extent.is_none_or(|e| e.contains(t))
    }

    /// Checks that `t` may be accessed.
    ///
    /// # Errors
    /// [`Fault::FileProtected`] outside the extent.
    pub fn check_extent(&self, t: TrackAddr) -> Result<(), Fault> {
        if self.in_extent(t) {
            Ok(())
        } else {
            Err(Fault::FileProtected)
        }
    }

    /// A DEFINE EXTENT or PREFIX may come now.
    ///
    /// # Errors
    /// Command reject message 2: inside a domain, or after DEFINE EXTENT,
    /// PREFIX, SET FILE MASK or READ IPL.
    pub fn check_define_extent(&self) -> Result<(), Fault> {
        if self.domain.is_some() || self.source != ExtentSource::None || self.mask_set {
            Err(Fault::Reject(RejectMsg::InvalidSequence))
        } else {
            Ok(())
        }
    }

    /// Installs the extent of a DEFINE EXTENT, PREFIX or READ IPL; it
    /// resets orientation (the caller's cursor) and any search.
    pub fn set_extent(&mut self, de: DefineExtent, source: ExtentSource) {
        self.mask = de.mask;
        self.extent = Some(de);
        self.source = source;
    }

    /// A LOCATE RECORD may come now.
    ///
    /// # Errors
    /// Command reject message 2: inside a domain, or without an extent.
    pub fn check_locate(&self) -> Result<(), Fault> {
        if self.domain.is_some() || self.source == ExtentSource::None {
            Err(Fault::Reject(RejectMsg::InvalidSequence))
        } else {
            Ok(())
        }
    }

    /// Admits `cmd` into the open domain (if any) and counts it.
    ///
    /// # Errors
    /// Command reject message 2 when it does not suit the domain.
    pub fn admit(&mut self, cmd: u8) -> Result<(), Fault> {
        let Some(d) = self.domain.as_mut() else {
            return Ok(());
        };
        if !suits(d, cmd) {
            return Err(Fault::Reject(RejectMsg::InvalidSequence));
        }
        if d.op == LocateOp::WriteData && matches!(cmd, 0x05 | 0x85 | 0x0d | 0x8d) {
            d.update = Some(matches!(cmd, 0x0d | 0x8d));
        }
        d.done = d.done.saturating_add(1);
        d.left = d.left.saturating_sub(1);
        Ok(())
    }

    /// Closes the domain when its count is used up (after the command
    /// that used the last of it ended).
    pub fn settle(&mut self) {
        if self.domain.is_some_and(|d| d.left == 0) {
            self.domain = None;
        }
    }

    /// The domain's count not yet processed, for imprecise-end sense.
    #[must_use]
    pub fn residual(&self) -> Option<u8> {
        self.domain.map(|d| d.left)
    }

    /// Whether a command outside a domain may write after the previous
    /// command: `need` lists the searches (or writes) that enable it.
    #[must_use]
    pub fn enabled_by(&self, need: &[Searched]) -> bool {
        self.enabling.is_some_and(|s| need.contains(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(op: LocateOp, orientation: Orientation, count: u8, suffix: bool) -> Chain {
        Chain {
            source: ExtentSource::DefineExtent,
            domain: Some(Domain {
                op,
                orientation,
                left: count,
                tlf: None,
                suffix,
                done: 0,
                update: None,
                trackset: 0,
            }),
            ..Chain::default()
        }
    }

    #[test]
    fn read_domain_admits_reads_and_closes_after_count() {
        let mut c = domain(LocateOp::ReadData, Orientation::Count, 2, false);
        assert_eq!(c.admit(0x86), Ok(()));
        c.settle();
        assert!(c.domain.is_some());
        assert_eq!(c.admit(0x12), Ok(()));
        c.settle();
        assert!(c.domain.is_none());
    }

    #[test]
    fn read_domain_rejects_nop_write_and_read_track() {
        for cmd in [0x03, 0x05, 0xde, 0x5e, 0x02, 0x47] {
            let mut c = domain(LocateOp::ReadData, Orientation::Count, 2, false);
            assert_eq!(c.admit(cmd), Err(Fault::Reject(RejectMsg::InvalidSequence)), "{cmd:#x}");
        }
    }

    #[test]
    fn write_domain_does_not_mix_update_kinds() {
        let mut c = domain(LocateOp::WriteData, Orientation::Count, 3, false);
        assert_eq!(c.admit(0x85), Ok(()));
        assert_eq!(c.admit(0x8d), Err(Fault::Reject(RejectMsg::InvalidSequence)));
        assert_eq!(c.admit(0x05), Err(Fault::Reject(RejectMsg::InvalidSequence)));
        assert_eq!(c.admit(0x85), Ok(()));
    }

    #[test]
    fn suffix_domain_ends_with_read_count() {
        let mut c = domain(LocateOp::WriteData, Orientation::Count, 2, true);
        assert_eq!(c.admit(0x85), Ok(()));
        assert_eq!(c.admit(0x85), Err(Fault::Reject(RejectMsg::InvalidSequence)));
        assert_eq!(c.admit(0x92), Ok(()));
    }

    #[test]
    fn format_domain_takes_r0_only_first_with_ha_orientation() {
        let mut c = domain(LocateOp::FormatWrite, Orientation::HomeAddress, 3, false);
        assert_eq!(c.admit(0x15), Ok(()));
        assert_eq!(c.admit(0x15), Err(Fault::Reject(RejectMsg::InvalidSequence)));
        assert_eq!(c.admit(0x1d), Ok(()));
        let mut c = domain(LocateOp::FormatWrite, Orientation::Count, 3, false);
        assert_eq!(c.admit(0x15), Err(Fault::Reject(RejectMsg::InvalidSequence)));
    }

    #[test]
    fn define_extent_twice_or_after_set_file_mask_is_rejected() {
        let c = Chain {
            source: ExtentSource::DefineExtent,
            ..Chain::default()
        };
        assert!(c.check_define_extent().is_err());
        let c = Chain {
            mask_set: true,
            ..Chain::default()
        };
        assert!(c.check_define_extent().is_err());
        assert!(Chain::default().check_define_extent().is_ok());
        assert!(Chain::default().check_locate().is_err());
    }
}
