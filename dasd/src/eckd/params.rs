//! The parameter blocks of DEFINE EXTENT, LOCATE RECORD, LOCATE RECORD
//! EXTENDED and PREFIX, parsed once from the bytes the device took from
//! the channel and validated in the architected order (IBM 3990 Storage
//! Control Reference GA32-0099 and the 3390-compatible Internal Disk
//! Subsystem Reference SA22-1025, "Define Extent", "Locate Record",
//! "Locate Record Extended", "Prefix"; Linux `dasd_eckd.h` `DE_eckd_data`,
//! `LO_eckd_data`, `LRE_eckd_data`, `PFX_eckd_data` name the same fields).
//!
//! Nothing here reads guest storage: the device copies the parameter bytes
//! through the data stream, and every later decision uses the typed value.

use crate::eckd::sense::RejectMsg;
use crate::geometry::{HEADS, R0_MAX, SECTORS};
use crate::track::TrackAddr;

/// Why a parameter block was refused: command reject with message 3
/// (fewer bytes than required) or 4 (invalid parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamError {
    /// The channel sent fewer bytes than the command needs.
    Short,
    /// A parameter or reserved field is invalid.
    Invalid,
}

impl ParamError {
    /// The command-reject message of the error.
    #[must_use]
    pub const fn msg(self) -> RejectMsg {
        match self {
            Self::Short => RejectMsg::CountTooSmall,
            Self::Invalid => RejectMsg::InvalidParameter,
        }
    }
}

/// Largest DEFINE EXTENT block size: R0's largest data length plus its
/// count.
pub const MAX_BLOCK_SIZE: u16 = R0_MAX + 8;

/// Decodes a CCHH (cylinder and head as 16-bit fields; the head's high
/// twelve bits carry cylinder bits 16–27 in the large-volume form Linux
/// `set_ch_t` writes) into a track of a volume of `cylinders` cylinders.
#[must_use]
pub fn track_of(cchh: [u8; 4], cylinders: u32) -> Option<TrackAddr> {
    let cc = u32::from(u16::from_be_bytes([cchh[0], cchh[1]]));
    let hh = u32::from(u16::from_be_bytes([cchh[2], cchh[3]]));
    let cyl = cc | ((hh >> 4) << 16);
    let head = hh & 0x000f;
    (cyl < cylinders && head < HEADS).then_some(TrackAddr::new(cyl, head))
}

fn cchh_at(b: &[u8], at: usize) -> [u8; 4] {
    let mut c = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        c.copy_from_slice(s);
    }
    c
}

/// The write-control bits of the file mask (bits 0–1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteControl {
    /// `00`: every write except WRITE HOME ADDRESS and WRITE RECORD ZERO.
    AllButHaR0,
    /// `01`: no write at all.
    InhibitAll,
    /// `10`: update writes only (no format writes).
    UpdateOnly,
    /// `11`: every write.
    All,
}

/// The seek-control bits of the file mask (bits 3–4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeekControl {
    /// `00`: every seek and recalibrate.
    All,
    /// `01`: SEEK CYLINDER and SEEK HEAD only.
    CylinderAndHead,
    /// `10`: SEEK HEAD only.
    HeadOnly,
    /// `11`: no seek and no multitrack operation.
    None,
}

/// The file mask (DEFINE EXTENT byte 0, SET FILE MASK byte 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileMask(u8);

impl FileMask {
    /// Bit 2: reserved, must be zero.
    const RESERVED: u8 = 0x20;

    /// The mask of byte `b`.
    ///
    /// # Errors
    /// [`ParamError::Invalid`] when the reserved bit is set.
    pub const fn parse(b: u8) -> Result<Self, ParamError> {
        if b & Self::RESERVED != 0 {
            Err(ParamError::Invalid)
        } else {
            Ok(Self(b))
        }
    }

    /// The mask byte.
    #[must_use]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Write control (bits 0–1).
    #[must_use]
    pub const fn write_control(self) -> WriteControl {
        match self.0 >> 6 {
            0 => WriteControl::AllButHaR0,
            1 => WriteControl::InhibitAll,
            2 => WriteControl::UpdateOnly,
            _ => WriteControl::All,
        }
    }

    /// Seek control (bits 3–4).
    #[must_use]
    pub const fn seek_control(self) -> SeekControl {
        match (self.0 >> 3) & 3 {
            0 => SeekControl::All,
            1 => SeekControl::CylinderAndHead,
            2 => SeekControl::HeadOnly,
            _ => SeekControl::None,
        }
    }

    /// Bits 5–6 = `10`: diagnostic authorization.
    #[must_use]
    pub const fn diagnostic(self) -> bool {
        self.0 & 0x06 == 0x04
    }

    /// Whether update writes (WRITE DATA, WRITE KEY AND DATA) are allowed.
    #[must_use]
    pub const fn allows_update(self) -> bool {
        !matches!(self.write_control(), WriteControl::InhibitAll)
    }

    /// Whether format writes of records R1…Rn (WRITE CKD, ERASE, WRITE
    /// FULL TRACK beyond R0) are allowed.
    #[must_use]
    pub const fn allows_format(self) -> bool {
        matches!(self.write_control(), WriteControl::AllButHaR0 | WriteControl::All)
    }

    /// Whether WRITE RECORD ZERO and WRITE HOME ADDRESS are allowed.
    #[must_use]
    pub const fn allows_ha_r0(self) -> bool {
        matches!(self.write_control(), WriteControl::All)
    }

    /// Whether multitrack operations outside a Locate Record domain are
    /// allowed.
    #[must_use]
    pub const fn allows_multitrack(self) -> bool {
        !matches!(self.seek_control(), SeekControl::None)
    }
}

/// A validated DEFINE EXTENT parameter block (16 bytes, or 32 with the
/// extended parameters of global attributes extended bit 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DefineExtent {
    /// Byte 0: the file mask.
    pub mask: FileMask,
    /// Byte 1: global attributes (architecture mode `11`, CKD conversion,
    /// cache mode).
    pub attributes: u8,
    /// Bytes 2–3: the block size (0: not given).
    pub block_size: u16,
    /// Byte 7: global attributes extended (`04` may format R0, `40`
    /// regular data format, `08` time stamp valid, `02` extended
    /// parameters follow).
    pub ga_extended: u8,
    /// Bytes 8–11: the first track of the extent.
    pub begin: TrackAddr,
    /// Bytes 12–15: the last track of the extent.
    pub end: TrackAddr,
}

impl DefineExtent {
    /// Bytes the command always takes.
    pub const LEN: usize = 16;
    /// Global attributes extended: extended parameters follow.
    pub const GA_EXT_PARAMETERS: u8 = 0x02;

    /// Whether the block `b` announces 16 more bytes of extended
    /// parameters.
    #[must_use]
    pub const fn wants_extension(b: &[u8; 16]) -> bool {
        b[7] & Self::GA_EXT_PARAMETERS != 0
    }

    /// Validates the 16 basic bytes for a volume of `cylinders` cylinders
    /// (the extended parameters, a time stamp and records-per-track hint,
    /// are not used).
    ///
    /// # Errors
    /// [`ParamError::Invalid`] on the first invalid field in the
    /// architected order (byte 1 bits 0–1 first).
    pub fn parse(b: &[u8; 16], cylinders: u32) -> Result<Self, ParamError> {
        if b[1] & 0xc0 != 0xc0 {
            return Err(ParamError::Invalid);
        }
        let mask = FileMask::parse(b[0])?;
        let block_size = u16::from_be_bytes([b[2], b[3]]);
        if block_size > MAX_BLOCK_SIZE || b[4..7] != [0, 0, 0] {
            return Err(ParamError::Invalid);
        }
        let begin = track_of(cchh_at(b, 8), cylinders).ok_or(ParamError::Invalid)?;
        let end = track_of(cchh_at(b, 12), cylinders).ok_or(ParamError::Invalid)?;
        if begin > end {
            return Err(ParamError::Invalid);
        }
        Ok(Self {
            mask,
            attributes: b[1],
            block_size,
            ga_extended: b[7],
            begin,
            end,
        })
    }

    /// The extent of a whole volume with `mask` (what READ IPL implies).
    #[must_use]
    pub fn whole_volume(cylinders: u32, mask: FileMask) -> Self {
        Self {
            mask,
            attributes: 0xc0,
            block_size: 0,
            ga_extended: 0,
            begin: TrackAddr::new(0, 0),
            end: TrackAddr::new(cylinders.saturating_sub(1), HEADS - 1),
        }
    }

    /// Whether track `t` lies in the extent.
    #[must_use]
    pub fn contains(&self, t: TrackAddr) -> bool {
        self.begin <= t && t <= self.end
    }

    /// Global attributes bit 2: CKD conversion mode (multitrack
    /// operations stay within a cylinder even in a Locate Record domain).
    #[must_use]
    pub const fn ckd_conversion(&self) -> bool {
        self.attributes & 0x20 != 0
    }
}

/// The orientation a Locate Record establishes (byte 0 bits 0–1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Orientation {
    /// `00`: after the count area of the searched record.
    Count,
    /// `01`: after the home address.
    HomeAddress,
    /// `10`: after the data area of the searched record.
    Data,
    /// `11`: at index.
    Index,
}

/// The operation of a Locate Record domain (byte 0 bits 2–7, and byte 17
/// for the extended operations of LOCATE RECORD EXTENDED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocateOp {
    /// `00` orient.
    Orient,
    /// `01` write data (update writes of consecutive records).
    WriteData,
    /// `03` format write (WRITE R0, WRITE CKD, WRITE CKD NEXT TRACK).
    FormatWrite,
    /// `06` read data.
    ReadData,
    /// `0B` write track (R0's data, then format the rest).
    WriteTrack,
    /// `0C` read tracks (READ TRACK, READ TRACK DATA; count = tracks).
    ReadTracks,
    /// `16` read (any read, R0 and home address included).
    Read,
    /// `3F`/`09` write any (update write without a search).
    WriteAny,
    /// `3F`/`0A` read any (read without a search).
    ReadAny,
    /// `3F`/`0E` read trackset (READ TRACK of the tracks in a bitmap).
    ReadTrackset,
    /// `3F`/`11` write trackset (WRITE FULL TRACK of the tracks in a
    /// bitmap).
    WriteTrackset,
    /// `3F`/`23` write track data (WRITE TRACK DATA, count = tracks).
    WriteTrackData,
}

impl LocateOp {
    /// Whether the domain counts tracks (one command per track) rather
    /// than records.
    #[must_use]
    pub const fn counts_tracks(self) -> bool {
        matches!(
            self,
            Self::ReadTracks | Self::ReadTrackset | Self::WriteTrackset | Self::WriteTrackData
        )
    }

    /// Whether the operation writes.
    #[must_use]
    pub const fn writes(self) -> bool {
        matches!(
            self,
            Self::WriteData
                | Self::FormatWrite
                | Self::WriteTrack
                | Self::WriteAny
                | Self::WriteTrackset
                | Self::WriteTrackData
        )
    }

    /// Whether the operation formats (writes count areas).
    #[must_use]
    pub const fn formats(self) -> bool {
        matches!(self, Self::FormatWrite | Self::WriteTrack | Self::WriteTrackset)
    }

    /// Whether the operation orients without a search.
    #[must_use]
    pub const fn no_search(self) -> bool {
        matches!(
            self,
            Self::WriteAny | Self::ReadAny | Self::ReadTrackset | Self::WriteTrackset
        )
    }
}

/// A validated LOCATE RECORD (16 bytes) or LOCATE RECORD EXTENDED (20
/// bytes plus extended parameters) parameter block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Locate {
    /// Byte 0 bits 0–1.
    pub orientation: Orientation,
    /// Byte 0 bits 2–7 (byte 17 for `3F`).
    pub op: LocateOp,
    /// Bytes 14–15 when auxiliary byte bit 0 says they are valid.
    pub tlf: Option<u16>,
    /// Auxiliary byte bit 7: the last command of the domain is a READ
    /// COUNT.
    pub suffix: bool,
    /// Byte 3: records (or tracks) in the domain.
    pub count: u8,
    /// Bytes 4–7: the track to access.
    pub seek: TrackAddr,
    /// Bytes 8–12: the search argument (CCHHR).
    pub search: [u8; 5],
    /// Byte 13: the sector (`FF`: none).
    pub sector: u8,
    /// The trackset bitmap of read/write trackset (bit 15 = the seek
    /// track, then the following tracks), 0 when none.
    pub trackset: u16,
    /// Whether this came from LOCATE RECORD EXTENDED (or a PREFIX).
    pub extended: bool,
}

impl Locate {
    /// Bytes of LOCATE RECORD.
    pub const LR_LEN: usize = 16;
    /// Bytes of the fixed part of LOCATE RECORD EXTENDED.
    pub const LRE_LEN: usize = 20;

    /// The extended-parameter length LOCATE RECORD EXTENDED asks for next
    /// (bytes 18–19), or the error when it cannot be valid (more than the
    /// two bytes any operation uses).
    ///
    /// # Errors
    /// [`ParamError::Invalid`].
    pub fn lre_ext_len(b: &[u8; 20]) -> Result<usize, ParamError> {
        let n = usize::from(u16::from_be_bytes([b[18], b[19]]));
        if n > 2 {
            Err(ParamError::Invalid)
        } else {
            Ok(n)
        }
    }

    /// Validates a LOCATE RECORD block.
    ///
    /// # Errors
    /// [`ParamError::Invalid`] on the first invalid field (byte 0 bits
    /// 2–7 first).
    pub fn parse_lr(b: &[u8; 16], cylinders: u32) -> Result<Self, ParamError> {
        let (orientation, op) = Self::operation(b[0], 0, false)?;
        Self::common(b, orientation, op, 0, false, cylinders)
    }

    /// Validates a LOCATE RECORD EXTENDED block with its extended
    /// parameters `ext` (0–2 bytes, as announced by bytes 18–19).
    ///
    /// # Errors
    /// [`ParamError::Invalid`] on the first invalid field.
    pub fn parse_lre(b: &[u8; 20], ext: &[u8], cylinders: u32) -> Result<Self, ParamError> {
        let (orientation, op) = Self::operation(b[0], b[17], true)?;
        let mut fixed = [0u8; 16];
        fixed.copy_from_slice(&b[..16]);
        if b[16] != 0 {
            // Byte 16, the imbedded count, is only valid with the
            // imbedded-CCW auxiliary bits this storage control refuses.
            return Err(ParamError::Invalid);
        }
        let trackset = match op {
            LocateOp::WriteAny | LocateOp::ReadAny => {
                // The extended parameter is the set size, which must be 1
                // (RDC byte 47).
                if ext != [1] {
                    return Err(ParamError::Invalid);
                }
                0
            }
            LocateOp::ReadTrackset | LocateOp::WriteTrackset => {
                let map = match *ext {
                    [a] => u16::from(a) << 8,
                    [a, b2] => u16::from_be_bytes([a, b2]),
                    _ => return Err(ParamError::Invalid),
                };
                // The seek track is the first of the set, and the count
                // is the number of tracks in it.
                if map & 0x8000 == 0 || map.count_ones() != u32::from(b[3]) {
                    return Err(ParamError::Invalid);
                }
                map
            }
            _ => {
                if !ext.is_empty() {
                    return Err(ParamError::Invalid);
                }
                0
            }
        };
        let mut l = Self::common(&fixed, orientation, op, trackset, true, cylinders)?;
        l.trackset = trackset;
        Ok(l)
    }

    /// Byte 0 (and byte 17 for `3F`): the operation and the orientation,
    /// checked against the valid combinations.
    fn operation(b0: u8, ext_op: u8, extended: bool) -> Result<(Orientation, LocateOp), ParamError> {
        let orientation = match b0 >> 6 {
            0 => Orientation::Count,
            1 => Orientation::HomeAddress,
            2 => Orientation::Data,
            _ => Orientation::Index,
        };
        use Orientation as O;
        let op = match (b0 & 0x3f, orientation) {
            (0x00, _) => LocateOp::Orient,
            (0x01, O::Count | O::Data) => LocateOp::WriteData,
            (0x03, _) => LocateOp::FormatWrite,
            (0x06, _) => LocateOp::ReadData,
            (0x0b, O::Count) => LocateOp::WriteTrack,
            (0x0c, O::Count | O::HomeAddress) => LocateOp::ReadTracks,
            (0x16, _) => LocateOp::Read,
            (0x3f, o) if extended => match (ext_op, o) {
                (0x09, O::Count) => LocateOp::WriteAny,
                (0x0a, O::Count) => LocateOp::ReadAny,
                (0x0e, O::Count | O::HomeAddress) => LocateOp::ReadTrackset,
                (0x11, O::Count) => LocateOp::WriteTrackset,
                (0x23, O::Count) => LocateOp::WriteTrackData,
                _ => return Err(ParamError::Invalid),
            },
            _ => return Err(ParamError::Invalid),
        };
        if b0 & 0x3f != 0x3f && ext_op != 0 {
            return Err(ParamError::Invalid);
        }
        // Format write from the data area, or at index for anything but
        // WRITE HOME ADDRESS, is not a valid combination.
        if op == LocateOp::FormatWrite && orientation == O::Data {
            return Err(ParamError::Invalid);
        }
        Ok((orientation, op))
    }

    fn common(
        b: &[u8; 16],
        orientation: Orientation,
        op: LocateOp,
        trackset: u16,
        extended: bool,
        cylinders: u32,
    ) -> Result<Self, ParamError> {
        let aux = b[1];
        if aux & 0x7e != 0 {
            return Err(ParamError::Invalid);
        }
        let suffix = aux & 0x01 != 0;
        if suffix
            && !matches!(
                op,
                LocateOp::WriteData | LocateOp::Read | LocateOp::ReadData | LocateOp::WriteAny | LocateOp::ReadAny
            )
        {
            return Err(ParamError::Invalid);
        }
        if b[2] != 0 {
            return Err(ParamError::Invalid);
        }
        let count = b[3];
        if count == 0 || (suffix && count < 2) {
            return Err(ParamError::Invalid);
        }
        let seek = track_of(cchh_at(b, 4), cylinders).ok_or(ParamError::Invalid)?;
        let mut search = [0u8; 5];
        search.copy_from_slice(&b[8..13]);
        let sector = b[13];
        if sector >= SECTORS && sector != 0xff {
            return Err(ParamError::Invalid);
        }
        let tlf_raw = u16::from_be_bytes([b[14], b[15]]);
        let tlf = if aux & 0x80 != 0 {
            if tlf_raw == 0 {
                return Err(ParamError::Invalid);
            }
            Some(tlf_raw)
        } else {
            None
        };
        Ok(Self {
            orientation,
            op,
            tlf,
            suffix,
            count,
            seek,
            search,
            sector,
            trackset,
            extended,
        })
    }
}

/// PREFIX (command `E7`) parameter formats (byte 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrefixFormat {
    /// `00`: DEFINE EXTENT parameters only; a LOCATE RECORD follows.
    DefineExtent,
    /// `01`: DEFINE EXTENT and LOCATE RECORD EXTENDED parameters.
    WithLocate,
}

/// The 12-byte PREFIX header (bytes 0–11 of the parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrefixHeader {
    /// Byte 0.
    pub format: PrefixFormat,
    /// Byte 1: validity (`80` define extent valid, `40` time stamp valid,
    /// `20` verify base address, `10` HyperPAV).
    pub validity: u8,
    /// Byte 2: the base device's unit address.
    pub base_address: u8,
    /// Byte 4: the base device's logical subsystem.
    pub base_lss: u8,
}

impl PrefixHeader {
    /// Bytes of the header.
    pub const LEN: usize = 12;
    /// Bytes of the embedded DEFINE EXTENT parameters.
    pub const DE_LEN: usize = 32;
    /// Validity: the DEFINE EXTENT parameters are valid.
    pub const DE_VALID: u8 = 0x80;
    /// Validity: verify the base address.
    pub const VERIFY_BASE: u8 = 0x20;

    /// Validates the header; with verify-base set, the base address and
    /// logical subsystem must be this device's.
    ///
    /// # Errors
    /// [`ParamError::Invalid`].
    pub fn parse(b: &[u8; 12], unit_address: u8, lss: u8) -> Result<Self, ParamError> {
        let format = match b[0] {
            0 => PrefixFormat::DefineExtent,
            1 => PrefixFormat::WithLocate,
            _ => return Err(ParamError::Invalid),
        };
        let validity = b[1];
        if validity & Self::DE_VALID == 0 || validity & 0x0f != 0 || b[5..12].iter().any(|&x| x != 0) {
            return Err(ParamError::Invalid);
        }
        if validity & Self::VERIFY_BASE != 0 && (b[2] != unit_address || b[4] != lss) {
            return Err(ParamError::Invalid);
        }
        Ok(Self {
            format,
            validity,
            base_address: b[2],
            base_lss: b[4],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CYLS: u32 = 100;

    fn de(mask: u8, attr: u8, bs: u16, from: (u16, u16), to: (u16, u16)) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0] = mask;
        b[1] = attr;
        b[2..4].copy_from_slice(&bs.to_be_bytes());
        b[8..10].copy_from_slice(&from.0.to_be_bytes());
        b[10..12].copy_from_slice(&from.1.to_be_bytes());
        b[12..14].copy_from_slice(&to.0.to_be_bytes());
        b[14..16].copy_from_slice(&to.1.to_be_bytes());
        b
    }

    fn lr(op: u8, aux: u8, count: u8, seek: (u16, u16), rec: u8, tlf: u16) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0] = op;
        b[1] = aux;
        b[3] = count;
        b[4..6].copy_from_slice(&seek.0.to_be_bytes());
        b[6..8].copy_from_slice(&seek.1.to_be_bytes());
        b.copy_within(4..8, 8);
        b[12] = rec;
        b[14..16].copy_from_slice(&tlf.to_be_bytes());
        b
    }

    #[test]
    fn define_extent_parses_linux_read_block() {
        let d = DefineExtent::parse(&de(0x40, 0xc0, 0, (0, 0), (2, 14)), CYLS).unwrap();
        assert_eq!(d.mask.write_control(), WriteControl::InhibitAll);
        assert!(d.contains(TrackAddr::new(1, 3)));
        assert!(!d.contains(TrackAddr::new(3, 0)));
        assert!(!d.mask.allows_update());
    }

    #[test]
    fn define_extent_invalid_fields_are_rejected_in_order() {
        // Architecture mode other than ECKD.
        assert_eq!(
            DefineExtent::parse(&de(0x20, 0x40, 0, (0, 0), (0, 0)), CYLS),
            Err(ParamError::Invalid)
        );
        assert_eq!(
            DefineExtent::parse(&de(0x20, 0xc0, 0, (0, 0), (0, 0)), CYLS),
            Err(ParamError::Invalid)
        );
        assert_eq!(
            DefineExtent::parse(&de(0, 0xc0, MAX_BLOCK_SIZE + 1, (0, 0), (0, 0)), CYLS),
            Err(ParamError::Invalid)
        );
        assert_eq!(
            DefineExtent::parse(&de(0, 0xc0, 0, (0, 15), (0, 0)), CYLS),
            Err(ParamError::Invalid)
        );
        assert_eq!(
            DefineExtent::parse(&de(0, 0xc0, 0, (5, 0), (4, 0)), CYLS),
            Err(ParamError::Invalid)
        );
        assert_eq!(
            DefineExtent::parse(&de(0, 0xc0, 0, (0, 0), (100, 0)), CYLS),
            Err(ParamError::Invalid)
        );
        let mut b = de(0, 0xc0, 0, (0, 0), (0, 0));
        b[5] = 1;
        assert_eq!(DefineExtent::parse(&b, CYLS), Err(ParamError::Invalid));
    }

    #[test]
    fn locate_record_parses_linux_read() {
        let l = Locate::parse_lr(&lr(0x06, 0x80, 12, (3, 4), 1, 4096), CYLS).unwrap();
        assert_eq!(l.op, LocateOp::ReadData);
        assert_eq!(l.orientation, Orientation::Count);
        assert_eq!(l.tlf, Some(4096));
        assert_eq!(l.seek, TrackAddr::new(3, 4));
        assert_eq!(l.search, [0, 3, 0, 4, 1]);
    }

    #[test]
    fn locate_record_invalid_fields_are_rejected() {
        for (b0, aux, count, tlf) in [
            (0x3f, 0x80, 1, 1), // extended op in plain LR
            (0x41, 0x80, 1, 1), // write data from HA
            (0x06, 0x40, 1, 1), // reserved aux bit
            (0x06, 0x00, 0, 0), // zero count
            (0x06, 0x80, 1, 0), // TLF valid but zero
            (0x03, 0x01, 2, 0), // read-count suffix with format write
            (0x16, 0x01, 1, 0), // suffix needs count > 1
        ] {
            assert_eq!(
                Locate::parse_lr(&lr(b0, aux, count, (0, 0), 1, tlf), CYLS),
                Err(ParamError::Invalid),
                "{b0:#x} {aux:#x} {count}"
            );
        }
        let mut b = lr(0x06, 0, 1, (0, 0), 1, 0);
        b[13] = 224;
        assert_eq!(Locate::parse_lr(&b, CYLS), Err(ParamError::Invalid));
        assert_eq!(
            Locate::parse_lr(&lr(0x06, 0, 1, (100, 0), 1, 0), CYLS),
            Err(ParamError::Invalid)
        );
    }

    #[test]
    fn locate_record_extended_trackset_needs_matching_count() {
        let mut b = [0u8; 20];
        b[..16].copy_from_slice(&lr(0x3f, 0, 3, (1, 0), 0, 0));
        b[17] = 0x11;
        b[19] = 1;
        assert_eq!(Locate::lre_ext_len(&b), Ok(1));
        let l = Locate::parse_lre(&b, &[0xe0], CYLS).unwrap();
        assert_eq!(l.op, LocateOp::WriteTrackset);
        assert_eq!(l.trackset, 0xe000);
        assert_eq!(Locate::parse_lre(&b, &[0xc0], CYLS), Err(ParamError::Invalid));
        assert_eq!(Locate::parse_lre(&b, &[0x70], CYLS), Err(ParamError::Invalid));
        b[17] = 0x13;
        assert_eq!(Locate::parse_lre(&b, &[0xe0], CYLS), Err(ParamError::Invalid));
        b[19] = 3;
        assert_eq!(Locate::lre_ext_len(&b), Err(ParamError::Invalid));
    }

    #[test]
    fn prefix_header_verifies_base() {
        let mut b = [0u8; 12];
        b[0] = 1;
        b[1] = 0x80;
        assert!(PrefixHeader::parse(&b, 5, 0).is_ok());
        b[1] = 0xa0;
        b[2] = 5;
        assert!(PrefixHeader::parse(&b, 5, 0).is_ok());
        assert_eq!(PrefixHeader::parse(&b, 6, 0), Err(ParamError::Invalid));
        b[0] = 2;
        assert_eq!(PrefixHeader::parse(&b, 5, 0), Err(ParamError::Invalid));
        b[0] = 0;
        b[1] = 0;
        assert_eq!(PrefixHeader::parse(&b, 5, 0), Err(ParamError::Invalid));
    }

    #[test]
    fn large_volume_cchh_carries_cylinder_bits_in_head() {
        assert_eq!(track_of([0, 1, 0, 0x12], 70_000), Some(TrackAddr::new(0x1_0001, 2)));
        assert_eq!(track_of([0, 1, 0, 0x12], 65_520), None);
    }

    proptest::proptest! {
        #[test]
        fn parsing_arbitrary_blocks_never_panics(b in proptest::array::uniform20(0u8..), ext in proptest::collection::vec(0u8.., 0..3)) {
            let mut b16 = [0u8; 16];
            b16.copy_from_slice(&b[..16]);
            let _ = DefineExtent::parse(&b16, CYLS);
            let _ = Locate::parse_lr(&b16, CYLS);
            let _ = Locate::lre_ext_len(&b);
            let _ = Locate::parse_lre(&b, &ext, CYLS);
            let mut h = [0u8; 12];
            h.copy_from_slice(&b[..12]);
            let _ = PrefixHeader::parse(&h, 0, 0);
        }
    }
}
