//! The track image: how one CKD track is laid out as bytes, in memory and
//! in Hercules images alike.
//!
//! ```text
//! HA   5 bytes   flag (0), CC (2), HH (2)
//! R0   count 8   CC (2) HH (2) R (1) KL (1) DL (2), then key and data
//! R1…  count 8   then KL key bytes and DL data bytes
//! end  8 bytes   FF FF FF FF FF FF FF FF
//! ```
//!
//! All fields are big-endian. A track image is *well formed* when its home
//! address is there, every count is complete and followed by its key and
//! data, R0 comes first with record number 0, and the end marker closes it
//! (Hercules `ckddasd.c` track layout; `shared/spec/dasd-notes.md` §5).
//! [`Records`] walks a track image without allocating and reports the first
//! flaw as a [`TrackFormatError`]; nothing here panics on any bytes.

use thiserror::Error;

use crate::geometry;

/// Length of the home address.
pub const HA_LEN: usize = 5;
/// Length of a count field.
pub const COUNT_LEN: usize = 8;
/// The end-of-track marker.
pub const END_MARKER: [u8; 8] = [0xff; 8];

/// A track: cylinder and head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackAddr {
    /// Cylinder.
    pub cyl: u32,
    /// Head (0..15).
    pub head: u32,
}

impl TrackAddr {
    /// The track (`cyl`, `head`).
    #[must_use]
    pub const fn new(cyl: u32, head: u32) -> Self {
        Self { cyl, head }
    }

    /// The relative track number (cylinder · 15 + head).
    #[must_use]
    pub const fn index(self) -> u64 {
        self.cyl as u64 * geometry::HEADS as u64 + self.head as u64
    }

    /// The track of relative track number `t`.
    #[must_use]
    pub fn from_index(t: u64) -> Self {
        let heads = u64::from(geometry::HEADS);
        Self {
            cyl: u32::try_from(t / heads).unwrap_or(u32::MAX),
            head: u32::try_from(t % heads).unwrap_or(0),
        }
    }

    /// The next track (head 14 → next cylinder, head 0).
    #[must_use]
    pub const fn next(self) -> Self {
        if self.head + 1 >= geometry::HEADS {
            Self {
                cyl: self.cyl.wrapping_add(1),
                head: 0,
            }
        } else {
            Self {
                cyl: self.cyl,
                head: self.head + 1,
            }
        }
    }

    /// The CCHH form of counts and seek arguments (cylinder and head as
    /// 16-bit fields; `None` beyond 65,535 cylinders).
    #[must_use]
    pub fn cchh(self) -> Option<[u8; 4]> {
        let c = u16::try_from(self.cyl).ok()?;
        let h = u16::try_from(self.head).ok()?;
        let [c0, c1] = c.to_be_bytes();
        let [h0, h1] = h.to_be_bytes();
        Some([c0, c1, h0, h1])
    }

    /// The track a CCHH names.
    #[must_use]
    pub fn from_cchh(b: [u8; 4]) -> Self {
        Self {
            cyl: u32::from(u16::from_be_bytes([b[0], b[1]])),
            head: u32::from(u16::from_be_bytes([b[2], b[3]])),
        }
    }
}

impl std::fmt::Display for TrackAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.cyl, self.head)
    }
}

/// A count field: the record's identifier (CCHHR), key length and data
/// length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Count {
    /// Cylinder (CC).
    pub cyl: u16,
    /// Head (HH).
    pub head: u16,
    /// Record number (R).
    pub rec: u8,
    /// Key length.
    pub kl: u8,
    /// Data length.
    pub dl: u16,
}

impl Count {
    /// A count.
    #[must_use]
    pub const fn new(cyl: u16, head: u16, rec: u8, kl: u8, dl: u16) -> Self {
        Self { cyl, head, rec, kl, dl }
    }

    /// Decodes the stored form.
    #[must_use]
    pub const fn from_bytes(b: [u8; 8]) -> Self {
        Self {
            cyl: u16::from_be_bytes([b[0], b[1]]),
            head: u16::from_be_bytes([b[2], b[3]]),
            rec: b[4],
            kl: b[5],
            dl: u16::from_be_bytes([b[6], b[7]]),
        }
    }

    /// Encodes the stored form.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 8] {
        let [c0, c1] = self.cyl.to_be_bytes();
        let [h0, h1] = self.head.to_be_bytes();
        let [d0, d1] = self.dl.to_be_bytes();
        [c0, c1, h0, h1, self.rec, self.kl, d0, d1]
    }

    /// The record identifier CCHHR.
    #[must_use]
    pub const fn cchhr(self) -> [u8; 5] {
        let b = self.to_bytes();
        [b[0], b[1], b[2], b[3], b[4]]
    }

    /// Bytes of the record: count, key and data.
    #[must_use]
    pub const fn record_len(self) -> usize {
        COUNT_LEN + self.kl as usize + self.dl as usize
    }
}

/// Why a track image is not well formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum TrackFormatError {
    /// Shorter than a home address, R0 and the end marker.
    #[error("track image too short")]
    Short,
    /// A count, key or data area runs past the end of the image.
    #[error("record at offset {0} runs past the end of the track")]
    Truncated(usize),
    /// The first record is not R0.
    #[error("the first record is not record zero")]
    NoRecordZero,
    /// More records than can exist on a track (a loop guard).
    #[error("too many records on the track")]
    TooMany,
}

/// One record of a track image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Offset of its count field in the image.
    pub offset: usize,
    /// Its count field.
    pub count: Count,
}

impl Record {
    /// Offset of the key area.
    #[must_use]
    pub const fn key_offset(&self) -> usize {
        self.offset + COUNT_LEN
    }

    /// Offset of the data area.
    #[must_use]
    pub const fn data_offset(&self) -> usize {
        self.offset + COUNT_LEN + self.count.kl as usize
    }

    /// Offset just past the record.
    #[must_use]
    pub const fn end(&self) -> usize {
        self.offset + self.count.record_len()
    }
}

/// The most records a track image may hold (R0 plus R1…R255 of zero
/// length would exceed the track long before).
pub const MAX_RECORDS: usize = 256;

/// The records of a track image, R0 first, up to the end marker.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    image: &'a [u8],
    pos: usize,
    n: usize,
    done: bool,
}

impl<'a> Records<'a> {
    /// Walks `image` (which starts with the home address).
    #[must_use]
    pub const fn new(image: &'a [u8]) -> Self {
        Self {
            image,
            pos: HA_LEN,
            n: 0,
            done: false,
        }
    }

    /// Offset of the end marker, once the walk reached it.
    #[must_use]
    pub const fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Record, TrackFormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let fail = |s: &mut Self, e| {
            s.done = true;
            Some(Err(e))
        };
        let Some(raw) = self.image.get(self.pos..self.pos + COUNT_LEN) else {
            return fail(self, TrackFormatError::Truncated(self.pos));
        };
        if raw == END_MARKER {
            self.done = true;
            if self.n == 0 {
                return Some(Err(TrackFormatError::NoRecordZero));
            }
            return None;
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(raw);
        let count = Count::from_bytes(b);
        if self.n == 0 && count.rec != 0 {
            return fail(self, TrackFormatError::NoRecordZero);
        }
        if self.n >= MAX_RECORDS {
            return fail(self, TrackFormatError::TooMany);
        }
        let rec = Record {
            offset: self.pos,
            count,
        };
        if rec.end() + COUNT_LEN > self.image.len() {
            return fail(self, TrackFormatError::Truncated(self.pos));
        }
        self.pos = rec.end();
        self.n += 1;
        Some(Ok(rec))
    }
}

/// The home address of a track image: its CCHH.
///
/// # Errors
/// [`TrackFormatError::Short`] when the image has no home address.
pub fn home_address(image: &[u8]) -> Result<[u8; 4], TrackFormatError> {
    match image.get(1..HA_LEN) {
        Some(b) => Ok([b[0], b[1], b[2], b[3]]),
        None => Err(TrackFormatError::Short),
    }
}

/// Checks a whole track image and returns its length up to and including
/// the end marker.
///
/// # Errors
/// The first flaw.
pub fn validate(image: &[u8]) -> Result<usize, TrackFormatError> {
    if image.len() < HA_LEN + COUNT_LEN + COUNT_LEN {
        return Err(TrackFormatError::Short);
    }
    let mut it = Records::new(image);
    for r in it.by_ref() {
        r?;
    }
    Ok(it.position() + COUNT_LEN)
}

/// Cells the records of a well-formed image take against the track
/// capacity ([`geometry::TRACK_CELLS`]); `None` if it is not well formed.
#[must_use]
pub fn used_cells(image: &[u8]) -> Option<u32> {
    let mut cells = 0u32;
    for (i, r) in Records::new(image).enumerate() {
        let c = r.ok()?.count;
        cells += if i == 0 {
            geometry::r0_extra_cells(c.kl, c.dl)
        } else {
            geometry::record_cells(c.kl, c.dl)
        };
    }
    Some(cells)
}

/// Builds track images into a reusable buffer.
#[derive(Debug, Default, Clone)]
pub struct TrackBuilder {
    buf: Vec<u8>,
}

impl TrackBuilder {
    /// Starts the track `t`: home address and a standard R0 (no key, 8
    /// zero data bytes), as a formatted empty track.
    pub fn start(&mut self, t: TrackAddr) -> &mut Self {
        self.start_with_r0(t, 0, &[0; 8])
    }

    /// Starts the track `t` with an R0 of `kl` (≤ 255) key bytes of zero
    /// and the data `r0`.
    pub fn start_with_r0(&mut self, t: TrackAddr, kl: u8, r0: &[u8]) -> &mut Self {
        let cchh = t.cchh().unwrap_or([0xff; 4]);
        self.buf.clear();
        self.buf.push(0);
        self.buf.extend_from_slice(&cchh);
        let dl = u16::try_from(r0.len()).unwrap_or(u16::MAX);
        let count = Count::from_bytes([cchh[0], cchh[1], cchh[2], cchh[3], 0, kl, 0, 0]);
        self.buf.extend_from_slice(&Count { dl, ..count }.to_bytes());
        self.buf.resize(self.buf.len() + usize::from(kl), 0);
        self.buf.extend_from_slice(&r0[..usize::from(dl)]);
        self
    }

    /// Appends a record with this count (its KL and DL are taken from `key`
    /// and `data`, which are cut to 255 and 65,535 bytes).
    pub fn record(&mut self, count: Count, key: &[u8], data: &[u8]) -> &mut Self {
        let key = &key[..key.len().min(255)];
        let data = &data[..data.len().min(usize::from(u16::MAX))];
        let c = Count {
            kl: u8::try_from(key.len()).unwrap_or(u8::MAX),
            dl: u16::try_from(data.len()).unwrap_or(u16::MAX),
            ..count
        };
        self.buf.extend_from_slice(&c.to_bytes());
        self.buf.extend_from_slice(key);
        self.buf.extend_from_slice(data);
        self
    }

    /// Appends a record with this count, no key bytes beyond `count.kl`
    /// zeros and `count.dl` zero data bytes (a formatted empty block).
    pub fn record_zeroed(&mut self, count: Count) -> &mut Self {
        self.buf.extend_from_slice(&count.to_bytes());
        let n = usize::from(count.kl) + usize::from(count.dl);
        self.buf.resize(self.buf.len() + n, 0);
        self
    }

    /// Closes the track with the end marker and returns the image.
    pub fn finish(&mut self) -> &[u8] {
        self.buf.extend_from_slice(&END_MARKER);
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track_with(records: &[(u8, u8, u16)]) -> Vec<u8> {
        let t = TrackAddr::new(3, 4);
        let mut b = TrackBuilder::default();
        b.start(t);
        for &(r, kl, dl) in records {
            b.record(
                Count::new(3, 4, r, 0, 0),
                &vec![0xc1; usize::from(kl)],
                &vec![r; usize::from(dl)],
            );
        }
        b.finish().to_vec()
    }

    #[test]
    fn builder_and_walk_agree() {
        let img = track_with(&[(1, 4, 24), (2, 0, 4096)]);
        assert_eq!(home_address(&img), Ok([0, 3, 0, 4]));
        let recs: Vec<_> = Records::new(&img).map(Result::unwrap).collect();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].count, Count::new(3, 4, 0, 0, 8));
        assert_eq!(recs[1].count, Count::new(3, 4, 1, 4, 24));
        assert_eq!(&img[recs[1].key_offset()..recs[1].data_offset()], &[0xc1; 4]);
        assert_eq!(recs[2].count.dl, 4096);
        assert_eq!(img[recs[2].data_offset()], 2);
        assert_eq!(validate(&img), Ok(img.len()));
    }

    #[test]
    fn twelve_4k_records_use_the_track_thirteen_overflow() {
        let twelve: Vec<_> = (1..=12).map(|r| (r, 0, 4096)).collect();
        assert!(used_cells(&track_with(&twelve)).unwrap() <= geometry::TRACK_CELLS);
        let thirteen: Vec<_> = (1..=13).map(|r| (r, 0, 4096)).collect();
        assert!(used_cells(&track_with(&thirteen)).unwrap() > geometry::TRACK_CELLS);
    }

    #[test]
    fn malformed_images_are_reported_not_panicked() {
        assert_eq!(validate(&[]), Err(TrackFormatError::Short));
        let img = track_with(&[(1, 0, 100)]);
        assert_eq!(validate(&img[..img.len() - 9]), Err(TrackFormatError::Truncated(21)));
        let mut no_r0 = img.clone();
        no_r0[HA_LEN + 4] = 7;
        assert_eq!(validate(&no_r0), Err(TrackFormatError::NoRecordZero));
        let mut only_end = vec![0u8; HA_LEN];
        only_end.extend_from_slice(&END_MARKER);
        only_end.extend_from_slice(&END_MARKER);
        assert_eq!(validate(&only_end), Err(TrackFormatError::NoRecordZero));
    }

    #[test]
    fn track_addresses_convert() {
        let t = TrackAddr::new(2, 14);
        assert_eq!(t.index(), 44);
        assert_eq!(TrackAddr::from_index(44), t);
        assert_eq!(t.next(), TrackAddr::new(3, 0));
        assert_eq!(TrackAddr::from_cchh(t.cchh().unwrap()), t);
        assert_eq!(TrackAddr::new(70_000, 0).cchh(), None);
    }

    proptest::proptest! {
        #[test]
        fn walking_arbitrary_bytes_never_panics(img: Vec<u8>) {
            let _ = validate(&img);
            let _ = used_cells(&img);
            let n = Records::new(&img).take(1000).count();
            proptest::prop_assert!(n <= MAX_RECORDS + 1);
        }
    }
}
