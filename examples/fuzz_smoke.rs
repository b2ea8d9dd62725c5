//! Stable-toolchain fuzzing: runs the bodies of the cargo-fuzz targets (fuzz/bodies.rs) on
//! mutations of their saved corpora for a fixed time, for machines without nightly. Not a
//! coverage-guided fuzzer: a seeded mutator (bit flips, dictionary tokens, splices, repeats)
//! over the seeds, which is enough to exercise the limits and the span and render invariants.
//!
//! ```text
//! cargo run --release --example fuzz_smoke -- --seconds 60 --target yaml_load [--seed N]
//! ```
//!
//! A failing input is written to `fuzz/artifacts/<target>/smoke-<hash>` and the run exits 1;
//! add it to `fuzz/corpus/<target>/` with the fix so that `tests/fuzz_replay.rs` keeps it fixed.

#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../fuzz/bodies.rs"]
mod bodies;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Tokens the mutator inserts (YAML and Rhai; the bodies ignore what they cannot use).
const TOKENS: &[&str] = &[
    "- ",
    ": ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "!x ",
    "<<: ",
    "---\n",
    "...\n",
    "\"",
    "'",
    "|\n",
    ">-\n",
    "? ",
    "#",
    "\t",
    "\n",
    "\r\n",
    "kind: Partner\n",
    "id: x\n",
    "0x",
    ".inf",
    "99999999999999999999",
    "é",
    "\u{feff}",
    "\u{1b}[2J",
    "fn ",
    "check(doc)",
    "loop ",
    "while ",
    "for i in 0..100000 ",
    "let ",
    "report(\"/id\", ",
    "doc.",
    "import ",
    "eval(",
    "exit(",
    "print(",
    "#{",
    "||",
    "+=",
    ".push(",
    ".pad(",
    "1 << 40",
    "\0",
    "$ref",
    "\"pattern\": \"",
    "(a+)+",
    "\"type\": ",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(data.len() + 1);
        match rng.below(7) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                data.splice(at..at, token.iter().copied());
            }
            2 if !data.is_empty() => {
                let end = (at + rng.below(32)).min(data.len());
                data.drain(at.min(end)..end);
            }
            3 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                let to = (from + rng.below(256)).min(other.len());
                data.splice(at..at, other[from..to].iter().copied());
            }
            4 if !data.is_empty() => {
                // Repeat a short slice many times (deep nesting, long scalars).
                let end = (at + 1 + rng.below(4)).min(data.len());
                let start = at.min(end.saturating_sub(1));
                let piece = data[start..end].to_vec();
                let times = 1 + rng.below(2_000);
                let repeated: Vec<u8> = piece
                    .iter()
                    .copied()
                    .cycle()
                    .take(piece.len() * times)
                    .collect();
                data.splice(end..end, repeated);
            }
            5 => data.insert(at, rng.below(256) as u8),
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                data.extend_from_slice(token);
            }
        }
    }
    data.truncate(max_len);
    data
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut seeds: Vec<Vec<u8>> = files.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    if seeds.is_empty() {
        seeds.push(Vec::new());
    }
    seeds
}

fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn main() -> ExitCode {
    let mut seconds = 60u64;
    let mut targets: Vec<String> = Vec::new();
    let mut seed = 0x5eed_u64;
    let mut replay: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()).unwrap_or(60),
            "--target" => targets.extend(args.next()),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(seed),
            "--replay" => replay.extend(args.next().map(PathBuf::from)),
            "-h" | "--help" => {
                println!(
                    "usage: fuzz_smoke [--seconds N] [--target T]... [--seed N] [--replay FILE]...\ntargets: {}",
                    bodies::TARGETS.join(", ")
                );
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument `{other}`");
                return ExitCode::from(2);
            }
        }
    }
    if targets.is_empty() {
        targets = bodies::TARGETS.iter().map(|t| t.to_string()).collect();
    }
    if !replay.is_empty() {
        // Run saved inputs once each, with the default panic hook (message and location).
        let mut failed = false;
        for path in &replay {
            let data = std::fs::read(path).unwrap_or_default();
            for target in &targets {
                let ok = std::panic::catch_unwind(|| bodies::run(target, &data)).is_ok();
                println!(
                    "{target} {}: {}",
                    path.display(),
                    if ok { "ok" } else { "FAILED" }
                );
                failed |= !ok;
            }
        }
        return if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    // Failures are reported by this runner, not by the default hook's backtrace per panic.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = false;
    for target in &targets {
        let seeds = seeds(target);
        let max_len = if target == "policy" {
            bodies::MAX_SCRIPT
        } else {
            65_536
        };
        let mut rng = Rng(seed ^ hash(target.as_bytes()) | 1);
        let started = Instant::now();
        let budget = Duration::from_secs(seconds);
        let (mut runs, mut slowest) = (0u64, Duration::ZERO);
        let mut failures = 0;
        while started.elapsed() < budget {
            // Seeds first, then mutations.
            let data = if (runs as usize) < seeds.len() {
                seeds[runs as usize].clone()
            } else {
                mutate(&mut rng, &seeds, max_len)
            };
            let one = Instant::now();
            let result = std::panic::catch_unwind(|| bodies::run(target, &data));
            slowest = slowest.max(one.elapsed());
            runs += 1;
            if let Err(payload) = result {
                failures += 1;
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("fuzz/artifacts")
                    .join(target);
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(format!("smoke-{:016x}", hash(&data)));
                let _ = std::fs::write(&path, &data);
                eprintln!("{target}: FAILED on {} ({message})", path.display());
                if failures >= 5 {
                    break;
                }
            }
        }
        println!(
            "{target}: {runs} inputs in {:.1} s, slowest {:.2} s, {failures} failures",
            started.elapsed().as_secs_f64(),
            slowest.as_secs_f64()
        );
        failed |= failures > 0;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
