//! The read and write commands (IBM 3990 Storage Control Reference
//! GA32-0099 and SA22-1025, "Read Commands", "Write Commands"; PoO
//! chapter 15 for the data transfer itself).
//!
//! Reads move the record from the track image straight into the data
//! stream (no copy in between); update writes take the data into the
//! device's buffer and patch the stored record in place; format writes
//! edit the track in the volume's write-back buffer.
//!
//! | command | takes | in a domain | outside a domain |
//! |---|---|---|---|
//! | READ DATA / KEY AND DATA / CKD / COUNT / R0 / HA (+MT) | record areas | read-type domains | after a seek |
//! | READ MULTIPLE CKD | every record to index | — | after a seek |
//! | READ TRACK | a track's records and end marker | read tracks, read trackset | — |
//! | READ TRACK DATA | data areas of a track's records | read tracks | — |
//! | READ IPL | R1 of track 0 | — | first in the chain |
//! | WRITE DATA, WRITE KEY AND DATA | update of the current record | write data, write any, write track | after an equal search |
//! | WRITE UPDATE DATA / KEY AND DATA | update of the next record | write data, write any | — |
//! | WRITE CKD | a new record; the rest of the track is erased | format write, write track | after an equal search or a format write |
//! | WRITE CKD NEXT TRACK | the first record of the next track | format write | — |
//! | WRITE R0, WRITE HA | record zero, home address | format write from HA / index | after SEARCH HA EQUAL |
//! | ERASE | erases the rest of the track | write track | after an equal search |
//! | WRITE FULL TRACK | a whole track's records | write trackset | — |
//! | WRITE TRACK DATA | data areas of a track's records | write track data | — |

use zcss_ccw::DataStream;

use crate::eckd::domain::{ExtentSource, Searched};
use crate::eckd::params::DefineExtent;
use crate::eckd::position::{record_at, At, Orient};
use crate::eckd::sense::{Fault, RejectMsg};
use crate::eckd::{give, take, Dasd, Done, Halt, Outcome};
use crate::geometry::{self, TRACK_CELLS};
use crate::track::{Count, Record, Records, TrackAddr, COUNT_LEN, END_MARKER, HA_LEN};

const SEQUENCE: Fault = Fault::Reject(RejectMsg::InvalidSequence);

/// Cells taken by the records of `img` that start before `off`.
fn cells_before(img: &[u8], off: usize) -> Result<u32, Fault> {
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
    Ok(cells)
}

impl Dasd {
    /// Admits a track command into the domain and checks that the chain
    /// gave a track address.
    fn begin(&mut self, cmd: u8) -> Result<(), Fault> {
        self.chain.admit(cmd)?;
        self.need_position()
    }

    /// Whether the command runs as the first one of its domain.
    fn first_in_domain(&self) -> bool {
        self.chain.domain.is_some_and(|d| d.done == 1)
    }

    /// The track a track-at-a-time command of a domain works on: the
    /// located one first, then the next (or the next of the trackset).
    fn domain_track(&mut self) -> Result<(), Fault> {
        if self.first_in_domain() {
            return Ok(());
        }
        let Some(d) = self.chain.domain.as_mut() else {
            return Err(SEQUENCE);
        };
        if d.trackset == 0 {
            return self.switch_track();
        }
        let k = d.trackset.leading_zeros();
        d.trackset = d.trackset.checked_shl(k + 1).unwrap_or(0);
        let t = TrackAddr::from_index(self.cur.track.index() + u64::from(k) + 1);
        self.chain.check_extent(t)?;
        self.move_to(t);
        self.cur.orient = Orient::HomeAddress;
        Ok(())
    }

    /// Moves the data area (or key and data) of `r` on the current track
    /// into the stream.
    #[inline]
    fn give_record(&mut self, r: &Record, from: usize, data: &mut DataStream<'_>) -> Result<(), Halt> {
        let track = self.cur.track;
        let img = self.vol.track(track)?;
        give(data, &img[from..r.end()])
    }

    /// READ DATA (`06`, multitrack `86`).
    pub(crate) fn read_data(&mut self, mt: bool, data: &mut DataStream<'_>) -> Outcome {
        self.begin(if mt { 0x86 } else { 0x06 })?;
        // Fast path, one look-up of the track: the record is the current
        // one, or the next on the same track.
        let (orient, off, track) = (self.cur.orient, self.cur.off, self.cur.track);
        if matches!(orient, Orient::Count | Orient::Key | Orient::Data) {
            let img = self.vol.track(track)?;
            let at = match (orient, record_at(img, off)) {
                (Orient::Data, At::Rec(cur)) => record_at(img, cur.end()),
                (_, at) => at,
            };
            if let At::Rec(r) = at {
                if r.count.dl > 0 {
                    give(data, &img[r.data_offset()..r.end()])?;
                    self.cur.at(Orient::Data, &r);
                    return Ok(Done::Ok);
                }
            }
        }
        let r = self.current_or_next_user(mt)?;
        self.cur.at(Orient::Data, &r);
        if r.count.dl == 0 {
            give(data, &[])?;
            return Ok(Done::Exception);
        }
        self.give_record(&r, r.data_offset(), data)?;
        Ok(Done::Ok)
    }

    /// READ KEY AND DATA (`0E`, `8E`).
    pub(crate) fn read_key_data(&mut self, mt: bool, data: &mut DataStream<'_>) -> Outcome {
        self.begin(if mt { 0x8e } else { 0x0e })?;
        let r = self.current_or_next_user(mt)?;
        self.cur.at(Orient::Data, &r);
        self.give_record(&r, r.key_offset(), data)?;
        Ok(if r.count.dl == 0 { Done::Exception } else { Done::Ok })
    }

    /// READ COUNT (`12`, `92`): the next count area other than R0's.
    pub(crate) fn read_count(&mut self, mt: bool, data: &mut DataStream<'_>) -> Outcome {
        self.begin(if mt { 0x92 } else { 0x12 })?;
        let r = self.next_user(mt)?;
        self.cur.at(Orient::Count, &r);
        give(data, &r.count.to_bytes())?;
        Ok(Done::Ok)
    }

    /// READ COUNT KEY AND DATA (`1E`, `9E`): the next record (R0 right
    /// after the home address).
    pub(crate) fn read_ckd(&mut self, mt: bool, data: &mut DataStream<'_>) -> Outcome {
        self.begin(if mt { 0x9e } else { 0x1e })?;
        let r = if self.cur.orient == Orient::HomeAddress {
            let img = self.img()?;
            match record_at(img, HA_LEN) {
                At::Rec(r) => r,
                _ => return Err(Fault::DataCheck.into()),
            }
        } else {
            self.next_user(mt)?
        };
        self.cur.at(Orient::Data, &r);
        self.give_record(&r, r.offset, data)?;
        Ok(if r.count.dl == 0 { Done::Exception } else { Done::Ok })
    }

    /// READ RECORD ZERO (`16`, `96`): R0's count, key and data; the
    /// multitrack form first moves to the next track unless the device is
    /// at the start of a track.
    pub(crate) fn read_r0(&mut self, mt: bool, data: &mut DataStream<'_>) -> Outcome {
        self.begin(if mt { 0x96 } else { 0x16 })?;
        if mt && matches!(self.cur.orient, Orient::Count | Orient::Key | Orient::Data) {
            self.switch_track()?;
        }
        let img = self.img()?;
        let r0 = match record_at(img, HA_LEN) {
            At::Rec(r) => r,
            At::End => return Err(Fault::NoRecordFound.into()),
            At::Bad => return Err(Fault::DataCheck.into()),
        };
        self.cur.at(Orient::Data, &r0);
        self.give_record(&r0, r0.offset, data)?;
        Ok(Done::Ok)
    }

    /// READ HOME ADDRESS (`1A`, `9A`): the five bytes `flag CC HH`.
    pub(crate) fn read_ha(&mut self, mt: bool, data: &mut DataStream<'_>) -> Outcome {
        self.begin(if mt { 0x9a } else { 0x1a })?;
        if mt && !matches!(self.cur.orient, Orient::None | Orient::Index) {
            self.switch_track()?;
        }
        self.cur.orient = Orient::HomeAddress;
        self.cur.off = 0;
        let img = self.img()?;
        let ha = img.get(..HA_LEN).ok_or(Fault::DataCheck)?;
        give(data, ha)?;
        Ok(Done::Ok)
    }

    /// Moves records from `start` to the end of the track into the stream
    /// while it takes them (`ckd`: whole records, else data areas; `end`:
    /// the end marker after the last record). Returns the last record
    /// moved.
    fn give_run(
        &mut self,
        start: usize,
        ckd: bool,
        end: bool,
        data: &mut DataStream<'_>,
    ) -> Result<Option<Record>, Halt> {
        let track = self.cur.track;
        let img = self.vol.track(track)?;
        let mut off = start;
        let mut last = None;
        loop {
            if data.residual() == 0 {
                break;
            }
            match record_at(img, off) {
                At::Rec(r) => {
                    let from = if ckd { r.offset } else { r.data_offset() };
                    give(data, &img[from..r.end()])?;
                    last = Some(r);
                    off = r.end();
                }
                At::End => {
                    if end {
                        give(data, &END_MARKER)?;
                    }
                    break;
                }
                At::Bad => return Err(Fault::DataCheck.into()),
            }
        }
        Ok(last)
    }

    /// Sets the orientation after a run of records: after the last one
    /// moved, or at index when the run reached the end of the track.
    fn after_run(&mut self, last: Option<Record>) -> Result<(), Fault> {
        match last {
            Some(r) => {
                let img = self.img()?;
                let at_end = matches!(record_at(img, r.end()), At::End);
                if at_end {
                    self.cur.orient = Orient::Index;
                } else {
                    self.cur.at(Orient::Data, &r);
                }
            }
            None => self.cur.orient = Orient::Index,
        }
        Ok(())
    }

    /// READ MULTIPLE COUNT KEY AND DATA (`5E`): every record from the
    /// current position to the end of the track.
    pub(crate) fn read_multiple_ckd(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.begin(0x5e)?;
        let start = match self.following()? {
            At::Rec(r) if r.offset == HA_LEN && self.cur.orient != Orient::HomeAddress => r.end(),
            At::Rec(r) => r.offset,
            At::End => {
                give(data, &[])?;
                self.cur.orient = Orient::Index;
                return Ok(Done::Ok);
            }
            At::Bad => return Err(Fault::DataCheck.into()),
        };
        let last = self.give_run(start, true, false, data)?;
        self.after_run(last)?;
        Ok(Done::Ok)
    }

    /// READ TRACK (`DE`): in a read-tracks or read-trackset domain, every
    /// record of a track in count-key-data form and the end marker.
    pub(crate) fn read_track(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.begin(0xde)?;
        self.domain_track()?;
        let start = match self.cur.orient {
            Orient::Count | Orient::Key | Orient::Data => self.cur.off,
            _ => HA_LEN,
        };
        self.give_run(start, true, true, data)?;
        self.cur.orient = Orient::Index;
        Ok(Done::Ok)
    }

    /// READ TRACK DATA (`A6`): in a read-tracks domain, the data areas of
    /// a track's records from the located one (the first track) or R1.
    pub(crate) fn read_track_data(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.begin(0xa6)?;
        self.domain_track()?;
        let start = if matches!(self.cur.orient, Orient::Count | Orient::Key) {
            self.cur.off
        } else {
            match self.first_user()? {
                At::Rec(r) => r.offset,
                At::End => return Err(Fault::NoRecordFound.into()),
                At::Bad => return Err(Fault::DataCheck.into()),
            }
        };
        let last = self.give_run(start, false, false, data)?;
        self.after_run(last)?;
        Ok(Done::Ok)
    }

    /// READ IPL (`02`): an implied seek to cylinder 0 head 0 and a search
    /// for R1, whose data it reads; the extent is then the whole volume.
    pub(crate) fn read_ipl(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(0x02)?;
        if self.chain.domain.is_some() || self.chain.source != ExtentSource::None || self.chain.mask_set {
            return Err(SEQUENCE.into());
        }
        let de = DefineExtent::whole_volume(self.vol.cylinders(), self.chain.mask);
        self.chain.set_extent(de, ExtentSource::ReadIpl);
        self.move_to(TrackAddr::new(0, 0));
        self.chain.positioned = true;
        let r = self.find_id(&[0, 0, 0, 0, 1])?;
        self.cur.at(Orient::Data, &r);
        self.give_record(&r, r.data_offset(), data)?;
        Ok(Done::Ok)
    }

    /// Takes `len` bytes of write data into the scratch buffer, zero
    /// padding what the channel does not send (record padding).
    fn take_record(&mut self, len: usize, data: &mut DataStream<'_>) -> Result<(), Halt> {
        let buf = self.scratch.get_mut(..len).ok_or(Fault::InvalidTrackFormat)?;
        let n = data.read(buf);
        if data.failed() {
            return Err(Halt::Channel);
        }
        buf[n..].fill(0);
        Ok(())
    }

    /// Checks the length a data command writes against the domain's
    /// transfer length factor.
    fn check_tlf(&self, len: usize) -> Result<(), Fault> {
        match self.chain.domain.and_then(|d| d.tlf) {
            Some(t) if usize::from(t) != len => Err(Fault::InvalidTrackFormat),
            _ => Ok(()),
        }
    }

    /// WRITE DATA (`05`), WRITE UPDATE DATA (`85`), WRITE KEY AND DATA
    /// (`0D`), WRITE UPDATE KEY AND DATA (`8D`): update the data (and key)
    /// of the current record, or of the next one for the update forms.
    pub(crate) fn write_data(&mut self, cmd: u8, kd: bool, data: &mut DataStream<'_>) -> Outcome {
        self.begin(cmd)?;
        let mt = cmd & 0x80 != 0;
        let in_domain = self.chain.domain.is_some();
        if !in_domain && (mt || !self.chain.enabled_by(&[Searched::Id, Searched::Key])) {
            return Err(SEQUENCE.into());
        }
        if !self.chain.mask.allows_update() {
            return Err(SEQUENCE.into());
        }
        let r = self.current_or_next_user(mt)?;
        let (off, len) = if kd {
            (r.key_offset(), usize::from(r.count.kl) + usize::from(r.count.dl))
        } else {
            (r.data_offset(), usize::from(r.count.dl))
        };
        self.check_tlf(len)?;
        self.take_record(len, data)?;
        let track = self.cur.track;
        self.vol.update(track, off, &self.scratch[..len])?;
        self.cur.at(Orient::Data, &r);
        self.chain.wrote = true;
        Ok(Done::Ok)
    }

    /// Where a format write puts its record: after the current record, or
    /// after R0 when the device is before any record.
    fn format_point(&mut self) -> Result<usize, Fault> {
        let (orient, off) = (self.cur.orient, self.cur.off);
        let img = self.img()?;
        let at = match orient {
            Orient::Count | Orient::Key | Orient::Data => record_at(img, off),
            _ => record_at(img, HA_LEN),
        };
        match at {
            At::Rec(r) => Ok(r.end()),
            _ => Err(Fault::DataCheck),
        }
    }

    /// Replaces everything after `at` on the current track with the record
    /// `count` whose key and data are in the scratch buffer, after the
    /// capacity check.
    fn append_record(&mut self, at: usize, count: Count) -> Result<Record, Fault> {
        let len = usize::from(count.kl) + usize::from(count.dl);
        let track = self.cur.track;
        let img = self.vol.track(track)?;
        let cells = cells_before(img, at)? + geometry::record_cells(count.kl, count.dl);
        let total = at + COUNT_LEN + len + COUNT_LEN;
        if cells > TRACK_CELLS || total > self.vol.max_track_len() {
            return Err(Fault::InvalidTrackFormat);
        }
        let buf = self.vol.edit(track)?;
        buf.truncate(at);
        buf.extend_from_slice(&count.to_bytes());
        buf.extend_from_slice(&self.scratch[..len]);
        buf.extend_from_slice(&END_MARKER);
        Ok(Record { offset: at, count })
    }

    /// WRITE COUNT KEY AND DATA (`1D`) and WRITE CKD NEXT TRACK (`9D`):
    /// formats a new record after the current one (on the next track for
    /// `9D`, after its R0) and erases the rest of the track.
    pub(crate) fn write_ckd(&mut self, next_track: bool, data: &mut DataStream<'_>) -> Outcome {
        let cmd = if next_track { 0x9d } else { 0x1d };
        self.begin(cmd)?;
        let in_domain = self.chain.domain.is_some();
        if in_domain {
            if next_track && !matches!(self.chain.prev, Some(0x1d | 0x9d)) {
                return Err(SEQUENCE.into());
            }
        } else if next_track
            || !self.chain.enabled_by(&[Searched::Id, Searched::Key, Searched::Written])
            || !self.chain.mask.allows_format()
        {
            return Err(SEQUENCE.into());
        }
        if next_track {
            self.switch_track()?;
        }
        let at = self.format_point()?;
        let mut cb = [0u8; COUNT_LEN];
        take(data, &mut cb)?;
        let count = Count::from_bytes(cb);
        self.take_record(usize::from(count.kl) + usize::from(count.dl), data)?;
        let r = self.append_record(at, count)?;
        self.cur.at(Orient::Data, &r);
        self.chain.searched = Some(Searched::Written);
        self.chain.wrote = true;
        Ok(Done::Ok)
    }

    /// WRITE RECORD ZERO (`15`): a standard R0 (this track's CCHH, record
    /// 0, no key, 8 data bytes); the rest of the track is erased.
    pub(crate) fn write_r0(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.begin(0x15)?;
        if !self.chain.mask.allows_ha_r0() {
            return Err(SEQUENCE.into());
        }
        if self.chain.domain.is_none() && !self.chain.enabled_by(&[Searched::HomeAddress, Searched::Written]) {
            return Err(SEQUENCE.into());
        }
        let mut cb = [0u8; COUNT_LEN];
        take(data, &mut cb)?;
        let c = Count::from_bytes(cb);
        let track = self.cur.track;
        if track.cchh() != Some([cb[0], cb[1], cb[2], cb[3]]) || c.rec != 0 || c.kl != 0 || c.dl != 8 {
            return Err(Fault::Reject(RejectMsg::InvalidParameter).into());
        }
        self.take_record(8, data)?;
        let buf = self.vol.edit(track)?;
        buf.truncate(HA_LEN);
        buf.extend_from_slice(&cb);
        buf.extend_from_slice(&self.scratch[..8]);
        buf.extend_from_slice(&END_MARKER);
        let r0 = Record {
            offset: HA_LEN,
            count: c,
        };
        self.cur.at(Orient::Data, &r0);
        self.chain.searched = Some(Searched::Written);
        self.chain.wrote = true;
        Ok(Done::Ok)
    }

    /// WRITE HOME ADDRESS (`19`): five bytes `flag CC HH`; the CCHH must be
    /// the track's. The track's records stay (a track image always holds
    /// an R0).
    pub(crate) fn write_ha(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.begin(0x19)?;
        if !self.chain.mask.allows_ha_r0() {
            return Err(SEQUENCE.into());
        }
        let mut b = [0u8; HA_LEN];
        take(data, &mut b)?;
        let track = self.cur.track;
        if track.cchh() != Some([b[1], b[2], b[3], b[4]]) {
            return Err(Fault::Reject(RejectMsg::InvalidParameter).into());
        }
        let buf = self.vol.edit(track)?;
        if let Some(flag) = buf.first_mut() {
            *flag = b[0];
        }
        self.cur.orient = Orient::HomeAddress;
        self.cur.off = 0;
        self.chain.searched = Some(Searched::Written);
        self.chain.wrote = true;
        Ok(Done::Ok)
    }

    /// ERASE (`11`): takes a count area (and its key and data) and erases
    /// the track after the current record.
    pub(crate) fn erase(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.begin(0x11)?;
        if self.chain.domain.is_none()
            && (!self.chain.enabled_by(&[Searched::Id, Searched::Key, Searched::Written])
                || !self.chain.mask.allows_format())
        {
            return Err(SEQUENCE.into());
        }
        let at = self.format_point()?;
        let mut cb = [0u8; COUNT_LEN];
        take(data, &mut cb)?;
        let c = Count::from_bytes(cb);
        self.take_record(usize::from(c.kl) + usize::from(c.dl), data)?;
        let track = self.cur.track;
        let buf = self.vol.edit(track)?;
        buf.truncate(at);
        buf.extend_from_slice(&END_MARKER);
        self.cur.orient = Orient::Index;
        self.chain.wrote = true;
        Ok(Done::Ok)
    }

    /// WRITE FULL TRACK (`95`): in a write-trackset domain, a track's
    /// records in count-key-data form, ended by the end marker or by the
    /// end of the data; without R0 first, the track keeps its R0.
    pub(crate) fn write_full_track(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.begin(0x95)?;
        self.domain_track()?;
        let track = self.cur.track;
        // Build the new image in the scratch buffer: home address (and R0
        // when the data starts after it), then the records.
        let img = self.vol.track(track)?;
        let r0_end = match record_at(img, HA_LEN) {
            At::Rec(r) => r.end(),
            _ => return Err(Fault::DataCheck.into()),
        };
        self.scratch[..r0_end].copy_from_slice(&img[..r0_end]);
        let mut pos = r0_end;
        let mut first = true;
        let limit = self.scratch.len() - COUNT_LEN;
        loop {
            if data.residual() == 0 {
                break;
            }
            let mut cb = [0u8; COUNT_LEN];
            take(data, &mut cb)?;
            if cb == END_MARKER {
                break;
            }
            let c = Count::from_bytes(cb);
            if first && c.rec == 0 {
                if !self.chain.mask.allows_ha_r0() {
                    return Err(SEQUENCE.into());
                }
                pos = HA_LEN;
            }
            first = false;
            let len = usize::from(c.kl) + usize::from(c.dl);
            if pos + COUNT_LEN + len > limit {
                return Err(Fault::InvalidTrackFormat.into());
            }
            self.scratch[pos..pos + COUNT_LEN].copy_from_slice(&cb);
            let body = &mut self.scratch[pos + COUNT_LEN..pos + COUNT_LEN + len];
            let n = data.read(body);
            if data.failed() {
                return Err(Halt::Channel);
            }
            body[n..].fill(0);
            pos += COUNT_LEN + len;
        }
        self.scratch[pos..pos + COUNT_LEN].copy_from_slice(&END_MARKER);
        let image = &self.scratch[..pos + COUNT_LEN];
        let cells = crate::track::used_cells(image).ok_or(Fault::InvalidTrackFormat)?;
        if cells > TRACK_CELLS || image.len() > self.vol.max_track_len() {
            return Err(Fault::InvalidTrackFormat.into());
        }
        let buf = self.vol.edit(track)?;
        buf.clear();
        buf.extend_from_slice(image);
        self.cur.orient = Orient::Index;
        self.chain.wrote = true;
        Ok(Done::Ok)
    }

    /// WRITE TRACK DATA (`A5`): in a write-track-data domain, updates the
    /// data areas of a track's records from the located one (the first
    /// track) or R1, each of the domain's transfer length.
    pub(crate) fn write_track_data(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.begin(0xa5)?;
        self.domain_track()?;
        let mut at = if matches!(self.cur.orient, Orient::Count | Orient::Key) {
            let off = self.cur.off;
            record_at(self.img()?, off)
        } else {
            self.first_user()?
        };
        let mut last = None;
        loop {
            if data.residual() == 0 {
                break;
            }
            let r = match at {
                At::Rec(r) => r,
                At::End if last.is_none() => return Err(Fault::NoRecordFound.into()),
                At::End => break,
                At::Bad => return Err(Fault::DataCheck.into()),
            };
            let len = usize::from(r.count.dl);
            self.check_tlf(len)?;
            self.take_record(len, data)?;
            let track = self.cur.track;
            self.vol.update(track, r.data_offset(), &self.scratch[..len])?;
            self.chain.wrote = true;
            last = Some(r);
            let img = self.img()?;
            at = record_at(img, r.end());
        }
        self.after_run(last)?;
        Ok(Done::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::TrackBuilder;

    #[test]
    fn cells_before_counts_records_up_to_offset() {
        let mut b = TrackBuilder::default();
        let img = b
            .start(TrackAddr::new(0, 0))
            .record(Count::new(0, 0, 1, 0, 0), &[], &[0; 4096])
            .record(Count::new(0, 0, 2, 0, 0), &[], &[0; 4096])
            .finish()
            .to_vec();
        let r1_end = HA_LEN + 16 + 8 + 4096;
        assert_eq!(cells_before(&img, HA_LEN), Ok(0));
        assert_eq!(cells_before(&img, r1_end), Ok(geometry::record_cells(0, 4096)));
        assert_eq!(cells_before(&img, img.len()), Ok(2 * geometry::record_cells(0, 4096)));
    }
}
