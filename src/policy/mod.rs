//! Channel policies: loading Rhai scripts (the embedded built-in pack and user directories),
//! reading their headers, compiling each once, and evaluating them over the repository in
//! parallel with one Rhai conversion per document.
//!
//! A policy is a `.rhai` file with a metadata header ([`meta`]) and an entry point
//! `fn check(doc)` that calls `report(pointer, message, help)` for each violation. Script
//! errors, limit breaches and a policy that can never run become located findings (exit 2);
//! the other policies still run.
//!
//! One concern per file: `load` (reading and compiling scripts), `evaluate` (scheduling and
//! locating results), `errors` (Rhai errors and positions as findings), `thread` (all
//! per-thread state and its invariants), [`engine`] (the sandbox), [`guard`] (capped natives),
//! [`api`] (the functions scripts call) and [`meta`] (script headers).

pub mod api;
pub mod applies;
pub mod engine;
mod errors;
mod evaluate;
pub mod guard;
mod load;
pub mod meta;
mod thread;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rhai::{Engine, AST};

use crate::limits::Limits;
use crate::source::FileId;

pub use evaluate::{
    Dependencies, EvalContext, EvalOrigin, EvalOutcome, MemoRequest, PolicyCost, SkipRecord,
};
pub use load::LoadError;
pub use meta::{PolicyMeta, SettingDecl};

include!(concat!(env!("OUT_DIR"), "/builtin_policies.rs"));

/// Where a policy came from: the built-in pack (which a user policy with the same id replaces)
/// or a policy directory (whose policies must have distinct ids).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyOrigin {
    Builtin,
    Directory(PathBuf),
}

/// Policy scripts compiled by this process so far (see [`compiled_policies`]).
static COMPILED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many policy scripts this process has compiled when loading policy sets: a test of the
/// pipeline compares it before and after a run to prove that each policy is loaded and compiled
/// once per run. Worker copies are counted apart ([`worker_copies_compiled`]).
pub fn compiled_policies() -> usize {
    COMPILED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Per-worker copies of policies compiled by this process so far (see [`worker_copies_compiled`]).
static WORKER_COPIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many per-worker copies of policies this process has compiled: each worker thread
/// compiles its own copy of a policy the first time it evaluates it in a run (`thread.rs`;
/// rhai cannot clone an AST without sharing its string constants), so a run compiles at most
/// threads × policies copies besides the one load of each policy.
pub fn worker_copies_compiled() -> usize {
    WORKER_COPIES.load(std::sync::atomic::Ordering::Relaxed)
}

/// One loaded policy.
pub struct Policy {
    pub meta: PolicyMeta,
    pub file: FileId,
    pub origin: PolicyOrigin,
    ast: AST,
    /// Lines of the script that call `report*` (for coverage).
    pub report_lines: Vec<u16>,
}

/// The compiled policies of a run and the engine they run on.
pub struct PolicySet {
    pub policies: Vec<Policy>,
    engine: Engine,
    limits: Limits,
    /// Test `applies` pre-conditions natively (the default; see [`PolicySet::use_preconditions`]).
    preconditions: bool,
    /// Measure each policy's time ([`PolicySet::measure_costs`]).
    measure: bool,
}

/// How to assemble the policy set.
#[derive(Clone, Debug, Default)]
pub struct PolicySources {
    pub builtin: bool,
    pub directories: Vec<PathBuf>,
}

/// How a policy file is named in reports: its path with `.` components left out (`./policies/x`
/// and `policies/./x` are `policies/x`, as code scanning and GitHub annotations match paths
/// textually), `/`-separated.
pub fn policy_name(path: &Path) -> String {
    let clean: PathBuf = path
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    let name = clean.display().to_string().replace('\\', "/");
    if name.is_empty() {
        ".".to_string()
    } else {
        name
    }
}

impl PolicySet {
    pub fn get(&self, id: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.meta.id == id)
    }

    /// Every setting any policy declares, with its default, by name.
    pub fn declared_settings(&self) -> BTreeMap<String, (SettingDecl, String)> {
        let mut settings = BTreeMap::new();
        for policy in &self.policies {
            for setting in &policy.meta.settings {
                settings
                    .entry(setting.name.clone())
                    .or_insert_with(|| (setting.clone(), policy.meta.id.clone()));
            }
        }
        settings
    }

    /// Whether `applies` pre-conditions skip (policy, document) pairs natively (default `true`).
    /// Turning them off runs every script on every document of its kinds: a debugging switch,
    /// the report is the same either way.
    pub fn use_preconditions(&mut self, on: bool) {
        self.preconditions = on;
    }

    /// Whether evaluation measures the time spent in each policy ([`PolicyCost::time`]); off by
    /// default (two clock reads per pair).
    pub fn measure_costs(&mut self, on: bool) {
        self.measure = on;
    }

    /// Drops policies whose ids are in `disabled`.
    pub fn retain(&mut self, keep: impl Fn(&PolicyMeta) -> bool) {
        self.policies.retain(|p| keep(&p.meta));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_have_no_dot_components() {
        assert_eq!(
            policy_name(Path::new("./policies/X001.rhai")),
            "policies/X001.rhai"
        );
        assert_eq!(policy_name(Path::new("a/./b.rhai")), "a/b.rhai");
        assert_eq!(policy_name(Path::new("/abs/p.rhai")), "/abs/p.rhai");
        assert_eq!(policy_name(Path::new("../up/p.rhai")), "../up/p.rhai");
    }
}
