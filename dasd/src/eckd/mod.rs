//! The ECKD device: an IBM 3390 behind a 3990 storage control, executed
//! CCW by CCW for the channel subsystem (IBM 3990 Storage Control
//! Reference GA32-0099; the 3390-compatible command descriptions of
//! SA22-1025; z/Architecture Principles of Operation, chapter 15,
//! "Execution of I/O Operations" for the device's side of a channel
//! program).
//!
//! * [`ident`] — SENSE ID, READ DEVICE CHARACTERISTICS, READ
//!   CONFIGURATION DATA, SENSE, path groups, reserve and release,
//!   PERFORM SUBSYSTEM FUNCTION and READ SUBSYSTEM DATA;
//! * [`params`] — the DEFINE EXTENT, LOCATE RECORD (EXTENDED) and PREFIX
//!   parameter blocks;
//! * [`domain`] — the state of a command chain (extent, file mask, Locate
//!   Record domain);
//! * [`position`] — seeks, orientation, searches, and the commands that
//!   establish them;
//! * [`data`] — the read and write commands;
//! * [`sense`] — the unit-check sense;
//! * [`volume`] — track access through the store.
//!
//! Everything the guest controls (parameter blocks, counts, command
//! sequences) is checked: an error is unit check with architected sense,
//! never a panic, and no track outside the defined extent is ever
//! written. The hot path (DEFINE EXTENT, LOCATE RECORD, READ DATA)
//! allocates nothing: records move from the store's track image straight
//! into the data stream, and write data passes through one buffer the
//! device keeps.

pub mod data;
pub mod domain;
pub mod ident;
pub mod params;
pub mod position;
pub mod sense;
pub mod volume;

use zcss_ccw::{Ccw, CcwDevice, DataStream, DeviceResult, DeviceStatus, ProgramEnd, Sense};
use zcss_css::{chpid_type, ChannelPaths, Device, DeviceInfo, DeviceState, DeviceStateError, SubchannelHandle};

use crate::geometry::{ControlUnit, Model};
use crate::store::{StoreError, TrackStore};
use crate::track::TrackAddr;

use self::domain::Chain;
pub use self::ident::PathGroups;
use self::ident::Rssd;
use self::position::Cursor;
use self::sense::{Fault, RejectMsg, SenseContext, SenseFormat};
use self::volume::Volume;

/// Device type of the 3390 (SENSE ID bytes 4–5).
pub const DEVICE_TYPE: u16 = 0x3390;

/// How the device is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DasdConfig {
    /// The 3390 model (its identity; the volume's size comes from the
    /// store).
    pub model: Model,
    /// The storage control in front of it.
    pub cu: ControlUnit,
    /// The unit address (RCD NED byte 31, GNEQ byte 11, sense byte 4).
    pub unit_address: u8,
    /// The subsystem id (GNEQ bytes 8–9).
    pub ssid: u16,
    /// The logical subsystem (RCD NED byte 30).
    pub lss: u8,
    /// A serial number (RCD NED bytes 18–29, in EBCDIC digits), unique per
    /// volume so that a guest tells devices apart.
    pub serial: u32,
    /// The channel paths (default: CHPID 0x01, FICON).
    pub paths: ChannelPaths,
    /// The sense layout.
    pub sense_format: SenseFormat,
}

impl Default for DasdConfig {
    fn default() -> Self {
        Self {
            model: Model::M3,
            cu: ControlUnit::Model6,
            unit_address: 0,
            ssid: 0,
            lss: 0,
            serial: 0,
            paths: ChannelPaths::single(0x01, chpid_type::FICON),
            sense_format: SenseFormat::Compat24,
        }
    }
}

impl DasdConfig {
    /// The identity a device number gives, as Hercules derives it: unit
    /// address = the low byte, subsystem id = the number without its low
    /// five bits, serial = the number.
    #[must_use]
    pub fn for_devno(devno: u16) -> Self {
        let [_, ua] = devno.to_be_bytes();
        Self {
            unit_address: ua,
            ssid: devno & !0x1f,
            serial: u32::from(devno),
            ..Self::default()
        }
    }
}

/// What a command handler ends with when no unit check occurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Done {
    /// Channel end and device end.
    Ok,
    /// With status modifier (a search found its record).
    Modifier,
    /// With unit exception (a record of data length zero).
    Exception,
}

/// Why a command handler stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Halt {
    /// A unit check with this fault.
    Fault(Fault),
    /// The channel ended the transfer (program or protection check): the
    /// command ends without unit check and the channel reports its check.
    Channel,
}

impl From<Fault> for Halt {
    fn from(f: Fault) -> Self {
        Self::Fault(f)
    }
}

pub(crate) type Outcome = Result<Done, Halt>;

/// Takes exactly `buf.len()` parameter bytes from the channel.
///
/// # Errors
/// Command reject message 3 when the CCW offers fewer, [`Halt::Channel`]
/// when the channel stopped the transfer.
pub(crate) fn take(data: &mut DataStream<'_>, buf: &mut [u8]) -> Result<(), Halt> {
    if data.read(buf) == buf.len() {
        Ok(())
    } else if data.failed() {
        Err(Halt::Channel)
    } else {
        Err(Halt::Fault(Fault::Reject(RejectMsg::CountTooSmall)))
    }
}

/// Offers `bytes` to the channel (a read command's data).
///
/// # Errors
/// [`Halt::Channel`] when the channel stopped the transfer.
#[inline]
pub(crate) fn give(data: &mut DataStream<'_>, bytes: &[u8]) -> Result<(), Halt> {
    data.write(bytes);
    if data.failed() {
        Err(Halt::Channel)
    } else {
        Ok(())
    }
}

/// Command reject with the message of a parameter error.
pub(crate) const fn reject(e: params::ParamError) -> Halt {
    Halt::Fault(Fault::Reject(e.msg()))
}

/// Kind name of a DASD's state in a snapshot.
pub const STATE_KIND: &str = "dasd-eckd";
/// Version of that state.
pub const STATE_VERSION: u32 = 1;

/// A track of the volume held in memory, in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrackState {
    /// Relative track number (cylinder × 15 + head).
    pub track: u64,
    /// The track image (home address through the end marker).
    #[serde(with = "zcss_css::snapshot::hex")]
    pub image: Vec<u8>,
}

/// The state of a [`Dasd`] in a snapshot (the repository's
/// `docs/snapshot.md` describes it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DasdState {
    /// Cylinders of the volume (checked on restore).
    pub cylinders: u32,
    /// The channel path (LPUM bit) of the last program.
    pub path: u8,
    /// Path groups and the reservation.
    pub groups: PathGroups,
    /// Sense kept for a following SENSE (contingent allegiance).
    #[serde(with = "zcss_css::snapshot::hex_opt")]
    pub sense: Option<Vec<u8>>,
    /// Data PERFORM SUBSYSTEM FUNCTION prepared for READ SUBSYSTEM DATA.
    #[serde(with = "zcss_css::snapshot::hex")]
    pub rssd: Vec<u8>,
    /// The relative track the heads are on.
    pub track: u64,
    /// The tracks held in memory (`None`: the volume is a file, flushed).
    pub tracks: Option<Vec<TrackState>>,
}

/// An IBM 3390 behind a 3990, on a volume in a [`TrackStore`].
pub struct Dasd {
    pub(crate) cfg: DasdConfig,
    pub(crate) vol: Volume,
    pub(crate) chain: Chain,
    pub(crate) cur: Cursor,
    /// The channel path (LPUM bit) of the running program.
    pub(crate) path: u8,
    pub(crate) groups: PathGroups,
    /// Sense for a following SENSE (contingent allegiance).
    pub(crate) sense: Option<Sense>,
    pub(crate) rssd: Rssd,
    /// Write data and parameters taken from the channel.
    pub(crate) scratch: Vec<u8>,
    /// The last program was suspended (its chain state continues).
    suspended: bool,
    handle: Option<SubchannelHandle>,
}

impl std::fmt::Debug for Dasd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dasd")
            .field("cfg", &self.cfg)
            .field("vol", &self.vol)
            .field("cur", &self.cur)
            .finish_non_exhaustive()
    }
}

/// Size of the scratch buffer: more than any track image or record.
const SCRATCH: usize = 64 * 1024 + 512;

impl Dasd {
    /// A device of `cfg` on the volume in `store`.
    #[must_use]
    pub fn new(cfg: DasdConfig, store: Box<dyn TrackStore>) -> Self {
        Self {
            cfg,
            vol: Volume::new(store),
            chain: Chain::default(),
            cur: Cursor::default(),
            path: 0x80,
            groups: PathGroups::default(),
            sense: None,
            rssd: Rssd::default(),
            scratch: vec![0; SCRATCH],
            suspended: false,
            handle: None,
        }
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &DasdConfig {
        &self.cfg
    }

    /// Cylinders of the volume.
    #[must_use]
    pub const fn cylinders(&self) -> u32 {
        self.vol.cylinders()
    }

    /// The volume's store.
    pub fn store_mut(&mut self) -> &mut dyn TrackStore {
        self.vol.store_mut()
    }

    /// The subchannel the device was attached to, if any.
    #[must_use]
    pub fn handle(&self) -> Option<&SubchannelHandle> {
        self.handle.as_ref()
    }

    /// Stores pending track edits and makes every completed write
    /// durable.
    ///
    /// # Errors
    /// The store's failure.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.vol.sync()
    }

    /// The channel path the program runs on (its LPUM: one bit, `0x80`
    /// for the first path), as [`CcwDevice::program_start`] passes it.
    /// Path groups and reserves are kept per path; an LPUM that is not a
    /// single bit counts as the first path.
    pub fn set_path(&mut self, lpum: u8) {
        self.path = if lpum.count_ones() == 1 { lpum } else { 0x80 };
    }

    /// The index (0–7) of the running program's path.
    pub(crate) fn path_index(&self) -> usize {
        usize::try_from(self.path.leading_zeros()).unwrap_or(0).min(7)
    }

    fn sense_context(&self, residual: Option<u8>) -> SenseContext {
        SenseContext {
            track: self.cur.track,
            unit_address: self.cfg.unit_address,
            lr_residual: residual,
        }
    }

    /// Ends a command with unit check and keeps the sense for SENSE.
    fn unit_check(&mut self, fault: Fault) -> DeviceResult {
        // Imprecise end: the fault ended a domain with records (or
        // tracks) still to come.
        let residual = match fault {
            Fault::Reject(_) => None,
            _ => self.chain.residual().filter(|&left| left > 0),
        };
        let s = sense::build(Some(fault), self.sense_context(residual), self.cfg.sense_format);
        tracing::debug!(?fault, track = %self.cur.track, "dasd unit check");
        self.sense = Some(s);
        // A unit check ends the chain: the domain and any pending edit
        // end with it.
        self.chain.domain = None;
        DeviceResult::unit_check(s)
    }

    /// The "no error" sense SENSE returns when nothing is pending.
    pub(crate) fn idle_sense(&self) -> Sense {
        sense::build(None, self.sense_context(None), self.cfg.sense_format)
    }

    /// Resets the per-chain state (a new channel program).
    fn start_chain(&mut self) {
        self.chain = Chain::default();
        self.cur.reset_orientation();
    }

    /// Ends the chain: stores a pending track edit; after a program that
    /// wrote, tells the store (a write-through image makes every completed
    /// write durable there).
    fn end_chain(&mut self) -> Result<(), Fault> {
        self.vol.flush()?;
        if self.chain.wrote {
            self.vol.sync_point().map_err(|e| volume::fault_of(&e))?;
        }
        Ok(())
    }

    fn dispatch(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> Outcome {
        let cmd = ccw.cmd;
        let mt = cmd & 0x80 != 0;
        match cmd {
            0x02 => self.read_ipl(data),
            0x03 => self.nop(),
            0x04 => self.sense_cmd(data),
            0x05 | 0x85 => self.write_data(cmd, false, data),
            0x0d | 0x8d => self.write_data(cmd, true, data),
            0x06 | 0x86 => self.read_data(mt, data),
            0x0e | 0x8e => self.read_key_data(mt, data),
            0x12 | 0x92 => self.read_count(mt, data),
            0x16 | 0x96 => self.read_r0(mt, data),
            0x1a | 0x9a => self.read_ha(mt, data),
            0x1e | 0x9e => self.read_ckd(mt, data),
            0x5e => self.read_multiple_ckd(data),
            0xde => self.read_track(data),
            0xa6 => self.read_track_data(data),
            0x07 | 0x0b | 0x1b => self.seek(cmd, data),
            0x13 => self.recalibrate(),
            0x11 => self.erase(data),
            0x15 => self.write_r0(data),
            0x19 => self.write_ha(data),
            0x1d | 0x9d => self.write_ckd(cmd == 0x9d, data),
            0x95 => self.write_full_track(data),
            0xa5 => self.write_track_data(data),
            0x1f => self.set_file_mask(data),
            0x22 => self.read_sector(data),
            0x23 => self.set_sector(data),
            0x29 | 0x49 | 0x69 | 0xa9 | 0xc9 | 0xe9 => self.search_key(cmd, data),
            0x31 | 0x51 | 0x71 | 0xb1 | 0xd1 | 0xf1 => self.search_id(cmd, data),
            0x39 | 0xb9 => self.search_ha(mt, data),
            0x47 => self.locate_record(data),
            0x4b => self.locate_record_extended(data),
            0x63 => self.define_extent(data),
            0xe7 => self.prefix(data),
            0xe4 => self.sense_id(data),
            0x64 => self.read_device_characteristics(data),
            0xfa => self.read_configuration_data(data),
            0x54 => self.sense_subsystem_status(data),
            0x34 => self.sense_path_group_id(data),
            0xaf => self.set_path_group_id(data),
            0xb4 | 0x94 | 0x14 => self.reserve_release(cmd, data),
            0x27 => self.perform_subsystem_function(data),
            0x3e => self.read_subsystem_data(data),
            0x5b | 0x87 => self.control_no_data(cmd, data),
            0xa4 => self.read_buffered_log(data),
            0xf3 => self.diagnostic_control(),
            _ => Err(Fault::Reject(RejectMsg::InvalidCommand).into()),
        }
    }

    /// NO OPERATION: rejected inside a Locate Record domain.
    fn nop(&mut self) -> Outcome {
        self.chain.admit(0x03)?;
        Ok(Done::Ok)
    }

    /// The commands that must not run inside a domain and need nothing
    /// else (SUSPEND MULTIPATH RECONNECTION, SET SUBSYSTEM MODE): their
    /// parameters, if any, are taken and ignored.
    fn control_no_data(&mut self, cmd: u8, data: &mut DataStream<'_>) -> Outcome {
        self.chain.admit(cmd)?;
        if cmd == 0x87 {
            let mut b = [0u8; 2];
            take(data, &mut b)?;
        }
        Ok(Done::Ok)
    }

    /// DIAGNOSTIC CONTROL: needs diagnostic authorization in the file mask.
    fn diagnostic_control(&mut self) -> Outcome {
        self.chain.admit(0xf3)?;
        if self.chain.mask.diagnostic() {
            Ok(Done::Ok)
        } else {
            Err(Fault::Reject(RejectMsg::DiagnosticNotPermitted).into())
        }
    }
}

impl CcwDevice for Dasd {
    fn program_start(&mut self, lpum: u8) {
        self.set_path(lpum);
        if std::mem::take(&mut self.suspended) {
            return;
        }
        self.start_chain();
    }

    fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
        let cmd = ccw.cmd;
        // Contingent allegiance: the sense of a unit check waits for the
        // next command, which takes it only if it is SENSE.
        let pending = self.sense.take();
        if self.groups.blocks(self.path_index(), cmd) {
            self.sense = pending;
            return DeviceResult {
                status: DeviceStatus::new().with_busy(true),
                sense: None,
            };
        }
        if cmd == 0x04 {
            self.sense = pending;
        }
        self.chain.enabling = self.chain.searched.take();
        let out = self.dispatch(ccw, data);
        self.chain.commands = self.chain.commands.saturating_add(1);
        self.chain.prev = Some(cmd);
        let done = match out {
            Ok(d) => d,
            Err(Halt::Channel) => {
                self.chain.domain = None;
                if let Err(f) = self.end_chain() {
                    tracing::warn!(?f, "dasd: pending track not stored after a channel check");
                }
                return DeviceResult::OK;
            }
            Err(Halt::Fault(f)) => {
                let r = self.unit_check(f);
                if let Err(f2) = self.end_chain() {
                    tracing::warn!(?f2, "dasd: pending track not stored after a unit check");
                }
                return r;
            }
        };
        self.chain.settle();
        if !ccw.flags.cc() || matches!(done, Done::Exception) {
            // The chain ends with this command; without chaining, inside
            // a domain, that is an error of the command (unit exception
            // ends the chain on its own).
            if self.chain.domain.is_some() && done != Done::Exception {
                let r = self.unit_check(Fault::DomainIncomplete);
                let _ = self.end_chain();
                return r;
            }
            if let Err(f) = self.end_chain() {
                return self.unit_check(f);
            }
        }
        match done {
            Done::Ok => DeviceResult::OK,
            Done::Modifier => DeviceResult::STATUS_MODIFIER,
            Done::Exception => DeviceResult::UNIT_EXCEPTION,
        }
    }

    fn program_end(&mut self, how: ProgramEnd) {
        if how == ProgramEnd::Suspended {
            self.suspended = true;
            return;
        }
        if let Err(f) = self.end_chain() {
            tracing::warn!(?f, "dasd: pending track not stored at program end");
        }
        self.chain.domain = None;
    }
}

impl Device for Dasd {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            cu_type: ControlUnit::TYPE,
            cu_model: self.cfg.cu.model_byte(),
            dev_type: DEVICE_TYPE,
            dev_model: self.cfg.model.model_byte(),
            paths: self.cfg.paths,
        }
    }

    fn attached(&mut self, handle: SubchannelHandle) {
        self.handle = Some(handle);
    }

    fn subchannel_reset(&mut self) {
        if let Err(f) = self.end_chain() {
            tracing::warn!(?f, "dasd: pending track not stored at reset");
        }
        self.suspended = false;
        self.start_chain();
        self.sense = None;
        self.rssd = Rssd::default();
    }

    /// The device's state between channel programs (see
    /// [`DasdState`]): path groups and reservation, pending sense and
    /// subsystem data, the track the heads are on, and the volume's tracks
    /// held in memory; a store with a file is flushed and carries none. A
    /// device with a suspended program cannot be saved.
    fn save_state(&mut self) -> Result<DeviceState, DeviceStateError> {
        if self.suspended {
            return Err(DeviceStateError::Unsupported(
                "the DASD holds a suspended channel program".into(),
            ));
        }
        self.flush()
            .map_err(|e| DeviceStateError::Unsupported(format!("flushing the volume: {e}")))?;
        let tracks = self.vol.store_mut().memory_tracks().map(|v| {
            v.into_iter()
                .map(|(track, image)| TrackState { track, image })
                .collect()
        });
        let s = DasdState {
            cylinders: self.vol.cylinders(),
            path: self.path,
            groups: self.groups,
            sense: self.sense.map(|s| s.bytes[..usize::from(s.len).min(32)].to_vec()),
            rssd: self.rssd.contents().to_vec(),
            track: self.cur.track.index(),
            tracks,
        };
        DeviceState::new(STATE_KIND, STATE_VERSION, &s)
    }

    fn restore_state(&mut self, state: &DeviceState) -> Result<(), DeviceStateError> {
        let s: DasdState = state.parse(STATE_KIND, STATE_VERSION)?;
        let invalid = |m: String| DeviceStateError::Invalid(m);
        if s.cylinders != self.vol.cylinders() {
            return Err(invalid(format!(
                "a volume of {} cylinders, this one has {}",
                s.cylinders,
                self.vol.cylinders()
            )));
        }
        let sense = match s.sense {
            Some(b) if b.len() <= 32 => {
                let mut bytes = [0u8; 32];
                bytes[..b.len()].copy_from_slice(&b);
                Some(Sense {
                    bytes,
                    len: u8::try_from(b.len()).unwrap_or(32),
                })
            }
            Some(_) => return Err(invalid("sense longer than 32 bytes".into())),
            None => None,
        };
        let rssd = Rssd::from_contents(&s.rssd).ok_or_else(|| invalid("subsystem data too long".into()))?;
        if let Some(tracks) = s.tracks {
            self.vol
                .store_mut()
                .set_memory_tracks(tracks.into_iter().map(|t| (t.track, t.image)).collect())
                .map_err(|e| invalid(format!("volume: {e}")))?;
        }
        self.subchannel_reset();
        self.path = s.path;
        self.groups = s.groups;
        self.sense = sense;
        self.rssd = rssd;
        self.cur.track = TrackAddr::from_index(s.track);
        Ok(())
    }

    /// The system reset (PoO chapter 17, "I/O-System Reset"; the 3990
    /// drops path groups and reservations on a system reset from the
    /// channel): what a clear resets, and every path back to the reset
    /// grouping state with no reservation.
    fn io_system_reset(&mut self) {
        self.subchannel_reset();
        self.groups = PathGroups::default();
    }
}

impl Drop for Dasd {
    /// Stores a pending track edit (a program suspended in the middle of a
    /// format write); durability is the store's own drop.
    fn drop(&mut self) {
        if let Err(f) = self.vol.flush() {
            tracing::warn!(?f, "dasd: pending track not stored at drop");
        }
    }
}

/// The track the device is on (for tools and tests).
impl Dasd {
    /// The current track.
    #[must_use]
    pub const fn track(&self) -> TrackAddr {
        self.cur.track
    }
}
