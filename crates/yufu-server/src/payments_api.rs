//! Online payment callbacks, the payment list, daily reconciliation against
//! a provider's settlement file, and printable counter receipts. The pure
//! rules (signature, notice, reconciliation, receipt) are in
//! `yufu-payments`; this module stores and credits.
//!
//! A callback credits at most once per (provider, transaction id): the
//! `payments` table answers repeats, and the engine's idempotency key
//! `pay:{provider}:{transaction}` makes even a crash between crediting and
//! recording harmless (the retry replays the same recharge).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt as _};
use utoipa_axum::routes;
use yufu_domain::{AccountId, AccountStatus, Fen};
use yufu_engine::{RechargeError, RechargeIn};
use yufu_payments::{CallbackError, NoticeStatus};
use yufu_store::access::{PaymentRejection, PaymentRow};
use yufu_writer::RechargeFailure;

use crate::audit_log::AuditNote;
use crate::auth::{Caller, now_ms, source_of};
use crate::error::ErrorBody;
use crate::{AppState, WebError};

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct CallbackOut {
    /// `credited`, `failed` (the provider said so) or `refused`.
    status: String,
    /// True when this transaction was seen before: nothing more was credited.
    duplicate: bool,
    /// The balance after crediting (fen), when credited now.
    balance_fen: Option<i64>,
}

fn error_body(status: StatusCode, code: &'static str, message: String) -> Response {
    (status, Json(ErrorBody { code, message })).into_response()
}

/// Receives a provider's payment notice. Signed with HMAC-SHA256 over
/// `timestamp.body` (headers `X-Yufu-Timestamp`, `X-Yufu-Signature`);
/// idempotent on the provider's transaction id. See yufu-payments' README.
#[utoipa::path(post, path = "/api/v1/payments/{provider}/callback", tag = "payments",
    request_body(content = Object, description = "transaction_id, account_number, amount_fen, currency, status, paid_at"),
    responses((status = 200, body = CallbackOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn callback(
    State(s): State<AppState>,
    Path(provider): Path<String>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let Some(secret) = s
        .security
        .config()
        .payment_providers
        .iter()
        .find(|(name, _)| *name == provider)
        .map(|(_, secret)| secret.clone())
    else {
        return Err(WebError::NotFound);
    };
    let source = source_of(&ext);
    if let Err(secs) = s.security.callback_rate(&format!("{provider}|{source}")) {
        return Err(WebError::TooManyRequests(secs));
    }
    let note = |target: String| AuditNote {
        actor: Some(format!("provider:{provider}")),
        target: Some(target),
        ..AuditNote::default()
    };
    let now = now_ms();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let checked = if body.len() > yufu_payments::MAX_NOTICE_BYTES {
        Err(CallbackError::BodyTooLarge {
            len: body.len(),
            max: yufu_payments::MAX_NOTICE_BYTES,
        })
    } else {
        yufu_payments::verify(
            &secret,
            header(yufu_payments::TIMESTAMP_HEADER),
            header(yufu_payments::SIGNATURE_HEADER),
            &body,
            now / 1000,
            s.security.config().callback_tolerance_s,
        )
    }
    .and_then(|()| yufu_payments::parse_notice(&body));
    let notice = match checked {
        Ok(n) => n,
        Err(e) => {
            // Kept for investigation; nothing is credited.
            s.store
                .access()
                .record_payment_rejection(&PaymentRejection {
                    id: uuid::Uuid::now_v7().to_string(),
                    provider: provider.clone(),
                    received_at_ms: now,
                    source,
                    code: e.code().to_owned(),
                    reason: e.to_string(),
                    body_sha256: hex::encode(Sha256::digest(&body)),
                })
                .await?;
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            return Ok(note(format!("payment:{provider}")).on(error_body(
                status,
                e.code(),
                e.to_string(),
            )));
        }
    };
    let target = format!("payment:{provider}:{}", notice.transaction_id);
    if let Some(seen) = s
        .store
        .access()
        .find_payment(&provider, &notice.transaction_id)
        .await?
    {
        return Ok(note(target).on(repeat(&seen, &notice)));
    }
    let paid_at_ms = notice.paid_at.as_millisecond();
    let mut row = PaymentRow {
        id: uuid::Uuid::now_v7().to_string(),
        provider: provider.clone(),
        transaction_id: notice.transaction_id.clone(),
        organisation_id: None,
        account_id: None,
        account_number: notice.account_number.clone(),
        amount_fen: notice.amount_fen,
        status: String::new(),
        reason: None,
        paid_at_ms,
        received_at_ms: now,
    };
    if notice.status == NoticeStatus::Failed {
        row.status = "failed".into();
        row.reason = notice.failure_reason.clone();
        s.store.access().record_payment(&row).await?;
        return Ok(note(target).on(Json(CallbackOut {
            status: "failed".into(),
            duplicate: false,
            balance_fen: None,
        })));
    }
    let accounts = s
        .store
        .access()
        .accounts_by_number(&notice.account_number)
        .await?;
    let refused = match accounts.as_slice() {
        [a] if a.status == AccountStatus::Active => None,
        [_] => Some("the account is closed"),
        [] => Some("no account has this number"),
        _ => Some("the account number is ambiguous across organisations"),
    };
    if let Some(reason) = refused {
        row.status = "refused".into();
        row.reason = Some(reason.into());
        row.account_id = accounts.first().map(|a| a.id);
        row.organisation_id = accounts.first().map(|a| a.organisation_id);
        s.store.access().record_payment(&row).await?;
        return Ok(note(target).on(error_body(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            format!("payment refused: {reason}"),
        )));
    }
    let account = &accounts[0];
    let result = s
        .writer
        .recharge(RechargeIn {
            account: account.id,
            amount: Fen(notice.amount_fen),
            channel: provider.clone(),
            reference: notice.transaction_id.clone(),
            key: yufu_payments::idempotency_key(&provider, &notice.transaction_id),
        })
        .await;
    let answer = match result {
        Ok(a) => a,
        Err(RechargeFailure::Engine(RechargeError::UnknownAccount(_))) => {
            let reason = "the account has no billed meter yet";
            row.status = "refused".into();
            row.reason = Some(reason.into());
            row.account_id = Some(account.id);
            row.organisation_id = Some(account.organisation_id);
            s.store.access().record_payment(&row).await?;
            return Ok(note(target).on(error_body(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused",
                format!("payment refused: {reason}"),
            )));
        }
        Err(RechargeFailure::Engine(RechargeError::KeyReused(_))) => {
            return Err(WebError::Conflict(
                "this transaction was credited before with another amount".into(),
            ));
        }
        Err(e) => {
            return Err(WebError::Unavailable(format!(
                "could not credit the payment: {e}"
            )));
        }
    };
    row.status = "credited".into();
    row.account_id = Some(account.id);
    row.organisation_id = Some(account.organisation_id);
    let first = s.store.access().record_payment(&row).await?;
    Ok(note(target).on(Json(CallbackOut {
        status: "credited".into(),
        duplicate: !first || answer.replay,
        balance_fen: Some(answer.entry.balance_after_fen),
    })))
}

/// The answer to a transaction seen before: the same outcome, nothing new,
/// unless the provider now tells a different story (a conflict to look at).
fn repeat(seen: &PaymentRow, n: &yufu_payments::PaymentNotice) -> Response {
    if seen.amount_fen != n.amount_fen || seen.account_number != n.account_number {
        return error_body(
            StatusCode::CONFLICT,
            "conflicting_duplicate",
            "this transaction id was received before with another amount or account".into(),
        );
    }
    if seen.status == "refused" {
        return error_body(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            format!(
                "payment refused: {}",
                seen.reason.clone().unwrap_or_default()
            ),
        );
    }
    Json(CallbackOut {
        status: seen.status.clone(),
        duplicate: true,
        balance_fen: None,
    })
    .into_response()
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct DayQuery {
    /// The provider (channel) name.
    provider: String,
    /// The settlement day (YYYY-MM-DD), counted in `timezone`.
    date: String,
    /// IANA zone of the day (default Asia/Shanghai).
    timezone: Option<String>,
}

/// [start, end) of a civil day in a zone, in ms.
fn day_bounds(date: &str, tz: Option<&str>) -> Result<(jiff::civil::Date, i64, i64), WebError> {
    let day: jiff::civil::Date = date
        .parse()
        .map_err(|e| WebError::Invalid(format!("date: not YYYY-MM-DD: {e}")))?;
    let zone = jiff::tz::TimeZone::get(tz.unwrap_or("Asia/Shanghai"))
        .map_err(|e| WebError::Invalid(format!("timezone: {e}")))?;
    let midnight = |d: jiff::civil::Date| {
        zone.to_timestamp(jiff::civil::DateTime::from_parts(
            d,
            jiff::civil::Time::midnight(),
        ))
        .map_err(|e| WebError::Invalid(e.to_string()))
    };
    let start = midnight(day)?;
    let end = midnight(
        day.tomorrow()
            .map_err(|e| WebError::Invalid(e.to_string()))?,
    )?;
    Ok((day, start.as_millisecond(), end.as_millisecond()))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PaymentOut {
    transaction_id: String,
    account_number: String,
    account_id: Option<String>,
    amount_fen: i64,
    status: String,
    reason: Option<String>,
    paid_at: String,
    received_at: String,
}

/// A provider's transactions of one day, every status.
#[utoipa::path(get, path = "/api/v1/payments", tag = "payments", params(DayQuery),
    responses((status = 200, body = Vec<PaymentOut>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn list_payments(
    State(s): State<AppState>,
    _caller: Caller,
    Query(q): Query<DayQuery>,
) -> Result<Json<Vec<PaymentOut>>, WebError> {
    let (_, from, to) = day_bounds(&q.date, q.timezone.as_deref())?;
    let rows = s
        .store
        .access()
        .list_payments(&q.provider, from, to)
        .await?;
    let ts = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
    };
    Ok(Json(
        rows.into_iter()
            .map(|p| PaymentOut {
                transaction_id: p.transaction_id,
                account_number: p.account_number,
                account_id: p.account_id.map(|a| a.to_string()),
                amount_fen: p.amount_fen,
                status: p.status,
                reason: p.reason,
                paid_at: ts(p.paid_at_ms),
                received_at: ts(p.received_at_ms),
            })
            .collect(),
    ))
}

/// Daily reconciliation (对账): what Yufu credited from a provider on a day
/// against the provider's settlement file (CSV body: `transaction_id,
/// amount_fen, paid_at`; UTF-8 or GB18030). Answers the totals and every
/// difference, as JSON or as CSV for Excel (`format=csv`).
#[utoipa::path(post, path = "/api/v1/reconciliation/{provider}", tag = "payments",
    params(("provider" = String, Path, description = "The provider"), ("date" = String, Query, description = "YYYY-MM-DD"),
        ("timezone" = Option<String>, Query, description = "IANA zone, default Asia/Shanghai"),
        ("format" = Option<String>, Query, description = "json or csv")),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "The reconciliation", body = Object), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn reconcile(
    State(s): State<AppState>,
    _caller: Caller,
    Path(provider): Path<String>,
    Query(q): Query<ReconcileQuery>,
    body: Bytes,
) -> Result<Response, WebError> {
    let (day, from, to) = day_bounds(&q.date, q.timezone.as_deref())?;
    let theirs = yufu_payments::parse_settlement_csv(&body)
        .map_err(|e| WebError::Invalid(format!("settlement file: {e}")))?;
    let ours: Vec<yufu_payments::Credited> = s
        .store
        .access()
        .list_payments(&provider, from, to)
        .await?
        .into_iter()
        .filter(|p| p.status == "credited")
        .filter_map(|p| {
            Some(yufu_payments::Credited {
                transaction_id: p.transaction_id,
                amount_fen: p.amount_fen,
                credited_at: jiff::Timestamp::from_millisecond(p.received_at_ms).ok()?,
            })
        })
        .collect();
    let r = yufu_payments::reconcile(&provider, day, &ours, &theirs);
    let note = AuditNote {
        target: Some(format!("reconciliation:{provider}:{day}")),
        after: Some(serde_json::json!({
            "differences": r.differences.len(),
            "ours_count": r.ours_count,
            "theirs_count": r.theirs_count,
        })),
        ..AuditNote::default()
    };
    Ok(match q.format.as_deref() {
        Some("csv") => note.on((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"reconciliation-{provider}-{day}.csv\""),
                ),
            ],
            yufu_payments::reconciliation_csv(&r),
        )),
        None | Some("json") => note.on(Json(r)),
        Some(other) => {
            return Err(WebError::Invalid(format!(
                "format must be json or csv, not {other}"
            )));
        }
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReconcileQuery {
    date: String,
    timezone: Option<String>,
    format: Option<String>,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReceiptQuery {
    /// `zh` (default) or `en`.
    lang: Option<String>,
}

/// A printable receipt (HTML with print CSS) of a counter recharge, found
/// by its idempotency key.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/recharges/{key}/receipt", tag = "payments", params(ReceiptQuery),
    responses((status = 200, description = "HTML receipt", content_type = "text/html", body = String), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn receipt(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
    Query(q): Query<ReceiptQuery>,
) -> Result<Response, WebError> {
    let account: AccountId = id.parse().map_err(WebError::from)?;
    let a = s.store.get_account(account).await?;
    let Some((recharge, entry)) = s
        .store
        .journal()
        .find_recharge(account, &key)
        .await?
        .filter(|(_, e)| e.kind == "recharge")
    else {
        return Err(WebError::NotFound);
    };
    let org = s.store.get_organisation(a.organisation_id).await?;
    let customer = s.store.get_customer(a.customer_id).await?;
    let name: Vec<char> = customer.name.expose().chars().collect();
    let masked = name
        .first()
        .map(|c| format!("{c}{}", "*".repeat(name.len().saturating_sub(1))))
        .unwrap_or_default();
    let lang = match q.lang.as_deref() {
        None | Some("zh") => yufu_payments::Lang::Zh,
        Some("en") => yufu_payments::Lang::En,
        Some(other) => {
            return Err(WebError::Invalid(format!(
                "lang must be zh or en, not {other}"
            )));
        }
    };
    let _ = &caller;
    let html = yufu_payments::receipt_html(
        &yufu_payments::Receipt {
            receipt_no: format!("{}-{}", a.number, entry.no),
            organisation: org.name.to_string(),
            account_number: a.number.to_string(),
            customer_name_masked: masked,
            amount_fen: recharge.amount_fen,
            balance_after_fen: entry.balance_after_fen,
            channel: recharge.channel,
            cashier: recharge.reference,
            at: jiff::Timestamp::from_millisecond(recharge.at_ms)
                .map_err(|e| WebError::Invalid(e.to_string()))?,
            timezone: "Asia/Shanghai".into(),
        },
        lang,
    );
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(callback))
        .routes(routes!(list_payments))
        .routes(
            routes!(reconcile).layer(axum::extract::DefaultBodyLimit::max(
                crate::MAX_BATCH_BODY_BYTES,
            )),
        )
        .routes(routes!(receipt))
}
