//! Snapshot and restore of the whole I/O state of a channel subsystem:
//! every subchannel (PMCW, SCSW, ORB, ERW and ECW of the pending status —
//! a suspended program is its SCSW and ORB —, the passthrough bookkeeping),
//! the pending I/O interruptions in delivery order, the channel reports,
//! channel monitoring, the adapter-interruption state, and each device's
//! own state ([`Device::save_state`](crate::Device::save_state)).
//!
//! The format is versioned ([`SNAPSHOT_VERSION`]) and documented in the
//! repository's `docs/snapshot.md`; [`CssSnapshot`] is plain data with
//! serde, so an embedder writes it in whatever serde format it likes (the
//! `zcss` package writes JSON).
//!
//! Restore goes into a channel subsystem built like the one saved (the
//! same devices on the same subchannels, as a migration target is
//! configured like its source): what does not match is refused with a
//! [`SnapshotError`] before anything changes. Snapshots are taken while
//! the CPUs are stopped: a channel program running on another thread is
//! refused ([`SnapshotError::Busy`]), and so is a passthrough device with
//! a function the host has yet to report on
//! ([`SnapshotError::PassthroughInFlight`]; wait for it with
//! [`Css::wait_until`] and try again) — its host state cannot be carried.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use zcss_ccw::esw::{Esw, ExtendedReportWord};
use zcss_ccw::irb::Irb;
use zcss_ccw::orb::Orb;
use zcss_ccw::schib::Schib;
use zcss_ccw::sid::SubchannelId;

use crate::crw_queue::CrwQueueState;
pub use crate::device::{DeviceState, DeviceStateError};
use crate::measurement::{MonitorState, Sample};
use crate::pt_state::{PtState, Waiting};
use crate::subchannel::STOP_NONE;
use crate::Css;

/// Name in [`CssSnapshot::format`].
pub const SNAPSHOT_FORMAT: &str = "zcss-css-snapshot";
/// The snapshot version this build writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Raw bytes as a lowercase hex string (serde `with` module).
pub mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `b` as hex.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(b.len() * 2);
        for x in b {
            out.push(char::from(b"0123456789abcdef"[usize::from(x >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(x & 15)]));
        }
        s.serialize_str(&out)
    }

    /// Reads hex.
    ///
    /// # Errors
    /// Odd length or a character that is no hex digit.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        decode(&s).ok_or_else(|| serde::de::Error::custom("not a hex string"))
    }

    /// Decodes a hex string.
    #[must_use]
    pub fn decode(s: &str) -> Option<Vec<u8>> {
        if s.len() % 2 != 0 {
            return None;
        }
        s.as_bytes()
            .chunks(2)
            .map(|p| {
                let d = |c: u8| char::from(c).to_digit(16);
                Some(u8::try_from(d(p[0])? * 16 + d(p[1])?).unwrap_or(0))
            })
            .collect()
    }
}

/// Optional raw bytes as hex (serde `with` module).
pub mod hex_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `b` as hex or null.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => super::hex::serialize(b, s),
            None => s.serialize_none(),
        }
    }

    /// Reads hex or null.
    ///
    /// # Errors
    /// Not a hex string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => super::hex::decode(&s)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("not a hex string")),
        }
    }
}

/// A subchannel id in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SidState {
    /// css image.
    pub cssid: u8,
    /// Subchannel set.
    pub ssid: u8,
    /// Subchannel number.
    pub schno: u16,
}

impl From<SubchannelId> for SidState {
    fn from(s: SubchannelId) -> Self {
        Self {
            cssid: s.cssid,
            ssid: s.ssid,
            schno: s.schno,
        }
    }
}

impl From<SidState> for SubchannelId {
    fn from(s: SidState) -> Self {
        Self {
            cssid: s.cssid,
            ssid: s.ssid & 3,
            schno: s.schno,
        }
    }
}

/// Identity of the device a subchannel held, checked before a restore
/// changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeviceIdent {
    /// Control-unit type.
    pub cu_type: u16,
    /// Control-unit model.
    pub cu_model: u8,
    /// Device type.
    pub dev_type: u16,
    /// Device model.
    pub dev_model: u8,
    /// A passthrough device.
    pub passthrough: bool,
}

impl std::fmt::Display for DeviceIdent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}CU {:04x}/{:02x} device {:04x}/{:02x}",
            if self.passthrough { "passthrough " } else { "" },
            self.cu_type,
            self.cu_model,
            self.dev_type,
            self.dev_model
        )
    }
}

/// A report of a passthrough device waiting for TEST SUBCHANNEL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingReport {
    /// The request it belongs to (`None`: unsolicited).
    pub token: Option<u64>,
    /// The 96-byte IRB as the host stored it.
    #[serde(with = "hex")]
    pub irb: Vec<u8>,
}

/// The passthrough bookkeeping of a subchannel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassthroughState {
    /// Token of the host function the subchannel follows.
    pub token: u64,
    /// The 20-byte ESW the host reported for the pending status.
    #[serde(with = "hex_opt")]
    pub esw: Option<Vec<u8>>,
    /// Reports waiting, oldest first.
    pub waiting: Vec<WaitingReport>,
}

/// One subchannel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubchannelState {
    /// The subchannel.
    pub sid: SidState,
    /// A device is attached.
    pub present: bool,
    /// The SCHIB (PMCW, SCSW, MBA), 52 bytes as STORE SUBCHANNEL stores it.
    #[serde(with = "hex")]
    pub schib: Vec<u8>,
    /// The ORB of the current (or last) start function, 32 bytes.
    #[serde(with = "hex")]
    pub orb: Vec<u8>,
    /// Extended-report word of the pending status.
    pub erw: u32,
    /// Extended-control word (concurrent sense), 32 bytes.
    #[serde(with = "hex")]
    pub ecw: Vec<u8>,
    /// Last interruption sequence number used.
    pub seq: u32,
    /// Passthrough bookkeeping (passthrough devices only).
    pub passthrough: Option<PassthroughState>,
    /// Identity of the device.
    pub ident: Option<DeviceIdent>,
    /// The device's own state.
    pub device: Option<DeviceState>,
}

/// A pending I/O interruption, in the order delivery takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedInterruption {
    /// Interruption subclass.
    pub isc: u8,
    /// The subchannel.
    pub sid: SidState,
}

/// Channel monitoring as SET CHANNEL MONITOR left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorSnapshot {
    /// M: measurement-block-update mode.
    pub update: bool,
    /// D: device-connect-time-measurement mode.
    pub dct: bool,
    /// MBK.
    pub key: u8,
    /// MBO.
    pub mbo: u64,
}

/// The times of a suspended timed start function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspendedSample {
    /// The subchannel.
    pub sid: SidState,
    /// Its times so far.
    pub sample: Sample,
}

/// The whole I/O state of a channel subsystem (see the module
/// documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CssSnapshot {
    /// Always [`SNAPSHOT_FORMAT`].
    pub format: String,
    /// [`SNAPSHOT_VERSION`] of the build that wrote it.
    pub version: u32,
    /// The configured default css image (must match on restore).
    pub default_cssid: u8,
    /// MCSS-E enabled.
    pub mcss: bool,
    /// Multiple subchannel sets enabled.
    pub mss: bool,
    /// Every subchannel that ever held a device, in id order.
    pub subchannels: Vec<SubchannelState>,
    /// Pending I/O interruptions; within an ISC in delivery order.
    pub interruptions: Vec<QueuedInterruption>,
    /// Pending adapter interruptions and AIS modes (the packed word).
    pub adapter: u32,
    /// Channel reports.
    pub crw: CrwQueueState,
    /// Channel monitoring.
    pub monitor: MonitorSnapshot,
    /// Timed start functions that are suspended.
    pub suspended_samples: Vec<SuspendedSample>,
    /// The last passthrough request token handed out.
    pub passthrough_token: u64,
}

impl CssSnapshot {
    /// Parses a snapshot written as JSON and checks its format and version.
    ///
    /// # Errors
    /// [`SnapshotError::Json`], [`SnapshotError::Format`] or
    /// [`SnapshotError::Version`].
    pub fn from_json(text: &str) -> Result<Self, SnapshotError> {
        let v: serde_json::Value = serde_json::from_str(text)?;
        Self::from_value(v)
    }

    /// Takes a snapshot from a JSON value, checking its format and version
    /// before the rest.
    ///
    /// # Errors
    /// As [`CssSnapshot::from_json`].
    pub fn from_value(v: serde_json::Value) -> Result<Self, SnapshotError> {
        let format = v.get("format").and_then(serde_json::Value::as_str).unwrap_or("");
        if format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format(format.to_owned()));
        }
        let version = v.get("version").and_then(serde_json::Value::as_u64).unwrap_or(0);
        if version != u64::from(SNAPSHOT_VERSION) {
            return Err(SnapshotError::Version {
                found: version,
                supported: SNAPSHOT_VERSION,
            });
        }
        Ok(serde_json::from_value(v)?)
    }

    /// The snapshot as JSON.
    ///
    /// # Errors
    /// [`SnapshotError::Json`] (not expected: the state is plain data).
    pub fn to_json(&self) -> Result<String, SnapshotError> {
        Ok(serde_json::to_string(self)?)
    }
}

/// Why a snapshot cannot be taken or restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Not a css snapshot.
    #[error("not a zcss css snapshot (format `{0}`)")]
    Format(String),
    /// Written by a build with another snapshot version.
    #[error("snapshot version {found}; this build reads version {supported}")]
    Version {
        /// The version in the snapshot.
        found: u64,
        /// The version this build reads.
        supported: u32,
    },
    /// Malformed JSON or a field of the wrong type.
    #[error("malformed snapshot: {0}")]
    Json(#[from] serde_json::Error),
    /// A value in the snapshot that cannot be (a SCHIB of the wrong
    /// length, an interruption of a subchannel that is not status pending).
    #[error("invalid snapshot: {0}")]
    Invalid(String),
    /// The channel subsystem is configured differently.
    #[error("snapshot of a channel subsystem with default css {found:#04x}; this one has {expected:#04x}")]
    Config {
        /// This css's default css image.
        expected: u8,
        /// The snapshot's.
        found: u8,
    },
    /// A channel program runs on another thread: stop the CPUs first.
    #[error("subchannel {0}: a channel program is running")]
    Busy(SubchannelId),
    /// A passthrough device has a function the host has yet to report on.
    #[error("subchannel {0}: a passthrough function is in flight; wait for its status and try again")]
    PassthroughInFlight(SubchannelId),
    /// The subchannels with devices differ.
    #[error("subchannel {sid}: {}", if *in_snapshot { "has a device in the snapshot, none here" } else { "has a device here, none in the snapshot" })]
    Layout {
        /// The subchannel.
        sid: SubchannelId,
        /// Whether the snapshot has the device (and this css not).
        in_snapshot: bool,
    },
    /// Another kind of device.
    #[error("subchannel {sid}: the snapshot has a {found}, this css a {expected}")]
    DeviceKind {
        /// The subchannel.
        sid: SubchannelId,
        /// This css's device.
        expected: DeviceIdent,
        /// The snapshot's device.
        found: DeviceIdent,
    },
    /// A device could not save or restore its state.
    #[error("subchannel {sid}: {source}")]
    Device {
        /// The subchannel.
        sid: SubchannelId,
        /// Why.
        #[source]
        source: DeviceStateError,
    },
}

fn invalid(what: impl Into<String>) -> SnapshotError {
    SnapshotError::Invalid(what.into())
}

fn array<const N: usize>(b: &[u8], what: &str) -> Result<[u8; N], SnapshotError> {
    <[u8; N]>::try_from(b).map_err(|_| invalid(format!("{what}: {} bytes, not {N}", b.len())))
}

impl PassthroughState {
    fn save(pt: &PtState) -> Self {
        Self {
            token: pt.token,
            esw: pt.esw.map(|e| e.to_be_bytes().to_vec()),
            waiting: pt
                .waiting
                .iter()
                .map(|w| WaitingReport {
                    token: w.token,
                    irb: w.irb.encode().to_vec(),
                })
                .collect(),
        }
    }

    fn load(&self) -> Result<PtState, SnapshotError> {
        let esw = match &self.esw {
            Some(b) => Some(Esw::from_be_bytes(array(b, "esw")?)),
            None => None,
        };
        let waiting = self
            .waiting
            .iter()
            .map(|w| {
                Ok(Waiting {
                    token: w.token,
                    irb: Irb::decode(&w.irb).ok_or_else(|| invalid("waiting irb: too short"))?,
                })
            })
            .collect::<Result<_, SnapshotError>>()?;
        Ok(PtState {
            token: self.token,
            esw,
            waiting,
        })
    }
}

impl Css {
    /// Saves the whole I/O state (see the [module documentation](self)).
    /// Passthrough reports that arrived are applied first.
    ///
    /// # Errors
    /// [`SnapshotError::Busy`], [`SnapshotError::PassthroughInFlight`], or
    /// [`SnapshotError::Device`] for a device that cannot save its state.
    pub fn snapshot(&self) -> Result<CssSnapshot, SnapshotError> {
        self.poll();
        let sh = &self.sh;
        let mut subchannels = Vec::new();
        let mut err = None;
        sh.tables.for_each(|sch| {
            if err.is_some() {
                return;
            }
            let mut dev = sch.dev.lock();
            let st = sch.state.lock();
            if st.running {
                err = Some(SnapshotError::Busy(sch.sid));
                return;
            }
            if st.pt.is_some() && st.actl().into_bits() != 0 {
                err = Some(SnapshotError::PassthroughInFlight(sch.sid));
                return;
            }
            let schib = st.schib().to_be_bytes().to_vec();
            let mut s = SubchannelState {
                sid: sch.sid.into(),
                present: st.present,
                schib,
                orb: st.orb.encode().0.to_vec(),
                erw: st.erw.into_bits(),
                ecw: st.ecw.to_vec(),
                seq: st.seq,
                passthrough: st.pt.as_deref().map(PassthroughState::save),
                ident: None,
                device: None,
            };
            drop(st);
            if let Some(info) = dev.info() {
                s.ident = Some(ident(&info, dev.is_passthrough()));
                match dev.save_state() {
                    Some(Ok(d)) => s.device = Some(d),
                    Some(Err(source)) => {
                        err = Some(SnapshotError::Device { sid: sch.sid, source });
                        return;
                    }
                    None => {}
                }
            }
            subchannels.push(s);
        });
        if let Some(e) = err {
            return Err(e);
        }
        let interruptions = sh
            .queues
            .snapshot()
            .into_iter()
            .filter(|(_, e)| sh.is_live(e))
            .map(|(isc, e)| QueuedInterruption { isc, sid: e.sid.into() })
            .collect();
        let m = sh.ext.measurement.monitor.state();
        Ok(CssSnapshot {
            format: SNAPSHOT_FORMAT.to_owned(),
            version: SNAPSHOT_VERSION,
            default_cssid: sh.cfg.default_cssid,
            mcss: sh.mcss(),
            mss: sh.mss(),
            subchannels,
            interruptions,
            adapter: sh.adapters.raw(),
            crw: sh.ext.crw.lock().state(),
            monitor: MonitorSnapshot {
                update: m.update,
                dct: m.dct,
                key: m.key.get(),
                mbo: m.mbo,
            },
            suspended_samples: sh
                .ext
                .measurement
                .suspended_samples()
                .into_iter()
                .map(|(sid, sample)| SuspendedSample {
                    sid: sid.into(),
                    sample,
                })
                .collect(),
            passthrough_token: sh.pt_token.load(Ordering::Acquire),
        })
    }

    /// Restores a snapshot into this channel subsystem, which must have the
    /// same configuration and the same kinds of device on the same
    /// subchannels. The waker is told of every interruption and channel
    /// report pending afterwards. Checks the layout and device identities before it
    /// changes anything; a device refusing its state (a malformed or
    /// mismatched state) after that leaves the css partly restored — build
    /// a fresh one.
    ///
    /// # Errors
    /// See [`SnapshotError`].
    pub fn restore(&self, snap: &CssSnapshot) -> Result<(), SnapshotError> {
        let sh = &self.sh;
        if snap.format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format(snap.format.clone()));
        }
        if snap.version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version {
                found: u64::from(snap.version),
                supported: SNAPSHOT_VERSION,
            });
        }
        if snap.default_cssid != sh.cfg.default_cssid {
            return Err(SnapshotError::Config {
                expected: sh.cfg.default_cssid,
                found: snap.default_cssid,
            });
        }
        self.check_layout(snap)?;
        // Decode every architected structure before changing anything.
        let mut decoded = Vec::with_capacity(snap.subchannels.len());
        for s in &snap.subchannels {
            let schib = Schib::from_be_bytes(&array(&s.schib, "schib")?);
            let orb = Orb::decode(&s.orb).ok_or_else(|| invalid("orb: too short"))?;
            let ecw: [u8; 32] = array(&s.ecw, "ecw")?;
            let pt = s.passthrough.as_ref().map(PassthroughState::load).transpose()?;
            decoded.push((s, schib, orb, ecw, pt));
        }
        let crw = crate::crw_queue::CrwQueue::from_state(&snap.crw).map_err(invalid)?;
        self.poll();
        for (s, schib, orb, ecw, pt) in decoded {
            let sid = SubchannelId::from(s.sid);
            let Some(sch) = sh.tables.get(sid) else { continue };
            sch.stop.store(STOP_NONE, Ordering::Release);
            let mut dev = sch.dev.lock();
            if let Some(d) = &s.device {
                if let Some(Err(source)) = dev.restore_state(d) {
                    return Err(SnapshotError::Device { sid, source });
                }
            }
            let mut st = sch.state.lock();
            sh.withdraw(sid, &mut st);
            st.present = s.present;
            st.pmcw = schib.pmcw;
            st.scsw = schib.scsw;
            st.mba = schib.mba;
            st.orb = orb;
            st.erw = ExtendedReportWord::from_bits(s.erw);
            st.ecw = ecw;
            st.seq = s.seq;
            st.running = false;
            if st.pt.is_some() {
                st.pt = Some(Box::new(pt.unwrap_or_default()));
            }
            // Work begun before the restore is discarded.
            st.generation = st.generation.wrapping_add(1);
            sch.resume.store(false, Ordering::Release);
        }
        sh.queues.clear();
        for q in &snap.interruptions {
            let sid = SubchannelId::from(q.sid);
            let sch = sh
                .tables
                .get(sid)
                .ok_or_else(|| invalid(format!("interruption of {sid}, which has no subchannel")))?;
            let mut st = sch.state.lock();
            if !st.status_pending() || st.isc() != q.isc || sch.queued.load(Ordering::Acquire) != 0 {
                return Err(invalid(format!("interruption of {sid} on ISC {}", q.isc)));
            }
            let _ = sh.queue_interrupt(sid, &mut st);
        }
        sh.adapters.set_raw(snap.adapter);
        *sh.ext.crw.lock() = crw;
        sh.ext.measurement.monitor.set(MonitorState {
            update: snap.monitor.update,
            dct: snap.monitor.dct,
            key: zcss_ccw::AccessKey::new(snap.monitor.key & 0x0f),
            mbo: snap.monitor.mbo,
        });
        sh.ext.measurement.set_suspended_samples(
            snap.suspended_samples
                .iter()
                .map(|s| (SubchannelId::from(s.sid), s.sample)),
        );
        sh.mcss.store(snap.mcss, Ordering::Release);
        sh.mss.store(snap.mss, Ordering::Release);
        sh.pt_token.fetch_max(snap.passthrough_token, Ordering::AcqRel);
        // Tell the embedder what is pending now.
        for q in &snap.interruptions {
            sh.wake(crate::Wake::Io { isc: q.isc });
        }
        let adapters = sh.adapters.pending_mask();
        for isc in (0..8u8).filter(|i| adapters & (0x80 >> i) != 0) {
            sh.wake(crate::Wake::Adapter { isc });
        }
        if sh.ext.crw.lock().machine_check_pending() {
            sh.wake(crate::Wake::ChannelReport);
        }
        Ok(())
    }

    /// The subchannels with devices and their identities must be the
    /// snapshot's.
    fn check_layout(&self, snap: &CssSnapshot) -> Result<(), SnapshotError> {
        let mut here = Vec::new();
        self.sh.tables.for_each(|sch| {
            let dev = sch.dev.lock();
            if let Some(info) = dev.info() {
                here.push((sch.sid, ident(&info, dev.is_passthrough())));
            }
        });
        for s in &snap.subchannels {
            let sid = SubchannelId::from(s.sid);
            let mine = here.iter().find(|(h, _)| *h == sid).map(|(_, i)| *i);
            match (s.ident, mine) {
                (Some(found), Some(expected)) if found != expected => {
                    return Err(SnapshotError::DeviceKind { sid, expected, found });
                }
                (Some(_), None) => return Err(SnapshotError::Layout { sid, in_snapshot: true }),
                _ => {}
            }
        }
        for (sid, _) in here {
            if !snap
                .subchannels
                .iter()
                .any(|s| SubchannelId::from(s.sid) == sid && s.ident.is_some())
            {
                return Err(SnapshotError::Layout {
                    sid,
                    in_snapshot: false,
                });
            }
        }
        Ok(())
    }
}

fn ident(info: &crate::DeviceInfo, passthrough: bool) -> DeviceIdent {
    DeviceIdent {
        cu_type: info.cu_type,
        cu_model: info.cu_model,
        dev_type: info.dev_type,
        dev_model: info.dev_model,
        passthrough,
    }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
