//! Passthrough under concurrency: HALT and CLEAR racing a running program,
//! completion racing TEST SUBCHANNEL, channel reports arriving during I/O,
//! several devices at once — no lost or duplicated interruption, no
//! deadlock.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zcss_ccw::crw::Crw;
use zcss_ccw::orb::{Orb, OrbControls};
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::{Ccw1, CcwFlags};
use zcss_css::mock::{MockControl, MockDevice};
use zcss_css::{chpid_type, Cc, ChannelPaths, Css, DeviceInfo};
use zcss_vfio_ccw::mock::{passthrough, Guest};
use zcss_vfio_ccw::SimHost;

const WAIT: Duration = Duration::from_secs(10);

fn info(chpid: u8) -> DeviceInfo {
    DeviceInfo {
        cu_type: 0x3990,
        cu_model: 0xe9,
        dev_type: 0x3390,
        dev_model: 0x0c,
        paths: ChannelPaths::single(chpid, chpid_type::FICON),
    }
}

fn sid(cssid: u8, schno: u16) -> SubchannelId {
    SubchannelId { cssid, ssid: 0, schno }
}

fn orb(cpa: u32) -> Orb {
    Orb {
        intparm: cpa,
        ctrl: OrbControls::new().with_format1(true).with_prefetch(true).with_lpm(0xff),
        cpa,
        ..Orb::default()
    }
}

/// A chain of `n` NOPs at `at`.
fn nops(g: &Guest, at: u64, n: u16) {
    for i in 0..n {
        let flags = CcwFlags::new().with_cc(i + 1 < n);
        let c = Ccw1::new().with_cmd(0x03).with_flags(flags);
        g.mem.store(at + 8 * u64::from(i), &c.to_be_bytes()).unwrap();
    }
}

fn one_device(delay: Option<Duration>) -> (SimHost, Guest, MockControl, SubchannelId) {
    let host = SimHost::new();
    let d = MockDevice::with_info(info(0x20));
    let ctl = d.control();
    ctl.set_delay(delay);
    host.add_device(sid(0, 1), 0x0001, Box::new(d)).unwrap();
    let g = passthrough(&host, sid(0, 1), Css::default(), sid(0xfe, 1), 0x0001, 1 << 20);
    (host, g, ctl, sid(0xfe, 1))
}

/// Exactly one interruption, then nothing pending.
fn take_exactly_one(g: &Guest, s: SubchannelId) -> zcss_ccw::irb::Irb {
    g.wait_interrupt(WAIT).expect("an interruption");
    let (r, irb) = g.tsch(s);
    assert_eq!(r, Ok(Cc::Zero));
    assert!(
        g.wait_interrupt(Duration::from_millis(30)).is_none(),
        "a second interruption"
    );
    assert_eq!(g.tsch(s).0, Ok(Cc::One), "status still pending");
    irb
}

#[test]
fn halt_and_clear_racing_a_running_program_lose_and_duplicate_nothing() {
    let (_h, g, _ctl, s) = one_device(Some(Duration::from_micros(300)));
    nops(&g, 0x2000, 8);
    let started = Instant::now();
    for i in 0..60u64 {
        assert_eq!(g.ssch(s, &orb(0x2000)), Ok(Cc::Zero));
        let g2 = g.clone();
        let racer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_micros((i * 97) % 3000));
            if i % 2 == 0 {
                // cc 1: the guest saw the final status first; cc 2: the
                // host's subchannel was still status pending (EBUSY, which
                // QEMU presents as cc 2).
                let r = g2.hsch(s);
                assert!(matches!(r, Ok(Cc::Zero | Cc::One | Cc::Two)), "hsch {r:?}");
            } else {
                assert_eq!(g2.csch(s), Ok(Cc::Zero));
            }
        });
        racer.join().unwrap();
        let irb = take_exactly_one(&g, s);
        let f = irb.scsw.ctrl.fctl();
        assert!(f.start() || f.clear() || f.halt(), "{}", f.names());
    }
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn completion_racing_tsch_is_taken_exactly_once() {
    let (_h, g, _ctl, s) = one_device(None);
    nops(&g, 0x2000, 3);
    for _ in 0..100 {
        assert_eq!(g.ssch(s, &orb(0x2000)), Ok(Cc::Zero));
        let taken = Arc::new(AtomicU32::new(0));
        let spinners: Vec<_> = (0..2)
            .map(|_| {
                let g = g.clone();
                let taken = Arc::clone(&taken);
                std::thread::spawn(move || {
                    let end = Instant::now() + WAIT;
                    while taken.load(Ordering::SeqCst) == 0 && Instant::now() < end {
                        g.css.poll();
                        if g.tsch(s).0 == Ok(Cc::Zero) {
                            taken.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for t in spinners {
            t.join().unwrap();
        }
        assert_eq!(taken.load(Ordering::SeqCst), 1);
        // The interruption request went with the status.
        assert!(g.css.next_interrupt(0xff).is_none());
    }
}

#[test]
fn crws_during_io_all_arrive_once_and_io_completes() {
    let (h, g, _ctl, s) = one_device(Some(Duration::from_micros(100)));
    nops(&g, 0x2000, 4);
    let done = Arc::new(AtomicBool::new(false));
    const N: u16 = 200;
    let sender = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            for i in 0..N {
                assert!(h.queue_crw(sid(0, 1), Crw::report(4, 2, i)));
                if i % 16 == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            done.store(true, Ordering::SeqCst);
            h
        })
    };
    let mut rsids = Vec::new();
    let mut programs = 0;
    let end = Instant::now() + Duration::from_secs(30);
    while (rsids.len() < usize::from(N) || !done.load(Ordering::SeqCst)) && Instant::now() < end {
        assert_eq!(g.ssch(s, &orb(0x2000)), Ok(Cc::Zero));
        let irb = take_exactly_one(&g, s);
        assert!(irb.scsw.ctrl.fctl().start());
        programs += 1;
        while let (Ok(Cc::Zero), crw) = g.stcrw() {
            rsids.push(crw.rsid());
        }
    }
    let _h = sender.join().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    while let (Ok(Cc::Zero), crw) = g.stcrw() {
        rsids.push(crw.rsid());
    }
    assert!(programs > 0);
    assert_eq!(rsids, (0..N).collect::<Vec<_>>());
}

#[test]
fn several_devices_from_several_threads_all_complete() {
    let host = SimHost::new();
    let guest = Guest::new(Css::default(), 1 << 20);
    let mut sids = Vec::new();
    for i in 0..4u16 {
        let d = MockDevice::with_info(info(0x30));
        d.control().set_delay(Some(Duration::from_micros(50)));
        host.add_device(sid(u8::try_from(i).unwrap(), 0x10 + i), 0x100 + i, Box::new(d))
            .unwrap();
        let backend = host
            .open(sid(u8::try_from(i).unwrap(), 0x10 + i), guest.mem.clone())
            .unwrap();
        let dev = zcss_vfio_ccw::VfioCcw::new(Arc::new(backend));
        let gsid = zcss_vfio_ccw::remap::attach(&guest.css, dev, &zcss_vfio_ccw::Placement::default(), false).unwrap();
        guest.enable(gsid, true);
        nops(&guest, 0x2000 + 0x100 * u64::from(i), 5);
        sids.push((gsid, 0x2000 + 0x100 * u32::from(i)));
    }
    let threads: Vec<_> = sids
        .into_iter()
        .map(|(s, at)| {
            let g = guest.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    assert_eq!(g.ssch(s, &orb(at)), Ok(Cc::Zero));
                    // Wait for this subchannel's status (other threads may
                    // take the interruptions of theirs).
                    let end = Instant::now() + WAIT;
                    loop {
                        g.css.poll();
                        let (r, irb) = g.tsch(s);
                        if r == Ok(Cc::Zero) {
                            assert_eq!(irb.scsw.cpa, at + 5 * 8);
                            break;
                        }
                        assert!(Instant::now() < end, "no status for {s}");
                        std::thread::sleep(Duration::from_micros(50));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
