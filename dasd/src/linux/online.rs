//! Setting the device online: cio's subchannel setup, device recognition
//! and path grouping (`device_id.c`, `device_pgid.c`), then `dasd_eckd`'s
//! characteristics check (`dasd_eckd_check_characteristics`) and volume
//! analysis (`dasd_eckd_analysis_ccw`, `dasd_eckd_end_analysis`).

use super::channel::Channel;
use super::driver::{area, DriverError, DriverResult, Layout, LinuxDasd, ISC};
use super::program::cmd::*;
use super::program::{locate, SIZES_TRK0, SLI};

/// The path group id the driver sets: CPU address, CPU id and model, TOD
/// high word (cio's `pgid` of one CPU).
const PGID: [u8; 12] = [0x80, 0x00, 0x01, 0x12, 0x34, 0x56, 0x39, 0x06, 0xd4, 0x5d, 0x00, 0x01];

impl<C: Channel> LinuxDasd<C> {
    /// Everything setting the device online does: [`Self::enable`],
    /// [`Self::recognize`], [`Self::check_characteristics`] and
    /// [`Self::analyze`].
    ///
    /// # Errors
    /// An instruction or channel program failed.
    pub fn online(&mut self) -> DriverResult<Layout> {
        self.enable()?;
        self.recognize()?;
        self.check_characteristics()?;
        self.analyze()
    }

    /// cio's subchannel setup: STORE SUBCHANNEL, then MODIFY SUBCHANNEL
    /// with the subchannel enabled on ISC 3, concurrent sense as asked
    /// ([`Self::with_concurrent_sense`]), and the operational paths as LPM.
    ///
    /// # Errors
    /// The subchannel is not operational.
    pub fn enable(&mut self) -> DriverResult<()> {
        let schib = self.area + area::SCHIB;
        Self::insn("stsch", self.channel.stsch(schib))?;
        let mut s = self.fetch(schib, 28)?;
        s[4] = (s[4] & !0x38) | (ISC << 3);
        s[5] |= 0x80;
        if self.concurrent_sense {
            s[27] |= 0x01;
        } else {
            s[27] &= !0x01;
        }
        self.opm = s[11] & s[14] & s[15];
        s[8] = self.opm;
        self.devno = u16::from_be_bytes([s[6], s[7]]);
        self.store(schib, &s)?;
        Self::insn("msch", self.channel.msch(schib))
    }

    /// cio's device recognition and path verification: SENSE ID, then per
    /// path SENSE PATH GROUP ID, SET PATH GROUP ID (establish, multipath)
    /// and SENSE PATH GROUP ID again. Returns the SENSE ID data.
    ///
    /// # Errors
    /// A program failed, or the path group was not established.
    pub fn recognize(&mut self) -> DriverResult<[u8; 40]> {
        let mut cp = self.program();
        let a = cp.area(40);
        cp.ccw(SENSE_ID, SLI, 40, a);
        self.run(&cp, self.opm)?.check("sense id")?;
        let mut id = [0u8; 40];
        id.copy_from_slice(&self.fetch(u64::from(a), 40)?);
        let paths: Vec<u8> = self.paths().collect();
        for lpm in paths {
            let mut cp = self.program();
            let s = cp.area(12);
            cp.ccw(SNID, SLI, 12, s);
            self.run(&cp, lpm)?.check("sense path group id")?;
            let mut cp = self.program();
            cp.out(SPID, 0, &PGID);
            self.run(&cp, lpm)?.check("set path group id")?;
            let mut cp = self.program();
            let s = cp.area(12);
            cp.ccw(SNID, SLI, 12, s);
            self.run(&cp, lpm)?.check("sense path group id")?;
            if self.fetch(u64::from(s), 1)?[0] & 0xc8 != 0xc8 {
                return Err(DriverError::Invalid(format!(
                    "path {lpm:#04x}: the path group is not grouped multipath"
                )));
            }
        }
        Ok(id)
    }

    /// READ CONFIGURATION DATA on one path, the buffer preset with EBCDIC
    /// "V1.0" as Linux does.
    fn read_conf(&mut self, lpm: u8) -> DriverResult<[u8; 256]> {
        let mut cp = self.program();
        let mut buf = [0u8; 256];
        buf[..4].copy_from_slice(&[0xe5, 0xf1, 0x4b, 0xf0]);
        let a = cp.data(&buf);
        cp.ccw(RCD, 0, 256, a);
        self.run(&cp, lpm)?.check("read configuration data")?;
        buf.copy_from_slice(&self.fetch(u64::from(a), 256)?);
        Ok(buf)
    }

    /// PERFORM SUBSYSTEM FUNCTION prepare-for-read-subsystem-data of
    /// `suborder` chained to READ SUBSYSTEM DATA; `None` when the device
    /// refused it.
    fn prssd(&mut self, suborder: u8, len: u16) -> DriverResult<Option<Vec<u8>>> {
        let mut cp = self.program();
        let mut p = [0u8; 12];
        p[0] = 0x18;
        p[6] = suborder;
        cp.out(PSF, 0, &p);
        let a = cp.area(usize::from(len));
        cp.ccw(RSSD, 0, len, a);
        let e = self.run(&cp, self.opm)?;
        if e.ok() {
            Ok(Some(self.fetch(u64::from(a), usize::from(len))?))
        } else {
            Ok(None)
        }
    }

    /// `dasd_eckd_check_characteristics`: RCD per path, PSF Set Subsystem
    /// Characteristics, RCD again, the feature codes, the volume storage
    /// and logical configuration queries (errors ignored), RDC, and on a
    /// PREFIX-capable 3990 the unit address configuration (`dasd_alias.c`
    /// `read_unit_address_configuration`), whose entry for this device must
    /// say base device when the device gives it.
    ///
    /// # Errors
    /// A program Linux needs failed, the configuration data lack the device
    /// NED or the GNEQ, or the device is no base device.
    pub fn check_characteristics(&mut self) -> DriverResult<()> {
        let paths: Vec<u8> = self.paths().collect();
        for lpm in paths {
            self.conf = self.read_conf(lpm)?;
        }
        let mut ssc = [0u8; 66];
        ssc[0] = 0x1d;
        ssc[6] = 0xc8;
        ssc[7] = 0x88;
        let mut cp = self.program();
        cp.out(PSF, 0, &ssc);
        self.run(&cp, self.opm)?.check("set subsystem characteristics")?;
        self.conf = self.read_conf(self.opm)?;
        let f = self
            .prssd(0x41, 256)?
            .ok_or_else(|| DriverError::Invalid("the device refused the feature codes (PSF/RSSD 41)".into()))?;
        self.features.copy_from_slice(&f);
        for sub in [0x52, 0x53] {
            let _ = self.prssd(sub, 256)?;
        }
        let mut cp = self.program();
        let a = cp.area(64);
        cp.ccw(RDC, 0, 64, a);
        self.run(&cp, self.opm)?.check("read device characteristics")?;
        let rdc = self.fetch(u64::from(a), 64)?;
        self.rdc.copy_from_slice(&rdc);
        self.cylinders = u32::from(u16::from_be_bytes([self.rdc[12], self.rdc[13]]));
        if self.cylinders == 0xfffe {
            self.cylinders = u32::from_be_bytes([self.rdc[60], self.rdc[61], self.rdc[62], self.rdc[63]]);
        }
        let ned = self.ned()?;
        if u16::from_be_bytes([self.rdc[0], self.rdc[1]]) == 0x3990 && self.uses_prefix() {
            if let Some(uac) = self.prssd(0x0e, 512)? {
                let ua = usize::from(ned[31]);
                if uac.get(2 * ua) != Some(&0x01) {
                    return Err(DriverError::Invalid(format!(
                        "unit address {ua:#04x} is no base device in the unit address configuration"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The device NED (identifier 3, descriptor 1) of the configuration
    /// data, as `dasd_eckd_identify_conf_parts` finds it.
    ///
    /// # Errors
    /// The configuration data have no device NED or no GNEQ (or were not
    /// read yet).
    pub fn ned(&self) -> DriverResult<[u8; 32]> {
        let mut ned = None;
        let mut gneq = false;
        for e in self.conf.chunks(32) {
            match (e[0] >> 6, e[1]) {
                (3, 1) => ned = Some(e),
                (2, _) => gneq = true,
                _ => {}
            }
        }
        match ned {
            Some(n) if gneq => {
                let mut b = [0u8; 32];
                b.copy_from_slice(n);
                Ok(b)
            }
            _ => Err(DriverError::Invalid(
                "the configuration data have no device NED or no GNEQ".into(),
            )),
        }
    }

    /// `dasd_eckd_analysis_ccw` and the layout decision of
    /// `dasd_eckd_end_analysis`: the counts of track 0's first four
    /// records and of track 1's first (Linux since its analysis stopped
    /// reading track 2).
    ///
    /// # Errors
    /// A program failed other than with "no record found".
    pub fn analyze(&mut self) -> DriverResult<Layout> {
        let mut cp = self.program();
        cp.define_extent(0, 1, READ_COUNT, 0, false);
        cp.out(LOCATE_RECORD, 0, &locate(0, 0, 4, READ_COUNT, 0));
        let counts: Vec<u32> = (0..5).map(|_| cp.area(8)).collect();
        for &a in &counts[..4] {
            cp.ccw(READ_COUNT, 0, 8, a);
        }
        cp.out(LOCATE_RECORD, 0, &locate(1, 0, 1, READ_COUNT, 0));
        cp.ccw(READ_COUNT, 0, 8, counts[4]);
        let e = self.run(&cp, self.opm)?;
        self.layout = if e.ok() {
            let mut c = Vec::new();
            for &a in &counts {
                c.push(self.fetch(u64::from(a), 8)?);
            }
            classify(&c)
        } else if e.sense.is_some_and(|s| s[1] & 0x08 != 0) {
            Layout::Unformatted
        } else {
            e.check("volume analysis")?;
            Layout::Unformatted
        };
        Ok(self.layout)
    }
}

/// The layout of the five counts the analysis read (Linux
/// `dasd_eckd_end_analysis`): CDL when track 0's records 1–3 have key
/// length 4 and data lengths 24, 144, 80, LDL when all five are equal
/// unkeyed records; the block size from the fourth (CDL) or first count.
fn classify(c: &[Vec<u8>]) -> Layout {
    let kl = |i: usize| c[i][5];
    let dl = |i: usize| u16::from_be_bytes([c[i][6], c[i][7]]);
    let id = |i: usize| {
        (
            u16::from_be_bytes([c[i][0], c[i][1]]),
            u16::from_be_bytes([c[i][2], c[i][3]]),
            c[i][4],
        )
    };
    let heads = [0u16, 0, 0, 0, 1];
    let recs = [1u8, 2, 3, 4, 1];
    let cdl = (0..3).all(|i| kl(i) == 4 && dl(i) == SIZES_TRK0[i] - 4 && id(i) == (0, heads[i], recs[i]));
    let candidate = if cdl { 3 } else { 0 };
    let ldl = !cdl && (0..5).all(|i| kl(i) == 0 && dl(i) == dl(0) && id(i) == (0, heads[i], recs[i]));
    let bs = dl(candidate);
    let ok_size = kl(candidate) == 0 && matches!(bs, 512 | 1024 | 2048 | 4096);
    match (cdl, ldl, ok_size) {
        (true, _, true) => Layout::Cdl(bs),
        (false, true, true) => Layout::Ldl(bs),
        _ => Layout::Unsupported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::driver::tests::on_3390;
    use crate::ControlUnit;

    fn counts(c: &[(u16, u16, u8, u8, u16)]) -> Vec<Vec<u8>> {
        c.iter()
            .map(|&(cyl, head, rec, kl, dl)| {
                let mut b = cyl.to_be_bytes().to_vec();
                b.extend_from_slice(&head.to_be_bytes());
                b.extend_from_slice(&[rec, kl]);
                b.extend_from_slice(&dl.to_be_bytes());
                b
            })
            .collect()
    }

    #[test]
    fn classify_tells_cdl_ldl_and_other_layouts_apart() {
        let cdl = counts(&[
            (0, 0, 1, 4, 24),
            (0, 0, 2, 4, 144),
            (0, 0, 3, 4, 80),
            (0, 0, 4, 0, 4096),
            (0, 1, 1, 44, 96),
        ]);
        assert_eq!(classify(&cdl), Layout::Cdl(4096));
        let ldl = counts(&[
            (0, 0, 1, 0, 2048),
            (0, 0, 2, 0, 2048),
            (0, 0, 3, 0, 2048),
            (0, 0, 4, 0, 2048),
            (0, 1, 1, 0, 2048),
        ]);
        assert_eq!(classify(&ldl), Layout::Ldl(2048));
        // dasdinit's track 0 read past index: R1 again as the fourth count.
        let herc = counts(&[
            (0, 0, 1, 4, 24),
            (0, 0, 2, 4, 144),
            (0, 0, 3, 4, 80),
            (0, 0, 1, 4, 24),
            (0, 1, 1, 0, 0),
        ]);
        assert_eq!(classify(&herc), Layout::Unsupported);
        let odd = counts(&[
            (0, 0, 1, 0, 800),
            (0, 0, 2, 0, 800),
            (0, 0, 3, 0, 800),
            (0, 0, 4, 0, 800),
            (0, 1, 1, 0, 800),
        ]);
        assert_eq!(classify(&odd), Layout::Unsupported, "800 is no Linux block size");
    }

    #[test]
    fn online_without_concurrent_sense_reads_the_sense_with_basic_sense() {
        let mut l = on_3390(ControlUnit::Model6, 5, false);
        l.enable().unwrap();
        l.recognize().unwrap();
        l.check_characteristics().unwrap();
        let before = l.basic_senses();
        assert_eq!(l.analyze().unwrap(), Layout::Unformatted);
        assert_eq!(l.basic_senses(), before + 1);
        assert_eq!(l.commands().last(), Some(&SENSE));
    }

    #[test]
    fn online_with_concurrent_sense_issues_no_basic_sense() {
        let mut l = on_3390(ControlUnit::Model6, 5, true);
        assert_eq!(l.online().unwrap(), Layout::Unformatted);
        assert_eq!(l.basic_senses(), 0);
        assert!(!l.commands().contains(&SENSE));
    }

    #[test]
    fn enable_takes_the_operational_paths_and_the_device_number() {
        let mut l = on_3390(ControlUnit::Model6, 5, true);
        l.enable().unwrap();
        assert_eq!((l.opm(), l.devno()), (0x80, 0x0120));
    }
}
