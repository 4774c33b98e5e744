//! Fuzz target `virtio_ccw`: arbitrary virtio-ccw command sequences with
//! arbitrary payloads, arbitrary guest stores into rings and buffers,
//! notifications and console input. The harness
//! (`zcss_virtio_ccw::mock::run_hostile`) panics on any device store
//! outside the guest-given ranges; the device itself must never panic.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zcss_virtio_ccw::mock::{run_hostile, HostileOp};

#[derive(Debug, Arbitrary)]
enum Op {
    Command { cmd: u8, sli: bool, data: Vec<u8> },
    Store { addr: u32, bytes: Vec<u8> },
    Notify { queue: u8 },
    Input { bytes: Vec<u8> },
    Disable,
}

#[derive(Debug, Arbitrary)]
struct Input {
    device: u8,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let ops: Vec<HostileOp> = input
        .ops
        .into_iter()
        .take(256)
        .map(|op| match op {
            Op::Command { cmd, sli, data } => HostileOp::Command { cmd, sli, data },
            Op::Store { addr, bytes } => HostileOp::Store { addr, bytes },
            Op::Notify { queue } => HostileOp::Notify {
                queue: u64::from(queue),
            },
            Op::Input { bytes } => HostileOp::Input { bytes },
            Op::Disable => HostileOp::Disable,
        })
        .collect();
    let _ = run_hostile(input.device, &ops);
});
