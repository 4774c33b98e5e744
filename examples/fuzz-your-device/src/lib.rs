//! An example device model outside the zcss crates: a one-record "echo"
//! control unit. Commands are decoded by type, as most control units do
//! (PoO chapter 15, "Command Code"): a write-type command (low bits `01`)
//! keeps the data it is sent as the record, a read-type command (`10`)
//! gives the record back, SENSE ID (0xe4) identifies the device, any other
//! control command (`11`) does nothing, and everything else is rejected
//! with unit check (sense byte 0 bit 0, command reject).
//!
//! With the feature `planted-bug`, a write-type command reads its data into
//! a fixed 256-byte buffer sliced by the CCW's count — a count above 256
//! panics. `fuzz/fuzz_targets/your_device.rs` finds it through the
//! `zcss_css::fuzz` harness (README: "Fuzzing your device").
#![deny(missing_docs)]

use zcss_ccw::senseid::SenseId;
use zcss_ccw::{Ccw, CcwDevice, DataStream, DeviceResult, Sense};
use zcss_css::{Device, DeviceInfo};

/// Command code of SENSE ID.
pub const CMD_SENSE_ID: u8 = 0xe4;

/// The echo device.
#[derive(Debug, Default)]
pub struct Echo {
    record: Vec<u8>,
}

impl Echo {
    /// Takes the data of a write-type command as the new record.
    fn write(&mut self, data: &mut DataStream<'_>) {
        #[cfg(feature = "planted-bug")]
        {
            let mut buf = [0u8; 256];
            let n = data.read(&mut buf[..usize::from(data.count())]);
            self.record = buf[..n].to_vec();
        }
        #[cfg(not(feature = "planted-bug"))]
        {
            let mut buf = vec![0u8; usize::from(data.count())];
            let n = data.read(&mut buf);
            buf.truncate(n);
            self.record = buf;
        }
    }
}

impl CcwDevice for Echo {
    fn execute(&mut self, ccw: &Ccw, data: &mut DataStream<'_>) -> DeviceResult {
        match ccw.cmd {
            CMD_SENSE_ID => {
                let (b, n) = SenseId::new(0x3480, 1, 0x3480, 1).encode();
                data.write(&b[..n]);
            }
            c if c & 3 == 1 => self.write(data),
            c if c & 3 == 2 => {
                data.write(&self.record);
            }
            c if c & 3 == 3 => {}
            _ => return DeviceResult::unit_check(Sense::byte0(0x80)),
        }
        DeviceResult::OK
    }
}

impl Device for Echo {
    fn info(&self) -> DeviceInfo {
        DeviceInfo::virtual_device(0x3480, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zcss_ccw::{CcwFlags, CcwFormat, VecMemory};

    fn run(echo: &mut Echo, mem: &VecMemory, cmd: u8, count: u16) -> DeviceResult {
        let ccw = Ccw {
            cmd,
            flags: CcwFlags::new().with_sli(true),
            count,
            cda: 0x1000,
        };
        let mut ds = DataStream::direct(mem, CcwFormat::Format1, zcss_ccw::AccessKey::ZERO, ccw);
        echo.execute(&ccw, &mut ds)
    }

    #[test]
    fn read_after_write_returns_the_record() {
        let mem = VecMemory::new(0x4000);
        mem.store(0x1000, b"hello").unwrap();
        let mut echo = Echo::default();
        assert_eq!(run(&mut echo, &mem, 0x01, 5), DeviceResult::OK);
        mem.store(0x1000, &[0; 5]).unwrap();
        assert_eq!(run(&mut echo, &mem, 0x02, 5), DeviceResult::OK);
        assert_eq!(mem.fetch(0x1000, 5).unwrap(), b"hello");
    }
}
