//! `channelguard explain <ID>`: what a policy or built-in check is for, what it reads, how to
//! fix a violation, and what its example violation looks like when channelguard reports it.

use crate::args::{EngineArgs, ExplainArgs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::parse_as_of;
use channelguard::check::{self, CheckOptions, MemoryInput};
use channelguard::codes;
use channelguard::policy::{PolicyMeta, PolicyOrigin};
use channelguard::report::human::HumanReporter;
use channelguard::rules_doc;

/// The policies `explain` and `list` know: the built-in pack and `--policies` directories.
/// Policies that fail to load are left out (`channelguard check` reports them).
pub fn load_policies(engine: &EngineArgs) -> Result<NamedPolicies, String> {
    load_policies_and_problems(engine).map(|(policies, _)| policies)
}

/// Loaded policies with the name of their file and whether they are built in.
type NamedPolicies = Vec<(PolicyMeta, String, bool)>;
/// `(file text, message)` of each policy that did not load.
type LoadProblems = Vec<(String, String)>;

/// As [`load_policies`], plus the problems of the policies that did not load.
fn load_policies_and_problems(
    engine: &EngineArgs,
) -> Result<(NamedPolicies, LoadProblems), String> {
    let options = engine_options(engine, jiff::civil::date(2000, 1, 1))?;
    let check::LoadedPolicies {
        set,
        sources,
        findings,
    } = check::load_policies(&options).map_err(|e| e.to_string())?;
    let policies = set
        .policies
        .iter()
        .map(|p| {
            (
                p.meta.clone(),
                sources.get(p.file).name.clone(),
                p.origin == PolicyOrigin::Builtin,
            )
        })
        .collect();
    let problems = findings
        .iter()
        .filter_map(|f| {
            let file = sources.get(f.location?.file);
            Some((
                file.text.to_string(),
                format!("{}: {}", file.name, f.message),
            ))
        })
        .collect();
    Ok((policies, problems))
}

/// Whether a script's header declares `id` (read textually: the header may be what is broken).
fn declares_id(script: &str, id: &str) -> bool {
    script
        .lines()
        .take_while(|l| l.trim_start().starts_with("//") || l.trim().is_empty())
        .filter_map(|l| l.trim_start().strip_prefix("//!"))
        .filter_map(|l| l.trim().strip_prefix("id:"))
        .any(|value| value.trim().eq_ignore_ascii_case(id))
}

/// Options from the engine flags plus the directories of `channelguard.yaml`
/// ([`channelguard::check::prepare_for_policies`]).
pub fn engine_options(
    engine: &EngineArgs,
    as_of: jiff::civil::Date,
) -> Result<CheckOptions, String> {
    check::prepare_for_policies(&crate::command_line(engine, &[], None, None)?, as_of)
}

/// Runs the policy's example through the whole pipeline and renders what the policy reports on
/// it; `None` when the example does not make the policy fire on its own.
fn example_diagnostics(
    meta: &PolicyMeta,
    options: &CheckOptions,
) -> Result<Option<String>, String> {
    let example = MemoryInput {
        name: format!("{}-example.yaml", meta.id),
        path: PathBuf::from(format!("{}-example.yaml", meta.id)),
        text: Arc::from(rules_doc::example_yaml(meta)),
        regions: None,
    };
    // An example names only the documents that matter to the rule; the others it references
    // are assumed to exist.
    let mut options = options.clone();
    options.skip_dangling = false;
    let outcome = check::run_with_inputs(&options, &[example]).map_err(|e| e.to_string())?;
    let reporter = HumanReporter {
        timing: false,
        ..HumanReporter::default()
    };
    let rendered: String = outcome
        .findings
        .iter()
        // The example may show the policy's own violation or one of a sub-rule.
        .filter(|f| channelguard::rule_id::covers(&meta.id, &f.code))
        .map(|f| reporter.render_finding(f, &outcome.sources))
        .collect::<Vec<_>>()
        .join("\n");
    Ok((!rendered.is_empty()).then_some(rendered))
}

pub fn run(args: ExplainArgs) -> Result<ExitCode, String> {
    let (policies, problems) = load_policies_and_problems(&args.engine)?;
    let wanted = args.id.trim();
    // A sub-id (`MC002.admin`) explains that sub-rule: its title and severity, the rest of
    // its policy.
    let sub = policies.iter().find_map(|(meta, file, builtin)| {
        meta.family()
            .into_iter()
            .skip(1)
            .find(|sub| sub.id.eq_ignore_ascii_case(wanted))
            .map(|sub| (sub, file.clone(), *builtin))
    });
    if let Some((meta, file, builtin)) = &sub {
        print!("{}", rules_doc::explain_policy(meta, file, *builtin));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some((meta, file, builtin)) = policies
        .iter()
        .find(|(meta, ..)| meta.id.eq_ignore_ascii_case(wanted))
    {
        let as_of = parse_as_of(args.as_of.as_deref())?;
        let mut text = rules_doc::explain_policy(meta, file, *builtin);
        if !meta.example.is_empty() {
            text.push_str(&format!(
                "\nwhat channelguard reports for the example (as of {as_of})\n"
            ));
            match example_diagnostics(meta, &engine_options(&args.engine, as_of)?)? {
                Some(rendered) => text.push_str(&rendered),
                None => text.push_str(&format!(
                    "  {} does not fire on the example alone: it needs the other documents the example describes\n",
                    meta.id
                )),
            }
            text.push_str(&rules_doc::explain_compliant(meta));
        }
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let check = codes::ALL
        .iter()
        .find(|c| c.id.eq_ignore_ascii_case(wanted) || c.name.eq_ignore_ascii_case(wanted));
    if let Some(check) = check {
        print!("{}", rules_doc::explain_check(check));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some((_, problem)) = problems.iter().find(|(text, _)| declares_id(text, wanted)) {
        return Err(format!(
            "policy `{wanted}` could not be loaded ({problem}); `channelguard check` shows where"
        ));
    }
    let known: Vec<String> = policies
        .iter()
        .flat_map(|(meta, ..)| meta.rule_ids().map(str::to_string).collect::<Vec<_>>())
        .chain(codes::ALL.iter().map(|c| c.id.to_string()))
        .collect();
    let upper = wanted.to_ascii_uppercase();
    let mut message = format!("unknown rule `{wanted}`");
    if let Some(best) = channelguard::suggest::closest(&upper, known.iter().map(String::as_str)) {
        message.push_str(&format!("; did you mean `{best}`?"));
    }
    message.push_str(" (`channelguard list` shows every rule)");
    Err(message)
}
