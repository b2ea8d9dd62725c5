//! Policy problems as findings: a Rhai error mapped to a check and a message in our style, and
//! a Rhai position turned into a span of the script.

use rhai::{EvalAltResult, Position};

use crate::codes::{self, BuiltinCheck};
use crate::finding::Finding;
use crate::limits::Limits;
use crate::source::ByteSpan;

use super::{api, engine, guard};

/// A finding of a built-in check about the tool's own inputs (origin `Tool`: exit 2).
pub(super) fn tool_finding(check: &BuiltinCheck, message: String) -> Finding {
    check.finding(message).tool()
}

/// Byte offset of a Rhai position (1-based line, 1-based character column) in `text`.
pub fn position_offset(text: &str, position: Position) -> Option<usize> {
    let line = position.line()?;
    let column = position.position().unwrap_or(1);
    crate::source::offset_of(text, line, column, |l| l.trim_end().len())
}

pub(super) fn span_at(text: &str, position: Position) -> ByteSpan {
    match position_offset(text, position) {
        Some(at) => {
            let end = text[at..]
                .chars()
                .next()
                .filter(|c| *c != '\n')
                .map_or(at, |c| at + c.len_utf8());
            ByteSpan::new(at, end)
        }
        None => ByteSpan::default(),
    }
}

/// Whether an evaluation was stopped by its policy's breaker (not a problem of its own).
pub(super) fn is_cancelled(error: &EvalAltResult) -> bool {
    let mut inner = error;
    while let EvalAltResult::ErrorInFunctionCall(_, _, next, _) = inner {
        inner = next;
    }
    matches!(inner, EvalAltResult::ErrorTerminated(token, _)
        if token.clone().into_string().ok().as_deref() == Some(engine::CANCEL_TOKEN))
}

/// Maps a Rhai error to a check and a message in our style.
pub(super) fn describe_error(
    error: &EvalAltResult,
    limits: &Limits,
) -> (&'static BuiltinCheck, String) {
    let mut inner = error;
    while let EvalAltResult::ErrorInFunctionCall(_, _, next, _) = inner {
        inner = next;
    }
    match inner {
        EvalAltResult::ErrorTooManyOperations(_) => (
            codes::POLICY_LIMIT,
            format!(
                "operation budget exceeded ({} operations)",
                limits.policy_operations
            ),
        ),
        EvalAltResult::ErrorTerminated(..) => (
            codes::POLICY_LIMIT,
            format!(
                "timed out after {:.1} s",
                limits.policy_deadline.as_secs_f64()
            ),
        ),
        EvalAltResult::ErrorStackOverflow(_) => (
            codes::POLICY_LIMIT,
            "call depth exceeded (runaway recursion)".to_string(),
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => (
            codes::POLICY_LIMIT,
            format!("data limit exceeded: {}", what.to_lowercase()),
        ),
        EvalAltResult::ErrorTooManyVariables(_) | EvalAltResult::ErrorTooManyModules(_) => {
            (codes::POLICY_LIMIT, inner.to_string())
        }
        EvalAltResult::ErrorDotExpr(text, _) if text.starts_with("No writable property") => {
            let field = text.split('\'').nth(1).unwrap_or("?");
            (codes::POLICY_RUNTIME, format!("cannot assign to `{field}`: documents are read-only (copy a value into a variable first)"))
        }
        EvalAltResult::Exit(..) => (codes::POLICY_RUNTIME, "policy called `exit()`".to_string()),
        other => {
            // A thrown value is shown through its `Display`, which writes out what closures
            // captured: never more than a report's text (guard.rs).
            let text = guard::display_capped(other, api::MAX_REPORT_TEXT);
            // Rhai appends " (line N, position M)"; the location is shown separately.
            let text = text.split(" (line ").next().unwrap_or(&text).to_string();
            (codes::POLICY_RUNTIME, lowercase_first(&text))
        }
    }
}

pub(super) fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
