//! Suppression layers: what of a complete check is reported. The library applies them, in
//! this order, after the findings are sorted:
//!
//! 1. **rule settings** (`rules:` of `channelguard.yaml`): disabled rules removed, severities
//!    overridden ([`rule_settings`]);
//! 2. **waivers** (`waivers:`): covered findings marked waived, W001/W002 added for expired or
//!    unused waivers (rule settings apply to those too) — [`waivers`];
//! 3. **baseline** (`--baseline FILE`): findings it records are removed; it runs against every
//!    finding, so entries outside the files or documents selected below are not miscounted as
//!    fixed — [`baseline`];
//! 4. **paths** (the paths given to `check`): only findings in or pointing into them;
//! 5. **only** (`--only FILE...`): only findings in or pointing into those files;
//! 6. **changed since** (`--changed-since REF`): only findings in documents changed since REF.
//!
//! Steps 4 to 6 are [`crate::changed`] selections; each records how many findings it hid
//! ([`crate::outcome::Stats::not_shown`]). Findings that mean input was not checked
//! ([`codes::means_unchecked`]) are never removed or downgraded by any layer.

pub mod baseline;
pub mod waivers;

use std::path::Path;

use crate::changed;
use crate::codes;
use crate::finding::{Finding, Origin};
use crate::input::{read_text, Origin as ReadOrigin};
use crate::options::CheckOptions;
use crate::outcome::{BaselineEffect, Filter, Outcome};
use crate::rule_id;
use crate::source::FileId;

/// A report filter could not be applied (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SuppressError {
    #[error("{0}")]
    Baseline(String),
    #[error(transparent)]
    Changed(#[from] changed::ChangedError),
}

/// Step 1: severity overrides and disabled rules, the one place they are applied. Findings
/// that mean input was not checked are never removed or downgraded (the configuration refuses
/// such settings; this keeps the guarantee for any other caller).
pub fn rule_settings(findings: &mut Vec<Finding>, options: &CheckOptions) {
    rule_settings_on(findings, |f| f, options);
}

/// [`rule_settings`] on items that carry a finding (a run keeps each finding's origin beside
/// it for the cache's replay record).
pub fn rule_settings_on<T>(
    items: &mut Vec<T>,
    finding: fn(&mut T) -> &mut Finding,
    options: &CheckOptions,
) {
    // A rule id covers its sub-rules (`MC002` disables `MC002.admin` too).
    items.retain_mut(|item| {
        let f = finding(item);
        codes::means_unchecked(&f.code)
            || !options
                .disabled_rules
                .iter()
                .any(|r| rule_id::covers(r, &f.code))
    });
    for item in items.iter_mut() {
        let finding = finding(item);
        if finding.origin == Origin::Data && !codes::means_unchecked(&finding.code) {
            // The sub-rule's own override first, else the family's (`MC002` re-grades
            // `MC002.admin` unless `MC002.admin` has its own).
            let severity = options.severity_overrides.get(&*finding.code).or_else(|| {
                options
                    .severity_overrides
                    .get(rule_id::parent(&finding.code))
            });
            if let Some(severity) = severity {
                finding.severity = *severity;
            }
        }
    }
}

/// Step 2 on sorted findings: waivers, then rule settings on the W001/W002 findings they add,
/// which are put in report order among the others.
pub fn apply_waivers(
    findings: &mut Vec<Finding>,
    waivers: &[waivers::Waiver],
    options: &CheckOptions,
    config_file: FileId,
) {
    let before = findings.len();
    waivers::apply(findings, waivers, options.as_of, config_file);
    let mut added = findings.split_off(before);
    rule_settings(&mut added, options);
    for finding in added {
        let at = findings
            .partition_point(|f| Finding::report_order(f, &finding) != std::cmp::Ordering::Greater);
        findings.insert(at, finding);
    }
}

/// Steps 3 to 6 on a finished outcome.
pub fn apply_report_filters(
    outcome: &mut Outcome,
    options: &CheckOptions,
) -> Result<(), SuppressError> {
    let filters = &options.suppressions;
    if let Some(path) = &filters.baseline {
        let applied = apply_baseline(outcome, path, options)?;
        outcome.suppressed.baseline = Some(BaselineEffect {
            path: path.clone(),
            suppressed: applied.suppressed,
            fixed: applied.fixed,
            renamed: applied.renamed.into_iter().collect(),
        });
    }
    outcome.suppressed.documents_selected = match &filters.paths {
        Some(paths) => {
            let selected = changed::under_paths(outcome, paths);
            let documents = selected.documents_in_files(outcome);
            selected.retain(outcome, Filter::Paths);
            documents
        }
        None => outcome.stats.documents,
    };
    if let Some(files) = &filters.only {
        changed::only_files(outcome, files).retain(outcome, Filter::Only);
    }
    if let Some(reference) = &filters.changed_since {
        changed::changed_since(outcome, reference, &options.paths[..1], &options.limits)?
            .retain(outcome, Filter::ChangedSince(reference.clone()));
    }
    Ok(())
}

fn apply_baseline(
    outcome: &mut Outcome,
    path: &Path,
    options: &CheckOptions,
) -> Result<baseline::Applied, SuppressError> {
    // Named on the command line, but possibly committed by anyone: through the one safe reader.
    let mut scope = options.read_scope();
    scope.allow_file(path);
    let limit = options.limits.max_file_bytes;
    let text = read_text(path, &scope, ReadOrigin::Named, limit).map_err(|problem| {
        SuppressError::Baseline(match problem {
            Ok(valid) => format!(
                "the baseline `{}` is not valid UTF-8 (byte {valid})",
                path.display()
            ),
            Err(refused) => format!("cannot read the baseline `{}`: {refused}", path.display()),
        })
    })?;
    let baseline = baseline::Baseline::parse(&text)
        .map_err(|e| SuppressError::Baseline(format!("baseline `{}`: {e}", path.display())))?;
    Ok(baseline.apply(&mut outcome.findings, &outcome.sources))
}
