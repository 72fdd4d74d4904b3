//! The link layer: one frame, its header fields, decode and encode.

use std::fmt;
use std::str::FromStr;

use crate::FrameError;

/// Start byte of every frame.
pub const START: u8 = 0x68;
/// End byte of every frame.
pub const END: u8 = 0x16;
/// Wake-up preamble byte; outside the frame and its checksum.
pub const PREAMBLE: u8 = 0xFE;
/// A common wake-up preamble to send before a request.
pub const WAKE_UP: [u8; 4] = [PREAMBLE; 4];

/// Bytes before the data field: `68 T A0..A6 C L`.
const HEADER_LEN: usize = 11;
/// Bytes after the data field: `CS 16`.
const TRAILER_LEN: usize = 2;
/// DI (2) and SER (1) start every data field.
const DI_SER_LEN: usize = 3;

/// The order of the two DI bytes on the wire.
///
/// protocols.md §2 ⚠️: sources and field captures disagree, even within one
/// vendor, so this is chosen per device and used by both decode and encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiOrder {
    /// DI `901F` is sent `1F 90` (the hftangyu.com read example).
    LowFirst,
    /// DI `A017` is sent `A0 17` (the valve examples).
    HighFirst,
}

impl DiOrder {
    fn write(self, di: u16) -> [u8; 2] {
        match self {
            Self::LowFirst => di.to_le_bytes(),
            Self::HighFirst => di.to_be_bytes(),
        }
    }

    fn read(self, bytes: [u8; 2]) -> u16 {
        match self {
            Self::LowFirst => u16::from_le_bytes(bytes),
            Self::HighFirst => u16::from_be_bytes(bytes),
        }
    }
}

/// Meter type byte T. Unlisted values are kept as [`MeterType::Other`], so
/// every byte survives decode → encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeterType {
    /// `10` cold water.
    ColdWater,
    /// `11` hot water.
    HotWater,
    /// `12` drinking water.
    DrinkingWater,
    /// `13` reclaimed water.
    ReclaimedWater,
    /// `20` heat meter, heating.
    Heat,
    /// `21` heat meter, cooling.
    Cooling,
    /// `22` heat meter, heating and cooling (2018 edition only).
    HeatAndCooling,
    /// `30` gas.
    Gas,
    /// `40` custom / electric.
    Custom,
    /// Any other byte, kept as sent (for example `AA`, the wildcard).
    Other(u8),
}

impl MeterType {
    /// The wildcard type `AA`, used with [`Address::BROADCAST`] when the
    /// meter's type is not known yet.
    pub const WILDCARD: Self = Self::Other(0xAA);

    /// The byte on the wire.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::ColdWater => 0x10,
            Self::HotWater => 0x11,
            Self::DrinkingWater => 0x12,
            Self::ReclaimedWater => 0x13,
            Self::Heat => 0x20,
            Self::Cooling => 0x21,
            Self::HeatAndCooling => 0x22,
            Self::Gas => 0x30,
            Self::Custom => 0x40,
            Self::Other(code) => code,
        }
    }

    /// Any water meter (`10`–`13`).
    #[must_use]
    pub fn is_water(self) -> bool {
        matches!(self.code(), 0x10..=0x13)
    }
}

impl From<u8> for MeterType {
    fn from(code: u8) -> Self {
        match code {
            0x10 => Self::ColdWater,
            0x11 => Self::HotWater,
            0x12 => Self::DrinkingWater,
            0x13 => Self::ReclaimedWater,
            0x20 => Self::Heat,
            0x21 => Self::Cooling,
            0x22 => Self::HeatAndCooling,
            0x30 => Self::Gas,
            0x40 => Self::Custom,
            other => Self::Other(other),
        }
    }
}

/// The 7-byte address A0..A6, stored in wire order (A0, the low byte, first).
///
/// Commonly A0..A4 are the meter number in BCD and A5..A6 the manufacturer
/// code, but nothing here relies on that. Displayed and parsed high byte first,
/// as printed on the meter: wire `44 33 22 11 00 33 78` is `78330011223344`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address(pub [u8; 7]);

impl Address {
    /// All `AA`: broadcast / wildcard, for example to read an unknown address.
    pub const BROADCAST: Self = Self([0xAA; 7]);
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0.iter().rev() {
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl FromStr for Address {
    type Err = FrameError;

    /// Parses 14 hex digits, high byte first (spaces allowed).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = parse_hex(text)?;
        let mut wire: [u8; 7] =
            bytes
                .try_into()
                .map_err(|bytes: Vec<u8>| FrameError::BadLength {
                    expected: 7,
                    found: bytes.len(),
                })?;
        wire.reverse();
        Ok(Self(wire))
    }
}

/// Control code C; same bit layout as DL/T 645.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Control(pub u8);

impl Control {
    /// `01` read data.
    pub const READ_DATA: Self = Self(0x01);
    /// `81` read data, normal reply.
    pub const READ_DATA_REPLY: Self = Self(0x81);
    /// `03` read address.
    pub const READ_ADDRESS: Self = Self(0x03);
    /// `83` read address, normal reply.
    pub const READ_ADDRESS_REPLY: Self = Self(0x83);
    /// `04` write data (valve control is a write).
    pub const WRITE_DATA: Self = Self(0x04);
    /// `84` write data, normal reply.
    pub const WRITE_DATA_REPLY: Self = Self(0x84);

    /// D7: the frame goes meter → master.
    #[must_use]
    pub fn is_reply(self) -> bool {
        self.0 & 0x80 != 0
    }

    /// D6: the meter reports an abnormal (error) reply.
    #[must_use]
    pub fn is_error(self) -> bool {
        self.0 & 0x40 != 0
    }

    /// D5: a follow-up frame comes.
    #[must_use]
    pub fn has_follow_up(self) -> bool {
        self.0 & 0x20 != 0
    }

    /// D4..D0: the function (`01` read data, `03` read address, `04` write…).
    #[must_use]
    pub fn function(self) -> u8 {
        self.0 & 0x1F
    }
}

/// One frame. `payload` is the data after DI and SER, undecoded; the typed
/// messages ([`crate::ReadReply`], [`crate::ValveReply`]) read it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    /// Meter type T.
    pub meter_type: MeterType,
    /// Address A0..A6.
    pub address: Address,
    /// Control code C.
    pub control: Control,
    /// Data identifier as a number (`0x901F`); its wire order is a [`DiOrder`].
    pub di: u16,
    /// Serial number SER, echoed by the meter.
    pub ser: u8,
    /// Data after DI and SER, at most [`Frame::MAX_PAYLOAD_LEN`] bytes.
    pub payload: Vec<u8>,
}

impl Frame {
    /// The largest payload that fits the one-byte L with DI and SER.
    pub const MAX_PAYLOAD_LEN: usize = 255 - DI_SER_LEN;

    /// The frame's bytes, from `68` to `16`, without preamble.
    ///
    /// # Errors
    /// [`FrameError::OutOfRange`] when the payload exceeds
    /// [`Frame::MAX_PAYLOAD_LEN`].
    pub fn encode(&self, order: DiOrder) -> Result<Vec<u8>, FrameError> {
        let len = u8::try_from(DI_SER_LEN + self.payload.len())
            .map_err(|_| FrameError::OutOfRange { field: "L" })?;
        let mut out = Vec::with_capacity(HEADER_LEN + usize::from(len) + TRAILER_LEN);
        out.push(START);
        out.push(self.meter_type.code());
        out.extend_from_slice(&self.address.0);
        out.push(self.control.0);
        out.push(len);
        out.extend_from_slice(&order.write(self.di));
        out.push(self.ser);
        out.extend_from_slice(&self.payload);
        out.push(checksum(&out));
        out.push(END);
        Ok(out)
    }
}

/// Sum mod 256 of `bytes`.
fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b))
}

/// Decodes one frame from the front of `bytes`, skipping any `FE` preamble.
///
/// Returns the frame and the number of bytes used (preamble included), so a
/// caller can cut it off a stream buffer. Bytes after the frame are ignored.
/// The end byte is checked before the checksum, so a wrong L usually reports
/// [`FrameError::BadEnd`] (or [`FrameError::Truncated`] when L points past the
/// input) rather than a misleading checksum error.
///
/// # Errors
/// [`FrameError::Truncated`] if the input stops early, otherwise the reason
/// the bytes are not a frame.
pub fn decode(bytes: &[u8], order: DiOrder) -> Result<(Frame, usize), FrameError> {
    let start = bytes
        .iter()
        .position(|b| *b != PREAMBLE)
        .ok_or(FrameError::Truncated)?;
    let rest = bytes.get(start..).ok_or(FrameError::Truncated)?;
    match rest.first() {
        Some(&START) => {}
        Some(&found) => return Err(FrameError::BadStart { found }),
        None => return Err(FrameError::Truncated),
    }
    let header = rest.get(..HEADER_LEN).ok_or(FrameError::Truncated)?;
    let [_, meter_type, a0, a1, a2, a3, a4, a5, a6, control, len] = *header else {
        return Err(FrameError::Truncated);
    };
    let len = usize::from(len);
    if len < DI_SER_LEN {
        return Err(FrameError::BadLength {
            expected: DI_SER_LEN,
            found: len,
        });
    }
    let frame_len = HEADER_LEN + len + TRAILER_LEN;
    let whole = rest.get(..frame_len).ok_or(FrameError::Truncated)?;
    let (summed, trailer) = whole.split_at(HEADER_LEN + len);
    let [found_cs, end] = *trailer else {
        return Err(FrameError::Truncated);
    };
    if end != END {
        return Err(FrameError::BadEnd { found: end });
    }
    let expected = checksum(summed);
    if expected != found_cs {
        return Err(FrameError::BadChecksum {
            expected,
            found: found_cs,
        });
    }
    let data = summed.get(HEADER_LEN..).ok_or(FrameError::Truncated)?;
    let (di_ser, payload) = data
        .split_at_checked(DI_SER_LEN)
        .ok_or(FrameError::BadLength {
            expected: DI_SER_LEN,
            found: len,
        })?;
    let [di0, di1, ser] = *di_ser else {
        return Err(FrameError::Truncated);
    };
    let frame = Frame {
        meter_type: MeterType::from(meter_type),
        address: Address([a0, a1, a2, a3, a4, a5, a6]),
        control: Control(control),
        di: order.read([di0, di1]),
        ser,
        payload: payload.to_vec(),
    };
    Ok((frame, start + frame_len))
}

/// Parses hex text such as `"68 10 44 33"` into bytes. Whitespace anywhere is
/// ignored; everything else must be hex digits, an even number of them.
///
/// # Errors
/// [`FrameError::BadHex`] with the character index of the first bad digit
/// (or the text length when a digit is missing at the end).
pub fn parse_hex(text: &str) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    for (at, ch) in text.char_indices() {
        if ch.is_whitespace() {
            continue;
        }
        let nibble = ch
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
            .ok_or(FrameError::BadHex { at })?;
        match high.take() {
            None => high = Some(nibble),
            Some(h) => out.push((h << 4) | nibble),
        }
    }
    if high.is_some() {
        return Err(FrameError::BadHex { at: text.len() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bits() {
        let c = Control(0xC1);
        assert!(c.is_reply() && c.is_error() && !c.has_follow_up());
        assert_eq!(c.function(), 0x01);
        assert!(!Control::READ_DATA.is_reply());
        assert!(Control(0xA1).has_follow_up());
    }

    #[test]
    fn meter_types_round_trip_every_byte() {
        for code in 0..=u8::MAX {
            assert_eq!(MeterType::from(code).code(), code);
        }
        assert_eq!(MeterType::from(0x11), MeterType::HotWater);
        assert_eq!(MeterType::from(0x20), MeterType::Heat);
        assert_eq!(MeterType::from(0x30), MeterType::Gas);
        assert_eq!(MeterType::from(0x99), MeterType::Other(0x99));
        assert!(MeterType::ReclaimedWater.is_water() && !MeterType::Gas.is_water());
    }

    #[test]
    fn address_text_is_high_byte_first() {
        let a: Address = "78330011223344".parse().unwrap();
        assert_eq!(a.0, [0x44, 0x33, 0x22, 0x11, 0x00, 0x33, 0x78]);
        assert_eq!(a.to_string(), "78330011223344");
        assert_eq!(
            "7833".parse::<Address>(),
            Err(FrameError::BadLength {
                expected: 7,
                found: 2
            })
        );
    }

    #[test]
    fn parse_hex_cases() {
        let check = |text: &str, expect: Result<Vec<u8>, FrameError>| {
            assert_eq!(parse_hex(text), expect, "{text:?}");
        };
        check("", Ok(vec![]));
        check("68 1f\n90\t00", Ok(vec![0x68, 0x1F, 0x90, 0x00]));
        check("681F", Ok(vec![0x68, 0x1F]));
        check("68 1", Err(FrameError::BadHex { at: 4 }));
        check("68 zz", Err(FrameError::BadHex { at: 3 }));
        check("0x68", Err(FrameError::BadHex { at: 1 }));
        check("６８", Err(FrameError::BadHex { at: 0 }));
    }

    #[test]
    fn di_order() {
        assert_eq!(DiOrder::LowFirst.write(0x901F), [0x1F, 0x90]);
        assert_eq!(DiOrder::HighFirst.write(0x901F), [0x90, 0x1F]);
        assert_eq!(DiOrder::HighFirst.read([0xA0, 0x17]), 0xA017);
    }
}
