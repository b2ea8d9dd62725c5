//! Hardening tests A1–A4 and O1–O7 (docs/security.md, issue 11 items 4 and 9): file names that
//! look like options, report files that are devices, FIFOs or links, interrupted runs, a
//! missing `--root` and NUL bytes, all through the real binary. Each asserts the message, the
//! exit code and a generous time bound.

mod hardening_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use hardening_support::*;

const LONG: Duration = Duration::from_secs(30);

/// `channelguard ARGS` run in `dir` (file names after `--only` are relative to it).
fn run_in(dir: &Path, args: &[&str]) -> Run {
    hardening_support::run_in(dir, args, &[])
}

const CHECK: [&str; 6] = [
    "check",
    "--as-of",
    "2024-06-30",
    "--format",
    "json",
    "--color",
];

/// `check` in the repository with JSON output, then `args`.
fn check_in(repo: &Repo, args: &[&str]) -> Run {
    let mut all: Vec<&str> = CHECK.to_vec();
    all.push("never");
    all.extend_from_slice(args);
    run_in(repo.root(), &all)
}

/// The 20 good files plus `partners/bad.yaml` with an unquoted PartnerID (F02 at 5:13).
fn repo_with_a_violation() -> Repo {
    let repo = Repo::new();
    let bad = good_partner(99).replace("partner_id: \"1000099\"", "partner_id: 1000099");
    repo.write("partners/bad.yaml", bad.as_bytes());
    repo
}

/// What an attacker commits: a baseline recording every finding of the repository, and a
/// clean data file named so that it reads as `--baseline=.bl.yaml`.
fn plant_baseline_option(repo: &Repo) {
    let created = run_in(
        repo.root(),
        &["baseline", "create", ".bl.yaml", "--as-of", "2024-06-30"],
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    repo.write("--baseline=.bl.yaml", good_partner(98).as_bytes());
}

#[test]
fn a1_a_file_named_like_an_option_after_only_is_a_file() {
    let repo = repo_with_a_violation();
    plant_baseline_option(&repo);
    // What pre-commit runs: the entry, then the staged file names.
    for only in [
        &["--only", "--baseline=.bl.yaml", "partners/bad.yaml"][..],
        &["--only", "--", "--baseline=.bl.yaml", "partners/bad.yaml"][..],
        &["--only", "partners/bad.yaml", "--baseline=.bl.yaml"][..],
    ] {
        let run = check_in(&repo, only);
        run.within(LONG);
        assert_eq!(run.code, 1, "{only:?}: {}{}", run.stdout, run.stderr);
        assert_at(
            &run.one("F02"),
            "`partner_id` must be",
            "partners/bad.yaml",
            5,
            13,
        );
        assert!(!run.stderr.contains("baseline"), "{}", run.stderr);
    }
    // The baseline still works when it is asked for as an option, before `--only`.
    let run = check_in(
        &repo,
        &[
            "--baseline",
            ".bl.yaml",
            "--only",
            "--",
            "partners/bad.yaml",
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn a2_only_takes_every_argument_after_it_as_a_file() {
    let repo = repo_with_a_violation();
    // `--fail-on`, `--format` and `-q` are file names here, so nothing else changes.
    for only in [
        &["--only", "partners/bad.yaml", "-q"][..],
        &["--only", "--", "partners/bad.yaml", "--", "-q"][..],
    ] {
        std::fs::write(repo.path("-q"), good_partner(97)).unwrap();
        std::fs::write(repo.path("--"), good_partner(96)).unwrap();
        let run = check_in(&repo, only);
        assert_eq!(run.code, 1, "{only:?}: {}", run.stderr);
        run.one("F02");
        std::fs::remove_file(repo.path("-q")).unwrap();
        std::fs::remove_file(repo.path("--")).unwrap();
    }
}

#[test]
fn a3_an_option_misplaced_after_only_is_a_usage_error() {
    let repo = repo_with_a_violation();
    // The old pre-commit set-up put hook `args` after `--only`: now they would be file names,
    // and a name that looks like an option and names no file is refused instead of ignored.
    let run = check_in(
        &repo,
        &["--only", "--fail-on", "warning", "partners/bad.yaml"],
    );
    run.within(LONG);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr
            .starts_with("error: `--fail-on` after --only is not a file"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("before --only"), "{}", run.stderr);
}

#[test]
fn a4_the_shipped_hooks_end_options_before_the_file_names() {
    let hooks = std::fs::read_to_string(".pre-commit-hooks.yaml").unwrap();
    let entries: Vec<&str> = hooks
        .lines()
        .filter_map(|l| l.trim().strip_prefix("entry: "))
        .collect();
    assert_eq!(entries.len(), 2, "{hooks}");
    for entry in entries {
        assert!(entry.ends_with(" --only --"), "{entry}");
    }
    assert!(
        channelguard::config::PRE_COMMIT_CONFIG.contains("entry: channelguard check --only --\n")
    );
    for doc in ["README.md", "docs/ci.md"] {
        let text = std::fs::read_to_string(doc).unwrap();
        for line in text.lines().filter(|l| l.contains("entry:")) {
            assert!(line.trim_end().ends_with("--only --"), "{doc}: {line}");
        }
    }
}

/// Runs `check` with one `--output` to `target` and asserts it was refused: exit 2, the
/// message, and nothing written next to it.
fn assert_output_refused(repo: &Repo, target: &Path, kind: &str) {
    let run = check_in(repo, &["--output", target.to_str().unwrap(), "."]);
    run.within(LONG);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "is {kind}; an output file must be a regular file or not exist yet"
        )),
        "{}",
        run.stderr
    );
    let dir = target.parent().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[cfg(unix)]
#[test]
fn o1_output_never_replaces_a_link_a_fifo_or_a_device() {
    use std::os::unix::fs::FileTypeExt;
    let repo = Repo::new();
    let out = tempfile::tempdir().unwrap();

    // A link to a device: neither the link nor the device is touched.
    let to_device = out.path().join("null.json");
    std::os::unix::fs::symlink("/dev/null", &to_device).unwrap();
    assert_output_refused(&repo, &to_device, "a symbolic link");
    assert_eq!(
        std::fs::read_link(&to_device).unwrap(),
        Path::new("/dev/null")
    );
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());

    // A link to a regular file: the file keeps its content.
    let target = out.path().join("target.txt");
    std::fs::write(&target, "keep").unwrap();
    let to_file = out.path().join("link.json");
    std::os::unix::fs::symlink(&target, &to_file).unwrap();
    assert_output_refused(&repo, &to_file, "a symbolic link");
    assert!(std::fs::symlink_metadata(&to_file)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");

    // A FIFO stays a FIFO (and nothing blocks on it).
    let fifo = out.path().join("fifo.json");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    assert_output_refused(&repo, &fifo, "a FIFO");
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());

    // A directory is refused with the same message.
    let dir = out.path().join("dir.json");
    std::fs::create_dir(&dir).unwrap();
    assert_output_refused(&repo, &dir, "a directory");

    // `baseline create` writes through the same function.
    let run = run_in(
        repo.root(),
        &[
            "baseline",
            "create",
            fifo.to_str().unwrap(),
            "--as-of",
            "2024-06-30",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is a FIFO"), "{}", run.stderr);
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());

    // A regular file is replaced.
    let regular = out.path().join("report.json");
    std::fs::write(&regular, "old").unwrap();
    let run = check_in(&repo, &["--output", regular.to_str().unwrap(), "."]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(std::fs::read_to_string(&regular).unwrap().starts_with('{'));
}

#[test]
fn o2_the_same_output_for_two_formats_is_a_usage_error() {
    let repo = Repo::new();
    std::fs::create_dir(repo.path("out")).unwrap();
    let run = check_in(
        &repo,
        &[
            "-o",
            "out/r.json",
            "--format",
            "sarif",
            "-o",
            "out/../out/./r.json",
            ".",
        ],
    );
    run.within(LONG);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.starts_with(
            "error: --output `out/../out/./r.json` is the file of another --format already"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_dir(repo.path("out")).unwrap().count(), 0);
}

#[test]
fn o3_a_root_that_does_not_exist_exits_2() {
    let repo = Repo::new();
    let missing = repo.path("no-such-dir");
    let missing = missing.to_str().unwrap();
    for args in [
        vec!["check", "--root", missing, "."],
        vec!["check", "--root", missing],
        vec!["baseline", "create", "b.json", "--root", missing],
        vec!["list", "--root", missing],
    ] {
        let run = run_in(repo.root(), &args);
        run.within(LONG);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert_eq!(
            run.stderr.trim_end(),
            format!("error: --root `{missing}` does not exist"),
            "{args:?}"
        );
    }
    let run = run_in(repo.root(), &["check", "--root", "partners/p10.yaml", "."]);
    assert_eq!(run.code, 2);
    assert!(run
        .stderr
        .contains("--root `partners/p10.yaml` is not a directory"));
}

/// A repository whose check takes several seconds: three policies that each run until the
/// 2 s deadline once, on one worker.
fn slow_repo() -> Repo {
    let repo = Repo::new();
    for id in ["XR1", "XR2", "XR3"] {
        repo.policy(
            &format!("{id}.rhai"),
            "fn check(doc) { let big = \"x\"; big.pad(1000000, \"y\"); loop { big.to_upper(); } }",
        );
    }
    repo
}

/// Names in `dir` that look like temporary files.
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[cfg(unix)]
#[test]
fn o4_an_interrupted_run_leaves_no_temporary_file() {
    let repo = slow_repo();
    let policies = repo.path("policies");
    for signal in ["TERM", "INT"] {
        let out = tempfile::tempdir().unwrap();
        let report = out.path().join("report.json");
        let started = Instant::now();
        let mut child = Command::cargo_bin("channelguard")
            .unwrap()
            .current_dir(repo.root())
            .args(["check", "--as-of", "2024-06-30", "-j", "1", "--policies"])
            .arg(&policies)
            .args(["--format", "json", "--output"])
            .arg(&report)
            .arg(".")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The temporary file is reserved before the check starts; wait until it exists.
        while temporaries(out.path()).is_empty() {
            assert!(started.elapsed() < LONG, "no temporary file appeared");
            assert!(child.try_wait().unwrap().is_none(), "the run ended early");
            std::thread::sleep(Duration::from_millis(20));
        }
        let killed = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(started.elapsed() < LONG);
        assert_eq!(output.status.code(), Some(2), "SIG{signal}: {stderr}");
        assert!(stderr.contains("error: interrupted"), "{stderr}");
        assert_eq!(temporaries(out.path()), Vec::<String>::new(), "SIG{signal}");
        assert!(!report.exists());
    }
}

/// The old temporary name was `.NAME.PID.tmp`, and a name already taken was *removed*. Files
/// with that pattern for the next few thousand process ids stay as they are.
#[cfg(target_os = "linux")]
#[test]
fn o5_files_named_like_a_temporary_file_are_left_alone() {
    let repo = Repo::new();
    let out = tempfile::tempdir().unwrap();
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .map(|t| t.trim().parse().unwrap_or(0))
        .unwrap_or(0);
    let names: Vec<String> = (last..last + 2000)
        .map(|pid| format!(".report.json.{pid}.tmp"))
        .chain([".report.json.tmp".to_string()])
        .collect();
    for name in &names {
        std::fs::write(out.path().join(name), "someone else's").unwrap();
    }
    let report = out.path().join("report.json");
    let run = check_in(&repo, &["--output", report.to_str().unwrap(), "."]);
    run.within(LONG);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(std::fs::read_to_string(&report).unwrap().starts_with('{'));
    for name in &names {
        assert_eq!(
            std::fs::read_to_string(out.path().join(name)).unwrap(),
            "someone else's",
            "{name}"
        );
    }
    assert_eq!(temporaries(out.path()).len(), names.len());
}

#[test]
fn o6_a_nul_byte_is_reported_as_a_nul_byte() {
    let repo = Repo::new();
    let text = good_partner(99).replace("name: Partner 99 Ltd", "name: Partner\0 99 Ltd");
    repo.write("partners/nul.yaml", text.as_bytes());
    let run = check(&repo, &[]);
    run.within(LONG);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.files_checked(), GOOD_FILES as u64 + 1);
    let finding = run.one("Y001");
    assert_at(
        &finding,
        "a NUL character (`\\0`) is not allowed in YAML",
        "partners/nul.yaml",
        3,
        14,
    );
    assert!(run.with_code("Y003").is_empty(), "{}", run.stdout);
    assert!(!run.stdout.contains("tab"), "{}", run.stdout);
}
