#![doc = include_str!("../README.md")]

pub mod format;
pub mod model;
pub mod pricing;
pub mod summary;

pub use format::{TariffFileError, parse_tariff};
pub use model::*;
pub use pricing::*;
