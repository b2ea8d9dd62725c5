//! CLI tests of the configuration file, waivers, `init` and `schemas export`, over the fixtures
//! in `fixtures/config/` (see its README: two fixture policies, two findings).

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

const REPO: &str = "fixtures/config/repo";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).expect("JSON report")
    }

    /// `(code, severity, waived)` of each finding in the JSON report.
    fn findings(&self) -> Vec<(String, String, bool)> {
        self.json()["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| {
                (
                    f["code"].as_str().unwrap().to_string(),
                    f["severity"].as_str().unwrap().to_string(),
                    !f["waived"].is_null(),
                )
            })
            .collect()
    }
}

fn channelguard(args: &[&str]) -> Run {
    let output = Command::cargo_bin("channelguard")
        .unwrap()
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// `channelguard check` of the fixture repository with `configs/<config>.yaml` (or the
/// repository's own `channelguard.yaml` when `None`), only the fixture policies.
fn check(config: Option<&str>, format: &str, extra: &[&str]) -> Run {
    let config_path = config.map(|c| format!("fixtures/config/configs/{c}.yaml"));
    let mut args = vec![
        "check",
        "--color",
        "never",
        "--no-builtin-policies",
        "--format",
        format,
        "--root",
        REPO,
        REPO,
    ];
    if let Some(path) = &config_path {
        args.extend(["--config", path.as_str()]);
        if !extra.contains(&"--as-of") {
            args.extend(["--as-of", "2024-06-30"]);
        }
    }
    args.extend(extra);
    let run = channelguard(&args);
    assert!(run.stderr.is_empty(), "unexpected stderr: {}", run.stderr);
    run
}

fn human_snapshot(run: &Run) -> String {
    format!("exit: {}\n{}", run.code, run.stdout)
}

fn findings(list: &[(&str, &str, bool)]) -> Vec<(String, String, bool)> {
    list.iter()
        .map(|(c, s, w)| (c.to_string(), s.to_string(), *w))
        .collect()
}

#[test]
fn config_at_the_root_is_found_and_sets_the_date_and_policies() {
    let run = check(None, "json", &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    // The fixture policies come only from the configuration's `policies:`.
    assert_eq!(
        run.findings(),
        findings(&[("XC002", "warning", false), ("XC001", "error", false)])
    );
    assert_eq!(run.json()["as_of"], "2024-06-30");
    // The command line wins over the file.
    let run = check(None, "json", &["--as-of", "2023-01-01"]);
    assert_eq!(run.json()["as_of"], "2023-01-01");
}

#[test]
fn config_error_is_located_in_the_config_file_human() {
    let run = check(Some("invalid"), "human", &[]);
    assert_eq!(run.code, 2);
    insta::with_settings!({filters => vec![(r" in \d+\.\d+s", " in [time]")]}, {
        insta::assert_snapshot!(human_snapshot(&run));
    });
}

#[test]
fn config_error_is_located_in_the_config_file_json() {
    let run = check(Some("invalid"), "json", &[]);
    assert_eq!(run.code, 2);
    let report = run.json();
    let first = &report["findings"][0];
    assert_eq!(first["code"], "C001");
    assert_eq!(first["origin"], "tool");
    assert_eq!(first["file"], "fixtures/config/configs/invalid.yaml");
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(4), Some(1))
    );
    assert_eq!(first["pointer"], "/setings");
    assert_eq!(first["help"], "did you mean `settings`?");
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn unknown_setting_and_wrong_type_are_config_errors() {
    let run = check(Some("unknown-setting"), "json", &[]);
    assert_eq!(run.code, 2);
    let f = &run.json()["findings"][0];
    assert_eq!(f["message"], "unknown setting `flag_foreign_tenant`");
    assert_eq!(f["help"], "did you mean `flag_foreign_tenants`?");
    assert_eq!(f["line"], 4);

    let run = check(Some("wrong-setting-type"), "json", &[]);
    assert_eq!(run.code, 2);
    let f = &run.json()["findings"][0];
    assert_eq!(
        f["message"],
        "setting `flag_foreign_tenants` must be a boolean; found string `no`"
    );
    assert_eq!(f["help"], "XC001 declares it with default `true`");

    let run = check(Some("unknown-waiver-rule"), "json", &[]);
    assert_eq!(run.code, 2);
    let f = &run.json()["findings"][0];
    assert_eq!(f["message"], "unknown rule `XC01`");
    assert_eq!(f["pointer"], "/waivers/0/rule");
}

#[test]
fn missing_config_file_is_an_error() {
    let run = channelguard(&["check", "--config", "fixtures/config/no-such.yaml", REPO]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read configuration"),
        "{}",
        run.stderr
    );
}

#[test]
fn rule_can_be_disabled() {
    let run = check(Some("disable-rule"), "json", &[]);
    assert_eq!(run.code, 0);
    assert_eq!(run.findings(), findings(&[("XC002", "warning", false)]));
}

#[test]
fn severity_override_changes_the_exit_code() {
    let run = check(Some("severity-override"), "json", &[]);
    assert_eq!(run.code, 1);
    assert_eq!(run.findings(), findings(&[("XC002", "error", false)]));
}

#[test]
fn setting_override_changes_the_result() {
    let run = check(Some("setting-override"), "json", &[]);
    assert_eq!(run.code, 0);
    assert_eq!(run.findings(), findings(&[("XC002", "warning", false)]));
}

#[test]
fn waived_finding_does_not_count_and_is_listed_on_request() {
    let run = check(Some("waived"), "json", &[]);
    assert_eq!(run.code, 0);
    assert_eq!(run.findings(), findings(&[("XC002", "warning", false)]));
    assert_eq!(run.json()["summary"]["waived"], 1);

    let run = check(Some("waived"), "json", &["--show-waived"]);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.findings(),
        findings(&[("XC002", "warning", false), ("XC001", "error", true)])
    );
    let waived = &run.json()["findings"][1]["waived"];
    assert_eq!(
        waived["reason"],
        "Swedish subsidiary, served from Norway under the group agreement"
    );
    assert_eq!(waived["approved_by"], "kari.nordmann@northwind.example");
    assert_eq!(waived["expires"], "2025-01-31");

    let human = check(Some("waived"), "human", &["--show-waived"]);
    assert!(
        human
            .stdout
            .contains("(waived: Swedish subsidiary, served from Norway"),
        "{}",
        human.stdout
    );
}

#[test]
fn expired_waiver_waives_nothing_and_is_reported_at_the_waiver() {
    let run = check(Some("expired-waiver"), "human", &[]);
    assert_eq!(run.code, 1);
    insta::with_settings!({filters => vec![(r" in \d+\.\d+s", " in [time]")]}, {
        insta::assert_snapshot!(human_snapshot(&run));
    });
    let run = check(Some("expired-waiver"), "json", &[]);
    let report = run.json();
    let w001 = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "W001")
        .expect("W001");
    assert_eq!(w001["file"], "fixtures/config/configs/expired-waiver.yaml");
    assert_eq!(w001["line"], 8);
    // Still valid on an earlier evaluation date.
    let run = check(Some("expired-waiver"), "json", &["--as-of", "2024-01-31"]);
    assert_eq!(run.code, 0);
}

#[test]
fn unused_waiver_is_a_warning_at_the_waiver() {
    let run = check(Some("unused-waiver"), "json", &[]);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.findings(),
        findings(&[("XC002", "warning", false), ("W002", "warning", false)])
    );
    let w002 = &run.json()["findings"][1];
    assert_eq!(w002["file"], "fixtures/config/configs/unused-waiver.yaml");
    assert_eq!(w002["line"], 9);
    assert_eq!(
        w002["message"],
        "waiver of `XC001` for `Customer/contoso` matches no finding"
    );
    let run = check(Some("unused-waiver"), "json", &["--fail-on", "warning"]);
    assert_eq!(run.code, 1);
}

#[test]
fn init_writes_a_valid_starter_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("accounts");
    let target_arg = target.to_str().unwrap();
    let run = channelguard(&["init", target_arg]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let config = std::fs::read_to_string(target.join("channelguard.yaml")).unwrap();
    let hooks = std::fs::read_to_string(target.join(".pre-commit-config.yaml")).unwrap();
    assert!(config.contains("waivers:"));
    // Every built-in setting is listed with its default.
    assert!(config.contains("# require_admin_rights: true"), "{config}");
    assert!(hooks.contains("id: channelguard"));

    // The starter configuration is valid: checking with it is not a configuration error.
    std::fs::write(
        target.join("contoso.yaml"),
        std::fs::read_to_string("fixtures/config/repo/customers/contoso.yaml").unwrap(),
    )
    .unwrap();
    let run = channelguard(&[
        "check",
        "--format",
        "json",
        "--as-of",
        "2024-06-30",
        "--root",
        target_arg,
        target_arg,
    ]);
    assert_ne!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("C001"), "{}", run.stdout);

    // A second init refuses, and leaves an edited file alone.
    std::fs::write(target.join("channelguard.yaml"), "as_of: 2024-06-30\n").unwrap();
    std::fs::remove_file(target.join(".pre-commit-config.yaml")).unwrap();
    let run = channelguard(&["init", target_arg]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(target.join("channelguard.yaml")).unwrap(),
        "as_of: 2024-06-30\n"
    );
    assert!(!target.join(".pre-commit-config.yaml").exists());

    let run = channelguard(&["init", "--force", target_arg]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(target.join("channelguard.yaml")).unwrap(),
        config
    );
}

/// Every `$ref` value in a schema.
fn refs(value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, v)| match (key.as_str(), v) {
                ("$ref", Value::String(r)) => vec![r.clone()],
                _ => refs(v),
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(refs).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn schemas_export_writes_the_bundled_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("schemas");
    let run = channelguard(&["schemas", "export", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The bundled schemas without their absolute `$id`: tools resolve the relative `$ref`s
    // (`common.json#/$defs/guid`) against the exported file itself, not over the network.
    let mut exported = 0;
    for entry in std::fs::read_dir("schemas").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap();
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(name)).unwrap()).unwrap();
        let mut bundled: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        bundled.as_object_mut().unwrap().remove("$id");
        assert_eq!(written, bundled, "{name}");
        exported += 1;
    }
    assert!(exported >= 8);
    // Plus `document.json` and the schemas of `channelguard.yaml` and `*.test.yaml`.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), exported + 3);
    let mut resources = Vec::new();
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("\"$id\""), "{}", path.display());
        let schema: Value = serde_json::from_str(&text).unwrap();
        for reference in refs(&schema) {
            assert!(
                !reference.contains("://"),
                "{reference} in {}",
                path.display()
            );
        }
        let uri = format!("file://{}", path.display());
        resources.push((uri, schema));
    }

    // `document.json` applies the schema of each document's kind, resolved from the files.
    let registry = jsonschema::Registry::new()
        .extend(resources)
        .and_then(|r| r.prepare())
        .unwrap();
    let document: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("document.json")).unwrap()).unwrap();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_base_uri(format!("file://{}", out.join("document.json").display()))
        .with_registry(&registry)
        .build(&document)
        .unwrap();
    let customer = serde_json::json!({
        "kind": "Customer",
        "id": "contoso",
        "name": "Contoso AS",
        "tenant_id": "4fce52df-54c2-4755-9b89-61a6b3926e47",
        "cloud": "commercial",
        "tenant_country": "NO",
    });
    assert!(validator.is_valid(&customer));
    let mut without_tenant = customer.clone();
    without_tenant.as_object_mut().unwrap().remove("tenant_id");
    assert!(!validator.is_valid(&without_tenant));
    let mut unknown_kind = customer.clone();
    unknown_kind["kind"] = Value::from("Custmer");
    assert!(!validator.is_valid(&unknown_kind));

    // The exported directory works as `--schemas`: same findings as the bundled schemas.
    let bundled = check(Some("waived"), "json", &[]).findings();
    let exported_run = check(
        Some("waived"),
        "json",
        &["--schemas", out.to_str().unwrap()],
    );
    assert_eq!(exported_run.findings(), bundled);
}

#[test]
fn configuration_doc_lists_every_builtin_setting() {
    use channelguard::policy::{PolicySet, PolicySources};
    let builtin = PolicySources {
        builtin: true,
        directories: Vec::new(),
    };
    let (policies, _) = PolicySet::load(
        &builtin,
        &mut channelguard::source::SourceMap::new(),
        &channelguard::limits::Limits::default(),
        &channelguard::input::ReadScope::default(),
    )
    .unwrap();
    let doc = std::fs::read_to_string("docs/configuration.md").unwrap();
    for (name, (decl, policy)) in policies.declared_settings() {
        let default = match &decl.default {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let row = format!("| `{name}` | {policy} | `{default}` |");
        assert!(
            doc.contains(&row),
            "docs/configuration.md: add `{row}` to the settings table"
        );
    }
}

#[test]
fn rules_apply_to_waiver_checks_and_builtin_ids_stay_known() {
    let run = check(Some("rules-for-builtin-and-waiver-checks"), "json", &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(
        run.findings(),
        findings(&[("XC002", "warning", false), ("W002", "error", false)])
    );
}

#[cfg(unix)]
#[test]
fn endless_config_file_is_refused() {
    let run = channelguard(&["check", "--config", "/dev/zero", REPO]);
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains("Y013") && run.stdout.contains("not a regular file (a device)"),
        "{}",
        run.stdout
    );
}
