//! `vfio_translate`: arbitrary guest channel programs — segments of
//! format-0 or format-1 CCWs anywhere in 64 KiB of guest storage, TICs
//! between and inside them, direct and IDA data addresses with format-1
//! and format-2 IDALs, raw overlays, unmapped pages — and arbitrary ORB
//! controls through the vfio-ccw translator (`zcss_vfio_ccw::cp`, the model
//! of Linux's `vfio_ccw_cp.c`); the host program it builds then runs on the
//! channel-program engine against a scripted device in
//! host storage laid out as the simulated host's (kernel area below 2 GiB,
//! guest pages behind `GUEST_WINDOW`).
//!
//! Asserts, besides no panic:
//! * refused programs release everything (nothing pinned, every pin
//!   undone); translated ones hold exactly the pins they report — one per
//!   guest block a CCW that can move data names, none for the others (zero
//!   count, NO OPERATION, skip on a read) — and `free` undoes them all;
//! * the host program is bounded: at most 16 segments of at most 256
//!   CCWs, segment 0 at the ORB's address, IDALs inside the pool;
//! * every host CCW is its guest CCW (command, count, flags plus IDA; a
//!   TIC's target the host copy of its guest target, which back-translates
//!   to it); the host ORB is format 1 with 64-bit IDAWs of the right size,
//!   the guest's key and interruption parameter;
//! * every host IDAW that the host channel uses to move data points into a
//!   pinned guest page, at exactly the guest address the guest program
//!   names for that block (its IDAW, or its direct address and the block
//!   boundaries after it) — and when the host program runs, the device
//!   stores nothing outside pinned guest pages;
//! * every CCW address the host channel reports back-translates into the
//!   guest program — to the guest address of the host CCW it names — and a
//!   value outside every segment passes through unchanged.
#![no_main]

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zcss_ccw::{
    AccessError, AccessKey, Ccw, Ccw1, CcwDevice, CcwFormat, CheckCause, DataStream, DeviceResult, DeviceStatus,
    Engine, GuestMemory, Limits, NoHooks, Orb, OrbControls, Sense, VecMemory,
};
use zcss_vfio_ccw::cp::{ChannelProgram, Dma, HostLayout, CCWCHAIN_COUNT_MAX, CCWCHAIN_LEN_MAX, PAGE_SIZE};
use zcss_vfio_ccw::sim::GUEST_WINDOW;
use zcss_vfio_ccw::Errno;

/// Guest storage.
const G: u64 = 64 * 1024;
/// Host kernel area (segments, then the IDAL pool).
const BASE: u64 = 0x10_0000;
const IDAL_OFF: u64 = 0x8000;
/// Host IDAWs the pool holds (a larger program is refused `ENOMEM`).
const IDAL_CAPACITY: usize = 8192;
const KERNEL: u64 = IDAL_OFF + 8 * IDAL_CAPACITY as u64;

const LAYOUT: HostLayout = HostLayout {
    ccw_base: BASE as u32,
    idal_base: (BASE + IDAL_OFF) as u32,
    idal_capacity: IDAL_CAPACITY,
};

// ---------------------------------------------------------------- input

#[derive(Arbitrary, Debug)]
enum DataRef {
    /// A direct data address in guest storage.
    Area(u16),
    /// An IDAL at `at` of these IDAWs (guest addresses, or raw values).
    Idal {
        at: u16,
        idaws: Vec<u16>,
        raw: Option<(u8, u32)>,
    },
    /// A TIC to CCW `idx` of segment `seg`.
    Tic { seg: u8, idx: u8, misaligned: bool },
    /// Any data address.
    Raw(u32),
}

#[derive(Arbitrary, Debug)]
struct GuestCcw {
    cmd: u8,
    flags: u8,
    count: u16,
    data: DataRef,
}

#[derive(Arbitrary, Debug)]
struct GuestSegment {
    at: u16,
    ccws: Vec<GuestCcw>,
    /// Chained NOPs appended (to reach the 256-CCW limit).
    nops: Option<u16>,
}

#[derive(Arbitrary, Debug)]
enum FuzzAction {
    Read(u16),
    Write(u16, u8),
    Touch,
}

#[derive(Arbitrary, Debug)]
struct FuzzStep {
    actions: Vec<FuzzAction>,
    status: u8,
    sense: Option<u8>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// ORB word 1 (reserved bits and transport mode cleared).
    ctrl: u32,
    intparm: u32,
    /// The ORB's CCW address: segment `n`'s, or any.
    cpa: Result<u8, u32>,
    segments: Vec<GuestSegment>,
    overlays: Vec<(u16, Vec<u8>)>,
    /// Guest pages the IOMMU does not map.
    holes: u16,
    script: Vec<FuzzStep>,
    /// The device moves the whole count when the script is used up.
    greedy: bool,
    /// More host CCW addresses to back-translate.
    probes: Vec<u32>,
}

// ---------------------------------------------------------------- IOMMU

/// Guest storage through an IOMMU that maps every page but the holes.
struct FuzzDma {
    mem: Arc<VecMemory>,
    holes: u16,
    pins: RefCell<Vec<u64>>,
    unpins: RefCell<Vec<u64>>,
}

impl FuzzDma {
    fn mapped(&self, page: u64) -> bool {
        page < G && self.holes & (1 << (page / PAGE_SIZE)) == 0
    }
}

impl Dma for FuzzDma {
    fn read(&self, iova: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let end = iova.checked_add(buf.len() as u64).ok_or(Errno::EINVAL)?;
        let mut p = iova & !(PAGE_SIZE - 1);
        while p < end {
            if !self.mapped(p) {
                return Err(Errno::EINVAL);
            }
            p += PAGE_SIZE;
        }
        self.mem.read(iova, buf, AccessKey::ZERO).map_err(|_| Errno::EINVAL)
    }

    fn pin(&self, iova: u64) -> Result<u64, Errno> {
        let page = iova & !(PAGE_SIZE - 1);
        if self.mapped(page) {
            self.pins.borrow_mut().push(iova);
            Ok(GUEST_WINDOW + page)
        } else {
            Err(Errno::EINVAL)
        }
    }

    fn unpin(&self, iova: u64) {
        self.unpins.borrow_mut().push(iova);
    }
}

// --------------------------------------------------------- host storage

/// Host storage: the kernel area at `BASE` and guest storage behind the
/// window; every store is logged.
struct HostMem {
    kernel: VecMemory,
    guest: Arc<VecMemory>,
    stores: Mutex<Vec<(u64, usize)>>,
    /// Fetches outside the kernel area and guest storage.
    strays: Mutex<Vec<(u64, usize)>>,
}

enum Place {
    Kernel(u64),
    Guest(u64),
}

impl HostMem {
    fn place(&self, addr: u64, len: usize) -> Result<Place, AccessError> {
        let end = addr.checked_add(len as u64).ok_or(AccessError::Addressing { addr })?;
        if addr >= BASE && end <= BASE + KERNEL {
            Ok(Place::Kernel(addr - BASE))
        } else if addr >= GUEST_WINDOW && end <= GUEST_WINDOW + G {
            Ok(Place::Guest(addr - GUEST_WINDOW))
        } else {
            Err(AccessError::Addressing { addr })
        }
    }
}

impl GuestMemory for HostMem {
    fn size(&self) -> u64 {
        GUEST_WINDOW + G
    }

    fn read(&self, addr: u64, buf: &mut [u8], key: AccessKey) -> Result<(), AccessError> {
        let place = self.place(addr, buf.len());
        if place.is_err() {
            self.strays.lock().unwrap().push((addr, buf.len()));
        }
        match place? {
            Place::Kernel(a) => self.kernel.read(a, buf, key),
            Place::Guest(a) => self.guest.read(a, buf, key),
        }
    }

    fn write(&self, addr: u64, data: &[u8], key: AccessKey) -> Result<(), AccessError> {
        self.stores.lock().unwrap().push((addr, data.len()));
        match self.place(addr, data.len())? {
            Place::Kernel(a) => self.kernel.write(a, data, key),
            Place::Guest(a) => self.guest.write(a, data, key),
        }
    }

    fn fetch_or_u8(&self, addr: u64, mask: u8, key: AccessKey) -> Result<u8, AccessError> {
        self.stores.lock().unwrap().push((addr, 1));
        match self.place(addr, 1)? {
            Place::Kernel(a) => self.kernel.fetch_or_u8(a, mask, key),
            Place::Guest(a) => self.guest.fetch_or_u8(a, mask, key),
        }
    }

    fn fetch_or_u64_be(&self, addr: u64, mask: u64, key: AccessKey) -> Result<u64, AccessError> {
        self.stores.lock().unwrap().push((addr, 8));
        match self.place(addr, 8)? {
            Place::Kernel(a) => self.kernel.fetch_or_u64_be(a, mask, key),
            Place::Guest(a) => self.guest.fetch_or_u64_be(a, mask, key),
        }
    }
}

// ------------------------------------------------------------ building

fn addr8(a: u16) -> u64 {
    u64::from(a) & !7
}

/// Lays the guest program out; returns the segment addresses.
fn lay_out(input: &Input, mem: &VecMemory, c64: bool, format1: bool) -> Vec<u64> {
    let segs: Vec<&GuestSegment> = input.segments.iter().take(20).collect();
    let heads: Vec<u64> = segs.iter().map(|s| addr8(s.at)).collect();
    for (s, &head) in segs.iter().zip(&heads) {
        let mut at = head;
        let put = |at: &mut u64, cmd: u8, flags: u8, count: u16, cda: u32| {
            let c = Ccw {
                cmd,
                flags: zcss_ccw::CcwFlags::from_bits(flags),
                count,
                cda,
            };
            let raw = if format1 {
                c.to_format1().to_be_bytes()
            } else {
                zcss_ccw::mock::ccw0(cmd, flags, count, cda)
            };
            if *at + 8 <= G {
                let _ = mem.store(*at, &raw);
            }
            *at += 8;
        };
        for c in s.ccws.iter().take(64) {
            let mut flags = c.flags;
            let (cmd, cda) = match &c.data {
                DataRef::Area(a) => (c.cmd, u32::from(*a)),
                DataRef::Raw(v) => (c.cmd, *v),
                DataRef::Tic { seg, idx, misaligned } => {
                    let base = heads[usize::from(*seg) % heads.len()];
                    let t = base + 8 * u64::from(*idx % 32) + if *misaligned { 4 } else { 0 };
                    flags = 0;
                    (0x08, u32::try_from(t).unwrap_or(0))
                }
                DataRef::Idal { at: ia, idaws, raw } => {
                    flags |= 0x04;
                    let w = if c64 { 8 } else { 4 };
                    let base = u64::from(*ia) & !(w - 1);
                    for (k, &v) in idaws.iter().take(40).enumerate() {
                        let mut val = u64::from(v);
                        if let Some((i, r)) = raw {
                            if usize::from(*i) == k {
                                val = u64::from(*r);
                            }
                        }
                        let a = base + w * k as u64;
                        if a + w > G {
                            break;
                        }
                        let _ = if c64 {
                            mem.store(a, &val.to_be_bytes())
                        } else {
                            mem.store(a, &u32::try_from(val & 0xffff_ffff).unwrap_or(0).to_be_bytes())
                        };
                    }
                    let cmd = if c.cmd & 0x0f == 0x08 { c.cmd ^ 0x08 } else { c.cmd };
                    (cmd, u32::try_from(base).unwrap_or(0))
                }
            };
            put(&mut at, cmd, flags, c.count, cda);
        }
        if let Some(n) = s.nops {
            for _ in 0..(n % 300) {
                put(&mut at, 0x03, 0x40, 1, 0);
            }
        }
    }
    for (at, bytes) in input.overlays.iter().take(8) {
        let at = u64::from(*at);
        let n = bytes.len().min(usize::try_from(G - at).unwrap_or(0));
        let _ = mem.store(at, &bytes[..n]);
    }
    heads
}

// -------------------------------------------------------------- oracle

/// The guest CCW at `addr` of the snapshot, in format 1 terms as the
/// translator converts it (a format-0 TIC becomes command 0x08).
fn guest_ccw(snap: &[u8], addr: u64, format1: bool) -> Ccw {
    let a = usize::try_from(addr).unwrap_or(usize::MAX);
    let mut b = [0u8; 8];
    b.copy_from_slice(&snap[a..a + 8]);
    if format1 {
        Ccw::decode(CcwFormat::Format1, b)
    } else {
        let c = Ccw::decode(CcwFormat::Format0, b);
        if c.cmd & 0x0f == 0x08 {
            Ccw {
                cmd: 0x08,
                flags: zcss_ccw::CcwFlags::new(),
                count: 0,
                cda: c.cda,
            }
        } else {
            c
        }
    }
}

/// Whether data can move for the CCW `c` of command `cmd` (a zero count,
/// NO OPERATION, or skip on a read, read backward or sense moves none): the
/// CCWs whose pages the translator must pin.
fn moves_data(cmd: u8, c: &Ccw) -> bool {
    if c.count == 0 || cmd == 0x03 {
        return false;
    }
    let read_side = cmd & 0x03 == 0x02 || cmd & 0x0f == 0x0c || cmd & 0x0f == 0x04;
    !(c.flags.skip() && read_side)
}

/// The blocks (their first addresses) of `count` bytes from `first` in
/// blocks of `block` bytes.
fn blocks(first: u64, count: u16, block: u64) -> usize {
    let n = u64::from(count.max(1));
    usize::try_from(((first % block) + n).div_ceil(block)).unwrap_or(usize::MAX)
}

/// The guest addresses of the blocks the guest program names for `c`.
fn guest_idaws(snap: &[u8], c: &Ccw, c64: bool, block: u64, n: usize) -> Option<Vec<u64>> {
    let mut out = Vec::with_capacity(n);
    if c.flags.ida() {
        let w = if c64 { 8 } else { 4 };
        for i in 0..n {
            let a = usize::try_from(u64::from(c.cda) + w * i as u64).ok()?;
            let b = snap.get(a..a + usize::try_from(w).ok()?)?;
            out.push(if c64 {
                u64::from_be_bytes(b.try_into().ok()?)
            } else {
                u64::from(u32::from_be_bytes(b.try_into().ok()?))
            });
        }
    } else {
        let mut a = u64::from(c.cda);
        out.push(a);
        for _ in 1..n {
            a = (a + block) & !(block - 1);
            out.push(a);
        }
    }
    Some(out)
}

/// The device: the scripted steps, then (when `greedy`) as much data as
/// the CCW allows, in the command's direction; NO OPERATION moves nothing,
/// as every device's does.
struct Device {
    steps: Vec<(Vec<Action>, DeviceResult)>,
    next: usize,
    greedy: bool,
}

impl CcwDevice for Device {
    fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
        let (actions, result) = match self.steps.get(self.next) {
            Some((a, r)) => {
                self.next += 1;
                (a.as_slice(), *r)
            }
            None if self.greedy => (GREEDY, DeviceResult::OK),
            None => (&[][..], DeviceResult::OK),
        };
        if ccw.cmd == 0x03 {
            return result;
        }
        // Data flows one way: into storage for read, read-backward and
        // sense commands, out of it for the others.
        let input = ccw.cmd & 0x03 == 0x02 || ccw.cmd & 0x0f == 0x0c || ccw.cmd & 0x0f == 0x04;
        let mut buf = [0u8; 256];
        for a in actions {
            if data.failed() {
                break;
            }
            match *a {
                Action::Read(mut n) if !input => {
                    while n > 0 && !data.failed() {
                        let k = n.min(buf.len());
                        if data.read(&mut buf[..k]) < k {
                            break;
                        }
                        n -= k;
                    }
                }
                Action::Write(mut n, seed) if input => {
                    buf.fill(seed);
                    while n > 0 && !data.failed() {
                        let k = n.min(buf.len());
                        if data.write(&buf[..k]) < k {
                            break;
                        }
                        n -= k;
                    }
                }
                Action::Touch => {
                    data.write(&[]);
                }
                Action::Read(_) | Action::Write(..) => {}
            }
        }
        result
    }
}

#[derive(Clone, Copy)]
enum Action {
    Read(usize),
    Write(usize, u8),
    Touch,
}

const GREEDY: &[Action] = &[Action::Write(65535, 0xa5), Action::Read(65535)];

fn device(input: &Input) -> Device {
    let steps = input
        .script
        .iter()
        .take(64)
        .map(|s| {
            let actions = s
                .actions
                .iter()
                .take(4)
                .map(|a| match *a {
                    FuzzAction::Read(n) => Action::Read(usize::from(n)),
                    FuzzAction::Write(n, seed) => Action::Write(usize::from(n), seed),
                    FuzzAction::Touch => Action::Touch,
                })
                .collect();
            let result = DeviceResult {
                status: DeviceStatus::from_bits(s.status),
                sense: s.sense.map(Sense::byte0),
            };
            (actions, result)
        })
        .collect();
    Device {
        steps,
        next: 0,
        greedy: input.greedy,
    }
}

fn sorted(v: &[u64]) -> Vec<u64> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v
}

fuzz_target!(|input: Input| {
    let ctrl = OrbControls::from_bits(input.ctrl)
        .with_reserved(0)
        .with_transport_mode(false);
    let format1 = ctrl.format1();
    let c64 = ctrl.idaw_format2();
    let guest = Arc::new(VecMemory::new(G));
    let heads = lay_out(&input, &guest, c64, format1);
    let cpa = match input.cpa {
        Ok(n) if !heads.is_empty() => u32::try_from(heads[usize::from(n) % heads.len()]).unwrap_or(0),
        Ok(_) => 0,
        Err(v) => v,
    };
    let orb = Orb {
        intparm: input.intparm,
        ctrl,
        cpa,
        ..Orb::default()
    };
    let snap = guest.fetch(0, usize::try_from(G).unwrap_or(0)).expect("guest storage");
    let dma = FuzzDma {
        mem: guest.clone(),
        holes: input.holes,
        pins: RefCell::new(Vec::new()),
        unpins: RefCell::new(Vec::new()),
    };
    let mut cp = ChannelProgram::new(LAYOUT);
    let r = cp.translate(&orb, &dma);
    if r.is_err() {
        // A refusal releases everything.
        assert!(!cp.is_initialized());
        assert!(cp.pinned().is_empty());
        assert_eq!(sorted(&dma.pins.borrow()), sorted(&dma.unpins.borrow()), "{r:?}");
        return;
    }
    assert!(cp.is_initialized());
    assert!(dma.unpins.borrow().is_empty());
    assert_eq!(sorted(&dma.pins.borrow()), sorted(cp.pinned()));

    // Bounded host program.
    let segs = cp.segments().to_vec();
    assert!(
        !segs.is_empty() && segs.len() <= CCWCHAIN_COUNT_MAX,
        "{} segments",
        segs.len()
    );
    assert_eq!(segs[0].iova, orb.cpa & !7);
    assert_eq!(segs[0].misaligned, orb.cpa % 8 != 0);
    for s in &segs {
        assert!(s.len >= 1 && s.len <= CCWCHAIN_LEN_MAX, "segment of {} CCWs", s.len);
    }
    assert!(cp.host_idal().len() <= IDAL_CAPACITY);

    // The host ORB.
    let host_orb = cp.host_orb(0x0001_0007, 0x80);
    assert_eq!(host_orb.intparm, 0x0001_0007);
    assert!(host_orb.ctrl.format1() && host_orb.ctrl.idaw_format2());
    assert_eq!(host_orb.ctrl.idaw_2k(), !c64 || ctrl.idaw_2k());
    assert_eq!(host_orb.ctrl.key(), ctrl.key());
    assert_eq!(host_orb.cpa, cp.segment_host_addr(0) | (orb.cpa & 7));
    let block: u64 = if host_orb.ctrl.idaw_2k() { 2048 } else { 4096 };

    // Every host CCW against its guest CCW.
    let pinned_pages: BTreeSet<u64> = cp.pinned().iter().map(|p| p & !(PAGE_SIZE - 1)).collect();
    let idal = cp.host_idal();
    // The guest blocks the program moves data through: exactly what is
    // pinned (nothing for a CCW that moves none).
    let mut referenced = Vec::new();
    // The CCWs data chaining may reach, as (segment, index) of the host
    // program: after a CD CCW, or at the target of a TIC right after one.
    // The channel ignores their command codes (the chain's first command
    // gives the direction), so they move data whenever their count is not
    // zero. A guest CCW may have copies in several segments; a TIC runs the
    // copy its host TIC names (checked against the guest's target below),
    // and a TIC off a doubleword boundary program-checks before any fetch.
    let mut continued = BTreeSet::new();
    for (si, s) in segs.iter().enumerate() {
        let ccws = cp.host_ccws(si);
        for j in 1..s.len.min(ccws.len()) {
            let prev = Ccw1::from_bits(ccws[j - 1]);
            if prev.cmd() == 0x08 || !prev.flags().cd() {
                continue;
            }
            let here = Ccw1::from_bits(ccws[j]);
            if here.cmd() != 0x08 {
                continued.insert((si, j));
                continue;
            }
            for (k, t) in segs.iter().enumerate() {
                let hd = u64::from(cp.segment_host_addr(k));
                let off = u64::from(here.cda()).wrapping_sub(hd);
                if u64::from(here.cda()) >= hd && off < 8 * t.len as u64 {
                    if off % 8 == 0 {
                        continued.insert((k, usize::try_from(off / 8).unwrap_or(usize::MAX)));
                    }
                    break;
                }
            }
        }
    }
    for (si, s) in segs.iter().enumerate() {
        let head = cp.segment_host_addr(si);
        if s.misaligned {
            // A stand-in for a misaligned CCW address: one zero CCW that
            // nothing fetches (only misaligned host addresses name it).
            assert_eq!(s.len, 1);
            assert_eq!(
                (
                    Ccw1::from_bits(cp.host_ccws(si)[0]).cmd(),
                    Ccw1::from_bits(cp.host_ccws(si)[0]).count()
                ),
                (0, 0)
            );
            continue;
        }
        for (j, &raw) in cp.host_ccws(si).iter().enumerate() {
            let h = Ccw1::from_bits(raw);
            let g = guest_ccw(&snap, u64::from(s.iova) + 8 * j as u64, format1);
            let host_at = head + 8 * u32::try_from(j).unwrap_or(0);
            // Back-translation of this CCW's address, and of the one after.
            assert_eq!(cp.guest_cpa(host_at + 8), s.iova.wrapping_add(8 * (j as u32 + 1)));
            if g.cmd == 0x08 {
                assert_eq!(h.cmd(), 0x08);
                // The target: the host copy of the guest target.
                assert_eq!(cp.guest_cpa(h.cda()), g.cda, "TIC target");
                let inside = segs.iter().enumerate().any(|(k, t)| {
                    let hd = cp.segment_host_addr(k);
                    h.cda() >= hd && h.cda() < hd + 8 * t.len as u32
                });
                assert!(inside, "TIC leaves the host program: {:#x}", h.cda());
                continue;
            }
            assert_eq!((h.cmd(), h.count()), (g.cmd, g.count));
            assert_eq!(h.flags().into_bits(), g.flags.with_ida(true).into_bits());
            let off = u64::from(h.cda())
                .checked_sub(u64::from(LAYOUT.idal_base))
                .expect("IDAL in the pool");
            assert_eq!(off % 8, 0);
            let first = usize::try_from(off / 8).unwrap_or(usize::MAX);
            assert!(first < idal.len(), "IDAL beyond the pool in use");
            let n = blocks(idal[first], g.count, block);
            let cont = continued.contains(&(si, j));
            if !(moves_data(g.cmd, &g) || (cont && g.count != 0)) {
                continue;
            }
            // Guest IDAWs that the guest itself would use (2K blocks for
            // format-1 IDAWs, else the host's block).
            let gblock = if g.flags.ida() && !c64 { 2048 } else { block };
            let want = guest_idaws(&snap, &g, c64, gblock, n).expect("guest IDAL in storage");
            assert!(first + n <= idal.len(), "host IDAL shorter than the count");
            for (i, w) in want.iter().enumerate() {
                let hv = idal[first + i];
                let ga = hv
                    .checked_sub(GUEST_WINDOW)
                    .unwrap_or_else(|| panic!("host IDAW {hv:#x} outside guest storage"));
                assert!(
                    pinned_pages.contains(&(ga & !(PAGE_SIZE - 1))),
                    "host IDAW {hv:#x} in an unpinned page"
                );
                assert_eq!(ga, *w, "host IDAW {i} of {:#x}", host_at);
            }
            referenced.extend_from_slice(&want);
        }
    }
    assert_eq!(sorted(&referenced), sorted(cp.pinned()), "pinned blocks");
    for &v in input.probes.iter().take(8) {
        let hit = segs.iter().enumerate().find(|(k, t)| {
            // The host segment's CCWs, its closing zero CCW when there is
            // room for one, and the doubleword after that (cp_update_scsw
            // covers one past the last CCW the channel could have fetched).
            let hd = cp.segment_host_addr(*k);
            let fetchable = if t.len < CCWCHAIN_LEN_MAX { t.len + 1 } else { t.len };
            v >= hd && u64::from(v) <= u64::from(hd) + 8 * fetchable as u64
        });
        match hit {
            Some((k, t)) => assert_eq!(cp.guest_cpa(v), t.iova.wrapping_add(v - cp.segment_host_addr(k))),
            None => assert_eq!(cp.guest_cpa(v), v),
        }
    }

    // Run the host program.
    let host = HostMem {
        kernel: VecMemory::new(KERNEL),
        guest: guest.clone(),
        stores: Mutex::new(Vec::new()),
        strays: Mutex::new(Vec::new()),
    };
    let mut buf = Vec::new();
    cp.store(&mut buf, |a, b| host.write(a, b, AccessKey::ZERO))
        .expect("host program stored");
    host.stores.lock().unwrap().clear();
    let mut dev = device(&input);
    let limits = Limits {
        max_idle_ccws: 64,
        max_ccws: 8192,
    };
    let c = Engine::new(limits).start(&host, &host_orb, 0x80, &mut dev, &mut NoHooks);
    for &(a, len) in host.stores.lock().unwrap().iter() {
        let ga = a
            .checked_sub(GUEST_WINDOW)
            .unwrap_or_else(|| panic!("host store at {a:#x} outside guest storage"));
        let end = ga + len as u64;
        let mut p = ga & !(PAGE_SIZE - 1);
        while p < end {
            assert!(
                pinned_pages.contains(&p),
                "host store at {a:#x}+{len} in the unpinned guest page {p:#x}"
            );
            p += PAGE_SIZE;
        }
    }
    if let Some(&(a, len)) = host.strays.lock().unwrap().first() {
        panic!("the host channel fetched {len} bytes at {a:#x}, outside the host program and guest storage ({c:?})");
    }
    // The reported CCW address.
    let fetch_side = matches!(
        c.check,
        Some(CheckCause::InvalidCcwAddress | CheckCause::CcwAddressSpecification | CheckCause::WorkLimit)
    );
    // A segment shorter than 256 CCWs is closed by a zero CCW: a status
    // modifier on its next-to-last CCW makes the channel fetch that one
    // (a program check whose CCW address maps to the guest's doubleword
    // there).
    let hit = segs.iter().enumerate().find(|(k, t)| {
        let hd = cp.segment_host_addr(*k);
        let span = t.len as u32 + u32::from(t.len < CCWCHAIN_LEN_MAX);
        c.cpa >= hd + 8 && c.cpa <= hd + 8 * span
    });
    match hit {
        Some((k, t)) => assert_eq!(cp.guest_cpa(c.cpa), t.iova.wrapping_add(c.cpa - cp.segment_host_addr(k))),
        None if fetch_side => {
            let g = cp.guest_cpa(c.cpa);
            assert!(
                g == c.cpa || segs.iter().any(|t| g.wrapping_sub(t.iova) <= 8 * t.len as u32 + 8),
                "{c:?}"
            );
        }
        None => panic!(
            "the host channel reports CCW address {:#x}, after no CCW of the host program ({c:?}; segments {segs:?})",
            c.cpa
        ),
    }

    cp.free(&dma);
    assert!(!cp.is_initialized());
    assert_eq!(sorted(&dma.pins.borrow()), sorted(&dma.unpins.borrow()));
});
