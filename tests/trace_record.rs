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

/// A directory of its own for one test.
fn scratch_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("zcss-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn replay_in(text: &str, base: &Path) -> zcss::trace::replay::FileReport {
    let mut out = Vec::new();
    replay(
        &parse(text).unwrap(),
        base,
        &ReplayOptions::default(),
        &mut out,
        &mut |_| {},
    )
    .unwrap()
}

fn sid(schno: u16) -> SubchannelId {
    SubchannelId {
        cssid: 0xfe,
        ssid: 0,
        schno,
    }
}

#[test]
fn record_start_describes_the_live_css_and_saves_disk_contents_beside_the_trace() {
    use zcss::css::{Css, CssConfig};
    use zcss::virtio_ccw::{Block, BlockBackend, VirtioCcwDevice};
    let dir = scratch_dir("record-start");
    let css = Css::new(CssConfig::default());
    // A memory disk with contents and a file-backed disk the guest changes.
    let mut image = vec![0u8; 4096];
    image[512..516].copy_from_slice(b"boot");
    css.attach_cold(
        sid(0),
        0,
        Box::new(VirtioCcwDevice::new(Box::new(
            Block::new(BlockBackend::Memory(image.clone()), false).unwrap(),
        ))),
    )
    .unwrap();
    let file_path = dir.join("live.img");
    std::fs::write(&file_path, vec![7u8; 8192]).unwrap();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&file_path)
        .unwrap();
    css.attach_cold(
        sid(1),
        1,
        Box::new(VirtioCcwDevice::new(Box::new(
            Block::new(BlockBackend::File(f), false).unwrap(),
        ))),
    )
    .unwrap();
    let mem = Arc::new(zcss::ccw::VecMemory::new(4 << 20));
    let rec = Recorder::start(&css, 4 << 20, Some(&dir)).unwrap();
    let mut drv = LinuxDriver::new(css.clone(), mem.clone(), sid(1));
    drv.enable().unwrap();
    drv.probe(u64::MAX).unwrap();
    drv.find_vqs(1).unwrap();
    drv.driver_ok().unwrap();
    let mut data = vec![0x5a; 512];
    assert_eq!(drv.blk(true, 0, &mut data).unwrap(), 0);
    let mut back = vec![0; 512];
    assert_eq!(drv.blk(false, 1, &mut back).unwrap(), 0);
    assert_eq!(back, vec![7u8; 512], "the file's contents");
    let text = rec.text();
    assert!(
        text.contains("device fe.0.0000 devno=0000 virtio-blk size=4096 image=disk-fe.0.0000-1.img\n"),
        "{text}"
    );
    assert!(
        text.contains("device fe.0.0001 devno=0001 virtio-blk size=8192 image=disk-fe.0.0001-2.img\n"),
        "{text}"
    );
    assert_eq!(std::fs::read(dir.join("disk-fe.0.0000-1.img")).unwrap(), image);
    assert_eq!(
        std::fs::read(dir.join("disk-fe.0.0001-2.img")).unwrap(),
        vec![7u8; 8192],
        "the starting contents, not what the guest wrote since"
    );
    let r = replay_in(&text, &dir);
    assert_eq!(r.mismatches, vec![], "recording:\n{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn record_start_refuses_a_disk_with_contents_without_an_image_dir() {
    use zcss::css::{Css, CssConfig};
    use zcss::virtio_ccw::{Block, BlockBackend, VirtioCcwDevice};
    let css = Css::new(CssConfig::default());
    css.attach_cold(
        sid(3),
        3,
        Box::new(VirtioCcwDevice::new(Box::new(
            Block::new(BlockBackend::Memory(vec![1; 512]), false).unwrap(),
        ))),
    )
    .unwrap();
    let e = Recorder::start(&css, 1 << 20, None).unwrap_err();
    assert!(e.to_string().contains("fe.0.0003"), "{e}");
    assert!(e.to_string().contains("directory"), "{e}");
    // Nothing was registered: instructions are not recorded.
    let mem = zcss::ccw::VecMemory::new(1 << 20);
    let _ = css.stsch(&zcss::css::IoCtx::new(&mem), 0x0001_0003, 0x1000);
}

#[test]
fn record_console_input_hot_plug_detach_and_reset_replay_clean() {
    use zcss::css::{Css, CssConfig};
    use zcss::machine::DeterministicEntropy;
    use zcss::virtio_ccw::{Console, ConsoleInput, Rng, VirtioCcwDevice};
    let css = Css::new(CssConfig::default());
    css.attach_cold(
        sid(2),
        2,
        Box::new(VirtioCcwDevice::new(Box::new(Console::new(
            Box::new(std::io::sink()),
            ConsoleInput::default(),
        )))),
    )
    .unwrap();
    let mem = Arc::new(zcss::ccw::VecMemory::new(4 << 20));
    let rec = Recorder::start(&css, 4 << 20, None).unwrap();
    let mut con = LinuxDriver::new(css.clone(), mem.clone(), sid(2));
    con.enable().unwrap();
    con.probe(u64::MAX).unwrap();
    con.find_vqs(2).unwrap();
    con.driver_ok().unwrap();
    assert!(con.request(0, &[(0x18_0000, 16, true)]).is_err(), "no input yet");
    css.device_input(sid(2), &*mem, b"hello\n").unwrap();
    assert!(con.take_interrupt().unwrap().is_some());
    assert_eq!(mem.fetch(0x18_0000, 6).unwrap(), b"hello\n".to_vec());
    // Hot plug an entropy source, read from it, unplug it, reset.
    let rng = Rng::with_source(Some(Box::new(DeterministicEntropy::default())));
    css.attach(sid(4), 4, Box::new(VirtioCcwDevice::new(Box::new(rng))))
        .unwrap();
    let mut r = LinuxDriver::new(css.clone(), Arc::new(zcss::ccw::VecMemory::new(4 << 20)), sid(4));
    // The recorder sees the storage the css touched, whichever memory.
    drop(r.enable());
    css.detach(sid(4)).unwrap();
    css.reset();
    let text = rec.text();
    for needle in [
        "console-input fe.0.0002 68656c6c 6f0a\n",
        "device fe.0.0004 devno=0004 virtio-rng\n",
        "detach fe.0.0004\n",
        "\nreset\n",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    let report = replay_in(&text, Path::new("."));
    assert_eq!(report.mismatches, vec![], "recording:\n{text}");
}

#[test]
fn record_hot_plug_before_the_first_instruction_stays_a_hot_plug() {
    use zcss::css::{Css, CssConfig};
    use zcss::virtio_ccw::{Console, ConsoleInput, VirtioCcwDevice};
    let css = Css::new(CssConfig::default());
    let rec = Recorder::start(&css, 1 << 20, None).unwrap();
    let con = Console::new(Box::new(std::io::sink()), ConsoleInput::default());
    css.attach(sid(1), 1, Box::new(VirtioCcwDevice::new(Box::new(con))))
        .unwrap();
    let mem = zcss::ccw::VecMemory::new(1 << 20);
    // STCRW finds the channel report of the hot plug.
    assert_eq!(css.stcrw(&zcss::css::IoCtx::new(&mem), 0x100), Ok(zcss::css::Cc::Zero));
    let text = rec.text();
    let report = replay_in(&text, Path::new("."));
    assert_eq!(report.mismatches, vec![], "recording:\n{text}");
    let t = parse(&text).unwrap();
    assert_eq!(t.initial_devices().count(), 0, "{text}");
}

#[test]
fn record_waker_taking_the_interruption_on_the_same_thread_writes_it_after_the_ssch() {
    use zcss::css::{Cc, Css, CssConfig, IoCtx, Wake};
    use zcss::virtio_ccw::{Console, ConsoleInput, VirtioCcwDevice};
    let css = Css::new(CssConfig::default());
    let con = Console::new(Box::new(std::io::sink()), ConsoleInput::default());
    css.attach_cold(sid(0), 0, Box::new(VirtioCcwDevice::new(Box::new(con))))
        .unwrap();
    let mem = Arc::new(zcss::ccw::VecMemory::new(1 << 20));
    let rec = Recorder::start(&css, 1 << 20, None).unwrap();
    // A single-threaded VMM: the waker delivers the interruption at once,
    // inside the SSCH that made it pending, and runs the handler's TSCH.
    let (inner, m) = (css.clone(), mem.clone());
    let taken = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = taken.clone();
    css.set_waker(move |w| {
        if let Wake::Io { .. } = w {
            if let Some(code) = inner.next_interrupt(0xff) {
                let r = inner.tsch(&IoCtx::new(&*m), code.sid, 0x4000);
                log.lock().unwrap().push(r);
            }
        }
    });
    let ctx = IoCtx::new(&*mem);
    assert_eq!(css.stsch(&ctx, 0x0001_0000, 0x1000), Ok(Cc::Zero));
    let mut w1 = mem.fetch(0x1004, 2).unwrap();
    w1[0] |= 3 << 3;
    w1[1] |= 0x80;
    mem.store(0x1004, &w1).unwrap();
    assert_eq!(css.msch(&ctx, 0x0001_0000, 0x1000), Ok(Cc::Zero));
    mem.store(0x2000, &[0xe4, 0x20, 0, 8, 0, 0, 0x30, 0]).unwrap();
    mem.store(0x1800, &[0, 0, 0, 1, 0, 0x80, 0xff, 0, 0, 0, 0x20, 0])
        .unwrap();
    assert_eq!(css.ssch(&ctx, 0x0001_0000, 0x1800), Ok(Cc::Zero));
    assert_eq!(
        taken.lock().unwrap().as_slice(),
        &[Ok(Cc::Zero)],
        "taken inside the SSCH"
    );
    let text = rec.text();
    let at = |p: &str| text.lines().position(|l| l.starts_with(p)).unwrap();
    assert!(at("ssch") < at("tpi") && at("tpi") < at("tsch"), "{text}");
    let report = replay_in(&text, Path::new("."));
    assert_eq!(report.mismatches, vec![], "recording:\n{text}");
}

#[test]
fn record_unsolicited_status_replays_to_the_same_irb() {
    use zcss::css::{Css, CssConfig, IoCtx};
    use zcss::virtio_ccw::{Rng, VirtioCcwDevice};
    let css = Css::new(CssConfig::default());
    let rng = Rng::with_source(Some(Box::new(zcss::machine::DeterministicEntropy::default())));
    css.attach_cold(sid(3), 3, Box::new(VirtioCcwDevice::new(Box::new(rng))))
        .unwrap();
    let mem = Arc::new(zcss::ccw::VecMemory::new(1 << 20));
    let rec = Recorder::start(&css, 1 << 20, None).unwrap();
    let mut d = LinuxDriver::new(css.clone(), mem.clone(), sid(3));
    d.enable().unwrap();
    let attention = zcss::ccw::status::DeviceStatus::from_bits(0x80);
    assert_eq!(css.unsolicited(sid(3), attention, None), Ok(true));
    assert_eq!(
        css.unsolicited(sid(3), attention, None),
        Ok(false),
        "already status pending"
    );
    assert!(css.unsolicited(sid(5), attention, None).is_err(), "no device");
    let ctx = IoCtx::new(&*mem);
    assert_eq!(css.tsch(&ctx, 0x0001_0003, 0x3000), Ok(zcss::css::Cc::Zero));
    let text = rec.text();
    assert_eq!(text.matches("unsolicited fe.0.0003 0x80\n").count(), 1, "{text}");
    let report = replay_in(&text, Path::new("."));
    assert_eq!(report.mismatches, vec![], "recording:\n{text}");
}
