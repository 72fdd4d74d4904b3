//! MQTT 3.1.1: `decode` called repeatedly on one buffer, as a connection
//! reads it, until it needs more bytes (`None`) or fails.
//!
//! The first input byte picks `max_packet` (so the size limit is fuzzed
//! too); the rest is the byte stream.
//!
//! Beyond "never panics", every input checks:
//! - `None` consumes nothing, an error consumes at most the bad packet, and
//!   what stays in the buffer is always the untouched rest of the input;
//! - a decoded packet consumed at least one byte and no more than
//!   `max_packet`, encodes (the encoder refuses exactly what the decoder
//!   refuses) to no more bytes than it came from, and those bytes decode to
//!   the same packet;
//! - the stream split in two (the second half arriving after the first was
//!   drained) gives the same packets and the same final result.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use yufu_mqtt::{Error, MAX_REMAINING_LENGTH, Packet, decode, encode};

/// What one drain of the stream produced: the packets, then the reason it
/// stopped (`Ok(())`: needs more bytes).
type Outcome = (Vec<Packet>, Result<(), Error>);

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let max_packet = match selector % 4 {
        0 => 64 * 1024,
        1 => 16,
        2 => 300,
        _ => MAX_REMAINING_LENGTH + 5,
    };

    let mut buf = BytesMut::from(stream);
    let whole = drain(&mut buf, stream, max_packet);

    // The same bytes in two reads, split at a point the input chooses.
    let cut = usize::from(selector) % (stream.len() + 1);
    let mut buf = BytesMut::from(&stream[..cut]);
    let (mut packets, first) = drain(&mut buf, &stream[..cut], max_packet);
    let split = match first {
        Ok(()) => {
            let offset = cut - buf.len();
            buf.extend_from_slice(&stream[cut..]);
            let (more, end) = drain(&mut buf, &stream[offset..], max_packet);
            packets.extend(more);
            (packets, end)
        }
        // An error in the first half must be the same error on the whole.
        Err(e) => (packets, Err(e)),
    };
    assert_eq!(split, whole, "split at {cut} decodes differently");
});

/// Decodes until `None` or an error; `input` is what `buf` holds at the start.
fn drain(buf: &mut BytesMut, input: &[u8], max_packet: usize) -> Outcome {
    let mut packets = Vec::new();
    let mut offset = 0;
    loop {
        let before = buf.len();
        let result = decode(buf, max_packet);
        let consumed = before - buf.len();
        assert_eq!(&buf[..], &input[offset + consumed..], "buffer rest changed");
        match result {
            Ok(None) => {
                assert_eq!(consumed, 0, "None consumed bytes");
                return (packets, Ok(()));
            }
            Err(e) => {
                assert!(consumed <= max_packet, "error consumed {consumed} bytes");
                return (packets, Err(e));
            }
            Ok(Some(packet)) => {
                assert!(
                    consumed > 0 && consumed <= max_packet,
                    "consumed {consumed}"
                );
                check_round_trip(&packet, consumed);
                packets.push(packet);
                offset += consumed;
            }
        }
    }
}

fn check_round_trip(packet: &Packet, consumed: usize) {
    let mut wire = BytesMut::new();
    encode(packet, &mut wire)
        .unwrap_or_else(|e| panic!("decoded packet does not encode: {e}: {packet:?}"));
    assert!(wire.len() <= consumed, "encoding longer than the input");
    let len = wire.len();
    assert_eq!(
        decode(&mut wire, len),
        Ok(Some(packet.clone())),
        "re-encoded packet decodes differently"
    );
    assert!(wire.is_empty(), "re-encoded packet not fully consumed");
}
