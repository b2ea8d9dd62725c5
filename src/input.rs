//! The one way channelguard reads a file: data, configuration, schemas, policies, the baseline
//! and policy test cases all go through [`read_bounded`], which opens only regular files inside
//! a [`ReadScope`] and reads at most `limit + 1` bytes.
//!
//! Every input may come from an untrusted commit. A symbolic link named `channelguard.yaml`
//! pointing at `/proc/self/environ` must not put the CI environment into a diagnostic, a link to
//! `/dev/zero` must not exhaust memory and a FIFO must not hang the run. So a file is read only
//! when all of these hold:
//!
//! - its canonical path (symbolic links resolved) lies inside one of the scope's directories and
//!   not under `/proc`, `/sys` or `/dev`;
//! - it is a regular file, checked without opening it (opening a FIFO blocks);
//! - it is opened with `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY`, and the *opened handle* is a
//!   regular file and the same file (device and inode) that was vetted, so swapping the path
//!   between the check and the open is caught.
//!
//! A refusal is a [`Refused`] value whose message never contains the file's content; callers
//! turn it into a located finding on the file.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Directories whose files may be read: the repository root and the directories the user named
/// on the command line. Built once per run; the directories are kept canonical.
#[derive(Clone, Debug, Default)]
pub struct ReadScope {
    dirs: Vec<PathBuf>,
}

/// Pseudo file systems whose "regular files" are process state or devices, never input.
const SYSTEM_DIRS: &[&str] = &["/proc", "/sys", "/dev"];

impl ReadScope {
    /// A scope holding `root` (usually the repository root). A directory that cannot be
    /// resolved is left out: nothing can be read through it.
    pub fn new(root: &Path) -> ReadScope {
        let mut scope = ReadScope::default();
        scope.allow(root);
        scope
    }

    /// Also allows files under `dir` (a directory named explicitly on the command line). A
    /// file path allows its own directory's files only through [`ReadScope::allow_file`].
    pub fn allow(&mut self, dir: &Path) {
        if let Ok(dir) = dir.canonicalize() {
            if !is_system(&dir) && !self.dirs.contains(&dir) {
                self.dirs.push(dir);
            }
        }
    }

    /// Allows exactly one file named on the command line (`--config`, `--baseline`), wherever
    /// it is. Its canonical path is allowed, not its directory.
    /// The name itself must not be a symbolic link: what the user named is the link, and its
    /// target must then lie inside the scope like any other file's.
    pub fn allow_file(&mut self, file: &Path) {
        if std::fs::symlink_metadata(file).is_ok_and(|m| !m.file_type().is_symlink()) {
            self.allow(file);
        }
    }

    /// Whether a canonical path lies inside the scope.
    pub fn contains(&self, canonical: &Path) -> bool {
        !is_system(canonical) && self.dirs.iter().any(|dir| canonical.starts_with(dir))
    }
}

fn is_system(canonical: &Path) -> bool {
    SYSTEM_DIRS.iter().any(|dir| canonical.starts_with(dir))
}

/// Why a file was not read. The message names the reason only, never the content.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("the file does not exist")]
    Missing,
    #[error("not a regular file (a {0}); not read")]
    NotRegular(&'static str),
    #[error(
        "symbolic link to something that is not a regular file inside the repository; not read"
    )]
    LinkLeavesScope,
    #[error("outside the repository and the directories named on the command line; not read")]
    OutsideScope,
    #[error("a file of the operating system (under `/proc`, `/sys` or `/dev`); not read")]
    SystemFile,
    #[error("the file changed while it was being opened; not read")]
    Swapped,
    #[error("file is larger than the limit of {limit} bytes; not read")]
    TooLarge {
        limit: u64,
        /// The first bytes (at most 1 KiB) of a regular file inside the scope, for a snippet.
        head: Vec<u8>,
    },
    #[error("cannot read the file: {0}")]
    Io(std::io::Error),
}

/// How a path was found, which decides how much checking it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Found by a walk that does not follow links, of a directory inside the scope: the path
    /// is inside the scope unless it is itself a symbolic link, so it needs no `canonicalize`
    /// (two per file were a quarter of the read time on large repositories).
    Walked,
    /// Anything else: named on the command line or in the configuration, or listed from a
    /// directory that may itself be a link.
    Named,
}

/// Reads the file at `path` if it is a regular file inside `scope`, at most `max_bytes` bytes
/// (a larger file is refused after reading `max_bytes + 1`).
pub fn read_bounded(
    path: &Path,
    scope: &ReadScope,
    origin: Origin,
    max_bytes: u64,
) -> Result<Vec<u8>, Refused> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Refused::Missing,
        _ => Refused::Io(e),
    })?;
    if scope.dirs.is_empty() {
        // Every directory given was refused (e.g. `--root /proc/self`) or none was given.
        return Err(Refused::OutsideScope);
    }
    let is_link = meta.file_type().is_symlink();
    if !is_link && !meta.is_file() {
        return Err(Refused::NotRegular(kind_of(&meta)));
    }
    let (open_path, vetted) = if origin == Origin::Walked && !is_link {
        (path.to_path_buf(), meta)
    } else {
        let canonical = path.canonicalize().map_err(|e| match e.kind() {
            // A dangling link is refused like any link that leads nowhere readable.
            std::io::ErrorKind::NotFound if is_link => Refused::LinkLeavesScope,
            std::io::ErrorKind::NotFound => Refused::Missing,
            _ => Refused::Io(e),
        })?;
        if is_system(&canonical) {
            return Err(Refused::SystemFile);
        }
        if !scope.contains(&canonical) {
            return Err(if is_link {
                Refused::LinkLeavesScope
            } else {
                Refused::OutsideScope
            });
        }
        let target = std::fs::symlink_metadata(&canonical).map_err(Refused::Io)?;
        if !target.is_file() {
            return Err(if is_link {
                Refused::LinkLeavesScope
            } else {
                Refused::NotRegular(kind_of(&target))
            });
        }
        (canonical, target)
    };
    let file = open_no_follow(&open_path).map_err(|e| {
        if is_link_loop(&e) {
            // The last component became a symbolic link after it was checked.
            Refused::Swapped
        } else {
            Refused::Io(e)
        }
    })?;
    let opened = file.metadata().map_err(Refused::Io)?;
    if !opened.is_file() {
        return Err(Refused::NotRegular(kind_of(&opened)));
    }
    if !same_file(&opened, &vetted) {
        return Err(Refused::Swapped);
    }
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(Refused::Io)?;
    if bytes.len() as u64 > max_bytes {
        bytes.truncate(1024);
        return Err(Refused::TooLarge {
            limit: max_bytes,
            head: bytes,
        });
    }
    Ok(bytes)
}

/// Like [`read_bounded`], and the bytes must be UTF-8; `Err(Ok(offset))` is the first invalid
/// byte's offset.
pub fn read_text(
    path: &Path,
    scope: &ReadScope,
    origin: Origin,
    max_bytes: u64,
) -> Result<String, Result<usize, Refused>> {
    let bytes = read_bounded(path, scope, origin, max_bytes).map_err(Err)?;
    String::from_utf8(bytes).map_err(|e| Ok(e.utf8_error().valid_up_to()))
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let kind = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "device";
        }
        if kind.is_socket() {
            return "socket";
        }
    }
    if kind.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        // O_NONBLOCK: a path swapped for a FIFO after the check must not block the open (the
        // handle check then refuses it); O_NOCTTY: a terminal device never becomes ours.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

#[cfg(unix)]
fn is_link_loop(error: &std::io::Error) -> bool {
    error.raw_os_error() == Some(libc::ELOOP)
}

#[cfg(not(unix))]
fn is_link_loop(_: &std::io::Error) -> bool {
    false
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).open(path)
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope_of(dir: &Path) -> ReadScope {
        ReadScope::new(dir)
    }

    #[test]
    fn reads_a_regular_file_inside_the_scope() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "a: 1\n").unwrap();
        let scope = scope_of(dir.path());
        for origin in [Origin::Walked, Origin::Named] {
            let bytes = read_bounded(&dir.path().join("a.yaml"), &scope, origin, 100).unwrap();
            assert_eq!(bytes, b"a: 1\n");
        }
    }

    #[test]
    fn files_outside_the_scope_are_refused_also_through_dots() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("repo");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(outer.path().join("secret.txt"), "s3cret").unwrap();
        let scope = scope_of(&root);
        let error = read_bounded(&root.join("../secret.txt"), &scope, Origin::Named, 100);
        assert!(matches!(error, Err(Refused::OutsideScope)), "{error:?}");
    }

    #[cfg(unix)]
    #[test]
    fn links_out_of_the_scope_and_into_proc_are_refused_and_links_inside_are_read() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("repo");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(outer.path().join("secret.txt"), "s3cret").unwrap();
        std::fs::write(root.join("real.yaml"), "a: 1").unwrap();
        std::os::unix::fs::symlink(outer.path().join("secret.txt"), root.join("out.yaml")).unwrap();
        std::os::unix::fs::symlink("/proc/self/environ", root.join("env.yaml")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("zero.yaml")).unwrap();
        std::os::unix::fs::symlink("real.yaml", root.join("inside.yaml")).unwrap();
        std::os::unix::fs::symlink("missing.yaml", root.join("dangling.yaml")).unwrap();
        let scope = scope_of(&root);
        for origin in [Origin::Walked, Origin::Named] {
            let read = |name: &str| read_bounded(&root.join(name), &scope, origin, 1 << 20);
            assert!(matches!(read("out.yaml"), Err(Refused::LinkLeavesScope)));
            assert!(matches!(read("env.yaml"), Err(Refused::SystemFile)));
            assert!(matches!(read("zero.yaml"), Err(Refused::SystemFile)));
            assert!(matches!(
                read("dangling.yaml"),
                Err(Refused::LinkLeavesScope)
            ));
            assert_eq!(read("inside.yaml").unwrap(), b"a: 1");
        }
    }

    #[test]
    fn a_scope_at_the_file_system_root_still_refuses_proc() {
        let scope = scope_of(Path::new("/"));
        let error = read_bounded(
            Path::new("/proc/self/environ"),
            &scope,
            Origin::Named,
            1 << 20,
        );
        assert!(matches!(error, Err(Refused::SystemFile)), "{error:?}");
        // Even when the scope itself was given as /proc, nothing under it is allowed.
        let scope = scope_of(Path::new("/proc/self"));
        let error = read_bounded(
            Path::new("/proc/self/environ"),
            &scope,
            Origin::Walked,
            1 << 20,
        );
        assert!(error.is_err(), "{error:?}");
    }

    #[cfg(unix)]
    #[test]
    fn fifos_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.yaml");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let scope = scope_of(dir.path());
        for origin in [Origin::Walked, Origin::Named] {
            let error = read_bounded(&fifo, &scope, origin, 100);
            assert!(
                matches!(error, Err(Refused::NotRegular("FIFO"))),
                "{error:?}"
            );
        }
        std::os::unix::fs::symlink(&fifo, dir.path().join("link.yaml")).unwrap();
        let error = read_bounded(&dir.path().join("link.yaml"), &scope, Origin::Named, 100);
        assert!(matches!(error, Err(Refused::LinkLeavesScope)), "{error:?}");
    }

    #[test]
    fn at_most_limit_plus_one_bytes_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big"), "x".repeat(5000)).unwrap();
        let error = read_bounded(
            &dir.path().join("big"),
            &scope_of(dir.path()),
            Origin::Named,
            10,
        );
        match error {
            Err(Refused::TooLarge { limit, head }) => {
                assert_eq!(limit, 10);
                assert_eq!(head.len(), 11);
            }
            other => panic!("{other:?}"),
        }
        // Exactly the limit is fine.
        std::fs::write(dir.path().join("ten"), "x".repeat(10)).unwrap();
        assert!(read_bounded(
            &dir.path().join("ten"),
            &scope_of(dir.path()),
            Origin::Named,
            10
        )
        .is_ok());
    }

    #[test]
    fn refusal_messages_never_contain_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big"), "SECRET".repeat(100)).unwrap();
        let error = read_bounded(
            &dir.path().join("big"),
            &scope_of(dir.path()),
            Origin::Named,
            10,
        )
        .unwrap_err();
        assert!(!error.to_string().contains("SECRET"));
    }
}
