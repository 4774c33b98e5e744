//! A recording is a valid serialization of what happened, with several CPU
//! threads: two CPUs start channel programs while an interrupt thread,
//! woken by the css's waker, takes the interruptions with TPI and TEST
//! SUBCHANNEL, and the host hot-plugs, unplugs and types console input
//! meanwhile. Every run is recorded (`Recorder::start`, one step) and must
//! replay without a mismatch, run after run.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zcss::ccw::sid::SubchannelId;
use zcss::ccw::VecMemory;
use zcss::css::{Cc, Css, CssConfig, IoCtx, Wake};
use zcss::machine::DeterministicEntropy;
use zcss::trace::replay::{replay, ReplayOptions};
use zcss::trace::{parse, Insn, Outcome, Recorder, Statement};
use zcss::virtio_ccw::{Block, Console, ConsoleInput, Rng, VirtioCcwDevice};

const MEMORY: u64 = 1 << 20;

fn sid(schno: u16) -> SubchannelId {
    SubchannelId {
        cssid: 0xfe,
        ssid: 0,
        schno,
    }
}

/// The machine: a disk, an entropy source and a console on fe.0.0000-2.
fn machine() -> Css {
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
fn cpu(css: &Css, mem: &VecMemory, schno: u16, area: u64, rounds: u32) {
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
fn interrupts(css: &Css, mem: &VecMemory, wake: &crossbeam_channel::Receiver<Wake>, done: &AtomicBool) {
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

/// One recorded run; returns the trace.
fn record_run(rounds: u32) -> String {
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
        done.store(true, Ordering::Release);
        irq.join().unwrap();
    });
    assert!(rec.problems().is_empty(), "{:?}", rec.problems());
    rec.text()
}

fn replay_clean(text: &str) {
    let trace = parse(text).unwrap();
    let mut out = Vec::new();
    let r = replay(&trace, Path::new("."), &ReplayOptions::default(), &mut out, &mut |_| {}).unwrap();
    assert_eq!(r.mismatches, vec![], "recording:\n{text}");
}

#[test]
fn record_three_cpu_threads_replays_clean_every_run() {
    for _ in 0..200 {
        let text = record_run(12);
        replay_clean(&text);
    }
}

#[test]
fn record_interrupt_thread_tpi_comes_after_the_ssch_that_made_it_pending() {
    let text = record_run(24);
    let trace = parse(&text).unwrap();
    // Per subchannel: a TPI that found an interruption must follow a
    // successful SSCH on it not yet cleared by TSCH.
    let mut started = [0u32; 8];
    let mut taken = 0;
    let mut last_tpi_sch = None;
    for (line, s) in trace.statements() {
        let Statement::Insn(i) = s else { continue };
        match (i.insn, i.outcome) {
            (Insn::Ssch { gr1, .. }, Some(Outcome::Cc(0))) => started[usize::try_from(gr1.value & 7).unwrap()] += 1,
            (Insn::Tpi { .. }, Some(Outcome::Cc(1))) => last_tpi_sch = Some(line),
            (Insn::Tsch { gr1, .. }, Some(Outcome::Cc(0))) if last_tpi_sch.take().is_some() => {
                let n = &mut started[usize::try_from(gr1.value & 7).unwrap()];
                assert!(
                    *n > 0,
                    "line {line}: TSCH of an interruption before the SSCH that made it"
                );
                *n -= 1;
                taken += 1;
            }
            _ => {}
        }
    }
    assert!(taken >= 4, "{taken} interruptions taken by the interrupt thread");
    let hot_plug = text.lines().position(|l| l.starts_with("device fe.0.0005"));
    let first_insn = text
        .lines()
        .position(|l| l.starts_with("stsch") || l.starts_with("ssch"));
    assert!(hot_plug.is_some() && text.contains("\ndetach fe.0.0005\n"), "{text}");
    assert!(text.contains("console-input fe.0.0002 68656c6c 6f0a"), "{text}");
    assert!(first_insn.is_some());
    replay_clean(&text);
}
