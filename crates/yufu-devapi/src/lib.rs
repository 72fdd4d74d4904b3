#![doc = include_str!("../README.md")]

mod error;
mod gateway;
mod raw;
mod rpc;
mod telemetry;
mod topic;

pub use error::{PayloadError, TopicError};
pub use gateway::{GatewayDevice, parse_gateway_attributes, parse_gateway_telemetry};
pub use rpc::{
    CommandReply, MeterCommand, RpcRequest, RpcResponse, SET_RELAY, SET_VALVE, SwitchState,
};
pub use telemetry::{
    KeyValues, TelemetrySample, TelemetryValue, parse_attributes, parse_telemetry,
};
pub use topic::{Topic, filters, shared_subscription, try_shared_subscription};
