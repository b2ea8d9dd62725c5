//! Applying a read configuration to [`CheckOptions`]: the command line wins, the file fills
//! what it left unset.

use std::path::PathBuf;

use super::{Config, LoadedConfig};
use crate::options::CheckOptions;

impl Config {
    /// The schema and policy directories only (what `test`, `explain` and `list` take from the
    /// file, so that they see the policies `check` runs): a `--schemas` flag wins over
    /// `schemas`; the file's policy directories come before those of the command line (so a
    /// `--policies` policy replaces one of the file's with the same id).
    pub fn apply_directories(&self, options: &mut CheckOptions) {
        if options.schema_dir.is_none() {
            options.schema_dir = self.schemas.as_ref().map(|s| s.value.clone());
        }
        let mut directories: Vec<PathBuf> = self.policies.iter().map(|p| p.value.clone()).collect();
        directories.append(&mut options.policies.directories);
        options.policies.directories = directories;
    }

    /// Applies the configuration where the command line left things unset: the evaluation date
    /// is handled by [`evaluation_date`]; a `--schemas` flag wins over `schemas`; policy
    /// directories of the file come before those of the command line (so a `--policies`
    /// policy replaces one of the file's with the same id).
    pub fn apply_to(&self, options: &mut CheckOptions) {
        self.apply_directories(options);
        for rule in &self.rules {
            let (id, config) = &rule.value;
            if config.enabled == Some(false) && !options.disabled_rules.contains(id) {
                options.disabled_rules.push(id.clone());
            }
            if let Some(severity) = config.severity {
                options
                    .severity_overrides
                    .entry(id.clone())
                    .or_insert(severity);
            }
        }
        for setting in &self.settings {
            let (name, value) = &setting.value;
            options
                .settings
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
        options.limits = self.limits.clone();
        // The globs were checked when the file was read (C001 stops the run otherwise).
        if let Ok(scope) = crate::scope::Scope::new(
            &self.include,
            &self.exclude,
            self.default_exclude.unwrap_or(true),
        ) {
            options.scope = scope;
        }
    }
}

/// The evaluation date: `--as-of`, else `as_of` in the configuration, else today in UTC.
pub fn evaluation_date(
    command_line: Option<jiff::civil::Date>,
    config: Option<&LoadedConfig>,
) -> jiff::civil::Date {
    command_line
        .or_else(|| config.and_then(|c| c.config.as_of))
        .unwrap_or_else(crate::dates::today_utc)
}
