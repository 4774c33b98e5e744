//! Scenario steps at the level of the channel subsystem rather than the
//! channel program: STORE and MODIFY SUBCHANNEL with arbitrary PMCW
//! fields, channel reports, measurement, CHSC, the virtio hypercall,
//! guest stores into the data areas, hot plug and unplug, the I/O-system
//! reset, and instructions with hostile operands (misaligned, outside
//! storage, subchannel-id words naming nothing). Each becomes
//! [`Action`]s, so it prints as trace statements.

use arbitrary::Arbitrary;

use super::action::Action;
use super::{Scenario, CHSC_ADDR, CRW_ADDR, IRB_ADDR, MEASUREMENT_ADDR, SCHIB_ADDR, STORAGE, TPI_ADDR};
use zcss_ccw::generate::StartDesc;

/// An operand address: the instruction's usual one, or a hostile one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Operand {
    /// The harness's place for the operand.
    Usual,
    /// The usual place plus 1 to 7 bytes (specification exception where
    /// the operand must be aligned).
    Misaligned(u8),
    /// Past the end of storage (addressing exception).
    Beyond(u16),
    /// Absolute 0 (TEST PENDING INTERRUPTION: the prefix-area form).
    Zero,
}

impl Operand {
    fn at(self, usual: u64) -> u64 {
        match self {
            Self::Usual => usual,
            Self::Misaligned(n) => usual + 1 + u64::from(n % 7),
            Self::Beyond(n) => STORAGE + u64::from(n) * 8,
            Self::Zero => 0,
        }
    }
}

/// A subchannel-identification word that need not name a subchannel of
/// the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum SidWord {
    /// A well-formed word for subchannel number `schno` of set 0 (cc 3
    /// where there is none).
    Schno(u16),
    /// Any 32 bits (operand exception unless well formed).
    Raw(u32),
}

impl SidWord {
    fn word(self) -> u32 {
        match self {
            Self::Schno(n) => 0x0001_0000 | u32::from(n),
            Self::Raw(w) => w,
        }
    }
}

/// An instruction that takes only a subchannel-identification word (and
/// for some an operand at its usual place).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum SidInsn {
    /// TEST SUBCHANNEL.
    Tsch,
    /// STORE SUBCHANNEL.
    Stsch,
    /// MODIFY SUBCHANNEL (with the SCHIB last stored).
    Msch,
    /// HALT SUBCHANNEL.
    Hsch,
    /// CLEAR SUBCHANNEL.
    Csch,
    /// CANCEL SUBCHANNEL.
    Xsch,
    /// RESUME SUBCHANNEL.
    Rsch,
}

/// The PMCW fields a program sets with MODIFY SUBCHANNEL (PoO chapter 15,
/// "Path-Management-Control Word"), over the SCHIB STORE SUBCHANNEL just
/// stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct PmcwDesc {
    /// Interruption parameter.
    pub intparm: u32,
    /// Interruption subclass (low three bits).
    pub isc: u8,
    /// Enabled.
    pub enabled: bool,
    /// Limit mode (two bits), measurement mode (two bits), multipath,
    /// timing facility, device number valid: PMCW byte 5 below E.
    pub controls: u8,
    /// Logical-path mask.
    pub lpm: u8,
    /// Measurement-block index (low four bits: the blocks stay in the
    /// measurement area).
    pub mbi: u8,
    /// One byte of the 52 replaced (offset modulo 52, value): reserved
    /// bits, a broken SCSW.
    pub raw: Option<(u8, u8)>,
}

/// SET CHANNEL MONITOR's operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct SchmDesc {
    /// Measurement-block key.
    pub key: u8,
    /// Measurement-block update (M).
    pub update: bool,
    /// Device-connect-time measurement (D).
    pub connect_time: bool,
    /// The measurement-block origin (usually the measurement area).
    pub origin: Operand,
    /// Any GR1 instead (reserved bits: operand exception).
    pub raw_gr1: Option<u32>,
}

/// A CHSC request: code and the bytes after the header.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct ChscDesc {
    /// Request length (the header's first halfword) instead of 16 + the
    /// parameters' length.
    pub length: Option<u16>,
    /// Command code.
    pub code: u16,
    /// Parameters (at most 32 bytes used).
    pub params: Vec<u8>,
}

/// A step at the level of the channel subsystem; the `u8` picks the
/// subchannel (modulo the scenario's count).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum CssStep {
    /// STORE SUBCHANNEL at an operand address.
    Stsch(u8, Operand),
    /// STORE SUBCHANNEL, then MODIFY SUBCHANNEL with these fields.
    Msch(u8, PmcwDesc),
    /// TEST SUBCHANNEL at an operand address.
    Tsch(u8, Operand),
    /// TEST PENDING INTERRUPTION at an operand address with a CR6 mask.
    Tpi(Operand, u8),
    /// STORE CHANNEL REPORT WORD.
    Stcrw(Operand),
    /// An instruction on a word that may name no subchannel.
    OtherSid(SidWord, SidInsn),
    /// SET CHANNEL MONITOR.
    Schm(SchmDesc),
    /// CHANNEL SUBSYSTEM CALL.
    Chsc(ChscDesc),
    /// RESET CHANNEL PATH of a CHPID.
    Rchp(u8),
    /// SET INTERRUPTION CONTROLS (GR1, GR3).
    Sic(u32, u8),
    /// DIAGNOSE 0x500 notify: queue index and cookie.
    Notify(u8, u16, u32),
    /// The guest stores bytes into the subchannel's data region (offset
    /// modulo the region).
    Store(u8, u16, Vec<u8>),
    /// Input typed on the host for the device.
    Input(u8, Vec<u8>),
    /// The host unplugs the device.
    Detach(u8),
    /// The host plugs the device (again) in.
    Attach(u8),
    /// The I/O-system reset.
    Reset,
}

/// Most bytes of one guest store or console input.
const MAX_STORE: usize = 256;

impl CssStep {
    /// The actions of the step on a scenario of `n` subchannels, `mcss`
    /// telling how GR1 names them.
    #[must_use]
    pub fn actions(&self, n: usize, mcss: bool) -> Vec<Action> {
        let idx = |s: u8| usize::from(s) % n;
        let gr1 = |s: u8| Scenario::<StartDesc>::gr1(idx(s), mcss);
        match self {
            Self::Stsch(s, o) => vec![Action::Stsch(gr1(*s), o.at(SCHIB_ADDR))],
            Self::Msch(s, d) => {
                let mut v = vec![Action::Stsch(gr1(*s), SCHIB_ADDR)];
                v.extend(d.stores(idx(*s)).into_iter().map(|(a, b)| Action::Store(a, b)));
                v.push(Action::Msch(gr1(*s), SCHIB_ADDR));
                v
            }
            Self::Tsch(s, o) => vec![Action::Tsch(gr1(*s), o.at(IRB_ADDR))],
            Self::Tpi(o, m) => vec![Action::Tpi(o.at(TPI_ADDR), *m)],
            Self::Stcrw(o) => vec![Action::Stcrw(o.at(CRW_ADDR))],
            Self::OtherSid(w, i) => {
                let g = w.word();
                vec![match i {
                    SidInsn::Tsch => Action::Tsch(g, IRB_ADDR),
                    SidInsn::Stsch => Action::Stsch(g, SCHIB_ADDR),
                    SidInsn::Msch => Action::Msch(g, SCHIB_ADDR),
                    SidInsn::Hsch => Action::Hsch(g),
                    SidInsn::Csch => Action::Csch(g),
                    SidInsn::Xsch => Action::Xsch(g),
                    SidInsn::Rsch => Action::Rsch(g),
                }]
            }
            Self::Schm(d) => {
                let gr1 = d.raw_gr1.unwrap_or_else(|| {
                    (u32::from(d.key & 0xf) << 28) | (u32::from(d.update) << 1) | u32::from(d.connect_time)
                });
                vec![Action::Schm(gr1, d.origin.at(MEASUREMENT_ADDR))]
            }
            Self::Chsc(d) => {
                let params = &d.params[..d.params.len().min(32)];
                let len = d
                    .length
                    .unwrap_or_else(|| u16::try_from(16 + params.len()).unwrap_or(u16::MAX));
                let mut b = Vec::with_capacity(16 + params.len());
                b.extend_from_slice(&len.to_be_bytes());
                b.extend_from_slice(&d.code.to_be_bytes());
                b.extend_from_slice(&[0; 12]);
                b.extend_from_slice(params);
                vec![Action::Store(CHSC_ADDR, b), Action::Chsc(CHSC_ADDR)]
            }
            Self::Rchp(c) => vec![Action::Rchp(u32::from(*c))],
            Self::Sic(g1, g3) => vec![Action::Sic(u64::from(*g1), u64::from(*g3))],
            Self::Notify(s, q, c) => vec![Action::Diag500(3, u64::from(gr1(*s)), u64::from(*q), u64::from(*c))],
            Self::Store(s, off, b) => {
                let region = Scenario::<StartDesc>::layout(idx(*s));
                let room = region.data_end - region.data;
                let b = &b[..b.len().min(MAX_STORE)];
                let at = region.data + u64::from(*off) % room;
                let b = &b[..b.len().min(usize::try_from(region.data_end - at).unwrap_or(0))];
                if b.is_empty() {
                    Vec::new()
                } else {
                    vec![Action::Store(at, b.to_vec())]
                }
            }
            Self::Input(s, b) => vec![Action::Input(idx(*s), b[..b.len().min(MAX_STORE)].to_vec())],
            Self::Detach(s) => vec![Action::Detach(idx(*s))],
            Self::Attach(s) => vec![Action::Attach(idx(*s))],
            Self::Reset => vec![Action::Reset],
        }
    }
}

impl PmcwDesc {
    /// The stores over the stored SCHIB of subchannel `i`: PMCW bytes 0–15
    /// (the device number kept), the format-1 measurement-block address
    /// (SCHIB bytes 40–47) inside the measurement area, and the raw byte.
    fn stores(&self, i: usize) -> Vec<(u64, Vec<u8>)> {
        let devno = u16::try_from(i).unwrap_or(0).to_be_bytes();
        let mut p = [0u8; 16];
        p[..4].copy_from_slice(&self.intparm.to_be_bytes());
        p[4] = (self.isc & 7) << 3;
        p[5] = (u8::from(self.enabled) << 7) | (self.controls & 0x7f);
        p[6..8].copy_from_slice(&devno);
        p[8] = self.lpm;
        // PNOM, LPUM, PIM: MODIFY SUBCHANNEL leaves them alone.
        p[12..14].copy_from_slice(&u16::from(self.mbi & 0xf).to_be_bytes());
        // POM, PAM as a program would leave them.
        p[14] = 0xff;
        p[15] = 0x80;
        let mba = MEASUREMENT_ADDR + 0x200 + 64 * u64::try_from(i).unwrap_or(0);
        let mut v = vec![(SCHIB_ADDR, p.to_vec()), (SCHIB_ADDR + 40, mba.to_be_bytes().to_vec())];
        if let Some((off, val)) = self.raw {
            v.push((SCHIB_ADDR + u64::from(off % 52), vec![val]));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msch_stores_the_fields_between_stsch_and_msch() {
        let d = PmcwDesc {
            intparm: 0x1234_5678,
            isc: 0xb,
            enabled: true,
            controls: 0x18,
            lpm: 0x80,
            mbi: 0x21,
            raw: Some((53, 0xee)),
        };
        let a = CssStep::Msch(5, d).actions(4, false);
        assert_eq!(a[0], Action::Stsch(0x0001_0001, SCHIB_ADDR));
        assert_eq!(
            a[1],
            Action::Store(
                SCHIB_ADDR,
                vec![0x12, 0x34, 0x56, 0x78, 0x18, 0x98, 0, 1, 0x80, 0, 0, 0, 0, 1, 0xff, 0x80]
            )
        );
        assert_eq!(a[3], Action::Store(SCHIB_ADDR + 1, vec![0xee]));
        assert_eq!(a[4], Action::Msch(0x0001_0001, SCHIB_ADDR));
    }

    #[test]
    fn hostile_operands_are_misaligned_beyond_storage_or_zero() {
        assert_eq!(
            CssStep::Tsch(0, Operand::Misaligned(9)).actions(1, false),
            vec![Action::Tsch(0x0001_0000, IRB_ADDR + 3)]
        );
        assert_eq!(
            CssStep::Stcrw(Operand::Beyond(1)).actions(1, false),
            vec![Action::Stcrw(STORAGE + 8)]
        );
        assert_eq!(
            CssStep::Tpi(Operand::Zero, 0x10).actions(1, false),
            vec![Action::Tpi(0, 0x10)]
        );
    }

    #[test]
    fn guest_store_stays_in_the_data_region() {
        let a = CssStep::Store(0, 0xffff, vec![7; 300]).actions(1, false);
        let region = Scenario::<StartDesc>::layout(0);
        let Action::Store(at, b) = &a[0] else { panic!("{a:?}") };
        assert!(*at >= region.data && at + b.len() as u64 <= region.data_end);
        assert!(b.len() <= MAX_STORE);
    }
}
