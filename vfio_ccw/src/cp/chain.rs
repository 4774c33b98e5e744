//! Finding the segments of a guest program (`ccwchain_handle_ccw`,
//! `ccwchain_calc_length`, `ccwchain_loop_tic`).

use zcss_ccw::ccw::CMD_TIC;
use zcss_ccw::{Ccw, Ccw1, CcwFormat};

use super::{ChannelProgram, CpError, Dma, Segment, CCWCHAIN_COUNT_MAX, CCWCHAIN_LEN_MAX};

/// A format-1 CCW as a doubleword.
pub(super) fn is_tic(raw: u64) -> bool {
    // `ccw_is_tic`: the command code is exactly TIC (format-0 TICs were
    // normalised to 0x08 when converted).
    Ccw1::from_bits(raw).cmd() == CMD_TIC
}

pub(super) fn cda(raw: u64) -> u32 {
    Ccw1::from_bits(raw).cda()
}

pub(super) fn flags(raw: u64) -> u8 {
    Ccw1::from_bits(raw).flags().into_bits()
}

pub(super) fn with_cda(raw: u64, cda: u32) -> u64 {
    Ccw1::from_bits(raw).with_cda(cda).into_bits()
}

pub(super) fn with_flags(raw: u64, flags: u8) -> u64 {
    Ccw1::from_bits(raw)
        .with_flags(zcss_ccw::CcwFlags::from_bits(flags))
        .into_bits()
}

/// Whether `cpa` addresses one of the `len` CCWs from `head`
/// (`is_cpa_within_range`: `head ≤ cpa ≤ head + (len − 1) × 8`).
pub(super) fn within(cpa: u32, head: u32, len: usize) -> bool {
    if len == 0 {
        return false;
    }
    let tail = u64::from(head) + (len as u64 - 1) * 8;
    u64::from(head) <= u64::from(cpa) && u64::from(cpa) <= tail
}

/// The doubleword at index `i` of the 2 KiB scratch read, in format 1.
fn scratch_ccw(scratch: &[u8; 2048], i: usize, format0: bool) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&scratch[i * 8..i * 8 + 8]);
    if !format0 {
        return u64::from_be_bytes(b);
    }
    // `convert_ccw0_to_ccw1`.
    let c = Ccw::decode(CcwFormat::Format0, b);
    let c1 = if c.cmd & 0x0f == CMD_TIC {
        Ccw1::new().with_cmd(CMD_TIC).with_cda(c.cda)
    } else {
        c.to_format1()
    };
    c1.into_bits()
}

impl ChannelProgram {
    /// `ccwchain_handle_ccw`: reads 2 KiB at `cda`, converts them to format
    /// 1, counts the segment, keeps it, and follows its TICs.
    pub(super) fn handle_segment(&mut self, cda: u32, dma: &dyn Dma) -> Result<(), CpError> {
        if cda % 8 != 0 {
            return self.misaligned_segment(cda);
        }
        let dma_err = |errno| CpError::Read {
            iova: u64::from(cda),
            errno,
        };
        // The whole 2 KiB, however short the chain (what Linux reads).
        dma.read(u64::from(cda), &mut self.scratch[..]).map_err(dma_err)?;
        let format0 = !self.orb.ctrl.format1();
        let len = self.segment_length(cda, format0)?;
        if self.nsegments == CCWCHAIN_COUNT_MAX {
            return Err(CpError::TooManySegments);
        }
        let si = self.nsegments;
        for i in 0..len {
            self.ccws[si * CCWCHAIN_LEN_MAX + i] = scratch_ccw(&self.scratch, i, format0);
        }
        self.segments[si] = Segment {
            iova: cda,
            len,
            misaligned: false,
        };
        self.nsegments += 1;
        // `ccwchain_loop_tic`: TICs into unknown storage start new segments.
        for i in 0..len {
            let raw = self.ccws[si * CCWCHAIN_LEN_MAX + i];
            if !is_tic(raw) {
                continue;
            }
            let target = cda_of(raw);
            if self.segment_of(target).is_some() || self.misaligned_segment_of(target).is_some() {
                continue;
            }
            self.handle_segment(target, dma)?;
        }
        Ok(())
    }

    /// The stand-in segment of a CCW address off a doubleword boundary
    /// (see [`Segment::misaligned`]): one zero CCW, nothing read.
    fn misaligned_segment(&mut self, cda: u32) -> Result<(), CpError> {
        if self.nsegments == CCWCHAIN_COUNT_MAX {
            return Err(CpError::TooManySegments);
        }
        let si = self.nsegments;
        self.ccws[si * CCWCHAIN_LEN_MAX] = 0;
        self.segments[si] = Segment {
            iova: cda & !7,
            len: 1,
            misaligned: true,
        };
        self.nsegments += 1;
        Ok(())
    }

    /// `ccwchain_calc_length`: CCWs while one chains or TICs back into the
    /// CCWs counted so far; a 256th that still does is refused without
    /// looking at a 257th.
    fn segment_length(&self, iova: u32, format0: bool) -> Result<usize, CpError> {
        for cnt in 1..=CCWCHAIN_LEN_MAX {
            let raw = scratch_ccw(&self.scratch, cnt - 1, format0);
            let f = Ccw1::from_bits(raw).flags();
            let chains = f.cc() || f.cd() || (is_tic(raw) && within(cda_of(raw), iova, cnt));
            if !chains {
                return Ok(cnt);
            }
        }
        Err(CpError::SegmentTooLong { iova })
    }
}

fn cda_of(raw: u64) -> u32 {
    cda(raw)
}
