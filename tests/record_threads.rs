//! A recording is a valid serialization of what happened, with several CPU
//! threads: two CPUs start channel programs while an interrupt thread,
//! woken by the css's waker, takes the interruptions with TPI and TEST
//! SUBCHANNEL, and the host hot-plugs, unplugs and types console input
//! meanwhile. Every run is recorded (`Recorder::start`, one step) and must
//! replay without a mismatch, run after run.

use std::path::Path;

use zcss::trace::replay::{replay, ReplayOptions};
use zcss::trace::{parse, Insn, Outcome, Statement};

#[path = "support/three_cpus.rs"]
mod three_cpus;
use three_cpus::record_run;

fn replay_clean(text: &str) {
    let trace = parse(text).unwrap();
    let mut out = Vec::new();
    let r = replay(&trace, Path::new("."), &ReplayOptions::default(), &mut out, &mut |_| {}).unwrap();
    assert_eq!(r.mismatches, vec![], "recording:\n{text}");
}

#[test]
fn record_three_cpu_threads_replays_clean_every_run() {
    for _ in 0..200 {
        let text = record_run(12, 0);
        replay_clean(&text);
    }
}

#[test]
fn record_interrupt_thread_tpi_comes_after_the_ssch_that_made_it_pending() {
    let text = record_run(24, 0);
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
