//! Test helpers (feature `test-utils`): a guest that drives a [`Css`] the
//! way a driver does — enable a subchannel, start a program, wait for its
//! interruption, test the subchannel — shared by this crate's tests, the
//! root package's `tests/vfio_*.rs` and the benches.

use std::sync::Arc;
use std::time::Duration;

use zcss_ccw::crw::Crw;
use zcss_ccw::irb::Irb;
use zcss_ccw::memory::VecMemory;
use zcss_ccw::orb::{Orb, OrbControls};
use zcss_ccw::schib::Schib;
use zcss_ccw::sid::SubchannelId;
use zcss_css::{Cc, Css, InsnResult, InterruptionCode, IoCtx};

/// Scratch area for instruction operands: the last 16 KiB of storage
/// (STCRW at its start, then 1 KiB per subchannel number modulo 14).
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

    /// A guest with the given storage.
    #[must_use]
    pub fn with_memory(css: Css, mem: Arc<VecMemory>) -> Self {
        Self { css, mem }
    }

    fn ctx(&self) -> IoCtx<'_> {
        IoCtx::new(&*self.mem)
    }

    fn scratch(&self) -> u64 {
        self.mem.size_of() - SCRATCH
    }

    /// A 1 KiB operand area of `sid`'s own, so that threads driving
    /// different subchannels do not overwrite each other's ORB or IRB.
    fn area(&self, sid: SubchannelId) -> u64 {
        self.scratch() + 0x400 * (1 + u64::from(sid.schno % 14))
    }

    /// The GR1 word naming `sid`.
    #[must_use]
    pub fn gr1(&self, sid: SubchannelId) -> u32 {
        sid.to_word(self.css.mcss_enabled())
    }

    /// STORE SUBCHANNEL: the condition code and the SCHIB.
    pub fn stsch(&self, sid: SubchannelId) -> (InsnResult, Schib) {
        let a = self.area(sid);
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
        let a = self.area(sid) + 0x80;
        self.mem.store(a, &s.to_be_bytes()).expect("scratch in storage");
        assert_eq!(self.css.msch(&self.ctx(), self.gr1(sid), a), Ok(Cc::Zero), "msch {sid}");
    }

    /// START SUBCHANNEL with `orb`.
    pub fn ssch(&self, sid: SubchannelId, orb: &Orb) -> InsnResult {
        let a = self.area(sid) + 0x100;
        let (b, n) = orb.encode();
        self.mem.store(a, &b[..n]).expect("scratch in storage");
        self.css.ssch(&self.ctx(), self.gr1(sid), a)
    }

    /// TEST SUBCHANNEL: the condition code and the IRB stored.
    pub fn tsch(&self, sid: SubchannelId) -> (InsnResult, Irb) {
        let a = self.area(sid) + 0x200;
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
        let a = self.scratch();
        let r = self.css.stcrw(&self.ctx(), a);
        let b = self.mem.fetch(a, 4).unwrap_or_default();
        (r, Crw::from_be_bytes(b.try_into().unwrap_or([0; 4])))
    }

    /// Waits up to `timeout` for an I/O interruption (applying passthrough
    /// reports meanwhile).
    #[must_use]
    pub fn wait_interrupt(&self, timeout: Duration) -> Option<InterruptionCode> {
        self.css.wait_interrupt(0xff, timeout)
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

/// What a guest saw of one channel program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// START SUBCHANNEL's result.
    pub ssch: InsnResult,
    /// The IRB TEST SUBCHANNEL stored after the interruption (`None`: no
    /// interruption within the wait, or SSCH was not cc 0).
    pub irb: Option<Irb>,
    /// TEST SUBCHANNEL's result.
    pub tsch: Option<InsnResult>,
    /// The interruption parameter of the interruption.
    pub intparm: Option<u32>,
}

/// The same device twice: emulated directly in one guest, and passed
/// through the simulated host to another — for comparing what the two
/// guests see, field by field.
pub struct Twin {
    /// The guest with the device emulated directly.
    pub direct: Guest,
    /// The guest with the device passed through.
    pub passed: Guest,
    /// The simulated host.
    pub host: crate::sim::SimHost,
    /// The guest subchannel (the same in both guests).
    pub sid: SubchannelId,
}

impl std::fmt::Debug for Twin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Twin").field("sid", &self.sid).finish_non_exhaustive()
    }
}

/// Host subchannel of a [`Twin`]'s device (css image 1).
pub const TWIN_HOST: SubchannelId = SubchannelId {
    cssid: 1,
    ssid: 0,
    schno: 0x21,
};

/// Guest subchannel of a [`Twin`]'s device.
pub const TWIN_GUEST: SubchannelId = SubchannelId {
    cssid: 0xfe,
    ssid: 0,
    schno: 0x21,
};

impl Twin {
    /// Two guests of `mem_size` bytes (with storage keys if `keys`), each
    /// with a device `make` builds on [`TWIN_GUEST`] (devno 0x0d21),
    /// enabled with concurrent sense.
    ///
    /// # Panics
    /// If a device cannot be placed.
    pub fn new(make: impl Fn() -> Box<dyn zcss_css::Device>, mem_size: u64, keys: bool) -> Self {
        let mem = || {
            Arc::new(if keys {
                VecMemory::with_storage_keys(mem_size)
            } else {
                VecMemory::new(mem_size)
            })
        };
        let direct = Guest::with_memory(Css::default(), mem());
        direct
            .css
            .attach_cold(TWIN_GUEST, 0x0d21, make())
            .expect("attach direct");
        direct.enable(TWIN_GUEST, true);
        let host = crate::sim::SimHost::new();
        host.add_device(TWIN_HOST, 0x0d21, make()).expect("host device");
        let passed = Guest::with_memory(Css::default(), mem());
        let backend = host.open(TWIN_HOST, passed.mem.clone()).expect("open");
        passed
            .css
            .attach_passthrough(
                TWIN_GUEST,
                0x0d21,
                Box::new(crate::VfioCcw::new(Arc::new(backend))),
                false,
            )
            .expect("attach passthrough");
        passed.enable(TWIN_GUEST, true);
        Self {
            direct,
            passed,
            host,
            sid: TWIN_GUEST,
        }
    }

    /// Stores `data` at `addr` in both guests.
    ///
    /// # Panics
    /// If the range is not in storage.
    pub fn store(&self, addr: u64, data: &[u8]) {
        self.direct.mem.store(addr, data).expect("store direct");
        self.passed.mem.store(addr, data).expect("store passed");
    }

    /// Runs `orb` in `g`: START, wait for the interruption, TEST.
    #[must_use]
    pub fn run_in(g: &Guest, sid: SubchannelId, orb: &Orb) -> Seen {
        let ssch = g.ssch(sid, orb);
        if ssch != Ok(Cc::Zero) {
            return Seen {
                ssch,
                irb: None,
                tsch: None,
                intparm: None,
            };
        }
        let code = g.wait_interrupt(Duration::from_secs(10));
        let (t, irb) = g.tsch(sid);
        Seen {
            ssch,
            irb: code.map(|_| irb),
            tsch: Some(t),
            intparm: code.map(|c| c.intparm),
        }
    }

    /// Runs `orb` in both guests.
    #[must_use]
    pub fn run(&self, orb: &Orb) -> (Seen, Seen) {
        (
            Self::run_in(&self.direct, self.sid, orb),
            Self::run_in(&self.passed, self.sid, orb),
        )
    }

    /// Runs `orb` in both guests and lists every difference: the SSCH and
    /// TSCH results, each IRB field, and the bytes of `ranges` in storage.
    #[must_use]
    pub fn differences(&self, orb: &Orb, ranges: &[(u64, usize)]) -> Vec<String> {
        let (d, p) = self.run(orb);
        let mut out = Vec::new();
        if d.ssch != p.ssch {
            out.push(format!("ssch: direct {:?}, passthrough {:?}", d.ssch, p.ssch));
        }
        if d.tsch != p.tsch {
            out.push(format!("tsch: direct {:?}, passthrough {:?}", d.tsch, p.tsch));
        }
        if d.intparm != p.intparm {
            out.push(format!("intparm: direct {:?}, passthrough {:?}", d.intparm, p.intparm));
        }
        match (&d.irb, &p.irb) {
            (Some(a), Some(b)) => {
                for f in zcss_ccw::diff_fields(a, b) {
                    out.push(format!("irb.{}: direct {}, passthrough {}", f.name, f.expected, f.got));
                }
            }
            (None, None) => {}
            (a, b) => out.push(format!(
                "interruption: direct {}, passthrough {}",
                a.is_some(),
                b.is_some()
            )),
        }
        for &(addr, len) in ranges {
            let a = self.direct.mem.fetch(addr, len).unwrap_or_default();
            let b = self.passed.mem.fetch(addr, len).unwrap_or_default();
            if a != b {
                let at = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(0);
                out.push(format!(
                    "storage {addr:#x}+{at:#x}: direct {:#04x?}, passthrough {:#04x?}",
                    a.get(at),
                    b.get(at)
                ));
            }
        }
        out
    }
}
