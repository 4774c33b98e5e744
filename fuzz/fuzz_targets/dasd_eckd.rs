//! `dasd_eckd`: arbitrary ECKD channel programs (`zcss_dasd::fuzzing::
//! EckdStart`: DEFINE EXTENT, LOCATE RECORD (EXTENDED) and PREFIX
//! parameter blocks built field by field and then mutated, or raw bytes;
//! seeks, searches, reads, update and format writes, TICs, data chaining,
//! format-1 and format-2 IDALs, suspend; most programs open with a
//! coherent recipe so that they reach the volume) as the starts of the
//! `zcss_css::fuzz` harness — with HSCH/CSCH/XSCH/RSCH, TSCH, TPI,
//! unsolicited status and css-level steps interleaved on up to four
//! subchannels — against 3390s on fresh in-memory volumes of one to four
//! cylinders behind a 3990, 3990-3 or 3990-6, built exactly as the trace's
//! `device … dasd-3390 cu=… cylinders=…` line builds them.
//!
//! Checks, after every step (`zcss_dasd::fuzzing::run_scenario`): the
//! harness's invariants (no panic, bounded work, css invariants, SCSW
//! consistency, stores only into the programs' data areas and the
//! instructions' operands); no store write reaches a track outside the
//! extent the device had in force (`zcss_dasd::fuzzing::Probe`); every
//! track a step wrote is a valid image whose records fit the 3390 track
//! (≤ 1729 cells); and, derived from the input alone, when a program that
//! START SUBCHANNEL accepted begins with DEFINE EXTENT or PREFIX, the
//! device installs exactly the extent its parameter bytes name and only
//! tracks inside it change (none when they name no valid extent).
//!
//! `cargo fuzz fmt dasd_eckd <input>` prints the input as a `.zct` trace
//! that `zcss replay` runs on the same volumes.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zcss::machine::Machine;
use zcss_css::fuzz::Scenario;
use zcss_dasd::fuzzing::{run_scenario, EckdStart};

/// The storage control (the trace's `cu=`).
#[derive(Arbitrary, Clone, Copy)]
enum Cu {
    Plain,
    Model3,
    Model6,
}

#[derive(Arbitrary)]
struct Input {
    cu: Cu,
    /// Cylinders of the volume: 1 + this modulo 4.
    cylinders: u8,
    scenario: Scenario<EckdStart>,
}

impl Input {
    /// The trace's device kind and keys.
    fn device(&self) -> String {
        let cu = match self.cu {
            Cu::Plain => "3990",
            Cu::Model3 => "3990-3",
            Cu::Model6 => "3990-6",
        };
        format!("dasd-3390 cu={cu} cylinders={}", 1 + self.cylinders % 4)
    }
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.scenario.trace(&self.device()))
    }
}

fuzz_target!(|input: Input| {
    let device = input.device();
    run_scenario(&input.scenario, |i| {
        let devno = u16::try_from(i).unwrap_or(0);
        match Machine::dasd(&device, devno) {
            Ok(d) => d,
            Err(e) => panic!("{device}: {e}"),
        }
    });
});
