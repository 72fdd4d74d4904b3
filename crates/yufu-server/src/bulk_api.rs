//! Bulk data and finance exports: CSV import and export of customers,
//! accounts, meters and devices (the layouts are `yufu-csvio`'s, see its
//! README), and the ledger journal and daily settlement for accounting
//! systems.
//!
//! The import logic ([`import`]) and the export ([`export`]) are public so
//! that `yufu import` runs exactly the same checks and writes as
//! `POST /api/v1/import/{kind}`.
//!
//! # Import: every check first, then the writes
//!
//! A file goes in completely or not at all *as far as the store allows*:
//!
//! 1. The whole file is parsed and validated (`yufu_csvio::parse`: every
//!    cell, every row, keys unique within the file).
//! 2. What the rows refer to is checked against a snapshot of the
//!    organisation, paged out of the store: account numbers, serials, the
//!    site → building → unit tree, tariffs (`yufu_csvio::check_references`),
//!    plus the rule the store would otherwise refuse on write: a tariff must
//!    be for the meter's utility.
//! 3. Only a file without a single problem is written, row by row in file
//!    order. Nothing is written for a dry run.
//!
//! The store has no transaction spanning several calls: a customer row is
//! two writes (customer, then account), a meter row up to four (create,
//! assign, tariff, status). Since every rule is checked before the first
//! write, a write can only fail for a reason the checks cannot see: the
//! database going away, or another writer taking an account number or serial
//! between the snapshot and the write (imports in one process run one at a
//! time, so two uploads do not race each other; the single-row API or a
//! second process still can). **Such a failure is not rolled back**: nothing
//! is deleted. The answer names the failed row and step, says that every row
//! before it was written (rows are written in file order) and what of the
//! failed row was (e.g. "customer created without its account"): over HTTP
//! as a 500/503 `import_incomplete` error whose message says so, with the
//! headers `X-Yufu-Rows-Written` and `X-Yufu-Last-Written-Row`; in
//! [`ImportReport::failure`] for the CLI. Importing the same file again then
//! reports the written rows as already existing; delete those lines (the
//! rows up to the last written one) and import the rest.
//!
//! Over HTTP the import runs in a task of its own: a client or proxy that
//! stops waiting for a large file does not stop it half-way; it finishes,
//! logged and audited, and the client can see the outcome by exporting.
//!
//! A `meters` row becomes a meter assigned to its unit (and account), priced
//! with its tariff and marked `installed`; a `devices` row a meter in stock.
//! Meters written with an account and a tariff are handed to the engine
//! (the same configuration sync as `PUT /api/v1/meters/{id}/tariff`), in
//! batches. Without a running engine (the CLI), the engine picks them up
//! when `yufu serve` next starts (its start-up reconcile).
//!
//! # Export
//!
//! A file in the same layout, which re-imports into another organisation
//! with the same site tree and tariffs: `customers` holds each customer with
//! their first account (the oldest); `accounts` every further account, with
//! the first account's number as `customer_account_number`; `meters` the
//! meters in a unit; `devices` the meters in no unit. Closed accounts are
//! exported like open ones (an import opens them). A customer without any
//! account cannot be written in the layout and is left out; a meter linked
//! to an account or tariff but in no unit is exported as a device, without
//! the link. How many rows were left out is in `X-Yufu-Left-Out`.
//!
//! # Finance exports
//!
//! The journal and the settlement read the ledger through what the store
//! offers today: each account's entry chain, newest first, from the head the
//! engine holds. Entries are selected by their instant `at` (the payment for
//! recharges, the reading for consumption). Because readings can arrive
//! late, an account's walk stops only at an entry that is both dated before
//! the window and was *posted* (journal time) more than a day before it;
//! entries of a meter whose clock runs more than a day ahead of its
//! delivery may therefore be missed, and a past day's settlement still
//! grows when late readings of that day arrive. The cost is about one chain page and
//! one journal look-up per account plus the entries in the window; a store
//! method listing ledger entries by posting order (`no`) would make this a
//! single range scan.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use yufu_csvio::{AccountRow, CustomerRow, Existing, Installation, MeterRow, Parsed, Row};
use yufu_domain::ledger::Cause;
use yufu_domain::{
    Account, AccountId, BuildingId, CustomerId, Meter, MeterId, MeterStatus, NewAccount,
    NewCustomer, NewMeter, OrganisationId, SiteId, TariffCode, UnitId, Utility,
};
use yufu_store::journal::{EntryRow, JournalRecord};
use yufu_store::{MeterFilter, Page, Store, StoreError, StoreResult};
use yufu_writer::Writer;

pub use yufu_csvio::Kind;

use crate::audit_log::AuditNote;
use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::{AppState, WebError};

/// The largest upload `POST /api/v1/import/{kind}` reads.
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;
/// The longest window of one journal export.
pub const MAX_JOURNAL_DAYS: i64 = 92;
/// The most entries one journal export holds; ask for a shorter window.
pub const MAX_JOURNAL_ENTRIES: usize = 500_000;
/// Meters handed to the engine per configuration request after an import.
const SYNC_BATCH: usize = 200;
/// Ledger entries read per step of an account's chain.
const CHAIN_PAGE: u32 = 200;
/// How far ahead of its delivery a reading's instant may be and still be
/// found by the finance exports (see the module docs).
const CLOCK_AHEAD_MS: i64 = 24 * 3600 * 1000;

// --- the shared import ---------------------------------------------------------

/// One thing wrong with a file (`yufu_csvio::Problem`): never quotes a
/// personal-data value, so it may be shown and logged as it is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ProblemOut {
    /// 1-based line of the file; the header is row 1.
    pub row: usize,
    /// The column as named in the header, when one cell is at fault.
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for ProblemOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(f, "row {}, column {column}: {}", self.row, self.message),
            None => write!(f, "row {}: {}", self.row, self.message),
        }
    }
}

/// Where writing stopped (see the module docs: nothing is rolled back).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct WriteFailure {
    /// The file row whose write failed. Every row before it was written.
    pub row: usize,
    /// The last row written, if any (rows are written in file order).
    pub last_written_row: Option<usize>,
    /// The write that failed: `create_customer`, `create_account`,
    /// `create_meter`, `assign_meter`, `set_meter_tariff` or `set_meter_status`.
    pub step: String,
    /// What of the failed row had been written before the failure.
    pub partial: Option<String>,
    /// The store's error.
    pub message: String,
    /// The database was unreachable (try again later) rather than refusing.
    pub unavailable: bool,
    /// The database failed in a way only its log explains (not a refusal
    /// like a taken key): [`WriteFailure::public`] leaves its text out.
    pub internal: bool,
}

impl WriteFailure {
    /// The same sentence for an API client: the text of an internal
    /// database error (SQL details) is replaced by a pointer to the log.
    pub fn public(&self) -> String {
        let mut shown = self.clone();
        if self.unavailable {
            shown.message = "the database is unavailable".into();
        } else if self.internal {
            shown.message = "internal error; it has been logged".into();
        }
        shown.to_string()
    }
}

impl fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "writing stopped at row {} ({}: {}); ",
            self.row, self.step, self.message
        )?;
        match self.last_written_row {
            Some(last) => write!(f, "rows up to row {last} were written and stay written")?,
            None => write!(f, "no earlier row was written")?,
        }
        if let Some(partial) = &self.partial {
            write!(f, "; of row {}: {partial}", self.row)?;
        }
        write!(
            f,
            "; nothing was rolled back: remove the written rows from the file before importing the rest"
        )
    }
}

/// What an import found and did.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// customers, accounts, meters or devices.
    pub kind: String,
    /// How the file was read: `utf-8`, `utf-8-bom` or `gb18030`.
    pub encoding: String,
    /// Data rows that passed every check (all of them when `problems` is empty).
    pub rows: usize,
    /// Everything wrong with the file, sorted by row. Any problem: nothing written.
    pub problems: Vec<ProblemOut>,
    /// Checked only, nothing written.
    pub dry_run: bool,
    /// Every row was written.
    pub committed: bool,
    /// Rows written, in file order.
    pub written: usize,
    /// Set when writing stopped part-way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<WriteFailure>,
    /// Things to know that did not stop the import.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What exists in the organisation, paged out of the store before checking.
#[derive(Debug, Default)]
struct Snapshot {
    /// Account number → (account, its customer).
    accounts: HashMap<String, (AccountId, CustomerId)>,
    serials: HashSet<String>,
    /// (site code, building code, unit code) → unit.
    units: HashMap<(String, String, String), UnitId>,
    /// Tariff code → utility.
    tariffs: HashMap<String, Utility>,
}

impl Existing for Snapshot {
    fn account_exists(&self, number: &str) -> bool {
        self.accounts.contains_key(number)
    }
    fn serial_exists(&self, serial: &str) -> bool {
        self.serials.contains(serial)
    }
    fn unit_exists(&self, site_code: &str, building_code: &str, unit_code: &str) -> bool {
        self.units.contains_key(&(
            site_code.to_owned(),
            building_code.to_owned(),
            unit_code.to_owned(),
        ))
    }
    fn tariff_exists(&self, code: &str) -> bool {
        self.tariffs.contains_key(code)
    }
}

async fn all_accounts(store: &dyn Store, org: OrganisationId) -> StoreResult<Vec<Account>> {
    let mut out = Vec::new();
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let rows = store.list_accounts(org, &page).await?;
        let Some(last) = rows.last() else { break };
        page = Page::after(last.id, Page::MAX_LIMIT);
        out.extend(rows);
    }
    Ok(out)
}

/// Every unit of the organisation with its (site, building, unit) codes and site.
async fn site_tree(
    store: &dyn Store,
    org: OrganisationId,
) -> StoreResult<Vec<((String, String, String), UnitId, SiteId)>> {
    let mut out = Vec::new();
    let mut site_page = Page::first(Page::MAX_LIMIT);
    loop {
        let sites = store.list_sites(org, &site_page).await?;
        let Some(last_site) = sites.last() else { break };
        site_page = Page::after(last_site.id, Page::MAX_LIMIT);
        for site in &sites {
            let mut building_page = Page::first(Page::MAX_LIMIT);
            loop {
                let buildings = store.list_buildings(site.id, &building_page).await?;
                let Some(last_building) = buildings.last() else {
                    break;
                };
                building_page = Page::after(last_building.id, Page::MAX_LIMIT);
                for building in &buildings {
                    let mut unit_page = Page::first(Page::MAX_LIMIT);
                    loop {
                        let units = store.list_units(building.id, &unit_page).await?;
                        let Some(last_unit) = units.last() else { break };
                        unit_page = Page::after(last_unit.id, Page::MAX_LIMIT);
                        for unit in &units {
                            out.push((
                                (
                                    site.code.as_str().to_owned(),
                                    building.code.as_str().to_owned(),
                                    unit.code.as_str().to_owned(),
                                ),
                                unit.id,
                                site.id,
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Calls `visit` with each page of the organisation's meters.
async fn each_meter_page(
    store: &dyn Store,
    org: OrganisationId,
    mut visit: impl FnMut(Vec<Meter>),
) -> StoreResult<()> {
    let filter = MeterFilter::default();
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let meters = store.list_meters(org, &filter, &page).await?;
        let Some(last) = meters.last() else { break };
        page = Page::after(last.id, Page::MAX_LIMIT);
        visit(meters);
    }
    Ok(())
}

/// Reads only what `kind` refers to.
async fn snapshot(store: &dyn Store, org: OrganisationId, kind: Kind) -> StoreResult<Snapshot> {
    let mut s = Snapshot::default();
    if matches!(kind, Kind::Customers | Kind::Accounts | Kind::Meters) {
        for a in all_accounts(store, org).await? {
            s.accounts
                .insert(a.number.as_str().to_owned(), (a.id, a.customer_id));
        }
    }
    if matches!(kind, Kind::Meters | Kind::Devices) {
        let serials = &mut s.serials;
        each_meter_page(store, org, |meters| {
            serials.extend(meters.into_iter().map(|m| m.serial.as_str().to_owned()));
        })
        .await?;
    }
    if kind == Kind::Meters {
        for (codes, unit, _) in site_tree(store, org).await? {
            s.units.insert(codes, unit);
        }
        for t in store.list_tariffs(org).await? {
            s.tariffs.insert(t.code.as_str().to_owned(), t.utility);
        }
    }
    Ok(s)
}

/// The rule `set_meter_tariff` would refuse on write: a tariff of another
/// utility. Checked up front so that writes only fail for infrastructure.
fn check_tariff_utilities(parsed: &mut Parsed, s: &Snapshot) {
    let mut found = Vec::new();
    parsed.rows.retain(|(row, value)| {
        let Row::Meter(MeterRow {
            meter,
            installation:
                Some(Installation {
                    tariff_code: Some(code),
                    ..
                }),
        }) = value
        else {
            return true;
        };
        match s.tariffs.get(code) {
            Some(utility) if *utility != meter.utility => {
                found.push(yufu_csvio::Problem {
                    row: *row,
                    column: Some("tariff_code".to_owned()),
                    message: format!(
                        "tariff {code} is for {utility} meters, not {}",
                        meter.utility
                    ),
                });
                false
            }
            _ => true,
        }
    });
    if !found.is_empty() {
        parsed.problems.extend(found);
        parsed.problems.sort_by_key(|p| p.row);
    }
}

/// Imports run one at a time in a process, so two uploads never race
/// between their checks and their writes.
static IMPORTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Checks a file of `kind` completely and, when it has no problem and this
/// is not a dry run, writes every row into `org` (see the module docs for
/// what "all or nothing" means here). `progress(done, total)` is called as
/// rows are written. `writer`: the running engine, told about imported
/// meters; `None` leaves that to its next start.
///
/// `Err` only for failures before anything was written (the organisation
/// does not exist, the snapshot could not be read); a failure while writing
/// is in [`ImportReport::failure`].
pub async fn import(
    store: &dyn Store,
    writer: Option<&Writer>,
    org: OrganisationId,
    kind: Kind,
    bytes: Bytes,
    dry_run: bool,
    mut progress: impl FnMut(usize, usize) + Send,
) -> StoreResult<ImportReport> {
    store.get_organisation(org).await?;
    // Parsing 100 000 rows takes a moment: off the async workers.
    let mut parsed = tokio::task::spawn_blocking(move || yufu_csvio::parse(kind, org, &bytes))
        .await
        .map_err(|e| StoreError::Backend(format!("the CSV parser failed: {e}")))?;
    let _one_at_a_time = if dry_run {
        None
    } else {
        Some(IMPORTS.lock().await)
    };
    let snap = snapshot(store, org, kind).await?;
    yufu_csvio::check_references(&mut parsed, &snap);
    check_tariff_utilities(&mut parsed, &snap);
    let mut report = ImportReport {
        kind: kind.as_str().to_owned(),
        encoding: parsed.encoding.as_str().to_owned(),
        rows: parsed.rows.len(),
        problems: parsed
            .problems
            .iter()
            .map(|p| ProblemOut {
                row: p.row,
                column: p.column.clone(),
                message: p.message.clone(),
            })
            .collect(),
        dry_run,
        committed: false,
        written: 0,
        failure: None,
        warnings: Vec::new(),
    };
    if dry_run || !parsed.is_ok() {
        return Ok(report);
    }

    let total = parsed.rows.len();
    let mut last_written_row = None;
    let mut billed: Vec<Meter> = Vec::new();
    progress(0, total);
    for (row, value) in &parsed.rows {
        if let Err(failed) = write_row(store, org, &snap, value, &mut billed).await {
            report.failure = Some(WriteFailure {
                row: *row,
                last_written_row,
                step: failed.step.to_owned(),
                partial: failed.partial,
                message: failed.error.to_string(),
                unavailable: matches!(failed.error, StoreError::Unavailable(_)),
                internal: !matches!(
                    failed.error,
                    StoreError::Unavailable(_)
                        | StoreError::NotFound { .. }
                        | StoreError::Conflict(_)
                        | StoreError::Reference(_)
                ),
            });
            break;
        }
        report.written += 1;
        last_written_row = Some(*row);
        progress(report.written, total);
    }
    report.committed = report.failure.is_none();
    if !billed.is_empty() {
        match writer {
            Some(writer) => {
                if let Err(e) = sync_meters(store, writer, &billed).await {
                    tracing::warn!(error = %e, "imported meters not all handed to the engine");
                    report.warnings.push(format!(
                        "the engine could not load every imported meter now ({e}); it will at its next start"
                    ));
                }
            }
            None => report.warnings.push(format!(
                "{} meter(s) with an account and a tariff are billed once the engine loads them: at the next start of `yufu serve`",
                billed.len()
            )),
        }
    }
    Ok(report)
}

/// A write that failed: which step, what of the row was written before it.
struct Failed {
    step: &'static str,
    partial: Option<String>,
    error: StoreError,
}

fn failed(step: &'static str, partial: Option<String>) -> impl FnOnce(StoreError) -> Failed {
    move |error| Failed {
        step,
        partial,
        error,
    }
}

async fn write_row(
    store: &dyn Store,
    org: OrganisationId,
    snap: &Snapshot,
    value: &Row,
    billed: &mut Vec<Meter>,
) -> Result<(), Failed> {
    match value {
        Row::Customer(CustomerRow {
            account_number,
            account_class,
            customer,
        }) => {
            let created = store
                .create_customer(customer)
                .await
                .map_err(failed("create_customer", None))?;
            store
                .create_account(&NewAccount {
                    organisation_id: org,
                    number: account_number.clone(),
                    customer_id: created.id,
                    class: *account_class,
                })
                .await
                .map_err(failed(
                    "create_account",
                    Some(format!(
                        "customer {} was created without its account",
                        created.id
                    )),
                ))?;
        }
        Row::Account(AccountRow {
            account_number,
            customer_account_number,
            account_class,
        }) => {
            let Some((_, customer_id)) = snap.accounts.get(customer_account_number.as_str()) else {
                // check_references made sure it exists: a bug if reached.
                return Err(Failed {
                    step: "create_account",
                    partial: None,
                    error: StoreError::Reference(format!("no account {customer_account_number}")),
                });
            };
            store
                .create_account(&NewAccount {
                    organisation_id: org,
                    number: account_number.clone(),
                    customer_id: *customer_id,
                    class: *account_class,
                })
                .await
                .map_err(failed("create_account", None))?;
        }
        Row::Device(MeterRow { meter, .. }) => {
            store
                .create_meter(meter)
                .await
                .map_err(failed("create_meter", None))?;
        }
        Row::Meter(MeterRow {
            meter,
            installation,
        }) => {
            let Some(i) = installation else {
                return Err(Failed {
                    step: "assign_meter",
                    partial: None,
                    error: StoreError::Reference("a meters row without its unit".into()),
                });
            };
            let key = (
                i.site_code.clone(),
                i.building_code.clone(),
                i.unit_code.clone(),
            );
            let (Some(unit), Ok(account)) = (
                snap.units.get(&key).copied(),
                i.account_number
                    .as_ref()
                    .map(|n| snap.accounts.get(n.as_str()).map(|(a, _)| *a).ok_or(()))
                    .transpose(),
            ) else {
                return Err(Failed {
                    step: "assign_meter",
                    partial: None,
                    error: StoreError::Reference("unit or account not in the snapshot".into()),
                });
            };
            let tariff: Option<TariffCode> = match &i.tariff_code {
                Some(code) => Some(code.parse().map_err(|e: yufu_domain::DomainError| Failed {
                    step: "set_meter_tariff",
                    partial: None,
                    error: StoreError::Reference(e.to_string()),
                })?),
                None => None,
            };
            let created = store
                .create_meter(meter)
                .await
                .map_err(failed("create_meter", None))?;
            let serial = &created.serial;
            store
                .assign_meter(created.id, Some(unit), account)
                .await
                .map_err(failed(
                    "assign_meter",
                    Some(format!(
                        "meter {serial} was created (in stock) but not assigned"
                    )),
                ))?;
            if let Some(code) = &tariff {
                store
                    .set_meter_tariff(created.id, Some(code))
                    .await
                    .map_err(failed(
                        "set_meter_tariff",
                        Some(format!(
                            "meter {serial} was created and assigned, without its tariff"
                        )),
                    ))?;
            }
            let installed = store
                .set_meter_status(created.id, MeterStatus::Installed)
                .await
                .map_err(failed(
                    "set_meter_status",
                    Some(format!(
                        "meter {serial} was created, assigned and priced, but is still marked in stock"
                    )),
                ))?;
            if installed.account_id.is_some() && installed.tariff_code.is_some() {
                billed.push(installed);
            }
        }
    }
    Ok(())
}

/// Hands imported meters to the engine, a batch per configuration request.
async fn sync_meters(
    store: &dyn Store,
    writer: &Writer,
    meters: &[Meter],
) -> Result<(), yufu_writer::WriterError> {
    let mut sites = yufu_writer::sync::SiteCache::default();
    for batch in meters.chunks(SYNC_BATCH) {
        let mut changes = Vec::new();
        for meter in batch {
            changes.extend(yufu_writer::sync::meter_changes(store, &mut sites, meter).await?);
        }
        writer.configure(changes).await?;
    }
    Ok(())
}

// --- the shared export ---------------------------------------------------------

/// An exported file.
#[derive(Clone, Debug)]
pub struct ExportFile {
    /// UTF-8 with BOM, CRLF, the header of the kind.
    pub bytes: Vec<u8>,
    /// Data rows in the file.
    pub rows: usize,
    /// Records the layout cannot hold (see the module docs).
    pub left_out: usize,
}

/// The organisation's data of `kind` as a file that re-imports.
pub async fn export(store: &dyn Store, org: OrganisationId, kind: Kind) -> StoreResult<ExportFile> {
    store.get_organisation(org).await?;
    let mut rows: Vec<Row> = Vec::new();
    let mut left_out = 0usize;
    match kind {
        Kind::Customers | Kind::Accounts => {
            let accounts = all_accounts(store, org).await?;
            // Accounts come in creation order: a customer's first is their oldest.
            let mut first: HashMap<CustomerId, &Account> = HashMap::new();
            for a in &accounts {
                first.entry(a.customer_id).or_insert(a);
            }
            if kind == Kind::Accounts {
                for a in &accounts {
                    match first.get(&a.customer_id) {
                        Some(f) if f.id != a.id => rows.push(Row::Account(AccountRow {
                            account_number: a.number.clone(),
                            customer_account_number: f.number.clone(),
                            account_class: a.class,
                        })),
                        _ => {}
                    }
                }
            } else {
                let mut page = Page::first(Page::MAX_LIMIT);
                loop {
                    let customers = store.list_customers(org, &page).await?;
                    let Some(last) = customers.last() else { break };
                    page = Page::after(last.id, Page::MAX_LIMIT);
                    for c in customers {
                        let Some(account) = first.get(&c.id) else {
                            left_out += 1;
                            continue;
                        };
                        rows.push(Row::Customer(CustomerRow {
                            account_number: account.number.clone(),
                            account_class: account.class,
                            customer: NewCustomer {
                                organisation_id: org,
                                kind: c.kind,
                                name: c.name,
                                phone: c.phone,
                                id_number: c.id_number,
                                address: c.address,
                            },
                        }));
                    }
                }
            }
        }
        Kind::Meters | Kind::Devices => {
            let (numbers, units) = if kind == Kind::Meters {
                let numbers: HashMap<AccountId, String> = all_accounts(store, org)
                    .await?
                    .into_iter()
                    .map(|a| (a.id, a.number.as_str().to_owned()))
                    .collect();
                let units: HashMap<UnitId, (String, String, String)> = site_tree(store, org)
                    .await?
                    .into_iter()
                    .map(|(codes, unit, _)| (unit, codes))
                    .collect();
                (numbers, units)
            } else {
                (HashMap::new(), HashMap::new())
            };
            let mut bad: Option<StoreError> = None;
            each_meter_page(store, org, |meters| {
                for m in meters {
                    let new = NewMeter {
                        organisation_id: org,
                        serial: m.serial.clone(),
                        utility: m.utility,
                        model: m.model.clone(),
                        protocol: m.protocol,
                        comm_address: m.comm_address.clone(),
                        multiplier: m.multiplier,
                    };
                    match (kind, m.unit_id) {
                        (Kind::Devices, None) => {
                            if m.account_id.is_some() || m.tariff_code.is_some() {
                                left_out += 1; // the link; the meter itself is exported
                            }
                            rows.push(Row::Device(MeterRow {
                                meter: new,
                                installation: None,
                            }));
                        }
                        (Kind::Meters, Some(unit)) => {
                            let Some((site, building, unit_code)) = units.get(&unit).cloned()
                            else {
                                bad.get_or_insert(StoreError::Corrupt {
                                    table: "meters",
                                    reason: format!(
                                        "meter {} is in unit {unit} of no site of its organisation",
                                        m.id
                                    ),
                                });
                                continue;
                            };
                            let account_number = match m.account_id {
                                Some(a) => match numbers.get(&a).map(|n| n.parse()) {
                                    Some(Ok(n)) => Some(n),
                                    _ => {
                                        bad.get_or_insert(StoreError::Corrupt {
                                            table: "meters",
                                            reason: format!(
                                                "meter {} bills account {a} of no number",
                                                m.id
                                            ),
                                        });
                                        continue;
                                    }
                                },
                                None => None,
                            };
                            rows.push(Row::Meter(MeterRow {
                                meter: new,
                                installation: Some(Installation {
                                    site_code: site,
                                    building_code: building,
                                    unit_code,
                                    account_number,
                                    tariff_code: m
                                        .tariff_code
                                        .as_ref()
                                        .map(|t| t.as_str().to_owned()),
                                }),
                            }));
                        }
                        _ => {}
                    }
                }
            })
            .await?;
            if let Some(e) = bad {
                return Err(e);
            }
        }
    }
    let cells: Vec<Vec<String>> = rows.iter().map(Row::to_cells).collect();
    let bytes = yufu_csvio::export(kind, &cells)
        // Only a row of the wrong length fails, which `to_cells` rules out.
        .map_err(|e| StoreError::Backend(format!("could not write the CSV file: {e}")))?;
    Ok(ExportFile {
        bytes,
        rows: rows.len(),
        left_out,
    })
}

// --- HTTP: import and export ---------------------------------------------------

/// `Query` whose rejections are our error body (400), not axum's plain text.
pub(crate) struct Params<T>(pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|e| WebError::BadRequest(e.body_text()))
    }
}

fn error_body(status: StatusCode, code: &'static str, message: String) -> Response {
    (status, Json(ErrorBody { code, message })).into_response()
}

/// The organisation asked for, or the caller's own.
fn organisation(given: Option<&str>, caller: &Caller) -> Result<OrganisationId, WebError> {
    match given {
        Some(id) => id.parse().map_err(|e: yufu_domain::DomainError| {
            WebError::BadRequest(format!("organisation_id: {e}"))
        }),
        None => Ok(caller.principal.organisation),
    }
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportQuery {
    /// The organisation to import into; default: the caller's.
    organisation_id: Option<String>,
    /// `true`: check the file and report every problem, write nothing.
    dry_run: Option<bool>,
}

/// Import a CSV file of `customers`, `accounts`, `meters` or `devices`
/// (layouts: yufu-csvio's README; UTF-8, UTF-8 with BOM or GB18030; at most
/// 32 MiB and 100 000 rows). Every row is checked first; a file with any
/// problem writes nothing (422, every problem with its row and column).
/// `dry_run=true` only checks (200). Otherwise every row is written (200,
/// `committed`). A write failing part-way is not rolled back: the 500/503
/// `import_incomplete` error names the failed row and what was written, as do
/// the headers `X-Yufu-Rows-Written` and `X-Yufu-Last-Written-Row`.
#[utoipa::path(post, path = "/api/v1/import/{kind}", tag = "data",
    params(("kind" = String, Path, description = "customers, accounts, meters or devices"), ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "The CSV file, any content type"),
    responses((status = 200, body = ImportReport, description = "Checked (dry run) or written (committed)"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "Unknown kind or organisation"),
        (status = 413, body = ErrorBody, description = "More than 32 MiB"),
        (status = 422, body = ImportReport, description = "The file has problems: nothing was written"),
        (status = 500, body = ErrorBody, description = "Writing stopped part-way (`import_incomplete`), or an internal error"),
        (status = 503, body = ErrorBody, description = "The database is unavailable")))]
pub(crate) async fn import_file(
    State(s): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
    Params(q): Params<ImportQuery>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Response, WebError> {
    let kind = match kind.parse::<Kind>() {
        Ok(k) => k,
        Err(e) => {
            return Ok(error_body(
                StatusCode::NOT_FOUND,
                "not_found",
                e.to_string(),
            ));
        }
    };
    let org = organisation(q.organisation_id.as_deref(), &caller)?;
    let too_large = || {
        error_body(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the file is larger than {} MiB: split it into several files",
                MAX_UPLOAD_BYTES / (1024 * 1024)
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD_BYTES as u64) {
        return Ok(too_large());
    }
    let bytes = match axum::body::to_bytes(body, MAX_UPLOAD_BYTES).await {
        Ok(b) => b,
        Err(e) if e.to_string().contains("length limit") => return Ok(too_large()),
        Err(e) => {
            return Err(WebError::BadRequest(format!(
                "could not read the file: {e}"
            )));
        }
    };
    let dry_run = q.dry_run.unwrap_or(false);
    // A big file takes minutes to write. The import runs in a task of its
    // own, so a client (or proxy) that gives up waiting cannot stop it
    // half-way; it then finishes unseen and is audited here.
    let (done, answer) = tokio::sync::oneshot::channel();
    let task = s.clone();
    let who = caller.clone();
    tokio::spawn(async move {
        let result = import(
            task.store.as_ref(),
            Some(&task.writer),
            org,
            kind,
            bytes,
            dry_run,
            |_, _| {},
        )
        .await;
        if let Err(Ok(report)) = done.send(result) {
            let (status, note) = outcome(&report, org);
            tracing::warn!(organisation = %org, %kind, written = report.written, "the client left before its import finished");
            task.security
                .audit()
                .record(
                    &who.principal.audit_name(),
                    &who.source,
                    &Method::POST,
                    "/api/v1/import/{kind}",
                    &format!("/api/v1/import/{kind}"),
                    Some(note),
                    status,
                )
                .await;
        }
    });
    let report = answer
        .await
        .map_err(|_| WebError::Unavailable("the import stopped unexpectedly".into()))??;
    let (status, note) = outcome(&report, org);
    if let Some(f) = &report.failure {
        tracing::error!(organisation = %org, %kind, failure = %f, "import stopped part-way");
        let mut r = error_body(status, "import_incomplete", f.public());
        let h = r.headers_mut();
        h.insert("x-yufu-rows-written", HeaderValue::from(report.written));
        if let Some(last) = f.last_written_row {
            h.insert("x-yufu-last-written-row", HeaderValue::from(last));
        }
        return Ok(note.on(r));
    }
    Ok(note.on((status, Json(report))))
}

/// The status of an import's answer and its audit note.
fn outcome(report: &ImportReport, org: OrganisationId) -> (StatusCode, AuditNote) {
    let status = match &report.failure {
        Some(f) if f.unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Some(_) => StatusCode::INTERNAL_SERVER_ERROR,
        None if report.problems.is_empty() => StatusCode::OK,
        None => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let note = AuditNote {
        target: Some(format!("organisation:{org}")),
        after: Some(serde_json::json!({
            "kind": report.kind,
            "rows": report.rows,
            "problems": report.problems.len(),
            "dry_run": report.dry_run,
            "committed": report.committed,
            "written": report.written,
            "failed_row": report.failure.as_ref().map(|f| f.row),
        })),
        ..AuditNote::default()
    };
    (status, note)
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportQuery {
    /// The organisation to export; default: the caller's.
    organisation_id: Option<String>,
}

/// Export an organisation's `customers`, `accounts`, `meters` or `devices` as
/// CSV in the import layout (UTF-8 with BOM, CRLF; opens in Excel and
/// re-imports). Carries personal data in the clear; every export is
/// audited. `X-Yufu-Rows`: data rows; `X-Yufu-Left-Out`: records the layout
/// cannot hold (customers without an account; for devices, the account or
/// tariff link of a meter in no unit).
#[utoipa::path(get, path = "/api/v1/export/{kind}", tag = "data",
    params(("kind" = String, Path, description = "customers, accounts, meters or devices"), ExportQuery),
    responses((status = 200, description = "The CSV file", content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "Unknown kind or organisation"),
        (status = 500, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn export_file(
    State(s): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
    Params(q): Params<ExportQuery>,
) -> Result<Response, WebError> {
    let kind = match kind.parse::<Kind>() {
        Ok(k) => k,
        Err(e) => {
            return Ok(error_body(
                StatusCode::NOT_FOUND,
                "not_found",
                e.to_string(),
            ));
        }
    };
    let org = organisation(q.organisation_id.as_deref(), &caller)?;
    let file = export(s.store.as_ref(), org, kind).await?;
    // A GET is not audited by the gate; personal data leaving in bulk is.
    s.security
        .audit()
        .record(
            &caller.principal.audit_name(),
            &caller.source,
            &Method::GET,
            "/api/v1/export/{kind}",
            &format!("/api/v1/export/{kind}"),
            Some(AuditNote {
                target: Some(format!("organisation:{org}")),
                after: Some(serde_json::json!({ "kind": kind.as_str(), "rows": file.rows })),
                ..AuditNote::default()
            }),
            StatusCode::OK,
        )
        .await;
    let mut r = (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{kind}.csv\""),
            ),
        ],
        file.bytes,
    )
        .into_response();
    let h = r.headers_mut();
    h.insert("x-yufu-rows", HeaderValue::from(file.rows));
    h.insert("x-yufu-left-out", HeaderValue::from(file.left_out));
    Ok(r)
}

// --- finance: the journal and the daily settlement -----------------------------

/// The posting instant of an entry (the engine's time when it applied the
/// request), from the journal record it came from.
async fn posted_at(store: &dyn Store, e: &EntryRow) -> StoreResult<Option<i64>> {
    let found = store.journal().journal_after(e.journal_seq - 1, 1).await?;
    Ok(match found.first() {
        Some(JournalRecord::Reading(r)) if r.seq == e.journal_seq => Some(r.received_ms),
        Some(JournalRecord::Event(v)) if v.seq == e.journal_seq => Some(v.at_ms),
        _ => None,
    })
}

/// Calls `visit` with every ledger entry of the organisation dated in
/// `[from_ms, to_ms)`, account by account (see the module docs).
async fn walk_ledger(
    store: &dyn Store,
    writer: &Writer,
    org: OrganisationId,
    from_ms: i64,
    to_ms: i64,
    mut visit: impl FnMut(&Account, EntryRow) -> Result<(), WebError> + Send,
) -> Result<(), WebError> {
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let accounts = store.list_accounts(org, &page).await?;
        let Some(last) = accounts.last() else { break };
        page = Page::after(last.id, Page::MAX_LIMIT);
        for account in &accounts {
            let Some(view) = writer.account(account.id).await? else {
                continue; // never billed: no ledger
            };
            let mut next = view.ledger_head;
            'chain: while let Some(from_no) = next {
                let entries = store.journal().ledger_chain(from_no, CHAIN_PAGE).await?;
                next = if entries.len() == CHAIN_PAGE as usize {
                    entries.last().and_then(|e| e.prev_no)
                } else {
                    None
                };
                for e in entries {
                    if e.account_id != account.id {
                        break 'chain; // a damaged chain: never wander into another account
                    }
                    if e.at_ms >= from_ms && e.at_ms < to_ms {
                        visit(account, e)?;
                    } else if e.at_ms < from_ms
                        && posted_at(store, &e)
                            .await?
                            .is_some_and(|p| p < from_ms - CLOCK_AHEAD_MS)
                    {
                        // Everything older was posted earlier still.
                        break 'chain;
                    }
                }
            }
        }
    }
    Ok(())
}

fn rfc3339(field: &str, value: &str) -> Result<jiff::Timestamp, WebError> {
    value.parse().map_err(|e| {
        WebError::BadRequest(format!(
            "{field}: not an RFC 3339 instant (e.g. 2026-03-01T00:00:00Z; encode '+' as %2B): {e}"
        ))
    })
}

fn ms_to_ts(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// Cells of one CSV line (RFC 4180 quoting), CRLF.
fn csv_line(out: &mut String, cells: &[&str]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if cell.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(cell);
        }
    }
    out.push_str("\r\n");
}

/// A text cell a spreadsheet would run as a formula gets a leading `'`
/// (values from outside, like idempotency keys, could be crafted so).
fn text_cell(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

fn csv_response(filename: String, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

fn format_of(given: Option<&str>) -> Result<Format, WebError> {
    match given {
        None | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(WebError::BadRequest(format!(
            "format must be json or csv, not {other}"
        ))),
    }
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct JournalQuery {
    /// The organisation; default: the caller's.
    organisation_id: Option<String>,
    /// Start of the window, inclusive (RFC 3339).
    from: String,
    /// End of the window, exclusive (RFC 3339); at most 92 days after `from`.
    to: String,
    /// `json` (default) or `csv` (UTF-8 with BOM, for Excel).
    format: Option<String>,
}

/// One ledger entry for an accounting system.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct JournalEntryOut {
    /// Global posting order.
    no: i64,
    /// The instant of the entry (the payment's, the reading's).
    at: String,
    account_number: String,
    account_id: String,
    /// 1, 2, 3… per account, gap-free.
    seq: i64,
    /// recharge, consumption, fixed_charge, refund, adjustment, migration.
    kind: String,
    /// Signed: money in is positive.
    amount_fen: i64,
    balance_after_fen: i64,
    /// Who or what caused it, e.g. `{"type":"payment","channel":"wechat","reference":"…"}`.
    #[schema(value_type = Object)]
    cause: serde_json::Value,
    idempotency_key: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct JournalOut {
    organisation_id: String,
    from: String,
    to: String,
    /// In posting order.
    entries: Vec<JournalEntryOut>,
}

/// The ledger entries of an organisation dated in a window, in posting
/// order, for accounting systems: JSON, or CSV (`no, at, account_number,
/// account_id, seq, kind, amount_fen, balance_after_fen, cause,
/// idempotency_key`; a text cell starting like a formula gets a leading
/// `'`). At most 92 days and 500 000 entries per request.
#[utoipa::path(get, path = "/api/v1/finance/journal", tag = "payments", params(JournalQuery),
    responses((status = 200, body = JournalOut, description = "JSON, or CSV with format=csv"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "The window is too long or holds too many entries"),
        (status = 500, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn finance_journal(
    State(s): State<AppState>,
    caller: Caller,
    Params(q): Params<JournalQuery>,
) -> Result<Response, WebError> {
    let org = organisation(q.organisation_id.as_deref(), &caller)?;
    let format = format_of(q.format.as_deref())?;
    let (from, to) = (rfc3339("from", &q.from)?, rfc3339("to", &q.to)?);
    let (from_ms, to_ms) = (from.as_millisecond(), to.as_millisecond());
    if to_ms <= from_ms {
        return Err(WebError::BadRequest("to must be after from".into()));
    }
    if to_ms - from_ms > MAX_JOURNAL_DAYS * 24 * 3600 * 1000 {
        return Err(WebError::Invalid(format!(
            "the window is longer than {MAX_JOURNAL_DAYS} days: ask for shorter ones"
        )));
    }
    s.store.get_organisation(org).await?;
    let mut entries: Vec<(String, EntryRow)> = Vec::new();
    walk_ledger(
        s.store.as_ref(),
        &s.writer,
        org,
        from_ms,
        to_ms,
        |account, e| {
            if entries.len() >= MAX_JOURNAL_ENTRIES {
                return Err(WebError::Invalid(format!(
                    "more than {MAX_JOURNAL_ENTRIES} entries in the window: ask for shorter ones"
                )));
            }
            entries.push((account.number.as_str().to_owned(), e));
            Ok(())
        },
    )
    .await?;
    entries.sort_by_key(|(_, e)| e.no);
    if format == Format::Csv {
        let mut out = String::from("\u{feff}");
        csv_line(
            &mut out,
            &[
                "no",
                "at",
                "account_number",
                "account_id",
                "seq",
                "kind",
                "amount_fen",
                "balance_after_fen",
                "cause",
                "idempotency_key",
            ],
        );
        for (number, e) in &entries {
            csv_line(
                &mut out,
                &[
                    &e.no.to_string(),
                    &ms_to_ts(e.at_ms),
                    number,
                    &e.account_id.to_string(),
                    &e.seq.to_string(),
                    &e.kind,
                    &e.amount_fen.to_string(),
                    &e.balance_after_fen.to_string(),
                    &e.cause,
                    &text_cell(&e.idempotency_key),
                ],
            );
        }
        let stamp = |t: jiff::Timestamp| t.strftime("%Y%m%dT%H%M%SZ").to_string();
        return Ok(csv_response(
            format!("journal-{}-{}.csv", stamp(from), stamp(to)),
            out,
        ));
    }
    Ok(Json(JournalOut {
        organisation_id: org.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        entries: entries
            .into_iter()
            .map(|(number, e)| JournalEntryOut {
                no: e.no,
                at: ms_to_ts(e.at_ms),
                account_number: number,
                account_id: e.account_id.to_string(),
                seq: e.seq,
                kind: e.kind,
                amount_fen: e.amount_fen,
                balance_after_fen: e.balance_after_fen,
                cause: serde_json::from_str(&e.cause).unwrap_or(serde_json::Value::String(e.cause)),
                idempotency_key: e.idempotency_key,
            })
            .collect(),
    })
    .into_response())
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettlementQuery {
    /// The organisation; default: the caller's.
    organisation_id: Option<String>,
    /// The day (YYYY-MM-DD), counted in `timezone`.
    date: String,
    /// IANA zone of the day (default Asia/Shanghai).
    timezone: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// A count and a sum of signed ledger amounts (fen).
#[derive(Clone, Copy, Default, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Tally {
    count: u64,
    amount_fen: i64,
}

impl Tally {
    fn add(&mut self, amount: i64) {
        self.count += 1;
        self.amount_fen += amount;
    }

    fn merge(&mut self, other: Tally) {
        self.count += other.count;
        self.amount_fen += other.amount_fen;
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ChannelTally {
    /// e.g. `counter`, `wechat`, `alipay`.
    channel: String,
    count: u64,
    amount_fen: i64,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SiteTally {
    /// Absent for meters in no unit.
    site_id: Option<String>,
    site_code: Option<String>,
    site_name: Option<String>,
    count: u64,
    amount_fen: i64,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct UtilityTally {
    utility: String,
    count: u64,
    amount_fen: i64,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct KindTally {
    kind: String,
    count: u64,
    amount_fen: i64,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct RechargeSummary {
    count: u64,
    amount_fen: i64,
    by_channel: Vec<ChannelTally>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ConsumptionSummary {
    count: u64,
    /// Negative: charges take money out of the balances.
    amount_fen: i64,
    by_site: Vec<SiteTally>,
    by_utility: Vec<UtilityTally>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SettlementOut {
    organisation_id: String,
    date: String,
    timezone: String,
    /// The day's first instant (inclusive) and the next day's (exclusive).
    from: String,
    to: String,
    /// Money credited: recharge entries by channel.
    recharges: RechargeSummary,
    /// Consumption charges by site and by utility.
    consumption: ConsumptionSummary,
    /// Every entry kind of the day (refunds, fixed charges, adjustments…).
    by_kind: Vec<KindTally>,
}

/// Where a meter is, for the settlement (looked up once per meter).
#[derive(Clone)]
struct MeterPlace {
    utility: Utility,
    site: Option<SiteId>,
}

async fn place_of(
    store: &dyn Store,
    meters: &mut HashMap<MeterId, Option<MeterPlace>>,
    units: &mut HashMap<UnitId, BuildingId>,
    buildings: &mut HashMap<BuildingId, SiteId>,
    meter: MeterId,
) -> StoreResult<Option<MeterPlace>> {
    if let Some(known) = meters.get(&meter) {
        return Ok(known.clone());
    }
    let place = match store.get_meter(meter).await {
        Ok(m) => {
            let site = match m.unit_id {
                None => None,
                Some(unit) => {
                    let building = match units.get(&unit) {
                        Some(b) => *b,
                        None => {
                            let b = store.get_unit(unit).await?.building_id;
                            units.insert(unit, b);
                            b
                        }
                    };
                    Some(match buildings.get(&building) {
                        Some(s) => *s,
                        None => {
                            let s = store.get_building(building).await?.site_id;
                            buildings.insert(building, s);
                            s
                        }
                    })
                }
            };
            Some(MeterPlace {
                utility: m.utility,
                site,
            })
        }
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    meters.insert(meter, place.clone());
    Ok(place)
}

/// A day's settlement (日结) of an organisation: money credited by channel
/// (recharge entries), consumption charges by site and by utility, and every
/// entry kind, each as a count and a sum of signed ledger amounts in fen
/// (recharges positive, charges negative). Entries are counted on the day
/// of their instant (see the module docs for late readings). CSV:
/// `section, key, name, count, amount_fen` with sections `recharge_channel`,
/// `consumption_site`, `consumption_utility`, `entry_kind`.
#[utoipa::path(get, path = "/api/v1/finance/settlement", tag = "payments", params(SettlementQuery),
    responses((status = 200, body = SettlementOut, description = "JSON, or CSV with format=csv"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 500, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn finance_settlement(
    State(s): State<AppState>,
    caller: Caller,
    Params(q): Params<SettlementQuery>,
) -> Result<Response, WebError> {
    let org = organisation(q.organisation_id.as_deref(), &caller)?;
    let format = format_of(q.format.as_deref())?;
    let day: jiff::civil::Date = q
        .date
        .parse()
        .map_err(|e| WebError::BadRequest(format!("date: not YYYY-MM-DD: {e}")))?;
    let tz_name = q
        .timezone
        .clone()
        .unwrap_or_else(|| "Asia/Shanghai".to_owned());
    let zone = jiff::tz::TimeZone::get(&tz_name)
        .map_err(|e| WebError::BadRequest(format!("timezone: {e}")))?;
    let midnight = |d: jiff::civil::Date| {
        zone.to_timestamp(jiff::civil::DateTime::from_parts(
            d,
            jiff::civil::Time::midnight(),
        ))
        .map_err(|e| WebError::BadRequest(format!("date: {e}")))
    };
    let from = midnight(day)?;
    let to = midnight(
        day.tomorrow()
            .map_err(|e| WebError::BadRequest(format!("date: {e}")))?,
    )?;
    s.store.get_organisation(org).await?;

    // Summed as the walk goes (a day of a large fleet holds millions of
    // entries); consumption per meter first, placed by site and utility after.
    let mut by_kind: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_channel: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_meter: HashMap<Option<MeterId>, Tally> = HashMap::new();
    let (mut recharges, mut consumption) = (Tally::default(), Tally::default());
    walk_ledger(
        s.store.as_ref(),
        &s.writer,
        org,
        from.as_millisecond(),
        to.as_millisecond(),
        |_, e| {
            by_kind.entry(e.kind.clone()).or_default().add(e.amount_fen);
            let cause: Option<Cause> = serde_json::from_str(&e.cause).ok();
            match e.kind.as_str() {
                "recharge" => {
                    recharges.add(e.amount_fen);
                    let channel = match cause {
                        Some(Cause::Payment { channel, .. }) => channel,
                        _ => "(unknown)".to_owned(),
                    };
                    by_channel.entry(channel).or_default().add(e.amount_fen);
                }
                "consumption" => {
                    consumption.add(e.amount_fen);
                    let meter = match cause {
                        Some(Cause::Reading { meter_id, .. }) => Some(meter_id),
                        _ => None,
                    };
                    by_meter.entry(meter).or_default().add(e.amount_fen);
                }
                _ => {}
            }
            Ok(())
        },
    )
    .await?;

    let mut by_site: BTreeMap<Option<SiteId>, Tally> = BTreeMap::new();
    let mut by_utility: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let (mut meters, mut units, mut buildings) = (HashMap::new(), HashMap::new(), HashMap::new());
    for (meter, t) in by_meter {
        let place = match meter {
            Some(id) => {
                place_of(
                    s.store.as_ref(),
                    &mut meters,
                    &mut units,
                    &mut buildings,
                    id,
                )
                .await?
            }
            None => None,
        };
        by_site
            .entry(place.as_ref().and_then(|p| p.site))
            .or_default()
            .merge(t);
        by_utility
            .entry(place.map_or("(unknown)", |p| p.utility.as_str()))
            .or_default()
            .merge(t);
    }
    let mut site_rows = Vec::new();
    for (site, t) in by_site {
        let found = match site {
            Some(id) => match s.store.get_site(id).await {
                Ok(site) => Some(site),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        site_rows.push(SiteTally {
            site_id: site.map(|id| id.to_string()),
            site_code: found.as_ref().map(|x| x.code.to_string()),
            site_name: found.as_ref().map(|x| x.name.to_string()),
            count: t.count,
            amount_fen: t.amount_fen,
        });
    }
    let out = SettlementOut {
        organisation_id: org.to_string(),
        date: day.to_string(),
        timezone: tz_name,
        from: from.to_string(),
        to: to.to_string(),
        recharges: RechargeSummary {
            count: recharges.count,
            amount_fen: recharges.amount_fen,
            by_channel: by_channel
                .into_iter()
                .map(|(channel, t)| ChannelTally {
                    channel,
                    count: t.count,
                    amount_fen: t.amount_fen,
                })
                .collect(),
        },
        consumption: ConsumptionSummary {
            count: consumption.count,
            amount_fen: consumption.amount_fen,
            by_site: site_rows,
            by_utility: by_utility
                .into_iter()
                .map(|(utility, t)| UtilityTally {
                    utility: utility.to_owned(),
                    count: t.count,
                    amount_fen: t.amount_fen,
                })
                .collect(),
        },
        by_kind: by_kind
            .into_iter()
            .map(|(kind, t)| KindTally {
                kind,
                count: t.count,
                amount_fen: t.amount_fen,
            })
            .collect(),
    };
    if format == Format::Csv {
        let mut csv = String::from("\u{feff}");
        csv_line(&mut csv, &["section", "key", "name", "count", "amount_fen"]);
        let mut line = |section: &str, key: &str, name: &str, count: u64, amount: i64| {
            csv_line(
                &mut csv,
                &[
                    section,
                    &text_cell(key),
                    &text_cell(name),
                    &count.to_string(),
                    &amount.to_string(),
                ],
            );
        };
        for c in &out.recharges.by_channel {
            line("recharge_channel", &c.channel, "", c.count, c.amount_fen);
        }
        for x in &out.consumption.by_site {
            line(
                "consumption_site",
                x.site_code.as_deref().unwrap_or("(no site)"),
                x.site_name.as_deref().unwrap_or(""),
                x.count,
                x.amount_fen,
            );
        }
        for u in &out.consumption.by_utility {
            line("consumption_utility", &u.utility, "", u.count, u.amount_fen);
        }
        for k in &out.by_kind {
            line("entry_kind", &k.kind, "", k.count, k.amount_fen);
        }
        return Ok(csv_response(format!("settlement-{day}.csv"), csv));
    }
    Ok(Json(out).into_response())
}

/// The bulk and finance routes with their OpenAPI description.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_file))
        .routes(routes!(export_file))
        .routes(routes!(finance_journal))
        .routes(routes!(finance_settlement))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        let mut out = String::new();
        csv_line(&mut out, &["a", "b,c", "say \"hi\"", &text_cell("=1+1")]);
        assert_eq!(out, "a,\"b,c\",\"say \"\"hi\"\"\",'=1+1\r\n");
        assert_eq!(text_cell("pay:wechat:1"), "pay:wechat:1");
    }

    #[test]
    fn a_failure_says_what_was_written() {
        let f = WriteFailure {
            row: 7,
            last_written_row: Some(6),
            step: "create_account".into(),
            partial: Some("customer X was created without its account".into()),
            message: "database unavailable: gone".into(),
            unavailable: true,
            internal: false,
        };
        let text = f.to_string();
        assert!(text.contains("row 7 (create_account"), "{text}");
        assert!(text.contains("rows up to row 6 were written"), "{text}");
        assert!(text.contains("of row 7: customer X was created"), "{text}");
    }

    #[test]
    fn problems_display_like_csvio() {
        let p = ProblemOut {
            row: 3,
            column: Some("phone".into()),
            message: "not a phone number".into(),
        };
        assert_eq!(p.to_string(), "row 3, column phone: not a phone number");
    }
}
