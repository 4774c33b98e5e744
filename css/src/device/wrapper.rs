//! Wrapping a device: a type that holds a device and watches or changes a
//! few of its methods (a fuzz harness counting CCWs, a probe checking
//! writes, a guard checking stores, a host gate) and passes everything
//! else on. [`DeviceWrapper`] has every [`Device`] and
//! [`zcss_ccw::CcwDevice`] method, each passing on to the wrapped device
//! unless the wrapper overrides it; [`device_wrapper!`](crate::device_wrapper)
//! makes the wrapper a device. A method added to [`Device`] is added here
//! once and reaches every wrapper — none forgets it.

use zcss_ccw::memory::GuestMemory;
use zcss_ccw::{Ccw, CcwDevice, DataStream, DeviceResult, ProgramEnd};

use super::{Device, DeviceInfo, SubchannelHandle};
use crate::{DeviceState, DeviceStateError, NotifyResult};

/// A device around a device: override what changes, the rest passes on
/// to [`DeviceWrapper::inner_mut`]. Implement it, then invoke
/// [`device_wrapper!`](crate::device_wrapper) for the type.
pub trait DeviceWrapper: Send + 'static {
    /// The wrapped device's type (`dyn Device` for a boxed one).
    type Inner: Device + ?Sized;

    /// The wrapped device.
    fn inner(&self) -> &Self::Inner;

    /// The wrapped device, mutably.
    fn inner_mut(&mut self) -> &mut Self::Inner;

    /// [`zcss_ccw::CcwDevice::program_start`].
    fn program_start(&mut self, lpum: u8) {
        CcwDevice::program_start(self.inner_mut(), lpum);
    }

    /// [`zcss_ccw::CcwDevice::execute`].
    fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
        CcwDevice::execute(self.inner_mut(), ccw, data)
    }

    /// [`zcss_ccw::CcwDevice::program_end`].
    fn program_end(&mut self, how: ProgramEnd) {
        CcwDevice::program_end(self.inner_mut(), how);
    }

    /// [`Device::info`].
    fn info(&self) -> DeviceInfo {
        self.inner().info()
    }

    /// [`Device::attached`].
    fn attached(&mut self, handle: SubchannelHandle) {
        self.inner_mut().attached(handle);
    }

    /// [`Device::subchannel_reset`].
    fn subchannel_reset(&mut self) {
        self.inner_mut().subchannel_reset();
    }

    /// [`Device::subchannel_disabled`].
    fn subchannel_disabled(&mut self) {
        self.inner_mut().subchannel_disabled();
    }

    /// [`Device::io_system_reset`].
    fn io_system_reset(&mut self) {
        self.inner_mut().io_system_reset();
    }

    /// [`Device::save_state`].
    ///
    /// # Errors
    /// As the wrapped device's.
    fn save_state(&mut self) -> Result<DeviceState, DeviceStateError> {
        self.inner_mut().save_state()
    }

    /// [`Device::restore_state`].
    ///
    /// # Errors
    /// As the wrapped device's.
    fn restore_state(&mut self, state: &DeviceState) -> Result<(), DeviceStateError> {
        self.inner_mut().restore_state(state)
    }

    /// [`Device::notify`].
    fn notify(&mut self, mem: &dyn GuestMemory, queue: u64, cookie: u64) -> Option<NotifyResult> {
        self.inner_mut().notify(mem, queue, cookie)
    }

    /// [`Device::host_input`].
    fn host_input(&mut self, mem: &dyn GuestMemory, data: &[u8]) -> bool {
        self.inner_mut().host_input(mem, data)
    }
}

/// Makes a [`DeviceWrapper`] a [`Device`](crate::Device): every method of
/// `CcwDevice` and `Device` goes to the wrapper's (which passes on what it
/// does not override).
///
/// ```
/// use zcss_ccw::CcwDevice;
/// use zcss_css::device::DeviceWrapper;
/// use zcss_css::{device_wrapper, Device};
/// use zcss_css::mock::MockDevice;
///
/// /// Counts program starts, changes nothing.
/// struct Starts(MockDevice, u32);
///
/// impl DeviceWrapper for Starts {
///     type Inner = MockDevice;
///     fn inner(&self) -> &MockDevice { &self.0 }
///     fn inner_mut(&mut self) -> &mut MockDevice { &mut self.0 }
///     fn program_start(&mut self, lpum: u8) {
///         self.1 += 1;
///         self.0.program_start(lpum);
///     }
/// }
/// device_wrapper!(Starts);
///
/// let d: Box<dyn Device> = Box::new(Starts(MockDevice::new(0x3832, 1), 0));
/// assert_eq!(d.info().cu_type, 0x3832);
/// ```
#[macro_export]
macro_rules! device_wrapper {
    ($t:ty) => {
        impl $crate::device::wrapped::CcwDevice for $t {
            fn program_start(&mut self, lpum: u8) {
                $crate::device::DeviceWrapper::program_start(self, lpum);
            }

            fn execute(
                &mut self,
                ccw: &$crate::device::wrapped::Ccw,
                data: &mut $crate::device::wrapped::DataStream<'_>,
            ) -> $crate::device::wrapped::DeviceResult {
                $crate::device::DeviceWrapper::execute(self, ccw, data)
            }

            fn program_end(&mut self, how: $crate::device::wrapped::ProgramEnd) {
                $crate::device::DeviceWrapper::program_end(self, how);
            }
        }

        impl $crate::Device for $t {
            fn info(&self) -> $crate::DeviceInfo {
                $crate::device::DeviceWrapper::info(self)
            }

            fn attached(&mut self, handle: $crate::SubchannelHandle) {
                $crate::device::DeviceWrapper::attached(self, handle);
            }

            fn subchannel_reset(&mut self) {
                $crate::device::DeviceWrapper::subchannel_reset(self);
            }

            fn subchannel_disabled(&mut self) {
                $crate::device::DeviceWrapper::subchannel_disabled(self);
            }

            fn io_system_reset(&mut self) {
                $crate::device::DeviceWrapper::io_system_reset(self);
            }

            fn save_state(&mut self) -> Result<$crate::DeviceState, $crate::DeviceStateError> {
                $crate::device::DeviceWrapper::save_state(self)
            }

            fn restore_state(&mut self, state: &$crate::DeviceState) -> Result<(), $crate::DeviceStateError> {
                $crate::device::DeviceWrapper::restore_state(self, state)
            }

            fn notify(
                &mut self,
                mem: &dyn $crate::device::wrapped::GuestMemory,
                queue: u64,
                cookie: u64,
            ) -> Option<$crate::NotifyResult> {
                $crate::device::DeviceWrapper::notify(self, mem, queue, cookie)
            }

            fn host_input(&mut self, mem: &dyn $crate::device::wrapped::GuestMemory, data: &[u8]) -> bool {
                $crate::device::DeviceWrapper::host_input(self, mem, data)
            }
        }
    };
}

/// The names [`device_wrapper!`](crate::device_wrapper) expands to.
#[doc(hidden)]
pub mod wrapped {
    pub use zcss_ccw::memory::GuestMemory;
    pub use zcss_ccw::{Ccw, CcwDevice, DataStream, DeviceResult, ProgramEnd};
}
