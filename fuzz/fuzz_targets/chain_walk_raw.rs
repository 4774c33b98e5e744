//! `chain_walk_raw` (the raw-byte engine target; `chain_walk` is the structured one): arbitrary ORB, 64 KiB of guest storage, storage keys and a
//! scripted device, run through the channel-program engine.
//!
//! Asserts: no panic; bounded work (`Completion::ccws` within the limits, the
//! device called at most once per CCW); the CCW address is the architected
//! one (past a CCW inside storage, except for checks raised while fetching a
//! CCW at a bad address or when the work bound hits); the residual count is
//! at most the count of the CCW it belongs to; PCI status iff a PCI hook ran.
#![no_main]

use std::sync::Arc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zcss_ccw::mock::{Action, ScriptedDevice, Step};
use zcss_ccw::{
    Ccw, CheckCause, DeviceResult, DeviceStatus, Ending, Engine, EngineHooks, GuestMemory, Limits, Orb, OrbControls,
    ProgramEnd, Sense, StorageKey, VecMemory,
};

const SIZE: u64 = 64 * 1024;

#[derive(Arbitrary, Debug)]
enum FuzzAction {
    Read(u16),
    Write(u16, u8),
    Touch,
    Poke(u16, [u8; 8]),
}

#[derive(Arbitrary, Debug)]
struct FuzzStep {
    actions: Vec<FuzzAction>,
    status: u8,
    sense: Option<u8>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// ORB word 1; reserved bits and B are cleared (Orb::validate would reject them).
    ctrl: u32,
    /// ORB word 2; taken modulo the storage size unless `raw_cpa`.
    cpa: u32,
    raw_cpa: bool,
    /// Storage image, placed at `image_at`.
    image: Vec<u8>,
    image_at: u16,
    /// Second image (IDALs, data) at `image2_at`.
    image2: Vec<u8>,
    image2_at: u16,
    /// Storage keys of the 16 frames (used when `keyed`).
    keys: [u8; 16],
    keyed: bool,
    steps: Vec<FuzzStep>,
    /// Ask to stop after this many polls.
    stop_after: Option<u8>,
}

struct Hooks {
    pcis: u32,
    polls: u32,
    stop_after: Option<u8>,
}

impl EngineHooks for Hooks {
    fn pci(&mut self, _cpa: u32) {
        self.pcis += 1;
    }

    fn stop_requested(&mut self) -> Option<ProgramEnd> {
        self.polls += 1;
        match self.stop_after {
            Some(n) if self.polls >= u32::from(n) => Some(ProgramEnd::Halted),
            _ => None,
        }
    }
}

fn place(mem: &VecMemory, at: u16, bytes: &[u8]) {
    let at = u64::from(at);
    let n = bytes.len().min(usize::try_from(SIZE - at).unwrap_or(0));
    mem.store(at, &bytes[..n]).unwrap();
}

fuzz_target!(|input: Input| {
    let mem = Arc::new(if input.keyed {
        VecMemory::with_storage_keys(SIZE)
    } else {
        VecMemory::new(SIZE)
    });
    place(&mem, input.image_at, &input.image);
    place(&mem, input.image2_at, &input.image2);
    if input.keyed {
        for (i, k) in input.keys.iter().enumerate() {
            mem.set_storage_key(i as u64 * 4096, StorageKey::from_byte(*k));
        }
    }
    let ctrl = OrbControls::from_bits(input.ctrl)
        .with_reserved(0)
        .with_transport_mode(false);
    let cpa = if input.raw_cpa {
        input.cpa & 0x7fff_ffff
    } else {
        input.cpa % u32::try_from(SIZE).unwrap()
    };
    let orb = Orb {
        ctrl,
        cpa,
        ..Orb::default()
    };
    let before = mem.fetch(0, usize::try_from(SIZE).unwrap()).unwrap();
    let mut pokes = false;
    let script: Vec<Step> = input
        .steps
        .iter()
        .take(64)
        .map(|s| Step {
            actions: s
                .actions
                .iter()
                .take(8)
                .map(|a| match *a {
                    FuzzAction::Read(n) => Action::Read(usize::from(n)),
                    FuzzAction::Write(n, seed) => Action::WriteFill(usize::from(n), seed),
                    FuzzAction::Touch => Action::Touch,
                    FuzzAction::Poke(addr, bytes) => {
                        pokes = true;
                        Action::Poke {
                            addr: u64::from(addr),
                            bytes: bytes.to_vec(),
                        }
                    }
                })
                .collect(),
            result: DeviceResult {
                status: DeviceStatus::from_bits(s.status),
                sense: s.sense.map(Sense::byte0),
            },
        })
        .collect();
    let mut dev = ScriptedDevice::new(script).with_memory(mem.clone());
    let limits = Limits {
        max_idle_ccws: 64,
        max_ccws: 2048,
    };
    let mut hooks = Hooks {
        pcis: 0,
        polls: 0,
        stop_after: input.stop_after,
    };
    let c = Engine::new(limits).start(&*mem, &orb, 0x80, &mut dev, &mut hooks);

    // Bounded work: a program that loops within the limits; one that never
    // comes back fetches each address once.
    assert!(u64::from(c.ccws) <= u64::from(limits.max_ccws).max(SIZE / 8 + 1), "{c:?}");
    assert!(dev.log.len() <= c.ccws as usize);
    assert_eq!(dev.starts, 1);
    assert_eq!(dev.ends.len(), 1);
    // Checks and endings agree.
    assert_eq!(c.check.is_some(), c.ending == Ending::Checked, "{c:?}");
    if let Some(cause) = c.check {
        assert_eq!(c.cstat.program_check(), !cause.is_protection());
        assert_eq!(c.cstat.protection_check(), cause.is_protection());
    }
    assert_eq!(c.cstat.pci(), hooks.pcis > 0, "{c:?}");
    // The CCW address: past a CCW inside storage, unless the check was about
    // fetching a CCW at a bad address or the work bound hit.
    let fetch_side = matches!(
        c.check,
        Some(CheckCause::InvalidCcwAddress | CheckCause::CcwAddressSpecification | CheckCause::WorkLimit)
    );
    if !fetch_side {
        let at = u64::from(c.cpa.wrapping_sub(8));
        assert!(at % 8 == 0 && at + 8 <= SIZE, "{c:?}");
        // Residual count ≤ the count of that CCW, when the CCW is provably
        // the one fetched: no pokes, and the device's data did not overwrite it.
        let start = usize::try_from(at).unwrap();
        let now = mem.fetch(at, 8).unwrap();
        if !pokes && c.count != 0 && now[..] == before[start..start + 8] {
            let raw: [u8; 8] = now.try_into().unwrap();
            let ccw = Ccw::decode(orb.ccw_format(), raw);
            assert!(c.count <= ccw.count, "{c:?} {ccw:?}");
        }
    }
    let _ = mem.size();
});
