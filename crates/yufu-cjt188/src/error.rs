//! The crate's one error type.

/// Why bytes are not (yet) a valid CJ/T 188 frame or message.
///
/// [`FrameError::Truncated`] is the only "incomplete" error: more bytes may
/// still make a frame. Every other variant means the input is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The input ends before the frame does; read more bytes and try again.
    #[error("frame truncated: more bytes needed")]
    Truncated,
    /// After the `FE` preamble the first byte is not the `68` start byte.
    #[error("bad start byte {found:#04x}, expected 0x68")]
    BadStart { found: u8 },
    /// The checksum byte does not match the sum of the frame.
    #[error("bad checksum {found:#04x}, expected {expected:#04x}")]
    BadChecksum { expected: u8, found: u8 },
    /// The byte after the checksum is not the `16` end byte.
    #[error("bad end byte {found:#04x}, expected 0x16")]
    BadEnd { found: u8 },
    /// A length field (L) does not fit the layout. For a frame, `expected`
    /// is the minimum (3: DI and SER); for a typed message it is the exact L.
    #[error("bad length {found}, expected {expected}")]
    BadLength { expected: usize, found: usize },
    /// A typed message was asked of a frame carrying another DI.
    #[error("unknown or unexpected data identifier {di:#06x}")]
    UnknownDi { di: u16 },
    /// A typed message was asked of a frame with another control code
    /// (for example an error reply `C1` where `81` was expected).
    #[error("unexpected control code {found:#04x}, expected {expected:#04x}")]
    UnexpectedControl { expected: u8, found: u8 },
    /// A BCD field holds a nibble above 9.
    #[error("bad BCD byte {byte:#04x}")]
    BadBcd { byte: u8 },
    /// A value does not fit its field when encoding (BCD digits, L ≤ 255).
    #[error("value out of range for {field}")]
    OutOfRange { field: &'static str },
    /// Text given to [`crate::parse_hex`] is not whole hex bytes.
    #[error("bad hex text at character {at}")]
    BadHex { at: usize },
}

impl FrameError {
    /// True when more input may complete the frame (stream framing).
    #[must_use]
    pub fn is_incomplete(&self) -> bool {
        matches!(self, Self::Truncated)
    }
}
