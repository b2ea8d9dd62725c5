//! The patched replay: when the files that changed since the recorded run ([`crate::replay`])
//! keep their documents' kinds and ids (field edits, the usual commit), only what the change
//! can reach is loaded and evaluated again, and the recorded result is patched. This is what
//! makes a one-file change in a large repository cost a fraction of a full run.
//!
//! The cache layer `dependencies`, written beside the replay record by every full cached run,
//! holds what a patch needs besides the record's findings and their origins
//! ([`FindingOrigin`]):
//! - *holders*: every document's index keys ([`crate::memo::index_keys`], as key hashes), that
//!   is which documents each query may return;
//! - *readers*: every query of every evaluation (key hash → evaluated document);
//! - the skipped evaluations S004 is made from, the references that did not resolve, and how
//!   many evaluations each document had.
//!
//! A patch:
//! 1. takes the files whose stamps do not prove them unchanged (read by the caller, which tried
//!    a replay with them) and keeps those whose content changed (at most
//!    [`MAX_CHANGED_FILES`]);
//! 2. loads them: their documents must have the recorded kinds and ids (so no duplicate, no
//!    other document's reference and no suggestion can change) and their references must
//!    resolve, before and after;
//! 3. takes as affected the changed documents and every document whose evaluations asked a key
//!    that an old or a new version of a changed document holds;
//! 4. evaluates the affected documents on a repository of the files holding them and every
//!    document their queries may return, grown until every query's answer there is its answer
//!    in the whole repository (by the holders);
//! 5. replaces the findings of the changed files' loading, of the affected documents'
//!    evaluations and of the S004 of the documents whose skips changed, and sorts as a full
//!    run does.
//!
//! Anything outside this is a full run: a changed id or kind (added, removed or renamed files
//! are another world already), a reference that does not resolve, a finding about the
//! repository as a whole (a duplicate id, a missing schema) pointing into a changed file, a
//! policy error, output or limit, too many documents. The property test
//! (`tests/cache_equivalence.rs`) compares every step's patched result with a cold run's.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cache::{Fingerprint, FingerprintBuilder, Stamp, Store};
use crate::discover::ReadOutcome;
use crate::finding::Finding;
use crate::memo::{index_keys, KeyHash};
use crate::policy::{Dependencies, EvalContext, EvalOrigin, MemoRequest, PolicySet, SkipRecord};
use crate::replay::{Content, FindingOrigin, Replay};
use crate::repository::{DocIndex, Document, Repository};
use crate::source::SourceMap;

/// The layer's name in the cache folder.
pub const LAYER: &str = "dependencies";
/// More changed files than this make a full run (which the other layers still speed up).
pub const MAX_CHANGED_FILES: usize = 16;
/// More affected documents than this (a partner named by thousands) make a full run.
const MAX_AFFECTED_DOCUMENTS: usize = 4_096;
/// More files to load for the evaluations than this make a full run.
const MAX_LOADED_FILES: usize = 8_192;
/// Rounds of growing the repository the evaluations run on.
const MAX_ROUNDS: usize = 8;

/// A data file without a trusted stamp, read and compared with the replay record: (walk index,
/// what reading it gave, whether its content is the recorded one).
pub type Compared = (usize, ReadOutcome, bool);

/// Reading and loading data files, as the run does them (the caller owns both).
pub trait Files: Sync {
    /// Reads data file `index` (walk order).
    fn read(&self, index: usize) -> ReadOutcome;
    /// Loads (parses, identifies, validates) what [`Files::read`] gave for file `index`.
    fn load(&self, index: usize, read: ReadOutcome) -> (Vec<Document>, Vec<Finding>);
}

/// The `dependencies` layer (see the module docs).
#[derive(Debug, PartialEq)]
pub struct DependencyRecord {
    /// The recorded run this belongs to ([`contents_fingerprint`] of its files).
    contents: Fingerprint,
    /// (key hash, document) for every index key of every document, sorted.
    holders: Vec<(KeyHash, DocIndex)>,
    /// (key hash, evaluated document) for every query of every evaluation, sorted.
    readers: Vec<(KeyHash, DocIndex)>,
    rest: Rest,
}

/// The small part of the record, in postcard.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Rest {
    /// (document, evaluations run or reused on it), sorted.
    evaluations: Vec<(DocIndex, u16)>,
    skips: Vec<SkipRecord>,
    /// References that did not resolve and made their field invalid (with `--skip-dangling`).
    dangling: Vec<(DocIndex, String)>,
}

/// The fingerprint of a record's files (their content hashes, in walk order).
pub fn contents_fingerprint(files: &[(Option<Stamp>, Fingerprint)]) -> Fingerprint {
    let mut fingerprint = FingerprintBuilder::new();
    for (_, content) in files {
        fingerprint.add("file", &content.0);
    }
    fingerprint.finish()
}

/// The (key hash, document) pairs of every index key of every document, sorted: the holders
/// of a dependency record (computed right after the index, while nothing else runs).
pub fn holders(repository: &Repository) -> Vec<(KeyHash, DocIndex)> {
    let mut holders: Vec<(KeyHash, DocIndex)> = repository
        .documents
        .par_iter()
        .enumerate()
        .flat_map_iter(|(index, doc)| {
            index_keys(doc)
                .into_iter()
                .map(move |key| (key.hash(), index as DocIndex))
        })
        .collect();
    holders.par_sort_unstable();
    holders.dedup();
    holders
}

/// Records what a full run's result depended on, beside its replay record (`files`: that
/// record's files; `holders`: [`holders`] of its repository). `dangling`: the reference fields
/// the run made invalid.
pub fn save(
    store: &Store,
    world: &Fingerprint,
    files: &[(Option<Stamp>, Fingerprint)],
    holders: Vec<(KeyHash, DocIndex)>,
    dependencies: Dependencies,
    dangling: Vec<(DocIndex, String)>,
) {
    let record = DependencyRecord {
        contents: contents_fingerprint(files),
        holders,
        readers: dependencies.reads,
        rest: Rest {
            evaluations: dependencies.evaluations,
            skips: dependencies.skips,
            dangling,
        },
    };
    match record.encode() {
        Some(bytes) => store.save_layer_bytes(LAYER, world, &bytes),
        None => store.note(format!(
            "cannot save the cache layer `{LAYER}`; the next run after a change is a full run"
        )),
    }
}

impl DependencyRecord {
    /// The contents fingerprint, then each list of pairs as a length and fixed-width
    /// little-endian entries (read back without decoding two million varints), then the rest
    /// in postcard.
    fn encode(&self) -> Option<Vec<u8>> {
        let rest = postcard::to_stdvec(&self.rest).ok()?;
        let pairs = self.holders.len() + self.readers.len();
        let mut out = Vec::with_capacity(16 + 16 + pairs * 12 + rest.len());
        out.extend_from_slice(&self.contents.0);
        for list in [&self.holders, &self.readers] {
            out.extend_from_slice(&(list.len() as u64).to_le_bytes());
            for (key, document) in list {
                out.extend_from_slice(&key.to_le_bytes());
                out.extend_from_slice(&document.to_le_bytes());
            }
        }
        out.extend_from_slice(&rest);
        Some(out)
    }

    /// The record in `bytes`, or `None` when it is not one (damaged, truncated, unsorted, or
    /// naming documents beyond `documents`).
    fn decode(bytes: &[u8], documents: usize) -> Option<DependencyRecord> {
        let contents = Fingerprint(bytes.get(..16)?.try_into().ok()?);
        let mut at = 16;
        let mut list = || -> Option<Vec<(KeyHash, DocIndex)>> {
            let len = u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?);
            at += 8;
            let size = usize::try_from(len).ok()?.checked_mul(12)?;
            let body = bytes.get(at..at.checked_add(size)?)?;
            at += size;
            let pairs: Vec<(KeyHash, DocIndex)> = body
                .chunks_exact(12)
                .map(|pair| {
                    let (key, document) = pair.split_at(8);
                    (
                        KeyHash::from_le_bytes(key.try_into().expect("8 bytes")),
                        DocIndex::from_le_bytes(document.try_into().expect("4 bytes")),
                    )
                })
                .collect();
            let valid = pairs.windows(2).all(|w| w[0] < w[1])
                && pairs.iter().all(|&(_, d)| (d as usize) < documents);
            valid.then_some(pairs)
        };
        let holders = list()?;
        let readers = list()?;
        let rest: Rest = match postcard::take_from_bytes(bytes.get(at..)?) {
            Ok((rest, [])) => rest,
            _ => return None,
        };
        let in_range = |d: DocIndex| (d as usize) < documents;
        let valid = rest.evaluations.iter().all(|&(d, _)| in_range(d))
            && rest
                .skips
                .iter()
                .all(|s| in_range(s.evaluated) && in_range(s.cause))
            && rest.dangling.iter().all(|(d, _)| in_range(*d));
        valid.then_some(DependencyRecord {
            contents,
            holders,
            readers,
            rest,
        })
    }

    /// The documents holding key `key` in the recorded repository.
    fn holders_of(&self, key: KeyHash) -> impl Iterator<Item = DocIndex> + '_ {
        equal_range(&self.holders, key).iter().map(|&(_, d)| d)
    }

    /// The documents whose evaluations asked `key`.
    fn readers_of(&self, key: KeyHash) -> impl Iterator<Item = DocIndex> + '_ {
        equal_range(&self.readers, key).iter().map(|&(_, d)| d)
    }
}

/// The entries of a sorted list of pairs whose key is `key`.
fn equal_range(pairs: &[(KeyHash, DocIndex)], key: KeyHash) -> &[(KeyHash, DocIndex)] {
    let start = pairs.partition_point(|&(k, _)| k < key);
    let end = start + pairs[start..].partition_point(|&(k, _)| k == key);
    &pairs[start..end]
}

/// Why a change was not answered by a patch (`check --timings` says it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotPatched(pub &'static str);

/// A patch that passed every check that needs no evaluation (see the module docs).
pub struct Plan {
    stages: Stages,
    record: DependencyRecord,
    /// The changed files (walk order) with their loading.
    changed: Vec<(usize, Vec<Document>, Vec<Finding>)>,
    /// Every file read to find the changed ones, with its text (the changed ones included).
    pub texts: Vec<(usize, Arc<str>)>,
    /// Documents of the changed files, sorted.
    changed_documents: Vec<DocIndex>,
    /// Affected documents (step 3), sorted.
    affected: Vec<DocIndex>,
    /// (key hash, document) of the changed documents' new versions, sorted.
    new_holders: Vec<(KeyHash, DocIndex)>,
    /// The documents of each file ([`document_ranges`]).
    starts: Vec<DocIndex>,
}

impl Plan {
    /// How many files changed.
    pub fn changed_files(&self) -> usize {
        self.changed.len()
    }

    /// The changed files (walk indexes, sorted).
    pub fn changed_indexes(&self) -> Vec<usize> {
        let mut indexes: Vec<usize> = self.changed.iter().map(|(i, _, _)| *i).collect();
        indexes.sort_unstable();
        indexes
    }
}

/// The documents of each data file: `starts[i]..starts[i + 1]` are file `i`'s.
fn document_ranges(replay: &Replay, first_data: u32) -> Option<Vec<DocIndex>> {
    let mut starts = Vec::with_capacity(replay.files.len() + 1);
    let mut at = 0;
    for file in 0..replay.files.len() as u32 {
        starts.push(at as DocIndex);
        while replay
            .documents
            .get(at)
            .is_some_and(|d| d.file.0 == first_data + file)
        {
            at += 1;
        }
    }
    starts.push(at as DocIndex);
    // Every recorded document belongs to a data file, in order.
    (at == replay.documents.len()).then_some(starts)
}

/// Steps 1–3 of the module docs: the changed files, loaded, checked and their reach; `None`
/// when the change is not one a patch can answer.
pub fn plan(
    replay: &Replay,
    store: &Store,
    world: &Fingerprint,
    read: Vec<Compared>,
    first_data: u32,
    files: &dyn Files,
) -> Result<Plan, NotPatched> {
    let mut stages = Stages::new();
    if replay.origins.len() != replay.findings.len() {
        return Err(NotPatched("the replay record does not match the files"));
    }
    let changed_count = read.iter().filter(|(_, _, same)| !same).count();
    if changed_count == 0 {
        return Err(NotPatched("no file changed"));
    }
    if changed_count > MAX_CHANGED_FILES {
        return Err(NotPatched("too many changed files"));
    }
    let documents = replay.documents.len();
    let record = store
        .load_layer_bytes(LAYER, world)
        .and_then(|bytes| DependencyRecord::decode(&bytes, documents))
        .filter(|record| record.contents == contents_fingerprint(&replay.files))
        .ok_or(NotPatched("no dependency record of the last run"))?;
    let starts = document_ranges(replay, first_data)
        .ok_or(NotPatched("the replay record does not match the files"))?;
    stages.lap("patch: load the dependency record");
    let mut texts = Vec::with_capacity(read.len());
    let mut to_load = Vec::with_capacity(changed_count);
    for (i, read, same) in read {
        texts.push((i, Arc::clone(&read.text)));
        if !same {
            to_load.push((i, read));
        }
    }
    let changed: Vec<(usize, Vec<Document>, Vec<Finding>)> = to_load
        .into_par_iter()
        .map(|(i, read)| {
            let (documents, findings) = files.load(i, read);
            (i, documents, findings)
        })
        .collect();
    // Same kinds and ids, in the same order.
    let mut changed_documents = Vec::new();
    for (i, loaded, _) in &changed {
        let recorded = &replay.documents[starts[*i] as usize..starts[*i + 1] as usize];
        let same = recorded.len() == loaded.len()
            && recorded
                .iter()
                .zip(loaded)
                .all(|(r, d)| r.document.kind == d.kind && r.document.id == d.id);
        if !same {
            return Err(NotPatched(
                "a changed file's documents changed kinds or ids",
            ));
        }
        changed_documents.extend(starts[*i]..starts[*i + 1]);
    }
    changed_documents.sort_unstable();
    let is_changed = |d: DocIndex| changed_documents.binary_search(&d).is_ok();
    let changed_files: BTreeSet<u32> = changed
        .iter()
        .map(|(i, _, _)| first_data + *i as u32)
        .collect();
    // What the patch cannot make again must not depend on a changed file.
    for (finding, origin) in replay.findings.iter().zip(&replay.origins) {
        let points_into_changed = finding
            .location
            .iter()
            .chain(finding.related.iter().map(|r| &r.location))
            .any(|l| changed_files.contains(&l.file.0));
        match origin {
            FindingOrigin::Policy => {
                return Err(NotPatched("the last run had a policy error or output"))
            }
            FindingOrigin::References(d) if is_changed(*d) => {
                return Err(NotPatched("a changed document had a reference finding"))
            }
            FindingOrigin::Run | FindingOrigin::References(_) if points_into_changed => {
                return Err(NotPatched(
                    "a finding about the whole repository points into a changed file",
                ))
            }
            _ => {}
        }
    }
    if record.rest.dangling.iter().any(|(d, _)| is_changed(*d)) {
        return Err(NotPatched("a changed document had a reference finding"));
    }
    // The new versions' references resolve (so their R002/R003 are none, as recorded).
    let resolves = |kind: crate::model::Kind, id: &str| {
        record
            .holders_of(crate::memo::KeyOf::Find(kind, id).hash())
            .any(|d| {
                let entry = &replay.documents[d as usize].document;
                entry.kind == kind && &*entry.id == id
            })
    };
    for doc in changed.iter().flat_map(|(_, docs, _)| docs) {
        if !crate::refs::references(doc)
            .iter()
            .all(|r| resolves(r.target, r.id))
        {
            return Err(NotPatched(
                "a changed document has a reference that does not resolve",
            ));
        }
    }
    stages.lap("patch: load the changed files, check them");
    // Step 3: the keys an old or new version holds, and who read them.
    let starts_of = &starts;
    let mut new_holders: Vec<(KeyHash, DocIndex)> = changed
        .iter()
        .flat_map(|(i, docs, _)| {
            docs.iter().enumerate().flat_map(move |(ordinal, doc)| {
                let index = starts_of[*i] + ordinal as DocIndex;
                index_keys(doc)
                    .into_iter()
                    .map(move |key| (key.hash(), index))
            })
        })
        .collect();
    new_holders.sort_unstable();
    new_holders.dedup();
    let mut keys: BTreeSet<KeyHash> = new_holders.iter().map(|&(k, _)| k).collect();
    keys.extend(
        record
            .holders
            .iter()
            .filter(|&&(_, d)| is_changed(d))
            .map(|&(k, _)| k),
    );
    let mut affected: BTreeSet<DocIndex> = changed_documents.iter().copied().collect();
    for &key in &keys {
        affected.extend(record.readers_of(key));
        if affected.len() > MAX_AFFECTED_DOCUMENTS {
            return Err(NotPatched("the change reaches too many documents"));
        }
    }
    stages.lap("patch: find the affected documents");
    Ok(Plan {
        stages,
        record,
        changed,
        texts,
        changed_documents,
        affected: affected.into_iter().collect(),
        new_holders,
        starts,
    })
}

/// What a patch gives: the patched result.
pub struct Patched {
    /// Where the time went (`check --timings`).
    pub stages: Vec<(&'static str, std::time::Duration)>,
    /// Sorted (not deduplicated) with rule settings applied, as a full run records them.
    pub findings: Vec<Finding>,
    /// Evaluations that ran now, and the result's total.
    pub evaluations_run: usize,
    pub evaluations: usize,
    /// Texts of the files read for the patch (walk order).
    pub texts: Vec<(usize, Arc<str>)>,
}

/// Stage timings of a patch.
struct Stages {
    laps: Vec<(&'static str, std::time::Duration)>,
    last: std::time::Instant,
}

impl Stages {
    fn new() -> Stages {
        Stages {
            laps: Vec::new(),
            last: std::time::Instant::now(),
        }
    }

    fn lap(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.laps.push((name, now - self.last));
        self.last = now;
    }
}

/// The documents of the files loaded so far, by global index.
struct Loaded {
    /// Per loaded file (walk order): its documents, as loaded now (changed files: new versions).
    files: BTreeMap<usize, Vec<Document>>,
}

/// Steps 4 and 5 of the module docs. `None` when the evaluations need what a patch cannot
/// give (a policy error, output or limit; too many files): the run is then a full one.
pub fn apply(
    plan: Plan,
    replay: &Replay,
    files: &dyn Files,
    policies: &PolicySet,
    context: &EvalContext,
    sources: &SourceMap,
    options: &crate::options::CheckOptions,
) -> Result<Patched, NotPatched> {
    let Plan {
        mut stages,
        record,
        changed,
        mut texts,
        changed_documents,
        affected,
        new_holders,
        starts,
    } = plan;
    // The time since the plan went to this run's sources (the caller's stage).
    stages.last = std::time::Instant::now();
    if record
        .rest
        .skips
        .iter()
        .any(|s| s.policy as usize >= policies.policies.len())
    {
        return Err(NotPatched(
            "the dependency record does not match the policies",
        ));
    }
    let file_of = |d: DocIndex| starts.partition_point(|&s| s <= d) - 1;
    let is_changed = |d: DocIndex| changed_documents.binary_search(&d).is_ok();
    // The documents a key's answer may hold in the whole repository now: the recorded
    // holders but the changed documents, plus the changed documents' new versions.
    let holders_now = |key: KeyHash| -> Vec<DocIndex> {
        let mut holders: Vec<DocIndex> =
            record.holders_of(key).filter(|&d| !is_changed(d)).collect();
        holders.extend(equal_range(&new_holders, key).iter().map(|&(_, d)| d));
        holders
    };
    let mut loaded = Loaded {
        files: changed
            .iter()
            .map(|(i, docs, _)| (*i, docs.clone()))
            .collect(),
    };
    // The files to load first: the affected documents', and every document the affected
    // documents' evaluations could return last time (most patches need one round).
    let mut wanted: BTreeSet<usize> = affected.iter().map(|&d| file_of(d)).collect();
    let mut affected_bits = vec![false; replay.documents.len()];
    for &d in &affected {
        affected_bits[d as usize] = true;
    }
    let is_affected = |d: DocIndex| affected_bits[d as usize];
    let asked: BTreeSet<KeyHash> = record
        .readers
        .iter()
        .filter(|&&(_, d)| is_affected(d))
        .map(|&(k, _)| k)
        .collect();
    for &key in &asked {
        wanted.extend(holders_now(key).into_iter().map(file_of));
    }
    let dangling: HashMap<DocIndex, Vec<&str>> =
        record
            .rest
            .dangling
            .iter()
            .fold(HashMap::new(), |mut map, (d, field)| {
                map.entry(*d).or_default().push(field.as_str());
                map
            });
    stages.lap("patch: plan the loading");
    let mut rounds = 0;
    let (outcome, sub) = loop {
        rounds += 1;
        if rounds > MAX_ROUNDS {
            return Err(NotPatched("the evaluations' lookups do not settle"));
        }
        load_files(&mut loaded, &wanted, replay, files, &mut texts)?;
        let sub = SubRepository::new(&loaded, &starts, &dangling, options.skip_dangling);
        stages.lap("patch: load the files the evaluations need");
        let targets: Vec<DocIndex> = affected.iter().map(|d| sub.local[d]).collect();
        let (outcome, _) = policies.evaluate_with_memo(
            Arc::clone(&sub.repository),
            context,
            sources,
            MemoRequest {
                documents: Some(targets),
                dependencies: true,
                ..MemoRequest::default()
            },
        );
        stages.lap("patch: evaluate");
        let dependencies = outcome
            .dependencies
            .as_ref()
            .ok_or(NotPatched("no dependencies"))?;
        // Every answer complete here? Else load what is missing and evaluate again.
        let mut missing = BTreeSet::new();
        let mut key = None;
        for &(read, _) in &dependencies.reads {
            if key == Some(read) {
                continue;
            }
            key = Some(read);
            for holder in holders_now(read) {
                if !sub.local.contains_key(&holder) {
                    missing.insert(file_of(holder));
                }
            }
        }
        if missing.is_empty() {
            break (outcome, sub);
        }
        wanted.extend(missing);
        if wanted.len() > MAX_LOADED_FILES {
            return Err(NotPatched("the change reaches too many files"));
        }
    };
    if outcome.memo_stats.incomplete > 0 || outcome.origins.contains(&EvalOrigin::Policy) {
        return Err(NotPatched("a policy failed, printed or hit a limit"));
    }
    let dependencies = outcome.dependencies.expect("asked for");
    // The evaluations' findings (their S004 is made again below, from every skip of their
    // causes).
    let mut fresh: Vec<Finding> = Vec::new();
    for (finding, origin) in outcome.findings.into_iter().zip(outcome.origins) {
        match origin {
            EvalOrigin::Evaluation(_) => fresh.push(finding),
            EvalOrigin::Skipped(_) => {}
            EvalOrigin::Policy => return Err(NotPatched("a policy failed or printed")),
        }
    }
    // S004: the skips of unaffected evaluations stand; the affected ones are this run's.
    let new_skips: Vec<SkipRecord> = dependencies
        .skips
        .iter()
        .map(|s| SkipRecord {
            policy: s.policy,
            evaluated: sub.global[s.evaluated as usize],
            cause: sub.global[s.cause as usize],
            field: s.field.clone(),
        })
        .collect();
    let mut touched: BTreeSet<DocIndex> = new_skips.iter().map(|s| s.cause).collect();
    touched.extend(
        record
            .rest
            .skips
            .iter()
            .filter(|s| is_affected(s.evaluated) || is_changed(s.cause))
            .map(|s| s.cause),
    );
    let mut skips: Vec<SkipRecord> = record
        .rest
        .skips
        .iter()
        .filter(|s| touched.contains(&s.cause) && !is_affected(s.evaluated))
        .cloned()
        .chain(new_skips)
        .collect();
    skips.sort_by(|a, b| {
        (a.cause, &a.field, a.evaluated, a.policy).cmp(&(b.cause, &b.field, b.evaluated, b.policy))
    });
    // S004 points at its cause and at the first other document evaluated: load their files.
    let skip_files: BTreeSet<usize> = skips
        .iter()
        .flat_map(|s| [file_of(s.cause), file_of(s.evaluated)])
        .collect();
    let sub = if skip_files.iter().all(|f| loaded.files.contains_key(f)) {
        sub
    } else {
        if wanted.len() + skip_files.len() > MAX_LOADED_FILES {
            return Err(NotPatched("the change reaches too many files"));
        }
        load_files(&mut loaded, &skip_files, replay, files, &mut texts)?;
        SubRepository::new(&loaded, &starts, &dangling, options.skip_dangling)
    };
    let local_skips: Vec<SkipRecord> = skips
        .iter()
        .map(|s| SkipRecord {
            policy: s.policy,
            evaluated: sub.local[&s.evaluated],
            cause: sub.local[&s.cause],
            field: s.field.clone(),
        })
        .collect();
    let skipped = policies.skipped_findings(&sub.repository, &local_skips);

    stages.lap("patch: S004");
    // Step 5: the recorded findings but those made again, then the new ones.
    let changed_files: BTreeSet<u32> = changed.iter().map(|(i, _, _)| *i as u32).collect();
    let replaced = |origin: &FindingOrigin| match origin {
        FindingOrigin::File(i) => changed_files.contains(i),
        FindingOrigin::Evaluation(d) => is_affected(*d),
        FindingOrigin::Skipped(d) => touched.contains(d),
        _ => false,
    };
    for (_, _, findings) in changed {
        fresh.extend(findings);
    }
    fresh.extend(skipped.into_iter().map(|(_, finding)| finding));
    crate::suppress::rule_settings(&mut fresh, options);
    let mut findings: Vec<Finding> = replay
        .findings
        .iter()
        .zip(&replay.origins)
        .filter(|(_, origin)| !replaced(origin))
        .map(|(finding, _)| finding.clone())
        .chain(fresh)
        .collect();
    findings.sort_by(Finding::total_order);
    let before: usize = record
        .rest
        .evaluations
        .iter()
        .filter(|&&(d, _)| is_affected(d))
        .map(|&(_, n)| n as usize)
        .sum();
    let evaluations_run = outcome.memo_stats.run;
    texts.sort_unstable_by_key(|(i, _)| *i);
    texts.dedup_by_key(|(i, _)| *i);
    stages.lap("patch: the findings");
    Ok(Patched {
        stages: stages.laps,
        findings,
        evaluations_run,
        evaluations: replay.evaluations - before.min(replay.evaluations) + evaluations_run,
        texts,
    })
}

/// Reads (checking the recorded content) and loads the files in `wanted` not loaded yet.
fn load_files(
    loaded: &mut Loaded,
    wanted: &BTreeSet<usize>,
    replay: &Replay,
    files: &dyn Files,
    texts: &mut Vec<(usize, Arc<str>)>,
) -> Result<(), NotPatched> {
    let new: Vec<usize> = wanted
        .iter()
        .copied()
        .filter(|i| !loaded.files.contains_key(i))
        .collect();
    /// A file read and loaded: (walk index, text, documents).
    type Read = (usize, Arc<str>, Vec<Document>);
    let results: Vec<Option<Read>> = new
        .into_par_iter()
        .map(|i| {
            let read = files.read(i);
            // A file that changed after its stamp was taken: the full run reads it again.
            if Content::of(&read).fingerprint() != replay.files[i].1 {
                return None;
            }
            let text = Arc::clone(&read.text);
            Some((i, text, files.load(i, read).0))
        })
        .collect();
    for result in results {
        let (i, text, documents) =
            result.ok_or(NotPatched("a file changed while the patch read it"))?;
        texts.push((i, text));
        loaded.files.insert(i, documents);
    }
    Ok(())
}

/// The repository the patch evaluates on: the documents of the loaded files, in their global
/// order (so every answer lists them in the same order as the whole repository would).
struct SubRepository {
    repository: Arc<Repository>,
    /// Local index → global index.
    global: Vec<DocIndex>,
    /// Global index → local index.
    local: HashMap<DocIndex, DocIndex>,
}

impl SubRepository {
    fn new(
        loaded: &Loaded,
        starts: &[DocIndex],
        dangling: &HashMap<DocIndex, Vec<&str>>,
        skip_dangling: bool,
    ) -> SubRepository {
        let mut documents = Vec::new();
        let mut global = Vec::new();
        for (&file, docs) in &loaded.files {
            for (ordinal, doc) in docs.iter().enumerate() {
                let index = starts[file] + ordinal as DocIndex;
                let mut doc = doc.clone();
                if skip_dangling {
                    for field in dangling.get(&index).into_iter().flatten() {
                        doc.mark_invalid(field);
                    }
                }
                documents.push(doc);
                global.push(index);
            }
        }
        let local = global
            .iter()
            .enumerate()
            .map(|(local, &global)| (global, local as DocIndex))
            .collect();
        SubRepository {
            repository: Arc::new(Repository::new(documents)),
            global,
            local,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(file: u32, id: &str) -> crate::outcome::DocumentEntry {
        crate::outcome::DocumentEntry {
            file: crate::source::FileId(file),
            document: crate::finding::DocumentRef {
                kind: crate::model::Kind::Customer,
                id: Arc::from(id),
            },
        }
    }

    #[test]
    fn each_file_gets_the_range_of_its_documents() {
        let replay = |documents| Replay {
            files: vec![(None, Fingerprint([0; 16])); 4],
            findings: Vec::new(),
            origins: Vec::new(),
            documents,
            reached: BTreeMap::new(),
            evaluations: 0,
        };
        // Data files start at id 1: two documents, none, one, none.
        let documents = vec![entry(1, "a"), entry(1, "b"), entry(3, "c")];
        assert_eq!(
            document_ranges(&replay(documents), 1),
            Some(vec![0, 2, 2, 3, 3])
        );
        // A document outside the data files, or out of order: not this record's files.
        assert_eq!(document_ranges(&replay(vec![entry(9, "x")]), 1), None);
        assert_eq!(
            document_ranges(&replay(vec![entry(3, "c"), entry(1, "a")]), 1),
            None
        );
    }

    #[test]
    fn the_record_round_trips_and_rejects_damage() {
        let record = DependencyRecord {
            contents: Fingerprint([7; 16]),
            holders: vec![(1, 0), (1, 2), (5, 1)],
            readers: vec![(1, 1), (9, 2)],
            rest: Rest {
                evaluations: vec![(0, 3), (2, 1)],
                skips: vec![SkipRecord {
                    policy: 1,
                    evaluated: 2,
                    cause: 0,
                    field: "customer".to_string(),
                }],
                dangling: vec![(2, "partner".to_string())],
            },
        };
        let bytes = record.encode().unwrap();
        assert_eq!(DependencyRecord::decode(&bytes, 3).as_ref(), Some(&record));
        // A document beyond the record's repository, a truncation, trailing bytes.
        assert_eq!(DependencyRecord::decode(&bytes, 2), None);
        for len in [0, 15, 16, 30, bytes.len() - 1] {
            assert_eq!(DependencyRecord::decode(&bytes[..len], 3), None, "{len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(DependencyRecord::decode(&longer, 3), None);
        // Unsorted pairs.
        let mut unsorted = bytes.clone();
        unsorted[24..32].copy_from_slice(&9u64.to_le_bytes());
        assert_eq!(DependencyRecord::decode(&unsorted, 3), None);
        assert_eq!(record.holders_of(1).collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(record.readers_of(9).collect::<Vec<_>>(), vec![2]);
        assert_eq!(record.readers_of(4).count(), 0);
    }
}
