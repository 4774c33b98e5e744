//! A recorded session with several CPU threads, shared by tests: two CPUs
//! start channel programs while an interrupt thread, woken by the css's
//! waker, takes the interruptions with TPI and TEST SUBCHANNEL, and the
//! host types console input, hot-plugs and unplugs a device meanwhile (and,
//! if asked, resets the I/O system afterwards). Recorded with
//! `Recorder::start`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zcss::ccw::sid::SubchannelId;
use zcss::ccw::VecMemory;
use zcss::css::{Cc, Css, CssConfig, IoCtx, Wake};
use zcss::machine::DeterministicEntropy;
use zcss::trace::Recorder;
use zcss::virtio_ccw::{Block, Console, ConsoleInput, Rng, VirtioCcwDevice};

/// Guest storage of the session.
pub const MEMORY: u64 = 1 << 20;

pub fn sid(schno: u16) -> SubchannelId {
    SubchannelId {
        cssid: 0xfe,
        ssid: 0,
        schno,
    }
}

/// The machine: a disk, an entropy source and a console on fe.0.0000-2.
pub fn machine() -> Css {
    let css = Css::new(CssConfig::default());
    css.attach_cold(
        sid(0),
        0,
        Box::new(VirtioCcwDevice::new(Box::new(Block::in_memory(16).unwrap()))),
    )
    .unwrap();
    css.attach_cold(
        sid(1),
        1,
        Box::new(VirtioCcwDevice::new(Box::new(Rng::with_source(Some(Box::new(
            DeterministicEntropy::default(),
        )))))),
    )
    .unwrap();
    css.attach_cold(
        sid(2),
        2,
        Box::new(VirtioCcwDevice::new(Box::new(Console::new(
            Box::new(std::io::sink()),
            ConsoleInput::default(),
        )))),
    )
    .unwrap();
    css
}

/// A CPU driving subchannel `schno` with its own storage at `area`: enable
/// it on ISC 3, then start SENSE ID (and a READ_FEAT-less NOP chain)
/// `rounds` times; the interrupt thread clears the status.
pub fn cpu(css: &Css, mem: &VecMemory, schno: u16, area: u64, rounds: u32) {
    let ctx = IoCtx::new(mem);
    let gr1 = 0x0001_0000 | u32::from(schno);
    assert_eq!(css.stsch(&ctx, gr1, area), Ok(Cc::Zero));
    let mut w1 = mem.fetch(area + 4, 2).unwrap();
    w1[0] |= 3 << 3;
    w1[1] |= 0x80;
    mem.store(area + 4, &w1).unwrap();
    assert_eq!(css.msch(&ctx, gr1, area), Ok(Cc::Zero));
    let ccw = u32::try_from(area + 0x100).unwrap().to_be_bytes();
    let data = u32::try_from(area + 0x200).unwrap().to_be_bytes();
    for round in 0..rounds {
        // SENSE ID into this CPU's data area, then (command chained) a NOP.
        mem.store(
            area + 0x100,
            &[
                0xe4, 0x60, 0, 8, data[0], data[1], data[2], data[3], 0x03, 0x20, 0, 1, 0, 0, 0, 0,
            ],
        )
        .unwrap();
        let intparm = (u32::from(schno) << 16 | round).to_be_bytes();
        mem.store(
            area + 0x80,
            &[
                intparm[0], intparm[1], intparm[2], intparm[3], 0, 0x80, 0xff, 0, ccw[0], ccw[1], ccw[2], ccw[3],
            ],
        )
        .unwrap();
        if css.ssch(&ctx, gr1, area + 0x80) == Ok(Cc::Zero) {
            // Wait (without an instruction) for the interrupt thread to
            // clear the status, mostly: now and then start again at once
            // and get cc=1.
            while round % 5 != 4 && css.schib(sid(schno)).is_some_and(|s| s.scsw.ctrl.stctl().pending()) {
                std::thread::yield_now();
            }
        }
        if round % 4 == 0 {
            let _ = css.stsch(&ctx, gr1, area + 0x400);
        }
        if round % 8 == 3 {
            // A notification of a queue that is not set up: -EINVAL.
            let _ = css.diag500(&ctx, 3, u64::from(gr1), 0, 0);
        }
    }
}

/// The interrupt thread: woken by the css, takes every pending I/O
/// interruption with TPI and clears it with TSCH, until `done` and
/// nothing is pending.
pub fn interrupts(css: &Css, mem: &VecMemory, wake: &crossbeam_channel::Receiver<Wake>, done: &AtomicBool) {
    let ctx = IoCtx::new(mem);
    let (code, irb) = (0x9000, 0x9100);
    loop {
        match css.tpi(&ctx, code, 0xff) {
            Ok(Cc::One) => {
                let w = mem.fetch(code, 4).unwrap();
                let gr1 = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
                let _ = css.tsch(&ctx, gr1, irb);
            }
            _ if done.load(Ordering::Acquire) && css.pending_iscs() == 0 => return,
            _ => {
                let _ = wake.recv_timeout(Duration::from_millis(1));
            }
        }
    }
}

/// One recorded run with `rounds` per CPU; with `after_reset` > 0, once
/// the two CPUs are done the host resets the I/O system and CPU 0 enables
/// its subchannel again and runs `after_reset` more rounds. Returns the
/// trace.
#[must_use]
pub fn record_run(rounds: u32, after_reset: u32) -> String {
    let css = machine();
    let rec = Recorder::start(&css, MEMORY, None).unwrap();
    let mem = Arc::new(VecMemory::new(MEMORY));
    let (tx, rx) = crossbeam_channel::unbounded();
    css.set_waker_channel(tx);
    let done = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        let irq = s.spawn(|| interrupts(&css, &mem, &rx, &done));
        let a = s.spawn(|| cpu(&css, &mem, 0, 0x1000, rounds));
        let b = s.spawn(|| cpu(&css, &mem, 1, 0x3000, rounds));
        // The host: console input, a hot plug and an unplug, meanwhile.
        css.device_input(sid(2), &*mem, b"hello\n").unwrap();
        css.attach(
            sid(5),
            5,
            Box::new(VirtioCcwDevice::new(Box::new(Rng::with_source(Some(Box::new(
                DeterministicEntropy::default(),
            )))))),
        )
        .unwrap();
        std::thread::yield_now();
        css.detach(sid(5)).unwrap();
        a.join().unwrap();
        b.join().unwrap();
        if after_reset > 0 {
            css.reset();
            s.spawn(|| cpu(&css, &mem, 0, 0x1000, after_reset)).join().unwrap();
        }
        done.store(true, Ordering::Release);
        irq.join().unwrap();
    });
    assert!(rec.problems().is_empty(), "{:?}", rec.problems());
    rec.text()
}
