//! `--format human`: miette's graphical report of each finding (code, severity, message, the
//! snippet with a label on the node, help, related labels), then a one-line summary.
//!
//! Output is deterministic: a fixed width, no terminal queries, colour only when asked for.
//! Control characters in the data are shown escaped, so a file cannot drive the terminal.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode,
    SourceSpan,
};

use super::{Report, Reporter};
use crate::discover::SkipReason;
use crate::finding::{Finding, Location, Severity};
use crate::source::SourceMap;

/// Renders findings for a terminal.
pub struct HumanReporter {
    pub color: bool,
    pub width: usize,
    /// Print only the summary line.
    pub quiet: bool,
    /// Print the elapsed time in the summary (off in tests, for stable output).
    pub timing: bool,
}

impl Default for HumanReporter {
    fn default() -> HumanReporter {
        HumanReporter {
            color: false,
            width: 100,
            quiet: false,
            timing: true,
        }
    }
}

/// Source text safe to print: ASCII control characters other than tab and line breaks become
/// `?` (one byte for one byte, so spans stay valid).
fn printable(text: &Arc<str>) -> Arc<str> {
    if !text
        .bytes()
        .any(|b| (b < 0x20 && b != b'\n' && b != b'\r' && b != b'\t') || b == 0x7f)
    {
        return Arc::clone(text);
    }
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_control() && !matches!(c, '\n' | '\r' | '\t') {
                '?'
            } else {
                c
            }
        })
        .collect();
    Arc::from(cleaned)
}

/// A finding (or one of its related labels in another file) as a miette diagnostic.
struct Rendered {
    code: Option<String>,
    severity: miette::Severity,
    message: String,
    help: Option<String>,
    source: Option<NamedSource<Arc<str>>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Rendered>,
}

impl fmt::Debug for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rendered {}

impl Diagnostic for Rendered {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.code
            .as_ref()
            .map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().cloned()))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|r| r as &dyn Diagnostic)))
    }
}

fn miette_severity(severity: Severity) -> miette::Severity {
    match severity {
        Severity::Error => miette::Severity::Error,
        Severity::Warning => miette::Severity::Warning,
        Severity::Info => miette::Severity::Advice,
    }
}

fn span(location: Location, text: &str) -> SourceSpan {
    let start = (location.span.start as usize).min(text.len());
    let end = (location.span.end as usize).clamp(start, text.len());
    SourceSpan::new(start.into(), end - start)
}

fn named(sources: &SourceMap, location: Location) -> NamedSource<Arc<str>> {
    let file = sources.get(location.file);
    NamedSource::new(&file.name, printable(&file.text))
}

fn render(finding: &Finding, sources: &SourceMap) -> Rendered {
    let mut labels = Vec::new();
    let mut related = Vec::new();
    let source = finding.location.map(|l| named(sources, l));
    if let Some(location) = finding.location {
        let text = &sources.get(location.file).text;
        let label = finding.label.clone().unwrap_or_default();
        labels.push(LabeledSpan::new_primary_with_span(
            Some(label),
            span(location, text),
        ));
        for r in &finding.related {
            if r.location.file == location.file {
                labels.push(LabeledSpan::new_with_span(
                    Some(r.message.clone()),
                    span(r.location, text),
                ));
            } else {
                let other = &sources.get(r.location.file).text;
                related.push(Rendered {
                    code: None,
                    severity: miette::Severity::Advice,
                    message: r.message.clone(),
                    help: None,
                    source: Some(named(sources, r.location)),
                    labels: vec![LabeledSpan::new_primary_with_span(
                        Some(String::new()),
                        span(r.location, other),
                    )],
                    related: Vec::new(),
                });
            }
        }
    }
    let mut message = finding.message.clone();
    if let Some(note) = &finding.waived {
        message = format!("{message} (waived: {})", note.reason);
    }
    Rendered {
        code: Some(finding.code.to_string()),
        severity: miette_severity(finding.severity),
        message: super::escape_untrusted(&message),
        help: finding.help.as_deref().map(super::escape_untrusted),
        source,
        labels,
        related,
    }
}

/// The summary line: "checked 21 files (75 documents) with 25 policies: 9 errors, 0 warnings, 2 infos".
pub fn summary_line(report: &Report<'_>, elapsed: Option<Duration>) -> String {
    let stats = &report.outcome.stats;
    let counts = report.counts();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut line = format!(
        "checked {} ({}) with {}: {}, {}, {}",
        plural(stats.files, "file", "files"),
        plural(stats.documents, "document", "documents"),
        plural(stats.policies, "policy", "policies"),
        plural(counts.errors, "error", "errors"),
        plural(counts.warnings, "warning", "warnings"),
        plural(counts.infos, "info", "infos"),
    );
    if counts.waived > 0 {
        line.push_str(&format!(", {} waived", counts.waived));
    }
    let skipped: Vec<String> = stats
        .skipped_counts()
        .into_iter()
        .map(|(reason, n)| match reason {
            SkipReason::Hidden => plural(n, "hidden file", "hidden files"),
            SkipReason::NonUtf8Name => plural(n, "non-UTF-8 name", "non-UTF-8 names"),
            SkipReason::UnreadableDirectory => {
                plural(n, "unreadable directory", "unreadable directories")
            }
        })
        .collect();
    if !skipped.is_empty() {
        line.push_str(&format!("; skipped {}", skipped.join(", ")));
    }
    if let Some(elapsed) = elapsed {
        line.push_str(&format!(" in {:.2}s", elapsed.as_secs_f64()));
    }
    for (filter, hidden) in &stats.not_shown {
        line.push_str(&format!(
            "; {} {} not shown",
            plural(*hidden, "finding", "findings"),
            filter.describe()
        ));
    }
    line
}

impl HumanReporter {
    fn handler(&self) -> GraphicalReportHandler {
        let theme = if self.color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        GraphicalReportHandler::new_themed(theme)
            .with_width(self.width)
            .with_links(false)
            .with_context_lines(1)
    }

    /// Renders one finding to a string (used by `test` and `explain` too).
    pub fn render_finding(&self, finding: &Finding, sources: &SourceMap) -> String {
        let mut out = String::new();
        let rendered = render(finding, sources);
        if self.handler().render_report(&mut out, &rendered).is_err() {
            out = format!("{}: {}\n", finding.code, finding.message);
        }
        out
    }
}

impl Reporter for HumanReporter {
    fn write(&self, report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
        if !self.quiet {
            for finding in report.visible() {
                let text = self.render_finding(finding, report.sources());
                out.write_all(Cow::from(text).as_bytes())?;
                writeln!(out)?;
            }
        }
        let elapsed = self.timing.then_some(report.outcome.stats.elapsed);
        writeln!(out, "{}", summary_line(report, elapsed))
    }
}
