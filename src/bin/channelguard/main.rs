//! The `channelguard` binary: parses arguments, calls the library, prints, and maps the outcome
//! to an exit code. No checking logic lives here.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod cmd_baseline;
mod cmd_cache;
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

use clap::{CommandFactory, FromArgMatches};

use args::{Cli, ColorChoice, Command, FailOn};
use channelguard::finding::Severity;
use channelguard::report::ExitStatus;

/// Exit code when the tool could not do its job (also clap's code for bad arguments).
pub const EXIT_INCOMPLETE: u8 = 2;

fn main() -> ExitCode {
    // The one parse: the matches also give argument positions (`--format`/`--output` pairs).
    let parsed = Cli::command().try_get_matches().and_then(|mut matches| {
        // Positions first: turning the matches into `Cli` takes the values out of them.
        let positions = args::FormatPositions::of(&matches);
        Cli::from_arg_matches_mut(&mut matches)
            .map_err(|error| error.format(&mut Cli::command()))
            .map(|cli| (cli, positions))
    });
    let (mut cli, positions) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                EXIT_INCOMPLETE
            } else {
                0
            });
        }
    };
    if let Command::Check(args) = &mut cli.command {
        args.positions = positions;
    }
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
        Command::Cache(args) => cmd_cache::run(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            // Messages may name files and quote policies: escaped line by line.
            let lines: Vec<String> = message
                .lines()
                .map(channelguard::escape::escape_untrusted)
                .collect();
            eprintln!("error: {}", lines.join("\n"));
            ExitCode::from(EXIT_INCOMPLETE)
        }
    }
}

pub fn parse_as_of(text: Option<&str>) -> Result<jiff::civil::Date, String> {
    match text {
        None => Ok(channelguard::dates::today_utc()),
        Some(text) => channelguard::dates::parse_as_of(text),
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

/// The library's view of the engine flags (and of `--as-of`, `--config` and the paths for the
/// commands that check data). `--root` is checked to be a directory first.
pub fn command_line(
    engine: &args::EngineArgs,
    paths: &[std::path::PathBuf],
    as_of: Option<&str>,
    config: Option<&std::path::Path>,
) -> Result<channelguard::check::CommandLine, String> {
    let root = match &engine.root {
        Some(_) => Some(root(engine)?),
        None => None,
    };
    Ok(channelguard::check::CommandLine {
        paths: paths.to_vec(),
        as_of: as_of.map(str::to_string),
        config: config.map(std::path::Path::to_path_buf),
        root,
        schemas: engine.schemas.clone(),
        policies: engine.policies.clone(),
        no_builtin_policies: engine.no_builtin_policies,
        threads: engine.threads,
    })
}
