//! Record → replay: a run of the Linux guest-driver model (virtio-blk probe,
//! a write and a read-back through the virtqueue with adapter indicators) is
//! recorded and the recording must replay without a mismatch.
//!
//! With `ZCSS_WRITE_EXAMPLES=1` the recording is also written to
//! `examples/virtio-blk-probe.zct`.

use std::path::Path;
use std::sync::Arc;

use zcss::ccw::sid::SubchannelId;
use zcss::machine::{Machine, MachineConfig};
use zcss::trace::replay::{replay, ReplayOptions};
use zcss::trace::{parse, DeviceKind, DeviceStmt, Insn, Param, Recorder, SchAddr, Statement};
use zcss_virtio_ccw::driver_model::LinuxDriver;

const SCH: SchAddr = SchAddr {
    cssid: 0xfe,
    ssid: 0,
    schno: 0,
};

fn blk_config() -> MachineConfig {
    MachineConfig {
        devices: vec![(
            0,
            DeviceStmt {
                sch: SCH,
                devno: 0,
                kind: DeviceKind::VirtioBlk,
                params: vec![Param {
                    key: "size".into(),
                    value: "65536".into(),
                }],
            },
        )],
        ..MachineConfig::default()
    }
}

/// Runs the driver model against a recorded machine; returns the trace text
/// and the sector read back.
fn record_blk_run() -> (String, Vec<u8>) {
    let cfg = blk_config();
    let rec = Recorder::new(&cfg);
    rec.comment("Linux's virtio-blk probe and a sector written and read back, recorded from the");
    rec.comment("guest-driver model of the virtio_ccw crate (drivers/s390/virtio/virtio_ccw.c's");
    rec.comment("sequence). Interruptions the driver took are written as TPI with the prefix-area");
    rec.comment("form; DIAG 0x500 is the queue notification; adapter indicators at 0x5010/0x5018.");
    let m = Machine::build(&cfg, Path::new("."), Some(&rec)).unwrap();
    let sid = SubchannelId {
        cssid: 0xfe,
        ssid: 0,
        schno: 0,
    };
    let mut drv = LinuxDriver::new(m.css.clone(), Arc::clone(&m.mem), sid);
    rec.comment("Linux virtio-blk probe: enable the subchannel (STSCH, MSCH with E and ISC 3)");
    drv.enable().unwrap();
    rec.comment("SENSE ID, path verification, SET_VIRTIO_REV, VDEV_RESET, status, features");
    drv.probe(u64::MAX).unwrap();
    rec.comment("READ_CONF (capacity), then find_vqs: READ_VQ_CONF + SET_VQ, SET_IND_ADAPTER, SET_CONF_IND");
    drv.read_conf(8).unwrap();
    drv.find_vqs(1).unwrap();
    rec.comment("DRIVER_OK");
    drv.driver_ok().unwrap();
    assert!(drv.airq(), "the device accepts adapter indicators");
    rec.comment("write sector 3 (OUT request, DIAG 0x500 notify, adapter interruption)");
    let mut data: Vec<u8> = (0..512u32).map(|i| u8::try_from(i % 251).unwrap()).collect();
    assert_eq!(drv.blk(true, 3, &mut data).unwrap(), 0);
    rec.comment("read sector 3 back (IN request); the data must be what was written");
    let mut back = vec![0u8; 512];
    assert_eq!(drv.blk(false, 3, &mut back).unwrap(), 0);
    (rec.text(), back)
}

#[test]
fn record_linux_blk_run_replays_clean() {
    let (text, back) = record_blk_run();
    let expected: Vec<u8> = (0..512u32).map(|i| u8::try_from(i % 251).unwrap()).collect();
    assert_eq!(back, expected, "the live run read back what it wrote");
    let trace = parse(&text).unwrap();
    let mut out = Vec::new();
    let r = replay(&trace, Path::new("."), &ReplayOptions::default(), &mut out, &mut |_| {}).unwrap();
    assert_eq!(r.mismatches, vec![], "recording:\n{text}");
    assert!(r.instructions > 30, "{} instructions", r.instructions);
    assert!(r.checks > r.instructions, "expects were recorded");
    if std::env::var_os("ZCSS_WRITE_EXAMPLES").is_some() {
        std::fs::write(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/virtio-blk-probe.zct"),
            &text,
        )
        .unwrap();
    }
}

#[test]
fn record_linux_blk_run_has_notify_and_adapter_interruption() {
    let (text, _) = record_blk_run();
    let trace = parse(&text).unwrap();
    let insns: Vec<Insn> = trace
        .statements()
        .filter_map(|(_, s)| match s {
            Statement::Insn(i) => Some(i.insn),
            _ => None,
        })
        .collect();
    assert!(insns.iter().any(|i| matches!(i, Insn::Diag500 { .. })));
    assert!(insns.iter().any(|i| matches!(i, Insn::Ssch { .. })));
    // ISC 3 (the driver's) as a TPI mask: interruptions taken by the embedder.
    assert!(insns
        .iter()
        .any(|i| matches!(i, Insn::Tpi { isc_mask: Some(m), .. } if m.value == 0x10)));
}

#[test]
fn record_tampered_data_fails_replay_with_storage_mismatch() {
    let (text, _) = record_blk_run();
    // Change the last byte the guest wrote to sector 3 before the write.
    let mut trace = parse(&text).unwrap();
    let mut changed = false;
    for l in trace.lines.iter_mut().rev() {
        if let Some(Statement::Store { addr, data }) = &mut l.stmt {
            if addr.value >= 0x10_0000 && addr.value < 0x10_0200 {
                data.bytes[0] ^= 0xff;
                changed = true;
                break;
            }
        }
    }
    assert!(changed, "the data buffer was recorded as stores");
    let mut out = Vec::new();
    let r = replay(&trace, Path::new("."), &ReplayOptions::default(), &mut out, &mut |_| {}).unwrap();
    assert!(!r.mismatches.is_empty());
    assert!(
        r.mismatches.iter().any(|m| m.message.starts_with("storage at")),
        "{:?}",
        r.mismatches
    );
}
