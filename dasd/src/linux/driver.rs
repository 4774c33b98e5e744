//! The driver itself: its state (what setting the device online found),
//! the guest storage it works in, and how it runs a channel program —
//! START SUBCHANNEL, the interruption, TEST SUBCHANNEL, and cio's BASIC
//! SENSE after a unit check without concurrent sense.

use zcss_ccw::irb::Irb;
use zcss_ccw::memory::{AccessError, AccessKey};
use zcss_ccw::scsw::Scsw;
use zcss_css::{Cc, InsnResult};

use super::channel::{Channel, CssChannel};
use super::program::{cmd, recs_per_track, Cp, LABEL_SIZE, SIZES_TRK0, SLI};

/// The I/O-interruption subclass the driver enables its subchannel for
/// (Linux cio's default for DASDs).
pub const ISC: u8 = 3;

/// Guest storage the driver needs for its control blocks, channel
/// programs and parameters, at the address given to [`LinuxDasd::new`].
pub const AREA_LEN: u64 = 0x1_0000;

/// Offsets in the driver's area.
pub(super) mod area {
    pub const SCHIB: u64 = 0x0000;
    pub const ORB: u64 = 0x0040;
    pub const IRB: u64 = 0x0080;
    pub const CCWS: u64 = 0x0100;
    pub const CCWS_END: u64 = 0x1000;
    pub const DATA: u64 = 0x1000;
    /// Block data staged by byte reads and writes: the upper half.
    pub const STAGING: u64 = super::AREA_LEN / 2;
    pub const DATA_END: u64 = STAGING;
}

/// How the driver classified the volume (`dasd_eckd_end_analysis`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// No records where the analysis looks: "not formatted".
    Unformatted,
    /// Compatible disk layout with this block size.
    Cdl(u16),
    /// Linux disk layout with this block size.
    Ldl(u16),
    /// Formatted, but in a layout Linux does not use.
    Unsupported,
}

impl Layout {
    /// The block size of a formatted layout.
    #[must_use]
    pub const fn block_size(self) -> Option<u16> {
        match self {
            Self::Cdl(b) | Self::Ldl(b) => Some(b),
            _ => None,
        }
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unformatted => f.write_str("not formatted"),
            Self::Cdl(b) => write!(f, "CDL, {b}-byte blocks"),
            Self::Ldl(b) => write!(f, "LDL, {b}-byte blocks"),
            Self::Unsupported => f.write_str("a layout Linux does not use"),
        }
    }
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// An I/O instruction answered other than the driver expects.
    #[error("{insn} answered {outcome}")]
    Instruction {
        /// The mnemonic.
        insn: &'static str,
        /// What it answered.
        outcome: String,
    },
    /// No interruption within the time the channel allows.
    #[error("no I/O interruption after START SUBCHANNEL")]
    NoInterruption,
    /// A channel program ended with other status than channel end and
    /// device end.
    #[error(
        "{what}: device status {dstat:#04x}, subchannel status {cstat:#04x}{}",
        sense_text(sense)
    )]
    Io {
        /// What the program was for.
        what: &'static str,
        /// Device status.
        dstat: u8,
        /// Subchannel status.
        cstat: u8,
        /// The sense of a unit check.
        sense: Option<[u8; 32]>,
    },
    /// Guest storage could not be accessed.
    #[error("guest storage: {0}")]
    Storage(#[from] AccessError),
    /// The operation needs a formatted volume of another layout.
    #[error("the volume is {0}")]
    Layout(Layout),
    /// A parameter the operation cannot use, or device data Linux would
    /// refuse.
    #[error("{0}")]
    Invalid(String),
}

fn sense_text(s: &Option<[u8; 32]>) -> String {
    s.map_or_else(String::new, |s| {
        format!(", sense {:02x}{:02x}{:02x}{:02x}", s[0], s[1], s[2], s[3])
    })
}

/// Result of driver operations.
pub type DriverResult<T> = Result<T, DriverError>;

/// How a channel program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct End {
    /// The SCSW TEST SUBCHANNEL stored.
    pub scsw: Scsw,
    /// The sense of a unit check: the concurrent sense, or what a BASIC
    /// SENSE read.
    pub sense: Option<[u8; 32]>,
}

impl End {
    /// Channel end and device end (with nothing else but status modifier
    /// or attention), no subchannel status.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.scsw.dstat.into_bits() & !0x0c == 0 && self.scsw.cstat.into_bits() == 0
    }

    /// `Ok` when [`End::ok`], the status as an error otherwise.
    ///
    /// # Errors
    /// [`DriverError::Io`] naming `what`.
    pub fn check(self, what: &'static str) -> DriverResult<()> {
        if self.ok() {
            Ok(())
        } else {
            Err(DriverError::Io {
                what,
                dstat: self.scsw.dstat.into_bits(),
                cstat: self.scsw.cstat.into_bits(),
                sense: self.sense,
            })
        }
    }
}

/// Linux's DASD driver on one subchannel (see the [module
/// documentation](super)).
pub struct LinuxDasd<C: Channel = CssChannel> {
    pub(super) channel: C,
    pub(super) area: u64,
    pub(super) concurrent_sense: bool,
    pub(super) intparm: u32,
    pub(super) opm: u8,
    pub(super) devno: u16,
    pub(super) commands: Vec<u8>,
    pub(super) basic_senses: u32,
    pub(super) rdc: [u8; 64],
    pub(super) conf: [u8; 256],
    pub(super) features: [u8; 256],
    pub(super) cylinders: u32,
    pub(super) layout: Layout,
}

impl<C: Channel> std::fmt::Debug for LinuxDasd<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxDasd")
            .field("devno", &self.devno)
            .field("cylinders", &self.cylinders)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl<C: Channel> LinuxDasd<C> {
    /// The driver on `channel`, its control blocks at `area` (its
    /// [`AREA_LEN`] bytes must lie in storage, below 2 GiB). It enables
    /// the subchannel with concurrent sense unless told otherwise
    /// ([`Self::with_concurrent_sense`]).
    #[must_use]
    pub fn new(channel: C, area: u64) -> Self {
        Self {
            channel,
            area,
            concurrent_sense: true,
            intparm: 0x0da5_d000,
            opm: 0x80,
            devno: 0,
            commands: Vec::new(),
            basic_senses: 0,
            rdc: [0; 64],
            conf: [0; 256],
            features: [0; 256],
            cylinders: 0,
            layout: Layout::Unformatted,
        }
    }

    /// Whether [`Self::enable`] asks for concurrent sense (PMCW word 6 bit
    /// 31, S; Linux cio sets it where the facility exists). Without it the
    /// driver reads the sense of a unit check with BASIC SENSE.
    #[must_use]
    pub const fn with_concurrent_sense(mut self, on: bool) -> Self {
        self.concurrent_sense = on;
        self
    }

    /// The channel.
    #[must_use]
    pub const fn channel(&self) -> &C {
        &self.channel
    }

    /// The channel, mutable (to run programs of one's own beside the
    /// driver's).
    pub fn channel_mut(&mut self) -> &mut C {
        &mut self.channel
    }

    /// The channel, the driver gone.
    #[must_use]
    pub fn into_channel(self) -> C {
        self.channel
    }

    /// The command codes of every CCW the driver started, in order (BASIC
    /// SENSE included).
    #[must_use]
    pub fn commands(&self) -> &[u8] {
        &self.commands
    }

    /// BASIC SENSE programs issued after unit checks without concurrent
    /// sense.
    #[must_use]
    pub const fn basic_senses(&self) -> u32 {
        self.basic_senses
    }

    /// The operational paths (PIM & PAM & POM) [`Self::enable`] found.
    #[must_use]
    pub const fn opm(&self) -> u8 {
        self.opm
    }

    /// READ DEVICE CHARACTERISTICS as the characteristics check read it.
    #[must_use]
    pub const fn rdc(&self) -> &[u8; 64] {
        &self.rdc
    }

    /// The feature codes (PSF/RSSD suborder 0x41).
    #[must_use]
    pub const fn features(&self) -> &[u8; 256] {
        &self.features
    }

    /// Cylinders (RDC).
    #[must_use]
    pub const fn cylinders(&self) -> u32 {
        self.cylinders
    }

    /// Tracks of the volume.
    #[must_use]
    pub const fn tracks(&self) -> u32 {
        self.cylinders.saturating_mul(15)
    }

    /// The layout the last analysis found.
    #[must_use]
    pub const fn layout(&self) -> Layout {
        self.layout
    }

    /// The device number (from STORE SUBCHANNEL).
    #[must_use]
    pub const fn devno(&self) -> u16 {
        self.devno
    }

    /// Whether the driver uses PREFIX (feature code byte 8, `01`).
    #[must_use]
    pub const fn uses_prefix(&self) -> bool {
        self.features[8] & 0x01 != 0
    }

    /// Blocks per track of the analysed layout (0 if not formatted).
    #[must_use]
    pub fn blocks_per_track(&self) -> u32 {
        self.layout.block_size().map_or(0, recs_per_track)
    }

    /// Bytes block `b` holds: the block size, but only its record's key
    /// and data for a CDL special block (track 0's records 1–3, track 1's
    /// labels); 0 when not formatted.
    #[must_use]
    pub fn block_len(&self, b: u32) -> usize {
        let bpt = self.blocks_per_track();
        match self.layout {
            Layout::Cdl(_) if b < 3 => usize::from(SIZES_TRK0[usize::try_from(b).unwrap_or(0)]),
            Layout::Cdl(_) if (bpt..2 * bpt).contains(&b) => usize::from(LABEL_SIZE),
            l => usize::from(l.block_size().unwrap_or(0)),
        }
    }

    /// Writes `data` into guest storage as the CPU.
    ///
    /// # Errors
    /// Outside storage.
    pub fn store(&self, addr: u64, data: &[u8]) -> DriverResult<()> {
        Ok(self.channel.memory().write(addr, data, AccessKey::ZERO)?)
    }

    /// Reads `len` bytes of guest storage as the CPU.
    ///
    /// # Errors
    /// Outside storage.
    pub fn fetch(&self, addr: u64, len: usize) -> DriverResult<Vec<u8>> {
        let mut b = vec![0; len];
        self.channel.memory().read(addr, &mut b, AccessKey::ZERO)?;
        Ok(b)
    }

    pub(super) fn insn(insn: &'static str, r: InsnResult) -> DriverResult<()> {
        match r {
            Ok(Cc::Zero) => Ok(()),
            Ok(cc) => Err(DriverError::Instruction {
                insn,
                outcome: format!("cc {}", cc.value()),
            }),
            Err(p) => Err(DriverError::Instruction {
                insn,
                outcome: format!("a program check ({p:?})"),
            }),
        }
    }

    /// An empty program for the driver's area.
    pub(super) const fn program(&self) -> Cp {
        Cp::new(self.area + area::DATA)
    }

    /// Runs `cp` on the paths `lpm`: START SUBCHANNEL, the interruption,
    /// TEST SUBCHANNEL; after a unit check without concurrent sense, BASIC
    /// SENSE.
    pub(super) fn run(&mut self, cp: &Cp, lpm: u8) -> DriverResult<End> {
        let irb = self.start(cp, lpm)?;
        let sense = if !irb.scsw.dstat.unit_check() {
            None
        } else if irb.scsw.ctrl.extended_control() && irb.esw.erw.concurrent_sense() {
            Some(irb.ecw)
        } else {
            Some(self.basic_sense()?)
        };
        Ok(End { scsw: irb.scsw, sense })
    }

    /// cio's BASIC SENSE (`ccw_device_do_sense`): 32 bytes with SLI, every
    /// path allowed; the sense bytes.
    fn basic_sense(&mut self) -> DriverResult<[u8; 32]> {
        self.basic_senses += 1;
        let mut cp = self.program();
        let a = cp.area(32);
        cp.ccw(cmd::SENSE, SLI, 32, a);
        let irb = self.start(&cp, 0xff)?;
        End {
            scsw: irb.scsw,
            sense: None,
        }
        .check("basic sense")?;
        let mut s = [0u8; 32];
        s.copy_from_slice(&self.fetch(u64::from(a), 32)?);
        Ok(s)
    }

    /// Stores `cp` in the driver's area and starts it on the paths `lpm`;
    /// the IRB of its final status.
    fn start(&mut self, cp: &Cp, lpm: u8) -> DriverResult<Irb> {
        let ccw_room = usize::try_from(area::CCWS_END - area::CCWS).unwrap_or(0) / 8;
        let data_room = usize::try_from(area::DATA_END - area::DATA).unwrap_or(0);
        if cp.ccws.len() > ccw_room || cp.data.len() > data_room {
            return Err(DriverError::Invalid(format!(
                "a channel program of {} CCWs and {} parameter bytes does not fit the driver's area",
                cp.ccws.len(),
                cp.data.len()
            )));
        }
        let flat: Vec<u8> = cp.ccws.iter().flatten().copied().collect();
        self.store(self.area + area::CCWS, &flat)?;
        if !cp.data.is_empty() {
            self.store(cp.base, &cp.data)?;
        }
        self.commands.extend(cp.ccws.iter().map(|c| c[0]));
        self.intparm = self.intparm.wrapping_add(1);
        let cpa = u32::try_from(self.area + area::CCWS).unwrap_or(0);
        let mut orb = [0u8; 12];
        orb[..4].copy_from_slice(&self.intparm.to_be_bytes());
        // F (format-1 CCWs), H (format-2 IDAWs); the paths.
        orb[5] = 0x80 | 0x02;
        orb[6] = lpm;
        orb[8..].copy_from_slice(&cpa.to_be_bytes());
        let orb_addr = self.area + area::ORB;
        self.store(orb_addr, &orb)?;
        Self::insn("ssch", self.channel.ssch(orb_addr))?;
        let code = self.channel.wait(0x80 >> ISC).ok_or(DriverError::NoInterruption)?;
        if code.intparm != self.intparm {
            return Err(DriverError::Instruction {
                insn: "tpi",
                outcome: format!("interruption parameter {:#x}, not {:#x}", code.intparm, self.intparm),
            });
        }
        let irb_addr = self.area + area::IRB;
        Self::insn("tsch", self.channel.tsch(irb_addr))?;
        let irb = self.fetch(irb_addr, Irb::LEN_NO_EMW)?;
        Irb::decode(&irb).ok_or_else(|| DriverError::Invalid("undecodable SCSW".into()))
    }

    /// Paths of the operational path mask, 0x80 first.
    pub(super) fn paths(&self) -> impl Iterator<Item = u8> {
        let opm = self.opm;
        (0..8).map(|i| 0x80u8 >> i).filter(move |m| opm & m != 0)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::linux::format::DasdfmtOptions;
    use crate::ControlUnit;

    /// The driver on a 3390 of `cylinders` behind `cu`, alone on a css,
    /// with concurrent sense as `csense` says; not enabled yet.
    pub(crate) fn on_3390(cu: ControlUnit, cylinders: u32, csense: bool) -> LinuxDasd {
        crate::mock::driver_for(crate::mock::linux_dasd(cu, cylinders)).with_concurrent_sense(csense)
    }

    #[test]
    fn enable_without_a_device_reports_cc3_of_stsch() {
        let css = zcss_css::Css::default();
        let mem = std::sync::Arc::new(zcss_ccw::VecMemory::new(1 << 20));
        let sid = zcss_ccw::sid::SubchannelId {
            cssid: 0xfe,
            ssid: 0,
            schno: 7,
        };
        let mut d = LinuxDasd::new(CssChannel::new(css, mem, sid), 0x1_0000);
        let e = d.enable().unwrap_err();
        assert_eq!(
            e,
            DriverError::Instruction {
                insn: "stsch",
                outcome: "cc 3".into()
            }
        );
    }

    #[test]
    fn block_len_of_cdl_special_blocks_is_their_record() {
        let mut d = on_3390(ControlUnit::Model6, 2, true);
        d.online().unwrap();
        assert_eq!(d.block_len(0), 0, "not formatted");
        d.dasdfmt(&DasdfmtOptions::default(), &mut |_, _| {}).unwrap();
        let lens: Vec<usize> = [0, 1, 2, 3, 12, 23, 24].iter().map(|&b| d.block_len(b)).collect();
        assert_eq!(lens, vec![28, 148, 84, 4096, 140, 140, 4096]);
    }
}
