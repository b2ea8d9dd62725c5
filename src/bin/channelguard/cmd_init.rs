//! `channelguard init`: writes a commented starter `channelguard.yaml` and a
//! `.pre-commit-config.yaml` that runs channelguard as a pre-commit hook.

use crate::args::InitArgs;
use std::process::ExitCode;

use channelguard::config;
use channelguard::limits::Limits;
use channelguard::policy::{PolicySet, PolicySources};
use channelguard::source::SourceMap;

const PRE_COMMIT_FILE: &str = ".pre-commit-config.yaml";

pub fn run(args: InitArgs) -> Result<ExitCode, String> {
    let builtin = PolicySources {
        builtin: true,
        directories: Vec::new(),
    };
    let (policies, _) = PolicySet::load(
        &builtin,
        &mut SourceMap::new(),
        &Limits::default(),
        &channelguard::input::ReadScope::default(),
    )?;
    let files = [
        (
            args.dir.join(config::FILE_NAME),
            config::starter(&policies.declared_settings()),
        ),
        (
            args.dir.join(PRE_COMMIT_FILE),
            config::PRE_COMMIT_CONFIG.to_string(),
        ),
    ];
    // Check every target before writing any, so a refusal leaves the directory untouched.
    if !args.force {
        if let Some((existing, _)) = files.iter().find(|(path, _)| path.exists()) {
            return Err(format!(
                "`{}` already exists; use --force to overwrite it",
                existing.display()
            ));
        }
    }
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| format!("cannot create `{}`: {e}", args.dir.display()))?;
    for (path, text) in &files {
        std::fs::write(path, text)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
