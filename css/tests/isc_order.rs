//! Order of I/O interruptions within one ISC when several threads make
//! requests (see `zcss_css::interrupt`): the requests made on one thread
//! come in the order they were made, concurrently with another thread or
//! not; a request made after another thread's request (synchronized with
//! it) comes after it.

mod common;

use std::sync::{mpsc, Arc, Barrier};

use common::*;
use zcss_ccw::memory::VecMemory;
use zcss_css::{Cc, Css, IoCtx};

/// Starts a one-NOP program on subchannel `schno` with interruption
/// parameter `schno`, using private storage at `mem`.
fn start(css: &Css, mem: &VecMemory, schno: u16) {
    let ctx = IoCtx::new(mem);
    mem.store(0x100, &[0x03, 0x20, 0, 0, 0, 0, 0, 0]).unwrap();
    let orb = [
        u32::from(schno).to_be_bytes().to_vec(),
        vec![0x00, 0x80, 0x80, 0x00],
        0x100u32.to_be_bytes().to_vec(),
    ]
    .concat();
    mem.store(0x200, &orb).unwrap();
    assert_eq!(css.ssch(&ctx, gr1(schno), 0x200), Ok(Cc::Zero));
}

/// Interruption parameters of every pending interruption, in delivery order.
fn delivered(css: &Css) -> Vec<u16> {
    std::iter::from_fn(|| css.next_interrupt(0xff))
        .map(|c| u16::try_from(c.intparm).unwrap())
        .collect()
}

/// Two threads start 500 subchannels each on ISC 3 at the same time:
/// each thread's subchannels are presented in the order it started them.
#[test]
fn next_interrupt_after_concurrent_starts_on_one_isc_keeps_each_threads_order() {
    const PER_THREAD: u16 = 500;
    let m = Arc::new(Machine::new(2 * PER_THREAD));
    for i in 0..2 * PER_THREAD {
        m.enable(gr1(i), 3);
    }
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2u16)
        .map(|t| {
            let m = Arc::clone(&m);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mem = VecMemory::new(1 << 16);
                barrier.wait();
                // Thread 0 starts the even subchannels, thread 1 the odd ones.
                for k in 0..PER_THREAD {
                    start(&m.css, &mem, 2 * k + t);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let order = delivered(&m.css);
    let of = |t: u16| order.iter().copied().filter(|s| s % 2 == t).collect::<Vec<_>>();
    assert_eq!(order.len(), usize::from(2 * PER_THREAD));
    assert_eq!(of(0), (0..PER_THREAD).map(|k| 2 * k).collect::<Vec<_>>());
    assert_eq!(of(1), (0..PER_THREAD).map(|k| 2 * k + 1).collect::<Vec<_>>());
    m.css.check_invariants().unwrap();
}

/// Thread A starts subchannel 0, then thread B (told by A) starts 1, then
/// A (told by B) starts 2, both threads alive throughout: 0, 1, 2.
#[test]
fn next_interrupt_after_starts_handed_between_threads_presents_them_in_order_made() {
    let m = Arc::new(Machine::new(3));
    for i in 0..3 {
        m.enable(gr1(i), 3);
    }
    let (to_b, b_rx) = mpsc::channel::<()>();
    let (to_a, a_rx) = mpsc::channel::<()>();
    let m_a = Arc::clone(&m);
    let a = std::thread::spawn(move || {
        let mem = VecMemory::new(1 << 16);
        start(&m_a.css, &mem, 0);
        to_b.send(()).unwrap();
        a_rx.recv().unwrap();
        start(&m_a.css, &mem, 2);
    });
    let m_b = Arc::clone(&m);
    let b = std::thread::spawn(move || {
        let mem = VecMemory::new(1 << 16);
        b_rx.recv().unwrap();
        start(&m_b.css, &mem, 1);
        to_a.send(()).unwrap();
    });
    a.join().unwrap();
    b.join().unwrap();
    assert_eq!(delivered(&m.css), vec![0, 1, 2]);
}
