//! Every file in `regressions/` is a fuzz input (a crash found by
//! `cargo fuzz run your_device`, or a corpus entry worth keeping), replayed
//! through the same harness call as the fuzz target, invariants and all;
//! its `.zct` beside it is the readable trace (`cargo fuzz fmt`).

use std::path::Path;

use zcss_css::fuzz::{run_bytes, DeviceUnderTest};

#[test]
fn replay_regression_inputs_keeps_harness_invariants() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some() {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let report = run_bytes(&data, |_| {
            DeviceUnderTest::Interpreted(Box::<fuzz_your_device::Echo>::default())
        });
        assert!(report.is_some(), "{}: not a scenario", path.display());
        n += 1;
    }
    assert!(n > 0);
}
