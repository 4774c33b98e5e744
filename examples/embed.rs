//! Embedding zcss in an emulator: a minimal "CPU" that executes intercepted
//! I/O instructions through the intercept decoder and `Css::execute`, and
//! delivers I/O interruptions itself when the waker says one is pending.
//!
//! Run: `cargo run --example embed`

use std::time::Duration;

use zcss_ccw::device::{CcwDevice, DeviceResult};
use zcss_ccw::intcode::InterruptionCode;
use zcss_ccw::memory::VecMemory;
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::{Ccw, DataStream};
use zcss_css::intercept::{AddressingMode, InstructionText, IoInstruction};
use zcss_css::{ChannelPaths, Css, CssConfig, Device, DeviceInfo, IoCtx, Outcome, Wake};

/// A line printer: SENSE ID, and WRITE (0x01) prints the data it is given.
struct Printer;

impl CcwDevice for Printer {
    fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
        match ccw.cmd {
            0xe4 => {
                data.write(&[0xff, 0x32, 0x15, 0x01, 0x32, 0x15, 0x01, 0x00]);
                DeviceResult::OK
            }
            0x01 => {
                let mut buf = vec![0u8; usize::from(data.count())];
                let n = data.read(&mut buf);
                println!("printer: {}", String::from_utf8_lossy(&buf[..n]));
                DeviceResult::OK
            }
            _ => DeviceResult::COMMAND_REJECT,
        }
    }
}

impl Device for Printer {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            cu_type: 0x3215,
            cu_model: 1,
            dev_type: 0x3215,
            dev_model: 1,
            paths: ChannelPaths::VIRTUAL,
        }
    }
}

/// The embedder's view of one CPU: registers, condition code, CR6.
struct Cpu {
    regs: [u64; 16],
    cc: u8,
    cr6_isc_mask: u8,
}

impl Cpu {
    /// Executes one intercepted instruction (its text as fetched from storage).
    fn intercept(&mut self, css: &Css, mem: &VecMemory, text: &[u8]) {
        let text = InstructionText::from_bytes(text).expect("instruction text");
        let insn = IoInstruction::decode(text, &self.regs, AddressingMode::Bits64).expect("an I/O instruction");
        let ctx = IoCtx::new(mem);
        let r = css.execute(&ctx, &insn, self.cr6_isc_mask);
        match r.outcome {
            Outcome::Cc(cc) => self.cc = cc.value(),
            Outcome::Ok | Outcome::Gr2(_) => {}
            Outcome::Program(p) => println!("program interruption {:#06x} ({p})", p.code()),
        }
        if let Some(gr2) = r.gr2 {
            self.regs[2] = gr2;
        }
        println!("{insn:?} -> {:?}", r.outcome);
    }

    /// Takes a pending I/O interruption: stores the interruption code at the
    /// prefix area as the I/O interruption does, and would load the I/O new PSW.
    fn deliver(&mut self, css: &Css, mem: &VecMemory) -> Option<InterruptionCode> {
        let code = css.next_interrupt(self.cr6_isc_mask)?;
        mem.store(InterruptionCode::LOWCORE_ADDR, &code.to_lowcore_bytes())
            .unwrap();
        Some(code)
    }
}

/// `op` in S format with base register `b2` and displacement `d2`.
fn s_format(op: u16, b2: u8, d2: u16) -> [u8; 4] {
    let [a, b] = op.to_be_bytes();
    [a, b, b2 << 4 | u8::try_from(d2 >> 8).unwrap(), (d2 & 0xff) as u8]
}

fn main() {
    let css = Css::new(CssConfig::default());
    let sid = SubchannelId {
        cssid: 0xfe,
        ssid: 0,
        schno: 0,
    };
    css.attach_cold(sid, 0x0009, Box::new(Printer)).expect("attach");
    // The waker runs on whatever thread made the interruption pending; here it
    // posts to the CPU loop (`set_waker_channel` takes a crossbeam sender).
    let (tx, wake) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    css.set_waker(move |w| {
        let _ = tx.lock().map(|t| t.send(w));
    });

    let mem = VecMemory::new(1 << 20);
    let mut cpu = Cpu {
        regs: [0; 16],
        cc: 0,
        cr6_isc_mask: 0xff,
    };
    cpu.regs[1] = 0x0001_0000; // subchannel-id word: fe.0.0000
    cpu.regs[5] = 0x1000; // operand base

    // STSCH, then enable the subchannel on ISC 3 with MSCH.
    cpu.intercept(&css, &mem, &s_format(0xb234, 5, 0));
    let mut w1 = mem.fetch(0x1004, 2).unwrap();
    w1[0] |= 3 << 3;
    w1[1] |= 0x80;
    mem.store(0x1004, &w1).unwrap();
    cpu.intercept(&css, &mem, &s_format(0xb232, 5, 0));

    // A WRITE of a message, started with SSCH.
    let msg = b"hello from the channel subsystem";
    mem.store(0x3000, msg).unwrap();
    let count = u16::try_from(msg.len()).unwrap().to_be_bytes();
    mem.store(0x2000, &[0x01, 0x00, count[0], count[1], 0, 0, 0x30, 0x00])
        .unwrap();
    mem.store(0x1800, &[0, 0, 0, 42, 0x00, 0x80, 0x80, 0x00, 0, 0, 0x20, 0x00])
        .unwrap();
    cpu.intercept(&css, &mem, &s_format(0xb233, 5, 0x800));
    assert_eq!(cpu.cc, 0);

    // The waker tells the CPU loop an interruption is pending.
    match wake.recv_timeout(Duration::from_secs(1)) {
        Ok(Wake::Io { isc }) => println!("woken: I/O interruption pending on ISC {isc}"),
        other => println!("woken: {other:?}"),
    }
    let code = cpu.deliver(&css, &mem).expect("an interruption");
    println!("I/O interruption: sid {:#010x} intparm {}", code.sid, code.intparm);

    // The guest's interruption handler: TSCH.
    cpu.regs[6] = 0x3800; // IRB
    cpu.intercept(&css, &mem, &s_format(0xb235, 6, 0));
    let irb = mem.fetch(0x3800, 12).unwrap();
    println!("TSCH cc {}: SCSW {:02x?}", cpu.cc, irb);
}
