//! Stage benchmarks (divan): one benchmark per pipeline stage, each on the in-memory output of
//! the stage before it, through the library's public API.
//!
//! ```text
//! cargo bench --bench stages                          # examples/northwind-csp
//! CHANNELGUARD_BENCH_REPO=/tmp/channelguard-bench/c10000 cargo bench --bench stages
//! cargo bench --bench stages -- policies --sample-count 5   # divan's own options after `--`
//! ```
//!
//! `CHANNELGUARD_BENCH_REPO` names the repository (a directory of YAML data, e.g. one written by
//! `examples/generate.rs`); without it the bundled example repository is used, so the benchmarks
//! run on a fresh clone. The stages, in pipeline order:
//!
//! | bench | what it times |
//! |---|---|
//! | `walk_read` | `discover::discover` + `discover::read_file` of every candidate |
//! | `yaml_load` | `yaml::load` (values + span tables) of every file |
//! | `schema_validate` | `KindSchema::validate` of every identified document (input clones untimed) |
//! | `index_build` | `Repository::new` + `refs::check` (building the `Document`s untimed) |
//! | `policies` | `PolicySet::evaluate` with the built-in pack over the indexed repository |
//! | `report_json` / `report_human` | `JsonReporter` / `HumanReporter` over the run's `Outcome` |
//!
//! The per-document stages take `threads` (1, 2): the work is spread with rayon on a pool of
//! that size, as `check` does. Set-up (loading everything once) happens before the first
//! benchmark and is not timed; it prints the repository's size to stderr.

// A benchmark binary reports on stderr (divan's table goes to stdout).
#![allow(clippy::print_stderr)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use channelguard::check::{Outcome, Stats};
use channelguard::discover::{self, Candidate};
use channelguard::finding::Finding;
use channelguard::limits::Limits;
use channelguard::model::Kind;
use channelguard::policy::{EvalContext, PolicySet, PolicySources};
use channelguard::refs;
use channelguard::report::human::HumanReporter;
use channelguard::report::json::JsonReporter;
use channelguard::report::{Report, Reporter};
use channelguard::repository::{Document, Repository};
use channelguard::schema::SchemaSet;
use channelguard::source::{FileId, FileRole, SourceFile, SourceMap};
use channelguard::yaml::{self, LoadedDocument};
use divan::Bencher;
use rayon::prelude::*;

const THREADS: &[usize] = &[1, 2];

fn as_of() -> jiff::civil::Date {
    jiff::civil::date(2024, 6, 30)
}

fn repo_dir() -> PathBuf {
    match std::env::var_os("CHANNELGUARD_BENCH_REPO") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/northwind-csp"
        )),
    }
}

/// One data file after reading.
struct ReadFile {
    file: FileId,
    text: Arc<str>,
    bom: usize,
}

/// One identified document after loading (before schema validation).
#[derive(Clone)]
struct Identified {
    file: FileId,
    kind: Kind,
    id: Arc<str>,
    doc: LoadedDocument,
}

/// Everything the stages need, built once, in pipeline order.
struct Fixture {
    root: PathBuf,
    limits: Limits,
    candidates: Vec<Candidate>,
    files: Vec<ReadFile>,
    identified: Vec<Identified>,
    schemas: SchemaSet,
    /// `identified` after schema validation, with its `checkable` flag and invalid fields.
    validated: Vec<(Identified, (bool, Vec<String>))>,
    policies: PolicySet,
    context: EvalContext,
    /// The run's outcome (sources, sorted findings, repository) for policies and reports.
    outcome: Outcome,
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .stack_size(channelguard::check::WORKER_STACK_BYTES)
        .build()
        .expect("rayon pool")
}

/// `kind` and `id` of a loaded document, as `check` identifies them (findings left out).
fn identify(doc: &LoadedDocument) -> Option<(Kind, Arc<str>)> {
    let map = doc.value.as_object()?;
    let kind = Kind::parse(map.get("kind")?.as_str()?)?;
    let id = map.get("id")?.as_str().filter(|id| !id.is_empty())?;
    Some((kind, Arc::from(id)))
}

fn documents(validated: &[(Identified, (bool, Vec<String>))]) -> Vec<Document> {
    validated
        .iter()
        .map(|(d, (checkable, invalid_fields))| Document {
            invalid_fields: invalid_fields.clone(),
            written: None,
            file: d.file,
            kind: d.kind,
            id: Arc::clone(&d.id),
            value: d.doc.value.clone(),
            spans: d.doc.spans.clone(),
            head: d.doc.head,
            checkable: *checkable,
        })
        .collect()
}

fn read_all(candidates: &[Candidate], root: &std::path::Path, limits: &Limits) -> Vec<ReadFile> {
    let scope = channelguard::input::ReadScope::new(root);
    candidates
        .par_iter()
        .enumerate()
        .map(|(i, c)| {
            let file = FileId(i as u32);
            let read =
                discover::read_file(&c.path, &scope, c.inside_root, limits.max_file_bytes, file);
            ReadFile {
                file,
                text: read.text,
                bom: read.bom,
            }
        })
        .collect()
}

fn load_all(files: &[ReadFile], limits: &Limits) -> Vec<yaml::LoadedFile> {
    files
        .par_iter()
        .map(|f| yaml::load(&f.text, f.bom, f.file, limits))
        .collect()
}

fn validate_all(schemas: &SchemaSet, docs: &mut [Identified]) -> Vec<(bool, Vec<String>)> {
    docs.par_iter_mut()
        .map(|d| match schemas.for_kind(d.kind) {
            Some(schema) if !d.doc.tainted => (
                true,
                schema.validate(d.kind, &mut d.doc, d.file).invalid_fields,
            ),
            _ => (false, Vec::new()),
        })
        .collect()
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = repo_dir();
        let limits = Limits::default();
        let started = std::time::Instant::now();
        let candidates = discover::discover(std::slice::from_ref(&root), &root)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()));
        let files = read_all(&candidates, &root, &limits);

        // Data files take FileIds 0..n, as in `check`; schemas and policies follow.
        let mut sources = SourceMap::new();
        for (c, f) in candidates.iter().zip(&files) {
            sources.add(SourceFile::new(
                c.name.clone(),
                c.path.clone(),
                Arc::clone(&f.text),
                FileRole::Data,
            ));
        }
        let loaded_schemas =
            SchemaSet::load(None, &mut sources, limits.max_schema_bytes, &channelguard::input::ReadScope::default()).expect("schemas");
        let schemas = loaded_schemas.set;
        let mut findings: Vec<Finding> = loaded_schemas.findings;

        let mut identified = Vec::new();
        for (f, loaded) in files.iter().zip(load_all(&files, &limits)) {
            findings.extend(loaded.findings);
            for doc in loaded.documents {
                if let Some((kind, id)) = identify(&doc) {
                    identified.push(Identified {
                        file: f.file,
                        kind,
                        id,
                        doc,
                    });
                }
            }
        }

        let mut validated_docs = identified.clone();
        let checkable = validate_all(&schemas, &mut validated_docs);
        let validated: Vec<(Identified, (bool, Vec<String>))> =
            validated_docs.into_iter().zip(checkable).collect();

        let mut repository = Repository::new(documents(&validated));
        let references = refs::check(&repository);
        findings.extend(references.findings);
        findings.extend(references.references.into_iter().map(|(_, f)| f));
        for (index, field) in references.dangling {
            repository.documents[index as usize].mark_invalid(field);
        }
        let repository = Arc::new(repository);

        let (policies, policy_findings) = PolicySet::load(
            &PolicySources {
                builtin: true,
                directories: Vec::new(),
            },
            &mut sources,
            &limits,
            &channelguard::input::ReadScope::default(),
        )
        .expect("built-in policies");
        findings.extend(policy_findings);
        let context = EvalContext {
            as_of: as_of(),
            settings: HashMap::new(),
            known_fields: Kind::ALL
                .iter()
                .map(|&k| (k, schemas.known_fields(k)))
                .collect(),
        };
        let evaluated = policies.evaluate(Arc::clone(&repository), &context, &sources);
        let evaluated_costs = evaluated.costs;
        findings.extend(evaluated.findings);
        findings.sort_by(Finding::total_order);
        findings.dedup();

        let stats = Stats {
            files: candidates.len(),
            documents: identified.len(),
            policies: policies.policies.len(),
            elapsed: started.elapsed(),
            stages: Vec::new(),
            skipped: Vec::new(),
            not_shown: Vec::new(),
            policy_costs: evaluated_costs,
            evaluations: Default::default(),
            cache_notes: Vec::new(),
            cache_reused: None,
            replayed: false,
            patched: None,
            not_patched: None,
        };
        let bytes: usize = files.iter().map(|f| f.text.len()).sum();
        eprintln!(
            "channelguard stages: {} ({} files, {} documents, {:.1} MB, {} findings; set-up {:.1} s)",
            root.display(),
            stats.files,
            stats.documents,
            bytes as f64 / 1e6,
            findings.len(),
            stats.elapsed.as_secs_f64(),
        );
        let outcome = Outcome {
            sources,
            findings,
            stats,
            policies: policies.policies.iter().map(|p| p.meta.clone()).collect(),
            reached: evaluated.reached,
            documents: channelguard::outcome::DocumentEntry::of(&repository),
            repository: Some(repository),
            suppressed: Default::default(),
        };
        Fixture {
            root,
            limits,
            candidates,
            files,
            identified,
            schemas,
            validated,
            policies,
            context,
            outcome,
        }
    })
}

/// Walk + read: `discover` (sequential, as in `check`) and `read_file` of every candidate.
#[divan::bench(args = THREADS)]
fn walk_read(bencher: Bencher, threads: usize) {
    let f = fixture();
    let pool = pool(threads);
    bencher.bench(|| {
        pool.install(|| {
            let candidates = discover::discover(std::slice::from_ref(&f.root), &f.root).unwrap();
            read_all(&candidates, &f.root, &f.limits)
        })
    });
}

/// YAML load with spans: `yaml::load` of every file.
#[divan::bench(args = THREADS)]
fn yaml_load(bencher: Bencher, threads: usize) {
    let f = fixture();
    let pool = pool(threads);
    bencher.bench(|| pool.install(|| load_all(&f.files, &f.limits)));
}

/// Schema validation: `KindSchema::validate` of every identified document (it may normalise a
/// document in place, so each iteration gets fresh clones, made outside the timing).
#[divan::bench(args = THREADS)]
fn schema_validate(bencher: Bencher, threads: usize) {
    let f = fixture();
    let pool = pool(threads);
    bencher
        .with_inputs(|| f.identified.clone())
        .bench_local_refs(|docs| pool.install(|| validate_all(&f.schemas, docs)));
}

/// Index build: `Repository::new` (all indexes) + `refs::check` (identity and references).
/// Sequential in `check`, so no thread argument.
#[divan::bench]
fn index_build(bencher: Bencher) {
    let f = fixture();
    bencher
        .with_inputs(|| documents(&f.validated))
        .bench_local_values(|docs| {
            let repository = Repository::new(docs);
            let references = refs::check(&repository);
            (repository, references)
        });
}

/// Policy evaluation: `PolicySet::evaluate` with the built-in pack over the indexed repository
/// (every policy on every document it applies to).
#[divan::bench(args = THREADS)]
fn policies(bencher: Bencher, threads: usize) {
    let f = fixture();
    let pool = pool(threads);
    bencher.bench(|| {
        pool.install(|| {
            f.policies.evaluate(
                Arc::clone(f.outcome.repository.as_ref().expect("a fresh run")),
                &f.context,
                &f.outcome.sources,
            )
        })
    });
}

fn report(f: &Fixture) -> Report<'_> {
    Report {
        outcome: &f.outcome,
        as_of: as_of(),
        show_waived: false,
        fail_on: channelguard::finding::Severity::Error,
    }
}

/// Report rendering: `--format json` into memory.
#[divan::bench]
fn report_json(bencher: Bencher) {
    let f = fixture();
    let report = report(f);
    bencher.bench(|| {
        let mut out = Vec::new();
        JsonReporter.write(&report, &mut out).unwrap();
        out
    });
}

/// Report rendering: `--format human` (miette snippets, no colour) into memory.
#[divan::bench]
fn report_human(bencher: Bencher) {
    let f = fixture();
    let report = report(f);
    let reporter = HumanReporter {
        timing: false,
        ..HumanReporter::default()
    };
    bencher.bench(|| {
        let mut out = Vec::new();
        reporter.write(&report, &mut out).unwrap();
        out
    });
}

fn main() {
    // Build the fixture first so that its set-up line precedes the table; `--list` and `--test`
    // need no data.
    let listing = std::env::args().any(|a| a == "--list");
    if !listing {
        let f = fixture();
        assert_eq!(f.candidates.len(), f.files.len());
    }
    // Whole-repository iterations are long: fewer samples than divan's default 100, and a cap
    // per benchmark. `-- --sample-count N --max-time S` overrides both.
    divan::Divan::default()
        .sample_count(10)
        .max_time(Duration::from_secs(20))
        .config_with_args()
        .main();
}
