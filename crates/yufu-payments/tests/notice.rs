#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Value, json};
use yufu_payments::{CallbackError, MAX_AMOUNT_FEN, MAX_NOTICE_BYTES, NoticeStatus, parse_notice};

fn base() -> Value {
    json!({
        "transaction_id": "wx-20240501-0001",
        "account_number": "gz-0001",
        "amount_fen": 5000,
        "currency": "CNY",
        "status": "paid",
        "paid_at": "2024-05-01T08:00:00+08:00"
    })
}

fn with(field: &str, value: Value) -> Vec<u8> {
    let mut v = base();
    v[field] = value;
    serde_json::to_vec(&v).unwrap()
}

fn invalid_field(body: &[u8]) -> &'static str {
    match parse_notice(body) {
        Err(CallbackError::InvalidField { field, .. }) => field,
        other => panic!("expected invalid_field, got {other:?}"),
    }
}

#[test]
fn parses_a_paid_notice() {
    let n = parse_notice(&serde_json::to_vec(&base()).unwrap()).unwrap();
    assert_eq!(n.transaction_id, "wx-20240501-0001");
    assert_eq!(n.account_number, "GZ-0001", "normalised to upper case");
    assert_eq!(n.amount_fen, 5000);
    assert_eq!(n.currency, "CNY");
    assert_eq!(n.status, NoticeStatus::Paid);
    assert_eq!(n.paid_at.as_second(), 1_714_521_600);
    assert_eq!(n.failure_reason, None);
}

#[test]
fn parses_a_failed_notice_with_reason() {
    let mut v = base();
    v["status"] = json!("failed");
    v["failure_reason"] = json!("余额不足 insufficient funds");
    let n = parse_notice(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(n.status, NoticeStatus::Failed);
    assert_eq!(
        n.failure_reason.as_deref(),
        Some("余额不足 insufficient funds")
    );
    // null is the same as absent
    v["failure_reason"] = Value::Null;
    assert_eq!(
        parse_notice(&serde_json::to_vec(&v).unwrap())
            .unwrap()
            .failure_reason,
        None
    );
}

#[test]
fn failure_reason_only_when_failed() {
    assert_eq!(
        invalid_field(&with("failure_reason", json!("x"))),
        "failure_reason"
    );
}

#[test]
fn unknown_field_is_refused() {
    let err = parse_notice(&with("amount_yuan", json!(50))).unwrap_err();
    assert_eq!(err, CallbackError::UnknownField("amount_yuan".into()));
    assert_eq!(err.code(), "unknown_field");
    assert_eq!(err.http_status(), 422);
    assert!(!err.is_authentication_failure());
}

#[test]
fn duplicate_field_is_refused() {
    let body = br#"{"transaction_id":"t1","account_number":"GZ-0001","amount_fen":1,"amount_fen":999999,"currency":"CNY","status":"paid","paid_at":"2024-05-01T08:00:00Z"}"#;
    assert_eq!(
        parse_notice(body).unwrap_err(),
        CallbackError::DuplicateField("amount_fen".into())
    );
}

#[test]
fn missing_field_is_named() {
    for field in [
        "transaction_id",
        "account_number",
        "amount_fen",
        "currency",
        "status",
        "paid_at",
    ] {
        let mut v = base();
        v.as_object_mut().unwrap().remove(field);
        let err = parse_notice(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(err, CallbackError::MissingField(field));
        assert_eq!(err.code(), "missing_field");
    }
}

#[test]
fn float_amounts_are_refused() {
    for raw in ["50.5", "5000.0", "5e3", "1E2"] {
        let body = String::from_utf8(serde_json::to_vec(&base()).unwrap())
            .unwrap()
            .replace("5000", raw);
        let err = parse_notice(body.as_bytes()).unwrap_err();
        match &err {
            CallbackError::InvalidField { field, reason } => {
                assert_eq!(*field, "amount_fen");
                assert!(reason.contains("not a decimal"), "{raw}: {reason}");
            }
            other => panic!("{raw}: {other:?}"),
        }
    }
}

#[test]
fn amount_as_string_is_refused() {
    assert_eq!(
        invalid_field(&with("amount_fen", json!("5000"))),
        "amount_fen"
    );
}

#[test]
fn zero_negative_and_too_big_amounts_are_refused() {
    for amount in [
        json!(0),
        json!(-1),
        json!(-5000),
        json!(MAX_AMOUNT_FEN + 1),
        json!(u64::MAX),
    ] {
        assert_eq!(
            invalid_field(&with("amount_fen", amount.clone())),
            "amount_fen",
            "{amount}"
        );
    }
    let huge = String::from_utf8(serde_json::to_vec(&base()).unwrap())
        .unwrap()
        .replace("5000", "123456789012345678901234567890");
    assert_eq!(invalid_field(huge.as_bytes()), "amount_fen");
    // The bounds themselves are fine.
    assert_eq!(
        parse_notice(&with("amount_fen", json!(1)))
            .unwrap()
            .amount_fen,
        1
    );
    assert_eq!(
        parse_notice(&with("amount_fen", json!(MAX_AMOUNT_FEN)))
            .unwrap()
            .amount_fen,
        MAX_AMOUNT_FEN
    );
}

#[test]
fn bad_currency_is_refused() {
    for c in [json!("USD"), json!("cny"), json!(""), json!(156)] {
        assert_eq!(invalid_field(&with("currency", c)), "currency");
    }
}

#[test]
fn bad_status_is_refused() {
    for s in [json!("PAID"), json!("success"), json!(""), json!(true)] {
        assert_eq!(invalid_field(&with("status", s)), "status");
    }
}

#[test]
fn transaction_id_rules() {
    assert!(parse_notice(&with("transaction_id", json!("a".repeat(64)))).is_ok());
    for id in [
        json!("a".repeat(65)),
        json!(""),
        json!("has space"),
        json!("tab\there"),
        json!("微信支付"),
        json!(12345),
    ] {
        assert_eq!(
            invalid_field(&with("transaction_id", id.clone())),
            "transaction_id",
            "{id}"
        );
    }
}

#[test]
fn account_number_rules() {
    for a in [
        json!("GZ"),
        json!("GZ 0001"),
        json!("<script>"),
        json!("A".repeat(33)),
    ] {
        assert_eq!(
            invalid_field(&with("account_number", a.clone())),
            "account_number",
            "{a}"
        );
    }
}

#[test]
fn paid_at_must_be_rfc3339_with_offset() {
    assert!(parse_notice(&with("paid_at", json!("2024-05-01T00:00:00Z"))).is_ok());
    for t in [
        json!("2024-05-01 08:00:00"),
        json!("2024-05-01"),
        json!("yesterday"),
        json!(1714521600),
    ] {
        assert_eq!(invalid_field(&with("paid_at", t.clone())), "paid_at", "{t}");
    }
}

#[test]
fn malformed_bodies() {
    for body in [
        &b""[..],
        b"[]",
        b"null",
        b"42",
        b"{",
        b"{\"a\":1} x",
        b"\xff\xfe",
    ] {
        let err = parse_notice(body).unwrap_err();
        assert_eq!(err.code(), "malformed_body", "{body:?}");
        assert_eq!(err.http_status(), 400);
    }
}

#[test]
fn oversized_body_is_refused_before_parsing() {
    let body = vec![b' '; MAX_NOTICE_BYTES + 1];
    let err = parse_notice(&body).unwrap_err();
    assert_eq!(err.code(), "body_too_large");
    assert_eq!(err.http_status(), 413);
}

#[test]
fn long_unknown_field_names_are_shortened_in_messages() {
    let name = "z".repeat(1000);
    let err = parse_notice(&with(&name, json!(1))).unwrap_err();
    assert!(err.to_string().len() < 200, "{err}");
}

proptest! {
    #[test]
    fn parse_notice_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_notice(&body);
    }

    #[test]
    fn valid_amounts_round_trip(amount in 1..=MAX_AMOUNT_FEN) {
        prop_assert_eq!(parse_notice(&with("amount_fen", json!(amount))).unwrap().amount_fen, amount);
    }
}
