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

use serde_json::Value;

use crate::finding::{Finding, Origin};
use crate::limits::Limits;
use crate::model::Kind;
pub use crate::outcome::Filter;
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
    }

    /// How many documents of the repository lie in the selected files.
    pub fn documents_in_files(&self, outcome: &Outcome) -> usize {
        outcome
            .repository
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
        for document in &outcome.repository.documents {
            if self.files.contains(&document.file) {
                self.documents
                    .insert((document.reference().kind, Arc::clone(&document.id)));
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
    for document in &outcome.repository.documents {
        if selection.files.contains(&document.file) {
            selection
                .documents
                .insert((document.reference().kind, Arc::clone(&document.id)));
        }
    }
    selection
}

/// The data documents of one version of a repository: (kind, id) → value (the first of a
/// duplicated id wins, as in the repository index), plus each file's text by path.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub documents: HashMap<(String, String), Value>,
    pub files: HashMap<String, String>,
}

impl Snapshot {
    /// Adds one file's text, loaded with the project's YAML reader. Documents without a string
    /// `kind` and `id` cannot be compared and are skipped.
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
/// `before.files`.
pub fn changed_against(
    outcome: &Outcome,
    before: &Snapshot,
    file_key: impl Fn(&crate::source::SourceFile) -> Option<String>,
) -> Selection {
    let mut selection = Selection::default();
    for (id, file) in outcome.sources.iter() {
        if file.role != FileRole::Data {
            continue;
        }
        let old = file_key(file).and_then(|key| before.files.get(&key));
        if old.is_none_or(|old| **old != *file.text) {
            selection.files.insert(id);
        }
    }
    for document in &outcome.repository.documents {
        let key = (document.kind.as_str().to_string(), document.id.to_string());
        if before.documents.get(&key) != Some(document.as_written())
            || references_a_removed_document(document, before, &outcome.repository)
        {
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

/// Runs git in `dir` (`git -C`), so `--changed-since` works from any current directory.
fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output, ChangedError> {
    Command::new("git")
        .arg("-C")
        .arg(dir)
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

/// Reads the data files under `paths` as they were at `reference` (`git ls-tree` and
/// `git cat-file`, run in the repository of the first path, whatever the current directory).
pub fn snapshot_at(
    reference: &str,
    paths: &[PathBuf],
    limits: &Limits,
) -> Result<Snapshot, ChangedError> {
    let dir = git_dir(paths);
    let verify = git(
        &dir,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{reference}^{{commit}}"),
        ],
    )?;
    if !verify.status.success() {
        let detail = stderr_line(&verify);
        return Err(ChangedError::UnknownRef {
            reference: reference.to_string(),
            detail: if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            },
        });
    }
    let commit = String::from_utf8_lossy(&verify.stdout).trim().to_string();
    let mut args: Vec<String> = [
        "ls-tree",
        "-r",
        "-z",
        "--name-only",
        "--full-name",
        &commit,
        "--",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Resolved: relative pathspecs would be read against `dir`, not the current directory.
    args.extend(paths.iter().map(|p| {
        p.canonicalize()
            .unwrap_or_else(|_| p.clone())
            .to_string_lossy()
            .into_owned()
    }));
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let listing = git(&dir, &arg_refs)?;
    if !listing.status.success() {
        return Err(ChangedError::Git(stderr_line(&listing)));
    }
    let names: Vec<&str> = std::str::from_utf8(&listing.stdout)
        .map_err(|_| ChangedError::Git("a path in the tree is not UTF-8".to_string()))?
        .split('\0')
        .filter(|name| {
            !name.is_empty() && !is_hidden(name) && crate::discover::is_data_file(Path::new(name))
        })
        .collect();
    let mut snapshot = Snapshot::default();
    for (name, blob) in names
        .iter()
        .zip(read_blobs(&dir, &commit, &names, limits.max_file_bytes)?)
    {
        // A file that was not UTF-8 then has no comparable documents: it reads as changed.
        if let Some(text) = blob.and_then(|bytes| String::from_utf8(bytes).ok()) {
            snapshot.add_file(name, text, limits);
        }
    }
    Ok(snapshot)
}

/// The contents of `commit:name` for each name (`None` when git cannot give it). This is what
/// `git show REF:path` prints, read through one `git cat-file --batch` process: spawning git once
/// per file cost about 10 ms a file (24 s for 2,400 files).
fn read_blobs(
    dir: &Path,
    commit: &str,
    names: &[&str],
    max_bytes: u64,
) -> Result<Vec<Option<Vec<u8>>>, ChangedError> {
    use std::io::{BufRead, Read, Write};
    use std::process::Stdio;
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(ChangedError::GitMissing)?;
    // `--batch` reads one request per line: a name holding a line break cannot be asked for.
    let requests: String = names
        .iter()
        .filter(|name| !name.contains('\n'))
        .map(|name| format!("{commit}:{name}\n"))
        .collect();
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // Written from another thread so that a full stdout pipe cannot block both sides.
    let writer = std::thread::spawn(move || stdin.write_all(requests.as_bytes()));
    let mut reader = std::io::BufReader::new(child.stdout.take().expect("stdout is piped"));
    let broken = |what: &str| ChangedError::Git(format!("`git cat-file --batch` {what}"));
    let mut blobs = Vec::with_capacity(names.len());
    for name in names {
        if name.contains('\n') {
            blobs.push(None);
            continue;
        }
        let mut header = String::new();
        reader
            .read_line(&mut header)
            .map_err(|e| broken(&e.to_string()))?;
        let fields: Vec<&str> = header.split_whitespace().collect();
        match fields.as_slice() {
            [_, "blob", size] if size.parse::<u64>().is_ok_and(|size| size > max_bytes) => {
                // Larger than a data file may be: skipped unread (it then reads as changed), so
                // an old commit cannot make this allocate more than the limit.
                let size: u64 = size.parse().map_err(|_| broken("sent a bad header"))?;
                std::io::copy(&mut (&mut reader).take(size + 1), &mut std::io::sink())
                    .map_err(|e| broken(&e.to_string()))?;
                blobs.push(None);
            }
            [_, "blob", size] => {
                let size: usize = size.parse().map_err(|_| broken("sent a bad header"))?;
                let mut bytes = vec![0; size + 1];
                reader
                    .read_exact(&mut bytes)
                    .map_err(|e| broken(&e.to_string()))?;
                bytes.pop();
                blobs.push(Some(bytes));
            }
            [_, "missing"] | [_, "ambiguous"] => blobs.push(None),
            [_, _, size] => {
                // Not a blob (a submodule entry): skip its contents.
                let size: u64 = size.parse().map_err(|_| broken("sent a bad header"))?;
                std::io::copy(&mut (&mut reader).take(size + 1), &mut std::io::sink())
                    .map_err(|e| broken(&e.to_string()))?;
                blobs.push(None);
            }
            _ => return Err(broken("stopped answering")),
        }
    }
    drop(reader);
    let _ = writer.join();
    let _ = child.wait();
    Ok(blobs)
}

/// The selection of `--changed-since REF`: documents added or modified since `reference`, and
/// files whose text differs (for findings outside any document).
pub fn changed_since(
    outcome: &Outcome,
    reference: &str,
    paths: &[PathBuf],
    limits: &Limits,
) -> Result<Selection, ChangedError> {
    let before = snapshot_at(reference, paths, limits)?;
    let top = git(&git_dir(paths), &["rev-parse", "--show-toplevel"])?;
    if !top.status.success() {
        return Err(ChangedError::Git(stderr_line(&top)));
    }
    let top = normalise(Path::new(String::from_utf8_lossy(&top.stdout).trim()));
    Ok(changed_against(outcome, &before, |file| {
        let path = normalise(&file.path);
        let relative = path.strip_prefix(&top).ok()?;
        Some(relative.to_string_lossy().replace('\\', "/"))
    }))
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
