//! The simulated host end to end: a guest css, the passthrough device, the
//! simulated kernel and host css, and on the host a 3390 (`zcss_dasd`) —
//! or a scripted test device where a test needs a slow program.

use std::time::Duration;

use parking_lot::Mutex;
use zcss_ccw::orb::Orb;
use zcss_ccw::scsw::{FunctionControl, StatusControl};
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::status::DeviceStatus;
use zcss_ccw::{Ccw1, CcwFlags};
use zcss_css::mock::{MockControl, MockDevice};
use zcss_css::{chpid_type, Cc, ChannelPaths, Css, DeviceInfo};
use zcss_dasd::store::MemStore;
use zcss_dasd::track::{TrackAddr, TrackBuilder};
use zcss_dasd::{Count, Dasd, DasdConfig, TrackStore};

use super::*;
use crate::mock::{orb, passthrough, Guest};

const HOST: SubchannelId = SubchannelId {
    cssid: 2,
    ssid: 0,
    schno: 0x10,
};
const GUEST: SubchannelId = SubchannelId {
    cssid: 0xfe,
    ssid: 0,
    schno: 0x10,
};
const WAIT: Duration = Duration::from_secs(10);

fn paths() -> ChannelPaths {
    ChannelPaths::new(&[(0x50, chpid_type::FICON), (0x51, chpid_type::FICON)]).unwrap()
}

/// Identity of the scripted device (a 3390 on a 3990-6, as the DASD).
fn info() -> DeviceInfo {
    DeviceInfo {
        cu_type: 0x3990,
        cu_model: 0xe9,
        dev_type: 0x3390,
        dev_model: 0x0c,
        paths: paths(),
    }
}

/// A 3390 on two FICON paths whose track 0 holds R1 of 2000 bytes (zero).
fn dasd() -> Dasd {
    let mut store = MemStore::new(10);
    let mut b = TrackBuilder::default();
    b.start(TrackAddr::new(0, 0))
        .record(Count::new(0, 0, 1, 0, 2000), &[], &[0; 2000]);
    store.write(TrackAddr::new(0, 0), b.finish()).unwrap();
    let cfg = DasdConfig {
        paths: paths(),
        ..DasdConfig::for_devno(0x4711)
    };
    Dasd::new(cfg, Box::new(store))
}

/// A host device that logs the command code of every CCW it executes.
struct Logged {
    inner: Dasd,
    log: Arc<Mutex<Vec<u8>>>,
}

impl zcss_ccw::CcwDevice for Logged {
    fn program_start(&mut self, lpum: u8) {
        self.inner.program_start(lpum);
    }

    fn execute(&mut self, ccw: &zcss_ccw::Ccw, data: &mut zcss_ccw::DataStream<'_>) -> zcss_ccw::DeviceResult {
        self.log.lock().push(ccw.cmd);
        self.inner.execute(ccw, data)
    }

    fn program_end(&mut self, how: zcss_ccw::ProgramEnd) {
        self.inner.program_end(how);
    }
}

impl Device for Logged {
    fn info(&self) -> DeviceInfo {
        self.inner.info()
    }

    fn attached(&mut self, handle: zcss_css::SubchannelHandle) {
        self.inner.attached(handle);
    }
}

/// The host with the DASD on [`HOST`] and a guest with it passed through
/// on [`GUEST`]; the log of the commands the DASD executed.
fn setup() -> (SimHost, Guest, Arc<Mutex<Vec<u8>>>) {
    let host = SimHost::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let dev = Logged {
        inner: dasd(),
        log: Arc::clone(&log),
    };
    host.add_device(HOST, 0x4711, Box::new(dev)).unwrap();
    let g = passthrough(&host, HOST, Css::default(), GUEST, 0x4711, 1 << 20);
    (host, g, log)
}

/// A host with a scripted device (for programs that must run slowly).
fn setup_scripted() -> (SimHost, Guest, MockControl) {
    let host = SimHost::new();
    let dev = MockDevice::with_info(info());
    let ctl = dev.control();
    host.add_device(HOST, 0x4711, Box::new(dev)).unwrap();
    let g = passthrough(&host, HOST, Css::default(), GUEST, 0x4711, 1 << 20);
    (host, g, ctl)
}

/// The host's DASD alone, opened for guest storage `mem`.
fn host_with_dasd() -> SimHost {
    let host = SimHost::new();
    host.add_device(HOST, 0x4711, Box::new(dasd())).unwrap();
    host
}

fn put_ccws(g: &Guest, at: u64, ccws: &[(u8, CcwFlags, u16, u32)]) {
    for (i, &(cmd, flags, count, cda)) in ccws.iter().enumerate() {
        let c = Ccw1::new()
            .with_cmd(cmd)
            .with_flags(flags)
            .with_count(count)
            .with_cda(cda);
        g.mem.store(at + 8 * i as u64, &c.to_be_bytes()).unwrap();
    }
}

fn cc() -> CcwFlags {
    CcwFlags::new().with_cc(true)
}

/// SEEK 0/0, SEARCH ID EQUAL R1 and the TIC back to it, at `at`: the
/// positioning of an update write or a read of R1 (arguments at 0x1f00).
fn locate_r1(g: &Guest, at: u64) {
    g.mem.store(0x1f00, &[0, 0, 0, 0, 0, 0]).unwrap();
    g.mem.store(0x1f08, &[0, 0, 0, 0, 1]).unwrap();
    let tic = u32::try_from(at + 8).unwrap();
    put_ccws(
        g,
        at,
        &[
            (0x07, cc(), 6, 0x1f00),
            (0x31, cc(), 5, 0x1f08),
            (0x08, CcwFlags::new(), 0, tic),
        ],
    );
}

#[test]
fn sense_id_runs_on_the_host_and_the_cpa_is_the_guests() {
    let (_h, g, log) = setup();
    put_ccws(&g, 0x2000, &[(0xe4, CcwFlags::new().with_sli(true), 256, 0x3000)]);
    let (r, irb) = g.run(GUEST, &orb(0x2000, false));
    assert_eq!(r, Ok(Cc::Zero));
    let irb = irb.expect("status");
    assert_eq!(irb.scsw.dstat, DeviceStatus::CE_DE);
    assert_eq!(irb.scsw.cpa, 0x2008);
    assert!(irb.scsw.ctrl.format1());
    assert_eq!(
        g.mem.fetch(0x3000, 7).unwrap(),
        [0xff, 0x39, 0x90, 0xe9, 0x33, 0x90, 0x0a]
    );
    assert_eq!(*log.lock(), vec![0xe4]);
}

#[test]
fn write_through_an_idal_reaches_the_host_device() {
    let (_h, g, log) = setup();
    // SEEK, SEARCH R1, TIC, WRITE DATA through format-1 IDAWs (2K
    // blocks): 256 bytes at 0x4700, the rest at 0x5000.
    locate_r1(&g, 0x2000);
    let ida = CcwFlags::new().with_ida(true);
    put_ccws(&g, 0x2018, &[(0x05, ida, 2000, 0x3000)]);
    g.mem.store(0x3000, &[0, 0, 0x47, 0x00, 0, 0, 0x50, 0x00]).unwrap();
    let data: Vec<u8> = (0..2000u32).map(|i| u8::try_from(i % 251).unwrap()).collect();
    g.mem.store(0x4700, &data[..0x100]).unwrap();
    g.mem.store(0x5000, &data[0x100..]).unwrap();
    let (_, irb) = g.run(GUEST, &orb(0x2000, false));
    let irb = irb.expect("status");
    assert_eq!(irb.scsw.dstat, DeviceStatus::CE_DE, "{:02x?}", irb.ecw);
    assert_eq!(irb.scsw.cpa, 0x2020);
    // Read R1 back, direct addressing.
    locate_r1(&g, 0x2000);
    put_ccws(&g, 0x2018, &[(0x06, CcwFlags::new(), 2000, 0x8000)]);
    let (_, irb) = g.run(GUEST, &orb(0x2000, false));
    assert_eq!(irb.expect("status").scsw.dstat, DeviceStatus::CE_DE);
    assert!(g.mem.fetch(0x8000, 2000).unwrap() == data, "R1 differs");
    // The search passes R0 first, the TIC loops back, R1 matches.
    assert_eq!(*log.lock(), vec![0x07, 0x31, 0x31, 0x05, 0x07, 0x31, 0x31, 0x06]);
}

#[test]
fn program_the_kernel_cannot_read_is_cc0_then_unit_exception() {
    let (h, g, log) = setup();
    // The 2 KiB segment read runs past the end of guest storage.
    let at = (1 << 20) - 0x400;
    put_ccws(&g, at, &[(0x03, CcwFlags::new(), 0, 0)]);
    let (r, irb) = g.run(GUEST, &orb(u32::try_from(at).unwrap(), false));
    assert_eq!(r, Ok(Cc::Zero));
    let irb = irb.expect("status");
    assert_eq!(irb.scsw.dstat, DeviceStatus::new().with_unit_exception(true));
    assert_eq!(irb.scsw.cpa, u32::try_from(at + 8).unwrap());
    assert!(log.lock().is_empty());
    drop(h);
}

#[test]
fn completed_program_returns_the_device_to_idle() {
    let host = host_with_dasd();
    let mem: Arc<zcss_ccw::VecMemory> = Arc::new(zcss_ccw::VecMemory::new(1 << 20));
    let backend = host.open(HOST, mem.clone()).unwrap();
    assert_eq!(backend.state(), crate::fsm::State::Idle);
    assert!(matches!(host.open(HOST, mem.clone()), Err(SimError::AlreadyOpen(_))));
    let irqs = crate::HostBackend::irqs(&backend);
    mem.store(0x2000, &Ccw1::new().with_cmd(0x03).to_be_bytes()).unwrap();
    let mut scsw = zcss_ccw::Scsw::default();
    scsw.ctrl = scsw.ctrl.with_fctl(FunctionControl::START);
    let region = crate::IoRegion::request(&orb(0x2000, false), &scsw);
    crate::HostBackend::write_io(&backend, &region).unwrap();
    assert_eq!(irqs.recv_timeout(WAIT), Ok(crate::HostIrq::Io));
    let r = crate::HostBackend::read_io(&backend).unwrap();
    assert_eq!(r.irb().scsw.cpa, 0x2008);
    assert_eq!(backend.state(), crate::fsm::State::Idle);
    assert!(!backend.program_in_progress());
    // Halt and clear are refused in the I/O region.
    scsw.ctrl = scsw.ctrl.with_fctl(FunctionControl::HALT);
    let halt = crate::IoRegion::request(&orb(0x2000, false), &scsw);
    assert_eq!(crate::HostBackend::write_io(&backend, &halt), Err(Errno::EOPNOTSUPP));
    drop(backend);
    assert!(host.open(HOST, mem).is_ok());
}

#[test]
fn transport_mode_is_eopnotsupp_in_the_kernel() {
    let host = host_with_dasd();
    let mem: Arc<zcss_ccw::VecMemory> = Arc::new(zcss_ccw::VecMemory::new(1 << 20));
    let backend = host.open(HOST, mem).unwrap();
    let mut o = orb(0x2000, false);
    o.ctrl = o.ctrl.with_transport_mode(true);
    let mut scsw = zcss_ccw::Scsw::default();
    scsw.ctrl = scsw.ctrl.with_fctl(FunctionControl::START);
    let region = crate::IoRegion::request(&o, &scsw);
    assert_eq!(crate::HostBackend::write_io(&backend, &region), Err(Errno::EOPNOTSUPP));
    assert_eq!(backend.state(), crate::fsm::State::Idle);
}

fn slow_chain(g: &Guest, ctl: &MockControl, n: u16) {
    ctl.set_delay(Some(Duration::from_millis(30)));
    let ccws: Vec<_> = (0..n)
        .map(|i| (0x03, if i + 1 < n { cc() } else { CcwFlags::new() }, 0, 0))
        .collect();
    put_ccws(g, 0x2000, &ccws);
}

#[test]
fn hsch_overtakes_a_running_program_and_ends_with_the_hosts_halt_status() {
    let (_h, g, ctl) = setup_scripted();
    slow_chain(&g, &ctl, 20);
    assert_eq!(g.ssch(GUEST, &orb(0x2000, false)), Ok(Cc::Zero));
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(g.xsch(GUEST), Ok(Cc::Two));
    assert_eq!(g.hsch(GUEST), Ok(Cc::Zero));
    g.wait_interrupt(WAIT).expect("halt interruption");
    let (r, irb) = g.tsch(GUEST);
    assert_eq!(r, Ok(Cc::Zero));
    let f = irb.scsw.ctrl.fctl();
    assert!(f.start() && f.halt(), "{}", f.names());
    assert!(ctl.commands().len() < 20);
    // The halted program's CCW address is in the guest's program.
    assert!((0x2008..=0x20a0).contains(&irb.scsw.cpa), "{:#x}", irb.scsw.cpa);
    assert!(g.wait_interrupt(Duration::from_millis(100)).is_none());
}

#[test]
fn csch_overtakes_a_running_program_and_ends_with_the_hosts_clear_status() {
    let (_h, g, ctl) = setup_scripted();
    slow_chain(&g, &ctl, 20);
    assert_eq!(g.ssch(GUEST, &orb(0x2000, false)), Ok(Cc::Zero));
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(g.csch(GUEST), Ok(Cc::Zero));
    g.wait_interrupt(WAIT).expect("clear interruption");
    let (_, irb) = g.tsch(GUEST);
    assert_eq!(irb.scsw.ctrl.fctl(), FunctionControl::CLEAR);
    assert_eq!(irb.scsw.ctrl.stctl(), StatusControl::PEND);
    assert!(ctl.commands().len() < 20);
    assert!(g.wait_interrupt(Duration::from_millis(100)).is_none());
    // The device is usable again.
    ctl.set_delay(None);
    put_ccws(&g, 0x2000, &[(0x03, CcwFlags::new(), 0, 0)]);
    let (r, irb) = g.run(GUEST, &orb(0x2000, false));
    assert_eq!(r, Ok(Cc::Zero));
    assert_eq!(irb.expect("status").scsw.dstat, DeviceStatus::CE_DE);
}

#[test]
fn stsch_shows_the_host_paths_and_an_offline_chpid() {
    let (h, g, _) = setup();
    let (_, s) = g.stsch(GUEST);
    assert_eq!((s.pmcw.pim, s.pmcw.pam), (0xc0, 0xc0));
    assert_eq!(s.pmcw.chpid[..2], [0x50, 0x51]);
    assert_eq!(h.chp_event(2, 0x51, ChpEvent::Offline), 1);
    let (_, s) = g.stsch(GUEST);
    assert_eq!(s.pmcw.pam, 0x80);
    assert_eq!(s.pmcw.pom & 0x40, 0);
}

#[test]
fn chp_offline_and_online_reach_the_guests_stcrw() {
    let (h, g, _) = setup();
    // A CHPID of another css image affects nothing.
    assert_eq!(h.chp_event(1, 0x51, ChpEvent::Offline), 0);
    h.chp_event(2, 0x51, ChpEvent::Offline);
    h.chp_event(2, 0x51, ChpEvent::Online);
    let mut got = Vec::new();
    for _ in 0..2000 {
        let (r, crw) = g.stcrw();
        if r == Ok(Cc::Zero) {
            got.push((crw.rsc(), crw.erc(), crw.rsid()));
            if got.len() == 2 {
                break;
            }
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(got, vec![(4, 6, 0x51), (4, 2, 0x51)]);
}

#[test]
fn vary_off_queues_no_crw() {
    let (h, g, _) = setup();
    assert_eq!(h.chp_event(2, 0x50, ChpEvent::VaryOff), 1);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(g.stcrw().0, Ok(Cc::One));
}

#[test]
fn host_orb_lpm_zero_takes_the_varied_logical_path_mask() {
    // cp_get_orb: a guest LPM of 0 becomes sch->lpm, which vary off
    // changed (a guest css never passes LPM 0: it is a deferred cc 3).
    let host = host_with_dasd();
    let mem: Arc<zcss_ccw::VecMemory> = Arc::new(zcss_ccw::VecMemory::new(1 << 20));
    let backend = host.open(HOST, mem.clone()).unwrap();
    host.chp_event(2, 0x50, ChpEvent::VaryOff);
    mem.store(0x2000, &Ccw1::new().with_cmd(0x03).to_be_bytes()).unwrap();
    let mut o = orb(0x2000, false);
    o.ctrl = o.ctrl.with_lpm(0);
    let mut scsw = zcss_ccw::Scsw::default();
    scsw.ctrl = scsw.ctrl.with_fctl(FunctionControl::START);
    let irqs = crate::HostBackend::irqs(&backend);
    crate::HostBackend::write_io(&backend, &crate::IoRegion::request(&o, &scsw)).unwrap();
    assert_eq!(irqs.recv_timeout(WAIT), Ok(crate::HostIrq::Io));
    let irb = crate::HostBackend::read_io(&backend).unwrap().irb();
    assert_eq!(irb.esw.scl.lpum(), 0x40);
}

#[test]
fn orb_suspend_suspends_on_the_host_and_rsch_is_cc2() {
    let (_h, g, _) = setup();
    put_ccws(
        &g,
        0x2000,
        &[(0x03, cc(), 0, 0), (0x03, CcwFlags::new().with_suspend(true), 0, 0)],
    );
    let mut o = orb(0x2000, false);
    o.ctrl = o.ctrl.with_suspend(true);
    assert_eq!(g.ssch(GUEST, &o), Ok(Cc::Zero));
    g.wait_interrupt(WAIT).expect("intermediate status");
    let (_, irb) = g.tsch(GUEST);
    assert!(irb.scsw.ctrl.actl().suspended());
    assert_eq!(irb.scsw.cpa, 0x2010);
    // The uAPI has no resume: the kernel answers EBUSY.
    assert_eq!(g.rsch(GUEST), Ok(Cc::Two));
}

#[test]
fn add_device_outside_real_css_images_is_refused() {
    let host = SimHost::new();
    let sid = SubchannelId {
        cssid: 4,
        ssid: 0,
        schno: 0,
    };
    assert!(matches!(
        host.add_device(sid, 1, Box::new(dasd())),
        Err(SimError::NotRealCss(4))
    ));
    assert!(matches!(
        host.open(HOST, Arc::new(zcss_ccw::VecMemory::new(4096))),
        Err(SimError::NoDevice(_))
    ));
}

#[test]
fn removal_request_reaches_the_handler() {
    let host = host_with_dasd();
    let g = Guest::new(Css::default(), 1 << 20);
    let backend = host.open(HOST, g.mem.clone()).unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let dev = crate::VfioCcw::new(Arc::new(backend)).on_removal_request(move |sid| {
        let _ = tx.send(sid);
    });
    g.css.attach_passthrough(GUEST, 1, Box::new(dev), false).unwrap();
    assert!(host.request_removal(HOST));
    assert_eq!(rx.recv_timeout(WAIT), Ok(GUEST));
}

#[test]
fn host_orb_starts_the_translated_program_with_format1_and_c64() {
    let (_h, g, _) = setup();
    put_ccws(&g, 0x2000, &[(0x03, CcwFlags::new(), 0, 0)]);
    let (_, irb) = g.run(GUEST, &Orb { ..orb(0x2000, true) });
    // Format-0 guest: F as the guest asked, CCW address in its program.
    let irb = irb.expect("status");
    assert!(!irb.scsw.ctrl.format1());
    assert_eq!(irb.scsw.cpa, 0x2008);
}

/// The host subchannel's concurrent-sense bit.
fn host_csense(h: &SimHost) -> bool {
    let mem = zcss_ccw::VecMemory::new(4096);
    let gr1 = HOST.to_word(true);
    assert_eq!(h.css().stsch(&IoCtx::new(&mem), gr1, 0), Ok(Cc::Zero));
    let s = zcss_ccw::Schib::decode(&mem.fetch(0, zcss_ccw::Schib::LEN).unwrap()).unwrap();
    s.pmcw.chars.csense()
}

#[test]
fn msch_mirrors_the_guests_concurrent_sense_onto_the_host_subchannel() {
    let (h, g, _) = setup();
    assert!(host_csense(&h));
    g.enable(GUEST, false);
    assert!(!host_csense(&h));
    // A unit check (READ DATA without positioning: command reject) then
    // comes without an ECW, as on a guest subchannel without concurrent
    // sense.
    put_ccws(&g, 0x2000, &[(0x06, CcwFlags::new(), 8, 0x3000)]);
    let (_, irb) = g.run(GUEST, &orb(0x2000, false));
    let irb = irb.expect("status");
    assert!(irb.scsw.dstat.unit_check());
    assert!(!irb.scsw.ctrl.esw_format() && !irb.scsw.ctrl.extended_control());
    assert_eq!(irb.ecw, [0; 32]);
    g.enable(GUEST, true);
    assert!(host_csense(&h));
    let (_, irb) = g.run(GUEST, &orb(0x2000, false));
    let irb = irb.expect("status");
    assert!(irb.scsw.ctrl.extended_control());
    assert_eq!(irb.ecw[0], 0x80, "command reject");
}
