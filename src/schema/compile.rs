//! Loading and compiling: reads the bundled schemas or a schema directory (through the one
//! bounded reader), registers every file in memory and compiles one validator per kind.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use jsonschema::Draft;
use serde_json::Value;

use super::fields::field_infos;
use super::{
    expansion, schema_error, KindSchema, LoadedSchemas, SchemaSet, BUILTIN_SCHEMAS, LOCAL_BASE,
};
use crate::codes;
use crate::finding::{quoted, Finding};
use crate::input::{read_text, Origin, ReadScope, Refused};
use crate::model::Kind;
use crate::source::{offset_of, ByteSpan, FileId, FileRole, SourceFile, SourceMap};

impl SchemaSet {
    /// Loads the bundled schemas, or every `*.json` file of `dir` instead. Schema files are added
    /// to `sources` so that findings can point into them.
    pub fn load(
        dir: Option<&Path>,
        sources: &mut SourceMap,
        max_bytes: u64,
        scope: &ReadScope,
    ) -> Result<LoadedSchemas, String> {
        let mut files: Vec<(String, std::path::PathBuf, Arc<str>)> = Vec::new();
        let mut refused = Vec::new();
        match dir {
            None => {
                for (name, text) in BUILTIN_SCHEMAS {
                    files.push((
                        format!("<builtin>/schemas/{name}"),
                        format!("schemas/{name}").into(),
                        Arc::from(*text),
                    ));
                }
            }
            Some(dir) => {
                let entries = std::fs::read_dir(dir).map_err(|e| {
                    format!("cannot read schema directory `{}`: {e}", dir.display())
                })?;
                let mut paths: Vec<_> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    // Not `is_file()`: a FIFO or a link to a device must be reported by the
                    // reader, not skipped in silence.
                    .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.is_dir())
                    .collect();
                paths.sort();
                if paths.is_empty() {
                    return Err(format!(
                        "schema directory `{}` holds no `*.json` file",
                        dir.display()
                    ));
                }
                for path in paths {
                    let name = path.display().to_string().replace('\\', "/");
                    // Through the one safe reader: a link to `/proc/self/environ` or `/dev/zero`
                    // is refused before anything is read, so no snippet can show it.
                    let text =
                        read_text(&path, scope, Origin::Named, max_bytes).map_err(|problem| {
                            match problem {
                                Ok(valid) => format!("schema is not valid UTF-8 (byte {valid})"),
                                Err(Refused::TooLarge { limit, .. }) => {
                                    format!("schema is larger than the limit of {limit} bytes")
                                }
                                Err(refused) => refused.to_string(),
                            }
                        });
                    match text {
                        Ok(text) => files.push((name, path, Arc::from(text))),
                        Err(problem) => {
                            let id = sources.add(SourceFile::new(
                                name,
                                path.clone(),
                                Arc::from(""),
                                FileRole::Schema,
                            ));
                            refused.push(schema_error(
                                id,
                                ByteSpan::default(),
                                format!("{problem}; not loaded, so documents of its kind are not validated"),
                            ));
                        }
                    }
                }
            }
        }
        let mut loaded = Self::compile(files, sources);
        loaded.findings.extend(refused);
        Ok(loaded)
    }

    /// Compiles schema texts (name, path, text) already in memory: what [`SchemaSet::load`]
    /// does after reading, and the entry point of the `schema_build` fuzz target.
    pub fn compile(
        files: Vec<(String, std::path::PathBuf, Arc<str>)>,
        sources: &mut SourceMap,
    ) -> LoadedSchemas {
        let mut findings = Vec::new();
        let mut parsed: Vec<(FileId, String, String, Value)> = Vec::new(); // (file, name, uri, json)
        for (name, path, text) in files {
            let short = path
                .file_name()
                .map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned());
            let file = sources.add(SourceFile::new(
                name,
                path,
                Arc::clone(&text),
                FileRole::Schema,
            ));
            match serde_json::from_str::<Value>(&text) {
                Ok(json) => {
                    let uri = json
                        .get("$id")
                        .and_then(Value::as_str)
                        .map_or_else(|| format!("{LOCAL_BASE}{short}"), str::to_string);
                    parsed.push((file, short, uri, json));
                }
                Err(e) => {
                    let at = offset_of(&text, e.line(), e.column(), str::len).unwrap_or(text.len());
                    findings.push(schema_error(
                        file,
                        // One character (found by fuzzing: one byte may split a character).
                        ByteSpan::new(at, at + text[at..].chars().next().map_or(0, char::len_utf8)),
                        format!("schema is not valid JSON: {e}"),
                    ));
                }
            }
        }
        let registry = build_registry(&parsed, sources, &mut findings);
        let unregistered: Vec<FileId> = findings
            .iter()
            .filter_map(|f| f.location.map(|l| l.file))
            .collect();
        let mut kinds = BTreeMap::new();
        let mut broken = BTreeMap::new();
        let resources: HashMap<&str, &Value> = parsed
            .iter()
            .map(|(_, _, uri, json)| (uri.as_str(), json))
            .collect();
        for (file, short, uri, json) in &parsed {
            let Some(kind_name) = json
                .pointer("/properties/kind/const")
                .and_then(Value::as_str)
            else {
                continue; // a shared definitions file
            };
            if unregistered.contains(file) {
                if let Some(kind) = Kind::parse(kind_name) {
                    broken.insert(kind, *file);
                }
                continue;
            }
            let Some(kind) = Kind::parse(kind_name) else {
                findings.push(schema_error(
                    *file,
                    ByteSpan::default(),
                    format!(
                        "schema {} is for kind {}, which the data model does not define",
                        quoted(short),
                        quoted(kind_name)
                    ),
                ));
                continue;
            };
            // Bounded before it is compiled: no recursion, a bounded expansion (expansion.rs).
            if let Err(refusal) = expansion::check(uri, &resources) {
                broken.insert(kind, *file);
                let text = sources.get(*file).text.clone();
                findings.push(
                    schema_error(
                        *file,
                        json_pointer_span(&text, &refusal.pointer),
                        format!(
                            "{} (at `{}`); documents of kind {} are not validated",
                            refusal.message,
                            refusal.pointer,
                            quoted(kind_name)
                        ),
                    )
                    .with_label("refused here"),
                );
                continue;
            }
            // Pinned pattern limits: `fancy-regex` hands patterns without look-around or
            // back-references to the linear-time `regex` engine and bounds backtracking for the
            // rest, so a pattern like `^(a+)+$` cannot hang a run.
            let patterns = jsonschema::PatternOptions::fancy_regex()
                .backtrack_limit(1_000_000)
                .size_limit(4 * 1024 * 1024)
                .dfa_size_limit(4 * 1024 * 1024);
            let mut options = jsonschema::options()
                .with_draft(Draft::Draft202012)
                .with_pattern_options(patterns)
                .should_validate_formats(true)
                .with_base_uri(uri.clone());
            if let Some(registry) = registry.as_ref() {
                options = options.with_registry(registry);
            }
            match options.build(json) {
                Ok(validator) => {
                    let fields = field_infos(json, &parsed);
                    let country_fields = fields
                        .iter()
                        .filter(|(_, f)| f.format_check() == Some(codes::COUNTRY_CODE_FORMAT))
                        .map(|(name, _)| name.clone())
                        .collect();
                    kinds.insert(
                        kind,
                        Arc::new(KindSchema {
                            validator,
                            fields,
                            country_fields,
                        }),
                    );
                }
                Err(error) => {
                    broken.insert(kind, *file);
                    let pointer = error.schema_path().as_str().to_string();
                    let text = sources.get(*file).text.clone();
                    let raw = error.to_string();
                    let mut finding = reference_error(*file, &text, &raw);
                    if finding.message.starts_with("schema cannot be used") {
                        finding = schema_error(
                            *file,
                            json_pointer_span(&text, &pointer),
                            format!(
                                "schema for {} does not compile: {raw} (at `{pointer}`)",
                                quoted(kind_name)
                            ),
                        );
                    }
                    findings.push(finding);
                }
            }
        }
        let documents = parsed
            .into_iter()
            .map(|(_, short, _, json)| (short, json))
            .collect();
        LoadedSchemas {
            set: SchemaSet {
                kinds,
                broken,
                documents,
            },
            findings,
        }
    }
}

fn build_registry(
    parsed: &[(FileId, String, String, Value)],
    sources: &SourceMap,
    findings: &mut Vec<Finding>,
) -> Option<jsonschema::Registry<'static>> {
    if parsed.is_empty() {
        return None;
    }
    let all: Vec<(String, Value)> = parsed
        .iter()
        .map(|(_, _, uri, json)| (uri.clone(), json.clone()))
        .collect();
    if let Ok(registry) = jsonschema::Registry::new()
        .extend(all)
        .and_then(|b| b.prepare())
    {
        return Some(registry);
    }
    // One resource spoils the registry: add them one at a time and report the ones that fail.
    let mut kept: Vec<(String, Value)> = Vec::new();
    for (file, short, uri, json) in parsed {
        let mut trial = kept.clone();
        trial.push((uri.clone(), json.clone()));
        match jsonschema::Registry::new()
            .extend(trial.clone())
            .and_then(|b| b.prepare())
        {
            Ok(_) => kept = trial,
            Err(e) => {
                let _ = short;
                findings.push(reference_error(
                    *file,
                    &sources.get(*file).text,
                    &e.to_string(),
                ));
            }
        }
    }
    jsonschema::Registry::new()
        .extend(kept)
        .and_then(|b| b.prepare())
        .ok()
}

/// A compile or registration error, reworded when it is about a reference that is not among the
/// loaded schemas (the only references allowed), and pointed at that `$ref`.
fn reference_error(file: FileId, text: &str, raw: &str) -> Finding {
    let missing = raw
        .split_once("Resource '")
        .and_then(|(_, rest)| rest.split_once("' is not present"))
        .map(|(uri, _)| uri.to_string());
    match missing {
        Some(uri) => {
            // Point at the `$ref` value naming it (written relative or absolute).
            let tail = uri.rsplit('/').next().unwrap_or(&uri);
            let span = [uri.as_str(), tail]
                .iter()
                .find_map(|needle| {
                    text.find(&format!("\"{needle}"))
                        .map(|at| ByteSpan::new(at, at + needle.len() + 2))
                })
                .unwrap_or_default();
            schema_error(
                file,
                span,
                format!("reference {} is not allowed: `$ref` may only name schemas in the schema directory", quoted(&uri)),
            )
            .with_help("copy the referenced schema into the schema directory and reference it by file name; nothing is ever fetched")
        }
        None => schema_error(
            file,
            ByteSpan::default(),
            format!("schema cannot be used: {raw}"),
        ),
    }
}

/// Best-effort span of a JSON pointer inside a schema file: the last key of the pointer.
fn json_pointer_span(text: &str, pointer: &str) -> ByteSpan {
    let key = pointer
        .rsplit('/')
        .find(|s| !s.is_empty() && s.parse::<usize>().is_err());
    if let Some(key) = key {
        let needle = format!("\"{key}\"");
        if let Some(at) = text.find(&needle) {
            return ByteSpan::new(at, at + needle.len());
        }
    }
    ByteSpan::default()
}
