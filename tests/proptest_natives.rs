//! P4 (issue 11 item 2): generated policies that chain size-multiplying natives with random
//! sizes, run by the real binary under `ulimit -v` (about 2 GB). Whatever the chain, the run
//! ends normally: no abort, no panic (X001), exit 0/1, or exit 2 with a P003/P002 finding on
//! the policy. Few cases: each is a process.

use std::process::Command;

use proptest::prelude::*;

/// One step applied to the string `s`, the array `a` or the map `m`.
fn step() -> impl Strategy<Value = String> {
    let size = prop_oneof![
        Just(0_u32),
        1..10_u32,
        1..100_000_u32,
        1_000_000..1_100_000_u32
    ];
    (0..14_u8, size).prop_map(|(op, n)| match op {
        0 => format!("s.pad({n}, \"ab\");"),
        1 => "s.replace(\"a\", s);".to_string(),
        2 => "s.replace(\"\", s);".to_string(),
        3 => "s = s + s;".to_string(),
        4 => format!("a.pad({n}, s);"),
        5 => "a = a + a;".to_string(),
        6 => "s = a.to_string();".to_string(),
        7 => "s = `${m}${a}`;".to_string(),
        8 => "s = m.to_json();".to_string(),
        9 => "a = s.split(\"a\");".to_string(),
        10 => "a = a.map(|x| a);".to_string(),
        11 => format!("m[`k{n}`] = f;"),
        12 => "a = s.to_chars();".to_string(),
        _ => "a = a.zip(a, |x, y| s);".to_string(),
    })
}

fn run(body: &str) -> (i32, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("partners")).unwrap();
    std::fs::create_dir_all(root.join("policies")).unwrap();
    std::fs::write(
        root.join("partners/p.yaml"),
        "kind: Partner\nid: partner-1\nname: Partner 1 Ltd\ntenant_id: 00000000-0000-4000-8000-000000000001\npartner_id: \"1000001\"\ncsp_role: direct_bill\ncloud: commercial\ncountry: \"US\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("policies/XG.rhai"),
        format!("//! id: XG\n//! title: generated\n//! severity: error\n//! kinds: Partner\n//! rationale: test\n//! remediation: test\n{body}\n"),
    )
    .unwrap();
    let output = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2000000; exec \"$0\" \"$@\"")
        .arg(assert_cmd::cargo::cargo_bin("channelguard"))
        .args(["check", "--as-of", "2024-06-30", "--format", "json"])
        .args(["--no-builtin-policies", "--policies"])
        .arg(root.join("policies"))
        .arg("--root")
        .arg(root)
        .arg(root)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    (output.status.code().unwrap_or(-1), json)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn p4_chains_of_natives_end_normally_or_in_a_limit(steps in prop::collection::vec(step(), 1..6)) {
        let body = format!(
            "fn check(doc) {{ let s = \"ab\"; let a = [1]; let m = #{{}}; let f = || s; {} }}",
            steps.join(" ")
        );
        let (code, json) = run(&body);
        prop_assert!(json.is_object(), "no report (exit {code}) for `{body}`");
        let findings = json["findings"].as_array().unwrap();
        prop_assert!(findings.iter().all(|f| f["code"] != "X001"), "{json}");
        match code {
            0 | 1 => {}
            2 => prop_assert!(
                findings.iter().any(|f| (f["code"] == "P003" || f["code"] == "P002")
                    && f["file"].as_str().unwrap_or("").ends_with("XG.rhai")),
                "exit 2 without a policy error: {json}"
            ),
            other => prop_assert!(false, "exit {other} for `{body}`"),
        }
    }
}
