//! Finding and reading input files: walks the given paths for `*.yaml`/`*.yml` (any case),
//! honouring `.gitignore`/`.ignore` and the repository's scope ([`crate::scope`]), leaving out
//! hidden files and directories but counting what it leaves out, refuses anything
//! that is not a regular file inside the repository root, reads at most `limit + 1` bytes and
//! decodes UTF-8 (reporting invalid bytes, UTF-16 and byte order marks as located findings).
//! A path the walk cannot take (an unreadable directory, a name that is not UTF-8) is a located
//! Y013 finding and the walk goes on: a partial check never looks clean.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::codes;
use crate::finding::Finding;
use crate::input::{read_bounded, Origin, ReadScope, Refused};
use crate::scope::{Scope, SkipReason};
use crate::source::ByteSpan;

/// A file to check, as found by the walk.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    /// Path as shown to users (relative to the root, `/`-separated; bytes that are not UTF-8
    /// escaped as `\xNN`).
    pub name: String,
    pub path: PathBuf,
    /// Found by walking a directory that is inside the root without following links: the file
    /// is inside the root unless it is itself a symbolic link, so reading it needs no
    /// `canonicalize` (two of them per file were a quarter of the read time).
    pub inside_root: bool,
}

/// A path the walk did not take.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skipped {
    /// Shown like [`Candidate::name`].
    pub name: String,
    pub path: PathBuf,
    pub reason: SkipReason,
    /// Why, for the Y013 finding (`None` for hidden files, which are only counted).
    pub problem: Option<String>,
}

/// What a walk found: the files to check and the paths it did not take.
#[derive(Clone, Debug, Default)]
pub struct Discovery {
    pub candidates: Vec<Candidate>,
    pub skipped: Vec<Skipped>,
}

/// A problem with a path given on the command line (exit 2: the tool could not do its job).
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("path `{0}` does not exist")]
    Missing(String),
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Whether a file name is account data: `*.yaml` or `*.yml` in any case. `channelguard.yaml`
/// (configuration) and policy test cases (`*.test.yaml`) are not.
pub fn is_data_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(is_data_name)
}

fn is_data_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    yaml && !matches!(
        name.as_str(),
        "channelguard.yaml"
            | "channelguard.yml"
            | ".pre-commit-config.yaml"
            | ".pre-commit-hooks.yaml"
    ) && !name.ends_with(".test.yaml")
        && !name.ends_with(".test.yml")
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().starts_with(b".") && name != "." && name != ".."
}

/// Version-control metadata and channelguard's own cache folder: never walked, never counted.
fn is_vcs_dir(name: &std::ffi::OsStr) -> bool {
    [
        ".git",
        ".hg",
        ".svn",
        ".jj",
        ".bzr",
        crate::cache::DEFAULT_DIR_NAME,
    ]
    .iter()
    .any(|vcs| name == *vcs)
}

/// `path` as shown to users: like [`crate::source::display_path`], with bytes that are not
/// UTF-8 written as `\xNN` (never a lossy U+FFFD: two different names must stay different).
pub fn escaped_name(path: &Path, root: &Path) -> String {
    if path.to_str().is_some() {
        return crate::source::display_path(path, root);
    }
    let shown = path.strip_prefix(root).unwrap_or(path);
    let mut text = String::new();
    for chunk in shown.as_os_str().as_encoded_bytes().utf8_chunks() {
        text.push_str(&chunk.valid().replace('\\', "/"));
        for byte in chunk.invalid() {
            text.push_str(&format!("\\x{byte:02x}"));
        }
    }
    text
}

/// Walks `paths` (files or directories) and returns the data files in the default scope, sorted
/// by name and without duplicates. Explicitly named files are taken whatever their extension.
pub fn discover(paths: &[PathBuf], root: &Path) -> Result<Vec<Candidate>, DiscoverError> {
    walk(paths, root, &Scope::default()).map(|d| d.candidates)
}

/// Walks `paths` like [`discover`], in `scope`, and also returns what the walk left out: hidden
/// data files and data files out of scope (counted, never read), data files with a name that is
/// not UTF-8 and directories that cannot be listed (each also a Y013 finding of the run). A
/// problem with a path named on the command line is an error.
///
/// Directories are walked in parallel by the `ignore` crate, honouring `.gitignore`, `.ignore`
/// and `.git/info/exclude` (also outside a git work tree, and never the user's global git
/// excludes, so the result depends on the repository only); what they ignore is not listed,
/// like `git status`. Links are not followed; the result is sorted.
pub fn walk(paths: &[PathBuf], root: &Path, scope: &Scope) -> Result<Discovery, DiscoverError> {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for path in paths {
        let meta = std::fs::symlink_metadata(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                DiscoverError::Missing(path.display().to_string())
            } else {
                DiscoverError::Io {
                    path: path.display().to_string(),
                    source: e,
                }
            }
        })?;
        if meta.is_dir() || (meta.file_type().is_symlink() && path.is_dir()) {
            let inside_root = !meta.file_type().is_symlink()
                && matches!(
                    (path.canonicalize(), root.canonicalize()),
                    (Ok(dir), Ok(root)) if dir.starts_with(&root)
                );
            let (mut more, mut left_out) = walk_directory(path, root, scope, inside_root);
            found.append(&mut more);
            skipped.append(&mut left_out);
        } else {
            let clean = path.strip_prefix("./").unwrap_or(path);
            let name = escaped_name(clean, root);
            match scope.leaves_out_named(&name) {
                Some(reason) => skipped.push(Skipped {
                    name,
                    path: clean.to_path_buf(),
                    reason,
                    problem: None,
                }),
                None => found.push(candidate(path, root, false)),
            }
        }
    }
    found.sort();
    // The same file named twice: keep one entry, the stricter one (`inside_root: false` sorts first).
    found.dedup_by(|later, earlier| later.path == earlier.path);
    skipped.sort();
    skipped.dedup_by(|later, earlier| later.path == earlier.path);
    // A file both found and left out (a directory walk and a named file): it was found.
    let taken: std::collections::HashSet<&Path> = found.iter().map(|c| c.path.as_path()).collect();
    skipped.retain(|s| !taken.contains(s.path.as_path()));
    Ok(Discovery {
        candidates: found,
        skipped,
    })
}

/// The path named by a walk error, if any (the directory that could not be listed).
fn error_path(error: &ignore::Error) -> Option<&Path> {
    match error {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        _ => None,
    }
}

/// One directory of [`walk`]: the candidates and the skipped paths under it, unsorted.
fn walk_directory(
    dir: &Path,
    root: &Path,
    scope: &Scope,
    inside_root: bool,
) -> (Vec<Candidate>, Vec<Skipped>) {
    let results: Mutex<(Vec<Candidate>, Vec<Skipped>)> = Mutex::default();
    let walker = ignore::WalkBuilder::new(dir)
        .standard_filters(false)
        .git_ignore(true)
        .git_exclude(true)
        .ignore(true)
        .require_git(false)
        .parents(true)
        .follow_links(false)
        .filter_entry(|e| e.depth() == 0 || !is_vcs_dir(e.file_name()))
        .build_parallel();
    let saw_ignore_file = AtomicBool::new(false);
    walker.run(|| {
        let results = &results;
        let saw_ignore_file = &saw_ignore_file;
        Box::new(move |entry| {
            let outcome = match entry {
                Ok(entry) => {
                    let name = entry.file_name();
                    if name == ".gitignore" || name == ".ignore" {
                        saw_ignore_file.store(true, Ordering::Relaxed);
                    }
                    visit(&entry, dir, root, scope, inside_root)
                }
                Err(error) => unreadable(&error, dir, root),
            };
            if let Some(outcome) = outcome {
                let mut results = results.lock().unwrap_or_else(PoisonError::into_inner);
                match outcome {
                    Ok(candidate) => results.0.push(candidate),
                    Err(skipped) => results.1.push(skipped),
                }
            }
            ignore::WalkState::Continue
        })
    });
    let (candidates, mut skipped) = results.into_inner().unwrap_or_else(PoisonError::into_inner);
    if saw_ignore_file.load(Ordering::Relaxed) || ignore_file_above(dir) {
        skipped.extend(ignored(dir, root, &candidates, &skipped));
    }
    (candidates, skipped)
}

/// Whether an ignore file applies to `dir` from a directory above it (the walk reads those too):
/// `.gitignore`, `.ignore` or `.git/info/exclude` in `dir` or an ancestor.
fn ignore_file_above(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return true;
    };
    dir.ancestors().any(|d| {
        [".gitignore", ".ignore", ".git/info/exclude"]
            .iter()
            .any(|f| d.join(f).exists())
    })
}

/// The data files under `dir` that `.gitignore`/`.ignore` left out of the walk, counted (never
/// read) so that an ignore file committed to the repository cannot hide account data in
/// silence. A second walk that lists names only; what it cannot list was not walked anyway.
fn ignored(dir: &Path, root: &Path, found: &[Candidate], skipped: &[Skipped]) -> Vec<Skipped> {
    let seen: std::collections::HashSet<&Path> = found
        .iter()
        .map(|c| c.path.as_path())
        .chain(skipped.iter().map(|s| s.path.as_path()))
        .collect();
    let walker = ignore::WalkBuilder::new(dir)
        .standard_filters(false)
        .follow_links(false)
        .filter_entry(|e| e.depth() == 0 || !is_vcs_dir(e.file_name()))
        .build();
    let mut left_out = Vec::new();
    for entry in walker.flatten() {
        if entry.file_type().is_none_or(|t| t.is_dir())
            || !is_data_name(&entry.file_name().to_string_lossy())
        {
            continue;
        }
        let clean = entry.path().strip_prefix("./").unwrap_or(entry.path());
        if seen.contains(clean) {
            continue;
        }
        let below = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let hidden = below.components().any(|c| is_hidden(c.as_os_str()));
        left_out.push(Skipped {
            name: escaped_name(clean, root),
            path: clean.to_path_buf(),
            reason: if hidden {
                SkipReason::Hidden
            } else {
                SkipReason::Ignored
            },
            problem: None,
        });
    }
    left_out
}

/// A directory the walk could not list, as a skipped path (`None` for other walk errors: a
/// `.gitignore` line that is not a valid glob is left out, as git does, and a `.gitignore` that
/// cannot be read only means fewer files are left out).
fn unreadable(
    error: &ignore::Error,
    dir: &Path,
    root: &Path,
) -> Option<Result<Candidate, Skipped>> {
    let at = error_path(error).unwrap_or(dir).to_path_buf();
    // Not `metadata(at).is_dir()`: a path longer than PATH_MAX cannot be listed nor stat'ed.
    let ignore_file = at
        .file_name()
        .is_some_and(|n| n == ".gitignore" || n == ".ignore" || n == "exclude");
    let listing = error.io_error().is_some() && !ignore_file;
    if !listing {
        return None;
    }
    // One directory that cannot be listed never stops the others.
    let clean = at.strip_prefix("./").unwrap_or(&at).to_path_buf();
    let cause = error
        .io_error()
        .map_or_else(|| error.to_string(), ToString::to_string);
    Some(Err(Skipped {
        name: escaped_name(&clean, root),
        path: clean,
        reason: SkipReason::UnreadableDirectory,
        problem: Some(format!(
            "cannot read the directory: {cause}; its files were not checked"
        )),
    }))
}

/// One entry of the walk: a candidate, a skipped data file, or `None` (a directory, a file that
/// is not a data file).
fn visit(
    entry: &ignore::DirEntry,
    dir: &Path,
    root: &Path,
    scope: &Scope,
    inside_root: bool,
) -> Option<Result<Candidate, Skipped>> {
    if entry.file_type().is_none_or(|t| t.is_dir()) {
        return None;
    }
    let lossy = entry.file_name().to_string_lossy();
    if !is_data_name(&lossy) {
        return None;
    }
    let below = entry.path().strip_prefix(dir).unwrap_or(entry.path());
    let hidden = below.components().any(|c| is_hidden(c.as_os_str()));
    let clean = entry.path().strip_prefix("./").unwrap_or(entry.path());
    let name = escaped_name(clean, root);
    let (reason, problem) = if hidden {
        (SkipReason::Hidden, None)
    } else if entry.path().to_str().is_none() {
        (
            SkipReason::NonUtf8Name,
            Some("the path is not valid UTF-8; not read (rename the file)".to_string()),
        )
    } else if let Some(reason) = scope.leaves_out(&name) {
        (reason, None)
    } else {
        // The name is the one `candidate` would compute (once per file is enough).
        return Some(Ok(Candidate {
            name,
            path: clean.to_path_buf(),
            inside_root,
        }));
    };
    Some(Err(Skipped {
        name,
        path: clean.to_path_buf(),
        reason,
        problem,
    }))
}

fn candidate(path: &Path, root: &Path, inside_root: bool) -> Candidate {
    let clean = path.strip_prefix("./").unwrap_or(path);
    Candidate {
        name: escaped_name(clean, root),
        path: clean.to_path_buf(),
        inside_root,
    }
}

/// The decoded text of a file plus what was noticed while decoding.
#[derive(Debug)]
pub struct ReadOutcome {
    /// The file's text; for a file that could not be decoded, its valid prefix (for snippets).
    pub text: Arc<str>,
    /// Bytes to skip before parsing (a UTF-8 byte order mark).
    pub bom: usize,
    /// Decoding or reading problems; if any is an error the file is not parsed.
    pub findings: Vec<Finding>,
    /// `false` when the text must not be parsed.
    pub parse: bool,
}

/// Reads one data file through [`crate::input::read_bounded`]: only regular files inside the
/// scope, at most `max_bytes + 1` bytes. Findings carry `file` as their location; a refused
/// file's text stays empty, so no snippet can show what it points at.
pub fn read_file(
    path: &Path,
    scope: &ReadScope,
    inside_root: bool,
    max_bytes: u64,
    file: crate::source::FileId,
) -> ReadOutcome {
    let origin = if inside_root {
        Origin::Walked
    } else {
        Origin::Named
    };
    match read_bounded(path, scope, origin, max_bytes) {
        Ok(bytes) => decode(bytes, file),
        Err(Refused::TooLarge { limit, head }) => {
            // A regular file inside the repository: its first line may be shown.
            let mut outcome = decode(head, file);
            outcome.findings = vec![codes::LIMIT_EXCEEDED
                .finding(format!(
                    "file is larger than the limit of {limit} bytes; not checked"
                ))
                .at_span(file, ByteSpan::default())
                .with_label("file too large")];
            outcome.parse = false;
            outcome
        }
        Err(refused) => ReadOutcome {
            text: Arc::from(""),
            bom: 0,
            findings: vec![refused_finding(&refused, file)],
            parse: false,
        },
    }
}

/// The Y013 finding for a file [`read_bounded`] refused, at the start of the (empty) file.
pub fn refused_finding(refused: &Refused, file: crate::source::FileId) -> Finding {
    codes::UNREADABLE_FILE
        .finding(refused.to_string())
        .at_span(file, ByteSpan::default())
}

/// Decodes file bytes as UTF-8, reporting a BOM (warning), UTF-16 and invalid bytes (errors).
pub fn decode(bytes: Vec<u8>, file: crate::source::FileId) -> ReadOutcome {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return ReadOutcome {
            text: Arc::from(""),
            bom: 0,
            findings: vec![codes::INVALID_ENCODING
                .finding("file is UTF-16; it must be UTF-8".to_string())
                .at_span(file, ByteSpan::default())
                .with_label("UTF-16 byte order mark")],
            parse: false,
        };
    }
    match String::from_utf8(bytes) {
        Ok(text) => {
            let mut findings = Vec::new();
            let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
            if bom > 0 {
                findings.push(
                    codes::BYTE_ORDER_MARK
                        .finding("file starts with a byte order mark".to_string())
                        .at_span(file, ByteSpan::new(0, 3))
                        .with_label("byte order mark"),
                );
            }
            ReadOutcome {
                text: Arc::from(text),
                bom,
                findings,
                parse: true,
            }
        }
        Err(error) => {
            let valid = error.utf8_error().valid_up_to();
            let bytes = error.into_bytes();
            let bad = bytes[valid];
            let prefix = String::from_utf8(bytes[..valid].to_vec()).unwrap_or_default();
            ReadOutcome {
                findings: vec![codes::INVALID_ENCODING
                    .finding(format!("invalid UTF-8 byte `0x{bad:02x}` at byte {valid}"))
                    .at_span(file, ByteSpan::empty_at(valid))
                    .with_label("invalid byte here")],
                text: Arc::from(prefix),
                bom: 0,
                parse: false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    #[test]
    fn data_file_names() {
        assert!(is_data_file(Path::new("customers/contoso.yaml")));
        assert!(is_data_file(Path::new("a.yml")));
        assert!(!is_data_file(Path::new("channelguard.yaml")));
        assert!(!is_data_file(Path::new("mc002.test.yaml")));
        assert!(!is_data_file(Path::new("README.md")));
        // Any case.
        assert!(is_data_file(Path::new("A.YAML")));
        assert!(is_data_file(Path::new("b.Yml")));
        assert!(!is_data_file(Path::new("ChannelGuard.YAML")));
        assert!(!is_data_file(Path::new("mc002.TEST.yml")));
    }

    #[test]
    fn walk_counts_hidden_data_files_and_skips_version_control() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (rel, text) in [
            (".git/x.yaml", "a: 1"),
            (".hidden/y.yaml", "a: 1"),
            ("b/.z.YML", "a: 1"),
            ("b/.env", "X=1"),
            ("b/c.YAML", "a: 1"),
        ] {
            std::fs::create_dir_all(root.join(rel).parent().unwrap()).unwrap();
            std::fs::write(root.join(rel), text).unwrap();
        }
        let found = walk(&[root.to_path_buf()], root, &Scope::default()).unwrap();
        let names: Vec<_> = found.candidates.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["b/c.YAML"]);
        let skipped: Vec<_> = found
            .skipped
            .iter()
            .map(|s| (s.name.as_str(), s.reason, s.problem.is_some()))
            .collect();
        assert_eq!(
            skipped,
            [
                (".hidden/y.yaml", SkipReason::Hidden, false),
                ("b/.z.YML", SkipReason::Hidden, false)
            ]
        );
    }

    #[test]
    fn walk_honours_gitignore_and_ignore_files_and_scope() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (rel, text) in [
            (".gitignore", "out/\n*.local.yaml\n!keep.local.yaml\n"),
            ("a/.gitignore", "gen.yaml\n"),
            (".ignore", "vendor\n"),
            ("out/x.yaml", ""),
            ("a/gen.yaml", ""),
            ("a/b.local.yaml", ""),
            ("a/keep.local.yaml", ""),
            ("a/z.yaml", ""),
            ("vendor/v.yaml", ""),
            ("gen.yaml", ""),
            ("mkdocs.yml", ""),
            ("docs/d.yaml", ""),
        ] {
            std::fs::create_dir_all(root.join(rel).parent().unwrap()).unwrap();
            std::fs::write(root.join(rel), text).unwrap();
        }
        let scope = Scope::new(&[], &["docs".to_string()], true).unwrap();
        // The parallel walk is deterministic.
        for _ in 0..5 {
            let found = walk(&[root.to_path_buf()], root, &scope).unwrap();
            let names: Vec<_> = found.candidates.iter().map(|c| c.name.as_str()).collect();
            // `gen.yaml` at the root is not under `a/.gitignore`.
            assert_eq!(names, ["a/keep.local.yaml", "a/z.yaml", "gen.yaml"]);
            let skipped: Vec<_> = found
                .skipped
                .iter()
                .map(|s| (s.name.as_str(), s.reason))
                .collect();
            assert_eq!(
                skipped,
                [
                    ("a/b.local.yaml", SkipReason::Ignored),
                    ("a/gen.yaml", SkipReason::Ignored),
                    ("docs/d.yaml", SkipReason::Excluded),
                    ("mkdocs.yml", SkipReason::DefaultExcluded),
                    ("out/x.yaml", SkipReason::Ignored),
                    ("vendor/v.yaml", SkipReason::Ignored),
                ]
            );
        }
        // A subdirectory walk still honours the root's `.gitignore`.
        let found = walk(&[root.join("a")], root, &scope).unwrap();
        let names: Vec<_> = found.candidates.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a/keep.local.yaml", "a/z.yaml"]);
        // A file named explicitly is taken even when git ignores it, not when excluded.
        let named = walk(
            &[root.join("out/x.yaml"), root.join("docs/d.yaml")],
            root,
            &scope,
        )
        .unwrap();
        assert_eq!(named.candidates.len(), 1);
        assert_eq!(named.candidates[0].name, "out/x.yaml");
        assert_eq!(named.skipped[0].reason, SkipReason::Excluded);
    }

    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_are_escaped_not_lossy() {
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(std::ffi::OsStr::from_bytes(b"repo/a\\b/caf\xe9\xff.yaml"));
        assert_eq!(
            escaped_name(path, Path::new("repo")),
            "a/b/caf\\xe9\\xff.yaml"
        );
    }

    #[test]
    fn invalid_utf8_is_located() {
        let outcome = decode(b"a: \xff\xfe".to_vec(), FileId(0));
        assert!(!outcome.parse);
        assert_eq!(outcome.findings[0].code.as_ref(), "Y004");
        assert_eq!(outcome.findings[0].location.unwrap().span.start, 3);
        assert_eq!(&*outcome.text, "a: ");
    }

    #[test]
    fn utf16_is_refused_and_utf8_bom_accepted() {
        assert!(!decode(vec![0xFF, 0xFE, b'a', 0], FileId(0)).parse);
        let outcome = decode(b"\xef\xbb\xbfkind: Partner\n".to_vec(), FileId(0));
        assert!(outcome.parse);
        assert_eq!(outcome.bom, 3);
        assert_eq!(outcome.findings[0].code.as_ref(), "Y005");
    }

    #[test]
    fn walk_leaves_out_hidden_directories_and_sorts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::create_dir_all(root.join("b")).unwrap();
        std::fs::write(root.join(".git/x.yaml"), "a: 1").unwrap();
        std::fs::write(root.join("b/z.yml"), "a: 1").unwrap();
        std::fs::write(root.join("a.yaml"), "a: 1").unwrap();
        std::fs::write(root.join("notes.txt"), "").unwrap();
        let found = discover(&[root.to_path_buf()], root).unwrap();
        let names: Vec<_> = found.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a.yaml", "b/z.yml"]);
    }

    #[test]
    fn explicit_paths_outside_the_root_are_not_read() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("repo");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(outer.path().join("outside.yaml"), "a: 1").unwrap();
        let through_dots = root.join("../outside.yaml");
        let outcome = read_file(
            &through_dots,
            &ReadScope::new(&root),
            false,
            1024,
            FileId(0),
        );
        assert!(!outcome.parse);
        assert_eq!(outcome.findings[0].code.as_ref(), "Y013");
        assert!(outcome.text.is_empty());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outer.path(), root.join("linked")).unwrap();
            let through_link = root.join("linked/outside.yaml");
            assert!(
                !read_file(
                    &through_link,
                    &ReadScope::new(&root),
                    false,
                    1024,
                    FileId(0)
                )
                .parse
            );
        }
    }

    #[test]
    fn oversized_file_is_refused_without_reading_it_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yaml");
        std::fs::write(&path, "a: 1\n".repeat(100)).unwrap();
        let outcome = read_file(&path, &ReadScope::new(dir.path()), true, 50, FileId(0));
        assert!(!outcome.parse);
        assert_eq!(outcome.findings[0].code.as_ref(), "Y008");
    }
}
