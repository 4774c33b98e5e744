//! The extended-status word (Principles of Operation, chapter 16,
//! "Interruption-Response Block", "Extended-Status Word").
//!
//! Twenty bytes, IRB bytes 12–31. Its format follows from the SCSW: format 0
//! (SCSW L = 1) carries the subchannel logout, the extended-report word, the
//! failing-storage address and the secondary-CCW address; the other formats
//! (1–3) keep only the last-path-used mask in word 0 bits 8–15 (plus, in
//! format 2, a device-connect-time interval in bits 16–31) and the
//! extended-report word in word 1, with zeros elsewhere. [`Esw`] keeps all
//! twenty bytes under the format-0 names, so any format round-trips.
//!
//! Extended-report word (word 1):
//!
//! | bit   | field |
//! |-------|-------|
//! | 0     | reserved |
//! | 1     | L: request logging only |
//! | 2     | E: extended-subchannel-logout pending |
//! | 3     | A: authorization check |
//! | 4     | P: path verification required |
//! | 5     | T: channel-path timeout |
//! | 6     | F: failing-storage address valid |
//! | 7     | S: concurrent sense (sense data in the ECW) |
//! | 8     | C: secondary-CCW address valid |
//! | 9     | R: failing-storage-address format (1 = 64-bit) |
//! | 10–15 | SCNT: number of sense bytes in the ECW (with S) |
//! | 16–31 | reserved |
//!
//! So concurrent sense with 32 sense bytes is ERW `0x0120_0000`, bytes
//! `01 20` at IRB offset 16 — what Hercules stores and Linux reads
//! (`erw.cons`, `erw.scnt`). QEMU stores `0x0100_2000` instead: S is set, but
//! its count lands in reserved bits 16–23 and SCNT reads as zero. zcss
//! follows the PoO.

use bitfield_struct::bitfield;

/// ESW format-0 word 0, the subchannel logout.
#[bitfield(u32, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct SubchannelLogout {
    /// Bit 0: reserved.
    pub reserved0: bool,
    /// Bits 1–7: extended-status flags.
    #[bits(7)]
    pub esf: u8,
    /// Bits 8–15: last-path-used mask (in every ESW format).
    pub lpum: u8,
    /// Bit 16 (A): ancillary report.
    pub ancillary: bool,
    /// Bits 17–21: field-validity flags (in order: LPUM, termination code,
    /// sequence code, device status, CCW address valid).
    #[bits(5)]
    pub fvf: u8,
    /// Bits 22–23: storage-access code.
    #[bits(2)]
    pub storage_access: u8,
    /// Bits 24–25: termination code.
    #[bits(2)]
    pub termination: u8,
    /// Bit 26 (D): device-status check.
    pub device_status_check: bool,
    /// Bit 27 (E): secondary error.
    pub secondary_error: bool,
    /// Bit 28 (I): I/O-error alert.
    pub io_error_alert: bool,
    /// Bits 29–31: sequence code.
    #[bits(3)]
    pub sequence: u8,
}

impl SubchannelLogout {
    /// Field-validity flag (within [`Self::fvf`]) saying the LPUM is valid.
    pub const FVF_LPUM: u8 = 0x10;
    /// Extended-status flag (within [`Self::esf`], word 0 bit 5): CCW check.
    /// The other flags are, from bit 1: key check, measurement-block
    /// program check, measurement-block data check, measurement-block
    /// protection check; bit 6 is the IDAW check.
    pub const ESF_CCW_CHECK: u8 = 0x04;
}

/// ESW word 1, the extended-report word (present in every ESW format).
#[bitfield(u32, order = Msb)]
#[derive(PartialEq, Eq, Hash)]
pub struct ExtendedReportWord {
    /// Bit 0: reserved.
    pub reserved0: bool,
    /// Bit 1 (L): request logging only.
    pub request_logging: bool,
    /// Bit 2 (E): extended-subchannel-logout pending.
    pub extended_logout_pending: bool,
    /// Bit 3 (A): authorization check.
    pub authorization_check: bool,
    /// Bit 4 (P): path verification required.
    pub path_verification: bool,
    /// Bit 5 (T): channel-path timeout.
    pub channel_path_timeout: bool,
    /// Bit 6 (F): failing-storage address valid.
    pub fsa_valid: bool,
    /// Bit 7 (S): concurrent sense — the ECW holds sense data.
    pub concurrent_sense: bool,
    /// Bit 8 (C): secondary-CCW address valid.
    pub secondary_ccw_valid: bool,
    /// Bit 9 (R): failing-storage-address format (0 = 31-bit in word 2, 1 = 64-bit in words 2–3).
    pub fsa_format64: bool,
    /// Bits 10–15 (SCNT): sense count, the number of sense bytes in the ECW when S is one.
    #[bits(6)]
    pub sense_count: u8,
    /// Bits 16–31: reserved.
    pub reserved16: u16,
}

impl ExtendedReportWord {
    /// Largest sense count: the ECW holds 32 bytes.
    pub const MAX_SENSE: u8 = 32;

    /// An ERW reporting `count` bytes of concurrent sense (capped at 32).
    #[must_use]
    pub const fn with_sense(count: u8) -> Self {
        let n = if count > Self::MAX_SENSE {
            Self::MAX_SENSE
        } else {
            count
        };
        Self::new().with_concurrent_sense(true).with_sense_count(n)
    }
}

/// The extended-status word (format-0 field names; see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Esw {
    /// Word 0: subchannel logout (formats 1–3: LPUM in bits 8–15 only,
    /// format 2 also the device-connect-time interval in bits 16–31).
    pub scl: SubchannelLogout,
    /// Word 1: extended-report word.
    pub erw: ExtendedReportWord,
    /// Words 2–3: failing-storage address (31-bit in word 2 when ERW R = 0).
    pub fsa: u64,
    /// Word 4: secondary-CCW address.
    pub secondary_ccw: u32,
}

impl Esw {
    /// Length of the ESW in bytes.
    pub const LEN: usize = 20;

    /// A format-0 ESW whose logout holds the LPUM `lpum` and its validity
    /// flag, nothing else (word 0 `0x00pp4000`).
    #[must_use]
    pub const fn with_lpum(lpum: u8) -> Self {
        Self {
            scl: SubchannelLogout::new()
                .with_lpum(lpum)
                .with_fvf(SubchannelLogout::FVF_LPUM),
            erw: ExtendedReportWord::new(),
            fsa: 0,
            secondary_ccw: 0,
        }
    }

    /// The format-1 ESW of a normal ending on path `lpum` (SCSW L = 0):
    /// word 0 holds the last-path-used mask in bits 8–15 and nothing else
    /// (`0x00800000` for path `0x80`); the rest is zero.
    #[must_use]
    pub const fn format1(lpum: u8) -> Self {
        Self {
            scl: SubchannelLogout::new().with_lpum(lpum),
            erw: ExtendedReportWord::new(),
            fsa: 0,
            secondary_ccw: 0,
        }
    }

    /// The format-0 ESW (SCSW L = 1) a virtual channel subsystem stores
    /// after a channel-data, channel-control or interface-control check on
    /// path `lpum`: word 0 = extended-status flag CCW check (bit 5), the
    /// LPUM (bits 8–15) and the LPUM-valid field-validity flag (bit 17) —
    /// `0x04804000` for path `0x80`, the value QEMU stores; the rest is zero.
    #[must_use]
    pub const fn channel_check(lpum: u8) -> Self {
        Self {
            scl: SubchannelLogout::new()
                .with_esf(SubchannelLogout::ESF_CCW_CHECK)
                .with_lpum(lpum)
                .with_fvf(SubchannelLogout::FVF_LPUM),
            erw: ExtendedReportWord::new(),
            fsa: 0,
            secondary_ccw: 0,
        }
    }

    /// Decodes the stored big-endian form.
    #[must_use]
    pub const fn from_be_bytes(b: [u8; 20]) -> Self {
        Self {
            scl: SubchannelLogout::from_bits(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            erw: ExtendedReportWord::from_bits(u32::from_be_bytes([b[4], b[5], b[6], b[7]])),
            fsa: u64::from_be_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
            secondary_ccw: u32::from_be_bytes([b[16], b[17], b[18], b[19]]),
        }
    }

    /// Encodes to the stored big-endian form.
    #[must_use]
    pub fn to_be_bytes(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[0..4].copy_from_slice(&self.scl.into_bits().to_be_bytes());
        b[4..8].copy_from_slice(&self.erw.into_bits().to_be_bytes());
        b[8..16].copy_from_slice(&self.fsa.to_be_bytes());
        b[16..20].copy_from_slice(&self.secondary_ccw.to_be_bytes());
        b
    }

    /// The failing-storage address, when the ERW says it is valid: 64 bits
    /// from words 2–3 when R is one, otherwise the 31-bit address in word 2.
    #[must_use]
    pub const fn failing_storage_address(&self) -> Option<u64> {
        if !self.erw.fsa_valid() {
            return None;
        }
        if self.erw.fsa_format64() {
            Some(self.fsa)
        } else {
            Some((self.fsa >> 32) & 0x7fff_ffff)
        }
    }
}

/// The extended-control word: 32 bytes of model-dependent or sense data
/// (IRB bytes 32–63), stored when SCSW E is one.
pub type Ecw = [u8; 32];

/// The extended-measurement word: 32 bytes (IRB bytes 64–95), stored when
/// the PMCW enables extended-measurement-word mode (X).
pub type Emw = [u8; 32];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logout_fields_are_in_poo_bit_order() {
        assert_eq!(SubchannelLogout::new().with_reserved0(true).into_bits(), 0x8000_0000);
        assert_eq!(SubchannelLogout::new().with_esf(0x7f).into_bits(), 0x7f00_0000);
        assert_eq!(SubchannelLogout::new().with_lpum(0xff).into_bits(), 0x00ff_0000);
        assert_eq!(SubchannelLogout::new().with_ancillary(true).into_bits(), 0x0000_8000);
        assert_eq!(SubchannelLogout::new().with_fvf(0x1f).into_bits(), 0x0000_7c00);
        assert_eq!(SubchannelLogout::new().with_storage_access(3).into_bits(), 0x0000_0300);
        assert_eq!(SubchannelLogout::new().with_termination(3).into_bits(), 0x0000_00c0);
        assert_eq!(SubchannelLogout::new().with_device_status_check(true).into_bits(), 0x20);
        assert_eq!(SubchannelLogout::new().with_secondary_error(true).into_bits(), 0x10);
        assert_eq!(SubchannelLogout::new().with_io_error_alert(true).into_bits(), 0x08);
        assert_eq!(SubchannelLogout::new().with_sequence(7).into_bits(), 0x07);
    }

    #[test]
    fn erw_fields_are_in_poo_bit_order() {
        let e = ExtendedReportWord::new;
        assert_eq!(e().with_request_logging(true).into_bits(), 0x4000_0000);
        assert_eq!(e().with_extended_logout_pending(true).into_bits(), 0x2000_0000);
        assert_eq!(e().with_authorization_check(true).into_bits(), 0x1000_0000);
        assert_eq!(e().with_path_verification(true).into_bits(), 0x0800_0000);
        assert_eq!(e().with_channel_path_timeout(true).into_bits(), 0x0400_0000);
        assert_eq!(e().with_fsa_valid(true).into_bits(), 0x0200_0000);
        assert_eq!(e().with_concurrent_sense(true).into_bits(), 0x0100_0000);
        assert_eq!(e().with_secondary_ccw_valid(true).into_bits(), 0x0080_0000);
        assert_eq!(e().with_fsa_format64(true).into_bits(), 0x0040_0000);
        assert_eq!(e().with_sense_count(0x3f).into_bits(), 0x003f_0000);
    }

    #[test]
    fn with_sense_32_matches_hercules_bytes() {
        assert_eq!(ExtendedReportWord::with_sense(32).into_bits(), 0x0120_0000);
        assert_eq!(ExtendedReportWord::with_sense(200).sense_count(), 32);
    }

    #[test]
    fn decode_qemu_concurrent_sense_erw_has_zero_count() {
        let e = ExtendedReportWord::from_bits(0x0100_2000);
        assert!(e.concurrent_sense());
        assert_eq!(e.sense_count(), 0);
        assert_eq!(e.reserved16(), 0x2000);
    }

    #[test]
    fn with_lpum_sets_lpum_and_its_validity_flag() {
        let esw = Esw::with_lpum(0x80);
        assert_eq!(esw.scl.lpum(), 0x80);
        assert_eq!(esw.to_be_bytes()[..4], [0x00, 0x80, 0x40, 0x00]);
        assert_eq!(Esw::from_be_bytes(esw.to_be_bytes()), esw);
    }

    #[test]
    fn format1_word0_is_lpum_alone() {
        let b = Esw::format1(0x80).to_be_bytes();
        assert_eq!(b[..4], 0x0080_0000u32.to_be_bytes());
        assert_eq!(b[4..], [0u8; 16]);
        assert_eq!(Esw::format1(0x20).scl.into_bits(), 0x0020_0000);
    }

    #[test]
    fn channel_check_word0_matches_qemu_value() {
        let b = Esw::channel_check(0x80).to_be_bytes();
        assert_eq!(b[..4], 0x0480_4000u32.to_be_bytes());
        assert_eq!(b[4..], [0u8; 16]);
        let s = SubchannelLogout::from_bits(0x0480_4000);
        assert_eq!(s.esf(), SubchannelLogout::ESF_CCW_CHECK);
        assert_eq!(s.lpum(), 0x80);
        assert_eq!(s.fvf(), SubchannelLogout::FVF_LPUM);
    }

    #[test]
    fn failing_storage_address_follows_r_bit() {
        let mut raw = [0u8; 20];
        raw[4] = 0x02; // F
        raw[8..16].copy_from_slice(&[0x80, 0x00, 0x12, 0x34, 0xaa, 0xbb, 0xcc, 0xdd]);
        let esw = Esw::from_be_bytes(raw);
        assert_eq!(esw.failing_storage_address(), Some(0x1234));
        raw[5] = 0x40; // R
        let esw = Esw::from_be_bytes(raw);
        assert_eq!(esw.failing_storage_address(), Some(0x8000_1234_aabb_ccdd));
        raw[4] = 0;
        assert_eq!(Esw::from_be_bytes(raw).failing_storage_address(), None);
    }

    proptest::proptest! {
        #[test]
        fn encode_decode_identity(raw: [u8; 20]) {
            proptest::prop_assert_eq!(Esw::from_be_bytes(raw).to_be_bytes(), raw);
        }
    }
}
