//! `channelguard check`: run the whole check and print the report.

use crate::args::CheckArgs;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::args::Format;
use crate::{exit_code, fail_on, use_color};
use channelguard::check::{self, Outcome, Prepared};
use channelguard::report::github::GithubReporter;
use channelguard::report::human::HumanReporter;
use channelguard::report::json::JsonReporter;
use channelguard::report::junit::JunitReporter;
use channelguard::report::sarif::SarifReporter;
use channelguard::report::{exit_status, ExitStatus, Report, Reporter};

use crate::output::{self, Reserved};

pub fn run(mut args: CheckArgs) -> Result<ExitCode, String> {
    if let Some(files) = &mut args.only {
        *files = only_files(std::mem::take(files))?;
    }
    let Prepared {
        mut options,
        config: loaded_config,
    } = check::prepare(&crate::command_line(
        &args.engine,
        &args.paths,
        args.as_of.as_deref(),
        args.config.as_deref(),
    )?)?;
    options.suppressions.baseline = args.baseline.clone();
    options.suppressions.only = args.only.clone();
    options.suppressions.changed_since = args.changed_since.clone();
    options.cache_dir = crate::cmd_cache::cache_dir(&args.cache, &options.root);
    options.policy_preconditions = !args.no_policy_preconditions;
    options.measure_policies = args.timings;
    // Output files are checked and their temporary files created before the check runs: a
    // refused target fails at once, and an interrupted run removes what it created.
    let targets = targets(&args)?;
    let as_of = options.as_of;
    let outcome =
        check::run_with_config(&options, loaded_config.as_ref()).map_err(|e| e.to_string())?;
    for note in &outcome.stats.cache_notes {
        eprintln!("note: {}", channelguard::escape::escape_untrusted(note));
    }
    if args.timings {
        for (stage, took) in &outcome.stats.stages {
            eprintln!("{stage:>28}: {:8.3}s", took.as_secs_f64());
        }
        if let Some(reused) = outcome.stats.cache_reused {
            eprintln!(
                "{:>28}: {reused} of {} files",
                "reused from the cache", outcome.stats.files
            );
        }
        if outcome.stats.replayed {
            eprintln!(
                "{:>28}: no file changed, the last run's result",
                "replayed from the cache"
            );
        }
        if let Some(files) = outcome.stats.patched {
            eprintln!(
                "{:>28}: the last run's result, patched for {files} changed {}",
                "patched from the cache",
                if files == 1 { "file" } else { "files" }
            );
        }
        if let Some(reason) = outcome.stats.not_patched {
            eprintln!("{:>28}: {reason}", "not patched");
        }
        let evaluations = outcome.stats.evaluations;
        eprintln!(
            "{:>28}: {} run, {} reused",
            "evaluations", evaluations.run, evaluations.reused
        );
        // The per-policy table comes last: its rows run to the end of the output.
        print_policy_costs(&outcome.stats.policy_costs);
    }
    let notes = notes(&outcome, &args);
    let fail_on = fail_on(args.fail_on);
    let report = Report {
        outcome: &outcome,
        as_of,
        show_waived: args.show_waived,
        fail_on,
    };
    write_reports(&args, targets, &report, &notes)?;
    let code = exit_code(reported_status(
        exit_status(&outcome.findings, fail_on),
        args.exit_zero,
    ));
    // The process ends right after this: freeing every document tree, span table and source
    // text one by one took seconds on a 600k-document repository; the OS reclaims it at once.
    std::mem::forget(outcome);
    Ok(code)
}

/// `--timings`, per policy, most expensive first: the (rule, document) pairs its script ran on,
/// those its `applies` pre-condition skipped, the time summed over threads, and per evaluated
/// pair.
fn print_policy_costs(costs: &[channelguard::policy::PolicyCost]) {
    if costs.is_empty() {
        return;
    }
    let mut costs: Vec<_> = costs.iter().collect();
    costs.sort_by(|a, b| (b.time, b.evaluated, &a.id).cmp(&(a.time, a.evaluated, &b.id)));
    eprintln!(
        "{:>28}  {:>10} {:>10} {:>9} {:>9}",
        "policy", "evaluated", "skipped", "time", "per pair"
    );
    for cost in costs {
        let per_pair = if cost.evaluated == 0 {
            0.0
        } else {
            cost.time.as_secs_f64() * 1e6 / cost.evaluated as f64
        };
        eprintln!(
            "{:>28}  {:>10} {:>10} {:>8.3}s {:>7.2}µs",
            cost.id,
            cost.evaluated,
            cost.skipped,
            cost.time.as_secs_f64(),
            per_pair
        );
    }
}

/// The exit status after `--exit-zero`: findings no longer fail the run, an incomplete check
/// still does (exit 2), so a report-only job notices a broken schema, policy or configuration.
fn reported_status(status: ExitStatus, exit_zero: bool) -> ExitStatus {
    match status {
        ExitStatus::Findings if exit_zero => ExitStatus::Clean,
        other => other,
    }
}

/// The files after `--only`, every one a file name: a leading `--` (the end of options, as
/// hooks write it) is dropped. A name that looks like an option but names nothing is an option
/// given in the wrong place (pre-commit passes only files that exist), so it is refused rather
/// than silently selecting nothing; any other name of nothing is refused too.
fn only_files(mut files: Vec<PathBuf>) -> Result<Vec<PathBuf>, String> {
    if files.first().is_some_and(|f| f.as_os_str() == "--") {
        files.remove(0);
    }
    for file in &files {
        if std::fs::symlink_metadata(file).is_ok() {
            continue;
        }
        let looks_like_an_option = file.as_os_str().as_encoded_bytes().starts_with(b"-");
        if looks_like_an_option {
            return Err(format!(
                "`{}` after --only is not a file: --only takes every argument after it as a file \
                 name, so options go before --only (`check [OPTIONS] --only -- FILE...`)",
                file.display()
            ));
        }
        return Err(format!("--only `{}` does not exist", file.display()));
    }
    Ok(files)
}

/// The lines for the end of the report: what the baseline did, and a note when the paths
/// checked hold no account document.
fn notes(outcome: &Outcome, args: &CheckArgs) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(applied) = &outcome.suppressed.baseline {
        let mut note = format!(
            "baseline `{}`: {} known {} not reported, {} {} fixed",
            applied.path.display(),
            applied.suppressed,
            if applied.suppressed == 1 {
                "finding"
            } else {
                "findings"
            },
            applied.fixed,
            if applied.fixed == 1 {
                "entry"
            } else {
                "entries"
            },
        );
        if applied.fixed > 0 {
            note.push_str(" (run `channelguard baseline create` to drop them)");
        }
        notes.push(note);
        for (old, new) in &applied.renamed {
            notes.push(format!(
                "note: baseline entries use `{old}` for findings now reported as `{new}`; \
                 regenerate with `channelguard baseline create` (the old id will stop matching \
                 in a later release)"
            ));
        }
    }
    // (A check stopped by a configuration, schema or policy error loaded nothing: that error
    // is what the report shows.)
    let incomplete = outcome
        .findings
        .iter()
        .any(|f| f.origin == channelguard::finding::Origin::Tool);
    if outcome.suppressed.documents_selected == 0 && !incomplete {
        let shown: Vec<String> = if args.paths.is_empty() {
            vec![".".to_string()]
        } else {
            args.paths
                .iter()
                .map(|p| format!("{}", p.display()))
                .collect()
        };
        notes.push(format!(
            "note: no account documents found under `{}`",
            shown.join("`, `")
        ));
    }
    notes
}

/// One requested report: a format and where it goes (`None`: standard output).
struct Target {
    format: Format,
    output: Option<(PathBuf, Reserved)>,
}

/// Pairs each `--output` with the `--format` given just before it, and reserves each output
/// file ([`Reserved`]), by the positions `main` took from the one parse.
fn targets(args: &CheckArgs) -> Result<Vec<Target>, String> {
    let mut targets: Vec<Target> = args
        .format
        .iter()
        .map(|&format| Target {
            format,
            output: None,
        })
        .collect();
    if args.output.is_empty() {
        return Ok(targets);
    }
    let format_at = &args.positions.format;
    let output_at = args.positions.output.iter().copied();
    let mut owners: Vec<Option<&PathBuf>> = vec![None; targets.len()];
    for (output, at) in args.output.iter().zip(output_at) {
        let owner = format_at
            .iter()
            .rposition(|&f| f < at)
            .ok_or_else(|| format!("--output `{}` must follow a --format", output.display()))?;
        if owners[owner].is_some() {
            return Err(format!(
                "--output `{}`: the --format before it already has an --output",
                output.display()
            ));
        }
        if owners
            .iter()
            .flatten()
            .any(|other| output::same_file(other, output))
        {
            return Err(format!(
                "--output `{}` is the file of another --format already; give each format its own file",
                output.display()
            ));
        }
        owners[owner] = Some(output);
    }
    for (target, output) in targets.iter_mut().zip(owners) {
        if let Some(path) = output {
            let reserved = Reserved::new(path)
                .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
            target.output = Some((path.clone(), reserved));
        }
    }
    Ok(targets)
}

/// Writes every requested report: files first (atomically), then standard output. The human
/// report goes to the terminal: standard output, or standard error when a machine format is
/// on standard output. When a report goes to a file, the summary line still goes there.
fn write_reports(
    args: &CheckArgs,
    mut targets: Vec<Target>,
    report: &Report<'_>,
    notes: &[String],
) -> Result<(), String> {
    if targets.is_empty() {
        targets.push(Target {
            format: Format::Human,
            output: None,
        });
    }
    let on_stdout: Vec<Format> = targets
        .iter()
        .filter(|t| t.output.is_none() && t.format != Format::Human)
        .map(|t| t.format)
        .collect();
    if on_stdout.len() > 1 {
        return Err(
            "only one machine-readable --format can go to standard output; give the others an --output FILE"
                .to_string(),
        );
    }
    let human = |quiet: bool| HumanReporter {
        color: use_color(args.color),
        quiet,
        ..HumanReporter::default()
    };
    // A human report written to a file never carries colour codes.
    let plain = HumanReporter {
        color: false,
        ..human(args.quiet)
    };
    let any_file = targets.iter().any(|t| t.output.is_some());
    let wants_human = targets
        .iter()
        .any(|t| t.format == Format::Human && t.output.is_none());
    for target in targets {
        if let Some((path, reserved)) = target.output {
            reserved
                .commit(|out| reporter(target.format, &plain).write(report, out))
                .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        }
    }
    if let Some(&format) = on_stdout.first() {
        // Buffered: the JSON and SARIF of a large repository are many small writes.
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        check_written(
            reporter(format, &human(args.quiet))
                .write(report, &mut out)
                .and_then(|()| out.flush()),
        )?;
    }
    let terminal_text = if wants_human || any_file {
        let mut text = Vec::new();
        human(args.quiet || !wants_human)
            .write(report, &mut text)
            .map_err(|e| format!("cannot render the report: {e}"))?;
        text
    } else {
        Vec::new()
    };
    let mut terminal: Box<dyn Write> = if on_stdout.is_empty() {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::stderr().lock())
    };
    let mut written = terminal.write_all(&terminal_text);
    for note in notes {
        written = written.and_then(|()| writeln!(terminal, "{note}"));
    }
    check_written(written.and_then(|()| terminal.flush()))
}

fn reporter<'a>(format: Format, human: &'a HumanReporter) -> Box<dyn Reporter + 'a> {
    match format {
        Format::Human => Box::new(HumanRef(human)),
        Format::Json => Box::new(JsonReporter),
        Format::Sarif => Box::new(SarifReporter),
        Format::Junit => Box::new(JunitReporter),
        Format::Github => Box::new(GithubReporter),
    }
}

/// Lends the configured human reporter to [`reporter`].
struct HumanRef<'a>(&'a HumanReporter);

impl Reporter for HumanRef<'_> {
    fn write(&self, report: &Report<'_>, out: &mut dyn Write) -> std::io::Result<()> {
        self.0.write(report, out)
    }
}

fn check_written(result: std::io::Result<()>) -> Result<(), String> {
    match result {
        // A closed pipe (`| head`) is not a failure of the check.
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write the report: {error}"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_zero_clears_findings_but_never_an_incomplete_check() {
        use ExitStatus::*;
        assert_eq!(reported_status(Findings, true), Clean);
        assert_eq!(reported_status(Incomplete, true), Incomplete);
        assert_eq!(reported_status(Clean, true), Clean);
        assert_eq!(reported_status(Findings, false), Findings);
        assert_eq!(reported_status(Incomplete, false), Incomplete);
    }
}
