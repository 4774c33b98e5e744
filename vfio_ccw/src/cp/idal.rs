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
    /// Builds the host IDAL of the (non-TIC) CCW `raw`; returns its host
    /// address.
    pub(super) fn fetch_ccw(&mut self, raw: u64, dma: &dyn Dma) -> Result<u32, CpError> {
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
        // The guest IDAL as the kernel holds it: doublewords; format-1
        // IDAWs packed two to a doubleword.
        let mut list = [0u64; MAX_IDAWS_PER_CCW];
        let words = &mut list[..nr];
        if c.flags().ida() {
            if c64 {
                words[0] = first;
                for (i, w) in words.iter_mut().enumerate().skip(1) {
                    let at = cda + 8 * i as u64;
                    let mut b = [0u8; 8];
                    dma.read(at, &mut b).map_err(read_err(at))?;
                    *w = u64::from_be_bytes(b);
                }
            } else {
                set_f1(words, 0, first_u32(first));
                for i in 1..nr {
                    let at = cda + 4 * i as u64;
                    let mut b = [0u8; 4];
                    dma.read(at, &mut b).map_err(read_err(at))?;
                    set_f1(words, i, u32::from_be_bytes(b));
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
        self.idal.extend_from_slice(words);
        if does_data_transfer(&c) {
            // `pa_iova`: every address taken before any IDAW is rewritten.
            let mut iovas = [0u64; MAX_IDAWS_PER_CCW];
            for (i, v) in iovas.iter_mut().enumerate().take(nr) {
                *v = if c64 { words[i] } else { u64::from(get_f1(words, i)) };
            }
            for (i, &iova) in iovas.iter().enumerate().take(nr) {
                match dma.pin(iova) {
                    Ok(page) => {
                        self.pinned.push(iova);
                        self.idal[base + i] = page + (iova & (PAGE_SIZE - 1));
                    }
                    Err(errno) => {
                        // A partial pin is undone.
                        for _ in 0..i {
                            if let Some(p) = self.pinned.pop() {
                                dma.unpin(p);
                            }
                        }
                        self.idal.truncate(base);
                        return Err(CpError::Pin { iova, errno });
                    }
                }
            }
        }
        let addr = u64::from(self.layout.idal_base) + 8 * base as u64;
        Ok(u32::try_from(addr).unwrap_or(u32::MAX))
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
