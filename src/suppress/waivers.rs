//! Waivers: findings a reviewer has accepted in `channelguard.yaml`, with a written reason.
//!
//! [`apply`] is a pure function over the findings of a run. A waived finding stays in the list
//! (reporters show it with `--show-waived`) but no longer counts toward the exit code. A waiver
//! that has expired waives nothing and is reported itself (W001); one that matches no finding
//! is reported as unused (W002), so stale waivers do not pile up.

use crate::codes;
use crate::finding::{quoted, DocumentRef, Finding, Origin, WaiverNote};
use crate::source::ByteSpan;
use crate::source::FileId;

/// One accepted finding, as written in the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiver {
    /// Rule or check id (`MC017`, `F05`), or a sub-rule's (`MC002.admin`).
    pub rule: String,
    pub document: DocumentRef,
    /// Narrows the waiver to this node (and the nodes below it).
    pub pointer: Option<String>,
    pub reason: String,
    pub approved_by: String,
    /// Last day the waiver applies.
    pub expires: Option<jiff::civil::Date>,
    /// The waiver's `rule:` entry in the configuration file (where W002 points).
    pub span: ByteSpan,
    /// Its `expires:` entry (where W001 points).
    pub expires_span: Option<ByteSpan>,
    /// JSON Pointer of the waiver in the configuration (`/waivers/0`).
    pub entry: String,
}

impl Waiver {
    /// Whether the waiver covers `finding`. Only data findings can be waived: a tool error
    /// means the check is incomplete, which no reviewer can accept for the data; nor can a
    /// finding that says input was not checked (an unreadable or unparsed file, a limit).
    pub fn matches(&self, finding: &Finding) -> bool {
        finding.origin == Origin::Data
            && !codes::means_unchecked(&finding.code)
            // A rule id covers its sub-rules (`MC002` waives `MC002.admin` too).
            && crate::rule_id::covers(&self.rule, &finding.code)
            && finding.document.as_ref() == Some(&self.document)
            && self.pointer.as_deref().is_none_or(|waived| {
                finding.pointer.as_deref().is_some_and(|p| {
                    p == waived
                        || p.strip_prefix(waived)
                            .is_some_and(|below| below.starts_with('/'))
                })
            })
    }

    pub fn is_expired(&self, as_of: jiff::civil::Date) -> bool {
        self.expires.is_some_and(|expires| expires < as_of)
    }

    fn describe(&self) -> String {
        let mut text = format!(
            "waiver of {} for {}",
            quoted(&self.rule),
            quoted(&format!("{}/{}", self.document.kind, self.document.id))
        );
        if let Some(pointer) = &self.pointer {
            text.push_str(&format!(" at {}", quoted(pointer)));
        }
        text
    }

    fn note(&self) -> WaiverNote {
        WaiverNote {
            reason: self.reason.clone(),
            approved_by: self.approved_by.clone(),
            expires: self.expires.map(|d| d.to_string()),
        }
    }
}

/// For a waiver that matches nothing: the id of a document of the same kind, close to the
/// waiver's id (a likely typo, `…-e5-drect` → `…-e5-direct`), that the waiver would match.
fn closest_document<'a>(waiver: &Waiver, findings: &'a [Finding]) -> Option<&'a str> {
    let candidates = findings.iter().filter_map(|finding| {
        let document = finding.document.as_ref()?;
        let mut fixed = waiver.clone();
        fixed.document = document.clone();
        (document.kind == waiver.document.kind && fixed.matches(finding)).then_some(&*document.id)
    });
    crate::suggest::closest(&waiver.document.id, candidates)
}

/// Marks the findings that `waivers` cover as waived, and appends a W001 finding for each
/// expired waiver and a W002 finding for each waiver that matched nothing. Those point at the
/// waiver in `config_file`. The caller re-sorts the findings.
pub fn apply(
    findings: &mut Vec<Finding>,
    waivers: &[Waiver],
    as_of: jiff::civil::Date,
    config_file: FileId,
) {
    let mut reports = Vec::new();
    for waiver in waivers {
        if waiver.is_expired(as_of) {
            let expires = waiver.expires.map(|d| d.to_string()).unwrap_or_default();
            reports.push(
                codes::WAIVER_EXPIRED
                    .finding(format!(
                        "{} expired on {expires}; the finding it accepted counts again",
                        waiver.describe()
                    ))
                    .with_label(format!("expired before the evaluation date {as_of}"))
                    .at_span(config_file, waiver.expires_span.unwrap_or(waiver.span)),
            );
            continue;
        }
        let mut used = false;
        for finding in findings.iter_mut() {
            if finding.waived.is_none() && waiver.matches(finding) {
                finding.waived = Some(waiver.note());
                used = true;
            }
        }
        if !used {
            let mut report = codes::WAIVER_UNUSED
                .finding(format!("{} matches no finding", waiver.describe()))
                .with_label("this waiver matches no finding")
                .at_span(config_file, waiver.span);
            if let Some(id) = closest_document(waiver, findings) {
                report = report.with_help(format!(
                    "did you mean {}? it has a {} finding; otherwise remove the waiver",
                    quoted(&format!("{}/{id}", waiver.document.kind)),
                    quoted(&waiver.rule)
                ));
            }
            reports.push(report);
        }
    }
    findings.extend(reports);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::finding::Severity;
    use crate::model::Kind;

    const CONFIG: FileId = FileId(9);

    fn as_of() -> jiff::civil::Date {
        jiff::civil::date(2024, 6, 30)
    }

    fn finding(rule: &str, id: &str, pointer: &str) -> Finding {
        Finding::new(rule, Severity::Error, "broken")
            .with_pointer(pointer)
            .with_document(Some(DocumentRef {
                kind: Kind::Customer,
                id: Arc::from(id),
            }))
    }

    fn waiver(rule: &str, id: &str, pointer: Option<&str>) -> Waiver {
        Waiver {
            rule: rule.to_string(),
            document: DocumentRef {
                kind: Kind::Customer,
                id: Arc::from(id),
            },
            pointer: pointer.map(str::to_string),
            reason: "accepted by the channel team".to_string(),
            approved_by: "jane".to_string(),
            expires: None,
            span: ByteSpan::new(10, 20),
            expires_span: Some(ByteSpan::new(30, 40)),
            entry: "/waivers/0".to_string(),
        }
    }

    fn codes_of(findings: &[Finding]) -> Vec<(&str, bool)> {
        findings
            .iter()
            .map(|f| (&*f.code, f.waived.is_some()))
            .collect()
    }

    #[test]
    fn waives_the_matching_finding_only() {
        let mut findings = vec![
            finding("MC017", "margies-travel", "/tenant_country"),
            finding("MC017", "contoso", "/tenant_country"),
            finding("MC004", "margies-travel", "/tenant_country"),
        ];
        apply(
            &mut findings,
            &[waiver("MC017", "margies-travel", None)],
            as_of(),
            CONFIG,
        );
        assert_eq!(
            codes_of(&findings),
            vec![("MC017", true), ("MC017", false), ("MC004", false)]
        );
        let note = findings[0].waived.as_ref().expect("waived");
        assert_eq!(note.reason, "accepted by the channel team");
        assert_eq!(note.approved_by, "jane");
    }

    #[test]
    fn findings_meaning_not_checked_are_never_waived() {
        let mut findings = vec![finding("Y013", "m", "/x"), finding("Y008", "m", "/x")];
        apply(
            &mut findings,
            &[waiver("Y013", "m", None), waiver("Y008", "m", None)],
            as_of(),
            CONFIG,
        );
        assert_eq!(
            codes_of(&findings),
            vec![
                ("Y013", false),
                ("Y008", false),
                ("W002", false),
                ("W002", false)
            ]
        );
    }

    #[test]
    fn pointer_narrows_to_the_node_and_below() {
        let mut findings = vec![
            finding("MC017", "m", "/roles/1"),
            finding("MC017", "m", "/rolesx"),
            finding("MC017", "m", "/name"),
        ];
        apply(
            &mut findings,
            &[waiver("MC017", "m", Some("/roles"))],
            as_of(),
            CONFIG,
        );
        assert_eq!(
            codes_of(&findings),
            vec![("MC017", true), ("MC017", false), ("MC017", false)]
        );
    }

    #[test]
    fn tool_findings_are_never_waived() {
        let mut findings = vec![finding("P002", "m", "/x").tool()];
        apply(&mut findings, &[waiver("P002", "m", None)], as_of(), CONFIG);
        assert_eq!(codes_of(&findings), vec![("P002", false), ("W002", false)]);
    }

    #[test]
    fn expired_waiver_waives_nothing_and_is_reported_at_its_expiry() {
        let mut expired = waiver("MC017", "m", None);
        expired.expires = Some(jiff::civil::date(2024, 6, 29));
        let mut findings = vec![finding("MC017", "m", "/x")];
        apply(&mut findings, &[expired], as_of(), CONFIG);
        assert_eq!(codes_of(&findings), vec![("MC017", false), ("W001", false)]);
        let w001 = &findings[1];
        assert_eq!(w001.severity, Severity::Error);
        assert_eq!(w001.origin, Origin::Data);
        assert_eq!(
            w001.location.map(|l| (l.file, l.span)),
            Some((CONFIG, ByteSpan::new(30, 40)))
        );
        assert_eq!(
            w001.message,
            "waiver of `MC017` for `Customer/m` expired on 2024-06-29; the finding it accepted counts again"
        );
    }

    #[test]
    fn waiver_is_valid_through_its_expiry_date() {
        let mut last_day = waiver("MC017", "m", None);
        last_day.expires = Some(as_of());
        let mut findings = vec![finding("MC017", "m", "/x")];
        apply(&mut findings, &[last_day], as_of(), CONFIG);
        assert_eq!(codes_of(&findings), vec![("MC017", true)]);
    }

    #[test]
    fn unused_waiver_with_a_mistyped_id_suggests_the_document() {
        let mut findings = vec![
            finding("MC017", "adventure-works-m365-e5-direct", "/x"),
            finding("MC017", "contoso-m365-e3", "/x"),
        ];
        apply(
            &mut findings,
            &[waiver("MC017", "adventure-works-m365-e5-drect", None)],
            as_of(),
            CONFIG,
        );
        let w002 = findings.iter().find(|f| &*f.code == "W002").unwrap();
        assert_eq!(
            w002.help.as_deref(),
            Some("did you mean `Customer/adventure-works-m365-e5-direct`? it has a `MC017` finding; otherwise remove the waiver")
        );
        // Nothing close: the usual help.
        let mut findings = vec![finding("MC017", "contoso-m365-e3", "/x")];
        apply(
            &mut findings,
            &[waiver("MC017", "fabrikam", None)],
            as_of(),
            CONFIG,
        );
        let w002 = findings.iter().find(|f| &*f.code == "W002").unwrap();
        assert!(!w002.help.as_deref().unwrap_or("").contains("did you mean"));
    }

    #[test]
    fn unused_waiver_is_a_warning_at_the_waiver() {
        let mut findings = vec![finding("MC017", "m", "/x")];
        apply(
            &mut findings,
            &[waiver("MC017", "other", None)],
            as_of(),
            CONFIG,
        );
        assert_eq!(codes_of(&findings), vec![("MC017", false), ("W002", false)]);
        assert_eq!(findings[1].severity, Severity::Warning);
        assert_eq!(
            findings[1].location.map(|l| l.span),
            Some(ByteSpan::new(10, 20))
        );
    }
}
