//! `--changed-since` costs the check plus a fixed number of git processes: it never spawns git
//! per changed file, reads only the old versions of the files that differ, and its git time is
//! counted (a `--timings` stage, and in the summary's wall time).

mod hardening_support;

use std::path::{Path, PathBuf};

use hardening_support::{git, good_partner, run_in, Repo, Run, GOOD_FILES};

/// The real git, found on PATH.
fn real_git() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join("git"))
        .find(|git| git.is_file())
        .expect("git is installed")
}

/// A directory holding a `git` that logs each call's arguments to `calls.log` and the requests
/// a `cat-file` reads on its standard input to `cat-file.log`, then runs the real git.
fn logging_git() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    let requests = dir.path().join("cat-file.log");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{log}'\ncase \" $* \" in\n  *\" cat-file \"*) tee -a '{requests}' | '{git}' \"$@\"; exit $? ;;\nesac\nexec '{git}' \"$@\"\n",
        log = log.display(),
        requests = requests.display(),
        git = real_git().display(),
    );
    let path = dir.path().join("git");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A committed repository of `GOOD_FILES` partners, of which the first `changed` are then
/// edited in the work tree.
fn repo_with_changes(changed: usize) -> Repo {
    let repo = Repo::new();
    git(repo.root(), &["init", "-q"]);
    git(repo.root(), &["add", "."]);
    git(repo.root(), &["commit", "-q", "-m", "base"]);
    for i in 10..10 + changed {
        let text = good_partner(i).replace("Ltd", "Limited");
        repo.write(&format!("partners/p{i}.yaml"), text.as_bytes());
    }
    repo
}

/// `check --changed-since HEAD` with the logging git first on PATH.
fn changed_since(repo: &Repo, wrapper: &Path, extra: &[&str]) -> Run {
    let path = std::env::join_paths(
        std::iter::once(wrapper.to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let mut args = vec![
        "check",
        "--as-of",
        "2024-06-30",
        "--color",
        "never",
        "--changed-since",
        "HEAD",
    ];
    args.extend_from_slice(extra);
    run_in(repo.root(), &args, &[("PATH", path.to_str().unwrap())])
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn changed_since_spawns_git_a_fixed_number_of_times_and_reads_only_changed_blobs() {
    let mut calls = Vec::new();
    for changed in [1, GOOD_FILES - 2] {
        let repo = repo_with_changes(changed);
        let wrapper = logging_git();
        let run = changed_since(&repo, wrapper.path(), &["--format", "json"]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        // The edited documents are the changed ones (renaming a partner breaks no rule).
        assert_eq!(run.json()["summary"]["not_shown"]["changed_since"], 0);
        let log = lines(&wrapper.path().join("calls.log"));
        assert!(
            log.iter().any(|call| call.contains(" diff ")),
            "the change is read from one `git diff`: {log:?}"
        );
        // Only the old versions of the edited files are read, never the whole old tree.
        let requests = lines(&wrapper.path().join("cat-file.log"));
        assert_eq!(requests.len(), changed, "{requests:?}");
        calls.push(log.len());
    }
    assert_eq!(
        calls[0],
        calls[1],
        "git runs as often for 1 changed file as for {}",
        GOOD_FILES - 2
    );
}

#[test]
fn changed_since_counts_its_git_time_in_timings_and_in_the_summary() {
    let repo = repo_with_changes(2);
    let wrapper = logging_git();
    let run = changed_since(&repo, wrapper.path(), &["--timings"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let stages: Vec<(String, f64)> = run
        .stderr
        .lines()
        .filter_map(|line| {
            let (name, took) = line.rsplit_once(':')?;
            Some((
                name.trim().to_string(),
                took.trim().strip_suffix('s')?.parse().ok()?,
            ))
        })
        .collect();
    assert!(
        stages
            .iter()
            .any(|(name, _)| name == "--changed-since (git)"),
        "{}",
        run.stderr
    );
    // The summary's wall time holds every stage, the git one included. The summary is rounded
    // to 2 decimals (up to 0.005 s low), each stage to 3 (up to 0.0005 s high each).
    let summary = run.stdout.lines().last().unwrap_or("");
    let total: f64 = summary
        .split(" in ")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|secs| secs.parse().ok())
        .unwrap_or_else(|| panic!("no time in `{summary}`"));
    let stages_total: f64 = stages.iter().map(|(_, took)| took).sum();
    assert!(
        stages_total <= total + 0.005 + 0.0005 * stages.len() as f64 + 1e-9,
        "stages {stages_total}s > summary {total}s\n{}",
        run.stderr
    );
}
