//! Where the device stands and how a program moves it: the seek family,
//! SET FILE MASK, SET and READ SECTOR, the searches, and DEFINE EXTENT,
//! LOCATE RECORD (EXTENDED) and PREFIX (IBM 3990 Storage Control Reference
//! GA32-0099 and SA22-1025, "Track Accessing", "Track Orientation",
//! "Seek", "Search", "Locate Record Operations", "Prefix").
//!
//! Orientation is what the storage control knows of the area that just
//! passed under the head: nothing (after a seek), the index point, the
//! home address, or the count, key or data area of a record. The
//! [`Cursor`] keeps it together with the offset of that record in the
//! track image, so that the next command finds its record without a
//! walk from the start of the track.

use zcss_ccw::DataStream;

use crate::eckd::domain::{Domain, ExtentSource, Searched};
use crate::eckd::params::{
    track_of, DefineExtent, FileMask, Locate, LocateOp, Orientation, PrefixFormat, PrefixHeader, SeekControl,
    MAX_BLOCK_SIZE,
};
use crate::eckd::sense::{Fault, RejectMsg};
use crate::eckd::{give, reject, take, Dasd, Done, Halt, Outcome};
use crate::geometry::{self, ControlUnit, HEADS};
use crate::track::{Count, Record, Records, TrackAddr, COUNT_LEN, END_MARKER, HA_LEN};

/// The area that last passed under the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Orient {
    /// Not oriented (start of a chain, after a seek or DEFINE EXTENT).
    #[default]
    None,
    /// At the index point.
    Index,
    /// After the home address.
    HomeAddress,
    /// After the count area of the record at [`Cursor::off`].
    Count,
    /// After its key area.
    Key,
    /// After its data area.
    Data,
}

/// The device's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// The track the heads are on.
    pub track: TrackAddr,
    /// The orientation.
    pub orient: Orient,
    /// Offset in the track image of the record the orientation refers to.
    pub off: usize,
}

impl Default for Cursor {
    fn default() -> Self {
        Self {
            track: TrackAddr::new(0, 0),
            orient: Orient::None,
            off: 0,
        }
    }
}

impl Cursor {
    /// Forgets the orientation (the track stays).
    pub fn reset_orientation(&mut self) {
        self.orient = Orient::None;
    }

    /// Oriented after `area` of the record `r`.
    pub fn at(&mut self, area: Orient, r: &Record) {
        self.orient = area;
        self.off = r.offset;
    }
}

/// What lies at an offset of a track image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// A complete record.
    Rec(Record),
    /// The end-of-track marker.
    End,
    /// Bytes that are not a record (a damaged image).
    Bad,
}

/// The record (or end marker) at `off` of `img`.
#[inline]
#[must_use]
pub fn record_at(img: &[u8], off: usize) -> At {
    let Some(raw) = img.get(off..off.saturating_add(COUNT_LEN)) else {
        return At::Bad;
    };
    if raw == END_MARKER {
        return At::End;
    }
    let mut b = [0u8; COUNT_LEN];
    b.copy_from_slice(raw);
    let r = Record {
        offset: off,
        count: Count::from_bytes(b),
    };
    if r.end().saturating_add(COUNT_LEN) > img.len() {
        At::Bad
    } else {
        At::Rec(r)
    }
}

/// The record after `r`.
#[inline]
fn after(img: &[u8], r: &Record) -> At {
    record_at(img, r.end())
}

/// The record `at` names, or the fault for a damaged image or the end of
/// the track.
fn rec(at: At) -> Result<Record, Fault> {
    match at {
        At::Rec(r) => Ok(r),
        At::End => Err(Fault::NoRecordFound),
        At::Bad => Err(Fault::DataCheck),
    }
}

/// Which of the three compare conditions a search command asks for (bits
/// 1–2 of its code: `01` equal, `10` high, `11` equal or high).
fn compare(cmd: u8, field: &[u8], arg: &[u8]) -> bool {
    match (cmd >> 5) & 3 {
        1 => field == arg,
        2 => field > arg,
        _ => field >= arg,
    }
}

impl Dasd {
    /// The image of the current track.
    #[inline]
    pub(crate) fn img(&mut self) -> Result<&[u8], Fault> {
        self.vol.track(self.cur.track)
    }

    /// Goes to track `t`, oriented to nothing yet beyond the index.
    pub(crate) fn move_to(&mut self, t: TrackAddr) {
        self.cur = Cursor {
            track: t,
            orient: Orient::Index,
            off: 0,
        };
        self.chain.index_passes = 0;
    }

    /// The record the orientation leaves next, R0 included.
    pub(crate) fn following(&mut self) -> Result<At, Fault> {
        let (orient, off) = (self.cur.orient, self.cur.off);
        let img = self.img()?;
        Ok(match orient {
            Orient::None | Orient::Index | Orient::HomeAddress => record_at(img, HA_LEN),
            Orient::Count | Orient::Key | Orient::Data => match record_at(img, off) {
                At::Rec(r) => after(img, &r),
                other => other,
            },
        })
    }

    /// The first user record (R1…) of the current track.
    pub(crate) fn first_user(&mut self) -> Result<At, Fault> {
        let img = self.img()?;
        Ok(match record_at(img, HA_LEN) {
            At::Rec(r0) => after(img, &r0),
            other => other,
        })
    }

    /// The next user record for a read or write command: past index to
    /// the first user record of the same track (`mt` false), or of the
    /// next track (`mt` true).
    pub(crate) fn next_user(&mut self, mt: bool) -> Result<Record, Fault> {
        let mut at = self.following()?;
        if let At::Rec(r) = at {
            if r.offset == HA_LEN {
                let img = self.img()?;
                at = after(img, &r);
            }
        }
        match at {
            At::Rec(r) => Ok(r),
            At::Bad => Err(Fault::DataCheck),
            At::End => {
                if mt {
                    self.switch_track()?;
                }
                rec(self.first_user()?)
            }
        }
    }

    /// The record a data command works on: the one whose count (or key)
    /// just passed, else the next user record.
    pub(crate) fn current_or_next_user(&mut self, mt: bool) -> Result<Record, Fault> {
        if matches!(self.cur.orient, Orient::Count | Orient::Key) {
            let off = self.cur.off;
            let img = self.img()?;
            return match record_at(img, off) {
                At::Rec(r) => Ok(r),
                _ => Err(Fault::DataCheck),
            };
        }
        self.next_user(mt)
    }

    /// Moves to the next track for a multitrack operation. Inside a Locate
    /// Record domain the device follows the extent across cylinders
    /// (unless DEFINE EXTENT asked for CKD conversion mode); outside, the
    /// file mask must allow multitrack operations and the cylinder ends
    /// the operation.
    ///
    /// # Errors
    /// File protected (outside the extent or forbidden by the mask), end
    /// of cylinder.
    pub(crate) fn switch_track(&mut self) -> Result<(), Fault> {
        let cur = self.cur.track;
        let next = cur.next();
        let cyls = self.vol.cylinders();
        let in_domain = self.chain.domain.is_some();
        let ckd = self.chain.extent.is_some_and(|e| e.ckd_conversion());
        let exists = next.cyl < cyls;
        if !in_domain && !self.chain.mask.allows_multitrack() {
            return Err(Fault::FileProtected);
        }
        if (!in_domain || ckd) && next.cyl != cur.cyl {
            return Err(if exists && self.chain.in_extent(next) {
                Fault::EndOfCylinder
            } else {
                Fault::FileProtected
            });
        }
        if !exists || !self.chain.in_extent(next) {
            return Err(Fault::FileProtected);
        }
        self.move_to(next);
        Ok(())
    }

    /// Finds the record whose identifier is `id` on the current track.
    ///
    /// # Errors
    /// No record found, or a damaged image.
    pub(crate) fn find_id(&mut self, id: &[u8; 5]) -> Result<Record, Fault> {
        let img = self.img()?;
        for r in Records::new(img) {
            let r = r.map_err(|_| Fault::DataCheck)?;
            if r.count.cchhr() == *id {
                return Ok(r);
            }
        }
        Err(Fault::NoRecordFound)
    }

    /// The commands that need a track address given earlier in the chain.
    pub(crate) fn need_position(&self) -> Result<(), Fault> {
        if self.chain.positioned {
            Ok(())
        } else {
            Err(Fault::Reject(RejectMsg::InvalidSequence))
        }
    }

    /// SEEK, SEEK CYLINDER, SEEK HEAD: six bytes `00 00 CC CC HH HH`.
    pub(crate) fn seek(&mut self, cmd: u8, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(cmd)?;
        let mut b = [0u8; 6];
        take(data, &mut b)?;
        let invalid = Halt::Fault(Fault::Reject(RejectMsg::InvalidParameter));
        if b[0] != 0 || b[1] != 0 {
            return Err(invalid);
        }
        let t = if cmd == 0x1b {
            if !self.chain.positioned {
                return Err(Fault::Reject(RejectMsg::InvalidSequence).into());
            }
            let head = u32::from(u16::from_be_bytes([b[4], b[5]]));
            if head >= HEADS {
                return Err(invalid);
            }
            TrackAddr::new(self.cur.track.cyl, head)
        } else {
            track_of([b[2], b[3], b[4], b[5]], self.vol.cylinders()).ok_or(invalid)?
        };
        let allowed = match self.chain.mask.seek_control() {
            SeekControl::All => true,
            SeekControl::CylinderAndHead => cmd != 0x07,
            SeekControl::HeadOnly => cmd == 0x1b,
            SeekControl::None => false,
        };
        if !allowed {
            return Err(Fault::FileProtected.into());
        }
        self.chain.check_extent(t)?;
        self.move_to(t);
        self.cur.orient = Orient::None;
        self.chain.positioned = true;
        Ok(Done::Ok)
    }

    /// RECALIBRATE: a seek to cylinder 0, head 0.
    pub(crate) fn recalibrate(&mut self) -> Outcome {
        self.chain.admit(0x13)?;
        if self.chain.mask.seek_control() != SeekControl::All {
            return Err(Fault::FileProtected.into());
        }
        let t = TrackAddr::new(0, 0);
        self.chain.check_extent(t)?;
        self.move_to(t);
        self.cur.orient = Orient::None;
        self.chain.positioned = true;
        Ok(Done::Ok)
    }

    /// SET FILE MASK: the mask byte of DEFINE EXTENT, for programs without
    /// one.
    pub(crate) fn set_file_mask(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(0x1f)?;
        if self.chain.source != ExtentSource::None {
            return Err(Fault::Reject(RejectMsg::InvalidSequence).into());
        }
        let mut b = [0u8; 1];
        take(data, &mut b)?;
        self.chain.mask = FileMask::parse(b[0]).map_err(reject)?;
        self.chain.mask_set = true;
        Ok(Done::Ok)
    }

    /// SET SECTOR: one byte (0–223, or `FF`); the device is then oriented
    /// at the start of the track's records.
    pub(crate) fn set_sector(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(0x23)?;
        self.need_position()?;
        let mut b = [0u8; 1];
        take(data, &mut b)?;
        if b[0] >= geometry::SECTORS && b[0] != 0xff {
            return Err(Fault::Reject(RejectMsg::InvalidParameter).into());
        }
        self.cur.orient = Orient::Index;
        Ok(Done::Ok)
    }

    /// READ SECTOR: the sector where the current record begins (from the
    /// cells before it, the 3390's 224 sectors spread over the track).
    pub(crate) fn read_sector(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(0x22)?;
        self.need_position()?;
        let sector = self.sector_here()?;
        give(data, &[sector])?;
        Ok(Done::Ok)
    }

    fn sector_here(&mut self) -> Result<u8, Fault> {
        let (orient, off) = (self.cur.orient, self.cur.off);
        if !matches!(orient, Orient::Count | Orient::Key | Orient::Data) {
            return Ok(0);
        }
        let img = self.img()?;
        let mut cells = 0u32;
        for (i, r) in Records::new(img).enumerate() {
            let r = r.map_err(|_| Fault::DataCheck)?;
            if r.offset >= off {
                break;
            }
            cells += if i == 0 {
                geometry::r0_extra_cells(r.count.kl, r.count.dl)
            } else {
                geometry::record_cells(r.count.kl, r.count.dl)
            };
        }
        let bytes = u32::from(geometry::HA_R0_OVERHEAD) + 34 * cells;
        let s = bytes * u32::from(geometry::SECTORS) / geometry::TRACK_LEN;
        Ok(u8::try_from(s.min(u32::from(geometry::SECTORS) - 1)).unwrap_or(0))
    }

    /// Advances past the end of the track for a search: to the next track
    /// (multitrack), or past the index of the same one, where the second
    /// index point without a match ends the search.
    fn search_wrap(&mut self, mt: bool) -> Result<(), Fault> {
        if mt {
            return self.switch_track();
        }
        self.chain.index_passes = self.chain.index_passes.saturating_add(1);
        if self.chain.index_passes >= 2 {
            return Err(Fault::NoRecordFound);
        }
        self.cur.orient = Orient::Index;
        Ok(())
    }

    /// SEARCH ID EQUAL / HIGH / EQUAL OR HIGH: compares up to five bytes
    /// with the identifier (CCHHR) of the next count area, R0 included;
    /// a match ends with status modifier so that the channel skips the
    /// TIC that loops back to the search.
    pub(crate) fn search_id(&mut self, cmd: u8, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(cmd)?;
        self.need_position()?;
        let mt = cmd & 0x80 != 0;
        let mut arg = [0u8; 5];
        let n = data.read(&mut arg);
        if data.failed() {
            return Err(Halt::Channel);
        }
        let r = loop {
            match self.following()? {
                At::Rec(r) => break r,
                At::Bad => return Err(Fault::DataCheck.into()),
                At::End => self.search_wrap(mt)?,
            }
        };
        self.cur.at(Orient::Count, &r);
        let id = r.count.cchhr();
        if compare(cmd, &id[..n], &arg[..n]) {
            if cmd & 0x60 == 0x20 && n == 5 {
                self.chain.searched = Some(Searched::Id);
            }
            self.chain.index_passes = 0;
            Ok(Done::Modifier)
        } else {
            Ok(Done::Ok)
        }
    }

    /// SEARCH KEY EQUAL / HIGH / EQUAL OR HIGH: compares the argument with
    /// the key of the next user record (a record without a key never
    /// matches).
    pub(crate) fn search_key(&mut self, cmd: u8, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(cmd)?;
        self.need_position()?;
        let mt = cmd & 0x80 != 0;
        let want = usize::from(data.residual()).min(255);
        let n = data.read(&mut self.scratch[..want]);
        if data.failed() {
            return Err(Halt::Channel);
        }
        let r = loop {
            let mut at = self.following()?;
            if let At::Rec(r) = at {
                if r.offset == HA_LEN {
                    let img = self.img()?;
                    at = after(img, &r);
                }
            }
            match at {
                At::Rec(r) => break r,
                At::Bad => return Err(Fault::DataCheck.into()),
                At::End => self.search_wrap(mt)?,
            }
        };
        self.cur.at(Orient::Key, &r);
        let kl = usize::from(r.count.kl);
        let m = n.min(kl);
        let track = self.cur.track;
        let img = self.vol.track(track)?;
        let key = &img[r.key_offset()..r.key_offset() + m];
        let hit = kl > 0 && compare(cmd, key, &self.scratch[..m]);
        if hit {
            if cmd & 0x60 == 0x20 && n == kl {
                self.chain.searched = Some(Searched::Key);
            }
            self.chain.index_passes = 0;
            Ok(Done::Modifier)
        } else {
            Ok(Done::Ok)
        }
    }

    /// SEARCH HOME ADDRESS EQUAL: compares up to four bytes with the track's
    /// CCHH (on the next track for the multitrack form).
    pub(crate) fn search_ha(&mut self, mt: bool, data: &mut DataStream<'_>) -> Outcome {
        let cmd = if mt { 0xb9 } else { 0x39 };
        self.chain.admit(cmd)?;
        self.need_position()?;
        let mut arg = [0u8; 4];
        let n = data.read(&mut arg);
        if data.failed() {
            return Err(Halt::Channel);
        }
        if mt {
            self.switch_track()?;
        }
        self.cur.orient = Orient::HomeAddress;
        self.cur.off = 0;
        let img = self.img()?;
        let ha = img.get(1..HA_LEN).ok_or(Fault::DataCheck)?;
        if ha[..n] == arg[..n] {
            if n == 4 {
                self.chain.searched = Some(Searched::HomeAddress);
            }
            Ok(Done::Modifier)
        } else {
            Ok(Done::Ok)
        }
    }

    /// DEFINE EXTENT.
    pub(crate) fn define_extent(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.chain.check_define_extent()?;
        let mut b = [0u8; DefineExtent::LEN];
        take(data, &mut b)?;
        if DefineExtent::wants_extension(&b) {
            let mut ext = [0u8; DefineExtent::LEN];
            take(data, &mut ext)?;
        }
        let de = DefineExtent::parse(&b, self.vol.cylinders()).map_err(reject)?;
        self.chain.set_extent(de, ExtentSource::DefineExtent);
        self.cur.reset_orientation();
        Ok(Done::Ok)
    }

    /// LOCATE RECORD.
    pub(crate) fn locate_record(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.chain.check_locate()?;
        let mut b = [0u8; Locate::LR_LEN];
        take(data, &mut b)?;
        let l = Locate::parse_lr(&b, self.vol.cylinders()).map_err(reject)?;
        self.locate(&l)
    }

    /// LOCATE RECORD EXTENDED (storage controls 3990-3 and 3990-6).
    pub(crate) fn locate_record_extended(&mut self, data: &mut DataStream<'_>) -> Outcome {
        if !self.cfg.cu.extended() {
            return Err(Fault::Reject(RejectMsg::InvalidCommand).into());
        }
        self.chain.check_locate()?;
        let l = self.take_lre(data)?;
        self.locate(&l)
    }

    fn take_lre(&mut self, data: &mut DataStream<'_>) -> Result<Locate, Halt> {
        let mut b = [0u8; Locate::LRE_LEN];
        take(data, &mut b)?;
        let n = Locate::lre_ext_len(&b).map_err(reject)?;
        let mut ext = [0u8; 2];
        take(data, &mut ext[..n])?;
        Locate::parse_lre(&b, &ext[..n], self.vol.cylinders()).map_err(reject)
    }

    /// PREFIX (3990-6): 64 bytes — a 12-byte header, the 32-byte DEFINE
    /// EXTENT parameters and, in format 1, the LOCATE RECORD EXTENDED
    /// parameters with their extended parameters after them.
    pub(crate) fn prefix(&mut self, data: &mut DataStream<'_>) -> Outcome {
        if self.cfg.cu != ControlUnit::Model6 {
            return Err(Fault::Reject(RejectMsg::InvalidCommand).into());
        }
        self.chain.check_define_extent()?;
        let mut h = [0u8; PrefixHeader::LEN];
        take(data, &mut h)?;
        let hdr = PrefixHeader::parse(&h, self.cfg.unit_address, self.cfg.lss).map_err(reject)?;
        let mut de = [0u8; PrefixHeader::DE_LEN];
        take(data, &mut de)?;
        let mut basic = [0u8; DefineExtent::LEN];
        basic.copy_from_slice(&de[..DefineExtent::LEN]);
        let dx = DefineExtent::parse(&basic, self.vol.cylinders()).map_err(reject)?;
        let l = match hdr.format {
            PrefixFormat::WithLocate => Some(self.take_lre(data)?),
            PrefixFormat::DefineExtent => {
                let mut unused = [0u8; Locate::LRE_LEN];
                take(data, &mut unused)?;
                None
            }
        };
        self.chain.set_extent(dx, ExtentSource::Prefix);
        self.cur.reset_orientation();
        match l {
            Some(l) => self.locate(&l),
            None => Ok(Done::Ok),
        }
    }

    /// Performs a validated LOCATE RECORD: file-mask and transfer-length
    /// checks, extent check of every track of the domain, the seek, the
    /// search, the orientation, and the domain.
    fn locate(&mut self, l: &Locate) -> Outcome {
        let de = self.chain.extent.ok_or(Fault::Reject(RejectMsg::InvalidSequence))?;
        let mask = self.chain.mask;
        let writes_r0 = l.op == LocateOp::FormatWrite && l.orientation != Orientation::Count;
        if (l.op.writes() && !mask.allows_update())
            || (l.op.formats() && !mask.allows_format())
            || (writes_r0 && !mask.allows_ha_r0())
        {
            return Err(Fault::Reject(RejectMsg::InvalidSequence).into());
        }
        let limit = if de.block_size == 0 {
            MAX_BLOCK_SIZE
        } else {
            de.block_size
        };
        let tlf = match l.tlf {
            Some(t) if t > limit => return Err(Fault::Reject(RejectMsg::InvalidParameter).into()),
            Some(t) => Some(t),
            None => (de.block_size != 0).then_some(de.block_size),
        };
        self.chain.check_extent(l.seek)?;
        if l.op.counts_tracks() {
            let span = if l.trackset != 0 {
                15 - l.trackset.trailing_zeros()
            } else {
                u32::from(l.count) - 1
            };
            let last = TrackAddr::from_index(l.seek.index() + u64::from(span));
            if last.cyl >= self.vol.cylinders() || !self.chain.in_extent(last) {
                return Err(Fault::FileProtected.into());
            }
        }
        self.move_to(l.seek);
        self.chain.positioned = true;
        if l.op.no_search() {
            self.cur.orient = Orient::HomeAddress;
            if matches!(l.op, LocateOp::ReadAny | LocateOp::WriteAny) {
                rec(self.first_user()?)?;
            }
        } else {
            match l.orientation {
                Orientation::Index => self.cur.orient = Orient::Index,
                Orientation::HomeAddress => self.cur.orient = Orient::HomeAddress,
                Orientation::Count => {
                    let r = self.find_id(&l.search)?;
                    self.cur.at(Orient::Count, &r);
                }
                Orientation::Data => {
                    let r = self.find_id(&l.search)?;
                    self.cur.at(Orient::Data, &r);
                }
            }
        }
        self.chain.domain = (l.op != LocateOp::Orient).then_some(Domain {
            op: l.op,
            orientation: l.orientation,
            left: l.count,
            tlf,
            suffix: l.suffix,
            done: 0,
            update: None,
            trackset: l.trackset << 1,
        });
        Ok(Done::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::TrackBuilder;

    #[test]
    fn record_at_finds_records_end_and_damage() {
        let mut b = TrackBuilder::default();
        let img = b
            .start(TrackAddr::new(0, 1))
            .record(Count::new(0, 1, 1, 0, 0), &[], &[1; 10])
            .finish()
            .to_vec();
        let At::Rec(r0) = record_at(&img, HA_LEN) else {
            panic!("R0")
        };
        assert_eq!(r0.count.rec, 0);
        let At::Rec(r1) = after(&img, &r0) else { panic!("R1") };
        assert_eq!(r1.count.dl, 10);
        assert_eq!(after(&img, &r1), At::End);
        assert_eq!(record_at(&img, img.len() - 4), At::Bad);
        assert_eq!(record_at(&img[..img.len() - 9], r1.offset), At::Bad);
    }

    #[test]
    fn compare_follows_the_command_bits() {
        assert!(compare(0x31, &[1, 2], &[1, 2]));
        assert!(!compare(0x31, &[1, 3], &[1, 2]));
        assert!(compare(0x51, &[1, 3], &[1, 2]));
        assert!(!compare(0x51, &[1, 2], &[1, 2]));
        assert!(compare(0x71, &[1, 2], &[1, 2]));
        assert!(compare(0xe9, &[2], &[1]));
    }
}
