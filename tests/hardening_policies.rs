//! Hardening tests R1–R16 (docs/security.md, hardening notes §6): hostile Rhai policies run by
//! the real binary over a repository of 20 good files. Each asserts the message, the location
//! in the policy (`file:line:col`), the exit code and a generous time bound (debug build, a
//! loaded 2-core machine). The header of a test policy is 6 lines: its body starts on line 7.

mod hardening_support;

use std::time::Duration;

use hardening_support::*;

const LONG: Duration = Duration::from_secs(30);

/// The one P003/P002/P001 finding of `run`, checked for text and location.
fn policy_error(run: &Run, code: &str, text: &str, line: u64, column: u64) {
    assert_eq!(run.code, 2, "{}", run.stdout);
    let finding = run.one(code);
    assert_at(&finding, text, "policies/XR1.rhai", line, column);
    assert_eq!(finding["origin"], "tool");
}

#[test]
fn r1_endless_loop_hits_the_operation_budget() {
    let run = run_policy("fn check(doc) { loop {} }");
    run.within(LONG);
    policy_error(
        &run,
        "P003",
        "operation budget exceeded (1000000 operations)",
        7,
        1,
    );
    // The breaker: one document trips it, the 19 after it are not run (and not waited for).
    assert!(run.one("P003")["message"]
        .as_str()
        .unwrap()
        .contains("not run on the 19 documents after it"));
}

#[test]
fn r2_runaway_recursion_is_an_error_in_the_worker_pool() {
    // Debug build, real pool: 32 call levels must fail as an error, never a stack abort.
    let run = run_policy("fn f(n) { f(n + 1) }\nfn check(doc) { f(0) }");
    run.within(LONG);
    policy_error(&run, "P003", "call depth exceeded", 8, 1);
}

#[test]
fn r3_deep_expressions_inside_recursion_never_abort() {
    for levels in [12, 28] {
        let inner = format!("{}g(n + 1){}", "(1 + ".repeat(levels), ")".repeat(levels));
        let body =
            format!("fn g(n) {{ if n > 100000 {{ return 0 }} {inner} }}\nfn check(doc) {{ g(0) }}");
        let run = run_policy(&body);
        run.within(LONG);
        assert_eq!(run.code, 2, "{}", run.stdout);
        let errors: Vec<_> = ["P001", "P003"]
            .iter()
            .flat_map(|c| run.with_code(c))
            .collect();
        assert_eq!(errors.len(), 1, "{}", run.stdout);
        assert!(errors[0]["file"].as_str().unwrap().ends_with("XR1.rhai"));
        assert!(errors[0]["line"].as_u64().unwrap() >= 7);
    }
}

#[test]
fn r4_string_growth_hits_the_string_limit() {
    for body in [
        "fn check(doc) { let s = \"x\"; loop { s += s; } }",
        "fn check(doc) { let s = \"\"; s.pad(1 << 40, \"x\"); }",
    ] {
        let run = run_policy(body);
        run.within(LONG);
        policy_error(&run, "P003", "data limit exceeded: length of string", 7, 1);
    }
}

#[test]
fn r4_a_string_literal_over_the_limit_is_refused() {
    // A 2 MiB literal makes the policy file itself larger than the 1 MiB policy cap.
    let literal = "x".repeat(2 * 1024 * 1024);
    let run = run_policy(&format!("fn check(doc) {{ let s = \"{literal}\"; }}"));
    run.within(LONG);
    policy_error(&run, "P003", "larger than 1048576 bytes; not loaded", 1, 1);
}

#[test]
fn r5_collection_growth_stops_and_the_whole_run_stays_short() {
    for body in [
        "fn check(doc) { let a = []; let i = 0; loop { a.push(i); i += 1; } }",
        "fn check(doc) { let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; } }",
        "fn check(doc) { let a = []; loop { a.push(|| 1); } }",
    ] {
        let run = run_policy(body);
        // Without the breaker this takes 20 × 2 s; with it, one deadline.
        run.within(Duration::from_secs(20));
        assert_eq!(run.code, 2);
        let finding = run.one("P003");
        let message = finding["message"].as_str().unwrap();
        assert!(
            message.contains("timed out after 2.0 s")
                || message.contains("operation budget exceeded")
                || message.contains("data limit exceeded"),
            "{message}"
        );
        assert_at(&finding, "", "XR1.rhai", 7, 1);
    }
}

#[test]
fn r6_slow_operations_are_stopped_by_the_deadline() {
    let run = run_policy(
        "fn check(doc) { let big = \"x\"; big.pad(1000000, \"y\"); loop { big.to_upper(); } }",
    );
    run.within(Duration::from_secs(20));
    policy_error(&run, "P003", "timed out after 2.0 s", 7, 1);
}

#[test]
fn r7_import_is_refused_at_compile_time_and_no_module_runs() {
    let repo = Repo::new();
    let canary = repo.write("canary.rhai", b"export const x = 1;\n");
    let canary = canary.with_extension("");
    for import in [
        "import \"../canary\" as x;".to_string(),
        format!("import \"{}\" as x;", canary.display()),
        "fn check(doc) { for i in 0..10 { import \"lib\" as l; } }".to_string(),
    ] {
        let dir = repo.policy("XR1.rhai", &format!("{import}\nfn check(doc) {{ }}"));
        let run = check(
            &repo,
            &["--no-builtin-policies", "--policies", dir.to_str().unwrap()],
        );
        run.within(LONG);
        assert_eq!(run.code, 2);
        let finding = run.one("P001");
        assert!(finding["message"]
            .as_str()
            .unwrap()
            .contains("'import' is a reserved keyword"));
        assert_eq!(finding["line"], 7);
    }
}

#[test]
fn r8_eval_is_disabled() {
    let run = run_policy("fn check(doc) { eval(\"1+1\") }");
    policy_error(&run, "P001", "reserved keyword 'eval' is disabled", 7, 17);
}

#[test]
fn r9_print_and_debug_never_reach_stdout() {
    let run = run_policy("fn check(doc) { print(\"::error::fake\"); debug(\"x\"); }");
    assert_eq!(run.code, 0, "{}", run.stdout);
    // stdout is the JSON report and nothing else.
    let json = run.json();
    assert!(!run.stdout.contains("\n::error::"));
    let finding = run.one("P005");
    assert_eq!(finding["severity"], "info");
    assert_eq!(json["summary"]["files"], 20);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn r10_there_is_no_clock() {
    let run = run_policy("fn check(doc) { timestamp() }");
    policy_error(&run, "P002", "function not found: timestamp", 7, 17);
}

#[test]
fn r11_deeply_nested_input_is_a_parse_error_quickly() {
    for open in ["(", "[", "#{a:"] {
        let body = format!("fn check(doc) {{ let x = {}1; }}", open.repeat(100_000));
        let run = run_policy(&body);
        run.within(LONG);
        assert_eq!(run.code, 2);
        let finding = run.one("P001");
        assert!(
            finding["message"]
                .as_str()
                .unwrap()
                .contains("exceeds maximum complexity"),
            "{finding}"
        );
        assert_eq!(finding["line"], 7);
    }
}

#[test]
fn r12_a_misspelt_field_is_an_error_not_a_pass() {
    let run = run_policy("fn check(doc) { if doc.tierr == \"x\" { report(\"\", \"m\", \"h\") } }");
    policy_error(
        &run,
        "P002",
        "unknown field `tierr` of a Partner document",
        7,
        23,
    );
}

#[test]
fn r13_a_policy_cannot_change_what_the_next_policy_sees() {
    let repo = Repo::new();
    repo.policy("XA.rhai", "fn check(doc) { doc.name = \"changed\"; }");
    let dir = repo.policy(
        "XB.rhai",
        "fn check(doc) { if doc.name == \"changed\" { report(\"/name\", \"saw a change\", \"\") } }",
    );
    let run = check(
        &repo,
        &["--no-builtin-policies", "--policies", dir.to_str().unwrap()],
    );
    // The input is read-only: the assignment is a policy error (exit 2), and the next policy
    // still sees the original value.
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.with_code("P002").iter().any(|f| f["message"]
            .as_str()
            .unwrap()
            .contains("cannot assign to `name`: documents are read-only")),
        "{}",
        run.stdout
    );
    assert!(run.with_code("XB").is_empty());
}

#[test]
fn r14_exit_is_a_policy_error() {
    for call in ["exit()", "exit(42)"] {
        let run = run_policy(&format!("fn check(doc) {{ {call}; }}"));
        policy_error(&run, "P002", "policy called `exit()`", 7, 17);
    }
}

#[test]
fn r15_one_broken_policy_does_not_stop_the_others() {
    let repo = Repo::new();
    let mut dir = None;
    for i in 1..=5 {
        let body = if i == 3 {
            "fn check(doc) {\n  let x = ;\n}".to_string()
        } else {
            format!("fn check(doc) {{ report(\"/id\", \"seen by {i}\", \"\") }}")
        };
        dir = Some(repo.policy(&format!("XP{i}.rhai"), &body));
    }
    let dir = dir.unwrap();
    let run = check(
        &repo,
        &["--no-builtin-policies", "--policies", dir.to_str().unwrap()],
    );
    run.within(LONG);
    assert_eq!(run.code, 2);
    assert_at(
        &run.one("P001"),
        "does not compile",
        "policies/XP3.rhai",
        8,
        11,
    );
    for i in [1, 2, 4, 5] {
        assert_eq!(run.with_code(&format!("XP{i}")).len(), GOOD_FILES);
    }
}

#[test]
fn r16_a_flood_of_reports_is_capped_per_policy_and_document() {
    let run = run_policy("fn check(doc) { for i in 0..100000 { report(\"\", `v${i}`, \"h\") } }");
    run.within(Duration::from_secs(60));
    assert_eq!(run.code, 1);
    assert_eq!(run.with_code("XR1").len(), 1_000 * GOOD_FILES);
    let more = run.with_code("P005");
    assert_eq!(more.len(), GOOD_FILES);
    assert!(more[0]["message"]
        .as_str()
        .unwrap()
        .contains("reported 99000 more findings on this document"));
}

#[test]
fn r16_huge_report_messages_stay_bounded() {
    // 100,000 reports of a 1 MB message would need 100 GB if every one were kept.
    let run = run_policy(
        "fn check(doc) { let m = \"x\"; m.pad(1000000, \"y\"); for i in 0..100000 { report(\"\", m, \"h\") } }",
    );
    run.within(Duration::from_secs(60));
    assert_eq!(run.code, 1);
    let shown = run.with_code("XR1");
    assert!(!shown.is_empty());
    for finding in shown {
        assert!(finding["message"].as_str().unwrap().len() <= 4100);
    }
}
