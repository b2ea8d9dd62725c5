//! Files the binary writes (`--output`, `baseline create`): only over nothing or a regular
//! file, through a fresh temporary file beside the target that is renamed into place, and
//! removed again when the run is interrupted (SIGINT, SIGTERM, SIGHUP).

use std::ffi::OsString;
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Temporary files this process created and has not renamed or removed yet. The signal
/// handler removes them; creating, renaming and removing one holds the lock, so the handler
/// never sees a file half-registered.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn pending() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    PENDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Installs the handler that removes this process's temporary files on Ctrl-C, SIGTERM and
/// SIGHUP, then exits with code 2 (the run could not finish).
pub fn remove_temporaries_on_signal() {
    let installed = ctrlc::set_handler(|| {
        // Held until exit: no new temporary file appears after this.
        let mut files = pending();
        for file in files.drain(..) {
            let _ = std::fs::remove_file(file);
        }
        let _ = writeln!(io::stderr(), "error: interrupted; no report written");
        std::process::exit(i32::from(crate::EXIT_INCOMPLETE));
    });
    if let Err(error) = installed {
        let _ = writeln!(
            io::stderr(),
            "warning: cannot handle interrupts ({error}); an interrupted run may leave a temporary file"
        );
    }
}

/// Refuses an output path that exists and is not a regular file: a device, FIFO, socket,
/// directory or symbolic link is never replaced (nor written through).
pub fn check_target(path: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(format!("cannot inspect `{}`: {error}", path.display())),
        Ok(meta) if meta.file_type().is_file() => Ok(()),
        Ok(meta) => Err(format!(
            "`{}` is {}; an output file must be a regular file or not exist yet",
            path.display(),
            kind_of(&meta.file_type())
        )),
    }
}

fn kind_of(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Whether two output paths name the same file (also `a.json` and `./x/../a.json`).
pub fn same_file(a: &Path, b: &Path) -> bool {
    fn key(path: &Path) -> PathBuf {
        let name = path.file_name().map(OsString::from).unwrap_or_default();
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let parent = std::fs::canonicalize(parent)
            .or_else(|_| std::path::absolute(parent))
            .unwrap_or_else(|_| parent.to_path_buf());
        parent.join(name)
    }
    key(a) == key(b)
}

/// An output file, written through a temporary file in the same directory that is renamed
/// into place once complete: readers see the old file or the new one, never half of one, and
/// on failure the target is left as it was. A target that is not a regular file is refused
/// ([`check_target`]). The temporary file is created first, before a long check, so that an
/// unwritable directory or a refused target fails at once and an interrupted run has a file
/// to clean up. Dropped without [`Reserved::commit`], it removes its temporary file.
pub struct Reserved {
    target: PathBuf,
    temporary: PathBuf,
    file: Option<std::fs::File>,
}

impl Reserved {
    pub fn new(path: &Path) -> io::Result<Reserved> {
        Reserved::with_names(path, temporary_names(path))
    }

    fn with_names(path: &Path, names: impl Iterator<Item = OsString>) -> io::Result<Reserved> {
        check_target(path).map_err(io::Error::other)?;
        if path.file_name().is_none() {
            return Err(io::Error::other("the output path names no file"));
        }
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (temporary, file) = create_temporary(&directory, names)?;
        Ok(Reserved {
            target: path.to_path_buf(),
            temporary,
            file: Some(file),
        })
    }

    /// Writes the content and renames the temporary file over the target.
    pub fn commit(
        mut self,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("already written"))?;
        let mut out = io::BufWriter::new(file);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        // Checked again: the target may have been replaced while the check ran.
        check_target(&self.target).map_err(io::Error::other)?;
        let mut files = pending();
        std::fs::rename(&self.temporary, &self.target)?;
        files.retain(|f| f != &self.temporary);
        Ok(())
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        let mut files = pending();
        // Only the file this process created: never one that merely has a similar name.
        if let Some(at) = files.iter().position(|f| f == &self.temporary) {
            let _ = std::fs::remove_file(&self.temporary);
            files.swap_remove(at);
        }
    }
}

/// Candidate temporary names: `.NAME.PID-RANDOM.tmp`, a new random part each time.
fn temporary_names(path: &Path) -> impl Iterator<Item = OsString> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let random = std::hash::RandomState::new();
    (0u64..).map(move |attempt| {
        OsString::from(format!(
            ".{name}.{}-{:016x}.tmp",
            std::process::id(),
            random.hash_one(attempt)
        ))
    })
}

/// Creates a new temporary file (never opening an existing one) and registers it for removal
/// on a signal. A name that is taken is left alone and the next one is tried.
fn create_temporary(
    directory: &Path,
    names: impl Iterator<Item = OsString>,
) -> io::Result<(PathBuf, std::fs::File)> {
    const ATTEMPTS: usize = 100;
    for name in names.take(ATTEMPTS) {
        let candidate = directory.join(name);
        let mut files = pending();
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(file) => {
                files.push(candidate.clone());
                return Ok((candidate, file));
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(io::Error::other(format!(
        "no free temporary file name in `{}` after {ATTEMPTS} attempts",
        directory.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_or_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.txt");
        std::fs::write(&path, "old").unwrap();
        let failed = Reserved::new(&path).unwrap().commit(|out| {
            out.write_all(b"half")?;
            Err(io::Error::other("interrupted"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        Reserved::new(&path)
            .unwrap()
            .commit(|out| out.write_all(b"new"))
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(!pending().iter().any(|f| f.starts_with(dir.path())));
    }

    #[test]
    fn a_reservation_dropped_unwritten_removes_only_its_own_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let reserved = Reserved::new(&path).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        drop(reserved);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_file_with_the_temporary_name_is_neither_opened_nor_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        let taken = dir.path().join(".taken.tmp");
        std::fs::write(&taken, "not ours").unwrap();
        let names = ["taken", ".taken.tmp", ".free.tmp"].map(OsString::from);
        // `taken` exists as well: the first name that can be created is used.
        std::fs::write(dir.path().join("taken"), "also not ours").unwrap();
        Reserved::with_names(&path, names.into_iter())
            .and_then(|reserved| reserved.commit(|out| out.write_all(b"{}")))
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
        assert_eq!(std::fs::read_to_string(&taken).unwrap(), "not ours");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("taken")).unwrap(),
            "also not ours"
        );
        assert!(!dir.path().join(".free.tmp").exists());

        // Failing after every name is taken leaves them all in place.
        let names = [".taken.tmp"].map(OsString::from);
        let failed = Reserved::with_names(&path, names.into_iter());
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&taken).unwrap(), "not ours");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
    }

    #[test]
    fn temporary_names_differ_and_stay_in_the_directory() {
        let names: Vec<OsString> = temporary_names(Path::new("out/r.json")).take(3).collect();
        assert_eq!(
            names.len(),
            names
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        );
        for name in &names {
            let name = name.to_str().unwrap();
            assert!(
                name.starts_with(".r.json.") && name.ends_with(".tmp"),
                "{name}"
            );
            assert!(!name.contains('/'));
        }
    }

    #[cfg(unix)]
    #[test]
    fn only_absent_or_regular_targets_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let regular = dir.path().join("r");
        std::fs::write(&regular, "").unwrap();
        assert_eq!(check_target(&regular), Ok(()));
        assert_eq!(check_target(&dir.path().join("absent")), Ok(()));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&regular, &link).unwrap();
        assert!(check_target(&link)
            .unwrap_err()
            .contains("is a symbolic link"));
        assert!(check_target(dir.path())
            .unwrap_err()
            .contains("is a directory"));
        assert!(check_target(Path::new("/dev/null"))
            .unwrap_err()
            .contains("is a character device"));
    }

    #[test]
    fn same_file_sees_through_dot_and_dot_dot() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("x")).unwrap();
        let a = dir.path().join("a.json");
        assert!(same_file(&a, &dir.path().join("x/../a.json")));
        assert!(same_file(&a, &dir.path().join("./a.json")));
        assert!(!same_file(&a, &dir.path().join("x/a.json")));
    }
}
