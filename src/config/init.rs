//! The starter `channelguard.yaml` and `.pre-commit-config.yaml` that `channelguard init`
//! writes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::shape::LIMIT_KEYS;
use crate::limits::Limits;
use crate::policy::SettingDecl;

/// A commented starter `channelguard.yaml` that explains every key; the rule settings are
/// listed (commented out) with their defaults from `settings`.
pub fn starter(settings: &BTreeMap<String, (SettingDecl, String)>) -> String {
    let defaults = Limits::default();
    let mut out = String::from(STARTER_HEAD);
    out.push_str("\n# Rule settings declared by the policies (shown with their defaults).\n");
    if settings.is_empty() {
        out.push_str("# No loaded policy declares a setting.\n");
    }
    out.push_str("settings:\n");
    for (name, (decl, policy)) in settings {
        let _ = writeln!(out, "  # ({policy}) {}", decl.description);
        let _ = writeln!(out, "  # {name}: {}", decl.default);
    }
    out.push_str(STARTER_LIMITS_HEAD);
    out.push_str("limits:\n");
    for key in LIMIT_KEYS {
        let _ = writeln!(
            out,
            "  # {}: {}  # hard maximum {}",
            key.name,
            (key.get)(&defaults),
            (key.get)(&Limits::MAXIMA)
        );
    }
    out.push_str(STARTER_WAIVERS);
    out
}

const STARTER_HEAD: &str = "\
# channelguard configuration (docs/configuration.md).
# Paths are relative to this file. Command-line flags win over what is set here.

# Evaluation date for rules that depend on \"today\" (YYYY-MM-DD). Without it (and without
# --as-of) channelguard uses the current UTC date. Pin it in CI for reproducible results.
# as_of: 2024-06-30

# Extra policy directories (*.rhai), loaded after the built-in pack. A policy with the id of a
# built-in one replaces it.
policies:
  # - policies

# A directory of JSON Schemas that replaces the bundled ones.
# schemas: schemas

# Per-rule options, by rule id: `enabled: false` skips the rule, `severity` (error, warning or
# info) changes how serious its findings are. A sub-rule id (`MC002.admin`) names one kind of
# violation; a policy id (`MC002`) names it and all its sub-rules (`channelguard list`).
rules:
  # MC002:
  #   enabled: true
  #   severity: error
  # MC002.admin:
  #   severity: warning
";

const STARTER_LIMITS_HEAD: &str = "
# Resource limits for untrusted input (shown with their defaults). A breach is a finding, never
# a crash; raise a limit only for data you trust.
";

const STARTER_WAIVERS: &str = "
# Accepted findings. A waived finding is listed with --show-waived but does not fail the check.
# `rule`, `document` (Kind/id), `reason` and `approved_by` are required; `pointer` narrows the
# waiver to one field; after `expires` the waiver no longer applies and is reported (W001).
waivers:
  # - rule: MC002
  #   document: Subscription/contoso-m365-e3
  #   pointer: /managed_by
  #   reason: \"relationship accepted by phone, Partner Center shows it on 2024-07-01\"
  #   approved_by: \"jane.doe@example.com\"
  #   expires: 2024-07-31
";

/// The `.pre-commit-config.yaml` that `channelguard init` writes: a local hook that runs the
/// installed `channelguard` on the whole repository.
pub const PRE_COMMIT_CONFIG: &str = "\
# pre-commit hooks (https://pre-commit.com): run `pre-commit install` once.
# channelguard checks the whole repository every time (channel rules cross documents); the
# staged file names given after `--only --` choose which findings are reported. `--only` takes
# every argument after it as a file name, so put options before it in `entry`.
# This local hook runs the channelguard on PATH. To let pre-commit build a pinned version
# instead, use channelguard's repository as `repo:` with a `rev:` and the hook id `channelguard`.
repos:
  - repo: local
    hooks:
      - id: channelguard
        name: channelguard (CSP account data)
        entry: channelguard check --only --
        language: system
        pass_filenames: true
        files: \\.(ya?ml)$
        require_serial: true
";
