//! `channelguard schemas export DIR`: writes the bundled JSON Schemas, `document.json` and the
//! schemas of `channelguard.yaml` and `*.test.yaml` to a directory, for editors that validate
//! YAML as it is typed (docs/editors.md).

use crate::args::{SchemasArgs, SchemasCommand};
use std::process::ExitCode;

use serde_json::{json, Value};

use channelguard::schema::{BUILTIN_SCHEMAS, EDITOR_SCHEMAS};

/// File name of the schema that accepts a document of any kind (see [`document_schema`]).
const DOCUMENT_SCHEMA: &str = "document.json";

pub fn run(args: SchemasArgs) -> Result<ExitCode, String> {
    match args.command {
        SchemasCommand::Export { dir } => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
            let document = serde_json::to_string_pretty(&document_schema())
                .map_err(|e| format!("cannot encode `{DOCUMENT_SCHEMA}`: {e}"))?;
            let files = BUILTIN_SCHEMAS
                .iter()
                .chain(EDITOR_SCHEMAS)
                .map(|(name, text)| (*name, without_id(text)))
                .chain([(DOCUMENT_SCHEMA, document + "\n")]);
            let mut written = 0;
            for (name, text) in files {
                let path = dir.join(name);
                std::fs::write(&path, text)
                    .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
                written += 1;
            }
            println!("wrote {written} schemas to {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The schema text without its top-level `$id` line. The bundled schemas carry an absolute
/// `$id` (`https://channelguard.dev/...`), against which a validator resolves the relative
/// `$ref`s (`common.json#/$defs/guid`); offline, check-jsonschema then fails to fetch them.
/// Without the `$id`, every tool resolves them against the exported file's own location, so
/// the directory works as it lies on disk (and as `--schemas`, which names files by path).
fn without_id(text: &str) -> String {
    text.split_inclusive('\n')
        .filter(|line| !line.starts_with("  \"$id\": "))
        .collect()
}

/// A schema for "any document of the data model": it applies the schema of the document's
/// `kind`. Editors apply one schema to every document of a file, and the data model lets one
/// file hold a customer with its relationships and subscriptions, so the per-kind schemas
/// alone cannot be mapped to such files. It has no `properties.kind.const`, so the engine
/// skips it when the exported directory is used with `--schemas`.
fn document_schema() -> Value {
    let mut kinds = Vec::new();
    let mut branches = Vec::new();
    for (name, text) in BUILTIN_SCHEMAS {
        let Ok(schema) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        let Some(kind) = schema
            .pointer("/properties/kind/const")
            .and_then(Value::as_str)
        else {
            continue;
        };
        kinds.push(kind.to_string());
        branches.push(json!({
            "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
            "then": {"$ref": name},
        }));
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "channelguard account data document",
        "description": "Any document of the account data model: the schema of its `kind` applies.",
        "type": "object",
        "required": ["kind", "id"],
        "properties": {
            "kind": {
                "enum": kinds,
                "description": "Document kind; selects the schema the rest of the document must match.",
            },
        },
        "allOf": branches,
    })
}
