//! The YAML 1.1 F03 check: a country code that is valid here but that YAML 1.1 tools (PyYAML,
//! many CI scripts) read as a boolean, such as `tenant_country: NO` unquoted.

use serde_json::Value;

use super::wording::check_finding;
use super::KindSchema;
use crate::codes;
use crate::finding::{quoted, Finding, Severity};
use crate::source::FileId;
use crate::yaml::LoadedDocument;

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

/// F03 warnings for the country fields of `document` written as unquoted YAML 1.1 booleans.
pub(super) fn unquoted_country_codes(
    schema: &KindSchema,
    document: &LoadedDocument,
    file: FileId,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for field in &schema.country_fields {
        let Some(Value::String(text)) = document.value.get(field) else {
            continue;
        };
        if !is_yaml11_bool_word(text) {
            continue;
        }
        let pointer = format!("/{field}");
        let Some(node) = document.spans.node_at(&document.value, &pointer) else {
            continue;
        };
        if node.plain_scalar {
            let read_as = yaml11_bool_value(text);
            findings.push(
                check_finding(
                    Some(codes::COUNTRY_CODE_FORMAT),
                    Severity::Warning,
                    format!(
                        "unquoted country code {} is read as boolean `{read_as}` by YAML 1.1 tools",
                        quoted(text)
                    ),
                )
                .with_label("quote this value")
                .with_help(format!(
                    "quote the country code, e.g. `{field}: \"{text}\"`"
                ))
                .at_span(file, node.span)
                .with_pointer(pointer),
            );
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::{is_yaml11_bool_word, yaml11_bool_value};

    #[test]
    fn yaml11_booleans_and_their_values() {
        for word in ["NO", "no", "No", "n", "off", "OFF"] {
            assert!(is_yaml11_bool_word(word), "{word}");
            assert!(!yaml11_bool_value(word), "{word}");
        }
        for word in ["YES", "y", "on", "On"] {
            assert!(is_yaml11_bool_word(word), "{word}");
            assert!(yaml11_bool_value(word), "{word}");
        }
        for word in ["SE", "nO", "true", "DK", ""] {
            assert!(!is_yaml11_bool_word(word), "{word}");
        }
    }
}
