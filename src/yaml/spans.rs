//! The span table of one document: every node, found by JSON Pointer, back to its bytes.

use std::borrow::Cow;

use serde_json::Value;

use crate::source::ByteSpan;

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

pub(super) const FLAG_PLAIN: u8 = 1;
/// The entry is not in the JSON value (a `null` value left out, or a duplicate key).
pub(super) const FLAG_SKIPPED: u8 = 2;
pub(super) const FLAG_HAS_KEY: u8 = 4;

#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct NodeSpan {
    pub(super) span: ByteSpan,
    pub(super) key: ByteSpan,
    /// Index of the first record after this node's subtree.
    pub(super) next: u32,
    pub(super) flags: u8,
}

/// Node spans of one document in pre-order, parallel to the JSON value: a mapping's records
/// are followed by its entries' subtrees in source order, a sequence's by its items'.
///
/// About 20 bytes per node; a pointer is resolved by walking the value and the records in
/// step, so no pointer strings are stored.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct SpanTable {
    pub(super) nodes: Vec<NodeSpan>,
}

impl SpanTable {
    /// The node at exactly `pointer` (RFC 6901) inside `value`, the document this table
    /// belongs to; `None` if the pointer does not name a node (see [`SpanTable::closest_node`]).
    pub fn node_at(&self, value: &Value, pointer: &str) -> Option<NodeInfo> {
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

    /// The node at `pointer`, or else its closest ancestor that exists: where a finding about a
    /// missing field is reported (on the mapping that lacks it). `None` only for a pointer that
    /// is not a JSON Pointer or an empty table.
    pub fn closest_node(&self, value: &Value, pointer: &str) -> Option<NodeInfo> {
        let mut pointer = pointer;
        loop {
            if let Some(info) = self.node_at(value, pointer) {
                return Some(info);
            }
            match pointer.rfind('/') {
                Some(cut) => pointer = &pointer[..cut],
                None => return None,
            }
        }
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

#[cfg(test)]
mod tests {
    use crate::limits::Limits;
    use crate::source::FileId;

    #[test]
    fn node_at_is_exact_and_closest_node_falls_back_to_the_nearest_ancestor() {
        let text = "a:\n  b: 1\n  c: [x, y]\n";
        let file = crate::yaml::load(text, 0, FileId(0), &Limits::default());
        let doc = &file.documents[0];
        let slice = |pointer: &str| {
            let node = doc.spans.closest_node(&doc.value, pointer).unwrap();
            &text[node.span.range()]
        };
        assert_eq!(doc.spans.node_at(&doc.value, "/a/b").unwrap().span.len(), 1);
        assert!(doc.spans.node_at(&doc.value, "/a/missing").is_none());
        assert!(doc.spans.node_at(&doc.value, "/a/c/5").is_none());
        assert_eq!(slice("/a/c/1"), "y");
        assert_eq!(slice("/a/c/5"), "[x, y]");
        assert!(slice("/a/missing/deeper").starts_with("b: 1"));
        assert!(doc.spans.closest_node(&doc.value, "no-slash").is_none());
    }

    #[test]
    fn pointer_segments_round_trip() {
        let segment = "a/b~c";
        let escaped = super::escape_pointer_segment(segment);
        assert_eq!(escaped, "a~1b~0c");
        assert_eq!(super::unescape_pointer_segment(&escaped), segment);
    }
}
