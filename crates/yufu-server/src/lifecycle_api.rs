//! The device lifecycle API (issue 8): catalogue, suppliers, purchase
//! contracts with second-role approval, deliveries and serial imports,
//! acceptance, the inventory moves, installation with its certification and
//! checklist gates, commissioning, swaps, replacement and rollouts, and
//! demand.
//!
//! Every handler is thin: it builds a [`Ctx`] for the caller, calls one
//! service of `yufu_lifecycle::service` (which holds every rule, so the CLI
//! gets the same gates) and maps [`LifecycleError`] to HTTP: invalid input
//! and refused gates 422, a state that does not allow the move 409, not
//! found (or another organisation's) 404, no engine 503.
//!
//! Request bodies are the service's own `*In` structs (`deny_unknown_fields`);
//! `yufu-lifecycle` knows nothing of OpenAPI, so [`schema`] describes them
//! for the document, and a test here checks each description against the
//! service's struct. Answers are the service's views, documented as objects.
//!
//! Site scope: routes under `/api/v1/meters/{id}` and `/api/v1/sites/{id}`
//! are checked by the gate. Installations are on the gate's list of routes
//! that check scope themselves: the list is filtered to the caller's sites
//! and one plan outside them is 404. Everything else here (catalogue,
//! suppliers, contracts, deliveries, devices, certifications, replacement,
//! rollouts) spans the organisation, so the gate refuses site-scoped staff.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt as _};
use utoipa_axum::routes;
use yufu_access::{Permission, SiteScope};
use yufu_domain::lifecycle::{Action, DeviceState};
use yufu_domain::{
    CertificationId, ContractId, DeliveryId, InstallationId, MeterId, OrganisationId, RolloutId,
    SiteId, StaffUserId, SupplierId, Utility,
};
use yufu_lifecycle::service::{self, Ctx, LifecycleError};
use yufu_store::lifecycle::{DeviceFilter, DeviceRecord, InstallationFilter, InstallationStatus};

use crate::api::Body;
use crate::audit_log::AuditNote;
use crate::auth::Caller;
use crate::engine_api::parse;
use crate::error::ErrorBody;
use crate::{AppState, WebError};

/// The civil day "today" of the organisation (warranty ends, scheduling,
/// certification validity) is taken in this zone.
pub const ORGANISATION_ZONE: &str = "Asia/Shanghai";

/// How long each commissioning step may wait for the device or the engine.
/// `POST /api/v1/meters/{id}/commission` waits for the whole run: a step
/// that gets no answer fails after this, and the run stops at the first
/// failed step, so the request takes at most five times this (~100 s) and
/// usually one step's worth when the device does not answer.
pub const COMMISSION_STEP_TIMEOUT: std::time::Duration =
    yufu_lifecycle::commission::DEFAULT_STEP_TIMEOUT;

/// The largest serials file `POST /api/v1/deliveries/{id}/serials` reads:
/// [`yufu_lifecycle::serials::MAX_SERIAL_ROWS`] rows with long notes fit.
pub const MAX_SERIALS_BODY_BYTES: usize = crate::MAX_BATCH_BODY_BYTES;

/// Rows per page of `GET /api/v1/devices` at most.
const MAX_PAGE: u32 = 500;

impl From<LifecycleError> for WebError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::Invalid(m) | LifecycleError::Refused(m) => WebError::Invalid(m),
            LifecycleError::Conflict(m) => WebError::Conflict(m),
            LifecycleError::NotFound(_) => WebError::NotFound,
            e @ LifecycleError::NoEngine => WebError::Unavailable(e.to_string()),
            LifecycleError::Store(s) => WebError::Store(s),
            LifecycleError::Writer(w) => WebError::from(w),
        }
    }
}

/// Who is calling, in the form the services record: the audit name
/// (`user:NAME`, `token:NAME`) and the role.
#[derive(Clone)]
struct Who {
    actor: String,
    role: &'static str,
    org: OrganisationId,
}

impl Who {
    fn of(c: &Caller) -> Self {
        Self {
            actor: c.principal.audit_name(),
            role: c.principal.actor.as_str(),
            org: c.principal.organisation,
        }
    }

    fn ctx<'a>(&'a self, s: &'a AppState) -> Ctx<'a> {
        let now = Timestamp::now();
        Ctx {
            store: s.store.as_ref(),
            writer: Some(&s.writer),
            org: self.org,
            actor: &self.actor,
            role: self.role,
            now,
            today: today(now),
        }
    }
}

/// The civil date at `now` in [`ORGANISATION_ZONE`] (UTC+8 should the
/// zone database lack it).
fn today(now: Timestamp) -> Date {
    let zone =
        TimeZone::get(ORGANISATION_ZONE).unwrap_or_else(|_| TimeZone::fixed(jiff::tz::offset(8)));
    now.to_zoned_datetime(zone).date()
}

/// A JSON answer with its audit note: `target` (e.g. `contract:0190…`) and
/// the answer as `after`.
fn audited<T: serde::Serialize>(target: String, status: StatusCode, out: T) -> Response {
    let after = serde_json::to_value(&out).ok();
    AuditNote::change(target, None, after).on((status, Json(out)))
}

/// An optional JSON body: none at all reads as the default.
fn optional_body<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, WebError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => WebError::Invalid(e.to_string()),
        _ => WebError::BadRequest(format!("the body is not JSON: {e}")),
    })
}

fn opt<T: std::str::FromStr<Err = yufu_domain::DomainError>>(
    v: Option<&str>,
) -> Result<Option<T>, WebError> {
    v.filter(|v| !v.is_empty()).map(parse).transpose()
}

// --- request bodies, as documented --------------------------------------------

/// The request bodies as the OpenAPI document shows them. The handlers
/// read the service's own structs; these only describe them (the
/// lifecycle crate does not depend on utoipa). `tests::documented_bodies_are_the_services`
/// checks that an object with every documented field is what the service
/// reads. Ids are UUIDs, dates `YYYY-MM-DD`, money integer fen.
#[allow(dead_code)] // never built: they exist for their schema
pub(crate) mod schema {
    #[derive(utoipa::ToSchema, serde::Serialize)]
    pub(crate) struct DeviceModelIn {
        pub maker: String,
        pub model: String,
        /// `electricity`, `water` or `gas`.
        pub utility: String,
        /// `dlt645_2007`, `dlt645_1997`, `cjt188` or `mqtt`; it must serve the utility.
        pub protocol: String,
        /// 1 or 3 for electricity, 1 for water and gas (default 1).
        pub phases: Option<u8>,
        /// e.g. `2.0`, `1.0`, `B`.
        pub accuracy_class: String,
        /// 1–50.
        pub service_life_years: u16,
        /// Some of `remote_switch`, `remote_valve`, `multi_rate`,
        /// `prepaid_card`, `load_profile`, `tamper_detection`.
        pub features: Option<Vec<String>>,
        pub list_price_fen: i64,
    }

    #[derive(utoipa::ToSchema, serde::Serialize)]
    pub(crate) struct SupplierIn {
        pub name: String,
        pub contact_name: String,
        pub contact_phone: String,
        pub address: Option<String>,
    }

    /// A supplier's qualification (资质), e.g. a manufacturing licence.
    #[derive(utoipa::ToSchema, serde::Serialize)]
    pub(crate) struct QualificationIn {
        pub name: String,
        pub number: String,
        /// `YYYY-MM-DD`.
        #[schema(format = Date)]
        pub expires_on: String,
    }

    #[derive(utoipa::ToSchema, serde::Serialize)]
    pub(crate) struct ContractLineIn {
        /// A device model of the catalogue.
        #[schema(format = Uuid)]
        pub model_id: String,
        /// 1–1000000.
        pub quantity: u32,
        pub unit_price_fen: i64,
        /// `YYYY-MM-DD`.
        #[schema(format = Date)]
        pub delivery_due: String,
    }

    /// A purchase contract (采购合同), drafted; another person of another
    /// role approves it.
    #[derive(utoipa::ToSchema, serde::Serialize)]
    pub(crate) struct ContractIn {
        pub number: String,
        #[schema(format = Uuid)]
        pub supplier_id: String,
        /// At least one line.
        pub lines: Vec<ContractLineIn>,
        pub transport_fen: Option<i64>,
        pub installation_fen: Option<i64>,
        pub commissioning_fen: Option<i64>,
        /// At most 240.
        pub warranty_months: u16,
        pub after_sales: Option<String>,
    }

    #[derive(utoipa::ToSchema, serde::Serialize)]
    pub(crate) struct DeliveryIn {
        /// The delivery note's number.
        pub note_number: String,
        /// `YYYY-MM-DD`, not in the future.
        #[schema(format = Date)]
        pub delivered_on: String,
    }

    /// The acceptance check (到货验收): all three pass → accepted, any
    /// fails → rejected, and then `reason` is required.
    #[derive(utoipa::ToSchema, serde::Serialize)]
    pub(crate) struct AcceptanceIn {
        pub appearance_ok: bool,
        pub accessories_ok: bool,
        pub function_ok: bool,
        pub reason: Option<String>,
    }

    /// 报废: the disposal record.
    #[derive(utoipa::ToSchema, serde::Serialize)]
    pub(crate) struct DisposalIn {
        /// e.g. `recycler`, `returned_to_maker`, `destroyed`.
        pub method: String,
        pub reason: String,
        /// The recycler's certificate or disposal note number.
        pub record: String,
    }

    /// 换表: the old meter's final reading is billed, the unit, account and
    /// tariff move to the new meter from its opening reading.
    #[derive(utoipa::ToSchema, serde::Serialize)]
    pub(crate) struct SwapIn {
        /// The replacement meter (in stock).
        #[schema(format = Uuid)]
        pub new_meter_id: String,
        /// The old meter's final register reading (Wh or litres).
        pub final_reading: u64,
        /// The new meter's register when fitted.
        pub opening_reading: u64,
        /// When the final reading was taken (RFC 3339); default now.
        /// Given, a retry of the same request recognises a finished swap.
        #[schema(format = DateTime)]
        pub final_at: Option<String>,
        /// When the opening reading was taken; default `final_at`.
        #[schema(format = DateTime)]
        pub opening_at: Option<String>,
        pub reason: String,
    }

    /// A staff member's certification (上岗证) for one utility.
    #[derive(utoipa::ToSchema, serde::Serialize)]
    pub(crate) struct CertificationIn {
        #[schema(format = Uuid)]
        pub staff_user_id: String,
        pub utility: String,
        pub number: String,
        /// `YYYY-MM-DD`.
        #[schema(format = Date)]
        pub issued_on: String,
        /// `YYYY-MM-DD`, not before `issued_on`.
        #[schema(format = Date)]
        pub expires_on: String,
    }

    /// 安装计划: a device in stock into a unit, on a day, by an installer
    /// certified for its utility on that day.
    #[derive(utoipa::ToSchema, serde::Serialize)]
    pub(crate) struct InstallationPlanIn {
        #[schema(format = Uuid)]
        pub meter_id: String,
        #[schema(format = Uuid)]
        pub unit_id: String,
        /// The account the meter will bill.
        #[schema(format = Uuid)]
        pub account_id: Option<String>,
        /// The tariff it is priced with.
        pub tariff_code: Option<String>,
        /// `YYYY-MM-DD`, not in the past.
        #[schema(format = Date)]
        pub scheduled_on: String,
        #[schema(format = Uuid)]
        pub installer_id: String,
        pub note: Option<String>,
    }

    #[derive(utoipa::ToSchema, serde::Serialize)]
    pub(crate) struct ChecklistItemIn {
        /// `wiring`, `grounding` (electricity), `sealing` (water, gas),
        /// `gas_tightness` (gas).
        pub item: String,
        pub passed: bool,
        pub note: Option<String>,
    }

    /// Completing an installation: the utility's whole checklist, and the
    /// register as read on the new meter.
    #[derive(utoipa::ToSchema, serde::Serialize)]
    pub(crate) struct InstallationCompleteIn {
        pub checklist: Vec<ChecklistItemIn>,
        /// Wh for electricity, litres for water and gas.
        pub opening_reading: u64,
    }

    /// Replace `devices` meters with `model_id`: what it costs and saves.
    #[derive(utoipa::ToSchema, serde::Serialize)]
    pub(crate) struct CostBenefitIn {
        pub devices: u32,
        #[schema(format = Uuid)]
        pub model_id: String,
        /// Per device; default the model's list price.
        pub device_price_fen: Option<i64>,
        pub installation_fen: i64,
        pub commissioning_fen: i64,
        pub old_maintenance_per_year_fen: i64,
        pub new_maintenance_per_year_fen: i64,
        pub loss_saving_per_year_fen: i64,
        pub salvage_fen: Option<i64>,
    }

    /// 逐步更新: a pilot group first, later waves after its approval.
    #[derive(utoipa::ToSchema, serde::Serialize)]
    pub(crate) struct RolloutIn {
        pub name: String,
        /// The model the group is replaced with.
        #[schema(format = Uuid)]
        pub model_id: String,
        /// Meter ids of the pilot (at least one, each in the field).
        #[schema(value_type = Vec<uuid::Uuid>)]
        pub pilot: Vec<String>,
        /// Meter ids of each later wave, in order.
        #[schema(value_type = Option<Vec<Vec<uuid::Uuid>>>)]
        pub waves: Option<Vec<Vec<String>>>,
    }
}

/// A move with nothing but a reason (the others have their own routes).
#[derive(Clone, Copy, Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SimpleAction {
    ReturnToSupplier,
    Stock,
    ReportFault,
    StartRepair,
    Repair,
    Restock,
    Retire,
}

impl SimpleAction {
    fn action(self) -> Action {
        match self {
            SimpleAction::ReturnToSupplier => Action::ReturnToSupplier,
            SimpleAction::Stock => Action::Stock,
            SimpleAction::ReportFault => Action::ReportFault,
            SimpleAction::StartRepair => Action::StartRepair,
            SimpleAction::Repair => Action::Repair,
            SimpleAction::Restock => Action::Restock,
            SimpleAction::Retire => Action::Retire,
        }
    }

    /// Who may: the store room's moves are procurement's, the field's the
    /// installers', taking a device back or out of use the device managers'.
    fn permission(self) -> Permission {
        match self {
            SimpleAction::ReturnToSupplier | SimpleAction::Stock => Permission::ManageProcurement,
            SimpleAction::ReportFault | SimpleAction::StartRepair | SimpleAction::Repair => {
                Permission::InstallDevices
            }
            SimpleAction::Restock | SimpleAction::Retire => Permission::ManageDevices,
        }
    }
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LifecycleActionIn {
    action: SimpleAction,
    /// Why (1–500 characters); kept in the device's history.
    reason: String,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoveIn {
    /// Why the meter comes out (1–500 characters).
    reason: String,
}

#[derive(serde::Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovePilotIn {
    /// Required when the pilot's results are not favourable: why the next
    /// waves go ahead anyway.
    override_reason: Option<String>,
}

// --- catalogue and suppliers -----------------------------------------------------

/// The device catalogue (型号目录).
#[utoipa::path(get, path = "/api/v1/device-models", tag = "lifecycle",
    responses((status = 200, description = "Every model of the organisation", body = Vec<Object>)))]
pub(crate) async fn list_models(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<yufu_store::lifecycle::DeviceModel>>, WebError> {
    let org = caller.principal.organisation;
    Ok(Json(s.store.procurement().list_models(org).await?))
}

/// Adds a model to the catalogue.
#[utoipa::path(post, path = "/api/v1/device-models", tag = "lifecycle", request_body = schema::DeviceModelIn,
    responses((status = 201, description = "The model", body = Object), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn create_model(
    State(s): State<AppState>,
    caller: Caller,
    Body(b): Body<service::ModelIn>,
) -> Result<Response, WebError> {
    let who = Who::of(&caller);
    let m = service::create_model(&who.ctx(&s), b).await?;
    Ok(audited(
        format!("device_model:{}", m.id),
        StatusCode::CREATED,
        m,
    ))
}

/// Every supplier with its scorecard (供应商评分卡).
#[utoipa::path(get, path = "/api/v1/suppliers", tag = "lifecycle",
    responses((status = 200, description = "Scorecards: supplier, qualifications (with `valid`), facts, score", body = Vec<Object>)))]
pub(crate) async fn list_suppliers(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<service::Scorecard>>, WebError> {
    let who = Who::of(&caller);
    Ok(Json(service::scorecards(&who.ctx(&s)).await?))
}

/// Adds a supplier.
#[utoipa::path(post, path = "/api/v1/suppliers", tag = "lifecycle", request_body = schema::SupplierIn,
    responses((status = 201, description = "The supplier", body = Object), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn create_supplier(
    State(s): State<AppState>,
    caller: Caller,
    Body(b): Body<service::SupplierIn>,
) -> Result<Response, WebError> {
    let who = Who::of(&caller);
    let x = service::create_supplier(&who.ctx(&s), b).await?;
    Ok(audited(
        format!("supplier:{}", x.id),
        StatusCode::CREATED,
        x,
    ))
}

/// One supplier's scorecard: qualifications, delivery and quality facts,
/// the score and how it is made up.
#[utoipa::path(get, path = "/api/v1/suppliers/{id}", tag = "lifecycle",
    params(("id" = String, Path, description = "The supplier's id")),
    responses((status = 200, description = "The scorecard", body = Object), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn get_supplier(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<service::Scorecard>, WebError> {
    let id: SupplierId = parse(&id)?;
    let who = Who::of(&caller);
    Ok(Json(service::scorecard(&who.ctx(&s), id).await?))
}

/// Adds a qualification (资质) to a supplier.
#[utoipa::path(post, path = "/api/v1/suppliers/{id}/qualifications", tag = "lifecycle",
    params(("id" = String, Path, description = "The supplier's id")),
    request_body = schema::QualificationIn,
    responses((status = 201, description = "The qualification", body = Object), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn add_qualification(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<service::QualificationIn>,
) -> Result<Response, WebError> {
    let id: SupplierId = parse(&id)?;
    let who = Who::of(&caller);
    let q = service::add_qualification(&who.ctx(&s), id, b).await?;
    Ok(audited(format!("supplier:{id}"), StatusCode::CREATED, q))
}

// --- contracts and deliveries ------------------------------------------------------

/// The organisation's purchase contracts.
#[utoipa::path(get, path = "/api/v1/contracts", tag = "lifecycle",
    responses((status = 200, description = "Contracts with their lines and status", body = Vec<Object>)))]
pub(crate) async fn list_contracts(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<yufu_store::lifecycle::Contract>>, WebError> {
    let who = Who::of(&caller);
    Ok(Json(service::list_contracts(&who.ctx(&s)).await?))
}

/// Drafts a purchase contract. It takes deliveries only once someone else,
/// of another role, approves it.
#[utoipa::path(post, path = "/api/v1/contracts", tag = "lifecycle", request_body = schema::ContractIn,
    responses((status = 201, description = "The contract view: lines with delivery progress, totals, deliveries", body = Object),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_contract(
    State(s): State<AppState>,
    caller: Caller,
    Body(b): Body<service::ContractIn>,
) -> Result<Response, WebError> {
    let who = Who::of(&caller);
    let v = service::create_contract(&who.ctx(&s), b).await?;
    Ok(audited(
        format!("contract:{}", v.contract.id),
        StatusCode::CREATED,
        v,
    ))
}

/// A contract: each line's devices by where they are (数量核对), the money,
/// its deliveries.
#[utoipa::path(get, path = "/api/v1/contracts/{id}", tag = "lifecycle",
    params(("id" = String, Path, description = "The contract's id")),
    responses((status = 200, description = "The contract view", body = Object), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn get_contract(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<service::ContractView>, WebError> {
    let id: ContractId = parse(&id)?;
    let who = Who::of(&caller);
    Ok(Json(service::contract_view(&who.ctx(&s), id).await?))
}

/// Approves a draft contract (审批): refused (422) to whoever drafted it and
/// to anyone of the drafter's role.
#[utoipa::path(post, path = "/api/v1/contracts/{id}/approve", tag = "lifecycle",
    params(("id" = String, Path, description = "The contract's id")),
    responses((status = 200, description = "The contract view", body = Object), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn approve_contract(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id: ContractId = parse(&id)?;
    let who = Who::of(&caller);
    let v = service::approve_contract(&who.ctx(&s), id).await?;
    Ok(audited(format!("contract:{id}"), StatusCode::OK, v))
}

/// Cancels a contract.
#[utoipa::path(post, path = "/api/v1/contracts/{id}/cancel", tag = "lifecycle",
    params(("id" = String, Path, description = "The contract's id")),
    responses((status = 200, description = "The contract view", body = Object), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn cancel_contract(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id: ContractId = parse(&id)?;
    let who = Who::of(&caller);
    let v = service::cancel_contract(&who.ctx(&s), id).await?;
    Ok(audited(format!("contract:{id}"), StatusCode::OK, v))
}

/// Records a delivery (到货) against an approved contract; its devices come
/// with the serials file.
#[utoipa::path(post, path = "/api/v1/contracts/{id}/deliveries", tag = "lifecycle",
    params(("id" = String, Path, description = "The contract's id")),
    request_body = schema::DeliveryIn,
    responses((status = 201, description = "The delivery", body = Object), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_delivery(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<service::DeliveryIn>,
) -> Result<Response, WebError> {
    let id: ContractId = parse(&id)?;
    let who = Who::of(&caller);
    let d = service::create_delivery(&who.ctx(&s), id, b).await?;
    Ok(audited(
        format!("delivery:{}", d.id),
        StatusCode::CREATED,
        d,
    ))
}

/// A delivery, its contract's number and the devices it brought.
#[utoipa::path(get, path = "/api/v1/deliveries/{id}", tag = "lifecycle",
    params(("id" = String, Path, description = "The delivery's id")),
    responses((status = 200, description = "The delivery view", body = Object), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn get_delivery(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<service::DeliveryView>, WebError> {
    let id: DeliveryId = parse(&id)?;
    let who = Who::of(&caller);
    Ok(Json(service::delivery_view(&who.ctx(&s), id).await?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportQuery {
    /// Check only, create nothing (default false).
    dry_run: Option<bool>,
}

/// Imports a delivery's serial numbers (到货序列号导入): CSV with a header,
/// columns `serial` (required), `comm_address`, `contract_line`, `note`
/// (see `yufu_lifecycle::serials`). The whole file is checked against the
/// contract; every bad row is reported with its line. All or nothing: 200
/// with the report when every row is good (devices created `received`
/// unless `dry_run`), 422 with the same report, listing the problems, when
/// any row is bad. At most 16 MiB and 100 000 rows.
#[utoipa::path(post, path = "/api/v1/deliveries/{id}/serials", tag = "lifecycle",
    params(("id" = String, Path, description = "The delivery's id"), ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "serial,comm_address,contract_line,note"),
    responses((status = 200, description = "The import report: dry_run, rows, devices, problems (empty)", body = Object),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, description = "The import report with its problems (line, column, value, message), or an error body", body = Object)))]
pub(crate) async fn import_serials(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> Result<Response, WebError> {
    let id: DeliveryId = parse(&id)?;
    let who = Who::of(&caller);
    let report =
        service::import_serials(&who.ctx(&s), id, &body, q.dry_run.unwrap_or(false)).await?;
    let status = if report.problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    // The log keeps the counts; a file's worth of devices would swamp it.
    let summary = serde_json::json!({
        "dry_run": report.dry_run, "rows": report.rows,
        "devices": report.devices.len(), "problems": report.problems.len(),
    });
    Ok(AuditNote::change(format!("delivery:{id}"), None, Some(summary)).on((status, Json(report))))
}

// --- devices -------------------------------------------------------------------------

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeviceQuery {
    /// A device state, e.g. `in_stock`.
    state: Option<String>,
    model_id: Option<String>,
    contract_id: Option<String>,
    delivery_id: Option<String>,
    /// A serial prefix.
    serial: Option<String>,
    /// The last meter id of the previous page.
    after: Option<String>,
    /// Rows per page, 1–500 (default 50).
    limit: Option<u32>,
}

#[derive(serde::Serialize)]
pub(crate) struct DevicePage {
    items: Vec<DeviceRecord>,
    /// Pass as `after` for the next page; absent on the last page.
    next_after: Option<MeterId>,
}

/// The device ledger (设备台账): devices by state, model, contract,
/// delivery or serial prefix, by meter id.
#[utoipa::path(get, path = "/api/v1/devices", tag = "lifecycle", params(DeviceQuery),
    responses((status = 200, description = "`items` (device records) and `next_after`", body = Object),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn list_devices(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<DeviceQuery>,
) -> Result<Json<DevicePage>, WebError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(WebError::Invalid(format!("limit must be 1–{MAX_PAGE}")));
    }
    let filter = DeviceFilter {
        state: opt::<DeviceState>(q.state.as_deref())?,
        model_id: opt(q.model_id.as_deref())?,
        contract_id: opt(q.contract_id.as_deref())?,
        delivery_id: opt(q.delivery_id.as_deref())?,
        serial: q.serial.filter(|v| !v.is_empty()),
    };
    let after: Option<MeterId> = opt(q.after.as_deref())?;
    let items = s
        .store
        .procurement()
        .list_devices(
            caller.principal.organisation,
            &filter,
            after,
            limit,
            Timestamp::now().as_millisecond(),
        )
        .await?;
    let full = items.len() == usize::try_from(limit).unwrap_or(usize::MAX);
    let next_after = if full {
        items.last().map(|d| d.meter_id)
    } else {
        None
    };
    Ok(Json(DevicePage { items, next_after }))
}

/// Everything about one device: its record, full history (every move with
/// who, when and why), acceptance check, warranty, installations,
/// commissioning runs, swaps, disposal, and the moves possible now.
#[utoipa::path(get, path = "/api/v1/meters/{id}/device", tag = "lifecycle",
    params(("id" = String, Path, description = "The meter's id")),
    responses((status = 200, description = "The device view", body = Object), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_device(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<service::DeviceView>, WebError> {
    let id: MeterId = parse(&id)?;
    let who = Who::of(&caller);
    Ok(Json(service::device_view(&who.ctx(&s), id).await?))
}

/// The acceptance check of a delivered device (验收): accepted, or
/// rejected with the reason.
#[utoipa::path(post, path = "/api/v1/meters/{id}/acceptance", tag = "lifecycle",
    params(("id" = String, Path, description = "The meter's id")),
    request_body = schema::AcceptanceIn,
    responses((status = 200, description = "The device record", body = Object), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn check_device(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<service::CheckIn>,
) -> Result<Response, WebError> {
    let id: MeterId = parse(&id)?;
    let who = Who::of(&caller);
    let d = service::check_device(&who.ctx(&s), id, b).await?;
    Ok(audited(format!("meter:{id}"), StatusCode::OK, d))
}

/// A move that needs only a reason. The policy table lets every staff role
/// with `read_fleet` reach this route; the permission depends on the
/// action and is checked here (403 otherwise): `return_to_supplier` and
/// `stock` need `manage_procurement`; `report_fault`, `start_repair` and
/// `repair` need `install_devices`; `restock` and `retire` need
/// `manage_devices`. A move the device's state does not allow is 409.
#[utoipa::path(post, path = "/api/v1/meters/{id}/lifecycle", tag = "lifecycle",
    params(("id" = String, Path, description = "The meter's id")),
    request_body = LifecycleActionIn,
    responses((status = 200, description = "The device record", body = Object), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn act(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<LifecycleActionIn>,
) -> Result<Response, WebError> {
    let id: MeterId = parse(&id)?;
    let needed = b.action.permission();
    if !caller.can(needed) {
        return Err(WebError::Forbidden(format!(
            "your role ({}) may not {}: it needs {needed}",
            caller.principal.actor.as_str(),
            b.action.action()
        )));
    }
    let who = Who::of(&caller);
    let d = service::act(&who.ctx(&s), id, b.action.action(), &b.reason).await?;
    Ok(audited(format!("meter:{id}"), StatusCode::OK, d))
}

/// Takes a meter out of its unit (拆除): the engine stops billing it.
#[utoipa::path(post, path = "/api/v1/meters/{id}/remove", tag = "lifecycle",
    params(("id" = String, Path, description = "The meter's id")),
    request_body = RemoveIn,
    responses((status = 200, description = "The device record", body = Object), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<RemoveIn>,
) -> Result<Response, WebError> {
    let id: MeterId = parse(&id)?;
    let who = Who::of(&caller);
    let d = service::remove(&who.ctx(&s), id, &b.reason).await?;
    Ok(audited(format!("meter:{id}"), StatusCode::OK, d))
}

/// Scraps a removed meter (报废) with its disposal record.
#[utoipa::path(post, path = "/api/v1/meters/{id}/scrap", tag = "lifecycle",
    params(("id" = String, Path, description = "The meter's id")),
    request_body = schema::DisposalIn,
    responses((status = 200, description = "The device record", body = Object), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn scrap(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<service::DisposalIn>,
) -> Result<Response, WebError> {
    let id: MeterId = parse(&id)?;
    let who = Who::of(&caller);
    let d = service::scrap(&who.ctx(&s), id, b).await?;
    Ok(audited(format!("meter:{id}"), StatusCode::OK, d))
}

/// Commissions an installed meter (调试): reading, test credit and its
/// reversal, a priced deduction, the balance against the ledger, a
/// harmless command. Waits for the run ([`COMMISSION_STEP_TIMEOUT`] per
/// step, so up to ~100 s). Passed → the meter is in service; failed is
/// still 200, with `outcome` `failed` and the reason, and the meter stays
/// installed. 409 when the meter is not installed or a run is going.
#[utoipa::path(post, path = "/api/v1/meters/{id}/commission", tag = "lifecycle",
    params(("id" = String, Path, description = "The meter's id")),
    responses((status = 200, description = "The commissioning run: outcome, steps, reason", body = Object),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn commission(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id: MeterId = parse(&id)?;
    let who = Who::of(&caller);
    // On its own task: a client that goes away mid-run (the console's
    // page closed) must not abandon the run half-way with the meter's
    // test credit posted and the run left "running".
    let task = tokio::spawn(async move {
        service::commission_meter(&who.ctx(&s), id, COMMISSION_STEP_TIMEOUT).await
    });
    let run = task
        .await
        .map_err(|e| WebError::Unavailable(format!("the commissioning task stopped: {e}")))??;
    Ok(audited(format!("meter:{id}"), StatusCode::OK, run))
}

/// Swaps a meter for one in stock (换表) with the data moved: the old
/// meter's final reading is billed, the unit, account and tariff go to the
/// new meter from its opening reading. A meter in a rollout's later wave
/// waits for the pilot's approval (422).
#[utoipa::path(post, path = "/api/v1/meters/{id}/swap", tag = "lifecycle",
    params(("id" = String, Path, description = "The old meter's id")),
    request_body = schema::SwapIn,
    responses((status = 201, description = "The swap record", body = Object), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn swap(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<service::SwapIn>,
) -> Result<Response, WebError> {
    let id: MeterId = parse(&id)?;
    let who = Who::of(&caller);
    // On its own task, like commissioning: a swap is several steps (final
    // reading, assignment, handover, opening reading) and must finish
    // even when the client goes away.
    let task = tokio::spawn(async move { service::swap_meter(&who.ctx(&s), id, b).await });
    let x = task
        .await
        .map_err(|e| WebError::Unavailable(format!("the swap task stopped: {e}")))??;
    Ok(audited(format!("meter:{id}"), StatusCode::CREATED, x))
}

// --- certifications and installations -------------------------------------------------

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct CertificationQuery {
    /// Only this staff member's.
    staff_user_id: Option<String>,
}

/// Staff certifications (上岗证), revoked and expired ones included.
#[utoipa::path(get, path = "/api/v1/certifications", tag = "lifecycle", params(CertificationQuery),
    responses((status = 200, description = "Certifications", body = Vec<Object>), (status = 422, body = ErrorBody)))]
pub(crate) async fn list_certifications(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<CertificationQuery>,
) -> Result<Json<Vec<yufu_store::lifecycle::Certification>>, WebError> {
    let staff: Option<StaffUserId> = opt(q.staff_user_id.as_deref())?;
    let org = caller.principal.organisation;
    Ok(Json(s.store.field().list_certifications(org, staff).await?))
}

/// Records a staff member's certification for a utility.
#[utoipa::path(post, path = "/api/v1/certifications", tag = "lifecycle", request_body = schema::CertificationIn,
    responses((status = 201, description = "The certification", body = Object), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn add_certification(
    State(s): State<AppState>,
    caller: Caller,
    Body(b): Body<service::CertificationIn>,
) -> Result<Response, WebError> {
    let who = Who::of(&caller);
    let c = service::add_certification(&who.ctx(&s), b).await?;
    Ok(audited(
        format!("certification:{}", c.id),
        StatusCode::CREATED,
        c,
    ))
}

/// Revokes a certification: its holder can no longer be planned for, or
/// complete, installations of its utility. 409 when already revoked.
#[utoipa::path(post, path = "/api/v1/certifications/{id}/revoke", tag = "lifecycle",
    params(("id" = String, Path, description = "The certification's id")),
    responses((status = 200, description = "The certification", body = Object), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn revoke_certification(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id: CertificationId = parse(&id)?;
    let org = caller.principal.organisation;
    let field = s.store.field();
    // The store has no lookup by id: the organisation's list is how a
    // certification of another organisation stays invisible (404).
    let find =
        |all: Vec<yufu_store::lifecycle::Certification>| all.into_iter().find(|c| c.id == id);
    let Some(before) = find(field.list_certifications(org, None).await?) else {
        return Err(WebError::NotFound);
    };
    if !field
        .revoke_certification(id, Timestamp::now().as_millisecond())
        .await?
    {
        return Err(WebError::Conflict(format!(
            "certification {} was already revoked",
            before.number
        )));
    }
    let after = find(
        field
            .list_certifications(org, Some(before.staff_user_id))
            .await?,
    )
    .ok_or(WebError::NotFound)?;
    let note = AuditNote::change(
        format!("certification:{id}"),
        serde_json::to_value(&before).ok(),
        serde_json::to_value(&after).ok(),
    );
    Ok(note.on(Json(after)))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstallationQuery {
    /// `planned`, `installed` or `cancelled`.
    status: Option<String>,
    /// Only this installer's.
    installer_id: Option<String>,
}

/// Installation plans (安装计划); a site-scoped caller sees their sites'.
#[utoipa::path(get, path = "/api/v1/installations", tag = "lifecycle", params(InstallationQuery),
    responses((status = 200, description = "Installation plans", body = Vec<Object>), (status = 422, body = ErrorBody)))]
pub(crate) async fn list_installations(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<InstallationQuery>,
) -> Result<Json<Vec<yufu_store::lifecycle::InstallationPlan>>, WebError> {
    let status = q
        .status
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(str::parse::<InstallationStatus>)
        .transpose()
        .map_err(|e| WebError::Invalid(format!("status: {e}")))?;
    let filter = InstallationFilter {
        status,
        installer: opt(q.installer_id.as_deref())?,
        meter: None,
        sites: match &caller.principal.sites {
            SiteScope::All => None,
            SiteScope::Only(sites) => Some(sites.iter().copied().collect()),
        },
    };
    let org = caller.principal.organisation;
    Ok(Json(
        s.store.field().list_installations(org, &filter).await?,
    ))
}

/// Plans an installation: the device must be in stock and the installer
/// certified for its utility on the day (else 422, saying what they hold).
/// A site-scoped caller plans only into their sites' units.
#[utoipa::path(post, path = "/api/v1/installations", tag = "lifecycle", request_body = schema::InstallationPlanIn,
    responses((status = 201, description = "The plan", body = Object), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn plan_installation(
    State(s): State<AppState>,
    caller: Caller,
    Body(b): Body<service::PlanIn>,
) -> Result<Response, WebError> {
    if caller.scoped() {
        // The route is on the gate's self-scoped list: the unit's site
        // decides, before anything is planned.
        let unit = s.store.get_unit(b.unit_id).await?;
        let building = s.store.get_building(unit.building_id).await?;
        caller.site(building.site_id)?;
    }
    let who = Who::of(&caller);
    let p = service::plan_installation(&who.ctx(&s), b).await?;
    Ok(audited(
        format!("installation:{}", p.id),
        StatusCode::CREATED,
        p,
    ))
}

/// The plan if the caller may see it (organisation and site scope).
async fn scoped_plan(
    ctx: &Ctx<'_>,
    caller: &Caller,
    id: InstallationId,
) -> Result<yufu_store::lifecycle::InstallationPlan, WebError> {
    let p = service::installation(ctx, id).await?;
    caller.site(p.site_id)?;
    Ok(p)
}

/// One installation plan with its recorded checklist.
#[utoipa::path(get, path = "/api/v1/installations/{id}", tag = "lifecycle",
    params(("id" = String, Path, description = "The plan's id")),
    responses((status = 200, description = "The plan", body = Object), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn get_installation(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<yufu_store::lifecycle::InstallationPlan>, WebError> {
    let id: InstallationId = parse(&id)?;
    let who = Who::of(&caller);
    Ok(Json(scoped_plan(&who.ctx(&s), &caller, id).await?))
}

/// Completes an installation: the utility's whole checklist, passed (a
/// failed one is recorded and refused with 422; the plan stays planned),
/// and the installer still certified; the meter goes on its unit, account
/// and tariff and the engine bills it from the opening reading.
#[utoipa::path(post, path = "/api/v1/installations/{id}/complete", tag = "lifecycle",
    params(("id" = String, Path, description = "The plan's id")),
    request_body = schema::InstallationCompleteIn,
    responses((status = 200, description = "The plan, installed", body = Object), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn complete_installation(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<service::CompleteIn>,
) -> Result<Response, WebError> {
    let id: InstallationId = parse(&id)?;
    let who = Who::of(&caller);
    let ctx = who.ctx(&s);
    scoped_plan(&ctx, &caller, id).await?;
    let p = service::complete_installation(&ctx, id, b).await?;
    Ok(audited(format!("installation:{id}"), StatusCode::OK, p))
}

/// Cancels a planned installation (409 once it is installed or cancelled).
#[utoipa::path(post, path = "/api/v1/installations/{id}/cancel", tag = "lifecycle",
    params(("id" = String, Path, description = "The plan's id")),
    responses((status = 200, description = "The plan, cancelled", body = Object), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn cancel_installation(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id: InstallationId = parse(&id)?;
    let who = Who::of(&caller);
    let ctx = who.ctx(&s);
    let before = service::installation(&ctx, id).await?;
    s.store
        .field()
        .cancel_installation(id, &who.actor, ctx.now.as_millisecond())
        .await
        .map_err(LifecycleError::from)?;
    let after = service::installation(&ctx, id).await?;
    let note = AuditNote::change(
        format!("installation:{id}"),
        serde_json::to_value(&before).ok(),
        serde_json::to_value(&after).ok(),
    );
    Ok(note.on(Json(after)))
}

// --- replacement and rollouts -----------------------------------------------------------

/// Devices due for replacement (技术与寿命评估) under the default policy:
/// past their service life, or failing too often (on their own, or their
/// model against the fleet).
#[utoipa::path(get, path = "/api/v1/replacement/due", tag = "lifecycle",
    responses((status = 200, description = "Devices with their reasons", body = Vec<Object>)))]
pub(crate) async fn replacement_due(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<service::DueDevice>>, WebError> {
    let who = Who::of(&caller);
    let policy = yufu_domain::evaluation::ReplacementPolicy::default();
    Ok(Json(
        service::due_for_replacement(&who.ctx(&s), &policy).await?,
    ))
}

/// The cost–benefit of replacing a group of devices (成本效益): costs,
/// savings, payback and the net over the new model's life, every sum in fen.
/// Changes nothing.
#[utoipa::path(post, path = "/api/v1/replacement/cost-benefit", tag = "lifecycle",
    request_body = schema::CostBenefitIn,
    responses((status = 200, description = "The cost–benefit", body = Object), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn cost_benefit(
    State(s): State<AppState>,
    caller: Caller,
    Body(b): Body<service::CostBenefitRequest>,
) -> Result<Json<yufu_domain::evaluation::CostBenefit>, WebError> {
    let who = Who::of(&caller);
    Ok(Json(service::cost_benefit(&who.ctx(&s), b).await?))
}

/// Replacement rollouts (逐步更新计划).
#[utoipa::path(get, path = "/api/v1/rollouts", tag = "lifecycle",
    responses((status = 200, description = "Rollouts", body = Vec<Object>)))]
pub(crate) async fn list_rollouts(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<yufu_store::lifecycle::Rollout>>, WebError> {
    let org = caller.principal.organisation;
    Ok(Json(s.store.field().list_rollouts(org).await?))
}

/// Plans a rollout: a pilot group, then waves that may be swapped only once
/// the pilot is approved.
#[utoipa::path(post, path = "/api/v1/rollouts", tag = "lifecycle", request_body = schema::RolloutIn,
    responses((status = 201, description = "The rollout view", body = Object), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_rollout(
    State(s): State<AppState>,
    caller: Caller,
    Body(b): Body<service::RolloutIn>,
) -> Result<Response, WebError> {
    let who = Who::of(&caller);
    let v = service::create_rollout(&who.ctx(&s), b).await?;
    Ok(audited(
        format!("rollout:{}", v.rollout.id),
        StatusCode::CREATED,
        v,
    ))
}

/// A rollout: its members by wave and the pilot's results against the rest.
#[utoipa::path(get, path = "/api/v1/rollouts/{id}", tag = "lifecycle",
    params(("id" = String, Path, description = "The rollout's id")),
    responses((status = 200, description = "The rollout view", body = Object), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn get_rollout(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<service::RolloutView>, WebError> {
    let id: RolloutId = parse(&id)?;
    let who = Who::of(&caller);
    Ok(Json(service::rollout_view(&who.ctx(&s), id).await?))
}

/// Approves the pilot so the later waves may be swapped: only once every
/// pilot meter is swapped; when the results are not favourable, only with
/// `override_reason`. The body may be empty.
#[utoipa::path(post, path = "/api/v1/rollouts/{id}/approve-pilot", tag = "lifecycle",
    params(("id" = String, Path, description = "The rollout's id")),
    request_body(content = ApprovePilotIn, description = "Optional: the body may be empty"),
    responses((status = 200, description = "The rollout view", body = Object), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn approve_pilot(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    let id: RolloutId = parse(&id)?;
    let b: ApprovePilotIn = optional_body(&body)?;
    let who = Who::of(&caller);
    let v = service::approve_pilot(&who.ctx(&s), id, b.override_reason.as_deref()).await?;
    Ok(audited(format!("rollout:{id}"), StatusCode::OK, v))
}

// --- demand -------------------------------------------------------------------------------

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct DemandQuery {
    /// Comma-separated, e.g. `electricity,water` (default all three).
    utilities: Option<String>,
}

/// 需求评估 for a site: units without a meter of each utility, and devices
/// due for replacement, with the model to buy.
#[utoipa::path(get, path = "/api/v1/sites/{id}/demand", tag = "lifecycle",
    params(("id" = String, Path, description = "The site's id"), DemandQuery),
    responses((status = 200, description = "The demand by utility and model", body = Object),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn demand(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<DemandQuery>,
) -> Result<Json<service::Demand>, WebError> {
    let id: SiteId = parse(&id)?;
    let utilities: Vec<Utility> = match q.utilities.as_deref().map(str::trim) {
        None | Some("") => Utility::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|u| parse::<Utility>(u.trim()))
            .collect::<Result<_, _>>()?,
    };
    let who = Who::of(&caller);
    Ok(Json(service::demand(&who.ctx(&s), id, &utilities).await?))
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_models, create_model))
        .routes(routes!(list_suppliers, create_supplier))
        .routes(routes!(get_supplier))
        .routes(routes!(add_qualification))
        .routes(routes!(list_contracts, create_contract))
        .routes(routes!(get_contract))
        .routes(routes!(approve_contract))
        .routes(routes!(cancel_contract))
        .routes(routes!(create_delivery))
        .routes(routes!(get_delivery))
        .routes(
            routes!(import_serials)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_SERIALS_BODY_BYTES)),
        )
        .routes(routes!(list_devices))
        .routes(routes!(get_device))
        .routes(routes!(check_device))
        .routes(routes!(act))
        .routes(routes!(remove))
        .routes(routes!(scrap))
        .routes(routes!(commission))
        .routes(routes!(swap))
        .routes(routes!(list_certifications, add_certification))
        .routes(routes!(revoke_certification))
        .routes(routes!(list_installations, plan_installation))
        .routes(routes!(get_installation))
        .routes(routes!(complete_installation))
        .routes(routes!(cancel_installation))
        .routes(routes!(replacement_due))
        .routes(routes!(cost_benefit))
        .routes(routes!(list_rollouts, create_rollout))
        .routes(routes!(get_rollout))
        .routes(routes!(approve_pilot))
        .routes(routes!(demand))
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    /// The property names of a documented body.
    fn documented<T: PartialSchema>() -> Vec<String> {
        let v = serde_json::to_value(T::schema()).expect("a schema serialises");
        let mut names: Vec<String> = v["properties"]
            .as_object()
            .expect("an object schema")
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// Each documented body, filled with every field it documents, is read
    /// by the service's struct (which refuses unknown fields and needs its
    /// required ones): a field renamed, added or dropped on either side
    /// fails here.
    #[test]
    fn documented_bodies_are_the_services() {
        fn check<D: PartialSchema, S: serde::de::DeserializeOwned>(example: serde_json::Value) {
            let mut keys: Vec<String> = example
                .as_object()
                .expect("an object")
                .keys()
                .cloned()
                .collect();
            keys.sort();
            assert_eq!(
                keys,
                documented::<D>(),
                "the example must fill every documented field"
            );
            if let Err(e) = serde_json::from_value::<S>(example.clone()) {
                panic!(
                    "{} does not read {example}: {e}",
                    std::any::type_name::<S>()
                );
            }
        }
        let id = "0190a0b0-0000-7000-8000-000000000001";
        check::<schema::DeviceModelIn, service::ModelIn>(serde_json::json!({
            "maker": "Holley", "model": "DDSY285", "utility": "electricity", "protocol": "dlt645_2007",
            "phases": 1, "accuracy_class": "2.0", "service_life_years": 10,
            "features": ["remote_switch"], "list_price_fen": 18000,
        }));
        check::<schema::SupplierIn, service::SupplierIn>(serde_json::json!({
            "name": "Holley", "contact_name": "Li", "contact_phone": "0571-1", "address": "Hangzhou",
        }));
        check::<schema::QualificationIn, service::QualificationIn>(serde_json::json!({
            "name": "CMC", "number": "1", "expires_on": "2030-01-01",
        }));
        check::<schema::ContractLineIn, service::LineIn>(serde_json::json!({
            "model_id": id, "quantity": 10, "unit_price_fen": 100, "delivery_due": "2030-01-01",
        }));
        check::<schema::ContractIn, service::ContractIn>(serde_json::json!({
            "number": "C1", "supplier_id": id,
            "lines": [{"model_id": id, "quantity": 10, "unit_price_fen": 100, "delivery_due": "2030-01-01"}],
            "transport_fen": 1, "installation_fen": 1, "commissioning_fen": 1, "warranty_months": 24,
            "after_sales": "",
        }));
        check::<schema::DeliveryIn, service::DeliveryIn>(serde_json::json!({
            "note_number": "D1", "delivered_on": "2026-01-01",
        }));
        check::<schema::AcceptanceIn, service::CheckIn>(serde_json::json!({
            "appearance_ok": true, "accessories_ok": true, "function_ok": true, "reason": "",
        }));
        check::<schema::DisposalIn, service::DisposalIn>(serde_json::json!({
            "method": "recycler", "reason": "old", "record": "R1",
        }));
        check::<schema::SwapIn, service::SwapIn>(serde_json::json!({
            "new_meter_id": id, "final_reading": 1, "opening_reading": 0, "reason": "faulty",
            "final_at": "2026-11-26T08:00:00Z", "opening_at": "2026-11-26T08:05:00Z",
        }));
        check::<schema::CertificationIn, service::CertificationIn>(serde_json::json!({
            "staff_user_id": id, "utility": "gas", "number": "N", "issued_on": "2026-01-01",
            "expires_on": "2027-01-01",
        }));
        check::<schema::InstallationPlanIn, service::PlanIn>(serde_json::json!({
            "meter_id": id, "unit_id": id, "account_id": id, "tariff_code": "T",
            "scheduled_on": "2026-01-01", "installer_id": id, "note": "",
        }));
        check::<schema::ChecklistItemIn, yufu_domain::lifecycle::CheckResult>(serde_json::json!({
            "item": "wiring", "passed": true, "note": "",
        }));
        check::<schema::InstallationCompleteIn, service::CompleteIn>(serde_json::json!({
            "checklist": [{"item": "wiring", "passed": true, "note": ""}], "opening_reading": 0,
        }));
        check::<schema::CostBenefitIn, service::CostBenefitRequest>(serde_json::json!({
            "devices": 1, "model_id": id, "device_price_fen": 1, "installation_fen": 1,
            "commissioning_fen": 1, "old_maintenance_per_year_fen": 1,
            "new_maintenance_per_year_fen": 1, "loss_saving_per_year_fen": 1, "salvage_fen": 0,
        }));
        check::<schema::RolloutIn, service::RolloutIn>(serde_json::json!({
            "name": "R", "model_id": id, "pilot": [id], "waves": [[id]],
        }));
    }

    #[test]
    fn every_simple_action_is_one_the_service_takes() {
        for a in [
            SimpleAction::ReturnToSupplier,
            SimpleAction::Stock,
            SimpleAction::ReportFault,
            SimpleAction::StartRepair,
            SimpleAction::Repair,
            SimpleAction::Restock,
            SimpleAction::Retire,
        ] {
            assert!(service::SIMPLE_ACTIONS.contains(&a.action()), "{a:?}");
        }
        assert_eq!(service::SIMPLE_ACTIONS.len(), 7);
    }

    #[test]
    fn today_is_the_shanghai_day() {
        // 2026-03-01 17:00 UTC is already 2 March in Shanghai.
        let t: Timestamp = "2026-03-01T17:00:00Z".parse().expect("a timestamp");
        assert_eq!(today(t), jiff::civil::date(2026, 3, 2));
    }
}
