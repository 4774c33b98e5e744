//! The headers of Hercules CKD images (Hercules `hstructs.h`
//! `CKDDASD_DEVHDR`, `CCKDDASD_DEVHDR`).
//!
//! ```text
//! device header, 512 bytes, every image file
//!   0   8  identifier: CKD_P370 (plain), CKD_C370 (compressed), CKD_S370 (shadow)
//!   8   4  heads per cylinder, little-endian
//!  12   4  track slot size, little-endian (56,832 for a 3390)
//!  16   1  device type, last two digits (0x90 for a 3390)
//!  17   1  file sequence number (0 = only file, 1… of a split volume)
//!  18   2  highest cylinder in this file, little-endian (0 = last file)
//! compressed header, 512 bytes at 512 (CCKD only); multi-byte fields in
//! the byte order bit 0x02 of `options` names (big-endian when set)
//!   0   3  version, release, modification (0.3.1)
//!   3   1  options: 0x01 no fudge, 0x02 big-endian, 0x20 space errors,
//!          0x40 opened read-write since the last check, 0x80 opened
//!   4   4  level-1 entries      8  level-2 entries (256)
//!  12   4  file size           16  bytes used
//!  20   4  first free space    24  free bytes in total
//!  28   4  largest free space  32  free spaces
//!  36   4  free bytes inside track spaces (size − length)
//!  40   4  cylinders, little-endian always
//!  44   1  null track format   45  compression (0 none, 1 zlib, 2 bzip2)
//!  46   2  compression parameter (−1 = default)
//! ```

use crate::geometry;

/// Length of the device header and of the compressed header.
pub const HEADER_LEN: usize = 512;
/// Offset of the level-1 table in a CCKD image.
pub const L1_POS: u64 = 1024;
/// The track slot of a 3390 image: `round_up(5 + 8 + 8 + 8 + 56,664 + 8,
/// 512)` (Hercules `dasdutil.c` `create_ckd`).
pub const TRACK_SLOT_3390: u32 = 56_832;
/// Device type byte of a 3390 image.
pub const DEVTYPE_3390: u8 = 0x90;

/// `options`: opened read-write since the last `cckdcdsk`.
pub const OPT_ORDWR: u8 = 0x40;
/// `options`: opened (not closed cleanly).
pub const OPT_OPENED: u8 = 0x80;
/// `options`: fields are big-endian.
pub const OPT_BIGENDIAN: u8 = 0x02;
/// `options`: the deprecated "no fudge" bit `dasdinit` still sets.
pub const OPT_NOFUDGE: u8 = 0x01;

/// What an image file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageKind {
    /// `CKD_P370`: fixed track slots.
    Plain,
    /// `CKD_C370`: compressed.
    Compressed,
    /// `CKD_S370`: a compressed shadow file.
    Shadow,
}

impl ImageKind {
    /// The identifier of the device header.
    #[must_use]
    pub const fn id(self) -> &'static [u8; 8] {
        match self {
            Self::Plain => b"CKD_P370",
            Self::Compressed => b"CKD_C370",
            Self::Shadow => b"CKD_S370",
        }
    }

    /// The kind of an identifier.
    #[must_use]
    pub fn from_id(b: &[u8]) -> Option<Self> {
        [Self::Plain, Self::Compressed, Self::Shadow]
            .into_iter()
            .find(|k| &k.id()[..] == b)
    }
}

/// The device header of an image file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevHeader {
    /// The file's kind.
    pub kind: ImageKind,
    /// Heads per cylinder.
    pub heads: u32,
    /// Track slot size.
    pub track_size: u32,
    /// Device type byte.
    pub devtype: u8,
    /// File sequence number.
    pub fileseq: u8,
    /// Highest cylinder of this file (0 = last file).
    pub highcyl: u16,
}

impl DevHeader {
    /// The header of a 3390 image file.
    #[must_use]
    pub const fn new_3390(kind: ImageKind) -> Self {
        Self {
            kind,
            heads: geometry::HEADS,
            track_size: TRACK_SLOT_3390,
            devtype: DEVTYPE_3390,
            fileseq: 0,
            highcyl: 0,
        }
    }

    /// Decodes a header; `None` when the identifier is unknown.
    #[must_use]
    pub fn parse(b: &[u8; HEADER_LEN]) -> Option<Self> {
        Some(Self {
            kind: ImageKind::from_id(&b[..8])?,
            heads: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            track_size: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
            devtype: b[16],
            fileseq: b[17],
            highcyl: u16::from_le_bytes([b[18], b[19]]),
        })
    }

    /// Encodes the header.
    #[must_use]
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..8].copy_from_slice(self.kind.id());
        b[8..12].copy_from_slice(&self.heads.to_le_bytes());
        b[12..16].copy_from_slice(&self.track_size.to_le_bytes());
        b[16] = self.devtype;
        b[17] = self.fileseq;
        b[18..20].copy_from_slice(&self.highcyl.to_le_bytes());
        b
    }
}

/// The compressed header of a CCKD image (fields as in the module
/// documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompressedHeader {
    pub vrm: [u8; 3],
    pub options: u8,
    pub numl1tab: u32,
    pub numl2tab: u32,
    pub size: u32,
    pub used: u32,
    pub free: u32,
    pub free_total: u32,
    pub free_largest: u32,
    pub free_number: u32,
    pub free_imbed: u32,
    pub cyls: u32,
    pub nullfmt: u8,
    pub compress: u8,
    pub compress_parm: i16,
}

impl CompressedHeader {
    /// Version, release and modification level Hercules 3.13 writes.
    pub const VRM: [u8; 3] = [0, 3, 1];

    /// Whether multi-byte fields are big-endian.
    #[must_use]
    pub const fn big_endian(&self) -> bool {
        self.options & OPT_BIGENDIAN != 0
    }

    /// Decodes a header in the byte order its options name.
    #[must_use]
    pub fn parse(b: &[u8; HEADER_LEN]) -> Self {
        let be = b[3] & OPT_BIGENDIAN != 0;
        let w = |at: usize| {
            let x = [b[at], b[at + 1], b[at + 2], b[at + 3]];
            if be {
                u32::from_be_bytes(x)
            } else {
                u32::from_le_bytes(x)
            }
        };
        let parm = [b[46], b[47]];
        Self {
            vrm: [b[0], b[1], b[2]],
            options: b[3],
            numl1tab: w(4),
            numl2tab: w(8),
            size: w(12),
            used: w(16),
            free: w(20),
            free_total: w(24),
            free_largest: w(28),
            free_number: w(32),
            free_imbed: w(36),
            cyls: u32::from_le_bytes([b[40], b[41], b[42], b[43]]),
            nullfmt: b[44],
            compress: b[45],
            compress_parm: if be {
                i16::from_be_bytes(parm)
            } else {
                i16::from_le_bytes(parm)
            },
        }
    }

    /// Encodes the header in the byte order its options name.
    #[must_use]
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let be = self.big_endian();
        let mut b = [0u8; HEADER_LEN];
        b[..3].copy_from_slice(&self.vrm);
        b[3] = self.options;
        let fields = [
            self.numl1tab,
            self.numl2tab,
            self.size,
            self.used,
            self.free,
            self.free_total,
            self.free_largest,
            self.free_number,
            self.free_imbed,
        ];
        for (i, v) in fields.into_iter().enumerate() {
            let at = 4 + 4 * i;
            b[at..at + 4].copy_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
        }
        b[40..44].copy_from_slice(&self.cyls.to_le_bytes());
        b[44] = self.nullfmt;
        b[45] = self.compress;
        let p = if be {
            self.compress_parm.to_be_bytes()
        } else {
            self.compress_parm.to_le_bytes()
        };
        b[46..48].copy_from_slice(&p);
        b
    }
}

/// A level-2 entry: where a track image is, its length and the space it
/// holds; position 0 is a null track whose format is `len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct L2Entry {
    /// File offset of the image (0: null track).
    pub pos: u32,
    /// Length of the image (null track: its format).
    pub len: u16,
    /// Bytes of file space the image holds (≥ `len`).
    pub size: u16,
}

/// Bytes of a level-2 entry.
pub const L2_ENTRY_LEN: usize = 8;
/// Entries of a level-2 table.
pub const L2_ENTRIES: usize = 256;
/// Bytes of a level-2 table.
pub const L2_TABLE_LEN: usize = L2_ENTRY_LEN * L2_ENTRIES;

impl L2Entry {
    /// A null-track entry of format `f`.
    #[must_use]
    pub const fn null(f: u8) -> Self {
        Self {
            pos: 0,
            len: f as u16,
            size: f as u16,
        }
    }

    /// Decodes an entry.
    #[must_use]
    pub fn parse(b: &[u8], big_endian: bool) -> Self {
        let p = [b[0], b[1], b[2], b[3]];
        let l = [b[4], b[5]];
        let s = [b[6], b[7]];
        if big_endian {
            Self {
                pos: u32::from_be_bytes(p),
                len: u16::from_be_bytes(l),
                size: u16::from_be_bytes(s),
            }
        } else {
            Self {
                pos: u32::from_le_bytes(p),
                len: u16::from_le_bytes(l),
                size: u16::from_le_bytes(s),
            }
        }
    }

    /// Encodes the entry into `out` (8 bytes).
    pub fn encode(&self, out: &mut [u8], big_endian: bool) {
        if big_endian {
            out[0..4].copy_from_slice(&self.pos.to_be_bytes());
            out[4..6].copy_from_slice(&self.len.to_be_bytes());
            out[6..8].copy_from_slice(&self.size.to_be_bytes());
        } else {
            out[0..4].copy_from_slice(&self.pos.to_le_bytes());
            out[4..6].copy_from_slice(&self.len.to_le_bytes());
            out[6..8].copy_from_slice(&self.size.to_le_bytes());
        }
    }
}

/// A 32-bit field in the byte order of an image.
#[must_use]
pub fn u32_at(b: &[u8], big_endian: bool) -> u32 {
    let x = [b[0], b[1], b[2], b[3]];
    if big_endian {
        u32::from_be_bytes(x)
    } else {
        u32::from_le_bytes(x)
    }
}

/// A 32-bit field encoded in the byte order of an image.
#[must_use]
pub const fn u32_bytes(v: u32, big_endian: bool) -> [u8; 4] {
    if big_endian {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_header_matches_dasdinit_bytes() {
        // xxd of a dasdinit -lfs 3390 image: 434b445f50333730 0f000000 00de0000 90 00 0000
        let h = DevHeader::new_3390(ImageKind::Plain).encode();
        assert_eq!(
            &h[..20],
            &[0x43, 0x4b, 0x44, 0x5f, 0x50, 0x33, 0x37, 0x30, 0x0f, 0, 0, 0, 0x00, 0xde, 0, 0, 0x90, 0, 0, 0]
        );
        assert_eq!(DevHeader::parse(&h), Some(DevHeader::new_3390(ImageKind::Plain)));
        let mut bad = h;
        bad[0] = b'X';
        assert_eq!(DevHeader::parse(&bad), None);
    }

    #[test]
    fn compressed_header_round_trips_in_both_byte_orders() {
        for options in [OPT_ORDWR | OPT_NOFUDGE, OPT_BIGENDIAN] {
            let h = CompressedHeader {
                vrm: CompressedHeader::VRM,
                options,
                numl1tab: 196,
                numl2tab: 256,
                size: 4198,
                used: 4198,
                free: 7,
                free_total: 8,
                free_largest: 9,
                free_number: 10,
                free_imbed: 11,
                cyls: 3339,
                nullfmt: 1,
                compress: 1,
                compress_parm: -1,
            };
            let b = h.encode();
            assert_eq!(CompressedHeader::parse(&b), h);
            // Cylinders are little-endian whatever the options say.
            assert_eq!(&b[40..44], &[0x0b, 0x0d, 0, 0]);
        }
    }

    #[test]
    fn l2_entries_round_trip() {
        let e = L2Entry {
            pos: 0x0f10,
            len: 0x139,
            size: 0x139,
        };
        for be in [false, true] {
            let mut b = [0u8; 8];
            e.encode(&mut b, be);
            assert_eq!(L2Entry::parse(&b, be), e);
        }
        let mut b = [0u8; 8];
        e.encode(&mut b, false);
        assert_eq!(b, [0x10, 0x0f, 0, 0, 0x39, 0x01, 0x39, 0x01]);
    }
}
