//! Bytes → [`Packet`].
//!
//! Everything is read from the caller's buffer; the only allocations are the
//! `String`s and `Vec`s of the returned packet, each bounded by bytes that
//! have actually arrived (no length field is ever used to reserve memory).

use bytes::{Buf, Bytes, BytesMut};

use crate::Error;
use crate::packet::{
    ConnAck, Connect, ConnectReturnCode, Packet, Protocol, Publish, QoS, SubAck, Subscribe,
    SubscribeReturnCode, Unsubscribe, Will,
};
use crate::topic::{validate_filter, validate_topic_name};

/// Decodes one packet from the front of `buf` and removes its bytes.
///
/// `max_packet` limits the whole packet, fixed header included.
///
/// * `Ok(Some(packet))`: the packet's bytes have been removed from `buf`.
/// * `Ok(None)`: the packet is not complete yet; nothing was consumed. Read
///   more bytes into `buf` and call again.
/// * `Err(_)`: a protocol violation; close the connection (after CONNACK
///   `0x01` for [`Error::UnsupportedProtocol`]). Errors found in the fixed
///   header — [`Error::InvalidPacketType`], [`Error::InvalidFlags`], a QoS 3
///   PUBLISH, [`Error::MalformedRemainingLength`], [`Error::PacketTooLarge`]
///   and a remaining length that is wrong for the packet type — are reported
///   as soon as those header bytes are in `buf`, before the body arrives, and
///   consume nothing. Errors inside a complete packet consume that packet.
///
/// PUBLISH payloads, passwords and will payloads share `buf`'s memory
/// (`BytesMut::split_to` + `freeze`): no copy.
///
/// # Errors
/// See [`Error`]; this function never panics, whatever the input.
pub fn decode(buf: &mut BytesMut, max_packet: usize) -> Result<Option<Packet>, Error> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let kind = first >> 4;
    let flags = first & 0x0f;
    check_fixed_header(kind, flags)?;
    let Some((remaining, header_len)) = remaining_length(&buf[1..])? else {
        return Ok(None);
    };
    // Cannot overflow: header_len <= 5 and remaining < 2^28.
    let size = header_len + remaining;
    if size > max_packet {
        return Err(Error::PacketTooLarge {
            size,
            max: max_packet,
        });
    }
    check_remaining_length(kind, remaining)?;
    if buf.len() < size {
        return Ok(None);
    }
    let packet = match kind {
        1 => decode_connect(&buf.split_to(size).freeze(), header_len),
        3 => decode_publish(buf.split_to(size), header_len, flags),
        _ => {
            // No payload to share: parse in place and drop the bytes, which
            // is cheaper than splitting the buffer.
            let result = decode_small(kind, &buf[header_len..size]);
            buf.advance(size);
            result
        }
    };
    packet.map(Some)
}

/// The packet type names, indexed by type (0 and 15 are reserved).
const NAMES: [&str; 16] = [
    "reserved",
    "CONNECT",
    "CONNACK",
    "PUBLISH",
    "PUBACK",
    "PUBREC",
    "PUBREL",
    "PUBCOMP",
    "SUBSCRIBE",
    "SUBACK",
    "UNSUBSCRIBE",
    "UNSUBACK",
    "PINGREQ",
    "PINGRESP",
    "DISCONNECT",
    "reserved",
];

/// MQTT 3.1.1 §2.2.2: the flags are fixed for every type but PUBLISH.
fn check_fixed_header(kind: u8, flags: u8) -> Result<(), Error> {
    let expected = match kind {
        0 | 15 => return Err(Error::InvalidPacketType(kind)),
        3 => {
            let qos = QoS::try_from((flags >> 1) & 0b11)?;
            // MQTT-3.3.1-2: DUP must be 0 at QoS 0.
            if qos == QoS::AtMostOnce && flags & 0b1000 != 0 {
                return Err(Error::InvalidFlags {
                    packet: "PUBLISH",
                    flags,
                });
            }
            return Ok(());
        }
        6 | 8 | 10 => 0b0010,
        _ => 0,
    };
    if flags == expected {
        Ok(())
    } else {
        Err(Error::InvalidFlags {
            packet: NAMES[usize::from(kind)],
            flags,
        })
    }
}

/// Reads the variable-length remaining length that follows the first byte.
/// Returns the value and the fixed header's total length (1 + 1..=4), or
/// `None` if the field is incomplete.
fn remaining_length(bytes: &[u8]) -> Result<Option<(usize, usize)>, Error> {
    let mut value = 0usize;
    for (i, &byte) in bytes.iter().take(4).enumerate() {
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 2)));
        }
        // A continuation bit on the fourth byte means a fifth byte, which
        // MQTT forbids; no need to wait for it.
        if i == 3 {
            return Err(Error::MalformedRemainingLength);
        }
    }
    Ok(None)
}

/// Packets whose remaining length is fixed by the specification are checked
/// before their body arrives, so a PINGREQ claiming a megabyte body is
/// rejected at once instead of being waited for.
fn check_remaining_length(kind: u8, remaining: usize) -> Result<(), Error> {
    match kind {
        2 | 4 | 5 | 6 | 7 | 11 if remaining != 2 => {
            Err(Error::Malformed("remaining length must be 2"))
        }
        12..=14 if remaining != 0 => Err(Error::Malformed("remaining length must be 0")),
        _ => Ok(()),
    }
}

/// A forward-only reader over a packet body. Every read checks the bounds
/// of the packet, never of a claimed length.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(body: &'a [u8]) -> Self {
        Self { rest: body }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Bytes consumed so far, given the body length the reader started with.
    fn consumed(&self, body_len: usize) -> usize {
        body_len - self.rest.len()
    }

    fn u8(&mut self, truncated: &'static str) -> Result<u8, Error> {
        let (&byte, rest) = self.rest.split_first().ok_or(Error::Malformed(truncated))?;
        self.rest = rest;
        Ok(byte)
    }

    fn u16(&mut self, truncated: &'static str) -> Result<u16, Error> {
        let (&pair, rest) = self
            .rest
            .split_first_chunk::<2>()
            .ok_or(Error::Malformed(truncated))?;
        self.rest = rest;
        Ok(u16::from_be_bytes(pair))
    }

    /// A non-zero packet identifier (MQTT 3.1.1 §2.3.1).
    fn pkid(&mut self) -> Result<u16, Error> {
        match self.u16("truncated packet identifier")? {
            0 => Err(Error::Malformed("zero packet identifier")),
            id => Ok(id),
        }
    }

    /// Length-prefixed binary data.
    fn binary(&mut self, truncated: &'static str) -> Result<&'a [u8], Error> {
        let len = usize::from(self.u16(truncated)?);
        if len > self.rest.len() {
            return Err(Error::Malformed(truncated));
        }
        let (data, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(data)
    }

    /// A length-prefixed UTF-8 string; U+0000 is left to the caller, since
    /// topic and filter validation scan for it anyway.
    fn str_allow_nul(&mut self, truncated: &'static str) -> Result<&'a str, Error> {
        std::str::from_utf8(self.binary(truncated)?).map_err(|_| Error::InvalidUtf8)
    }

    /// A length-prefixed UTF-8 string without U+0000 (MQTT 3.1.1 §1.5.3).
    fn str(&mut self, truncated: &'static str) -> Result<&'a str, Error> {
        let s = self.str_allow_nul(truncated)?;
        if s.as_bytes().contains(&0) {
            return Err(Error::NulCharacter);
        }
        Ok(s)
    }

    fn topic_name(&mut self, truncated: &'static str) -> Result<&'a str, Error> {
        let topic = self.str_allow_nul(truncated)?;
        validate_topic_name(topic)?;
        Ok(topic)
    }

    fn filter(&mut self) -> Result<&'a str, Error> {
        let filter = self.str_allow_nul("truncated topic filter")?;
        validate_filter(filter)?;
        Ok(filter)
    }
}

const CONNECT_RESERVED: u8 = 0x01;
const CONNECT_CLEAN_SESSION: u8 = 0x02;
const CONNECT_WILL: u8 = 0x04;
const CONNECT_WILL_RETAIN: u8 = 0x20;
const CONNECT_PASSWORD: u8 = 0x40;
const CONNECT_USERNAME: u8 = 0x80;

/// `frame` is the whole packet; binary fields are slices of it.
fn decode_connect(frame: &Bytes, header_len: usize) -> Result<Packet, Error> {
    let mut r = Reader::new(&frame[header_len..]);
    let name = r.str_allow_nul("CONNECT: truncated protocol name")?;
    let level = r.u8("CONNECT: truncated protocol level")?;
    // Checked before anything else in the variable header so that an MQTT 5
    // client (whose CONNECT carries properties we do not parse) still gets
    // the distinct error a server answers with CONNACK 0x01.
    let protocol = match (name, level) {
        ("MQTT", 4) => Protocol::V311,
        ("MQIsdp", 3) => Protocol::V31,
        _ => {
            return Err(Error::UnsupportedProtocol {
                name: name.to_owned(),
                level,
            });
        }
    };
    let flags = r.u8("CONNECT: truncated connect flags")?;
    if flags & CONNECT_RESERVED != 0 {
        return Err(Error::Malformed("CONNECT: reserved connect flag set"));
    }
    let will_flag = flags & CONNECT_WILL != 0;
    let will_qos_bits = (flags >> 3) & 0b11;
    let will_retain = flags & CONNECT_WILL_RETAIN != 0;
    if !will_flag && (will_qos_bits != 0 || will_retain) {
        // MQTT-3.1.2-11, -13, -15.
        return Err(Error::Malformed(
            "CONNECT: will QoS or retain without will flag",
        ));
    }
    let will_qos = QoS::try_from(will_qos_bits)?;
    let has_username = flags & CONNECT_USERNAME != 0;
    let has_password = flags & CONNECT_PASSWORD != 0;
    if has_password && !has_username {
        // MQTT-3.1.2-22; MQTT 3.1 asks the same.
        return Err(Error::Malformed("CONNECT: password without user name"));
    }
    let keep_alive = r.u16("CONNECT: truncated keep alive")?;
    let client_id = r.str("CONNECT: truncated client identifier")?.to_owned();
    let will = if will_flag {
        let topic = r.topic_name("CONNECT: truncated will topic")?.to_owned();
        let payload = frame.slice_ref(r.binary("CONNECT: truncated will message")?);
        Some(Will {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
        })
    } else {
        None
    };
    let username = if has_username {
        Some(r.str("CONNECT: truncated user name")?.to_owned())
    } else {
        None
    };
    let password = if has_password {
        Some(frame.slice_ref(r.binary("CONNECT: truncated password")?))
    } else {
        None
    };
    if !r.is_empty() {
        return Err(Error::Malformed("CONNECT: bytes after the payload"));
    }
    Ok(Packet::Connect(Connect {
        protocol,
        client_id,
        keep_alive,
        clean_session: flags & CONNECT_CLEAN_SESSION != 0,
        username,
        password,
        will,
    }))
}

/// `frame` is the whole packet, already split off the caller's buffer; the
/// payload is what remains of it after the headers (no copy).
fn decode_publish(mut frame: BytesMut, header_len: usize, flags: u8) -> Result<Packet, Error> {
    // The fixed-header check already rejected QoS 3.
    let qos = QoS::try_from((flags >> 1) & 0b11)?;
    let body = &frame[header_len..];
    let mut r = Reader::new(body);
    let topic = r.topic_name("PUBLISH: truncated topic name")?;
    let pkid = if qos == QoS::AtMostOnce { 0 } else { r.pkid()? };
    let topic = topic.to_owned();
    let headers = header_len + r.consumed(body.len());
    frame.advance(headers);
    Ok(Packet::Publish(Publish {
        dup: flags & 0b1000 != 0,
        qos,
        retain: flags & 0b0001 != 0,
        topic,
        pkid,
        payload: frame.freeze(),
    }))
}

/// Every packet type without a shared payload; `body` is the complete
/// variable header and payload, and the remaining length of fixed-size types
/// has been checked.
fn decode_small(kind: u8, body: &[u8]) -> Result<Packet, Error> {
    let mut r = Reader::new(body);
    let packet = match kind {
        2 => {
            let ack_flags = r.u8("CONNACK: truncated")?;
            if ack_flags & 0xfe != 0 {
                return Err(Error::Malformed("CONNACK: reserved acknowledge flags set"));
            }
            let code = ConnectReturnCode::try_from(r.u8("CONNACK: truncated")?)?;
            let session_present = ack_flags & 0x01 != 0;
            if session_present && code != ConnectReturnCode::Accepted {
                // MQTT-3.2.2-4.
                return Err(Error::Malformed("CONNACK: session present on a refusal"));
            }
            Packet::ConnAck(ConnAck {
                session_present,
                code,
            })
        }
        4 => Packet::PubAck(r.pkid()?),
        5 => Packet::PubRec(r.pkid()?),
        6 => Packet::PubRel(r.pkid()?),
        7 => Packet::PubComp(r.pkid()?),
        8 => {
            let pkid = r.pkid()?;
            let mut filters = Vec::new();
            while !r.is_empty() {
                let filter = r.filter()?.to_owned();
                let requested = r.u8("SUBSCRIBE: truncated requested QoS")?;
                if requested & 0xfc != 0 {
                    // MQTT-3-8.3-4.
                    return Err(Error::Malformed("SUBSCRIBE: reserved QoS bits set"));
                }
                filters.push((filter, QoS::try_from(requested)?));
            }
            if filters.is_empty() {
                // MQTT-3.8.3-3.
                return Err(Error::Malformed("SUBSCRIBE without topic filters"));
            }
            Packet::Subscribe(Subscribe { pkid, filters })
        }
        9 => {
            let pkid = r.pkid()?;
            let codes = r
                .rest
                .iter()
                .map(|&code| match code {
                    0x80 => Ok(SubscribeReturnCode::Failure),
                    0..=2 => QoS::try_from(code).map(SubscribeReturnCode::Success),
                    other => Err(Error::InvalidSubscribeReturnCode(other)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            r.rest = &[];
            if codes.is_empty() {
                return Err(Error::Malformed("SUBACK without return codes"));
            }
            Packet::SubAck(SubAck { pkid, codes })
        }
        10 => {
            let pkid = r.pkid()?;
            let mut filters = Vec::new();
            while !r.is_empty() {
                filters.push(r.filter()?.to_owned());
            }
            if filters.is_empty() {
                // MQTT-3.10.3-2.
                return Err(Error::Malformed("UNSUBSCRIBE without topic filters"));
            }
            Packet::Unsubscribe(Unsubscribe { pkid, filters })
        }
        11 => Packet::UnsubAck(r.pkid()?),
        12 => Packet::PingReq,
        13 => Packet::PingResp,
        14 => Packet::Disconnect,
        // check_fixed_header rejected 0 and 15; 1 and 3 are decoded elsewhere.
        other => return Err(Error::InvalidPacketType(other)),
    };
    if !r.is_empty() {
        return Err(Error::Malformed("bytes after the end of the packet"));
    }
    Ok(packet)
}
