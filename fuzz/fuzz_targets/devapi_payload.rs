//! Device-API payloads: every JSON payload parser of `yufu-devapi` on the
//! same input (they share the JSON reader, so coverage found by one helps
//! the others).
//!
//! Beyond "never panics", every accepted payload checks:
//! - telemetry and attributes: no sample without values, no duplicate key,
//!   and writing the values back (`telemetry_payload`, `attributes_payload`)
//!   parses to the same values — decimals keep their exact text;
//! - gateway telemetry and attributes: no empty device name, and each
//!   device's part round-trips as above;
//! - connect/disconnect, RPC requests and replies, command replies: the
//!   builder's payload parses back to the same value;
//! - attribute requests: keys are trimmed, non-empty and comma-free, and the
//!   response builders write valid JSON.
//!
//! Round trips skip values holding a JSON float inside nested JSON: those go
//! through `f64` (documented), and serde_json's default float parsing may
//! move a re-read float by one ulp.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use yufu_devapi::{
    AttributeRequest, CommandReply, GatewayAttributeRequest, GatewayDevice, KeyValues,
    MeterCommand, RpcRequest, RpcResponse, TelemetrySample, TelemetryValue, attributes_payload,
    attributes_response_payload, parse_attributes, parse_gateway_attributes,
    parse_gateway_telemetry, parse_telemetry, telemetry_payload,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(samples) = parse_telemetry(data) {
        check_samples(&samples);
    }
    if let Ok(values) = parse_attributes(data) {
        check_key_values(&values);
        let _ = attributes_response_payload(&values, &values);
    }
    if let Ok(devices) = parse_gateway_telemetry(data) {
        for (device, samples) in &devices {
            assert!(!device.is_empty(), "empty device name accepted");
            check_samples(samples);
        }
    }
    if let Ok(devices) = parse_gateway_attributes(data) {
        for (device, values) in &devices {
            assert!(!device.is_empty(), "empty device name accepted");
            check_key_values(values);
        }
    }
    if let Ok(device) = GatewayDevice::parse(data) {
        assert!(!device.device.is_empty(), "empty device name accepted");
        assert_eq!(GatewayDevice::parse(&device.to_payload()), Ok(device));
    }
    if let Ok(response) = RpcResponse::parse_gateway(data) {
        assert!(response.device.as_deref().is_some_and(|d| !d.is_empty()));
        check_command_reply(&response);
        if !has_float(&response.data) {
            let (_, payload) = response.to_gateway_message();
            assert_eq!(RpcResponse::parse_gateway(&payload), Ok(response));
        }
    }
    if let Ok(response) = RpcResponse::parse_device(7, data) {
        check_command_reply(&response);
        if !has_float(&response.data) {
            let (_, payload) = response.to_device_message();
            assert_eq!(RpcResponse::parse_device(7, &payload), Ok(response));
        }
    }
    if let Ok((device, request)) = RpcRequest::parse_gateway(data) {
        assert!(!device.is_empty(), "empty device name accepted");
        check_meter_command(&request);
        if !has_float(&request.params) {
            let (_, payload) = request.to_gateway_message(&device);
            assert_eq!(RpcRequest::parse_gateway(&payload), Ok((device, request)));
        }
    }
    if let Ok(request) = RpcRequest::parse_device(7, data) {
        check_meter_command(&request);
        if !has_float(&request.params) {
            let (_, payload) = request.to_device_message();
            assert_eq!(RpcRequest::parse_device(7, &payload), Ok(request));
        }
    }
    if let Ok(request) = AttributeRequest::parse(data) {
        for key in request
            .client_keys
            .iter()
            .chain(request.shared_keys.iter())
            .flatten()
        {
            assert!(!key.is_empty() && !key.contains(','), "bad key {key:?}");
            assert_eq!(key.trim(), key, "untrimmed key {key:?}");
        }
    }
    if let Ok(request) = GatewayAttributeRequest::parse(data) {
        assert!(!request.device.is_empty(), "empty device name accepted");
        if request.single_key {
            assert_eq!(request.keys.len(), 1);
        }
        let values: KeyValues = request
            .keys
            .iter()
            .map(|k| (k.clone(), TelemetryValue::Bool(true)))
            .collect();
        let payload = request.response_payload(&values);
        serde_json::from_slice::<Value>(&payload).expect("response is JSON");
    }
});

fn check_samples(samples: &[TelemetrySample]) {
    for sample in samples {
        assert!(!sample.values.is_empty(), "sample without values kept");
        check_unique_keys(&sample.values);
    }
    // A server-timed sample with keys `ts` and `values` reads back as the
    // timestamped form: the format's own ambiguity, documented.
    let ambiguous = samples.iter().any(|s| {
        s.ts_ms.is_none()
            && s.values.iter().any(|(k, _)| k == "ts")
            && s.values.iter().any(|(k, _)| k == "values")
    });
    if !ambiguous && !samples.iter().any(|s| values_have_float(&s.values)) {
        let payload = telemetry_payload(samples);
        assert_eq!(
            parse_telemetry(&payload).as_deref(),
            Ok(samples),
            "telemetry round trip via {}",
            String::from_utf8_lossy(&payload)
        );
    }
}

fn check_key_values(values: &KeyValues) {
    check_unique_keys(values);
    if !values_have_float(values) {
        let payload = attributes_payload(values);
        assert_eq!(
            parse_attributes(&payload).as_ref(),
            Ok(values),
            "attributes round trip via {}",
            String::from_utf8_lossy(&payload)
        );
    }
}

fn check_unique_keys(values: &KeyValues) {
    let mut keys: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    let before = keys.len();
    keys.dedup();
    assert_eq!(before, keys.len(), "duplicate key accepted");
}

fn check_command_reply(response: &RpcResponse) {
    if let Ok(reply) = response.command_reply() {
        assert_eq!(CommandReply::from_value(&reply.to_value(), "$"), Ok(reply));
    }
}

fn check_meter_command(request: &RpcRequest) {
    if let Ok(command) = MeterCommand::from_request(request) {
        assert_eq!(
            MeterCommand::from_request(&command.to_request(request.id)),
            Ok(command)
        );
    }
}

fn values_have_float(values: &KeyValues) -> bool {
    values.iter().any(|(_, v)| match v {
        TelemetryValue::Json(json) => has_float(json),
        _ => false,
    })
}

fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(members) => members.values().any(has_float),
        _ => false,
    }
}
