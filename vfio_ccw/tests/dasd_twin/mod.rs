//! The same 3390 twice: emulated directly (a `Css` with a `Dasd` on CHPID
//! 0x01, FICON) and passed through the simulated host (the same `Dasd` on
//! a host subchannel, opened, attached to a guest css through
//! `remap::attach`). [`DasdTwin`] is a `zcss_dasd::linux::Channel`: every
//! instruction the Linux driver model issues runs on both guests, and the
//! results are compared field by field — condition codes, the SCHIB, the
//! interruption parameter and identification, every IRB field (SCSW, ESW,
//! ECW) and all of guest storage after each TEST SUBCHANNEL and STORE
//! SUBCHANNEL. Before each START and MODIFY the direct guest's storage
//! (where the driver builds its programs) is copied to the other guest, so
//! a difference shows at the instruction that caused it.
#![allow(dead_code)]

use std::sync::Arc;

use zcss_ccw::irb::Irb;
use zcss_ccw::memory::GuestMemory;
use zcss_ccw::orb::Orb;
use zcss_ccw::schib::Schib;
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::{diff_fields, VecMemory};
use zcss_css::{Cc, Css, InsnResult, InterruptionCode, IoCtx};
use zcss_dasd::linux::{Channel, CssChannel, LinuxDasd};
use zcss_dasd::Dasd;
use zcss_vfio_ccw::{remap, Placement, SimHost, VfioCcw};

/// Where things are in the guests' storage: the Linux driver's area and
/// block buffers (`zcss_dasd::mock::layout`), and the places of the
/// programs the tests build by hand.
pub mod layout {
    pub use zcss_dasd::mock::layout::{AREA, BUF, MEM};
    /// A SCHIB.
    pub const SCHIB: u64 = 0x1000;
    /// The ORB.
    pub const ORB: u64 = 0x1800;
    /// The IRB TSCH stores.
    pub const IRB: u64 = 0x1c00;
    /// The channel program (CCWs).
    pub const CP: u64 = 0x2000;
    /// Parameter blocks and small data areas of the program.
    pub const DATA: u64 = 0x8_0000;
}

/// One guest: its subchannel and storage.
pub struct Guest {
    /// The subchannel of the guest's css.
    pub chan: CssChannel,
    /// The guest's storage.
    pub mem: Arc<VecMemory>,
}

impl Guest {
    fn new(css: Css, mem: Arc<VecMemory>, sid: SubchannelId) -> Self {
        Self {
            chan: CssChannel::new(css, mem.clone(), sid),
            mem,
        }
    }

    /// The guest's css.
    pub fn css(&self) -> &Css {
        self.chan.css()
    }

    /// The subchannel.
    pub fn sid(&self) -> SubchannelId {
        self.chan.sid()
    }

    /// The subchannel's GR1 word and the storage context of an instruction.
    pub fn operands(&self) -> (u32, IoCtx<'_>) {
        (self.chan.gr1(), IoCtx::new(&*self.mem))
    }
}

/// Where the passed-through device sits: its host subchannel (css image
/// 0–3) and whether map-css is on. With map-css off the guest enables
/// MCSS-E (the only guest that sees a real css image).
#[derive(Debug, Clone, Copy)]
pub struct Where {
    /// The host subchannel.
    pub host: SubchannelId,
    /// Remapping into the guest's default css.
    pub map_css: bool,
}

/// The usual place: host subchannel 1.0.0021, map-css on.
pub const DEFAULT: Where = Where {
    host: SubchannelId {
        cssid: 1,
        ssid: 0,
        schno: 0x21,
    },
    map_css: true,
};

/// A result of one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// START SUBCHANNEL's result.
    pub ssch: InsnResult,
    /// The IRB after the interruption (`None`: no interruption, or SSCH
    /// not cc 0).
    pub irb: Option<Irb>,
}

/// The twin (see the module documentation).
pub struct DasdTwin {
    /// The guest with the DASD emulated directly (at the same subchannel).
    pub direct: Guest,
    /// The guest with the DASD passed through.
    pub passed: Guest,
    /// The simulated host.
    pub host: SimHost,
    /// Every difference so far, with the instruction it showed at.
    pub diffs: Vec<String>,
    /// Instructions compared so far.
    pub steps: u32,
}

impl std::fmt::Debug for DasdTwin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DasdTwin")
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl DasdTwin {
    /// Two guests with a DASD `make` builds (device number 0x0120), the
    /// second passed through from `at`.
    pub fn new(make: impl Fn() -> Dasd, at: Where) -> Self {
        let host = SimHost::new();
        host.add_device(at.host, 0x0120, Box::new(make())).expect("host device");
        let css = Css::default();
        if !at.map_css {
            css.enable_mcss();
        }
        let mem = Arc::new(VecMemory::new(layout::MEM));
        let backend = host.open(at.host, mem.clone()).expect("open the host device");
        let dev = VfioCcw::new(Arc::new(backend));
        let placement = Placement {
            map_css: at.map_css,
            ..Placement::default()
        };
        let sid = remap::attach(&css, dev, &placement, false).expect("attach");
        // The emulated DASD at the same guest place, in a guest of the same
        // kind.
        let direct_css = Css::default();
        if !at.map_css {
            direct_css.enable_mcss();
        }
        direct_css
            .attach_cold(sid, 0x0120, Box::new(make()))
            .expect("attach direct");
        let direct = Guest::new(direct_css, Arc::new(VecMemory::new(layout::MEM)), sid);
        Self {
            direct,
            passed: Guest::new(css, mem, sid),
            host,
            diffs: Vec::new(),
            steps: 0,
        }
    }

    /// Linux's driver on both guests at once (its area at
    /// [`layout::AREA`]), with concurrent sense if `csense`; not enabled
    /// yet.
    pub fn linux(self, csense: bool) -> LinuxDasd<Self> {
        LinuxDasd::new(self, layout::AREA).with_concurrent_sense(csense)
    }

    fn note(&mut self, what: &str, d: impl IntoIterator<Item = String>) {
        let step = self.steps;
        for l in d {
            self.diffs.push(format!("#{step} {what}: {l}"));
        }
    }

    /// Makes the passed guest's storage the direct guest's.
    fn sync_storage(&self) {
        let all = self.direct.mem.fetch(0, mem_len()).expect("storage");
        self.passed.mem.store(0, &all).expect("storage");
    }

    /// Compares all of storage.
    fn compare_storage(&mut self, what: &str) {
        let a = self.direct.mem.fetch(0, mem_len()).expect("storage");
        let b = self.passed.mem.fetch(0, mem_len()).expect("storage");
        if a != b {
            let first = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(0);
            let n = a.iter().zip(&b).filter(|(x, y)| x != y).count();
            let line = format!(
                "storage differs in {n} bytes, first at {first:#x}: direct {:#04x}, passthrough {:#04x}",
                a[first], b[first]
            );
            self.note(what, [line]);
        }
    }

    fn compare_results(&mut self, what: &str, a: InsnResult, b: InsnResult) {
        if a != b {
            self.note(what, [format!("direct {a:?}, passthrough {b:?}")]);
        }
    }

    /// Stores `ccws` at [`layout::CP`], `data` and `orb` at
    /// [`layout::ORB`] in both guests.
    pub fn put(&self, orb: &Orb, ccws: &[[u8; 8]], data: &[(u64, &[u8])]) {
        for m in [&self.direct.mem, &self.passed.mem] {
            for (i, c) in ccws.iter().enumerate() {
                m.store(layout::CP + 8 * i as u64, c).expect("program");
            }
            for &(at, d) in data {
                m.store(at, d).expect("data");
            }
            let (o, n) = orb.encode();
            m.store(layout::ORB, &o[..n]).expect("orb");
        }
    }

    /// Runs the program stored by [`DasdTwin::put`] on both, compared;
    /// the direct guest's result.
    pub fn run(&mut self) -> Seen {
        let ssch = Channel::ssch(self, layout::ORB);
        if ssch != Ok(Cc::Zero) {
            return Seen { ssch, irb: None };
        }
        if Channel::wait(self, 0xff).is_none() {
            return Seen { ssch, irb: None };
        }
        let _ = Channel::tsch(self, layout::IRB);
        let b = self.direct.mem.fetch(layout::IRB, Irb::LEN).expect("irb");
        Seen {
            ssch,
            irb: Irb::decode(&b),
        }
    }

    /// Runs the program stored by [`DasdTwin::put`] on each guest, not
    /// compared (for the classes passthrough refuses): both results.
    pub fn run_each(&mut self) -> (Seen, Seen) {
        let one = |c: &mut Guest| {
            let ssch = c.chan.ssch(layout::ORB);
            if ssch != Ok(Cc::Zero) {
                return Seen { ssch, irb: None };
            }
            if c.chan.wait(0xff).is_none() {
                return Seen { ssch, irb: None };
            }
            let _ = c.chan.tsch(layout::IRB);
            let b = c.mem.fetch(layout::IRB, Irb::LEN).expect("irb");
            Seen {
                ssch,
                irb: Irb::decode(&b),
            }
        };
        (one(&mut self.direct), one(&mut self.passed))
    }

    /// Fails with every difference seen.
    pub fn assert_transparent(&self) {
        assert!(self.steps > 0, "nothing was compared");
        let shown: Vec<&str> = self.diffs.iter().take(30).map(String::as_str).collect();
        assert!(
            self.diffs.is_empty(),
            "passthrough differs ({} differences):\n{}",
            self.diffs.len(),
            shown.join("\n")
        );
    }
}

fn mem_len() -> usize {
    usize::try_from(layout::MEM).expect("storage size")
}

impl Channel for DasdTwin {
    fn memory(&self) -> &dyn GuestMemory {
        &*self.direct.mem
    }

    fn stsch(&mut self, addr: u64) -> InsnResult {
        self.steps += 1;
        let a = self.direct.chan.stsch(addr);
        let b = self.passed.chan.stsch(addr);
        self.compare_results("stsch", a, b);
        let sa = Schib::decode(&self.direct.mem.fetch(addr, Schib::LEN).expect("schib"));
        let sb = Schib::decode(&self.passed.mem.fetch(addr, Schib::LEN).expect("schib"));
        if let (Some(sa), Some(sb)) = (sa, sb) {
            let d: Vec<String> = diff_fields(&sa, &sb)
                .into_iter()
                .map(|f| format!("schib.{}: direct {}, passthrough {}", f.name, f.expected, f.got))
                .collect();
            self.note("stsch", d);
        }
        self.compare_storage("stsch");
        a
    }

    fn msch(&mut self, addr: u64) -> InsnResult {
        self.steps += 1;
        self.sync_storage();
        let a = self.direct.chan.msch(addr);
        let b = self.passed.chan.msch(addr);
        self.compare_results("msch", a, b);
        a
    }

    fn ssch(&mut self, addr: u64) -> InsnResult {
        self.steps += 1;
        self.sync_storage();
        let a = self.direct.chan.ssch(addr);
        let b = self.passed.chan.ssch(addr);
        self.compare_results("ssch", a, b);
        a
    }

    fn wait(&mut self, isc_mask: u8) -> Option<InterruptionCode> {
        let a = self.direct.chan.wait(isc_mask);
        let b = self.passed.chan.wait(isc_mask);
        match (a, b) {
            (Some(x), Some(y)) => {
                if (x.intparm, x.iiw) != (y.intparm, y.iiw) {
                    self.note(
                        "interruption",
                        [format!(
                            "direct {:#x} {:?}, passthrough {:#x} {:?}",
                            x.intparm, x.iiw, y.intparm, y.iiw
                        )],
                    );
                }
            }
            (None, None) => {}
            (x, y) => self.note(
                "interruption",
                [format!("direct {}, passthrough {}", x.is_some(), y.is_some())],
            ),
        }
        a
    }

    fn tsch(&mut self, addr: u64) -> InsnResult {
        self.steps += 1;
        let a = self.direct.chan.tsch(addr);
        let b = self.passed.chan.tsch(addr);
        self.compare_results("tsch", a, b);
        let ia = Irb::decode(&self.direct.mem.fetch(addr, Irb::LEN).expect("irb"));
        let ib = Irb::decode(&self.passed.mem.fetch(addr, Irb::LEN).expect("irb"));
        if let (Some(ia), Some(ib)) = (ia, ib) {
            let d: Vec<String> = diff_fields(&ia, &ib)
                .into_iter()
                .map(|f| format!("irb.{}: direct {}, passthrough {}", f.name, f.expected, f.got))
                .collect();
            self.note("tsch", d);
        }
        self.compare_storage("tsch");
        a
    }
}
