//! The loaded repository: every document with its kind, id and spans, and the indexes that
//! cross-document checks and policies use (never a scan per document).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::finding::DocumentRef;
use crate::model::Kind;
use crate::source::FileId;
use crate::source::{ByteSpan, Location};
use crate::yaml::{NodeInfo, SpanTable};

/// Index of a document in [`Repository::documents`].
pub type DocIndex = u32;

/// Referenced id → the documents naming it.
type IdIndex = HashMap<Arc<str>, Vec<DocIndex>>;

/// One account document. Serializable for the cache's file layer ([`crate::cache`]).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Document {
    pub file: FileId,
    pub kind: Kind,
    pub id: Arc<str>,
    #[serde(with = "crate::value_codec")]
    pub value: Value,
    pub spans: SpanTable,
    pub head: ByteSpan,
    /// Loader errors (or a schema that could not be used) make the document unfit for
    /// policies (see [`crate::yaml`]).
    pub checkable: bool,
    /// Top-level fields whose value is invalid or missing (schema errors, references that do
    /// not resolve), sorted; `""` stands for the whole document. Policies still see the
    /// document, but an evaluation that reads one of these fields is skipped and reported.
    pub invalid_fields: Vec<String>,
    /// The document as written, when schema validation changed `value` (see
    /// [`crate::schema::SchemaOutcome::written`]).
    #[serde(with = "crate::value_codec::boxed")]
    pub written: Option<Box<Value>>,
}

impl Document {
    /// A sound document (checkable, no invalid field, as written) from what the loader gave:
    /// the fixtures of unit tests.
    #[cfg(test)]
    pub fn sound(file: FileId, kind: Kind, loaded: crate::yaml::LoadedDocument) -> Document {
        Document {
            file,
            kind,
            id: Arc::from(loaded.value["id"].as_str().unwrap_or_default()),
            value: loaded.value,
            spans: loaded.spans,
            head: loaded.head,
            checkable: true,
            invalid_fields: Vec::new(),
            written: None,
        }
    }

    pub fn reference(&self) -> DocumentRef {
        DocumentRef {
            kind: self.kind,
            id: Arc::clone(&self.id),
        }
    }

    /// Whether `field` holds an invalid or missing value (see [`Document::invalid_fields`]).
    /// `kind` and `id` are always sound: the document could not be indexed otherwise.
    pub fn is_invalid(&self, field: &str) -> bool {
        if field == "kind" || field == "id" {
            return false;
        }
        self.invalid_fields.first().is_some_and(|f| f.is_empty())
            || self
                .invalid_fields
                .binary_search_by(|f| f.as_str().cmp(field))
                .is_ok()
    }

    /// Records `field` as invalid (kept sorted).
    pub fn mark_invalid(&mut self, field: &str) {
        if let Err(at) = self
            .invalid_fields
            .binary_search_by(|f| f.as_str().cmp(field))
        {
            self.invalid_fields.insert(at, field.to_string());
        }
    }

    /// The document as written in its file (before any normalisation).
    pub fn as_written(&self) -> &Value {
        self.written.as_deref().unwrap_or(&self.value)
    }

    /// A string field, if present and a string.
    pub fn str_field(&self, field: &str) -> Option<&str> {
        self.value.get(field).and_then(Value::as_str)
    }

    /// The node at `pointer`, or its closest existing ancestor.
    pub fn node(&self, pointer: &str) -> Option<NodeInfo> {
        self.spans.closest_node(&self.value, pointer)
    }

    /// The location for a finding about `pointer` (the node, else the document head).
    pub fn location(&self, pointer: &str) -> Location {
        let span = match self.spans.node_at(&self.value, pointer) {
            Some(info) => info.span,
            None if pointer.is_empty() => self.head,
            // A missing field: point at the document head rather than the whole mapping.
            None => match self.node(pointer) {
                Some(info) if info.span.len() < 200 && !info.span.is_empty() => info.span,
                _ => self.head,
            },
        };
        Location {
            file: self.file,
            span,
        }
    }
}

/// All documents plus the indexes cross-document lookups go through.
#[derive(Debug, Default)]
pub struct Repository {
    pub documents: Vec<Document>,
    /// Per kind (indexed by `Kind as usize`): id → document. Keyed by `Arc<str>` so lookups
    /// take a `&str` without allocating.
    by_kind_id: [HashMap<Arc<str>, DocIndex>; 7],
    by_kind: [Vec<DocIndex>; 7],
    /// Per kind: customer id → documents whose `customer:` field names it.
    by_customer: [HashMap<Arc<str>, Vec<DocIndex>>; 7],
    /// Documents that name a partner in a given field (`partner`, `provider`, `reseller`,
    /// `partner_of_record`, `managed_by`, `target_partner`, ...), keyed by (kind, field, id).
    by_partner_field: HashMap<(Kind, &'static str), IdIndex>,
    /// Partners by PartnerID (digit string): several records may share one (commercial + US Gov).
    partners_by_partner_id: HashMap<String, Vec<DocIndex>>,
    /// Partners and customers by lower-cased tenant GUID.
    by_tenant: HashMap<(Kind, String), Vec<DocIndex>>,
    /// Subscriptions by lower-cased `subscription_id`.
    subscriptions_by_guid: HashMap<String, Vec<DocIndex>>,
    /// Subscriptions that replace a given subscription.
    replaced_by: HashMap<Arc<str>, Vec<DocIndex>>,
    /// Transfers that list a given subscription.
    transfers_of_subscription: HashMap<Arc<str>, Vec<DocIndex>>,
}

/// Partner reference fields indexed by [`Repository::documents_naming_partner`] (and the
/// same keys for the cache's dependency index: [`crate::memo::index_keys`]).
pub(crate) const PARTNER_FIELDS: &[(Kind, &str)] = &[
    (Kind::ResellerRelationship, "partner"),
    (Kind::ResellerRelationship, "via_indirect_provider"),
    (Kind::DelegatedAdmin, "partner"),
    (Kind::IndirectPartnership, "provider"),
    (Kind::IndirectPartnership, "reseller"),
    (Kind::Subscription, "partner_of_record"),
    (Kind::Subscription, "managed_by"),
    (Kind::Transfer, "source_partner"),
    (Kind::Transfer, "target_partner"),
    (Kind::Customer, "owned_by_partner"),
];

impl Repository {
    /// Builds the indexes. The first document with a given (kind, id) wins; duplicates are
    /// reported by the reference checks (`refs`). [`crate::memo::index_keys`] lists the same
    /// keys per document: a change here changes it too (its unit test compares them).
    pub fn new(documents: Vec<Document>) -> Repository {
        let mut repo = Repository {
            documents,
            ..Repository::default()
        };
        for (index, doc) in repo.documents.iter().enumerate() {
            let index = index as DocIndex;
            let k = doc.kind as usize;
            repo.by_kind_id[k]
                .entry(Arc::clone(&doc.id))
                .or_insert(index);
            repo.by_kind[k].push(index);
            if let Some(customer) = doc.str_field("customer") {
                repo.by_customer[k]
                    .entry(Arc::from(customer))
                    .or_default()
                    .push(index);
            }
            for &(kind, field) in PARTNER_FIELDS {
                if kind == doc.kind {
                    if let Some(partner) = doc.str_field(field) {
                        repo.by_partner_field
                            .entry((kind, field))
                            .or_default()
                            .entry(Arc::from(partner))
                            .or_default()
                            .push(index);
                    }
                }
            }
            match doc.kind {
                Kind::Partner => {
                    if let Some(pid) = doc.str_field("partner_id") {
                        repo.partners_by_partner_id
                            .entry(pid.to_string())
                            .or_default()
                            .push(index);
                    }
                }
                Kind::Subscription => {
                    if let Some(guid) = doc.str_field("subscription_id") {
                        repo.subscriptions_by_guid
                            .entry(guid.to_ascii_lowercase())
                            .or_default()
                            .push(index);
                    }
                    if let Some(old) = doc.str_field("replaces") {
                        repo.replaced_by
                            .entry(Arc::from(old))
                            .or_default()
                            .push(index);
                    }
                }
                Kind::Transfer => {
                    if let Some(items) = doc.value.get("subscriptions").and_then(Value::as_array) {
                        for item in items.iter().filter_map(Value::as_str) {
                            repo.transfers_of_subscription
                                .entry(Arc::from(item))
                                .or_default()
                                .push(index);
                        }
                    }
                }
                _ => {}
            }
            if matches!(doc.kind, Kind::Partner | Kind::Customer) {
                if let Some(tenant) = doc.str_field("tenant_id") {
                    repo.by_tenant
                        .entry((doc.kind, tenant.to_ascii_lowercase()))
                        .or_default()
                        .push(index);
                }
            }
        }
        repo
    }

    pub fn get(&self, index: DocIndex) -> &Document {
        &self.documents[index as usize]
    }

    pub fn find(&self, kind: Kind, id: &str) -> Option<DocIndex> {
        self.by_kind_id[kind as usize].get(id).copied()
    }

    /// Which kinds have a document with this id (for "refers to a Partner, not a Customer").
    pub fn kinds_with_id(&self, id: &str) -> Vec<Kind> {
        Kind::ALL
            .into_iter()
            .filter(|&k| self.find(k, id).is_some())
            .collect()
    }

    pub fn of_kind(&self, kind: Kind) -> &[DocIndex] {
        &self.by_kind[kind as usize]
    }

    /// Documents of `kind` whose `customer` field names `customer`.
    pub fn for_customer(&self, kind: Kind, customer: &str) -> &[DocIndex] {
        self.by_customer[kind as usize]
            .get(customer)
            .map_or(&[], Vec::as_slice)
    }

    /// Documents of `kind` whose `field` names `partner` (see the indexed fields above).
    pub fn documents_naming_partner(&self, kind: Kind, field: &str, partner: &str) -> &[DocIndex] {
        let Some(&(_, field)) = PARTNER_FIELDS
            .iter()
            .find(|(k, f)| *k == kind && *f == field)
        else {
            return &[];
        };
        self.by_partner_field
            .get(&(kind, field))
            .and_then(|ids| ids.get(partner))
            .map_or(&[], Vec::as_slice)
    }

    pub fn partners_with_partner_id(&self, partner_id: &str) -> &[DocIndex] {
        self.partners_by_partner_id
            .get(partner_id)
            .map_or(&[], Vec::as_slice)
    }

    pub fn with_tenant(&self, kind: Kind, tenant_id: &str) -> &[DocIndex] {
        self.by_tenant
            .get(&(kind, tenant_id.to_ascii_lowercase()))
            .map_or(&[], Vec::as_slice)
    }

    pub fn subscriptions_with_guid(&self, guid: &str) -> &[DocIndex] {
        self.subscriptions_by_guid
            .get(&guid.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    pub fn replacements_of(&self, subscription: &str) -> &[DocIndex] {
        self.replaced_by
            .get(subscription)
            .map_or(&[], Vec::as_slice)
    }

    pub fn transfers_of(&self, subscription: &str) -> &[DocIndex] {
        self.transfers_of_subscription
            .get(subscription)
            .map_or(&[], Vec::as_slice)
    }

    /// Ids of every document of `kind`, for "did you mean" suggestions.
    pub fn ids_of_kind(&self, kind: Kind) -> impl Iterator<Item = &str> {
        self.of_kind(kind).iter().map(|&i| &*self.get(i).id)
    }
}
