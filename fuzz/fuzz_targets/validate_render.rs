//! F4: validate (schema, YAML) and render every finding through the human and JSON reporters.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::validate_render(data));
