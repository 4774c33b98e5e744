//! The `zcss` command.

use clap::Parser;

/// zcss: an s390 channel-subsystem emulator — replay, record and inspect channel-program traces.
#[derive(Debug, Parser)]
#[command(name = "zcss", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
