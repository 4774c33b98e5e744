//! Test helpers (feature `test-utils`): a guest that drives a [`Css`] the
//! way a driver does — enable a subchannel, start a program, wait for its
//! interruption, test the subchannel — shared by this crate's tests, the
//! root package's `tests/vfio_*.rs` and the benches.

use std::sync::Arc;
use std::time::{Duration, Instant};

use zcss_ccw::crw::Crw;
use zcss_ccw::irb::Irb;
use zcss_ccw::memory::VecMemory;
use zcss_ccw::orb::{Orb, OrbControls};
use zcss_ccw::schib::Schib;
use zcss_ccw::sid::SubchannelId;
use zcss_css::{Cc, Css, InsnResult, InterruptionCode, IoCtx};

/// Scratch area for instruction operands: the last 16 KiB of storage.
const SCRATCH: u64 = 16 << 10;

/// A guest: its channel subsystem and storage.
#[derive(Debug, Clone)]
pub struct Guest {
    /// The guest's channel subsystem.
    pub css: Css,
    /// Guest storage.
    pub mem: Arc<VecMemory>,
}

impl Guest {
    /// A guest with `size` bytes of storage (at least 64 KiB).
    #[must_use]
    pub fn new(css: Css, size: u64) -> Self {
        Self {
            css,
            mem: Arc::new(VecMemory::new(size.max(64 << 10))),
        }
    }

    fn ctx(&self) -> IoCtx<'_> {
        IoCtx::new(&*self.mem)
    }

    fn scratch(&self) -> u64 {
        self.mem.size_of() - SCRATCH
    }

    /// The GR1 word naming `sid`.
    #[must_use]
    pub fn gr1(&self, sid: SubchannelId) -> u32 {
        sid.to_word(self.css.mcss_enabled())
    }

    /// STORE SUBCHANNEL: the condition code and the SCHIB.
    pub fn stsch(&self, sid: SubchannelId) -> (InsnResult, Schib) {
        let a = self.scratch();
        let r = self.css.stsch(&self.ctx(), self.gr1(sid), a);
        let b = self.mem.fetch(a, Schib::LEN).unwrap_or_default();
        (r, Schib::decode(&b).unwrap_or_default())
    }

    /// Enables `sid` on ISC 3, with concurrent sense if `csense` (MSCH).
    ///
    /// # Panics
    /// If STSCH or MSCH does not answer cc 0.
    pub fn enable(&self, sid: SubchannelId, csense: bool) {
        let (r, mut s) = self.stsch(sid);
        assert_eq!(r, Ok(Cc::Zero), "stsch {sid}");
        s.pmcw.flags = s.pmcw.flags.with_enabled(true).with_isc(3);
        s.pmcw.chars = s.pmcw.chars.with_csense(csense);
        let a = self.scratch();
        self.mem.store(a, &s.to_be_bytes()).expect("scratch in storage");
        assert_eq!(self.css.msch(&self.ctx(), self.gr1(sid), a), Ok(Cc::Zero), "msch {sid}");
    }

    /// START SUBCHANNEL with `orb`.
    pub fn ssch(&self, sid: SubchannelId, orb: &Orb) -> InsnResult {
        let a = self.scratch() + 0x100;
        let (b, n) = orb.encode();
        self.mem.store(a, &b[..n]).expect("scratch in storage");
        self.css.ssch(&self.ctx(), self.gr1(sid), a)
    }

    /// TEST SUBCHANNEL: the condition code and the IRB stored.
    pub fn tsch(&self, sid: SubchannelId) -> (InsnResult, Irb) {
        let a = self.scratch() + 0x200;
        self.mem.store(a, &[0; Irb::LEN]).expect("scratch in storage");
        let r = self.css.tsch(&self.ctx(), self.gr1(sid), a);
        let b = self.mem.fetch(a, Irb::LEN).unwrap_or_default();
        (r, Irb::decode(&b).unwrap_or_default())
    }

    /// HALT SUBCHANNEL.
    pub fn hsch(&self, sid: SubchannelId) -> InsnResult {
        self.css.hsch(&self.ctx(), self.gr1(sid))
    }

    /// CLEAR SUBCHANNEL.
    pub fn csch(&self, sid: SubchannelId) -> InsnResult {
        self.css.csch(&self.ctx(), self.gr1(sid))
    }

    /// CANCEL SUBCHANNEL.
    pub fn xsch(&self, sid: SubchannelId) -> InsnResult {
        self.css.xsch(&self.ctx(), self.gr1(sid))
    }

    /// RESUME SUBCHANNEL.
    pub fn rsch(&self, sid: SubchannelId) -> InsnResult {
        self.css.rsch(&self.ctx(), self.gr1(sid))
    }

    /// STORE CHANNEL REPORT.
    pub fn stcrw(&self) -> (InsnResult, Crw) {
        let a = self.scratch() + 0x300;
        let r = self.css.stcrw(&self.ctx(), a);
        let b = self.mem.fetch(a, 4).unwrap_or_default();
        (r, Crw::from_be_bytes(b.try_into().unwrap_or([0; 4])))
    }

    /// Waits up to `timeout` for an I/O interruption (applying passthrough
    /// reports meanwhile).
    #[must_use]
    pub fn wait_interrupt(&self, timeout: Duration) -> Option<InterruptionCode> {
        let deadline = Instant::now() + timeout;
        loop {
            self.css.poll();
            if let Some(c) = self.css.next_interrupt(0xff) {
                return Some(c);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// Starts `orb` on `sid`, waits for the interruption and tests the
    /// subchannel: the SSCH result and the IRB (`None` if no interruption
    /// came within 10 s, or SSCH did not answer cc 0).
    pub fn run(&self, sid: SubchannelId, orb: &Orb) -> (InsnResult, Option<Irb>) {
        let r = self.ssch(sid, orb);
        if r != Ok(Cc::Zero) {
            return (r, None);
        }
        if self.wait_interrupt(Duration::from_secs(10)).is_none() {
            return (r, None);
        }
        (r, Some(self.tsch(sid).1))
    }
}

/// An ORB: format-1 CCWs (unless `format0`), prefetch, LPM 0xff, the
/// program at `cpa`.
#[must_use]
pub fn orb(cpa: u32, format0: bool) -> Orb {
    Orb {
        intparm: 0x1234_5678,
        ctrl: OrbControls::new()
            .with_format1(!format0)
            .with_prefetch(true)
            .with_lpm(0xff),
        cpa,
        ..Orb::default()
    }
}

/// Storage size of a [`VecMemory`], for the helper's scratch area.
trait SizeOf {
    fn size_of(&self) -> u64;
}

impl SizeOf for VecMemory {
    fn size_of(&self) -> u64 {
        zcss_ccw::memory::GuestMemory::size(self)
    }
}

/// A guest whose subchannel `guest_sid` (device number `devno`) is the
/// device on `host_sid` of `host`, passed through: opened on the
/// simulated host, attached (cold) and enabled with concurrent sense.
///
/// # Panics
/// If the device cannot be opened or attached.
#[must_use]
pub fn passthrough(
    host: &crate::sim::SimHost,
    host_sid: SubchannelId,
    css: Css,
    guest_sid: SubchannelId,
    devno: u16,
    mem_size: u64,
) -> Guest {
    let guest = Guest::new(css, mem_size);
    let backend = host.open(host_sid, guest.mem.clone()).expect("open the host device");
    let dev = crate::VfioCcw::new(Arc::new(backend));
    guest
        .css
        .attach_passthrough(guest_sid, devno, Box::new(dev), false)
        .expect("attach the passthrough device");
    guest.enable(guest_sid, true);
    guest
}
