//! What a run is asked to do: [`CheckOptions`] (paths, root, date, schemas, policies, rule
//! settings, limits, scope) and the in-memory inputs ([`MemoryInput`]) that go through the same
//! pipeline as files on disk. Plain data, below both [`crate::config`] (which fills it) and
//! [`crate::check`] (which runs it).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::finding::Severity;
use crate::input::ReadScope;
use crate::limits::Limits;
use crate::policy::PolicySources;
use crate::source::ByteSpan;

/// Everything a check run needs.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Files or directories to check.
    pub paths: Vec<PathBuf>,
    /// Repository root: display paths are relative to it and files must stay inside it.
    pub root: PathBuf,
    pub as_of: jiff::civil::Date,
    /// Replaces the bundled schemas.
    pub schema_dir: Option<PathBuf>,
    pub policies: PolicySources,
    /// Rule settings by name (overrides of policy defaults).
    pub settings: HashMap<String, serde_json::Value>,
    /// Rule ids to skip entirely.
    pub disabled_rules: Vec<String>,
    /// Severity overrides by rule id.
    pub severity_overrides: HashMap<String, Severity>,
    pub limits: Limits,
    /// Worker threads (`None`: one per core).
    pub threads: Option<usize>,
    /// Skip policies on documents whose references do not resolve (the default): the dangling
    /// reference is reported once (R002/R003) instead of again by every rule that follows it.
    /// `explain` turns it off to run a policy's example on its own.
    pub skip_dangling: bool,
    /// Which walked files are account data (`include:`/`exclude:` of `channelguard.yaml` and
    /// the default exclusions).
    pub scope: crate::scope::Scope,
    /// Report filters applied after the check ([`crate::suppress`]): baseline, paths, `--only`,
    /// `--changed-since`.
    pub suppressions: Suppressions,
    /// Test the policies' `applies` pre-conditions natively (the default): a document a
    /// policy's pre-condition excludes never enters its script. A debugging switch: the report
    /// is the same either way (tests/policy_preconditions.rs proves it on the built-in rules).
    pub policy_preconditions: bool,
    /// Measure the time spent in each policy ([`Stats::policy_costs`](crate::outcome::Stats)),
    /// for `check --timings`; off by default.
    pub measure_policies: bool,
    /// The cache folder ([`crate::cache`]); `None` (the default here) runs without a cache.
    /// `check` on files sets it (`.channelguard-cache/` at the root, `--cache-dir`,
    /// `CHANNELGUARD_CACHE_DIR`); `--no-cache`, `test` and `explain` leave it `None`.
    pub cache_dir: Option<PathBuf>,
}

impl CheckOptions {
    /// Where schemas, policies and other named inputs may be read from: the root and the
    /// schema and policy directories of these options (the command line's, or those of a
    /// configuration that [`crate::config`] has checked). Data files are read from the root
    /// only. A file in these directories is still refused when it links out of them.
    pub fn read_scope(&self) -> ReadScope {
        let mut scope = ReadScope::new(&self.root);
        for dir in self.schema_dir.iter().chain(&self.policies.directories) {
            scope.allow(dir);
        }
        scope
    }

    pub fn new(paths: Vec<PathBuf>, as_of: jiff::civil::Date) -> CheckOptions {
        CheckOptions {
            paths,
            root: PathBuf::from("."),
            as_of,
            schema_dir: None,
            policies: PolicySources {
                builtin: true,
                directories: Vec::new(),
            },
            settings: HashMap::new(),
            disabled_rules: Vec::new(),
            severity_overrides: HashMap::new(),
            limits: Limits::default(),
            threads: None,
            skip_dangling: true,
            scope: crate::scope::Scope::default(),
            suppressions: Suppressions::default(),
            policy_preconditions: true,
            measure_policies: false,
            cache_dir: None,
        }
    }
}

/// A data file supplied in memory rather than found on disk: a policy test case's inline
/// `documents:`, an `explain` example, or an embedded built-in test repository.
#[derive(Clone, Debug)]
pub struct MemoryInput {
    /// Name shown in findings.
    pub name: String,
    /// Path reported for the file (it need not exist).
    pub path: PathBuf,
    /// The whole text: snippets show it and every span points into it.
    pub text: Arc<str>,
    /// `None`: `text` is a YAML stream, loaded like a file on disk. `Some(regions)`: each byte
    /// range is loaded as one document and the rest of `text` is ignored, so that documents
    /// nested in a larger file (a test case's `documents:` list) keep their real lines.
    pub regions: Option<Vec<ByteSpan>>,
}

/// The report filters of a run (steps 3 to 6 of [`crate::suppress`]); empty: report everything.
#[derive(Clone, Debug, Default)]
pub struct Suppressions {
    /// `--baseline FILE`.
    pub baseline: Option<PathBuf>,
    /// The paths given to `check` when they select part of the repository.
    pub paths: Option<Vec<PathBuf>>,
    /// `--only FILE...`.
    pub only: Option<Vec<PathBuf>>,
    /// `--changed-since REF`.
    pub changed_since: Option<String>,
}
