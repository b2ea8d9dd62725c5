//! The registry of built-in checks: every code channelguard itself emits (loader, document
//! shape, schema, references, policy runtime, configuration), with its default severity and a
//! one-line description. Policies (MC…) carry their own metadata in their script headers.

use crate::finding::{Finding, Severity};

/// Metadata of a built-in check. `id` is the stable code printed with each finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuiltinCheck {
    pub id: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub help: &'static str,
}

macro_rules! checks {
    ($($konst:ident = $id:literal, $name:literal, $sev:ident, $summary:literal, $help:literal;)*) => {
        $(
            #[doc = $summary]
            pub const $konst: &BuiltinCheck = &BuiltinCheck {
                id: $id,
                name: $name,
                severity: Severity::$sev,
                summary: $summary,
                help: $help,
            };
        )*
        /// Every built-in check, in id order.
        pub const ALL: &[&BuiltinCheck] = &[$($konst),*];
    };
}

checks! {
    YAML_SYNTAX = "Y001", "yaml-syntax", Error,
        "the file is not valid YAML",
        "fix the YAML syntax at the marked place";
    DUPLICATE_KEY = "Y002", "duplicate-key", Error,
        "a mapping has the same key twice",
        "remove one of the two entries; YAML does not allow duplicate keys";
    TAB_INDENTATION = "Y003", "tab-indentation", Error,
        "a line is indented with a tab",
        "indent with spaces: YAML forbids tabs in indentation";
    INVALID_ENCODING = "Y004", "invalid-encoding", Error,
        "the file is not valid UTF-8",
        "save the file as UTF-8";
    BYTE_ORDER_MARK = "Y005", "byte-order-mark", Warning,
        "the file starts with a UTF-8 byte order mark",
        "save the file as UTF-8 without a byte order mark";
    EMPTY_FILE = "Y006", "empty-file", Warning,
        "the file holds no document",
        "add documents or delete the file";
    EMPTY_DOCUMENT = "Y007", "empty-document", Warning,
        "a document between `---` separators is empty",
        "remove the extra `---` separator";
    LIMIT_EXCEEDED = "Y008", "input-limit", Error,
        "the file breaks a size, depth, node or alias limit",
        "split the file or simplify it; limits can be raised in channelguard.yaml (`limits:`) up to their hard maxima";
    UNSUPPORTED_TAG = "Y009", "unsupported-tag", Error,
        "a node has a YAML tag other than the core ones",
        "remove the tag; account data uses plain YAML values";
    MERGE_KEY = "Y010", "merge-key", Error,
        "a `<<` merge key is used",
        "write the fields out: merge keys are not part of YAML 1.2 and are not supported";
    NUMBER_OUT_OF_RANGE = "Y011", "number-out-of-range", Error,
        "a number cannot be represented exactly (too large, `.nan` or `.inf`)",
        "quote the value if it is an identifier, or use a smaller number";
    COMPLEX_KEY = "Y012", "complex-key", Error,
        "a mapping key is not a plain scalar",
        "use a string as the key";
    UNREADABLE_FILE = "Y013", "unreadable-file", Error,
        "a file could not be read",
        "check that the path is a regular file inside the repository and readable";
    NOT_A_MAPPING = "D001", "document-not-a-mapping", Error,
        "a document is not a mapping with `kind` and `id`",
        "write each document as a mapping that starts with `kind:` and `id:`";
    MISSING_KIND = "D002", "missing-kind", Error,
        "a document has no `kind`",
        "add `kind:` with one of Partner, Customer, Subscription, ResellerRelationship, DelegatedAdmin, IndirectPartnership, Transfer";
    UNKNOWN_KIND = "D003", "unknown-kind", Error,
        "a document has a `kind` that the data model does not define",
        "use one of Partner, Customer, Subscription, ResellerRelationship, DelegatedAdmin, IndirectPartnership, Transfer";
    MISSING_ID = "D004", "missing-id", Error,
        "a document has no string `id`",
        "add `id:` with a string that is unique for its kind";
    GUID_FORMAT = "F01", "guid-format", Error,
        "a GUID field does not hold a GUID in 8-4-4-4-12 hexadecimal form",
        "write the GUID as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (the Microsoft ID is the tenant GUID, not a 16-digit number)";
    PARTNER_ID_FORMAT = "F02", "partner-id-format", Error,
        "a PartnerID is not a quoted string of 6 to 8 digits",
        "quote the PartnerID, e.g. `partner_id: \"4847383\"`: an unquoted number loses leading zeros";
    COUNTRY_CODE_FORMAT = "F03", "country-code-format", Error,
        "a country code is not a quoted upper-case ISO 3166-1 alpha-2 code (the Norway problem)",
        "quote the country code, e.g. `country: \"NO\"`: YAML 1.1 tools read an unquoted `NO` as `false`";
    DATE_FORMAT = "F04", "date-format", Error,
        "a date field does not hold an ISO 8601 date `YYYY-MM-DD`",
        "write the date as `YYYY-MM-DD`, e.g. `2024-01-10`";
    ENUM_CASE = "F05", "enum-case", Warning,
        "an enum value is written in another case than the data model's lower snake_case",
        "write the value in lower snake_case";
    SCHEMA_VIOLATION = "S001", "schema-violation", Error,
        "a document does not match the JSON Schema of its kind",
        "change the value to match the field's description in the schema";
    SCHEMA_ERROR = "S002", "schema-error", Error,
        "a JSON Schema could not be loaded or compiled",
        "fix the schema file; documents of its kind were not validated";
    MISSING_SCHEMA = "S003", "missing-schema", Error,
        "no schema of the schema directory declares a kind that documents use",
        "add a schema whose `properties.kind.const` names the kind, or drop `--schemas`/`schemas:` to use the bundled schemas";
    NOT_EVALUATED = "S004", "rules-not-evaluated", Info,
        "rules were not evaluated on some documents because they read a field that is invalid or missing",
        "fix the error reported on this field; the rules named then run on these documents";
    DUPLICATE_ID = "R001", "duplicate-id", Error,
        "two documents of the same kind share an `id`",
        "give one of the documents another `id`, or remove the duplicate";
    UNKNOWN_REFERENCE = "R002", "unknown-reference", Error,
        "a reference names a document that does not exist",
        "fix the id or add the missing document";
    WRONG_KIND_REFERENCE = "R003", "wrong-kind-reference", Error,
        "a reference names a document of another kind",
        "reference a document of the kind the field expects";
    POLICY_SYNTAX = "P001", "policy-syntax", Error,
        "a policy script does not compile",
        "fix the script at the marked place";
    POLICY_RUNTIME = "P002", "policy-runtime-error", Error,
        "a policy script failed while it ran",
        "fix the script at the marked place; the policy's result for this document is unknown";
    POLICY_LIMIT = "P003", "policy-limit", Error,
        "a policy script hit an operation, time, depth or size limit",
        "simplify the policy, or raise the limit in channelguard.yaml (`limits:`)";
    POLICY_METADATA = "P004", "policy-metadata", Error,
        "a policy's metadata header is missing or invalid",
        "start the script with the metadata header described in docs/policy-api.md";
    POLICY_OUTPUT = "P005", "policy-output", Info,
        "a policy printed text or reported more findings than shown",
        "remove `print`/`debug` calls, or fix the data so that fewer findings are reported";
    CONFIG_ERROR = "C001", "config-error", Error,
        "the configuration file is invalid",
        "fix the configuration at the marked place";
    WAIVER_EXPIRED = "W001", "waiver-expired", Error,
        "a waiver has expired",
        "renew the waiver with a new `expires` date after review, or fix the finding";
    WAIVER_UNUSED = "W002", "waiver-unused", Warning,
        "a waiver matches no finding",
        "remove the waiver: the finding it accepted is gone";
    INTERNAL_ERROR = "X001", "internal-error", Error,
        "channelguard hit an internal error on this input",
        "please report this with the input that caused it";
}

/// Checks whose findings mean that input was not (fully) checked: a file that could not be read,
/// decoded or parsed to its end, a limit that stopped loading, and every error of the tool
/// itself (a schema, policy or configuration that could not be used, an internal error). A
/// partial check must never look clean, so these can be neither turned off nor downgraded in
/// `rules:`, waived, or recorded in a baseline.
pub const UNCHECKED: &[&BuiltinCheck] = &[
    YAML_SYNTAX,
    TAB_INDENTATION,
    INVALID_ENCODING,
    LIMIT_EXCEEDED,
    UNREADABLE_FILE,
    SCHEMA_ERROR,
    MISSING_SCHEMA,
    POLICY_SYNTAX,
    POLICY_RUNTIME,
    POLICY_LIMIT,
    POLICY_METADATA,
    CONFIG_ERROR,
    INTERNAL_ERROR,
];

/// Whether findings of `id` mean that input was not checked (see [`UNCHECKED`]).
pub fn means_unchecked(id: &str) -> bool {
    UNCHECKED.iter().any(|c| c.id == id)
}

impl BuiltinCheck {
    /// A finding of this check, with its default severity and help.
    pub fn finding(&self, message: impl Into<String>) -> Finding {
        Finding::new(self.id, self.severity, message).with_help(self.help)
    }
}

/// A case a check reports at another severity than its default, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SeverityCase {
    pub severity: Severity,
    pub when: &'static str,
}

impl BuiltinCheck {
    /// The cases this check reports at another severity than [`BuiltinCheck::severity`];
    /// `list`, `explain`, SARIF and `docs/rules.md` show them beside the default.
    pub fn other_severities(&self) -> &'static [SeverityCase] {
        match self.id {
            "F03" => &[SeverityCase {
                severity: Severity::Warning,
                when: "a correct code written unquoted that YAML 1.1 tools read as a boolean (`NO`, `ON`, `Y`)",
            }],
            _ => &[],
        }
    }

    /// The severity as `list`, `explain` and the docs show it: `error`, or `error/warning`
    /// when some cases are reported at another severity.
    pub fn severity_text(&self) -> String {
        let mut text = self.severity.as_str().to_string();
        for case in self.other_severities() {
            text.push('/');
            text.push_str(case.severity.as_str());
        }
        text
    }
}

/// Looks a built-in check up by id or name.
pub fn find(id_or_name: &str) -> Option<&'static BuiltinCheck> {
    ALL.iter()
        .copied()
        .find(|c| c.id == id_or_name || c.name == id_or_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_and_names_are_unique() {
        let ids: HashSet<_> = ALL.iter().map(|c| c.id).collect();
        let names: HashSet<_> = ALL.iter().map(|c| c.name).collect();
        assert_eq!(ids.len(), ALL.len());
        assert_eq!(names.len(), ALL.len());
    }

    #[test]
    fn unchecked_codes_are_errors() {
        for c in UNCHECKED {
            assert_eq!(c.severity, Severity::Error, "{}", c.id);
        }
        assert!(means_unchecked("Y008") && means_unchecked("Y013") && means_unchecked("S003"));
        assert!(!means_unchecked("F05") && !means_unchecked("W002") && !means_unchecked("MC002"));
    }

    #[test]
    fn summaries_follow_the_message_style() {
        for c in ALL {
            assert!(!c.summary.ends_with('.'), "{}", c.id);
            assert!(
                c.summary.starts_with(|ch: char| !ch.is_uppercase()),
                "{}",
                c.id
            );
            assert!(
                c.help.starts_with(|ch: char| !ch.is_uppercase()),
                "{}",
                c.id
            );
            assert!(!c.help.ends_with('.'), "{}", c.id);
        }
    }
}
