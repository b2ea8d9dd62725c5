//! Property tests P1–P3 (hardening notes §6): emit → load round trip with exact spans, output
//! independent of the thread count, and limits that are monotone. Case counts stay modest so
//! that `cargo test` stays fast on a 2-core machine.

use channelguard::check::{self, CheckOptions};
use channelguard::finding::Severity;
use channelguard::limits::Limits;
use channelguard::report::json::JsonReporter;
use channelguard::report::{Report, Reporter};
use channelguard::source::FileId;
use channelguard::yaml;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// A scalar and how it is written.
#[derive(Clone, Debug)]
enum Scalar {
    Plain(String),
    Quoted(String),
    Int(i64),
    Bool(bool),
}

#[derive(Clone, Debug)]
enum Tree {
    Leaf(Scalar),
    Seq(Vec<Tree>),
    Map(Vec<(String, Tree)>),
}

fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        "[a-z][a-z0-9_]{0,8}"
            .prop_filter("not a core-schema keyword", |s| !matches!(
                s.as_str(),
                "true" | "false" | "null"
            ))
            .prop_map(Scalar::Plain),
        // Any text, control characters and non-ASCII included, double-quoted.
        any::<String>().prop_map(Scalar::Quoted),
        "[a-zé ü€𝄞:#-]{0,6}".prop_map(Scalar::Quoted),
        any::<i64>().prop_map(Scalar::Int),
        any::<bool>().prop_map(Scalar::Bool),
    ]
}

fn tree() -> impl Strategy<Value = Tree> {
    scalar()
        .prop_map(Tree::Leaf)
        .prop_recursive(8, 64, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Tree::Seq),
                prop::collection::btree_map("[a-zA-Z0-9 /~é_-]{1,6}", inner, 0..5)
                    .prop_map(|m| Tree::Map(m.into_iter().collect())),
            ]
        })
}

fn scalar_text(s: &Scalar) -> String {
    match s {
        Scalar::Plain(t) => t.clone(),
        Scalar::Quoted(t) => serde_json::to_string(t).unwrap(),
        Scalar::Int(n) => n.to_string(),
        Scalar::Bool(b) => b.to_string(),
    }
}

fn scalar_value(s: &Scalar) -> Value {
    match s {
        Scalar::Plain(t) | Scalar::Quoted(t) => Value::String(t.clone()),
        Scalar::Int(n) => Value::from(*n),
        Scalar::Bool(b) => Value::Bool(*b),
    }
}

fn value(tree: &Tree) -> Value {
    match tree {
        Tree::Leaf(s) => scalar_value(s),
        Tree::Seq(items) => Value::Array(items.iter().map(value).collect()),
        Tree::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), value(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

/// Emits block YAML; records (pointer, exact text) of every scalar and (pointer, key text).
struct Emitter {
    out: String,
    scalars: Vec<(String, String)>,
    keys: Vec<(String, String)>,
}

impl Emitter {
    fn inline_or_nested(&mut self, tree: &Tree, indent: usize, pointer: &str) {
        match tree {
            Tree::Leaf(s) => {
                let text = scalar_text(s);
                self.scalars.push((pointer.to_string(), text.clone()));
                self.out.push_str(&text);
                self.out.push('\n');
            }
            Tree::Seq(items) if items.is_empty() => self.out.push_str("[]\n"),
            Tree::Map(entries) if entries.is_empty() => self.out.push_str("{}\n"),
            nested => {
                self.out.push('\n');
                self.block(nested, indent + 2, pointer);
            }
        }
    }

    fn block(&mut self, tree: &Tree, indent: usize, pointer: &str) {
        let pad = " ".repeat(indent);
        match tree {
            Tree::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.out.push_str(&pad);
                    self.out.push_str("- ");
                    self.inline_or_nested(item, indent, &format!("{pointer}/{i}"));
                }
            }
            Tree::Map(entries) => {
                for (key, item) in entries {
                    let child = format!("{pointer}/{}", yaml::escape_pointer_segment(key));
                    let key_text = serde_json::to_string(key).unwrap();
                    self.keys.push((child.clone(), key_text.clone()));
                    self.out.push_str(&pad);
                    self.out.push_str(&key_text);
                    self.out.push_str(": ");
                    self.inline_or_nested(item, indent, &child);
                }
            }
            leaf => self.inline_or_nested(leaf, indent, pointer),
        }
    }
}

fn emit(tree: &Tree) -> Emitter {
    let mut e = Emitter {
        out: String::new(),
        scalars: Vec::new(),
        keys: Vec::new(),
    };
    match tree {
        Tree::Seq(items) if items.is_empty() => e.out.push_str("[]\n"),
        Tree::Map(entries) if entries.is_empty() => e.out.push_str("{}\n"),
        other => e.block(other, 0, ""),
    }
    e
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// P1: emit → load gives the same value, and every scalar's and key's span slices back to
    /// exactly the text that was emitted for it.
    #[test]
    fn p1_emit_load_round_trip_with_exact_spans(tree in tree()) {
        let emitted = emit(&tree);
        let loaded = yaml::load(&emitted.out, 0, FileId(0), &Limits::default());
        prop_assert!(loaded.findings.is_empty(), "{:?}\n{}", loaded.findings, emitted.out);
        prop_assert_eq!(loaded.documents.len(), 1);
        let doc = &loaded.documents[0];
        prop_assert_eq!(&doc.value, &value(&tree));
        for (pointer, text) in &emitted.scalars {
            let info = doc.spans.node_at(&doc.value, pointer).expect("scalar has a span");
            prop_assert_eq!(&emitted.out[info.span.range()], text.as_str(), "at `{}`", pointer);
        }
        for (pointer, text) in &emitted.keys {
            let info = doc.spans.node_at(&doc.value, pointer).expect("entry has a span");
            let key = info.key_span.expect("mapping entry has a key span");
            prop_assert_eq!(&emitted.out[key.range()], text.as_str(), "key at `{}`", pointer);
        }
    }

    /// P3: an input rejected under a limit is rejected under every smaller one.
    #[test]
    fn p3_limits_are_monotone(tree in tree(), copies in 0usize..40, which in 0usize..4, cut in 1usize..64) {
        // The tree, anchored, then aliased `copies` times.
        let body = emit(&tree).out;
        let indented: String = body.lines().map(|l| format!("  {l}\n")).collect();
        let text = format!(
            "base: &b\n{indented}uses: [{}]\n",
            vec!["*b"; copies].join(", ")
        );
        let limit = |value: usize| {
            let mut limits = Limits::default();
            match which {
                0 => limits.max_depth = value,
                1 => limits.max_nodes = value,
                2 => limits.max_scalar_bytes = value,
                _ => limits.max_alias_nodes = value,
            }
            limits
        };
        let rejected = |value: usize| {
            yaml::load(&text, 0, FileId(0), &limit(value))
                .findings
                .iter()
                .any(|f| &*f.code == "Y008")
        };
        if rejected(cut) {
            for smaller in 0..cut {
                prop_assert!(rejected(smaller), "rejected at {} but not at {}", cut, smaller);
            }
        }
    }
}

/// A small repository of random files: good partners, broken ones, duplicates.
fn file_set() -> impl Strategy<Value = Vec<(u8, u16)>> {
    prop::collection::vec((0u8..6, 0u16..40), 1..24)
}

fn file_text(kind: u8, n: u16) -> String {
    let good = format!(
        "kind: Partner\nid: p{n}\nname: P {n}\ntenant_id: 00000000-0000-4000-8000-{n:012}\npartner_id: \"{}\"\ncsp_role: direct_bill\ncloud: commercial\ncountry: \"US\"\n",
        1_000_000 + n as u32
    );
    match kind {
        0 | 1 => good,
        2 => good.replace("country: \"US\"", "country: NO"),
        3 => good.replace("cloud: commercial", "cloud: [oops"),
        4 => format!("{good}---\nkind: Customer\nid: c{n}\nname: C\ncloud: commercial\n"),
        _ => good.replace("partner_id: \"", "partner_id: 4"),
    }
}

fn render(options: &CheckOptions) -> Vec<u8> {
    let outcome = check::run(options).expect("the check runs");
    let report = Report {
        outcome: &outcome,
        as_of: options.as_of,
        show_waived: true,
        fail_on: Severity::Error,
    };
    let mut out = Vec::new();
    JsonReporter.write(&report, &mut out).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// P2: a random file set gives byte-identical JSON output with 1 and 4 worker threads.
    #[test]
    fn p2_output_does_not_depend_on_the_thread_count(files in file_set()) {
        let dir = tempfile::tempdir().unwrap();
        for (i, (kind, n)) in files.iter().enumerate() {
            let path = dir.path().join(format!("d{}/f{i:02}.yaml", i % 3));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, file_text(*kind, *n)).unwrap();
        }
        let mut options = CheckOptions::new(
            vec![dir.path().to_path_buf()],
            jiff::civil::date(2024, 6, 30),
        );
        options.root = dir.path().to_path_buf();
        options.threads = Some(1);
        let one = render(&options);
        options.threads = Some(4);
        let four = render(&options);
        prop_assert!(one == four, "-j1 and -j4 differ");
    }
}
