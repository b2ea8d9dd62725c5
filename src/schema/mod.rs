//! JSON Schema validation: loads the bundled schemas (or a replacement directory), compiles one
//! validator per kind once, validates documents and turns validator errors into findings that
//! point at the offending node and say what was expected in a reviewer's words.
//!
//! Nothing is ever fetched: jsonschema is built without its retrieval features and every schema
//! is registered in memory, so a `$ref` that leaves the schema directory (or names a URL) fails
//! when the schema is compiled, as a located `S002` finding.
//!
//! Layout: `compile` loads and compiles the schema files, `fields` reads what messages need
//! about each field, `validate` runs a kind's validator step by step, `wording` turns each
//! validator error into a finding in a reviewer's words, `yaml11` is the F03 check for country
//! codes that YAML 1.1 tools read as booleans, and `expansion` bounds a schema before compiling.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jsonschema::Validator;
use serde_json::Value;

use crate::codes;
use crate::finding::Finding;
use crate::model::Kind;
use crate::source::{ByteSpan, FileId};

mod compile;
mod expansion;
mod fields;
mod validate;
mod wording;
mod yaml11;

use fields::FieldInfo;

/// The schemas bundled into the binary, by file name.
pub const BUILTIN_SCHEMAS: &[(&str, &str)] = &[
    ("common.json", include_str!("../../schemas/common.json")),
    ("customer.json", include_str!("../../schemas/customer.json")),
    (
        "delegated-admin.json",
        include_str!("../../schemas/delegated-admin.json"),
    ),
    (
        "indirect-partnership.json",
        include_str!("../../schemas/indirect-partnership.json"),
    ),
    ("partner.json", include_str!("../../schemas/partner.json")),
    (
        "reseller-relationship.json",
        include_str!("../../schemas/reseller-relationship.json"),
    ),
    (
        "subscription.json",
        include_str!("../../schemas/subscription.json"),
    ),
    ("transfer.json", include_str!("../../schemas/transfer.json")),
];

/// Schemas of channelguard's own files, for editors only (`schemas export`, docs/editors.md):
/// `channelguard.yaml` and policy test cases (`*.test.yaml`). The engine never validates with
/// them (they name no `kind`); tests keep them in step with src/config.rs and src/testing.rs.
pub const EDITOR_SCHEMAS: &[(&str, &str)] = &[
    (
        "channelguard-config.json",
        include_str!("../../schemas/tooling/channelguard-config.json"),
    ),
    (
        "policy-test.json",
        include_str!("../../schemas/tooling/policy-test.json"),
    ),
];

/// Base URI for schema files that declare no `$id`.
const LOCAL_BASE: &str = "https://channelguard.local/schemas/";

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

/// What a schema check found in one document.
pub struct SchemaOutcome {
    pub findings: Vec<Finding>,
    /// Errors (not warnings) were found.
    pub invalid: bool,
    /// The top-level fields that errors were found in (a missing required field, a value of
    /// the wrong type or format, an unknown field), sorted; `""` when an error concerns the
    /// document as a whole. Policies still see the document, but an evaluation that reads one
    /// of these fields is skipped and reported.
    pub invalid_fields: Vec<String>,
    /// The document as loaded, when validation changed it (an F05 enum normalised, an F01–F04
    /// value read as written): `--changed-since` compares what is written.
    pub written: Option<Value>,
}

fn schema_error(file: FileId, span: ByteSpan, message: String) -> Finding {
    codes::SCHEMA_ERROR
        .finding(message)
        .at_span(file, span)
        .tool()
}

impl SchemaSet {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;
    use crate::limits::Limits;
    use crate::source::SourceMap;
    use crate::yaml::LoadedDocument;

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
