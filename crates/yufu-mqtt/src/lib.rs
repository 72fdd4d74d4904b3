#![doc = include_str!("../README.md")]

mod decode;
mod encode;
mod error;
mod packet;
mod topic;

pub use decode::decode;
pub use encode::{MAX_REMAINING_LENGTH, encode};
pub use error::Error;
pub use packet::{
    ConnAck, Connect, ConnectReturnCode, Packet, Protocol, Publish, QoS, SubAck, Subscribe,
    SubscribeReturnCode, Unsubscribe, Will,
};
pub use topic::{topic_matches, validate_filter, validate_topic_name};
