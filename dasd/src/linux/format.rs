//! Formatting: the kernel's format requests (`dasd_eckd_build_format`,
//! split as `dasd_eckd_format_process_data` splits them), `dasdfmt` in
//! full mode with its labels and empty VTOC (s390-tools `dasdfmt.c`,
//! `libvtoc`), and `fdasd -a` (one partition over the volume).

use super::channel::Channel;
use super::driver::{DriverError, DriverResult, Layout, LinuxDasd};
use super::program::cmd::*;
use super::program::{count_field, extent, locate, recs_per_track, LABEL_SIZE, SIZES_TRK0, SLI};
use crate::layout::{CdlVtoc, DscbDate, Volser, VolumeSpec};
use crate::track::{Records, TrackAddr, TrackBuilder};

/// Linux `DASD_CQR_MAX_CCW`: the CCWs of one format request, which bounds
/// its tracks (`dasd_eckd_format_process_data`).
const MAX_CCW: u32 = 255;

/// The empty bootstrap `dasdfmt` writes: IPL1 (key and 24 data bytes: a
/// PSW and a NOP CCW) and IPL2 (key and 144 data bytes), s390-tools
/// `dasdfmt.h` `ipl1`, `ipl2`.
const IPL1: [u8; 28] = [
    0xc9, 0xd7, 0xd3, 0xf1, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];
/// The first 48 bytes of IPL2 (key and data; the rest is zero).
const IPL2_HEAD: [u8; 48] = [
    0xc9, 0xd7, 0xd3, 0xf2, 0x07, 0x00, 0x3a, 0xb8, 0x40, 0x00, 0x00, 0x06, 0x31, 0x00, 0x3a, 0xbe, 0x40, 0x00, 0x00,
    0x05, 0x08, 0x00, 0x3a, 0xa0, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
];

/// The disk layouts `dasdfmt -d` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiskLayout {
    /// Compatible disk layout (`-d cdl`, the default).
    Cdl,
    /// Linux disk layout (`-d ldl`).
    Ldl,
}

/// What `dasdfmt` is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DasdfmtOptions {
    /// The layout.
    pub layout: DiskLayout,
    /// Block size: 512, 1024, 2048 or 4096 (`-b`, default 4096).
    pub block_size: u16,
    /// Volume serial (`-l`; default `0X` and the device number).
    pub volser: Option<Volser>,
    /// Cylinders per format step (`-r`, default 10).
    pub request_cylinders: u32,
}

impl Default for DasdfmtOptions {
    fn default() -> Self {
        Self {
            layout: DiskLayout::Cdl,
            block_size: 4096,
            volser: None,
            request_cylinders: 10,
        }
    }
}

/// What a format request writes (`format_data_t` intensity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intensity {
    /// Records of the block size (CDL: with the special records of tracks
    /// 0 and 1), permission to format R0 granted.
    Format(DiskLayout),
    /// One empty record R1 (key and data length 0) per track: the track
    /// reads as not formatted.
    Invalidate,
}

impl<C: Channel> LinuxDasd<C> {
    /// One format request, `dasd_eckd_build_format`: tracks `start..=stop`
    /// (at most 255 CCWs, Linux `DASD_CQR_MAX_CCW`).
    ///
    /// # Errors
    /// Too many tracks for one request, a bad block size, or the program
    /// failed.
    pub fn format_request(&mut self, start: u32, stop: u32, blksize: u16, intensity: Intensity) -> DriverResult<()> {
        if !matches!(blksize, 512 | 1024 | 2048 | 4096) {
            return Err(DriverError::Invalid(format!(
                "block size {blksize}: 512, 1024, 2048 or 4096"
            )));
        }
        let rpt = recs_per_track(blksize);
        let nr = stop.checked_sub(start).map_or(0, |n| n + 1);
        let per_track = if intensity == Intensity::Invalidate { 1 } else { rpt };
        let count_all = u8::try_from(per_track * nr)
            .ok()
            .filter(|_| nr > 0 && per_track * nr + 2 <= MAX_CCW)
            .ok_or_else(|| DriverError::Invalid(format!("tracks {start}..={stop} do not fit one format request")))?;
        let cdl = intensity == Intensity::Format(DiskLayout::Cdl);
        let r0_perm = intensity != Intensity::Invalidate;
        let mut cp = self.program();
        if self.uses_prefix() {
            cp.prefix(&self.ned()?, &extent(start, stop, WRITE_CKD, 0, r0_perm), None);
        } else {
            cp.define_extent(start, stop, WRITE_CKD, 0, r0_perm);
        }
        if intensity == Intensity::Invalidate {
            cp.out(LOCATE_RECORD, 0, &locate(start, 0, 1, WRITE_CKD, 8));
        } else {
            cp.out(LOCATE_RECORD, 0, &locate(start, 0, count_all, WRITE_CKD, blksize));
        }
        for j in 0..nr {
            let t = start + j;
            if intensity == Intensity::Invalidate {
                cp.out(WRITE_CKD, SLI, &count_field(t, 1, 0, 0));
                continue;
            }
            for i in 0..rpt {
                let (kl, dl) = match (cdl, t, i) {
                    (true, 0, 0..=2) => (4, SIZES_TRK0[usize::try_from(i).unwrap_or(0)] - 4),
                    (true, 1, _) => (44, LABEL_SIZE - 44),
                    _ => (0, blksize),
                };
                let cmd = if i != 0 || j == 0 { WRITE_CKD } else { WRITE_CKD_MT };
                cp.out(cmd, SLI, &count_field(t, u8::try_from(i + 1).unwrap_or(0), kl, dl));
            }
        }
        self.run(&cp, self.opm)?.check("format")
    }

    /// The kernel's part of a format ioctl (`dasd_eckd_format_process_data`):
    /// tracks `start..=stop` in requests of `255 / records per track`
    /// tracks.
    ///
    /// # Errors
    /// As [`Self::format_request`].
    pub fn format(&mut self, start: u32, stop: u32, blksize: u16, intensity: Intensity) -> DriverResult<()> {
        let step = MAX_CCW / recs_per_track(blksize).max(1);
        let mut s = start;
        while s <= stop {
            let e = stop.min(s.saturating_add(step - 1));
            self.format_request(s, e, blksize, intensity)?;
            s = e + 1;
        }
        Ok(())
    }

    /// `dasdfmt` in full mode: invalidate track 0, format tracks 1 to the
    /// end in steps of `request_cylinders` cylinders, format track 0 again,
    /// then write the empty bootstrap, the volume label and (on both
    /// layouts, as dasdfmt does) the empty VTOC; finally analyse the
    /// volume as the kernel does after formatting. `progress` is called
    /// with the tracks done and the tracks of the volume.
    ///
    /// # Errors
    /// Bad options, or a program failed.
    pub fn dasdfmt(&mut self, opts: &DasdfmtOptions, progress: &mut dyn FnMut(u64, u64)) -> DriverResult<Layout> {
        let bs = opts.block_size;
        let tracks = self.tracks();
        if tracks < 2 {
            return Err(DriverError::Invalid("the volume has no tracks to format".into()));
        }
        let total = u64::from(tracks);
        let volser = match opts.volser {
            Some(v) => v,
            None => Volser::new(&format!("0X{:04X}", self.devno)).map_err(|e| DriverError::Invalid(e.to_string()))?,
        };
        let intensity = Intensity::Format(opts.layout);
        self.format(0, 0, bs, Intensity::Invalidate)?;
        let heads = 15;
        let per_request = opts.request_cylinders.max(1).saturating_mul(heads);
        let stop = tracks - 1;
        let mut cur = 1;
        while cur < stop {
            let step = per_request - cur % heads;
            let end = if cur.saturating_add(per_request) >= stop {
                stop
            } else {
                cur + step - 1
            };
            self.format(cur, end, bs, intensity)?;
            progress(u64::from(end) + 1, total);
            cur = cur.saturating_add(step);
        }
        self.format(0, 0, bs, intensity)?;
        self.analyze()?;
        self.write_labels(opts.layout, volser, bs)?;
        progress(total, total);
        self.analyze()
    }

    /// `dasdfmt_write_labels`: IPL1 and IPL2 (with their keys on CDL), the
    /// volume label at block 2, and format-4, format-5 (and, beyond 65,536
    /// tracks, format-7) DSCBs at the VTOC's first blocks, track 1 — the
    /// empty VTOC of libvtoc, the one Hercules' `dasdinit -linux` copies.
    fn write_labels(&mut self, layout: DiskLayout, volser: Volser, bs: u16) -> DriverResult<()> {
        let bsz = u64::from(bs);
        let mut ipl2 = [0u8; 148];
        ipl2[..IPL2_HEAD.len()].copy_from_slice(&IPL2_HEAD);
        let cdl = layout == DiskLayout::Cdl;
        let keyed = |b: &[u8]| if cdl { b.to_vec() } else { b[4..].to_vec() };
        self.write_bytes(0, &keyed(&IPL1))?;
        self.write_bytes(bsz, &keyed(&ipl2))?;
        let vtoc = CdlVtoc::new(volser, self.cylinders);
        let mut label = vec![0xe5, 0xd6, 0xd3, 0xf1];
        label.extend_from_slice(&vtoc.vol1());
        if !cdl {
            label.drain(..4);
            // LNX1, no VTOC pointer; then the LDL version and the blocks
            // formatted.
            label[..4].copy_from_slice(&[0xd3, 0xd5, 0xe7, 0xf1]);
            label[11..16].fill(0x40);
            label[79] = 0xf2;
            let blocks = u64::from(self.tracks()) * u64::from(recs_per_track(bs));
            label.extend_from_slice(&blocks.to_be_bytes());
        }
        self.write_bytes(2 * bsz, &label)?;
        let spec = VolumeSpec {
            cylinders: self.cylinders,
            volser,
            linux: true,
        };
        let mut b = TrackBuilder::default();
        let t1 = spec.track(TrackAddr::new(0, 1), &mut b).to_vec();
        let bpt = u64::from(recs_per_track(bs));
        let big = u64::from(self.tracks()) > 0x10000;
        for (i, r) in Records::new(&t1).skip(1).take(if big { 3 } else { 2 }).enumerate() {
            let r = r.map_err(|e| DriverError::Invalid(e.to_string()))?;
            self.write_bytes((bpt + i as u64) * bsz, &t1[r.key_offset()..r.end()])?;
        }
        Ok(())
    }

    /// `fdasd -a`: one partition over the volume (track 2 to the end): the
    /// volume label and the VTOC's DSCBs (format 4, 5, 7 on large
    /// volumes, the partition's format 1, empty DSCBs up to nine),
    /// written through the block device as fdasd writes them. `created`
    /// dates the partition.
    ///
    /// # Errors
    /// The volume is not CDL, or a program failed.
    pub fn fdasd_auto(&mut self, created: DscbDate) -> DriverResult<()> {
        let Layout::Cdl(bs) = self.layout else {
            return Err(DriverError::Layout(self.layout));
        };
        let bsz = u64::from(bs);
        let label = self.read_bytes(2 * bsz, 84)?;
        let mut vs = [0u8; 6];
        vs.copy_from_slice(&label[8..14]);
        let vtoc = CdlVtoc {
            blksize: bs,
            created,
            ..CdlVtoc::new(Volser::from_ebcdic(vs), self.cylinders)
        };
        let mut vol1 = vec![0xe5, 0xd6, 0xd3, 0xf1];
        vol1.extend_from_slice(&vtoc.vol1());
        self.write_bytes(2 * bsz, &vol1)?;
        let dscbs = vtoc.dscbs().map_err(|e| DriverError::Invalid(e.to_string()))?;
        let bpt = u64::from(self.blocks_per_track());
        for (i, d) in dscbs.iter().enumerate() {
            self.write_bytes((bpt + i as u64) * bsz, d)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::driver::tests::on_3390;
    use crate::ControlUnit;

    #[test]
    fn format_request_refuses_more_tracks_than_one_request_holds_and_bad_sizes() {
        let mut d = on_3390(ControlUnit::Model6, 5, true);
        let e = d.format_request(0, 21, 4096, Intensity::Format(DiskLayout::Ldl));
        assert!(matches!(e, Err(DriverError::Invalid(_))), "{e:?}");
        let e = d.format_request(0, 0, 1000, Intensity::Format(DiskLayout::Ldl));
        assert!(matches!(e, Err(DriverError::Invalid(_))), "{e:?}");
        assert_eq!(d.commands(), &[] as &[u8], "nothing started");
    }

    #[test]
    fn format_splits_a_range_into_requests_of_255_ccws() {
        let mut d = on_3390(ControlUnit::Model3, 5, true);
        d.online().unwrap();
        let before = d.commands().len();
        d.format(0, 29, 4096, Intensity::Format(DiskLayout::Ldl)).unwrap();
        let c = &d.commands()[before..];
        // 21 tracks of 12 records, then 9: two programs, each DX + LR.
        assert_eq!(c.iter().filter(|&&x| x == DEFINE_EXTENT).count(), 2);
        assert_eq!(c.len(), 2 * 2 + 30 * 12);
        assert_eq!(d.analyze().unwrap(), Layout::Ldl(4096));
    }
}
