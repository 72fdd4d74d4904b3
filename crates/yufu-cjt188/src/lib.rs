#![doc = include_str!("../README.md")]

mod error;
mod frame;
mod message;

pub use error::FrameError;
pub use frame::{
    Address, Control, DiOrder, END, Frame, MeterType, PREAMBLE, START, WAKE_UP, decode, parse_hex,
};
pub use message::{
    DI_READ_ADDRESS, DI_READ_DATA, DI_VALVE, MeterClock, Quantity, ReadReply, Status, Unit, Valve,
    ValveReply, ValveState, read_address, read_address_reply, read_data, valve,
};
