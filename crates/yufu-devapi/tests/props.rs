//! Property tests: topic round-trips, and no parser panics on any input.

use proptest::prelude::*;
use yufu_devapi::{
    AttributeRequest, CommandReply, GatewayAttributeRequest, GatewayDevice, MeterCommand,
    RpcRequest, RpcResponse, TelemetrySample, TelemetryValue, Topic, parse_attributes,
    parse_gateway_attributes, parse_gateway_telemetry, parse_telemetry, telemetry_payload,
};

fn topic() -> impl Strategy<Value = Topic> {
    prop_oneof![
        Just(Topic::DeviceTelemetry),
        Just(Topic::DeviceAttributes),
        any::<u64>().prop_map(Topic::DeviceAttributesRequest),
        any::<u64>().prop_map(Topic::DeviceAttributesResponse),
        any::<u64>().prop_map(Topic::DeviceRpcRequest),
        any::<u64>().prop_map(Topic::DeviceRpcResponse),
        Just(Topic::DeviceClaim),
        Just(Topic::GatewayConnect),
        Just(Topic::GatewayDisconnect),
        Just(Topic::GatewayTelemetry),
        Just(Topic::GatewayAttributes),
        Just(Topic::GatewayAttributesRequest),
        Just(Topic::GatewayAttributesResponse),
        Just(Topic::GatewayRpc),
        Just(Topic::GatewayClaim),
    ]
}

/// Every parser, fed the same bytes; none may panic.
fn feed_all(bytes: &[u8]) {
    let _ = parse_telemetry(bytes);
    let _ = parse_attributes(bytes);
    let _ = parse_gateway_telemetry(bytes);
    let _ = parse_gateway_attributes(bytes);
    let _ = GatewayDevice::parse(bytes);
    let _ = AttributeRequest::parse(bytes);
    if let Ok(r) = GatewayAttributeRequest::parse(bytes) {
        let _ = r.response_payload(&vec![]);
    }
    let _ = RpcRequest::parse_device(1, bytes);
    if let Ok((_, request)) = RpcRequest::parse_gateway(bytes) {
        let _ = MeterCommand::from_request(&request);
    }
    if let Ok(response) = RpcResponse::parse_device(1, bytes) {
        let _ = response.command_reply();
    }
    if let Ok(response) = RpcResponse::parse_gateway(bytes) {
        let _ = response.command_reply();
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        let _ = Topic::parse(s);
    }
}

/// JSON-ish text: payload-shaped fragments glued at random, so the parsers
/// get past the syntax check far more often than with raw bytes.
fn jsonish() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just("\"ts\"".to_owned()),
        Just("\"values\"".to_owned()),
        Just("\"device\"".to_owned()),
        Just("\"data\"".to_owned()),
        Just("\"id\"".to_owned()),
        Just("\"method\"".to_owned()),
        Just("\"params\"".to_owned()),
        Just("\"ok\"".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        "-?[0-9]{1,25}(\\.[0-9]{0,6})?([eE][+-]?[0-9]{1,3})?",
        "\"[a-zA-Z \\\\\"]{0,6}\"",
    ];
    prop::collection::vec(atom, 0..40).prop_map(|parts| parts.concat())
}

/// Valid telemetry payloads built from parts, with decimal text to check.
fn flat_object() -> impl Strategy<Value = (String, Vec<(String, String)>)> {
    prop::collection::btree_map("[a-z]{1,8}", "-?(0|[1-9][0-9]{0,5})\\.[0-9]{1,6}", 0..8).prop_map(
        |m| {
            let pairs: Vec<(String, String)> = m.into_iter().collect();
            let body: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            (format!("{{{}}}", body.join(",")), pairs)
        },
    )
}

fn telemetry_value() -> impl Strategy<Value = TelemetryValue> {
    prop_oneof![
        any::<bool>().prop_map(TelemetryValue::Bool),
        any::<i64>().prop_map(TelemetryValue::Long),
        "-?(0|[1-9][0-9]{0,30})\\.[0-9]{1,20}([eE][+-]?[0-9]{1,3})?"
            .prop_map(TelemetryValue::Decimal),
        "[1-9][0-9]{19,40}".prop_map(TelemetryValue::Decimal),
        any::<String>().prop_map(TelemetryValue::Text),
        (any::<i64>(), any::<String>())
            .prop_map(|(n, s)| TelemetryValue::Json(serde_json::json!({ "n": n, "s": [s] }))),
    ]
}

fn samples() -> impl Strategy<Value = Vec<TelemetrySample>> {
    let key = "\\PC{1,8}".prop_filter("reserved", |k| k != "ts" && k != "values");
    let sample = (
        prop::option::of(any::<i64>()),
        prop::collection::btree_map(key, telemetry_value(), 1..6),
    )
        .prop_map(|(ts_ms, values)| TelemetrySample {
            ts_ms,
            values: values.into_iter().collect(),
        });
    prop::collection::vec(sample, 0..5)
}

proptest! {
    #[test]
    fn built_telemetry_parses_back_unchanged(samples in samples()) {
        let payload = telemetry_payload(&samples);
        prop_assert_eq!(parse_telemetry(&payload), Ok(samples));
    }


    #[test]
    fn topic_format_parse_round_trip(t in topic()) {
        let s = t.as_string();
        prop_assert_eq!(Topic::parse(&s), Ok(t));
        prop_assert_eq!(t.to_string(), s);
    }

    #[test]
    fn any_parsed_topic_formats_back_to_itself(s in "(v1/(devices/me|gateway)/)?[a-z/+#0-9]{0,30}") {
        if let Ok(t) = Topic::parse(&s) {
            prop_assert_eq!(t.as_string(), s);
        }
    }

    #[test]
    fn request_ids_round_trip_as_decimal(id in any::<u64>()) {
        let s = format!("v1/devices/me/rpc/response/{id}");
        prop_assert_eq!(Topic::parse(&s).map(|t| t.request_id()), Ok(Some(id)));
    }

    #[test]
    fn parsers_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        feed_all(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_strings(s in any::<String>()) {
        feed_all(s.as_bytes());
    }

    #[test]
    fn parsers_never_panic_on_json_like_text(s in jsonish()) {
        feed_all(s.as_bytes());
    }

    #[test]
    fn decimals_survive_exactly((payload, pairs) in flat_object(), ts in any::<i64>()) {
        let plain = parse_telemetry(payload.as_bytes()).unwrap();
        let stamped = parse_telemetry(format!("[{{\"ts\":{ts},\"values\":{payload}}}]").as_bytes()).unwrap();
        let expected: Vec<(String, TelemetryValue)> = pairs
            .into_iter()
            .map(|(k, v)| (k, TelemetryValue::Decimal(v)))
            .collect();
        if expected.is_empty() {
            prop_assert!(plain.is_empty() && stamped.is_empty());
        } else {
            prop_assert_eq!(plain.len(), 1);
            prop_assert_eq!(plain[0].ts_ms, None);
            prop_assert_eq!(&plain[0].values, &expected);
            prop_assert_eq!(stamped.len(), 1);
            prop_assert_eq!(stamped[0].ts_ms, Some(ts));
            prop_assert_eq!(&stamped[0].values, &expected);
        }
    }

    #[test]
    fn rpc_round_trips(id in any::<u64>(), device in "[A-Za-z0-9 ]{1,12}", relay in any::<bool>(), open in any::<bool>(), error in ".{0,20}") {
        let state = if open { yufu_devapi::SwitchState::Open } else { yufu_devapi::SwitchState::Closed };
        let command = if relay { MeterCommand::SetRelay(state) } else { MeterCommand::SetValve(state) };
        let request = command.to_request(id);
        let (_, payload) = request.to_device_message();
        prop_assert_eq!(RpcRequest::parse_device(id, &payload), Ok(request.clone()));
        let (_, payload) = request.to_gateway_message(&device);
        let (d, back) = RpcRequest::parse_gateway(&payload).unwrap();
        prop_assert_eq!(&d, &device);
        prop_assert_eq!(MeterCommand::from_request(&back), Ok(command));

        let reply = CommandReply::Failed { error };
        let response = RpcResponse { id, device: Some(device), data: reply.to_value() };
        let (_, payload) = response.to_gateway_message();
        let back = RpcResponse::parse_gateway(&payload).unwrap();
        prop_assert_eq!(back.command_reply(), Ok(reply));
        prop_assert_eq!(back, response);
    }
}

#[test]
fn deep_nesting_does_not_overflow() {
    for depth in [100, 127, 128, 129, 10_000, 100_000] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        feed_all(arrays.as_bytes());
        let nested = format!("{{\"k\":{arrays}}}");
        feed_all(nested.as_bytes());
        let gateway = format!("{{\"A\":{{\"k\":{arrays}}}}}");
        feed_all(gateway.as_bytes());
        let unclosed = "[".repeat(depth);
        feed_all(unclosed.as_bytes());
    }
}
