//! Error wording: what a field expects, in a reviewer's words, and the finding for each kind of
//! validator error (wrong type or format, enum value, missing field, unknown field).

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use super::fields::FieldInfo;
use crate::codes::{self, BuiltinCheck};
use crate::finding::{describe_value, quoted, Finding, Severity};
use crate::model::Kind;
use crate::source::{ByteSpan, FileId};
use crate::yaml::{escape_pointer_segment, LoadedDocument, NodeInfo};

/// Words a reviewer understands for what a field expects.
pub(super) fn expected_words(field: &str, info: Option<&FieldInfo>) -> String {
    let example = info.and_then(|i| i.example.as_ref());
    let example_text = example.map(|e| match e {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    });
    match info.and_then(FieldInfo::format_check) {
        Some(codes::GUID_FORMAT) => format!(
            "a GUID like {}",
            example_text.unwrap_or_else(|| "\"c501c3c4-d776-40ef-9ecf-9cefb59442c1\"".into())
        ),
        Some(codes::PARTNER_ID_FORMAT) => format!(
            "a quoted string of 6 to 8 digits like {}",
            example_text.unwrap_or_else(|| "\"4847383\"".into())
        ),
        Some(codes::COUNTRY_CODE_FORMAT) => format!(
            "a quoted two-letter code like {}",
            example_text.unwrap_or_else(|| "\"NO\"".into())
        ),
        Some(codes::DATE_FORMAT) => format!(
            "a date like {}",
            example_text.unwrap_or_else(|| "\"2024-01-10\"".into())
        ),
        _ => match info.and_then(|i| i.expected_type.as_deref()) {
            Some("string") => match example_text {
                Some(e) => format!("a string like {e}"),
                None => "a string".to_string(),
            },
            Some("boolean") => "`true` or `false`".to_string(),
            Some("integer") => "a whole number".to_string(),
            Some("number") => "a number".to_string(),
            Some("array") => "a list".to_string(),
            Some("object") => "a mapping".to_string(),
            _ => format!("a valid `{field}`"),
        },
    }
}

pub(super) fn type_words(kind: &TypeKind) -> String {
    let one = |t: &jsonschema::JsonType| match t.to_string().as_str() {
        "string" => "a string".to_string(),
        "boolean" => "`true` or `false`".to_string(),
        "integer" => "a whole number".to_string(),
        "number" => "a number".to_string(),
        "array" => "a list".to_string(),
        "object" => "a mapping".to_string(),
        "null" => "null".to_string(),
        other => other.to_string(),
    };
    match kind {
        TypeKind::Single(t) => one(t),
        TypeKind::Multiple(set) => set.iter().map(|t| one(&t)).collect::<Vec<_>>().join(" or "),
    }
}

pub(super) fn check_finding(
    check: Option<&BuiltinCheck>,
    severity: Severity,
    message: String,
) -> Finding {
    let (id, default_help) = match check {
        Some(c) => (c.id, c.help),
        None => (codes::SCHEMA_VIOLATION.id, codes::SCHEMA_VIOLATION.help),
    };
    Finding::new(id, severity, message).with_help(default_help)
}

pub(super) fn kind_article(kind: Kind, pointer: &str) -> String {
    if pointer.is_empty() {
        format!("the {} document", kind.as_str())
    } else {
        format!("`{}`", pointer.rsplit('/').next().unwrap_or(pointer))
    }
}

/// One validator error, with what every wording step needs about where it is.
pub(super) struct ErrorSite<'a> {
    /// JSON Pointer of the instance the error is about (`""` for the document).
    pub(super) pointer: String,
    /// The name used in messages: the last pointer segment, or the kind for the document.
    pub(super) shown: String,
    /// The top-level field the error is in (`""` for the document itself).
    pub(super) top_field: String,
    pub(super) info: Option<&'a FieldInfo>,
    pub(super) node: Option<NodeInfo>,
    /// The node's span, else the document head.
    pub(super) at: ByteSpan,
}

/// A wrong type, pattern or format. Returns the finding and, for an unquoted scalar that a
/// format check (F01–F04) read as a boolean or number, the text as written.
pub(super) fn format_finding(
    site: &ErrorSite<'_>,
    error_kind: &ValidationErrorKind,
    instance: &Value,
    text: Option<&str>,
) -> (Finding, Option<String>) {
    let shown = &site.shown;
    let expected = match (error_kind, site.info) {
        (ValidationErrorKind::Type { kind: t }, Some(i)) if i.check.is_none() => type_words(t),
        (ValidationErrorKind::Type { kind: t }, None) => type_words(t),
        _ => expected_words(shown, site.info),
    };
    let check = site.info.and_then(FieldInfo::format_check);
    let mut f = check_finding(
        check,
        Severity::Error,
        format!(
            "`{shown}` must be {expected}; found {}",
            describe_value(instance)
        ),
    )
    .with_label(format!("expected {expected}"));
    let written = match (text, site.node, instance) {
        (Some(text), Some(node), Value::Bool(_) | Value::Number(_))
            if node.plain_scalar
                && matches!(
                    check,
                    Some(
                        codes::GUID_FORMAT
                            | codes::PARTNER_ID_FORMAT
                            | codes::COUNTRY_CODE_FORMAT
                            | codes::DATE_FORMAT
                    )
                ) =>
        {
            text.get(node.span.range()).map(str::to_string)
        }
        _ => None,
    };
    match (check, instance) {
        (Some(codes::COUNTRY_CODE_FORMAT), Value::Bool(b)) => {
            let hint = if *b { "\"YES\"" } else { "\"NO\"" };
            f = f.with_help(format!("quote the country code, e.g. `{shown}: {hint}`: YAML 1.1 tools read an unquoted `NO` as `false`"));
        }
        (Some(codes::PARTNER_ID_FORMAT), Value::Number(n)) => {
            f = f.with_help(format!(
                "quote it: `{shown}: \"{n}\"` (an unquoted number loses leading zeros)"
            ));
        }
        (Some(codes::DATE_FORMAT), Value::String(s))
            if s.len() > 10 && s.as_bytes().get(10) == Some(&b'T') =>
        {
            f = f.with_help(format!(
                "write the date only, e.g. `{}`; Partner Center dates are UTC",
                &s[..10]
            ));
        }
        (Some(codes::COUNTRY_CODE_FORMAT), Value::String(s)) if s.len() == 2 => {
            f = f.with_help(format!(
                "write the code in upper case: \"{}\"",
                s.to_ascii_uppercase()
            ));
        }
        _ => {}
    }
    (f, written)
}

/// A value outside an `enum`. Returns the finding and, when the value differs from an allowed
/// one only in case or separators (F05, a warning), the canonical value to normalise to.
pub(super) fn enum_finding(
    site: &ErrorSite<'_>,
    options: &Value,
    instance: &Value,
) -> (Finding, Option<String>) {
    let shown = &site.shown;
    let options: Vec<String> = options
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let text = instance.as_str().unwrap_or("");
    let canonical = text.to_ascii_lowercase().replace([' ', '-'], "_");
    if !text.is_empty() && options.contains(&canonical) {
        let f = check_finding(
            Some(codes::ENUM_CASE),
            codes::ENUM_CASE.severity,
            format!(
                "`{shown}` value {} is not in canonical lower snake_case",
                quoted(text)
            ),
        )
        .with_label(format!("read as `{canonical}`"))
        .with_help(format!("write `{shown}: {canonical}`"));
        return (f, Some(canonical));
    }
    let listed = options
        .iter()
        .map(|o| format!("`{o}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut f = check_finding(
        None,
        Severity::Error,
        format!(
            "`{shown}` must be one of {listed}; found {}",
            describe_value(instance)
        ),
    )
    .with_label("not an allowed value");
    if let Some(best) = crate::suggest::closest(text, options.iter().map(String::as_str)) {
        f = f.with_help(format!("did you mean `{best}`?"));
    }
    (f, None)
}

/// A required field that is missing, at the document head (or the mapping that lacks it).
pub(super) fn missing_field_finding(
    site: &ErrorSite<'_>,
    kind: Kind,
    property: &str,
    property_info: Option<&FieldInfo>,
    head: ByteSpan,
    file: FileId,
) -> Finding {
    let pointer = &site.pointer;
    let at = if pointer.is_empty() { head } else { site.at };
    check_finding(
        None,
        Severity::Error,
        format!(
            "{} is missing required field `{property}`",
            kind_article(kind, pointer)
        ),
    )
    .with_label(format!("`{property}` missing"))
    .with_help(format!(
        "add `{property}:` ({})",
        expected_words(property, property_info)
    ))
    .at_span(file, at)
    .with_pointer(format!("{pointer}/{}", escape_pointer_segment(property)))
}

/// A field the schema does not define, at its key; `known` are the kind's fields, offered as
/// "did you mean" for a top-level field.
pub(super) fn unknown_field_finding<'k>(
    site: &ErrorSite<'_>,
    kind: Kind,
    name: &str,
    document: &LoadedDocument,
    known: impl Iterator<Item = &'k str>,
    file: FileId,
) -> Finding {
    let pointer = &site.pointer;
    let child = format!("{pointer}/{}", escape_pointer_segment(name));
    let span = document
        .spans
        .node_at(&document.value, &child)
        .and_then(|n| n.key_span)
        .unwrap_or(site.at);
    let mut f = check_finding(
        None,
        Severity::Error,
        format!(
            "unknown field {} in {}",
            quoted(name),
            kind_article(kind, pointer)
        ),
    )
    .with_label("not in the schema")
    .at_span(file, span)
    .with_pointer(child);
    f.help = Some(
        match crate::suggest::closest(name, known).filter(|_| pointer.is_empty()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!(
                "remove the field; the {} schema does not define it",
                kind.as_str()
            ),
        },
    );
    f
}

/// Any other validator error, with the validator's own words.
pub(super) fn other_finding(site: &ErrorSite<'_>, raw: &str) -> Finding {
    let detail = raw.replace('"', "`");
    check_finding(
        None,
        Severity::Error,
        format!("`{}` is not valid: {detail}", site.shown),
    )
    .with_label("here")
}
