#![doc = include_str!("../README.md")]

mod decode;
mod export;
mod kind;
mod parse;
mod problem;
mod references;
mod row;

pub use decode::{Encoding, decode};
pub use export::export;
pub use kind::{Kind, UnknownKind};
pub use parse::{MAX_ROWS, Parsed, parse};
pub use problem::Problem;
pub use references::{Existing, check_references};
pub use row::{AccountRow, CustomerRow, Installation, MeterRow, Row};
