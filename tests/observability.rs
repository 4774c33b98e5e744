//! The events a person debugging a guest reads: instructions at DEBUG with
//! their operands in hex, virtio-ccw command rejects and refused
//! notifications.

use std::path::Path;
use std::sync::{Arc, Mutex};

use zcss::trace::parse;
use zcss::trace::replay::{replay, ReplayOptions};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Replays `body` with a DEBUG subscriber; returns what it printed.
fn events_of(body: &str) -> String {
    let out = Captured::default();
    let sink = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "zcss_css=debug,zcss_virtio_ccw=debug,zcss_ccw=debug",
        ))
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let trace = parse(&format!("zcss-trace 1\ndevice fe.0.0000 devno=0000 virtio-rng\n{body}")).unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let mut sink = Vec::new();
        replay(
            &trace,
            Path::new("."),
            &ReplayOptions::default(),
            &mut sink,
            &mut |_| {},
        )
        .unwrap();
    });
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    text
}

#[test]
fn instructions_are_debug_events_with_hex_operands() {
    let text = events_of("stsch 0x00010000 0x00001000 => cc=0\n");
    assert!(text.contains("stsch gr1=0x10000 schib=0x1000 => cc=0"), "{text}");
}

#[test]
fn virtio_command_reject_and_refused_notify_are_debug_events_in_hex() {
    // Enable, then a command the proxy does not know (0x93 is no virtio
    // command) and a notification of a queue that is not set up.
    let text = events_of(
        "stsch 0x00010000 0x00001000 => cc=0\n\
         store 0x00001004 1880\n\
         msch 0x00010000 0x00001000 => cc=0\n\
         store 0x00002000 93200004 00003000\n\
         store 0x00001800 00000000 0080ff00 00002000\n\
         ssch 0x00010000 0x00001800\n\
         diag500 3 0x00010000 7 0\n",
    );
    assert!(text.contains("virtio-ccw command reject"), "{text}");
    assert!(text.contains("cmd=0x93"), "{text}");
    // A unit check ends the program at DEBUG (other endings are TRACE).
    assert!(text.contains("DEBUG zcss_ccw::engine: channel program ended"), "{text}");
    assert!(text.contains("dstat=0x02"), "{text}");
    assert!(text.contains("notification refused"), "{text}");
    assert!(text.contains("queue=0x7"), "{text}");
    assert!(
        text.contains("diag500 subcode=0x3 gr2=0x10000 gr3=0x7 gr4=0x0 => gr2=0xffffffffffffffea"),
        "{text}"
    );
}
