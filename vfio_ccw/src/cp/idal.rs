//! Translating one CCW's data addresses into a host IDAL
//! (`ccwchain_fetch_ccw`, `ccw_count_idaws`, `get_guest_idal`,
//! `page_array_pin`, `page_array_idal_create_words`).

use zcss_ccw::Ccw1;

use super::{ChannelProgram, CpError, Dma, MAX_IDAWS_PER_CCW, PAGE_SIZE};

/// `ccw_does_data_transfer`: whether the CCW can move data, so that its
/// pages must be pinned.
#[must_use]
pub fn does_data_transfer(c: &Ccw1) -> bool {
    if c.count() == 0 || c.cmd() == 0x03 {
        return false;
    }
    if !c.flags().skip() {
        return true;
    }
    let cmd = c.cmd();
    let read = cmd & 0x03 == 0x02;
    let read_backward = cmd & 0x0f == 0x0c;
    let sense = cmd & 0x0f == 0x04;
    !(read || read_backward || sense)
}

impl ChannelProgram {
    /// Builds the host IDAL of the (non-TIC) CCW `raw` (`continued`: data
    /// chaining may reach it, see `continuations`); returns its host
    /// address.
    pub(super) fn fetch_ccw(&mut self, raw: u64, continued: bool, dma: &dyn Dma) -> Result<u32, CpError> {
        let c = Ccw1::from_bits(raw);
        let c64 = self.orb.ctrl.idaw_format2();
        let fmt = self.idaw_format();
        let block = fmt.block();
        let cda = u64::from(c.cda());
        let read_err = |iova: u64| move |errno| CpError::Read { iova, errno };

        // The first data address: fetched once, here, and used both to
        // count the IDAWs and as the first IDAW.
        let first = if c.flags().ida() {
            if c64 {
                let mut b = [0u8; 8];
                dma.read(cda, &mut b).map_err(read_err(cda))?;
                u64::from_be_bytes(b)
            } else {
                let mut b = [0u8; 4];
                dma.read(cda, &mut b).map_err(read_err(cda))?;
                u64::from(u32::from_be_bytes(b))
            }
        } else {
            cda
        };
        let nr = usize::try_from(fmt.idaws_for(first, c.count())).unwrap_or(usize::MAX);
        let base = self.idal.len();
        if nr > MAX_IDAWS_PER_CCW || base + nr > self.layout.idal_capacity {
            return Err(CpError::IdalFull);
        }
        // The guest IDAL as the kernel holds it, in place at the end of the
        // host IDAL: doublewords; format-1 IDAWs packed two to a
        // doubleword.
        self.idal.resize(base + nr, 0);
        let words = &mut self.idal[base..];
        if c.flags().ida() {
            if c64 {
                words[0] = first;
                for (i, w) in words.iter_mut().enumerate().skip(1) {
                    let at = cda + 8 * i as u64;
                    let mut b = [0u8; 8];
                    if let Err(e) = dma.read(at, &mut b) {
                        self.idal.truncate(base);
                        return Err(read_err(at)(e));
                    }
                    *w = u64::from_be_bytes(b);
                }
            } else {
                set_f1(words, 0, first_u32(first));
                for i in 1..nr {
                    let at = cda + 4 * i as u64;
                    let mut b = [0u8; 4];
                    if let Err(e) = dma.read(at, &mut b) {
                        self.idal.truncate(base);
                        return Err(read_err(at)(e));
                    }
                    set_f1(&mut self.idal[base..], i, u32::from_be_bytes(b));
                }
            }
        } else if c64 {
            words[0] = cda;
            for i in 1..nr {
                words[i] = (words[i - 1] + block) & !(block - 1);
            }
        } else {
            let mut prev = first_u32(cda);
            set_f1(words, 0, prev);
            let b32 = u32::try_from(block).unwrap_or(2048);
            for i in 1..nr {
                prev = prev.wrapping_add(b32) & !(b32 - 1);
                set_f1(words, i, prev);
            }
        }
        if does_data_transfer(&c) || (continued && c.count() != 0) {
            // `pa_iova`: every address taken before any IDAW is rewritten
            // (format-1 IDAWs share doublewords; a 64-bit one is taken just
            // before its own rewrite).
            if c64 {
                for i in 0..nr {
                    let iova = self.idal[base + i];
                    self.pin_into(base, i, iova, dma)?;
                }
            } else {
                let mut f1 = [0u32; MAX_IDAWS_PER_CCW];
                for (i, v) in f1.iter_mut().enumerate().take(nr) {
                    *v = get_f1(&self.idal[base..], i);
                }
                for (i, &iova) in f1.iter().enumerate().take(nr) {
                    self.pin_into(base, i, u64::from(iova), dma)?;
                }
            }
        }
        let addr = u64::from(self.layout.idal_base) + 8 * base as u64;
        Ok(u32::try_from(addr).unwrap_or(u32::MAX))
    }

    /// Pins the page of `iova` as host IDAW `i` of the IDAL at `base`; on
    /// failure the IDAWs pinned before it are unpinned and the IDAL is cut
    /// back to `base` (a partial pin is undone).
    fn pin_into(&mut self, base: usize, i: usize, iova: u64, dma: &dyn Dma) -> Result<(), CpError> {
        match dma.pin(iova) {
            Ok(page) => {
                self.pinned.push(iova);
                self.idal[base + i] = page + (iova & (PAGE_SIZE - 1));
                Ok(())
            }
            Err(errno) => {
                for _ in 0..i {
                    if let Some(p) = self.pinned.pop() {
                        dma.unpin(p);
                    }
                }
                self.idal.truncate(base);
                Err(CpError::Pin { iova, errno })
            }
        }
    }
}

fn first_u32(v: u64) -> u32 {
    u32::try_from(v & 0xffff_ffff).unwrap_or(0)
}

/// Sets format-1 IDAW `i` of a doubleword-packed list.
fn set_f1(words: &mut [u64], i: usize, v: u32) {
    let w = &mut words[i / 2];
    if i % 2 == 0 {
        *w = (*w & 0xffff_ffff) | (u64::from(v) << 32);
    } else {
        *w = (*w & !0xffff_ffff) | u64::from(v);
    }
}

/// Format-1 IDAW `i` of a doubleword-packed list.
fn get_f1(words: &[u64], i: usize) -> u32 {
    let w = words[i / 2];
    first_u32(if i % 2 == 0 { w >> 32 } else { w })
}
