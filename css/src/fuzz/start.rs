//! What a harness start is: anything that lays a channel program out in a
//! subchannel's region of guest storage. The generated programs of
//! [`zcss_ccw::generate`] are one kind; a fuzz target may bring its own
//! (ECKD programs with their parameter blocks, virtio-ccw command
//! sequences) and keep the rest of the harness.

use std::fmt::Debug;

use arbitrary::Arbitrary;
use zcss_ccw::generate::{LaidOut, Layout, StartDesc};

/// A start the harness lays out and issues with START SUBCHANNEL.
pub trait Start: for<'a> Arbitrary<'a> + Debug + Clone + PartialEq + Eq {
    /// Lays the start out in `at` (the subchannel's 64 KiB region): the
    /// stores and storage keys to make, the ORB (at `at.orb`), the CCW
    /// addresses and the data areas the program names — the only places a
    /// device may store input data, besides [`Harness::writable`](super::Harness::writable).
    fn lay_out(&self, at: &Layout) -> LaidOut;

    /// Whether the program is well formed: the harness then checks the CCW
    /// address and residual count of its primary status against
    /// [`LaidOut::ccw_addrs`].
    fn well_formed(&self) -> bool;

    /// A comment for the trace before the start's stores (what is
    /// malformed about it, what it is meant to do), if any.
    fn note(&self) -> Option<String> {
        None
    }
}

impl Start for StartDesc {
    fn lay_out(&self, at: &Layout) -> LaidOut {
        self.layout(at)
    }

    fn well_formed(&self) -> bool {
        self.malformation.is_none()
    }

    fn note(&self) -> Option<String> {
        self.malformation.map(|m| format!("malformed: {m:?}"))
    }
}
