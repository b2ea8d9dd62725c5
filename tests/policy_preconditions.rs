//! Issue 15: policies' `applies` pre-conditions skip (policy, document) pairs natively. The
//! report must be exactly the one every script gives when it runs on every document of its
//! kinds (`--no-policy-preconditions`, `CheckOptions::policy_preconditions = false`): on every
//! case of the built-in pack and the scenarios, on the example repository, and on generated
//! books of both shapes with many violations, for any thread count.

mod hardening_support;

#[allow(dead_code, clippy::all)]
#[path = "../examples/generate.rs"]
mod generate;

use std::path::Path;
use std::time::Duration;

use channelguard::check::CheckOptions;
use channelguard::policy_cases::{discover_cases, run_case};
use hardening_support::{check, run_in, Repo};

/// The findings of every case, with pre-conditions on and off, are equal (compared whole,
/// through their `Debug` form: message, location, related labels, help, severity).
#[test]
fn every_case_gives_the_same_findings_without_preconditions() {
    let mut with = CheckOptions::new(Vec::new(), jiff::civil::date(2024, 6, 30));
    with.measure_policies = true;
    let mut without = with.clone();
    without.policy_preconditions = false;
    let mut compared = 0;
    let mut skipped = 0;
    for dir in ["fixtures/scenarios", "policies/tests"] {
        for path in discover_cases(Path::new(dir)) {
            let a = run_case(&path, &with);
            let b = run_case(&path, &without);
            let (Some(a), Some(b)) = (&a.outcome, &b.outcome) else {
                panic!(
                    "{}: no outcome ({:?}, {:?})",
                    path.display(),
                    a.error,
                    b.error
                );
            };
            assert_eq!(
                format!("{:#?}", a.findings),
                format!("{:#?}", b.findings),
                "{}",
                path.display()
            );
            skipped += a.stats.policy_costs.iter().map(|c| c.skipped).sum::<u64>();
            assert!(b.stats.policy_costs.iter().all(|c| c.skipped == 0));
            compared += 1;
        }
    }
    assert!(compared >= 100, "only {compared} cases");
    assert!(skipped > 0, "no pair was skipped natively");
}

/// `check --format json --output FILE` on `dir`, with `extra` arguments; the report's bytes
/// and standard error.
fn report(dir: &Path, extra: &[&str]) -> (Vec<u8>, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let dir_text = dir.to_str().unwrap();
    let mut args = vec![
        "check",
        dir_text,
        "--root",
        dir_text,
        "--as-of",
        "2024-06-30",
        "--format",
        "json",
        "--output",
        out.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let run = run_in(Path::new("."), &args, &[]);
    assert!(
        run.code == 0 || run.code == 1,
        "exit {}: {}",
        run.code,
        run.stderr
    );
    (std::fs::read(out.path()).unwrap(), run.stderr)
}

/// The pairs `--timings` says pre-conditions skipped, summed over policies.
fn skipped_pairs(stderr: &str) -> u64 {
    let mut lines = stderr
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("policy "));
    assert!(lines.next().is_some(), "no per-policy table:\n{stderr}");
    lines
        .map(|l| {
            let columns: Vec<&str> = l.split_whitespace().collect();
            columns[2].parse::<u64>().unwrap()
        })
        .sum()
}

fn same_report_with_and_without(dir: &Path) {
    let (with, stderr) = report(dir, &["-j", "2", "--timings"]);
    let (without, stderr_without) =
        report(dir, &["-j", "1", "--no-policy-preconditions", "--timings"]);
    assert!(
        with == without,
        "{}: the reports differ with and without pre-conditions",
        dir.display()
    );
    assert!(skipped_pairs(&stderr) > 0, "{}", dir.display());
    assert_eq!(skipped_pairs(&stderr_without), 0);
}

#[test]
fn the_example_repository_gives_the_same_report_without_preconditions() {
    same_report_with_and_without(Path::new("examples/northwind-csp"));
}

#[test]
fn generated_books_give_the_same_report_without_preconditions() {
    for shape in ["default", "distributor"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("book");
        // Many violations (schema errors, dangling references, rule violations) so that
        // pre-conditions meet invalid fields.
        generate::generate(&[
            "--customers",
            "40",
            "--violation-rate",
            "0.3",
            "--shape",
            shape,
            out.to_str().unwrap(),
        ])
        .unwrap();
        same_report_with_and_without(&out);
    }
}

/// A policy whose pre-condition tests a field the schema rejected still runs: the script reads
/// the field and its evaluation is skipped and counted (S004), exactly as without the header.
/// Natively `5 == "advisor"` is false, so a pre-condition that ignored invalid fields would
/// skip the pair and lose the S004 finding.
#[test]
fn an_invalid_field_in_a_precondition_runs_the_script() {
    let repo = Repo::new();
    repo.write(
        "partners/bad.yaml",
        b"kind: Partner\nid: partner-bad\nname: Bad Ltd\ntenant_id: 00000000-0000-4000-8000-000000000999\npartner_id: \"2000999\"\ncsp_role: 5\ncloud: commercial\ncountry: \"US\"\n",
    );
    repo.write(
        "policies/XP1.rhai",
        b"//! id: XP1\n//! title: advisors\n//! severity: error\n//! kinds: Partner\n//! applies: csp_role == \"advisor\"\n//! rationale: test\n//! remediation: test\nfn check(doc) {\n    if doc.csp_role != \"advisor\" {\n        return;\n    }\n    report(\"/csp_role\", \"an advisor\");\n}\n",
    );
    let policies = repo.path("policies");
    let args = [
        "--no-builtin-policies",
        "--policies",
        policies.to_str().unwrap(),
    ];
    let run = check(&repo, &args);
    run.within(Duration::from_secs(60));
    let skipped = run.one("S004");
    assert_eq!(
        skipped["message"],
        "`csp_role` is invalid or missing, so rule `XP1` was not evaluated on this document"
    );
    assert!(run.with_code("XP1").is_empty());
    let mut without = args.to_vec();
    without.push("--no-policy-preconditions");
    assert_eq!(check(&repo, &without).stdout, run.stdout);
}

/// A syntax error in `applies` is a header error (P004) at its line; the policy is not loaded.
#[test]
fn a_syntax_error_in_applies_is_a_header_error_at_its_line() {
    let repo = Repo::new();
    repo.write(
        "policies/XP2.rhai",
        b"//! id: XP2\n//! title: advisors\n//! severity: error\n//! kinds: Partner\n//! applies: csp_role = \"advisor\"\n//! rationale: test\n//! remediation: test\nfn check(doc) {}\n",
    );
    let policies = repo.path("policies");
    let run = check(
        &repo,
        &[
            "--no-builtin-policies",
            "--policies",
            policies.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    let error = run.one("P004");
    hardening_support::assert_at(
        &error,
        "`applies`: expected `==` or `!=` at `= \"advisor\"`",
        "XP2.rhai",
        5,
        1,
    );
}

/// `--timings` adds the per-policy table (every policy, most expensive first); a normal run
/// prints nothing of it.
#[test]
fn timings_list_every_policy_and_normal_runs_do_not() {
    let dir = Path::new("examples/northwind-csp");
    let (_, stderr) = report(dir, &["--timings"]);
    let table: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("policy "))
        .collect();
    assert_eq!(
        table[0].split_whitespace().collect::<Vec<_>>(),
        ["policy", "evaluated", "skipped", "time", "per", "pair"]
    );
    let ids: Vec<&str> = table[1..]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let builtin = channelguard::policy::BUILTIN_POLICIES.len();
    assert_eq!(ids.len(), builtin, "{stderr}");
    assert!(ids.contains(&"MC002"));
    let times: Vec<f64> = table[1..]
        .iter()
        .map(|l| {
            let t = l.split_whitespace().nth(3).unwrap();
            t.trim_end_matches('s').parse().unwrap()
        })
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "not sorted: {stderr}"
    );
    let (_, quiet) = report(dir, &[]);
    assert!(!quiet.contains("evaluated"), "{quiet}");
}
