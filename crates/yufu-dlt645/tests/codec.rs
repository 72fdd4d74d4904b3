//! Golden frames from protocols.md §1.5/§1.6, round trips, malformed input.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use yufu_dlt645::*;

fn hex(text: &str) -> Vec<u8> {
    parse_hex(text).unwrap()
}

fn frame(text: &str) -> Frame {
    let bytes = hex(text);
    let (frame, used) = decode(&bytes).unwrap();
    assert_eq!(used, bytes.len(), "{text}");
    // Encoding gives the same bytes back (minus any preamble).
    let without_preamble: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0xFE).collect();
    assert_eq!(frame.encode(), without_preamble, "{text}");
    frame
}

fn meter() -> Address {
    "000000000161".parse().unwrap()
}

// §1.5 real frame 1: read forward active energy, total.
const READ_ENERGY: &str = "FE FE FE FE 68 61 01 00 00 00 00 68 11 04 33 33 34 33 14 16";
const ENERGY_REPLY: &str = "68 61 01 00 00 00 00 68 91 08 33 33 34 33 59 33 33 33 8A 16";
// §1.5 constructed frames.
const READ_ADDRESS: &str = "68 AA AA AA AA AA AA 68 13 00 DF 16";
const READ_REMAINING: &str = "68 61 01 00 00 00 00 68 11 04 33 35 C3 33 A5 16";
const REMAINING_REPLY: &str = "68 61 01 00 00 00 00 68 91 08 33 35 C3 33 78 56 34 33 5E 16";
const BROADCAST_TIME: &str = "68 99 99 99 99 99 99 68 08 06 63 48 53 56 44 59 65 16";
const TRIP: &str =
    "68 61 01 00 00 00 00 68 1C 10 35 33 33 33 33 33 33 33 4D 33 8C 8C 56 64 45 59 E8 16";
const TRIP_ACK: &str = "68 61 01 00 00 00 00 68 9C 00 CE 16";
// "…68 D1 01 35 39 16": the doc elides the head; CS 39 fits address 000000000161.
const NO_DATA_ERROR: &str = "68 61 01 00 00 00 00 68 D1 01 35 39 16";
// §1.6: a 1997 read of B611.
const READ_1997: &str = "68 03 00 00 00 00 00 68 01 02 44 E9 03 16";

const GOLDEN: [&str; 10] = [
    READ_ENERGY,
    ENERGY_REPLY,
    READ_ADDRESS,
    READ_REMAINING,
    REMAINING_REPLY,
    BROADCAST_TIME,
    TRIP,
    TRIP_ACK,
    NO_DATA_ERROR,
    READ_1997,
];

#[test]
fn golden_read_energy_request() {
    let f = frame(READ_ENERGY);
    assert_eq!(f.address(), meter());
    assert_eq!(f.control(), Control::request(Function::ReadData));
    assert_eq!(f.data(), [0x00, 0x00, 0x01, 0x00]);
    assert_eq!(
        f.message().unwrap(),
        Message::ReadData {
            di: Di::FORWARD_ACTIVE_TOTAL
        }
    );
    let built = read_data(meter(), Di::FORWARD_ACTIVE_TOTAL);
    assert_eq!(built.encode_with_wake_up(), hex(READ_ENERGY));
    assert_eq!(decode(&hex(READ_ENERGY)).unwrap().0, built);
}

#[test]
fn golden_energy_reply_is_0_26_kwh() {
    let f = frame(ENERGY_REPLY);
    assert_eq!(f.control().to_byte(), 0x91);
    assert_eq!(f.control().direction, Direction::Reply);
    assert_eq!(
        f.reading().unwrap(),
        Reading {
            di: Di::FORWARD_ACTIVE_TOTAL,
            value: Value::Energy { centi_kwh: 26 }
        }
    );
}

#[test]
fn golden_read_address() {
    let f = frame(READ_ADDRESS);
    assert_eq!(f.address(), Address::WILDCARD);
    assert_eq!(f.message().unwrap(), Message::ReadAddress);
    assert_eq!(read_address().encode(), hex(READ_ADDRESS));
}

#[test]
fn golden_remaining_amount_request_and_reply() {
    let f = frame(READ_REMAINING);
    assert_eq!(
        f.message().unwrap(),
        Message::ReadData {
            di: Di::REMAINING_AMOUNT
        }
    );
    assert_eq!(
        read_data(meter(), Di::REMAINING_AMOUNT).encode(),
        hex(READ_REMAINING)
    );
    let reply = frame(REMAINING_REPLY);
    assert_eq!(
        reply.reading().unwrap(),
        Reading {
            di: Di::REMAINING_AMOUNT,
            value: Value::Amount { fen: 12345 } // 123.45 元
        }
    );
}

#[test]
fn golden_broadcast_time() {
    let time = DateTime::new(2026, 11, 23, 20, 15, 30).unwrap();
    let f = frame(BROADCAST_TIME);
    assert!(f.address().is_broadcast());
    assert_eq!(f.message().unwrap(), Message::BroadcastTime { time });
    assert_eq!(broadcast_time(time).encode(), hex(BROADCAST_TIME));
}

#[test]
fn golden_trip_and_ack() {
    let auth = Auth::new(0x02, 0, 0).unwrap();
    let expiry = DateTime::new(2026, 12, 31, 23, 59, 59).unwrap();
    let f = frame(TRIP);
    assert_eq!(
        f.message().unwrap(),
        Message::RelayControl(RelayCommand {
            auth,
            action: RelayAction::Trip,
            expiry
        })
    );
    assert_eq!(
        relay_control(meter(), RelayAction::Trip, auth, expiry).encode(),
        hex(TRIP)
    );
    assert_eq!(frame(TRIP_ACK).message().unwrap(), Message::RelayControlAck);
}

#[test]
fn golden_no_requested_data_error() {
    let f = frame(NO_DATA_ERROR);
    assert!(f.control().error);
    let status = ErrorStatus(0x02);
    assert_eq!(
        f.message().unwrap(),
        Message::ErrorReply {
            function: Function::ReadData,
            status
        }
    );
    assert!(status.has(ErrorFlag::NoRequestedData));
    assert_eq!(Control::error_reply(Function::ReadData).to_byte(), 0xD1);
    assert_eq!(Control::error_reply(Function::RelayControl).to_byte(), 0xDC);
    assert_eq!(f.reading(), Err(FrameError::Refused(status)));
}

#[test]
fn golden_1997_read_b611() {
    let f = frame(READ_1997);
    assert_eq!(f.address().number(), Some(3));
    assert_eq!(f.control().function, Function::ReadData1997);
    let di = Di::V1997(0xB611);
    assert_eq!(f.message().unwrap(), Message::ReadData { di });
    assert_eq!(di.to_2007(), Some(Di::VOLTAGE_A));
    let address = Address::from_number(3).unwrap();
    assert_eq!(read_data(address, di).encode(), hex(READ_1997));
}

#[test]
fn reply_1997_decodes() {
    // Built from the layout: 81, DI B611 + 220 V as XXX.
    let address = Address::from_number(3).unwrap();
    let reply = Frame::new(
        address,
        Control::reply(Function::ReadData1997),
        vec![0x11, 0xB6, 0x20, 0x02],
    )
    .unwrap();
    let (back, _) = decode(&reply.encode()).unwrap();
    assert_eq!(back.control().to_byte(), 0x81);
    assert_eq!(
        back.reading().unwrap(),
        Reading {
            di: Di::V1997(0xB611),
            value: Value::Voltage { deci_volt: 2200 }
        }
    );
    assert_eq!(Control::error_reply(Function::ReadData1997).to_byte(), 0xC1);
}

#[test]
fn status_word_3_reply_says_relay_open() {
    let reply = Frame::new(
        meter(),
        Control::reply(Function::ReadData),
        [Di::STATUS_WORD_3.to_wire(), vec![0x10, 0x02]].concat(),
    )
    .unwrap();
    let Value::Status3 { word } = reply.reading().unwrap().value else {
        panic!("not a status word");
    };
    assert!(word.relay_open());
    assert_eq!(word.meter_type(), MeterType::MoneyPrepaid);
}

#[test]
fn every_prefix_is_truncated() {
    for text in GOLDEN {
        let bytes = hex(text);
        for len in 0..bytes.len() {
            assert_eq!(
                decode(&bytes[..len]).unwrap_err(),
                FrameError::Truncated,
                "{text} cut at {len}"
            );
        }
    }
}

#[test]
fn trailing_bytes_are_left_for_the_next_frame() {
    let bytes = [hex(ENERGY_REPLY), hex(TRIP_ACK)].concat();
    let (first, used) = decode(&bytes).unwrap();
    assert_eq!(first.reading().unwrap().di, Di::FORWARD_ACTIVE_TOTAL);
    let (second, rest) = decode(&bytes[used..]).unwrap();
    assert_eq!(second.message().unwrap(), Message::RelayControlAck);
    assert_eq!(used + rest, bytes.len());
}

#[test]
fn bad_checksum() {
    let mut bytes = hex(ENERGY_REPLY);
    let cs = bytes.len() - 2;
    bytes[cs] = 0x8B;
    assert_eq!(
        decode(&bytes),
        Err(FrameError::BadChecksum {
            expected: 0x8A,
            found: 0x8B
        })
    );
    // A flipped data byte is caught the same way.
    let mut bytes = hex(ENERGY_REPLY);
    bytes[14] ^= 0x01;
    assert!(matches!(
        decode(&bytes),
        Err(FrameError::BadChecksum { .. })
    ));
}

#[test]
fn garbage_before_start_is_reported() {
    let bytes = [vec![0xFE, 0xFE, 0x00], hex(ENERGY_REPLY)].concat();
    assert_eq!(
        decode(&bytes),
        Err(FrameError::BadStart {
            found: 0x00,
            offset: 2
        })
    );
    // Any number of wake-up bytes is fine.
    let bytes = [vec![0xFE; 9], hex(ENERGY_REPLY)].concat();
    assert_eq!(decode(&bytes).unwrap().1, bytes.len());
}

#[test]
fn bad_second_start() {
    let mut bytes = hex(TRIP_ACK);
    bytes[7] = 0x69;
    assert_eq!(
        decode(&bytes),
        Err(FrameError::BadSecondStart { found: 0x69 })
    );
}

#[test]
fn wrong_length_byte() {
    let mut shorter = hex(ENERGY_REPLY);
    shorter[9] = 0x07;
    assert_eq!(decode(&shorter), Err(FrameError::BadEnd { found: 0x8A }));
    let mut longer = hex(ENERGY_REPLY);
    longer[9] = 0x09;
    assert_eq!(decode(&longer), Err(FrameError::Truncated));
    // With more bytes after it, a too-long L lands on a non-end byte.
    let longer = [longer, hex(TRIP_ACK)].concat();
    assert_eq!(decode(&longer), Err(FrameError::BadEnd { found: 0x68 }));
}

#[test]
fn missing_end_byte() {
    let mut bytes = hex(TRIP_ACK);
    bytes[11] = 0x00;
    assert_eq!(decode(&bytes), Err(FrameError::BadEnd { found: 0x00 }));
}

#[test]
fn message_level_errors() {
    // A read request whose data is not a 4-byte DI.
    let f = Frame::new(meter(), Control::request(Function::ReadData), vec![0; 3]).unwrap();
    assert_eq!(
        f.message(),
        Err(FrameError::BadLength {
            expected: 4,
            found: 3
        })
    );
    // A reply for a DI with no known format.
    let f = Frame::new(
        meter(),
        Control::reply(Function::ReadData),
        vec![0x01, 0x02, 0x03, 0x04, 0x00],
    )
    .unwrap();
    assert_eq!(
        f.reading(),
        Err(FrameError::UnknownDi(Di::V2007(0x0403_0201)))
    );
    // Non-BCD energy.
    let f = Frame::new(
        meter(),
        Control::reply(Function::ReadData),
        [Di::FORWARD_ACTIVE_TOTAL.to_wire(), vec![0x0F, 0, 0, 0]].concat(),
    )
    .unwrap();
    assert_eq!(f.reading(), Err(FrameError::BadBcd { byte: 0x0F }));
    assert_eq!(
        Frame::new(meter(), Control::request(Function::WriteData), vec![0; 256]),
        Err(FrameError::DataTooLong { len: 256 })
    );
    assert_eq!(
        frame(TRIP_ACK).reading(),
        Err(FrameError::NotAReadReply { control: 0x9C })
    );
}

fn any_address() -> impl Strategy<Value = Address> {
    prop_oneof![
        any::<[u8; 6]>().prop_map(Address::from_wire),
        (0u64..=999_999_999_999).prop_map(|n| Address::from_number(n).unwrap()),
    ]
}

fn any_di() -> impl Strategy<Value = Di> {
    prop_oneof![
        any::<u32>().prop_map(Di::V2007),
        any::<u16>().prop_map(Di::V1997)
    ]
}

proptest! {
    #[test]
    fn frames_round_trip(
        address in any_address(),
        control in any::<u8>().prop_map(Control::from_byte),
        data in proptest::collection::vec(any::<u8>(), 0..=255),
        wake_up in any::<bool>(),
    ) {
        let frame = Frame::new(address, control, data).unwrap();
        let bytes = if wake_up { frame.encode_with_wake_up() } else { frame.encode() };
        prop_assert_eq!(decode(&bytes), Ok((frame, bytes.len())));
    }

    #[test]
    fn printed_addresses_round_trip(n in 0u64..=999_999_999_999) {
        let address = Address::from_number(n).unwrap();
        let printed = address.to_string();
        prop_assert_eq!(printed.parse::<Address>(), Ok(address));
        prop_assert_eq!(address.number(), Some(n));
    }

    #[test]
    fn read_requests_round_trip(address in any_address(), di in any_di()) {
        let (back, _) = decode(&read_data(address, di).encode()).unwrap();
        prop_assert_eq!(back.address(), address);
        prop_assert_eq!(back.message(), Ok(Message::ReadData { di }));
    }

    #[test]
    fn read_replies_round_trip(
        di in any_di(),
        value in proptest::collection::vec(any::<u8>(), 0..=200),
    ) {
        let function = match di {
            Di::V2007(_) => Function::ReadData,
            Di::V1997(_) => Function::ReadData1997,
        };
        let data = [di.to_wire(), value.clone()].concat();
        let frame = Frame::new(meter(), Control::reply(function), data).unwrap();
        let (back, _) = decode(&frame.encode()).unwrap();
        prop_assert_eq!(back.message(), Ok(Message::ReadDataReply { di, value }));
    }

    #[test]
    fn energy_values_round_trip(centi_kwh in 0u64..=99_999_999, rate in 0u8..=0x3F) {
        let digits = format!("{centi_kwh:08}");
        let mut bcd = hex(&digits);
        bcd.reverse();
        let di = Di::forward_active(rate);
        prop_assert_eq!(Value::decode(di, &bcd), Ok(Value::Energy { centi_kwh }));
    }

    #[test]
    fn relay_commands_round_trip(
        address in any_address(),
        action in prop_oneof![
            Just(RelayAction::Trip), Just(RelayAction::CloseAllowed),
            Just(RelayAction::DirectClose), Just(RelayAction::AlarmOn),
            Just(RelayAction::AlarmOff), Just(RelayAction::KeepPowerOn),
            Just(RelayAction::KeepPowerOff),
        ],
        level in (0u8..=0x95),
        password in 0u32..=0xFF_FFFF,
        operator in any::<u32>(),
        (year, month, day, hour, minute, second) in
            (2000u16..=2099, 1u8..=12, 1u8..=28, 0u8..=23, 0u8..=59, 0u8..=59),
    ) {
        let auth = Auth::new(level, password, operator).unwrap();
        let expiry = DateTime::new(year, month, day, hour, minute, second).unwrap();
        let (back, _) = decode(&relay_control(address, action, auth, expiry).encode()).unwrap();
        prop_assert_eq!(
            back.message(),
            Ok(Message::RelayControl(RelayCommand { auth, action, expiry }))
        );
    }

    #[test]
    fn decoding_anything_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok((frame, used)) = decode(&bytes) {
            prop_assert!(used <= bytes.len());
            let _ = frame.message();
            let _ = frame.reading();
        }
    }

    #[test]
    fn any_frame_body_never_panics(
        control in any::<u8>(),
        data in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        // Well-framed but arbitrary content reaches the message and value layers.
        let frame = Frame::new(meter(), Control::from_byte(control), data).unwrap();
        let _ = frame.message();
        let _ = frame.reading();
        for di in [Di::FORWARD_ACTIVE_BLOCK, Di::CURRENT_A, Di::STATUS_WORD_3, Di::PURCHASE_COUNT] {
            let _ = Value::decode(di, frame.data());
        }
    }

    #[test]
    fn parse_hex_never_panics(text in ".{0,40}") {
        let _ = parse_hex(&text);
    }
}
