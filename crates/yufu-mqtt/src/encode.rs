//! [`Packet`] → bytes.
//!
//! The encoder refuses exactly what the decoder refuses, so `encode`
//! succeeding means the peer (and [`decode`](crate::decode)) will accept the
//! bytes.

use bytes::{BufMut, BytesMut};

use crate::Error;
use crate::packet::{
    ConnAck, Connect, ConnectReturnCode, Packet, Publish, QoS, SubAck, Subscribe,
    SubscribeReturnCode, Unsubscribe,
};
use crate::topic::{MAX_STRING, validate_filter, validate_topic_name};

/// The largest remaining length the four-byte variable-length field can hold.
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// Appends the encoded packet to `out`.
///
/// The packet is checked against the same rules [`decode`](crate::decode)
/// applies; on error nothing is appended.
///
/// # Errors
/// * [`Error::StringTooLong`]: a string, topic, will payload or password over
///   65,535 bytes;
/// * [`Error::PayloadTooLarge`]: the remaining length would exceed
///   [`MAX_REMAINING_LENGTH`];
/// * [`Error::Malformed`]: a zero packet identifier where one is required, an
///   empty SUBSCRIBE, UNSUBSCRIBE or SUBACK, a password without a user name,
///   a CONNACK with `session_present` on a refusal;
/// * [`Error::InvalidTopicName`], [`Error::InvalidFilter`],
///   [`Error::NulCharacter`]: topic names, filters and strings the receiver
///   must reject;
/// * [`Error::InvalidFlags`]: a QoS 0 PUBLISH with `dup` set.
pub fn encode(packet: &Packet, out: &mut BytesMut) -> Result<(), Error> {
    let start = out.len();
    let result = encode_packet(packet, out);
    if result.is_err() {
        // Every check runs before the first byte is written, but truncating
        // keeps "nothing appended on error" true whatever the code path.
        out.truncate(start);
    }
    result
}

fn encode_packet(packet: &Packet, out: &mut BytesMut) -> Result<(), Error> {
    match packet {
        Packet::Connect(connect) => encode_connect(connect, out),
        Packet::ConnAck(ack) => encode_connack(*ack, out),
        Packet::Publish(publish) => encode_publish(publish, out),
        Packet::PubAck(pkid) => encode_ack(0x40, *pkid, out),
        Packet::PubRec(pkid) => encode_ack(0x50, *pkid, out),
        Packet::PubRel(pkid) => encode_ack(0x62, *pkid, out),
        Packet::PubComp(pkid) => encode_ack(0x70, *pkid, out),
        Packet::Subscribe(subscribe) => encode_subscribe(subscribe, out),
        Packet::SubAck(ack) => encode_suback(ack, out),
        Packet::Unsubscribe(unsubscribe) => encode_unsubscribe(unsubscribe, out),
        Packet::UnsubAck(pkid) => encode_ack(0xb0, *pkid, out),
        Packet::PingReq => {
            out.put_slice(&[0xc0, 0x00]);
            Ok(())
        }
        Packet::PingResp => {
            out.put_slice(&[0xd0, 0x00]);
            Ok(())
        }
        Packet::Disconnect => {
            out.put_slice(&[0xe0, 0x00]);
            Ok(())
        }
    }
}

fn nonzero(pkid: u16) -> Result<u16, Error> {
    if pkid == 0 {
        Err(Error::Malformed("zero packet identifier"))
    } else {
        Ok(pkid)
    }
}

/// Length on the wire of a length-prefixed field.
fn field_len(data: &[u8]) -> Result<usize, Error> {
    if data.len() > MAX_STRING {
        return Err(Error::StringTooLong);
    }
    Ok(2 + data.len())
}

/// Length on the wire of a UTF-8 string field, which must not hold U+0000.
fn string_len(s: &str) -> Result<usize, Error> {
    let len = field_len(s.as_bytes())?;
    if s.as_bytes().contains(&0) {
        return Err(Error::NulCharacter);
    }
    Ok(len)
}

/// Writes the first byte and the remaining length, and reserves room for the
/// body so the field writes below do not reallocate.
fn put_fixed_header(out: &mut BytesMut, first: u8, remaining: usize) -> Result<(), Error> {
    if remaining > MAX_REMAINING_LENGTH {
        return Err(Error::PayloadTooLarge);
    }
    out.reserve(5 + remaining);
    out.put_u8(first);
    let mut rest = remaining;
    loop {
        // `rest % 128` fits a byte; `to_le_bytes` avoids a truncating cast.
        let mut byte = (rest % 128).to_le_bytes()[0];
        rest /= 128;
        if rest > 0 {
            byte |= 0x80;
        }
        out.put_u8(byte);
        if rest == 0 {
            return Ok(());
        }
    }
}

fn put_field(out: &mut BytesMut, data: &[u8]) -> Result<(), Error> {
    out.put_u16(u16::try_from(data.len()).map_err(|_| Error::StringTooLong)?);
    out.put_slice(data);
    Ok(())
}

fn encode_ack(first: u8, pkid: u16, out: &mut BytesMut) -> Result<(), Error> {
    let pkid = nonzero(pkid)?;
    out.put_slice(&[first, 0x02]);
    out.put_u16(pkid);
    Ok(())
}

fn encode_connack(ack: ConnAck, out: &mut BytesMut) -> Result<(), Error> {
    if ack.session_present && ack.code != ConnectReturnCode::Accepted {
        return Err(Error::Malformed("CONNACK: session present on a refusal"));
    }
    out.put_slice(&[0x20, 0x02, u8::from(ack.session_present), ack.code as u8]);
    Ok(())
}

fn encode_connect(c: &Connect, out: &mut BytesMut) -> Result<(), Error> {
    if c.password.is_some() && c.username.is_none() {
        return Err(Error::Malformed("CONNECT: password without user name"));
    }
    let name = c.protocol.name();
    let mut remaining = 2 + name.len() + 1 + 1 + 2 + string_len(&c.client_id)?;
    let mut flags = 0u8;
    if c.clean_session {
        flags |= 0x02;
    }
    if let Some(will) = &c.will {
        validate_topic_name(&will.topic)?;
        remaining += field_len(will.topic.as_bytes())? + field_len(&will.payload)?;
        flags |= 0x04 | ((will.qos as u8) << 3);
        if will.retain {
            flags |= 0x20;
        }
    }
    if let Some(username) = &c.username {
        remaining += string_len(username)?;
        flags |= 0x80;
    }
    if let Some(password) = &c.password {
        remaining += field_len(password)?;
        flags |= 0x40;
    }
    // At most seven fields of at most 65,537 bytes: far below the limit, and
    // no overflow.
    put_fixed_header(out, 0x10, remaining)?;
    put_field(out, name.as_bytes())?;
    out.put_u8(c.protocol.level());
    out.put_u8(flags);
    out.put_u16(c.keep_alive);
    put_field(out, c.client_id.as_bytes())?;
    if let Some(will) = &c.will {
        put_field(out, will.topic.as_bytes())?;
        put_field(out, &will.payload)?;
    }
    if let Some(username) = &c.username {
        put_field(out, username.as_bytes())?;
    }
    if let Some(password) = &c.password {
        put_field(out, password)?;
    }
    Ok(())
}

fn encode_publish(p: &Publish, out: &mut BytesMut) -> Result<(), Error> {
    validate_topic_name(&p.topic)?;
    let mut first = 0x30 | ((p.qos as u8) << 1);
    if p.dup {
        if p.qos == QoS::AtMostOnce {
            return Err(Error::InvalidFlags {
                packet: "PUBLISH",
                flags: (first | 0x08) & 0x0f,
            });
        }
        first |= 0x08;
    }
    if p.retain {
        first |= 0x01;
    }
    let pkid = match p.qos {
        QoS::AtMostOnce => None,
        QoS::AtLeastOnce | QoS::ExactlyOnce => Some(nonzero(p.pkid)?),
    };
    let remaining =
        (2 + p.topic.len() + if pkid.is_some() { 2 } else { 0 }).saturating_add(p.payload.len());
    put_fixed_header(out, first, remaining)?;
    put_field(out, p.topic.as_bytes())?;
    if let Some(pkid) = pkid {
        out.put_u16(pkid);
    }
    out.put_slice(&p.payload);
    Ok(())
}

fn encode_subscribe(s: &Subscribe, out: &mut BytesMut) -> Result<(), Error> {
    let pkid = nonzero(s.pkid)?;
    if s.filters.is_empty() {
        return Err(Error::Malformed("SUBSCRIBE without topic filters"));
    }
    let mut remaining = 2usize;
    for (filter, _) in &s.filters {
        validate_filter(filter)?;
        remaining = remaining.saturating_add(2 + filter.len() + 1);
    }
    put_fixed_header(out, 0x82, remaining)?;
    out.put_u16(pkid);
    for (filter, qos) in &s.filters {
        put_field(out, filter.as_bytes())?;
        out.put_u8(*qos as u8);
    }
    Ok(())
}

fn encode_suback(ack: &SubAck, out: &mut BytesMut) -> Result<(), Error> {
    let pkid = nonzero(ack.pkid)?;
    if ack.codes.is_empty() {
        return Err(Error::Malformed("SUBACK without return codes"));
    }
    put_fixed_header(out, 0x90, 2usize.saturating_add(ack.codes.len()))?;
    out.put_u16(pkid);
    for code in &ack.codes {
        out.put_u8(match code {
            SubscribeReturnCode::Success(qos) => *qos as u8,
            SubscribeReturnCode::Failure => 0x80,
        });
    }
    Ok(())
}

fn encode_unsubscribe(u: &Unsubscribe, out: &mut BytesMut) -> Result<(), Error> {
    let pkid = nonzero(u.pkid)?;
    if u.filters.is_empty() {
        return Err(Error::Malformed("UNSUBSCRIBE without topic filters"));
    }
    let mut remaining = 2usize;
    for filter in &u.filters {
        validate_filter(filter)?;
        remaining = remaining.saturating_add(2 + filter.len());
    }
    put_fixed_header(out, 0xa2, remaining)?;
    out.put_u16(pkid);
    for filter in &u.filters {
        put_field(out, filter.as_bytes())?;
    }
    Ok(())
}
