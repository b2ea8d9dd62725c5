//! The metadata header of a policy script: the `//!` lines at the top of a `.rhai` file that a
//! compliance reviewer reads first, and the engine reads to know what the policy is.
//!
//! ```text
//! //! id: MC002
//! //! title: license-based subscription managed without an accepted reseller relationship
//! //! severity: error
//! //! subrule: MC002.admin: warning: license-based subscription managed without admin rights
//! //! kinds: Subscription
//! //! source: Partner Center, multichannel.md
//! //! rationale: To provide support for multichannel accounts, you must request
//! //!   permissions from the customer to manage their subscriptions.
//! //! remediation: Ask the customer's Global admin to accept the reseller relationship.
//! //! setting: require_admin_rights = false — also warn when no active DAP/GDAP exists
//! ```
//! A line indented under a key continues its value.
//!
//! `subrule: ID: SEVERITY: TITLE — REMEDIATION` (one entry each, right after `severity:`;
//! the remediation is optional) declares a kind of violation the policy reports under its own
//! id, `<policy id>.<slug>` (slug: lowercase letters, digits, `-`), with its own default
//! severity, title and remediation; the script reports under it with
//! `report(#{rule: "MC002.admin", ...})`. Rationale and source are the policy's. The policy id
//! addresses the whole family ([`crate::rule_id`]).
//!
//! `applies` is a natively tested pre-condition ([`super::applies`]), one line per kind or one
//! for all.

use super::applies::Applies;
use crate::finding::Severity;
use crate::model::Kind;

/// A rule setting a policy declares, with its default.
#[derive(Clone, Debug, PartialEq)]
pub struct SettingDecl {
    pub name: String,
    pub default: serde_json::Value,
    pub description: String,
}

/// A kind of violation a policy reports under its own id (`MC002.admin`).
#[derive(Clone, Debug, PartialEq)]
pub struct SubRule {
    /// The full sub-id, `<policy id>.<slug>`.
    pub id: String,
    pub title: String,
    pub severity: Severity,
    /// How to fix it (after ` — ` on the line); empty: the policy's `remediation`.
    pub remediation: String,
}

/// What a policy header declares.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyMeta {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub kinds: Vec<Kind>,
    /// Pre-conditions (`applies:` lines): a document of a kind whose condition is false is
    /// not evaluated (the script would return at once).
    pub applies: Vec<Applies>,
    pub source: String,
    pub rationale: String,
    pub remediation: String,
    pub settings: Vec<SettingDecl>,
    /// Sub-rules (`subrule:` lines), in header order.
    pub subrules: Vec<SubRule>,
    /// An example of data that violates the rule, for `explain`.
    pub example: String,
    /// The example made compliant ("use instead"), for `explain` and `docs/rules.md`.
    pub compliant: String,
}

impl PolicyMeta {
    /// The pre-condition for documents of `kind`: its own `applies` line, else the one for all
    /// kinds, else none.
    pub fn applies_to(&self, kind: Kind) -> Option<&Applies> {
        self.applies
            .iter()
            .find(|a| a.kind == Some(kind))
            .or_else(|| self.applies.iter().find(|a| a.kind.is_none()))
    }
}

/// A header problem: message and the 1-based line it is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaError {
    pub line: usize,
    pub message: String,
}

/// Reads the header. Unknown keys are errors, so a typo in a header is never ignored.
pub fn parse(script: &str) -> Result<PolicyMeta, MetaError> {
    let mut entries: Vec<(usize, String, String)> = Vec::new();
    for (index, line) in script.lines().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("//!") else {
            if line.trim().is_empty() || line.trim_start().starts_with("//") {
                continue;
            }
            break;
        };
        let continuation = rest.starts_with("  ") || rest.starts_with('\t');
        let rest = rest.trim();
        if continuation {
            if let Some(last) = entries.last_mut() {
                let yaml = matches!(last.1.as_str(), "example" | "compliant");
                if !last.2.is_empty() && !yaml {
                    last.2.push(' ');
                } else if yaml && !last.2.is_empty() {
                    last.2.push('\n');
                }
                last.2
                    .push_str(if yaml { rest_preserving(line) } else { rest });
                continue;
            }
        }
        if rest.is_empty() {
            continue;
        }
        let Some((key, value)) = rest.split_once(':') else {
            return Err(MetaError {
                line: index + 1,
                message: format!("header line must be `key: value`, found `{rest}`"),
            });
        };
        entries.push((index + 1, key.trim().to_string(), value.trim().to_string()));
    }
    let mut meta = PolicyMeta {
        id: String::new(),
        title: String::new(),
        severity: Severity::Error,
        kinds: Vec::new(),
        applies: Vec::new(),
        source: String::new(),
        rationale: String::new(),
        remediation: String::new(),
        settings: Vec::new(),
        subrules: Vec::new(),
        example: String::new(),
        compliant: String::new(),
    };
    let mut seen_severity = false;
    let mut applies_lines = Vec::new();
    for (line, key, value) in entries {
        let error = |message: String| MetaError { line, message };
        match key.as_str() {
            "id" => {
                if value.is_empty()
                    || !value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(error(format!(
                        "`id` must be letters, digits, `-` or `_`, found `{value}`"
                    )));
                }
                meta.id = value;
            }
            "title" => meta.title = value,
            "severity" => {
                meta.severity = Severity::parse(&value).ok_or_else(|| {
                    error(format!(
                        "`severity` must be `error`, `warning` or `info`, found `{value}`"
                    ))
                })?;
                seen_severity = true;
            }
            "kinds" => {
                for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let kind = Kind::parse(name).ok_or_else(|| {
                        error(format!(
                            "unknown kind `{name}`; kinds are {}",
                            Kind::ALL.map(Kind::as_str).join(", ")
                        ))
                    })?;
                    meta.kinds.push(kind);
                }
            }
            "applies" => {
                meta.applies.push(Applies::parse(&value).map_err(error)?);
                applies_lines.push(line);
            }
            "source" => meta.source = value,
            "rationale" => meta.rationale = value,
            "remediation" => meta.remediation = value,
            "example" => meta.example = value,
            "compliant" => meta.compliant = value,
            "setting" => meta.settings.push(parse_setting(&value).map_err(error)?),
            "subrule" => {
                let sub = parse_subrule(&value, &meta.id).map_err(error)?;
                if sub.id == meta.id || meta.subrules.iter().any(|s| s.id == sub.id) {
                    return Err(error(format!("sub-rule `{}` is declared twice", sub.id)));
                }
                meta.subrules.push(sub);
            }
            other => return Err(error(format!("unknown header key `{other}`"))),
        }
    }
    for (i, applies) in meta.applies.iter().enumerate() {
        let error = |message: String| MetaError {
            line: applies_lines[i],
            message,
        };
        if let Some(kind) = applies.kind {
            if !meta.kinds.contains(&kind) {
                return Err(error(format!(
                    "`applies` names kind `{kind}`, which is not in the policy's `kinds`"
                )));
            }
        }
        if meta.applies[..i]
            .iter()
            .any(|a| a.kind.is_none() || applies.kind.is_none() || a.kind == applies.kind)
        {
            return Err(error(
                "`applies` is given twice for the same kind; join the conditions with `and`/`or`"
                    .to_string(),
            ));
        }
    }
    let missing: Vec<&str> = [
        ("id", meta.id.is_empty()),
        ("title", meta.title.is_empty()),
        ("severity", !seen_severity),
        ("kinds", meta.kinds.is_empty()),
        ("rationale", meta.rationale.is_empty()),
        ("remediation", meta.remediation.is_empty()),
    ]
    .into_iter()
    .filter_map(|(k, missing)| missing.then_some(k))
    .collect();
    if !missing.is_empty() {
        return Err(MetaError {
            line: 1,
            message: format!(
                "policy header is missing {}",
                missing
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Ok(meta)
}

/// `ID: SEVERITY: TITLE [— REMEDIATION]`, where ID is `<policy id>.<slug>` (the `id:` line
/// comes first).
fn parse_subrule(text: &str, policy: &str) -> Result<SubRule, String> {
    let shape =
        || format!("`subrule` must be `{policy}.<slug>: <severity>: <title>`, found `{text}`");
    let mut parts = text.splitn(3, ':').map(str::trim);
    let (Some(id), Some(severity), Some(title)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(shape());
    };
    let slug = id
        .strip_prefix(policy)
        .and_then(|rest| rest.strip_prefix('.'))
        .filter(|_| !policy.is_empty());
    let Some(slug) = slug else {
        return Err(format!(
            "sub-rule id `{id}` must be the policy id, a dot and a slug (`{policy}.admin`)"
        ));
    };
    if !crate::rule_id::valid_slug(slug) {
        return Err(format!(
            "sub-rule slug `{slug}` must be lowercase letters, digits or `-`, starting with a letter"
        ));
    }
    let severity = Severity::parse(severity).ok_or_else(|| {
        format!("sub-rule severity must be `error`, `warning` or `info`, found `{severity}`")
    })?;
    let (title, remediation) = match title.split_once('—') {
        Some((title, remediation)) => (title.trim(), remediation.trim()),
        None => (title, ""),
    };
    if title.is_empty() {
        return Err(shape());
    }
    Ok(SubRule {
        id: id.to_string(),
        title: title.to_string(),
        severity,
        remediation: remediation.to_string(),
    })
}

impl PolicyMeta {
    /// The ids this policy reports under: its own, then its sub-rules'.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.subrules.iter().map(|s| s.id.as_str()))
    }

    /// The sub-rule with this id, if the policy declares it.
    pub fn subrule(&self, id: &str) -> Option<&SubRule> {
        self.subrules.iter().find(|s| s.id == id)
    }

    /// The rule and each sub-rule as a rule of its own (title, severity and remediation of the
    /// sub-rule, everything else of the policy; settings, examples and sub-rules only on the parent), for
    /// `list`, SARIF `rules[]`, docs and annotation titles.
    pub fn family(&self) -> Vec<PolicyMeta> {
        let mut family = vec![self.clone()];
        for sub in &self.subrules {
            family.push(PolicyMeta {
                id: sub.id.clone(),
                title: sub.title.clone(),
                severity: sub.severity,
                remediation: if sub.remediation.is_empty() {
                    self.remediation.clone()
                } else {
                    sub.remediation.clone()
                },
                settings: Vec::new(),
                subrules: Vec::new(),
                example: String::new(),
                compliant: String::new(),
                ..self.clone()
            });
        }
        family
    }
}

/// Keeps the indentation of an example line beyond the two continuation spaces.
fn rest_preserving(line: &str) -> &str {
    let rest = line.trim_start().strip_prefix("//!").unwrap_or("");
    // `//!` + one space + the two-space continuation indent.
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    rest.strip_prefix("  ").unwrap_or(rest).trim_end()
}

/// `name = default — description` (the separator may also be ` - `).
fn parse_setting(text: &str) -> Result<SettingDecl, String> {
    let (name, rest) = text.split_once('=').ok_or_else(|| {
        format!("`setting` must be `name = default — description`, found `{text}`")
    })?;
    let (default, description) = match rest.split_once('—').or_else(|| rest.split_once(" - ")) {
        Some((d, desc)) => (d.trim(), desc.trim()),
        None => (rest.trim(), ""),
    };
    let name = name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(format!(
            "setting name must be lower snake_case, found `{name}`"
        ));
    }
    let default = match default {
        "true" => serde_json::Value::Bool(true),
        "false" => serde_json::Value::Bool(false),
        n if n.parse::<i64>().is_ok() => serde_json::Value::from(n.parse::<i64>().unwrap_or(0)),
        s => serde_json::Value::String(s.trim_matches('"').to_string()),
    };
    Ok(SettingDecl {
        name: name.to_string(),
        default,
        description: description.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "//! id: MC002\n//! title: subscription managed without an accepted relationship\n//! severity: error\n//! kinds: Subscription, Customer\n//! rationale: To provide support for multichannel accounts,\n//!   you must request permissions.\n//! remediation: Ask the customer to accept.\n//! setting: require_admin_rights = false — warn without DAP/GDAP\n\nfn check(doc) {}\n";

    #[test]
    fn parses_a_header() {
        let meta = parse(HEADER).unwrap();
        assert_eq!(meta.id, "MC002");
        assert_eq!(meta.kinds, [Kind::Subscription, Kind::Customer]);
        assert_eq!(
            meta.rationale,
            "To provide support for multichannel accounts, you must request permissions."
        );
        assert_eq!(meta.settings[0].name, "require_admin_rights");
        assert_eq!(meta.settings[0].default, serde_json::Value::Bool(false));
        assert_eq!(meta.settings[0].description, "warn without DAP/GDAP");
    }

    #[test]
    fn reports_the_line_of_a_bad_key() {
        let bad = HEADER.replace("kinds: Subscription, Customer", "kinds: Subscriptions");
        let error = parse(&bad).unwrap_err();
        assert_eq!(error.line, 4);
        assert!(error.message.starts_with("unknown kind `Subscriptions`"));
        let error = parse(&HEADER.replace("severity:", "severty:")).unwrap_err();
        assert_eq!(error.message, "unknown header key `severty`");
    }

    #[test]
    fn example_lines_keep_their_own_indentation_only() {
        let script = HEADER.replace(
            "//! setting:",
            "//! example: kind: Subscription\n//!   id: s1\n//!   roles:\n//!     - Directory Readers\n//! setting:",
        );
        let meta = parse(&script).unwrap();
        assert_eq!(
            meta.example,
            "kind: Subscription\nid: s1\nroles:\n  - Directory Readers"
        );
    }

    #[test]
    fn subrules_have_their_own_id_severity_and_title() {
        let script = HEADER.replace(
            "//! kinds:",
            "//! subrule: MC002.admin: warning: managed without admin rights: no DAP — request\n//!   GDAP\n//! kinds:",
        );
        let meta = parse(&script).unwrap();
        assert_eq!(
            meta.subrules,
            [SubRule {
                id: "MC002.admin".into(),
                title: "managed without admin rights: no DAP".into(),
                severity: Severity::Warning,
                remediation: "request GDAP".into(),
            }]
        );
        assert_eq!(
            meta.rule_ids().collect::<Vec<_>>(),
            ["MC002", "MC002.admin"]
        );
        let family = meta.family();
        assert_eq!(
            (family[1].id.as_str(), family[1].severity),
            ("MC002.admin", Severity::Warning)
        );
        assert_eq!(family[1].rationale, meta.rationale);
        assert_eq!(family[1].remediation, "request GDAP");
        for (bad, expected) in [
            (
                "MC003.admin: warning: t",
                "sub-rule id `MC003.admin` must be the policy id",
            ),
            (
                "MC002.Admin: warning: t",
                "sub-rule slug `Admin` must be lowercase",
            ),
            ("MC002.admin: fatal: t", "sub-rule severity must be"),
            (
                "MC002.admin: warning",
                "`subrule` must be `MC002.<slug>: <severity>: <title>`",
            ),
        ] {
            let script = HEADER.replace("//! kinds:", &format!("//! subrule: {bad}\n//! kinds:"));
            let error = parse(&script).unwrap_err();
            assert!(
                error.message.starts_with(expected),
                "{bad}: {}",
                error.message
            );
            assert_eq!(error.line, 4);
        }
        let twice = HEADER.replace(
            "//! kinds:",
            "//! subrule: MC002.admin: info: a\n//! subrule: MC002.admin: info: b\n//! kinds:",
        );
        assert_eq!(
            parse(&twice).unwrap_err().message,
            "sub-rule `MC002.admin` is declared twice"
        );
    }

    #[test]
    fn applies_lines_are_parsed_and_checked_at_their_line() {
        let script = HEADER.replace(
            "//! rationale:",
            "//! applies: Subscription: status == \"active\"\n//! applies: Customer: has(notes)\n//! rationale:",
        );
        let meta = parse(&script).unwrap();
        assert_eq!(
            meta.applies_to(Kind::Subscription).unwrap().text,
            "status == \"active\""
        );
        assert_eq!(meta.applies_to(Kind::Customer).unwrap().text, "has(notes)");
        assert_eq!(meta.applies_to(Kind::Partner), None);
        let error = parse(&HEADER.replace(
            "//! rationale:",
            "//! applies: status = \"active\"\n//! rationale:",
        ))
        .unwrap_err();
        assert_eq!(
            (error.line, error.message.as_str()),
            (5, "`applies`: expected `==` or `!=` at `= \"active\"`")
        );
        let error = parse(&HEADER.replace(
            "//! rationale:",
            "//! applies: Partner: has(notes)\n//! rationale:",
        ))
        .unwrap_err();
        assert_eq!(error.line, 5);
        assert_eq!(
            error.message,
            "`applies` names kind `Partner`, which is not in the policy's `kinds`"
        );
        let error = parse(&HEADER.replace(
            "//! rationale:",
            "//! applies: has(notes)\n//! applies: Customer: has(notes)\n//! rationale:",
        ))
        .unwrap_err();
        assert_eq!(error.line, 6);
        assert!(error.message.starts_with("`applies` is given twice"));
    }

    #[test]
    fn missing_keys_are_listed() {
        let error = parse("//! id: X1\n").unwrap_err();
        assert_eq!(
            error.message,
            "policy header is missing `title`, `severity`, `kinds`, `rationale`, `remediation`"
        );
    }
}
