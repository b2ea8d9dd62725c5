//! CLI snapshot tests of `channelguard check` over the bad-input fixtures in `fixtures/cli/`:
//! each case in human (colourless, fixed width) and JSON output, with its exit code.

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

/// Runs the binary with `args` and returns what it did.
fn channelguard<I, S>(args: I) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::cargo_bin("channelguard")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

/// Runs `channelguard check` on a fixture folder (as the repository root) and returns
/// "exit: N" followed by stdout.
fn check(case: &str, format: &str, extra: &[&str]) -> String {
    let dir = Path::new("fixtures/cli").join(case);
    let output = Command::cargo_bin("channelguard")
        .unwrap()
        .args([
            "check",
            "--as-of",
            "2024-06-30",
            "--color",
            "never",
            "--format",
            format,
            "--root",
        ])
        .arg(&dir)
        .arg(&dir)
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.is_empty(), "unexpected stderr: {stderr}");
    format!("exit: {}\n{stdout}", output.status.code().unwrap())
}

macro_rules! snapshot_case {
    ($name:ident, $case:literal) => {
        #[test]
        fn $name() {
            insta::with_settings!({
                snapshot_suffix => "human",
                filters => vec![(r" in \d+\.\d+s", " in [time]")],
            }, {
                insta::assert_snapshot!(check($case, "human", &["--no-builtin-policies"]));
            });
            insta::with_settings!({ snapshot_suffix => "json" }, {
                insta::assert_snapshot!(check($case, "json", &["--no-builtin-policies"]));
            });
        }
    };
}

snapshot_case!(syntax_error, "syntax-error");
snapshot_case!(duplicate_key, "duplicate-key");
snapshot_case!(tab_indentation, "tab-indentation");
snapshot_case!(invalid_utf8, "invalid-utf8");
snapshot_case!(byte_order_mark, "bom");
snapshot_case!(empty_file, "empty-file");
snapshot_case!(empty_document, "empty-document");
snapshot_case!(document_not_a_mapping, "not-a-mapping");
snapshot_case!(missing_kind, "missing-kind");
snapshot_case!(unknown_kind, "unknown-kind");
snapshot_case!(missing_id, "missing-id");
snapshot_case!(schema_errors, "schema-errors");
snapshot_case!(norway_unquoted, "norway-unquoted");
snapshot_case!(references, "references");
snapshot_case!(duplicate_id, "duplicate-id");
snapshot_case!(multibyte_and_crlf, "multibyte-and-crlf");

#[test]
fn broken_file_points_at_line_and_column_in_json() {
    let out = check("syntax-error", "json", &["--no-builtin-policies"]);
    let json: serde_json::Value = serde_json::from_str(out.split_once('\n').unwrap().1).unwrap();
    let finding = &json["findings"][0];
    assert_eq!(finding["code"], "Y001");
    assert_eq!(finding["file"], "customers/broken.yaml");
    assert_eq!(
        (finding["line"].as_u64(), finding["column"].as_u64()),
        (Some(4), Some(10))
    );
    // The good file beside it was still checked.
    assert_eq!(json["summary"]["documents"], 1);
}

#[test]
fn output_is_identical_with_one_and_many_threads() {
    let run = |threads: &str| {
        channelguard([
            "check",
            "examples/northwind-csp",
            "--as-of",
            "2024-06-30",
            "--format",
            "json",
            "-j",
            threads,
        ])
        .stdout
    };
    let one = run("1");
    assert!(!one.is_empty());
    for threads in ["2", "4", "8"] {
        assert_eq!(one, run(threads), "output differs with {threads} threads");
    }
}

#[test]
fn file_order_on_the_command_line_does_not_change_the_output() {
    let run = |paths: &[&str]| {
        let mut args = vec!["check", "--as-of", "2024-06-30", "--format", "json"];
        args.extend_from_slice(paths);
        channelguard(args).stdout
    };
    let forward = run(&[
        "examples/northwind-csp/partners",
        "examples/northwind-csp/customers",
    ]);
    let backward = run(&[
        "examples/northwind-csp/customers",
        "examples/northwind-csp/partners",
    ]);
    assert_eq!(forward, backward);
}

#[test]
fn exit_codes() {
    // Each fixture is its own repository: `--root` keeps the project's other YAML out.
    let status = |args: &[&str]| {
        let mut all = args.to_vec();
        if all.len() > 1 && std::path::Path::new(all[1]).is_dir() {
            all.splice(1..1, ["--root", args[1]]);
        }
        channelguard(all).status.code()
    };
    let clean = "fixtures/cli/norway-unquoted";
    assert_eq!(
        status(&[
            "check",
            clean,
            "--as-of",
            "2024-06-30",
            "--no-builtin-policies"
        ]),
        Some(0)
    );
    assert_eq!(
        status(&[
            "check",
            clean,
            "--as-of",
            "2024-06-30",
            "--no-builtin-policies",
            "--fail-on",
            "warning"
        ]),
        Some(1)
    );
    assert_eq!(
        status(&[
            "check",
            "fixtures/cli/syntax-error",
            "--as-of",
            "2024-06-30"
        ]),
        Some(1)
    );
    assert_eq!(status(&["check", "does/not/exist"]), Some(2));
    assert_eq!(status(&["check", clean, "--as-of", "2024-13-01"]), Some(2));
    assert_eq!(
        status(&["check", clean, "--schemas", "does/not/exist"]),
        Some(2)
    );
    assert_eq!(status(&["check", "--no-such-flag"]), Some(2));
    assert_eq!(status(&["--version"]), Some(0));
}

#[test]
fn never_modifies_the_files_it_checks() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("repo");
    std::fs::create_dir_all(copy.join("customers")).unwrap();
    for entry in std::fs::read_dir("fixtures/cli/schema-errors/customers").unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join("customers").join(entry.file_name())).unwrap();
    }
    let before: Vec<_> = std::fs::read_dir(copy.join("customers"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    let modified_before = std::fs::metadata(copy.join("customers/contoso.yaml"))
        .unwrap()
        .modified()
        .unwrap();
    channelguard([
        std::ffi::OsStr::new("check"),
        "--as-of".as_ref(),
        "2024-06-30".as_ref(),
        copy.as_os_str(),
    ]);
    let after: Vec<_> = std::fs::read_dir(copy.join("customers"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        modified_before,
        std::fs::metadata(copy.join("customers/contoso.yaml"))
            .unwrap()
            .modified()
            .unwrap()
    );
    assert_eq!(
        std::fs::read_dir(&copy).unwrap().count(),
        1,
        "no file was created in the repository"
    );
}

/// The diagnostic on the README's first screen is real output of the README's first command.
#[test]
fn readme_shows_a_real_diagnostic() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let block = readme
        .split("```text\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README has a ```text block");
    let output = channelguard([
        "check",
        "examples/northwind-csp",
        "--as-of",
        "2024-06-30",
        "--color",
        "never",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains(block.trim()),
        "README's diagnostic is not in the output of its first command:\n{stdout}"
    );
}

/// A dangling reference is reported once (R002/R003) and does not hide the document: a policy
/// that does not read the dangling field still runs on it (X1), one that reads it is skipped
/// and the report says so (S004 naming X2), never silently.
#[test]
fn dangling_references_skip_only_the_evaluations_that_read_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("X1-every-document.rhai"),
        "//! id: X1\n//! title: every document\n//! severity: info\n\
         //! kinds: Customer, ResellerRelationship, DelegatedAdmin\n\
         //! rationale: test\n//! remediation: none\nfn check(doc) { report(\"/id\", \"seen\", \"none\") }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("X2-follows-references.rhai"),
        "//! id: X2\n//! title: follows references\n//! severity: info\n\
         //! kinds: ResellerRelationship, DelegatedAdmin\n//! rationale: test\n//! remediation: none\n\
         fn check(doc) { if find(\"Partner\", doc.partner) != () && find(\"Customer\", doc.customer) != () { report(\"/id\", \"both\", \"none\") } }\n",
    )
    .unwrap();
    let output = channelguard([
        std::ffi::OsStr::new("check"),
        "fixtures/cli/references".as_ref(),
        "--root".as_ref(),
        "fixtures/cli/references".as_ref(),
        "--as-of".as_ref(),
        "2024-06-30".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--no-builtin-policies".as_ref(),
        "--policies".as_ref(),
        dir.path().as_os_str(),
    ]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let seen: Vec<(String, String, String)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let doc = &f["document"];
            (
                f["code"].as_str().unwrap().to_string(),
                format!(
                    "{}/{}",
                    doc["kind"].as_str().unwrap(),
                    doc["id"].as_str().unwrap()
                ),
                f["pointer"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let triple = |code: &str, doc: &str, pointer: &str| {
        (code.to_string(), doc.to_string(), pointer.to_string())
    };
    assert_eq!(
        seen,
        [
            triple("X1", "Customer/contoso", "/id"),
            triple("X1", "ResellerRelationship/fabrikam-contoso", "/id"),
            triple("R002", "ResellerRelationship/fabrikam-contoso", "/partner"),
            triple("S004", "ResellerRelationship/fabrikam-contoso", "/partner"),
            triple("X1", "DelegatedAdmin/fabrikam-contoso-gdap", "/id"),
            triple("R003", "DelegatedAdmin/fabrikam-contoso-gdap", "/customer"),
            triple("S004", "DelegatedAdmin/fabrikam-contoso-gdap", "/customer"),
        ]
    );
    let s004 = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "S004")
        .unwrap();
    assert_eq!(
        s004["message"],
        "`partner` is invalid or missing, so rule `X2` was not evaluated on this document"
    );
    assert_eq!(s004["severity"], "info");
    assert_eq!(s004["line"], 10);
}

/// Related locations render as part of their finding: each with its own label (never an empty
/// `╰──`), inside the finding before its help (no separate `Advice:` item), the ones in other
/// files under their own file header, and labels far apart in one file as separate snippets
/// without the lines between them (issue 13, item 4).
#[test]
fn related_locations_render_inside_their_finding() {
    let out = check("related-locations", "human", &[]);
    insta::with_settings!({
        filters => vec![(r" in \d+\.\d+s", " in [time]")],
    }, {
        insta::assert_snapshot!(out);
    });
    assert!(!out.contains("Advice:"), "{out}");
    assert!(
        !out.lines().any(|l| l.trim_end().ends_with("╰──")),
        "a label without text:\n{out}"
    );
    let finding = out
        .split("\nMC020\n")
        .nth(1)
        .expect("MC020 is reported")
        .split("\n\n")
        .next()
        .expect("the finding's body");
    // The removed relationship, the active subscription in the same file and the one in
    // another file, in that order, then the help.
    let at = |needle: &str| {
        finding
            .find(needle)
            .unwrap_or_else(|| panic!("missing {needle:?} in:\n{finding}"))
    };
    let own = at("[customers/woodgrove.yaml:16:9]");
    let same_file = at("`woodgrove-m365-e3` was still active when the relationship was removed");
    let other_file = at("[subscriptions/woodgrove-teams.yaml:13:9]");
    let other_label = at("`woodgrove-teams` was still active when the relationship was removed");
    let help = at("help: suspend or cancel");
    assert!(
        own < same_file && same_file < other_file && other_file < other_label && other_label < help
    );
    // Five lines apart in one file: two snippets, without the lines between them (18, 19).
    assert!(
        at("[customers/woodgrove.yaml:21:9]") < same_file,
        "{finding}"
    );
    assert!(
        !finding.contains(" 18 │") && !finding.contains(" 19 │"),
        "{finding}"
    );
}

/// The severities of F03's findings over the fixtures (`error` for an invalid code, `warning`
/// for an unquoted `NO`).
fn f03_severities() -> std::collections::BTreeSet<String> {
    let mut seen = std::collections::BTreeSet::new();
    for case in ["norway-unquoted", "schema-errors"] {
        let out = check(case, "json", &["--no-builtin-policies"]);
        let json: serde_json::Value =
            serde_json::from_str(out.split_once('\n').unwrap().1).unwrap();
        for f in json["findings"].as_array().unwrap() {
            if f["code"] == "F03" {
                seen.insert(f["severity"].as_str().unwrap().to_string());
            }
        }
    }
    seen
}

/// F03 reports errors and warnings: `list`, `list --format json`, `explain` and the SARIF rule
/// name every severity it reports, not only the default `error` (issue 13, item 6).
#[test]
fn f03_lists_every_severity_it_reports() {
    let reported = f03_severities();
    assert_eq!(
        reported.len(),
        2,
        "the fixtures no longer show both cases: {reported:?}"
    );

    let list = String::from_utf8(channelguard(["list"]).stdout).unwrap();
    let row = list.lines().find(|l| l.starts_with("F03 ")).unwrap();
    let listed: std::collections::BTreeSet<String> = row
        .split_whitespace()
        .nth(1)
        .unwrap()
        .split('/')
        .map(str::to_string)
        .collect();
    assert_eq!(listed, reported, "{row}");

    let json: serde_json::Value =
        serde_json::from_slice(&channelguard(["list", "--format", "json"]).stdout).unwrap();
    let rule = json["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "F03")
        .unwrap();
    let mut listed: std::collections::BTreeSet<String> = rule["other_severities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["severity"].as_str().unwrap().to_string())
        .collect();
    listed.insert(rule["severity"].as_str().unwrap().to_string());
    assert_eq!(listed, reported, "{rule}");

    let explain = String::from_utf8(channelguard(["explain", "F03"]).stdout).unwrap();
    for severity in &reported {
        assert!(explain.contains(severity.as_str()), "{explain}");
    }
    assert!(
        explain.contains("warning for a correct code written unquoted"),
        "{explain}"
    );

    let sarif = check("norway-unquoted", "sarif", &["--no-builtin-policies"]);
    let sarif: serde_json::Value = serde_json::from_str(sarif.split_once('\n').unwrap().1).unwrap();
    let rule = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "F03")
        .unwrap();
    let described = rule["fullDescription"]["text"].as_str().unwrap();
    assert!(described.contains("Reported as warning for"), "{described}");
    assert!(
        rule["help"]["markdown"]
            .as_str()
            .unwrap()
            .contains("Reported as warning for"),
        "{rule}"
    );
}
