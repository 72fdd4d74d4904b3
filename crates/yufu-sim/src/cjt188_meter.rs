//! The meter side of CJ/T 188-2004 for water and gas meters: a request
//! frame in, the reply the meter would give out. Sans IO; the DI byte order
//! is the transport's business (it decodes and encodes with a `DiOrder`).

use jiff::Timestamp;
use yufu_cjt188::{
    Address, Control, DI_READ_DATA, DI_VALVE, Frame, MeterClock, MeterType, Quantity, ReadReply,
    Status, Unit, Valve, ValveReply,
};
use yufu_domain::Utility;

use crate::clock::local_time;
use crate::meter::{Command, SimMeter, Supply};

/// The meter type byte T a simulated meter of `utility` carries: cold water
/// (`10`) for water, `30` for gas; `None` for electricity.
pub fn meter_type(utility: Utility) -> Option<MeterType> {
    match utility {
        Utility::Water => Some(MeterType::ColdWater),
        Utility::Gas => Some(MeterType::Gas),
        Utility::Electricity => None,
    }
}

/// Wildcard byte for the meter type and address bytes.
const WILDCARD: u8 = 0xAA;

/// Answers one request as the water or gas meter `meter` would.
///
/// - Requests for another meter type or address get `None`. The type `AA`
///   and address bytes `AA` are wildcards (all-`AA` is the broadcast a
///   master uses to read an unknown meter's address).
/// - `01` / DI `901F`: cumulative flow and settlement-day flow in 0.01 m³
///   (the register counts litres; 10 L per step), the meter clock (local
///   time at `now`) and the status (valve state, battery-low).
/// - `03`: read address; the reply header carries the real type and
///   address, the DI and SER are echoed.
/// - `04` / DI `A017`: valve `55` open, `99` close. The reply (`84`)
///   carries the status after the command. A command the meter cannot carry
///   out (gas-leak lockout, stuck valve, unknown command byte) gets an
///   error reply `C4` with the status.
/// - Anything else addressed to the meter gets an error reply (C | `C0`)
///   with the status.
///
/// The caller advances the meter to `now` first (see
/// [`SimMeter::advance`]).
pub fn answer(meter: &mut SimMeter, request: &Frame, now: Timestamp) -> Option<Frame> {
    let own_type = meter_type(meter.utility)?;
    if request.control.is_reply() {
        return None;
    }
    let own: Address = meter.address.parse().ok()?;
    let type_ok = request.meter_type == own_type || request.meter_type.code() == WILDCARD;
    let address_ok = request
        .address
        .0
        .iter()
        .zip(own.0)
        .all(|(to, o)| *to == WILDCARD || *to == o);
    if !type_ok || !address_ok {
        return None;
    }
    let reply = |control: Control, payload: Vec<u8>| Frame {
        meter_type: own_type,
        address: own,
        control,
        di: request.di,
        ser: request.ser,
        payload,
    };
    match (request.control, request.di) {
        (Control::READ_DATA, DI_READ_DATA) => read_reply(meter, now)
            .to_frame(own_type, own, request.ser)
            .ok(),
        (Control::READ_ADDRESS, _) => Some(reply(Control::READ_ADDRESS_REPLY, Vec::new())),
        (Control::WRITE_DATA, DI_VALVE) => {
            let outcome = match Valve::from_frame(request) {
                Ok(Valve::Open) => meter.apply_command(Command::Restore).is_ok(),
                Ok(Valve::Close) => meter.apply_command(Command::Cut).is_ok(),
                Err(_) => false,
            };
            let status = status(meter);
            if outcome {
                Some(ValveReply { status }.to_frame(own_type, own, request.ser))
            } else {
                Some(reply(error(request.control), status.0.to_vec()))
            }
        }
        (control, _) => Some(reply(error(control), status(meter).0.to_vec())),
    }
}

/// The error reply code for a request code: D7 reply, D6 abnormal.
fn error(request: Control) -> Control {
    Control(request.0 | 0xC0)
}

/// The status bytes: ST1 D1..D0 valve (00 open, 01 closed, 11 abnormal for
/// a stuck valve), D2 battery low; ST2 zero. As `yufu_cjt188::Status` reads
/// them.
pub fn status(meter: &SimMeter) -> Status {
    let valve = if meter.valve_fault {
        0b11
    } else if meter.supply == Supply::Off {
        0b01
    } else {
        0b00
    };
    let battery = if meter.battery_low { 0b100 } else { 0 };
    Status([valve | battery, 0])
}

/// The `901F` reply of `meter` at `now`.
pub fn read_reply(meter: &SimMeter, now: Timestamp) -> ReadReply {
    let local = local_time(now);
    let field = |v: i8| u8::try_from(v).unwrap_or(0);
    ReadReply {
        current: cubic_metres(meter.register),
        settlement_day: cubic_metres(meter.settlement_register),
        clock: MeterClock {
            year: u16::try_from(local.year()).unwrap_or(0),
            month: field(local.month()),
            day: field(local.day()),
            hour: field(local.hour()),
            minute: field(local.minute()),
            second: field(local.second()),
        },
        status: status(meter),
    }
}

/// Litres to 0.01 m³; the 8-digit register rolls over like a mechanical
/// counter past 999999.99 m³.
fn cubic_metres(litres: u64) -> Quantity {
    let modulus = u64::from(Quantity::MAX_CENTI) + 1;
    Quantity {
        centi: u32::try_from(litres / 10 % modulus).unwrap_or(0),
        unit: Unit::CubicMetre,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::DeviceEvent;
    use crate::profile::Profile;
    use yufu_cjt188::{
        DiOrder, ValveState, decode, read_address, read_address_reply, read_data, valve,
    };

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn start() -> Timestamp {
        ts("2026-11-19T16:00:00Z")
    }

    /// 2026-11-20 20:15:30 Shanghai.
    fn now() -> Timestamp {
        ts("2026-11-20T12:15:30Z")
    }

    fn addr() -> Address {
        "00000000100001".parse().unwrap()
    }

    fn water() -> SimMeter {
        SimMeter::new(
            "W1",
            "00000000100001",
            Profile::Water { night_leak: true },
            8,
            start(),
        )
        .unwrap()
    }

    fn gas() -> SimMeter {
        SimMeter::new("G1", "00000000100001", Profile::Gas, 9, start()).unwrap()
    }

    /// Through the wire in both DI orders, so the codec checks each reply.
    fn ask(m: &mut SimMeter, request: &Frame) -> Option<Frame> {
        let reply = answer(m, request, now())?;
        for order in [DiOrder::LowFirst, DiOrder::HighFirst] {
            let bytes = reply.encode(order).unwrap();
            let (decoded, used) = decode(&bytes, order).unwrap();
            assert_eq!(used, bytes.len());
            assert_eq!(decoded, reply);
        }
        Some(reply)
    }

    #[test]
    fn read_flow_clock_and_status() {
        let mut m = water();
        m.advance(now(), 1);
        assert!(m.register > 0);
        m.inject(DeviceEvent::LowBattery);
        let reply = ask(&mut m, &read_data(MeterType::ColdWater, addr(), 7)).unwrap();
        assert_eq!(reply.ser, 7);
        let read = ReadReply::from_frame(&reply).unwrap();
        assert_eq!(read.current.centi, u32::try_from(m.register / 10).unwrap());
        assert_eq!(read.current.unit, Unit::CubicMetre);
        assert_eq!(read.settlement_day.centi, 0);
        assert_eq!(
            (read.clock.year, read.clock.month, read.clock.day),
            (2026, 11, 20)
        );
        assert_eq!(
            (read.clock.hour, read.clock.minute, read.clock.second),
            (20, 15, 30)
        );
        assert_eq!(read.status.valve(), ValveState::Open);
        assert!(read.status.battery_low());
    }

    #[test]
    fn valve_close_and_open() {
        for mut m in [water(), gas()] {
            let ty = meter_type(m.utility).unwrap();
            let reply = ask(&mut m, &valve(ty, addr(), 1, Valve::Close)).unwrap();
            assert_eq!(reply.control, Control::WRITE_DATA_REPLY);
            let status = ValveReply::from_frame(&reply).unwrap().status;
            assert_eq!(status.valve(), ValveState::Closed);
            assert_eq!(m.supply, Supply::Off);
            // No flow while the valve is closed.
            assert_eq!(m.advance(ts("2026-11-21T12:00:00Z"), 1), 0);

            let read = ask(&mut m, &read_data(ty, addr(), 2)).unwrap();
            let read = ReadReply::from_frame(&read).unwrap();
            assert_eq!(read.status.valve(), ValveState::Closed);

            let reply = ask(&mut m, &valve(ty, addr(), 3, Valve::Open)).unwrap();
            let status = ValveReply::from_frame(&reply).unwrap().status;
            assert_eq!(status.valve(), ValveState::Open);
            assert_eq!(m.supply, Supply::On);
        }
    }

    #[test]
    fn gas_leak_keeps_the_valve_closed() {
        let mut m = gas();
        m.inject(DeviceEvent::GasLeak);
        let reply = ask(&mut m, &valve(MeterType::Gas, addr(), 1, Valve::Open)).unwrap();
        assert_eq!(reply.control, Control(0xC4));
        assert_eq!(Status([reply.payload[0], 0]).valve(), ValveState::Closed);
        assert_eq!(m.supply, Supply::Off);
    }

    #[test]
    fn valve_fault_shows_abnormal() {
        let mut m = water();
        m.inject(DeviceEvent::ValveFault);
        let reply = ask(
            &mut m,
            &valve(MeterType::ColdWater, addr(), 1, Valve::Close),
        )
        .unwrap();
        assert_eq!(reply.control, Control(0xC4));
        assert_eq!(m.supply, Supply::On);
        let read = ask(&mut m, &read_data(MeterType::ColdWater, addr(), 2)).unwrap();
        let read = ReadReply::from_frame(&read).unwrap();
        assert_eq!(read.status.valve(), ValveState::Abnormal);
    }

    #[test]
    fn read_address_replies_with_type_and_address() {
        let mut m = gas();
        let reply = ask(&mut m, &read_address()).unwrap();
        assert_eq!(
            read_address_reply(&reply).unwrap(),
            (MeterType::Gas, addr())
        );
    }

    #[test]
    fn addressing() {
        let mut m = water();
        let other: Address = "00000000100002".parse().unwrap();
        assert!(ask(&mut m, &read_data(MeterType::ColdWater, other, 0)).is_none());
        // Right address, wrong meter type.
        assert!(ask(&mut m, &read_data(MeterType::Gas, addr(), 0)).is_none());
        // Wildcards.
        assert!(
            ask(
                &mut m,
                &read_data(MeterType::WILDCARD, Address::BROADCAST, 0)
            )
            .is_some()
        );
        let partial: Address = "AAAAAAAA100001".parse().unwrap();
        assert!(ask(&mut m, &read_data(MeterType::ColdWater, partial, 0)).is_some());
        // Electricity meters do not speak CJ/T 188.
        let mut e = SimMeter::new("E", "000000100001", Profile::Residential, 1, start()).unwrap();
        assert!(answer(&mut e, &read_address(), now()).is_none());
        // A reply is not a request.
        let reply = ask(&mut m, &read_address()).unwrap();
        assert!(answer(&mut m, &reply, now()).is_none());
    }

    #[test]
    fn unknown_requests_get_an_error_reply() {
        let mut m = water();
        let mut request = read_data(MeterType::ColdWater, addr(), 5);
        request.di = 0x903F;
        let reply = ask(&mut m, &request).unwrap();
        assert_eq!(reply.control, Control(0xC1));
        assert_eq!((reply.di, reply.ser), (0x903F, 5));
        let mut bad_valve = valve(MeterType::ColdWater, addr(), 6, Valve::Open);
        bad_valve.payload = vec![0x77];
        assert_eq!(ask(&mut m, &bad_valve).unwrap().control, Control(0xC4));
    }

    #[test]
    fn register_rolls_over_like_a_counter() {
        assert_eq!(cubic_metres(1_000_000_005).centi, 0);
        assert_eq!(cubic_metres(999_999_990).centi, Quantity::MAX_CENTI);
    }
}
