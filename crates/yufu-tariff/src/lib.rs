#![doc = include_str!("../README.md")]

pub mod file;
pub mod model;
pub mod pricing;
pub mod summary;

pub use file::{TariffFileError, parse_tariff};
pub use model::*;
pub use pricing::*;
