//! Benchmark anchor: regorus (Rego in Rust) runs rules equivalent to channelguard's MC002, MC003
//! and MC012 plus dangling `customer` references on a generated repository, after parsing every
//! document, on a fixed number of threads; prints its finding counts per rule and its wall time.
//!
//!     channelguard-anchor DIR [--threads N] [--as-of YYYY-MM-DD]
//!
//! Stages: walk DIR for `*.yaml`/`*.yml` (sorted), read and parse every file with saphyr's plain
//! loader into `serde_json` values, convert them to regorus values, build the lookups the rules
//! need (the equivalent of channelguard's index), then evaluate `data.anchor.findings` once per
//! document with the document as `input`, one engine clone per worker thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use rayon::prelude::*;
use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{Map, Value as Json};

const RULES: &str = include_str!("rules.rego");

struct Args {
    dir: PathBuf,
    threads: usize,
    as_of: String,
    /// Also print every finding, one JSON object a line (for cross-checking).
    list: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut dir = None;
    let mut threads = 2;
    let mut as_of = "2024-06-30".to_string();
    let mut list = false;
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
            _ if dir.is_none() && !a.starts_with('-') => dir = Some(PathBuf::from(a)),
            _ => return Err(format!("unexpected argument `{a}`")),
        }
    }
    Ok(Args {
        dir: dir
            .ok_or("usage: channelguard-anchor DIR [--threads N] [--as-of YYYY-MM-DD] [--list]")?,
        threads,
        as_of,
        list,
    })
}

/// A saphyr node as a JSON value (YAML 1.2 core schema scalars; dates stay strings).
fn to_json(node: &Yaml) -> Json {
    match node {
        Yaml::Value(Scalar::Null) => Json::Null,
        Yaml::Value(Scalar::Boolean(b)) => Json::Bool(*b),
        Yaml::Value(Scalar::Integer(i)) => Json::from(*i),
        Yaml::Value(Scalar::FloatingPoint(f)) => Json::from(f.into_inner()),
        Yaml::Value(Scalar::String(s)) => Json::String(s.to_string()),
        Yaml::Sequence(items) => Json::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                let key = match to_json(k) {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, to_json(v));
            }
            Json::Object(out)
        }
        Yaml::Tagged(_, inner) => to_json(inner),
        Yaml::Representation(s, _, _) => Json::String(s.to_string()),
        Yaml::Alias(_) | Yaml::BadValue => Json::Null,
    }
}

/// Every YAML document of one file, or an error message.
fn parse_file(path: &Path) -> Result<Vec<Json>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let docs = Yaml::load_from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(docs.iter().map(to_json).collect())
}

fn str_of<'a>(doc: &'a Json, key: &str) -> Option<&'a str> {
    doc.get(key).and_then(Json::as_str)
}

/// The lookups the rules use, as one JSON object under `data.index`.
fn build_index(docs: &[Json], as_of: &str) -> Json {
    let mut partners = Map::new();
    let mut subscriptions = Map::new();
    let mut customers = Map::new();
    let mut by_customer_rr: BTreeMap<&str, Vec<Json>> = BTreeMap::new();
    let mut by_customer_da: BTreeMap<&str, Vec<Json>> = BTreeMap::new();
    let mut by_pid: BTreeMap<&str, Vec<Json>> = BTreeMap::new();
    let mut by_provider: BTreeMap<&str, Vec<Json>> = BTreeMap::new();
    for doc in docs {
        let (Some(kind), Some(id)) = (str_of(doc, "kind"), str_of(doc, "id")) else {
            continue;
        };
        match kind {
            "Partner" => {
                // The first document with an id wins, as in channelguard's `find`.
                partners.entry(id).or_insert_with(|| doc.clone());
                if let Some(pid) = str_of(doc, "partner_id") {
                    by_pid.entry(pid).or_default().push(doc.clone());
                }
            }
            "Subscription" => {
                subscriptions.entry(id).or_insert_with(|| doc.clone());
            }
            "Customer" => {
                customers.insert(id.to_string(), Json::Bool(true));
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
    let grouped = |m: BTreeMap<&str, Vec<Json>>| -> Json {
        Json::Object(
            m.into_iter()
                .map(|(k, v)| (k.to_string(), Json::Array(v)))
                .collect(),
        )
    };
    serde_json::json!({
        "index": {
            "today": as_of,
            "partners": partners,
            "subscriptions": subscriptions,
            "customers": customers,
            "reseller_relationships": grouped(by_customer_rr),
            "delegated_admins": grouped(by_customer_da),
            "partners_by_partner_id": grouped(by_pid),
            "partnerships_by_provider": grouped(by_provider),
        },
        // channelguard's defaults for the two settings these rules read.
        "settings": { "require_admin_rights": true, "allow_nce_license_transfer": true },
    })
}

fn run(args: &Args) -> Result<(), String> {
    let start = Instant::now();
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

    let parsed: Vec<Result<Vec<Json>, String>> =
        pool.install(|| files.par_iter().map(|p| parse_file(p)).collect());
    let mut docs = Vec::new();
    let mut parse_errors = 0usize;
    for r in parsed {
        match r {
            Ok(d) => docs.extend(d),
            Err(e) => {
                parse_errors += 1;
                eprintln!("anchor: {e}");
            }
        }
    }
    let t_parse = start.elapsed();

    let data = build_index(&docs, &args.as_of);
    let mut engine = regorus::Engine::new();
    engine
        .add_policy("rules.rego".to_string(), RULES.to_string())
        .map_err(|e| e.to_string())?;
    engine
        .add_data(regorus::Value::from(data))
        .map_err(|e| e.to_string())?;
    let inputs: Vec<regorus::Value> = pool.install(|| {
        docs.into_par_iter()
            .filter(|d| d.is_object())
            .map(regorus::Value::from)
            .collect()
    });
    let t_index = start.elapsed();

    // `ANCHOR_RULE=data.anchor.mc012` evaluates one rule's set alone (its cost on its own).
    let rule = std::env::var("ANCHOR_RULE").unwrap_or_else(|_| "data.anchor.findings".to_string());
    let chunk = inputs.len().div_ceil(args.threads.max(1) * 8).max(1);
    type Counts = (BTreeMap<String, usize>, Vec<String>);
    let counts: Result<Vec<Counts>, String> = pool.install(|| {
        inputs
            .par_chunks(chunk)
            .map(|docs| {
                let mut engine = engine.clone();
                let mut counts = BTreeMap::new();
                let mut listed = Vec::new();
                for doc in docs {
                    engine.set_input(doc.clone());
                    let found = engine.eval_rule(rule.clone()).map_err(|e| e.to_string())?;
                    if let Ok(set) = found.as_set() {
                        for f in set.iter() {
                            let rule = f["rule"].as_string().map_err(|e| e.to_string())?;
                            let severity = f["severity"].as_string().map_err(|e| e.to_string())?;
                            *counts.entry(format!("{rule} {severity}")).or_default() += 1;
                            if args.list {
                                listed.push(serde_json::to_string(f).map_err(|e| e.to_string())?);
                            }
                        }
                    }
                }
                Ok((counts, listed))
            })
            .collect()
    });
    let mut total: BTreeMap<String, usize> = BTreeMap::new();
    let mut listed = Vec::new();
    for (c, l) in counts? {
        listed.extend(l);
        for (k, v) in c {
            *total.entry(k).or_default() += v;
        }
    }
    let t_eval = start.elapsed();

    println!(
        "anchor: {} files, {} documents, {} parse errors, {} threads",
        files.len(),
        inputs.len(),
        parse_errors,
        args.threads
    );
    for line in &listed {
        println!("{line}");
    }
    for (rule, n) in &total {
        println!("findings {rule}: {n}");
    }
    println!(
        "stages: walk {:.2}s, read+parse {:.2}s, index+convert {:.2}s, rules {:.2}s",
        t_walk.as_secs_f64(),
        (t_parse - t_walk).as_secs_f64(),
        (t_index - t_parse).as_secs_f64(),
        (t_eval - t_index).as_secs_f64()
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
