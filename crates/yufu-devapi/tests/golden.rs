//! Golden payloads for every shape, both RPC forms, and the topics.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use yufu_devapi::{
    AttributeRequest, CommandReply, GatewayAttributeRequest, GatewayDevice, MeterCommand,
    PayloadError, RpcRequest, RpcResponse, SET_RELAY, SET_VALVE, SwitchState, TelemetrySample,
    TelemetryValue, Topic, TopicError, attributes_payload, attributes_response_payload, filters,
    parse_attributes, parse_gateway_attributes, parse_gateway_telemetry, parse_telemetry,
    shared_subscription, telemetry_payload, try_shared_subscription,
};

use TelemetryValue::{Bool, Decimal, Json, Long, Text};

fn kv(pairs: &[(&str, TelemetryValue)]) -> Vec<(String, TelemetryValue)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn sample(ts_ms: Option<i64>, pairs: &[(&str, TelemetryValue)]) -> TelemetrySample {
    TelemetrySample {
        ts_ms,
        values: kv(pairs),
    }
}

fn dec(s: &str) -> TelemetryValue {
    Decimal(s.to_owned())
}

fn text(s: &str) -> TelemetryValue {
    Text(s.to_owned())
}

fn parse(s: &str) -> Result<Vec<TelemetrySample>, PayloadError> {
    parse_telemetry(s.as_bytes())
}

#[test]
fn flat_object() {
    let got = parse(r#"{"kwh":"123.4500","voltage":229,"online":true,"note":"ok"}"#).unwrap();
    assert_eq!(
        got,
        vec![sample(
            None,
            &[
                ("kwh", text("123.4500")),
                ("voltage", Long(229)),
                ("online", Bool(true)),
                ("note", text("ok")),
            ]
        )]
    );
}

#[test]
fn array_of_flat_objects() {
    let got = parse(r#"[{"kwh":1},{"kwh":2,"off":false}]"#).unwrap();
    assert_eq!(
        got,
        vec![
            sample(None, &[("kwh", Long(1))]),
            sample(None, &[("kwh", Long(2)), ("off", Bool(false))]),
        ]
    );
}

#[test]
fn timestamped_object() {
    let got = parse(r#"{"ts":1735689600000,"values":{"kwh":123.4500,"relay":"closed"}}"#).unwrap();
    assert_eq!(
        got,
        vec![sample(
            Some(1_735_689_600_000),
            &[("kwh", dec("123.4500")), ("relay", text("closed"))]
        )]
    );
}

#[test]
fn timestamped_array_and_mixed_forms() {
    let got = parse(
        r#"[{"ts":1735689600000,"values":{"kwh":1.5}},
            {"values":{"kwh":1.6},"ts":1735689660000},
            {"kwh":1.7}]"#,
    )
    .unwrap();
    assert_eq!(
        got,
        vec![
            sample(Some(1_735_689_600_000), &[("kwh", dec("1.5"))]),
            sample(Some(1_735_689_660_000), &[("kwh", dec("1.6"))]),
            sample(None, &[("kwh", dec("1.7"))]),
        ]
    );
}

#[test]
fn exact_decimals_are_kept_as_text() {
    let got = parse(
        r#"{"a":123.4500,"b":-0.000100,"c":1e3,"d":1.5E-7,"e":18446744073709551616,"f":-9223372036854775808,"g":-0,"h":0.1}"#,
    )
    .unwrap();
    assert_eq!(
        got[0].values,
        kv(&[
            ("a", dec("123.4500")),
            ("b", dec("-0.000100")),
            ("c", dec("1e3")),
            ("d", dec("1.5E-7")),
            ("e", dec("18446744073709551616")),
            ("f", Long(i64::MIN)),
            ("g", Long(0)),
            ("h", dec("0.1")),
        ])
    );
}

#[test]
fn nested_json_values() {
    let got =
        parse(r#"{"ts":5,"values":{"phases":{"a":1,"b":[2,3]},"list":[true,"x"],"empty":{}}}"#)
            .unwrap();
    assert_eq!(
        got,
        vec![sample(
            Some(5),
            &[
                ("phases", Json(json!({"a": 1, "b": [2, 3]}))),
                ("list", Json(json!([true, "x"]))),
                ("empty", Json(json!({}))),
            ]
        )]
    );
}

#[test]
fn ts_handling() {
    // Only `ts` without `values`: a plain key named `ts`.
    assert_eq!(
        parse(r#"{"ts":5,"kwh":1}"#).unwrap(),
        vec![sample(None, &[("ts", Long(5)), ("kwh", Long(1))])]
    );
    // Negative and zero timestamps are integers; kept as given.
    assert_eq!(
        parse(r#"{"ts":0,"values":{"k":1}}"#).unwrap()[0].ts_ms,
        Some(0)
    );
    for (payload, path) in [
        (r#"{"ts":1.5,"values":{"k":1}}"#, "$.ts"),
        (r#"{"ts":"5","values":{"k":1}}"#, "$.ts"),
        (r#"{"ts":9223372036854775808,"values":{"k":1}}"#, "$.ts"),
        (r#"[{"k":1},{"ts":null,"values":{"k":1}}]"#, "$[1].ts"),
    ] {
        assert_eq!(
            parse(payload),
            Err(PayloadError::Expected {
                path: path.to_owned(),
                expected: "an integer in range"
            }),
            "{payload}"
        );
    }
    assert_eq!(
        parse(r#"{"ts":1,"values":{"k":1},"extra":2}"#),
        Err(PayloadError::Unexpected {
            path: "$.extra".to_owned()
        })
    );
    assert_eq!(
        parse(r#"{"ts":1,"values":[1]}"#),
        Err(PayloadError::Expected {
            path: "$.values".to_owned(),
            expected: "an object"
        })
    );
}

#[test]
fn empty_payloads_give_no_samples() {
    for payload in ["{}", "[]", " [ {} , {} ] ", r#"{"ts":1,"values":{}}"#] {
        assert_eq!(parse(payload).unwrap(), vec![], "{payload}");
    }
}

#[test]
fn errors_carry_paths() {
    assert_eq!(
        parse(r#"[{"k":1},{"x":{"ok":1},"bad key":null}]"#),
        Err(PayloadError::Expected {
            path: r#"$[1]["bad key"]"#.to_owned(),
            expected: "a boolean, number, string, object or array (not null)"
        })
    );
    assert_eq!(
        parse(r#"[{"k":1}, 5]"#),
        Err(PayloadError::Expected {
            path: "$[1]".to_owned(),
            expected: "an object"
        })
    );
    assert_eq!(
        parse(r#"{"k":1,"k":2}"#),
        Err(PayloadError::DuplicateKey {
            path: "$.k".to_owned()
        })
    );
    for bad in ["5", "\"x\"", "null", "true"] {
        assert!(
            matches!(parse(bad), Err(PayloadError::Expected { .. })),
            "{bad}"
        );
    }
    for bad in ["", "{", "{\"k\":}", "[1,]", "{} {}", "NaN"] {
        assert!(
            matches!(parse(bad), Err(PayloadError::Syntax { .. })),
            "{bad}"
        );
    }
    assert_eq!(
        parse_telemetry(b"{\"k\":\"\xff\"}"),
        Err(PayloadError::NotUtf8 { valid_up_to: 6 })
    );
}

#[test]
fn unicode_and_escapes() {
    let got = parse(r#"{"电量":"12\u00e9\n","a\"b":2}"#).unwrap();
    assert_eq!(
        got[0].values,
        kv(&[("电量", text("12é\n")), ("a\"b", Long(2))])
    );
}

#[test]
fn attributes() {
    assert_eq!(
        parse_attributes(br#"{"firmware":"1.2.0","ct_ratio":40,"k":0.50}"#).unwrap(),
        kv(&[
            ("firmware", text("1.2.0")),
            ("ct_ratio", Long(40)),
            ("k", dec("0.50"))
        ])
    );
    assert!(parse_attributes(b"[]").is_err());
}

#[test]
fn gateway_telemetry_with_several_devices() {
    let got = parse_gateway_telemetry(
        br#"{
          "Meter A": [{"ts":1000,"values":{"kwh":10.250}},{"ts":2000,"values":{"kwh":10.500}}],
          "Meter B": {"m3":"7.000"},
          "Meter C": [{"temp":21}],
          "Meter D": []
        }"#,
    )
    .unwrap();
    assert_eq!(
        got,
        vec![
            (
                "Meter A".to_owned(),
                vec![
                    sample(Some(1000), &[("kwh", dec("10.250"))]),
                    sample(Some(2000), &[("kwh", dec("10.500"))]),
                ]
            ),
            (
                "Meter B".to_owned(),
                vec![sample(None, &[("m3", text("7.000"))])]
            ),
            (
                "Meter C".to_owned(),
                vec![sample(None, &[("temp", Long(21))])]
            ),
            ("Meter D".to_owned(), vec![]),
        ]
    );
    assert_eq!(parse_gateway_telemetry(b"{}").unwrap(), vec![]);
    assert_eq!(
        parse_gateway_telemetry(
            br#"{"Meter A":[{"ts":1,"values":{"k":"x"}},{"ts":"bad","values":{}}]}"#
        ),
        Err(PayloadError::Expected {
            path: r#"$["Meter A"][1].ts"#.to_owned(),
            expected: "an integer in range"
        })
    );
    assert!(parse_gateway_telemetry(br#"{"":{"k":1}}"#).is_err());
    assert!(parse_gateway_telemetry(br#"[{"k":1}]"#).is_err());
    assert!(parse_gateway_telemetry(br#"{"Meter A":5}"#).is_err());
}

#[test]
fn gateway_attributes() {
    assert_eq!(
        parse_gateway_attributes(br#"{"Meter A":{"fw":"2"},"Meter B":{}}"#).unwrap(),
        vec![
            ("Meter A".to_owned(), kv(&[("fw", text("2"))])),
            ("Meter B".to_owned(), vec![]),
        ]
    );
}

#[test]
fn gateway_connect_and_disconnect() {
    let connect = GatewayDevice::parse(br#"{"device":"Meter A","type":"dlt645","x":1}"#).unwrap();
    assert_eq!(
        connect,
        GatewayDevice {
            device: "Meter A".to_owned(),
            device_type: Some("dlt645".to_owned())
        }
    );
    let disconnect = GatewayDevice::parse(br#"{"device":"Meter A"}"#).unwrap();
    assert_eq!(disconnect.device_type, None);
    for d in [connect, disconnect] {
        assert_eq!(GatewayDevice::parse(&d.to_payload()).unwrap(), d);
    }
    assert_eq!(
        GatewayDevice::parse(br#"{"type":"x"}"#),
        Err(PayloadError::Missing {
            path: "$".to_owned(),
            member: "device"
        })
    );
    assert!(GatewayDevice::parse(br#"{"device":""}"#).is_err());
    assert!(GatewayDevice::parse(br#"{"device":7}"#).is_err());
}

fn as_json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn device_rpc_build_and_parse() {
    let request = MeterCommand::TRIP.to_request(42);
    let (topic, payload) = request.to_device_message();
    assert_eq!(topic.as_string(), "v1/devices/me/rpc/request/42");
    assert_eq!(
        as_json(&payload),
        json!({"method": "setRelay", "params": {"state": "open"}})
    );
    // The meter side reads it back.
    let received = RpcRequest::parse_device(42, &payload).unwrap();
    assert_eq!(received, request);
    assert_eq!(
        MeterCommand::from_request(&received).unwrap(),
        MeterCommand::TRIP
    );

    // The reply: any JSON on rpc/response/{id}.
    let Topic::DeviceRpcResponse(id) = Topic::parse("v1/devices/me/rpc/response/42").unwrap()
    else {
        panic!("not a response topic")
    };
    let reply = RpcResponse::parse_device(id, br#"{"ok":true}"#).unwrap();
    assert_eq!(reply.id, 42);
    assert_eq!(reply.device, None);
    assert_eq!(reply.command_reply().unwrap(), CommandReply::Ok);
    let (t, p) = reply.to_device_message();
    assert_eq!(t, Topic::DeviceRpcResponse(42));
    assert_eq!(RpcResponse::parse_device(42, &p).unwrap(), reply);

    let free_form = RpcResponse::parse_device(1, b"\"done\"").unwrap();
    assert_eq!(free_form.data, json!("done"));
    assert!(free_form.command_reply().is_err());

    // Params may be absent; method may not.
    assert_eq!(
        RpcRequest::parse_device(3, br#"{"method":"getTime"}"#).unwrap(),
        RpcRequest {
            id: 3,
            method: "getTime".to_owned(),
            params: serde_json::Value::Null
        }
    );
    assert_eq!(
        RpcRequest::parse_device(3, br#"{"params":{}}"#),
        Err(PayloadError::Missing {
            path: "$".to_owned(),
            member: "method"
        })
    );
}

#[test]
fn gateway_rpc_build_and_parse() {
    let request = MeterCommand::SHUT_VALVE.to_request(7);
    let (topic, payload) = request.to_gateway_message("Water 12");
    assert_eq!(topic, Topic::GatewayRpc);
    assert_eq!(
        as_json(&payload),
        json!({"device": "Water 12", "data": {"id": 7, "method": "setValve", "params": {"state": "closed"}}})
    );
    assert_eq!(
        RpcRequest::parse_gateway(&payload).unwrap(),
        ("Water 12".to_owned(), request)
    );
    // The request echoed on the shared topic is not a reply.
    assert_eq!(
        RpcResponse::parse_gateway(&payload),
        Err(PayloadError::Missing {
            path: "$".to_owned(),
            member: "id"
        })
    );

    let reply = RpcResponse::parse_gateway(
        br#"{"device":"Water 12","id":7,"data":{"ok":false,"error":"valve jammed"}}"#,
    )
    .unwrap();
    assert_eq!(reply.id, 7);
    assert_eq!(reply.device.as_deref(), Some("Water 12"));
    assert_eq!(
        reply.command_reply().unwrap(),
        CommandReply::Failed {
            error: "valve jammed".to_owned()
        }
    );
    let (t, p) = reply.to_gateway_message();
    assert_eq!(t, Topic::GatewayRpc);
    assert_eq!(RpcResponse::parse_gateway(&p).unwrap(), reply);

    assert_eq!(
        RpcResponse::parse_gateway(br#"{"device":"A","id":-1,"data":{}}"#),
        Err(PayloadError::Expected {
            path: "$.id".to_owned(),
            expected: "an integer in range"
        })
    );
    assert!(RpcResponse::parse_gateway(br#"{"device":"A","id":1}"#).is_err());
    assert!(RpcRequest::parse_gateway(br#"{"device":"A","data":{"method":"m"}}"#).is_err());
}

#[test]
fn meter_commands() {
    let cases = [
        (MeterCommand::TRIP, SET_RELAY, "open"),
        (MeterCommand::RESTORE, SET_RELAY, "closed"),
        (MeterCommand::OPEN_VALVE, SET_VALVE, "open"),
        (MeterCommand::SHUT_VALVE, SET_VALVE, "closed"),
    ];
    for (command, method, state) in cases {
        assert_eq!(command.method(), method);
        assert_eq!(command.params(), json!({ "state": state }));
        let request = command.to_request(1);
        assert_eq!(MeterCommand::from_request(&request).unwrap(), command);
    }
    assert_eq!(
        MeterCommand::TRIP,
        MeterCommand::SetRelay(SwitchState::Open)
    );
    assert_eq!("setRelay", SET_RELAY);
    assert_eq!("setValve", SET_VALVE);

    let unknown = RpcRequest {
        id: 1,
        method: "explode".to_owned(),
        params: json!({}),
    };
    assert_eq!(
        MeterCommand::from_request(&unknown),
        Err(PayloadError::UnknownMethod {
            method: "explode".to_owned()
        })
    );
    for params in [
        json!({}),
        json!({"state": "OPEN"}),
        json!({"state": 1}),
        json!(null),
    ] {
        let request = RpcRequest {
            id: 1,
            method: SET_RELAY.to_owned(),
            params,
        };
        assert!(MeterCommand::from_request(&request).is_err());
    }
    // Extra params are ignored (the contract may grow).
    let extra = RpcRequest {
        id: 1,
        method: SET_VALVE.to_owned(),
        params: json!({"state": "open", "reason": "credit"}),
    };
    assert_eq!(
        MeterCommand::from_request(&extra).unwrap(),
        MeterCommand::OPEN_VALVE
    );
}

#[test]
fn command_reply_convention() {
    assert_eq!(CommandReply::Ok.to_value(), json!({"ok": true}));
    let failed = CommandReply::Failed {
        error: "relay stuck".to_owned(),
    };
    assert_eq!(
        failed.to_value(),
        json!({"ok": false, "error": "relay stuck"})
    );
    for reply in [CommandReply::Ok, failed] {
        assert_eq!(
            CommandReply::from_value(&reply.to_value(), "$").unwrap(),
            reply
        );
    }
    assert_eq!(
        CommandReply::from_value(&json!({"ok": false}), "$").unwrap(),
        CommandReply::Failed {
            error: String::new()
        }
    );
    assert_eq!(
        CommandReply::from_value(&json!({"ok": "yes"}), "$.data"),
        Err(PayloadError::Expected {
            path: "$.data.ok".to_owned(),
            expected: "a boolean"
        })
    );
    assert!(CommandReply::from_value(&json!({}), "$").is_err());
    assert!(CommandReply::from_value(&json!([]), "$").is_err());
    assert!(CommandReply::from_value(&json!({"ok": false, "error": 5}), "$").is_err());
}

#[test]
fn topics_golden() {
    let cases = [
        ("v1/devices/me/telemetry", Topic::DeviceTelemetry),
        ("v1/devices/me/attributes", Topic::DeviceAttributes),
        (
            "v1/devices/me/attributes/request/1",
            Topic::DeviceAttributesRequest(1),
        ),
        (
            "v1/devices/me/attributes/response/0",
            Topic::DeviceAttributesResponse(0),
        ),
        (
            "v1/devices/me/rpc/request/18446744073709551615",
            Topic::DeviceRpcRequest(u64::MAX),
        ),
        (
            "v1/devices/me/rpc/response/42",
            Topic::DeviceRpcResponse(42),
        ),
        ("v1/devices/me/claim", Topic::DeviceClaim),
        ("v1/gateway/connect", Topic::GatewayConnect),
        ("v1/gateway/disconnect", Topic::GatewayDisconnect),
        ("v1/gateway/telemetry", Topic::GatewayTelemetry),
        ("v1/gateway/attributes", Topic::GatewayAttributes),
        (
            "v1/gateway/attributes/request",
            Topic::GatewayAttributesRequest,
        ),
        (
            "v1/gateway/attributes/response",
            Topic::GatewayAttributesResponse,
        ),
        ("v1/gateway/rpc", Topic::GatewayRpc),
        ("v1/gateway/claim", Topic::GatewayClaim),
    ];
    for (s, topic) in cases {
        assert_eq!(Topic::parse(s).unwrap(), topic, "{s}");
        assert_eq!(topic.as_string(), s);
        assert_eq!(topic.to_string(), s);
        assert_eq!(s.parse::<Topic>().unwrap(), topic);
        assert_eq!(topic.is_gateway(), s.starts_with("v1/gateway/"));
    }
    assert_eq!(Topic::DeviceRpcRequest(9).request_id(), Some(9));
    assert_eq!(Topic::DeviceTelemetry.request_id(), None);

    for bad_id in [
        "",
        "01",
        "+1",
        "-1",
        "1a",
        "18446744073709551616",
        " 1",
        "+",
        "1/2",
    ] {
        let s = format!("v1/devices/me/rpc/request/{bad_id}");
        assert!(
            matches!(Topic::parse(&s), Err(TopicError::BadRequestId { .. })),
            "{s}"
        );
    }
    for unknown in [
        "",
        "v1/devices/me",
        "v1/devices/me/",
        "v1/devices/me/telemetry/",
        "v1/devices/me/rpc/request",
        "v1/devices/other/telemetry",
        "V1/devices/me/telemetry",
        "v1/gateway/rpc/1",
        "v1/gateway/",
        "/v1/gateway/rpc",
    ] {
        assert!(
            matches!(Topic::parse(unknown), Err(TopicError::Unknown { .. })),
            "{unknown:?}"
        );
    }
}

#[test]
fn subscriptions() {
    assert_eq!(
        shared_subscription("yufu", filters::DEVICE_TELEMETRY),
        "$share/yufu/v1/devices/me/telemetry"
    );
    assert_eq!(
        try_shared_subscription("yufu", filters::DEVICE_RPC_RESPONSE).unwrap(),
        "$share/yufu/v1/devices/me/rpc/response/+"
    );
    for bad in ["", "a/b", "a+", "#"] {
        assert!(try_shared_subscription(bad, filters::GATEWAY_RPC).is_err());
    }
    // Every concrete (wildcard-free) filter names a topic; wildcard filters
    // match the request/response topics.
    for filter in filters::SERVER
        .iter()
        .chain(filters::DEVICE)
        .chain(filters::GATEWAY)
    {
        match filter.strip_suffix("/+") {
            Some(prefix) => assert!(Topic::parse(&format!("{prefix}/1")).is_ok(), "{filter}"),
            None => assert!(Topic::parse(filter).is_ok(), "{filter}"),
        }
    }
}

#[test]
fn empty_keys_are_rejected() {
    assert_eq!(
        parse(r#"{"ts":1,"values":{"":1}}"#),
        Err(PayloadError::Expected {
            path: r#"$.values[""]"#.to_owned(),
            expected: "a non-empty key"
        })
    );
}

#[test]
fn telemetry_and_attribute_payloads_are_built_exactly() {
    let one = vec![sample(
        None,
        &[("kwh", dec("123.4500")), ("on", Bool(true))],
    )];
    assert_eq!(
        String::from_utf8(telemetry_payload(&one)).unwrap(),
        r#"{"kwh":123.4500,"on":true}"#
    );
    let two = vec![
        sample(Some(1000), &[("kwh", dec("1.50")), ("note", text("a\"b"))]),
        sample(None, &[("phases", Json(json!({"a": 1}))), ("n", Long(-3))]),
    ];
    let payload = telemetry_payload(&two);
    assert_eq!(
        String::from_utf8(payload.clone()).unwrap(),
        r#"[{"ts":1000,"values":{"kwh":1.50,"note":"a\"b"}},{"phases":{"a":1},"n":-3}]"#
    );
    assert_eq!(parse_telemetry(&payload).unwrap(), two);
    assert_eq!(telemetry_payload(&[]), b"[]");
    // A hand-made Decimal that is not a JSON number is written as a string.
    assert_eq!(
        attributes_payload(&kv(&[("x", dec("1,5"))])),
        br#"{"x":"1,5"}"#
    );
}

#[test]
fn attribute_requests_and_responses() {
    let request =
        AttributeRequest::parse(br#"{"clientKeys":"fw, model,","sharedKeys":"tariff"}"#).unwrap();
    assert_eq!(
        request,
        AttributeRequest {
            client_keys: Some(vec!["fw".to_owned(), "model".to_owned()]),
            shared_keys: Some(vec!["tariff".to_owned()]),
        }
    );
    assert!(!request.wants_all());
    assert!(AttributeRequest::parse(b"{}").unwrap().wants_all());
    assert_eq!(
        AttributeRequest::parse(br#"{"sharedKeys":"a"}"#).unwrap(),
        AttributeRequest {
            client_keys: None,
            shared_keys: Some(vec!["a".to_owned()]),
        }
    );
    assert!(AttributeRequest::parse(br#"{"clientKeys":["a"]}"#).is_err());
    assert_eq!(
        attributes_response_payload(
            &kv(&[("fw", text("1.2"))]),
            &kv(&[("price", dec("0.5200"))])
        ),
        br#"{"client":{"fw":"1.2"},"shared":{"price":0.5200}}"#
    );
    assert_eq!(
        attributes_response_payload(&vec![], &kv(&[("p", Long(1))])),
        br#"{"shared":{"p":1}}"#
    );

    let single =
        GatewayAttributeRequest::parse(br#"{"id":3,"device":"Meter A","client":true,"key":"fw"}"#)
            .unwrap();
    assert_eq!(
        single,
        GatewayAttributeRequest {
            id: 3,
            device: "Meter A".to_owned(),
            client: true,
            keys: vec!["fw".to_owned()],
            single_key: true,
        }
    );
    assert_eq!(
        single.response_payload(&kv(&[("fw", text("1.2"))])),
        br#"{"id":3,"device":"Meter A","value":"1.2"}"#
    );
    assert_eq!(
        single.response_payload(&vec![]),
        br#"{"id":3,"device":"Meter A","value":null}"#
    );
    let several =
        GatewayAttributeRequest::parse(br#"{"id":4,"device":"Meter A","keys":["a","b"]}"#).unwrap();
    assert!(!several.client && !several.single_key);
    assert_eq!(several.keys, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(
        several.response_payload(&kv(&[("a", dec("2.50"))])),
        br#"{"id":4,"device":"Meter A","values":{"a":2.50}}"#
    );
    for bad in [
        r#"{"device":"A","key":"k"}"#,
        r#"{"id":1,"key":"k"}"#,
        r#"{"id":1,"device":"A"}"#,
        r#"{"id":1,"device":"A","key":"k","keys":["k"]}"#,
        r#"{"id":1,"device":"A","client":"yes","key":"k"}"#,
        r#"{"id":1,"device":"A","keys":[1]}"#,
    ] {
        assert!(
            GatewayAttributeRequest::parse(bad.as_bytes()).is_err(),
            "{bad}"
        );
    }
}
