//! DL/T 645: `decode`, then `Frame::message` and `Frame::reading`, plus the
//! hex helpers.
//!
//! Beyond "never panics", every input checks:
//! - a decoded frame used no more bytes than it was given, all of them `FE`
//!   wake-up bytes and then exactly the bytes `Frame::encode` writes back,
//!   and those bytes decode to the same frame;
//! - every proper prefix of the consumed bytes is `Truncated` (the only
//!   "read more" error), so a stream reader never waits forever or cuts a
//!   frame short;
//! - a stream reader that drops one byte on every other error gets through
//!   any input;
//! - typed messages agree with the raw data they came from (addresses, clock,
//!   plaintext relay commands re-built by the builders), and a reading is
//!   only ever produced from a read reply;
//! - when the input is text, `parse_hex` → `to_hex` → `parse_hex` is the
//!   identity, and the parsed bytes go through the same frame checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yufu_dlt645::{
    Control, Direction, FrameError, Function, Message, WAKE_UP, decode, parse_hex, relay_control,
    to_hex,
};

fuzz_target!(|data: &[u8]| {
    check_frame(data);
    check_stream(data);
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(bytes) = parse_hex(text)
    {
        assert_eq!(
            parse_hex(&to_hex(&bytes)),
            Ok(bytes.clone()),
            "hex round trip"
        );
        check_frame(&bytes);
    }
});

fn check_frame(data: &[u8]) {
    let Ok((frame, used)) = decode(data) else {
        return;
    };
    assert!(used <= data.len(), "used {used} of {} bytes", data.len());
    let encoded = frame.encode();
    assert!(
        encoded.len() <= used,
        "frame longer than the bytes it came from"
    );
    let (preamble, wire) = data[..used].split_at(used - encoded.len());
    assert!(
        preamble.iter().all(|b| *b == WAKE_UP),
        "non-FE bytes before the frame"
    );
    assert_eq!(
        wire,
        encoded.as_slice(),
        "re-encoding differs from the input"
    );
    assert_eq!(
        decode(&encoded),
        Ok((frame.clone(), encoded.len())),
        "re-encoded frame decodes differently"
    );
    // Every proper prefix asks for more bytes. Checked at the interesting
    // cut points only, to keep each run cheap.
    for cut in [0, 1, 7, 8, 9, 10, 11, encoded.len() - 2, encoded.len() - 1] {
        if cut < encoded.len() {
            assert_eq!(
                decode(&data[..preamble.len() + cut]).map(|_| ()),
                Err(FrameError::Truncated),
                "prefix of {cut} frame bytes"
            );
        }
    }

    let message = frame.message();
    let reading = frame.reading();
    match &message {
        Ok(Message::ReadAddressReply { address }) => {
            assert_eq!(address.to_wire().as_slice(), frame.data());
        }
        Ok(Message::BroadcastTime { time }) => {
            assert_eq!(time.to_wire().as_slice(), frame.data());
        }
        Ok(Message::RelayControl(command))
            if frame.control() == Control::request(Function::RelayControl)
                && frame.data().get(9) == Some(&0) =>
        {
            // N2 is reserved and written as 00 by the builder.
            let rebuilt = relay_control(
                frame.address(),
                command.action,
                command.auth,
                command.expiry,
            );
            assert_eq!(rebuilt, frame, "relay command does not rebuild its frame");
        }
        Ok(Message::ErrorReply { status, .. }) => {
            assert!(frame.control().error);
            assert_eq!(frame.control().direction, Direction::Reply);
            assert_eq!(reading, Err(FrameError::Refused(*status)));
        }
        _ => {}
    }
    if reading.is_ok() {
        assert!(
            matches!(message, Ok(Message::ReadDataReply { .. })),
            "a reading from a frame that is not a read reply: {message:?}"
        );
    }
    // The CLI prints frames and readings as JSON; that must not fail either.
    serde_json::to_string(&frame).expect("frame serialises");
    if let Ok(message) = &message {
        serde_json::to_string(message).expect("message serialises");
    }
    if let Ok(reading) = &reading {
        serde_json::to_string(reading).expect("reading serialises");
    }
}

/// The stream reader the crate documents: keep reading on `Truncated`, cut
/// the frame off on success, drop one byte on any other error.
fn check_stream(mut buf: &[u8]) {
    while !buf.is_empty() {
        match decode(buf) {
            Ok((_, used)) => {
                assert!(used > 0 && used <= buf.len());
                buf = &buf[used..];
            }
            Err(e) if e.is_incomplete() => break,
            Err(_) => buf = &buf[1..],
        }
    }
}
