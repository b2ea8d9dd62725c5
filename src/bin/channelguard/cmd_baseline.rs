//! `channelguard baseline create FILE [PATHS]`: run the check and record its findings as a
//! baseline, so that `check --baseline FILE` reports only findings that are new since.

use crate::args::{BaselineArgs, BaselineCommand, CreateArgs};
use std::process::ExitCode;

use channelguard::check::{self, Prepared};
use channelguard::report::Counts;
use channelguard::suppress::baseline::Baseline;

use crate::output::Reserved;

pub fn run(args: BaselineArgs) -> Result<ExitCode, String> {
    match args.command {
        BaselineCommand::Create(create) => run_create(create),
    }
}

fn run_create(args: CreateArgs) -> Result<ExitCode, String> {
    let Prepared {
        options,
        config: loaded_config,
    } = check::prepare(&crate::command_line(
        &args.engine,
        &args.paths,
        args.as_of.as_deref(),
        args.config.as_deref(),
    )?)?;
    // Refused or unwritable targets fail before the check; see `output::Reserved`.
    let reserved = Reserved::new(&args.file)
        .map_err(|e| format!("cannot write `{}`: {e}", args.file.display()))?;
    // The whole repository is checked; the paths given choose what the baseline records.
    let outcome =
        check::run_with_config(&options, loaded_config.as_ref()).map_err(|e| e.to_string())?;
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
