//! Data identifiers and the typed values of read-data replies.
//!
//! Values are exact integers of the smallest unit the format carries
//! (`XXXXXX.XX kWh` → `centi_kwh`), never floats.

use std::fmt;

use crate::FrameError;
use crate::frame::bcd_le_to_u64;

/// A data identifier: 4 bytes in DL/T 645-2007, 2 bytes in -1997.
/// Written most significant first (`00010000`, `9010`), sent low byte first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Di {
    /// DI3..DI0 as a number: `0x0001_0000`.
    V2007(u32),
    /// DI1..DI0 as a number: `0x9010`.
    V1997(u16),
}

impl Di {
    /// Forward active energy, total (`00010000`).
    pub const FORWARD_ACTIVE_TOTAL: Di = Di::V2007(0x0001_0000);
    /// Forward active energy, total and every tariff (`0001FF00`).
    pub const FORWARD_ACTIVE_BLOCK: Di = Di::V2007(0x0001_FF00);
    /// Reverse active energy, total (`00020000`).
    pub const REVERSE_ACTIVE_TOTAL: Di = Di::V2007(0x0002_0000);
    /// Phase A voltage (`02010100`).
    pub const VOLTAGE_A: Di = Di::V2007(0x0201_0100);
    /// Phase A current (`02020100`).
    pub const CURRENT_A: Di = Di::V2007(0x0202_0100);
    /// Total active power (`02030000`).
    pub const ACTIVE_POWER_TOTAL: Di = Di::V2007(0x0203_0000);
    /// Total power factor (`02060000`).
    pub const POWER_FACTOR_TOTAL: Di = Di::V2007(0x0206_0000);
    /// Remaining energy (`00900100`).
    pub const REMAINING_ENERGY: Di = Di::V2007(0x0090_0100);
    /// Overdraft energy (`00900101`).
    pub const OVERDRAFT_ENERGY: Di = Di::V2007(0x0090_0101);
    /// Remaining amount, 剩余金额 (`00900200`).
    pub const REMAINING_AMOUNT: Di = Di::V2007(0x0090_0200);
    /// Overdraft amount (`00900201`).
    pub const OVERDRAFT_AMOUNT: Di = Di::V2007(0x0090_0201);
    /// Purchase count after the last purchase (`03330201`).
    pub const PURCHASE_COUNT: Di = Di::V2007(0x0333_0201);
    /// Cumulative purchase amount after the last purchase (`03330601`).
    pub const CUMULATIVE_PURCHASE_AMOUNT: Di = Di::V2007(0x0333_0601);
    /// Run status word 3, with the relay state (`04000503`).
    pub const STATUS_WORD_3: Di = Di::V2007(0x0400_0503);

    /// Forward active energy (`0001xx00`): `rate` 0 is the total, 1..=63
    /// the tariffs.
    pub fn forward_active(rate: u8) -> Di {
        Di::V2007(0x0001_0000 | u32::from(rate) << 8)
    }

    /// Reverse active energy (`0002xx00`): `rate` 0 is the total.
    pub fn reverse_active(rate: u8) -> Di {
        Di::V2007(0x0002_0000 | u32::from(rate) << 8)
    }

    /// Wire bytes, low byte first (4 or 2 of them).
    pub fn to_wire(self) -> Vec<u8> {
        match self {
            Di::V2007(di) => di.to_le_bytes().to_vec(),
            Di::V1997(di) => di.to_le_bytes().to_vec(),
        }
    }

    /// Bytes on the wire: 4 or 2.
    pub fn wire_len(self) -> usize {
        match self {
            Di::V2007(_) => 4,
            Di::V1997(_) => 2,
        }
    }

    /// The 2007 identifier a 1997 one maps to (protocols.md §1.6 table).
    pub fn to_2007(self) -> Option<Di> {
        match self {
            Di::V2007(_) => Some(self),
            Di::V1997(di) => {
                let new = match di {
                    0x9010 => 0x0001_0000,
                    0x901F => 0x0001_FF00,
                    0xB611 => 0x0201_0100,
                    0xB621 => 0x0202_0100,
                    0xB630 => 0x0203_0000,
                    0xC011 => 0x0400_0102,
                    _ => return None,
                };
                Some(Di::V2007(new))
            }
        }
    }
}

impl fmt::Display for Di {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Di::V2007(di) => write!(f, "{di:08X}"),
            Di::V1997(di) => write!(f, "{di:04X}"),
        }
    }
}

impl serde::Serialize for Di {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A decoded value, its unit in the field name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Value {
    /// `XXXXXX.XX kWh`: energy, remaining / overdraft / alarm energy.
    Energy { centi_kwh: u64 },
    /// `n × XXXXXX.XX kWh`: the total first, then tariff 1, 2, …
    EnergyBlock { centi_kwh: Vec<u64> },
    /// `XXX.X V` (2007) or `XXX V` (1997), in 0.1 V either way.
    Voltage { deci_volt: u32 },
    /// `XXX.XXX A` (2007) or `XX.XX A` (1997), in mA; negative = reverse.
    Current { milli_amp: i32 },
    /// `XX.XXXX kW`, in 0.0001 kW (0.1 W); negative = reverse.
    ActivePower { tenth_watt: i32 },
    /// `XX.XXXX kvar`, in 0.0001 kvar; negative = capacitive/reverse.
    ReactivePower { tenth_var: i32 },
    /// `X.XXX`, in thousandths; negative = reverse.
    PowerFactor { milli: i32 },
    /// `XXXXXX.XX 元`, in fen: remaining / overdraft / purchase / alarm amounts.
    Amount { fen: u64 },
    /// A plain BCD count (purchase count).
    Count { count: u64 },
    /// Run status word 3.
    Status3 { word: StatusWord3 },
}

/// A read-data reply, typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Reading {
    pub di: Di,
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Energy,
    EnergyBlock,
    /// 2 bytes, XXX.X V.
    Voltage,
    /// 2 bytes, XXX V (1997).
    Voltage1997,
    /// 3 bytes signed, XXX.XXX A.
    Current,
    /// 2 bytes signed, XX.XX A (1997).
    Current1997,
    /// 3 bytes signed, XX.XXXX.
    ActivePower,
    ReactivePower,
    /// 2 bytes signed, X.XXX.
    PowerFactor,
    Amount,
    Count,
    Status3,
}

fn format(di: Di) -> Option<Format> {
    use Format::*;
    match di {
        Di::V2007(di) => {
            let [d3, d2, d1, d0] = di.to_be_bytes();
            match (d3, d2, d1, d0) {
                // Forward (01) / reverse (02) active energy; DI1 = tariff
                // (00 total, FF block), DI0 = settlement (00 now, 01..0C past).
                (0x00, 0x01 | 0x02, 0xFF, 0x00..=0x0C) => Some(EnergyBlock),
                (0x00, 0x01 | 0x02, 0x00..=0x3F, 0x00..=0x0C) => Some(Energy),
                (0x02, 0x01, 0x01..=0x03, 0x00) => Some(Voltage),
                (0x02, 0x02, 0x01..=0x03, 0x00) => Some(Current),
                (0x02, 0x03, 0x00..=0x03, 0x00) => Some(ActivePower),
                (0x02, 0x04, 0x00..=0x03, 0x00) => Some(ReactivePower),
                (0x02, 0x06, 0x00..=0x03, 0x00) => Some(PowerFactor),
                (0x00, 0x90, 0x01, 0x00 | 0x01) => Some(Energy),
                (0x00, 0x90, 0x02, 0x00 | 0x01) => Some(Amount),
                (0x03, 0x33, 0x02, 0x01) => Some(Count),
                (0x03, 0x33, 0x06, 0x01) => Some(Amount),
                (0x04, 0x00, 0x0F, 0x01) => Some(Energy),
                (0x04, 0x00, 0x10, 0x01) => Some(Amount),
                (0x04, 0x00, 0x05, 0x03) => Some(Status3),
                _ => None,
            }
        }
        Di::V1997(di) => match di {
            0x9010..=0x9014 | 0x9020..=0x9024 => Some(Energy),
            0x901F | 0x902F => Some(EnergyBlock),
            0xB611..=0xB613 => Some(Voltage1997),
            0xB621..=0xB623 => Some(Current1997),
            0xB630..=0xB633 => Some(ActivePower),
            _ => None,
        },
    }
}

fn exact(bytes: &[u8], expected: usize) -> Result<&[u8], FrameError> {
    if bytes.len() == expected {
        Ok(bytes)
    } else {
        Err(FrameError::BadLength {
            expected,
            found: bytes.len(),
        })
    }
}

fn unsigned(bytes: &[u8], len: usize) -> Result<u64, FrameError> {
    bcd_le_to_u64(exact(bytes, len)?)
}

/// BCD with the top bit of the most significant byte as the sign (the
/// DL/T 645 convention for current, power and power factor).
fn signed(bytes: &[u8], len: usize) -> Result<i32, FrameError> {
    let mut bytes = exact(bytes, len)?.to_vec();
    let negative = match bytes.last_mut() {
        Some(top) => {
            let negative = *top & 0x80 != 0;
            *top &= 0x7F;
            negative
        }
        None => false,
    };
    let magnitude = bcd_le_to_u64(&bytes)?;
    // At most 3 bytes = 6 digits, so this always fits.
    let magnitude = i32::try_from(magnitude).map_err(|_| FrameError::TooWide {
        field: "signed value",
        value: magnitude,
        bytes: len,
    })?;
    Ok(if negative { -magnitude } else { magnitude })
}

fn narrow(value: u64, len: usize) -> Result<u32, FrameError> {
    u32::try_from(value).map_err(|_| FrameError::TooWide {
        field: "value",
        value,
        bytes: len,
    })
}

impl Value {
    /// Decodes the value bytes (after the DI, offset removed) of a read
    /// reply for `di`.
    pub fn decode(di: Di, bytes: &[u8]) -> Result<Value, FrameError> {
        let format = format(di).ok_or(FrameError::UnknownDi(di))?;
        Ok(match format {
            Format::Energy => Value::Energy {
                centi_kwh: unsigned(bytes, 4)?,
            },
            Format::EnergyBlock => {
                if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
                    return Err(FrameError::BadLength {
                        expected: (bytes.len() / 4 + 1) * 4,
                        found: bytes.len(),
                    });
                }
                Value::EnergyBlock {
                    centi_kwh: bytes
                        .chunks(4)
                        .map(bcd_le_to_u64)
                        .collect::<Result<_, _>>()?,
                }
            }
            Format::Voltage => Value::Voltage {
                deci_volt: narrow(unsigned(bytes, 2)?, 2)?,
            },
            Format::Voltage1997 => Value::Voltage {
                deci_volt: narrow(unsigned(bytes, 2)? * 10, 2)?,
            },
            Format::Current => Value::Current {
                milli_amp: signed(bytes, 3)?,
            },
            Format::Current1997 => Value::Current {
                milli_amp: signed(bytes, 2)? * 10,
            },
            Format::ActivePower => Value::ActivePower {
                tenth_watt: signed(bytes, 3)?,
            },
            Format::ReactivePower => Value::ReactivePower {
                tenth_var: signed(bytes, 3)?,
            },
            Format::PowerFactor => Value::PowerFactor {
                milli: signed(bytes, 2)?,
            },
            Format::Amount => Value::Amount {
                fen: unsigned(bytes, 4)?,
            },
            Format::Count => {
                // protocols.md gives no width; meters send 2 or 4 BCD bytes.
                if bytes.is_empty() || bytes.len() > 4 {
                    return Err(FrameError::BadLength {
                        expected: 4,
                        found: bytes.len(),
                    });
                }
                Value::Count {
                    count: bcd_le_to_u64(bytes)?,
                }
            }
            Format::Status3 => {
                let [lo, hi] = exact(bytes, 2)? else {
                    return Err(FrameError::BadLength {
                        expected: 2,
                        found: bytes.len(),
                    });
                };
                Value::Status3 {
                    word: StatusWord3(u16::from_le_bytes([*lo, *hi])),
                }
            }
        })
    }
}

/// Run status word 3 (`04000503`), bits as in protocols.md §1.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct StatusWord3(pub u16);

/// Where the meter's supply comes from (status word 3 bits 1–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Supply {
    Main,
    Auxiliary,
    Battery,
    /// `11`, not defined.
    Reserved,
}

/// Status word 3 bits 8–9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum MeterType {
    NonPrepaid,
    EnergyPrepaid,
    MoneyPrepaid,
    /// `11`, not defined.
    Reserved,
}

impl StatusWord3 {
    fn bit(self, n: u8) -> bool {
        self.0 >> n & 1 == 1
    }

    /// b0.
    pub fn period_set(self) -> bool {
        self.bit(0)
    }

    /// b1–2.
    pub fn supply(self) -> Supply {
        match self.0 >> 1 & 0b11 {
            0 => Supply::Main,
            1 => Supply::Auxiliary,
            2 => Supply::Battery,
            _ => Supply::Reserved,
        }
    }

    /// b3.
    pub fn programming_allowed(self) -> bool {
        self.bit(3)
    }

    /// b4: 1 = relay open (断, supply cut), 0 = closed (通).
    pub fn relay_open(self) -> bool {
        self.bit(4)
    }

    /// b5.
    pub fn time_zone_set(self) -> bool {
        self.bit(5)
    }

    /// b6: the relay *command* state (what the meter was told), which can
    /// differ from [`StatusWord3::relay_open`] during a pre-trip delay.
    pub fn relay_command_open(self) -> bool {
        self.bit(6)
    }

    /// b7.
    pub fn pre_trip_alarm(self) -> bool {
        self.bit(7)
    }

    /// b8–9.
    pub fn meter_type(self) -> MeterType {
        match self.0 >> 8 & 0b11 {
            0 => MeterType::NonPrepaid,
            1 => MeterType::EnergyPrepaid,
            2 => MeterType::MoneyPrepaid,
            _ => MeterType::Reserved,
        }
    }

    /// b10.
    pub fn price_set(self) -> bool {
        self.bit(10)
    }

    /// b11.
    pub fn step_set(self) -> bool {
        self.bit(11)
    }

    /// b12: keep-power (保电) is on.
    pub fn keep_power(self) -> bool {
        self.bit(12)
    }

    /// b13.
    pub fn identity_authenticated(self) -> bool {
        self.bit(13)
    }

    /// b14.
    pub fn local_account_opened(self) -> bool {
        self.bit(14)
    }

    /// b15.
    pub fn remote_account_opened(self) -> bool {
        self.bit(15)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let check = |di: Di, bytes: &[u8], expect: Value| {
            assert_eq!(Value::decode(di, bytes), Ok(expect), "{di}");
        };
        check(
            Di::forward_active(2),
            &[0x26, 0, 0, 0],
            Value::Energy { centi_kwh: 26 },
        );
        check(
            Di::VOLTAGE_A,
            &[0x05, 0x22],
            Value::Voltage { deci_volt: 2205 },
        );
        check(
            Di::CURRENT_A,
            &[0x56, 0x34, 0x92],
            Value::Current {
                milli_amp: -123_456,
            },
        );
        check(
            Di::ACTIVE_POWER_TOTAL,
            &[0x34, 0x12, 0x00],
            Value::ActivePower { tenth_watt: 1234 },
        );
        check(
            Di::POWER_FACTOR_TOTAL,
            &[0x00, 0x10],
            Value::PowerFactor { milli: 1000 },
        );
        check(
            Di::PURCHASE_COUNT,
            &[0x12, 0x00],
            Value::Count { count: 12 },
        );
        check(
            Di::V1997(0xB611),
            &[0x20, 0x02],
            Value::Voltage { deci_volt: 2200 },
        );
        check(
            Di::FORWARD_ACTIVE_BLOCK,
            &[1, 0, 0, 0, 2, 0, 0, 0],
            Value::EnergyBlock {
                centi_kwh: vec![1, 2],
            },
        );
        assert_eq!(
            Value::decode(Di::VOLTAGE_A, &[0x05]),
            Err(FrameError::BadLength {
                expected: 2,
                found: 1
            })
        );
        assert_eq!(
            Value::decode(Di::V2007(0x1234_5678), &[]),
            Err(FrameError::UnknownDi(Di::V2007(0x1234_5678)))
        );
    }

    #[test]
    fn status_word_3_relay() {
        let w = StatusWord3(0b0000_0010_0001_0000);
        assert!(w.relay_open());
        assert_eq!(w.meter_type(), MeterType::MoneyPrepaid);
        assert_eq!(w.supply(), Supply::Main);
        assert!(!StatusWord3(0).relay_open());
    }

    #[test]
    fn di_1997_maps_to_2007() {
        assert_eq!(Di::V1997(0x9010).to_2007(), Some(Di::FORWARD_ACTIVE_TOTAL));
        assert_eq!(Di::V1997(0x1234).to_2007(), None);
    }
}
