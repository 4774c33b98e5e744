//! The machine a trace describes, as configuration: its `machine` and
//! `device` statements read into [`MachineConfig`], and the `machine`
//! statement written back from it (the recorder's header). Building the
//! machine is [`super::Machine`]'s.

use crate::trace::{DeviceStmt, MachineKey, Num, Statement, Trace};

/// Default guest storage: 16 MiB.
pub const DEFAULT_MEMORY: u64 = 16 << 20;
/// Largest guest storage a trace may ask for: 4 GiB.
pub const MAX_MEMORY: u64 = 4 << 30;
/// Smallest guest storage: one 4K frame (the prefix area lives there).
pub const MIN_MEMORY: u64 = 4096;

/// The machine a trace describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineConfig {
    /// Guest storage size in bytes.
    pub memory: u64,
    /// MCSS-E enabled from the start.
    pub mcss: bool,
    /// Multiple subchannel sets enabled from the start.
    pub mss: bool,
    /// The default css image.
    pub default_css: u8,
    /// css remapping of passthrough devices (`map-css`).
    pub map_css: bool,
    /// Let guest writes reach DASD image files (`zcss replay
    /// --write-images`); otherwise they stay in an in-memory overlay. Not
    /// part of a trace.
    pub write_images: bool,
    /// The bound on a looping channel program without data transfer
    /// (`ccw-loop-limit=`; `None`: the css default, 1024).
    pub ccw_loop_limit: Option<u32>,
    /// `ccw-limit=<n>`: the most CCWs per start or resume of a looping
    /// program (`None`: the library's default).
    pub ccw_limit: Option<u32>,
    /// `storage-keys=on`: guest storage with storage keys.
    pub storage_keys: bool,
    /// The devices, with the line of their statement (0 if not from a file).
    pub devices: Vec<(usize, DeviceStmt)>,
    /// The line of the `machine` statement (0 if none or not from a file).
    pub line: usize,
}

impl Default for MachineConfig {
    fn default() -> Self {
        Self {
            memory: DEFAULT_MEMORY,
            mcss: false,
            mss: false,
            default_css: 0xfe,
            map_css: true,
            write_images: false,
            ccw_loop_limit: None,
            ccw_limit: None,
            storage_keys: false,
            devices: Vec::new(),
            line: 0,
        }
    }
}

impl MachineConfig {
    /// The configuration a trace's `machine` and `device` statements give
    /// (the devices before the first instruction; later ones are hot plugs).
    #[must_use]
    pub fn from_trace(trace: &Trace) -> Self {
        let mut cfg = Self {
            line: trace.machine_statement().map_or(0, |(n, _)| n),
            ..Self::default()
        };
        for k in trace.machine_keys() {
            match *k {
                MachineKey::Memory(n) => cfg.memory = n.value,
                MachineKey::Mcss(b) => cfg.mcss = b,
                MachineKey::Mss(b) => cfg.mss = b,
                MachineKey::DefaultCss(n) => cfg.default_css = u8::try_from(n.value).unwrap_or(0xfe),
                MachineKey::MapCss(b) => cfg.map_css = b,
                MachineKey::CcwLoopLimit(n) => cfg.ccw_loop_limit = u32::try_from(n.value).ok(),
                MachineKey::CcwLimit(n) => cfg.ccw_limit = u32::try_from(n.value).ok(),
                MachineKey::StorageKeys(b) => cfg.storage_keys = b,
            }
        }
        cfg.devices = trace.initial_devices().map(|(n, d)| (n, d.clone())).collect();
        cfg
    }

    /// Warnings about the configuration, with the line of the statement:
    /// a device in a css image other than the default while MCSS-E is off
    /// is invisible to the guest until it enables MCSS-E (CHSC SDA).
    #[must_use]
    pub fn warnings(&self) -> Vec<(usize, String)> {
        if self.mcss {
            return Vec::new();
        }
        self.devices
            .iter()
            .filter(|(_, d)| d.sch.cssid != self.default_css)
            .map(|(line, d)| {
                (
                    *line,
                    format!(
                        "device {} (devno {:04x}) is in css {:x}, not the default css {:x}: with mcss=off a guest without MCSS-E cannot see it",
                        d.sch, d.devno, d.sch.cssid, self.default_css
                    ),
                )
            })
            .collect()
    }

    /// The `machine` statement for this configuration (the storage size and
    /// the keys that differ from their defaults).
    #[must_use]
    pub fn machine_statement(&self) -> Statement {
        let d = Self::default();
        let mut keys = vec![MachineKey::Memory(Num::hex(self.memory))];
        if self.mcss {
            keys.push(MachineKey::Mcss(true));
        }
        if self.mss {
            keys.push(MachineKey::Mss(true));
        }
        if self.default_css != d.default_css {
            keys.push(MachineKey::DefaultCss(Num::bare_hex(u64::from(self.default_css), 2)));
        }
        // Said whenever it matters: with a passthrough device, or off.
        if self.map_css != d.map_css || self.devices.iter().any(|(_, d)| d.kind.is_passthrough()) {
            keys.push(MachineKey::MapCss(self.map_css));
        }
        if let Some(n) = self.ccw_loop_limit {
            keys.push(MachineKey::CcwLoopLimit(Num::dec(u64::from(n))));
        }
        if let Some(n) = self.ccw_limit {
            keys.push(MachineKey::CcwLimit(Num::dec(u64::from(n))));
        }
        if self.storage_keys {
            keys.push(MachineKey::StorageKeys(true));
        }
        Statement::Machine(keys)
    }
}
