//! The repository is found from any path (issue 14, item 1) and filters say what they hid
//! (item 3): `check` run on the real binary from other directories, with absolute, relative,
//! `..`, subdirectory, one-file and several-repository paths, on a copy of the example
//! repository. Display paths stay relative to the root; the whole repository is always loaded.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// Generous: each run checks 21 files.
const BOUND: Duration = Duration::from_secs(60);

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}{}", self.stdout, self.stderr))
    }
}

/// `channelguard ARGS` run in `dir`.
fn run_in(dir: &Path, args: &[&str]) -> Run {
    let started = Instant::now();
    let output = Command::cargo_bin("channelguard")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        started.elapsed() < BOUND,
        "{args:?} took {:?}",
        started.elapsed()
    );
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `check --format json` with the example's evaluation date, in `dir`.
fn check_json(dir: &Path, args: &[&str]) -> Run {
    let mut all = vec!["check", "--as-of", "2024-06-30", "--format", "json"];
    all.extend_from_slice(args);
    run_in(dir, &all)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A temporary directory holding a copy of examples/northwind-csp at `repo/` (with its
/// `channelguard.yaml`) and an unrelated directory `elsewhere/`.
fn workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    copy_dir(Path::new("examples/northwind-csp"), &repo);
    assert!(repo.join("channelguard.yaml").exists());
    std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
    (dir, repo)
}

/// (code, file, line) of every finding, in report order.
fn findings(run: &Run) -> Vec<(String, String, u64)> {
    run.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["file"].as_str().unwrap_or("").to_string(),
                f["line"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Whether a finding lies in a file under `prefix` or points into one (`--only` semantics).
fn touches(finding: &Value, prefix: &str) -> bool {
    let in_prefix = |v: &Value| v["file"].as_str().is_some_and(|f| f.starts_with(prefix));
    in_prefix(finding) || finding["related"].as_array().unwrap().iter().any(in_prefix)
}

/// The reference run: `check .` at the root of the copy.
fn full(repo: &Path) -> Run {
    let run = check_json(repo, &["."]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.json()["summary"]["documents"], 75);
    run
}

#[test]
fn p1_an_absolute_path_from_another_directory_checks_the_repository() {
    let (dir, repo) = workspace();
    let reference = full(&repo);
    let run = check_json(&dir.path().join("elsewhere"), &[repo.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["summary"]["documents"], 75);
    assert!(!run.stdout.contains("Y013"), "{}", run.stdout);
    // Same findings, displayed relative to the root.
    assert_eq!(findings(&run), findings(&reference));
    assert!(findings(&run)
        .iter()
        .all(|(_, file, _)| !file.starts_with('/')));
    assert!(json["summary"].get("not_shown").is_none(), "{}", run.stdout);
}

#[test]
fn p2_a_relative_path_from_above_and_dot_dot_from_below() {
    let (dir, repo) = workspace();
    let reference = findings(&full(&repo));
    let above = check_json(dir.path(), &["repo"]);
    assert_eq!(above.code, 1, "{}", above.stderr);
    assert_eq!(findings(&above), reference);
    let below = check_json(&repo.join("customers"), &[".."]);
    assert_eq!(below.code, 1, "{}", below.stderr);
    assert_eq!(findings(&below), reference);
}

#[test]
fn p3_run_in_a_subdirectory_loads_the_whole_repository_and_reports_that_part() {
    let (_dir, repo) = workspace();
    let reference = full(&repo).json();
    for args in [&[][..], &["."][..]] {
        let run = check_json(&repo.join("customers"), args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        let json = run.json();
        // Every document was loaded: no false dangling reference.
        assert_eq!(json["summary"]["documents"], 75);
        // (The example's one deliberate dangling reference, in customers/fabrikam.yaml.)
        assert_eq!(run.stdout.matches("\"R002\"").count(), 1, "{}", run.stdout);
        let expected: Vec<&Value> = reference["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| touches(f, "customers/"))
            .collect();
        let shown = json["findings"].as_array().unwrap();
        assert!(!shown.is_empty());
        assert_eq!(shown.iter().collect::<Vec<_>>(), expected);
        let total = reference["findings"].as_array().unwrap().len();
        assert_eq!(
            json["summary"]["not_shown"]["paths"],
            (total - shown.len()) as u64,
            "{}",
            run.stdout
        );
    }
}

#[test]
fn p4_one_file_reports_that_file_and_the_summary_says_what_was_hidden() {
    let (_dir, repo) = workspace();
    let reference = full(&repo).json();
    let total = reference["findings"].as_array().unwrap().len();
    let customers = repo.join("customers");
    let run = check_json(&customers, &["contoso.yaml"]);
    let json = run.json();
    assert_eq!(json["summary"]["documents"], 75);
    let shown = json["findings"].as_array().unwrap();
    assert!(shown.iter().all(|f| touches(f, "customers/contoso.yaml")));
    assert_eq!(
        json["summary"]["not_shown"]["paths"],
        (total - shown.len()) as u64
    );
    // The human summary names the hidden findings.
    let human = run_in(
        &customers,
        &["check", "--as-of", "2024-06-30", "-q", "contoso.yaml"],
    );
    let hidden = total - shown.len();
    assert!(
        human.stdout.contains(&format!(
            "; {hidden} findings outside the selected paths not shown"
        )),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("checked 21 files (75 documents)"));
}

#[test]
fn p5_paths_of_several_repositories_are_refused_naming_them() {
    let (dir, repo) = workspace();
    let other = dir.path().join("other");
    copy_dir(&repo, &other);
    let run = run_in(
        dir.path(),
        &[
            "check",
            "repo/customers/contoso.yaml",
            "other/customers/contoso.yaml",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run
        .stderr
        .starts_with("error: the paths belong to different repositories"));
    assert!(
        run.stderr.contains("`repo/customers/contoso.yaml`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("`other/customers/contoso.yaml`"),
        "{}",
        run.stderr
    );
}

#[test]
fn p6_a_missing_path_root_or_only_file_is_one_line_and_exit_2() {
    let (dir, repo) = workspace();
    for args in [
        &["check", "no-such-dir"][..],
        &["check", "repo", "repo/customers/nope.yaml"][..],
        &["check", "--root", "no-such-root", "repo"][..],
        &["check", "repo", "--only", "repo/customers/missing.yaml"][..],
    ] {
        let run = run_in(dir.path(), args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("does not exist"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let _ = repo;
}

#[test]
fn p7_without_configuration_the_git_top_is_the_root() {
    let (dir, repo) = workspace();
    std::fs::remove_file(repo.join("channelguard.yaml")).unwrap();
    // A `.git` entry (as `git init` or a worktree's `.git` file makes) marks the top.
    std::fs::write(dir.path().join(".git"), "gitdir: /nowhere\n").unwrap();
    let run = check_json(&repo.join("customers"), &["fabrikam.yaml"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["summary"]["documents"], 75);
    let first = json["findings"][0]["file"].as_str().unwrap().to_string();
    assert!(first.starts_with("repo/customers/"), "{first}");
    // `--root` overrides the discovery.
    let run = check_json(&repo.join("customers"), &["--root", "..", "fabrikam.yaml"]);
    let first = run.json()["findings"][0]["file"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(first.starts_with("customers/"), "{first}");
}

#[test]
fn p8_a_run_without_account_documents_says_so() {
    let (dir, repo) = workspace();
    // No repository at all: the directory itself is the root.
    let run = run_in(&dir.path().join("elsewhere"), &["check", "."]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("note: no account documents found under `.`"),
        "{}",
        run.stdout
    );
    // An empty directory inside a repository: the repository is loaded, nothing is selected.
    std::fs::create_dir(repo.join("empty")).unwrap();
    let run = run_in(&repo, &["check", "--as-of", "2024-06-30", "empty"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("note: no account documents found under `empty`"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("findings outside the selected paths not shown"));
}
