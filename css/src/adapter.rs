//! Adapter interruptions and the adapter-interruption-suppression (AIS)
//! controls set by SET INTERRUPTION CONTROLS (SIC).
//!
//! Principles of Operation, chapter 6 ("Interruptions": I/O interruption,
//! adapter interruptions), chapter 17 ("I/O Interruptions": the
//! interruption-identification word of an adapter interruption) and the
//! description of SET INTERRUPTION CONTROLS (adapter-interruption-suppression
//! facility).
//!
//! An adapter interruption is not tied to a subchannel: a device (a virtio
//! adapter, a PCI function) sets indicators in guest storage and asks the
//! channel subsystem to make an adapter interruption pending for an
//! interruption subclass (ISC 0..=7). At most one adapter interruption is
//! pending per ISC: raising it again while one is pending does nothing more
//! (the program scans all indicators when it takes the interruption).
//!
//! With the AIS facility, SIC selects per ISC:
//! * **all-interruptions mode** (mode 0, the initial mode): every raise may
//!   make an interruption pending;
//! * **single-interruption mode** (mode 1): the first raise makes an
//!   interruption pending and switches the ISC to the
//!   **no-interruptions mode**, which suppresses further raises until the
//!   program issues SIC again.
//!
//! Only *suppressible* adapters are subject to AIS ([`AdapterInterruptions::raise`]);
//! adapters that are architecturally not suppressible (QEMU treats virtio's
//! adapter that way) use [`AdapterInterruptions::raise_unsuppressible`].
//!
//! The whole state is one atomic word, so raising, taking and SIC are
//! lock-free and linearizable with respect to each other.

use std::sync::atomic::{AtomicU32, Ordering};

use thiserror::Error;

/// Number of interruption subclasses (ISC 0..=7).
pub const ISC_COUNT: u8 = 8;

/// Bit 0 (the A bit) of the interruption-identification word: set for an
/// adapter interruption.
pub const INTERRUPTION_ID_ADAPTER: u32 = 0x8000_0000;

/// Why SET INTERRUPTION CONTROLS was rejected; the caller turns it into the
/// program exception named in each variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AdapterError {
    /// The interruption mode in bits 48-63 of GR1 is neither 0 (all
    /// interruptions) nor 1 (single interruption): operand exception.
    #[error("SIC: interruption mode {0:#06x} is not defined (operand exception)")]
    InvalidMode(u16),
}

/// The AIS mode of one interruption subclass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AisMode {
    /// Every raise may make an adapter interruption pending (SIC mode 0;
    /// the mode after reset).
    AllInterruptions,
    /// The next raise makes an interruption pending and then switches to
    /// [`AisMode::NoInterruptions`] (SIC mode 1).
    SingleInterruption,
    /// Raises of suppressible adapters are ignored until the next SIC.
    NoInterruptions,
}

/// The interruption mode operand of SIC (bits 48-63 of GR1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SicMode {
    /// Mode 0: all-interruptions mode.
    All,
    /// Mode 1: single-interruption mode.
    Single,
}

impl SicMode {
    /// Decodes bits 48-63 of GR1.
    ///
    /// # Errors
    /// [`AdapterError::InvalidMode`] for any value other than 0 or 1.
    pub fn from_gr1(gr1: u64) -> Result<Self, AdapterError> {
        let mode = (gr1 & 0xffff) as u16;
        match mode {
            0 => Ok(Self::All),
            1 => Ok(Self::Single),
            other => Err(AdapterError::InvalidMode(other)),
        }
    }
}

/// The ISC operand of SIC: bits 2-4 of the low word of GR3 (bits 34-36 of
/// the 64-bit register).
#[must_use]
pub fn sic_isc(gr3: u64) -> u8 {
    ((gr3 >> 27) & 7) as u8
}

/// The interruption-identification word (third word of the I/O-interruption
/// code) of an adapter interruption for `isc`: the A bit and the ISC in bits
/// 2-4. The subchannel-identification word and the interruption parameter of
/// an adapter interruption are zero.
#[must_use]
pub fn interruption_identification(isc: u8) -> u32 {
    INTERRUPTION_ID_ADAPTER | (u32::from(isc & 7) << 27)
}

/// The CR6-style mask bit of `isc` (0x80 for ISC 0 … 0x01 for ISC 7).
#[inline]
const fn isc_bit(isc: u8) -> u8 {
    0x80 >> isc
}

// Layout of the state word: three 8-bit masks in CR6 bit order
// (0x80 = ISC 0).
const PENDING_SHIFT: u32 = 0;
const SINGLE_SHIFT: u32 = 8;
const SUPPRESSED_SHIFT: u32 = 16;

#[inline]
const fn field(word: u32, shift: u32) -> u8 {
    ((word >> shift) & 0xff) as u8
}

/// Pending adapter interruptions and AIS modes for ISC 0..=7.
///
/// `Send + Sync`; every method takes `&self`.
#[derive(Debug, Default)]
pub struct AdapterInterruptions {
    state: AtomicU32,
}

impl AdapterInterruptions {
    /// No adapter interruption pending, every ISC in all-interruptions mode.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            state: AtomicU32::new(0),
        }
    }

    /// The packed state: pending bits and AIS modes (snapshot).
    #[must_use]
    pub fn raw(&self) -> u32 {
        self.state.load(Ordering::SeqCst)
    }

    /// Replaces the packed state (restore of [`AdapterInterruptions::raw`]).
    pub fn set_raw(&self, state: u32) {
        self.state.store(state, Ordering::SeqCst);
    }

    /// Back to the initial state (I/O-system reset): nothing pending, all
    /// ISCs in all-interruptions mode.
    pub fn reset(&self) {
        self.state.store(0, Ordering::SeqCst);
    }

    /// Applies an atomic transition; `f` returns the new word and the
    /// result, or `None` to leave the word unchanged.
    fn update<R>(&self, mut f: impl FnMut(u32) -> (Option<u32>, R)) -> R {
        let mut cur = self.state.load(Ordering::SeqCst);
        loop {
            let (new, result) = f(cur);
            let Some(new) = new else {
                return result;
            };
            match self
                .state
                .compare_exchange_weak(cur, new, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return result,
                Err(actual) => cur = actual,
            }
        }
    }

    /// SET INTERRUPTION CONTROLS: sets the AIS mode of the ISC in GR3 to the
    /// mode in GR1. Either mode leaves the no-interruptions mode; an already
    /// pending adapter interruption stays pending.
    ///
    /// # Errors
    /// [`AdapterError::InvalidMode`] (operand exception) for a mode other
    /// than 0 or 1; nothing is changed then.
    pub fn sic(&self, gr1: u64, gr3: u64) -> Result<(), AdapterError> {
        let mode = SicMode::from_gr1(gr1)?;
        self.set_mode(sic_isc(gr3), mode);
        Ok(())
    }

    /// Sets the AIS mode of `isc` (0..=7; higher values are taken modulo 8,
    /// as only three bits exist in the SIC operand).
    pub fn set_mode(&self, isc: u8, mode: SicMode) {
        let bit = u32::from(isc_bit(isc & 7));
        self.update(|w| {
            let mut new = w & !(bit << SUPPRESSED_SHIFT);
            match mode {
                SicMode::All => new &= !(bit << SINGLE_SHIFT),
                SicMode::Single => new |= bit << SINGLE_SHIFT,
            }
            (Some(new), ())
        });
    }

    /// The AIS mode of `isc`, or `None` for an ISC above 7.
    #[must_use]
    pub fn mode(&self, isc: u8) -> Option<AisMode> {
        if isc >= ISC_COUNT {
            return None;
        }
        let w = self.state.load(Ordering::SeqCst);
        let bit = isc_bit(isc);
        Some(if field(w, SUPPRESSED_SHIFT) & bit != 0 {
            AisMode::NoInterruptions
        } else if field(w, SINGLE_SHIFT) & bit != 0 {
            AisMode::SingleInterruption
        } else {
            AisMode::AllInterruptions
        })
    }

    /// A suppressible adapter asks for an adapter interruption for `isc`.
    ///
    /// Returns `true` when an adapter interruption became pending (the
    /// embedder should then be woken), `false` when it was suppressed (no-
    /// interruptions mode), coalesced with one already pending for that ISC,
    /// or `isc` is above 7 (no such subclass; nothing happens).
    ///
    /// In single-interruption mode a raise switches the ISC to the
    /// no-interruptions mode, even when it coalesces with a pending one.
    pub fn raise(&self, isc: u8) -> bool {
        self.raise_inner(isc, true)
    }

    /// An adapter that is not subject to adapter-interruption suppression
    /// asks for an adapter interruption for `isc`: the AIS mode is neither
    /// consulted nor changed. Returns as [`AdapterInterruptions::raise`].
    pub fn raise_unsuppressible(&self, isc: u8) -> bool {
        self.raise_inner(isc, false)
    }

    fn raise_inner(&self, isc: u8, suppressible: bool) -> bool {
        if isc >= ISC_COUNT {
            return false;
        }
        let bit = u32::from(isc_bit(isc));
        self.update(|w| {
            if suppressible && w & (bit << SUPPRESSED_SHIFT) != 0 {
                return (None, false);
            }
            let mut new = w;
            if suppressible && w & (bit << SINGLE_SHIFT) != 0 {
                new |= bit << SUPPRESSED_SHIFT;
            }
            let became_pending = w & (bit << PENDING_SHIFT) == 0;
            new |= bit << PENDING_SHIFT;
            (if new == w { None } else { Some(new) }, became_pending)
        })
    }

    /// Whether an adapter interruption is pending for `isc`.
    #[must_use]
    pub fn is_pending(&self, isc: u8) -> bool {
        isc < ISC_COUNT && self.pending_mask() & isc_bit(isc) != 0
    }

    /// The pending ISCs as a CR6-style mask (0x80 = ISC 0).
    #[must_use]
    pub fn pending_mask(&self) -> u8 {
        field(self.state.load(Ordering::SeqCst), PENDING_SHIFT)
    }

    /// Takes (clears and returns) the pending adapter interruption with the
    /// highest priority among the ISCs enabled in `isc_mask` (CR6 bits
    /// 32-39: 0x80 = ISC 0). ISC 0 has the highest priority.
    pub fn take(&self, isc_mask: u8) -> Option<u8> {
        self.update(|w| {
            let eligible = field(w, PENDING_SHIFT) & isc_mask;
            if eligible == 0 {
                return (None, None);
            }
            let Some(isc) = (0..ISC_COUNT).find(|&i| eligible & isc_bit(i) != 0) else {
                return (None, None);
            };
            let new = w & !(u32::from(isc_bit(isc)) << PENDING_SHIFT);
            (Some(new), Some(isc))
        })
    }

    /// Withdraws a pending adapter interruption for `isc` without delivering
    /// it; returns whether one was pending.
    pub fn clear(&self, isc: u8) -> bool {
        if isc >= ISC_COUNT {
            return false;
        }
        let bit = u32::from(isc_bit(isc)) << PENDING_SHIFT;
        self.update(|w| {
            if w & bit == 0 {
                (None, false)
            } else {
                (Some(w & !bit), true)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GR3 value selecting `isc` for SIC.
    fn gr3(isc: u8) -> u64 {
        u64::from(isc) << 27
    }

    #[test]
    fn new_state_is_all_mode_nothing_pending() {
        let a = AdapterInterruptions::new();
        for isc in 0..ISC_COUNT {
            assert_eq!(a.mode(isc), Some(AisMode::AllInterruptions));
            assert!(!a.is_pending(isc));
        }
        assert_eq!(a.mode(8), None);
        assert_eq!(a.pending_mask(), 0);
    }

    #[test]
    fn raise_in_all_mode_makes_pending_then_coalesces() {
        let a = AdapterInterruptions::new();
        assert!(a.raise(3));
        assert!(a.is_pending(3));
        assert!(!a.raise(3), "second raise coalesces");
        assert_eq!(a.pending_mask(), 0x10);
        assert_eq!(a.take(0xff), Some(3));
        assert_eq!(a.take(0xff), None, "only one interruption was pending");
        assert!(a.raise(3), "after delivery a raise is pending again");
    }

    #[test]
    fn raise_isc_above_seven_is_ignored() {
        let a = AdapterInterruptions::new();
        assert!(!a.raise(8));
        assert!(!a.raise_unsuppressible(255));
        assert_eq!(a.pending_mask(), 0);
        assert!(!a.is_pending(8));
        assert!(!a.clear(9));
    }

    #[test]
    fn sic_single_mode_suppresses_after_first_raise() {
        let a = AdapterInterruptions::new();
        a.sic(1, gr3(2)).unwrap();
        assert_eq!(a.mode(2), Some(AisMode::SingleInterruption));
        assert!(a.raise(2));
        assert_eq!(a.mode(2), Some(AisMode::NoInterruptions));
        assert_eq!(a.take(0x20), Some(2));
        assert!(!a.raise(2), "no-interruptions mode suppresses");
        assert!(!a.is_pending(2));
        // Other ISCs are unaffected.
        assert!(a.raise(1));
        assert!(!a.raise(1));
        assert_eq!(a.mode(1), Some(AisMode::AllInterruptions));
    }

    #[test]
    fn sic_single_again_rearms_one_interruption() {
        let a = AdapterInterruptions::new();
        a.sic(1, gr3(5)).unwrap();
        assert!(a.raise(5));
        assert_eq!(a.take(0xff), Some(5));
        assert!(!a.raise(5));
        a.sic(1, gr3(5)).unwrap();
        assert!(a.raise(5));
        assert!(!a.raise(5));
        assert_eq!(a.take(0xff), Some(5));
        assert_eq!(a.take(0xff), None);
    }

    #[test]
    fn sic_all_mode_leaves_no_interruptions_mode() {
        let a = AdapterInterruptions::new();
        a.sic(1, gr3(0)).unwrap();
        assert!(a.raise(0));
        assert_eq!(a.take(0x80), Some(0));
        assert!(!a.raise(0));
        a.sic(0, gr3(0)).unwrap();
        assert_eq!(a.mode(0), Some(AisMode::AllInterruptions));
        assert!(a.raise(0));
        assert_eq!(a.take(0x80), Some(0));
        assert!(a.raise(0));
    }

    #[test]
    fn sic_keeps_pending_interruption() {
        let a = AdapterInterruptions::new();
        assert!(a.raise(4));
        a.sic(1, gr3(4)).unwrap();
        assert!(a.is_pending(4));
        // A raise while pending in single mode still enters no-interruptions mode.
        assert!(!a.raise(4));
        assert_eq!(a.mode(4), Some(AisMode::NoInterruptions));
    }

    #[test]
    fn sic_invalid_mode_is_operand_error_and_changes_nothing() {
        let a = AdapterInterruptions::new();
        a.sic(1, gr3(6)).unwrap();
        for mode in [2u16, 3, 0x8000, 0xffff] {
            assert_eq!(a.sic(u64::from(mode), gr3(6)), Err(AdapterError::InvalidMode(mode)));
        }
        assert_eq!(a.mode(6), Some(AisMode::SingleInterruption));
    }

    #[test]
    fn sic_ignores_gr1_bits_above_48_and_other_gr3_bits() {
        let a = AdapterInterruptions::new();
        // High bits of GR1 set, mode 1; GR3 with bits outside 34-36 set.
        a.sic(0xffff_ffff_ffff_0001, 0xffff_ffff_c7ff_ffff | gr3(7)).unwrap();
        assert_eq!(a.mode(7), Some(AisMode::SingleInterruption));
        assert_eq!(sic_isc(0xffff_ffff_c7ff_ffff), 0);
        assert_eq!(sic_isc(0x3800_0000), 7);
        assert_eq!(sic_isc(0x0800_0000), 1);
    }

    #[test]
    fn raise_unsuppressible_ignores_ais_mode() {
        let a = AdapterInterruptions::new();
        a.sic(1, gr3(3)).unwrap();
        assert!(a.raise_unsuppressible(3));
        assert_eq!(a.mode(3), Some(AisMode::SingleInterruption), "mode unchanged");
        assert_eq!(a.take(0xff), Some(3));
        assert!(a.raise(3));
        assert_eq!(a.take(0xff), Some(3));
        assert!(!a.raise(3));
        assert!(a.raise_unsuppressible(3), "suppression does not apply");
    }

    #[test]
    fn take_delivers_lowest_enabled_isc_first() {
        let a = AdapterInterruptions::new();
        for isc in [7, 2, 5] {
            assert!(a.raise(isc));
        }
        assert_eq!(a.take(0x00), None);
        assert_eq!(a.take(0x01), Some(7), "only ISC 7 enabled");
        assert_eq!(a.take(0xff), Some(2));
        assert_eq!(a.take(0xff), Some(5));
        assert_eq!(a.take(0xff), None);
    }

    #[test]
    fn clear_withdraws_pending() {
        let a = AdapterInterruptions::new();
        assert!(a.raise(1));
        assert!(a.clear(1));
        assert!(!a.clear(1));
        assert_eq!(a.take(0xff), None);
    }

    #[test]
    fn reset_returns_to_initial_state() {
        let a = AdapterInterruptions::new();
        a.sic(1, gr3(1)).unwrap();
        assert!(a.raise(1));
        a.reset();
        assert_eq!(a.pending_mask(), 0);
        assert_eq!(a.mode(1), Some(AisMode::AllInterruptions));
    }

    #[test]
    fn interruption_identification_has_a_bit_and_isc() {
        assert_eq!(interruption_identification(0), 0x8000_0000);
        assert_eq!(interruption_identification(3), 0x9800_0000);
        assert_eq!(interruption_identification(7), 0xb800_0000);
    }

    #[test]
    fn concurrent_raises_make_exactly_one_pending() {
        use std::sync::Arc;
        let a = Arc::new(AdapterInterruptions::new());
        a.sic(1, gr3(3)).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let a = Arc::clone(&a);
                std::thread::spawn(move || (0..1000).filter(|_| a.raise(3)).count())
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 1, "single-interruption mode lets exactly one through");
        assert_eq!(a.take(0xff), Some(3));
        assert_eq!(a.take(0xff), None);
    }
}
