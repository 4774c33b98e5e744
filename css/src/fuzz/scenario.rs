//! Scenarios: the machine, the subchannels and the steps the harness
//! runs, drawn from fuzz input, planned as actions and printed as traces.

use arbitrary::{Arbitrary, Unstructured};
use zcss_ccw::generate::{LaidOut, Layout, StartDesc};
use zcss_ccw::sid::SubchannelId;

use super::action::{self, Action};
use super::{
    CssStep, Start, CCW_LIMIT, CCW_LOOP_LIMIT, IRB_ADDR, ISC, MAX_STEPS, MAX_SUBCHANNELS, SCHIB_ADDR, STORAGE, TPI_ADDR,
};

/// One step of a scenario; the `u8` picks the subchannel (modulo the
/// scenario's count).
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum Step<S = StartDesc> {
    /// Lay out a start and issue START SUBCHANNEL.
    Start(u8, S),
    /// TEST SUBCHANNEL.
    Test(u8),
    /// HALT SUBCHANNEL.
    Halt(u8),
    /// CLEAR SUBCHANNEL.
    Clear(u8),
    /// CANCEL SUBCHANNEL.
    Cancel(u8),
    /// RESUME SUBCHANNEL.
    Resume(u8),
    /// TEST PENDING INTERRUPTION (all ISCs).
    Tpi,
    /// The device presents this status unsolicited.
    Unsolicited(u8, u8),
    /// A step at the level of the channel subsystem.
    Css(CssStep),
}

/// The machine a scenario runs on (the trace's `machine` and `device` keys).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Arbitrary)]
pub struct MachineOpts {
    /// MCSS-E enabled: GR1 words carry the CSSID (`mcss=on`).
    pub mcss: bool,
    /// Multiple subchannel sets enabled (`mss=on`).
    pub mss: bool,
    /// Every subchannel has the channel-subsystem timing facility
    /// (`timing=on`), on the deterministic clock replay uses.
    pub timing: bool,
}

/// A scenario: the machine, how many subchannels hold the device, and the
/// steps.
///
/// Drawn from fuzz input ([`Arbitrary`]), the steps go on while input is
/// left (up to [`MAX_STEPS`]) rather than while a continuation byte says
/// so: every input decodes to as many steps as its bytes hold.
#[derive(Clone, PartialEq, Eq)]
pub struct Scenario<S = StartDesc> {
    /// The machine's options.
    pub machine: MachineOpts,
    /// Subchannels fe.0.0000 … (taken as 1 + this modulo [`MAX_SUBCHANNELS`]).
    pub subchannels: u8,
    /// The steps, at most [`MAX_STEPS`] run.
    pub steps: Vec<Step<S>>,
}

impl<'a, S: Start> Arbitrary<'a> for Scenario<S> {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Self::arbitrary_mixed(u, 0)
    }
}

impl<S: Start> Scenario<S> {
    /// Draws a scenario in which, besides the css-level steps every step
    /// may be, about `css_per_255` of 255 steps are css-level
    /// ([`CssStep`]): the `css_insn` target's mix.
    ///
    /// # Errors
    /// When `u` cannot give the machine and the subchannel count.
    pub fn arbitrary_mixed(u: &mut Unstructured<'_>, css_per_255: u8) -> arbitrary::Result<Self> {
        let machine = MachineOpts::arbitrary(u)?;
        let subchannels = u8::arbitrary(u)?;
        let mut steps = Vec::new();
        while steps.len() < MAX_STEPS && !u.is_empty() {
            let step = if css_per_255 > 0 && u.ratio(css_per_255, 255u8)? {
                CssStep::arbitrary(u).map(Step::Css)
            } else {
                Step::arbitrary(u)
            };
            match step {
                Ok(s) => steps.push(s),
                Err(_) => break,
            }
        }
        Ok(Self {
            machine,
            subchannels,
            steps,
        })
    }
}

/// One step as the harness runs it ([`Scenario::plan`]).
#[derive(Debug, Clone)]
pub struct Planned {
    /// The actions, in order.
    pub actions: Vec<Action>,
    /// For a start: the subchannel's index and the start laid out.
    pub start: Option<(usize, LaidOut)>,
}

impl<S: Start> Scenario<S> {
    /// The number of subchannels used.
    #[must_use]
    pub fn subchannel_count(&self) -> usize {
        1 + usize::from(self.subchannels) % MAX_SUBCHANNELS
    }

    /// What the harness does for each step (at most [`MAX_STEPS`]): its
    /// actions and, for a start, the subchannel and the start laid out.
    /// Host events that cannot happen where they stand — unplugging an
    /// empty subchannel, plugging into an occupied one, unsolicited status
    /// from no device — become comments, so that the trace is one the
    /// parser takes.
    #[must_use]
    pub fn plan(&self) -> Vec<Planned> {
        let mut attached = vec![true; self.subchannel_count()];
        self.steps
            .iter()
            .take(MAX_STEPS)
            .map(|step| {
                let (mut actions, start) = self.actions(step);
                // A store of nothing has no trace statement (and does nothing).
                actions.retain(|a| !matches!(a, Action::Store(_, b) if b.is_empty()));
                for a in &mut actions {
                    let sid = |i: &usize| Scenario::<StartDesc>::sid(*i);
                    let skip = match a {
                        Action::Detach(i) => !std::mem::replace(&mut attached[*i], false),
                        Action::Attach(i) => std::mem::replace(&mut attached[*i], true),
                        Action::Unsolicited(i, _) | Action::Input(i, _) => !attached[*i],
                        _ => false,
                    };
                    if skip {
                        let what = match a {
                            Action::Detach(i) => format!("detach {}: no device there", sid(i)),
                            Action::Attach(i) => format!("hot plug {}: a device is there", sid(i)),
                            Action::Unsolicited(i, _) => format!("unsolicited {}: no device there", sid(i)),
                            Action::Input(i, _) => format!("console input {}: no device there", sid(i)),
                            _ => String::new(),
                        };
                        *a = Action::Comment(what);
                    }
                }
                Planned { actions, start }
            })
            .collect()
    }

    /// The actions of `step` (see [`Action`]) and, for a start, the
    /// subchannel's index and the start laid out.
    fn actions(&self, step: &Step<S>) -> (Vec<Action>, Option<(usize, LaidOut)>) {
        let n = self.subchannel_count();
        let mcss = self.machine.mcss;
        let i = |s: &u8| usize::from(*s) % n;
        let gr1 = |s: &u8| Scenario::<StartDesc>::gr1(i(s), mcss);
        let one = |a: Action| (vec![a], None);
        match step {
            Step::Start(s, d) => {
                let at = Scenario::<StartDesc>::layout(i(s));
                let laid = d.lay_out(&at);
                let mut v: Vec<Action> = d.note().into_iter().map(Action::Comment).collect();
                v.extend(laid.keys.iter().map(|(a, k)| Action::Skey(*a, *k)));
                v.extend(laid.stores.iter().map(|(a, b)| Action::Store(*a, b.clone())));
                v.push(Action::Ssch(gr1(s), at.orb));
                (v, Some((i(s), laid)))
            }
            Step::Test(s) => one(Action::Tsch(gr1(s), IRB_ADDR)),
            Step::Halt(s) => one(Action::Hsch(gr1(s))),
            Step::Clear(s) => one(Action::Csch(gr1(s))),
            Step::Cancel(s) => one(Action::Xsch(gr1(s))),
            Step::Resume(s) => one(Action::Rsch(gr1(s))),
            Step::Tpi => one(Action::Tpi(TPI_ADDR, 0xff)),
            Step::Unsolicited(s, st) => one(Action::Unsolicited(i(s), *st)),
            Step::Css(c) => (c.actions(n, mcss), None),
        }
    }

    /// The scenario as a `.zct` trace (docs/trace-format.md): the machine
    /// (storage keys on, the harness's CCW bounds), one `device` line per
    /// subchannel of kind `device` (a kind and its keys, e.g.
    /// `mock replies=03:busy`), the set-up (STSCH, MSCH enabling each
    /// subchannel on ISC 3), and per step its actions. Results are left
    /// out (replay runs them unchecked, `--bless` fills them in).
    #[must_use]
    pub fn trace(&self, device: &str) -> String {
        self.trace_each(&|_| device.to_owned())
    }

    /// [`Scenario::trace`] with the device kind and keys of subchannel `i`
    /// given by `device(i)` (passthrough devices name their host
    /// subchannel: `vfio-dasd host=0.0.000i …`). With a passthrough kind,
    /// a `wait` follows every step, as the harness waits for the host.
    #[must_use]
    pub fn trace_each(&self, device: &dyn Fn(usize) -> String) -> String {
        let n = self.subchannel_count();
        let m = self.machine;
        let mut t = String::from("zcss-trace 1\n# a zcss_css::fuzz scenario\n");
        t.push_str(&format!(
            "machine memory={STORAGE:#010x} storage-keys=on ccw-loop-limit={CCW_LOOP_LIMIT} ccw-limit={CCW_LIMIT}{}{}\n",
            if m.mcss { " mcss=on" } else { "" },
            if m.mss { " mss=on" } else { "" }
        ));
        let passthrough = (0..n).any(|i| action::is_passthrough(&device(i)));
        for i in 0..n {
            action::write_device(&mut t, i, &device(i), m.timing);
        }
        for i in 0..n {
            for a in Self::enable(i, m.mcss) {
                a.write_trace(&mut t, device, m.timing);
            }
        }
        for p in self.plan() {
            for a in &p.actions {
                a.write_trace(&mut t, device, m.timing);
            }
            if passthrough {
                t.push_str("wait\n");
            }
        }
        t
    }

    /// The set-up of subchannel `i`: STSCH, the enabling PMCW word, MSCH.
    pub(super) fn enable(i: usize, mcss: bool) -> [Action; 3] {
        let devno = u16::try_from(i).unwrap_or(0).to_be_bytes();
        let gr1 = Scenario::<StartDesc>::gr1(i, mcss);
        [
            Action::Stsch(gr1, SCHIB_ADDR),
            Action::Store(SCHIB_ADDR + 4, vec![ISC << 3, 0x80, devno[0], devno[1]]),
            Action::Msch(gr1, SCHIB_ADDR),
        ]
    }
}

impl Scenario<StartDesc> {
    /// The subchannel of index `i`: fe.0.000i.
    #[must_use]
    pub fn sid(i: usize) -> SubchannelId {
        SubchannelId {
            cssid: 0xfe,
            ssid: 0,
            schno: u16::try_from(i).unwrap_or(0),
        }
    }

    /// GR1 naming subchannel `i` (with the CSSID when MCSS-E is on).
    #[must_use]
    pub fn gr1(i: usize, mcss: bool) -> u32 {
        Self::sid(i).to_word(mcss)
    }

    /// The 64 KiB region of subchannel `i`.
    #[must_use]
    pub fn layout(i: usize) -> Layout {
        Layout::default().shifted(u64::try_from(i).unwrap_or(0) + 1)
    }
}

impl<S: Start> std::fmt::Debug for Scenario<S> {
    /// The trace ([`Scenario::trace`]) with the device kind `mock` standing
    /// in for the device under test (a comment says so): `zcss replay`
    /// runs the channel side of it; the harness replays it with the device.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.trace("mock");
        let (header, rest) = t.split_once('\n').unwrap_or((&t, ""));
        write!(
            f,
            "{header}\n# the device under test is the fuzz target's own; `mock` stands in for it\n{rest}"
        )
    }
}
