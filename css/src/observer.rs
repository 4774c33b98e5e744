//! The observer hook: every I/O instruction — and DIAGNOSE 0x500, the
//! virtio-ccw hypercall the css executes like one — reported with its
//! operands, its outcome and the guest storage it fetched and stored, for
//! trace recorders (see the trace format: an instruction statement with its
//! result, plus `store`/`expect` lines for the storage it touched).
//!
//! Without an observer the css pays one atomic load per instruction; with
//! one, guest storage is wrapped in a [`RecordingMemory`] for the duration
//! of the instruction.

use parking_lot::Mutex;
use zcss_ccw::intcode::InterruptionCode;
use zcss_ccw::memory::{AccessError, AccessKey, GuestMemory, StorageKey};

use crate::error::{Cc, ProgramCheck};

/// An I/O instruction with the operands it found (the trace-format
/// statement, before `=>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Insn {
    /// START SUBCHANNEL.
    Ssch {
        /// GR1.
        gr1: u32,
        /// ORB address.
        orb_addr: u64,
    },
    /// TEST SUBCHANNEL.
    Tsch {
        /// GR1.
        gr1: u32,
        /// IRB address.
        irb_addr: u64,
    },
    /// STORE SUBCHANNEL.
    Stsch {
        /// GR1.
        gr1: u32,
        /// SCHIB address.
        schib_addr: u64,
    },
    /// MODIFY SUBCHANNEL.
    Msch {
        /// GR1.
        gr1: u32,
        /// SCHIB address.
        schib_addr: u64,
    },
    /// CLEAR SUBCHANNEL.
    Csch {
        /// GR1.
        gr1: u32,
    },
    /// HALT SUBCHANNEL.
    Hsch {
        /// GR1.
        gr1: u32,
    },
    /// CANCEL SUBCHANNEL.
    Xsch {
        /// GR1.
        gr1: u32,
    },
    /// RESUME SUBCHANNEL.
    Rsch {
        /// GR1.
        gr1: u32,
    },
    /// TEST PENDING INTERRUPTION.
    Tpi {
        /// Operand address (0: prefix area).
        addr: u64,
        /// CR6 I/O-interruption subclass mask.
        isc_mask: u8,
    },
    /// STORE CHANNEL REPORT WORD.
    Stcrw {
        /// Operand address.
        addr: u64,
    },
    /// RESET CHANNEL PATH.
    Rchp {
        /// GR1.
        gr1: u32,
    },
    /// SET ADDRESS LIMIT.
    Sal {
        /// GR1.
        gr1: u32,
    },
    /// SET CHANNEL MONITOR.
    Schm {
        /// GR1.
        gr1: u32,
        /// GR2.
        gr2: u64,
    },
    /// CHANNEL SUBSYSTEM CALL.
    Chsc {
        /// Request-block address.
        addr: u64,
    },
    /// SET INTERRUPTION CONTROLS.
    Sic {
        /// GR R1.
        gr1: u64,
        /// GR R3.
        gr3: u64,
    },
    /// Initial program loading from the device at GR1's subchannel (see
    /// [`crate::Css::ipl`]): `Ok` when loaded, `Cc(3)` when not.
    Ipl {
        /// The subchannel-identification word of the IPL device.
        gr1: u32,
    },
    /// DIAGNOSE 0x500, the virtio-ccw hypercall (see
    /// [`crate::Css::diag500`]).
    Diag500 {
        /// GR1: the subcode (3 = notify).
        subcode: u64,
        /// GR2: the subchannel-identification word (notify).
        gr2: u64,
        /// GR3: the queue index (notify).
        gr3: u64,
        /// GR4: the cookie (notify).
        gr4: u64,
    },
}

impl std::fmt::Display for Insn {
    /// The mnemonic and the operands in hex, as a person debugging a guest
    /// reads them: `ssch gr1=0x10000 orb=0x1800`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::Ssch { gr1, orb_addr } => write!(f, "ssch gr1={gr1:#x} orb={orb_addr:#x}"),
            Self::Tsch { gr1, irb_addr } => write!(f, "tsch gr1={gr1:#x} irb={irb_addr:#x}"),
            Self::Stsch { gr1, schib_addr } => write!(f, "stsch gr1={gr1:#x} schib={schib_addr:#x}"),
            Self::Msch { gr1, schib_addr } => write!(f, "msch gr1={gr1:#x} schib={schib_addr:#x}"),
            Self::Csch { gr1 } => write!(f, "csch gr1={gr1:#x}"),
            Self::Hsch { gr1 } => write!(f, "hsch gr1={gr1:#x}"),
            Self::Xsch { gr1 } => write!(f, "xsch gr1={gr1:#x}"),
            Self::Rsch { gr1 } => write!(f, "rsch gr1={gr1:#x}"),
            Self::Tpi { addr, isc_mask } => write!(f, "tpi addr={addr:#x} isc-mask={isc_mask:#04x}"),
            Self::Stcrw { addr } => write!(f, "stcrw addr={addr:#x}"),
            Self::Rchp { gr1 } => write!(f, "rchp gr1={gr1:#x}"),
            Self::Sal { gr1 } => write!(f, "sal gr1={gr1:#x}"),
            Self::Schm { gr1, gr2 } => write!(f, "schm gr1={gr1:#x} gr2={gr2:#x}"),
            Self::Chsc { addr } => write!(f, "chsc addr={addr:#x}"),
            Self::Sic { gr1, gr3 } => write!(f, "sic gr1={gr1:#x} gr3={gr3:#x}"),
            Self::Ipl { gr1 } => write!(f, "ipl gr1={gr1:#x}"),
            Self::Diag500 { subcode, gr2, gr3, gr4 } => {
                write!(f, "diag500 subcode={subcode:#x} gr2={gr2:#x} gr3={gr3:#x} gr4={gr4:#x}")
            }
        }
    }
}

/// How an instruction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Completed with a condition code.
    Cc(Cc),
    /// Completed; the instruction sets no condition code.
    Ok,
    /// Completed with this value in GR2 (DIAGNOSE 0x500).
    Gr2(u64),
    /// A program interruption instead of completion.
    Program(ProgramCheck),
}

impl std::fmt::Display for Outcome {
    /// `cc=0`, `ok`, `gr2=0x…`, or `pgm=<exception>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cc(cc) => write!(f, "cc={}", cc.value()),
            Self::Ok => f.write_str("ok"),
            Self::Gr2(v) => write!(f, "gr2={v:#x}"),
            Self::Program(p) => write!(f, "pgm={p}"),
        }
    }
}

impl From<Result<Cc, ProgramCheck>> for Outcome {
    fn from(r: Result<Cc, ProgramCheck>) -> Self {
        match r {
            Ok(cc) => Self::Cc(cc),
            Err(p) => Self::Program(p),
        }
    }
}

impl From<Result<u64, ProgramCheck>> for Outcome {
    fn from(r: Result<u64, ProgramCheck>) -> Self {
        match r {
            Ok(v) => Self::Gr2(v),
            Err(p) => Self::Program(p),
        }
    }
}

impl From<Result<(), ProgramCheck>> for Outcome {
    fn from(r: Result<(), ProgramCheck>) -> Self {
        match r {
            Ok(()) => Self::Ok,
            Err(p) => Self::Program(p),
        }
    }
}

/// One successful guest-storage access during an instruction (operand
/// accesses and the channel program's data transfers alike). An interlocked
/// update (an OR into an indicator) is a fetch of the old value followed by
/// a store of the new one: what happens next depends on the old value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StorageAccess {
    /// `true` for a store, `false` for a fetch.
    pub store: bool,
    /// Absolute address.
    pub addr: u64,
    /// The bytes fetched or stored.
    pub data: Vec<u8>,
}

/// An event on the host side of the channel subsystem — the
/// configuration changed, the I/O system was reset, a device received
/// input — reported to the observer like an instruction (a trace records
/// it as a statement, so that a replay does it at the same point).
#[derive(Clone, Copy)]
pub enum HostEvent<'a> {
    /// A device was attached ([`crate::Css::attach`] and friends): `hot`
    /// when the channel report of a hot plug was made. `device` is the
    /// interpreted device (`None` for a passthrough device), for a recorder
    /// that describes it (downcast it with `as &dyn Any`).
    Attach {
        /// The subchannel.
        sid: zcss_ccw::sid::SubchannelId,
        /// The device number.
        devno: u16,
        /// Hot plug (with a channel report) rather than cold plug.
        hot: bool,
        /// The device, if interpreted.
        device: Option<&'a dyn crate::Device>,
    },
    /// The device of `sid` was detached ([`crate::Css::detach`]; `hot`:
    /// with its channel report).
    Detach {
        /// The subchannel.
        sid: zcss_ccw::sid::SubchannelId,
        /// With the channel report of a hot unplug.
        hot: bool,
    },
    /// The I/O-system reset ([`crate::Css::reset`]).
    Reset,
    /// The device of `sid` presented unsolicited status
    /// ([`crate::Css::unsolicited`]; only when it was presented).
    Unsolicited {
        /// The subchannel.
        sid: zcss_ccw::sid::SubchannelId,
        /// The device status.
        status: zcss_ccw::status::DeviceStatus,
        /// The sense, with unit check.
        sense: Option<&'a zcss_ccw::device::Sense>,
    },
    /// Host input delivered to the device of `sid`
    /// ([`crate::Css::device_input`]).
    Input {
        /// The subchannel.
        sid: zcss_ccw::sid::SubchannelId,
        /// The bytes.
        data: &'a [u8],
    },
}

impl std::fmt::Debug for HostEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Attach {
                sid,
                devno,
                hot,
                device,
            } => f
                .debug_struct("Attach")
                .field("sid", sid)
                .field("devno", devno)
                .field("hot", hot)
                .field("interpreted", &device.is_some())
                .finish(),
            Self::Detach { sid, hot } => f.debug_struct("Detach").field("sid", sid).field("hot", hot).finish(),
            Self::Reset => f.write_str("Reset"),
            Self::Unsolicited { sid, status, sense } => f
                .debug_struct("Unsolicited")
                .field("sid", sid)
                .field("status", status)
                .field("sense", &sense.is_some())
                .finish(),
            Self::Input { sid, data } => f
                .debug_struct("Input")
                .field("sid", sid)
                .field("len", &data.len())
                .finish(),
        }
    }
}

/// Receives every instruction; set with [`crate::Css::set_observer`].
///
/// With an observer, the css serializes what it reports: an instruction
/// (or host event, or interruption taken) runs to completion and is
/// reported before another one starts, on any thread — so the reports are
/// one valid order of what happened, and an interruption that an
/// instruction made pending is never reported before that instruction,
/// whichever thread the waker woke. Each report carries only the storage
/// accesses of its own instruction, made on its thread. An instruction
/// executed (or interruption taken) by the waker on the thread of the
/// instruction that woke it completes first but is reported after it, as
/// if it had followed (a host event nested that way is reported at once).
pub trait Observer: Send + Sync {
    /// An instruction completed (or ended in a program interruption).
    fn instruction(&self, insn: &Insn, outcome: Outcome, accesses: &[StorageAccess]);

    /// A host event happened, with the guest storage it touched (console
    /// input written into receive buffers, for instance).
    fn host_event(&self, _event: &HostEvent<'_>, _accesses: &[StorageAccess]) {}

    /// An interruption was taken through [`crate::Css::next_interrupt`].
    fn interruption(&self, _code: &InterruptionCode) {}

    /// The css stored `len` bytes at `addr` whose values come from its
    /// clock rather than from the guest's program: the time fields of a
    /// measurement block under the timing facility (see
    /// [`crate::measurement`]). Another run, or a replay, stores other
    /// values there; a recorder does not expect these bytes. Reported during
    /// the instruction that stores them, on its thread, before
    /// [`Observer::instruction`], while the css holds the subchannel's
    /// state lock: the observer must not call back into the css here.
    fn nondeterministic_store(&self, _addr: u64, _len: u64) {}
}

/// Guest storage that records every successful access.
pub struct RecordingMemory<'a> {
    inner: &'a dyn GuestMemory,
    log: Mutex<Vec<StorageAccess>>,
}

impl std::fmt::Debug for RecordingMemory<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingMemory").finish_non_exhaustive()
    }
}

impl<'a> RecordingMemory<'a> {
    /// Wraps `inner`.
    #[must_use]
    pub fn new(inner: &'a dyn GuestMemory) -> Self {
        Self {
            inner,
            log: Mutex::new(Vec::new()),
        }
    }

    /// The accesses recorded so far, in order.
    pub fn take(&self) -> Vec<StorageAccess> {
        std::mem::take(&mut *self.log.lock())
    }

    fn record(&self, store: bool, addr: u64, data: &[u8]) {
        self.log.lock().push(StorageAccess {
            store,
            addr,
            data: data.to_vec(),
        });
    }
}

impl GuestMemory for RecordingMemory<'_> {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn read(&self, addr: u64, buf: &mut [u8], key: AccessKey) -> Result<(), AccessError> {
        self.inner.read(addr, buf, key)?;
        self.record(false, addr, buf);
        Ok(())
    }

    fn write(&self, addr: u64, data: &[u8], key: AccessKey) -> Result<(), AccessError> {
        self.inner.write(addr, data, key)?;
        self.record(true, addr, data);
        Ok(())
    }

    fn fetch_or_u8(&self, addr: u64, mask: u8, key: AccessKey) -> Result<u8, AccessError> {
        let old = self.inner.fetch_or_u8(addr, mask, key)?;
        self.record(false, addr, &[old]);
        self.record(true, addr, &[old | mask]);
        Ok(old)
    }

    fn fetch_or_u64_be(&self, addr: u64, mask: u64, key: AccessKey) -> Result<u64, AccessError> {
        let old = self.inner.fetch_or_u64_be(addr, mask, key)?;
        self.record(false, addr, &old.to_be_bytes());
        self.record(true, addr, &(old | mask).to_be_bytes());
        Ok(old)
    }

    fn storage_key(&self, addr: u64) -> Option<StorageKey> {
        self.inner.storage_key(addr)
    }
}
