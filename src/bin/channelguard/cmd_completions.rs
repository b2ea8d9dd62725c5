//! `channelguard completions SHELL`: prints a completion script generated from the clap
//! definitions, so completions never drift from the options the binary accepts.

use crate::args::CompletionsArgs;
use std::process::ExitCode;

use clap::{Command, CommandFactory};

pub fn run(args: CompletionsArgs) -> Result<ExitCode, String> {
    let mut command = without_hidden_commands(crate::args::Cli::command());
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "channelguard", &mut script);
    crate::print_bytes(&script)?;
    Ok(ExitCode::SUCCESS)
}

/// The command line without its hidden commands (`docs`, for maintainers): clap_complete hides
/// hidden options but offers hidden commands in zsh and fish.
fn without_hidden_commands(full: Command) -> Command {
    let visible = full.get_subcommands().filter(|c| !c.is_hide_set()).cloned();
    Command::new("channelguard")
        .version(env!("CARGO_PKG_VERSION"))
        .about(full.get_about().cloned().unwrap_or_default())
        .subcommand_required(true)
        .subcommands(visible.collect::<Vec<_>>())
}
