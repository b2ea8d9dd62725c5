//! `channelguard docs rules` (hidden): prints `docs/rules.md`, generated from the built-in
//! policy headers and the checks registry. A test fails when the committed file is stale.

use crate::args::{DocsArgs, DocsPage};
use std::process::ExitCode;

use channelguard::rules_doc;

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
