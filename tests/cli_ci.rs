//! CI and pre-commit integration: the SARIF, JUnit and GitHub reporters (snapshots, and SARIF
//! against the official OASIS schema), `--format`/`--output` pairs, `--only`,
//! `--changed-since` and baselines, through the library and the real binary.
//!
//! The fixture repository (tests/data/ci-repo) is checked with a copy of one policy
//! (tests/data/ci-policies) instead of the built-in pack, so that adding policies to the
//! pack does not change these snapshots.

mod hardening_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use channelguard::check::{CheckOptions, Outcome};
use channelguard::finding::{Severity, WaiverNote};
use channelguard::report::github::GithubReporter;
use channelguard::report::junit::JunitReporter;
use channelguard::report::sarif::SarifReporter;
use channelguard::report::{Report, Reporter};
use hardening_support::{copy_tree, git};
use serde_json::Value;

const REPO: &str = "tests/data/ci-repo";
const POLICIES: &str = "tests/data/ci-policies";
const AS_OF: &str = "2024-06-30";

fn options(root: &Path) -> CheckOptions {
    let mut options = CheckOptions::new(vec![root.to_path_buf()], jiff::civil::date(2024, 6, 30));
    options.root = root.to_path_buf();
    options.policies.builtin = false;
    options.policies.directories = vec![PathBuf::from(POLICIES)];
    options
}

fn outcome() -> Outcome {
    channelguard::check::run(&options(Path::new(REPO))).expect("the fixture checks")
}

fn render(reporter: &dyn Reporter, outcome: &Outcome, show_waived: bool) -> String {
    let report = Report {
        outcome,
        as_of: jiff::civil::date(2024, 6, 30),
        show_waived,
        fail_on: Severity::Error,
    };
    let mut out = Vec::new();
    reporter.write(&report, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The fixture's outcome with its F02 finding waived.
fn outcome_with_waiver() -> Outcome {
    let mut outcome = outcome();
    let f02 = outcome
        .findings
        .iter_mut()
        .find(|f| &*f.code == "F02")
        .expect("the fixture has an F02 finding");
    f02.waived = Some(WaiverNote {
        reason: "legacy advisor record, fixed in Q3".to_string(),
        approved_by: "compliance@northwind.example".to_string(),
        expires: Some("2024-09-30".to_string()),
    });
    outcome
}

fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("data/snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings
}

fn sarif_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string("tests/data/sarif-schema-2.1.0.json").unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    // The OASIS file declares draft-04; no retrieval is compiled in, so nothing is fetched.
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles")
}

fn assert_valid_sarif(log: &Value) {
    let validator = sarif_validator();
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF schema errors:\n{}",
        errors.join("\n")
    );
}

#[test]
fn sarif_validates_against_the_oasis_schema() {
    let log: Value =
        serde_json::from_str(&render(&SarifReporter, &outcome_with_waiver(), false)).unwrap();
    assert_valid_sarif(&log);
}

#[test]
fn the_schema_check_rejects_broken_sarif() {
    // Guards the test above: a validator that accepts anything would make it pass vacuously.
    let mut log: Value = serde_json::from_str(&render(&SarifReporter, &outcome(), false)).unwrap();
    log["runs"][0]["results"][0]["level"] = Value::from("fatal");
    assert!(!sarif_validator().is_valid(&log));
}

#[test]
fn sarif_snapshot() {
    let outcome = outcome_with_waiver();
    let mut log: Value = serde_json::from_str(&render(&SarifReporter, &outcome, false)).unwrap();
    let driver = &mut log["runs"][0]["tool"]["driver"];
    let rules = driver["rules"].as_array().unwrap().clone();
    // Every policy and built-in check is a rule, each once; results point at their own rule.
    assert_eq!(
        rules.len(),
        outcome.policies.len() + channelguard::codes::ALL.len()
    );
    for result in log["runs"][0]["results"].as_array().unwrap() {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
    }
    // Snapshot the rules the results use, so that a new built-in check does not churn it.
    let used: Vec<&Value> = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["ruleId"])
        .collect();
    let kept: Vec<Value> = rules
        .into_iter()
        .filter(|r| used.contains(&&r["id"]))
        .collect();
    log["runs"][0]["tool"]["driver"]["rules"] = Value::from(kept);
    // Indices into the full list and the crate version would churn the snapshot.
    for result in log["runs"][0]["results"].as_array_mut().unwrap() {
        result["ruleIndex"] = Value::from("[index]");
    }
    log["runs"][0]["tool"]["driver"]["version"] = Value::from("[version]");
    log["runs"][0]["tool"]["driver"]["semanticVersion"] = Value::from("[version]");
    snapshot_settings().bind(|| {
        insta::assert_json_snapshot!("sarif", log);
    });
}

#[test]
fn sarif_lists_waived_findings_as_external_suppressions() {
    let log: Value =
        serde_json::from_str(&render(&SarifReporter, &outcome_with_waiver(), false)).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    let f02 = results.iter().find(|r| r["ruleId"] == "F02").unwrap();
    assert_eq!(f02["suppressions"][0]["kind"], "external");
    assert_eq!(
        f02["suppressions"][0]["justification"],
        "legacy advisor record, fixed in Q3"
    );
    let others = results.iter().filter(|r| r["ruleId"] != "F02");
    assert!(others.into_iter().all(|r| r.get("suppressions").is_none()));
}

#[test]
fn sarif_fingerprints_do_not_depend_on_lines() {
    let before = outcome();
    let dir = tempfile::tempdir().unwrap();
    copy_tree(Path::new(REPO), dir.path());
    let litware = dir.path().join("partners/litware.yaml");
    let text = std::fs::read_to_string(&litware).unwrap();
    std::fs::write(&litware, format!("# moved down\n\n{text}")).unwrap();
    let after = channelguard::check::run(&options(dir.path())).unwrap();
    let fingerprints = |o: &Outcome| -> Vec<(String, u64)> {
        let log: Value = serde_json::from_str(&render(&SarifReporter, o, false)).unwrap();
        log["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["partialFingerprints"]["channelguard/v1"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    r["locations"][0]["physicalLocation"]["region"]["startLine"]
                        .as_u64()
                        .unwrap(),
                )
            })
            .collect()
    };
    let (a, b) = (fingerprints(&before), fingerprints(&after));
    let keys = |v: &[(String, u64)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&a), keys(&b));
    assert_ne!(a, b, "the lines did move");
}

#[test]
fn junit_snapshot() {
    let xml = render(&JunitReporter, &outcome_with_waiver(), false);
    snapshot_settings().bind(|| insta::assert_snapshot!("junit", xml));
}

#[test]
fn junit_has_a_testcase_per_document() {
    let outcome = outcome();
    let xml = render(&JunitReporter, &outcome, false);
    assert_eq!(xml.matches("<testcase ").count(), outcome.documents.len());
    assert!(
        xml.contains(r#"<testcase name="Partner/northwind" classname="partners/northwind.yaml"/>"#)
    );
    assert!(xml.contains("partners/litware.yaml:5:13"));
}

#[test]
fn junit_puts_findings_outside_documents_on_their_file() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(Path::new(REPO), dir.path());
    std::fs::write(
        dir.path().join("broken.yaml"),
        "kind: Partner\nid: [unclosed\n",
    )
    .unwrap();
    let outcome = channelguard::check::run(&options(dir.path())).unwrap();
    let xml = render(&JunitReporter, &outcome, false);
    assert!(
        xml.contains(r#"<testcase name="broken.yaml" classname="broken.yaml">"#),
        "{xml}"
    );
    assert!(xml.contains(r#"type="Y001""#), "{xml}");
}

#[test]
fn github_snapshot() {
    let text = render(&GithubReporter, &outcome_with_waiver(), true);
    snapshot_settings().bind(|| insta::assert_snapshot!("github", text));
}

#[test]
fn github_commands_cannot_be_injected_from_data() {
    let mut outcome = outcome();
    // Findings are data: a message or help holding line breaks and a command of its own.
    outcome.findings[0].message = "bad\n::add-mask::secret\r\n::stop-commands::x, 100%".into();
    outcome.findings[0].help = Some("line\n::error::forged".into());
    let text = render(&GithubReporter, &outcome, false);
    assert_eq!(text.lines().count(), outcome.findings.len(), "{text}");
    for line in text.lines() {
        assert!(
            line.starts_with("::error ") || line.starts_with("::notice "),
            "{line}"
        );
    }
    // `::` is broken too (escape.rs): no `::` from the data anywhere.
    assert!(text.contains(
        "bad%0A:\\u{3a}add-mask:\\u{3a}secret%0D%0A:\\u{3a}stop-commands:\\u{3a}x, 100%25"
    ));
}

// ---- the binary ----

fn channelguard() -> Command {
    Command::cargo_bin("channelguard").unwrap()
}

fn check_fixture(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut command = channelguard();
    command
        .current_dir(dir)
        .args([
            "check",
            "--as-of",
            AS_OF,
            "--no-builtin-policies",
            "--policies",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(POLICIES))
        .args(extra);
    command.output().unwrap()
}

fn fixture_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(Path::new(REPO), dir.path());
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn formats_with_outputs_write_files_and_keep_the_summary_on_the_terminal() {
    let dir = fixture_copy();
    let out = check_fixture(
        dir.path(),
        &[
            "--format",
            "sarif",
            "--output",
            "out/report.sarif",
            "--format",
            "junit",
            "-o",
            "out/junit.xml",
            "--format",
            "json",
        ],
    );
    // out/ does not exist: the write fails cleanly with exit 2 and names the file.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("out/report.sarif"));

    std::fs::create_dir(dir.path().join("out")).unwrap();
    let out = check_fixture(
        dir.path(),
        &[
            "--format",
            "sarif",
            "--output",
            "out/report.sarif",
            "--format",
            "junit",
            "-o",
            "out/junit.xml",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).expect("stdout is the JSON report");
    assert_eq!(json["summary"]["errors"], 3);
    // JSON owns stdout, so the summary line goes to stderr; every report file is complete.
    assert!(
        text(&out.stderr).starts_with("checked 4 files (6 documents)"),
        "{}",
        text(&out.stderr)
    );
    let sarif: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/report.sarif")).unwrap(),
    )
    .unwrap();
    assert_valid_sarif(&sarif);
    let junit = std::fs::read_to_string(dir.path().join("out/junit.xml")).unwrap();
    assert!(junit.trim_end().ends_with("</testsuites>"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn summary_goes_to_stdout_when_every_report_is_a_file() {
    let dir = fixture_copy();
    let out = check_fixture(dir.path(), &["--format", "sarif", "--output", "r.sarif"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("checked 4 files (6 documents)"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
}

#[test]
fn human_moves_to_stderr_when_a_machine_format_owns_stdout() {
    let dir = fixture_copy();
    let out = check_fixture(dir.path(), &["--format", "github", "--format", "human"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).lines().all(|l| l.starts_with("::")));
    assert!(text(&out.stderr).contains("checked 4 files"));
    assert!(text(&out.stderr).contains("× `partner_id` must be"));
}

#[test]
fn output_pairing_errors_exit_2() {
    let dir = fixture_copy();
    for args in [
        &["--output", "x.json", "--format", "json"][..],
        &["--format", "json", "--output", "a", "--output", "b"][..],
        &["--format", "json", "--format", "sarif"][..],
    ] {
        let out = check_fixture(dir.path(), args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stderr).starts_with("error: "), "{args:?}");
    }
}

#[test]
fn only_reports_findings_in_the_named_files_or_pointing_into_them() {
    let dir = fixture_copy();
    let codes = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        let out = check_fixture(dir.path(), &all);
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(codes(&["--only", "partners/litware.yaml"]), ["F02"]);
    // The relationship file holds R002's document and MC002's related location.
    assert_eq!(
        codes(&["--only", "./customers/../customers/adventure-works.yaml"]),
        ["R002", "MC002"]
    );
    // A name of nothing is refused (exit 2, one line), never an empty clean report.
    let out = check_fixture(
        dir.path(),
        &["--only", "partners/northwind.yaml", "no-such-file.yaml"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        "error: --only `no-such-file.yaml` does not exist\n"
    );
    // Options go before `--only`; a `--` after it ends the options (tests/hardening_cli.rs).
    assert_eq!(
        codes(&[
            "--fail-on",
            "warning",
            "--only",
            "--",
            "partners/litware.yaml"
        ]),
        ["F02"]
    );
    let out = check_fixture(dir.path(), &["--only", "partners/northwind.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // The whole repository was still loaded.
    assert!(text(&out.stdout).contains("checked 4 files (6 documents)"));
}

#[test]
fn changed_since_reports_only_changed_documents() {
    let dir = fixture_copy();
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "base"]);
    // One document of a three-document file changes; its R002 is not part of the change.
    let path = dir.path().join("customers/adventure-works.yaml");
    let text_before = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text_before.replace("tenant_country: \"SE\"", "tenant_country: \"se\""),
    )
    .unwrap();
    let out = check_fixture(dir.path(), &["--format", "json", "--changed-since", "HEAD"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: Vec<(String, String)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["document"]["id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        found.iter().all(|(_, id)| id == "adventure-works"),
        "{found:?}"
    );
    assert!(
        !found.is_empty(),
        "the changed customer has a lower-case country"
    );
    // Nothing changed since the working tree's own state: nothing is reported.
    git(dir.path(), &["commit", "-q", "-am", "second"]);
    let out = check_fixture(dir.path(), &["--changed-since", "HEAD"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // A new file's documents are all new.
    std::fs::write(
        dir.path().join("partners/new.yaml"),
        "kind: Partner\nid: new\nname: N\ntenant_id: 1\n",
    )
    .unwrap();
    let out = check_fixture(dir.path(), &["--format", "json", "--changed-since", "HEAD"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["file"] == "partners/new.yaml"));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn changed_since_reports_references_left_dangling_by_a_rename() {
    let dir = fixture_copy();
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "base"]);
    // Renaming the customer leaves the unchanged relationship and subscription pointing at
    // nothing: their R002 findings belong to this change.
    let path = dir.path().join("customers/adventure-works.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "id: adventure-works\n",
        "id: adventure-works-ab\n",
        1,
    );
    std::fs::write(&path, text).unwrap();
    let out = check_fixture(dir.path(), &["--format", "json", "--changed-since", "HEAD"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut dangling: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "R002")
        .map(|f| f["document"]["id"].as_str().unwrap())
        .collect();
    dangling.sort();
    assert_eq!(
        dangling,
        [
            "adventure-works-m365-e5-direct",
            "northwind-adventure-works"
        ]
    );
}

#[test]
fn changed_since_works_from_outside_the_repository() {
    // git runs in the checked repository, not in the current directory.
    let dir = fixture_copy();
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "base"]);
    let path = dir.path().join("customers/adventure-works.yaml");
    let before = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        before.replace("tenant_country: \"SE\"", "tenant_country: \"se\""),
    )
    .unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = check_fixture(
        elsewhere.path(),
        &[
            "--format",
            "json",
            "--changed-since",
            "HEAD",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["document"]["id"].as_str().unwrap_or(""))
        .collect();
    assert!(
        !ids.is_empty() && ids.iter().all(|id| *id == "adventure-works"),
        "{ids:?}"
    );
}

#[test]
fn changed_since_never_reads_an_old_blob_larger_than_the_file_limit() {
    // An old commit may hold a huge file; its blob is skipped unread (the file then counts as
    // changed) instead of being allocated whole.
    let dir = fixture_copy();
    std::fs::write(
        dir.path().join("channelguard.yaml"),
        "limits:\n  max_file_bytes: 2000\n",
    )
    .unwrap();
    let path = dir.path().join("customers/adventure-works.yaml");
    let current = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("# {}\n{current}", "x".repeat(3000))).unwrap();
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "."]);
    git(
        dir.path(),
        &["commit", "-q", "-m", "base with a padded file"],
    );
    std::fs::write(&path, &current).unwrap();
    let out = check_fixture(dir.path(), &["--format", "json", "--changed-since", "HEAD"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap_or(""))
        .collect();
    // Read, the old blob would hold the same documents and nothing would be reported.
    assert!(
        files.contains(&"customers/adventure-works.yaml"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn changed_since_an_unknown_ref_exits_2() {
    let dir = fixture_copy();
    git(dir.path(), &["init", "-q"]);
    let out = check_fixture(dir.path(), &["--changed-since", "no-such-branch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`no-such-branch` is not a commit"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn baseline_reports_only_new_findings_and_counts_fixed_entries() {
    let dir = fixture_copy();
    let mut create = channelguard();
    create
        .current_dir(dir.path())
        .args([
            "baseline",
            "create",
            "baseline.json",
            "--as-of",
            AS_OF,
            "--no-builtin-policies",
            "--policies",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(POLICIES));
    let out = create.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let baseline: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("baseline.json")).unwrap())
            .unwrap();
    assert_eq!(baseline["entries"].as_array().unwrap().len(), 3);
    assert!(!std::fs::read_to_string(dir.path().join("baseline.json"))
        .unwrap()
        .contains("\"line\""));

    let out = check_fixture(dir.path(), &["--baseline", "baseline.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("3 known findings not reported, 0 entries fixed"));

    // Fix F02, break something new.
    let litware = dir.path().join("partners/litware.yaml");
    let fixed = std::fs::read_to_string(&litware)
        .unwrap()
        .replace("partner_id: 2957364", "partner_id: \"2957364\"");
    std::fs::write(&litware, fixed).unwrap();
    let northwind = dir.path().join("partners/northwind.yaml");
    let broken = std::fs::read_to_string(&northwind)
        .unwrap()
        .replace("partner_id: \"5093271\"", "partner_id: 5093271");
    std::fs::write(&northwind, broken).unwrap();
    let out = check_fixture(
        dir.path(),
        &["--format", "json", "--baseline", "baseline.json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["document"]["id"], "northwind");
    assert!(text(&out.stderr).contains("2 known findings not reported, 1 entry fixed"));

    // Selecting one file does not turn the other files' entries into "fixed" ones.
    let out = check_fixture(
        dir.path(),
        &[
            "--baseline",
            "baseline.json",
            "--only",
            "partners/northwind.yaml",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("2 known findings not reported, 1 entry fixed"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_broken_baseline_exits_2() {
    let dir = fixture_copy();
    std::fs::write(dir.path().join("b.json"), "{\"version\": 1}").unwrap();
    let out = check_fixture(dir.path(), &["--baseline", "b.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("baseline `b.json`"));
}

#[test]
fn pre_commit_hooks_file_declares_both_variants() {
    let text = std::fs::read_to_string(".pre-commit-hooks.yaml").unwrap();
    let loaded = channelguard::yaml::load(
        &text,
        0,
        channelguard::source::FileId(0),
        &channelguard::limits::Limits::default(),
    );
    assert!(loaded.findings.is_empty(), "{:?}", loaded.findings);
    let hooks = loaded.documents[0].value.as_array().unwrap().clone();
    let by_id = |id: &str| hooks.iter().find(|h| h["id"] == id).cloned().unwrap();
    let rust = by_id("channelguard");
    assert_eq!(rust["language"], "rust");
    assert_eq!(rust["entry"], "channelguard check --only --");
    assert_eq!(rust["pass_filenames"], true);
    assert_eq!(by_id("channelguard-system")["language"], "system");
    assert_eq!(rust["files"], r"\.(ya?ml)$");
}

/// A broken policy under `./policies`: its path is shown without `./` (GitHub matches
/// `file=` and SARIF URIs textually against repository paths) and JUnit counts it as an error
/// (the tool could not judge), not as a failure of the data.
#[test]
fn a_broken_policy_is_a_junit_error_and_its_path_has_no_dot_prefix() {
    let dir = fixture_copy();
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    std::fs::write(dir.path().join("policies/X001-bad.rhai"), "broken").unwrap();
    let start = std::time::Instant::now();
    let out = check_fixture(
        dir.path(),
        &[
            "--policies",
            "./policies",
            "--format",
            "junit",
            "--output",
            "r.xml",
            "--format",
            "github",
            "--output",
            "r.github",
            "--format",
            "sarif",
            "--output",
            "r.sarif",
        ],
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();

    let xml = read("r.xml");
    let suite = xml
        .lines()
        .find(|l| l.contains("<testsuite name=\"policies/X001-bad.rhai\""))
        .unwrap_or_else(|| panic!("no suite for the policy:\n{xml}"));
    assert!(suite.contains("errors=\"1\" failures=\"0\""), "{suite}");
    assert!(xml.contains("<error message=\"P004 "), "{xml}");
    assert!(xml.contains("errors=\"1\""), "{xml}");
    // The data's own violations are still failures.
    assert!(xml.contains("<failure message=\"MC002 "), "{xml}");

    let github = read("r.github");
    let line = github.lines().find(|l| l.contains("P004")).unwrap();
    assert!(
        line.starts_with("::error file=policies/X001-bad.rhai,line=1,"),
        "{line}"
    );
    assert!(line.contains(",title=P004%3A "), "{line}");

    let sarif: Value = serde_json::from_str(&read("r.sarif")).unwrap();
    let result = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "P004")
        .unwrap();
    let artifact = &result["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(artifact["uri"], "policies/X001-bad.rhai");
    assert_eq!(artifact["uriBaseId"], "%SRCROOT%");
    assert_valid_sarif(&sarif);
}

/// Code scanning's own line fingerprint sits beside ours on every result in the repository,
/// and equals what github/codeql-action computes from the file (the algorithm is tested
/// against the action's vectors in `report::sarif`).
#[test]
fn sarif_results_carry_the_code_scanning_line_hash() {
    let log: Value = serde_json::from_str(&render(&SarifReporter, &outcome(), false)).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for result in results {
        let location = &result["locations"][0]["physicalLocation"];
        let path = Path::new(REPO).join(location["artifactLocation"]["uri"].as_str().unwrap());
        let text = std::fs::read_to_string(path).unwrap();
        let line = location["region"]["startLine"].as_u64().unwrap() as usize;
        let expected = channelguard::report::sarif::line_hashes(&text)[line - 1].clone();
        assert_eq!(
            result["partialFingerprints"]["primaryLocationLineHash"],
            Value::from(expected)
        );
        assert!(result["partialFingerprints"]["channelguard/v1"].is_string());
    }
    for rule in log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
    {
        let markdown = rule["help"]["markdown"].as_str().unwrap();
        assert!(
            markdown.contains(rule["helpUri"].as_str().unwrap()),
            "{rule}"
        );
        assert!(!rule["properties"]["tags"].as_array().unwrap().is_empty());
    }
}
