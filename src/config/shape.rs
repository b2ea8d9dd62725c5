//! Phase 1: the shape of `channelguard.yaml` (keys, types, limits, waivers, globs), read from
//! the loaded YAML with every problem located at its node.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{config_error, Config, Located, RuleConfig, CONFIG_FILE};
use crate::codes;
use crate::finding::{describe_value, quoted, DocumentRef, Finding, Severity};
use crate::limits::Limits;
use crate::model::Kind;
use crate::source::ByteSpan;
use crate::suggest;
use crate::suppress::waivers::Waiver;
use crate::yaml::{self, escape_pointer_segment, SpanTable};
use std::time::Duration;

/// Keys of the top-level mapping.
pub(super) const TOP_LEVEL_KEYS: &[&str] = &[
    "as_of",
    "policies",
    "schemas",
    "rules",
    "settings",
    "limits",
    "waivers",
    "include",
    "exclude",
    "default_exclude",
];
pub(super) const RULE_KEYS: &[&str] = &["enabled", "severity"];
pub(super) const WAIVER_KEYS: &[&str] = &[
    "rule",
    "document",
    "pointer",
    "reason",
    "approved_by",
    "expires",
];

/// The `limits:` keys, each with how it is read from (defaults, hard maxima) and set on [`Limits`].
pub(super) struct LimitKey {
    pub(super) name: &'static str,
    pub(super) get: fn(&Limits) -> u64,
    pub(super) set: fn(&mut Limits, u64),
}

pub(super) const LIMIT_KEYS: &[LimitKey] = &[
    LimitKey {
        name: "max_file_bytes",
        get: |l| l.max_file_bytes,
        set: |l, v| l.max_file_bytes = v,
    },
    LimitKey {
        name: "max_depth",
        get: |l| l.max_depth as u64,
        set: |l, v| l.max_depth = v as usize,
    },
    LimitKey {
        name: "max_nodes",
        get: |l| l.max_nodes as u64,
        set: |l, v| l.max_nodes = v as usize,
    },
    LimitKey {
        name: "max_scalar_bytes",
        get: |l| l.max_scalar_bytes as u64,
        set: |l, v| l.max_scalar_bytes = v as usize,
    },
    LimitKey {
        name: "max_alias_nodes",
        get: |l| l.max_alias_nodes as u64,
        set: |l, v| l.max_alias_nodes = v as usize,
    },
    LimitKey {
        name: "max_policy_bytes",
        get: |l| l.max_policy_bytes,
        set: |l, v| l.max_policy_bytes = v,
    },
    LimitKey {
        name: "max_schema_bytes",
        get: |l| l.max_schema_bytes,
        set: |l, v| l.max_schema_bytes = v,
    },
    LimitKey {
        name: "policy_operations",
        get: |l| l.policy_operations,
        set: |l, v| l.policy_operations = v,
    },
    LimitKey {
        name: "policy_deadline_ms",
        get: |l| l.policy_deadline.as_millis() as u64,
        set: |l, v| l.policy_deadline = Duration::from_millis(v),
    },
    LimitKey {
        name: "max_findings_per_policy_file",
        get: |l| l.max_findings_per_policy_file as u64,
        set: |l, v| l.max_findings_per_policy_file = v as usize,
    },
];
/// Phase 1: the file's shape. Pure: paths are joined to `base_dir`, never read.
pub fn parse(text: &str, base_dir: &Path) -> (Config, Vec<Finding>) {
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let mut loaded = yaml::load(text, bom, CONFIG_FILE, &Limits::default());
    let mut findings: Vec<Finding> = loaded
        .findings
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|mut f| {
            // A YAML problem in the configuration is a configuration error.
            f.code = Arc::from(codes::CONFIG_ERROR.id);
            f.tool()
        })
        .collect();
    let mut config = Config::default();
    if loaded.documents.len() > 1 {
        let doc = &loaded.documents[1];
        findings.push(config_error(
            doc.head,
            "",
            "the configuration must be a single YAML document".to_string(),
        ));
    }
    if !findings.is_empty() || loaded.documents.is_empty() {
        return (config, findings);
    }
    let doc = loaded.documents.remove(0);
    let mut reader = Reader {
        spans: &doc.spans,
        root: &doc.value,
        findings: Vec::new(),
    };
    let Some(top) = reader.mapping("", "the configuration") else {
        return (config, reader.findings);
    };
    reader.unknown_keys("", top, TOP_LEVEL_KEYS, "configuration key");
    for (key, value) in top {
        let pointer = format!("/{}", escape_pointer_segment(key));
        match key.as_str() {
            "as_of" => config.as_of = reader.date(&pointer, value),
            "policies" => {
                let Some(items) = reader.sequence(&pointer, value, "`policies`") else {
                    continue;
                };
                for (index, item) in items.iter().enumerate() {
                    let item_pointer = format!("{pointer}/{index}");
                    if let Some(dir) = reader.string(&item_pointer, item, "a policy directory") {
                        config.policies.push(Located {
                            value: base_dir.join(dir),
                            span: reader.entry_span(&item_pointer),
                            pointer: item_pointer,
                        });
                    }
                }
            }
            "schemas" => {
                if let Some(dir) = reader.string(&pointer, value, "`schemas`") {
                    config.schemas = Some(Located {
                        value: base_dir.join(dir),
                        span: reader.entry_span(&pointer),
                        pointer: pointer.clone(),
                    });
                }
            }
            "rules" => config.rules = reader.rules(&pointer, value),
            "settings" => {
                let Some(map) = reader.mapping_value(&pointer, value, "`settings`") else {
                    continue;
                };
                for (name, setting) in map {
                    let setting_pointer = format!("{pointer}/{}", escape_pointer_segment(name));
                    config.settings.push(Located {
                        value: (name.clone(), setting.clone()),
                        span: reader.entry_span(&setting_pointer),
                        pointer: setting_pointer,
                    });
                }
            }
            "limits" => config.limits = reader.limits(&pointer, value),
            "waivers" => config.waivers = reader.waivers(&pointer, value),
            "include" => config.include = reader.globs(&pointer, value, "`include`"),
            "exclude" => config.exclude = reader.globs(&pointer, value, "`exclude`"),
            "default_exclude" => match value {
                Value::Bool(on) => config.default_exclude = Some(*on),
                other => reader.wrong_type(&pointer, other, "`default_exclude`", "true or false"),
            },
            _ => {}
        }
    }
    findings.extend(reader.findings);
    (config, findings)
}
/// Walks the loaded document and reports shape problems at their nodes.
struct Reader<'a> {
    spans: &'a SpanTable,
    root: &'a Value,
    findings: Vec<Finding>,
}

impl<'a> Reader<'a> {
    fn node_span(&self, pointer: &str) -> ByteSpan {
        self.spans
            .closest_node(self.root, pointer)
            .map_or_else(ByteSpan::default, |n| n.span)
    }

    fn key_span(&self, pointer: &str) -> ByteSpan {
        self.spans
            .node_at(self.root, pointer)
            .and_then(|n| n.key_span)
            .unwrap_or_else(|| self.node_span(pointer))
    }

    /// `key: value` for a mapping entry with a scalar value, else the node itself.
    fn entry_span(&self, pointer: &str) -> ByteSpan {
        match self.spans.node_at(self.root, pointer) {
            Some(node) => match (node.key_span, self.root.pointer(pointer)) {
                (Some(key), Some(v)) if !v.is_object() && !v.is_array() => {
                    ByteSpan::new(key.start as usize, node.span.end as usize)
                }
                (Some(key), _) => key,
                _ => node.span,
            },
            None => self.node_span(pointer),
        }
    }

    fn error(&mut self, span: ByteSpan, pointer: &str, message: String) -> &mut Finding {
        self.findings.push(config_error(span, pointer, message));
        self.findings.last_mut().expect("just pushed")
    }

    fn wrong_type(&mut self, pointer: &str, value: &Value, what: &str, expected: &str) {
        let span = self.node_span(pointer);
        self.error(
            span,
            pointer,
            format!("{what} must be {expected}; found {}", describe_value(value)),
        )
        .label = Some(format!("expected {expected}"));
    }

    fn mapping(&mut self, pointer: &str, what: &str) -> Option<&'a Map<String, Value>> {
        let value = self.root.pointer(pointer)?;
        self.mapping_value(pointer, value, what)
    }

    fn mapping_value(
        &mut self,
        pointer: &str,
        value: &'a Value,
        what: &str,
    ) -> Option<&'a Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                self.wrong_type(pointer, other, what, "a mapping");
                None
            }
        }
    }

    fn sequence(&mut self, pointer: &str, value: &'a Value, what: &str) -> Option<&'a [Value]> {
        match value {
            Value::Array(items) => Some(items),
            other => {
                self.wrong_type(pointer, other, what, "a list");
                None
            }
        }
    }

    fn string(&mut self, pointer: &str, value: &'a Value, what: &str) -> Option<&'a str> {
        match value {
            Value::String(text) if !text.trim().is_empty() => Some(text),
            other => {
                self.wrong_type(pointer, other, what, "a non-empty string");
                None
            }
        }
    }

    /// A list of globs (`include`, `exclude`): each must compile ([`crate::scope::compile`]).
    fn globs(&mut self, pointer: &str, value: &'a Value, what: &str) -> Vec<String> {
        let Some(items) = self.sequence(pointer, value, what) else {
            return Vec::new();
        };
        let mut globs = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let item_pointer = format!("{pointer}/{index}");
            let Some(glob) = self.string(&item_pointer, item, "a glob") else {
                continue;
            };
            match crate::scope::compile(glob) {
                Ok(_) => globs.push(glob.to_string()),
                Err(problem) => {
                    let span = self.node_span(&item_pointer);
                    let finding = self.error(
                        span,
                        &item_pointer,
                        format!("invalid glob `{glob}`: {problem}"),
                    );
                    finding.label = Some("not a valid glob".to_string());
                    finding.help = Some(
                        "`*` and `?` match within a path segment, `**` across directories, \
                         `[...]` a character class; write `\\[` for a literal `[` \
                         (docs/configuration.md#scope)"
                            .to_string(),
                    );
                }
            }
        }
        globs
    }

    fn date(&mut self, pointer: &str, value: &Value) -> Option<jiff::civil::Date> {
        let parsed = match value {
            Value::String(text) if text.len() == 10 => text.parse::<jiff::civil::Date>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            let what = format!("`{}`", pointer.rsplit('/').next().unwrap_or(pointer));
            self.wrong_type(pointer, value, &what, "a date `YYYY-MM-DD`");
        }
        parsed
    }

    /// Reports every key of `map` that is not in `allowed`, with a "did you mean".
    fn unknown_keys(
        &mut self,
        pointer: &str,
        map: &Map<String, Value>,
        allowed: &[&str],
        what: &str,
    ) {
        for key in map.keys() {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            let key_pointer = format!("{pointer}/{}", escape_pointer_segment(key));
            let span = self.key_span(&key_pointer);
            let help = did_you_mean(key, allowed.iter().copied(), allowed);
            let finding = self.error(
                span,
                &key_pointer,
                format!("unknown {what} {}", quoted(key)),
            );
            finding.label = Some(format!("not a {what}"));
            finding.help = Some(help);
        }
    }

    fn rules(&mut self, pointer: &str, value: &'a Value) -> Vec<Located<(String, RuleConfig)>> {
        let mut rules = Vec::new();
        let Some(map) = self.mapping_value(pointer, value, "`rules`") else {
            return rules;
        };
        for (id, entry) in map {
            let rule_pointer = format!("{pointer}/{}", escape_pointer_segment(id));
            let what = format!("rule {}", quoted(id));
            let Some(fields) = self.mapping_value(&rule_pointer, entry, &what) else {
                continue;
            };
            self.unknown_keys(&rule_pointer, fields, RULE_KEYS, "rule option");
            let mut rule = RuleConfig {
                enabled: None,
                severity: None,
            };
            if let Some(enabled) = fields.get("enabled") {
                let field_pointer = format!("{rule_pointer}/enabled");
                match enabled {
                    Value::Bool(b) => rule.enabled = Some(*b),
                    other => {
                        self.wrong_type(&field_pointer, other, "`enabled`", "`true` or `false`")
                    }
                }
            }
            if let Some(severity) = fields.get("severity") {
                let field_pointer = format!("{rule_pointer}/severity");
                match severity.as_str().and_then(Severity::parse) {
                    Some(s) => rule.severity = Some(s),
                    None => {
                        self.wrong_type(
                            &field_pointer,
                            severity,
                            "`severity`",
                            "`error`, `warning` or `info`",
                        );
                        if let Some(text) = severity.as_str() {
                            const LEVELS: &[&str] = &["error", "warning", "info"];
                            if let Some(best) = suggest::closest(text, LEVELS.iter().copied()) {
                                if let Some(last) = self.findings.last_mut() {
                                    last.help = Some(format!("did you mean `{best}`?"));
                                }
                            }
                        }
                    }
                }
            }
            if codes::means_unchecked(id) {
                self.refuse_silencing(&rule_pointer, id, &rule);
            }
            rules.push(Located {
                value: (id.clone(), rule),
                span: self.key_span(&rule_pointer),
                pointer: rule_pointer,
            });
        }
        rules
    }

    /// `enabled: false` or a lower severity for a check whose findings mean input was not
    /// checked: a partial check must never look clean.
    fn refuse_silencing(&mut self, rule_pointer: &str, id: &str, rule: &RuleConfig) {
        let lowered = rule.severity.is_some_and(|s| s != Severity::Error);
        for (option, refused) in [
            ("enabled", rule.enabled == Some(false)),
            ("severity", lowered),
        ] {
            if !refused {
                continue;
            }
            let field_pointer = format!("{rule_pointer}/{option}");
            let span = self.entry_span(&field_pointer);
            let finding = self.error(
                span,
                &field_pointer,
                format!(
                    "rule {} cannot be turned off or downgraded: its findings mean that input was not checked",
                    quoted(id)
                ),
            );
            finding.label = Some("not allowed for this rule".to_string());
            finding.help = Some(format!(
                "remove `{option}:`; fix the input, raise a limit (up to its hard maximum) or leave the file out of the checked paths"
            ));
        }
    }

    fn limits(&mut self, pointer: &str, value: &'a Value) -> Limits {
        let mut limits = Limits::default();
        let Some(map) = self.mapping_value(pointer, value, "`limits`") else {
            return limits;
        };
        let names: Vec<&str> = LIMIT_KEYS.iter().map(|k| k.name).collect();
        self.unknown_keys(pointer, map, &names, "limit");
        for key in LIMIT_KEYS {
            let Some(value) = map.get(key.name) else {
                continue;
            };
            let limit_pointer = format!("{pointer}/{}", key.name);
            let maximum = (key.get)(&Limits::MAXIMA);
            match value.as_u64() {
                // Above the hard maximum: an error, and the limit keeps its default.
                Some(n) if n > maximum => {
                    let span = self.node_span(&limit_pointer);
                    let finding = self.error(
                        span,
                        &limit_pointer,
                        format!(
                            "limit `{}` is `{n}`, above its hard maximum of `{maximum}`",
                            key.name
                        ),
                    );
                    finding.label = Some(format!("at most {maximum}"));
                    finding.help = Some(format!(
                        "set `{}` to at most `{maximum}`; hard maxima keep hostile input from aborting the run (docs/security.md)",
                        key.name
                    ));
                }
                Some(n) if n > 0 => (key.set)(&mut limits, n),
                _ => self.wrong_type(
                    &limit_pointer,
                    value,
                    &format!("limit `{}`", key.name),
                    "a positive integer",
                ),
            }
        }
        limits
    }

    fn waivers(&mut self, pointer: &str, value: &'a Value) -> Vec<Waiver> {
        let mut waivers = Vec::new();
        let Some(items) = self.sequence(pointer, value, "`waivers`") else {
            return waivers;
        };
        for (index, item) in items.iter().enumerate() {
            let item_pointer = format!("{pointer}/{index}");
            if let Some(waiver) = self.waiver(&item_pointer, item) {
                waivers.push(waiver);
            }
        }
        waivers
    }

    fn waiver(&mut self, pointer: &str, value: &'a Value) -> Option<Waiver> {
        let fields = self.mapping_value(pointer, value, "a waiver")?;
        self.unknown_keys(pointer, fields, WAIVER_KEYS, "waiver field");
        let before = self.findings.len();
        let required = |reader: &mut Reader<'a>, name: &str| -> Option<&'a str> {
            let field_pointer = format!("{pointer}/{name}");
            match fields.get(name) {
                Some(v) => reader.string(&field_pointer, v, &format!("`{name}`")),
                None => {
                    let span = reader.node_span(pointer);
                    let start = ByteSpan::new(span.start as usize, span.start as usize + 1);
                    let finding = reader.error(start, pointer, format!("waiver has no `{name}`"));
                    finding.label = Some("this waiver".to_string());
                    finding.help = Some(format!(
                        "add `{name}:`; a waiver needs `rule`, `document`, `reason` and `approved_by`"
                    ));
                    None
                }
            }
        };
        let rule = required(self, "rule");
        if let Some(id) = rule.filter(|id| codes::means_unchecked(id)) {
            let field_pointer = format!("{pointer}/rule");
            let span = self.entry_span(&field_pointer);
            let finding = self.error(
                span,
                &field_pointer,
                format!(
                    "findings of {} cannot be waived: they mean that input was not checked",
                    quoted(id)
                ),
            );
            finding.label = Some("not waivable".to_string());
            finding.help = Some(
                "remove the waiver; fix the input, raise a limit (up to its hard maximum) or leave the file out of the checked paths"
                    .to_string(),
            );
        }
        let document = required(self, "document");
        let reason = required(self, "reason");
        let approved_by = required(self, "approved_by");
        let document = document.and_then(|d| self.document_ref(&format!("{pointer}/document"), d));
        let mut waiver_pointer = None;
        if let Some(p) = fields.get("pointer") {
            let field_pointer = format!("{pointer}/pointer");
            match p {
                Value::String(text) if text.starts_with('/') => {
                    waiver_pointer = Some(text.clone());
                }
                other => self.wrong_type(
                    &field_pointer,
                    other,
                    "`pointer`",
                    "a JSON Pointer such as `/tenant_country`",
                ),
            }
        }
        let mut expires = None;
        let mut expires_span = None;
        if let Some(e) = fields.get("expires") {
            let field_pointer = format!("{pointer}/expires");
            expires = self.date(&field_pointer, e);
            expires_span = Some(self.entry_span(&field_pointer));
        }
        if self.findings.len() > before {
            return None;
        }
        Some(Waiver {
            rule: rule?.to_string(),
            document: document?,
            pointer: waiver_pointer,
            reason: reason?.to_string(),
            approved_by: approved_by?.to_string(),
            expires,
            span: self.entry_span(&format!("{pointer}/rule")),
            expires_span,
            entry: pointer.to_string(),
        })
    }

    /// `Kind/id`, e.g. `Customer/margies-travel`.
    fn document_ref(&mut self, pointer: &str, text: &str) -> Option<DocumentRef> {
        let span = self.node_span(pointer);
        let kinds = || Kind::ALL.iter().map(|k| k.as_str());
        match text.split_once('/') {
            Some((kind, id)) if !id.is_empty() => match Kind::parse(kind) {
                Some(kind) => Some(DocumentRef {
                    kind,
                    id: Arc::from(id),
                }),
                None => {
                    let help = did_you_mean(kind, kinds(), &[]);
                    let finding =
                        self.error(span, pointer, format!("unknown kind {}", quoted(kind)));
                    finding.help = Some(help);
                    finding.label = Some("not a kind of the data model".to_string());
                    None
                }
            },
            _ => {
                let finding = self.error(
                    span,
                    pointer,
                    format!("`document` must be `Kind/id`; found {}", quoted(text)),
                );
                finding.help =
                    Some("write the document as kind and id, e.g. `Customer/contoso`".to_string());
                None
            }
        }
    }
}

/// "did you mean `x`?" when a candidate is close, else the list of allowed values.
pub(super) fn did_you_mean<'a>(
    text: &str,
    candidates: impl Iterator<Item = &'a str>,
    listed: &[&str],
) -> String {
    let candidates: Vec<&str> = candidates.collect();
    match suggest::closest(text, candidates.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None if !listed.is_empty() => {
            let all: Vec<String> = listed.iter().map(|k| format!("`{k}`")).collect();
            format!("expected one of {}", all.join(", "))
        }
        None => "check the spelling".to_string(),
    }
}
