//! `channelguard baseline create FILE [PATHS]`: run the check and record its findings as a
//! baseline, so that `check --baseline FILE` reports only findings that are new since.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::args::EngineArgs;
use channelguard::baseline::Baseline;
use channelguard::config;
use channelguard::report::Counts;

use crate::output::Reserved;

#[derive(Args, Debug)]
pub struct BaselineArgs {
    #[command(subcommand)]
    pub command: BaselineCommand,
}

#[derive(Subcommand, Debug)]
pub enum BaselineCommand {
    /// Check the repository and write its findings to FILE (JSON)
    Create(CreateArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Baseline file to write (replaced atomically)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Files or directories to check
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,

    /// Evaluation date for rules that depend on "today" (YYYY-MM-DD; default: today in UTC)
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,

    /// Configuration file (default: channelguard.yaml at the --root, else in the current directory)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(args: BaselineArgs) -> Result<ExitCode, String> {
    match args.command {
        BaselineCommand::Create(create) => run_create(create),
    }
}

fn run_create(args: CreateArgs) -> Result<ExitCode, String> {
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
    // Refused or unwritable targets fail before the check; see `output::Reserved`.
    let reserved = Reserved::new(&args.file)
        .map_err(|e| format!("cannot write `{}`: {e}", args.file.display()))?;
    let mut outcome =
        config::run_check(&options, loaded_config.as_ref()).map_err(|e| e.to_string())?;
    // The whole repository was checked; the paths given choose what the baseline records.
    if let Some(paths) = &selection {
        channelguard::changed::under_paths(&outcome, paths)
            .retain(&mut outcome, channelguard::changed::Filter::Paths);
    }
    // A baseline of an incomplete check would silently accept whatever the broken policy or
    // schema failed to report: refuse it.
    let counts = Counts::of(&outcome.findings);
    if counts.tool_errors > 0 {
        return Err(format!(
            "the check is incomplete ({} tool errors; run `channelguard check` to see them): no baseline written",
            counts.tool_errors
        ));
    }
    let baseline = Baseline::from_findings(&outcome.findings, &outcome.sources);
    reserved
        .commit(|out| out.write_all(baseline.to_json().as_bytes()))
        .map_err(|e| format!("cannot write `{}`: {e}", args.file.display()))?;
    eprintln!(
        "baseline `{}`: {} findings recorded",
        args.file.display(),
        baseline.entries.len()
    );
    Ok(ExitCode::SUCCESS)
}
