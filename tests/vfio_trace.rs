//! `vfio-dasd` and `map-css` in traces: the parser's rules, remapping as
//! a guest with and without MCSS-E sees it, `wait` before taking a
//! passthrough device's status, and `lscss` on DASD kinds.

use std::path::Path;
use std::process::Command;

use zcss::trace::replay::{replay, FileReport, ReplayOptions};
use zcss::trace::{parse, print, MachineKey, SyntaxError};
use zcss_ccw::sid::SubchannelId;

fn run(text: &str) -> FileReport {
    let mut out = Vec::new();
    replay(
        &parse(text).unwrap(),
        Path::new("."),
        &ReplayOptions::default(),
        &mut out,
        &mut |_| {},
    )
    .unwrap()
}

fn clean(text: &str) {
    let r = run(text);
    assert_eq!(r.mismatches, vec![], "{text}");
    assert!(r.checks > 0);
}

fn parse_err(body: &str) -> (usize, usize, SyntaxError) {
    let e = parse(&format!("zcss-trace 1\n{body}\n")).unwrap_err();
    (e.line, e.column, e.kind)
}

#[test]
fn map_css_parses_and_prints() {
    for v in ["on", "off"] {
        let text = format!("zcss-trace 1\nmachine mcss=on map-css={v}\n");
        let t = parse(&text).unwrap();
        assert_eq!(print(&t), text);
        assert!(t.machine_keys().contains(&MachineKey::MapCss(v == "on")));
    }
    assert_eq!(
        parse_err("machine map-css=yes"),
        (
            2,
            17,
            SyntaxError::BadValue {
                key: "map-css".into(),
                expected: "on or off"
            }
        )
    );
    assert_eq!(
        parse_err("machine map-css=on map-css=off").2,
        SyntaxError::DuplicateKey("map-css".into())
    );
}

#[test]
fn vfio_dasd_needs_host_and_takes_the_dasd_keys_only() {
    let (line, column, kind) = parse_err("device fe.0.0005 devno=0200 vfio-dasd cu=3990-3");
    assert_eq!((line, column), (2, 29));
    assert!(matches!(kind, SyntaxError::MissingOperand(m) if m.starts_with("host=")));
    assert_eq!(
        parse_err("device fe.0.0005 devno=0200 vfio-dasd host=1.0.0005 size=512").2,
        SyntaxError::UnknownKey("size".into())
    );
    assert_eq!(
        parse_err("device fe.0.0005 devno=0200 vfio-dasd host=1.0.0005 model=4").2,
        SyntaxError::BadValue {
            key: "model".into(),
            expected: "3, 9, 27 or 54"
        }
    );
    assert_eq!(
        parse_err("device fe.0.0005 devno=0200 vfio-dasd host=1.0").2,
        SyntaxError::BadSubchannel
    );
    let text = "zcss-trace 1\ndevice fe.0.0005 devno=0200 vfio-dasd host=1.0.0005 model=9 cu=3990 cylinders=10 chpids=50,51 timing=on\n";
    assert_eq!(print(&parse(text).unwrap()), text);
}

/// STSCH of subchannel 5 (GR1 `gr1`), and what it finds: its device number
/// and path mask.
fn stsch_trace(machine: &str, device: &str, gr1: u32, result: &str) -> String {
    format!("zcss-trace 1\n{machine}\n{device}\nstsch {gr1:#010x} 0x1000 => {result}\n")
}

#[test]
fn map_css_on_puts_the_device_beside_the_virtual_ones() {
    let dev =
        "device fe.0.0000 devno=0000 virtio-rng\ndevice fe.0.0005 devno=0200 vfio-dasd host=1.0.0005 chpids=50,51";
    let text = stsch_trace("machine map-css=on", dev, 0x0001_0005, "cc=0");
    // Device number 0200, enabled off, PIM/PAM c0, CHPIDs 50 51 from the host.
    clean(&format!("{text}expect 0x1004 ....0200 ..00..c0 ....ffc0 50510000\n"));
}

#[test]
fn map_css_off_keeps_the_real_css_seen_only_with_mcss_e() {
    let dev = "device 1.0.0005 devno=0200 vfio-dasd host=1.0.0005";
    // Without MCSS-E the guest sees only css fe: nothing at 0.0.0005.
    clean(&stsch_trace("machine map-css=off", dev, 0x0001_0005, "cc=3"));
    // With MCSS-E it addresses css 1 and finds the device.
    let word = SubchannelId::new(1, 0, 5).unwrap().to_word(true);
    clean(&format!(
        "{}expect 0x1004 ....0200\n",
        stsch_trace("machine mcss=on map-css=off", dev, word, "cc=0")
    ));
    let fe = SubchannelId::new(0xfe, 0, 5).unwrap().to_word(true);
    clean(&stsch_trace("machine mcss=on map-css=off", dev, fe, "cc=3"));
}

/// Enable subchannel 5 with ISC 3, then SENSE ID: 40 bytes to 0x3000 with
/// SLI.
const SENSE_ID: &str = "\
stsch 0x00010005 0x1000 => cc=0
store 0x1004 1880
msch 0x00010005 0x1000 => cc=0
store 0x2000 e4200028 00003000
store 0x1800 12345678 00808000 00002000
ssch 0x00010005 0x1800 => cc=0
";

/// After the status: the interruption, the IRB and the data.
const SENSE_ID_STATUS: &str = "\
tsch 0x00010005 0x4000 => cc=0
expect 0x4000 00804007 00002008 0c000014
expect 0x3000 ff3990ec 33900a00
";

#[test]
fn wait_lets_the_passthrough_device_finish_before_tsch() {
    let dev = "device fe.0.0005 devno=0200 vfio-dasd host=2.0.0005 cu=3990-3 cylinders=10";
    clean(&format!(
        "zcss-trace 1\n{dev}\n{SENSE_ID}wait\ntpi 0x5000 isc-mask=10 => cc=1\nexpect 0x5000 00010005 12345678\n{SENSE_ID_STATUS}"
    ));
}

#[test]
fn the_same_trace_runs_on_the_emulated_dasd() {
    // Transparency as a trace shows it: the statements above, `wait` and all,
    // on a dasd-3390 (whose program ends before SSCH returns).
    let dev = "device fe.0.0005 devno=0200 dasd-3390 cu=3990-3 cylinders=10";
    clean(&format!(
        "zcss-trace 1\n{dev}\n{SENSE_ID}wait\ntpi 0x5000 isc-mask=10 => cc=1\nexpect 0x5000 00010005 12345678\n{SENSE_ID_STATUS}"
    ));
}

#[test]
fn lscss_lists_dasd_and_passthrough_identities() {
    let dir = std::env::temp_dir().join(format!("zcss-vfio-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("l.zct");
    std::fs::write(
        &p,
        "zcss-trace 1\n\
         device fe.0.0000 devno=0120 dasd-3390\n\
         device fe.0.0001 devno=0121 dasd-3390 model=9 cu=3990 cylinders=10 chpids=40,41\n\
         device fe.0.0005 devno=0200 vfio-dasd host=1.0.0005 cu=3990-3 chpids=50,51\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zcss"))
        .args(["lscss", p.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let rows: Vec<&str> = text.lines().skip(2).collect();
    assert_eq!(
        rows,
        vec![
            "0.0.0120 0.0.0000  3390/0a 3990/e9      80  80  ff   01000000 00000000",
            "0.0.0121 0.0.0001  3390/0c 3990/c2      c0  c0  ff   40410000 00000000",
            "0.0.0200 0.0.0005  3390/0a 3990/ec      c0  c0  ff   50510000 00000000",
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
