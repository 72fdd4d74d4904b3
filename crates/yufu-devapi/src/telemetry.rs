//! Telemetry and attribute payloads, in every shape ThingsBoard accepts.

use serde_json::value::RawValue;

use crate::raw::{self, Kind};
use crate::{PayloadError, write};

/// One telemetry value, numbers kept exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TelemetryValue {
    /// `true` / `false`.
    Bool(bool),
    /// A JSON integer that fits in `i64` (`-0` reads as `0`).
    Long(i64),
    /// Any other JSON number, as its exact text from the payload: `"123.4500"`
    /// stays `"123.4500"`, `1e3` stays `"1e3"`, and an integer beyond `i64`
    /// stays its digits. Never converted to floating point.
    Decimal(String),
    /// A JSON string.
    Text(String),
    /// A nested object or array, as ThingsBoard's JSON data type. Numbers
    /// inside follow `serde_json::Value` (non-integers become `f64`); put
    /// exact quantities at the top level.
    Json(serde_json::Value),
}

/// Keys and values in payload order (attributes, or a sample's values).
pub type KeyValues = Vec<(String, TelemetryValue)>;

/// One timestamped (or server-timed) set of values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetrySample {
    /// Milliseconds since the Unix epoch; `None` means "use server time on receipt".
    pub ts_ms: Option<i64>,
    /// The values in payload order.
    pub values: KeyValues,
}

/// Parses a device telemetry payload (`v1/devices/me/telemetry`).
///
/// Accepted shapes, as in ThingsBoard:
/// `{"k": v, …}`, `[{"k": v}, …]`, `{"ts": ms, "values": {…}}` and
/// `[{"ts": ms, "values": {…}}, …]` (array elements may mix the two object
/// forms). An object is the timestamped form when it has both `ts` and
/// `values` members; it then must have no other member. Objects with no
/// values yield no sample, so `{}` and `[]` give an empty vector.
///
/// # Errors
/// [`PayloadError`] naming the JSON path; never panics.
pub fn parse_telemetry(payload: &[u8]) -> Result<Vec<TelemetrySample>, PayloadError> {
    samples(raw::document(payload)?, "$")
}

/// Parses a client-attributes payload (`v1/devices/me/attributes`): a flat
/// `{"k": v, …}` object, values as in telemetry.
///
/// # Errors
/// [`PayloadError`] naming the JSON path; never panics.
pub fn parse_attributes(payload: &[u8]) -> Result<KeyValues, PayloadError> {
    key_values(raw::document(payload)?, "$")
}

/// Builds a telemetry payload (the device side, for simulators and tests):
/// one sample as an object, several as an array; a server-timed sample as
/// `{"k": v}`, a timestamped one as `{"ts": ms, "values": {…}}`. Decimals are
/// written with their exact text. `parse_telemetry` reads it back unchanged
/// (samples without values are dropped).
#[must_use]
pub fn telemetry_payload(samples: &[TelemetrySample]) -> Vec<u8> {
    let mut out = String::new();
    if let [one] = samples {
        write::sample(&mut out, one);
    } else {
        out.push('[');
        for (i, s) in samples.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write::sample(&mut out, s);
        }
        out.push(']');
    }
    out.into_bytes()
}

/// Builds a flat `{"k": v}` attributes payload, decimals exact.
#[must_use]
pub fn attributes_payload(values: &KeyValues) -> Vec<u8> {
    let mut out = String::new();
    write::object(&mut out, values);
    out.into_bytes()
}

/// Samples from one object or an array of objects.
pub(crate) fn samples(raw: &RawValue, path: &str) -> Result<Vec<TelemetrySample>, PayloadError> {
    let mut out = Vec::new();
    match raw::kind(raw) {
        Kind::Object => out.extend(sample(raw, path)?),
        Kind::Array => {
            for (i, element) in raw::array(raw, path)?.into_iter().enumerate() {
                out.extend(sample(element, &raw::index_path(path, i))?);
            }
        }
        _ => {
            return Err(PayloadError::expected(
                path,
                "an object or an array of objects",
            ));
        }
    }
    Ok(out)
}

/// One object, in either form; `None` if it holds no values.
fn sample(raw: &RawValue, path: &str) -> Result<Option<TelemetrySample>, PayloadError> {
    let members = raw::object(raw, path)?;
    let has = |name: &str| members.iter().any(|(k, _)| k == name);
    let sample = if has("ts") && has("values") {
        let mut ts_ms = None;
        let mut values = Vec::new();
        for (key, value) in members {
            let member = raw::member_path(path, &key);
            match key.as_str() {
                "ts" => ts_ms = Some(raw::integer::<i64>(value, &member)?),
                "values" => values = key_values(value, &member)?,
                _ => return Err(PayloadError::Unexpected { path: member }),
            }
        }
        TelemetrySample { ts_ms, values }
    } else {
        TelemetrySample {
            ts_ms: None,
            values: members_to_values(members, path)?,
        }
    };
    Ok((!sample.values.is_empty()).then_some(sample))
}

/// A flat `{"k": v}` object.
pub(crate) fn key_values(raw: &RawValue, path: &str) -> Result<KeyValues, PayloadError> {
    members_to_values(raw::object(raw, path)?, path)
}

fn members_to_values(
    members: Vec<(String, &RawValue)>,
    path: &str,
) -> Result<KeyValues, PayloadError> {
    members
        .into_iter()
        .map(|(key, value)| {
            let member = raw::member_path(path, &key);
            if key.is_empty() {
                return Err(PayloadError::expected(&member, "a non-empty key"));
            }
            let v = telemetry_value(value, &member)?;
            Ok((key, v))
        })
        .collect()
}

fn telemetry_value(raw: &RawValue, path: &str) -> Result<TelemetryValue, PayloadError> {
    let text = raw.get().trim();
    Ok(match raw::kind(raw) {
        Kind::Bool => TelemetryValue::Bool(text == "true"),
        Kind::String => TelemetryValue::Text(raw::string(raw, path)?),
        Kind::Object | Kind::Array => TelemetryValue::Json(raw::value(raw)?),
        Kind::Null => {
            return Err(PayloadError::expected(
                path,
                "a boolean, number, string, object or array (not null)",
            ));
        }
        Kind::Number => {
            if raw::is_integer_text(text) {
                text.parse::<i64>().map_or_else(
                    |_| TelemetryValue::Decimal(text.to_owned()),
                    TelemetryValue::Long,
                )
            } else {
                TelemetryValue::Decimal(text.to_owned())
            }
        }
    })
}
