//! The translator against hostile guest programs: one test (at least) per
//! fix of Linux's `vfio_ccw_cp.c`.

use std::cell::RefCell;

use zcss_ccw::memory::{AccessKey, GuestMemory, VecMemory};
use zcss_ccw::orb::{Orb, OrbControls};
use zcss_ccw::{Ccw0, Ccw1, CcwFlags};

use super::*;

/// Where guest pages appear in host storage.
const WINDOW: u64 = 1 << 40;
const MEM: u64 = 1 << 20;

const LAYOUT: HostLayout = HostLayout {
    ccw_base: 0x10_0000,
    idal_base: 0x20_0000,
    idal_capacity: MAX_IDAWS,
};

/// Guest storage through a recording IOMMU.
struct RecDma {
    mem: VecMemory,
    reads: RefCell<Vec<(u64, usize)>>,
    unpins: RefCell<Vec<u64>>,
}

impl RecDma {
    fn new() -> Self {
        Self {
            mem: VecMemory::new(MEM),
            reads: RefCell::new(Vec::new()),
            unpins: RefCell::new(Vec::new()),
        }
    }

    fn put(&self, addr: u64, b: &[u8]) {
        self.mem.store(addr, b).unwrap();
    }

    fn ccws(&self, addr: u64, ccws: &[[u8; 8]]) {
        for (i, c) in ccws.iter().enumerate() {
            self.put(addr + 8 * i as u64, c);
        }
    }

    fn read_count(&self, addr: u64) -> usize {
        self.reads.borrow().iter().filter(|&&(a, _)| a == addr).count()
    }
}

impl Dma for RecDma {
    fn read(&self, iova: u64, buf: &mut [u8]) -> Result<(), Errno> {
        self.reads.borrow_mut().push((iova, buf.len()));
        self.mem.read(iova, buf, AccessKey::ZERO).map_err(|_| Errno::EINVAL)
    }

    fn pin(&self, iova: u64) -> Result<u64, Errno> {
        let page = iova & !(PAGE_SIZE - 1);
        if page < self.mem.size() {
            Ok(WINDOW + page)
        } else {
            Err(Errno::EINVAL)
        }
    }

    fn unpin(&self, iova: u64) {
        self.unpins.borrow_mut().push(iova);
    }
}

fn ccw1(cmd: u8, flags: CcwFlags, count: u16, cda: u32) -> [u8; 8] {
    Ccw1::new()
        .with_cmd(cmd)
        .with_flags(flags)
        .with_count(count)
        .with_cda(cda)
        .to_be_bytes()
}

fn ccw0(cmd: u8, flags: CcwFlags, count: u16, cda: u32) -> [u8; 8] {
    Ccw0::new()
        .with_cmd(cmd)
        .with_cda(cda)
        .with_flags(flags)
        .with_count(count)
        .to_be_bytes()
}

fn none() -> CcwFlags {
    CcwFlags::new()
}

fn cc() -> CcwFlags {
    CcwFlags::new().with_cc(true)
}

fn tic(target: u32) -> [u8; 8] {
    ccw1(0x08, none(), 0, target)
}

fn orb(cpa: u32, ctrl: OrbControls) -> Orb {
    Orb {
        intparm: 0xdead_beef,
        ctrl: ctrl.with_prefetch(true).with_lpm(0xff),
        cpa,
        ..Orb::default()
    }
}

fn fmt1() -> OrbControls {
    OrbControls::new().with_format1(true)
}

fn c64() -> OrbControls {
    fmt1().with_idaw_format2(true)
}

fn host(cp: &ChannelProgram, seg: usize, i: usize) -> Ccw1 {
    Ccw1::from_bits(cp.host_ccws(seg)[i])
}

/// The host IDAW at host address `addr`.
fn host_idaw(cp: &ChannelProgram, addr: u32, i: usize) -> u64 {
    let idx = (u64::from(addr) - u64::from(LAYOUT.idal_base)) / 8;
    cp.host_idal()[usize::try_from(idx).unwrap() + i]
}

#[test]
fn translate_direct_read_builds_a_pinned_4k_idal() {
    let d = RecDma::new();
    d.ccws(0x1000, &[ccw1(0x02, none(), 0x1800, 0x8100)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, c64()), &d).unwrap();
    let c = host(&cp, 0, 0);
    assert!(c.flags().ida());
    assert_eq!((c.cmd(), c.count()), (0x02, 0x1800));
    assert_eq!(host_idaw(&cp, c.cda(), 0), WINDOW + 0x8100);
    assert_eq!(host_idaw(&cp, c.cda(), 1), WINDOW + 0x9000);
    assert_eq!(cp.pinned(), &[0x8100, 0x9000]);
}

#[test]
fn host_orb_is_format1_c64_keeps_key_and_points_at_segment0() {
    // 155a4321c117: the guest key is kept (it was forced to 0).
    let d = RecDma::new();
    d.ccws(0x1000, &[ccw1(0x03, none(), 0, 0)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    let mut o = orb(0x1000, OrbControls::new().with_key(6));
    o.ctrl = o.ctrl.with_lpm(0);
    cp.translate(&o, &d).unwrap();
    let h = cp.host_orb(0x0001_0042, 0xc0);
    assert_eq!(h.intparm, 0x0001_0042);
    assert!(h.ctrl.format1() && h.ctrl.idaw_format2() && h.ctrl.idaw_2k());
    assert_eq!(h.ctrl.key(), 6);
    assert_eq!(h.ctrl.lpm(), 0xc0);
    assert!(h.ctrl.prefetch());
    assert_eq!(h.cpa, LAYOUT.ccw_base);
    let h4k = {
        let mut cp = ChannelProgram::new(LAYOUT);
        cp.translate(&orb(0x1000, c64()), &d).unwrap();
        cp.host_orb(1, 0x80)
    };
    assert!(!h4k.ctrl.idaw_2k());
    assert_eq!(h4k.ctrl.lpm(), 0xff);
}

#[test]
fn host_orb_of_a_format0_program_keeps_format0_incorrect_length_rules() {
    let d = RecDma::new();
    d.ccws(0x1000, &[[0x03, 0, 0, 0, 0, 0, 0, 1]]);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, OrbControls::new()), &d).unwrap();
    let h = cp.host_orb(1, 0x80);
    assert!(h.ctrl.format1() && h.ctrl.ils(), "format 1 with L");
    let mut cp1 = ChannelProgram::new(LAYOUT);
    cp1.translate(&orb(0x1000, c64()), &d).unwrap();
    assert!(!cp1.host_orb(1, 0x80).ctrl.ils(), "a format-1 guest's L is its own");
}

#[test]
fn init_twice_is_ebusy() {
    let d = RecDma::new();
    d.ccws(0x1000, &[ccw1(0x03, none(), 0, 0)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, fmt1()), &d).unwrap();
    let e = cp.init(&orb(0x1000, fmt1()), &d).unwrap_err();
    assert_eq!((e, e.errno()), (CpError::Busy, Errno::EBUSY));
    cp.free(&d);
    assert!(cp.init(&orb(0x1000, fmt1()), &d).is_ok());
}

#[test]
fn segment_reads_2k_however_short_the_chain() {
    let d = RecDma::new();
    d.ccws(0x1000, &[ccw1(0x03, none(), 0, 0)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, fmt1()), &d).unwrap();
    assert_eq!(d.reads.borrow()[0], (0x1000, 2048));
}

#[test]
fn segment_in_last_kib_of_storage_is_refused_even_when_short() {
    // The 2 KiB read runs past the end of storage.
    let d = RecDma::new();
    let at = u32::try_from(MEM - 1024).unwrap();
    d.ccws(u64::from(at), &[ccw1(0x03, none(), 0, 0)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    let e = cp.translate(&orb(at, fmt1()), &d).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL);
    assert!(!cp.is_initialized());
}

#[test]
fn segment_of_256_chained_ccws_is_accepted() {
    let d = RecDma::new();
    let mut prog = vec![ccw1(0x03, cc(), 0, 0); 255];
    prog.push(ccw1(0x03, none(), 0, 0));
    d.ccws(0x1000, &prog);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, fmt1()), &d).unwrap();
    assert_eq!(cp.segments()[0].len, 256);
}

#[test]
fn segment_256th_ccw_chaining_is_refused_without_a_257th_read() {
    // Linux mainline looped to cnt < 257 and read one entry past its
    // 256-entry buffer ("fix out-of-bounds check on CCW array", 2026).
    let d = RecDma::new();
    d.ccws(0x1000, &vec![ccw1(0x03, cc(), 0, 0); 256]);
    // The 257th would end the chain: it must not be consulted.
    d.ccws(0x1000 + 256 * 8, &[ccw1(0x03, none(), 0, 0)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    let e = cp.translate(&orb(0x1000, fmt1()), &d).unwrap_err();
    assert_eq!(e, CpError::SegmentTooLong { iova: 0x1000 });
    assert_eq!(e.errno(), Errno::EINVAL);
    assert_eq!(*d.reads.borrow(), vec![(0x1000, 2048)]);
}

#[test]
fn tic_back_into_segment_keeps_counting() {
    // A DASD search loop: SEARCH (CC), TIC back to it, then READ.
    let d = RecDma::new();
    d.ccws(
        0x1000,
        &[
            ccw1(0x07, cc(), 6, 0x3000),
            ccw1(0x31, cc(), 5, 0x3008),
            tic(0x1008),
            ccw1(0x06, none(), 512, 0x4000),
        ],
    );
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, c64()), &d).unwrap();
    assert_eq!(cp.segments().len(), 1);
    assert_eq!(cp.segments()[0].len, 4);
    // TIC target: the same byte offset in the host segment (2017 ×8 bug).
    assert_eq!(host(&cp, 0, 2).cda(), LAYOUT.ccw_base + 8);
}

#[test]
fn tic_outside_segments_starts_a_new_segment_and_into_known_one_does_not() {
    let d = RecDma::new();
    d.ccws(0x1000, &[ccw1(0x03, cc(), 0, 0), tic(0x2000)]);
    d.ccws(0x2000, &[ccw1(0x03, cc(), 0, 0), tic(0x1004)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, fmt1()), &d).unwrap();
    assert_eq!(cp.segments().len(), 2);
    assert_eq!(cp.segments()[1].iova, 0x2000);
    // The misaligned target keeps its offset: the host channel checks it.
    assert_eq!(host(&cp, 1, 1).cda(), LAYOUT.ccw_base + 4);
    assert_eq!(host(&cp, 0, 1).cda(), LAYOUT.ccw_base + SEGMENT_BYTES);
}

#[test]
fn misaligned_tic_target_outside_the_program_reads_nothing_and_keeps_its_low_bits() {
    // Fuzz finding (vfio_translate, seed regress-misaligned-tic-segment):
    // Linux reads a segment at the odd address and its host copy is
    // aligned, so the host ran CCWs the guest's channel never fetches.
    let d = RecDma::new();
    d.ccws(0x1000, &[ccw1(0x03, cc(), 0, 0), tic(0x3004)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, fmt1()), &d).unwrap();
    assert_eq!(d.read_count(0x3004), 0);
    let s1 = cp.segments()[1];
    assert!(s1.misaligned && s1.iova == 0x3000 && s1.len == 1);
    let head = LAYOUT.ccw_base + SEGMENT_BYTES;
    assert_eq!(host(&cp, 0, 1).cda(), head + 4);
    // The host channel's program check names the fetched address + 8.
    assert_eq!(cp.guest_cpa(head + 12), 0x300c);
    assert!(cp.pinned().is_empty());
}

#[test]
fn misaligned_orb_cpa_starts_the_host_at_a_misaligned_address() {
    let d = RecDma::new();
    d.ccws(0x1000, &[ccw1(0x02, none(), 8, 0x8000), ccw1(0x02, none(), 8, 0x8000)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1004, fmt1()), &d).unwrap();
    assert_eq!(d.read_count(0x1004), 0);
    assert!(cp.pinned().is_empty());
    assert_eq!(cp.host_orb(1, 0x80).cpa, LAYOUT.ccw_base + 4);
    assert_eq!(cp.guest_cpa(LAYOUT.ccw_base + 12), 0x100c);
}

fn tic_chain(d: &RecDma, segments: u32) {
    for s in 0..segments {
        let at = 0x1_0000 + s * 0x1000;
        let next = if s + 1 < segments {
            tic(at + 0x1000)
        } else {
            ccw1(0x03, none(), 0, 0)
        };
        d.ccws(u64::from(at), &[ccw1(0x03, cc(), 0, 0), next]);
    }
}

#[test]
fn sixteen_segments_are_accepted() {
    let d = RecDma::new();
    tic_chain(&d, 16);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1_0000, fmt1()), &d).unwrap();
    assert_eq!(cp.segments().len(), 16);
}

#[test]
fn seventeen_segments_are_refused_enomem_and_everything_is_released() {
    // "limit channel-program segments to 16" and "free all memory if
    // cp_init() fails" (2026).
    let d = RecDma::new();
    tic_chain(&d, 17);
    let mut cp = ChannelProgram::new(LAYOUT);
    let e = cp.translate(&orb(0x1_0000, fmt1()), &d).unwrap_err();
    assert_eq!((e, e.errno()), (CpError::TooManySegments, Errno::ENOMEM));
    assert!(cp.segments().is_empty());
    assert!(!cp.is_initialized());
    assert_ne!(cp.init(&orb(0x1000, fmt1()), &d), Err(CpError::Busy));
}

#[test]
fn endless_tic_ring_ends_at_sixteen_segments() {
    // Each segment TICs to a fresh address: the recursion is bounded.
    let d = RecDma::new();
    for s in 0..40u32 {
        let at = 0x1_0000 + s * 0x800;
        d.ccws(u64::from(at), &[tic(at + 0x800)]);
    }
    let mut cp = ChannelProgram::new(LAYOUT);
    assert_eq!(cp.translate(&orb(0x1_0000, fmt1()), &d), Err(CpError::TooManySegments));
}

#[test]
fn format0_program_is_converted_before_counting() {
    // 7f8e89a8f2fd: converting with len = 0 left the chain unconverted.
    let d = RecDma::new();
    d.ccws(
        0x1000,
        &[
            ccw0(0x02, cc(), 80, 0x0a_3456),
            ccw0(0x18, CcwFlags::new().with_cc(true).with_sli(true), 7, 0x1000),
            ccw0(0x01, none(), 16, 0x4000),
        ],
    );
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, OrbControls::new()), &d).unwrap();
    assert_eq!(cp.segments()[0].len, 3);
    let c0 = host(&cp, 0, 0);
    assert_eq!((c0.cmd(), c0.count()), (0x02, 80));
    assert!(c0.flags().cc() && c0.flags().ida());
    // The TIC (high nibble ignored in format 0) becomes a clean format-1 TIC.
    let t = host(&cp, 0, 1);
    assert_eq!((t.cmd(), t.flags().into_bits(), t.count()), (0x08, 0, 0));
    assert_eq!(t.cda(), LAYOUT.ccw_base);
    // Format-0 direct data under C64 = 0: a 2K format-2 IDAL.
    assert_eq!(host_idaw(&cp, c0.cda(), 0), WINDOW + 0x0a_3456);
}

#[test]
fn direct_ccw_under_non_c64_orb_is_accepted_with_2k_idaws() {
    // fb9e7880af35 and the 2022 series: direct CCWs under !c64 (and i2k)
    // are fine and become 2K format-2 IDALs; 2K IDAWs are not coalesced.
    let d = RecDma::new();
    d.ccws(0x1000, &[ccw1(0x02, none(), 4096, 0x8400)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, fmt1()), &d).unwrap();
    let c = host(&cp, 0, 0);
    let idaws: Vec<u64> = (0..3).map(|i| host_idaw(&cp, c.cda(), i)).collect();
    assert_eq!(idaws, vec![WINDOW + 0x8400, WINDOW + 0x8800, WINDOW + 0x9000]);
    assert_eq!(cp.pinned(), &[0x8400, 0x8800, 0x9000]);
}

#[test]
fn format1_idal_becomes_2k_format2_idal() {
    // "handle a guest Format-1 IDAL" (2022).
    let d = RecDma::new();
    let ida = CcwFlags::new().with_ida(true);
    d.ccws(0x1000, &[ccw1(0x02, ida, 3000, 0x3000)]);
    d.put(0x3000, &[0, 0, 0x87, 0x00, 0, 0, 0x90, 0x00]);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, fmt1()), &d).unwrap();
    let c = host(&cp, 0, 0);
    assert_eq!(host_idaw(&cp, c.cda(), 0), WINDOW + 0x8700);
    assert_eq!(host_idaw(&cp, c.cda(), 1), WINDOW + 0x9000);
}

#[test]
fn format1_idal_is_read_four_bytes_per_idaw() {
    // 667e5dbabf2b (read only one format-1 IDAW) and "calculate IDAL
    // length by IDAW type" (2026): a two-IDAW format-1 IDAL in the last 8
    // bytes of storage is valid; reading 8 bytes per IDAW would fail.
    let d = RecDma::new();
    let ida = CcwFlags::new().with_ida(true);
    let idal = MEM - 8;
    d.ccws(0x1000, &[ccw1(0x02, ida, 2048, u32::try_from(idal).unwrap())]);
    d.put(idal, &[0, 0, 0x87, 0x00, 0, 0, 0x90, 0x00]);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, fmt1()), &d).unwrap();
    let reads: Vec<(u64, usize)> = d.reads.borrow().iter().copied().filter(|&(a, _)| a >= idal).collect();
    assert_eq!(reads, vec![(idal, 4), (idal + 4, 4)]);
}

#[test]
fn every_guest_idaw_is_fetched_exactly_once() {
    // "ensure first IDAW remains constant" (2026): the first IDAW was read
    // once to count and again with the list.
    let d = RecDma::new();
    let ida = CcwFlags::new().with_ida(true);
    d.ccws(0x1000, &[ccw1(0x02, ida, 0x3000, 0x3000)]);
    for (i, a) in [0x8800u64, 0x9000, 0xa000, 0xb000].iter().enumerate() {
        d.put(0x3000 + 8 * i as u64, &a.to_be_bytes());
    }
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, c64()), &d).unwrap();
    for i in 0..4 {
        assert_eq!(d.read_count(0x3000 + 8 * i), 1, "IDAW {i}");
    }
    assert_eq!(cp.pinned(), &[0x8800, 0x9000, 0xa000, 0xb000]);
}

/// An IOMMU whose guest rewrites the first IDAW right after it is read
/// (the TOCTOU of the 2026 fix).
struct Racing(RecDma);

impl Dma for Racing {
    fn read(&self, iova: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let r = self.0.read(iova, buf);
        if iova == 0x3000 {
            // The guest moves the first IDAW to the end of a page, which
            // would need one more IDAW.
            self.0.put(0x3000, &0x8ff8u64.to_be_bytes());
        }
        r
    }

    fn pin(&self, iova: u64) -> Result<u64, Errno> {
        self.0.pin(iova)
    }
}

#[test]
fn first_idaw_changed_by_the_guest_after_counting_is_not_used() {
    let d = Racing(RecDma::new());
    let ida = CcwFlags::new().with_ida(true);
    d.0.ccws(0x1000, &[ccw1(0x02, ida, 0x1000, 0x3000)]);
    d.0.put(0x3000, &0x8000u64.to_be_bytes());
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, c64()), &d).unwrap();
    let c = host(&cp, 0, 0);
    // One IDAW counted, one IDAW built, from the value counted.
    assert_eq!(cp.host_idal().len(), 1);
    assert_eq!(host_idaw(&cp, c.cda(), 0), WINDOW + 0x8000);
}

#[test]
fn empty_transfers_are_not_pinned() {
    // "Don't pin vfio pages for empty transfers" (2019): count 0, NOP, and
    // skip on read, read backward and sense keep unpinnable addresses.
    let d = RecDma::new();
    let skip = CcwFlags::new().with_skip(true).with_cc(true);
    let bad = 0x7fff_f000;
    d.ccws(
        0x1000,
        &[
            ccw1(0x02, cc(), 0, bad),
            ccw1(0x03, cc(), 16, bad),
            ccw1(0x02, skip, 16, bad),
            ccw1(0x0c, skip, 16, bad),
            ccw1(0x04, skip, 16, bad),
            ccw1(0xe4, skip.with_cc(false), 16, bad),
        ],
    );
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, c64()), &d).unwrap();
    assert!(cp.pinned().is_empty());
    // The IDAL keeps the guest's (unpinned) address, as Linux's does.
    assert_eq!(host_idaw(&cp, host(&cp, 0, 0).cda(), 0), u64::from(bad));
}

#[test]
fn data_chained_nop_continuation_is_pinned_and_translated() {
    // Fuzz finding (vfio_translate, crash-data-chain-nop-store): the
    // channel ignores a data-chained CCW's command code, so a "NOP"
    // continuation of a READ moves data; the kernel's
    // ccw_does_data_transfer judges it by its own code and leaves its guest
    // address in the host IDAL.
    let d = RecDma::new();
    let cd = CcwFlags::new().with_cd(true);
    d.ccws(0x1000, &[ccw1(0x02, cd, 16, 0x8000), ccw1(0x03, none(), 16, 0x9000)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, c64()), &d).unwrap();
    assert_eq!(cp.pinned(), &[0x8000, 0x9000]);
    assert_eq!(host_idaw(&cp, host(&cp, 0, 1).cda(), 0), WINDOW + 0x9000);
}

#[test]
fn data_chain_through_a_tic_marks_the_target_as_continuation() {
    let d = RecDma::new();
    let cd = CcwFlags::new().with_cd(true);
    d.ccws(0x1000, &[ccw1(0x02, cd, 16, 0x8000), ccw1(0x08, none(), 0, 0x2000)]);
    d.ccws(0x2000, &[ccw1(0x03, none(), 16, 0xa000)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, c64()), &d).unwrap();
    assert_eq!(cp.segments().len(), 2);
    assert_eq!(cp.pinned(), &[0x8000, 0xa000]);
}

#[test]
fn data_chain_through_a_misaligned_tic_marks_nothing() {
    // Fuzz finding (vfio_translate, seed regress-misaligned-tic): a TIC to an
    // address that is not a doubleword ends the program with a program
    // check before any CCW is fetched there, so the CCW of the doubleword
    // it points into continues nothing and its NOP pins nothing.
    let d = RecDma::new();
    let cd = CcwFlags::new().with_cd(true);
    d.ccws(
        0x1000,
        &[
            ccw1(0x03, cc(), 16, 0xa000),
            ccw1(0x02, cd, 16, 0x8000),
            ccw1(0x08, none(), 0, 0x1003),
            ccw1(0x03, none(), 0, 0),
        ],
    );
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, c64()), &d).unwrap();
    assert_eq!(cp.segments().len(), 1);
    assert_eq!(cp.pinned(), &[0x8000]);
}

#[test]
fn status_modifier_skip_past_a_segment_hits_a_closing_zero_ccw() {
    // Fuzz finding (crash-status-modifier-past-segment): WRITE (CC) then a
    // last CCW; a status modifier on the WRITE skips the last CCW. The host
    // channel must not run whatever follows the segment: a zero CCW closes
    // it, and the program check's CCW address maps to the guest's
    // doubleword after the skipped CCW.
    let d = RecDma::new();
    d.ccws(0x1000, &[ccw1(0x01, cc(), 8, 0x8000), ccw1(0x03, none(), 0, 0)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, c64()), &d).unwrap();
    let mut stored = Vec::new();
    let mut buf = Vec::new();
    cp.store(&mut buf, |a, b| {
        stored.push((a, b.to_vec()));
        Ok::<(), ()>(())
    })
    .unwrap();
    let (addr, bytes) = &stored[0];
    assert_eq!(*addr, u64::from(cp.segment_host_addr(0)));
    assert_eq!(bytes.len(), 3 * 8, "two CCWs and the closing zero CCW");
    assert_eq!(&bytes[16..], &[0u8; 8]);
    let head = cp.segment_host_addr(0);
    assert_eq!(cp.guest_cpa(head + 24), 0x1018, "after the closing CCW");
    assert_eq!(cp.guest_cpa(head + 32), head + 32, "beyond: passed through");
}

#[test]
fn skip_on_a_write_is_pinned_and_an_unpinnable_page_refuses() {
    let d = RecDma::new();
    let skip = CcwFlags::new().with_skip(true);
    d.ccws(0x1000, &[ccw1(0x01, skip, 16, 0x7fff_f000)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    let e = cp.translate(&orb(0x1000, c64()), &d).unwrap_err();
    assert!(matches!(e, CpError::Pin { iova: 0x7fff_f000, .. }));
    assert_eq!(e.errno(), Errno::EINVAL);
}

#[test]
fn failed_prefetch_releases_only_what_was_pinned() {
    // "fix cleanup if cp_prefetch fails": the untranslated rest is not
    // unpinned; everything pinned is.
    let d = RecDma::new();
    d.ccws(
        0x1000,
        &[
            ccw1(0x02, cc(), 100, 0x8000),
            ccw1(0x02, cc(), 100, 0x9000),
            ccw1(0x02, none(), 100, 0x7fff_0000),
        ],
    );
    let mut cp = ChannelProgram::new(LAYOUT);
    assert!(cp.translate(&orb(0x1000, c64()), &d).is_err());
    assert_eq!(*d.unpins.borrow(), vec![0x8000, 0x9000]);
    assert!(cp.pinned().is_empty() && !cp.is_initialized());
}

#[test]
fn partial_pin_of_one_ccw_is_undone() {
    let d = RecDma::new();
    // Crosses the end of storage: the first page pins, the second not.
    let at = u32::try_from(MEM - 0x800).unwrap();
    d.ccws(0x1000, &[ccw1(0x02, none(), 0x1000, at)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    assert!(matches!(
        cp.translate(&orb(0x1000, c64()), &d),
        Err(CpError::Pin { iova, .. }) if iova == MEM
    ));
    assert_eq!(*d.unpins.borrow(), vec![u64::from(at)]);
}

#[test]
fn guest_cpa_maps_every_host_ccw_and_one_past_the_last() {
    // cp_update_scsw covers ch_len + 1 (the 2017 version used ch_len − 1).
    let d = RecDma::new();
    d.ccws(0x1000, &[ccw1(0x03, cc(), 0, 0), tic(0x2000)]);
    d.ccws(0x2000, &[ccw1(0x03, cc(), 0, 0), ccw1(0x03, none(), 0, 0)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, fmt1()), &d).unwrap();
    let s1 = LAYOUT.ccw_base + SEGMENT_BYTES;
    assert_eq!(cp.guest_cpa(LAYOUT.ccw_base + 8), 0x1008);
    assert_eq!(cp.guest_cpa(LAYOUT.ccw_base + 16), 0x1010);
    assert_eq!(cp.guest_cpa(s1 + 16), 0x2010);
    // And the closing zero CCW's (a status-modifier skip past the end).
    assert_eq!(cp.guest_cpa(s1 + 24), 0x2018);
    // Unknown values pass through untranslated.
    assert_eq!(cp.guest_cpa(s1 + 32), s1 + 32);
    assert_eq!(cp.guest_cpa(0x42), 0x42);
    cp.free(&d);
    assert_eq!(cp.guest_cpa(LAYOUT.ccw_base + 8), LAYOUT.ccw_base + 8);
}

#[test]
fn store_writes_segments_and_idals_big_endian() {
    let d = RecDma::new();
    d.ccws(0x1000, &[ccw1(0x02, none(), 8, 0x8000)]);
    let mut cp = ChannelProgram::new(LAYOUT);
    cp.translate(&orb(0x1000, c64()), &d).unwrap();
    let mut writes = Vec::new();
    let mut buf = Vec::new();
    cp.store(&mut buf, |a, b| {
        writes.push((a, b.to_vec()));
        Ok::<(), ()>(())
    })
    .unwrap();
    assert_eq!(writes.len(), 2);
    assert_eq!(writes[0].0, u64::from(LAYOUT.ccw_base));
    assert_eq!(writes[0].1[..4], [0x02, 0x04, 0x00, 0x08]);
    assert_eq!(writes[1].1, (WINDOW + 0x8000).to_be_bytes());
}

#[test]
fn idal_pool_exhaustion_is_enomem() {
    let d = RecDma::new();
    d.ccws(0x1000, &[ccw1(0x02, none(), 0x2000, 0x8000)]);
    let mut cp = ChannelProgram::new(HostLayout {
        idal_capacity: 1,
        ..LAYOUT
    });
    assert_eq!(
        cp.translate(&orb(0x1000, c64()), &d).unwrap_err().errno(),
        Errno::ENOMEM
    );
}
