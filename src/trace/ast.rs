//! The syntax tree of a trace file.
//!
//! A [`Trace`] is a list of [`Line`]s, one per line of the file, so that
//! comments, blank lines and line numbers survive a parse and a print (the
//! basis of `replay --bless`). Numbers remember how they were written
//! ([`NumStyle`]) and hex-byte operands remember their token grouping, so the
//! printer can reproduce a canonical trace exactly.

use std::fmt;

pub use super::num::{Num, NumStyle, SchAddr};

/// Raw bytes of a `store`, with the lengths of the hex tokens they were
/// written in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HexBytes {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Bytes per token, in order; sums to `bytes.len()`.
    pub groups: Vec<u32>,
}

impl HexBytes {
    /// `bytes` in tokens of `group` bytes (the last may be shorter).
    #[must_use]
    pub fn grouped(bytes: Vec<u8>, group: usize) -> Self {
        let group = group.max(1);
        let groups = bytes
            .chunks(group)
            .map(|c| u32::try_from(c.len()).unwrap_or(u32::MAX))
            .collect();
        Self { bytes, groups }
    }
}

/// The bytes of an `expect`: `None` is a `..` wildcard.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pattern {
    /// The expected bytes, `None` where not compared.
    pub bytes: Vec<Option<u8>>,
    /// Bytes per token, in order; sums to `bytes.len()`.
    pub groups: Vec<u32>,
}

impl Pattern {
    /// Exact bytes (no wildcard) in tokens of `group` bytes.
    #[must_use]
    pub fn exact(bytes: &[u8], group: usize) -> Self {
        let g = HexBytes::grouped(bytes.to_vec(), group);
        Self {
            bytes: g.bytes.into_iter().map(Some).collect(),
            groups: g.groups,
        }
    }

    /// Whether `actual` (same length) matches, wildcards aside.
    #[must_use]
    pub fn matches(&self, actual: &[u8]) -> bool {
        self.bytes.len() == actual.len() && self.bytes.iter().zip(actual).all(|(e, a)| e.is_none_or(|e| e == *a))
    }
}

/// `on` / `off`.
pub type OnOff = bool;

/// One `key=value` of a `machine` statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineKey {
    /// `memory=<bytes>`: guest storage size.
    Memory(Num),
    /// `mcss=on|off`: MCSS-E enabled from the start.
    Mcss(OnOff),
    /// `mss=on|off`: multiple subchannel sets enabled from the start.
    Mss(OnOff),
    /// `default-css=<hex>`: the css image a guest without MCSS-E sees.
    DefaultCss(Num),
    /// `map-css=on|off`: css remapping of passthrough devices (default on:
    /// a passthrough device appears in the default css; off: in its real
    /// css image, seen only with MCSS-E).
    MapCss(OnOff),
    /// `ccw-loop-limit=<n>`: the bound on a channel program that loops
    /// (revisits a CCW address) without transferring data: the most
    /// consecutive CCWs without data transfer once the program came back
    /// ([`zcss_ccw::Limits::max_idle_ccws`], default 1024).
    CcwLoopLimit(Num),
    /// `ccw-limit=<n>`: the most CCWs per start or resume of a program
    /// that has looped back ([`zcss_ccw::Limits::max_ccws`], default
    /// 2^20).
    CcwLimit(Num),
    /// `storage-keys=on|off`: guest storage has storage keys (default
    /// off: no key-controlled protection; `skey` statements need on).
    StorageKeys(OnOff),
}

/// The device kinds the format names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// `virtio-blk`.
    VirtioBlk,
    /// `virtio-rng`.
    VirtioRng,
    /// `virtio-console`.
    VirtioConsole,
    /// `dasd-3390`.
    Dasd3390,
    /// `vfio-dasd`.
    VfioDasd,
    /// `mock`: the scriptable test device (`zcss_css::mock::MockDevice`),
    /// the device of the `chain_walk` fuzz target.
    Mock,
}

impl DeviceKind {
    /// Every kind, in the order the format lists them.
    pub const ALL: [Self; 6] = [
        Self::VirtioBlk,
        Self::VirtioRng,
        Self::VirtioConsole,
        Self::Dasd3390,
        Self::VfioDasd,
        Self::Mock,
    ];

    /// The name used in a trace.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::VirtioBlk => "virtio-blk",
            Self::VirtioRng => "virtio-rng",
            Self::VirtioConsole => "virtio-console",
            Self::Dasd3390 => "dasd-3390",
            Self::VfioDasd => "vfio-dasd",
            Self::Mock => "mock",
        }
    }

    /// Keys every kind accepts besides its own: `chpids=<hex>[,<hex>…]`
    /// (the device's channel paths, path 0x80 first) and `timing=on|off`
    /// (the channel-subsystem timing facility of the device's subchannel,
    /// PMCW T; default off).
    pub const COMMON_KEYS: &'static [&'static str] = &["chpids", TIMING_KEY];

    /// The keys this kind accepts besides [`Self::COMMON_KEYS`]: a
    /// `vfio-dasd` takes its host subchannel (`host=`, required) and the
    /// keys that describe the host's DASD as for `dasd-3390`.
    #[must_use]
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Self::VirtioBlk => &["size", "image", "readonly", "io"],
            Self::VirtioRng | Self::VirtioConsole => &[],
            Self::Dasd3390 => &["model", "cu", "image", "cylinders"],
            Self::VfioDasd => &["host", "model", "cu", "image", "cylinders"],
            Self::Mock => &["replies"],
        }
    }

    /// Whether the device is passed through from a host (its subchannel
    /// follows `map-css`).
    #[must_use]
    pub fn is_passthrough(self) -> bool {
        matches!(self, Self::VfioDasd)
    }
}

/// The `device` key of the timing facility: `timing=on` gives the
/// subchannel PMCW T = 1, so its measurement blocks get samples and times.
pub const TIMING_KEY: &str = "timing";

/// One `key=value` of a `device` statement, kept as written; the parser has
/// checked the key and the value's form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The key.
    pub key: String,
    /// The value as written.
    pub value: String,
}

/// `device <sch> devno=<hex4> <kind> [<key>=<value> …]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStmt {
    /// The subchannel.
    pub sch: SchAddr,
    /// The device number.
    pub devno: u16,
    /// The kind.
    pub kind: DeviceKind,
    /// Further keys, in the order written.
    pub params: Vec<Param>,
}

impl DeviceStmt {
    /// The value of `key`, if given.
    #[must_use]
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|p| p.key == key).map(|p| p.value.as_str())
    }

    /// The CHPIDs of `chpids=`, if given (the parser checked the form:
    /// one to eight distinct hex bytes).
    #[must_use]
    pub fn chpids(&self) -> Option<Vec<u8>> {
        self.param("chpids").and_then(|v| parse_chpids(v).ok())
    }
}

/// Parses a `mock` device's `replies=` value: `<cmd>:<reply>` items
/// separated by commas ([`MockReply`]).
///
/// # Errors
/// What is wrong with the value.
pub fn parse_mock_replies(v: &str) -> Result<Vec<(u8, MockReply)>, &'static str> {
    const EXPECTED: &str = "<cmd>:<reply>[,…] with cmd two hex digits and reply busy, uc<hh> or st<hh>";
    let hex2 = |t: &str| (t.len() == 2).then(|| u8::from_str_radix(t, 16).ok()).flatten();
    v.split(',')
        .map(|item| {
            let (cmd, reply) = item.split_once(':').ok_or(EXPECTED)?;
            let cmd = hex2(cmd).ok_or(EXPECTED)?;
            let reply = match reply {
                "busy" => MockReply::Busy,
                r => match (r.get(..2), r.get(2..).and_then(hex2)) {
                    (Some("uc"), Some(b)) => MockReply::UnitCheck(b),
                    (Some("st"), Some(b)) => MockReply::Status(b),
                    _ => return Err(EXPECTED),
                },
            };
            Ok((cmd, reply))
        })
        .collect()
}

/// How a `mock` device ends a command (its `replies=` key); commands not
/// named transfer data as their type asks and end with CE|DE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MockReply {
    /// `busy`: busy status, nothing transferred.
    Busy,
    /// `uc<hh>`: CE|DE|UC with sense byte 0 `hh` (kept for SENSE).
    UnitCheck(u8),
    /// `st<hh>`: this device status, nothing transferred.
    Status(u8),
}

/// Parses a `chpids=` value: one to eight distinct CHPIDs as hex bytes
/// (one or two digits, no `0x`), separated by commas.
///
/// # Errors
/// What is wrong with the list.
pub fn parse_chpids(v: &str) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::new();
    for part in v.split(',') {
        if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("hex CHPIDs (00 to ff) separated by commas");
        }
        let c = u8::from_str_radix(part, 16).map_err(|_| "hex CHPIDs (00 to ff) separated by commas")?;
        if out.contains(&c) {
            return Err("distinct CHPIDs");
        }
        out.push(c);
        if out.len() > 8 {
            return Err("at most eight CHPIDs");
        }
    }
    Ok(out)
}

/// An I/O instruction with its operands, as the CPU finds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insn {
    /// START SUBCHANNEL: GR1, ORB address.
    Ssch {
        /// GR1: subchannel-id word.
        gr1: Num,
        /// Second-operand address: the ORB.
        orb: Num,
    },
    /// TEST SUBCHANNEL: GR1, IRB address.
    Tsch {
        /// GR1: subchannel-id word.
        gr1: Num,
        /// Second-operand address: the IRB.
        irb: Num,
    },
    /// STORE SUBCHANNEL: GR1, SCHIB address.
    Stsch {
        /// GR1: subchannel-id word.
        gr1: Num,
        /// Second-operand address: the SCHIB.
        schib: Num,
    },
    /// MODIFY SUBCHANNEL: GR1, SCHIB address.
    Msch {
        /// GR1: subchannel-id word.
        gr1: Num,
        /// Second-operand address: the SCHIB.
        schib: Num,
    },
    /// CLEAR SUBCHANNEL.
    Csch {
        /// GR1: subchannel-id word.
        gr1: Num,
    },
    /// HALT SUBCHANNEL.
    Hsch {
        /// GR1: subchannel-id word.
        gr1: Num,
    },
    /// CANCEL SUBCHANNEL.
    Xsch {
        /// GR1: subchannel-id word.
        gr1: Num,
    },
    /// RESUME SUBCHANNEL.
    Rsch {
        /// GR1: subchannel-id word.
        gr1: Num,
    },
    /// Initial program loading (CCW-type, load-normal) from the device at
    /// GR1's subchannel: `=> ok` when loaded, `=> cc=3` when not.
    Ipl {
        /// GR1: subchannel-id word of the IPL device.
        gr1: Num,
    },
    /// RESET CHANNEL PATH.
    Rchp {
        /// GR1: cssid/chpid word.
        gr1: Num,
    },
    /// SET ADDRESS LIMIT.
    Sal {
        /// GR1: the address limit.
        gr1: Num,
    },
    /// SET CHANNEL MONITOR.
    Schm {
        /// GR1: measurement-block key, M and D bits.
        gr1: Num,
        /// GR2: measurement-block origin.
        gr2: Num,
    },
    /// TEST PENDING INTERRUPTION.
    Tpi {
        /// Second-operand address (0: the prefix-area form).
        addr: Num,
        /// CR6 I/O-interruption subclass mask byte, if given (default 0xff).
        isc_mask: Option<Num>,
    },
    /// STORE CHANNEL REPORT WORD.
    Stcrw {
        /// Second-operand address.
        addr: Num,
    },
    /// CHANNEL SUBSYSTEM CALL.
    Chsc {
        /// Request-block address.
        addr: Num,
    },
    /// SET INTERRUPTION CONTROLS (adapter interruptions).
    Sic {
        /// GR1.
        gr1: Num,
        /// GR3.
        gr3: Num,
    },
    /// DIAGNOSE 0x500, the virtio hypercall.
    Diag500 {
        /// GR1: subcode.
        gr1: Num,
        /// GR2: subchannel-id word.
        gr2: Num,
        /// GR3: queue index.
        gr3: Num,
        /// GR4: cookie.
        gr4: Num,
    },
}

impl Insn {
    /// The mnemonic.
    #[must_use]
    pub fn mnemonic(&self) -> &'static str {
        match self {
            Self::Ssch { .. } => "ssch",
            Self::Tsch { .. } => "tsch",
            Self::Stsch { .. } => "stsch",
            Self::Msch { .. } => "msch",
            Self::Csch { .. } => "csch",
            Self::Hsch { .. } => "hsch",
            Self::Xsch { .. } => "xsch",
            Self::Rsch { .. } => "rsch",
            Self::Ipl { .. } => "ipl",
            Self::Rchp { .. } => "rchp",
            Self::Sal { .. } => "sal",
            Self::Schm { .. } => "schm",
            Self::Tpi { .. } => "tpi",
            Self::Stcrw { .. } => "stcrw",
            Self::Chsc { .. } => "chsc",
            Self::Sic { .. } => "sic",
            Self::Diag500 { .. } => "diag500",
        }
    }

    /// The operands a trace writes in hex: addresses and register words
    /// (every operand but `diag500`'s subcode, queue index and cookie).
    #[must_use]
    pub fn hex_operands(&self) -> Vec<Num> {
        match *self {
            Self::Ssch { gr1, orb: a }
            | Self::Tsch { gr1, irb: a }
            | Self::Stsch { gr1, schib: a }
            | Self::Msch { gr1, schib: a }
            | Self::Schm { gr1, gr2: a }
            | Self::Sic { gr1, gr3: a } => vec![gr1, a],
            Self::Csch { gr1 }
            | Self::Hsch { gr1 }
            | Self::Xsch { gr1 }
            | Self::Rsch { gr1 }
            | Self::Ipl { gr1 }
            | Self::Rchp { gr1 }
            | Self::Sal { gr1 }
            | Self::Stcrw { addr: gr1 }
            | Self::Chsc { addr: gr1 }
            | Self::Tpi { addr: gr1, .. } => vec![gr1],
            Self::Diag500 { gr2, .. } => vec![gr2],
        }
    }

    /// Which kinds of [`Outcome`] this instruction can have.
    #[must_use]
    pub fn outcome_class(&self) -> OutcomeClass {
        match self {
            Self::Schm { .. } | Self::Sal { .. } | Self::Sic { .. } => OutcomeClass::NoCc,
            Self::Diag500 { .. } => OutcomeClass::Gr2,
            Self::Ipl { .. } => OutcomeClass::Load,
            _ => OutcomeClass::Cc,
        }
    }
}

/// What kind of result an instruction has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeClass {
    /// Sets a condition code (`cc=`), or a program check.
    Cc,
    /// Sets no condition code (`ok`), or a program check.
    NoCc,
    /// DIAG 0x500: GR2 (`gr2=`), or a program check.
    Gr2,
    /// IPL: loaded (`ok`), not loaded (`cc=3`), or a program check.
    Load,
}

/// The program-interruption conditions a trace can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgmName {
    /// Operand exception.
    Operand,
    /// Specification exception.
    Specification,
    /// Addressing exception.
    Addressing,
    /// Protection exception.
    Protection,
    /// Privileged-operation exception.
    PrivilegedOperation,
}

impl PgmName {
    /// Every name.
    pub const ALL: [Self; 5] = [
        Self::Operand,
        Self::Specification,
        Self::Addressing,
        Self::Protection,
        Self::PrivilegedOperation,
    ];

    /// The name used in a trace.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Operand => "operand",
            Self::Specification => "specification",
            Self::Addressing => "addressing",
            Self::Protection => "protection",
            Self::PrivilegedOperation => "privileged-operation",
        }
    }
}

/// The result written after `=>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `cc=<0..3>`.
    Cc(u8),
    /// `ok`.
    Ok,
    /// `pgm=<name>`.
    Pgm(PgmName),
    /// `gr2=<decimal>` (DIAG 0x500).
    Gr2(i64),
    /// `gr2=cookie`: any non-negative GR2 (DIAG 0x500 notify).
    Gr2Cookie,
}

impl Outcome {
    /// Whether `actual` satisfies this expected outcome (`gr2=cookie`
    /// accepts any non-negative GR2).
    #[must_use]
    pub fn accepts(self, actual: Self) -> bool {
        match (self, actual) {
            (Self::Gr2Cookie, Self::Gr2(v)) => v >= 0,
            (e, a) => e == a,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cc(c) => write!(f, "cc={c}"),
            Self::Ok => f.write_str("ok"),
            Self::Pgm(p) => write!(f, "pgm={}", p.name()),
            Self::Gr2(v) => write!(f, "gr2={v}"),
            Self::Gr2Cookie => f.write_str("gr2=cookie"),
        }
    }
}

/// An instruction statement: the instruction and, unless omitted (an
/// extension: the result is then not checked, and `--bless` fills it in),
/// its expected result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsnStmt {
    /// The instruction.
    pub insn: Insn,
    /// The expected result.
    pub outcome: Option<Outcome>,
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `zcss-trace <version>`.
    Header(u32),
    /// `machine …`.
    Machine(Vec<MachineKey>),
    /// `device …`.
    Device(DeviceStmt),
    /// `store <addr> <hex-bytes>`.
    Store {
        /// Guest absolute address.
        addr: Num,
        /// The bytes.
        data: HexBytes,
    },
    /// `expect <addr> <hex-bytes>` with `..` wildcards.
    Expect {
        /// Guest absolute address.
        addr: Num,
        /// The expected bytes.
        data: Pattern,
    },
    /// An instruction and its result.
    Insn(InsnStmt),
    /// `wait`.
    Wait,
    /// *(extension)* A symbolic statement: a CCW, ORB, IDAW or MIDAW list
    /// written by field, or an `expect irb|schib` of named fields.
    Symbolic(super::symbolic::SymStmt),
    /// `detach <sch>`: the host unplugs the device of a subchannel (hot
    /// unplug, with its channel report).
    Detach(SchAddr),
    /// `reset`: the I/O-system reset.
    Reset,
    /// `console-input <sch> <hex-bytes>`: input typed on the host for the
    /// virtio-console at `sch`, delivered into the receive buffers the
    /// driver offered (or kept until it offers some).
    ConsoleInput {
        /// The console's subchannel.
        sch: SchAddr,
        /// The bytes.
        data: HexBytes,
    },
    /// `skey <addr> <key>`: the storage key of the 4K frame holding
    /// `addr` (access-control bits, fetch protection, reference and
    /// change bits: the byte SET STORAGE KEY EXTENDED takes), with
    /// `machine storage-keys=on`.
    Skey {
        /// Guest absolute address in the frame.
        addr: Num,
        /// The storage-key byte.
        key: Num,
    },
    /// `unsolicited <sch> <dstat> [sense=<hex-bytes>]`: the device at
    /// `sch` presents unsolicited status (and sense with unit check).
    Unsolicited {
        /// The device's subchannel.
        sch: SchAddr,
        /// The device-status byte.
        dstat: Num,
        /// The sense bytes, if given.
        sense: Option<HexBytes>,
    },
}

/// One line of a trace: a statement, a comment, both, or neither (blank).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Line {
    /// The statement on the line, if any.
    pub stmt: Option<Statement>,
    /// The comment, from `#` to the end of the line, verbatim.
    pub comment: Option<String>,
}

impl Line {
    /// A line holding only `stmt`.
    #[must_use]
    pub fn stmt(stmt: Statement) -> Self {
        Self {
            stmt: Some(stmt),
            comment: None,
        }
    }

    /// A comment-only line; `text` gets a leading `# ` unless it starts with `#`.
    #[must_use]
    pub fn comment(text: &str) -> Self {
        let comment = if text.starts_with('#') {
            text.to_owned()
        } else {
            format!("# {text}")
        };
        Self {
            stmt: None,
            comment: Some(comment),
        }
    }
}

/// A whole trace; `lines[i]` is line `i + 1` of the file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trace {
    /// The lines.
    pub lines: Vec<Line>,
}

impl Trace {
    /// The statements with their 1-based line numbers.
    pub fn statements(&self) -> impl Iterator<Item = (usize, &Statement)> {
        self.lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.stmt.as_ref().map(|s| (i + 1, s)))
    }

    /// The `machine` keys (empty if there is no `machine` statement).
    #[must_use]
    pub fn machine_keys(&self) -> &[MachineKey] {
        self.machine_statement().map_or(&[], |(_, k)| k)
    }

    /// The `machine` statement's line and keys, if there is one.
    #[must_use]
    pub fn machine_statement(&self) -> Option<(usize, &[MachineKey])> {
        self.statements().find_map(|(n, s)| match s {
            Statement::Machine(k) => Some((n, k.as_slice())),
            _ => None,
        })
    }

    /// The `device` statements with their line numbers (those after the
    /// first instruction, hot plugs, included).
    pub fn devices(&self) -> impl Iterator<Item = (usize, &DeviceStmt)> {
        self.statements().filter_map(|(n, s)| match s {
            Statement::Device(d) => Some((n, d)),
            _ => None,
        })
    }

    /// The `device` statements before the first instruction — the devices
    /// the machine starts with — with their line numbers.
    pub fn initial_devices(&self) -> impl Iterator<Item = (usize, &DeviceStmt)> {
        self.statements()
            .take_while(|(_, s)| !matches!(s, Statement::Insn(_)))
            .filter_map(|(n, s)| match s {
                Statement::Device(d) => Some((n, d)),
                _ => None,
            })
    }
}

/// The trace name of a css program check.
#[must_use]
pub fn trace_program_check(p: zcss_css::ProgramCheck) -> PgmName {
    use zcss_css::ProgramCheck as P;
    match p {
        P::Operand => PgmName::Operand,
        P::Specification => PgmName::Specification,
        P::Addressing => PgmName::Addressing,
        P::Protection => PgmName::Protection,
        P::PrivilegedOperation => PgmName::PrivilegedOperation,
    }
}
