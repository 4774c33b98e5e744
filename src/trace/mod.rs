//! The zcss trace format (`.zct`), version 1: syntax tree, parser, printer,
//! replay and recorder.
//!
//! The format is described in `docs/trace-format.md`. In short: one
//! statement per line, `#` comments, a `zcss-trace 1` header, an optional
//! `machine` statement and `device` statements that build the machine,
//! `store`/`expect` for guest storage (with `..` wildcards in `expect`), and
//! one line per I/O instruction with its operands and its result after `=>`.

pub mod ast;
pub mod bless;
pub mod exec;
pub mod num;
pub mod parse;
pub mod print;
pub mod program_log;
pub mod record;
pub mod replay;
pub mod symbolic;
pub mod symbolize;

pub use ast::{
    DeviceKind, DeviceStmt, HexBytes, Insn, InsnStmt, Line, MachineKey, Num, NumStyle, Outcome, OutcomeClass, Param,
    Pattern, PgmName, SchAddr, Statement, Trace, TIMING_KEY,
};
pub use bless::bless_text;
pub use parse::{parse, parse_bytes, parse_line, ParseError, SyntaxError};
pub use print::print;
pub use record::{RecordError, Recorder};
pub use symbolic::{SymKind, SymParam, SymStmt, SymValue};
pub use symbolize::symbolize;
