//! A byte-driven instruction interpreter (feature `test-utils`):
//! arbitrary sequences of I/O instructions, device events and hot plugs
//! against a machine with mock devices, checking the state invariants
//! after every step. The property tests below run it: it reaches what the
//! fuzz harness ([`crate::fuzz`], behind the `css_insn` fuzz target) does
//! not express as trace statements — guest stores of any bytes anywhere
//! (ORBs, SCHIBs, CHSC blocks), PSW access keys and the problem state.

use zcss_ccw::device::Sense;
use zcss_ccw::memory::{AccessKey, GuestMemory, StorageKey, VecMemory};
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::status::DeviceStatus;

use crate::mock::{MockControl, MockDevice, MockReply};
use crate::{Css, CssConfig, IoCtx};

/// Guest storage size of the fuzzing machine.
const MEM: u64 = 1 << 16;
/// Most steps interpreted from one input.
const MAX_STEPS: usize = 512;

struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes([self.u8()?, self.u8()?, self.u8()?, self.u8()?]))
    }

    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        if self.data.len() < n {
            return None;
        }
        let (b, rest) = self.data.split_at(n);
        self.data = rest;
        Some(b)
    }
}

/// A subchannel-id word: mostly one of the machine's subchannels, sometimes
/// anything.
fn sid_word(inp: &mut Input<'_>) -> Option<u32> {
    let b = inp.u8()?;
    Some(match b >> 6 {
        0..=2 => 0x0001_0000 | u32::from(b & 7),
        _ => inp.u32()?,
    })
}

/// An operand address: mostly inside storage and aligned, sometimes anything.
fn addr(inp: &mut Input<'_>) -> Option<u64> {
    const USUAL: [u64; 8] = [0x1000, 0x1800, 0x1840, 0x2000, 0x3000, 0x3040, 0x3800, 0x1ffc];
    let v = inp.u16()?;
    Some(match v >> 14 {
        0 | 1 => USUAL[usize::from(v & 7)],
        2 => u64::from(v & 0x3ff8),
        _ => u64::from(inp.u32()?) << (v & 0x1f),
    })
}

/// What a run did (for tests that check the interpreter reaches deep states).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Steps interpreted.
    pub steps: usize,
    /// START SUBCHANNELs that set condition code 0.
    pub started: usize,
    /// TEST SUBCHANNELs that set condition code 0.
    pub tested: usize,
}

/// Interprets `data` as a sequence of steps; panics if an invariant breaks
/// (that is the finding).
///
/// # Panics
/// When the channel subsystem's state invariants are violated.
pub fn run(data: &[u8]) -> Stats {
    let mut stats = Stats::default();
    let mut inp = Input { data };
    let Some(cfg) = inp.u8() else { return stats };
    let css = Css::new(CssConfig {
        mcss: cfg & 1 != 0,
        mss: cfg & 2 != 0,
        ..CssConfig::default()
    });
    let mem = if cfg & 4 != 0 {
        let m = VecMemory::with_storage_keys(MEM);
        m.set_storage_key(0x2000, StorageKey::new(3, cfg & 8 != 0));
        m
    } else {
        VecMemory::new(MEM)
    };
    let mut ctl: Vec<Option<MockControl>> = (0..6).map(|_| None).collect();
    let sid = |i: usize| SubchannelId {
        cssid: 0xfe,
        ssid: 0,
        schno: u16::try_from(i).unwrap_or(0),
    };
    for (i, c) in ctl.iter_mut().enumerate().take(4) {
        let d = MockDevice::new(0x3832, 1);
        *c = Some(d.control());
        let _ = css.attach_cold(sid(i), u16::try_from(i).unwrap_or(0), Box::new(d));
        if cfg & 0x10 != 0 {
            // The timing facility, on a deterministic clock.
            let _ = css.set_timing_facility(sid(i), true);
        }
    }
    if cfg & 0x10 != 0 {
        css.set_clock(std::sync::Arc::new(crate::measurement::StepClock::replay()));
    }
    for _ in 0..MAX_STEPS {
        let Some(op) = inp.u8() else { break };
        let key = AccessKey::new(op >> 4 & 3);
        let ctx = IoCtx::new(&mem).with_key(key).with_problem_state(op & 0xc0 == 0xc0);
        let mut step = || -> Option<()> {
            match op & 0x1f {
                0 => {
                    let (g, a) = (sid_word(&mut inp)?, addr(&mut inp)?);
                    if css.ssch(&ctx, g, a) == Ok(crate::Cc::Zero) {
                        stats.started += 1;
                    }
                }
                1 => {
                    let (g, a) = (sid_word(&mut inp)?, addr(&mut inp)?);
                    if css.tsch(&ctx, g, a) == Ok(crate::Cc::Zero) {
                        stats.tested += 1;
                    }
                }
                2 => {
                    let (g, a) = (sid_word(&mut inp)?, addr(&mut inp)?);
                    let _ = css.stsch(&ctx, g, a);
                }
                3 => {
                    let (g, a) = (sid_word(&mut inp)?, addr(&mut inp)?);
                    let _ = css.msch(&ctx, g, a);
                }
                4 => {
                    let _ = css.csch(&ctx, sid_word(&mut inp)?);
                }
                5 => {
                    let _ = css.hsch(&ctx, sid_word(&mut inp)?);
                }
                6 => {
                    let _ = css.xsch(&ctx, sid_word(&mut inp)?);
                }
                7 => {
                    let _ = css.rsch(&ctx, sid_word(&mut inp)?);
                }
                8 => {
                    let (a, m) = (addr(&mut inp)?, inp.u8()?);
                    let _ = css.tpi(&ctx, if m & 1 != 0 { 0 } else { a }, m);
                }
                9 => {
                    let _ = css.stcrw(&ctx, addr(&mut inp)?);
                }
                10 => {
                    let _ = css.rchp(&ctx, inp.u32()?);
                }
                11 => {
                    let _ = css.sal(&ctx, inp.u32()?);
                }
                12 => {
                    let (g1, g2) = (inp.u32()?, inp.u32()?);
                    let _ = css.schm(&ctx, g1, u64::from(g2));
                }
                13 => {
                    let a = u64::from(inp.u8()? & 0xf) << 12;
                    let _ = css.chsc(&ctx, a);
                }
                14 => {
                    let (g1, g3) = (inp.u32()?, inp.u32()?);
                    let _ = css.sic(&ctx, u64::from(g1), u64::from(g3));
                }
                15 | 16 => {
                    // Guest stores: CCWs, ORBs, SCHIBs and CHSC blocks come from here.
                    let a = u64::from(inp.u16()? & 0x3fff);
                    let n = usize::from(inp.u8()? & 0x3f);
                    let b = inp.bytes(n)?;
                    let _ = mem.write(a, b, AccessKey::ZERO);
                }
                17 => {
                    let i = usize::from(inp.u8()? % 6);
                    if let Some(c) = &ctl[i] {
                        let _ = c.unsolicited(DeviceStatus::from_bits(inp.u8()?));
                    }
                }
                18 => {
                    css.adapter_interrupt(inp.u8()? & 7);
                }
                19 => {
                    let i = usize::from(inp.u8()? % 6);
                    let d = MockDevice::new(0x3832, 1);
                    let c = d.control();
                    if css.attach(sid(i), u16::try_from(i).unwrap_or(0), Box::new(d)).is_ok() {
                        ctl[i] = Some(c);
                    }
                }
                20 => {
                    let i = usize::from(inp.u8()? % 6);
                    if css.detach(sid(i)).is_ok() {
                        ctl[i] = None;
                    }
                }
                21 => {
                    let (i, cmd, r) = (usize::from(inp.u8()? % 6), inp.u8()?, inp.u8()?);
                    if let Some(c) = &ctl[i] {
                        let reply = match r & 3 {
                            0 => MockReply::Ok,
                            1 => MockReply::Busy,
                            2 => MockReply::UnitCheck(Sense::byte0(r)),
                            _ => MockReply::Status(DeviceStatus::from_bits(r)),
                        };
                        c.set_reply(cmd, reply);
                    }
                }
                22 => {
                    let _ = css.next_interrupt(inp.u8()?);
                }
                23 => {
                    let _ = css.take_crw_machine_check();
                }
                _ => {
                    let (g, a) = (sid_word(&mut inp)?, addr(&mut inp)?);
                    let _ = css.stsch(&ctx, g, a);
                }
            }
            Some(())
        };
        let done = step().is_none();
        stats.steps += 1;
        if let Err(e) = css.check_invariants() {
            panic!("invariant broken after op {op:#04x}: {e}");
        }
        if done {
            break;
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_empty_and_short_inputs_do_nothing() {
        assert_eq!(run(&[]).steps, 0);
        assert_eq!(run(&[0]).steps, 0);
        assert_eq!(run(&[0, 0]).steps, 1);
    }

    #[test]
    fn run_start_and_test_sequence_keeps_invariants() {
        // Enable subchannel 0 (store SCHIB with E at 0x1000, MSCH), store a
        // NOP CCW and an ORB, SSCH, TPI, TSCH.
        let mut d = vec![0u8];
        d.extend([15, 0x10, 0x00, 8, 0, 0, 0, 0, 0x18, 0x81, 0, 0]);
        d.extend([3, 0, 0x10, 0x00]);
        d.extend([15, 0x20, 0x00, 8, 0x03, 0x20, 0, 0, 0, 0, 0, 0]);
        d.extend([15, 0x18, 0x00, 12, 0, 0, 0, 1, 0, 0x80, 0x80, 0, 0, 0, 0x20, 0]);
        d.extend([0, 0, 0x18, 0x00]);
        d.extend([8, 0x30, 0x00, 0xff]);
        d.extend([1, 0, 0x30, 0x00]);
        let stats = run(&d);
        assert_eq!((stats.started, stats.tested), (1, 1));
    }

    /// Enables subchannels 0-3 on ISC 3 and stores a NOP-NOP program at
    /// 0x2000 and ORBs at 0x1800 (format 1) and 0x1840 (suspend control).
    fn setup() -> Vec<u8> {
        setup_with(vec![0], 0x81)
    }

    /// [`setup`] with the timing facility on every subchannel, each measured
    /// (MM bit 11, format-0 blocks at 0x3800 + 32 × MBI) with its path
    /// operational (POM 0xff), so that programs run.
    fn setup_timed() -> Vec<u8> {
        let mut d = setup_with(vec![0x10, 15, 0x10, 0x0e, 1, 0xff], 0x91);
        d.extend([12, 0, 0, 0, 2, 0, 0, 0x38, 0x00]);
        d
    }

    fn setup_with(mut d: Vec<u8>, pmcw_byte5: u8) -> Vec<u8> {
        for s in 0..4u8 {
            d.extend([15, 0x10, 0x00, 8, 0, 0, 0, s, 0x18, pmcw_byte5, 0, s]);
            d.extend([3, s, 0x00, 0x00]);
        }
        d.extend([
            15, 0x20, 0x00, 16, 0x03, 0x60, 0, 0, 0, 0, 0, 0, 0x03, 0x22, 0, 0, 0, 0, 0, 0,
        ]);
        d.extend([15, 0x18, 0x00, 12, 0, 0, 0, 1, 0, 0x80, 0x80, 0, 0, 0, 0x20, 0]);
        d.extend([15, 0x18, 0x40, 12, 0, 0, 0, 2, 0x08, 0x80, 0x80, 0, 0, 0, 0x20, 0]);
        d
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn run_arbitrary_bytes_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let stats = run(&data);
            proptest::prop_assert!(stats.steps <= MAX_STEPS);
        }

        #[test]
        fn run_arbitrary_steps_on_enabled_machine_keep_invariants(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let mut d = setup();
            d.extend(data);
            let stats = run(&d);
            proptest::prop_assert!(stats.steps >= 11);
        }

        #[test]
        fn run_arbitrary_steps_on_timed_machine_keep_invariants(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let mut d = setup_timed();
            d.extend(data);
            let stats = run(&d);
            proptest::prop_assert!(stats.steps >= 13);
        }
    }

    #[test]
    fn run_timed_start_suspend_and_resume_keep_invariants() {
        // setup_timed, then subchannel 0: SSCH (ORB 0x1800), TSCH (IRB
        // 0x3000); subchannel 1: SSCH with suspend control (ORB 0x1840),
        // TSCH of the intermediate status, RSCH, TSCH.
        let mut d = setup_timed();
        d.extend([0, 0, 0x00, 0x01, 1, 0, 0x00, 0x04]);
        d.extend([0, 1, 0x00, 0x02, 1, 1, 0x00, 0x04, 7, 1, 1, 1, 0x00, 0x04]);
        let stats = run(&d);
        assert_eq!((stats.started, stats.tested), (2, 3));
    }
}
