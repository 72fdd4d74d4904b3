//! Meter connectivity over HTTP: alarms (engine, device events and
//! communication faults), a meter's presence, device access tokens, and
//! releasing a valve held shut for safety. Thin: the gateway and the
//! writer do the work.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use yufu_domain::MeterId;
use yufu_store::journal::{AlarmFilter, AlarmView};

use crate::api::Body;
use crate::engine_api::{ms_to_ts, parse};
use crate::error::ErrorBody;
use crate::{AppState, WebError};

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AlarmOut {
    id: i64,
    meter_id: String,
    /// e.g. `comm_fault`, `gas_leak`, `tamper`, `cover_open`, `magnetic`,
    /// `low_battery`, `valve_fault`, `negative_delta`, `command_failed`.
    kind: String,
    detail: String,
    raised_at: String,
    /// Set when the condition went away (data returned, event cleared).
    cleared_at: Option<String>,
    open: bool,
}

impl From<AlarmView> for AlarmOut {
    fn from(a: AlarmView) -> Self {
        Self {
            id: a.id,
            meter_id: a.meter_id.to_string(),
            kind: a.kind,
            detail: a.detail,
            raised_at: ms_to_ts(a.raised_at_ms),
            cleared_at: a.cleared_at_ms.map(ms_to_ts),
            open: a.cleared_at_ms.is_none(),
        }
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AlarmsOut {
    /// Newest first.
    alarms: Vec<AlarmOut>,
    /// Pass as `before` for the next page; absent on the last page.
    next_before: Option<i64>,
}

/// A meter's alarms (newest first, at most 50).
#[utoipa::path(get, path = "/api/v1/meters/{id}/alarms", tag = "devices",
    responses((status = 200, body = AlarmsOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_meter_alarms(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AlarmsOut>, WebError> {
    let meter: MeterId = parse(&id)?;
    let rows = s.store.journal().meter_alarms(meter, 50).await?;
    if rows.is_empty() {
        s.store.get_meter(meter).await?;
    }
    Ok(Json(AlarmsOut {
        alarms: rows.into_iter().map(AlarmOut::from).collect(),
        next_before: None,
    }))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlarmQuery {
    /// Only this kind, e.g. `comm_fault`.
    kind: Option<String>,
    /// `true`: only alarms not cleared yet.
    open: Option<bool>,
    /// Alarms with an id below this (from `next_before`).
    before: Option<i64>,
    /// 1–500, default 50.
    limit: Option<u32>,
}

/// Alarms of every meter, newest first, filtered and paged.
#[utoipa::path(get, path = "/api/v1/alarms", tag = "devices", params(AlarmQuery),
    responses((status = 200, body = AlarmsOut), (status = 422, body = ErrorBody)))]
pub(crate) async fn get_alarms(
    State(s): State<AppState>,
    Query(q): Query<AlarmQuery>,
) -> Result<Json<AlarmsOut>, WebError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(WebError::Invalid("limit must be 1–500".into()));
    }
    if let Some(k) = &q.kind
        && (k.is_empty() || k.len() > 64)
    {
        return Err(WebError::Invalid("kind must be 1–64 characters".into()));
    }
    let rows = s
        .store
        .journal()
        .list_alarms(&AlarmFilter {
            kind: q.kind,
            open_only: q.open.unwrap_or(false),
            before_id: q.before,
            limit,
        })
        .await?;
    let full = rows.len() == usize::try_from(limit).unwrap_or(usize::MAX);
    let next_before = rows.last().filter(|_| full).map(|a| a.id);
    Ok(Json(AlarmsOut {
        alarms: rows.into_iter().map(AlarmOut::from).collect(),
        next_before,
    }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ConnectivityOut {
    meter_id: String,
    /// False once the meter has been silent longer than `YUFU_OFFLINE_AFTER`.
    online: bool,
    /// When data last arrived (or when monitoring started, for a meter not
    /// heard from since).
    last_seen: Option<String>,
    /// `mqtt`, `mqtt_gateway`, `dlt645`, `cjt188` or `http`.
    via: Option<String>,
    /// A live connection can carry commands right now.
    connected: bool,
    /// Why the valve is held shut for safety, if it is.
    safety_hold: Option<String>,
}

/// Whether a meter is online, how it reports, and whether a command can
/// reach it now.
#[utoipa::path(get, path = "/api/v1/meters/{id}/connectivity", tag = "devices",
    responses((status = 200, body = ConnectivityOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_connectivity(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ConnectivityOut>, WebError> {
    let meter: MeterId = parse(&id)?;
    s.store.get_meter(meter).await?;
    let view = s.gateway.as_ref().and_then(|g| g.presence.view(meter));
    let connected = s
        .gateway
        .as_ref()
        .is_some_and(|g| g.routes.link(meter).is_some());
    let safety_hold = s.writer.meter(meter).await?.and_then(|m| m.safety_hold);
    Ok(Json(ConnectivityOut {
        meter_id: meter.to_string(),
        online: view.is_some_and(|v| v.online),
        last_seen: view.map(|v| ms_to_ts(v.last_seen_ms)),
        via: view.and_then(|v| v.via).map(|v| {
            serde_json::to_value(v)
                .ok()
                .and_then(|j| j.as_str().map(str::to_owned))
                .unwrap_or_default()
        }),
        connected,
        safety_hold,
    }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct FleetConnectivityOut {
    online: u64,
    offline: u64,
    /// Meters with a live connection (MQTT session, gateway or TCP line).
    connected: u64,
}

/// Meters online and offline, fleet-wide.
#[utoipa::path(get, path = "/api/v1/connectivity", tag = "devices",
    responses((status = 200, body = FleetConnectivityOut), (status = 503, body = ErrorBody)))]
pub(crate) async fn get_fleet_connectivity(
    State(s): State<AppState>,
) -> Result<Json<FleetConnectivityOut>, WebError> {
    let g = s
        .gateway
        .as_ref()
        .ok_or_else(|| WebError::Unavailable("meter connectivity is not running".into()))?;
    let c = g.presence.counts();
    Ok(Json(FleetConnectivityOut {
        online: c.online,
        offline: c.offline,
        connected: u64::try_from(g.routes.connected()).unwrap_or(0),
    }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct TokenOut {
    meter_id: String,
    /// The MQTT username for this meter. Shown once: only its hash is kept.
    token: String,
}

/// Issues an MQTT access token for a meter (the ThingsBoard device API
/// username). Earlier tokens of the meter stay valid until revoked.
#[utoipa::path(post, path = "/api/v1/meters/{id}/device-token", tag = "devices",
    responses((status = 201, body = TokenOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn post_device_token(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TokenOut>), WebError> {
    let meter: MeterId = parse(&id)?;
    let m = s.store.get_meter(meter).await?;
    let token = yufu_gateway::issue_token(
        s.store.as_ref(),
        m.organisation_id,
        Some(meter),
        m.serial.as_str(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenOut {
            meter_id: meter.to_string(),
            token,
        }),
    ))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct RevokedOut {
    revoked: u64,
}

/// Revokes every access token of a meter: new connections with them are
/// refused at once; a session already open stays until it disconnects.
#[utoipa::path(delete, path = "/api/v1/meters/{id}/device-token", tag = "devices",
    responses((status = 200, body = RevokedOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_device_token(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RevokedOut>, WebError> {
    let meter: MeterId = parse(&id)?;
    s.store.get_meter(meter).await?;
    let revoked = s
        .store
        .revoke_device_tokens(meter, jiff::Timestamp::now().as_millisecond())
        .await?;
    if let Some(g) = &s.gateway {
        g.registry.forget_meter(meter);
    }
    Ok(Json(RevokedOut { revoked }))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReleaseIn {
    /// What was done about the hazard (1–200 characters), for the record.
    reason: String,
}

/// Lifts a safety hold (a gas leak shut the valve). The valve reopens if
/// the account is in credit.
#[utoipa::path(post, path = "/api/v1/meters/{id}/safety-hold/release", tag = "devices",
    request_body = ReleaseIn,
    responses((status = 200, body = ConnectivityOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn post_release_safety(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<ReleaseIn>,
) -> Result<Json<ConnectivityOut>, WebError> {
    let meter: MeterId = parse(&id)?;
    let reason = b.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(WebError::Invalid("reason must be 1–200 characters".into()));
    }
    s.store.get_meter(meter).await?;
    s.writer.release_safety(meter, reason.to_owned()).await?;
    get_connectivity(State(s), Path(id)).await
}

/// The device routes with their OpenAPI description.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_alarms))
        .routes(routes!(get_meter_alarms))
        .routes(routes!(get_connectivity))
        .routes(routes!(get_fleet_connectivity))
        .routes(routes!(post_device_token, delete_device_token))
        .routes(routes!(post_release_safety))
}
