//! Channel policies: loading Rhai scripts (the embedded built-in pack and user directories),
//! reading their headers, compiling each once, and evaluating them over the repository in
//! parallel with one Rhai conversion per document.
//!
//! A policy is a `.rhai` file with a metadata header ([`meta`]) and an entry point
//! `fn check(doc)` that calls `report(pointer, message, help)` for each violation. Script
//! errors, limit breaches and a policy that can never run become located findings (exit 2);
//! the other policies still run.

pub mod api;
pub mod engine;
pub mod guard;
pub mod meta;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use rhai::{Dynamic, Engine, EvalAltResult, ImmutableString, Position, AST};

use crate::codes::{self, BuiltinCheck};
use crate::finding::{code, ByteSpan, Finding, Location, Origin, RelatedLabel, Severity};
use crate::input::{read_text, Origin as ReadOrigin, ReadScope, Refused};
use crate::limits::Limits;
use crate::repository::{DocIndex, Kind, Repository};
use crate::source::{FileId, FileRole, SourceFile, SourceMap};

pub use meta::{PolicyMeta, SettingDecl};

include!(concat!(env!("OUT_DIR"), "/builtin_policies.rs"));

/// Where a policy came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyOrigin {
    Builtin,
    Directory(PathBuf),
}

/// Policy scripts compiled by this process so far (see [`compiled_policies`]).
static COMPILED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many policy scripts this process has compiled: a test of the pipeline compares it
/// before and after a run to prove that each policy is compiled once per run.
pub fn compiled_policies() -> usize {
    COMPILED.load(std::sync::atomic::Ordering::Relaxed)
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
}

/// How to assemble the policy set.
#[derive(Clone, Debug, Default)]
pub struct PolicySources {
    pub builtin: bool,
    pub directories: Vec<PathBuf>,
}

fn check_finding(check: &BuiltinCheck, message: String) -> Finding {
    check.finding(message).tool()
}

/// The check and message for a policy file the reader refused or that is not UTF-8.
fn unreadable_policy(
    problem: Result<usize, Refused>,
    limits: &Limits,
) -> (&'static BuiltinCheck, String) {
    match problem {
        Ok(valid) => (
            codes::INVALID_ENCODING,
            format!("policy file is not valid UTF-8 (byte {valid}); not loaded"),
        ),
        Err(Refused::TooLarge { .. }) => (
            codes::POLICY_LIMIT,
            format!(
                "policy file is larger than {} bytes; not loaded",
                limits.max_policy_bytes
            ),
        ),
        Err(refused) => (codes::UNREADABLE_FILE, format!("policy file: {refused}")),
    }
}

/// P004 on the second of two policy files that declare the same id.
fn duplicate_policy(second: &Policy, first: &Policy, text: &str) -> Finding {
    let header = id_line(text);
    check_finding(
        codes::POLICY_METADATA,
        format!(
            "policy id {} is declared again; this file is not loaded",
            code(&second.meta.id)
        ),
    )
    .at_span(second.file, header)
    .with_label("second declaration")
    .with_related(RelatedLabel {
        location: Location {
            file: first.file,
            span: ByteSpan::default(),
        },
        message: "the policy with this id that is loaded".to_string(),
        pointer: None,
        document: None,
    })
    .with_help("give one of the two policies another id, or delete one of the files")
}

/// The span of the header's `//! id:` line (the start of the file if there is none).
fn id_line(text: &str) -> ByteSpan {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        if body
            .trim_start()
            .strip_prefix("//!")
            .is_some_and(|rest| rest.trim_start().starts_with("id:"))
        {
            return ByteSpan::new(offset, offset + body.len());
        }
        offset += line.len();
    }
    ByteSpan::default()
}

/// Byte offset of a Rhai position (1-based line, 1-based character column) in `text`.
pub fn position_offset(text: &str, position: Position) -> Option<usize> {
    let line = position.line()?;
    let column = position.position().unwrap_or(1);
    let mut offset = 0;
    for (index, l) in text.split_inclusive('\n').enumerate() {
        if index + 1 == line {
            let column_offset = l
                .char_indices()
                .nth(column.saturating_sub(1))
                .map_or(l.trim_end().len(), |(b, _)| b);
            return Some(offset + column_offset);
        }
        offset += l.len();
    }
    None
}

fn span_at(text: &str, position: Position) -> ByteSpan {
    match position_offset(text, position) {
        Some(at) => {
            let end = text[at..]
                .chars()
                .next()
                .filter(|c| *c != '\n')
                .map_or(at, |c| at + c.len_utf8());
            ByteSpan::new(at, end)
        }
        None => ByteSpan::default(),
    }
}

/// Lines that call a `report*` function, found textually (comments excluded).
fn report_lines(script: &str) -> Vec<u16> {
    script
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = line.split("//").next().unwrap_or("");
            ["report(", "report_warning(", "report_info("]
                .iter()
                .any(|f| code.contains(f))
        })
        .map(|(i, _)| i as u16 + 1)
        .collect()
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
    /// Loads the built-in pack and/or user directories. A user policy with the id of a built-in
    /// one replaces it. Problems are returned as findings (origin `Tool`) pointing into the
    /// scripts; a directory that cannot be read is an error.
    pub fn load(
        sources_spec: &PolicySources,
        sources: &mut SourceMap,
        limits: &Limits,
        scope: &ReadScope,
    ) -> Result<(PolicySet, Vec<Finding>), String> {
        let mut engine = engine::build(limits);
        api::register(&mut engine);
        // The text, or why a file cannot be used (reported on the file; the others still load).
        type Script = (
            String,
            PathBuf,
            Result<Arc<str>, (&'static BuiltinCheck, String)>,
            PolicyOrigin,
        );
        let mut scripts: Vec<Script> = Vec::new();
        if sources_spec.builtin {
            for (name, text) in BUILTIN_POLICIES {
                scripts.push((
                    format!("<builtin>/{name}"),
                    PathBuf::from(name),
                    Ok(Arc::from(*text)),
                    PolicyOrigin::Builtin,
                ));
            }
        }
        for dir in &sources_spec.directories {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| format!("cannot read policy directory `{}`: {e}", dir.display()))?;
            let mut paths: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "rhai") && !p.is_dir())
                .collect();
            paths.sort();
            for path in paths {
                let name = policy_name(&path);
                // Through the one safe reader; a file that cannot be used is a located finding
                // and the other policies still load.
                let text = read_text(&path, scope, ReadOrigin::Named, limits.max_policy_bytes)
                    .map(Arc::from)
                    .map_err(|problem| unreadable_policy(problem, limits));
                scripts.push((name, path, text, PolicyOrigin::Directory(dir.clone())));
            }
        }

        let mut findings = Vec::new();
        let mut by_id: BTreeMap<String, Policy> = BTreeMap::new();
        for (name, path, text, origin) in scripts {
            let (text, problem) = match text {
                Ok(text) => (text, None),
                Err(problem) => (Arc::from(""), Some(problem)),
            };
            let file = sources.add(SourceFile::new(
                name.clone(),
                path.clone(),
                Arc::clone(&text),
                FileRole::Policy,
            ));
            if let Some((check, message)) = problem {
                findings.push(check_finding(check, message).at_span(file, ByteSpan::default()));
                continue;
            }
            let Some(policy) = Self::load_one(&engine, file, &text, origin, &mut findings) else {
                continue;
            };
            match by_id.get(&policy.meta.id) {
                // Two files on disk with one id: the first (in path order) stays, the second is
                // reported instead of silently replacing it. A user policy replacing a built-in
                // one is the documented way to change a built-in rule.
                Some(first) if matches!(first.origin, PolicyOrigin::Directory(_)) => {
                    findings.push(duplicate_policy(&policy, first, &text));
                }
                _ => {
                    by_id.insert(policy.meta.id.clone(), policy);
                }
            }
        }
        Ok((
            PolicySet {
                policies: by_id.into_values().collect(),
                engine,
                limits: limits.clone(),
            },
            findings,
        ))
    }

    fn load_one(
        engine: &Engine,
        file: FileId,
        text: &str,
        origin: PolicyOrigin,
        findings: &mut Vec<Finding>,
    ) -> Option<Policy> {
        if text.lines().count() > 20_000 {
            findings.push(
                check_finding(
                    codes::POLICY_LIMIT,
                    "policy file has more than 20,000 lines; not loaded".to_string(),
                )
                .at_span(file, ByteSpan::default()),
            );
            return None;
        }
        let meta = match meta::parse(text) {
            Ok(meta) => meta,
            Err(error) => {
                let at = text
                    .split_inclusive('\n')
                    .take(error.line - 1)
                    .map(str::len)
                    .sum::<usize>();
                let end = text[at..].find('\n').map_or(text.len(), |e| at + e);
                findings.push(
                    check_finding(codes::POLICY_METADATA, error.message)
                        .at_span(file, ByteSpan::new(at, end))
                        .with_label("header"),
                );
                return None;
            }
        };
        COMPILED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ast = match engine.compile(text) {
            Ok(ast) => ast,
            Err(error) => {
                let position = error.position();
                findings.push(
                    check_finding(
                        codes::POLICY_SYNTAX,
                        format!(
                            "policy {} does not compile: {}",
                            code(&meta.id),
                            lowercase_first(&error.err_type().to_string())
                        ),
                    )
                    .at_span(file, span_at(text, position))
                    .with_label("syntax error here"),
                );
                return None;
            }
        };
        let has_entry = ast
            .iter_functions()
            .any(|f| f.name == "check" && f.params.len() == 1);
        if !has_entry {
            findings.push(
                check_finding(
                    codes::POLICY_METADATA,
                    format!(
                        "policy {} has no entry point `fn check(doc)`; it could never fire",
                        code(&meta.id)
                    ),
                )
                .at_span(
                    file,
                    ByteSpan::new(0, text.find('\n').unwrap_or(text.len())),
                )
                .with_label("policy defined here")
                .with_help(
                    "add `fn check(doc) { ... }`, called once per document of the policy's kinds",
                ),
            );
            return None;
        }
        Some(Policy {
            meta,
            file,
            origin,
            ast,
            report_lines: report_lines(text),
        })
    }

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

    /// Drops policies whose ids are in `disabled`.
    pub fn retain(&mut self, keep: impl Fn(&PolicyMeta) -> bool) {
        self.policies.retain(|p| keep(&p.meta));
    }
}

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
}

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
fn entry_span(text: &str) -> ByteSpan {
    text.find("fn check").map_or_else(ByteSpan::default, |at| {
        ByteSpan::new(at, at + "fn check".len())
    })
}

/// The text of a caught panic.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
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
        if self.policies.is_empty() {
            return EvalOutcome::default();
        }
        let mut settings: HashMap<String, Dynamic> = HashMap::new();
        for (name, (decl, _)) in self.declared_settings() {
            let value = context.settings.get(&name).unwrap_or(&decl.default);
            settings.insert(name, api::to_dynamic(value));
        }
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
        }
        let partials: Vec<Partial> = (0..repo.documents.len() as DocIndex)
            .into_par_iter()
            .with_min_len(64)
            .fold(
                || Partial {
                    findings: Vec::new(),
                    errors: Vec::new(),
                    reached: Vec::new(),
                    output: Vec::new(),
                    skips: Vec::new(),
                },
                |mut partial, index| {
                    let doc = repo.get(index);
                    if !doc.checkable {
                        return partial;
                    }
                    for &p in &applicable[doc.kind as usize] {
                        if index > tripped[p].load(Ordering::Relaxed) {
                            continue;
                        }
                        let mut findings = Vec::new();
                        let mut reached = Vec::new();
                        let mut output = Vec::new();
                        let mut skipped = None;
                        // A panic in the engine or the API (a bug) becomes an internal-error
                        // finding for this policy and document; the others still run.
                        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            crate::fault::test_panic_hook("policy", &sources.get(doc.file).name);
                            self.evaluate_one(
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
                            );
                        }));
                        if let Err(payload) = caught {
                            engine::set_deadline(None);
                            findings.clear();
                            findings.push(self.internal_error(p, index, &repo, sources, &*payload));
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
                    }
                    partial
                },
            )
            .collect();

        let mut outcome = EvalOutcome::default();
        let mut errors: BTreeMap<(usize, String), ScriptError> = BTreeMap::new();
        let mut output: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        let breaker: Vec<DocIndex> = tripped.iter().map(|t| t.load(Ordering::Relaxed)).collect();
        let kept = |policy: usize, document: DocIndex| document <= breaker[policy];
        let mut skips: Vec<(usize, DocIndex, api::Skipped)> = Vec::new();
        for partial in partials {
            skips.extend(partial.skips.into_iter().filter(|(p, d, _)| kept(*p, *d)));
            outcome.findings.extend(
                partial
                    .findings
                    .into_iter()
                    .filter(|(p, d, _)| kept(*p, *d))
                    .map(|(_, _, f)| f),
            );
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
        }
        outcome.findings.extend(self.skipped_findings(&repo, skips));
        for (policy, mut texts) in output {
            texts.sort();
            texts.dedup();
            let policy = &self.policies[policy];
            let text = &sources.get(policy.file).text;
            let at = text
                .find("print(")
                .or_else(|| text.find("debug("))
                .unwrap_or(0);
            outcome.findings.push(
                check_finding(
                    codes::POLICY_OUTPUT,
                    format!(
                        "policy {} printed {}",
                        code(&policy.meta.id),
                        code(&texts[0])
                    ),
                )
                .at_span(policy.file, ByteSpan::new(at, at + 5))
                .with_label(format!("{} distinct lines printed", texts.len())),
            );
            if let Some(last) = outcome.findings.last_mut() {
                last.origin = Origin::Data;
                last.severity = Severity::Info;
            }
        }
        for lines in outcome.reached.values_mut() {
            lines.sort_unstable();
            lines.dedup();
        }
        outcome
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
    ) {
        let policy = &self.policies[policy_index];
        let repo = &shared.repo;
        let doc = repo.get(doc_index);
        engine::set_deadline(Some(Instant::now() + self.limits.policy_deadline));
        engine::set_cancel(tripped, policy_index, doc_index);
        let argument = api::document_value(doc_index);
        let cap = self.limits.max_findings_per_policy_file;
        let (result, frame) = api::with_frame(shared, cap, || {
            let mut scope = rhai::Scope::new();
            let options = rhai::CallFnOptions::new()
                .eval_ast(false)
                .rewind_scope(true);
            with_thread_ast(self, shared, policy_index, sources, |ast| {
                self.engine.call_fn_with_options::<Dynamic>(
                    options,
                    &mut scope,
                    ast,
                    "check",
                    (argument,),
                )
            })
        });
        engine::set_deadline(None);
        reached.extend(frame.reached.iter().map(|&line| (policy_index, line)));
        let mut frame = frame;
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
                return;
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
            let finding = check_finding(
                check,
                format!("policy {} failed: {message}", code(&policy.meta.id)),
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
            return;
        }
        let cap = self.limits.max_findings_per_policy_file;
        let total = frame.reported.len() + frame.dropped;
        for reported in frame.reported.into_iter().take(cap) {
            findings.push(self.locate(policy, doc_index, repo, reported));
        }
        if total > cap {
            findings.push(
                check_finding(
                    codes::POLICY_OUTPUT,
                    format!(
                        "policy {} reported {} more findings on this document",
                        code(&policy.meta.id),
                        total - cap
                    ),
                )
                .at(doc.location(""))
                .with_document(Some(doc.reference())),
            );
            if let Some(last) = findings.last_mut() {
                last.origin = Origin::Data;
                last.severity = Severity::Info;
            }
        }
    }

    /// One S004 info per invalid field that stopped evaluations: which rules were not
    /// evaluated, on how many documents, located at the field (the document head when it is
    /// missing). Never silence: a reviewer sees which rules still have to run once the field
    /// is fixed.
    fn skipped_findings(
        &self,
        repo: &Repository,
        skips: Vec<(usize, DocIndex, api::Skipped)>,
    ) -> Vec<Finding> {
        // (cause document, field) → (rule ids, evaluated documents).
        type Cause = (std::collections::BTreeSet<String>, Vec<DocIndex>);
        let mut causes: BTreeMap<(DocIndex, String), Cause> = BTreeMap::new();
        for (policy, evaluated, skip) in skips {
            let entry = causes.entry((skip.document, skip.field)).or_default();
            entry.0.insert(self.policies[policy].meta.id.clone());
            entry.1.push(evaluated);
        }
        causes
            .into_iter()
            .map(|((cause, field), (rules, mut evaluated))| {
                evaluated.sort_unstable();
                evaluated.dedup();
                let doc = repo.get(cause);
                let rules: Vec<String> = rules.into_iter().map(|r| code(&r)).collect();
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
                    format!("{} {} is invalid", doc.kind, code(&doc.id))
                } else {
                    format!("{} is invalid or missing", code(&field))
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
                        message: format!("not evaluated on {} {}", other.kind, code(&other.id)),
                        pointer: Some(String::new()),
                        document: Some(other.reference()),
                    });
                }
                finding
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
        check_finding(
            codes::INTERNAL_ERROR,
            format!(
                "internal error while running policy {}: {}",
                code(&policy.meta.id),
                code(&panic_text(payload))
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
        let severity = reported.severity.unwrap_or(policy.meta.severity);
        let help = reported
            .help
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| policy.meta.remediation.clone());
        let mut finding = Finding::new(policy.meta.id.as_str(), severity, reported.message)
            .with_help(help)
            .at(doc.location(&reported.pointer))
            .with_pointer(reported.pointer)
            .with_document(Some(doc.reference()))
            .with_label(policy.meta.title.clone());
        for related in reported.related {
            let target = related
                .kind
                .and_then(|k| repo.find(k, &related.id))
                .map(|i| repo.get(i));
            if let Some(target) = target {
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

/// Whether an evaluation was stopped by its policy's breaker (not a problem of its own).
fn is_cancelled(error: &EvalAltResult) -> bool {
    let mut inner = error;
    while let EvalAltResult::ErrorInFunctionCall(_, _, next, _) = inner {
        inner = next;
    }
    matches!(inner, EvalAltResult::ErrorTerminated(token, _)
        if token.clone().into_string().ok().as_deref() == Some(engine::CANCEL_TOKEN))
}

/// Maps a Rhai error to a check and a message in our style.
fn describe_error(error: &EvalAltResult, limits: &Limits) -> (&'static BuiltinCheck, String) {
    let mut inner = error;
    while let EvalAltResult::ErrorInFunctionCall(_, _, next, _) = inner {
        inner = next;
    }
    match inner {
        EvalAltResult::ErrorTooManyOperations(_) => (
            codes::POLICY_LIMIT,
            format!(
                "operation budget exceeded ({} operations)",
                limits.policy_operations
            ),
        ),
        EvalAltResult::ErrorTerminated(..) => (
            codes::POLICY_LIMIT,
            format!(
                "timed out after {:.1} s",
                limits.policy_deadline.as_secs_f64()
            ),
        ),
        EvalAltResult::ErrorStackOverflow(_) => (
            codes::POLICY_LIMIT,
            "call depth exceeded (runaway recursion)".to_string(),
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => (
            codes::POLICY_LIMIT,
            format!("data limit exceeded: {}", what.to_lowercase()),
        ),
        EvalAltResult::ErrorTooManyVariables(_) | EvalAltResult::ErrorTooManyModules(_) => {
            (codes::POLICY_LIMIT, inner.to_string())
        }
        EvalAltResult::ErrorDotExpr(text, _) if text.starts_with("No writable property") => {
            let field = text.split('\'').nth(1).unwrap_or("?");
            (codes::POLICY_RUNTIME, format!("cannot assign to `{field}`: documents are read-only (copy a value into a variable first)"))
        }
        EvalAltResult::Exit(..) => (codes::POLICY_RUNTIME, "policy called `exit()`".to_string()),
        other => {
            // A thrown value is shown through its `Display`, which writes out what closures
            // captured: never more than a report's text (guard.rs).
            let text = guard::display_capped(other, api::MAX_REPORT_TEXT);
            // Rhai appends " (line N, position M)"; the location is shown separately.
            let text = text.split(" (line ").next().unwrap_or(&text).to_string();
            (codes::POLICY_RUNTIME, lowercase_first(&text))
        }
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The related label of a policy error: the document it was evaluating (its `id` line).
fn evaluated_on(doc: &crate::repository::Document) -> RelatedLabel {
    RelatedLabel {
        location: doc.location("/id"),
        message: format!("on {} {}", doc.kind, code(&doc.id)),
        pointer: Some("/id".to_string()),
        document: Some(doc.reference()),
    }
}

thread_local! {
    /// This worker's own compiled copies of the policies, for the run whose `Shared` is named.
    static THREAD_ASTS: std::cell::RefCell<Option<(usize, Vec<Option<AST>>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `body` with this worker thread's own AST of a policy. The string constants of an AST
/// are reference-counted: with one AST shared by both workers, every use of a literal such as
/// `"csp"` bumped a count on a cache line the other core was bumping too. Compiling the pack
/// again per worker costs a few milliseconds per run.
fn with_thread_ast<T>(
    set: &PolicySet,
    shared: &Arc<api::Shared>,
    policy: usize,
    sources: &SourceMap,
    body: impl FnOnce(&AST) -> T,
) -> T {
    let run = Arc::as_ptr(shared) as usize;
    THREAD_ASTS.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(owner, _)| *owner != run) {
            *slot = Some((run, vec![None; set.policies.len()]));
        }
        let asts = &mut slot.as_mut().expect("installed above").1;
        if asts[policy].is_none() {
            let text = &sources.get(set.policies[policy].file).text;
            // It compiled once already; should it not now, the shared AST is the fallback.
            asts[policy] = Some(
                set.engine
                    .compile(&**text)
                    .unwrap_or_else(|_| set.policies[policy].ast.clone()),
            );
        }
        let ast = asts[policy].as_ref().expect("compiled above");
        body(ast)
    })
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
