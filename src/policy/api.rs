//! The functions policies call: lookups through the repository's indexes, date helpers,
//! markets, settings and `report`. This is the scripting contract documented in
//! docs/policy-api.md.
//!
//! Native functions are registered once on the shared engine, so they reach the evaluation
//! they serve through a thread-local [`Frame`] that [`with_frame`] installs around each call.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use rhai::{
    Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, NativeCallContext, Position,
};
use serde_json::Value;

use crate::dates;
use crate::finding::Severity;
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
}

/// A finding reported by a script, before it is located.
#[derive(Clone, Debug)]
pub struct Reported {
    pub severity: Option<Severity>,
    pub pointer: String,
    pub message: String,
    pub help: Option<String>,
    pub related: Vec<RelatedRef>,
    pub line: u16,
}

/// A related location a script named: a document (kind, id), a pointer and a message.
#[derive(Clone, Debug)]
pub struct RelatedRef {
    pub kind: Option<Kind>,
    pub id: String,
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
    pub settings_read: Vec<String>,
    /// Most reports kept; further ones are only counted in `dropped` (a policy may report in
    /// a loop, with messages up to the string limit: memory must stay bounded).
    pub report_cap: usize,
    pub dropped: usize,
    /// The evaluation read a field that is invalid or missing (see [`Skipped`]).
    pub skipped: Option<Skipped>,
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

thread_local! {
    static FRAME: RefCell<Option<Frame>> = const { RefCell::new(None) };
}

/// What one evaluation collected.
#[derive(Default)]
pub struct Collected {
    pub reported: Vec<Reported>,
    pub output: Vec<String>,
    pub reached: Vec<u16>,
    pub settings_read: Vec<String>,
    pub dropped: usize,
    pub skipped: Option<Skipped>,
}

/// Runs `body` in this thread's frame for `shared` and returns what it collected. The frame
/// stays installed between calls on the same worker thread (it is replaced when another run's
/// `shared` comes along): cloning one `Arc` for each of a million evaluations made the two
/// workers contend for its reference count.
pub fn with_frame<T>(
    shared: &Arc<Shared>,
    report_cap: usize,
    body: impl FnOnce() -> T,
) -> (T, Collected) {
    FRAME.with(|f| {
        let mut slot = f.borrow_mut();
        let reuse = slot
            .as_ref()
            .is_some_and(|frame| Arc::ptr_eq(&frame.shared, shared));
        if reuse {
            if let Some(frame) = slot.as_mut() {
                frame.report_cap = report_cap;
            }
        } else {
            *slot = Some(Frame {
                shared: Arc::clone(shared),
                reported: Vec::new(),
                output: Vec::new(),
                reached: Vec::new(),
                settings_read: Vec::new(),
                report_cap,
                dropped: 0,
                skipped: None,
            });
        }
    });
    let result = body();
    let collected = FRAME.with(|f| match f.borrow_mut().as_mut() {
        Some(frame) => Collected {
            reported: std::mem::take(&mut frame.reported),
            output: std::mem::take(&mut frame.output),
            reached: std::mem::take(&mut frame.reached),
            settings_read: std::mem::take(&mut frame.settings_read),
            dropped: std::mem::take(&mut frame.dropped),
            skipped: frame.skipped.take(),
        },
        None => Collected::default(),
    });
    (result, collected)
}

fn frame<T>(body: impl FnOnce(&mut Frame) -> T) -> Result<T, Box<EvalAltResult>> {
    FRAME.with(|f| match f.borrow_mut().as_mut() {
        Some(frame) => Ok(body(frame)),
        None => Err("policy API called outside an evaluation".into()),
    })
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
        crate::finding::code(&doc.id)
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
    fn is_known(&self, kind: Kind, field: &str) -> bool {
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
            Ok(RelatedRef {
                kind: Kind::parse(&text("kind")),
                id: text("id"),
                pointer: text("pointer"),
                message: text("message"),
            })
        })
        .collect()
}

fn push_report(
    context: &NativeCallContext,
    severity: Option<Severity>,
    pointer: &str,
    message: &str,
    help: Option<&str>,
    related: Array,
) -> Result<(), Box<EvalAltResult>> {
    if !(pointer.is_empty() || pointer.starts_with('/')) {
        return Err(format!("pointer `{pointer}` must be empty or start with `/`").into());
    }
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
            help: help.map(bounded),
            related,
            line,
        });
    })
}

fn setting(name: &str) -> Result<Dynamic, Box<EvalAltResult>> {
    let found = frame(|f| {
        f.settings_read.push(name.to_string());
        f.shared.settings.get(name).cloned()
    })?;
    found.ok_or_else(|| format!("unknown setting `{name}`: declare it in the policy header (`//! setting: {name} = default — description`)").into())
}

/// Registers the policy API on the engine.
pub fn register(engine: &mut Engine) {
    // Reporting.
    engine.register_fn(
        "report",
        |ctx: NativeCallContext, pointer: &str, message: &str| {
            push_report(&ctx, None, pointer, message, None, Array::new())
        },
    );
    engine.register_fn(
        "report",
        |ctx: NativeCallContext, pointer: &str, message: &str, help: &str| {
            push_report(&ctx, None, pointer, message, Some(help), Array::new())
        },
    );
    engine.register_fn(
        "report",
        |ctx: NativeCallContext, pointer: &str, message: &str, help: &str, related: Array| {
            push_report(&ctx, None, pointer, message, Some(help), related)
        },
    );
    engine.register_fn(
        "report_warning",
        |ctx: NativeCallContext, pointer: &str, message: &str, help: &str| {
            push_report(
                &ctx,
                Some(Severity::Warning),
                pointer,
                message,
                Some(help),
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
                pointer,
                message,
                Some(help),
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
                pointer,
                message,
                Some(help),
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
                pointer,
                message,
                Some(help),
                related,
            )
        },
    );
    engine.register_fn(
        "at",
        |doc: DocumentValue, pointer: &str, message: &str| -> Map {
            let mut related = Map::new();
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
            frame(|f| docs_at(&f.shared, f.shared.repo.for_customer(kind, customer)))
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
            frame(|f| docs_at(&f.shared, f.shared.repo.with_tenant(Kind::Partner, tenant)))
        },
    );
    engine.register_fn(
        "customers_with_tenant",
        |tenant: &str| -> Result<Array, Box<EvalAltResult>> {
            frame(|f| docs_at(&f.shared, f.shared.repo.with_tenant(Kind::Customer, tenant)))
        },
    );
    engine.register_fn(
        "subscriptions_with_subscription_id",
        |guid: &str| -> Result<Array, Box<EvalAltResult>> {
            frame(|f| docs_at(&f.shared, f.shared.repo.subscriptions_with_guid(guid)))
        },
    );
    engine.register_fn(
        "replacements_of",
        |subscription: &str| -> Result<Array, Box<EvalAltResult>> {
            frame(|f| docs_at(&f.shared, f.shared.repo.replacements_of(subscription)))
        },
    );
    engine.register_fn(
        "transfers_of_subscription",
        |subscription: &str| -> Result<Array, Box<EvalAltResult>> {
            frame(|f| docs_at(&f.shared, f.shared.repo.transfers_of(subscription)))
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
        crate::finding::code(&text)
    });
    engine.register_fn("lower", |text: &str| text.to_lowercase());
    engine.register_fn("same_guid", |a: &str, b: &str| a.eq_ignore_ascii_case(b));
    engine.register_fn("has", |map: Map, key: &str| {
        map.get(key).is_some_and(|v| !v.is_unit())
    });
    engine.register_fn("has", |doc: DocumentValue, key: &str| doc.has(key));
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
