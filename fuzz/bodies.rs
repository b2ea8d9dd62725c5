//! Bodies of the fuzz targets F1–F5 (hardening notes §6), shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`), the stable time-boxed runner (`examples/fuzz_smoke.rs`) and the
//! corpus replay (`tests/fuzz_replay.rs`). Each body panics when an invariant breaks; a panic
//! the library catches itself (an X001 internal-error finding) counts as a failure too.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use channelguard::check::{self, CheckOptions, MemoryInput, Outcome};
use channelguard::discover;
use channelguard::finding::Severity;
use channelguard::limits::Limits;
use channelguard::report::human::HumanReporter;
use channelguard::report::json::JsonReporter;
use channelguard::report::{Report, Reporter};
use channelguard::schema::{SchemaSet, BUILTIN_SCHEMAS};
use channelguard::source::ByteSpan;
use channelguard::source::{FileId, SourceMap};
use channelguard::yaml;
use serde_json::Value;

/// The targets, by name.
pub const TARGETS: &[&str] = &[
    "yaml_load",
    "yaml_spans",
    "schema_build",
    "validate_render",
    "policy",
    "policy_natives",
    "human_render",
];

/// Longest policy script the `policy` target runs (the notes' 32 KiB).
pub const MAX_SCRIPT: usize = 32 * 1024;

/// Runs the body of `target` on `data`.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "yaml_load" => yaml_load(data),
        "yaml_spans" => yaml_spans(data),
        "schema_build" => schema_build(data),
        "validate_render" => validate_render(data),
        "policy" => policy(data),
        "policy_natives" => policy_natives(data),
        "human_render" => human_render(data),
        other => panic!("unknown fuzz target `{other}`"),
    }
}

fn assert_span(text: &str, span: ByteSpan, what: &str) {
    assert!(
        span.start <= span.end && span.end as usize <= text.len(),
        "{what} span {span:?} outside a text of {} bytes",
        text.len()
    );
    assert!(
        text.is_char_boundary(span.start as usize) && text.is_char_boundary(span.end as usize),
        "{what} span {span:?} not on a char boundary"
    );
}

/// F1: the loader with limits on returns documents and findings, never panics; findings point
/// inside the file. Also loaded under much smaller limits (they must fail cleanly too).
pub fn yaml_load(data: &[u8]) {
    let read = discover::decode(data.to_vec(), FileId(0));
    for f in &read.findings {
        if let Some(l) = f.location {
            assert!(l.span.end as usize <= data.len());
        }
    }
    if !read.parse {
        return;
    }
    let small = Limits {
        max_depth: 4,
        max_nodes: 32,
        max_scalar_bytes: 16,
        max_alias_nodes: 8,
        ..Limits::default()
    };
    for limits in [Limits::default(), small] {
        let loaded = yaml::load(&read.text, read.bom, FileId(0), &limits);
        for f in &loaded.findings {
            let l = f.location.expect("loader findings are located");
            assert_span(&read.text, l.span, &f.code);
        }
    }
}

/// Every pointer of `value` to a scalar, with the scalar.
fn scalar_pointers(value: &Value, pointer: String, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = yaml::escape_pointer_segment(k);
                scalar_pointers(v, format!("{pointer}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                scalar_pointers(v, format!("{pointer}/{i}"), out);
            }
        }
        scalar => out.push((pointer, scalar.clone())),
    }
}

/// F2: every node's byte span (and key span) is inside the file and on char boundaries, every
/// scalar is found by its pointer, and a one-line plain scalar's bytes load back to the same
/// value.
pub fn yaml_spans(data: &[u8]) {
    let read = discover::decode(data.to_vec(), FileId(0));
    if !read.parse {
        return;
    }
    let text: &str = &read.text;
    let loaded = yaml::load(text, read.bom, FileId(0), &Limits::default());
    for doc in &loaded.documents {
        assert_span(text, doc.head, "head");
        for span in doc.spans.all_spans() {
            assert_span(text, span, "node");
        }
        let mut scalars = Vec::new();
        scalar_pointers(&doc.value, String::new(), &mut scalars);
        for (pointer, value) in scalars {
            let info = doc
                .spans
                .node_at(&doc.value, &pointer)
                .unwrap_or_else(|| panic!("no span for `{pointer}`"));
            let slice = &text[info.span.range()];
            let simple = info.plain_scalar
                && !slice.is_empty()
                && !slice.contains(['\n', '\r', '#', '*', '&', '!', '%'])
                && !slice.starts_with("---")
                && !slice.starts_with("...")
                && slice.trim() == slice;
            if simple {
                // A plain scalar means the same in block and in flow context, except for a few
                // indicators (`>` is a folded scalar in block context but a string in `[>]`):
                // the bytes must load back to the value in at least one of the two contexts.
                let clean = |text: &str| {
                    let again = yaml::load(text, 0, FileId(0), &Limits::default());
                    (again.findings.is_empty() && again.documents.len() == 1)
                        .then(|| again.documents[0].value.clone())
                };
                let block = clean(slice);
                let flow = clean(&format!("[{slice}]"));
                if block.is_some() || flow.is_some() {
                    let in_flow = Value::Array(vec![value.clone()]);
                    assert!(
                        block.as_ref() == Some(&value) || flow.as_ref() == Some(&in_flow),
                        "`{pointer}`: the bytes `{slice}` load as {block:?} / {flow:?}, not {value}"
                    );
                }
            }
        }
    }
}

/// F3: an offline build of any schema text (as `partner.json`, next to the bundled ones)
/// never panics; its findings point inside the schema.
pub fn schema_build(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut files = Vec::new();
    for (name, bundled) in BUILTIN_SCHEMAS {
        let body: Arc<str> = if *name == "partner.json" {
            Arc::from(text.as_str())
        } else {
            Arc::from(*bundled)
        };
        files.push((format!("schemas/{name}"), PathBuf::from(name), body));
    }
    let mut sources = SourceMap::new();
    let loaded = SchemaSet::compile(files, &mut sources);
    for f in &loaded.findings {
        if let Some(l) = f.location {
            assert_span(&sources.get(l.file).text, l.span, &f.code);
        }
    }
}

/// A directory of this process and thread for files a body must put on disk.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "channelguard-fuzz-{}-{:?}-{name}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Renders an outcome through the human and JSON reporters; checks every span.
fn render(outcome: &Outcome) {
    for f in &outcome.findings {
        assert_ne!(&*f.code, "X001", "caught panic: {}", f.message);
        if let Some(l) = f.location {
            assert_span(&outcome.sources.get(l.file).text, l.span, &f.code);
        }
        for r in &f.related {
            assert_span(
                &outcome.sources.get(r.location.file).text,
                r.location.span,
                "related",
            );
        }
    }
    let report = Report {
        outcome,
        as_of: date(),
        show_waived: true,
        fail_on: Severity::Error,
    };
    let mut human = Vec::new();
    HumanReporter::default().write(&report, &mut human).unwrap();
    let human = String::from_utf8(human).unwrap();
    assert!(!human.contains('\x1b'), "escape sequence in human output");
    let mut json = Vec::new();
    JsonReporter.write(&report, &mut json).unwrap();
    serde_json::from_slice::<Value>(&json).expect("JSON report parses");
}

fn date() -> jiff::civil::Date {
    jiff::civil::date(2024, 6, 30)
}

fn run_memory(options: &CheckOptions, text: &str) -> Outcome {
    let input = MemoryInput {
        name: "fuzz.yaml".to_string(),
        path: PathBuf::from("fuzz.yaml"),
        text: Arc::from(text),
        regions: None,
    };
    check::run_with_inputs(options, &[input]).expect("the check runs")
}

fn options(schema_dir: Option<&Path>) -> CheckOptions {
    let mut options = CheckOptions::new(Vec::new(), date());
    options.schema_dir = schema_dir.map(Path::to_path_buf);
    options.threads = Some(1);
    options
}

/// F4: (schema, YAML) → validate with the built-in policies → render every finding through
/// the human and JSON reporters. Input: `schema \0 yaml`, or YAML alone (bundled schemas).
pub fn validate_render(data: &[u8]) {
    let (schema, yaml_bytes) = match data.iter().position(|&b| b == 0) {
        Some(cut) => (Some(&data[..cut]), &data[cut + 1..]),
        None => (None, data),
    };
    let read = discover::decode(yaml_bytes.to_vec(), FileId(0));
    if !read.parse || read.bom > 0 {
        return;
    }
    let dir = schema.map(|schema| {
        let dir = scratch("schemas");
        for (name, bundled) in BUILTIN_SCHEMAS {
            let body = if *name == "partner.json" {
                schema
            } else {
                bundled.as_bytes()
            };
            std::fs::write(dir.join(name), body).unwrap();
        }
        dir
    });
    let outcome = run_memory(&options(dir.as_deref()), &read.text);
    render(&outcome);
}

/// The fixed input of the `policy` target.
pub const POLICY_INPUT: &str = "kind: Partner\nid: fabrikam\nname: Fabrikam IT\ntenant_id: da6c51b5-1246-4a42-b4ab-cbf38df54537\npartner_id: \"4847383\"\ncsp_role: direct_bill\ncloud: commercial\ncountry: \"NO\"\n";

/// F5: any script (≤ 32 KiB) after a valid header, on a fixed document, under our engine
/// settings in the real 16 MiB worker pool: returns within the deadline plus slack, never
/// panics, and everything it reports renders.
pub fn policy(data: &[u8]) {
    let script = String::from_utf8_lossy(&data[..data.len().min(MAX_SCRIPT)]).into_owned();
    let dir = scratch("policies");
    std::fs::write(
        dir.join("XF.rhai"),
        format!(
            "//! id: XF\n//! title: fuzz\n//! severity: error\n//! kinds: Partner\n//! rationale: fuzz\n//! remediation: fuzz\n{script}\n"
        ),
    )
    .unwrap();
    let mut options = options(None);
    options.policies.builtin = false;
    options.policies.directories = vec![dir];
    let started = Instant::now();
    let outcome = run_memory(&options, POLICY_INPUT);
    let elapsed = started.elapsed();
    // One evaluation: the 2 s deadline plus generous slack for a loaded machine.
    assert!(elapsed < Duration::from_secs(10), "policy ran {elapsed:?}");
    render(&outcome);
}

/// The steps `policy_natives` chains: each applied to the string `s`, the array `a`, the map
/// `m` or the closure `f` (which captures `s`); `{n}` is a size taken from the input.
const NATIVE_STEPS: &[&str] = &[
    "s.pad({n}, \"ab\");",
    "s.replace(\"a\", s);",
    "s.replace(\"\", s);",
    "s = s + s;",
    "a.pad({n}, s);",
    "a = a + a;",
    "s = a.to_string();",
    "s = `${m}${a}`;",
    "s = m.to_json();",
    "a = s.split(\"a\");",
    "a = a.map(|x| a);",
    "m[`k{n}`] = f;",
    "a = s.to_chars();",
    "a = a.zip(a, |x, y| s);",
    "s = q(m);",
    "throw m;",
];

/// F6: a policy chaining size-multiplying natives (issue 11 item 2): 3 input bytes per step
/// (the step, then a 16-bit size scaled by 256). Same invariants as F5: no X001, under 10 s,
/// the output renders; an unbounded allocation aborts the fuzzer (`-rss_limit_mb`).
pub fn policy_natives(data: &[u8]) {
    let steps: Vec<String> = data
        .chunks(3)
        .take(16)
        .map(|c| {
            let step = NATIVE_STEPS[usize::from(c[0]) % NATIVE_STEPS.len()];
            let n = c
                .get(1..3)
                .map_or(0, |b| u32::from(u16::from_le_bytes([b[0], b[1]])))
                << 8;
            step.replace("{n}", &n.to_string())
        })
        .collect();
    let script = format!(
        "fn check(doc) {{ let s = \"ab\"; let a = [1]; let m = #{{}}; let f = || s; {} }}",
        steps.join(" ")
    );
    policy(script.as_bytes());
}

/// The most findings the `human_render` target makes from one input.
pub const MAX_RENDER_FINDINGS: usize = 2_000;

/// F7: the human renderer on any text with long lines and many findings. The input is
/// `control \0 text` (or text alone): the text becomes a source file (lossy UTF-8, repeated
/// until it is at least 64 KiB with one line past column 65,535 when the control asks), and
/// the control bytes become findings, four bytes each (span start, span length, a related
/// label's offset, flags), up to [`MAX_RENDER_FINDINGS`]. The report must render without
/// panicking, in time linear in the findings, show every finding once with its true
/// `file:line:column`, keep every output line short (long lines are clipped), and carry no
/// raw unsafe character (`escape`).
pub fn human_render(data: &[u8]) {
    use channelguard::escape::is_unsafe;
    use channelguard::finding::{Finding, RelatedLabel};
    use channelguard::source::Location;
    use channelguard::source::{FileRole, SourceFile};

    let (control, text) = match data.iter().position(|&b| b == 0) {
        Some(cut) => (&data[..cut], &data[cut + 1..]),
        None => (&[][..], data),
    };
    let mut text = String::from_utf8_lossy(text).into_owned();
    if control.first().is_some_and(|&b| b & 1 == 1) {
        // One long line: the text without line breaks, repeated past column 65,535.
        let line: String = text.chars().filter(|&c| c != '\n').collect();
        let line = if line.is_empty() {
            "x".to_string()
        } else {
            line
        };
        let mut long = String::new();
        while long.chars().count() < 70_000 {
            long.push_str(&line);
        }
        text = format!("head\n{long}\ntail\n");
    }
    let mut sources = SourceMap::new();
    let file = sources.add(SourceFile::new(
        "fuzz\u{1b}[2J\n::error x.yaml",
        "fuzz.yaml",
        Arc::from(text.as_str()),
        FileRole::Data,
    ));
    let len = text.len().max(1);
    let mut findings = Vec::new();
    let chunks = control.get(1..).unwrap_or(&[]).chunks(4);
    for (i, chunk) in chunks.take(MAX_RENDER_FINDINGS).enumerate() {
        let byte = |k: usize| chunk.get(k).copied().unwrap_or(0) as usize;
        // Spread the starts over the whole text, biased to its end (the slow case).
        let start = (len - 1).saturating_sub(byte(0) * len / 256 + i);
        let end = start + byte(1) * byte(1);
        let mut finding = Finding::new(
            "X999",
            Severity::Error,
            format!("finding {i} \u{9b}31m ##vso[task.setvariable variable=x]y"),
        );
        finding.location = Some(Location {
            file,
            span: ByteSpan::new(start, end),
        });
        finding.label = Some("label \u{202e}".to_string());
        if byte(3) & 1 == 1 {
            finding.related.push(RelatedLabel {
                location: Location {
                    file,
                    span: ByteSpan::new(byte(2) * len / 256, byte(2) * len / 256 + 3),
                },
                message: "related\r\n::warning x".to_string(),
                pointer: None,
                document: None,
            });
        }
        findings.push(finding);
    }
    let outcome = Outcome {
        sources,
        findings,
        stats: Default::default(),
        policies: Vec::new(),
        reached: Default::default(),
        suppressed: Default::default(),
        documents: Vec::new(),
        repository: Some(Arc::new(channelguard::repository::Repository::new(
            Vec::new(),
        ))),
    };
    let report = Report {
        outcome: &outcome,
        as_of: date(),
        show_waived: true,
        fail_on: Severity::Error,
    };
    let started = Instant::now();
    let mut out = Vec::new();
    HumanReporter {
        timing: false,
        ..HumanReporter::default()
    }
    .write(&report, &mut out)
    .unwrap();
    let elapsed = started.elapsed();
    let out = String::from_utf8(out).expect("human output is UTF-8");
    // Linear: a generous per-finding budget on a debug build, never the whole text per finding.
    let budget = Duration::from_secs(2) + Duration::from_millis(5) * outcome.findings.len() as u32;
    assert!(elapsed < budget, "rendering took {elapsed:?}");
    assert!(
        !out.chars().any(|c| is_unsafe(c) && c != '\n'),
        "unsafe character in the human output"
    );
    assert!(
        !out.contains("##vso["),
        "runner command in the human output"
    );
    for line in out.lines() {
        assert!(
            !line.trim_start().starts_with("::"),
            "a line starts a workflow command: {line:?}"
        );
        assert!(
            line.chars().count() < 400,
            "a line of {} characters",
            line.chars().count()
        );
    }
    let headers: std::collections::HashSet<&str> = out
        .split("╭─[")
        .skip(1)
        .filter_map(|rest| rest.split(']').next())
        .collect();
    let source = outcome.sources.get(file);
    for f in &outcome.findings {
        let at = source.line_col(f.location.unwrap().span.start);
        let header = format!(
            "fuzz\\u{{1b}}[2J\\n:\\u{{3a}}error x.yaml:{}:{}",
            at.line, at.column
        );
        assert!(headers.contains(header.as_str()), "no header {header}");
    }
}
