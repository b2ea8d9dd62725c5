//! The pipeline: discover → read and load (parallel) → schema → repository indexes → identity
//! and references → policies (parallel) → sorted [`Outcome`].
//!
//! Work runs on a dedicated rayon pool whose threads have 16 MiB stacks, so that the recursion
//! limits of Rhai and jsonschema fail as errors and never as stack-overflow aborts.
//!
//! A caller needs only this module: the options it takes ([`CheckOptions`], [`MemoryInput`],
//! from `options`) and the outcome it returns ([`Outcome`], [`Stats`], from `outcome`) are
//! re-exported here. Inside the library, import them from their own modules.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::codes;
use crate::config::{LoadedConfig, RuleCatalog};
use crate::discover::{self, Candidate};
use crate::finding::{quoted, Finding};
use crate::input::ReadScope;
use crate::model::Kind;
use crate::suppress;

use crate::memo::Memo;
pub use crate::options::{CheckOptions, MemoryInput};
pub use crate::outcome::{Outcome, Stats};
use crate::policy::{EvalContext, MemoRequest, PolicySet};
use crate::replay::{FindingOrigin, Replay};
use crate::repository::{Document, Repository};
use crate::schema::SchemaSet;
use crate::source::ByteSpan;
use crate::source::{FileId, FileRole, SourceFile, SourceMap};
use crate::yaml;

/// Stack size of worker threads (see the module docs).
pub const WORKER_STACK_BYTES: usize = 16 * 1024 * 1024;

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
    #[error(transparent)]
    Suppress(#[from] suppress::SuppressError),
    #[error("files changed while they were checked; run again")]
    Changed,
}

/// Runs a whole check without a configuration file (see [`run_with_config`]).
pub fn run(options: &CheckOptions) -> Result<Outcome, CheckError> {
    pipeline(options, None, &[], &mut MemoRequest::default())
}

/// The one entry of a check: options (the command line with the configuration applied, see
/// [`crate::config::Config::apply_to`]) and the configuration file → the [`Outcome`].
///
/// Policies are loaded and compiled once; the configuration's rule ids and settings are
/// checked against them (phase 2) before any data is read. When the configuration has errors
/// nothing is checked: the outcome holds only those errors, so exit code 2 never mixes with
/// findings computed under a half-applied configuration. Then rule settings, waivers, sorting
/// and the report filters are applied once, in the order of [`crate::suppress`].
pub fn run_with_config(
    options: &CheckOptions,
    config: Option<&LoadedConfig>,
) -> Result<Outcome, CheckError> {
    pipeline(options, config, &[], &mut MemoRequest::default())
}

/// [`run_with_config`], incrementally: the policy evaluations of `previous` (the memo of an
/// earlier run) whose document and read set are unchanged are reused instead of run again
/// ([`crate::memo`]); the outcome is the same as without it. Gives this run's memo, for the
/// next run (empty when the configuration has errors and nothing was checked).
pub fn run_with_memo(
    options: &CheckOptions,
    config: Option<&LoadedConfig>,
    previous: Option<Memo>,
) -> Result<(Outcome, Memo), CheckError> {
    let mut request = MemoRequest {
        previous,
        record: true,
        ..MemoRequest::default()
    };
    let outcome = pipeline(options, config, &[], &mut request)?;
    Ok((outcome, request.previous.take().unwrap_or_default()))
}

/// Runs a whole check over `options.paths` plus in-memory files, which go through the same
/// load, schema, reference and policy stages and are reported after the files on disk.
pub fn run_with_inputs(
    options: &CheckOptions,
    memory: &[MemoryInput],
) -> Result<Outcome, CheckError> {
    pipeline(options, None, memory, &mut MemoRequest::default())
}

/// Runs the check. `memo` goes in with the previous run's memo and comes out with this run's
/// (when it asks to record one; else it is consumed).
fn pipeline(
    options: &CheckOptions,
    config: Option<&LoadedConfig>,
    memory: &[MemoryInput],
    memo: &mut MemoRequest,
) -> Result<Outcome, CheckError> {
    let mut outcome = match config.and_then(config_problems_before_policies) {
        Some(outcome) => {
            memo.previous = None;
            outcome
        }
        None => {
            let pool = worker_pool(options.threads)?;
            pool.install(|| {
                let first_request = memo.record;
                let attempt = match run_in_pool(options, config, memory, memo, true, true)? {
                    // The change was not one a patch can answer: a full run.
                    Attempt::Unpatched(reason) => {
                        match run_in_pool(options, config, memory, memo, true, false)? {
                            Attempt::Done(mut outcome) => {
                                outcome.stats.not_patched = Some(reason.0);
                                Attempt::Done(outcome)
                            }
                            attempt => attempt,
                        }
                    }
                    attempt => attempt,
                };
                match attempt {
                    Attempt::Done(outcome) => Ok(*outcome),
                    Attempt::ChangedDuringRun => {
                        // Only a run that loads its own memo trusts stamps: start it afresh.
                        debug_assert!(!first_request);
                        *memo = MemoRequest::default();
                        match run_in_pool(options, config, memory, memo, false, false)? {
                            Attempt::Done(mut outcome) => {
                                outcome.stats.cache_notes.push(
                                    "a file changed while it was checked; checked again, reading every file"
                                        .to_string(),
                                );
                                Ok(*outcome)
                            }
                            // Without trusted stamps every file is read: not reached.
                            Attempt::ChangedDuringRun | Attempt::Unpatched(_) => {
                                Err(CheckError::Changed)
                            }
                        }
                    }
                    Attempt::Unpatched(_) => Err(CheckError::Changed),
                }
            })?
        }
    };
    suppress::apply_report_filters(&mut outcome, options)?;
    Ok(outcome)
}

/// The outcome of a configuration with errors found while reading it (phase 1): nothing else
/// is loaded.
fn config_problems_before_policies(config: &LoadedConfig) -> Option<Outcome> {
    (!config.findings.is_empty()).then(|| config_errors(config, config.findings.clone()))
}

/// An outcome that holds only the configuration's errors, located in the configuration file.
fn config_errors(config: &LoadedConfig, mut findings: Vec<Finding>) -> Outcome {
    let mut sources = SourceMap::new();
    // The findings were built on the id the file gets when it is registered first.
    let file = sources.add(config.source_file());
    debug_assert_eq!(file, crate::config::CONFIG_FILE);
    findings.sort_by(Finding::report_order);
    Outcome {
        sources,
        findings,
        stats: Stats::default(),
        policies: Vec::new(),
        reached: std::collections::BTreeMap::new(),
        documents: Vec::new(),
        repository: Some(Arc::new(Repository::new(Vec::new()))),
        suppressed: Default::default(),
    }
}

/// The policies of a run, compiled once, with the files they were read from registered in a
/// [`SourceMap`] of their own (spliced into the run's map after the data and schema files).
pub struct LoadedPolicies {
    pub set: PolicySet,
    pub sources: SourceMap,
    /// Problems of the policies that did not load (located in their scripts).
    pub findings: Vec<Finding>,
}

/// Loads and compiles the policies the options name (built-in pack and directories), as a run
/// does; `explain` and `list` use it too.
pub fn load_policies(options: &CheckOptions) -> Result<LoadedPolicies, CheckError> {
    let mut sources = SourceMap::new();
    let (set, findings) = PolicySet::load(
        &options.policies,
        &mut sources,
        &options.limits,
        &options.read_scope(),
    )
    .map_err(CheckError::Policies)?;
    Ok(LoadedPolicies {
        set,
        sources,
        findings,
    })
}

/// What phase 2 of the configuration checks against: the built-in checks and policies (known
/// even under `--no-builtin-policies`, so one configuration serves runs with and without the
/// built-in pack; read from their headers, not compiled again) and the loaded policies.
fn rule_catalog(loaded: &PolicySet, options: &CheckOptions) -> RuleCatalog {
    let mut metas: std::collections::BTreeMap<String, crate::policy::PolicyMeta> = loaded
        .policies
        .iter()
        .map(|p| (p.meta.id.clone(), p.meta.clone()))
        .collect();
    if !options.policies.builtin {
        for (_, text) in crate::policy::BUILTIN_POLICIES {
            if let Ok(meta) = crate::policy::meta::parse(text) {
                metas.entry(meta.id.clone()).or_insert(meta);
            }
        }
    }
    RuleCatalog::from_metas(metas.values())
}

/// What the command line asks of a run, before the configuration is read.
#[derive(Clone, Debug, Default)]
pub struct CommandLine {
    /// Files or directories named (the repository is found from them).
    pub paths: Vec<PathBuf>,
    /// `--as-of`, as written.
    pub as_of: Option<String>,
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--root` (already checked to be a directory).
    pub root: Option<PathBuf>,
    /// `--schemas DIR`.
    pub schemas: Option<PathBuf>,
    /// `--policies DIR`, in order.
    pub policies: Vec<PathBuf>,
    /// `--no-builtin-policies`.
    pub no_builtin_policies: bool,
    /// `--threads N`.
    pub threads: Option<usize>,
}

impl CommandLine {
    fn options(&self, paths: Vec<PathBuf>, as_of: jiff::civil::Date) -> CheckOptions {
        let mut options = CheckOptions::new(paths, as_of);
        options.schema_dir = self.schemas.clone();
        options.policies.builtin = !self.no_builtin_policies;
        options.policies.directories = self.policies.clone();
        options.threads = self.threads;
        options
    }
}

/// What [`prepare`] gives: the options with the configuration applied, and the configuration
/// (for [`run_with_config`]).
pub struct Prepared {
    pub options: CheckOptions,
    pub config: Option<LoadedConfig>,
}

/// The one merge of command line and configuration for `check` and `baseline create`: the
/// repository found from the paths ([`crate::root`]), the command line, then
/// `channelguard.yaml` (at the root, or `--config`) for what the command line leaves open. The
/// whole repository is loaded; when the paths select part of it, they choose what is reported
/// (`options.suppressions.paths`).
pub fn prepare(command_line: &CommandLine) -> Result<Prepared, String> {
    let located = crate::root::locate(&command_line.paths, command_line.root.as_deref())
        .map_err(|e| e.to_string())?;
    let root = located.root;
    let config = crate::config::load(command_line.config.as_deref(), &root)?;
    let date = command_line
        .as_of
        .as_deref()
        .map(crate::dates::parse_as_of)
        .transpose()?;
    let as_of = crate::config::evaluation_date(date, config.as_ref());
    // The root first, then the named paths (a hidden directory or a file of another extension
    // is checked only when named); the walk drops the ones it found twice.
    let mut walked = vec![root.clone()];
    walked.extend(located.paths.iter().filter(|p| **p != root).cloned());
    let mut options = command_line.options(walked, as_of);
    options.root = root;
    if let Some(loaded) = &config {
        loaded.config.apply_to(&mut options);
    }
    options.suppressions.paths = located.selects_part.then_some(located.paths);
    Ok(Prepared { options, config })
}

/// The options of `test`, `explain` and `list`: the command line plus the policy and schema
/// directories of `channelguard.yaml` in `--root` (default `.`), so they see the policies
/// `check` runs. The file's rule settings and severities are left out: test cases and
/// explanations must not depend on a local configuration.
pub fn prepare_for_policies(
    command_line: &CommandLine,
    as_of: jiff::civil::Date,
) -> Result<CheckOptions, String> {
    let mut options = command_line.options(Vec::new(), as_of);
    let root = command_line
        .root
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    options.root = root.clone();
    if let Some(loaded) = crate::config::load(None, &root)? {
        loaded.config.apply_directories(&mut options);
    }
    Ok(options)
}

/// Address space kept free per worker beyond its stack when the pool starts (signal stack,
/// guard pages, thread-local data).
const WORKER_MARGIN_BYTES: usize = 1024 * 1024;

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
    // The address space for every worker's stack, and a margin for its signal stack, must be
    // there before the first worker starts: the standard library aborts the whole process when
    // a started thread cannot get its signal stack, which a nearly exhausted address space
    // (`ulimit -v`) makes a race between starting workers. One reservation per worker, as its
    // stack will be, all held at once and freed (never touched, so they cost no memory).
    let workers = threads
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let mut reserved: Vec<Vec<u8>> = Vec::with_capacity(workers);
    for _ in 0..workers {
        let mut stack = Vec::new();
        if stack
            .try_reserve_exact(WORKER_STACK_BYTES + WORKER_MARGIN_BYTES)
            .is_err()
        {
            return Err(CheckError::Threads(format!(
                "the process cannot reserve the address space of {workers} worker stacks of {} MiB",
                WORKER_STACK_BYTES >> 20
            )));
        }
        reserved.push(stack);
    }
    drop(reserved);
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
    /// Not read: loaded from the cache by its known content hash (`text` is empty).
    unread: Option<crate::cache::Fingerprint>,
    /// What the replay record keeps of the file (with a cache): its content hash, or for a file
    /// that was not parsed (refused, undecodable) the fingerprint of what reading it gave.
    content: Option<crate::replay::Content>,
    /// Identified and schema-checked: already the repository's document type.
    documents: Vec<Document>,
    findings: Vec<Finding>,
}

/// What one attempt at a run gives.
enum Attempt {
    Done(Box<Outcome>),
    /// A file the cache proved unchanged by its stamp, and so did not read, changed before the
    /// run could read it for a finding's snippet: the run is repeated reading every file.
    ChangedDuringRun,
    /// A patched replay ([`crate::patch`]) found, while evaluating, that it cannot answer this
    /// change: the run is repeated as a full one.
    Unpatched(crate::patch::NotPatched),
}

/// One attempt at the run; `trust_stamps`: files the cache proves unchanged by their stamps
/// need not be read (see [`Replay::known_contents`]); `patch`: a change may be answered by
/// patching the recorded result ([`crate::patch`]).
fn run_in_pool(
    options: &CheckOptions,
    config: Option<&LoadedConfig>,
    memory: &[MemoryInput],
    memo: &mut MemoRequest,
    trust_stamps: bool,
    patch: bool,
) -> Result<Attempt, CheckError> {
    // With rule ids or settings to check, the policies are needed before anything is read.
    let mut early_policies = None;
    if let Some(config) = config.filter(|c| c.config.needs_catalog()) {
        let policies = load_policies(options)?;
        let problems = config
            .config
            .validate(&rule_catalog(&policies.set, options));
        if !problems.is_empty() {
            memo.previous = None;
            return Ok(Attempt::Done(Box::new(config_errors(config, problems))));
        }
        early_policies = Some(policies);
    }
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
    // Ids in report order: the data files first, in sorted order (their FileIds order the
    // report), then a Y013 for each path the walk could not take, then the schemas. Each file
    // is registered once, with its text: the data files after the parallel load below, the
    // schemas (compiled before it, since loading validates) into a map that starts at their id.
    let first_data = sources.next_id().0;
    let unreadable: Vec<_> = discovery
        .skipped
        .iter()
        .filter_map(|skipped| Some((skipped, skipped.problem.as_ref()?)))
        .collect();
    let mut schema_sources = SourceMap::starting_at(FileId(
        first_data + (candidates.len() + unreadable.len()) as u32,
    ));
    let mut findings: Vec<Finding> = Vec::new();
    // What produced each finding, for the replay record (see [`crate::patch`]).
    let mut origins: Vec<FindingOrigin> = Vec::new();
    let loaded_schemas = SchemaSet::load(
        options.schema_dir.as_deref(),
        &mut schema_sources,
        options.limits.max_schema_bytes,
        &options.read_scope(),
    )
    .map_err(CheckError::Schemas)?;
    let schemas = loaded_schemas.set;

    // The stamps of the files on disk, taken before they are read: when they are those the
    // cache's replay layer recorded, the last run's result is replayed.
    let stamps = options
        .cache_dir
        .as_ref()
        .map(|_| crate::replay::stamp_files(&candidates[..on_disk]));
    if stamps.is_some() {
        lap("cache: stamp the files");
    }
    let mut early_store = None;
    // Why a change was not answered by patching the last result (for `--timings`).
    let mut not_patched = None;
    // Files the replay record proves unchanged (by their stamps) and without findings: loaded
    // from the file layer without reading them (their texts are read at the end if a finding
    // of this run points into them).
    let mut known: Vec<Option<crate::cache::Fingerprint>> = Vec::new();
    if let (Some(dir), Some(stamps)) = (options.cache_dir.as_deref(), &stamps) {
        // A caller's own memo wants this run's memo back; `--changed-since` needs every
        // document's value.
        let replayable =
            memory.is_empty() && !memo.record && options.suppressions.changed_since.is_none();
        if replayable {
            let bytes = stamps.iter().flatten().map(|s| s.size).sum();
            let store = crate::cache::Store::open(dir, cache_bound(bytes));
            let policies = match early_policies.take() {
                Some(policies) => policies,
                None => load_policies(options)?,
            };
            let world = crate::replay::world(
                &run_world(
                    &file_world(options, &schema_sources),
                    options,
                    &policies.sources,
                ),
                &candidates,
                &discovery.skipped,
            );
            let mut replay = store.load_layer::<Replay>(crate::replay::LAYER, &world);
            let compared = replay.as_ref().and_then(|replay| {
                compare_unstamped(replay, stamps, &candidates, first_data, options)
            });
            if let Some(texts) =
                replay
                    .as_ref()
                    .zip(compared.as_ref())
                    .and_then(|(replay, compared)| {
                        texts_for_replay(replay, compared, &candidates, first_data, options)
                    })
            {
                lap("cache: replay the last run");
                let mut replay = replay.expect("texts come from a replay");
                // Files that were compared by content and have a trusted stamp now (touched,
                // checked out again): their stamps are recorded, so the next run need not
                // read them.
                if replay.restamp(stamps) {
                    store.save_layer(crate::replay::LAYER, &world, &replay);
                    lap("cache: record the new stamps");
                }
                let mut outcome = replayed_outcome(
                    replay,
                    texts,
                    &candidates,
                    &unreadable,
                    schema_sources,
                    policies,
                    options,
                    config,
                );
                outcome.stats.cache_notes = store.take_notes();
                outcome.stats.skipped = discovery.skipped;
                outcome.stats.elapsed = started.elapsed();
                outcome.stats.stages = stages;
                return Ok(Attempt::Done(Box::new(outcome)));
            }
            lap("cache: load the policies, check the replay layer");
            let files = RunFiles {
                candidates: &candidates,
                first_data,
                options,
                schemas: &schemas,
                scope: &data_scope,
            };
            let plan = match (trust_stamps && patch, &replay, compared) {
                (true, Some(replay), Some(compared)) => Some(crate::patch::plan(
                    replay, &store, &world, compared, first_data, &files,
                )),
                (true, _, _) => Some(Err(crate::patch::NotPatched("no replay record"))),
                (false, _, _) => None,
            };
            if let Some(Err(reason)) = plan {
                not_patched = Some(reason);
            }
            if let Some(Ok(plan)) = plan {
                let mut replay = replay.take().expect("planned from it");
                // Files compared by content that have the recorded content and a trusted stamp
                // now (after a checkout): their stamps are recorded, so that the next run need
                // not read them (the record stays the last full run's result).
                if replay.restamp_except(stamps, &plan.changed_indexes()) {
                    store.save_layer(crate::replay::LAYER, &world, &replay);
                    lap("cache: record the new stamps");
                }
                let attempt = patched_outcome(
                    plan,
                    replay,
                    &files,
                    &unreadable,
                    schema_sources,
                    policies,
                    config,
                );
                return Ok(match attempt {
                    Attempt::Done(mut outcome) => {
                        lap("cache: patch the last run's result");
                        // The patch's own stages, then what the total leaves.
                        let inner = std::mem::take(&mut outcome.stats.stages);
                        let inner_time: Duration = inner.iter().map(|(_, took)| *took).sum();
                        let (_, total) = stages.pop().expect("lapped above");
                        stages.extend(inner);
                        stages.push((
                            "patch: sources, texts, waivers",
                            total.saturating_sub(inner_time),
                        ));
                        outcome.stats.cache_notes = store.take_notes();
                        outcome.stats.skipped = discovery.skipped;
                        outcome.stats.elapsed = started.elapsed();
                        outcome.stats.stages = stages;
                        Attempt::Done(outcome)
                    }
                    other => other,
                });
            }
            if trust_stamps {
                if let Some(replay) = &replay {
                    known = replay.known_contents(stamps, first_data);
                }
            }
            early_policies = Some(policies);
            early_store = Some(store);
        }
    }
    // Read every file on disk first (but those known by their stamps): the cache's size bound
    // is proportional to the bytes read.
    let reads: Vec<Read> = candidates[..on_disk]
        .par_iter()
        .enumerate()
        .map(|(i, candidate)| {
            if let Some(Some(content)) = known.get(i) {
                return Read::Known(*content);
            }
            let file = FileId(first_data + i as u32);
            // A panic here is reported when the file is loaded below.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                read_input(candidate, file, options, &data_scope)
            }))
            .map_or(Read::Panicked, Read::Done)
        })
        .collect();
    if options.cache_dir.is_some() {
        lap("read");
    }
    let cache = options.cache_dir.as_deref().map(|dir| {
        let store = early_store.take().unwrap_or_else(|| {
            let bytes: u64 = reads.iter().map(Read::text_len).sum();
            crate::cache::Store::open(dir, cache_bound(bytes))
        });
        let world = file_world(options, &schema_sources);
        let layer = crate::cache::files::FileLayer::load(&store, &world);
        (store, world, layer)
    });
    let layer = cache.as_ref().map(|(_, _, layer)| layer);
    if cache.is_some() {
        lap("cache: load the file layer");
    }
    let inputs: Vec<(LoadedInput, Option<CacheEntry>, bool)> = reads
        .into_par_iter()
        .map(Some)
        .chain(memory.par_iter().map(|_| None))
        .enumerate()
        .map(|(i, read)| {
            let candidate = &candidates[i];
            let file = FileId(first_data + i as u32);
            // A panic while loading one file (a bug) becomes an internal-error finding on that
            // file; the other files are still checked.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::fault::test_panic_hook("load", &candidate.name);
                match i.checked_sub(on_disk) {
                    None => match read {
                        Some(Read::Done(read)) => load_input(read, file, &schemas, options, layer),
                        Some(Read::Known(content)) => load_known(
                            content,
                            candidate,
                            file,
                            &schemas,
                            options,
                            layer,
                            &data_scope,
                        ),
                        _ => panic!("reading the file failed"),
                    },
                    Some(m) => (
                        load_memory_input(&memory[m], file, &schemas, options),
                        None,
                        false,
                    ),
                }
            }))
            .unwrap_or_else(|payload| (internal_error(file, &*payload), None, false))
        })
        .collect();
    if cache.is_some() {
        lap("parse and validate, or decode");
    }
    let mut cache_notes = Vec::new();
    let mut cache_reused = None;
    if let Some((store, world, layer)) = &cache {
        let reused = inputs.iter().filter(|(_, _, reused)| *reused).count();
        let entries = inputs
            .iter()
            .filter(|(_, entry, _)| entry.is_some())
            .count();
        // New entries, and entries of the layer this run did not use (each is taken once).
        let stale = (entries - reused) + (layer.len() - reused);
        if worth_rewriting(stale, entries) {
            crate::cache::files::save(
                store,
                world,
                inputs
                    .iter()
                    .filter_map(|(_, entry, _)| entry.as_ref())
                    .map(|(key, bytes)| (*key, bytes.as_slice())),
            );
        }
        cache_notes = store.take_notes();
        cache_reused = Some(reused);
    }
    // What the replay layer keeps of each file on disk.
    let contents: Vec<Option<crate::replay::Content>> = inputs[..on_disk]
        .iter()
        .map(|(input, _, _)| input.content)
        .collect();
    let inputs = inputs.into_iter().map(|(input, _, _)| input);
    if cache.is_some() {
        lap("cache: save the file layer");
    }

    lap("read, parse and validate");
    let mut documents = Vec::new();
    for (i, (candidate, input)) in candidates.iter().zip(inputs).enumerate() {
        let file = sources.add(match input.unread {
            Some(content) => SourceFile::unread(
                candidate.name.clone(),
                candidate.path.clone(),
                u128::from_le_bytes(content.0),
                FileRole::Data,
            ),
            None => SourceFile::new(
                candidate.name.clone(),
                candidate.path.clone(),
                input.text,
                FileRole::Data,
            ),
        });
        debug_assert_eq!(
            file,
            FileId(first_data + i as u32),
            "the id its worker used"
        );
        origins.extend(std::iter::repeat_n(
            FindingOrigin::File(i as u32),
            input.findings.len(),
        ));
        findings.extend(input.findings);
        documents.extend(input.documents);
    }
    // Paths the walk could not take: a Y013 on each, after the data files.
    let first_unreadable = sources.next_id().0;
    add_unreadable(&mut sources, &unreadable);
    for (i, (skipped, problem)) in unreadable.iter().enumerate() {
        findings.push(
            codes::UNREADABLE_FILE
                .finding((*problem).clone())
                .at_span(FileId(first_unreadable + i as u32), ByteSpan::default())
                .with_label(skipped.reason.as_str()),
        );
    }
    sources.append(schema_sources);
    findings.extend(loaded_schemas.findings);
    // The rest, up to the evaluations, is about the run as a whole...
    origins.resize(findings.len(), FindingOrigin::Run);

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
                |d| quoted(&d.to_string_lossy()),
            );
            findings.push(
                codes::MISSING_SCHEMA
                    .finding(format!(
                        "no schema in {dir} declares kind {}; {count} {kind} {} not validated",
                        quoted(kind.as_str()),
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
    origins.resize(findings.len(), FindingOrigin::Run);
    // ... but for each document's references.
    for (index, finding) in references.references {
        findings.push(finding);
        origins.push(FindingOrigin::References(index));
    }
    let mut dangling = Vec::new();
    if options.skip_dangling {
        // A reference that does not resolve makes its field invalid: evaluations that read it
        // are skipped and reported, the others still run.
        for (index, field) in references.dangling {
            repository.documents[index as usize].mark_invalid(field);
            dangling.push((index, field.to_string()));
        }
    }
    let repository = Arc::new(repository);
    lap("index and references");
    // What a patched replay of a later change looks documents up by (with the cache).
    let holders = stamps.is_some().then(|| crate::patch::holders(&repository));
    if holders.is_some() {
        lap("cache: index keys for the dependencies");
    }

    let policies = match early_policies {
        Some(policies) => policies,
        None => load_policies(options)?,
    };
    // The cache's evaluations layer: the previous run's memo, unless the caller brought one
    // (`run_with_memo`) or some inputs are not files on disk. Its world adds the policies'
    // texts, settings and date to the file layer's.
    let mut evaluations_cache = None;
    if let Some((store, file_world, _)) = &cache {
        if memory.is_empty() && !memo.record {
            let world = run_world(file_world, options, &policies.sources);
            memo.previous = store
                .load_layer_bytes(EVALUATIONS_LAYER, &world)
                .and_then(|bytes| {
                    let memo = Memo::from_layer_bytes(&bytes);
                    if memo.is_none() {
                        store.ignored(EVALUATIONS_LAYER, "its content cannot be read");
                    }
                    memo
                });
            memo.record = true;
            // What a patched replay of a later change needs (with the replay record).
            memo.dependencies = stamps.is_some();
            evaluations_cache = Some(world);
            lap("cache: load the evaluations");
        }
    }
    let (mut policy_set, policy_findings) = add_policy_sources(&mut sources, policies, options);
    findings.extend(policy_findings);
    origins.resize(findings.len(), FindingOrigin::Run);
    policy_set.use_preconditions(options.policy_preconditions);
    policy_set.measure_costs(options.measure_policies);
    let context = eval_context(options, &schemas);
    let (mut evaluated, recorded) = policy_set.evaluate_with_memo(
        Arc::clone(&repository),
        &context,
        &sources,
        std::mem::take(memo),
    );
    memo.previous = recorded;
    findings.append(&mut evaluated.findings);
    origins.extend(evaluated.origins.iter().map(|&o| FindingOrigin::from(o)));
    lap("policies");
    if let (Some(world), Some((store, _, _))) = (evaluations_cache, &cache) {
        if let Some(recorded) = memo.previous.take() {
            // Nothing ran and nothing was dropped: the layer on disk is already this run's.
            let stats = evaluated.memo_stats;
            if !stats.memo_unchanged && worth_rewriting(stats.run, stats.run + stats.reused) {
                match recorded.to_layer_bytes() {
                    Some(bytes) => store.save_layer_bytes(EVALUATIONS_LAYER, &world, &bytes),
                    None => store.note(format!(
                        "cannot save the cache layer `{EVALUATIONS_LAYER}`; the next run rebuilds it"
                    )),
                }
            }
            drop_in_background(recorded);
        }
        cache_notes.extend(store.take_notes());
        lap("cache: save the evaluations");
    }

    debug_assert_eq!(findings.len(), origins.len());
    let mut tagged: Vec<(Finding, FindingOrigin)> = findings.into_iter().zip(origins).collect();
    suppress::rule_settings_on(&mut tagged, |(f, _)| f, options);
    tagged.par_sort_by(|a, b| a.0.total_order(&b.0));
    let (mut findings, origins): (Vec<Finding>, Vec<FindingOrigin>) = tagged.into_iter().unzip();
    let documents = crate::outcome::DocumentEntry::of(&repository);
    lap("sort");
    let recordable = evaluated.memo_stats.incomplete == 0;
    if let (Some(world), Some((store, _, _)), Some(stamps), true) =
        (&evaluations_cache, &cache, stamps, recordable)
    {
        // The result before waivers (the configuration is applied to a replay again). Not
        // when an evaluation did not complete: a time limit may fall differently next time.
        let replay_world = crate::replay::world(world, &candidates, &discovery.skipped);
        let recorded = crate::replay::save(
            store,
            &replay_world,
            stamps
                .into_iter()
                .zip(contents)
                .map(|(stamp, content)| content.map(|content| content.with_stamp(stamp)))
                .collect(),
            &findings,
            &origins,
            &documents,
            &evaluated.reached,
            evaluated.memo_stats.run + evaluated.memo_stats.reused,
        );
        lap("cache: save the result for replay");
        // A policy's error or output is about the whole run: no patch can answer a change then.
        let patchable = !origins.contains(&FindingOrigin::Policy);
        if let (Some(files), Some(dependencies), Some(holders), true) =
            (recorded, evaluated.dependencies.take(), holders, patchable)
        {
            crate::patch::save(
                store,
                &replay_world,
                &files,
                holders,
                dependencies,
                dangling,
            );
            lap("cache: save the dependencies");
        }
        cache_notes.extend(store.take_notes());
    }
    findings.dedup();
    apply_waivers(&mut findings, &mut sources, config, options);
    if known.iter().any(Option::is_some) {
        crate::fault::test_rewrite_hook();
        if !read_unread_texts(&mut sources, &findings, options) {
            return Ok(Attempt::ChangedDuringRun);
        }
        lap("read the files findings point into");
    }
    let stats = Stats {
        files: candidates.len(),
        skipped: discovery.skipped,
        documents: document_count,
        policies: policy_set.policies.len(),
        elapsed: started.elapsed(),
        stages,
        not_shown: Vec::new(),
        policy_costs: evaluated.costs,
        evaluations: evaluated.memo_stats,
        cache_notes,
        cache_reused,
        replayed: false,
        patched: None,
        not_patched: not_patched.map(|reason| reason.0),
    };
    Ok(Attempt::Done(Box::new(Outcome {
        sources,
        findings,
        stats,
        policies: policy_set.policies.iter().map(|p| p.meta.clone()).collect(),
        reached: evaluated.reached,
        documents,
        repository: Some(repository),
        suppressed: Default::default(),
    })))
}

/// Reading and loading data files for a patched replay, as this run does them.
struct RunFiles<'a> {
    candidates: &'a [Candidate],
    first_data: u32,
    options: &'a CheckOptions,
    schemas: &'a SchemaSet,
    scope: &'a ReadScope,
}

impl crate::patch::Files for RunFiles<'_> {
    fn read(&self, index: usize) -> discover::ReadOutcome {
        let file = FileId(self.first_data + index as u32);
        read_input(&self.candidates[index], file, self.options, self.scope)
    }

    fn load(&self, index: usize, read: discover::ReadOutcome) -> (Vec<Document>, Vec<Finding>) {
        let file = FileId(self.first_data + index as u32);
        let (input, _, _) = load_input(read, file, self.schemas, self.options, None);
        (input.documents, input.findings)
    }
}

/// What policies see besides the repository.
fn eval_context(options: &CheckOptions, schemas: &SchemaSet) -> EvalContext {
    EvalContext {
        as_of: options.as_of,
        settings: options.settings.clone(),
        known_fields: Kind::ALL
            .iter()
            .map(|&k| (k, schemas.known_fields(k)))
            .collect(),
    }
}

/// The outcome of a patched replay ([`crate::patch`]): the recorded result with what the
/// changed files reach made again, over this run's sources (the files the patch read, the
/// others read at the end if a finding points into them).
fn patched_outcome(
    plan: crate::patch::Plan,
    replay: Replay,
    files: &RunFiles,
    unreadable: &[(&discover::Skipped, &String)],
    schema_sources: SourceMap,
    policies: LoadedPolicies,
    config: Option<&LoadedConfig>,
) -> Attempt {
    let options = files.options;
    let changed_files = plan.changed_files();
    let read: HashMap<usize, Arc<str>> = plan
        .texts
        .iter()
        .map(|(i, text)| (*i, Arc::clone(text)))
        .collect();
    let mut sources = SourceMap::new();
    for (i, candidate) in files.candidates.iter().enumerate() {
        sources.add(match read.get(&i) {
            Some(text) => SourceFile::new(
                candidate.name.clone(),
                candidate.path.clone(),
                Arc::clone(text),
                FileRole::Data,
            ),
            None => SourceFile::unread(
                candidate.name.clone(),
                candidate.path.clone(),
                u128::from_le_bytes(replay.files[i].1 .0),
                FileRole::Data,
            ),
        });
    }
    add_unreadable(&mut sources, unreadable);
    sources.append(schema_sources);
    let (mut policy_set, _) = add_policy_sources(&mut sources, policies, options);
    policy_set.use_preconditions(options.policy_preconditions);
    let context = eval_context(options, files.schemas);
    let patched = match crate::patch::apply(
        plan,
        &replay,
        files,
        &policy_set,
        &context,
        &sources,
        options,
    ) {
        Ok(patched) => patched,
        Err(reason) => return Attempt::Unpatched(reason),
    };
    for (i, text) in patched.texts {
        let file = FileId(files.first_data + i as u32);
        if sources.get(file).is_unread() && !sources.set_text(file, text) {
            return Attempt::ChangedDuringRun;
        }
    }
    let mut findings = patched.findings;
    findings.dedup();
    crate::fault::test_rewrite_hook();
    if !read_unread_texts(&mut sources, &findings, options) {
        return Attempt::ChangedDuringRun;
    }
    apply_waivers(&mut findings, &mut sources, config, options);
    let stats = Stats {
        evaluations: crate::memo::MemoStats {
            run: patched.evaluations_run,
            reused: patched.evaluations - patched.evaluations_run,
            incomplete: 0,
            memo_unchanged: true,
        },
        cache_reused: Some(files.candidates.len() - changed_files),
        patched: Some(changed_files),
        stages: patched.stages,
        ..Stats::default()
    };
    Attempt::Done(Box::new(recorded_outcome(
        sources,
        findings,
        stats,
        &policy_set,
        replay,
    )))
}

/// A replayed or patched outcome: `stats` completed with the counts of the record.
fn recorded_outcome(
    sources: SourceMap,
    findings: Vec<Finding>,
    stats: Stats,
    policy_set: &PolicySet,
    replay: Replay,
) -> Outcome {
    Outcome {
        sources,
        findings,
        stats: Stats {
            files: replay.files.len(),
            documents: replay.documents.len(),
            policies: policy_set.policies.len(),
            ..stats
        },
        policies: policy_set.policies.iter().map(|p| p.meta.clone()).collect(),
        reached: replay.reached,
        documents: replay.documents,
        repository: None,
        suppressed: Default::default(),
    }
}

/// The outcome of a replayed run: the recorded findings (waived again under this run's
/// configuration), documents and coverage, over this run's sources (data files with the texts
/// the findings need, then the unreadable paths, schemas and policies, as a fresh run has them).
#[allow(clippy::too_many_arguments)]
fn replayed_outcome(
    mut replay: Replay,
    texts: Vec<Arc<str>>,
    candidates: &[Candidate],
    unreadable: &[(&discover::Skipped, &String)],
    schema_sources: SourceMap,
    policies: LoadedPolicies,
    options: &CheckOptions,
    config: Option<&LoadedConfig>,
) -> Outcome {
    let mut sources = SourceMap::new();
    for (candidate, text) in candidates.iter().zip(texts) {
        sources.add(SourceFile::new(
            candidate.name.clone(),
            candidate.path.clone(),
            text,
            FileRole::Data,
        ));
    }
    add_unreadable(&mut sources, unreadable);
    sources.append(schema_sources);
    // The policies' loading problems are among the recorded findings.
    let policy_set = add_policy_sources(&mut sources, policies, options).0;
    let mut findings = std::mem::take(&mut replay.findings);
    findings.dedup();
    apply_waivers(&mut findings, &mut sources, config, options);
    let stats = Stats {
        evaluations: crate::memo::MemoStats {
            run: 0,
            reused: replay.evaluations,
            incomplete: 0,
            memo_unchanged: true,
        },
        cache_reused: Some(candidates.len()),
        replayed: true,
        ..Stats::default()
    };
    recorded_outcome(sources, findings, stats, &policy_set, replay)
}

/// Registers the paths the walk could not take (Y013), with no text, after the data files.
fn add_unreadable(sources: &mut SourceMap, unreadable: &[(&discover::Skipped, &String)]) {
    for (skipped, _) in unreadable {
        sources.add(SourceFile::new(
            skipped.name.clone(),
            skipped.path.clone(),
            Arc::from(""),
            FileRole::Data,
        ));
    }
}

/// Registers the policy files after the data and schema files (their ids order the report).
/// They were loaded (perhaps before anything else was read) into a map of their own: its files
/// move here, their ids shifted. Gives the run's policies (without the disabled rules) and the
/// loading problems, moved to the new ids.
fn add_policy_sources(
    sources: &mut SourceMap,
    policies: LoadedPolicies,
    options: &CheckOptions,
) -> (PolicySet, Vec<Finding>) {
    let mut policy_set = policies.set;
    let base = sources.append_renumbered(policies.sources);
    let moved = |id: FileId| FileId(base + id.0);
    for policy in &mut policy_set.policies {
        policy.file = moved(policy.file);
    }
    let findings = policies
        .findings
        .into_iter()
        .map(|mut f| {
            if let Some(location) = &mut f.location {
                location.file = moved(location.file);
            }
            for related in &mut f.related {
                related.location.file = moved(related.location.file);
            }
            f
        })
        .collect();
    policy_set.retain(|meta| !options.disabled_rules.contains(&meta.id));
    (policy_set, findings)
}

/// Applies the configuration's waivers. The configuration file goes last; the W001/W002
/// findings of its waivers point into it.
fn apply_waivers(
    findings: &mut Vec<Finding>,
    sources: &mut SourceMap,
    config: Option<&LoadedConfig>,
    options: &CheckOptions,
) {
    if let Some(config) = config {
        let file = sources.add(config.source_file());
        suppress::apply_waivers(findings, &config.config.waivers, options, file);
    }
}

/// Every data file whose stamp does not prove it unchanged, read and compared with the replay
/// record (few, unless the repository was checked out again): (walk index, what reading gave,
/// whether its content is the recorded one). `None` when the record is of other files.
fn compare_unstamped(
    replay: &Replay,
    stamps: &[Option<crate::cache::Stamp>],
    candidates: &[Candidate],
    first_data: u32,
    options: &CheckOptions,
) -> Option<Vec<crate::patch::Compared>> {
    if replay.files.len() != candidates.len() || stamps.len() != candidates.len() {
        return None;
    }
    let data_scope = ReadScope::new(&options.root);
    Some(
        (0..candidates.len())
            .into_par_iter()
            .filter(|&i| !replay.stamped_unchanged(i, stamps[i].as_ref()))
            .map(|i| {
                let (read, same) =
                    read_and_compare(replay, candidates, i, first_data, options, &data_scope);
                (i, read, same)
            })
            .collect(),
    )
}

/// Reads data file `i` and tells whether its content is the one `replay` recorded.
fn read_and_compare(
    replay: &Replay,
    candidates: &[Candidate],
    i: usize,
    first_data: u32,
    options: &CheckOptions,
    data_scope: &ReadScope,
) -> (discover::ReadOutcome, bool) {
    let file = FileId(first_data + i as u32);
    let read = read_input(&candidates[i], file, options, data_scope);
    let same = crate::replay::Content::of(&read).fingerprint() == replay.files[i].1;
    (read, same)
}

/// Whether `replay` may be used for these files, and the texts it needs: every file without a
/// trusted stamp (`compared`, [`compare_unstamped`]) has the recorded content, and so has every
/// file a finding points into (read now, for its snippets). Gives the texts read (the other files
/// get an empty text), or `None` when a file differs or cannot be read: then the run does not
/// replay.
fn texts_for_replay(
    replay: &Replay,
    compared: &[crate::patch::Compared],
    candidates: &[Candidate],
    first_data: u32,
    options: &CheckOptions,
) -> Option<Vec<Arc<str>>> {
    if compared.iter().any(|(_, _, same)| !same) {
        return None;
    }
    let empty: Arc<str> = Arc::from("");
    let mut texts = vec![Arc::clone(&empty); candidates.len()];
    let mut read = vec![false; candidates.len()];
    for (i, outcome, _) in compared {
        texts[*i] = Arc::clone(&outcome.text);
        read[*i] = true;
    }
    // Then the files the findings point into, for their snippets.
    let pointed_into = replay.pointed_into(first_data);
    let data_scope = ReadScope::new(&options.root);
    let more: Option<Vec<(usize, Arc<str>)>> = (0..candidates.len())
        .into_par_iter()
        .filter(|&i| pointed_into[i] && !read[i])
        .map(|i| {
            let (outcome, same) =
                read_and_compare(replay, candidates, i, first_data, options, &data_scope);
            same.then_some((i, outcome.text))
        })
        .collect();
    for (i, text) in more? {
        texts[i] = text;
    }
    Some(texts)
}

/// [`compare_unstamped`], then [`texts_for_replay`].
#[cfg(test)]
fn replay_texts(
    replay: &Replay,
    stamps: &[Option<crate::cache::Stamp>],
    candidates: &[Candidate],
    first_data: u32,
    options: &CheckOptions,
) -> Option<Vec<Arc<str>>> {
    let compared = compare_unstamped(replay, stamps, candidates, first_data, options)?;
    texts_for_replay(replay, &compared, candidates, first_data, options)
}

/// What a file's loading gives when it panicked: one internal-error finding (exit 2).
fn internal_error(file: FileId, payload: &(dyn std::any::Any + Send)) -> LoadedInput {
    let text = crate::fault::panic_text(payload);
    LoadedInput {
        unread: None,
        content: None,
        text: Arc::from(""),
        documents: Vec::new(),
        findings: vec![codes::INTERNAL_ERROR
            .finding(format!(
                "internal error while loading this file: {}",
                quoted(&text)
            ))
            .at_span(file, ByteSpan::default())
            .tool()],
    }
}

/// A file on disk before loading: read, known by its content hash without reading it (see
/// [`Replay::known_contents`]), or its read panicked (reported when it is loaded).
enum Read {
    Done(discover::ReadOutcome),
    Known(crate::cache::Fingerprint),
    Panicked,
}

impl Read {
    fn text_len(&self) -> u64 {
        match self {
            Read::Done(read) => read.text.len() as u64,
            Read::Known(_) | Read::Panicked => 0,
        }
    }
}

/// Loads a file known by its content hash from the file layer, without reading it; when the
/// layer has no entry for it (or another file with the same bytes took it), reads and loads it.
fn load_known(
    content: crate::cache::Fingerprint,
    candidate: &Candidate,
    file: FileId,
    schemas: &SchemaSet,
    options: &CheckOptions,
    layer: Option<&crate::cache::files::FileLayer>,
    data_scope: &ReadScope,
) -> (LoadedInput, Option<CacheEntry>, bool) {
    let cached = layer
        .and_then(|layer| layer.take(&content))
        .and_then(|bytes| {
            let loaded = crate::cache::files::decode(&bytes, file)?;
            Some((loaded, bytes))
        });
    match cached {
        Some(((documents, findings), bytes)) => (
            LoadedInput {
                text: Arc::from(""),
                unread: Some(content),
                content: Some(crate::replay::Content::Parsed(content)),
                documents,
                findings,
            },
            Some((content, bytes)),
            true,
        ),
        None => load_input(
            read_input(candidate, file, options, data_scope),
            file,
            schemas,
            options,
            layer,
        ),
    }
}

/// Reads the unread data files ([`SourceFile::unread`]) that `findings` point into, for their
/// snippets. `false` when one cannot be read or no longer has the content it was loaded by (it
/// changed during the run): then the run is repeated reading every file.
fn read_unread_texts(
    sources: &mut SourceMap,
    findings: &[Finding],
    options: &CheckOptions,
) -> bool {
    let mut wanted: Vec<FileId> = findings
        .iter()
        .flat_map(|f| {
            f.location
                .iter()
                .chain(f.related.iter().map(|r| &r.location))
        })
        .map(|location| location.file)
        .filter(|&file| sources.get(file).is_unread())
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let data_scope = ReadScope::new(&options.root);
    let texts: Vec<Option<Arc<str>>> = wanted
        .par_iter()
        .map(|&file| {
            let source = sources.get(file);
            let read = discover::read_file(
                &source.path,
                &data_scope,
                false,
                options.limits.max_file_bytes,
                file,
            );
            read.parse.then_some(read.text)
        })
        .collect();
    wanted
        .into_iter()
        .zip(texts)
        .all(|(file, text)| text.is_some_and(|text| sources.set_text(file, text)))
}

/// A file's entry for the cache's file layer: its content hash and its encoded loading result.
type CacheEntry = (crate::cache::Fingerprint, Vec<u8>);

fn read_input(
    candidate: &Candidate,
    file: FileId,
    options: &CheckOptions,
    data_scope: &ReadScope,
) -> discover::ReadOutcome {
    discover::read_file(
        &candidate.path,
        data_scope,
        candidate.inside_root,
        options.limits.max_file_bytes,
        file,
    )
}

/// Loads one file that was read: from the cache's file layer when last run saw the same text
/// (the result moved to this run's file id), else by parsing and validating it. Gives the entry
/// to save for this run (only for files that were parsed: a refusal depends on more than the
/// bytes).
fn load_input(
    read: discover::ReadOutcome,
    file: FileId,
    schemas: &SchemaSet,
    options: &CheckOptions,
    layer: Option<&crate::cache::files::FileLayer>,
) -> (LoadedInput, Option<CacheEntry>, bool) {
    let content = layer.map(|_| crate::replay::Content::of(&read));
    let mut findings = read.findings;
    let mut documents = Vec::new();
    let mut entry = None;
    let mut reused = false;
    if read.parse {
        let key = layer.map(|_| crate::cache::Fingerprint::of(read.text.as_bytes()));
        let cached = layer
            .zip(key)
            .and_then(|(layer, key)| layer.take(&key))
            .and_then(|bytes| {
                let loaded = crate::cache::files::decode(&bytes, file)?;
                Some((loaded, bytes))
            });
        match cached {
            Some(((cached_documents, cached_findings), bytes)) => {
                documents = cached_documents;
                findings.extend(cached_findings);
                entry = key.map(|key| (key, bytes));
                reused = true;
            }
            None => {
                let loaded = yaml::load(&read.text, read.bom, file, &options.limits);
                let mut loaded_findings = Vec::new();
                check_loaded(
                    loaded,
                    &read.text,
                    file,
                    schemas,
                    &mut documents,
                    &mut loaded_findings,
                );
                entry = key.and_then(|key| {
                    crate::cache::files::encode(file, &documents, &loaded_findings)
                        .map(|bytes| (key, bytes))
                });
                findings.extend(loaded_findings);
            }
        }
    }
    (
        LoadedInput {
            unread: None,
            content,
            text: read.text,
            documents,
            findings,
        },
        entry,
        reused,
    )
}

/// Frees `value` on a thread of its own: a memo of a 10k-customer book is a million small
/// allocations, and freeing them took 0.37 s of a cold run's wall time (the process may end
/// before the thread does; the memory goes back to the system either way).
fn drop_in_background<T: Send + 'static>(value: T) {
    // When no thread can be started, the closure, and the value in it, are dropped right here.
    let _ = std::thread::Builder::new()
        .name("channelguard-drop".to_string())
        .spawn(move || drop(value));
}

/// Whether a cache layer with `stale` of its `total` entries out of date is written again.
/// Rewriting a large layer for a few changed entries cost more than the entries save (the
/// files and evaluations layers of a 10k-customer book are 45 and 56 MB): below one in twenty
/// the layer stays as it is, and the next run loads or evaluates those few again (the layers
/// are keyed by content and read sets, so an old entry is never wrong, only unused). The
/// layer stays within a twentieth of this run's size.
fn worth_rewriting(stale: usize, total: usize) -> bool {
    stale > 0 && stale.saturating_mul(20) >= total
}

/// The cache layer of the policy evaluations ([`crate::memo`]).
const EVALUATIONS_LAYER: &str = "evaluations";

/// The largest cache layer read or written: proportional to the repository (a layer holds
/// about three times the text it was loaded from), with room for a small one.
fn cache_bound(text_bytes: u64) -> u64 {
    // At least 1 GiB: a run over part of a repository must not take the layers a run over all
    // of it wrote for damage (it reads them, uses what fits and rewrites them).
    (16u64 << 20)
        .saturating_add(text_bytes.saturating_mul(8))
        .max(1 << 30)
}

/// The world of the cache's file layer: what a file's loading depends on besides its bytes
/// (the binary and cache format, in every world; the schemas; the limits).
fn file_world(options: &CheckOptions, schema_sources: &SourceMap) -> crate::cache::Fingerprint {
    let mut world = crate::cache::FingerprintBuilder::new();
    world.add("layer", b"files");
    world.add(
        "schema-dir",
        options
            .schema_dir
            .as_deref()
            .map(|d| d.as_os_str().as_encoded_bytes())
            .unwrap_or_default(),
    );
    for (_, file) in schema_sources.iter() {
        world.add("schema-name", file.name.as_bytes());
        world.add("schema-text", file.text.as_bytes());
    }
    world.add("limits", format!("{:?}", options.limits).as_bytes());
    world.add("test-hooks", crate::fault::test_hooks().as_bytes());
    world.finish()
}

/// The world of a layer that depends on the whole run (policy evaluations): the file layer's
/// world plus the policies' texts, the settings, the date and every option that changes results.
pub fn run_world(
    file_world: &crate::cache::Fingerprint,
    options: &CheckOptions,
    policy_sources: &SourceMap,
) -> crate::cache::Fingerprint {
    let mut world = crate::cache::FingerprintBuilder::new();
    world.add("files", &file_world.0);
    for (_, file) in policy_sources.iter() {
        world.add("policy-name", file.name.as_bytes());
        world.add("policy-text", file.text.as_bytes());
    }
    world.add("as-of", options.as_of.to_string().as_bytes());
    let mut settings: Vec<_> = options.settings.iter().collect();
    settings.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value) in settings {
        world.add("setting", name.as_bytes());
        world.add("value", value.to_string().as_bytes());
    }
    let mut disabled = options.disabled_rules.clone();
    disabled.sort();
    for rule in disabled {
        world.add("disabled", rule.as_bytes());
    }
    let mut severities: Vec<_> = options.severity_overrides.iter().collect();
    severities.sort_by(|a, b| a.0.cmp(b.0));
    for (rule, severity) in severities {
        world.add("severity", format!("{rule}={severity}").as_bytes());
    }
    world.add("skip-dangling", &[u8::from(options.skip_dangling)]);
    world.add("builtin", &[u8::from(options.policies.builtin)]);
    world.finish()
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
        unread: None,
        content: None,
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
                    .finding(format!("unknown kind {}", quoted(name)))
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

#[cfg(test)]
mod replay_tests {
    use super::*;
    use crate::cache::Fingerprint;

    #[test]
    fn unread_files_get_their_texts_only_when_their_content_is_the_known_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.yaml");
        std::fs::write(&path, "kind: Partner\nid: a\n").unwrap();
        let hash = |text: &str| u128::from_le_bytes(Fingerprint::of(text.as_bytes()).0);
        let mut options = CheckOptions::new(Vec::new(), jiff::civil::date(2024, 6, 30));
        options.root = dir.path().to_path_buf();
        let finding = |file: u32| {
            codes::MISSING_KIND
                .finding("document has no `kind`".to_string())
                .at_span(FileId(file), ByteSpan::new(0, 4))
        };
        let mut sources = SourceMap::new();
        let same = sources.add(SourceFile::unread(
            "a.yaml",
            &path,
            hash("kind: Partner\nid: a\n"),
            FileRole::Data,
        ));
        let changed = sources.add(SourceFile::unread(
            "a.yaml",
            &path,
            hash("kind: Partner\nid: b\n"),
            FileRole::Data,
        ));
        // No finding points into them: nothing is read.
        assert!(read_unread_texts(&mut sources, &[], &options));
        assert!(sources.get(same).text.is_empty());
        assert!(read_unread_texts(
            &mut sources,
            &[finding(same.0)],
            &options
        ));
        assert_eq!(&*sources.get(same).text, "kind: Partner\nid: a\n");
        assert!(!sources.get(same).is_unread());
        // The file on disk is not what the second entry was loaded by: the run must repeat.
        assert!(!read_unread_texts(
            &mut sources,
            &[finding(changed.0)],
            &options
        ));
        assert!(sources.get(changed).is_unread());
    }

    #[test]
    fn a_layer_is_rewritten_from_one_stale_entry_in_twenty() {
        assert!(!worth_rewriting(0, 0), "nothing to write");
        assert!(!worth_rewriting(0, 1000));
        assert!(worth_rewriting(1, 0), "a first run writes");
        assert!(worth_rewriting(3, 10));
        assert!(!worth_rewriting(49, 1000));
        assert!(worth_rewriting(50, 1000));
    }

    /// Two files; a finding points into the second. The replay reads that one only, and only
    /// when its content is still the recorded one.
    #[test]
    fn a_replay_reads_the_files_its_findings_point_into_and_checks_their_content() {
        let dir = tempfile::tempdir().unwrap();
        let texts = ["kind: Partner\nid: a\n", "kind: Partner\nid: b\n"];
        let candidates: Vec<Candidate> = texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let path = dir.path().join(format!("{i}.yaml"));
                std::fs::write(&path, text).unwrap();
                Candidate {
                    name: format!("{i}.yaml"),
                    path,
                    inside_root: true,
                }
            })
            .collect();
        let stamp = |i: usize| {
            let path = &candidates[i].path;
            crate::cache::Stamp::of(path, &std::fs::metadata(path).unwrap())
        };
        let mut replay = Replay {
            files: (0..2)
                .map(|i| (Some(stamp(i)), Fingerprint::of(texts[i].as_bytes())))
                .collect(),
            findings: vec![codes::MISSING_KIND
                .finding("document has no `kind`".to_string())
                .at_span(FileId(1), ByteSpan::new(0, 4))],
            origins: vec![FindingOrigin::File(1)],
            documents: Vec::new(),
            reached: Default::default(),
            evaluations: 0,
        };
        let mut options = CheckOptions::new(Vec::new(), jiff::civil::date(2024, 6, 30));
        options.root = dir.path().to_path_buf();
        let stamps = [Some(stamp(0)), Some(stamp(1))];
        let read = replay_texts(&replay, &stamps, &candidates, 0, &options).expect("replayable");
        assert_eq!(&*read[0], "", "no finding points into the first file");
        assert_eq!(&*read[1], texts[1]);
        // The second file's content is not the recorded one (it changed after its stamp).
        replay.files[1].1 = Fingerprint::of(b"something else");
        assert!(replay_texts(&replay, &stamps, &candidates, 0, &options).is_none());
        // A file no finding points into, with its recorded stamp, is not read: its content is
        // taken as recorded.
        replay.files[1].1 = Fingerprint::of(texts[1].as_bytes());
        replay.files[0].1 = Fingerprint::of(b"something else");
        assert!(replay_texts(&replay, &stamps, &candidates, 0, &options).is_some());
        // Without its stamp (it just changed, now or when recorded) it is read and compared.
        assert!(replay_texts(
            &replay,
            &[None, stamps[1].clone()],
            &candidates,
            0,
            &options
        )
        .is_none());
        replay.files[0] = (None, Fingerprint::of(texts[0].as_bytes()));
        let read = replay_texts(&replay, &stamps, &candidates, 0, &options).expect("same bytes");
        assert_eq!(&*read[0], texts[0], "read to compare it");
        // Another number of files: never.
        assert!(replay_texts(&replay, &stamps[..1], &candidates[..1], 0, &options).is_none());
    }
}
