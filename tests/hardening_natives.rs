//! Hardening tests N1–N10 (issue 11 item 2, docs/security.md): Rhai natives that could build a
//! result far larger than the engine's limits before Rhai checks it. Each hostile policy runs in
//! the real binary under a memory ceiling (`ulimit -v`, about 2 GB), so an unbounded allocation
//! fails the test (an abort, exit 134) instead of swapping the machine. A second policy, `XOK`,
//! reports on every document: it must still run. The policy header is 6 lines: bodies start on
//! line 7, and limit errors point at `fn check` (Rhai drops their inner position).

mod hardening_support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hardening_support::*;

/// Generous: n10 takes about 30 s on a loaded 2-core machine in debug.
const LONG: Duration = Duration::from_secs(150);

/// `channelguard check` over a repository with `XR1` (`body`) and `XOK`, under `ulimit -v`,
/// killed after `LONG` (a hang fails the test instead of blocking it).
fn run_limited(body: &str) -> Run {
    let repo = Repo::new();
    repo.policy(
        "XOK.rhai",
        "fn check(doc) { report(\"/id\", \"seen\", \"\") }",
    );
    let dir = repo.policy("XR1.rhai", body);
    let binary = assert_cmd::cargo::cargo_bin("channelguard");
    let started = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2000000; exec \"$0\" \"$@\"")
        .arg(binary)
        .args(["check", "--as-of", "2024-06-30", "--color", "never"])
        .args(["--format", "json", "--no-builtin-policies", "--policies"])
        .arg(&dir)
        .arg("--root")
        .arg(repo.root())
        .arg(repo.root())
        .env("NO_COLOR", "1")
        .env_remove("CHANNELGUARD_TEST_PANIC_ON")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LONG {
            child.kill().unwrap();
            panic!("`{body}` still running after {LONG:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: reader.join().unwrap(),
        stderr,
        elapsed: started.elapsed(),
    }
}

/// The run ended with exactly one P003 data-limit finding at `fn check` of `XR1`, exit 2, and
/// `XOK` reported on every document.
fn assert_limit(body: &str, what: &str) {
    let run = run_limited(body);
    assert_eq!(
        run.code, 2,
        "`{body}`: exit {}\n{}{}",
        run.code, run.stdout, run.stderr
    );
    run.within(LONG);
    let finding = run.one("P003");
    assert_at(
        &finding,
        &format!("data limit exceeded: {what}"),
        "policies/XR1.rhai",
        7,
        1,
    );
    assert_eq!(finding["origin"], "tool");
    assert_eq!(run.with_code("XOK").len(), GOOD_FILES, "{}", run.stdout);
    assert_eq!(run.files_checked(), GOOD_FILES as u64);
}

/// A 100,000-character string `s`, the start of most bodies.
const S: &str = "let s = \"\"; s.pad(100000, \"b\");";

#[test]
fn n1_replace_is_checked_before_it_allocates() {
    // Each of the 100,000 `b` replaced by the whole string: 10 GB.
    for call in [
        "s.replace(\"b\", s)",
        "s.replace('b', s)",
        "s.replace(\"\", s)",
        "let t = s; t.replace(\"bb\", s + s)",
    ] {
        assert_limit(
            &format!("fn check(doc) {{ {S} {call}; }}"),
            "length of string",
        );
    }
}

#[test]
fn n2_to_json_of_shared_values_is_checked_before_it_allocates() {
    // A closure's captured string is not counted by the map limit; `to_json` writes it out for
    // every entry: 100,000 × 1 MB.
    assert_limit(
        "fn check(doc) { let s = \"x\"; s.pad(1000000, \"y\"); let f = || s; let m = #{}; \
         for i in 0..100000 { m[`k${i}`] = f; } m.to_json() }",
        "length of string",
    );
}

#[test]
fn n3_rendering_arrays_and_maps_is_capped() {
    // to_string / to_debug / `+` / interpolation of values within the limits (1,000 strings of
    // 1,000 newlines) whose rendering is not (each newline is written `\n`).
    let big = "let a = []; a.pad(1000, s); let m = #{x: a};";
    for call in [
        "a.to_string()",
        "a.to_debug()",
        "m.to_string()",
        "\"x\" + a",
        "let t = \"x\"; t += m;",
        "`${m}`",
    ] {
        let run = run_limited(&format!(
            "fn check(doc) {{ let s = \"\"; s.pad(1000, \"\\n\"); {big} {call}; }}"
        ));
        assert_eq!(run.code, 2, "`{call}`: {}", run.stdout);
        assert!(
            run.one("P003")["message"]
                .as_str()
                .unwrap()
                .contains("data limit exceeded"),
            "`{call}`: {}",
            run.stdout
        );
        assert_eq!(run.with_code("XOK").len(), GOOD_FILES);
    }
}

#[test]
fn n4_split_counts_its_pieces_first() {
    for call in [
        "s.split(\"b\")",
        "s.split('b')",
        "s.split(\"\")",
        "s.split_rev(\"b\")",
        "s.split(\"b\", 1000000)",
        "s.to_chars()",
    ] {
        assert_limit(
            &format!("fn check(doc) {{ let s = \"\"; s.pad(1000000, \"b\"); {call}; }}"),
            "size of array/blob",
        );
    }
}

#[test]
fn n5_map_and_zip_check_the_running_size() {
    // Each callback returns a 99,999-element array: one is allowed, 99,999 of them are 10^10.
    let arrays = "let big = []; big.pad(99999, 1); let a = []; a.pad(99999, 0);";
    for call in [
        "a.map(|x| big)",
        "a.zip(a, |x, y| big)",
        "a.map(|x, i| big)",
    ] {
        assert_limit(
            &format!("fn check(doc) {{ {arrays} {call}; }}"),
            "size of array/blob",
        );
    }
}

#[test]
fn n6_explicit_currying_is_disabled() {
    // A curried value is invisible to the limits and copied with the pointer:
    // `a.pad(100000, f)` would copy a 99,999-element array 100,000 times.
    for body in [
        "fn g(x, y) { x } fn check(doc) { let big = []; big.pad(99999, 0); let f = Fn(\"g\").curry(big); let a = []; a.pad(100000, f); }",
        "fn g(x, y) { x } fn check(doc) { let f = curry(Fn(\"g\"), 1); }",
    ] {
        let run = run_limited(body);
        assert_eq!(run.code, 2, "{}", run.stdout);
        let finding = run.one("P001");
        assert!(finding["file"].as_str().unwrap().ends_with("XR1.rhai"));
        assert_eq!(finding["line"], 7);
        assert_eq!(run.with_code("XOK").len(), GOOD_FILES);
    }
}

#[test]
fn n7_pad_with_an_empty_padding_returns() {
    // rhai 1.27 loops forever here (the padding never grows), out of reach of the deadline.
    let run = run_limited(
        "fn check(doc) { let s = \"a\"; s.pad(10, \"\"); if s != \"a\" { throw s } report(\"/id\", \"padded\", \"\") }",
    );
    run.within(LONG);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.with_code("XR1").len(), GOOD_FILES);
}

#[test]
fn n8_checked_natives_keep_rhai_results() {
    // The replacements behave as rhai's own within the limits.
    let run = run_limited(
        "fn check(doc) { \
           let a = [1, 2, 3]; \
           let r = [a.map(|x| x * 2), a.map(|x, i| x + i), a.zip([4, 5, 6], |x, y| x + y)]; \
           let m = #{a: [1, \"x\", 'c', 2.5, (), true], b: #{c: \"q\\n\"}}; \
           let s = \"a,b,,c\"; \
           let parts = [s.split(\",\"), s.split(','), s.split(\",\", 2), s.split_rev(\",\"), \"a b  c\".split(), \"ab\".to_chars()]; \
           let t = \"banana\"; t.replace(\"an\", \"AN\"); let e = \"ab\"; e.replace(\"\", \"-\"); \
           let c = \"abc\"; c.replace('b', 'X'); let d = \"\"; d.replace(\"\", \"z\"); \
           let p = \"ab\"; p.pad(5, \"xy\"); \
           let text = `${r}|${m}|${m.to_json()}|${parts}|${t}|${e}|${c}|${d}|${p}|` + a + m; \
           report(\"/id\", text, \"\") }",
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    let found = run.with_code("XR1");
    assert_eq!(found.len(), GOOD_FILES);
    assert_eq!(
        found[0]["message"],
        "[[2, 4, 6], [1, 3, 5], [5, 7, 9]]\
         |#{\"a\": [1, \"x\", c, 2.5, (), true], \"b\": #{\"c\": \"q\\n\"}}\
         |{\"a\":[1,\"x\",'c',2.5,null,true],\"b\":{\"c\":\"q\\n\"}}\
         |[[\"a\", \"b\", \"\", \"c\"], [\"a\", \"b\", \"\", \"c\"], [\"a\", \"b,,c\"], [\"c\", \"\", \"b\", \"a\"], [\"a\", \"b\", \"c\"], [a, b]]\
         |bANANa|-a-b-|aXc||abxyx|[1, 2, 3]#{\"a\": [1, \"x\", c, 2.5, (), true], \"b\": #{\"c\": \"q\\n\"}}"
    );
}

#[test]
fn n9_the_binary_starts_under_the_memory_ceiling() {
    // Without this, every test above could pass for the wrong reason.
    let run = run_limited("fn check(doc) { }");
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.with_code("XOK").len(), GOOD_FILES);
}

#[test]
fn n10_host_code_never_renders_a_whole_script_value() {
    // `throw`, `q()` and related labels show a value through its `Display`, which writes out a
    // closure's captured string for every entry: 99,990 × 1 MB.
    let map = "let s = \"x\"; s.pad(1000000, \"y\"); let f = || s; let m = #{}; \
               for i in 0..99990 { m[`k${i}`] = f; }";
    let run = run_limited(&format!("fn check(doc) {{ {map} throw m; }}"));
    assert_eq!(run.code, 2, "{}", run.stdout);
    let finding = run.one("P002");
    assert!(finding["message"].as_str().unwrap().len() < 10_000);
    assert_eq!(run.with_code("XOK").len(), GOOD_FILES);
    for call in [
        "report(\"/id\", q(m), \"\")",
        "report(\"/id\", \"x\", \"\", [#{kind: \"Partner\", id: \"partner-10\", pointer: \"/id\", message: m}])",
    ] {
        let run = run_limited(&format!("fn check(doc) {{ {map} {call}; }}"));
        assert_eq!(run.code, 1, "`{call}`: {}", run.stdout);
        let found = run.with_code("XR1");
        assert_eq!(found.len(), GOOD_FILES, "{}", run.stdout);
        assert!(run.stdout.len() < 20 * 100_000, "`{call}`: {} bytes", run.stdout.len());
    }
}

#[test]
fn n11_a_report_names_at_most_32_related_locations() {
    let related = |n: usize| {
        format!(
            "let r = []; for i in 0..{n} {{ r.push(#{{kind: \"Partner\", id: \"partner-10\", pointer: \"/id\", message: `m${{i}}`}}); }} report(\"/id\", \"x\", \"\", r);"
        )
    };
    let run = run_limited(&format!("fn check(doc) {{ {} }}", related(32)));
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.with_code("XR1").len(), GOOD_FILES);
    let run = run_limited(&format!("fn check(doc) {{ {} }}", related(1_000)));
    run.within(LONG);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let errors = run.with_code("P002");
    assert!(!errors.is_empty(), "{}", run.stdout);
    assert!(errors[0]["message"]
        .as_str()
        .unwrap()
        .contains("at most 32 are allowed"));
    assert_eq!(run.with_code("XOK").len(), GOOD_FILES);
}
