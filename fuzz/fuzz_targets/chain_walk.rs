//! `chain_walk`: structured channel programs (`zcss_ccw::generate`) on up to
//! four subchannels with HSCH/CSCH/XSCH/RSCH, TSCH, TPI and unsolicited
//! status interleaved, against the scriptable mock device
//! (`zcss_css::mock::MockDevice`, replies scripted per command), through
//! the `zcss_css::fuzz` harness and its invariants.
//!
//! `cargo fuzz fmt chain_walk <input>` prints the input as a `.zct` trace
//! that `zcss replay` runs (device kind `mock`).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zcss_ccw::device::Sense;
use zcss_ccw::status::DeviceStatus;
use zcss_css::fuzz::{DeviceUnderTest, Harness, Scenario};
use zcss_css::mock::{MockDevice, MockReply};

/// How the mock ends a command (the trace's `replies=` values).
#[derive(Arbitrary, Clone, Copy)]
enum Reply {
    Busy,
    UnitCheck(u8),
    Status(u8),
}

#[derive(Arbitrary)]
struct Input {
    /// Per command code, a reply other than the default (transfer, CE|DE).
    replies: Vec<(u8, Reply)>,
    scenario: Scenario,
}

impl Input {
    fn replies(&self) -> impl Iterator<Item = (u8, Reply)> + '_ {
        self.replies.iter().take(8).copied()
    }

    /// The trace's device kind and keys.
    fn device(&self) -> String {
        let r: Vec<String> = self
            .replies()
            .map(|(c, r)| match r {
                Reply::Busy => format!("{c:02x}:busy"),
                Reply::UnitCheck(s) => format!("{c:02x}:uc{s:02x}"),
                Reply::Status(s) => format!("{c:02x}:st{s:02x}"),
            })
            .collect();
        if r.is_empty() {
            "mock".into()
        } else {
            format!("mock replies={}", r.join(","))
        }
    }
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.scenario.trace(&self.device()))
    }
}

fuzz_target!(|input: Input| {
    Harness::new(|_| {
        let d = MockDevice::new(0x3832, 1);
        let c = d.control();
        for (cmd, r) in input.replies() {
            c.set_reply(
                cmd,
                match r {
                    Reply::Busy => MockReply::Busy,
                    Reply::UnitCheck(s) => MockReply::UnitCheck(Sense::byte0(s)),
                    Reply::Status(s) => MockReply::Status(DeviceStatus::from_bits(s)),
                },
            );
        }
        DeviceUnderTest::Interpreted(Box::new(d))
    })
    .run(&input.scenario);
});
