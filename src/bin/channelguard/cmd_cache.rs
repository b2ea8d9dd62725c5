//! `channelguard cache clean` and where `check` keeps its cache (`--cache-dir`, `--no-cache`,
//! `CHANNELGUARD_CACHE_DIR`, `.channelguard-cache/` at the root).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::args::{CacheArgs, CacheCommand, CacheCommandArgs};
use channelguard::cache;

/// The cache folder of a `check`: `None` under `--no-cache`; else `--cache-dir`, else a
/// non-empty `CHANNELGUARD_CACHE_DIR`, else `.channelguard-cache` at the repository root.
pub fn cache_dir(args: &CacheArgs, root: &Path) -> Option<PathBuf> {
    if args.no_cache || cache::disabled_by_environment() {
        return None;
    }
    Some(configured(args.cache_dir.as_deref(), root))
}

fn configured(flag: Option<&Path>, root: &Path) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_path_buf();
    }
    match std::env::var_os(cache::DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => root.join(cache::DEFAULT_DIR_NAME),
    }
}

pub fn run(args: CacheCommandArgs) -> Result<ExitCode, String> {
    match args.command {
        CacheCommand::Clean(clean) => {
            let root = clean.root.unwrap_or_else(|| PathBuf::from("."));
            let dir = configured(clean.cache_dir.as_deref(), &root);
            match cache::clean(&dir)? {
                cache::Cleaned::Removed => {
                    eprintln!("removed the cache folder `{}`", dir.display())
                }
                cache::Cleaned::Absent => eprintln!("no cache folder at `{}`", dir.display()),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
