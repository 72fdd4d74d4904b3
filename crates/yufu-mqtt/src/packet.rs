//! The packet model: one Rust value per MQTT 3.1.1 control packet.

use bytes::Bytes;

use crate::Error;

/// The protocol a client speaks, from the CONNECT variable header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// MQTT 3.1: protocol name `MQIsdp`, level 3.
    V31,
    /// MQTT 3.1.1: protocol name `MQTT`, level 4.
    V311,
}

impl Protocol {
    /// The protocol name written in CONNECT.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::V31 => "MQIsdp",
            Self::V311 => "MQTT",
        }
    }

    /// The protocol level written in CONNECT.
    #[must_use]
    pub const fn level(self) -> u8 {
        match self {
            Self::V31 => 3,
            Self::V311 => 4,
        }
    }
}

/// Quality of service. Ordered, so a server can grant
/// `requested.min(maximum)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum QoS {
    /// QoS 0: fire and forget.
    AtMostOnce = 0,
    /// QoS 1: acknowledged with PUBACK.
    AtLeastOnce = 1,
    /// QoS 2: PUBREC / PUBREL / PUBCOMP.
    ExactlyOnce = 2,
}

impl TryFrom<u8> for QoS {
    type Error = Error;

    /// # Errors
    /// [`Error::InvalidQoS`] for anything but 0, 1 and 2.
    fn try_from(value: u8) -> Result<Self, Error> {
        match value {
            0 => Ok(Self::AtMostOnce),
            1 => Ok(Self::AtLeastOnce),
            2 => Ok(Self::ExactlyOnce),
            other => Err(Error::InvalidQoS(other)),
        }
    }
}

/// The last-will message in a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// A topic name (no wildcards).
    pub topic: String,
    /// Binary, at most 65,535 bytes.
    pub payload: Bytes,
    /// QoS to publish the will with.
    pub qos: QoS,
    /// Whether the will is published retained.
    pub retain: bool,
}

/// CONNECT: client → server, first packet on a connection.
///
/// The codec checks the wire format only. Session rules — an empty
/// `client_id` needs `clean_session` in 3.1.1 (else CONNACK `0x02`), 3.1
/// clients need a 1–23 character id, a second CONNECT is a protocol
/// violation — are the server's to enforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// 3.1 or 3.1.1.
    pub protocol: Protocol,
    /// The client identifier; may be empty (3.1.1).
    pub client_id: String,
    /// Keep-alive in seconds; 0 disables it.
    pub keep_alive: u16,
    /// Clean-session flag.
    pub clean_session: bool,
    /// User name (ThingsBoard: the device access token).
    pub username: Option<String>,
    /// Password, binary. Requires `username` (MQTT-3.1.2-22).
    pub password: Option<Bytes>,
    /// The will message, if any.
    pub will: Option<Will>,
}

/// CONNACK return codes (MQTT 3.1.1 table 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConnectReturnCode {
    /// 0x00 Connection accepted.
    Accepted = 0,
    /// 0x01 The server does not support the requested protocol level.
    UnacceptableProtocol = 1,
    /// 0x02 Client identifier not allowed.
    IdentifierRejected = 2,
    /// 0x03 The MQTT service is unavailable.
    ServerUnavailable = 3,
    /// 0x04 Malformed user name or password.
    BadUsernameOrPassword = 4,
    /// 0x05 The client is not authorised to connect.
    NotAuthorized = 5,
}

impl TryFrom<u8> for ConnectReturnCode {
    type Error = Error;

    /// # Errors
    /// [`Error::InvalidConnectReturnCode`] for 6–255 (reserved).
    fn try_from(value: u8) -> Result<Self, Error> {
        match value {
            0 => Ok(Self::Accepted),
            1 => Ok(Self::UnacceptableProtocol),
            2 => Ok(Self::IdentifierRejected),
            3 => Ok(Self::ServerUnavailable),
            4 => Ok(Self::BadUsernameOrPassword),
            5 => Ok(Self::NotAuthorized),
            other => Err(Error::InvalidConnectReturnCode(other)),
        }
    }
}

/// CONNACK: server → client.
///
/// `session_present` must be `false` unless `code` is `Accepted`
/// (MQTT-3.2.2-4), and should be `false` for 3.1 clients, whose CONNACK
/// has no such flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnAck {
    /// The server has session state for this client.
    pub session_present: bool,
    /// The verdict.
    pub code: ConnectReturnCode,
}

/// PUBLISH, in either direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// Re-delivery flag; must be `false` at QoS 0 (MQTT-3.3.1-2).
    pub dup: bool,
    /// Delivery QoS.
    pub qos: QoS,
    /// Retain flag.
    pub retain: bool,
    /// A topic name (non-empty, no wildcards).
    pub topic: String,
    /// Packet identifier: non-zero for QoS 1 and 2, `0` for QoS 0 (not sent
    /// on the wire at QoS 0, so ignored by [`encode`](crate::encode)).
    pub pkid: u16,
    /// Application payload; decoded without copying.
    pub payload: Bytes,
}

/// SUBSCRIBE: client → server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Non-zero packet identifier.
    pub pkid: u16,
    /// At least one topic filter with its requested QoS.
    pub filters: Vec<(String, QoS)>,
}

/// One entry of a SUBACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscribeReturnCode {
    /// Subscribed; the maximum QoS granted.
    Success(QoS),
    /// `0x80`: the subscription was refused.
    Failure,
}

/// SUBACK: server → client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// The SUBSCRIBE's packet identifier.
    pub pkid: u16,
    /// One code per filter, in SUBSCRIBE order (at least one).
    pub codes: Vec<SubscribeReturnCode>,
}

/// UNSUBSCRIBE: client → server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Non-zero packet identifier.
    pub pkid: u16,
    /// At least one topic filter.
    pub filters: Vec<String>,
}

/// Any MQTT 3.1.1 control packet. The `u16` of the acknowledgements is the
/// (non-zero) packet identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (type 1).
    Connect(Connect),
    /// CONNACK (type 2).
    ConnAck(ConnAck),
    /// PUBLISH (type 3).
    Publish(Publish),
    /// PUBACK (type 4): QoS 1 acknowledgement.
    PubAck(u16),
    /// PUBREC (type 5): QoS 2, part 1.
    PubRec(u16),
    /// PUBREL (type 6): QoS 2, part 2.
    PubRel(u16),
    /// PUBCOMP (type 7): QoS 2, part 3.
    PubComp(u16),
    /// SUBSCRIBE (type 8).
    Subscribe(Subscribe),
    /// SUBACK (type 9).
    SubAck(SubAck),
    /// UNSUBSCRIBE (type 10).
    Unsubscribe(Unsubscribe),
    /// UNSUBACK (type 11).
    UnsubAck(u16),
    /// PINGREQ (type 12).
    PingReq,
    /// PINGRESP (type 13).
    PingResp,
    /// DISCONNECT (type 14).
    Disconnect,
}

impl Packet {
    /// The packet type's name as the specification writes it, e.g.
    /// `"PUBLISH"` (for logs and metrics labels).
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Connect(_) => "CONNECT",
            Self::ConnAck(_) => "CONNACK",
            Self::Publish(_) => "PUBLISH",
            Self::PubAck(_) => "PUBACK",
            Self::PubRec(_) => "PUBREC",
            Self::PubRel(_) => "PUBREL",
            Self::PubComp(_) => "PUBCOMP",
            Self::Subscribe(_) => "SUBSCRIBE",
            Self::SubAck(_) => "SUBACK",
            Self::Unsubscribe(_) => "UNSUBSCRIBE",
            Self::UnsubAck(_) => "UNSUBACK",
            Self::PingReq => "PINGREQ",
            Self::PingResp => "PINGRESP",
            Self::Disconnect => "DISCONNECT",
        }
    }
}
