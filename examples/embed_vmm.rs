//! A small VMM embedding zcss, recorded and replayed: three CPU threads
//! execute intercepted I/O instructions through the intercept decoder and
//! `Css::execute`, an interrupt thread woken by the css's waker takes the
//! interruptions with TPI and TEST SUBCHANNEL, and the host types console
//! input, hot-plugs a disk, unplugs it and resets the I/O system while the
//! guest runs. `Recorder::start` records all of it in one step; the
//! recording replays with zero mismatches.
//!
//! The guest side is a virtio-ccw driver written out by hand (revision 1,
//! classic indicators, one request at a time per queue):
//!
//! | CPU | device | what it does |
//! |---|---|---|
//! | 0 | fe.0.0000 virtio-blk on a file | reads the boot sector, writes sector 1 |
//! | 1 | fe.0.0002 virtio-console | prints a line, posts a receive buffer, reads the host's input |
//! | 2 | fe.0.0001 virtio-rng, then fe.0.0003 | reads entropy; after the hot plug, STCRW and SENSE ID on the new disk |
//!
//! Run: `cargo run --example embed_vmm [DIR]` (the trace and the disk image
//! go to DIR, a temporary folder by default); `RUST_LOG=zcss_css=debug`
//! shows every instruction. `tests/embed_vmm.rs` runs it in CI.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use zcss::ccw::scsw::Scsw;
use zcss::ccw::sid::SubchannelId;
use zcss::ccw::VecMemory;
use zcss::css::intercept::{AddressingMode, InstructionText, IoInstruction};
use zcss::css::{Css, CssConfig, IoCtx, Outcome, Wake};
use zcss::machine::DeterministicEntropy;
use zcss::trace::replay::{replay, ReplayOptions};
use zcss::trace::{parse, Recorder};
use zcss::virtio_ccw::{Block, BlockBackend, Console, ConsoleInput, Rng, VirtioCcwDevice};

/// Guest storage: 16 MiB.
pub const MEMORY: u64 = 16 << 20;
/// What the boot sector of the disk holds.
pub const BOOT_RECORD: &[u8] = b"zcss boot record";
/// What the host types on the console.
pub const TYPED: &[u8] = b"root\n";

// virtio-ccw command codes and status bits (virtio 1.x §4.3.2, §2.1).
const SET_VIRTIO_REV: u8 = 0x83;
const WRITE_FEAT: u8 = 0x11;
const WRITE_STATUS: u8 = 0x31;
const SET_VQ: u8 = 0x13;
const SET_IND: u8 = 0x43;
const SENSE_ID: u8 = 0xe4;
const ACKNOWLEDGE: u8 = 1;
const DRIVER: u8 = 2;
const DRIVER_OK: u8 = 4;
const FEATURES_OK: u8 = 8;
/// Virtqueue size the driver uses.
const QUEUE_SIZE: u16 = 8;
const DESC_F_NEXT: u16 = 1;
const DESC_F_WRITE: u16 = 2;

fn sid(schno: u16) -> SubchannelId {
    SubchannelId {
        cssid: 0xfe,
        ssid: 0,
        schno,
    }
}

/// `op` in S format: base register `b2`, displacement `d2`.
fn s_format(op: u16, b2: u8, d2: u16) -> [u8; 4] {
    let [a, b] = op.to_be_bytes();
    let [h, l] = d2.to_be_bytes();
    [a, b, b2 << 4 | (h & 0x0f), l]
}

/// What the interrupt thread hands a CPU: the SCSW TEST SUBCHANNEL stored.
type Status = Scsw;

/// One virtio queue as the driver keeps it.
#[derive(Clone, Copy)]
struct Queue {
    index: u16,
    desc: u64,
    avail: u64,
    used: u64,
    avail_idx: u16,
    used_idx: u16,
}

/// A guest CPU: its registers, its own storage area for operands and
/// channel programs, and the status the interrupt thread forwards to it.
struct Cpu<'a> {
    css: &'a Css,
    mem: &'a VecMemory,
    area: u64,
    regs: [u64; 16],
    status: &'a Receiver<Status>,
}

impl<'a> Cpu<'a> {
    fn new(css: &'a Css, mem: &'a VecMemory, area: u64, status: &'a Receiver<Status>) -> Self {
        let mut regs = [0; 16];
        regs[5] = area;
        Self {
            css,
            mem,
            area,
            regs,
            status,
        }
    }

    /// Executes one intercepted instruction; returns its condition code.
    fn exec(&mut self, text: [u8; 4]) -> Option<u8> {
        let text = InstructionText::from_bytes(&text).expect("instruction text");
        let insn = IoInstruction::decode(text, &self.regs, AddressingMode::Bits64).expect("an I/O instruction");
        let r = self.css.execute(&IoCtx::new(self.mem), &insn, 0xff);
        if let Some(gr2) = r.gr2 {
            self.regs[2] = gr2;
        }
        match r.outcome {
            Outcome::Cc(cc) => Some(cc.value()),
            Outcome::Ok | Outcome::Gr2(_) => None,
            Outcome::Program(p) => panic!("program interruption {p}"),
        }
    }

    fn word(schno: u16) -> u64 {
        0x0001_0000 | u64::from(schno)
    }

    /// STSCH, set E and ISC 3, MSCH.
    fn enable(&mut self, schno: u16) {
        self.regs[1] = Self::word(schno);
        assert_eq!(self.exec(s_format(0xb234, 5, 0x200)), Some(0), "STSCH");
        let w1 = self.mem.fetch(self.area + 0x204, 2).unwrap();
        self.mem
            .store(self.area + 0x204, &[w1[0] | 3 << 3, w1[1] | 0x80])
            .unwrap();
        assert_eq!(self.exec(s_format(0xb232, 5, 0x200)), Some(0), "MSCH");
    }

    /// Runs one format-1 CCW (SLI) with its data at `area + 0x100` and
    /// waits for the interrupt thread to hand over its ending status.
    fn ccw(&mut self, schno: u16, cmd: u8, data: &[u8], count: u16) -> Vec<u8> {
        let buf = self.area + 0x100;
        self.mem.store(buf, data).unwrap();
        let cda = u32::try_from(buf).unwrap().to_be_bytes();
        let [c0, c1] = count.to_be_bytes();
        self.mem
            .store(self.area + 0x40, &[cmd, 0x20, c0, c1, cda[0], cda[1], cda[2], cda[3]])
            .unwrap();
        let cpa = u32::try_from(self.area + 0x40).unwrap().to_be_bytes();
        let [i0, i1] = schno.to_be_bytes();
        let orb = [0, 0, i0, i1, 0x00, 0x80, 0xff, 0x00, cpa[0], cpa[1], cpa[2], cpa[3]];
        self.mem.store(self.area, &orb).unwrap();
        self.regs[1] = Self::word(schno);
        assert_eq!(self.exec(s_format(0xb233, 5, 0)), Some(0), "SSCH");
        let scsw = self.wait(|s| s.ctrl.stctl().primary());
        assert_eq!(scsw.dstat.names(), "CE|DE", "command {cmd:#04x}");
        self.mem.fetch(buf, usize::from(count)).unwrap()
    }

    /// The next status the interrupt thread hands over that `want` accepts.
    fn wait(&self, want: impl Fn(&Status) -> bool) -> Status {
        loop {
            let s = self
                .status
                .recv_timeout(Duration::from_secs(10))
                .expect("an interruption");
            if want(&s) {
                return s;
            }
        }
    }

    /// The virtio-ccw setup of revision 1 with `queues` queues at `rings`
    /// and a classic indicator at `rings + 0xf00`.
    fn virtio_setup(&mut self, schno: u16, rings: u64, queues: u16) -> Vec<Queue> {
        self.enable(schno);
        let id = self.ccw(schno, SENSE_ID, &[0; 8], 8);
        assert_eq!(&id[..3], &[0xff, 0x38, 0x32], "a virtio-ccw proxy");
        self.ccw(schno, SET_VIRTIO_REV, &[0, 1, 0, 0], 4);
        self.ccw(schno, WRITE_STATUS, &[ACKNOWLEDGE | DRIVER], 1);
        self.ccw(schno, WRITE_FEAT, &[0, 0, 0, 0, 0], 5);
        self.ccw(schno, WRITE_FEAT, &[1, 0, 0, 0, 1], 5); // VERSION_1
        self.ccw(schno, WRITE_STATUS, &[ACKNOWLEDGE | DRIVER | FEATURES_OK], 1);
        let mut out = Vec::new();
        for index in 0..queues {
            let base = rings + u64::from(index) * 0x1000;
            let q = Queue {
                index,
                desc: base,
                avail: base + 0x100,
                used: base + 0x200,
                avail_idx: 0,
                used_idx: 0,
            };
            let mut info = [0u8; 32];
            info[..8].copy_from_slice(&q.desc.to_be_bytes());
            info[12..14].copy_from_slice(&index.to_be_bytes());
            info[14..16].copy_from_slice(&QUEUE_SIZE.to_be_bytes());
            info[16..24].copy_from_slice(&q.avail.to_be_bytes());
            info[24..].copy_from_slice(&q.used.to_be_bytes());
            self.ccw(schno, SET_VQ, &info, 32);
            out.push(q);
        }
        self.ccw(schno, SET_IND, &(rings + 0xf00).to_be_bytes(), 8);
        self.ccw(
            schno,
            WRITE_STATUS,
            &[ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK],
            1,
        );
        out
    }

    /// Offers a chain of `(addr, len, device_writable)` buffers on `q` and
    /// notifies the device with DIAG 0x500.
    fn offer(&mut self, schno: u16, q: &mut Queue, bufs: &[(u64, u32, bool)]) {
        for (i, &(addr, len, writable)) in bufs.iter().enumerate() {
            let last = i + 1 == bufs.len();
            let flags = if writable { DESC_F_WRITE } else { 0 } | if last { 0 } else { DESC_F_NEXT };
            let next = if last { 0 } else { u16::try_from(i + 1).unwrap() };
            let mut d = [0u8; 16];
            d[..8].copy_from_slice(&addr.to_le_bytes());
            d[8..12].copy_from_slice(&len.to_le_bytes());
            d[12..14].copy_from_slice(&flags.to_le_bytes());
            d[14..].copy_from_slice(&next.to_le_bytes());
            self.mem.store(q.desc + 16 * i as u64, &d).unwrap();
        }
        let slot = u64::from(q.avail_idx % QUEUE_SIZE);
        self.mem.store(q.avail + 4 + 2 * slot, &0u16.to_le_bytes()).unwrap();
        q.avail_idx = q.avail_idx.wrapping_add(1);
        self.mem.store(q.avail + 2, &q.avail_idx.to_le_bytes()).unwrap();
        self.regs[1] = 3; // notify
        self.regs[2] = Self::word(schno);
        self.regs[3] = u64::from(q.index);
        self.regs[4] = 0;
        self.exec([0x83, 0x00, 0x05, 0x00]);
        assert!(
            i64::from_ne_bytes(self.regs[2].to_ne_bytes()) >= 0,
            "notification accepted"
        );
    }

    /// Waits for the device's indication (an I/O interruption with alert
    /// status only), clears the indicator and returns the length of the
    /// next used buffer of `q`.
    fn used(&mut self, q: &mut Queue, indicator: u64) -> u32 {
        self.wait(|s| s.ctrl.stctl().alert() && !s.ctrl.stctl().primary());
        self.mem.store(indicator, &[0; 8]).unwrap();
        let idx = self.mem.fetch(q.used + 2, 2).unwrap();
        assert_eq!(
            u16::from_le_bytes([idx[0], idx[1]]),
            q.used_idx.wrapping_add(1),
            "one used buffer"
        );
        let e = self
            .mem
            .fetch(q.used + 4 + 8 * u64::from(q.used_idx % QUEUE_SIZE), 8)
            .unwrap();
        q.used_idx = q.used_idx.wrapping_add(1);
        u32::from_le_bytes([e[4], e[5], e[6], e[7]])
    }
}

/// The interrupt thread: takes every I/O interruption with TPI (into its
/// own area) and TEST SUBCHANNEL, and hands the SCSW to the CPU that owns
/// the subchannel; sleeps on the waker between.
fn interrupt_thread(css: &Css, mem: &VecMemory, wake: &Receiver<Wake>, owners: &[Sender<Status>], done: &AtomicBool) {
    let mut regs = [0u64; 16];
    regs[5] = 0x8000;
    let ctx = IoCtx::new(mem);
    let run = |regs: &[u64; 16], text: [u8; 4]| {
        let insn = IoInstruction::decode(
            InstructionText::from_bytes(&text).unwrap(),
            regs,
            AddressingMode::Bits64,
        );
        css.execute(&ctx, &insn.unwrap(), 0xff).outcome
    };
    loop {
        if matches!(run(&regs, s_format(0xb236, 5, 0)), Outcome::Cc(cc) if cc.value() == 1) {
            let code = mem.fetch(0x8000, 8).unwrap();
            regs[1] = u64::from(u32::from_be_bytes([code[0], code[1], code[2], code[3]]));
            if matches!(run(&regs, s_format(0xb235, 5, 0x100)), Outcome::Cc(cc) if cc.value() == 0) {
                let scsw = Scsw::decode(&mem.fetch(0x8100, 12).unwrap()).unwrap();
                let schno = usize::from(u16::from_be_bytes([code[2], code[3]]));
                if let Some(owner) = owners.get(schno) {
                    let _ = owner.send(scsw);
                }
            }
            continue;
        }
        if done.load(Ordering::Acquire) && css.pending_iscs() & 0x10 == 0 {
            return;
        }
        let _ = wake.recv_timeout(Duration::from_millis(2));
    }
}

/// What a run produced.
pub struct Run {
    /// The recording.
    pub trace: String,
    /// What the guest printed on the console.
    pub console: Vec<u8>,
    /// What the guest read from the console.
    pub typed: Vec<u8>,
    /// The boot sector as the guest read it.
    pub boot: Vec<u8>,
}

/// Writes into a shared buffer (the console's output).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the VMM once, recording into `dir` (the disk image and the saved
/// starting contents of the disk go there).
///
/// # Panics
/// When the guest or the host sees something other than expected.
#[must_use]
pub fn run(dir: &Path) -> Run {
    // The machine: a file-backed disk, an entropy source, a console.
    let image = dir.join("vmm-disk.img");
    let mut disk = vec![0u8; 64 * 512];
    disk[..BOOT_RECORD.len()].copy_from_slice(BOOT_RECORD);
    std::fs::write(&image, &disk).unwrap();
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&image).unwrap();
    let css = Css::new(CssConfig::default());
    let blk = Block::new(BlockBackend::File(file), false).unwrap();
    let disk0 = css
        .attach_device(sid(0), 0x0100, VirtioCcwDevice::new(Box::new(blk)), false)
        .unwrap();
    let rng = Rng::with_source(Some(Box::new(DeterministicEntropy::default())));
    css.attach_cold(sid(1), 0x0101, Box::new(VirtioCcwDevice::new(Box::new(rng))))
        .unwrap();
    let out = Captured::default();
    let console = Console::new(Box::new(out.clone()), ConsoleInput::default());
    css.attach_cold(sid(2), 0x0102, Box::new(VirtioCcwDevice::new(Box::new(console))))
        .unwrap();
    let mem = VecMemory::new(MEMORY);

    // Recording: one call, before the guest runs.
    let rec = Recorder::start(&css, MEMORY, Some(dir)).unwrap();
    rec.comment("recorded by examples/embed_vmm.rs: three CPUs, an interrupt thread, host events");

    let (wake_tx, wake_rx) = crossbeam_channel::unbounded();
    css.set_waker_channel(wake_tx);
    let channels: Vec<(Sender<Status>, Receiver<Status>)> = (0..4).map(|_| crossbeam_channel::unbounded()).collect();
    let owners: Vec<Sender<Status>> = channels.iter().map(|(t, _)| t.clone()).collect();
    let done = AtomicBool::new(false);
    let (posted_tx, posted_rx) = crossbeam_channel::bounded::<()>(1);
    let (plugged_tx, plugged_rx) = crossbeam_channel::bounded::<()>(1);
    let mut result = (Vec::new(), Vec::new());
    std::thread::scope(|s| {
        let irq = s.spawn(|| interrupt_thread(&css, &mem, &wake_rx, &owners, &done));
        // CPU 0: the disk.
        let cpu0 = s.spawn(|| {
            let mut cpu = Cpu::new(&css, &mem, 0x1_0000, &channels[0].1);
            let mut q = cpu.virtio_setup(0, 0x10_0000, 1).remove(0);
            let (hdr, data, status) = (0x10_4000, 0x10_5000, 0x10_4100);
            // IN sector 0.
            mem.store(hdr, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
                .unwrap();
            cpu.offer(0, &mut q, &[(hdr, 16, false), (data, 512, true), (status, 1, true)]);
            assert_eq!(cpu.used(&mut q, 0x10_0f00), 513);
            assert_eq!(mem.fetch(status, 1).unwrap(), [0], "VIRTIO_BLK_S_OK");
            let boot = mem.fetch(data, BOOT_RECORD.len()).unwrap();
            // OUT sector 1.
            mem.store(hdr, &[1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
                .unwrap();
            mem.store(data, &[0xa5; 512]).unwrap();
            cpu.offer(0, &mut q, &[(hdr, 16, false), (data, 512, false), (status, 1, true)]);
            assert_eq!(cpu.used(&mut q, 0x10_0f00), 1);
            boot
        });
        // CPU 1: the console.
        let cpu1 = s.spawn(|| {
            let mut cpu = Cpu::new(&css, &mem, 0x2_0000, &channels[2].1);
            let mut qs = cpu.virtio_setup(2, 0x20_0000, 2);
            let (rx, tx) = qs.split_at_mut(1);
            mem.store(0x20_5000, b"login: ").unwrap();
            cpu.offer(2, &mut tx[0], &[(0x20_5000, 7, false)]);
            assert_eq!(cpu.used(&mut tx[0], 0x20_0f00), 0);
            // A receive buffer; nothing typed yet, so no indication.
            cpu.offer(2, &mut rx[0], &[(0x20_6000, 64, true)]);
            posted_tx.send(()).unwrap();
            let n = cpu.used(&mut rx[0], 0x20_0f00);
            mem.fetch(0x20_6000, usize::try_from(n).unwrap()).unwrap()
        });
        // CPU 2: entropy, then the hot-plugged disk.
        let cpu2 = s.spawn(|| {
            let mut cpu = Cpu::new(&css, &mem, 0x3_0000, &channels[1].1);
            let mut q = cpu.virtio_setup(1, 0x30_0000, 1).remove(0);
            cpu.offer(1, &mut q, &[(0x30_5000, 16, true)]);
            assert_eq!(cpu.used(&mut q, 0x30_0f00), 16);
            plugged_rx.recv().unwrap();
            // The channel report of the hot plug, then the new device.
            assert_eq!(cpu.exec(s_format(0xb239, 5, 0x300)), Some(0), "STCRW finds the report");
            let mut cpu3 = Cpu::new(&css, &mem, 0x3_8000, &channels[3].1);
            cpu3.enable(3);
            let id = cpu3.ccw(3, SENSE_ID, &[0; 8], 8);
            assert_eq!(id[..4], [0xff, 0x38, 0x32, 0x02], "a virtio-blk");
        });
        // The host: console input once the guest waits for it, a hot plug.
        posted_rx.recv().unwrap();
        css.device_input(sid(2), &mem, TYPED).unwrap();
        let hot = VirtioCcwDevice::new(Box::new(Block::in_memory(64).unwrap()));
        css.attach(sid(3), 0x0103, Box::new(hot)).unwrap();
        plugged_tx.send(()).unwrap();
        let boot = cpu0.join().unwrap();
        let typed = cpu1.join().unwrap();
        cpu2.join().unwrap();
        done.store(true, Ordering::Release);
        irq.join().unwrap();
        result = (boot, typed);
    });
    // The guest's write reached the file, seen through the typed handle.
    assert_eq!(
        disk0.with(|d| d.device_as::<Block>().is_some_and(Block::is_file_backed)),
        Some(true)
    );
    assert_eq!(std::fs::read(&image).unwrap()[512..1024], [0xa5; 512]);
    // Unplug the hot disk, reset the I/O system, and look once more.
    css.detach(sid(3)).unwrap();
    css.reset();
    let status = crossbeam_channel::never();
    let mut cpu = Cpu::new(&css, &mem, 0x4_0000, &status);
    cpu.regs[1] = Cpu::word(0);
    assert_eq!(cpu.exec(s_format(0xb234, 5, 0x200)), Some(0));
    assert_eq!(mem.fetch(0x4_0205, 1).unwrap()[0] & 0x80, 0, "disabled by the reset");
    assert!(rec.problems().is_empty(), "{:?}", rec.problems());
    let console = out.0.lock().unwrap().clone();
    Run {
        trace: rec.text(),
        console,
        typed: result.1,
        boot: result.0,
    }
}

/// Replays `trace` from `dir`; returns the mismatches.
#[must_use]
pub fn replay_mismatches(trace: &str, dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let r = replay(
        &parse(trace).unwrap(),
        dir,
        &ReplayOptions::default(),
        &mut out,
        &mut |_| {},
    )
    .unwrap();
    r.mismatches
        .iter()
        .map(|m| format!("{}: {}", m.line, m.message))
        .collect()
}

fn main() {
    let dir: PathBuf = std::env::args_os().nth(1).map_or_else(
        || std::env::temp_dir().join(format!("zcss-embed-vmm-{}", std::process::id())),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).unwrap();
    let r = run(&dir);
    let path = dir.join("embed_vmm.zct");
    std::fs::write(&path, &r.trace).unwrap();
    println!("console output: {:?}", String::from_utf8_lossy(&r.console));
    println!(
        "typed on the host, read by the guest: {:?}",
        String::from_utf8_lossy(&r.typed)
    );
    println!("boot sector: {:?}", String::from_utf8_lossy(&r.boot));
    let mismatches = replay_mismatches(&r.trace, &dir);
    println!(
        "recorded {} lines to {}; replay: {} mismatches",
        r.trace.lines().count(),
        path.display(),
        mismatches.len()
    );
    for m in &mismatches {
        println!("  {m}");
    }
    if !mismatches.is_empty() {
        std::process::exit(1);
    }
}
