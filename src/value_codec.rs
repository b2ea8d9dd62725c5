//! Exact serde for `serde_json::Value` in a non-self-describing format (the cache's postcard,
//! [`crate::cache`]): each value is written as a tagged variant (null, bool, u64, i64, f64,
//! string, array, object in source order), so numbers keep their exact type and mappings their
//! key order. A leaf module, so that the types the cache stores need not import the cache.
//!
//! `serde_json::Value`'s own `Deserialize` needs a self-describing format (it asks the input
//! what comes next); postcard is not one. Use with `#[serde(with = "crate::value_codec")]`.

use serde::de::{Deserializer, Error as _};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// The borrowed form written to the cache.
struct Ref<'a>(&'a Value);

impl Serialize for Ref<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        const NAME: &str = "Value";
        match self.0 {
            Value::Null => serializer.serialize_unit_variant(NAME, 0, "Null"),
            Value::Bool(b) => serializer.serialize_newtype_variant(NAME, 1, "Bool", b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    serializer.serialize_newtype_variant(NAME, 2, "U64", &u)
                } else if let Some(i) = n.as_i64() {
                    serializer.serialize_newtype_variant(NAME, 3, "I64", &i)
                } else {
                    // Without `arbitrary_precision` a number is one of the three.
                    let f = n.as_f64().unwrap_or(f64::NAN);
                    serializer.serialize_newtype_variant(NAME, 4, "F64", &f)
                }
            }
            Value::String(s) => serializer.serialize_newtype_variant(NAME, 5, "String", s),
            Value::Array(items) => {
                serializer.serialize_newtype_variant(NAME, 6, "Array", &Items(items))
            }
            Value::Object(map) => {
                serializer.serialize_newtype_variant(NAME, 7, "Object", &Entries(map))
            }
        }
    }
}

struct Items<'a>(&'a [Value]);

impl Serialize for Items<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&Ref(item))?;
        }
        seq.end()
    }
}

struct Entries<'a>(&'a Map<String, Value>);

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for (key, value) in self.0 {
            seq.serialize_element(&(key, Ref(value)))?;
        }
        seq.end()
    }
}

/// The owned form read back (same variant order as [`Ref`]).
#[derive(Deserialize)]
#[serde(rename = "Value")]
enum Owned {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    String(String),
    Array(Vec<Owned>),
    Object(Vec<(String, Owned)>),
}

impl Owned {
    fn into_value(self) -> Result<Value, &'static str> {
        Ok(match self {
            Owned::Null => Value::Null,
            Owned::Bool(b) => Value::Bool(b),
            Owned::U64(u) => Value::Number(u.into()),
            Owned::I64(i) => Value::Number(i.into()),
            Owned::F64(f) => {
                Value::Number(Number::from_f64(f).ok_or("a number that is not finite")?)
            }
            Owned::String(s) => Value::String(s),
            Owned::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(Owned::into_value)
                    .collect::<Result<_, _>>()?,
            ),
            Owned::Object(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for (key, value) in entries {
                    map.insert(key, value.into_value()?);
                }
                Value::Object(map)
            }
        })
    }
}

pub fn serialize<S: Serializer>(value: &Value, serializer: S) -> Result<S::Ok, S::Error> {
    Ref(value).serialize(serializer)
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
    Owned::deserialize(deserializer)?
        .into_value()
        .map_err(D::Error::custom)
}

/// For `Option<Box<Value>>` fields.
pub mod boxed {
    use super::*;

    pub fn serialize<S: Serializer>(
        value: &Option<Box<Value>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_deref().map(Ref).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Box<Value>>, D::Error> {
        Option::<Owned>::deserialize(deserializer)?
            .map(|v| v.into_value().map(Box::new).map_err(D::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Holder {
        #[serde(with = "super")]
        value: Value,
        #[serde(with = "super::boxed")]
        written: Option<Box<Value>>,
    }

    #[test]
    fn values_round_trip_exactly_with_key_order_and_number_types() {
        let text = r#"{"z": 1, "a": [-1, 1.5, 18446744073709551615, -9223372036854775808, 0.1,
            1e300, null, true, "s"], "m": {"y": {}, "b": []}, "f": 2.0}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let holder = Holder {
            value: value.clone(),
            written: Some(Box::new(value.clone())),
        };
        let bytes = postcard::to_stdvec(&holder).unwrap();
        let back: Holder = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, holder);
        // Same order and same textual form (2.0 stays a float, -1 an integer).
        assert_eq!(
            serde_json::to_string(&back.value).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
        let keys: Vec<_> = back.value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["z", "a", "m", "f"]);
        let none = Holder {
            value: Value::Null,
            written: None,
        };
        let bytes = postcard::to_stdvec(&none).unwrap();
        assert_eq!(postcard::from_bytes::<Holder>(&bytes).unwrap(), none);
    }
}
