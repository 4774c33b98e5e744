//! A machine built from a trace's `machine` and `device` statements: guest
//! storage, a channel subsystem and its devices, and the dispatch of trace
//! instructions to the css.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use zcss_ccw::memory::{GuestMemory, VecMemory};
use zcss_ccw::sid::SubchannelId;
use zcss_css::measurement::StepClock;
use zcss_css::{ChannelPaths, Css, CssConfig, Device, IoCtx};
use zcss_virtio_ccw::{Block, BlockBackend, Console, ConsoleInput, IoIdle, IoThreadDevice, Rng, VirtioCcwDevice};

use zcss_vfio_ccw::SimHost;

use crate::trace::ast::trace_program_check;
use crate::trace::record::Recorder;
use crate::trace::{DeviceKind, DeviceStmt, Insn, Outcome, SchAddr, Trace, TIMING_KEY};

pub mod config;
pub mod dasd;
pub mod snapshot;

pub use config::{MachineConfig, DEFAULT_MEMORY, MAX_MEMORY, MIN_MEMORY};

/// Default virtio-blk capacity: 1 MiB.
pub const DEFAULT_BLK_SIZE: u64 = 1 << 20;
/// Largest in-memory virtio-blk disk: 1 GiB.
pub const MAX_BLK_SIZE: u64 = 1 << 30;

/// Why a machine cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// Storage size out of range.
    #[error("memory={0} is out of range (4 KiB to 4 GiB)")]
    MemorySize(u64),
    /// A device kind this build has no model for.
    #[error("device kind `{0}` is not available in this build")]
    KindNotAvailable(&'static str),
    /// A virtio-blk size that is no multiple of 512 or too large.
    #[error("virtio-blk size={0} must be a multiple of 512 between 512 and 1 GiB")]
    BlkSize(u64),
    /// A virtio-blk image larger than `size=`.
    #[error("virtio-blk image {path} ({len} bytes) is larger than size={size}")]
    ImageTooLarge {
        /// The image.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The `size=` given.
        size: u64,
    },
    /// An image file could not be read.
    #[error("cannot read image {path}: {source}")]
    Image {
        /// The image.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key value the builder cannot use.
    #[error("bad value `{value}` for `{key}`")]
    BadValue {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// The css refused the device.
    #[error("cannot attach the device: {0}")]
    Attach(#[from] zcss_css::CssError),
    /// A DASD with both `image=` and `cylinders=`.
    #[error("`image=` and `cylinders=` exclude each other")]
    ImageAndCylinders,
    /// A `cylinders=` the model cannot have.
    #[error("cylinders={cylinders}: a {model} has 1 to {} cylinders", model.cylinders() + model.alternate_cylinders())]
    Cylinders {
        /// The count given.
        cylinders: u64,
        /// The model.
        model: zcss_dasd::Model,
    },
    /// A DASD image that cannot be used (unreadable, not an image, or of
    /// another geometry than the model).
    #[error("DASD image {0}")]
    DasdImage(#[source] Box<zcss_dasd::ImageError>),
    /// A passthrough device named by a `device` statement after the first
    /// instruction.
    #[error("a {0} cannot be hot-plugged")]
    HotPlugPassthrough(&'static str),
    /// A `vfio-dasd` without `host=`.
    #[error("a vfio-dasd needs host=<subchannel>")]
    MissingHost,
    /// A passthrough device whose subchannel is not where `map-css` puts
    /// it.
    #[error(
        "with map-css={} the device of host subchannel {host} appears in css {cssid:x}, subchannel set {}: \
         write its subchannel as {cssid:x}.{}.<schno>, not {sch}",
        if *map_css { "on" } else { "off" },
        host.ssid,
        host.ssid
    )]
    Placement {
        /// The subchannel the statement gives.
        sch: SchAddr,
        /// The host subchannel.
        host: SchAddr,
        /// The `map-css` setting.
        map_css: bool,
        /// The css image the device appears in.
        cssid: u8,
    },
    /// The simulated host refused the device.
    #[error("simulated host: {0}")]
    Host(#[source] Box<zcss_vfio_ccw::SimError>),
    /// The passthrough device could not be placed.
    #[error("{0}")]
    Remap(#[source] Box<zcss_vfio_ccw::RemapError>),
}

impl MachineError {
    /// Whether this is an I/O error (a file), as opposed to a trace the
    /// build cannot run.
    #[must_use]
    pub fn is_io(&self) -> bool {
        match self {
            Self::Image { .. } => true,
            Self::DasdImage(e) => !matches!(**e, zcss_dasd::ImageError::Geometry { .. }),
            _ => false,
        }
    }
}

/// A deterministic entropy stream (xorshift64*), so that replayed
/// virtio-rng reads give the bytes they gave when recorded with it. Its
/// position is shared ([`DeterministicEntropy::position`]) so that a
/// machine snapshot can carry it.
#[derive(Debug)]
pub struct DeterministicEntropy(Arc<AtomicU64>);

impl Default for DeterministicEntropy {
    fn default() -> Self {
        Self(Arc::new(AtomicU64::new(0x9e37_79b9_7f4a_7c15)))
    }
}

impl DeterministicEntropy {
    /// The stream's state, shared with the stream.
    #[must_use]
    pub fn position(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.0)
    }
}

impl Read for DeterministicEntropy {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut x = self.0.load(Ordering::Relaxed);
        for chunk in buf.chunks_mut(8) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let v = x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_be_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        self.0.store(x, Ordering::Relaxed);
        Ok(buf.len())
    }
}

/// A built machine: storage, channel subsystem, devices.
pub struct Machine {
    /// Guest storage.
    pub mem: Arc<VecMemory>,
    /// What the css and devices access storage through (the storage itself,
    /// or a recorder's wrapper around it).
    pub io_mem: Arc<dyn GuestMemory>,
    /// The channel subsystem.
    pub css: Css,
    /// The configuration it was built from.
    pub config: MachineConfig,
    /// What guests wrote to virtio consoles.
    pub console_output: Arc<Mutex<Vec<u8>>>,
    /// The simulated host of the passthrough devices (`vfio-dasd`), if any.
    /// Declared after `css`, so the guest's devices go first.
    sim_host: Option<SimHost>,
    /// The css's clock (a snapshot saves its position).
    clock: Arc<StepClock>,
    /// The positions of the virtio-rng entropy streams, in device order.
    entropy: Vec<Arc<AtomicU64>>,
    /// The I/O threads of `io=async` devices.
    io_threads: Vec<IoIdle>,
    /// Guest storage for the I/O threads of devices plugged later.
    dma: Arc<dyn GuestMemory>,
}

/// What [`Machine::device`] gives devices and collects from them.
struct Parts<'a> {
    console: &'a Arc<Mutex<Vec<u8>>>,
    entropy: &'a mut Vec<Arc<AtomicU64>>,
    io_threads: &'a mut Vec<IoIdle>,
    /// Guest storage for an I/O thread.
    dma: Arc<dyn GuestMemory>,
}

/// The device key choosing where a virtio-blk processes its requests
/// (`io=sync`, the default: on the notifying CPU; `io=async`: on an I/O
/// thread of its own).
pub const IO_KEY: &str = "io";

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A `Write` into a shared buffer.
struct SharedSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut v = self.0.lock();
        // Bounded: a guest cannot grow host memory without limit.
        let room = (1usize << 20).saturating_sub(v.len());
        v.extend_from_slice(&buf[..buf.len().min(room)]);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn sid_of(s: SchAddr) -> SubchannelId {
    SubchannelId {
        cssid: s.cssid,
        ssid: s.ssid & 3,
        schno: s.schno,
    }
}

impl Machine {
    /// Builds the machine of `trace`; image paths are relative to `base`.
    ///
    /// # Errors
    /// The line of the statement that cannot be built, and why.
    pub fn from_trace(trace: &Trace, base: &Path) -> Result<Self, (usize, MachineError)> {
        Self::build(&MachineConfig::from_trace(trace), base, None)
    }

    /// Builds a machine. With a `recorder`, the css reports to it (every
    /// instruction, DIAG 0x500 included), and the storage the css and the
    /// devices use is logged into it too ([`Recorder::wrap_memory`]).
    ///
    /// The css reads a deterministic clock
    /// ([`StepClock::replay`](zcss_css::measurement::StepClock::replay)), so
    /// that the timing facility of `timing=on` devices stores the same times
    /// on every run; an embedder that wants host time sets
    /// [`Css::set_clock`] after the build.
    ///
    /// # Errors
    /// The line of the statement that cannot be built, and why.
    pub fn build(
        cfg: &MachineConfig,
        base: &Path,
        recorder: Option<&Arc<Recorder>>,
    ) -> Result<Self, (usize, MachineError)> {
        if !(MIN_MEMORY..=MAX_MEMORY).contains(&cfg.memory) {
            return Err((cfg.line, MachineError::MemorySize(cfg.memory)));
        }
        for (line, w) in cfg.warnings() {
            tracing::warn!(line, "{w}");
        }
        let mem = Arc::new(if cfg.storage_keys {
            VecMemory::with_storage_keys(cfg.memory)
        } else {
            VecMemory::new(cfg.memory)
        });
        let io_mem: Arc<dyn GuestMemory> = match recorder {
            Some(r) => r.wrap_memory(mem.clone()),
            None => mem.clone(),
        };
        let css = Css::new(CssConfig {
            default_cssid: cfg.default_css,
            mcss: cfg.mcss,
            mss: cfg.mss,
            limits: zcss_ccw::Limits {
                max_idle_ccws: cfg.ccw_loop_limit.unwrap_or(zcss_ccw::Limits::default().max_idle_ccws),
                max_ccws: cfg.ccw_limit.unwrap_or(zcss_ccw::Limits::default().max_ccws),
            },
        });
        let clock = Arc::new(StepClock::replay());
        css.set_clock(clock.clone());
        let mut entropy = Vec::new();
        let mut io_threads = Vec::new();
        let console_output = Arc::new(Mutex::new(Vec::new()));
        let mut sim_host: Option<SimHost> = None;
        // An `io=async` device's I/O thread writes guest storage while the
        // guest goes on: a recording writes it with the `wait`.
        let dma: Arc<dyn GuestMemory> = match recorder {
            Some(r) => r.wrap_async_memory(mem.clone()),
            None => mem.clone(),
        };
        for (line, d) in &cfg.devices {
            let sid = sid_of(d.sch);
            if d.kind.is_passthrough() {
                // The host's paths (`chpids=`) reach the guest through the
                // passthrough device.
                let host = sim_host.get_or_insert_with(SimHost::new);
                // The host's DMA into guest storage happens while the guest
                // goes on: a recording writes it with the `wait`.
                let dma = match recorder {
                    Some(r) => r.wrap_async_memory(mem.clone()),
                    None => mem.clone(),
                };
                dasd::attach_vfio_dasd(&css, host, d, cfg, base, dma).map_err(|e| (*line, e))?;
            } else {
                let parts = Parts {
                    console: &console_output,
                    entropy: &mut entropy,
                    io_threads: &mut io_threads,
                    dma: dma.clone(),
                };
                Self::plug(&css, d, base, parts, cfg.write_images, false).map_err(|e| (*line, e))?;
            }
            if timing(d).map_err(|e| (*line, e))? {
                css.set_timing_facility(sid, true).map_err(|e| (*line, e.into()))?;
            }
        }
        if let Some(r) = recorder {
            css.set_observer(Some(r.clone() as Arc<dyn zcss_css::Observer>));
        }
        Ok(Self {
            mem,
            io_mem,
            css,
            config: cfg.clone(),
            console_output,
            sim_host,
            clock,
            entropy,
            io_threads,
            dma,
        })
    }

    /// Builds and attaches an interpreted device (`hot`: with the channel
    /// report of a hot plug), with the paths of `chpids=`.
    fn plug(
        css: &Css,
        d: &DeviceStmt,
        base: &Path,
        parts: Parts<'_>,
        write_images: bool,
        hot: bool,
    ) -> Result<(), MachineError> {
        let sid = sid_of(d.sch);
        let dev = Self::device(d, base, parts, write_images)?;
        let path_type = dev.info().paths.first_type();
        if hot {
            css.attach(sid, d.devno, dev)?;
        } else {
            css.attach_cold(sid, d.devno, dev)?;
        }
        if let Some(chpids) = d.chpids() {
            // `chpids=` names the paths; they keep the device's path type.
            let paths = ChannelPaths::with_chpids(&chpids, path_type).map_err(|e| MachineError::BadValue {
                key: "chpids".into(),
                value: e.to_string(),
            })?;
            css.set_paths(sid, paths)?;
        }
        Ok(())
    }

    /// Hot-plugs the device of a `device` statement after the first
    /// instruction ([`Css::attach`]: the subchannel becomes valid and a
    /// channel report is queued). Image paths are relative to `base`.
    ///
    /// # Errors
    /// The device cannot be built or attached; a passthrough device cannot
    /// be hot-plugged.
    pub fn hot_plug(&mut self, d: &DeviceStmt, base: &Path) -> Result<(), MachineError> {
        if d.kind.is_passthrough() {
            return Err(MachineError::HotPlugPassthrough(d.kind.name()));
        }
        let parts = Parts {
            console: &self.console_output,
            entropy: &mut self.entropy,
            io_threads: &mut self.io_threads,
            dma: self.dma.clone(),
        };
        Self::plug(&self.css, d, base, parts, self.config.write_images, true)?;
        if timing(d)? {
            self.css.set_timing_facility(sid_of(d.sch), true)?;
        }
        self.config.devices.push((0, d.clone()));
        Ok(())
    }

    /// Hot-unplugs the device of `sch` (the trace statement `detach`).
    ///
    /// # Errors
    /// No device there.
    pub fn detach(&mut self, sch: SchAddr) -> Result<(), MachineError> {
        self.css.detach(sid_of(sch))?;
        self.config.devices.retain(|(_, d)| d.sch != sch);
        Ok(())
    }

    /// The I/O-system reset (the trace statement `reset`).
    pub fn reset(&self) {
        self.css.reset();
    }

    /// Delivers console input to the virtio-console at `sch` (the trace
    /// statement `console-input`).
    ///
    /// # Errors
    /// No device there, or one that takes no input.
    pub fn console_input(&self, sch: SchAddr, data: &[u8]) -> Result<(), MachineError> {
        self.css.device_input(sid_of(sch), &*self.io_mem, data)?;
        Ok(())
    }

    /// Unsolicited status from the device at `sch` (the trace statement
    /// `unsolicited`); presented only if the subchannel is enabled, idle
    /// and not status pending, as the device's own would be.
    ///
    /// # Errors
    /// No interpreted device at `sch`.
    pub fn unsolicited(&self, sch: SchAddr, dstat: u8, sense: Option<&[u8]>) -> Result<(), MachineError> {
        let sense = sense.map(zcss_ccw::device::Sense::from_slice);
        self.css.unsolicited(
            sid_of(sch),
            zcss_ccw::status::DeviceStatus::from_bits(dstat),
            sense.as_ref(),
        )?;
        Ok(())
    }

    /// Sets the storage key of the 4K frame holding `addr` (the trace
    /// statement `skey`).
    ///
    /// # Errors
    /// The address is outside guest storage, or storage has no keys.
    pub fn set_storage_key(&self, addr: u64, key: u8) -> Result<(), zcss_ccw::AccessError> {
        if self
            .mem
            .set_storage_key(addr, zcss_ccw::memory::StorageKey::from_byte(key))
        {
            Ok(())
        } else {
            Err(zcss_ccw::AccessError::Addressing { addr })
        }
    }

    /// The interpreted device a trace's line `device … devno=<devno>
    /// <kind_and_keys>` describes — e.g. `virtio-blk size=65536` or
    /// `dasd-3390 cu=3990-3 cylinders=2` — built exactly as replay builds
    /// it (the device number matters to some kinds: a DASD's unit address,
    /// subsystem id and serial): a fuzz target whose findings print as
    /// traces tests the device its trace names. Image paths are relative
    /// to the current directory.
    ///
    /// # Errors
    /// A kind and keys the format refuses, a passthrough kind (it needs the
    /// simulated host of a machine), `io=async` (its I/O thread needs the
    /// machine's storage), or a device that cannot be built.
    pub fn interpreted_device(kind_and_keys: &str, devno: u16) -> Result<Box<dyn Device>, String> {
        let trace = Self::device_line(kind_and_keys, devno)?;
        let Some((_, d)) = trace.devices().next() else {
            return Err("no device".into());
        };
        if d.kind.is_passthrough() {
            return Err(format!("{}: a passthrough kind needs a machine", d.kind.name()));
        }
        if d.param(IO_KEY) == Some("async") {
            return Err("io=async needs the machine's storage".into());
        }
        let mut entropy = Vec::new();
        let mut io_threads = Vec::new();
        let parts = Parts {
            console: &Arc::new(Mutex::new(Vec::new())),
            entropy: &mut entropy,
            io_threads: &mut io_threads,
            dma: Arc::new(VecMemory::new(MIN_MEMORY)),
        };
        Self::device(d, Path::new("."), parts, false).map_err(|e| e.to_string())
    }

    /// The passthrough device a trace's `vfio-dasd` line describes — its
    /// kind and keys, e.g. `vfio-dasd host=0.0.0001 cylinders=1` — with
    /// its 3390 placed on `host` and opened on `guest` storage, built as
    /// replay builds it: for a fuzz target that runs passthrough devices
    /// through the harness (the devices of one machine share one host).
    /// The device number is the subchannel number of `host=`.
    ///
    /// # Errors
    /// Not a passthrough kind, keys the format refuses, or a DASD or host
    /// that cannot be set up.
    pub fn passthrough_device(
        kind_and_keys: &str,
        host: &SimHost,
        guest: Arc<dyn GuestMemory>,
    ) -> Result<Box<dyn zcss_css::PassthroughDevice>, String> {
        let trace = Self::device_line(kind_and_keys, 0)?;
        let Some((_, d)) = trace.devices().next() else {
            return Err("no device".into());
        };
        if !d.kind.is_passthrough() {
            return Err(format!("{}: not a passthrough kind", d.kind.name()));
        }
        let mut d = d.clone();
        if let Some(h) = d.param("host").and_then(|h| h.parse::<SubchannelId>().ok()) {
            d.devno = h.schno;
        }
        dasd::vfio_dasd(host, &d, Path::new("."), false, guest)
            .map(|v| Box::new(v) as Box<dyn zcss_css::PassthroughDevice>)
            .map_err(|e| e.to_string())
    }

    /// The DASD a trace's line `device … devno=<devno> <kind_and_keys>`
    /// describes (kind `dasd-3390`, e.g. `dasd-3390 cu=3990-3
    /// cylinders=2`), built exactly as replay builds it — the device
    /// number gives the unit address, subsystem id and serial its
    /// identifying data reports. For a fuzz target that observes the
    /// device itself (`zcss_dasd::fuzzing::Probed`) and prints its
    /// findings as traces. Image paths are relative to the current
    /// directory.
    ///
    /// # Errors
    /// A kind and keys the format refuses, another kind, or a volume that
    /// cannot be built.
    pub fn dasd(kind_and_keys: &str, devno: u16) -> Result<zcss_dasd::Dasd, String> {
        let trace = Self::device_line(kind_and_keys, devno)?;
        let Some((_, d)) = trace.devices().next() else {
            return Err("no device".into());
        };
        if d.kind != DeviceKind::Dasd3390 {
            return Err(format!("{}: not a dasd-3390", d.kind.name()));
        }
        let spec = dasd::DasdSpec::from_statement(d, Path::new(".")).map_err(|e| e.to_string())?;
        spec.build(d.devno, None, false).map_err(|e| e.to_string())
    }

    /// A trace holding only the line `device fe.0.0000 devno=<devno> <kind_and_keys>`.
    fn device_line(kind_and_keys: &str, devno: u16) -> Result<Trace, String> {
        let text = format!("zcss-trace 1\ndevice fe.0.0000 devno={devno:04x} {kind_and_keys}\n");
        crate::trace::parse(&text).map_err(|e| e.to_string())
    }

    fn device(
        d: &DeviceStmt,
        base: &Path,
        parts: Parts<'_>,
        write_images: bool,
    ) -> Result<Box<dyn Device>, MachineError> {
        let io_async = match (d.param(IO_KEY), d.kind) {
            (None | Some("sync"), _) => false,
            (Some("async"), DeviceKind::VirtioBlk) => true,
            (Some(v), _) => {
                return Err(MachineError::BadValue {
                    key: IO_KEY.into(),
                    value: v.into(),
                })
            }
        };
        let backend: Box<dyn zcss_virtio_ccw::VirtioDevice> = match d.kind {
            DeviceKind::VirtioBlk => Box::new(Self::block(d, base)?),
            DeviceKind::VirtioRng => {
                let source = DeterministicEntropy::default();
                parts.entropy.push(source.position());
                Box::new(Rng::with_source(Some(Box::new(source))))
            }
            DeviceKind::VirtioConsole => Box::new(Console::new(
                Box::new(SharedSink(parts.console.clone())),
                ConsoleInput::default(),
            )),
            DeviceKind::Dasd3390 => {
                let spec = dasd::DasdSpec::from_statement(d, base)?;
                return Ok(Box::new(spec.build(d.devno, None, write_images)?));
            }
            DeviceKind::VfioDasd => return Err(MachineError::KindNotAvailable(d.kind.name())),
            DeviceKind::Mock => return Ok(Box::new(Self::mock(d))),
        };
        let dev = VirtioCcwDevice::new(backend);
        if io_async {
            let t = IoThreadDevice::new(dev, parts.dma).map_err(|source| MachineError::Image {
                path: PathBuf::from("<I/O thread>"),
                source,
            })?;
            parts.io_threads.push(t.idle());
            return Ok(Box::new(t));
        }
        Ok(Box::new(dev))
    }

    /// The scriptable test device of a `mock` statement: control unit 3832
    /// model 1, its `replies=` installed.
    fn mock(d: &DeviceStmt) -> zcss_css::mock::MockDevice {
        use zcss_css::mock::MockReply as R;
        let dev = zcss_css::mock::MockDevice::new(0x3832, 1);
        let ctl = dev.control();
        let replies = d
            .param("replies")
            .and_then(|v| crate::trace::ast::parse_mock_replies(v).ok());
        for (cmd, r) in replies.unwrap_or_default() {
            ctl.set_reply(
                cmd,
                match r {
                    crate::trace::ast::MockReply::Busy => R::Busy,
                    crate::trace::ast::MockReply::UnitCheck(b) => R::UnitCheck(zcss_ccw::Sense::byte0(b)),
                    crate::trace::ast::MockReply::Status(b) => R::Status(zcss_ccw::DeviceStatus::from_bits(b)),
                },
            );
        }
        dev
    }

    fn block(d: &DeviceStmt, base: &Path) -> Result<Block, MachineError> {
        let size = match d.param("size") {
            Some(v) => {
                let n = parse_number(v).ok_or_else(|| MachineError::BadValue {
                    key: "size".into(),
                    value: v.into(),
                })?;
                if n == 0 || n % 512 != 0 || n > MAX_BLK_SIZE {
                    return Err(MachineError::BlkSize(n));
                }
                Some(n)
            }
            None => None,
        };
        let mut data = match d.param("image") {
            Some(p) => {
                let path = base.join(p);
                let io = |source| MachineError::Image {
                    path: path.clone(),
                    source,
                };
                // Only a regular file of bounded size: never read a device
                // node (`/dev/zero`) or a huge file into memory.
                let meta = std::fs::metadata(&path).map_err(io)?;
                if !meta.is_file() {
                    return Err(io(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "not a regular file",
                    )));
                }
                let limit = size.unwrap_or(MAX_BLK_SIZE);
                if meta.len() > limit {
                    return Err(MachineError::ImageTooLarge {
                        path,
                        len: meta.len(),
                        size: limit,
                    });
                }
                let mut bytes = Vec::new();
                std::fs::File::open(&path)
                    .and_then(|f| f.take(limit.saturating_add(1)).read_to_end(&mut bytes))
                    .map_err(io)?;
                if bytes.len() as u64 > limit {
                    return Err(MachineError::ImageTooLarge {
                        path,
                        len: bytes.len() as u64,
                        size: limit,
                    });
                }
                bytes
            }
            None => Vec::new(),
        };
        let size = size.unwrap_or(if data.is_empty() {
            DEFAULT_BLK_SIZE
        } else {
            (data.len() as u64).next_multiple_of(512)
        });
        // A zeroed allocation (pages the guest never writes stay untouched),
        // then the image.
        let mut disk = vec![0u8; usize::try_from(size).unwrap_or(0)];
        let n = data.len().min(disk.len());
        disk[..n].copy_from_slice(&data[..n]);
        data = disk;
        let readonly = d.param("readonly") == Some("on");
        Block::new(BlockBackend::Memory(data), readonly).map_err(|source| MachineError::Image {
            path: PathBuf::from("<memory>"),
            source,
        })
    }

    /// Executes one instruction with the operands the trace gives, in the
    /// supervisor state with PSW key 0 and prefix 0.
    pub fn execute(&self, insn: &Insn) -> Outcome {
        let ctx = IoCtx::new(&*self.io_mem);
        let w = |n: crate::trace::Num| self.operand_word(n);
        let cc = |r: zcss_css::InsnResult| match r {
            Ok(cc) => Outcome::Cc(cc.value()),
            Err(p) => Outcome::Pgm(trace_program_check(p)),
        };
        let ok = |r: Result<(), zcss_css::ProgramCheck>| match r {
            Ok(()) => Outcome::Ok,
            Err(p) => Outcome::Pgm(trace_program_check(p)),
        };
        match *insn {
            Insn::Ssch { gr1, orb } => cc(self.css.ssch(&ctx, w(gr1), orb.value)),
            Insn::Tsch { gr1, irb } => cc(self.css.tsch(&ctx, w(gr1), irb.value)),
            Insn::Stsch { gr1, schib } => cc(self.css.stsch(&ctx, w(gr1), schib.value)),
            Insn::Msch { gr1, schib } => cc(self.css.msch(&ctx, w(gr1), schib.value)),
            Insn::Csch { gr1 } => cc(self.css.csch(&ctx, w(gr1))),
            Insn::Hsch { gr1 } => cc(self.css.hsch(&ctx, w(gr1))),
            Insn::Xsch { gr1 } => cc(self.css.xsch(&ctx, w(gr1))),
            Insn::Rsch { gr1 } => cc(self.css.rsch(&ctx, w(gr1))),
            Insn::Ipl { gr1 } => match self.css.ipl(&ctx, w(gr1)) {
                Ok(zcss_css::IplOutcome::Loaded { .. }) => Outcome::Ok,
                Ok(_) => Outcome::Cc(3),
                Err(p) => Outcome::Pgm(trace_program_check(p)),
            },
            Insn::Rchp { gr1 } => cc(self.css.rchp(&ctx, w(gr1))),
            Insn::Sal { gr1 } => ok(self.css.sal(&ctx, w(gr1))),
            Insn::Schm { gr1, gr2 } => ok(self.css.schm(&ctx, w(gr1), gr2.value)),
            Insn::Tpi { addr, isc_mask } => {
                let mask = isc_mask.map_or(0xff, |m| u8::try_from(m.value).unwrap_or(0xff));
                cc(self.css.tpi(&ctx, addr.value, mask))
            }
            Insn::Stcrw { addr } => cc(self.css.stcrw(&ctx, addr.value)),
            Insn::Chsc { addr } => cc(self.css.chsc(&ctx, addr.value)),
            Insn::Sic { gr1, gr3 } => ok(self.css.sic(&ctx, gr1.value, gr3.value)),
            Insn::Diag500 { gr1, gr2, gr3, gr4 } => {
                let gr2 = match gr2.as_bus_id() {
                    Some(_) => u64::from(w(gr2)),
                    None => gr2.value,
                };
                match self.css.diag500(&ctx, gr1.value, gr2, gr3.value, gr4.value) {
                    Ok(v) => Outcome::Gr2(i64::from_ne_bytes(v.to_ne_bytes())),
                    Err(p) => Outcome::Pgm(trace_program_check(p)),
                }
            }
        }
    }

    /// The 32-bit register operand `n` stands for: its low word, or, for
    /// a bus-id operand (`fe.0.0004`), the subchannel-identification word
    /// the guest would use now — without MCSS-E, M = 0 and cssid 0 for the
    /// default css (a guest cannot name any other css then: such an
    /// operand is the word with M = 1 and that cssid, and the instruction
    /// answers as it answers that word); with MCSS-E, M = 1 and the cssid
    /// (PoO chapter 14, "Subchannel-Identification Word").
    #[must_use]
    pub fn operand_word(&self, n: crate::trace::Num) -> u32 {
        match n.as_bus_id() {
            Some(s) => {
                let mcss = self.css.mcss_enabled() || s.cssid != self.config.default_css;
                sid_of(s).to_word(mcss)
            }
            None => u32::try_from(n.value & 0xffff_ffff).unwrap_or(0),
        }
    }

    /// The listing of the machine's subchannels in the layout of
    /// s390-tools' `lscss`: one row per device, from the subchannel's
    /// SCHIB as STORE SUBCHANNEL would store it now (the Use column says
    /// whether it is enabled). The Subchan. column is the subchannel as
    /// the guest names it (css 0 without MCSS-E); when devices sit in more
    /// than one css image, each image's rows come under a line naming it.
    #[must_use]
    pub fn lscss(&self) -> String {
        let mut s = String::from("Device   Subchan.  DevType CU Type Use  PIM PAM POM  CHPIDs\n");
        s.push_str(&"-".repeat(70));
        s.push('\n');
        let mut devs: Vec<&DeviceStmt> = self.config.devices.iter().map(|(_, d)| d).collect();
        devs.sort_by_key(|d| (d.sch.cssid != self.config.default_css, d.sch));
        let images: std::collections::BTreeSet<u8> = devs.iter().map(|d| d.sch.cssid).collect();
        let mcss = self.css.mcss_enabled();
        let mut image = None;
        for d in devs {
            if images.len() > 1 && image != Some(d.sch.cssid) {
                image = Some(d.sch.cssid);
                let note = match (d.sch.cssid == self.config.default_css, mcss) {
                    (true, false) => "the default css, the one a guest without MCSS-E sees",
                    (true, true) => "the default css",
                    (false, false) => "seen only once the guest enables MCSS-E",
                    (false, true) => "MCSS-E is enabled",
                };
                let _ = writeln!(s, "css {:x} ({note}):", d.sch.cssid);
            }
            let sid = sid_of(d.sch);
            let visible_cssid = if mcss { d.sch.cssid } else { 0 };
            let (pim, pam, pom, chpids, enabled) = match self.css.schib(sid) {
                Some(schib) => {
                    let p = &schib.pmcw;
                    (p.pim, p.pam, p.pom, p.chpid, p.flags.enabled())
                }
                None => (0, 0, 0, [0; 8], false),
            };
            let info = self.css.device_info(sid);
            let (dt, dm, ct, cm) = info.map_or((0, 0, 0, 0), |i| (i.dev_type, i.dev_model, i.cu_type, i.cu_model));
            let _ = writeln!(
                s,
                "0.{:x}.{:04x} {:x}.{:x}.{:04x}  {dt:04x}/{dm:02x} {ct:04x}/{cm:02x} {:<3}  {pim:02x}  {pam:02x}  {pom:02x}   {} {}",
                d.sch.ssid,
                d.devno,
                visible_cssid,
                d.sch.ssid,
                d.sch.schno,
                if enabled { "yes" } else { "" },
                hex4(&chpids[..4]),
                hex4(&chpids[4..]),
            );
        }
        s
    }

    /// The simulated host of the machine's passthrough devices, if it has
    /// any.
    #[must_use]
    pub fn sim_host(&self) -> Option<&SimHost> {
        self.sim_host.as_ref()
    }

    /// Lets asynchronous device work finish (the trace statement `wait`):
    /// applies the reports of passthrough devices until no passthrough
    /// subchannel has a function the host has yet to report on (each is
    /// idle, suspended or status pending), and the I/O threads of
    /// `io=async` devices have completed every notification, or `timeout`
    /// passes. Returns whether the work finished.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.css.wait_until(timeout, |css| {
            self.io_threads.iter().all(IoIdle::is_idle)
                && !self
                    .config
                    .devices
                    .iter()
                    .filter(|(_, d)| d.kind.is_passthrough())
                    .any(|(_, d)| css.schib(sid_of(d.sch)).is_some_and(|s| s.scsw.awaits_status()))
        })
    }

    /// The kind of the device a subchannel-identification word names (in
    /// the css image the guest addresses with it), if the machine has one
    /// there.
    #[must_use]
    pub fn kind_of(&self, gr1: u32) -> Option<DeviceKind> {
        let [c, ss, n0, n1] = gr1.to_be_bytes();
        let sid = SubchannelId {
            cssid: if self.css.mcss_enabled() {
                c
            } else {
                self.config.default_css
            },
            ssid: (ss >> 1) & 3,
            schno: u16::from_be_bytes([n0, n1]),
        };
        self.config
            .devices
            .iter()
            .find(|(_, d)| sid_of(d.sch) == sid)
            .map(|(_, d)| d.kind)
    }

    /// The subchannel-identification word for `sch` as the guest sees it.
    #[must_use]
    pub fn sid_word(&self, sch: SchAddr) -> u32 {
        sid_of(sch).to_word(self.css.mcss_enabled())
    }
}

fn hex4(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether a `device` statement asks for the timing facility (`timing=on`).
fn timing(d: &DeviceStmt) -> Result<bool, MachineError> {
    match d.param(TIMING_KEY) {
        None | Some("off") => Ok(false),
        Some("on") => Ok(true),
        Some(v) => Err(MachineError::BadValue {
            key: TIMING_KEY.into(),
            value: v.into(),
        }),
    }
}

/// A trace number (`0x…` or decimal).
fn parse_number(v: &str) -> Option<u64> {
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::parse;

    fn build(text: &str) -> Result<Machine, (usize, MachineError)> {
        Machine::from_trace(&parse(text).unwrap(), Path::new("."))
    }

    #[test]
    fn build_mock_device_with_replies_parses_its_script() {
        let m = build("zcss-trace 1\ndevice fe.0.0000 devno=0000 mock replies=e4:busy,03:uc80\n").unwrap();
        assert_eq!(m.kind_of(0x0001_0000), Some(DeviceKind::Mock));
        assert_eq!(
            crate::trace::ast::parse_mock_replies("e4:busy,03:uc80,02:st0c"),
            Ok(vec![
                (0xe4, crate::trace::ast::MockReply::Busy),
                (0x03, crate::trace::ast::MockReply::UnitCheck(0x80)),
                (0x02, crate::trace::ast::MockReply::Status(0x0c)),
            ])
        );
        assert!(crate::trace::ast::parse_mock_replies("e4:maybe").is_err());
    }

    #[test]
    fn from_trace_without_machine_uses_defaults() {
        let m = build("zcss-trace 1\n").unwrap();
        assert_eq!(m.mem.size(), DEFAULT_MEMORY);
        assert_eq!(m.config.default_css, 0xfe);
        assert!(!m.css.mcss_enabled());
    }

    #[test]
    fn from_trace_machine_keys_configure_css() {
        let m = build("zcss-trace 1\nmachine memory=0x10000 mcss=on mss=on default-css=3\n").unwrap();
        assert_eq!(m.mem.size(), 0x10000);
        assert!(m.css.mcss_enabled());
        assert!(m.css.mss_enabled());
        assert_eq!(m.css.config().default_cssid, 3);
    }

    #[test]
    fn from_trace_absurd_memory_is_refused_at_its_line() {
        let e = build("zcss-trace 1\nmachine memory=0x100000001\n").unwrap_err();
        assert!(matches!(e, (2, MachineError::MemorySize(0x1_0000_0001))), "{e:?}");
        let e = build("zcss-trace 1\n# comment\n\nmachine memory=16\n").unwrap_err();
        assert!(matches!(e, (4, MachineError::MemorySize(16))), "{e:?}");
    }

    #[test]
    fn from_trace_chpids_give_the_device_its_paths() {
        let m = build("zcss-trace 1\ndevice fe.0.0000 devno=0000 virtio-rng chpids=40,41\n").unwrap();
        let sid = SubchannelId {
            cssid: 0xfe,
            ssid: 0,
            schno: 0,
        };
        let s = m.css.schib(sid).unwrap();
        assert_eq!((s.pmcw.pim, s.pmcw.pam), (0xc0, 0xc0));
        assert_eq!(s.pmcw.chpid[..3], [0x40, 0x41, 0]);
        assert_eq!(
            m.css.channel_path_type(0xfe, 0x41),
            Some(0x32),
            "the device's path type"
        );
    }

    #[test]
    fn from_trace_dasd_defaults_to_3390_3_on_3990_6_chpid_01_ficon() {
        let m = build("zcss-trace 1\n\ndevice 0.0.0000 devno=0100 dasd-3390\n").unwrap();
        let sid = SubchannelId {
            cssid: 0,
            ssid: 0,
            schno: 0,
        };
        let i = m.css.device_info(sid).unwrap();
        assert_eq!(
            (i.dev_type, i.dev_model, i.cu_type, i.cu_model),
            (0x3390, 0x0a, 0x3990, 0xe9)
        );
        let s = m.css.schib(sid).unwrap();
        assert_eq!((s.pmcw.pim, s.pmcw.chpid[0]), (0x80, 0x01));
        assert_eq!(m.css.channel_path_type(0, 0x01), Some(0x1a), "FICON");
    }

    #[test]
    fn from_trace_dasd_cylinders_beyond_the_model_are_refused_at_their_line() {
        let e = build("zcss-trace 1\n\ndevice 0.0.0000 devno=0100 dasd-3390 cylinders=3341\n").unwrap_err();
        assert!(
            matches!(e, (3, MachineError::Cylinders { cylinders: 3341, .. })),
            "{e:?}"
        );
        assert_eq!(e.1.to_string(), "cylinders=3341: a 3390-3 has 1 to 3340 cylinders");
        let e = build("zcss-trace 1\ndevice 0.0.0000 devno=0100 dasd-3390 cylinders=0\n").unwrap_err();
        assert!(matches!(e, (2, MachineError::Cylinders { cylinders: 0, .. })), "{e:?}");
        assert!(!e.1.is_io());
    }

    #[test]
    fn from_trace_dasd_image_and_cylinders_together_are_refused() {
        let e = build("zcss-trace 1\ndevice 0.0.0000 devno=0100 dasd-3390 image=x.cckd cylinders=10\n").unwrap_err();
        assert!(matches!(e, (2, MachineError::ImageAndCylinders)), "{e:?}");
    }

    #[test]
    fn from_trace_dasd_missing_image_is_an_io_error_at_its_line() {
        let e = build("zcss-trace 1\ndevice 0.0.0000 devno=0100 dasd-3390 image=no-such.cckd\n").unwrap_err();
        assert!(matches!(e, (2, MachineError::DasdImage(_))), "{e:?}");
        assert!(e.1.is_io());
    }

    #[test]
    fn from_trace_vfio_dasd_is_placed_by_map_css() {
        let m = build("zcss-trace 1\ndevice fe.0.0007 devno=0200 vfio-dasd host=2.0.0005 cu=3990-3\n").unwrap();
        let sid = SubchannelId {
            cssid: 0xfe,
            ssid: 0,
            schno: 7,
        };
        assert!(m.css.has_device(sid));
        let i = m.css.device_info(sid).unwrap();
        assert_eq!((i.dev_type, i.cu_model), (0x3390, 0xec));
        let host = m.sim_host().unwrap();
        let h = host.device(SubchannelId {
            cssid: 2,
            ssid: 0,
            schno: 5,
        });
        assert_eq!(h.map(|h| h.devno), Some(0x0200));
        let m =
            build("zcss-trace 1\nmachine map-css=off\ndevice 2.0.0005 devno=0200 vfio-dasd host=2.0.0005\n").unwrap();
        assert!(m.css.has_device(SubchannelId {
            cssid: 2,
            ssid: 0,
            schno: 5
        }));
    }

    #[test]
    fn from_trace_vfio_dasd_against_map_css_is_refused_at_its_line() {
        let e = build("zcss-trace 1\nmachine map-css=off\ndevice fe.0.0005 devno=0200 vfio-dasd host=1.0.0005\n")
            .unwrap_err();
        assert!(
            matches!(
                e,
                (
                    3,
                    MachineError::Placement {
                        cssid: 1,
                        map_css: false,
                        ..
                    }
                )
            ),
            "{e:?}"
        );
        let e = build("zcss-trace 1\ndevice 1.0.0005 devno=0200 vfio-dasd host=1.0.0005\n").unwrap_err();
        assert!(
            matches!(
                e,
                (
                    2,
                    MachineError::Placement {
                        cssid: 0xfe,
                        map_css: true,
                        ..
                    }
                )
            ),
            "{e:?}"
        );
        let e = build("zcss-trace 1\ndevice fe.1.0005 devno=0200 vfio-dasd host=1.0.0005\n").unwrap_err();
        assert!(
            matches!(e, (2, MachineError::Placement { .. })),
            "another subchannel set: {e:?}"
        );
        // Only passthrough kinds follow map-css.
        assert!(build("zcss-trace 1\nmachine map-css=off\ndevice fe.0.0005 devno=0200 dasd-3390\n").is_ok());
    }

    #[test]
    fn from_trace_vfio_dasd_on_a_virtual_host_css_is_refused() {
        let e = build("zcss-trace 1\ndevice fe.0.0005 devno=0200 vfio-dasd host=fe.0.0005\n").unwrap_err();
        assert!(matches!(e, (2, MachineError::Host(_))), "{e:?}");
        assert!(e.1.to_string().contains("not a real css image"), "{}", e.1);
    }

    #[test]
    fn wait_without_passthrough_work_returns_at_once() {
        let m = build("zcss-trace 1\ndevice fe.0.0005 devno=0200 vfio-dasd host=1.0.0005\n").unwrap();
        assert!(m.wait(Duration::from_millis(1)));
    }

    #[test]
    fn from_trace_bad_blk_size_is_refused() {
        let e = build("zcss-trace 1\ndevice fe.0.0000 devno=0000 virtio-blk size=1000\n").unwrap_err();
        assert!(matches!(e, (2, MachineError::BlkSize(1000))), "{e:?}");
    }

    #[test]
    fn from_trace_attaches_every_device() {
        let m =
            build("zcss-trace 1\ndevice fe.0.0000 devno=0000 virtio-blk\ndevice fe.1.0005 devno=0005 virtio-console\n")
                .unwrap();
        let sid = |ssid, schno| SubchannelId {
            cssid: 0xfe,
            ssid,
            schno,
        };
        assert!(m.css.has_device(sid(0, 0)));
        assert!(m.css.has_device(sid(1, 5)));
        assert!(!m.css.has_device(sid(0, 1)));
    }

    #[test]
    fn from_trace_timing_on_gives_the_subchannel_the_timing_facility() {
        let m = build(
            "zcss-trace 1\ndevice fe.0.0000 devno=0000 virtio-rng timing=on\n\
             device fe.0.0001 devno=0001 virtio-rng timing=off\ndevice fe.0.0002 devno=0002 virtio-rng\n",
        )
        .unwrap();
        let t = |schno| {
            m.css.timing_facility(SubchannelId {
                cssid: 0xfe,
                ssid: 0,
                schno,
            })
        };
        assert_eq!([t(0), t(1), t(2)], [Some(true), Some(false), Some(false)]);
    }

    #[test]
    fn timing_value_other_than_on_or_off_is_bad_value() {
        let d = DeviceStmt {
            sch: SchAddr {
                cssid: 0xfe,
                ssid: 0,
                schno: 0,
            },
            devno: 0,
            kind: DeviceKind::VirtioRng,
            params: vec![crate::trace::Param {
                key: TIMING_KEY.into(),
                value: "yes".into(),
            }],
        };
        assert!(matches!(timing(&d), Err(MachineError::BadValue { .. })));
    }

    #[test]
    fn deterministic_entropy_repeats_across_instances() {
        let mut a = [0u8; 37];
        let mut b = [0u8; 37];
        DeterministicEntropy::default().read_exact(&mut a).unwrap();
        DeterministicEntropy::default().read_exact(&mut b).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, [0u8; 37]);
    }

    #[test]
    fn machine_statement_round_trips_the_config() {
        let cfg = MachineConfig {
            memory: 0x20_0000,
            mss: true,
            default_css: 1,
            map_css: false,
            ..MachineConfig::default()
        };
        let text = format!("zcss-trace 1\n{}\n", cfg.machine_statement());
        let back = MachineConfig::from_trace(&parse(&text).unwrap());
        assert_eq!(back, MachineConfig { line: 2, ..cfg });
    }
}
