//! The cache's replay layer: the last run's whole result (its sorted findings before waivers, its
//! documents and coverage), with the metadata stamp and content hash of every file it read.
//! When the walk finds the same files (and the run's world is the same), the result is
//! replayed without parsing or evaluating anything, as git's index answers `git status`:
//! a file whose stamp is the recorded one is taken as unchanged without reading it; any other
//! file is read and its content hash compared with the recorded one (the hash is the truth:
//! a touched or freshly checked-out file with the same bytes does not stop the replay). The
//! files a finding points into are read too, for their snippets, and their hashes checked.
//!
//! A stamp is the file's size, modification and change times, inode and device. One taken
//! less than two seconds after the file last changed proves nothing (the file may change again
//! within the same timestamp): such a file gets no stamp, then or when it is recorded, and is
//! always compared by content.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cache::{Fingerprint, FingerprintBuilder, Stamp};
use crate::discover::{Candidate, Skipped};
use crate::finding::Finding;
use crate::outcome::DocumentEntry;
use crate::policy::EvalOrigin;
use crate::repository::DocIndex;

/// The layer's name in the cache folder.
pub const LAYER: &str = "replay";

/// What a replay gives back: the last run's result.
#[derive(Debug, Serialize, Deserialize)]
pub struct Replay {
    /// Per file on disk, in walk order: its stamp (`None`: it had just changed) and the hash
    /// of the text that was checked.
    pub files: Vec<(Option<Stamp>, Fingerprint)>,
    /// The findings, sorted ([`Finding::total_order`]) and with rule settings applied, not yet
    /// deduplicated (waivers and report filters are applied to them again, as to a fresh
    /// run's).
    pub findings: Vec<Finding>,
    /// What produced each finding (for a patched replay, [`crate::patch`]).
    pub origins: Vec<FindingOrigin>,
    pub documents: Vec<DocumentEntry>,
    /// Per policy id, the lines of `report*` calls that ran.
    pub reached: BTreeMap<String, Vec<u16>>,
    /// The policy evaluations the result covers (run or reused by the recording run).
    pub evaluations: usize,
}

/// What produced a finding of the recorded result: what a patch replaces when it loads a file
/// or evaluates a document again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FindingOrigin {
    /// The run as a whole: unreadable paths, schemas and policies that failed to load, kinds
    /// without a schema, duplicate ids. Kept by a patch, unless it points into a changed file.
    Run,
    /// Reading, loading and schema validation of a data file (its index in walk order).
    File(u32),
    /// The reference checks of a document (R002, R003).
    References(DocIndex),
    /// The policy evaluations on a document.
    Evaluation(DocIndex),
    /// The S004 of the evaluations skipped on an invalid field of a document.
    Skipped(DocIndex),
    /// A policy's error or printed output, aggregated over documents: never patched.
    Policy,
}

impl From<EvalOrigin> for FindingOrigin {
    fn from(origin: EvalOrigin) -> FindingOrigin {
        match origin {
            EvalOrigin::Evaluation(document) => FindingOrigin::Evaluation(document),
            EvalOrigin::Skipped(document) => FindingOrigin::Skipped(document),
            EvalOrigin::Policy => FindingOrigin::Policy,
        }
    }
}

/// What the record keeps of a file's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// A parsed file: the xxh3-128 of its text (the file layer's key).
    Parsed(Fingerprint),
    /// A file that was not parsed (refused: a link out of the root, too large, not a regular
    /// file; or undecodable): the fingerprint of what reading it gave, its text (empty, or the
    /// valid prefix) and its findings. Such a file is read again by every replay (whether it is
    /// still refused depends on more than its stamp: a link's target) and must give the same.
    Unparsed(Fingerprint),
}

impl Content {
    pub fn of(read: &crate::discover::ReadOutcome) -> Content {
        if read.parse {
            return Content::Parsed(Fingerprint::of(read.text.as_bytes()));
        }
        let mut fingerprint = FingerprintBuilder::new();
        fingerprint.add("unparsed text", read.text.as_bytes());
        for finding in &read.findings {
            fingerprint.add("finding", &postcard::to_stdvec(finding).unwrap_or_default());
        }
        Content::Unparsed(fingerprint.finish())
    }

    pub fn fingerprint(self) -> Fingerprint {
        match self {
            Content::Parsed(fingerprint) | Content::Unparsed(fingerprint) => fingerprint,
        }
    }

    /// The record's entry for a file with this content and `stamp`: an unparsed file keeps no
    /// stamp, so that it is always read again.
    pub fn with_stamp(self, stamp: Option<Stamp>) -> (Option<Stamp>, Fingerprint) {
        match self {
            Content::Parsed(fingerprint) => (stamp, fingerprint),
            Content::Unparsed(fingerprint) => (None, fingerprint),
        }
    }
}

/// The stamp of each file (`None`: not a regular file, unreadable metadata, or changed too
/// recently to be trusted), taken in parallel.
pub fn stamp_files(candidates: &[Candidate]) -> Vec<Option<Stamp>> {
    let now = SystemTime::now();
    candidates
        .par_iter()
        .map(|candidate| stamp_file(&candidate.path, now))
        .collect()
}

fn stamp_file(path: &Path, now: SystemTime) -> Option<Stamp> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    Some(Stamp::of(path, &meta)).filter(|stamp| !stamp.is_racy(now))
}

/// The world of the replay layer: the run's world (binary, schemas, policies, settings, date,
/// limits) plus what the walk found (every file's name and path, every path it skipped).
pub fn world(
    run_world: &Fingerprint,
    candidates: &[Candidate],
    skipped: &[Skipped],
) -> Fingerprint {
    let mut world = FingerprintBuilder::new();
    world.add("layer", LAYER.as_bytes());
    world.add("run", &run_world.0);
    for candidate in candidates {
        world.add("name", candidate.name.as_bytes());
        world.add("path", candidate.path.as_os_str().as_encoded_bytes());
        world.add("inside-root", &[u8::from(candidate.inside_root)]);
    }
    for skipped in skipped {
        world.add("skipped", skipped.name.as_bytes());
        world.add("skipped-path", skipped.path.as_os_str().as_encoded_bytes());
        world.add("reason", format!("{:?}", skipped.reason).as_bytes());
        world.add(
            "problem",
            skipped.problem.as_deref().unwrap_or("").as_bytes(),
        );
    }
    world.finish()
}

/// The same fields as [`Replay`], borrowed, so that a run records its result without copying it.
#[derive(Serialize)]
struct ReplayRef<'a> {
    files: &'a [(Option<Stamp>, Fingerprint)],
    findings: &'a [Finding],
    origins: &'a [FindingOrigin],
    documents: &'a [DocumentEntry],
    reached: &'a BTreeMap<String, Vec<u16>>,
    evaluations: usize,
}

/// Records a run's result for `world`: `files` are the stamp and content of each file on disk,
/// in walk order (see [`Content::with_stamp`]; `None` where loading the file panicked: then
/// nothing is recorded, and the previous record stays until a run can replace it). Gives the
/// files recorded.
#[allow(clippy::too_many_arguments)]
pub fn save(
    store: &crate::cache::Store,
    world: &Fingerprint,
    files: Vec<Option<(Option<Stamp>, Fingerprint)>>,
    findings: &[Finding],
    origins: &[FindingOrigin],
    documents: &[DocumentEntry],
    reached: &BTreeMap<String, Vec<u16>>,
    evaluations: usize,
) -> Option<Vec<(Option<Stamp>, Fingerprint)>> {
    let files = files.into_iter().collect::<Option<Vec<_>>>()?;
    store.save_layer(
        LAYER,
        world,
        &ReplayRef {
            files: &files,
            findings,
            origins,
            documents,
            reached,
            evaluations,
        },
    );
    Some(files)
}

impl Replay {
    /// Whether file `index` is unchanged by its stamp `now` alone (else it is read and its
    /// content hash compared).
    pub fn stamped_unchanged(&self, index: usize, now: Option<&Stamp>) -> bool {
        matches!((&self.files[index].0, now), (Some(recorded), Some(now)) if recorded == now)
    }

    /// Per file, whether a recorded finding points into it (its location or a related one).
    pub fn pointed_into(&self, first_data: u32) -> Vec<bool> {
        let data = first_data..first_data + self.files.len() as u32;
        let mut pointed = vec![false; self.files.len()];
        for finding in &self.findings {
            let locations = finding
                .location
                .iter()
                .chain(finding.related.iter().map(|r| &r.location));
            for location in locations {
                if data.contains(&location.file.0) {
                    pointed[(location.file.0 - first_data) as usize] = true;
                }
            }
        }
        pointed
    }

    /// When the result cannot be replayed (some file changed): the content hash of each file
    /// that is unchanged by its stamp and that no recorded finding points into, so that the
    /// run can take its loading from the file layer without reading it. The others are `None`.
    pub fn known_contents(
        &self,
        stamps: &[Option<Stamp>],
        first_data: u32,
    ) -> Vec<Option<Fingerprint>> {
        if self.files.len() != stamps.len() {
            return vec![None; stamps.len()];
        }
        let pointed = self.pointed_into(first_data);
        (0..stamps.len())
            .map(|i| {
                (self.stamped_unchanged(i, stamps[i].as_ref()) && !pointed[i])
                    .then_some(self.files[i].1)
            })
            .collect()
    }

    /// After a replay: takes each trusted stamp of `now` that differs from the recorded one
    /// (those files were read and had the recorded content). Whether any changed.
    pub fn restamp(&mut self, now: &[Option<Stamp>]) -> bool {
        self.restamp_except(now, &[])
    }

    /// [`Replay::restamp`] but for the files in `except` (sorted walk indexes: files whose
    /// content is not the recorded one, which a patched replay answered).
    pub fn restamp_except(&mut self, now: &[Option<Stamp>], except: &[usize]) -> bool {
        let mut changed = false;
        for (i, ((recorded, _), now)) in self.files.iter_mut().zip(now).enumerate() {
            if now.is_some() && recorded != now && except.binary_search(&i).is_err() {
                recorded.clone_from(now);
                changed = true;
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(dir: &Path, name: &str) -> Candidate {
        Candidate {
            name: name.to_string(),
            path: dir.join(name),
            inside_root: true,
        }
    }

    fn replay_of(replay: &Replay) -> Replay {
        Replay {
            files: replay.files.clone(),
            findings: Vec::new(),
            origins: Vec::new(),
            documents: Vec::new(),
            reached: BTreeMap::new(),
            evaluations: 0,
        }
    }

    #[test]
    fn stamps_change_with_the_file_and_fresh_files_get_none() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.yaml");
        std::fs::write(&file, "kind: Partner\n").unwrap();
        let candidates = [
            candidate(dir.path(), "a.yaml"),
            candidate(dir.path(), "gone.yaml"),
        ];
        // Just written: racy, so no stamp; a missing file has none either.
        assert_eq!(stamp_files(&candidates), vec![None, None]);
        // Seen a minute later, it has one; a rewrite of the same size changes it.
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        let first = stamp_file(&file, later).expect("a settled file has a stamp");
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&file, "kind: Customer\n").unwrap();
        let second = stamp_file(&file, later).unwrap();
        assert_ne!(first, second);
        let replay = Replay {
            files: vec![
                (Some(second.clone()), Fingerprint([0; 16])),
                (None, Fingerprint([0; 16])),
            ],
            findings: Vec::new(),
            origins: Vec::new(),
            documents: Vec::new(),
            reached: BTreeMap::new(),
            evaluations: 0,
        };
        assert!(replay.stamped_unchanged(0, Some(&second)));
        assert!(!replay.stamped_unchanged(0, Some(&first)));
        assert!(!replay.stamped_unchanged(0, None));
        // Recorded without a stamp: never unchanged by its stamp.
        assert!(!replay.stamped_unchanged(1, Some(&second)));
        // A file a patch answered (its content differs) keeps its recorded stamp.
        let mut patched = replay_of(&replay);
        assert!(!patched.restamp_except(&[None, Some(first.clone())], &[1]));
        assert!(!patched.stamped_unchanged(1, Some(&first)));
        // Once replayed (its content compared), the file's trusted stamp is recorded; a file
        // without one keeps what it had.
        let mut replay = replay;
        assert!(replay.restamp(&[None, Some(first.clone())]));
        assert!(replay.stamped_unchanged(0, Some(&second)));
        assert!(replay.stamped_unchanged(1, Some(&first)));
        assert!(!replay.restamp(&[Some(second), Some(first)]), "nothing new");
    }

    #[test]
    fn a_directory_or_link_has_no_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert_eq!(stamp_file(dir.path(), later), None);
        #[cfg(unix)]
        {
            let link = dir.path().join("link.yaml");
            std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
            assert_eq!(stamp_file(&link, later), None);
        }
    }

    #[test]
    fn the_world_covers_names_paths_and_skipped_paths() {
        let dir = Path::new("/repo");
        let run = Fingerprint([3; 16]);
        let one = [candidate(dir, "a.yaml")];
        let other = [candidate(dir, "b.yaml")];
        assert_eq!(world(&run, &one, &[]), world(&run, &one, &[]));
        assert_ne!(world(&run, &one, &[]), world(&run, &other, &[]));
        assert_ne!(
            world(&run, &one, &[]),
            world(&Fingerprint([4; 16]), &one, &[])
        );
        let skipped = Skipped {
            name: "x.yaml".to_string(),
            path: dir.join("x.yaml"),
            reason: crate::scope::SkipReason::Hidden,
            problem: None,
        };
        assert_ne!(world(&run, &one, &[]), world(&run, &one, &[skipped]));
    }
}
