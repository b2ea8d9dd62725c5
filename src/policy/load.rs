//! Loading policies: the embedded built-in pack and user directories read through the one
//! bounded reader, each script's header parsed and its code compiled once. A script that cannot
//! be used is a located finding (the others still load); only a policy directory that cannot be
//! listed stops the run ([`LoadError`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rhai::Engine;

use crate::codes;
use crate::finding::{quoted, Finding, RelatedLabel};
use crate::input::{read_text, Origin as ReadOrigin, ReadScope, Refused};
use crate::limits::Limits;
use crate::source::{ByteSpan, Location};
use crate::source::{FileId, FileRole, SourceFile, SourceMap};

use super::errors::{lowercase_first, span_at, tool_finding};
use super::{
    api, engine, meta, policy_name, Policy, PolicyOrigin, PolicySet, PolicySources,
    BUILTIN_POLICIES,
};

/// Why the policies could not be loaded at all (the run cannot go on).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read policy directory `{}`: {source}", path.display())]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<LoadError> for String {
    fn from(error: LoadError) -> String {
        error.to_string()
    }
}

/// Why one policy file cannot be used (a finding on the file; the others still load).
#[derive(Debug)]
enum Unreadable {
    /// Not UTF-8: the bytes before `valid` are.
    NotUtf8 { valid: usize },
    /// The safe reader refused it (too large, a link out of scope, an I/O error).
    Refused(Refused),
}

impl Unreadable {
    fn finding(self, limits: &Limits) -> Finding {
        match self {
            Unreadable::NotUtf8 { valid } => tool_finding(
                codes::INVALID_ENCODING,
                format!("policy file is not valid UTF-8 (byte {valid}); not loaded"),
            ),
            Unreadable::Refused(Refused::TooLarge { .. }) => tool_finding(
                codes::POLICY_LIMIT,
                format!(
                    "policy file is larger than {} bytes; not loaded",
                    limits.max_policy_bytes
                ),
            ),
            Unreadable::Refused(refused) => {
                tool_finding(codes::UNREADABLE_FILE, format!("policy file: {refused}"))
            }
        }
    }
}

/// One script to load: how it is named in reports, where it is, its text and origin.
struct Script {
    name: String,
    path: PathBuf,
    text: Result<Arc<str>, Unreadable>,
    origin: PolicyOrigin,
}

/// P004 on the second of two policy files that declare the same id.
fn duplicate_policy(second: &Policy, first: &Policy, text: &str) -> Finding {
    let header = id_line(text);
    tool_finding(
        codes::POLICY_METADATA,
        format!(
            "policy id {} is declared again; this file is not loaded",
            quoted(&second.meta.id)
        ),
    )
    .at_span(second.file, header)
    .with_label("second declaration")
    .with_related(RelatedLabel {
        location: Location {
            file: first.file,
            span: ByteSpan::default(),
        },
        message: "the policy with this id that is loaded".to_string(),
        pointer: None,
        document: None,
    })
    .with_help("give one of the two policies another id, or delete one of the files")
}

/// The span of the header's `//! id:` line (the start of the file if there is none).
fn id_line(text: &str) -> ByteSpan {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        if body
            .trim_start()
            .strip_prefix("//!")
            .is_some_and(|rest| rest.trim_start().starts_with("id:"))
        {
            return ByteSpan::new(offset, offset + body.len());
        }
        offset += line.len();
    }
    ByteSpan::default()
}

/// Lines that call a `report*` function, found textually (comments excluded).
fn report_lines(script: &str) -> Vec<u16> {
    script
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = line.split("//").next().unwrap_or("");
            [
                "report(",
                "report_error(",
                "report_warning(",
                "report_info(",
            ]
            .iter()
            .any(|f| code.contains(f))
        })
        .map(|(i, _)| i as u16 + 1)
        .collect()
}

impl PolicySet {
    /// Loads the built-in pack and/or user directories. A user policy with the id of a built-in
    /// one replaces it. Problems are returned as findings (origin `Tool`) pointing into the
    /// scripts; a directory that cannot be read is an error.
    pub fn load(
        sources_spec: &PolicySources,
        sources: &mut SourceMap,
        limits: &Limits,
        scope: &ReadScope,
    ) -> Result<(PolicySet, Vec<Finding>), LoadError> {
        let mut engine = engine::build(limits);
        api::register(&mut engine);
        let mut scripts: Vec<Script> = Vec::new();
        if sources_spec.builtin {
            for (name, text) in BUILTIN_POLICIES {
                scripts.push(Script {
                    name: format!("<builtin>/{name}"),
                    path: PathBuf::from(name),
                    text: Ok(Arc::from(*text)),
                    origin: PolicyOrigin::Builtin,
                });
            }
        }
        for dir in &sources_spec.directories {
            let entries = std::fs::read_dir(dir).map_err(|source| LoadError::Directory {
                path: dir.clone(),
                source,
            })?;
            let mut paths: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "rhai") && !p.is_dir())
                .collect();
            paths.sort();
            for path in paths {
                // Through the one safe reader; a file that cannot be used is a located finding
                // and the other policies still load.
                let text = read_text(&path, scope, ReadOrigin::Named, limits.max_policy_bytes)
                    .map(Arc::from)
                    .map_err(|problem| match problem {
                        Ok(valid) => Unreadable::NotUtf8 { valid },
                        Err(refused) => Unreadable::Refused(refused),
                    });
                scripts.push(Script {
                    name: policy_name(&path),
                    path,
                    text,
                    origin: PolicyOrigin::Directory(dir.clone()),
                });
            }
        }

        let mut findings = Vec::new();
        let mut by_id: BTreeMap<String, Policy> = BTreeMap::new();
        for Script {
            name,
            path,
            text,
            origin,
        } in scripts
        {
            let text = match text {
                Ok(text) => text,
                Err(problem) => {
                    // No text to show: the file is registered empty so that the finding can
                    // name it, and the other policies still load.
                    let file =
                        sources.add(SourceFile::new(name, path, Arc::from(""), FileRole::Policy));
                    findings.push(problem.finding(limits).at_span(file, ByteSpan::default()));
                    continue;
                }
            };
            let file = sources.add(SourceFile::new(
                name,
                path,
                Arc::clone(&text),
                FileRole::Policy,
            ));
            let Some(policy) = Self::load_one(&engine, file, &text, origin, &mut findings) else {
                continue;
            };
            match by_id.get(&policy.meta.id) {
                // Two files on disk with one id: the first (in path order) stays, the second is
                // reported instead of silently replacing it. A user policy replacing a built-in
                // one is the documented way to change a built-in rule.
                Some(first) if matches!(first.origin, PolicyOrigin::Directory(_)) => {
                    findings.push(duplicate_policy(&policy, first, &text));
                }
                _ => {
                    by_id.insert(policy.meta.id.clone(), policy);
                }
            }
        }
        // Fast field reads for the names the loaded scripts use (see `register_field_getters`).
        let names: std::collections::BTreeSet<String> = by_id
            .values()
            .flat_map(|p| api::property_names(&sources.get(p.file).text))
            .collect();
        api::register_field_getters(&mut engine, names.iter().map(String::as_str));
        Ok((
            PolicySet {
                policies: by_id.into_values().collect(),
                engine,
                limits: limits.clone(),
                preconditions: true,
                measure: false,
            },
            findings,
        ))
    }

    fn load_one(
        engine: &Engine,
        file: FileId,
        text: &str,
        origin: PolicyOrigin,
        findings: &mut Vec<Finding>,
    ) -> Option<Policy> {
        if text.lines().count() > 20_000 {
            findings.push(
                tool_finding(
                    codes::POLICY_LIMIT,
                    "policy file has more than 20,000 lines; not loaded".to_string(),
                )
                .at_span(file, ByteSpan::default()),
            );
            return None;
        }
        let meta = match meta::parse(text) {
            Ok(meta) => meta,
            Err(error) => {
                let at =
                    crate::source::offset_of(text, error.line, 1, str::len).unwrap_or(text.len());
                let end = text[at..].find('\n').map_or(text.len(), |e| at + e);
                findings.push(
                    tool_finding(codes::POLICY_METADATA, error.message)
                        .at_span(file, ByteSpan::new(at, end))
                        .with_label("header"),
                );
                return None;
            }
        };
        super::COMPILED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ast = match engine.compile(text) {
            Ok(ast) => ast,
            Err(error) => {
                let position = error.position();
                findings.push(
                    tool_finding(
                        codes::POLICY_SYNTAX,
                        format!(
                            "policy {} does not compile: {}",
                            quoted(&meta.id),
                            lowercase_first(&error.err_type().to_string())
                        ),
                    )
                    .at_span(file, span_at(text, position))
                    .with_label("syntax error here"),
                );
                return None;
            }
        };
        let has_entry = ast
            .iter_functions()
            .any(|f| f.name == "check" && f.params.len() == 1);
        if !has_entry {
            findings.push(
                tool_finding(
                    codes::POLICY_METADATA,
                    format!(
                        "policy {} has no entry point `fn check(doc)`; it could never fire",
                        quoted(&meta.id)
                    ),
                )
                .at_span(
                    file,
                    ByteSpan::new(0, text.find('\n').unwrap_or(text.len())),
                )
                .with_label("policy defined here")
                .with_help(
                    "add `fn check(doc) { ... }`, called once per document of the policy's kinds",
                ),
            );
            return None;
        }
        Some(Policy {
            meta,
            file,
            origin,
            ast,
            report_lines: report_lines(text),
        })
    }
}
