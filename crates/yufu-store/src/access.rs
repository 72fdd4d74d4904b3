//! What access control, the audit log and the integrations keep: sessions,
//! API tokens, customer portal logins, the audit chain, payment callbacks,
//! refund requests and webhooks. Implemented once in SQL
//! (`access_sql.rs`) for both backends; reached through
//! [`Store::access`](crate::Store::access).
//!
//! Secrets never arrive here in the clear: sessions and tokens are stored as
//! SHA-256 hashes, passwords as argon2id PHC strings, webhook secrets sealed
//! by the caller's vault.

use async_trait::async_trait;
use yufu_domain::{AccountId, CustomerId, OrganisationId, Role, StaffUser, StaffUserId};

use crate::{Page, StoreResult};

pub use yufu_access::audit::AuditEntry;
pub use yufu_access_types::*;

/// Plain row types (kept in a module so `pub use` above reads as one list).
mod yufu_access_types {
    use super::*;

    #[derive(Clone, PartialEq, Eq, Debug)]
    pub enum SessionKind {
        Staff,
        Customer,
    }

    impl SessionKind {
        pub fn as_str(&self) -> &'static str {
            match self {
                SessionKind::Staff => "staff",
                SessionKind::Customer => "customer",
            }
        }
    }

    /// A console or portal session. `token_hash` is the SHA-256 of the
    /// cookie's secret; `id` is public.
    #[derive(Clone, PartialEq, Eq, Debug)]
    pub struct SessionRow {
        pub id: String,
        pub token_hash: String,
        pub kind: SessionKind,
        /// A staff user id or a customer id.
        pub subject_id: String,
        pub organisation_id: OrganisationId,
        pub csrf_token: String,
        pub ip: String,
        pub user_agent: String,
        pub created_at_ms: i64,
        pub last_seen_at_ms: i64,
        pub expires_at_ms: i64,
        pub revoked_at_ms: Option<i64>,
    }

    /// A scoped API token as stored (`token_hash`: SHA-256 of the token).
    #[derive(Clone, PartialEq, Eq, Debug)]
    pub struct ApiTokenRow {
        pub id: String,
        pub token_hash: String,
        pub name: String,
        pub organisation_id: OrganisationId,
        pub role: Role,
        /// `None`: every site; else site ids separated by spaces.
        pub site_scope: Option<String>,
        pub created_by: String,
        pub created_at_ms: i64,
        pub expires_at_ms: i64,
        pub revoked_at_ms: Option<i64>,
        pub last_used_at_ms: Option<i64>,
    }

    /// Which audit rows to search for.
    #[derive(Clone, PartialEq, Eq, Debug, Default)]
    pub struct AuditFilter {
        pub actor: Option<String>,
        /// Rows whose target starts with this (e.g. `account:` or a full target).
        pub target_prefix: Option<String>,
        /// Rows whose action contains this.
        pub action_contains: Option<String>,
        pub from_ms: Option<i64>,
        pub to_ms: Option<i64>,
        /// Only rows with `seq` below this (paging newest first).
        pub before_seq: Option<i64>,
        pub limit: u32,
    }

    /// One provider transaction as recorded.
    #[derive(Clone, PartialEq, Eq, Debug)]
    pub struct PaymentRow {
        pub id: String,
        pub provider: String,
        pub transaction_id: String,
        pub organisation_id: Option<OrganisationId>,
        pub account_id: Option<AccountId>,
        pub account_number: String,
        pub amount_fen: i64,
        /// `credited`, `failed` or `refused`.
        pub status: String,
        pub reason: Option<String>,
        pub paid_at_ms: i64,
        pub received_at_ms: i64,
    }

    /// A callback refused before it could be trusted.
    #[derive(Clone, PartialEq, Eq, Debug)]
    pub struct PaymentRejection {
        pub id: String,
        pub provider: String,
        pub received_at_ms: i64,
        pub source: String,
        pub code: String,
        pub reason: String,
        pub body_sha256: String,
    }

    #[derive(Clone, PartialEq, Eq, Debug)]
    pub struct RefundRequest {
        pub id: String,
        pub organisation_id: OrganisationId,
        pub account_id: AccountId,
        /// `refund` or `reversal`.
        pub kind: String,
        pub amount_fen: i64,
        pub reason: String,
        pub reverses: Option<String>,
        pub requested_by: String,
        pub requested_at_ms: i64,
        /// `pending`, `approved` or `rejected`.
        pub status: String,
        pub decided_by: Option<String>,
        pub decided_at_ms: Option<i64>,
        pub note: Option<String>,
    }

    #[derive(Clone, PartialEq, Eq, Debug)]
    pub struct WebhookRow {
        pub id: String,
        pub organisation_id: OrganisationId,
        pub url: String,
        /// Event types separated by spaces.
        pub events: String,
        /// Sealed by the caller's vault.
        pub secret: String,
        pub active: bool,
        pub created_by: String,
        pub created_at_ms: i64,
    }

    #[derive(Clone, PartialEq, Eq, Debug)]
    pub struct DeliveryRow {
        pub id: String,
        pub webhook_id: String,
        pub event: String,
        pub payload: String,
        /// `pending`, `delivered` or `failed` (gave up).
        pub status: String,
        pub attempts: i32,
        pub next_attempt_at_ms: i64,
        pub last_status: Option<i32>,
        pub last_error: Option<String>,
        pub created_at_ms: i64,
        pub delivered_at_ms: Option<i64>,
    }
}

/// Access control, audit and integration storage. Every method is one
/// transaction.
#[async_trait]
pub trait Access: Send + Sync {
    // --- staff users -----------------------------------------------------
    async fn get_staff_user(&self, id: StaffUserId) -> StoreResult<StaffUser>;
    async fn list_staff_users(
        &self,
        org: OrganisationId,
        page: &Page,
    ) -> StoreResult<Vec<StaffUser>>;
    /// The stored site scope (`None`: every site).
    async fn staff_site_scope(&self, id: StaffUserId) -> StoreResult<Option<String>>;
    async fn update_staff_user(
        &self,
        id: StaffUserId,
        role: Role,
        active: bool,
        site_scope: Option<&str>,
    ) -> StoreResult<()>;

    // --- scope lookups (site of a thing) -----------------------------------
    /// The sites of the units an account's meters are in (empty: none).
    async fn account_sites(&self, account: AccountId) -> StoreResult<Vec<yufu_domain::SiteId>>;
    /// The site of the unit a meter is in (`None`: not installed).
    async fn meter_site(
        &self,
        meter: yufu_domain::MeterId,
    ) -> StoreResult<Option<yufu_domain::SiteId>>;

    // --- sessions ----------------------------------------------------------
    async fn create_session(&self, s: &SessionRow) -> StoreResult<()>;
    async fn find_session(&self, token_hash: &str) -> StoreResult<Option<SessionRow>>;
    /// Moves `last_seen_at_ms` forward (idle expiry counts from it).
    async fn touch_session(&self, id: &str, at_ms: i64) -> StoreResult<()>;
    /// Sessions neither revoked nor past `expires_at_ms` at `now_ms`.
    async fn list_sessions(&self, org: OrganisationId, now_ms: i64)
    -> StoreResult<Vec<SessionRow>>;
    /// Whether a live session was revoked.
    async fn revoke_session(&self, id: &str, at_ms: i64) -> StoreResult<bool>;
    /// Revokes every session of a subject (password change, deactivation).
    async fn revoke_sessions_of(&self, subject_id: &str, at_ms: i64) -> StoreResult<u64>;

    // --- API tokens --------------------------------------------------------
    async fn create_api_token(&self, t: &ApiTokenRow) -> StoreResult<()>;
    async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<ApiTokenRow>>;
    async fn list_api_tokens(&self, org: OrganisationId) -> StoreResult<Vec<ApiTokenRow>>;
    async fn revoke_api_token(&self, id: &str, at_ms: i64) -> StoreResult<bool>;
    async fn touch_api_token(&self, id: &str, at_ms: i64) -> StoreResult<()>;

    // --- customer portal ---------------------------------------------------
    async fn set_customer_password(
        &self,
        account: AccountId,
        password_hash: &str,
        at_ms: i64,
    ) -> StoreResult<()>;
    async fn customer_password(&self, account: AccountId) -> StoreResult<Option<String>>;
    /// Accounts with this number in any organisation (portal login).
    async fn accounts_by_number(&self, number: &str) -> StoreResult<Vec<yufu_domain::Account>>;
    async fn accounts_of_customer(
        &self,
        customer: CustomerId,
    ) -> StoreResult<Vec<yufu_domain::Account>>;

    // --- audit -------------------------------------------------------------
    /// Appends rows already chained by the caller. A `seq` that exists is a
    /// conflict: two writers raced, and the loser must re-read the head.
    async fn append_audit(&self, rows: &[AuditEntry]) -> StoreResult<()>;
    /// The last row's `seq` and hash.
    async fn audit_head(&self) -> StoreResult<Option<(i64, String)>>;
    /// Rows with `seq > after`, in order, for verification.
    async fn audit_after(&self, after: i64, limit: u32) -> StoreResult<Vec<AuditEntry>>;
    /// Newest first.
    async fn search_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>>;

    // --- payments ----------------------------------------------------------
    /// Records a transaction; `false` when (provider, transaction id) was
    /// already recorded (nothing changes).
    async fn record_payment(&self, p: &PaymentRow) -> StoreResult<bool>;
    async fn find_payment(
        &self,
        provider: &str,
        transaction_id: &str,
    ) -> StoreResult<Option<PaymentRow>>;
    /// Payments of a provider paid within `[from_ms, to_ms)`, any status.
    async fn list_payments(
        &self,
        provider: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<PaymentRow>>;
    async fn record_payment_rejection(&self, r: &PaymentRejection) -> StoreResult<()>;
    async fn list_payment_rejections(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<PaymentRejection>>;

    // --- refunds -----------------------------------------------------------
    async fn create_refund_request(&self, r: &RefundRequest) -> StoreResult<()>;
    async fn get_refund_request(&self, id: &str) -> StoreResult<RefundRequest>;
    async fn list_refund_requests(
        &self,
        org: OrganisationId,
        status: Option<&str>,
        page: &Page,
    ) -> StoreResult<Vec<RefundRequest>>;
    /// Moves a pending request to `status`; `false` if it was not pending
    /// (someone decided first).
    async fn decide_refund_request(
        &self,
        id: &str,
        status: &str,
        decided_by: &str,
        at_ms: i64,
        note: Option<&str>,
    ) -> StoreResult<bool>;

    // --- webhooks ----------------------------------------------------------
    async fn create_webhook(&self, w: &WebhookRow) -> StoreResult<()>;
    async fn list_webhooks(&self, org: OrganisationId) -> StoreResult<Vec<WebhookRow>>;
    async fn get_webhook(&self, id: &str) -> StoreResult<WebhookRow>;
    async fn set_webhook_active(&self, id: &str, active: bool) -> StoreResult<()>;
    /// Enqueues deliveries and, when `cursor` is given, moves the webhook
    /// feeder's journal cursor to it, in one transaction.
    async fn enqueue_deliveries(
        &self,
        rows: &[DeliveryRow],
        cursor: Option<i64>,
    ) -> StoreResult<()>;
    /// The journal sequence number the webhook feeder has read up to (0: none).
    async fn webhook_cursor(&self) -> StoreResult<i64>;
    /// Pending deliveries due at `now_ms`, oldest first.
    async fn due_deliveries(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DeliveryRow>>;
    async fn update_delivery(&self, d: &DeliveryRow) -> StoreResult<()>;
    async fn list_deliveries(&self, webhook: &str, page: &Page) -> StoreResult<Vec<DeliveryRow>>;
}
