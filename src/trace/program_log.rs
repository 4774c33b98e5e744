//! What a channel program did, as the engine tells it: the `tracing`
//! events of `zcss_ccw`'s walker and engine (see the "Program trace"
//! section of `zcss_ccw::engine`) captured while one instruction runs, for
//! the `replay --verbose` listing — the CCWs fetched in order (TICs
//! included), the bytes each moved, where the program stopped and why.

use std::sync::Mutex;

use tracing::field::{Field, Visit};

/// One event of a channel program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramEvent {
    /// A CCW was fetched (and, unless it is a TIC, made current).
    Ccw {
        /// Where.
        addr: u64,
        /// Command code as fetched.
        cmd: u8,
        /// Flag byte.
        flags: u8,
        /// Count.
        count: u16,
        /// Data address.
        cda: u32,
        /// `Start`, `Command` or `Data` (how it became current).
        how: String,
    },
    /// A command ended.
    Command {
        /// The last CCW it used.
        ccw: u64,
        /// Bytes moved (or skipped) in all its CCWs.
        moved: u64,
        /// Residual count of the last CCW.
        residual: u16,
        /// Device status it ended with.
        dstat: u8,
    },
    /// The program ended.
    End {
        /// SCSW CCW address.
        cpa: u32,
        /// SCSW residual count.
        count: u16,
        /// Device status.
        dstat: u8,
        /// Subchannel status.
        cstat: u8,
        /// How (`Completed`, `Checked`, `Suspended`, `Stopped(…)`).
        ending: String,
        /// The check cause, if any (`Some(TicToTic)`).
        check: String,
    },
}

#[derive(Default)]
struct Fields {
    message: String,
    nums: Vec<(&'static str, u64)>,
    texts: Vec<(&'static str, String)>,
}

impl Fields {
    fn num(&self, n: &str) -> u64 {
        self.nums.iter().find(|(k, _)| *k == n).map_or(0, |(_, v)| *v)
    }

    fn text(&self, n: &str) -> String {
        self.texts
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    fn narrow<T: TryFrom<u64> + Default>(&self, n: &str) -> T {
        T::try_from(self.num(n)).unwrap_or_default()
    }
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.nums.push((field.name(), value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.nums.push((field.name(), u64::try_from(value).unwrap_or(0)));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.texts.push((field.name(), value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else if let Some(n) = text.strip_prefix("0x").and_then(|h| u64::from_str_radix(h, 16).ok()) {
            // Numbers the events print in hex for people.
            self.nums.push((field.name(), n));
        } else {
            self.texts.push((field.name(), text));
        }
    }
}

/// A `tracing` subscriber that keeps the program events of `zcss_ccw`.
#[derive(Default)]
struct Collector {
    events: Mutex<Vec<ProgramEvent>>,
}

impl tracing::Subscriber for Collector {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        m.target().starts_with("zcss_ccw")
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, e: &tracing::Event<'_>) {
        let mut f = Fields::default();
        e.record(&mut f);
        let ev = match f.message.as_str() {
            "ccw" => ProgramEvent::Ccw {
                addr: f.num("addr"),
                cmd: f.narrow("cmd"),
                flags: f.narrow("flags"),
                count: f.narrow("count"),
                cda: f.narrow("cda"),
                how: f.text("how"),
            },
            "command" => ProgramEvent::Command {
                ccw: f.num("ccw"),
                moved: f.num("moved"),
                residual: f.narrow("residual"),
                dstat: f.narrow("dstat"),
            },
            "channel program ended" => ProgramEvent::End {
                cpa: f.narrow("cpa"),
                count: f.narrow("count"),
                dstat: f.narrow("dstat"),
                cstat: f.narrow("cstat"),
                ending: f.text("ending"),
                check: f.text("check"),
            },
            _ => return,
        };
        if let Ok(mut v) = self.events.lock() {
            v.push(ev);
        }
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// Runs `f` and returns what it returned with the program events that
/// channel programs run on this thread meanwhile told. Programs that run
/// on other threads (passthrough devices) are not seen.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<ProgramEvent>) {
    let c = std::sync::Arc::new(Collector::default());
    let r = tracing::subscriber::with_default(c.clone(), f);
    let events = c.events.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
    (r, events)
}
