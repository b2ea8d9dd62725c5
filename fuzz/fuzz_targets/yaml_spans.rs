//! F2: every node span is inside the file, on a char boundary, and slices back to its scalar.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::yaml_spans(data));
