//! The functions policies call: lookups through the repository's indexes, date helpers,
//! markets, settings and `report`. This is the scripting contract documented in
//! docs/policy-api.md.
//!
//! Native functions are registered once on the shared engine, so they reach the evaluation
//! they serve through a per-thread [`Frame`] that `thread::with_frame` installs around each
//! call.

use std::collections::HashMap;
use std::sync::Arc;

use rhai::{
    Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, NativeCallContext, Position,
};
use serde_json::Value;

use super::thread::frame;
use crate::dates;
use crate::finding::Severity;
use crate::memo::ReadKey;
use crate::model::Kind;
use crate::repository::{DocIndex, Repository};

/// What every evaluation of a run shares: the repository, the fields each kind's schema knows,
/// the evaluation date and the settings.
pub struct Shared {
    pub repo: Arc<Repository>,
    /// Per kind (`Kind as usize`), the sorted field names its schema declares.
    pub known_fields: Vec<Vec<String>>,
    pub as_of: jiff::civil::Date,
    pub as_of_text: ImmutableString,
    pub settings: HashMap<String, Dynamic>,
    /// Per policy (index in the set), the ids it may report under: its own, then its
    /// sub-rules' (`report(#{rule: ...})` is checked against them).
    pub rule_ids: Vec<Vec<String>>,
}

/// A finding reported by a script, before it is located.
#[derive(Clone, Debug)]
pub struct Reported {
    pub severity: Option<Severity>,
    pub pointer: String,
    pub message: String,
    /// What is wrong at the node, drawn under it; `None`: derived from the message
    /// ([`default_label`]).
    pub label: Option<String>,
    pub help: Option<String>,
    pub related: Vec<RelatedRef>,
    /// The declared sub-rule it is reported under (`MC002.admin`); `None`: the policy's id.
    pub rule: Option<String>,
}

/// Longest message shown as its own label when a report names none.
pub const MAX_DEFAULT_LABEL: usize = 60;

/// The label of a report that names none: the message itself when it is short (it is what is
/// wrong at the node), otherwise the neutral `here`. Never the policy title, which would
/// contradict a message about a different case of the rule.
pub fn default_label(message: &str) -> String {
    if !message.is_empty() && message.chars().count() <= MAX_DEFAULT_LABEL {
        message.to_string()
    } else {
        "here".to_string()
    }
}

/// A related location a script named: a document, a pointer and a message. `at(doc, …)` carries
/// the document's index itself; a location map written by hand is looked up once by its `kind`
/// and `id` (`None` when there is no such document: the label is left out).
#[derive(Clone, Debug)]
pub struct RelatedRef {
    pub document: Option<DocIndex>,
    pub pointer: String,
    pub message: String,
}

/// The state of the evaluation running on this thread.
pub struct Frame {
    pub shared: Arc<Shared>,
    pub reported: Vec<Reported>,
    pub output: Vec<String>,
    /// Lines of `report` calls that ran (for `test --coverage`).
    pub reached: Vec<u16>,
    /// Most reports kept; further ones are only counted in `dropped` (a policy may report in
    /// a loop, with messages up to the string limit: memory must stay bounded).
    pub report_cap: usize,
    pub dropped: usize,
    /// The evaluation read a field that is invalid or missing (see [`Skipped`]).
    pub skipped: Option<Skipped>,
    /// The queries the evaluation asked (its read set, [`crate::memo`]); `None`: not recorded.
    pub reads: Option<Vec<ReadKey>>,
}

impl Frame {
    /// Records that the evaluation asked `key` (when read sets are recorded).
    fn read(&mut self, key: impl FnOnce() -> ReadKey) {
        if let Some(reads) = &mut self.reads {
            reads.push(key());
        }
    }
}

/// An evaluation that stopped because it read an invalid or missing field of a document: its
/// result would rest on a value that is known to be wrong, so it is skipped and counted (never
/// silently dropped). Reports made before the read stand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The document whose field was read (the one evaluated, or one found through a lookup).
    pub document: DocIndex,
    pub field: String,
    /// How many reports had been made when the field was read.
    pub reported_before: usize,
}

/// Longest message or help text kept from a report, in bytes.
pub const MAX_REPORT_TEXT: usize = 4096;

/// `text` cut to at most `MAX_REPORT_TEXT` bytes on a character boundary, marked with `…`.
fn bounded(text: &str) -> String {
    if text.len() <= MAX_REPORT_TEXT {
        return text.to_string();
    }
    let mut end = MAX_REPORT_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// What one evaluation collected.
#[derive(Default)]
pub struct Collected {
    pub reported: Vec<Reported>,
    pub output: Vec<String>,
    pub reached: Vec<u16>,
    pub dropped: usize,
    pub skipped: Option<Skipped>,
    /// The read set, when recorded.
    pub reads: Option<Vec<ReadKey>>,
}

/// Captures `print`/`debug` output: policies never write to stdout.
pub fn capture_output(kind: &str, text: &str) {
    let _ = frame(|f| {
        if f.output.len() < 20 {
            f.output.push(format!("{kind}: {text}"));
        }
    });
}

/// Converts a JSON value to a Rhai value.
pub fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Dynamic::from(ImmutableString::from(s.as_str())),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.as_str().into(), to_dynamic(v));
            }
            Dynamic::from_map(out)
        }
    }
}

/// A document as policies see it: a view on the repository's document (no copy is ever made).
/// Fields are read by name through an indexer (`doc.status` falls back to `doc["status"]`) and
/// converted on access; a field the kind's schema declares but the document leaves out reads as
/// `()`, any other name is an error; nothing can be assigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocumentValue(DocIndex);

/// Records that the evaluation read `field` of `index`, which is invalid, and returns the error
/// that stops it. Catching the error does not help a script: the evaluation is skipped anyway.
fn skip(f: &mut Frame, index: DocIndex, field: &str) -> Box<EvalAltResult> {
    let doc = f.shared.repo.get(index);
    let message = format!(
        "`{field}` of {} {} is invalid or missing; this evaluation is skipped",
        doc.kind,
        crate::finding::quoted(&doc.id)
    );
    if f.skipped.is_none() {
        f.skipped = Some(Skipped {
            document: index,
            field: field.to_string(),
            reported_before: f.reported.len(),
        });
    }
    message.into()
}

/// The error for a field name neither the document nor its kind's schema has, with the
/// closest known name when it looks like a typo (`quantty` → `quantity`).
fn unknown_field(f: &Frame, doc: &crate::repository::Document, key: &str) -> String {
    let present = doc
        .value
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys().map(String::as_str));
    let known = f.shared.known_fields[doc.kind as usize]
        .iter()
        .map(String::as_str);
    let mut message = format!("unknown field `{key}` of a {} document", doc.kind);
    if let Some(close) = crate::suggest::closest(key, known.chain(present)) {
        message.push_str(&format!("; did you mean `{close}`?"));
    }
    message
}

impl DocumentValue {
    fn field(&self, key: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        frame(|f| {
            let doc = f.shared.repo.get(self.0);
            if doc.is_invalid(key) {
                return Err(skip(f, self.0, key));
            }
            match doc.value.get(key) {
                Some(value) => Ok(to_dynamic(value)),
                None if f.shared.is_known(doc.kind, key) => Ok(Dynamic::UNIT),
                None => Err(unknown_field(f, doc, key).into()),
            }
        })?
    }

    /// A field read the cheap way, for the property getters: `None` whenever [`Self::field`]
    /// would do anything but return a value (an invalid field, an unknown name, no frame), so
    /// that the caller falls back to the indexer and every error, side effect and position
    /// stays exactly what the indexer gives.
    fn field_if_clean(&self, key: &str) -> Option<Dynamic> {
        frame(|f| {
            let doc = f.shared.repo.get(self.0);
            if doc.is_invalid(key) {
                return None;
            }
            match doc.value.get(key) {
                Some(value) => Some(to_dynamic(value)),
                None if f.shared.is_known(doc.kind, key) => Some(Dynamic::UNIT),
                None => None,
            }
        })
        .ok()
        .flatten()
    }

    /// A field for messages and related locations (`()` when absent).
    fn text(&self, key: &str) -> Dynamic {
        self.field(key).unwrap_or(Dynamic::UNIT)
    }

    /// Whether the document has `key`; asking about an invalid field skips the evaluation.
    fn has(&self, key: &str) -> Result<bool, Box<EvalAltResult>> {
        frame(|f| {
            let doc = f.shared.repo.get(self.0);
            if doc.is_invalid(key) {
                return Err(skip(f, self.0, key));
            }
            Ok(doc.value.get(key).is_some())
        })?
    }

    fn keys(&self) -> Array {
        frame(|f| {
            let doc = f.shared.repo.get(self.0);
            let mut names: Vec<&str> = doc
                .value
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            names.extend(
                f.shared.known_fields[doc.kind as usize]
                    .iter()
                    .map(String::as_str),
            );
            names.sort_unstable();
            names.dedup();
            names
                .into_iter()
                .map(|n| Dynamic::from(ImmutableString::from(n)))
                .collect()
        })
        .unwrap_or_default()
    }

    fn label(&self) -> String {
        frame(|f| {
            let doc = f.shared.repo.get(self.0);
            format!("{} {}", doc.kind, doc.id)
        })
        .unwrap_or_default()
    }
}

impl Shared {
    /// Whether `kind`'s schema declares `field`.
    pub(super) fn is_known(&self, kind: Kind, field: &str) -> bool {
        self.known_fields[kind as usize]
            .binary_search_by(|f| f.as_str().cmp(field))
            .is_ok()
    }

    /// The document a script may see, or `()` for one that failed to load (a loader error or
    /// a schema that could not be used): a policy never sees half-read data. A document with
    /// schema errors or dangling references is visible; reading one of its invalid fields
    /// skips the evaluation (see [`Skipped`]).
    fn visible(&self, index: DocIndex) -> Option<DocumentValue> {
        self.repo
            .get(index)
            .checkable
            .then_some(DocumentValue(index))
    }
}

/// The document at `index` as a policy argument.
pub fn document_value(index: DocIndex) -> Dynamic {
    Dynamic::from(DocumentValue(index))
}

fn doc_at(shared: &Shared, index: DocIndex) -> Dynamic {
    shared.visible(index).map_or(Dynamic::UNIT, Dynamic::from)
}

/// The visible documents at `indexes` (see [`Shared::visible`]).
fn docs_at(shared: &Shared, indexes: &[DocIndex]) -> Array {
    indexes
        .iter()
        .filter_map(|&i| shared.visible(i))
        .map(Dynamic::from)
        .collect()
}

fn parse_kind(kind: &str) -> Result<Kind, Box<EvalAltResult>> {
    Kind::parse(kind).ok_or_else(|| format!("unknown kind `{kind}`").into())
}

fn date_arg(text: &str) -> Result<jiff::civil::Date, Box<EvalAltResult>> {
    dates::parse_date(text).ok_or_else(|| format!("`{text}` is not a date (YYYY-MM-DD)").into())
}

fn date_out(date: Option<jiff::civil::Date>) -> Dynamic {
    date.map_or(Dynamic::UNIT, |d| {
        Dynamic::from(ImmutableString::from(d.to_string()))
    })
}

fn report_line(context: &NativeCallContext) -> u16 {
    context.call_position().line().unwrap_or(0) as u16
}

/// Most related locations one report may name: each becomes a labelled snippet in every
/// format, so a script must not be able to attach 100,000 of them (the array limit) to each
/// finding.
pub const MAX_RELATED: usize = 32;

fn related_refs(related: Array) -> Result<Vec<RelatedRef>, Box<EvalAltResult>> {
    if related.len() > MAX_RELATED {
        return Err(format!(
            "a report names {} related locations; at most {MAX_RELATED} are allowed",
            related.len()
        )
        .into());
    }
    related
        .into_iter()
        .map(|item| {
            let map = item.try_cast::<Map>().ok_or_else(|| {
                Box::<EvalAltResult>::from(
                    "related locations must be made with `at(doc, pointer, message)`",
                )
            })?;
            let text = |key: &str| {
                map.get(key)
                    .map(|v| super::guard::display_capped(v, MAX_REPORT_TEXT))
                    .unwrap_or_default()
            };
            let carried = map
                .get("document")
                .and_then(|d| d.clone().try_cast::<DocumentValue>());
            let document = match carried {
                Some(doc) => Some(doc.0),
                None => {
                    let (kind, id) = (Kind::parse(&text("kind")), text("id"));
                    match kind {
                        Some(kind) => frame(|f| {
                            f.read(|| ReadKey::Find(kind, id.as_str().into()));
                            f.shared.repo.find(kind, &id)
                        })?,
                        None => None,
                    }
                }
            };
            Ok(RelatedRef {
                document,
                pointer: text("pointer"),
                message: text("message"),
            })
        })
        .collect()
}

/// The text fields of a report, by position or from the map form.
struct ReportArgs<'a> {
    pointer: &'a str,
    message: &'a str,
    label: Option<&'a str>,
    help: Option<&'a str>,
    rule: Option<&'a str>,
}

fn report_args<'a>(pointer: &'a str, message: &'a str, help: Option<&'a str>) -> ReportArgs<'a> {
    ReportArgs {
        pointer,
        message,
        label: None,
        help,
        rule: None,
    }
}

/// The keys of the map form `report(#{pointer, message, label, help, related, rule})`.
const REPORT_KEYS: &[&str] = &["pointer", "message", "label", "help", "related", "rule"];

/// Reports from the map form: `message` is required, every other key optional; an unknown key
/// is an error, so a typo (`lable`) never silently drops the label.
fn push_report_map(
    context: &NativeCallContext,
    severity: Option<Severity>,
    map: Map,
) -> Result<(), Box<EvalAltResult>> {
    for key in map.keys() {
        if !REPORT_KEYS.contains(&key.as_str()) {
            let mut message = format!("unknown report key `{key}`");
            if let Some(close) = crate::suggest::closest(key, REPORT_KEYS.iter().copied()) {
                message.push_str(&format!("; did you mean `{close}`?"));
            }
            return Err(message.into());
        }
    }
    let text = |key: &str| -> Result<Option<ImmutableString>, Box<EvalAltResult>> {
        match map.get(key) {
            None => Ok(None),
            Some(v) if v.is_unit() => Ok(None),
            Some(v) => v
                .clone()
                .into_immutable_string()
                .map(Some)
                .map_err(|t| format!("report key `{key}` must be a string, not {t}").into()),
        }
    };
    let message = text("message")?.ok_or_else(|| {
        Box::<EvalAltResult>::from("a report needs a `message`: `report(#{message: \"…\"})`")
    })?;
    let (pointer, label, help) = (text("pointer")?, text("label")?, text("help")?);
    let rule = text("rule")?;
    let related = match map.get("related") {
        None => Array::new(),
        Some(v) if v.is_unit() => Array::new(),
        Some(v) => v.clone().into_array().map_err(|t| {
            Box::<EvalAltResult>::from(format!("report key `related` must be a list, not {t}"))
        })?,
    };
    let args = ReportArgs {
        pointer: pointer.as_deref().unwrap_or(""),
        message: &message,
        label: label.as_deref(),
        help: help.as_deref(),
        rule: rule.as_deref(),
    };
    push_report(context, severity, args, related)
}

fn push_report(
    context: &NativeCallContext,
    severity: Option<Severity>,
    args: ReportArgs<'_>,
    related: Array,
) -> Result<(), Box<EvalAltResult>> {
    let ReportArgs {
        pointer,
        message,
        label,
        help,
        rule,
    } = args;
    if !(pointer.is_empty() || pointer.starts_with('/')) {
        return Err(format!("pointer `{pointer}` must be empty or start with `/`").into());
    }
    let rule = match rule {
        None => None,
        Some(rule) => declared_rule(rule)?,
    };
    let related = related_refs(related)?;
    let line = report_line(context);
    frame(|f| {
        if f.reached.last() != Some(&line) {
            f.reached.push(line);
        }
        if f.reported.len() >= f.report_cap {
            f.dropped += 1;
            return;
        }
        f.reported.push(Reported {
            severity,
            pointer: bounded(pointer),
            message: bounded(message),
            label: label.filter(|l| !l.is_empty()).map(bounded),
            help: help.map(bounded),
            related,
            rule,
        });
    })
}

/// The sub-rule a report names, checked against the ids the running policy declares: `None`
/// for the policy's own id, an error (with did-you-mean) for an id it does not declare.
fn declared_rule(rule: &str) -> Result<Option<String>, Box<EvalAltResult>> {
    let policy = super::thread::current_policy();
    let declared: Vec<String> = frame(|f| {
        policy
            .and_then(|p| f.shared.rule_ids.get(p))
            .cloned()
            .unwrap_or_default()
    })?;
    match declared.iter().position(|id| id == rule) {
        Some(0) => Ok(None),
        Some(_) => Ok(Some(rule.to_string())),
        None => {
            let mut message = format!("report rule `{rule}` is not declared by this policy");
            let subs = declared.iter().skip(1).map(String::as_str);
            let by_slug = declared
                .iter()
                .skip(1)
                .find(|id| id.ends_with(&format!(".{rule}")));
            if let Some(close) = by_slug
                .map(String::as_str)
                .or_else(|| crate::suggest::closest(rule, subs))
            {
                message.push_str(&format!("; did you mean `{close}`?"));
            } else if let Some(own) = declared.first() {
                message.push_str(&format!(
                    "; declare it in the header (`//! subrule: {own}.<slug>: <severity>: <title>`)"
                ));
            }
            Err(message.into())
        }
    }
}

fn setting(name: &str) -> Result<Dynamic, Box<EvalAltResult>> {
    let found = frame(|f| f.shared.settings.get(name).cloned())?;
    found.ok_or_else(|| format!("unknown setting `{name}`: declare it in the policy header (`//! setting: {name} = default — description`)").into())
}

/// Registers the policy API on the engine.
pub fn register(engine: &mut Engine) {
    // Reporting.
    engine.register_fn(
        "report",
        |ctx: NativeCallContext, pointer: &str, message: &str| {
            push_report(
                &ctx,
                None,
                report_args(pointer, message, None),
                Array::new(),
            )
        },
    );
    engine.register_fn(
        "report",
        |ctx: NativeCallContext, pointer: &str, message: &str, help: &str| {
            push_report(
                &ctx,
                None,
                report_args(pointer, message, Some(help)),
                Array::new(),
            )
        },
    );
    engine.register_fn(
        "report",
        |ctx: NativeCallContext, pointer: &str, message: &str, help: &str, related: Array| {
            push_report(
                &ctx,
                None,
                report_args(pointer, message, Some(help)),
                related,
            )
        },
    );
    engine.register_fn(
        "report_warning",
        |ctx: NativeCallContext, pointer: &str, message: &str, help: &str| {
            push_report(
                &ctx,
                Some(Severity::Warning),
                report_args(pointer, message, Some(help)),
                Array::new(),
            )
        },
    );
    engine.register_fn(
        "report_warning",
        |ctx: NativeCallContext, pointer: &str, message: &str, help: &str, related: Array| {
            push_report(
                &ctx,
                Some(Severity::Warning),
                report_args(pointer, message, Some(help)),
                related,
            )
        },
    );
    engine.register_fn(
        "report_info",
        |ctx: NativeCallContext, pointer: &str, message: &str, help: &str| {
            push_report(
                &ctx,
                Some(Severity::Info),
                report_args(pointer, message, Some(help)),
                Array::new(),
            )
        },
    );
    engine.register_fn(
        "report_info",
        |ctx: NativeCallContext, pointer: &str, message: &str, help: &str, related: Array| {
            push_report(
                &ctx,
                Some(Severity::Info),
                report_args(pointer, message, Some(help)),
                related,
            )
        },
    );
    // The map form, which also takes a label.
    engine.register_fn("report", |ctx: NativeCallContext, map: Map| {
        push_report_map(&ctx, None, map)
    });
    engine.register_fn("report_warning", |ctx: NativeCallContext, map: Map| {
        push_report_map(&ctx, Some(Severity::Warning), map)
    });
    engine.register_fn("report_info", |ctx: NativeCallContext, map: Map| {
        push_report_map(&ctx, Some(Severity::Info), map)
    });
    // `report` takes the severity the rule (or its sub-rule) declares; a script that must
    // report an error whatever the declared severity (a setting chooses it) says so.
    engine.register_fn("report_error", |ctx: NativeCallContext, map: Map| {
        push_report_map(&ctx, Some(Severity::Error), map)
    });
    engine.register_fn(
        "at",
        |doc: DocumentValue, pointer: &str, message: &str| -> Map {
            let mut related = Map::new();
            // The index travels with the location; `kind` and `id` are there for scripts.
            related.insert("document".into(), Dynamic::from(doc));
            related.insert("kind".into(), doc.text("kind"));
            related.insert("id".into(), doc.text("id"));
            related.insert(
                "pointer".into(),
                Dynamic::from(ImmutableString::from(pointer)),
            );
            related.insert(
                "message".into(),
                Dynamic::from(ImmutableString::from(message)),
            );
            related
        },
    );

    // Documents: read-only values with field access by name.
    engine.register_type_with_name::<DocumentValue>("Document");
    engine.register_indexer_get(|doc: &mut DocumentValue, key: &str| doc.field(key));
    engine.register_fn("contains", |doc: &mut DocumentValue, key: &str| {
        doc.has(key)
    });
    engine.register_fn("keys", |doc: &mut DocumentValue| doc.keys());
    engine.register_fn("to_string", |doc: &mut DocumentValue| doc.label());
    engine.register_fn("to_debug", |doc: &mut DocumentValue| doc.label());
    engine.register_fn("==", |a: DocumentValue, b: DocumentValue| a == b);
    engine.register_fn("!=", |a: DocumentValue, b: DocumentValue| a != b);

    // Lookups, all through indexes.
    engine.register_fn(
        "find",
        |kind: &str, id: &str| -> Result<Dynamic, Box<EvalAltResult>> {
            let kind = parse_kind(kind)?;
            frame(|f| {
                f.read(|| ReadKey::Find(kind, id.into()));
                f.shared
                    .repo
                    .find(kind, id)
                    .map_or(Dynamic::UNIT, |i| doc_at(&f.shared, i))
            })
        },
    );
    engine.register_fn("find", |_kind: &str, _id: ()| Dynamic::UNIT);
    let by_customer = |kind: Kind| {
        move |customer: &str| -> Result<Array, Box<EvalAltResult>> {
            frame(|f| {
                f.read(|| ReadKey::ForCustomer(kind, customer.into()));
                docs_at(&f.shared, f.shared.repo.for_customer(kind, customer))
            })
        }
    };
    engine.register_fn(
        "reseller_relationships_of",
        by_customer(Kind::ResellerRelationship),
    );
    engine.register_fn("delegated_admins_of", by_customer(Kind::DelegatedAdmin));
    engine.register_fn("subscriptions_of", by_customer(Kind::Subscription));
    engine.register_fn("transfers_of", by_customer(Kind::Transfer));
    let by_partner = |kind: Kind, field: &'static str| {
        move |partner: &str| -> Result<Array, Box<EvalAltResult>> {
            frame(|f| {
                f.read(|| ReadKey::NamingPartner(kind, field.into(), partner.into()));
                docs_at(
                    &f.shared,
                    f.shared.repo.documents_naming_partner(kind, field, partner),
                )
            })
        }
    };
    engine.register_fn(
        "relationships_of_partner",
        by_partner(Kind::ResellerRelationship, "partner"),
    );
    engine.register_fn(
        "relationships_via_provider",
        by_partner(Kind::ResellerRelationship, "via_indirect_provider"),
    );
    engine.register_fn(
        "delegated_admins_of_partner",
        by_partner(Kind::DelegatedAdmin, "partner"),
    );
    engine.register_fn(
        "partnerships_of_provider",
        by_partner(Kind::IndirectPartnership, "provider"),
    );
    engine.register_fn(
        "partnerships_of_reseller",
        by_partner(Kind::IndirectPartnership, "reseller"),
    );
    engine.register_fn(
        "subscriptions_sold_by",
        by_partner(Kind::Subscription, "partner_of_record"),
    );
    engine.register_fn(
        "subscriptions_managed_by",
        by_partner(Kind::Subscription, "managed_by"),
    );
    engine.register_fn(
        "customers_owned_by",
        by_partner(Kind::Customer, "owned_by_partner"),
    );
    engine.register_fn(
        "partners_with_partner_id",
        |partner_id: &str| -> Result<Array, Box<EvalAltResult>> {
            frame(|f| {
                f.read(|| ReadKey::PartnerId(partner_id.into()));
                docs_at(
                    &f.shared,
                    f.shared.repo.partners_with_partner_id(partner_id),
                )
            })
        },
    );
    engine.register_fn(
        "partners_with_tenant",
        |tenant: &str| -> Result<Array, Box<EvalAltResult>> {
            frame(|f| {
                f.read(|| ReadKey::Tenant(Kind::Partner, tenant.into()));
                docs_at(&f.shared, f.shared.repo.with_tenant(Kind::Partner, tenant))
            })
        },
    );
    engine.register_fn(
        "customers_with_tenant",
        |tenant: &str| -> Result<Array, Box<EvalAltResult>> {
            frame(|f| {
                f.read(|| ReadKey::Tenant(Kind::Customer, tenant.into()));
                docs_at(&f.shared, f.shared.repo.with_tenant(Kind::Customer, tenant))
            })
        },
    );
    engine.register_fn(
        "subscriptions_with_subscription_id",
        |guid: &str| -> Result<Array, Box<EvalAltResult>> {
            frame(|f| {
                f.read(|| ReadKey::SubscriptionGuid(guid.into()));
                docs_at(&f.shared, f.shared.repo.subscriptions_with_guid(guid))
            })
        },
    );
    engine.register_fn(
        "replacements_of",
        |subscription: &str| -> Result<Array, Box<EvalAltResult>> {
            frame(|f| {
                f.read(|| ReadKey::Replacements(subscription.into()));
                docs_at(&f.shared, f.shared.repo.replacements_of(subscription))
            })
        },
    );
    engine.register_fn(
        "transfers_of_subscription",
        |subscription: &str| -> Result<Array, Box<EvalAltResult>> {
            frame(|f| {
                f.read(|| ReadKey::TransfersOf(subscription.into()));
                docs_at(&f.shared, f.shared.repo.transfers_of(subscription))
            })
        },
    );

    // Dates: ISO strings in, ISO strings out; `()` for "no such date".
    engine.register_fn(
        "today",
        || -> Result<ImmutableString, Box<EvalAltResult>> {
            frame(|f| f.shared.as_of_text.clone())
        },
    );
    engine.register_fn("is_date", |text: &str| dates::parse_date(text).is_some());
    engine.register_fn("is_date", |_: ()| false);
    engine.register_fn("parse_date", |text: &str| date_out(dates::parse_date(text)));
    engine.register_fn("parse_date", |_: ()| Dynamic::UNIT);
    engine.register_fn(
        "days_between",
        |from: &str, to: &str| -> Result<i64, Box<EvalAltResult>> {
            Ok(dates::days_between(date_arg(from)?, date_arg(to)?))
        },
    );
    engine.register_fn(
        "add_days",
        |date: &str, days: i64| -> Result<Dynamic, Box<EvalAltResult>> {
            Ok(date_out(dates::add_days(date_arg(date)?, days)))
        },
    );
    engine.register_fn(
        "add_months",
        |date: &str, months: i64| -> Result<Dynamic, Box<EvalAltResult>> {
            Ok(date_out(dates::add_months(date_arg(date)?, months)))
        },
    );
    engine.register_fn(
        "add_duration",
        |date: &str, duration: &str| -> Result<Dynamic, Box<EvalAltResult>> {
            let span = dates::parse_duration(duration).ok_or_else(|| {
                Box::<EvalAltResult>::from(format!("`{duration}` is not an ISO 8601 duration"))
            })?;
            Ok(date_out(dates::add_duration(date_arg(date)?, span)))
        },
    );
    engine.register_fn("duration_days", |duration: &str| -> Dynamic {
        dates::parse_duration(duration).map_or(Dynamic::UNIT, |span| {
            Dynamic::from_int(dates::duration_days(span))
        })
    });
    engine.register_fn("is_duration", |duration: &str| {
        dates::parse_duration(duration).is_some()
    });

    // Markets (MC016, MC017).
    engine.register_fn("market_of", |country: &str| -> Dynamic {
        crate::markets::market_of(country).map_or(Dynamic::UNIT, |m| {
            Dynamic::from(ImmutableString::from(m.name))
        })
    });
    engine.register_fn(
        "same_market",
        |partner_country: &str, tenant_country: &str| -> Dynamic {
            crate::markets::can_sell_to(partner_country, tenant_country)
                .map_or(Dynamic::UNIT, Dynamic::from_bool)
        },
    );

    // Settings declared in policy headers, overridable in channelguard.yaml.
    engine.register_fn("setting", |name: &str| setting(name));

    // Small helpers that keep policies readable.
    // `q(value)` quotes a user value in backticks for a message (`requested`); control
    // characters are escaped so data cannot inject terminal sequences or workflow commands.
    engine.register_fn("q", |value: Dynamic| -> String {
        let text = if value.is_unit() {
            "null".to_string()
        } else {
            // Capped: `Display` writes out what closures captured (guard.rs).
            super::guard::display_capped(&value, MAX_REPORT_TEXT)
        };
        crate::finding::quoted(&text)
    });
    engine.register_fn("lower", |text: &str| text.to_lowercase());
    engine.register_fn("same_guid", |a: &str, b: &str| a.eq_ignore_ascii_case(b));
    engine.register_fn("has", |map: Map, key: &str| {
        map.get(key).is_some_and(|v| !v.is_unit())
    });
    engine.register_fn("has", |doc: DocumentValue, key: &str| doc.has(key));
}

/// The names the scripts read with dot syntax (`doc.status`, `p?.csp_role`): every identifier
/// after a `.` that is not a method call. Over-approximate on purpose (a name in a comment or a
/// string costs one unused getter); a name it misses is still read, through the indexer.
pub fn property_names(text: &str) -> std::collections::BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut names = std::collections::BTreeSet::new();
    let mut at = 0;
    while let Some(dot) = text[at..].find('.').map(|d| at + d) {
        let mut start = dot + 1;
        while start < bytes.len() && bytes[start].is_ascii_whitespace() {
            start += 1;
        }
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        at = end.max(dot + 1);
        if end == start || bytes[start].is_ascii_digit() {
            continue;
        }
        let mut next = end;
        while next < bytes.len() && bytes[next].is_ascii_whitespace() {
            next += 1;
        }
        if bytes.get(next) != Some(&b'(') {
            names.insert(text[start..end].to_string());
        }
    }
    names
}

/// Registers a property getter on documents for each of `names`. Without one, Rhai looks for a
/// getter, fails, formats an error message, and only then calls the indexer: that miss cost
/// more than the read itself. A getter serves only clean reads; anything else (an invalid or
/// unknown field) fails it with the error Rhai treats as "no such getter", so the indexer
/// runs exactly as before: same messages, same positions, same skips.
pub fn register_field_getters<'a>(engine: &mut Engine, names: impl IntoIterator<Item = &'a str>) {
    for name in names {
        let key = ImmutableString::from(name);
        engine.register_get(
            name,
            move |doc: &mut DocumentValue| -> Result<Dynamic, Box<EvalAltResult>> {
                doc.field_if_clean(&key).ok_or_else(|| {
                    EvalAltResult::ErrorDotExpr(String::new(), Position::NONE).into()
                })
            },
        );
    }
}

/// Position of a runtime error inside the script, if known.
pub fn error_position(error: &EvalAltResult) -> Position {
    let mut current = error;
    // Errors raised inside a script function carry the call site; the innermost is the cause.
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _) = current {
        current = inner;
    }
    current.position()
}

#[cfg(test)]
mod tests {
    //! Every exported function on a tiny repository: one indirect provider, one reseller, and
    //! a customer with a relationship, a delegated admin, two subscriptions and a transfer.

    use super::*;
    use crate::limits::Limits;
    use crate::policy::thread::with_frame;
    use crate::repository::Document;
    use crate::source::FileId;

    const DOCS: &[(Kind, &str)] = &[
        (Kind::Partner, "id: p-dist\npartner_id: \"1000001\"\ntenant_id: 00000000-0000-4000-8000-00000000000A\ncountry: US\n"),
        (Kind::Partner, "id: p-res\npartner_id: \"1000002\"\ntenant_id: 00000000-0000-4000-8000-00000000000B\ncountry: DE\n"),
        (Kind::Customer, "id: c1\nowned_by_partner: p-res\ntenant_id: 00000000-0000-4000-8000-00000000000C\nname: Contoso\n"),
        (Kind::ResellerRelationship, "id: rr1\npartner: p-res\ncustomer: c1\nvia_indirect_provider: p-dist\nstatus: accepted\n"),
        (Kind::IndirectPartnership, "id: ip1\nprovider: p-dist\nreseller: p-res\n"),
        (Kind::DelegatedAdmin, "id: da1\npartner: p-res\ncustomer: c1\n"),
        (Kind::Subscription, "id: s1\ncustomer: c1\npartner_of_record: p-res\nmanaged_by: p-dist\nsubscription_id: 11111111-2222-4333-8444-555555555555\n"),
        (Kind::Subscription, "id: s2\ncustomer: c1\npartner_of_record: p-res\nreplaces: s1\n"),
        (Kind::Transfer, "id: t1\ncustomer: c1\nsubscriptions: [s1]\nsource_partner: p-res\ntarget_partner: p-dist\n"),
    ];

    fn shared() -> Arc<Shared> {
        shared_with(|_| {}, HashMap::new())
    }

    /// The fixture with `edit` applied to each document, and `grace_days = 30` set, plus `extra`.
    fn shared_with(edit: impl Fn(&mut Document), extra: HashMap<String, Dynamic>) -> Arc<Shared> {
        let documents: Vec<Document> = DOCS
            .iter()
            .map(|(kind, text)| {
                let mut loaded = crate::yaml::load(text, 0, FileId(0), &Limits::default());
                let doc = loaded.documents.remove(0);
                let mut doc = Document::sound(FileId(0), *kind, doc);
                edit(&mut doc);
                doc
            })
            .collect();
        let mut known_fields = vec![Vec::new(); Kind::ALL.len()];
        known_fields[Kind::Customer as usize] = vec!["notes".to_string()];
        let mut settings = extra;
        settings.insert("grace_days".to_string(), Dynamic::from_int(30));
        Arc::new(Shared {
            repo: Arc::new(Repository::new(documents)),
            known_fields,
            as_of: jiff::civil::date(2024, 6, 30),
            as_of_text: ImmutableString::from("2024-06-30"),
            settings,
            rule_ids: Vec::new(),
        })
    }

    fn run_in(shared: &Arc<Shared>, script: &str) -> (Result<Dynamic, String>, Collected) {
        let mut engine = super::super::engine::build(&Limits::default());
        register(&mut engine);
        with_frame(shared, 100, || {
            engine.eval::<Dynamic>(script).map_err(|e| e.to_string())
        })
    }

    /// Evaluates `script` in a frame with `doc` bound to the document `doc_id` (any kind).
    fn eval_on(doc_id: &str, script: &str) -> (Result<Dynamic, String>, Collected) {
        let shared = shared();
        let mut engine = super::super::engine::build(&Limits::default());
        register(&mut engine);
        let index = (0..shared.repo.documents.len() as DocIndex)
            .find(|&i| &*shared.repo.get(i).id == doc_id)
            .expect("a document of the fixture");
        with_frame(&shared, 100, || {
            let mut scope = rhai::Scope::new();
            scope.push("doc", document_value(index));
            engine
                .eval_with_scope::<Dynamic>(&mut scope, script)
                .map_err(|e| e.to_string())
        })
    }

    fn eval(script: &str) -> Dynamic {
        eval_on("c1", script)
            .0
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// The sorted ids of the documents a list lookup returns.
    fn ids(lookup: &str) -> Vec<String> {
        let array = eval(&format!(
            "let out = []; for d in {lookup} {{ out.push(d.id); }} out"
        ))
        .into_array()
        .unwrap();
        let mut ids: Vec<String> = array.into_iter().map(|d| d.to_string()).collect();
        ids.sort();
        ids
    }

    fn text(script: &str) -> String {
        eval(script).to_string()
    }

    #[test]
    fn list_lookups_go_through_the_indexes() {
        let cases: &[(&str, &[&str])] = &[
            ("reseller_relationships_of(\"c1\")", &["rr1"]),
            ("delegated_admins_of(\"c1\")", &["da1"]),
            ("subscriptions_of(\"c1\")", &["s1", "s2"]),
            ("transfers_of(\"c1\")", &["t1"]),
            ("relationships_of_partner(\"p-res\")", &["rr1"]),
            ("relationships_via_provider(\"p-dist\")", &["rr1"]),
            ("relationships_via_provider(\"p-res\")", &[]),
            ("delegated_admins_of_partner(\"p-res\")", &["da1"]),
            ("partnerships_of_provider(\"p-dist\")", &["ip1"]),
            ("partnerships_of_reseller(\"p-res\")", &["ip1"]),
            ("partnerships_of_reseller(\"p-dist\")", &[]),
            ("subscriptions_sold_by(\"p-res\")", &["s1", "s2"]),
            ("subscriptions_managed_by(\"p-dist\")", &["s1"]),
            ("customers_owned_by(\"p-res\")", &["c1"]),
            ("customers_owned_by(\"p-dist\")", &[]),
            ("partners_with_partner_id(\"1000002\")", &["p-res"]),
            (
                "partners_with_tenant(\"00000000-0000-4000-8000-00000000000a\")",
                &["p-dist"],
            ),
            (
                "customers_with_tenant(\"00000000-0000-4000-8000-00000000000C\")",
                &["c1"],
            ),
            (
                "subscriptions_with_subscription_id(\"11111111-2222-4333-8444-555555555555\")",
                &["s1"],
            ),
            ("replacements_of(\"s1\")", &["s2"]),
            ("transfers_of_subscription(\"s1\")", &["t1"]),
            ("transfers_of_subscription(\"s2\")", &[]),
        ];
        for (lookup, expected) in cases {
            assert_eq!(ids(lookup), *expected, "{lookup}");
        }
    }

    #[test]
    fn find_returns_one_document_or_unit() {
        assert_eq!(text("find(\"Partner\", \"p-res\").id"), "p-res");
        assert!(eval("find(\"Partner\", \"nobody\")").is_unit());
        assert!(eval("find(\"Partner\", ())").is_unit());
        let (error, _) = eval_on("c1", "find(\"Nation\", \"x\")");
        assert!(error.unwrap_err().contains("unknown kind `Nation`"));
    }

    #[test]
    fn lookups_hide_documents_that_failed_to_load() {
        let hidden = shared_with(|d| d.checkable = d.kind != Kind::Customer, HashMap::new());
        let (result, _) = run_in(
            &hidden,
            "[find(\"Customer\", \"c1\"), customers_owned_by(\"p-res\").len()]",
        );
        let result = result.unwrap().into_array().unwrap();
        assert!(result[0].is_unit());
        assert_eq!(result[1].as_int(), Ok(0));
    }

    #[test]
    fn documents_read_fields_by_name_and_are_read_only() {
        assert_eq!(text("doc.name"), "Contoso");
        assert_eq!(text("doc[\"name\"]"), "Contoso");
        // Declared by the kind's schema but absent: `()`.
        assert!(eval("doc.notes").is_unit());
        let (error, _) = eval_on("c1", "doc.nmae");
        let error = error.unwrap_err();
        assert!(error.contains("unknown field `nmae`"), "{error}");
        assert!(error.contains("did you mean `name`?"), "{error}");
        assert!(eval("doc.contains(\"name\")").as_bool().unwrap());
        assert!(!eval("doc.contains(\"notes\")").as_bool().unwrap());
        assert!(eval("has(doc, \"tenant_id\")").as_bool().unwrap());
        assert_eq!(
            text("doc.keys()"),
            "[\"id\", \"name\", \"notes\", \"owned_by_partner\", \"tenant_id\"]"
        );
        assert_eq!(text("doc.to_string()"), "Customer c1");
        assert!(eval("doc == find(\"Customer\", \"c1\")").as_bool().unwrap());
        assert!(eval("doc != find(\"Partner\", \"p-res\")")
            .as_bool()
            .unwrap());
        let (error, _) = eval_on("c1", "doc.name = \"x\"");
        assert!(error.is_err());
    }

    #[test]
    fn reading_an_invalid_field_skips_the_evaluation() {
        let invalid = shared_with(
            |d| {
                if &*d.id == "c1" {
                    d.mark_invalid("tenant_id");
                }
            },
            HashMap::new(),
        );
        let (result, collected) = run_in(
            &invalid,
            "report(\"\", \"before\"); let c = find(\"Customer\", \"c1\"); c.tenant_id",
        );
        assert!(result.unwrap_err().contains("is invalid or missing"));
        let skipped = collected.skipped.expect("skipped");
        assert_eq!(
            (skipped.field.as_str(), skipped.reported_before),
            ("tenant_id", 1)
        );
        assert_eq!(&*invalid.repo.get(skipped.document).id, "c1");
    }

    #[test]
    fn reports_carry_severity_help_and_related_documents() {
        let (result, collected) = eval_on(
            "s1",
            "report(\"/customer\", \"plain\");\n\
             report(\"/customer\", \"with help\", \"do this\");\n\
             report_warning(\"/id\", \"soft\", \"h\");\n\
             report_info(\"/id\", \"note\", \"h\", [at(find(\"Customer\", \"c1\"), \"/name\", \"here\")]);\n\
             report(\"\", \"by hand\", \"\", [#{kind: \"Partner\", id: \"p-res\", pointer: \"/id\", message: \"m\"},\n\
                                            #{kind: \"Nation\", id: \"x\", pointer: \"\", message: \"dropped\"}]);",
        );
        let _ = result.unwrap();
        let r = &collected.reported;
        assert_eq!(r.len(), 5);
        assert_eq!((r[0].severity, r[0].help.as_deref()), (None, None));
        assert_eq!(r[1].help.as_deref(), Some("do this"));
        assert_eq!(r[2].severity, Some(Severity::Warning));
        assert_eq!(r[3].severity, Some(Severity::Info));
        let shared = shared();
        let repo = &shared.repo;
        // `at` carries the document's index; a hand-written map is looked up once.
        let related = &r[3].related[0];
        let c1 = repo.find(Kind::Customer, "c1");
        assert_eq!((related.document, related.pointer.as_str()), (c1, "/name"));
        assert_eq!(related.message, "here");
        assert_eq!(r[4].related[0].document, repo.find(Kind::Partner, "p-res"));
        assert_eq!(r[4].related[1].document, None);
        assert_eq!(collected.reached, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn the_map_form_takes_a_label_and_rejects_unknown_keys() {
        let (result, collected) = eval_on(
            "s1",
            "report(#{pointer: \"/customer\", label: \"no relationship\", message: \"m\"});\n\
             report_warning(#{message: \"w\", help: \"h\", related: [at(doc, \"/id\", \"r\")]});\n\
             report_info(#{message: \"i\", label: ()});\n\
             report(\"/id\", \"positional\");",
        );
        let _ = result.unwrap();
        let r = &collected.reported;
        assert_eq!(r.len(), 4);
        assert_eq!(
            (
                r[0].pointer.as_str(),
                r[0].label.as_deref(),
                r[0].message.as_str()
            ),
            ("/customer", Some("no relationship"), "m")
        );
        assert_eq!(
            (r[1].severity, r[1].pointer.as_str()),
            (Some(Severity::Warning), "")
        );
        assert_eq!((r[1].help.as_deref(), r[1].related.len()), (Some("h"), 1));
        assert_eq!(
            (r[2].severity, r[2].label.as_deref()),
            (Some(Severity::Info), None)
        );
        assert_eq!(r[3].label, None);
        let (error, _) = eval_on("c1", "report(#{message: \"m\", lable: \"x\"})");
        let error = error.unwrap_err();
        assert!(
            error.contains("unknown report key `lable`; did you mean `label`?"),
            "{error}"
        );
        let (error, _) = eval_on("c1", "report(#{label: \"x\"})");
        assert!(error.unwrap_err().contains("a report needs a `message`"));
        let (error, _) = eval_on("c1", "report(#{message: \"m\", label: 3})");
        assert!(error.unwrap_err().contains("`label` must be a string"));
    }

    #[test]
    fn the_default_label_fits_the_message_and_is_never_the_title() {
        assert_eq!(
            default_label("status is `canceled`"),
            "status is `canceled`"
        );
        let long = "x".repeat(MAX_DEFAULT_LABEL + 1);
        assert_eq!(default_label(&long), "here");
        assert_eq!(
            default_label(&"é".repeat(MAX_DEFAULT_LABEL)),
            "é".repeat(MAX_DEFAULT_LABEL)
        );
        assert_eq!(default_label(""), "here");
    }

    #[test]
    fn reports_are_bounded() {
        let (error, _) = eval_on("c1", "report(\"id\", \"no slash\")");
        assert!(error
            .unwrap_err()
            .contains("must be empty or start with `/`"));
        let (result, collected) = eval_on(
            "c1",
            "let s = \"x\"; s.pad(5000, \"y\"); for i in 0..150 { report(\"\", s); }",
        );
        let _ = result.unwrap();
        assert_eq!((collected.reported.len(), collected.dropped), (100, 50));
        assert!(collected.reported[0].message.ends_with('…'));
        assert!(collected.reported[0].message.len() <= MAX_REPORT_TEXT + 3);
        let (error, _) = eval_on("c1", "report(\"\", \"x\", \"\", [1])");
        assert!(error.unwrap_err().contains("must be made with `at("));
        let (result, collected) = eval_on(
            "c1",
            "let s = \"x\"; s.pad(5000, \"y\"); report(#{message: \"m\", label: s});",
        );
        let _ = result.unwrap();
        let label = collected.reported[0].label.as_deref().unwrap();
        assert!(label.ends_with('…') && label.len() <= MAX_REPORT_TEXT + 3);
    }

    #[test]
    fn dates_are_iso_strings_and_unit_for_no_date() {
        assert_eq!(text("today()"), "2024-06-30");
        assert!(eval("is_date(\"2024-02-29\")").as_bool().unwrap());
        assert!(!eval("is_date(\"2023-02-29\")").as_bool().unwrap());
        assert!(!eval("is_date(())").as_bool().unwrap());
        assert_eq!(text("parse_date(\"2024-01-05\")"), "2024-01-05");
        assert!(eval("parse_date(\"soon\")").is_unit());
        assert!(eval("parse_date(())").is_unit());
        assert_eq!(
            eval("days_between(\"2024-01-01\", \"2024-03-01\")").as_int(),
            Ok(60)
        );
        assert_eq!(text("add_days(\"2024-02-28\", 2)"), "2024-03-01");
        assert_eq!(text("add_months(\"2024-01-31\", 1)"), "2024-02-29");
        assert_eq!(text("add_duration(\"2024-01-01\", \"P1Y\")"), "2025-01-01");
        assert_eq!(eval("duration_days(\"P7D\")").as_int(), Ok(7));
        assert!(eval("duration_days(\"a week\")").is_unit());
        assert!(eval("is_duration(\"PT0S\")").as_bool().unwrap());
        assert!(!eval("is_duration(\"P\")").as_bool().unwrap());
        let (error, _) = eval_on("c1", "days_between(\"2024-01-01\", \"later\")");
        assert!(error.unwrap_err().contains("`later` is not a date"));
        let (error, _) = eval_on("c1", "add_duration(\"2024-01-01\", \"1 year\")");
        assert!(error.unwrap_err().contains("is not an ISO 8601 duration"));
    }

    #[test]
    fn markets_settings_and_helpers() {
        assert!(!eval("market_of(\"US\")").is_unit());
        assert!(eval("market_of(\"XX\")").is_unit());
        assert!(eval("same_market(\"US\", \"GU\")").as_bool().unwrap());
        // An unknown partner country is no market (`()`); an unknown tenant country is outside.
        assert!(eval("same_market(\"XX\", \"US\")").is_unit());
        assert!(!eval("same_market(\"US\", \"XX\")").as_bool().unwrap());
        assert_eq!(eval("setting(\"grace_days\")").as_int(), Ok(30));
        let (error, _) = eval_on("c1", "setting(\"grace\")");
        assert!(error.unwrap_err().contains("unknown setting `grace`"));
        assert_eq!(text("q(\"a\")"), "`a`");
        assert_eq!(text("q(())"), "`null`");
        assert_eq!(text("lower(\"AbC\")"), "abc");
        assert!(eval("same_guid(\"AB-cd\", \"ab-CD\")").as_bool().unwrap());
        assert!(eval("has(#{a: 1}, \"a\")").as_bool().unwrap());
        assert!(!eval("has(#{a: ()}, \"a\")").as_bool().unwrap());
    }

    #[test]
    fn print_and_debug_are_captured_never_written() {
        let (result, collected) = eval_on("c1", "print(\"hello\"); debug(\"x\");");
        let _ = result.unwrap();
        assert_eq!(collected.output, vec!["print: hello", "debug: \"x\""]);
    }

    #[test]
    fn the_api_outside_an_evaluation_is_an_error() {
        let error = super::super::thread::frame(|_| ()).unwrap_err();
        assert!(error.to_string().contains("outside an evaluation"));
    }

    #[test]
    fn error_positions_point_inside_the_failing_function() {
        let mut engine = super::super::engine::build(&Limits::default());
        register(&mut engine);
        let error = engine
            .eval::<Dynamic>("fn f() {\n  throw \"x\";\n}\nf()")
            .unwrap_err();
        assert_eq!(error_position(&error).line(), Some(2));
    }

    #[test]
    fn property_names_are_the_dot_reads() {
        let names = property_names(
            "doc.status != p?.csp_role && xs.filter(|p| p.id) . len() && 0..10 && d .\n name && s.keys ()",
        );
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(names, ["csp_role", "id", "name", "status"]);
    }

    /// The getters are only a faster path: values, errors (message and position) and skips are
    /// those of the indexer, whether or not a getter exists for the name.
    #[test]
    fn field_getters_read_exactly_like_the_indexer() {
        let scripts = [
            "doc.name",
            "doc.notes",
            "doc.owned_by_partner + \"/\" + doc.id",
            "\n  doc.nmae",
            "let c = doc; c .\n  kind",
            "doc.tenant_id",
            "try { doc.tenant_id } catch (e) { e }",
            "doc.name = \"x\"",
        ];
        let invalid = shared_with(
            |d| {
                if &*d.id == "c1" {
                    d.mark_invalid("tenant_id");
                }
            },
            HashMap::new(),
        );
        let index = invalid.repo.find(Kind::Customer, "c1").unwrap();
        for script in scripts {
            let run = |getters: bool| {
                let mut engine = super::super::engine::build(&Limits::default());
                register(&mut engine);
                if getters {
                    let names = property_names(script);
                    assert!(!names.is_empty(), "{script}");
                    register_field_getters(&mut engine, names.iter().map(String::as_str));
                }
                let (result, collected) = with_frame(&invalid, 100, || {
                    let mut scope = rhai::Scope::new();
                    scope.push("doc", document_value(index));
                    engine
                        .eval_with_scope::<Dynamic>(&mut scope, script)
                        .map(|v| v.to_string())
                        .map_err(|e| (e.to_string(), error_position(&e)))
                });
                (result, collected.skipped)
            };
            assert_eq!(run(true), run(false), "{script}");
        }
    }

    #[test]
    fn json_values_convert_to_rhai() {
        let value = serde_json::json!({"a": [1, 2.5, "s", null, true]});
        let dynamic = to_dynamic(&value);
        assert_eq!(dynamic.to_string(), "#{\"a\": [1, 2.5, \"s\", (), true]}");
    }
}
