//! TEST SUBCHANNEL withdraws a queued interruption request without touching
//! the shared per-ISC queue (the entry goes stale). Delivery must skip stale
//! entries, keep FIFO order among live ones, and the queue must stay bounded
//! however long a guest polls with TSCH alone.

mod common;

use common::{gr1, Machine};
use zcss_ccw::sid::SubchannelId;
use zcss_css::Cc;

const NOP: u8 = 0x03;
const SLI: u8 = 0x20;

#[test]
fn tsch_polling_without_tpi_keeps_queue_bounded_and_delivers_nothing_stale() {
    let m = Machine::new(3);
    for i in 0..3 {
        m.enable(gr1(i), 3);
    }
    for round in 0..20_000u32 {
        let s = u16::try_from(round % 3).unwrap();
        assert_eq!(m.start(gr1(s), round, NOP, SLI, 0), Ok(Cc::Zero));
        assert_eq!(m.tsch(gr1(s)).0, Ok(Cc::Zero));
    }
    m.css.check_invariants().unwrap();
    assert_eq!(m.css.next_interrupt(0xff), None);
    assert_eq!(m.css.tpi(&m.ctx(), 0x5000, 0xff), Ok(Cc::Zero));
}

#[test]
fn withdrawn_request_is_skipped_and_live_ones_keep_fifo_order() {
    let m = Machine::new(3);
    for i in 0..3 {
        m.enable(gr1(i), 3);
    }
    for i in 0..3u16 {
        assert_eq!(m.start(gr1(i), u32::from(i) + 100, NOP, SLI, 0), Ok(Cc::Zero));
    }
    // Withdraw the oldest request (subchannel 0) with TSCH, then start it
    // again: its new request is behind subchannels 1 and 2.
    assert_eq!(m.tsch(gr1(0)).0, Ok(Cc::Zero));
    assert_eq!(m.start(gr1(0), 200, NOP, SLI, 0), Ok(Cc::Zero));
    let order: Vec<(u32, u32)> = std::iter::from_fn(|| m.css.next_interrupt(0xff))
        .map(|c| (c.sid, c.intparm))
        .collect();
    let word = |schno: u16| SubchannelId::new(0xfe, 0, schno).unwrap().to_word(false);
    assert_eq!(order, vec![(word(1), 101), (word(2), 102), (word(0), 200)]);
    m.css.check_invariants().unwrap();
}

#[test]
fn clear_withdraws_request_and_tpi_finds_only_the_clear_interruption() {
    let m = Machine::new(1);
    m.enable(gr1(0), 3);
    assert_eq!(m.start(gr1(0), 7, NOP, SLI, 0), Ok(Cc::Zero));
    assert_eq!(m.css.csch(&m.ctx(), gr1(0)), Ok(Cc::Zero));
    // The start's request was withdrawn; the clear function made a new one.
    assert!(m.css.next_interrupt(0xff).is_some());
    assert_eq!(m.css.next_interrupt(0xff), None);
    m.css.check_invariants().unwrap();
}
