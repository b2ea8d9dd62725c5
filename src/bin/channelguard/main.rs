//! The `channelguard` binary: parses arguments, calls the library, prints, and maps the outcome
//! to an exit code. No checking logic lives here.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod cmd_baseline;
mod cmd_check;
mod cmd_completions;
mod cmd_docs;
mod cmd_explain;
mod cmd_init;
mod cmd_list;
mod cmd_manpage;
mod cmd_schemas;
mod cmd_test;
mod output;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use args::{Cli, ColorChoice, Command, FailOn};
use channelguard::finding::Severity;
use channelguard::report::ExitStatus;

/// Exit code when the tool could not do its job (also clap's code for bad arguments).
pub const EXIT_INCOMPLETE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                EXIT_INCOMPLETE
            } else {
                0
            });
        }
    };
    output::remove_temporaries_on_signal();
    let result = match cli.command {
        Command::Check(args) => cmd_check::run(args),
        Command::Baseline(args) => cmd_baseline::run(args),
        Command::Init(args) => cmd_init::run(args),
        Command::Schemas(args) => cmd_schemas::run(args),
        Command::Test(args) => cmd_test::run(args),
        Command::Explain(args) => cmd_explain::run(args),
        Command::List(args) => cmd_list::run(args),
        Command::Docs(args) => cmd_docs::run(args),
        Command::Completions(args) => cmd_completions::run(args),
        Command::Manpage(args) => cmd_manpage::run(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            // Messages may name files and quote policies: escaped line by line.
            let lines: Vec<String> = message
                .lines()
                .map(channelguard::report::escape_untrusted)
                .collect();
            eprintln!("error: {}", lines.join("\n"));
            ExitCode::from(EXIT_INCOMPLETE)
        }
    }
}

pub fn parse_as_of(text: Option<&str>) -> Result<jiff::civil::Date, String> {
    match text {
        None => Ok(channelguard::dates::today_utc()),
        Some(text) => text
            .parse::<jiff::civil::Date>()
            .map_err(|_| format!("--as-of `{text}` is not a date (YYYY-MM-DD)")),
    }
}

/// Writes generated text to standard output. A reader that stops early (`| head`) is not an
/// error: it has what it wanted.
pub fn print_bytes(bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(format!("cannot write to standard output: {error}")),
    }
}

pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

pub fn fail_on(level: FailOn) -> Severity {
    match level {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
        FailOn::Info => Severity::Info,
    }
}

/// Maps an exit status to the process exit code.
pub fn exit_code(status: ExitStatus) -> ExitCode {
    ExitCode::from(match status {
        ExitStatus::Clean => 0,
        ExitStatus::Findings => 1,
        ExitStatus::Incomplete => EXIT_INCOMPLETE,
    })
}

/// The repository root: `--root` (which must be a directory), else the current directory.
pub fn root(engine: &args::EngineArgs) -> Result<std::path::PathBuf, String> {
    let Some(root) = &engine.root else {
        return Ok(std::path::PathBuf::from("."));
    };
    match std::fs::metadata(root) {
        Ok(meta) if meta.is_dir() => Ok(root.clone()),
        Ok(_) => Err(format!("--root `{}` is not a directory", root.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("--root `{}` does not exist", root.display()))
        }
        Err(error) => Err(format!("--root `{}`: {error}", root.display())),
    }
}

/// What `check` and `baseline create` run: the options, the configuration and the paths
/// that choose what is reported (`None`: the whole repository).
pub struct Prepared {
    pub options: channelguard::check::CheckOptions,
    pub config: Option<channelguard::config::LoadedConfig>,
    pub selection: Option<Vec<std::path::PathBuf>>,
}

/// The check options of `check` and `baseline create`: the repository found from the paths
/// (`channelguard::root`), the command line, then `channelguard.yaml` (at the root, or
/// `--config`) for what the command line leaves open. The whole repository is loaded; the
/// paths given choose what is reported.
pub fn check_options(
    paths: &[std::path::PathBuf],
    as_of: Option<&str>,
    config_file: Option<&std::path::Path>,
    engine: &args::EngineArgs,
) -> Result<Prepared, String> {
    let explicit_root = match &engine.root {
        Some(_) => Some(root(engine)?),
        None => None,
    };
    let located =
        channelguard::root::locate(paths, explicit_root.as_deref()).map_err(|e| e.to_string())?;
    let root = located.root;
    let loaded_config = channelguard::config::load(config_file, &root)?;
    let command_line_date = as_of.map(|t| parse_as_of(Some(t))).transpose()?;
    let as_of = channelguard::config::evaluation_date(command_line_date, loaded_config.as_ref());
    // The root first, then the named paths (a hidden directory or a file of another extension
    // is checked only when named); the walk drops the ones it found twice.
    let mut walked = vec![root.clone()];
    walked.extend(located.paths.iter().filter(|p| **p != root).cloned());
    let mut options = channelguard::check::CheckOptions::new(walked, as_of);
    options.root = root;
    options.schema_dir = engine.schemas.clone();
    options.policies.builtin = !engine.no_builtin_policies;
    options.policies.directories = engine.policies.clone();
    options.threads = engine.threads;
    if let Some(loaded) = &loaded_config {
        loaded.config.apply_to(&mut options);
    }
    Ok(Prepared {
        options,
        config: loaded_config,
        selection: located.selects_part.then_some(located.paths),
    })
}
