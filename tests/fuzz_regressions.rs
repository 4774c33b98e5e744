//! Fuzz findings and corpus entries kept as traces (`tests/fuzz-regressions/*.zct`,
//! printed by `cargo fuzz fmt <target> <input>`): each replays without a
//! mismatch and keeps the fuzz harness's invariants (`zcss::fuzz_replay`).

use std::path::Path;

#[test]
fn replay_fuzz_regression_traces_keeps_harness_invariants() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "zct") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let trace = zcss::trace::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let insns =
            zcss::fuzz_replay::replay_checked(&trace, &dir).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(insns > 0, "{}: no instruction", path.display());
        let mut out = Vec::new();
        let report = zcss::trace::replay::replay(&trace, &dir, &Default::default(), &mut out, &mut |_| {}).unwrap();
        assert_eq!(
            report.failed_checks,
            0,
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out)
        );
        n += 1;
    }
    assert!(n > 0, "no traces in {}", dir.display());
}
