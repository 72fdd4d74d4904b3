//! Every protocol violation gives its typed error, as early as possible, and
//! consumes exactly what the documentation says.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the failure report

use bytes::{Bytes, BytesMut};
use yufu_mqtt::{
    ConnAck, Connect, ConnectReturnCode, Error, MAX_REMAINING_LENGTH, Packet, Protocol, Publish,
    QoS, SubAck, Subscribe, Unsubscribe, Will, decode, encode,
};

const MAX: usize = 1 << 20;

fn wire(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Decodes `bytes` and returns the error and how many bytes were left.
fn decode_err(bytes: &[u8]) -> (Error, usize) {
    let mut buf = BytesMut::from(bytes);
    let err = decode(&mut buf, MAX).expect_err("must not decode");
    (err, buf.len())
}

/// A complete packet whose body is wrong: the error, and the packet consumed.
fn body_err(bytes: &[u8]) -> Error {
    let (err, left) = decode_err(bytes);
    assert_eq!(left, 0, "{err:?}: a complete bad packet is consumed");
    err
}

/// A bad fixed header: the error, and nothing consumed.
fn header_err(bytes: &[u8]) -> Error {
    let (err, left) = decode_err(bytes);
    assert_eq!(left, bytes.len(), "{err:?}: a bad header consumes nothing");
    err
}

fn malformed(bytes: &[u8], reason: &'static str) {
    assert_eq!(body_err(bytes), Error::Malformed(reason));
}

/// A CONNECT with the given protocol, level, flags and payload.
fn connect(name: &[u8], level: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = wire(&[
        &[0x00, u8::try_from(name.len()).unwrap()],
        name,
        &[level, flags, 0x00, 0x3c],
        payload,
    ]);
    let mut bytes = vec![0x10, u8::try_from(body.len()).unwrap()];
    bytes.append(&mut body);
    bytes
}

#[test]
fn remaining_length_of_five_bytes() {
    // The fourth byte's continuation bit is enough: no waiting for a fifth.
    assert_eq!(
        header_err(&[0x30, 0xff, 0xff, 0xff, 0xff]),
        Error::MalformedRemainingLength
    );
    assert_eq!(
        header_err(&[0x30, 0x80, 0x80, 0x80, 0x80, 0x01]),
        Error::MalformedRemainingLength
    );
    // Three continuation bytes: the fourth may still end it.
    let mut buf = BytesMut::from(&[0x30, 0xff, 0xff, 0xff][..]);
    assert_eq!(decode(&mut buf, usize::MAX).unwrap(), None);
    assert_eq!(buf.len(), 4);
    // The largest legal value is merely incomplete.
    let mut buf = BytesMut::from(&[0x30, 0xff, 0xff, 0xff, 0x7f][..]);
    assert_eq!(decode(&mut buf, usize::MAX).unwrap(), None);
}

#[test]
fn oversized_packet_rejected_from_the_header() {
    // Remaining length 128: 3-byte header + 128 = 131 bytes, body absent.
    let mut buf = BytesMut::from(&[0x30, 0x80, 0x01][..]);
    assert_eq!(
        decode(&mut buf, 100),
        Err(Error::PacketTooLarge {
            size: 131,
            max: 100
        })
    );
    assert_eq!(buf.len(), 3);
    // The limit counts the fixed header: PINGREQ is 2 bytes.
    let mut buf = BytesMut::from(&[0xc0, 0x00][..]);
    assert_eq!(
        decode(&mut buf, 1),
        Err(Error::PacketTooLarge { size: 2, max: 1 })
    );
    let mut buf = BytesMut::from(&[0xc0, 0x00][..]);
    assert_eq!(decode(&mut buf, 2), Ok(Some(Packet::PingReq)));
    // A 256 MiB claim with five bytes in hand.
    let mut buf = BytesMut::from(&[0x30, 0xff, 0xff, 0xff, 0x7f][..]);
    assert_eq!(
        decode(&mut buf, MAX),
        Err(Error::PacketTooLarge {
            size: 268_435_460,
            max: MAX
        })
    );
}

#[test]
fn reserved_packet_types() {
    assert_eq!(header_err(&[0x00]), Error::InvalidPacketType(0));
    assert_eq!(header_err(&[0xf0, 0x00]), Error::InvalidPacketType(15));
}

#[test]
fn wrong_fixed_header_flags() {
    // Reported from the first byte alone.
    let cases: [(u8, &str); 13] = [
        (0x11, "CONNECT"),
        (0x28, "CONNACK"),
        (0x41, "PUBACK"),
        (0x52, "PUBREC"),
        (0x60, "PUBREL"),
        (0x63, "PUBREL"),
        (0x72, "PUBCOMP"),
        (0x80, "SUBSCRIBE"),
        (0x92, "SUBACK"),
        (0xa0, "UNSUBSCRIBE"),
        (0xb2, "UNSUBACK"),
        (0xc1, "PINGREQ"),
        (0xef, "DISCONNECT"),
    ];
    for (first, packet) in cases {
        assert_eq!(
            header_err(&[first]),
            Error::InvalidFlags {
                packet,
                flags: first & 0x0f
            }
        );
    }
    assert_eq!(
        header_err(&[0xd4, 0x00]),
        Error::InvalidFlags {
            packet: "PINGRESP",
            flags: 4
        }
    );
}

#[test]
fn publish_flags() {
    // QoS bits 11.
    assert_eq!(header_err(&[0x36]), Error::InvalidQoS(3));
    assert_eq!(header_err(&[0x3f]), Error::InvalidQoS(3));
    // DUP at QoS 0 (MQTT-3.3.1-2).
    assert_eq!(
        header_err(&[0x38]),
        Error::InvalidFlags {
            packet: "PUBLISH",
            flags: 0x08
        }
    );
}

#[test]
fn wrong_remaining_length_for_fixed_size_packets() {
    // Rejected before the claimed body arrives.
    assert_eq!(
        header_err(&[0xc0, 0x01]),
        Error::Malformed("remaining length must be 0")
    );
    assert_eq!(
        header_err(&[0xe0, 0x7f]),
        Error::Malformed("remaining length must be 0")
    );
    assert_eq!(
        header_err(&[0x40, 0x03]),
        Error::Malformed("remaining length must be 2")
    );
    assert_eq!(
        header_err(&[0x20, 0x00]),
        Error::Malformed("remaining length must be 2")
    );
    assert_eq!(
        header_err(&[0x62, 0x01, 0x00]),
        Error::Malformed("remaining length must be 2")
    );
}

#[test]
fn truncated_fields_inside_a_complete_packet() {
    // Topic length 5, but only the length fits in the packet.
    malformed(&[0x30, 0x02, 0x00, 0x05], "PUBLISH: truncated topic name");
    malformed(&[0x30, 0x01, 0x00], "PUBLISH: truncated topic name");
    malformed(&[0x30, 0x00], "PUBLISH: truncated topic name");
    // QoS 1 without room for the packet id.
    malformed(
        &[0x32, 0x04, 0x00, 0x01, b't', 0x00],
        "truncated packet identifier",
    );
    malformed(&[0x82, 0x01, 0x00], "truncated packet identifier");
    malformed(
        &[0x82, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'],
        "SUBSCRIBE: truncated requested QoS",
    );
    malformed(
        &[0x82, 0x05, 0x00, 0x01, 0x00, 0x02, b'a'],
        "truncated topic filter",
    );
    malformed(
        &[0x10, 0x03, 0x00, 0x04, b'M'],
        "CONNECT: truncated protocol name",
    );
    malformed(
        &[0x10, 0x06, 0x00, 0x04, b'M', b'Q', b'T', b'T'],
        "CONNECT: truncated protocol level",
    );
    malformed(
        &connect(b"MQTT", 4, 0x02, &[0x00]),
        "CONNECT: truncated client identifier",
    );
    malformed(
        &connect(b"MQTT", 4, 0x82, &[0x00, 0x00, 0x00, 0x02, b'u']),
        "CONNECT: truncated user name",
    );
    malformed(
        &connect(b"MQTT", 4, 0x06, &[0x00, 0x00, 0x00, 0x01, b't', 0x00]),
        "CONNECT: truncated will message",
    );
    malformed(
        &connect(
            b"MQTT",
            4,
            0xc2,
            &[0x00, 0x00, 0x00, 0x01, b'u', 0x00, 0x01],
        ),
        "CONNECT: truncated password",
    );
}

#[test]
fn bad_utf8_and_nul() {
    assert_eq!(
        body_err(&[0x30, 0x04, 0x00, 0x02, 0xc3, 0x28]),
        Error::InvalidUtf8
    );
    // An encoded surrogate (U+D800) is not UTF-8 either (MQTT-1.5.3-1).
    assert_eq!(
        body_err(&[0x30, 0x05, 0x00, 0x03, 0xed, 0xa0, 0x80]),
        Error::InvalidUtf8
    );
    // Overlong encoding of '/'.
    assert_eq!(
        body_err(&[0x30, 0x04, 0x00, 0x02, 0xc0, 0xaf]),
        Error::InvalidUtf8
    );
    assert_eq!(
        body_err(&[0x30, 0x04, 0x00, 0x02, b'a', 0x00]),
        Error::NulCharacter
    );
    assert_eq!(
        body_err(&connect(b"MQTT", 4, 0x02, &[0x00, 0x02, b'a', 0x00])),
        Error::NulCharacter
    );
    assert_eq!(
        body_err(&connect(b"MQTT", 4, 0x82, &[0x00, 0x00, 0x00, 0x01, 0xff])),
        Error::InvalidUtf8
    );
    assert_eq!(
        body_err(&[0xa2, 0x05, 0x00, 0x01, 0x00, 0x01, 0x00]),
        Error::NulCharacter
    );
}

#[test]
fn invalid_topics_and_filters() {
    assert_eq!(
        body_err(&[0x30, 0x02, 0x00, 0x00]),
        Error::InvalidTopicName("empty")
    );
    assert_eq!(
        body_err(&[0x30, 0x05, 0x00, 0x03, b'a', b'/', b'+']),
        Error::InvalidTopicName("contains a wildcard")
    );
    assert_eq!(
        body_err(&[0x30, 0x03, 0x00, 0x01, b'#']),
        Error::InvalidTopicName("contains a wildcard")
    );
    // Will topic is a topic name too.
    assert_eq!(
        body_err(&connect(
            b"MQTT",
            4,
            0x06,
            &[0x00, 0x00, 0x00, 0x01, b'#', 0x00, 0x00]
        )),
        Error::InvalidTopicName("contains a wildcard")
    );
    assert_eq!(
        body_err(&[0x82, 0x07, 0x00, 0x01, 0x00, 0x02, b'a', b'#', 0x00]),
        Error::InvalidFilter("`#` must be a whole level")
    );
    assert_eq!(
        body_err(&[0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00]),
        Error::InvalidFilter("empty")
    );
    assert_eq!(
        body_err(&[0xa2, 0x07, 0x00, 0x01, 0x00, 0x03, b'#', b'/', b'a']),
        Error::InvalidFilter("`#` must be the last level")
    );
}

#[test]
fn connect_violations() {
    malformed(
        &connect(b"MQTT", 4, 0x03, &[0x00, 0x00]),
        "CONNECT: reserved connect flag set",
    );
    // Password flag without user name flag (MQTT-3.1.2-22).
    malformed(
        &connect(b"MQTT", 4, 0x42, &[0x00, 0x00, 0x00, 0x00]),
        "CONNECT: password without user name",
    );
    // Will QoS 1 / will retain without the will flag.
    malformed(
        &connect(b"MQTT", 4, 0x0a, &[0x00, 0x00]),
        "CONNECT: will QoS or retain without will flag",
    );
    malformed(
        &connect(b"MQTT", 4, 0x22, &[0x00, 0x00]),
        "CONNECT: will QoS or retain without will flag",
    );
    // Will QoS 3.
    assert_eq!(
        body_err(&connect(
            b"MQTT",
            4,
            0x1e,
            &[0x00, 0x00, 0x00, 0x01, b't', 0x00, 0x00]
        )),
        Error::InvalidQoS(3)
    );
    malformed(
        &connect(b"MQTT", 4, 0x02, &[0x00, 0x00, 0xff]),
        "CONNECT: bytes after the payload",
    );
}

#[test]
fn unsupported_protocol_consumes_the_connect() {
    // An MQTT 5 CONNECT: level 5, then a properties length we do not parse,
    // followed in the same read by a PINGREQ.
    let mqtt5 = connect(
        b"MQTT",
        5,
        0x02,
        &[0x00, 0x00, 0x04, b'd', b'e', b'v', b'1'],
    );
    let mut buf = BytesMut::from(&wire(&[&mqtt5, &[0xc0, 0x00]])[..]);
    assert_eq!(
        decode(&mut buf, MAX),
        Err(Error::UnsupportedProtocol {
            name: "MQTT".to_owned(),
            level: 5
        })
    );
    assert_eq!(&buf[..], &[0xc0, 0x00], "exactly the CONNECT consumed");

    for (name, level) in [(&b"MQTT"[..], 3), (b"MQIsdp", 4), (b"MQTX", 4), (b"", 4)] {
        assert_eq!(
            body_err(&connect(name, level, 0x02, &[0x00, 0x00])),
            Error::UnsupportedProtocol {
                name: String::from_utf8(name.to_vec()).unwrap(),
                level
            }
        );
    }
    assert_eq!(
        body_err(&connect(&[0xff, 0xfe], 4, 0x02, &[0x00, 0x00])),
        Error::InvalidUtf8
    );
}

#[test]
fn zero_packet_identifiers() {
    for first in [0x40, 0x50, 0x62, 0x70, 0xb0] {
        malformed(&[first, 0x02, 0x00, 0x00], "zero packet identifier");
    }
    malformed(
        &[0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x00],
        "zero packet identifier",
    );
    malformed(
        &[0x34, 0x05, 0x00, 0x01, b't', 0x00, 0x00],
        "zero packet identifier",
    );
    malformed(
        &[0x82, 0x06, 0x00, 0x00, 0x00, 0x01, b'a', 0x00],
        "zero packet identifier",
    );
    malformed(&[0x90, 0x03, 0x00, 0x00, 0x00], "zero packet identifier");
    malformed(
        &[0xa2, 0x05, 0x00, 0x00, 0x00, 0x01, b'a'],
        "zero packet identifier",
    );
}

#[test]
fn subscribe_unsubscribe_suback_violations() {
    malformed(&[0x82, 0x02, 0x00, 0x01], "SUBSCRIBE without topic filters");
    malformed(
        &[0xa2, 0x02, 0x00, 0x01],
        "UNSUBSCRIBE without topic filters",
    );
    malformed(&[0x90, 0x02, 0x00, 0x01], "SUBACK without return codes");
    // Requested-QoS byte with reserved bits (MQTT-3-8.3-4), and QoS 3.
    malformed(
        &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x04],
        "SUBSCRIBE: reserved QoS bits set",
    );
    assert_eq!(
        body_err(&[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x03]),
        Error::InvalidQoS(3)
    );
    assert_eq!(
        body_err(&[0x90, 0x04, 0x00, 0x01, 0x00, 0x03]),
        Error::InvalidSubscribeReturnCode(3)
    );
    assert_eq!(
        body_err(&[0x90, 0x03, 0x00, 0x01, 0x81]),
        Error::InvalidSubscribeReturnCode(0x81)
    );
}

#[test]
fn connack_violations() {
    assert_eq!(
        body_err(&[0x20, 0x02, 0x00, 0x06]),
        Error::InvalidConnectReturnCode(6)
    );
    malformed(
        &[0x20, 0x02, 0x02, 0x00],
        "CONNACK: reserved acknowledge flags set",
    );
    // MQTT-3.2.2-4: no session present on a refusal.
    malformed(
        &[0x20, 0x02, 0x01, 0x05],
        "CONNACK: session present on a refusal",
    );
}

fn publish(qos: QoS, pkid: u16, topic: &str, payload: Bytes) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.to_owned(),
        pkid,
        payload,
    })
}

/// Encoding fails with `expected` and leaves `out` as it was.
fn encode_err(packet: &Packet, expected: &Error) {
    let mut out = BytesMut::from(&b"prefix"[..]);
    assert_eq!(encode(packet, &mut out).as_ref(), Err(expected));
    assert_eq!(&out[..], b"prefix");
}

#[test]
fn unencodable_values() {
    let long = "x".repeat(65_536);
    encode_err(
        &publish(QoS::AtMostOnce, 0, &long, Bytes::new()),
        &Error::StringTooLong,
    );
    let at_limit = "x".repeat(65_535);
    let mut out = BytesMut::new();
    encode(
        &publish(QoS::AtMostOnce, 0, &at_limit, Bytes::new()),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        decode(&mut out, usize::MAX).unwrap().map(|p| p.name()),
        Some("PUBLISH")
    );

    // A zeroed allocation of the largest possible payload is lazily mapped,
    // so this costs no real memory; the check runs before any copy.
    let huge = Bytes::from(vec![0u8; MAX_REMAINING_LENGTH]);
    encode_err(
        &publish(QoS::AtMostOnce, 0, "t", huge),
        &Error::PayloadTooLarge,
    );

    encode_err(
        &publish(QoS::AtLeastOnce, 0, "t", Bytes::new()),
        &Error::Malformed("zero packet identifier"),
    );
    encode_err(
        &Packet::PubAck(0),
        &Error::Malformed("zero packet identifier"),
    );
    encode_err(
        &Packet::UnsubAck(0),
        &Error::Malformed("zero packet identifier"),
    );
    encode_err(
        &Packet::Subscribe(Subscribe {
            pkid: 1,
            filters: vec![],
        }),
        &Error::Malformed("SUBSCRIBE without topic filters"),
    );
    encode_err(
        &Packet::Unsubscribe(Unsubscribe {
            pkid: 1,
            filters: vec![],
        }),
        &Error::Malformed("UNSUBSCRIBE without topic filters"),
    );
    encode_err(
        &Packet::SubAck(SubAck {
            pkid: 1,
            codes: vec![],
        }),
        &Error::Malformed("SUBACK without return codes"),
    );
    encode_err(
        &Packet::Subscribe(Subscribe {
            pkid: 1,
            filters: vec![("a/#/b".to_owned(), QoS::AtMostOnce)],
        }),
        &Error::InvalidFilter("`#` must be the last level"),
    );
    encode_err(
        &publish(QoS::AtMostOnce, 0, "a/+", Bytes::new()),
        &Error::InvalidTopicName("contains a wildcard"),
    );
    encode_err(
        &publish(QoS::AtMostOnce, 0, "", Bytes::new()),
        &Error::InvalidTopicName("empty"),
    );
    encode_err(
        &Packet::Publish(Publish {
            dup: true,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "t".to_owned(),
            pkid: 0,
            payload: Bytes::new(),
        }),
        &Error::InvalidFlags {
            packet: "PUBLISH",
            flags: 0x08,
        },
    );
    encode_err(
        &Packet::ConnAck(ConnAck {
            session_present: true,
            code: ConnectReturnCode::NotAuthorized,
        }),
        &Error::Malformed("CONNACK: session present on a refusal"),
    );

    let base = Connect {
        protocol: Protocol::V311,
        client_id: "c".to_owned(),
        keep_alive: 0,
        clean_session: true,
        username: None,
        password: None,
        will: None,
    };
    encode_err(
        &Packet::Connect(Connect {
            password: Some(Bytes::from_static(b"p")),
            ..base.clone()
        }),
        &Error::Malformed("CONNECT: password without user name"),
    );
    encode_err(
        &Packet::Connect(Connect {
            client_id: "a\0b".to_owned(),
            ..base.clone()
        }),
        &Error::NulCharacter,
    );
    encode_err(
        &Packet::Connect(Connect {
            username: Some("u".to_owned()),
            password: Some(Bytes::from(vec![0; 65_536])),
            ..base.clone()
        }),
        &Error::StringTooLong,
    );
    encode_err(
        &Packet::Connect(Connect {
            will: Some(Will {
                topic: "w/#".to_owned(),
                payload: Bytes::new(),
                qos: QoS::AtMostOnce,
                retain: false,
            }),
            ..base
        }),
        &Error::InvalidTopicName("contains a wildcard"),
    );
}

#[test]
fn publish_pkid_is_ignored_at_qos0() {
    let mut out = BytesMut::new();
    encode(&publish(QoS::AtMostOnce, 99, "t", Bytes::new()), &mut out).unwrap();
    assert_eq!(&out[..], &[0x30, 0x03, 0x00, 0x01, b't']);
    assert_eq!(
        decode(&mut out, MAX).unwrap(),
        Some(publish(QoS::AtMostOnce, 0, "t", Bytes::new()))
    );
}

#[test]
fn qos_and_return_code_conversions() {
    assert_eq!(QoS::try_from(2), Ok(QoS::ExactlyOnce));
    assert_eq!(QoS::try_from(3), Err(Error::InvalidQoS(3)));
    assert!(QoS::AtMostOnce < QoS::ExactlyOnce);
    assert_eq!(
        ConnectReturnCode::try_from(5),
        Ok(ConnectReturnCode::NotAuthorized)
    );
    assert_eq!(
        ConnectReturnCode::try_from(6),
        Err(Error::InvalidConnectReturnCode(6))
    );
}
