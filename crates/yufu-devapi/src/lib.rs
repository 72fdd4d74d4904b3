#![doc = include_str!("../README.md")]

mod attributes;
mod error;
mod gateway;
mod meter;
mod raw;
mod rpc;
mod telemetry;
mod topic;
mod write;

pub use attributes::{AttributeRequest, GatewayAttributeRequest, attributes_response_payload};
pub use error::{PayloadError, TopicError};
pub use gateway::{GatewayDevice, parse_gateway_attributes, parse_gateway_telemetry};
pub use meter::{DeviceEvent, MeterReport, ReportError, meter_report};
pub use rpc::{
    CommandReply, MeterCommand, RpcRequest, RpcResponse, SET_RELAY, SET_VALVE, SwitchState,
};
pub use telemetry::{
    KeyValues, TelemetrySample, TelemetryValue, attributes_payload, parse_attributes,
    parse_telemetry, telemetry_payload,
};
pub use topic::{Topic, filters, shared_subscription, try_shared_subscription};
