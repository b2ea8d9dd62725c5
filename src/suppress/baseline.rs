//! Baselines: today's findings recorded in a JSON file, so that a repository with known problems
//! can gate on new ones only (`baseline create`, then `check --baseline FILE`).
//!
//! An entry is identified by rule, document kind and id, and JSON Pointer, never by line
//! numbers: editing lines above a finding must not make it "new". A finding outside any
//! document is identified by its file instead. The message is stored for readers only. Entries
//! are a multiset: two equal findings need two entries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::finding::{Finding, Origin};
use crate::source::SourceMap;

/// Version of the baseline file format.
pub const FORMAT_VERSION: u32 = 1;

/// One recorded finding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Only for findings outside any document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// For readers of the file; not used to match.
    #[serde(default)]
    pub message: String,
}

/// What identifies an entry (everything but the message).
type Key = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl Entry {
    pub fn of(finding: &Finding, sources: &SourceMap) -> Entry {
        let document = finding.document.as_ref();
        Entry {
            rule: finding.code.to_string(),
            kind: document.map(|d| d.kind.to_string()),
            id: document.map(|d| d.id.to_string()),
            pointer: finding.pointer.clone(),
            file: match document {
                Some(_) => None,
                None => finding.location.map(|l| sources.get(l.file).name.clone()),
            },
            message: finding.message.clone(),
        }
    }

    fn key(&self) -> Key {
        (
            self.rule.clone(),
            self.kind.clone(),
            self.id.clone(),
            self.pointer.clone(),
            self.file.clone(),
        )
    }
}

/// A baseline file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    pub version: u32,
    pub entries: Vec<Entry>,
}

/// The effect of a baseline on a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Findings left out because the baseline lists them.
    pub suppressed: usize,
    /// Baseline entries that no finding matches any more: fixed since the baseline was made.
    pub fixed: usize,
    /// (old id, sub-id): entries recorded under a rule id that matched findings now reported
    /// under its sub-rule.
    pub renamed: std::collections::BTreeSet<(String, String)>,
}

/// Whether a finding can be recorded: waived findings are accepted elsewhere, and findings
/// meaning the check was incomplete (tool errors, unread or unparsed files) must never be
/// silenced by a baseline.
fn recordable(finding: &Finding) -> bool {
    finding.waived.is_none()
        && finding.origin == Origin::Data
        && !crate::codes::means_unchecked(&finding.code)
}

impl Baseline {
    /// Records the (unwaived, data) findings of a run, in a stable order.
    pub fn from_findings(findings: &[Finding], sources: &SourceMap) -> Baseline {
        let mut entries: Vec<Entry> = findings
            .iter()
            .filter(|f| recordable(f))
            .map(|f| Entry::of(f, sources))
            .collect();
        entries.sort();
        Baseline {
            version: FORMAT_VERSION,
            entries,
        }
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    pub fn parse(text: &str) -> Result<Baseline, String> {
        let baseline: Baseline =
            serde_json::from_str(text).map_err(|e| format!("not a channelguard baseline: {e}"))?;
        if baseline.version != FORMAT_VERSION {
            return Err(format!(
                "baseline version `{}` is not supported (expected `{FORMAT_VERSION}`)",
                baseline.version
            ));
        }
        Ok(baseline)
    }

    /// Removes the findings the baseline lists (each entry matches one finding) and counts the
    /// entries left over. An entry recorded under a rule id before the rule was split still
    /// matches a finding now reported under one of its sub-rules (`MC002` for `MC002.admin`),
    /// once the findings of the exact id have taken theirs; such renames are listed so that
    /// the run can say the baseline should be regenerated.
    pub fn apply(&self, findings: &mut Vec<Finding>, sources: &SourceMap) -> Applied {
        let mut remaining: BTreeMap<Key, usize> = BTreeMap::new();
        for entry in &self.entries {
            *remaining.entry(entry.key()).or_default() += 1;
        }
        let mut applied = Applied::default();
        let take = |remaining: &mut BTreeMap<Key, usize>, key: &Key| match remaining.get_mut(key) {
            Some(count) if *count > 0 => {
                *count -= 1;
                true
            }
            _ => false,
        };
        // Exact ids first, then the parent id of sub-rule findings still unmatched.
        let keys: Vec<Option<Key>> = findings
            .iter()
            .map(|f| recordable(f).then(|| Entry::of(f, sources).key()))
            .collect();
        let mut suppressed: Vec<bool> = keys
            .iter()
            .map(|key| key.as_ref().is_some_and(|key| take(&mut remaining, key)))
            .collect();
        for (index, key) in keys.iter().enumerate() {
            let Some(key) = key else { continue };
            let parent = crate::rule_id::parent(&key.0);
            if suppressed[index] || parent == key.0 {
                continue;
            }
            let mut old = key.clone();
            old.0 = parent.to_string();
            if take(&mut remaining, &old) {
                suppressed[index] = true;
                applied.renamed.insert((parent.to_string(), key.0.clone()));
            }
        }
        let mut index = 0;
        findings.retain(|_| {
            index += 1;
            !suppressed[index - 1]
        });
        applied.suppressed = suppressed.iter().filter(|&&s| s).count();
        applied.fixed = remaining.values().sum();
        applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{DocumentRef, Severity, WaiverNote};
    use crate::model::Kind;
    use crate::source::ByteSpan;
    use crate::source::{FileRole, SourceFile};
    use std::sync::Arc;

    fn sources() -> SourceMap {
        let mut map = SourceMap::new();
        map.add(SourceFile::new(
            "a.yaml",
            "a.yaml",
            Arc::from("kind: Partner\nid: p\n"),
            FileRole::Data,
        ));
        map
    }

    fn finding(rule: &str, id: &str, pointer: &str, at: usize) -> Finding {
        Finding::new(rule, Severity::Error, format!("problem at {at}"))
            .at_span(crate::source::FileId(0), ByteSpan::new(at, at + 1))
            .with_pointer(pointer)
            .with_document(Some(DocumentRef {
                kind: Kind::Partner,
                id: Arc::from(id),
            }))
    }

    #[test]
    fn an_entry_under_the_parent_id_still_matches_a_sub_rule_finding_and_says_so() {
        let sources = sources();
        // Recorded before MC002 was split: both findings under `MC002`.
        let baseline = Baseline::from_findings(
            &[
                finding("MC002", "p", "/managed_by", 3),
                finding("MC002", "p", "/managed_by", 5),
                finding("MC002", "q", "/managed_by", 7),
            ],
            &sources,
        );
        let mut now = vec![
            finding("MC002.admin", "p", "/managed_by", 3),
            finding("MC002", "p", "/managed_by", 5),
            finding("MC002.admin", "r", "/managed_by", 9),
        ];
        let applied = baseline.apply(&mut now, &sources);
        assert_eq!((applied.suppressed, applied.fixed), (2, 1));
        assert_eq!(
            applied.renamed.into_iter().collect::<Vec<_>>(),
            [("MC002".to_string(), "MC002.admin".to_string())]
        );
        assert_eq!(
            now.len(),
            1,
            "a sub-rule finding on another document is new"
        );
        assert_eq!(&*now[0].code, "MC002.admin");
        // A sub-id entry never matches a parent-id finding.
        let baseline = Baseline::from_findings(&[finding("MC002.admin", "p", "/x", 1)], &sources);
        let mut now = vec![finding("MC002", "p", "/x", 1)];
        assert_eq!(baseline.apply(&mut now, &sources).suppressed, 0);
    }

    #[test]
    fn matching_ignores_positions_and_messages() {
        let sources = sources();
        let baseline = Baseline::from_findings(&[finding("F02", "p", "/partner_id", 3)], &sources);
        // The same finding after lines were added above it: other offset, other message.
        let mut now = vec![
            finding("F02", "p", "/partner_id", 40),
            finding("F02", "q", "/partner_id", 3),
        ];
        let applied = baseline.apply(&mut now, &sources);
        assert_eq!(
            applied,
            Applied {
                renamed: Default::default(),
                suppressed: 1,
                fixed: 0
            }
        );
        assert_eq!(now.len(), 1);
        assert_eq!(now[0].document.as_ref().unwrap().id.as_ref(), "q");
    }

    #[test]
    fn entries_are_counted_and_fixed_ones_reported() {
        let sources = sources();
        let recorded = [
            finding("F02", "p", "/partner_id", 3),
            finding("F02", "p", "/partner_id", 3),
            finding("R002", "p", "/customer", 5),
        ];
        let baseline = Baseline::from_findings(&recorded, &sources);
        let mut now = vec![
            finding("F02", "p", "/partner_id", 3),
            finding("F02", "p", "/partner_id", 3),
            finding("F02", "p", "/partner_id", 3),
        ];
        let applied = baseline.apply(&mut now, &sources);
        assert_eq!(
            applied,
            Applied {
                suppressed: 2,
                fixed: 1,
                renamed: Default::default(),
            }
        );
        assert_eq!(now.len(), 1, "a third equal finding is new");
    }

    #[test]
    fn tool_and_waived_findings_are_never_recorded_nor_silenced() {
        let sources = sources();
        let mut waived = finding("F02", "p", "/partner_id", 3);
        waived.waived = Some(WaiverNote {
            reason: "known".into(),
            approved_by: "x".into(),
            expires: None,
        });
        let tool = finding("P002", "p", "", 3).tool();
        let baseline = Baseline::from_findings(&[waived, tool.clone()], &sources);
        assert!(baseline.entries.is_empty());
        let forged = Baseline {
            version: FORMAT_VERSION,
            entries: vec![Entry::of(&tool, &sources)],
        };
        let mut now = vec![tool];
        forged.apply(&mut now, &sources);
        assert_eq!(now.len(), 1);
    }

    #[test]
    fn findings_meaning_not_checked_are_never_recorded_nor_silenced() {
        let sources = sources();
        for code in ["Y001", "Y004", "Y008", "Y013"] {
            let unread = Finding::new(code, Severity::Error, "not checked")
                .at_span(crate::source::FileId(0), ByteSpan::new(0, 1));
            assert!(
                Baseline::from_findings(std::slice::from_ref(&unread), &sources)
                    .entries
                    .is_empty()
            );
            let forged = Baseline {
                version: FORMAT_VERSION,
                entries: vec![Entry::of(&unread, &sources)],
            };
            let mut now = vec![unread];
            let applied = forged.apply(&mut now, &sources);
            assert_eq!((now.len(), applied.suppressed), (1, 0), "{code}");
        }
    }

    #[test]
    fn round_trips_and_rejects_other_versions() {
        let sources = sources();
        let baseline = Baseline::from_findings(&[finding("F02", "p", "/partner_id", 3)], &sources);
        assert_eq!(Baseline::parse(&baseline.to_json()).unwrap(), baseline);
        let error = Baseline::parse(r#"{"version": 9, "entries": []}"#).unwrap_err();
        assert!(error.contains("version `9`"), "{error}");
        assert!(Baseline::parse("[]").is_err());
    }

    #[test]
    fn findings_outside_documents_are_keyed_by_file() {
        let sources = sources();
        let syntax = Finding::new("Y001", Severity::Error, "bad yaml")
            .at_span(crate::source::FileId(0), ByteSpan::new(0, 1));
        let entry = Entry::of(&syntax, &sources);
        assert_eq!(entry.file.as_deref(), Some("a.yaml"));
        assert_eq!(entry.kind, None);
    }
}
