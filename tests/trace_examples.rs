//! The example traces: every `examples/*.zct` replays clean, and the
//! discovery and hostile-program examples are generated here with the
//! Recorder (set `ZCSS_WRITE_EXAMPLES=1` to rewrite them).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use zcss::machine::{Machine, MachineConfig};
use zcss::trace::replay::{replay, ReplayOptions};
use zcss::trace::{parse, DeviceKind, DeviceStmt, Insn, Num, Outcome, Param, PgmName, Recorder, SchAddr};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn dev(schno: u16, kind: DeviceKind, params: &[(&str, &str)]) -> (usize, DeviceStmt) {
    (
        0,
        DeviceStmt {
            sch: SchAddr {
                cssid: 0xfe,
                ssid: 0,
                schno,
            },
            devno: schno,
            kind,
            params: params
                .iter()
                .map(|(k, v)| Param {
                    key: (*k).into(),
                    value: (*v).into(),
                })
                .collect(),
        },
    )
}

/// A machine being recorded, driven like a guest: storage set directly,
/// instructions through [`Machine::execute`].
struct Guest {
    m: Machine,
    rec: Arc<Recorder>,
}

impl Guest {
    fn new(cfg: &MachineConfig, title: &str) -> Self {
        let rec = Recorder::new(cfg);
        for l in title.lines() {
            rec.comment(l);
        }
        let m = Machine::build(cfg, Path::new("."), Some(&rec)).unwrap();
        Self { m, rec }
    }

    fn store(&self, addr: u64, data: &[u8]) {
        self.m.mem.store(addr, data).unwrap();
    }

    fn exec(&self, insn: Insn) -> Outcome {
        self.m.execute(&insn)
    }

    fn note(&self, text: &str) {
        self.rec.comment(text);
    }

    /// Writes the trace to `examples/<name>` if asked, and checks that it
    /// replays clean.
    fn finish(self, name: &str) -> String {
        let text = self.rec.text();
        let trace = parse(&text).unwrap();
        let mut out = Vec::new();
        let r = replay(&trace, Path::new("."), &ReplayOptions::default(), &mut out, &mut |_| {}).unwrap();
        assert_eq!(r.mismatches, vec![], "{text}");
        if std::env::var_os("ZCSS_WRITE_EXAMPLES").is_some() {
            std::fs::write(examples_dir().join(name), &text).unwrap();
        }
        text
    }
}

fn h(v: u64) -> Num {
    Num::hex(v)
}

fn word(schno: u16) -> u64 {
    0x0001_0000 | u64::from(schno)
}

const SCHIB: u64 = 0x1000;
const ORB: u64 = 0x1800;
const CCWS: u64 = 0x2000;
const DATA: u64 = 0x3000;
const IDAL: u64 = 0x3800;
const IRB: u64 = 0x4000;
const TPI: u64 = 0x4800;

/// Enables subchannel `schno` with ISC 3 the way Linux does: STSCH, set E
/// and the ISC in the stored SCHIB, MSCH.
fn enable(g: &Guest, schno: u16) {
    assert_eq!(
        g.exec(Insn::Stsch {
            gr1: h(word(schno)),
            schib: h(SCHIB)
        }),
        Outcome::Cc(0)
    );
    let mut w1 = g.m.mem.fetch(SCHIB + 4, 2).unwrap();
    w1[0] = (w1[0] & !0x38) | (3 << 3);
    w1[1] |= 0x80;
    g.store(SCHIB + 4, &w1);
    assert_eq!(
        g.exec(Insn::Msch {
            gr1: h(word(schno)),
            schib: h(SCHIB)
        }),
        Outcome::Cc(0)
    );
}

fn discovery() -> String {
    let cfg = MachineConfig {
        memory: 1 << 20,
        devices: vec![
            dev(0, DeviceKind::VirtioBlk, &[("size", "65536")]),
            dev(1, DeviceKind::VirtioRng, &[]),
            dev(2, DeviceKind::VirtioConsole, &[]),
        ],
        ..MachineConfig::default()
    };
    let g = Guest::new(
        &cfg,
        "Device discovery as Linux's css driver does it at boot: STORE SUBCHANNEL\n\
         for subchannel 0, 1, 2, … of set 0 until condition code 3 (not operational),\n\
         then MODIFY SUBCHANNEL to enable each one found (E = 1, ISC 3), and a final\n\
         STSCH showing the enabled PMCW. A guest without MCSS-E sees css fe as 0.",
    );
    let mut schno = 0u16;
    loop {
        g.note(&format!("STSCH 0.0.{schno:04x}"));
        let o = g.exec(Insn::Stsch {
            gr1: h(word(schno)),
            schib: h(SCHIB),
        });
        if o != Outcome::Cc(0) {
            assert_eq!(o, Outcome::Cc(3));
            break;
        }
        schno += 1;
    }
    g.note("subchannel set 1 (multiple subchannel sets not enabled): nothing there");
    g.exec(Insn::Stsch {
        gr1: h(0x0003_0000),
        schib: h(SCHIB),
    });
    for s in 0..schno {
        g.note(&format!("enable 0.0.{s:04x} with ISC 3"));
        enable(&g, s);
    }
    g.note("the enabled subchannel: PMCW E = 1, ISC = 3");
    g.exec(Insn::Stsch {
        gr1: h(word(0)),
        schib: h(SCHIB),
    });
    g.note("nothing is pending: TSCH finds no status (cc 1), TPI no interruption (cc 0)");
    g.exec(Insn::Tsch {
        gr1: h(word(0)),
        irb: h(IRB),
    });
    g.exec(Insn::Tpi {
        addr: h(TPI),
        isc_mask: None,
    });
    g.finish("discovery.zct")
}

#[test]
fn discovery_example_replays_clean() {
    let text = discovery();
    assert!(text.contains("stsch 0x00010003 0x00001000 => cc=3"), "{text}");
    assert!(text.contains("stsch 0x00030000 0x00001000 => "), "{text}");
}

/// A format-1 CCW.
fn ccw1(cmd: u8, flags: u8, count: u16, cda: u32) -> [u8; 8] {
    let c = count.to_be_bytes();
    let a = cda.to_be_bytes();
    [cmd, flags, c[0], c[1], a[0], a[1], a[2], a[3]]
}

/// An ORB: intparm, controls word, CPA.
fn orb(intparm: u32, ctrl: u32, cpa: u32) -> Vec<u8> {
    [intparm.to_be_bytes(), ctrl.to_be_bytes(), cpa.to_be_bytes()].concat()
}

const F: u32 = 0x0080_ff00; // format-1 CCWs, LPM ff
const CC: u8 = 0x40;
const SLI: u8 = 0x20;
const IDA: u8 = 0x04;

/// START SUBCHANNEL of the program at CCWS; if it was accepted, the
/// interruption (TPI) and the status (TSCH).
fn start(g: &Guest, orb_bytes: &[u8], orb_addr: u64) -> Outcome {
    g.store(orb_addr, orb_bytes);
    let o = g.exec(Insn::Ssch {
        gr1: h(word(0)),
        orb: h(orb_addr),
    });
    if o == Outcome::Cc(0) {
        assert_eq!(
            g.exec(Insn::Tpi {
                addr: h(TPI),
                isc_mask: None
            }),
            Outcome::Cc(1)
        );
        g.exec(Insn::Tsch {
            gr1: h(word(0)),
            irb: h(IRB),
        });
    }
    o
}

fn hostile() -> String {
    let cfg = MachineConfig {
        memory: 1 << 20,
        devices: vec![dev(0, DeviceKind::VirtioBlk, &[("size", "65536")])],
        ..MachineConfig::default()
    };
    let g = Guest::new(
        &cfg,
        "Hostile channel programs and operands against a virtio-blk control unit,\n\
         with the results the architecture defines: program exceptions for bad\n\
         operands of START SUBCHANNEL, and channel-program checks (subchannel\n\
         status PC in the IRB) for bad CCWs, TICs and IDAWs.",
    );
    enable(&g, 0);

    g.note("ORB at an address that is not on a word boundary: specification exception");
    assert_eq!(
        start(&g, &orb(1, F, 0x2000), ORB + 2),
        Outcome::Pgm(PgmName::Specification)
    );
    g.note("ORB outside guest storage (1 MiB): addressing exception");
    let o = g.exec(Insn::Ssch {
        gr1: h(word(0)),
        orb: h(0x0020_0000),
    });
    assert_eq!(o, Outcome::Pgm(PgmName::Addressing));
    g.note("ORB with reserved bits 26-30 of word 1 set: operand exception");
    assert_eq!(
        start(&g, &orb(1, F | 0x3e, 0x2000), ORB),
        Outcome::Pgm(PgmName::Operand)
    );
    g.note("ORB with CPA bit 0 set: operand exception");
    assert_eq!(start(&g, &orb(1, F, 0x8000_2000), ORB), Outcome::Pgm(PgmName::Operand));
    g.note("GR1 without the one bit (bit 47): operand exception");
    assert_eq!(
        g.exec(Insn::Ssch { gr1: h(0), orb: h(ORB) }),
        Outcome::Pgm(PgmName::Operand)
    );

    g.note("channel program not on a doubleword boundary: program check");
    g.store(CCWS, &ccw1(0x03, SLI, 0, 0));
    start(&g, &orb(2, F, 0x2004), ORB);
    g.note("channel program outside guest storage: program check");
    start(&g, &orb(3, F, 0x00f0_0000), ORB);

    g.note("TIC loop: NOP (command chaining) -> TIC back to the NOP, forever; the");
    g.note("channel subsystem bounds the work and ends the program with a check");
    g.store(CCWS, &[ccw1(0x03, CC | SLI, 0, 0), ccw1(0x08, 0, 0, 0x2000)].concat());
    start(&g, &orb(4, F, 0x2000), ORB);

    g.note("TIC to a TIC: program check");
    g.store(CCWS, &[ccw1(0x08, 0, 0, 0x2008), ccw1(0x08, 0, 0, 0x2000)].concat());
    start(&g, &orb(5, F, 0x2000), ORB);

    g.note("TIC to an address that is not on a doubleword boundary: program check");
    g.store(CCWS, &ccw1(0x08, 0, 0, 0x2004));
    start(&g, &orb(6, F, 0x2000), ORB);

    g.note("format-1 CCW whose data address has bit 0 set: program check");
    g.store(CCWS, &ccw1(0xe4, SLI, 8, 0x8000_3000));
    start(&g, &orb(7, F, 0x2000), ORB);

    g.note("SENSE ID with IDA: the IDAL is outside guest storage: program check");
    g.store(CCWS, &ccw1(0xe4, SLI | IDA, 8, 0x0020_0000));
    start(&g, &orb(8, F, 0x2000), ORB);

    g.note("SENSE ID with IDA: the format-1 IDAW points outside guest storage");
    g.store(IDAL, &0x0040_0000u32.to_be_bytes());
    g.store(CCWS, &ccw1(0xe4, SLI | IDA, 8, u32::try_from(IDAL).unwrap()));
    start(&g, &orb(9, F, 0x2000), ORB);

    g.note("READ_CONF of 16 bytes with IDA: the first IDAW covers the 8 bytes up to the");
    g.note("2K boundary, the second is not on a 2K boundary: program check when the");
    g.note("transfer reaches it (the first 8 bytes are stored)");
    g.store(
        IDAL,
        &[0x0000_37f8u32.to_be_bytes(), 0x0000_4404u32.to_be_bytes()].concat(),
    );
    g.store(CCWS, &ccw1(0x22, SLI | IDA, 16, u32::try_from(IDAL).unwrap()));
    start(&g, &orb(10, F, 0x2000), ORB);

    g.note("SENSE ID into storage that does not exist: program check (addressing)");
    g.store(CCWS, &ccw1(0xe4, SLI, 8, 0x00ff_fff8));
    start(&g, &orb(11, F, 0x2000), ORB);

    g.note("DIAG 0x500 notify naming a subchannel without a device: GR2 = -EINVAL");
    assert_eq!(
        g.exec(Insn::Diag500 {
            gr1: Num::dec(3),
            gr2: h(word(7)),
            gr3: Num::dec(0),
            gr4: Num::dec(0),
        }),
        Outcome::Gr2(-22)
    );
    g.note("DIAG 0x500 notify for a queue the driver never set up: GR2 = -EINVAL");
    g.exec(Insn::Diag500 {
        gr1: Num::dec(3),
        gr2: h(word(0)),
        gr3: Num::dec(5),
        gr4: Num::dec(0),
    });
    g.note("DIAG 0x500 with an unknown subcode: specification exception");
    assert_eq!(
        g.exec(Insn::Diag500 {
            gr1: Num::dec(7),
            gr2: h(word(0)),
            gr3: Num::dec(0),
            gr4: Num::dec(0),
        }),
        Outcome::Pgm(PgmName::Specification)
    );

    g.note("after all that the subchannel still works: SENSE ID, CE|DE");
    g.store(CCWS, &ccw1(0xe4, SLI, 8, u32::try_from(DATA).unwrap()));
    start(&g, &orb(12, F, 0x2000), ORB);
    g.finish("hostile.zct")
}

#[test]
fn hostile_example_replays_clean() {
    let text = hostile();
    assert!(text.contains("=> pgm=specification"), "{text}");
    assert!(text.contains("=> pgm=addressing"), "{text}");
    assert!(text.contains("=> pgm=operand"), "{text}");
    assert!(text.contains("diag500 7 0x00010000 0 0 => pgm=specification"), "{text}");
    assert!(text.contains("diag500 3 0x00010007 0 0 => gr2=-22"), "{text}");
}

#[test]
fn every_committed_example_replays_clean() {
    let mut n = 0;
    for e in std::fs::read_dir(examples_dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("zct") {
            continue;
        }
        let trace = parse(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let mut out = Vec::new();
        let r = replay(
            &trace,
            &examples_dir(),
            &ReplayOptions::default(),
            &mut out,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(r.mismatches, vec![], "{}", p.display());
        assert!(r.checks > 0, "{}", p.display());
        n += 1;
    }
    assert!(n >= 1);
}
