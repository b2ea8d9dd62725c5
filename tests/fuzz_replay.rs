//! Replays the saved fuzz corpora (`fuzz/corpus/<target>/`, seeded with the hardening cases
//! of §6 and every input that ever failed) through the fuzz target bodies, so that each crash
//! found by cargo-fuzz or `examples/fuzz_smoke.rs` stays fixed on the stable toolchain.

#[path = "../fuzz/bodies.rs"]
mod bodies;

use std::path::Path;

fn replay(target: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    for path in files {
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| bodies::run(target, &data));
        assert!(result.is_ok(), "{target} fails on {}", path.display());
    }
}

#[test]
fn f1_yaml_load() {
    replay("yaml_load");
}

#[test]
fn f2_yaml_spans() {
    replay("yaml_spans");
}

#[test]
fn f3_schema_build() {
    replay("schema_build");
}

#[test]
fn f4_validate_render() {
    replay("validate_render");
}

#[test]
fn f5_policy() {
    replay("policy");
}

#[test]
fn f6_policy_natives() {
    replay("policy_natives");
}

#[test]
fn f7_human_render() {
    replay("human_render");
}
