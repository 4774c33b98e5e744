//! Hostile channel programs: arbitrary chains of ECKD commands with
//! mutated parameter blocks and counts. The device must not panic, must
//! never write outside the defined extent, and must leave every track a
//! valid track image within the real 3390 capacity.

mod eckd_harness;

use eckd_harness::*;
use proptest::prelude::*;
use zcss_dasd::track::{used_cells, validate, TrackAddr};
use zcss_dasd::{geometry, ControlUnit};

const CYLS: u32 = 3;
/// Cylinder 2 lies outside every extent the tests define.
const GUARDED: u32 = 2;

/// One command of a hostile chain.
#[derive(Debug, Clone)]
struct Cmd {
    code: u8,
    sli: bool,
    data: Vec<u8>,
}

fn codes() -> impl Strategy<Value = u8> {
    prop_oneof![
        8 => prop::sample::select(vec![
            0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0b, 0x0d, 0x0e, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x19,
            0x1a, 0x1b, 0x1d, 0x1e, 0x1f, 0x22, 0x23, 0x27, 0x29, 0x31, 0x34, 0x39, 0x3e, 0x47, 0x4b, 0x51,
            0x54, 0x5e, 0x63, 0x64, 0x71, 0x85, 0x86, 0x8d, 0x8e, 0x92, 0x94, 0x95, 0x96, 0x9a, 0x9d, 0x9e,
            0xa5, 0xa6, 0xaf, 0xb1, 0xb4, 0xb9, 0xde, 0xe4, 0xe7, 0xfa,
        ]),
        1 => any::<u8>().prop_filter("not TIC", |c| c & 0x0f != 0x08 && c & 0x0f != 0),
    ]
}

/// Parameter bytes: a plausible block for the command, mutated, or noise.
fn data_for(code: u8) -> BoxedStrategy<Vec<u8>> {
    let lr_block = (
        prop::sample::select(vec![
            0x00u8, 0x01, 0x03, 0x06, 0x0b, 0x0c, 0x16, 0x43, 0x81, 0x86, 0x4c, 0xd6, 0x3f,
        ]),
        prop::sample::select(vec![0u8, 0x80, 0x01, 0x81]),
        0u8..6,
        0u16..3,
        0u16..15,
        0u8..14,
        prop::sample::select(vec![0u16, 8, 512, 4096, 8192, 60000]),
        prop::sample::select(vec![0u8, 0x09, 0x0a, 0x0e, 0x11, 0x23]),
        prop::collection::vec(any::<u8>(), 0..3),
    )
        .prop_map(|(op, aux, n, c, h, r, tlf, ext_op, ext)| {
            let mut b = lr(op, aux, n, (c, h), r, 0, tlf).to_vec();
            b.extend_from_slice(&[0, ext_op]);
            b.extend_from_slice(&u16::try_from(ext.len()).unwrap().to_be_bytes());
            b.extend_from_slice(&ext);
            b
        });
    let ckd = (
        0u16..3,
        0u16..15,
        0u8..20,
        prop::sample::select(vec![0u8, 4, 44]),
        0u16..5000,
    )
        .prop_map(|(c, h, r, kl, dl)| {
            let mut b = count(c, h, r, kl, dl).to_vec();
            b.resize(8 + usize::from(kl) + usize::from(dl.min(600)), 0x5a);
            b
        });
    let noise = prop::collection::vec(any::<u8>(), 0..80);
    let mutate = |s: BoxedStrategy<Vec<u8>>| {
        (s, prop::collection::vec((0usize..80, any::<u8>()), 0..3), 0usize..100)
            .prop_map(|(mut b, flips, cut)| {
                for (i, v) in flips {
                    if let Some(x) = b.get_mut(i) {
                        *x = v;
                    }
                }
                if cut < 10 {
                    b.truncate(cut);
                }
                b
            })
            .boxed()
    };
    match code {
        0x47 | 0x4b => mutate(lr_block.boxed()),
        0xe7 => mutate(
            lr_block
                .prop_map(|l| {
                    let mut p = pfx(&de(0xc0, 0xc0, 0, (0, 0), (1, 14)), Some(&l[..20]));
                    p.extend_from_slice(&l[20..]);
                    p
                })
                .boxed(),
        ),
        0x1d | 0x9d | 0x11 | 0x15 | 0x95 => mutate(ckd.boxed()),
        0x07 | 0x0b | 0x1b => mutate(
            (0u16..4, 0u16..16)
                .prop_map(|(c, h)| [&[0u8, 0][..], &c.to_be_bytes(), &h.to_be_bytes()].concat())
                .boxed(),
        ),
        0x31 | 0x51 | 0x71 | 0xb1 | 0x39 | 0xb9 => mutate(
            (0u16..3, 0u16..15, 0u8..14)
                .prop_map(|(c, h, r)| count(c, h, r, 0, 0)[..5].to_vec())
                .boxed(),
        ),
        _ => prop_oneof![noise, Just(vec![0u8; 4096]), Just(vec![0u8; 8])].boxed(),
    }
}

fn cmd() -> impl Strategy<Value = Cmd> {
    (codes(), any::<bool>()).prop_flat_map(|(code, sli)| data_for(code).prop_map(move |data| Cmd { code, sli, data }))
}

/// A Locate Record (or LRE) of a writing or reading operation followed by
/// commands of its kind: the chains that get as far as the volume.
fn located() -> impl Strategy<Value = Vec<Cmd>> {
    let ops: Vec<(u8, u8, Vec<u8>)> = vec![
        (0x01, 0, vec![0x85, 0x05, 0x8d]),
        (0x81, 0, vec![0x85]),
        (0x03, 0, vec![0x1d, 0x9d]),
        (0x43, 0, vec![0x15, 0x1d]),
        (0x0b, 0, vec![0x05, 0x1d, 0x11]),
        (0x3f, 0x11, vec![0x95]),
        (0x3f, 0x23, vec![0xa5]),
        (0x3f, 0x09, vec![0x85]),
        (0x06, 0, vec![0x86, 0x92, 0x8e, 0x1e]),
        (0x0c, 0, vec![0xa6, 0xde]),
    ];
    (
        prop::sample::select(ops),
        any::<bool>(),
        1u8..6,
        0u16..3,
        0u16..15,
        0u8..8,
        prop::sample::select(vec![0u16, 700, 704, 4096]),
        prop::collection::vec(
            (
                0usize..8,
                0u8..8,
                any::<bool>(),
                prop::sample::select(vec![0usize, 8, 700, 708, 800]),
            ),
            1..8,
        ),
    )
        .prop_map(|((op, ext_op, cmds), extended, n, c, h, r, tlf, picks)| {
            let aux = if tlf == 0 { 0 } else { 0x80 };
            let ext: Vec<u8> = match ext_op {
                0x11 => vec![0xffu8.checked_shl(8 - u32::from(n.min(8))).unwrap_or(0)],
                0x09 => vec![1],
                _ => vec![],
            };
            let mut out = Vec::new();
            if extended || op == 0x3f {
                out.push(Cmd {
                    code: 0x4b,
                    sli: false,
                    data: lre(op, aux, n, (c, h), r, tlf, ext_op, &ext),
                });
            } else {
                out.push(Cmd {
                    code: 0x47,
                    sli: false,
                    data: lr(op, aux, n, (c, h), r, 0, tlf).to_vec(),
                });
            }
            for (i, rec, sli, len) in picks {
                let code = cmds[i % cmds.len()];
                let mut data = match code {
                    0x1d | 0x9d | 0x11 | 0x15 => {
                        let mut d = count(c, h, rec + 1, 0, 700).to_vec();
                        if code == 0x15 {
                            d = count(c, h, 0, 0, 8).to_vec();
                        }
                        d
                    }
                    0x95 => {
                        let mut d = count(c, h, 0, 0, 8).to_vec();
                        d.extend_from_slice(&[0; 8]);
                        d.extend_from_slice(&count(c, h, 1, 0, 700));
                        d.extend_from_slice(&[0x77; 700]);
                        d.extend_from_slice(&[0xff; 8]);
                        d
                    }
                    _ => Vec::new(),
                };
                data.resize(data.len().max(len), 0x99);
                out.push(Cmd { code, sli, data });
            }
            out
        })
}

fn chain() -> impl Strategy<Value = (bool, u8, Vec<Cmd>)> {
    (
        prop::bool::weighted(0.8),
        prop::sample::select(vec![0x00u8, 0x40, 0x80, 0xc0, 0x18, 0xc2]),
        prop_oneof![
            1 => prop::collection::vec(cmd(), 1..12),
            3 => (located(), prop::collection::vec(cmd(), 0..3)).prop_map(|(mut a, b)| {
                a.extend(b);
                a
            }),
        ],
    )
}

fn guarded_tracks(rig: &mut Rig) -> Vec<Vec<u8>> {
    (0..geometry::HEADS)
        .map(|h| rig.track(TrackAddr::new(GUARDED, h)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn hostile_chains_never_write_outside_extent_and_keep_tracks_valid(
        programs in prop::collection::vec(chain(), 1..4),
        cu in prop::sample::select(vec![ControlUnit::Plain, ControlUnit::Model3, ControlUnit::Model6]),
    ) {
        let tracks = (0..u64::from(CYLS) * 15).map(TrackAddr::from_index);
        let mut rig = Rig::cu(cu, volume(CYLS, tracks, 6, 700));
        let before = guarded_tracks(&mut rig);
        for (with_dx, mask, cmds) in &programs {
            let mut p = Program::new();
            if *with_dx {
                p.out(0x63, 0, &de(*mask, 0xc0, 0, (0, 0), (1, 14)));
            }
            for c in cmds {
                let flags = if c.sli { SLI } else { 0 };
                if c.code & 0x03 == 0x01 || matches!(c.code, 0x47 | 0x4b | 0x63 | 0xe7 | 0x1f | 0x23 | 0x27 | 0xaf) {
                    p.out(c.code, flags, &c.data);
                } else {
                    p.inp(c.code, flags, u16::try_from(c.data.len()).unwrap());
                }
            }
            let _ = rig.run(&p);
            if *with_dx {
                prop_assert_eq!(guarded_tracks(&mut rig), before.clone(), "write outside the extent");
            }
        }
        for t in (0..u64::from(CYLS) * 15).map(TrackAddr::from_index) {
            let img = rig.track(t);
            prop_assert!(validate(&img).is_ok(), "track {} malformed", t);
            prop_assert!(used_cells(&img).unwrap() <= geometry::TRACK_CELLS, "track {} over capacity", t);
        }
    }
}
