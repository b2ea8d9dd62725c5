//! Policy test cases: a `*.test.yaml` file names input documents (a `repo/` directory beside it,
//! or inline `documents:`) and the findings expected from them; [`run_case`] checks them and
//! returns what differs. Used by `channelguard test`, by the scenario fixtures and by
//! `cargo test`. The format is documented in docs/testing-policies.md.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::check::{self, CheckOptions, Outcome};
use crate::finding::{Finding, Severity};
use crate::limits::Limits;
use crate::source::FileId;

/// One expected finding.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
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
    /// Input directory relative to the case file (default: `repo`).
    #[serde(default)]
    pub repo: Option<String>,
    /// Only findings of these rules are compared (default: all).
    #[serde(default)]
    pub rules: Option<Vec<String>>,
    /// The findings expected; an empty list means "silence".
    pub expect: Vec<Expected>,
}

/// A finding as compared: the same fields as [`Expected`], filled in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Actual {
    pub rule: String,
    pub document: Option<String>,
    pub pointer: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub severity: Severity,
    pub message: String,
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
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.missing.is_empty() && self.unexpected.is_empty()
    }
}

/// Reads a case file with the project's own YAML loader.
pub fn read_case(path: &Path) -> Result<TestCase, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    parse_case(&text).map_err(|e| format!("`{}`: {e}", path.display()))
}

pub fn parse_case(text: &str) -> Result<TestCase, String> {
    let loaded = crate::yaml::load(text, 0, FileId(0), &Limits::default());
    if let Some(problem) = loaded
        .findings
        .iter()
        .find(|f| f.severity == Severity::Error)
    {
        return Err(problem.message.clone());
    }
    let document = loaded
        .documents
        .into_iter()
        .next()
        .ok_or("the test case file is empty")?;
    serde_json::from_value(document.value).map_err(|e| format!("invalid test case: {e}"))
}

/// Converts a finding for comparison, with file names relative to `input_dir`.
pub fn actual(finding: &Finding, outcome: &Outcome, input_dir: &Path) -> Actual {
    let (file, line) = match finding.location {
        Some(location) => {
            let source = outcome.sources.get(location.file);
            let relative = source
                .path
                .strip_prefix(input_dir)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_else(|_| source.name.clone());
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
    }
}

/// Runs one case. `base` supplies schemas, policies and limits; the case sets the date,
/// settings and inputs.
pub fn run_case(path: &Path, base: &CheckOptions) -> CaseResult {
    let mut result = CaseResult {
        path: path.to_path_buf(),
        name: path.display().to_string(),
        missing: Vec::new(),
        unexpected: Vec::new(),
        outcome: None,
        error: None,
    };
    let case = match read_case(path) {
        Ok(case) => case,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    result.name = case.name.clone();
    let Some(as_of) = crate::dates::parse_date(&case.as_of) else {
        result.error = Some(format!("`as_of` {:?} is not a date", case.as_of));
        return result;
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let input_dir = dir.join(case.repo.as_deref().unwrap_or("repo"));
    if !input_dir.is_dir() {
        result.error = Some(format!(
            "input directory `{}` does not exist",
            input_dir.display()
        ));
        return result;
    }
    let mut options = base.clone();
    options.paths = vec![input_dir.clone()];
    options.root = input_dir.clone();
    options.as_of = as_of;
    options.settings.extend(case.settings.clone());
    let outcome = match check::run(&options) {
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
            case.rules
                .as_ref()
                .is_none_or(|rules| rules.iter().any(|r| **r == *f.code))
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

/// Finds `*.test.yaml` files below `dir`, sorted.
pub fn discover_cases(dir: &Path) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_type().is_file()
                && e.file_name()
                    .to_str()
                    .is_some_and(|n| n.ends_with(".test.yaml") || n.ends_with(".test.yml"))
        })
        .map(|e| e.into_path())
        .collect();
    cases.sort();
    cases
}
