//! `dasd_harness`: the `zcss_css::fuzz` harness (structured starts, HSCH/
//! CSCH/XSCH/RSCH, TSCH, TPI, unsolicited status on up to four
//! subchannels) against emulated 3390s (`zcss_dasd::Dasd`, 3990-6, two
//! cylinders with cylinder 0 formatted as four 512-byte records per track),
//! checking the harness's invariants. `dasd_eckd` keeps the DASD-specific
//! oracles (extents, track validity); this target adds the channel-side
//! ones (SCSW consistency, stores only into the programs' data areas).
//! `cargo fuzz fmt dasd_harness <input>` prints its trace.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zcss_css::fuzz::{DeviceUnderTest, Harness, Scenario};
use zcss_dasd::track::{Count, TrackAddr, TrackBuilder};
use zcss_dasd::{Dasd, DasdConfig, MemStore, TrackStore};

fn volume() -> MemStore {
    let mut s = MemStore::new(2);
    let mut b = TrackBuilder::default();
    for i in 0..15u64 {
        let t = TrackAddr::from_index(i);
        let h = u16::try_from(t.head).unwrap_or(0);
        b.start(t);
        for r in 1..=4u8 {
            b.record(Count::new(0, h, r, 0, 512), &[], &[r; 512]);
        }
        s.write(t, b.finish()).expect("well-formed track");
    }
    s
}

fuzz_target!(|scenario: Scenario| {
    Harness::new(|i| {
        let devno = 0x0120 + u16::try_from(i).unwrap_or(0);
        DeviceUnderTest::Interpreted(Box::new(Dasd::new(DasdConfig::for_devno(devno), Box::new(volume()))))
    })
    .run(&scenario);
});
