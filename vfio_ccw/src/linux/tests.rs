use std::sync::Arc;
use std::time::Duration;

use zcss_ccw::irb::Irb;
use zcss_ccw::orb::{Orb, OrbControls};
use zcss_ccw::scsw::{FunctionControl, Scsw, ScswControls, StatusControl};
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::status::DeviceStatus;
use zcss_css::{chpid_type, ChannelPaths, DeviceInfo};

use super::fake::{FakeConfig, FakeKernel, CONTAINER, DEVICE, GROUP};
use super::*;

fn config() -> LinuxConfig {
    LinuxConfig {
        container: CONTAINER.into(),
        group: GROUP.into(),
        device: DEVICE.into(),
        host: HostDevice {
            sid: SubchannelId {
                cssid: 1,
                ssid: 0,
                schno: 0x12,
            },
            devno: 0x5000,
            info: DeviceInfo {
                cu_type: 0x3990,
                cu_model: 0xe9,
                dev_type: 0x3390,
                dev_model: 0x0c,
                paths: ChannelPaths::single(0x40, chpid_type::FICON),
            },
        },
    }
}

const RAM: DmaRange = DmaRange {
    iova: 0,
    vaddr: 0x7f00_0000_0000,
    size: 16 << 20,
};

fn open(k: &Arc<FakeKernel>) -> Result<LinuxHost, LinuxError> {
    let kernel: Arc<dyn VfioKernel> = k.clone();
    // SAFETY: the fake kernel never touches the mapped range.
    unsafe { LinuxHost::open(&kernel, &config(), &[RAM]) }
}

fn start_region() -> IoRegion {
    let orb = Orb {
        intparm: 0xfeed,
        ctrl: OrbControls::new().with_format1(true).with_prefetch(true).with_lpm(0xff),
        cpa: 0x1000,
        ..Orb::default()
    };
    let scsw = Scsw {
        ctrl: ScswControls::new().with_fctl(FunctionControl::START),
        ..Scsw::default()
    };
    IoRegion::request(&orb, &scsw)
}

#[test]
fn open_follows_the_vfio_sequence_without_violations() {
    let k = Arc::new(FakeKernel::new(FakeConfig::default()));
    let host = open(&k).unwrap();
    k.with(|st| {
        assert!(st.violations.is_empty(), "{:?}", st.violations);
        assert_eq!(st.iommu, Some(VFIO_TYPE1_IOMMU));
        assert_eq!(st.dma, vec![(0, RAM.vaddr, RAM.size)]);
        assert!(st.irq_fds.iter().all(Option::is_some));
        let order: Vec<_> = st
            .log
            .iter()
            .map(|l| l.split('(').next().unwrap_or("").to_string())
            .collect();
        let pos = |s: &str| order.iter().position(|l| l.contains(s)).unwrap();
        assert!(pos("GroupSetContainer") < pos("SetIommu"));
        assert!(pos("SetIommu") < pos("IommuMapDma"));
        assert!(pos("IommuMapDma") < pos("GroupGetDeviceFd"));
    });
    assert_eq!(host.device().devno, 0x5000);
    assert!(host.cmd.is_some() && host.schib.is_some() && host.crw.is_some());
}

#[test]
fn drop_releases_every_descriptor_and_mapping() {
    let k = Arc::new(FakeKernel::new(FakeConfig::default()));
    drop(open(&k).unwrap());
    assert_eq!(k.open_fds(), 0);
    k.with(|st| {
        assert!(st.violations.is_empty(), "{:?}", st.violations);
        assert!(st.dma.is_empty());
        assert!(st.irq_fds.iter().all(Option::is_none));
    });
}

#[test]
fn open_non_ccw_device_is_refused_and_closes_everything() {
    let k = Arc::new(FakeKernel::new(FakeConfig {
        device_flags: 2,
        ..FakeConfig::default()
    }));
    assert!(matches!(open(&k), Err(LinuxError::NotCcw(2))));
    assert_eq!(k.open_fds(), 0);
}

#[test]
fn open_group_not_viable_is_refused() {
    let k = Arc::new(FakeKernel::new(FakeConfig {
        group_viable: false,
        ..FakeConfig::default()
    }));
    assert!(matches!(open(&k), Err(LinuxError::GroupNotViable)));
    assert_eq!(k.open_fds(), 0);
}

#[test]
fn open_without_optional_regions_and_req_irq_works() {
    let k = Arc::new(FakeKernel::new(FakeConfig {
        regions: vec![RegionSubtype::Schib],
        irqs: vec![IrqIndex::Io, IrqIndex::Crw],
        ..FakeConfig::default()
    }));
    let host = open(&k).unwrap();
    assert!(host.write_cmd(ASYNC_HSCH).is_none());
    assert!(host.read_crw().is_none());
    assert!(host.read_schib().is_some());
    k.with(|st| assert!(st.violations.is_empty(), "{:?}", st.violations));
}

#[test]
fn open_without_io_irq_is_refused() {
    let k = Arc::new(FakeKernel::new(FakeConfig {
        irqs: vec![IrqIndex::Crw],
        ..FakeConfig::default()
    }));
    assert!(matches!(open(&k), Err(LinuxError::Irq(0))));
}

const ASYNC_HSCH: u32 = crate::uapi::ASYNC_CMD_HSCH;

#[test]
fn write_io_passes_the_guest_orb_and_maps_errnos() {
    let k = Arc::new(FakeKernel::new(FakeConfig::default()));
    let host = open(&k).unwrap();
    let r = start_region();
    assert_eq!(host.write_io(&r), Ok(()));
    k.with(|st| st.io_reply = Some(Errno::EBUSY));
    assert_eq!(host.write_io(&r), Err(Errno::EBUSY));
    k.with(|st| {
        assert_eq!(st.io_writes.len(), 2);
        assert_eq!(st.io_writes[0].orb(), r.orb());
        assert!(st.violations.is_empty());
    });
}

#[test]
fn io_irq_then_read_io_returns_the_irb() {
    let k = Arc::new(FakeKernel::new(FakeConfig::default()));
    let host = open(&k).unwrap();
    let irqs = host.irqs();
    let irb = Irb {
        scsw: Scsw {
            ctrl: ScswControls::new()
                .with_fctl(FunctionControl::START)
                .with_stctl(StatusControl::PRIM_SEC_PEND),
            cpa: 0x1008,
            dstat: DeviceStatus::CE_DE,
            ..Scsw::default()
        },
        ..Irb::default()
    };
    assert!(k.complete(&irb));
    assert_eq!(irqs.recv_timeout(Duration::from_secs(5)), Ok(HostIrq::Io));
    assert_eq!(host.read_io().unwrap().irb(), irb);
}

#[test]
fn read_io_errors_are_reported() {
    let k = Arc::new(FakeKernel::new(FakeConfig::default()));
    let host = open(&k).unwrap();
    k.with(|st| st.io_read_error = Some(Errno::ENODEV));
    assert_eq!(host.read_io(), Err(RegionReadError::Errno(Errno::ENODEV)));
    k.with(|st| {
        st.io_read_error = None;
        st.io_read_short = Some(100);
    });
    assert_eq!(host.read_io(), Err(RegionReadError::Short(100)));
}

#[test]
fn crw_region_dequeues_until_zero_and_signals_again() {
    let k = Arc::new(FakeKernel::new(FakeConfig::default()));
    let host = open(&k).unwrap();
    let irqs = host.irqs();
    assert!(k.queue_crws(&[0x0442_0040, 0x0406_0041]));
    assert_eq!(irqs.recv_timeout(Duration::from_secs(5)), Ok(HostIrq::Crw));
    assert_eq!(host.read_crw(), Some(Ok(0x0442_0040)));
    assert_eq!(irqs.recv_timeout(Duration::from_secs(5)), Ok(HostIrq::Crw));
    assert_eq!(host.read_crw(), Some(Ok(0x0406_0041)));
    assert_eq!(host.read_crw(), Some(Ok(0)));
}

#[test]
fn cmd_region_carries_halt_and_clear() {
    let k = Arc::new(FakeKernel::new(FakeConfig::default()));
    let host = open(&k).unwrap();
    assert_eq!(host.write_cmd(ASYNC_HSCH), Some(Ok(())));
    k.with(|st| st.cmd_reply = Some(Errno::ENODEV));
    assert_eq!(host.write_cmd(crate::uapi::ASYNC_CMD_CSCH), Some(Err(Errno::ENODEV)));
    k.with(|st| assert_eq!(st.commands, vec![1, 2]));
}

#[test]
fn schib_region_returns_the_host_schib() {
    let k = Arc::new(FakeKernel::new(FakeConfig::default()));
    let host = open(&k).unwrap();
    k.with(|st| {
        st.schib.pmcw.pim = 0xc0;
        st.schib.pmcw.pam = 0x80;
        st.schib.pmcw.chpid[1] = 0x41;
    });
    let s = host.read_schib().unwrap().unwrap();
    assert_eq!((s.pmcw.pim, s.pmcw.pam, s.pmcw.chpid[1]), (0xc0, 0x80, 0x41));
}

#[test]
fn req_irq_is_delivered() {
    let k = Arc::new(FakeKernel::new(FakeConfig::default()));
    let host = open(&k).unwrap();
    assert!(k.request_removal());
    assert_eq!(host.irqs().recv_timeout(Duration::from_secs(5)), Ok(HostIrq::Req));
}

#[test]
fn reset_issues_device_reset() {
    let k = Arc::new(FakeKernel::new(FakeConfig::default()));
    let host = open(&k).unwrap();
    host.reset().unwrap();
    k.with(|st| assert_eq!(st.resets, 1));
}

#[test]
fn parse_region_info_refuses_a_capability_loop() {
    let mut b = vec![0u8; 48];
    b[4..8].copy_from_slice(&VFIO_REGION_INFO_FLAG_CAPS.to_ne_bytes());
    b[12..16].copy_from_slice(&32u32.to_ne_bytes());
    b[32..34].copy_from_slice(&2u16.to_ne_bytes());
    b[36..40].copy_from_slice(&32u32.to_ne_bytes()); // next points to itself
    assert!(matches!(parse_region_info(1, &b), Err(LinuxError::Capabilities(1))));
}

#[test]
fn parse_region_info_refuses_a_capability_outside_the_buffer() {
    let mut b = vec![0u8; 48];
    b[4..8].copy_from_slice(&VFIO_REGION_INFO_FLAG_CAPS.to_ne_bytes());
    b[12..16].copy_from_slice(&4000u32.to_ne_bytes());
    assert!(matches!(parse_region_info(2, &b), Err(LinuxError::Capabilities(2))));
}
