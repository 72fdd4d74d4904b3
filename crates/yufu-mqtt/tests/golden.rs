//! Byte vectors written out by hand from the MQTT 3.1.1 specification
//! (figures in §3), checked in both directions and byte by byte.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the failure report

use bytes::{Bytes, BytesMut};
use yufu_mqtt::{
    ConnAck, Connect, ConnectReturnCode, Packet, Protocol, Publish, QoS, SubAck, Subscribe,
    SubscribeReturnCode, Unsubscribe, Will, decode, encode,
};

const MAX: usize = 1 << 20;

/// Concatenates header bytes and ASCII text into one vector.
fn wire(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// `bytes` decodes to `packet` (consuming everything), `packet` encodes to
/// `bytes`, and every strict prefix decodes to `None` without consuming.
fn golden(bytes: &[u8], packet: &Packet) {
    let mut buf = BytesMut::from(bytes);
    assert_eq!(decode(&mut buf, MAX).unwrap().as_ref(), Some(packet));
    assert!(buf.is_empty(), "{} left {buf:?}", packet.name());

    let mut out = BytesMut::new();
    encode(packet, &mut out).unwrap();
    assert_eq!(&out[..], bytes, "encoding of {}", packet.name());

    for cut in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..cut]);
        assert_eq!(
            decode(&mut buf, MAX).unwrap(),
            None,
            "prefix of {cut} bytes"
        );
        assert_eq!(buf.len(), cut, "prefix consumed");
    }
}

#[test]
fn connect_thingsboard_token() {
    // Device access token as user name, no password, keep-alive 60.
    let bytes = wire(&[
        &[0x10, 0x1f],    // CONNECT, remaining length 31
        &[0x00, 0x04],    // protocol name length
        b"MQTT",          //
        &[0x04],          // level 4 = 3.1.1
        &[0x82],          // user name + clean session
        &[0x00, 0x3c],    // keep-alive 60 s
        &[0x00, 0x04],    // client id length
        b"dev1",          //
        &[0x00, 0x0d],    // user name length
        b"A1_TEST_TOKEN", //
    ]);
    golden(
        &bytes,
        &Packet::Connect(Connect {
            protocol: Protocol::V311,
            client_id: "dev1".to_owned(),
            keep_alive: 60,
            clean_session: true,
            username: Some("A1_TEST_TOKEN".to_owned()),
            password: None,
            will: None,
        }),
    );
}

#[test]
fn connect_with_will_and_password() {
    let bytes = wire(&[
        &[0x10, 0x25], // remaining length 37
        &[0x00, 0x04],
        b"MQTT",
        &[0x04],
        // user name 0x80 | password 0x40 | will retain 0x20 | will QoS 1 0x08
        // | will 0x04; clean session off.
        &[0xec],
        &[0x01, 0x2c], // keep-alive 300 s
        &[0x00, 0x05],
        b"sim-7",
        &[0x00, 0x06],
        b"lwt/m7",
        &[0x00, 0x03],
        b"off",
        &[0x00, 0x01],
        b"u",
        &[0x00, 0x02, 0x00, 0xff], // binary password
    ]);
    golden(
        &bytes,
        &Packet::Connect(Connect {
            protocol: Protocol::V311,
            client_id: "sim-7".to_owned(),
            keep_alive: 300,
            clean_session: false,
            username: Some("u".to_owned()),
            password: Some(Bytes::from_static(&[0x00, 0xff])),
            will: Some(Will {
                topic: "lwt/m7".to_owned(),
                payload: Bytes::from_static(b"off"),
                qos: QoS::AtLeastOnce,
                retain: true,
            }),
        }),
    );
}

#[test]
fn connect_mqtt_3_1() {
    let bytes = wire(&[
        &[0x10, 0x10], // remaining length 16
        &[0x00, 0x06],
        b"MQIsdp",
        &[0x03],       // level 3 = 3.1
        &[0x02],       // clean session
        &[0x00, 0x0a], // keep-alive 10 s
        &[0x00, 0x02],
        b"m1",
    ]);
    golden(
        &bytes,
        &Packet::Connect(Connect {
            protocol: Protocol::V31,
            client_id: "m1".to_owned(),
            keep_alive: 10,
            clean_session: true,
            username: None,
            password: None,
            will: None,
        }),
    );
}

#[test]
fn connect_empty_client_id_and_empty_password() {
    let bytes = wire(&[
        &[0x10, 0x11], // remaining length 17
        &[0x00, 0x04],
        b"MQTT",
        &[0x04, 0xc2, 0x00, 0x00], // user name + password + clean; keep-alive 0
        &[0x00, 0x00],             // empty client id
        &[0x00, 0x01],
        b"t",
        &[0x00, 0x00], // empty password
    ]);
    golden(
        &bytes,
        &Packet::Connect(Connect {
            protocol: Protocol::V311,
            client_id: String::new(),
            keep_alive: 0,
            clean_session: true,
            username: Some("t".to_owned()),
            password: Some(Bytes::new()),
            will: None,
        }),
    );
}

#[test]
fn connack() {
    let cases = [
        ([0x20, 0x02, 0x00, 0x00], false, ConnectReturnCode::Accepted),
        ([0x20, 0x02, 0x01, 0x00], true, ConnectReturnCode::Accepted),
        (
            [0x20, 0x02, 0x00, 0x01],
            false,
            ConnectReturnCode::UnacceptableProtocol,
        ),
        (
            [0x20, 0x02, 0x00, 0x02],
            false,
            ConnectReturnCode::IdentifierRejected,
        ),
        (
            [0x20, 0x02, 0x00, 0x03],
            false,
            ConnectReturnCode::ServerUnavailable,
        ),
        (
            [0x20, 0x02, 0x00, 0x04],
            false,
            ConnectReturnCode::BadUsernameOrPassword,
        ),
        (
            [0x20, 0x02, 0x00, 0x05],
            false,
            ConnectReturnCode::NotAuthorized,
        ),
    ];
    for (bytes, session_present, code) in cases {
        golden(
            &bytes,
            &Packet::ConnAck(ConnAck {
                session_present,
                code,
            }),
        );
    }
}

#[test]
fn publish_qos1_telemetry() {
    let bytes = wire(&[
        &[0x32, 0x26], // PUBLISH QoS 1, remaining length 38
        &[0x00, 0x17], // topic length 23
        b"v1/devices/me/telemetry",
        &[0x00, 0x01], // packet id 1
        br#"{"kwh":1.5}"#,
    ]);
    golden(
        &bytes,
        &Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "v1/devices/me/telemetry".to_owned(),
            pkid: 1,
            payload: Bytes::from_static(br#"{"kwh":1.5}"#),
        }),
    );
}

#[test]
fn publish_qos0_retained() {
    let bytes = wire(&[&[0x31, 0x07, 0x00, 0x03], b"a/b", b"hi"]);
    golden(
        &bytes,
        &Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: true,
            topic: "a/b".to_owned(),
            pkid: 0,
            payload: Bytes::from_static(b"hi"),
        }),
    );
}

#[test]
fn publish_qos2_dup_empty_payload() {
    // 0x30 | DUP 0x08 | QoS 2 0x04.
    let bytes = [0x3c, 0x05, 0x00, 0x01, b't', 0x12, 0x34];
    golden(
        &bytes,
        &Packet::Publish(Publish {
            dup: true,
            qos: QoS::ExactlyOnce,
            retain: false,
            topic: "t".to_owned(),
            pkid: 0x1234,
            payload: Bytes::new(),
        }),
    );
}

#[test]
fn publish_two_byte_remaining_length() {
    // 2 + 1 + 200 = 203 = 0x4b + 1·128 → 0xcb 0x01.
    let payload = vec![0xa5; 200];
    let bytes = wire(&[&[0x30, 0xcb, 0x01, 0x00, 0x01], b"t", &payload]);
    golden(
        &bytes,
        &Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "t".to_owned(),
            pkid: 0,
            payload: Bytes::from(payload),
        }),
    );
}

#[test]
fn remaining_length_boundaries() {
    // (remaining length, its encoding) from MQTT 3.1.1 table 2.4.
    let cases: [(usize, &[u8]); 8] = [
        (3, &[0x03]),
        (127, &[0x7f]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xff, 0x7f]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xff, 0xff, 0x7f]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
        (3_000_000, &[0xc0, 0x8d, 0xb7, 0x01]),
    ];
    for (remaining, encoded) in cases {
        // QoS 0 PUBLISH to "t": remaining = 3 + payload.
        let packet = Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "t".to_owned(),
            pkid: 0,
            payload: Bytes::from(vec![7; remaining - 3]),
        });
        let mut out = BytesMut::new();
        encode(&packet, &mut out).unwrap();
        assert_eq!(
            &out[1..=encoded.len()],
            encoded,
            "remaining length {remaining}"
        );
        assert_eq!(out.len(), 1 + encoded.len() + remaining);
        assert_eq!(decode(&mut out, usize::MAX).unwrap(), Some(packet));
        assert!(out.is_empty());
    }
}

#[test]
fn acks() {
    golden(&[0x40, 0x02, 0x00, 0x01], &Packet::PubAck(1));
    golden(&[0x50, 0x02, 0x00, 0x02], &Packet::PubRec(2));
    golden(&[0x62, 0x02, 0x00, 0x03], &Packet::PubRel(3));
    golden(&[0x70, 0x02, 0x00, 0x04], &Packet::PubComp(4));
    golden(&[0xb0, 0x02, 0xff, 0xff], &Packet::UnsubAck(u16::MAX));
}

#[test]
fn subscribe_device_topics() {
    let bytes = wire(&[
        &[0x82, 0x3b], // SUBSCRIBE (flags 0b0010), remaining length 59
        &[0x00, 0x0a], // packet id 10
        &[0x00, 0x1b], // 27
        b"v1/devices/me/rpc/request/+",
        &[0x01],       // QoS 1
        &[0x00, 0x18], // 24
        b"v1/devices/me/attributes",
        &[0x00], // QoS 0
    ]);
    golden(
        &bytes,
        &Packet::Subscribe(Subscribe {
            pkid: 10,
            filters: vec![
                ("v1/devices/me/rpc/request/+".to_owned(), QoS::AtLeastOnce),
                ("v1/devices/me/attributes".to_owned(), QoS::AtMostOnce),
            ],
        }),
    );
}

#[test]
fn suback() {
    golden(
        &[0x90, 0x05, 0x00, 0x0a, 0x01, 0x80, 0x02],
        &Packet::SubAck(SubAck {
            pkid: 10,
            codes: vec![
                SubscribeReturnCode::Success(QoS::AtLeastOnce),
                SubscribeReturnCode::Failure,
                SubscribeReturnCode::Success(QoS::ExactlyOnce),
            ],
        }),
    );
}

#[test]
fn unsubscribe() {
    let bytes = wire(&[
        &[0xa2, 0x0c, 0x00, 0x0b, 0x00, 0x03],
        b"a/#",
        &[0x00, 0x03],
        b"+/b",
    ]);
    golden(
        &bytes,
        &Packet::Unsubscribe(Unsubscribe {
            pkid: 11,
            filters: vec!["a/#".to_owned(), "+/b".to_owned()],
        }),
    );
}

#[test]
fn ping_and_disconnect() {
    golden(&[0xc0, 0x00], &Packet::PingReq);
    golden(&[0xd0, 0x00], &Packet::PingResp);
    golden(&[0xe0, 0x00], &Packet::Disconnect);
}

#[test]
fn back_to_back_packets_in_one_buffer() {
    let mut buf = BytesMut::from(
        &wire(&[
            &[0xc0, 0x00],
            &[0x30, 0x04, 0x00, 0x01, b't', b'x'],
            &[0x40, 0x02, 0x00, 0x07],
            &[0xe0], // start of a DISCONNECT
        ])[..],
    );
    assert_eq!(decode(&mut buf, MAX).unwrap(), Some(Packet::PingReq));
    assert!(matches!(
        decode(&mut buf, MAX).unwrap(),
        Some(Packet::Publish(Publish { ref topic, ref payload, .. })) if topic == "t" && payload == "x"
    ));
    assert_eq!(decode(&mut buf, MAX).unwrap(), Some(Packet::PubAck(7)));
    assert_eq!(decode(&mut buf, MAX).unwrap(), None);
    assert_eq!(&buf[..], &[0xe0]);
    buf.extend_from_slice(&[0x00]);
    assert_eq!(decode(&mut buf, MAX).unwrap(), Some(Packet::Disconnect));
    assert_eq!(decode(&mut buf, MAX).unwrap(), None);
}

#[test]
fn publish_payload_shares_the_read_buffer() {
    let bytes = wire(&[&[0x30, 0x07, 0x00, 0x01], b"t", b"data"]);
    let mut buf = BytesMut::from(&bytes[..]);
    let start = buf.as_ptr() as usize;
    let Some(Packet::Publish(publish)) = decode(&mut buf, MAX).unwrap() else {
        panic!("not a PUBLISH");
    };
    // Zero copy: the payload points into the original allocation.
    assert_eq!(publish.payload.as_ptr() as usize, start + 5);
    assert_eq!(publish.payload, "data");
}

#[test]
fn packet_names() {
    assert_eq!(Packet::PingReq.name(), "PINGREQ");
    assert_eq!(Packet::PubRel(1).name(), "PUBREL");
    assert_eq!(Protocol::V31.name(), "MQIsdp");
    assert_eq!(Protocol::V311.level(), 4);
}
