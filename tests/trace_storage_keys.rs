//! `machine storage-keys=on` and `skey`: key-controlled protection of the
//! data a channel program fetches (PoO chapter 3, "Key-Controlled
//! Protection": a fetch is protected only when the keys differ and the
//! frame's fetch-protection bit is on; chapter 16, "Protection Check"),
//! replayed from a trace.

use std::path::Path;

use zcss::ccw::scsw::Scsw;
use zcss::machine::Machine;
use zcss::trace::exec::Executor;
use zcss::trace::parse;

/// A WRITE of 8 bytes from 0x2000 with ORB key 3 on a mock device, after
/// `skey`s; returns the SCSW stored by TEST SUBCHANNEL.
fn write_with_keys(machine: &str, keys: &str) -> Scsw {
    let text = format!(
        "zcss-trace 1\n{machine}\ndevice fe.0.0000 devno=0000 mock\n\
         stsch 0x00010000 0x400\nstore 0x404 18800000\nmsch 0x00010000 0x400\n\
         {keys}\
         store 0x1800 00000000 3080ff00 00001000 00000000\n\
         store 0x1000 01000008 00002000\n\
         store 0x2000 ffffffff ffffffff\n\
         ssch 0x00010000 0x1800\ntsch 0x00010000 0x3000\n"
    );
    let t = parse(&text).unwrap();
    let mut m = Machine::from_trace(&t, Path::new(".")).unwrap();
    let mut x = Executor::new(Path::new("."));
    for (_, s) in t.statements() {
        x.step(&mut m, s);
    }
    Scsw::decode(&m.mem.fetch(0x3000, Scsw::LEN).unwrap()).unwrap()
}

#[test]
fn skey_of_the_programs_key_lets_the_channel_fetch() {
    let scsw = write_with_keys("machine storage-keys=on", "skey 0x2000 0x38\n");
    assert!(!scsw.cstat.protection_check(), "{scsw:?}");
    assert_eq!(scsw.count, 0, "all 8 bytes sent");
}

#[test]
fn skey_of_another_key_without_fetch_protection_lets_the_channel_fetch() {
    let scsw = write_with_keys("machine storage-keys=on", "skey 0x2000 0x10\n");
    assert!(!scsw.cstat.protection_check(), "{scsw:?}");
    assert_eq!(scsw.count, 0);
}

#[test]
fn skey_of_another_key_with_fetch_protection_is_a_protection_check() {
    let scsw = write_with_keys("machine storage-keys=on", "skey 0x2000 0x18\n");
    assert!(scsw.cstat.protection_check(), "{scsw:?}");
}

#[test]
fn storage_without_keys_has_no_protection() {
    let scsw = write_with_keys("machine memory=0x100000", "");
    assert!(!scsw.cstat.protection_check(), "{scsw:?}");
    assert_eq!(scsw.count, 0);
}

#[test]
fn skey_outside_storage_is_reported_at_its_line() {
    let t = parse("zcss-trace 1\nmachine memory=0x100000 storage-keys=on\nskey 0x200000 0x30\n").unwrap();
    let mut out = Vec::new();
    let r = zcss::trace::replay::replay(&t, Path::new("."), &Default::default(), &mut out, &mut |_| {}).unwrap();
    assert_eq!(r.failed_checks, 1, "{}", String::from_utf8_lossy(&out));
}
