//! Unit tests of the configuration: shape, validation, applying and the starter file.

use super::shape::{LIMIT_KEYS, RULE_KEYS, TOP_LEVEL_KEYS, WAIVER_KEYS};
use super::validate::RuleCatalog;
use super::*;
use crate::finding::Severity;
use crate::model::Kind;
use crate::options::CheckOptions;
use crate::policy::SettingDecl;
use crate::yaml;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

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
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
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
