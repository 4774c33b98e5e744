//! Guest addresses that carry the limit under which they were formed
//! (Principles of Operation, chapter 15: "Channel-Command Word" — format-0
//! CCWs hold 24-bit and format-1 CCWs 31-bit data addresses; "Indirect Data
//! Addressing" — format-1 IDAWs hold 31-bit and format-2 IDAWs 64-bit
//! addresses; "Modified Indirect Data Addressing" — MIDAWs hold 64-bit
//! addresses; "Operation-Request Block" — the channel-program address is a
//! 31-bit address).
//!
//! A [`GuestAddr`] is an absolute guest-storage address together with its
//! [`AddrLimit`]: it can only be built below its limit, and arithmetic on it
//! is checked against that limit, so a 24-bit data address cannot silently
//! become a 25-bit one. Whether the location is *installed* is a separate
//! question answered by [`GuestMemory`](crate::GuestMemory), which takes the
//! plain value ([`GuestAddr::get`]).
//!
//! A [`CcwAddress`] is the other kind of value the channel subsystem works
//! with: the 32-bit CCW address it computes while walking a program (the ORB
//! channel-program address, a TIC target, the CCW after a chained one, the
//! SCSW CCW address less 8). Such a value may be misaligned or lie beyond
//! the format's limit — the architected answer is a program check when the
//! CCW is fetched — so it stays a raw 32-bit value until
//! [`CcwAddress::resolve`] turns it into a [`GuestAddr`].

/// The highest address (plus one) an address field can express.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrLimit {
    /// 24-bit addresses (format-0 CCW data addresses): below 2^24.
    Bits24,
    /// 31-bit addresses (format-1 CCW data addresses, CCW and channel-program
    /// addresses, format-1 IDAWs): below 2^31.
    Bits31,
    /// 64-bit addresses (format-2 IDAWs, MIDAWs): the whole address space.
    Bits64,
}

impl AddrLimit {
    /// The highest address under this limit.
    #[must_use]
    pub const fn max(self) -> u64 {
        match self {
            Self::Bits24 => (1 << 24) - 1,
            Self::Bits31 => (1 << 31) - 1,
            Self::Bits64 => u64::MAX,
        }
    }

    /// Whether `value` is an address under this limit.
    #[must_use]
    pub const fn contains(self, value: u64) -> bool {
        value <= self.max()
    }
}

/// An absolute guest address below its [`AddrLimit`].
///
/// Built only through [`GuestAddr::new`] (or the format accessors that
/// interpret architected fields, such as [`crate::Ccw::data_address`],
/// [`crate::Idaw1::data_address`]), so every value satisfies its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GuestAddr {
    value: u64,
    limit: AddrLimit,
}

impl GuestAddr {
    /// `value` as an address under `limit`; `None` when it lies beyond.
    #[must_use]
    pub const fn new(value: u64, limit: AddrLimit) -> Option<Self> {
        if limit.contains(value) {
            Some(Self { value, limit })
        } else {
            None
        }
    }

    /// A 31-bit address from a 31-bit field (bits above 30 are zero by
    /// construction of the caller's field extraction).
    pub(crate) const fn from_u31(value: u32) -> Self {
        Self {
            value: (value & 0x7fff_ffff) as u64,
            limit: AddrLimit::Bits31,
        }
    }

    /// A 64-bit address (every value is one).
    #[must_use]
    pub const fn from_u64(value: u64) -> Self {
        Self {
            value,
            limit: AddrLimit::Bits64,
        }
    }

    /// The absolute address, as [`GuestMemory`](crate::GuestMemory) takes it.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.value
    }

    /// The limit this address was formed under.
    #[must_use]
    pub const fn limit(self) -> AddrLimit {
        self.limit
    }

    /// The address `n` bytes further, if it is still under the limit.
    #[must_use]
    pub const fn checked_add(self, n: u64) -> Option<Self> {
        match self.value.checked_add(n) {
            Some(v) => Self::new(v, self.limit),
            None => None,
        }
    }

    /// How many bytes, starting here, lie under the limit (saturating at
    /// `u64::MAX` for address 0 under the 64-bit limit).
    #[must_use]
    pub const fn bytes_to_limit(self) -> u64 {
        (self.limit.max() - self.value).saturating_add(1)
    }

    /// The offset of this address within an aligned block of `block` bytes
    /// (`block` a power of two).
    #[must_use]
    pub const fn offset_in(self, block: u64) -> u64 {
        self.value & (block - 1)
    }

    /// Whether the address is a multiple of `align` (a power of two).
    #[must_use]
    pub const fn is_aligned(self, align: u64) -> bool {
        self.offset_in(align) == 0
    }

    /// The address as a [`CcwAddress`], when it fits the 32-bit form (every
    /// 24- and 31-bit address does).
    #[must_use]
    pub fn to_ccw_address(self) -> Option<CcwAddress> {
        u32::try_from(self.value).ok().map(CcwAddress::new)
    }
}

impl std::fmt::Display for GuestAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#x}", self.value)
    }
}

/// A 32-bit CCW address as the channel subsystem computes it: the ORB
/// channel-program address, a TIC target, the address after a chained CCW
/// (+8, or +16 with status modifier), or the SCSW CCW address less 8 for
/// RESUME SUBCHANNEL. Arithmetic wraps modulo 2^32 like the SCSW field.
///
/// It is not yet known to be a valid CCW address:
/// [`CcwAddress::resolve`] applies the doubleword alignment and the format's
/// limit (PoO chapter 16, "Program Check": CCW-address specification,
/// invalid CCW address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CcwAddress(u32);

impl CcwAddress {
    /// The raw 32-bit value.
    #[must_use]
    pub const fn new(value: u32) -> Self {
        Self(value)
    }

    /// The CCW address that an SCSW CCW-address field designates as the
    /// last CCW used (`cpa - 8`), e.g. the suspended CCW for RESUME SUBCHANNEL.
    #[must_use]
    pub const fn before_scsw_cpa(cpa: u32) -> Self {
        Self(cpa.wrapping_sub(8))
    }

    /// The raw 32-bit value.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The SCSW CCW-address field that names this CCW as the last one used:
    /// the address plus 8, modulo 2^32.
    #[must_use]
    pub const fn scsw_cpa(self) -> u32 {
        self.0.wrapping_add(8)
    }

    /// The address `n` bytes further, modulo 2^32.
    #[must_use]
    pub const fn wrapping_add(self, n: u32) -> Self {
        Self(self.0.wrapping_add(n))
    }

    /// The address as the location of a CCW under `limit` (the CCW
    /// format's, [`crate::CcwFormat::address_limit`]).
    ///
    /// # Errors
    /// [`CcwAddressError::Misaligned`] when it is not a multiple of 8,
    /// [`CcwAddressError::BeyondLimit`] when the doubleword does not lie
    /// wholly under `limit` (2^24 or 2^31).
    #[inline]
    pub fn resolve(self, limit: AddrLimit) -> Result<GuestAddr, CcwAddressError> {
        if self.0 % 8 != 0 {
            return Err(CcwAddressError::Misaligned);
        }
        let value = u64::from(self.0);
        // The doubleword value..value + 8 lies under the limit (max ≥ 7).
        if value > limit.max() - 7 {
            return Err(CcwAddressError::BeyondLimit);
        }
        Ok(GuestAddr { value, limit })
    }
}

/// Why a [`CcwAddress`] designates no CCW.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CcwAddressError {
    /// Not a multiple of 8 (CCW-address specification).
    #[error("CCW address is not a multiple of 8")]
    Misaligned,
    /// Beyond the format's address limit (invalid CCW address).
    #[error("CCW address lies beyond the format's address limit")]
    BeyondLimit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_beyond_limit_is_none() {
        assert!(GuestAddr::new(1 << 24, AddrLimit::Bits24).is_none());
        assert_eq!(
            GuestAddr::new((1 << 24) - 1, AddrLimit::Bits24).map(GuestAddr::get),
            Some(0xff_ffff)
        );
        assert!(GuestAddr::new(1 << 31, AddrLimit::Bits31).is_none());
        assert!(GuestAddr::new(u64::MAX, AddrLimit::Bits64).is_some());
    }

    #[test]
    fn checked_add_past_limit_is_none() {
        let a = GuestAddr::new(0xff_fff0, AddrLimit::Bits24).unwrap();
        assert_eq!(a.checked_add(0xf).map(GuestAddr::get), Some(0xff_ffff));
        assert_eq!(a.checked_add(0x10), None);
        assert_eq!(GuestAddr::from_u64(u64::MAX).checked_add(1), None);
        assert_eq!(a.checked_add(1).map(GuestAddr::limit), Some(AddrLimit::Bits24));
    }

    #[test]
    fn bytes_to_limit_counts_the_last_address() {
        assert_eq!(
            GuestAddr::new(0xff_fff0, AddrLimit::Bits24).unwrap().bytes_to_limit(),
            16
        );
        assert_eq!(GuestAddr::from_u64(u64::MAX).bytes_to_limit(), 1);
        assert_eq!(GuestAddr::from_u64(0).bytes_to_limit(), u64::MAX);
    }

    #[test]
    fn offset_in_and_alignment_use_low_bits() {
        let a = GuestAddr::from_u64(0x1_0000_0804);
        assert_eq!(a.offset_in(2048), 4);
        assert!(a.is_aligned(4));
        assert!(!a.is_aligned(8));
    }

    #[test]
    fn resolve_checks_alignment_then_format_limit() {
        assert_eq!(
            CcwAddress::new(0x1004).resolve(AddrLimit::Bits31),
            Err(CcwAddressError::Misaligned)
        );
        assert_eq!(
            CcwAddress::new(0x0100_0000).resolve(AddrLimit::Bits24),
            Err(CcwAddressError::BeyondLimit)
        );
        assert_eq!(
            CcwAddress::new(0x00ff_fff8)
                .resolve(AddrLimit::Bits24)
                .map(GuestAddr::get),
            Ok(0xff_fff8)
        );
        assert_eq!(
            CcwAddress::new(0x8000_0000).resolve(AddrLimit::Bits31),
            Err(CcwAddressError::BeyondLimit)
        );
        assert_eq!(
            CcwAddress::new(0x7fff_fff8)
                .resolve(AddrLimit::Bits31)
                .map(GuestAddr::limit),
            Ok(AddrLimit::Bits31)
        );
    }

    #[test]
    fn scsw_forms_wrap_modulo_2_32() {
        assert_eq!(CcwAddress::new(0xffff_fffc).scsw_cpa(), 4);
        assert_eq!(CcwAddress::before_scsw_cpa(4).get(), 0xffff_fffc);
        assert_eq!(CcwAddress::before_scsw_cpa(0x1010).get(), 0x1008);
    }
}
