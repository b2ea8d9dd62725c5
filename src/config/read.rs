//! Finding and reading `channelguard.yaml` through the one bounded reader, and checking the
//! directories it names.

use std::path::Path;
use std::sync::Arc;

use super::{config_error, shape::parse, Config, LoadedConfig, Located, CONFIG_FILE, FILE_NAME};
use crate::codes;
use crate::finding::{quoted, Finding};
use crate::input::{read_text, Origin as ReadOrigin, ReadScope};
use crate::limits::Limits;
use crate::source::display_path;
use crate::source::ByteSpan;
use std::path::PathBuf;

/// Reads the configuration: `explicit` (`--config FILE`, which must exist), else
/// `channelguard.yaml` at `root` if there is one. Relative paths inside the file are resolved
/// against the file's directory. An unreadable file is an error; its content problems are
/// findings of the returned [`LoadedConfig`].
pub fn load(explicit: Option<&Path>, root: &Path) -> Result<Option<LoadedConfig>, String> {
    let mut scope = ReadScope::new(root);
    let path = match explicit {
        Some(path) => {
            if std::fs::symlink_metadata(path).is_err() {
                return Err(format!(
                    "cannot read configuration `{}`: it does not exist",
                    path.display()
                ));
            }
            scope.allow_file(path);
            path.to_path_buf()
        }
        None => {
            let path = root.join(FILE_NAME);
            // Not `is_file()`: a link to a device or a FIFO must be reported, not ignored.
            if std::fs::symlink_metadata(&path).is_err() {
                return Ok(None);
            }
            path
        }
    };
    // Bounded like a data file, through the one safe reader: a link to `/proc/self/environ`
    // or `/dev/zero` is refused before it is read, so no snippet can show it.
    let max = Limits::default().max_file_bytes;
    let unreadable = |message: String, at: usize| LoadedConfig {
        name: display_path(&path, root),
        path: path.clone(),
        text: Arc::from(""),
        config: Config::default(),
        findings: vec![codes::UNREADABLE_FILE
            .finding(message)
            .at_span(CONFIG_FILE, ByteSpan::empty_at(at))
            .tool()],
    };
    let text = match read_text(&path, &scope, ReadOrigin::Named, max) {
        Ok(text) => text,
        Err(Ok(valid)) => {
            return Ok(Some(unreadable(
                format!("configuration is not valid UTF-8 (byte {valid}); not read"),
                0,
            )))
        }
        Err(Err(refused)) => {
            return Ok(Some(unreadable(format!("configuration: {refused}"), 0)));
        }
    };
    let base_dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let (mut config, mut findings) = parse(&text, &base_dir);
    let trusted = explicit.is_some()
        && matches!((path.canonicalize(), root.canonicalize()),
            (Ok(file), Ok(root)) if !file.starts_with(&root));
    findings.extend(check_paths(&mut config, (!trusted).then_some(root)));
    Ok(Some(LoadedConfig {
        name: display_path(&path, root),
        path,
        text: Arc::from(text),
        config,
        findings,
    }))
}
/// The directories the configuration names must exist (checked here, not at run time, so the
/// error points at the line that names them).
/// Checks the directories the configuration names. `confined_to`: the repository root when the
/// configuration lies inside it (then it is as untrusted as the data, and may not point a
/// policy or schema directory outside the repository); `None` for a configuration the user
/// named from outside the repository (CI's own), which is trusted like the command line.
///
/// A directory outside the repository is also dropped from `config`, so that no command (`test`,
/// `explain` and `list` read the configuration too) can read from it.
fn check_paths(config: &mut Config, confined_to: Option<&Path>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let confined_to = confined_to.and_then(|root| root.canonicalize().ok());
    let outside = |dir: &Located<PathBuf>| {
        confined_to.as_ref().is_some_and(|root| {
            dir.value
                .canonicalize()
                .is_ok_and(|resolved| !resolved.starts_with(root))
        })
    };
    let dirs = config.policies.iter().chain(config.schemas.as_ref());
    for dir in dirs {
        if outside(dir) {
            findings.push(
                config_error(
                    dir.span,
                    &dir.pointer,
                    format!(
                        "directory {} is outside the repository; not read",
                        quoted(&dir.value.to_string_lossy())
                    ),
                )
                .with_label("outside the repository")
                .with_help("a configuration inside the repository may only name directories inside it; name outside ones on the command line (`--policies`, `--schemas`)"),
            );
        } else if !dir.value.is_dir() {
            findings.push(
                config_error(
                    dir.span,
                    &dir.pointer,
                    format!(
                        "directory {} does not exist",
                        quoted(&dir.value.to_string_lossy())
                    ),
                )
                .with_label("no such directory")
                .with_help("paths in the configuration are relative to the configuration file"),
            );
        }
    }
    config.policies.retain(|dir| !outside(dir));
    if config.schemas.as_ref().is_some_and(outside) {
        config.schemas = None;
    }
    findings
}
