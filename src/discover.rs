//! Finding and reading input files: walks the given paths for `*.yaml`/`*.yml` (skipping hidden
//! directories), refuses anything that is not a regular file inside the repository root, reads
//! at most `limit + 1` bytes and decodes UTF-8 (reporting invalid bytes, UTF-16 and byte order
//! marks as located findings).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use walkdir::WalkDir;

use crate::codes;
use crate::finding::{ByteSpan, Finding};
use crate::input::{read_bounded, Origin, ReadScope, Refused};

/// A file to check, as found by the walk.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    /// Path as shown to users (relative to the root, `/`-separated).
    pub name: String,
    pub path: PathBuf,
    /// Found by walking a directory that is inside the root without following links: the file
    /// is inside the root unless it is itself a symbolic link, so reading it needs no
    /// `canonicalize` (two of them per file were a quarter of the read time).
    pub inside_root: bool,
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

/// Whether a file name is account data. `channelguard.yaml` (configuration) and policy test
/// cases (`*.test.yaml`) are not.
pub fn is_data_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    yaml && !matches!(
        name,
        "channelguard.yaml"
            | "channelguard.yml"
            | ".pre-commit-config.yaml"
            | ".pre-commit-hooks.yaml"
    ) && !name.ends_with(".test.yaml")
        && !name.ends_with(".test.yml")
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|n| n.starts_with('.') && n != "." && n != "..")
}

/// Walks `paths` (files or directories) and returns the data files, sorted by name and without
/// duplicates. Explicitly named files are taken whatever their extension.
pub fn discover(paths: &[PathBuf], root: &Path) -> Result<Vec<Candidate>, DiscoverError> {
    let mut found = Vec::new();
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
            let walker = WalkDir::new(path)
                .follow_links(false)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| e.depth() == 0 || !is_hidden(e.file_name()));
            for entry in walker {
                let entry = entry.map_err(|e| DiscoverError::Io {
                    path: e
                        .path()
                        .map_or_else(|| path.display().to_string(), |p| p.display().to_string()),
                    source: e
                        .into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("walk error")),
                })?;
                if entry.file_type().is_dir() || !is_data_file(entry.path()) {
                    continue;
                }
                found.push(candidate(entry.path(), root, inside_root));
            }
        } else {
            found.push(candidate(path, root, false));
        }
    }
    found.sort();
    // The same file named twice: keep one entry, the stricter one (`inside_root: false` sorts first).
    found.dedup_by(|later, earlier| later.path == earlier.path);
    Ok(found)
}

fn candidate(path: &Path, root: &Path, inside_root: bool) -> Candidate {
    let clean = path.strip_prefix("./").unwrap_or(path);
    Candidate {
        name: crate::source::display_path(clean, root),
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
    fn walk_skips_hidden_directories_and_sorts() {
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
