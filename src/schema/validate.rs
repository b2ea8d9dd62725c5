//! Validation of one document against its kind's schema, in named steps: collect the
//! validator's errors in a stable order, word each one as a finding, apply the value rewrites
//! (F05 normalisation, F01–F04 values read as written), then run the YAML 1.1 F03 check.

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use super::wording::{self, ErrorSite};
use super::{yaml11, KindSchema, SchemaOutcome};
use crate::finding::Severity;
use crate::model::Kind;
use crate::source::FileId;
use crate::yaml::LoadedDocument;

/// One validator error, owned (the validator borrows the document, which is rewritten later).
struct RawError {
    pointer: String,
    instance: Value,
    kind: ValidationErrorKind,
    /// The validator's own message.
    raw: String,
}

/// Values to write back into the document once every error is worded.
#[derive(Default)]
struct Rewrites {
    /// F05: pointer → canonical enum value.
    normalise: Vec<(String, String)>,
    /// F01–F04: pointer → the unquoted scalar's text as written.
    recovered: Vec<(String, String)>,
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
        let mut outcome = SchemaOutcome {
            findings: Vec::new(),
            invalid: false,
            invalid_fields: Vec::new(),
            written: None,
        };
        if !self.validator.is_valid(&document.value) {
            let errors = self.sorted_errors(&document.value);
            let rewrites = self.word_errors(kind, document, file, text, errors, &mut outcome);
            outcome.written = self.apply_rewrites(document, rewrites, &mut outcome.invalid_fields);
        }
        outcome
            .findings
            .extend(yaml11::unquoted_country_codes(self, document, file));
        outcome.invalid_fields.sort();
        outcome.invalid_fields.dedup();
        outcome
    }

    /// Step 1: the validator's errors, by instance pointer then message (deterministic).
    fn sorted_errors(&self, value: &Value) -> Vec<RawError> {
        let mut errors: Vec<RawError> = self
            .validator
            .iter_errors(value)
            .map(|e| {
                let raw = e.to_string();
                let parts = e.into_parts();
                RawError {
                    pointer: parts.instance_path.as_str().to_string(),
                    instance: parts.instance.into_owned(),
                    kind: parts.kind,
                    raw,
                }
            })
            .collect();
        errors.sort_by(|a, b| a.pointer.cmp(&b.pointer).then_with(|| a.raw.cmp(&b.raw)));
        errors
    }

    /// Step 2: one finding per error (one per unknown field), recording invalid fields and the
    /// rewrites to apply.
    fn word_errors(
        &self,
        kind: Kind,
        document: &LoadedDocument,
        file: FileId,
        text: Option<&str>,
        errors: Vec<RawError>,
        outcome: &mut SchemaOutcome,
    ) -> Rewrites {
        let mut rewrites = Rewrites::default();
        for error in errors {
            let pointer = error.pointer;
            let field = pointer.rsplit('/').next().unwrap_or("");
            let top_field = pointer.split('/').nth(1).unwrap_or("").to_string();
            let node = document.spans.node_at(&document.value, &pointer);
            let site = ErrorSite {
                shown: if field.is_empty() {
                    kind.as_str().to_string()
                } else {
                    field.to_string()
                },
                info: self.fields.get(&top_field),
                at: node.map_or(document.head, |n| n.span),
                node,
                top_field,
                pointer,
            };
            let finding = match &error.kind {
                ValidationErrorKind::Type { .. }
                | ValidationErrorKind::Pattern { .. }
                | ValidationErrorKind::Format { .. } => {
                    let (finding, written) =
                        wording::format_finding(&site, &error.kind, &error.instance, text);
                    if let Some(written) = written {
                        rewrites.recovered.push((site.pointer.clone(), written));
                    }
                    finding
                }
                ValidationErrorKind::Enum { options } => {
                    let (finding, canonical) =
                        wording::enum_finding(&site, options, &error.instance);
                    if let Some(canonical) = canonical {
                        rewrites.normalise.push((site.pointer.clone(), canonical));
                    }
                    finding
                }
                ValidationErrorKind::Required { property } => {
                    let property = property.as_str().unwrap_or("").to_string();
                    outcome.findings.push(wording::missing_field_finding(
                        &site,
                        kind,
                        &property,
                        self.fields.get(&property),
                        document.head,
                        file,
                    ));
                    outcome.invalid = true;
                    outcome.invalid_fields.push(if site.pointer.is_empty() {
                        property
                    } else {
                        site.top_field.clone()
                    });
                    continue;
                }
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    for name in unexpected {
                        let known = self.fields.keys().map(String::as_str);
                        outcome.findings.push(wording::unknown_field_finding(
                            &site, kind, name, document, known, file,
                        ));
                        outcome.invalid_fields.push(if site.pointer.is_empty() {
                            name.clone()
                        } else {
                            site.top_field.clone()
                        });
                    }
                    outcome.invalid = true;
                    continue;
                }
                _ => wording::other_finding(&site, &error.raw),
            };
            if finding.severity == Severity::Error {
                outcome.invalid = true;
                // A value read as written is not invalid (step 3 checks the written text).
                if rewrites
                    .recovered
                    .last()
                    .is_none_or(|(p, _)| *p != site.pointer)
                {
                    outcome.invalid_fields.push(site.top_field.clone());
                }
            }
            outcome
                .findings
                .push(finding.at_span(file, site.at).with_pointer(site.pointer));
        }
        rewrites
    }

    /// Step 3: writes the rewrites into the document; returns the document as it was loaded
    /// when anything changed. A value read as written that is not valid either keeps its field
    /// invalid.
    fn apply_rewrites(
        &self,
        document: &mut LoadedDocument,
        rewrites: Rewrites,
        invalid_fields: &mut Vec<String>,
    ) -> Option<Value> {
        let Rewrites {
            normalise,
            recovered,
        } = rewrites;
        let written =
            (!normalise.is_empty() || !recovered.is_empty()).then(|| document.value.clone());
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
        if !recovered.is_empty() {
            for error in self.validator.iter_errors(&document.value) {
                let at = error.instance_path().as_str().to_string();
                if recovered.iter().any(|(p, _)| *p == at) {
                    invalid_fields.push(at.split('/').nth(1).unwrap_or("").to_string());
                }
            }
        }
        written
    }
}
