//! The context of one I/O instruction: guest storage, the PSW key and the
//! problem-state bit, and the operand-access helpers every instruction uses
//! (Principles of Operation, chapter 3, "Key-Controlled Protection", and
//! chapter 14: operand accesses of I/O instructions use the PSW key).

use zcss_ccw::memory::{AccessKey, GuestMemory};

use crate::error::ProgramCheck;

/// What an I/O instruction needs from the CPU that executes it.
///
/// ```
/// use zcss_ccw::{AccessKey, VecMemory};
/// use zcss_css::IoCtx;
/// let mem = VecMemory::new(1 << 20);
/// let ctx = IoCtx::new(&mem).with_key(AccessKey::new(3));
/// assert_eq!(ctx.key.get(), 3);
/// ```
#[derive(Clone, Copy)]
pub struct IoCtx<'a> {
    /// Guest absolute storage (the embedder translates operand addresses).
    pub mem: &'a dyn GuestMemory,
    /// PSW key, the access key of operand accesses.
    pub key: AccessKey,
    /// PSW problem-state bit: every I/O instruction is privileged.
    pub problem_state: bool,
    /// Absolute address of the CPU's prefix area, where TPI with operand
    /// address 0 stores the interruption code (at +0xb8).
    pub prefix: u64,
}

impl std::fmt::Debug for IoCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoCtx")
            .field("key", &self.key)
            .field("problem_state", &self.problem_state)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl<'a> IoCtx<'a> {
    /// Supervisor state, PSW key 0, prefix 0.
    #[must_use]
    pub fn new(mem: &'a dyn GuestMemory) -> Self {
        Self {
            mem,
            key: AccessKey::ZERO,
            problem_state: false,
            prefix: 0,
        }
    }

    /// With PSW key `key`.
    #[must_use]
    pub fn with_key(self, key: AccessKey) -> Self {
        Self { key, ..self }
    }

    /// In the problem state (`true`) or the supervisor state.
    #[must_use]
    pub fn with_problem_state(self, problem_state: bool) -> Self {
        Self { problem_state, ..self }
    }

    /// With the prefix area at absolute `prefix`.
    #[must_use]
    pub fn with_prefix(self, prefix: u64) -> Self {
        Self { prefix, ..self }
    }

    /// Privileged-operation exception in the problem state.
    pub(crate) fn privileged(&self) -> Result<(), ProgramCheck> {
        if self.problem_state {
            Err(ProgramCheck::PrivilegedOperation)
        } else {
            Ok(())
        }
    }

    /// Fetches an operand with the PSW key.
    pub(crate) fn fetch(&self, addr: u64, buf: &mut [u8]) -> Result<(), ProgramCheck> {
        self.mem.read(addr, buf, self.key).map_err(ProgramCheck::from)
    }

    /// Stores an operand with the PSW key.
    pub(crate) fn store(&self, addr: u64, data: &[u8]) -> Result<(), ProgramCheck> {
        self.mem.write(addr, data, self.key).map_err(ProgramCheck::from)
    }

    /// Recognizes the access exceptions a store of `len` bytes at `addr`
    /// would meet, without storing (for instructions whose access
    /// exceptions take priority over later checks, or that store nothing
    /// with a condition code but still check the operand).
    pub(crate) fn probe_store(&self, addr: u64, len: u64) -> Result<(), ProgramCheck> {
        let end = addr.checked_add(len).ok_or(ProgramCheck::Addressing)?;
        if end > self.mem.size() {
            return Err(ProgramCheck::Addressing);
        }
        if len == 0 {
            return Ok(());
        }
        let mut frame = addr & !(zcss_ccw::memory::FRAME_SIZE - 1);
        while frame < end {
            if let Some(sk) = self.mem.storage_key(frame) {
                if !sk.permits_store(self.key) {
                    return Err(ProgramCheck::Protection);
                }
            }
            frame += zcss_ccw::memory::FRAME_SIZE;
        }
        Ok(())
    }
}

/// Checks that `addr` is a multiple of `align` (a power of two): a
/// specification exception otherwise.
pub(crate) fn aligned(addr: u64, align: u64) -> Result<(), ProgramCheck> {
    if addr & (align - 1) == 0 {
        Ok(())
    } else {
        Err(ProgramCheck::Specification)
    }
}
