//! The real kernel: system calls through `libc`.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use super::kernel::{Fd, Ioctl, VfioKernel};

/// The running Linux kernel.
#[derive(Debug, Clone, Copy, Default)]
pub struct SysKernel;

/// A system call's `-1` as the thread's `errno`.
fn check(r: libc::c_int) -> io::Result<i32> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A byte count from `pread`/`pwrite`/`read`/`write`.
fn check_size(r: libc::ssize_t) -> io::Result<usize> {
    usize::try_from(r).map_err(|_| io::Error::last_os_error())
}

impl VfioKernel for SysKernel {
    fn open(&self, path: &Path) -> io::Result<Fd> {
        let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `c` is a NUL-terminated string that outlives the call.
        check(unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })
    }

    fn close(&self, fd: Fd) {
        // SAFETY: closing a descriptor this backend opened and no longer uses.
        unsafe {
            libc::close(fd);
        }
    }

    fn ioctl(&self, fd: Fd, req: Ioctl<'_>) -> io::Result<i32> {
        let nr = libc::Ioctl::try_from(req.request()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let r = match req {
            Ioctl::GetApiVersion | Ioctl::GroupUnsetContainer | Ioctl::DeviceReset => {
                // SAFETY: these requests take no argument.
                unsafe { libc::ioctl(fd, nr) }
            }
            Ioctl::CheckExtension(v) | Ioctl::SetIommu(v) => {
                let v = libc::c_ulong::from(v);
                // SAFETY: these requests take an integer argument by value.
                unsafe { libc::ioctl(fd, nr, v) }
            }
            Ioctl::GroupGetStatus(s) => {
                // SAFETY: `s` is a valid, exclusively borrowed vfio_group_status
                // whose argsz the caller set; the kernel writes within it.
                unsafe { libc::ioctl(fd, nr, std::ptr::from_mut(s)) }
            }
            Ioctl::GroupSetContainer(container) => {
                // SAFETY: the request reads one int through the pointer, which
                // points to a live local.
                unsafe { libc::ioctl(fd, nr, &raw const container) }
            }
            Ioctl::GroupGetDeviceFd(name) => {
                // SAFETY: `name` is a NUL-terminated string borrowed for the call.
                unsafe { libc::ioctl(fd, nr, name.as_ptr()) }
            }
            Ioctl::DeviceGetInfo(i) => {
                // SAFETY: `i` is a valid, exclusively borrowed vfio_device_info
                // with argsz set; the kernel writes at most argsz bytes.
                unsafe { libc::ioctl(fd, nr, std::ptr::from_mut(i)) }
            }
            Ioctl::DeviceGetRegionInfo(buf) => {
                // SAFETY: `buf` is an exclusively borrowed, 8-byte aligned buffer
                // whose first bytes are a vfio_region_info with argsz equal to
                // the buffer's length; the kernel writes at most argsz bytes.
                unsafe { libc::ioctl(fd, nr, buf.as_mut_ptr()) }
            }
            Ioctl::DeviceGetIrqInfo(i) => {
                // SAFETY: `i` is a valid, exclusively borrowed vfio_irq_info with
                // argsz set.
                unsafe { libc::ioctl(fd, nr, std::ptr::from_mut(i)) }
            }
            Ioctl::DeviceSetIrqs(s) => {
                // SAFETY: `s` is a vfio_irq_set with one eventfd, argsz = 24,
                // borrowed for the call; the kernel only reads it.
                unsafe { libc::ioctl(fd, nr, std::ptr::from_ref(s)) }
            }
            Ioctl::IommuMapDma(m) => {
                // SAFETY: `m` is a valid vfio_iommu_type1_dma_map the kernel only
                // reads; the caller of `LinuxHost::map_dma` vouched for the
                // mapped range.
                unsafe { libc::ioctl(fd, nr, std::ptr::from_ref(m)) }
            }
            Ioctl::IommuUnmapDma(u) => {
                // SAFETY: `u` is a valid, exclusively borrowed
                // vfio_iommu_type1_dma_unmap with argsz set.
                unsafe { libc::ioctl(fd, nr, std::ptr::from_mut(u)) }
            }
        };
        check(r)
    }

    fn pread(&self, fd: Fd, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let off = libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        check_size(unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), off) })
    }

    fn pwrite(&self, fd: Fd, buf: &[u8], offset: u64) -> io::Result<usize> {
        let off = libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
        check_size(unsafe { libc::pwrite(fd, buf.as_ptr().cast(), buf.len(), off) })
    }

    fn eventfd(&self) -> io::Result<Fd> {
        // SAFETY: eventfd takes no pointers.
        check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })
    }

    fn eventfd_read(&self, fd: Fd) -> io::Result<u64> {
        let mut v = [0u8; 8];
        // SAFETY: `v` is valid for writes of 8 bytes.
        let r = unsafe { libc::read(fd, v.as_mut_ptr().cast(), v.len()) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(0)
            } else {
                Err(e)
            };
        }
        Ok(u64::from_ne_bytes(v))
    }

    fn eventfd_write(&self, fd: Fd, v: u64) -> io::Result<()> {
        let b = v.to_ne_bytes();
        // SAFETY: `b` is valid for reads of 8 bytes.
        check_size(unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) }).map(|_| ())
    }

    fn poll(&self, fds: &[Fd], timeout: Option<Duration>) -> io::Result<u64> {
        let mut p: Vec<libc::pollfd> = fds
            .iter()
            .map(|&fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = timeout.map_or(-1, |t| libc::c_int::try_from(t.as_millis()).unwrap_or(libc::c_int::MAX));
        let n = libc::nfds_t::try_from(p.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `p` is valid for reads and writes of `n` pollfd entries.
        check(unsafe { libc::poll(p.as_mut_ptr(), n, ms) })?;
        Ok(p.iter()
            .enumerate()
            .filter(|(_, q)| q.revents & libc::POLLIN != 0)
            .fold(0u64, |m, (i, _)| m | (1u64 << (i & 63))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventfd_signal_is_seen_by_poll_and_read_once() {
        let k = SysKernel;
        let a = k.eventfd().unwrap();
        let b = k.eventfd().unwrap();
        assert_eq!(k.poll(&[a, b], Some(Duration::from_millis(1))).unwrap(), 0);
        k.eventfd_write(b, 1).unwrap();
        assert_eq!(k.poll(&[a, b], Some(Duration::from_secs(1))).unwrap(), 0b10);
        assert_eq!(k.eventfd_read(b).unwrap(), 1);
        assert_eq!(k.eventfd_read(b).unwrap(), 0);
        k.close(a);
        k.close(b);
    }

    #[test]
    fn open_missing_container_fails_with_enoent() {
        let e = SysKernel.open(Path::new("/nonexistent/vfio/vfio")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }
}
