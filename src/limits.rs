//! Resource limits for untrusted input: data files, schemas and policies.
//!
//! Defaults follow the decisions in the hardening notes; each is configurable in
//! `channelguard.yaml` (`limits:`) up to its hard maximum ([`Limits::MAXIMA`]). A breach is a
//! located finding on that input, never a crash.

use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest data file read, in bytes (at most `max_file_bytes + 1` bytes are ever read).
    pub max_file_bytes: u64,
    /// Deepest nesting of mappings and sequences, checked on parser events before a tree exists.
    pub max_depth: usize,
    /// Most nodes in one file (after alias expansion).
    pub max_nodes: usize,
    /// Longest scalar, in bytes.
    pub max_scalar_bytes: usize,
    /// Most nodes that aliases may add by expansion in one file.
    pub max_alias_nodes: usize,
    /// Largest policy script, in bytes.
    pub max_policy_bytes: u64,
    /// Largest schema file, in bytes.
    pub max_schema_bytes: u64,
    /// Rhai operations per policy evaluation (the deterministic first line of defence).
    pub policy_operations: u64,
    /// Wall-clock budget per policy evaluation (the second line: some operations are slow).
    pub policy_deadline: Duration,
    /// Most findings one policy may report for one file before the rest are summarised.
    pub max_findings_per_policy_file: usize,
}

impl Limits {
    /// The hard maxima: `channelguard.yaml` may lower any limit but never raise one above these
    /// (a C001). Each keeps a run that uses it from aborting or exhausting a CI runner's memory:
    /// `max_depth` stays far below what the 16 MiB worker stacks survive (a policy reading a
    /// nested value overflowed them between 8,000 and 11,000 levels on the debug build, so the
    /// margin is 8×; `tests/hardening_limits.rs` runs a file at the maximum); the size ceilings
    /// bound the memory of one file or evaluation to a few GiB. docs/security.md lists them.
    pub const MAXIMA: Limits = Limits {
        max_file_bytes: 256 * 1024 * 1024,
        max_depth: 1_000,
        max_nodes: 5_000_000,
        max_scalar_bytes: 64 * 1024 * 1024,
        max_alias_nodes: 1_000_000,
        max_policy_bytes: 16 * 1024 * 1024,
        max_schema_bytes: 16 * 1024 * 1024,
        policy_operations: 100_000_000,
        policy_deadline: Duration::from_secs(60),
        max_findings_per_policy_file: 100_000,
    };
}

/// Most worker threads (`-j`): more gains nothing on any machine channelguard runs on, and each
/// worker reserves a 16 MiB stack.
pub const MAX_THREADS: usize = 256;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_file_bytes: 10 * 1024 * 1024,
            max_depth: 64,
            max_nodes: 250_000,
            max_scalar_bytes: 1024 * 1024,
            max_alias_nodes: 10_000,
            max_policy_bytes: 1024 * 1024,
            max_schema_bytes: 1024 * 1024,
            policy_operations: 1_000_000,
            policy_deadline: Duration::from_secs(2),
            max_findings_per_policy_file: 1_000,
        }
    }
}
