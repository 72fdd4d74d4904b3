#![doc = include_str!("../README.md")]

pub mod cjt188_meter;
mod clock;
pub mod dlt645_meter;
mod faults;
mod meter;
pub mod mqtt;
mod profile;
mod rng;
mod tcp;

pub use clock::{local_time, local_zone};
pub use faults::{
    DeviceEvent, FaultAction, FaultParseError, FaultPlan, FaultRates, MAX_HELD, Outbox,
};
pub use meter::{Command, MAX_PENDING_EVENTS, Rate, Refused, SimMeter, Supply, address_digits};
pub use profile::Profile;
pub use rng::{PPM, Rng, mix};
pub use tcp::{MAX_RX_BUFFER, TcpOptions, TcpStats, run_tcp_meter};

use yufu_domain::Utility;

/// Everything the simulator refuses. Network trouble is not here: a
/// simulated meter keeps redialling, as a real one does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("address {address:?} of a {utility} meter must be {digits} decimal digits")]
    BadAddress {
        address: String,
        utility: Utility,
        digits: usize,
    },
    #[error("unknown profile {0:?}; expected residential, commercial, water, water_leak or gas")]
    UnknownProfile(String),
    /// A thread panicked while holding the meter's lock.
    #[error("the meter's lock is poisoned")]
    Poisoned,
}
