//! The configuration file `channelguard.yaml`: finding it, reading it with the project's YAML
//! loader, validating it in two phases (shape, then rule ids and settings against the loaded
//! policies) into a typed [`Config`], applying it to [`CheckOptions`], and the starter file
//! that `channelguard init` writes.
//!
//! Every problem is a C001 finding (origin `Tool`, so the exit code is 2) located in the file,
//! so the human report shows the offending line of `channelguard.yaml`. Command-line flags win
//! over the file: [`Config::apply_to`] only fills what the command line left unset.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::check::{self, CheckError, CheckOptions, Outcome, Stats};
use crate::codes;
use crate::finding::{code, describe_value, DocumentRef, Finding, Severity};
use crate::input::{read_text, Origin as ReadOrigin, ReadScope};
use crate::limits::Limits;
use crate::model::Kind;
use crate::policy::{PolicySet, PolicySources, SettingDecl};
use crate::repository::Repository;
use crate::source::ByteSpan;
use crate::source::{display_path, FileId, FileRole, SourceFile, SourceMap};
use crate::suggest;
use crate::waivers::{self, Waiver};
use crate::yaml::{self, escape_pointer_segment, SpanTable};

/// The name the configuration file is looked up by, at the repository root.
pub const FILE_NAME: &str = "channelguard.yaml";

/// Keys of the top-level mapping.
const TOP_LEVEL_KEYS: &[&str] = &[
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
const RULE_KEYS: &[&str] = &["enabled", "severity"];
const WAIVER_KEYS: &[&str] = &[
    "rule",
    "document",
    "pointer",
    "reason",
    "approved_by",
    "expires",
];

/// The `limits:` keys, each with how it is read from (defaults, hard maxima) and set on [`Limits`].
struct LimitKey {
    name: &'static str,
    get: fn(&Limits) -> u64,
    set: fn(&mut Limits, u64),
}

const LIMIT_KEYS: &[LimitKey] = &[
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

/// A value from the file together with where it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Located<T> {
    pub value: T,
    /// The entry (`key: value`) in the configuration file.
    pub span: ByteSpan,
    /// JSON Pointer of the entry in the configuration.
    pub pointer: String,
}

/// `rules: {MC017: {enabled: false, severity: warning}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleConfig {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
}

/// The validated configuration (phase 1: everything that can be checked without the policies).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    pub as_of: Option<jiff::civil::Date>,
    /// Extra policy directories, resolved against the configuration file's directory.
    pub policies: Vec<Located<PathBuf>>,
    /// Schema directory replacing the bundled schemas, resolved like `policies`.
    pub schemas: Option<Located<PathBuf>>,
    pub rules: Vec<Located<(String, RuleConfig)>>,
    pub settings: Vec<Located<(String, Value)>>,
    pub limits: Limits,
    pub waivers: Vec<Waiver>,
    /// `include:` globs: when given, only the data files they match are checked.
    pub include: Vec<String>,
    /// `exclude:` globs: data files they match are never read.
    pub exclude: Vec<String>,
    /// `default_exclude:` (`None`: true) leaves out [`crate::scope::DEFAULT_EXCLUDE`].
    pub default_exclude: Option<bool>,
}

/// What phase 2 checks rule ids and settings against: built-in checks and the loaded policies.
#[derive(Clone, Debug, Default)]
pub struct RuleCatalog {
    pub rule_ids: Vec<String>,
    /// Setting name → (declaration with its default, id of the declaring policy).
    pub settings: BTreeMap<String, (SettingDecl, String)>,
}

impl RuleCatalog {
    pub fn new(policies: &PolicySet) -> RuleCatalog {
        let mut rule_ids: Vec<String> = codes::ALL.iter().map(|c| c.id.to_string()).collect();
        rule_ids.extend(policies.policies.iter().map(|p| p.meta.id.clone()));
        RuleCatalog {
            rule_ids,
            settings: policies.declared_settings(),
        }
    }
}

/// A configuration file as read from disk: its text (for snippets), the configuration and the
/// problems found so far. Findings point into the file with the placeholder [`FileId`] `0`
/// until [`LoadedConfig::attach`] registers the file in a run's [`SourceMap`].
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    /// Path as shown in reports (relative to the repository root where possible).
    pub name: String,
    pub path: PathBuf,
    pub text: Arc<str>,
    pub config: Config,
    pub findings: Vec<Finding>,
}

const PLACEHOLDER_FILE: FileId = FileId(0);

fn config_error(span: ByteSpan, pointer: &str, message: String) -> Finding {
    codes::CONFIG_ERROR
        .finding(message)
        .at_span(PLACEHOLDER_FILE, span)
        .with_pointer(pointer)
        .tool()
}

/// Reads the configuration: `explicit` (`--config FILE`, which must exist), else
/// `channelguard.yaml` at `root` if there is one. Relative paths inside the file are resolved
/// against the file's directory. An unreadable file is an error; its content problems are
/// findings of the returned [`LoadedConfig`].
pub fn load(explicit: Option<&Path>, root: &Path) -> Result<Option<LoadedConfig>, String> {
    let mut scope = ReadScope::new(root);
    let path = match explicit {
        Some(path) => {
            if std::fs::symlink_metadata(path).is_err() {
                return Err(format!(
                    "cannot read configuration `{}`: it does not exist",
                    path.display()
                ));
            }
            scope.allow_file(path);
            path.to_path_buf()
        }
        None => {
            let path = root.join(FILE_NAME);
            // Not `is_file()`: a link to a device or a FIFO must be reported, not ignored.
            if std::fs::symlink_metadata(&path).is_err() {
                return Ok(None);
            }
            path
        }
    };
    // Bounded like a data file, through the one safe reader: a link to `/proc/self/environ`
    // or `/dev/zero` is refused before it is read, so no snippet can show it.
    let max = Limits::default().max_file_bytes;
    let unreadable = |message: String, at: usize| LoadedConfig {
        name: display_path(&path, root),
        path: path.clone(),
        text: Arc::from(""),
        config: Config::default(),
        findings: vec![codes::UNREADABLE_FILE
            .finding(message)
            .at_span(PLACEHOLDER_FILE, ByteSpan::empty_at(at))
            .tool()],
    };
    let text = match read_text(&path, &scope, ReadOrigin::Named, max) {
        Ok(text) => text,
        Err(Ok(valid)) => {
            return Ok(Some(unreadable(
                format!("configuration is not valid UTF-8 (byte {valid}); not read"),
                0,
            )))
        }
        Err(Err(refused)) => {
            return Ok(Some(unreadable(format!("configuration: {refused}"), 0)));
        }
    };
    let base_dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let (mut config, mut findings) = parse(&text, &base_dir);
    let trusted = explicit.is_some()
        && matches!((path.canonicalize(), root.canonicalize()),
            (Ok(file), Ok(root)) if !file.starts_with(&root));
    findings.extend(check_paths(&mut config, (!trusted).then_some(root)));
    Ok(Some(LoadedConfig {
        name: display_path(&path, root),
        path,
        text: Arc::from(text),
        config,
        findings,
    }))
}

/// Phase 1: the file's shape. Pure: paths are joined to `base_dir`, never read.
pub fn parse(text: &str, base_dir: &Path) -> (Config, Vec<Finding>) {
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let mut loaded = yaml::load(text, bom, PLACEHOLDER_FILE, &Limits::default());
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

/// The directories the configuration names must exist (checked here, not at run time, so the
/// error points at the line that names them).
/// Checks the directories the configuration names. `confined_to`: the repository root when the
/// configuration lies inside it (then it is as untrusted as the data, and may not point a
/// policy or schema directory outside the repository); `None` for a configuration the user
/// named from outside the repository (CI's own), which is trusted like the command line.
///
/// A directory outside the repository is also dropped from `config`, so that no command (`test`,
/// `explain` and `list` read the configuration too) can read from it.
fn check_paths(config: &mut Config, confined_to: Option<&Path>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let confined_to = confined_to.and_then(|root| root.canonicalize().ok());
    let outside = |dir: &Located<PathBuf>| {
        confined_to.as_ref().is_some_and(|root| {
            dir.value
                .canonicalize()
                .is_ok_and(|resolved| !resolved.starts_with(root))
        })
    };
    let dirs = config.policies.iter().chain(config.schemas.as_ref());
    for dir in dirs {
        if outside(dir) {
            findings.push(
                config_error(
                    dir.span,
                    &dir.pointer,
                    format!(
                        "directory {} is outside the repository; not read",
                        code(&dir.value.to_string_lossy())
                    ),
                )
                .with_label("outside the repository")
                .with_help("a configuration inside the repository may only name directories inside it; name outside ones on the command line (`--policies`, `--schemas`)"),
            );
        } else if !dir.value.is_dir() {
            findings.push(
                config_error(
                    dir.span,
                    &dir.pointer,
                    format!(
                        "directory {} does not exist",
                        code(&dir.value.to_string_lossy())
                    ),
                )
                .with_label("no such directory")
                .with_help("paths in the configuration are relative to the configuration file"),
            );
        }
    }
    config.policies.retain(|dir| !outside(dir));
    if config.schemas.as_ref().is_some_and(outside) {
        config.schemas = None;
    }
    findings
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
            let finding = self.error(span, &key_pointer, format!("unknown {what} {}", code(key)));
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
            let what = format!("rule {}", code(id));
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
                    code(id)
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
                    code(id)
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
                    let finding = self.error(span, pointer, format!("unknown kind {}", code(kind)));
                    finding.help = Some(help);
                    finding.label = Some("not a kind of the data model".to_string());
                    None
                }
            },
            _ => {
                let finding = self.error(
                    span,
                    pointer,
                    format!("`document` must be `Kind/id`; found {}", code(text)),
                );
                finding.help =
                    Some("write the document as kind and id, e.g. `Customer/contoso`".to_string());
                None
            }
        }
    }
}

/// "did you mean `x`?" when a candidate is close, else the list of allowed values.
fn did_you_mean<'a>(
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
    fn needs_catalog(&self) -> bool {
        !self.rules.is_empty() || !self.settings.is_empty() || !self.waivers.is_empty()
    }

    /// Phase 2: rule ids and settings against the built-in checks and the loaded policies.
    pub fn validate(&self, catalog: &RuleCatalog) -> Vec<Finding> {
        let mut findings = Vec::new();
        let ids = || catalog.rule_ids.iter().map(String::as_str);
        let unknown_rule = |id: &str, span: ByteSpan, pointer: &str| {
            config_error(span, pointer, format!("unknown rule {}", code(id)))
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
                            format!("unknown setting {}", code(name)),
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
                                code(name),
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

    /// Applies the configuration where the command line left things unset: the evaluation date
    /// is handled by [`evaluation_date`]; a `--schemas` flag wins over `schemas`; policy
    /// directories of the file come before those of the command line (so a `--policies`
    /// policy replaces one of the file's with the same id).
    pub fn apply_to(&self, options: &mut CheckOptions) {
        if options.schema_dir.is_none() {
            options.schema_dir = self.schemas.as_ref().map(|s| s.value.clone());
        }
        let mut directories: Vec<PathBuf> = self.policies.iter().map(|p| p.value.clone()).collect();
        directories.append(&mut options.policies.directories);
        options.policies.directories = directories;
        for rule in &self.rules {
            let (id, config) = &rule.value;
            if config.enabled == Some(false) && !options.disabled_rules.contains(id) {
                options.disabled_rules.push(id.clone());
            }
            if let Some(severity) = config.severity {
                options
                    .severity_overrides
                    .entry(id.clone())
                    .or_insert(severity);
            }
        }
        for setting in &self.settings {
            let (name, value) = &setting.value;
            options
                .settings
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
        options.limits = self.limits.clone();
        // The globs were checked when the file was read (C001 stops the run otherwise).
        if let Ok(scope) = crate::scope::Scope::new(
            &self.include,
            &self.exclude,
            self.default_exclude.unwrap_or(true),
        ) {
            options.scope = scope;
        }
    }
}

/// The evaluation date: `--as-of`, else `as_of` in the configuration, else today in UTC.
pub fn evaluation_date(
    command_line: Option<jiff::civil::Date>,
    config: Option<&LoadedConfig>,
) -> jiff::civil::Date {
    command_line
        .or_else(|| config.and_then(|c| c.config.as_of))
        .unwrap_or_else(crate::dates::today_utc)
}

impl LoadedConfig {
    /// Registers the file in `sources` and moves the findings onto it.
    pub fn attach(&self, sources: &mut SourceMap) -> (FileId, Vec<Finding>) {
        let file = sources.add(SourceFile::new(
            self.name.clone(),
            self.path.clone(),
            Arc::clone(&self.text),
            FileRole::Config,
        ));
        let findings = self
            .findings
            .iter()
            .cloned()
            .map(|mut f| {
                if let Some(location) = &mut f.location {
                    location.file = file;
                }
                f
            })
            .collect();
        (file, findings)
    }
}

/// Runs a check with a configuration already applied to `options` (see [`Config::apply_to`]):
/// phase 2 of the validation, then the run, then the waivers. When the configuration has
/// errors nothing is checked: the outcome holds only those errors, so exit code 2 never
/// mixes with findings computed under a half-applied configuration.
pub fn run_check(
    options: &CheckOptions,
    loaded: Option<&LoadedConfig>,
) -> Result<Outcome, CheckError> {
    let Some(loaded) = loaded else {
        return check::run(options);
    };
    let mut problems = loaded.findings.clone();
    if problems.is_empty() && loaded.config.needs_catalog() {
        // Built-in ids and settings stay known under `--no-builtin-policies`, so one
        // configuration serves runs with and without the built-in pack.
        let catalog_sources = PolicySources {
            builtin: true,
            directories: options.policies.directories.clone(),
        };
        let (policies, _) = PolicySet::load(
            &catalog_sources,
            &mut SourceMap::new(),
            &options.limits,
            &options.read_scope(),
        )
        .map_err(CheckError::Policies)?;
        problems.extend(loaded.config.validate(&RuleCatalog::new(&policies)));
    }
    if !problems.is_empty() {
        let mut sources = SourceMap::new();
        let checked = LoadedConfig {
            findings: problems,
            ..loaded.clone()
        };
        let (_, mut findings) = checked.attach(&mut sources);
        findings.sort_by(Finding::report_order);
        return Ok(Outcome {
            sources,
            findings,
            stats: Stats::default(),
            policies: Vec::new(),
            reached: BTreeMap::new(),
            repository: Arc::new(Repository::new(Vec::new())),
        });
    }
    let mut outcome = check::run(options)?;
    let (file, _) = loaded.attach(&mut outcome.sources);
    waivers::apply(
        &mut outcome.findings,
        &loaded.config.waivers,
        options.as_of,
        file,
    );
    // `rules:` applies to the waiver findings (W001, W002) too.
    check::apply_rule_settings(&mut outcome.findings, options);
    outcome.findings.sort_by(Finding::report_order);
    Ok(outcome)
}

/// A commented starter `channelguard.yaml` that explains every key; the rule settings are
/// listed (commented out) with their defaults from `settings`.
pub fn starter(settings: &BTreeMap<String, (SettingDecl, String)>) -> String {
    let defaults = Limits::default();
    let mut out = String::from(STARTER_HEAD);
    out.push_str("\n# Rule settings declared by the policies (shown with their defaults).\n");
    if settings.is_empty() {
        out.push_str("# No loaded policy declares a setting.\n");
    }
    out.push_str("settings:\n");
    for (name, (decl, policy)) in settings {
        let _ = writeln!(out, "  # ({policy}) {}", decl.description);
        let _ = writeln!(out, "  # {name}: {}", decl.default);
    }
    out.push_str(STARTER_LIMITS_HEAD);
    out.push_str("limits:\n");
    for key in LIMIT_KEYS {
        let _ = writeln!(
            out,
            "  # {}: {}  # hard maximum {}",
            key.name,
            (key.get)(&defaults),
            (key.get)(&Limits::MAXIMA)
        );
    }
    out.push_str(STARTER_WAIVERS);
    out
}

const STARTER_HEAD: &str = "\
# channelguard configuration (docs/configuration.md).
# Paths are relative to this file. Command-line flags win over what is set here.

# Evaluation date for rules that depend on \"today\" (YYYY-MM-DD). Without it (and without
# --as-of) channelguard uses the current UTC date. Pin it in CI for reproducible results.
# as_of: 2024-06-30

# Extra policy directories (*.rhai), loaded after the built-in pack. A policy with the id of a
# built-in one replaces it.
policies:
  # - policies

# A directory of JSON Schemas that replaces the bundled ones.
# schemas: schemas

# Per-rule options, by rule id: `enabled: false` skips the rule, `severity` (error, warning or
# info) changes how serious its findings are.
rules:
  # MC002:
  #   enabled: true
  #   severity: error
";

const STARTER_LIMITS_HEAD: &str = "
# Resource limits for untrusted input (shown with their defaults). A breach is a finding, never
# a crash; raise a limit only for data you trust.
";

const STARTER_WAIVERS: &str = "
# Accepted findings. A waived finding is listed with --show-waived but does not fail the check.
# `rule`, `document` (Kind/id), `reason` and `approved_by` are required; `pointer` narrows the
# waiver to one field; after `expires` the waiver no longer applies and is reported (W001).
waivers:
  # - rule: MC002
  #   document: Subscription/contoso-m365-e3
  #   pointer: /managed_by
  #   reason: \"relationship accepted by phone, Partner Center shows it on 2024-07-01\"
  #   approved_by: \"jane.doe@example.com\"
  #   expires: 2024-07-31
";

/// The `.pre-commit-config.yaml` that `channelguard init` writes: a local hook that runs the
/// installed `channelguard` on the whole repository.
pub const PRE_COMMIT_CONFIG: &str = "\
# pre-commit hooks (https://pre-commit.com): run `pre-commit install` once.
# channelguard checks the whole repository every time (channel rules cross documents); the
# staged file names given after `--only --` choose which findings are reported. `--only` takes
# every argument after it as a file name, so put options before it in `entry`.
# This local hook runs the channelguard on PATH. To let pre-commit build a pinned version
# instead, use channelguard's repository as `repo:` with a `rev:` and the hook id `channelguard`.
repos:
  - repo: local
    hooks:
      - id: channelguard
        name: channelguard (CSP account data)
        entry: channelguard check --only --
        language: system
        pass_filenames: true
        files: \\.(ya?ml)$
        require_serial: true
";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Config {
        let (config, findings) = parse(text, Path::new("repo"));
        assert!(findings.is_empty(), "{findings:#?}");
        config
    }

    fn problems(text: &str) -> Vec<Finding> {
        parse(text, Path::new("repo")).1
    }

    fn catalog() -> RuleCatalog {
        let mut settings = BTreeMap::new();
        settings.insert(
            "require_admin_rights".to_string(),
            (
                SettingDecl {
                    name: "require_admin_rights".to_string(),
                    default: Value::Bool(true),
                    description: "warn without admin rights".to_string(),
                },
                "MC002".to_string(),
            ),
        );
        RuleCatalog {
            rule_ids: vec!["MC002".to_string(), "F05".to_string()],
            settings,
        }
    }

    fn snippet<'t>(text: &'t str, finding: &Finding) -> &'t str {
        &text[finding.location.expect("located").span.range()]
    }

    /// The editor schema of `channelguard.yaml` (`schemas export`) accepts the keys this module
    /// reads and no other, with the same hard maxima: a key added here must be added there.
    #[test]
    fn editor_schema_matches_the_accepted_keys_and_maxima() {
        let (_, text) = crate::schema::EDITOR_SCHEMAS
            .iter()
            .find(|(name, _)| *name == "channelguard-config.json")
            .unwrap();
        let schema: Value = serde_json::from_str(text).unwrap();
        let keys = |pointer: &str| -> Vec<String> {
            let mut keys: Vec<String> = schema
                .pointer(pointer)
                .and_then(Value::as_object)
                .unwrap_or_else(|| panic!("no {pointer}"))
                .keys()
                .cloned()
                .collect();
            keys.sort();
            keys
        };
        let sorted = |list: &[&str]| -> Vec<String> {
            let mut list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
            list.sort();
            list
        };
        assert_eq!(keys("/properties"), sorted(TOP_LEVEL_KEYS));
        assert_eq!(
            keys("/properties/rules/additionalProperties/properties"),
            sorted(RULE_KEYS)
        );
        assert_eq!(
            keys("/properties/waivers/items/properties"),
            sorted(WAIVER_KEYS)
        );
        let names: Vec<&str> = LIMIT_KEYS.iter().map(|k| k.name).collect();
        assert_eq!(keys("/properties/limits/properties"), sorted(&names));
        for key in LIMIT_KEYS {
            let maximum = schema
                .pointer(&format!(
                    "/properties/limits/properties/{}/maximum",
                    key.name
                ))
                .and_then(Value::as_u64);
            assert_eq!(maximum, Some((key.get)(&Limits::MAXIMA)), "{}", key.name);
        }
    }

    #[test]
    fn reads_every_section() {
        let config = parse_ok(
            "as_of: 2024-06-30\npolicies: [extra]\nschemas: my-schemas\nrules:\n  MC002: {enabled: false}\n  F05: {severity: error}\nsettings:\n  require_admin_rights: false\nlimits:\n  max_depth: 10\n  policy_deadline_ms: 500\n",
        );
        assert_eq!(config.as_of, Some(jiff::civil::date(2024, 6, 30)));
        assert_eq!(config.policies[0].value, Path::new("repo").join("extra"));
        assert_eq!(
            config.schemas.as_ref().map(|s| s.value.clone()),
            Some(Path::new("repo").join("my-schemas"))
        );
        assert_eq!(config.rules.len(), 2);
        assert_eq!(config.limits.max_depth, 10);
        assert_eq!(config.limits.policy_deadline, Duration::from_millis(500));
        assert_eq!(config.limits.max_nodes, Limits::default().max_nodes);

        let mut options = CheckOptions::new(Vec::new(), jiff::civil::date(2024, 1, 1));
        config.apply_to(&mut options);
        assert_eq!(options.disabled_rules, vec!["MC002".to_string()]);
        assert_eq!(
            options.severity_overrides.get("F05"),
            Some(&Severity::Error)
        );
        assert_eq!(
            options.settings.get("require_admin_rights"),
            Some(&Value::Bool(false))
        );
        assert_eq!(options.limits.max_depth, 10);
    }

    #[test]
    fn empty_file_and_empty_sections_are_the_defaults() {
        assert_eq!(parse_ok(""), Config::default());
        assert_eq!(
            parse_ok("settings:\nwaivers:\n# only comments\n"),
            Config::default()
        );
    }

    #[test]
    fn command_line_wins() {
        let config = parse_ok("schemas: from-file\npolicies: [file-policies]\nsettings: {x: 1}\n");
        let mut options = CheckOptions::new(Vec::new(), jiff::civil::date(2024, 1, 1));
        options.schema_dir = Some(PathBuf::from("from-flag"));
        options.policies.directories = vec![PathBuf::from("flag-policies")];
        options.settings.insert("x".to_string(), Value::from(2));
        config.apply_to(&mut options);
        assert_eq!(options.schema_dir, Some(PathBuf::from("from-flag")));
        assert_eq!(
            options.policies.directories,
            vec![
                Path::new("repo").join("file-policies"),
                PathBuf::from("flag-policies")
            ]
        );
        assert_eq!(options.settings.get("x"), Some(&Value::from(2)));
    }

    #[test]
    fn evaluation_date_precedence() {
        let text = "as_of: 2024-06-30\n";
        let loaded = LoadedConfig {
            name: FILE_NAME.to_string(),
            path: PathBuf::from(FILE_NAME),
            text: Arc::from(text),
            config: parse_ok(text),
            findings: Vec::new(),
        };
        let flag = jiff::civil::date(2023, 1, 1);
        assert_eq!(evaluation_date(Some(flag), Some(&loaded)), flag);
        assert_eq!(
            evaluation_date(None, Some(&loaded)),
            jiff::civil::date(2024, 6, 30)
        );
        assert_eq!(evaluation_date(None, None), crate::dates::today_utc());
    }

    #[test]
    fn scope_globs_are_read_checked_and_applied() {
        assert_eq!(
            parse_ok("include:\nexclude:\ndefault_exclude:\n"),
            Config::default()
        );
        let config = parse_ok(
            "include: [customers/**, partners]\nexclude: [\"*.draft.yaml\"]\ndefault_exclude: false\n",
        );
        assert_eq!(config.include, ["customers/**", "partners"]);
        assert_eq!(config.exclude, ["*.draft.yaml"]);
        assert_eq!(config.default_exclude, Some(false));
        let mut options = CheckOptions::new(Vec::new(), jiff::civil::date(2024, 1, 1));
        config.apply_to(&mut options);
        use crate::scope::SkipReason;
        assert_eq!(options.scope.leaves_out("partners/a.yaml"), None);
        assert_eq!(
            options.scope.leaves_out("mkdocs.yml"),
            Some(SkipReason::NotIncluded)
        );
        assert_eq!(
            options.scope.leaves_out("customers/a.draft.yaml"),
            Some(SkipReason::Excluded)
        );

        let text = "exclude:\n  - ok/**\n  - \"a[b\"\ninclude: x\ndefault_exclude: 1\n";
        let found = problems(text);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.iter().all(|f| &*f.code == "C001"));
        assert!(
            found[0].message.starts_with("invalid glob `a[b`"),
            "{}",
            found[0].message
        );
        assert_eq!(snippet(text, &found[0]), "\"a[b\"");
        assert!(
            found[1].message.contains("`include` must be a list"),
            "{}",
            found[1].message
        );
        assert!(found[2]
            .message
            .contains("`default_exclude` must be true or false"));
    }

    #[test]
    fn unknown_key_is_located_with_did_you_mean() {
        let text = "as_of: 2024-06-30\nwaviers: []\n";
        let found = problems(text);
        assert_eq!(found.len(), 1, "{found:#?}");
        let f = &found[0];
        assert_eq!(&*f.code, "C001");
        assert_eq!(f.origin, crate::finding::Origin::Tool);
        assert_eq!(f.message, "unknown configuration key `waviers`");
        assert_eq!(f.help.as_deref(), Some("did you mean `waivers`?"));
        assert_eq!(snippet(text, f), "waviers");
        assert_eq!(f.pointer.as_deref(), Some("/waviers"));
    }

    #[test]
    fn wrong_types_are_located() {
        let text = "as_of: June\nrules:\n  MC002: {enabled: nope, severity: warn}\nlimits: {max_depth: -1, max_dept: 3}\n";
        let found = problems(text);
        let messages: Vec<(&str, &str)> = found
            .iter()
            .map(|f| (f.message.as_str(), snippet(text, f)))
            .collect();
        assert!(messages.contains(&(
            "`as_of` must be a date `YYYY-MM-DD`; found string `June`",
            "June"
        )));
        assert!(messages.contains(&(
            "`enabled` must be `true` or `false`; found string `nope`",
            "nope"
        )));
        let severity = found
            .iter()
            .find(|f| f.message.starts_with("`severity`"))
            .expect("severity error");
        assert_eq!(severity.help.as_deref(), Some("did you mean `warning`?"));
        assert!(messages.contains(&(
            "limit `max_depth` must be a positive integer; found integer `-1`",
            "-1"
        )));
        assert!(messages.contains(&("unknown limit `max_dept`", "max_dept")));
    }

    #[test]
    fn limits_up_to_their_hard_maximum_are_taken_and_above_it_refused() {
        for key in LIMIT_KEYS {
            let maximum = (key.get)(&Limits::MAXIMA);
            assert!(maximum >= (key.get)(&Limits::default()), "{}", key.name);
            let config = parse_ok(&format!("limits:\n  {}: {maximum}\n", key.name));
            assert_eq!((key.get)(&config.limits), maximum, "{}", key.name);

            let text = format!("limits:\n  {}: {}\n", key.name, maximum + 1);
            let (config, found) = parse(&text, Path::new("repo"));
            assert_eq!(found.len(), 1, "{}: {found:#?}", key.name);
            assert_eq!(
                found[0].message,
                format!(
                    "limit `{}` is `{}`, above its hard maximum of `{maximum}`",
                    key.name,
                    maximum + 1
                )
            );
            assert_eq!(snippet(&text, &found[0]), (maximum + 1).to_string());
            assert_eq!(found[0].origin, crate::finding::Origin::Tool);
            // The limit keeps its default (and the run does not happen: C001 is exit 2).
            assert_eq!(config.limits, Limits::default(), "{}", key.name);
        }
        // Far above, and above what fits a `usize` on 32-bit targets.
        assert_eq!(problems("limits: {max_depth: 100000000}\n").len(), 1);
        assert_eq!(
            problems("limits: {max_nodes: 18446744073709551615}\n").len(),
            1
        );
        // Lowering is always fine.
        assert_eq!(parse_ok("limits: {max_depth: 1}\n").limits.max_depth, 1);
    }

    #[test]
    fn checks_meaning_not_checked_cannot_be_silenced() {
        let text = "rules:\n  Y008: {enabled: false}\n  Y013: {severity: warning}\n  X001: {enabled: true, severity: error}\n  F05: {enabled: false}\nwaivers:\n  - {rule: Y004, document: Customer/x, reason: r, approved_by: a}\n";
        let found = problems(text);
        let described: Vec<(&str, &str)> = found
            .iter()
            .map(|f| (f.message.as_str(), snippet(text, f)))
            .collect();
        assert_eq!(
            described,
            vec![
                (
                    "rule `Y008` cannot be turned off or downgraded: its findings mean that input was not checked",
                    "enabled: false"
                ),
                (
                    "rule `Y013` cannot be turned off or downgraded: its findings mean that input was not checked",
                    "severity: warning"
                ),
                (
                    "findings of `Y004` cannot be waived: they mean that input was not checked",
                    "rule: Y004"
                ),
            ]
        );
    }

    #[test]
    fn yaml_errors_become_config_errors() {
        let found = problems("rules: {MC002: 1\n");
        assert!(!found.is_empty());
        assert!(found
            .iter()
            .all(|f| &*f.code == "C001" && f.origin == crate::finding::Origin::Tool));
    }

    #[test]
    fn waivers_need_reason_and_approver() {
        let text = "waivers:\n  - rule: MC002\n    document: Subscription/x\n    reason: ok\n";
        let found = problems(text);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].message, "waiver has no `approved_by`");

        let config = parse_ok("waivers:\n  - rule: MC002\n    document: Subscription/x\n    pointer: /managed_by\n    reason: ok\n    approved_by: me\n    expires: 2024-07-31\n");
        let waiver = &config.waivers[0];
        assert_eq!(waiver.document.kind, Kind::Subscription);
        assert_eq!(&*waiver.document.id, "x");
        assert_eq!(waiver.pointer.as_deref(), Some("/managed_by"));
        assert_eq!(waiver.expires, Some(jiff::civil::date(2024, 7, 31)));
    }

    #[test]
    fn waiver_document_must_name_a_kind() {
        let text = "waivers:\n  - {rule: MC002, document: Custmer/x, reason: r, approved_by: a}\n";
        let found = problems(text);
        assert_eq!(found[0].message, "unknown kind `Custmer`");
        assert_eq!(found[0].help.as_deref(), Some("did you mean `Customer`?"));
    }

    #[test]
    fn phase_two_checks_rules_and_settings() {
        let text = "rules: {MC02: {enabled: false}}\nsettings:\n  require_admin_right: false\n  require_admin_rights: \"no\"\n";
        let config = parse_ok(text);
        let found = config.validate(&catalog());
        let described: Vec<(&str, Option<&str>)> = found
            .iter()
            .map(|f| (f.message.as_str(), f.help.as_deref()))
            .collect();
        assert_eq!(
            described,
            vec![
                ("unknown rule `MC02`", Some("did you mean `MC002`?")),
                (
                    "unknown setting `require_admin_right`",
                    Some("did you mean `require_admin_rights`?")
                ),
                (
                    "setting `require_admin_rights` must be a boolean; found string `no`",
                    Some("MC002 declares it with default `true`")
                ),
            ]
        );
        assert_eq!(snippet(text, &found[2]), "require_admin_rights: \"no\"");
        assert!(parse_ok("settings: {require_admin_rights: false}\n")
            .validate(&catalog())
            .is_empty());
    }

    fn looks_like_yaml(text: &str) -> bool {
        if text.starts_with("- ") {
            return true;
        }
        match text.split_once(':') {
            Some((key, rest)) => {
                !key.is_empty()
                    && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && (rest.is_empty() || rest.starts_with(' '))
            }
            None => false,
        }
    }

    #[test]
    fn pre_commit_config_runs_the_channelguard_hook() {
        let loaded = yaml::load(PRE_COMMIT_CONFIG, 0, FileId(0), &Limits::default());
        assert!(loaded.findings.is_empty(), "{:#?}", loaded.findings);
        let hook = loaded.documents[0]
            .value
            .pointer("/repos/0/hooks/0")
            .expect("a hook")
            .clone();
        assert_eq!(hook["id"], "channelguard");
        assert_eq!(hook["entry"], "channelguard check --only --");
        assert_eq!(hook["files"], "\\.(ya?ml)$");
    }

    #[test]
    fn starter_is_a_valid_configuration() {
        let starter = starter(&catalog().settings);
        assert!(starter.contains("# require_admin_rights: true"));
        assert!(starter.contains("# max_depth: 64"));
        let config = parse_ok(&starter);
        assert!(config.validate(&catalog()).is_empty());
        // Uncommenting the examples gives a valid configuration too.
        let uncommented: String = starter
            .lines()
            .map(|line| {
                let indented_comment = line
                    .find("# ")
                    .filter(|&at| at > 0 && line[..at].trim().is_empty());
                match indented_comment {
                    Some(at) if looks_like_yaml(line[at + 2..].trim_start()) => {
                        format!("{}{}\n", &line[..at], &line[at + 2..])
                    }
                    _ => format!("{line}\n"),
                }
            })
            .collect();
        let (config, found) = parse(&uncommented, Path::new("repo"));
        assert!(found.is_empty(), "{uncommented}\n{found:#?}");
        assert_eq!(config.waivers.len(), 1);
        assert_eq!(config.limits, Limits::default());
    }
}
