//! Command-line arguments (clap derive). Parsing only: `main.rs` turns them into library calls.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "channelguard",
    version,
    about = "Validate Microsoft CSP partner account data (YAML) against JSON Schemas and Partner Center channel rules",
    long_about = "channelguard loads an account data repository, validates every document against JSON Schemas, \
runs the channel policies (Rhai) and reports violations with file, line and column.\n\n\
Exit codes: 0 no finding at or above --fail-on; 1 findings at or above it; 2 the check could not be done \
(bad arguments, unreadable path, broken schema, policy or configuration)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check an account data repository (files or directories; default `.`)
    Check(crate::cmd_check::CheckArgs),
    /// Write a commented starter channelguard.yaml and a .pre-commit-config.yaml
    Init(crate::cmd_init::InitArgs),
    /// Work with the bundled JSON Schemas (export them for editors)
    Schemas(crate::cmd_schemas::SchemasArgs),
    /// Run policy test cases (`*.test.yaml`) and show what differs from the expected findings
    Test(crate::cmd_test::TestArgs),
    /// Explain a policy or built-in check: rationale, remediation, settings, example
    Explain(crate::cmd_explain::ExplainArgs),
    /// List every policy and built-in check (id, severity, kinds, title)
    List(crate::cmd_list::ListArgs),
    /// Generate documentation pages (`docs rules > docs/rules.md`)
    #[command(hide = true)]
    Docs(crate::cmd_docs::DocsArgs),
    /// Record today's findings so that `check --baseline` reports only new ones
    Baseline(crate::cmd_baseline::BaselineArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions(crate::cmd_completions::CompletionsArgs),
    /// Print the man page (roff) of channelguard, or of one of its commands
    Manpage(crate::cmd_manpage::ManpageArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Graphical diagnostics with source snippets (default)
    Human,
    /// Versioned JSON report (docs/output-formats.md)
    Json,
    /// SARIF 2.1.0 for code scanning (GitHub, Azure DevOps, IDEs)
    Sarif,
    /// JUnit XML: a testsuite per file, a testcase per document
    Junit,
    /// GitHub Actions workflow commands (annotations on the changed lines)
    Github,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Options shared by every command that loads data, schemas and policies.
#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    /// Use the JSON Schemas in DIR instead of the bundled ones
    #[arg(long, value_name = "DIR", help_heading = "Rules")]
    pub schemas: Option<PathBuf>,

    /// Add the policies in DIR (a policy with a built-in id replaces it); repeatable
    #[arg(long = "policies", value_name = "DIR", help_heading = "Rules")]
    pub policies: Vec<PathBuf>,

    /// Do not load the built-in policy pack
    #[arg(long, help_heading = "Rules")]
    pub no_builtin_policies: bool,

    /// Repository root (display paths are relative to it; files must stay inside it)
    #[arg(long, value_name = "DIR", help_heading = "Input")]
    pub root: Option<PathBuf>,

    /// Worker threads, 1 to 256 (default: one per core)
    #[arg(
        long,
        short = 'j',
        value_name = "N",
        help_heading = "Input",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new()
            .range(1..=channelguard::limits::MAX_THREADS as u64)
    )]
    pub threads: Option<usize>,
}
