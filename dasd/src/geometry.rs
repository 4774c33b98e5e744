//! 3390 models and geometry, the 3990 control-unit models, and the real
//! track capacity of a 3390.
//!
//! Capacity: a 3390 track holds 58,786 bytes = 1,729 cells of 34 bytes
//! after the home address and a standard record zero (8 data bytes). A
//! record R1…Rn of key length `kl` and data length `dl` takes
//! `9 + 10 + (kl > 0 ? 9 + ceil((kl + 6·kn) / 34) : 0) + ceil((dl + 6·dn) / 34)`
//! cells, with `kn = ceil((kl + 6) / 232) + 1` and
//! `dn = ceil((dl + 6) / 232) + 1` (the 3390 device formula, as Linux
//! `dasd_eckd.c` `recs_per_track`
//! and the RDC formula factors f1…f6 = 34, 19, 9, 6, 116, 6 give it). So a
//! track holds 12 records of 4,096 bytes, not Hercules' 13 (Hercules bounds
//! a track by its image slot size, `shared/spec/dasd-notes.md` §8), and R1
//! alone holds at most 56,664 bytes. R0's data beyond 8 bytes takes its
//! cells from the same 1,729 (R0 alone holds at most 57,326 bytes).

/// Heads (tracks per cylinder) of every 3390 model.
pub const HEADS: u32 = 15;
/// Bytes per track (RDC bytes 17–19).
pub const TRACK_LEN: u32 = 58_786;
/// Cells of 34 bytes available to R0's extra data and records R1…Rn.
pub const TRACK_CELLS: u32 = 1_729;
/// Home-address and R0 overhead (RDC bytes 20–21).
pub const HA_R0_OVERHEAD: u16 = 1_428;
/// Sectors per track (RDC byte 16).
pub const SECTORS: u8 = 224;
/// Largest R0 data length (RDC bytes 44–45).
pub const R0_MAX: u16 = 57_326;
/// Largest data length of R1 alone on a track.
pub const R1_MAX: u16 = 56_664;

const fn ceil_div(a: u32, b: u32) -> u32 {
    a.div_ceil(b)
}

/// Cells the data (or key) area of `len` bytes takes.
const fn area_cells(len: u32) -> u32 {
    let n = ceil_div(len + 6, 232) + 1;
    ceil_div(len + 6 * n, 34)
}

/// Cells a record R1…Rn with key length `kl` and data length `dl` takes.
#[must_use]
pub const fn record_cells(kl: u8, dl: u16) -> u32 {
    let key = if kl == 0 { 0 } else { 9 + area_cells(kl as u32) };
    19 + key + area_cells(dl as u32)
}

/// Cells R0 takes beyond a standard R0 (no key, 8 data bytes).
#[must_use]
pub const fn r0_extra_cells(kl: u8, dl: u16) -> u32 {
    let key = if kl == 0 { 0 } else { 9 + area_cells(kl as u32) };
    key + area_cells(dl as u32) - area_cells(8)
}

/// Records of key length `kl` and data length `dl` that fit on a track
/// after a standard R0.
#[must_use]
pub const fn records_per_track(kl: u8, dl: u16) -> u32 {
    TRACK_CELLS / record_cells(kl, dl)
}

/// The 3390 models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    /// 3390-1: 1,113 cylinders.
    M1,
    /// 3390-2: 2,226 cylinders.
    M2,
    /// 3390-3: 3,339 cylinders.
    M3,
    /// 3390-9: 10,017 cylinders.
    M9,
    /// 3390-27: 32,760 cylinders.
    M27,
    /// 3390-54: 65,520 cylinders.
    M54,
}

impl Model {
    /// Every model, smallest first.
    pub const ALL: [Self; 6] = [Self::M1, Self::M2, Self::M3, Self::M9, Self::M27, Self::M54];

    /// Primary cylinders (RDC bytes 12–13).
    #[must_use]
    pub const fn cylinders(self) -> u32 {
        match self {
            Self::M1 => 1_113,
            Self::M2 => 2_226,
            Self::M3 => 3_339,
            Self::M9 => 10_017,
            Self::M27 => 32_760,
            Self::M54 => 65_520,
        }
    }

    /// Device model byte (SENSE ID byte 6, RDC byte 5).
    #[must_use]
    pub const fn model_byte(self) -> u8 {
        match self {
            Self::M1 => 0x02,
            Self::M2 => 0x06,
            Self::M3 => 0x0a,
            Self::M9 | Self::M27 | Self::M54 => 0x0c,
        }
    }

    /// Unit type (RDC byte 11, also the MDR and OBR ids of bytes 40–41).
    #[must_use]
    pub const fn unit_type(self) -> u8 {
        match self {
            Self::M1 => 0x26,
            Self::M2 => 0x27,
            Self::M3 => 0x24,
            Self::M9 | Self::M27 | Self::M54 => 0x32,
        }
    }

    /// The model number as written after "3390-".
    #[must_use]
    pub const fn number(self) -> u32 {
        match self {
            Self::M1 => 1,
            Self::M2 => 2,
            Self::M3 => 3,
            Self::M9 => 9,
            Self::M27 => 27,
            Self::M54 => 54,
        }
    }

    /// The model of a model number (1, 2, 3, 9, 27, 54).
    #[must_use]
    pub const fn from_number(n: u32) -> Option<Self> {
        match n {
            1 => Some(Self::M1),
            2 => Some(Self::M2),
            3 => Some(Self::M3),
            9 => Some(Self::M9),
            27 => Some(Self::M27),
            54 => Some(Self::M54),
            _ => None,
        }
    }

    /// The smallest model with at least `cylinders` cylinders (what
    /// `dasdinit` picks for a cylinder count).
    #[must_use]
    pub fn for_cylinders(cylinders: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.cylinders() >= cylinders)
    }

    /// Alternate cylinders the model's images may carry beyond its primary
    /// cylinders (`dasdinit -a`; Hercules `dasdtab.c` 3390 entries: 1 for
    /// models 1–3, 3 for 9, 27 and 54).
    #[must_use]
    pub const fn alternate_cylinders(self) -> u32 {
        match self {
            Self::M1 | Self::M2 | Self::M3 => 1,
            Self::M9 | Self::M27 | Self::M54 => 3,
        }
    }

    /// The model of an image of `cylinders` cylinders: the smallest whose
    /// primary plus alternate cylinders hold them (Hercules `dasd_lookup`).
    #[must_use]
    pub fn for_image_cylinders(cylinders: u32) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| cylinders >= 1 && cylinders <= m.cylinders() + m.alternate_cylinders())
    }

    /// Tracks of a volume of `cylinders` cylinders.
    #[must_use]
    pub const fn tracks(cylinders: u32) -> u64 {
        cylinders as u64 * HEADS as u64
    }
}

impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "3390-{}", self.number())
    }
}

/// The 3990 storage-control models a 3390 hangs behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ControlUnit {
    /// Plain 3990 (model byte 0xC2): no LOCATE RECORD EXTENDED, SENSE ID
    /// with the RCD CIW only.
    Plain,
    /// 3990-3 (model byte 0xEC).
    Model3,
    /// 3990-6 (model byte 0xE9): the default.
    #[default]
    Model6,
}

impl ControlUnit {
    /// Control-unit type (SENSE ID bytes 1–2, RDC bytes 0–1).
    pub const TYPE: u16 = 0x3990;

    /// Control-unit model byte (SENSE ID byte 3, RDC byte 2).
    #[must_use]
    pub const fn model_byte(self) -> u8 {
        match self {
            Self::Plain => 0xc2,
            Self::Model3 => 0xec,
            Self::Model6 => 0xe9,
        }
    }

    /// Whether the control unit has the extended functions (LOCATE RECORD
    /// EXTENDED, PSF/RSSD, the CIWs of SENSE ID beyond RCD).
    #[must_use]
    pub const fn extended(self) -> bool {
        !matches!(self, Self::Plain)
    }

    /// The name as a trace writes it (`3990`, `3990-3`, `3990-6`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Plain => "3990",
            Self::Model3 => "3990-3",
            Self::Model6 => "3990-6",
        }
    }

    /// The control unit of a trace name.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "3990" => Some(Self::Plain),
            "3990-3" => Some(Self::Model3),
            "3990-6" => Some(Self::Model6),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_4k_records_fit_a_track_thirteen_do_not() {
        assert_eq!(records_per_track(0, 4096), 12);
        assert!(12 * record_cells(0, 4096) <= TRACK_CELLS);
        assert!(13 * record_cells(0, 4096) > TRACK_CELLS);
    }

    #[test]
    fn r1_and_r0_maxima_fill_the_track_exactly() {
        assert_eq!(record_cells(0, R1_MAX), TRACK_CELLS);
        assert!(record_cells(0, R1_MAX + 1) > TRACK_CELLS);
        assert_eq!(r0_extra_cells(0, R0_MAX), TRACK_CELLS);
        assert!(r0_extra_cells(0, R0_MAX + 1) > TRACK_CELLS);
        assert_eq!(r0_extra_cells(0, 8), 0);
        assert_eq!(TRACK_CELLS * 34, TRACK_LEN);
    }

    #[test]
    fn linux_block_sizes_give_known_records_per_track() {
        // dasdfmt: 512 → 49, 1024 → 33, 2048 → 21, 4096 → 12 on a 3390.
        assert_eq!(records_per_track(0, 512), 49);
        assert_eq!(records_per_track(0, 1024), 33);
        assert_eq!(records_per_track(0, 2048), 21);
        // CDL track 0: IPL1/IPL2/VOL1 with 4-byte keys.
        assert!(record_cells(4, 24) + record_cells(4, 144) + record_cells(4, 80) < TRACK_CELLS);
    }

    #[test]
    fn models_round_trip_and_pick_by_cylinders() {
        for m in Model::ALL {
            assert_eq!(Model::from_number(m.number()), Some(m));
            assert_eq!(Model::for_cylinders(m.cylinders()), Some(m));
        }
        assert_eq!(Model::for_cylinders(10), Some(Model::M1));
        assert_eq!(Model::for_cylinders(3340), Some(Model::M9));
        assert_eq!(Model::for_cylinders(65_521), None);
        assert_eq!(Model::M3.to_string(), "3390-3");
        assert_eq!(Model::tracks(3339), 50_085);
    }

    #[test]
    fn image_cylinders_count_alternates_like_dasdinit_a() {
        assert_eq!(Model::for_image_cylinders(3340), Some(Model::M3));
        assert_eq!(Model::for_image_cylinders(3341), Some(Model::M9));
        assert_eq!(Model::for_image_cylinders(65_523), Some(Model::M54));
        assert_eq!(Model::for_image_cylinders(65_524), None);
        assert_eq!(Model::for_image_cylinders(0), None);
    }

    #[test]
    fn control_units_have_their_model_bytes() {
        assert_eq!(ControlUnit::default(), ControlUnit::Model6);
        assert_eq!(ControlUnit::Model6.model_byte(), 0xe9);
        assert_eq!(ControlUnit::Plain.model_byte(), 0xc2);
        assert!(!ControlUnit::Plain.extended());
        for cu in [ControlUnit::Plain, ControlUnit::Model3, ControlUnit::Model6] {
            assert_eq!(ControlUnit::from_name(cu.name()), Some(cu));
        }
    }
}
