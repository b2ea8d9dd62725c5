//! CLI tests of the policy-authoring commands: `test` (pass, failure diff, errors, filter,
//! coverage), `explain`, `list` (table and JSON), `docs rules` (the committed docs/rules.md must
//! be current) and how broken user policies are reported by `check`.
//!
//! Tests that pin whole outputs use the fixture policy pack in `fixtures/authoring/policies`
//! with `--no-builtin-policies`, so they do not change when built-in policies are added.

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

/// Runs `channelguard ARGS` and returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::cargo_bin("channelguard")
        .unwrap()
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// "exit: N" followed by stdout, for snapshots.
fn transcript(args: &[&str]) -> String {
    let (code, stdout, stderr) = run(args);
    assert!(stderr.is_empty(), "unexpected stderr: {stderr}");
    format!("exit: {code}\n{stdout}")
}

const FIXTURE_POLICIES: [&str; 3] = [
    "--no-builtin-policies",
    "--policies",
    "fixtures/authoring/policies",
];

fn with_fixture_policies<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter().copied().chain(FIXTURE_POLICIES).collect()
}

#[test]
fn test_inline_cases_pass_with_the_builtin_pack() {
    let (code, stdout, _) = run(&["test", "fixtures/authoring/cases"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("passed  MC002 fires when the reseller relationship is only requested"));
    assert!(stdout.contains("2 passed, 0 failed, 0 could not run"));
}

#[test]
fn test_without_dir_runs_the_policy_directory_cases() {
    insta::assert_snapshot!(transcript(&with_fixture_policies(&["test"])));
}

#[test]
fn test_without_dir_runs_the_embedded_builtin_cases() {
    let (code, stdout, stderr) = run(&["test"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let cases = channelguard::policy_cases::builtin_cases();
    assert!(stdout.starts_with(&format!("running {} test", cases.len())));
    // Embedded cases run from memory and are shown as such.
    if !cases.is_empty() {
        assert!(stdout.contains("(<builtin>/policies/tests/"), "{stdout}");
    }
}

#[test]
fn test_failure_shows_a_diff_with_locations() {
    insta::assert_snapshot!(transcript(&with_fixture_policies(&[
        "test",
        "fixtures/authoring/failing",
    ])));
}

#[test]
fn test_verbose_failure_renders_the_unexpected_finding() {
    let (code, stdout, _) = run(&with_fixture_policies(&[
        "test",
        "--verbose",
        "fixtures/authoring/failing",
    ]));
    assert_eq!(code, 1);
    assert!(
        stdout.contains("[fixtures/authoring/failing/wrong-expectation.test.yaml:11:13]"),
        "{stdout}"
    );
}

#[test]
fn test_case_that_cannot_run_exits_2() {
    insta::assert_snapshot!(transcript(&with_fixture_policies(&[
        "test",
        "fixtures/authoring/erroring",
    ])));
}

#[test]
fn test_filter_selects_cases_by_name_or_path() {
    let (code, stdout, _) = run(&[
        "test",
        "fixtures/authoring",
        "--filter",
        "stays silent once",
    ]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with("running 1 test case\n"), "{stdout}");
    let (code, stdout, _) = run(&["test", "fixtures/authoring", "--filter", "erroring/missing"]);
    assert_eq!(code, 2, "{stdout}");
    assert!(stdout.starts_with("running 1 test case\n"), "{stdout}");
    let (code, _, stderr) = run(&["test", "fixtures/authoring", "--filter", "no such case"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no test case matches `no such case`"),
        "{stderr}"
    );
}

#[test]
fn test_missing_dir_exits_2() {
    let (code, _, stderr) = run(&["test", "fixtures/authoring/nowhere"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn test_coverage_shows_unreached_report_calls() {
    insta::assert_snapshot!(transcript(&with_fixture_policies(&["test", "--coverage"])));
}

#[test]
fn explain_a_policy_runs_its_example() {
    insta::assert_snapshot!(transcript(&with_fixture_policies(&[
        "explain",
        "auth001",
        "--as-of",
        "2024-06-30",
    ])));
}

#[test]
fn explain_a_builtin_policy() {
    let (code, stdout, _) = run(&["explain", "MC002", "--as-of", "2024-06-30"]);
    assert_eq!(code, 0);
    for expected in [
        "MC002: license-based subscription managed without an accepted reseller relationship",
        "severity    error",
        "applies to  Subscription",
        // A link a person can open, not a path inside the repository.
        "docs        https://github.com/channelguard/channelguard/blob/main/docs/rules.md#mc002",
        "source: Partner Center",
        "require_admin_rights = true",
        "example violation\n  kind: Subscription\n  id: contoso-m365-e3\n",
        // The real diagnostic of the example, located in it.
        "[MC002-example.yaml:6:13]",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

#[test]
fn explain_a_builtin_check() {
    insta::assert_snapshot!(transcript(&["explain", "f03"]));
    let (code, stdout, _) = run(&["explain", "duplicate-key"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("Y002: "));
}

#[test]
fn explain_an_unknown_id_suggests_one() {
    let (code, stdout, stderr) = run(&with_fixture_policies(&["explain", "AUTH01"]));
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert_eq!(
        stderr,
        "error: unknown rule `AUTH01`; did you mean `AUTH001`? (`channelguard list` shows every rule)\n"
    );
}

#[test]
fn list_as_a_table() {
    let (code, stdout, _) = run(&with_fixture_policies(&["list"]));
    assert_eq!(code, 0);
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next().unwrap(),
        "ID       SEVERITY       KINDS         TITLE"
    );
    assert_eq!(
        lines.next().unwrap(),
        "AUTH001  warning        Subscription  active subscription without a start date"
    );
    assert_eq!(lines.count(), channelguard::codes::ALL.len());
    let (_, builtin, _) = run(&["list"]);
    assert!(
        builtin.lines().any(|l| l.starts_with("MC002 ")),
        "{builtin}"
    );
    assert!(builtin.lines().any(|l| l.starts_with("F03 ")), "{builtin}");
}

#[test]
fn list_as_json() {
    let (code, stdout, _) = run(&["list", "--format", "json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rules = json["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let policies = channelguard::rules_doc::builtin_policy_metas();
    // A row per policy and per sub-rule (`MC002.admin`), then the built-in checks.
    let subrules: usize = policies.iter().map(|p| p.subrules.len()).sum();
    assert!(subrules > 0);
    assert_eq!(
        ids.len(),
        policies.len() + subrules + channelguard::codes::ALL.len()
    );
    assert!(ids.contains(&"MC002.admin"));
    for check in channelguard::codes::ALL {
        assert!(ids.contains(&check.id), "{}", check.id);
    }
    let mc002 = rules.iter().find(|r| r["id"] == "MC002").unwrap();
    assert_eq!(
        mc002,
        &serde_json::json!({
            "id": "MC002",
            "type": "policy",
            "severity": "error",
            "kinds": ["Subscription"],
            "title": "license-based subscription managed without an accepted reseller relationship"
        })
    );
    let f03 = rules.iter().find(|r| r["id"] == "F03").unwrap();
    assert_eq!(f03["type"], "builtin");
    assert_eq!(f03["kinds"], serde_json::json!([]));
}

#[test]
fn committed_rules_doc_is_current() {
    let (code, generated, _) = run(&["docs", "rules"]);
    assert_eq!(code, 0);
    let committed = std::fs::read_to_string("docs/rules.md").unwrap_or_default();
    assert!(
        committed == generated,
        "docs/rules.md is stale (policy headers or the checks registry changed); regenerate it with:\n    {}",
        channelguard::rules_doc::REGENERATE_RULES_DOC
    );
}

#[test]
fn docs_is_hidden_from_help() {
    let (_, help, _) = run(&["--help"]);
    assert!(!help.contains("docs "), "{help}");
    assert!(help.contains("explain"));
}

/// `check` with the broken fixture policies, without the built-in pack.
fn check_broken(format: &str) -> String {
    transcript(&[
        "check",
        "--root",
        "fixtures/authoring/repo",
        "fixtures/authoring/repo",
        "--as-of",
        "2024-06-30",
        "--color",
        "never",
        "--format",
        format,
        "--no-builtin-policies",
        "--policies",
        "fixtures/policies/broken",
    ])
}

#[test]
fn broken_policies_are_located_in_the_script_human() {
    insta::with_settings!({ filters => vec![(r" in \d+\.\d+s", " in [time]")] }, {
        insta::assert_snapshot!(check_broken("human"));
    });
}

#[test]
fn broken_policies_are_located_in_the_script_json() {
    let transcript = check_broken("json");
    let (exit, json) = transcript.split_once('\n').unwrap();
    // Broken policies make the check incomplete (exit 2); the working one still reports.
    assert_eq!(exit, "exit: 2");
    let report: serde_json::Value = serde_json::from_str(json).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let brief = |f: &serde_json::Value| {
        format!(
            "{} {} {}:{}:{} help={}",
            f["code"].as_str().unwrap(),
            f["origin"].as_str().unwrap(),
            f["file"].as_str().unwrap_or("-"),
            f["line"],
            f["column"],
            f["help"].as_str().is_some_and(|h| !h.is_empty())
        )
    };
    let mut seen: Vec<String> = findings.iter().map(brief).collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "BROKEN-NEIGHBOUR data contoso.yaml:33:13 help=true",
            "P001 tool fixtures/policies/broken/syntax-error.rhai:11:5 help=true",
            "P002 tool fixtures/policies/broken/runtime-error.rhai:10:24 help=true",
            "P004 tool fixtures/policies/broken/header-error.rhai:3:1 help=true",
            "P004 tool fixtures/policies/broken/no-entry-point.rhai:1:1 help=true",
        ]
    );
}

#[test]
fn broken_user_policies_leave_the_builtin_pack_running() {
    let (code, stdout, _) = run(&[
        "check",
        "--root",
        "fixtures/authoring/repo",
        "fixtures/authoring/repo",
        "--as-of",
        "2024-06-30",
        "--format",
        "json",
        "--policies",
        "fixtures/policies/broken",
    ]);
    assert_eq!(code, 2);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let codes: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"MC002"), "{codes:?}");
    assert!(
        codes.contains(&"P001") && codes.contains(&"P002"),
        "{codes:?}"
    );
}

/// The ```rhai blocks of a Markdown page.
fn rhai_blocks(markdown: &str) -> Vec<String> {
    markdown
        .split("```rhai\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn policy_api_doc_names_every_registered_function() {
    let api = include_str!("../src/policy/api.rs");
    let doc = std::fs::read_to_string("docs/policy-api.md").unwrap();
    let mut names: Vec<&str> = api
        .split("register_fn(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"'))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() > 30, "{names:?}");
    let undocumented: Vec<&&str> = names
        .iter()
        .filter(|name| !doc.contains(&format!("`{name}(")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "docs/policy-api.md does not document {undocumented:?}"
    );
}

#[test]
fn policy_api_doc_examples_compile() {
    let doc = std::fs::read_to_string("docs/policy-api.md").unwrap();
    let blocks = rhai_blocks(&doc);
    assert!(blocks.len() > 10);
    let dir = tempfile::tempdir().unwrap();
    for (i, block) in blocks.iter().enumerate() {
        let script = if block.contains("fn check(doc)") {
            block.clone()
        } else {
            format!(
                "//! id: DOC{i:03}\n//! title: example {i}\n//! severity: error\n//! kinds: Subscription\n//! rationale: x\n//! remediation: x\n//! setting: require_admin_rights = false — x\n\nfn check(doc) {{\n{block}}}\n"
            )
        };
        std::fs::write(dir.path().join(format!("doc{i:03}.rhai")), script).unwrap();
    }
    let mut sources = channelguard::source::SourceMap::new();
    let spec = channelguard::policy::PolicySources {
        builtin: false,
        directories: vec![dir.path().to_path_buf()],
    };
    let (set, findings) = channelguard::policy::PolicySet::load(
        &spec,
        &mut sources,
        &channelguard::limits::Limits::default(),
        &channelguard::input::ReadScope::new(dir.path()),
    )
    .unwrap();
    let problems: Vec<String> = findings
        .iter()
        .map(|f| {
            let location = f.location.unwrap();
            let file = sources.get(location.file);
            format!("{}: {} ({})", f.code, f.message, file.text)
        })
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(set.policies.len(), blocks.len());
}

#[test]
fn testing_doc_example_case_passes() {
    let doc = std::fs::read_to_string("docs/testing-policies.md").unwrap();
    let example = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.test.yaml");
    std::fs::write(&path, example).unwrap();
    let (code, stdout, stderr) = run(&["test", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
}

#[test]
fn explain_a_policy_that_does_not_load_says_so() {
    let (code, stdout, stderr) = run(&[
        "explain",
        "BROKEN-HEADER",
        "--no-builtin-policies",
        "--policies",
        "fixtures/policies/broken",
    ]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with("error: policy `BROKEN-HEADER` could not be loaded (fixtures/policies/broken/header-error.rhai: `severity` must be"),
        "{stderr}"
    );
}

#[test]
fn test_and_list_use_the_policy_directories_of_the_configuration() {
    let configured = ["--root", "fixtures/authoring", "--no-builtin-policies"];
    let args: Vec<&str> = ["test"].into_iter().chain(configured).collect();
    let (code, stdout, _) = run(&args);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with("running 2 test cases\n"), "{stdout}");
    assert!(
        stdout.contains("AUTH001 fires on an active subscription"),
        "{stdout}"
    );
    let args: Vec<&str> = ["list"].into_iter().chain(configured).collect();
    let (_, stdout, _) = run(&args);
    assert!(
        stdout.lines().nth(1).unwrap().starts_with("AUTH001 "),
        "{stdout}"
    );
}

#[test]
fn test_as_json_with_coverage() {
    insta::assert_snapshot!(transcript(&with_fixture_policies(&[
        "test",
        "fixtures/authoring/failing",
        "--format",
        "json",
        "--coverage",
    ])));
}

#[test]
fn test_escapes_control_characters_of_case_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("escape.test.yaml");
    std::fs::write(
        &path,
        "name: \"clear \\e[2J screen\"\nas_of: \"2024-06-30\"\ndocuments: []\nexpect: []\n",
    )
    .unwrap();
    let (code, stdout, _) = run(&["test", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    assert!(!stdout.contains('\x1b'), "{stdout:?}");
    assert!(
        stdout.contains("passed  clear \\u{1b}[2J screen"),
        "{stdout}"
    );
}

/// A case that lists only its rule still shows why the rule did not fire: the policy's own
/// runtime error (P002), with a "did you mean" for the misspelt field.
#[test]
fn test_shows_the_runtime_error_of_the_policy_under_test() {
    let start = std::time::Instant::now();
    let (code, stdout, _) = run(&[
        "test",
        "fixtures/authoring-typo/policies/tests",
        "--no-builtin-policies",
        "--policies",
        "fixtures/authoring-typo/policies",
    ]);
    assert!(start.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("FAILED  TYPO001 fires on ten seats"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "+ P002 error fixtures/authoring-typo/policies/TYPO001-quantity-typo.rhai:11 - - policy `TYPO001` failed: runtime error: unknown field `quantty` of a Subscription document; did you mean `quantity`?"
        ),
        "{stdout}"
    );
}

/// `--coverage --filter` reports the selected policies only, not the whole pack.
#[test]
fn test_coverage_with_a_filter_covers_the_selected_policies_only() {
    let (code, stdout, _) = run(&[
        "test",
        "--coverage",
        "--filter",
        "AUTH001",
        "--policies",
        "fixtures/authoring/policies",
    ]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("PARTIAL AUTH001  fires: yes (1 case)"),
        "{stdout}"
    );
    assert!(!stdout.contains("MC002"), "{stdout}");
    assert!(stdout.contains("0 of 1 policies fully covered"), "{stdout}");
}

/// `test DIR` runs the cases in DIR only, even with the built-in pack loaded.
#[test]
fn test_dir_runs_only_the_cases_in_it() {
    let (code, stdout, _) = run(&[
        "test",
        "fixtures/authoring/policies/tests",
        "--policies",
        "fixtures/authoring/policies",
    ]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with("running 2 test cases\n"), "{stdout}");
    assert!(!stdout.contains("<builtin>"), "{stdout}");
}

/// Issue 13 item 3: the label under a policy finding says what is wrong at that node. A report
/// names it (map form), or it is derived from the message (the message when short, else
/// `here`); it is never the rule's title, which contradicts a message about another case.
#[test]
fn labels_say_what_is_wrong_never_the_title() {
    let dir = tempfile::tempdir().unwrap();
    let title = "rule title that must not label a finding";
    std::fs::write(
        dir.path().join("label.rhai"),
        format!(
            "//! id: LBL001\n//! title: {title}\n//! severity: error\n//! kinds: Subscription\n\
             //! rationale: x\n//! remediation: fix it\n\n\
             fn check(doc) {{\n\
             \x20   report(\"/status\", \"a short message\");\n\
             \x20   report(\"/managed_by\", \"a message that is far too long to be drawn under the node as its label\");\n\
             \x20   report_warning(#{{pointer: \"/channel\", label: `bought ${{q(doc.channel)}}`, message: \"named label\"}});\n\
             }}\n"
        ),
    )
    .unwrap();
    let policies = dir.path().to_str().unwrap();
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = run(&[
        "check",
        "--root",
        "fixtures/authoring/repo",
        "fixtures/authoring/repo",
        "--as-of",
        "2024-06-30",
        "--format",
        "json",
        "--no-builtin-policies",
        "--policies",
        policies,
    ]);
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(code, 1, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let labels: Vec<(&str, &str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "LBL001")
        .map(|f| {
            (
                f["pointer"].as_str().unwrap(),
                f["label"].as_str().unwrap(),
                f["severity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        labels,
        // In document order.
        vec![
            ("/channel", "bought `direct`", "warning"),
            ("/managed_by", "here", "error"),
            ("/status", "a short message", "error"),
        ]
    );
    assert!(
        !stdout.contains(title),
        "the title labels a finding: {stdout}"
    );
    // The human format draws the label under the node.
    let (_, human, _) = run(&[
        "check",
        "--root",
        "fixtures/authoring/repo",
        "fixtures/authoring/repo",
        "--as-of",
        "2024-06-30",
        "--color",
        "never",
        "--no-builtin-policies",
        "--policies",
        policies,
    ]);
    assert!(human.contains("╰── bought `direct`"), "{human}");
    assert!(!human.contains(title), "{human}");
}
