//! Policy test cases: a `*.test.yaml` file names input documents (a `repo/` directory beside it,
//! or inline `documents:`) and the findings expected from them; [`run_case`] checks them and
//! returns what differs, [`diff_lines`] shows it and [`coverage`] sums up what a set of cases
//! exercised. Used by `channelguard test`, by the scenario fixtures and by `cargo test`. The
//! format is documented in docs/testing-policies.md.
//!
//! Inline documents are loaded from the case file itself, so their findings point at the
//! case's own lines. The built-in pack's cases are embedded in the binary
//! ([`crate::policy::BUILTIN_POLICY_TESTS`]); a `repo` directory of an embedded case is
//! materialised from the embedded files beside it, in memory.
//!
//! It sits beside [`crate::policy`], not inside it: a case runs a whole check
//! ([`crate::check`]), and `policy` never reaches up into the orchestration.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::check;
use crate::finding::{Finding, Severity};
use crate::input::{read_text, Origin as ReadOrigin, ReadScope};
use crate::limits::Limits;
use crate::options::{CheckOptions, MemoryInput};
use crate::outcome::Outcome;
use crate::policy::PolicySet;
use crate::rule_id;
use crate::source::ByteSpan;
use crate::source::{FileId, SourceMap};

/// One expected finding.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// Rule or check id (`MC002`, `F03`, `R002`).
    pub rule: String,
    /// Document as `Kind/id`.
    #[serde(default)]
    pub document: Option<String>,
    /// JSON Pointer inside the document.
    #[serde(default)]
    pub pointer: Option<String>,
    /// File, relative to the case's input directory.
    #[serde(default)]
    pub file: Option<String>,
    /// 1-based line of the finding.
    #[serde(default)]
    pub line: Option<u32>,
    #[serde(default)]
    pub severity: Option<Severity>,
    /// A substring of the message.
    #[serde(default)]
    pub message: Option<String>,
    /// The label under the node, exactly (what is wrong there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A test case file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Evaluation date (tests always pin it).
    pub as_of: String,
    /// Rule settings for this case.
    #[serde(default)]
    pub settings: HashMap<String, serde_json::Value>,
    /// Input directory relative to the case file (default: `repo`, unless `documents` is given).
    #[serde(default)]
    pub repo: Option<String>,
    /// Input documents written in the case file itself, instead of a `repo` directory.
    #[serde(default)]
    pub documents: Option<Vec<serde_json::Value>>,
    /// Only findings of these rules are compared (default: all); a rule id covers its
    /// sub-rules (`MC002` compares `MC002.admin` findings too).
    #[serde(default)]
    pub rules: Option<Vec<String>>,
    /// The findings expected; an empty list means "silence".
    pub expect: Vec<Expected>,
}

/// A finding as compared: the same fields as [`Expected`], filled in.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Actual {
    pub rule: String,
    pub document: Option<String>,
    pub pointer: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub severity: Severity,
    pub message: String,
    pub label: Option<String>,
}

impl Actual {
    pub fn describe(&self) -> String {
        format!(
            "{} {} at {}:{} {} ({}): {}",
            self.rule,
            self.severity,
            self.file.as_deref().unwrap_or("?"),
            self.line.map_or("?".to_string(), |l| l.to_string()),
            self.document.as_deref().unwrap_or("-"),
            self.pointer.as_deref().unwrap_or("-"),
            self.message
        )
    }
}

impl Expected {
    pub fn matches(&self, actual: &Actual) -> bool {
        self.rule == actual.rule
            && self
                .document
                .as_ref()
                .is_none_or(|d| Some(d) == actual.document.as_ref())
            && self
                .pointer
                .as_ref()
                .is_none_or(|p| Some(p) == actual.pointer.as_ref())
            && self
                .file
                .as_ref()
                .is_none_or(|f| Some(f) == actual.file.as_ref())
            && self.line.is_none_or(|l| Some(l) == actual.line)
            && self.severity.is_none_or(|s| s == actual.severity)
            && self
                .message
                .as_ref()
                .is_none_or(|m| actual.message.contains(m.as_str()))
            && self
                .label
                .as_ref()
                .is_none_or(|l| Some(l) == actual.label.as_ref())
    }

    pub fn describe(&self) -> String {
        let mut parts = vec![self.rule.clone()];
        if let Some(s) = self.severity {
            parts.push(s.to_string());
        }
        if let Some(f) = &self.file {
            parts.push(format!(
                "at {f}:{}",
                self.line.map_or("?".to_string(), |l| l.to_string())
            ));
        }
        if let Some(d) = &self.document {
            parts.push(d.clone());
        }
        if let Some(p) = &self.pointer {
            parts.push(format!("({p})"));
        }
        if let Some(m) = &self.message {
            parts.push(format!("message contains {m:?}"));
        }
        if let Some(l) = &self.label {
            parts.push(format!("label {l:?}"));
        }
        parts.join(" ")
    }
}

/// The result of one case.
pub struct CaseResult {
    pub path: PathBuf,
    pub name: String,
    /// Expected findings that did not occur.
    pub missing: Vec<Expected>,
    /// Findings that occurred but were not expected.
    pub unexpected: Vec<Actual>,
    /// The run itself (for rendering and coverage).
    pub outcome: Option<Outcome>,
    /// The case could not run (bad case file, missing inputs).
    pub error: Option<String>,
    /// The case's `rules:` filter: only findings of these rules were compared.
    pub rules: Option<Vec<String>>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.missing.is_empty() && self.unexpected.is_empty()
    }

    /// Whether the case compares the findings of `rule` (so that it would fail if they changed).
    pub fn compares(&self, rule: &str) -> bool {
        self.rules.as_ref().is_none_or(|rules| {
            rules
                .iter()
                .any(|r| rule_id::covers(r, rule) || rule_id::covers(rule, r))
        })
    }
}

/// Reads a case file through the one safe reader. Besides `scope`, files in the case's own
/// directory may be read (it was named on the command line or found by walking one); a link
/// out of it, to `/proc` or to a device is refused.
fn read_case_text(path: &Path, scope: &ReadScope) -> Result<String, String> {
    let mut scope = scope.clone();
    scope.allow(
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    );
    let limit = crate::limits::Limits::default().max_file_bytes;
    read_text(path, &scope, ReadOrigin::Named, limit).map_err(|problem| match problem {
        Ok(valid) => format!("`{}` is not valid UTF-8 (byte {valid})", path.display()),
        Err(refused) => format!("cannot read `{}`: {refused}", path.display()),
    })
}

/// Reads a case file with the project's own YAML loader.
pub fn read_case(path: &Path) -> Result<TestCase, String> {
    let text = read_case_text(path, &ReadScope::default())?;
    parse_case(&text).map_err(|e| format!("`{}`: {e}", path.display()))
}

pub fn parse_case(text: &str) -> Result<TestCase, String> {
    parse_case_with_regions(text).map(|(case, _)| case)
}

/// Parses a case and returns, for inline `documents:`, the byte range of each document in
/// `text` (what the pipeline loads, so that findings point at the case file's own lines).
pub fn parse_case_with_regions(text: &str) -> Result<(TestCase, Option<Vec<ByteSpan>>), String> {
    let loaded = crate::yaml::load(text, 0, FileId(0), &Limits::default());
    // Problems inside the inline documents (a duplicate key, a tab) are what a case may test:
    // the pipeline reports them again when it loads those documents. A syntax error still
    // ends the file, so it always makes the case unreadable.
    let inline_span = loaded.documents.first().and_then(|d| {
        d.spans
            .node_at(&d.value, "/documents")
            .map(|node| node.span)
    });
    let in_documents = |f: &Finding| {
        f.code.as_ref() != crate::codes::YAML_SYNTAX.id
            && f.location
                .zip(inline_span)
                .is_some_and(|(l, s)| s.start <= l.span.start && l.span.end <= s.end)
    };
    if let Some(problem) = loaded
        .findings
        .iter()
        .find(|f| f.severity == Severity::Error && !in_documents(f))
    {
        let line = problem.location.map_or(1, |l| {
            text[..(l.span.start as usize).min(text.len())]
                .matches('\n')
                .count()
                + 1
        });
        return Err(format!("line {line}: {}", problem.message));
    }
    let document = loaded
        .documents
        .into_iter()
        .next()
        .ok_or("the test case file is empty")?;
    let case: TestCase = serde_json::from_value(document.value.clone())
        .map_err(|e| format!("invalid test case: {e}"))?;
    let Some(inline) = &case.documents else {
        return Ok((case, None));
    };
    if case.repo.is_some() {
        return Err("a case takes its inputs from `documents:` or from `repo:`, not both".into());
    }
    let regions = (0..inline.len())
        .map(|i| {
            document
                .spans
                .node_at(&document.value, &format!("/documents/{i}"))
                .map(|node| node.span)
                .ok_or_else(|| format!("cannot locate `documents/{i}` in the case file"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((case, Some(regions)))
}

/// Converts a finding for comparison, with file names relative to `input_dir`.
pub fn actual(finding: &Finding, outcome: &Outcome, input_dir: &Path) -> Actual {
    let (file, line) = match finding.location {
        Some(location) => {
            let source = outcome.sources.get(location.file);
            let relative = source
                .path
                .strip_prefix(input_dir)
                .ok()
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_else(|| source.name.clone());
            (
                Some(relative),
                Some(source.line_col(location.span.start).line),
            )
        }
        None => (None, None),
    };
    Actual {
        rule: finding.code.to_string(),
        document: finding
            .document
            .as_ref()
            .map(|d| format!("{}/{}", d.kind, d.id)),
        pointer: finding.pointer.clone(),
        file,
        line,
        severity: finding.severity,
        message: finding.message.clone(),
        label: finding.label.clone(),
    }
}

/// Where a case file's `repo` directory is read from.
#[derive(Clone, Copy, Debug)]
pub enum CaseFiles<'a> {
    /// From disk, beside the case file.
    Disk,
    /// From files embedded with the case: `(path, text)` pairs with `/`-separated paths in the
    /// same tree as the case's own path (as in [`crate::policy::BUILTIN_POLICY_TESTS`]).
    Embedded(&'a [(&'a str, &'a str)]),
}

/// Runs one case file from disk. `base` supplies schemas, policies and limits; the case sets
/// the date, settings and inputs.
pub fn run_case(path: &Path, base: &CheckOptions) -> CaseResult {
    match read_case_text(path, &base.read_scope()) {
        Ok(text) => run_case_text(path, &text, CaseFiles::Disk, base),
        Err(e) => CaseResult {
            path: path.to_path_buf(),
            name: path.display().to_string(),
            missing: Vec::new(),
            unexpected: Vec::new(),
            outcome: None,
            error: Some(e),
            rules: None,
        },
    }
}

/// The built-in pack's case files, as `(path, text)` (their `repo` files are left out).
pub fn builtin_cases() -> Vec<(&'static str, &'static str)> {
    crate::policy::BUILTIN_POLICY_TESTS
        .iter()
        .copied()
        .filter(|(path, _)| is_case_file(path))
        .collect()
}

/// Runs one case of the built-in pack, wholly from memory.
pub fn run_builtin_case(path: &str, text: &str, base: &CheckOptions) -> CaseResult {
    run_case_text(
        Path::new(path),
        text,
        CaseFiles::Embedded(crate::policy::BUILTIN_POLICY_TESTS),
        base,
    )
}

fn is_case_file(name: &str) -> bool {
    name.ends_with(".test.yaml") || name.ends_with(".test.yml")
}

/// Runs a case whose text is already read; `path` locates it and its `repo` directory.
pub fn run_case_text(
    path: &Path,
    text: &str,
    files: CaseFiles<'_>,
    base: &CheckOptions,
) -> CaseResult {
    let mut result = CaseResult {
        path: path.to_path_buf(),
        name: path.display().to_string(),
        missing: Vec::new(),
        unexpected: Vec::new(),
        outcome: None,
        error: None,
        rules: None,
    };
    let (case, regions) = match parse_case_with_regions(text) {
        Ok(parsed) => parsed,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    result.name = case.name.clone();
    result.rules = case.rules.clone();
    let Some(as_of) = crate::dates::parse_date(&case.as_of) else {
        result.error = Some(format!("`as_of` {:?} is not a date", case.as_of));
        return result;
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    let shown = |p: &Path| match files {
        CaseFiles::Disk => p.display().to_string(),
        CaseFiles::Embedded(_) => format!("<builtin>/{}", p.display()),
    };
    let mut options = base.clone();
    options.paths = Vec::new();
    options.as_of = as_of;
    options.settings.extend(case.settings.clone());
    let mut memory = Vec::new();
    let input_dir = match regions {
        Some(regions) => {
            memory.push(MemoryInput {
                name: shown(path),
                path: path.to_path_buf(),
                text: Arc::from(text),
                regions: Some(regions),
            });
            dir.to_path_buf()
        }
        None => {
            let input_dir = dir.join(case.repo.as_deref().unwrap_or("repo"));
            match files {
                CaseFiles::Disk => {
                    if !input_dir.is_dir() {
                        result.error = Some(format!(
                            "input directory `{}` does not exist",
                            input_dir.display()
                        ));
                        return result;
                    }
                    options.paths = vec![input_dir.clone()];
                    options.root = input_dir.clone();
                }
                CaseFiles::Embedded(embedded) => {
                    memory.extend(
                        embedded
                            .iter()
                            .filter(|(name, _)| {
                                Path::new(name).starts_with(&input_dir)
                                    && crate::discover::is_data_file(Path::new(name))
                            })
                            .map(|(name, text)| MemoryInput {
                                name: shown(Path::new(name)),
                                path: PathBuf::from(name),
                                text: Arc::from(*text),
                                regions: None,
                            }),
                    );
                    if memory.is_empty() {
                        result.error = Some(format!(
                            "input directory `{}` holds no embedded files",
                            input_dir.display()
                        ));
                        return result;
                    }
                }
            }
            input_dir
        }
    };
    let outcome = match check::run_with_inputs(&options, &memory) {
        Ok(outcome) => outcome,
        Err(e) => {
            result.error = Some(e.to_string());
            return result;
        }
    };
    let mut actuals: Vec<Actual> = outcome
        .findings
        .iter()
        .filter(|f| {
            case.rules.as_ref().is_none_or(|rules| {
                rules.iter().any(|r| rule_id::covers(r, &f.code))
                    || breaks_policy_of(f, rules, &outcome)
            })
        })
        .map(|f| actual(f, &outcome, &input_dir))
        .collect();
    actuals.sort();
    let mut remaining = actuals;
    for expected in &case.expect {
        match remaining.iter().position(|a| expected.matches(a)) {
            Some(i) => {
                remaining.remove(i);
            }
            None => result.missing.push(expected.clone()),
        }
    }
    result.unexpected = remaining;
    result.outcome = Some(outcome);
    result
}

/// Whether `finding` says that one of the policies `rules` names could not run (P001–P004 in
/// its script): a case that lists only its rule must still show why the rule did not fire,
/// never a bare "expected but missing".
fn breaks_policy_of(finding: &Finding, rules: &[String], outcome: &Outcome) -> bool {
    if finding.origin != crate::finding::Origin::Tool || !finding.code.starts_with('P') {
        return false;
    }
    let Some(location) = finding.location else {
        return false;
    };
    let file = outcome.sources.get(location.file);
    if file.role != crate::source::FileRole::Policy {
        return false;
    }
    let id = match crate::policy::meta::parse(&file.text) {
        Ok(meta) => meta.id,
        // The header itself may be what is broken: read its `id:` line as text.
        Err(_) => file
            .text
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("//!"))
            .find_map(|l| l.trim().strip_prefix("id:").map(|v| v.trim().to_string()))
            .unwrap_or_default(),
    };
    rules.iter().any(|r| rule_id::parent(r) == id)
}

/// Finds `*.test.yaml` files below `dir`, sorted.
pub fn discover_cases(dir: &Path) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        // Links and special files are kept: the reader refuses them with an error, so a case
        // never silently stops running.
        .filter(|e| !e.file_type().is_dir() && e.file_name().to_str().is_some_and(is_case_file))
        .map(|e| e.into_path())
        .collect();
    cases.sort();
    cases
}

/// Shows an optional field of a diff line: `*` when an expectation leaves it open, `-` when a
/// finding lacks it.
fn field<T: ToString>(value: Option<T>, open: &str) -> String {
    value.map_or(open.to_string(), |v| v.to_string())
}

fn shown_pointer(pointer: Option<&str>, open: &str) -> String {
    match pointer {
        // The empty pointer (the whole document) must not vanish from the line.
        Some("") => "\"\"".to_string(),
        other => field(other, open),
    }
}

/// The diff of a failed case: expected findings that did not occur (`-`, with `*` for
/// fields the expectation leaves open) and findings nobody expected (`+`). Each line shows
/// rule, severity, `file:line`, document, pointer and message (and the label, when an
/// expectation of the case names one).
pub fn diff_lines(result: &CaseResult) -> Vec<String> {
    let mut lines = Vec::new();
    for m in &result.missing {
        let message = m
            .message
            .as_ref()
            .map_or("*".to_string(), |text| format!("message contains {text:?}"));
        let label = m
            .label
            .as_ref()
            .map_or(String::new(), |text| format!(" label {text:?}"));
        lines.push(format!(
            "- {} {} {}:{} {} {} {message}{label}",
            m.rule,
            field(m.severity, "*"),
            field(m.file.as_deref(), "*"),
            field(m.line, "*"),
            field(m.document.as_deref(), "*"),
            shown_pointer(m.pointer.as_deref(), "*"),
        ));
    }
    // Labels are shown when an expectation names one, so a label mismatch can be read off.
    let labels = result.missing.iter().any(|m| m.label.is_some());
    for u in &result.unexpected {
        let label = match (&u.label, labels) {
            (Some(text), true) => format!(" label {:?}", crate::escape::escape_untrusted(text)),
            _ => String::new(),
        };
        lines.push(format!(
            "+ {} {} {}:{} {} {} {}{label}",
            u.rule,
            u.severity,
            field(u.file.as_deref(), "-"),
            field(u.line, "-"),
            field(u.document.as_deref(), "-"),
            shown_pointer(u.pointer.as_deref(), "-"),
            crate::escape::escape_untrusted(&u.message),
        ));
    }
    lines
}

/// What a set of cases exercised of one policy.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PolicyCoverage {
    pub id: String,
    /// Name of the policy file.
    pub file: String,
    /// Cases in which the policy reported a finding the case compares.
    pub fired_in: Vec<String>,
    /// Cases that compare the policy's findings, in which it ran on a document of its kinds and
    /// reported nothing.
    pub silent_in: Vec<String>,
    /// Lines of the script's `report*` calls that no case reached, with their text.
    pub unreached: Vec<(u16, String)>,
    pub report_lines: usize,
}

impl PolicyCoverage {
    /// Some case makes the policy fire, another keeps it silent, and every `report*` call ran.
    pub fn complete(&self) -> bool {
        !self.fired_in.is_empty() && !self.silent_in.is_empty() && self.unreached.is_empty()
    }
}

/// Coverage of each policy of `policies` (loaded into `sources`) by the cases in `results`.
/// Firing and silence count only in cases that compare the policy's findings (no `rules:`
/// filter, or one naming it): elsewhere a change in the policy would go unnoticed. Reached
/// `report*` lines count in every case.
pub fn coverage(
    results: &[CaseResult],
    policies: &PolicySet,
    sources: &SourceMap,
) -> Vec<PolicyCoverage> {
    policies
        .policies
        .iter()
        .map(|policy| {
            let id = policy.meta.id.as_str();
            let mut fired_in = Vec::new();
            let mut silent_in = Vec::new();
            let mut reached: BTreeSet<u16> = BTreeSet::new();
            for result in results {
                let Some(outcome) = &result.outcome else {
                    continue;
                };
                if !outcome.policies.iter().any(|p| p.id == id) {
                    continue;
                }
                reached.extend(outcome.reached.get(id).into_iter().flatten().copied());
                if !result.compares(id) {
                    continue;
                }
                if outcome
                    .findings
                    .iter()
                    .any(|f| rule_id::covers(id, &f.code))
                {
                    fired_in.push(result.name.clone());
                } else if outcome
                    .repository
                    .iter()
                    .flat_map(|r| r.documents.iter())
                    .any(|d| d.checkable && policy.meta.kinds.contains(&d.kind))
                {
                    silent_in.push(result.name.clone());
                }
            }
            let source = sources.get(policy.file);
            let unreached = policy
                .report_lines
                .iter()
                .filter(|line| !reached.contains(line))
                .map(|&line| (line, source.line_text(line as u32).trim().to_string()))
                .collect();
            PolicyCoverage {
                id: id.to_string(),
                file: source.name.clone(),
                fired_in,
                silent_in,
                unreached,
                report_lines: policy.report_lines.len(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INLINE: &str = "name: inline\nas_of: \"2024-06-30\"\nrules: [D002, Y002]\ndocuments:\n  - kind: Customer\n    id: contoso\n  - id: no-kind\n  - kind: Customer\n    id: fabrikam\n    name: a\n    name: b\nexpect:\n  - rule: D002\n    file: case.test.yaml\n    line: 7\n  - rule: Y002\n    line: 11\n";

    fn base() -> CheckOptions {
        let mut options = CheckOptions::new(Vec::new(), jiff::civil::date(2000, 1, 1));
        options.policies.builtin = false;
        options.threads = Some(1);
        options
    }

    #[test]
    fn inline_regions_point_at_each_document() {
        let (case, regions) = parse_case_with_regions(INLINE).unwrap();
        let regions = regions.unwrap();
        assert_eq!(case.documents.as_ref().map(Vec::len), Some(3));
        assert_eq!(regions.len(), 3);
        assert!(INLINE[regions[0].range()].starts_with("kind: Customer\n    id: contoso"));
        assert!(INLINE[regions[1].range()].starts_with("id: no-kind"));
    }

    #[test]
    fn inline_findings_point_at_the_case_file_lines() {
        let result = run_case_text(
            Path::new("dir/case.test.yaml"),
            INLINE,
            CaseFiles::Disk,
            &base(),
        );
        assert!(result.error.is_none(), "{:?}", result.error);
        assert!(
            result.passed(),
            "missing {:?} unexpected {:?}",
            result.missing,
            result.unexpected
        );
    }

    #[test]
    fn a_case_takes_documents_or_repo_not_both() {
        let text = INLINE.replace("rules:", "repo: data\nrules:");
        let error = parse_case_with_regions(&text).unwrap_err();
        assert!(error.contains("not both"), "{error}");
    }

    #[test]
    fn an_embedded_repo_is_materialised_from_memory() {
        let case = "name: embedded\nas_of: \"2024-06-30\"\nrepo: data\nrules: [D002]\nexpect:\n  - rule: D002\n    file: sub/a.yaml\n    line: 4\n";
        let files = [
            ("pack/tests/X1/case.test.yaml", case),
            (
                "pack/tests/X1/data/sub/a.yaml",
                "kind: Customer\nid: ok\n---\nid: no-kind\n",
            ),
            // Outside the case's repo directory: not an input.
            ("pack/tests/X2/data/b.yaml", "id: other\n"),
        ];
        let result = run_case_text(
            Path::new(files[0].0),
            case,
            CaseFiles::Embedded(&files),
            &base(),
        );
        assert!(
            result.passed(),
            "{:?} {:?} {:?}",
            result.error,
            result.missing,
            result.unexpected
        );
        let outcome = result.outcome.unwrap();
        assert_eq!(outcome.stats.files, 1);
        assert_eq!(
            outcome
                .sources
                .get(outcome.findings[0].location.unwrap().file)
                .name,
            "<builtin>/pack/tests/X1/data/sub/a.yaml"
        );
    }

    #[test]
    fn an_embedded_case_without_its_repo_cannot_run() {
        let case = "name: lost\nas_of: \"2024-06-30\"\nexpect: []\n";
        let files = [("t/case.test.yaml", case)];
        let result = run_case_text(
            Path::new(files[0].0),
            case,
            CaseFiles::Embedded(&files),
            &base(),
        );
        assert!(result.error.unwrap().contains("holds no embedded files"));
    }

    #[test]
    fn diff_lines_mark_missing_and_unexpected_findings() {
        let text = INLINE.replace("line: 7", "line: 8");
        let result = run_case_text(Path::new("case.test.yaml"), &text, CaseFiles::Disk, &base());
        assert_eq!(
            diff_lines(&result),
            [
                "- D002 * case.test.yaml:8 * * *",
                "+ D002 error case.test.yaml:7 - - document has no `kind`",
            ]
        );
    }

    #[test]
    fn coverage_counts_only_cases_that_compare_the_policy() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("X1.rhai"),
            "//! id: X1\n//! title: t\n//! severity: error\n//! kinds: Customer\n//! rationale: r\n//! remediation: r\n\nfn check(doc) {\n    if doc.name == \"bad\" {\n        report(\"/name\", \"bad\");\n    }\n    if doc.name == \"worse\" {\n        report(\"/name\", \"worse\");\n    }\n}\n",
        )
        .unwrap();
        let mut options = base();
        options.policies.directories = vec![dir.path().to_path_buf()];
        let case = |name: &str, rules: &str| {
            format!("name: {name}\nas_of: \"2024-06-30\"\n{rules}documents:\n  - kind: Customer\n    id: contoso\n    name: {name}\n    tenant_id: 4fce52df-54c2-4755-9b89-61a6b3926e47\n    domain: contoso.onmicrosoft.com\n    cloud: commercial\n    tenant_country: \"NO\"\nexpect: []\n")
        };
        let run = |text: String| {
            run_case_text(Path::new("c.test.yaml"), &text, CaseFiles::Disk, &options)
        };
        let results = [
            run(case("bad", "")),
            // Filtered to another rule: neither its silence nor a firing is tested.
            run(case("good", "rules: [D002]\n")),
            run(case("worse", "rules: [D002]\n")),
        ];
        let mut sources = SourceMap::new();
        let (set, _) = PolicySet::load(
            &options.policies,
            &mut sources,
            &options.limits,
            &options.read_scope(),
        )
        .unwrap();
        let report = coverage(&results, &set, &sources);
        assert_eq!(report.len(), 1);
        assert_eq!(report[0].fired_in, ["bad"]);
        assert!(report[0].silent_in.is_empty());
        // Reached lines count in every case that ran the policy.
        assert!(report[0].unreached.is_empty(), "{:?}", report[0].unreached);
        assert!(!report[0].complete());
    }
}
