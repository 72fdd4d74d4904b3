//! Signing and verifying provider callbacks, and the idempotency key.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::error::CallbackError;

/// The header that carries the signing time, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-Yufu-Timestamp";
/// The header that carries the signature, `sha256=<64 lowercase hex digits>`.
pub const SIGNATURE_HEADER: &str = "X-Yufu-Signature";
/// How far (in seconds, either way) the signing time may be from the
/// receiver's clock before a callback is refused as a possible replay.
pub const DEFAULT_TOLERANCE_S: i64 = 300;
/// The longest idempotency key [`idempotency_key`] returns.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

const SCHEME: &str = "sha256=";
const TAG_HEX_LEN: usize = 64;
/// Unix seconds up to year 5138 fit in 11 digits; longer values are junk.
const MAX_TIMESTAMP_DIGITS: usize = 11;

type HmacSha256 = Hmac<Sha256>;

fn keyed_mac(secret: &[u8], timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        // RFC 2104: HMAC hashes long keys and pads short ones, so every
        // length (including zero) is accepted; `hmac` never returns Err here.
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Signs a callback body: returns the value of the `X-Yufu-Signature` header,
/// `sha256=` followed by the lowercase hex HMAC-SHA256, keyed with `secret`,
/// of `"{timestamp_s}.{body}"` (the decimal timestamp, a full stop, then the
/// raw body bytes).
///
/// Providers (and Yufu's tests and simulators) use this; the receiving side
/// uses [`verify`].
pub fn sign(secret: &[u8], timestamp_s: i64, body: &[u8]) -> String {
    let tag = keyed_mac(secret, &timestamp_s.to_string(), body)
        .finalize()
        .into_bytes();
    format!("{SCHEME}{}", hex::encode(tag))
}

/// Checks a callback's headers against its raw body, in this order:
///
/// 1. both headers are present ([`CallbackError::MissingTimestamp`],
///    [`CallbackError::MissingSignature`]) and well-formed
///    ([`CallbackError::MalformedTimestamp`],
///    [`CallbackError::MalformedSignature`]);
/// 2. the signature matches, compared in constant time
///    ([`CallbackError::BadSignature`]);
/// 3. the signed timestamp is within `tolerance_s` seconds of `now_s`, either
///    way ([`CallbackError::StaleTimestamp`], [`CallbackError::FutureTimestamp`]).
///
/// The signature is checked before the clock so that a clock complaint is only
/// ever made about a callback that really came from the holder of the secret.
/// A negative `tolerance_s` counts as zero. Surrounding spaces and tabs in the
/// header values are ignored (HTTP libraries usually strip them already).
///
/// To rotate a secret, call `verify` with the new secret and, if that gives
/// [`CallbackError::BadSignature`], with the old one.
pub fn verify(
    secret: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now_s: i64,
    tolerance_s: i64,
) -> Result<(), CallbackError> {
    let timestamp_raw = timestamp_header
        .map(trim_ows)
        .ok_or(CallbackError::MissingTimestamp)?;
    let timestamp = parse_timestamp(timestamp_raw)?;
    let signature_raw = signature_header
        .map(trim_ows)
        .ok_or(CallbackError::MissingSignature)?;
    let tag = parse_signature(signature_raw)?;

    keyed_mac(secret, timestamp_raw, body)
        .verify_slice(&tag)
        .map_err(|_| CallbackError::BadSignature)?;

    let tolerance = i128::from(tolerance_s.max(0));
    let skew = i128::from(now_s) - i128::from(timestamp);
    if skew > tolerance {
        return Err(CallbackError::StaleTimestamp {
            age_s: saturate(skew),
            tolerance_s: tolerance_s.max(0),
        });
    }
    if -skew > tolerance {
        return Err(CallbackError::FutureTimestamp {
            ahead_s: saturate(-skew),
            tolerance_s: tolerance_s.max(0),
        });
    }
    Ok(())
}

/// For an error message only: an i128 difference of two i64 always fits in
/// i64 unless the clock values are absurd, where the message stays truthful
/// enough ("more than 9e18 seconds").
fn saturate(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// A canonical non-negative decimal: digits only, no sign, no leading zero
/// (so the text that was signed is exactly `timestamp.to_string()`).
fn parse_timestamp(s: &str) -> Result<i64, CallbackError> {
    let canonical = !s.is_empty()
        && s.len() <= MAX_TIMESTAMP_DIGITS
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    if !canonical {
        return Err(CallbackError::MalformedTimestamp);
    }
    s.parse().map_err(|_| CallbackError::MalformedTimestamp)
}

fn parse_signature(s: &str) -> Result<Vec<u8>, CallbackError> {
    let hex_part = s
        .strip_prefix(SCHEME)
        .ok_or(CallbackError::MalformedSignature)?;
    let well_formed = hex_part.len() == TAG_HEX_LEN
        && hex_part
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !well_formed {
        return Err(CallbackError::MalformedSignature);
    }
    hex::decode(hex_part).map_err(|_| CallbackError::MalformedSignature)
}

/// The key under which a provider's payment is recorded exactly once:
/// `pay:{provider}:{transaction_id}`.
///
/// If that text would be longer than [`MAX_IDEMPOTENCY_KEY_LEN`] (128) bytes
/// or would hold anything but visible ASCII (`!`..=`~`), the key is instead
/// `pay:` followed by the 64 lowercase hex digits of SHA-256 of the long form
/// (68 bytes in all). The two forms cannot collide: the long form has at
/// least two colons, the hashed one exactly one. The result is therefore
/// always 1–128 bytes of visible ASCII and a pure function of its inputs.
pub fn idempotency_key(provider: &str, transaction_id: &str) -> String {
    let plain = format!("pay:{provider}:{transaction_id}");
    if plain.len() <= MAX_IDEMPOTENCY_KEY_LEN && plain.bytes().all(|b| b.is_ascii_graphic()) {
        plain
    } else {
        format!("pay:{}", hex::encode(Sha256::digest(plain.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn timestamp_must_be_canonical() {
        assert_eq!(parse_timestamp("0").unwrap(), 0);
        assert_eq!(parse_timestamp("1714521600").unwrap(), 1_714_521_600);
        for bad in ["", "-1", "+1", "01", "1.5", "1e9", "171452160000", "１２"] {
            assert_eq!(
                parse_timestamp(bad),
                Err(CallbackError::MalformedTimestamp),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn signature_must_be_sha256_lowercase_hex() {
        let good = format!("sha256={}", "ab".repeat(32));
        assert_eq!(parse_signature(&good).unwrap(), vec![0xab; 32]);
        for bad in [
            String::new(),
            "ab".repeat(32),
            format!("sha1={}", "ab".repeat(32)),
            format!("sha256={}", "AB".repeat(32)),
            format!("sha256={}", "ab".repeat(31)),
            format!("sha256={}", "ab".repeat(33)),
            format!("sha256={}g", "ab".repeat(31)),
            format!("SHA256={}", "ab".repeat(32)),
        ] {
            assert_eq!(
                parse_signature(&bad),
                Err(CallbackError::MalformedSignature),
                "{bad:?}"
            );
        }
    }
}
