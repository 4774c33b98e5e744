//! Passthrough is transparent: the same channel programs run on a device
//! emulated directly and on the same device passed through the simulated
//! host, and the two guests see the same thing field by field — SCSW, ESW,
//! ECW (sense), data, residual counts, CCW addresses, interruption
//! parameter — except that completion is asynchronous. The classes the
//! Linux translator refuses are the exceptions, each tested with the exact
//! result a guest sees.

use std::time::Duration;

use zcss_ccw::memory::StorageKey;
use zcss_ccw::orb::{Orb, OrbControls};
use zcss_ccw::scsw::{ActivityControl, FunctionControl, StatusControl};
use zcss_ccw::status::{DeviceStatus, SubchannelStatus};
use zcss_ccw::{Ccw0, Ccw1, CcwFlags, Sense};
use zcss_css::mock::{MockDevice, MockReply};
use zcss_css::{chpid_type, Cc, ChannelPaths, DeviceInfo, ProgramCheck};
use zcss_vfio_ccw::mock::{Seen, Twin};

const MEM: u64 = 1 << 20;
const PROG: u32 = 0x2000;

fn info() -> DeviceInfo {
    DeviceInfo {
        cu_type: 0x3990,
        cu_model: 0xe9,
        dev_type: 0x3390,
        dev_model: 0x0c,
        paths: ChannelPaths::new(&[(0x70, chpid_type::FICON), (0x71, chpid_type::FICON)]).unwrap(),
    }
}

/// A test device: READ (0x02) returns 64 bytes, READ (0x06) 600 bytes,
/// SEARCH (0x31) ends with status modifier, 0x0f command-rejects, 0x1b
/// ends with unit exception, 0x2b is busy.
fn device() -> Box<dyn zcss_css::Device> {
    let d = MockDevice::with_info(info());
    let c = d.control();
    c.set_read_data(0x02, (0..64u8).collect());
    c.set_read_data(0x06, (0..600u32).map(|i| u8::try_from(i % 253).unwrap()).collect());
    c.set_reply(0x31, MockReply::Status(DeviceStatus::from_bits(0x4c)));
    c.set_reply(0x0f, MockReply::UnitCheck(Sense::byte0(Sense::COMMAND_REJECT)));
    c.set_reply(0x1b, MockReply::Status(DeviceStatus::CE_DE_UE));
    c.set_reply(0x2b, MockReply::Busy);
    Box::new(d)
}

fn twin() -> Twin {
    Twin::new(device, MEM, false)
}

fn f(bits: u8) -> CcwFlags {
    CcwFlags::from_bits(bits)
}

const CC: u8 = 0x40;
const CD: u8 = 0x80;
const SLI: u8 = 0x20;
const SKIP: u8 = 0x10;
const IDA: u8 = 0x04;
const SUSP: u8 = 0x02;
const MIDA: u8 = 0x01;

fn ccw1(cmd: u8, flags: u8, count: u16, cda: u32) -> [u8; 8] {
    Ccw1::new()
        .with_cmd(cmd)
        .with_flags(f(flags))
        .with_count(count)
        .with_cda(cda)
        .to_be_bytes()
}

fn put(t: &Twin, at: u32, ccws: &[[u8; 8]]) {
    for (i, c) in ccws.iter().enumerate() {
        t.store(u64::from(at) + 8 * i as u64, c);
    }
}

fn orb(ctrl: OrbControls) -> Orb {
    Orb {
        intparm: 0x0bad_cafe,
        ctrl: ctrl.with_prefetch(true).with_lpm(0xff),
        cpa: PROG,
        ..Orb::default()
    }
}

fn fmt1() -> OrbControls {
    OrbControls::new().with_format1(true)
}

/// Runs `o` both ways; fails with every difference.
fn assert_transparent(t: &Twin, o: &Orb, ranges: &[(u64, usize)]) {
    let d = t.differences(o, ranges);
    assert!(d.is_empty(), "passthrough differs:\n{}", d.join("\n"));
}

const DATA: &[(u64, usize)] = &[(0x3000, 0x3000), (0x8000, 0x2000)];

#[test]
fn sense_id_with_sli_is_transparent() {
    let t = twin();
    put(&t, PROG, &[ccw1(0xe4, SLI, 256, 0x3000)]);
    assert_transparent(&t, &orb(fmt1()), DATA);
}

#[test]
fn sense_id_without_sli_incorrect_length_is_transparent() {
    let t = twin();
    put(&t, PROG, &[ccw1(0xe4, CC, 256, 0x3000), ccw1(0x03, 0, 0, 0)]);
    assert_transparent(&t, &orb(fmt1()), DATA);
}

#[test]
fn short_read_residual_count_is_transparent() {
    let t = twin();
    put(&t, PROG, &[ccw1(0x02, SLI, 100, 0x3010)]);
    assert_transparent(&t, &orb(fmt1()), DATA);
}

#[test]
fn format0_program_is_transparent() {
    let t = twin();
    let c0 = |cmd: u8, flags: u8, count: u16, cda: u32| {
        Ccw0::new()
            .with_cmd(cmd)
            .with_cda(cda)
            .with_flags(f(flags))
            .with_count(count)
            .to_be_bytes()
    };
    put(
        &t,
        PROG,
        &[
            c0(0x03, CC | SLI, 1, 0),
            c0(0x02, CC | SLI, 64, 0x3000),
            c0(0x18, 0, 0, 0x5000),
        ],
    );
    put(&t, 0x5000, &[c0(0xe4, SLI, 256, 0x4000)]);
    assert_transparent(&t, &orb(OrbControls::new()), DATA);
}

#[test]
fn format0_immediate_command_with_count_and_no_sli_is_transparent() {
    // Format 0 never indicates IL for an immediate command; the host runs
    // format 1, where only ORB L keeps that rule (cp::host_orb sets it).
    let t = twin();
    let nop = Ccw0::new().with_cmd(0x03).with_count(1).to_be_bytes();
    put(&t, PROG, &[nop]);
    assert_transparent(&t, &orb(OrbControls::new()), DATA);
}

#[test]
fn command_chain_with_write_is_transparent() {
    let t = twin();
    t.store(0x4000, &[0x5a; 32]);
    put(
        &t,
        PROG,
        &[
            ccw1(0x03, CC, 0, 0),
            ccw1(0x02, CC | SLI, 64, 0x3000),
            ccw1(0x01, 0, 32, 0x4000),
        ],
    );
    assert_transparent(&t, &orb(fmt1()), DATA);
}

#[test]
fn data_chaining_is_transparent() {
    let t = twin();
    put(&t, PROG, &[ccw1(0x06, CD, 100, 0x3000), ccw1(0x06, SLI, 600, 0x3ffc)]);
    assert_transparent(&t, &orb(fmt1()), DATA);
}

#[test]
fn direct_read_across_a_page_is_transparent() {
    let t = twin();
    put(&t, PROG, &[ccw1(0x06, 0, 600, 0x3f00)]);
    assert_transparent(&t, &orb(fmt1().with_idaw_format2(true)), DATA);
}

#[test]
fn format1_idal_across_2k_blocks_is_transparent() {
    let t = twin();
    put(&t, PROG, &[ccw1(0x06, IDA, 600, 0x7000)]);
    // 0x10 bytes at 0x37f0, then 2K blocks at 0x8800 and 0x9000.
    t.store(0x7000, &[0, 0, 0x37, 0xf0, 0, 0, 0x88, 0x00, 0, 0, 0x90, 0x00]);
    assert_transparent(&t, &orb(fmt1()), DATA);
}

#[test]
fn format2_4k_idal_is_transparent() {
    let t = twin();
    put(&t, PROG, &[ccw1(0x06, IDA, 600, 0x7000)]);
    t.store(0x7000, &0x3f80u64.to_be_bytes());
    t.store(0x7008, &0x8000u64.to_be_bytes());
    assert_transparent(&t, &orb(fmt1().with_idaw_format2(true)), DATA);
}

#[test]
fn format2_2k_idal_is_transparent() {
    let t = twin();
    put(&t, PROG, &[ccw1(0x06, IDA, 600, 0x7000)]);
    t.store(0x7000, &0x37c0u64.to_be_bytes());
    t.store(0x7008, &0x8800u64.to_be_bytes());
    assert_transparent(&t, &orb(fmt1().with_idaw_format2(true).with_idaw_2k(true)), DATA);
}

#[test]
fn invalid_idaw_is_transparent() {
    // A second IDAW off its block boundary: the host channel's program
    // check, on the same CCW.
    let t = twin();
    put(&t, PROG, &[ccw1(0x06, IDA, 600, 0x7000)]);
    t.store(0x7000, &0x3f80u64.to_be_bytes());
    t.store(0x7008, &0x8010u64.to_be_bytes());
    assert_transparent(&t, &orb(fmt1().with_idaw_format2(true)), DATA);
}

#[test]
fn command_reject_with_concurrent_sense_is_transparent() {
    let t = twin();
    put(&t, PROG, &[ccw1(0x03, CC, 0, 0), ccw1(0x0f, 0, 8, 0x3000)]);
    assert_transparent(&t, &orb(fmt1()), DATA);
}

#[test]
fn status_modifier_search_loop_is_transparent() {
    // SEARCH with SM skips the TIC back to it and reads.
    let t = twin();
    put(
        &t,
        PROG,
        &[
            ccw1(0x31, CC, 5, 0x4000),
            ccw1(0x08, 0, 0, PROG),
            ccw1(0x02, SLI, 64, 0x3000),
        ],
    );
    assert_transparent(&t, &orb(fmt1()), DATA);
}

#[test]
fn tic_to_another_segment_is_transparent() {
    let t = twin();
    put(&t, PROG, &[ccw1(0x03, CC, 0, 0), ccw1(0x08, 0, 0, 0x5000)]);
    put(&t, 0x5000, &[ccw1(0x02, CC | SLI, 64, 0x3000), ccw1(0x03, 0, 0, 0)]);
    assert_transparent(&t, &orb(fmt1()), DATA);
}

#[test]
fn unit_exception_and_busy_are_transparent() {
    for cmd in [0x1b, 0x2b] {
        let t = twin();
        put(
            &t,
            PROG,
            &[ccw1(0x03, CC, 0, 0), ccw1(cmd, CC, 0, 0), ccw1(0x03, 0, 0, 0)],
        );
        assert_transparent(&t, &orb(fmt1()), DATA);
    }
}

#[test]
fn program_checks_on_ccws_are_transparent() {
    // Command code 0 in a chain, TIC to a TIC, a misaligned TIC target, a
    // first-CCW TIC, a format-1 TIC with flags, S without ORB S, a zero
    // format-1 count with data chaining: the host channel checks the
    // translated CCW, and its CCW address comes back into the guest program.
    let programs: [&[[u8; 8]]; 7] = [
        &[ccw1(0x03, CC, 0, 0), ccw1(0x00, 0, 8, 0x3000)],
        &[ccw1(0x03, CC, 0, 0), ccw1(0x08, 0, 0, 0x2010), ccw1(0x08, 0, 0, PROG)],
        &[ccw1(0x03, CC, 0, 0), ccw1(0x08, 0, 0, 0x2004)],
        &[ccw1(0x08, 0, 0, 0x2008), ccw1(0x03, 0, 0, 0)],
        &[ccw1(0x03, CC, 0, 0), ccw1(0x08, CC, 0, 0x2010), ccw1(0x03, 0, 0, 0)],
        &[ccw1(0x03, CC, 0, 0), ccw1(0x03, SUSP, 0, 0)],
        &[ccw1(0x02, CD, 0, 0x3000), ccw1(0x02, 0, 8, 0x3000)],
    ];
    for p in programs {
        let t = twin();
        put(&t, PROG, p);
        assert_transparent(&t, &orb(fmt1()), DATA);
    }
}

#[test]
fn skip_on_read_stores_nothing_transparently() {
    let t = twin();
    t.store(0x3000, &[0xee; 64]);
    put(&t, PROG, &[ccw1(0x02, SKIP | SLI, 64, 0x3000)]);
    assert_transparent(&t, &orb(fmt1()), DATA);
}

#[test]
fn data_store_into_protected_storage_is_transparent() {
    // Key-controlled protection applies to the data the host channel
    // moves into guest pages: the same protection check.
    let t = Twin::new(device, MEM, true);
    for g in [&t.direct, &t.passed] {
        assert!(g.mem.set_storage_key(0x3000, StorageKey::new(5, false)));
    }
    put(&t, PROG, &[ccw1(0x02, SLI, 64, 0x3000)]);
    assert_transparent(&t, &orb(fmt1().with_key(3)), DATA);
}

#[test]
fn intermediate_run_of_many_programs_is_transparent() {
    // One twin, many programs in a row: nothing carries over differently.
    let t = twin();
    for i in 0..20u16 {
        put(
            &t,
            PROG,
            &[
                ccw1(0x02, CC | SLI, 16 + i, 0x3000 + u32::from(i) * 64),
                ccw1(0x03, 0, 0, 0),
            ],
        );
        assert_transparent(&t, &orb(fmt1()), DATA);
    }
}

#[test]
fn completion_is_asynchronous_through_passthrough() {
    let t = twin();
    put(&t, PROG, &[ccw1(0x03, 0, 0, 0)]);
    let o = orb(fmt1());
    assert_eq!(t.direct.ssch(t.sid, &o), Ok(Cc::Zero));
    // The emulated device finished before SSCH returned.
    assert!(t.direct.css.next_interrupt(0xff).is_some());
    let seen = Twin::run_in(&t.passed, t.sid, &o);
    assert_eq!(seen.ssch, Ok(Cc::Zero));
    assert!(seen.irb.is_some());
}

// ---- The classes the kernel refuses: what a guest sees. ----

/// QEMU's `sch_gen_unit_exception` after cc 0.
fn assert_unit_exception(s: &Seen) {
    assert_eq!(s.ssch, Ok(Cc::Zero));
    let irb = s.irb.expect("an interruption");
    assert_eq!(irb.scsw.dstat, DeviceStatus::new().with_unit_exception(true));
    assert_eq!(irb.scsw.cstat, SubchannelStatus::new());
    assert_eq!(irb.scsw.cpa, PROG + 8);
    assert_eq!(irb.scsw.ctrl.fctl(), FunctionControl::START);
    assert_eq!(irb.scsw.ctrl.actl(), ActivityControl::new());
    assert_eq!(
        irb.scsw.ctrl.stctl(),
        StatusControl::PRIM_SEC_PEND | StatusControl::ALERT
    );
}

#[test]
fn refused_segment_the_kernel_cannot_read_is_unit_exception() {
    // The 2 KiB segment read runs past the end of storage.
    let at = u32::try_from(MEM - 0x400).unwrap();
    let t = twin();
    put(&t, at, &[ccw1(0x03, 0, 0, 0)]);
    let o = Orb { cpa: at, ..orb(fmt1()) };
    let (d, p) = t.run(&o);
    assert_eq!(d.irb.expect("direct").scsw.dstat, DeviceStatus::CE_DE);
    assert_eq!(p.ssch, Ok(Cc::Zero));
    let irb = p.irb.expect("interruption");
    assert_eq!(irb.scsw.dstat, DeviceStatus::new().with_unit_exception(true));
    assert_eq!(irb.scsw.cpa, at + 8);
}

#[test]
fn refused_data_address_the_kernel_cannot_pin_is_unit_exception() {
    let t = twin();
    put(&t, PROG, &[ccw1(0x02, SLI, 64, u32::try_from(MEM).unwrap())]);
    let (d, p) = t.run(&orb(fmt1()));
    assert!(d.irb.expect("direct").scsw.cstat.program_check());
    assert_unit_exception(&p);
}

#[test]
fn refused_idal_the_kernel_cannot_read_is_unit_exception() {
    let t = twin();
    put(
        &t,
        PROG,
        &[ccw1(0x02, SLI | IDA, 64, u32::try_from(MEM + 0x1000).unwrap())],
    );
    let (d, p) = t.run(&orb(fmt1().with_idaw_format2(true)));
    assert!(d.irb.expect("direct").scsw.cstat.program_check());
    assert_unit_exception(&p);
}

#[test]
fn refused_seventeen_segments_are_unit_exception() {
    let t = twin();
    for s in 0..17u32 {
        let at = 0x1_0000 + s * 0x1000;
        let next = if s < 16 {
            ccw1(0x08, 0, 0, at + 0x1000)
        } else {
            ccw1(0x03, 0, 0, 0)
        };
        put(&t, at, &[ccw1(0x03, CC, 0, 0), next]);
    }
    let o = Orb {
        cpa: 0x1_0000,
        ..orb(fmt1())
    };
    let (d, p) = t.run(&o);
    assert_eq!(d.irb.expect("direct").scsw.dstat, DeviceStatus::CE_DE);
    let irb = p.irb.expect("interruption");
    assert_eq!(irb.scsw.dstat, DeviceStatus::new().with_unit_exception(true));
    assert_eq!(irb.scsw.cpa, 0x1_0008);
}

#[test]
fn refused_suspend_suspends_on_the_host_and_resume_is_cc2() {
    let t = twin();
    put(&t, PROG, &[ccw1(0x03, CC, 0, 0), ccw1(0x03, SUSP, 0, 0)]);
    let o = orb(fmt1().with_suspend(true));
    let (d, p) = t.run(&o);
    // Both show the suspension with the same intermediate status ...
    let (di, pi) = (d.irb.expect("direct"), p.irb.expect("passthrough"));
    assert_eq!(zcss_ccw::diff_fields(&di, &pi), vec![]);
    assert!(pi.scsw.ctrl.actl().suspended());
    // ... but the vfio-ccw uAPI has no resume: the kernel answers EBUSY.
    assert_eq!(t.direct.rsch(t.sid), Ok(Cc::Zero));
    assert_eq!(t.passed.rsch(t.sid), Ok(Cc::Two));
}

#[test]
fn refused_midaw_is_an_operand_exception_at_ssch() {
    // QEMU's `ioinst_orb_valid` refuses an ORB with D (MIDAW) for its
    // passthrough devices: SSCH ends with an operand exception and nothing
    // reaches the host (the kernel's translator does not know MIDAWs). The
    // emulated device runs the MIDAL.
    let t = twin();
    put(&t, PROG, &[ccw1(0x02, MIDA, 64, 0x7000)]);
    t.store(0x7000, &[0, 0, 0, 0, 0, 0x80, 0, 64, 0, 0, 0, 0, 0, 0, 0x30, 0]);
    let o = orb(fmt1().with_midaw(true));
    let (d, p) = t.run(&o);
    assert_eq!(d.irb.expect("direct").scsw.dstat, DeviceStatus::CE_DE);
    assert_eq!(p.ssch, Err(ProgramCheck::Operand));
    assert_eq!(p.irb, None);
    // The subchannel stays idle: a following start runs.
    put(&t, PROG, &[ccw1(0x03, 0, 0, 0)]);
    let (_, p) = t.run(&orb(fmt1()));
    assert_eq!(p.irb.expect("passthrough").scsw.dstat, DeviceStatus::CE_DE);
}

#[test]
fn refused_transport_mode_is_an_operand_exception_both_ways() {
    let t = twin();
    let o = orb(fmt1().with_transport_mode(true));
    let (d, p) = t.run(&o);
    assert_eq!(d.ssch, Err(ProgramCheck::Operand));
    assert_eq!(p.ssch, Err(ProgramCheck::Operand));
}

#[test]
fn ccw_in_fetch_protected_storage_runs_on_the_host() {
    // The kernel reads the guest program without a storage key and the
    // host channel fetches the translated copy from kernel storage: a
    // program the emulated channel refuses with a protection check runs.
    let t = Twin::new(device, MEM, true);
    for g in [&t.direct, &t.passed] {
        assert!(g.mem.set_storage_key(u64::from(PROG), StorageKey::new(5, true)));
    }
    put(&t, PROG, &[ccw1(0x03, 0, 0, 0)]);
    let (d, p) = t.run(&orb(fmt1().with_key(3)));
    assert!(d.irb.expect("direct").scsw.cstat.protection_check());
    assert_eq!(p.irb.expect("passthrough").scsw.dstat, DeviceStatus::CE_DE);
    std::thread::sleep(Duration::from_millis(1));
}

#[test]
fn differences_sees_a_device_that_is_not_the_same() {
    // The comparison itself: two devices with different data differ.
    let n = std::sync::atomic::AtomicU8::new(0);
    let t = Twin::new(
        || {
            let d = MockDevice::with_info(info());
            let k = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            d.control().set_read_data(0x02, vec![k; 8 + usize::from(k)]);
            Box::new(d)
        },
        MEM,
        false,
    );
    put(&t, PROG, &[ccw1(0x02, SLI, 64, 0x3000)]);
    let d = t.differences(&orb(fmt1()), DATA);
    assert!(d.iter().any(|l| l.starts_with("irb.scsw.count")), "{d:?}");
    assert!(d.iter().any(|l| l.starts_with("storage 0x3000")), "{d:?}");
}

/// A device whose READ IPL (0x02) returns an IPL record: the PSW, a NOP at
/// 8 the chain continues with, and `tail` after it.
fn ipl_device(reject: bool) -> Box<dyn zcss_css::Device> {
    let d = MockDevice::with_info(info());
    let c = d.control();
    let mut rec = vec![0x00, 0x08, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00];
    rec.extend_from_slice(
        &Ccw0::new()
            .with_cmd(0x03)
            .with_flags(f(SLI))
            .with_count(1)
            .to_be_bytes(),
    );
    rec.extend_from_slice(&[0; 8]);
    c.set_read_data(0x02, rec);
    if reject {
        c.set_reply(0x02, MockReply::UnitCheck(Sense::byte0(Sense::COMMAND_REJECT)));
    }
    Box::new(d)
}

fn ipl_both(t: &Twin) -> (zcss_css::IplOutcome, zcss_css::IplOutcome) {
    let ipl = |g: &zcss_vfio_ccw::mock::Guest| {
        let gr1 = g.gr1(t.sid);
        g.css
            .ipl(&zcss_css::IoCtx::new(&*g.mem), gr1)
            .expect("no program check")
    };
    (ipl(&t.direct), ipl(&t.passed))
}

#[test]
fn ipl_through_passthrough_loads_the_same_psw() {
    let t = Twin::new(|| ipl_device(false), MEM, false);
    let (d, p) = ipl_both(&t);
    assert!(matches!(d, zcss_css::IplOutcome::Loaded { .. }), "{d:?}");
    assert_eq!(d, p);
    for g in [&t.direct, &t.passed] {
        assert_eq!(g.mem.fetch(0, 24).unwrap(), t.direct.mem.fetch(0, 24).unwrap());
        assert_eq!(g.mem.fetch(184, 8).unwrap(), t.direct.mem.fetch(184, 8).unwrap());
    }
}

#[test]
fn ipl_through_passthrough_fails_the_same_way() {
    let t = Twin::new(|| ipl_device(true), MEM, false);
    let (d, p) = ipl_both(&t);
    assert!(matches!(d, zcss_css::IplOutcome::Failed { .. }), "{d:?}");
    assert_eq!(d, p);
}

#[test]
fn misaligned_tic_into_storage_outside_the_program_is_transparent() {
    // Linux follows such a TIC as a new segment whose host copy is
    // aligned, so the host channel would run CCWs the guest's channel never
    // fetches: the model keeps the misalignment and the host channel
    // program-checks at the TIC, as the guest's would. The bytes at the
    // target are a READ the host must not run.
    let t = twin();
    put(&t, PROG, &[ccw1(0x03, CC, 0, 0), ccw1(0x08, 0, 0, 0x3004)]);
    t.store(0x3000, &[0xaa; 16]);
    t.store(0x3004, &ccw1(0x02, SLI, 8, 0x3800));
    assert_transparent(&t, &orb(fmt1()), DATA);
}

#[test]
fn misaligned_orb_program_address_is_transparent() {
    let t = twin();
    put(&t, PROG, &[ccw1(0x03, 0, 0, 0), ccw1(0x02, SLI, 8, 0x3800)]);
    t.store(u64::from(PROG) + 4, &ccw1(0x02, SLI, 8, 0x3800));
    let mut o = orb(fmt1());
    o.cpa = PROG + 4;
    assert_transparent(&t, &o, DATA);
}
