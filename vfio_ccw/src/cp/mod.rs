//! Channel-program translation as Linux's vfio-ccw does it
//! (`drivers/s390/cio/vfio_ccw_cp.c`, with every fix through the 2026
//! series): the guest's program, read through the IOMMU (IOVA = guest
//! absolute address), becomes a host program of format-1 CCWs with
//! format-2 IDALs over pinned pages, and the CCW address of every status
//! the host stores is translated back.
//!
//! # How the program is found ([`ChannelProgram::init`])
//! The kernel does not execute the guest program to find it; it reads
//! *segments* — CCWs stored one after another:
//! * a segment starts at the ORB's channel-program address or at a TIC
//!   target outside every segment known so far; 2 KiB (256 CCWs) are read
//!   there, whatever the program's length, and a read that fails refuses
//!   the program;
//! * format-0 CCWs become format-1 CCWs (all 256 read, before counting): a
//!   TIC (`cmd & 0x0f == 0x08`) becomes command 0x08 with flags and count
//!   zero, other CCWs keep command, flags and count, the data address is
//!   the 24-bit one;
//! * the segment continues while a CCW chains (CC or CD), or is a TIC back
//!   into the CCWs counted so far (a DASD's search loop); at most 256 CCWs:
//!   a 256th CCW that still chains refuses the program without reading a
//!   257th entry (Linux mainline read one past its buffer; fixed 2026);
//! * each TIC of a new segment whose target lies in no known segment starts
//!   another one; at most 16 segments (2026 fix: the recursion was
//!   unbounded), the 17th is `ENOMEM`;
//! * TIC-to-TIC, a TIC as first CCW, TIC flags and count, misaligned
//!   targets and every other CCW rule are *not* checked: the offset is
//!   kept, and the host channel, running the translated program, raises the
//!   program check the architecture asks for (here the host css and its
//!   [`ProgramWalker`](zcss_ccw::ProgramWalker)).
//!
//! # How a CCW is translated ([`ChannelProgram::prefetch`])
//! * a TIC's target becomes the host address of the same offset in the
//!   first segment (in list order) holding it (none: `EFAULT`);
//! * every other CCW gets an IDAL over host memory and the IDA flag:
//!   - the IDAW size of the whole program is 2K when the ORB has no 64-bit
//!     IDAWs (C64 = 0) or asks for 2K IDAWs (I2K), 4K otherwise; the host
//!     ORB says which ([`ChannelProgram::host_orb`]);
//!   - the number of IDAWs covers the count (a zero count needs one) from
//!     the first data address: the CCW's address for a direct CCW, the
//!     first guest IDAW for an IDA CCW;
//!   - an IDA CCW's guest IDAWs are fetched **exactly once**, the first one
//!     (needed for the count) included — the 2026 fix of the TOCTOU where
//!     the first IDAW was read twice — and the list is read with the
//!     length its IDAW format gives (4 bytes per format-1 IDAW, not 8:
//!     2022 and 2026 fixes); a direct CCW's IDAWs are built from its
//!     address, each following one on a block boundary;
//!   - the pages are pinned only when data can move: not for a zero count,
//!     a NOP (0x03), or with skip on a read, read-backward or sense
//!     command; a page that cannot be pinned refuses the program
//!     (`EINVAL`); unpinned IDALs keep the guest's values, as Linux's do;
//!   - each IDAW becomes the host page plus the guest IDAW's offset in it.
//! * an error truncates the segment to what was translated, and
//!   [`ChannelProgram::free`] releases everything, TIC-created segments
//!   included (2026 fix).
//!
//! # Back-translation ([`ChannelProgram::update_scsw`])
//! A host CCW address within a segment, one past its last CCW included,
//! maps to the same offset in the guest's segment; any other value passes
//! through unchanged.
//!
//! Every storage access goes through [`Dma`]: IOMMU reads (no storage key)
//! and page pins. The translator allocates nothing once its pools have
//! grown to the largest program seen.

mod chain;
mod idal;
#[cfg(test)]
mod tests;

use zcss_ccw::orb::Orb;
use zcss_ccw::scsw::Scsw;
use zcss_ccw::ProgramControls;
use zcss_ccw::{CcwFlags, IdawFormat};

use crate::uapi::Errno;

/// CCWs per segment (`CCWCHAIN_LEN_MAX`).
pub const CCWCHAIN_LEN_MAX: usize = 256;
/// Segments per program (`CCWCHAIN_COUNT_MAX`, 2026).
pub const CCWCHAIN_COUNT_MAX: usize = 16;
/// Bytes of one segment's guest read and host area (256 × 8).
pub const SEGMENT_BYTES: u32 = 2048;
/// The page size pins are made in.
pub const PAGE_SIZE: u64 = 4096;
/// Most IDAWs one CCW can need (count 65535 from the last byte of a 2K
/// block).
pub const MAX_IDAWS_PER_CCW: usize = 33;
/// Most IDAWs a program can need.
pub const MAX_IDAWS: usize = CCWCHAIN_LEN_MAX * CCWCHAIN_COUNT_MAX * MAX_IDAWS_PER_CCW;

/// The kernel's access to guest storage through the IOMMU.
pub trait Dma {
    /// Reads guest storage at `iova` (`vfio_dma_rw`: no storage key).
    ///
    /// # Errors
    /// `EINVAL` when the range is not mapped.
    fn read(&self, iova: u64, buf: &mut [u8]) -> Result<(), Errno>;

    /// Pins the page holding `iova`; returns the host address of that page
    /// (`vfio_pin_pages`).
    ///
    /// # Errors
    /// `EINVAL` when the page is not mapped.
    fn pin(&self, iova: u64) -> Result<u64, Errno>;

    /// Releases a page pinned by [`Dma::pin`].
    fn unpin(&self, _iova: u64) {}
}

/// Where the host program lives in host storage: CCW segments and IDALs
/// must be 31-bit addressable (the kernel allocates them `GFP_DMA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostLayout {
    /// Host address of segment 0; segment *i* is at `+ i × 2048`.
    pub ccw_base: u32,
    /// Host address of the IDAL pool.
    pub idal_base: u32,
    /// IDAWs the IDAL pool holds.
    pub idal_capacity: usize,
}

impl HostLayout {
    /// Host storage the layout needs: the end of its last area.
    #[must_use]
    pub fn end(&self) -> u64 {
        let ccw_end = u64::from(self.ccw_base) + u64::from(SEGMENT_BYTES) * CCWCHAIN_COUNT_MAX as u64;
        let idal_end = u64::from(self.idal_base) + 8 * self.idal_capacity as u64;
        ccw_end.max(idal_end)
    }
}

/// Why the translator refused a program; [`CpError::errno`] is what the
/// I/O-region write returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum CpError {
    /// A program is already translated (`cp_init` on an initialized
    /// program).
    #[error("a channel program is already in progress")]
    Busy,
    /// Guest storage could not be read (a segment's 2 KiB, an IDAW or an
    /// IDAL).
    #[error("cannot read guest storage at {iova:#x}")]
    Read {
        /// Where.
        iova: u64,
        /// The IOMMU's errno.
        errno: Errno,
    },
    /// A segment's 256th CCW still chains.
    #[error("segment at {iova:#x} exceeds 256 CCWs")]
    SegmentTooLong {
        /// The segment's first CCW.
        iova: u32,
    },
    /// A 17th segment.
    #[error("more than 16 channel-program segments")]
    TooManySegments,
    /// A TIC whose target is in no segment (cannot happen for a program
    /// `init` built, kept for the kernel's check).
    #[error("TIC target {target:#x} is in no segment")]
    TicTarget {
        /// The target.
        target: u32,
    },
    /// A data page could not be pinned.
    #[error("cannot pin guest page of {iova:#x}")]
    Pin {
        /// The IDAW's address.
        iova: u64,
        /// The IOMMU's errno.
        errno: Errno,
    },
    /// The host IDAL pool is full.
    #[error("host IDAL memory exhausted")]
    IdalFull,
}

impl CpError {
    /// The errno the kernel returns for it.
    #[must_use]
    pub const fn errno(&self) -> Errno {
        match self {
            Self::Busy => Errno::EBUSY,
            Self::Read { errno, .. } => *errno,
            Self::SegmentTooLong { .. } | Self::Pin { .. } => Errno::EINVAL,
            Self::TooManySegments | Self::IdalFull => Errno::ENOMEM,
            Self::TicTarget { .. } => Errno::EFAULT,
        }
    }
}

/// One segment: `len` CCWs read at guest `iova`, kept in the CCW pool at
/// `index × 256`, placed in host storage at `ccw_base + index × 2048`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Segment {
    /// Guest address of its first CCW (`ch_iova`).
    pub iova: u32,
    /// CCWs in it (`ch_len`).
    pub len: usize,
    /// A stand-in for a CCW address off a doubleword boundary (an ORB CPA
    /// or a TIC target outside the known segments): nothing is read from
    /// the guest, the segment holds one zero CCW at the doubleword of the
    /// address (`iova` is that doubleword), and the host address that
    /// names it keeps the guest's low bits, so the host channel
    /// program-checks there before fetching, as the guest's would (PoO,
    /// "CCW address": a CCW address must designate a doubleword). Linux
    /// reads a segment at the odd address instead, and the host runs CCWs
    /// the guest's channel never fetches.
    pub misaligned: bool,
}

/// A translated channel program (`struct channel_program`).
#[derive(Debug, Clone)]
pub struct ChannelProgram {
    layout: HostLayout,
    /// The guest's ORB.
    orb: Orb,
    initialized: bool,
    segments: [Segment; CCWCHAIN_COUNT_MAX],
    nsegments: usize,
    /// Host CCWs, 256 slots per segment (format 1, as doublewords).
    ccws: Box<[u64]>,
    /// Host IDAWs (format 2, as doublewords).
    idal: Vec<u64>,
    /// Guest IOVAs pinned, one per pinned IDAW.
    pinned: Vec<u64>,
    /// The 2 KiB read of the segment being built (`cp->guest_cp`).
    scratch: Box<[u8; SEGMENT_BYTES as usize]>,
}

impl ChannelProgram {
    /// An empty program placed by `layout`.
    #[must_use]
    pub fn new(layout: HostLayout) -> Self {
        Self {
            layout,
            orb: Orb::default(),
            initialized: false,
            segments: [Segment::default(); CCWCHAIN_COUNT_MAX],
            nsegments: 0,
            ccws: vec![0; CCWCHAIN_LEN_MAX * CCWCHAIN_COUNT_MAX].into_boxed_slice(),
            idal: Vec::new(),
            pinned: Vec::new(),
            scratch: Box::new([0; SEGMENT_BYTES as usize]),
        }
    }

    /// The host layout.
    #[must_use]
    pub fn layout(&self) -> &HostLayout {
        &self.layout
    }

    /// Whether a program is translated (between `init` and `free`).
    #[must_use]
    pub fn is_initialized(&self) -> bool {
        self.initialized
    }

    /// The guest ORB of the program.
    #[must_use]
    pub fn orb(&self) -> &Orb {
        &self.orb
    }

    /// The segments, in list order.
    #[must_use]
    pub fn segments(&self) -> &[Segment] {
        &self.segments[..self.nsegments]
    }

    /// The host CCWs of segment `i` (format 1, as doublewords).
    #[must_use]
    pub fn host_ccws(&self, i: usize) -> &[u64] {
        match self.segments().get(i) {
            Some(s) => &self.ccws[i * CCWCHAIN_LEN_MAX..i * CCWCHAIN_LEN_MAX + s.len],
            None => &[],
        }
    }

    /// The host IDAL pool in use.
    #[must_use]
    pub fn host_idal(&self) -> &[u64] {
        &self.idal
    }

    /// Guest IOVAs pinned (one per pinned IDAW).
    #[must_use]
    pub fn pinned(&self) -> &[u64] {
        &self.pinned
    }

    /// Host address of segment `i`.
    #[must_use]
    pub fn segment_host_addr(&self, i: usize) -> u32 {
        let off = u32::try_from(i).unwrap_or(0).saturating_mul(SEGMENT_BYTES);
        self.layout.ccw_base.saturating_add(off)
    }

    /// The IDAW format of the whole program (`idal_is_2k`).
    fn idaw_format(&self) -> IdawFormat {
        let c = ProgramControls::from_orb(&self.orb);
        match c.idaw {
            IdawFormat::Format2_4K => IdawFormat::Format2_4K,
            IdawFormat::Format1 | IdawFormat::Format2_2K => IdawFormat::Format2_2K,
        }
    }

    /// `cp_init`: reads the program's segments (see the
    /// [module documentation](self)). On failure everything built is
    /// released.
    ///
    /// # Errors
    /// `Busy` when a program is already translated; the refusal otherwise.
    pub fn init(&mut self, orb: &Orb, dma: &dyn Dma) -> Result<(), CpError> {
        if self.initialized {
            return Err(CpError::Busy);
        }
        if !orb.ctrl.prefetch() {
            // Linux prefetches anyway and warns (rate-limited).
            tracing::debug!("prefetching a channel program whose ORB does not allow prefetch");
        }
        self.orb = *orb;
        self.nsegments = 0;
        self.idal.clear();
        self.pinned.clear();
        match self.handle_segment(orb.cpa, dma) {
            Ok(()) => {
                self.initialized = true;
                Ok(())
            }
            Err(e) => {
                self.release(dma);
                Err(e)
            }
        }
    }

    /// `cp_prefetch`: translates every CCW of every segment. On failure the
    /// program holds only what was translated; call [`ChannelProgram::free`].
    ///
    /// # Errors
    /// The refusal.
    pub fn prefetch(&mut self, dma: &dyn Dma) -> Result<(), CpError> {
        let continued = self.continuations();
        for si in 0..self.nsegments {
            let len = self.segments[si].len;
            for idx in 0..len {
                let slot = si * CCWCHAIN_LEN_MAX + idx;
                let cont = continued[slot / 64] & (1 << (slot % 64)) != 0;
                if let Err(e) = self.translate_one(slot, cont, dma) {
                    // Only what was translated is released.
                    self.segments[si].len = idx;
                    for s in &mut self.segments[si + 1..self.nsegments] {
                        s.len = 0;
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// `cp_init` then `cp_prefetch`; a failed prefetch frees the program.
    ///
    /// # Errors
    /// The refusal.
    pub fn translate(&mut self, orb: &Orb, dma: &dyn Dma) -> Result<(), CpError> {
        self.init(orb, dma)?;
        self.prefetch(dma).inspect_err(|_| self.free(dma))
    }

    /// The CCWs data chaining may reach (after a CD CCW, or at the target
    /// of a TIC that follows one), as a bit set over the CCW slots. The
    /// channel ignores such a CCW's command code — the chain's first
    /// command gives the direction — so it moves data whenever its count
    /// is not zero, whatever its own command code says. (The kernel's
    /// `ccw_does_data_transfer` judges it by its own code and leaves a
    /// NO OPERATION continuation's guest addresses untranslated.)
    fn continuations(&self) -> [u64; CCWCHAIN_LEN_MAX * CCWCHAIN_COUNT_MAX / 64] {
        let mut set = [0u64; CCWCHAIN_LEN_MAX * CCWCHAIN_COUNT_MAX / 64];
        let mut mark = |slot: usize| set[slot / 64] |= 1 << (slot % 64);
        for si in 0..self.nsegments {
            let base = si * CCWCHAIN_LEN_MAX;
            let len = self.segments[si].len;
            for idx in 1..len {
                let prev = self.ccws[base + idx - 1];
                if chain::is_tic(prev) || !CcwFlags::from_bits(chain::flags(prev)).cd() {
                    continue;
                }
                let here = self.ccws[base + idx];
                if !chain::is_tic(here) {
                    mark(base + idx);
                    continue;
                }
                // CD, then a TIC: the TIC's target continues the data —
                // unless it is not on a doubleword boundary, where the
                // channel fetches nothing and ends the program with a
                // program check (PoO, "Transfer in Channel").
                let target = chain::cda(here);
                if target % 8 != 0 {
                    continue;
                }
                if let Some(ti) = self.segment_of(target) {
                    let t = self.segments[ti];
                    let off = usize::try_from(target.wrapping_sub(t.iova) / 8).unwrap_or(usize::MAX);
                    if off < t.len {
                        mark(ti * CCWCHAIN_LEN_MAX + off);
                    }
                }
            }
        }
        set
    }

    fn translate_one(&mut self, slot: usize, continued: bool, dma: &dyn Dma) -> Result<(), CpError> {
        let raw = self.ccws[slot];
        if chain::is_tic(raw) {
            let target = chain::cda(raw);
            let si = self
                .segment_of(target)
                .or_else(|| self.misaligned_segment_of(target))
                .ok_or(CpError::TicTarget { target })?;
            let s = self.segments[si];
            let host = self.segment_host_addr(si).wrapping_add(target.wrapping_sub(s.iova));
            self.ccws[slot] = chain::with_cda(raw, host);
            return Ok(());
        }
        let host_idal = self.fetch_ccw(raw, continued, dma)?;
        let flags = CcwFlags::from_bits(chain::flags(raw)).with_ida(true);
        self.ccws[slot] = chain::with_flags(chain::with_cda(raw, host_idal), flags.into_bits());
        Ok(())
    }

    /// The first segment (in list order) whose CCWs include `cpa`
    /// (`tic_target_chain_exists`, `ccwchain_fetch_tic`).
    fn segment_of(&self, cpa: u32) -> Option<usize> {
        self.segments()
            .iter()
            .position(|s| !s.misaligned && chain::within(cpa, s.iova, s.len))
    }

    /// The stand-in segment of the misaligned CCW address `cpa`.
    pub(super) fn misaligned_segment_of(&self, cpa: u32) -> Option<usize> {
        self.segments()
            .iter()
            .position(|s| s.misaligned && cpa % 8 != 0 && s.iova == cpa & !7)
    }

    /// `cp_get_orb`: the ORB that starts the host program — interruption
    /// parameter `intparm` (the host subchannel), format-1 CCWs, 64-bit
    /// IDAWs (2K ones when the guest's were format 1), the guest's key,
    /// prefetch and other controls, the LPM `lpm` when the guest's is 0.
    ///
    /// One departure from the kernel: a format-0 guest program also gets
    /// ORB L (incorrect-length-suppression mode). Format-0 CCWs never
    /// indicate incorrect length for an immediate command; after the
    /// conversion to format 1 only L keeps that rule (PoO chapter 15,
    /// "Incorrect Length"), so without it a format-0 NOP with a count and
    /// no SLI — dasdfmt's IPL1 bootstrap — would end with incorrect length
    /// through passthrough and cleanly on the device itself.
    #[must_use]
    pub fn host_orb(&self, intparm: u32, lpm: u8) -> Orb {
        let mut o = self.orb;
        o.intparm = intparm;
        let format0 = !o.ctrl.format1();
        let mut c = o.ctrl.with_format1(true);
        if format0 {
            c = c.with_ils(true);
        }
        if !c.idaw_format2() {
            c = c.with_idaw_2k(true);
        }
        c = c.with_idaw_format2(true);
        if c.lpm() == 0 {
            c = c.with_lpm(lpm);
        }
        o.ctrl = c;
        // A misaligned guest CPA keeps its low bits (see `Segment`).
        o.cpa = self.segment_host_addr(0) | (self.orb.cpa & 7);
        o
    }

    /// `cp_update_scsw`: translates a host CCW address back into the guest
    /// program (one past a segment's last CCW included); other values pass
    /// through.
    ///
    /// One more than the kernel: the CCW address after the zero CCW that
    /// closes a segment shorter than 256 ([`ChannelProgram::store`]) — the
    /// program check of a status-modifier skip past the segment — maps to
    /// the guest doubleword after the segment's next one, where the guest's
    /// own channel would have fetched (the kernel passes it through, and
    /// the guest would see a host address).
    #[must_use]
    pub fn guest_cpa(&self, host_cpa: u32) -> u32 {
        if !self.initialized {
            return host_cpa;
        }
        for (i, s) in self.segments().iter().enumerate() {
            let head = self.segment_host_addr(i);
            let span = if s.len < CCWCHAIN_LEN_MAX { s.len + 2 } else { s.len + 1 };
            if chain::within(host_cpa, head, span) {
                return s.iova.wrapping_add(host_cpa - head);
            }
        }
        host_cpa
    }

    /// Rewrites the CCW address of `scsw` into the guest program.
    pub fn update_scsw(&self, scsw: &mut Scsw) {
        scsw.cpa = self.guest_cpa(scsw.cpa);
    }

    /// `cp_free`: unpins every page and forgets the program.
    pub fn free(&mut self, dma: &dyn Dma) {
        self.release(dma);
    }

    fn release(&mut self, dma: &dyn Dma) {
        for &iova in &self.pinned {
            dma.unpin(iova);
        }
        self.pinned.clear();
        self.idal.clear();
        self.nsegments = 0;
        self.initialized = false;
    }

    /// Stores the host program — its segments and IDALs — into host
    /// storage with `write(addr, bytes)`, reusing `buf`.
    ///
    /// # Errors
    /// The first failed write's error.
    pub fn store<E>(&self, buf: &mut Vec<u8>, mut write: impl FnMut(u64, &[u8]) -> Result<(), E>) -> Result<(), E> {
        for i in 0..self.nsegments {
            buf.clear();
            let ccws = self.host_ccws(i);
            buf.extend(ccws.iter().flat_map(|w| w.to_be_bytes()));
            if ccws.len() < CCWCHAIN_LEN_MAX {
                // The doubleword after the segment: a zero CCW, which the
                // host channel refuses with a program check (invalid command
                // code). A status modifier on the next-to-last CCW skips the
                // last one and fetches here; nothing stale of an earlier
                // program may run instead (`guest_cpa` maps its CCW address
                // back to the guest's doubleword after the segment).
                buf.extend_from_slice(&[0u8; 8]);
            }
            write(u64::from(self.segment_host_addr(i)), buf)?;
        }
        if !self.idal.is_empty() {
            buf.clear();
            buf.extend(self.idal.iter().flat_map(|w| w.to_be_bytes()));
            write(u64::from(self.layout.idal_base), buf)?;
        }
        Ok(())
    }
}
