//! Hardening tests L1–L4 (issue 11 item 8, docs/security.md): limits have ceilings.
//! `channelguard.yaml` may lower a limit but not raise it above its hard maximum (a C001, the
//! check does not run); a file at the maximum depth never aborts the debug build; `-j` above
//! 256 is a usage error; a worker pool that cannot start is an error, never a hang.

mod hardening_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use hardening_support::*;
use serde_json::Value;

const LONG: Duration = Duration::from_secs(60);

/// Runs `command`, killing it after `bound` (a hang fails the test instead of stalling it).
fn bounded(mut command: Command, bound: Duration) -> Run {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {bound:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// A Partner document whose `extra` field holds `levels` nested block sequences.
fn deep_partner(levels: usize) -> String {
    format!(
        "{}extra:\n  {}1\n",
        good_partner(90).replace("partner-90", "deep"),
        "- ".repeat(levels)
    )
}

#[test]
fn l1_raising_a_limit_above_its_hard_maximum_is_a_config_error() {
    // Before: the limit was taken and a 100,000-level file overflowed a worker's stack (abort).
    let repo = Repo::new();
    repo.write("deep.yaml", deep_partner(100_000).as_bytes());
    repo.write(
        "channelguard.yaml",
        b"limits:\n  max_depth: 100000000\n  max_nodes: 5000001\n",
    );
    let run = check(&repo, &[]);
    run.within(LONG);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let errors = run.with_code("C001");
    assert_eq!(errors.len(), 2, "{}", run.stdout);
    assert_at(
        &errors[0],
        "limit `max_depth` is `100000000`, above its hard maximum of `1000`",
        "channelguard.yaml",
        2,
        14,
    );
    assert_at(
        &errors[1],
        "limit `max_nodes` is `5000001`, above its hard maximum of `5000000`",
        "channelguard.yaml",
        3,
        14,
    );
    assert!(errors[0]["help"]
        .as_str()
        .unwrap()
        .contains("set `max_depth` to at most `1000`"));
    // Nothing was checked under a half-applied configuration.
    assert!(run.with_code("Y008").is_empty(), "{}", run.stdout);
}

#[test]
fn l2_a_file_at_the_maximum_depth_never_aborts_the_debug_build() {
    // A schema that accepts any `extra` (so the deep value is validated and reaches the
    // policies) and a policy that copies, compares and prints it.
    let repo = Repo::new();
    for (name, text) in channelguard::schema::BUILTIN_SCHEMAS {
        let mut json: Value = serde_json::from_str(text).unwrap();
        if *name == "partner.json" {
            json["properties"]["extra"] = serde_json::json!({});
        }
        repo.write(
            &format!("schemas/{name}"),
            serde_json::to_string(&json).unwrap().as_bytes(),
        );
    }
    let policies = repo.policy(
        "XR1.rhai",
        "fn check(doc) { let x = doc.extra; let same = x == x; let text = `${x}`; let m = #{a: x}; }",
    );
    repo.write(
        "channelguard.yaml",
        b"schemas: schemas\nlimits:\n  max_depth: 1000\n",
    );
    let extra = ["--policies", policies.to_str().unwrap()];
    // The document's mapping is the first level: 999 sequences make 1,000.
    repo.write("deep.yaml", deep_partner(999).as_bytes());
    let run = check(&repo, &extra);
    run.within(LONG);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.files_checked(), GOOD_FILES as u64 + 1);
    // One level more is a located Y008.
    repo.write("deep.yaml", deep_partner(1_000).as_bytes());
    let run = check(&repo, &extra);
    run.within(LONG);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_at(
        &run.one("Y008"),
        "nesting deeper than 1000 levels",
        "deep.yaml",
        10,
        2001,
    );
}

#[test]
fn l3_a_thread_count_above_256_is_a_usage_error() {
    // Before: `-j 100000` started tens of thousands of 16 MiB-stack workers and hung.
    let repo = Repo::new();
    for threads in ["100000", "257", "0"] {
        let mut command = Command::cargo_bin("channelguard").unwrap();
        command
            .args(["check", "--root"])
            .arg(repo.root())
            .arg(repo.root())
            .args(["-j", threads]);
        let run = bounded(command, Duration::from_secs(20));
        assert_eq!(run.code, 2, "-j {threads}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("{threads} is not in 1..=256")),
            "{}",
            run.stderr
        );
        assert!(run.stdout.is_empty());
    }
    let mut command = Command::cargo_bin("channelguard").unwrap();
    command
        .args(["check", "--format", "json", "-j", "256", "--root"])
        .arg(repo.root())
        .arg(repo.root());
    let run = bounded(command, LONG);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.files_checked(), GOOD_FILES as u64);
}

#[cfg(unix)]
#[test]
fn l4_a_worker_pool_that_cannot_start_is_an_error_not_a_hang() {
    // 256 workers reserve 4 GiB of stack: under a 1 GiB address-space limit they cannot start.
    let repo = Repo::new();
    let binary = assert_cmd::cargo::cargo_bin("channelguard");
    let mut command = Command::new("sh");
    command.args([
        "-c",
        "ulimit -v 1000000 && exec \"$0\" check -j 256 --root \"$1\" \"$1\"",
        binary.to_str().unwrap(),
        repo.root().to_str().unwrap(),
    ]);
    let run = bounded(command, LONG);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("error: cannot start worker threads"),
        "{}",
        run.stderr
    );
}
