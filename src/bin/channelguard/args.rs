//! Command-line arguments: every clap type of the binary (derive). Parsing only: `main.rs`
//! turns them into library calls.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

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
    Check(CheckArgs),
    /// Write a commented starter channelguard.yaml and a .pre-commit-config.yaml
    Init(InitArgs),
    /// Work with the bundled JSON Schemas (export them for editors)
    Schemas(SchemasArgs),
    /// Run policy test cases (`*.test.yaml`) and show what differs from the expected findings
    Test(TestArgs),
    /// Explain a policy or built-in check: rationale, remediation, settings, example
    Explain(ExplainArgs),
    /// List every policy and built-in check (id, severity, kinds, title)
    List(ListArgs),
    /// Generate documentation pages (`docs rules > docs/rules.md`)
    #[command(hide = true)]
    Docs(DocsArgs),
    /// Record today's findings so that `check --baseline` reports only new ones
    Baseline(BaselineArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions(CompletionsArgs),
    /// Print the man page (roff) of channelguard, or of one of its commands
    Manpage(ManpageArgs),
    /// Manage the incremental cache (`cache clean` removes the cache folder)
    Cache(CacheCommandArgs),
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

/// Where each `--format` and `--output` of `check` stands on the command line, from the one
/// parse (clap's derive API drops positions): an `--output` belongs to the `--format` before it.
#[derive(Clone, Debug, Default)]
pub struct FormatPositions {
    pub format: Vec<usize>,
    pub output: Vec<usize>,
}

impl FormatPositions {
    pub fn of(matches: &clap::ArgMatches) -> FormatPositions {
        let Some(check) = matches.subcommand_matches("check") else {
            return FormatPositions::default();
        };
        let positions = |id: &str| -> Vec<usize> {
            check
                .indices_of(id)
                .map(|i| i.collect())
                .unwrap_or_default()
        };
        FormatPositions {
            format: positions("format"),
            output: positions("output"),
        }
    }
}

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

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Files or directories to check
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,

    /// Print the wall time of each pipeline stage to standard error (for profiling)
    #[arg(long, hide = true)]
    pub timings: bool,

    /// Run every policy script on every document of its kinds, ignoring the policies' `applies`
    /// pre-conditions (a debugging switch: the report is the same)
    #[arg(long, hide = true)]
    pub no_policy_preconditions: bool,

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

    #[command(flatten)]
    pub cache: CacheArgs,

    /// Positions of `--format` and `--output` (filled from the parse by `main`).
    #[arg(skip)]
    pub positions: FormatPositions,
}

#[derive(Args, Debug)]
#[command(after_help = "Install, for example:\n  \
bash: channelguard completions bash > ~/.local/share/bash-completion/completions/channelguard\n  \
zsh:  channelguard completions zsh > \"${fpath[1]}/_channelguard\"\n  \
fish: channelguard completions fish > ~/.config/fish/completions/channelguard.fish")]
pub struct CompletionsArgs {
    /// The shell to write the completion script for
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Args, Debug)]
pub struct DocsArgs {
    #[command(subcommand)]
    pub page: DocsPage,
}

#[derive(Subcommand, Debug)]
pub enum DocsPage {
    /// Print docs/rules.md (`channelguard docs rules > docs/rules.md`)
    Rules,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// Rule id (`MC002`, `F03`) or built-in check name (`duplicate-key`); case does not matter
    pub id: String,

    /// Evaluation date for running the example (YYYY-MM-DD; default: today in UTC)
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,

    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Directory to write the files into (created if missing)
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// Overwrite files that already exist
    #[arg(long)]
    pub force: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns (default)
    Table,
    /// `{"rules": [{"id", "type", "severity", "kinds", "title"}]}`
    Json,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,

    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Args, Debug)]
#[command(after_help = "Install, for example:\n  \
channelguard manpage > ~/.local/share/man/man1/channelguard.1\n  \
channelguard manpage check > ~/.local/share/man/man1/channelguard-check.1")]
pub struct ManpageArgs {
    /// Print the page of this command (`channelguard-COMMAND(1)`) instead of channelguard(1)
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

#[derive(Args, Debug)]
pub struct SchemasArgs {
    #[command(subcommand)]
    pub command: SchemasCommand,
}

#[derive(Subcommand, Debug)]
pub enum SchemasCommand {
    /// Write the bundled JSON Schemas, `document.json` for files that mix kinds, and the
    /// schemas of `channelguard.yaml` and `*.test.yaml` to DIR (created if missing; existing
    /// schema files are replaced, so re-exporting after an upgrade refreshes them)
    Export {
        /// Directory to write the schemas into
        dir: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// One line per case, a diff per failure (default)
    Human,
    /// `{"cases": [...], "summary": {...}, "coverage": [...]}`
    Json,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Directory (or single file) of `*.test.yaml` cases [default: the built-in pack's cases and
    /// DIR/tests of each policy directory (--policies DIR, `policies:` in channelguard.yaml)]
    pub dir: Option<PathBuf>,

    /// Run only the cases whose name or path contains TEXT
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,

    /// Show, per policy, whether a case makes it fire, whether one keeps it silent, and which
    /// `report` calls no case reached (with --filter: only the policies whose id or file contains
    /// TEXT or that a selected case lists in `rules:`)
    #[arg(long)]
    pub coverage: bool,

    /// Also print the full diagnostic of every unexpected finding
    #[arg(long, short)]
    pub verbose: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = TestFormat::Human)]
    pub format: TestFormat,

    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Where `check` keeps its incremental cache.
#[derive(Args, Debug, Clone, Default)]
pub struct CacheArgs {
    /// Cache folder [default: $CHANNELGUARD_CACHE_DIR, else .channelguard-cache at the --root]
    #[arg(
        long,
        value_name = "DIR",
        help_heading = "Cache",
        conflicts_with = "no_cache"
    )]
    pub cache_dir: Option<PathBuf>,

    /// Run without the cache (neither read nor written); the report is the same either way
    #[arg(long, help_heading = "Cache")]
    pub no_cache: bool,
}

#[derive(Args, Debug)]
pub struct CacheCommandArgs {
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// Remove the cache folder (only a folder that channelguard created: it holds its marker)
    Clean(CacheCleanArgs),
}

#[derive(Args, Debug)]
pub struct CacheCleanArgs {
    /// Cache folder [default: $CHANNELGUARD_CACHE_DIR, else .channelguard-cache at the --root]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Repository root whose cache folder is removed (default: the current directory)
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}
