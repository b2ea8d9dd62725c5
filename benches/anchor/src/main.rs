//! Benchmark anchor: regorus (Rego in Rust) runs rules equivalent to channelguard's MC002, MC003
//! and MC012 plus dangling `customer` references on a generated repository, after parsing every
//! document, on a fixed number of threads; prints its finding counts per rule and its wall time.
//!
//!     channelguard-anchor DIR [--threads N] [--as-of YYYY-MM-DD] [--list]
//!                             [--mode book|per-document] [--parser saphyr|serde-yaml]
//!
//! Stages: walk DIR for `*.yaml`/`*.yml` (sorted), read and parse every file (saphyr's plain
//! loader, or serde_yaml) straight into regorus values, build the lookups the rules need (the
//! equivalent of channelguard's index), then evaluate the rules:
//!
//! - `--mode book` (the default): every document goes into `data.docs.<kind>` once and the rules
//!   (src/book.rego) are partial set rules over the whole book; with N threads the documents of
//!   each kind are split into N chunks, each passed as `input.docs` to its own engine clone, one
//!   `eval_rule` call per chunk.
//! - `--mode per-document`: `data.anchor.findings` (src/rules.rego) is evaluated once per
//!   document with the document as `input` (the first anchor's shape, kept for comparison).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use rayon::prelude::*;
use regorus::Value;
use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde::Deserialize;

/// The per-document rules: `input` is one document.
const RULES_PER_DOCUMENT: &str = include_str!("rules.rego");
/// The whole-book rules: the documents are `data.docs` or this chunk's `input.docs`.
const RULES_BOOK: &str = include_str!("book.rego");

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Book,
    PerDocument,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Parser {
    /// saphyr's plain (non-span) loader, converted into regorus values.
    Saphyr,
    /// serde_yaml 0.9 deserializing straight into regorus values.
    SerdeYaml,
}

struct Args {
    dir: PathBuf,
    threads: usize,
    as_of: String,
    /// Also print every finding, one JSON object a line (for cross-checking).
    list: bool,
    mode: Mode,
    parser: Parser,
}

const USAGE: &str = "usage: channelguard-anchor DIR [--threads N] [--as-of YYYY-MM-DD] [--list] \
                     [--mode book|per-document] [--parser saphyr|serde-yaml]";

fn parse_args() -> Result<Args, String> {
    let mut dir = None;
    let mut threads = 2;
    let mut as_of = "2024-06-30".to_string();
    let mut list = false;
    let mut mode = Mode::Book;
    let mut parser = Parser::Saphyr;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--threads" | "-j" => {
                let v = it.next().ok_or("--threads needs a value")?;
                threads = v
                    .parse()
                    .map_err(|_| format!("--threads: not a count: {v}"))?;
            }
            "--as-of" => as_of = it.next().ok_or("--as-of needs a date")?,
            "--list" => list = true,
            "--mode" => {
                mode = match it.next().as_deref() {
                    Some("book") => Mode::Book,
                    Some("per-document") => Mode::PerDocument,
                    other => {
                        return Err(format!("--mode: `book` or `per-document`, not {other:?}"))
                    }
                }
            }
            "--parser" => {
                parser = match it.next().as_deref() {
                    Some("saphyr") => Parser::Saphyr,
                    Some("serde-yaml") => Parser::SerdeYaml,
                    other => {
                        return Err(format!("--parser: `saphyr` or `serde-yaml`, not {other:?}"))
                    }
                }
            }
            _ if dir.is_none() && !a.starts_with('-') => dir = Some(PathBuf::from(a)),
            _ => return Err(format!("unexpected argument `{a}`\n{USAGE}")),
        }
    }
    Ok(Args {
        dir: dir.ok_or(USAGE)?,
        threads: threads.max(1),
        as_of,
        list,
        mode,
        parser,
    })
}

/// A saphyr node as a regorus value (YAML 1.2 core schema scalars; dates stay strings; keys
/// that are not strings become their JSON text, as the first anchor's serde_json detour did).
fn to_value(node: &Yaml) -> Value {
    match node {
        Yaml::Value(Scalar::Null) => Value::Null,
        Yaml::Value(Scalar::Boolean(b)) => Value::from(*b),
        Yaml::Value(Scalar::Integer(i)) => Value::from(*i),
        Yaml::Value(Scalar::FloatingPoint(f)) => Value::from(f.into_inner()),
        Yaml::Value(Scalar::String(s)) => Value::from(s.as_ref()),
        Yaml::Sequence(items) => Value::from(items.iter().map(to_value).collect::<Vec<_>>()),
        Yaml::Mapping(map) => {
            let mut out = BTreeMap::new();
            for (k, v) in map {
                let key = match to_value(k) {
                    s @ Value::String(_) => s,
                    other => Value::from(other.to_string()),
                };
                out.insert(key, to_value(v));
            }
            Value::from(out)
        }
        Yaml::Tagged(_, inner) => to_value(inner),
        Yaml::Representation(s, _, _) => Value::from(s.as_ref()),
        Yaml::Alias(_) | Yaml::BadValue => Value::Null,
    }
}

/// Every YAML document of one file, or an error message.
fn parse_file(path: &Path, parser: Parser) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    match parser {
        Parser::Saphyr => {
            let docs =
                Yaml::load_from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(docs.iter().map(to_value).collect())
        }
        Parser::SerdeYaml => serde_yaml::Deserializer::from_str(&text)
            .map(|doc| Value::deserialize(doc).map_err(|e| format!("{}: {e}", path.display())))
            .collect(),
    }
}

fn str_of<'a>(doc: &'a Value, key: &str) -> Option<&'a str> {
    doc[key].as_string().ok().map(|s| s.as_ref())
}

fn object<'a>(entries: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    Value::from(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// The lookups the rules use, as the object `data.index`. The documents in it are the same
/// (reference-counted) values as everywhere else.
fn build_index(docs: &[Value], as_of: &str) -> Value {
    let mut partners: BTreeMap<Value, Value> = BTreeMap::new();
    let mut subscriptions: BTreeMap<Value, Value> = BTreeMap::new();
    let mut customers: BTreeMap<Value, Value> = BTreeMap::new();
    let mut by_customer_rr: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let mut by_customer_da: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let mut by_pid: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut by_provider: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for doc in docs {
        let (Some(kind), Some(id)) = (str_of(doc, "kind"), str_of(doc, "id")) else {
            continue;
        };
        match kind {
            "Partner" => {
                // The first document with an id wins, as in channelguard's `find`.
                partners
                    .entry(Value::from(id))
                    .or_insert_with(|| doc.clone());
                // A PartnerID is read as written: an unquoted one (a YAML integer, a schema
                // error in channelguard) still names the partner, as in channelguard (U02).
                let pid = match &doc["partner_id"] {
                    Value::String(s) => Some(s.to_string()),
                    Value::Number(_) => Some(doc["partner_id"].to_string()),
                    _ => None,
                };
                if let Some(pid) = pid {
                    by_pid.entry(pid).or_default().push(doc.clone());
                }
            }
            "Subscription" => {
                subscriptions
                    .entry(Value::from(id))
                    .or_insert_with(|| doc.clone());
            }
            "Customer" => {
                customers.insert(Value::from(id), Value::from(true));
            }
            "ResellerRelationship" | "DelegatedAdmin" => {
                if let Some(c) = str_of(doc, "customer") {
                    let map = if kind == "ResellerRelationship" {
                        &mut by_customer_rr
                    } else {
                        &mut by_customer_da
                    };
                    map.entry(c).or_default().push(doc.clone());
                }
            }
            "IndirectPartnership" => {
                if let Some(p) = str_of(doc, "provider") {
                    by_provider.entry(p).or_default().push(doc.clone());
                }
            }
            _ => {}
        }
    }
    fn grouped<K: AsRef<str>>(m: BTreeMap<K, Vec<Value>>) -> Value {
        Value::from(
            m.into_iter()
                .map(|(k, v)| (Value::from(k.as_ref()), Value::from(v)))
                .collect::<BTreeMap<_, _>>(),
        )
    }
    object([
        ("today", Value::from(as_of)),
        ("partners", Value::from(partners)),
        ("subscriptions", Value::from(subscriptions)),
        ("customers", Value::from(customers)),
        ("reseller_relationships", grouped(by_customer_rr)),
        ("delegated_admins", grouped(by_customer_da)),
        ("partners_by_partner_id", grouped(by_pid)),
        ("partnerships_by_provider", grouped(by_provider)),
    ])
}

/// channelguard's defaults for the two settings these rules read.
fn settings() -> Value {
    object([
        ("require_admin_rights", Value::from(true)),
        ("allow_nce_license_transfer", Value::from(true)),
    ])
}

/// The documents grouped by kind (those without a string `kind` under ""), in book order.
fn by_kind(docs: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for doc in docs {
        let kind = str_of(doc, "kind").unwrap_or("");
        out.entry(kind.to_string()).or_default().push(doc.clone());
    }
    out
}

/// `{kind: [documents]}` for the chunk `part` of `parts`: each kind's documents split into
/// `parts` contiguous, nearly equal slices.
fn chunk(kinds: &BTreeMap<String, Vec<Value>>, part: usize, parts: usize) -> Value {
    object(kinds.iter().map(|(kind, docs)| {
        let size = docs.len().div_ceil(parts);
        let from = (part * size).min(docs.len());
        let to = ((part + 1) * size).min(docs.len());
        (kind.as_str(), Value::from(docs[from..to].to_vec()))
    }))
}

/// Finding counts ("RULE severity" -> n) and, with `--list`, the findings as JSON lines
/// (without the book form's `at`, so both modes list alike).
type Counts = (BTreeMap<String, usize>, Vec<String>);

fn count(found: &Value, list: bool, counts: &mut Counts) -> Result<(), String> {
    let Ok(set) = found.as_set() else {
        return Ok(()); // undefined: no finding
    };
    for f in set.iter() {
        let rule = f["rule"].as_string().map_err(|e| e.to_string())?;
        let severity = f["severity"].as_string().map_err(|e| e.to_string())?;
        *counts.0.entry(format!("{rule} {severity}")).or_default() += 1;
        if list {
            let mut json = serde_json::to_value(f).map_err(|e| e.to_string())?;
            if let Some(o) = json.as_object_mut() {
                o.remove("at");
            }
            counts.1.push(json.to_string());
        }
    }
    Ok(())
}

/// This process's user+system CPU time so far, in seconds (Linux `/proc/self/stat`, in clock
/// ticks of 1/100 s; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The fields after the command name (which is in parentheses): utime is the 14th field of
    // the line, stime the 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn run(args: &Args) -> Result<(), String> {
    let start = Instant::now();
    let mut cpu = vec![cpu_seconds()];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .map_err(|e| e.to_string())?;

    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&args.dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    let t_walk = start.elapsed();
    cpu.push(cpu_seconds());

    let parsed: Vec<Result<Vec<Value>, String>> = pool.install(|| {
        files
            .par_iter()
            .map(|p| parse_file(p, args.parser))
            .collect()
    });
    let mut docs = Vec::new();
    let mut parse_errors = 0usize;
    for r in parsed {
        match r {
            Ok(d) => docs.extend(d.into_iter().filter(|d| d.as_object().is_ok())),
            Err(e) => {
                parse_errors += 1;
                eprintln!("anchor: {e}");
            }
        }
    }
    let t_parse = start.elapsed();
    cpu.push(cpu_seconds());

    let mut engine = regorus::Engine::new();
    let (name, source) = match args.mode {
        Mode::Book => ("book.rego", RULES_BOOK),
        Mode::PerDocument => ("rules.rego", RULES_PER_DOCUMENT),
    };
    engine
        .add_policy(name.to_string(), source.to_string())
        .map_err(|e| e.to_string())?;
    let mut data = BTreeMap::new();
    data.insert(Value::from("index"), build_index(&docs, &args.as_of));
    data.insert(Value::from("settings"), settings());
    let kinds = by_kind(&docs);
    if args.mode == Mode::Book {
        data.insert(
            Value::from("docs"),
            object(
                kinds
                    .iter()
                    .map(|(k, v)| (k.as_str(), Value::from(v.clone()))),
            ),
        );
    }
    engine
        .add_data(Value::from(data))
        .map_err(|e| e.to_string())?;
    let t_index = start.elapsed();
    cpu.push(cpu_seconds());

    // `ANCHOR_RULE=data.anchor.mc012` evaluates one rule's set alone (its cost on its own).
    let rule = std::env::var("ANCHOR_RULE").unwrap_or_else(|_| "data.anchor.findings".to_string());
    let results: Result<Vec<Counts>, String> = match args.mode {
        // One evaluation over the book (`data.docs`), or one per chunk (`input.docs`).
        Mode::Book if args.threads == 1 => {
            let mut counts = Counts::default();
            let found = engine.eval_rule(rule.clone()).map_err(|e| e.to_string())?;
            count(&found, args.list, &mut counts)?;
            Ok(vec![counts])
        }
        Mode::Book => pool.install(|| {
            (0..args.threads)
                .into_par_iter()
                .map(|part| {
                    let mut engine = engine.clone();
                    engine.set_input(object([("docs", chunk(&kinds, part, args.threads))]));
                    let mut counts = Counts::default();
                    let found = engine.eval_rule(rule.clone()).map_err(|e| e.to_string())?;
                    count(&found, args.list, &mut counts)?;
                    Ok(counts)
                })
                .collect()
        }),
        Mode::PerDocument => {
            let size = docs.len().div_ceil(args.threads * 8).max(1);
            pool.install(|| {
                docs.par_chunks(size)
                    .map(|docs| {
                        let mut engine = engine.clone();
                        let mut counts = Counts::default();
                        for doc in docs {
                            engine.set_input(doc.clone());
                            let found =
                                engine.eval_rule(rule.clone()).map_err(|e| e.to_string())?;
                            count(&found, args.list, &mut counts)?;
                        }
                        Ok(counts)
                    })
                    .collect()
            })
        }
    };
    let mut total: BTreeMap<String, usize> = BTreeMap::new();
    let mut listed = Vec::new();
    for (c, l) in results? {
        listed.extend(l);
        for (k, v) in c {
            *total.entry(k).or_default() += v;
        }
    }
    listed.sort();
    let t_eval = start.elapsed();
    cpu.push(cpu_seconds());

    println!(
        "anchor: {} files, {} documents, {} parse errors, {} threads, mode {}, parser {}",
        files.len(),
        docs.len(),
        parse_errors,
        args.threads,
        match args.mode {
            Mode::Book => "book",
            Mode::PerDocument => "per-document",
        },
        match args.parser {
            Parser::Saphyr => "saphyr",
            Parser::SerdeYaml => "serde-yaml",
        }
    );
    for line in &listed {
        println!("{line}");
    }
    for (rule, n) in &total {
        println!("findings {rule}: {n}");
    }
    println!(
        "stages: walk {:.2}s, read+parse {:.2}s, index {:.2}s, rules {:.2}s",
        t_walk.as_secs_f64(),
        (t_parse - t_walk).as_secs_f64(),
        (t_index - t_parse).as_secs_f64(),
        (t_eval - t_index).as_secs_f64()
    );
    println!(
        "stages cpu: walk {:.2}s, read+parse {:.2}s, index {:.2}s, rules {:.2}s",
        cpu[1] - cpu[0],
        cpu[2] - cpu[1],
        cpu[3] - cpu[2],
        cpu[4] - cpu[3]
    );
    println!("wall: {:.3}s", start.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().and_then(|a| run(&a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("anchor: {e}");
            ExitCode::from(2)
        }
    }
}
