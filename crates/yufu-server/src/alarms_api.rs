//! `/api/v1/alarms/{id}`: one alarm with what staff did about it, and
//! handling it: acknowledge ("seen, someone is on it") and resolve with a
//! note. Each records who and when; doing either twice answers 409, so two
//! people clicking at once learn that someone else was first.
//!
//! An alarm is addressed by its own number, not by a site, meter or
//! account, so the gate cannot scope it: these routes are on the gate's
//! list of routes that check site scope themselves, and [`load`] answers
//! 404 for an alarm of another organisation or of a meter outside the
//! caller's sites.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use yufu_store::console::AlarmRecord;

use crate::audit_log::AuditNote;
use crate::auth::{Caller, now_ms};
use crate::engine_api::ms_to_ts;
use crate::error::ErrorBody;
use crate::{AppState, WebError};

/// The longest note (acknowledgement or resolution), in characters.
pub(crate) const NOTE_MAX_CHARS: usize = 500;

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AlarmDetailOut {
    id: i64,
    meter_id: String,
    meter_serial: String,
    /// The site of the meter's unit; absent when the meter is not installed.
    site_id: Option<String>,
    /// e.g. `comm_fault`, `gas_leak`, `tamper`, `cover_open`, `magnetic`,
    /// `low_battery`, `valve_fault`, `negative_delta`, `command_failed`.
    kind: String,
    detail: String,
    raised_at: String,
    /// Set by the engine when the condition went away.
    cleared_at: Option<String>,
    acknowledged_at: Option<String>,
    /// As in the audit log: `user:NAME` or `token:NAME`.
    acknowledged_by: Option<String>,
    acknowledgement_note: Option<String>,
    resolved_at: Option<String>,
    resolved_by: Option<String>,
    resolution_note: Option<String>,
    /// `open`, `acknowledged` (open, someone is on it), `cleared` (the
    /// condition went away) or `resolved`.
    state: &'static str,
}

/// An alarm's state in one word (resolved wins, then cleared).
pub(crate) fn state_of(a: &AlarmRecord) -> &'static str {
    if a.resolved_at_ms.is_some() {
        "resolved"
    } else if a.cleared_at_ms.is_some() {
        "cleared"
    } else if a.acked_at_ms.is_some() {
        "acknowledged"
    } else {
        "open"
    }
}

impl From<AlarmRecord> for AlarmDetailOut {
    fn from(a: AlarmRecord) -> Self {
        let state = state_of(&a);
        Self {
            id: a.id,
            meter_id: a.meter_id.to_string(),
            meter_serial: a.meter_serial,
            site_id: a.site_id.map(|s| s.to_string()),
            kind: a.kind,
            detail: a.detail,
            raised_at: ms_to_ts(a.raised_at_ms),
            cleared_at: a.cleared_at_ms.map(ms_to_ts),
            acknowledged_at: a.acked_at_ms.map(ms_to_ts),
            acknowledged_by: a.acked_by,
            acknowledgement_note: a.ack_note,
            resolved_at: a.resolved_at_ms.map(ms_to_ts),
            resolved_by: a.resolved_by,
            resolution_note: a.resolution_note,
            state,
        }
    }
}

/// The alarm `id` if the caller may see it: same organisation, and a meter
/// in the caller's sites (else 404, as for any out-of-scope thing).
async fn load(s: &AppState, caller: &Caller, id: &str) -> Result<AlarmRecord, WebError> {
    let id: i64 = id
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| WebError::Invalid("an alarm id is a positive whole number".into()))?;
    let a = s.store.console().get_alarm(id).await?;
    if a.organisation_id != caller.principal.organisation {
        return Err(WebError::NotFound);
    }
    caller.any_site(a.site_id.as_slice())?;
    Ok(a)
}

/// A note as sent: trimmed, at most [`NOTE_MAX_CHARS`]; `None` when blank.
fn note(field: &str, v: Option<String>) -> Result<Option<String>, WebError> {
    let Some(v) = v else { return Ok(None) };
    let v = v.trim();
    if v.chars().count() > NOTE_MAX_CHARS {
        return Err(WebError::Invalid(format!(
            "{field} must be at most {NOTE_MAX_CHARS} characters"
        )));
    }
    Ok((!v.is_empty()).then(|| v.to_owned()))
}

/// Why an alarm cannot be acknowledged or resolved (again).
fn conflict(a: &AlarmRecord, verb: &str) -> WebError {
    let who = |by: &Option<String>, at: Option<i64>| {
        format!(
            "by {} at {}",
            by.as_deref().unwrap_or("someone"),
            at.map_or_else(|| "an unknown time".to_owned(), ms_to_ts)
        )
    };
    if a.resolved_at_ms.is_some() {
        WebError::Conflict(format!(
            "alarm {} was already resolved {}; it cannot be {verb} again",
            a.id,
            who(&a.resolved_by, a.resolved_at_ms)
        ))
    } else {
        WebError::Conflict(format!(
            "alarm {} was already acknowledged {}",
            a.id,
            who(&a.acked_by, a.acked_at_ms)
        ))
    }
}

/// One alarm with who acknowledged and resolved it.
#[utoipa::path(get, path = "/api/v1/alarms/{id}", tag = "devices",
    params(("id" = i64, Path, description = "The alarm's number")),
    responses((status = 200, body = AlarmDetailOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn get_alarm(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AlarmDetailOut>, WebError> {
    Ok(Json(load(&s, &caller, &id).await?.into()))
}

#[derive(serde::Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcknowledgeIn {
    /// Optional, at most 500 characters, e.g. "technician on the way".
    note: Option<String>,
}

#[derive(serde::Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResolveIn {
    /// What was found and done: required, 1–500 characters. (Missing reads
    /// as blank, so both are answered with the same sentence.)
    #[serde(default)]
    #[schema(required = true)]
    note: String,
}

/// Parses an optional JSON body: none at all reads as `{}`, so
/// `curl -X POST …/acknowledge` works without one.
fn optional_body<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, WebError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => WebError::Invalid(e.to_string()),
        _ => WebError::BadRequest(format!("the body is not JSON: {e}")),
    })
}

/// Acknowledges an open alarm: "seen, someone is on it". Records who and
/// when, with an optional note. 409 when it was already acknowledged or
/// resolved.
#[utoipa::path(post, path = "/api/v1/alarms/{id}/acknowledge", tag = "devices",
    params(("id" = i64, Path, description = "The alarm's number")),
    request_body(content = AcknowledgeIn, description = "Optional: the body may be empty"),
    responses((status = 200, body = AlarmDetailOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn acknowledge(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    let a = load(&s, &caller, &id).await?;
    let b: AcknowledgeIn = optional_body(&body)?;
    let text = note("note", b.note)?;
    let before = serde_json::to_value(AlarmDetailOut::from(a.clone())).ok();
    let by = caller.principal.audit_name();
    let console = s.store.console();
    if !console
        .acknowledge_alarm(a.id, &by, now_ms(), text.as_deref())
        .await?
    {
        // Someone was first (or it was resolved meanwhile): say who.
        return Err(conflict(&console.get_alarm(a.id).await?, "acknowledged"));
    }
    let out = AlarmDetailOut::from(console.get_alarm(a.id).await?);
    let after = serde_json::to_value(&out).ok();
    Ok(AuditNote::change(format!("alarm:{}", a.id), before, after).on(Json(out)))
}

/// Resolves an alarm with a note saying what was found and done
/// (acknowledging it too if nobody had). 409 when it was already resolved.
#[utoipa::path(post, path = "/api/v1/alarms/{id}/resolve", tag = "devices",
    params(("id" = i64, Path, description = "The alarm's number")),
    request_body = ResolveIn,
    responses((status = 200, body = AlarmDetailOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn resolve(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    let a = load(&s, &caller, &id).await?;
    let b: ResolveIn = optional_body(&body)?;
    let Some(text) = note("note", Some(b.note))? else {
        return Err(WebError::Invalid(
            "a note is required: say what was found and done".into(),
        ));
    };
    let before = serde_json::to_value(AlarmDetailOut::from(a.clone())).ok();
    let by = caller.principal.audit_name();
    let console = s.store.console();
    if !console.resolve_alarm(a.id, &by, now_ms(), &text).await? {
        return Err(conflict(&console.get_alarm(a.id).await?, "resolved"));
    }
    let out = AlarmDetailOut::from(console.get_alarm(a.id).await?);
    let after = serde_json::to_value(&out).ok();
    Ok(AuditNote::change(format!("alarm:{}", a.id), before, after).on(Json(out)))
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_alarm))
        .routes(routes!(acknowledge))
        .routes(routes!(resolve))
}
