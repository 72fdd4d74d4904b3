//! Gateway-API payloads: several devices behind one MQTT connection.

use serde_json::json;

use crate::PayloadError;
use crate::raw;
use crate::telemetry::{KeyValues, TelemetrySample, key_values, samples};

/// Parses `v1/gateway/telemetry`: `{"Meter A": [samples…], "Meter B": {…}}`.
///
/// Each device's part takes any device telemetry shape (see
/// [`crate::parse_telemetry`]). Devices keep payload order; a device whose
/// part holds no values is kept with an empty list.
///
/// # Errors
/// [`PayloadError`] naming the JSON path; an empty device name is an error.
pub fn parse_gateway_telemetry(
    payload: &[u8],
) -> Result<Vec<(String, Vec<TelemetrySample>)>, PayloadError> {
    let doc = raw::document(payload)?;
    raw::object(doc, "$")?
        .into_iter()
        .map(|(device, part)| {
            let path = raw::member_path("$", &device);
            if device.is_empty() {
                return Err(PayloadError::expected(&path, "a non-empty device name"));
            }
            Ok((device, samples(part, &path)?))
        })
        .collect()
}

/// Parses `v1/gateway/attributes`: `{"Meter A": {"k": v}, …}`.
///
/// # Errors
/// [`PayloadError`] naming the JSON path.
pub fn parse_gateway_attributes(payload: &[u8]) -> Result<Vec<(String, KeyValues)>, PayloadError> {
    let doc = raw::document(payload)?;
    raw::object(doc, "$")?
        .into_iter()
        .map(|(device, part)| {
            let path = raw::member_path("$", &device);
            if device.is_empty() {
                return Err(PayloadError::expected(&path, "a non-empty device name"));
            }
            Ok((device, key_values(part, &path)?))
        })
        .collect()
}

/// A device behind a gateway: the payload of `v1/gateway/connect`
/// (`{"device": "Meter A", "type": "dlt645"}`) and `v1/gateway/disconnect`
/// (`{"device": "Meter A"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayDevice {
    /// The device name, unique per gateway.
    pub device: String,
    /// ThingsBoard's device profile / type, if given (connect only).
    pub device_type: Option<String>,
}

impl GatewayDevice {
    /// Parses a connect or disconnect payload. Unknown members are ignored.
    ///
    /// # Errors
    /// [`PayloadError`] if `device` is missing, empty or not a string, or
    /// `type` is present and not a string.
    pub fn parse(payload: &[u8]) -> Result<Self, PayloadError> {
        let doc = raw::document(payload)?;
        let mut device = None;
        let mut device_type = None;
        for (key, value) in raw::object(doc, "$")? {
            match key.as_str() {
                "device" => device = Some(raw::string(value, "$.device")?),
                "type" => device_type = Some(raw::string(value, "$.type")?),
                _ => {}
            }
        }
        let device = device.ok_or_else(|| PayloadError::missing("$", "device"))?;
        if device.is_empty() {
            return Err(PayloadError::expected(
                "$.device",
                "a non-empty device name",
            ));
        }
        Ok(Self {
            device,
            device_type,
        })
    }

    /// The payload: `{"device": …}` plus `"type"` when set.
    #[must_use]
    pub fn to_payload(&self) -> Vec<u8> {
        let value = match &self.device_type {
            Some(t) => json!({ "device": self.device, "type": t }),
            None => json!({ "device": self.device }),
        };
        value.to_string().into_bytes()
    }
}
