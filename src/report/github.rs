//! `--format github`: GitHub Actions workflow commands (`::error file=…,line=…::message`), which
//! the runner turns into annotations on the pull request's changed lines.
//!
//! Everything from the data is escaped as GitHub documents for workflow commands, so that a
//! value holding a line break or `::` can never start a command of its own (`::add-mask::`,
//! `::stop-commands::`): in the message `%`, `\r` and `\n` are percent-encoded, in properties
//! also `:` and `,`. Then [`escape_untrusted`] as in every text format: other unsafe characters
//! are shown escaped, `::` and `##vso[` are broken (docs/output-formats.md).

use std::io::{self, Write};

use super::{line_cols, Report, Reporter};
use crate::escape::escape_untrusted;
use crate::finding::{Finding, Severity};

pub struct GithubReporter;

/// Escapes the message part of a workflow command.
pub fn escape_data(text: &str) -> String {
    let encoded = text
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    escape_untrusted(&encoded)
}

/// Escapes a property value (`file=`, `title=`) of a workflow command.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

fn command(finding: &Finding) -> &'static str {
    if finding.waived.is_some() {
        return "notice";
    }
    match finding.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "notice",
    }
}

/// The annotation title: `ID: rule title` (the policy title or the built-in check's summary),
/// or the id alone for a rule this run does not know.
pub fn rule_title(code: &str, report: &Report<'_>) -> String {
    let title = report
        .outcome
        .policies
        .iter()
        .find(|p| p.id == code)
        .map(|p| p.title.as_str())
        .or_else(|| {
            let parent = report
                .outcome
                .policies
                .iter()
                .find(|p| p.id == crate::rule_id::parent(code))?;
            parent.subrule(code).map(|s| s.title.as_str())
        })
        .or_else(|| crate::codes::find(code).map(|c| c.summary));
    match title {
        Some(title) => format!("{code}: {title}"),
        None => code.to_string(),
    }
}

/// One workflow command line (without the line break).
pub fn workflow_command(finding: &Finding, report: &Report<'_>) -> String {
    let sources = report.sources();
    let mut properties = Vec::new();
    if let Some(location) = finding.location {
        let (start, end) = line_cols(sources, location);
        properties.push(format!(
            "file={}",
            escape_property(&sources.get(location.file).name)
        ));
        properties.push(format!("line={}", start.line));
        properties.push(format!("col={}", start.column));
        properties.push(format!("endLine={}", end.line));
        properties.push(format!("endColumn={}", end.column));
    }
    properties.push(format!(
        "title={}",
        escape_property(&rule_title(&finding.code, report))
    ));
    let mut message = finding.message.clone();
    if let Some(note) = &finding.waived {
        message.push_str(&format!(" (waived: {})", note.reason));
    }
    if let Some(help) = &finding.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    format!(
        "::{} {}::{}",
        command(finding),
        properties.join(","),
        escape_data(&message)
    )
}

impl Reporter for GithubReporter {
    fn write(&self, report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
        for finding in report.visible() {
            writeln!(out, "{}", workflow_command(finding, report))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_start_a_new_command() {
        let escaped = escape_data("bad\n::add-mask::secret\r\n100%");
        assert_eq!(escaped, "bad%0A:\\u{3a}add-mask:\\u{3a}secret%0D%0A100%25");
        assert!(!escaped.contains('\n') && !escaped.contains('\r'));
    }

    #[test]
    fn properties_escape_separators() {
        assert_eq!(escape_property("a,b:c%d\ne"), "a%2Cb%3Ac%25d%0Ae");
    }

    #[test]
    fn other_control_characters_are_visible() {
        assert_eq!(escape_data("a\x1b[2Jb"), "a\\u{1b}[2Jb");
    }
}
