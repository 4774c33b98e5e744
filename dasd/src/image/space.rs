//! File space of a CCKD image: which byte ranges are free, and which
//! become free once the next commit makes the state that no longer refers
//! to them durable.
//!
//! Space is allocated first fit from the free extents, else at the end of
//! the used file. A range freed that the committed state still refers to
//! waits in `pending` until [`SpaceMap::commit`]; a range allocated since
//! the last commit is freed at once (no committed state refers to it).

use std::collections::{BTreeMap, BTreeSet};

/// The space of one image file.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpaceMap {
    /// Free extents below `end`, merged: offset → length.
    free: BTreeMap<u64, u64>,
    /// The first byte past the last allocated one (the header's size).
    end: u64,
    /// Freed, but the committed state still refers to it.
    pending: Vec<(u64, u64)>,
    /// Allocated since the last commit.
    fresh: BTreeSet<u64>,
}

impl SpaceMap {
    /// A map whose allocated spaces are `used` (offset, length), with
    /// nothing allocatable below `floor`; the spaces must not overlap.
    pub(crate) fn from_used(floor: u64, used: &mut [(u64, u64)]) -> Result<Self, (u64, u64)> {
        used.sort_unstable();
        let mut m = Self {
            end: floor,
            ..Self::default()
        };
        for &(pos, len) in used.iter() {
            if pos < m.end {
                return Err((pos, len));
            }
            if pos > m.end {
                m.free.insert(m.end, pos - m.end);
            }
            m.end = pos + len;
        }
        Ok(m)
    }

    /// The end of the used file.
    pub(crate) const fn end(&self) -> u64 {
        self.end
    }

    /// Allocates `len` bytes; `None` beyond `limit`.
    pub(crate) fn alloc(&mut self, len: u64, limit: u64) -> Option<u64> {
        let hit = self.free.iter().find(|&(_, &l)| l >= len).map(|(&p, &l)| (p, l));
        let pos = if let Some((p, l)) = hit {
            self.free.remove(&p);
            if l > len {
                self.free.insert(p + len, l - len);
            }
            p
        } else {
            let p = self.end;
            if p + len > limit {
                return None;
            }
            self.end += len;
            p
        };
        self.fresh.insert(pos);
        Some(pos)
    }

    /// Frees `len` bytes at `pos`.
    pub(crate) fn release(&mut self, pos: u64, len: u64) {
        if self.fresh.remove(&pos) {
            self.insert_free(pos, len);
        } else {
            self.pending.push((pos, len));
        }
    }

    /// The state referring to nothing pending is durable: pending space
    /// becomes free, and free space at the end shortens the file.
    pub(crate) fn commit(&mut self) {
        for (p, l) in std::mem::take(&mut self.pending) {
            self.insert_free(p, l);
        }
        self.fresh.clear();
    }

    fn insert_free(&mut self, mut pos: u64, mut len: u64) {
        if let Some((&p, &l)) = self.free.range(..pos).next_back() {
            if p + l == pos {
                self.free.remove(&p);
                pos = p;
                len += l;
            }
        }
        if let Some(&l) = self.free.get(&(pos + len)) {
            self.free.remove(&(pos + len));
            len += l;
        }
        if pos + len == self.end {
            self.end = pos;
        } else {
            self.free.insert(pos, len);
        }
    }

    /// Free extents, ascending.
    pub(crate) fn extents(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.free.iter().map(|(&p, &l)| (p, l))
    }

    /// Number, total and largest of the free extents.
    pub(crate) fn stats(&self) -> (u64, u64, u64) {
        let n = self.free.len() as u64;
        let total = self.free.values().sum();
        let largest = self.free.values().copied().max().unwrap_or(0);
        (n, total, largest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_between_used_spaces_are_free() {
        let m = SpaceMap::from_used(100, &mut [(300, 50), (100, 100)]).unwrap();
        assert_eq!(m.extents().collect::<Vec<_>>(), vec![(200, 100)]);
        assert_eq!(m.end(), 350);
        assert!(SpaceMap::from_used(100, &mut [(100, 100), (150, 10)]).is_err());
    }

    #[test]
    fn committed_space_is_reused_only_after_commit() {
        let mut m = SpaceMap::from_used(0, &mut [(0, 100), (100, 50)]).unwrap();
        m.release(0, 100);
        assert_eq!(m.alloc(80, u64::MAX), Some(150));
        m.commit();
        assert_eq!(m.alloc(60, u64::MAX), Some(0));
        assert_eq!(m.stats(), (1, 40, 40));
    }

    #[test]
    fn fresh_space_is_freed_at_once_and_merges() {
        let mut m = SpaceMap::from_used(0, &mut [(0, 10)]).unwrap();
        let a = m.alloc(10, u64::MAX).unwrap();
        let b = m.alloc(10, u64::MAX).unwrap();
        let _c = m.alloc(10, u64::MAX).unwrap();
        m.release(a, 10);
        m.release(b, 10);
        assert_eq!(m.extents().collect::<Vec<_>>(), vec![(10, 20)]);
        // Freeing the last extent shortens the file and swallows the gap.
        m.release(30, 10);
        assert_eq!(m.end(), 10);
        assert_eq!(m.stats(), (0, 0, 0));
        assert_eq!(m.alloc(5, 12), None);
    }
}
