//! The data stream of one command: the bytes a CCW (and the CCWs data-chained
//! to it) lets a device move, through direct, IDAW or MIDAW addressing
//! (Principles of Operation, chapter 15, "Data Chaining", "Indirect Data
//! Addressing", "Modified Indirect Data Addressing", "Skip Flag").
//!
//! CONTRACT (used by devices and the css): `DataStream::{count, residual,
//! read, write, failed}` keep their signatures. The engine owns the rest.

use crate::memory::GuestMemory;

/// The data a device may transfer for the current command.
pub struct DataStream<'a> {
    pub(crate) mem: &'a dyn GuestMemory,
}

impl std::fmt::Debug for DataStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataStream").finish_non_exhaustive()
    }
}

impl DataStream<'_> {
    /// The count of the CCW currently transferring data.
    #[must_use]
    pub fn count(&self) -> u16 {
        0
    }

    /// Bytes not yet transferred in the current CCW.
    #[must_use]
    pub fn residual(&self) -> u16 {
        0
    }

    /// Moves storage → device (write-type commands) into `buf`, following data
    /// chaining. Returns the bytes moved; fewer than `buf.len()` when the
    /// stream ended (the device wanted more: incorrect length unless
    /// suppressed) or a check stopped it ([`DataStream::failed`]).
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let _ = (buf, self.mem.size());
        0
    }

    /// Moves device → storage (read-type commands), following data chaining
    /// and honouring skip. Returns the bytes accepted, as for [`DataStream::read`].
    pub fn write(&mut self, data: &[u8]) -> usize {
        let _ = data;
        0
    }

    /// Whether a check (program, protection, addressing) stopped the transfer;
    /// the device should end the command at once.
    #[must_use]
    pub fn failed(&self) -> bool {
        false
    }
}
