//! Escaping of untrusted text (file names, data values, policy titles and messages, snippets)
//! for every output: one rule for which characters never reach a terminal or a CI log raw.
//!
//! A character is *unsafe* ([`is_unsafe`]) when a terminal, a log viewer or an XML parser could
//! act on it instead of showing it: C0 controls, DEL, C1 controls (`\x9b` is a one-byte CSI),
//! the line and paragraph separators, the bidirectional marks, embeddings, overrides and isolates
//! ("Trojan Source"), and the Unicode noncharacters (`U+FFFE`, `U+FFFF`, … which XML forbids).
//! Besides single characters, two sequences are commands to a CI runner: `##vso[` (Azure
//! Pipelines, anywhere on a line) and `##[` (GitHub's legacy commands, Azure's formatting), and
//! `::` starts a GitHub workflow command at the start of a line (leading blanks allowed).
//!
//! - Text formats (human, github, junit, `explain`, `list`) use [`escape_untrusted`]: every
//!   unsafe character is written as `\u{…}` (`\n`, `\r`, `\t` for those three), the `[` of
//!   `##[`/`##vso[` as `\u{5b}` and the second `:` of `::` as `\u{3a}`. The result is one line
//!   and valid XML text. `::` is broken everywhere, not only at the start of a value, because the
//!   human report wraps long lines wherever it likes.
//! - Source snippets use [`escape_snippet`]: the same, but tabs stay (they are laid out) and `::`
//!   stays (a snippet line always starts with its line number).
//! - JSON and SARIF keep the exact values: [`SafeJsonFormatter`] writes the same characters as
//!   JSON escapes (`\u001b`, `\u005b`), so a parser reads back exactly what was found while the
//!   report file, printed into a log, carries no raw control character or runner command.

use std::borrow::Cow;
use std::io;

/// Whether `c` is never written raw to an output (see the module documentation).
pub fn is_unsafe(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{fdd0}'..='\u{fdef}'
    ) || (c as u32 & 0xfffe) == 0xfffe
}

/// Whether the `[` at byte `at` of `text` would complete a CI runner command prefix (`##[`,
/// `##vso[` in any case).
fn opens_runner_command(text: &str, at: usize) -> bool {
    let before = &text.as_bytes()[..at];
    before.ends_with(b"##")
        || (before.len() >= 5 && before[before.len() - 5..].eq_ignore_ascii_case(b"##vso"))
}

/// Whether text needs any work at all (the common case is plain text, returned borrowed).
fn needs_escaping(text: &str, keep_tab: bool, colons: bool) -> bool {
    // One pass over the bytes for the common case: printable ASCII without a doubled `#`/`:`.
    let mut previous = 0u8;
    for &b in text.as_bytes() {
        if !((0x20..0x7f).contains(&b) || (keep_tab && b == b'\t')) {
            return text
                .chars()
                .any(|c| is_unsafe(c) && !(keep_tab && c == '\t'))
                || text.contains("##")
                || (colons && text.contains("::"));
        }
        if b == previous && (b == b'#' || (colons && b == b':')) {
            return true;
        }
        previous = b;
    }
    false
}

fn escape(text: &str, keep_tab: bool, colons: bool) -> Cow<'_, str> {
    if !needs_escaping(text, keep_tab, colons) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut previous_colon = false;
    for (at, c) in text.char_indices() {
        let colon = c == ':';
        match c {
            '\t' if keep_tab => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            '[' if opens_runner_command(text, at) => out.push_str("\\u{5b}"),
            ':' if colons && previous_colon => {
                out.push_str("\\u{3a}");
                previous_colon = false;
                continue;
            }
            c => out.push(c),
        }
        previous_colon = colon;
    }
    Cow::Owned(out)
}

/// Escapes one line of untrusted text for a text output (human, github, junit, `explain`,
/// `list`): the result has no unsafe character, no `##[`/`##vso[` and no `::`.
pub fn escape_untrusted(text: &str) -> String {
    escape(text, false, true).into_owned()
}

/// Escapes one line of source text for a snippet: as [`escape_untrusted`], but tabs and `::`
/// stay as they are.
pub fn escape_snippet(text: &str) -> Cow<'_, str> {
    escape(text, true, false)
}

/// A `serde_json` formatter (pretty, two-space indent) that writes every unsafe character and
/// the `[` of `##[`/`##vso[` as a JSON escape: the values parse back exactly, but the text of
/// the report holds nothing a terminal or CI runner acts on.
#[derive(Default)]
pub struct SafeJsonFormatter {
    pretty: serde_json::ser::PrettyFormatter<'static>,
}

fn write_json_escape<W: ?Sized + io::Write>(writer: &mut W, c: char) -> io::Result<()> {
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        write!(writer, "\\u{:04x}", unit)?;
    }
    Ok(())
}

impl serde_json::ser::Formatter for SafeJsonFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if !needs_escaping(fragment, false, false) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut clean = 0;
        for (at, c) in fragment.char_indices() {
            if is_unsafe(c) || (c == '[' && opens_runner_command(fragment, at)) {
                writer.write_all(&fragment.as_bytes()[clean..at])?;
                write_json_escape(writer, c)?;
                clean = at + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[clean..])
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.begin_array(writer)
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.pretty.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.begin_object(writer)
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.pretty.begin_object_key(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_object_value(writer)
    }
}

/// `serde_json::to_writer_pretty` through [`SafeJsonFormatter`].
pub fn to_writer_safe<W: io::Write, T: ?Sized + serde::Serialize>(
    writer: W,
    value: &T,
) -> serde_json::Result<()> {
    let mut serializer =
        serde_json::Serializer::with_formatter(writer, SafeJsonFormatter::default());
    value.serialize(&mut serializer)
}

/// [`to_writer_safe`] into a string.
pub fn to_string_safe<T: ?Sized + serde::Serialize>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    to_writer_safe(&mut out, value)?;
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str =
        "a\n::error file=x::forged\r\x1b[2J\u{9b}1m ##vso[task.setvariable variable=x]y ##[group] \u{202e}txt\u{fffe}\u{1fffe}\u{7f}\u{2028}";

    #[test]
    fn unsafe_characters() {
        for c in [
            '\0', '\t', '\n', '\x1b', '\x7f', '\u{85}', '\u{9b}', '\u{202a}', '\u{202e}',
        ] {
            assert!(is_unsafe(c), "{c:?}");
        }
        for c in [
            '\u{2066}',
            '\u{2069}',
            '\u{fdd0}',
            '\u{fffe}',
            '\u{ffff}',
            '\u{10ffff}',
        ] {
            assert!(is_unsafe(c), "{c:?}");
        }
        for c in [
            'a', ' ', 'é', 'ø', '€', '\u{a0}', '\u{fffd}', '…', '日', '😀',
        ] {
            assert!(!is_unsafe(c), "{c:?}");
        }
    }

    #[test]
    fn text_outputs_get_one_inert_line() {
        let escaped = escape_untrusted(HOSTILE);
        assert_eq!(
            escaped,
            "a\\n:\\u{3a}error file=x:\\u{3a}forged\\r\\u{1b}[2J\\u{9b}1m ##vso\\u{5b}task.setvariable variable=x]y ##\\u{5b}group] \\u{202e}txt\\u{fffe}\\u{1fffe}\\u{7f}\\u{2028}"
        );
        assert!(!escaped.chars().any(is_unsafe));
        assert!(!escaped.contains("::") && !escaped.contains("##["));
        assert_eq!(
            escape_untrusted("a:::b ##VsO[x"),
            "a:\\u{3a}:b ##VsO\\u{5b}x"
        );
        assert_eq!(escape_untrusted("plain `text` é"), "plain `text` é");
    }

    #[test]
    fn snippets_keep_tabs_and_colons() {
        assert_eq!(
            escape_snippet("\tk: ::1 \x1b ##vso[x"),
            "\tk: ::1 \\u{1b} ##vso\\u{5b}x"
        );
        assert!(matches!(escape_snippet("name: x"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_keeps_exact_values_in_inert_text() {
        let value = serde_json::json!({ "message": HOSTILE, HOSTILE: [HOSTILE] });
        let text = to_string_safe(&value).unwrap();
        assert!(!text.chars().any(|c| is_unsafe(c) && c != '\n' && c != ' '));
        assert!(!text.contains("##vso[") && !text.contains("##["));
        assert!(text.contains("\\u001b") && text.contains("\\ud83f\\udffe"));
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
        // Plain values are written as the standard pretty printer writes them.
        let plain = serde_json::json!({ "a": [1, "b"], "c": {} });
        assert_eq!(
            to_string_safe(&plain).unwrap(),
            serde_json::to_string_pretty(&plain).unwrap()
        );
    }
}
