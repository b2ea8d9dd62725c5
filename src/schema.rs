//! JSON Schema validation: loads the bundled schemas (or a replacement directory), compiles one
//! validator per kind once, validates documents and turns validator errors into findings that
//! point at the offending node and say what was expected in a reviewer's words.
//!
//! Nothing is ever fetched: jsonschema is built without its retrieval features and every schema
//! is registered in memory, so a `$ref` that leaves the schema directory (or names a URL) fails
//! when the schema is compiled, as a located `S002` finding.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, Validator};
use serde_json::Value;

use crate::codes;
use crate::finding::{code, describe_value, Finding, Severity};
use crate::input::{read_text, Origin, ReadScope, Refused};
use crate::repository::Kind;
use crate::source::ByteSpan;
use crate::source::{FileId, FileRole, SourceFile, SourceMap};
use crate::yaml::LoadedDocument;

mod expansion;

/// The schemas bundled into the binary, by file name.
pub const BUILTIN_SCHEMAS: &[(&str, &str)] = &[
    ("common.json", include_str!("../schemas/common.json")),
    ("customer.json", include_str!("../schemas/customer.json")),
    (
        "delegated-admin.json",
        include_str!("../schemas/delegated-admin.json"),
    ),
    (
        "indirect-partnership.json",
        include_str!("../schemas/indirect-partnership.json"),
    ),
    ("partner.json", include_str!("../schemas/partner.json")),
    (
        "reseller-relationship.json",
        include_str!("../schemas/reseller-relationship.json"),
    ),
    (
        "subscription.json",
        include_str!("../schemas/subscription.json"),
    ),
    ("transfer.json", include_str!("../schemas/transfer.json")),
];

/// Schemas of channelguard's own files, for editors only (`schemas export`, docs/editors.md):
/// `channelguard.yaml` and policy test cases (`*.test.yaml`). The engine never validates with
/// them (they name no `kind`); tests keep them in step with src/config.rs and src/testing.rs.
pub const EDITOR_SCHEMAS: &[(&str, &str)] = &[
    (
        "channelguard-config.json",
        include_str!("../schemas/tooling/channelguard-config.json"),
    ),
    (
        "policy-test.json",
        include_str!("../schemas/tooling/policy-test.json"),
    ),
];

/// Base URI for schema files that declare no `$id`.
const LOCAL_BASE: &str = "https://channelguard.local/schemas/";

/// What the engine knows about one field of a kind, read from the schema once.
#[derive(Clone, Debug, Default)]
struct FieldInfo {
    /// `x-channelguard-check` of the field's schema (or the definition it references).
    check: Option<String>,
    /// First entry of `examples`.
    example: Option<Value>,
    /// Allowed values of an `enum` field.
    options: Vec<String>,
    expected_type: Option<String>,
}

/// The compiled schema of one kind.
pub struct KindSchema {
    validator: Validator,
    fields: HashMap<String, FieldInfo>,
    /// Fields holding a country code (F03): checked for unquoted YAML 1.1 booleans.
    country_fields: Vec<String>,
}

/// All compiled schemas of a run.
pub struct SchemaSet {
    kinds: BTreeMap<Kind, Arc<KindSchema>>,
    /// Kinds whose schema failed to load or compile: their documents are not validated.
    broken: BTreeMap<Kind, FileId>,
    /// The raw schema documents by file name (for `schemas export` and field documentation).
    pub documents: Vec<(String, Value)>,
}

/// Result of loading a schema set: the set and the problems found in it (S002, origin Tool).
pub struct LoadedSchemas {
    pub set: SchemaSet,
    pub findings: Vec<Finding>,
}

fn schema_error(file: FileId, span: ByteSpan, message: String) -> Finding {
    codes::SCHEMA_ERROR
        .finding(message)
        .at_span(file, span)
        .tool()
}

/// Byte offset of a 1-based line/column pair from serde_json's error.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (index, l) in text.split_inclusive('\n').enumerate() {
        if index + 1 == line {
            return offset
                + l.char_indices()
                    .nth(column.saturating_sub(1))
                    .map_or(l.len(), |(b, _)| b);
        }
        offset += l.len();
    }
    text.len()
}

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
                    let at = offset_of(&text, e.line(), e.column());
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
                        code(short),
                        code(kind_name)
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
                            code(kind_name)
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
                        .filter(|(_, f)| f.check.as_deref() == Some("F03"))
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
                                code(kind_name)
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

    pub fn for_kind(&self, kind: Kind) -> Option<&KindSchema> {
        self.kinds.get(&kind).map(Arc::as_ref)
    }

    /// The schema file of a kind whose schema could not be compiled.
    pub fn broken_schema(&self, kind: Kind) -> Option<FileId> {
        self.broken.get(&kind).copied()
    }

    /// Field names a kind's schema declares (policies see absent known fields as `()`).
    pub fn known_fields(&self, kind: Kind) -> Vec<String> {
        self.kinds
            .get(&kind)
            .map(|k| {
                let mut names: Vec<_> = k.fields.keys().cloned().collect();
                names.sort();
                names
            })
            .unwrap_or_default()
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
                format!("reference {} is not allowed: `$ref` may only name schemas in the schema directory", code(&uri)),
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

/// Reads, for every property of a kind schema, what messages need (check id, example, enum).
fn field_infos(
    schema: &Value,
    all: &[(FileId, String, String, Value)],
) -> HashMap<String, FieldInfo> {
    let mut fields = HashMap::new();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return fields;
    };
    for (name, property) in properties {
        let mut info = FieldInfo::default();
        let mut layers = vec![property];
        // Follow one `$ref` into a sibling file's `$defs` (how the bundled schemas share formats).
        if let Some(target) = property
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| resolve_local_ref(r, all))
        {
            layers.push(target);
        }
        let items = property.get("items");
        if let Some(items) = items {
            layers.push(items);
            if let Some(target) = items
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| resolve_local_ref(r, all))
            {
                layers.push(target);
            }
        }
        for layer in layers {
            if info.check.is_none() {
                info.check = layer
                    .get("x-channelguard-check")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            if info.example.is_none() {
                info.example = layer.get("examples").and_then(|e| e.get(0)).cloned();
            }
            if info.options.is_empty() {
                if let Some(options) = layer.get("enum").and_then(Value::as_array) {
                    info.options = options
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect();
                }
            }
            if info.expected_type.is_none() {
                info.expected_type = layer
                    .get("type")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
        }
        fields.insert(name.clone(), info);
    }
    fields
}

fn resolve_local_ref<'a>(
    reference: &str,
    all: &'a [(FileId, String, String, Value)],
) -> Option<&'a Value> {
    let (file, fragment) = reference.split_once('#').unwrap_or((reference, ""));
    let target = all
        .iter()
        .find(|(_, short, uri, _)| short == file || uri.ends_with(&format!("/{file}")))?;
    target.3.pointer(fragment)
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

/// Words a reviewer understands for what a field expects.
fn expected_words(field: &str, info: Option<&FieldInfo>) -> String {
    let example = info.and_then(|i| i.example.as_ref());
    let example_text = example.map(|e| match e {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    });
    match info.and_then(|i| i.check.as_deref()) {
        Some("F01") => format!(
            "a GUID like {}",
            example_text.unwrap_or_else(|| "\"c501c3c4-d776-40ef-9ecf-9cefb59442c1\"".into())
        ),
        Some("F02") => format!(
            "a quoted string of 6 to 8 digits like {}",
            example_text.unwrap_or_else(|| "\"4847383\"".into())
        ),
        Some("F03") => format!(
            "a quoted two-letter code like {}",
            example_text.unwrap_or_else(|| "\"NO\"".into())
        ),
        Some("F04") => format!(
            "a date like {}",
            example_text.unwrap_or_else(|| "\"2024-01-10\"".into())
        ),
        _ => match info.and_then(|i| i.expected_type.as_deref()) {
            Some("string") => match example_text {
                Some(e) => format!("a string like {e}"),
                None => "a string".to_string(),
            },
            Some("boolean") => "`true` or `false`".to_string(),
            Some("integer") => "a whole number".to_string(),
            Some("number") => "a number".to_string(),
            Some("array") => "a list".to_string(),
            Some("object") => "a mapping".to_string(),
            _ => format!("a valid `{field}`"),
        },
    }
}

fn type_words(kind: &TypeKind) -> String {
    let one = |t: &jsonschema::JsonType| match t.to_string().as_str() {
        "string" => "a string".to_string(),
        "boolean" => "`true` or `false`".to_string(),
        "integer" => "a whole number".to_string(),
        "number" => "a number".to_string(),
        "array" => "a list".to_string(),
        "object" => "a mapping".to_string(),
        "null" => "null".to_string(),
        other => other.to_string(),
    };
    match kind {
        TypeKind::Single(t) => one(t),
        TypeKind::Multiple(set) => set.iter().map(|t| one(&t)).collect::<Vec<_>>().join(" or "),
    }
}

/// What a schema check found in one document.
pub struct SchemaOutcome {
    pub findings: Vec<Finding>,
    /// Errors (not warnings) were found.
    pub invalid: bool,
    /// The top-level fields that errors were found in (a missing required field, a value of
    /// the wrong type or format, an unknown field), sorted; `""` when an error concerns the
    /// document as a whole. Policies still see the document, but an evaluation that reads one
    /// of these fields is skipped and reported (see [`crate::policy`]).
    pub invalid_fields: Vec<String>,
    /// The document as loaded, when validation changed it (an F05 enum normalised, an F01–F04
    /// value read as written): `--changed-since` compares what is written.
    pub written: Option<Value>,
}

fn check_finding(check: Option<&str>, severity: Severity, message: String) -> Finding {
    let (id, default_help) = match check.and_then(codes::find) {
        Some(c) => (c.id, c.help),
        None => (codes::SCHEMA_VIOLATION.id, codes::SCHEMA_VIOLATION.help),
    };
    Finding::new(id, severity, message).with_help(default_help)
}

/// Words YAML 1.1 reads as booleans (https://yaml.org/type/bool.html).
fn is_yaml11_bool_word(text: &str) -> bool {
    matches!(
        text,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn yaml11_bool_value(text: &str) -> bool {
    matches!(text, "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON")
}

impl KindSchema {
    /// Validates one document. Enum values that differ only in case are normalised in place
    /// (F05, a warning), so that policies see the canonical value.
    pub fn validate(
        &self,
        kind: Kind,
        document: &mut LoadedDocument,
        file: FileId,
    ) -> SchemaOutcome {
        self.validate_source(kind, document, file, None)
    }

    /// [`KindSchema::validate`], given the text the document was loaded from (`text`, whose
    /// byte offsets the document's spans use). A format problem (F01–F04) of an unquoted
    /// scalar — `partner_id: 0484738` read as a number, `country: NO` read as `false` — is
    /// still reported, but policies see the value as it is written (the source text), so a
    /// quoting problem never hides a channel rule. When the written text is not valid either,
    /// the field stays invalid.
    pub fn validate_source(
        &self,
        kind: Kind,
        document: &mut LoadedDocument,
        file: FileId,
        text: Option<&str>,
    ) -> SchemaOutcome {
        let mut recovered: Vec<(String, String)> = Vec::new();
        let mut findings = Vec::new();
        let mut invalid = false;
        let mut invalid_fields: Vec<String> = Vec::new();
        let mut written = None;
        if !self.validator.is_valid(&document.value) {
            let mut normalise: Vec<(String, String)> = Vec::new();
            let mut errors: Vec<_> = self
                .validator
                .iter_errors(&document.value)
                .map(|e| {
                    let raw = e.to_string();
                    let parts = e.into_parts();
                    (
                        parts.instance_path.as_str().to_string(),
                        parts.instance.into_owned(),
                        parts.kind,
                        raw,
                    )
                })
                .collect();
            errors.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.3.cmp(&b.3)));
            for (pointer, instance, error_kind, raw) in errors {
                let field = pointer.rsplit('/').next().unwrap_or("").to_string();
                let top_field = pointer.split('/').nth(1).unwrap_or("").to_string();
                let info = self.fields.get(&top_field);
                let node = document.spans.lookup(&document.value, &pointer);
                let at = node.map(|n| n.span).unwrap_or(document.head);
                let shown = if field.is_empty() {
                    kind.as_str().to_string()
                } else {
                    field.clone()
                };
                let mut finding = match &error_kind {
                    ValidationErrorKind::Type { .. }
                    | ValidationErrorKind::Pattern { .. }
                    | ValidationErrorKind::Format { .. } => {
                        let expected = match (&error_kind, info) {
                            (ValidationErrorKind::Type { kind: t }, Some(i))
                                if i.check.is_none() =>
                            {
                                let _ = i;
                                type_words(t)
                            }
                            (ValidationErrorKind::Type { kind: t }, None) => type_words(t),
                            _ => expected_words(&shown, info),
                        };
                        let check = info.and_then(|i| i.check.as_deref());
                        let mut f = check_finding(
                            check,
                            Severity::Error,
                            format!(
                                "`{shown}` must be {expected}; found {}",
                                describe_value(&instance)
                            ),
                        )
                        .with_label(format!("expected {expected}"));
                        let written = match (text, node, &instance) {
                            (Some(text), Some(node), Value::Bool(_) | Value::Number(_))
                                if node.plain_scalar
                                    && matches!(check, Some("F01" | "F02" | "F03" | "F04")) =>
                            {
                                text.get(node.span.range()).map(str::to_string)
                            }
                            _ => None,
                        };
                        if let Some(written) = written {
                            recovered.push((pointer.clone(), written));
                        }
                        match (check, &instance) {
                            (Some("F03"), Value::Bool(b)) => {
                                let hint = if *b { "\"YES\"" } else { "\"NO\"" };
                                f = f.with_help(format!("quote the country code, e.g. `{shown}: {hint}`: YAML 1.1 tools read an unquoted `NO` as `false`"));
                            }
                            (Some("F02"), Value::Number(n)) => {
                                f = f.with_help(format!("quote it: `{shown}: \"{n}\"` (an unquoted number loses leading zeros)"));
                            }
                            (Some("F04"), Value::String(s))
                                if s.len() > 10 && s.as_bytes().get(10) == Some(&b'T') =>
                            {
                                f = f.with_help(format!(
                                    "write the date only, e.g. `{}`; Partner Center dates are UTC",
                                    &s[..10]
                                ));
                            }
                            (Some("F03"), Value::String(s)) if s.len() == 2 => {
                                f = f.with_help(format!(
                                    "write the code in upper case: \"{}\"",
                                    s.to_ascii_uppercase()
                                ));
                            }
                            _ => {}
                        }
                        f
                    }
                    ValidationErrorKind::Enum { options } => {
                        let options: Vec<String> = options
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_string)
                                    .collect()
                            })
                            .unwrap_or_default();
                        let text = instance.as_str().unwrap_or("");
                        let canonical = text.to_ascii_lowercase().replace([' ', '-'], "_");
                        if !text.is_empty() && options.contains(&canonical) {
                            normalise.push((pointer.clone(), canonical.clone()));
                            check_finding(
                                Some("F05"),
                                codes::find("F05").map_or(Severity::Warning, |c| c.severity),
                                format!(
                                    "`{shown}` value {} is not in canonical lower snake_case",
                                    code(text)
                                ),
                            )
                            .with_label(format!("read as `{canonical}`"))
                            .with_help(format!("write `{shown}: {canonical}`"))
                        } else {
                            let listed = options
                                .iter()
                                .map(|o| format!("`{o}`"))
                                .collect::<Vec<_>>()
                                .join(", ");
                            let mut f = check_finding(
                                None,
                                Severity::Error,
                                format!(
                                    "`{shown}` must be one of {listed}; found {}",
                                    describe_value(&instance)
                                ),
                            )
                            .with_label("not an allowed value");
                            if let Some(best) = suggest(text, options.iter().map(String::as_str)) {
                                f = f.with_help(format!("did you mean `{best}`?"));
                            }
                            f
                        }
                    }
                    ValidationErrorKind::Required { property } => {
                        let property = property.as_str().unwrap_or("").to_string();
                        let at_head = if pointer.is_empty() {
                            document.head
                        } else {
                            at
                        };
                        let f = check_finding(
                            None,
                            Severity::Error,
                            format!(
                                "{} is missing required field `{property}`",
                                kind_article(kind, &pointer)
                            ),
                        )
                        .with_label(format!("`{property}` missing"))
                        .with_help(format!(
                            "add `{property}:` ({})",
                            expected_words(&property, self.fields.get(&property))
                        ))
                        .at_span(file, at_head)
                        .with_pointer(format!(
                            "{pointer}/{}",
                            crate::yaml::escape_pointer_segment(&property)
                        ));
                        findings.push(f);
                        invalid = true;
                        invalid_fields.push(if pointer.is_empty() {
                            property
                        } else {
                            top_field.clone()
                        });
                        continue;
                    }
                    ValidationErrorKind::AdditionalProperties { unexpected } => {
                        for name in unexpected {
                            let child =
                                format!("{pointer}/{}", crate::yaml::escape_pointer_segment(name));
                            let span = document
                                .spans
                                .lookup(&document.value, &child)
                                .and_then(|n| n.key_span)
                                .unwrap_or(at);
                            let known = self.fields.keys().map(String::as_str);
                            let mut f = check_finding(
                                None,
                                Severity::Error,
                                format!(
                                    "unknown field {} in {}",
                                    code(name),
                                    kind_article(kind, &pointer)
                                ),
                            )
                            .with_label("not in the schema")
                            .at_span(file, span)
                            .with_pointer(child);
                            f.help =
                                Some(match suggest(name, known).filter(|_| pointer.is_empty()) {
                                    Some(best) => format!("did you mean `{best}`?"),
                                    None => format!(
                                        "remove the field; the {} schema does not define it",
                                        kind.as_str()
                                    ),
                                });
                            findings.push(f);
                            invalid_fields.push(if pointer.is_empty() {
                                name.clone()
                            } else {
                                top_field.clone()
                            });
                        }
                        invalid = true;
                        continue;
                    }
                    _ => {
                        let detail = raw.replace('"', "`");
                        check_finding(
                            None,
                            Severity::Error,
                            format!("`{shown}` is not valid: {detail}"),
                        )
                        .with_label("here")
                    }
                };
                if finding.severity == Severity::Error {
                    invalid = true;
                    if recovered.last().is_none_or(|(p, _)| *p != pointer) {
                        invalid_fields.push(top_field.clone());
                    }
                }
                finding = finding.at_span(file, at).with_pointer(pointer);
                findings.push(finding);
            }
            if !normalise.is_empty() || !recovered.is_empty() {
                written = Some(document.value.clone());
            }
            for (pointer, canonical) in normalise {
                if let Some(slot) = document.value.pointer_mut(&pointer) {
                    *slot = Value::String(canonical);
                }
            }
            for (pointer, written) in &recovered {
                if let Some(slot) = document.value.pointer_mut(pointer) {
                    *slot = Value::String(written.clone());
                }
            }
            // A written value that is not valid either keeps its field invalid.
            if !recovered.is_empty() {
                for error in self.validator.iter_errors(&document.value) {
                    let at = error.instance_path().as_str().to_string();
                    if recovered.iter().any(|(p, _)| *p == at) {
                        invalid_fields.push(at.split('/').nth(1).unwrap_or("").to_string());
                    }
                }
            }
        }
        // F03 for values that are correct here but that YAML 1.1 tools (PyYAML, many CI scripts)
        // would read as booleans: `tenant_country: NO` unquoted.
        for field in &self.country_fields {
            let Some(Value::String(text)) = document.value.get(field) else {
                continue;
            };
            if !is_yaml11_bool_word(text) {
                continue;
            }
            let pointer = format!("/{field}");
            let Some(node) = document.spans.lookup(&document.value, &pointer) else {
                continue;
            };
            if node.plain_scalar {
                let read_as = yaml11_bool_value(text);
                findings.push(
                    check_finding(Some("F03"), Severity::Warning, format!("unquoted country code {} is read as boolean `{read_as}` by YAML 1.1 tools", code(text)))
                        .with_label("quote this value")
                        .with_help(format!("quote the country code, e.g. `{field}: \"{text}\"`"))
                        .at_span(file, node.span)
                        .with_pointer(pointer),
                );
            }
        }
        invalid_fields.sort();
        invalid_fields.dedup();
        SchemaOutcome {
            findings,
            invalid,
            invalid_fields,
            written,
        }
    }
}

fn kind_article(kind: Kind, pointer: &str) -> String {
    if pointer.is_empty() {
        format!("the {} document", kind.as_str())
    } else {
        format!("`{}`", pointer.rsplit('/').next().unwrap_or(pointer))
    }
}

/// The closest candidate by edit distance, if close enough to be a likely typo.
pub fn suggest<'a>(text: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = text.to_ascii_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        // A cheap length filter first: a dangling reference in a repository of 100,000
        // customers must not cost 100,000 string similarity computations.
        if candidate.len().abs_diff(wanted.len()) > 3 {
            continue;
        }
        let score = if candidate.bytes().any(|b| b.is_ascii_uppercase()) {
            strsim::jaro_winkler(&wanted, &candidate.to_ascii_lowercase())
        } else {
            strsim::jaro_winkler(&wanted, candidate)
        };
        if score >= 0.85 && best.is_none_or(|(s, c)| score > s || (score == s && candidate < c)) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;

    fn builtin() -> (SchemaSet, SourceMap) {
        let mut sources = SourceMap::new();
        let loaded = SchemaSet::load(
            None,
            &mut sources,
            1 << 20,
            &crate::input::ReadScope::default(),
        )
        .unwrap();
        assert!(loaded.findings.is_empty(), "{:?}", loaded.findings);
        (loaded.set, sources)
    }

    fn check(kind: Kind, text: &str) -> (Vec<Finding>, LoadedDocument) {
        let (set, _) = builtin();
        let mut loaded = crate::yaml::load(text, 0, FileId(0), &Limits::default());
        let mut doc = loaded.documents.remove(0);
        let outcome = set
            .for_kind(kind)
            .unwrap()
            .validate(kind, &mut doc, FileId(0));
        (outcome.findings, doc)
    }

    const PARTNER: &str = "kind: Partner\nid: fabrikam\nname: Fabrikam IT\ntenant_id: da6c51b5-1246-4a42-b4ab-cbf38df54537\npartner_id: \"4847383\"\ncsp_role: direct_bill\ncloud: commercial\ncountry: \"NO\"\n";

    #[test]
    fn every_builtin_kind_has_a_schema() {
        let (set, _) = builtin();
        for kind in Kind::ALL {
            assert!(set.for_kind(kind).is_some(), "{kind}");
        }
    }

    #[test]
    fn valid_partner_passes() {
        let (findings, _) = check(Kind::Partner, PARTNER);
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn boolean_country_is_f03_with_quote_help() {
        let text = PARTNER.replace("country: \"NO\"", "country: false");
        let (findings, _) = check(Kind::Partner, &text);
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!(&*f.code, "F03");
        assert_eq!(
            f.message,
            "`country` must be a quoted two-letter code like \"NO\"; found boolean `false`"
        );
        assert!(f
            .help
            .as_deref()
            .unwrap()
            .starts_with("quote the country code"));
        assert_eq!(&text[f.location.unwrap().span.range()], "false");
    }

    #[test]
    fn unquoted_no_is_an_f03_warning() {
        let text = PARTNER.replace("country: \"NO\"", "country: NO");
        let (findings, _) = check(Kind::Partner, &text);
        assert_eq!(findings.len(), 1);
        assert_eq!(&*findings[0].code, "F03");
        assert_eq!(findings[0].severity, Severity::Warning);
    }

    #[test]
    fn unquoted_partner_id_is_f02() {
        let text = PARTNER.replace("\"4847383\"", "4847383");
        let (findings, _) = check(Kind::Partner, &text);
        assert_eq!(&*findings[0].code, "F02");
        assert!(findings[0].help.as_deref().unwrap().starts_with("quote it"));
    }

    #[test]
    fn unknown_field_suggests_the_known_one() {
        let text = format!("{PARTNER}tennant_id: x\n");
        let (findings, _) = check(Kind::Partner, &text);
        assert_eq!(findings.len(), 1);
        assert_eq!(
            findings[0].message,
            "unknown field `tennant_id` in the Partner document"
        );
        assert_eq!(
            findings[0].help.as_deref(),
            Some("did you mean `tenant_id`?")
        );
        assert_eq!(
            &text[findings[0].location.unwrap().span.range()],
            "tennant_id"
        );
    }

    #[test]
    fn enum_case_is_normalised_with_a_warning() {
        let text = PARTNER.replace("direct_bill", "Direct_Bill");
        let (findings, doc) = check(Kind::Partner, &text);
        assert_eq!(&*findings[0].code, "F05");
        assert_eq!(doc.value["csp_role"], "direct_bill");
    }

    #[test]
    fn enum_typo_suggests() {
        let text = PARTNER.replace("direct_bill", "direct_bil");
        let (findings, _) = check(Kind::Partner, &text);
        assert_eq!(&*findings[0].code, "S001");
        assert_eq!(
            findings[0].help.as_deref(),
            Some("did you mean `direct_bill`?")
        );
    }

    #[test]
    fn missing_field_points_at_the_document_head() {
        let text = PARTNER.replace("name: Fabrikam IT\n", "");
        let (findings, _) = check(Kind::Partner, &text);
        assert_eq!(
            findings[0].message,
            "the Partner document is missing required field `name`"
        );
        assert_eq!(&text[findings[0].location.unwrap().span.range()], "kind");
    }

    #[test]
    fn external_refs_are_refused_when_compiling() {
        let mut sources = SourceMap::new();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("partner.json"),
            r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"kind":{"const":"Partner"},"x":{"$ref":"https://example.com/s.json"}}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("customer.json"),
            r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"kind":{"const":"Customer"},"x":{"$ref":"file:///etc/passwd"}}}"#,
        )
        .unwrap();
        let loaded = SchemaSet::load(
            Some(dir.path()),
            &mut sources,
            1 << 20,
            &crate::input::ReadScope::new(dir.path()),
        )
        .unwrap();
        assert_eq!(loaded.findings.len(), 2, "{:?}", loaded.findings);
        assert!(loaded.findings.iter().all(|f| &*f.code == "S002"));
        assert!(loaded.set.broken_schema(Kind::Partner).is_some());
    }
}
