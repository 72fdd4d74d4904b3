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

/// A generated slice of a fleet ([`Console::insert_fleet_batch`]).
#[derive(Clone, Debug, Default)]
pub struct FleetBatch {
    pub buildings: Vec<yufu_domain::Building>,
    pub units: Vec<yufu_domain::Unit>,
    pub customers: Vec<yufu_domain::Customer>,
    pub accounts: Vec<yufu_domain::Account>,
    pub meters: Vec<yufu_domain::Meter>,
}

#[async_trait]
pub trait Console: Send + Sync {
    // --- alarms, users, audit ---

    /// One alarm with its meter's serial, organisation and site.
    async fn get_alarm(&self, id: i64) -> StoreResult<AlarmRecord>;

    /// Alarms matching `filter`, newest first (by id), at most
    /// `filter.limit`. Driven by the alarms' own indexes (open, kind,
    /// meter) so a page stays cheap at a million meters.
    async fn search_alarms(&self, filter: &AlarmSearch) -> StoreResult<Vec<AlarmRecord>>;

    /// Records that `by` acknowledged the alarm ("seen, someone is on it").
    /// `false` (nothing changes) when it was already acknowledged or
    /// resolved, or does not exist.
    async fn acknowledge_alarm(
        &self,
        id: i64,
        by: &str,
        at_ms: i64,
        note: Option<&str>,
    ) -> StoreResult<bool>;

    /// Resolves the alarm with a note, acknowledging it too when nobody
    /// had. `false` (nothing changes) when it was already resolved, or does
    /// not exist.
    async fn resolve_alarm(&self, id: i64, by: &str, at_ms: i64, note: &str) -> StoreResult<bool>;

    /// Staff users of `org` with their site scope, by id after `after`.
    async fn staff_page(
        &self,
        org: yufu_domain::OrganisationId,
        after: Option<yufu_domain::StaffUserId>,
        limit: u32,
    ) -> StoreResult<Vec<StaffSummary>>;

    /// Live sessions of `org` (neither revoked nor expired at `now_ms`),
    /// newest first by (expiry, id), those before `before` when given,
    /// with the staff user name for staff sessions.
    async fn live_sessions(
        &self,
        org: yufu_domain::OrganisationId,
        now_ms: i64,
        before: Option<(i64, String)>,
        limit: u32,
    ) -> StoreResult<Vec<SessionSummary>>;

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

    // --- load-test fleet ---

    /// Writes a generated part of a fleet (`yufu bench fleet`) in one
    /// transaction: buildings, units, customers (sealed like any other),
    /// accounts and meters (assigned, with tariff and status), in that
    /// order. For load tests at a million meters, where creating rows one
    /// transaction each would take an hour.
    async fn insert_fleet_batch(&self, batch: &FleetBatch) -> StoreResult<()>;

    // --- meter, sites, search ---

    /// A meter's readings newest first, walking its chain down from `from`
    /// (inclusive, normally the writer's `readings_head`) while the
    /// readings are taken at or after `since_ms`, plus the first older one
    /// (the starting point of the oldest advance); at most `limit` rows.
    /// Readings along a chain are in time order (late readings are refused
    /// by the engine), so the walk stops at the window's edge.
    async fn reading_chain_since(
        &self,
        from: i64,
        since_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<crate::journal::ReadingRow>>;

    /// Audit rows whose target is one of `targets` (exact), newest first,
    /// at most `limit` (index `audit_by_target`).
    async fn audit_of_targets(
        &self,
        targets: &[String],
        limit: u32,
    ) -> StoreResult<Vec<crate::access::AuditEntry>>;

    /// The meters installed in any of `units` (at most 100 units), by unit
    /// then id, at most `limit` (index `meters_by_unit`).
    async fn meters_in_units(
        &self,
        units: &[yufu_domain::UnitId],
        limit: u32,
    ) -> StoreResult<Vec<yufu_domain::Meter>>;

    /// The accounts with these ids (at most 100), by id; missing ids are
    /// left out.
    async fn accounts_by_ids(
        &self,
        ids: &[yufu_domain::AccountId],
    ) -> StoreResult<Vec<yufu_domain::Account>>;

    /// Meters of `org` whose serial starts with `prefix` (serials are
    /// stored upper-case: pass it upper-case), by serial, at most `limit`.
    /// A range on the unique (organisation, serial) index.
    async fn meters_by_serial_prefix(
        &self,
        org: yufu_domain::OrganisationId,
        prefix: &str,
        limit: u32,
    ) -> StoreResult<Vec<yufu_domain::Meter>>;

    /// Accounts of `org` whose number starts with `prefix` (upper-case), by
    /// number, at most `limit`. A range on the unique (organisation,
    /// number) index.
    async fn accounts_by_number_prefix(
        &self,
        org: yufu_domain::OrganisationId,
        prefix: &str,
        limit: u32,
    ) -> StoreResult<Vec<yufu_domain::Account>>;

    /// Customers of `org` whose name normalises to the same string as
    /// `name` (trimmed, spaces collapsed, lower-case), found by the blind
    /// index `name_index` (under the active key or an older one), at most
    /// `limit`. Names are sealed, so only whole names match.
    async fn customers_by_name(
        &self,
        org: yufu_domain::OrganisationId,
        name: &str,
        limit: u32,
    ) -> StoreResult<Vec<yufu_domain::Customer>>;

    // --- account, counter, tariffs ---

    /// An account's recharges, newest first: those whose ledger entry is
    /// older than `before_entry_no` (all when `None`), at most `limit`.
    async fn account_recharges(
        &self,
        account: yufu_domain::AccountId,
        before_entry_no: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<crate::journal::RechargeRow>>;

    /// The revisions of one tariff code, newest first, without their files.
    async fn tariff_revisions(
        &self,
        org: yufu_domain::OrganisationId,
        code: &yufu_domain::TariffCode,
        limit: u32,
    ) -> StoreResult<Vec<TariffRevisionInfo>>;

    /// One revision of a tariff code, with its file.
    async fn tariff_revision(
        &self,
        org: yufu_domain::OrganisationId,
        code: &yufu_domain::TariffCode,
        revision: i64,
    ) -> StoreResult<Option<yufu_domain::TariffRevision>>;

    // --- portal ---

    /// Stores a new ticket; subject and body are sealed with the vault.
    async fn create_ticket(&self, ticket: &TicketRow) -> StoreResult<()>;

    /// One ticket, opened; `None` when there is no such ticket.
    async fn get_ticket(&self, id: &str) -> StoreResult<Option<TicketRow>>;

    /// A customer's tickets, newest first, older than `before` (the
    /// `(created_at_ms, id)` of the last ticket seen) when given.
    async fn customer_tickets(
        &self,
        customer: yufu_domain::CustomerId,
        before: Option<(i64, &str)>,
        limit: u32,
    ) -> StoreResult<Vec<TicketRow>>;

    /// An organisation's tickets, newest first, of one status when given,
    /// older than `before` when given.
    async fn list_tickets(
        &self,
        org: yufu_domain::OrganisationId,
        status: Option<&str>,
        before: Option<(i64, &str)>,
        limit: u32,
    ) -> StoreResult<Vec<TicketRow>>;

    /// Records staff's answer (sealed) and the ticket's new status
    /// (`answered` or `closed`); false when there is no such ticket.
    async fn answer_ticket(
        &self,
        id: &str,
        reply: &str,
        replied_by: &str,
        status: &str,
        at_ms: i64,
    ) -> StoreResult<bool>;

    /// Stores a new online payment order (status `pending`).
    async fn create_payment_order(&self, order: &PaymentOrderRow) -> StoreResult<()>;

    async fn get_payment_order(&self, id: &str) -> StoreResult<Option<PaymentOrderRow>>;

    /// Moves a pending order to `paid` or `cancelled`. False when the order
    /// was not pending: the first outcome stands.
    async fn settle_payment_order(&self, id: &str, status: &str, at_ms: i64) -> StoreResult<bool>;

    /// An account's customer notifications (the engine's outbox rows),
    /// newest first, at most `limit`.
    async fn account_notifications(
        &self,
        account: yufu_domain::AccountId,
        limit: u32,
    ) -> StoreResult<Vec<NotificationRow>>;

    /// An account's ledger walked back from entry `from` (its head): the
    /// entries at or after `since_ms` and the first one before it, at most
    /// `limit`, newest first. Each step is one primary-key lookup, so the
    /// cost follows the window, not the account's age.
    async fn ledger_window(
        &self,
        from: i64,
        since_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<LedgerPoint>>;

    /// Re-seals every ticket text not sealed under the vault's active key
    /// (`yufu keys rotate`, start-up), page by page, each page one
    /// transaction: (tickets looked at, tickets re-sealed).
    async fn reseal_tickets(&self) -> StoreResult<(u64, u64)>;
}

/// A tariff revision without its file, for lists.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TariffRevisionInfo {
    pub revision: i64,
    pub name: String,
    pub created_at_ms: i64,
}

// --- portal ---

/// A complaint or question a customer sent from the portal, with staff's
/// answer. Subject, body and reply are sealed at rest (they may hold
/// personal data, AAD `tickets.{column}:{id}`); rows here carry them opened.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TicketRow {
    /// A UUIDv7: ids sort by creation time.
    pub id: String,
    pub organisation_id: yufu_domain::OrganisationId,
    pub customer_id: yufu_domain::CustomerId,
    pub account_id: Option<yufu_domain::AccountId>,
    /// `complaint` or `question`.
    pub kind: String,
    pub subject: String,
    pub body: String,
    /// `open`, `answered` or `closed`.
    pub status: String,
    pub reply: Option<String>,
    /// Who answered, as the audit log names them.
    pub replied_by: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// An online recharge started in the portal. Money moves only through the
/// provider's signed callback; the order says what was asked and whether
/// it was paid.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PaymentOrderRow {
    /// A UUIDv7; also the transaction id the provider reports.
    pub id: String,
    pub organisation_id: yufu_domain::OrganisationId,
    pub account_id: yufu_domain::AccountId,
    pub customer_id: yufu_domain::CustomerId,
    pub provider: String,
    pub amount_fen: i64,
    /// `pending`, `paid` or `cancelled`.
    pub status: String,
    pub created_at_ms: i64,
    pub paid_at_ms: Option<i64>,
}

/// A customer notification as the engine wrote it to the outbox.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NotificationRow {
    pub id: i64,
    /// `low_balance`, `cutoff_scheduled`, `cutoff_cancelled`, `recharged`.
    pub kind: String,
    /// The notification as JSON.
    pub body: String,
    pub created_at_ms: i64,
    pub sent_at_ms: Option<i64>,
}

/// The part of a ledger entry the portal's chart and forecast need.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LedgerPoint {
    pub kind: String,
    pub amount_fen: i64,
    pub at_ms: i64,
}

// --- alarms, users, audit ---

/// An alarm as the console shows it: what the engine raised and cleared,
/// what staff did about it, and where its meter is.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AlarmRecord {
    pub id: i64,
    pub meter_id: yufu_domain::MeterId,
    pub meter_serial: String,
    pub organisation_id: yufu_domain::OrganisationId,
    /// The site of the unit the meter is in; `None` when not installed.
    pub site_id: Option<yufu_domain::SiteId>,
    pub kind: String,
    pub detail: String,
    pub raised_at_ms: i64,
    /// Set by the engine when the condition went away.
    pub cleared_at_ms: Option<i64>,
    pub acked_at_ms: Option<i64>,
    /// Who acknowledged it, as in the audit log (`user:NAME`, `token:NAME`).
    pub acked_by: Option<String>,
    pub ack_note: Option<String>,
    pub resolved_at_ms: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolution_note: Option<String>,
}

/// Which alarms [`Console::search_alarms`] returns, by what happened to them.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum AlarmState {
    /// Neither cleared by the engine nor resolved by staff (acknowledged
    /// or not): what needs attention, as the dashboard counts it.
    #[default]
    Open,
    /// Open and nobody has acknowledged it yet.
    New,
    /// Open and acknowledged.
    Acknowledged,
    /// Resolved by staff.
    Resolved,
    /// Cleared by the engine (the condition went away) and not resolved.
    Cleared,
    /// Any.
    All,
}

/// Which alarms [`Console::search_alarms`] returns.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AlarmSearch {
    pub organisation: yufu_domain::OrganisationId,
    /// `None`: every site (and meters not installed); else only meters
    /// installed in these sites.
    pub sites: Option<Vec<yufu_domain::SiteId>>,
    pub state: AlarmState,
    /// Only these kinds (empty: any).
    pub kinds: Vec<String>,
    /// None of these kinds.
    pub not_kinds: Vec<String>,
    /// Only the meter with this serial.
    pub meter_serial: Option<String>,
    /// Only alarms with a smaller id (the next page).
    pub before_id: Option<i64>,
    /// 1–500.
    pub limit: u32,
}

impl AlarmSearch {
    /// The open alarms of an organisation, first page.
    pub fn open(organisation: yufu_domain::OrganisationId, limit: u32) -> Self {
        Self {
            organisation,
            sites: None,
            state: AlarmState::Open,
            kinds: Vec::new(),
            not_kinds: Vec::new(),
            meter_serial: None,
            before_id: None,
            limit,
        }
    }
}

/// A staff user for lists, with the stored site scope.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StaffSummary {
    pub id: yufu_domain::StaffUserId,
    pub username: String,
    pub display_name: String,
    pub role: yufu_domain::Role,
    pub active: bool,
    /// `None`: every site; else site ids separated by spaces.
    pub site_scope: Option<String>,
    pub created_at_ms: i64,
}

/// A live session for lists (no secrets: neither hash nor CSRF token).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SessionSummary {
    pub id: String,
    /// `staff` or `customer`.
    pub kind: String,
    pub subject_id: String,
    /// The staff user's name (staff sessions).
    pub username: Option<String>,
    pub ip: String,
    pub user_agent: String,
    pub created_at_ms: i64,
    pub last_seen_at_ms: i64,
    pub expires_at_ms: i64,
}
