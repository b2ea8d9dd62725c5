//! The file layer: for each data file, what loading gives (its documents, spans, identity and
//! schema findings), keyed by the xxh3-128 hash of its text. These depend only on the bytes,
//! the schema set and the limits, which are in the layer's world (see `check`).
//!
//! Entries are stored as separate postcard blobs (workers decode them in parallel, and an entry
//! reused by this run is written back without encoding it again) with the id of the file they
//! were loaded as; [`decode`] moves them to the file's id in this run.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::{Fingerprint, Store};
use crate::finding::Finding;
use crate::repository::Document;
use crate::source::FileId;

/// The layer's name in the cache folder.
pub const LAYER: &str = "files";

/// Last run's entries, each taken at most once.
#[derive(Default)]
pub struct FileLayer {
    entries: HashMap<Fingerprint, Mutex<Option<Vec<u8>>>>,
}

impl FileLayer {
    /// Last run's layer from `store`, or an empty one (with a note when it was damaged).
    pub fn load(store: &Store, world: &Fingerprint) -> FileLayer {
        let Some(bytes) = store.load_layer_bytes(LAYER, world) else {
            return FileLayer::default();
        };
        match unframe(&bytes) {
            Some(entries) => FileLayer {
                entries: entries
                    .into_iter()
                    .map(|(key, bytes)| (key, Mutex::new(Some(bytes))))
                    .collect(),
            },
            None => {
                store.ignored(LAYER, "its entries are not framed correctly");
                FileLayer::default()
            }
        }
    }

    /// The entry for content `key`, if last run had one and no other file took it already.
    pub fn take(&self, key: &Fingerprint) -> Option<Vec<u8>> {
        self.entries
            .get(key)?
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// How many entries last run left.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Saves exactly `entries` (this run's files) as the layer; a content seen twice is kept once.
pub fn save<'a>(
    store: &Store,
    world: &Fingerprint,
    entries: impl IntoIterator<Item = (Fingerprint, &'a [u8])>,
) {
    let mut seen = std::collections::HashSet::new();
    let mut framed = Vec::new();
    let mut count = 0u64;
    let mut body = Vec::new();
    for (key, bytes) in entries {
        if !seen.insert(key) {
            continue;
        }
        count += 1;
        body.extend_from_slice(&key.0);
        body.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        body.extend_from_slice(bytes);
    }
    framed.extend_from_slice(&count.to_le_bytes());
    framed.extend_from_slice(&body);
    store.save_layer_bytes(LAYER, world, &framed);
}

/// The framing of [`save`]: a count, then per entry its key, length and bytes, and nothing
/// after the last entry.
fn unframe(bytes: &[u8]) -> Option<Vec<(Fingerprint, Vec<u8>)>> {
    let mut rest = bytes;
    let mut take = |n: usize| -> Option<&[u8]> {
        if rest.len() < n {
            return None;
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    };
    let count = u64::from_le_bytes(take(8)?.try_into().ok()?);
    // Each entry takes at least 24 bytes: a count larger than that is damaged.
    if count > (bytes.len() / 24) as u64 {
        return None;
    }
    let mut entries = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let key = Fingerprint(take(16)?.try_into().ok()?);
        let len = u64::from_le_bytes(take(8)?.try_into().ok()?);
        let len = usize::try_from(len).ok()?;
        entries.push((key, take(len)?.to_vec()));
    }
    rest.is_empty().then_some(entries)
}

#[derive(Serialize)]
struct EntryRef<'a> {
    file: FileId,
    documents: &'a [Document],
    findings: &'a [Finding],
}

#[derive(Deserialize)]
struct Entry {
    file: FileId,
    documents: Vec<Document>,
    findings: Vec<Finding>,
}

/// One file's loading result as an entry (`file`: the id it was loaded as).
pub fn encode(file: FileId, documents: &[Document], findings: &[Finding]) -> Option<Vec<u8>> {
    postcard::to_stdvec(&EntryRef {
        file,
        documents,
        findings,
    })
    .ok()
}

/// An entry back, moved to `file`. `None` when it does not decode completely or points
/// anywhere but its own file (then the caller loads the file again).
pub fn decode(bytes: &[u8], file: FileId) -> Option<(Vec<Document>, Vec<Finding>)> {
    let (mut entry, rest) = postcard::take_from_bytes::<Entry>(bytes).ok()?;
    if !rest.is_empty() {
        return None;
    }
    let old = entry.file;
    let moved = |id: &mut FileId| -> bool {
        if *id == old {
            *id = file;
            true
        } else {
            false
        }
    };
    for document in &mut entry.documents {
        if !moved(&mut document.file) {
            return None;
        }
    }
    for finding in &mut entry.findings {
        if let Some(location) = &mut finding.location {
            if !moved(&mut location.file) {
                return None;
            }
        }
        for related in &mut finding.related {
            if !moved(&mut related.location.file) {
                return None;
            }
        }
    }
    Some((entry.documents, entry.findings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_move_to_the_new_file_id_and_never_point_elsewhere() {
        let at = |file: u32| crate::source::Location {
            file: FileId(file),
            span: crate::source::ByteSpan::new(1, 4),
        };
        let mut finding = crate::codes::MISSING_KIND.finding("document has no `kind`".to_string());
        finding.location = Some(at(2));
        let bytes = encode(FileId(2), &[], std::slice::from_ref(&finding)).unwrap();
        let (documents, findings) = decode(&bytes, FileId(7)).unwrap();
        assert!(documents.is_empty());
        assert_eq!(findings[0].location, Some(at(7)));
        assert_eq!(findings[0].message, finding.message);
        // A finding of the entry that points at another file: the entry is not used.
        finding.location = Some(at(3));
        let bytes = encode(FileId(2), &[], &[finding]).unwrap();
        assert!(decode(&bytes, FileId(7)).is_none());
        // Trailing or missing bytes: not used either.
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer, FileId(7)).is_none());
        assert!(decode(&bytes[..bytes.len() - 1], FileId(7)).is_none());
    }

    #[test]
    fn framing_round_trips_and_rejects_damage() {
        let entries = vec![
            (Fingerprint([1; 16]), b"abc".to_vec()),
            (Fingerprint([2; 16]), Vec::new()),
        ];
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20);
        let world = Fingerprint([9; 16]);
        save(
            &store,
            &world,
            entries
                .iter()
                .chain(&entries)
                .map(|(k, b)| (*k, b.as_slice())),
        );
        let layer = FileLayer::load(&store, &world);
        assert_eq!(layer.len(), 2, "duplicates kept once");
        assert_eq!(layer.take(&Fingerprint([1; 16])), Some(b"abc".to_vec()));
        assert_eq!(layer.take(&Fingerprint([1; 16])), None, "taken once");
        let bytes = store.load_layer_bytes(LAYER, &world).unwrap();
        for len in 0..bytes.len() {
            assert!(unframe(&bytes[..len]).is_none(), "length {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(unframe(&longer).is_none());
    }
}
