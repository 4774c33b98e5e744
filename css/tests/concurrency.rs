//! Concurrency: SSCH, TSCH, CSCH and HSCH from several threads on distinct
//! and on shared subchannels. No interruption is lost or duplicated, and
//! the state invariants hold when the threads are done.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::*;
use zcss_ccw::irb::Irb;
use zcss_ccw::memory::VecMemory;
use zcss_css::{Cc, IoCtx};

/// Each thread owns one subchannel on its own ISC: every SSCH with cc 0
/// yields exactly one interruption on that ISC, carrying that SSCH's
/// interruption parameter, and one TSCH cc 0.
#[test]
fn distinct_subchannels_each_start_interrupts_exactly_once() {
    const THREADS: u16 = 4;
    const ROUNDS: u32 = 2000;
    let m = Arc::new(Machine::new(THREADS));
    for i in 0..THREADS {
        m.enable(gr1(i), u8::try_from(i).unwrap());
    }
    let barrier = Arc::new(Barrier::new(usize::from(THREADS)));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let m = Arc::clone(&m);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                // Private storage for this thread's CCW, ORB and IRB.
                let mem = VecMemory::new(1 << 16);
                let ctx = IoCtx::new(&mem);
                let mut b = [0u8; 8];
                b[0] = 0x03;
                b[1] = 0x20;
                mem.store(0x100, &b).unwrap();
                barrier.wait();
                let isc_mask = 0x80u8 >> i;
                for round in 0..ROUNDS {
                    let orb = [
                        round.to_be_bytes().to_vec(),
                        vec![0x00, 0x80, 0x80, 0x00],
                        0x100u32.to_be_bytes().to_vec(),
                    ]
                    .concat();
                    mem.store(0x200, &orb).unwrap();
                    assert_eq!(m.css.ssch(&ctx, gr1(i), 0x200), Ok(Cc::Zero));
                    let code = m.css.next_interrupt(isc_mask).expect("one interruption");
                    assert_eq!(code.sid, gr1(i));
                    assert_eq!(code.intparm, round);
                    assert_eq!(m.css.next_interrupt(isc_mask), None, "no duplicate");
                    assert_eq!(m.css.tsch(&ctx, gr1(i), 0x300), Ok(Cc::Zero));
                    assert_eq!(m.css.tsch(&ctx, gr1(i), 0x300), Ok(Cc::One));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    m.css.check_invariants().unwrap();
    assert_eq!(m.css.pending_iscs(), 0);
}

/// Several threads hammer the same two subchannels with SSCH, TSCH, CSCH
/// and HSCH while another takes interruptions. Every interruption taken
/// belongs to a subchannel that a TSCH then finds status pending, unless
/// another thread's TSCH or CSCH got there first; at the end nothing is
/// left over and the invariants hold.
#[test]
fn shared_subchannels_under_ssch_tsch_csch_hsch_keep_invariants() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 3000;
    let m = Arc::new(Machine::new(2));
    m.enable(gr1(0), 2);
    m.enable(gr1(1), 5);
    m.ctl[0].set_delay(Some(Duration::from_micros(20)));
    let taken = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let m = Arc::clone(&m);
        let taken = Arc::clone(&taken);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                if let Some(code) = m.css.next_interrupt(0xff) {
                    assert!(code.sid == gr1(0) || code.sid == gr1(1), "{:#x}", code.sid);
                    taken.fetch_add(1, Ordering::Relaxed);
                } else {
                    std::thread::yield_now();
                }
            }
        })
    };
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                let mem = VecMemory::new(1 << 16);
                let ctx = IoCtx::new(&mem);
                mem.store(0x100, &[0x03, 0x60, 0, 0, 0, 0, 0, 0]).unwrap();
                mem.store(0x108, &[0x03, 0x20, 0, 0, 0, 0, 0, 0]).unwrap();
                mem.store(0x200, &[0, 0, 0, 1, 0x00, 0x80, 0x80, 0x00, 0, 0, 0x01, 0x00])
                    .unwrap();
                let mut x = 0x9e37_79b9u32.wrapping_mul(u32::try_from(t).unwrap() + 1);
                for _ in 0..ROUNDS {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    let g = gr1(u16::try_from(x & 1).unwrap());
                    let r = match (x >> 1) % 8 {
                        0..=2 => m.css.ssch(&ctx, g, 0x200),
                        3..=5 => m.css.tsch(&ctx, g, 0x300),
                        6 => m.css.csch(&ctx, g),
                        _ => m.css.hsch(&ctx, g),
                    };
                    assert!(r.is_ok(), "{r:?}");
                    if r == Ok(Cc::Zero) && (x >> 1) % 8 >= 3 && (x >> 1) % 8 <= 5 {
                        let irb = Irb::decode(&mem.fetch(0x300, 64).unwrap()).unwrap();
                        assert!(irb.scsw.ctrl.stctl().pending(), "TSCH cc 0 shows status pending");
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    stop.store(true, Ordering::Release);
    collector.join().unwrap();
    m.css.check_invariants().unwrap();
    // Drain: whatever is still pending interrupts exactly once per subchannel.
    let mut left = 0;
    while m.css.next_interrupt(0xff).is_some() {
        left += 1;
    }
    assert!(left <= 2);
    let ctx = m.ctx();
    for s in 0..2 {
        let _ = m.css.tsch(&ctx, gr1(s), IRB);
        assert_eq!(m.css.tsch(&ctx, gr1(s), IRB), Ok(Cc::One));
    }
    assert!(taken.load(Ordering::Relaxed) > 0);
    m.css.check_invariants().unwrap();
}

/// HSCH from another thread overtakes a running program: exactly one
/// interruption, for the halt.
#[test]
fn hsch_from_another_thread_stops_running_program_with_one_interruption() {
    let m = Arc::new(Machine::new(1));
    m.enable(gr1(0), 3);
    m.ctl[0].set_delay(Some(Duration::from_millis(50)));
    for i in 0..8u64 {
        m.ccw1(CCW + 8 * i, 0x03, if i < 7 { 0x60 } else { 0x20 }, 0, 0);
    }
    m.orb(7, Machine::fmt1(), CCW32);
    let m2 = Arc::clone(&m);
    let t = std::thread::spawn(move || m2.css.ssch(&m2.ctx(), gr1(0), ORB));
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(m.css.hsch(&m.ctx(), gr1(0)), Ok(Cc::Zero));
    assert_eq!(t.join().unwrap(), Ok(Cc::Zero));
    let code = m.css.next_interrupt(0xff).expect("halt interruption");
    assert_eq!(code.intparm, 7);
    assert_eq!(m.css.next_interrupt(0xff), None);
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    assert!(irb.scsw.ctrl.fctl().halt());
    assert!(irb.scsw.ctrl.fctl().start());
    assert!(m.ctl[0].commands().len() < 8, "the chain was cut short");
    m.css.check_invariants().unwrap();
}

/// SSCH and TSCH from four threads on two shared subchannels while a
/// fifth thread takes interruptions: every SSCH with cc 0 is matched by
/// exactly one TSCH with cc 0 (no status lost or reported twice), every
/// interruption taken carries the parameter of an accepted SSCH, and no
/// parameter is taken twice.
#[test]
fn shared_subchannels_every_start_is_tested_once_and_interrupts_at_most_once() {
    const THREADS: u32 = 4;
    const ROUNDS: u32 = 4000;
    let m = Arc::new(Machine::new(2));
    m.enable(gr1(0), 3);
    m.enable(gr1(1), 3);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let m = Arc::clone(&m);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            loop {
                match m.css.next_interrupt(0xff) {
                    Some(code) => seen.push(code.intparm),
                    None if stop.load(Ordering::Acquire) => break,
                    None => std::thread::yield_now(),
                }
            }
            seen
        })
    };
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                let mem = VecMemory::new(1 << 16);
                let ctx = IoCtx::new(&mem);
                mem.store(0x100, &[0x03, 0x20, 0, 0, 0, 0, 0, 0]).unwrap();
                let mut accepted = Vec::new();
                let mut tested = 0u32;
                for round in 0..ROUNDS {
                    let g = gr1(u16::try_from(round & 1).unwrap());
                    let intparm = t << 24 | round;
                    let mut orb = intparm.to_be_bytes().to_vec();
                    orb.extend([0x00, 0x80, 0x80, 0x00, 0, 0, 0x01, 0x00]);
                    mem.store(0x200, &orb).unwrap();
                    if m.css.ssch(&ctx, g, 0x200) == Ok(Cc::Zero) {
                        accepted.push(intparm);
                    }
                    if m.css.tsch(&ctx, g, 0x300) == Ok(Cc::Zero) {
                        tested += 1;
                    }
                }
                (accepted, tested)
            })
        })
        .collect();
    let mut accepted = Vec::new();
    let mut tested = 0;
    for h in handles {
        let (a, t) = h.join().unwrap();
        accepted.extend(a);
        tested += t;
    }
    // Collect what is still pending.
    let ctx = m.ctx();
    for s in 0..2 {
        if m.css.tsch(&ctx, gr1(s), IRB) == Ok(Cc::Zero) {
            tested += 1;
        }
    }
    stop.store(true, Ordering::Release);
    let mut seen = collector.join().unwrap();
    assert_eq!(
        u32::try_from(accepted.len()).unwrap(),
        tested,
        "every accepted start tested exactly once"
    );
    let n = seen.len();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), n, "an interruption was taken twice");
    accepted.sort_unstable();
    assert!(
        seen.iter().all(|p| accepted.binary_search(p).is_ok()),
        "interruption for no start"
    );
    assert_eq!(m.css.pending_iscs(), 0);
    m.css.check_invariants().unwrap();
}

/// Runs NOP (command chaining) → NOP with S → end on fe.0.0000, every
/// command taking `delay`, from another thread; `during` runs on this
/// thread while the program is in its first command. Returns the IRB.
fn suspend_race(during: impl FnOnce(&Machine)) -> Irb {
    let m = Arc::new(Machine::new(1));
    m.enable(gr1(0), 3);
    m.ctl[0].set_delay(Some(Duration::from_millis(150)));
    m.ccw1(CCW, 0x03, 0x60, 1, DATA32); // NOP, CC|SLI
    m.ccw1(CCW + 8, 0x03, 0x22, 1, DATA32); // NOP, SLI|S
    m.orb(1, Machine::fmt1().with_suspend(true), CCW32);
    let runner = {
        let m = Arc::clone(&m);
        std::thread::spawn(move || m.css.ssch(&m.ctx(), gr1(0), ORB))
    };
    std::thread::sleep(Duration::from_millis(50));
    during(&m);
    assert_eq!(runner.join().unwrap(), Ok(Cc::Zero));
    let (cc, irb) = m.tsch(gr1(0));
    assert_eq!(cc, Ok(Cc::Zero));
    m.css.check_invariants().unwrap();
    irb
}

#[test]
fn rsch_while_running_makes_the_next_suspend_flag_pass() {
    let irb = suspend_race(|m| assert_eq!(m.css.rsch(&m.ctx(), gr1(0)), Ok(Cc::Zero)));
    assert!(irb.scsw.ctrl.stctl().primary(), "the program ended, not suspended");
    assert_eq!(irb.scsw.ctrl.actl(), zcss_ccw::scsw::ActivityControl::new());
    assert_eq!(irb.scsw.cpa, CCW32 + 16);
}

#[test]
fn without_rsch_the_same_program_suspends() {
    let irb = suspend_race(|_| {});
    assert!(irb.scsw.ctrl.actl().suspended());
    assert_eq!(irb.scsw.cpa, CCW32 + 16, "suspended at the second CCW");
}
