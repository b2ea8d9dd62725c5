//! Hardening of the reports (issue 11, items 3 and 5): the human report is linear in the
//! findings and never panics, whatever the line lengths; no control character, bidi override,
//! noncharacter or CI runner command from a file name, a policy or the data reaches any output
//! format, `explain` or `list`, and the JUnit report is always valid XML.

mod hardening_support;

use std::path::Path;
use std::time::{Duration, Instant};

use hardening_support::*;

/// Generous bound for one run of the debug binary on a loaded 2-core machine.
const LONG: Duration = Duration::from_secs(60);

/// `channelguard check` on the repository with the given formats, as (exit code, stdout, time).
fn formats(repo: &Repo, extra: &[&str]) -> (i32, String, Duration) {
    let run = render(repo, extra, &[]);
    (run.code, run.stdout, run.elapsed)
}

/// `channelguard check --root REPO REPO EXTRA` (human unless `extra` says otherwise).
fn render(repo: &Repo, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let root = repo.root().to_str().unwrap();
    let mut args = vec!["check", "--as-of", "2024-06-30", "--color", "never"];
    args.extend(["--root", root, root]);
    args.extend_from_slice(extra);
    run_in(Path::new("."), &args, env)
}

/// `channelguard` with `args`, as (exit code, stdout, stderr).
fn channelguard(args: &[&str]) -> (i32, String, String) {
    let run = run_in(Path::new("."), args, &[]);
    (run.code, run.stdout, run.stderr)
}

// ---- item 3: the human report is linear and never panics ----

/// One flow mapping on one line, with a duplicate key past column `column`.
fn one_long_line(column: usize) -> String {
    format!(
        "{{kind: Partner, id: long, pad: \"{}\", name: a, name: b}}\n",
        "x".repeat(column)
    )
}

#[test]
fn h1_a_finding_past_column_65535_renders_with_its_true_column() {
    let repo = Repo::new();
    repo.write("long.yaml", one_long_line(70_000).as_bytes());
    let json = check(&repo, &[]);
    json.within(LONG);
    let finding = json.one("Y002");
    let column = finding["column"].as_u64().unwrap();
    assert!(column > 70_000, "{finding}");
    assert_at(&finding, "duplicate key `name`", "long.yaml", 1, column);

    let (code, human, elapsed) = formats(&repo, &[]);
    assert!(elapsed < LONG, "took {elapsed:?}");
    assert_eq!(code, 1, "{human}");
    assert!(
        human.contains(&format!("╭─[long.yaml:1:{column}]")),
        "the header must show the true column {column}:\n{human}"
    );
    assert!(human.contains("duplicate key `name`"), "{human}");
    assert!(human.contains('…'), "the line is clipped: {human}");
    let widest = human.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest < 400, "a line of {widest} characters");
}

#[test]
fn h1_other_formats_and_human_together_complete() {
    // The panic used to come after the machine formats were written: all must finish.
    let repo = Repo::new();
    repo.write("long.yaml", one_long_line(70_000).as_bytes());
    let report = repo.path("report.json");
    let (code, human, _) = formats(
        &repo,
        &[
            "--format",
            "json",
            "--output",
            report.to_str().unwrap(),
            "--format",
            "human",
        ],
    );
    assert_eq!(code, 1, "{human}");
    assert!(human.contains("Y002"), "{human}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["summary"]["errors"], 1);
}

/// A 9 MB file: `comment_bytes` of comment lines, then one mapping with `duplicates` repeated
/// keys (each a Y002 finding with a label on the first occurrence).
fn many_duplicates(comment_bytes: usize, duplicates: usize) -> String {
    let mut text = String::with_capacity(comment_bytes + duplicates * 12);
    let comment = format!("# {}\n", "c".repeat(97));
    while text.len() < comment_bytes {
        text.push_str(&comment);
    }
    text.push_str("kind: Partner\nid: many\n");
    for i in 0..duplicates {
        text.push_str(&format!("k{}: {i}\n", i % 2));
    }
    text
}

#[test]
fn h2_two_thousand_findings_at_the_end_of_a_9_mb_file_render_in_bounded_time() {
    let repo = Repo::new();
    repo.write("big.yaml", many_duplicates(9_000_000, 2_002).as_bytes());
    let json = check(&repo, &[]);
    json.within(LONG);
    let found = json.with_code("Y002");
    assert_eq!(found.len(), 2_000);
    let last = found.last().unwrap();
    let (code, human, elapsed) = formats(&repo, &[]);
    assert_eq!(code, 1);
    // Was 162 s; linear now (the real ratio against JSON is in docs/performance.md).
    assert!(elapsed < Duration::from_secs(20), "human took {elapsed:?}");
    assert_eq!(human.matches("× duplicate key").count(), 2_000);
    let header = format!(
        "[big.yaml:{}:{}]",
        last["line"].as_u64().unwrap(),
        last["column"].as_u64().unwrap()
    );
    assert!(human.contains(&header), "no {header}");
}

#[test]
fn h3_fifty_thousand_findings_in_one_file_render_in_bounded_time() {
    let repo = Repo::new();
    repo.write("many.yaml", many_duplicates(0, 50_002).as_bytes());
    let started = Instant::now();
    let json = check(&repo, &[]);
    let json_time = started.elapsed();
    assert_eq!(json.with_code("Y002").len(), 50_000);
    let (code, human, elapsed) = formats(&repo, &[]);
    assert_eq!(code, 1);
    assert!(
        elapsed < Duration::from_secs(20),
        "human took {elapsed:?} (JSON {json_time:?})"
    );
    assert_eq!(human.matches("× duplicate key").count(), 50_000);
}

#[test]
fn h4_long_lines_with_multibyte_text_keep_true_columns() {
    // A 200 KB line of `é` (two bytes, one column each) with the finding near its end.
    let repo = Repo::new();
    let pad = "é".repeat(100_000);
    repo.write(
        "wide.yaml",
        format!("{{kind: Partner, id: wide, pad: \"{pad}\", name: a, name: b}}\n").as_bytes(),
    );
    let json = check(&repo, &[]);
    let finding = json.one("Y002");
    let column = finding["column"].as_u64().unwrap();
    assert!(column > 100_000 && column < 100_100, "{finding}");
    let (_, human, _) = formats(&repo, &[]);
    assert!(
        human.contains(&format!("[wide.yaml:1:{column}]")),
        "{human}"
    );
}

// ---- item 5: control characters never reach a log ----

/// Characters and sequences that must never appear raw in any output.
const RAW: &[&str] = &["\x1b", "\r", "\u{9b}", "\u{202e}", "\u{fffe}", "\u{7}"];

/// A file name that tries everything at once (a newline + a workflow command, an Azure
/// command, ESC, CR, C1 CSI, a bidi override, a noncharacter).
const EVIL_NAME: &str =
    "x\n::error file=a.yaml::forged\r\x1b[2J\u{9b}31m ##vso[task.setvariable variable=GATE]off \u{202e}lmay.\u{fffe}.yaml";

/// The same as the text of a policy message.
const EVIL_TEXT: &str =
    "bad\\n::error file=a.yaml::forged\\r\\x1b[2J\\x9b31m ##vso[task.setvariable variable=GATE]off \\u202elmay\\ufffe";

/// Asserts `output` (of `what`) carries no raw control character and no runner command.
fn assert_inert(what: &str, output: &str) {
    for raw in RAW {
        assert!(!output.contains(raw), "{what}: raw {raw:?} in {output:?}");
    }
    let lower = output.to_ascii_lowercase();
    assert!(!lower.contains("##vso["), "{what}: ##vso[ in {output}");
    assert!(!lower.contains("##["), "{what}: ##[ in {output}");
    for line in output.lines() {
        let line = line.trim_start();
        let ours = ["::error ", "::warning ", "::notice "]
            .iter()
            .any(|c| line.starts_with(c));
        assert!(
            !line.starts_with("::") || (what == "github" && ours),
            "{what}: a line starts a workflow command: {line:?}"
        );
    }
    assert!(
        !output.contains("\n::error file=a.yaml::forged"),
        "{what}: {output}"
    );
}

/// Every character of `xml` is one XML 1.0 allows, and the document parses.
fn assert_valid_xml(xml: &str) {
    for c in xml.chars() {
        let allowed = matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..);
        assert!(allowed, "XML 1.0 forbids {c:?}");
    }
    quick_junit::Report::deserialize_from_str(xml).expect("the JUnit report parses");
}

/// A repository with an evil file name (holding a duplicate key) and a policy whose title,
/// message and help are evil too.
fn evil_repo() -> Repo {
    let repo = Repo::new();
    repo.write(
        EVIL_NAME,
        b"kind: Partner\nid: \"evil\\e[2J\\r\\n::error file=x::pwned \\x9b \\u202e \\ufffe\"\nname: a\nname: b\n",
    );
    repo.write(
        "policies/XE1.rhai",
        format!(
            "//! id: XE1\n//! title: evil \x1b[2J\u{9b}1m ##vso[task.complete result=Succeeded] \u{202e} \u{fffe} ::error x\n//! severity: error\n//! kinds: Partner\n//! rationale: \x1b]0;title\x07 ##vso[x]\n//! remediation: none\nfn check(doc) {{ if doc.id == \"partner-10\" {{ report(\"/name\", \"{EVIL_TEXT}\", \"{EVIL_TEXT}\") }} }}\n"
        )
        .as_bytes(),
    );
    repo
}

#[test]
fn e1_hostile_names_titles_and_messages_are_inert_in_every_format() {
    let repo = evil_repo();
    let policies = repo.path("policies");
    let policies = policies.to_str().unwrap();
    let json = check(&repo, &["--no-builtin-policies", "--policies", policies]);
    let findings = json.json()["findings"].as_array().unwrap().len();
    assert!(json.with_code("XE1").len() == 1 && json.with_code("Y002").len() == 1);
    for format in ["human", "json", "sarif", "junit", "github"] {
        let (code, out, elapsed) = formats(
            &repo,
            &[
                "--no-builtin-policies",
                "--policies",
                policies,
                "--format",
                format,
            ],
        );
        assert!(elapsed < LONG, "{format}: {elapsed:?}");
        assert_eq!(code, 1, "{format}: {out}");
        assert_inert(format, &out);
        match format {
            "json" | "sarif" => {
                // Exact values: the escapes are JSON's, so the names parse back unchanged.
                let value: serde_json::Value = serde_json::from_str(&out).unwrap();
                if format == "json" {
                    let names: Vec<&str> = value["findings"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|f| f["file"].as_str())
                        .collect();
                    assert!(names.contains(&EVIL_NAME), "{names:?}");
                    let message = value["findings"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|f| f["code"] == "XE1")
                        .unwrap()["message"]
                        .as_str()
                        .unwrap()
                        .to_string();
                    assert!(message.contains("\u{1b}[2J\u{9b}31m ##vso["), "{message:?}");
                }
            }
            "junit" => assert_valid_xml(&out),
            "github" => {
                // One command per finding: nothing from the data started a line of its own.
                assert_eq!(out.lines().count(), findings, "{out}");
                assert!(out.contains("Y002") && out.contains("XE1"), "{out}");
            }
            _ => {
                assert!(out.contains("\\u{1b}[2J"), "ESC shown escaped: {out}");
                assert!(out.contains("\\u{202e}"), "{out}");
            }
        }
    }
}

#[test]
fn e2_explain_and_list_show_hostile_policy_headers_escaped() {
    let repo = evil_repo();
    let policies = repo.path("policies");
    let root = repo.root().to_str().unwrap();
    let args = ["--root", root, "--policies", policies.to_str().unwrap()];
    let (code, out, err) = channelguard(&[&["explain", "XE1"][..], &args].concat());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("XE1: evil"), "{out}");
    assert_inert("explain", &out);
    let (code, out, err) = channelguard(&[&["list"][..], &args].concat());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("XE1"), "{out}");
    assert_inert("list", &out);
    let (code, out, err) = channelguard(&[&["list", "--format", "json"][..], &args].concat());
    assert_eq!(code, 0, "{err}");
    assert_inert("list json", &out);
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    let title = value["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "XE1")
        .unwrap()["title"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        title.contains("\x1b[2J\u{9b}1m ##vso[task.complete"),
        "exact: {title:?}"
    );
}

#[test]
fn e3_junit_stays_valid_xml_with_noncharacters_in_names_and_values() {
    let repo = Repo::new();
    repo.write(
        "bad\u{fffe}\u{ffff}\u{1}.yaml",
        "kind: Partner\nid: \"a\\uFFFE\\uFFFF\\x01\\x1f\"\nname: x\nname: y\n".as_bytes(),
    );
    let (code, out, _) = formats(&repo, &["--format", "junit"]);
    assert_eq!(code, 1, "{out}");
    assert_valid_xml(&out);
    assert!(out.contains("bad\\u{fffe}\\u{ffff}\\u{1}.yaml"), "{out}");
    assert_inert("junit", &out);
}

#[test]
fn h5_the_human_report_is_the_same_for_any_rendering_thread_count() {
    // Findings are rendered in parallel chunks (256 each) and written in order.
    let repo = Repo::new();
    let keys: String = (0..3_000).map(|i| format!("k{}: {i}\n", i % 2)).collect();
    repo.write(
        "partners/many.yaml",
        format!("kind: Partner\nid: many\n{keys}").as_bytes(),
    );
    let render = |threads: &str| {
        let text = render(&repo, &[], &[("RAYON_NUM_THREADS", threads)]).stdout;
        // Without the summary line, which ends with the elapsed time.
        text.lines()
            .filter(|line| !line.starts_with("checked "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let one = render("1");
    assert!(one.matches("Y002").count() >= 2_998, "{}", &one[..2000]);
    for threads in ["2", "7"] {
        assert!(
            one == render(threads),
            "output differs with {threads} threads"
        );
    }
}
