//! F5: any policy script on a fixed document, under our engine settings in the 16 MiB pool.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::policy(data));
