//! Block I/O as `dasd_eckd_build_cp` builds it: single-record mode
//! (`dasd_eckd_build_cp_cmd_single`: DEFINE EXTENT or PREFIX, LOCATE
//! RECORD, one READ/WRITE per block, CDL special blocks by their own
//! LOCATE RECORD) and track mode (`dasd_eckd_build_cp_cmd_track`: PREFIX
//! with a LOCATE RECORD EXTENDED, one READ/WRITE TRACK DATA per track
//! through IDAWs); and byte reads and writes through the block device
//! (the page cache's read-modify-write of a partial block).

use super::channel::Channel;
use super::driver::{area, DriverError, DriverResult, Layout, LinuxDasd};
use super::program::cmd::*;
use super::program::{extent, locate, locate_ext, Cp, LABEL_SIZE, SIZES_TRK0};

fn too_many() -> DriverError {
    DriverError::Invalid("too many blocks for one request".into())
}

impl<C: Channel> LinuxDasd<C> {
    /// Where the driver stages block data for [`Self::read_bytes`] and
    /// [`Self::write_bytes`]: the upper half of its area.
    const fn staging(&self) -> u64 {
        self.area + area::STAGING
    }

    /// Reads `len` bytes at byte `offset` of the block device (each block
    /// `blksize` bytes; a CDL special block holds only its record).
    ///
    /// # Errors
    /// Not formatted, or a program failed.
    pub fn read_bytes(&mut self, offset: u64, len: usize) -> DriverResult<Vec<u8>> {
        let bs = u64::from(self.layout.block_size().ok_or(DriverError::Layout(self.layout))?);
        let mut out = Vec::with_capacity(len);
        let mut at = offset;
        let end = offset + len as u64;
        while at < end {
            let blk = u32::try_from(at / bs).map_err(|_| DriverError::Invalid("offset beyond the volume".into()))?;
            let buf = self.staging();
            self.read_blocks(blk, 1, buf)?;
            let from = usize::try_from(at % bs).unwrap_or(0);
            let n = usize::try_from((bs - at % bs).min(end - at)).unwrap_or(0);
            out.extend_from_slice(&self.fetch(buf + from as u64, n)?);
            at += n as u64;
        }
        Ok(out)
    }

    /// Writes `data` at byte `offset` of the block device, reading and
    /// rewriting each block it touches (the page cache's
    /// read-modify-write of a partial block).
    ///
    /// # Errors
    /// Not formatted, or a program failed.
    pub fn write_bytes(&mut self, offset: u64, data: &[u8]) -> DriverResult<()> {
        let bs = u64::from(self.layout.block_size().ok_or(DriverError::Layout(self.layout))?);
        let mut at = offset;
        let end = offset + data.len() as u64;
        while at < end {
            let blk = u32::try_from(at / bs).map_err(|_| DriverError::Invalid("offset beyond the volume".into()))?;
            let buf = self.staging();
            let from = at % bs;
            let n = (bs - from).min(end - at);
            if from != 0 || n != bs {
                self.read_blocks(blk, 1, buf)?;
            }
            let src = usize::try_from(at - offset).unwrap_or(0);
            self.store(buf + from, &data[src..src + usize::try_from(n).unwrap_or(0)])?;
            self.write_blocks(blk, 1, buf)?;
            at += n;
        }
        Ok(())
    }

    /// Reads blocks `first..first + n` into guest storage at `buf` (block
    /// `k` at `buf + k × blksize`; CDL special blocks fill only their
    /// record's length).
    ///
    /// # Errors
    /// Not formatted, or a program failed.
    pub fn read_blocks(&mut self, first: u32, n: u32, buf: u64) -> DriverResult<()> {
        self.block_io(false, first, n, buf)
    }

    /// Writes blocks `first..first + n` from guest storage at `buf`.
    ///
    /// # Errors
    /// Not formatted, or a program failed.
    pub fn write_blocks(&mut self, first: u32, n: u32, buf: u64) -> DriverResult<()> {
        self.block_io(true, first, n, buf)
    }

    /// `dasd_eckd_build_cp`: track mode (PREFIX with LRE and one READ or
    /// WRITE TRACK DATA per track) when the features allow it and no CDL
    /// special block is involved, single-record mode otherwise.
    fn block_io(&mut self, write: bool, first: u32, n: u32, buf: u64) -> DriverResult<()> {
        let (Layout::Cdl(bs) | Layout::Ldl(bs)) = self.layout else {
            return Err(DriverError::Layout(self.layout));
        };
        if n == 0 {
            return Ok(());
        }
        let cdl = matches!(self.layout, Layout::Cdl(_));
        let bpt = self.blocks_per_track();
        let last = first.checked_add(n - 1).ok_or_else(too_many)?;
        if u64::from(last) >= u64::from(bpt) * u64::from(self.tracks()) {
            return Err(DriverError::Invalid(format!("block {last} is beyond the volume")));
        }
        let cdlspecial = cdl && first < 2 * bpt;
        let cmdrtd = self.features[9] & 0x20 != 0;
        let cmdwtd = self.features[12] & 0x40 != 0;
        let track_mode = !cdlspecial && self.uses_prefix() && if write { cmdwtd } else { cmdrtd };
        let cp = if track_mode {
            self.cp_track(write, first, last, bs, buf)?
        } else {
            self.cp_single(write, first, last, bs, buf, cdl)?
        };
        self.run(&cp, self.opm)?
            .check(if write { "block write" } else { "block read" })
    }

    /// `dasd_eckd_build_cp_cmd_single`.
    fn cp_single(&self, write: bool, first: u32, last: u32, bs: u16, buf: u64, cdl: bool) -> DriverResult<Cp> {
        let bpt = self.blocks_per_track();
        let cmd = if write { WRITE_MT } else { READ_MT };
        let (first_trk, first_offs) = (first / bpt, first % bpt);
        let last_trk = last / bpt;
        let mut cp = self.program();
        if self.uses_prefix() {
            cp.prefix(&self.ned()?, &extent(first_trk, last_trk, cmd, 0, false), None);
        } else {
            cp.define_extent(first_trk, last_trk, cmd, 0, false);
        }
        let count = |k: u32| u8::try_from(k).map_err(|_| too_many());
        if !cdl || first > 2 * bpt {
            cp.out(
                LOCATE_RECORD,
                0,
                &locate(first_trk, first_offs + 1, count(last - first + 1)?, cmd, bs),
            );
        }
        for recid in first..=last {
            let (trk, offs) = (recid / bpt, recid % bpt);
            let mut rcmd = cmd;
            let mut len = bs;
            if cdl && recid < 2 * bpt {
                if recid < 3 || (bpt..2 * bpt).contains(&recid) {
                    rcmd |= 0x08;
                    len = if recid < 3 {
                        SIZES_TRK0[usize::try_from(recid).unwrap_or(0)]
                    } else {
                        LABEL_SIZE
                    };
                }
                cp.out(LOCATE_RECORD, 0, &locate(trk, offs + 1, 1, rcmd, len));
            }
            if cdl && recid == 2 * bpt {
                cp.out(
                    LOCATE_RECORD,
                    0,
                    &locate(trk, offs + 1, count(last - recid + 1)?, cmd, len),
                );
            }
            let at = buf + u64::from(recid - first) * u64::from(bs);
            let at = u32::try_from(at).map_err(|_| DriverError::Invalid("buffer above 2 GiB".into()))?;
            cp.ccw(rcmd, 0, len, at);
        }
        Ok(cp)
    }

    /// `dasd_eckd_build_cp_cmd_track`: PREFIX format 1 with an LRE, then
    /// one READ/WRITE TRACK DATA per track through IDAWs.
    fn cp_track(&self, write: bool, first: u32, last: u32, bs: u16, buf: u64) -> DriverResult<Cp> {
        let bpt = self.blocks_per_track();
        let cmd = if write { WRITE_TRACK_DATA } else { READ_TRACK_DATA };
        let (first_trk, first_offs) = (first / bpt, first % bpt);
        let (last_trk, last_offs) = (last / bpt, last % bpt);
        let tlf = if first_trk == last_trk {
            last_offs - first_offs + 1
        } else {
            last_offs + 1
        } * u32::from(bs);
        let trkcount = u8::try_from(last_trk - first_trk + 1).map_err(|_| too_many())?;
        let lre = locate_ext(
            first_trk,
            first_offs + 1,
            trkcount,
            cmd,
            bs,
            u16::try_from(tlf).map_err(|_| too_many())?,
        );
        let mut cp = self.program();
        cp.prefix(&self.ned()?, &extent(first_trk, last_trk, cmd, bs, false), Some(lre));
        let mut recid = first;
        let mut at = buf;
        while recid <= last {
            let offs = recid % bpt;
            let k = (last - recid + 1).min(bpt - offs);
            let len = usize::try_from(k * u32::from(bs)).map_err(|_| too_many())?;
            cp.idal(cmd, 0, at, len);
            at += len as u64;
            recid += k;
        }
        Ok(cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::driver::tests::on_3390;
    use crate::linux::format::DasdfmtOptions;
    use crate::ControlUnit;

    #[test]
    fn block_io_before_analysis_finds_no_layout() {
        let mut d = on_3390(ControlUnit::Model6, 2, true);
        assert_eq!(d.read_blocks(0, 1, 0), Err(DriverError::Layout(Layout::Unformatted)));
        assert_eq!(d.write_bytes(0, &[1]), Err(DriverError::Layout(Layout::Unformatted)));
    }

    #[test]
    fn block_io_beyond_the_volume_is_refused_before_any_program() {
        let mut d = on_3390(ControlUnit::Model6, 2, true);
        d.online().unwrap();
        d.dasdfmt(&DasdfmtOptions::default(), &mut |_, _| {}).unwrap();
        let before = d.commands().len();
        let e = d.read_blocks(30 * 12 - 1, 2, 0x4_0000);
        assert!(matches!(e, Err(DriverError::Invalid(_))), "{e:?}");
        assert_eq!(d.commands().len(), before);
    }

    #[test]
    fn write_bytes_of_a_partial_block_keeps_the_rest() {
        let mut d = on_3390(ControlUnit::Model3, 2, true);
        d.online().unwrap();
        d.dasdfmt(&DasdfmtOptions::default(), &mut |_, _| {}).unwrap();
        d.write_bytes(40 * 4096, &[0x5a; 4096]).unwrap();
        d.write_bytes(40 * 4096 + 100, &[0xa5; 8]).unwrap();
        let b = d.read_bytes(40 * 4096 + 96, 16).unwrap();
        assert_eq!(b, [[0x5a; 4], [0xa5; 4], [0xa5; 4], [0x5a; 4]].concat());
    }
}
