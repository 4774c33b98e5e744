//! IPL through passthrough: the load function's channel program run the way
//! QEMU's s390-ccw BIOS runs it on a vfio-ccw device
//! (`pc-bios/s390-ccw/dasd-ipl.c`), so that the guest ends with the storage
//! and status the same program leaves on an emulated device.
//!
//! The load function's program reads its own next CCWs: the implied READ
//! IPL at 0 stores the IPL1 record (PSW and two CCWs at 8 and 16), and an
//! IPL1 chain usually reads IPL2 and TICs into it. The kernel's translator
//! prefetches the whole program before it runs, so it would run stale
//! doublewords. The program therefore runs in *pieces*, each a host program
//! of its own:
//!
//! 1. the READ IPL alone (its command-chaining flag taken off in storage,
//!    which the read overwrites — `make_readipl`, `run_readipl`);
//! 2. on a DASD (control unit 3990 or 2107, as the BIOS decides) whose IPL1
//!    begins with READ DATA: SEEK 0/0, SEARCH ID EQUAL record 2 and the
//!    TIC back to the search, then that READ without chaining
//!    (`ipl1_fixup`, `run_ipl1`): a new program has lost the orientation
//!    the READ IPL left, and a 3390 refuses a READ without it. The CCWs
//!    and arguments go where the BIOS puts them (8–0x3c);
//! 3. the rest of the chain — from the CCW at 16 (the target of a TIC
//!    there) — split after every READ DATA that chains into a TIC
//!    (`dynamic_cp_fixup`: the READ's chaining flag taken off, the next
//!    piece at the TIC's target);
//! 4. otherwise (another device, or an IPL1 without READ DATA) the chain at
//!    8, split the same way.
//!
//! Unlike the BIOS, which leaves its edits in guest storage, every byte
//! changed is put back when its piece ends — except the bytes the piece's
//! last READ stored (its data address through its count less the residual
//! count), which are the program's own data. The guest sees the last
//! piece's status; a CCW address in the CCWs placed for step 2 shows as
//! the address after the IPL1 READ at 8. A piece that ends with anything
//! but channel end and device end ends the IPL with its status.
//! Limitations (those of the BIOS): a chain whose pieces need the
//! orientation of the piece before (a READ after a TIC without SEEK and
//! SEARCH of its own) is refused by a DASD; READs other than READ DATA
//! into a TIC are not split.

use zcss_ccw::irb::Irb;
use zcss_ccw::memory::{AccessKey, GuestMemory};
use zcss_ccw::orb::Orb;
use zcss_ccw::status::DeviceStatus;
use zcss_css::DeviceInfo;

/// Where step 2's CCWs and arguments go (`ipl1_fixup`): SEEK at 8, SEARCH
/// at 0x10, TIC at 0x18, the READ at 0x20 (and the CCW at 16 after it),
/// seek argument at 0x30, search argument at 0x38.
const FIXUP: u64 = 0x08;
const FIXUP_READ: u64 = 0x20;
const FIXUP_END: u64 = 0x3d;
const SEEK_ARG: u32 = 0x30;
const SEARCH_ARG: u32 = 0x38;

/// DASD control-unit types the BIOS IPLs as DASD (`CU_TYPE_DASD_3990`,
/// `CU_TYPE_DASD_2107`).
const DASD_CU: [u16; 2] = [0x3990, 0x2107];

/// How far a walk for a split looks (a chain longer than this runs whole).
const WALK_LIMIT: u32 = 256;

/// Command codes.
const READ_DATA: u8 = 0x06;
const READ_DATA_MT: u8 = 0x86;
const SEEK: u8 = 0x07;
const SEARCH_ID_EQ: u8 = 0x31;
const TIC: u8 = 0x08;
/// Format-0 flag byte: command chaining.
const CC: u8 = 0x40;

/// A format-0 CCW as the BIOS reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ccw0 {
    cmd: u8,
    cda: u32,
    flags: u8,
    count: u16,
}

impl Ccw0 {
    fn decode(b: [u8; 8]) -> Self {
        Self {
            cmd: b[0],
            cda: u32::from_be_bytes([0, b[1], b[2], b[3]]),
            flags: b[4],
            count: u16::from_be_bytes([b[6], b[7]]),
        }
    }

    fn encode(self) -> [u8; 8] {
        let a = self.cda.to_be_bytes();
        let c = self.count.to_be_bytes();
        [self.cmd, a[1], a[2], a[3], self.flags, 0, c[0], c[1]]
    }

    fn is_tic(self) -> bool {
        self.cmd & 0x0f == TIC
    }

    fn is_read_data(self) -> bool {
        matches!(self.cmd, READ_DATA | READ_DATA_MT)
    }

    fn chains(self) -> bool {
        self.flags & CC != 0
    }
}

fn fetch(mem: &dyn GuestMemory, at: u64) -> Option<Ccw0> {
    let mut b = [0u8; 8];
    mem.read(at, &mut b, AccessKey::ZERO).ok()?;
    Some(Ccw0::decode(b))
}

/// Whether `orb` starts the load function's program: format 0, CCW
/// address 0, interruption parameter 0, the implied READ IPL at 0.
#[must_use]
pub fn is_ipl(mem: &dyn GuestMemory, orb: &Orb) -> bool {
    let mut b = [0u8; 8];
    orb.cpa == 0
        && orb.intparm == 0
        && !orb.ctrl.format1()
        && mem.read(0, &mut b, AccessKey::ZERO).is_ok()
        && b == zcss_css::ipl::IPL_CCW
}

/// What follows a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Start the next piece at this CCW address (format 0, the IPL ORB).
    Start(u32),
    /// The IPL's program has ended with this status.
    Done(Irb),
}

/// Which piece runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The READ IPL alone.
    ReadIpl,
    /// Step 2: the IPL1 READ after SEEK and SEARCH.
    Ipl1Read,
    /// A piece of the rest of the chain, with the address it continues at.
    Rest(Option<u32>),
}

/// An IPL in progress (see the [module documentation](self)).
#[derive(Debug, Clone)]
pub struct IplRun {
    dasd: bool,
    step: Step,
    /// Guest bytes changed for the running piece, with their values.
    saved: Vec<(u64, u8)>,
    /// The running piece's last READ: where its CCW is, its data address
    /// and count.
    read: Option<(u64, u32, u16)>,
}

impl IplRun {
    /// Begins an IPL on a device of `info`: the READ IPL at 0 loses its
    /// chaining flag (restored unless the read stores over it). `None` if
    /// storage cannot be changed.
    pub fn begin(mem: &dyn GuestMemory, info: &DeviceInfo) -> Option<Self> {
        let mut run = Self {
            dasd: DASD_CU.contains(&info.cu_type),
            step: Step::ReadIpl,
            saved: Vec::new(),
            read: None,
        };
        let ccw = fetch(mem, 0)?;
        run.put(
            mem,
            0,
            &Ccw0 {
                flags: ccw.flags & !CC,
                ..ccw
            }
            .encode(),
        )?;
        run.read = Some((0, ccw.cda, ccw.count));
        Some(run)
    }

    /// Stores `bytes` at `at`, keeping what was there.
    fn put(&mut self, mem: &dyn GuestMemory, at: u64, bytes: &[u8]) -> Option<()> {
        let mut old = vec![0u8; bytes.len()];
        mem.read(at, &mut old, AccessKey::ZERO).ok()?;
        mem.write(at, bytes, AccessKey::ZERO).ok()?;
        for (i, b) in (at..).zip(old) {
            if !self.saved.iter().any(|&(a, _)| a == i) {
                self.saved.push((i, b));
            }
        }
        Some(())
    }

    /// Puts back what the piece changed, except what its last READ stored
    /// (it ended there when the CCW address is the one after it).
    fn restore(&mut self, mem: &dyn GuestMemory, irb: &Irb) {
        let stored = self
            .read
            .take()
            .filter(|&(ccw, _, _)| u64::from(irb.scsw.cpa) == ccw + 8)
            .map(|(_, cda, count)| {
                let n = count.saturating_sub(irb.scsw.count);
                u64::from(cda)..u64::from(cda) + u64::from(n)
            });
        for (at, b) in self.saved.drain(..) {
            if !stored.as_ref().is_some_and(|r| r.contains(&at)) {
                let _ = mem.write(at, &[b], AccessKey::ZERO);
            }
        }
    }

    /// The final status `irb` of the running piece arrived: restores guest
    /// storage and prepares the next piece (its CCWs changed in `mem`), or
    /// ends the IPL.
    pub fn next(&mut self, mem: &dyn GuestMemory, irb: &Irb) -> Next {
        let step = self.step;
        self.restore(mem, irb);
        let clean = irb.scsw.dstat == DeviceStatus::CE_DE && irb.scsw.cstat.into_bits() == 0;
        if !clean {
            let mut irb = *irb;
            if step == Step::Ipl1Read && (FIXUP + 8..=FIXUP_READ + 8).contains(&u64::from(irb.scsw.cpa)) {
                // A CCW of step 2 (or its READ): the guest's READ at 8.
                irb.scsw.cpa = 0x10;
            }
            return Next::Done(irb);
        }
        let next = match step {
            Step::ReadIpl => {
                let ipl1 = fetch(mem, 8);
                match ipl1 {
                    Some(r) if self.dasd && r.is_read_data() => return self.ipl1_read(mem, r),
                    _ => Some(8),
                }
            }
            Step::Ipl1Read => {
                // The IPL1 READ had chaining: the chain continues at 16.
                let chained = fetch(mem, 8).is_some_and(Ccw0::chains);
                chained.then_some(16)
            }
            Step::Rest(next) => next,
        };
        match next {
            Some(at) => self.piece(mem, at),
            None => Next::Done(*irb),
        }
    }

    /// As [`IplRun::next`] without guest storage: after the READ IPL the
    /// chain at 8 runs whole.
    pub fn next_blind(&mut self, irb: &Irb) -> Next {
        let clean = irb.scsw.dstat == DeviceStatus::CE_DE && irb.scsw.cstat.into_bits() == 0;
        if clean && self.step == Step::ReadIpl {
            self.step = Step::Rest(None);
            self.read = None;
            self.saved.clear();
            return Next::Start(8);
        }
        Next::Done(*irb)
    }

    /// Step 2: SEEK, SEARCH record 2, TIC, the IPL1 READ unchained.
    fn ipl1_read(&mut self, mem: &dyn GuestMemory, read: Ccw0) -> Next {
        if mem.size() < FIXUP_END {
            return self.piece(mem, 8);
        }
        let seek = Ccw0 {
            cmd: SEEK,
            cda: SEEK_ARG,
            flags: CC,
            count: 6,
        };
        let search = Ccw0 {
            cmd: SEARCH_ID_EQ,
            cda: SEARCH_ARG,
            flags: CC,
            count: 5,
        };
        let tic = Ccw0 {
            cmd: TIC,
            cda: 0x10,
            flags: 0,
            count: 0,
        };
        let unchained = Ccw0 {
            flags: read.flags & !CC,
            ..read
        };
        let moved = fetch(mem, 16).map_or([0; 8], Ccw0::encode);
        // Seek argument: cylinder 0, head 0; search argument: CCHHR 0/0/2.
        let parts: [(u64, &[u8]); 7] = [
            (FIXUP, &seek.encode()),
            (FIXUP + 8, &search.encode()),
            (FIXUP + 16, &tic.encode()),
            (FIXUP_READ, &unchained.encode()),
            (FIXUP_READ + 8, &moved),
            (u64::from(SEEK_ARG), &[0; 6]),
            (u64::from(SEARCH_ARG), &[0, 0, 0, 0, 2]),
        ];
        for (at, b) in parts {
            // In storage (checked above): the writes do not fail.
            let _ = self.put(mem, at, b);
        }
        self.step = Step::Ipl1Read;
        self.read = Some((FIXUP_READ, read.cda, read.count));
        Next::Start(8)
    }

    /// A piece of the rest of the chain from `at` (a TIC there is followed
    /// first: a program cannot begin with one), split after a READ DATA
    /// that chains into a TIC.
    fn piece(&mut self, mem: &dyn GuestMemory, at: u32) -> Next {
        let start = match fetch(mem, u64::from(at)) {
            Some(c) if c.is_tic() => c.cda,
            _ => at,
        };
        self.step = Step::Rest(None);
        let mut cur = u64::from(start);
        for _ in 0..WALK_LIMIT {
            let Some(c) = fetch(mem, cur) else { break };
            if c.is_tic() && u64::from(c.cda) + 8 == cur {
                // The TIC of a search loop, to the CCW before it.
                cur += 8;
                continue;
            }
            if !c.chains() {
                break;
            }
            if c.is_read_data() && fetch(mem, cur + 8).is_some_and(Ccw0::is_tic) {
                let tic = fetch(mem, cur + 8).map_or(0, |t| t.cda);
                if self.put(mem, cur + 4, &[c.flags & !CC]).is_some() {
                    self.step = Step::Rest(Some(tic));
                    self.read = Some((cur, c.cda, c.count));
                }
                break;
            }
            cur += 8;
        }
        Next::Start(start)
    }
}

#[cfg(test)]
mod tests {
    use zcss_ccw::memory::VecMemory;
    use zcss_ccw::scsw::Scsw;
    use zcss_css::{chpid_type, ChannelPaths};

    use super::*;

    fn info(cu_type: u16) -> DeviceInfo {
        DeviceInfo {
            cu_type,
            cu_model: 0xe9,
            dev_type: 0x3390,
            dev_model: 0x0a,
            paths: ChannelPaths::single(0x01, chpid_type::FICON),
        }
    }

    fn c0(cmd: u8, cda: u32, flags: u8, count: u16) -> [u8; 8] {
        Ccw0 { cmd, cda, flags, count }.encode()
    }

    fn end(cpa: u32, count: u16) -> Irb {
        Irb {
            scsw: Scsw {
                cpa,
                count,
                dstat: DeviceStatus::CE_DE,
                ..Scsw::default()
            },
            ..Irb::default()
        }
    }

    /// Storage after the READ IPL of an IPL1 `[psw, read, next]`.
    fn after_read_ipl(read: [u8; 8], next: [u8; 8]) -> (VecMemory, IplRun) {
        let mem = VecMemory::new(1 << 20);
        mem.store(0, &zcss_css::ipl::IPL_CCW).unwrap();
        let run = IplRun::begin(&mem, &info(0x3990)).unwrap();
        assert_eq!(mem.fetch(4, 1).unwrap()[0] & CC, 0, "READ IPL alone");
        mem.store(0, &[0, 8, 0, 0, 0x80, 0, 0x20, 0]).unwrap();
        mem.store(8, &read).unwrap();
        mem.store(16, &next).unwrap();
        (mem, run)
    }

    #[test]
    fn dasd_ipl1_read_is_located_by_seek_and_search_for_record_2() {
        let (mem, mut run) = after_read_ipl(c0(READ_DATA, 0x2000, CC, 144), c0(0x03, 0, 0x20, 1));
        assert_eq!(run.next(&mem, &end(8, 0)), Next::Start(8));
        assert_eq!(mem.fetch(8, 8).unwrap(), c0(SEEK, 0x30, CC, 6));
        assert_eq!(mem.fetch(0x10, 8).unwrap(), c0(SEARCH_ID_EQ, 0x38, CC, 5));
        assert_eq!(mem.fetch(0x18, 8).unwrap(), c0(TIC, 0x10, 0, 0));
        assert_eq!(mem.fetch(0x20, 8).unwrap(), c0(READ_DATA, 0x2000, 0, 144));
        assert_eq!(mem.fetch(0x38, 5).unwrap(), [0, 0, 0, 0, 2]);
        // The READ ends: storage is the guest's again, and the NOP at 16
        // runs next.
        assert_eq!(run.next(&mem, &end(0x28, 0)), Next::Start(16));
        assert_eq!(mem.fetch(8, 8).unwrap(), c0(READ_DATA, 0x2000, CC, 144));
        assert_eq!(mem.fetch(0x18, 0x28).unwrap(), vec![0; 0x28]);
        let done = end(0x18, 0);
        assert_eq!(run.next(&mem, &done), Next::Done(done));
    }

    #[test]
    fn read_into_the_fixup_area_keeps_its_data_and_the_tic_target_runs_next() {
        // zipl: IPL2 read to 0x18, TIC to it.
        let (mem, mut run) = after_read_ipl(c0(READ_DATA, 0x18, CC | 0x20, 0x68), c0(TIC, 0x18, 0, 0));
        assert_eq!(run.next(&mem, &end(8, 0)), Next::Start(8));
        // The read stores 0x50 bytes of IPL2 (residual 0x18): a SEEK chain.
        let ipl2 = [
            c0(SEEK, 0x58, CC, 6),
            c0(SEARCH_ID_EQ, 0x60, CC, 5),
            c0(TIC, 0x20, 0, 0),
            c0(READ_DATA, 0x1_0000, CC, 4096),
            c0(TIC, 0x4000, 0, 0),
        ];
        for (i, c) in ipl2.iter().enumerate() {
            mem.store(0x18 + 8 * i as u64, c).unwrap();
        }
        mem.store(0x40, &[0xaa; 0x28]).unwrap();
        assert_eq!(run.next(&mem, &end(0x28, 0x18)), Next::Start(0x18));
        // 8..0x18 restored, the data kept; the READ+TIC at 0x30 split.
        assert_eq!(mem.fetch(8, 8).unwrap(), c0(READ_DATA, 0x18, CC | 0x20, 0x68));
        assert_eq!(mem.fetch(0x10, 8).unwrap(), c0(TIC, 0x18, 0, 0));
        assert_eq!(mem.fetch(0x30, 8).unwrap(), c0(READ_DATA, 0x1_0000, 0, 4096));
        assert_eq!(mem.fetch(0x40, 0x28).unwrap(), vec![0xaa; 0x28]);
        assert_eq!(run.next(&mem, &end(0x38, 0)), Next::Start(0x4000));
        assert_eq!(mem.fetch(0x30, 8).unwrap(), c0(READ_DATA, 0x1_0000, CC, 4096));
    }

    #[test]
    fn other_device_runs_the_chain_at_8_and_an_error_ends_the_ipl() {
        let mem = VecMemory::new(1 << 20);
        mem.store(0, &zcss_css::ipl::IPL_CCW).unwrap();
        let mut run = IplRun::begin(&mem, &info(0x3832)).unwrap();
        mem.store(8, &c0(READ_DATA, 0x2000, CC, 8)).unwrap();
        assert_eq!(run.next(&mem, &end(8, 0)), Next::Start(8));
        let mut failed = end(0x10, 8);
        failed.scsw.dstat = DeviceStatus::CE_DE_UC;
        assert_eq!(run.next(&mem, &failed), Next::Done(failed));
    }

    #[test]
    fn failed_step_2_shows_the_address_after_the_guests_read() {
        let (mem, mut run) = after_read_ipl(c0(READ_DATA, 0x2000, CC, 144), c0(0x03, 0, 0x20, 1));
        run.next(&mem, &end(8, 0));
        let mut failed = end(0x18, 5);
        failed.scsw.dstat = DeviceStatus::CE_DE_UC;
        let Next::Done(irb) = run.next(&mem, &failed) else {
            panic!("the IPL ends")
        };
        assert_eq!(irb.scsw.cpa, 0x10);
        assert_eq!(mem.fetch(8, 8).unwrap(), c0(READ_DATA, 0x2000, CC, 144));
    }
}
