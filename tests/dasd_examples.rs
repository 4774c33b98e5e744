//! The DASD example traces, recorded from the Linux driver model
//! (`zcss::dasd::linux`): `examples/dasd-linux.zct` (two emulated 3390s,
//! one behind a 3990-6 driven with PREFIX and track mode, one behind a
//! 3990-3 driven with DEFINE EXTENT and LOCATE RECORD) and
//! `examples/vfio-dasd.zct` (a 3390 of the simulated host's css image 1
//! passed through vfio-ccw and remapped into the guest's css fe). Each is
//! generated here, must replay clean, and must equal the committed file;
//! `ZCSS_WRITE_EXAMPLES=1` rewrites the files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use zcss::dasd::linux::{CssChannel, DasdfmtOptions, Layout, LinuxDasd};
use zcss::machine::{Machine, MachineConfig};
use zcss::trace::replay::{replay, ReplayOptions};
use zcss::trace::{parse, Insn, Num, Recorder};
use zcss_ccw::sid::SubchannelId;
use zcss_dasd::layout::Volser;

/// The driver's area, the buffers of block data.
const AREA: u64 = 0x1_0000;
const WBUF: u64 = 0x2_0000;
const RBUF: u64 = 0x3_0000;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// A recorded machine.
struct Session {
    m: Arc<Machine>,
    rec: Arc<Recorder>,
}

impl Session {
    fn new(text: &str, title: &str) -> Self {
        let cfg = MachineConfig::from_trace(&parse(text).unwrap());
        let rec = Recorder::new(&cfg);
        for l in title.lines() {
            rec.comment(l);
        }
        let m = Arc::new(Machine::build(&cfg, Path::new("."), Some(&rec)).unwrap());
        Self { m, rec }
    }

    /// Linux's driver on fe.0.`schno`; for a passthrough device it lets the
    /// host finish and records `wait` before each interruption.
    fn driver(&self, schno: u16, passthrough: bool) -> LinuxDasd {
        let sid = SubchannelId::new(0xfe, 0, schno).unwrap();
        let ch = CssChannel::new(self.m.css.clone(), self.m.io_mem.clone(), sid)
            .with_cpu_memory(self.rec.cpu_memory(self.m.mem.clone()));
        let ch = if passthrough {
            let (m, rec) = (self.m.clone(), self.rec.clone());
            ch.with_settle(move || {
                assert!(m.wait(Duration::from_secs(10)), "the host did not finish");
                rec.wait();
            })
        } else {
            ch
        };
        LinuxDasd::new(ch, AREA)
    }

    fn note(&self, text: &str) {
        self.rec.comment(text);
    }

    /// The trace: replays clean, equals the committed file (or replaces it
    /// when asked).
    fn finish(self, name: &str) -> String {
        let text = self.rec.text();
        let mut out = Vec::new();
        let r = replay(
            &parse(&text).unwrap(),
            Path::new("."),
            &ReplayOptions::default(),
            &mut out,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(r.mismatches, vec![], "{name} does not replay clean");
        let path = examples_dir().join(name);
        if std::env::var_os("ZCSS_WRITE_EXAMPLES").is_some() {
            std::fs::write(&path, &text).unwrap();
        } else {
            let committed = std::fs::read_to_string(&path).unwrap();
            assert!(
                committed == text,
                "examples/{name} differs from what the driver model records now; rerun with ZCSS_WRITE_EXAMPLES=1"
            );
        }
        text
    }
}

/// A block of example data: the block number and a short text, repeated.
fn block(b: u32) -> Vec<u8> {
    let text = format!("zcss block {b:06} ");
    text.bytes().cycle().take(4096).collect()
}

/// Writes blocks `first` and `first + 1`, reads them back, checks them.
fn write_and_read(s: &Session, d: &mut LinuxDasd, first: u32) {
    s.note(&format!(
        "Write blocks {first} and {} (8 KiB), then read them back.",
        first + 1
    ));
    for k in 0..2 {
        d.store(WBUF + 4096 * u64::from(k), &block(first + k)).unwrap();
    }
    d.write_blocks(first, 2, WBUF).unwrap();
    d.read_blocks(first, 2, RBUF).unwrap();
    for k in 0..2 {
        assert_eq!(d.fetch(RBUF + 4096 * u64::from(k), 4096).unwrap(), block(first + k));
    }
}

/// Setting the device online, dasdfmt and block I/O.
fn linux_session(s: &Session, d: &mut LinuxDasd, volser: &str) {
    s.note("Set online: enable the subchannel (ISC 3, concurrent sense), SENSE ID, path");
    s.note("grouping per path (SNID, SPID, SNID), RCD, PSF set subsystem characteristics,");
    s.note("RCD, PSF+RSSD feature codes and queries, RDC; then the volume analysis");
    s.note("(DX + LR + READ COUNT), which finds the fresh volume not formatted.");
    assert_eq!(d.online().unwrap(), Layout::Unformatted);
    s.note("dasdfmt -d cdl: invalidate track 0, format tracks 1-14 (DX or PFX + LR +");
    s.note("WRITE CKD per record), format track 0 again, then the labels through the block");
    s.note("device: IPL1, IPL2, VOL1 and the empty VTOC on track 1 (key+data records).");
    let opts = DasdfmtOptions {
        volser: Some(Volser::new(volser).unwrap()),
        ..DasdfmtOptions::default()
    };
    assert_eq!(d.dasdfmt(&opts, &mut |_, _| {}).unwrap(), Layout::Cdl(4096));
    write_and_read(s, d, 24);
}

/// A bootstrap in IPL1 (key and data, through the block device as a boot
/// loader installer writes it): the IPL PSW `00080000 80002000`, then
/// either a READ DATA of IPL2 into 0x2000 chained to a NOP, or the NOP
/// alone (format-0 CCWs, SLI).
fn bootstrap(read_ipl2: bool) -> Vec<u8> {
    let mut b = vec![0xc9, 0xd7, 0xd3, 0xf1, 0x00, 0x08, 0x00, 0x00, 0x80, 0x00, 0x20, 0x00];
    if read_ipl2 {
        b.extend_from_slice(&[0x06, 0x00, 0x20, 0x00, 0x60, 0x00, 0x00, 144]);
    }
    b.extend_from_slice(&[0x03, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x01]);
    b.resize(28, 0);
    b
}

/// Installs a bootstrap on the volume of `d` (at fe.0.`schno`) and loads
/// from it.
fn ipl(s: &Session, d: &mut LinuxDasd, schno: u16, read_ipl2: bool) {
    if read_ipl2 {
        s.note("Install a bootstrap in IPL1 (block 0): an IPL PSW, READ DATA of IPL2 into");
        s.note("0x2000 and a NOP. Then IPL: the implied READ IPL reads IPL1 to absolute 0 and");
        s.note("the chain goes on at 8; the PSW, IPL2 and the subsystem-identification word");
        s.note("at 184 are checked.");
    } else {
        s.note("Install a bootstrap in IPL1 (block 0): an IPL PSW and a NOP. Then IPL through");
        s.note("passthrough: the PSW and the subsystem-identification word at 184 are checked.");
    }
    d.write_bytes(0, &bootstrap(read_ipl2)).unwrap();
    let gr1 = 0x0001_0000 | u64::from(schno);
    // The css reports the IPL to the recorder like any instruction.
    assert_eq!(s.m.execute(&Insn::Ipl { gr1: Num::hex(gr1) }), zcss::trace::Outcome::Ok);
}

fn dasd_linux() -> String {
    let s = Session::new(
        "zcss-trace 1\nmachine memory=0x100000\n\
         device fe.0.0000 devno=0120 dasd-3390 cylinders=1\n\
         device fe.0.0001 devno=0121 dasd-3390 cu=3990-3 cylinders=1\n",
        "A Linux guest's DASD session on two emulated 3390s of one cylinder each,\n\
         recorded from zcss's model of Linux's dasd_eckd driver, dasdfmt and cio.\n\
         fe.0.0000 is behind a 3990-6: its feature codes offer PREFIX and track\n\
         mode, so Linux formats with PREFIX and reads and writes whole tracks\n\
         (PFX + READ/WRITE TRACK DATA). fe.0.0001 is behind a 3990-3: DEFINE\n\
         EXTENT + LOCATE RECORD + READ/WRITE DATA per block.",
    );
    let mut d0 = s.driver(0, false);
    s.note("--- fe.0.0000: 3390-3 on 3990-6 ---");
    linux_session(&s, &mut d0, "LNX000");
    let mut d1 = s.driver(1, false);
    s.note("--- fe.0.0001: 3390-3 on 3990-3 ---");
    linux_session(&s, &mut d1, "LNX001");
    ipl(&s, &mut d1, 1, true);
    s.finish("dasd-linux.zct")
}

fn vfio_dasd() -> String {
    let s = Session::new(
        "zcss-trace 1\nmachine memory=0x100000 map-css=on\n\
         device fe.0.0005 devno=0200 vfio-dasd host=1.0.0005 cylinders=1 chpids=50,51\n",
        "DASD passthrough: a 3390-3 on 3990-6 on subchannel 1.0.0005 of the simulated\n\
         host (real css image 1, two FICON paths 50 and 51) passed through vfio-ccw and,\n\
         with map-css=on, remapped into the guest's css fe as fe.0.0005 - a guest\n\
         without MCSS-E finds it at 0.0.0005. The same Linux session as dasd-linux.zct,\n\
         recorded from the driver model: the host's kernel model translates each\n\
         channel program and completes it asynchronously, so each START SUBCHANNEL is\n\
         followed by `wait` before the interruption is taken.",
    );
    let mut d = s.driver(5, true);
    linux_session(&s, &mut d, "VFIO05");
    ipl(&s, &mut d, 5, false);
    s.finish("vfio-dasd.zct")
}

#[test]
fn dasd_linux_example_is_recorded_and_replays_clean() {
    let text = dasd_linux();
    // PREFIX and track mode on the 3990-6, DX + LR on the 3990-3.
    assert!(text.contains("# PREFIX") || text.contains("cmd 0xe7"), "PFX programs");
    assert!(text.contains("ipl 0x00010001 => ok"), "IPL");
}

#[test]
fn vfio_dasd_example_is_recorded_and_replays_clean() {
    let text = vfio_dasd();
    assert!(text.contains("\nwait\n"));
    assert!(text.contains("map-css=on") || !text.contains("map-css"));
    assert!(text.contains("ipl 0x00010005 => ok"));
}
