//! Hardening tests of the incremental cache (issue 16, docs/security.md "Cache"): a cached run
//! reports exactly what a `--no-cache` run reports; a damaged, foreign, truncated, outdated,
//! huge or linked cache file is ignored with a note on stderr and rebuilt; an unwritable cache
//! folder leaves the run uncached with the same exit code; concurrent runs never tear a layer;
//! `cache clean` removes only a folder channelguard made. All run the real binary.

mod hardening_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hardening_support::*;

const BOUND: Duration = Duration::from_secs(120);

/// `channelguard check DIR` (cwd DIR, path `.`) with `args`, without the test environment's
/// cache folder unless `args` names one.
fn check_in(dir: &Path, format: &str, args: &[&str]) -> Run {
    check_in_with(dir, format, args, &[])
}

/// [`check_in`] with `env` added.
fn check_in_with(dir: &Path, format: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let check = [
        "check",
        ".",
        "--as-of",
        "2024-06-30",
        "--color",
        "never",
        "--format",
        format,
    ];
    channelguard_with(dir, &[&check[..], args].concat(), env)
}

/// `channelguard ARGS` in `dir`, without the test environment's cache settings.
fn channelguard(dir: &Path, args: &[&str]) -> Run {
    channelguard_with(dir, args, &[])
}

/// [`channelguard`] with `env` added.
fn channelguard_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let started = Instant::now();
    let output = assert_cmd::Command::cargo_bin("channelguard")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CHANNELGUARD_CACHE_DIR")
        .env_remove("CHANNELGUARD_NO_CACHE")
        .env_remove("CHANNELGUARD_TEST_PANIC_ON")
        .envs(env.iter().copied())
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
        elapsed: started.elapsed(),
    }
}

fn cached(dir: &Path, cache: &Path, format: &str) -> Run {
    check_in(
        dir,
        format,
        &["--cache-dir", cache.to_str().unwrap(), "--timings"],
    )
}

/// How many files the run took from the cache (`--timings` line).
fn reused(run: &Run) -> usize {
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("reused from the cache"))
        .unwrap_or_else(|| panic!("no reuse line in:\n{}", run.stderr));
    line.split(':')
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn notes(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("note:"))
        .collect()
}

/// The report without the wall time of the human summary line (`… in 0.13s`), the one part
/// of a report that differs between any two runs.
fn untimed(report: &str) -> String {
    let mut out = String::new();
    for line in report.lines() {
        let mut line = line.to_string();
        if line.starts_with("checked ") {
            let mut from = 0;
            while let Some(at) = line[from..].find(" in ").map(|a| a + from) {
                let rest = &line[at + 4..];
                let digits = rest
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .unwrap_or(rest.len());
                if digits > 0 && rest[digits..].starts_with('s') {
                    line.replace_range(at..at + 4 + digits + 1, "");
                    break;
                }
                from = at + 1;
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Asserts `run` reported exactly what `reference` (a `--no-cache` run) did.
fn assert_same(run: &Run, reference: &Run) {
    assert_eq!(
        run.code, reference.code,
        "exit code; stderr:\n{}",
        run.stderr
    );
    assert!(
        untimed(&run.stdout) == untimed(&reference.stdout),
        "cached report differs from the --no-cache report:\n--- cached\n{}\n--- uncached\n{}",
        run.stdout,
        reference.stdout
    );
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A repository with findings (a broken reference, a schema error and a bad file) to cache.
fn repo_with_findings() -> Repo {
    let repo = Repo::new();
    repo.write(
        "customers/c1.yaml",
        b"kind: Customer\nid: c1\nname: One\ntenant_id: 00000000-0000-4000-9000-000000000001\ncloud: commercial\ntenant_country: US\n",
    );
    repo.write(
        "rels/r1.yaml",
        b"kind: ResellerRelationship\nid: r1\npartner: partner-10\ncustomer: nobody\nstatus: requested\nrequested_on: 2024-06-10\n",
    );
    repo.write("broken.yaml", b"kind: Partner\nid: [unclosed\n");
    repo
}

#[test]
fn cached_runs_report_byte_identical_output_on_the_example_and_the_scenarios() {
    let cache = tempfile::tempdir().unwrap();
    let dirs = [
        repo_root().join("examples/northwind-csp"),
        repo_root().join("fixtures/scenarios"),
    ];
    for dir in &dirs {
        for format in ["json", "human"] {
            let cache = cache.path().join(format!(
                "{}-{format}",
                dir.file_name().unwrap().to_str().unwrap()
            ));
            let reference = check_in(dir, format, &["--no-cache"]);
            reference.within(BOUND);
            let cold = cached(dir, &cache, format);
            cold.within(BOUND);
            assert_same(&cold, &reference);
            assert_eq!(reused(&cold), 0);
            let warm = cached(dir, &cache, format);
            assert_same(&warm, &reference);
            assert!(reused(&warm) > 0, "nothing reused:\n{}", warm.stderr);
            assert!(notes(&warm).is_empty(), "{}", warm.stderr);
        }
    }
    // The runs left nothing in the source tree.
    for dir in &dirs {
        assert!(!dir.join(".channelguard-cache").exists());
    }
}

#[test]
fn an_edited_file_is_loaded_again_and_the_rest_reused() {
    let repo = repo_with_findings();
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path().join("c");
    cached(repo.root(), &cache, "json");
    // Fix the reference, break a partner, rename a file, add one with a BOM.
    repo.write(
        "rels/r1.yaml",
        b"kind: ResellerRelationship\nid: r1\npartner: partner-10\ncustomer: c1\nstatus: requested\nrequested_on: 2024-06-10\n",
    );
    repo.write(
        "partners/p11.yaml",
        b"kind: Partner\nid: partner-11\ncountry: 47\n",
    );
    std::fs::rename(
        repo.path("partners/p12.yaml"),
        repo.path("partners/renamed.yaml"),
    )
    .unwrap();
    repo.write("bom.yaml", "\u{feff}kind: Partner\nid: bom\n".as_bytes());
    let warm = cached(repo.root(), &cache, "json");
    let reference = check_in(repo.root(), "json", &["--no-cache"]);
    assert_same(&warm, &reference);
    // Twenty good partners, c1 and broken.yaml unchanged (the renamed file has the same bytes).
    assert_eq!(reused(&warm), GOOD_FILES + 1, "{}", warm.stderr);
    let again = cached(repo.root(), &cache, "json");
    assert_same(&again, &reference);
    // Every file now: the partners, c1, r1, broken.yaml and bom.yaml.
    assert_eq!(reused(&again), GOOD_FILES + 4, "{}", again.stderr);
}

/// Damages `files.bin` with `damage` after a first run, then checks the next run notes it,
/// reports what `--no-cache` reports and rebuilds the layer (the run after that is clean).
fn damaged_layer_is_ignored(damage: impl Fn(&Path), expected_note: &str) {
    damaged_layer_of("files", &damage, expected_note);
    damaged_layer_of("replay", &damage, expected_note);
    damaged_layer_of("dependencies", &damage, expected_note);
}

/// [`damaged_layer_is_ignored`] for one layer. The other layer that would answer the run
/// instead (a replay answers before the file layer is read) is removed; for the dependency
/// layer, which only a patched replay reads, a field is edited first.
fn damaged_layer_of(layer: &str, damage: &impl Fn(&Path), expected_note: &str) {
    let repo = repo_with_findings();
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path().join("c");
    let mut reference = check_in(repo.root(), "json", &["--no-cache"]);
    cached(repo.root(), &cache, "json");
    if layer == "files" {
        std::fs::remove_file(cache.join("replay.bin")).unwrap();
    }
    if layer == "dependencies" {
        replace_in(
            &repo.root().join("customers/c1.yaml"),
            "name: One",
            "name: Uno",
        );
        reference = check_in(repo.root(), "json", &["--no-cache"]);
    }
    damage(&cache.join(format!("{layer}.bin")));
    let run = cached(repo.root(), &cache, "json");
    run.within(BOUND);
    assert_same(&run, &reference);
    assert!(!replayed(&run), "{}", run.stderr);
    if layer == "dependencies" {
        assert_not_patched(&run, "no dependency record of the last run");
    }
    if layer == "files" {
        assert_eq!(reused(&run), 0);
    }
    let found = notes(&run);
    assert_eq!(found.len(), 1, "{}", run.stderr);
    assert!(
        found[0].contains("ignoring the cache file") && found[0].contains(expected_note),
        "{}",
        found[0]
    );
    let rebuilt = cached(repo.root(), &cache, "json");
    assert_same(&rebuilt, &reference);
    assert!(notes(&rebuilt).is_empty(), "{}", rebuilt.stderr);
    assert!(reused(&rebuilt) > 0);
}

#[test]
fn a_corrupt_byte_in_the_layer_is_noticed() {
    damaged_layer_is_ignored(
        |path| {
            let mut bytes = std::fs::read(path).unwrap();
            let at = bytes.len() - 10;
            bytes[at] ^= 0x01;
            std::fs::write(path, bytes).unwrap();
        },
        "checksum",
    );
}

#[test]
fn a_truncated_layer_is_noticed() {
    damaged_layer_is_ignored(
        |path| {
            let bytes = std::fs::read(path).unwrap();
            std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
        },
        "truncated",
    );
}

#[test]
fn a_layer_of_another_format_version_is_noticed() {
    damaged_layer_is_ignored(
        |path| {
            let mut bytes = std::fs::read(path).unwrap();
            bytes[8..12].copy_from_slice(&999u32.to_le_bytes());
            std::fs::write(path, bytes).unwrap();
        },
        "another version",
    );
}

#[test]
fn a_foreign_file_in_place_of_the_layer_is_noticed() {
    damaged_layer_is_ignored(
        |path| std::fs::write(path, "kind: Partner\nid: not-a-cache\n").unwrap(),
        "not a channelguard cache file",
    );
}

#[test]
fn a_huge_layer_is_not_read_past_its_bound() {
    damaged_layer_is_ignored(
        |path| {
            // Sparse: 8 GiB on paper, nothing on disk. The bound is 16 MiB plus 8 bytes per
            // byte of data read, so at most that much is read before it is refused.
            let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            file.set_len(8 << 30).unwrap();
        },
        "larger than the limit",
    );
}

#[cfg(unix)]
#[test]
fn a_layer_that_links_out_of_the_cache_folder_is_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("files.bin");
    damaged_layer_is_ignored(
        |path| {
            // A valid layer, moved outside and linked back: still refused.
            std::fs::rename(path, &target).unwrap();
            std::os::unix::fs::symlink(&target, path).unwrap();
        },
        "symbolic link",
    );
}

#[cfg(unix)]
#[test]
fn a_cache_folder_that_is_a_link_is_not_used() {
    let repo = repo_with_findings();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
    let reference = check_in(repo.root(), "json", &["--no-cache"]);
    let run = cached(repo.root(), &dir.path().join("link"), "json");
    assert_same(&run, &reference);
    assert!(
        notes(&run)[0].contains("is a symbolic link"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("real")).unwrap().count(),
        0
    );
}

#[test]
fn an_unwritable_cache_folder_leaves_the_run_uncached_with_the_same_exit_code() {
    let repo = repo_with_findings();
    let reference = check_in(repo.root(), "json", &["--no-cache"]);
    assert_eq!(reference.code, 1);
    // A folder that cannot be created (its parent is a file): works for root too.
    let run = cached(repo.root(), &repo.path("broken.yaml/cache"), "json");
    assert_same(&run, &reference);
    assert!(
        notes(&run)[0].contains("cannot create the cache folder"),
        "{}",
        run.stderr
    );
    assert_eq!(
        reused(&cached(
            repo.root(),
            &repo.path("broken.yaml/cache"),
            "json"
        )),
        0
    );

    // A read-only folder (only meaningful when not running as root).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("c");
        cached(repo.root(), &cache, "json");
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o555)).unwrap();
        let root = std::fs::write(cache.join("probe"), "x").is_ok();
        repo.write("partners/p10.yaml", good_partner(99).as_bytes());
        let reference = check_in(repo.root(), "json", &["--no-cache"]);
        let run = cached(repo.root(), &cache, "json");
        assert_same(&run, &reference);
        if !root {
            assert!(
                notes(&run)[0].contains("cannot write the cache layer"),
                "{}",
                run.stderr
            );
        }
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn concurrent_runs_on_one_cache_never_tear_it() {
    let repos: Vec<Repo> = (0..4)
        .map(|k| {
            let repo = repo_with_findings();
            for i in 0..30 {
                repo.write(
                    &format!("more/p{i}.yaml"),
                    good_partner(100 * (k + 1) + i).as_bytes(),
                );
            }
            repo
        })
        .collect();
    let references: Vec<Run> = repos
        .iter()
        .map(|r| check_in(r.root(), "json", &["--no-cache"]))
        .collect();
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path().join("shared");
    for _round in 0..2 {
        std::thread::scope(|scope| {
            let handles: Vec<_> = repos
                .iter()
                .map(|repo| scope.spawn(|| cached(repo.root(), &cache, "json")))
                .collect();
            for (handle, reference) in handles.into_iter().zip(&references) {
                let run = handle.join().unwrap();
                assert_same(&run, reference);
                assert!(notes(&run).is_empty(), "{}", run.stderr);
            }
        });
    }
    // One intact layer (the last writer's) and no temporary left behind.
    let names: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with(".tmp-")), "{names:?}");
    let after = cached(repos[0].root(), &cache, "json");
    assert!(notes(&after).is_empty(), "{}", after.stderr);
}

/// `channelguard cache clean ARGS` in `dir`, without the test environment's cache folder.
fn cache_clean(dir: &Path, args: &[&str]) -> Run {
    channelguard(dir, &[&["cache", "clean"][..], args].concat())
}

#[test]
fn cache_clean_removes_only_a_folder_channelguard_made() {
    let repo = repo_with_findings();
    // The default place: .channelguard-cache at the root, ignored by git through its own
    // .gitignore and never walked as data.
    let reference = check_in(repo.root(), "json", &["--no-cache"]);
    assert!(
        !repo.path(".channelguard-cache").exists(),
        "--no-cache writes nothing"
    );
    let run = check_in(repo.root(), "json", &[]);
    assert_same(&run, &reference);
    let cache = repo.path(".channelguard-cache");
    assert_eq!(
        std::fs::read_to_string(cache.join(".gitignore"))
            .unwrap()
            .lines()
            .last(),
        Some("*")
    );
    assert!(cache.join("CACHEDIR.TAG").exists());
    // Foreign folders are refused and kept, whatever they hold.
    let foreign = repo.path("documents");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("thesis.txt"), "years of work").unwrap();
    std::fs::write(foreign.join("files.bin"), "looks like ours").unwrap();
    let refused = cache_clean(repo.root(), &["--cache-dir", foreign.to_str().unwrap()]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("is not a channelguard cache folder"),
        "{}",
        refused.stderr
    );
    assert!(foreign.join("thesis.txt").exists() && foreign.join("files.bin").exists());
    // A marker copied into a folder does not make the rest of it ours.
    std::fs::copy(cache.join("CACHEDIR.TAG"), foreign.join("CACHEDIR.TAG")).unwrap();
    let partial = cache_clean(repo.root(), &["--cache-dir", foreign.to_str().unwrap()]);
    assert_eq!(partial.code, 2);
    assert!(foreign.join("thesis.txt").exists());
    // The real one goes (found from --root).
    let cleaned = cache_clean(Path::new("."), &["--root", repo.root().to_str().unwrap()]);
    assert_eq!(cleaned.code, 0, "{}", cleaned.stderr);
    assert!(!cache.exists());
}

#[test]
fn a_changed_schema_or_limit_invalidates_every_cached_file() {
    let repo = repo_with_findings();
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path().join("c");
    let schemas = tempfile::tempdir().unwrap();
    let export = run_in(
        Path::new("."),
        &["schemas", "export", schemas.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(export.code, 0, "{}", export.stderr);
    let dir = schemas.path().to_str().unwrap();
    let with_schemas = |extra: &[&str]| {
        let mut args = vec!["--schemas", dir, "--cache-dir", cache.to_str().unwrap()];
        args.push("--timings");
        args.extend_from_slice(extra);
        check_in(repo.root(), "json", &args)
    };
    with_schemas(&[]);
    assert_eq!(reused(&with_schemas(&[])), GOOD_FILES + 3);
    // A partner's name may now be at most 3 characters: every partner has a schema error.
    let partner = schemas.path().join("partner.json");
    let mut schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&partner).unwrap()).unwrap();
    schema["properties"]["name"]["maxLength"] = 3.into();
    std::fs::write(&partner, schema.to_string()).unwrap();
    let run = with_schemas(&[]);
    assert_eq!(reused(&run), 0, "{}", run.stderr);
    let reference = check_in(repo.root(), "json", &["--schemas", dir, "--no-cache"]);
    assert_same(&run, &reference);
    assert!(
        reference.stdout.contains("partners/p10.yaml"),
        "the edit shows"
    );
    // Another limit (channelguard.yaml) too.
    repo.write("channelguard.yaml", b"limits:\n  max_depth: 1\n");
    let run = with_schemas(&[]);
    assert_eq!(reused(&run), 0, "{}", run.stderr);
    assert_same(
        &run,
        &check_in(repo.root(), "json", &["--schemas", dir, "--no-cache"]),
    );
}

/// The `evaluations: N run, M reused` line of `--timings`.
fn evaluations(run: &Run) -> (usize, usize) {
    let line = run
        .stderr
        .lines()
        .find(|l| l.trim_start().starts_with("evaluations:"))
        .unwrap_or_else(|| panic!("no evaluations line in:\n{}", run.stderr));
    let numbers: Vec<usize> = line
        .split_whitespace()
        .filter_map(|w| w.trim_end_matches(',').parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

#[test]
fn policy_evaluations_are_reused_from_the_cache_until_a_document_or_policy_changes() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    copy_tree(&repo_root().join("examples/northwind-csp"), &repo);
    let policies = work.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(
        policies.join("X901-note-suspended.rhai"),
        "//! id: X901\n//! title: suspended subscription\n//! severity: info\n//! kinds: Subscription\n//! rationale: a test policy\n//! remediation: none\nfn check(doc) {\n    if doc.status == \"suspended\" {\n        report(#{pointer: \"/status\", message: \"suspended\"});\n    }\n}\n",
    )
    .unwrap();
    let cache = work.path().join("cache");
    let run = |format: &str, cached: bool| {
        let mut args = vec!["--policies", policies.to_str().unwrap(), "--timings"];
        if cached {
            args.extend(["--cache-dir", cache.to_str().unwrap()]);
        } else {
            args.push("--no-cache");
        }
        check_in(&repo, format, &args)
    };
    let cold = run("json", true);
    let (ran, reused) = evaluations(&cold);
    assert!(ran > 0 && reused == 0, "{}", cold.stderr);
    let layer = cache.join("evaluations.bin");
    let written = std::fs::metadata(&layer).unwrap().modified().unwrap();
    let warm = run("json", true);
    assert_same(&warm, &run("json", false));
    assert_eq!(evaluations(&warm), (0, ran), "{}", warm.stderr);
    // Nothing ran and nothing changed: the layer is not written again.
    assert_eq!(
        std::fs::metadata(&layer).unwrap().modified().unwrap(),
        written
    );
    // One customer file edited (a comment): only the evaluations of its documents, and of
    // those that looked them up, run again.
    let edited_file = repo.join("customers/tailspin.yaml");
    let text = std::fs::read_to_string(&edited_file).unwrap();
    std::fs::write(&edited_file, format!("{text}# edited\n")).unwrap();
    let edited = run("human", true);
    assert_same(&edited, &run("human", false));
    let (again, kept) = evaluations(&edited);
    assert!(
        again > 0 && again < ran / 2 && again + kept == ran,
        "{}",
        edited.stderr
    );
    // A policy edited: every evaluation runs again (the policies are part of the layer's world).
    let policy = policies.join("X901-note-suspended.rhai");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        text.replace("message: \"suspended\"", "message: \"paused\""),
    )
    .unwrap();
    let changed = run("json", true);
    assert_same(&changed, &run("json", false));
    assert_eq!(evaluations(&changed), (ran, 0), "{}", changed.stderr);
    assert!(notes(&changed).is_empty(), "{}", changed.stderr);
}

#[test]
fn channelguard_no_cache_in_the_environment_runs_without_the_cache() {
    let repo = repo_with_findings();
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path().join("c");
    let output = assert_cmd::Command::cargo_bin("channelguard")
        .unwrap()
        .current_dir(repo.root())
        .args([
            "check",
            ".",
            "--as-of",
            "2024-06-30",
            "--format",
            "json",
            "--timings",
        ])
        .args(["--cache-dir", cache.to_str().unwrap()])
        .env("CHANNELGUARD_NO_CACHE", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stderr.contains("reused from the cache"), "{stderr}");
    assert!(!cache.exists(), "the cache folder was created");
    // `0` and `false` leave the cache on.
    for off in ["0", "false"] {
        let run = assert_cmd::Command::cargo_bin("channelguard")
            .unwrap()
            .current_dir(repo.root())
            .args(["check", ".", "--as-of", "2024-06-30", "--format", "json"])
            .args(["--cache-dir", cache.to_str().unwrap()])
            .env("CHANNELGUARD_NO_CACHE", off)
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(1));
        assert!(
            cache.join("files.bin").exists(),
            "CHANNELGUARD_NO_CACHE={off}"
        );
    }
}

/// A file's stamp is trusted 50 ms after its last change in these tests (2 s by default; debug
/// builds only), so that a run right after an edit can replay.
const SETTLE: (&str, &str) = ("CHANNELGUARD_TEST_SETTLE_MS", "50");

/// A cached run with `--timings` and the short settle window, after waiting it out.
fn settled(dir: &Path, cache: &Path, format: &str, extra: &[&str]) -> Run {
    std::thread::sleep(Duration::from_millis(120));
    let cached = ["--timings", "--cache-dir", cache.to_str().unwrap()];
    check_in_with(dir, format, &[&cached[..], extra].concat(), &[SETTLE])
}

/// Sets `path`'s modification time (its change time becomes now, as for any write).
fn set_modified(path: &Path, time: std::time::SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

fn replayed(run: &Run) -> bool {
    run.stderr.contains("replayed from the cache")
}

fn patched(run: &Run) -> bool {
    run.stderr.contains("patched from the cache")
}

/// Asserts that `run` was a full run and said why its change was not patched.
fn assert_not_patched(run: &Run, reason: &str) {
    assert!(!patched(run), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("not patched: {reason}")),
        "{}",
        run.stderr
    );
}

/// The example repository in a temporary folder (its files older than the settle window once
/// [`settled`] waited).
fn example_copy() -> (tempfile::TempDir, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    copy_tree(&repo_root().join("examples/northwind-csp"), &repo);
    (work, repo)
}

/// [`example_copy`] with a cache folder in the work folder, after a first cached run recorded
/// the result: (the work folder, the repository, the cache folder).
fn recorded_example() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (work, repo) = example_copy();
    let cache = work.path().join("cache");
    settled(&repo, &cache, "json", &[]);
    (work, repo, cache)
}

/// [`example_copy`] with a folder holding one test policy `id` on `kind` documents: (the
/// work folder, the repository, the cache folder, the policy folder).
fn example_with_test_policy(
    id: &str,
    kind: &str,
    body: &str,
) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let (work, repo) = example_copy();
    let cache = work.path().join("cache");
    let policies = work.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(
        policies.join(format!("{id}-test.rhai")),
        format!("//! id: {id}\n//! title: a test policy\n//! severity: info\n//! kinds: {kind}\n//! rationale: a test policy\n//! remediation: none\n{body}"),
    )
    .unwrap();
    (work, repo, cache, policies)
}

#[test]
fn an_unchanged_repository_replays_the_last_result_in_every_format() {
    let (work, repo) = example_copy();
    let cache = work.path().join("cache");
    let files = check_in(&repo, "json", &["--no-cache"]).files_checked() as usize;
    for format in ["human", "json", "sarif", "junit", "github"] {
        let reference = check_in(&repo, format, &["--no-cache"]);
        let first = settled(&repo, &cache, format, &[]);
        assert_same(&first, &reference);
        let again = settled(&repo, &cache, format, &[]);
        assert!(
            replayed(&again),
            "{format}: not replayed:\n{}",
            again.stderr
        );
        assert_same(&again, &reference);
        assert!(notes(&again).is_empty(), "{}", again.stderr);
        assert_eq!(reused(&again), files, "{}", again.stderr);
    }
    // Report filters apply to a replay as to a fresh run: `--only` one file.
    let only = ["--only", "customers/tailspin.yaml"];
    let reference = check_in(&repo, "json", &[&["--no-cache"][..], &only].concat());
    let run = settled(&repo, &cache, "json", &only);
    assert!(replayed(&run), "{}", run.stderr);
    assert_same(&run, &reference);
    assert_eq!(reference.json()["findings"].as_array().unwrap().len(), 2);
}

#[test]
fn waivers_apply_to_a_replayed_result_as_they_stand_now() {
    let (_work, repo, cache) = recorded_example();
    // A waiver added after the result was recorded: the replay waives the finding.
    let config = repo.join("channelguard.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}waivers:\n  - rule: MC017\n    document: ResellerRelationship/northwind-margies-travel\n    reason: accepted for the test\n    approved_by: reviewer@example.com\n"),
    )
    .unwrap();
    let reference = check_in(&repo, "json", &["--no-cache"]);
    assert_eq!(
        reference.json()["summary"]["waived"],
        1,
        "{}",
        reference.stdout
    );
    let run = settled(&repo, &cache, "json", &[]);
    assert!(replayed(&run), "{}", run.stderr);
    assert_same(&run, &reference);
}

#[test]
fn an_edit_that_keeps_the_size_or_restores_the_time_is_never_replayed() {
    let (work, repo) = example_copy();
    let cache = work.path().join("cache");
    let first = settled(&repo, &cache, "json", &[]);
    assert!(replayed(&settled(&repo, &cache, "json", &[])));
    // Same size, new content (a finding goes away): not replayed, the new result.
    let file = repo.join("customers/margies-travel.yaml");
    let before = std::fs::read_to_string(&file).unwrap();
    let country = before
        .lines()
        .find(|l| l.contains("tenant_country:"))
        .unwrap();
    let edited = before.replacen(country, &country.replace("BR", "US"), 1);
    assert_ne!(edited, before, "the fixture has a Brazilian tenant");
    assert_eq!(edited.len(), before.len());
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::fs::write(&file, &edited).unwrap();
    let run = settled(&repo, &cache, "json", &[]);
    assert!(!replayed(&run), "{}", run.stderr);
    // A field edit: the last result is patched (and nothing recorded).
    assert!(patched(&run), "{}", run.stderr);
    let reference = check_in(&repo, "json", &["--no-cache"]);
    assert_same(&run, &reference);
    assert_ne!(
        reference.json(),
        first.json(),
        "the edit changes the result"
    );
    // Without the dependency record, a full run records the edited file.
    std::fs::remove_file(cache.join("dependencies.bin")).unwrap();
    let run = settled(&repo, &cache, "json", &[]);
    assert_not_patched(&run, "no dependency record of the last run");
    assert_same(&run, &reference);
    // Edited back, with its old modification time restored: the change time still differs.
    assert!(replayed(&settled(&repo, &cache, "json", &[])));
    std::fs::write(&file, &before).unwrap();
    set_modified(&file, modified);
    let run = settled(&repo, &cache, "json", &[]);
    assert!(!replayed(&run), "{}", run.stderr);
    assert_same(&run, &check_in(&repo, "json", &["--no-cache"]));
}

#[test]
fn a_file_without_a_trusted_stamp_is_compared_by_its_content() {
    let (_work, repo, cache) = recorded_example();
    // Dated an hour ahead, a file has no trusted stamp (it is always "just changed"): it is
    // read, and its bytes are the recorded ones, so the result is replayed.
    let file = repo.join("customers/contoso.yaml");
    let dated = |path: &Path| {
        set_modified(
            path,
            std::time::SystemTime::now() + Duration::from_secs(3600),
        )
    };
    dated(&file);
    let reference = check_in(&repo, "json", &["--no-cache"]);
    let run = settled(&repo, &cache, "json", &[]);
    assert!(replayed(&run), "{}", run.stderr);
    assert_same(&run, &reference);
    // Touched an hour back instead (a trusted stamp, not the recorded one): read, compared,
    // replayed, and its new stamp recorded, so the run after that trusts it unread.
    set_modified(
        &file,
        std::time::SystemTime::now() - Duration::from_secs(3600),
    );
    let run = settled(&repo, &cache, "json", &[]);
    assert!(replayed(&run), "{}", run.stderr);
    assert!(
        run.stderr.contains("record the new stamps"),
        "{}",
        run.stderr
    );
    assert_same(&run, &reference);
    let run = settled(&repo, &cache, "json", &[]);
    assert!(replayed(&run), "{}", run.stderr);
    assert!(
        !run.stderr.contains("record the new stamps"),
        "{}",
        run.stderr
    );
    dated(&file);
    // The same with other bytes of the same size: not replayed.
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text.replacen("name: ", "name:_", 1);
    assert_eq!(edited.len(), text.len());
    std::fs::write(&file, &edited).unwrap();
    dated(&file);
    let reference = check_in(&repo, "json", &["--no-cache"]);
    let run = settled(&repo, &cache, "json", &[]);
    assert!(!replayed(&run), "{}", run.stderr);
    assert_same(&run, &reference);
    // That run was recorded (the file without a stamp, by its content): the next replays.
    let run = settled(&repo, &cache, "json", &[]);
    assert!(replayed(&run), "{}", run.stderr);
    assert_same(&run, &reference);
}

#[cfg(unix)]
#[test]
fn a_repository_with_a_refused_link_and_broken_yaml_replays_and_notices_a_new_link_target() {
    let (work, repo) = example_copy();
    let cache = work.path().join("cache");
    let secret = work.path().join("secret.yaml");
    std::fs::write(&secret, "kind: Partner\nid: outside\n").unwrap();
    let link = repo.join("customers/evil.yaml");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    std::fs::write(
        repo.join("customers/bad ü.yaml"),
        "kind: Customer\nid: [broken\n",
    )
    .unwrap();
    let reference = check_in(&repo, "json", &["--no-cache"]);
    assert_eq!(reference.with_code("Y013").len(), 1, "{}", reference.stdout);
    assert_eq!(reference.with_code("Y001").len(), 1, "{}", reference.stdout);
    settled(&repo, &cache, "json", &[]);
    // The refused link and the broken file are read again by the replay and give the same.
    let run = settled(&repo, &cache, "json", &[]);
    assert!(replayed(&run), "{}", run.stderr);
    assert_same(&run, &reference);
    // The link now points at a document inside the repository: it is checked, not refused.
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(repo.join("customers/contoso.yaml"), &link).unwrap();
    let reference = check_in(&repo, "json", &["--no-cache"]);
    assert!(
        reference.with_code("Y013").is_empty(),
        "{}",
        reference.stdout
    );
    let run = settled(&repo, &cache, "json", &[]);
    assert!(!replayed(&run), "{}", run.stderr);
    assert_same(&run, &reference);
    assert!(!run.stdout.contains("Partner/outside") && !run.stdout.contains("id: outside"));
}

#[test]
fn changed_since_runs_never_replay_and_report_what_uncached_runs_report() {
    let (work, repo) = example_copy();
    let cache = work.path().join("cache");
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    // A finding appears in one customer file after the commit.
    let file = repo.join("customers/contoso.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replacen("tenant_country: ", "tenant_country: X", 1),
    )
    .unwrap();
    let since = ["--changed-since", "HEAD"];
    let reference = check_in(&repo, "json", &[&["--no-cache"][..], &since].concat());
    assert!(!reference.json()["findings"].as_array().unwrap().is_empty());
    for _ in 0..2 {
        let run = settled(&repo, &cache, "json", &since);
        assert!(!replayed(&run), "{}", run.stderr);
        assert_same(&run, &reference);
    }
    // Without the filter the same cache replays, and reports the whole repository.
    settled(&repo, &cache, "json", &[]);
    let run = settled(&repo, &cache, "json", &[]);
    assert!(replayed(&run), "{}", run.stderr);
    assert_same(&run, &check_in(&repo, "json", &["--no-cache"]));
}

/// A cached check whose debug-build hook rewrites `late` just before the run reads the texts
/// of files it did not read yet; asserts that the hook ran and that the run noticed the change
/// (and made itself again).
fn run_rewriting_on_late_read(repo: &Path, late: &Path, format: &str, args: &[&str]) -> Run {
    let hook = (
        "CHANNELGUARD_TEST_REWRITE_ON_LATE_READ",
        late.to_str().unwrap(),
    );
    let run = check_in_with(repo, format, args, &[SETTLE, hook]);
    assert!(
        std::fs::read_to_string(late)
            .unwrap()
            .ends_with("# changed during the check\n"),
        "the hook ran"
    );
    assert!(
        notes(&run)
            .iter()
            .any(|n| n.contains("a file changed while it was checked")),
        "{}",
        run.stderr
    );
    run
}

#[test]
fn a_file_that_changes_before_its_late_read_makes_the_run_read_everything_again() {
    // A finding on a partner that depends on a customer in another file.
    let (_work, repo, cache, policies) = example_with_test_policy(
        "X902",
        "Partner",
        "fn check(doc) {\n    if doc.id == \"trey-research\" {\n        let c = find(\"Customer\", \"contoso\");\n        if c != () && c.name == \"Renamed\" {\n            report(#{pointer: \"/id\", message: \"contoso was renamed\"});\n        }\n    }\n}\n",
    );
    let with_policy = ["--policies", policies.to_str().unwrap()];
    settled(&repo, &cache, "json", &with_policy);
    let customer = repo.join("customers/contoso.yaml");
    let text = std::fs::read_to_string(&customer).unwrap();
    std::fs::write(
        &customer,
        text.replacen("name: Contoso AS", "name: Renamed", 1),
    )
    .unwrap();
    // The partner file is unchanged and no finding pointed into it, so the run does not read it until the
    // new finding needs its snippet; the hook changes it just before that.
    let partner = repo.join("partners/trey-research.yaml");
    // Without a dependency record this is a full run (the patched replay reads the partner,
    // which looks the customer up; its own late read is tested below).
    std::fs::remove_file(cache.join("dependencies.bin")).unwrap();
    std::thread::sleep(Duration::from_millis(120));
    let args = [
        &with_policy[..],
        &["--timings", "--cache-dir", cache.to_str().unwrap()],
    ]
    .concat();
    let run = run_rewriting_on_late_read(&repo, &partner, "human", &args);
    let reference = check_in(
        &repo,
        "human",
        &[&with_policy[..], &["--no-cache"]].concat(),
    );
    assert!(
        reference.stdout.contains("contoso was renamed"),
        "{}",
        reference.stdout
    );
    assert_same(&run, &reference);
}

/// Replaces the first `from` in the file at `path` by `to` (which must be there); gives the
/// text before.
fn replace_in(path: &Path, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
    text
}

/// The example with the MC017 finding of `customers/margies-travel.yaml` edited away (same
/// size), the edit that the tests of the patched replay make.
fn edit_margies_country(repo: &Path) {
    let file = repo.join("customers/margies-travel.yaml");
    let before = std::fs::read_to_string(&file).unwrap();
    let edited = before.replacen("tenant_country: \"BR\"", "tenant_country: \"US\"", 1);
    assert_ne!(edited, before, "the fixture has a Brazilian tenant");
    std::fs::write(&file, edited).unwrap();
}

#[test]
fn a_field_edit_is_patched_in_every_format_and_reports_what_an_uncached_run_reports() {
    let (work, repo) = example_copy();
    let cache = work.path().join("cache");
    let first = settled(&repo, &cache, "json", &[]);
    edit_margies_country(&repo);
    for format in ["human", "json", "sarif", "junit", "github"] {
        let reference = check_in(&repo, format, &["--no-cache"]);
        let run = settled(&repo, &cache, format, &[]);
        assert!(patched(&run), "{format}: not patched:\n{}", run.stderr);
        assert!(
            run.stderr.contains(
                "patched from the cache: the last run's result, patched for 1 changed file"
            ),
            "{}",
            run.stderr
        );
        assert_same(&run, &reference);
        assert!(notes(&run).is_empty(), "{}", run.stderr);
    }
    let reference = check_in(&repo, "json", &["--no-cache"]);
    assert_ne!(
        reference.json(),
        first.json(),
        "the edit changes the result"
    );
    // A second field edit in another file: both changes are patched onto the recorded result.
    let file = repo.join("customers/contoso.yaml");
    replace_in(&file, "name: Contoso AS", "name: Contoso ASA");
    let run = settled(&repo, &cache, "json", &[]);
    assert!(
        run.stderr.contains("patched for 2 changed files"),
        "{}",
        run.stderr
    );
    assert_same(&run, &check_in(&repo, "json", &["--no-cache"]));
    // An id changes: not a patch, a full run that says why; the next run replays it.
    let file = repo.join("partners/trey-research.yaml");
    replace_in(&file, "id: trey-research", "id: trey-research-2");
    let run = settled(&repo, &cache, "json", &[]);
    assert_not_patched(&run, "a changed file's documents changed kinds or ids");
    let reference = check_in(&repo, "json", &["--no-cache"]);
    assert_same(&run, &reference);
    let run = settled(&repo, &cache, "json", &[]);
    assert!(replayed(&run), "{}", run.stderr);
    assert_same(&run, &reference);
}

#[test]
fn a_reference_that_stops_resolving_is_a_full_run_that_reports_it() {
    let (_work, repo, cache) = recorded_example();
    let file = repo.join("customers/contoso-federal.yaml");
    let text = replace_in(
        &file,
        "partner_of_record: litware-usgov",
        "partner_of_record: litware-usgo",
    );
    let reference = check_in(&repo, "json", &["--no-cache"]);
    assert!(reference.stdout.contains("R002"), "{}", reference.stdout);
    let run = settled(&repo, &cache, "json", &[]);
    assert_not_patched(
        &run,
        "a changed document has a reference that does not resolve",
    );
    assert_same(&run, &reference);
    // Fixed again: the recorded result (with R002) cannot be patched either way.
    std::fs::write(&file, &text).unwrap();
    let run = settled(&repo, &cache, "json", &[]);
    assert_not_patched(&run, "a changed document had a reference finding");
    assert_same(&run, &check_in(&repo, "json", &["--no-cache"]));
}

/// The patched replay evaluates the edited documents on the files they look up; a lookup that
/// no recorded evaluation made (a partner nobody else reads) is loaded in a second round.
#[test]
fn a_patched_replay_loads_what_the_edited_document_now_looks_up() {
    let (_work, repo, cache, policies) = example_with_test_policy(
        "X903",
        "Subscription",
        "fn check(doc) {\n    let p = find(\"Partner\", doc.partner_of_record);\n    if p != () {\n        report(#{pointer: \"/partner_of_record\", message: \"sold by \" + p.name});\n    }\n}\n",
    );
    let args = [
        "--no-builtin-policies",
        "--policies",
        policies.to_str().unwrap(),
    ];
    settled(&repo, &cache, "json", &args);
    let file = repo.join("customers/contoso-federal.yaml");
    replace_in(
        &file,
        "partner_of_record: litware-usgov",
        "partner_of_record: trey-research",
    );
    let reference = check_in(&repo, "json", &[&args[..], &["--no-cache"]].concat());
    assert!(
        reference.stdout.contains("sold by Trey Research"),
        "{}",
        reference.stdout
    );
    let run = settled(&repo, &cache, "json", &args);
    assert!(patched(&run), "{}", run.stderr);
    assert_same(&run, &reference);
}

/// A file the patched replay did not read, which a recorded finding points into, changes
/// before the replay reads it for its snippet: the run is made again, reading every file.
#[test]
fn a_file_that_changes_before_a_patched_replay_reads_it_makes_a_full_run() {
    let (_work, repo, cache) = recorded_example();
    let file = repo.join("customers/contoso.yaml");
    replace_in(&file, "name: Contoso AS", "name: Contoso ASA");
    // MC017 on margies-travel is recorded; nothing the edit reaches reads that file.
    let late = repo.join("customers/margies-travel.yaml");
    std::thread::sleep(Duration::from_millis(120));
    let args = ["--timings", "--cache-dir", cache.to_str().unwrap()];
    let run = run_rewriting_on_late_read(&repo, &late, "json", &args);
    assert_same(&run, &check_in(&repo, "json", &["--no-cache"]));
}

/// A finding about the repository as a whole (here a duplicate id, R001, whose related label
/// points at the first document) that points into an edited file cannot be patched: the edit
/// moves the span it points at.
#[test]
fn a_duplicate_id_in_an_edited_file_is_a_full_run() {
    let (work, repo) = example_copy();
    let cache = work.path().join("cache");
    let original = std::fs::read_to_string(repo.join("partners/trey-research.yaml")).unwrap();
    std::fs::write(repo.join("partners/trey-research-copy.yaml"), &original).unwrap();
    settled(&repo, &cache, "json", &[]);
    let file = repo.join("partners/trey-research.yaml");
    std::fs::write(&file, format!("# moved down a line\n{original}")).unwrap();
    let reference = check_in(&repo, "json", &["--no-cache"]);
    assert!(reference.stdout.contains("R001"), "{}", reference.stdout);
    let run = settled(&repo, &cache, "json", &[]);
    assert_not_patched(
        &run,
        "a finding about the whole repository points into a changed file",
    );
    assert_same(&run, &reference);
}

/// After a fresh checkout (every file with new times, as in CI with a restored cache folder)
/// with one file edited, every file is read and compared, and the one that differs is patched.
#[test]
fn after_a_fresh_checkout_a_field_edit_is_still_patched() {
    let (_work, repo, cache) = recorded_example();
    for entry in walkdir::WalkDir::new(&repo) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            set_modified(entry.path(), std::time::SystemTime::now());
        }
    }
    edit_margies_country(&repo);
    let run = settled(&repo, &cache, "json", &[]);
    assert!(patched(&run), "{}", run.stderr);
    let reference = check_in(&repo, "json", &["--no-cache"]);
    assert_same(&run, &reference);
    // The unchanged files' new stamps were recorded: the next run reads none of them.
    assert!(
        run.stderr.contains("cache: record the new stamps"),
        "{}",
        run.stderr
    );
    let again = settled(&repo, &cache, "json", &[]);
    assert!(patched(&again), "{}", again.stderr);
    assert!(
        !again.stderr.contains("cache: record the new stamps"),
        "{}",
        again.stderr
    );
    assert_same(&again, &reference);
}

/// More changed files than a patch takes (16): a full run, which records the new result.
#[test]
fn more_changed_files_than_a_patch_takes_make_a_full_run() {
    let (_work, repo, cache) = recorded_example();
    let files: Vec<PathBuf> = walkdir::WalkDir::new(&repo)
        .into_iter()
        .map(|entry| entry.unwrap().into_path())
        .filter(|path| {
            path.extension().is_some_and(|e| e == "yaml")
                && path.file_name().is_some_and(|n| n != "channelguard.yaml")
        })
        .collect();
    assert!(files.len() > 16, "{} data files", files.len());
    for file in &files[..17] {
        let text = std::fs::read_to_string(file).unwrap();
        std::fs::write(file, format!("# reviewed\n{text}")).unwrap();
    }
    let run = settled(&repo, &cache, "json", &[]);
    assert_not_patched(&run, "too many changed files");
    let reference = check_in(&repo, "json", &["--no-cache"]);
    assert_same(&run, &reference);
    assert!(replayed(&settled(&repo, &cache, "json", &[])));
}
