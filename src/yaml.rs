//! The YAML loader: turns a file's text into JSON values plus a span table that maps every node
//! (by JSON Pointer) back to its bytes in the file.
//!
//! It is built on `saphyr-parser` events rather than a YAML tree because the measured traps of
//! the tree builders (stack aborts on deep nesting, alias bombs, character offsets) have to be
//! stopped before any tree exists: depth, node count, scalar length and alias expansion are
//! checked on the events. Scalars are resolved with the YAML 1.2 core schema, so `NO`, `yes`
//! and `on` stay strings. Everything that is not plain account data (custom tags, merge keys,
//! complex keys, numbers that cannot be represented, duplicate keys) becomes a located finding.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as ParserSpan, Tag};
use serde_json::{Map, Number, Value};

use crate::codes::{self, BuiltinCheck};
use crate::finding::{code, Finding, RelatedLabel};
use crate::limits::Limits;
use crate::source::ByteSpan;
use crate::source::FileId;

/// One YAML document of a file.
#[derive(Clone, Debug)]
pub struct LoadedDocument {
    /// The document as JSON. Mapping entries whose value is `null` are left out ("null means
    /// absent"); they stay in the span table, flagged as skipped.
    pub value: Value,
    pub spans: SpanTable,
    /// Where the document starts: its first key, or the root node.
    pub head: ByteSpan,
    /// Set when the loader reported an error inside this document: its identity is still
    /// indexed (so references to it resolve) but it is not schema- or policy-checked.
    pub tainted: bool,
}

/// Result of loading one file.
#[derive(Debug, Default)]
pub struct LoadedFile {
    pub documents: Vec<LoadedDocument>,
    pub findings: Vec<Finding>,
}

/// Span information of one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's own bytes (for a quoted scalar, including the quotes).
    pub span: ByteSpan,
    /// For a mapping value: its key's bytes.
    pub key_span: Option<ByteSpan>,
    /// A scalar written without quotes or block style (`country: NO`).
    pub plain_scalar: bool,
}

const FLAG_PLAIN: u8 = 1;
/// The entry is not in the JSON value (a `null` value left out, or a duplicate key).
const FLAG_SKIPPED: u8 = 2;
const FLAG_HAS_KEY: u8 = 4;

#[derive(Clone, Copy, Debug)]
struct NodeSpan {
    span: ByteSpan,
    key: ByteSpan,
    /// Index of the first record after this node's subtree.
    next: u32,
    flags: u8,
}

/// Node spans of one document in pre-order, parallel to the JSON value: a mapping's records
/// are followed by its entries' subtrees in source order, a sequence's by its items'.
///
/// About 20 bytes per node; a pointer is resolved by walking the value and the records in
/// step, so no pointer strings are stored.
#[derive(Clone, Debug, Default)]
pub struct SpanTable {
    nodes: Vec<NodeSpan>,
}

impl SpanTable {
    /// Looks up the node at `pointer` (RFC 6901) inside `value`, the document this table
    /// belongs to. Returns `None` if the pointer does not name a node.
    pub fn lookup(&self, value: &Value, pointer: &str) -> Option<NodeInfo> {
        let mut index = 0usize;
        let mut current = value;
        if self.nodes.is_empty() {
            return None;
        }
        if !pointer.is_empty() {
            if !pointer.starts_with('/') {
                return None;
            }
            for raw in pointer[1..].split('/') {
                let segment = unescape_pointer_segment(raw);
                let mut child = index + 1;
                match current {
                    Value::Object(map) => {
                        let mut found = None;
                        let mut entries = map.iter();
                        while child < self.nodes[index].next as usize {
                            let record = self.nodes[child];
                            if record.flags & FLAG_SKIPPED == 0 {
                                let (key, entry_value) = entries.next()?;
                                if *key == segment {
                                    found = Some((child, entry_value));
                                    break;
                                }
                            }
                            child = record.next as usize;
                        }
                        let (found_index, found_value) = found?;
                        index = found_index;
                        current = found_value;
                    }
                    Value::Array(items) => {
                        let position: usize = segment.parse().ok()?;
                        let item = items.get(position)?;
                        for _ in 0..position {
                            child = self.nodes.get(child)?.next as usize;
                        }
                        index = child;
                        current = item;
                    }
                    _ => return None,
                }
            }
        }
        let record = self.nodes.get(index)?;
        Some(NodeInfo {
            span: record.span,
            key_span: (record.flags & FLAG_HAS_KEY != 0).then_some(record.key),
            plain_scalar: record.flags & FLAG_PLAIN != 0,
        })
    }

    /// The span for a finding about `pointer`: the node itself, or the closest ancestor that
    /// exists (a missing field is reported on the mapping that lacks it).
    pub fn locate(&self, value: &Value, pointer: &str) -> Option<NodeInfo> {
        let mut pointer = pointer;
        loop {
            if let Some(info) = self.lookup(value, pointer) {
                return Some(info);
            }
            match pointer.rfind('/') {
                Some(cut) => pointer = &pointer[..cut],
                None => return None,
            }
        }
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Every node's span, for invariant checks (spans inside the file, on char boundaries).
    pub fn all_spans(&self) -> impl Iterator<Item = ByteSpan> + '_ {
        self.nodes.iter().flat_map(|n| {
            let key = (n.flags & FLAG_HAS_KEY != 0).then_some(n.key);
            std::iter::once(n.span).chain(key)
        })
    }
}

/// Escapes one JSON Pointer segment (RFC 6901: `~` → `~0`, `/` → `~1`).
pub fn escape_pointer_segment(segment: &str) -> Cow<'_, str> {
    if segment.contains(['~', '/']) {
        Cow::Owned(segment.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(segment)
    }
}

fn unescape_pointer_segment(segment: &str) -> Cow<'_, str> {
    if segment.contains('~') {
        Cow::Owned(segment.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(segment)
    }
}

/// Converts the parser's character offsets to byte offsets of the whole file.
struct OffsetMap<'a> {
    /// Bytes before the text handed to the parser (a skipped byte order mark).
    base: usize,
    /// `None` for ASCII text, where characters and bytes coincide.
    char_to_byte: Option<Vec<u32>>,
    text: &'a str,
}

impl<'a> OffsetMap<'a> {
    fn new(text: &'a str, base: usize) -> OffsetMap<'a> {
        let char_to_byte = (!text.is_ascii()).then(|| {
            let mut table: Vec<u32> = text.char_indices().map(|(b, _)| b as u32).collect();
            table.push(text.len() as u32);
            table
        });
        OffsetMap {
            base,
            char_to_byte,
            text,
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        let local = match &self.char_to_byte {
            None => char_index.min(self.text.len()),
            Some(table) => table[char_index.min(table.len() - 1)] as usize,
        };
        self.base + local
    }

    fn span(&self, span: &ParserSpan) -> ByteSpan {
        ByteSpan::new(self.byte(span.start.index()), self.byte(span.end.index()))
    }
}

/// A scalar after YAML 1.2 core-schema resolution.
enum Resolved {
    Value(Value),
    /// A number that cannot be represented exactly (`99999999999999999999`, `.nan`, `.inf`).
    OutOfRange,
    UnsupportedTag(String),
}

fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Resolved {
    if let Some(tag) = tag {
        if tag.handle == "tag:yaml.org,2002:" {
            return match tag.suffix.as_str() {
                "str" => Resolved::Value(Value::String(text.to_string())),
                "null" | "bool" | "int" | "float" => match resolve_plain(text) {
                    Resolved::Value(v) if core_type_matches(&tag.suffix, &v) => Resolved::Value(v),
                    Resolved::OutOfRange => Resolved::OutOfRange,
                    _ => Resolved::UnsupportedTag(format!("!!{} {text}", tag.suffix)),
                },
                other => Resolved::UnsupportedTag(format!("!!{other}")),
            };
        }
        // The non-specific tag `!` forces a string.
        if tag.handle.is_empty() && tag.suffix == "!" {
            return Resolved::Value(Value::String(text.to_string()));
        }
        return Resolved::UnsupportedTag(tag.to_string());
    }
    if style != ScalarStyle::Plain {
        return Resolved::Value(Value::String(text.to_string()));
    }
    resolve_plain(text)
}

fn core_type_matches(suffix: &str, value: &Value) -> bool {
    match suffix {
        "null" => value.is_null(),
        "bool" => value.is_boolean(),
        "int" => value.is_i64() || value.is_u64(),
        "float" => value.is_number(),
        _ => false,
    }
}

/// YAML 1.2 core schema for plain scalars (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
fn resolve_plain(text: &str) -> Resolved {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Value(Value::Null),
        "true" | "True" | "TRUE" => return Resolved::Value(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Resolved::Value(Value::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return Resolved::OutOfRange,
        _ => {}
    }
    let bytes = text.as_bytes();
    let unsigned = bytes
        .strip_prefix(b"-")
        .or_else(|| bytes.strip_prefix(b"+"))
        .unwrap_or(bytes);
    if !unsigned.is_empty() && unsigned.iter().all(u8::is_ascii_digit) {
        return match text.parse::<i64>() {
            Ok(n) => Resolved::Value(Value::Number(n.into())),
            Err(_) => Resolved::OutOfRange,
        };
    }
    if let Some(octal) = text.strip_prefix("0o") {
        if !octal.is_empty() && octal.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return i64::from_str_radix(octal, 8).map_or(Resolved::OutOfRange, |n| {
                Resolved::Value(Value::Number(n.into()))
            });
        }
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return i64::from_str_radix(hex, 16).map_or(Resolved::OutOfRange, |n| {
                Resolved::Value(Value::Number(n.into()))
            });
        }
    }
    if is_core_float(unsigned) {
        return match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Number::from_f64(f)
                .map_or(Resolved::OutOfRange, |n| Resolved::Value(Value::Number(n))),
            _ => Resolved::OutOfRange,
        };
    }
    Resolved::Value(Value::String(text.to_string()))
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` without the sign.
fn is_core_float(b: &[u8]) -> bool {
    let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = digits(b);
    let mut mantissa_digits = i;
    if b.get(i) == Some(&b'.') {
        let frac = digits(&b[i + 1..]);
        mantissa_digits += frac;
        i += 1 + frac;
    }
    if mantissa_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp = digits(&b[i..]);
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}

/// A collection under construction.
enum Frame {
    Map {
        record: usize,
        map: Map<String, Value>,
        /// The key waiting for its value: text, span, and whether the entry must be skipped.
        pending_key: Option<PendingKey>,
        keys: HashMap<String, ByteSpan>,
    },
    Seq {
        record: usize,
        items: Vec<Value>,
    },
}

struct PendingKey {
    text: String,
    span: ByteSpan,
    skip: bool,
}

/// Why loading stopped early: the file-level finding has been recorded.
struct Abort;

struct Loader<'a> {
    file: FileId,
    limits: &'a Limits,
    offsets: OffsetMap<'a>,
    full_text: &'a str,
    findings: Vec<Finding>,
    documents: Vec<LoadedDocument>,
    // State of the current document.
    nodes: Vec<NodeSpan>,
    stack: Vec<Frame>,
    root: Option<Value>,
    tainted: bool,
    anchors: HashMap<usize, (Value, usize, usize)>,
    open_anchors: Vec<(usize, usize)>,
    alias_nodes: usize,
    file_nodes: usize,
    doc_start: ByteSpan,
}

/// Loads every document of `text` (the whole file). `base` is the number of leading bytes to
/// skip (a UTF-8 byte order mark); all spans are offsets into `text`.
pub fn load(text: &str, base: usize, file: FileId, limits: &Limits) -> LoadedFile {
    let body = &text[base..];
    let mut loader = Loader {
        file,
        limits,
        offsets: OffsetMap::new(body, base),
        full_text: text,
        findings: Vec::new(),
        documents: Vec::new(),
        nodes: Vec::new(),
        stack: Vec::new(),
        root: None,
        tainted: false,
        anchors: HashMap::new(),
        open_anchors: Vec::new(),
        alias_nodes: 0,
        file_nodes: 0,
        doc_start: ByteSpan::default(),
    };
    // saphyr-parser 0.3.4 advances its character index by the *bytes* of a directive's name
    // and parameters, so a `%` line with non-ASCII text shifts every later span (found by the
    // yaml_spans fuzz target). Account data has no use for directives: refuse those lines.
    let mut line_start = 0;
    for line in body.split_inclusive('\n') {
        if line.starts_with('%') && !line.is_ascii() {
            let at = base + line_start;
            let span = loader.point_span(at);
            loader.report(
                codes::YAML_SYNTAX,
                "a `%` directive line with non-ASCII characters is not supported".to_string(),
                span,
                "directive",
            );
            return LoadedFile {
                documents: Vec::new(),
                findings: loader.findings,
            };
        }
        line_start += line.len();
    }
    // YAML forbids a raw NUL, and saphyr-parser reads it as the end of the input: it reported
    // "tab character in indentation" or "unexpected end of stream" somewhere else. Say what it is.
    if let Some(at) = body.find('\0') {
        let span = loader.point_span(base + at);
        loader.report(
            codes::YAML_SYNTAX,
            "a NUL character (`\\0`) is not allowed in YAML".to_string(),
            span,
            "NUL here",
        );
        return LoadedFile {
            documents: Vec::new(),
            findings: loader.findings,
        };
    }
    let mut parser = Parser::new_from_str(body);
    let mut saw_document = false;
    loop {
        match parser.next_event() {
            None => break,
            Some(Err(error)) => {
                loader.syntax_error(error.marker().index(), error.info());
                // A syntax error ends the file: documents completed before it are kept.
                break;
            }
            Some(Ok((event, span))) => {
                if matches!(event, Event::DocumentStart(_)) {
                    saw_document = true;
                }
                if loader.on_event(event, span).is_err() {
                    break;
                }
            }
        }
    }
    if !saw_document && loader.findings.is_empty() {
        let end = text.len();
        loader.findings.push(
            codes::EMPTY_FILE
                .finding("the file holds no document")
                .at_span(file, ByteSpan::new(base, end.max(base)))
                .with_label("nothing to check here"),
        );
    }
    LoadedFile {
        documents: loader.documents,
        findings: loader.findings,
    }
}

impl Loader<'_> {
    fn report(&mut self, check: &BuiltinCheck, message: String, span: ByteSpan, label: &str) {
        self.findings.push(
            check
                .finding(message)
                .at_span(self.file, span)
                .with_label(label),
        );
        self.tainted = true;
    }

    fn syntax_error(&mut self, char_index: usize, info: &str) {
        let offset = self.offsets.byte(char_index);
        let span = self.point_span(offset);
        let line_start = self.full_text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let indentation: &str = {
            let line = &self.full_text[line_start..];
            let end = line
                .find(|c: char| c != ' ' && c != '\t')
                .unwrap_or(line.len());
            &line[..end]
        };
        if info.contains("tab") || indentation.contains('\t') {
            // The tab itself, or where the parser stopped when the tab is not in this line's
            // indentation (a one-byte cut there could split a character; found by fuzzing).
            let span = match indentation.find('\t') {
                Some(at) => ByteSpan::new(line_start + at, line_start + at + 1),
                None => span,
            };
            self.report(
                codes::TAB_INDENTATION,
                "tab character in indentation".to_string(),
                span,
                "tab here",
            );
        } else if info.contains("recursion limit exceeded") {
            // The scanner counts flow levels ahead of the events (up to 255), so deep `[[[…`
            // can stop there before the depth check sees the 65th level: same limit, same code.
            self.report(
                codes::LIMIT_EXCEEDED,
                format!("nesting deeper than {} levels", self.limits.max_depth),
                span,
                "limit reached here",
            );
        } else {
            let message = info.replace(" at byte", " at character");
            self.report(
                codes::YAML_SYNTAX,
                format!("invalid YAML: {message}"),
                span,
                "here",
            );
        }
    }

    /// Ends a quoted scalar's span at its closing quote: saphyr-parser extends it over trailing
    /// blanks and a comment, which would underline the comment too.
    fn trim_quoted(&self, span: ByteSpan, style: ScalarStyle) -> ByteSpan {
        let quote = match style {
            ScalarStyle::DoubleQuoted => b'"',
            ScalarStyle::SingleQuoted => b'\'',
            _ => return span,
        };
        let bytes = self.full_text.as_bytes();
        let (start, end) = (span.start as usize, (span.end as usize).min(bytes.len()));
        if bytes.get(start) != Some(&quote) {
            return span;
        }
        let mut i = start + 1;
        while i < end {
            match bytes[i] {
                b'\\' if quote == b'"' => i += 2,
                b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
                b if b == quote => return ByteSpan::new(start, i + 1),
                _ => i += 1,
            }
        }
        span
    }

    /// A one-character span at `offset` (or empty at the end of the text).
    fn point_span(&self, offset: usize) -> ByteSpan {
        let end = self.full_text[offset..]
            .chars()
            .next()
            .filter(|c| *c != '\n' && *c != '\r')
            .map_or(offset, |c| offset + c.len_utf8());
        ByteSpan::new(offset, end)
    }

    /// `span`, or the character at its start when it is empty: never past the end of the
    /// text and never inside a multi-byte character (found by the yaml_load fuzz target).
    fn at_least_one_char(&self, span: ByteSpan) -> ByteSpan {
        if span.is_empty() {
            self.point_span(span.start as usize)
        } else {
            span
        }
    }

    fn limit(&mut self, message: String, span: ByteSpan) -> Abort {
        self.report(codes::LIMIT_EXCEEDED, message, span, "limit reached here");
        Abort
    }

    fn on_event(&mut self, event: Event<'_>, parser_span: ParserSpan) -> Result<(), Abort> {
        let span = self.offsets.span(&parser_span);
        let is_map = matches!(event, Event::MappingStart(..));
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            Event::DocumentStart(_) => {
                self.nodes.clear();
                self.stack.clear();
                self.root = None;
                self.tainted = false;
                self.anchors.clear();
                self.open_anchors.clear();
                self.doc_start = span;
            }
            Event::DocumentEnd => self.finish_document(span),
            Event::Alias(anchor) => self.alias(anchor, span)?,
            Event::Scalar(text, style, anchor, tag) => {
                self.check_node_budget(span)?;
                if text.len() > self.limits.max_scalar_bytes {
                    return Err(self.limit(
                        format!(
                            "scalar of {} bytes exceeds the limit of {} bytes",
                            text.len(),
                            self.limits.max_scalar_bytes
                        ),
                        self.point_span(span.start as usize),
                    ));
                }
                if self.is_key_position() {
                    return self.on_key(&text, style, tag.as_deref(), span);
                }
                let value = match resolve_scalar(&text, style, tag.as_deref()) {
                    Resolved::Value(v) => v,
                    Resolved::OutOfRange => {
                        self.report(
                            codes::NUMBER_OUT_OF_RANGE,
                            format!("number {} cannot be represented exactly", code(&text)),
                            span,
                            "out of range",
                        );
                        Value::Null
                    }
                    Resolved::UnsupportedTag(tag) => {
                        self.report(
                            codes::UNSUPPORTED_TAG,
                            format!("unsupported tag {}", code(&tag)),
                            span,
                            "tagged node",
                        );
                        Value::Null
                    }
                };
                let flags = if style == ScalarStyle::Plain && tag.is_none() {
                    FLAG_PLAIN
                } else {
                    0
                };
                let span = self.trim_quoted(span, style);
                let record = self.push_record(span, flags);
                if anchor != 0 {
                    self.open_anchors.push((anchor, record));
                }
                self.complete(value, record);
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                self.check_node_budget(span)?;
                if self.stack.len() >= self.limits.max_depth {
                    return Err(self.limit(
                        format!("nesting deeper than {} levels", self.limits.max_depth),
                        self.point_span(span.start as usize),
                    ));
                }
                if self.is_key_position() {
                    self.report(
                        codes::COMPLEX_KEY,
                        "a mapping key must be a scalar, not a collection".to_string(),
                        self.point_span(span.start as usize),
                        "collection used as a key",
                    );
                    return Err(Abort);
                }
                if let Some(tag) = tag.as_deref() {
                    let core = tag.handle == "tag:yaml.org,2002:"
                        && tag.suffix == if is_map { "map" } else { "seq" };
                    if !core {
                        self.report(
                            codes::UNSUPPORTED_TAG,
                            format!("unsupported tag {}", code(&tag.to_string())),
                            self.at_least_one_char(span),
                            "tagged node",
                        );
                    }
                }
                let record = self.push_record(span, 0);
                if anchor != 0 {
                    self.open_anchors.push((anchor, record));
                }
                self.stack.push(if is_map {
                    Frame::Map {
                        record,
                        map: Map::new(),
                        pending_key: None,
                        keys: HashMap::new(),
                    }
                } else {
                    Frame::Seq {
                        record,
                        items: Vec::new(),
                    }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Ok(());
                };
                let (record, value) = match frame {
                    Frame::Map { record, map, .. } => (record, Value::Object(map)),
                    Frame::Seq { record, items } => (record, Value::Array(items)),
                };
                // Block collections end with an empty event span; flow ones at `]` or `}`.
                let last_child_end = self
                    .nodes
                    .last()
                    .map_or(span.end, |n| n.span.end.max(n.key.end));
                let end = if span.is_empty() {
                    last_child_end
                } else {
                    span.end
                };
                self.nodes[record].span.end = end.max(self.nodes[record].span.start);
                self.complete(value, record);
            }
        }
        Ok(())
    }

    fn is_key_position(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame::Map {
                pending_key: None,
                ..
            })
        )
    }

    fn check_node_budget(&mut self, span: ByteSpan) -> Result<(), Abort> {
        self.file_nodes += 1;
        if self.file_nodes > self.limits.max_nodes {
            return Err(self.limit(
                format!("more than {} nodes in one file", self.limits.max_nodes),
                self.point_span(span.start as usize),
            ));
        }
        Ok(())
    }

    fn on_key(
        &mut self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        span: ByteSpan,
    ) -> Result<(), Abort> {
        // Keys are compared as strings, as they will be in JSON: `1` and "1" collide.
        let key_text = match resolve_scalar(text, style, tag) {
            Resolved::Value(Value::String(s)) => s,
            Resolved::Value(Value::Null) => {
                self.report(
                    codes::COMPLEX_KEY,
                    "a mapping key must not be empty or null".to_string(),
                    self.at_least_one_char(span),
                    "null key",
                );
                return Err(Abort);
            }
            Resolved::Value(other) => other.to_string(),
            Resolved::OutOfRange => text.to_string(),
            Resolved::UnsupportedTag(tag) => {
                self.report(
                    codes::UNSUPPORTED_TAG,
                    format!("unsupported tag {}", code(&tag)),
                    span,
                    "tagged key",
                );
                text.to_string()
            }
        };
        let mut skip = false;
        if key_text == "<<" && style == ScalarStyle::Plain {
            self.report(
                codes::MERGE_KEY,
                "merge key `<<` is not supported".to_string(),
                span,
                "merge key",
            );
            skip = true;
        }
        let file = self.file;
        let Some(Frame::Map { keys, .. }) = self.stack.last_mut() else {
            unreachable!("is_key_position checked the frame");
        };
        if let Some(first) = keys.get(&key_text).copied() {
            skip = true;
            let message = format!("duplicate key {}", code(&key_text));
            self.findings.push(
                codes::DUPLICATE_KEY
                    .finding(message)
                    .at_span(file, span)
                    .with_label("second occurrence")
                    .with_related(RelatedLabel {
                        location: crate::source::Location { file, span: first },
                        message: "first occurrence".to_string(),
                        pointer: None,
                        document: None,
                    }),
            );
            self.tainted = true;
        } else {
            keys.insert(key_text.clone(), span);
        }
        if let Some(Frame::Map { pending_key, .. }) = self.stack.last_mut() {
            *pending_key = Some(PendingKey {
                text: key_text,
                span,
                skip,
            });
        }
        Ok(())
    }

    /// Starts a node record; a mapping value takes its key's span along.
    fn push_record(&mut self, span: ByteSpan, mut flags: u8) -> usize {
        let mut key = ByteSpan::default();
        if let Some(Frame::Map {
            pending_key: Some(pending),
            ..
        }) = self.stack.last()
        {
            key = pending.span;
            flags |= FLAG_HAS_KEY;
        }
        self.nodes.push(NodeSpan {
            span,
            key,
            next: 0,
            flags,
        });
        self.nodes.len() - 1
    }

    /// Attaches a finished node to its parent (or makes it the document root).
    fn complete(&mut self, value: Value, record: usize) {
        self.nodes[record].next = self.nodes.len() as u32;
        if let Some(position) = self.open_anchors.iter().rposition(|(_, r)| *r == record) {
            let (anchor, _) = self.open_anchors.remove(position);
            self.anchors
                .insert(anchor, (value.clone(), record, self.nodes.len()));
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map {
                map, pending_key, ..
            }) => {
                let Some(key) = pending_key.take() else {
                    return;
                };
                if key.skip || value.is_null() {
                    self.nodes[record].flags |= FLAG_SKIPPED;
                } else {
                    map.insert(key.text, value);
                }
            }
        }
    }

    fn alias(&mut self, anchor: usize, span: ByteSpan) -> Result<(), Abort> {
        let Some((value, first, end)) = self.anchors.get(&anchor).cloned() else {
            self.report(
                codes::YAML_SYNTAX,
                "alias refers to an anchor that is not defined".to_string(),
                span,
                "unknown anchor",
            );
            return Err(Abort);
        };
        if self.is_key_position() {
            self.report(
                codes::COMPLEX_KEY,
                "an alias cannot be used as a mapping key".to_string(),
                span,
                "alias as key",
            );
            return Err(Abort);
        }
        let count = end - first;
        self.alias_nodes += count;
        self.file_nodes += count;
        if self.alias_nodes > self.limits.max_alias_nodes {
            return Err(self.limit(
                format!(
                    "aliases expand to more than {} nodes (alias expansion limit)",
                    self.limits.max_alias_nodes
                ),
                span,
            ));
        }
        if self.file_nodes > self.limits.max_nodes {
            return Err(self.limit(
                format!("more than {} nodes in one file", self.limits.max_nodes),
                span,
            ));
        }
        // Every node of the copy points at the alias itself: that is where the value is used.
        let record = self.push_record(span, 0);
        let offset = record as i64 - first as i64;
        for source in first + 1..end {
            let node = self.nodes[source];
            self.nodes.push(NodeSpan {
                span,
                key: if node.flags & FLAG_HAS_KEY != 0 {
                    span
                } else {
                    ByteSpan::default()
                },
                next: (node.next as i64 + offset) as u32,
                flags: node.flags & !FLAG_PLAIN,
            });
        }
        self.complete(value, record);
        Ok(())
    }

    fn finish_document(&mut self, span: ByteSpan) {
        let root = self.root.take();
        let nodes = std::mem::take(&mut self.nodes);
        match root {
            None => {
                // The document ended early (an error was reported inside it).
            }
            Some(Value::Null) if nodes.len() <= 1 && !self.tainted => {
                let at = if self.doc_start.is_empty() {
                    span
                } else {
                    self.doc_start
                };
                self.findings.push(
                    codes::EMPTY_DOCUMENT
                        .finding("empty document")
                        .at_span(self.file, at)
                        .with_label("this document is empty"),
                );
            }
            Some(value) => {
                let head = match nodes.get(1) {
                    Some(first) if first.flags & FLAG_HAS_KEY != 0 && value.is_object() => {
                        first.key
                    }
                    _ => {
                        let root_span = nodes.first().map(|n| n.span).unwrap_or(span);
                        self.point_span(root_span.start as usize)
                    }
                };
                self.documents.push(LoadedDocument {
                    value,
                    spans: SpanTable { nodes },
                    head,
                    tainted: self.tainted,
                });
            }
        }
        self.tainted = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load_str(text: &str) -> LoadedFile {
        load(text, 0, FileId(0), &Limits::default())
    }

    fn slice(text: &str, span: ByteSpan) -> &str {
        &text[span.range()]
    }

    fn codes_of(file: &LoadedFile) -> Vec<&str> {
        file.findings.iter().map(|f| &*f.code).collect()
    }

    #[test]
    fn loads_a_mapping_with_core_schema_scalars() {
        let text = "kind: Partner\ncountry: NO\nactive: yes\nflag: true\nn: 012\nf: 1.5\nd: 2024-01-10\nq: \"7\"\n";
        let file = load_str(text);
        assert!(file.findings.is_empty(), "{:?}", file.findings);
        assert_eq!(
            file.documents[0].value,
            json!({"kind": "Partner", "country": "NO", "active": "yes", "flag": true, "n": 12, "f": 1.5, "d": "2024-01-10", "q": "7"})
        );
    }

    #[test]
    fn pointer_spans_slice_back_to_the_node() {
        let text = "kind: DelegatedAdmin\nroles: [Directory Readers, \"Global Administrator\"]\nend_on: 2024-01-01\n";
        let file = load_str(text);
        let doc = &file.documents[0];
        let info = doc.spans.lookup(&doc.value, "/roles/1").unwrap();
        assert_eq!(slice(text, info.span), "\"Global Administrator\"");
        assert!(!info.plain_scalar);
        let end = doc.spans.lookup(&doc.value, "/end_on").unwrap();
        assert_eq!(slice(text, end.span), "2024-01-01");
        assert_eq!(slice(text, end.key_span.unwrap()), "end_on");
        assert!(end.plain_scalar);
        assert_eq!(slice(text, doc.head), "kind");
    }

    #[test]
    fn quoted_scalar_span_stops_at_the_closing_quote() {
        // saphyr-parser 0.3.4 extends a quoted scalar's span over a trailing comment.
        let text = "country: \"NO\"   # legal location\nname: 'it''s' # c\nesc: \"a\\\"b\" # d\n";
        let file = load_str(text);
        let doc = &file.documents[0];
        assert_eq!(
            slice(text, doc.spans.lookup(&doc.value, "/country").unwrap().span),
            "\"NO\""
        );
        assert_eq!(
            slice(text, doc.spans.lookup(&doc.value, "/name").unwrap().span),
            "'it''s'"
        );
        assert_eq!(
            slice(text, doc.spans.lookup(&doc.value, "/esc").unwrap().span),
            "\"a\\\"b\""
        );
    }

    #[test]
    fn multi_line_string_span() {
        let text = "kind: Partner\nnotes: |\n  first line\n  second line\nid: x\n";
        let file = load_str(text);
        let doc = &file.documents[0];
        let info = doc.spans.lookup(&doc.value, "/notes").unwrap();
        assert!(slice(text, info.span).contains("second line"));
        assert_eq!(
            slice(text, doc.spans.lookup(&doc.value, "/id").unwrap().span),
            "x"
        );
    }

    #[test]
    fn multi_document_file_keeps_spans_per_document() {
        let text = "kind: Partner\nid: a\n---\nkind: Customer\nid: b\nname: B\n";
        let file = load_str(text);
        assert_eq!(file.documents.len(), 2);
        let second = &file.documents[1];
        let info = second.spans.lookup(&second.value, "/name").unwrap();
        assert_eq!(slice(text, info.span), "B");
        assert_eq!(slice(text, second.head), "kind");
        assert_eq!(text[..second.head.start as usize].matches('\n').count(), 3);
    }

    #[test]
    fn crlf_line_endings() {
        let text = "kind: Partner\r\nid: a\r\nname: Fabrikam IT\r\n";
        let file = load_str(text);
        assert!(file.findings.is_empty());
        let doc = &file.documents[0];
        assert_eq!(doc.value["name"], "Fabrikam IT");
        assert_eq!(
            slice(text, doc.spans.lookup(&doc.value, "/name").unwrap().span),
            "Fabrikam IT"
        );
    }

    #[test]
    fn multibyte_text_gives_byte_spans() {
        let text = "név: \"Ünïcödé\"\ncountry: false\n";
        let file = load_str(text);
        let doc = &file.documents[0];
        let info = doc.spans.lookup(&doc.value, "/country").unwrap();
        assert_eq!(slice(text, info.span), "false");
    }

    #[test]
    fn nested_pointer_with_escaped_keys() {
        let text = "a:\n  b/c:\n    - x\n    - {t~: 1, u: [2, 3]}\n";
        let file = load_str(text);
        let doc = &file.documents[0];
        let info = doc.spans.lookup(&doc.value, "/a/b~1c/1/u/1").unwrap();
        assert_eq!(slice(text, info.span), "3");
        let info = doc.spans.lookup(&doc.value, "/a/b~1c/1/t~0").unwrap();
        assert_eq!(slice(text, info.span), "1");
        assert!(doc.spans.lookup(&doc.value, "/a/zz").is_none());
        let located = doc.spans.locate(&doc.value, "/a/b~1c/1/missing").unwrap();
        assert_eq!(slice(text, located.span), "{t~: 1, u: [2, 3]}");
    }

    #[test]
    fn null_values_are_absent_but_siblings_still_resolve() {
        let text = "a: null\nb: ~\nc:\nd: 4\n";
        let file = load_str(text);
        let doc = &file.documents[0];
        assert_eq!(doc.value, json!({"d": 4}));
        assert_eq!(
            slice(text, doc.spans.lookup(&doc.value, "/d").unwrap().span),
            "4"
        );
    }

    #[test]
    fn duplicate_key_shows_both_places() {
        let text = "kind: Partner\nid: a\nid: b\n";
        let file = load_str(text);
        assert_eq!(codes_of(&file), ["Y002"]);
        let f = &file.findings[0];
        assert_eq!(slice(text, f.location.unwrap().span), "id");
        assert_eq!(f.location.unwrap().span.start, 20);
        assert_eq!(f.related[0].location.span.start, 14);
        assert_eq!(file.documents[0].value["id"], "a");
        assert!(file.documents[0].tainted);
    }

    #[test]
    fn keys_that_collide_as_strings_are_duplicates() {
        let file = load_str("1: x\n\"1\": y\n");
        assert_eq!(codes_of(&file), ["Y002"]);
    }

    #[test]
    fn syntax_error_is_located() {
        let text = "kind: Partner\nid: [a, b\nname: x\n";
        let file = load_str(text);
        assert_eq!(codes_of(&file), ["Y001"]);
        assert!(file.findings[0].message.starts_with("invalid YAML"));
    }

    #[test]
    fn tab_indentation_has_its_own_code() {
        let text = "roles:\n\t- x\n";
        let file = load_str(text);
        assert_eq!(codes_of(&file), ["Y003"]);
        assert_eq!(file.findings[0].location.unwrap().span, ByteSpan::new(7, 8));
    }

    #[test]
    fn empty_inputs() {
        assert_eq!(codes_of(&load_str("")), ["Y006"]);
        assert_eq!(codes_of(&load_str("# only a comment\n")), ["Y006"]);
        let file = load_str("---\n");
        assert_eq!(codes_of(&file), ["Y007"]);
        let file = load_str("kind: Partner\n---\n---\nkind: Customer\n");
        assert_eq!(codes_of(&file), ["Y007"]);
        assert_eq!(file.documents.len(), 2);
    }

    #[test]
    fn numbers_out_of_range_and_special_floats() {
        for text in [
            "id: 99999999999999999999\n",
            "x: .nan\n",
            "x: -.inf\n",
            "x: 1e999\n",
        ] {
            let file = load_str(text);
            assert_eq!(codes_of(&file), ["Y011"], "{text}");
        }
    }

    #[test]
    fn tags_and_merge_keys() {
        assert_eq!(codes_of(&load_str("a: !!binary aGVsbG8=\n")), ["Y009"]);
        assert_eq!(codes_of(&load_str("a: !custom x\n")), ["Y009"]);
        assert_eq!(
            codes_of(&load_str("a: !!python/object:os.system x\n")),
            ["Y009"]
        );
        let file = load_str("a: !!str 5\nb: ! 6\nc: !!int 7\n");
        assert!(file.findings.is_empty());
        assert_eq!(file.documents[0].value, json!({"a": "5", "b": "6", "c": 7}));
        assert_eq!(
            codes_of(&load_str("base: &b {x: 1}\nother:\n  <<: *b\n")),
            ["Y010"]
        );
    }

    #[test]
    fn aliases_expand_within_budget() {
        let text = "a: &x [1, 2]\nb: *x\n";
        let file = load_str(text);
        let doc = &file.documents[0];
        assert_eq!(doc.value, json!({"a": [1, 2], "b": [1, 2]}));
        let info = doc.spans.lookup(&doc.value, "/b/1").unwrap();
        assert_eq!(slice(text, info.span), "*x");
    }

    #[test]
    fn billion_laughs_hits_the_alias_limit() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..9 {
            let prev = level - 1;
            text.push_str(&format!("a{level}: &a{level} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
        }
        let file = load_str(&text);
        assert_eq!(codes_of(&file), ["Y008"]);
        assert!(file.findings[0].message.contains("alias expansion"));
    }

    #[test]
    fn deep_nesting_stops_on_events() {
        let text = "- ".repeat(100_000) + "1\n";
        let file = load_str(&text);
        assert_eq!(codes_of(&file), ["Y008"]);
        assert!(file.findings[0].message.contains("nesting deeper than 64"));
        for flow in ["[".repeat(10_000), "{a: ".repeat(10_000)] {
            let file = load_str(&flow);
            assert_eq!(codes_of(&file), ["Y008"]);
            assert!(file.findings[0].message.contains("nesting deeper than 64"));
        }
    }

    #[test]
    fn finding_spans_stay_inside_the_text_and_on_char_boundaries() {
        // Found by fuzzing: a one-byte span at a multi-byte character, or one past the end.
        let cases = [
            "\u{fcff}kind:ind:ind:".to_string(),
            "é".to_string(),
            format!("{}é", "- ".repeat(70)),
            format!("a: [{}", "[".repeat(300)),
            "é: 1\n? ".to_string(),
            "a: 1\n? ".to_string(),
            format!("\u{fcff}{}", "kind:ind:".repeat(8)),
            "é:\n\t- x\n".to_string(),
        ];
        for text in &cases {
            let file = load_str(text);
            let spans = file
                .findings
                .iter()
                .filter_map(|f| f.location.map(|l| l.span))
                .chain(file.documents.iter().map(|d| d.head));
            for span in spans {
                assert!(span.end as usize <= text.len(), "{text:?}: {span:?}");
                assert!(
                    text.is_char_boundary(span.start as usize),
                    "{text:?}: {span:?}"
                );
                assert!(
                    text.is_char_boundary(span.end as usize),
                    "{text:?}: {span:?}"
                );
            }
        }
    }

    #[test]
    fn non_ascii_directives_are_refused_before_they_shift_spans() {
        // Found by fuzzing: saphyr-parser counted the directive's bytes as characters, so the
        // span of `ie` pointed at `e`.
        let file = load_str("%é\n---\nie");
        assert_eq!(codes_of(&file), ["Y001"]);
        assert_eq!(file.findings[0].location.unwrap().span, ByteSpan::new(0, 1));
        assert!(file.documents.is_empty());
        let ascii = load_str("%YAML 1.2\n---\nid: é\nx: abc\n");
        assert!(ascii.findings.is_empty());
        let doc = &ascii.documents[0];
        let span = doc.spans.lookup(&doc.value, "/x").unwrap().span;
        assert_eq!(&"%YAML 1.2\n---\nid: é\nx: abc\n"[span.range()], "abc");
    }

    #[test]
    fn a_nul_character_is_reported_as_a_nul_wherever_it_is() {
        // saphyr-parser takes a raw NUL for the end of the input; these were reported as a
        // tab in the indentation (Y003) or an unexpected end of a quoted scalar.
        for text in [
            "a: x\0y\n",
            "a: \"x\0y\"\n",
            "a: 'x\0y'\n",
            "a: x # \0\n",
            "\0a: x\n",
            "a: |\n  x\0y\n",
            "a: [x\0y]\n",
            "a: 1\n---\nb: \0\n",
        ] {
            let file = load_str(text);
            assert_eq!(codes_of(&file), ["Y001"], "{text:?}");
            let finding = &file.findings[0];
            assert_eq!(
                finding.message, "a NUL character (`\\0`) is not allowed in YAML",
                "{text:?}"
            );
            let at = text.find('\0').unwrap();
            assert_eq!(
                finding.location.unwrap().span,
                ByteSpan::new(at, at + 1),
                "{text:?}"
            );
            assert!(file.documents.is_empty());
        }
        // The escape `\0` in a double-quoted scalar is a value, not a NUL in the text.
        let file = load_str("a: \"x\\0y\"\n");
        assert!(file.findings.is_empty(), "{:?}", file.findings);
        assert_eq!(file.documents[0].value["a"], "x\u{0}y");
    }

    #[test]
    fn scalar_and_node_limits() {
        let limits = Limits {
            max_scalar_bytes: 10,
            max_nodes: 5,
            ..Limits::default()
        };
        let file = load("a: 12345678901\n", 0, FileId(0), &limits);
        assert_eq!(codes_of(&file), ["Y008"]);
        let file = load("[1, 2, 3, 4, 5, 6]\n", 0, FileId(0), &limits);
        assert_eq!(codes_of(&file), ["Y008"]);
    }

    #[test]
    fn complex_keys_are_refused() {
        assert_eq!(codes_of(&load_str("? [a, b]\n: x\n")), ["Y012"]);
        assert_eq!(codes_of(&load_str("~: x\n")), ["Y012"]);
    }

    #[test]
    fn bom_offset_is_kept() {
        let text = "\u{feff}kind: Partner\nid: x\n";
        let file = load(text, 3, FileId(0), &Limits::default());
        let doc = &file.documents[0];
        assert_eq!(
            slice(text, doc.spans.lookup(&doc.value, "/id").unwrap().span),
            "x"
        );
    }
}
