//! Shared helpers of the hardening tests (tests/hardening_*.rs): a temporary repository of 20
//! good files, hostile policies, and runs of the real binary with a time bound.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// Number of good data files every repository starts with.
pub const GOOD_FILES: usize = 20;

/// A temporary repository: `partners/p10.yaml` … `partners/p29.yaml`, all valid.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo { dir };
        for i in 10..10 + GOOD_FILES {
            repo.write(&format!("partners/p{i}.yaml"), good_partner(i).as_bytes());
        }
        repo
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Writes a policy `XR1` for Partner documents with `body` after its header, in `policies/`
    /// (outside the data walk: `.rhai` files are never data).
    pub fn policy(&self, name: &str, body: &str) -> PathBuf {
        let id = name.trim_end_matches(".rhai");
        self.write(
            &format!("policies/{name}"),
            format!(
                "//! id: {id}\n//! title: hostile\n//! severity: error\n//! kinds: Partner\n//! rationale: test\n//! remediation: test\n{body}\n"
            )
            .as_bytes(),
        );
        self.path("policies")
    }
}

/// A valid Partner document with a distinct id and tenant.
pub fn good_partner(i: usize) -> String {
    format!(
        "kind: Partner\nid: partner-{i}\nname: Partner {i} Ltd\ntenant_id: 00000000-0000-4000-8000-{i:012}\npartner_id: \"{}\"\ncsp_role: direct_bill\ncloud: commercial\ncountry: \"US\"\n",
        1_000_000 + i
    )
}

/// One run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// Findings with `code`.
    pub fn with_code(&self, code: &str) -> Vec<Value> {
        self.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == code)
            .cloned()
            .collect()
    }

    /// The only finding with `code`; panics with the whole report otherwise.
    pub fn one(&self, code: &str) -> Value {
        let found = self.with_code(code);
        assert_eq!(found.len(), 1, "expected one {code}:\n{}", self.stdout);
        found.into_iter().next().unwrap()
    }

    pub fn files_checked(&self) -> u64 {
        self.json()["summary"]["files"].as_u64().unwrap()
    }

    pub fn within(&self, bound: Duration) -> &Run {
        assert!(
            self.elapsed < bound,
            "took {:?} (bound {bound:?})",
            self.elapsed
        );
        self
    }
}

/// Asserts a finding's message contains `text` and its location is `file:line:col` (`file` is
/// matched as a suffix of the reported path).
pub fn assert_at(finding: &Value, text: &str, file: &str, line: u64, column: u64) {
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains(text), "message `{message}` lacks `{text}`");
    let path = finding["file"].as_str().unwrap_or("");
    assert!(path.ends_with(file), "file `{path}` is not `{file}`");
    assert_eq!(
        (finding["line"].as_u64(), finding["column"].as_u64()),
        (Some(line), Some(column)),
        "location of {finding}"
    );
}

/// `channelguard ARGS` run in `dir` with `env` added, killed after five minutes (a hang, such as
/// a FIFO read, fails the test instead of blocking the suite).
pub fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let started = Instant::now();
    let mut command = assert_cmd::Command::cargo_bin("channelguard").unwrap();
    command
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CHANNELGUARD_TEST_PANIC_ON")
        .timeout(Duration::from_secs(300));
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        // Whatever the input, channelguard writes UTF-8 (untrusted bytes are escaped).
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        elapsed: started.elapsed(),
    }
}

/// `channelguard check` with JSON output at the repository root, plus `extra` arguments.
pub fn check(repo: &Repo, extra: &[&str]) -> Run {
    check_paths(repo, &[repo.root().to_str().unwrap()], extra, &[])
}

/// `channelguard check` with JSON output, `--root` the repository, on `paths`, plus `extra`.
pub fn check_paths(repo: &Repo, paths: &[&str], extra: &[&str], env: &[(&str, &str)]) -> Run {
    let root = repo.root().to_str().unwrap();
    let mut args = vec!["check", "--as-of", "2024-06-30", "--color", "never"];
    args.extend(["--format", "json", "--root", root]);
    args.extend_from_slice(paths);
    args.extend_from_slice(extra);
    run_in(Path::new("."), &args, env)
}

/// Runs a hostile policy body over the 20-file repository without the built-in pack.
pub fn run_policy(body: &str) -> Run {
    let repo = Repo::new();
    let dir = repo.policy("XR1.rhai", body);
    let run = check(
        &repo,
        &["--no-builtin-policies", "--policies", dir.to_str().unwrap()],
    );
    assert_eq!(run.files_checked(), GOOD_FILES as u64);
    run
}

/// The same run in human format (for escaping checks).
pub fn human(repo: &Repo, extra: &[&str]) -> String {
    let mut command = Command::cargo_bin("channelguard").unwrap();
    let output = command
        .args([
            "check",
            "--as-of",
            "2024-06-30",
            "--color",
            "never",
            "--root",
        ])
        .arg(repo.root())
        .arg(repo.root())
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `git ARGS` in `dir` with a fixed identity and no signing; panics when it fails.
pub fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// Copies the directory tree `from` into `to` (created as needed).
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
