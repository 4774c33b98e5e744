//! Volume layouts: what Hercules' `dasdinit` writes on a fresh volume, the
//! VTOC that s390-tools' `fdasd -a` writes over a CDL volume, and the
//! readers `zcss dasd ls` lists them with.
//!
//! A fresh volume (Hercules `dasdutil.c` `create_ckd_file`): every track
//! holds its home address and a standard R0 (no key, 8 zero data bytes);
//! track 0 adds IPL1 (key `IPL1`, 24 bytes: a PSW `00060000 0000000F` and
//! a NOP CCW), IPL2 (key `IPL2`, 144 zero bytes) and VOL1 (key `VOL1`, 80
//! bytes: `VOL1`, the volume serial, the VTOC pointer 0/1/1, owner
//! `HERCULES`). With `-linux`, track 0 also carries nine zero records of
//! 4,096 bytes, track 1 an empty VTOC (format-4, format-5 and — beyond
//! 65,535 tracks — format-7 DSCBs, then empty DSCBs up to R12) and every
//! other track twelve zero records of 4,096 bytes.
//!
//! The VTOC of a CDL volume with one partition (s390-tools
//! `fdasd/fdasd.c` `fdasd_auto_partition`, `libvtoc/vtoc.c`): VOL1 is
//! rewritten with blanks around the volume serial and the VTOC pointer
//! 0/1/1; track 1 holds one DSCB per block (44-byte key, 96-byte data):
//! format 4, format 5, format 7 when the volume has more than 65,536 tracks,
//! the format-1 DSCB `LINUX.V<volser>.PART0001.NATIVE` with one extent from
//! track 2 to the last track, and empty DSCBs up to the ninth block.
//!
//! Character data is EBCDIC (code page 037).

use thiserror::Error;

use crate::geometry::{self, HEADS};
use crate::store::{StoreError, TrackStore};
use crate::track::{Count, Records, TrackAddr, TrackBuilder};

/// Why a layout could not be built or read.
#[derive(Debug, Error)]
pub enum LayoutError {
    /// A volume serial that is not 1–6 letters, digits or `@ # $ -`.
    #[error("invalid volume serial {0:?}: 1 to 6 letters, digits or @ # $ -")]
    BadVolser(String),
    /// The volume has no VOL1 label in track 0 record 3.
    #[error("no VOL1 label in track 0 record 3")]
    NoLabel,
    /// A block size a CDL volume cannot have.
    #[error("block size {0} is not 512, 1024, 2048 or 4096")]
    BadBlockSize(u16),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

// ---------------------------------------------------------------- EBCDIC

/// ASCII 0x20..=0x7e in code page 037.
const CP037: [u8; 95] = [
    0x40, 0x5a, 0x7f, 0x7b, 0x5b, 0x6c, 0x50, 0x7d, 0x4d, 0x5d, 0x5c, 0x4e, 0x6b, 0x60, 0x4b, 0x61, // ' '..'/'
    0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, // '0'..'9'
    0x7a, 0x5e, 0x4c, 0x7e, 0x6e, 0x6f, 0x7c, // ':'..'@'
    0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, // 'A'..'I'
    0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, // 'J'..'R'
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, // 'S'..'Z'
    0xba, 0xe0, 0xbb, 0xb0, 0x6d, 0x79, // '['..'`'
    0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, // 'a'..'i'
    0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, // 'j'..'r'
    0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, // 's'..'z'
    0xc0, 0x4f, 0xd0, 0xa1, // '{'..'~'
];

/// EBCDIC blank.
pub const EBCDIC_BLANK: u8 = 0x40;

/// The EBCDIC (037) code of an ASCII character; `?` (0x6f) for anything
/// else.
#[must_use]
pub fn ebcdic(c: u8) -> u8 {
    c.checked_sub(0x20)
        .and_then(|i| CP037.get(usize::from(i)))
        .copied()
        .unwrap_or(0x6f)
}

/// The ASCII character of an EBCDIC (037) code; `None` outside the
/// printable set.
#[must_use]
pub fn ascii(e: u8) -> Option<u8> {
    CP037
        .iter()
        .position(|&x| x == e)
        .and_then(|i| u8::try_from(i + 0x20).ok())
}

/// Writes `s` into `out` in EBCDIC, blank-padded (cut to `out`'s length).
pub fn put_ebcdic(out: &mut [u8], s: &str) {
    out.fill(EBCDIC_BLANK);
    for (o, c) in out.iter_mut().zip(s.bytes()) {
        *o = ebcdic(c);
    }
}

/// EBCDIC bytes as text (unprintable bytes as `.`), trailing blanks cut.
#[must_use]
pub fn text(b: &[u8]) -> String {
    let s: String = b.iter().map(|&e| char::from(ascii(e).unwrap_or(b'.'))).collect();
    s.trim_end().to_owned()
}

// ---------------------------------------------------------------- volser

/// A volume serial: 1–6 characters, kept upper-case and blank-padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Volser([u8; 6]);

impl Volser {
    /// A volume serial from text (upper-cased; letters, digits, `@ # $ -`).
    ///
    /// # Errors
    /// [`LayoutError::BadVolser`].
    pub fn new(s: &str) -> Result<Self, LayoutError> {
        let ok = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'@' | b'#' | b'$' | b'-');
        if s.is_empty() || s.len() > 6 || !s.bytes().all(ok) {
            return Err(LayoutError::BadVolser(s.to_owned()));
        }
        let mut v = [b' '; 6];
        for (o, c) in v.iter_mut().zip(s.bytes()) {
            *o = c.to_ascii_uppercase();
        }
        Ok(Self(v))
    }

    /// The serial of a label's six EBCDIC bytes (unprintable bytes as `?`).
    #[must_use]
    pub fn from_ebcdic(b: [u8; 6]) -> Self {
        Self(b.map(|e| ascii(e).unwrap_or(b'?')))
    }

    /// The serial without trailing blanks.
    #[must_use]
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??????").trim_end()
    }

    /// The six EBCDIC bytes of a label.
    #[must_use]
    pub fn to_ebcdic(&self) -> [u8; 6] {
        self.0.map(ebcdic)
    }
}

impl std::fmt::Display for Volser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Volser {
    type Err = LayoutError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

// ---------------------------------------------------------------- tracks

/// Hercules' null track formats: the contents of a track an image does not
/// store (CCKD level-2 entries with position 0, Hercules `hstructs.h`
/// `CKDDASD_NULLTRK_FMT*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NullTrack {
    /// Format 0: HA, R0 and an R1 of data length 0 (end of file).
    Format0,
    /// Format 1: HA and R0 only.
    Format1,
    /// Format 2: HA, R0 and twelve zero records of 4,096 bytes (a Linux
    /// volume after `dasdfmt`; 3390 only).
    Format2,
}

impl NullTrack {
    /// Every format, by number.
    pub const ALL: [Self; 3] = [Self::Format0, Self::Format1, Self::Format2];

    /// The format number of CCKD headers and level-2 entries.
    #[must_use]
    pub const fn number(self) -> u8 {
        match self {
            Self::Format0 => 0,
            Self::Format1 => 1,
            Self::Format2 => 2,
        }
    }

    /// The format of a number (0–2).
    #[must_use]
    pub const fn from_number(n: u8) -> Option<Self> {
        match n {
            0 => Some(Self::Format0),
            1 => Some(Self::Format1),
            2 => Some(Self::Format2),
            _ => None,
        }
    }

    /// Length of the track image.
    #[must_use]
    pub const fn image_len(self) -> usize {
        match self {
            Self::Format0 => 37,
            Self::Format1 => 29,
            Self::Format2 => 5 + 16 + 12 * (8 + 4096) + 8,
        }
    }

    /// Builds the null track `t`.
    pub fn build(self, t: TrackAddr, b: &mut TrackBuilder) -> &[u8] {
        b.start(t);
        let (c, h) = count_cchh(t);
        match self {
            Self::Format0 => {
                b.record(Count::new(c, h, 1, 0, 0), &[], &[]);
            }
            Self::Format1 => {}
            Self::Format2 => {
                for r in 1..=12 {
                    b.record_zeroed(Count::new(c, h, r, 0, 4096));
                }
            }
        }
        b.finish()
    }
}

/// The 16-bit cylinder and head of a count field.
fn count_cchh(t: TrackAddr) -> (u16, u16) {
    let [c0, c1, h0, h1] = t.cchh().unwrap_or([0xff; 4]);
    (u16::from_be_bytes([c0, c1]), u16::from_be_bytes([h0, h1]))
}

/// The IPL1 record `dasdinit` writes: an IPL PSW `00060000 0000000F` and a
/// NOP CCW with count 1 (Hercules `dasdutil.c` `iplpsw`, `iplccw1`).
pub const DASDINIT_IPL1: [u8; 24] = [
    0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, //
    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// What `dasdinit` writes on a new volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeSpec {
    /// Cylinders.
    pub cylinders: u32,
    /// Volume serial of VOL1.
    pub volser: Volser,
    /// `dasdinit -linux`: null tracks of format 2 and an empty VTOC on
    /// track 1.
    pub linux: bool,
}

impl VolumeSpec {
    /// The null track format of the volume's empty tracks.
    #[must_use]
    pub const fn null_track(&self) -> NullTrack {
        if self.linux {
            NullTrack::Format2
        } else {
            NullTrack::Format1
        }
    }

    /// Tracks of the volume.
    #[must_use]
    pub const fn tracks(&self) -> u64 {
        geometry::Model::tracks(self.cylinders)
    }

    /// The track `t` as `dasdinit` writes it.
    pub fn track<'b>(&self, t: TrackAddr, b: &'b mut TrackBuilder) -> &'b [u8] {
        match t.index() {
            0 => self.track0(b),
            1 if self.linux => self.linux_vtoc_track(b),
            _ => self.null_track().build(t, b),
        }
    }

    /// Track 0: R0, IPL1, IPL2, VOL1 (and nine 4 KiB records with
    /// `-linux`).
    fn track0<'b>(&self, b: &'b mut TrackBuilder) -> &'b [u8] {
        let t = TrackAddr::new(0, 0);
        let mut key = [0u8; 4];
        b.start(t);
        put_ebcdic(&mut key, "IPL1");
        b.record(Count::new(0, 0, 1, 4, 24), &key, &DASDINIT_IPL1);
        put_ebcdic(&mut key, "IPL2");
        b.record(Count::new(0, 0, 2, 4, 144), &key, &[0; 144]);
        put_ebcdic(&mut key, "VOL1");
        b.record(Count::new(0, 0, 3, 4, 80), &key, &dasdinit_vol1(self.volser));
        if self.linux {
            for r in 4..=12 {
                b.record_zeroed(Count::new(0, 0, r, 0, 4096));
            }
        }
        b.finish()
    }

    /// Track 1 of a `-linux` volume: an empty VTOC (Hercules `dasdutil.c`
    /// `create_ckd_file`, "Track 1 for linux contains an empty VTOC").
    fn linux_vtoc_track<'b>(&self, b: &'b mut TrackBuilder) -> &'b [u8] {
        let t = TrackAddr::new(0, 1);
        let trks = self.tracks();
        let big = trks > 65_535;
        let cyls = u16::try_from(self.cylinders).unwrap_or(u16::MAX);
        b.start(t);
        let mut f4 = [0u8; 96];
        f4[0] = 0xf4;
        f4[6..8].copy_from_slice(&10u16.to_be_bytes());
        f4[14] = if big { 0xa0 } else { 0 };
        f4[15] = 1;
        f4[18..20].copy_from_slice(&cyls.to_be_bytes());
        f4[20..22].copy_from_slice(&15u16.to_be_bytes());
        f4[22..24].copy_from_slice(&DEVTK_3390.to_be_bytes());
        f4[27] = 0x30;
        f4[30] = 0x0c;
        f4[61] = 0x01;
        f4[66] = 0x01;
        f4[70] = 0x01;
        if big {
            f4[81] = 7;
            f4[85] = 1;
            f4[86] = 3;
        }
        b.record(Count::new(0, 1, 1, 44, 96), &[0x04; 44], &f4);
        let mut k5 = [0u8; 44];
        k5[..4].fill(0x05);
        if !big {
            k5[4..6].copy_from_slice(&2u16.to_be_bytes());
            k5[6..8].copy_from_slice(&cyls.wrapping_sub(1).to_be_bytes());
            k5[8] = 13;
        }
        let mut d5 = [0u8; 96];
        d5[0] = 0xf5;
        b.record(Count::new(0, 1, 2, 44, 96), &k5, &d5);
        let mut r = 3;
        if big {
            let mut k7 = [0u8; 44];
            k7[..4].fill(0x07);
            k7[4..8].copy_from_slice(&2u32.to_be_bytes());
            let last = u32::try_from(trks - 1).unwrap_or(u32::MAX);
            k7[8..12].copy_from_slice(&last.to_be_bytes());
            let mut d7 = [0u8; 96];
            d7[0] = 0xf7;
            b.record(Count::new(0, 1, 3, 44, 96), &k7, &d7);
            r = 4;
        }
        for r in r..=12 {
            b.record(Count::new(0, 1, r, 44, 96), &[0; 44], &[0; 96]);
        }
        b.finish()
    }
}

/// DS4DEVTK of a 3390: its track length, 58,786 (s390-tools `vtoc.h`
/// `DASD_3390_VALUE`, Hercules `dasdtab.c`).
pub const DEVTK_3390: u16 = 0xe5a2;

/// The VOL1 data `dasdinit` writes: `VOL1`, the serial, security blank,
/// VTOC at 0/1 record 1, owner `    HERCULES`.
#[must_use]
pub fn dasdinit_vol1(volser: Volser) -> [u8; 80] {
    let mut d = [EBCDIC_BLANK; 80];
    put_ebcdic(&mut d[0..4], "VOL1");
    d[4..10].copy_from_slice(&volser.to_ebcdic());
    d[11..16].copy_from_slice(&[0, 0, 0, 1, 1]);
    put_ebcdic(&mut d[37..51], "    HERCULES");
    d
}

// ---------------------------------------------------------------- VTOC

/// Key length of a DSCB.
pub const DSCB_KEY_LEN: u8 = 44;
/// Data length of a DSCB.
pub const DSCB_DATA_LEN: u16 = 96;
/// A DSCB as stored: 44-byte key, 96-byte data.
pub type Dscb = [u8; 140];

/// A date of a DSCB: years since 1900 and the day of the year (1–366).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DscbDate {
    /// Years since 1900.
    pub year: u8,
    /// Day of the year, 1-based.
    pub day: u16,
}

impl DscbDate {
    /// Today (UTC). fdasd stores `tm_yday`, a 0-based day; a DSCB date is
    /// an ordinal day, so this one is 1-based.
    #[must_use]
    pub fn today() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self::from_unix_days(secs / 86_400)
    }

    /// The date `days` days after 1970-01-01.
    #[must_use]
    pub fn from_unix_days(mut days: u64) -> Self {
        let mut year = 1970u64;
        loop {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            let len = if leap { 366 } else { 365 };
            if days < len {
                break;
            }
            days -= len;
            year += 1;
        }
        Self {
            year: u8::try_from(year - 1900).unwrap_or(u8::MAX),
            day: u16::try_from(days + 1).unwrap_or(366),
        }
    }

    fn bytes(self) -> [u8; 3] {
        let [d0, d1] = self.day.to_be_bytes();
        [self.year, d0, d1]
    }
}

/// The VTOC `fdasd -a` writes on a CDL volume: one partition from track 2
/// to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CdlVtoc {
    /// Volume serial.
    pub volser: Volser,
    /// Formatted cylinders of the volume.
    pub cylinders: u32,
    /// Block size the volume is formatted with (512, 1024, 2048, 4096).
    pub blksize: u16,
    /// Creation date of the partition.
    pub created: DscbDate,
}

/// Cylinders Linux reports as the geometry of a large volume (s390-tools
/// `vtoc.h` `LV_COMPAT_CYL`).
pub const LV_COMPAT_CYL: u32 = 0xfffe;

/// Tracks beyond which a VTOC keeps free space in format-7 DSCBs
/// (`BIG_DISK_SIZE`).
const BIG_DISK_TRACKS: u64 = 0x10000;

/// Blocks of the VTOC fdasd writes: format 4, 5, 7 and up to 3 × (8 + 9).
const FDASD_VTOC_BLOCKS: u8 = 9;

impl CdlVtoc {
    /// A VTOC for a volume of `cylinders` cylinders formatted with 4 KiB
    /// blocks, dated today.
    #[must_use]
    pub fn new(volser: Volser, cylinders: u32) -> Self {
        Self {
            volser,
            cylinders,
            blksize: 4096,
            created: DscbDate::today(),
        }
    }

    /// Blocks (and DSCBs) per track of the block size.
    ///
    /// # Errors
    /// [`LayoutError::BadBlockSize`].
    pub fn blocks_per_track(&self) -> Result<u8, LayoutError> {
        if !matches!(self.blksize, 512 | 1024 | 2048 | 4096) {
            return Err(LayoutError::BadBlockSize(self.blksize));
        }
        u8::try_from(geometry::records_per_track(0, self.blksize)).map_err(|_| LayoutError::BadBlockSize(self.blksize))
    }

    fn big(&self) -> bool {
        u64::from(self.cylinders) * u64::from(HEADS) > BIG_DISK_TRACKS
    }

    /// Cylinders in the geometry Linux reports (at most 65,534).
    fn compat_cylinders(&self) -> u32 {
        self.cylinders.min(LV_COMPAT_CYL)
    }

    /// The data of VOL1 as fdasd writes it: `VOL1`, the serial, VTOC at
    /// 0/1 record 1, every other byte blank.
    #[must_use]
    pub fn vol1(&self) -> [u8; 80] {
        let mut d = [EBCDIC_BLANK; 80];
        put_ebcdic(&mut d[0..4], "VOL1");
        d[4..10].copy_from_slice(&self.volser.to_ebcdic());
        d[11..16].copy_from_slice(&[0, 0, 0, 1, 1]);
        d
    }

    /// The partition's data set name, `LINUX.V<volser>.PART0001.NATIVE`
    /// (fdasd cuts the serial at its first blank).
    #[must_use]
    pub fn partition_name(&self) -> String {
        format!("LINUX.V{}.PART0001.NATIVE", self.volser.as_str())
    }

    /// The format-4 DSCB (VTOC descriptor): fdasd `vtoc_init_format4_label`
    /// and `vtoc_update_format4_label` after one partition.
    ///
    /// # Errors
    /// [`LayoutError::BadBlockSize`].
    pub fn format4(&self) -> Result<Dscb, LayoutError> {
        let blocks = self.blocks_per_track()?;
        let mut d = [0u8; 140];
        d[..44].fill(0x04);
        let x = &mut d[44..];
        x[0] = 0xf4;
        // DS4HPCHR: the highest format-1 DSCB, record 3 (4 behind a format 7).
        x[1..6].copy_from_slice(&[0, 0, 0, 1, if self.big() { 4 } else { 3 }]);
        // DS4DSREC: unused DSCBs, blocks − 2 − one partition.
        x[6..8].copy_from_slice(&u16::from(blocks.saturating_sub(3)).to_be_bytes());
        x[15] = 1; // DS4NOEXT
        let compat = u16::try_from(self.compat_cylinders()).unwrap_or(u16::MAX);
        x[18..20].copy_from_slice(&compat.to_be_bytes()); // DS4DSCYL
        x[20..22].copy_from_slice(&15u16.to_be_bytes()); // DS4DSTRK
        x[22..24].copy_from_slice(&DEVTK_3390.to_be_bytes()); // DS4DEVTK
        x[27] = 0x30; // DS4DEVFG
        x[30] = blocks; // DS4DEVDT: DSCBs per track
                        // DS4VTOCE: type 1, 0/1 to 0/1.
        x[61..71].copy_from_slice(&[1, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
        x[88..92].copy_from_slice(&self.cylinders.to_be_bytes()); // DS4DCYL
        x[94] = 0x40; // DS4DEVF2: format 8 and 9 allowed
        Ok(d)
    }

    /// The format-5 DSCB (free space): no free extents.
    #[must_use]
    pub fn format5(&self) -> Dscb {
        let mut d = [0u8; 140];
        d[..4].fill(0x05);
        d[44] = 0xf5;
        d
    }

    /// The format-7 DSCB (free space of a volume beyond 65,536 tracks):
    /// no free extents.
    #[must_use]
    pub fn format7(&self) -> Dscb {
        let mut d = [0u8; 140];
        d[..4].fill(0x07);
        d[44] = 0xf7;
        d
    }

    /// The format-1 DSCB of the partition (`vtoc_init_format1_label`).
    #[must_use]
    pub fn format1(&self) -> Dscb {
        let mut d = [0u8; 140];
        put_ebcdic(&mut d[..44], &self.partition_name());
        let x = &mut d[44..];
        x[0] = 0xf1;
        x[1..7].copy_from_slice(&self.volser.to_ebcdic()); // DS1DSSN
        x[7..9].copy_from_slice(&1u16.to_be_bytes()); // DS1VOLSQ
        x[9..12].copy_from_slice(&self.created.bytes()); // DS1CREDT
        x[12..15].copy_from_slice(&DscbDate { year: 99, day: 365 }.bytes()); // DS1EXPDT
        x[15] = 1; // DS1NOEPV
        put_ebcdic(&mut x[18..31], "IBM LINUX"); // DS1SYSCD
        x[31..34].copy_from_slice(&self.created.bytes()); // DS1REFD
        x[40] = 0x88; // DS1RECFM
        x[42..44].copy_from_slice(&self.blksize.to_be_bytes()); // DS1BLKL
        x[44..46].copy_from_slice(&self.blksize.to_be_bytes()); // DS1LRECL
        x[49] = 0x80; // DS1DSIND: last volume of the data set
        x[50] = 0x80; // DS1SCAL1
        let cyls = self.compat_cylinders();
        let last = TrackAddr::new(cyls.saturating_sub(1), HEADS - 1);
        x[61] = 1; // DS1EXT1 type
        x[63..67].copy_from_slice(&vtoc_cchh(TrackAddr::new(0, 2)));
        x[67..71].copy_from_slice(&vtoc_cchh(last));
        d
    }

    /// The DSCBs fdasd writes, first block of the VTOC first: format 4,
    /// format 5, (format 7), format 1, then empty DSCBs up to nine.
    ///
    /// # Errors
    /// [`LayoutError::BadBlockSize`].
    pub fn dscbs(&self) -> Result<Vec<Dscb>, LayoutError> {
        let mut v = vec![self.format4()?, self.format5()];
        if self.big() {
            v.push(self.format7());
        }
        v.push(self.format1());
        v.resize(usize::from(FDASD_VTOC_BLOCKS), [0; 140]);
        Ok(v)
    }

    /// Track 1 of the CDL volume: one DSCB record (key 44, data 96) per
    /// block, the VTOC's first.
    ///
    /// # Errors
    /// [`LayoutError::BadBlockSize`].
    pub fn vtoc_track<'b>(&self, b: &'b mut TrackBuilder) -> Result<&'b [u8], LayoutError> {
        let blocks = self.blocks_per_track()?;
        let dscbs = self.dscbs()?;
        b.start(TrackAddr::new(0, 1));
        for r in 1..=blocks {
            let d = dscbs.get(usize::from(r - 1)).unwrap_or(&[0; 140]);
            b.record(Count::new(0, 1, r, DSCB_KEY_LEN, DSCB_DATA_LEN), &d[..44], &d[44..]);
        }
        Ok(b.finish())
    }

    /// Writes the VTOC: VOL1 (track 0 record 3, other records kept; a
    /// track 0 without one gets dasdinit's IPL records and this VOL1) and
    /// track 1.
    ///
    /// # Errors
    /// A bad block size or a store failure.
    pub fn write(&self, store: &mut dyn TrackStore) -> Result<(), LayoutError> {
        let mut b = TrackBuilder::default();
        let img = self.vtoc_track(&mut b)?.to_vec();
        let t0 = TrackAddr::new(0, 0);
        let vol1 = self.vol1();
        let r3 = Records::new(store.read(t0)?)
            .filter_map(Result::ok)
            .find(|r| r.count.rec == 3 && r.count.kl == 4 && r.count.dl == 80);
        if let Some(r) = r3 {
            let mut key = [0u8; 4];
            put_ebcdic(&mut key, "VOL1");
            store.update(t0, r.key_offset(), &key)?;
            store.update(t0, r.data_offset(), &vol1)?;
        } else {
            let spec = VolumeSpec {
                cylinders: self.cylinders,
                volser: self.volser,
                linux: false,
            };
            let mut t = spec.track(t0, &mut b).to_vec();
            let at = t.len() - 8 - 80;
            t[at..at + 80].copy_from_slice(&vol1);
            store.write(t0, &t)?;
        }
        store.write(TrackAddr::new(0, 1), &img)?;
        Ok(())
    }
}

/// A track address in a VTOC's CCHH form: cylinders beyond 65,535 keep
/// their high 12 bits in the head field's top (libvtoc `vtoc_set_cchh`).
#[must_use]
pub fn vtoc_cchh(t: TrackAddr) -> [u8; 4] {
    let cc = u16::try_from(t.cyl & 0xffff).unwrap_or(0);
    let high = u16::try_from((t.cyl >> 16) & 0xfff).unwrap_or(0);
    let hh = (high << 4) | u16::try_from(t.head & 0xf).unwrap_or(0);
    let [c0, c1] = cc.to_be_bytes();
    let [h0, h1] = hh.to_be_bytes();
    [c0, c1, h0, h1]
}

/// The track of a VTOC CCHH (see [`vtoc_cchh`]).
#[must_use]
pub fn from_vtoc_cchh(b: [u8; 4]) -> TrackAddr {
    let cc = u32::from(u16::from_be_bytes([b[0], b[1]]));
    let hh = u32::from(u16::from_be_bytes([b[2], b[3]]));
    TrackAddr::new(cc | ((hh & 0xfff0) << 12), hh & 0xf)
}

// ---------------------------------------------------------------- reading

/// A volume label (track 0 record 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeLabel {
    /// Label identifier (`VOL1`).
    pub label: String,
    /// Volume serial.
    pub volser: Volser,
    /// The VTOC's first DSCB: track and record.
    pub vtoc: (TrackAddr, u8),
    /// Owner (bytes 37–50).
    pub owner: String,
}

/// Reads the volume label from track 0 record 3.
///
/// # Errors
/// The store failed.
pub fn read_label(store: &mut dyn TrackStore) -> Result<Option<VolumeLabel>, LayoutError> {
    let img = store.read(TrackAddr::new(0, 0))?;
    let Some(r) = Records::new(img)
        .filter_map(Result::ok)
        .find(|r| r.count.rec == 3 && r.count.dl >= 51)
    else {
        return Ok(None);
    };
    let d = &img[r.data_offset()..r.end()];
    let label = text(&d[0..4]);
    if label != "VOL1" {
        return Ok(None);
    }
    let mut ser = [0u8; 6];
    ser.copy_from_slice(&d[4..10]);
    let t = TrackAddr::from_cchh([d[11], d[12], d[13], d[14]]);
    Ok(Some(VolumeLabel {
        label,
        volser: Volser::from_ebcdic(ser),
        vtoc: (t, d[15]),
        owner: text(&d[37..51]).trim().to_owned(),
    }))
}

/// A data set (format-1 or format-8 DSCB) of a VTOC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSet {
    /// Name.
    pub name: String,
    /// DSCB format (0xf1 or 0xf8).
    pub format: u8,
    /// Extents in the DSCB: first and last track.
    pub extents: Vec<(TrackAddr, TrackAddr)>,
}

impl DataSet {
    /// Tracks of the extents.
    #[must_use]
    pub fn tracks(&self) -> u64 {
        self.extents
            .iter()
            .map(|(a, b)| (b.index() + 1).saturating_sub(a.index()))
            .sum()
    }
}

/// A VTOC as `zcss dasd ls` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VtocListing {
    /// The VTOC extent (format 4 DS4VTOCE).
    pub extent: (TrackAddr, TrackAddr),
    /// DSCBs per track (DS4DEVDT).
    pub dscbs_per_track: u8,
    /// Unused DSCBs (DS4DSREC).
    pub free_dscbs: u16,
    /// Cylinders (DS4DCYL when set, else DS4DSCYL).
    pub cylinders: u32,
    /// The data sets.
    pub data_sets: Vec<DataSet>,
}

/// Reads the VTOC the label points to; `None` when no format-4 DSCB is
/// there.
///
/// # Errors
/// The store failed.
pub fn read_vtoc(store: &mut dyn TrackStore, label: &VolumeLabel) -> Result<Option<VtocListing>, LayoutError> {
    let (t, rec) = label.vtoc;
    if crate::store::check_track(t, store.cylinders()).is_err() {
        return Ok(None);
    }
    let img = store.read(t)?;
    let Some(f4) = Records::new(img)
        .filter_map(Result::ok)
        .find(|r| r.count.rec == rec && r.count.kl == DSCB_KEY_LEN && r.count.dl == DSCB_DATA_LEN)
    else {
        return Ok(None);
    };
    let x = &img[f4.data_offset()..f4.end()];
    if x[0] != 0xf4 {
        return Ok(None);
    }
    let lo = from_vtoc_cchh([x[63], x[64], x[65], x[66]]);
    let hi = from_vtoc_cchh([x[67], x[68], x[69], x[70]]);
    let dcyl = u32::from_be_bytes([x[88], x[89], x[90], x[91]]);
    let mut listing = VtocListing {
        extent: (lo, hi),
        dscbs_per_track: x[30],
        free_dscbs: u16::from_be_bytes([x[6], x[7]]),
        cylinders: if dcyl != 0 {
            dcyl
        } else {
            u32::from(u16::from_be_bytes([x[18], x[19]]))
        },
        data_sets: Vec::new(),
    };
    let cyls = store.cylinders();
    let mut t = lo;
    // A VTOC of at most a few hundred tracks; a damaged extent is cut at
    // the end of the volume.
    while t.index() <= hi.index() && crate::store::check_track(t, cyls).is_ok() {
        let img = store.read(t)?;
        for r in Records::new(img).filter_map(Result::ok) {
            if r.count.kl != DSCB_KEY_LEN || r.count.dl != DSCB_DATA_LEN {
                continue;
            }
            let key = &img[r.key_offset()..r.data_offset()];
            let x = &img[r.data_offset()..r.end()];
            if x[0] != 0xf1 && x[0] != 0xf8 {
                continue;
            }
            let mut extents = Vec::new();
            for e in [61usize, 71, 81] {
                if x[e] != 0 {
                    let a = from_vtoc_cchh([x[e + 2], x[e + 3], x[e + 4], x[e + 5]]);
                    let b = from_vtoc_cchh([x[e + 6], x[e + 7], x[e + 8], x[e + 9]]);
                    extents.push((a, b));
                }
            }
            listing.data_sets.push(DataSet {
                name: text(key),
                format: x[0],
                extents,
            });
        }
        t = t.next();
    }
    Ok(Some(listing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;
    use crate::track::validate;

    fn vol(s: &str) -> Volser {
        Volser::new(s).unwrap()
    }

    #[test]
    fn ebcdic_round_trips_printable_ascii() {
        for c in 0x20u8..=0x7e {
            assert_eq!(ascii(ebcdic(c)), Some(c), "{}", char::from(c));
        }
        assert_eq!(ebcdic(b'A'), 0xc1);
        assert_eq!(ebcdic(b'0'), 0xf0);
        assert_eq!(ebcdic(b' '), 0x40);
        assert_eq!(ascii(0x00), None);
    }

    #[test]
    fn volser_is_checked_and_upper_cased() {
        assert_eq!(vol("vol001").as_str(), "VOL001");
        assert_eq!(vol("ab").to_ebcdic(), [0xc1, 0xc2, 0x40, 0x40, 0x40, 0x40]);
        assert!(Volser::new("").is_err());
        assert!(Volser::new("TOOLONG").is_err());
        assert!(Volser::new("A B").is_err());
    }

    #[test]
    fn dasdinit_track0_has_ipl_records_and_label() {
        let spec = VolumeSpec {
            cylinders: 10,
            volser: vol("TST001"),
            linux: false,
        };
        let mut b = TrackBuilder::default();
        let img = spec.track(TrackAddr::new(0, 0), &mut b).to_vec();
        let recs: Vec<_> = Records::new(&img).map(Result::unwrap).collect();
        assert_eq!(recs.len(), 4);
        assert_eq!(recs[1].count, Count::new(0, 0, 1, 4, 24));
        assert_eq!(
            &img[recs[1].key_offset()..recs[1].data_offset()],
            &[0xc9, 0xd7, 0xd3, 0xf1]
        );
        assert_eq!(&img[recs[1].data_offset()..recs[1].end()], &DASDINIT_IPL1);
        assert_eq!(recs[3].count, Count::new(0, 0, 3, 4, 80));
        let mut s = MemStore::new(10);
        s.write(TrackAddr::new(0, 0), &img).unwrap();
        let l = read_label(&mut s).unwrap().unwrap();
        assert_eq!(l.volser, vol("TST001"));
        assert_eq!(l.vtoc, (TrackAddr::new(0, 1), 1));
        assert_eq!(l.owner, "HERCULES");
        // A plain dasdinit volume has no VTOC.
        assert_eq!(read_vtoc(&mut s, &l).unwrap(), None);
    }

    #[test]
    fn null_tracks_have_their_lengths() {
        let mut b = TrackBuilder::default();
        for f in NullTrack::ALL {
            let img = f.build(TrackAddr::new(5, 3), &mut b);
            assert_eq!(img.len(), f.image_len());
            assert_eq!(validate(img), Ok(f.image_len()));
            assert_eq!(NullTrack::from_number(f.number()), Some(f));
        }
    }

    #[test]
    fn linux_volume_has_an_empty_vtoc_on_track1() {
        let spec = VolumeSpec {
            cylinders: 100,
            volser: vol("LNX001"),
            linux: true,
        };
        let mut b = TrackBuilder::default();
        let mut s = MemStore::new(100);
        for t in [TrackAddr::new(0, 0), TrackAddr::new(0, 1)] {
            let img = spec.track(t, &mut b).to_vec();
            s.write(t, &img).unwrap();
        }
        let l = read_label(&mut s).unwrap().unwrap();
        let v = read_vtoc(&mut s, &l).unwrap().unwrap();
        assert_eq!(v.extent, (TrackAddr::new(0, 1), TrackAddr::new(0, 1)));
        assert_eq!(v.dscbs_per_track, 12);
        assert_eq!(v.free_dscbs, 10);
        assert_eq!(v.cylinders, 100);
        assert!(v.data_sets.is_empty());
        let recs = Records::new(s.read(TrackAddr::new(0, 1)).unwrap()).count();
        assert_eq!(recs, 13);
    }

    #[test]
    fn fdasd_vtoc_lists_one_partition_over_the_volume() {
        let spec = VolumeSpec {
            cylinders: 3339,
            volser: vol("VOL001"),
            linux: false,
        };
        let mut b = TrackBuilder::default();
        let mut s = MemStore::new(3339);
        let img = spec.track(TrackAddr::new(0, 0), &mut b).to_vec();
        s.write(TrackAddr::new(0, 0), &img).unwrap();
        let vtoc = CdlVtoc::new(vol("VOL001"), 3339);
        vtoc.write(&mut s).unwrap();
        let l = read_label(&mut s).unwrap().unwrap();
        assert_eq!(l.owner, "");
        let v = read_vtoc(&mut s, &l).unwrap().unwrap();
        assert_eq!(v.free_dscbs, 9);
        assert_eq!(v.data_sets.len(), 1);
        let ds = &v.data_sets[0];
        assert_eq!(ds.name, "LINUX.VVOL001.PART0001.NATIVE");
        assert_eq!(ds.extents, vec![(TrackAddr::new(0, 2), TrackAddr::new(3338, 14))]);
        assert_eq!(ds.tracks(), 50_085 - 2);
    }

    #[test]
    fn big_volume_vtoc_has_a_format7_and_points_past_it() {
        let vtoc = CdlVtoc::new(vol("BIG001"), 10_017);
        let d = vtoc.dscbs().unwrap();
        assert_eq!(d[2][44], 0xf7);
        assert_eq!(d[3][44], 0xf1);
        assert_eq!(vtoc.format4().unwrap()[44 + 5], 4);
        assert_eq!(d.len(), 9);
    }

    #[test]
    fn vtoc_cchh_encodes_large_cylinders() {
        let t = TrackAddr::new(0x1_2345, 7);
        assert_eq!(vtoc_cchh(t), [0x23, 0x45, 0x00, 0x17]);
        assert_eq!(from_vtoc_cchh(vtoc_cchh(t)), t);
    }

    #[test]
    fn dates_count_ordinal_days() {
        assert_eq!(DscbDate::from_unix_days(0), DscbDate { year: 70, day: 1 });
        // 2000-12-31 is day 366 of a leap year.
        assert_eq!(DscbDate::from_unix_days(11_322), DscbDate { year: 100, day: 366 });
    }

    #[test]
    fn bad_block_size_is_refused() {
        let mut v = CdlVtoc::new(vol("X"), 10);
        v.blksize = 1000;
        assert!(matches!(v.format4(), Err(LayoutError::BadBlockSize(1000))));
    }
}
