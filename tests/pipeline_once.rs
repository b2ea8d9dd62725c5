//! The pipeline has one entry (`check::run_with_config`) that loads and compiles every policy
//! once per run, even when the configuration's rule ids and settings must be checked against
//! the policies first. Each worker thread then compiles its own copy of a policy it evaluates
//! (rhai has no deep AST clone; see `policy/thread.rs`): at most threads × policies copies,
//! counted apart. One test in this binary: the compile counters are per process.

use channelguard::check::{self, CommandLine};
use channelguard::policy::{compiled_policies, worker_copies_compiled};

/// Runs `check` on an empty repository whose `channelguard.yaml` is `config`; returns the
/// policies compiled during the run and the policies the run evaluated.
fn compiled_in_one_run(config: &str, no_builtin_policies: bool) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("channelguard.yaml"), config).unwrap();
    let command_line = CommandLine {
        paths: vec![dir.path().to_path_buf()],
        root: Some(dir.path().to_path_buf()),
        as_of: Some("2024-06-30".to_string()),
        no_builtin_policies,
        ..CommandLine::default()
    };
    let prepared = check::prepare(&command_line).expect("the configuration is read");
    let before = compiled_policies();
    let outcome = check::run_with_config(&prepared.options, prepared.config.as_ref())
        .expect("the check runs");
    assert!(
        outcome.findings.iter().all(|f| &*f.code != "C001"),
        "{:#?}",
        outcome.findings
    );
    (compiled_policies() - before, outcome.stats.policies)
}

#[test]
fn every_policy_is_compiled_once_per_run() {
    let builtin = channelguard::policy::BUILTIN_POLICIES.len();
    // No configuration that needs the policies first.
    assert_eq!(
        compiled_in_one_run("as_of: 2024-06-30\n", false),
        (builtin, builtin)
    );
    // Rule options and settings are checked against the policies before the run: still once.
    let config = "rules:\n  MC002: {severity: warning}\nsettings:\n  require_admin_rights: false\n";
    assert_eq!(compiled_in_one_run(config, false), (builtin, builtin));
    // A disabled rule is compiled (its id is known) but not run.
    let config = "rules:\n  MC002: {enabled: false}\n";
    assert_eq!(compiled_in_one_run(config, false), (builtin, builtin - 1));
    // Without the built-in pack, the built-in ids stay known without compiling anything.
    assert_eq!(compiled_in_one_run(config, true), (0, 0));

    // With documents to check, each worker compiles its own copy of the policies it runs, once
    // per run: never more than threads × policies, besides the one load of each policy.
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/northwind-csp");
    for threads in [1, 2] {
        let command_line = CommandLine {
            paths: vec![example.clone()],
            root: Some(example.clone()),
            as_of: Some("2024-06-30".to_string()),
            threads: Some(threads),
            ..CommandLine::default()
        };
        let prepared = check::prepare(&command_line).expect("the configuration is read");
        let (loads, copies) = (compiled_policies(), worker_copies_compiled());
        let outcome = check::run_with_config(&prepared.options, prepared.config.as_ref())
            .expect("the check runs");
        let (loads, copies) = (
            compiled_policies() - loads,
            worker_copies_compiled() - copies,
        );
        let policies = outcome.stats.policies;
        assert!(
            policies > 0 && outcome.stats.documents > 0,
            "{:?}",
            outcome.stats
        );
        assert_eq!(
            loads, builtin,
            "each policy loaded once ({threads} threads)"
        );
        assert!(
            copies > 0 && copies <= threads * builtin,
            "{copies} worker copies with {threads} threads and {builtin} policies"
        );
    }
}
