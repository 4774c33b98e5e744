//! Hostile channel programs: every case from the QEMU fix history
//! (qemu-notes §4 "Channel programs and TIC") and the Linux vfio-ccw fix
//! history (linux-notes §2) that applies to interpretation. Each must end
//! with an architected result, within the work bounds, without panicking.

use std::sync::Arc;

use zcss_ccw::ccw::CMD_TIC;
use zcss_ccw::mock::flags::{CC, CD, IDA, SLI};
use zcss_ccw::mock::{ccw0, ccw1, Action, ScriptedDevice, Step};
use zcss_ccw::{
    CheckCause, Completion, DeviceStatus, Ending, Engine, GuestMemory, Limits, NoHooks, Orb, OrbControls,
    SubchannelStatus, VecMemory,
};

const SIZE: u64 = 0x10_0000;
const READ: u8 = 0x02;
const NOP: u8 = 0x03;

/// A program: CCWs placed at given addresses, extra storage contents, ORB.
struct Case {
    name: &'static str,
    ccws: Vec<(u64, [u8; 8])>,
    bytes: Vec<(u64, Vec<u8>)>,
    orb: Orb,
    device: Vec<Step>,
    fallback: Step,
    expect: Expect,
}

/// What the case must end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expect {
    ending: Ending,
    check: Option<CheckCause>,
    cpa: u32,
    count: u16,
    cstat: u8,
}

fn ok(cpa: u32, count: u16) -> Expect {
    Expect {
        ending: Ending::Completed,
        check: None,
        cpa,
        count,
        cstat: 0,
    }
}

fn pc(cause: CheckCause, cpa: u32, count: u16) -> Expect {
    Expect {
        ending: Ending::Checked,
        check: Some(cause),
        cpa,
        count,
        cstat: cause.status().into_bits(),
    }
}

fn f1(cpa: u32) -> Orb {
    Orb {
        ctrl: OrbControls::new().with_format1(true),
        cpa,
        ..Orb::default()
    }
}

fn f1_idaw2(cpa: u32) -> Orb {
    Orb {
        ctrl: OrbControls::new().with_format1(true).with_idaw_format2(true),
        cpa,
        ..Orb::default()
    }
}

fn case(name: &'static str, ccws: Vec<(u64, [u8; 8])>, orb: Orb, expect: Expect) -> Case {
    Case {
        name,
        ccws,
        bytes: Vec::new(),
        orb,
        device: Vec::new(),
        fallback: Step::ok(vec![Action::Write(vec![0x5a])]),
        expect,
    }
}

fn seq(at: u64, ccws: &[[u8; 8]]) -> Vec<(u64, [u8; 8])> {
    ccws.iter().enumerate().map(|(i, c)| (at + 8 * i as u64, *c)).collect()
}

fn run_case(c: &Case, limits: Limits) -> (Completion, ScriptedDevice, Arc<VecMemory>) {
    let mem = Arc::new(VecMemory::new(SIZE));
    for (a, b) in &c.bytes {
        mem.store(*a, b).unwrap();
    }
    for (a, w) in &c.ccws {
        mem.store(*a, w).unwrap();
    }
    let mut dev = ScriptedDevice::new(c.device.clone())
        .with_fallback(c.fallback.clone())
        .with_memory(mem.clone());
    let comp = Engine::new(limits).start(&*mem, &c.orb, 0x80, &mut dev, &mut NoHooks);
    (comp, dev, mem)
}

fn cases() -> Vec<Case> {
    let one = SLI; // one-byte READs with SLI never raise IL
    let mut ring = case(
        "ring of NOPs and a TIC",
        seq(
            0x1000,
            &[ccw1(NOP, CC, 0, 0), ccw1(NOP, CC, 0, 0), ccw1(CMD_TIC, 0, 0, 0x1000)],
        ),
        f1(0x1000),
        // 1024 idle CCWs (341 rounds of 3, then NOP #1); the 1025th is NOP #2.
        pc(CheckCause::WorkLimit, 0x1010, 0),
    );
    ring.fallback = Step::ok(vec![]);
    let mut v = vec![
        ring,
        // --- TIC loops (QEMU 33bece0fa1, e8601dd5d0) ---
        case(
            "TIC to self",
            seq(0x1000, &[ccw1(NOP, CC | SLI, 0, 0), ccw1(CMD_TIC, 0, 0, 0x1008)]),
            f1(0x1000),
            pc(CheckCause::TicToTic, 0x1010, 0),
        ),
        case(
            "two-TIC ring",
            seq(
                0x1000,
                &[
                    ccw1(NOP, CC | SLI, 0, 0),
                    ccw1(CMD_TIC, 0, 0, 0x1010),
                    ccw1(CMD_TIC, 0, 0, 0x1008),
                ],
            ),
            f1(0x1000),
            pc(CheckCause::TicToTic, 0x1018, 0),
        ),
        case(
            "TIC first in program",
            seq(0x1000, &[ccw1(CMD_TIC, 0, 0, 0x1008), ccw1(NOP, 0, 0, 0)]),
            f1(0x1000),
            pc(CheckCause::FirstCcwTic, 0x1008, 0),
        ),
        // --- TIC format rules (QEMU 4add0da649 / 9f94f84ce7 / fde8206b80) ---
        case(
            "format-1 TIC with CC flag",
            seq(0x1000, &[ccw1(NOP, CC | SLI, 0, 0), ccw1(CMD_TIC, CC, 0, 0x1000)]),
            f1(0x1000),
            pc(CheckCause::InvalidTic, 0x1010, 0),
        ),
        case(
            "format-0 TIC ignores flags and count",
            seq(0x1000, &[ccw0(NOP, CC, 1, 0), ccw0(0x18, CC, 7, 0x1020)])
                .into_iter()
                .chain(seq(0x1020, &[ccw0(NOP, 0, 1, 0)]))
                .collect(),
            Orb {
                cpa: 0x1000,
                ..Orb::default()
            },
            ok(0x1028, 0),
        ),
        case(
            "TIC target misaligned",
            seq(0x1000, &[ccw1(NOP, CC | SLI, 0, 0), ccw1(CMD_TIC, 0, 0, 0x1004)]),
            f1(0x1000),
            pc(CheckCause::CcwAddressSpecification, 0x100c, 0),
        ),
        // --- null, unaligned and out-of-range CCW addresses (62a2554ec2, cc6a9f8dc9) ---
        case(
            "null CPA with zeroed storage",
            vec![],
            f1(0),
            pc(CheckCause::InvalidCommandCode, 8, 0),
        ),
        case(
            "unaligned CPA",
            vec![],
            f1(0x1001),
            pc(CheckCause::CcwAddressSpecification, 0x1009, 0),
        ),
        case(
            "CPA beyond storage",
            vec![],
            f1(0x7fff_fff8),
            pc(CheckCause::InvalidCcwAddress, 0x8000_0000, 0),
        ),
        case(
            "CPA beyond 31 bits",
            vec![],
            f1(0xffff_fff8),
            pc(CheckCause::InvalidCcwAddress, 0, 0),
        ),
        case(
            "format-0 CPA beyond 24 bits",
            vec![],
            Orb {
                cpa: 0x0100_0000,
                ..Orb::default()
            },
            pc(CheckCause::InvalidCcwAddress, 0x0100_0008, 0),
        ),
        // --- CPA at the end of storage ---
        case(
            "last CCW in the last doubleword",
            seq(SIZE - 8, &[ccw1(READ, one, 1, 0)]),
            f1(u32::try_from(SIZE - 8).unwrap()),
            ok(u32::try_from(SIZE).unwrap(), 0),
        ),
        case(
            "chaining off the end of storage",
            seq(SIZE - 8, &[ccw1(READ, one | CC, 1, 0)]),
            f1(u32::try_from(SIZE - 8).unwrap()),
            pc(CheckCause::InvalidCcwAddress, u32::try_from(SIZE + 8).unwrap(), 0),
        ),
        case(
            "data chaining off the end of storage",
            seq(SIZE - 8, &[ccw1(READ, CD, 1, 0)]),
            f1(u32::try_from(SIZE - 8).unwrap()),
            Expect {
                cstat: 0x20,
                ..pc(CheckCause::InvalidCcwAddress, u32::try_from(SIZE + 8).unwrap(), 0)
            },
        ),
        // --- zero-count CCWs (QEMU fa4463e043) ---
        case(
            "format-0 count 0",
            seq(0x1000, &[ccw0(READ, 0, 0, 0x2000)]),
            Orb {
                cpa: 0x1000,
                ..Orb::default()
            },
            pc(CheckCause::InvalidCount, 0x1008, 0),
        ),
        case(
            "format-1 count 0 with CD",
            seq(0x1000, &[ccw1(READ, CD, 0, 0x2000)]),
            f1(0x1000),
            pc(CheckCause::InvalidCount, 0x1008, 0),
        ),
        case(
            "format-1 count 0: device offering data is a long block",
            seq(0x1000, &[ccw1(READ, 0, 0, 0x2000)]),
            f1(0x1000),
            Expect {
                cstat: 0x40,
                ..ok(0x1008, 0)
            },
        ),
        // --- null, unaligned and out-of-range data and IDAW addresses ---
        case(
            "null data address is storage",
            seq(0x1000, &[ccw1(READ, one, 1, 0)]),
            f1(0x1000),
            ok(0x1008, 0),
        ),
        case(
            "odd data address",
            seq(0x1000, &[ccw1(READ, one, 1, 0x2001)]),
            f1(0x1000),
            ok(0x1008, 0),
        ),
        case(
            "data beyond storage",
            seq(0x1000, &[ccw1(READ, one, 1, 0x7fff_0000)]),
            f1(0x1000),
            Expect {
                cstat: 0x20,
                ..pc(CheckCause::InvalidDataAddress, 0x1008, 1)
            },
        ),
        case(
            "IDAL beyond storage",
            seq(0x1000, &[ccw1(READ, IDA, 1, 0x7fff_0000)]),
            f1(0x1000),
            pc(CheckCause::InvalidIdawAddress, 0x1008, 1),
        ),
        case(
            "IDAL unaligned",
            seq(0x1000, &[ccw1(READ, IDA, 1, 0x2001)]),
            f1(0x1000),
            pc(CheckCause::IdawAddressSpecification, 0x1008, 1),
        ),
    ];
    // IDAW pointing beyond storage: the device is started, then the data access fails.
    let mut c = case(
        "IDAW beyond storage",
        seq(0x1000, &[ccw1(READ, IDA, 1, 0x3000)]),
        f1(0x1000),
        pc(CheckCause::InvalidDataAddress, 0x1008, 1),
    );
    c.bytes.push((0x3000, 0x7fff_0000u32.to_be_bytes().to_vec()));
    v.push(c);
    // Null IDAW (address 0) is a valid storage address.
    let mut c = case(
        "null IDAW",
        seq(0x1000, &[ccw1(READ, IDA | one, 1, 0x3000)]),
        f1(0x1000),
        ok(0x1008, 0),
    );
    c.bytes.push((0x3000, vec![0; 4]));
    v.push(c);
    // --- IDAL length by format (linux 2026 "calculate IDAL length by IDAW type") ---
    // Format-1: 4096 bytes from a 2K boundary need exactly two 4-byte IDAWs;
    // the poisoned third word (bit 0 set) is never fetched. The IDAL ends at
    // the last byte of storage, so an over-read would be an addressing error.
    let mut c = case(
        "format-1 IDAL of two IDAWs at end of storage",
        seq(0x1000, &[ccw1(READ, IDA, 4096, u32::try_from(SIZE - 8).unwrap())]),
        f1(0x1000),
        ok(0x1008, 0),
    );
    c.bytes.push((
        SIZE - 8,
        [0x0000_8000u32.to_be_bytes(), 0x0000_8800u32.to_be_bytes()].concat(),
    ));
    c.fallback = Step::ok(vec![Action::WriteFill(4096, 0)]);
    v.push(c);
    let mut c = case(
        "format-1 IDAL: only the needed IDAWs are fetched",
        seq(0x1000, &[ccw1(READ, IDA, 4096, 0x3000)]),
        f1(0x1000),
        ok(0x1008, 0),
    );
    c.bytes.push((
        0x3000,
        [
            0x8000u32.to_be_bytes(),
            0x8800u32.to_be_bytes(),
            0x8000_0001u32.to_be_bytes(),
        ]
        .concat(),
    ));
    c.fallback = Step::ok(vec![Action::WriteFill(4096, 0)]);
    v.push(c);
    // Format-2 4K: 4096 bytes from a 4K boundary are one 8-byte IDAW, at the end of storage.
    let mut c = case(
        "format-2 IDAL of one IDAW at end of storage",
        seq(0x1000, &[ccw1(READ, IDA, 4096, u32::try_from(SIZE - 8).unwrap())]),
        f1_idaw2(0x1000),
        ok(0x1008, 0),
    );
    c.bytes.push((SIZE - 8, 0x8000u64.to_be_bytes().to_vec()));
    c.fallback = Step::ok(vec![Action::WriteFill(4096, 0)]);
    v.push(c);
    // --- 257-CCW segment (linux "fix out-of-bounds check on CCW array") ---
    let mut big: Vec<[u8; 8]> = (0..256).map(|_| ccw1(READ, one | CC, 1, 0x8000)).collect();
    big.push(ccw1(READ, one, 1, 0x8000));
    v.push(case(
        "257 data CCWs in one segment",
        seq(0x1000, &big),
        f1(0x1000),
        ok(0x1000 + 257 * 8, 0),
    ));
    let mut nops: Vec<[u8; 8]> = (0..256).map(|_| ccw1(NOP, CC | SLI, 0, 0)).collect();
    nops.push(ccw1(NOP, SLI, 0, 0));
    let mut c = case(
        "257 NOPs in one segment",
        seq(0x1000, &nops),
        f1(0x1000),
        ok(0x1000 + 257 * 8, 0),
    );
    c.fallback = Step::ok(vec![]);
    v.push(c);
    // --- TIC recursion (linux "limit channel-program segments to 16") ---
    // 64 segments, each a READ then a TIC to the next segment 0x100 further.
    let mut segs = Vec::new();
    for i in 0..64u32 {
        let at = 0x1_0000 + u64::from(i) * 0x100;
        if i == 63 {
            segs.extend(seq(at, &[ccw1(READ, one, 1, 0x8000)]));
        } else {
            segs.extend(seq(
                at,
                &[
                    ccw1(READ, one | CC, 1, 0x8000),
                    ccw1(CMD_TIC, 0, 0, u32::try_from(at + 0x100).unwrap()),
                ],
            ));
        }
    }
    v.push(case(
        "64 TIC-linked segments",
        segs,
        f1(0x1_0000),
        ok(0x1_0000 + 63 * 0x100 + 8, 0),
    ));
    // TICs into the middle of an earlier segment (overlapping segments).
    v.push(case(
        "TIC back into the middle of a segment",
        seq(
            0x1000,
            &[
                ccw1(READ, one | CC, 1, 0x8000),
                ccw1(READ, one | CC, 1, 0x8000),
                ccw1(CMD_TIC, 0, 0, 0x1018),
                ccw1(READ, one, 1, 0x8000),
            ],
        ),
        f1(0x1000),
        ok(0x1020, 0),
    ));
    v
}

#[test]
fn hostile_programs_end_with_architected_results() {
    for c in cases() {
        let (comp, dev, _) = run_case(&c, Limits::default());
        let got = Expect {
            ending: comp.ending,
            check: comp.check,
            cpa: comp.cpa,
            count: comp.count,
            cstat: comp.cstat.into_bits(),
        };
        assert_eq!(got, c.expect, "{}", c.name);
        assert!(comp.ccws <= Limits::default().max_ccws, "{}", c.name);
        assert_eq!(dev.starts, 1, "{}", c.name);
        assert_eq!(dev.ends.len(), 1, "{}", c.name);
    }
}

#[test]
fn read_plus_tic_loop_ends_at_total_ccw_bound() {
    let c = case(
        "READ + TIC loop",
        seq(0x1000, &[ccw1(READ, SLI | CC, 1, 0x8000), ccw1(CMD_TIC, 0, 0, 0x1000)]),
        f1(0x1000),
        pc(CheckCause::WorkLimit, 0x1008, 0),
    );
    let limits = Limits::default();
    let (comp, dev, _) = run_case(&c, limits);
    assert_eq!(comp.check, Some(CheckCause::WorkLimit));
    assert_eq!(comp.ccws, limits.max_ccws);
    assert_eq!(dev.log.len(), usize::try_from(limits.max_ccws / 2).unwrap());
}

#[test]
fn sixty_five_thousand_data_ccws_run_to_completion() {
    let mem = VecMemory::new(0x10_0000);
    let n: u32 = 65_536;
    for i in 0..n {
        let flags = if i + 1 == n { SLI } else { SLI | CC };
        mem.store(0x1000 + 8 * u64::from(i), &ccw1(READ, flags, 1, 0xa_0000))
            .unwrap();
    }
    let mut dev = ScriptedDevice::default().with_fallback(Step::ok(vec![Action::Write(vec![1])]));
    let comp = Engine::default().start(&mem, &f1(0x1000), 0x80, &mut dev, &mut NoHooks);
    assert_eq!(comp.ending, Ending::Completed);
    assert_eq!(comp.ccws, n);
    assert_eq!(comp.cpa, 0x1000 + 8 * n);
    assert_eq!(comp.dstat, DeviceStatus::CE_DE);
    assert_eq!(comp.cstat, SubchannelStatus::new());
}

#[test]
fn idaw_changed_during_transfer_is_not_reread() {
    // One format-2 IDAL with two 4K IDAWs. The device stores 100 bytes, then
    // (as a racing CPU) rewrites the first IDAW to point elsewhere, then
    // stores the rest: the stream keeps using the first fetch.
    let mut c = case(
        "IDAW TOCTOU",
        seq(0x1000, &[ccw1(READ, IDA, 8192, 0x3000)]),
        f1_idaw2(0x1000),
        ok(0x1008, 0),
    );
    c.bytes
        .push((0x3000, [0x8000u64.to_be_bytes(), 0x9000u64.to_be_bytes()].concat()));
    c.device = vec![Step::ok(vec![
        Action::WriteFill(100, 1),
        Action::Poke {
            addr: 0x3000,
            bytes: 0x4_0000u64.to_be_bytes().to_vec(),
        },
        Action::WriteFill(8092, 0x65),
    ])];
    let (comp, dev, mem) = run_case(&c, Limits::default());
    assert_eq!(comp, Completion { check: None, ..comp });
    assert_eq!(comp.cpa, 0x1008);
    assert_eq!(comp.count, 0);
    assert_eq!(comp.cstat, SubchannelStatus::new());
    assert_eq!(dev.log[0].written, 8192);
    assert_eq!(mem.fetch(0x8000 + 99, 2).unwrap(), vec![100, 0x65]);
    assert_eq!(
        mem.fetch(0x4_0000, 4).unwrap(),
        vec![0; 4],
        "the rewritten IDAW was not used"
    );
    assert_eq!(
        mem.fetch(0x9000, 1).unwrap(),
        vec![0x65u8.wrapping_add(u8::try_from((4096 - 100) % 256).unwrap())]
    );
}

#[test]
fn idaw_reached_later_is_fetched_when_reached() {
    // The second IDAW is fetched only when the stream reaches it, so a change
    // made before that point is seen (that is architected, not a re-read).
    let mut c = case(
        "second IDAW changed before use",
        seq(0x1000, &[ccw1(READ, IDA, 8192, 0x3000)]),
        f1_idaw2(0x1000),
        ok(0x1008, 0),
    );
    c.bytes
        .push((0x3000, [0x8000u64.to_be_bytes(), 0x9000u64.to_be_bytes()].concat()));
    c.device = vec![Step::ok(vec![
        Action::WriteFill(100, 1),
        Action::Poke {
            addr: 0x3008,
            bytes: 0xb000u64.to_be_bytes().to_vec(),
        },
        Action::WriteFill(8092, 1),
    ])];
    let (comp, _, mem) = run_case(&c, Limits::default());
    assert_eq!(comp.ending, Ending::Completed);
    assert_eq!(mem.fetch(0x9000, 1).unwrap(), vec![0]);
    assert_ne!(mem.fetch(0xb000, 1).unwrap(), vec![0]);
}

#[test]
fn every_hostile_case_is_deterministic() {
    for c in cases() {
        let (a, _, _) = run_case(&c, Limits::default());
        let (b, _, _) = run_case(&c, Limits::default());
        assert_eq!(a, b, "{}", c.name);
    }
}

#[test]
fn guest_memory_trait_object_is_used() {
    // The engine works through &dyn GuestMemory; a zero-sized storage ends at once.
    let mem = VecMemory::new(0);
    assert_eq!(mem.size(), 0);
    let comp = Engine::default().start(&mem, &f1(0), 0x80, &mut ScriptedDevice::default(), &mut NoHooks);
    assert_eq!(comp.check, Some(CheckCause::InvalidCcwAddress));
    assert_eq!(comp.cpa, 8);
}
