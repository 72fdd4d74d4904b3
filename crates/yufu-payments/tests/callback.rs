#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use yufu_payments::{
    CallbackError, DEFAULT_TOLERANCE_S, MAX_IDEMPOTENCY_KEY_LEN, idempotency_key, sign, verify,
};

const SECRET: &[u8] = b"yufu-test-secret";
const TS: i64 = 1_714_521_600;
const BODY: &[u8] = br#"{"transaction_id":"wx-20240501-0001","account_number":"GZ-0001","amount_fen":5000,"currency":"CNY","status":"paid","paid_at":"2024-05-01T08:00:00+08:00"}"#;
/// Computed independently with Python's hmac/hashlib:
/// hmac.new(b"yufu-test-secret", b"1714521600." + BODY, hashlib.sha256).hexdigest()
const GOLDEN: &str = "sha256=5988fa7265f7677e708f58348ac686f7ddb5f3fdebdb90864ad25a2df7560bf7";

fn check(ts: Option<&str>, sig: Option<&str>, body: &[u8], now: i64) -> Result<(), CallbackError> {
    verify(SECRET, ts, sig, body, now, DEFAULT_TOLERANCE_S)
}

#[test]
fn golden_signature_vector() {
    assert_eq!(sign(SECRET, TS, BODY), GOLDEN);
}

#[test]
fn golden_vector_verifies() {
    assert_eq!(check(Some("1714521600"), Some(GOLDEN), BODY, TS), Ok(()));
    // Surrounding blanks in header values are tolerated.
    assert_eq!(
        check(Some(" 1714521600 "), Some(&format!("{GOLDEN}\t")), BODY, TS),
        Ok(())
    );
}

#[test]
fn tampered_body_is_a_bad_signature() {
    let tampered = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace("5000", "9000");
    let err = check(Some("1714521600"), Some(GOLDEN), tampered.as_bytes(), TS).unwrap_err();
    assert_eq!(err, CallbackError::BadSignature);
    assert_eq!(err.code(), "bad_signature");
    assert_eq!(err.http_status(), 401);
}

#[test]
fn wrong_secret_is_a_bad_signature() {
    let err = verify(
        b"another-secret",
        Some("1714521600"),
        Some(GOLDEN),
        BODY,
        TS,
        DEFAULT_TOLERANCE_S,
    )
    .unwrap_err();
    assert_eq!(err, CallbackError::BadSignature);
}

#[test]
fn signature_binds_the_timestamp() {
    // The same signature presented with another timestamp must fail.
    let err = check(Some("1714521601"), Some(GOLDEN), BODY, TS).unwrap_err();
    assert_eq!(err, CallbackError::BadSignature);
}

#[test]
fn replay_window_edges() {
    let sig = sign(SECRET, TS, BODY);
    let ts = Some("1714521600");
    assert_eq!(check(ts, Some(&sig), BODY, TS + 300), Ok(()));
    assert_eq!(check(ts, Some(&sig), BODY, TS - 300), Ok(()));

    let stale = check(ts, Some(&sig), BODY, TS + 301).unwrap_err();
    assert_eq!(
        stale,
        CallbackError::StaleTimestamp {
            age_s: 301,
            tolerance_s: 300
        }
    );
    assert_eq!(stale.code(), "stale_timestamp");
    assert!(stale.to_string().contains("301 s old"), "{stale}");

    let future = check(ts, Some(&sig), BODY, TS - 301).unwrap_err();
    assert_eq!(
        future,
        CallbackError::FutureTimestamp {
            ahead_s: 301,
            tolerance_s: 300
        }
    );
    assert_eq!(future.code(), "future_timestamp");
}

#[test]
fn bad_signature_is_reported_before_the_clock() {
    // A forged request with an old timestamp is a bad signature, not stale.
    let err = check(Some("1000"), Some(GOLDEN), BODY, TS).unwrap_err();
    assert_eq!(err, CallbackError::BadSignature);
}

#[test]
fn negative_tolerance_counts_as_zero() {
    let sig = sign(SECRET, TS, BODY);
    assert_eq!(
        verify(SECRET, Some("1714521600"), Some(&sig), BODY, TS, -5),
        Ok(())
    );
    assert!(matches!(
        verify(SECRET, Some("1714521600"), Some(&sig), BODY, TS + 1, -5),
        Err(CallbackError::StaleTimestamp {
            age_s: 1,
            tolerance_s: 0
        })
    ));
}

#[test]
fn missing_and_malformed_headers() {
    let cases: [(Option<&str>, Option<&str>, CallbackError, &str); 7] = [
        (
            None,
            Some(GOLDEN),
            CallbackError::MissingTimestamp,
            "missing_timestamp",
        ),
        (
            Some("1714521600"),
            None,
            CallbackError::MissingSignature,
            "missing_signature",
        ),
        (
            None,
            None,
            CallbackError::MissingTimestamp,
            "missing_timestamp",
        ),
        (
            Some("soon"),
            Some(GOLDEN),
            CallbackError::MalformedTimestamp,
            "malformed_timestamp",
        ),
        (
            Some(""),
            Some(GOLDEN),
            CallbackError::MalformedTimestamp,
            "malformed_timestamp",
        ),
        (
            Some("1714521600"),
            Some("5988fa7265f7677e708f58348ac686f7ddb5f3fdebdb90864ad25a2df7560bf7"),
            CallbackError::MalformedSignature,
            "malformed_signature",
        ),
        (
            Some("1714521600"),
            Some("sha256=5988FA7265F7677E708F58348AC686F7DDB5F3FDEBDB90864AD25A2DF7560BF7"),
            CallbackError::MalformedSignature,
            "malformed_signature",
        ),
    ];
    for (ts, sig, want, code) in cases {
        let err = check(ts, sig, BODY, TS).unwrap_err();
        assert_eq!(err, want, "{ts:?} {sig:?}");
        assert_eq!(err.code(), code);
        assert!(err.is_authentication_failure());
        assert_eq!(err.http_status(), 401);
    }
}

#[test]
fn empty_secret_and_body_still_sign() {
    let sig = sign(b"", 0, b"");
    assert!(sig.starts_with("sha256=") && sig.len() == 71);
    assert_eq!(verify(b"", Some("0"), Some(&sig), b"", 0, 0), Ok(()));
}

#[test]
fn idempotency_keys() {
    assert_eq!(idempotency_key("wechat", "wx-1"), "pay:wechat:wx-1");
    // Exactly 128 bytes stays plain.
    let id = "x".repeat(128 - "pay:wechat:".len());
    assert_eq!(idempotency_key("wechat", &id).len(), 128);
    assert_eq!(idempotency_key("wechat", &id), format!("pay:wechat:{id}"));
    // Longer is hashed: sha256("pay:wechat:" + "x"*200), computed with Python.
    let long = idempotency_key("wechat", &"x".repeat(200));
    assert_eq!(
        long,
        "pay:377708dac90bf0ca1d2da5117fdfc197bb248c0b377a0616eafd7c25a4646ba9"
    );
    // Non-printable input is hashed too, and stays distinct.
    let spaced = idempotency_key("wechat", "a b");
    assert!(spaced.starts_with("pay:") && spaced.len() == 68);
    assert_ne!(spaced, idempotency_key("wechat", "a  b"));
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips(
        secret in proptest::collection::vec(any::<u8>(), 0..100),
        body in proptest::collection::vec(any::<u8>(), 0..2000),
        ts in 0i64..=99_999_999_999,
        skew in -300i64..=300,
    ) {
        let sig = sign(&secret, ts, &body);
        let ts_text = ts.to_string();
        prop_assert_eq!(
            verify(&secret, Some(&ts_text), Some(&sig), &body, ts + skew, DEFAULT_TOLERANCE_S),
            Ok(())
        );
        // Any flipped bit in the body breaks it.
        if !body.is_empty() {
            let mut tampered = body.clone();
            tampered[body.len() / 2] ^= 1;
            prop_assert_eq!(
                verify(&secret, Some(&ts_text), Some(&sig), &tampered, ts, DEFAULT_TOLERANCE_S),
                Err(CallbackError::BadSignature)
            );
        }
    }

    #[test]
    fn verify_never_panics_on_arbitrary_headers(
        ts in proptest::option::of(".{0,40}"),
        sig in proptest::option::of(".{0,90}"),
        body in proptest::collection::vec(any::<u8>(), 0..200),
        now in any::<i64>(),
        tolerance in any::<i64>(),
    ) {
        let result = verify(SECRET, ts.as_deref(), sig.as_deref(), &body, now, tolerance);
        if let Err(e) = result {
            prop_assert!(e.is_authentication_failure());
            prop_assert!(!e.code().is_empty());
        }
    }

    #[test]
    fn verify_never_panics_near_valid_headers(
        ts in "[0-9]{1,12}",
        hex in "[0-9a-f]{60,68}",
        now in any::<i64>(),
        tolerance in any::<i64>(),
    ) {
        let sig = format!("sha256={hex}");
        let _ = verify(SECRET, Some(&ts), Some(&sig), BODY, now, tolerance);
    }

    #[test]
    fn idempotency_key_is_bounded_printable(provider in ".{0,80}", id in ".{0,150}") {
        let key = idempotency_key(&provider, &id);
        prop_assert!(key.len() <= MAX_IDEMPOTENCY_KEY_LEN);
        prop_assert!(key.starts_with("pay:"));
        prop_assert!(key.bytes().all(|b| b.is_ascii_graphic()));
    }
}
