//! Channel-program engine benchmarks.
//!
//! * `nop_chain/256`: a 256-CCW command-chained NOP program on a device that
//!   ends every command at once — per-CCW interpretation cost (target ≤ 30 ns/CCW).
//! * `read_1mib/*`: one READ command moving 1 MiB into guest storage through
//!   32 data-chained CCWs of 32 KiB each, addressed by format-2 4K IDAWs,
//!   format-2 2K IDAWs or directly, against `copy_from_slice` of 1 MiB in the
//!   same run (targets: `idaw2_4k` ≥ 0.85 × memcpy, the `_scattered`
//!   variants ≥ 0.7 ×). Contiguous IDAWs are coalesced into one copy; the
//!   `_scattered` variants address the blocks of each CCW in reverse order,
//!   forcing one copy per IDAW.
//!
//! Run: `cargo bench --bench ccw_engine -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zcss::ccw::{
    Ccw, CcwDevice, CcwFlags, DataStream, DeviceResult, Ending, Engine, NoHooks, Orb, OrbControls, VecMemory,
};

/// Ends every command at once with CE|DE.
struct NullDevice;

impl CcwDevice for NullDevice {
    fn execute(&mut self, _ccw: &Ccw, _data: &mut DataStream<'_>) -> DeviceResult {
        DeviceResult::OK
    }
}

/// Offers its whole buffer to every command.
struct Source(Vec<u8>);

impl CcwDevice for Source {
    fn execute(&mut self, _ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
        data.write(&self.0);
        DeviceResult::OK
    }
}

const MIB: usize = 1 << 20;
const PROG: u64 = 0x1000;
const IDALS: u64 = 0x1_0000;
const DATA: u64 = 0x10_0000;
const PART: u64 = 32 * 1024;
const PARTS: u64 = MIB as u64 / PART;

fn ccw1(cmd: u8, flags: u8, count: u16, cda: u64) -> [u8; 8] {
    Ccw {
        cmd,
        flags: CcwFlags::from_bits(flags),
        count,
        cda: u32::try_from(cda).expect("31-bit address"),
    }
    .to_format1()
    .to_be_bytes()
}

fn nop_chain(c: &mut Criterion) {
    let mem = VecMemory::new(0x10000);
    for i in 0..256u64 {
        let flags = if i == 255 { 0 } else { 0x40 };
        mem.store(PROG + 8 * i, &ccw1(0x03, flags, 0, 0)).unwrap();
    }
    let orb = Orb {
        ctrl: OrbControls::new().with_format1(true),
        cpa: u32::try_from(PROG).unwrap(),
        ..Orb::default()
    };
    let engine = Engine::default();
    let mut dev = NullDevice;
    assert_eq!(engine.start(&mem, &orb, 0x80, &mut dev, &mut NoHooks).ccws, 256);
    let mut g = c.benchmark_group("nop_chain");
    g.throughput(Throughput::Elements(256));
    g.bench_function("256", |b| {
        b.iter(|| black_box(engine.start(black_box(&mem), &orb, 0x80, &mut dev, &mut NoHooks)));
    });
    g.finish();
}

/// Builds the 1 MiB READ program; `idaw_block` None = direct addressing.
/// With `scatter`, each CCW's IDAWs address its blocks in reverse order, so
/// no two consecutive IDAWs are contiguous (no coalescing: one copy per block).
fn read_program(mem: &VecMemory, idaw_block: Option<u64>, scatter: bool) -> Orb {
    let mut idal = IDALS;
    for p in 0..PARTS {
        let flags = if p + 1 == PARTS { 0 } else { 0x80 };
        let data = DATA + p * PART;
        let ccw = match idaw_block {
            None => ccw1(0x02, flags, u16::try_from(PART).unwrap(), data),
            Some(block) => {
                let at = idal;
                let n = PART / block;
                for k in 0..n {
                    let b = if scatter { n - 1 - k } else { k };
                    mem.store(idal, &(data + b * block).to_be_bytes()).unwrap();
                    idal += 8;
                }
                ccw1(0x02, flags | 0x04, u16::try_from(PART).unwrap(), at)
            }
        };
        mem.store(PROG + 8 * p, &ccw).unwrap();
    }
    Orb {
        ctrl: OrbControls::new()
            .with_format1(true)
            .with_idaw_format2(true)
            .with_idaw_2k(idaw_block == Some(2048)),
        cpa: u32::try_from(PROG).unwrap(),
        ..Orb::default()
    }
}

fn read_1mib(c: &mut Criterion) {
    let mut g = c.benchmark_group("read_1mib");
    g.throughput(Throughput::Bytes(MIB as u64));
    let src: Vec<u8> = (0..MIB).map(|i| u8::try_from(i % 251).unwrap_or(0)).collect();
    let mut dst = vec![0u8; MIB];
    g.bench_function("copy_from_slice", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        });
    });
    for (name, block, scatter) in [
        ("idaw2_4k", Some(4096), false),
        ("idaw2_2k", Some(2048), false),
        ("direct", None, false),
        ("idaw2_4k_scattered", Some(4096), true),
        ("idaw2_2k_scattered", Some(2048), true),
    ] {
        let mem = VecMemory::new(4 * MIB as u64);
        let orb = read_program(&mem, block, scatter);
        let engine = Engine::default();
        let mut dev = Source(src.clone());
        let done = engine.start(&mem, &orb, 0x80, &mut dev, &mut NoHooks);
        assert_eq!(done.ending, Ending::Completed);
        assert_eq!(done.count, 0);
        assert_eq!(done.cstat.into_bits(), 0);
        // Stream byte 1 lands at the start of the first CCW's first IDAW block.
        let first_block = if scatter { PART - block.unwrap_or(PART) } else { 0 };
        assert_eq!(mem.fetch(DATA + first_block + 1, 1).unwrap()[0], src[1]);
        assert_eq!(done.ccws, u32::try_from(PARTS).unwrap());
        g.bench_function(name, |b| {
            b.iter(|| black_box(engine.start(black_box(&mem), &orb, 0x80, &mut dev, &mut NoHooks)));
        });
    }
    g.finish();
}

criterion_group!(benches, nop_chain, read_1mib);
criterion_main!(benches);
