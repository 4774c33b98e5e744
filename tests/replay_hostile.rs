//! Replay of hostile traces: storage contents and operands changed at
//! random must give mismatches (or none), never a panic or a hang.

use std::path::Path;

use proptest::prelude::*;
use zcss::trace::replay::{replay, ReplayOptions};
use zcss::trace::{parse, Insn, Statement, Trace};

fn example(name: &str) -> Trace {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name);
    parse(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Applies `edits` to the trace: (statement index, byte index, new value)
/// on `store` bytes, or on the address operand of an instruction.
fn mutate(mut t: Trace, edits: &[(usize, usize, u64)]) -> Trace {
    let idx: Vec<usize> = t
        .lines
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l.stmt, Some(Statement::Store { .. } | Statement::Insn(_))))
        .map(|(i, _)| i)
        .collect();
    for &(s, b, v) in edits {
        let Some(&i) = idx.get(s % idx.len().max(1)) else {
            continue;
        };
        match &mut t.lines[i].stmt {
            Some(Statement::Store { data, .. }) => {
                let n = data.bytes.len();
                if n > 0 {
                    data.bytes[b % n] = v.to_be_bytes()[7];
                }
            }
            Some(Statement::Insn(s)) => match &mut s.insn {
                Insn::Ssch { orb: a, .. }
                | Insn::Tsch { irb: a, .. }
                | Insn::Stsch { schib: a, .. }
                | Insn::Msch { schib: a, .. }
                | Insn::Tpi { addr: a, .. } => a.value = v,
                Insn::Diag500 { gr3, .. } => gr3.value = v,
                _ => {}
            },
            _ => {}
        }
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replay_mutated_hostile_example_never_panics(
        edits in prop::collection::vec((any::<usize>(), any::<usize>(), prop_oneof![any::<u64>(), 0u64..0x10_0000]), 1..12)
    ) {
        let t = mutate(example("hostile.zct"), &edits);
        let mut out = Vec::new();
        let r = replay(&t, Path::new("."), &ReplayOptions { verbose: true, bless: true, ..ReplayOptions::default() }, &mut out, &mut |_| {}).unwrap();
        prop_assert!(r.instructions > 0);
        prop_assert!(r.blessed.is_some());
    }

    #[test]
    fn replay_mutated_virtio_example_never_panics(
        edits in prop::collection::vec((any::<usize>(), any::<usize>(), prop_oneof![any::<u64>(), 0u64..0x20_0000]), 1..8)
    ) {
        let t = mutate(example("virtio-blk-probe.zct"), &edits);
        let mut out = Vec::new();
        let r = replay(&t, Path::new("."), &ReplayOptions { verbose: true, bless: false, ..ReplayOptions::default() }, &mut out, &mut |_| {}).unwrap();
        prop_assert!(r.instructions > 0);
    }
}
