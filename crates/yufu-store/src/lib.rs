#![doc = include_str!("../README.md")]

use std::fmt;

use async_trait::async_trait;
pub use yufu_domain as domain;
use yufu_domain::{
    Account, AccountId, AccountNumber, Building, BuildingId, Customer, CustomerId, Meter, MeterId,
    MeterSerial, MeterStatus, NewAccount, NewBuilding, NewCustomer, NewMeter, NewOrganisation,
    NewSite, NewStaffUser, NewUnit, Organisation, OrganisationId, Site, SiteId, StaffUser,
    StaffUserId, Unit, UnitId, Username, Utility,
};

pub mod access;
#[doc(hidden)]
pub mod access_sql;
pub mod console;
#[doc(hidden)]
pub mod console_sql;
pub mod field_sql;
pub mod journal;
#[doc(hidden)]
pub mod journal_sql;
pub mod lifecycle;
pub mod procurement_sql;
#[doc(hidden)]
pub mod sql;

pub use access::Access;
pub use console::Console;
pub use journal::Journal;
pub use lifecycle::{Field, Procurement};
pub use yufu_vault::Vault;

#[doc(hidden)]
pub use serde as __serde;
#[doc(hidden)]
pub use serde_json as __serde_json;
#[doc(hidden)]
pub use uuid as __uuid;
#[doc(hidden)]
pub use yufu_vault as __vault;

/// Columns that hold personal data (个人信息), as (table, column). The access
/// issue encrypts exactly these at rest; a test there proves no plaintext of
/// them reaches the database file. Keep this list in step with the schema.
pub const PERSONAL_DATA_COLUMNS: &[(&str, &str)] = &[
    ("customers", "name"),
    ("customers", "phone"),
    ("customers", "id_number"),
    ("customers", "address"),
    // What customers write from the portal, and staff's answers.
    ("tickets", "subject"),
    ("tickets", "body"),
    ("tickets", "reply"),
];

pub type StoreResult<T> = Result<T, StoreError>;

/// What can go wrong in the store, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No row with that key.
    #[error("{entity} {key} not found")]
    NotFound { entity: &'static str, key: String },
    /// A uniqueness rule would be broken (e.g. a second meter with the same serial).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A reference to a missing or foreign row (e.g. a unit of another organisation).
    #[error("invalid reference: {0}")]
    Reference(String),
    /// A stored value that no longer parses: a bug or a hand-edited row.
    #[error("corrupt row in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    /// The database cannot be reached or timed out.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Anything else the database said.
    #[error("database error: {0}")]
    Backend(String),
}

impl StoreError {
    pub fn not_found(entity: &'static str, key: impl fmt::Display) -> Self {
        Self::NotFound {
            entity,
            key: key.to_string(),
        }
    }
}

/// What `Store::migrate` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Migrations applied by this call.
    pub applied: usize,
    /// Where the database was copied before applying them, if it was.
    pub backup: Option<String>,
}

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Keyset paging: rows with an id greater than `after`, in id (= creation)
/// order, at most `limit` of them. Ids are UUIDv7 text, so this is stable and
/// never skips or repeats a row, unlike OFFSET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    after: String,
    limit: u32,
}

impl Page {
    /// The most rows one call returns; a limit above it is clamped.
    pub const MAX_LIMIT: u32 = 500;

    pub fn first(limit: u32) -> Self {
        Self {
            after: String::new(),
            limit: limit.clamp(1, Self::MAX_LIMIT),
        }
    }

    pub fn after(id: impl fmt::Display, limit: u32) -> Self {
        Self {
            after: id.to_string(),
            limit: limit.clamp(1, Self::MAX_LIMIT),
        }
    }

    pub fn after_key(&self) -> &str {
        &self.after
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::first(50)
    }
}

/// Narrows a meter listing. `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterFilter {
    pub utility: Option<Utility>,
    pub status: Option<MeterStatus>,
    pub unit_id: Option<UnitId>,
    pub account_id: Option<AccountId>,
}

/// Counts over the whole store, for `/metrics` and the demo summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetCounts {
    pub organisations: i64,
    pub sites: i64,
    pub buildings: i64,
    pub units: i64,
    pub customers: i64,
    pub accounts: i64,
    /// Meters by (utility, status); pairs with no meters are absent.
    pub meters: Vec<(Utility, MeterStatus, i64)>,
}

impl FleetCounts {
    pub fn meters_total(&self) -> i64 {
        self.meters.iter().map(|(_, _, n)| n).sum()
    }

    pub fn meters_of(&self, utility: Utility) -> i64 {
        self.meters
            .iter()
            .filter(|(u, _, _)| *u == utility)
            .map(|(_, _, n)| n)
            .sum()
    }
}

/// The store's key for personal data, settable after opening (the key comes
/// from configuration, never from the database). Without one, personal data
/// can be neither written nor read.
#[derive(Clone, Default)]
pub struct VaultSlot(std::sync::Arc<std::sync::RwLock<Option<std::sync::Arc<Vault>>>>);

impl VaultSlot {
    pub fn set(&self, vault: std::sync::Arc<Vault>) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(vault);
    }

    pub fn get(&self) -> StoreResult<std::sync::Arc<Vault>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                StoreError::Unavailable(
                    "personal data needs the data key: set YUFU_DATA_KEY_FILE or YUFU_DATA_KEY (see `yufu keys generate`)"
                        .to_owned(),
                )
            })
    }
}

impl fmt::Debug for VaultSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = self.0.read().map(|v| v.is_some()).unwrap_or(false);
        f.debug_tuple("VaultSlot")
            .field(&if set { "set" } else { "unset" })
            .finish()
    }
}

/// What re-sealing personal data did (`yufu keys rotate`, start-up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResealReport {
    /// Customers looked at.
    pub customers: u64,
    /// Customers whose values were (re-)sealed under the active key.
    pub resealed: u64,
}

/// Everything Yufu keeps. Implemented by `yufu-store-sqlite` and
/// `yufu-store-postgres`; both must pass `yufu-store-contract`.
///
/// An MQTT access token as stored: only its SHA-256 (hex) is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceToken {
    pub token_hash: String,
    pub organisation_id: OrganisationId,
    /// The meter it speaks for; `None` for a gateway (concentrator) token,
    /// whose devices are named by meter serial in the gateway API.
    pub meter_id: Option<MeterId>,
    /// The meter serial or the gateway's name, for people.
    pub name: String,
    pub created_at_ms: i64,
}

/// Every method is one transaction: it commits entirely or not at all.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug + 'static {
    fn backend(&self) -> Backend;

    /// The engine's journal in the same database (see [`journal`]).
    fn journal(&self) -> &dyn Journal;

    /// Sessions, tokens, the audit log, payments, refunds and webhooks (see [`access`]).
    fn access(&self) -> &dyn Access;

    /// Console and portal reads and records (dashboard aggregates, alarm
    /// handling, tickets, payment orders).
    fn console(&self) -> &dyn Console;

    /// The device lifecycle from catalogue to stock (see [`lifecycle`]).
    fn procurement(&self) -> &dyn Procurement;

    /// The device lifecycle from installation to the scrapyard.
    fn field(&self) -> &dyn Field;

    /// Gives the store the key for personal data (see [`VaultSlot`]).
    fn set_vault(&self, vault: std::sync::Arc<Vault>);

    /// Customers of `org` whose phone number normalises to the same digits
    /// as `phone` (found by the blind index, never by plaintext).
    async fn find_customers_by_phone(
        &self,
        org: OrganisationId,
        phone: &str,
    ) -> StoreResult<Vec<Customer>>;

    /// Seals every personal value not sealed under the active key (legacy
    /// plaintext rows, rows under an older key) and recomputes the blind
    /// index. Page by page, each page one transaction.
    async fn reseal_personal_data(&self) -> StoreResult<ResealReport>;

    /// Answers when the database accepts a query (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Applies pending migrations. A database that already holds data is
    /// backed up first where the backend can do it itself (SQLite).
    async fn migrate(&self) -> StoreResult<MigrationReport>;

    async fn close(&self);

    // --- device access tokens (MQTT) ----------------------------------------

    /// Stores an issued token's hash (the token itself is never stored).
    async fn add_device_token(&self, new: &DeviceToken) -> StoreResult<()>;
    /// The live (not revoked) token with this hash.
    async fn find_device_token(&self, token_hash: &str) -> StoreResult<Option<DeviceToken>>;
    /// Revokes every live token of a meter; returns how many.
    async fn revoke_device_tokens(&self, meter: MeterId, at_ms: i64) -> StoreResult<u64>;

    // --- organisation → site → building → unit -------------------------------

    async fn create_organisation(&self, new: &NewOrganisation) -> StoreResult<Organisation>;
    async fn get_organisation(&self, id: OrganisationId) -> StoreResult<Organisation>;
    async fn find_organisation_by_name(
        &self,
        name: &yufu_domain::Name,
    ) -> StoreResult<Option<Organisation>>;
    async fn list_organisations(&self, page: &Page) -> StoreResult<Vec<Organisation>>;

    async fn create_site(&self, new: &NewSite) -> StoreResult<Site>;
    async fn get_site(&self, id: SiteId) -> StoreResult<Site>;
    async fn list_sites(&self, org: OrganisationId, page: &Page) -> StoreResult<Vec<Site>>;

    async fn create_building(&self, new: &NewBuilding) -> StoreResult<Building>;
    async fn get_building(&self, id: BuildingId) -> StoreResult<Building>;
    async fn list_buildings(&self, site: SiteId, page: &Page) -> StoreResult<Vec<Building>>;

    async fn create_unit(&self, new: &NewUnit) -> StoreResult<Unit>;
    async fn get_unit(&self, id: UnitId) -> StoreResult<Unit>;
    async fn list_units(&self, building: BuildingId, page: &Page) -> StoreResult<Vec<Unit>>;
    /// The organisation a unit belongs to, through its building and site.
    async fn unit_organisation(&self, id: UnitId) -> StoreResult<OrganisationId>;

    // --- customers and accounts ----------------------------------------------

    async fn create_customer(&self, new: &NewCustomer) -> StoreResult<Customer>;
    async fn get_customer(&self, id: CustomerId) -> StoreResult<Customer>;
    async fn list_customers(&self, org: OrganisationId, page: &Page) -> StoreResult<Vec<Customer>>;

    async fn create_account(&self, new: &NewAccount) -> StoreResult<Account>;
    async fn get_account(&self, id: AccountId) -> StoreResult<Account>;
    async fn find_account_by_number(
        &self,
        org: OrganisationId,
        number: &AccountNumber,
    ) -> StoreResult<Option<Account>>;
    async fn list_accounts(&self, org: OrganisationId, page: &Page) -> StoreResult<Vec<Account>>;

    // --- meters ----------------------------------------------------------------

    async fn create_meter(&self, new: &NewMeter) -> StoreResult<Meter>;
    async fn get_meter(&self, id: MeterId) -> StoreResult<Meter>;
    async fn find_meter_by_serial(
        &self,
        org: OrganisationId,
        serial: &MeterSerial,
    ) -> StoreResult<Option<Meter>>;
    /// Meters with this communication address (DL/T 645 / CJ/T 188
    /// identification), in every organisation.
    async fn find_meters_by_comm_address(&self, address: &str) -> StoreResult<Vec<Meter>>;
    async fn list_meters(
        &self,
        org: OrganisationId,
        filter: &MeterFilter,
        page: &Page,
    ) -> StoreResult<Vec<Meter>>;
    async fn set_meter_status(&self, id: MeterId, status: MeterStatus) -> StoreResult<Meter>;
    /// Links a meter to the unit it supplies and the account it bills (either
    /// may be `None` to unlink). Both must belong to the meter's organisation.
    async fn assign_meter(
        &self,
        id: MeterId,
        unit: Option<UnitId>,
        account: Option<AccountId>,
    ) -> StoreResult<Meter>;

    /// Assigns the tariff a meter is priced with (`None` to unassign). The
    /// tariff must exist in the meter's organisation for the same utility.
    async fn set_meter_tariff(
        &self,
        id: MeterId,
        tariff: Option<&yufu_domain::TariffCode>,
    ) -> StoreResult<Meter>;

    // --- prepaid rules -----------------------------------------------------------

    /// An account's own balance rules, if an operator overrode the class default.
    async fn account_rules(
        &self,
        id: AccountId,
    ) -> StoreResult<Option<yufu_domain::balance::BalancePolicy>>;
    /// Sets (or, with `None`, removes) an account's own balance rules.
    async fn set_account_rules(
        &self,
        id: AccountId,
        rules: Option<&yufu_domain::balance::BalancePolicy>,
    ) -> StoreResult<()>;
    /// A public-area meter's sharing group, if it is one.
    async fn meter_sharing(
        &self,
        id: MeterId,
    ) -> StoreResult<Option<yufu_domain::apportion::SharedGroup>>;
    /// Makes a meter a public-area meter (or, with `None`, an ordinary one).
    /// Every member must be an account of the meter's organisation.
    async fn set_meter_sharing(
        &self,
        id: MeterId,
        group: Option<&yufu_domain::apportion::SharedGroup>,
    ) -> StoreResult<()>;
    /// A site's protected windows (none by default).
    async fn site_windows(&self, id: SiteId)
    -> StoreResult<yufu_domain::balance::ProtectedWindows>;
    async fn set_site_windows(
        &self,
        id: SiteId,
        windows: &yufu_domain::balance::ProtectedWindows,
    ) -> StoreResult<()>;

    // --- tariffs ---------------------------------------------------------------

    /// Stores a new revision of a tariff (1 for a new code, else latest + 1).
    /// A code keeps its utility across revisions.
    async fn add_tariff_revision(
        &self,
        new: &yufu_domain::NewTariffRevision,
    ) -> StoreResult<yufu_domain::TariffRevision>;
    /// The revision in force: the latest.
    async fn latest_tariff(
        &self,
        org: OrganisationId,
        code: &yufu_domain::TariffCode,
    ) -> StoreResult<Option<yufu_domain::TariffRevision>>;
    /// The latest revision of every tariff of an organisation, by code.
    async fn list_tariffs(
        &self,
        org: OrganisationId,
    ) -> StoreResult<Vec<yufu_domain::TariffRevision>>;

    // --- staff -----------------------------------------------------------------

    async fn create_staff_user(&self, new: &NewStaffUser) -> StoreResult<StaffUser>;
    async fn find_staff_user(&self, username: &Username) -> StoreResult<Option<StaffUser>>;
    async fn set_staff_password(&self, id: StaffUserId, password_hash: &str) -> StoreResult<()>;

    // --- statistics ------------------------------------------------------------

    async fn fleet_counts(&self) -> StoreResult<FleetCounts>;
}
