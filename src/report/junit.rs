//! `--format junit`: JUnit XML (quick-junit) for CI test report views (GitLab, Azure Pipelines,
//! Jenkins): one testsuite per data file, one testcase per document (`Kind/id`).
//!
//! A document fails when it has a finding at or above `--fail-on`, so the test report agrees
//! with the exit code; lower findings are listed in the testcase's system-out. A finding that
//! means the check itself was incomplete (a broken policy, P00x; an unreadable schema or
//! input) makes its testcase an `<error>`, not a `<failure>`: the data was not shown wrong,
//! the tool could not judge it. Findings that
//! belong to no document (a YAML syntax error, an unreadable file, a broken policy) become a
//! testcase named after their file, and findings with no file a testcase of the run.
//!
//! Every string from the inputs goes through [`escape_untrusted`]: besides keeping control
//! characters out of logs, that keeps the XML valid (XML 1.0 cannot carry C0 controls or
//! `U+FFFE`/`U+FFFF` at all, not even as character references).

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Arc;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::{line_cols, Report, Reporter};
use crate::escape::escape_untrusted;
use crate::finding::{DocumentRef, Finding, Origin};
use crate::model::Kind;
use crate::source::{FileId, SourceMap};

/// Name of the suite holding findings that concern no file.
pub const RUN_SUITE: &str = "channelguard";

pub struct JunitReporter;

/// The testcases of one suite, in document order, each with its findings.
#[derive(Default)]
struct Suite<'a> {
    cases: Vec<(Option<DocumentRef>, Vec<&'a Finding>)>,
    index: HashMap<Option<DocumentRef>, usize>,
}

impl<'a> Suite<'a> {
    fn case(&mut self, document: Option<DocumentRef>) -> &mut Vec<&'a Finding> {
        let next = self.cases.len();
        let at = *self.index.entry(document.clone()).or_insert(next);
        if at == next {
            self.cases.push((document, Vec::new()));
        }
        &mut self.cases[at].1
    }
}

/// `file:line:col` of a finding (or `file` alone / nothing when it has no location).
pub fn position(finding: &Finding, sources: &SourceMap) -> Option<String> {
    finding.location.map(|location| {
        let (start, _) = line_cols(sources, location);
        format!(
            "{}:{}:{}",
            escape_untrusted(&sources.get(location.file).name),
            start.line,
            start.column
        )
    })
}

/// One line per finding: `file:line:col: RULE severity: message`.
fn describe(finding: &Finding, sources: &SourceMap) -> String {
    let mut line = String::new();
    if let Some(position) = position(finding, sources) {
        line.push_str(&position);
        line.push_str(": ");
    }
    line.push_str(&format!(
        "{} {}: {}",
        finding.code,
        finding.severity,
        escape_untrusted(&finding.message)
    ));
    if let Some(help) = &finding.help {
        line.push_str(&format!("\n  help: {}", escape_untrusted(help)));
    }
    line
}

fn test_case(
    name: String,
    classname: &str,
    findings: &[&Finding],
    report: &Report<'_>,
) -> TestCase {
    let sources = report.sources();
    let (failing, notes): (Vec<&Finding>, Vec<&Finding>) = findings
        .iter()
        .partition(|f| f.waived.is_none() && f.severity >= report.fail_on);
    let status = if failing.is_empty() {
        TestCaseStatus::success()
    } else {
        let broken = failing.iter().any(|f| f.origin == Origin::Tool);
        let kind = if broken {
            NonSuccessKind::Error
        } else {
            NonSuccessKind::Failure
        };
        let mut status = TestCaseStatus::non_success(kind);
        let message = failing
            .iter()
            .map(|f| {
                let at = position(f, sources).map_or(String::new(), |p| format!(" at {p}"));
                format!("{} {}{at}", f.code, escape_untrusted(&f.message))
            })
            .collect::<Vec<_>>()
            .join("; ");
        let mut rules: Vec<&str> = failing.iter().map(|f| &*f.code).collect();
        rules.dedup();
        status
            .set_message(message)
            .set_type(escape_untrusted(&rules.join(",")))
            .set_description(
                failing
                    .iter()
                    .map(|f| describe(f, sources))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        status
    };
    let mut case = TestCase::new(name, status);
    case.set_classname(classname);
    if !notes.is_empty() {
        case.set_system_out(
            notes
                .iter()
                .map(|f| match &f.waived {
                    Some(note) => format!(
                        "{} (waived: {})",
                        describe(f, sources),
                        escape_untrusted(&note.reason)
                    ),
                    None => describe(f, sources),
                })
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    case
}

impl Reporter for JunitReporter {
    fn write(&self, report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
        let sources = report.sources();
        // Every checked document is a testcase, passing unless a finding lands on it.
        let mut suites: std::collections::BTreeMap<Option<FileId>, Suite<'_>> =
            std::collections::BTreeMap::new();
        for entry in &report.outcome.documents {
            suites
                .entry(Some(entry.file))
                .or_default()
                .case(Some(entry.document.clone()));
        }
        let mut document_files: HashMap<(Kind, Arc<str>), FileId> = HashMap::new();
        for entry in &report.outcome.documents {
            document_files
                .entry((entry.document.kind, Arc::clone(&entry.document.id)))
                .or_insert(entry.file);
        }
        for finding in report.visible() {
            let file = finding.location.map(|l| l.file).or_else(|| {
                finding
                    .document
                    .as_ref()
                    .and_then(|d| document_files.get(&(d.kind, Arc::clone(&d.id))).copied())
            });
            suites
                .entry(file)
                .or_default()
                .case(finding.document.clone())
                .push(finding);
        }
        let mut junit = quick_junit::Report::new("channelguard");
        for (file, suite) in suites {
            let suite_name = file.map_or(RUN_SUITE.to_string(), |f| {
                escape_untrusted(&sources.get(f).name)
            });
            let mut test_suite = TestSuite::new(suite_name.as_str());
            for (document, findings) in &suite.cases {
                let name = match document {
                    Some(d) => escape_untrusted(&format!("{}/{}", d.kind, d.id)),
                    None => suite_name.clone(),
                };
                test_suite.add_test_case(test_case(name, &suite_name, findings, report));
            }
            junit.add_test_suite(test_suite);
        }
        junit.serialize(&mut *out).map_err(io::Error::other)?;
        writeln!(out)
    }
}
