//! Refunds (退费) and reversals (冲正), each asked for by one person and
//! approved by another, and posted as ledger entries only when approved.
//!
//! - A **refund** pays prepaid credit back to the customer: a `refund`
//!   entry (negative), never more than the balance.
//! - A **reversal** takes back a recharge made in error: an `adjustment`
//!   entry (negative) naming the recharge by its idempotency key, never more
//!   than that recharge (all reversals of it together). It may leave a debt,
//!   and the balance rules then cut the supply off like any debit.
//!
//! Approval posts the entry through the engine with the key
//! `refund:{request id}`, then marks the request approved. Decisions are
//! taken one at a time in this process (one process writes a journal), so
//! an approval and a rejection of the same request never cross, and a
//! refund the balance no longer covers is refused with the request still
//! pending. A crash between posting and marking leaves the request pending
//! with its entry posted: approving again finds the entry by its key and
//! posts nothing twice, and rejecting it is refused.
//!
//! The entry's cause is the approver (`operator`) when a person approved;
//! an API token has no staff user, so its approvals name the request
//! instead (`payment` with channel `refund` or `reversal` and the request
//! id as reference). The request row keeps who asked and who decided.

use std::sync::LazyLock;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use yufu_domain::ledger::{Cause, EntryKind};
use yufu_domain::{AccountId, Fen, OrganisationId};
use yufu_engine::{PostError, PostIn};
use yufu_store::Page;
use yufu_store::access::RefundRequest;
use yufu_writer::{LedgerEntryView, PostFailure};

use crate::api::Body;
use crate::audit_log::AuditNote;
use crate::auth::{Caller, now_ms};
use crate::error::ErrorBody;
use crate::{AppState, WebError};

/// Creations and decisions one at a time: the reversal total and the
/// post-then-mark of an approval must not interleave with another.
static DECISIONS: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));

const STATUSES: [&str; 3] = ["pending", "approved", "rejected"];
/// Longest reason or note, in characters.
const MAX_TEXT: usize = 500;

fn ms_to_rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// The ledger key of a request's entry.
fn entry_key(id: &str) -> String {
    format!("refund:{id}")
}

fn text(field: &str, value: &str, required: bool) -> Result<Option<String>, WebError> {
    let v = value.trim();
    if v.is_empty() {
        return if required {
            Err(WebError::Invalid(format!("{field} is required")))
        } else {
            Ok(None)
        };
    }
    if v.chars().count() > MAX_TEXT {
        return Err(WebError::Invalid(format!(
            "{field} may have at most {MAX_TEXT} characters"
        )));
    }
    Ok(Some(v.to_owned()))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct RefundOut {
    id: String,
    organisation_id: String,
    account_id: String,
    /// `refund` or `reversal`.
    kind: String,
    /// Positive: the amount paid back or taken back, in fen.
    amount_fen: i64,
    reason: String,
    /// A reversal: the idempotency key of the recharge it takes back.
    reverses: Option<String>,
    /// `user:{id}` or `token:{id}`.
    requested_by: String,
    requested_at: String,
    /// `pending`, `approved` or `rejected`.
    status: String,
    decided_by: Option<String>,
    decided_at: Option<String>,
    note: Option<String>,
    /// The ledger entry's idempotency key once approved (`refund:{id}`).
    entry_key: Option<String>,
}

impl From<RefundRequest> for RefundOut {
    fn from(r: RefundRequest) -> Self {
        let entry_key = (r.status == "approved").then(|| entry_key(&r.id));
        Self {
            entry_key,
            id: r.id,
            organisation_id: r.organisation_id.to_string(),
            account_id: r.account_id.to_string(),
            kind: r.kind,
            amount_fen: r.amount_fen,
            reason: r.reason,
            reverses: r.reverses,
            requested_by: r.requested_by,
            requested_at: ms_to_rfc3339(r.requested_at_ms),
            status: r.status,
            decided_by: r.decided_by,
            decided_at: r.decided_at_ms.map(ms_to_rfc3339),
            note: r.note,
        }
    }
}

fn json_of(r: &RefundRequest) -> Option<serde_json::Value> {
    serde_json::to_value(RefundOut::from(r.clone())).ok()
}

// --- asking ------------------------------------------------------------------

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefundIn {
    /// `refund` (退费: pay prepaid credit back) or `reversal` (冲正: take
    /// back a recharge made in error).
    kind: String,
    /// How much, in fen (at least 1).
    amount_fen: i64,
    /// Why (1–500 characters).
    reason: String,
    /// A reversal only: the idempotency key of the recharge of this account
    /// it takes back.
    reverses: Option<String>,
}

/// The amount of a recharge already taken back or asked to be (pending and
/// approved reversals naming it).
async fn reversed_so_far(
    s: &AppState,
    org: OrganisationId,
    account: AccountId,
    key: &str,
) -> Result<i64, WebError> {
    let mut total = 0_i64;
    for status in ["pending", "approved"] {
        let mut page = Page::first(Page::MAX_LIMIT);
        loop {
            let rows = s
                .store
                .access()
                .list_refund_requests(org, Some(status), &page)
                .await?;
            let Some(last) = rows.last() else { break };
            page = Page::after(&last.id, Page::MAX_LIMIT);
            let full = rows.len() == Page::MAX_LIMIT as usize;
            total = rows
                .iter()
                .filter(|r| {
                    r.account_id == account
                        && r.kind == "reversal"
                        && r.reverses.as_deref() == Some(key)
                })
                .fold(total, |t, r| t.saturating_add(r.amount_fen));
            if !full {
                break;
            }
        }
    }
    Ok(total)
}

/// Asks for a refund or a reversal of an account. It waits, `pending`,
/// until someone else approves or rejects it; nothing is posted yet. A
/// refund may not exceed the balance now; a reversal must name a recharge
/// of this account and, with the other reversals of it, not exceed it.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/refunds", tag = "payments", request_body = RefundIn,
    responses((status = 201, body = RefundOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn request_refund(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<RefundIn>,
) -> Result<Response, WebError> {
    let account: AccountId = id.parse().map_err(WebError::from)?;
    let a = s.store.get_account(account).await?;
    if a.organisation_id != caller.principal.organisation {
        return Err(WebError::NotFound);
    }
    let reversal = match b.kind.as_str() {
        "refund" => false,
        "reversal" => true,
        other => {
            return Err(WebError::Invalid(format!(
                "kind must be refund or reversal, not '{other}'"
            )));
        }
    };
    if b.amount_fen <= 0 {
        return Err(WebError::Invalid("amount_fen must be at least 1".into()));
    }
    let reason = text("reason", &b.reason, true)?.unwrap_or_default();
    let reverses = match (reversal, b.reverses.as_deref().map(str::trim)) {
        (true, Some(k)) if !k.is_empty() => Some(k.to_owned()),
        (true, _) => {
            return Err(WebError::Invalid(
                "a reversal names the recharge it takes back in reverses (its idempotency key)"
                    .into(),
            ));
        }
        (false, None) => None,
        (false, Some(_)) => {
            return Err(WebError::Invalid(
                "reverses is for reversals; a refund takes back no particular recharge".into(),
            ));
        }
    };
    let _one_at_a_time = DECISIONS.lock().await;
    if let Some(key) = &reverses {
        let recharge = s
            .store
            .journal()
            .find_recharge(account, key)
            .await?
            .filter(|(_, entry)| entry.kind == EntryKind::Recharge.as_str());
        let Some((recharge, _)) = recharge else {
            return Err(WebError::Invalid(format!(
                "no recharge of this account has the idempotency key '{key}'"
            )));
        };
        let earlier = reversed_so_far(&s, a.organisation_id, account, key).await?;
        let left = recharge.amount_fen.saturating_sub(earlier);
        if b.amount_fen > left {
            return Err(WebError::Invalid(format!(
                "a reversal may take back at most what is left of the recharge: it was {} fen, \
                 {earlier} fen of it already reversed or asked for, {left} fen left, {} fen asked",
                recharge.amount_fen, b.amount_fen
            )));
        }
    } else {
        let balance = s
            .writer
            .account(account)
            .await?
            .map_or(0, |v| v.balance_fen);
        if b.amount_fen > balance {
            return Err(WebError::Invalid(format!(
                "a refund pays back prepaid credit, not more: the balance is {balance} fen, \
                 {} fen asked",
                b.amount_fen
            )));
        }
    }
    let row = RefundRequest {
        id: uuid::Uuid::now_v7().to_string(),
        organisation_id: a.organisation_id,
        account_id: account,
        kind: b.kind,
        amount_fen: b.amount_fen,
        reason,
        reverses,
        requested_by: caller.principal.subject_id(),
        requested_at_ms: now_ms(),
        status: "pending".into(),
        decided_by: None,
        decided_at_ms: None,
        note: None,
    };
    s.store.access().create_refund_request(&row).await?;
    let after = json_of(&row);
    Ok(AuditNote::change(format!("refund:{}", row.id), None, after)
        .on((StatusCode::CREATED, Json(RefundOut::from(row)))))
}

// --- listing -----------------------------------------------------------------

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefundQuery {
    /// The caller's organisation (the default); another answers 404.
    organisation_id: Option<String>,
    /// `pending`, `approved` or `rejected`; omit for all.
    status: Option<String>,
    /// The last id of the previous page.
    after: Option<String>,
    /// Rows per page, 1–500 (default 50).
    limit: Option<u32>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct RefundsOut {
    items: Vec<RefundOut>,
    /// Pass as `after` for the next page; absent on the last page.
    next_after: Option<String>,
}

/// Refund and reversal requests of the organisation, oldest first.
#[utoipa::path(get, path = "/api/v1/refunds", tag = "payments", params(RefundQuery),
    responses((status = 200, body = RefundsOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn list_refunds(
    State(s): State<AppState>,
    caller: Caller,
    q: Result<Query<RefundQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RefundsOut>, WebError> {
    let Query(q) = q.map_err(|e| WebError::BadRequest(e.body_text()))?;
    let org = match q.organisation_id.as_deref() {
        None => caller.principal.organisation,
        Some(id) => id.parse().map_err(|e: yufu_domain::DomainError| {
            WebError::BadRequest(format!("organisation_id: {e}"))
        })?,
    };
    if org != caller.principal.organisation {
        return Err(WebError::NotFound);
    }
    if let Some(st) = q.status.as_deref()
        && !STATUSES.contains(&st)
    {
        return Err(WebError::BadRequest(format!(
            "status must be pending, approved or rejected, not '{st}'"
        )));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, Page::MAX_LIMIT);
    let page = match &q.after {
        Some(a) => Page::after(a, limit),
        None => Page::first(limit),
    };
    let rows = s
        .store
        .access()
        .list_refund_requests(org, q.status.as_deref(), &page)
        .await?;
    let next_after = if rows.len() == limit as usize {
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(Json(RefundsOut {
        items: rows.into_iter().map(RefundOut::from).collect(),
        next_after,
    }))
}

// --- deciding ----------------------------------------------------------------

/// Loads a request of the caller's organisation that the caller may
/// decide: not their own, still pending.
async fn decidable(s: &AppState, caller: &Caller, id: &str) -> Result<RefundRequest, WebError> {
    let r = s.store.access().get_refund_request(id).await?;
    if r.organisation_id != caller.principal.organisation {
        return Err(WebError::NotFound);
    }
    if r.requested_by == caller.principal.subject_id() {
        return Err(WebError::Conflict(
            "you asked for this; another person must approve or reject it".into(),
        ));
    }
    if r.status != "pending" {
        return Err(WebError::Conflict(format!(
            "this request was already {} by {} at {}",
            r.status,
            r.decided_by.as_deref().unwrap_or("someone"),
            r.decided_at_ms.map(ms_to_rfc3339).unwrap_or_default()
        )));
    }
    Ok(r)
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApproveIn {
    /// Optional, up to 500 characters.
    note: Option<String>,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectIn {
    /// Why not (1–500 characters).
    note: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PostedEntryOut {
    account_id: String,
    seq: i64,
    /// `refund` or `adjustment` (a reversal).
    kind: String,
    /// Negative: the balance went down by this much.
    amount_fen: i64,
    balance_after_fen: i64,
    /// `refund:{request id}`.
    idempotency_key: String,
    at: String,
}

impl From<LedgerEntryView> for PostedEntryOut {
    fn from(e: LedgerEntryView) -> Self {
        Self {
            account_id: e.account_id.to_string(),
            seq: e.seq,
            kind: e.kind,
            amount_fen: e.amount_fen,
            balance_after_fen: e.balance_after_fen,
            idempotency_key: e.idempotency_key,
            at: e.at.to_string(),
        }
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ApprovedOut {
    request: RefundOut,
    /// The ledger entry posted.
    entry: PostedEntryOut,
}

/// Approves someone else's request and posts its ledger entry (a `refund`,
/// or an `adjustment` for a reversal) with the key `refund:{id}`; answers
/// the entry. 409 for one's own request or one already decided; 422 (the
/// request stays pending) for a refund the balance no longer covers.
#[utoipa::path(post, path = "/api/v1/refunds/{id}/approve", tag = "payments", request_body = ApproveIn,
    responses((status = 200, body = ApprovedOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn approve_refund(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<ApproveIn>,
) -> Result<Response, WebError> {
    let note = match b.note.as_deref() {
        Some(n) => text("note", n, false)?,
        None => None,
    };
    let _one_at_a_time = DECISIONS.lock().await;
    let r = decidable(&s, &caller, &id).await?;
    let kind = match r.kind.as_str() {
        "refund" => EntryKind::Refund,
        _ => EntryKind::Adjustment,
    };
    let cause = match caller.staff_user() {
        Some(staff_user_id) => Cause::Operator { staff_user_id },
        None => Cause::Payment {
            channel: r.kind.clone(),
            reference: r.id.clone(),
        },
    };
    let key = entry_key(&r.id);
    let entry = match s
        .writer
        .post_entry(PostIn {
            account: r.account_id,
            kind,
            amount: Fen(r.amount_fen.saturating_neg()),
            cause,
            key: key.clone(),
        })
        .await
    {
        Ok(answer) => answer.entry,
        // Posted before (a crash came between posting and marking it
        // approved, and another approver retries): the entry is the
        // request's, found by its key.
        Err(PostFailure::Engine(PostError::KeyReused(_))) => {
            yufu_writer::find_posted(s.store.as_ref(), r.account_id, &key)
                .await?
                .ok_or_else(|| {
                    WebError::Conflict(format!("the ledger key {key} is taken by another entry"))
                })?
        }
        Err(PostFailure::Engine(e @ PostError::BeyondBalance { .. })) => {
            return Err(WebError::Invalid(format!("{e}; the request stays pending")));
        }
        Err(PostFailure::Engine(PostError::UnknownAccount(_))) => {
            return Err(WebError::Invalid(
                "the account has no billed meter: there is no balance to refund".into(),
            ));
        }
        Err(PostFailure::Engine(PostError::Invalid(e))) => return Err(e.into()),
        Err(PostFailure::Writer(e)) => return Err(e.into()),
    };
    let decided = s
        .store
        .access()
        .decide_refund_request(
            &r.id,
            "approved",
            &caller.principal.subject_id(),
            now_ms(),
            note.as_deref(),
        )
        .await?;
    if !decided {
        // Only another process deciding could do this, and one process
        // writes the journal: loud, for someone to look at.
        tracing::error!(request = %r.id, entry = %key,
            "a refund entry was posted but the request was decided elsewhere meanwhile");
        return Err(WebError::Conflict(
            "this request was decided by someone else while its entry was posted".into(),
        ));
    }
    let before = json_of(&r);
    let now = s.store.access().get_refund_request(&r.id).await?;
    let out = ApprovedOut {
        request: RefundOut::from(now),
        entry: PostedEntryOut::from(entry),
    };
    let after = serde_json::to_value(&out).ok();
    Ok(AuditNote::change(format!("refund:{}", r.id), before, after).on(Json(out)))
}

/// Rejects someone else's pending request; nothing is posted.
#[utoipa::path(post, path = "/api/v1/refunds/{id}/reject", tag = "payments", request_body = RejectIn,
    responses((status = 200, body = RefundOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn reject_refund(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<RejectIn>,
) -> Result<Response, WebError> {
    let note = text("note", &b.note, true)?;
    let _one_at_a_time = DECISIONS.lock().await;
    let r = decidable(&s, &caller, &id).await?;
    if yufu_writer::find_posted(s.store.as_ref(), r.account_id, &entry_key(&r.id))
        .await?
        .is_some()
    {
        return Err(WebError::Conflict(
            "this request's entry was already posted (its approval was cut short): \
             approve it to finish"
                .into(),
        ));
    }
    let decided = s
        .store
        .access()
        .decide_refund_request(
            &r.id,
            "rejected",
            &caller.principal.subject_id(),
            now_ms(),
            note.as_deref(),
        )
        .await?;
    if !decided {
        return Err(WebError::Conflict(
            "this request was decided by someone else meanwhile".into(),
        ));
    }
    let before = json_of(&r);
    let now = s.store.access().get_refund_request(&r.id).await?;
    let after = json_of(&now);
    Ok(AuditNote::change(format!("refund:{}", r.id), before, after).on(Json(RefundOut::from(now))))
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_refund))
        .routes(routes!(list_refunds))
        .routes(routes!(approve_refund))
        .routes(routes!(reject_refund))
}
