//! A model of the Linux guest driver (drivers/s390/virtio/virtio_ccw.c, as
//! summarised in linux-notes §4) driving a virtio-ccw device through the
//! public [`Css`] API only: STSCH/MSCH to enable the subchannel, one
//! format-1 CCW per START SUBCHANNEL with the ORB and CCW in guest storage,
//! the interruption taken with [`Css::next_interrupt`] and TEST SUBCHANNEL,
//! BASIC SENSE after a unit check, and the DIAG 0x500 notification.
//!
//! Probe: SENSE ID, path verification (NOP, SLI, count 0), SET_VIRTIO_REV
//! 2 → 1 → 0 on command reject, VDEV_RESET, ACKNOWLEDGE, DRIVER, READ_FEAT
//! 0 (and 1), WRITE_FEAT, FEATURES_OK (revision ≥ 1), READ_CONF, per queue
//! READ_VQ_CONF + SET_VQ, SET_IND_ADAPTER with fallback to SET_IND,
//! SET_CONF_IND, DRIVER_OK. Then requests through the rings.

use std::sync::Arc;

use thiserror::Error;
use zcss_ccw::memory::{AccessError, GuestMemory};
use zcss_ccw::scsw::Scsw;
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::VecMemory;
use zcss_css::{Cc, Css, IoCtx, ProgramCheck};

use crate::blk::{VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT};
use crate::commands::*;
use crate::device::{
    STATUS_ACKNOWLEDGE, STATUS_DEVICE_NEEDS_RESET, STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FEATURES_OK,
    VIRTIO_F_VERSION_1,
};
use crate::queue::{legacy_offsets, Endian, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};

/// Guest-storage layout the model uses (all below 1 MiB).
pub mod layout {
    /// SCHIB for STSCH/MSCH.
    pub const SCHIB: u64 = 0x1000;
    /// ORB.
    pub const ORB: u64 = 0x1800;
    /// The CCW.
    pub const CCW: u64 = 0x2000;
    /// Command payloads.
    pub const DATA: u64 = 0x3000;
    /// IRB.
    pub const IRB: u64 = 0x4000;
    /// Classic indicators.
    pub const IND: u64 = 0x5000;
    /// Configuration-change indicator.
    pub const CONF_IND: u64 = 0x5008;
    /// Adapter summary indicator.
    pub const SUMMARY: u64 = 0x5010;
    /// Adapter device indicators.
    pub const ADAPTER_IND: u64 = 0x5018;
    /// Request headers and status bytes.
    pub const REQ: u64 = 0x6000;
    /// Rings: queue i at `RINGS + i * RING_STRIDE`.
    pub const RINGS: u64 = 0x10000;
    /// Space per queue's rings.
    pub const RING_STRIDE: u64 = 0x10000;
    /// Data buffers of requests.
    pub const BUFFERS: u64 = 0x100000;
}

/// How long [`LinuxDriver::complete`] waits for a queue's indication.
pub const COMPLETION_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Interruption subclass the model enables the subchannel with (Linux: 3).
pub const ISC: u8 = 3;
/// Intparm the model puts in each ORB.
pub const INTPARM: u32 = 0x5649_5254;

/// Why a driver step failed, as the Linux driver would classify it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DriverError {
    /// Unit check with command reject (Linux: -EOPNOTSUPP).
    #[error("command {0:#04x} rejected")]
    Rejected(u8),
    /// Any other error status (Linux: -EIO).
    #[error("command {cmd:#04x} ended with dstat {dstat:#04x} cstat {cstat:#04x} cc {cc}")]
    Io {
        /// Command.
        cmd: u8,
        /// Device status.
        dstat: u8,
        /// Subchannel status.
        cstat: u8,
        /// Deferred condition code.
        cc: u8,
    },
    /// An I/O instruction did not give condition code 0.
    #[error("{insn} gave {cc:?}")]
    Cc {
        /// Instruction.
        insn: &'static str,
        /// Condition code.
        cc: Cc,
    },
    /// An I/O instruction raised a program exception.
    #[error("{insn}: program check {pc:?}")]
    Program {
        /// Instruction.
        insn: &'static str,
        /// Exception.
        pc: ProgramCheck,
    },
    /// No interruption arrived.
    #[error("no interruption for {0}")]
    NoInterrupt(&'static str),
    /// The notification returned a negative value.
    #[error("notify returned {0}")]
    Notify(i64),
    /// Guest storage access failed.
    #[error("storage: {0}")]
    Storage(#[from] AccessError),
    /// The device broke a protocol expectation.
    #[error("protocol: {0}")]
    Protocol(&'static str),
}

/// What the guest saw from one interruption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interruption {
    /// The SCSW stored by TEST SUBCHANNEL (None for adapter interruptions).
    pub scsw: Option<Scsw>,
    /// Queue-indicator bits found and cleared (bit i = queue i).
    pub queues: u64,
    /// Configuration-change indicator found and cleared.
    pub config: bool,
}

/// The driver side of one virtqueue.
#[derive(Debug, Clone, Copy)]
struct GuestQueue {
    size: u16,
    desc: u64,
    avail: u64,
    used: u64,
    avail_idx: u16,
    last_used: u16,
}

/// The Linux virtio-ccw driver model.
pub struct LinuxDriver {
    css: Css,
    mem: Arc<VecMemory>,
    sid: SubchannelId,
    gr1: u32,
    /// Use adapter interruptions if the device accepts SET_IND_ADAPTER.
    pub want_airq: bool,
    revision: u8,
    status: u8,
    features: u64,
    airq: bool,
    queues: Vec<GuestQueue>,
    /// Interruptions taken so far.
    pub interrupts: Vec<Interruption>,
    /// Commands issued, in order (for tests comparing with Linux's sequence).
    pub trace: Vec<u8>,
    cookie: u64,
}

impl std::fmt::Debug for LinuxDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxDriver")
            .field("sid", &self.sid)
            .field("revision", &self.revision)
            .field("status", &self.status)
            .field("airq", &self.airq)
            .finish_non_exhaustive()
    }
}

impl LinuxDriver {
    /// A driver for the device on `sid` (in the default css image), guest
    /// storage `mem` (at least 2 MiB).
    #[must_use]
    pub fn new(css: Css, mem: Arc<VecMemory>, sid: SubchannelId) -> Self {
        let gr1 = 0x0001_0000 | (u32::from(sid.ssid) << 17) | u32::from(sid.schno);
        Self {
            css,
            mem,
            sid,
            gr1,
            want_airq: true,
            revision: 0,
            status: 0,
            features: 0,
            airq: false,
            queues: Vec::new(),
            interrupts: Vec::new(),
            trace: Vec::new(),
            cookie: 0,
        }
    }

    /// The negotiated revision.
    #[must_use]
    pub const fn revision(&self) -> u8 {
        self.revision
    }

    /// The negotiated features.
    #[must_use]
    pub const fn features(&self) -> u64 {
        self.features
    }

    /// Whether adapter interruptions are in use.
    #[must_use]
    pub const fn airq(&self) -> bool {
        self.airq
    }

    /// The cached device status.
    #[must_use]
    pub const fn cached_status(&self) -> u8 {
        self.status
    }

    fn ctx(&self) -> IoCtx<'_> {
        IoCtx::new(self.mem.as_ref())
    }

    /// STSCH, set E and the ISC, MSCH.
    ///
    /// # Errors
    /// Non-zero condition codes or program checks.
    pub fn enable(&mut self) -> Result<(), DriverError> {
        let ctx = self.ctx();
        insn("stsch", self.css.stsch(&ctx, self.gr1, layout::SCHIB))?;
        let mut w1 = self.mem.fetch(layout::SCHIB + 4, 4)?;
        w1[0] = (w1[0] & !0x38) | (ISC << 3);
        w1[1] |= 0x80;
        self.mem.store(layout::SCHIB + 4, &w1)?;
        insn("msch", self.css.msch(&ctx, self.gr1, layout::SCHIB))
    }

    /// Runs one CCW (format 1) and returns the SCSW of its completion.
    /// Unsolicited interruptions that arrive first are handled like Linux
    /// does (indicators scanned). A unit check is followed by BASIC SENSE;
    /// command reject gives [`DriverError::Rejected`].
    ///
    /// # Errors
    /// See [`DriverError`].
    pub fn ccw(&mut self, cmd: u8, flags: u8, count: u16, cda: u32) -> Result<Scsw, DriverError> {
        self.trace.push(cmd);
        let scsw = self.start(cmd, flags, count, cda)?;
        let dstat = scsw.dstat.into_bits();
        let cstat = scsw.cstat.into_bits();
        let cc = scsw.ctrl.cc();
        if cstat == 0 && dstat & !0x0c == 0 && cc == 0 {
            return Ok(scsw);
        }
        if dstat & 0x02 != 0 {
            // Unit check without concurrent sense: cio issues BASIC SENSE.
            let sense = self.start(CCW_CMD_BASIC_SENSE, 0x20, 32, u32_of(layout::DATA + 0x800))?;
            if sense.dstat.into_bits() & !0x0c == 0 && self.mem.fetch(layout::DATA + 0x800, 1)?[0] & 0x80 != 0 {
                return Err(DriverError::Rejected(cmd));
            }
        }
        Err(DriverError::Io { cmd, dstat, cstat, cc })
    }

    fn start(&mut self, cmd: u8, flags: u8, count: u16, cda: u32) -> Result<Scsw, DriverError> {
        // Take anything pending first (Linux would get -EBUSY and retry
        // after the interruption).
        while self.take_interrupt()?.is_some() {}
        let c = count.to_be_bytes();
        let a = cda.to_be_bytes();
        self.mem
            .store(layout::CCW, &[cmd, flags, c[0], c[1], a[0], a[1], a[2], a[3]])?;
        let mut orb = [0u8; 32];
        orb[..4].copy_from_slice(&INTPARM.to_be_bytes());
        orb[5] = 0x80; // F: format-1 CCWs
        orb[6] = 0xff; // LPM
        orb[8..12].copy_from_slice(&u32_of(layout::CCW).to_be_bytes());
        self.mem.store(layout::ORB, &orb)?;
        let ctx = self.ctx();
        insn("ssch", self.css.ssch(&ctx, self.gr1, layout::ORB))?;
        for _ in 0..8 {
            match self.take_interrupt()? {
                Some(i) => {
                    if let Some(s) = i.scsw {
                        if s.ctrl.stctl().primary() || s.ctrl.stctl().secondary() {
                            return Ok(s);
                        }
                    }
                }
                None => break,
            }
        }
        Err(DriverError::NoInterrupt("start"))
    }

    /// Takes one pending interruption (I/O: TEST SUBCHANNEL; adapter: the
    /// summary indicator) and scans and clears the indicators like the
    /// Linux interrupt handlers.
    ///
    /// # Errors
    /// TSCH failures or storage errors.
    pub fn take_interrupt(&mut self) -> Result<Option<Interruption>, DriverError> {
        let Some(code) = self.css.next_interrupt(0xff) else {
            return Ok(None);
        };
        let mut out = Interruption {
            scsw: None,
            queues: 0,
            config: false,
        };
        if code.iiw.adapter() {
            // Airq handler: clear the summary byte, scan the vector.
            self.mem.store(layout::SUMMARY, &[0])?;
            out.queues = self.scan_adapter()?;
        } else {
            let ctx = self.ctx();
            let cc = self.css.tsch(&ctx, self.gr1, layout::IRB);
            if cc != Ok(Cc::Zero) {
                return Err(DriverError::Cc {
                    insn: "tsch",
                    cc: cc.map_err(|pc| DriverError::Program { insn: "tsch", pc })?,
                });
            }
            let irb = self.mem.fetch(layout::IRB, 12)?;
            out.scsw = Scsw::decode(&irb);
            if !self.airq {
                out.queues = self.swap_u64(layout::IND)?;
            }
            out.config = self.swap_u64(layout::CONF_IND)? & 1 != 0;
        }
        self.interrupts.push(out);
        Ok(Some(out))
    }

    fn swap_u64(&self, addr: u64) -> Result<u64, DriverError> {
        let v = self.mem.fetch(addr, 8)?;
        self.mem.store(addr, &[0; 8])?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&v);
        Ok(u64::from_be_bytes(a))
    }

    fn scan_adapter(&self) -> Result<u64, DriverError> {
        let mut mask = 0u64;
        let n = self.queues.len().max(1);
        let bytes = n.div_ceil(8);
        let v = self.mem.fetch(layout::ADAPTER_IND, bytes)?;
        self.mem.store(layout::ADAPTER_IND, &vec![0; bytes])?;
        for q in 0..n {
            if v[q / 8] & (0x80 >> (q % 8)) != 0 {
                mask |= 1 << q;
            }
        }
        Ok(mask)
    }

    fn payload(&self, data: &[u8]) -> Result<u32, DriverError> {
        self.mem.store(layout::DATA, data)?;
        Ok(u32_of(layout::DATA))
    }

    fn write_cmd(&mut self, cmd: u8, data: &[u8], flags: u8) -> Result<Scsw, DriverError> {
        let cda = self.payload(data)?;
        let count = u16::try_from(data.len()).map_err(|_| DriverError::Protocol("payload too long"))?;
        self.ccw(cmd, flags, count, cda)
    }

    fn read_cmd(&mut self, cmd: u8, seed: &[u8], count: u16) -> Result<Vec<u8>, DriverError> {
        let cda = self.payload(seed)?;
        self.ccw(cmd, 0, count, cda)?;
        Ok(self.mem.fetch(layout::DATA, usize::from(count))?)
    }

    fn get_status(&mut self) -> Result<u8, DriverError> {
        if self.revision >= 2 {
            let s = self.read_cmd(CCW_CMD_READ_STATUS, &[0], 1)?[0];
            self.status = s;
        }
        Ok(self.status)
    }

    fn add_status(&mut self, bits: u8) -> Result<(), DriverError> {
        let s = self.get_status()? | bits;
        let old = self.status;
        self.status = s;
        if let Err(e) = self.write_cmd(CCW_CMD_WRITE_STATUS, &[s], 0) {
            self.status = old;
            return Err(e);
        }
        Ok(())
    }

    /// The whole probe up to (not including) DRIVER_OK: returns the device
    /// features. `accept` masks the features the driver knows.
    ///
    /// # Errors
    /// Any failed step.
    pub fn probe(&mut self, accept: u64) -> Result<u64, DriverError> {
        // cio: SENSE ID, path verification.
        // cio's SENSE ID area holds the identification and 8 CIWs (40
        // bytes), with SLI: the device offers more.
        let cda = self.payload(&[0; 40])?;
        self.ccw(CCW_CMD_SENSE_ID, 0x20, 40, cda)?;
        let sid = self.mem.fetch(layout::DATA, 8)?;
        if sid[0] != 0xff || be16(&sid, 1) != VIRTIO_CCW_CU_TYPE {
            return Err(DriverError::Protocol("not a virtio-ccw control unit"));
        }
        self.ccw(CCW_CMD_NOOP, 0x20, 0, u32_of(layout::DATA))?;
        // virtio_ccw_set_transport_rev.
        self.revision = 0;
        for rev in [2u16, 1, 0] {
            let mut b = [0u8; 4];
            b[..2].copy_from_slice(&rev.to_be_bytes());
            match self.write_cmd(CCW_CMD_SET_VIRTIO_REV, &b, 0) {
                Ok(_) => {
                    self.revision = u8::try_from(rev).unwrap_or(0);
                    break;
                }
                Err(DriverError::Rejected(_)) => {}
                Err(e) => return Err(e),
            }
        }
        // register_virtio_device → reset; add ACKNOWLEDGE, DRIVER.
        self.ccw(CCW_CMD_VDEV_RESET, 0, 0, u32_of(layout::DATA))?;
        self.status = 0;
        self.add_status(STATUS_ACKNOWLEDGE)?;
        self.add_status(STATUS_DRIVER)?;
        // Features.
        let p0 = self.read_cmd(CCW_CMD_READ_FEAT, &[0, 0, 0, 0, 0], 5)?;
        let mut dev = u64::from(u32::from_le_bytes([p0[0], p0[1], p0[2], p0[3]]));
        if self.revision >= 1 {
            if let Ok(p1) = self.read_cmd(CCW_CMD_READ_FEAT, &[0, 0, 0, 0, 1], 5) {
                dev |= u64::from(u32::from_le_bytes([p1[0], p1[1], p1[2], p1[3]])) << 32;
            }
            if dev & VIRTIO_F_VERSION_1 == 0 {
                return Err(DriverError::Protocol("revision >= 1 without VERSION_1"));
            }
        }
        self.features = dev & accept;
        if self.revision == 0 {
            self.features &= !VIRTIO_F_VERSION_1;
        }
        let lo = u32::try_from(self.features & 0xffff_ffff).unwrap_or(0).to_le_bytes();
        self.write_cmd(CCW_CMD_WRITE_FEAT, &[lo[0], lo[1], lo[2], lo[3], 0], 0)?;
        if self.revision >= 1 {
            let hi = u32::try_from(self.features >> 32).unwrap_or(0).to_le_bytes();
            self.write_cmd(CCW_CMD_WRITE_FEAT, &[hi[0], hi[1], hi[2], hi[3], 1], 0)?;
            self.add_status(STATUS_FEATURES_OK)?;
            if self.get_status()? & STATUS_FEATURES_OK == 0 {
                return Err(DriverError::Protocol("FEATURES_OK not kept"));
            }
        }
        Ok(dev)
    }

    /// READ_CONF of `len` bytes (offset-less, count = offset + length as
    /// Linux does).
    ///
    /// # Errors
    /// Any failed step.
    pub fn read_conf(&mut self, len: u16) -> Result<Vec<u8>, DriverError> {
        self.read_cmd(CCW_CMD_READ_CONF, &vec![0; usize::from(len)], len)
    }

    /// find_vqs: READ_VQ_CONF + SET_VQ per queue, then the indicators
    /// (SET_IND_ADAPTER, falling back to SET_IND), then SET_CONF_IND.
    ///
    /// # Errors
    /// Any failed step.
    pub fn find_vqs(&mut self, nvqs: u16) -> Result<(), DriverError> {
        self.queues.clear();
        for i in 0..nvqs {
            let mut b = [0u8; 4];
            b[..2].copy_from_slice(&i.to_be_bytes());
            let r = self.read_cmd(CCW_CMD_READ_VQ_CONF, &b, 4)?;
            let num = be16(&r, 2);
            if num == 0 {
                return Err(DriverError::Protocol("queue size 0 (ENOENT)"));
            }
            let base = layout::RINGS + u64::from(i) * layout::RING_STRIDE;
            self.mem
                .store(base, &vec![0; usize::try_from(layout::RING_STRIDE).unwrap_or(0)])?;
            let q = if self.revision == 0 {
                let (avail, used) = legacy_offsets(num);
                let mut info = [0u8; VQ_INFO_LEGACY_LEN];
                info[..8].copy_from_slice(&base.to_be_bytes());
                info[8..12].copy_from_slice(&4096u32.to_be_bytes());
                info[12..14].copy_from_slice(&i.to_be_bytes());
                info[14..16].copy_from_slice(&num.to_be_bytes());
                self.write_cmd(CCW_CMD_SET_VQ, &info, 0)?;
                GuestQueue {
                    size: num,
                    desc: base,
                    avail: base + avail,
                    used: base + used,
                    avail_idx: 0,
                    last_used: 0,
                }
            } else {
                let (desc, avail, used) = (base, base + 0x8000, base + 0xc000);
                let mut info = [0u8; VQ_INFO_LEN];
                info[..8].copy_from_slice(&desc.to_be_bytes());
                info[12..14].copy_from_slice(&i.to_be_bytes());
                info[14..16].copy_from_slice(&num.to_be_bytes());
                info[16..24].copy_from_slice(&avail.to_be_bytes());
                info[24..].copy_from_slice(&used.to_be_bytes());
                self.write_cmd(CCW_CMD_SET_VQ, &info, 0)?;
                GuestQueue {
                    size: num,
                    desc,
                    avail,
                    used,
                    avail_idx: 0,
                    last_used: 0,
                }
            };
            self.queues.push(q);
        }
        self.mem.store(layout::IND, &[0; 0x40])?;
        self.airq = false;
        if self.want_airq {
            let mut t = [0u8; THININT_LEN];
            t[..8].copy_from_slice(&layout::SUMMARY.to_be_bytes());
            t[8..16].copy_from_slice(&layout::ADAPTER_IND.to_be_bytes());
            t[24] = ISC;
            match self.write_cmd(CCW_CMD_SET_IND_ADAPTER, &t, 0x20) {
                Ok(_) => self.airq = true,
                Err(DriverError::Rejected(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if !self.airq {
            self.write_cmd(CCW_CMD_SET_IND, &layout::IND.to_be_bytes(), 0)?;
        }
        self.write_cmd(CCW_CMD_SET_CONF_IND, &layout::CONF_IND.to_be_bytes(), 0)?;
        Ok(())
    }

    /// Adds DRIVER_OK.
    ///
    /// # Errors
    /// Any failed step.
    pub fn driver_ok(&mut self) -> Result<(), DriverError> {
        self.add_status(STATUS_DRIVER_OK)?;
        if self.get_status()? & STATUS_DEVICE_NEEDS_RESET != 0 {
            return Err(DriverError::Protocol("device needs reset"));
        }
        Ok(())
    }

    /// The device status through READ_STATUS (revision 2) or the cache.
    ///
    /// # Errors
    /// Any failed step.
    pub fn status(&mut self) -> Result<u8, DriverError> {
        self.get_status()
    }

    /// The channel subsystem the driver talks to.
    #[must_use]
    pub fn css(&self) -> &Css {
        &self.css
    }

    /// Talks to `css` from now on (a restored copy of the machine).
    pub fn set_css(&mut self, css: Css) {
        self.css = css;
    }

    /// Guest storage.
    #[must_use]
    pub fn memory(&self) -> &Arc<VecMemory> {
        &self.mem
    }

    /// Byte order of rings and headers (little from revision 1).
    #[must_use]
    pub fn endian(&self) -> Endian {
        if self.revision >= 1 {
            Endian::Little
        } else {
            Endian::Big
        }
    }

    /// Puts a chain of `(addr, len, device_writable)` buffers on queue `q`,
    /// notifies, takes the interruption and returns the used length.
    ///
    /// # Errors
    /// Notification errors, a missing indication or used entry.
    pub fn request(&mut self, q: usize, bufs: &[(u64, u32, bool)]) -> Result<u32, DriverError> {
        self.offer(q, bufs)?;
        self.notify(q)?;
        self.complete(q)
    }

    /// Puts a chain of `(addr, len, device_writable)` buffers on queue `q`
    /// (descriptors from index 0, head 0) without notifying.
    ///
    /// # Errors
    /// No such queue, or storage errors.
    pub fn offer(&mut self, q: usize, bufs: &[(u64, u32, bool)]) -> Result<(), DriverError> {
        let e = self.endian();
        let mut gq = *self.queues.get(q).ok_or(DriverError::Protocol("no such queue"))?;
        for (i, &(addr, len, w)) in bufs.iter().enumerate() {
            let last = i + 1 == bufs.len();
            let flags = if w { VIRTQ_DESC_F_WRITE } else { 0 } | if last { 0 } else { VIRTQ_DESC_F_NEXT };
            let next = u16::try_from(i + 1).unwrap_or(0);
            let mut raw = [0u8; 16];
            raw[..8].copy_from_slice(&e.bytes64(addr));
            raw[8..12].copy_from_slice(&e.bytes32(len));
            raw[12..14].copy_from_slice(&e.bytes16(flags));
            raw[14..].copy_from_slice(&e.bytes16(if last { 0 } else { next }));
            self.mem.store(gq.desc + 16 * i as u64, &raw)?;
        }
        let slot = u64::from(gq.avail_idx % gq.size);
        self.mem.store(gq.avail + 4 + 2 * slot, &e.bytes16(0))?;
        gq.avail_idx = gq.avail_idx.wrapping_add(1);
        self.mem.store(gq.avail + 2, &e.bytes16(gq.avail_idx))?;
        self.queues[q] = gq;
        Ok(())
    }

    /// Takes the interruptions that indicate queue `q` and returns the used
    /// length of the next used entry (after [`LinuxDriver::offer`] and a
    /// notification).
    ///
    /// # Errors
    /// A missing indication or used entry.
    pub fn complete(&mut self, q: usize) -> Result<u32, DriverError> {
        let e = self.endian();
        let mut gq = *self.queues.get(q).ok_or(DriverError::Protocol("no such queue"))?;
        // The indication: an I/O interruption with alert status (classic)
        // or an adapter interruption.
        let mut seen = false;
        let deadline = std::time::Instant::now() + COMPLETION_WAIT;
        loop {
            while let Some(i) = self.take_interrupt()? {
                seen |= i.queues & (1 << q) != 0;
            }
            // A device on an I/O thread completes later: wait for its
            // interruption as a guest would.
            let now = std::time::Instant::now();
            if seen || now >= deadline {
                break;
            }
            self.css.wait_until(deadline - now, |c| c.pending_iscs() != 0);
        }
        if !seen {
            return Err(DriverError::NoInterrupt("queue indication"));
        }
        let mut idx = [0u8; 2];
        idx.copy_from_slice(&self.mem.fetch(gq.used + 2, 2)?);
        if e.u16(idx) != gq.last_used.wrapping_add(1) {
            return Err(DriverError::Protocol("no used entry"));
        }
        let slot = u64::from(gq.last_used % gq.size);
        let elem = self.mem.fetch(gq.used + 4 + 8 * slot, 8)?;
        gq.last_used = gq.last_used.wrapping_add(1);
        self.queues[q] = gq;
        if e.u32([elem[0], elem[1], elem[2], elem[3]]) != 0 {
            return Err(DriverError::Protocol("used id is not the head"));
        }
        Ok(e.u32([elem[4], elem[5], elem[6], elem[7]]))
    }

    /// DIAG 0x500 subcode 3 for queue `q` through [`Css::diag500`] (GR2 =
    /// subchannel-id word, GR3 = queue, GR4 = the cookie the last
    /// notification returned).
    ///
    /// # Errors
    /// A negative return value.
    pub fn notify(&mut self, q: usize) -> Result<i64, DriverError> {
        let ctx = self.ctx();
        let gr2 = self
            .css
            .diag500(&ctx, 3, u64::from(self.gr1), q as u64, self.cookie)
            .map_err(|pc| DriverError::Program { insn: "diag 0x500", pc })?;
        let r = i64::from_ne_bytes(gr2.to_ne_bytes());
        if r < 0 {
            return Err(DriverError::Notify(r));
        }
        self.cookie = gr2;
        Ok(r)
    }

    /// A virtio-blk request: `data` goes out (OUT) or comes in (IN) at
    /// `sector`. Returns the status byte.
    ///
    /// # Errors
    /// Ring or notification failures.
    pub fn blk(&mut self, write: bool, sector: u64, data: &mut [u8]) -> Result<u8, DriverError> {
        let e = self.endian();
        let kind = if write { VIRTIO_BLK_T_OUT } else { VIRTIO_BLK_T_IN };
        let mut hdr = [0u8; 16];
        hdr[..4].copy_from_slice(&e.bytes32(kind));
        hdr[8..].copy_from_slice(&e.bytes64(sector));
        self.mem.store(layout::REQ, &hdr)?;
        self.mem.store(layout::REQ + 0x100, &[0xff])?;
        if write {
            self.mem.store(layout::BUFFERS, data)?;
        }
        let len = u32::try_from(data.len()).map_err(|_| DriverError::Protocol("buffer too long"))?;
        let used = self.request(
            0,
            &[
                (layout::REQ, 16, false),
                (layout::BUFFERS, len, !write),
                (layout::REQ + 0x100, 1, true),
            ],
        )?;
        let status = self.mem.fetch(layout::REQ + 0x100, 1)?[0];
        // Only the status byte is written for writes and failed requests.
        let want = if write || status != 0 { 1 } else { len + 1 };
        if used != want {
            return Err(DriverError::Protocol("unexpected used length"));
        }
        if !write {
            self.mem.read(layout::BUFFERS, data, zcss_ccw::AccessKey::ZERO)?;
        }
        Ok(status)
    }

    /// Reads `n` bytes of entropy from virtio-rng.
    ///
    /// # Errors
    /// Ring or notification failures.
    pub fn rng(&mut self, n: u32) -> Result<Vec<u8>, DriverError> {
        let used = self.request(0, &[(layout::BUFFERS, n, true)])?;
        Ok(self.mem.fetch(layout::BUFFERS, usize::try_from(used).unwrap_or(0))?)
    }

    /// Writes `text` to virtio-console port 0 (transmitq).
    ///
    /// # Errors
    /// Ring or notification failures.
    pub fn console_write(&mut self, text: &[u8]) -> Result<(), DriverError> {
        self.mem.store(layout::BUFFERS, text)?;
        let len = u32::try_from(text.len()).map_err(|_| DriverError::Protocol("text too long"))?;
        self.request(1, &[(layout::BUFFERS, len, false)])?;
        Ok(())
    }
}

fn insn(name: &'static str, r: Result<Cc, ProgramCheck>) -> Result<(), DriverError> {
    match r {
        Ok(Cc::Zero) => Ok(()),
        Ok(cc) => Err(DriverError::Cc { insn: name, cc }),
        Err(pc) => Err(DriverError::Program { insn: name, pc }),
    }
}

fn u32_of(addr: u64) -> u32 {
    u32::try_from(addr).unwrap_or(0)
}

#[cfg(test)]
#[path = "driver_model_tests.rs"]
mod tests;
