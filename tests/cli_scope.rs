//! What a check reads (issue 14, item 2): in a real `git init` account repository that also
//! holds CI definitions, tool configuration and docs, `.gitignore`/`.ignore` are honoured, the
//! well-known non-account files are left out by default, `include:`/`exclude:` globs of
//! `channelguard.yaml` choose the rest, and what scope leaves out is never read but counted.
//! A file in scope that is not account data stays a finding.

mod hardening_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hardening_support::{check, Repo, Run};
use serde_json::Value;

/// Generous: each run checks about 20 files.
const BOUND: Duration = Duration::from_secs(60);

/// The Azure Pipelines recipe of docs/ci.md, as committed to an account repository.
fn azure_recipe() -> String {
    let docs = std::fs::read_to_string("docs/ci.md").unwrap();
    let section = docs.split("## Azure Pipelines").nth(1).unwrap();
    let start = section.find("```yaml\n").unwrap() + "```yaml\n".len();
    let end = start + section[start..].find("```").unwrap();
    section[start..end].to_string()
}

fn git(root: &Path, args: &[&str]) {
    let status = Command::new("git")
        .current_dir(root)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// 20 good partners plus what a real account repository holds besides account data, in a
/// `git init` repository with a `.gitignore` and an `.ignore`.
fn account_repo() -> Repo {
    let repo = Repo::new();
    repo.write("azure-pipelines.yml", azure_recipe().as_bytes());
    repo.write(
        ".github/workflows/ci.yml",
        b"on: push\njobs:\n  check:\n    runs-on: ubuntu-latest\n",
    );
    repo.write(
        ".gitlab-ci.yml",
        b"check:\n  script: [channelguard check]\n",
    );
    repo.write("bitbucket-pipelines.yml", b"pipelines:\n  default: []\n");
    repo.write(
        ".pre-commit-config.yaml",
        b"repos:\n  - repo: local\n    hooks: []\n",
    );
    repo.write("mkdocs.yml", b"site_name: accounts\nnav: []\n");
    repo.write("docker-compose.override.yml", b"services: {}\n");
    // Ignored by git: generated output and a scratch file.
    repo.write(".gitignore", b"/build/\nscratch.yaml\n");
    repo.write("build/generated.yaml", b"not: account data\n");
    repo.write("partners/scratch.yaml", b"\xff\xfe broken\n");
    // Ignored by `.ignore` (ripgrep's convention, for files git must still track).
    repo.write(".ignore", b"vendor/\n");
    repo.write("vendor/tool.yaml", b"tool: settings\n");
    git(repo.root(), &["init", "-q"]);
    repo
}

fn findings(run: &Run) -> Vec<(String, String)> {
    run.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["file"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// `(path, reason)` of every skipped path in the JSON summary.
fn skipped(run: &Run) -> Vec<(String, String)> {
    run.json()["summary"]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn s1_ci_definitions_tool_files_and_git_ignored_files_are_not_account_data() {
    let repo = account_repo();
    let run = check(&repo, &[]);
    run.within(BOUND);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(findings(&run), pairs(&[]));
    assert_eq!(run.files_checked(), 20);
    // What git ignores and the default exclusions are counted by reason (never read: the
    // ignored `partners/scratch.yaml` is not UTF-8); hidden files stay counted as hidden.
    assert_eq!(
        skipped(&run),
        pairs(&[
            (".github/workflows/ci.yml", "hidden"),
            (".gitlab-ci.yml", "hidden"),
            ("azure-pipelines.yml", "default_exclude"),
            ("bitbucket-pipelines.yml", "default_exclude"),
            ("build/generated.yaml", "ignored"),
            ("docker-compose.override.yml", "default_exclude"),
            ("mkdocs.yml", "default_exclude"),
            ("partners/scratch.yaml", "ignored"),
            ("vendor/tool.yaml", "ignored"),
        ])
    );
    let human = hardening_support::human(&repo, &[]);
    assert!(
        human.contains("skipped 2 hidden files, 3 ignored by git, 4 well-known non-account files"),
        "{human}"
    );
}

#[test]
fn s2_a_file_in_scope_that_is_not_account_data_stays_a_finding() {
    let repo = account_repo();
    repo.write("notes/todo.yaml", b"- write the docs\n");
    let run = check(&repo, &[]);
    run.within(BOUND);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let found = findings(&run);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1, "notes/todo.yaml");
}

#[test]
fn s3_exclude_and_include_globs_choose_the_files_and_excluded_files_are_never_read() {
    let repo = account_repo();
    // Each of these would be a finding if it were read: invalid UTF-8, no kind.
    repo.write("docs/examples/snippet.yaml", b"\xff\xfe\n");
    repo.write("docs/index.yml", b"title: docs\n");
    repo.write("tools/lint.yaml", b"rules: {}\n");
    repo.write(
        "channelguard.yaml",
        b"include:\n  - partners/**\n  - docs/**\nexclude:\n  - docs/**\n",
    );
    let run = check(&repo, &[]);
    run.within(BOUND);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.files_checked(), 20);
    let skipped = skipped(&run);
    for expected in [
        ("docs/examples/snippet.yaml", "excluded"),
        ("docs/index.yml", "excluded"),
        ("tools/lint.yaml", "not_included"),
        ("azure-pipelines.yml", "default_exclude"),
    ] {
        assert!(
            skipped.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} not in {skipped:?}"
        );
    }
    let human = hardening_support::human(&repo, &[]);
    assert!(
        human.contains("2 excluded by `exclude`, 1 not matched by `include`"),
        "{human}"
    );
}

#[test]
fn s4_default_exclusions_can_be_turned_off() {
    let repo = account_repo();
    repo.write("channelguard.yaml", b"default_exclude: false\n");
    let run = check(&repo, &[]);
    run.within(BOUND);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let files: Vec<String> = findings(&run).into_iter().map(|(_, f)| f).collect();
    assert!(
        files.contains(&"azure-pipelines.yml".to_string()),
        "{files:?}"
    );
    assert!(files.contains(&"mkdocs.yml".to_string()), "{files:?}");
}

#[test]
fn s5_a_bad_glob_is_a_located_configuration_error() {
    let repo = account_repo();
    repo.write("channelguard.yaml", b"exclude:\n  - docs/**\n  - \"a[b\"\n");
    let run = check(&repo, &[]);
    run.within(BOUND);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let json: Value = run.json();
    let c001: Vec<&Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "C001")
        .collect();
    assert_eq!(c001.len(), 1, "{}", run.stdout);
    assert_eq!(c001[0]["file"], "channelguard.yaml");
    assert_eq!(c001[0]["line"], 3);
    let message = c001[0]["message"].as_str().unwrap();
    assert!(message.starts_with("invalid glob `a[b`"), "{message}");
}
