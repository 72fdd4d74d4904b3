//! Order-preserving, exact-number JSON reading on top of `serde_json::value::RawValue`.

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::PayloadError;

/// The JSON kind of a raw value, judged by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    Bool,
    Null,
    Number,
}

pub(crate) fn kind(raw: &RawValue) -> Kind {
    match raw.get().trim_start().as_bytes().first() {
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b'"') => Kind::String,
        Some(b't' | b'f') => Kind::Bool,
        Some(b'n') => Kind::Null,
        _ => Kind::Number,
    }
}

/// The whole payload as one raw JSON value.
pub(crate) fn document(payload: &[u8]) -> Result<&RawValue, PayloadError> {
    let text = std::str::from_utf8(payload).map_err(|e| PayloadError::NotUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    serde_json::from_str::<&RawValue>(text).map_err(|e| PayloadError::syntax(&e))
}

/// An object's members in payload order, values still raw.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// The members of an object, in order; duplicate keys are an error.
pub(crate) fn object<'a>(
    raw: &'a RawValue,
    path: &str,
) -> Result<Vec<(String, &'a RawValue)>, PayloadError> {
    if kind(raw) != Kind::Object {
        return Err(PayloadError::expected(path, "an object"));
    }
    let Members(members) =
        serde_json::from_str::<Members<'a>>(raw.get()).map_err(|e| PayloadError::syntax(&e))?;
    let mut seen = HashSet::with_capacity(members.len());
    for (key, _) in &members {
        if !seen.insert(key.as_str()) {
            return Err(PayloadError::DuplicateKey {
                path: member_path(path, key),
            });
        }
    }
    Ok(members)
}

/// The elements of an array.
pub(crate) fn array<'a>(raw: &'a RawValue, path: &str) -> Result<Vec<&'a RawValue>, PayloadError> {
    if kind(raw) != Kind::Array {
        return Err(PayloadError::expected(path, "an array"));
    }
    serde_json::from_str::<Vec<&'a RawValue>>(raw.get()).map_err(|e| PayloadError::syntax(&e))
}

/// A JSON string's content.
pub(crate) fn string(raw: &RawValue, path: &str) -> Result<String, PayloadError> {
    if kind(raw) != Kind::String {
        return Err(PayloadError::expected(path, "a string"));
    }
    serde_json::from_str::<String>(raw.get()).map_err(|e| PayloadError::syntax(&e))
}

/// A JSON integer that fits in `T` (`i64`, `u64`); no fraction, no exponent.
pub(crate) fn integer<T: std::str::FromStr>(raw: &RawValue, path: &str) -> Result<T, PayloadError> {
    let text = raw.get().trim();
    if kind(raw) == Kind::Number
        && is_integer_text(text)
        && let Ok(n) = text.parse::<T>()
    {
        return Ok(n);
    }
    Err(PayloadError::expected(path, "an integer in range"))
}

pub(crate) fn is_integer_text(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Any JSON, as a `serde_json::Value`.
pub(crate) fn value(raw: &RawValue) -> Result<serde_json::Value, PayloadError> {
    serde_json::from_str(raw.get()).map_err(|e| PayloadError::syntax(&e))
}

/// `$.key` for plain identifiers, `$["odd key"]` otherwise.
pub(crate) fn member_path(parent: &str, key: &str) -> String {
    let plain = key
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain {
        format!("{parent}.{key}")
    } else {
        format!("{parent}[{key:?}]")
    }
}

pub(crate) fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}
