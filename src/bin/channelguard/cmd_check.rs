//! `channelguard check`: run the whole check and print the report.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::args::{ColorChoice, EngineArgs, FailOn, Format};
use crate::{exit_code, fail_on, use_color};
use channelguard::check::CheckOptions;
use channelguard::config;
use channelguard::report::github::GithubReporter;
use channelguard::report::human::HumanReporter;
use channelguard::report::json::JsonReporter;
use channelguard::report::junit::JunitReporter;
use channelguard::report::sarif::SarifReporter;
use channelguard::report::{exit_status, ExitStatus, Report, Reporter};

use crate::output::{self, Reserved};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Files or directories to check
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,

    /// Print the wall time of each pipeline stage to standard error (for profiling)
    #[arg(long, hide = true)]
    pub timings: bool,

    /// Output format; repeatable, each optionally followed by its --output FILE (default: human)
    #[arg(long, value_enum, action = clap::ArgAction::Append)]
    pub format: Vec<Format>,

    /// Write the --format given just before to FILE (atomically) instead of standard output
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Vec<PathBuf>,

    /// Report only findings in these files or pointing into them (the whole repository is
    /// still checked). For pre-commit hooks: it takes every argument after it as a file name,
    /// even one that looks like an option, so it comes last (`--only -- FILE...`)
    #[arg(long, value_name = "FILE", num_args = 0.., allow_hyphen_values = true)]
    pub only: Option<Vec<PathBuf>>,

    /// Report only findings in documents added or changed since this git ref (needs git)
    #[arg(long, value_name = "REF")]
    pub changed_since: Option<String>,

    /// Do not report the findings recorded in this baseline (`channelguard baseline create`)
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// Lowest severity that makes the exit code 1
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// Exit 0 even when findings are reported (report-only CI jobs). A check that could not be
    /// done still exits 2: an incomplete report must not pass as a clean one
    #[arg(long)]
    pub exit_zero: bool,

    /// Evaluation date for rules that depend on "today" (YYYY-MM-DD; default: today in UTC)
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,

    /// Print only the summary line (human format)
    #[arg(long, short)]
    pub quiet: bool,

    /// When to use colour (also respects NO_COLOR)
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Configuration file (default: channelguard.yaml at the --root, else in the current directory)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Also list waived findings (they never count toward the exit code)
    #[arg(long)]
    pub show_waived: bool,

    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(mut args: CheckArgs) -> Result<ExitCode, String> {
    if let Some(files) = &mut args.only {
        *files = only_files(std::mem::take(files))?;
    }
    let crate::Prepared {
        options,
        config: loaded_config,
        selection,
    } = crate::check_options(
        &args.paths,
        args.as_of.as_deref(),
        args.config.as_deref(),
        &args.engine,
    )?;
    // Output files are checked and their temporary files created before the check runs: a
    // refused target fails at once, and an interrupted run removes what it created.
    let targets = targets(&args)?;
    let as_of = options.as_of;
    let outcome = config::run_check(&options, loaded_config.as_ref()).map_err(|e| e.to_string())?;
    let mut outcome = outcome;
    let mut notes = Vec::new();
    notes.extend(narrow(&mut outcome, &args, &options, selection.as_deref())?);
    // After the filters: `--changed-since` adds its git stage.
    if args.timings {
        for (stage, took) in &outcome.stats.stages {
            eprintln!("{stage:>28}: {:8.3}s", took.as_secs_f64());
        }
    }
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

/// Applies `--baseline`, the paths given, `--only` and `--changed-since` to the findings (the
/// whole repository was checked either way). Each filter records how many findings it hid.
/// Returns the lines for the end of the report: the baseline's, and a note when the paths
/// checked hold no account document.
fn narrow(
    outcome: &mut channelguard::check::Outcome,
    args: &CheckArgs,
    options: &CheckOptions,
    selection: Option<&[PathBuf]>,
) -> Result<Vec<String>, String> {
    use channelguard::changed::{self, Filter};
    let mut notes = Vec::new();
    // The baseline goes first: against every finding, so that entries outside the files or
    // documents selected below are not miscounted as fixed.
    if let Some(path) = &args.baseline {
        notes.push(apply_baseline(outcome, path, options)?);
    }
    let documents = match selection {
        Some(paths) => {
            let selected = changed::under_paths(outcome, paths);
            let documents = selected.documents_in_files(outcome);
            selected.retain(outcome, Filter::Paths);
            documents
        }
        None => outcome.stats.documents,
    };
    // (A check stopped by a configuration, schema or policy error loaded nothing: that error
    // is what the report shows.)
    let incomplete = outcome
        .findings
        .iter()
        .any(|f| f.origin == channelguard::finding::Origin::Tool);
    if documents == 0 && !incomplete {
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
    if let Some(files) = &args.only {
        changed::only_files(outcome, files).retain(outcome, Filter::Only);
    }
    if let Some(reference) = &args.changed_since {
        changed::changed_since(outcome, reference, &options.paths[..1], &options.limits)
            .map_err(|e| e.to_string())?
            .retain(outcome, Filter::ChangedSince(reference.clone()));
    }
    Ok(notes)
}

fn apply_baseline(
    outcome: &mut channelguard::check::Outcome,
    path: &std::path::Path,
    options: &CheckOptions,
) -> Result<String, String> {
    // Named on the command line, but possibly committed by anyone: through the one safe reader.
    let mut scope = options.read_scope();
    scope.allow_file(path);
    let limit = options.limits.max_file_bytes;
    let text =
        channelguard::input::read_text(path, &scope, channelguard::input::Origin::Named, limit)
            .map_err(|problem| match problem {
                Ok(valid) => format!(
                    "the baseline `{}` is not valid UTF-8 (byte {valid})",
                    path.display()
                ),
                Err(refused) => format!("cannot read the baseline `{}`: {refused}", path.display()),
            })?;
    let baseline = channelguard::baseline::Baseline::parse(&text)
        .map_err(|e| format!("baseline `{}`: {e}", path.display()))?;
    let applied = baseline.apply(&mut outcome.findings, &outcome.sources);
    let mut note = format!(
        "baseline `{}`: {} known {} not reported, {} {} fixed",
        path.display(),
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
    Ok(note)
}

/// One requested report: a format and where it goes (`None`: standard output).
struct Target {
    format: Format,
    output: Option<(PathBuf, Reserved)>,
}

/// Pairs each `--output` with the `--format` given just before it, and reserves each output
/// file ([`Reserved`]). clap's derive API drops argument positions, so the command line is
/// matched again to read them.
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
    let matches = <crate::args::Cli as clap::CommandFactory>::command()
        .try_get_matches_from(std::env::args_os())
        .map_err(|e| e.to_string())?;
    let check = matches
        .subcommand_matches("check")
        .ok_or("--output is an option of `check`")?;
    let positions = |id: &str| -> Vec<usize> {
        check
            .indices_of(id)
            .map(|i| i.collect())
            .unwrap_or_default()
    };
    let format_at = positions("format");
    let output_at = positions("output");
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
