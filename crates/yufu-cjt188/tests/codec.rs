//! Golden frames from protocols.md §2, malformed input, and proptests.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use yufu_cjt188::{
    Address, Control, DI_READ_DATA, DI_VALVE, DiOrder, Frame, FrameError, MeterClock, MeterType,
    Quantity, ReadReply, Status, Unit, Valve, ValveReply, ValveState, decode, parse_hex,
    read_address, read_address_reply, read_data, valve,
};

/// protocols.md §2 "Read" (hftangyu.com/563.html), copied verbatim.
const READ_REQUEST: &str = "FE FE FE FE 68 10 44 33 22 11 00 33 78 01 03 1F 90 00 80 16";
/// protocols.md §2 "Reply", copied verbatim: its printed CS 08 is wrong.
const READ_REPLY_AS_PRINTED: &str = "68 10 44 33 22 11 00 33 78 81 16 1F 90 00 | 00 77 66 55 2C | 00 77 66 55 2C | 31 01 22 11 05 15 20 | 21 84 | 08 16";
/// protocols.md §2 "Valve open", copied verbatim.
const VALVE_OPEN: &str = "68 10 69 05 90 05 15 33 78 04 04 A0 17 01 55 50 16";
/// protocols.md §2 "Valve close": the doc elides the header (`…`), which is
/// the open frame's.
const VALVE_CLOSE_TAIL: &str = "04 04 A0 17 01 99 94 16";

fn hex(text: &str) -> Vec<u8> {
    parse_hex(&text.replace('|', "")).unwrap()
}

/// The reply with the checksum protocols.md computes (0x13).
fn read_reply_fixed() -> Vec<u8> {
    let mut bytes = hex(READ_REPLY_AS_PRINTED);
    let cs = bytes.len() - 2;
    bytes[cs] = 0x13;
    bytes
}

fn valve_close() -> Vec<u8> {
    hex(&format!("68 10 69 05 90 05 15 33 78 {VALVE_CLOSE_TAIL}"))
}

fn meter_7833() -> Address {
    "78330011223344".parse().unwrap()
}

fn golden_frames() -> Vec<(Vec<u8>, DiOrder)> {
    vec![
        (hex(READ_REQUEST), DiOrder::LowFirst),
        (read_reply_fixed(), DiOrder::LowFirst),
        (hex(VALVE_OPEN), DiOrder::HighFirst),
        (valve_close(), DiOrder::HighFirst),
    ]
}

#[test]
fn golden_read_request() {
    let bytes = hex(READ_REQUEST);
    let (frame, used) = decode(&bytes, DiOrder::LowFirst).unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(frame.meter_type, MeterType::ColdWater);
    assert_eq!(frame.address, meter_7833());
    assert_eq!(frame.address.to_string(), "78330011223344");
    assert_eq!(frame.control, Control::READ_DATA);
    assert_eq!((frame.di, frame.ser), (DI_READ_DATA, 0));
    assert!(frame.payload.is_empty());
    // The builder makes the same bytes; the preamble is the caller's.
    let built = read_data(MeterType::ColdWater, meter_7833(), 0);
    assert_eq!(built, frame);
    assert_eq!(built.encode(DiOrder::LowFirst).unwrap(), bytes[4..]);
}

#[test]
fn golden_read_reply_as_printed_has_a_bad_checksum() {
    assert_eq!(
        decode(&hex(READ_REPLY_AS_PRINTED), DiOrder::LowFirst),
        Err(FrameError::BadChecksum {
            expected: 0x13,
            found: 0x08
        })
    );
}

#[test]
fn golden_read_reply() {
    let bytes = read_reply_fixed();
    let (frame, used) = decode(&bytes, DiOrder::LowFirst).unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(frame.control, Control::READ_DATA_REPLY);
    assert_eq!(frame.address, meter_7833());
    let reply = ReadReply::from_frame(&frame).unwrap();
    let m3 = |centi| Quantity {
        centi,
        unit: Unit::CubicMetre,
    };
    assert_eq!(
        reply,
        ReadReply {
            current: m3(55_667_700), // 556677.00 m³
            settlement_day: m3(55_667_700),
            clock: MeterClock {
                year: 2015,
                month: 5,
                day: 11,
                hour: 22,
                minute: 1,
                second: 31,
            },
            status: Status([0x21, 0x84]),
        }
    );
    assert_eq!(reply.status.valve(), ValveState::Closed);
    assert!(!reply.status.battery_low());
    let again = reply
        .to_frame(MeterType::ColdWater, meter_7833(), 0)
        .unwrap();
    assert_eq!(again.encode(DiOrder::LowFirst).unwrap(), bytes);
}

#[test]
fn golden_valve_open_and_close() {
    let address: Address = "78331505900569".parse().unwrap();
    for (bytes, command) in [
        (hex(VALVE_OPEN), Valve::Open),
        (valve_close(), Valve::Close),
    ] {
        let (frame, used) = decode(&bytes, DiOrder::HighFirst).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(frame.meter_type, MeterType::ColdWater);
        assert_eq!(frame.address, address);
        assert_eq!(frame.control, Control::WRITE_DATA);
        assert_eq!((frame.di, frame.ser), (DI_VALVE, 1));
        assert_eq!(Valve::from_frame(&frame), Ok(command));
        let built = valve(MeterType::ColdWater, address, 1, command);
        assert_eq!(built.encode(DiOrder::HighFirst).unwrap(), bytes);
    }
}

#[test]
fn the_di_order_is_the_callers_choice() {
    // Read with the wrong order, the DI comes out swapped, not as an error:
    // the frame layer cannot tell; the typed layer then refuses it.
    let (frame, _) = decode(&hex(READ_REQUEST), DiOrder::HighFirst).unwrap();
    assert_eq!(frame.di, 0x1F90);
    let (frame, _) = decode(&read_reply_fixed(), DiOrder::HighFirst).unwrap();
    assert_eq!(
        ReadReply::from_frame(&frame),
        Err(FrameError::UnknownDi { di: 0x1F90 })
    );
    let (frame, _) = decode(&hex(VALVE_OPEN), DiOrder::LowFirst).unwrap();
    assert_eq!(frame.di, 0x17A0);
    let high = read_data(MeterType::Gas, meter_7833(), 7)
        .encode(DiOrder::HighFirst)
        .unwrap();
    assert_eq!(high[11..13], [0x90, 0x1F]);
}

#[test]
fn valve_reply() {
    let address = meter_7833();
    let reply = ValveReply {
        status: Status([0x00, 0x00]),
    };
    let bytes = reply
        .to_frame(MeterType::ColdWater, address, 1)
        .encode(DiOrder::HighFirst)
        .unwrap();
    // 68 T A0..A6 84 05 A0 17 01 00 00 CS 16
    assert_eq!(bytes[9..16], [0x84, 0x05, 0xA0, 0x17, 0x01, 0x00, 0x00]);
    let (frame, _) = decode(&bytes, DiOrder::HighFirst).unwrap();
    let back = ValveReply::from_frame(&frame).unwrap();
    assert_eq!(back, reply);
    assert_eq!(back.status.valve(), ValveState::Open);
}

#[test]
fn read_address_request_and_reply() {
    let request = read_address();
    let bytes = request.encode(DiOrder::LowFirst).unwrap();
    let sum = bytes[..14].iter().fold(0u8, |s, b| s.wrapping_add(*b));
    let mut expect = hex("68 AA AA AA AA AA AA AA AA 03 03 0A 81 00");
    expect.extend([sum, 0x16]);
    assert_eq!(bytes, expect);

    let reply = Frame {
        meter_type: MeterType::ColdWater,
        address: meter_7833(),
        control: Control::READ_ADDRESS_REPLY,
        ..request.clone()
    };
    let (frame, _) = decode(&reply.encode(DiOrder::LowFirst).unwrap(), DiOrder::LowFirst).unwrap();
    assert_eq!(
        read_address_reply(&frame),
        Ok((MeterType::ColdWater, meter_7833()))
    );
    assert_eq!(
        read_address_reply(&request),
        Err(FrameError::UnexpectedControl {
            expected: 0x83,
            found: 0x03
        })
    );
}

#[test]
fn typed_messages_refuse_the_wrong_frame() {
    let (reply, _) = decode(&read_reply_fixed(), DiOrder::LowFirst).unwrap();
    let check = |frame: Frame, expect: FrameError| {
        assert_eq!(ReadReply::from_frame(&frame), Err(expect));
    };
    check(
        Frame {
            control: Control(0xC1),
            ..reply.clone()
        },
        FrameError::UnexpectedControl {
            expected: 0x81,
            found: 0xC1,
        },
    );
    check(
        Frame {
            di: DI_VALVE,
            ..reply.clone()
        },
        FrameError::UnknownDi { di: DI_VALVE },
    );
    check(
        Frame {
            payload: reply.payload[..18].to_vec(),
            ..reply.clone()
        },
        FrameError::BadLength {
            expected: 22,
            found: 21,
        },
    );
    let mut bad_bcd = reply.payload.clone();
    bad_bcd[1] = 0x7A;
    check(
        Frame {
            payload: bad_bcd,
            ..reply.clone()
        },
        FrameError::BadBcd { byte: 0x7A },
    );
    let mut bad_clock = reply.payload.clone();
    bad_clock[16] = 0xF0; // year low byte
    check(
        Frame {
            payload: bad_clock,
            ..reply.clone()
        },
        FrameError::BadBcd { byte: 0xF0 },
    );
    let open = valve(MeterType::ColdWater, meter_7833(), 1, Valve::Open);
    assert_eq!(
        ValveReply::from_frame(&Frame {
            control: Control::WRITE_DATA_REPLY,
            ..open.clone()
        }),
        Err(FrameError::BadLength {
            expected: 5,
            found: 4
        })
    );
    assert_eq!(
        Valve::from_frame(&Frame {
            payload: vec![0x77],
            ..open
        }),
        Err(FrameError::OutOfRange {
            field: "valve command"
        })
    );
}

#[test]
fn every_truncation_is_truncated() {
    for (bytes, order) in golden_frames() {
        for n in 0..bytes.len() {
            assert_eq!(
                decode(&bytes[..n], order),
                Err(FrameError::Truncated),
                "{n} of {bytes:02X?}"
            );
        }
        assert!(decode(&bytes, order).is_ok());
    }
    assert!(FrameError::Truncated.is_incomplete());
    assert!(!FrameError::BadEnd { found: 0 }.is_incomplete());
}

#[test]
fn malformed_frames() {
    let good = hex(VALVE_OPEN);
    let check = |bytes: &[u8], expect: FrameError| {
        assert_eq!(
            decode(bytes, DiOrder::HighFirst),
            Err(expect),
            "{bytes:02X?}"
        );
    };
    let with = |at: usize, byte: u8| {
        let mut b = good.clone();
        b[at] = byte;
        b
    };
    let last = good.len() - 1;
    // Checksum.
    check(
        &with(last - 1, 0x51),
        FrameError::BadChecksum {
            expected: 0x50,
            found: 0x51,
        },
    );
    // A flipped data bit breaks the checksum too.
    check(
        &with(14, 0x99),
        FrameError::BadChecksum {
            expected: 0x94,
            found: 0x50,
        },
    );
    // Missing or wrong end byte.
    check(&with(last, 0x00), FrameError::BadEnd { found: 0x00 });
    check(&good[..last], FrameError::Truncated);
    // Garbage before the start byte (the FE preamble alone is skipped).
    check(
        &[&[0x00][..], &good].concat(),
        FrameError::BadStart { found: 0x00 },
    );
    check(
        &[&[0xFE, 0xFE, 0x16][..], &good].concat(),
        FrameError::BadStart { found: 0x16 },
    );
    check(&with(0, 0x69), FrameError::BadStart { found: 0x69 });
    // Wrong length: too short for DI + SER, one short, one long.
    check(
        &with(10, 0x02),
        FrameError::BadLength {
            expected: 3,
            found: 2,
        },
    );
    check(&with(10, 0x03), FrameError::BadEnd { found: 0x50 });
    check(&with(10, 0x05), FrameError::Truncated);
    let mut long = [&good[..], &[0x00]].concat();
    long[10] = 0x05;
    check(&long, FrameError::BadEnd { found: 0x00 });
    // Trailing bytes are left for the next frame.
    let two = [&good[..], &good].concat();
    let (_, used) = decode(&two, DiOrder::HighFirst).unwrap();
    assert_eq!(used, good.len());
    // A preamble only.
    check(&[0xFE; 6], FrameError::Truncated);
}

#[test]
fn encode_refuses_a_payload_longer_than_l_allows() {
    let mut frame = read_data(MeterType::Heat, Address::BROADCAST, 0);
    frame.payload = vec![0; Frame::MAX_PAYLOAD_LEN];
    let bytes = frame.encode(DiOrder::LowFirst).unwrap();
    assert_eq!(bytes[10], 0xFF);
    assert_eq!(decode(&bytes, DiOrder::LowFirst).unwrap().0, frame);
    frame.payload.push(0);
    assert_eq!(
        frame.encode(DiOrder::LowFirst),
        Err(FrameError::OutOfRange { field: "L" })
    );
}

fn any_order() -> impl Strategy<Value = DiOrder> {
    prop_oneof![Just(DiOrder::LowFirst), Just(DiOrder::HighFirst)]
}

prop_compose! {
    fn any_frame()(
        t in any::<u8>(),
        address in any::<[u8; 7]>(),
        control in any::<u8>(),
        di in any::<u16>(),
        ser in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..=Frame::MAX_PAYLOAD_LEN),
    ) -> Frame {
        Frame {
            meter_type: MeterType::from(t),
            address: Address(address),
            control: Control(control),
            di,
            ser,
            payload,
        }
    }
}

prop_compose! {
    fn any_quantity()(centi in 0..=Quantity::MAX_CENTI, unit in any::<u8>()) -> Quantity {
        Quantity { centi, unit: Unit::from(unit) }
    }
}

prop_compose! {
    fn any_reply()(
        current in any_quantity(),
        settlement_day in any_quantity(),
        year in 0..=9999u16,
        fields in any::<[u8; 5]>(),
        status in any::<[u8; 2]>(),
    ) -> ReadReply {
        let [month, day, hour, minute, second] = fields.map(|f| f % 100);
        ReadReply {
            current,
            settlement_day,
            clock: MeterClock { year, month, day, hour, minute, second },
            status: Status(status),
        }
    }
}

proptest! {
    #[test]
    fn frames_round_trip(frame in any_frame(), order in any_order(), preamble in 0..5usize) {
        let mut bytes = vec![0xFE; preamble];
        bytes.extend(frame.encode(order).unwrap());
        let (back, used) = decode(&bytes, order).unwrap();
        prop_assert_eq!(back, frame);
        prop_assert_eq!(used, bytes.len());
    }

    #[test]
    fn read_replies_round_trip(reply in any_reply(), order in any_order(), t in any::<u8>(), ser in any::<u8>()) {
        let frame = reply.to_frame(MeterType::from(t), Address::BROADCAST, ser).unwrap();
        let bytes = frame.encode(order).unwrap();
        prop_assert_eq!(bytes[10], 0x16);
        let (back, _) = decode(&bytes, order).unwrap();
        prop_assert_eq!(ReadReply::from_frame(&back).unwrap(), reply);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), order in any_order()) {
        if let Ok((frame, used)) = decode(&bytes, order) {
            prop_assert!(used <= bytes.len());
            let _ = ReadReply::from_frame(&frame);
            let _ = ValveReply::from_frame(&frame);
        }
    }

    #[test]
    fn decoding_near_frames_never_panics(
        frame in any_frame(),
        order in any_order(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        // Start from a valid frame so the decoder gets past the header.
        let mut bytes = frame.encode(order).unwrap();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let n = cut.index(bytes.len() + 1);
        if let Ok((frame, used)) = decode(&bytes[..n], order) {
            prop_assert!(used <= n);
            let _ = ReadReply::from_frame(&frame);
            let _ = ValveReply::from_frame(&frame);
            let _ = Valve::from_frame(&frame);
        }
    }

    #[test]
    fn parse_hex_inverts_formatting(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let text = bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
        prop_assert_eq!(parse_hex(&text).unwrap(), bytes);
    }
}
