//! The body of a provider callback: one payment notice.

use std::fmt;
use std::str::FromStr;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::CallbackError;

/// The largest amount one payment may carry: 10 000 000 fen (100 000 yuan).
pub const MAX_AMOUNT_FEN: i64 = 10_000_000;
/// The largest callback body [`parse_notice`] reads, in bytes. The endpoint
/// should refuse a larger body before reading it all.
pub const MAX_NOTICE_BYTES: usize = 16 * 1024;
/// The longest transaction id, in bytes.
pub const MAX_TRANSACTION_ID_LEN: usize = 64;
/// The longest failure reason, in characters.
pub const MAX_FAILURE_REASON_CHARS: usize = 256;
/// The only currency accepted.
pub const CURRENCY: &str = "CNY";

const FIELDS: [&str; 7] = [
    "transaction_id",
    "account_number",
    "amount_fen",
    "currency",
    "status",
    "paid_at",
    "failure_reason",
];

/// What the provider says happened to a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeStatus {
    /// The money was taken: the account is to be credited.
    Paid,
    /// The payment did not go through: nothing is credited.
    Failed,
}

impl NoticeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Failed => "failed",
        }
    }
}

/// A validated payment notice, the body of a provider callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentNotice {
    /// The provider's id of the payment: 1–64 visible ASCII characters.
    pub transaction_id: String,
    /// The Yufu account (户号) to credit, normalised to upper case.
    pub account_number: String,
    /// The amount in fen: 1..=[`MAX_AMOUNT_FEN`].
    pub amount_fen: i64,
    /// Always `"CNY"`.
    pub currency: String,
    pub status: NoticeStatus,
    /// When the provider took the money (or gave up, for a failed payment).
    pub paid_at: jiff::Timestamp,
    /// Why a failed payment failed; always `None` for a paid one.
    pub failure_reason: Option<String>,
}

/// Parses and validates a callback body (call [`crate::verify`] first: an
/// unauthenticated body must not be parsed for anything but diagnostics).
///
/// The body is a JSON object with exactly these fields, each at most once:
/// `transaction_id`, `account_number`, `amount_fen` (a JSON integer, not
/// `100.0` or `1e2`), `currency` (`"CNY"`), `status` (`"paid"` or `"failed"`),
/// `paid_at` (RFC 3339 with an offset) and, only when failed, the optional
/// `failure_reason` (`null` is the same as absent). Anything else is refused.
pub fn parse_notice(body: &[u8]) -> Result<PaymentNotice, CallbackError> {
    if body.len() > MAX_NOTICE_BYTES {
        return Err(CallbackError::BodyTooLarge {
            len: body.len(),
            max: MAX_NOTICE_BYTES,
        });
    }
    let RawObject(entries) =
        serde_json::from_slice(body).map_err(|e| CallbackError::MalformedBody(e.to_string()))?;

    let mut slots: [Option<Value>; FIELDS.len()] = Default::default();
    for (name, value) in entries {
        let Some(i) = FIELDS.iter().position(|f| *f == name) else {
            return Err(CallbackError::UnknownField(shorten(&name)));
        };
        if slots[i].is_some() {
            return Err(CallbackError::DuplicateField(name));
        }
        slots[i] = Some(value);
    }
    let [
        transaction_id,
        account_number,
        amount_fen,
        currency,
        status,
        paid_at,
        failure_reason,
    ] = slots;

    let transaction_id = required_str("transaction_id", transaction_id)?;
    check_transaction_id(&transaction_id)
        .map_err(|reason| invalid("transaction_id", reason.to_owned()))?;

    let account_number = required_str("account_number", account_number)?;
    let account_number = yufu_domain::AccountNumber::from_str(&account_number)
        .map_err(|e| invalid("account_number", e.to_string()))?
        .as_str()
        .to_owned();

    let amount_fen = parse_amount(amount_fen.ok_or(CallbackError::MissingField("amount_fen"))?)?;

    let currency = required_str("currency", currency)?;
    if currency != CURRENCY {
        return Err(invalid(
            "currency",
            format!("must be \"{CURRENCY}\", got {:?}", shorten(&currency)),
        ));
    }

    let status = match required_str("status", status)?.as_str() {
        "paid" => NoticeStatus::Paid,
        "failed" => NoticeStatus::Failed,
        other => {
            return Err(invalid(
                "status",
                format!("must be \"paid\" or \"failed\", got {:?}", shorten(other)),
            ));
        }
    };

    let paid_at_text = required_str("paid_at", paid_at)?;
    let paid_at = jiff::Timestamp::from_str(&paid_at_text).map_err(|_| {
        invalid(
            "paid_at",
            format!(
                "must be an RFC 3339 time with an offset, e.g. 2024-05-01T08:00:00+08:00, got {:?}",
                shorten(&paid_at_text)
            ),
        )
    })?;

    let failure_reason = match failure_reason {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(invalid("failure_reason", "must be a string".to_owned())),
    };
    if let Some(reason) = &failure_reason {
        if status == NoticeStatus::Paid {
            return Err(invalid(
                "failure_reason",
                "only allowed when status is \"failed\"".to_owned(),
            ));
        }
        if reason.chars().count() > MAX_FAILURE_REASON_CHARS {
            return Err(invalid(
                "failure_reason",
                format!("at most {MAX_FAILURE_REASON_CHARS} characters"),
            ));
        }
        if reason.chars().any(char::is_control) {
            return Err(invalid(
                "failure_reason",
                "must not contain control characters".to_owned(),
            ));
        }
    }

    Ok(PaymentNotice {
        transaction_id,
        account_number,
        amount_fen,
        currency,
        status,
        paid_at,
        failure_reason,
    })
}

/// A transaction id is 1–64 bytes of visible ASCII (`!`..=`~`: no spaces, no
/// control characters). Shared with the settlement file.
pub(crate) fn check_transaction_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        return Err("must not be empty");
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be visible ASCII characters only (no spaces)");
    }
    if id.len() > MAX_TRANSACTION_ID_LEN {
        return Err("must be at most 64 characters");
    }
    Ok(())
}

fn parse_amount(value: Value) -> Result<i64, CallbackError> {
    let Value::Number(n) = value else {
        return Err(invalid(
            "amount_fen",
            "must be a JSON integer number of fen (not a string)".to_owned(),
        ));
    };
    let Some(fen) = n.as_i64() else {
        let reason = if n.as_u64().is_some() {
            format!("must be at most {MAX_AMOUNT_FEN} fen")
        } else {
            "must be an integer number of fen, not a decimal (1 yuan = 100 fen)".to_owned()
        };
        return Err(invalid("amount_fen", reason));
    };
    if fen <= 0 {
        return Err(invalid("amount_fen", "must be positive".to_owned()));
    }
    if fen > MAX_AMOUNT_FEN {
        return Err(invalid(
            "amount_fen",
            format!("must be at most {MAX_AMOUNT_FEN} fen (100000 yuan)"),
        ));
    }
    Ok(fen)
}

fn required_str(field: &'static str, value: Option<Value>) -> Result<String, CallbackError> {
    match value {
        None | Some(Value::Null) => Err(CallbackError::MissingField(field)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid(field, "must be a string".to_owned())),
    }
}

fn invalid(field: &'static str, reason: String) -> CallbackError {
    CallbackError::InvalidField { field, reason }
}

/// Echoes at most 64 characters of untrusted text back in a message.
fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// A JSON object read as its entries in order, duplicates kept (serde_json's
/// own map would silently keep the last of two equal keys).
struct RawObject(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(RawObject(entries))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}
