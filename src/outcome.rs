//! What a run gives back: the sorted findings with the sources they point into ([`Outcome`]),
//! and the counts and timings of the summary ([`Stats`]), including what each report filter
//! ([`Filter`]) left out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::discover;
use crate::finding::Finding;
use crate::repository::Repository;
use crate::source::SourceMap;

/// Counts for the summary line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub files: usize,
    pub documents: usize,
    pub policies: usize,
    pub elapsed: Duration,
    /// Wall time of each pipeline stage, in order (shown by `check --timings`).
    pub stages: Vec<(&'static str, Duration)>,
    /// Paths the walk did not take, and why (counted in the summary).
    pub skipped: Vec<discover::Skipped>,
    /// Findings each report filter left out (paths, `--only`, `--changed-since`), in the order
    /// the filters ran; set by `crate::changed::Selection::retain`.
    pub not_shown: Vec<(Filter, usize)>,
    /// Per policy: pairs evaluated and skipped by pre-conditions, and (when measured) time
    /// summed over threads (shown by `check --timings`).
    pub policy_costs: Vec<crate::policy::PolicyCost>,
    /// Policy evaluations that ran, and those reused from the previous run's memo
    /// ([`crate::memo`]).
    pub evaluations: crate::memo::MemoStats,
    /// What the cache ignored or could not write ([`crate::cache`]), for standard error only:
    /// a cached run's report is the same as an uncached one's.
    pub cache_notes: Vec<String>,
    /// How many files the cache's file layer gave without loading them (`None`: no cache).
    pub cache_reused: Option<usize>,
    /// The result was the last run's, replayed from the cache because no file changed
    /// ([`crate::replay`]).
    pub replayed: bool,
    /// The result was the last run's patched for this many changed files ([`crate::patch`]).
    pub patched: Option<usize>,
    /// Why a change was not answered by a patch (a full run was made instead).
    pub not_patched: Option<&'static str>,
}

impl Stats {
    /// How many paths were skipped for each reason, in a fixed order.
    pub fn skipped_counts(&self) -> Vec<(crate::scope::SkipReason, usize)> {
        let mut counts: std::collections::BTreeMap<crate::scope::SkipReason, usize> =
            std::collections::BTreeMap::new();
        for s in &self.skipped {
            *counts.entry(s.reason).or_default() += 1;
        }
        counts.into_iter().collect()
    }
}

/// The result of a run: findings sorted by (file, position, code), and the sources they point into.
pub struct Outcome {
    pub sources: SourceMap,
    pub findings: Vec<Finding>,
    pub stats: Stats,
    /// Policy metadata of the run (for SARIF rules, `explain`, coverage).
    pub policies: Vec<crate::policy::PolicyMeta>,
    /// Per policy id, the lines of `report*` calls that ran.
    pub reached: std::collections::BTreeMap<String, Vec<u16>>,
    /// Every account document of the run, in report order of its file: what report filters
    /// and formats that list documents need.
    pub documents: Vec<DocumentEntry>,
    /// The loaded repository with every document's value (for `--changed-since` and test
    /// runners). `None` when the outcome was replayed from the cache (see
    /// [`crate::replay`]), which a run with `--changed-since` never is.
    pub repository: Option<Arc<Repository>>,
    /// What the report filters did ([`crate::suppress`]).
    pub suppressed: Suppressed,
}

/// A document of the run: its file, kind and id.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DocumentEntry {
    pub file: crate::source::FileId,
    pub document: crate::finding::DocumentRef,
}

impl DocumentEntry {
    /// The entries of every document of `repository`, in its order.
    pub fn of(repository: &Repository) -> Vec<DocumentEntry> {
        repository
            .documents
            .iter()
            .map(|d| DocumentEntry {
                file: d.file,
                document: d.reference(),
            })
            .collect()
    }
}

/// A filter that narrows what is reported (the summary says how many findings each hid).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// The paths given to `check` (parts of the repository).
    Paths,
    /// `--only FILE...`.
    Only,
    /// `--changed-since REF`.
    ChangedSince(String),
}

impl Filter {
    /// The key of the JSON summary's `not_shown` object.
    pub fn key(&self) -> &'static str {
        match self {
            Filter::Paths => "paths",
            Filter::Only => "only",
            Filter::ChangedSince(_) => "changed_since",
        }
    }

    /// What the human summary says the hidden findings were.
    pub fn describe(&self) -> String {
        match self {
            Filter::Paths => "outside the selected paths".to_string(),
            Filter::Only => "outside the --only files".to_string(),
            Filter::ChangedSince(reference) => {
                format!("in documents unchanged since `{reference}`")
            }
        }
    }
}

/// What the report filters did ([`crate::suppress`]), for the notes at the end of the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Suppressed {
    /// The baseline applied and its effect.
    pub baseline: Option<BaselineEffect>,
    /// Account documents in the selected paths (every document without a selection).
    pub documents_selected: usize,
}

/// The effect of `--baseline FILE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaselineEffect {
    pub path: PathBuf,
    /// Findings left out because the baseline lists them.
    pub suppressed: usize,
    /// Baseline entries that no finding matches any more.
    pub fixed: usize,
    /// (old id, sub-id): entries recorded under a rule id that now match findings of its
    /// sub-rule (the baseline predates the split and should be regenerated).
    pub renamed: Vec<(String, String)>,
}
