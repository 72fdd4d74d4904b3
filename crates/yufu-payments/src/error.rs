//! The errors of this crate. Each message can be shown as it is: to a
//! provider in a callback answer, to an operator for a settlement file.

/// Why a callback was refused: its headers ([`crate::verify`]) or its body
/// ([`crate::parse_notice`]).
///
/// [`CallbackError::code`] is a stable machine-readable string for the answer
/// body; [`CallbackError::http_status`] is the status the endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("missing header X-Yufu-Timestamp (Unix seconds of signing)")]
    MissingTimestamp,
    #[error("malformed header X-Yufu-Timestamp: expected Unix seconds as plain decimal digits")]
    MalformedTimestamp,
    #[error("missing header X-Yufu-Signature (sha256=<hex>)")]
    MissingSignature,
    #[error("malformed header X-Yufu-Signature: expected sha256= and 64 lowercase hex digits")]
    MalformedSignature,
    #[error(
        "signature does not match: HMAC-SHA256 of \"{{timestamp}}.{{raw body}}\" with this provider's secret"
    )]
    BadSignature,
    #[error(
        "timestamp is {age_s} s old, more than the {tolerance_s} s allowed: sign each delivery (and each retry) when it is sent"
    )]
    StaleTimestamp { age_s: i64, tolerance_s: i64 },
    #[error(
        "timestamp is {ahead_s} s in the future, more than the {tolerance_s} s allowed: check the sender's clock"
    )]
    FutureTimestamp { ahead_s: i64, tolerance_s: i64 },
    #[error("body is {len} bytes, more than the {max} allowed")]
    BodyTooLarge { len: usize, max: usize },
    #[error("body is not a JSON object: {0}")]
    MalformedBody(String),
    #[error("unknown field {0:?}")]
    UnknownField(String),
    #[error("field {0:?} appears more than once")]
    DuplicateField(String),
    #[error("missing field \"{0}\"")]
    MissingField(&'static str),
    #[error("field \"{field}\": {reason}")]
    InvalidField { field: &'static str, reason: String },
}

impl CallbackError {
    /// A stable snake_case code, e.g. `bad_signature`, for the `code` field of
    /// the answer body and for metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingTimestamp => "missing_timestamp",
            Self::MalformedTimestamp => "malformed_timestamp",
            Self::MissingSignature => "missing_signature",
            Self::MalformedSignature => "malformed_signature",
            Self::BadSignature => "bad_signature",
            Self::StaleTimestamp { .. } => "stale_timestamp",
            Self::FutureTimestamp { .. } => "future_timestamp",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::MalformedBody(_) => "malformed_body",
            Self::UnknownField(_) => "unknown_field",
            Self::DuplicateField(_) => "duplicate_field",
            Self::MissingField(_) => "missing_field",
            Self::InvalidField { .. } => "invalid_field",
        }
    }

    /// True when the callback could not be authenticated (its headers are
    /// missing, malformed, wrongly signed or outside the time window): the
    /// body must then not be looked at, let alone acted on.
    pub fn is_authentication_failure(&self) -> bool {
        matches!(
            self,
            Self::MissingTimestamp
                | Self::MalformedTimestamp
                | Self::MissingSignature
                | Self::MalformedSignature
                | Self::BadSignature
                | Self::StaleTimestamp { .. }
                | Self::FutureTimestamp { .. }
        )
    }

    /// The HTTP status of the answer: 401 for authentication failures, 413
    /// for an oversized body, 400 for a body that is not a JSON object, 422 for
    /// a JSON object whose fields break the contract.
    pub fn http_status(&self) -> u16 {
        match self {
            _ if self.is_authentication_failure() => 401,
            Self::BodyTooLarge { .. } => 413,
            Self::MalformedBody(_) => 400,
            _ => 422,
        }
    }
}

/// Why a settlement file was refused. Rows are numbered from 1 as a text
/// editor or spreadsheet shows them, the header being row 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    #[error("the file is neither UTF-8 nor GB18030 text")]
    Encoding,
    #[error("the file is empty: a header row naming transaction_id,amount_fen,paid_at is required")]
    Empty,
    #[error(
        "the header row has no column \"{column}\" (it needs transaction_id, amount_fen and paid_at)"
    )]
    MissingColumn { column: &'static str },
    #[error("the header row names column \"{column}\" more than once")]
    DuplicateColumn { column: &'static str },
    #[error("row {row}: {message}")]
    Malformed { row: u64, message: String },
    #[error("row {row}, column {column}: no value")]
    MissingValue { row: u64, column: &'static str },
    #[error("row {row}, column {column}: {value:?} {reason}")]
    InvalidValue {
        row: u64,
        column: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error(
        "row {row}, column transaction_id: {transaction_id:?} already appears on row {first_row}"
    )]
    DuplicateTransaction {
        transaction_id: String,
        row: u64,
        first_row: u64,
    },
}

impl SettlementError {
    /// The 1-based row the error is about, if it is about one row.
    pub fn row(&self) -> Option<u64> {
        match self {
            Self::Malformed { row, .. }
            | Self::MissingValue { row, .. }
            | Self::InvalidValue { row, .. }
            | Self::DuplicateTransaction { row, .. } => Some(*row),
            Self::Encoding | Self::Empty => None,
            Self::MissingColumn { .. } | Self::DuplicateColumn { .. } => Some(1),
        }
    }

    /// The column the error is about, if it is about one column.
    pub fn column(&self) -> Option<&'static str> {
        match self {
            Self::MissingColumn { column }
            | Self::DuplicateColumn { column }
            | Self::MissingValue { column, .. }
            | Self::InvalidValue { column, .. } => Some(column),
            Self::DuplicateTransaction { .. } => Some("transaction_id"),
            Self::Encoding | Self::Empty | Self::Malformed { .. } => None,
        }
    }
}
