//! Which files of the repository are account data: the `include:` / `exclude:` globs of
//! `channelguard.yaml` and the default exclusions of well-known files that are not account data
//! (CI definitions, tool configuration). Globs are matched against the path relative to the
//! repository root, `/`-separated; `.gitignore` and `.ignore` are applied by the walk
//! (`discover`), not here.
//!
//! Glob syntax (gitignore-like, see docs/configuration.md): `*` and `?` stay within one path
//! segment, `**` crosses directories; a glob without `/` matches a file or directory name at any
//! depth; a glob that matches a directory takes in everything under it.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Why the walk did not take a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// A data file name inside a hidden directory, or a hidden data file (like ripgrep, the
    /// walk leaves them out; name them on the command line to check them).
    Hidden,
    /// A data file whose name (or a directory above it) is not UTF-8: it cannot be named
    /// exactly in a report, a waiver or a baseline (also a Y013 finding).
    NonUtf8Name,
    /// A directory that could not be listed (also a Y013 finding).
    UnreadableDirectory,
    /// A data file that `.gitignore`, `.ignore` or `.git/info/exclude` leaves out (never read).
    Ignored,
    /// A data file name matched by `exclude:` in `channelguard.yaml` (never read).
    Excluded,
    /// A data file name that `include:` in `channelguard.yaml` does not match (never read).
    NotIncluded,
    /// A well-known file that is not account data ([`DEFAULT_EXCLUDE`]).
    DefaultExcluded,
}

impl SkipReason {
    /// How the summary names the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Hidden => "hidden",
            SkipReason::NonUtf8Name => "non-UTF-8 name",
            SkipReason::UnreadableDirectory => "unreadable directory",
            SkipReason::Ignored => "ignored by git",
            SkipReason::Excluded => "excluded by `exclude`",
            SkipReason::DefaultExcluded => "well-known non-account file",
            SkipReason::NotIncluded => "not matched by `include`",
        }
    }
}

/// Well-known files that are not account data, left out unless `default_exclude: false`.
/// (`channelguard.yaml`, `.pre-commit-config.yaml`, `.pre-commit-hooks.yaml` and policy test
/// cases `*.test.yaml` are never data files at all: see `discover::is_data_file`.)
pub const DEFAULT_EXCLUDE: &[&str] = &[
    // CI definitions.
    ".github",
    ".gitlab",
    ".gitlab-ci.yml",
    ".gitlab-ci.yaml",
    "azure-pipelines*.yml",
    "azure-pipelines*.yaml",
    ".azure-pipelines",
    ".azuredevops",
    "bitbucket-pipelines.yml",
    ".circleci",
    ".buildkite",
    ".travis.yml",
    "appveyor.yml",
    ".appveyor.yml",
    ".drone.yml",
    ".woodpecker",
    ".woodpecker.yml",
    "cloudbuild.yaml",
    "cloudbuild.yml",
    "buildspec.yml",
    "codecov.yml",
    ".codecov.yml",
    // Tool configuration and documentation sites.
    ".yamllint",
    ".yamllint.yml",
    ".yamllint.yaml",
    ".readthedocs.yml",
    ".readthedocs.yaml",
    "mkdocs.yml",
    "mkdocs.yaml",
    "docker-compose*.yml",
    "docker-compose*.yaml",
    "compose.yml",
    "compose.yaml",
];

/// A glob of the configuration that does not compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobError {
    /// Index of the glob in its list.
    pub index: usize,
    pub message: String,
}

/// A compiled list of globs.
#[derive(Clone, Debug)]
struct Globs(GlobSet);

impl Globs {
    fn new(patterns: &[String]) -> Result<Globs, GlobError> {
        let mut set = GlobSetBuilder::new();
        for (index, pattern) in patterns.iter().enumerate() {
            set.add(compile(pattern).map_err(|message| GlobError { index, message })?);
        }
        set.build().map(Globs).map_err(|e| GlobError {
            index: 0,
            message: e.kind().to_string(),
        })
    }

    /// Whether the path or one of the directories above it matches.
    fn matches(&self, relative: &str) -> bool {
        relative
            .match_indices('/')
            .any(|(at, _)| at > 0 && self.0.is_match(&relative[..at]))
            || self.0.is_match(relative)
    }
}

/// Compiles one glob of the configuration (gitignore-like anchoring, see the module docs).
pub fn compile(pattern: &str) -> Result<globset::Glob, String> {
    let trimmed = pattern.trim();
    if trimmed.is_empty() {
        return Err("a glob must not be empty".to_string());
    }
    let anchored = trimmed.trim_start_matches("./").trim_start_matches('/');
    let anchored = anchored.trim_end_matches('/');
    if anchored.is_empty() {
        return Err("a glob must name something below the root".to_string());
    }
    let full = if trimmed.trim_end_matches('/').contains('/') {
        anchored.to_string()
    } else {
        format!("**/{anchored}")
    };
    GlobBuilder::new(&full)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| e.kind().to_string())
}

/// What the walk takes: everything that is a data file name, minus the default exclusions,
/// minus `exclude`, and (when `include` is given) only what `include` matches.
#[derive(Clone, Debug)]
pub struct Scope {
    include: Option<Globs>,
    exclude: Option<Globs>,
    defaults: Option<Globs>,
}

impl Default for Scope {
    fn default() -> Scope {
        Scope::new(&[], &[], true).unwrap_or_else(|_| unreachable!("the default globs compile"))
    }
}

/// Which list a glob error is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    Include,
    Exclude,
}

impl Scope {
    /// `include` empty means every data file; `defaults` applies [`DEFAULT_EXCLUDE`].
    pub fn new(
        include: &[String],
        exclude: &[String],
        defaults: bool,
    ) -> Result<Scope, (List, GlobError)> {
        let include = if include.is_empty() {
            None
        } else {
            Some(Globs::new(include).map_err(|e| (List::Include, e))?)
        };
        let exclude = if exclude.is_empty() {
            None
        } else {
            Some(Globs::new(exclude).map_err(|e| (List::Exclude, e))?)
        };
        let defaults = if defaults {
            let owned: Vec<String> = DEFAULT_EXCLUDE.iter().map(|s| s.to_string()).collect();
            Some(Globs::new(&owned).map_err(|e| (List::Exclude, e))?)
        } else {
            None
        };
        Ok(Scope {
            include,
            exclude,
            defaults,
        })
    }

    /// Why a file found by walking a directory is out of scope (`relative`: its path relative
    /// to the root, `/`-separated), or `None` when it is in scope.
    pub fn leaves_out(&self, relative: &str) -> Option<SkipReason> {
        if self.exclude.as_ref().is_some_and(|g| g.matches(relative)) {
            return Some(SkipReason::Excluded);
        }
        if self.defaults.as_ref().is_some_and(|g| g.matches(relative)) {
            return Some(SkipReason::DefaultExcluded);
        }
        if self.include.as_ref().is_some_and(|g| !g.matches(relative)) {
            return Some(SkipReason::NotIncluded);
        }
        None
    }

    /// Why a file named on the command line is out of scope: only the exclusions apply (a
    /// named file is taken whatever its extension, so `include` does not).
    pub fn leaves_out_named(&self, relative: &str) -> Option<SkipReason> {
        match self.leaves_out(relative) {
            Some(SkipReason::NotIncluded) => None,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(include: &[&str], exclude: &[&str], defaults: bool) -> Scope {
        let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Scope::new(&owned(include), &owned(exclude), defaults).unwrap()
    }

    #[test]
    fn a_glob_without_a_slash_matches_a_name_at_any_depth() {
        let s = scope(&[], &["*.draft.yaml"], false);
        assert_eq!(s.leaves_out("a.draft.yaml"), Some(SkipReason::Excluded));
        assert_eq!(s.leaves_out("x/y/a.draft.yaml"), Some(SkipReason::Excluded));
        assert_eq!(s.leaves_out("x/a.yaml"), None);
    }

    #[test]
    fn a_glob_with_a_slash_is_anchored_at_the_root() {
        let s = scope(&[], &["docs/*.yaml", "/tools/"], false);
        assert_eq!(s.leaves_out("docs/a.yaml"), Some(SkipReason::Excluded));
        // `*` stays within one segment.
        assert_eq!(s.leaves_out("docs/x/a.yaml"), None);
        assert_eq!(s.leaves_out("sub/docs/a.yaml"), None);
        // A directory takes in everything under it.
        assert_eq!(
            s.leaves_out("tools/x/lint.yaml"),
            Some(SkipReason::Excluded)
        );
        assert_eq!(s.leaves_out("a/tools/lint.yaml"), None);
    }

    #[test]
    fn double_star_crosses_directories() {
        let s = scope(&["customers/**"], &[], false);
        assert_eq!(s.leaves_out("customers/a/b/c.yaml"), None);
        assert_eq!(
            s.leaves_out("partners/p.yaml"),
            Some(SkipReason::NotIncluded)
        );
        // A directory name matches too.
        let s = scope(&["customers"], &[], false);
        assert_eq!(s.leaves_out("x/customers/c.yaml"), None);
    }

    #[test]
    fn exclude_wins_over_include_and_named_files_ignore_include() {
        let s = scope(&["docs/**"], &["docs/old/**"], false);
        assert_eq!(s.leaves_out("docs/old/a.yaml"), Some(SkipReason::Excluded));
        assert_eq!(s.leaves_out("docs/a.yaml"), None);
        assert_eq!(s.leaves_out_named("other/a.yaml"), None);
        assert_eq!(
            s.leaves_out_named("docs/old/a.yaml"),
            Some(SkipReason::Excluded)
        );
    }

    #[test]
    fn defaults_leave_out_ci_definitions_and_can_be_turned_off() {
        let on = Scope::default();
        for path in [
            "azure-pipelines.yml",
            "ci/azure-pipelines-release.yaml",
            "bitbucket-pipelines.yml",
            ".github/workflows/ci.yml",
            ".gitlab-ci.yml",
            "mkdocs.yml",
            "docker-compose.override.yml",
        ] {
            assert_eq!(
                on.leaves_out(path),
                Some(SkipReason::DefaultExcluded),
                "{path}"
            );
        }
        assert_eq!(on.leaves_out("customers/azure.yaml"), None);
        assert_eq!(scope(&[], &[], false).leaves_out("mkdocs.yml"), None);
    }

    #[test]
    fn bad_globs_are_refused_with_their_index() {
        let err = Scope::new(&[], &["ok/**".into(), "a[b".into()], false).unwrap_err();
        assert_eq!(err.0, List::Exclude);
        assert_eq!(err.1.index, 1);
        assert!(err.1.message.contains("unclosed"), "{}", err.1.message);
        assert!(Scope::new(&["  ".into()], &[], false).is_err());
        assert!(Scope::new(&["/".into()], &[], false).is_err());
    }
}
