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
use crate::finding::{Finding, Origin, RelatedLabel, Severity};
use crate::source::Location;
use crate::source::SourceMap;

/// The OASIS schema URI written into `$schema`.
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// Key of GitHub code scanning's own line fingerprint (see [`line_hashes`]).
pub const LINE_HASH_KEY: &str = "primaryLocationLineHash";

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
    help: Help,
    help_uri: String,
    default_configuration: Configuration,
    properties: RuleProperties,
}

/// A rule's help: plain text, and Markdown for viewers that render it (GitHub code scanning
/// shows `markdown` under "Show more" on every alert).
#[derive(Serialize)]
struct Help {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
struct RuleProperties {
    /// `policy` for Rhai channel policies, `builtin` for loader, schema and reference checks.
    origin: &'static str,
    /// Shown and filterable in code scanning: the rule's origin and family or document kinds.
    tags: Vec<String>,
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
    crate::rules_doc::rule_url(id)
}

/// A rule's `help.markdown`: title, rationale, remediation, example violation (when there is
/// one) and the link to its documentation. Empty parts are left out.
pub fn help_markdown(
    title: &str,
    rationale: &str,
    remediation: &str,
    example: &str,
    id: &str,
) -> String {
    let mut out = format!("**{}**\n\n", title.trim());
    if !rationale.trim().is_empty() {
        out.push_str(&format!("{}\n\n", rationale.trim()));
    }
    if !remediation.trim().is_empty() {
        out.push_str(&format!("**How to fix:** {}\n\n", remediation.trim()));
    }
    if !example.trim().is_empty() {
        // A fence longer than any run of backticks in the example, so it cannot be closed early.
        let longest = example.split(|c| c != '`').map(str::len).max().unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        out.push_str(&format!(
            "**Example violation:**\n\n{fence}yaml\n{}\n{fence}\n\n",
            example.trim_end()
        ));
    }
    out.push_str(&format!("[{id} in the rule reference]({})\n", help_uri(id)));
    out
}

/// GitHub code scanning's `primaryLocationLineHash` of every line of `text` (index 0 is line
/// 1), as github/codeql-action computes it (src/fingerprints.ts) when a SARIF upload has none:
/// a rolling hash (base 37, wrapping 64-bit) over the next 100 UTF-16 code units from the start
/// of each line, spaces and tabs skipped, `\r\n` and `\r` read as `\n`, the end of the file as
/// code unit 65535 followed by zeros; each hash in lower-case hex is suffixed with `:n`, its
/// n-th occurrence in the file. Computing it here means the fingerprint stays right whichever
/// way the file is uploaded (with or without the action).
pub fn line_hashes(text: &str) -> Vec<String> {
    const BLOCK: usize = 100;
    const MOD: u64 = 37;
    const EOF: u16 = 65535;
    let first_mod = (0..BLOCK).fold(1u64, |acc, _| acc.wrapping_mul(MOD));
    let mut window = [0u64; BLOCK];
    let mut line_at: [Option<usize>; BLOCK] = [None; BLOCK];
    let mut hash = 0u64;
    let mut index = 0usize;
    let mut line = 0usize;
    let mut line_start = true;
    let mut prev_cr = false;
    let mut counts: HashMap<u64, usize> = HashMap::new();
    let mut out: Vec<String> = Vec::new();
    let mut emit = |hash: u64, line: usize, out: &mut Vec<String>| {
        let count = counts.entry(hash).or_insert(0);
        *count += 1;
        debug_assert_eq!(out.len() + 1, line);
        out.push(format!("{hash:x}:{count}"));
    };
    let update = |hash: &mut u64, index: &mut usize, window: &mut [u64; BLOCK], c: u64| {
        let begin = window[*index];
        window[*index] = c;
        *hash = MOD
            .wrapping_mul(*hash)
            .wrapping_add(c)
            .wrapping_sub(first_mod.wrapping_mul(begin));
        *index = (*index + 1) % BLOCK;
    };
    for unit in text.encode_utf16().chain(std::iter::once(EOF)) {
        let mut current = unit;
        if current == u16::from(b' ')
            || current == u16::from(b'\t')
            || (prev_cr && current == u16::from(b'\n'))
        {
            prev_cr = false;
            continue;
        }
        if current == u16::from(b'\r') {
            current = u16::from(b'\n');
            prev_cr = true;
        } else {
            prev_cr = false;
        }
        if let Some(at) = line_at[index].take() {
            emit(hash, at, &mut out);
        }
        if line_start {
            line_start = false;
            line += 1;
            line_at[index] = Some(line);
        }
        if current == u16::from(b'\n') {
            line_start = true;
        }
        update(&mut hash, &mut index, &mut window, u64::from(current));
    }
    for _ in 0..BLOCK {
        if let Some(at) = line_at[index].take() {
            emit(hash, at, &mut out);
        }
        update(&mut hash, &mut index, &mut window, 0);
    }
    out
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
    // `defaultConfiguration.level` holds one level: the cases reported at another one are
    // named in the description (each result carries its own `level`).
    let cases: Vec<String> = check
        .other_severities()
        .iter()
        .map(|c| format!("Reported as {} for {}.", level(c.severity), c.when))
        .collect();
    let full = if cases.is_empty() {
        check.summary.to_string()
    } else {
        format!("{}. {}", check.summary, cases.join(" "))
    };
    Rule {
        id: check.id.to_string(),
        name: check.name.to_string(),
        short_description: Text {
            text: check.summary.to_string(),
        },
        full_description: Text { text: full },
        help: Help {
            text: check.help.to_string(),
            markdown: help_markdown(check.summary, &cases.join(" "), check.help, "", check.id),
        },
        help_uri: help_uri(check.id),
        default_configuration: Configuration {
            level: level(check.severity),
        },
        properties: RuleProperties {
            origin: "builtin",
            tags: vec![
                "builtin".to_string(),
                crate::rules_doc::check_family_tag(check.id).to_string(),
            ],
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
        help: Help {
            text: meta.remediation.clone(),
            markdown: help_markdown(
                &meta.title,
                &meta.rationale,
                &meta.remediation,
                &crate::rules_doc::example_yaml(meta),
                &meta.id,
            ),
        },
        help_uri: help_uri(&meta.id),
        default_configuration: Configuration {
            level: level(meta.severity),
        },
        properties: RuleProperties {
            origin: "policy",
            tags: std::iter::once("channel-policy".to_string())
                .chain(meta.kinds.iter().map(|k| k.as_str().to_ascii_lowercase()))
                .collect(),
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

/// Rules: the run's policies and their sub-rules by id, then every built-in check (a policy replacing a built-in id
/// wins). Also returns the index of each id.
fn rules(report: &Report<'_>) -> (Vec<Rule>, HashMap<String, usize>) {
    // One reportingDescriptor per id a finding can carry: each policy, then its sub-rules.
    let mut policies: Vec<_> = report
        .outcome
        .policies
        .iter()
        .flat_map(|p| p.family())
        .collect();
    policies.sort_by(|a, b| a.id.cmp(&b.id));
    let mut rules: Vec<Rule> = policies.iter().map(policy_rule).collect();
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

/// Line hashes of the files results point into, computed once per file.
type LineHashCache = HashMap<crate::source::FileId, Vec<String>>;

fn result<'a>(
    finding: &'a Finding,
    sources: &SourceMap,
    rule_index: &HashMap<String, usize>,
    line_hashes_of: &mut LineHashCache,
) -> SarifResult<'a> {
    let mut fingerprints = BTreeMap::new();
    fingerprints.insert(FINGERPRINT_KEY, fingerprint(finding, sources));
    // Only for files code scanning can read (inside the repository), as the action does.
    if let Some(location) = finding.location {
        let file = sources.get(location.file);
        if artifact(&file.name).uri_base_id.is_some() {
            let hashes = line_hashes_of
                .entry(location.file)
                .or_insert_with(|| line_hashes(&file.text));
            let (start, _) = line_cols(sources, location);
            if let Some(hash) = hashes.get(start.line as usize - 1) {
                fingerprints.insert(LINE_HASH_KEY, hash.clone());
            }
        }
    }
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
                // The label: what is wrong at this node.
                message: finding
                    .label
                    .clone()
                    .filter(|t| !t.is_empty())
                    .map(|text| Text { text }),
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
            document_kind: finding.document.as_ref().map(|d| d.kind.as_str()),
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
        let mut line_hashes_of = LineHashCache::new();
        let results = report
            .outcome
            .findings
            .iter()
            .map(|f| result(f, sources, &rule_index, &mut line_hashes_of))
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
        // Exact values; unsafe characters only as JSON escapes (escape.rs).
        crate::escape::to_writer_safe(&mut *out, &log)?;
        writeln!(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules_doc::RULE_DOCS_URL;

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(path_to_uri("customers/a b.yaml"), "customers/a%20b.yaml");
        assert_eq!(path_to_uri("x/100%#?.yml"), "x/100%25%23%3F.yml");
        assert_eq!(path_to_uri("kunder/å.yaml"), "kunder/%C3%A5.yaml");
    }

    /// The expected values are those of github/codeql-action's own test of the algorithm
    /// (src/fingerprints.test.ts), so that our hashes match what code scanning computes.
    #[test]
    fn line_hashes_match_code_scanning() {
        assert_eq!(line_hashes(""), ["c129715d7a2bc9a3:1"]);
        assert_eq!(
            line_hashes(" a\nb\n  \t\tc\n d"),
            [
                "271789c17abda88f:1",
                "54703d4cd895b18:1",
                "180aee12dab6264:1",
                "a23a3dc5e078b07b:1"
            ]
        );
        let terminated = [
            "e9496ae3ebfced30:1",
            "fb7c023a8b9ccb3f:1",
            "ce8ba1a563dcdaca:1",
            "e20e36e16fcb0cc8:1",
            "b3edc88f2938467e:1",
            "c8e28b0b4002a3a0:1",
            "c129715d7a2bc9a3:1",
        ];
        for text in [
            " hello; \t\nworld!!!\n\n\n  \t\tGreetings\n End\n",
            " hello; \t\nworld!!!\r\r\r  \t\tGreetings\r End\r",
            " hello; \t\r\nworld!!!\r\n\r\n\r\n  \t\tGreetings\r\n End\r\n",
            " hello; \t\nworld!!!\r\n\n\r  \t\tGreetings\r End\r\n",
        ] {
            assert_eq!(line_hashes(text), terminated, "{text:?}");
        }
        let repeated = line_hashes(&"Lorem ipsum dolor sit amet.\n".repeat(10));
        assert_eq!(repeated[0], "a7f2ff13bc495cf2:1");
        assert_eq!(repeated[5], "a7f2ff13bc495cf2:6");
        assert_eq!(repeated[6], "a7f2ff1481e87703:1");
        assert_eq!(repeated[9], "cc97dc7b1d7d8f7b:1");
        assert_eq!(repeated.len(), 11);
    }

    #[test]
    fn help_markdown_has_every_part_and_a_safe_fence() {
        let md = help_markdown("Title", "Why.", "Do this.", "a: ```x```", "MC002");
        assert!(md.starts_with("**Title**\n\nWhy.\n\n**How to fix:** Do this.\n\n"));
        assert!(md.contains("\n````yaml\na: ```x```\n````\n"), "{md}");
        assert!(md.ends_with(&format!("({RULE_DOCS_URL}#mc002)\n")));
        let bare = help_markdown("Title", "", "Fix.", "", "Y001");
        assert!(!bare.contains("Example"), "{bare}");
    }

    #[test]
    fn levels_and_help_uris() {
        assert_eq!(level(Severity::Info), "note");
        assert_eq!(help_uri("MC002"), format!("{RULE_DOCS_URL}#mc002"));
        assert_eq!(
            slug("license-based subscription, managed"),
            "license-based-subscription-managed"
        );
    }
}
