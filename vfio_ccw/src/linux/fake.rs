//! A fake kernel for the Linux backend's tests: one container, one group
//! holding one vfio-ccw mediated device, eventfds — and a check of every
//! call against what the real kernel requires (the right descriptor kind,
//! `argsz`, flags, the VFIO sequence, region bounds). A call the real
//! kernel would refuse fails with its errno and is recorded as a
//! violation, so a test can assert that the backend made none.
//!
//! The device side is scripted: the answer to the next I/O-region write,
//! the IRB the I/O region holds, the SCHIB, the queued CRWs, and signals on
//! the interrupt eventfds ([`FakeKernel::complete`], …).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use vfio_bindings::bindings::vfio::{
    VFIO_API_VERSION, VFIO_DEVICE_FLAGS_CCW, VFIO_DEVICE_FLAGS_RESET, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE,
    VFIO_GROUP_FLAGS_CONTAINER_SET, VFIO_GROUP_FLAGS_VIABLE, VFIO_IRQ_INFO_EVENTFD, VFIO_IRQ_SET_ACTION_TRIGGER,
    VFIO_IRQ_SET_DATA_EVENTFD, VFIO_REGION_INFO_CAP_TYPE, VFIO_REGION_INFO_FLAG_CAPS, VFIO_REGION_INFO_FLAG_READ,
    VFIO_REGION_INFO_FLAG_WRITE, VFIO_TYPE1_IOMMU,
};
use zcss_ccw::irb::Irb;
use zcss_ccw::schib::Schib;

use super::kernel::{Fd, Ioctl, VfioKernel};
use crate::uapi::{
    offset_index, region_offset, CmdRegion, CrwRegion, Errno, IoRegion, IrqIndex, RegionSubtype, SchibRegion,
    REGION_TYPE_CCW,
};

/// Path of the fake container.
pub const CONTAINER: &str = "/dev/vfio/vfio";
/// Path of the fake group.
pub const GROUP: &str = "/dev/vfio/7";
/// Name of the fake mediated device.
pub const DEVICE: &str = "7e270a25-e163-4922-af60-757fc8ed48c6";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum File {
    Container,
    Group,
    Device,
    EventFd,
}

/// What the fake device offers (change before the backend opens it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeConfig {
    /// Group status flags.
    pub group_viable: bool,
    /// Device flags (`VFIO_DEVICE_FLAGS_CCW | RESET` by default).
    pub device_flags: u32,
    /// Device-specific regions offered, in index order from 1.
    pub regions: Vec<RegionSubtype>,
    /// Interrupt indexes offered (the number of IRQs reported is one more
    /// than the last offered).
    pub irqs: Vec<IrqIndex>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            group_viable: true,
            device_flags: VFIO_DEVICE_FLAGS_CCW | VFIO_DEVICE_FLAGS_RESET,
            regions: RegionSubtype::ALL.to_vec(),
            irqs: IrqIndex::ALL.to_vec(),
        }
    }
}

/// Everything the fake kernel knows and saw.
#[derive(Debug, Default)]
pub struct FakeState {
    /// The device offered.
    pub config: FakeConfig,
    next_fd: Fd,
    files: HashMap<Fd, File>,
    eventfds: HashMap<Fd, u64>,
    /// Every call, in order (`"ioctl VFIO_SET_IOMMU"`, `"pwrite 0+124"`, …).
    pub log: Vec<String>,
    /// Calls the real kernel would refuse.
    pub violations: Vec<String>,
    container_set: bool,
    /// The IOMMU type set on the container.
    pub iommu: Option<u32>,
    /// DMA mappings `(iova, vaddr, size)`.
    pub dma: Vec<(u64, u64, u64)>,
    device_open: bool,
    /// The eventfd set for each interrupt index.
    pub irq_fds: [Option<Fd>; 3],
    /// Resets asked for.
    pub resets: u32,
    /// The I/O region's content (its IRB area is what a read returns).
    pub io: IoRegion,
    /// Every I/O-region write.
    pub io_writes: Vec<IoRegion>,
    /// Answer of the next I/O-region writes (`None`: success).
    pub io_reply: Option<Errno>,
    /// Make I/O-region reads fail with this errno.
    pub io_read_error: Option<Errno>,
    /// Make I/O-region reads short (this many bytes).
    pub io_read_short: Option<usize>,
    /// Every command-region command.
    pub commands: Vec<u32>,
    /// Answer of the next command-region writes.
    pub cmd_reply: Option<Errno>,
    /// What the SCHIB region returns.
    pub schib: Schib,
    /// Queued channel reports.
    pub crws: VecDeque<u32>,
}

/// The fake kernel (see the module documentation).
#[derive(Debug, Default)]
pub struct FakeKernel {
    st: Mutex<FakeState>,
    cv: Condvar,
}

impl FakeKernel {
    /// A kernel offering a vfio-ccw device as `config` says.
    #[must_use]
    pub fn new(config: FakeConfig) -> Self {
        Self {
            st: Mutex::new(FakeState {
                config,
                next_fd: 3,
                ..FakeState::default()
            }),
            cv: Condvar::new(),
        }
    }

    /// Runs `f` on the state.
    pub fn with<R>(&self, f: impl FnOnce(&mut FakeState) -> R) -> R {
        f(&mut self.st.lock())
    }

    /// Descriptors still open.
    #[must_use]
    pub fn open_fds(&self) -> usize {
        self.st.lock().files.len()
    }

    fn signal(&self, st: &mut FakeState, irq: IrqIndex) -> bool {
        let Some(fd) = st.irq_fds[irq as usize] else {
            return false;
        };
        *st.eventfds.entry(fd).or_insert(0) += 1;
        self.cv.notify_all();
        true
    }

    /// The host subchannel presents `irb`: it goes into the I/O region and
    /// the I/O eventfd is signalled. Returns whether an eventfd was set.
    pub fn complete(&self, irb: &Irb) -> bool {
        let mut st = self.st.lock();
        st.io.irb_area = irb.encode();
        self.signal(&mut st, IrqIndex::Io)
    }

    /// Queues channel reports and signals the CRW eventfd.
    pub fn queue_crws(&self, crws: &[u32]) -> bool {
        let mut st = self.st.lock();
        st.crws.extend(crws);
        self.signal(&mut st, IrqIndex::Crw)
    }

    /// Signals the removal request.
    pub fn request_removal(&self) -> bool {
        let mut st = self.st.lock();
        self.signal(&mut st, IrqIndex::Req)
    }

    fn violation(st: &mut FakeState, what: String) -> io::Error {
        st.violations.push(what);
        io::Error::from_raw_os_error(Errno::EINVAL.0)
    }

    fn kind(st: &FakeState, fd: Fd) -> Option<File> {
        st.files.get(&fd).copied()
    }

    /// Index and region size of each region offered.
    fn region_size(st: &FakeState, index: u64) -> Option<u64> {
        if index == 0 {
            return Some(IoRegion::SIZE as u64);
        }
        let i = usize::try_from(index - 1).ok()?;
        st.config.regions.get(i).map(|s| s.size() as u64)
    }

    fn num_regions(st: &FakeState) -> u32 {
        u32::try_from(st.config.regions.len() + 1).unwrap_or(u32::MAX)
    }

    fn num_irqs(st: &FakeState) -> u32 {
        st.config.irqs.iter().map(|&i| i as u32 + 1).max().unwrap_or(0)
    }

    /// The region access `[offset, offset + len)` checked as
    /// `vfio_ccw_mdev_read`/`write` do: index in range, `pos + count`
    /// within the region.
    fn region_access(st: &mut FakeState, fd: Fd, offset: u64, len: usize) -> io::Result<(u64, u64)> {
        if Self::kind(st, fd) != Some(File::Device) {
            return Err(Self::violation(st, format!("region access on fd {fd}")));
        }
        let index = offset_index(offset);
        let Some(size) = Self::region_size(st, index) else {
            return Err(Self::violation(st, format!("region index {index} out of range")));
        };
        let pos = offset - region_offset(u32::try_from(index).unwrap_or(0));
        if pos + len as u64 > size {
            return Err(Self::violation(
                st,
                format!("region {index} access {pos}+{len} beyond {size}"),
            ));
        }
        Ok((index, pos))
    }
}

fn set_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

impl VfioKernel for FakeKernel {
    fn open(&self, path: &Path) -> io::Result<Fd> {
        let mut st = self.st.lock();
        st.log.push(format!("open {}", path.display()));
        let kind = if path == Path::new(CONTAINER) {
            File::Container
        } else if path == Path::new(GROUP) {
            File::Group
        } else {
            return Err(io::Error::from_raw_os_error(2));
        };
        if st.files.values().any(|&f| f == kind) {
            return Err(io::Error::from_raw_os_error(Errno::EBUSY.0));
        }
        let fd = st.next_fd;
        st.next_fd += 1;
        st.files.insert(fd, kind);
        Ok(fd)
    }

    fn close(&self, fd: Fd) {
        let mut st = self.st.lock();
        st.log.push(format!("close {fd}"));
        match st.files.remove(&fd) {
            Some(File::Device) => st.device_open = false,
            Some(File::EventFd) => {
                st.eventfds.remove(&fd);
            }
            Some(_) => {}
            None => st.violations.push(format!("close of unknown fd {fd}")),
        }
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one arm per VFIO request, checked as the kernel does"
    )]
    fn ioctl(&self, fd: Fd, req: Ioctl<'_>) -> io::Result<i32> {
        let mut st = self.st.lock();
        let st = &mut *st;
        st.log.push(format!("ioctl {req:?}").chars().take(48).collect());
        let kind = Self::kind(st, fd);
        let need = |st: &mut FakeState, k: File, what: &str| -> io::Result<()> {
            if kind == Some(k) {
                Ok(())
            } else {
                Err(Self::violation(st, format!("{what} on {kind:?}")))
            }
        };
        match req {
            Ioctl::GetApiVersion => {
                need(st, File::Container, "GET_API_VERSION")?;
                Ok(i32::try_from(VFIO_API_VERSION).unwrap_or(0))
            }
            Ioctl::CheckExtension(e) => {
                need(st, File::Container, "CHECK_EXTENSION")?;
                Ok(i32::from(e == VFIO_TYPE1_IOMMU))
            }
            Ioctl::SetIommu(t) => {
                need(st, File::Container, "SET_IOMMU")?;
                if !st.container_set || t != VFIO_TYPE1_IOMMU || st.iommu.is_some() {
                    return Err(Self::violation(st, format!("SET_IOMMU {t} out of sequence")));
                }
                st.iommu = Some(t);
                Ok(0)
            }
            Ioctl::GroupGetStatus(s) => {
                need(st, File::Group, "GROUP_GET_STATUS")?;
                if s.argsz != 8 {
                    return Err(Self::violation(st, format!("GROUP_GET_STATUS argsz {}", s.argsz)));
                }
                s.flags = if st.config.group_viable {
                    VFIO_GROUP_FLAGS_VIABLE
                } else {
                    0
                } | if st.container_set {
                    VFIO_GROUP_FLAGS_CONTAINER_SET
                } else {
                    0
                };
                Ok(0)
            }
            Ioctl::GroupSetContainer(c) => {
                need(st, File::Group, "GROUP_SET_CONTAINER")?;
                if Self::kind(st, c) != Some(File::Container) || st.container_set || !st.config.group_viable {
                    return Err(Self::violation(st, "GROUP_SET_CONTAINER".into()));
                }
                st.container_set = true;
                Ok(0)
            }
            Ioctl::GroupUnsetContainer => {
                need(st, File::Group, "GROUP_UNSET_CONTAINER")?;
                if !st.container_set || st.device_open {
                    return Err(Self::violation(st, "GROUP_UNSET_CONTAINER with device open".into()));
                }
                st.container_set = false;
                st.iommu = None;
                Ok(0)
            }
            Ioctl::GroupGetDeviceFd(name) => {
                need(st, File::Group, "GROUP_GET_DEVICE_FD")?;
                if st.iommu.is_none() || name.to_bytes() != DEVICE.as_bytes() || st.device_open {
                    return Err(Self::violation(st, format!("GROUP_GET_DEVICE_FD {name:?}")));
                }
                let fd = st.next_fd;
                st.next_fd += 1;
                st.files.insert(fd, File::Device);
                st.device_open = true;
                Ok(fd)
            }
            Ioctl::DeviceGetInfo(i) => {
                need(st, File::Device, "DEVICE_GET_INFO")?;
                if i.argsz < 16 {
                    return Err(Self::violation(st, format!("DEVICE_GET_INFO argsz {}", i.argsz)));
                }
                i.flags = st.config.device_flags;
                i.num_regions = Self::num_regions(st);
                i.num_irqs = Self::num_irqs(st);
                Ok(0)
            }
            Ioctl::DeviceGetRegionInfo(buf) => {
                need(st, File::Device, "DEVICE_GET_REGION_INFO")?;
                let mut b: Vec<u8> = buf.iter().flat_map(|w| w.to_ne_bytes()).collect();
                let argsz = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
                let index = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
                if argsz != b.len() || argsz < 32 {
                    return Err(Self::violation(
                        st,
                        format!("REGION_INFO argsz {argsz} for {} bytes", b.len()),
                    ));
                }
                let Some(size) = Self::region_size(st, u64::from(index)) else {
                    return Err(io::Error::from_raw_os_error(Errno::EINVAL.0));
                };
                let rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
                b[16..24].copy_from_slice(&size.to_ne_bytes());
                b[24..32].copy_from_slice(&region_offset(index).to_ne_bytes());
                if index == 0 {
                    set_u32(&mut b, 4, rw);
                } else {
                    let sub = st.config.regions[index as usize - 1];
                    let flags = if sub == RegionSubtype::AsyncCmd {
                        VFIO_REGION_INFO_FLAG_WRITE
                    } else {
                        VFIO_REGION_INFO_FLAG_READ
                    };
                    set_u32(&mut b, 4, flags | VFIO_REGION_INFO_FLAG_CAPS);
                    // One VFIO_REGION_INFO_CAP_TYPE capability at offset 32.
                    if argsz < 48 {
                        set_u32(&mut b, 0, 48);
                        set_u32(&mut b, 12, 0);
                    } else {
                        set_u32(&mut b, 12, 32);
                        b[32..34].copy_from_slice(&u16::try_from(VFIO_REGION_INFO_CAP_TYPE).unwrap_or(0).to_ne_bytes());
                        b[34..36].copy_from_slice(&1u16.to_ne_bytes());
                        set_u32(&mut b, 36, 0);
                        set_u32(&mut b, 40, REGION_TYPE_CCW);
                        set_u32(&mut b, 44, sub as u32);
                    }
                }
                for (w, c) in buf.iter_mut().zip(b.chunks_exact(8)) {
                    *w = u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
                }
                Ok(0)
            }
            Ioctl::DeviceGetIrqInfo(i) => {
                need(st, File::Device, "DEVICE_GET_IRQ_INFO")?;
                if i.argsz != 16 || i.index >= Self::num_irqs(st) {
                    return Err(Self::violation(
                        st,
                        format!("IRQ_INFO argsz {} index {}", i.argsz, i.index),
                    ));
                }
                let offered = st.config.irqs.iter().any(|&q| q as u32 == i.index);
                i.count = u32::from(offered);
                i.flags = if offered { VFIO_IRQ_INFO_EVENTFD } else { 0 };
                Ok(0)
            }
            Ioctl::DeviceSetIrqs(s) => {
                need(st, File::Device, "DEVICE_SET_IRQS")?;
                let offered = st.config.irqs.iter().any(|&q| q as u32 == s.index);
                let fd_ok = s.fd == -1 || Self::kind(st, s.fd) == Some(File::EventFd);
                if s.argsz != 24
                    || s.flags != VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER
                    || s.start != 0
                    || s.count != 1
                    || !offered
                    || !fd_ok
                {
                    return Err(Self::violation(st, format!("SET_IRQS {s:?}")));
                }
                st.irq_fds[s.index as usize] = (s.fd >= 0).then_some(s.fd);
                Ok(0)
            }
            Ioctl::DeviceReset => {
                need(st, File::Device, "DEVICE_RESET")?;
                st.resets += 1;
                Ok(0)
            }
            Ioctl::IommuMapDma(m) => {
                need(st, File::Container, "IOMMU_MAP_DMA")?;
                let aligned = m.iova % 4096 == 0 && m.size % 4096 == 0 && m.vaddr % 4096 == 0 && m.size > 0;
                if st.iommu.is_none()
                    || m.argsz != 32
                    || m.flags != VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE
                    || !aligned
                {
                    return Err(Self::violation(st, format!("MAP_DMA {m:?}")));
                }
                st.dma.push((m.iova, m.vaddr, m.size));
                Ok(0)
            }
            Ioctl::IommuUnmapDma(u) => {
                need(st, File::Container, "IOMMU_UNMAP_DMA")?;
                let pos = st
                    .dma
                    .iter()
                    .position(|&(iova, _, size)| iova == u.iova && size == u.size);
                match pos {
                    Some(p) if u.argsz == 24 => {
                        st.dma.remove(p);
                        Ok(0)
                    }
                    _ => Err(Self::violation(st, format!("UNMAP_DMA {:#x}+{:#x}", u.iova, u.size))),
                }
            }
        }
    }

    fn pread(&self, fd: Fd, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut st = self.st.lock();
        st.log.push(format!("pread {offset}+{}", buf.len()));
        let (index, pos) = Self::region_access(&mut st, fd, offset, buf.len())?;
        let pos = usize::try_from(pos).unwrap_or(usize::MAX);
        match index {
            0 => {
                if let Some(e) = st.io_read_error {
                    return Err(io::Error::from_raw_os_error(e.0));
                }
                let b = st.io.to_bytes();
                let n = st.io_read_short.unwrap_or(buf.len()).min(buf.len());
                buf[..n].copy_from_slice(&b[pos..pos + n]);
                Ok(n)
            }
            i => match st.config.regions[usize::try_from(i - 1).unwrap_or(0)] {
                RegionSubtype::AsyncCmd => Err(Self::violation(&mut st, "read of the command region".into())),
                RegionSubtype::Schib => {
                    let r = SchibRegion {
                        schib_area: st.schib.to_be_bytes(),
                    };
                    let b = { r.schib_area };
                    buf.copy_from_slice(&b[pos..pos + buf.len()]);
                    Ok(buf.len())
                }
                RegionSubtype::Crw => {
                    let crw = st.crws.pop_front().unwrap_or(0);
                    let b = CrwRegion { crw, pad: 0 }.to_bytes();
                    buf.copy_from_slice(&b[pos..pos + buf.len()]);
                    if !st.crws.is_empty() {
                        // More remain: signal again, as the kernel does.
                        self.signal(&mut st, IrqIndex::Crw);
                    }
                    Ok(buf.len())
                }
            },
        }
    }

    fn pwrite(&self, fd: Fd, buf: &[u8], offset: u64) -> io::Result<usize> {
        let mut st = self.st.lock();
        st.log.push(format!("pwrite {offset}+{}", buf.len()));
        let (index, pos) = Self::region_access(&mut st, fd, offset, buf.len())?;
        match index {
            0 => {
                if pos != 0 || buf.len() != IoRegion::SIZE {
                    return Err(Self::violation(
                        &mut st,
                        format!("partial I/O region write {pos}+{}", buf.len()),
                    ));
                }
                let r = IoRegion::from_bytes(buf.try_into().unwrap_or(&[0; IoRegion::SIZE]));
                st.io_writes.push(r);
                let irb = st.io.irb_area;
                st.io = r;
                st.io.irb_area = irb;
                match st.io_reply {
                    Some(e) => {
                        st.io.set_ret(e.ret());
                        Err(io::Error::from_raw_os_error(e.0))
                    }
                    None => Ok(buf.len()),
                }
            }
            i => match st.config.regions[usize::try_from(i - 1).unwrap_or(0)] {
                RegionSubtype::AsyncCmd => {
                    if pos != 0 || buf.len() != CmdRegion::SIZE {
                        return Err(Self::violation(&mut st, "partial command region write".into()));
                    }
                    let c = CmdRegion::from_bytes(buf.try_into().unwrap_or(&[0; CmdRegion::SIZE]));
                    st.commands.push(c.command);
                    match st.cmd_reply {
                        Some(e) => Err(io::Error::from_raw_os_error(e.0)),
                        None => Ok(buf.len()),
                    }
                }
                other => Err(Self::violation(&mut st, format!("write of the {other:?} region"))),
            },
        }
    }

    fn eventfd(&self) -> io::Result<Fd> {
        let mut st = self.st.lock();
        let fd = st.next_fd;
        st.next_fd += 1;
        st.files.insert(fd, File::EventFd);
        st.eventfds.insert(fd, 0);
        Ok(fd)
    }

    fn eventfd_read(&self, fd: Fd) -> io::Result<u64> {
        let mut st = self.st.lock();
        match st.eventfds.get_mut(&fd) {
            Some(v) => Ok(std::mem::take(v)),
            None => Err(Self::violation(&mut st, format!("eventfd read of fd {fd}"))),
        }
    }

    fn eventfd_write(&self, fd: Fd, v: u64) -> io::Result<()> {
        let mut st = self.st.lock();
        match st.eventfds.get_mut(&fd) {
            Some(c) => {
                *c += v;
                self.cv.notify_all();
                Ok(())
            }
            None => Err(Self::violation(&mut st, format!("eventfd write of fd {fd}"))),
        }
    }

    fn poll(&self, fds: &[Fd], timeout: Option<Duration>) -> io::Result<u64> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.st.lock();
        loop {
            let mut mask = 0u64;
            for (i, fd) in fds.iter().enumerate() {
                match st.eventfds.get(fd) {
                    Some(&v) if v > 0 => mask |= 1 << i,
                    Some(_) => {}
                    None => return Err(Self::violation(&mut st, format!("poll on fd {fd}"))),
                }
            }
            if mask != 0 {
                return Ok(mask);
            }
            match deadline {
                Some(d) => {
                    if self.cv.wait_until(&mut st, d).timed_out() {
                        return Ok(0);
                    }
                }
                None => self.cv.wait(&mut st),
            }
        }
    }
}
