//! Events → value: the loader walks `saphyr-parser` events and builds each document's JSON
//! value and span table, stopping on the events themselves when a limit (depth, nodes, scalar
//! length, alias expansion) is reached.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as ParserSpan, Tag};
use serde_json::{Map, Value};

use super::scalar::{resolve_scalar, Resolved};
use super::spans::{NodeSpan, SpanTable, FLAG_HAS_KEY, FLAG_PLAIN, FLAG_SKIPPED};
use super::{LoadedDocument, LoadedFile};
use crate::codes::{self, BuiltinCheck};
use crate::finding::{quoted, Finding, RelatedLabel};
use crate::limits::Limits;
use crate::source::{ByteSpan, FileId};

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
                            format!("number {} cannot be represented exactly", quoted(&text)),
                            span,
                            "out of range",
                        );
                        Value::Null
                    }
                    Resolved::UnsupportedTag(tag) => {
                        self.report(
                            codes::UNSUPPORTED_TAG,
                            format!("unsupported tag {}", quoted(&tag)),
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
                            format!("unsupported tag {}", quoted(&tag.to_string())),
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
                    format!("unsupported tag {}", quoted(&tag)),
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
            let message = format!("duplicate key {}", quoted(&key_text));
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
