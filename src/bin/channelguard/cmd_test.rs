//! `channelguard test`: run policy test cases (`*.test.yaml`), show a diff for each failure and,
//! with `--coverage`, what the cases exercised of each policy.

use crate::args::{TestArgs, TestFormat};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cmd_explain::engine_options;
use crate::EXIT_INCOMPLETE;
use channelguard::check::CheckOptions;
use channelguard::escape::escape_untrusted;
use channelguard::policy::PolicySet;
use channelguard::policy_cases::{self, CaseResult};
use channelguard::report::human::HumanReporter;
use channelguard::source::SourceMap;

/// A case to run: from disk, or embedded in the binary.
enum Case {
    Disk(PathBuf),
    Builtin(&'static str, &'static str),
}

impl Case {
    fn path(&self) -> String {
        match self {
            Case::Disk(path) => path.display().to_string(),
            Case::Builtin(path, _) => format!("<builtin>/{path}"),
        }
    }

    /// The case's `name:`, read without running it (for `--filter`).
    fn name(&self) -> Option<String> {
        let case = match self {
            Case::Disk(path) => policy_cases::read_case(path).ok()?,
            Case::Builtin(_, text) => policy_cases::parse_case(text).ok()?,
        };
        Some(case.name)
    }

    fn run(&self, base: &CheckOptions) -> CaseResult {
        match self {
            Case::Disk(path) => policy_cases::run_case(path, base),
            Case::Builtin(path, text) => policy_cases::run_builtin_case(path, text, base),
        }
    }
}

fn collect_cases(args: &TestArgs, options: &CheckOptions) -> Result<Vec<Case>, String> {
    let from_dir = |dir: &Path| -> Vec<Case> {
        if dir.is_file() {
            vec![Case::Disk(dir.to_path_buf())]
        } else {
            policy_cases::discover_cases(dir)
                .into_iter()
                .map(Case::Disk)
                .collect()
        }
    };
    if let Some(dir) = &args.dir {
        if !dir.exists() {
            return Err(format!("path `{}` does not exist", dir.display()));
        }
        return Ok(from_dir(dir));
    }
    let mut cases = Vec::new();
    if !args.engine.no_builtin_policies {
        cases.extend(
            policy_cases::builtin_cases()
                .into_iter()
                .map(|(path, text)| Case::Builtin(path, text)),
        );
    }
    for dir in &options.policies.directories {
        cases.extend(from_dir(&dir.join("tests")));
    }
    Ok(cases)
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}\n"))
        .collect::<String>()
}

fn write_result(
    out: &mut dyn Write,
    result: &CaseResult,
    shown_path: &str,
    verbose: bool,
) -> std::io::Result<()> {
    // Names and errors come from case files: never let them drive the terminal.
    let name = escape_untrusted(&result.name);
    let shown_path = escape_untrusted(shown_path);
    if let Some(error) = &result.error {
        if result.name == result.path.display().to_string() {
            // The case file could not be read, so it has no name of its own.
            writeln!(out, "ERROR   {shown_path}")?;
        } else {
            writeln!(out, "ERROR   {name}  ({shown_path})")?;
        }
        return write!(
            out,
            "{}",
            indent(
                &escape_untrusted(&format!("could not run: {error}")),
                "        "
            )
        );
    }
    if result.passed() {
        return writeln!(out, "passed  {name}  ({shown_path})");
    }
    writeln!(out, "FAILED  {name}  ({shown_path})")?;
    writeln!(
        out,
        "        expected but missing (-), found but not expected (+): rule severity file:line document pointer message"
    )?;
    for line in policy_cases::diff_lines(result) {
        writeln!(out, "        {line}")?;
    }
    if verbose {
        if let Some(outcome) = &result.outcome {
            let reporter = HumanReporter::default();
            for finding in outcome.findings.iter() {
                let actual = policy_cases::actual(finding, outcome, Path::new(""));
                let unexpected = result.unexpected.iter().any(|u| {
                    u.rule == actual.rule && u.line == actual.line && u.message == actual.message
                });
                if unexpected {
                    let rendered = reporter.render_finding(finding, &outcome.sources);
                    write!(out, "{}", indent(&rendered, "        "))?;
                }
            }
        }
    }
    Ok(())
}

/// Coverage of the loaded policies by the cases that ran.
fn coverage_of(
    results: &[CaseResult],
    options: &CheckOptions,
) -> Result<Vec<policy_cases::PolicyCoverage>, String> {
    let mut sources = SourceMap::new();
    let (policies, _) = PolicySet::load(
        &options.policies,
        &mut sources,
        &options.limits,
        &options.read_scope(),
    )?;
    Ok(policy_cases::coverage(results, &policies, &sources))
}

/// With `--filter`, coverage is reported for the selected policies only: those whose id or
/// file contains the filter text, and those a selected case names in its `rules:`. (A case
/// without `rules:` compares every policy, so it selects none by itself.)
fn selected(policy: &policy_cases::PolicyCoverage, filter: &str, results: &[CaseResult]) -> bool {
    policy.id.contains(filter)
        || policy.file.contains(filter)
        || results.iter().any(|r| {
            r.rules
                .as_ref()
                .is_some_and(|rules| rules.contains(&policy.id))
        })
}

fn write_coverage(
    out: &mut dyn Write,
    report: &[policy_cases::PolicyCoverage],
) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "coverage (fires / stays silent / report calls reached):"
    )?;
    for policy in report {
        let yes_no = |cases: &[String]| match cases.len() {
            0 => "no".to_string(),
            1 => "yes (1 case)".to_string(),
            n => format!("yes ({n} cases)"),
        };
        let status = if policy.complete() {
            "ok     "
        } else {
            "PARTIAL"
        };
        writeln!(
            out,
            "{status} {}  fires: {}  silent: {}  report calls: {} of {} reached  ({})",
            policy.id,
            yes_no(&policy.fired_in),
            yes_no(&policy.silent_in),
            policy.report_lines - policy.unreached.len(),
            policy.report_lines,
            policy.file,
        )?;
        for (line, text) in &policy.unreached {
            writeln!(out, "        never reached: line {line}: {text}")?;
        }
    }
    let complete = report.iter().filter(|p| p.complete()).count();
    writeln!(out, "{complete} of {} policies fully covered", report.len())
}

fn status(result: &CaseResult) -> &'static str {
    if result.error.is_some() {
        "error"
    } else if result.passed() {
        "passed"
    } else {
        "failed"
    }
}

/// The JSON report: every case with its status and differences, the counts, and coverage.
fn json_report(
    cases: &[Case],
    results: &[CaseResult],
    coverage: Option<&[policy_cases::PolicyCoverage]>,
) -> serde_json::Value {
    let count = |wanted: &str| results.iter().filter(|r| status(r) == wanted).count();
    let cases: Vec<serde_json::Value> = cases
        .iter()
        .zip(results)
        .map(|(case, result)| {
            serde_json::json!({
                "name": result.name,
                "path": case.path(),
                "status": status(result),
                "error": result.error,
                "missing": result.missing,
                "unexpected": result.unexpected,
            })
        })
        .collect();
    let mut report = serde_json::json!({
        "cases": cases,
        "summary": {
            "passed": count("passed"),
            "failed": count("failed"),
            "errors": count("error"),
        },
    });
    if let Some(coverage) = coverage {
        report["coverage"] = serde_json::json!(coverage
            .iter()
            .map(|p| serde_json::json!({
                "id": p.id,
                "file": p.file,
                "fires": !p.fired_in.is_empty(),
                "silent": !p.silent_in.is_empty(),
                "fired_in": p.fired_in,
                "silent_in": p.silent_in,
                "report_lines": p.report_lines,
                "unreached": p.unreached.iter().map(|(line, text)| serde_json::json!({"line": line, "text": text})).collect::<Vec<_>>(),
                "complete": p.complete(),
            }))
            .collect::<Vec<_>>());
    }
    report
}

pub fn run(args: TestArgs) -> Result<ExitCode, String> {
    // The date and the inputs come from each case.
    let options = engine_options(&args.engine, jiff::civil::date(2000, 1, 1))?;
    let mut cases = collect_cases(&args, &options)?;
    if let Some(filter) = &args.filter {
        cases.retain(|case| {
            case.path().contains(filter.as_str())
                || case
                    .name()
                    .is_some_and(|name| name.contains(filter.as_str()))
        });
    }
    if cases.is_empty() {
        return Err(match &args.filter {
            Some(filter) => format!("no test case matches `{filter}`"),
            None => "no test cases found (`*.test.yaml`)".to_string(),
        });
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let human = args.format == TestFormat::Human;
    let mut results = Vec::with_capacity(cases.len());
    let plural = if cases.len() == 1 { "case" } else { "cases" };
    let mut written = if human {
        writeln!(out, "running {} test {plural}", cases.len())
    } else {
        Ok(())
    };
    for case in &cases {
        let result = case.run(&options);
        if human {
            written =
                written.and_then(|()| write_result(&mut out, &result, &case.path(), args.verbose));
        }
        results.push(result);
    }
    let errors = results.iter().filter(|r| status(r) == "error").count();
    let failed = results.iter().filter(|r| status(r) == "failed").count();
    let passed = results.len() - errors - failed;
    let coverage = if args.coverage {
        let mut coverage = coverage_of(&results, &options)?;
        if let Some(filter) = &args.filter {
            coverage.retain(|policy| selected(policy, filter, &results));
        }
        Some(coverage)
    } else {
        None
    };
    written = written.and_then(|()| {
        if human {
            writeln!(out)?;
            writeln!(
                out,
                "{passed} passed, {failed} failed, {errors} could not run"
            )?;
            if let Some(coverage) = &coverage {
                write_coverage(&mut out, coverage)?;
            }
        } else {
            let report = json_report(&cases, &results, coverage.as_deref());
            writeln!(out, "{report:#}")?;
        }
        out.flush()
    });
    if let Err(error) = written {
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(format!("cannot write the report: {error}"));
        }
    }
    Ok(if errors > 0 {
        ExitCode::from(EXIT_INCOMPLETE)
    } else if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
