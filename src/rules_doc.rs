//! The rule catalog as text: one [`RuleSummary`] per policy and built-in check (for `list`),
//! the generated `docs/rules.md` ([`rules_markdown`]) and the body of `explain`
//! ([`explain_policy`], [`explain_check`]). Everything is derived from policy headers and the
//! checks registry, so the documentation cannot drift from the code.

use serde::Serialize;

use crate::codes::{self, BuiltinCheck};
use crate::escape::escape_untrusted;
use crate::policy::PolicyMeta;

/// The command that regenerates `docs/rules.md` (printed by the staleness test).
pub const REGENERATE_RULES_DOC: &str = "cargo run --quiet -- docs rules > docs/rules.md";

/// One line of `channelguard list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleSummary {
    pub id: String,
    /// `policy` (a Rhai script) or `builtin` (a check of channelguard itself).
    #[serde(rename = "type")]
    pub rule_type: &'static str,
    pub severity: crate::finding::Severity,
    /// Cases reported at another severity than `severity` (F03's unquoted `NO` is a warning).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_severities: Vec<codes::SeverityCase>,
    /// Document kinds a policy applies to (empty for built-in checks).
    pub kinds: Vec<String>,
    pub title: String,
}

impl RuleSummary {
    /// `error`, or `error/warning` when some cases are reported at another severity.
    pub fn severity_text(&self) -> String {
        std::iter::once(self.severity.as_str())
            .chain(self.other_severities.iter().map(|c| c.severity.as_str()))
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// `- **Severity:** …` lines and `explain`'s severity line: the default, then each other case.
fn severity_detail(check: &BuiltinCheck) -> String {
    let mut text = check.severity.to_string();
    for case in check.other_severities() {
        text.push_str(&format!("; {} for {}", case.severity, case.when));
    }
    text
}

/// Policies (sorted by id) then built-in checks (in registry order).
pub fn catalog(policies: &[PolicyMeta]) -> Vec<RuleSummary> {
    let mut sorted: Vec<&PolicyMeta> = policies.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    // Each policy, then its sub-rules (`MC002`, `MC002.admin`).
    let family: Vec<PolicyMeta> = sorted.into_iter().flat_map(PolicyMeta::family).collect();
    let policies = family.into_iter().map(|meta| RuleSummary {
        id: meta.id.clone(),
        rule_type: "policy",
        severity: meta.severity,
        other_severities: Vec::new(),
        kinds: meta.kinds.iter().map(|k| k.as_str().to_string()).collect(),
        title: meta.title,
    });
    let checks = codes::ALL.iter().map(|check| RuleSummary {
        id: check.id.to_string(),
        rule_type: "builtin",
        severity: check.severity,
        other_severities: check.other_severities().to_vec(),
        kinds: Vec::new(),
        title: check.summary.to_string(),
    });
    policies.chain(checks).collect()
}

/// The headers of the built-in policy pack (a header that does not parse is left out; loading
/// the pack reports it as P004).
pub fn builtin_policy_metas() -> Vec<PolicyMeta> {
    crate::policy::BUILTIN_POLICIES
        .iter()
        .filter_map(|(_, text)| crate::policy::meta::parse(text).ok())
        .collect()
}

/// Where `docs/rules.md` is published: the file on the project's default branch, which GitHub
/// renders with its anchors. `explain` prints and SARIF `helpUri` links `<this>#<anchor>`.
pub const RULE_DOCS_URL: &str =
    "https://github.com/channelguard/channelguard/blob/main/docs/rules.md";

/// The address a person can open for a rule's documentation.
pub fn rule_url(id: &str) -> String {
    format!("{RULE_DOCS_URL}#{}", anchor(id))
}

/// A tag for the family of a built-in check (SARIF `properties.tags`).
pub fn check_family_tag(id: &str) -> &'static str {
    match id.chars().next() {
        Some('Y') => "yaml",
        Some('D') => "document-shape",
        Some('F') => "field-format",
        Some('S') => "schema",
        Some('R') => "references",
        Some('P') => "policy-runtime",
        Some('C') => "configuration",
        Some('W') => "waivers",
        _ => "other",
    }
}

/// The anchor of a rule in `docs/rules.md`: its id in lower case (`#mc002`, `#y001`).
pub fn anchor(id: &str) -> String {
    id.to_ascii_lowercase()
}

/// What a family of built-in checks is about, by id prefix.
fn check_family(id: &str) -> &'static str {
    match id.chars().next() {
        Some('Y') => "YAML loading (Y…)",
        Some('D') => "Document shape (D…)",
        Some('F') => "Field formats (F…)",
        Some('S') => "JSON Schema (S…)",
        Some('R') => "Identity and references (R…)",
        Some('P') => "Policy runtime (P…)",
        Some('C') => "Configuration (C…)",
        Some('W') => "Waivers (W…)",
        _ => "Other (X…)",
    }
}

/// Makes text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn setting_default(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

/// `docs/rules.md`: every policy of `policies` and every built-in check, each under a heading
/// with an explicit lower-case anchor (`docs/rules.md#mc002`, used by SARIF `helpUri`).
pub fn rules_markdown(policies: &[PolicyMeta]) -> String {
    let mut sorted: Vec<&PolicyMeta> = policies.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out = String::new();
    out.push_str(&format!(
        "<!-- Generated from the policy headers and the checks registry by `channelguard docs rules`.\n     Do not edit by hand; regenerate with: {REGENERATE_RULES_DOC} -->\n\n"
    ));
    out.push_str("# Rules\n\n");
    out.push_str(
        "channelguard reports two sorts of rules. **Channel policies** (`MC…`) are Rhai scripts in \
         `policies/` that encode Partner Center channel rules; their metadata comes from each \
         script's header (see [policy-api.md](policy-api.md)). **Built-in checks** are done by \
         channelguard itself: loading YAML, document shape, field formats, JSON Schema, \
         references and the policy runtime. Each rule's anchor is its id in lower case, e.g. \
         `rules.md#mc002`. A policy that reports more than one kind of violation gives each \
         further kind a sub-id, the policy id, a dot and a slug (`MC002.admin`): the sub-id \
         addresses that kind alone, the policy id the whole family.\n\n",
    );
    out.push_str("Run `channelguard explain <ID>` for the same text in a terminal, and `channelguard list` for the table.\n\n");
    out.push_str("| Id | Severity | Applies to | Title |\n|---|---|---|---|\n");
    for rule in catalog(policies) {
        let kinds = if rule.kinds.is_empty() {
            "any file".to_string()
        } else {
            rule.kinds.join(", ")
        };
        out.push_str(&format!(
            "| [{}](#{}) | {} | {} | {} |\n",
            rule.id,
            anchor(&rule.id),
            rule.severity_text(),
            kinds,
            cell(&rule.title)
        ));
    }
    out.push_str("\n## Channel policies\n");
    for meta in sorted {
        out.push_str(&format!(
            "\n<a id=\"{}\"></a>\n\n### {}: {}\n\n",
            anchor(&meta.id),
            meta.id,
            meta.title
        ));
        out.push_str(&format!("- **Severity:** {}\n", meta.severity));
        out.push_str(&format!(
            "- **Applies to:** {}\n",
            meta.kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if !meta.source.is_empty() {
            out.push_str(&format!("- **Source:** {}\n", meta.source));
        }
        if !meta.subrules.is_empty() {
            out.push_str(&format!(
                "\n**Sub-rules.** Each is reported under its own id, which a waiver, a \
                 `rules:` setting or a test case can name alone; `{}` names the whole family.\n\n",
                meta.id
            ));
            for sub in &meta.subrules {
                out.push_str(&format!(
                    "- <a id=\"{}\"></a>`{}` ({}): {}",
                    anchor(&sub.id),
                    sub.id,
                    sub.severity,
                    sub.title
                ));
                if !sub.remediation.is_empty() {
                    out.push_str(&format!(". *Fix:* {}", sub.remediation));
                }
                out.push('\n');
            }
        }
        out.push_str(&format!("\n**Rationale.** {}\n", meta.rationale));
        out.push_str(&format!("\n**Remediation.** {}\n", meta.remediation));
        if !meta.settings.is_empty() {
            out.push_str("\n**Settings** (override under `settings:` in `channelguard.yaml`)\n\n| Setting | Default | Description |\n|---|---|---|\n");
            for setting in &meta.settings {
                out.push_str(&format!(
                    "| `{}` | `{}` | {} |\n",
                    setting.name,
                    setting_default(&setting.default),
                    cell(&setting.description)
                ));
            }
        }
        if !meta.example.is_empty() {
            out.push_str(&format!(
                "\n**Example violation**\n\n```yaml\n{}```\n",
                example_yaml(meta)
            ));
        }
        if !meta.compliant.is_empty() {
            out.push_str(&format!(
                "\n**Use instead**\n\n```yaml\n{}```\n",
                compliant_yaml(meta)
            ));
        }
    }
    out.push_str("\n## Built-in checks\n");
    let mut family = "";
    for check in codes::ALL {
        let this = check_family(check.id);
        if this != family {
            out.push_str(&format!("\n### {this}\n"));
            family = this;
        }
        out.push_str(&format!(
            "\n<a id=\"{}\"></a>\n\n#### {}: {} (`{}`)\n\n- **Severity:** {}\n- **Fix:** {}\n",
            anchor(check.id),
            check.id,
            check.summary,
            check.name,
            severity_detail(check),
            check.help
        ));
    }
    out
}

/// A policy's `example:` as YAML. Header continuation lines are often written one column
/// deeper than the first line (`//! example: kind: X` then `//!   id: y`), so the lines after
/// the first lose their common indentation.
pub fn example_yaml(meta: &PolicyMeta) -> String {
    header_yaml(&meta.example)
}

/// A policy's `compliant:` version of its example, as YAML (see [`example_yaml`]).
pub fn compliant_yaml(meta: &PolicyMeta) -> String {
    header_yaml(&meta.compliant)
}

/// A YAML header value without the extra indentation of its continuation lines.
fn header_yaml(value: &str) -> String {
    let mut lines = value.trim_end().lines();
    let Some(first) = lines.next() else {
        return String::new();
    };
    let rest: Vec<&str> = lines.collect();
    let common = rest
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .min()
        .unwrap_or(0);
    let mut out = format!("{first}\n");
    for line in rest {
        out.push_str(line.get(common..).unwrap_or("").trim_end());
        out.push('\n');
    }
    out
}

/// Greedy word wrap to `width` columns, each line prefixed with `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > width {
            out.push_str(indent);
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(indent);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

const WIDTH: usize = 100;
const INDENT: &str = "  ";

/// The text `explain` prints for a policy, up to its example (the caller adds the diagnostic
/// the example produces, which needs a run of the engine). `file` is where the policy is;
/// `builtin` policies also get their `docs/rules.md` anchor. Everything from the policy file
/// is untrusted: the text is escaped line by line (`escape`); wrapping has already
/// turned line breaks inside header values into spaces.
pub fn explain_policy(meta: &PolicyMeta, file: &str, builtin: bool) -> String {
    escape_lines(&explain_policy_raw(meta, file, builtin))
}

/// `text` with each line escaped by [`escape_untrusted`] (line breaks kept).
pub fn escape_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        out.push_str(&escape_untrusted(body));
        out.push_str(end);
    }
    out
}

fn explain_policy_raw(meta: &PolicyMeta, file: &str, builtin: bool) -> String {
    let mut out = format!("{}: {}\n\n", meta.id, meta.title);
    out.push_str(&format!("{INDENT}severity    {}\n", meta.severity));
    out.push_str(&format!(
        "{INDENT}applies to  {}\n",
        meta.kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.push_str(&format!("{INDENT}policy      {file}\n"));
    let parent = crate::rule_id::parent(&meta.id);
    if parent != meta.id {
        out.push_str(&format!(
            "{INDENT}part of     {parent} (a setting or waiver on {parent} covers it too)\n"
        ));
    }
    if builtin {
        out.push_str(&format!("{INDENT}docs        {}\n", rule_url(&meta.id)));
    }
    if !meta.subrules.is_empty() {
        out.push_str(&format!(
            "\nsub-rules (each its own id to waive, re-grade or disable; {} names them all)\n",
            meta.id
        ));
        let width = meta.subrules.iter().map(|s| s.id.len()).max().unwrap_or(0);
        for sub in &meta.subrules {
            out.push_str(&format!(
                "{INDENT}{:width$}  {:7}  {}\n",
                sub.id,
                sub.severity.as_str(),
                sub.title
            ));
        }
    }
    out.push_str("\nrationale\n");
    out.push_str(&wrap(&meta.rationale, WIDTH, INDENT));
    if !meta.source.is_empty() {
        out.push_str(&wrap(&format!("source: {}", meta.source), WIDTH, INDENT));
    }
    out.push_str("\nremediation\n");
    out.push_str(&wrap(&meta.remediation, WIDTH, INDENT));
    if parent != meta.id {
        out.push_str(&format!(
            "\nsettings and example\n{INDENT}those of its policy: `channelguard explain {parent}`\n"
        ));
        return out;
    }
    out.push_str("\nsettings (override under `settings:` in channelguard.yaml)\n");
    if meta.settings.is_empty() {
        out.push_str(&format!("{INDENT}none\n"));
    }
    for setting in &meta.settings {
        out.push_str(&format!(
            "{INDENT}{} = {}\n",
            setting.name,
            setting_default(&setting.default)
        ));
        if !setting.description.is_empty() {
            out.push_str(&wrap(&setting.description, WIDTH, "      "));
        }
    }
    out.push_str("\nexample violation\n");
    if meta.example.is_empty() {
        out.push_str(&format!(
            "{INDENT}none given (add `example:` to the header)\n"
        ));
    } else {
        for line in example_yaml(meta).lines() {
            out.push_str(format!("{INDENT}{line}").trim_end());
            out.push('\n');
        }
    }
    out
}

/// The part of `explain` after the example's diagnostic: the compliant version of the example
/// ("use instead"), escaped like the rest.
pub fn explain_compliant(meta: &PolicyMeta) -> String {
    let mut out = String::from("\nuse instead (compliant)\n");
    if meta.compliant.is_empty() {
        out.push_str(&format!(
            "{INDENT}none given (add `compliant:` to the header)\n"
        ));
    } else {
        for line in compliant_yaml(meta).lines() {
            out.push_str(format!("{INDENT}{line}").trim_end());
            out.push('\n');
        }
    }
    escape_lines(&out)
}

/// The text `explain` prints for a built-in check.
pub fn explain_check(check: &BuiltinCheck) -> String {
    let mut out = format!("{}: {} (`{}`)\n\n", check.id, check.summary, check.name);
    // The value column stays aligned with the lines below when the detail wraps.
    let hanging = format!("{INDENT}{:12}", "");
    let detail = wrap(&severity_detail(check), WIDTH, &hanging);
    out.push_str(&format!("{INDENT}severity    {}", &detail[hanging.len()..]));
    out.push_str(&format!(
        "{INDENT}checked by  channelguard itself ({})\n",
        check_family(check.id)
    ));
    out.push_str(&format!("{INDENT}docs        {}\n", rule_url(check.id)));
    out.push_str("\nhow to fix it\n");
    out.push_str(&wrap(check.help, WIDTH, INDENT));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_an_explicit_lowercase_anchor() {
        let policies = builtin_policy_metas();
        let markdown = rules_markdown(&policies);
        for rule in catalog(&policies) {
            let tag = format!("<a id=\"{}\"></a>", rule.id.to_ascii_lowercase());
            assert_eq!(markdown.matches(&tag).count(), 1, "{}", rule.id);
        }
    }

    #[test]
    fn every_builtin_policy_header_parses() {
        assert_eq!(
            builtin_policy_metas().len(),
            crate::policy::BUILTIN_POLICIES.len()
        );
    }

    #[test]
    fn example_continuation_lines_lose_their_common_indentation() {
        let mut meta = builtin_policy_metas().remove(0);
        meta.example = "kind: Subscription\n id: x\n roles:\n   - a".to_string();
        assert_eq!(
            example_yaml(&meta),
            "kind: Subscription\nid: x\nroles:\n  - a\n"
        );
    }

    #[test]
    fn table_cells_escape_pipes() {
        assert_eq!(cell("a | b"), "a \\| b");
    }

    #[test]
    fn wrap_keeps_lines_within_the_width() {
        let text = "word ".repeat(50);
        let wrapped = wrap(&text, 30, "  ");
        assert!(wrapped
            .lines()
            .all(|l| l.len() <= 30 && l.starts_with("  ")));
        assert_eq!(wrapped.split_whitespace().count(), 50);
    }
}
