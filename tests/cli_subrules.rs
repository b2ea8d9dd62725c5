//! Sub-rules (issue 13, item 5): each kind of violation has its own id (`MC002.admin` beside
//! `MC002`), and every place ids are written addresses it alone, while the policy id still
//! addresses the whole family (old configurations and baselines keep working). Runs the real
//! binary on the MC002 failing case: `m365-northwind` and `m365-fabrikam` break MC002 (errors),
//! `m365-tailspin` MC002.admin (no DAP or GDAP: a warning).

mod hardening_support;

use std::path::Path;
use std::time::Duration;

use hardening_support::*;
use serde_json::Value;

/// Generous bound for one run of the debug binary on a loaded 2-core machine.
const LONG: Duration = Duration::from_secs(60);

/// The MC002 failing case in a fresh repository (next to the 20 good partners), with
/// `channelguard.yaml` when `config` is given.
fn mc002_repo(config: Option<&str>) -> Repo {
    let repo = Repo::new();
    for file in ["contoso.yaml", "partners.yaml"] {
        let text = std::fs::read(format!("policies/tests/MC002/fail/{file}")).unwrap();
        repo.write(file, &text);
    }
    if let Some(config) = config {
        repo.write("channelguard.yaml", config.as_bytes());
    }
    repo
}

/// `(code, severity, subscription id, waived)` of the MC002 family's findings, in report order.
fn family(run: &Run) -> Vec<(String, String, String, bool)> {
    run.json()["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"].as_str().unwrap().starts_with("MC002"))
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["document"]["id"].as_str().unwrap().to_string(),
                !f["waived"].is_null(),
            )
        })
        .collect()
}

fn row(code: &str, severity: &str, id: &str, waived: bool) -> (String, String, String, bool) {
    (code.into(), severity.into(), id.into(), waived)
}

#[test]
fn a_sub_rule_finding_carries_its_own_id_severity_and_location() {
    let repo = mc002_repo(None);
    let run = check(&repo, &["--show-waived"]);
    run.within(LONG);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        family(&run),
        [
            row("MC002", "error", "m365-northwind", false),
            row("MC002", "error", "m365-fabrikam", false),
            row("MC002.admin", "warning", "m365-tailspin", false),
        ]
    );
    let admin = run.one("MC002.admin");
    assert_at(
        &admin,
        "`tailspin` manages this subscription without an active DAP or GDAP relationship with `contoso`",
        "contoso.yaml",
        87,
        13,
    );
    assert_eq!(admin["pointer"], "/managed_by");
}

#[test]
fn a_severity_override_of_the_sub_rule_leaves_the_parent_alone_and_the_parent_covers_the_family() {
    let cases = [
        // Only the sub-rule.
        (
            "rules:\n  MC002.admin: {severity: error}\n",
            ["error", "error", "error"],
        ),
        // The parent re-grades the family...
        (
            "rules:\n  MC002: {severity: info}\n",
            ["info", "info", "info"],
        ),
        // ...unless the sub-rule has its own.
        (
            "rules:\n  MC002: {severity: info}\n  MC002.admin: {severity: error}\n",
            ["info", "info", "error"],
        ),
    ];
    for (config, expected) in cases {
        let run = check(&mc002_repo(Some(config)), &[]);
        run.within(LONG);
        let severities: Vec<String> = family(&run).into_iter().map(|f| f.1).collect();
        assert_eq!(severities, expected, "{config}");
        let codes: Vec<String> = family(&run).into_iter().map(|f| f.0).collect();
        assert_eq!(codes, ["MC002", "MC002", "MC002.admin"], "{config}");
    }
}

#[test]
fn disabling_the_sub_rule_keeps_the_parent_and_disabling_the_parent_drops_both() {
    let run = check(
        &mc002_repo(Some("rules:\n  MC002.admin: {enabled: false}\n")),
        &[],
    );
    run.within(LONG);
    assert_eq!(
        family(&run),
        [
            row("MC002", "error", "m365-northwind", false),
            row("MC002", "error", "m365-fabrikam", false),
        ]
    );
    let run = check(
        &mc002_repo(Some("rules:\n  MC002: {enabled: false}\n")),
        &[],
    );
    assert_eq!(family(&run), []);
}

#[test]
fn an_unknown_sub_id_in_the_configuration_gets_did_you_mean() {
    let run = check(
        &mc002_repo(Some("rules:\n  MC002.admn: {severity: error}\n")),
        &[],
    );
    run.within(LONG);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let error = run.one("C001");
    assert_at(
        &error,
        "unknown rule `MC002.admn`",
        "channelguard.yaml",
        2,
        3,
    );
    assert!(
        error["help"].as_str().unwrap().contains("`MC002.admin`"),
        "{error}"
    );
}

const WAIVER: &str = "waivers:\n  - rule: RULE\n    document: Subscription/DOC\n    reason: GDAP requested, case 4711\n    approved_by: kari@example.com\n";

#[test]
fn a_waiver_of_the_sub_rule_waives_it_alone_and_one_of_the_parent_covers_it() {
    let waiver = WAIVER
        .replace("RULE", "MC002.admin")
        .replace("DOC", "m365-tailspin");
    let run = check(&mc002_repo(Some(&waiver)), &["--show-waived"]);
    run.within(LONG);
    assert_eq!(
        family(&run),
        [
            row("MC002", "error", "m365-northwind", false),
            row("MC002", "error", "m365-fabrikam", false),
            row("MC002.admin", "warning", "m365-tailspin", true),
        ]
    );
    assert!(run.with_code("W002").is_empty(), "{}", run.stdout);
    // A waiver of `MC002` written before the split still covers the MC002.admin finding.
    let waiver = WAIVER
        .replace("RULE", "MC002")
        .replace("DOC", "m365-tailspin");
    let run = check(&mc002_repo(Some(&waiver)), &["--show-waived"]);
    assert_eq!(
        family(&run)[2],
        row("MC002.admin", "warning", "m365-tailspin", true)
    );
    assert!(run.with_code("W002").is_empty(), "{}", run.stdout);
    // A waiver of the sub-rule does not cover the parent's finding on another document.
    let waiver = WAIVER
        .replace("RULE", "MC002.admin")
        .replace("DOC", "m365-northwind");
    let run = check(&mc002_repo(Some(&waiver)), &["--show-waived"]);
    assert_eq!(
        family(&run)[0],
        row("MC002", "error", "m365-northwind", false)
    );
    assert_eq!(run.with_code("W002").len(), 1, "{}", run.stdout);
}

#[test]
fn a_baseline_entry_under_the_parent_id_still_suppresses_the_sub_rule_finding_with_a_note() {
    let repo = mc002_repo(None);
    // A baseline written before the split: the admin finding recorded as `MC002`.
    let baseline = r#"{"version": 1, "entries": [
        {"rule": "MC002", "kind": "Subscription", "id": "m365-tailspin", "pointer": "/managed_by", "message": "old"}
    ]}"#;
    let path = repo.write("baseline.json", baseline.as_bytes());
    let run = check(&repo, &["--baseline", path.to_str().unwrap()]);
    run.within(LONG);
    assert_eq!(
        family(&run),
        [
            row("MC002", "error", "m365-northwind", false),
            row("MC002", "error", "m365-fabrikam", false),
        ],
        "the MC002.admin finding is suppressed, the others are new"
    );
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("1 known finding not reported, 0 entries fixed"),
        "{all}"
    );
    let note = "note: baseline entries use `MC002` for findings now reported as `MC002.admin`; regenerate with `channelguard baseline create`";
    assert_eq!(all.matches(note).count(), 1, "{all}");
}

/// `check --root REPO REPO --format FORMAT`, run from the crate directory, not the repository.
fn check_from_elsewhere(repo: &Repo, format: &str) -> Run {
    let root = repo.root().to_str().unwrap();
    let args = [
        "check",
        "--as-of",
        "2024-06-30",
        "--root",
        root,
        root,
        "--format",
        format,
    ];
    run_in(Path::new("."), &args, &[])
}

#[test]
fn sarif_has_one_rule_per_sub_id_and_results_point_at_it() {
    let run = check_from_elsewhere(&mc002_repo(None), "sarif");
    run.within(LONG);
    let sarif: Value = serde_json::from_str(&run.stdout).unwrap();
    let sarif_run = &sarif["runs"][0];
    let rules = sarif_run["tool"]["driver"]["rules"].as_array().unwrap();
    let index = rules
        .iter()
        .position(|r| r["id"] == "MC002.admin")
        .expect("MC002.admin rule");
    let rule = &rules[index];
    assert_eq!(rule["defaultConfiguration"]["level"], "warning");
    assert!(rule["shortDescription"]["text"]
        .as_str()
        .unwrap()
        .contains("without admin rights"));
    assert!(rule["helpUri"]
        .as_str()
        .unwrap()
        .ends_with("rules.md#mc002.admin"));
    let parent = rules.iter().position(|r| r["id"] == "MC002").unwrap();
    assert_eq!(rules[parent]["defaultConfiguration"]["level"], "error");
    let results = sarif_run["results"].as_array().unwrap();
    let admin: Vec<&Value> = results
        .iter()
        .filter(|r| r["ruleId"] == "MC002.admin")
        .collect();
    assert_eq!(admin.len(), 1);
    assert_eq!(admin[0]["ruleIndex"], index);
    assert_eq!(admin[0]["level"], "warning");
}

#[test]
fn github_annotations_name_the_sub_rule_title() {
    let run = check_from_elsewhere(&mc002_repo(None), "github");
    run.within(LONG);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("MC002.admin"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(line.starts_with("::warning "), "{line}");
    assert!(
        line.contains("title=MC002.admin%3A partner managing a license-based subscription without admin rights"),
        "{line}"
    );
}

#[test]
fn list_has_a_row_per_sub_rule_and_explain_explains_both_ways() {
    let run = run_in(Path::new("."), &["list"], &[]);
    run.within(LONG);
    let admin = run
        .stdout
        .lines()
        .find(|l| l.starts_with("MC002.admin "))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(admin.contains(" warning "), "{admin}");
    assert!(admin.contains("without admin rights"), "{admin}");
    let json = run_in(Path::new("."), &["list", "--format", "json"], &[]);
    let rules: Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == "MC002.admin" && r["severity"] == "warning"));

    let run = run_in(Path::new("."), &["explain", "mc002.admin"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with(
            "MC002.admin: partner managing a license-based subscription without admin rights"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("severity    warning"), "{}", run.stdout);
    assert!(run.stdout.contains("part of     MC002"), "{}", run.stdout);
    assert!(
        run.stdout.contains("rules.md#mc002.admin"),
        "{}",
        run.stdout
    );

    let run = run_in(Path::new("."), &["explain", "MC002"], &[]);
    assert!(run.stdout.contains("sub-rules ("), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("  MC002.admin  warning  partner managing"),
        "{}",
        run.stdout
    );

    let run = run_in(Path::new("."), &["explain", "MC002.admn"], &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("did you mean `MC002.admin`?"),
        "{}",
        run.stderr
    );
}

/// A policy with one sub-rule (`XS1.second`) that reports `rule` on every Partner.
fn subrule_policy(repo: &Repo, rule: &str) -> String {
    repo.write(
        "policies/XS1.rhai",
        format!(
            "//! id: XS1\n//! title: first\n//! severity: error\n//! subrule: XS1.second: info: second\n//! kinds: Partner\n//! rationale: r\n//! remediation: fix it\nfn check(doc) {{\n    report(#{{rule: \"{rule}\", pointer: \"/name\", message: \"m\"}});\n}}\n"
        )
        .as_bytes(),
    );
    repo.path("policies").to_str().unwrap().to_string()
}

#[test]
fn a_policy_reports_under_a_declared_sub_rule_and_an_undeclared_one_is_a_policy_error() {
    let repo = Repo::new();
    let dir = subrule_policy(&repo, "XS1.second");
    let run = check(&repo, &["--no-builtin-policies", "--policies", &dir]);
    run.within(LONG);
    assert_eq!(run.with_code("XS1.second").len(), GOOD_FILES);
    assert_eq!(run.with_code("XS1.second")[0]["severity"], "info");
    assert!(run.with_code("XS1").is_empty());

    let repo = Repo::new();
    let dir = subrule_policy(&repo, "XS1.secnd");
    let run = check(&repo, &["--no-builtin-policies", "--policies", &dir]);
    assert_eq!(run.code, 2);
    let error = run.one("P002");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(
            "report rule `XS1.secnd` is not declared by this policy; did you mean `XS1.second`?"
        ),
        "{message}"
    );
    assert_eq!(error["line"], 9, "{error}");
}
