//! `channelguard schemas export DIR`: writes the bundled JSON Schemas (stable `$id`s) to a
//! directory, for editors that validate account YAML as it is typed (docs/editors.md).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use channelguard::schema::BUILTIN_SCHEMAS;

#[derive(Args, Debug)]
pub struct SchemasArgs {
    #[command(subcommand)]
    pub command: SchemasCommand,
}

#[derive(Subcommand, Debug)]
pub enum SchemasCommand {
    /// Write the bundled JSON Schemas to DIR (created if missing; existing schema files are
    /// replaced, so re-exporting after an upgrade refreshes them)
    Export {
        /// Directory to write the schemas into
        dir: PathBuf,
    },
}

pub fn run(args: SchemasArgs) -> Result<ExitCode, String> {
    match args.command {
        SchemasCommand::Export { dir } => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
            for (name, text) in BUILTIN_SCHEMAS {
                let path = dir.join(name);
                std::fs::write(&path, text)
                    .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
            }
            println!(
                "wrote {} schemas to {}",
                BUILTIN_SCHEMAS.len(),
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
