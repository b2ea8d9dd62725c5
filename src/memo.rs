//! The incremental policy stage: fingerprints of documents and of the lookups policies make
//! (read sets), and the [`Memo`] of one run's evaluations that the next run reuses when
//! neither the evaluated document nor anything it looked up has changed.
//!
//! - A document's fingerprint covers its file's name and content, its ordinal among the
//!   file's documents, its invalid fields and whether policies may see it: a document that
//!   moved, whose file was renamed or edited anywhere, or whose references stopped resolving is
//!   a different document (its findings' locations could differ).
//! - A [`ReadKey`] is one query a policy asked the repository's indexes; its fingerprint is
//!   the hash of the fingerprints of the documents the query returns, in order (an empty answer
//!   has one fingerprint too). Values reached from a returned document are covered by that
//!   document's fingerprint.
//! - An evaluation is reused iff the [`Memo`] has an entry for (policy text, document
//!   fingerprint) and every key it read has the same fingerprint now. Evaluations that failed,
//!   hit a limit, were cancelled, panicked or printed are never recorded, so they always run.
//! - Everything an evaluation sees besides the repository (binary version, as_of, resolved
//!   settings, the schemas' names and texts and field lists, limits) makes the run's *world*
//!   fingerprint; a memo of another world is not used at all.

use std::collections::HashMap;
use std::hash::Hash;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use twox_hash::XxHash3_128 as Xxh3;

use crate::finding::Finding;
use crate::model::Kind;
use crate::repository::{DocIndex, Repository};
use crate::source::{FileId, SourceMap};

/// A 128-bit fingerprint (xxh3).
pub type Fingerprint = u128;

/// One query a policy asked through the policy API (each maps to one [`Repository`] method).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ReadKey {
    /// [`Repository::find`].
    Find(Kind, Box<str>),
    /// [`Repository::for_customer`].
    ForCustomer(Kind, Box<str>),
    /// [`Repository::documents_naming_partner`] (kind, field, partner).
    NamingPartner(Kind, Box<str>, Box<str>),
    /// [`Repository::partners_with_partner_id`].
    PartnerId(Box<str>),
    /// [`Repository::with_tenant`].
    Tenant(Kind, Box<str>),
    /// [`Repository::subscriptions_with_guid`].
    SubscriptionGuid(Box<str>),
    /// [`Repository::replacements_of`].
    Replacements(Box<str>),
    /// [`Repository::transfers_of`].
    TransfersOf(Box<str>),
}

/// A stable 64-bit hash of a [`ReadKey`] as the repository's indexes see it (tenant and
/// subscription GUIDs compared without case): the key of the dependency index that a patched
/// replay looks evaluations and documents up in ([`crate::patch`]). Equal for a query and for
/// every document its answer may contain ([`crate::repository::index_keys`]); collisions only
/// make a patch re-run or load more than it needs.
pub type KeyHash = u64;

/// A [`ReadKey`] borrowing its strings: what [`index_keys`] lists without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOf<'a> {
    Find(Kind, &'a str),
    ForCustomer(Kind, &'a str),
    NamingPartner(Kind, &'a str, &'a str),
    PartnerId(&'a str),
    Tenant(Kind, &'a str),
    SubscriptionGuid(&'a str),
    Replacements(&'a str),
    TransfersOf(&'a str),
}

impl KeyOf<'_> {
    /// See [`KeyHash`].
    pub fn hash(&self) -> KeyHash {
        use std::hash::Hasher as _;
        let mut hasher = twox_hash::XxHash3_64::new();
        let mut part = |text: &str, lowercase: bool| {
            hasher.write(&(text.len() as u64).to_le_bytes());
            if lowercase {
                // ASCII lowercase without allocating (the indexes compare GUIDs so).
                let mut buffer = [0u8; 64];
                for chunk in text.as_bytes().chunks(buffer.len()) {
                    let out = &mut buffer[..chunk.len()];
                    out.copy_from_slice(chunk);
                    out.make_ascii_lowercase();
                    hasher.write(out);
                }
            } else {
                hasher.write(text.as_bytes());
            }
        };
        let tag = match self {
            KeyOf::Find(kind, id) => {
                part(kind.as_str(), false);
                part(id, false);
                0
            }
            KeyOf::ForCustomer(kind, customer) => {
                part(kind.as_str(), false);
                part(customer, false);
                1
            }
            KeyOf::NamingPartner(kind, field, partner) => {
                part(kind.as_str(), false);
                part(field, false);
                part(partner, false);
                2
            }
            KeyOf::PartnerId(id) => {
                part(id, false);
                3
            }
            KeyOf::Tenant(kind, tenant) => {
                part(kind.as_str(), false);
                part(tenant, true);
                4
            }
            KeyOf::SubscriptionGuid(guid) => {
                part(guid, true);
                5
            }
            KeyOf::Replacements(subscription) => {
                part(subscription, false);
                6
            }
            KeyOf::TransfersOf(subscription) => {
                part(subscription, false);
                7
            }
        };
        hasher.write(&[tag]);
        hasher.finish()
    }
}

impl ReadKey {
    /// The key with its strings borrowed.
    pub fn borrowed(&self) -> KeyOf<'_> {
        match self {
            ReadKey::Find(kind, id) => KeyOf::Find(*kind, id),
            ReadKey::ForCustomer(kind, customer) => KeyOf::ForCustomer(*kind, customer),
            ReadKey::NamingPartner(kind, field, partner) => {
                KeyOf::NamingPartner(*kind, field, partner)
            }
            ReadKey::PartnerId(id) => KeyOf::PartnerId(id),
            ReadKey::Tenant(kind, tenant) => KeyOf::Tenant(*kind, tenant),
            ReadKey::SubscriptionGuid(guid) => KeyOf::SubscriptionGuid(guid),
            ReadKey::Replacements(subscription) => KeyOf::Replacements(subscription),
            ReadKey::TransfersOf(subscription) => KeyOf::TransfersOf(subscription),
        }
    }

    /// See [`KeyHash`].
    pub fn key_hash(&self) -> KeyHash {
        self.borrowed().hash()
    }

    /// The fingerprint of what this query returns in `repo` (`documents`: the fingerprint of
    /// each document, by index).
    pub fn fingerprint(&self, repo: &Repository, documents: &[Fingerprint]) -> Fingerprint {
        let found;
        let indexes: &[DocIndex] = match self {
            ReadKey::Find(kind, id) => {
                found = repo.find(*kind, id);
                found.as_slice()
            }
            ReadKey::ForCustomer(kind, customer) => repo.for_customer(*kind, customer),
            ReadKey::NamingPartner(kind, field, partner) => {
                repo.documents_naming_partner(*kind, field, partner)
            }
            ReadKey::PartnerId(id) => repo.partners_with_partner_id(id),
            ReadKey::Tenant(kind, tenant) => repo.with_tenant(*kind, tenant),
            ReadKey::SubscriptionGuid(guid) => repo.subscriptions_with_guid(guid),
            ReadKey::Replacements(subscription) => repo.replacements_of(subscription),
            ReadKey::TransfersOf(subscription) => repo.transfers_of(subscription),
        };
        let mut hasher = Xxh3::new();
        hasher.write(&(indexes.len() as u64).to_le_bytes());
        for &index in indexes {
            hasher.write(&documents[index as usize].to_le_bytes());
        }
        hasher.finish_128()
    }
}

/// Every query whose answer contains `doc` in a repository that holds it (see
/// [`Repository::new`], which indexes the same fields): a document can only change the answers
/// of these keys, before and after an edit. Duplicated ids are included (`Find` gives the first
/// document with the id; a patch loads every holder).
pub fn index_keys(doc: &crate::repository::Document) -> Vec<KeyOf<'_>> {
    let mut keys = vec![KeyOf::Find(doc.kind, &doc.id)];
    if let Some(customer) = doc.str_field("customer") {
        keys.push(KeyOf::ForCustomer(doc.kind, customer));
    }
    for &(kind, field) in crate::repository::PARTNER_FIELDS {
        if kind == doc.kind {
            if let Some(partner) = doc.str_field(field) {
                keys.push(KeyOf::NamingPartner(kind, field, partner));
            }
        }
    }
    match doc.kind {
        Kind::Partner => {
            if let Some(id) = doc.str_field("partner_id") {
                keys.push(KeyOf::PartnerId(id));
            }
        }
        Kind::Subscription => {
            if let Some(guid) = doc.str_field("subscription_id") {
                keys.push(KeyOf::SubscriptionGuid(guid));
            }
            if let Some(old) = doc.str_field("replaces") {
                keys.push(KeyOf::Replacements(old));
            }
        }
        Kind::Transfer => {
            if let Some(items) = doc
                .value
                .get("subscriptions")
                .and_then(serde_json::Value::as_array)
            {
                for item in items.iter().filter_map(serde_json::Value::as_str) {
                    keys.push(KeyOf::TransfersOf(item));
                }
            }
        }
        _ => {}
    }
    if matches!(doc.kind, Kind::Partner | Kind::Customer) {
        if let Some(tenant) = doc.str_field("tenant_id") {
            keys.push(KeyOf::Tenant(doc.kind, tenant));
        }
    }
    keys
}

/// Where a document is, independently of a run's file ids: its file's id in the memo's own
/// file table ([`Memo::files`]) and its ordinal among that file's documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DocPlace {
    pub file: FileId,
    pub ordinal: u32,
}

/// An evaluation that read an invalid field (S004 is built from these).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSkip {
    /// The document whose field was read.
    pub document: DocPlace,
    pub field: String,
}

/// What one evaluation of a policy on a document produced, and what it read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Located findings; their file ids are those of [`Memo::files`].
    pub findings: Vec<Finding>,
    /// Lines of `report*` calls that ran.
    pub reached: Vec<u16>,
    pub skip: Option<StoredSkip>,
    /// Every query the evaluation asked, sorted, with the fingerprint of its answer.
    pub reads: Vec<(ReadKey, Fingerprint)>,
}

/// The key of an [`Entry`]: (policy id and text, document fingerprint).
pub type EntryKey = (Fingerprint, Fingerprint);

/// Hashes keys that are fingerprints already: folds their bits instead of hashing them again
/// (a memo of a large repository holds a million entries).
#[derive(Default)]
pub struct FoldHasher(u64);

impl std::hash::Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(5) ^ byte as u64).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = (self.0.rotate_left(5) ^ (value as u64) ^ ((value >> 64) as u64))
            .wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

/// The entries of a memo.
pub type EntryMap = HashMap<EntryKey, Entry, std::hash::BuildHasherDefault<FoldHasher>>;

/// A set of fingerprints.
pub type FingerprintSet =
    std::collections::HashSet<Fingerprint, std::hash::BuildHasherDefault<FoldHasher>>;

/// The evaluations of one run, for the next run (see the module docs). Plain data: the cache
/// store saves and loads it; a memo it cannot trust is simply not given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memo {
    /// The world the evaluations ran in (see [`world_fingerprint`]).
    pub world: Fingerprint,
    /// File names by file id of the run that made the memo.
    pub files: Vec<String>,
    /// The digest of every document's fingerprint, in order ([`documents_digest`]): when this
    /// run's is the same, the repository is the same, so every query answers as it did and no
    /// entry's read set needs checking.
    pub documents: Fingerprint,
    /// Stored as a list of pairs: formats such as JSON have no tuple keys.
    #[serde(with = "pairs")]
    pub entries: EntryMap,
}

/// A map (de)serialised as a list of (key, value) pairs.
mod pairs {
    use std::collections::HashMap;
    use std::hash::{BuildHasher, Hash};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, H, S: Serializer>(
        map: &HashMap<K, V, H>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, H, D>(deserializer: D) -> Result<HashMap<K, V, H>, D::Error>
    where
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
        H: BuildHasher + Default,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

/// Entries per chunk of the cache layer ([`Memo::to_layer_bytes`]).
const LAYER_CHUNK: usize = 16 * 1024;

impl Memo {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The memo as the payload of the cache's evaluations layer: postcard of the head (world,
    /// files, documents digest) and of the entries in chunks, each encoded on its own so that
    /// the chunks are encoded (and decoded, [`Memo::from_layer_bytes`]) in parallel: one
    /// stream took 0.34 s to write and 0.3 s to read for a 10k-customer book's 578k entries.
    pub fn to_layer_bytes(&self) -> Option<Vec<u8>> {
        let entries: Vec<(&EntryKey, &Entry)> = self.entries.iter().collect();
        let chunks: Option<Vec<Vec<u8>>> = entries
            .par_chunks(LAYER_CHUNK)
            .map(|chunk| postcard::to_stdvec(chunk).ok())
            .collect();
        postcard::to_stdvec(&((&self.world, &self.files, &self.documents), chunks?)).ok()
    }

    /// A memo back from [`Memo::to_layer_bytes`]; `None` unless every part decodes completely.
    pub fn from_layer_bytes(bytes: &[u8]) -> Option<Memo> {
        type Head = (Fingerprint, Vec<String>, Fingerprint);
        let ((world, files, documents), chunks): (Head, Vec<Vec<u8>>) =
            match postcard::take_from_bytes(bytes).ok()? {
                (parts, []) => parts,
                _ => return None,
            };
        let decoded: Option<Vec<Vec<(EntryKey, Entry)>>> = chunks
            .par_iter()
            .map(|chunk| match postcard::take_from_bytes(chunk).ok()? {
                (entries, []) => Some(entries),
                _ => None,
            })
            .collect();
        let decoded = decoded?;
        let mut entries = EntryMap::with_capacity_and_hasher(
            decoded.iter().map(Vec::len).sum(),
            Default::default(),
        );
        entries.extend(decoded.into_iter().flatten());
        Some(Memo {
            world,
            files,
            documents,
            entries,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Counts of a run's policy evaluations (in [`crate::outcome::Stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoStats {
    /// Evaluations that ran a script.
    pub run: usize,
    /// Evaluations whose results came from the previous run's memo.
    pub reused: usize,
    /// Evaluations that did not complete (a script error, a limit, a cancellation, a panic):
    /// never reused, and a run with one is not recorded for replay ([`crate::replay`]),
    /// since a time limit may fall differently next time.
    pub incomplete: usize,
    /// The recorded memo is the previous one as it was (nothing ran, no entry dropped, the same
    /// files): a store need not write it again.
    pub memo_unchanged: bool,
}

/// Hashes `value`'s parts with a length prefix each, so that concatenations cannot collide.
pub struct Hasher(Xxh3);

impl Default for Hasher {
    fn default() -> Self {
        Hasher(Xxh3::new())
    }
}

impl Hasher {
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.write(&(bytes.len() as u64).to_le_bytes());
        self.0.write(bytes);
        self
    }

    pub fn str(&mut self, text: &str) -> &mut Self {
        self.bytes(text.as_bytes())
    }

    pub fn u128(&mut self, value: u128) -> &mut Self {
        self.0.write(&value.to_le_bytes());
        self
    }

    pub fn finish(&self) -> Fingerprint {
        self.0.finish_128()
    }
}

/// The fingerprint of a policy: its id and its text.
pub fn policy_fingerprint(id: &str, text: &str) -> Fingerprint {
    Hasher::default().str(id).str(text).finish()
}

/// Per document (by index): its fingerprint and its place (file, ordinal) in this run.
pub struct DocumentIdentities {
    pub fingerprints: Vec<Fingerprint>,
    pub places: Vec<DocPlace>,
    /// Place → index in this run.
    pub by_place: HashMap<DocPlace, DocIndex>,
}

/// The digest of the documents' fingerprints in repository order: equal digests mean the same
/// documents in the same files and places, hence the same index and the same query answers.
pub fn documents_digest(fingerprints: &[Fingerprint]) -> Fingerprint {
    let mut hasher = Hasher::default();
    hasher.bytes(&(fingerprints.len() as u64).to_le_bytes());
    for &print in fingerprints {
        hasher.u128(print);
    }
    hasher.finish()
}

/// Fingerprints every document of `repo` (see the module docs).
pub fn document_identities(repo: &Repository, sources: &SourceMap) -> DocumentIdentities {
    let mut places = Vec::with_capacity(repo.documents.len());
    let mut previous: Option<(FileId, u32)> = None;
    for doc in &repo.documents {
        let ordinal = match previous {
            Some((file, n)) if file == doc.file => n + 1,
            _ => 0,
        };
        previous = Some((doc.file, ordinal));
        places.push(DocPlace {
            file: doc.file,
            ordinal,
        });
    }
    // Documents of one file are consecutive (a file is loaded as a whole); should that ever
    // change, a repeated place makes the ordinals ambiguous: number them by count instead.
    let mut by_place: HashMap<DocPlace, DocIndex> = HashMap::with_capacity(places.len());
    let mut unique = true;
    for (index, place) in places.iter().enumerate() {
        unique &= by_place.insert(*place, index as DocIndex).is_none();
    }
    if !unique {
        let mut counts: HashMap<FileId, u32> = HashMap::new();
        by_place.clear();
        for (index, place) in places.iter_mut().enumerate() {
            let n = counts.entry(place.file).or_default();
            place.ordinal = *n;
            *n += 1;
            by_place.insert(*place, index as DocIndex);
        }
    }
    let mut files: Vec<FileId> = places.iter().map(|p| p.file).collect();
    files.dedup();
    let file_hashes: HashMap<FileId, Fingerprint> = files
        .par_iter()
        .map(|&file| {
            let source = sources.get(file);
            (
                file,
                Hasher::default()
                    .str(&source.name)
                    .u128(source.content_hash())
                    .finish(),
            )
        })
        .collect();
    let fingerprints = repo
        .documents
        .par_iter()
        .zip(places.par_iter())
        .map(|(doc, place)| {
            let mut hasher = Hasher::default();
            hasher
                .u128(file_hashes[&place.file])
                .u128(place.ordinal as u128)
                .bytes(&[doc.checkable as u8]);
            for field in &doc.invalid_fields {
                hasher.str(field);
            }
            hasher.finish()
        })
        .collect();
    DocumentIdentities {
        fingerprints,
        places,
        by_place,
    }
}

/// The fingerprint of everything an evaluation sees besides the repository: the binary's
/// version, the parts given (as_of, resolved settings, field lists, limits, each as text).
pub fn world_fingerprint<'a>(parts: impl IntoIterator<Item = &'a str>) -> Fingerprint {
    let mut hasher = Hasher::default();
    hasher.str(env!("CARGO_PKG_VERSION"));
    for part in parts {
        hasher.str(part);
    }
    hasher.finish()
}

/// This run's file id for each file id of a memo (`None`: the name is not in this run, or
/// names more than one file).
pub fn map_files(memo_files: &[String], sources: &SourceMap) -> Vec<Option<FileId>> {
    let mut by_name: HashMap<&str, Option<FileId>> = HashMap::with_capacity(sources.len());
    for (id, file) in sources.iter() {
        by_name
            .entry(file.name.as_str())
            .and_modify(|seen| *seen = None)
            .or_insert(Some(id));
    }
    memo_files
        .iter()
        .map(|name| by_name.get(name.as_str()).copied().flatten())
        .collect()
}

/// The file names of `sources` by file id (ids below the map's first are empty).
pub fn file_table(sources: &SourceMap) -> Vec<String> {
    let mut names = Vec::new();
    for (id, file) in sources.iter() {
        let at = id.0 as usize;
        if names.len() <= at {
            names.resize(at + 1, String::new());
        }
        names[at] = file.name.clone();
    }
    names
}

/// `finding` with each file id replaced through `map`; `None` when a file has no counterpart.
pub fn rebase_finding(finding: &Finding, map: &[Option<FileId>]) -> Option<Finding> {
    let rebase = |file: FileId| map.get(file.0 as usize).copied().flatten();
    let mut finding = finding.clone();
    if let Some(location) = &mut finding.location {
        location.file = rebase(location.file)?;
    }
    for related in &mut finding.related {
        related.location.file = rebase(related.location.file)?;
    }
    Some(finding)
}

/// Maps the file ids of `entry` through `map` in place; `false` when a file has no
/// counterpart (the entry must then be dropped).
pub fn rebase_in_place(entry: &mut Entry, map: &[Option<FileId>]) -> bool {
    let rebase = |file: &mut FileId| match map.get(file.0 as usize).copied().flatten() {
        Some(now) => {
            *file = now;
            true
        }
        None => false,
    };
    for finding in &mut entry.findings {
        if let Some(location) = &mut finding.location {
            if !rebase(&mut location.file) {
                return false;
            }
        }
        for related in &mut finding.related {
            if !rebase(&mut related.location.file) {
                return false;
            }
        }
    }
    match &mut entry.skip {
        Some(skip) => rebase(&mut skip.document.file),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::repository::Document;
    use crate::source::{FileRole, SourceFile};
    use std::sync::Arc;

    /// A repository of the given files (name, text), one document per YAML document.
    fn repo(files: &[(&str, &str)]) -> (Repository, SourceMap) {
        let mut sources = SourceMap::new();
        let mut documents = Vec::new();
        for (name, text) in files {
            let file = sources.add(SourceFile::new(
                name.to_string(),
                std::path::PathBuf::from(name),
                Arc::from(*text),
                FileRole::Data,
            ));
            for doc in crate::yaml::load(text, 0, file, &Limits::default()).documents {
                let kind = Kind::parse(doc.value["kind"].as_str().unwrap()).unwrap();
                documents.push(Document::sound(file, kind, doc));
            }
        }
        (Repository::new(documents), sources)
    }

    const CUSTOMER: &str = "kind: Customer\nid: c1\n";
    const SUBS: &str =
        "kind: Subscription\nid: s1\ncustomer: c1\n---\nkind: Subscription\nid: s2\ncustomer: c1\n";

    fn key_print(files: &[(&str, &str)], key: &ReadKey) -> Fingerprint {
        let (repo, sources) = repo(files);
        let ids = document_identities(&repo, &sources);
        key.fingerprint(&repo, &ids.fingerprints)
    }

    /// Every document the repository's indexes return for a key lists that key among its
    /// `index_keys` (with the same key hash), and every key it lists returns it: the patched
    /// replay relies on both directions.
    #[test]
    fn index_keys_are_exactly_the_keys_whose_answers_hold_the_document() {
        let files = [
            (
                "partners.yaml",
                "kind: Partner\nid: p1\npartner_id: '123'\ntenant_id: AbC-1\n---\nkind: Partner\nid: p2\n",
            ),
            (
                "customers.yaml",
                "kind: Customer\nid: c1\ntenant_id: T-1\nowned_by_partner: p1\n---\nkind: Customer\nid: c1\n",
            ),
            (
                "subs.yaml",
                "kind: Subscription\nid: s1\ncustomer: c1\nsubscription_id: GUID-1\npartner_of_record: p1\nmanaged_by: p2\n---\nkind: Subscription\nid: s2\ncustomer: c1\nreplaces: s1\n",
            ),
            (
                "other.yaml",
                "kind: ResellerRelationship\nid: r1\ncustomer: c1\npartner: p1\nvia_indirect_provider: p2\n---\nkind: DelegatedAdmin\nid: d1\ncustomer: c1\npartner: p2\n---\nkind: IndirectPartnership\nid: i1\nprovider: p1\nreseller: p2\n---\nkind: Transfer\nid: t1\ncustomer: c1\nsource_partner: p1\ntarget_partner: p2\nsubscriptions: [s1, s2]\n",
            ),
        ];
        let (repo, sources) = repo(&files);
        let ids = document_identities(&repo, &sources);
        let owned = |key: &KeyOf| match *key {
            KeyOf::Find(kind, id) => ReadKey::Find(kind, id.into()),
            KeyOf::ForCustomer(kind, c) => ReadKey::ForCustomer(kind, c.into()),
            KeyOf::NamingPartner(kind, f, p) => ReadKey::NamingPartner(kind, f.into(), p.into()),
            KeyOf::PartnerId(id) => ReadKey::PartnerId(id.into()),
            KeyOf::Tenant(kind, t) => ReadKey::Tenant(kind, t.into()),
            KeyOf::SubscriptionGuid(g) => ReadKey::SubscriptionGuid(g.into()),
            KeyOf::Replacements(s) => ReadKey::Replacements(s.into()),
            KeyOf::TransfersOf(s) => ReadKey::TransfersOf(s.into()),
        };
        let mut all_keys: Vec<ReadKey> = repo
            .documents
            .iter()
            .flat_map(|doc| index_keys(doc).iter().map(owned).collect::<Vec<_>>())
            .collect();
        // Queries as policies may ask them: other cases, fields no index has.
        all_keys.push(ReadKey::Tenant(Kind::Partner, "abc-1".into()));
        all_keys.push(ReadKey::SubscriptionGuid("guid-1".into()));
        all_keys.push(ReadKey::NamingPartner(
            Kind::Customer,
            "partner".into(),
            "p1".into(),
        ));
        for key in &all_keys {
            // The answer, by document index: a one-document fingerprint per index.
            let answer: Vec<DocIndex> = (0..repo.documents.len() as DocIndex)
                .filter(|&i| {
                    let mut only = vec![0; ids.fingerprints.len()];
                    only[i as usize] = 1;
                    let empty = key.fingerprint(&repo, &vec![0; ids.fingerprints.len()]);
                    key.fingerprint(&repo, &only) != empty
                })
                .collect();
            for (index, doc) in repo.documents.iter().enumerate() {
                let listed = index_keys(doc).iter().any(|k| k.hash() == key.key_hash());
                if answer.contains(&(index as DocIndex)) {
                    assert!(listed, "{key:?} returns {} {}", doc.kind, doc.id);
                } else if listed && !matches!(key, ReadKey::Find(..)) {
                    panic!(
                        "{} {} lists {key:?}, which does not return it",
                        doc.kind, doc.id
                    );
                }
            }
        }
        // A duplicated id: both documents list the key, the first answers it.
        let find = KeyOf::Find(Kind::Customer, "c1");
        let holders = repo
            .documents
            .iter()
            .filter(|d| index_keys(d).contains(&find))
            .count();
        assert_eq!(holders, 2);
        assert_eq!(
            ReadKey::Tenant(Kind::Partner, "ABC-1".into()).key_hash(),
            ReadKey::Tenant(Kind::Partner, "abc-1".into()).key_hash()
        );
    }

    #[test]
    fn the_layer_bytes_round_trip_in_chunks_and_reject_damage() {
        let mut entries = EntryMap::default();
        for i in 0..(2 * LAYER_CHUNK + 5) as u128 {
            entries.insert(
                (i, i * 3),
                Entry {
                    findings: Vec::new(),
                    reached: vec![(i % 7) as u16],
                    skip: None,
                    reads: vec![(ReadKey::Find(Kind::Customer, format!("c{i}").into()), i)],
                },
            );
        }
        let memo = Memo {
            world: 1,
            files: vec!["a.yaml".to_string(), "b.yaml".to_string()],
            documents: 2,
            entries,
        };
        let bytes = memo.to_layer_bytes().unwrap();
        assert_eq!(Memo::from_layer_bytes(&bytes).as_ref(), Some(&memo));
        for len in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                Memo::from_layer_bytes(&bytes[..len]).is_none(),
                "length {len}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Memo::from_layer_bytes(&longer).is_none());
        let empty = Memo::default();
        assert_eq!(
            Memo::from_layer_bytes(&empty.to_layer_bytes().unwrap()),
            Some(empty)
        );
    }

    #[test]
    fn the_documents_digest_changes_with_any_document_and_with_their_order() {
        let digest = documents_digest(&[1, 2, 3]);
        assert_eq!(digest, documents_digest(&[1, 2, 3]));
        assert_ne!(digest, documents_digest(&[1, 3, 2]));
        assert_ne!(digest, documents_digest(&[1, 2, 4]));
        assert_ne!(digest, documents_digest(&[1, 2]));
        assert_ne!(documents_digest(&[]), documents_digest(&[0]));
    }

    #[test]
    fn documents_differ_by_file_name_content_ordinal_and_validity() {
        let (r, s) = repo(&[("a.yaml", CUSTOMER), ("b.yaml", SUBS)]);
        let base = document_identities(&r, &s);
        assert_eq!(base.places[2].ordinal, 1);
        assert_ne!(base.fingerprints[1], base.fingerprints[2]);
        let (r, s) = repo(&[("renamed.yaml", CUSTOMER), ("b.yaml", SUBS)]);
        let renamed = document_identities(&r, &s);
        assert_ne!(base.fingerprints[0], renamed.fingerprints[0]);
        assert_eq!(base.fingerprints[1..], renamed.fingerprints[1..]);
        let (mut r, s) = repo(&[("a.yaml", CUSTOMER), ("b.yaml", SUBS)]);
        r.documents[0].mark_invalid("name");
        assert_ne!(
            base.fingerprints[0],
            document_identities(&r, &s).fingerprints[0]
        );
        let (r, s) = repo(&[("a.yaml", CUSTOMER), ("b.yaml", SUBS)]);
        assert_eq!(base.fingerprints, document_identities(&r, &s).fingerprints);
    }

    #[test]
    fn a_key_changes_with_what_its_query_returns() {
        let key = ReadKey::ForCustomer(Kind::Subscription, "c1".into());
        let before = key_print(&[("a.yaml", CUSTOMER), ("b.yaml", SUBS)], &key);
        let edited = SUBS.replace("id: s2", "id: s3");
        assert_ne!(
            before,
            key_print(&[("a.yaml", CUSTOMER), ("b.yaml", &edited)], &key)
        );
        // The customer's own file is not in the answer.
        let other = format!("{CUSTOMER}name: x\n");
        assert_eq!(
            before,
            key_print(&[("a.yaml", &other), ("b.yaml", SUBS)], &key)
        );
        let none = ReadKey::Find(Kind::Partner, "p".into());
        let missing = key_print(&[("a.yaml", CUSTOMER)], &none);
        assert_eq!(missing, key_print(&[("a.yaml", &other)], &none));
        let partner = "kind: Partner\nid: p\n";
        assert_ne!(
            missing,
            key_print(&[("a.yaml", CUSTOMER), ("p.yaml", partner)], &none)
        );
    }

    #[test]
    fn a_memo_survives_a_json_round_trip() {
        let (r, s) = repo(&[("a.yaml", CUSTOMER), ("b.yaml", SUBS)]);
        let ids = document_identities(&r, &s);
        let read = ReadKey::ForCustomer(Kind::Subscription, "c1".into());
        let print = read.fingerprint(&r, &ids.fingerprints);
        let finding = Finding::new("X1", crate::finding::Severity::Error, "m".to_string())
            .at_span(FileId(1), crate::source::ByteSpan::new(0, 1));
        let mut memo = Memo {
            world: u128::MAX - 1,
            files: file_table(&s),
            documents: 0,
            entries: EntryMap::default(),
        };
        memo.entries.insert(
            (1, ids.fingerprints[1]),
            Entry {
                findings: vec![finding],
                reached: vec![3],
                skip: Some(StoredSkip {
                    document: ids.places[2],
                    field: "status".to_string(),
                }),
                reads: vec![(read, print)],
            },
        );
        let text = serde_json::to_string(&memo).unwrap();
        assert_eq!(serde_json::from_str::<Memo>(&text).unwrap(), memo);
    }

    #[test]
    fn findings_are_rebased_by_file_name() {
        let (_, sources) = repo(&[("a.yaml", CUSTOMER), ("b.yaml", SUBS)]);
        let (_, later) = repo(&[("0.yaml", CUSTOMER), ("b.yaml", SUBS)]);
        let map = map_files(&file_table(&sources), &later);
        assert_eq!(map, vec![None, Some(FileId(1))]);
        let finding = Finding::new("X1", crate::finding::Severity::Error, "m".to_string())
            .at_span(FileId(1), crate::source::ByteSpan::new(0, 1));
        assert_eq!(
            rebase_finding(&finding, &map)
                .unwrap()
                .location
                .unwrap()
                .file,
            FileId(1)
        );
        let lost = finding.at_span(FileId(0), crate::source::ByteSpan::new(0, 1));
        assert!(rebase_finding(&lost, &map).is_none());
    }
}
