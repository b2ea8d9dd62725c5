//! Evaluating the compiled policies over the repository: scheduling on the current rayon pool
//! (one Rhai conversion per document, one breaker per policy), then merging the workers' results
//! in repository order and locating what the scripts reported.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use rhai::{Dynamic, ImmutableString};

use crate::codes;
use crate::finding::{quoted, Finding, RelatedLabel};
use crate::memo::{self, Memo, MemoStats};
use crate::model::Kind;
use crate::repository::{DocIndex, Repository};
use crate::source::ByteSpan;
use crate::source::SourceMap;

use super::errors::{describe_error, is_cancelled, span_at, tool_finding};
use super::{api, thread, Policy, PolicySet};

/// What a policy run needs besides the repository.
pub struct EvalContext {
    pub as_of: jiff::civil::Date,
    /// Setting overrides from the configuration, by name.
    pub settings: HashMap<String, serde_json::Value>,
    /// Fields each kind's schema declares (absent ones are `()` for policies).
    pub known_fields: HashMap<Kind, Vec<String>>,
}

/// What evaluating the policies produced.
#[derive(Default)]
pub struct EvalOutcome {
    pub findings: Vec<Finding>,
    /// Per policy id: the lines of `report*` calls that ran (for coverage).
    pub reached: BTreeMap<String, Vec<u16>>,
    /// Per policy, in policy order: what it cost (`check --timings`).
    pub costs: Vec<PolicyCost>,
    /// How many evaluations ran and how many were reused from a memo.
    pub memo_stats: MemoStats,
    /// What produced each finding (same length and order as `findings`).
    pub origins: Vec<EvalOrigin>,
    /// What the evaluations depended on, when [`MemoRequest::dependencies`] asked for it.
    pub dependencies: Option<Dependencies>,
}

/// What produced a finding of [`EvalOutcome::findings`]: what a patched replay
/// ([`crate::patch`]) replaces when the evaluations are run again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EvalOrigin {
    /// The evaluations on this document (their findings, and P005 for too many of them).
    Evaluation(DocIndex),
    /// The S004 of the evaluations skipped on an invalid field of this document.
    Skipped(DocIndex),
    /// A policy's runtime error or printed output, aggregated over documents.
    Policy,
}

/// An evaluation that read an invalid field and was skipped (S004 is built from these).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkipRecord {
    /// Index in [`PolicySet::policies`].
    pub policy: u32,
    pub evaluated: DocIndex,
    /// The document whose field was invalid.
    pub cause: DocIndex,
    pub field: String,
}

/// What the evaluations of a run depended on ([`MemoRequest::dependencies`]).
#[derive(Debug, Default)]
pub struct Dependencies {
    /// (key hash, evaluated document) for every query of every evaluation, sorted, unique.
    pub reads: Vec<(memo::KeyHash, DocIndex)>,
    /// Every skipped evaluation, in (cause, field, evaluated, policy) order.
    pub skips: Vec<SkipRecord>,
    /// Per evaluated document: how many evaluations ran or were reused on it.
    pub evaluations: Vec<(DocIndex, u16)>,
}

/// The memo side of a run ([`PolicySet::evaluate_with_memo`]): the previous run's memo, if
/// any, and whether to record this run's.
#[derive(Default)]
pub struct MemoRequest {
    pub previous: Option<Memo>,
    pub record: bool,
    /// Evaluate only these documents (ascending; every policy of their kind), not all.
    pub documents: Option<Vec<DocIndex>>,
    /// Gather [`EvalOutcome::dependencies`].
    pub dependencies: bool,
}

/// How an evaluation ended, for the memo: only a complete evaluation (it returned, or it was
/// skipped on an invalid field) may be reused.
struct Evaluated {
    complete: bool,
    reads: Option<Vec<memo::ReadKey>>,
}

/// The previous memo, checked against this run's world, with its files mapped to this run's.
struct Previous<'a> {
    memo: &'a Memo,
    files: Vec<Option<crate::source::FileId>>,
    /// The memo's file ids are this run's (no file was added, removed or renamed).
    same_files: bool,
    /// Every document is as it was (same digest of fingerprints): no read set needs checking.
    same_documents: bool,
}

/// What one policy cost in a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyCost {
    pub id: String,
    /// (policy, document) pairs the script was run on.
    pub evaluated: u64,
    /// Pairs its `applies` pre-condition skipped without running the script.
    pub skipped: u64,
    /// Time spent in the policy (pre-conditions and scripts), summed over threads; zero unless
    /// measuring was asked for ([`PolicySet::measure_costs`]).
    pub time: std::time::Duration,
}

/// Pre-conditions are used only when a script's first lines cannot hit a limit: below these,
/// an early return might itself trip the operations limit or the deadline, and skipping it
/// would change the report.
const MIN_OPERATIONS_FOR_PRECONDITIONS: u64 = 10_000;
const MIN_DEADLINE_FOR_PRECONDITIONS: std::time::Duration = std::time::Duration::from_millis(50);

/// A runtime problem of one policy, aggregated over documents.
struct ScriptError {
    finding: Finding,
    documents: usize,
    /// The first document (in repository order) it happened on.
    document: DocIndex,
    /// A limit (operations, time, depth, size): the policy's breaker trips on it.
    limit: bool,
}

/// The span of a policy's entry point, for errors that carry no position: Rhai replaces the
/// position of limit errors (operations, time, stack, size) by the call site, and the entry
/// point is called from the host.
pub(super) fn entry_span(text: &str) -> ByteSpan {
    text.find("fn check").map_or_else(ByteSpan::default, |at| {
        ByteSpan::new(at, at + "fn check".len())
    })
}

impl PolicySet {
    /// Evaluates every policy on every document of its kinds. Documents are converted to Rhai
    /// values once; evaluation runs on the current rayon pool.
    pub fn evaluate(
        &self,
        repo: Arc<Repository>,
        context: &EvalContext,
        sources: &SourceMap,
    ) -> EvalOutcome {
        self.evaluate_with_memo(repo, context, sources, MemoRequest::default())
            .0
    }

    /// [`PolicySet::evaluate`], reusing the evaluations of `request.previous` whose document
    /// and read set are unchanged ([`crate::memo`]), and giving this run's memo when
    /// `request.record` is set. The outcome is the same as without a memo.
    pub fn evaluate_with_memo(
        &self,
        repo: Arc<Repository>,
        context: &EvalContext,
        sources: &SourceMap,
        request: MemoRequest,
    ) -> (EvalOutcome, Option<Memo>) {
        let mut settings: HashMap<String, Dynamic> = HashMap::new();
        let mut world = vec![context.as_of.to_string(), format!("{:?}", self.limits)];
        for (name, (decl, _)) in self.declared_settings() {
            let value = context.settings.get(&name).unwrap_or(&decl.default);
            world.push(format!("setting {name} = {value}"));
            settings.insert(name, api::to_dynamic(value));
        }
        for kind in Kind::ALL {
            let mut fields = context.known_fields.get(&kind).cloned().unwrap_or_default();
            fields.sort();
            world.push(format!("fields of {kind}: {}", fields.join(",")));
        }
        // The schemas decide each document's value (rewrites, validity) besides its text.
        let schemas = sources
            .iter()
            .filter(|(_, file)| file.role == crate::source::FileRole::Schema)
            .flat_map(|(_, file)| [file.name.as_str(), &*file.text]);
        let world = memo::world_fingerprint(world.iter().map(String::as_str).chain(schemas));
        let record = request.record;
        let collect = request.dependencies;
        let targets: Vec<DocIndex> = request
            .documents
            .unwrap_or_else(|| (0..repo.documents.len() as DocIndex).collect());
        // Only a memo uses the file table (a patched replay evaluates a few documents of a
        // large repository: its 80,000 names are not worth listing).
        let files_now = if record || request.previous.is_some() {
            memo::file_table(sources)
        } else {
            Vec::new()
        };
        if self.policies.is_empty() {
            let memo = record.then(|| Memo {
                world,
                files: files_now,
                documents: 0,
                entries: memo::EntryMap::default(),
            });
            let dependencies = collect.then(Dependencies::default);
            return (
                EvalOutcome {
                    dependencies,
                    ..EvalOutcome::default()
                },
                memo,
            );
        }
        let previous_memo = request
            .previous
            .filter(|m| m.world == world && !m.is_empty());
        let identities =
            (record || previous_memo.is_some()).then(|| memo::document_identities(&repo, sources));
        let documents_digest = identities
            .as_ref()
            .map_or(0, |ids| memo::documents_digest(&ids.fingerprints));
        let previous = previous_memo.as_ref().map(|memo| Previous {
            memo,
            files: memo::map_files(&memo.files, sources),
            same_files: memo.files == files_now,
            same_documents: memo.documents == documents_digest,
        });
        let policy_keys: Vec<memo::Fingerprint> = self
            .policies
            .iter()
            .map(|p| memo::policy_fingerprint(&p.meta.id, &sources.get(p.file).text))
            .collect();
        let shared = Arc::new(api::Shared {
            repo: Arc::clone(&repo),
            known_fields: Kind::ALL
                .iter()
                .map(|kind| {
                    let mut fields = context.known_fields.get(kind).cloned().unwrap_or_default();
                    fields.sort();
                    fields
                })
                .collect(),
            as_of: context.as_of,
            as_of_text: ImmutableString::from(context.as_of.to_string()),
            settings,
            rule_ids: self
                .policies
                .iter()
                .map(|p| p.meta.rule_ids().map(str::to_string).collect())
                .collect(),
        });
        let applicable: Vec<Vec<usize>> = Kind::ALL
            .iter()
            .map(|kind| {
                (0..self.policies.len())
                    .filter(|&p| self.policies[p].meta.kinds.contains(kind))
                    .collect()
            })
            .collect();

        // One breaker per policy: the lowest document index on which it hit a limit. Documents
        // after it are skipped (and in-flight ones cancelled), documents before it always run,
        // so what is reported does not depend on the thread count or on timing.
        let tripped: Arc<Vec<AtomicU32>> = Arc::new(
            (0..self.policies.len())
                .map(|_| AtomicU32::new(DocIndex::MAX))
                .collect(),
        );
        // Results are tagged with (policy, document) so that those after a breaker's document
        // can be dropped.
        struct Partial {
            findings: Vec<(usize, DocIndex, Finding)>,
            errors: Vec<(usize, String, ScriptError)>,
            reached: Vec<(usize, DocIndex, u16)>,
            output: Vec<(usize, DocIndex, String)>,
            skips: Vec<(usize, DocIndex, api::Skipped)>,
            /// Per policy: (evaluated, skipped natively, time).
            costs: Vec<(u64, u64, std::time::Duration)>,
            recorded: Vec<(memo::EntryKey, memo::Entry)>,
            /// Evaluations that ran and may not be reused (their old entries go).
            unrecorded: Vec<memo::EntryKey>,
            stats: MemoStats,
            /// With `collect`: (key hash, document) of every query, and evaluations per document.
            reads: Vec<(memo::KeyHash, DocIndex)>,
            evaluations: Vec<(DocIndex, u16)>,
        }
        let preconditions = self.preconditions
            && self.limits.policy_operations >= MIN_OPERATIONS_FOR_PRECONDITIONS
            && self.limits.policy_deadline >= MIN_DEADLINE_FOR_PRECONDITIONS;
        let measure = self.measure;
        // Per kind, per applicable policy: its pre-condition for that kind, if it has one.
        let conditions: Vec<Vec<Option<&super::applies::Applies>>> = applicable
            .iter()
            .enumerate()
            .map(|(kind, policies)| {
                policies
                    .iter()
                    .map(|&p| {
                        preconditions
                            .then(|| self.policies[p].meta.applies_to(Kind::ALL[kind]))
                            .flatten()
                    })
                    .collect()
            })
            .collect();
        let partials: Vec<Partial> = targets
            .into_par_iter()
            .with_min_len(64)
            .fold(
                || Partial {
                    findings: Vec::new(),
                    errors: Vec::new(),
                    reached: Vec::new(),
                    output: Vec::new(),
                    skips: Vec::new(),
                    costs: vec![Default::default(); self.policies.len()],
                    recorded: Vec::new(),
                    unrecorded: Vec::new(),
                    stats: MemoStats::default(),
                    reads: Vec::new(),
                    evaluations: Vec::new(),
                },
                |mut partial, index| {
                    let doc = repo.get(index);
                    if !doc.checkable {
                        return partial;
                    }
                    let evaluations_before = partial.stats.run + partial.stats.reused;
                    let kind = doc.kind as usize;
                    for (slot, &p) in applicable[kind].iter().enumerate() {
                        if index > tripped[p].load(Ordering::Relaxed) {
                            continue;
                        }
                        let started = measure.then(Instant::now);
                        if let Some(condition) = conditions[kind][slot] {
                            if condition.applies(doc, |f| shared.is_known(doc.kind, f))
                                == Some(false)
                            {
                                let cost = &mut partial.costs[p];
                                cost.1 += 1;
                                if let Some(started) = started {
                                    cost.2 += started.elapsed();
                                }
                                continue;
                            }
                        }
                        let key = identities
                            .as_ref()
                            .map(|ids| (policy_keys[p], ids.fingerprints[index as usize]));
                        if let (Some(previous), Some(ids), Some(key)) =
                            (&previous, &identities, key)
                        {
                            if let Some((findings, reached, skip, reads)) =
                                reusable(previous, key, &repo, ids)
                            {
                                if collect {
                                    partial
                                        .reads
                                        .extend(reads.iter().map(|(r, _)| (r.key_hash(), index)));
                                }
                                partial
                                    .findings
                                    .extend(findings.into_iter().map(|f| (p, index, f)));
                                partial
                                    .reached
                                    .extend(reached.iter().map(|&l| (p, index, l)));
                                if let Some(skip) = skip {
                                    partial.skips.push((p, index, skip));
                                }
                                partial.stats.reused += 1;
                                continue;
                            }
                        }
                        partial.stats.run += 1;
                        let mut findings = Vec::new();
                        let mut reached = Vec::new();
                        let mut output = Vec::new();
                        let mut skipped = None;
                        let mut evaluated = Evaluated {
                            complete: false,
                            reads: None,
                        };
                        // A panic in the engine or the API (a bug) becomes an internal-error
                        // finding for this policy and document; the others still run.
                        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            crate::fault::test_panic_hook("policy", &sources.get(doc.file).name);
                            evaluated = self.evaluate_one(
                                p,
                                index,
                                &shared,
                                sources,
                                &tripped,
                                &mut findings,
                                &mut partial.errors,
                                &mut reached,
                                &mut output,
                                &mut skipped,
                                record || collect,
                            );
                        }));
                        if let Err(payload) = caught {
                            thread::set_deadline(None);
                            evaluated.complete = false;
                            findings.clear();
                            findings.push(self.internal_error(p, index, &repo, sources, &*payload));
                        }
                        if !evaluated.complete {
                            partial.stats.incomplete += 1;
                        }
                        if collect {
                            partial.reads.extend(
                                evaluated
                                    .reads
                                    .iter()
                                    .flatten()
                                    .map(|r| (r.key_hash(), index)),
                            );
                        }
                        // Printed output is gathered per policy: such evaluations always run.
                        if let (true, Some(ids), Some(key)) = (record, &identities, key) {
                            if evaluated.complete && output.is_empty() {
                                partial.recorded.push((
                                    key,
                                    memo_entry(
                                        &repo, ids, evaluated, &findings, &reached, &skipped,
                                    ),
                                ));
                            } else {
                                partial.unrecorded.push(key);
                            }
                        }
                        partial
                            .findings
                            .extend(findings.into_iter().map(|f| (p, index, f)));
                        partial
                            .reached
                            .extend(reached.into_iter().map(|(_, l)| (p, index, l)));
                        partial
                            .output
                            .extend(output.into_iter().map(|(_, t)| (p, index, t)));
                        if let Some(skipped) = skipped {
                            partial.skips.push((p, index, skipped));
                        }
                        let cost = &mut partial.costs[p];
                        cost.0 += 1;
                        if let Some(started) = started {
                            cost.2 += started.elapsed();
                        }
                    }
                    let evaluations = partial.stats.run + partial.stats.reused - evaluations_before;
                    if collect && evaluations > 0 {
                        partial.evaluations.push((index, evaluations as u16));
                    }
                    partial
                },
            )
            .collect();

        let mut outcome = EvalOutcome::default();
        let mut recorded = Vec::new();
        let mut unrecorded = Vec::new();
        let mut errors: BTreeMap<(usize, String), ScriptError> = BTreeMap::new();
        let mut output: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        let breaker: Vec<DocIndex> = tripped.iter().map(|t| t.load(Ordering::Relaxed)).collect();
        let kept = |policy: usize, document: DocIndex| document <= breaker[policy];
        let mut skips: Vec<(usize, DocIndex, api::Skipped)> = Vec::new();
        let mut dependencies = collect.then(Dependencies::default);
        outcome.costs = self
            .policies
            .iter()
            .map(|p| PolicyCost {
                id: p.meta.id.clone(),
                ..PolicyCost::default()
            })
            .collect();
        for partial in partials {
            for (total, (evaluated, skipped, time)) in outcome.costs.iter_mut().zip(&partial.costs)
            {
                total.evaluated += evaluated;
                total.skipped += skipped;
                total.time += *time;
            }
            outcome.memo_stats.run += partial.stats.run;
            outcome.memo_stats.reused += partial.stats.reused;
            outcome.memo_stats.incomplete += partial.stats.incomplete;
            recorded.extend(partial.recorded);
            unrecorded.extend(partial.unrecorded);
            if let Some(dependencies) = &mut dependencies {
                dependencies.reads.extend(partial.reads);
                dependencies.evaluations.extend(partial.evaluations);
            }
            skips.extend(partial.skips.into_iter().filter(|(p, d, _)| kept(*p, *d)));
            for (_, document, finding) in partial
                .findings
                .into_iter()
                .filter(|(p, d, _)| kept(*p, *d))
            {
                outcome.findings.push(finding);
                outcome.origins.push(EvalOrigin::Evaluation(document));
            }
            for (policy, key, error) in partial.errors {
                if !kept(policy, error.document) {
                    continue;
                }
                match errors.entry((policy, key)) {
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(error);
                    }
                    std::collections::btree_map::Entry::Occupied(mut o) => {
                        let existing = o.get_mut();
                        existing.documents += error.documents;
                        // Keep the first document in repository order, whatever the workers did.
                        if error.document < existing.document {
                            existing.finding.related = error.finding.related;
                            existing.document = error.document;
                        }
                    }
                }
            }
            for (policy, _, line) in partial.reached.into_iter().filter(|(p, d, _)| kept(*p, *d)) {
                outcome
                    .reached
                    .entry(self.policies[policy].meta.id.clone())
                    .or_default()
                    .push(line);
            }
            for (policy, _, text) in partial.output.into_iter().filter(|(p, d, _)| kept(*p, *d)) {
                output.entry(policy).or_default().push(text);
            }
        }
        for ((policy, _), error) in errors {
            let mut finding = error.finding;
            if error.documents > 1 {
                finding.message = format!("{} (in {} documents)", finding.message, error.documents);
            }
            if error.limit && error.document == breaker[policy] {
                let kinds = &self.policies[policy].meta.kinds;
                let skipped = repo.documents[breaker[policy] as usize + 1..]
                    .iter()
                    .filter(|d| d.checkable && kinds.contains(&d.kind))
                    .count();
                if skipped > 0 {
                    finding.message = format!(
                        "{}; not run on the {skipped} documents after it",
                        finding.message
                    );
                }
            }
            outcome.findings.push(finding);
            outcome.origins.push(EvalOrigin::Policy);
        }
        let mut skips: Vec<SkipRecord> = skips
            .into_iter()
            .map(|(policy, evaluated, skip)| SkipRecord {
                policy: policy as u32,
                evaluated,
                cause: skip.document,
                field: skip.field,
            })
            .collect();
        skips.sort_by(|a, b| {
            (a.cause, &a.field, a.evaluated, a.policy).cmp(&(
                b.cause,
                &b.field,
                b.evaluated,
                b.policy,
            ))
        });
        for (cause, finding) in self.skipped_findings(&repo, &skips) {
            outcome.findings.push(finding);
            outcome.origins.push(EvalOrigin::Skipped(cause));
        }
        if let Some(dependencies) = &mut dependencies {
            dependencies.reads.par_sort_unstable();
            dependencies.reads.dedup();
            dependencies.evaluations.sort_unstable();
            dependencies.skips = skips;
        }
        outcome.dependencies = dependencies;
        for (policy, mut texts) in output {
            texts.sort();
            texts.dedup();
            let policy = &self.policies[policy];
            let text = &sources.get(policy.file).text;
            let at = text
                .find("print(")
                .or_else(|| text.find("debug("))
                .unwrap_or(0);
            // Printing is harmless (the text is captured): P005's own severity (info), origin
            // `Data`, so it never makes the run exit 2.
            outcome.findings.push(
                codes::POLICY_OUTPUT
                    .finding(format!(
                        "policy {} printed {}",
                        quoted(&policy.meta.id),
                        quoted(&texts[0])
                    ))
                    .at_span(policy.file, ByteSpan::new(at, at + 5))
                    .with_label(format!("{} distinct lines printed", texts.len())),
            );
            outcome.origins.push(EvalOrigin::Policy);
        }
        for lines in outcome.reached.values_mut() {
            lines.sort_unstable();
            lines.dedup();
        }
        let memo = record.then(|| {
            // The previous memo is updated in place (a large one holds a million entries):
            // entries of documents and policies that are gone are dropped, the others keep
            // their (checked) results and are rebased to this run's files, and what ran
            // replaces them.
            let mut entries = match previous_memo {
                Some(memo) => {
                    let files = memo::map_files(&memo.files, sources);
                    let same_files = memo.files == files_now;
                    let documents: memo::FingerprintSet = identities
                        .as_ref()
                        .map(|ids| ids.fingerprints.iter().copied().collect())
                        .unwrap_or_default();
                    let same_digest = memo.documents == documents_digest;
                    let mut entries = memo.entries;
                    let before = entries.len();
                    entries.retain(|(policy, document), entry| {
                        policy_keys.contains(policy)
                            && documents.contains(document)
                            && (same_files || memo::rebase_in_place(entry, &files))
                    });
                    for key in &unrecorded {
                        entries.remove(key);
                    }
                    outcome.memo_stats.memo_unchanged = same_files
                        && same_digest
                        && recorded.is_empty()
                        && unrecorded.is_empty()
                        && entries.len() == before;
                    entries
                }
                None => {
                    memo::EntryMap::with_capacity_and_hasher(recorded.len(), Default::default())
                }
            };
            entries.extend(recorded);
            Memo {
                world,
                files: files_now,
                documents: documents_digest,
                entries,
            }
        });
        (outcome, memo)
    }

    #[allow(clippy::too_many_arguments)]
    fn evaluate_one(
        &self,
        policy_index: usize,
        doc_index: DocIndex,
        shared: &Arc<api::Shared>,
        sources: &SourceMap,
        tripped: &Arc<Vec<AtomicU32>>,
        findings: &mut Vec<Finding>,
        errors: &mut Vec<(usize, String, ScriptError)>,
        reached: &mut Vec<(usize, u16)>,
        output: &mut Vec<(usize, String)>,
        skipped: &mut Option<api::Skipped>,
        record: bool,
    ) -> Evaluated {
        let policy = &self.policies[policy_index];
        let repo = &shared.repo;
        let doc = repo.get(doc_index);
        thread::set_deadline(Some(Instant::now() + self.limits.policy_deadline));
        thread::set_cancel(tripped, policy_index, doc_index);
        let argument = api::document_value(doc_index);
        let cap = self.limits.max_findings_per_policy_file;
        let (result, frame) = thread::with_recording_frame(shared, cap, record, || {
            let mut scope = rhai::Scope::new();
            let options = rhai::CallFnOptions::new()
                .eval_ast(false)
                .rewind_scope(true);
            thread::with_thread_ast(self, shared, policy_index, sources, |ast| {
                self.engine.call_fn_with_options::<Dynamic>(
                    options,
                    &mut scope,
                    ast,
                    "check",
                    (argument,),
                )
            })
        });
        thread::set_deadline(None);
        reached.extend(frame.reached.iter().map(|&line| (policy_index, line)));
        let mut frame = frame;
        let reads = frame.reads.take();
        let incomplete = Evaluated {
            complete: false,
            reads: None,
        };
        output.extend(
            std::mem::take(&mut frame.output)
                .into_iter()
                .map(|text| (policy_index, text)),
        );
        if let Some(skip) = frame.skipped.take() {
            // The evaluation read an invalid field (even if the script caught the error): what
            // it reported before stands, the rest of its result is unknown and is counted.
            frame.reported.truncate(skip.reported_before);
            frame.dropped = 0;
            *skipped = Some(skip);
        } else if let Err(error) = result {
            if is_cancelled(&error) {
                // A document before this one hit a limit: this result is dropped anyway.
                return incomplete;
            }
            let text = &sources.get(policy.file).text;
            let position = api::error_position(&error);
            let (check, message) = describe_error(&error, &self.limits);
            let limit = check.id == codes::POLICY_LIMIT.id;
            if limit {
                tripped[policy_index].fetch_min(doc_index, Ordering::Relaxed);
            }
            let span = if position.is_none() {
                entry_span(text)
            } else {
                span_at(text, position)
            };
            let finding = tool_finding(
                check,
                format!("policy {} failed: {message}", quoted(&policy.meta.id)),
            )
            .at_span(policy.file, span)
            .with_label("while evaluating this")
            .with_related(evaluated_on(doc));
            errors.push((
                policy_index,
                format!("{check:?}{message}{position:?}", check = check.id),
                ScriptError {
                    finding,
                    documents: 1,
                    document: doc_index,
                    limit,
                },
            ));
            return incomplete;
        }
        let cap = self.limits.max_findings_per_policy_file;
        let total = frame.reported.len() + frame.dropped;
        for reported in frame.reported.into_iter().take(cap) {
            findings.push(self.locate(policy, doc_index, repo, reported));
        }
        if total > cap {
            // About the data (too many findings on it), not a broken policy: P005's own
            // severity (info) and origin `Data`.
            findings.push(
                codes::POLICY_OUTPUT
                    .finding(format!(
                        "policy {} reported {} more findings on this document",
                        quoted(&policy.meta.id),
                        total - cap
                    ))
                    .at(doc.location(""))
                    .with_document(Some(doc.reference())),
            );
        }
        Evaluated {
            complete: true,
            reads,
        }
    }

    /// One S004 info per invalid field that stopped evaluations: which rules were not
    /// evaluated, on how many documents, located at the field (the document head when it is
    /// missing). Never silence: a reviewer sees which rules still have to run once the field
    /// is fixed.
    pub fn skipped_findings(
        &self,
        repo: &Repository,
        skips: &[SkipRecord],
    ) -> Vec<(DocIndex, Finding)> {
        // (cause document, field) → (rule ids, evaluated documents).
        type Cause = (std::collections::BTreeSet<String>, Vec<DocIndex>);
        let mut causes: BTreeMap<(DocIndex, String), Cause> = BTreeMap::new();
        for skip in skips {
            let entry = causes.entry((skip.cause, skip.field.clone())).or_default();
            entry
                .0
                .insert(self.policies[skip.policy as usize].meta.id.clone());
            entry.1.push(skip.evaluated);
        }
        causes
            .into_iter()
            .map(|((cause, field), (rules, mut evaluated))| {
                evaluated.sort_unstable();
                evaluated.dedup();
                let doc = repo.get(cause);
                let rules: Vec<String> = rules.into_iter().map(|r| quoted(&r)).collect();
                let (rules_text, verb) = match rules.len() {
                    1 => (format!("rule {}", rules[0]), "was"),
                    _ => (format!("rules {}", rules.join(", ")), "were"),
                };
                let on = if evaluated == [cause] {
                    "this document".to_string()
                } else if evaluated.len() == 1 {
                    "1 document".to_string()
                } else {
                    format!("{} documents", evaluated.len())
                };
                let pointer = if field.is_empty() {
                    String::new()
                } else {
                    format!("/{}", crate::yaml::escape_pointer_segment(&field))
                };
                let what = if field.is_empty() {
                    format!("{} {} is invalid", doc.kind, quoted(&doc.id))
                } else {
                    format!("{} is invalid or missing", quoted(&field))
                };
                let mut finding = codes::NOT_EVALUATED
                    .finding(format!(
                        "{what}, so {rules_text} {verb} not evaluated on {on}"
                    ))
                    .at(doc.location(&pointer))
                    .with_pointer(pointer)
                    .with_document(Some(doc.reference()))
                    .with_label("the rules need this value");
                if let Some(&first) = evaluated.iter().find(|&&d| d != cause) {
                    let other = repo.get(first);
                    finding = finding.with_related(RelatedLabel {
                        location: other.location(""),
                        message: format!("not evaluated on {} {}", other.kind, quoted(&other.id)),
                        pointer: Some(String::new()),
                        document: Some(other.reference()),
                    });
                }
                (cause, finding)
            })
            .collect()
    }

    /// The finding for a panic caught while running a policy on a document.
    fn internal_error(
        &self,
        policy_index: usize,
        doc_index: DocIndex,
        repo: &Repository,
        sources: &SourceMap,
        payload: &(dyn std::any::Any + Send),
    ) -> Finding {
        let policy = &self.policies[policy_index];
        let doc = repo.get(doc_index);
        tool_finding(
            codes::INTERNAL_ERROR,
            format!(
                "internal error while running policy {}: {}",
                quoted(&policy.meta.id),
                quoted(&crate::fault::panic_text(payload))
            ),
        )
        .at_span(policy.file, entry_span(&sources.get(policy.file).text))
        .with_label("while evaluating this")
        .with_related(evaluated_on(doc))
    }

    fn locate(
        &self,
        policy: &Policy,
        doc_index: DocIndex,
        repo: &Repository,
        reported: api::Reported,
    ) -> Finding {
        let doc = repo.get(doc_index);
        let sub = reported
            .rule
            .as_deref()
            .and_then(|id| policy.meta.subrule(id));
        let severity = reported
            .severity
            .unwrap_or(sub.map_or(policy.meta.severity, |s| s.severity));
        let code = sub.map_or(policy.meta.id.as_str(), |s| s.id.as_str());
        let help = reported
            .help
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| match sub {
                Some(sub) if !sub.remediation.is_empty() => sub.remediation.clone(),
                _ => policy.meta.remediation.clone(),
            });
        let label = reported
            .label
            .unwrap_or_else(|| api::default_label(&reported.message));
        let mut finding = Finding::new(code, severity, reported.message)
            .with_help(help)
            .at(doc.location(&reported.pointer))
            .with_pointer(reported.pointer)
            .with_document(Some(doc.reference()))
            .with_label(label);
        for related in reported.related {
            if let Some(target) = related.document.map(|i| repo.get(i)) {
                finding.related.push(RelatedLabel {
                    location: target.location(&related.pointer),
                    message: related.message,
                    pointer: Some(related.pointer),
                    document: Some(target.reference()),
                });
            }
        }
        finding
    }
}

/// The related label of a policy error: the document it was evaluating (its `id` line).
fn evaluated_on(doc: &crate::repository::Document) -> RelatedLabel {
    RelatedLabel {
        location: doc.location("/id"),
        message: format!("on {} {}", doc.kind, quoted(&doc.id)),
        pointer: Some("/id".to_string()),
        document: Some(doc.reference()),
    }
}

/// The previous run's results for `key`, when every query the evaluation read answers the
/// same now: its findings on this run's files, its coverage lines and its skip (S004) on this
/// run's documents.
#[allow(clippy::type_complexity)]
fn reusable<'m>(
    previous: &Previous<'m>,
    key: memo::EntryKey,
    repo: &Repository,
    ids: &memo::DocumentIdentities,
) -> Option<(
    Vec<Finding>,
    &'m [u16],
    Option<api::Skipped>,
    &'m [(memo::ReadKey, memo::Fingerprint)],
)> {
    let entry = previous.memo.entries.get(&key)?;
    let unchanged = previous.same_documents
        || entry
            .reads
            .iter()
            .all(|(read, print)| read.fingerprint(repo, &ids.fingerprints) == *print);
    if !unchanged {
        return None;
    }
    let findings = if previous.same_files {
        entry.findings.clone()
    } else {
        entry
            .findings
            .iter()
            .map(|f| memo::rebase_finding(f, &previous.files))
            .collect::<Option<Vec<_>>>()?
    };
    let skip = match &entry.skip {
        None => None,
        Some(skip) => {
            let file = previous
                .files
                .get(skip.document.file.0 as usize)
                .copied()
                .flatten()?;
            let place = memo::DocPlace {
                file,
                ordinal: skip.document.ordinal,
            };
            Some(api::Skipped {
                document: *ids.by_place.get(&place)?,
                field: skip.field.clone(),
                reported_before: 0,
            })
        }
    };
    Some((findings, &entry.reached, skip, &entry.reads))
}

/// The memo entry of a complete evaluation: what it produced and the fingerprint of each query
/// it asked.
fn memo_entry(
    repo: &Repository,
    ids: &memo::DocumentIdentities,
    evaluated: Evaluated,
    findings: &[Finding],
    reached: &[(usize, u16)],
    skipped: &Option<api::Skipped>,
) -> memo::Entry {
    let mut reads = evaluated.reads.unwrap_or_default();
    reads.sort_unstable();
    reads.dedup();
    memo::Entry {
        findings: findings.to_vec(),
        reached: reached.iter().map(|&(_, line)| line).collect(),
        skip: skipped.as_ref().map(|skip| memo::StoredSkip {
            document: ids.places[skip.document as usize],
            field: skip.field.clone(),
        }),
        reads: reads
            .into_iter()
            .map(|read| {
                let print = read.fingerprint(repo, &ids.fingerprints);
                (read, print)
            })
            .collect(),
    }
}
