//! The condition-code matrix: every subchannel instruction against every
//! subchannel state (Principles of Operation, chapter 14, the condition-code
//! summary of each I/O instruction). States are forged directly in the
//! subchannel so that every combination of function, activity and status
//! control is reached, including those a synchronous device passes through
//! too quickly to observe.

use zcss_ccw::memory::VecMemory;
use zcss_ccw::orb::{Orb, OrbControls};
use zcss_ccw::scsw::{ActivityControl as A, FunctionControl as F, StatusControl as S};
use zcss_ccw::sid::SubchannelId;

use crate::mock::MockDevice;
use crate::{Cc, Css, CssConfig, IoCtx};

#[derive(Debug, Clone, Copy)]
enum State {
    Idle,
    StartPending,
    Active,
    Suspended,
    /// Status pending with this status control, under this function.
    Pending(F, A, S),
    Disabled,
    /// Below the highest subchannel, without a device (DNV = 0).
    NoDevice,
    NotProvided,
}

const SCHIB: u64 = 0x1000;
const ORB: u64 = 0x1800;
const CCW: u64 = 0x2000;
const IRB: u64 = 0x4000;

fn machine(state: State) -> (Css, VecMemory, u32) {
    let css = Css::new(CssConfig::default());
    let mem = VecMemory::new(1 << 16);
    let sid = |schno| SubchannelId {
        cssid: 0xfe,
        ssid: 0,
        schno,
    };
    css.attach_cold(sid(0), 0, Box::new(MockDevice::new(0x3832, 1)))
        .unwrap();
    css.attach_cold(sid(2), 2, Box::new(MockDevice::new(0x3832, 1)))
        .unwrap();
    // A NOP CCW and an ORB for SSCH.
    mem.store(CCW, &[0x03, 0x20, 0, 0, 0, 0, 0, 0]).unwrap();
    let orb = Orb {
        intparm: 1,
        ctrl: OrbControls::new().with_format1(true).with_lpm(0x80),
        cpa: 0x2000,
        ..Orb::default()
    };
    mem.store(ORB, &orb.encode().0[..12]).unwrap();
    let gr1 = match state {
        State::NoDevice => return (css, mem, 0x0001_0001),
        State::NotProvided => return (css, mem, 0x0001_0003),
        _ => 0x0001_0000,
    };
    let sch = css
        .sh
        .tables
        .get(SubchannelId {
            cssid: 0xfe,
            ssid: 0,
            schno: 0,
        })
        .unwrap();
    let mut st = sch.state.lock();
    st.pmcw.flags = st.pmcw.flags.with_enabled(true).with_isc(3);
    st.orb = Orb {
        ctrl: OrbControls::new().with_suspend(true),
        ..orb
    };
    let mut set = |f: F, a: A, s: S| {
        st.scsw.ctrl = st.scsw.ctrl.with_fctl(f).with_actl(a).with_stctl(s);
    };
    match state {
        State::Idle => {}
        State::StartPending => set(F::START, A::START_PEND, S::new()),
        State::Active => set(F::START, A::SCH_ACT | A::DEV_ACT, S::new()),
        State::Suspended => set(F::START, A::SUSP, S::new()),
        State::Pending(f, a, s) => set(f, a, s),
        State::Disabled => st.pmcw.flags = st.pmcw.flags.with_enabled(false),
        State::NoDevice | State::NotProvided => unreachable!(),
    }
    if let State::Pending(..) = state {
        let isc = css.sh.queue_interrupt(sch.sid, &mut st);
        assert_eq!(isc, 3);
    }
    drop(st);
    (css, mem, gr1)
}

/// The instructions, each returning its condition code.
fn run(insn: &str, css: &Css, mem: &VecMemory, gr1: u32) -> Cc {
    let ctx = IoCtx::new(mem);
    if insn == "msch" && css.stsch(&ctx, gr1, SCHIB) != Ok(Cc::Zero) {
        // Not provided: MSCH with a zero SCHIB.
        mem.store(SCHIB, &[0; 52]).unwrap();
    }
    let r = match insn {
        "ssch" => css.ssch(&ctx, gr1, ORB),
        "tsch" => css.tsch(&ctx, gr1, IRB),
        "stsch" => css.stsch(&ctx, gr1, SCHIB),
        "msch" => css.msch(&ctx, gr1, SCHIB),
        "csch" => css.csch(&ctx, gr1),
        "hsch" => css.hsch(&ctx, gr1),
        "xsch" => css.xsch(&ctx, gr1),
        "rsch" => css.rsch(&ctx, gr1),
        _ => unreachable!(),
    };
    r.unwrap_or_else(|p| panic!("{insn}: program check {p:?}"))
}

const INSNS: [&str; 8] = ["ssch", "tsch", "stsch", "msch", "csch", "hsch", "xsch", "rsch"];

/// Expected condition codes in the order of [`INSNS`].
fn table() -> Vec<(State, [u8; 8])> {
    let none = A::new();
    vec![
        //                                           ssch tsch stsch msch csch hsch xsch rsch
        (State::Idle, [0, 1, 0, 0, 0, 0, 2, 2]),
        // RSCH on a start in progress whose ORB had S: resume pending, cc 0
        // (PoO; original Hercules `resume_subchan`; QEMU answers cc 2).
        (State::StartPending, [2, 1, 0, 2, 0, 0, 0, 0]),
        (State::Active, [2, 1, 0, 2, 0, 0, 2, 0]),
        (State::Suspended, [2, 1, 0, 2, 0, 0, 0, 0]),
        // Unsolicited alert status.
        (
            State::Pending(F::new(), none, S::ALERT | S::PEND),
            [1, 0, 0, 1, 0, 1, 1, 1],
        ),
        // Intermediate status of a suspended program: HSCH withdraws it.
        (
            State::Pending(F::START, A::SUSP, S::INTER | S::PEND),
            [1, 0, 0, 1, 0, 0, 1, 1],
        ),
        // Intermediate status (PCI) of an active program.
        (
            State::Pending(F::START, A::SCH_ACT | A::DEV_ACT, S::INTER | S::PEND),
            [1, 0, 0, 1, 0, 0, 1, 1],
        ),
        (
            State::Pending(F::START, none, S::PRIM_SEC_PEND),
            [1, 0, 0, 1, 0, 1, 1, 1],
        ),
        (
            State::Pending(F::START, none, S::PRIM | S::PEND),
            [1, 0, 0, 1, 0, 1, 1, 1],
        ),
        (
            State::Pending(F::START, none, S::SEC | S::PEND),
            [1, 0, 0, 1, 0, 1, 1, 1],
        ),
        (
            State::Pending(F::START, none, S::ALERT | S::PRIM_SEC_PEND),
            [1, 0, 0, 1, 0, 1, 1, 1],
        ),
        // Deferred condition code 3.
        (
            State::Pending(F::START, none, S::ALERT | S::PEND),
            [1, 0, 0, 1, 0, 1, 1, 1],
        ),
        // Halt and clear completions: status pending alone.
        (
            State::Pending(F::START | F::HALT, none, S::PEND),
            [1, 0, 0, 1, 0, 1, 1, 1],
        ),
        (State::Pending(F::CLEAR, none, S::PEND), [1, 0, 0, 1, 0, 1, 1, 1]),
        (State::Disabled, [3, 3, 0, 0, 3, 3, 3, 3]),
        (State::NoDevice, [3, 3, 0, 0, 3, 3, 3, 3]),
        (State::NotProvided, [3, 3, 3, 3, 3, 3, 3, 3]),
    ]
}

#[test]
fn every_instruction_in_every_state_sets_the_architected_cc() {
    let mut failures = Vec::new();
    for (state, expect) in table() {
        for (insn, &cc) in INSNS.iter().zip(expect.iter()) {
            let (css, mem, gr1) = machine(state);
            let got = run(insn, &css, &mem, gr1);
            if got.value() != cc {
                failures.push(format!("{insn} in {state:?}: expected cc {cc}, got {}", got.value()));
            }
            if let Err(e) = css.check_invariants() {
                failures.push(format!("{insn} in {state:?}: invariant: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn hsch_on_idle_subchannel_ends_with_device_end_and_halt() {
    let (css, mem, gr1) = machine(State::Idle);
    let ctx = IoCtx::new(&mem);
    assert_eq!(css.hsch(&ctx, gr1), Ok(Cc::Zero));
    assert_eq!(css.tsch(&ctx, gr1, IRB), Ok(Cc::Zero));
    let irb = zcss_ccw::irb::Irb::decode(&mem.fetch(IRB, 64).unwrap()).unwrap();
    assert_eq!(irb.scsw.ctrl.fctl(), F::HALT);
    assert_eq!(irb.scsw.ctrl.stctl(), S::PEND);
    assert!(irb.scsw.dstat.device_end());
}

#[test]
fn hsch_on_start_pending_cancels_start_without_device_end() {
    let (css, mem, gr1) = machine(State::StartPending);
    let ctx = IoCtx::new(&mem);
    assert_eq!(css.hsch(&ctx, gr1), Ok(Cc::Zero));
    assert_eq!(css.tsch(&ctx, gr1, IRB), Ok(Cc::Zero));
    let irb = zcss_ccw::irb::Irb::decode(&mem.fetch(IRB, 64).unwrap()).unwrap();
    assert_eq!(irb.scsw.ctrl.fctl(), F::START | F::HALT, "start stays with halt");
    assert!(!irb.scsw.dstat.device_end());
}

#[test]
fn hsch_on_suspended_intermediate_withdraws_it_and_interrupts_once() {
    let (css, mem, gr1) = machine(State::Pending(F::START, A::SUSP, S::INTER | S::PEND));
    let ctx = IoCtx::new(&mem);
    assert_eq!(css.hsch(&ctx, gr1), Ok(Cc::Zero));
    assert!(css.next_interrupt(0xff).is_some());
    assert_eq!(
        css.next_interrupt(0xff),
        None,
        "the intermediate interruption was withdrawn"
    );
    assert_eq!(css.tsch(&ctx, gr1, IRB), Ok(Cc::Zero));
    let irb = zcss_ccw::irb::Irb::decode(&mem.fetch(IRB, 64).unwrap()).unwrap();
    assert!(irb.scsw.ctrl.fctl().halt());
    assert_eq!(irb.scsw.cpa, 8, "cpa after the suspended CCW");
}

#[test]
fn tsch_intermediate_status_keeps_suspended_function() {
    let (css, mem, gr1) = machine(State::Pending(F::START, A::SUSP, S::INTER | S::PEND));
    let ctx = IoCtx::new(&mem);
    assert_eq!(css.tsch(&ctx, gr1, IRB), Ok(Cc::Zero));
    assert_eq!(css.stsch(&ctx, gr1, SCHIB), Ok(Cc::Zero));
    let s = zcss_ccw::schib::Schib::decode(&mem.fetch(SCHIB, 52).unwrap()).unwrap();
    assert_eq!(s.scsw.ctrl.fctl(), F::START);
    assert_eq!(s.scsw.ctrl.actl(), A::SUSP);
    assert_eq!(s.scsw.ctrl.stctl(), S::new());
    assert_eq!(css.rsch(&ctx, gr1), Ok(Cc::Zero), "the program can be resumed");
}

#[test]
fn rsch_on_running_program_sets_resume_pending_once() {
    let (css, mem, gr1) = machine(State::Active);
    let ctx = IoCtx::new(&mem);
    assert_eq!(css.rsch(&ctx, gr1), Ok(Cc::Zero));
    let sch = css
        .sh
        .tables
        .get(SubchannelId {
            cssid: 0xfe,
            ssid: 0,
            schno: 0,
        })
        .unwrap();
    assert!(sch.state.lock().actl().resume_pending());
    assert!(
        sch.resume.load(std::sync::atomic::Ordering::Acquire),
        "the engine will pass the next S flag"
    );
    assert_eq!(css.rsch(&ctx, gr1), Ok(Cc::Two), "resume already pending");
}

#[test]
fn rsch_on_running_program_without_orb_suspend_is_cc2() {
    let (css, mem, gr1) = machine(State::Active);
    let ctx = IoCtx::new(&mem);
    css.sh
        .tables
        .get(SubchannelId {
            cssid: 0xfe,
            ssid: 0,
            schno: 0,
        })
        .unwrap()
        .state
        .lock()
        .orb
        .ctrl = OrbControls::new();
    assert_eq!(css.rsch(&ctx, gr1), Ok(Cc::Two));
}

#[test]
fn subchannel_footprint_is_at_most_256_bytes() {
    let size = std::mem::size_of::<crate::subchannel::Subchannel>();
    assert!(size <= 256, "Subchannel is {size} bytes");
}

#[test]
fn css_is_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Css>();
    assert_eq!(std::mem::size_of::<Css>(), std::mem::size_of::<usize>());
}
