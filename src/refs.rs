//! Repository checks on identity and references: `id` unique per kind (R001) and every
//! reference field naming an existing document of the right kind (R002, R003), with a
//! "did you mean" suggestion for near misses.

use std::collections::HashMap;
use std::sync::OnceLock;

use rayon::prelude::*;
use serde_json::Value;

use crate::codes;
use crate::finding::{quoted, Finding, RelatedLabel};
use crate::model::Kind;
use crate::repository::{DocIndex, Document, Repository};
use crate::suggest;

/// What the repository checks found.
pub struct RefsOutcome {
    /// Duplicate ids (R001): about the repository as a whole.
    pub findings: Vec<Finding>,
    /// R002/R003, by the document whose reference it is.
    pub references: Vec<(DocIndex, Finding)>,
    /// Reference fields that do not resolve, by document: policy evaluations that read such a
    /// field are skipped (and counted), so a dangling reference is reported as R002/R003 rather
    /// than as whatever a rule following it would conclude.
    pub dangling: Vec<(DocIndex, &'static str)>,
}

/// Runs both checks over the whole repository.
pub fn check(repo: &Repository) -> RefsOutcome {
    let findings = duplicate_ids(repo);
    let suggester = Suggester::default();
    let per_document: Vec<(DocIndex, Vec<(&str, Finding)>)> = (0..repo.documents.len() as DocIndex)
        .into_par_iter()
        .map(|index| (index, check_references(repo, repo.get(index), &suggester)))
        .filter(|(_, found)| !found.is_empty())
        .collect();
    let mut dangling = Vec::with_capacity(per_document.len());
    let mut references = Vec::new();
    for (index, found) in per_document {
        for (field, finding) in found {
            if !dangling.contains(&(index, field)) {
                dangling.push((index, field));
            }
            references.push((index, finding));
        }
    }
    RefsOutcome {
        findings,
        references,
        dangling,
    }
}

/// One reference a document makes: its field, the kind it must name, the node's pointer and
/// the id it names.
pub struct Reference<'d> {
    pub field: &'static str,
    pub target: Kind,
    pub pointer: String,
    pub id: &'d str,
}

/// Every reference `doc` makes (none when it is not checkable): what [`check`] resolves, and
/// what a patched replay ([`crate::patch`]) checks an edited document's references by.
pub fn references(doc: &Document) -> Vec<Reference<'_>> {
    let mut found = Vec::new();
    if !doc.checkable {
        return found;
    }
    for field in doc.kind.references() {
        let Some(value) = doc.value.get(field.field) else {
            continue;
        };
        if field.many {
            if let Some(items) = value.as_array() {
                for (i, item) in items.iter().enumerate() {
                    if let Some(id) = item.as_str() {
                        found.push(Reference {
                            field: field.field,
                            target: field.target,
                            pointer: format!("/{}/{i}", field.field),
                            id,
                        });
                    }
                }
            }
        } else if let Value::String(id) = value {
            found.push(Reference {
                field: field.field,
                target: field.target,
                pointer: format!("/{}", field.field),
                id,
            });
        }
        // Anything else is a type error, reported by the schema.
    }
    found
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
            codes::DUPLICATE_ID
                .finding(format!("duplicate {} id {}", doc.kind, quoted(&doc.id)))
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

fn check_references(
    repo: &Repository,
    doc: &Document,
    suggester: &Suggester,
) -> Vec<(&'static str, Finding)> {
    let mut findings = Vec::new();
    for Reference {
        field,
        target: kind,
        pointer,
        id: target,
    } in references(doc)
    {
        if repo.find(kind, target).is_some() {
            continue;
        }
        let elsewhere = repo.kinds_with_id(target);
        let f = if let Some(other) = elsewhere.first() {
            let found = repo.get(repo.find(*other, target).expect("kinds_with_id found it"));
            codes::WRONG_KIND_REFERENCE
                .finding(format!(
                    "`{}` refers to {}, which is a {}, not a {}",
                    field,
                    quoted(target),
                    other,
                    kind
                ))
                .with_label(format!("expected a {} id", kind))
                .with_related(RelatedLabel {
                    location: found.location("/id"),
                    message: format!("{} {} is defined here", other, quoted(target)),
                    pointer: Some("/id".to_string()),
                    document: Some(found.reference()),
                })
        } else {
            let mut f = codes::UNKNOWN_REFERENCE
                .finding(format!(
                    "`{}` refers to unknown {} {}",
                    field,
                    kind,
                    quoted(target)
                ))
                .with_label(format!("no {} with this id", kind));
            if let Some(best) = suggester.suggest(repo, kind, target) {
                f.help = Some(format!("did you mean `{best}`?"));
            } else {
                f.help = Some(format!(
                    "add a {} document with `id: {target}`, or fix the id",
                    kind
                ));
            }
            f
        };
        findings.push((
            field,
            f.at(doc.location(&pointer))
                .with_pointer(pointer)
                .with_document(Some(doc.reference())),
        ));
    }
    findings
}

/// Kinds with more ids than this get a deletion index instead of a full similarity scan.
const SCAN_LIMIT: usize = 2_000;

/// "Did you mean" for ids, cheap on large repositories: a kind with many ids gets, on first use,
/// an index of every id and its one-character deletions (the SymSpell idea), so a dangling
/// reference is compared only with ids within one edit instead of with all 100,000 customers.
#[derive(Default)]
struct Suggester {
    indexes: [OnceLock<HashMap<String, Vec<DocIndex>>>; 7],
}

/// `text` and every string made by deleting one character of it.
fn with_deletions(text: &str) -> Vec<String> {
    let mut variants = vec![text.to_string()];
    for (at, c) in text.char_indices() {
        let mut variant = String::with_capacity(text.len());
        variant.push_str(&text[..at]);
        variant.push_str(&text[at + c.len_utf8()..]);
        variants.push(variant);
    }
    variants
}

impl Suggester {
    fn suggest<'r>(&self, repo: &'r Repository, kind: Kind, target: &str) -> Option<&'r str> {
        let ids = repo.of_kind(kind);
        if ids.len() <= SCAN_LIMIT {
            return suggest::closest(target, repo.ids_of_kind(kind));
        }
        let index = self.indexes[kind as usize].get_or_init(|| {
            let mut index: HashMap<String, Vec<DocIndex>> = HashMap::new();
            for &i in ids {
                for variant in with_deletions(&repo.get(i).id.to_ascii_lowercase()) {
                    index.entry(variant).or_default().push(i);
                }
            }
            index
        });
        let mut candidates: Vec<DocIndex> = with_deletions(&target.to_ascii_lowercase())
            .iter()
            .filter_map(|variant| index.get(variant))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        suggest::closest(target, candidates.iter().map(|&i| &*repo.get(i).id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletions_cover_one_edit() {
        assert_eq!(with_deletions("abc"), ["abc", "bc", "ac", "ab"]);
        assert_eq!(with_deletions("é1"), ["é1", "1", "é"]);
    }

    #[test]
    fn large_kinds_still_get_suggestions() {
        let docs = (0..SCAN_LIMIT + 10)
            .map(|n| {
                let id = if n == 7 {
                    "fabrikam".to_string()
                } else {
                    format!("c{n:06}")
                };
                let text = format!("kind: Customer\nid: {id}\n");
                let mut loaded = crate::yaml::load(
                    &text,
                    0,
                    crate::source::FileId(0),
                    &crate::limits::Limits::default(),
                );
                let doc = loaded.documents.remove(0);
                Document::sound(crate::source::FileId(0), Kind::Customer, doc)
            })
            .collect();
        let repo = Repository::new(docs);
        let suggester = Suggester::default();
        // One character missing, one extra, one replaced.
        for typo in ["fabrikm", "fabrikaam", "fabrikem"] {
            assert_eq!(
                suggester.suggest(&repo, Kind::Customer, typo),
                Some("fabrikam"),
                "{typo}"
            );
        }
        assert!(suggester
            .suggest(&repo, Kind::Customer, "zzzzzzzzzz")
            .is_none());
    }
}
