//! DASD passthrough is transparent: the Linux guest-driver model's
//! programs and hostile programs run on a 3390 emulated directly and on the
//! same 3390 passed through the simulated host, compared field by field
//! (condition codes, SCHIB, interruption, SCSW, ESW, ECW, all of storage)
//! with concurrent sense on and off in the guest's PMCW; and the classes
//! the kernel refuses, each with QEMU's result.

mod dasd_twin;

use dasd_twin::layout;
use dasd_twin::{DasdTwin, DEFAULT};
use zcss_ccw::irb::Irb;
use zcss_ccw::orb::{Orb, OrbControls};
use zcss_ccw::status::{DeviceStatus, SubchannelStatus};
use zcss_ccw::{Ccw0, Ccw1, CcwFlags};
use zcss_css::Cc;
use zcss_dasd::linux::cmd::READ_TRACK_DATA;
use zcss_dasd::mock::{discover_and_format, linux_dasd, pattern, round_trip, write_ipl_records};
use zcss_dasd::track::TrackAddr;
use zcss_dasd::{ControlUnit, Count};

#[test]
fn linux_session_on_3990_6_prefix_and_track_mode_is_transparent() {
    let mut l = DasdTwin::new(|| linux_dasd(ControlUnit::Model6, 20), DEFAULT).linux(true);
    discover_and_format(&mut l, 45);
    write_ipl_records(&mut l, &[0x11; 24], &[0x22; 144]);
    round_trip(&mut l, 30, 35);
    round_trip(&mut l, 3, 30);
    assert!(l.uses_prefix());
    assert!(l.commands().contains(&READ_TRACK_DATA));
    l.channel().assert_transparent();
}

#[test]
fn linux_session_on_3990_3_define_extent_and_locate_record_is_transparent() {
    let mut l = DasdTwin::new(|| linux_dasd(ControlUnit::Model3, 20), DEFAULT).linux(true);
    discover_and_format(&mut l, 30);
    round_trip(&mut l, 30, 35);
    round_trip(&mut l, 0, 40);
    assert!(!l.uses_prefix());
    l.channel().assert_transparent();
}

#[test]
fn linux_session_without_concurrent_sense_is_transparent() {
    // cio's BASIC SENSE after each unit check: the sense the device kept
    // (contingent allegiance) comes through the host the same way.
    let mut l = DasdTwin::new(|| linux_dasd(ControlUnit::Model6, 20), DEFAULT).linux(false);
    discover_and_format(&mut l, 20);
    round_trip(&mut l, 20, 14);
    assert!(l.basic_senses() >= 3, "{}", l.basic_senses());
    l.channel().assert_transparent();
}

#[test]
fn twin_sees_a_device_that_is_not_the_same() {
    // The comparison itself: a 3390-3 behind a 3990-6 against one behind a
    // 3990-3 differs (SENSE ID, feature codes).
    let n = std::sync::atomic::AtomicU8::new(0);
    let t = DasdTwin::new(
        || {
            let cu = if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                ControlUnit::Model6
            } else {
                ControlUnit::Model3
            };
            linux_dasd(cu, 10)
        },
        DEFAULT,
    );
    let mut l = t.linux(true);
    l.enable().unwrap();
    l.recognize().unwrap();
    assert!(
        l.channel().diffs.iter().any(|d| d.contains("storage differs")),
        "{:?}",
        l.channel().diffs
    );
}

// ---- Hostile programs, concurrent sense on and off ----

const SLI: u8 = 0x20;
const CD: u8 = 0x80;
const CC: u8 = 0x40;
const IDA: u8 = 0x04;
const BUF: u64 = layout::BUF;

/// A format-1 program: CCWs for [`layout::CP`], data areas from
/// [`layout::DATA`].
#[derive(Default)]
struct Prog {
    ccws: Vec<[u8; 8]>,
    data: Vec<(u64, Vec<u8>)>,
    next: u64,
}

impl Prog {
    fn new() -> Self {
        Self {
            next: layout::DATA,
            ..Self::default()
        }
    }

    fn at(&mut self, data: &[u8]) -> u32 {
        let at = self.next;
        self.data.push((at, data.to_vec()));
        self.next = (at + data.len().max(1) as u64 + 7) & !7;
        u32::try_from(at).unwrap()
    }

    /// A CCW as given (chaining added by [`Prog::chained`]).
    fn raw(&mut self, cmd: u8, flags: u8, count: u16, cda: u32) {
        let c = Ccw1::new()
            .with_cmd(cmd)
            .with_flags(CcwFlags::from_bits(flags))
            .with_count(count)
            .with_cda(cda);
        self.ccws.push(c.to_be_bytes());
    }

    fn out(&mut self, cmd: u8, flags: u8, data: &[u8]) {
        let a = self.at(data);
        self.raw(cmd, flags, u16::try_from(data.len()).unwrap(), a);
    }

    /// A TIC to CCW number `i`.
    fn tic(&mut self, i: u64) {
        self.raw(0x08, 0, 0, u32::try_from(layout::CP + 8 * i).unwrap());
    }

    /// The CCWs with command chaining on every one but the last and the
    /// TICs (and those with data chaining).
    fn chained(&self) -> Vec<[u8; 8]> {
        let n = self.ccws.len();
        self.ccws
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut c = *c;
                if i + 1 < n && c[0] != 0x08 && c[1] & CD == 0 {
                    c[1] |= CC;
                }
                c
            })
            .collect()
    }
}

fn de(mask: u8, attr: u8, from: (u16, u16), to: (u16, u16)) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = mask;
    b[1] = attr;
    b[8..10].copy_from_slice(&from.0.to_be_bytes());
    b[10..12].copy_from_slice(&from.1.to_be_bytes());
    b[12..14].copy_from_slice(&to.0.to_be_bytes());
    b[14..16].copy_from_slice(&to.1.to_be_bytes());
    b
}

fn lr(op: u8, count: u8, seek: (u16, u16), rec: u8, tlf: u16) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = op;
    b[1] = 0x80;
    b[3] = count;
    b[4..6].copy_from_slice(&seek.0.to_be_bytes());
    b[6..8].copy_from_slice(&seek.1.to_be_bytes());
    b.copy_within(4..8, 8);
    b[12] = rec;
    b[14..16].copy_from_slice(&tlf.to_be_bytes());
    b
}

/// DEFINE EXTENT (read, tracks 2–3) and LOCATE RECORD (read data, `n`
/// records from R1 of track 2).
fn read_domain(p: &mut Prog, n: u8) {
    p.out(0x63, 0, &de(0x40, 0xc0, (0, 2), (0, 3)));
    p.out(0x47, 0, &lr(0x06, n, (0, 2), 1, 4096));
}

/// Format-write of `n` records of `dl` bytes on track `(0, head)`.
fn format_track(p: &mut Prog, head: u16, n: u8, dl: u16) {
    let mut d = de(0x00, 0xc4, (0, head), (0, head));
    d[7] = 0x04;
    p.out(0x63, 0, &d);
    // The transfer length factor is never 0 (invalid parameter).
    p.out(0x47, 0, &lr(0x03, n, (0, head), 0, dl.max(8)));
    for r in 1..=n {
        p.out(0x1d, SLI, &Count::new(0, head, r, 0, dl).to_bytes());
    }
}

fn fmt1() -> OrbControls {
    OrbControls::new().with_format1(true).with_idaw_format2(true)
}

/// The status a case must end with on the emulated DASD.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Channel end and device end.
    Clean,
    /// Unit check; sense byte `.0` has the bits of `.1`.
    Sense(usize, u8),
    /// Channel end, device end and unit exception.
    UnitException,
    /// This subchannel status.
    Check(SubchannelStatus),
}

struct Case {
    name: &'static str,
    orb: OrbControls,
    build: fn(&mut Prog),
    expect: Expect,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "read without positioning: command reject",
            orb: fmt1(),
            build: |p| p.raw(0x06, 0, 4096, u32::try_from(BUF).unwrap()),
            expect: Expect::Sense(0, 0x80),
        },
        Case {
            name: "define extent twice: command reject",
            orb: fmt1(),
            build: |p| {
                p.out(0x63, 0, &de(0x40, 0xc0, (0, 2), (0, 3)));
                p.out(0x63, 0, &de(0x40, 0xc0, (0, 2), (0, 3)));
            },
            expect: Expect::Sense(0, 0x80),
        },
        Case {
            name: "short define extent: command reject",
            orb: fmt1(),
            build: |p| p.out(0x63, 0, &de(0x40, 0xc0, (0, 2), (0, 3))[..8]),
            expect: Expect::Sense(0, 0x80),
        },
        Case {
            name: "invalid command 0x09: command reject",
            orb: fmt1(),
            build: |p| p.raw(0x09, SLI, 8, u32::try_from(BUF).unwrap()),
            expect: Expect::Sense(0, 0x80),
        },
        Case {
            name: "locate record outside the extent: file protected",
            orb: fmt1(),
            build: |p| {
                p.out(0x63, 0, &de(0x40, 0xc0, (0, 2), (0, 3)));
                p.out(0x47, 0, &lr(0x06, 1, (0, 5), 1, 4096));
                p.raw(0x86, 0, 4096, u32::try_from(BUF).unwrap());
            },
            expect: Expect::Sense(1, 0x04),
        },
        Case {
            name: "domain unfinished at the chain's end: operation incomplete",
            orb: fmt1(),
            build: |p| {
                read_domain(p, 3);
                p.raw(0x86, 0, 4096, u32::try_from(BUF).unwrap());
            },
            expect: Expect::Sense(0, 0x81),
        },
        Case {
            name: "search loop for a missing record: no record found",
            orb: fmt1(),
            build: |p| {
                p.out(0x07, 0, &[0, 0, 0, 0, 0, 2]);
                p.out(0x31, 0, &[0, 0, 0, 2, 20]);
                p.tic(1);
                p.raw(0x06, 0, 4096, u32::try_from(BUF).unwrap());
            },
            expect: Expect::Sense(1, 0x08),
        },
        Case {
            name: "write in a read-only extent: command reject",
            orb: fmt1(),
            build: |p| {
                p.out(0x63, 0, &de(0x40, 0xc0, (0, 2), (0, 3)));
                p.out(0x47, 0, &lr(0x01, 1, (0, 2), 1, 4096));
                p.out(0x85, 0, &[0x5a; 4096]);
            },
            expect: Expect::Sense(0, 0x80),
        },
        Case {
            name: "multitrack read leaving the extent: file protected",
            orb: fmt1(),
            build: |p| {
                p.out(0x63, 0, &de(0x40, 0xc0, (0, 2), (0, 2)));
                p.out(0x07, 0, &[0, 0, 0, 0, 0, 2]);
                p.out(0x31, 0, &[0, 0, 0, 2, 12]);
                p.tic(2);
                p.raw(0x86, 0, 4096, u32::try_from(BUF).unwrap());
                p.raw(0x86, 0, 4096, u32::try_from(BUF + 0x1000).unwrap());
            },
            expect: Expect::Sense(1, 0x04),
        },
        Case {
            name: "thirteenth 4 KiB record: invalid track format",
            orb: fmt1(),
            build: |p| format_track(p, 4, 13, 4096),
            expect: Expect::Sense(1, 0x40),
        },
        Case {
            name: "read of a short record without SLI: incorrect length",
            orb: fmt1(),
            build: |p| {
                read_domain(p, 1);
                p.raw(0x86, 0, 100, u32::try_from(BUF).unwrap());
            },
            expect: Expect::Check(SubchannelStatus::new().with_incorrect_length(true)),
        },
        Case {
            name: "read of a short record with SLI: residual count",
            orb: fmt1(),
            build: |p| {
                read_domain(p, 1);
                p.raw(0x86, SLI, 5000, u32::try_from(BUF).unwrap());
            },
            expect: Expect::Clean,
        },
        Case {
            name: "multitrack read of 13 records across tracks",
            orb: fmt1(),
            build: |p| {
                read_domain(p, 13);
                for i in 0..13u32 {
                    p.raw(0x86, 0, 4096, u32::try_from(BUF).unwrap() + 0x1000 * i);
                }
            },
            expect: Expect::Clean,
        },
        Case {
            name: "data chaining across a page",
            orb: fmt1(),
            build: |p| {
                read_domain(p, 1);
                p.raw(0x86, CD, 100, u32::try_from(BUF + 0xf80).unwrap());
                p.raw(0x86, 0, 3996, u32::try_from(BUF + 0x3000).unwrap());
            },
            expect: Expect::Clean,
        },
        Case {
            name: "format-1 IDAL (2K blocks)",
            orb: OrbControls::new().with_format1(true),
            build: |p| {
                read_domain(p, 1);
                let idal = p.at(&[
                    0, 0x10, 0x07, 0xf0, 0, 0x10, 0x48, 0, 0, 0x10, 0x50, 0, 0, 0x10, 0x58, 0,
                ]);
                p.raw(0x86, IDA, 4096, idal);
            },
            expect: Expect::Clean,
        },
        Case {
            name: "format-2 IDAL with 2K IDAWs",
            orb: fmt1().with_idaw_2k(true),
            build: |p| {
                read_domain(p, 1);
                let mut w = Vec::new();
                for a in [BUF + 0x7c0, BUF + 0x4800, BUF + 0x5000] {
                    w.extend_from_slice(&a.to_be_bytes());
                }
                let idal = p.at(&w);
                p.raw(0x86, IDA, 4096, idal);
            },
            expect: Expect::Clean,
        },
        Case {
            name: "format-2 IDAL with 4K IDAWs, the first mid-page",
            orb: fmt1(),
            build: |p| {
                read_domain(p, 1);
                let mut w = Vec::new();
                for a in [BUF + 0x0f10, BUF + 0x9000] {
                    w.extend_from_slice(&a.to_be_bytes());
                }
                let idal = p.at(&w);
                p.raw(0x86, IDA, 4096, idal);
            },
            expect: Expect::Clean,
        },
        Case {
            name: "second IDAW off its boundary: program check",
            orb: fmt1(),
            build: |p| {
                read_domain(p, 1);
                let mut w = Vec::new();
                for a in [BUF + 0x0f10, BUF + 0x9010] {
                    w.extend_from_slice(&a.to_be_bytes());
                }
                let idal = p.at(&w);
                p.raw(0x86, IDA, 4096, idal);
            },
            expect: Expect::Check(SubchannelStatus::new().with_program_check(true)),
        },
        Case {
            name: "update write then read back",
            orb: fmt1(),
            build: |p| {
                p.out(0x63, 0, &de(0x80, 0xc0, (0, 3), (0, 3)));
                p.out(0x47, 0, &lr(0x01, 1, (0, 3), 5, 4096));
                p.out(0x85, 0, &pattern(TrackAddr::new(0, 3), 5, 4096));
            },
            expect: Expect::Clean,
        },
        Case {
            name: "search, TIC and read of the written record",
            orb: fmt1(),
            build: |p| {
                p.out(0x07, 0, &[0, 0, 0, 0, 0, 3]);
                p.out(0x31, 0, &[0, 0, 0, 3, 5]);
                p.tic(1);
                p.raw(0x06, 0, 4096, u32::try_from(BUF + 0x2_0000).unwrap());
            },
            expect: Expect::Clean,
        },
        Case {
            name: "format a record of data length zero",
            orb: fmt1(),
            build: |p| format_track(p, 5, 1, 0),
            expect: Expect::Clean,
        },
        Case {
            name: "read of a zero-length record: unit exception",
            orb: fmt1(),
            build: |p| {
                p.out(0x07, 0, &[0, 0, 0, 0, 0, 5]);
                p.raw(0x06, SLI, 16, u32::try_from(BUF).unwrap());
                p.raw(0x06, SLI, 16, u32::try_from(BUF).unwrap());
            },
            expect: Expect::UnitException,
        },
        Case {
            name: "skip on a read: nothing stored",
            orb: fmt1(),
            build: |p| {
                read_domain(p, 1);
                p.raw(0x86, 0x10, 4096, u32::try_from(BUF + 0x4_0000).unwrap());
            },
            expect: Expect::Clean,
        },
    ]
}

/// A format-0 SEEK, SEARCH ID EQUAL R5 of track 3 (the update write's),
/// TIC, READ DATA to BUF.
fn format0_program(t: &DasdTwin) {
    let c0 = |cmd: u8, flags: u8, count: u16, cda: u32| {
        Ccw0::new()
            .with_cmd(cmd)
            .with_cda(cda)
            .with_flags(CcwFlags::from_bits(flags))
            .with_count(count)
            .to_be_bytes()
    };
    let args = u32::try_from(layout::DATA).unwrap();
    let cp = u32::try_from(layout::CP).unwrap();
    let ccws = [
        c0(0x07, CC, 6, args),
        c0(0x31, CC, 5, args + 8),
        c0(0x08, 0, 0, cp + 8),
        c0(0x06, 0, 4096, u32::try_from(BUF).unwrap()),
    ];
    let orb = Orb {
        intparm: 0x00c0_ffee,
        ctrl: OrbControls::new().with_lpm(0xff),
        cpa: cp,
        ..Orb::default()
    };
    t.put(
        &orb,
        &ccws,
        &[
            (layout::DATA, &[0, 0, 0, 0, 0, 3]),
            (layout::DATA + 8, &[0, 0, 0, 3, 5]),
        ],
    );
}

/// BASIC SENSE through the twin: the sense bytes the device kept.
fn basic_sense(t: &mut DasdTwin) -> [u8; 32] {
    let a = u32::try_from(layout::DATA + 0x1000).unwrap();
    let ccw = Ccw1::new()
        .with_cmd(0x04)
        .with_flags(CcwFlags::from_bits(SLI))
        .with_count(32)
        .with_cda(a);
    let orb = Orb {
        intparm: 0x5e45e,
        ctrl: fmt1().with_lpm(0xff),
        cpa: u32::try_from(layout::CP).unwrap(),
        ..Orb::default()
    };
    t.put(&orb, &[ccw.to_be_bytes()], &[]);
    let s = t.run();
    assert_eq!(s.irb.expect("sense status").scsw.dstat, DeviceStatus::CE_DE);
    t.direct.mem.fetch(u64::from(a), 32).unwrap().try_into().unwrap()
}

fn check(name: &str, expect: Expect, irb: &Irb, sense: Option<[u8; 32]>) {
    let s = &irb.scsw;
    match expect {
        Expect::Clean => assert_eq!(
            (s.dstat, s.cstat),
            (DeviceStatus::CE_DE, SubchannelStatus::new()),
            "{name}: sense {sense:02x?}"
        ),
        Expect::Sense(byte, bits) => {
            assert!(s.dstat.unit_check(), "{name}: {:?}", s.dstat);
            let sense = sense.expect("sense");
            assert_eq!(sense[byte] & bits, bits, "{name}: sense {sense:02x?}");
        }
        Expect::UnitException => assert_eq!(s.dstat, DeviceStatus::CE_DE_UE, "{name}"),
        Expect::Check(c) => assert_eq!(s.cstat, c, "{name}"),
    }
}

/// Every case on a driver-formatted volume, compared; with concurrent
/// sense the sense is the ECW, without it a BASIC SENSE reads it.
fn hostile(csense: bool) {
    let mut l = DasdTwin::new(|| linux_dasd(ControlUnit::Model6, 10), DEFAULT).linux(csense);
    discover_and_format(&mut l, 15);
    let t = l.channel_mut();
    for case in cases() {
        let mut p = Prog::new();
        (case.build)(&mut p);
        let orb = Orb {
            intparm: 0x0bad_cafe,
            ctrl: case.orb.with_lpm(0xff),
            cpa: u32::try_from(layout::CP).unwrap(),
            ..Orb::default()
        };
        let data: Vec<(u64, &[u8])> = p.data.iter().map(|(a, d)| (*a, d.as_slice())).collect();
        t.put(&orb, &p.chained(), &data);
        let before = t.diffs.len();
        let seen = t.run();
        assert_eq!(seen.ssch, Ok(Cc::Zero), "{}", case.name);
        let irb = seen.irb.expect("status");
        let sense = match (irb.scsw.dstat.unit_check(), csense) {
            (false, _) => None,
            (true, true) => {
                assert!(irb.esw.erw.concurrent_sense(), "{}", case.name);
                Some(irb.ecw)
            }
            (true, false) => {
                assert_eq!(irb.ecw, [0; 32], "{}", case.name);
                Some(basic_sense(t))
            }
        };
        check(case.name, case.expect, &irb, sense);
        assert!(t.diffs.len() == before, "{}: {:?}", case.name, &t.diffs[before..]);
    }
    format0_program(t);
    t.direct.mem.store(BUF, &[0; 4096]).unwrap();
    let seen = t.run();
    check("format-0 program", Expect::Clean, &seen.irb.expect("status"), None);
    assert!(t.direct.mem.fetch(BUF, 4096).unwrap() == pattern(TrackAddr::new(0, 3), 5, 4096));
    t.assert_transparent();
}

#[test]
fn hostile_programs_with_concurrent_sense_are_transparent() {
    hostile(true);
}

#[test]
fn hostile_programs_without_concurrent_sense_are_transparent() {
    hostile(false);
}

// ---- The classes the kernel refuses, on the DASD: QEMU's result. ----

/// A twin on an unformatted volume, enabled with concurrent sense.
fn refused_twin() -> DasdTwin {
    let mut l = DasdTwin::new(|| linux_dasd(ControlUnit::Model6, 10), DEFAULT).linux(true);
    l.enable().unwrap();
    l.into_channel()
}

fn orb_at(cpa: u64, ctrl: OrbControls) -> Orb {
    Orb {
        intparm: 0x0bad_cafe,
        ctrl: ctrl.with_lpm(0xff),
        cpa: u32::try_from(cpa).unwrap(),
        ..Orb::default()
    }
}

/// QEMU's `sch_gen_unit_exception` after cc 0 (`vfio_ccw_handle_request`
/// for a start the kernel failed with an errno other than `EBUSY`,
/// `ENODEV` and `EACCES`).
fn assert_unit_exception(s: &dasd_twin::Seen, cpa: u64) {
    use zcss_ccw::scsw::{ActivityControl, FunctionControl, StatusControl};
    assert_eq!(s.ssch, Ok(Cc::Zero));
    let irb = s.irb.expect("an interruption");
    assert_eq!(irb.scsw.dstat, DeviceStatus::new().with_unit_exception(true));
    assert_eq!(irb.scsw.cstat, SubchannelStatus::new());
    assert_eq!(u64::from(irb.scsw.cpa), cpa + 8);
    assert_eq!(irb.scsw.ctrl.fctl(), FunctionControl::START);
    assert_eq!(irb.scsw.ctrl.actl(), ActivityControl::new());
    assert_eq!(
        irb.scsw.ctrl.stctl(),
        StatusControl::PRIM_SEC_PEND | StatusControl::ALERT
    );
}

#[test]
fn refused_segment_the_kernel_cannot_read_is_unit_exception_on_the_dasd() {
    // SENSE ID in the last KiB of storage: the kernel's 2 KiB segment read
    // leaves storage; the emulated channel runs it.
    let mut t = refused_twin();
    let at = layout::MEM - 0x400;
    let c = Ccw1::new()
        .with_cmd(0xe4)
        .with_flags(CcwFlags::from_bits(SLI))
        .with_count(7);
    for m in [&t.direct.mem, &t.passed.mem] {
        m.store(at, &c.with_cda(0x3000).to_be_bytes()).unwrap();
    }
    let o = orb_at(at, fmt1());
    t.put(&o, &[], &[]);
    let (d, p) = t.run_each();
    assert_eq!(d.irb.expect("direct").scsw.dstat, DeviceStatus::CE_DE);
    assert_unit_exception(&p, at);
    assert_eq!(t.passed.mem.fetch(0x3000, 1).unwrap(), [0], "nothing ran on the host");
}

#[test]
fn refused_data_address_the_kernel_cannot_pin_is_unit_exception_on_the_dasd() {
    let mut t = refused_twin();
    let mut p = Prog::new();
    p.raw(0xe4, SLI, 7, u32::try_from(layout::MEM).unwrap());
    t.put(&orb_at(layout::CP, fmt1()), &p.chained(), &[]);
    let (d, pt) = t.run_each();
    assert!(d.irb.expect("direct").scsw.cstat.program_check());
    assert_unit_exception(&pt, layout::CP);
}

#[test]
fn refused_idal_the_kernel_cannot_read_is_unit_exception_on_the_dasd() {
    let mut t = refused_twin();
    let mut p = Prog::new();
    p.raw(0xe4, SLI | IDA, 7, u32::try_from(layout::MEM + 0x1000).unwrap());
    t.put(&orb_at(layout::CP, fmt1()), &p.chained(), &[]);
    let (d, pt) = t.run_each();
    assert!(d.irb.expect("direct").scsw.cstat.program_check());
    assert_unit_exception(&pt, layout::CP);
}

#[test]
fn refused_seventeen_segments_are_unit_exception_on_the_dasd() {
    // NOPs in 17 segments joined by TICs: the kernel refuses the 17th.
    let mut t = refused_twin();
    let base = 0x40_0000u64;
    let nop = |flags: u8| {
        Ccw1::new()
            .with_cmd(0x03)
            .with_flags(CcwFlags::from_bits(flags))
            .to_be_bytes()
    };
    for s in 0..17u64 {
        let at = base + s * 0x1000;
        let next = if s < 16 {
            Ccw1::new()
                .with_cmd(0x08)
                .with_cda(u32::try_from(at + 0x1000).unwrap())
                .to_be_bytes()
        } else {
            nop(0)
        };
        for m in [&t.direct.mem, &t.passed.mem] {
            m.store(at, &nop(CC)).unwrap();
            m.store(at + 8, &next).unwrap();
        }
    }
    t.put(&orb_at(base, fmt1()), &[], &[]);
    let (d, p) = t.run_each();
    assert_eq!(d.irb.expect("direct").scsw.dstat, DeviceStatus::CE_DE);
    assert_unit_exception(&p, base);
}

#[test]
fn refused_suspend_suspends_the_dasd_on_the_host_and_resume_is_cc2() {
    // A read domain whose READ is suspended: both suspend with the same
    // intermediate status; the uAPI has no resume (the kernel's EBUSY).
    let mut t = refused_twin();
    let mut p = Prog::new();
    p.out(0x63, 0, &de(0x40, 0xc0, (0, 0), (0, 1)));
    p.out(0x47, 0, &lr(0x06, 1, (0, 0), 0, 8));
    p.raw(0x06, 0x02 | SLI, 8, u32::try_from(BUF).unwrap());
    let data: Vec<(u64, &[u8])> = p.data.iter().map(|(a, d)| (*a, d.as_slice())).collect();
    t.put(&orb_at(layout::CP, fmt1().with_suspend(true)), &p.chained(), &data);
    let (d, pt) = t.run_each();
    let (di, pi) = (d.irb.expect("direct"), pt.irb.expect("passthrough"));
    assert!(di.scsw.ctrl.actl().suspended());
    assert_eq!(zcss_ccw::diff_fields(&di, &pi), vec![]);
    use zcss_dasd::linux::Channel;
    let rsch = |c: &dasd_twin::Guest| {
        let (gr1, ctx) = c.operands();
        c.css().rsch(&ctx, gr1)
    };
    assert_eq!(rsch(&t.direct), Ok(Cc::Zero));
    assert!(t.direct.chan.wait(0xff).is_some(), "the emulated DASD resumes");
    assert_eq!(rsch(&t.passed), Ok(Cc::Two));
}

#[test]
fn refused_midaw_is_an_operand_exception_at_ssch_on_the_dasd() {
    // QEMU `ioinst_orb_valid`: an ORB with MIDAW; the emulated DASD reads
    // SENSE ID through the MIDAL.
    let mut t = refused_twin();
    let mut p = Prog::new();
    let midal = p.at(&[0, 0, 0, 0, 0, 0x80, 0, 7, 0, 0, 0, 0, 0, 0, 0x30, 0]);
    p.raw(0xe4, SLI | 0x01, 7, midal);
    let data: Vec<(u64, &[u8])> = p.data.iter().map(|(a, d)| (*a, d.as_slice())).collect();
    t.put(&orb_at(layout::CP, fmt1().with_midaw(true)), &p.chained(), &data);
    let (d, pt) = t.run_each();
    assert_eq!(d.irb.expect("direct").scsw.dstat, DeviceStatus::CE_DE);
    assert_eq!(t.direct.mem.fetch(0x3000, 4).unwrap(), [0xff, 0x39, 0x90, 0xe9]);
    assert_eq!(pt.ssch, Err(zcss_css::ProgramCheck::Operand));
    assert_eq!(pt.irb, None);
}

#[test]
fn refused_transport_mode_is_an_operand_exception_both_ways_on_the_dasd() {
    let mut t = refused_twin();
    t.put(&orb_at(layout::CP, fmt1().with_transport_mode(true)), &[], &[]);
    let (d, p) = t.run_each();
    assert_eq!(d.ssch, Err(zcss_css::ProgramCheck::Operand));
    assert_eq!(p.ssch, Err(zcss_css::ProgramCheck::Operand));
}

// ---- The I/O-system reset. ----

/// RESERVE, then the I/O-system reset of both guests (`Css::reset`: the
/// emulated DASD's own reset, and for the passthrough device the host's
/// `VFIO_DEVICE_RESET` reaching the host DASD): afterwards SENSE PATH
/// GROUP ID shows the path ungrouped and the device not reserved, on both.
#[test]
fn io_system_reset_drops_the_reserve_on_both_the_emulated_and_the_passed_dasd() {
    let sense_pgid = |t: &mut DasdTwin| {
        let mut p = Prog::new();
        let a = p.at(&[0xee; 12]);
        p.raw(0x34, 0, 12, a);
        t.put(
            &orb_at(layout::CP, fmt1()),
            &p.chained(),
            &[(u64::from(a), &[0xee; 12])],
        );
        let s = t.run();
        assert_eq!(
            s.irb.map(|i| i.scsw.dstat.into_bits()),
            Some(0x0c),
            "SENSE PGID ends clean"
        );
        t.direct.mem.fetch(u64::from(a), 12).unwrap()[0]
    };
    let mut t = refused_twin();
    let mut p = Prog::new();
    let a = p.at(&[0; 32]);
    p.raw(0xb4, 0, 32, a);
    t.put(&orb_at(layout::CP, fmt1()), &p.chained(), &[]);
    let s = t.run();
    assert_eq!(
        s.irb.map(|i| i.scsw.dstat.into_bits()),
        Some(0x0c),
        "RESERVE ends clean"
    );
    assert_eq!(sense_pgid(&mut t) & 0x30, 0x30, "reserved to this path");
    t.direct.css().reset();
    t.passed.css().reset();
    let mut l = t.linux(true);
    l.enable().unwrap();
    let mut t = l.into_channel();
    assert_eq!(sense_pgid(&mut t) & 0x30, 0, "no reservation after the reset");
    t.assert_transparent();
}
