//! The meter side of DL/T 645-2007: a request frame in, the reply a
//! money-prepaid electricity meter would give out. Sans IO.

use jiff::Timestamp;
use yufu_dlt645::{
    Address, Control, DateTime, Di, Direction, Frame, Function, Message, RelayAction, RelayCommand,
};
use yufu_domain::Utility;

use crate::clock::local_time;
use crate::meter::{Command, SimMeter, Supply};
use crate::profile::Profile;

/// Error-status bits (protocols.md §1.2).
const ERR_OTHER: u8 = 1 << 0;
const ERR_NO_DATA: u8 = 1 << 1;
const ERR_UNAUTHORIZED: u8 = 1 << 2;

/// The largest magnitude a signed 3-byte BCD value carries: the top bit of
/// the top byte is the sign, so its top digit stops at 7.
const MAX_SIGNED_3: u64 = 799_999;

/// Answers one request as the meter `meter` would.
///
/// - Frames for another address, replies, and broadcast frames other than
///   read address get `None`. Broadcast (`99…99`) is acted on but not
///   answered (protocols.md §1.1); the broadcast time is accepted and
///   ignored (the simulator keeps no clock of its own). Read address is
///   answered on broadcast as well as on the `AA` wildcard, since on a TCP
///   link there is one meter and gateways use either.
/// - The meter's own address and `AA`-wildcard addresses whose other bytes
///   match are answered.
/// - DL/T 645-1997 requests get `None`: a 2007 meter ignores them.
/// - Only electricity meters answer; others get `None`.
///
/// The caller advances the meter to `now` first (see
/// [`SimMeter::advance`]); `now` here checks relay-command expiry and
/// samples the electrical values.
pub fn answer(meter: &mut SimMeter, request: &Frame, now: Timestamp) -> Option<Frame> {
    if meter.utility != Utility::Electricity || request.control().direction == Direction::Reply {
        return None;
    }
    let own: Address = meter.address.parse().ok()?;
    let to = request.address();
    let broadcast = to.is_broadcast();
    if !broadcast && !matches_address(to, own) {
        return None;
    }
    let function = request.control().function;
    let message = match request.message() {
        Ok(message) => message,
        // A malformed request for this meter: the "other error" bit.
        Err(_) if !broadcast => return error_reply(own, function, ERR_OTHER),
        Err(_) => return None,
    };
    match message {
        Message::ReadAddress => reply(own, Function::ReadAddress, own.to_wire().to_vec()),
        _ if broadcast => None,
        Message::ReadData { di: Di::V2007(di) } => match read_value(meter, di, now) {
            Some(value) => {
                let mut data = Di::V2007(di).to_wire();
                data.extend(value);
                reply(own, Function::ReadData, data)
            }
            None => error_reply(own, function, ERR_NO_DATA),
        },
        Message::ReadData { di: Di::V1997(_) } => None,
        Message::RelayControl(command) => relay_control(meter, own, command, now),
        // Encrypted (96H/98H) relay control: without an ESAM the simulator
        // cannot check it, so it answers as a meter does to a bad MAC.
        Message::Other if function == Function::RelayControl => {
            error_reply(own, function, ERR_UNAUTHORIZED)
        }
        Message::BroadcastTime { .. } => None,
        // Writes, freezes and the rest are not simulated.
        Message::Other => error_reply(own, function, ERR_OTHER),
        Message::ReadDataReply { .. }
        | Message::ReadAddressReply { .. }
        | Message::RelayControlAck
        | Message::ErrorReply { .. } => None,
    }
}

/// `to` is `own`, or `own` with some bytes replaced by the `AA` wildcard.
fn matches_address(to: Address, own: Address) -> bool {
    to.to_wire()
        .iter()
        .zip(own.to_wire())
        .all(|(t, o)| *t == 0xAA || *t == o)
}

fn reply(own: Address, function: Function, data: Vec<u8>) -> Option<Frame> {
    Frame::new(own, Control::reply(function), data).ok()
}

fn error_reply(own: Address, function: Function, status: u8) -> Option<Frame> {
    Frame::new(own, Control::error_reply(function), vec![status]).ok()
}

fn relay_control(
    meter: &mut SimMeter,
    own: Address,
    command: RelayCommand,
    now: Timestamp,
) -> Option<Frame> {
    let function = Function::RelayControl;
    // The password is not checked: the simulator trusts the platform, and
    // plaintext levels are what the codec builds.
    if expired(command.expiry, now) {
        return error_reply(own, function, ERR_OTHER);
    }
    let outcome = match command.action {
        RelayAction::Trip => meter.apply_command(Command::Cut),
        // "Close allowed" waits for the customer's button; the simulated
        // customer presses it at once.
        RelayAction::CloseAllowed | RelayAction::DirectClose => {
            meter.apply_command(Command::Restore)
        }
        RelayAction::KeepPowerOn => meter.apply_command(Command::KeepPower(true)),
        RelayAction::KeepPowerOff => meter.apply_command(Command::KeepPower(false)),
        RelayAction::AlarmOn | RelayAction::AlarmOff => {
            meter.alarm = command.action == RelayAction::AlarmOn;
            Ok(())
        }
    };
    match outcome {
        Ok(()) => reply(own, function, Vec::new()),
        Err(_) => error_reply(own, function, ERR_OTHER),
    }
}

/// The command's valid-until time (local) is before `now`.
fn expired(expiry: DateTime, now: Timestamp) -> bool {
    let field = |v: u8| i8::try_from(v).unwrap_or(i8::MAX);
    let Ok(year) = i16::try_from(expiry.year()) else {
        return true;
    };
    match jiff::civil::DateTime::new(
        year,
        field(expiry.month()),
        field(expiry.day()),
        field(expiry.hour()),
        field(expiry.minute()),
        field(expiry.second()),
        0,
    ) {
        Ok(until) => until < local_time(now),
        Err(_) => true,
    }
}

/// The value bytes for a 2007 DI, or `None` when this meter has no such
/// data (answered with the "no requested data" error bit).
fn read_value(meter: &mut SimMeter, di: u32, now: Timestamp) -> Option<Vec<u8>> {
    let phases: u8 = if meter.profile == Profile::Commercial {
        3
    } else {
        1
    };
    let [d3, d2, d1, d0] = di.to_be_bytes();
    Some(match (d3, d2, d1, d0) {
        // Forward active energy: total, tariffs 1–4, the block. DI0 00 is
        // "now"; past settlements are not kept.
        (0x00, 0x01, 0x00, 0x00) => energy(meter.register),
        (0x00, 0x01, 0x01..=0x04, 0x00) => {
            energy(*meter.rates.get(usize::from(d1 - 1)).unwrap_or(&0))
        }
        (0x00, 0x01, 0xFF, 0x00) => std::iter::once(meter.register)
            .chain(meter.rates)
            .flat_map(energy)
            .collect(),
        // Reverse active energy: a consumer's meter never exports.
        (0x00, 0x02, 0x00..=0x04, 0x00) => energy(0),
        (0x00, 0x02, 0xFF, 0x00) => [0u64; 5].into_iter().flat_map(energy).collect(),
        (0x02, 0x01, 1..=3, 0x00) if d1 <= phases => bcd(voltage(meter), 2),
        (0x02, 0x02, 1..=3, 0x00) if d1 <= phases => {
            let watts = power_watts(meter, now) / u64::from(phases);
            let current = milliamps(watts, voltage(meter), power_factor(meter, watts));
            bcd(current.min(MAX_SIGNED_3), 3)
        }
        (0x02, 0x03, 0..=3, 0x00) if d1 <= phases => {
            let watts = power_watts(meter, now);
            let watts = if d1 == 0 {
                watts
            } else {
                watts / u64::from(phases)
            };
            bcd((watts * 10).min(MAX_SIGNED_3), 3)
        }
        (0x02, 0x06, 0..=3, 0x00) if d1 <= phases => {
            let watts = power_watts(meter, now);
            bcd(power_factor(meter, watts), 2)
        }
        (0x00, 0x90, 0x02, 0x00) => amount(meter.remaining_fen),
        // Overdraft: the simulated meter never lends.
        (0x00, 0x90, 0x02, 0x01) => amount(0),
        (0x03, 0x33, 0x02, 0x01) => bcd(u64::from(meter.purchase_count), 2),
        (0x03, 0x33, 0x06, 0x01) => amount(meter.purchased_fen),
        (0x04, 0x00, 0x05, 0x03) => status_word_3(meter).to_le_bytes().to_vec(),
        _ => return None,
    })
}

/// `XXXXXX.XX kWh` from Wh; the display rolls over past 999999.99 kWh.
fn energy(wh: u64) -> Vec<u8> {
    bcd(wh / 10, 4)
}

/// `XXXXXX.XX 元` from fen.
fn amount(fen: u64) -> Vec<u8> {
    bcd(fen, 4)
}

/// `value` as `bytes` bytes of BCD, low byte first, keeping the low digits
/// (a meter register rolls over rather than overflow).
fn bcd(mut value: u64, bytes: usize) -> Vec<u8> {
    (0..bytes)
        .map(|_| {
            let pair = u8::try_from(value % 100).unwrap_or(0);
            value /= 100;
            ((pair / 10) << 4) | (pair % 10)
        })
        .collect()
}

/// Phase voltage in 0.1 V: 215.0–230.0 V, a typical Chinese 220 V supply.
fn voltage(meter: &mut SimMeter) -> u64 {
    meter.rng.between(2_150, 2_300)
}

/// Total active power in W: the profile's rate for this hour ±10 %, none
/// while the relay is open.
fn power_watts(meter: &mut SimMeter, now: Timestamp) -> u64 {
    if meter.supply == Supply::Off {
        return 0;
    }
    let seed = meter.rng.seed();
    meter.profile.rate_per_hour(now, seed) * meter.rng.between(900, 1_100) / 1_000
}

/// Power factor in thousandths: 0.880–0.990 under load, 1.000 idle (as
/// meters show with no current).
fn power_factor(meter: &mut SimMeter, watts: u64) -> u64 {
    if watts == 0 {
        1_000
    } else {
        meter.rng.between(880, 990)
    }
}

/// I = P / (U · pf): mA from W, 0.1 V and thousandths.
fn milliamps(watts: u64, deci_volt: u64, pf_milli: u64) -> u64 {
    let denominator = deci_volt * pf_milli;
    if denominator == 0 {
        return 0;
    }
    watts * 10_000_000 / denominator
}

/// Run status word 3 as `yufu_dlt645::StatusWord3` reads it: b4 relay open
/// and b6 relay command "open" while supply is off (the simulator has no
/// pre-trip delay, so they agree), b7 pre-trip alarm for the alarm state,
/// b8–9 `10` money-prepaid, b12 keep-power, b15 remote account opened.
pub fn status_word_3(meter: &SimMeter) -> u16 {
    let mut word: u16 = (0b10 << 8) | (1 << 15);
    if meter.supply == Supply::Off {
        word |= (1 << 4) | (1 << 6);
    }
    if meter.alarm {
        word |= 1 << 7;
    }
    if meter.keep_power {
        word |= 1 << 12;
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;
    use yufu_dlt645::{
        Auth, ErrorFlag, ErrorStatus, MeterType, Value, decode, read_address, read_data,
    };

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// 2026-11-20 00:00 Shanghai.
    fn start() -> Timestamp {
        ts("2026-11-19T16:00:00Z")
    }

    /// 2026-11-20 20:00 Shanghai.
    fn evening() -> Timestamp {
        ts("2026-11-20T12:00:00Z")
    }

    fn meter(profile: Profile) -> SimMeter {
        SimMeter::new("E1", "000000100001", profile, 21, start()).unwrap()
    }

    fn addr() -> Address {
        "000000100001".parse().unwrap()
    }

    /// Through the wire and back, so every reply is checked by the codec.
    fn ask(m: &mut SimMeter, request: &Frame) -> Option<Frame> {
        let reply = answer(m, request, evening())?;
        let (decoded, used) = decode(&reply.encode()).unwrap();
        assert_eq!(used, reply.encode().len());
        assert_eq!(decoded, reply);
        Some(decoded)
    }

    fn read(m: &mut SimMeter, di: Di) -> Value {
        let reply = ask(m, &read_data(addr(), di)).unwrap();
        assert_eq!(reply.address(), addr());
        let reading = reply.reading().unwrap();
        assert_eq!(reading.di, di);
        reading.value
    }

    fn relay(action: RelayAction, expiry: DateTime) -> Frame {
        relay_control_frame(addr(), action, expiry)
    }

    fn relay_control_frame(to: Address, action: RelayAction, expiry: DateTime) -> Frame {
        yufu_dlt645::relay_control(to, action, Auth::new(2, 0, 0).unwrap(), expiry)
    }

    fn later() -> DateTime {
        DateTime::new(2026, 12, 31, 23, 59, 59).unwrap()
    }

    #[test]
    fn energy_total_is_register_over_ten() {
        let mut m = meter(Profile::Residential);
        m.advance(evening(), 1);
        assert!(m.register > 0);
        assert_eq!(
            read(&mut m, Di::FORWARD_ACTIVE_TOTAL),
            Value::Energy {
                centi_kwh: m.register / 10
            }
        );
    }

    #[test]
    fn rates_and_block() {
        let mut m = meter(Profile::Commercial);
        m.advance(evening(), 1);
        let expect: Vec<u64> = std::iter::once(m.register)
            .chain(m.rates)
            .map(|wh| wh / 10)
            .collect();
        assert_eq!(
            read(&mut m, Di::FORWARD_ACTIVE_BLOCK),
            Value::EnergyBlock {
                centi_kwh: expect.clone()
            }
        );
        for rate in 1..=4u8 {
            assert_eq!(
                read(&mut m, Di::forward_active(rate)),
                Value::Energy {
                    centi_kwh: expect[usize::from(rate)]
                }
            );
        }
        assert_eq!(
            read(&mut m, Di::reverse_active(0)),
            Value::Energy { centi_kwh: 0 }
        );
    }

    #[test]
    fn electrical_values_are_plausible() {
        let mut m = meter(Profile::Residential);
        let Value::Voltage { deci_volt } = read(&mut m, Di::VOLTAGE_A) else {
            panic!()
        };
        assert!((2_150..=2_300).contains(&deci_volt));
        let Value::ActivePower { tenth_watt } = read(&mut m, Di::ACTIVE_POWER_TOTAL) else {
            panic!()
        };
        // 20:00 is the evening peak: hundreds of watts.
        assert!((1_000..=20_000).contains(&tenth_watt), "{tenth_watt}");
        let Value::Current { milli_amp } = read(&mut m, Di::CURRENT_A) else {
            panic!()
        };
        assert!((300..=10_000).contains(&milli_amp), "{milli_amp}");
        let Value::PowerFactor { milli } = read(&mut m, Di::POWER_FACTOR_TOTAL) else {
            panic!()
        };
        assert!((880..=990).contains(&milli));
        // Single phase: no phase B.
        let reply = ask(&mut m, &read_data(addr(), Di::V2007(0x0201_0200))).unwrap();
        assert!(matches!(
            reply.message().unwrap(),
            Message::ErrorReply {
                status: ErrorStatus(0x02),
                ..
            }
        ));
        // Three-phase commercial meter answers phase C.
        let mut c = meter(Profile::Commercial);
        assert!(matches!(
            read(&mut c, Di::V2007(0x0201_0300)),
            Value::Voltage { .. }
        ));
        // Relay open: no power, no current, power factor 1.
        m.apply_command(Command::Cut).unwrap();
        assert_eq!(
            read(&mut m, Di::ACTIVE_POWER_TOTAL),
            Value::ActivePower { tenth_watt: 0 }
        );
        assert_eq!(read(&mut m, Di::CURRENT_A), Value::Current { milli_amp: 0 });
        assert_eq!(
            read(&mut m, Di::POWER_FACTOR_TOTAL),
            Value::PowerFactor { milli: 1000 }
        );
    }

    #[test]
    fn prepaid_registers() {
        let mut m = meter(Profile::Residential);
        m.apply_command(Command::Recharge { fen: 12_345 }).unwrap();
        m.apply_command(Command::Recharge { fen: 5_000 }).unwrap();
        assert_eq!(
            read(&mut m, Di::REMAINING_AMOUNT),
            Value::Amount { fen: 17_345 }
        );
        assert_eq!(read(&mut m, Di::PURCHASE_COUNT), Value::Count { count: 2 });
        assert_eq!(
            read(&mut m, Di::CUMULATIVE_PURCHASE_AMOUNT),
            Value::Amount { fen: 17_345 }
        );
        assert_eq!(read(&mut m, Di::OVERDRAFT_AMOUNT), Value::Amount { fen: 0 });
    }

    fn status(m: &mut SimMeter) -> yufu_dlt645::StatusWord3 {
        match read(m, Di::STATUS_WORD_3) {
            Value::Status3 { word } => word,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn trip_and_close_show_in_status_word_3() {
        let mut m = meter(Profile::Residential);
        let word = status(&mut m);
        assert!(!word.relay_open());
        assert_eq!(word.meter_type(), MeterType::MoneyPrepaid);
        assert_eq!(word.supply(), yufu_dlt645::Supply::Main);

        let ack = ask(&mut m, &relay(RelayAction::Trip, later())).unwrap();
        assert_eq!(ack.message().unwrap(), Message::RelayControlAck);
        assert_eq!(ack.control().to_byte(), 0x9C);
        assert_eq!(m.supply, Supply::Off);
        let word = status(&mut m);
        assert!(word.relay_open());
        assert!(word.relay_command_open());

        // No consumption while tripped.
        let before = m.register;
        m.advance(ts("2026-11-21T12:00:00Z"), 1);
        assert_eq!(m.register, before);

        for close in [RelayAction::DirectClose, RelayAction::CloseAllowed] {
            m.supply = Supply::Off;
            let ack = ask(&mut m, &relay(close, later())).unwrap();
            assert_eq!(ack.message().unwrap(), Message::RelayControlAck);
            assert!(!status(&mut m).relay_open());
        }
    }

    #[test]
    fn keep_power_blocks_trip() {
        let mut m = meter(Profile::Residential);
        ask(&mut m, &relay(RelayAction::KeepPowerOn, later())).unwrap();
        assert!(status(&mut m).keep_power());
        let refused = ask(&mut m, &relay(RelayAction::Trip, later())).unwrap();
        assert_eq!(refused.control().to_byte(), 0xDC);
        assert_eq!(m.supply, Supply::On);
        ask(&mut m, &relay(RelayAction::AlarmOn, later())).unwrap();
        assert!(status(&mut m).pre_trip_alarm());
    }

    #[test]
    fn expired_relay_command_is_refused() {
        let mut m = meter(Profile::Residential);
        let past = DateTime::new(2026, 11, 20, 19, 59, 59).unwrap();
        let refused = ask(&mut m, &relay(RelayAction::Trip, past)).unwrap();
        assert!(matches!(
            refused.message().unwrap(),
            Message::ErrorReply {
                function: Function::RelayControl,
                ..
            }
        ));
        assert_eq!(m.supply, Supply::On);
    }

    #[test]
    fn read_address_answers_wildcard_and_broadcast() {
        let mut m = meter(Profile::Residential);
        let reply = ask(&mut m, &read_address()).unwrap();
        assert_eq!(
            reply.message().unwrap(),
            Message::ReadAddressReply { address: addr() }
        );
        let broadcast = Frame::new(
            Address::BROADCAST,
            Control::request(Function::ReadAddress),
            vec![],
        )
        .unwrap();
        assert!(ask(&mut m, &broadcast).is_some());
    }

    #[test]
    fn addressing() {
        let mut m = meter(Profile::Residential);
        let other: Address = "000000100002".parse().unwrap();
        assert!(ask(&mut m, &read_data(other, Di::FORWARD_ACTIVE_TOTAL)).is_none());
        let partial: Address = "AAAAAA100001".parse().unwrap();
        let reply = ask(&mut m, &read_data(partial, Di::FORWARD_ACTIVE_TOTAL)).unwrap();
        assert_eq!(reply.address(), addr());
        let partial_other: Address = "AAAAAA100002".parse().unwrap();
        assert!(ask(&mut m, &read_data(partial_other, Di::FORWARD_ACTIVE_TOTAL)).is_none());
        // Broadcast reads and trips are not answered or acted on.
        assert!(
            ask(
                &mut m,
                &read_data(Address::BROADCAST, Di::FORWARD_ACTIVE_TOTAL)
            )
            .is_none()
        );
        assert!(
            ask(
                &mut m,
                &relay_control_frame(Address::BROADCAST, RelayAction::Trip, later())
            )
            .is_none()
        );
        assert_eq!(m.supply, Supply::On);
        let time = yufu_dlt645::broadcast_time(later());
        assert!(ask(&mut m, &time).is_none());
        // Our own reply echoed back is not a request.
        let reply = ask(&mut m, &read_address()).unwrap();
        assert!(answer(&mut m, &reply, evening()).is_none());
        // 1997 requests are ignored by a 2007 meter.
        assert!(ask(&mut m, &read_data(addr(), Di::V1997(0x9010))).is_none());
    }

    #[test]
    fn unsupported_di_gets_no_data_error() {
        let mut m = meter(Profile::Residential);
        let reply = ask(&mut m, &read_data(addr(), Di::V2007(0x1234_5678))).unwrap();
        assert_eq!(reply.control().to_byte(), 0xD1);
        let Message::ErrorReply { status, .. } = reply.message().unwrap() else {
            panic!()
        };
        assert!(status.has(ErrorFlag::NoRequestedData));
        assert!(matches!(
            reply.reading(),
            Err(yufu_dlt645::FrameError::Refused(_))
        ));
        // Past settlement periods are not kept either.
        let reply = ask(&mut m, &read_data(addr(), Di::V2007(0x0001_0001))).unwrap();
        assert_eq!(reply.control().to_byte(), 0xD1);
    }

    #[test]
    fn other_meters_do_not_speak_dlt645() {
        let mut gas = SimMeter::new("G", "00000000100001", Profile::Gas, 1, start()).unwrap();
        assert!(answer(&mut gas, &read_address(), evening()).is_none());
    }

    #[test]
    fn unsimulated_functions_get_an_error() {
        let mut m = meter(Profile::Residential);
        let freeze = Frame::new(
            addr(),
            Control::request(Function::Freeze),
            vec![0x00, 0x00, 0x01, 0x01],
        )
        .unwrap();
        let reply = ask(&mut m, &freeze).unwrap();
        assert_eq!(reply.control().to_byte(), 0xD6);
        // Encrypted relay control: unauthorised.
        let mut data = vec![0x96];
        data.extend([0u8; 15]);
        let cipher = Frame::new(addr(), Control::request(Function::RelayControl), data).unwrap();
        let reply = ask(&mut m, &cipher).unwrap();
        let Message::ErrorReply { status, .. } = reply.message().unwrap() else {
            panic!()
        };
        assert!(status.has(ErrorFlag::Unauthorized));
        assert_eq!(m.supply, Supply::On);
    }
}
