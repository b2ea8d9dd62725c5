//! Narrowing a report to what a change touched: the files a pre-commit hook names (`--only`)
//! and the documents that differ from a git ref (`--changed-since`).
//!
//! Channel rules cross documents, so the whole repository is always loaded and evaluated; these
//! filters only choose which findings are reported. A finding is kept when it is located in the
//! selection or when one of its related locations is (editing a reseller relationship can
//! break a rule reported on a subscription in another file, and the change must not pass).
//! Findings that mean the check was incomplete are always kept.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::finding::{Finding, Origin};
use crate::limits::Limits;
use crate::model::Kind;
use crate::outcome::Filter;
use crate::outcome::Outcome;
use crate::source::{FileId, FileRole, SourceMap};

/// Why `--changed-since` could not be computed (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ChangedError {
    #[error("--changed-since needs git, which could not be run: {0}")]
    GitMissing(std::io::Error),
    #[error("--changed-since: `{reference}` is not a commit of this git repository{detail}")]
    UnknownRef { reference: String, detail: String },
    #[error("--changed-since: git failed: {0}")]
    Git(String),
}

/// What a change touched: data files and documents (by kind and id).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub files: HashSet<FileId>,
    pub documents: HashSet<(Kind, Arc<str>)>,
    /// Wall time spent computing the selection outside the check (git for `--changed-since`),
    /// with the name of its `--timings` stage: counted in the run's time by [`Selection::retain`].
    pub cost: Option<(&'static str, Duration)>,
}

impl Selection {
    /// Whether a finding is reported under this selection (see the module docs).
    pub fn keeps(&self, finding: &Finding, sources: &SourceMap) -> bool {
        if finding.origin == Origin::Tool {
            return true;
        }
        let Some(location) = finding.location else {
            return true;
        };
        if sources.get(location.file).role != FileRole::Data {
            return true;
        }
        let document_selected =
            |d: &crate::finding::DocumentRef| self.documents.contains(&(d.kind, Arc::clone(&d.id)));
        let primary = match &finding.document {
            Some(document) => document_selected(document),
            None => self.files.contains(&location.file),
        };
        primary
            || finding.related.iter().any(|r| match &r.document {
                Some(document) => document_selected(document),
                None => self.files.contains(&r.location.file),
            })
    }

    /// Keeps only the findings this selection reports, and records under `filter` how many
    /// shown findings it left out (the summary names them).
    pub fn retain(&self, outcome: &mut Outcome, filter: Filter) {
        let sources = &outcome.sources;
        let before = outcome.findings.len();
        let mut hidden = 0;
        outcome.findings.retain(|f| {
            let keep = self.keeps(f, sources);
            if !keep && f.waived.is_none() {
                hidden += 1;
            }
            keep
        });
        debug_assert!(outcome.findings.len() <= before);
        outcome.stats.not_shown.push((filter, hidden));
        if let Some((stage, took)) = self.cost {
            outcome.stats.stages.push((stage, took));
            outcome.stats.elapsed += took;
        }
    }

    /// How many documents of the repository lie in the selected files.
    pub fn documents_in_files(&self, outcome: &Outcome) -> usize {
        outcome
            .documents
            .iter()
            .filter(|d| self.files.contains(&d.file))
            .count()
    }
}

/// A path made comparable: canonical when it exists, else made absolute and cleaned of `.`
/// and `..` without touching the file system.
pub fn normalise(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut clean = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    clean
}

/// The selection of the paths given to `check`: every document of the data files that are, or
/// lie under, one of `paths`. The paths are compared as written: give them in the form of the
/// walk ([`crate::root::Located::paths`]).
pub fn under_paths(outcome: &Outcome, paths: &[PathBuf]) -> Selection {
    let mut selection = Selection::default();
    for (id, file) in outcome.sources.iter() {
        if file.role == FileRole::Data && paths.iter().any(|p| file.path.starts_with(p)) {
            selection.files.insert(id);
        }
    }
    selection.add_documents_of_files(outcome);
    selection
}

impl Selection {
    /// Adds every document of the selected files.
    fn add_documents_of_files(&mut self, outcome: &Outcome) {
        for entry in &outcome.documents {
            if self.files.contains(&entry.file) {
                self.documents
                    .insert((entry.document.kind, Arc::clone(&entry.document.id)));
            }
        }
    }
}

/// The selection of `--only FILE...`: every document of the named data files. Names that are
/// not among the checked files (deleted files, non-data YAML) select nothing.
pub fn only_files(outcome: &Outcome, files: &[PathBuf]) -> Selection {
    let wanted: HashSet<PathBuf> = files.iter().map(|f| normalise(f)).collect();
    let mut selection = Selection::default();
    for (id, file) in outcome.sources.iter() {
        if file.role == FileRole::Data && wanted.contains(&normalise(&file.path)) {
            selection.files.insert(id);
        }
    }
    for entry in &outcome.documents {
        if selection.files.contains(&entry.file) {
            selection
                .documents
                .insert((entry.document.kind, Arc::clone(&entry.document.id)));
        }
    }
    selection
}

/// What a change did to the data files, as git sees it: the old version of every data file that
/// differs from the work tree (its documents by (kind, id), and its text by path), and the paths
/// that are the same in both. A current file in neither was added since.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The documents of the old versions in `files` (the first of a duplicated id wins, as in
    /// the repository index).
    pub documents: HashMap<(String, String), Value>,
    /// The old text of each data file that differs (deleted files included).
    pub files: HashMap<String, String>,
    /// Data files whose content is the same at the ref and in the work tree.
    pub unchanged: HashSet<String>,
}

impl Snapshot {
    /// Adds one file's old text, loaded with the project's YAML reader. Documents without a
    /// string `kind` and `id` cannot be compared and are skipped.
    pub fn add_file(&mut self, path: &str, text: String, limits: &Limits) {
        let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
        let loaded = crate::yaml::load(&text, bom, FileId(0), limits);
        for document in loaded.documents {
            let kind = document.value.get("kind").and_then(Value::as_str);
            let id = document.value.get("id").and_then(Value::as_str);
            if let (Some(kind), Some(id)) = (kind, id) {
                self.documents
                    .entry((kind.to_string(), id.to_string()))
                    .or_insert(document.value);
            }
        }
        self.files.insert(path.to_string(), text);
    }
}

/// Documents (and, for findings outside any document, files) of `outcome` that are new or
/// different in `before`. `file_key` gives the key under which a current file is in
/// `before.files` or `before.unchanged`.
pub fn changed_against(
    outcome: &Outcome,
    before: &Snapshot,
    file_key: impl Fn(&crate::source::SourceFile) -> Option<String>,
) -> Selection {
    let mut selection = Selection::default();
    let mut same = HashSet::new();
    for (id, file) in outcome.sources.iter() {
        if file.role != FileRole::Data {
            continue;
        }
        let key = file_key(file);
        if key
            .as_ref()
            .is_some_and(|key| before.unchanged.contains(key))
        {
            same.insert(id);
            continue;
        }
        let old = key.and_then(|key| before.files.get(&key));
        if old.is_none_or(|old| **old != *file.text) {
            selection.files.insert(id);
        } else {
            same.insert(id);
        }
    }
    // A run with `--changed-since` is never replayed from the cache: the values are there.
    let Some(repository) = outcome.repository.as_deref() else {
        for entry in &outcome.documents {
            selection
                .documents
                .insert((entry.document.kind, Arc::clone(&entry.document.id)));
        }
        return selection;
    };
    for document in &repository.documents {
        // A document of a file git reports unchanged is as it was, without reading it again.
        let changed = !same.contains(&document.file) && {
            let key = (document.kind.as_str().to_string(), document.id.to_string());
            before.documents.get(&key) != Some(document.as_written())
        };
        if changed || references_a_removed_document(document, before, repository) {
            selection
                .documents
                .insert((document.reference().kind, Arc::clone(&document.id)));
        }
    }
    selection
}

/// Whether an (unchanged) document names a document that the change removed or renamed: its
/// now-dangling reference is part of the change even though the document itself is not.
fn references_a_removed_document(
    document: &crate::repository::Document,
    before: &Snapshot,
    repository: &crate::repository::Repository,
) -> bool {
    document.kind.references().iter().any(|reference| {
        let named: Vec<&str> = match document.value.get(reference.field) {
            Some(Value::String(id)) => vec![id.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        named.into_iter().any(|id| {
            let target = reference.target;
            repository.find(target, id).is_none()
                && before
                    .documents
                    .contains_key(&(target.as_str().to_string(), id.to_string()))
        })
    })
}

/// A git command run in `dir` (`git -C`), so `--changed-since` works from any current
/// directory. `--no-optional-locks`: git never rewrites the index of the checked repository.
fn git_command(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command.arg("--no-optional-locks").arg("-C").arg(dir);
    command
}

/// Runs one git command to completion (see [`git_command`]).
fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output, ChangedError> {
    git_command(dir)
        .args(args)
        .output()
        .map_err(ChangedError::GitMissing)
}

/// The directory git runs in: the first path (its directory when it is a file), resolved.
fn git_dir(paths: &[PathBuf]) -> PathBuf {
    let first = paths.first().map_or(Path::new("."), PathBuf::as_path);
    let dir = if first.is_dir() {
        first
    } else {
        first
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    };
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}

fn stderr_line(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Whether a repository path is hidden or lies in a hidden directory (skipped by discovery,
/// so here too).
fn is_hidden(path: &str) -> bool {
    path.split('/').any(|p| p.starts_with('.'))
}

/// Whether a repository path (as git prints it: from the top, `/`-separated) can be a data file.
fn is_data_path(name: &str) -> bool {
    !name.is_empty() && !is_hidden(name) && crate::discover::is_data_file(Path::new(name))
}

/// The commit `reference` names and the top of the work tree, from one `git rev-parse`.
fn resolve(dir: &Path, reference: &str) -> Result<(String, PathBuf), ChangedError> {
    let verify = git(
        dir,
        &[
            "rev-parse",
            "--show-toplevel",
            "--verify",
            "--quiet",
            &format!("{reference}^{{commit}}"),
        ],
    )?;
    let stdout = String::from_utf8_lossy(&verify.stdout);
    let mut lines = stdout.lines();
    let top = lines.next().filter(|top| !top.is_empty());
    let commit = lines.next().filter(|_| verify.status.success());
    match (top, commit) {
        (Some(top), Some(commit)) => Ok((commit.trim().to_string(), normalise(Path::new(top)))),
        (None, _) => Err(ChangedError::Git(stderr_line(&verify))),
        (Some(_), None) => {
            let detail = stderr_line(&verify);
            Err(ChangedError::UnknownRef {
                reference: reference.to_string(),
                detail: if detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({detail})")
                },
            })
        }
    }
}

/// The pathspecs of `paths`, resolved: relative ones would be read against the directory git
/// runs in, not the current directory.
fn pathspecs(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|p| {
            p.canonicalize()
                .unwrap_or_else(|_| p.clone())
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Runs git with `args` followed by `-- PATHS` and splits its `-z` output into fields.
fn git_fields(dir: &Path, args: &[&str], paths: &[String]) -> Result<Vec<String>, ChangedError> {
    let mut all: Vec<&str> = args.to_vec();
    all.push("--");
    all.extend(paths.iter().map(String::as_str));
    let output = git(dir, &all)?;
    if !output.status.success() {
        return Err(ChangedError::Git(stderr_line(&output)));
    }
    let text = String::from_utf8(output.stdout)
        .map_err(|_| ChangedError::Git("a path in the tree is not UTF-8".to_string()))?;
    Ok(text
        .split('\0')
        .filter(|field| !field.is_empty())
        .map(str::to_string)
        .collect())
}

/// The data files that differ between `commit` and the work tree, each with the blob id it
/// had at `commit` (`None` when it did not exist then), from `git diff --raw -z`.
fn differing(
    dir: &Path,
    commit: &str,
    paths: &[String],
) -> Result<Vec<(String, Option<String>)>, ChangedError> {
    let fields = git_fields(
        dir,
        &[
            "diff",
            "--raw",
            "-z",
            "--no-abbrev",
            "--no-renames",
            "--no-relative",
            "--no-color",
            "--ignore-submodules=all",
            commit,
        ],
        paths,
    )?;
    let bad = || ChangedError::Git("`git diff --raw` printed an unexpected line".to_string());
    let mut entries = Vec::new();
    let mut fields = fields.into_iter();
    while let Some(status) = fields.next() {
        // `:old-mode new-mode old-blob new-blob STATUS`, then the path (no renames: one path).
        let header: Vec<&str> = status.trim_start_matches(':').split(' ').collect();
        let [old_mode, _, old_blob, _, _] = header.as_slice() else {
            return Err(bad());
        };
        let name = fields.next().ok_or_else(bad)?;
        if !is_data_path(&name) {
            continue;
        }
        let existed = old_blob.bytes().any(|b| b != b'0');
        // Only a regular file (100644, 100755) had a text; a symlink or submodule reads as new.
        let blob = (existed && old_mode.starts_with("100")).then(|| old_blob.to_string());
        entries.push((name, blob));
    }
    Ok(entries)
}

/// Reads what the data files under `paths` were at `reference`, as far as they differ from the
/// work tree. A fixed number of git processes whatever the size of the change: `rev-parse`,
/// `ls-tree` (which paths existed), `diff --raw` (which differ, with their old blob ids) and one
/// `cat-file --batch` for the old blobs; run in the repository of the first path. Also returns
/// the top of that repository.
fn snapshot_and_top(
    reference: &str,
    paths: &[PathBuf],
    limits: &Limits,
) -> Result<(Snapshot, PathBuf), ChangedError> {
    let dir = git_dir(paths);
    let (commit, top) = resolve(&dir, reference)?;
    let specs = pathspecs(paths);
    let existed: Vec<String> = git_fields(
        &dir,
        &["ls-tree", "-r", "-z", "--name-only", "--full-name", &commit],
        &specs,
    )?
    .into_iter()
    .filter(|name| is_data_path(name))
    .collect();
    let differ = differing(&dir, &commit, &specs)?;
    let differing_names: HashSet<&str> = differ.iter().map(|(name, _)| name.as_str()).collect();
    let mut snapshot = Snapshot::default();
    for name in &existed {
        if !differing_names.contains(name.as_str()) {
            snapshot.unchanged.insert(name.clone());
        }
    }
    let wanted: Vec<(&str, &str)> = differ
        .iter()
        .filter_map(|(name, blob)| Some((name.as_str(), blob.as_deref()?)))
        .collect();
    let blobs: Vec<&str> = wanted.iter().map(|(_, blob)| *blob).collect();
    for ((name, _), blob) in wanted
        .iter()
        .zip(read_blobs(&dir, &blobs, limits.max_file_bytes)?)
    {
        // A file that was not UTF-8 then has no comparable documents: it reads as changed.
        if let Some(text) = blob.and_then(|bytes| String::from_utf8(bytes).ok()) {
            snapshot.add_file(name, text, limits);
        }
    }
    Ok((snapshot, top))
}

/// The contents of each blob (`None` when git cannot give it, or it is larger than
/// `max_bytes`), read through one `git cat-file --batch` process: spawning git once per file
/// cost about 10 ms a file (24 s for 2,400 files). No process at all when there is nothing to read.
fn read_blobs(
    dir: &Path,
    blobs: &[&str],
    max_bytes: u64,
) -> Result<Vec<Option<Vec<u8>>>, ChangedError> {
    use std::io::{BufRead, Read, Write};
    use std::process::Stdio;
    if blobs.is_empty() {
        return Ok(Vec::new());
    }
    let mut child = git_command(dir)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(ChangedError::GitMissing)?;
    let requests: String = blobs.iter().map(|blob| format!("{blob}\n")).collect();
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // Written from another thread so that a full stdout pipe cannot block both sides.
    let writer = std::thread::spawn(move || stdin.write_all(requests.as_bytes()));
    let mut reader = std::io::BufReader::new(child.stdout.take().expect("stdout is piped"));
    let broken = |what: &str| ChangedError::Git(format!("`git cat-file --batch` {what}"));
    let mut contents = Vec::with_capacity(blobs.len());
    for _ in blobs {
        let mut header = String::new();
        reader
            .read_line(&mut header)
            .map_err(|e| broken(&e.to_string()))?;
        let fields: Vec<&str> = header.split_whitespace().collect();
        match fields.as_slice() {
            [_, "blob", size] if size.parse::<u64>().is_ok_and(|size| size <= max_bytes) => {
                let size: usize = size.parse().map_err(|_| broken("sent a bad header"))?;
                let mut bytes = vec![0; size + 1];
                reader
                    .read_exact(&mut bytes)
                    .map_err(|e| broken(&e.to_string()))?;
                bytes.pop();
                contents.push(Some(bytes));
            }
            [_, _, size] => {
                // Larger than a data file may be, or not a blob: skipped unread (the file then
                // reads as changed), so an old commit cannot make this allocate more than the
                // limit.
                let size: u64 = size.parse().map_err(|_| broken("sent a bad header"))?;
                std::io::copy(&mut (&mut reader).take(size + 1), &mut std::io::sink())
                    .map_err(|e| broken(&e.to_string()))?;
                contents.push(None);
            }
            [_, "missing"] | [_, "ambiguous"] => contents.push(None),
            _ => return Err(broken("stopped answering")),
        }
    }
    drop(reader);
    let _ = writer.join();
    let _ = child.wait();
    Ok(contents)
}

/// The selection of `--changed-since REF`: documents added or modified since `reference`, and
/// files whose text differs (for findings outside any document). Its [`Selection::cost`] is the
/// wall time this took (git and the comparison), which [`Selection::retain`] adds to the stats.
pub fn changed_since(
    outcome: &Outcome,
    reference: &str,
    paths: &[PathBuf],
    limits: &Limits,
) -> Result<Selection, ChangedError> {
    let started = std::time::Instant::now();
    let (before, top) = snapshot_and_top(reference, paths, limits)?;
    let mut selection = changed_against(outcome, &before, |file| {
        let path = normalise(&file.path);
        let relative = path.strip_prefix(&top).ok()?;
        Some(relative.to_string_lossy().replace('\\', "/"))
    });
    selection.cost = Some(("--changed-since (git)", started.elapsed()));
    Ok(selection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_paths_are_recognised() {
        assert!(is_hidden(".github/workflows/ci.yml"));
        assert!(is_hidden("data/.cache/x.yaml"));
        assert!(is_hidden("customers/.x.yaml"));
        assert!(!is_hidden("customers/contoso.yaml"));
    }

    #[test]
    fn snapshot_keeps_documents_by_kind_and_id() {
        let mut snapshot = Snapshot::default();
        snapshot.add_file(
            "a.yaml",
            "kind: Partner\nid: p\nname: P\n---\nkind: Customer\nid: c\n---\n- not a document\n"
                .to_string(),
            &Limits::default(),
        );
        assert_eq!(snapshot.documents.len(), 2);
        assert_eq!(
            snapshot.documents[&("Partner".to_string(), "p".to_string())]["name"],
            "P"
        );
        assert!(snapshot.files.contains_key("a.yaml"));
    }

    #[test]
    fn normalise_removes_dot_segments_of_missing_paths() {
        let a = normalise(Path::new("no-such-dir/./x/../b.yaml"));
        assert!(a.ends_with("no-such-dir/b.yaml"), "{}", a.display());
    }
}
