//! CCW-type initial program loading (PoO chapter 17, "Initial Program
//! Loading"): the implied READ IPL CCW, the chain continuing at 8, the
//! subsystem-identification word at 184, the IPL PSW handed back.

mod common;

use common::*;
use zcss_ccw::device::Sense;
use zcss_ccw::status::DeviceStatus;
use zcss_css::mock::MockReply;
use zcss_css::{Cc, IplOutcome, ProgramCheck};

/// The 24 bytes of an IPL record: a PSW, then a format-0 READ of 16 bytes
/// to 0x1000 (SLI, no chaining) at 8, and a NOP at 16 (not reached).
const IPL_RECORD: [u8; 24] = [
    0x00, 0x08, 0x00, 0x00, 0x80, 0x00, 0x10, 0x00, // PSW
    0x02, 0x00, 0x10, 0x00, 0x20, 0x00, 0x00, 0x10, // READ 16 → 0x1000
    0x03, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x01, // NOP
];

#[test]
fn ipl_loads_record_runs_chain_stores_sid_and_returns_psw() {
    let m = Machine::new(3);
    m.ctl[2].set_read_data(0x02, IPL_RECORD.to_vec());
    m.mem.store(184, &[0xee; 8]).unwrap();
    let out = m.css.ipl(&m.ctx(), gr1(2)).unwrap();
    assert_eq!(
        out,
        IplOutcome::Loaded {
            psw: [0x00, 0x08, 0, 0, 0x80, 0, 0x10, 0]
        }
    );
    assert_eq!(m.mem.fetch(0, 24).unwrap(), IPL_RECORD.to_vec(), "the record at 0");
    assert_eq!(
        m.mem.fetch(0x1000, 16).unwrap(),
        IPL_RECORD[..16].to_vec(),
        "the chained READ ran"
    );
    assert_eq!(m.mem.fetch(184, 8).unwrap(), vec![0x00, 0x01, 0x00, 0x02, 0, 0, 0, 0]);
    assert_eq!(
        m.ctl[2].commands(),
        vec![0x02, 0x02],
        "implied READ IPL, then the CCW at 8"
    );
    // The status was taken without an interruption; the subchannel is idle
    // and enabled.
    assert_eq!(m.css.next_interrupt(0xff), None);
    let s = m.stsch(gr1(2));
    assert!(s.pmcw.flags.enabled());
    assert_eq!(s.scsw.ctrl.stctl().into_bits(), 0);
    assert_eq!(m.tsch(gr1(2)).0, Ok(Cc::One));
    m.css.check_invariants().unwrap();
}

#[test]
fn ipl_from_missing_device_is_not_operational() {
    let m = Machine::new(1);
    assert_eq!(m.css.ipl(&m.ctx(), gr1(5)), Ok(IplOutcome::NotOperational));
    assert_eq!(m.css.ipl(&m.ctx(), 0x0000_0000), Err(ProgramCheck::Operand));
}

#[test]
fn ipl_ending_with_unit_check_fails_without_loading() {
    let m = Machine::new(1);
    m.ctl[0].set_reply(0x02, MockReply::UnitCheck(Sense::byte0(Sense::EQUIPMENT_CHECK)));
    let out = m.css.ipl(&m.ctx(), gr1(0)).unwrap();
    assert_eq!(
        out,
        IplOutcome::Failed {
            dstat: DeviceStatus::CE_DE_UC,
            cstat: zcss_ccw::status::SubchannelStatus::new()
        }
    );
    assert_eq!(m.mem.fetch(184, 4).unwrap(), vec![0; 4], "no SID word stored");
    assert_eq!(m.css.next_interrupt(0xff), None);
}

#[test]
fn ipl_resets_the_io_system_first() {
    let m = Machine::new(2);
    m.ctl[1].set_read_data(0x02, IPL_RECORD.to_vec());
    m.enable(gr1(0), 3);
    assert_eq!(m.start(gr1(0), 1, 0x03, 0x20, 0), Ok(Cc::Zero));
    assert!(m.css.pending_iscs() != 0);
    assert!(matches!(m.css.ipl(&m.ctx(), gr1(1)), Ok(IplOutcome::Loaded { .. })));
    assert_eq!(m.css.pending_iscs(), 0, "the reset withdrew the other status");
    assert!(!m.stsch(gr1(0)).pmcw.flags.enabled());
}
