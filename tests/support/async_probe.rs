//! The `io=async` variant of the virtio-blk probe example, shared by tests.

use std::path::Path;

/// The virtio-blk probe example with `io=async` and a `wait` after each
/// DIAG 0x500.
#[must_use]
pub fn async_probe() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/virtio-blk-probe.zct");
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    let mut device_lines = 0;
    for line in text.lines() {
        if line.starts_with("device ") && line.contains("virtio-blk") {
            device_lines += 1;
            out.push_str(line);
            out.push_str(" io=async\n");
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line.starts_with("diag500 3 ") {
            out.push_str("wait\n");
        }
    }
    assert_eq!(device_lines, 1);
    out
}
