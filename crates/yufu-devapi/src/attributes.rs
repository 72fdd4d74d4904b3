//! Attribute requests and responses (device and gateway API).

use crate::raw;
use crate::telemetry::KeyValues;
use crate::{PayloadError, write};

/// A device's attribute request on `v1/devices/me/attributes/request/{id}`:
/// `{"clientKeys": "a,b", "sharedKeys": "c"}`.
///
/// As in ThingsBoard: when both members are absent the device asks for every
/// client and shared attribute; when only one is present, only that scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeRequest {
    /// Client-scope keys asked for (`None`: that member was absent).
    pub client_keys: Option<Vec<String>>,
    /// Shared-scope keys asked for (`None`: that member was absent).
    pub shared_keys: Option<Vec<String>>,
}

impl AttributeRequest {
    /// Parses the request. Keys are split on `,` and trimmed; empty keys are
    /// dropped. Unknown members are ignored.
    ///
    /// # Errors
    /// [`PayloadError`] if the payload is not an object or a keys member is
    /// not a string.
    pub fn parse(payload: &[u8]) -> Result<Self, PayloadError> {
        let doc = raw::document(payload)?;
        let mut request = Self {
            client_keys: None,
            shared_keys: None,
        };
        for (key, value) in raw::object(doc, "$")? {
            let slot = match key.as_str() {
                "clientKeys" => &mut request.client_keys,
                "sharedKeys" => &mut request.shared_keys,
                _ => continue,
            };
            let list = raw::string(value, &raw::member_path("$", &key))?;
            *slot = Some(
                list.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
        }
        Ok(request)
    }

    /// Whether the device asked for everything (neither member present).
    #[must_use]
    pub const fn wants_all(&self) -> bool {
        self.client_keys.is_none() && self.shared_keys.is_none()
    }
}

/// The server's answer on `v1/devices/me/attributes/response/{id}`:
/// `{"client": {…}, "shared": {…}}`, a scope omitted when it has no values.
/// Decimals are written with their exact text.
#[must_use]
pub fn attributes_response_payload(client: &KeyValues, shared: &KeyValues) -> Vec<u8> {
    let mut out = String::from("{");
    let mut first = true;
    for (name, values) in [("client", client), ("shared", shared)] {
        if values.is_empty() {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write::string(&mut out, name);
        out.push(':');
        write::object(&mut out, values);
    }
    out.push('}');
    out.into_bytes()
}

/// A gateway's attribute request on `v1/gateway/attributes/request`:
/// `{"id": 1, "device": "Meter A", "client": true, "key": "k"}` or with
/// `"keys": ["a", "b"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayAttributeRequest {
    /// The request id, echoed in the response.
    pub id: u64,
    /// The device behind the gateway.
    pub device: String,
    /// `true` for client-scope attributes, `false` for shared.
    pub client: bool,
    /// The keys asked for.
    pub keys: Vec<String>,
    /// Whether the request used the single `key` form (then the response
    /// carries `"value"`, otherwise `"values"`).
    pub single_key: bool,
}

impl GatewayAttributeRequest {
    /// Parses the request. Unknown members are ignored; `client` defaults to
    /// `false` (shared) when absent.
    ///
    /// # Errors
    /// [`PayloadError`] naming the missing or mistyped member; exactly one of
    /// `key` and `keys` must be present.
    pub fn parse(payload: &[u8]) -> Result<Self, PayloadError> {
        let doc = raw::document(payload)?;
        let mut id = None;
        let mut device = None;
        let mut client = false;
        let mut key = None;
        let mut keys = None;
        for (name, value) in raw::object(doc, "$")? {
            let path = raw::member_path("$", &name);
            match name.as_str() {
                "id" => id = Some(raw::integer::<u64>(value, &path)?),
                "device" => device = Some(raw::string(value, &path)?),
                "client" => {
                    client = match value.get().trim() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(PayloadError::expected(&path, "a boolean")),
                    }
                }
                "key" => key = Some(raw::string(value, &path)?),
                "keys" => {
                    keys = Some(
                        raw::array(value, &path)?
                            .into_iter()
                            .enumerate()
                            .map(|(i, k)| raw::string(k, &raw::index_path(&path, i)))
                            .collect::<Result<Vec<_>, _>>()?,
                    );
                }
                _ => {}
            }
        }
        let id = id.ok_or_else(|| PayloadError::missing("$", "id"))?;
        let device = device
            .filter(|d| !d.is_empty())
            .ok_or_else(|| PayloadError::missing("$", "device"))?;
        let (keys, single_key) = match (key, keys) {
            (Some(k), None) => (vec![k], true),
            (None, Some(ks)) => (ks, false),
            (None, None) => return Err(PayloadError::missing("$", "key")),
            (Some(_), Some(_)) => {
                return Err(PayloadError::Unexpected {
                    path: "$.keys".to_owned(),
                });
            }
        };
        Ok(Self {
            id,
            device,
            client,
            keys,
            single_key,
        })
    }

    /// The server's answer on `v1/gateway/attributes/response`:
    /// `{"id": id, "device": d, "value": v}` for the single-key form (`null`
    /// when the attribute is unknown), `{"id", "device", "values": {…}}` otherwise.
    #[must_use]
    pub fn response_payload(&self, values: &KeyValues) -> Vec<u8> {
        let mut out = format!("{{\"id\":{},\"device\":", self.id);
        write::string(&mut out, &self.device);
        if self.single_key {
            out.push_str(",\"value\":");
            match values.iter().find(|(k, _)| self.keys.contains(k)) {
                Some((_, v)) => write::value(&mut out, v),
                None => out.push_str("null"),
            }
        } else {
            out.push_str(",\"values\":");
            write::object(&mut out, values);
        }
        out.push('}');
        out.into_bytes()
    }
}
