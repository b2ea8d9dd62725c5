//! `channelguard docs rules` (hidden): prints `docs/rules.md`, generated from the built-in
//! policy headers and the checks registry. A test fails when the committed file is stale.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use channelguard::rules_doc;

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

pub fn run(args: DocsArgs) -> Result<ExitCode, String> {
    match args.page {
        DocsPage::Rules => {
            print!(
                "{}",
                rules_doc::rules_markdown(&rules_doc::builtin_policy_metas())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
