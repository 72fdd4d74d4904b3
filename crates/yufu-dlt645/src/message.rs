//! The application layer: what a frame means, and builders for requests.

use std::fmt;

use crate::FrameError;
use crate::frame::{Address, Control, Direction, Frame, Function};
use crate::value::{Di, Reading, Value};

/// The error-status byte of an error reply (`D1`, `DC`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ErrorStatus(pub u8);

/// One named bit of [`ErrorStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ErrorFlag {
    /// b0.
    Other,
    /// b1: no requested data (unknown DI).
    NoRequestedData,
    /// b2: password wrong or not authorised.
    Unauthorized,
    /// b3: baud rate cannot be changed.
    BaudRateUnchangeable,
    /// b4: too many yearly time zones.
    TooManyYearZones,
    /// b5: too many daily periods.
    TooManyDayPeriods,
    /// b6: too many tariffs.
    TooManyTariffs,
    /// b7.
    Reserved,
}

impl ErrorStatus {
    const FLAGS: [ErrorFlag; 8] = [
        ErrorFlag::Other,
        ErrorFlag::NoRequestedData,
        ErrorFlag::Unauthorized,
        ErrorFlag::BaudRateUnchangeable,
        ErrorFlag::TooManyYearZones,
        ErrorFlag::TooManyDayPeriods,
        ErrorFlag::TooManyTariffs,
        ErrorFlag::Reserved,
    ];

    /// The set bits, b0 first.
    pub fn flags(self) -> Vec<ErrorFlag> {
        Self::FLAGS
            .iter()
            .enumerate()
            .filter(|(bit, _)| self.0 >> bit & 1 == 1)
            .map(|(_, flag)| *flag)
            .collect()
    }

    pub fn has(self, flag: ErrorFlag) -> bool {
        self.flags().contains(&flag)
    }
}

impl fmt::Display for ErrorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#04x} {:?}", self.0, self.flags())
    }
}

/// A date and time as meters carry it: two-digit year (2000–2099), no zone
/// (meters run on local time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct DateTime {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl DateTime {
    /// Checks ranges, including the day of the month (leap years too).
    pub fn new(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
    ) -> Result<Self, FrameError> {
        let leap = year.is_multiple_of(4); // exact for 2000..=2099
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => 0,
        };
        if !(2000..=2099).contains(&year)
            || day == 0
            || day > days
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(FrameError::BadDateTime(format!(
                "{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}"
            )));
        }
        Ok(DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    pub fn year(self) -> u16 {
        self.year
    }
    pub fn month(self) -> u8 {
        self.month
    }
    pub fn day(self) -> u8 {
        self.day
    }
    pub fn hour(self) -> u8 {
        self.hour
    }
    pub fn minute(self) -> u8 {
        self.minute
    }
    pub fn second(self) -> u8 {
        self.second
    }

    /// `ssmmhhDDMMYY`, each byte BCD.
    pub fn to_wire(self) -> [u8; 6] {
        let yy = u8::try_from(self.year % 100).unwrap_or(0);
        [
            self.second,
            self.minute,
            self.hour,
            self.day,
            self.month,
            yy,
        ]
        .map(|v| (v / 10) << 4 | (v % 10))
    }

    /// From `ssmmhhDDMMYY`.
    pub fn from_wire(bytes: &[u8]) -> Result<Self, FrameError> {
        let [ss, mm, hh, dd, mo, yy] = bytes else {
            return Err(FrameError::BadLength {
                expected: 6,
                found: bytes.len(),
            });
        };
        let bcd = |byte: u8| -> Result<u8, FrameError> {
            let (hi, lo) = (byte >> 4, byte & 0x0F);
            if hi > 9 || lo > 9 {
                return Err(FrameError::BadBcd { byte });
            }
            Ok(hi * 10 + lo)
        };
        DateTime::new(
            2000 + u16::from(bcd(*yy)?),
            bcd(*mo)?,
            bcd(*dd)?,
            bcd(*hh)?,
            bcd(*mm)?,
            bcd(*ss)?,
        )
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// What a relay-control (`1C`) command asks for (N1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum RelayAction {
    /// `1A` 拉闸: open the relay, cut supply.
    Trip,
    /// `1B` 合闸允许: the customer may close it (button).
    CloseAllowed,
    /// `1C` 直接合闸: close now (a later extension).
    DirectClose,
    /// `2A`.
    AlarmOn,
    /// `2B`.
    AlarmOff,
    /// `3A` 保电: never trip.
    KeepPowerOn,
    /// `3B`.
    KeepPowerOff,
}

impl RelayAction {
    pub fn code(self) -> u8 {
        match self {
            RelayAction::Trip => 0x1A,
            RelayAction::CloseAllowed => 0x1B,
            RelayAction::DirectClose => 0x1C,
            RelayAction::AlarmOn => 0x2A,
            RelayAction::AlarmOff => 0x2B,
            RelayAction::KeepPowerOn => 0x3A,
            RelayAction::KeepPowerOff => 0x3B,
        }
    }

    pub fn from_code(code: u8) -> Result<Self, FrameError> {
        Ok(match code {
            0x1A => RelayAction::Trip,
            0x1B => RelayAction::CloseAllowed,
            0x1C => RelayAction::DirectClose,
            0x2A => RelayAction::AlarmOn,
            0x2B => RelayAction::AlarmOff,
            0x3A => RelayAction::KeepPowerOn,
            0x3B => RelayAction::KeepPowerOff,
            other => return Err(FrameError::UnknownRelayAction(other)),
        })
    }
}

/// Password level, password and operator code of a privileged command.
///
/// Write the password and operator code as their digits in a hex literal:
/// password 123456 is `0x123456` and goes on the wire as `56 34 12`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Auth {
    level: u8,
    password: u32,
    operator: u32,
}

impl Auth {
    /// `password` must fit 3 bytes.
    pub fn new(level: u8, password: u32, operator: u32) -> Result<Self, FrameError> {
        if password > 0xFF_FFFF {
            return Err(FrameError::TooWide {
                field: "password",
                value: u64::from(password),
                bytes: 3,
            });
        }
        Ok(Auth {
            level,
            password,
            operator,
        })
    }

    /// PA.
    pub fn level(self) -> u8 {
        self.level
    }
    pub fn password(self) -> u32 {
        self.password
    }
    pub fn operator(self) -> u32 {
        self.operator
    }
}

/// A plaintext relay-control command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct RelayCommand {
    pub auth: Auth,
    pub action: RelayAction,
    /// The command is void after this time (N3..N8).
    pub expiry: DateTime,
}

/// What a frame means. Frames with no typed view here come out as
/// [`Message::Other`]; their bytes stay in the [`Frame`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Message {
    /// Read request (`11` with a 4-byte DI, `01` with a 2-byte DI).
    ReadData { di: Di },
    /// Normal read reply (`91` / `81`): the DI and the raw value bytes.
    ReadDataReply { di: Di, value: Vec<u8> },
    /// `13`, L=0.
    ReadAddress,
    /// `93`: the meter's real address.
    ReadAddressReply { address: Address },
    /// `08`.
    BroadcastTime { time: DateTime },
    /// `1C` with plaintext N (any level but 96H/98H).
    RelayControl(RelayCommand),
    /// `9C`, L=0.
    RelayControlAck,
    /// Any error reply (D6 set): the function it answers and the status.
    ErrorReply {
        function: Function,
        status: ErrorStatus,
    },
    /// Well-formed frame without a typed view (write, freeze, follow-up,
    /// encrypted relay control, …).
    Other,
}

fn need(data: &[u8], expected: usize) -> Result<(), FrameError> {
    if data.len() == expected {
        Ok(())
    } else {
        Err(FrameError::BadLength {
            expected,
            found: data.len(),
        })
    }
}

fn le_u32(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .rev()
        .fold(0u32, |acc, b| acc << 8 | u32::from(*b))
}

/// Password levels whose N field is ciphertext (ESAM), not parsed here.
const CIPHER_LEVELS: [u8; 2] = [0x96, 0x98];

impl Frame {
    /// What this frame means; see [`Message`].
    pub fn message(&self) -> Result<Message, FrameError> {
        let control = self.control();
        let data = self.data();
        let request = control.direction == Direction::Request;
        if control.error && !request {
            need(data, 1)?;
            return Ok(Message::ErrorReply {
                function: control.function,
                status: ErrorStatus(data.first().copied().unwrap_or(0)),
            });
        }
        Ok(match (control.function, request) {
            (Function::ReadData, true) => {
                need(data, 4)?;
                Message::ReadData {
                    di: Di::V2007(le_u32(data)),
                }
            }
            (Function::ReadData1997, true) => {
                need(data, 2)?;
                Message::ReadData {
                    di: Di::V1997(u16::try_from(le_u32(data)).unwrap_or(0)),
                }
            }
            (Function::ReadData, false) => {
                let (di, value) = split(data, 4)?;
                Message::ReadDataReply {
                    di: Di::V2007(le_u32(di)),
                    value: value.to_vec(),
                }
            }
            (Function::ReadData1997, false) => {
                let (di, value) = split(data, 2)?;
                Message::ReadDataReply {
                    di: Di::V1997(u16::try_from(le_u32(di)).unwrap_or(0)),
                    value: value.to_vec(),
                }
            }
            (Function::ReadAddress, true) => {
                need(data, 0)?;
                Message::ReadAddress
            }
            (Function::ReadAddress, false) => {
                need(data, 6)?;
                let mut address = [0u8; 6];
                address.copy_from_slice(data);
                Message::ReadAddressReply {
                    address: Address::from_wire(address),
                }
            }
            (Function::BroadcastTime, true) => Message::BroadcastTime {
                time: DateTime::from_wire(data)?,
            },
            (Function::RelayControl, true) => match data {
                [level, ..] if CIPHER_LEVELS.contains(level) => Message::Other,
                _ => {
                    need(data, 16)?;
                    let (head, n) = data.split_at(8);
                    let (p, c) = head.split_at(4);
                    let (level, password) = p.split_first().ok_or(FrameError::Truncated)?;
                    let action = RelayAction::from_code(n.first().copied().unwrap_or(0))?;
                    Message::RelayControl(RelayCommand {
                        auth: Auth::new(*level, le_u32(password), le_u32(c))?,
                        action,
                        expiry: DateTime::from_wire(n.get(2..).unwrap_or_default())?,
                    })
                }
            },
            (Function::RelayControl, false) => {
                need(data, 0)?;
                Message::RelayControlAck
            }
            // Includes requests with the error bit set, which no master sends.
            _ => Message::Other,
        })
    }

    /// The typed reading in a read-data reply. An error reply gives
    /// [`FrameError::Refused`]; a DI with no known format gives
    /// [`FrameError::UnknownDi`].
    pub fn reading(&self) -> Result<Reading, FrameError> {
        match self.message()? {
            Message::ReadDataReply { di, value } => Ok(Reading {
                di,
                value: Value::decode(di, &value)?,
            }),
            Message::ErrorReply { status, .. } => Err(FrameError::Refused(status)),
            _ => Err(FrameError::NotAReadReply {
                control: self.control().to_byte(),
            }),
        }
    }
}

fn split(data: &[u8], at: usize) -> Result<(&[u8], &[u8]), FrameError> {
    if data.len() < at {
        return Err(FrameError::BadLength {
            expected: at,
            found: data.len(),
        });
    }
    Ok(data.split_at(at))
}

fn build(address: Address, control: Control, data: Vec<u8>) -> Frame {
    // Every builder below makes at most 16 data bytes, well under 255.
    Frame {
        address,
        control,
        data,
    }
}

/// Read one data item: `11` for a 2007 DI, `01` for a 1997 DI.
pub fn read_data(address: Address, di: Di) -> Frame {
    let function = match di {
        Di::V2007(_) => Function::ReadData,
        Di::V1997(_) => Function::ReadData1997,
    };
    build(address, Control::request(function), di.to_wire())
}

/// Ask whatever single meter is on the line for its address (`13` to the
/// `AA…AA` wildcard, as in protocols.md §1.5).
pub fn read_address() -> Frame {
    build(
        Address::WILDCARD,
        Control::request(Function::ReadAddress),
        Vec::new(),
    )
}

/// Set every meter's clock (`08` to `99…99`; meters do not reply).
pub fn broadcast_time(time: DateTime) -> Frame {
    build(
        Address::BROADCAST,
        Control::request(Function::BroadcastTime),
        time.to_wire().to_vec(),
    )
}

/// Plaintext relay control (`1C`): `PA P0..P2 C0..C3 N1 00 ssmmhhDDMMYY`.
pub fn relay_control(address: Address, action: RelayAction, auth: Auth, expiry: DateTime) -> Frame {
    let mut data = Vec::with_capacity(16);
    data.push(auth.level);
    data.extend_from_slice(&auth.password.to_le_bytes()[..3]);
    data.extend_from_slice(&auth.operator.to_le_bytes());
    data.push(action.code());
    data.push(0x00);
    data.extend_from_slice(&expiry.to_wire());
    build(address, Control::request(Function::RelayControl), data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_flags() {
        assert_eq!(ErrorStatus(0x02).flags(), vec![ErrorFlag::NoRequestedData]);
        assert_eq!(
            ErrorStatus(0x05).flags(),
            vec![ErrorFlag::Other, ErrorFlag::Unauthorized]
        );
    }

    #[test]
    fn date_time_is_checked() {
        assert!(DateTime::new(2028, 2, 29, 0, 0, 0).is_ok());
        assert!(DateTime::new(2026, 2, 29, 0, 0, 0).is_err());
        assert!(DateTime::new(2026, 4, 31, 0, 0, 0).is_err());
        assert!(DateTime::new(2026, 1, 1, 24, 0, 0).is_err());
        assert!(DateTime::new(1999, 1, 1, 0, 0, 0).is_err());
    }

    #[test]
    fn auth_password_fits_three_bytes() {
        assert!(Auth::new(2, 0x100_0000, 0).is_err());
    }
}
