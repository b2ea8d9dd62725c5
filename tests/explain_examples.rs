//! Every built-in policy's `example:` is a violation of that policy and its `compliant:` version
//! is not: both are run through the engine exactly as `channelguard explain` runs them (one
//! in-memory file, references to documents it does not include assumed to exist).

use std::path::PathBuf;
use std::sync::Arc;

use channelguard::check::{self, CheckOptions, MemoryInput};
use channelguard::finding::Finding;
use channelguard::policy::PolicyMeta;
use channelguard::rules_doc;

/// The findings of a run over `yaml` alone, as `explain` runs an example.
fn run(meta: &PolicyMeta, yaml: String) -> Vec<Finding> {
    let mut options = CheckOptions::new(Vec::new(), jiff::civil::date(2024, 6, 30));
    options.skip_dangling = false;
    options.threads = Some(1);
    let input = MemoryInput {
        name: format!("{}-example.yaml", meta.id),
        path: PathBuf::from(format!("{}-example.yaml", meta.id)),
        text: Arc::from(yaml),
        regions: None,
    };
    check::run_with_inputs(&options, &[input]).unwrap().findings
}

fn codes(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("{} {}: {}", f.code, f.severity, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_example_violates_its_rule_and_every_compliant_version_does_not() {
    let metas = rules_doc::builtin_policy_metas();
    assert!(metas.len() >= 26, "the built-in pack did not load");
    let mut problems = Vec::new();
    for meta in &metas {
        if meta.example.is_empty() || meta.compliant.is_empty() {
            problems.push(format!(
                "{}: needs both `example:` and `compliant:`",
                meta.id
            ));
            continue;
        }
        let example = run(meta, rules_doc::example_yaml(meta));
        // A policy's example may show any kind of its violations (the policy or a sub-rule).
        let ours = |f: &Finding| channelguard::rule_id::covers(&meta.id, &f.code);
        if !example.iter().any(ours) {
            problems.push(format!(
                "{}: the example does not produce {}; it produces:\n{}",
                meta.id,
                meta.id,
                codes(&example)
            ));
        }
        // The example is about this rule: no schema or format problem beside it. Examples show
        // only the documents that matter, so references to documents left out (R002) are
        // expected; `explain` shows only the rule's own findings.
        let other: Vec<Finding> = example
            .iter()
            .filter(|f| !f.code.starts_with("MC") && *f.code != *meta.id && *f.code != *"R002")
            .cloned()
            .collect();
        if !other.is_empty() {
            problems.push(format!(
                "{}: the example has other problems:\n{}",
                meta.id,
                codes(&other)
            ));
        }
        let compliant = run(meta, rules_doc::compliant_yaml(meta));
        let left: Vec<Finding> = compliant
            .iter()
            .filter(|f| ours(f) || (!f.code.starts_with("MC") && *f.code != *"R002"))
            .cloned()
            .collect();
        if !left.is_empty() {
            problems.push(format!(
                "{}: the compliant version still reports:\n{}",
                meta.id,
                codes(&left)
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
