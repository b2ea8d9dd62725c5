//! `--format sarif`: a SARIF 2.1.0 log for code scanning (GitHub, Azure DevOps, IDEs).
//!
//! The SARIF types are plain serde structs covering only the properties channelguard fills:
//! the SARIF crates on crates.io model the whole standard with builders and pull in a larger
//! dependency tree for a format we only write. The test suite validates the output against the
//! official OASIS JSON Schema (tests/data/sarif-schema-2.1.0.json).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use serde::Serialize;

use super::{line_cols, Report, Reporter};
use crate::codes;
use crate::finding::{Finding, Location, Origin, RelatedLabel, Severity};
use crate::source::SourceMap;

/// The OASIS schema URI written into `$schema`.
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// Where each rule is documented: `<DOCS_BASE>#<lowercase id>` (docs/rules.md).
pub const RULE_DOCS_BASE: &str =
    "https://github.com/channelguard/channelguard/blob/main/docs/rules.md";

/// Key of the stable fingerprint in `partialFingerprints` (versioned: change the key if the
/// recipe changes, so that code scanning does not match old and new fingerprints).
pub const FINGERPRINT_KEY: &str = "channelguard/v1";

/// The base URI id result locations are relative to (the repository root).
pub const SRCROOT: &str = "%SRCROOT%";

pub struct SarifReporter;

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool,
    invocations: Vec<Invocation>,
    column_kind: &'static str,
    results: Vec<SarifResult<'a>>,
    properties: RunProperties,
}

#[derive(Serialize)]
struct RunProperties {
    #[serde(rename = "asOf")]
    as_of: String,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    semantic_version: &'static str,
    information_uri: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: String,
    name: String,
    short_description: Text,
    full_description: Text,
    help: Text,
    help_uri: String,
    default_configuration: Configuration,
    properties: RuleProperties,
}

#[derive(Serialize)]
struct RuleProperties {
    /// `policy` for Rhai channel policies, `builtin` for loader, schema and reference checks.
    origin: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kinds: Vec<&'static str>,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    /// False when the check was incomplete (a policy, schema or input could not be used).
    execution_successful: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_index: Option<usize>,
    level: &'static str,
    message: Text,
    locations: Vec<SarifLocation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_locations: Vec<SarifLocation>,
    partial_fingerprints: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressions: Vec<Suppression<'a>>,
    properties: ResultProperties<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultProperties<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    document_kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pointer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<&'a str>,
    /// `tool` when the finding means the check was incomplete.
    origin: Origin,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Suppression<'a> {
    kind: &'static str,
    status: &'static str,
    justification: &'a str,
    properties: SuppressionProperties<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SuppressionProperties<'a> {
    approved_by: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifLocation {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<usize>,
    physical_location: PhysicalLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Text>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    /// Only for files inside the repository; built-in policies and schemas have no base.
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
    start_column: u32,
    end_line: u32,
    end_column: u32,
    byte_offset: u32,
    byte_length: u32,
}

/// SARIF's name for a severity.
pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// The documentation address of a rule.
pub fn help_uri(id: &str) -> String {
    format!("{RULE_DOCS_BASE}#{}", id.to_ascii_lowercase())
}

/// The stable identity of a finding for code scanning: rule, document kind and id and pointer,
/// never a line number (so that editing lines above a finding does not make it "new"). A
/// finding outside any document falls back to its file and message.
pub fn fingerprint(finding: &Finding, sources: &SourceMap) -> String {
    match &finding.document {
        Some(document) => format!(
            "{}:{}:{}:{}",
            finding.code,
            document.kind,
            document.id,
            finding.pointer.as_deref().unwrap_or("")
        ),
        None => format!(
            "{}:file:{}:{}",
            finding.code,
            finding
                .location
                .map_or("", |l| sources.get(l.file).name.as_str()),
            finding.message
        ),
    }
}

/// Percent-encodes a relative path into a URI reference: unreserved characters and `/` stay,
/// everything else (spaces, `%`, `#`, `?`, non-ASCII bytes) is encoded.
pub fn path_to_uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn builtin_rule(check: &codes::BuiltinCheck) -> Rule {
    Rule {
        id: check.id.to_string(),
        name: check.name.to_string(),
        short_description: Text {
            text: check.summary.to_string(),
        },
        full_description: Text {
            text: check.summary.to_string(),
        },
        help: Text {
            text: check.help.to_string(),
        },
        help_uri: help_uri(check.id),
        default_configuration: Configuration {
            level: level(check.severity),
        },
        properties: RuleProperties {
            origin: "builtin",
            source: None,
            kinds: Vec::new(),
        },
    }
}

fn policy_rule(meta: &crate::policy::PolicyMeta) -> Rule {
    Rule {
        id: meta.id.clone(),
        name: slug(&meta.title),
        short_description: Text {
            text: meta.title.clone(),
        },
        full_description: Text {
            text: meta.rationale.clone(),
        },
        help: Text {
            text: meta.remediation.clone(),
        },
        help_uri: help_uri(&meta.id),
        default_configuration: Configuration {
            level: level(meta.severity),
        },
        properties: RuleProperties {
            origin: "policy",
            source: (!meta.source.is_empty()).then(|| meta.source.clone()),
            kinds: meta.kinds.iter().map(|k| k.as_str()).collect(),
        },
    }
}

/// A rule name from a policy title: lower-case words joined by `-`.
fn slug(title: &str) -> String {
    title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

/// Rules: the run's policies by id, then every built-in check (a policy replacing a built-in id
/// wins). Also returns the index of each id.
fn rules(report: &Report<'_>) -> (Vec<Rule>, HashMap<String, usize>) {
    let mut policies: Vec<_> = report.outcome.policies.iter().collect();
    policies.sort_by(|a, b| a.id.cmp(&b.id));
    let mut rules: Vec<Rule> = policies.into_iter().map(policy_rule).collect();
    for check in codes::ALL {
        if !rules.iter().any(|r| r.id == check.id) {
            rules.push(builtin_rule(check));
        }
    }
    let index = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.clone(), i))
        .collect();
    (rules, index)
}

/// Files inside the repository are relative to `%SRCROOT%`; an absolute path (a policy
/// directory outside the root) becomes a `file:` URI, and the built-in policies and schemas
/// (`<builtin>/...`, inside the binary) get no base.
fn artifact(name: &str) -> ArtifactLocation {
    if name.starts_with('/') {
        ArtifactLocation {
            uri: format!("file://{}", path_to_uri(name)),
            uri_base_id: None,
        }
    } else {
        ArtifactLocation {
            uri: path_to_uri(name),
            uri_base_id: (!name.starts_with('<')).then_some(SRCROOT),
        }
    }
}

fn physical(sources: &SourceMap, location: Location) -> PhysicalLocation {
    let file = sources.get(location.file);
    let (start, end) = line_cols(sources, location);
    PhysicalLocation {
        artifact_location: artifact(&file.name),
        region: Region {
            start_line: start.line,
            start_column: start.column,
            end_line: end.line,
            end_column: end.column,
            byte_offset: location.span.start,
            byte_length: location.span.end - location.span.start,
        },
    }
}

fn related(sources: &SourceMap, index: usize, label: &RelatedLabel) -> SarifLocation {
    SarifLocation {
        id: Some(index),
        physical_location: physical(sources, label.location),
        message: Some(Text {
            text: label.message.clone(),
        }),
    }
}

fn result<'a>(
    finding: &'a Finding,
    sources: &SourceMap,
    rule_index: &HashMap<String, usize>,
) -> SarifResult<'a> {
    let mut fingerprints = BTreeMap::new();
    fingerprints.insert(FINGERPRINT_KEY, fingerprint(finding, sources));
    SarifResult {
        rule_id: &finding.code,
        rule_index: rule_index.get(&*finding.code).copied(),
        level: level(finding.severity),
        message: Text {
            text: finding.message.clone(),
        },
        locations: finding
            .location
            .map(|l| SarifLocation {
                id: None,
                physical_location: physical(sources, l),
                message: None,
            })
            .into_iter()
            .collect(),
        related_locations: finding
            .related
            .iter()
            .enumerate()
            .map(|(i, r)| related(sources, i, r))
            .collect(),
        partial_fingerprints: fingerprints,
        suppressions: finding
            .waived
            .iter()
            .map(|note| Suppression {
                kind: "external",
                status: "accepted",
                justification: &note.reason,
                properties: SuppressionProperties {
                    approved_by: &note.approved_by,
                    expires: note.expires.as_deref(),
                },
            })
            .collect(),
        properties: ResultProperties {
            document_kind: finding.document.as_ref().map(|d| &*d.kind),
            document_id: finding.document.as_ref().map(|d| &*d.id),
            pointer: finding.pointer.as_deref(),
            help: finding.help.as_deref(),
            origin: finding.origin,
        },
    }
}

impl Reporter for SarifReporter {
    fn write(&self, report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
        let sources = report.sources();
        let (rules, rule_index) = rules(report);
        // Waived findings are always listed: SARIF viewers show them as suppressed.
        let results = report
            .outcome
            .findings
            .iter()
            .map(|f| result(f, sources, &rule_index))
            .collect();
        let log = Log {
            schema: SCHEMA_URI,
            version: "2.1.0",
            runs: vec![Run {
                tool: Tool {
                    driver: Driver {
                        name: "channelguard",
                        version: env!("CARGO_PKG_VERSION"),
                        semantic_version: env!("CARGO_PKG_VERSION"),
                        information_uri: "https://github.com/channelguard/channelguard",
                        rules,
                    },
                },
                invocations: vec![Invocation {
                    execution_successful: report.counts().tool_errors == 0,
                }],
                column_kind: "unicodeCodePoints",
                results,
                properties: RunProperties {
                    as_of: report.as_of.to_string(),
                },
            }],
        };
        // Exact values; unsafe characters only as JSON escapes (report/escape.rs).
        super::escape::to_writer_safe(&mut *out, &log)?;
        writeln!(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(path_to_uri("customers/a b.yaml"), "customers/a%20b.yaml");
        assert_eq!(path_to_uri("x/100%#?.yml"), "x/100%25%23%3F.yml");
        assert_eq!(path_to_uri("kunder/å.yaml"), "kunder/%C3%A5.yaml");
    }

    #[test]
    fn levels_and_help_uris() {
        assert_eq!(level(Severity::Info), "note");
        assert_eq!(help_uri("MC002"), format!("{RULE_DOCS_BASE}#mc002"));
        assert_eq!(
            slug("license-based subscription, managed"),
            "license-based-subscription-managed"
        );
    }
}
