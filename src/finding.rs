//! Findings: the data every check produces and every reporter renders.
//!
//! A finding is plain data. It keeps byte spans into a [`SourceFile`](crate::source::SourceFile);
//! line and column are computed only when a reporter renders it.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::Kind;
use crate::source::{ByteSpan, FileId, Location};

/// How serious a finding is. Ordered: `Info < Warning < Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The document a finding is about, by kind and id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DocumentRef {
    pub kind: Kind,
    pub id: Arc<str>,
}

/// By kind *name*, then id: the order reports have always used (not the kinds' model order).
impl Ord for DocumentRef {
    fn cmp(&self, other: &DocumentRef) -> Ordering {
        self.kind
            .as_str()
            .cmp(other.kind.as_str())
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for DocumentRef {
    fn partial_cmp(&self, other: &DocumentRef) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A secondary location with its own message ("the relationship that is still `requested` is here").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelatedLabel {
    pub location: Location,
    pub message: String,
    /// JSON Pointer inside the related document, if the label points at a node.
    pub pointer: Option<String>,
    pub document: Option<DocumentRef>,
}

/// Whether a finding is about the data or means the check itself could not be completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The checked data breaks a rule, a schema or a format (exit 1 at or above `--fail-on`).
    Data,
    /// A policy, schema, configuration or input could not be used, so the check is incomplete
    /// (exit 2 whatever the severity: an incomplete check never reads as "only violations").
    Tool,
}

/// One result of a check. Serializable for the cache ([`crate::cache`]) only: reports build
/// their own shapes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable rule or check id (`MC002`, `F03`, `Y002`, ...).
    pub code: Arc<str>,
    pub severity: Severity,
    pub origin: Origin,
    /// One line, lowercase, no final period, user values in backticks.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
    /// Where; `None` only for findings that concern no file (e.g. "no input files").
    pub location: Option<Location>,
    /// Text of the label under the primary span (defaults to a short form of the message).
    pub label: Option<String>,
    /// JSON Pointer of the node inside its document (`/end_date`, `/roles/1`).
    pub pointer: Option<String>,
    pub document: Option<DocumentRef>,
    pub related: Vec<RelatedLabel>,
    /// Set by waivers: the finding is listed but not counted.
    pub waived: Option<WaiverNote>,
}

/// Why a finding is waived.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverNote {
    pub reason: String,
    pub approved_by: String,
    pub expires: Option<String>,
}

impl Finding {
    pub fn new(
        code: impl Into<Arc<str>>,
        severity: Severity,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            code: code.into(),
            severity,
            origin: Origin::Data,
            message: message.into(),
            help: None,
            location: None,
            label: None,
            pointer: None,
            document: None,
            related: Vec::new(),
            waived: None,
        }
    }

    pub fn at(mut self, location: Location) -> Finding {
        self.location = Some(location);
        self
    }

    pub fn at_span(self, file: FileId, span: ByteSpan) -> Finding {
        self.at(Location { file, span })
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Finding {
        self.help = Some(help.into());
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Finding {
        self.label = Some(label.into());
        self
    }

    pub fn with_pointer(mut self, pointer: impl Into<String>) -> Finding {
        self.pointer = Some(pointer.into());
        self
    }

    pub fn with_document(mut self, document: Option<DocumentRef>) -> Finding {
        self.document = document;
        self
    }

    pub fn with_related(mut self, related: RelatedLabel) -> Finding {
        self.related.push(related);
        self
    }

    pub fn tool(mut self) -> Finding {
        self.origin = Origin::Tool;
        self
    }

    /// Stable report order: file, position, code, then the rest so that equal keys still sort
    /// the same way whatever order the workers produced them in.
    pub fn report_order(&self, other: &Finding) -> Ordering {
        let key = |f: &Finding| f.location.map(|l| (l.file, l.span.start, l.span.end));
        // Findings without a location (run-level problems) come first.
        key(self)
            .cmp(&key(other))
            .then_with(|| self.code.cmp(&other.code))
            .then_with(|| self.message.cmp(&other.message))
            .then_with(|| self.pointer.cmp(&other.pointer))
            .then_with(|| self.document.cmp(&other.document))
    }

    /// [`Finding::report_order`], then every other field: a total order, so that the same
    /// findings sort the same way whatever order they came in (a full run and a patched replay,
    /// [`crate::patch`], gather them differently).
    pub fn total_order(&self, other: &Finding) -> Ordering {
        fn related(f: &Finding) -> Vec<RelatedKey<'_>> {
            f.related
                .iter()
                .map(|r| (r.location, &r.message, &r.pointer, &r.document))
                .collect()
        }
        type RelatedKey<'a> = (
            Location,
            &'a String,
            &'a Option<String>,
            &'a Option<DocumentRef>,
        );
        self.report_order(other)
            .then_with(|| self.severity.cmp(&other.severity))
            .then_with(|| self.origin.cmp(&other.origin))
            .then_with(|| self.help.cmp(&other.help))
            .then_with(|| self.label.cmp(&other.label))
            .then_with(|| related(self).cmp(&related(other)))
            .then_with(|| self.waived.is_some().cmp(&other.waived.is_some()))
    }
}

/// Wraps a user value in backticks for a message, escaping control characters so that no
/// terminal escape or newline from the data reaches the output.
pub fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('`');
    let shown: String = value.chars().take(80).collect();
    for c in shown.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if value.chars().count() > 80 {
        out.push('…');
    }
    out.push('`');
    out
}

/// Describes a JSON value for a message: "string `NO`", "boolean `false`", "a mapping".
pub fn describe_value(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_i64() || n.is_u64() => format!("integer `{n}`"),
        Value::Number(n) => format!("number `{n}`"),
        Value::String(s) => format!("string {}", quoted(s)),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_escapes_control_characters() {
        assert_eq!(quoted("a\x1b[2Jb"), "`a\\u{1b}[2Jb`");
        assert_eq!(quoted("x\n::error"), "`x\\n::error`");
    }

    #[test]
    fn severity_order() {
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Error);
        assert_eq!(Severity::parse("warning"), Some(Severity::Warning));
        assert_eq!(Severity::parse("fatal"), None);
    }
}
