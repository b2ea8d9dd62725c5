//! F6: policies chaining size-multiplying natives with sizes from the input (issue 11 item 2).
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::policy_natives(data));
