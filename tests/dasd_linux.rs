//! The Linux DASD driver model (`zcss::dasd::linux`) on the machine's DASD
//! kinds: a fresh `dasd-3390` and a `vfio-dasd` through the simulated host
//! go online as not formatted, take dasdfmt (CDL and LDL) and fdasd -a
//! through channel programs, and round-trip data in single-record and
//! track mode.

use std::path::Path;
use std::sync::Arc;

use zcss::dasd::linux::{CssChannel, DasdfmtOptions, DiskLayout, Layout, LinuxDasd};
use zcss::machine::Machine;
use zcss::trace::parse;
use zcss_ccw::sid::SubchannelId;
use zcss_dasd::layout::{DscbDate, Volser};

const AREA: u64 = 0x10_0000;
const BUF: u64 = 0x20_0000;

fn machine(device_line: &str) -> Arc<Machine> {
    let text = format!("zcss-trace 1\nmachine memory=0x800000\n{device_line}\n");
    Arc::new(Machine::from_trace(&parse(&text).unwrap(), Path::new(".")).unwrap())
}

fn driver(m: &Arc<Machine>, schno: u16) -> LinuxDasd {
    let sid = SubchannelId {
        cssid: 0xfe,
        ssid: 0,
        schno,
    };
    let ch = CssChannel::new(m.css.clone(), m.io_mem.clone(), sid);
    let ch = if m.sim_host().is_some() {
        let w = m.clone();
        ch.with_settle(move || assert!(w.wait(std::time::Duration::from_secs(10))))
    } else {
        ch
    };
    LinuxDasd::new(ch, AREA)
}

/// A byte of block `b`'s test data.
fn pattern(b: u32, i: usize, v: u8) -> u8 {
    let [x, ..] = (b.wrapping_mul(0x9e37_79b9) >> 8).to_le_bytes();
    let [y, ..] = i.to_le_bytes();
    x ^ y.wrapping_mul(31) ^ v
}

/// Writes blocks `first..first + n` with a pattern, reads them back into a
/// cleared buffer and compares.
fn round_trip(d: &mut LinuxDasd, first: u32, n: u32, v: u8) {
    let bs = usize::from(d.layout().block_size().unwrap());
    for b in first..first + n {
        let data: Vec<u8> = (0..bs).map(|i| pattern(b, i, v)).collect();
        d.store(BUF + u64::from(b - first) * bs as u64, &data).unwrap();
    }
    d.write_blocks(first, n, BUF).unwrap();
    let rbuf = BUF + 0x10_0000;
    d.store(rbuf, &vec![0; bs * usize::try_from(n).unwrap()]).unwrap();
    d.read_blocks(first, n, rbuf).unwrap();
    for b in first..first + n {
        let len = d.block_len(b);
        let want: Vec<u8> = (0..len).map(|i| pattern(b, i, v)).collect();
        let got = d.fetch(rbuf + u64::from(b - first) * bs as u64, bs).unwrap();
        assert!(got[..len] == want[..], "block {b} differs");
        assert!(
            got[len..].iter().all(|&x| x == 0),
            "block {b}: nothing beyond its record"
        );
    }
}

#[test]
fn dasdfmt_cdl_fdasd_and_block_io_on_a_fresh_3390() {
    let m = machine("device fe.0.0000 devno=0120 dasd-3390 cylinders=5");
    let mut d = driver(&m, 0);
    assert_eq!(d.online().unwrap(), Layout::Unformatted);
    assert_eq!(d.cylinders(), 5);
    let opts = DasdfmtOptions {
        volser: Some(Volser::new("LNX001").unwrap()),
        ..DasdfmtOptions::default()
    };
    let mut seen = Vec::new();
    assert_eq!(
        d.dasdfmt(&opts, &mut |done, total| seen.push((done, total))).unwrap(),
        Layout::Cdl(4096)
    );
    assert_eq!(seen.last(), Some(&(75, 75)));
    d.fdasd_auto(DscbDate { year: 126, day: 1 }).unwrap();
    let vol1 = d.read_bytes(2 * 4096, 84).unwrap();
    assert_eq!(&vol1[..4], &[0xe5, 0xd6, 0xd3, 0xf1]);
    round_trip(&mut d, 30, 35, 1);
    round_trip(&mut d, 24, 3, 2);
    round_trip(&mut d, 0, 40, 7);
}

#[test]
fn dasdfmt_ldl_writes_linux_disk_layout() {
    let m = machine("device fe.0.0003 devno=0123 dasd-3390 cu=3990-3 cylinders=2");
    let mut d = driver(&m, 3);
    assert_eq!(d.online().unwrap(), Layout::Unformatted);
    let opts = DasdfmtOptions {
        layout: DiskLayout::Ldl,
        block_size: 2048,
        ..DasdfmtOptions::default()
    };
    assert_eq!(d.dasdfmt(&opts, &mut |_, _| {}).unwrap(), Layout::Ldl(2048));
    assert_eq!(d.blocks_per_track(), 21);
    // LNX1 label with the default volser 0X0123 at block 2, no key.
    let label = d.read_bytes(2 * 2048, 88).unwrap();
    assert_eq!(&label[..4], &[0xd3, 0xd5, 0xe7, 0xf1], "LNX1");
    assert_eq!(&label[4..10], &[0xf0, 0xe7, 0xf0, 0xf1, 0xf2, 0xf3], "0X0123");
    assert_eq!(label[79], 0xf2);
    assert_eq!(u64::from_be_bytes(label[80..88].try_into().unwrap()), 30 * 21);
    assert!(d.fdasd_auto(DscbDate { year: 126, day: 1 }).is_err(), "fdasd needs CDL");
    round_trip(&mut d, 0, 50, 3);
}

#[test]
fn prefix_and_track_mode_on_3990_6_define_extent_on_3990_3() {
    for (cu, prefix) in [("3990-6", true), ("3990-3", false), ("3990", false)] {
        let m = machine(&format!("device fe.0.0000 devno=0120 dasd-3390 cu={cu} cylinders=3"));
        let mut d = driver(&m, 0);
        d.online().unwrap();
        assert_eq!(d.uses_prefix(), prefix, "{cu}");
        d.dasdfmt(&DasdfmtOptions::default(), &mut |_, _| {}).unwrap();
        let before = d.commands().len();
        round_trip(&mut d, 40, 30, 4);
        let c = &d.commands()[before..];
        assert_eq!(c.contains(&0xe7), prefix, "{cu}: PREFIX");
        assert_eq!(c.contains(&0xa5) && c.contains(&0xa6), prefix, "{cu}: track mode");
        assert_eq!(c.contains(&0x63), !prefix, "{cu}: DEFINE EXTENT");
    }
}

#[test]
fn the_same_session_runs_through_passthrough_with_remapping() {
    let m = machine("device fe.0.0005 devno=0200 vfio-dasd host=1.0.0005 cylinders=3 chpids=50,51");
    let mut d = driver(&m, 5);
    assert_eq!(d.online().unwrap(), Layout::Unformatted);
    assert_eq!(
        d.dasdfmt(&DasdfmtOptions::default(), &mut |_, _| {}).unwrap(),
        Layout::Cdl(4096)
    );
    d.fdasd_auto(DscbDate { year: 126, day: 1 }).unwrap();
    round_trip(&mut d, 30, 30, 5);
    round_trip(&mut d, 0, 40, 6);
}
