use std::time::Duration;

use zcss_ccw::sid::SubchannelId;
use zcss_ccw::VecMemory;

use super::*;
use crate::mock::{MockDevice, MockPassthrough};
use crate::{Cc, CssConfig, IoCtx};

fn sid(schno: u16) -> SubchannelId {
    SubchannelId {
        cssid: 0xfe,
        ssid: 0,
        schno,
    }
}

fn gr1(schno: u16) -> u32 {
    0x0001_0000 | u32::from(schno)
}

/// A css with mock devices on subchannels 0..n (CU type `cu`).
fn css(n: u16, cu: u16) -> Css {
    let css = Css::new(CssConfig::default());
    for i in 0..n {
        css.attach_cold(sid(i), 0x100 + i, Box::new(MockDevice::new(cu, 1)))
            .unwrap();
    }
    css
}

/// Enables the subchannel on `isc` and starts a NOP program, which ends
/// status pending.
fn start(css: &Css, mem: &VecMemory, schno: u16, isc: u8) {
    let ctx = IoCtx::new(mem);
    assert_eq!(css.stsch(&ctx, gr1(schno), 0x1000), Ok(Cc::Zero));
    let mut w1 = mem.fetch(0x1004, 4).unwrap();
    w1[0] = (w1[0] & !0x38) | (isc << 3);
    w1[1] |= 0x80;
    mem.store(0x1004, &w1).unwrap();
    assert_eq!(css.msch(&ctx, gr1(schno), 0x1000), Ok(Cc::Zero));
    mem.store(0x2000, &[0x03, 0x20, 0, 1, 0, 0, 0, 0]).unwrap();
    let intparm = 0xaa00 + u32::from(schno);
    mem.store(0x1800, &intparm.to_be_bytes()).unwrap();
    mem.store(0x1804, &[0x00, 0x80, 0xff, 0x00, 0, 0, 0x20, 0]).unwrap();
    assert_eq!(css.ssch(&ctx, gr1(schno), 0x1800), Ok(Cc::Zero));
}

/// Takes every interruption: (sid word, intparm, IIW) in delivery order.
fn drain(css: &Css) -> Vec<(u32, u32, u32)> {
    std::iter::from_fn(|| css.next_interrupt(0xff))
        .map(|c| (c.sid, c.intparm, c.iiw.into_bits()))
        .collect()
}

#[test]
fn restore_into_a_fresh_css_gives_the_same_interruptions_schibs_and_reports() {
    let mem = VecMemory::new(1 << 20);
    let a = css(4, 0x3832);
    start(&a, &mem, 2, 3);
    start(&a, &mem, 0, 3);
    start(&a, &mem, 3, 1);
    a.adapter_interrupt(5);
    assert_eq!(a.rchp(&IoCtx::new(&mem), 0), Ok(Cc::Zero));
    assert_eq!(a.schm(&IoCtx::new(&mem), 2, 0x4000), Ok(()));
    let json = a.snapshot().unwrap().to_json().unwrap();
    let b = css(4, 0x3832);
    let wakes = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let w = wakes.clone();
    b.set_waker(move |x| w.lock().push(x));
    b.restore(&CssSnapshot::from_json(&json).unwrap()).unwrap();
    b.check_invariants().unwrap();
    let wakes = wakes.lock().clone();
    assert!(wakes.contains(&crate::Wake::Io { isc: 3 }), "{wakes:?}");
    assert!(wakes.contains(&crate::Wake::Io { isc: 1 }), "{wakes:?}");
    assert!(wakes.contains(&crate::Wake::Adapter { isc: 5 }), "{wakes:?}");
    for i in 0..4 {
        assert_eq!(a.schib(sid(i)), b.schib(sid(i)), "schib {i}");
    }
    assert_eq!(a.pending_crws(), b.pending_crws());
    let (ctx, mem_b) = (IoCtx::new(&mem), VecMemory::new(1 << 20));
    assert_eq!(a.stcrw(&ctx, 0x3000), b.stcrw(&IoCtx::new(&mem_b), 0x3000));
    assert_eq!(mem.fetch(0x3000, 4).unwrap(), mem_b.fetch(0x3000, 4).unwrap());
    let order = drain(&a);
    assert_eq!(order.len(), 4, "three I/O and one adapter interruption: {order:?}");
    assert_eq!(drain(&b), order);
}

#[test]
fn restore_of_another_version_is_refused_with_the_versions() {
    let a = css(1, 0x3832);
    let mut v = serde_json::to_value(a.snapshot().unwrap()).unwrap();
    v["version"] = 99.into();
    let e = CssSnapshot::from_value(v).unwrap_err();
    assert!(
        matches!(
            e,
            SnapshotError::Version {
                found: 99,
                supported: 1
            }
        ),
        "{e}"
    );
    let e = CssSnapshot::from_json("{\"format\":\"something-else\",\"version\":1}").unwrap_err();
    assert!(matches!(e, SnapshotError::Format(_)), "{e}");
}

#[test]
fn restore_onto_another_device_kind_is_refused_before_any_change() {
    let mem = VecMemory::new(1 << 20);
    let a = css(2, 0x3832);
    start(&a, &mem, 1, 3);
    let snap = a.snapshot().unwrap();
    let b = css(2, 0x3990);
    let e = b.restore(&snap).unwrap_err();
    assert!(
        matches!(e, SnapshotError::DeviceKind { sid: s, .. } if s == sid(0)),
        "{e}"
    );
    assert_eq!(b.pending_iscs(), 0, "nothing restored");
    let c = css(1, 0x3832);
    let e = c.restore(&snap).unwrap_err();
    assert!(
        matches!(e, SnapshotError::Layout { sid: s, in_snapshot: true } if s == sid(1)),
        "{e}"
    );
    let d = css(3, 0x3832);
    let e = d.restore(&snap).unwrap_err();
    assert!(matches!(e, SnapshotError::Layout { in_snapshot: false, .. }), "{e}");
}

#[test]
fn snapshot_with_a_passthrough_function_in_flight_is_refused_until_it_ends() {
    let css = Css::new(CssConfig::default());
    let pt = MockPassthrough::new(0x3990);
    pt.script().lock().delay = Duration::from_millis(50);
    css.attach_passthrough(sid(2), 2, Box::new(pt), false).unwrap();
    let mem = VecMemory::new(1 << 20);
    start(&css, &mem, 2, 3);
    let e = css.snapshot().unwrap_err();
    assert!(matches!(e, SnapshotError::PassthroughInFlight(s) if s == sid(2)), "{e}");
    assert!(css.wait_until(Duration::from_secs(5), |c| c.pending_iscs() != 0));
    let snap = css.snapshot().expect("the function ended");
    assert!(snap.subchannels[0].passthrough.is_some());
}

#[test]
fn suspended_program_resumes_in_the_restored_css_as_in_the_original() {
    let run = |restore: bool| {
        let mem = VecMemory::new(1 << 20);
        let a = css(1, 0x3832);
        start(&a, &mem, 0, 3);
        while a.next_interrupt(0xff).is_some() {}
        assert_eq!(a.tsch(&IoCtx::new(&mem), gr1(0), 0x4000), Ok(Cc::Zero));
        // NOP, command-chained to a NOP with the suspend flag; ORB S = 1.
        mem.store(0x2000, &[0x03, 0x60, 0, 1, 0, 0, 0, 0]).unwrap();
        mem.store(0x2008, &[0x03, 0x22, 0, 1, 0, 0, 0, 0]).unwrap();
        mem.store(0x1804, &[0x08, 0x80, 0xff, 0x00]).unwrap();
        assert_eq!(a.ssch(&IoCtx::new(&mem), gr1(0), 0x1800), Ok(Cc::Zero));
        let s = a.schib(sid(0)).unwrap().scsw;
        assert!(s.ctrl.actl().suspended(), "suspended: {s:?}");
        let css = if restore {
            let b = css(1, 0x3832);
            b.restore(&CssSnapshot::from_json(&a.snapshot().unwrap().to_json().unwrap()).unwrap())
                .unwrap();
            assert_eq!(a.schib(sid(0)), b.schib(sid(0)));
            b
        } else {
            a
        };
        // The suspension's intermediate status, then the guest clears S
        // and resumes.
        let first = css.next_interrupt(0xff).map(|c| c.intparm);
        assert_eq!(css.tsch(&IoCtx::new(&mem), gr1(0), 0x4000), Ok(Cc::Zero));
        let suspended = mem.fetch(0x4000, 12).unwrap();
        mem.store(0x2009, &[0x20]).unwrap();
        assert_eq!(css.rsch(&IoCtx::new(&mem), gr1(0)), Ok(Cc::Zero));
        let code = css.next_interrupt(0xff).map(|c| c.intparm);
        assert_eq!(css.tsch(&IoCtx::new(&mem), gr1(0), 0x4000), Ok(Cc::Zero));
        (first, suspended, code, mem.fetch(0x4000, 12).unwrap())
    };
    let original = run(false);
    assert!(
        original.0.is_some() && original.2.is_some(),
        "suspension and end interrupt: {original:?}"
    );
    assert_eq!(run(true), original);
}
