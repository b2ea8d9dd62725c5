//! What an installed binary offers besides `check`: shell completions and man pages generated
//! from the clap definitions (checked by the real `bash -n` and `groff`/`man`), and
//! `--exit-zero` for report-only CI jobs. The static binary, Containerfile, GitHub Action and
//! release workflow are exercised end to end by tests/e2e/static-binary.sh and
//! tests/e2e/release-files.sh.

mod hardening_support;

use std::process::{Command, Output};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use hardening_support::{check, Repo};

const BOUND: Duration = Duration::from_secs(60);

fn channelguard(args: &[&str]) -> Output {
    Command::cargo_bin("channelguard")
        .unwrap()
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(args: &[&str]) -> String {
    let output = channelguard(args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "channelguard {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn installed(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// Runs `tool args... FILE` on `text` written to a temporary file; returns (success, stderr).
fn run_on(tool: &str, args: &[&str], text: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input");
    std::fs::write(&file, text).unwrap();
    let output = Command::new(tool).args(args).arg(&file).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A repository with one F02 finding: `partner_id` is a YAML integer, not a string.
fn repo_with_a_finding() -> Repo {
    let repo = Repo::new();
    repo.write(
        "partners/litware.yaml",
        b"kind: Partner\nid: litware\nname: Litware, Inc.\n\
tenant_id: 25498161-9bfb-4075-826b-aca14433782f\npartner_id: 2957364\ncsp_role: advisor\n\
cloud: commercial\ncountry: \"US\"\n",
    );
    repo
}

// --- --exit-zero ---------------------------------------------------------------------------

#[test]
fn exit_zero_reports_the_findings_and_exits_0() {
    let repo = repo_with_a_finding();
    // Control: without the option the finding fails the run.
    assert_eq!(check(&repo, &[]).code, 1);
    let run = check(&repo, &["--exit-zero"]);
    run.within(BOUND);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    hardening_support::assert_at(
        &run.one("F02"),
        "partner_id",
        "partners/litware.yaml",
        5,
        13,
    );
}

#[test]
fn exit_zero_overrides_fail_on_warning_too() {
    let repo = repo_with_a_finding();
    let run = check(&repo, &["--fail-on", "info", "--exit-zero"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.with_code("F02").is_empty());
}

#[test]
fn exit_zero_still_exits_2_when_a_policy_could_not_run() {
    let repo = repo_with_a_finding();
    let dir = repo.policy("XR1.rhai", "fn check(doc) { loop {} }");
    let run = check(&repo, &["--exit-zero", "--policies", dir.to_str().unwrap()]);
    run.within(BOUND);
    assert_eq!(run.code, 2, "an incomplete check passed: {}", run.stdout);
}

#[test]
fn exit_zero_still_exits_2_when_the_configuration_is_missing() {
    let repo = repo_with_a_finding();
    let missing = repo.path("no-such-channelguard.yaml");
    let run = check(
        &repo,
        &["--exit-zero", "--config", missing.to_str().unwrap()],
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr.contains("no-such-channelguard.yaml"),
        "{}",
        run.stderr
    );
}

// --- completions -----------------------------------------------------------------------------

#[test]
fn completions_cover_every_shell_and_the_current_options() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = stdout(&["completions", shell]);
        for word in ["check", "exit-zero", "changed-since", "baseline", "manpage"] {
            assert!(script.contains(word), "{shell} completion lacks `{word}`");
        }
        // The hidden `docs` command is not offered.
        assert!(
            !script.contains("docs rules"),
            "{shell} completion offers `docs`"
        );
    }
}

#[test]
fn bash_completion_is_valid_bash_and_completes_check_options() {
    let script = stdout(&["completions", "bash"]);
    let (ok, _, stderr) = run_on("bash", &["-n"], &script);
    assert!(ok, "bash -n rejected the completion script: {stderr}");
    // Source it and ask for completions of `channelguard check --exit`, as bash would.
    let probe = format!(
        "{script}\nCOMP_WORDS=(channelguard check --exit)\nCOMP_CWORD=2\nCOMP_LINE='channelguard check --exit'\nCOMP_POINT=${{#COMP_LINE}}\n_channelguard channelguard --exit check\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
    );
    let (ok, out, stderr) = run_on("bash", &[], &probe);
    assert!(ok, "sourcing the completion failed: {stderr}");
    assert_eq!(out.trim(), "--exit-zero", "completions of `--exit`: {out}");
}

#[test]
fn zsh_and_fish_completions_parse_where_those_shells_are_installed() {
    if installed("zsh") {
        let (ok, _, stderr) = run_on("zsh", &["-n"], &stdout(&["completions", "zsh"]));
        assert!(ok, "zsh -n: {stderr}");
    }
    if installed("fish") {
        let (ok, _, stderr) = run_on("fish", &["--no-execute"], &stdout(&["completions", "fish"]));
        assert!(ok, "fish --no-execute: {stderr}");
    }
}

#[test]
fn unknown_shell_is_exit_2() {
    let output = channelguard(&["completions", "tcsh"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("tcsh"));
}

// --- man pages -----------------------------------------------------------------------------

/// The page renders without a groff warning (`-ww`), through `man -l` where man is installed.
fn assert_renders(page: &str, expected: &[&str]) {
    assert!(
        page.starts_with(".ie") || page.starts_with(".TH"),
        "not roff: {page:.80}"
    );
    assert!(
        page.contains("\n.TH ") && page.contains("\n.SH NAME\n"),
        "no title or NAME"
    );
    if !installed("groff") {
        return;
    }
    let (ok, _, warnings) = run_on("groff", &["-man", "-Tutf8", "-ww", "-z"], page);
    assert!(ok && warnings.is_empty(), "groff: {warnings}");
    let (ok, text, stderr) = if installed("man") {
        run_on("man", &["-l", "-Tutf8"], page)
    } else {
        run_on("groff", &["-man", "-Tutf8"], page)
    };
    assert!(ok, "rendering failed: {stderr}");
    // Backspace overstriking (bold) and hyphen forms aside, the text is there.
    let plain: String = strip_overstrike(&text).replace(['‐', '−'], "-");
    for word in expected {
        assert!(
            plain.contains(word),
            "the rendered page lacks `{word}`:\n{plain}"
        );
    }
}

fn strip_overstrike(text: &str) -> String {
    let mut out: Vec<char> = Vec::new();
    for c in text.chars() {
        if c == '\u{8}' {
            out.pop();
            continue;
        }
        out.push(c);
    }
    out.into_iter().collect()
}

#[test]
fn man_page_renders_and_lists_the_commands_and_exit_codes() {
    let page = stdout(&["manpage"]);
    assert_renders(
        &page,
        &[
            "channelguard",
            "SUBCOMMANDS",
            "channelguard-check(1)",
            "Exit codes",
            "0.1.0",
        ],
    );
    assert!(
        !page.contains("channelguard-docs"),
        "the hidden docs command has a page"
    );
}

#[test]
fn man_page_of_check_documents_its_options() {
    let page = stdout(&["manpage", "check"]);
    assert_renders(
        &page,
        &[
            "channelguard-check",
            "--exit-zero",
            "--changed-since",
            "--fail-on",
            "channelguard 0.1.0",
        ],
    );
}

#[test]
fn man_page_of_an_unknown_command_is_exit_2_naming_the_commands() {
    for name in ["nope", "docs"] {
        let output = channelguard(&["manpage", name]);
        assert_eq!(output.status.code(), Some(2));
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(&format!("`{name}`")) && stderr.contains("check, init"),
            "{stderr}"
        );
    }
}
