//! `/api/v1` resources for the foundation data model: organisations, the
//! site → building → unit tree, customers, accounts and meters with their
//! assignment. Handlers are thin: parse into domain values (422 on a broken
//! rule), call the store, render a DTO.
//!
//! Every route here passes the gate (`auth::gate`): the permission is
//! checked there, and site scope for routes addressed by an id.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use yufu_domain::*;
use yufu_store::{MeterFilter, Page};

use crate::error::ErrorBody;
use crate::{AppState, WebError};

/// `Json` whose rejections are our error body, not axum's plain text.
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = WebError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e @ JsonRejection::JsonDataError(_)) => Err(WebError::Invalid(e.body_text())),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(WebError::TooLarge(format!(
                    "the body is larger than this route accepts: {}",
                    e.body_text()
                )))
            }
            Err(e) => Err(WebError::BadRequest(e.body_text())),
        }
    }
}

fn parse<T: std::str::FromStr<Err = DomainError>>(s: &str) -> Result<T, WebError> {
    s.parse().map_err(WebError::from)
}

/// Keyset paging: `?after=<last id seen>&limit=<1..500>`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct Paging {
    /// The last id of the previous page.
    after: Option<String>,
    /// Rows per page, 1–500 (default 50).
    limit: Option<u32>,
    /// Meters only: `electricity`, `water` or `gas`.
    utility: Option<String>,
    /// Meters only: a meter status.
    status: Option<String>,
}

impl Paging {
    fn page(&self) -> Page {
        let limit = self.limit.unwrap_or(50);
        match &self.after {
            Some(after) => Page::after(after, limit),
            None => Page::first(limit),
        }
    }
}

/// A page of rows and the cursor for the next one.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Listing<T> {
    items: Vec<T>,
    /// Pass as `after` for the next page; absent on the last page.
    next_after: Option<String>,
}

fn listing<T, O>(
    rows: Vec<T>,
    page: &Page,
    id: impl Fn(&T) -> String,
    out: impl Fn(T) -> O,
) -> Listing<O> {
    let full = rows.len() == usize::try_from(page.limit()).unwrap_or(usize::MAX);
    let next_after = if full { rows.last().map(&id) } else { None };
    Listing {
        items: rows.into_iter().map(out).collect(),
        next_after,
    }
}

// --- organisations -------------------------------------------------------------

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrganisationIn {
    name: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct OrganisationOut {
    id: String,
    name: String,
    created_at: String,
}

impl From<Organisation> for OrganisationOut {
    fn from(o: Organisation) -> Self {
        Self {
            id: o.id.to_string(),
            name: o.name.to_string(),
            created_at: o.created_at.to_string(),
        }
    }
}

/// Create an organisation (the operator: a utility, property manager or park).
#[utoipa::path(post, path = "/api/v1/organisations", tag = "data", request_body = OrganisationIn,
    responses((status = 201, body = OrganisationOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_organisation(
    State(s): State<AppState>,
    Body(b): Body<OrganisationIn>,
) -> Result<(StatusCode, Json<OrganisationOut>), WebError> {
    let org = s
        .store
        .create_organisation(&NewOrganisation {
            name: parse(&b.name)?,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(org.into())))
}

/// List organisations.
#[utoipa::path(get, path = "/api/v1/organisations", tag = "data", params(Paging),
    responses((status = 200, body = Listing<OrganisationOut>)))]
pub(crate) async fn list_organisations(
    State(s): State<AppState>,
    Query(q): Query<Paging>,
) -> Result<Json<Listing<OrganisationOut>>, WebError> {
    let page = q.page();
    let rows = s.store.list_organisations(&page).await?;
    Ok(Json(listing(
        rows,
        &page,
        |o| o.id.to_string(),
        OrganisationOut::from,
    )))
}

// --- sites, buildings, units ------------------------------------------------

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SiteIn {
    organisation_id: String,
    /// e.g. `GZ-TH01`
    code: String,
    name: String,
    city: String,
    /// IANA zone; default `Asia/Shanghai`.
    timezone: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SiteOut {
    id: String,
    organisation_id: String,
    code: String,
    name: String,
    city: String,
    timezone: String,
    created_at: String,
}

impl From<Site> for SiteOut {
    fn from(s: Site) -> Self {
        Self {
            id: s.id.to_string(),
            organisation_id: s.organisation_id.to_string(),
            code: s.code.to_string(),
            name: s.name.to_string(),
            city: s.city.to_string(),
            timezone: s.timezone.to_string(),
            created_at: s.created_at.to_string(),
        }
    }
}

/// Create a site (园区/小区).
#[utoipa::path(post, path = "/api/v1/sites", tag = "data", request_body = SiteIn,
    responses((status = 201, body = SiteOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_site(
    State(s): State<AppState>,
    Body(b): Body<SiteIn>,
) -> Result<(StatusCode, Json<SiteOut>), WebError> {
    let new = NewSite {
        organisation_id: parse(&b.organisation_id)?,
        code: parse(&b.code)?,
        name: parse(&b.name)?,
        city: parse(&b.city)?,
        timezone: b
            .timezone
            .as_deref()
            .map(parse)
            .transpose()?
            .unwrap_or_else(TimeZoneName::shanghai),
    };
    Ok((
        StatusCode::CREATED,
        Json(s.store.create_site(&new).await?.into()),
    ))
}

/// Read a site.
#[utoipa::path(get, path = "/api/v1/sites/{id}", tag = "data",
    responses((status = 200, body = SiteOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_site(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SiteOut>, WebError> {
    Ok(Json(s.store.get_site(parse(&id)?).await?.into()))
}

/// List an organisation's sites.
#[utoipa::path(get, path = "/api/v1/organisations/{id}/sites", tag = "data", params(Paging),
    responses((status = 200, body = Listing<SiteOut>)))]
pub(crate) async fn list_sites(
    State(s): State<AppState>,
    caller: crate::Caller,
    Path(id): Path<String>,
    Query(q): Query<Paging>,
) -> Result<Json<Listing<SiteOut>>, WebError> {
    let page = q.page();
    let rows = s.store.list_sites(parse(&id)?, &page).await?;
    let mut out = listing(rows, &page, |x| x.id.to_string(), SiteOut::from);
    // Site-scoped staff see their sites only (the cursor still pages the
    // whole list, so paging stays correct).
    out.items.retain(|site| {
        site.id
            .parse::<SiteId>()
            .is_ok_and(|id| caller.site(id).is_ok())
    });
    Ok(Json(out))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BuildingIn {
    site_id: String,
    code: String,
    name: String,
    floors: u16,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct BuildingOut {
    id: String,
    site_id: String,
    code: String,
    name: String,
    floors: u16,
}

/// Create a building (楼栋) on a site.
#[utoipa::path(post, path = "/api/v1/buildings", tag = "data", request_body = BuildingIn,
    responses((status = 201, body = BuildingOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_building(
    State(s): State<AppState>,
    Body(b): Body<BuildingIn>,
) -> Result<(StatusCode, Json<BuildingOut>), WebError> {
    let new = NewBuilding {
        site_id: parse(&b.site_id)?,
        code: parse(&b.code)?,
        name: parse(&b.name)?,
        floors: b.floors,
    };
    let x = s.store.create_building(&new).await?;
    Ok((
        StatusCode::CREATED,
        Json(BuildingOut {
            id: x.id.to_string(),
            site_id: x.site_id.to_string(),
            code: x.code.to_string(),
            name: x.name.to_string(),
            floors: x.floors,
        }),
    ))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UnitIn {
    building_id: String,
    code: String,
    floor: i16,
    /// residential, commercial, industrial, office, public, other
    kind: String,
    /// Floor area in m² with up to two decimals, as a string: `"89.50"`.
    area_sqm: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct UnitOut {
    id: String,
    building_id: String,
    code: String,
    floor: i16,
    kind: String,
    area_sqm: String,
}

/// Create a unit (户), the premises a meter supplies.
#[utoipa::path(post, path = "/api/v1/units", tag = "data", request_body = UnitIn,
    responses((status = 201, body = UnitOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_unit(
    State(s): State<AppState>,
    Body(b): Body<UnitIn>,
) -> Result<(StatusCode, Json<UnitOut>), WebError> {
    let new = NewUnit {
        building_id: parse(&b.building_id)?,
        code: parse(&b.code)?,
        floor: b.floor,
        kind: parse(&b.kind)?,
        area: AreaCentiSqm::parse_sqm(&b.area_sqm)?,
    };
    let u = s.store.create_unit(&new).await?;
    Ok((
        StatusCode::CREATED,
        Json(UnitOut {
            id: u.id.to_string(),
            building_id: u.building_id.to_string(),
            code: u.code.to_string(),
            floor: u.floor,
            kind: u.kind.to_string(),
            area_sqm: u.area.to_string(),
        }),
    ))
}

// --- customers and accounts --------------------------------------------------

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerIn {
    organisation_id: String,
    /// person or company
    kind: String,
    name: String,
    phone: Option<String>,
    id_number: Option<String>,
    address: Option<String>,
}

/// A customer; personal data is masked unless the caller's role may read it
/// (`read_personal`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct CustomerOut {
    id: String,
    organisation_id: String,
    kind: String,
    /// Masked: first character, then `*`.
    name: String,
    /// Masked: first three and last four digits.
    phone: Option<String>,
    /// Masked: first four and last four characters.
    id_number: Option<String>,
    /// Masked: the first six characters, then `…`.
    address: Option<String>,
}

/// Keeps `head` leading and `tail` trailing characters, stars the rest.
pub(crate) fn mask(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len().max(1));
    }
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

impl CustomerOut {
    /// Unmasked for roles that may read personal data, masked for the rest.
    fn for_caller(c: Customer, caller: &crate::Caller) -> Self {
        if !caller.can(yufu_access::Permission::ReadPersonal) {
            return c.into();
        }
        Self {
            id: c.id.to_string(),
            organisation_id: c.organisation_id.to_string(),
            kind: c.kind.to_string(),
            name: c.name.expose().clone(),
            phone: c.phone.map(|p| p.expose().clone()),
            id_number: c.id_number.map(|p| p.expose().clone()),
            address: c.address.map(|p| p.expose().clone()),
        }
    }
}

impl From<Customer> for CustomerOut {
    fn from(c: Customer) -> Self {
        Self {
            id: c.id.to_string(),
            organisation_id: c.organisation_id.to_string(),
            kind: c.kind.to_string(),
            name: mask(c.name.expose(), 1, 0),
            phone: c.phone.map(|p| mask(p.expose(), 3, 4)),
            id_number: c.id_number.map(|p| mask(p.expose(), 4, 4)),
            address: c
                .address
                .map(|p| format!("{}…", p.expose().chars().take(6).collect::<String>())),
        }
    }
}

/// Create a customer (person or company).
#[utoipa::path(post, path = "/api/v1/customers", tag = "data", request_body = CustomerIn,
    responses((status = 201, body = CustomerOut), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_customer(
    State(s): State<AppState>,
    Body(b): Body<CustomerIn>,
) -> Result<(StatusCode, Json<CustomerOut>), WebError> {
    let new = NewCustomer::new(
        parse(&b.organisation_id)?,
        parse(&b.kind)?,
        &b.name,
        b.phone.as_deref(),
        b.id_number.as_deref(),
        b.address.as_deref(),
    )?;
    Ok((
        StatusCode::CREATED,
        Json(s.store.create_customer(&new).await?.into()),
    ))
}

/// Read a customer (personal data masked).
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "data",
    responses((status = 200, body = CustomerOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_customer(
    State(s): State<AppState>,
    caller: crate::Caller,
    Path(id): Path<String>,
) -> Result<Json<CustomerOut>, WebError> {
    let c = s.store.get_customer(parse(&id)?).await?;
    Ok(Json(CustomerOut::for_caller(c, &caller)))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerSearch {
    organisation_id: String,
    /// A phone number in any format (`+86 138-0013-8000`, `13800138000`).
    phone: String,
}

/// Finds customers by phone number. Phone numbers are stored encrypted;
/// the search goes through their keyed hash (blind index).
#[utoipa::path(get, path = "/api/v1/customers", tag = "data", params(CustomerSearch),
    responses((status = 200, body = Vec<CustomerOut>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn search_customers(
    State(s): State<AppState>,
    caller: crate::Caller,
    Query(q): Query<CustomerSearch>,
) -> Result<Json<Vec<CustomerOut>>, WebError> {
    let org: OrganisationId = parse(&q.organisation_id)?;
    if q.phone.bytes().filter(u8::is_ascii_digit).count() < 5 {
        return Err(WebError::Invalid("phone needs at least 5 digits".into()));
    }
    let found = s.store.find_customers_by_phone(org, &q.phone).await?;
    Ok(Json(
        found
            .into_iter()
            .map(|c| CustomerOut::for_caller(c, &caller))
            .collect(),
    ))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountIn {
    organisation_id: String,
    /// The account number (户号) printed on receipts.
    number: String,
    customer_id: String,
    /// residential, commercial, industrial, public
    class: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AccountOut {
    id: String,
    organisation_id: String,
    number: String,
    customer_id: String,
    class: String,
    status: String,
    /// Integer fen (0.01 yuan).
    balance_fen: i64,
}

impl From<Account> for AccountOut {
    fn from(a: Account) -> Self {
        Self {
            id: a.id.to_string(),
            organisation_id: a.organisation_id.to_string(),
            number: a.number.to_string(),
            customer_id: a.customer_id.to_string(),
            class: a.class.to_string(),
            status: a.status.to_string(),
            balance_fen: a.balance.0,
        }
    }
}

/// Open an account (the prepaid balance) for a customer.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "data", request_body = AccountIn,
    responses((status = 201, body = AccountOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_account(
    State(s): State<AppState>,
    Body(b): Body<AccountIn>,
) -> Result<(StatusCode, Json<AccountOut>), WebError> {
    let new = NewAccount {
        organisation_id: parse(&b.organisation_id)?,
        number: parse(&b.number)?,
        customer_id: parse(&b.customer_id)?,
        class: parse(&b.class)?,
    };
    Ok((
        StatusCode::CREATED,
        Json(s.store.create_account(&new).await?.into()),
    ))
}

/// Read an account.
#[utoipa::path(get, path = "/api/v1/accounts/{id}", tag = "data",
    responses((status = 200, body = AccountOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_account(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AccountOut>, WebError> {
    let mut account = s.store.get_account(parse(&id)?).await?;
    // The ledger is the truth; the engine holds its committed sum.
    if let Some(view) = s.writer.account(account.id).await? {
        account.balance = yufu_domain::Fen(view.balance_fen);
    }
    Ok(Json(account.into()))
}

// --- meters ------------------------------------------------------------------

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MeterIn {
    organisation_id: String,
    serial: String,
    /// electricity, water, gas
    utility: String,
    model: String,
    /// dlt645_2007, dlt645_1997, cjt188, mqtt
    protocol: String,
    comm_address: String,
    /// CT × PT ratio; default 1.
    multiplier: Option<u32>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct MeterOut {
    id: String,
    organisation_id: String,
    serial: String,
    utility: String,
    model: String,
    protocol: String,
    comm_address: String,
    multiplier: u32,
    status: String,
    unit_id: Option<String>,
    account_id: Option<String>,
    /// The tariff it is priced with.
    tariff_code: Option<String>,
}

impl From<Meter> for MeterOut {
    fn from(m: Meter) -> Self {
        Self {
            id: m.id.to_string(),
            organisation_id: m.organisation_id.to_string(),
            serial: m.serial.to_string(),
            utility: m.utility.to_string(),
            model: m.model.to_string(),
            protocol: m.protocol.to_string(),
            comm_address: m.comm_address.to_string(),
            multiplier: m.multiplier.get(),
            status: m.status.to_string(),
            unit_id: m.unit_id.map(|u| u.to_string()),
            account_id: m.account_id.map(|a| a.to_string()),
            tariff_code: m.tariff_code.map(|t| t.to_string()),
        }
    }
}

/// Register a meter (in stock until assigned).
#[utoipa::path(post, path = "/api/v1/meters", tag = "data", request_body = MeterIn,
    responses((status = 201, body = MeterOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_meter(
    State(s): State<AppState>,
    Body(b): Body<MeterIn>,
) -> Result<(StatusCode, Json<MeterOut>), WebError> {
    let new = NewMeter {
        organisation_id: parse(&b.organisation_id)?,
        serial: parse(&b.serial)?,
        utility: parse(&b.utility)?,
        model: parse(&b.model)?,
        protocol: parse(&b.protocol)?,
        comm_address: parse(&b.comm_address)?,
        multiplier: Multiplier::new(b.multiplier.unwrap_or(1))?,
    };
    new.validate()?;
    Ok((
        StatusCode::CREATED,
        Json(s.store.create_meter(&new).await?.into()),
    ))
}

/// Read a meter.
#[utoipa::path(get, path = "/api/v1/meters/{id}", tag = "data",
    responses((status = 200, body = MeterOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_meter(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MeterOut>, WebError> {
    Ok(Json(s.store.get_meter(parse(&id)?).await?.into()))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignmentIn {
    /// The unit it supplies; absent or null to unlink.
    unit_id: Option<String>,
    /// The account it bills; absent or null to unlink.
    account_id: Option<String>,
}

/// Link a meter to the unit it supplies and the account it bills.
#[utoipa::path(put, path = "/api/v1/meters/{id}/assignment", tag = "data", request_body = AssignmentIn,
    responses((status = 200, body = MeterOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn assign_meter(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<AssignmentIn>,
) -> Result<Json<MeterOut>, WebError> {
    let unit = b.unit_id.as_deref().map(parse).transpose()?;
    let account = b.account_id.as_deref().map(parse).transpose()?;
    let meter = s.store.assign_meter(parse(&id)?, unit, account).await?;
    sync(&s, meter.id).await?;
    Ok(Json(meter.into()))
}

/// List an organisation's meters, optionally by utility and status.
#[utoipa::path(get, path = "/api/v1/organisations/{id}/meters", tag = "data", params(Paging),
    responses((status = 200, body = Listing<MeterOut>), (status = 422, body = ErrorBody)))]
pub(crate) async fn list_meters(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<Paging>,
) -> Result<Json<Listing<MeterOut>>, WebError> {
    let page = q.page();
    let filter = MeterFilter {
        utility: q.utility.as_deref().map(parse).transpose()?,
        status: q.status.as_deref().map(parse).transpose()?,
        ..Default::default()
    };
    let rows = s.store.list_meters(parse(&id)?, &filter, &page).await?;
    Ok(Json(listing(
        rows,
        &page,
        |m| m.id.to_string(),
        MeterOut::from,
    )))
}

// --- tariffs -----------------------------------------------------------------

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct TariffOut {
    code: String,
    /// 1, 2, 3… per code; the latest is in force.
    revision: i64,
    utility: String,
    name: String,
    created_at: String,
    /// The readable summary (as `yufu tariff check` prints it).
    summary: String,
    /// The TOML as uploaded (single-tariff reads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    source_toml: Option<String>,
}

fn tariff_out(t: TariffRevision, with_source: bool) -> TariffOut {
    let summary = yufu_tariff::parse_tariff(t.code.as_str(), &t.source_toml)
        .map(|parsed| yufu_tariff::summary::describe(&parsed))
        .unwrap_or_else(|e| format!("stored file no longer parses: {e}"));
    TariffOut {
        code: t.code.to_string(),
        revision: t.revision,
        utility: t.utility.to_string(),
        name: t.name,
        created_at: t.created_at.to_string(),
        summary,
        source_toml: with_source.then_some(t.source_toml),
    }
}

/// Upload a tariff file (TOML, see docs/tariffs.md) as the next revision of
/// its code. A file with errors is refused with the line of the first one.
#[utoipa::path(post, path = "/api/v1/organisations/{id}/tariffs", tag = "data",
    request_body(content = String, content_type = "application/toml", description = "A tariff file"),
    responses((status = 201, body = TariffOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn upload_tariff(
    State(s): State<AppState>,
    Path(id): Path<String>,
    text: String,
) -> Result<(StatusCode, Json<TariffOut>), WebError> {
    let org: OrganisationId = parse(&id)?;
    let tariff =
        yufu_tariff::parse_tariff("tariff", &text).map_err(|e| WebError::Invalid(e.to_string()))?;
    let new = NewTariffRevision {
        organisation_id: org,
        code: parse(&tariff.id)?,
        utility: tariff.utility,
        name: tariff.name.clone(),
        source_toml: text,
    };
    let stored = s.store.add_tariff_revision(&new).await?;
    // Meters on this code are priced with the new revision from now on.
    s.writer
        .configure(vec![yufu_writer::ConfigChange::Tariff {
            key: yufu_writer::sync::tariff_key(org, stored.code.as_str()),
            revision: stored.revision,
            toml: stored.source_toml.clone(),
        }])
        .await?;
    Ok((StatusCode::CREATED, Json(tariff_out(stored, false))))
}

/// The tariffs of an organisation, latest revision of each.
#[utoipa::path(get, path = "/api/v1/organisations/{id}/tariffs", tag = "data",
    responses((status = 200, body = Vec<TariffOut>)))]
pub(crate) async fn list_tariffs(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<TariffOut>>, WebError> {
    let rows = s.store.list_tariffs(parse(&id)?).await?;
    Ok(Json(
        rows.into_iter().map(|t| tariff_out(t, false)).collect(),
    ))
}

/// A tariff's revision in force, with its TOML.
#[utoipa::path(get, path = "/api/v1/organisations/{id}/tariffs/{code}", tag = "data",
    responses((status = 200, body = TariffOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_tariff(
    State(s): State<AppState>,
    Path((id, code)): Path<(String, String)>,
) -> Result<Json<TariffOut>, WebError> {
    let code: TariffCode = parse(&code)?;
    let t = s
        .store
        .latest_tariff(parse(&id)?, &code)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(Json(tariff_out(t, true)))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MeterTariffIn {
    /// A tariff code of the meter's organisation and utility; null to unassign.
    tariff_code: Option<String>,
}

/// Assign the tariff a meter is priced with.
#[utoipa::path(put, path = "/api/v1/meters/{id}/tariff", tag = "data", request_body = MeterTariffIn,
    responses((status = 200, body = MeterOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn set_meter_tariff(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<MeterTariffIn>,
) -> Result<Json<MeterOut>, WebError> {
    let code: Option<TariffCode> = b.tariff_code.as_deref().map(parse).transpose()?;
    let meter = s.store.set_meter_tariff(parse(&id)?, code.as_ref()).await?;
    sync(&s, meter.id).await?;
    Ok(Json(meter.into()))
}

/// Tells the engine what the store now says about a meter (journaled, so a
/// replay prices each reading with the configuration of its time).
async fn sync(s: &AppState, meter: yufu_domain::MeterId) -> Result<(), WebError> {
    yufu_writer::sync::sync_meter(s.store.as_ref(), &s.writer, meter)
        .await
        .map_err(WebError::from)
}

/// The data routes with their OpenAPI description.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_organisation, list_organisations))
        .routes(routes!(create_site))
        .routes(routes!(get_site))
        .routes(routes!(list_sites))
        .routes(routes!(create_building))
        .routes(routes!(create_unit))
        .routes(routes!(create_customer, search_customers))
        .routes(routes!(get_customer))
        .routes(routes!(create_account))
        .routes(routes!(get_account))
        .routes(routes!(create_meter))
        .routes(routes!(get_meter))
        .routes(routes!(assign_meter))
        .routes(routes!(list_meters))
        .routes(routes!(upload_tariff, list_tariffs))
        .routes(routes!(get_tariff))
        .routes(routes!(set_meter_tariff))
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn masks_keep_only_the_ends() {
        assert_eq!(mask("13800138000", 3, 4), "138****8000");
        assert_eq!(mask("陈小明", 1, 0), "陈**");
        assert_eq!(mask("44010619900101123X", 4, 4), "4401**********123X");
        assert_eq!(mask("12", 3, 4), "**");
    }
}
