//! `channelguard check`: run the whole check and print the report.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::args::{ColorChoice, EngineArgs, FailOn, Format};
use crate::{exit_code, fail_on, parse_as_of, use_color};
use channelguard::check::CheckOptions;
use channelguard::config;
use channelguard::report::human::HumanReporter;
use channelguard::report::json::JsonReporter;
use channelguard::report::{exit_status, Report, Reporter};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Files or directories to check
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Lowest severity that makes the exit code 1
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

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

pub fn run(args: CheckArgs) -> Result<ExitCode, String> {
    let config_root = args
        .engine
        .root
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    let loaded_config = config::load(args.config.as_deref(), &config_root)?;
    let command_line_date = args
        .as_of
        .as_deref()
        .map(|t| parse_as_of(Some(t)))
        .transpose()?;
    let as_of = config::evaluation_date(command_line_date, loaded_config.as_ref());
    let mut options = CheckOptions::new(args.paths.clone(), as_of);
    options.root = args
        .engine
        .root
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    options.schema_dir = args.engine.schemas.clone();
    options.policies.builtin = !args.engine.no_builtin_policies;
    options.policies.directories = args.engine.policies.clone();
    options.threads = args.engine.threads;
    if let Some(loaded) = &loaded_config {
        loaded.config.apply_to(&mut options);
    }
    let outcome = config::run_check(&options, loaded_config.as_ref()).map_err(|e| e.to_string())?;
    let fail_on = fail_on(args.fail_on);
    let report = Report {
        outcome: &outcome,
        as_of,
        show_waived: args.show_waived,
        fail_on,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = match args.format {
        Format::Human => HumanReporter {
            color: use_color(args.color),
            quiet: args.quiet,
            ..HumanReporter::default()
        }
        .write(&report, &mut out),
        Format::Json => JsonReporter.write(&report, &mut out),
    };
    if let Err(error) = written.and_then(|()| out.flush()) {
        // A closed pipe (`| head`) is not a failure of the check.
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(format!("cannot write the report: {error}"));
        }
    }
    Ok(exit_code(exit_status(&outcome.findings, fail_on)))
}
