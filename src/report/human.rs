//! `--format human`: miette's graphical report of each finding (code, severity, message, the
//! snippet with a label on the node, help, related labels), then a one-line summary.
//!
//! Output is deterministic: a fixed width, no terminal queries, colour only when asked for.
//! Every string from the inputs (file names, messages, labels, snippet lines) goes through
//! `escape`, so a file cannot drive the terminal or a CI runner.
//!
//! Linear in the findings: miette is never given a whole file (its `SourceCode` for `str`
//! re-scans the text from the start for every label). It gets an [`Excerpt`]: the label
//! lines and one line of context, each clipped to a [`WINDOW`] around its label, with the true
//! line numbers and column; the file's line index (`source.rs`) finds the lines.

use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError,
    MietteSpanContents, SourceCode, SourceSpan, SpanContents,
};

use super::{Report, Reporter};
use crate::escape::{escape_snippet, escape_untrusted};
use crate::finding::{Finding, Severity};
use crate::scope::SkipReason;
use crate::source::ByteSpan;
use crate::source::{FileId, SourceFile, SourceMap};

/// Longest part of a source line shown, in bytes; a longer line is clipped around its label,
/// with `…` on each clipped side. This keeps the work per finding constant however long the
/// line (a 10 MiB one-line file), and miette's columns small.
const WINDOW: usize = 120;
/// Bytes shown before a label's start on a clipped line.
const LEAD: usize = 40;
/// Labels in the same file starting at most this many lines after the previous one share its
/// chunk of the excerpt (miette still draws separate snippets when they are more than two
/// lines apart); farther ones get a chunk of their own.
const NEAR_LINES: u32 = 8;
/// A label over more lines than this (or over a clipped line) is drawn on its first line only.
const MAX_LABEL_LINES: u32 = 8;

/// Findings rendered by one task; 16 batches are rendered before they are written, which bounds
/// the memory held for output.
const RENDER_BATCH: usize = 256;

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

/// A finding as a miette diagnostic.
struct Rendered {
    code: Option<String>,
    severity: miette::Severity,
    message: String,
    help: Option<String>,
    source: Option<Excerpt>,
    labels: Vec<LabeledSpan>,
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
}

fn miette_severity(severity: Severity) -> miette::Severity {
    match severity {
        Severity::Error => miette::Severity::Error,
        Severity::Warning => miette::Severity::Warning,
        Severity::Info => miette::Severity::Advice,
    }
}

/// A label to draw: where (in the original text) and what it says.
struct Piece {
    span: ByteSpan,
    text: String,
    primary: bool,
}

/// A label cut to what a snippet shows: the span clamped to the text and to char boundaries,
/// and cut to its first line when it covers more than [`MAX_LABEL_LINES`] lines or a line
/// longer than [`WINDOW`]. `line` and `last` are its first and last 1-based lines.
#[derive(Clone, Copy)]
struct Placed {
    start: usize,
    end: usize,
    line: u32,
    last: u32,
}

fn place(file: &SourceFile, span: ByteSpan) -> Placed {
    let text = &*file.text;
    let floor = |mut at: usize| {
        at = at.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    let start = floor(span.start as usize);
    let mut end = floor(span.end as usize).max(start);
    let line = file.line_col(start as u32).line;
    let mut last = if end > start {
        file.line_col(end as u32 - 1).line
    } else {
        line
    };
    let long = |l: u32| file.line_text(l).len() > WINDOW;
    if last > line && (last - line >= MAX_LABEL_LINES || (line..=last).any(long)) {
        end = start.max(file.line_start(line) + file.line_text(line).len());
        last = line;
    }
    Placed {
        start,
        end,
        line,
        last,
    }
}

/// The bytes `[start, end)` of a line (offsets from the line's start) that a snippet shows:
/// the whole line when it is at most [`WINDOW`] bytes, else a window around `anchor`.
fn window(line: &str, anchor: usize) -> (usize, usize) {
    if line.len() <= WINDOW {
        return (0, line.len());
    }
    let anchor = anchor.min(line.len());
    let mut start = anchor
        .saturating_sub(LEAD)
        .min(line.len().saturating_sub(WINDOW));
    while !line.is_char_boundary(start) {
        start += 1;
    }
    let mut end = (start + WINDOW).min(line.len());
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    (start, end)
}

/// One line of a chunk: which part of the original line it shows and where it starts.
struct ExcerptLine {
    /// Byte offset of the original line in the file.
    origin: usize,
    /// Shown part of the original line (offsets from `origin`).
    shown: (usize, usize),
    /// Length of the original line without its line break.
    length: usize,
    /// Byte offset of this line in the excerpt text.
    at: usize,
    /// Bytes of the leading `…` (0 or 3).
    prefix: usize,
    /// Bytes of what follows the shown part: the trailing `…` and the line break.
    clipped: usize,
}

/// A run of lines of the excerpt that miette reads as if it were the file.
struct Chunk {
    /// Where the chunk is in the excerpt text.
    start: usize,
    end: usize,
    /// 0-based number of its first line in the original file.
    first_line: usize,
    /// The (escaped) name of the file the lines are from.
    name: Arc<str>,
}

/// What miette renders for a diagnostic: for each group of nearby labels a [`Chunk`] of their
/// lines and one line of context, each line clipped to a window and escaped, instead of the
/// whole file. Chunks may come from several files (the finding's own, then the files of its
/// related labels), so every label is drawn inside the one finding. Line numbers and the
/// `file:line:column` of each snippet header are the true ones of the original file (see
/// `read_span`).
#[derive(Default)]
struct Excerpt {
    text: String,
    chunks: Vec<Chunk>,
    /// Excerpt offset of each label's start, with its true 0-based line and column.
    starts: Vec<(usize, usize, usize)>,
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        // Reads stay inside one chunk: a span across two (miette trying to merge snippets
        // whose true lines are close) is refused, so each is shown on its own.
        let from = span.offset();
        let to = from + span.len();
        let chunk = self
            .chunks
            .iter()
            .find(|c| c.start <= from && to <= c.end)
            .ok_or(MietteError::OutOfBounds)?;
        let local = SourceSpan::new((from - chunk.start).into(), span.len());
        let inner = self.text[chunk.start..chunk.end].read_span(
            &local,
            context_lines_before,
            context_lines_after,
        )?;
        let mut line = inner.line() + chunk.first_line;
        let mut column = inner.column();
        if context_lines_before == 0 {
            if let Some(&(_, l, c)) = self.starts.iter().find(|s| s.0 == from) {
                line = l;
                column = c;
            }
        }
        let global = SourceSpan::new(
            (inner.span().offset() + chunk.start).into(),
            inner.span().len(),
        );
        Ok(Box::new(MietteSpanContents::new_named(
            chunk.name.to_string(),
            inner.data(),
            global,
            line,
            column,
            inner.line_count(),
        )))
    }
}

impl Excerpt {
    /// Adds a chunk for `pieces` (placed in `file`, whose escaped name is `name`; the first
    /// anchors the window of its line) and returns their labels in excerpt offsets.
    fn add(
        &mut self,
        file: &SourceFile,
        name: &Arc<str>,
        pieces: &[(&Piece, Placed)],
    ) -> Vec<LabeledSpan> {
        let low = pieces.iter().map(|(_, p)| p.line).min().unwrap_or(1);
        let high = pieces.iter().map(|(_, p)| p.last).max().unwrap_or(1);
        let mut last_line = file.line_count();
        if last_line > 1 && file.text.ends_with('\n') {
            last_line -= 1;
        }
        let first = low.saturating_sub(1).max(1);
        let end = (high + 1).min(last_line).max(high);
        // The window of each line is anchored at the first label starting on it; lines
        // without one keep the column of the first piece.
        let (_, head) = &pieces[0];
        let head_column = head.start - file.line_start(head.line);
        let chunk_start = self.text.len();
        let mut lines = Vec::new();
        for number in first..=end {
            let origin = file.line_start(number);
            let line = file.line_text(number);
            let anchor = pieces
                .iter()
                .find(|(_, p)| p.line == number)
                .map_or(head_column, |(_, p)| p.start - origin);
            let shown = window(line, anchor);
            let at = self.text.len();
            let prefix = if shown.0 > 0 { "…" } else { "" };
            self.text.push_str(prefix);
            self.text.push_str(&escape_snippet(&line[shown.0..shown.1]));
            let before_tail = self.text.len();
            if shown.1 < line.len() {
                self.text.push('…');
            }
            if origin + line.len() < file.text.len() {
                self.text.push('\n');
            }
            lines.push(ExcerptLine {
                origin,
                shown,
                length: line.len(),
                at,
                prefix: prefix.len(),
                clipped: self.text.len() - before_tail,
            });
        }
        self.chunks.push(Chunk {
            start: chunk_start,
            end: self.text.len(),
            first_line: first as usize - 1,
            name: name.clone(),
        });
        let text = &self.text;
        let map = |offset: usize, number: u32| -> usize {
            let l = &lines[(number - first) as usize];
            let within = offset.saturating_sub(l.origin);
            if within < l.shown.0 {
                return l.at;
            }
            let shown_end = l.at + l.prefix + {
                let line = file.line_text(number);
                escape_snippet(&line[l.shown.0..within.min(l.shown.1)]).len()
            };
            if within < l.shown.1 || (within == l.length && l.shown.1 == l.length) {
                return shown_end;
            }
            // Past the shown part: over the `…`, or into the line break.
            let tail = l.at
                + l.prefix
                + escape_snippet(&file.line_text(number)[l.shown.0..l.shown.1]).len();
            let ellipsis = usize::from(l.shown.1 < l.length) * '…'.len_utf8();
            if within > l.length {
                (tail + l.clipped).min(text.len())
            } else {
                tail + ellipsis
            }
        };
        let mut labels = Vec::new();
        for (piece, placed) in pieces {
            let start = map(placed.start, placed.line);
            let end = map(placed.end, placed.last).max(start);
            let true_start = file.line_col(placed.start as u32);
            self.starts.push((
                start,
                true_start.line as usize - 1,
                true_start.column as usize - 1,
            ));
            let span = SourceSpan::new(start.into(), end - start);
            let text = Some(piece.text.clone());
            labels.push(if piece.primary {
                LabeledSpan::new_primary_with_span(text, span)
            } else {
                LabeledSpan::new_with_span(text, span)
            });
        }
        labels
    }
}

/// Adds the chunks of `pieces` (all in `file`) to `excerpt` and returns their labels: sorted
/// by position and grouped, a piece joining the group before it when it starts within
/// [`NEAR_LINES`] lines of the group's last line (and inside the window of its line when that
/// line is clipped); one chunk per group.
fn add_file(excerpt: &mut Excerpt, file: &SourceFile, mut pieces: Vec<Piece>) -> Vec<LabeledSpan> {
    pieces.sort_by_key(|p| (p.span.start, !p.primary));
    let mut groups: Vec<Vec<(&Piece, Placed)>> = Vec::new();
    for piece in &pieces {
        let placed = place(file, piece.span);
        let joins = groups.last().is_some_and(|group| {
            let last = group.iter().map(|(_, p)| p.last).max().unwrap_or(0);
            let near = placed.line <= last + NEAR_LINES;
            let in_window = match group.iter().find(|(_, p)| p.line == placed.line) {
                None => true,
                Some((_, anchor)) => {
                    let origin = file.line_start(placed.line);
                    let (from, to) = window(file.line_text(placed.line), anchor.start - origin);
                    placed.start <= origin + to && placed.start >= origin + from
                }
            };
            near && in_window
        });
        if joins {
            groups.last_mut().unwrap().push((piece, placed));
        } else {
            groups.push(vec![(piece, placed)]);
        }
    }
    let name: Arc<str> = Arc::from(escape_untrusted(&file.name));
    let mut labels = Vec::new();
    for group in &groups {
        labels.extend(excerpt.add(file, &name, group));
    }
    labels
}

/// The text under a related location: its message, or a plain word when it has none (a label
/// drawn with nothing after `╰──` reads as a rendering fault).
fn related_text(message: &str) -> String {
    if message.trim().is_empty() {
        "related location".to_string()
    } else {
        escape_untrusted(message)
    }
}

fn render(finding: &Finding, sources: &SourceMap) -> Rendered {
    let mut source = None;
    let mut labels = Vec::new();
    if let Some(location) = finding.location {
        let label = finding.label.as_deref().unwrap_or_default();
        let mut own = vec![Piece {
            span: location.span,
            text: escape_untrusted(label),
            primary: true,
        }];
        // Related labels in other files are drawn in the same finding, after its own file,
        // each file once, in the order the finding names them.
        let mut others: Vec<(FileId, Vec<Piece>)> = Vec::new();
        for r in &finding.related {
            let piece = Piece {
                span: r.location.span,
                text: related_text(&r.message),
                primary: false,
            };
            if r.location.file == location.file {
                own.push(piece);
            } else if let Some((_, list)) = others.iter_mut().find(|(f, _)| *f == r.location.file) {
                list.push(piece);
            } else {
                others.push((r.location.file, vec![piece]));
            }
        }
        let mut excerpt = Excerpt::default();
        labels = add_file(&mut excerpt, sources.get(location.file), own);
        for (file, pieces) in others {
            labels.extend(add_file(&mut excerpt, sources.get(file), pieces));
        }
        source = Some(excerpt);
    }
    let mut message = finding.message.clone();
    if let Some(note) = &finding.waived {
        message = format!("{message} (waived: {})", note.reason);
    }
    Rendered {
        code: Some(escape_untrusted(&finding.code)),
        severity: miette_severity(finding.severity),
        message: escape_untrusted(&message),
        help: finding.help.as_deref().map(escape_untrusted),
        source,
        labels,
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
            SkipReason::Ignored => plural(n, "ignored by git", "ignored by git"),
            SkipReason::Excluded => plural(n, "excluded by `exclude`", "excluded by `exclude`"),
            SkipReason::NotIncluded => {
                plural(n, "not matched by `include`", "not matched by `include`")
            }
            SkipReason::DefaultExcluded => plural(
                n,
                "well-known non-account file",
                "well-known non-account files",
            ),
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
            .with_word_separator(textwrap::WordSeparator::AsciiSpace)
    }

    /// Renders one finding to a string (used by `test` and `explain` too).
    pub fn render_finding(&self, finding: &Finding, sources: &SourceMap) -> String {
        let mut out = String::new();
        render_with(&self.handler(), finding, sources, &mut out);
        out
    }
}

/// Renders one finding into `out` with a handler made once per report.
fn render_with(
    handler: &GraphicalReportHandler,
    finding: &Finding,
    sources: &SourceMap,
    out: &mut String,
) {
    let rendered = render(finding, sources);
    let from = out.len();
    if handler.render_report(out, &rendered).is_err() {
        out.truncate(from);
        out.push_str(&format!(
            "{}: {}\n",
            escape_untrusted(&finding.code),
            escape_untrusted(&finding.message)
        ));
    }
}

impl Reporter for HumanReporter {
    fn write(&self, report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
        if !self.quiet {
            // miette's snippet rendering is most of a large report's time (~8 µs a finding):
            // chunks are rendered in parallel and written in order, so the output is the same
            // for any thread count.
            use rayon::prelude::*;
            let findings: Vec<&Finding> = report.visible().collect();
            for batch in findings.chunks(RENDER_BATCH * 16) {
                let rendered: Vec<String> = batch
                    .par_chunks(RENDER_BATCH)
                    .map(|chunk| {
                        let handler = self.handler();
                        let mut text = String::new();
                        for finding in chunk {
                            render_with(&handler, finding, report.sources(), &mut text);
                            text.push('\n');
                        }
                        text
                    })
                    .collect();
                for text in rendered {
                    out.write_all(text.as_bytes())?;
                }
            }
        }
        let elapsed = self.timing.then_some(report.outcome.stats.elapsed);
        writeln!(out, "{}", summary_line(report, elapsed))
    }
}
