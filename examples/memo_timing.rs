//! Measures the incremental policy stage (issue 16, item 2) in one process: a cold run that
//! records a memo, then runs after changing one subscription file and one customer file, each
//! once with the previous memo and once cold. Prints the policy-stage and total times and the
//! evaluation counts. Edits files of DIR (a generated book) and restores them at the end.
//!
//! ```text
//! cargo run --release --example generate -- --customers 10000 --seed 7 /tmp/book10k
//! cargo run --release --example memo_timing -- /tmp/book10k
//! ```

// A command-line tool: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use channelguard::check::{self, CommandLine, Outcome};
use channelguard::memo::Memo;

fn policy_time(outcome: &Outcome) -> Duration {
    outcome
        .stats
        .stages
        .iter()
        .find(|(name, _)| *name == "policies")
        .map_or(Duration::ZERO, |(_, took)| *took)
}

fn prepare(dir: &Path) -> check::Prepared {
    let command_line = CommandLine {
        paths: vec![dir.to_path_buf()],
        as_of: Some("2024-06-30".to_string()),
        root: Some(dir.to_path_buf()),
        ..CommandLine::default()
    };
    check::prepare(&command_line).expect("options")
}

/// A run without any memo (as `check` runs today).
fn run_plain(dir: &Path, label: &str) {
    let prepared = prepare(dir);
    let outcome = check::run_with_config(&prepared.options, prepared.config.as_ref()).expect("run");
    println!(
        "{label:<40} plain policies {:7.3} s  total {:7.3} s  findings {}",
        policy_time(&outcome).as_secs_f64(),
        outcome.stats.elapsed.as_secs_f64(),
        outcome.findings.len()
    );
    std::mem::forget(outcome);
}

fn run(dir: &Path, memo: Option<Memo>, label: &str) -> Memo {
    let prepared = prepare(dir);
    let warm = memo.is_some();
    let (outcome, memo) =
        check::run_with_memo(&prepared.options, prepared.config.as_ref(), memo).expect("run");
    let e = outcome.stats.evaluations;
    println!(
        "{label:<40} {:<5} policies {:7.3} s  total {:7.3} s  evaluations run {:>8} reused {:>8}  findings {}",
        if warm { "memo" } else { "cold" },
        policy_time(&outcome).as_secs_f64(),
        outcome.stats.elapsed.as_secs_f64(),
        e.run,
        e.reused,
        outcome.findings.len()
    );
    std::mem::forget(outcome);
    memo
}

fn first_file(dir: &Path) -> PathBuf {
    let mut entries: Vec<PathBuf> = walk(dir);
    entries.sort();
    entries.into_iter().next().expect("a file")
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Changes `field: old` to `field: new` in `path` (or appends a comment); returns the original.
fn change(path: &Path, field: &str, new: &str) -> String {
    let original = std::fs::read_to_string(path).expect("read");
    let mut found = false;
    let mut edited: Vec<String> = Vec::new();
    for line in original.lines() {
        if !found && line.starts_with(&format!("{field}:")) {
            found = true;
            edited.push(format!("{field}: {new}"));
        } else {
            edited.push(line.to_string());
        }
    }
    let mut text = edited.join("\n") + "\n";
    if !found {
        text.push_str("# edited\n");
    }
    std::fs::write(path, text).expect("write");
    original
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: memo_timing DIR"));
    run_plain(&dir, "cold, no memo");
    let memo = run(&dir, None, "cold, recording");
    let reads: usize = memo.entries.values().map(|e| e.reads.len()).sum();
    let json = serde_json::to_vec(&memo).expect("serialisable").len();
    println!(
        "memo: {} entries, {reads} recorded reads, {:.1} MB as JSON",
        memo.len(),
        json as f64 / 1e6
    );
    let memo = run(&dir, Some(memo), "no change");

    let subscription = first_file(&dir.join("subscriptions"));
    let original = change(&subscription, "status", "suspended");
    let memo = run(&dir, Some(memo), "one subscription file changed");
    run_plain(&dir, "one subscription file changed");
    std::fs::write(&subscription, original).expect("restore");
    let memo = run(&dir, Some(memo), "restored");

    let customer = first_file(&dir.join("customers"));
    let original = change(&customer, "name", "Renamed Customer Ltd");
    run(&dir, Some(memo), "one customer file changed");
    run_plain(&dir, "one customer file changed");
    std::fs::write(&customer, original).expect("restore");
}
