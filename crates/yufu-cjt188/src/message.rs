//! Typed messages carried in frames: read data (`901F`), valve control
//! (`A017`) and read address.

use crate::{Address, Control, Frame, FrameError, MeterType};

/// DI `901F`: read metering data.
pub const DI_READ_DATA: u16 = 0x901F;
/// DI `A017`: valve control (a write-data command).
pub const DI_VALVE: u16 = 0xA017;
/// DI `810A`: read address.
///
/// Not in protocols.md §2 (which lists only the read-address control codes
/// `03`/`83`); taken from common CJ/T 188-2004 implementations. Meters answer
/// by address, so [`read_address_reply`] does not check the DI.
pub const DI_READ_ADDRESS: u16 = 0x810A;

/// L of a water/gas `901F` reply: DI, SER and 19 bytes of values.
const READ_REPLY_LEN: usize = 22;
/// L of a valve reply: DI, SER, ST(2).
const VALVE_REPLY_LEN: usize = 5;

/// Request to read the metering data (C=`01`, DI `901F`).
#[must_use]
pub fn read_data(meter_type: MeterType, address: Address, ser: u8) -> Frame {
    Frame {
        meter_type,
        address,
        control: Control::READ_DATA,
        di: DI_READ_DATA,
        ser,
        payload: Vec::new(),
    }
}

/// Valve command: `55` opens, `99` closes. `AA` (exercise) and `77`
/// (half-open) are vendor extensions (🔶) and deliberately absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Valve {
    Open,
    Close,
}

impl Valve {
    /// The data byte on the wire.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::Open => 0x55,
            Self::Close => 0x99,
        }
    }

    /// The command in a valve request frame (C=`04`, DI `A017`, one byte).
    ///
    /// # Errors
    /// A typed error for another control code, DI, length or command byte.
    pub fn from_frame(frame: &Frame) -> Result<Self, FrameError> {
        expect(frame, Control::WRITE_DATA, DI_VALVE)?;
        match frame.payload.as_slice() {
            [0x55] => Ok(Self::Open),
            [0x99] => Ok(Self::Close),
            [_] => Err(FrameError::OutOfRange {
                field: "valve command",
            }),
            other => Err(bad_len(4, other)),
        }
    }
}

/// Request to open or close the valve (C=`04`, DI `A017`, one byte).
#[must_use]
pub fn valve(meter_type: MeterType, address: Address, ser: u8, command: Valve) -> Frame {
    Frame {
        meter_type,
        address,
        control: Control::WRITE_DATA,
        di: DI_VALVE,
        ser,
        payload: vec![command.code()],
    }
}

/// Request to read the address of the one meter on the bus: wildcard type
/// `AA`, broadcast address, C=`03`, DI [`DI_READ_ADDRESS`], SER 0.
#[must_use]
pub fn read_address() -> Frame {
    Frame {
        meter_type: MeterType::WILDCARD,
        address: Address::BROADCAST,
        control: Control::READ_ADDRESS,
        di: DI_READ_ADDRESS,
        ser: 0,
        payload: Vec::new(),
    }
}

/// The meter type and address from a read-address reply (C=`83`); the answer
/// is the frame's own header.
///
/// # Errors
/// [`FrameError::UnexpectedControl`] for any other control code.
pub fn read_address_reply(frame: &Frame) -> Result<(MeterType, Address), FrameError> {
    expect_control(frame, Control::READ_ADDRESS_REPLY)?;
    Ok((frame.meter_type, frame.address))
}

/// Unit code after a quantity. Unlisted codes are kept as [`Unit::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// `29` litre.
    Litre,
    /// `2C` cubic metre.
    CubicMetre,
    /// `35` cubic metre per hour.
    CubicMetrePerHour,
    /// `05` kilowatt-hour.
    KilowattHour,
    /// `11` gigajoule.
    Gigajoule,
    /// `17` kilowatt.
    Kilowatt,
    /// Any other code, kept as sent (protocols.md lists only the six above).
    Other(u8),
}

impl Unit {
    /// The code on the wire.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::Litre => 0x29,
            Self::CubicMetre => 0x2C,
            Self::CubicMetrePerHour => 0x35,
            Self::KilowattHour => 0x05,
            Self::Gigajoule => 0x11,
            Self::Kilowatt => 0x17,
            Self::Other(code) => code,
        }
    }
}

impl From<u8> for Unit {
    fn from(code: u8) -> Self {
        match code {
            0x29 => Self::Litre,
            0x2C => Self::CubicMetre,
            0x35 => Self::CubicMetrePerHour,
            0x05 => Self::KilowattHour,
            0x11 => Self::Gigajoule,
            0x17 => Self::Kilowatt,
            other => Self::Other(other),
        }
    }
}

/// A meter quantity: `centi` hundredths of `unit` (format XXXXXX.XX, 8 BCD
/// digits), so 556677.00 m³ is `centi = 55_667_700`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quantity {
    pub centi: u32,
    pub unit: Unit,
}

impl Quantity {
    /// The largest value 8 BCD digits hold.
    pub const MAX_CENTI: u32 = 99_999_999;
}

/// The meter's real-time clock, `ssmmhhDDMMYYYY` in BCD. Fields are the
/// digits as sent; no calendar check (meters with a dead clock send zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MeterClock {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// Valve state from the status bits D1..D0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValveState {
    /// `00`.
    Open,
    /// `01`.
    Closed,
    /// `11`.
    Abnormal,
    /// `10`: not defined by the sources.
    Reserved,
}

/// Status ST, two bytes as sent (ST1 first).
///
/// 🔶 Bit positions (protocols.md marks them inferred): ST1 D1..D0 valve
/// (00 open, 01 closed, 11 abnormal), ST1 D2 battery low. Other bits are
/// vendor-defined; read them from the raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub [u8; 2]);

impl Status {
    /// The valve state bits.
    #[must_use]
    pub fn valve(self) -> ValveState {
        match self.0[0] & 0b11 {
            0b00 => ValveState::Open,
            0b01 => ValveState::Closed,
            0b11 => ValveState::Abnormal,
            _ => ValveState::Reserved,
        }
    }

    /// The battery-low bit.
    #[must_use]
    pub fn battery_low(self) -> bool {
        self.0[0] & 0b100 != 0
    }
}

/// Reply to read data `901F` from a water or gas meter (C=`81`, L=`16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReadReply {
    /// Current cumulative flow.
    pub current: Quantity,
    /// Cumulative flow on the settlement day.
    pub settlement_day: Quantity,
    pub clock: MeterClock,
    pub status: Status,
}

impl ReadReply {
    /// Reads the reply out of a decoded frame.
    ///
    /// Heat meters answer `901F` with a longer layout that protocols.md does
    /// not give; they get [`FrameError::BadLength`].
    ///
    /// # Errors
    /// A typed error for another control code, DI, length or bad BCD.
    pub fn from_frame(frame: &Frame) -> Result<Self, FrameError> {
        expect(frame, Control::READ_DATA_REPLY, DI_READ_DATA)?;
        let p: &[u8; READ_REPLY_LEN - 3] = frame
            .payload
            .as_slice()
            .try_into()
            .map_err(|_| bad_len(READ_REPLY_LEN, &frame.payload))?;
        let [
            c0,
            c1,
            c2,
            c3,
            cu,
            s0,
            s1,
            s2,
            s3,
            su,
            ss,
            mi,
            hh,
            dd,
            mo,
            y0,
            y1,
            st1,
            st2,
        ] = *p;
        Ok(Self {
            current: Quantity {
                centi: bcd_le(&[c0, c1, c2, c3])?,
                unit: Unit::from(cu),
            },
            settlement_day: Quantity {
                centi: bcd_le(&[s0, s1, s2, s3])?,
                unit: Unit::from(su),
            },
            clock: MeterClock {
                year: u16::try_from(bcd_le(&[y0, y1])?)
                    .map_err(|_| FrameError::OutOfRange { field: "year" })?,
                month: bcd_byte(mo)?,
                day: bcd_byte(dd)?,
                hour: bcd_byte(hh)?,
                minute: bcd_byte(mi)?,
                second: bcd_byte(ss)?,
            },
            status: Status([st1, st2]),
        })
    }

    /// The reply frame a meter would send (for simulators and tests).
    ///
    /// # Errors
    /// [`FrameError::OutOfRange`] when a value has more BCD digits than its
    /// field (quantities above [`Quantity::MAX_CENTI`], years above 9999,
    /// other clock fields above 99).
    pub fn to_frame(
        &self,
        meter_type: MeterType,
        address: Address,
        ser: u8,
    ) -> Result<Frame, FrameError> {
        let mut payload = Vec::with_capacity(READ_REPLY_LEN - 3);
        for q in [self.current, self.settlement_day] {
            payload.extend_from_slice(&to_bcd_le::<4>(q.centi, "quantity")?);
            payload.push(q.unit.code());
        }
        let c = self.clock;
        for (value, field) in [
            (c.second, "second"),
            (c.minute, "minute"),
            (c.hour, "hour"),
            (c.day, "day"),
            (c.month, "month"),
        ] {
            payload.extend_from_slice(&to_bcd_le::<1>(u32::from(value), field)?);
        }
        payload.extend_from_slice(&to_bcd_le::<2>(u32::from(c.year), "year")?);
        payload.extend_from_slice(&self.status.0);
        Ok(Frame {
            meter_type,
            address,
            control: Control::READ_DATA_REPLY,
            di: DI_READ_DATA,
            ser,
            payload,
        })
    }
}

/// Reply to a valve command (C=`84`, L=`05`: DI, SER, ST).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ValveReply {
    pub status: Status,
}

impl ValveReply {
    /// Reads the reply out of a decoded frame.
    ///
    /// # Errors
    /// A typed error for another control code, DI or length.
    pub fn from_frame(frame: &Frame) -> Result<Self, FrameError> {
        expect(frame, Control::WRITE_DATA_REPLY, DI_VALVE)?;
        match *frame.payload.as_slice() {
            [st1, st2] => Ok(Self {
                status: Status([st1, st2]),
            }),
            _ => Err(bad_len(VALVE_REPLY_LEN, &frame.payload)),
        }
    }

    /// The reply frame a meter would send (for simulators and tests).
    #[must_use]
    pub fn to_frame(&self, meter_type: MeterType, address: Address, ser: u8) -> Frame {
        Frame {
            meter_type,
            address,
            control: Control::WRITE_DATA_REPLY,
            di: DI_VALVE,
            ser,
            payload: self.status.0.to_vec(),
        }
    }
}

fn expect_control(frame: &Frame, control: Control) -> Result<(), FrameError> {
    if frame.control == control {
        Ok(())
    } else {
        Err(FrameError::UnexpectedControl {
            expected: control.0,
            found: frame.control.0,
        })
    }
}

fn expect(frame: &Frame, control: Control, di: u16) -> Result<(), FrameError> {
    expect_control(frame, control)?;
    if frame.di == di {
        Ok(())
    } else {
        Err(FrameError::UnknownDi { di: frame.di })
    }
}

/// A length error stated as L (DI + SER + payload), as the doc states it.
fn bad_len(expected_l: usize, payload: &[u8]) -> FrameError {
    FrameError::BadLength {
        expected: expected_l,
        found: payload.len() + 3,
    }
}

fn bcd_byte(byte: u8) -> Result<u8, FrameError> {
    let (high, low) = (byte >> 4, byte & 0x0F);
    if high > 9 || low > 9 {
        return Err(FrameError::BadBcd { byte });
    }
    Ok(high * 10 + low)
}

/// BCD, low byte first (`00 77 66 55` is 55667700).
fn bcd_le(bytes: &[u8]) -> Result<u32, FrameError> {
    bytes.iter().rev().try_fold(0u32, |acc, b| {
        // At most 4 bytes (8 digits) are read, so this cannot overflow.
        Ok(acc * 100 + u32::from(bcd_byte(*b)?))
    })
}

fn to_bcd_le<const N: usize>(mut value: u32, field: &'static str) -> Result<[u8; N], FrameError> {
    let mut out = [0u8; N];
    for byte in &mut out {
        let pair = u8::try_from(value % 100).map_err(|_| FrameError::OutOfRange { field })?;
        *byte = ((pair / 10) << 4) | (pair % 10);
        value /= 100;
    }
    if value == 0 {
        Ok(out)
    } else {
        Err(FrameError::OutOfRange { field })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcd() {
        assert_eq!(bcd_le(&[0x00, 0x77, 0x66, 0x55]), Ok(55_667_700));
        assert_eq!(bcd_le(&[0x15, 0x20]), Ok(2015));
        assert_eq!(bcd_le(&[0x1A]), Err(FrameError::BadBcd { byte: 0x1A }));
        assert_eq!(bcd_le(&[0xA1]), Err(FrameError::BadBcd { byte: 0xA1 }));
        assert_eq!(
            to_bcd_le::<4>(55_667_700, "q"),
            Ok([0x00, 0x77, 0x66, 0x55])
        );
        assert_eq!(to_bcd_le::<4>(Quantity::MAX_CENTI, "q"), Ok([0x99; 4]));
        assert_eq!(
            to_bcd_le::<4>(Quantity::MAX_CENTI + 1, "q"),
            Err(FrameError::OutOfRange { field: "q" })
        );
        assert_eq!(
            to_bcd_le::<1>(100, "second"),
            Err(FrameError::OutOfRange { field: "second" })
        );
    }

    #[test]
    fn status_bits() {
        let check = |st1: u8, valve: ValveState, low: bool| {
            let s = Status([st1, 0]);
            assert_eq!((s.valve(), s.battery_low()), (valve, low), "{st1:#04x}");
        };
        check(0x00, ValveState::Open, false);
        check(0x01, ValveState::Closed, false);
        check(0x03, ValveState::Abnormal, false);
        check(0x02, ValveState::Reserved, false);
        check(0x04, ValveState::Open, true);
        check(0x21, ValveState::Closed, false);
        check(0xFF, ValveState::Abnormal, true);
    }

    #[test]
    fn units_round_trip_every_code() {
        for code in 0..=u8::MAX {
            assert_eq!(Unit::from(code).code(), code);
        }
        assert_eq!(Unit::from(0x2C), Unit::CubicMetre);
        assert_eq!(Unit::from(0x29), Unit::Litre);
        assert_eq!(Unit::from(0x05), Unit::KilowattHour);
        assert_eq!(Unit::from(0x11), Unit::Gigajoule);
    }
}
