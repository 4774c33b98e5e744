//! The vfio-ccw device state machine (Linux
//! `drivers/s390/cio/vfio_ccw_fsm.c`, `vfio_ccw_jumptable`; states and
//! events in `vfio_ccw_private.h`).
//!
//! | state \ event | NOT_OPER | IO_REQ | ASYNC_REQ | INTERRUPT | OPEN | CLOSE |
//! |---|---|---|---|---|---|---|
//! | NOT_OPER | nop | `-EIO` | `-EIO` | disable | nop | nop |
//! | STANDBY | notoper | `-EIO` | `-EIO` | disable | open | notoper |
//! | IDLE | notoper | io request | async request | irq | notoper | close |
//! | CP_PROCESSING | notoper | `-EAGAIN` | `-EAGAIN` | irq | notoper | close |
//! | CP_PENDING | notoper | `-EBUSY` | async request | irq | notoper | close |
//!
//! [`action`] is that table; the device model that owns the state performs
//! the action and makes the state change each action describes
//! ([`Action`]).

use crate::uapi::Errno;

/// States of a vfio-ccw device (`enum vfio_ccw_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// The subchannel is gone or failed; only removal helps.
    NotOper,
    /// Probed, not opened by user space (the initial state).
    Standby,
    /// Open, enabled, no channel program.
    Idle,
    /// A start request is being translated and started.
    CpProcessing,
    /// A channel program runs on the host subchannel.
    CpPending,
}

/// Events of the state machine (`enum vfio_ccw_event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The subchannel became not operational.
    NotOper,
    /// A write to the I/O region.
    IoReq,
    /// A write to the asynchronous command region.
    AsyncReq,
    /// An I/O interruption of the host subchannel.
    Interrupt,
    /// User space opened the device.
    Open,
    /// User space closed the device.
    Close,
}

/// What an event does in a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Nothing.
    Nop,
    /// The request fails with this errno; the state stays.
    Fail(Errno),
    /// An interruption for a device that is not open: disable the
    /// subchannel again (`fsm_disabled_irq`); the state stays.
    DisableAgain,
    /// `fsm_notoper`: schedule unregistration, free the channel program,
    /// state [`State::NotOper`].
    NotOper,
    /// `fsm_open`: set the ISC, enable the subchannel; state
    /// [`State::Idle`] (on failure [`State::NotOper`]).
    Open,
    /// `fsm_io_request`: state [`State::CpProcessing`]; translate and start
    /// the program — [`State::CpPending`] on success, [`State::Idle`] on
    /// any error.
    IoRequest,
    /// `fsm_async_request`: HALT or CLEAR SUBCHANNEL on the host
    /// subchannel; the state stays.
    AsyncRequest,
    /// `fsm_irq`: keep the IRB and schedule the interruption work; a final
    /// interruption of the program in [`State::CpPending`] frees it and
    /// returns to [`State::Idle`].
    Irq,
    /// `fsm_close`: disable the subchannel (quiescing it if busy), free the
    /// channel program; state [`State::Standby`] (on failure
    /// [`State::NotOper`]).
    Close,
}

/// The action of `event` in `state` (`vfio_ccw_jumptable`).
#[must_use]
pub const fn action(state: State, event: Event) -> Action {
    use Action as A;
    use Event as E;
    use State as S;
    match (state, event) {
        (S::NotOper, E::NotOper | E::Open | E::Close) => A::Nop,
        (S::NotOper | S::Standby, E::IoReq | E::AsyncReq) => A::Fail(Errno::EIO),
        (S::NotOper | S::Standby, E::Interrupt) => A::DisableAgain,
        (S::Standby, E::NotOper | E::Close) => A::NotOper,
        (S::Standby, E::Open) => A::Open,
        (S::Idle | S::CpProcessing | S::CpPending, E::NotOper | E::Open) => A::NotOper,
        (S::Idle, E::IoReq) => A::IoRequest,
        (S::Idle | S::CpPending, E::AsyncReq) => A::AsyncRequest,
        (S::CpProcessing, E::IoReq | E::AsyncReq) => A::Fail(Errno::EAGAIN),
        (S::CpPending, E::IoReq) => A::Fail(Errno::EBUSY),
        (S::Idle | S::CpProcessing | S::CpPending, E::Interrupt) => A::Irq,
        (S::Idle | S::CpProcessing | S::CpPending, E::Close) => A::Close,
    }
}

impl State {
    /// Every state.
    pub const ALL: [Self; 5] = [
        Self::NotOper,
        Self::Standby,
        Self::Idle,
        Self::CpProcessing,
        Self::CpPending,
    ];

    /// The Linux name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::NotOper => "NOT_OPER",
            Self::Standby => "STANDBY",
            Self::Idle => "IDLE",
            Self::CpProcessing => "CP_PROCESSING",
            Self::CpPending => "CP_PENDING",
        }
    }
}

impl Event {
    /// Every event.
    pub const ALL: [Self; 6] = [
        Self::NotOper,
        Self::IoReq,
        Self::AsyncReq,
        Self::Interrupt,
        Self::Open,
        Self::Close,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of the module documentation, row by row.
    const TABLE: [[Action; 6]; 5] = {
        use Action as A;
        [
            [
                A::Nop,
                A::Fail(Errno::EIO),
                A::Fail(Errno::EIO),
                A::DisableAgain,
                A::Nop,
                A::Nop,
            ],
            [
                A::NotOper,
                A::Fail(Errno::EIO),
                A::Fail(Errno::EIO),
                A::DisableAgain,
                A::Open,
                A::NotOper,
            ],
            [A::NotOper, A::IoRequest, A::AsyncRequest, A::Irq, A::NotOper, A::Close],
            [
                A::NotOper,
                A::Fail(Errno::EAGAIN),
                A::Fail(Errno::EAGAIN),
                A::Irq,
                A::NotOper,
                A::Close,
            ],
            [
                A::NotOper,
                A::Fail(Errno::EBUSY),
                A::AsyncRequest,
                A::Irq,
                A::NotOper,
                A::Close,
            ],
        ]
    };

    #[test]
    fn action_matches_the_jumptable_for_every_state_and_event() {
        for (s, row) in State::ALL.iter().zip(TABLE) {
            for (e, want) in Event::ALL.iter().zip(row) {
                assert_eq!(action(*s, *e), want, "{} x {e:?}", s.name());
            }
        }
    }

    #[test]
    fn io_request_only_from_idle() {
        let starts: Vec<_> = State::ALL
            .into_iter()
            .filter(|&s| action(s, Event::IoReq) == Action::IoRequest)
            .collect();
        assert_eq!(starts, [State::Idle]);
    }

    #[test]
    fn async_request_overtakes_a_pending_program() {
        assert_eq!(action(State::CpPending, Event::AsyncReq), Action::AsyncRequest);
        assert_eq!(
            action(State::CpProcessing, Event::AsyncReq),
            Action::Fail(Errno::EAGAIN)
        );
    }
}
