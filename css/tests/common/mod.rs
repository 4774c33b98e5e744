//! Shared helpers for the css integration tests: a machine with guest
//! storage and mock devices, and builders for CCWs, ORBs and SCHIBs.
#![allow(dead_code)]

use zcss_ccw::irb::Irb;
use zcss_ccw::memory::VecMemory;
use zcss_ccw::orb::{Orb, OrbControls};
use zcss_ccw::schib::Schib;
use zcss_css::mock::{MockControl, MockDevice};
use zcss_css::{Cc, Css, CssConfig, IoCtx, ProgramCheck, SubchannelId};

pub const SCHIB: u64 = 0x1000;
pub const ORB: u64 = 0x1800;
pub const CCW: u64 = 0x2000;
pub const DATA: u64 = 0x3000;
pub const CCW32: u32 = 0x2000;
pub const DATA32: u32 = 0x3000;
pub const IRB: u64 = 0x4000;
pub const SCRATCH: u64 = 0x6000;
pub const CHSC_BLOCK: u64 = 0x8000;

/// GR1 for subchannel `schno` of set 0 in the default css.
pub const fn gr1(schno: u16) -> u32 {
    0x0001_0000 | schno as u32
}

pub struct Machine {
    pub css: Css,
    pub mem: VecMemory,
    pub ctl: Vec<MockControl>,
}

pub fn sid(schno: u16) -> SubchannelId {
    SubchannelId {
        cssid: 0xfe,
        ssid: 0,
        schno,
    }
}

impl Machine {
    /// `n` virtio-like mock devices at fe.0.0000.. (devno = schno).
    pub fn new(n: u16) -> Self {
        Self::with_config(n, CssConfig::default())
    }

    pub fn with_config(n: u16, cfg: CssConfig) -> Self {
        let css = Css::new(cfg);
        let mut ctl = Vec::new();
        for i in 0..n {
            let d = MockDevice::new(0x3832, 1);
            ctl.push(d.control());
            css.attach_cold(sid(i), i, Box::new(d)).unwrap();
        }
        Self {
            css,
            mem: VecMemory::new(1 << 20),
            ctl,
        }
    }

    pub fn ctx(&self) -> IoCtx<'_> {
        IoCtx::new(&self.mem)
    }

    pub fn stsch(&self, gr1: u32) -> Schib {
        assert_eq!(self.css.stsch(&self.ctx(), gr1, SCHIB), Ok(Cc::Zero));
        Schib::decode(&self.mem.fetch(SCHIB, 52).unwrap()).unwrap()
    }

    pub fn msch(&self, gr1: u32, schib: &Schib) -> Result<Cc, ProgramCheck> {
        self.mem.store(SCHIB, &schib.to_be_bytes()).unwrap();
        self.css.msch(&self.ctx(), gr1, SCHIB)
    }

    /// STSCH, set E and `isc`, MSCH: must be cc 0.
    pub fn enable(&self, gr1: u32, isc: u8) {
        let mut s = self.stsch(gr1);
        s.pmcw.flags = s.pmcw.flags.with_enabled(true).with_isc(isc);
        assert_eq!(self.msch(gr1, &s), Ok(Cc::Zero));
    }

    /// Stores a format-1 CCW at `addr`.
    pub fn ccw1(&self, addr: u64, cmd: u8, flags: u8, count: u16, cda: u32) {
        let mut b = [0u8; 8];
        b[0] = cmd;
        b[1] = flags;
        b[2..4].copy_from_slice(&count.to_be_bytes());
        b[4..8].copy_from_slice(&cda.to_be_bytes());
        self.mem.store(addr, &b).unwrap();
    }

    /// Stores an ORB at [`ORB`].
    pub fn orb(&self, intparm: u32, ctrl: OrbControls, cpa: u32) {
        let orb = Orb {
            intparm,
            ctrl,
            cpa,
            ..Orb::default()
        };
        let (b, n) = orb.encode();
        self.mem.store(ORB, &b[..n]).unwrap();
    }

    /// Format 1, LPM 0x80.
    pub fn fmt1() -> OrbControls {
        OrbControls::new().with_format1(true).with_lpm(0x80)
    }

    /// One format-1 CCW at [`CCW`] with data at [`DATA`], ORB at [`ORB`]; SSCH.
    pub fn start(&self, gr1: u32, intparm: u32, cmd: u8, flags: u8, count: u16) -> Result<Cc, ProgramCheck> {
        self.ccw1(CCW, cmd, flags, count, DATA32);
        self.orb(intparm, Self::fmt1(), CCW32);
        self.css.ssch(&self.ctx(), gr1, ORB)
    }

    /// A NOP (SLI, count 0) started with logical-path mask `lpm`.
    pub fn start_lpm(&self, gr1: u32, lpm: u8) -> Result<Cc, ProgramCheck> {
        self.ccw1(CCW, 0x03, 0x20, 0, DATA32);
        self.orb(1, Self::fmt1().with_lpm(lpm), CCW32);
        self.css.ssch(&self.ctx(), gr1, ORB)
    }

    /// TSCH into [`IRB`], decoded.
    pub fn tsch(&self, gr1: u32) -> (Result<Cc, ProgramCheck>, Irb) {
        let r = self.css.tsch(&self.ctx(), gr1, IRB);
        (r, Irb::decode(&self.mem.fetch(IRB, 96).unwrap()).unwrap())
    }

    /// CHSC request block at [`CHSC_BLOCK`]: length, code, then body.
    pub fn chsc_request(&self, len: u16, code: u16, body: &[u8]) {
        let mut b = vec![0u8; 4096];
        b[0..2].copy_from_slice(&len.to_be_bytes());
        b[2..4].copy_from_slice(&code.to_be_bytes());
        b[4..4 + body.len()].copy_from_slice(body);
        self.mem.store(CHSC_BLOCK, &b).unwrap();
    }
}
