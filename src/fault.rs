//! Fault injection for tests (compiled into debug builds only) and the text of a caught panic:
//! the two things the loading stage and the policy stage both need when a worker panics. It
//! depends on nothing in the crate, so neither stage reaches into the other for it.

/// The test hooks set for this process (debug builds; empty in release builds): part of every
/// cache world, since a hook changes what a run does (a cached result would skip the panic or
/// the stack probe a test asks for).
pub fn test_hooks() -> String {
    #[cfg(debug_assertions)]
    {
        ["CHANNELGUARD_TEST_PANIC_ON", "CHANNELGUARD_TEST_STACK_KIB"]
            .iter()
            .map(|name| format!("{name}={:?};", std::env::var(name).ok()))
            .collect()
    }
    #[cfg(not(debug_assertions))]
    {
        String::new()
    }
}

/// How long after its last change a file's stamp is trusted (see [`crate::cache::Stamp`]):
/// two seconds. Debug builds read `CHANNELGUARD_TEST_SETTLE_MS`, so that tests of the replay
/// need not wait between writing a file and running on it (they still wait longer than a
/// timestamp tick; the two-second window itself is tested with the default).
pub fn settle_window_ns() -> i128 {
    const DEFAULT: i128 = 2_000_000_000;
    #[cfg(debug_assertions)]
    {
        static WINDOW: std::sync::OnceLock<i128> = std::sync::OnceLock::new();
        *WINDOW.get_or_init(|| {
            std::env::var("CHANNELGUARD_TEST_SETTLE_MS")
                .ok()
                .and_then(|ms| ms.parse::<i128>().ok())
                .map_or(DEFAULT, |ms| ms * 1_000_000)
        })
    }
    #[cfg(not(debug_assertions))]
    {
        DEFAULT
    }
}

/// `CHANNELGUARD_TEST_REWRITE_ON_LATE_READ=<path>` (debug builds): appends a comment line to
/// that file just before a run reads the texts of the files it did not read because their
/// stamps proved them unchanged, so that a test can make a file change in between.
pub fn test_rewrite_hook() {
    #[cfg(debug_assertions)]
    if let Some(path) = std::env::var_os("CHANNELGUARD_TEST_REWRITE_ON_LATE_READ") {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(path) {
            let _ = file.write_all(b"\n# changed during the check\n");
        }
    }
}

/// Fault injection for tests, compiled into debug builds only:
/// `CHANNELGUARD_TEST_PANIC_ON=<file name>` panics while loading that data file, and
/// `CHANNELGUARD_TEST_PANIC_ON=policy:<file name>` while running a policy on its documents.
/// The name is the display name (`customers/x.yaml`) or its last components.
/// `CHANNELGUARD_TEST_STACK_KIB=<n>` makes every policy evaluation first use `n` KiB of its
/// worker's stack, so a test can prove how large the workers' stacks really are.
pub fn test_panic_hook(stage: &str, name: &str) {
    #[cfg(debug_assertions)]
    {
        static SPEC: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        static STACK: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
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
        let stack = STACK.get_or_init(|| {
            std::env::var("CHANNELGUARD_TEST_STACK_KIB")
                .ok()
                .and_then(|v| v.parse().ok())
        });
        if let (Some(kib), "policy") = (stack, stage) {
            use_stack(*kib);
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (stage, name);
}

/// Uses `kib` KiB of this thread's stack, measured by the addresses of its frames (their size
/// differs between builds, so it is not counted in frames).
#[cfg(debug_assertions)]
fn use_stack(kib: usize) {
    let top = std::hint::black_box(0u8);
    let until = (&top as *const u8 as usize).saturating_sub(kib * 1024);
    std::hint::black_box(descend(until));
}

#[cfg(debug_assertions)]
fn descend(until: usize) -> usize {
    let frame = std::hint::black_box([1u8; 1024]);
    if (&frame as *const [u8; 1024] as usize) <= until {
        return frame[0] as usize;
    }
    std::hint::black_box(descend(until)) + frame[1023] as usize
}

/// The text of a caught panic (`unknown panic` for a payload that is not a string).
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_text_reads_both_string_payloads() {
        let owned = std::panic::catch_unwind(|| panic!("{}", String::from("owned"))).unwrap_err();
        assert_eq!(panic_text(&*owned), "owned");
        let fixed = std::panic::catch_unwind(|| panic!("fixed")).unwrap_err();
        assert_eq!(panic_text(&*fixed), "fixed");
        let other = std::panic::catch_unwind(|| std::panic::panic_any(7_u8)).unwrap_err();
        assert_eq!(panic_text(&*other), "unknown panic");
    }
}
