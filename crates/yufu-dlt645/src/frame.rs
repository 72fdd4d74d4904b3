//! The link layer: `FE… 68 A0..A5 68 C L DATA CS 16`.

use std::fmt;

use crate::FrameError;

/// Start byte, sent twice (before and after the address).
pub const START: u8 = 0x68;
/// End byte.
pub const END: u8 = 0x16;
/// Wake-up preamble byte, outside the frame and the checksum.
pub const WAKE_UP: u8 = 0xFE;
/// Added to every data byte on the wire (and removed on receipt).
pub const DATA_OFFSET: u8 = 0x33;
/// `68`, six address bytes, `68`, C, L.
const HEADER_LEN: usize = 10;

/// A meter address: 12 BCD digits, kept as the six wire bytes (low byte
/// first). A byte may be `AA` (wildcard, "unknown") and `99…99` is broadcast.
///
/// Addresses decoded from frames are kept as they came, even when not BCD:
/// refusing a reply over its address would hide the reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address([u8; 6]);

impl Address {
    /// `99 99 99 99 99 99`: every meter listens, none replies.
    pub const BROADCAST: Address = Address([0x99; 6]);
    /// `AA AA AA AA AA AA`: whatever meter is on the line (read address).
    pub const WILDCARD: Address = Address([0xAA; 6]);

    /// From the six bytes in wire order (low byte first).
    pub const fn from_wire(bytes: [u8; 6]) -> Self {
        Address(bytes)
    }

    /// The six bytes in wire order (low byte first).
    pub const fn to_wire(self) -> [u8; 6] {
        self.0
    }

    /// From the printed number, e.g. `1234` → `000000001234`.
    pub fn from_number(number: u64) -> Result<Self, FrameError> {
        let bytes = u64_to_bcd_le::<6>(number).ok_or(FrameError::TooWide {
            field: "address",
            value: number,
            bytes: 6,
        })?;
        Ok(Address(bytes))
    }

    /// The printed number, if every byte is BCD (no wildcard).
    pub fn number(self) -> Option<u64> {
        bcd_le_to_u64(&self.0).ok()
    }

    pub fn is_broadcast(self) -> bool {
        self == Self::BROADCAST
    }

    /// True if any byte is the `AA` wildcard.
    pub fn has_wildcard(self) -> bool {
        self.0.contains(&0xAA)
    }
}

/// Parses the printed form: 12 characters, most significant first, each
/// byte either two decimal digits or `AA` (e.g. `AAAAAAAA0161`).
impl std::str::FromStr for Address {
    type Err = FrameError;

    fn from_str(s: &str) -> Result<Self, FrameError> {
        let bad = || FrameError::BadAddress(s.to_owned());
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 12 {
            return Err(bad());
        }
        let mut bytes = [0u8; 6];
        for (i, pair) in chars.chunks(2).enumerate() {
            let byte = match pair {
                ['A' | 'a', 'A' | 'a'] => 0xAA,
                [hi, lo] => {
                    let hi = hi.to_digit(10).ok_or_else(bad)?;
                    let lo = lo.to_digit(10).ok_or_else(bad)?;
                    u8::try_from(hi * 16 + lo).map_err(|_| bad())?
                }
                _ => return Err(bad()),
            };
            // Printed high byte first, wire low byte first.
            bytes[5 - i] = byte;
        }
        Ok(Address(bytes))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.iter().rev() {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Who sent the frame (control bit D7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Direction {
    /// Master (head end, concentrator) to meter.
    Request,
    /// Meter to master.
    Reply,
}

/// The function code, control bits D4..D0. DL/T 645-2007 and -1997 use
/// disjoint codes except `08` (broadcast time), so one enum serves both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Function {
    /// `08`, both versions.
    BroadcastTime,
    /// 2007 `11`.
    ReadData,
    /// 2007 `12`.
    ReadFollowUp,
    /// 2007 `13`.
    ReadAddress,
    /// 2007 `14`.
    WriteData,
    /// 2007 `15`.
    WriteAddress,
    /// 2007 `16`.
    Freeze,
    /// 2007 `17`.
    ChangeBaudRate,
    /// 2007 `18`.
    ChangePassword,
    /// 2007 `19`.
    ClearMaxDemand,
    /// 2007 `1A`.
    ClearMeter,
    /// 2007 `1B`.
    ClearEvents,
    /// 2007 `1C`: relay trip/close, alarm, keep-power.
    RelayControl,
    /// 1997 `01`.
    ReadData1997,
    /// 1997 `02`.
    ReadFollowUp1997,
    /// 1997 `03`.
    ReRead1997,
    /// 1997 `04`.
    WriteData1997,
    /// 1997 `0A`.
    WriteAddress1997,
    /// 1997 `0C`.
    ChangeBaudRate1997,
    /// 1997 `0F`.
    ChangePassword1997,
    /// 1997 `10`.
    ClearMaxDemand1997,
    /// Any other 5-bit code (only the low 5 bits are ever sent).
    Other(u8),
}

impl Function {
    /// From bits D4..D0 (higher bits are ignored).
    pub fn from_code(code: u8) -> Self {
        use Function::*;
        match code & 0x1F {
            0x08 => BroadcastTime,
            0x11 => ReadData,
            0x12 => ReadFollowUp,
            0x13 => ReadAddress,
            0x14 => WriteData,
            0x15 => WriteAddress,
            0x16 => Freeze,
            0x17 => ChangeBaudRate,
            0x18 => ChangePassword,
            0x19 => ClearMaxDemand,
            0x1A => ClearMeter,
            0x1B => ClearEvents,
            0x1C => RelayControl,
            0x01 => ReadData1997,
            0x02 => ReadFollowUp1997,
            0x03 => ReRead1997,
            0x04 => WriteData1997,
            0x0A => WriteAddress1997,
            0x0C => ChangeBaudRate1997,
            0x0F => ChangePassword1997,
            0x10 => ClearMaxDemand1997,
            other => Other(other),
        }
    }

    /// Bits D4..D0.
    pub fn code(self) -> u8 {
        use Function::*;
        match self {
            BroadcastTime => 0x08,
            ReadData => 0x11,
            ReadFollowUp => 0x12,
            ReadAddress => 0x13,
            WriteData => 0x14,
            WriteAddress => 0x15,
            Freeze => 0x16,
            ChangeBaudRate => 0x17,
            ChangePassword => 0x18,
            ClearMaxDemand => 0x19,
            ClearMeter => 0x1A,
            ClearEvents => 0x1B,
            RelayControl => 0x1C,
            ReadData1997 => 0x01,
            ReadFollowUp1997 => 0x02,
            ReRead1997 => 0x03,
            WriteData1997 => 0x04,
            WriteAddress1997 => 0x0A,
            ChangeBaudRate1997 => 0x0C,
            ChangePassword1997 => 0x0F,
            ClearMaxDemand1997 => 0x10,
            Other(code) => code & 0x1F,
        }
    }
}

/// The control byte C: direction (D7), error reply (D6), follow-up (D5),
/// function (D4..D0). Converts to and from the byte without loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Control {
    pub direction: Direction,
    /// D6: an abnormal (error) reply, data is one error-status byte.
    pub error: bool,
    /// D5: more frames follow (read follow-up).
    pub follow_up: bool,
    pub function: Function,
}

impl Control {
    /// A master-to-meter request.
    pub fn request(function: Function) -> Self {
        Control {
            direction: Direction::Request,
            error: false,
            follow_up: false,
            function,
        }
    }

    /// A normal reply (`function | 0x80`).
    pub fn reply(function: Function) -> Self {
        Control {
            direction: Direction::Reply,
            ..Control::request(function)
        }
    }

    /// An error reply (`function | 0xC0`).
    pub fn error_reply(function: Function) -> Self {
        Control {
            error: true,
            ..Control::reply(function)
        }
    }

    pub fn from_byte(byte: u8) -> Self {
        Control {
            direction: if byte & 0x80 == 0 {
                Direction::Request
            } else {
                Direction::Reply
            },
            error: byte & 0x40 != 0,
            follow_up: byte & 0x20 != 0,
            function: Function::from_code(byte),
        }
    }

    pub fn to_byte(self) -> u8 {
        let mut byte = self.function.code();
        if self.direction == Direction::Reply {
            byte |= 0x80;
        }
        if self.error {
            byte |= 0x40;
        }
        if self.follow_up {
            byte |= 0x20;
        }
        byte
    }
}

/// One link-layer frame. `data` is the payload as meant, i.e. with the
/// 0x33 wire offset already removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Frame {
    // Crate-visible so builders with fixed small payloads skip the length check.
    pub(crate) address: Address,
    pub(crate) control: Control,
    pub(crate) data: Vec<u8>,
}

impl Frame {
    /// Fails with [`FrameError::DataTooLong`] over 255 bytes, so that
    /// [`Frame::encode`] cannot fail.
    pub fn new(address: Address, control: Control, data: Vec<u8>) -> Result<Self, FrameError> {
        if data.len() > usize::from(u8::MAX) {
            return Err(FrameError::DataTooLong { len: data.len() });
        }
        Ok(Frame {
            address,
            control,
            data,
        })
    }

    pub fn address(&self) -> Address {
        self.address
    }

    pub fn control(&self) -> Control {
        self.control
    }

    /// The payload without the 0x33 offset.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The wire bytes, without wake-up preamble.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.data.len() + 2);
        out.push(START);
        out.extend_from_slice(&self.address.0);
        out.push(START);
        out.push(self.control.to_byte());
        // `new` keeps data at most 255 bytes; saturate rather than panic.
        out.push(u8::try_from(self.data.len()).unwrap_or(u8::MAX));
        out.extend(self.data.iter().map(|b| b.wrapping_add(DATA_OFFSET)));
        out.push(checksum(&out));
        out.push(END);
        out
    }

    /// The wire bytes after the usual `FE FE FE FE` wake-up preamble.
    pub fn encode_with_wake_up(&self) -> Vec<u8> {
        let mut out = vec![WAKE_UP; 4];
        out.extend(self.encode());
        out
    }
}

/// Sum mod 256.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b))
}

/// Decodes the first frame in `bytes`, returning it and the number of bytes
/// it used (wake-up preamble included).
///
/// Any number of leading `FE` bytes is skipped. Any other byte before the
/// `68` start is **not** skipped: it is reported as
/// [`FrameError::BadStart`], so a caller sees line noise instead of having it
/// silently eaten. A stream reader drops one byte after any error other than
/// [`FrameError::Truncated`] and tries again. Every proper prefix of a valid
/// frame gives `Truncated`.
pub fn decode(bytes: &[u8]) -> Result<(Frame, usize), FrameError> {
    let preamble = bytes
        .iter()
        .position(|b| *b != WAKE_UP)
        .ok_or(FrameError::Truncated)?;
    let buf = bytes.get(preamble..).ok_or(FrameError::Truncated)?;
    match buf.first() {
        Some(&START) => {}
        Some(&found) => {
            return Err(FrameError::BadStart {
                found,
                offset: preamble,
            });
        }
        None => return Err(FrameError::Truncated),
    }
    if let Some(&found) = buf.get(7)
        && found != START
    {
        return Err(FrameError::BadSecondStart { found });
    }
    let len = usize::from(*buf.get(9).ok_or(FrameError::Truncated)?);
    let total = HEADER_LEN + len + 2;
    let frame = buf.get(..total).ok_or(FrameError::Truncated)?;
    let (body, tail) = frame.split_at(total - 2);
    let (found_cs, end) = match tail {
        [cs, end] => (*cs, *end),
        _ => return Err(FrameError::Truncated),
    };
    // End before checksum: a wrong L shows up as a missing end byte, which
    // says more than a checksum mismatch would.
    if end != END {
        return Err(FrameError::BadEnd { found: end });
    }
    let expected = checksum(body);
    if expected != found_cs {
        return Err(FrameError::BadChecksum {
            expected,
            found: found_cs,
        });
    }
    let address: [u8; 6] = body
        .get(1..7)
        .and_then(|a| a.try_into().ok())
        .ok_or(FrameError::Truncated)?;
    let control = Control::from_byte(body.get(8).copied().ok_or(FrameError::Truncated)?);
    let data = body
        .get(HEADER_LEN..)
        .unwrap_or_default()
        .iter()
        .map(|b| b.wrapping_sub(DATA_OFFSET))
        .collect();
    Ok((
        Frame {
            address: Address(address),
            control,
            data,
        },
        preamble + total,
    ))
}

/// Little-endian BCD (low byte first) to a number.
pub(crate) fn bcd_le_to_u64(bytes: &[u8]) -> Result<u64, FrameError> {
    let mut value: u64 = 0;
    for &byte in bytes.iter().rev() {
        let (hi, lo) = (byte >> 4, byte & 0x0F);
        if hi > 9 || lo > 9 {
            return Err(FrameError::BadBcd { byte });
        }
        value = value
            .checked_mul(100)
            .and_then(|v| v.checked_add(u64::from(hi * 10 + lo)))
            .ok_or(FrameError::TooWide {
                field: "BCD number",
                value: u64::MAX,
                bytes: bytes.len(),
            })?;
    }
    Ok(value)
}

/// A number to `N` bytes of little-endian BCD, `None` if it has too many digits.
pub(crate) fn u64_to_bcd_le<const N: usize>(mut value: u64) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    for byte in &mut out {
        let pair = u8::try_from(value % 100).ok()?;
        *byte = (pair / 10) << 4 | (pair % 10);
        value /= 100;
    }
    (value == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcd_both_ways() {
        assert_eq!(u64_to_bcd_le::<6>(161), Some([0x61, 0x01, 0, 0, 0, 0]));
        assert_eq!(bcd_le_to_u64(&[0x45, 0x23, 0x01, 0x00]), Ok(12345));
        assert_eq!(u64_to_bcd_le::<1>(100), None);
        assert_eq!(
            bcd_le_to_u64(&[0x1A]),
            Err(FrameError::BadBcd { byte: 0x1A })
        );
    }

    #[test]
    fn address_printed_high_byte_first() {
        let a: Address = "000000000161".parse().unwrap();
        assert_eq!(a.to_wire(), [0x61, 0x01, 0, 0, 0, 0]);
        assert_eq!(a.to_string(), "000000000161");
        assert_eq!(a.number(), Some(161));
        let w: Address = "AAAAAAAA0161".parse().unwrap();
        assert!(w.has_wildcard());
        assert_eq!(w.number(), None);
        assert_eq!(w.to_string(), "AAAAAAAA0161");
        assert!("00000000016".parse::<Address>().is_err());
        assert!("0000000001x1".parse::<Address>().is_err());
    }

    #[test]
    fn control_bits() {
        let c = Control::from_byte(0xD1);
        assert_eq!(c.direction, Direction::Reply);
        assert!(c.error);
        assert!(!c.follow_up);
        assert_eq!(c.function, Function::ReadData);
        assert!(Control::from_byte(0xB2).follow_up);
        for b in 0..=u8::MAX {
            assert_eq!(Control::from_byte(b).to_byte(), b);
        }
    }
}
