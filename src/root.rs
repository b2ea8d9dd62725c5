//! Finding the repository from the paths given on the command line: the root is the nearest
//! directory above the first path (or the current directory) holding `channelguard.yaml`, else
//! the top of the git work tree, else the path itself (a file's directory); `--root` overrides.
//! The whole repository under the root is loaded; the paths only choose what is reported.

use std::path::{Component, Path, PathBuf};

use crate::config::FILE_NAME;

/// Where a check runs: the repository root and the named paths inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The repository root (absolute, symbolic links of its directories resolved).
    pub root: PathBuf,
    /// The paths given, written below [`Located::root`] (so that they compare with the paths
    /// of the walk). A path outside an explicit `--root` stays as given: reading it is refused.
    pub paths: Vec<PathBuf>,
    /// `false` when a path names the whole repository: nothing is filtered out.
    pub selects_part: bool,
}

/// Why the paths do not name one repository (exit 2).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    #[error("path `{0}` does not exist")]
    Missing(String),
    #[error("cannot read `{0}`: {1}")]
    Io(String, String),
    #[error(
        "the paths belong to different repositories: {0}; check each repository on its own (or give --root)"
    )]
    SeveralRepositories(String),
}

/// The repository that holds `start` (an existing path): the nearest directory at or above it
/// holding a `channelguard.yaml`, else the nearest holding a `.git` entry (a directory, or the
/// file of a worktree or submodule), else `start` itself (a file's directory). A
/// configuration above the top of the work tree belongs to another project and is not taken.
pub fn find_root(start: &Path) -> std::io::Result<PathBuf> {
    let dir = directory_of(start)?;
    for ancestor in dir.ancestors() {
        if std::fs::symlink_metadata(ancestor.join(FILE_NAME)).is_ok()
            || std::fs::symlink_metadata(ancestor.join(".git")).is_ok()
        {
            return Ok(ancestor.to_path_buf());
        }
    }
    Ok(dir)
}

/// The directory of an existing path, canonical: the path itself, or a file's parent.
fn directory_of(path: &Path) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    if std::fs::metadata(&absolute).is_ok_and(|m| m.is_dir()) {
        return absolute.canonicalize();
    }
    match absolute.parent() {
        Some(parent) => parent.canonicalize(),
        None => absolute.canonicalize(),
    }
}

/// An existing path written below its canonical directory, keeping its last component (a
/// symbolic link stays a link, to be refused by the reader rather than followed here).
fn anchored(path: &Path) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let last = absolute.components().next_back();
    let is_dir = std::fs::metadata(&absolute).is_ok_and(|m| m.is_dir());
    match (last, absolute.parent()) {
        (Some(Component::Normal(name)), Some(parent)) if !is_dir => {
            Ok(parent.canonicalize()?.join(name))
        }
        _ => absolute.canonicalize(),
    }
}

/// Finds the repository of `paths` (see the module docs). `root` is an explicit `--root`,
/// already known to be a directory. Every path must exist, and without `--root` all of them
/// must lie in the same repository.
pub fn locate(paths: &[PathBuf], root: Option<&Path>) -> Result<Located, LocateError> {
    let io =
        |path: &Path, e: std::io::Error| LocateError::Io(path.display().to_string(), e.to_string());
    for path in paths {
        if let Err(error) = std::fs::symlink_metadata(path) {
            return Err(if error.kind() == std::io::ErrorKind::NotFound {
                LocateError::Missing(path.display().to_string())
            } else {
                io(path, error)
            });
        }
    }
    let default = [PathBuf::from(".")];
    let given = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let root = match root {
        Some(root) => root.canonicalize().map_err(|e| io(root, e))?,
        None => {
            let mut roots: Vec<(&PathBuf, PathBuf)> = Vec::new();
            for path in given {
                roots.push((path, find_root(path).map_err(|e| io(path, e))?));
            }
            let first = roots[0].1.clone();
            if roots.iter().any(|(_, r)| *r != first) {
                let named: Vec<String> = roots
                    .iter()
                    .map(|(p, r)| format!("`{}` (in `{}`)", p.display(), r.display()))
                    .collect();
                return Err(LocateError::SeveralRepositories(named.join(", ")));
            }
            first
        }
    };
    let mut located = Vec::new();
    let mut selects_part = true;
    for path in given {
        let at = anchored(path).map_err(|e| io(path, e))?;
        if at == root {
            selects_part = false;
        }
        located.push(if at.starts_with(&root) {
            at
        } else {
            path.clone()
        });
    }
    Ok(Located {
        root,
        paths: located,
        selects_part,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_configuration_wins_over_the_git_top() {
        let top = tempfile::tempdir().unwrap();
        let repo = top.path().join("accounts");
        std::fs::create_dir_all(repo.join("customers/eu")).unwrap();
        std::fs::create_dir(top.path().join(".git")).unwrap();
        let top_canonical = top.path().canonicalize().unwrap();
        // Without a configuration: the top of the work tree.
        assert_eq!(
            find_root(&repo.join("customers/eu")).unwrap(),
            top_canonical
        );
        std::fs::write(repo.join(FILE_NAME), "").unwrap();
        let found = find_root(&repo.join("customers/eu")).unwrap();
        assert_eq!(found, repo.canonicalize().unwrap());
        // A file's directory is where the walk starts.
        std::fs::write(repo.join("customers/eu/a.yaml"), "").unwrap();
        assert_eq!(find_root(&repo.join("customers/eu/a.yaml")).unwrap(), found);
    }

    #[test]
    fn without_marker_the_directory_itself_is_the_root() {
        let dir = tempfile::tempdir().unwrap();
        // Temporary directories are not inside a git work tree nor below a configuration.
        if dir
            .path()
            .ancestors()
            .skip(1)
            .any(|a| a.join(".git").exists() || a.join(FILE_NAME).exists())
        {
            return;
        }
        std::fs::write(dir.path().join("a.yaml"), "").unwrap();
        let canonical = dir.path().canonicalize().unwrap();
        assert_eq!(find_root(dir.path()).unwrap(), canonical);
        assert_eq!(find_root(&dir.path().join("a.yaml")).unwrap(), canonical);
        let located = locate(&[dir.path().join("a.yaml")], None).unwrap();
        assert_eq!(located.paths, [canonical.join("a.yaml")]);
        assert!(located.selects_part);
        assert!(
            !locate(&[dir.path().to_path_buf()], None)
                .unwrap()
                .selects_part
        );
    }

    #[test]
    fn missing_paths_and_several_repositories_are_errors() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for dir in [&a, &b] {
            std::fs::write(dir.path().join(FILE_NAME), "").unwrap();
        }
        let missing = a.path().join("nope.yaml");
        assert_eq!(
            locate(std::slice::from_ref(&missing), None),
            Err(LocateError::Missing(missing.display().to_string()))
        );
        let error = locate(&[a.path().to_path_buf(), b.path().to_path_buf()], None).unwrap_err();
        assert!(matches!(error, LocateError::SeveralRepositories(_)));
        let message = error.to_string();
        assert!(
            message.contains(&a.path().display().to_string()),
            "{message}"
        );
        assert!(
            message.contains(&b.path().display().to_string()),
            "{message}"
        );
    }
}
