//! The YAML loader: turns a file's text into JSON values plus a span table that maps every node
//! (by JSON Pointer) back to its bytes in the file.
//!
//! It is built on `saphyr-parser` events rather than a YAML tree because the measured traps of
//! the tree builders (stack aborts on deep nesting, alias bombs, character offsets) have to be
//! stopped before any tree exists: depth, node count, scalar length and alias expansion are
//! checked on the events. Scalars are resolved with the YAML 1.2 core schema, so `NO`, `yes`
//! and `on` stay strings. Everything that is not plain account data (custom tags, merge keys,
//! complex keys, numbers that cannot be represented, duplicate keys) becomes a located finding.
//!
//! Layout: `load` (events → value: the loader and its limits), `spans` (the [`SpanTable`]
//! from JSON Pointer to bytes), `scalar` (YAML 1.2 core-schema scalar resolution).

use serde_json::Value;

use crate::finding::Finding;
use crate::source::ByteSpan;

mod load;
mod scalar;
mod spans;

pub use load::load;
pub use spans::{escape_pointer_segment, NodeInfo, SpanTable};

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

impl LoadedDocument {
    /// Where a finding about `pointer` goes: the node itself, or the document head when the
    /// node does not exist (a missing or `null` field).
    pub fn span_or_head(&self, pointer: &str) -> ByteSpan {
        self.spans
            .node_at(&self.value, pointer)
            .map_or(self.head, |node| node.span)
    }
}

/// Result of loading one file.
#[derive(Debug, Default)]
pub struct LoadedFile {
    pub documents: Vec<LoadedDocument>,
    pub findings: Vec<Finding>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::source::FileId;
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
    fn span_or_head_falls_back_to_the_document_head_only_for_a_missing_node() {
        let text = "---\nkind: Partner\nid: p\nempty:\n";
        let file = load_str(text);
        let doc = &file.documents[0];
        assert_eq!(slice(text, doc.span_or_head("/id")), "p");
        assert_eq!(doc.span_or_head("/missing"), doc.head);
        // A `null` value is not in the value: the head, not the key's line.
        assert_eq!(doc.span_or_head("/empty"), doc.head);
        assert_eq!(slice(text, doc.head), "kind");
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
        let info = doc.spans.node_at(&doc.value, "/roles/1").unwrap();
        assert_eq!(slice(text, info.span), "\"Global Administrator\"");
        assert!(!info.plain_scalar);
        let end = doc.spans.node_at(&doc.value, "/end_on").unwrap();
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
            slice(
                text,
                doc.spans.node_at(&doc.value, "/country").unwrap().span
            ),
            "\"NO\""
        );
        assert_eq!(
            slice(text, doc.spans.node_at(&doc.value, "/name").unwrap().span),
            "'it''s'"
        );
        assert_eq!(
            slice(text, doc.spans.node_at(&doc.value, "/esc").unwrap().span),
            "\"a\\\"b\""
        );
    }

    #[test]
    fn multi_line_string_span() {
        let text = "kind: Partner\nnotes: |\n  first line\n  second line\nid: x\n";
        let file = load_str(text);
        let doc = &file.documents[0];
        let info = doc.spans.node_at(&doc.value, "/notes").unwrap();
        assert!(slice(text, info.span).contains("second line"));
        assert_eq!(
            slice(text, doc.spans.node_at(&doc.value, "/id").unwrap().span),
            "x"
        );
    }

    #[test]
    fn multi_document_file_keeps_spans_per_document() {
        let text = "kind: Partner\nid: a\n---\nkind: Customer\nid: b\nname: B\n";
        let file = load_str(text);
        assert_eq!(file.documents.len(), 2);
        let second = &file.documents[1];
        let info = second.spans.node_at(&second.value, "/name").unwrap();
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
            slice(text, doc.spans.node_at(&doc.value, "/name").unwrap().span),
            "Fabrikam IT"
        );
    }

    #[test]
    fn multibyte_text_gives_byte_spans() {
        let text = "név: \"Ünïcödé\"\ncountry: false\n";
        let file = load_str(text);
        let doc = &file.documents[0];
        let info = doc.spans.node_at(&doc.value, "/country").unwrap();
        assert_eq!(slice(text, info.span), "false");
    }

    #[test]
    fn nested_pointer_with_escaped_keys() {
        let text = "a:\n  b/c:\n    - x\n    - {t~: 1, u: [2, 3]}\n";
        let file = load_str(text);
        let doc = &file.documents[0];
        let info = doc.spans.node_at(&doc.value, "/a/b~1c/1/u/1").unwrap();
        assert_eq!(slice(text, info.span), "3");
        let info = doc.spans.node_at(&doc.value, "/a/b~1c/1/t~0").unwrap();
        assert_eq!(slice(text, info.span), "1");
        assert!(doc.spans.node_at(&doc.value, "/a/zz").is_none());
        let located = doc
            .spans
            .closest_node(&doc.value, "/a/b~1c/1/missing")
            .unwrap();
        assert_eq!(slice(text, located.span), "{t~: 1, u: [2, 3]}");
    }

    #[test]
    fn null_values_are_absent_but_siblings_still_resolve() {
        let text = "a: null\nb: ~\nc:\nd: 4\n";
        let file = load_str(text);
        let doc = &file.documents[0];
        assert_eq!(doc.value, json!({"d": 4}));
        assert_eq!(
            slice(text, doc.spans.node_at(&doc.value, "/d").unwrap().span),
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
        let info = doc.spans.node_at(&doc.value, "/b/1").unwrap();
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
        let span = doc.spans.node_at(&doc.value, "/x").unwrap().span;
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
            slice(text, doc.spans.node_at(&doc.value, "/id").unwrap().span),
            "x"
        );
    }
}
