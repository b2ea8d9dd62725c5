//! F1: the YAML loader with limits on never panics, aborts or runs out of memory.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::yaml_load(data));
