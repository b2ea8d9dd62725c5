//! `channelguard list`: every policy and built-in check as a table (id, severity, kinds, title)
//! or as JSON.

use crate::args::{ListArgs, ListFormat};
use std::process::ExitCode;

use crate::cmd_explain::load_policies;
use channelguard::rules_doc::{self, RuleSummary};

fn table(rules: &[RuleSummary]) -> String {
    let kinds: Vec<String> = rules
        .iter()
        .map(|r| {
            if r.kinds.is_empty() {
                "-".to_string()
            } else {
                r.kinds.join(",")
            }
        })
        .collect();
    let id_width = rules
        .iter()
        .map(|r| r.id.len())
        .chain([2])
        .max()
        .unwrap_or(2);
    let kinds_width = kinds.iter().map(String::len).chain([5]).max().unwrap_or(5);
    let severity_width = rules
        .iter()
        .map(|r| r.severity_text().len())
        .chain([8])
        .max()
        .unwrap_or(8);
    let mut out = format!(
        "{:id_width$}  {:severity_width$}  {:kinds_width$}  TITLE\n",
        "ID", "SEVERITY", "KINDS"
    );
    for (rule, kinds) in rules.iter().zip(&kinds) {
        out.push_str(&format!(
            "{:id_width$}  {:severity_width$}  {:kinds_width$}  {}\n",
            rule.id,
            rule.severity_text(),
            kinds,
            rule.title
        ));
    }
    out
}

pub fn run(args: ListArgs) -> Result<ExitCode, String> {
    let policies: Vec<_> = load_policies(&args.engine)?
        .into_iter()
        .map(|(meta, ..)| meta)
        .collect();
    let rules = rules_doc::catalog(&policies);
    match args.format {
        // Titles come from policy files: escaped (table) or JSON-escaped (exact values).
        ListFormat::Table => print!("{}", rules_doc::escape_lines(&table(&rules))),
        ListFormat::Json => {
            let json = serde_json::json!({ "rules": rules });
            let text = channelguard::escape::to_string_safe(&json)
                .map_err(|e| format!("cannot write JSON: {e}"))?;
            println!("{text}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
