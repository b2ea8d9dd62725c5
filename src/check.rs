//! The pipeline: discover → read and load (parallel) → schema → repository indexes → identity
//! and references → policies (parallel) → sorted [`Outcome`].
//!
//! Work runs on a dedicated rayon pool whose threads have 16 MiB stacks, so that the recursion
//! limits of Rhai and jsonschema fail as errors and never as stack-overflow aborts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::codes;
use crate::discover::{self, Candidate};
use crate::finding::{code, Finding, Origin, Severity};
use crate::input::ReadScope;
use crate::limits::Limits;
use crate::model::Kind;
use crate::policy::{EvalContext, PolicySet, PolicySources};
use crate::repository::{Document, Repository};
use crate::schema::SchemaSet;
use crate::source::ByteSpan;
use crate::source::{FileId, FileRole, SourceFile, SourceMap};
use crate::yaml;

/// Stack size of worker threads (see the module docs).
pub const WORKER_STACK_BYTES: usize = 16 * 1024 * 1024;

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
        }
    }
}

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
    /// the filters ran; set by [`crate::changed::Selection::retain`].
    pub not_shown: Vec<(crate::changed::Filter, usize)>,
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
    /// The loaded repository (for baselines, changed-document filters and test runners).
    pub repository: Arc<Repository>,
}

/// The check could not run at all (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Discover(#[from] discover::DiscoverError),
    #[error("{0}")]
    Schemas(String),
    #[error(transparent)]
    Policies(#[from] crate::policy::LoadError),
    #[error("cannot start worker threads: {0}")]
    Threads(String),
}

/// Runs a whole check.
pub fn run(options: &CheckOptions) -> Result<Outcome, CheckError> {
    run_with_inputs(options, &[])
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

/// Runs a whole check over `options.paths` plus in-memory files, which go through the same
/// load, schema, reference and policy stages and are reported after the files on disk.
pub fn run_with_inputs(
    options: &CheckOptions,
    memory: &[MemoryInput],
) -> Result<Outcome, CheckError> {
    let pool = worker_pool(options.threads)?;
    pool.install(|| run_in_pool(options, memory))
}

/// How long the workers of a new pool may take to start before the run gives up (exit 2).
const POOL_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the worker pool and waits until every worker has started. A worker that dies while
/// starting (the operating system refuses its stack or signal stack) would leave jobs waiting
/// for it forever; here it is an error instead. At most [`crate::limits::MAX_THREADS`] workers.
fn worker_pool(threads: Option<usize>) -> Result<rayon::ThreadPool, CheckError> {
    use std::sync::{Condvar, Mutex, PoisonError};
    let max = crate::limits::MAX_THREADS;
    if threads.is_some_and(|n| n > max) {
        return Err(CheckError::Threads(format!(
            "at most {max} worker threads can be used"
        )));
    }
    let started = Arc::new((Mutex::new(0usize), Condvar::new()));
    let counter = Arc::clone(&started);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .stack_size(WORKER_STACK_BYTES)
        .thread_name(|i| format!("channelguard-{i}"))
        .start_handler(move |_| {
            let (count, changed) = &*counter;
            *count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
            changed.notify_all();
        })
        .build()
        .map_err(|e| CheckError::Threads(e.to_string()))?;
    let wanted = pool.current_num_threads();
    let (count, changed) = &*started;
    let count = count.lock().unwrap_or_else(PoisonError::into_inner);
    let (count, _) = changed
        .wait_timeout_while(count, POOL_START_TIMEOUT, |n| *n < wanted)
        .unwrap_or_else(PoisonError::into_inner);
    if *count < wanted {
        return Err(CheckError::Threads(format!(
            "only {} of {wanted} worker threads started",
            *count
        )));
    }
    Ok(pool)
}

/// A file after reading, loading and schema validation (one worker's result).
struct LoadedInput {
    text: Arc<str>,
    /// Identified and schema-checked: already the repository's document type.
    documents: Vec<Document>,
    findings: Vec<Finding>,
}

fn run_in_pool(options: &CheckOptions, memory: &[MemoryInput]) -> Result<Outcome, CheckError> {
    let started = Instant::now();
    let mut stages = Vec::new();
    let mut stage_start = started;
    let mut lap = |name: &'static str| {
        let now = Instant::now();
        stages.push((name, now - stage_start));
        stage_start = now;
    };
    let discovery = discover::walk(&options.paths, &options.root, &options.scope)?;
    let mut candidates = discovery.candidates;
    let on_disk = candidates.len();
    candidates.extend(memory.iter().map(|m| Candidate {
        name: m.name.clone(),
        path: m.path.clone(),
        inside_root: false,
    }));
    lap("discover");
    let data_scope = ReadScope::new(&options.root);
    let mut sources = SourceMap::new();
    // Data files first, in sorted order: their FileIds order the report.
    let first_data = sources.len() as u32;
    for candidate in &candidates {
        sources.add(SourceFile::new(
            candidate.name.clone(),
            candidate.path.clone(),
            Arc::from(""),
            FileRole::Data,
        ));
    }
    // Paths the walk could not take: a Y013 on each, after the data files.
    let mut findings: Vec<Finding> = Vec::new();
    for skipped in &discovery.skipped {
        if let Some(problem) = &skipped.problem {
            let file = sources.add(SourceFile::new(
                skipped.name.clone(),
                skipped.path.clone(),
                Arc::from(""),
                FileRole::Data,
            ));
            findings.push(
                codes::UNREADABLE_FILE
                    .finding(problem.clone())
                    .at_span(file, ByteSpan::default())
                    .with_label(skipped.reason.as_str()),
            );
        }
    }
    let loaded_schemas = SchemaSet::load(
        options.schema_dir.as_deref(),
        &mut sources,
        options.limits.max_schema_bytes,
        &options.read_scope(),
    )
    .map_err(CheckError::Schemas)?;
    let schemas = loaded_schemas.set;
    findings.extend(loaded_schemas.findings);

    let inputs: Vec<LoadedInput> = candidates
        .par_iter()
        .enumerate()
        .map(|(i, candidate)| {
            let file = FileId(first_data + i as u32);
            // A panic while loading one file (a bug) becomes an internal-error finding on that
            // file; the other files are still checked.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::fault::test_panic_hook("load", &candidate.name);
                match i.checked_sub(on_disk) {
                    None => load_input(candidate, file, &schemas, options, &data_scope),
                    Some(m) => load_memory_input(&memory[m], file, &schemas, options),
                }
            }))
            .unwrap_or_else(|payload| internal_error(file, &*payload))
        })
        .collect();

    lap("read, parse and validate");
    // The workers read the text: put it into the files registered above.
    let mut documents = Vec::new();
    for (i, (candidate, input)) in candidates.iter().zip(inputs).enumerate() {
        let file = FileId(first_data + i as u32);
        sources.replace(
            file,
            SourceFile::new(
                candidate.name.clone(),
                candidate.path.clone(),
                input.text,
                FileRole::Data,
            ),
        );
        findings.extend(input.findings);
        documents.extend(input.documents);
    }

    // Documents of a kind whose schema is broken are listed once per kind.
    for kind in Kind::ALL {
        if let Some(schema_file) = schemas.broken_schema(kind) {
            let count = documents.iter().filter(|d| d.kind == kind).count();
            if count > 0 {
                findings.push(
                    codes::SCHEMA_ERROR.finding(format!("{count} {kind} documents were not validated because their schema is broken"))
                        .at_span(schema_file, ByteSpan::default())
                        .tool(),
                );
            }
        }
    }

    // Documents of a kind that no schema declares (a `--schemas` directory without the kind's
    // schema, or whose schema lacks `properties.kind.const`) were not validated either: one
    // tool error per kind, at its first document.
    for kind in Kind::ALL {
        if schemas.for_kind(kind).is_some() || schemas.broken_schema(kind).is_some() {
            continue;
        }
        let mut of_kind = documents.iter().filter(|d| d.kind == kind);
        if let Some(first) = of_kind.next() {
            let count = 1 + of_kind.count();
            let dir = options.schema_dir.as_deref().map_or_else(
                || "the bundled schemas".to_string(),
                |d| code(&d.to_string_lossy()),
            );
            findings.push(
                codes::MISSING_SCHEMA
                    .finding(format!(
                        "no schema in {dir} declares kind {}; {count} {kind} {} not validated",
                        code(kind.as_str()),
                        if count == 1 {
                            "document was"
                        } else {
                            "documents were"
                        }
                    ))
                    .at_span(first.file, first.head)
                    .with_label(format!("first {kind} document"))
                    .tool(),
            );
        }
    }

    let document_count = documents.len();
    let mut repository = Repository::new(documents);
    let references = crate::refs::check(&repository);
    findings.extend(references.findings);
    if options.skip_dangling {
        // A reference that does not resolve makes its field invalid: evaluations that read it
        // are skipped and reported, the others still run.
        for (index, field) in references.dangling {
            repository.documents[index as usize].mark_invalid(field);
        }
    }
    let repository = Arc::new(repository);
    lap("index and references");

    let (mut policy_set, policy_findings) = PolicySet::load(
        &options.policies,
        &mut sources,
        &options.limits,
        &options.read_scope(),
    )
    .map_err(CheckError::Policies)?;
    findings.extend(policy_findings);
    policy_set.retain(|meta| !options.disabled_rules.contains(&meta.id));
    let context = EvalContext {
        as_of: options.as_of,
        settings: options.settings.clone(),
        known_fields: Kind::ALL
            .iter()
            .map(|&k| (k, schemas.known_fields(k)))
            .collect(),
    };
    let evaluated = policy_set.evaluate(Arc::clone(&repository), &context, &sources);
    findings.extend(evaluated.findings);
    lap("policies");

    apply_rule_settings(&mut findings, options);
    findings.par_sort_by(Finding::report_order);
    findings.dedup();
    lap("sort");
    let stats = Stats {
        files: candidates.len(),
        skipped: discovery.skipped,
        documents: document_count,
        policies: policy_set.policies.len(),
        elapsed: started.elapsed(),
        stages,
        not_shown: Vec::new(),
    };
    Ok(Outcome {
        sources,
        findings,
        stats,
        policies: policy_set.policies.iter().map(|p| p.meta.clone()).collect(),
        reached: evaluated.reached,
        repository,
    })
}

/// What a file's loading gives when it panicked: one internal-error finding (exit 2).
fn internal_error(file: FileId, payload: &(dyn std::any::Any + Send)) -> LoadedInput {
    let text = crate::fault::panic_text(payload);
    LoadedInput {
        text: Arc::from(""),
        documents: Vec::new(),
        findings: vec![codes::INTERNAL_ERROR
            .finding(format!(
                "internal error while loading this file: {}",
                code(&text)
            ))
            .at_span(file, ByteSpan::default())
            .tool()],
    }
}

fn load_input(
    candidate: &Candidate,
    file: FileId,
    schemas: &SchemaSet,
    options: &CheckOptions,
    data_scope: &ReadScope,
) -> LoadedInput {
    let read = discover::read_file(
        &candidate.path,
        data_scope,
        candidate.inside_root,
        options.limits.max_file_bytes,
        file,
    );
    let mut findings = read.findings;
    let mut documents = Vec::new();
    if read.parse {
        let loaded = yaml::load(&read.text, read.bom, file, &options.limits);
        check_loaded(
            loaded,
            &read.text,
            file,
            schemas,
            &mut documents,
            &mut findings,
        );
    }
    LoadedInput {
        text: read.text,
        documents,
        findings,
    }
}

fn load_memory_input(
    input: &MemoryInput,
    file: FileId,
    schemas: &SchemaSet,
    options: &CheckOptions,
) -> LoadedInput {
    let mut findings = Vec::new();
    let mut documents = Vec::new();
    match &input.regions {
        None => {
            let loaded = yaml::load(&input.text, 0, file, &options.limits);
            check_loaded(
                loaded,
                &input.text,
                file,
                schemas,
                &mut documents,
                &mut findings,
            );
        }
        Some(regions) => {
            for region in regions {
                let view = blank_outside(&input.text, *region);
                let loaded = yaml::load(&view, 0, file, &options.limits);
                check_loaded(loaded, &view, file, schemas, &mut documents, &mut findings);
            }
        }
    }
    LoadedInput {
        text: Arc::clone(&input.text),
        documents,
        findings,
    }
}

/// `text` with every byte outside `region` turned into a space (line breaks kept): the region
/// parses as a document of its own while byte offsets, and so lines and columns, stay those of
/// the whole text.
fn blank_outside(text: &str, region: ByteSpan) -> String {
    text.char_indices()
        .flat_map(|(at, c)| {
            let keep = region.range().contains(&at) || c == '\n' || c == '\r';
            let (shown, times) = if keep { (c, 1) } else { (' ', c.len_utf8()) };
            std::iter::repeat_n(shown, times)
        })
        .collect()
}

/// Identifies and schema-validates the documents of one loaded file.
fn check_loaded(
    loaded: yaml::LoadedFile,
    text: &str,
    file: FileId,
    schemas: &SchemaSet,
    documents: &mut Vec<Document>,
    findings: &mut Vec<Finding>,
) {
    findings.extend(loaded.findings);
    for mut doc in loaded.documents {
        let Some((kind, id, shape_ok)) = identify(&doc, file, findings) else {
            continue;
        };
        let mut checkable = shape_ok && !doc.tainted;
        let mut invalid_fields = Vec::new();
        let mut written = None;
        if checkable {
            if let Some(schema) = schemas.for_kind(kind) {
                let outcome = schema.validate_source(kind, &mut doc, file, Some(text));
                let document_ref = crate::finding::DocumentRef {
                    kind,
                    id: Arc::clone(&id),
                };
                findings.extend(
                    outcome
                        .findings
                        .into_iter()
                        .map(|f| f.with_document(Some(document_ref.clone()))),
                );
                // A schema error does not hide the document from policies: only evaluations
                // that read a field with an error are skipped (and reported).
                invalid_fields = outcome.invalid_fields;
                written = outcome.written.map(Box::new);
            } else {
                // A broken or missing schema: the document was not validated (S002/S003).
                checkable = false;
            }
        }
        documents.push(Document {
            file,
            kind,
            id,
            value: doc.value,
            spans: doc.spans,
            head: doc.head,
            checkable,
            invalid_fields,
            written,
        });
    }
}

/// Reads `kind` and `id`; reports D001–D004. Returns `None` when the document cannot even be
/// indexed (no usable kind or id).
fn identify(
    doc: &yaml::LoadedDocument,
    file: FileId,
    findings: &mut Vec<Finding>,
) -> Option<(Kind, Arc<str>, bool)> {
    let serde_json::Value::Object(map) = &doc.value else {
        let what = crate::finding::describe_value(&doc.value);
        findings.push(
            codes::NOT_A_MAPPING
                .finding(format!("document is {what}, not a mapping"))
                // The head of a document that is not a mapping is the first character of its root
                // node (a byte cut could split a multi-byte character; found by fuzzing).
                .at_span(file, doc.head)
                .with_label("document starts here"),
        );
        return None;
    };
    let kind = match map.get("kind") {
        None => {
            findings.push(
                codes::MISSING_KIND
                    .finding("document has no `kind`".to_string())
                    .at_span(file, doc.head)
                    .with_label("document starts here"),
            );
            return None;
        }
        Some(serde_json::Value::String(name)) => match Kind::parse(name) {
            Some(kind) => kind,
            None => {
                let span = doc.span_or_head("/kind");
                let mut f = codes::UNKNOWN_KIND
                    .finding(format!("unknown kind {}", code(name)))
                    .at_span(file, span)
                    .with_pointer("/kind")
                    .with_label("not a kind of the data model");
                if let Some(best) =
                    crate::suggest::closest(name, Kind::ALL.iter().map(|k| k.as_str()))
                {
                    f.help = Some(format!("did you mean `{best}`?"));
                }
                findings.push(f);
                return None;
            }
        },
        Some(other) => {
            let span = doc.span_or_head("/kind");
            findings.push(
                codes::UNKNOWN_KIND
                    .finding(format!(
                        "`kind` must be a string; found {}",
                        crate::finding::describe_value(other)
                    ))
                    .at_span(file, span)
                    .with_pointer("/kind"),
            );
            return None;
        }
    };
    match map.get("id") {
        Some(serde_json::Value::String(id)) if !id.is_empty() => {
            Some((kind, Arc::from(id.as_str()), true))
        }
        Some(other) => {
            let span = doc.span_or_head("/id");
            let mut f = codes::MISSING_ID
                .finding(format!(
                    "`id` must be a non-empty string; found {}",
                    crate::finding::describe_value(other)
                ))
                .at_span(file, span)
                .with_pointer("/id");
            if other.is_number() {
                f.help = Some(format!("quote it: `id: \"{other}\"`"));
            }
            findings.push(f);
            None
        }
        None => {
            findings.push(
                codes::MISSING_ID
                    .finding(format!("{kind} document has no `id`"))
                    .at_span(file, doc.head)
                    .with_label("document starts here"),
            );
            None
        }
    }
}

/// Applies severity overrides and removes disabled rules. Findings that mean input was not
/// checked ([`codes::means_unchecked`]) are never removed or downgraded (the configuration
/// refuses such settings; this keeps the guarantee for any other caller).
pub fn apply_rule_settings(findings: &mut Vec<Finding>, options: &CheckOptions) {
    findings.retain(|f| {
        codes::means_unchecked(&f.code) || !options.disabled_rules.iter().any(|r| **r == *f.code)
    });
    for finding in findings.iter_mut() {
        if finding.origin == Origin::Data && !codes::means_unchecked(&finding.code) {
            if let Some(severity) = options.severity_overrides.get(&*finding.code) {
                finding.severity = *severity;
            }
        }
    }
}

#[cfg(test)]
mod memory_input_tests {
    use super::*;

    #[test]
    fn regions_load_as_documents_located_in_the_whole_text() {
        let text = "outer: [not, a, document]\nitems:\n  - kind: Customer\n    id: a\n  - kind: Nope\n    id: b\n";
        let second = text.find("kind: Nope").unwrap();
        let input = MemoryInput {
            name: "case.yaml".to_string(),
            path: PathBuf::from("case.yaml"),
            text: Arc::from(text),
            regions: Some(vec![
                ByteSpan::new(text.find("kind: Customer").unwrap(), second - 4),
                ByteSpan::new(second, text.len() - 1),
            ]),
        };
        let mut options = CheckOptions::new(Vec::new(), jiff::civil::date(2024, 6, 30));
        options.policies.builtin = false;
        let outcome = run_with_inputs(&options, &[input]).unwrap();
        assert_eq!(outcome.stats.documents, 1);
        let d003 = outcome
            .findings
            .iter()
            .find(|f| &*f.code == "D003")
            .expect("unknown kind reported");
        let location = d003.location.unwrap();
        assert_eq!(
            outcome
                .sources
                .get(location.file)
                .line_col(location.span.start)
                .line,
            5
        );
        assert_eq!(
            &outcome.sources.get(location.file).text[location.span.range()],
            "Nope"
        );
    }
}
