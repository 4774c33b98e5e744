//! Fuzzing helpers (feature `test-utils`): a [`Probed`] DASD that reports,
//! through its [`Probe`], every track its store wrote together with the
//! extent the device had in force when it did, and keeps a copy of the
//! volume readable while the device itself sits on a subchannel of a
//! [`zcss_css::Css`].
//!
//! The `dasd_eckd` fuzz target uses it to check the rule of DEFINE EXTENT
//! (IBM 3990 Storage Control Reference GA32-0099, "Define Extent": every
//! track accessed lies in the extent, file protected otherwise): a write
//! under an extent never reaches a track outside it.
//!
//! With the feature `arbitrary`: [`EckdStart`], an arbitrary ECKD channel
//! program as a start of the `zcss_css::fuzz` harness, and
//! [`run_scenario`], which runs a scenario of them against DASDs with the
//! DASD's oracles checked after every step — the body of the `dasd_eckd`
//! fuzz target and of the tests that replay its traces.

use std::sync::Arc;

use parking_lot::Mutex;
use zcss_ccw::{Ccw, CcwDevice, DataStream, DeviceResult, ProgramEnd};
use zcss_css::device::DeviceWrapper;
use zcss_css::Device;

use crate::eckd::domain::ExtentSource;
use crate::eckd::{Dasd, DasdConfig};
use crate::geometry::HEADS;
use crate::store::{StoreError, TrackStore};
use crate::track::TrackAddr;

#[cfg(feature = "arbitrary")]
mod program;
#[cfg(feature = "arbitrary")]
mod run;
#[cfg(feature = "arbitrary")]
mod start;

#[cfg(feature = "arbitrary")]
pub use run::{run_scenario, run_scenario_observed};
#[cfg(feature = "arbitrary")]
pub use start::EckdStart;

/// An extent: its first and last track.
pub type Extent = (TrackAddr, TrackAddr);

/// One store write (a whole track, or an update inside one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Written {
    /// The track written.
    pub track: TrackAddr,
    /// The extent in force when the command (or the chain end) that wrote
    /// began; `None` when the chain had none (no DEFINE EXTENT, PREFIX or
    /// READ IPL: the whole volume).
    pub extent: Option<Extent>,
}

#[derive(Debug, Default)]
struct State {
    /// The extent in force for the device's current step.
    extent: Option<Extent>,
    writes: Vec<Written>,
    /// Extents installed by DEFINE EXTENT or PREFIX.
    defined: Vec<Extent>,
    /// A copy of every track, by relative track number.
    tracks: Vec<Vec<u8>>,
}

/// The harness's view of a [`Probed`] device.
#[derive(Debug, Clone)]
pub struct Probe(Arc<Mutex<State>>);

impl Probe {
    /// Store writes since the last call.
    #[must_use]
    pub fn take_writes(&self) -> Vec<Written> {
        std::mem::take(&mut self.0.lock().writes)
    }

    /// Extents installed by DEFINE EXTENT or PREFIX since the last call.
    #[must_use]
    pub fn take_defined(&self) -> Vec<Extent> {
        std::mem::take(&mut self.0.lock().defined)
    }

    /// The stored image of every track, by relative track number (what
    /// the store holds: an edit still pending in the device is not in it).
    #[must_use]
    pub fn tracks(&self) -> Vec<Vec<u8>> {
        self.0.lock().tracks.clone()
    }

    /// The stored image of track `t` (`None`: not a track of the volume).
    #[must_use]
    pub fn track(&self, t: TrackAddr) -> Option<Vec<u8>> {
        let i = usize::try_from(t.index()).ok()?;
        self.0.lock().tracks.get(i).cloned()
    }

    /// Tracks of the volume.
    #[must_use]
    pub fn track_count(&self) -> u64 {
        u64::try_from(self.0.lock().tracks.len()).unwrap_or(0)
    }
}

/// The store of a [`Probed`] device: logs every write and keeps the copy.
struct ProbeStore {
    inner: Box<dyn TrackStore>,
    state: Arc<Mutex<State>>,
}

impl ProbeStore {
    fn record(&mut self, t: TrackAddr) -> Result<(), StoreError> {
        let img = self.inner.read(t)?.to_vec();
        let mut st = self.state.lock();
        let extent = st.extent;
        st.writes.push(Written { track: t, extent });
        if let Some(slot) = usize::try_from(t.index()).ok().and_then(|i| st.tracks.get_mut(i)) {
            *slot = img;
        }
        Ok(())
    }
}

impl TrackStore for ProbeStore {
    fn cylinders(&self) -> u32 {
        self.inner.cylinders()
    }

    fn read(&mut self, t: TrackAddr) -> Result<&[u8], StoreError> {
        self.inner.read(t)
    }

    fn write(&mut self, t: TrackAddr, image: &[u8]) -> Result<(), StoreError> {
        self.inner.write(t, image)?;
        self.record(t)
    }

    fn update(&mut self, t: TrackAddr, offset: usize, data: &[u8]) -> Result<(), StoreError> {
        self.inner.update(t, offset, data)?;
        self.record(t)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.inner.flush()
    }

    fn max_track_len(&self) -> usize {
        self.inner.max_track_len()
    }
}

/// A [`Dasd`] whose store writes are observed by a [`Probe`].
pub struct Probed {
    dasd: Dasd,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Probed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probed")
            .field("dasd", &self.dasd)
            .finish_non_exhaustive()
    }
}

impl Probed {
    /// A device of `cfg` on `store`, and its probe. Every track of the
    /// store is copied here: meant for small volumes.
    ///
    /// # Errors
    /// A track of `store` that cannot be read.
    pub fn new(cfg: DasdConfig, store: Box<dyn TrackStore>) -> Result<(Self, Probe), StoreError> {
        Self::wrap(Dasd::new(cfg, store))
    }

    /// `dasd` (built by whoever builds devices, e.g. as a trace's
    /// `device` line names it) with its store observed, and its probe.
    /// Every track of the volume is copied here: meant for small volumes.
    ///
    /// # Errors
    /// A track that cannot be read, or a pending edit that cannot be
    /// stored.
    pub fn wrap(mut dasd: Dasd) -> Result<(Self, Probe), StoreError> {
        let n = u64::from(dasd.cylinders()) * u64::from(HEADS);
        let store = dasd.store_mut();
        let tracks = (0..n)
            .map(|i| store.read(TrackAddr::from_index(i)).map(<[u8]>::to_vec))
            .collect::<Result<Vec<_>, _>>()?;
        let state = Arc::new(Mutex::new(State {
            tracks,
            ..State::default()
        }));
        let shared = state.clone();
        dasd.vol
            .wrap_store(|inner| Box::new(ProbeStore { inner, state: shared }))
            .map_err(|f| StoreError::Damaged(format!("pending edit not stored: {f:?}")))?;
        let dev = Self {
            dasd,
            state: state.clone(),
        };
        Ok((dev, Probe(state)))
    }

    /// The device's extent now.
    fn extent(&self) -> Option<Extent> {
        self.dasd.chain.extent.map(|e| (e.begin, e.end))
    }

    /// Notes the extent in force before the device acts.
    fn enter(&self) {
        self.state.lock().extent = self.extent();
    }
}

impl DeviceWrapper for Probed {
    type Inner = Dasd;

    fn inner(&self) -> &Dasd {
        &self.dasd
    }

    fn inner_mut(&mut self) -> &mut Dasd {
        &mut self.dasd
    }

    fn program_start(&mut self, lpum: u8) {
        self.enter();
        self.dasd.program_start(lpum);
    }

    fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
        self.enter();
        let before = self.extent();
        let r = self.dasd.execute(ccw, data);
        let after = self.extent();
        let defined = matches!(
            self.dasd.chain.source,
            ExtentSource::DefineExtent | ExtentSource::Prefix
        );
        if defined && after != before {
            if let Some(e) = after {
                self.state.lock().defined.push(e);
            }
        }
        r
    }

    fn program_end(&mut self, how: ProgramEnd) {
        self.enter();
        self.dasd.program_end(how);
    }

    fn subchannel_reset(&mut self) {
        self.enter();
        self.dasd.subchannel_reset();
    }

    fn io_system_reset(&mut self) {
        self.enter();
        self.dasd.io_system_reset();
    }

    fn restore_state(&mut self, state: &zcss_css::DeviceState) -> Result<(), zcss_css::DeviceStateError> {
        self.enter();
        self.dasd.restore_state(state)
    }

    fn subchannel_disabled(&mut self) {
        self.enter();
        self.dasd.subchannel_disabled();
    }
}

zcss_css::device_wrapper!(Probed);

impl Drop for Probed {
    /// The device stores a pending edit when it is dropped: under the
    /// extent of the chain that made it.
    fn drop(&mut self) {
        self.enter();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;
    use crate::track::{Count, TrackBuilder};
    use zcss_ccw::{Engine, NoHooks, Orb, OrbControls, VecMemory};

    fn ccw1(cmd: u8, flags: u8, count: u16, cda: u32) -> [u8; 8] {
        let c = count.to_be_bytes();
        let a = cda.to_be_bytes();
        [cmd, flags, c[0], c[1], a[0], a[1], a[2], a[3]]
    }

    /// DEFINE EXTENT (mask `C0`: every write) over `from..=to`, LOCATE
    /// RECORD format write of one record on `t`, WRITE CKD of R1.
    fn format_r1(mem: &VecMemory, from: (u16, u16), to: (u16, u16), t: (u16, u16)) {
        let mut de = [0u8; 16];
        de[0] = 0xc0;
        de[1] = 0xc0;
        de[8..10].copy_from_slice(&from.0.to_be_bytes());
        de[10..12].copy_from_slice(&from.1.to_be_bytes());
        de[12..14].copy_from_slice(&to.0.to_be_bytes());
        de[14..16].copy_from_slice(&to.1.to_be_bytes());
        let mut lr = [0u8; 16];
        lr[0] = 0x03;
        lr[3] = 1;
        lr[4..6].copy_from_slice(&t.0.to_be_bytes());
        lr[6..8].copy_from_slice(&t.1.to_be_bytes());
        lr.copy_within(4..8, 8);
        let mut ckd = Count::new(t.0, t.1, 1, 0, 16).to_bytes().to_vec();
        ckd.extend_from_slice(&[0x5a; 16]);
        mem.store(0x2000, &de).unwrap();
        mem.store(0x2100, &lr).unwrap();
        mem.store(0x2200, &ckd).unwrap();
        mem.store(0x1000, &ccw1(0x63, 0x40, 16, 0x2000)).unwrap();
        mem.store(0x1008, &ccw1(0x47, 0x40, 16, 0x2100)).unwrap();
        mem.store(0x1010, &ccw1(0x1d, 0, 24, 0x2200)).unwrap();
    }

    fn run(dev: &mut Probed, mem: &VecMemory) {
        let orb = Orb {
            ctrl: OrbControls::new().with_format1(true).with_lpm(0xff),
            cpa: 0x1000,
            ..Orb::default()
        };
        let _ = Engine::default().start(mem, &orb, 0x80, dev, &mut NoHooks);
    }

    #[test]
    fn format_write_inside_extent_is_reported_with_its_extent() {
        let (mut dev, probe) = Probed::new(DasdConfig::default(), Box::new(MemStore::new(2))).unwrap();
        let mem = VecMemory::new(1 << 16);
        format_r1(&mem, (0, 1), (1, 2), (1, 0));
        let before = probe.tracks();
        run(&mut dev, &mem);
        let t = TrackAddr::new(1, 0);
        assert_eq!(
            probe.take_writes(),
            vec![Written {
                track: t,
                extent: Some((TrackAddr::new(0, 1), TrackAddr::new(1, 2)))
            }]
        );
        assert_eq!(probe.take_defined(), vec![(TrackAddr::new(0, 1), TrackAddr::new(1, 2))]);
        let after = probe.tracks();
        let idx = usize::try_from(t.index()).unwrap();
        assert_ne!(after[idx], before[idx]);
        let mut b = TrackBuilder::default();
        let want = b
            .start(t)
            .record(Count::new(1, 0, 1, 0, 16), &[], &[0x5a; 16])
            .finish()
            .to_vec();
        assert_eq!(after[idx], want);
        assert!(probe.take_writes().is_empty());
    }

    #[test]
    fn format_write_outside_extent_writes_nothing() {
        let (mut dev, probe) = Probed::new(DasdConfig::default(), Box::new(MemStore::new(2))).unwrap();
        let mem = VecMemory::new(1 << 16);
        format_r1(&mem, (0, 0), (0, 14), (1, 0));
        let before = probe.tracks();
        run(&mut dev, &mem);
        assert!(probe.take_writes().is_empty());
        assert_eq!(probe.tracks(), before);
    }
}
