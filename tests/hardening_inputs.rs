//! Every file channelguard opens besides the data — `channelguard.yaml`, schemas, the baseline,
//! policy scripts and policy test cases — goes through the one safe reader (`src/input.rs`):
//! a link to `/proc/self/environ` never puts the environment into a report, a link to
//! `/dev/zero` never exhausts memory, a FIFO never hangs the run, and one unusable policy file
//! never stops the others (issue 11, items 1 and 7).

mod hardening_support;

use std::path::Path;
use std::time::Duration;

use hardening_support::{assert_at, Repo, Run, GOOD_FILES};

/// A value only the child's environment holds: if it shows up in a report, the environment
/// was read.
const SECRET: &str = "cg-secret-7f3a9c21";

/// Runs the binary in `dir` with a secret in its environment.
fn run_in(dir: &Path, args: &[&str]) -> Run {
    hardening_support::run_in(dir, args, &[("CG_DEPLOY_TOKEN", SECRET)])
}

/// `channelguard check .` in JSON, plus `extra`, from inside the repository.
fn check(repo: &Repo, extra: &[&str]) -> Run {
    let mut args = vec!["check", "--as-of", "2024-06-30", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(".");
    run_in(repo.root(), &args)
}

/// The same run in the human format (what a CI log shows).
fn check_human(repo: &Repo, extra: &[&str]) -> Run {
    let mut args = vec!["check", "--as-of", "2024-06-30", "--color", "never"];
    args.extend_from_slice(extra);
    args.push(".");
    run_in(repo.root(), &args)
}

fn assert_no_secret(run: &Run) {
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            !text.contains(SECRET),
            "the environment leaked into {name}:\n{text}"
        );
    }
}

fn symlink(target: &str, link: &Path) {
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, link).unwrap();
}

fn mkfifo(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

const MINUTE: Duration = Duration::from_secs(120);

#[test]
fn i1_a_config_linked_to_proc_environ_is_refused_without_showing_it() {
    let repo = Repo::new();
    symlink("/proc/self/environ", &repo.path("channelguard.yaml"));
    for run in [check(&repo, &[]), check_human(&repo, &[])] {
        assert_no_secret(&run);
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    }
    let run = check(&repo, &[]);
    let finding = run.one("Y013");
    assert_at(&finding, "/proc", "channelguard.yaml", 1, 1);
}

#[test]
fn i1_a_config_that_is_a_fifo_or_dev_zero_neither_hangs_nor_exhausts_memory() {
    let repo = Repo::new();
    mkfifo(&repo.path("channelguard.yaml"));
    let run = check(&repo, &[]);
    run.within(MINUTE);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_at(&run.one("Y013"), "FIFO", "channelguard.yaml", 1, 1);

    std::fs::remove_file(repo.path("channelguard.yaml")).unwrap();
    symlink("/dev/zero", &repo.path("channelguard.yaml"));
    let run = check(&repo, &[]);
    run.within(MINUTE);
    assert_eq!(run.code, 2);
    assert_at(&run.one("Y013"), "not read", "channelguard.yaml", 1, 1);
}

#[test]
fn i1_an_explicit_config_linked_out_of_the_repository_is_refused() {
    let outer = tempfile::tempdir().unwrap();
    let repo = Repo::new();
    std::fs::write(
        outer.path().join("secret.yaml"),
        format!("as_of: {SECRET}\n"),
    )
    .unwrap();
    symlink(
        outer.path().join("secret.yaml").to_str().unwrap(),
        &repo.path("ci.yaml"),
    );
    let run = check(&repo, &["--config", "ci.yaml"]);
    assert_no_secret(&run);
    assert_eq!(run.code, 2);
    assert_at(&run.one("Y013"), "symbolic link", "ci.yaml", 1, 1);
}

#[test]
fn i1_schemas_linked_to_proc_dev_or_a_fifo_are_located_findings_and_the_rest_loads() {
    let repo = Repo::new();
    // The bundled schemas as a schema directory, plus three hostile files beside them.
    let run = run_in(repo.root(), &["schemas", "export", "my-schemas"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    symlink("/proc/self/environ", &repo.path("my-schemas/env.json"));
    symlink("/dev/zero", &repo.path("my-schemas/zero.json"));
    mkfifo(&repo.path("my-schemas/pipe.json"));
    let run = check(&repo, &["--schemas", "my-schemas"]);
    run.within(MINUTE);
    assert_no_secret(&run);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let refused = run.with_code("S002");
    let files: Vec<&str> = refused
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "my-schemas/env.json",
            "my-schemas/pipe.json",
            "my-schemas/zero.json"
        ],
        "{}",
        run.stdout
    );
    // The real schemas still validate every data file.
    assert_eq!(run.files_checked(), GOOD_FILES as u64);
    assert!(run.with_code("S001").is_empty());
}

#[test]
fn i1_a_schema_directory_named_in_the_config_must_be_inside_the_repository() {
    let outer = tempfile::tempdir().unwrap();
    let repo = Repo::new();
    // Not JSON: an S002 on it proves the file was read.
    std::fs::write(outer.path().join("x.json"), "{").unwrap();
    repo.write(
        "channelguard.yaml",
        format!("schemas: {}\n", outer.path().display()).as_bytes(),
    );
    let run = check(&repo, &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_at(
        &run.one("C001"),
        "is outside the repository; not read",
        "channelguard.yaml",
        1,
        1,
    );
    // Named on the command line, the same directory is the user's choice and is read.
    std::fs::remove_file(repo.path("channelguard.yaml")).unwrap();
    let run = check(&repo, &["--schemas", outer.path().to_str().unwrap()]);
    assert!(run.with_code("C001").is_empty(), "{}", run.stdout);
    assert!(!run.with_code("S002").is_empty(), "{}", run.stdout);
}

#[test]
fn i1_a_baseline_linked_to_dev_zero_or_proc_is_refused_quickly() {
    let repo = Repo::new();
    symlink("/dev/zero", &repo.path(".channelguard-baseline.json"));
    let run = check(&repo, &["--baseline", ".channelguard-baseline.json"]);
    run.within(MINUTE);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read the baseline"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("/dev"), "{}", run.stderr);

    symlink("/proc/self/environ", &repo.path("env-baseline.json"));
    let run = check(&repo, &["--baseline", "env-baseline.json"]);
    assert_no_secret(&run);
    assert_eq!(run.code, 2);

    mkfifo(&repo.path("fifo-baseline.json"));
    let run = check(&repo, &["--baseline", "fifo-baseline.json"]);
    run.within(MINUTE);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("FIFO"), "{}", run.stderr);
}

#[test]
fn i1_policies_linked_to_proc_or_a_fifo_are_located_and_the_other_policies_run() {
    let repo = Repo::new();
    let dir = repo.policy(
        "XR1.rhai",
        r#"fn check(doc) { report("/name", "always " + doc.id, "h") }"#,
    );
    symlink("/proc/self/environ", &dir.join("env.rhai"));
    mkfifo(&dir.join("pipe.rhai"));
    let run = check(&repo, &["--no-builtin-policies", "--policies", "policies"]);
    run.within(MINUTE);
    assert_no_secret(&run);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let refused = run.with_code("Y013");
    let files: Vec<&str> = refused
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        ["policies/env.rhai", "policies/pipe.rhai"],
        "{}",
        run.stdout
    );
    assert_eq!(run.with_code("XR1").len(), GOOD_FILES);
}

#[test]
fn i7_a_policy_that_is_not_utf8_is_located_and_the_other_policies_run() {
    let repo = Repo::new();
    let dir = repo.policy(
        "XR1.rhai",
        r#"fn check(doc) { report("/name", "always " + doc.id, "h") }"#,
    );
    std::fs::write(dir.join("latin1.rhai"), b"//! id: XR2\n// caf\xe9\n").unwrap();
    let run = check(&repo, &["--no-builtin-policies", "--policies", "policies"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_at(
        &run.one("Y004"),
        "not valid UTF-8 (byte 18)",
        "policies/latin1.rhai",
        1,
        1,
    );
    assert_eq!(run.with_code("XR1").len(), GOOD_FILES);
}

#[test]
fn i7_two_policy_files_with_one_id_are_reported_not_shadowed() {
    let repo = Repo::new();
    let dir = repo.policy(
        "a-first.rhai",
        r#"fn check(doc) { report("/name", "first " + doc.id, "h") }"#,
    );
    std::fs::write(
        dir.join("b-second.rhai"),
        std::fs::read_to_string(dir.join("a-first.rhai"))
            .unwrap()
            .replace("first ", "second "),
    )
    .unwrap();
    let run = check(&repo, &["--no-builtin-policies", "--policies", "policies"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let duplicate = run.one("P004");
    assert_at(
        &duplicate,
        "policy id `a-first` is declared again",
        "policies/b-second.rhai",
        1,
        1,
    );
    // The first file (in path order) is the one that runs.
    let fired = run.with_code("a-first");
    assert_eq!(fired.len(), GOOD_FILES);
    assert!(fired
        .iter()
        .all(|f| f["message"].as_str().unwrap().starts_with("first ")));
}

#[test]
fn i1_a_test_case_linked_to_proc_is_refused() {
    let repo = Repo::new();
    let dir = repo.policy("XR1.rhai", r#"fn check(doc) { }"#);
    symlink("/proc/self/environ", &dir.join("xr1.test.yaml"));
    let run = run_in(
        repo.root(),
        &[
            "test",
            "--no-builtin-policies",
            "--policies",
            "policies",
            "policies",
        ],
    );
    run.within(MINUTE);
    assert_no_secret(&run);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("xr1.test.yaml"), "{all}");
    assert!(all.contains("/proc"), "{all}");
}

#[test]
fn i9_neither_data_nor_policies_can_reach_the_environment() {
    let repo = Repo::new();
    // A data file linked to the environment, and policies that try every way Rhai might offer.
    symlink("/proc/self/environ", &repo.path("partners/env.yaml"));
    let dir = repo.policy(
        "XR1.rhai",
        r#"fn check(doc) { report("/name", `${env("CG_DEPLOY_TOKEN")}`, "h") }"#,
    );
    std::fs::write(
        dir.join("XR2.rhai"),
        "//! id: XR2\n//! title: t\n//! severity: error\n//! kinds: Partner\n//! rationale: t\n//! remediation: t\nimport \"/proc/self/environ\" as e;\nfn check(doc) { }\n",
    )
    .unwrap();
    let run = check(&repo, &["--no-builtin-policies", "--policies", "policies"]);
    assert_no_secret(&run);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_at(&run.one("Y013"), "/proc", "partners/env.yaml", 1, 1);
    assert!(!run.with_code("P002").is_empty() || !run.with_code("P001").is_empty());
    assert_no_secret(&check_human(
        &repo,
        &["--no-builtin-policies", "--policies", "policies"],
    ));
}
