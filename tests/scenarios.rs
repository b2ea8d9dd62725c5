//! Data-driven policy tests: every `*.test.yaml` under `fixtures/scenarios/` (the rules page's
//! scenarios T01–T21 and a passing and failing case per rule) and `policies/tests/` must
//! produce exactly its expected findings.

use std::path::Path;

use channelguard::check::CheckOptions;
use channelguard::policy_cases::{discover_cases, run_case};

fn run_all(dir: &str) -> usize {
    let cases = discover_cases(Path::new(dir));
    let base = CheckOptions::new(Vec::new(), jiff::civil::date(2024, 6, 30));
    let mut failures = Vec::new();
    for path in &cases {
        let result = run_case(path, &base);
        if !result.passed() {
            let mut text = format!("{} ({})\n", result.name, path.display());
            if let Some(error) = &result.error {
                text.push_str(&format!("  error: {error}\n"));
            }
            for m in &result.missing {
                text.push_str(&format!("  missing:    {}\n", m.describe()));
            }
            for u in &result.unexpected {
                text.push_str(&format!("  unexpected: {}\n", u.describe()));
            }
            failures.push(text);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    cases.len()
}

#[test]
fn scenario_fixtures_report_exactly_the_expected_findings() {
    let count = run_all("fixtures/scenarios");
    assert!(count > 0, "no scenario fixtures found");
}

#[test]
fn builtin_policy_cases_pass() {
    run_all("policies/tests");
}
