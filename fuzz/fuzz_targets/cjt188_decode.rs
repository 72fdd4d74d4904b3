//! CJ/T 188: `decode` with both DI byte orders, then the typed messages
//! (`ReadReply`, `ValveReply`, `Valve`, `read_address_reply`), plus
//! `parse_hex`.
//!
//! Beyond "never panics", every input checks:
//! - the DI order changes nothing but the DI: both orders accept or refuse
//!   the same bytes, with the same length, and the two DIs are byte-swapped;
//! - a decoded frame used no more bytes than it was given, all of them `FE`
//!   preamble and then exactly what `Frame::encode` writes back (in the same
//!   order), which decodes to the same frame;
//! - every proper prefix of the consumed bytes is `Truncated`;
//! - a stream reader that drops one byte on every error but `Truncated` gets
//!   through any input;
//! - every typed message read from a frame builds that same frame again
//!   (`ReadReply::to_frame`, `ValveReply::to_frame`, `valve`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use yufu_cjt188::{
    DiOrder, Frame, FrameError, PREAMBLE, ReadReply, Valve, ValveReply, decode, parse_hex,
    read_address_reply, valve,
};

fuzz_target!(|data: &[u8]| {
    check(data);
    check_stream(data, DiOrder::LowFirst);
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(bytes) = parse_hex(text)
    {
        check(&bytes);
    }
});

fn check(data: &[u8]) {
    let low = decode(data, DiOrder::LowFirst);
    let high = decode(data, DiOrder::HighFirst);
    match (&low, &high) {
        (Ok((l, lu)), Ok((h, hu))) => {
            assert_eq!(lu, hu, "used bytes depend on the DI order");
            assert_eq!(l.di, h.di.swap_bytes(), "DIs are not byte-swapped");
            assert_eq!(
                Frame {
                    di: h.di,
                    ..l.clone()
                },
                *h,
                "more than the DI depends on the DI order"
            );
        }
        (Err(l), Err(h)) => assert_eq!(l, h, "errors depend on the DI order"),
        _ => panic!("DI order decides success: {low:?} vs {high:?}"),
    }
    for (order, result) in [(DiOrder::LowFirst, low), (DiOrder::HighFirst, high)] {
        if let Ok((frame, used)) = result {
            check_frame(data, order, &frame, used);
        }
    }
}

fn check_frame(data: &[u8], order: DiOrder, frame: &Frame, used: usize) {
    assert!(used <= data.len(), "used {used} of {} bytes", data.len());
    let encoded = frame.encode(order).expect("a decoded frame encodes");
    assert!(
        encoded.len() <= used,
        "frame longer than the bytes it came from"
    );
    let (preamble, wire) = data[..used].split_at(used - encoded.len());
    assert!(
        preamble.iter().all(|b| *b == PREAMBLE),
        "non-FE bytes before the frame"
    );
    assert_eq!(
        wire,
        encoded.as_slice(),
        "re-encoding differs from the input"
    );
    assert_eq!(
        decode(&encoded, order),
        Ok((frame.clone(), encoded.len())),
        "re-encoded frame decodes differently"
    );
    for cut in [0, 1, 10, 11, 12, encoded.len() - 2, encoded.len() - 1] {
        if cut < encoded.len() {
            assert_eq!(
                decode(&data[..preamble.len() + cut], order).map(|_| ()),
                Err(FrameError::Truncated),
                "prefix of {cut} frame bytes"
            );
        }
    }

    // Typed messages: reading one and building it again is the identity.
    if let Ok(reply) = ReadReply::from_frame(frame) {
        let rebuilt = reply
            .to_frame(frame.meter_type, frame.address, frame.ser)
            .expect("a decoded read reply encodes");
        assert_eq!(&rebuilt, frame, "read reply does not rebuild its frame");
        // Status helpers look at bits only; exercise them.
        let _ = (reply.status.valve(), reply.status.battery_low());
    }
    if let Ok(reply) = ValveReply::from_frame(frame) {
        let rebuilt = reply.to_frame(frame.meter_type, frame.address, frame.ser);
        assert_eq!(&rebuilt, frame, "valve reply does not rebuild its frame");
    }
    if let Ok(command) = Valve::from_frame(frame) {
        let rebuilt = valve(frame.meter_type, frame.address, frame.ser, command);
        assert_eq!(&rebuilt, frame, "valve command does not rebuild its frame");
    }
    if let Ok((meter_type, address)) = read_address_reply(frame) {
        assert_eq!((meter_type, address), (frame.meter_type, frame.address));
    }
    // The address prints (as the CLI shows it) and parses back.
    assert_eq!(frame.address.to_string().parse(), Ok(frame.address));
}

/// The documented stream reader: keep reading on `Truncated`, cut the frame
/// off on success, drop one byte on any other error.
fn check_stream(mut buf: &[u8], order: DiOrder) {
    while !buf.is_empty() {
        match decode(buf, order) {
            Ok((_, used)) => {
                assert!(used > 0 && used <= buf.len());
                buf = &buf[used..];
            }
            Err(e) if e.is_incomplete() => break,
            Err(_) => buf = &buf[1..],
        }
    }
}
