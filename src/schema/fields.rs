//! Field introspection: what the engine reads once from a kind's schema about each of its
//! fields (format check, example, allowed values, type), for messages and policies.

use std::collections::HashMap;

use serde_json::Value;

use crate::codes::{self, BuiltinCheck};
use crate::source::FileId;

/// What the engine knows about one field of a kind, read from the schema once.
#[derive(Clone, Debug, Default)]
pub(super) struct FieldInfo {
    /// `x-channelguard-check` of the field's schema (or the definition it references).
    pub(super) check: Option<String>,
    /// First entry of `examples`.
    pub(super) example: Option<Value>,
    /// Allowed values of an `enum` field.
    pub(super) options: Vec<String>,
    pub(super) expected_type: Option<String>,
}

impl FieldInfo {
    /// The built-in format check (F01–F05) the field names, if it names a known one.
    pub(super) fn format_check(&self) -> Option<&'static BuiltinCheck> {
        self.check.as_deref().and_then(codes::find)
    }
}

/// Reads, for every property of a kind schema, what messages need (check id, example, enum).
pub(super) fn field_infos(
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
