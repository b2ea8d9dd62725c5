//! The editor schemas of `channelguard.yaml` and `*.test.yaml` (`schemas export`,
//! docs/editors.md) agree with the parsers on the repository's own files: every configuration
//! and test case that channelguard reads cleanly validates against them, and the fixtures that
//! it rejects for a misspelt key are rejected by them too.

use std::path::{Path, PathBuf};

use channelguard::limits::Limits;
use channelguard::schema::EDITOR_SCHEMAS;
use channelguard::source::FileId;
use serde_json::Value;

fn validator(name: &str) -> jsonschema::Validator {
    let (_, text) = EDITOR_SCHEMAS.iter().find(|(n, _)| *n == name).unwrap();
    let schema: Value = serde_json::from_str(text).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .unwrap()
}

/// The one YAML document of a file, as channelguard loads it (`{}` for a file of comments only).
fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let mut loaded = channelguard::yaml::load(&text, 0, FileId(0), &Limits::default());
    let empty = loaded.documents.is_empty() && loaded.findings.iter().all(|f| &*f.code == "Y006");
    assert!(
        empty || loaded.findings.is_empty(),
        "{}: {:?}",
        path.display(),
        loaded.findings
    );
    assert!(loaded.documents.len() <= 1, "{}", path.display());
    loaded
        .documents
        .pop()
        .map_or_else(|| serde_json::json!({}), |document| document.value)
}

fn files(dir: &str, suffix: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(path.to_str().unwrap(), suffix, out);
        } else if path.to_str().unwrap().ends_with(suffix) {
            out.push(path);
        }
    }
}

fn errors(validator: &jsonschema::Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn the_repositorys_configurations_validate_against_the_config_schema() {
    let schema = validator("channelguard-config.json");
    let mut paths = Vec::new();
    files("fixtures/config/configs", ".yaml", &mut paths);
    paths.push("examples/northwind-csp/channelguard.yaml".into());
    // The starter file of `channelguard init` (its keys without values are null, which the
    // loader drops; tests/e2e/editors.sh checks the file as the editors read it).
    let init = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_channelguard"))
        .arg("init")
        .arg(init.path())
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let starter = init.path().join("channelguard.yaml");
    paths.push(starter);
    paths.sort();
    let mut clean = 0;
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        let (_, findings) = channelguard::config::parse(&text, Path::new("repo"));
        let value = yaml(path);
        if findings.is_empty() {
            assert_eq!(
                errors(&schema, &value),
                Vec::<String>::new(),
                "{}",
                path.display()
            );
            clean += 1;
        }
    }
    assert!(clean >= 8, "only {clean} clean configurations");
    // The fixture with a misspelt key: the schema names the key, as channelguard does.
    let invalid = errors(
        &schema,
        &yaml(Path::new("fixtures/config/configs/invalid.yaml")),
    );
    assert!(invalid.iter().any(|e| e.contains("setings")), "{invalid:?}");
    assert!(invalid.iter().any(|e| e.contains("deep")), "{invalid:?}");
}

#[test]
fn the_repositorys_test_cases_validate_against_the_test_schema_and_typos_do_not() {
    let schema = validator("policy-test.json");
    let mut paths = Vec::new();
    files("policies/tests", ".test.yaml", &mut paths);
    files("fixtures", ".test.yaml", &mut paths);
    paths.sort();
    let (mut accepted, mut rejected) = (0, 0);
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        let value = yaml(path);
        let problems = errors(&schema, &value);
        match channelguard::policy_cases::parse_case(&text) {
            Ok(_) => {
                assert_eq!(problems, Vec::<String>::new(), "{}", path.display());
                accepted += 1;
            }
            Err(error) => {
                assert!(!problems.is_empty(), "{} ({error})", path.display());
                rejected += 1;
            }
        }
    }
    assert!(accepted >= 50, "only {accepted} test cases");
    assert!(rejected >= 1, "no fixture with an unknown field");
}
