//! What the web console and the customer portal read and keep beyond the
//! API's own tables: dashboard aggregates, alarm handling by staff,
//! customer tickets and online payment orders. Implemented once in SQL
//! (`console_sql.rs`) for both backends; reached through
//! [`Store::console`](crate::Store::console).
//!
//! Every list here is paged or bounded by the caller: a console page never
//! loads more rows than it shows.

use async_trait::async_trait;

use crate::StoreResult;

/// The money that moved since an instant, per ledger entry kind.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LedgerSum {
    /// The entry kind as stored (`recharge`, `deduction`, …).
    pub kind: String,
    pub entries: i64,
    /// Sum of the signed amounts, in fen.
    pub amount_fen: i64,
}

#[async_trait]
pub trait Console: Send + Sync {
    /// Meter commands by current state (`queued`, `sent`, `failed`, …).
    async fn command_state_counts(&self) -> StoreResult<Vec<(String, i64)>>;

    /// Alarms not yet cleared by the engine nor resolved by staff, by kind.
    async fn open_alarm_counts(&self) -> StoreResult<Vec<(String, i64)>>;

    /// Ledger entries posted at or after `at_ms`, summed per kind. The
    /// ledger has no time index (it is append-only for write speed), but
    /// its `no` grows with time, so the first entry at or after `at_ms` is
    /// found by bisection and only the entries after it are read.
    async fn ledger_sums_since(&self, at_ms: i64) -> StoreResult<Vec<LedgerSum>>;

    /// Consumption (applied readings' quantities) since `at_ms`, per utility
    /// (`electricity`, `water`, `gas`), in the meters' base units.
    async fn consumption_since(&self, at_ms: i64) -> StoreResult<Vec<(String, i64)>>;

    /// Meters with an open communication-fault alarm (the gateway raises
    /// it when a meter falls silent, and clears it when data returns), per
    /// utility: the dashboard's "offline".
    async fn offline_by_utility(&self) -> StoreResult<Vec<(String, i64)>>;
}
