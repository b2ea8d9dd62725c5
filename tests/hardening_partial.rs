//! Hardening tests U1–U9 (issue 11 items 6 and 7, docs/security.md): a partial check never
//! looks clean. A kind without a schema, files the walk leaves out (hidden, `.YAML`, names that
//! are not UTF-8, directories that cannot be listed) and findings that mean "not checked"
//! (Y008, Y013, …) are always visible: reported, counted in the summary, and never turned off,
//! waived or baselined into an exit code of 0.

mod hardening_support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use hardening_support::*;
use serde_json::Value;

const LONG: Duration = Duration::from_secs(30);

/// A valid Customer document.
const CUSTOMER: &str = "kind: Customer\nid: contoso\nname: Contoso\ntenant_id: 00000000-0000-4000-8000-000000000001\ncloud: commercial\ntenant_country: \"US\"\n";

/// A Customer document with a schema violation (`cloud: 7`) on line 5, column 8.
const BAD_CUSTOMER: &str = "kind: Customer\nid: fabrikam\nname: Fabrikam\ntenant_id: 00000000-0000-4000-8000-000000000002\ncloud: 7\ntenant_country: \"US\"\n";

/// The bundled schemas copied to `schemas/`, each passed through `edit` (`None` drops the file).
fn schemas(repo: &Repo, edit: impl Fn(&str, Value) -> Option<Value>) -> PathBuf {
    for (name, text) in channelguard::schema::BUILTIN_SCHEMAS {
        let json: Value = serde_json::from_str(text).unwrap();
        if let Some(json) = edit(name, json) {
            repo.write(
                &format!("schemas/{name}"),
                serde_json::to_string_pretty(&json).unwrap().as_bytes(),
            );
        }
    }
    repo.path("schemas")
}

fn summary_line(repo: &Repo) -> String {
    let human = human(repo, &[]);
    human
        .lines()
        .rev()
        .find(|l| l.starts_with("checked "))
        .unwrap_or_else(|| panic!("no summary line:\n{human}"))
        .to_string()
}

#[test]
fn u1_a_schema_directory_without_a_kinds_schema_is_a_located_tool_error() {
    let repo = Repo::new();
    repo.write("customers/contoso.yaml", CUSTOMER.as_bytes());
    let dir = schemas(&repo, |name, json| {
        (name != "customer.json").then_some(json)
    });
    let run = check(&repo, &["--schemas", dir.to_str().unwrap()]);
    run.within(LONG);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let finding = run.one("S003");
    assert_at(
        &finding,
        "declares kind `Customer`; 1 Customer document was not validated",
        "customers/contoso.yaml",
        1,
        1,
    );
    assert_eq!(finding["origin"], "tool");
    assert!(finding["help"].as_str().unwrap().contains("kind.const"));
    // The other kinds are still validated and checked.
    assert_eq!(run.files_checked(), GOOD_FILES as u64 + 1);
}

#[test]
fn u2_a_schema_without_its_kind_const_is_a_missing_schema() {
    let repo = Repo::new();
    repo.write("customers/fabrikam.yaml", BAD_CUSTOMER.as_bytes());
    let dir = schemas(&repo, |name, mut json| {
        if name == "partner.json" {
            json["properties"]["kind"] = serde_json::json!({ "type": "string" });
        }
        Some(json)
    });
    let run = check(&repo, &["--schemas", dir.to_str().unwrap()]);
    run.within(LONG);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_at(
        &run.one("S003"),
        "declares kind `Partner`; 20 Partner documents were not validated",
        "partners/p10.yaml",
        1,
        1,
    );
    // The Customer schema still works.
    assert_at(
        &run.with_code("S001")[0],
        "",
        "customers/fabrikam.yaml",
        5,
        8,
    );
}

#[test]
fn u3_upper_case_extensions_are_data() {
    let repo = Repo::new();
    repo.write("customers/FABRIKAM.YAML", BAD_CUSTOMER.as_bytes());
    repo.write("customers/contoso.Yml", CUSTOMER.as_bytes());
    // Still not data, whatever the case: configuration and policy test cases.
    repo.write("CHANNELGUARD.YML", b"not: [data");
    repo.write("policies/x.TEST.YAML", b"not: [data");
    let run = check(&repo, &[]);
    run.within(LONG);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.files_checked(), GOOD_FILES as u64 + 2, "{}", run.stdout);
    assert_at(
        &run.with_code("S001")[0],
        "",
        "customers/FABRIKAM.YAML",
        5,
        8,
    );
}

#[test]
fn u4_hidden_data_files_are_counted_and_listed_never_silently_skipped() {
    let repo = Repo::new();
    repo.write(".staging/customers/fabrikam.yaml", BAD_CUSTOMER.as_bytes());
    repo.write("customers/.contoso.yaml", CUSTOMER.as_bytes());
    repo.write(".github/workflows/ci.yml", b"on: push\n");
    // Not counted: version-control metadata, and hidden files that are not data.
    repo.write(".git/x.yaml", b"a: 1\n");
    repo.write(".pre-commit-config.yaml", b"repos: []\n");
    repo.write(".env", b"SECRET=1\n");
    let run = check(&repo, &[]);
    run.within(LONG);
    // Hidden files are left out (like ripgrep), so the data is clean: but it says so.
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.files_checked(), GOOD_FILES as u64);
    let skipped: Vec<(String, String)> = run.json()["summary"]["skipped"]
        .as_array()
        .unwrap_or_else(|| panic!("no summary.skipped:\n{}", run.stdout))
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        skipped,
        [
            (".github/workflows/ci.yml".to_string(), "hidden".to_string()),
            (
                ".staging/customers/fabrikam.yaml".to_string(),
                "hidden".to_string()
            ),
            ("customers/.contoso.yaml".to_string(), "hidden".to_string()),
        ]
    );
    let line = summary_line(&repo);
    assert!(line.contains(" 0 infos; skipped 3 hidden files"), "{line}");
    // Named on the command line, a hidden directory is checked.
    let named = check_paths(&repo, &[repo.path(".staging").to_str().unwrap()], &[], &[]);
    assert_eq!(named.code, 1, "{}", named.stdout);
    assert_at(
        &named.with_code("S001")[0],
        "",
        ".staging/customers/fabrikam.yaml",
        5,
        8,
    );
}

// Linux file systems take any bytes but `/` and NUL in a name (APFS refuses invalid UTF-8).
#[cfg(target_os = "linux")]
#[test]
fn u5_a_data_file_whose_name_is_not_utf8_is_a_located_y013() {
    use std::os::unix::ffi::OsStrExt;
    let repo = Repo::new();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.yaml");
    let dir = repo.path("customers");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), BAD_CUSTOMER).unwrap();
    // Not data by its extension: not reported.
    std::fs::write(dir.join(std::ffi::OsStr::from_bytes(b"notes\xff.txt")), "x").unwrap();
    let run = check(&repo, &[]);
    run.within(LONG);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let finding = run.one("Y013");
    assert_at(
        &finding,
        "the path is not valid UTF-8; not read",
        "customers/caf\\xe9.yaml",
        1,
        1,
    );
    assert_eq!(run.files_checked(), GOOD_FILES as u64);
    assert_eq!(
        run.json()["summary"]["skipped"][0]["reason"],
        "non_utf8_name",
        "{}",
        run.stdout
    );
    let line = summary_line(&repo);
    assert!(
        line.contains(" 1 error, 0 warnings, 0 infos; skipped 1 non-UTF-8 name"),
        "{line}"
    );
}

#[cfg(unix)]
#[test]
fn u6_a_directory_that_cannot_be_listed_is_a_located_y013_and_the_rest_is_checked() {
    // A directory whose path is longer than PATH_MAX cannot be listed, even by root (for whom
    // `chmod 000` would not do). GNU `mkdir -p` makes it one component at a time.
    let repo = Repo::new();
    repo.write("customers/fabrikam.yaml", BAD_CUSTOMER.as_bytes());
    let deep = vec!["d".repeat(250); 20].join("/");
    let made = Command::new("mkdir")
        .current_dir(repo.root())
        .args(["-p", &format!("deep/{deep}")])
        .status()
        .unwrap();
    assert!(made.success());
    let run = check(&repo, &[]);
    run.within(LONG);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let finding = run.one("Y013");
    let path = finding["file"].as_str().unwrap();
    assert!(path.starts_with("deep/dddd"), "{path}");
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot read the directory: "),
        "{finding}"
    );
    assert_eq!(
        (finding["line"].as_u64(), finding["column"].as_u64()),
        (Some(1), Some(1))
    );
    // Everything else was checked.
    assert_eq!(run.files_checked(), GOOD_FILES as u64 + 1);
    assert_at(
        &run.with_code("S001")[0],
        "",
        "customers/fabrikam.yaml",
        5,
        8,
    );
    let line = summary_line(&repo);
    assert!(line.contains("; skipped 1 unreadable directory"), "{line}");
}

/// A repository with one file over `max_file_bytes: 2000` (a Y008 on it) plus `config`.
fn with_unread_file(config: &str) -> Repo {
    let repo = Repo::new();
    let big = format!("{CUSTOMER}notes: \"{}\"\n", "x".repeat(3000));
    repo.write("customers/big.yaml", big.as_bytes());
    repo.write(
        "channelguard.yaml",
        format!("limits:\n  max_file_bytes: 2000\n{config}").as_bytes(),
    );
    repo
}

#[test]
fn u7_checks_meaning_not_checked_cannot_be_turned_off_or_downgraded() {
    // Before: `enabled: false` dropped the Y008 and the run was clean (exit 0).
    let cases = [
        (
            "rules:\n  Y008: {enabled: false}\n",
            "enabled: false",
            4,
            10,
        ),
        (
            "rules:\n  Y008:\n    severity: info\n",
            "severity: info",
            5,
            5,
        ),
        (
            "rules:\n  Y013: {enabled: false}\n",
            "enabled: false",
            4,
            10,
        ),
        (
            "rules:\n  S002: {enabled: false}\n",
            "enabled: false",
            4,
            10,
        ),
    ];
    for (config, snippet, line, column) in cases {
        let repo = with_unread_file(config);
        let run = check(&repo, &[]);
        run.within(LONG);
        assert_eq!(run.code, 2, "{config}\n{}", run.stdout);
        let finding = run.one("C001");
        assert_at(
            &finding,
            "cannot be turned off or downgraded: its findings mean that input was not checked",
            "channelguard.yaml",
            line,
            column,
        );
        let text = std::fs::read_to_string(repo.path("channelguard.yaml")).unwrap();
        let (start, end) = (
            finding["byte_start"].as_u64().unwrap() as usize,
            finding["byte_end"].as_u64().unwrap() as usize,
        );
        assert_eq!(&text[start..end], snippet);
    }
    // The same settings for an ordinary rule are fine, and the Y008 is still reported.
    let repo = with_unread_file("rules:\n  F05: {enabled: false}\n  Y008: {severity: error}\n");
    let run = check(&repo, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_at(
        &run.one("Y008"),
        "larger than the limit of 2000 bytes",
        "customers/big.yaml",
        1,
        1,
    );
}

#[test]
fn u8_findings_meaning_not_checked_cannot_be_waived() {
    let repo = with_unread_file(
        "waivers:\n  - rule: Y008\n    document: Customer/contoso\n    reason: too big\n    approved_by: me\n",
    );
    let run = check(&repo, &[]);
    run.within(LONG);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_at(
        &run.one("C001"),
        "findings of `Y008` cannot be waived",
        "channelguard.yaml",
        4,
        5,
    );
}

#[test]
fn u9_a_baseline_never_hides_an_unread_file() {
    let repo = with_unread_file("");
    let baseline = repo.write(
        "baseline.json",
        br#"{"version": 1, "entries": [{"rule": "Y008", "file": "customers/big.yaml", "message": ""}]}"#,
    );
    let run = check(&repo, &["--baseline", baseline.to_str().unwrap()]);
    run.within(LONG);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_at(
        &run.one("Y008"),
        "larger than the limit",
        "customers/big.yaml",
        1,
        1,
    );
    // `baseline create` does not record it either.
    let created = repo.path("created.json");
    let output = Command::cargo_bin("channelguard")
        .unwrap()
        .args(["baseline", "create", "--as-of", "2024-06-30", "--root"])
        .arg(repo.root())
        .arg(&created)
        .arg(repo.root())
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&created)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)));
    assert!(!text.contains("Y008"), "{text}");
}
