//! Why the channel subsystem ends a channel program with a program check or
//! a protection check (Principles of Operation, chapter 16, "Subchannel
//! Status": "Program Check", "Protection Check"), as found by the
//! [`ProgramWalker`](crate::ProgramWalker), the IDAL and MIDAL cursors
//! ([`crate::idal`]) and the [`DataStream`](crate::DataStream).

use crate::address::CcwAddressError;
use crate::memory::AccessError;
use crate::status::SubchannelStatus;

/// Why the channel subsystem ended a program with a program check or a
/// protection check (PoO chapter 16, "Program Check", "Protection Check").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckCause {
    /// A CCW address (ORB, TIC target, chaining) is not a multiple of 8.
    CcwAddressSpecification,
    /// A CCW lies beyond the format limit (2^24 / 2^31) or outside storage.
    InvalidCcwAddress,
    /// Command code with low four bits zero on a command-chained CCW.
    InvalidCommandCode,
    /// Count zero where not allowed (format 0; format 1 with data chaining).
    InvalidCount,
    /// Format-1 TIC with non-zero bits 0–3 or 8–31.
    InvalidTic,
    /// A TIC designates another TIC.
    TicToTic,
    /// The first CCW of the program is a TIC.
    FirstCcwTic,
    /// MIDA flag without ORB D, or with IDA or skip.
    InvalidFlags,
    /// S flag while the ORB S bit is zero.
    SuspendNotAllowed,
    /// S flag on a CCW reached by data chaining.
    SuspendInDataChain,
    /// Format-1 data address with bit 0 set, data beyond the format limit,
    /// or data outside storage.
    InvalidDataAddress,
    /// IDAL or MIDAL address misaligned (4, 8 or 16).
    IdawAddressSpecification,
    /// IDAW or MIDAW outside storage, or IDAL/MIDAL address with bit 0 set.
    InvalidIdawAddress,
    /// Format-1 IDAW with bit 0 set, or a non-first IDAW not on a block boundary.
    InvalidIdaw,
    /// MIDAW with reserved bits, zero count, counts not matching the CCW
    /// count, or crossing a 4K boundary without skip.
    InvalidMidaw,
    /// The work bound of [`Limits`](crate::Limits) was exceeded.
    WorkLimit,
    /// Key-controlled protection on a CCW fetch.
    CcwProtection,
    /// Key-controlled protection on an IDAW or MIDAW fetch.
    IdawProtection,
    /// Key-controlled protection on a data access.
    DataProtection,
}

impl CheckCause {
    /// Whether this is a protection check (else a program check).
    #[must_use]
    pub const fn is_protection(self) -> bool {
        matches!(self, Self::CcwProtection | Self::IdawProtection | Self::DataProtection)
    }

    /// The subchannel-status bit this cause sets.
    #[must_use]
    pub const fn status(self) -> SubchannelStatus {
        if self.is_protection() {
            SubchannelStatus::new().with_protection_check(true)
        } else {
            SubchannelStatus::new().with_program_check(true)
        }
    }
}

impl From<CcwAddressError> for CheckCause {
    fn from(e: CcwAddressError) -> Self {
        match e {
            CcwAddressError::Misaligned => Self::CcwAddressSpecification,
            CcwAddressError::BeyondLimit => Self::InvalidCcwAddress,
        }
    }
}

impl CheckCause {
    /// The cause for a failed CCW fetch from storage.
    #[must_use]
    pub const fn of_ccw_fetch(e: AccessError) -> Self {
        match e {
            AccessError::Addressing { .. } => Self::InvalidCcwAddress,
            AccessError::Protection { .. } => Self::CcwProtection,
        }
    }

    /// The cause for a failed IDAW or MIDAW fetch from storage.
    #[must_use]
    pub const fn of_idaw_fetch(e: AccessError) -> Self {
        match e {
            AccessError::Addressing { .. } => Self::InvalidIdawAddress,
            AccessError::Protection { .. } => Self::IdawProtection,
        }
    }

    /// The cause for a failed data access.
    #[must_use]
    pub const fn of_data_access(e: AccessError) -> Self {
        match e {
            AccessError::Addressing { .. } => Self::InvalidDataAddress,
            AccessError::Protection { .. } => Self::DataProtection,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protection_causes_set_protection_check() {
        assert!(CheckCause::IdawProtection.status().protection_check());
        assert!(!CheckCause::IdawProtection.status().program_check());
        assert!(CheckCause::TicToTic.status().program_check());
    }

    #[test]
    fn access_errors_map_by_what_was_fetched() {
        let prot = AccessError::Protection { addr: 0, key: 1 };
        let addr = AccessError::Addressing { addr: 0 };
        assert_eq!(CheckCause::of_ccw_fetch(prot), CheckCause::CcwProtection);
        assert_eq!(CheckCause::of_ccw_fetch(addr), CheckCause::InvalidCcwAddress);
        assert_eq!(CheckCause::of_idaw_fetch(prot), CheckCause::IdawProtection);
        assert_eq!(CheckCause::of_idaw_fetch(addr), CheckCause::InvalidIdawAddress);
        assert_eq!(CheckCause::of_data_access(prot), CheckCause::DataProtection);
        assert_eq!(CheckCause::of_data_access(addr), CheckCause::InvalidDataAddress);
        assert_eq!(
            CheckCause::from(CcwAddressError::Misaligned),
            CheckCause::CcwAddressSpecification
        );
        assert_eq!(
            CheckCause::from(CcwAddressError::BeyondLimit),
            CheckCause::InvalidCcwAddress
        );
    }
}
