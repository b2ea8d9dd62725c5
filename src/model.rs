//! The data model: the kinds of account document and the reference fields that link them.

use std::fmt;

/// The kinds of the data model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Partner,
    Customer,
    Subscription,
    ResellerRelationship,
    DelegatedAdmin,
    IndirectPartnership,
    Transfer,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Partner,
        Kind::Customer,
        Kind::Subscription,
        Kind::ResellerRelationship,
        Kind::DelegatedAdmin,
        Kind::IndirectPartnership,
        Kind::Transfer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Partner => "Partner",
            Kind::Customer => "Customer",
            Kind::Subscription => "Subscription",
            Kind::ResellerRelationship => "ResellerRelationship",
            Kind::DelegatedAdmin => "DelegatedAdmin",
            Kind::IndirectPartnership => "IndirectPartnership",
            Kind::Transfer => "Transfer",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Reference fields of this kind and the kind each must name. `many` fields hold a list.
    pub fn references(self) -> &'static [ReferenceField] {
        const fn r(field: &'static str, target: Kind) -> ReferenceField {
            ReferenceField {
                field,
                target,
                many: false,
            }
        }
        const CUSTOMER: &[ReferenceField] = &[r("owned_by_partner", Kind::Partner)];
        const SUBSCRIPTION: &[ReferenceField] = &[
            r("customer", Kind::Customer),
            r("partner_of_record", Kind::Partner),
            r("managed_by", Kind::Partner),
            r("replaces", Kind::Subscription),
        ];
        const RESELLER_RELATIONSHIP: &[ReferenceField] = &[
            r("partner", Kind::Partner),
            r("customer", Kind::Customer),
            r("via_indirect_provider", Kind::Partner),
        ];
        const DELEGATED_ADMIN: &[ReferenceField] =
            &[r("partner", Kind::Partner), r("customer", Kind::Customer)];
        const INDIRECT_PARTNERSHIP: &[ReferenceField] =
            &[r("provider", Kind::Partner), r("reseller", Kind::Partner)];
        const TRANSFER: &[ReferenceField] = &[
            r("customer", Kind::Customer),
            ReferenceField {
                field: "subscriptions",
                target: Kind::Subscription,
                many: true,
            },
            r("source_partner", Kind::Partner),
            r("target_partner", Kind::Partner),
        ];
        match self {
            Kind::Partner => &[],
            Kind::Customer => CUSTOMER,
            Kind::Subscription => SUBSCRIPTION,
            Kind::ResellerRelationship => RESELLER_RELATIONSHIP,
            Kind::DelegatedAdmin => DELEGATED_ADMIN,
            Kind::IndirectPartnership => INDIRECT_PARTNERSHIP,
            Kind::Transfer => TRANSFER,
        }
    }
}

/// A kind is written as its name (`"Customer"`), in reports and baselines alike.
impl serde::Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Kind, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Kind::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown kind `{name}`")))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field that references another document by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReferenceField {
    pub field: &'static str,
    pub target: Kind,
    pub many: bool,
}
