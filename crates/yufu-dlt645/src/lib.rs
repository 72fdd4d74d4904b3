#![doc = include_str!("../README.md")]

mod error;
mod frame;
mod hex;
mod message;
mod value;

pub use error::FrameError;
pub use frame::{
    Address, Control, DATA_OFFSET, Direction, END, Frame, Function, START, WAKE_UP, checksum,
    decode,
};
pub use hex::{parse_hex, to_hex};
pub use message::{
    Auth, DateTime, ErrorFlag, ErrorStatus, Message, RelayAction, RelayCommand, broadcast_time,
    read_address, read_data, relay_control,
};
pub use value::{Di, MeterType, Reading, StatusWord3, Supply, Value};
