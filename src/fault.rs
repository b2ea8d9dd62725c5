//! Fault injection for tests (debug builds only): a panic on demand while loading a data file
//! or running a policy, to prove that a bug in one stage becomes a finding, not a crash.

/// Fault injection for tests, compiled into debug builds only:
/// `CHANNELGUARD_TEST_PANIC_ON=<file name>` panics while loading that data file, and
/// `CHANNELGUARD_TEST_PANIC_ON=policy:<file name>` while running a policy on its documents.
/// The name is the display name (`customers/x.yaml`) or its last components.
pub fn test_panic_hook(stage: &str, name: &str) {
    #[cfg(debug_assertions)]
    {
        static SPEC: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        let spec = SPEC.get_or_init(|| std::env::var("CHANNELGUARD_TEST_PANIC_ON").ok());
        if let Some(spec) = spec {
            let (wanted, file) = match spec.split_once(':') {
                Some(("policy", file)) => ("policy", file),
                _ => ("load", spec.as_str()),
            };
            let matches = name == file || name.ends_with(&format!("/{file}"));
            if wanted == stage && matches {
                panic!("injected panic in {stage} of `{name}` (CHANNELGUARD_TEST_PANIC_ON)");
            }
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (stage, name);
}
