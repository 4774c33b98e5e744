//! Fuzz target `trace_parse`: arbitrary bytes as a trace file. The parser
//! must never panic; for whatever parses, print∘parse must be stable
//! (parsing the printed form gives the same tree, and printing that again
//! gives the same text).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = zcss::trace::parse_bytes(data) {
        let text = zcss::trace::print(&t);
        let again = zcss::trace::parse(&text).expect("a printed trace parses");
        assert_eq!(t, again, "parse(print(t)) != t for {text:?}");
        assert_eq!(zcss::trace::print(&again), text);
    }
});
