//! The I/O instructions, one file each, as `Css` methods (Principles of
//! Operation, chapter 14, "I/O Instructions"): each decodes its operands,
//! applies the architected exception priority, and runs the function on
//! the subchannel (the executor, passthrough requests and interruption
//! delivery live beside this folder).

mod chsc;
mod csch;
mod hsch;
mod msch;
mod rchp;
mod rsch;
mod schm;
mod sic;
mod ssch;
mod stcrw;
mod stsch;
mod tpi;
mod tsch;
mod xsch;
