//! Identification, sense, path groups and subsystem functions: SENSE ID
//! with its command-information words, READ DEVICE CHARACTERISTICS, READ
//! CONFIGURATION DATA, SENSE, SENSE SUBSYSTEM STATUS, SENSE / SET PATH
//! GROUP ID, RESERVE / RELEASE / UNCONDITIONAL RESERVE, PERFORM SUBSYSTEM
//! FUNCTION and READ SUBSYSTEM DATA (IBM 3990 Storage Control Reference
//! GA32-0099; "Common I/O-Device Commands and Self Description"
//! SA22-7204 for SENSE ID, the CIWs and the node descriptors; the field
//! layouts Linux `dasd_eckd.h` and `cio/css.h` decode).
//!
//! Path groups: each of the device's eight paths is reset, ungrouped or
//! grouped under an 11-byte path-group id, in single-path or multipath
//! mode. A reservation belongs to the path group of the path that made it
//! (or to that path alone when it is not grouped); every command from a
//! path outside it, except SENSE ID, SENSE PATH GROUP ID and
//! UNCONDITIONAL RESERVE, ends with busy status.

use zcss_ccw::{Ciw, DataStream, SenseId};

use crate::eckd::sense::{Fault, RejectMsg};
use crate::eckd::{give, Dasd, Done, Halt, Outcome, DEVICE_TYPE};
use crate::geometry::{ControlUnit, HEADS};

const SEQUENCE: Fault = Fault::Reject(RejectMsg::InvalidSequence);

/// A path's grouping state (SENSE PATH GROUP ID byte 0 bits 0–1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub enum Grouping {
    /// `00`: reset (no path-group id).
    #[default]
    Reset,
    /// `10`: ungrouped (resigned from its group).
    Ungrouped,
    /// `11`: grouped.
    Grouped,
}

/// One path's path-group state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct PathGroup {
    /// Grouping state.
    pub state: Grouping,
    /// Multipath mode (SET PATH GROUP ID function bit 0).
    pub multipath: bool,
    /// The path-group id.
    pub pgid: [u8; 11],
}

/// Who holds the reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Owner {
    /// An ungrouped path.
    Path(usize),
    /// A path group.
    Group([u8; 11]),
}

/// The device's path groups and reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct PathGroups {
    /// Per path (index 0 = LPUM `0x80`).
    pub paths: [PathGroup; 8],
    /// The reservation.
    pub reserve: Option<Owner>,
}

impl PathGroups {
    fn owner_of(&self, path: usize) -> Owner {
        match self.paths.get(path) {
            Some(p) if p.state == Grouping::Grouped => Owner::Group(p.pgid),
            _ => Owner::Path(path),
        }
    }

    /// Whether `path` holds the reservation.
    #[must_use]
    pub fn reserved_to(&self, path: usize) -> bool {
        self.reserve.is_some_and(|o| o == self.owner_of(path))
    }

    /// Whether a command `cmd` from `path` meets a reservation of another
    /// path group (busy).
    #[must_use]
    pub fn blocks(&self, path: usize, cmd: u8) -> bool {
        self.reserve.is_some() && !self.reserved_to(path) && !matches!(cmd, 0xe4 | 0x34 | 0x14)
    }

    /// SENSE PATH GROUP ID byte 0 for `path`.
    fn state_byte(&self, path: usize) -> u8 {
        let p = self.paths.get(path).copied().unwrap_or_default();
        let s1 = match p.state {
            Grouping::Reset => 0,
            Grouping::Ungrouped => 0x80,
            Grouping::Grouped => 0xc0,
        };
        let s2 = match self.reserve {
            None => 0,
            Some(_) if self.reserved_to(path) => 0x30,
            Some(_) => 0x20,
        };
        s1 | s2 | if p.multipath { 0x08 } else { 0 }
    }
}

/// Data prepared by PERFORM SUBSYSTEM FUNCTION for READ SUBSYSTEM DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rssd {
    data: [u8; 512],
    len: usize,
}

impl Default for Rssd {
    fn default() -> Self {
        Self { data: [0; 512], len: 0 }
    }
}

impl Rssd {
    /// The prepared bytes.
    pub fn contents(&self) -> &[u8] {
        &self.data[..self.len.min(512)]
    }

    /// Prepared data `b` (snapshot restore); `None` beyond 512 bytes.
    pub fn from_contents(b: &[u8]) -> Option<Self> {
        let mut r = Self::default();
        r.data.get_mut(..b.len())?.copy_from_slice(b);
        r.len = b.len();
        Some(r)
    }
}

/// PSF order: prepare for read subsystem data.
const PSF_PRSSD: u8 = 0x18;
/// PSF order: set subsystem characteristics.
const PSF_SSC: u8 = 0x1d;
/// PSF order: set interface identifier.
const PSF_SII: u8 = 0xb0;
/// PSF order: set special intercept condition.
const PSF_SSIC: u8 = 0x1b;

/// Characters in EBCDIC (digits, upper-case letters).
fn ebcdic(s: &str, out: &mut [u8]) {
    for (o, c) in out.iter_mut().zip(s.bytes()) {
        *o = match c {
            b'0'..=b'9' => 0xf0 + (c - b'0'),
            b'A'..=b'I' => 0xc1 + (c - b'A'),
            b'J'..=b'R' => 0xd1 + (c - b'J'),
            b'S'..=b'Z' => 0xe2 + (c - b'S'),
            _ => 0x40,
        };
    }
}

impl Dasd {
    /// SENSE ID data: `FF`, 3990 and its model, 3390 and its model, then
    /// the CIWs (RCD for every model; SII and RNI for the 3990-3 and -6).
    #[must_use]
    pub fn sense_id_data(&self) -> SenseId {
        let mut s = SenseId::new(
            ControlUnit::TYPE,
            self.cfg.cu.model_byte(),
            DEVICE_TYPE,
            self.cfg.model.model_byte(),
        );
        let ciws = [
            Ciw::entry(Ciw::TYPE_RCD, 0xfa, 256),
            Ciw::entry(Ciw::TYPE_SII, 0x27, 4),
            Ciw::entry(Ciw::TYPE_RNI, 0x3e, 0x60),
        ];
        let n = if self.cfg.cu.extended() { 3 } else { 1 };
        for c in &ciws[..n] {
            s = s.with_ciw(*c).unwrap_or(s);
        }
        s
    }

    /// The primary cylinders RDC reports (the volume's, up to the model's)
    /// and the alternate cylinders beyond them.
    fn rdc_cylinders(&self) -> (u16, u16) {
        let vol = self.vol.cylinders();
        let primary = vol.min(self.cfg.model.cylinders());
        (
            u16::try_from(primary).unwrap_or(u16::MAX),
            u16::try_from(vol - primary).unwrap_or(u16::MAX),
        )
    }

    /// The 64 bytes of READ DEVICE CHARACTERISTICS.
    #[must_use]
    pub fn device_characteristics(&self) -> [u8; 64] {
        let m = self.cfg.model;
        let cu = self.cfg.cu;
        let mut b = [0u8; 64];
        b[0..2].copy_from_slice(&ControlUnit::TYPE.to_be_bytes());
        b[2] = cu.model_byte();
        b[3..5].copy_from_slice(&DEVICE_TYPE.to_be_bytes());
        b[5] = m.model_byte();
        b[6..10].copy_from_slice(if cu == ControlUnit::Plain {
            &[0xd0, 0, 0, 0]
        } else {
            &[0x50, 0, 0x10, 0x10]
        });
        b[10] = 0x20;
        b[11] = m.unit_type();
        let (primary, alt) = self.rdc_cylinders();
        b[12..14].copy_from_slice(&primary.to_be_bytes());
        b[14..16].copy_from_slice(&u16::try_from(HEADS).unwrap_or(15).to_be_bytes());
        b[16] = crate::geometry::SECTORS;
        let len = crate::geometry::TRACK_LEN.to_be_bytes();
        b[17..20].copy_from_slice(&len[1..]);
        b[20..22].copy_from_slice(&crate::geometry::HA_R0_OVERHEAD.to_be_bytes());
        b[22..28].copy_from_slice(&[0x02, 0x22, 0x13, 0x09, 0x06, 0x74]);
        if alt > 0 {
            b[28..30].copy_from_slice(&primary.to_be_bytes());
            b[30..32].copy_from_slice(&alt.saturating_mul(15).to_be_bytes());
        }
        b[40] = m.unit_type();
        b[41] = m.unit_type();
        let cu_code = if cu == ControlUnit::Plain { 0x10 } else { 0x15 };
        b[42] = cu_code;
        b[43] = 0x02;
        b[44..46].copy_from_slice(&crate::geometry::R0_MAX.to_be_bytes());
        b[47] = 0x01;
        b[48] = 0x06;
        b[49..51].copy_from_slice(&[0x77, 0x08]);
        b[51..54].copy_from_slice(match cu {
            ControlUnit::Plain => &[0, 0, 0],
            ControlUnit::Model3 => &[0x0f, 0, 0x3f],
            ControlUnit::Model6 => &[0x0f, 0, 0x7f],
        });
        b[54] = 0x48;
        b[56] = cu_code;
        // The real device: a 3390 of this model, not Hercules' `FF`.
        b[57] = m.unit_type();
        b
    }

    /// The 256 bytes of READ CONFIGURATION DATA: node-element descriptors
    /// for the device, its string, the storage director and the
    /// subsystem (token), then the general NEQ at byte 224.
    #[must_use]
    pub fn configuration_data(&self) -> [u8; 256] {
        let mut b = [0u8; 256];
        let serial = format!("{:012}", self.cfg.serial);
        let model = format!("{:03}", self.cfg.model.number());
        let cu_model = match self.cfg.cu {
            ControlUnit::Plain => "001",
            ControlUnit::Model3 => "003",
            ControlUnit::Model6 => "006",
        };
        let neds: [(u8, u8, &str, &str); 4] = [
            (0xd0, 0x01, "003390", &model),
            (0xd0, 0x00, "003390", &model),
            (0xd0, 0x00, "003990", cu_model),
            (0xf0, 0x00, "003990", cu_model),
        ];
        for (i, (flags, desc, ty, md)) in neds.iter().enumerate() {
            let n = &mut b[32 * i..32 * (i + 1)];
            n[0] = *flags;
            n[1] = *desc;
            n[2] = 0x01;
            ebcdic(ty, &mut n[4..10]);
            ebcdic(md, &mut n[10..13]);
            ebcdic("ZCS", &mut n[13..16]);
            ebcdic("00", &mut n[16..18]);
            ebcdic(&serial, &mut n[18..30]);
            n[30] = self.cfg.lss;
            n[31] = if i == 3 { 0 } else { self.cfg.unit_address };
        }
        let g = &mut b[224..256];
        g[0] = 0x80;
        g[6] = 0x1e;
        g[8..10].copy_from_slice(&self.cfg.ssid.to_be_bytes());
        g[11] = self.cfg.unit_address;
        b
    }

    /// The 256 bytes of feature codes (PSF suborder `41`): the 3990-6
    /// offers PREFIX (byte 8 bit 7) and READ / WRITE TRACK DATA in command
    /// mode (byte 9 bit 2, byte 12 bit 1); the other models none.
    #[must_use]
    pub fn feature_codes(&self) -> [u8; 256] {
        let mut b = [0u8; 256];
        if self.cfg.cu == ControlUnit::Model6 {
            b[8] = 0x01;
            b[9] = 0x20;
            b[12] = 0x40;
        }
        b
    }

    /// SENSE (`04`): the sense of the last unit check, or the "no error"
    /// sense with the current position.
    pub(crate) fn sense_cmd(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(0x04)?;
        let s = self.sense.take().unwrap_or_else(|| self.idle_sense());
        give(data, s.as_slice())?;
        Ok(Done::Ok)
    }

    /// SENSE ID (`E4`).
    pub(crate) fn sense_id(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(0xe4)?;
        let (b, n) = self.sense_id_data().encode();
        give(data, &b[..n])?;
        Ok(Done::Ok)
    }

    /// READ DEVICE CHARACTERISTICS (`64`).
    pub(crate) fn read_device_characteristics(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(0x64)?;
        give(data, &self.device_characteristics())?;
        Ok(Done::Ok)
    }

    /// READ CONFIGURATION DATA (`FA`).
    pub(crate) fn read_configuration_data(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(0xfa)?;
        give(data, &self.configuration_data())?;
        Ok(Done::Ok)
    }

    /// SENSE SUBSYSTEM STATUS (`54`): first in the chain, or after READ
    /// DEVICE CHARACTERISTICS, READ CONFIGURATION DATA or SUSPEND
    /// MULTIPATH RECONNECTION; 40 bytes (44 on a 3990-6), all zero: no
    /// cache or nonvolatile-storage events to report.
    pub(crate) fn sense_subsystem_status(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(0x54)?;
        if !(self.chain.commands == 0 || matches!(self.chain.prev, Some(0x64 | 0xfa | 0x5b))) {
            return Err(SEQUENCE.into());
        }
        let n = if self.cfg.cu == ControlUnit::Model6 { 44 } else { 40 };
        give(data, &[0u8; 44][..n])?;
        Ok(Done::Ok)
    }

    /// SENSE PATH GROUP ID (`34`): 12 bytes, the path state and the
    /// path-group id of the path the program runs on.
    pub(crate) fn sense_path_group_id(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(0x34)?;
        let p = self.path_index();
        let mut b = [0u8; 12];
        b[0] = self.groups.state_byte(p);
        if let Some(g) = self.groups.paths.get(p) {
            if g.state != Grouping::Reset {
                b[1..].copy_from_slice(&g.pgid);
            }
        }
        give(data, &b)?;
        Ok(Done::Ok)
    }

    /// SET PATH GROUP ID (`AF`): 12 bytes, a function byte (bit 0
    /// multipath; bits 1–2 `00` establish, `01` disband, `10` resign) and
    /// the path-group id.
    pub(crate) fn set_path_group_id(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(0xaf)?;
        let mut b = [0u8; 12];
        crate::eckd::take(data, &mut b)?;
        let fc = b[0];
        let mut pgid = [0u8; 11];
        pgid.copy_from_slice(&b[1..]);
        if fc & 0x1f != 0 {
            return Err(Fault::Reject(RejectMsg::InvalidParameter).into());
        }
        let p = self.path_index();
        let cur = self.groups.paths[p];
        match (fc >> 5) & 3 {
            0 => {
                if cur.state == Grouping::Grouped && cur.pgid != pgid {
                    return Err(Fault::Reject(RejectMsg::InvalidParameter).into());
                }
                // A reservation the path held alone passes to its group.
                if self.groups.reserve == Some(Owner::Path(p)) {
                    self.groups.reserve = Some(Owner::Group(pgid));
                }
                self.groups.paths[p] = PathGroup {
                    state: Grouping::Grouped,
                    multipath: fc & 0x80 != 0,
                    pgid,
                };
            }
            1 => {
                if cur.state != Grouping::Grouped || cur.pgid != pgid {
                    return Err(Fault::Reject(RejectMsg::InvalidParameter).into());
                }
                for g in &mut self.groups.paths {
                    if g.state == Grouping::Grouped && g.pgid == pgid {
                        *g = PathGroup::default();
                    }
                }
                if self.groups.reserve == Some(Owner::Group(pgid)) {
                    self.groups.reserve = None;
                }
            }
            2 => {
                if cur.state != Grouping::Grouped || cur.pgid != pgid {
                    return Err(Fault::Reject(RejectMsg::InvalidParameter).into());
                }
                self.groups.paths[p].state = Grouping::Ungrouped;
            }
            _ => return Err(Fault::Reject(RejectMsg::InvalidParameter).into()),
        }
        Ok(Done::Ok)
    }

    /// RESERVE (`B4`), RELEASE (`94`), UNCONDITIONAL RESERVE (`14`): first
    /// in the chain (or after SUSPEND MULTIPATH RECONNECTION); each
    /// returns 32 bytes of sense information.
    pub(crate) fn reserve_release(&mut self, cmd: u8, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(cmd)?;
        if !(self.chain.commands == 0 || self.chain.prev == Some(0x5b)) {
            return Err(SEQUENCE.into());
        }
        let p = self.path_index();
        match cmd {
            0x94 => {
                if self.groups.reserved_to(p) {
                    self.groups.reserve = None;
                }
            }
            _ => self.groups.reserve = Some(self.groups.owner_of(p)),
        }
        let s = self.idle_sense();
        give(data, s.as_slice())?;
        Ok(Done::Ok)
    }

    /// PERFORM SUBSYSTEM FUNCTION (`27`): prepare for read subsystem data
    /// (suborders `01` statistics, `0E` unit-address configuration, `41`
    /// feature codes), set subsystem characteristics, set interface
    /// identifier, set special intercept condition.
    pub(crate) fn perform_subsystem_function(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(0x27)?;
        let want = usize::from(data.residual()).min(256);
        let n = data.read(&mut self.scratch[..want]);
        if data.failed() {
            return Err(Halt::Channel);
        }
        let short = Fault::Reject(RejectMsg::CountTooSmall);
        let invalid = Fault::Reject(RejectMsg::InvalidParameter);
        let Some(&order) = self.scratch.first().filter(|_| n > 0) else {
            return Err(short.into());
        };
        self.rssd.len = 0;
        match order {
            PSF_PRSSD => {
                if n < 12 {
                    return Err(short.into());
                }
                let suborder = self.scratch[6];
                let mut out = [0u8; 512];
                let len = match suborder {
                    0x01 => 256,
                    0x0e => {
                        // This device is the base device of its unit address.
                        let ua = usize::from(self.cfg.unit_address);
                        out[2 * ua] = 0x01;
                        out[2 * ua + 1] = self.cfg.unit_address;
                        512
                    }
                    0x41 => {
                        out[..256].copy_from_slice(&self.feature_codes());
                        256
                    }
                    _ => return Err(invalid.into()),
                };
                self.rssd = Rssd { data: out, len };
            }
            PSF_SSC => {
                if n < 66 {
                    return Err(short.into());
                }
            }
            PSF_SII | PSF_SSIC => {}
            _ => return Err(invalid.into()),
        }
        Ok(Done::Ok)
    }

    /// READ SUBSYSTEM DATA (`3E`): what the PERFORM SUBSYSTEM FUNCTION just
    /// before it prepared.
    pub(crate) fn read_subsystem_data(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(0x3e)?;
        if self.chain.prev != Some(0x27) || self.rssd.len == 0 {
            return Err(SEQUENCE.into());
        }
        let r = self.rssd;
        self.rssd.len = 0;
        give(data, &r.data[..r.len])?;
        Ok(Done::Ok)
    }

    /// READ AND RESET BUFFERED LOG (`A4`): 32 bytes, no usage or error
    /// statistics kept.
    pub(crate) fn read_buffered_log(&mut self, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(0xa4)?;
        give(data, &[0u8; 32])?;
        Ok(Done::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ebcdic_encodes_digits_and_letters() {
        let mut b = [0u8; 6];
        ebcdic("3390ZC", &mut b);
        assert_eq!(b, [0xf3, 0xf3, 0xf9, 0xf0, 0xe9, 0xc3]);
    }

    #[test]
    fn reserved_path_group_blocks_other_paths() {
        let mut g = PathGroups::default();
        g.paths[0] = PathGroup {
            state: Grouping::Grouped,
            multipath: true,
            pgid: [1; 11],
        };
        g.paths[1] = g.paths[0];
        g.reserve = Some(g.owner_of(0));
        assert!(g.reserved_to(1));
        assert!(!g.blocks(1, 0x06));
        assert!(g.blocks(2, 0x06));
        assert!(!g.blocks(2, 0x34));
        assert_eq!(g.state_byte(0), 0xf8);
        assert_eq!(g.state_byte(2), 0x20);
    }
}
