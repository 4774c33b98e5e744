//! IPL through passthrough and css remapping, with a 3390: the volume is
//! formatted (CDL) and its IPL records written by the Linux driver model on
//! the DASD emulated directly and on the same DASD passed through the
//! simulated host (compared field by field), then `Css::ipl` loads from
//! both; and the passed-through DASD runs the driver's programs from every
//! real css image, with map-css on and off.

mod dasd_twin;

use dasd_twin::layout;
use dasd_twin::{DasdTwin, Where, DEFAULT};
use zcss_ccw::sid::SubchannelId;
use zcss_css::{Cc, IoCtx, IplOutcome};
use zcss_dasd::linux::{Layout, LinuxDasd};
use zcss_dasd::mock::{discover_and_format, linux_dasd, pattern, round_trip, write_ipl_records};
use zcss_dasd::track::TrackAddr;
use zcss_dasd::ControlUnit;

/// A format-0 CCW.
fn c0(cmd: u8, cda: u32, flags: u8, count: u16) -> [u8; 8] {
    let a = cda.to_be_bytes();
    let c = count.to_be_bytes();
    [cmd, a[1], a[2], a[3], flags, 0, c[0], c[1]]
}

const CC: u8 = 0x40;
const SLI: u8 = 0x20;
const PSW: [u8; 8] = [0x00, 0x08, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00];

/// IPL1: the PSW, then `a` and `b`.
fn ipl1(a: [u8; 8], b: [u8; 8]) -> [u8; 24] {
    let mut r = [0u8; 24];
    r[..8].copy_from_slice(&PSW);
    r[8..16].copy_from_slice(&a);
    r[16..].copy_from_slice(&b);
    r
}

/// A twin whose volume the driver formatted (one cylinder, CDL), with
/// IPL1 and IPL2 as given and block 3 (track 0, R4) the test pattern.
fn bootable(cu: ControlUnit, ipl1: &[u8; 24], ipl2: &[u8; 144]) -> LinuxDasd<DasdTwin> {
    let mut l = DasdTwin::new(|| linux_dasd(cu, 10), DEFAULT).linux(true);
    discover_and_format(&mut l, 15);
    write_ipl_records(&mut l, ipl1, ipl2);
    let block = pattern(TrackAddr::new(0, 0), 4, 4096);
    l.store(layout::BUF, &block).unwrap();
    l.write_blocks(3, 1, layout::BUF).unwrap();
    l
}

/// `Css::ipl` on both guests: the outcomes, after checking that every
/// byte of storage is the same.
fn ipl_both(t: &DasdTwin) -> (IplOutcome, IplOutcome) {
    let ipl = |c: &dasd_twin::Guest| {
        let (gr1, ctx) = c.operands();
        c.css().ipl(&ctx, gr1).expect("no program check")
    };
    let out = (ipl(&t.direct), ipl(&t.passed));
    let len = usize::try_from(layout::MEM).unwrap();
    let a = t.direct.mem.fetch(0, len).unwrap();
    let b = t.passed.mem.fetch(0, len).unwrap();
    let first = a.iter().zip(&b).position(|(x, y)| x != y);
    assert_eq!(first, None, "storage after IPL differs");
    out
}

#[test]
fn ipl_of_cdl_volume_reading_ipl2_then_a_nop_is_the_same_through_passthrough() {
    // IPL1 as zcss_dasd's own IPL test writes it: READ DATA of IPL2 to
    // 0x2000, chained to a NOP.
    let text: [u8; 144] = std::array::from_fn(|i| u8::try_from(i).unwrap());
    let l = bootable(
        ControlUnit::Model6,
        &ipl1(c0(0x06, 0x2000, CC, 144), c0(0x03, 0, SLI, 1)),
        &text,
    );
    l.channel().assert_transparent();
    let (d, p) = ipl_both(l.channel());
    assert_eq!(d, IplOutcome::Loaded { psw: PSW });
    assert_eq!(p, d);
    assert_eq!(l.channel().passed.mem.fetch(0x2000, 144).unwrap(), text.to_vec());
    assert_eq!(
        l.channel().passed.mem.fetch(8, 16).unwrap(),
        ipl1(c0(0x06, 0x2000, CC, 144), c0(0x03, 0, SLI, 1))[8..]
    );
}

#[test]
fn ipl_of_zipl_style_volume_tic_into_ipl2_is_the_same_through_passthrough() {
    // zipl's CDL stage 0: IPL1 reads IPL2 to 0x18 and TICs to it; IPL2 is
    // a program of its own (SEEK, SEARCH R4, TIC, READ 4 KiB to 0x10000)
    // with its arguments.
    let mut ipl2 = [0u8; 144];
    let prog = [
        c0(0x07, 0x58, CC, 6),
        c0(0x31, 0x60, CC, 5),
        c0(0x08, 0x20, 0, 0),
        c0(0x06, 0x1_0000, 0, 4096),
    ];
    for (i, c) in prog.iter().enumerate() {
        ipl2[8 * i..8 * i + 8].copy_from_slice(c);
    }
    ipl2[0x60 - 0x18 + 4] = 4;
    let l = bootable(
        ControlUnit::Model3,
        &ipl1(c0(0x06, 0x18, CC, 144), c0(0x08, 0x18, 0, 0)),
        &ipl2,
    );
    l.channel().assert_transparent();
    let (d, p) = ipl_both(l.channel());
    assert_eq!(d, IplOutcome::Loaded { psw: PSW });
    assert_eq!(p, d);
    let kernel = pattern(TrackAddr::new(0, 0), 4, 4096);
    assert!(
        l.channel().passed.mem.fetch(0x1_0000, 4096).unwrap() == kernel,
        "R4 loaded"
    );
    assert_eq!(l.channel().passed.mem.fetch(0x18, 144).unwrap(), ipl2.to_vec());
}

#[test]
fn ipl_of_unformatted_volume_fails_the_same_way_through_passthrough() {
    let t = DasdTwin::new(|| linux_dasd(ControlUnit::Model6, 10), DEFAULT);
    let (d, p) = ipl_both(&t);
    let IplOutcome::Failed { dstat, .. } = d else {
        panic!("{d:?}")
    };
    assert!(dstat.unit_check());
    assert_eq!(p, d);
}

#[test]
fn ipl_whose_ipl1_read_has_incorrect_length_fails_the_same_way_through_passthrough() {
    let mut l = DasdTwin::new(|| linux_dasd(ControlUnit::Model6, 10), DEFAULT).linux(true);
    discover_and_format(&mut l, 15);
    // IPL1's READ asks for 200 bytes of the 144 of IPL2, without SLI:
    // incorrect length ends the IPL (on the host, in the READ placed after
    // SEEK and SEARCH).
    write_ipl_records(&mut l, &ipl1(c0(0x06, 0x2000, CC, 200), c0(0x03, 0, SLI, 1)), &[7; 144]);
    l.channel().assert_transparent();
    let (d, p) = ipl_both(l.channel());
    let IplOutcome::Failed { cstat, .. } = d else {
        panic!("{d:?}")
    };
    assert!(cstat.incorrect_length());
    assert_eq!(p, d);
}

fn host(cssid: u8) -> SubchannelId {
    SubchannelId {
        cssid,
        ssid: 0,
        schno: 0x100 + u16::from(cssid),
    }
}

#[test]
fn dasd_from_every_real_css_image_is_transparent_with_map_css_on_and_off() {
    for cssid in 0..=3 {
        for map_css in [true, false] {
            let at = Where {
                host: host(cssid),
                map_css,
            };
            let t = DasdTwin::new(|| linux_dasd(ControlUnit::Model6, 10), at);
            let guest_css = if map_css { 0xfe } else { cssid };
            assert_eq!(
                t.passed.sid(),
                SubchannelId {
                    cssid: guest_css,
                    ..host(cssid)
                }
            );
            assert_eq!(t.passed.css().mcss_enabled(), !map_css);
            let mut l = t.linux(true);
            discover_and_format(&mut l, 15);
            round_trip(&mut l, 20, 14);
            assert_eq!(l.layout(), Layout::Cdl(4096));
            l.channel().assert_transparent();
        }
    }
}

#[test]
fn dasd_with_map_css_off_is_seen_only_with_mcss_e() {
    let at = Where {
        host: host(2),
        map_css: false,
    };
    let t = DasdTwin::new(|| linux_dasd(ControlUnit::Model6, 10), at);
    let css = t.passed.css();
    let ctx = IoCtx::new(&*t.passed.mem);
    // Without M in GR1 the default css (0xfe) is meant: no device there.
    let without_m = t.passed.sid().to_word(false);
    assert_eq!(css.stsch(&ctx, without_m, layout::SCHIB), Ok(Cc::Three));
    let with_m = t.passed.sid().to_word(true);
    assert_eq!(css.stsch(&ctx, with_m, layout::SCHIB), Ok(Cc::Zero));
    let schib = t.passed.mem.fetch(layout::SCHIB, 12).unwrap();
    assert_eq!(u16::from_be_bytes([schib[6], schib[7]]), 0x0120, "devno");
}

#[test]
fn dasd_with_map_css_on_is_beside_the_virtual_devices_in_the_default_css() {
    let t = DasdTwin::new(
        || linux_dasd(ControlUnit::Model6, 10),
        Where {
            host: host(3),
            map_css: true,
        },
    );
    assert_eq!(t.passed.sid().cssid, 0xfe);
    assert!(!t.passed.css().mcss_enabled());
    let ctx = IoCtx::new(&*t.passed.mem);
    let gr1 = t.passed.sid().to_word(false);
    assert_eq!(t.passed.css().stsch(&ctx, gr1, layout::SCHIB), Ok(Cc::Zero));
    let schib = t.passed.mem.fetch(layout::SCHIB, 28).unwrap();
    assert_eq!(schib[16], 0x01, "the host's CHPID");
}
