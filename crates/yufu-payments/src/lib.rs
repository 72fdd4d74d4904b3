#![doc = include_str!("../README.md")]

mod callback;
mod error;
mod money;
mod notice;
mod receipt;
mod reconcile;
mod settlement;

pub use callback::{
    DEFAULT_TOLERANCE_S, MAX_IDEMPOTENCY_KEY_LEN, SIGNATURE_HEADER, TIMESTAMP_HEADER,
    idempotency_key, sign, verify,
};
pub use error::{CallbackError, SettlementError};
pub use money::format_yuan;
pub use notice::{
    CURRENCY, MAX_AMOUNT_FEN, MAX_FAILURE_REASON_CHARS, MAX_NOTICE_BYTES, MAX_TRANSACTION_ID_LEN,
    NoticeStatus, PaymentNotice, parse_notice,
};
pub use receipt::{Lang, Receipt, receipt_html};
pub use reconcile::{
    Credited, Difference, DifferenceKind, Reconciliation, reconcile, reconciliation_csv,
};
pub use settlement::{SettlementLine, parse_settlement_csv};
