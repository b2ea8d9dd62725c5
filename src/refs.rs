//! Repository checks on identity and references: `id` unique per kind (R001) and every
//! reference field naming an existing document of the right kind (R002, R003), with a
//! "did you mean" suggestion for near misses.

use rayon::prelude::*;
use serde_json::Value;

use crate::codes::{self, BuiltinCheck};
use crate::finding::{code, Finding, RelatedLabel};
use crate::repository::{DocIndex, Document, Repository};
use crate::schema::suggest;

fn finding(check: &BuiltinCheck, message: String) -> Finding {
    Finding::new(check.id, check.severity, message).with_help(check.help)
}

/// What the repository checks found.
pub struct RefsOutcome {
    pub findings: Vec<Finding>,
    /// Documents with a reference that does not resolve: policies skip them, so a dangling
    /// reference is reported once (R002/R003) rather than again by every rule that follows it.
    pub dangling: Vec<DocIndex>,
}

/// Runs both checks over the whole repository.
pub fn check(repo: &Repository) -> RefsOutcome {
    let mut findings = duplicate_ids(repo);
    let per_document: Vec<(DocIndex, Vec<Finding>)> = (0..repo.documents.len() as DocIndex)
        .into_par_iter()
        .map(|index| (index, check_references(repo, repo.get(index))))
        .filter(|(_, found)| !found.is_empty())
        .collect();
    let mut dangling = Vec::with_capacity(per_document.len());
    for (index, found) in per_document {
        dangling.push(index);
        findings.extend(found);
    }
    RefsOutcome { findings, dangling }
}

fn duplicate_ids(repo: &Repository) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (index, doc) in repo.documents.iter().enumerate() {
        let Some(first) = repo.find(doc.kind, &doc.id) else {
            continue;
        };
        if first as usize == index {
            continue;
        }
        let original = repo.get(first);
        findings.push(
            finding(
                codes::DUPLICATE_ID,
                format!("duplicate {} id {}", doc.kind, code(&doc.id)),
            )
            .at(doc.location("/id"))
            .with_label("second document with this id")
            .with_pointer("/id")
            .with_document(Some(doc.reference()))
            .with_related(RelatedLabel {
                location: original.location("/id"),
                message: "first defined here".to_string(),
                pointer: Some("/id".to_string()),
                document: Some(original.reference()),
            }),
        );
    }
    findings
}

fn check_references(repo: &Repository, doc: &Document) -> Vec<Finding> {
    let mut findings = Vec::new();
    if !doc.checkable {
        return findings;
    }
    for field in doc.kind.references() {
        let Some(value) = doc.value.get(field.field) else {
            continue;
        };
        let targets: Vec<(String, &str)> = if field.many {
            match value.as_array() {
                Some(items) => items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| v.as_str().map(|s| (format!("/{}/{i}", field.field), s)))
                    .collect(),
                None => continue,
            }
        } else {
            match value {
                Value::String(s) => vec![(format!("/{}", field.field), s.as_str())],
                _ => continue, // a type error, reported by the schema
            }
        };
        for (pointer, target) in targets {
            if repo.find(field.target, target).is_some() {
                continue;
            }
            let elsewhere = repo.kinds_with_id(target);
            let f = if let Some(other) = elsewhere.first() {
                let found = repo.get(repo.find(*other, target).expect("kinds_with_id found it"));
                finding(
                    codes::WRONG_KIND_REFERENCE,
                    format!(
                        "`{}` refers to {}, which is a {}, not a {}",
                        field.field,
                        code(target),
                        other,
                        field.target
                    ),
                )
                .with_label(format!("expected a {} id", field.target))
                .with_related(RelatedLabel {
                    location: found.location("/id"),
                    message: format!("{} {} is defined here", other, code(target)),
                    pointer: Some("/id".to_string()),
                    document: Some(found.reference()),
                })
            } else {
                let mut f = finding(
                    codes::UNKNOWN_REFERENCE,
                    format!(
                        "`{}` refers to unknown {} {}",
                        field.field,
                        field.target,
                        code(target)
                    ),
                )
                .with_label(format!("no {} with this id", field.target));
                if let Some(best) = suggest(target, repo.ids_of_kind(field.target)) {
                    f.help = Some(format!("did you mean `{best}`?"));
                } else {
                    f.help = Some(format!(
                        "add a {} document with `id: {target}`, or fix the id",
                        field.target
                    ));
                }
                f
            };
            findings.push(
                f.at(doc.location(&pointer))
                    .with_pointer(pointer)
                    .with_document(Some(doc.reference())),
            );
        }
    }
    findings
}
