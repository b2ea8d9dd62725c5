//! `channelguard manpage [COMMAND]`: prints the roff man page of the binary, or of one of its
//! commands (`channelguard-check(1)`), generated from the clap definitions.

use crate::args::ManpageArgs;
use std::process::ExitCode;

use clap::CommandFactory;

pub fn run(args: ManpageArgs) -> Result<ExitCode, String> {
    let mut top = crate::args::Cli::command().disable_help_subcommand(true);
    // Building gives every subcommand its display name (`channelguard-check`), as the page
    // title and the file name `man` looks for.
    top.build();
    let page = match &args.command {
        None => top,
        Some(name) => {
            let visible = || top.get_subcommands().filter(|c| !c.is_hide_set());
            match visible().find(|c| c.get_name() == name) {
                Some(command) => command.clone(),
                None => {
                    let names: Vec<&str> = visible().map(|c| c.get_name()).collect();
                    return Err(format!(
                        "`{name}` is not a channelguard command; the commands are {}",
                        names.join(", ")
                    ));
                }
            }
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        // The footer names the program and its version on every page, not `check `.
        .source(format!("channelguard {}", env!("CARGO_PKG_VERSION")))
        .render(&mut roff)
        .map_err(|e| format!("cannot render the man page: {e}"))?;
    crate::print_bytes(&roff)?;
    Ok(ExitCode::SUCCESS)
}
