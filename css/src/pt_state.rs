//! The passthrough bookkeeping a subchannel keeps beside its architected
//! state: the host function it follows (its token), the ESW the host
//! reported, and the reports waiting for TEST SUBCHANNEL (see
//! [`crate::device::passthrough`] for the contract, `passthrough.rs` for
//! how reports are applied).

use std::collections::VecDeque;

use zcss_ccw::esw::Esw;
use zcss_ccw::irb::Irb;

/// A report that could not be applied yet (the guest subchannel was still
/// status pending, or busy for unsolicited status).
#[derive(Debug, Clone)]
pub(crate) struct Waiting {
    /// The request it belongs to; `None` for unsolicited status.
    pub token: Option<u64>,
    /// The IRB content as the host stored it.
    pub irb: Irb,
}

/// Passthrough bookkeeping of one subchannel.
#[derive(Debug, Clone, Default)]
pub(crate) struct PtState {
    /// Token of the host function the guest subchannel follows (0 = none):
    /// a new one for each start and clear; resume and halt keep it. Reports
    /// with another token are dropped.
    pub token: u64,
    /// The ESW of the pending status as the host reported it (`None` while
    /// the pending status was made by the css itself, e.g. deferred cc 3).
    pub esw: Option<Esw>,
    /// Reports waiting for TEST SUBCHANNEL to clear the pending status, in
    /// the order they arrived.
    pub waiting: VecDeque<Waiting>,
}

impl PtState {
    /// Forgets the reports waiting (CLEAR SUBCHANNEL overtook them).
    pub fn drop_waiting(&mut self) {
        self.waiting.clear();
    }
}
