//! Bounds the work a JSON Schema can ask of the validator before it is compiled: a schema whose
//! `$ref`s form a cycle, or whose references expand to more than [`MAX_EXPANDED_NODES`]
//! subschemas, is refused (S002) instead of validated.
//!
//! Schemas are untrusted input (`--schemas DIR` is usually committed with the data). A `$ref`
//! that recurses through `anyOf` and `allOf`/`items` makes validation exponential in the depth
//! of a document (28 s and 5.5 GB at 20 levels); a chain of definitions that each reference the
//! next twice is exponential in the length of the chain whatever the document. Account data has
//! a fixed shape, so its schemas need neither recursion nor large expansions: counting the
//! subschemas a schema expands to (each `$ref` replaced by its target, memoised so the count
//! itself is linear) bounds the validator's work per document node.

use std::collections::HashMap;

use serde_json::Value;

/// Most subschemas one kind's schema may expand to, `$ref`s replaced by their targets. The
/// bundled schemas expand to well under a thousand; this leaves room for rich custom schemas
/// and keeps validation bounded.
pub const MAX_EXPANDED_NODES: u64 = 100_000;

/// Why a schema was refused, at the `$ref` (JSON Pointer into the schema) that caused it.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub pointer: String,
    pub message: String,
}

/// Keywords whose values are data, not subschemas: a `$ref` key inside them is not a reference.
const DATA_KEYWORDS: &[&str] = &["const", "enum", "examples", "default"];

/// Checks the schema at `root_uri` against the other loaded resources (uri → schema).
pub fn check(root_uri: &str, resources: &HashMap<&str, &Value>) -> Result<u64, Refusal> {
    let Some(root) = resources.get(root_uri) else {
        return Ok(0);
    };
    let mut walker = Walker {
        resources,
        memo: HashMap::new(),
        active: vec![(root_uri.to_string(), String::new())],
    };
    let mut at = String::new();
    walker.size(root_uri, root, &mut at)
}

struct Walker<'a> {
    resources: &'a HashMap<&'a str, &'a Value>,
    /// Expanded size of each reference target already counted: (document uri, pointer).
    memo: HashMap<(String, String), u64>,
    /// Targets being counted (a reference to one of them is a cycle).
    active: Vec<(String, String)>,
}

impl Walker<'_> {
    /// Expanded size of `value`, a part of the document `uri`; `at` is the JSON Pointer of the
    /// place being counted in the schema under check (for the refusal's location).
    fn size(&mut self, uri: &str, value: &Value, at: &mut String) -> Result<u64, Refusal> {
        let mut total: u64 = 0;
        match value {
            Value::Object(map) => {
                total += 1;
                for (key, child) in map {
                    let len = at.len();
                    at.push('/');
                    at.push_str(&key.replace('~', "~0").replace('/', "~1"));
                    match key.as_str() {
                        "$ref" => {
                            if let Some(reference) = child.as_str() {
                                total = total.saturating_add(self.reference(uri, reference, at)?);
                            }
                        }
                        "$dynamicRef" | "$recursiveRef" => {
                            return Err(Refusal {
                                pointer: at.clone(),
                                message: format!(
                                    "`{key}` is not supported: dynamic references can make validation grow without bound"
                                ),
                            });
                        }
                        key if DATA_KEYWORDS.contains(&key) => {}
                        _ => total = total.saturating_add(self.size(uri, child, at)?),
                    }
                    at.truncate(len);
                    if total > MAX_EXPANDED_NODES {
                        return Err(too_large(at));
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = at.len();
                    at.push('/');
                    at.push_str(&i.to_string());
                    total = total.saturating_add(self.size(uri, item, at)?);
                    at.truncate(len);
                    if total > MAX_EXPANDED_NODES {
                        return Err(too_large(at));
                    }
                }
            }
            _ => {}
        }
        Ok(total)
    }

    fn reference(&mut self, uri: &str, reference: &str, at: &str) -> Result<u64, Refusal> {
        let (document, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let target_uri = resolve(uri, document);
        let Some(target_doc) = self.resources.get(target_uri.as_str()) else {
            // Unknown documents are the compiler's to report (no retrieval is compiled in).
            return Ok(0);
        };
        let Some((pointer, target)) = locate(target_doc, fragment) else {
            return Ok(0);
        };
        let key = (target_uri, pointer);
        if self.active.contains(&key) {
            return Err(Refusal {
                pointer: at.to_string(),
                message: format!(
                    "`$ref` `{reference}` refers back to a schema that contains it; recursive schemas are not supported, as they can make validation grow without bound"
                ),
            });
        }
        if let Some(size) = self.memo.get(&key) {
            return Ok(*size);
        }
        self.active.push(key.clone());
        // The location reported stays the `$ref` in the schema under check.
        let mut inner = at.to_string();
        let size = self.size(&key.0.clone(), target, &mut inner);
        self.active.pop();
        let size = size.map_err(|mut refusal| {
            refusal.pointer = at.to_string();
            refusal
        })?;
        self.memo.insert(key, size);
        Ok(size)
    }
}

fn too_large(at: &str) -> Refusal {
    Refusal {
        pointer: at.to_string(),
        message: format!(
            "schema expands to more than {MAX_EXPANDED_NODES} subschemas through its `$ref`s; validation would be too slow"
        ),
    }
}

/// `document` (the part of a `$ref` before `#`) resolved against the uri of the document that
/// holds it: empty is that document, an absolute uri is itself, anything else is relative to
/// its directory.
fn resolve(base: &str, document: &str) -> String {
    let base = base.split_once('#').map_or(base, |(b, _)| b);
    if document.is_empty() {
        return base.to_string();
    }
    if document.contains(':') {
        return document.to_string();
    }
    let directory = base.rfind('/').map_or("", |i| &base[..=i]);
    format!("{directory}{}", document.trim_start_matches("./"))
}

/// The subschema a fragment names: a JSON Pointer (`/…`) or an `$anchor` name; its canonical
/// pointer is returned as the memo key.
fn locate<'v>(document: &'v Value, fragment: &str) -> Option<(String, &'v Value)> {
    if fragment.is_empty() || fragment.starts_with('/') {
        return document
            .pointer(&fragment.replace("%25", "%"))
            .map(|v| (fragment.to_string(), v));
    }
    find_anchor(document, fragment, &mut String::new())
}

fn find_anchor<'v>(value: &'v Value, name: &str, at: &mut String) -> Option<(String, &'v Value)> {
    match value {
        Value::Object(map) => {
            if map.get("$anchor").and_then(Value::as_str) == Some(name) {
                return Some((at.clone(), value));
            }
            for (key, child) in map {
                if DATA_KEYWORDS.contains(&key.as_str()) {
                    continue;
                }
                let len = at.len();
                at.push('/');
                at.push_str(&key.replace('~', "~0").replace('/', "~1"));
                if let Some(found) = find_anchor(child, name, at) {
                    return Some(found);
                }
                at.truncate(len);
            }
            None
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = at.len();
                at.push('/');
                at.push_str(&i.to_string());
                if let Some(found) = find_anchor(item, name, at) {
                    return Some(found);
                }
                at.truncate(len);
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_one(schema: Value) -> Result<u64, Refusal> {
        let resources: HashMap<&str, &Value> = [("https://x/s.json", &schema)].into();
        check("https://x/s.json", &resources)
    }

    #[test]
    fn plain_schemas_and_acyclic_references_pass_with_their_size() {
        let size = check_one(json!({
            "$defs": { "id": { "type": "string" } },
            "properties": { "a": { "$ref": "#/$defs/id" }, "b": { "$ref": "#/$defs/id" } }
        }))
        .unwrap();
        // root, $defs, id, properties, a (+ id), b (+ id)
        assert_eq!(size, 8);
    }

    #[test]
    fn recursion_through_any_path_is_refused_at_the_ref() {
        for schema in [
            json!({ "properties": { "x": { "$ref": "#" } } }),
            json!({ "$defs": { "n": { "anyOf": [{ "items": { "$ref": "#/$defs/n" } }, { "allOf": [{ "$ref": "#/$defs/n" }] }] } },
                    "properties": { "x": { "$ref": "#/$defs/n" } } }),
            json!({ "$defs": { "a": { "$ref": "#/$defs/b" }, "b": { "$ref": "#/$defs/a" } } }),
            json!({ "$defs": { "n": { "$anchor": "node", "items": { "$ref": "#node" } } } }),
        ] {
            let refusal = check_one(schema.clone()).unwrap_err();
            assert!(
                refusal.message.contains("recursive"),
                "{schema}: {refusal:?}"
            );
            assert!(refusal.pointer.ends_with("/$ref"), "{refusal:?}");
        }
    }

    #[test]
    fn an_exponential_chain_of_definitions_is_refused() {
        let mut defs = serde_json::Map::new();
        for i in 0..40 {
            defs.insert(
                format!("d{i}"),
                json!({ "allOf": [{ "$ref": format!("#/$defs/d{}", i + 1) }, { "$ref": format!("#/$defs/d{}", i + 1) }] }),
            );
        }
        defs.insert("d40".into(), json!({ "type": "string" }));
        let refusal = check_one(json!({ "$defs": defs })).unwrap_err();
        assert!(
            refusal.message.contains("expands to more than"),
            "{refusal:?}"
        );
    }

    #[test]
    fn dynamic_references_are_refused_and_data_keywords_are_not_references() {
        let refusal =
            check_one(json!({ "properties": { "x": { "$dynamicRef": "#n" } } })).unwrap_err();
        assert_eq!(refusal.pointer, "/properties/x/$dynamicRef");
        assert!(check_one(json!({ "const": { "$ref": "#" }, "enum": [{ "$ref": "#" }] })).is_ok());
    }

    #[test]
    fn references_across_files_are_followed() {
        let a = json!({ "properties": { "x": { "$ref": "b.json#/$defs/y" } } });
        let b = json!({ "$defs": { "y": { "items": { "$ref": "a.json" } } } });
        let resources: HashMap<&str, &Value> =
            [("https://x/a.json", &a), ("https://x/b.json", &b)].into();
        let refusal = check("https://x/a.json", &resources).unwrap_err();
        assert_eq!(refusal.pointer, "/properties/x/$ref");
    }
}
