//! Phase 2: rule ids, waiver rules and settings of the configuration against the built-in
//! checks and the loaded policies ([`RuleCatalog`]).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{config_error, shape::did_you_mean, Config};
use crate::codes;
use crate::finding::{describe_value, quoted, Finding};
use crate::policy::{PolicyMeta, PolicySet, SettingDecl};
use crate::source::ByteSpan;

/// What phase 2 checks rule ids and settings against: built-in checks and the loaded policies.
#[derive(Clone, Debug, Default)]
pub struct RuleCatalog {
    pub rule_ids: Vec<String>,
    /// Setting name → (declaration with its default, id of the declaring policy).
    pub settings: BTreeMap<String, (SettingDecl, String)>,
}

impl RuleCatalog {
    pub fn new(policies: &PolicySet) -> RuleCatalog {
        RuleCatalog::from_metas(policies.policies.iter().map(|p| &p.meta))
    }

    /// The built-in checks and the policies described by `metas`, in id order (the first
    /// declaration of a setting names it).
    pub fn from_metas<'a>(metas: impl Iterator<Item = &'a PolicyMeta>) -> RuleCatalog {
        let mut rule_ids: Vec<String> = codes::ALL.iter().map(|c| c.id.to_string()).collect();
        let mut settings = BTreeMap::new();
        for meta in metas {
            rule_ids.extend(meta.rule_ids().map(str::to_string));
            for setting in &meta.settings {
                settings
                    .entry(setting.name.clone())
                    .or_insert_with(|| (setting.clone(), meta.id.clone()));
            }
        }
        RuleCatalog { rule_ids, settings }
    }
}
/// The JSON type name of a setting's default, for messages.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
        Value::Null => "null",
    }
}

fn same_type(default: &Value, value: &Value) -> bool {
    match (default, value) {
        (Value::Number(d), Value::Number(v)) => {
            !(d.is_i64() || d.is_u64()) || v.is_i64() || v.is_u64()
        }
        _ => std::mem::discriminant(default) == std::mem::discriminant(value),
    }
}

impl Config {
    /// Whether anything needs the policy catalog for phase 2.
    pub fn needs_catalog(&self) -> bool {
        !self.rules.is_empty() || !self.settings.is_empty() || !self.waivers.is_empty()
    }

    /// Phase 2: rule ids and settings against the built-in checks and the loaded policies.
    pub fn validate(&self, catalog: &RuleCatalog) -> Vec<Finding> {
        let mut findings = Vec::new();
        let ids = || catalog.rule_ids.iter().map(String::as_str);
        let unknown_rule = |id: &str, span: ByteSpan, pointer: &str| {
            config_error(span, pointer, format!("unknown rule {}", quoted(id)))
                .with_label("no built-in check or loaded policy has this id")
                .with_help(did_you_mean(id, ids(), &[]))
        };
        for rule in &self.rules {
            if !catalog.rule_ids.contains(&rule.value.0) {
                findings.push(unknown_rule(&rule.value.0, rule.span, &rule.pointer));
            }
        }
        for waiver in &self.waivers {
            if !catalog.rule_ids.contains(&waiver.rule) {
                let pointer = format!("{}/rule", waiver.entry);
                findings.push(unknown_rule(&waiver.rule, waiver.span, &pointer));
            }
        }
        for setting in &self.settings {
            let (name, value) = &setting.value;
            match catalog.settings.get(name) {
                None => {
                    let names = catalog.settings.keys().map(String::as_str);
                    findings.push(
                        config_error(
                            setting.span,
                            &setting.pointer,
                            format!("unknown setting {}", quoted(name)),
                        )
                        .with_label("no loaded policy declares this setting")
                        .with_help(did_you_mean(name, names, &[])),
                    );
                }
                Some((decl, policy)) if !same_type(&decl.default, value) => {
                    findings.push(
                        config_error(
                            setting.span,
                            &setting.pointer,
                            format!(
                                "setting {} must be {}; found {}",
                                quoted(name),
                                type_name(&decl.default),
                                describe_value(value)
                            ),
                        )
                        .with_label(format!("expected {}", type_name(&decl.default)))
                        .with_help(format!(
                            "{policy} declares it with default `{}`",
                            decl.default
                        )),
                    );
                }
                Some(_) => {}
            }
        }
        findings
    }
}
