//! Reporters: one file per output format, all behind the [`Reporter`] trait. A reporter is a
//! pure function of the [`Report`] (findings, sources, counts); it never evaluates anything.

pub mod github;
pub mod human;
pub mod json;
pub mod junit;
pub mod sarif;

use std::io::{self, Write};

use crate::finding::{Finding, Origin, Severity};
use crate::outcome::Outcome;
use crate::source::Location;
use crate::source::{LineCol, SourceMap};

/// What a reporter renders.
pub struct Report<'a> {
    pub outcome: &'a Outcome,
    pub as_of: jiff::civil::Date,
    /// List waived findings too (they never count toward the exit code).
    pub show_waived: bool,
    pub fail_on: Severity,
}

impl<'a> Report<'a> {
    /// Findings to show, in report order.
    pub fn visible(&self) -> impl Iterator<Item = &'a Finding> + '_ {
        let show_waived = self.show_waived;
        self.outcome
            .findings
            .iter()
            .filter(move |f| show_waived || f.waived.is_none())
    }

    pub fn sources(&self) -> &'a SourceMap {
        &self.outcome.sources
    }

    pub fn counts(&self) -> Counts {
        Counts::of(&self.outcome.findings)
    }
}

/// Findings by severity (waived ones apart).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    pub waived: usize,
    /// Findings meaning the check was incomplete (policy, schema, config or input errors).
    pub tool_errors: usize,
}

impl Counts {
    pub fn of(findings: &[Finding]) -> Counts {
        let mut counts = Counts::default();
        for f in findings {
            if f.waived.is_some() {
                counts.waived += 1;
                continue;
            }
            match f.severity {
                Severity::Error => counts.errors += 1,
                Severity::Warning => counts.warnings += 1,
                Severity::Info => counts.infos += 1,
            }
            if f.origin == Origin::Tool && f.severity == Severity::Error {
                counts.tool_errors += 1;
            }
        }
        counts
    }
}

/// Process exit status, as documented in the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// No finding at or above the fail level.
    Clean = 0,
    /// Findings at or above the fail level.
    Findings = 1,
    /// The check could not be done as asked (it wins over `Findings`: an incomplete check
    /// never reads as "only violations").
    Incomplete = 2,
}

/// The exit status of a set of findings.
pub fn exit_status(findings: &[Finding], fail_on: Severity) -> ExitStatus {
    let live = findings.iter().filter(|f| f.waived.is_none());
    let mut status = ExitStatus::Clean;
    for f in live {
        if f.origin == Origin::Tool && f.severity == Severity::Error {
            return ExitStatus::Incomplete;
        }
        if f.severity >= fail_on {
            status = ExitStatus::Findings;
        }
    }
    status
}

/// One output format.
pub trait Reporter {
    fn write(&self, report: &Report<'_>, out: &mut dyn Write) -> io::Result<()>;
}

/// Line/column of both ends of a location (1-based; the end column is exclusive).
pub fn line_cols(sources: &SourceMap, location: Location) -> (LineCol, LineCol) {
    sources.get(location.file).span_lines(location.span)
}
