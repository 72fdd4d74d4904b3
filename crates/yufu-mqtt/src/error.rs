//! The one error type for decoding, encoding and topic validation.

/// Why a packet could not be decoded or encoded, or a topic name or filter
/// is invalid.
///
/// Every decode error is a protocol violation: MQTT 3.1.1 says the receiver
/// closes the network connection. The only error a server answers first is
/// [`Error::UnsupportedProtocol`] (CONNACK `0x01`, then close).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The remaining-length field has a continuation bit on its fourth byte
    /// (MQTT allows at most four bytes, i.e. 268,435,455).
    #[error("malformed remaining length (more than 4 bytes)")]
    MalformedRemainingLength,
    /// The packet (fixed header included) is larger than the caller's limit.
    /// Reported from the fixed header alone, before the body has arrived.
    #[error("packet of {size} bytes exceeds the limit of {max} bytes")]
    PacketTooLarge {
        /// Total packet size in bytes: fixed header plus remaining length.
        size: usize,
        /// The `max_packet` passed to [`decode`](crate::decode).
        max: usize,
    },
    /// Control packet type 0 or 15 (both reserved in MQTT 3.1.1).
    #[error("invalid control packet type {0}")]
    InvalidPacketType(u8),
    /// The four flag bits of the fixed header are wrong for the packet type
    /// (for example PUBREL, SUBSCRIBE or UNSUBSCRIBE without `0b0010`, or a
    /// QoS 0 PUBLISH with DUP set).
    #[error("invalid fixed-header flags {flags:#06b} for {packet}")]
    InvalidFlags {
        /// The packet type, e.g. `"SUBSCRIBE"`.
        packet: &'static str,
        /// The low nibble of the first byte.
        flags: u8,
    },
    /// CONNECT with a protocol name and level other than `MQTT`/4 (3.1.1) or
    /// `MQIsdp`/3 (3.1), e.g. an MQTT 5 client (`MQTT`/5). The whole packet
    /// has been consumed; a server answers CONNACK `0x01` (unacceptable
    /// protocol version) and closes the connection.
    #[error("unsupported protocol {name:?} level {level}")]
    UnsupportedProtocol {
        /// The protocol name as sent.
        name: String,
        /// The protocol level as sent.
        level: u8,
    },
    /// A string field is not well-formed UTF-8 (this includes encoded
    /// surrogates, which MQTT forbids as well).
    #[error("string is not well-formed UTF-8")]
    InvalidUtf8,
    /// A string field contains U+0000, which MQTT forbids.
    #[error("string contains U+0000")]
    NulCharacter,
    /// A QoS value of 3 (or more, in a SUBSCRIBE's requested-QoS byte).
    #[error("invalid QoS {0}")]
    InvalidQoS(u8),
    /// A CONNACK return code above 5 (6–255 are reserved).
    #[error("invalid CONNACK return code {0}")]
    InvalidConnectReturnCode(u8),
    /// A SUBACK return code other than 0, 1, 2 or `0x80`.
    #[error("invalid SUBACK return code {0:#04x}")]
    InvalidSubscribeReturnCode(u8),
    /// A topic name that is empty or contains `+` or `#`.
    #[error("invalid topic name: {0}")]
    InvalidTopicName(&'static str),
    /// A topic filter that is empty or uses `+` or `#` other than as a whole
    /// level (`#` only as the last level).
    #[error("invalid topic filter: {0}")]
    InvalidFilter(&'static str),
    /// Any other violation inside a complete packet: truncated fields, a
    /// remaining length that is wrong for the packet type, trailing bytes,
    /// reserved bits set, a zero packet identifier, an empty SUBSCRIBE …
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// Encoding: a string (or topic, or password) longer than 65,535 bytes.
    #[error("string longer than 65535 bytes")]
    StringTooLong,
    /// Encoding: the packet's remaining length would exceed 268,435,455 bytes.
    #[error("packet too large for the MQTT remaining-length field")]
    PayloadTooLarge,
}
