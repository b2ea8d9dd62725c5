//! `channelguard baseline create FILE [PATHS]`: run the check and record its findings as a
//! baseline, so that `check --baseline FILE` reports only findings that are new since.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::args::EngineArgs;
use crate::parse_as_of;
use channelguard::baseline::Baseline;
use channelguard::check::CheckOptions;
use channelguard::config;
use channelguard::report::{write_file_atomically, Counts};

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
    let root = args
        .engine
        .root
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    let loaded_config = config::load(args.config.as_deref(), &root)?;
    let command_line_date = args
        .as_of
        .as_deref()
        .map(|t| parse_as_of(Some(t)))
        .transpose()?;
    let as_of = config::evaluation_date(command_line_date, loaded_config.as_ref());
    let mut options = CheckOptions::new(args.paths.clone(), as_of);
    options.root = root;
    options.schema_dir = args.engine.schemas.clone();
    options.policies.builtin = !args.engine.no_builtin_policies;
    options.policies.directories = args.engine.policies.clone();
    options.threads = args.engine.threads;
    if let Some(loaded) = &loaded_config {
        loaded.config.apply_to(&mut options);
    }
    let outcome = config::run_check(&options, loaded_config.as_ref()).map_err(|e| e.to_string())?;
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
    write_file_atomically(&args.file, |out| {
        out.write_all(baseline.to_json().as_bytes())
    })
    .map_err(|e| format!("cannot write `{}`: {e}", args.file.display()))?;
    eprintln!(
        "baseline `{}`: {} findings recorded",
        args.file.display(),
        baseline.entries.len()
    );
    Ok(ExitCode::SUCCESS)
}
