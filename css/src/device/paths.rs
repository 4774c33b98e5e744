//! The channel paths a device hangs on: the PMCW's path-installed mask and
//! CHPIDs, and each path's channel-path type (Principles of Operation,
//! chapter 15, "Path-Management-Control Word": PIM, CHPID 0–7; the type is
//! what CHSC store-channel-path-description reports in byte 2 of a
//! descriptor).

use thiserror::Error;

/// Channel-path type codes (the descriptor byte CHSC SCPD stores, which
/// Linux shows as a path's `type` in sysfs and `lschp`).
pub mod chpid_type {
    /// A virtual channel path (QEMU's virtio-ccw paths: CHPID 0x00, type
    /// 0x32).
    pub const VIRTUAL: u8 = 0x32;
    /// A FICON channel path in native FICON mode (the type Linux reports
    /// for the paths of an ECKD DASD on a FICON channel).
    pub const FICON: u8 = 0x1a;
}

/// Why a path description was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum PathsError {
    /// No path, or more than eight.
    #[error("a subchannel has 1 to 8 channel paths, not {0}")]
    Count(usize),
    /// The same CHPID twice.
    #[error("CHPID {0:#04x} appears twice")]
    Duplicate(u8),
}

/// Up to eight channel paths, path 0x80 first: PIM has one bit per path,
/// from 0x80 down, and CHPID *n* (with its type) belongs to PIM bit
/// `0x80 >> n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelPaths {
    pim: u8,
    chpid: [u8; 8],
    kind: [u8; 8],
}

impl ChannelPaths {
    /// One path (PIM 0x80) with CHPID `chpid` of type `kind`.
    #[must_use]
    pub const fn single(chpid: u8, kind: u8) -> Self {
        let mut c = [0u8; 8];
        let mut k = [0u8; 8];
        c[0] = chpid;
        k[0] = kind;
        Self {
            pim: 0x80,
            chpid: c,
            kind: k,
        }
    }

    /// The virtual path of virtio devices: CHPID 0x00, type 0x32.
    pub const VIRTUAL: Self = Self::single(0x00, chpid_type::VIRTUAL);

    /// Paths from `(chpid, type)` pairs, path 0x80 first.
    ///
    /// # Errors
    /// No pair, more than eight, or a CHPID twice.
    pub fn new(paths: &[(u8, u8)]) -> Result<Self, PathsError> {
        if paths.is_empty() || paths.len() > 8 {
            return Err(PathsError::Count(paths.len()));
        }
        let mut p = Self {
            pim: 0,
            chpid: [0; 8],
            kind: [0; 8],
        };
        for (i, &(c, k)) in paths.iter().enumerate() {
            if paths[..i].iter().any(|&(d, _)| d == c) {
                return Err(PathsError::Duplicate(c));
            }
            p.pim |= 0x80 >> i;
            p.chpid[i] = c;
            p.kind[i] = k;
        }
        Ok(p)
    }

    /// The same number of paths on other CHPIDs, every one of type `kind`
    /// (a trace's `chpids=` list for a device of that path type).
    ///
    /// # Errors
    /// As [`ChannelPaths::new`].
    pub fn with_chpids(chpids: &[u8], kind: u8) -> Result<Self, PathsError> {
        let mut pairs = [(0u8, 0u8); 8];
        if chpids.is_empty() || chpids.len() > 8 {
            return Err(PathsError::Count(chpids.len()));
        }
        for (slot, &c) in pairs.iter_mut().zip(chpids) {
            *slot = (c, kind);
        }
        Self::new(&pairs[..chpids.len()])
    }

    /// Path-installed mask (PMCW PIM).
    #[must_use]
    pub const fn pim(&self) -> u8 {
        self.pim
    }

    /// The eight CHPID fields of the PMCW (zero where no path is installed).
    #[must_use]
    pub const fn chpids(&self) -> [u8; 8] {
        self.chpid
    }

    /// The type of the path `0x80 >> n`'s CHPID (0 where none).
    #[must_use]
    pub const fn types(&self) -> [u8; 8] {
        self.kind
    }

    /// The installed paths as `(path mask bit, chpid, type)`.
    pub fn iter(&self) -> impl Iterator<Item = (u8, u8, u8)> + '_ {
        (0..8)
            .filter(move |&i| self.pim & (0x80 >> i) != 0)
            .map(move |i| (0x80u8 >> i, self.chpid[i], self.kind[i]))
    }

    /// The type of the first path (the device's kind of attachment).
    #[must_use]
    pub const fn first_type(&self) -> u8 {
        self.kind[0]
    }
}

impl Default for ChannelPaths {
    fn default() -> Self {
        Self::VIRTUAL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_path_is_pim_0x80() {
        let p = ChannelPaths::single(0x01, chpid_type::FICON);
        assert_eq!(p.pim(), 0x80);
        assert_eq!(p.chpids(), [1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![(0x80, 0x01, chpid_type::FICON)]);
    }

    #[test]
    fn new_fills_paths_from_0x80_down() {
        let p = ChannelPaths::new(&[(0x40, 0x1a), (0x41, 0x1a), (0x52, 0x1b)]).unwrap();
        assert_eq!(p.pim(), 0xe0);
        assert_eq!(p.chpids()[..3], [0x40, 0x41, 0x52]);
        assert_eq!(p.types()[2], 0x1b);
        assert_eq!(p.iter().nth(2), Some((0x20, 0x52, 0x1b)));
    }

    #[test]
    fn new_refuses_empty_too_many_and_duplicates() {
        assert_eq!(ChannelPaths::new(&[]), Err(PathsError::Count(0)));
        assert_eq!(ChannelPaths::new(&[(0, 0x32); 9]), Err(PathsError::Count(9)));
        assert_eq!(
            ChannelPaths::new(&[(3, 0x32), (3, 0x32)]),
            Err(PathsError::Duplicate(3))
        );
        assert_eq!(
            ChannelPaths::with_chpids(&[1, 2, 1], 0x1a),
            Err(PathsError::Duplicate(1))
        );
    }
}
