//! css remapping: where a passthrough device appears in the guest.
//!
//! A host subchannel's cssid is the device's real css image (0–3). A guest
//! without MCSS-E sees only its default css image (0xfe, beside the virtio
//! devices), so:
//!
//! | `map_css` | guest css image | seen by |
//! |---|---|---|
//! | on (default) | the guest's default css | every guest |
//! | off | the real css image | only a guest with MCSS-E enabled |
//!
//! The subchannel set is the host's. The guest subchannel number and
//! device number default to the host's and can be chosen; a place already
//! taken (subchannel, or device number within the subchannel set) is
//! refused with an error naming both. (QEMU has no remapping: its
//! `s390-squash-mcss` option did this between 274250c301 and 36699ab480;
//! a vfio-ccw device there takes a `devno` or an automatic place.)

use zcss_ccw::sid::SubchannelId;
use zcss_css::{Css, CssError};

use crate::host::HostDevice;
use crate::passthrough::VfioCcw;

/// Where a passthrough device goes in the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Placement {
    /// Map the real css image into the guest's default css.
    pub map_css: bool,
    /// Guest subchannel number (default: the host's).
    pub schno: Option<u16>,
    /// Guest device number (default: the host's).
    pub devno: Option<u16>,
}

impl Default for Placement {
    fn default() -> Self {
        Self {
            map_css: true,
            schno: None,
            devno: None,
        }
    }
}

/// Why a passthrough device could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemapError {
    /// The guest subchannel already has a device.
    #[error(
        "guest subchannel {guest} (for host subchannel {host}) already has a device; choose another subchannel number"
    )]
    SubchannelInUse {
        /// The guest subchannel.
        guest: SubchannelId,
        /// The host subchannel passed through.
        host: SubchannelId,
    },
    /// The device number is taken in the guest's subchannel set.
    #[error("device number {devno:#06x} (for host subchannel {host}) is already used in guest css {cssid:#x} subchannel set {ssid}; choose another device number")]
    DevnoInUse {
        /// The device number.
        devno: u16,
        /// The guest css image.
        cssid: u8,
        /// The subchannel set.
        ssid: u8,
        /// The host subchannel passed through.
        host: SubchannelId,
    },
    /// The guest css refused the device for another reason.
    #[error("placing host subchannel {host}: {source}")]
    Css {
        /// The host subchannel.
        host: SubchannelId,
        /// The refusal.
        #[source]
        source: CssError,
    },
}

/// The guest subchannel and device number of `host` under `placement` in
/// a guest whose default css image is `default_cssid`.
#[must_use]
pub fn guest_location(host: &HostDevice, placement: &Placement, default_cssid: u8) -> (SubchannelId, u16) {
    let cssid = if placement.map_css {
        default_cssid
    } else {
        host.sid.cssid
    };
    let sid = SubchannelId {
        cssid,
        ssid: host.sid.ssid,
        schno: placement.schno.unwrap_or(host.sid.schno),
    };
    (sid, placement.devno.unwrap_or(host.devno))
}

/// Places `dev` in `css` as `placement` says (a hot plug, with its channel
/// report, when `hot`). Returns the guest subchannel.
///
/// # Errors
/// A subchannel or device number already in use, or another refusal of
/// the css.
pub fn attach(css: &Css, dev: VfioCcw, placement: &Placement, hot: bool) -> Result<SubchannelId, RemapError> {
    let host = dev.host();
    let (sid, devno) = guest_location(&host, placement, css.config().default_cssid);
    if css.has_device(sid) {
        return Err(RemapError::SubchannelInUse {
            guest: sid,
            host: host.sid,
        });
    }
    css.attach_passthrough(sid, devno, Box::new(dev), hot)
        .map_err(|e| match e {
            CssError::SubchannelInUse(guest) => RemapError::SubchannelInUse { guest, host: host.sid },
            CssError::DevnoInUse { cssid, ssid, devno } => RemapError::DevnoInUse {
                devno,
                cssid,
                ssid,
                host: host.sid,
            },
            source => RemapError::Css { host: host.sid, source },
        })?;
    Ok(sid)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use zcss_css::mock::MockDevice;
    use zcss_css::{chpid_type, Cc, ChannelPaths, DeviceInfo};

    use super::*;
    use crate::mock::Guest;
    use crate::sim::SimHost;

    fn host_sid(cssid: u8, schno: u16) -> SubchannelId {
        SubchannelId { cssid, ssid: 0, schno }
    }

    fn info() -> DeviceInfo {
        DeviceInfo {
            cu_type: 0x3990,
            cu_model: 0xe9,
            dev_type: 0x3390,
            dev_model: 0x0c,
            paths: ChannelPaths::single(0x60, chpid_type::FICON),
        }
    }

    /// A host with a 3390 (on CHPID 0x60) on each of `devs`.
    fn host_with(devs: &[(SubchannelId, u16)]) -> SimHost {
        let h = SimHost::new();
        for &(sid, devno) in devs {
            let cfg = zcss_dasd::DasdConfig {
                paths: info().paths,
                ..zcss_dasd::DasdConfig::for_devno(devno)
            };
            let dev = zcss_dasd::Dasd::new(cfg, Box::new(zcss_dasd::MemStore::new(1)));
            h.add_device(sid, devno, Box::new(dev)).unwrap();
        }
        h
    }

    fn vfio(h: &SimHost, sid: SubchannelId, g: &Guest) -> VfioCcw {
        VfioCcw::new(Arc::new(h.open(sid, g.mem.clone()).unwrap()))
    }

    #[test]
    fn map_css_on_places_the_device_in_the_default_css_with_host_numbers() {
        let h = host_with(&[(host_sid(2, 0x33), 0x5a5a)]);
        let g = Guest::new(Css::default(), 1 << 20);
        let sid = attach(&g.css, vfio(&h, host_sid(2, 0x33), &g), &Placement::default(), false).unwrap();
        assert_eq!(sid, host_sid(0xfe, 0x33));
        // A guest without MCSS-E finds it.
        let (r, s) = g.stsch(sid);
        assert_eq!(r, Ok(Cc::Zero));
        assert!(s.pmcw.flags.dnv());
        assert_eq!(s.pmcw.flags.devno(), 0x5a5a);
        assert_eq!(s.pmcw.chpid[0], 0x60);
    }

    #[test]
    fn map_css_off_keeps_the_real_css_seen_only_with_mcss_e() {
        let h = host_with(&[(host_sid(1, 0x10), 0x1000)]);
        let g = Guest::new(Css::default(), 1 << 20);
        let p = Placement {
            map_css: false,
            ..Placement::default()
        };
        let sid = attach(&g.css, vfio(&h, host_sid(1, 0x10), &g), &p, false).unwrap();
        assert_eq!(sid, host_sid(1, 0x10));
        // Without MCSS-E, css image 1 is invisible.
        assert_eq!(
            g.css.stsch(&zcss_css::IoCtx::new(&*g.mem), 0x0001_0010, 0x1000),
            Ok(Cc::Three)
        );
        g.css.enable_mcss();
        let (r, s) = g.stsch(sid);
        assert_eq!(r, Ok(Cc::Zero));
        assert_eq!(s.pmcw.flags.devno(), 0x1000);
    }

    #[test]
    fn chosen_subchannel_and_device_numbers_are_used() {
        let h = host_with(&[(host_sid(0, 7), 0x0700)]);
        let g = Guest::new(Css::default(), 1 << 20);
        let p = Placement {
            schno: Some(0x99),
            devno: Some(0xbeef),
            ..Placement::default()
        };
        let sid = attach(&g.css, vfio(&h, host_sid(0, 7), &g), &p, false).unwrap();
        assert_eq!(sid, host_sid(0xfe, 0x99));
        assert_eq!(g.stsch(sid).1.pmcw.flags.devno(), 0xbeef);
    }

    #[test]
    fn two_host_images_mapping_to_one_subchannel_are_refused_clearly() {
        let h = host_with(&[(host_sid(0, 5), 0x0005), (host_sid(3, 5), 0x3005)]);
        let g = Guest::new(Css::default(), 1 << 20);
        attach(&g.css, vfio(&h, host_sid(0, 5), &g), &Placement::default(), false).unwrap();
        let e = attach(&g.css, vfio(&h, host_sid(3, 5), &g), &Placement::default(), false).unwrap_err();
        assert_eq!(
            e,
            RemapError::SubchannelInUse {
                guest: host_sid(0xfe, 5),
                host: host_sid(3, 5),
            }
        );
        assert!(e.to_string().contains("choose another subchannel number"));
    }

    #[test]
    fn device_number_collision_with_a_virtual_device_is_refused() {
        let h = host_with(&[(host_sid(2, 0x40), 0x0001)]);
        let g = Guest::new(Css::default(), 1 << 20);
        g.css
            .attach_cold(host_sid(0xfe, 0), 0x0001, Box::new(MockDevice::new(0x3832, 2)))
            .unwrap();
        let e = attach(&g.css, vfio(&h, host_sid(2, 0x40), &g), &Placement::default(), false).unwrap_err();
        assert!(
            matches!(
                e,
                RemapError::DevnoInUse {
                    devno: 1,
                    cssid: 0xfe,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("0x0001"));
    }

    #[test]
    fn guest_location_follows_a_non_default_css() {
        let host = HostDevice {
            sid: SubchannelId {
                cssid: 3,
                ssid: 2,
                schno: 0x1234,
            },
            devno: 0x4321,
            info: info(),
        };
        let (sid, devno) = guest_location(&host, &Placement::default(), 0x42);
        assert_eq!(
            sid,
            SubchannelId {
                cssid: 0x42,
                ssid: 2,
                schno: 0x1234
            }
        );
        assert_eq!(devno, 0x4321);
    }
}
