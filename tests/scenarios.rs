//! Data-driven policy tests: every `*.test.yaml` under `fixtures/scenarios/` (the rules page's
//! scenarios T01–T21 and a passing and failing case per rule) and `policies/tests/` must
//! produce exactly its expected findings.

use std::path::Path;

use channelguard::check::CheckOptions;
use channelguard::policy_cases::{discover_cases, read_case, run_case};

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
    let count = run_all("policies/tests");
    // Every built-in policy has a case that expects it to fire and one that compares it and
    // expects silence: a pack whose cases went missing (or were never found) fails here.
    let metas: Vec<_> = channelguard::policy::BUILTIN_POLICIES
        .iter()
        .map(|(_, text)| channelguard::policy::meta::parse(text).unwrap())
        .collect();
    let ids: Vec<String> = metas.iter().map(|m| m.id.clone()).collect();
    // Each sub-rule too: a case makes it fire, and one compares it and expects silence.
    let sub_ids: Vec<String> = metas
        .iter()
        .flat_map(|m| m.subrules.iter().map(|s| s.id.clone()))
        .collect();
    assert!(ids.len() >= 20, "only {} built-in policies", ids.len());
    let cases: Vec<_> = discover_cases(Path::new("policies/tests"))
        .iter()
        .map(|path| read_case(path).unwrap())
        .collect();
    assert_eq!(cases.len(), count);
    let mut lacking = Vec::new();
    // A policy fires when any of its family does; a sub-rule only by its own id.
    let fires = |id: &str, rule: &str| {
        if id.contains('.') {
            rule == id
        } else {
            channelguard::rule_id::covers(id, rule)
        }
    };
    for id in ids.iter().chain(&sub_ids) {
        let compares = |case: &&channelguard::policy_cases::TestCase| {
            case.rules.as_ref().is_none_or(|rules| {
                rules.iter().any(|r| {
                    channelguard::rule_id::covers(r, id) || channelguard::rule_id::covers(id, r)
                })
            })
        };
        let fails = cases
            .iter()
            .filter(compares)
            .filter(|case| case.expect.iter().any(|e| fires(id, &e.rule)))
            .count();
        let passes = cases
            .iter()
            .filter(compares)
            .filter(|case| case.expect.iter().all(|e| !fires(id, &e.rule)))
            .count();
        if fails == 0 || passes == 0 {
            lacking.push(format!("{id}: {passes} passing, {fails} failing cases"));
        }
    }
    assert!(lacking.is_empty(), "{}", lacking.join("\n"));
    assert!(
        count >= 2 * ids.len(),
        "{count} cases for {} policies",
        ids.len()
    );
}
