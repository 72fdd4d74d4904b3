//! Server-side RPC: requests to meters, their replies, and Yufu's meter commands.

use serde_json::{Map, Value, json};

use crate::raw;
use crate::{PayloadError, Topic};

/// A server-side RPC request: `method` plus `params`, numbered by `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcRequest {
    /// The request id (the topic's last segment for a device, `data.id` for a gateway).
    pub id: u64,
    /// The RPC method, e.g. [`SET_RELAY`].
    pub method: String,
    /// The method's parameters (`null` when absent).
    pub params: Value,
}

impl RpcRequest {
    /// Topic and payload for a directly connected device:
    /// `v1/devices/me/rpc/request/{id}` with `{"method": m, "params": p}`.
    #[must_use]
    pub fn to_device_message(&self) -> (Topic, Vec<u8>) {
        let payload = json!({ "method": self.method, "params": self.params });
        (
            Topic::DeviceRpcRequest(self.id),
            payload.to_string().into_bytes(),
        )
    }

    /// Topic and payload for a device behind a gateway: `v1/gateway/rpc` with
    /// `{"device": d, "data": {"id": id, "method": m, "params": p}}`.
    #[must_use]
    pub fn to_gateway_message(&self, device: &str) -> (Topic, Vec<u8>) {
        let payload = json!({
            "device": device,
            "data": { "id": self.id, "method": self.method, "params": self.params },
        });
        (Topic::GatewayRpc, payload.to_string().into_bytes())
    }

    /// The device side: parses `{"method": m, "params": p}` received on
    /// `v1/devices/me/rpc/request/{id}`. Unknown members are ignored.
    ///
    /// # Errors
    /// [`PayloadError`] if `method` is missing or not a string.
    pub fn parse_device(id: u64, payload: &[u8]) -> Result<Self, PayloadError> {
        let doc = raw::document(payload)?;
        let (method, params) = method_params(doc, "$")?;
        Ok(Self { id, method, params })
    }

    /// The gateway side: parses `{"device": d, "data": {"id", "method", "params"}}`
    /// received on `v1/gateway/rpc`, giving the device name and the request.
    ///
    /// # Errors
    /// [`PayloadError`] naming the missing or mistyped member.
    pub fn parse_gateway(payload: &[u8]) -> Result<(String, Self), PayloadError> {
        let doc = raw::document(payload)?;
        let mut device = None;
        let mut request = None;
        for (key, value) in raw::object(doc, "$")? {
            match key.as_str() {
                "device" => device = Some(device_name(value, "$.device")?),
                "data" => {
                    let mut id = None;
                    for (k, v) in raw::object(value, "$.data")? {
                        if k == "id" {
                            id = Some(raw::integer::<u64>(v, "$.data.id")?);
                        }
                    }
                    let id = id.ok_or_else(|| PayloadError::missing("$.data", "id"))?;
                    let (method, params) = method_params(value, "$.data")?;
                    request = Some(Self { id, method, params });
                }
                _ => {}
            }
        }
        let device = device.ok_or_else(|| PayloadError::missing("$", "device"))?;
        let request = request.ok_or_else(|| PayloadError::missing("$", "data"))?;
        Ok((device, request))
    }
}

fn method_params(
    raw: &serde_json::value::RawValue,
    path: &str,
) -> Result<(String, Value), PayloadError> {
    let mut method = None;
    let mut params = Value::Null;
    for (key, value) in raw::object(raw, path)? {
        match key.as_str() {
            "method" => method = Some(raw::string(value, &raw::member_path(path, "method"))?),
            "params" => params = raw::value(value)?,
            _ => {}
        }
    }
    let method = method.ok_or_else(|| PayloadError::missing(path, "method"))?;
    Ok((method, params))
}

fn device_name(raw: &serde_json::value::RawValue, path: &str) -> Result<String, PayloadError> {
    let name = raw::string(raw, path)?;
    if name.is_empty() {
        return Err(PayloadError::expected(path, "a non-empty device name"));
    }
    Ok(name)
}

/// A reply to a server-side RPC request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcResponse {
    /// The id of the request answered.
    pub id: u64,
    /// The device, for replies that came through a gateway.
    pub device: Option<String>,
    /// The reply body: for Yufu's meter commands, a [`CommandReply`].
    pub data: Value,
}

impl RpcResponse {
    /// Parses a device reply: any JSON, published on
    /// `v1/devices/me/rpc/response/{id}` (pass the id from the [`Topic`]).
    ///
    /// # Errors
    /// [`PayloadError`] if the payload is not JSON.
    pub fn parse_device(id: u64, payload: &[u8]) -> Result<Self, PayloadError> {
        let data = raw::value(raw::document(payload)?)?;
        Ok(Self {
            id,
            device: None,
            data,
        })
    }

    /// Parses a gateway reply on `v1/gateway/rpc`:
    /// `{"device": d, "id": id, "data": {…}}`. Unknown members are ignored.
    /// (A request echoed on the same topic has no top-level `id` and fails
    /// with [`PayloadError::Missing`].)
    ///
    /// # Errors
    /// [`PayloadError`] naming the missing or mistyped member.
    pub fn parse_gateway(payload: &[u8]) -> Result<Self, PayloadError> {
        let doc = raw::document(payload)?;
        let mut device = None;
        let mut id = None;
        let mut data = None;
        for (key, value) in raw::object(doc, "$")? {
            match key.as_str() {
                "device" => device = Some(device_name(value, "$.device")?),
                "id" => id = Some(raw::integer::<u64>(value, "$.id")?),
                "data" => data = Some(raw::value(value)?),
                _ => {}
            }
        }
        Ok(Self {
            id: id.ok_or_else(|| PayloadError::missing("$", "id"))?,
            device: Some(device.ok_or_else(|| PayloadError::missing("$", "device"))?),
            data: data.ok_or_else(|| PayloadError::missing("$", "data"))?,
        })
    }

    /// Topic and payload a device publishes: `v1/devices/me/rpc/response/{id}` with `data`.
    #[must_use]
    pub fn to_device_message(&self) -> (Topic, Vec<u8>) {
        (
            Topic::DeviceRpcResponse(self.id),
            self.data.to_string().into_bytes(),
        )
    }

    /// Topic and payload a gateway publishes: `v1/gateway/rpc` with
    /// `{"device": d, "id": id, "data": …}` (device `""` if unset).
    #[must_use]
    pub fn to_gateway_message(&self) -> (Topic, Vec<u8>) {
        let payload = json!({
            "device": self.device.as_deref().unwrap_or_default(),
            "id": self.id,
            "data": self.data,
        });
        (Topic::GatewayRpc, payload.to_string().into_bytes())
    }

    /// Reads `data` as Yufu's reply convention.
    ///
    /// # Errors
    /// [`PayloadError`] if `data` is not `{"ok": bool, …}`.
    pub fn command_reply(&self) -> Result<CommandReply, PayloadError> {
        let path = if self.device.is_some() { "$.data" } else { "$" };
        CommandReply::from_value(&self.data, path)
    }
}

/// ThingsBoard method name of the relay command (electricity meters).
pub const SET_RELAY: &str = "setRelay";
/// ThingsBoard method name of the valve command (water and gas meters).
pub const SET_VALVE: &str = "setValve";

/// The `state` parameter of [`SET_RELAY`] and [`SET_VALVE`].
///
/// Beware the two meanings of "open": an **open relay** breaks the circuit
/// (supply cut, "tripped"), an **open valve** lets water or gas flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SwitchState {
    /// `"open"`: relay open = power **off**; valve open = flow **on**.
    Open,
    /// `"closed"`: relay closed = power **on**; valve closed = flow **off**.
    Closed,
}

impl SwitchState {
    /// `"open"` or `"closed"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

/// Yufu's meter commands, as ThingsBoard server-side RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeterCommand {
    /// `setRelay {"state": "open"|"closed"}`: open trips (cuts) the supply,
    /// closed restores it.
    SetRelay(SwitchState),
    /// `setValve {"state": "open"|"closed"}`: open lets water/gas flow,
    /// closed shuts it off.
    SetValve(SwitchState),
}

impl MeterCommand {
    /// Cut an electricity meter's supply: `setRelay {"state": "open"}`.
    pub const TRIP: Self = Self::SetRelay(SwitchState::Open);
    /// Restore an electricity meter's supply: `setRelay {"state": "closed"}`.
    pub const RESTORE: Self = Self::SetRelay(SwitchState::Closed);
    /// Shut a water or gas meter's valve: `setValve {"state": "closed"}`.
    pub const SHUT_VALVE: Self = Self::SetValve(SwitchState::Closed);
    /// Open a water or gas meter's valve: `setValve {"state": "open"}`.
    pub const OPEN_VALVE: Self = Self::SetValve(SwitchState::Open);

    /// The ThingsBoard RPC method name.
    #[must_use]
    pub const fn method(self) -> &'static str {
        match self {
            Self::SetRelay(_) => SET_RELAY,
            Self::SetValve(_) => SET_VALVE,
        }
    }

    /// The RPC params: `{"state": "open"|"closed"}`.
    #[must_use]
    pub fn params(self) -> Value {
        let (Self::SetRelay(state) | Self::SetValve(state)) = self;
        json!({ "state": state.as_str() })
    }

    /// The RPC request with this id.
    #[must_use]
    pub fn to_request(self, id: u64) -> RpcRequest {
        RpcRequest {
            id,
            method: self.method().to_owned(),
            params: self.params(),
        }
    }

    /// The meter side: recognises a received request. Extra members in
    /// `params` are ignored.
    ///
    /// # Errors
    /// [`PayloadError::UnknownMethod`], or [`PayloadError::Expected`] for a
    /// bad `params.state`.
    pub fn from_request(request: &RpcRequest) -> Result<Self, PayloadError> {
        let make: fn(SwitchState) -> Self = match request.method.as_str() {
            SET_RELAY => Self::SetRelay,
            SET_VALVE => Self::SetValve,
            other => {
                return Err(PayloadError::UnknownMethod {
                    method: other.to_owned(),
                });
            }
        };
        let state = match request.params.get("state").and_then(Value::as_str) {
            Some("open") => SwitchState::Open,
            Some("closed") => SwitchState::Closed,
            _ => {
                return Err(PayloadError::expected(
                    "$.params.state",
                    "\"open\" or \"closed\"",
                ));
            }
        };
        Ok(make(state))
    }
}

/// Yufu's RPC reply convention: `{"ok": true}` or `{"ok": false, "error": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandReply {
    /// `{"ok": true}`: the meter carried out the command.
    Ok,
    /// `{"ok": false, "error": "…"}`: it did not, and why.
    Failed {
        /// The meter's reason (empty if it gave none).
        error: String,
    },
}

impl CommandReply {
    /// The reply body.
    #[must_use]
    pub fn to_value(&self) -> Value {
        match self {
            Self::Ok => json!({ "ok": true }),
            Self::Failed { error } => json!({ "ok": false, "error": error }),
        }
    }

    /// Reads a reply body. Unknown members are ignored; a missing `error` on
    /// failure reads as an empty reason.
    ///
    /// # Errors
    /// [`PayloadError`] if the body is not an object with a boolean `ok`, or
    /// `error` is present and not a string.
    pub fn from_value(value: &Value, path: &str) -> Result<Self, PayloadError> {
        let object: &Map<String, Value> = value
            .as_object()
            .ok_or_else(|| PayloadError::expected(path, "an object"))?;
        let ok = match object.get("ok") {
            Some(Value::Bool(ok)) => *ok,
            Some(_) => {
                return Err(PayloadError::expected(
                    &raw::member_path(path, "ok"),
                    "a boolean",
                ));
            }
            None => return Err(PayloadError::missing(path, "ok")),
        };
        if ok {
            return Ok(Self::Ok);
        }
        let error = match object.get("error") {
            None => String::new(),
            Some(Value::String(e)) => e.clone(),
            Some(_) => {
                return Err(PayloadError::expected(
                    &raw::member_path(path, "error"),
                    "a string",
                ));
            }
        };
        Ok(Self::Failed { error })
    }
}
