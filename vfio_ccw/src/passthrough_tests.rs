//! The passthrough device over the Linux backend and the fake kernel:
//! what a guest sees for each host answer.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zcss_ccw::irb::Irb;
use zcss_ccw::scsw::{FunctionControl, Scsw, ScswControls, StatusControl};
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::status::DeviceStatus;
use zcss_css::{chpid_type, Cc, ChannelPaths, Css, DeviceInfo};

use super::*;
use crate::linux::fake::{FakeConfig, FakeKernel, CONTAINER, DEVICE, GROUP};
use crate::linux::{DmaRange, LinuxConfig, LinuxHost, VfioKernel};
use crate::mock::{orb, Guest};
use crate::uapi::RegionSubtype;

const GUEST: SubchannelId = SubchannelId {
    cssid: 0xfe,
    ssid: 0,
    schno: 2,
};

fn host_device() -> HostDevice {
    HostDevice {
        sid: SubchannelId {
            cssid: 0,
            ssid: 0,
            schno: 0x0a,
        },
        devno: 0x1234,
        info: DeviceInfo {
            cu_type: 0x3990,
            cu_model: 0xe9,
            dev_type: 0x3390,
            dev_model: 0x0c,
            paths: ChannelPaths::new(&[(0x40, chpid_type::FICON), (0x41, chpid_type::FICON)]).unwrap(),
        },
    }
}

/// A guest with a device passed through the fake kernel.
fn setup(config: FakeConfig) -> (Guest, Arc<FakeKernel>, Arc<AtomicU32>) {
    let k = Arc::new(FakeKernel::new(config));
    k.with(|st| {
        let p = &mut st.schib.pmcw;
        p.pim = 0xc0;
        p.pam = 0xc0;
        p.pom = 0xff;
        p.chpid[..2].copy_from_slice(&[0x40, 0x41]);
    });
    let kernel: Arc<dyn VfioKernel> = k.clone();
    let cfg = LinuxConfig {
        container: CONTAINER.into(),
        group: GROUP.into(),
        device: DEVICE.into(),
        host: host_device(),
    };
    let ram = DmaRange {
        iova: 0,
        vaddr: 0x7f00_0000_0000,
        size: 1 << 20,
    };
    // SAFETY: the fake kernel never touches the mapped range.
    let host = unsafe { LinuxHost::open(&kernel, &cfg, &[ram]) }.unwrap();
    let removals = Arc::new(AtomicU32::new(0));
    let r = Arc::clone(&removals);
    let dev = VfioCcw::new(Arc::new(host)).on_removal_request(move |_| {
        r.fetch_add(1, Ordering::SeqCst);
    });
    let guest = Guest::new(Css::default(), 1 << 20);
    guest
        .css
        .attach_passthrough(GUEST, 0x1234, Box::new(dev), false)
        .unwrap();
    guest.enable(GUEST, true);
    (guest, k, removals)
}

fn final_irb(cpa: u32, dstat: DeviceStatus) -> Irb {
    Irb {
        scsw: Scsw {
            ctrl: ScswControls::new()
                .with_format1(true)
                .with_prefetch(true)
                .with_fctl(FunctionControl::START)
                .with_stctl(StatusControl::PRIM_SEC_PEND),
            cpa,
            dstat,
            ..Scsw::default()
        },
        esw: Esw::format1(0x80),
        ..Irb::default()
    }
}

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn ssch_writes_the_guest_orb_and_the_host_irb_reaches_tsch() {
    let (g, k, _) = setup(FakeConfig::default());
    let o = orb(0x2000, false);
    assert_eq!(g.ssch(GUEST, &o), Ok(Cc::Zero));
    k.with(|st| {
        assert_eq!(st.io_writes.len(), 1);
        assert_eq!(st.io_writes[0].orb(), o);
        let s = st.io_writes[0].scsw();
        assert_eq!(s.ctrl.fctl(), FunctionControl::START);
        assert!(s.ctrl.actl().start_pending());
    });
    let irb = final_irb(0x2008, DeviceStatus::CE_DE);
    assert!(k.complete(&irb));
    let code = g.wait_interrupt(WAIT).expect("interruption");
    assert_eq!(code.intparm, o.intparm);
    let (r, got) = g.tsch(GUEST);
    assert_eq!(r, Ok(Cc::Zero));
    assert_eq!(got.scsw, irb.scsw);
    assert_eq!(got.esw.to_be_bytes(), irb.esw.to_be_bytes());
}

#[test]
fn ssch_format0_guest_sees_its_f_bit_not_the_hosts() {
    let (g, k, _) = setup(FakeConfig::default());
    assert_eq!(g.ssch(GUEST, &orb(0x2000, true)), Ok(Cc::Zero));
    k.complete(&final_irb(0x2008, DeviceStatus::CE_DE));
    g.wait_interrupt(WAIT).expect("interruption");
    let (_, got) = g.tsch(GUEST);
    assert!(!got.scsw.ctrl.format1());
    assert_eq!(got.scsw.cpa, 0x2008);
}

#[test]
fn ssch_host_ebusy_is_cc2_and_leaves_the_subchannel_idle() {
    let (g, k, _) = setup(FakeConfig::default());
    k.with(|st| st.io_reply = Some(Errno::EBUSY));
    assert_eq!(g.ssch(GUEST, &orb(0x2000, false)), Ok(Cc::Two));
    let (_, s) = g.stsch(GUEST);
    assert_eq!(s.scsw.ctrl.fctl().into_bits(), 0);
}

#[test]
fn ssch_host_enodev_and_eacces_are_cc3() {
    for e in [Errno::ENODEV, Errno::EACCES] {
        let (g, k, _) = setup(FakeConfig::default());
        k.with(|st| st.io_reply = Some(e));
        assert_eq!(g.ssch(GUEST, &orb(0x2000, false)), Ok(Cc::Three), "{e}");
    }
}

#[test]
fn ssch_host_einval_is_cc0_then_unit_exception() {
    for e in [
        Errno::EINVAL,
        Errno::EOPNOTSUPP,
        Errno::EFAULT,
        Errno::ENOMEM,
        Errno::EIO,
    ] {
        let (g, k, _) = setup(FakeConfig::default());
        k.with(|st| st.io_reply = Some(e));
        assert_eq!(g.ssch(GUEST, &orb(0x2000, false)), Ok(Cc::Zero), "{e}");
        g.wait_interrupt(WAIT).expect("interruption");
        let (_, irb) = g.tsch(GUEST);
        assert_eq!(irb.scsw.dstat, DeviceStatus::new().with_unit_exception(true), "{e}");
        assert_eq!(irb.scsw.cpa, 0x2008, "{e}");
        assert_eq!(
            irb.scsw.ctrl.stctl(),
            StatusControl::PRIM_SEC_PEND | StatusControl::ALERT,
            "{e}"
        );
    }
}

#[test]
fn io_read_enodev_is_deferred_cc3() {
    let (g, k, _) = setup(FakeConfig::default());
    assert_eq!(g.ssch(GUEST, &orb(0x2000, false)), Ok(Cc::Zero));
    k.with(|st| st.io_read_error = Some(Errno::ENODEV));
    k.complete(&final_irb(0x2008, DeviceStatus::CE_DE));
    g.wait_interrupt(WAIT).expect("interruption");
    let (_, irb) = g.tsch(GUEST);
    assert_eq!(irb.scsw.ctrl.cc(), 3);
    assert_eq!(irb.scsw.ctrl.stctl(), StatusControl::ALERT | StatusControl::PEND);
}

#[test]
fn io_read_failures_become_channel_checks() {
    let cases = [
        (
            Some(Errno::EFAULT),
            None,
            SubchannelStatus::new().with_channel_data_check(true),
        ),
        (Some(Errno::EIO), None, SubchannelStatus::new().with_program_check(true)),
        (None, Some(10), SubchannelStatus::new().with_channel_control_check(true)),
    ];
    for (err, short, want) in cases {
        let (g, k, _) = setup(FakeConfig::default());
        assert_eq!(g.ssch(GUEST, &orb(0x2000, false)), Ok(Cc::Zero));
        k.with(|st| {
            st.io_read_error = err;
            st.io_read_short = short;
        });
        k.complete(&final_irb(0x2008, DeviceStatus::CE_DE));
        g.wait_interrupt(WAIT).expect("interruption");
        let (_, irb) = g.tsch(GUEST);
        assert_eq!(irb.scsw.cstat, want, "{err:?} {short:?}");
        assert_eq!(
            irb.scsw.ctrl.stctl(),
            StatusControl::PRIM_SEC_PEND | StatusControl::ALERT
        );
    }
}

#[test]
fn hsch_and_csch_go_through_the_command_region() {
    let (g, k, _) = setup(FakeConfig::default());
    assert_eq!(g.ssch(GUEST, &orb(0x2000, false)), Ok(Cc::Zero));
    assert_eq!(g.hsch(GUEST), Ok(Cc::Zero));
    assert_eq!(g.csch(GUEST), Ok(Cc::Zero));
    k.with(|st| assert_eq!(st.commands, vec![ASYNC_CMD_HSCH, ASYNC_CMD_CSCH]));
}

#[test]
fn csch_host_status_ends_the_clear_and_drops_the_overtaken_program() {
    let (g, k, _) = setup(FakeConfig::default());
    assert_eq!(g.ssch(GUEST, &orb(0x2000, false)), Ok(Cc::Zero));
    assert_eq!(g.csch(GUEST), Ok(Cc::Zero));
    // The program's status arrives late: it was overtaken.
    k.complete(&final_irb(0x2008, DeviceStatus::CE_DE));
    std::thread::sleep(Duration::from_millis(20));
    g.css.poll();
    let clear = Irb {
        scsw: Scsw {
            ctrl: ScswControls::new()
                .with_fctl(FunctionControl::CLEAR)
                .with_stctl(StatusControl::PEND),
            ..Scsw::default()
        },
        ..Irb::default()
    };
    k.complete(&clear);
    g.wait_interrupt(WAIT).expect("interruption");
    let (_, irb) = g.tsch(GUEST);
    assert_eq!(irb.scsw.ctrl.fctl(), FunctionControl::CLEAR);
    assert!(g.wait_interrupt(Duration::from_millis(50)).is_none());
}

#[test]
fn hsch_errnos_map_as_qemu_does() {
    let cases = [
        (Errno::EBUSY, Cc::Two),
        (Errno::ENODEV, Cc::Three),
        (Errno::EACCES, Cc::Three),
    ];
    for (e, cc) in cases {
        let (g, k, _) = setup(FakeConfig::default());
        assert_eq!(g.ssch(GUEST, &orb(0x2000, false)), Ok(Cc::Zero));
        k.with(|st| st.cmd_reply = Some(e));
        assert_eq!(g.hsch(GUEST), Ok(cc), "{e}");
    }
}

#[test]
fn error_mapping_tables_follow_qemu() {
    assert_eq!(start_error(Errno::EBUSY), PassthroughError::Busy);
    assert_eq!(start_error(Errno::EACCES), PassthroughError::NotOperational);
    assert_eq!(start_error(Errno::EFAULT), PassthroughError::HostFailure);
    assert_eq!(halt_error(Errno::EBUSY), PassthroughError::Busy);
    assert_eq!(clear_error(Errno::EBUSY), PassthroughError::HostFailure);
    assert_eq!(clear_error(Errno::ENODEV), PassthroughError::NotOperational);
}

#[test]
fn hsch_without_command_region_ends_with_an_interruption() {
    let (g, _, _) = setup(FakeConfig {
        regions: vec![RegionSubtype::Schib, RegionSubtype::Crw],
        ..FakeConfig::default()
    });
    assert_eq!(g.ssch(GUEST, &orb(0x2000, false)), Ok(Cc::Zero));
    assert_eq!(g.hsch(GUEST), Ok(Cc::Zero));
    g.wait_interrupt(WAIT).expect("halt interruption");
    let (_, irb) = g.tsch(GUEST);
    assert!(irb.scsw.ctrl.fctl().halt());
}

#[test]
fn xsch_on_a_running_program_is_cc2() {
    let (g, _, _) = setup(FakeConfig::default());
    assert_eq!(g.ssch(GUEST, &orb(0x2000, false)), Ok(Cc::Zero));
    assert_eq!(g.xsch(GUEST), Ok(Cc::Two));
}

#[test]
fn stsch_refreshes_paths_from_the_schib_region() {
    let (g, k, _) = setup(FakeConfig::default());
    k.with(|st| {
        let p = &mut st.schib.pmcw;
        p.pim = 0xc0;
        p.pam = 0x80;
        p.pom = 0xbf;
        p.pnom = 0x40;
        p.lpum = 0x80;
        p.chpid[0] = 0x40;
        p.chpid[1] = 0x41;
    });
    let (r, s) = g.stsch(GUEST);
    assert_eq!(r, Ok(Cc::Zero));
    let p = s.pmcw;
    assert_eq!((p.pim, p.pam, p.pom, p.pnom, p.lpum), (0xc0, 0x80, 0xbf, 0x40, 0x80));
    assert_eq!(p.chpid[..2], [0x40, 0x41]);
}

#[test]
fn crws_are_forwarded_to_stcrw_with_their_chaining() {
    let (g, k, _) = setup(FakeConfig::default());
    let a = Crw::report(4, 2, 0x40).with_chaining(true).into_bits();
    let b = Crw::report(4, 2, 0x41).into_bits();
    let c = Crw::report(4, 6, 0x42).into_bits();
    assert!(k.queue_crws(&[a, b, c]));
    let mut got = Vec::new();
    for _ in 0..1000 {
        let (r, crw) = g.stcrw();
        if r == Ok(Cc::Zero) {
            got.push(crw);
            if got.len() == 3 {
                break;
            }
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert_eq!(got.iter().map(|c| c.rsid()).collect::<Vec<_>>(), vec![0x40, 0x41, 0x42]);
    assert!(got[0].chaining() && !got[1].chaining() && !got[2].chaining());
    assert_eq!(got[2].erc(), 6);
}

#[test]
fn req_irq_calls_the_removal_handler() {
    let (_g, k, removals) = setup(FakeConfig::default());
    assert!(k.request_removal());
    for _ in 0..1000 {
        if removals.load(Ordering::SeqCst) == 1 {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("no removal request seen");
}

#[test]
fn unsolicited_host_status_reaches_the_idle_guest() {
    let (g, k, _) = setup(FakeConfig::default());
    let attention = Irb {
        scsw: Scsw {
            ctrl: ScswControls::new().with_stctl(StatusControl::ALERT | StatusControl::PEND),
            dstat: DeviceStatus::new().with_attention(true),
            ..Scsw::default()
        },
        ..Irb::default()
    };
    k.complete(&attention);
    g.wait_interrupt(WAIT).expect("interruption");
    let (_, irb) = g.tsch(GUEST);
    assert!(irb.scsw.dstat.attention());
}

#[test]
fn path_state_with_a_gap_in_pim_keeps_the_known_paths() {
    let known = host_device().info.paths;
    let mut s = Schib::default();
    s.pmcw.pim = 0xa0;
    s.pmcw.pam = 0x80;
    let ps = path_state(&s, &known);
    assert_eq!(ps.paths, known);
    assert_eq!(ps.pam, 0x80);
}

#[test]
fn ssch_with_midaw_orb_is_an_operand_exception_and_nothing_reaches_the_kernel() {
    // QEMU `ioinst_orb_valid`: MIDAW in the ORB.
    let (g, k, _) = setup(FakeConfig::default());
    let mut o = orb(0x2000, false);
    o.ctrl = o.ctrl.with_midaw(true);
    assert_eq!(g.ssch(GUEST, &o), Err(zcss_css::ProgramCheck::Operand));
    k.with(|st| assert!(st.io_writes.is_empty()));
    let (_, s) = g.stsch(GUEST);
    assert_eq!(s.scsw.ctrl.fctl().into_bits(), 0);
}

#[test]
fn msch_concurrent_sense_leaves_the_linux_host_untouched() {
    // The uAPI has no request for the host PMCW: the kernel's cio decides.
    let (g, k, _) = setup(FakeConfig::default());
    let before = k.with(|st| st.log.len());
    g.enable(GUEST, false);
    k.with(|st| {
        // STSCH reads the SCHIB region; nothing is written.
        let new = &st.log[before..];
        assert!(!new.is_empty() && new.iter().all(|l| l.starts_with("pread")), "{new:?}");
        assert!(st.violations.is_empty());
    });
}

#[test]
fn io_system_reset_clears_then_resets_the_host_device() {
    let (g, k, _) = setup(FakeConfig::default());
    assert_eq!(g.ssch(GUEST, &orb(0x2000, false)), Ok(Cc::Zero));
    // The host answers the reset's clear with its clear status.
    let kk = Arc::clone(&k);
    let host = std::thread::spawn(move || {
        while !kk.with(|st| st.commands.contains(&ASYNC_CMD_CSCH)) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let clear = Irb {
            scsw: Scsw {
                ctrl: ScswControls::new()
                    .with_fctl(FunctionControl::CLEAR)
                    .with_stctl(StatusControl::PEND),
                ..Scsw::default()
            },
            ..Irb::default()
        };
        kk.complete(&clear);
    });
    let t = std::time::Instant::now();
    g.css.reset();
    host.join().unwrap();
    assert!(
        t.elapsed() < RESET_WAIT,
        "the reset waited for the clear status, not the timeout"
    );
    k.with(|st| {
        assert_eq!(st.commands, vec![ASYNC_CMD_CSCH]);
        assert_eq!(st.resets, 1, "VFIO_DEVICE_RESET");
    });
    // Nothing reaches the guest: the program's late status was overtaken.
    k.complete(&final_irb(0x2008, DeviceStatus::CE_DE));
    g.enable(GUEST, true);
    assert!(g.wait_interrupt(Duration::from_millis(50)).is_none());
}
