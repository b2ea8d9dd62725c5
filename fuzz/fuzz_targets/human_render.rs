//! F7: the human renderer on long lines and many findings (fuzz/bodies.rs `human_render`).
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::human_render(data));
