//! `--format json`: a versioned, documented JSON report (docs/output-formats.md). The serde types
//! here are the wire format; change them only with a new `version`.

use std::io::{self, Write};

use serde::Serialize;

use super::{line_cols, Counts, Report, Reporter};
use crate::finding::{DocumentRef, Origin, Severity, WaiverNote};
use crate::scope::SkipReason;
use crate::source::Location;
use crate::source::SourceMap;

/// Version of the JSON report format.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct JsonReport<'a> {
    version: u32,
    tool: Tool,
    as_of: String,
    summary: Summary,
    findings: Vec<JsonFinding<'a>>,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Summary {
    files: usize,
    documents: usize,
    policies: usize,
    #[serde(flatten)]
    counts: Counts,
    /// Paths the walk did not take (present only when there are some).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<JsonSkipped>,
    /// Findings each report filter left out: `paths`, `only`, `changed_since` (present only
    /// when a filter ran; a key only for the filters that ran).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    not_shown: std::collections::BTreeMap<&'static str, usize>,
}

#[derive(Serialize)]
struct JsonSkipped {
    path: String,
    /// `hidden`, `non_utf8_name` or `unreadable_directory`.
    reason: &'static str,
}

/// A place in a file, with both byte offsets and 1-based line/column.
#[derive(Serialize)]
struct JsonLocation {
    file: String,
    line: u32,
    column: u32,
    end_line: u32,
    end_column: u32,
    byte_start: u32,
    byte_end: u32,
}

#[derive(Serialize)]
struct JsonRelated<'a> {
    #[serde(flatten)]
    location: JsonLocation,
    message: &'a str,
    pointer: Option<&'a str>,
    document: Option<&'a DocumentRef>,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    code: &'a str,
    severity: Severity,
    origin: Origin,
    message: &'a str,
    help: Option<&'a str>,
    #[serde(flatten)]
    location: Option<JsonLocation>,
    /// What is wrong at the node (the text under it in the human format).
    label: Option<&'a str>,
    pointer: Option<&'a str>,
    document: Option<&'a DocumentRef>,
    related: Vec<JsonRelated<'a>>,
    waived: Option<&'a WaiverNote>,
}

fn location(sources: &SourceMap, location: Location) -> JsonLocation {
    let (start, end) = line_cols(sources, location);
    JsonLocation {
        file: sources.get(location.file).name.clone(),
        line: start.line,
        column: start.column,
        end_line: end.line,
        end_column: end.column,
        byte_start: location.span.start,
        byte_end: location.span.end,
    }
}

pub struct JsonReporter;

impl Reporter for JsonReporter {
    fn write(&self, report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
        let sources = report.sources();
        let stats = &report.outcome.stats;
        let json = JsonReport {
            version: FORMAT_VERSION,
            tool: Tool {
                name: "channelguard",
                version: env!("CARGO_PKG_VERSION"),
            },
            as_of: report.as_of.to_string(),
            summary: Summary {
                files: stats.files,
                documents: stats.documents,
                policies: stats.policies,
                counts: report.counts(),
                skipped: stats
                    .skipped
                    .iter()
                    .map(|s| JsonSkipped {
                        path: s.name.clone(),
                        reason: match s.reason {
                            SkipReason::Hidden => "hidden",
                            SkipReason::NonUtf8Name => "non_utf8_name",
                            SkipReason::UnreadableDirectory => "unreadable_directory",
                            SkipReason::Ignored => "ignored",
                            SkipReason::Excluded => "excluded",
                            SkipReason::NotIncluded => "not_included",
                            SkipReason::DefaultExcluded => "default_exclude",
                        },
                    })
                    .collect(),
                not_shown: stats
                    .not_shown
                    .iter()
                    .map(|(filter, hidden)| (filter.key(), *hidden))
                    .collect(),
            },
            findings: report
                .visible()
                .map(|f| JsonFinding {
                    code: &f.code,
                    severity: f.severity,
                    origin: f.origin,
                    message: &f.message,
                    help: f.help.as_deref(),
                    location: f.location.map(|l| location(sources, l)),
                    label: f.label.as_deref().filter(|_| f.location.is_some()),
                    pointer: f.pointer.as_deref(),
                    document: f.document.as_ref(),
                    related: f
                        .related
                        .iter()
                        .map(|r| JsonRelated {
                            location: location(sources, r.location),
                            message: &r.message,
                            pointer: r.pointer.as_deref(),
                            document: r.document.as_ref(),
                        })
                        .collect(),
                    waived: f.waived.as_ref(),
                })
                .collect(),
        };
        // Exact values; unsafe characters only as JSON escapes (escape.rs).
        crate::escape::to_writer_safe(&mut *out, &json)?;
        writeln!(out)
    }
}
