//! A script for the scriptable mock device (`zcss_css::mock`) as fuzz
//! input: per command code a reply other than the default (transfer, then
//! channel end and device end). It prints as the trace's device kind
//! `mock replies=…` (docs/trace-format.md), and a target builds the device
//! from that very string (`zcss::machine::Machine::interpreted_device`),
//! so a finding's trace names the device that ran.

use arbitrary::Arbitrary;

/// Most command codes with a reply of their own.
pub const MAX_REPLIES: usize = 8;

/// How the mock ends a command (the trace's `replies=` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum ScriptReply {
    /// Busy status (`busy`).
    Busy,
    /// Unit check with this sense byte 0 (`uc<hex>`).
    UnitCheck(u8),
    /// This device status, nothing transferred (`st<hex>`).
    Status(u8),
}

/// The replies of a mock device, per command code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Arbitrary)]
pub struct MockScript {
    /// (command code, reply); the first [`MAX_REPLIES`] count.
    pub replies: Vec<(u8, ScriptReply)>,
}

impl MockScript {
    /// The trace's device kind and keys: `mock`, or
    /// `mock replies=e4:busy,03:uc80,02:st0c`.
    #[must_use]
    pub fn device(&self) -> String {
        let r: Vec<String> = self
            .replies
            .iter()
            .take(MAX_REPLIES)
            .map(|(c, r)| match r {
                ScriptReply::Busy => format!("{c:02x}:busy"),
                ScriptReply::UnitCheck(s) => format!("{c:02x}:uc{s:02x}"),
                ScriptReply::Status(s) => format!("{c:02x}:st{s:02x}"),
            })
            .collect();
        if r.is_empty() {
            "mock".into()
        } else {
            format!("mock replies={}", r.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_the_replies_in_trace_form() {
        assert_eq!(MockScript::default().device(), "mock");
        let s = MockScript {
            replies: vec![
                (0xe4, ScriptReply::Busy),
                (0x03, ScriptReply::UnitCheck(0x80)),
                (0x02, ScriptReply::Status(0x0c)),
            ],
        };
        assert_eq!(s.device(), "mock replies=e4:busy,03:uc80,02:st0c");
    }
}
