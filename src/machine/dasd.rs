//! The DASD kinds of a trace: `dasd-3390` (an emulated 3390 on the guest's
//! channel subsystem) and `vfio-dasd` (the same 3390 on a subchannel of the
//! simulated host, passed through vfio-ccw and placed by css remapping).
//!
//! Both take the same keys for the DASD itself: `model=` (3, 9, 27, 54;
//! default 3), `cu=` (`3990`, `3990-3`, `3990-6`; default `3990-6`, SENSE
//! ID control-unit model 0xE9) and the volume — `image=` (a Hercules CKD or
//! CCKD image whose cylinders make `model`), `cylinders=` (a fresh volume
//! of that many cylinders as `dasdinit` lays it out: home address and R0
//! on every track, IPL1, IPL2 and VOL1 on track 0, volser `ZCSS00`) or
//! neither (a fresh volume of the model's full size). Fresh volumes live in
//! memory and cost only the tracks written. An image is never modified
//! unless the machine is built with `write_images`: the guest's writes go
//! to an in-memory overlay ([`CowStore`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use zcss_ccw::memory::GuestMemory;
use zcss_ccw::sid::SubchannelId;
use zcss_css::{chpid_type, ChannelPaths, Css};
use zcss_dasd::image::ImageError;
use zcss_dasd::layout::{Volser, VolumeSpec};
use zcss_dasd::track::{TrackAddr, TrackBuilder};
use zcss_dasd::{ControlUnit, CowStore, Dasd, DasdConfig, Image, MemStore, Model, OpenOptions, TrackStore};
use zcss_vfio_ccw::{Placement, SimHost, VfioCcw};

use super::{parse_number, sid_of, MachineConfig, MachineError};
use crate::trace::{DeviceStmt, SchAddr};

/// The volume serial of fresh volumes (`cylinders=` or the model's size).
pub const FRESH_VOLSER: &str = "ZCSS00";

/// What the DASD keys of a `device` statement describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DasdSpec {
    /// The 3390 model.
    pub model: Model,
    /// The storage control.
    pub cu: ControlUnit,
    /// The volume.
    pub volume: Volume,
}

/// Where the volume of a DASD comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Volume {
    /// A Hercules CKD/CCKD image (the path as resolved against the trace's
    /// folder).
    Image(PathBuf),
    /// A fresh volume in memory of this many cylinders.
    Fresh(u32),
}

fn bad(key: &str, value: &str) -> MachineError {
    MachineError::BadValue {
        key: key.into(),
        value: value.into(),
    }
}

impl DasdSpec {
    /// The DASD a `dasd-3390` or `vfio-dasd` statement describes; image
    /// paths are relative to `base`.
    ///
    /// # Errors
    /// A bad value, `image=` together with `cylinders=`, or a cylinder
    /// count the model cannot have.
    pub fn from_statement(d: &DeviceStmt, base: &Path) -> Result<Self, MachineError> {
        let model = match d.param("model") {
            None => Model::M3,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .and_then(Model::from_number)
                .ok_or_else(|| bad("model", v))?,
        };
        let cu = match d.param("cu") {
            None => ControlUnit::Model6,
            Some(v) => ControlUnit::from_name(v).ok_or_else(|| bad("cu", v))?,
        };
        let volume = match (d.param("image"), d.param("cylinders")) {
            (Some(_), Some(_)) => return Err(MachineError::ImageAndCylinders),
            (Some(p), None) => Volume::Image(base.join(p)),
            (None, Some(v)) => {
                let n = parse_number(v).ok_or_else(|| bad("cylinders", v))?;
                let max = model.cylinders() + model.alternate_cylinders();
                match u32::try_from(n) {
                    Ok(c) if (1..=max).contains(&c) => Volume::Fresh(c),
                    _ => return Err(MachineError::Cylinders { cylinders: n, model }),
                }
            }
            (None, None) => Volume::Fresh(model.cylinders()),
        };
        Ok(Self { model, cu, volume })
    }

    /// The device on device number `devno` with the channel paths `paths`
    /// (default: CHPID 0x01, FICON). With `write_images`, guest writes
    /// reach an image (committed when each program that wrote ends);
    /// otherwise they stay in memory.
    ///
    /// # Errors
    /// The image cannot be opened, or its cylinders do not make the model.
    pub fn build(&self, devno: u16, paths: Option<ChannelPaths>, write_images: bool) -> Result<Dasd, MachineError> {
        let cfg = DasdConfig {
            model: self.model,
            cu: self.cu,
            paths: paths.unwrap_or(DasdConfig::default().paths),
            ..DasdConfig::for_devno(devno)
        };
        let store: Box<dyn TrackStore> = match &self.volume {
            Volume::Fresh(c) => Box::new(fresh_volume(*c)?),
            Volume::Image(p) => {
                if write_images {
                    let opts = OpenOptions::read_write().write_through(true);
                    Box::new(Image::open_as(p, &opts, self.model).map_err(image_error)?)
                } else {
                    let img = Image::open_as(p, &OpenOptions::read_only(), self.model).map_err(image_error)?;
                    Box::new(CowStore::new(img))
                }
            }
        };
        Ok(Dasd::new(cfg, store))
    }
}

fn image_error(e: ImageError) -> MachineError {
    MachineError::DasdImage(Box::new(e))
}

/// A volume of `cylinders` cylinders in memory, laid out as `dasdinit`
/// lays out a new volume (track 0 with IPL1, IPL2 and VOL1 `ZCSS00`; every
/// other track home address and R0 only).
///
/// # Errors
/// Only if the layout cannot be stored (never for a valid cylinder count).
pub fn fresh_volume(cylinders: u32) -> Result<MemStore, MachineError> {
    let spec = VolumeSpec {
        cylinders,
        volser: Volser::new(FRESH_VOLSER).map_err(|e| bad("volser", &e.to_string()))?,
        linux: false,
    };
    let mut store = MemStore::new(cylinders);
    let mut b = TrackBuilder::default();
    let t0 = TrackAddr::new(0, 0);
    store
        .write(t0, spec.track(t0, &mut b))
        .map_err(|e| bad("cylinders", &e.to_string()))?;
    Ok(store)
}

/// The `host=` subchannel of a `vfio-dasd` statement.
fn host_of(d: &DeviceStmt) -> Result<SchAddr, MachineError> {
    let v = d.param("host").ok_or(MachineError::MissingHost)?;
    v.parse::<SchAddr>().map_err(|_| bad("host", v))
}

/// Places a `vfio-dasd`: its DASD on the host subchannel `host=` of the
/// simulated host (with the paths `chpids=` names), opened for the guest's
/// storage `guest` and attached to `css` where `map-css` puts it — which
/// must be the statement's subchannel.
///
/// # Errors
/// The subchannel disagrees with `map-css`, the host or the css refuses the
/// device, or the DASD cannot be built.
pub fn attach_vfio_dasd(
    css: &Css,
    host: &SimHost,
    d: &DeviceStmt,
    cfg: &MachineConfig,
    base: &Path,
    guest: Arc<dyn GuestMemory>,
) -> Result<SubchannelId, MachineError> {
    let host_sch = host_of(d)?;
    let cssid = if cfg.map_css { cfg.default_css } else { host_sch.cssid };
    if (d.sch.cssid, d.sch.ssid) != (cssid, host_sch.ssid) {
        return Err(MachineError::Placement {
            sch: d.sch,
            host: host_sch,
            map_css: cfg.map_css,
            cssid,
        });
    }
    let dev = vfio_dasd(host, d, base, cfg.write_images, guest)?;
    let placement = Placement {
        map_css: cfg.map_css,
        schno: Some(d.sch.schno),
        devno: Some(d.devno),
    };
    zcss_vfio_ccw::remap::attach(css, dev, &placement, false).map_err(|e| MachineError::Remap(Box::new(e)))
}

/// The 3390 a `vfio-dasd` line describes, placed on the simulated host at
/// its `host=` subchannel and opened through vfio-ccw on `guest` storage:
/// the passthrough device, not yet attached to a guest css.
///
/// # Errors
/// A bad `host=`, a DASD that cannot be built, or a host that refuses it.
pub fn vfio_dasd(
    host: &SimHost,
    d: &DeviceStmt,
    base: &Path,
    write_images: bool,
    guest: Arc<dyn GuestMemory>,
) -> Result<VfioCcw, MachineError> {
    let host_sch = host_of(d)?;
    let spec = DasdSpec::from_statement(d, base)?;
    let paths = match d.chpids() {
        Some(c) => Some(ChannelPaths::with_chpids(&c, chpid_type::FICON).map_err(|e| bad("chpids", &e.to_string()))?),
        None => None,
    };
    let dasd = spec.build(d.devno, paths, write_images)?;
    let host_sid = sid_of(host_sch);
    host.add_device(host_sid, d.devno, Box::new(dasd))
        .map_err(|e| MachineError::Host(Box::new(e)))?;
    let backend = host
        .open(host_sid, guest)
        .map_err(|e| MachineError::Host(Box::new(e)))?;
    Ok(VfioCcw::new(Arc::new(backend)))
}
