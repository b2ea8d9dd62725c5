//! The pipeline has one entry (`check::run_with_config`) that loads and compiles every policy
//! once per run, even when the configuration's rule ids and settings must be checked against
//! the policies first. One test in this binary: the compile counter is per process.

use channelguard::check::{self, CommandLine};
use channelguard::policy::compiled_policies;

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
}
