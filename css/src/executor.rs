//! The function executor of a subchannel: performs the start, resume, halt
//! and clear functions posted in its activity control (Principles of
//! Operation, chapter 15, "Start Function and Resume Function", "Halt
//! Function", "Clear Function").
//!
//! One thread at a time runs a subchannel's functions (`SchState::running`);
//! another thread that posts work (HALT or CLEAR SUBCHANNEL while a program
//! runs) sets the stop flag the engine polls between CCWs and leaves the
//! rest to the running thread. The state lock is released around every call
//! into the device. An interpreted device runs its program here, on the
//! calling thread; a passthrough device gets the request and reports later
//! (see [`crate::passthrough`]).

use std::sync::atomic::Ordering;

use parking_lot::MutexGuard;
use zcss_ccw::engine::{Completion, Ending};
use zcss_ccw::memory::GuestMemory;
use zcss_ccw::scsw::{ActivityControl, FunctionControl};
use zcss_ccw::ProgramEnd;

use crate::css::Shared;
use crate::device::PassthroughError;
use crate::interrupt::Wake;
use crate::slot::PtRequest;
use crate::subchannel::{SchState, StopHooks, Subchannel, STOP_NONE};

impl Shared {
    /// Runs the functions posted in the activity control of `sch` until none
    /// is left (start, resume, halt, clear), with the state lock released
    /// around every call into the device. The caller has posted the work
    /// and checked that nobody else runs the subchannel.
    ///
    /// Returns a passthrough device's refusal of a start or resume (the
    /// subchannel is then restored).
    pub fn run<'a>(
        &self,
        sch: &'a Subchannel,
        mem: &dyn GuestMemory,
        mut st: MutexGuard<'a, SchState>,
    ) -> Result<(), PassthroughError> {
        st.running = true;
        let mut wake_mask = 0u8;
        let mut result = Ok(());
        loop {
            let generation = st.generation;
            let ac = st.actl();
            if st.is_passthrough() && (ac.clear_pending() || ac.halt_pending()) {
                // The host performs halt and clear and reports their status.
                break;
            }
            if ac.clear_pending() {
                let suspended = ac.suspended();
                drop(st);
                {
                    let mut dev = sch.dev.lock();
                    if suspended {
                        dev.program_end(ProgramEnd::Cleared);
                    }
                    dev.subchannel_reset();
                }
                st = sch.state.lock();
                if st.generation != generation {
                    return Ok(());
                }
                st.complete_clear();
                sch.stop.store(STOP_NONE, Ordering::Release);
                wake_mask |= self.queue_interrupt_mask(sch, &mut st);
            } else if ac.halt_pending() {
                if ac.suspended() {
                    drop(st);
                    sch.dev.lock().program_end(ProgramEnd::Halted);
                    st = sch.state.lock();
                    if st.generation != generation {
                        return Ok(());
                    }
                }
                st.complete_halt(None);
                sch.stop.store(STOP_NONE, Ordering::Release);
                wake_mask |= self.queue_interrupt_mask(sch, &mut st);
            } else if ac.start_pending() || ac.resume_pending() {
                let resume = !ac.start_pending();
                let taken_up = self.ext.measurement.taken_up(&st);
                let Some(path) = st.select_path() else {
                    st.deferred_cc3();
                    wake_mask |= self.queue_interrupt_mask(sch, &mut st);
                    continue;
                };
                st.activate(path);
                let span = self.ext.measurement.started(&st, mem, resume, taken_up);
                sch.stop.store(STOP_NONE, Ordering::Release);
                sch.resume.store(false, Ordering::Release);
                if st.is_passthrough() {
                    let (r, mask) = self.request_program(sch, mem, st, resume);
                    wake_mask |= mask;
                    result = r;
                    st = sch.state.lock();
                    if st.generation != generation {
                        return result;
                    }
                    // The program now runs on the host; its status arrives
                    // through `poll`.
                    break;
                }
                let orb = st.orb;
                let lpum = st.pmcw.lpum;
                let resume_at = resume.then(|| st.scsw.cpa.wrapping_sub(8));
                drop(st);
                let completion = {
                    let mut hooks = StopHooks {
                        stop: &sch.stop,
                        resume: &sch.resume,
                    };
                    sch.dev
                        .lock()
                        .run_program(&self.engine, mem, &orb, resume_at, lpum, &mut hooks)
                };
                st = sch.state.lock();
                if st.generation != generation {
                    return Ok(());
                }
                let Some(c) = completion else {
                    st.set_actl(ActivityControl::new());
                    break;
                };
                let ac = st.actl();
                if ac.clear_pending() {
                    continue;
                }
                if ac.halt_pending() {
                    st.complete_halt(Some(&c));
                    sch.stop.store(STOP_NONE, Ordering::Release);
                    wake_mask |= self.queue_interrupt_mask(sch, &mut st);
                    continue;
                }
                let c = if let Ending::Stopped(_) = c.ending {
                    // A stop flag left over from a raced halt: treat as ended.
                    Completion {
                        ending: Ending::Checked,
                        ..c
                    }
                } else {
                    c
                };
                let pending = st.complete_start(&c);
                self.ext.measurement.stopped(self, sch.sid, &st, span, mem);
                if pending {
                    wake_mask |= self.queue_interrupt_mask(sch, &mut st);
                }
            } else {
                break;
            }
        }
        st.running = false;
        drop(st);
        self.wake_iscs(wake_mask);
        result
    }

    /// Hands a start (or resume) to a passthrough device; `st` has the
    /// function activated. The device's condition code comes back; a
    /// refusal restores the subchannel, a host failure becomes the
    /// unit-exception status QEMU presents. Returns the result and the ISC
    /// mask to wake. Returns with the state lock released.
    fn request_program(
        &self,
        sch: &Subchannel,
        mem: &dyn GuestMemory,
        mut st: MutexGuard<'_, SchState>,
        resume: bool,
    ) -> (Result<(), PassthroughError>, u8) {
        let generation = st.generation;
        let orb = st.orb;
        let token = match st.pt.as_mut() {
            Some(pt) => {
                if !resume || pt.token == 0 {
                    pt.token = self.next_token();
                }
                pt.token
            }
            None => return (Err(PassthroughError::NotOperational), 0),
        };
        drop(st);
        let r = if resume {
            sch.dev.lock().request(PtRequest::Resume, mem, token)
        } else {
            sch.dev.lock().start(mem, &orb, token)
        };
        let mut st = sch.state.lock();
        if st.generation != generation {
            return (r, 0);
        }
        let current = st.pt.as_ref().is_some_and(|pt| pt.token == token);
        match r {
            Ok(()) => (Ok(()), 0),
            Err(PassthroughError::HostFailure) if !resume && current => {
                st.host_failure();
                let mask = self.queue_interrupt_mask(sch, &mut st);
                (Ok(()), mask)
            }
            Err(e) => {
                // The host refused: the subchannel is as before the instruction.
                if current {
                    if resume {
                        st.set_actl(ActivityControl::SUSP);
                    } else {
                        st.set_fctl(FunctionControl::new());
                        st.set_actl(ActivityControl::new());
                    }
                }
                (Err(e), 0)
            }
        }
    }

    /// A fresh, never-zero request token for a passthrough device.
    pub fn next_token(&self) -> u64 {
        self.pt_token.fetch_add(1, Ordering::Relaxed).wrapping_add(1).max(1)
    }

    /// Makes the interruption request of a subchannel that just became
    /// status pending; returns its CR6-order ISC bit.
    pub fn queue_interrupt_mask(&self, sch: &Subchannel, st: &mut SchState) -> u8 {
        let isc = self.queue_interrupt(sch.sid, st);
        0x80 >> isc
    }

    /// Wakes the embedder once per ISC in the CR6-order `mask`.
    pub fn wake_iscs(&self, mask: u8) {
        let mut m = mask;
        while m != 0 {
            let isc = u8::try_from(m.leading_zeros()).unwrap_or(7);
            m &= !(0x80 >> isc);
            self.wake(Wake::Io { isc });
        }
    }

    /// Starts the executor for `sch` if nobody runs it; otherwise the
    /// running thread picks up the posted work.
    pub fn kick<'a>(
        &self,
        sch: &'a Subchannel,
        mem: &dyn GuestMemory,
        st: MutexGuard<'a, SchState>,
    ) -> Result<(), PassthroughError> {
        if st.running {
            return Ok(());
        }
        self.run(sch, mem, st)
    }

    /// Applies passthrough reports if any passthrough device is attached.
    #[inline]
    pub fn poll_if_needed(&self) {
        if self.has_pt.load(Ordering::Acquire) {
            self.poll();
        }
    }
}
