//! The channel programs' building blocks as Linux writes them: the CCW
//! list with its parameter area ([`Cp`]), the parameter blocks of DEFINE
//! EXTENT, LOCATE RECORD, LOCATE RECORD EXTENDED and PREFIX
//! (`dasd_eckd.c`: `define_extent`, `locate_record`, `locate_record_ext`,
//! `prefix_LRE`; `shared/spec/dasd-notes.md` §4), and the 3390 arithmetic
//! they use (`recs_per_track`, the sector of a record, the CCHH of a
//! track).

use crate::geometry;

/// Command codes (Linux `dasd_eckd.h`, cio's `device_id.c` and
/// `device_pgid.c`).
pub mod cmd {
    /// BASIC SENSE.
    pub const SENSE: u8 = 0x04;
    /// READ DATA.
    pub const READ: u8 = 0x06;
    /// READ COUNT.
    pub const READ_COUNT: u8 = 0x12;
    /// WRITE COUNT, KEY AND DATA.
    pub const WRITE_CKD: u8 = 0x1d;
    /// PERFORM SUBSYSTEM FUNCTION.
    pub const PSF: u8 = 0x27;
    /// SENSE PATH GROUP ID.
    pub const SNID: u8 = 0x34;
    /// READ SUBSYSTEM DATA.
    pub const RSSD: u8 = 0x3e;
    /// LOCATE RECORD.
    pub const LOCATE_RECORD: u8 = 0x47;
    /// LOCATE RECORD EXTENDED.
    pub const LOCATE_RECORD_EXT: u8 = 0x4b;
    /// DEFINE EXTENT.
    pub const DEFINE_EXTENT: u8 = 0x63;
    /// READ DEVICE CHARACTERISTICS.
    pub const RDC: u8 = 0x64;
    /// WRITE DATA (multitrack).
    pub const WRITE_MT: u8 = 0x85;
    /// READ DATA (multitrack).
    pub const READ_MT: u8 = 0x86;
    /// WRITE KEY AND DATA (multitrack).
    pub const WRITE_KD_MT: u8 = 0x8d;
    /// READ KEY AND DATA (multitrack).
    pub const READ_KD_MT: u8 = 0x8e;
    /// WRITE COUNT, KEY AND DATA (multitrack).
    pub const WRITE_CKD_MT: u8 = 0x9d;
    /// WRITE TRACK DATA.
    pub const WRITE_TRACK_DATA: u8 = 0xa5;
    /// READ TRACK DATA.
    pub const READ_TRACK_DATA: u8 = 0xa6;
    /// SET PATH GROUP ID.
    pub const SPID: u8 = 0xaf;
    /// SENSE ID.
    pub const SENSE_ID: u8 = 0xe4;
    /// PREFIX.
    pub const PFX: u8 = 0xe7;
    /// READ CONFIGURATION DATA.
    pub const RCD: u8 = 0xfa;
}
use cmd::*;

/// CCW flag: command chaining.
const CC: u8 = 0x40;
/// CCW flag: suppress length indication.
pub(super) const SLI: u8 = 0x20;
/// CCW flag: indirect data addressing.
const IDA: u8 = 0x04;

/// CDL record lengths (key and data) of track 0's records 1–3 (Linux
/// `sizes_trk0`).
pub const SIZES_TRK0: [u16; 3] = [28, 148, 84];
/// Key plus data of a CDL track-1 record: one DSCB (Linux `LABEL_SIZE`).
pub const LABEL_SIZE: u16 = 140;

/// The time stamp of write DEFINE EXTENTs (Linux `set_timestamp` takes
/// the TOD clock; a fixed value keeps recorded traces replayable).
const TIMESTAMP: u64 = 0x00d8_1234_5678_9abc;

/// A channel program being built: its format-1 CCWs and the parameters
/// they point to, laid out from `base` on when it runs.
#[derive(Debug, Clone)]
pub(super) struct Cp {
    pub(super) ccws: Vec<[u8; 8]>,
    pub(super) data: Vec<u8>,
    pub(super) base: u64,
}

impl Cp {
    /// An empty program whose parameters go to `base`.
    pub(super) const fn new(base: u64) -> Self {
        Self {
            ccws: Vec::new(),
            data: Vec::new(),
            base,
        }
    }

    /// Places `bytes` among the program's parameters; returns their
    /// address.
    pub(super) fn data(&mut self, bytes: &[u8]) -> u32 {
        let at = self.base + self.data.len() as u64;
        self.data.extend_from_slice(bytes);
        self.data.resize(self.data.len().next_multiple_of(8), 0);
        u32::try_from(at).unwrap_or(u32::MAX)
    }

    /// Reserves `len` bytes for the device to fill.
    pub(super) fn area(&mut self, len: usize) -> u32 {
        let at = self.base + self.data.len() as u64;
        self.data.resize((self.data.len() + len).next_multiple_of(8), 0);
        u32::try_from(at).unwrap_or(u32::MAX)
    }

    /// A format-1 CCW; the previous one gets command chaining.
    pub(super) fn ccw(&mut self, cmd: u8, flags: u8, count: u16, cda: u32) {
        if let Some(prev) = self.ccws.last_mut() {
            prev[1] |= CC;
        }
        let c = count.to_be_bytes();
        let a = cda.to_be_bytes();
        self.ccws.push([cmd, flags, c[0], c[1], a[0], a[1], a[2], a[3]]);
    }

    /// A CCW sending `bytes`.
    pub(super) fn out(&mut self, cmd: u8, flags: u8, bytes: &[u8]) {
        let a = self.data(bytes);
        self.ccw(cmd, flags, u16::try_from(bytes.len()).unwrap_or(u16::MAX), a);
    }

    /// A CCW whose data are addressed by format-2 IDAWs covering `len`
    /// bytes at `buf` (the first IDAW anywhere, the next ones at 4K
    /// boundaries, as Linux `idal_create_words` writes them).
    pub(super) fn idal(&mut self, cmd: u8, flags: u8, buf: u64, len: usize) {
        let mut idaws = Vec::new();
        let mut a = buf;
        let end = buf + len as u64;
        while a < end {
            idaws.extend_from_slice(&a.to_be_bytes());
            a = (a & !0xfff) + 0x1000;
        }
        let at = self.data(&idaws);
        self.ccw(cmd, flags | IDA, u16::try_from(len).unwrap_or(u16::MAX), at);
    }

    /// Linux `define_extent`: 16 bytes, or 32 with the time stamp of
    /// writes (count 32 and SLI).
    pub(super) fn define_extent(&mut self, trk: u32, totrk: u32, cmd: u8, blksize: u16, r0_perm: bool) {
        let d = extent(trk, totrk, cmd, blksize, r0_perm);
        let flags = if d.len() == 32 { SLI } else { 0 };
        self.out(DEFINE_EXTENT, flags, &d);
    }

    /// Linux `prefix_LRE`: PREFIX format 0 (a DEFINE EXTENT) or 1 (with a
    /// LOCATE RECORD EXTENDED), 64 bytes; `ned` is the device NED whose
    /// unit address and subsystem id bytes it carries.
    pub(super) fn prefix(&mut self, ned: &[u8; 32], dx: &[u8], lre: Option<[u8; 20]>) {
        let mut p = vec![u8::from(lre.is_some()), 0x80, ned[31], 0, ned[30], 0, 0, 0, 0, 0, 0, 0];
        if dx.len() == 32 {
            p[1] |= 0x40;
        }
        p.extend_from_slice(dx);
        p.resize(44, 0);
        p.extend_from_slice(&lre.unwrap_or([0; 20]));
        self.out(PFX, 0, &p);
    }
}

/// Records of data length `dl` (no key) per 3390 track (Linux
/// `recs_per_track`).
#[must_use]
pub fn recs_per_track(dl: u16) -> u32 {
    geometry::records_per_track(0, dl)
}

/// The 3390 sector of record `rec` of `reclen` bytes (Linux
/// `locate_record`).
pub(super) fn sector(rec: u32, reclen: u32) -> u8 {
    if rec == 0 {
        return 0;
    }
    let dn = (reclen + 6).div_ceil(232);
    let d = 9 + (reclen + 6 * (dn + 1)).div_ceil(34);
    u8::try_from((49 + (rec - 1) * (10 + d)) / 8).unwrap_or(0xff)
}

/// The CCHH of relative track `trk` (cylinders beyond 65,535 keep their
/// high bits in the head field, Linux `set_ch_t`).
pub(super) fn cchh(trk: u32) -> [u8; 4] {
    let (c, h) = (trk / 15, trk % 15);
    let cc = u16::try_from(c & 0xffff).unwrap_or(0);
    let hh = u16::try_from(((c >> 16) << 4) | h).unwrap_or(0);
    let [c0, c1] = cc.to_be_bytes();
    let [h0, h1] = hh.to_be_bytes();
    [c0, c1, h0, h1]
}

/// An 8-byte count field of record `rec` on relative track `trk`.
pub(super) fn count_field(trk: u32, rec: u8, kl: u8, dl: u16) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&cchh(trk));
    b[4] = rec;
    b[5] = kl;
    b[6..].copy_from_slice(&dl.to_be_bytes());
    b
}

/// The DEFINE EXTENT parameters (Linux `define_extent`): 16 bytes, or 32
/// with the time stamp of writes.
pub(super) fn extent(trk: u32, totrk: u32, cmd: u8, blksize: u16, r0_perm: bool) -> Vec<u8> {
    let mut d = [0u8; 32];
    let (mask, attr, stamp, bs) = match cmd {
        READ_COUNT => (0x40, 0xc4, false, 0),
        WRITE_MT | WRITE_KD_MT => (0x80, 0xc0, true, 0),
        WRITE_CKD | WRITE_CKD_MT => (0x00, 0xc4, true, 0),
        WRITE_TRACK_DATA => (0x80, 0xc0, true, blksize),
        // READ_MT, READ_KD_MT, READ_TRACK_DATA.
        _ => (0x40, 0xc0, false, 0),
    };
    d[0] = mask;
    d[1] = attr;
    d[2..4].copy_from_slice(&bs.to_be_bytes());
    if r0_perm {
        d[7] |= 0x04;
    }
    d[8..12].copy_from_slice(&cchh(trk));
    d[12..16].copy_from_slice(&cchh(totrk));
    if stamp {
        d[7] |= 0x0a;
        d[16..24].copy_from_slice(&TIMESTAMP.to_be_bytes());
        d.to_vec()
    } else {
        d[..16].to_vec()
    }
}

/// Linux `locate_record` parameters: `no_rec` records of `reclen` bytes
/// from record `rec` of track `trk`, for `cmd`.
pub(super) fn locate(trk: u32, rec: u32, no_rec: u8, cmd: u8, reclen: u16) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[13] = sector(rec, u32::from(reclen));
    b[3] = no_rec;
    let (op, aux, len) = match cmd {
        WRITE_MT | WRITE_KD_MT => (0x01, 0x80, reclen),
        WRITE_CKD | WRITE_CKD_MT => (0x03, 0x80, reclen),
        READ_COUNT => (0x06, 0, 0),
        // READ_MT, READ_KD_MT.
        _ => (0x06, 0x80, reclen),
    };
    b[0] = op;
    b[1] = aux;
    b[14..16].copy_from_slice(&len.to_be_bytes());
    b[4..8].copy_from_slice(&cchh(trk));
    b.copy_within(4..8, 8);
    b[12] = u8::try_from(rec).unwrap_or(0xff);
    b
}

/// Linux `locate_record_ext` parameters for the track-mode commands:
/// `count` tracks from record `rec` of track `trk`, transfer length factor
/// `tlf` on reads.
pub(super) fn locate_ext(trk: u32, rec: u32, count: u8, cmd: u8, reclen: u16, tlf: u16) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[13] = sector(rec, u32::from(reclen));
    b[3] = count;
    b[1] = 0x80;
    if cmd == WRITE_TRACK_DATA {
        b[0] = 0x3f;
        b[17] = 0x23;
        b[14..16].copy_from_slice(&reclen.to_be_bytes());
    } else {
        b[0] = 0x0c;
        b[14..16].copy_from_slice(&tlf.to_be_bytes());
    }
    b[4..8].copy_from_slice(&cchh(trk));
    b.copy_within(4..8, 8);
    b[12] = u8::try_from(rec).unwrap_or(0xff);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recs_per_track_is_linux_s_3390_table() {
        let got: Vec<u32> = [512, 1024, 2048, 4096].iter().map(|&b| recs_per_track(b)).collect();
        assert_eq!(got, vec![49, 33, 21, 12]);
        assert_eq!(
            geometry::records_per_track(44, 96),
            50,
            "a track of DSCBs holds more than twelve"
        );
        assert_eq!(geometry::records_per_track(4, 24), 55);
    }

    #[test]
    fn sector_of_record_zero_is_zero_and_grows_with_the_record() {
        assert_eq!(sector(0, 4096), 0);
        assert_eq!(sector(1, 4096), 6);
        assert!(sector(12, 4096) > sector(11, 4096));
        assert!(sector(12, 4096) < 224);
    }

    #[test]
    fn cchh_keeps_high_cylinder_bits_in_the_head_field() {
        assert_eq!(cchh(16), [0, 1, 0, 1]);
        let t = 70_000 * 15 + 3;
        assert_eq!(cchh(t), [0x11, 0x70, 0x00, 0x13]);
    }

    #[test]
    fn extent_of_writes_carries_the_time_stamp_and_r0_permission() {
        let w = extent(0, 14, WRITE_CKD, 0, true);
        assert_eq!(w.len(), 32);
        assert_eq!(w[7], 0x0e);
        assert_eq!(&w[16..24], &TIMESTAMP.to_be_bytes());
        let r = extent(2, 3, READ_MT, 0, false);
        assert_eq!(r.len(), 16);
        assert_eq!(&r[8..16], &[0, 0, 0, 2, 0, 0, 0, 3]);
    }

    #[test]
    fn prefix_is_64_bytes_with_or_without_locate_record_extended() {
        let ned = [0u8; 32];
        let mut cp = Cp::new(0x1000);
        cp.prefix(&ned, &extent(0, 0, READ_MT, 0, false), None);
        cp.prefix(&ned, &extent(0, 0, WRITE_TRACK_DATA, 4096, false), Some([7; 20]));
        assert_eq!(cp.ccws[0][2..4], [0, 64]);
        assert_eq!(cp.ccws[1][2..4], [0, 64]);
        assert_eq!(cp.ccws[0][1], CC, "chained to the next");
        assert_eq!(&cp.data[64 + 44..128], &[7; 20]);
        assert_eq!(cp.data[65], 0xc0, "write PREFIX says its extent has a time stamp");
    }
}
