//! ThingsBoard MQTT topics: parse, format, subscription filters.

use std::fmt;

use crate::TopicError;

const DEVICE: &str = "v1/devices/me/";
const GATEWAY: &str = "v1/gateway/";

/// One ThingsBoard device-API or gateway-API topic.
///
/// Request ids are the decimal `u64` in the last segment. Parsing accepts only
/// the canonical form (ASCII digits, no sign, no leading zero), so for every
/// string `s`, `Topic::parse(s)` succeeding implies `topic.to_string() == s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `v1/devices/me/telemetry` — device publishes telemetry.
    DeviceTelemetry,
    /// `v1/devices/me/attributes` — client attributes (device publishes) and
    /// shared-attribute updates (device subscribes).
    DeviceAttributes,
    /// `v1/devices/me/attributes/request/{id}` — device asks for attributes.
    DeviceAttributesRequest(u64),
    /// `v1/devices/me/attributes/response/{id}` — answer to an attribute request.
    DeviceAttributesResponse(u64),
    /// `v1/devices/me/rpc/request/{id}` — server-side RPC to the device
    /// (or a client-side RPC request from the device).
    DeviceRpcRequest(u64),
    /// `v1/devices/me/rpc/response/{id}` — the reply to RPC request `id`.
    DeviceRpcResponse(u64),
    /// `v1/devices/me/claim` — device claiming.
    DeviceClaim,
    /// `v1/gateway/connect` — a gateway reports a device connected.
    GatewayConnect,
    /// `v1/gateway/disconnect` — a gateway reports a device disconnected.
    GatewayDisconnect,
    /// `v1/gateway/telemetry` — telemetry for several devices.
    GatewayTelemetry,
    /// `v1/gateway/attributes` — attributes for several devices.
    GatewayAttributes,
    /// `v1/gateway/attributes/request` — a gateway asks for a device's attributes.
    GatewayAttributesRequest,
    /// `v1/gateway/attributes/response` — answer to a gateway attribute request.
    GatewayAttributesResponse,
    /// `v1/gateway/rpc` — RPC to (server → gateway) and replies from (gateway → server) devices.
    GatewayRpc,
    /// `v1/gateway/claim` — claiming devices behind a gateway.
    GatewayClaim,
}

impl Topic {
    /// Parses a concrete (wildcard-free) topic name.
    ///
    /// # Errors
    /// [`TopicError::Unknown`] for anything that is not a device or gateway
    /// topic, [`TopicError::BadRequestId`] for a non-canonical or overflowing id.
    pub fn parse(topic: &str) -> Result<Self, TopicError> {
        let unknown = || TopicError::Unknown {
            topic: topic.to_owned(),
        };
        if let Some(rest) = topic.strip_prefix(DEVICE) {
            let with_id = |prefix: &str, make: fn(u64) -> Topic| {
                rest.strip_prefix(prefix)
                    .map(|id| parse_id(topic, id).map(make))
            };
            return match rest {
                "telemetry" => Ok(Self::DeviceTelemetry),
                "attributes" => Ok(Self::DeviceAttributes),
                "claim" => Ok(Self::DeviceClaim),
                _ => with_id("attributes/request/", Self::DeviceAttributesRequest)
                    .or_else(|| with_id("attributes/response/", Self::DeviceAttributesResponse))
                    .or_else(|| with_id("rpc/request/", Self::DeviceRpcRequest))
                    .or_else(|| with_id("rpc/response/", Self::DeviceRpcResponse))
                    .unwrap_or_else(|| Err(unknown())),
            };
        }
        if let Some(rest) = topic.strip_prefix(GATEWAY) {
            return match rest {
                "connect" => Ok(Self::GatewayConnect),
                "disconnect" => Ok(Self::GatewayDisconnect),
                "telemetry" => Ok(Self::GatewayTelemetry),
                "attributes" => Ok(Self::GatewayAttributes),
                "attributes/request" => Ok(Self::GatewayAttributesRequest),
                "attributes/response" => Ok(Self::GatewayAttributesResponse),
                "rpc" => Ok(Self::GatewayRpc),
                "claim" => Ok(Self::GatewayClaim),
                _ => Err(unknown()),
            };
        }
        Err(unknown())
    }

    /// The topic name, e.g. `v1/devices/me/rpc/request/7`.
    #[must_use]
    pub fn as_string(&self) -> String {
        self.to_string()
    }

    /// The request id, for the topics that carry one.
    #[must_use]
    pub const fn request_id(&self) -> Option<u64> {
        match *self {
            Self::DeviceAttributesRequest(id)
            | Self::DeviceAttributesResponse(id)
            | Self::DeviceRpcRequest(id)
            | Self::DeviceRpcResponse(id) => Some(id),
            _ => None,
        }
    }

    /// Whether this is a gateway-API topic (`v1/gateway/…`).
    #[must_use]
    pub const fn is_gateway(&self) -> bool {
        matches!(
            self,
            Self::GatewayConnect
                | Self::GatewayDisconnect
                | Self::GatewayTelemetry
                | Self::GatewayAttributes
                | Self::GatewayAttributesRequest
                | Self::GatewayAttributesResponse
                | Self::GatewayRpc
                | Self::GatewayClaim
        )
    }
}

fn parse_id(topic: &str, id: &str) -> Result<u64, TopicError> {
    let bad = || TopicError::BadRequestId {
        topic: topic.to_owned(),
        id: id.to_owned(),
    };
    let canonical = !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && (id == "0" || !id.starts_with('0'));
    if !canonical {
        return Err(bad());
    }
    id.parse::<u64>().map_err(|_| bad())
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DeviceTelemetry => write!(f, "{DEVICE}telemetry"),
            Self::DeviceAttributes => write!(f, "{DEVICE}attributes"),
            Self::DeviceAttributesRequest(id) => write!(f, "{DEVICE}attributes/request/{id}"),
            Self::DeviceAttributesResponse(id) => write!(f, "{DEVICE}attributes/response/{id}"),
            Self::DeviceRpcRequest(id) => write!(f, "{DEVICE}rpc/request/{id}"),
            Self::DeviceRpcResponse(id) => write!(f, "{DEVICE}rpc/response/{id}"),
            Self::DeviceClaim => write!(f, "{DEVICE}claim"),
            Self::GatewayConnect => write!(f, "{GATEWAY}connect"),
            Self::GatewayDisconnect => write!(f, "{GATEWAY}disconnect"),
            Self::GatewayTelemetry => write!(f, "{GATEWAY}telemetry"),
            Self::GatewayAttributes => write!(f, "{GATEWAY}attributes"),
            Self::GatewayAttributesRequest => write!(f, "{GATEWAY}attributes/request"),
            Self::GatewayAttributesResponse => write!(f, "{GATEWAY}attributes/response"),
            Self::GatewayRpc => write!(f, "{GATEWAY}rpc"),
            Self::GatewayClaim => write!(f, "{GATEWAY}claim"),
        }
    }
}

impl std::str::FromStr for Topic {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Topic filters: what each side subscribes to.
pub mod filters {
    /// Device telemetry (server subscribes).
    pub const DEVICE_TELEMETRY: &str = "v1/devices/me/telemetry";
    /// Device client attributes (server subscribes) / shared-attribute updates (device subscribes).
    pub const DEVICE_ATTRIBUTES: &str = "v1/devices/me/attributes";
    /// Device attribute requests (server subscribes).
    pub const DEVICE_ATTRIBUTES_REQUEST: &str = "v1/devices/me/attributes/request/+";
    /// Attribute responses (device subscribes).
    pub const DEVICE_ATTRIBUTES_RESPONSE: &str = "v1/devices/me/attributes/response/+";
    /// Server-side RPC requests (device subscribes).
    pub const DEVICE_RPC_REQUEST: &str = "v1/devices/me/rpc/request/+";
    /// RPC replies from devices (server subscribes).
    pub const DEVICE_RPC_RESPONSE: &str = "v1/devices/me/rpc/response/+";
    /// Device claim (server subscribes).
    pub const DEVICE_CLAIM: &str = "v1/devices/me/claim";
    /// Gateway → server: connect.
    pub const GATEWAY_CONNECT: &str = "v1/gateway/connect";
    /// Gateway → server: disconnect.
    pub const GATEWAY_DISCONNECT: &str = "v1/gateway/disconnect";
    /// Gateway → server: telemetry.
    pub const GATEWAY_TELEMETRY: &str = "v1/gateway/telemetry";
    /// Gateway → server: attributes (also server → gateway shared-attribute updates).
    pub const GATEWAY_ATTRIBUTES: &str = "v1/gateway/attributes";
    /// Gateway → server: attribute requests.
    pub const GATEWAY_ATTRIBUTES_REQUEST: &str = "v1/gateway/attributes/request";
    /// Server → gateway: attribute responses (gateway subscribes).
    pub const GATEWAY_ATTRIBUTES_RESPONSE: &str = "v1/gateway/attributes/response";
    /// Both directions: RPC requests (gateway subscribes) and replies (server subscribes).
    pub const GATEWAY_RPC: &str = "v1/gateway/rpc";
    /// Gateway → server: claim.
    pub const GATEWAY_CLAIM: &str = "v1/gateway/claim";

    /// Every filter the server subscribes to (device- and gateway-published
    /// topics). Wrap each in [`crate::shared_subscription`] so that several
    /// server instances share the load.
    pub const SERVER: &[&str] = &[
        DEVICE_TELEMETRY,
        DEVICE_ATTRIBUTES,
        DEVICE_ATTRIBUTES_REQUEST,
        DEVICE_RPC_RESPONSE,
        DEVICE_CLAIM,
        GATEWAY_CONNECT,
        GATEWAY_DISCONNECT,
        GATEWAY_TELEMETRY,
        GATEWAY_ATTRIBUTES,
        GATEWAY_ATTRIBUTES_REQUEST,
        GATEWAY_RPC,
        GATEWAY_CLAIM,
    ];

    /// The filters a directly connected device subscribes to.
    pub const DEVICE: &[&str] = &[
        DEVICE_ATTRIBUTES,
        DEVICE_ATTRIBUTES_RESPONSE,
        DEVICE_RPC_REQUEST,
    ];

    /// The filters a gateway subscribes to.
    pub const GATEWAY: &[&str] = &[GATEWAY_ATTRIBUTES, GATEWAY_ATTRIBUTES_RESPONSE, GATEWAY_RPC];
}

/// The MQTT 5 shared-subscription filter `$share/{group}/{filter}`.
///
/// The group is not checked; use [`try_shared_subscription`] for untrusted
/// input (a group must be non-empty and free of `/`, `+`, `#`).
#[must_use]
pub fn shared_subscription(group: &str, filter: &str) -> String {
    format!("$share/{group}/{filter}")
}

/// [`shared_subscription`], rejecting an invalid group name.
///
/// # Errors
/// [`TopicError::InvalidShareGroup`] if `group` is empty or contains `/`, `+` or `#`.
pub fn try_shared_subscription(group: &str, filter: &str) -> Result<String, TopicError> {
    if group.is_empty() || group.contains(['/', '+', '#']) {
        return Err(TopicError::InvalidShareGroup {
            group: group.to_owned(),
        });
    }
    Ok(shared_subscription(group, filter))
}
