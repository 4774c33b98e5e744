//! `vfio_harness`: the `zcss_css::fuzz` harness on up to four 3390s passed
//! through vfio-ccw (`vfio-dasd`: each DASD on a subchannel of the
//! simulated host, its guest channel programs translated as Linux's
//! vfio-ccw does and run on the host's channel) — structured starts,
//! HSCH/CSCH/XSCH/RSCH, TSCH, TPI and the css-level steps, the harness
//! waiting for the host's reports after every step. The harness's
//! invariants hold for the passed-through device as for an emulated one:
//! css state, SCSW consistency, no store outside the programs' data areas
//! (the host channel's DMA included), bounded work. `vfio_translate` keeps
//! the translator's own oracles.
//!
//! Left out: suspension with its interruption suppressed (ORB S and U):
//! vfio-ccw does not support suspension, and a program the host suspends
//! without an interruption leaves the guest's subchannel active for good
//! (vfio_ccw/README.md, refused classes) — `Input::scenario` clears U where
//! S is set.
//!
//! `cargo fuzz fmt vfio_harness <input>` prints the `.zct` trace of what
//! ran (device kind `vfio-dasd`, a `wait` after every step); `zcss replay`
//! runs it.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zcss::machine::Machine;
use zcss::vfio_ccw::SimHost;
use zcss_css::fuzz::{DeviceUnderTest, Harness, Scenario, Step};

/// The storage control the DASDs sit behind.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Cu {
    Plain,
    Model3,
    Model6,
}

#[derive(Arbitrary)]
struct Input {
    cu: Cu,
    scenario: Scenario,
}

impl Input {
    /// The scenario run: suspension keeps its interruption.
    fn scenario(&self) -> Scenario {
        let mut s = self.scenario.clone();
        keep_suspend_interruptions(&mut s);
        s
    }

    /// The `device` line's kind and keys of subchannel `i`.
    fn device(&self, i: usize) -> String {
        let cu = match self.cu {
            Cu::Plain => "3990",
            Cu::Model3 => "3990-3",
            Cu::Model6 => "3990-6",
        };
        format!("vfio-dasd host=0.0.{i:04x} cu={cu} cylinders=1")
    }
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.scenario().trace_each(&|i| self.device(i)))
    }
}

fuzz_target!(|input: Input| {
    let host = std::sync::Arc::new(SimHost::new());
    Harness::new(|i| {
        let host = host.clone();
        let device = input.device(i);
        DeviceUnderTest::PassthroughOn(Box::new(move |guest| {
            Machine::passthrough_device(&device, &host, guest).expect("a vfio-dasd device line builds")
        }))
    })
    .run(&input.scenario());
});

/// Clears ORB U where S is set (see the module's doc).
fn keep_suspend_interruptions(s: &mut Scenario) {
    for step in &mut s.steps {
        if let Step::Start(_, d) = step {
            if d.orb.suspend {
                d.orb.suppress_suspended = false;
            }
        }
    }
}
