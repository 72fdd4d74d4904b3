//! `/api/v1/webhooks`: subscribers register a URL and event types; the
//! deliveries (signed, retried with back-off) and their history are
//! visible here. Delivery itself runs in `yufu-webhooks`, started by
//! `yufu serve`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use yufu_store::Page;
use yufu_store::access::{DeliveryRow, WebhookRow};
use yufu_webhooks::WebhookError;

use crate::api::Body;
use crate::audit_log::AuditNote;
use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::{AppState, WebError};

impl From<WebhookError> for WebError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::InvalidUrl(_) | WebhookError::InvalidEvents(_) => {
                WebError::Invalid(e.to_string())
            }
            WebhookError::DeliveryNotFound(_) => WebError::NotFound,
            WebhookError::Store(s) => WebError::Store(s),
            other => WebError::Unavailable(other.to_string()),
        }
    }
}

fn ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct WebhookOut {
    id: String,
    url: String,
    /// Event types: recharge, refund, cut_off, reconnect, alarm_raised, alarm_cleared.
    events: Vec<String>,
    active: bool,
    created_by: String,
    created_at: String,
}

fn out(w: WebhookRow) -> WebhookOut {
    WebhookOut {
        id: w.id,
        url: w.url,
        events: w.events.split_whitespace().map(str::to_owned).collect(),
        active: w.active,
        created_by: w.created_by,
        created_at: ms(w.created_at_ms),
    }
}

/// The organisation's webhooks (never their secrets).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "access",
    responses((status = 200, body = Vec<WebhookOut>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_webhooks(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<WebhookOut>>, WebError> {
    let rows = s
        .store
        .access()
        .list_webhooks(caller.principal.organisation)
        .await?;
    Ok(Json(rows.into_iter().map(out).collect()))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookIn {
    /// Where deliveries are POSTed (http or https).
    url: String,
    /// Event types to receive.
    events: Vec<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct NewWebhookOut {
    /// The signing secret, shown once: verify `X-Yufu-Signature` with it.
    secret: String,
    #[serde(flatten)]
    webhook: WebhookOut,
}

/// Registers a webhook; the answer carries its signing secret, once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "access", request_body = WebhookIn,
    responses((status = 201, body = NewWebhookOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_webhook(
    State(s): State<AppState>,
    caller: Caller,
    Body(b): Body<WebhookIn>,
) -> Result<Response, WebError> {
    let (row, secret) = yufu_webhooks::create(
        s.store.as_ref(),
        s.security.vault(),
        caller.principal.organisation,
        &b.url,
        &b.events,
        &caller.principal.audit_name(),
    )
    .await?;
    let webhook = out(row);
    let after = serde_json::to_value(&webhook).ok();
    Ok(
        AuditNote::change(format!("webhook:{}", webhook.id), None, after)
            .on((StatusCode::CREATED, Json(NewWebhookOut { secret, webhook }))),
    )
}

async fn own(s: &AppState, caller: &Caller, id: &str) -> Result<WebhookRow, WebError> {
    let w = s.store.access().get_webhook(id).await?;
    if w.organisation_id != caller.principal.organisation {
        return Err(WebError::NotFound);
    }
    Ok(w)
}

/// Stops a webhook: pending deliveries are given up, nothing new is queued.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "access",
    responses((status = 204, description = "Stopped"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_webhook(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let w = own(&s, &caller, &id).await?;
    if !w.active {
        return Err(WebError::NotFound);
    }
    s.store.access().set_webhook_active(&id, false).await?;
    Ok(AuditNote::change(
        format!("webhook:{id}"),
        Some(serde_json::json!({"active": true})),
        Some(serde_json::json!({"active": false})),
    )
    .on(StatusCode::NO_CONTENT))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct DeliveryOut {
    id: String,
    event: String,
    /// `pending`, `delivered` or `failed` (gave up).
    status: String,
    attempts: i32,
    next_attempt_at: String,
    last_status: Option<i32>,
    last_error: Option<String>,
    created_at: String,
    delivered_at: Option<String>,
    payload: serde_json::Value,
}

fn delivery(d: DeliveryRow) -> DeliveryOut {
    DeliveryOut {
        id: d.id,
        event: d.event,
        status: d.status,
        attempts: d.attempts,
        next_attempt_at: ms(d.next_attempt_at_ms),
        last_status: d.last_status,
        last_error: d.last_error,
        created_at: ms(d.created_at_ms),
        delivered_at: d.delivered_at_ms.map(ms),
        payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
    }
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeliveryPage {
    /// The last delivery id of the previous page.
    after: Option<String>,
    /// 1–500 (default 50).
    limit: Option<u32>,
}

/// A webhook's deliveries, oldest first, with every attempt's outcome.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "access", params(DeliveryPage),
    responses((status = 200, body = Vec<DeliveryOut>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn list_deliveries(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<DeliveryPage>,
) -> Result<Json<Vec<DeliveryOut>>, WebError> {
    own(&s, &caller, &id).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let page = match &q.after {
        Some(a) => Page::after(a, limit),
        None => Page::first(limit),
    };
    let rows = s.store.access().list_deliveries(&id, &page).await?;
    Ok(Json(rows.into_iter().map(delivery).collect()))
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(delete_webhook))
        .routes(routes!(list_deliveries))
}
