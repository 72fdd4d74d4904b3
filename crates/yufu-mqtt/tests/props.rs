//! Property tests: every packet round-trips, whole or one byte at a time, and
//! no input makes the decoder panic.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the failure report

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use yufu_mqtt::{
    ConnAck, Connect, ConnectReturnCode, Error, Packet, Protocol, Publish, QoS, SubAck, Subscribe,
    SubscribeReturnCode, Unsubscribe, Will, decode, encode,
};

const MAX: usize = 1 << 20;

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn pkid() -> impl Strategy<Value = u16> {
    1..=u16::MAX
}

/// Any Unicode but U+0000, including the empty string.
fn string() -> impl Strategy<Value = String> {
    "[^\\x00]{0,24}"
}

fn binary() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..300).prop_map(Bytes::from)
}

/// Topic names: non-empty, no wildcards, no U+0000; `/`, `$` and
/// multi-byte characters included.
fn topic() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^+#\\x00]{1,32}",
        "[a-z$/]{1,12}",
        Just("v1/devices/me/telemetry".to_owned()),
    ]
}

/// Valid topic filters: levels that are `+` or wildcard-free text, optionally
/// ending in `#`.
fn filter() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop_oneof![Just("+".to_owned()), "[^+#/\\x00]{0,6}"], 0..5),
        any::<bool>(),
    )
        .prop_filter_map("empty filter", |(mut levels, hash)| {
            if hash {
                levels.push("#".to_owned());
            }
            let filter = levels.join("/");
            (!filter.is_empty()).then_some(filter)
        })
}

fn will() -> impl Strategy<Value = Will> {
    (topic(), binary(), qos(), any::<bool>()).prop_map(|(topic, payload, qos, retain)| Will {
        topic,
        payload,
        qos,
        retain,
    })
}

fn connect() -> impl Strategy<Value = Connect> {
    (
        prop_oneof![Just(Protocol::V31), Just(Protocol::V311)],
        string(),
        any::<u16>(),
        any::<bool>(),
        prop::option::of((string(), prop::option::of(binary()))),
        prop::option::of(will()),
    )
        .prop_map(
            |(protocol, client_id, keep_alive, clean_session, credentials, will)| {
                let (username, password) = match credentials {
                    Some((user, password)) => (Some(user), password),
                    None => (None, None),
                };
                Connect {
                    protocol,
                    client_id,
                    keep_alive,
                    clean_session,
                    username,
                    password,
                    will,
                }
            },
        )
}

fn connack() -> impl Strategy<Value = ConnAck> {
    (0u8..=5, any::<bool>()).prop_map(|(code, session)| {
        let code = ConnectReturnCode::try_from(code).unwrap();
        ConnAck {
            session_present: session && code == ConnectReturnCode::Accepted,
            code,
        }
    })
}

fn publish() -> impl Strategy<Value = Publish> {
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic(),
        pkid(),
        binary(),
    )
        .prop_map(|(qos, dup, retain, topic, pkid, payload)| {
            let at_most_once = qos == QoS::AtMostOnce;
            Publish {
                dup: dup && !at_most_once,
                qos,
                retain,
                topic,
                pkid: if at_most_once { 0 } else { pkid },
                payload,
            }
        })
}

fn return_code() -> impl Strategy<Value = SubscribeReturnCode> {
    prop_oneof![
        qos().prop_map(SubscribeReturnCode::Success),
        Just(SubscribeReturnCode::Failure)
    ]
}

fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        connect().prop_map(Packet::Connect),
        connack().prop_map(Packet::ConnAck),
        publish().prop_map(Packet::Publish),
        pkid().prop_map(Packet::PubAck),
        pkid().prop_map(Packet::PubRec),
        pkid().prop_map(Packet::PubRel),
        pkid().prop_map(Packet::PubComp),
        (pkid(), prop::collection::vec((filter(), qos()), 1..6))
            .prop_map(|(pkid, filters)| Packet::Subscribe(Subscribe { pkid, filters })),
        (pkid(), prop::collection::vec(return_code(), 1..6))
            .prop_map(|(pkid, codes)| Packet::SubAck(SubAck { pkid, codes })),
        (pkid(), prop::collection::vec(filter(), 1..6))
            .prop_map(|(pkid, filters)| Packet::Unsubscribe(Unsubscribe { pkid, filters })),
        pkid().prop_map(Packet::UnsubAck),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        Just(Packet::Disconnect),
    ]
}

fn encoded(packet: &Packet) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(packet, &mut out).unwrap();
    out.to_vec()
}

/// Decodes everything in `bytes`; panics only through the test's own asserts.
/// Checks that every packet decode accepts is encodable and reads back the
/// same, and that progress is made.
fn drain(bytes: &[u8], max: usize) {
    let mut buf = BytesMut::from(bytes);
    loop {
        let before = buf.len();
        match decode(&mut buf, max) {
            Ok(Some(packet)) => {
                assert!(buf.len() < before, "a packet consumes bytes");
                let again = encoded(&packet);
                let mut again = BytesMut::from(&again[..]);
                assert_eq!(decode(&mut again, usize::MAX).unwrap(), Some(packet));
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "None consumes nothing");
                return;
            }
            Err(_) => return,
        }
    }
}

proptest! {
    #[test]
    fn round_trip(packet in packet()) {
        let bytes = encoded(&packet);
        let mut buf = BytesMut::from(&bytes[..]);
        prop_assert_eq!(decode(&mut buf, MAX).unwrap(), Some(packet));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn streamed_one_byte_at_a_time(packet in packet()) {
        let bytes = encoded(&packet);
        let mut buf = BytesMut::new();
        let (last, init) = bytes.split_last().unwrap();
        for &byte in init {
            buf.extend_from_slice(&[byte]);
            prop_assert_eq!(decode(&mut buf, MAX).unwrap(), None);
        }
        prop_assert_eq!(buf.len(), init.len());
        buf.extend_from_slice(&[*last]);
        prop_assert_eq!(decode(&mut buf, MAX).unwrap(), Some(packet));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn a_stream_split_anywhere(packets in prop::collection::vec(packet(), 1..6), cut in any::<prop::sample::Index>()) {
        let stream: Vec<u8> = packets.iter().flat_map(encoded).collect();
        let cut = cut.index(stream.len() + 1);
        let mut buf = BytesMut::from(&stream[..cut]);
        let mut decoded = Vec::new();
        while let Some(packet) = decode(&mut buf, MAX).unwrap() {
            decoded.push(packet);
        }
        buf.extend_from_slice(&stream[cut..]);
        while let Some(packet) = decode(&mut buf, MAX).unwrap() {
            decoded.push(packet);
        }
        prop_assert_eq!(decoded, packets);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn max_packet_is_the_whole_packet(packet in packet()) {
        let bytes = encoded(&packet);
        let size = bytes.len();
        let mut buf = BytesMut::from(&bytes[..]);
        prop_assert_eq!(
            decode(&mut buf, size - 1),
            Err(Error::PacketTooLarge { size, max: size - 1 })
        );
        prop_assert_eq!(buf.len(), size);
        prop_assert_eq!(decode(&mut buf, size).unwrap(), Some(packet));
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), max in 0usize..1024) {
        drain(&bytes, max);
        drain(&bytes, usize::MAX);
    }

    /// Random bytes rarely get past the fixed header; a valid packet with
    /// a few bytes changed exercises the body parsers.
    #[test]
    fn mutated_packets_never_panic(
        packet in packet(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        truncate in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encoded(&packet);
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        drain(&bytes, usize::MAX);
        let keep = truncate.index(bytes.len() + 1);
        drain(&bytes[..keep], usize::MAX);
    }

    /// Random bytes behind a valid first byte of each packet type.
    #[test]
    fn random_bodies_never_panic(
        first in prop::sample::select(&[
            0x10, 0x20, 0x30, 0x33, 0x3d, 0x40, 0x50, 0x62, 0x70, 0x82, 0x90, 0xa2, 0xb0, 0xc0, 0xd0, 0xe0,
        ][..]),
        body in prop::collection::vec(any::<u8>(), 0..120)) {
        let mut bytes = vec![first, u8::try_from(body.len()).unwrap()];
        bytes.extend_from_slice(&body);
        drain(&bytes, usize::MAX);
    }
}
