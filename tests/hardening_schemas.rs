//! Hardening tests S1–S7 (docs/security.md, hardening notes §6): hostile JSON Schemas given
//! with `--schemas DIR` (a copy of the bundled ones with one file changed), checked by the real
//! binary over 20 good Partner files and one Customer file. Nothing is ever fetched: a
//! reference that leaves the schema directory is a located S002, and one broken schema never
//! stops the documents of other kinds from being validated.

mod hardening_support;

use std::path::PathBuf;
use std::time::Duration;

use hardening_support::*;
use serde_json::{json, Value};

const LONG: Duration = Duration::from_secs(30);

/// A Customer document with one schema error (`cloud: 7`) on line 5, column 8.
const CUSTOMER: &str = "kind: Customer\nid: contoso\nname: Contoso\ntenant_id: 00000000-0000-4000-8000-000000000001\ncloud: 7\ntenant_country: \"US\"\n";

/// The bundled schemas copied into `schemas/` of the repository, with `partner.json` replaced
/// by what `edit` makes of it.
fn schemas(repo: &Repo, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let dir = repo.path("schemas");
    let mut edit = Some(edit);
    for (name, text) in channelguard::schema::BUILTIN_SCHEMAS {
        let mut json: Value = serde_json::from_str(text).unwrap();
        if *name == "partner.json" {
            (edit.take().unwrap())(&mut json);
        }
        repo.write(
            &format!("schemas/{name}"),
            serde_json::to_string_pretty(&json).unwrap().as_bytes(),
        );
    }
    dir
}

fn run_with(repo: &Repo, dir: &std::path::Path) -> Run {
    repo.write("customers/contoso.yaml", CUSTOMER.as_bytes());
    let run = check(repo, &["--schemas", dir.to_str().unwrap()]);
    assert_eq!(run.files_checked(), GOOD_FILES as u64 + 1, "{}", run.stdout);
    run
}

/// The Customer file is still validated whatever happened to the Partner schema.
fn customer_still_validated(run: &Run) {
    let customer: Vec<_> = run
        .with_code("S001")
        .into_iter()
        .filter(|f| f["file"] == "customers/contoso.yaml")
        .collect();
    assert!(!customer.is_empty(), "{}", run.stdout);
    assert_eq!(
        (customer[0]["line"].as_u64(), customer[0]["column"].as_u64()),
        (Some(5), Some(8))
    );
}

/// A change to the Partner schema.
type Edit = Box<dyn FnOnce(&mut Value)>;

fn add_property(schema: &mut Value, name: &str, property: Value) {
    schema["properties"][name] = property;
}

#[test]
fn s1_external_references_are_refused_without_fetching() {
    for target in ["https://example.com/s.json", "file:///etc/passwd"] {
        let repo = Repo::new();
        let dir = schemas(&repo, |s| add_property(s, "x", json!({ "$ref": target })));
        let run = run_with(&repo, &dir);
        run.within(LONG);
        assert_eq!(run.code, 2, "{}", run.stdout);
        let errors = run.with_code("S002");
        let reference = errors
            .iter()
            .find(|f| f["message"].as_str().unwrap().contains("is not allowed"))
            .unwrap_or_else(|| panic!("{}", run.stdout));
        assert!(reference["file"]
            .as_str()
            .unwrap()
            .ends_with("partner.json"));
        assert!(reference["line"].as_u64().unwrap() > 1, "{reference}");
        customer_still_validated(&run);
    }
    // Nothing in the dependency graph could fetch: see deny.toml ([bans]) and the build
    // without jsonschema's default features.
}

#[test]
fn s2_references_stay_inside_the_schema_directory() {
    let repo = Repo::new();
    repo.write("outside.json", b"{\"type\": \"string\"}");
    let dir = schemas(&repo, |s| {
        add_property(s, "x", json!({ "$ref": "../../../outside.json" }));
    });
    let run = run_with(&repo, &dir);
    assert_eq!(run.code, 2);
    let errors = run.with_code("S002");
    assert!(
        errors
            .iter()
            .any(|f| f["message"].as_str().unwrap().contains("is not allowed")),
        "{}",
        run.stdout
    );
    customer_still_validated(&run);

    // A sibling file's definition resolves from the in-memory registry.
    let repo = Repo::new();
    let dir = schemas(&repo, |s| {
        add_property(s, "x", json!({ "$ref": "common.json#/$defs/guid" }));
    });
    let run = run_with(&repo, &dir);
    assert!(run.with_code("S002").is_empty(), "{}", run.stdout);
}

#[test]
fn s3_broken_schemas_are_located_and_only_their_kind_is_skipped() {
    let cases: Vec<(&str, Edit)> = vec![
        (
            "strng",
            Box::new(|s| add_property(s, "x", json!({ "type": "strng" }))),
        ),
        (
            "(",
            Box::new(|s| add_property(s, "x", json!({ "pattern": "(" }))),
        ),
        (
            "meta-schema",
            Box::new(|s| s["$schema"] = json!("https://example.com/unknown-meta")),
        ),
    ];
    for (what, edit) in cases {
        let repo = Repo::new();
        let dir = schemas(&repo, edit);
        let run = run_with(&repo, &dir);
        run.within(LONG);
        assert_eq!(run.code, 2, "{what}: {}", run.stdout);
        let errors = run.with_code("S002");
        assert!(
            errors
                .iter()
                .any(|f| f["file"].as_str().unwrap().ends_with("partner.json")),
            "{what}: {}",
            run.stdout
        );
        assert!(
            errors.iter().any(|f| f["message"]
                .as_str()
                .unwrap()
                .contains("20 Partner documents were not validated")),
            "{what}: {}",
            run.stdout
        );
        customer_still_validated(&run);
    }
}

#[test]
fn s3_invalid_json_is_located() {
    let repo = Repo::new();
    let dir = schemas(&repo, |_| {});
    repo.write(
        "schemas/partner.json",
        b"{\n  \"type\": \"object\",\n  \"properties\": {,\n}\n",
    );
    let run = run_with(&repo, &dir);
    assert_eq!(run.code, 2);
    let finding = run
        .with_code("S002")
        .into_iter()
        .find(|f| f["message"].as_str().unwrap().contains("not valid JSON"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert_at(&finding, "not valid JSON", "partner.json", 3, 18);
    customer_still_validated(&run);
}

#[test]
fn s4_empty_and_cyclic_references_terminate() {
    let cases: Vec<Edit> = vec![
        Box::new(|s| add_property(s, "x", json!({ "$ref": "" }))),
        Box::new(|s| {
            s["$defs"] = json!({
                "a": { "$ref": "#/$defs/b" },
                "b": { "$ref": "#/$defs/a" }
            });
            add_property(s, "x", json!({ "$ref": "#/$defs/a" }));
        }),
        Box::new(|s| {
            s["$dynamicAnchor"] = json!("node");
            add_property(
                s,
                "x",
                json!({ "$dynamicRef": "#node", "unevaluatedProperties": false }),
            );
        }),
    ];
    for edit in cases {
        let repo = Repo::new();
        let dir = schemas(&repo, edit);
        repo.write(
            "partners/x.yaml",
            good_partner(50)
                .replace("country", "x: {}\ncountry")
                .as_bytes(),
        );
        repo.write("customers/contoso.yaml", CUSTOMER.as_bytes());
        let run = check(&repo, &["--schemas", dir.to_str().unwrap()]);
        run.within(LONG);
        assert!(run.code == 1 || run.code == 2, "{}", run.stdout);
        assert_eq!(run.files_checked(), GOOD_FILES as u64 + 2);
        customer_still_validated(&run);
    }
}

#[test]
fn s5_pathological_patterns_stay_fast() {
    for pattern in ["^(a+)+$", "^(?=(a+))a*b$", "^(a|a?)+$"] {
        let repo = Repo::new();
        let dir = schemas(&repo, |s| {
            add_property(s, "x", json!({ "type": "string", "pattern": pattern }));
        });
        let value = format!("{}!", "a".repeat(50_000));
        for i in 0..5 {
            repo.write(
                &format!("partners/slow{i}.yaml"),
                good_partner(60 + i)
                    .replace("country", &format!("x: \"{value}\"\ncountry"))
                    .as_bytes(),
            );
        }
        let run = check(&repo, &["--schemas", dir.to_str().unwrap()]);
        // Five instances: well under a second each even in a debug build.
        run.within(LONG);
        assert!(run.code == 1 || run.code == 2, "{pattern}: {}", run.stdout);
        assert_eq!(run.files_checked(), GOOD_FILES as u64 + 5);
        let on_x: Vec<_> = run.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["pointer"] == "/x")
            .cloned()
            .collect();
        assert_eq!(on_x.len(), 5, "{pattern}: {}", run.stdout);
        assert_eq!(on_x[0]["line"], 8);
    }
}

#[test]
fn s6_a_huge_schema_is_capped_and_the_others_still_load() {
    let repo = Repo::new();
    let dir = schemas(&repo, |s| {
        for i in 0..100_000 {
            add_property(
                s,
                &format!("field_{i:06}"),
                json!({ "type": "string", "description": "x" }),
            );
        }
    });
    assert!(std::fs::metadata(dir.join("partner.json")).unwrap().len() > 5_000_000);
    let run = run_with(&repo, &dir);
    run.within(LONG);
    assert_eq!(run.code, 2);
    let finding = run
        .with_code("S002")
        .into_iter()
        .find(|f| {
            f["message"]
                .as_str()
                .unwrap()
                .contains("larger than the limit")
        })
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert_at(
        &finding,
        "larger than the limit of 1048576 bytes",
        "partner.json",
        1,
        1,
    );
    customer_still_validated(&run);
}

#[test]
fn s7_errors_deep_inside_a_document_point_at_the_right_node() {
    let repo = Repo::new();
    let dir = schemas(&repo, |s| {
        // 40 levels of `a/b~c` mappings with an integer at the bottom.
        let mut inner = json!({ "type": "integer" });
        for _ in 0..40 {
            inner = json!({ "type": "object", "properties": { "a/b~c": inner } });
        }
        add_property(s, "deep", inner);
    });
    let mut text = good_partner(70).replace("country", "deep:\ncountry");
    let mut nested = String::new();
    for level in 0..40 {
        nested.push_str(&format!("{}a/b~c:\n", "  ".repeat(level + 1)));
    }
    nested.push_str(&format!("{}\"not a number\"\n", "  ".repeat(41)));
    text = text.replace("deep:\n", &format!("deep:\n{nested}"));
    repo.write("partners/deep.yaml", text.as_bytes());
    let run = check(&repo, &["--schemas", dir.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let finding = run.one("S001");
    assert_eq!(finding["file"], "partners/deep.yaml");
    // Line 8 holds `deep:`, then 40 key lines; the value is on line 49 at column 83.
    assert_eq!(
        (finding["line"].as_u64(), finding["column"].as_u64()),
        (Some(49), Some(83))
    );
    assert!(finding["pointer"]
        .as_str()
        .unwrap()
        .starts_with("/deep/a~1b~0c/"));
}

#[test]
fn s3_a_schema_that_is_not_utf8_is_located_and_the_others_still_load() {
    // Found by the validate_render fuzz target: this used to stop the whole run.
    let repo = Repo::new();
    let dir = schemas(&repo, |_| {});
    repo.write("schemas/partner.json", b"{\"type\": \"\xff\xfe\"}");
    let run = run_with(&repo, &dir);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let finding = run
        .with_code("S002")
        .into_iter()
        .find(|f| f["message"].as_str().unwrap().contains("not valid UTF-8"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert_at(
        &finding,
        "schema is not valid UTF-8 (byte 10)",
        "partner.json",
        1,
        1,
    );
    customer_still_validated(&run);
}

#[test]
fn s8_schemas_that_make_validation_explode_are_refused_before_validating() {
    // Found while hardening limits (issue 11): a `$ref` recursing through `anyOf` and
    // `allOf`/`items` took 28 s and 5.5 GB on a partner field nested 20 levels deep; a chain of
    // definitions that each reference the next twice is exponential whatever the document.
    let nested = format!("{}1{}", "[".repeat(20), "]".repeat(20));
    let recursive: Edit = Box::new(|s| {
        s["$defs"] = json!({
            "n": { "anyOf": [
                { "type": "array", "items": { "$ref": "#/$defs/n" } },
                { "allOf": [{ "$ref": "#/$defs/n" }, { "items": { "$ref": "#/$defs/n" } }] },
                { "type": "integer" }
            ] }
        });
        add_property(s, "x", json!({ "$ref": "#/$defs/n" }));
    });
    let chain: Edit = Box::new(|s| {
        let mut defs = serde_json::Map::new();
        for i in 0..60 {
            defs.insert(
                format!("d{i}"),
                json!({ "allOf": [{ "$ref": format!("#/$defs/d{}", i + 1) }, { "$ref": format!("#/$defs/d{}", i + 1) }] }),
            );
        }
        defs.insert("d60".into(), json!({ "type": "array" }));
        s["$defs"] = Value::Object(defs);
        add_property(s, "x", json!({ "$ref": "#/$defs/d0" }));
    });
    for (edit, why) in [
        (recursive, "recursive schemas are not supported"),
        (chain, "expands to more than"),
    ] {
        let repo = Repo::new();
        let dir = schemas(&repo, edit);
        repo.write(
            "partners/x.yaml",
            good_partner(50)
                .replace("country", &format!("x: {nested}\ncountry"))
                .as_bytes(),
        );
        repo.write("customers/contoso.yaml", CUSTOMER.as_bytes());
        let run = check(&repo, &["--schemas", dir.to_str().unwrap()]);
        run.within(LONG);
        assert_eq!(run.code, 2, "{}", run.stdout);
        let refused = run
            .with_code("S002")
            .into_iter()
            .find(|f| f["message"].as_str().unwrap().contains(why))
            .unwrap_or_else(|| panic!("{}", run.stdout));
        let message = refused["message"].as_str().unwrap();
        assert!(message.contains(why), "{message}");
        assert!(
            message.contains("documents of kind `Partner` are not validated"),
            "{message}"
        );
        assert!(refused["file"]
            .as_str()
            .unwrap()
            .ends_with("schemas/partner.json"));
        // Located at the `$ref` that was refused, not at the top of the file.
        assert!(refused["line"].as_u64().unwrap() > 1, "{refused}");
        customer_still_validated(&run);
    }
}
