//! The configuration file `channelguard.yaml`: finding it, reading it with the project's YAML
//! loader, validating it in two phases (shape, then rule ids and settings against the loaded
//! policies) into a typed [`Config`], applying it to [`CheckOptions`](crate::options::CheckOptions), and the starter file
//! that `channelguard init` writes.
//!
//! Every problem is a C001 finding (origin `Tool`, so the exit code is 2) located in the file,
//! so the human report shows the offending line of `channelguard.yaml`. Command-line flags win
//! over the file: [`Config::apply_to`] only fills what the command line left unset.
//!
//! Files: [`read`] finds and reads the file, [`shape`] reads its shape (phase 1), [`validate`]
//! checks rule ids and settings against the loaded policies (phase 2), [`apply`] fills
//! [`CheckOptions`](crate::options::CheckOptions), [`init`] is the starter file.

mod apply;
mod init;
mod read;
mod shape;
mod validate;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use crate::codes;
use crate::finding::{Finding, Severity};
use crate::limits::Limits;
use crate::source::ByteSpan;
use crate::source::{FileId, FileRole, SourceFile};
use crate::suppress::waivers::Waiver;

pub use apply::evaluation_date;
pub use init::{starter, PRE_COMMIT_CONFIG};
pub use read::load;
pub use shape::parse;
pub use validate::RuleCatalog;

/// The name the configuration file is looked up by, at the repository root.
pub const FILE_NAME: &str = "channelguard.yaml";

/// A value from the file together with where it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Located<T> {
    pub value: T,
    /// The entry (`key: value`) in the configuration file.
    pub span: ByteSpan,
    /// JSON Pointer of the entry in the configuration.
    pub pointer: String,
}

/// `rules: {MC017: {enabled: false, severity: warning}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleConfig {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
}

/// The validated configuration (phase 1: everything that can be checked without the policies).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    pub as_of: Option<jiff::civil::Date>,
    /// Extra policy directories, resolved against the configuration file's directory.
    pub policies: Vec<Located<PathBuf>>,
    /// Schema directory replacing the bundled schemas, resolved like `policies`.
    pub schemas: Option<Located<PathBuf>>,
    pub rules: Vec<Located<(String, RuleConfig)>>,
    pub settings: Vec<Located<(String, Value)>>,
    pub limits: Limits,
    pub waivers: Vec<Waiver>,
    /// `include:` globs: when given, only the data files they match are checked.
    pub include: Vec<String>,
    /// `exclude:` globs: data files they match are never read.
    pub exclude: Vec<String>,
    /// `default_exclude:` (`None`: true) leaves out [`crate::scope::DEFAULT_EXCLUDE`].
    pub default_exclude: Option<bool>,
}
/// A configuration file as read from disk: its text (for snippets), the configuration and the
/// problems found so far. Its findings point into the file as [`CONFIG_FILE`]: a run with
/// configuration errors registers the file first in its [`crate::source::SourceMap`], where it has that id;
/// a run without registers it last, and only its waivers' W001/W002 point into it.
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    /// Path as shown in reports (relative to the repository root where possible).
    pub name: String,
    pub path: PathBuf,
    pub text: Arc<str>,
    pub config: Config,
    pub findings: Vec<Finding>,
}

/// The id of the configuration file in the outcome of a run stopped by configuration errors:
/// the only file, registered first ([`crate::check::run_with_config`]).
pub const CONFIG_FILE: FileId = FileId(0);

pub(crate) fn config_error(span: ByteSpan, pointer: &str, message: String) -> Finding {
    codes::CONFIG_ERROR
        .finding(message)
        .at_span(CONFIG_FILE, span)
        .with_pointer(pointer)
        .tool()
}

impl LoadedConfig {
    /// The file as a run registers it (snippets of its findings show it).
    pub fn source_file(&self) -> SourceFile {
        SourceFile::new(
            self.name.clone(),
            self.path.clone(),
            Arc::clone(&self.text),
            FileRole::Config,
        )
    }
}

#[cfg(test)]
mod tests;
