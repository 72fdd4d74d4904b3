use crate::message::ErrorStatus;
use crate::value::Di;

/// Everything that can go wrong turning bytes into frames and frames into
/// meaning. Decoding never panics: every malformed input ends up here.
///
/// [`FrameError::Truncated`] is the only *incomplete* error (read more bytes
/// and try again, see [`FrameError::is_incomplete`]); every other variant
/// means the bytes are *invalid*.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The input ends before the frame does.
    #[error("frame truncated: more bytes needed")]
    Truncated,
    /// After the `FE` wake-up bytes the next byte is not the `68` start.
    /// `offset` is where that byte sits in the input.
    #[error("expected start byte 0x68 at offset {offset}, found {found:#04x}")]
    BadStart { found: u8, offset: usize },
    /// The byte after the 6-byte address is not the second `68`.
    #[error("expected second start byte 0x68, found {found:#04x}")]
    BadSecondStart { found: u8 },
    /// The byte after the checksum is not the `16` end byte (often a wrong
    /// length byte `L`).
    #[error("expected end byte 0x16, found {found:#04x}")]
    BadEnd { found: u8 },
    #[error("bad checksum: computed {expected:#04x}, frame carries {found:#04x}")]
    BadChecksum { expected: u8, found: u8 },
    /// A data field has the wrong number of bytes for what it carries.
    #[error("bad length: expected {expected} bytes, found {found}")]
    BadLength { expected: usize, found: usize },
    /// A frame's data field cannot exceed 255 bytes (`L` is one byte).
    #[error("data field of {len} bytes does not fit a frame (at most 255)")]
    DataTooLong { len: usize },
    /// A nibble above 9 where BCD digits were expected.
    #[error("bad BCD byte {byte:#04x}")]
    BadBcd { byte: u8 },
    /// A read reply for a data identifier this crate has no format for; the
    /// raw bytes are still in [`crate::Message::ReadDataReply`].
    #[error("no value format known for data identifier {0}")]
    UnknownDi(Di),
    /// The meter answered with an error reply.
    #[error("meter refused the request: {0}")]
    Refused(ErrorStatus),
    /// The frame is not a reply to a read (asked for a reading).
    #[error("control code {control:#04x} is not a read-data reply")]
    NotAReadReply { control: u8 },
    #[error("unknown relay action code {0:#04x}")]
    UnknownRelayAction(u8),
    #[error("invalid date/time {0}")]
    BadDateTime(String),
    #[error("invalid address {0:?}: 12 BCD digits, AA for wildcard bytes")]
    BadAddress(String),
    #[error("{field} {value:#x} does not fit in {bytes} bytes")]
    TooWide {
        field: &'static str,
        value: u64,
        bytes: usize,
    },
    #[error("bad hex at character {position}")]
    BadHex { position: usize },
}

impl FrameError {
    /// True when more input could still make a frame: keep reading.
    /// For every other error a stream reader should drop one byte and resync.
    pub fn is_incomplete(&self) -> bool {
        matches!(self, FrameError::Truncated)
    }
}
