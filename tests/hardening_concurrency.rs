//! Hardening tests C1–C6 (docs/security.md, hardening notes §6): determinism across thread
//! counts, isolation of bad inputs, per-evaluation collectors, scale, caught panics, and the
//! worker stack. All run the real (debug) binary in its real worker pool.

mod hardening_support;

use std::time::{Duration, Instant};

use hardening_support::*;

/// A repository of `n` files over three kinds (Partner, Customer, ResellerRelationship) and a
/// directory of five policies that report on some of them.
fn big_repo(n: usize) -> (Repo, std::path::PathBuf) {
    let repo = Repo::new();
    for i in 0..n {
        let text = match i % 3 {
            0 => good_partner(1_000 + i),
            1 => format!(
                "kind: Customer\nid: customer-{i}\nname: Customer {i}\ntenant_id: 00000000-0000-4000-9000-{i:012}\ncloud: commercial\ntenant_country: \"US\"\n"
            ),
            _ => format!(
                "kind: ResellerRelationship\nid: rel-{i}\npartner: partner-{}\ncustomer: customer-{}\nstatus: requested\nrequested_on: 2024-06-10\n",
                1_000 + i - 2,
                i - 1
            ),
        };
        repo.write(
            &format!("data/d{:02}/f{i:05}.yaml", i % 37),
            text.as_bytes(),
        );
    }
    let mut dir = None;
    for p in 0..5 {
        let body = format!(
            "fn check(doc) {{ if doc.id.len() % 5 == {p} {{ report(\"/id\", `${{doc.id}}`, \"policy {p}\") }} }}"
        );
        let name = format!("XC{p}.rhai");
        let path = repo.write(
            &format!("policies/{name}"),
            format!(
                "//! id: XC{p}\n//! title: concurrency\n//! severity: warning\n//! kinds: Partner, Customer, ResellerRelationship\n//! rationale: test\n//! remediation: test\n{body}\n"
            )
            .as_bytes(),
        );
        dir = Some(path.parent().unwrap().to_path_buf());
    }
    (repo, dir.unwrap())
}

fn run_j(repo: &Repo, policies: &std::path::Path, threads: &str, extra: &[&str]) -> Run {
    let mut args = vec!["--policies", policies.to_str().unwrap(), "-j", threads];
    args.extend_from_slice(extra);
    check(repo, &args)
}

#[test]
fn c1_output_is_byte_identical_for_any_thread_count() {
    let (repo, policies) = big_repo(1_000);
    let first = run_j(&repo, &policies, "1", &[]);
    assert!(first.code <= 1, "{}", first.stderr);
    assert_eq!(first.files_checked(), GOOD_FILES as u64 + 1_000);
    assert!(!first.with_code("XC0").is_empty());
    for threads in ["2", "8", "8", "2", "8"] {
        let again = run_j(&repo, &policies, threads, &[]);
        assert_eq!(again.code, first.code);
        assert!(again.stdout == first.stdout, "-j{threads} differs from -j1");
    }
}

#[test]
fn c2_three_bad_inputs_give_exactly_three_errors_and_the_rest_is_checked() {
    let (repo, policies) = big_repo(1_000);
    let baseline = run_j(&repo, &policies, "2", &["--no-builtin-policies"]);
    // One alias bomb, one endless policy, one schema that does not compile (of a kind with no
    // documents, so only the schema itself is reported).
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..9 {
        let refs = vec![format!("*a{}", level - 1); 10].join(", ");
        bomb.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
    }
    repo.write("data/bomb.yaml", bomb.as_bytes());
    repo.write(
        "policies/XLOOP.rhai",
        b"//! id: XLOOP\n//! title: endless\n//! severity: error\n//! kinds: Customer\n//! rationale: test\n//! remediation: test\nfn check(doc) { loop {} }\n",
    );
    for (name, text) in channelguard::schema::BUILTIN_SCHEMAS {
        let text = if *name == "transfer.json" {
            text.replacen("\"type\": \"object\"", "\"type\": \"strng\"", 1)
        } else {
            text.to_string()
        };
        repo.write(&format!("schemas/{name}"), text.as_bytes());
    }
    let schemas = repo.path("schemas");
    let started = Instant::now();
    let run = run_j(
        &repo,
        &policies,
        "2",
        &[
            "--no-builtin-policies",
            "--schemas",
            schemas.to_str().unwrap(),
        ],
    );
    let elapsed = started.elapsed();
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(run.files_checked(), GOOD_FILES as u64 + 1_001);
    let errors: Vec<_> = run.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(errors, ["Y008", "S002", "P003"], "{}", run.stdout);
    // The other files were checked as before: every finding of the baseline is still there.
    let before = baseline.with_code("XC1").len();
    assert_eq!(run.with_code("XC1").len(), before);
    // One deadline at most on top of a normal run (the breaker stops the endless policy after
    // one document), with a generous factor for a loaded machine.
    let bound = (baseline.elapsed + Duration::from_secs(2)) * 3 + Duration::from_secs(5);
    assert!(elapsed < bound, "{elapsed:?} > {bound:?}");
}

#[test]
fn c3_every_violation_names_its_own_document() {
    let (repo, policies) = big_repo(300);
    let run = run_j(&repo, &policies, "8", &["--no-builtin-policies"]);
    let findings = run.json()["findings"].as_array().unwrap().clone();
    let mut seen = 0;
    for f in findings
        .iter()
        .filter(|f| f["code"].as_str().unwrap().starts_with("XC"))
    {
        // Each policy reports the id of the document it was given.
        assert_eq!(f["message"], f["document"]["id"], "{f}");
        seen += 1;
    }
    assert!(seen > 50, "{seen}");
}

#[test]
fn c4_ten_thousand_files_in_bounded_time_and_memory() {
    let repo = Repo::new();
    let filler =
        "  - a line of notes that makes the file about ten kilobytes long, again\n".repeat(140);
    for i in 0..10_000 {
        let text =
            good_partner(100_000 + i).replace("country", &format!("notes:\n{filler}country"));
        repo.write(
            &format!("many/d{:03}/f{i:05}.yaml", i % 100),
            text.as_bytes(),
        );
    }
    // GNU time reports the peak RSS; without it the memory bound would go unchecked, so its
    // absence is a failure (.ci/run installs it).
    let time = std::path::Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "c4 measures peak memory with GNU time: install it (`apt-get install time`)"
    );
    let binary = assert_cmd::cargo::cargo_bin("channelguard");
    let started = Instant::now();
    let mut command = std::process::Command::new(time);
    command.args(["-f", "maxrss=%M"]).arg(&binary);
    let output = command
        .args([
            "check",
            "--as-of",
            "2024-06-30",
            "--format",
            "json",
            "--no-builtin-policies",
            "--root",
        ])
        .arg(repo.root())
        .arg(repo.root())
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    // Unknown field `notes` is a schema finding on every file: exit 1.
    assert_eq!(output.status.code(), Some(1));
    // 30 s in release; the debug build on a loaded 2-core machine gets four times that.
    assert!(elapsed < Duration::from_secs(120), "{elapsed:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let kb = stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no `maxrss=` line from GNU time in:\n{stderr}"));
    // A run that read nothing would be tiny: the bound is checked on a real measurement.
    assert!(kb > 1024, "peak RSS {kb} KiB is implausibly small");
    assert!(kb < 1024 * 1024, "peak RSS {kb} KiB");
}

#[test]
fn c5_a_panic_while_loading_one_file_is_an_internal_error_for_that_file() {
    let repo = Repo::new();
    let run = check_paths(
        &repo,
        &[repo.root().to_str().unwrap()],
        &[],
        &[("CHANNELGUARD_TEST_PANIC_ON", "partners/p15.yaml")],
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(run.files_checked(), GOOD_FILES as u64);
    let finding = run.one("X001");
    assert_at(
        &finding,
        "internal error while loading this file",
        "partners/p15.yaml",
        1,
        1,
    );
    assert_eq!(finding["origin"], "tool");
    // The other 19 files were loaded and checked: their documents are in the summary.
    assert_eq!(run.json()["summary"]["documents"], GOOD_FILES as u64 - 1);
}

#[test]
fn c5_a_panic_while_running_a_policy_is_an_internal_error_for_that_document() {
    let repo = Repo::new();
    let dir = repo.policy(
        "XR1.rhai",
        "fn check(doc) { report(\"/id\", \"seen\", \"\") }",
    );
    let run = check_paths(
        &repo,
        &[repo.root().to_str().unwrap()],
        &["--no-builtin-policies", "--policies", dir.to_str().unwrap()],
        &[("CHANNELGUARD_TEST_PANIC_ON", "policy:p15.yaml")],
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    let finding = run.one("X001");
    assert_at(
        &finding,
        "internal error while running policy `XR1`",
        "policies/XR1.rhai",
        7,
        1,
    );
    assert_eq!(finding["related"][0]["file"], "partners/p15.yaml");
    // Every other document still got its finding.
    assert_eq!(run.with_code("XR1").len(), GOOD_FILES - 1);
}

#[test]
fn c6_worker_threads_have_a_16_mib_stack() {
    // The workers' stacks measured, not the constant read: every policy evaluation first uses
    // 12 MiB of its worker's stack (debug builds: CHANNELGUARD_TEST_STACK_KIB). Rust's default
    // thread stack is 2 MiB and the main thread's 8 MiB, so this passes only on 16 MiB workers.
    let repo = Repo::new();
    let dir = repo.policy(
        "XR1.rhai",
        "fn check(doc) { report(\"/id\", \"seen\", \"\") }",
    );
    let policies = ["--no-builtin-policies", "--policies", dir.to_str().unwrap()];
    let root = [repo.root().to_str().unwrap()];
    let deep = [("CHANNELGUARD_TEST_STACK_KIB", "12288")];
    for threads in ["1", "2"] {
        let extra = [&policies[..], &["-j", threads]].concat();
        let run = check_paths(&repo, &root, &extra, &deep);
        assert_eq!(run.code, 1, "-j {threads}: {}", run.stderr);
        assert_eq!(run.with_code("XR1").len(), GOOD_FILES);
    }
    // The probe really uses the stack: 32 MiB overflows a 16 MiB worker (the process aborts).
    let run = check_paths(
        &repo,
        &root,
        &policies,
        &[("CHANNELGUARD_TEST_STACK_KIB", "32768")],
    );
    assert!(
        run.stderr.contains("overflowed its stack"),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    // And the recursion cases pass inside that pool on this (debug) build.
    let run = run_policy("fn f(n) { f(n + 1) }\nfn check(doc) { f(0) }");
    assert_eq!(run.code, 2);
    assert_eq!(run.one("P003")["origin"], "tool");
    let repo = Repo::new();
    repo.write(
        "deep.yaml",
        format!("{}1\n", "- ".repeat(100_000)).as_bytes(),
    );
    let run = check(&repo, &["-j", "2"]);
    assert_eq!(run.code, 1);
    run.one("Y008");
}
