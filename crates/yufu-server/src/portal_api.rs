//! `/api/v1` for the customer portal beyond sign-in and the ledger
//! (those are in `access_api`): online recharge orders, complaints and
//! questions (tickets) with staff's answers, and the payment provider
//! simulator the demo pays with.
//!
//! Money moves only in the provider callback (`payments_api::callback`),
//! idempotent by the provider's transaction id. A payment order records
//! what the customer asked to pay; the simulator plays the provider: it
//! signs a notice for the order with the simulator provider's secret and
//! delivers it to Yufu's own callback over HTTP, like a real provider
//! would, then marks the order paid.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use yufu_access::Identity;
use yufu_domain::{AccountId, AccountStatus, CustomerId};
use yufu_store::console::{PaymentOrderRow, TicketRow};

use crate::api::Body;
use crate::audit_log::AuditNote;
use crate::auth::{Caller, now_ms};
use crate::error::ErrorBody;
use crate::{AppState, WebError};

/// The provider name of the built-in payment simulator (`yufu demo`
/// registers it with a random secret when `YUFU_PAYMENT_SIMULATOR` is on).
pub const SIMULATOR_PROVIDER: &str = "paysim";

/// How long the simulator waits for Yufu's own callback to answer.
const SIMULATOR_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
/// The most of the callback's answer the simulator reads.
const SIMULATOR_MAX_ANSWER: u64 = 64 * 1024;

/// Ticket limits, in characters.
const MAX_SUBJECT_CHARS: usize = 100;
const MAX_TICKET_BODY_CHARS: usize = 2000;
const MAX_REPLY_CHARS: usize = 2000;

fn ms_to_rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// The signed-in customer; staff reach these routes only by a bug in the
/// policy table, and are refused here too.
fn customer_of(caller: &Caller) -> Result<CustomerId, WebError> {
    match caller.principal.identity {
        Identity::Customer { customer } => Ok(customer),
        _ => Err(WebError::Forbidden("the portal is for customers".into())),
    }
}

/// The account, if it is the customer's own; another's answers 404, as if
/// it did not exist.
async fn own_account(
    s: &AppState,
    customer: CustomerId,
    id: &str,
) -> Result<yufu_domain::Account, WebError> {
    let account: AccountId = id.parse().map_err(WebError::from)?;
    let a = match s.store.get_account(account).await {
        Ok(a) => a,
        Err(yufu_store::StoreError::NotFound { .. }) => return Err(WebError::NotFound),
        Err(e) => return Err(e.into()),
    };
    if a.customer_id != customer {
        return Err(WebError::NotFound);
    }
    Ok(a)
}

// --- the payment simulator ---------------------------------------------------------

/// The simulator's secret when it is switched on and its provider is
/// registered; `None` otherwise (its page and route then answer 404).
pub(crate) fn simulator_secret(s: &AppState) -> Option<Vec<u8>> {
    let config = s.security.config();
    if !config.payment_simulator {
        return None;
    }
    config
        .payment_providers
        .iter()
        .find(|(name, _)| name == SIMULATOR_PROVIDER)
        .map(|(_, secret)| secret.clone())
}

/// Where the customer pays an order: the provider's hosted page. Only the
/// simulator has one Yufu knows; `None` for any other provider.
pub(crate) fn checkout_url(s: &AppState, order: &PaymentOrderRow) -> Option<String> {
    (order.provider == SIMULATOR_PROVIDER && simulator_secret(s).is_some())
        .then(|| format!("/paysim/{}", order.id))
}

/// The answer of a plain HTTP/1.1 request: status and body.
struct LocalAnswer {
    status: u16,
    body: Vec<u8>,
}

/// POSTs `body` to `base` + `path` over a new connection, as a provider's
/// server would. Plain HTTP only: the simulator talks to this very server.
async fn post_local(
    base: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Result<LocalAnswer, String> {
    let authority = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("the server's own address {base} is not an http:// URL"))?
        .trim_end_matches('/');
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(authority)
            .await
            .map_err(|e| format!("cannot reach {authority}: {e}"))?;
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        stream
            .write_all(&bytes)
            .await
            .map_err(|e| format!("cannot send to {authority}: {e}"))?;
        let mut answer = Vec::new();
        stream
            .take(SIMULATOR_MAX_ANSWER)
            .read_to_end(&mut answer)
            .await
            .map_err(|e| format!("no answer from {authority}: {e}"))?;
        parse_http_answer(&answer)
    };
    tokio::time::timeout(SIMULATOR_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("{authority} did not answer in time"))?
}

/// Status and body of an HTTP/1.1 response (whole, or chunked).
fn parse_http_answer(raw: &[u8]) -> Result<LocalAnswer, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("a malformed HTTP answer")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("an HTTP answer without a status")?;
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let mut rest = &raw[split + 4..];
    if !chunked {
        return Ok(LocalAnswer {
            status,
            body: rest.to_vec(),
        });
    }
    let mut body = Vec::new();
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a malformed chunk")?;
        let size_text = String::from_utf8_lossy(&rest[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "a malformed chunk size")?;
        rest = &rest[end + 2..];
        if size == 0 {
            break;
        }
        body.extend_from_slice(rest.get(..size).ok_or("a truncated chunk")?);
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
    Ok(LocalAnswer { status, body })
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PaidOut {
    order_id: String,
    /// `paid`.
    status: String,
    account_id: String,
    /// Integer fen.
    amount_fen: i64,
    /// The balance after crediting (fen), as the callback answered it;
    /// absent when the callback had seen this payment before.
    balance_fen: Option<i64>,
}

/// The payment simulator's "Pay" (demo only: 404 unless
/// `YUFU_PAYMENT_SIMULATOR` is on). Plays the provider: signs a payment
/// notice for the order with the simulator provider's secret and delivers
/// it to `POST /api/v1/payments/paysim/callback` over HTTP, which credits
/// the account (once per order: the order id is the transaction id), then
/// marks the order paid. A second pay of the same order answers 409.
#[utoipa::path(post, path = "/api/v1/paysim/{id}/pay", tag = "portal",
    params(("id" = String, Path, description = "The payment order")),
    responses((status = 200, body = PaidOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn simulator_pay(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let Some(secret) = simulator_secret(&s) else {
        return Err(WebError::NotFound);
    };
    let Some(order) = s.store.console().get_payment_order(&id).await? else {
        return Err(WebError::NotFound);
    };
    if order.provider != SIMULATOR_PROVIDER {
        return Err(WebError::NotFound);
    }
    match order.status.as_str() {
        "pending" => {}
        "paid" => return Err(WebError::Conflict("this order is already paid".into())),
        _ => return Err(WebError::Conflict("this order was cancelled".into())),
    }
    let Some(base) = s.security.config().self_url.clone() else {
        return Err(WebError::Unavailable(
            "the payment simulator does not know this server's own address".into(),
        ));
    };
    let account = s.store.get_account(order.account_id).await?;
    let notice = serde_json::json!({
        "transaction_id": order.id,
        "account_number": account.number.to_string(),
        "amount_fen": order.amount_fen,
        "currency": yufu_payments::CURRENCY,
        "status": "paid",
        "paid_at": jiff::Timestamp::now().to_string(),
    })
    .to_string();
    let ts = now_ms() / 1000;
    let signature = yufu_payments::sign(&secret, ts, notice.as_bytes());
    let answer = post_local(
        &base,
        &format!("/api/v1/payments/{SIMULATOR_PROVIDER}/callback"),
        &[
            (yufu_payments::TIMESTAMP_HEADER, ts.to_string()),
            (yufu_payments::SIGNATURE_HEADER, signature),
        ],
        notice.as_bytes(),
    )
    .await
    .map_err(|e| WebError::Unavailable(format!("the simulated provider failed: {e}")))?;
    let said: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    if answer.status != 200 || said["status"] != "credited" {
        let why = said["message"]
            .as_str()
            .map_or_else(|| format!("status {}", answer.status), str::to_owned);
        return Err(if answer.status == 422 {
            WebError::Invalid(why)
        } else {
            WebError::Unavailable(format!("the payment callback did not credit: {why}"))
        });
    }
    // The callback credited (now or before): the order is paid. Two pays at
    // once both reach here; the callback credited once, the second answers
    // as a repeat.
    if !s
        .store
        .console()
        .settle_payment_order(&order.id, "paid", now_ms())
        .await?
    {
        return Err(WebError::Conflict("this order is already paid".into()));
    }
    Ok(AuditNote {
        actor: Some(format!("provider:{SIMULATOR_PROVIDER}")),
        target: Some(format!("payment_order:{}", order.id)),
        ..AuditNote::default()
    }
    .on(Json(PaidOut {
        order_id: order.id,
        status: "paid".into(),
        account_id: order.account_id.to_string(),
        amount_fen: order.amount_fen,
        balance_fen: said["balance_fen"].as_i64(),
    })))
}

// --- payment orders ------------------------------------------------------------------

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderIn {
    /// One of the signed-in customer's accounts.
    account_id: String,
    /// Integer fen, 1 to 10,000,000 (100,000 yuan).
    amount_fen: i64,
    /// The provider to pay with (`paysim` in the demo).
    provider: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct OrderOut {
    order_id: String,
    /// Where to send the customer to pay (the provider's hosted page).
    pay_url: String,
    account_id: String,
    amount_fen: i64,
    provider: String,
    /// `pending` until the provider's callback arrives.
    status: String,
}

/// Starts an online recharge of one of the signed-in customer's own
/// accounts (another's answers 404). Nothing is credited here: the
/// provider's signed callback does that once the customer has paid at
/// `pay_url`.
#[utoipa::path(post, path = "/api/v1/portal/payment-orders", tag = "portal", request_body = OrderIn,
    responses((status = 201, body = OrderOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_order(
    State(s): State<AppState>,
    caller: Caller,
    Body(b): Body<OrderIn>,
) -> Result<Response, WebError> {
    let customer = customer_of(&caller)?;
    let account = own_account(&s, customer, &b.account_id).await?;
    if account.status != AccountStatus::Active {
        return Err(WebError::Invalid("this account is closed".into()));
    }
    if !(1..=yufu_payments::MAX_AMOUNT_FEN).contains(&b.amount_fen) {
        return Err(WebError::Invalid(format!(
            "amount_fen: from 1 to {} fen ({} yuan)",
            yufu_payments::MAX_AMOUNT_FEN,
            yufu_payments::format_yuan(yufu_payments::MAX_AMOUNT_FEN)
        )));
    }
    // The engine knows an account once one of its meters is priced; the
    // callback would refuse the money before that.
    if s.writer.account(account.id).await?.is_none() {
        return Err(WebError::Invalid(
            "this account cannot take payments yet: none of its meters is billed".into(),
        ));
    }
    let order = PaymentOrderRow {
        id: uuid::Uuid::now_v7().to_string(),
        organisation_id: account.organisation_id,
        account_id: account.id,
        customer_id: customer,
        provider: b.provider.clone(),
        amount_fen: b.amount_fen,
        status: "pending".into(),
        created_at_ms: now_ms(),
        paid_at_ms: None,
    };
    let Some(pay_url) = checkout_url(&s, &order) else {
        return Err(WebError::Invalid(format!(
            "provider: no online checkout for '{}' here",
            b.provider.chars().take(32).collect::<String>()
        )));
    };
    s.store.console().create_payment_order(&order).await?;
    Ok(
        AuditNote::target(format!("payment_order:{}", order.id)).on((
            StatusCode::CREATED,
            Json(OrderOut {
                order_id: order.id,
                pay_url,
                account_id: order.account_id.to_string(),
                amount_fen: order.amount_fen,
                provider: order.provider,
                status: order.status,
            }),
        )),
    )
}

// --- tickets -------------------------------------------------------------------------

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TicketIn {
    /// `complaint` or `question`.
    kind: String,
    /// 1–100 characters.
    subject: String,
    /// 1–2000 characters.
    body: String,
    /// The account it is about (one of the customer's own), if any.
    account_id: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct TicketOut {
    id: String,
    /// `complaint` or `question`.
    kind: String,
    subject: String,
    body: String,
    /// `open`, `answered` or `closed`.
    status: String,
    account_id: Option<String>,
    /// Staff's answer.
    reply: Option<String>,
    created_at: String,
    updated_at: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct StaffTicketOut {
    #[serde(flatten)]
    ticket: TicketOut,
    customer_id: String,
    /// Who answered, as the audit log names them.
    replied_by: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct TicketsOut {
    /// Newest first.
    items: Vec<TicketOut>,
    /// Pass as `before` for the next (older) page; absent at the end.
    next_cursor: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct StaffTicketsOut {
    /// Newest first.
    items: Vec<StaffTicketOut>,
    next_cursor: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct TicketStateOut {
    id: String,
    status: String,
}

fn ticket_out(t: TicketRow) -> TicketOut {
    TicketOut {
        id: t.id,
        kind: t.kind,
        subject: t.subject,
        body: t.body,
        status: t.status,
        account_id: t.account_id.map(|a| a.to_string()),
        reply: t.reply,
        created_at: ms_to_rfc3339(t.created_at_ms),
        updated_at: ms_to_rfc3339(t.updated_at_ms),
    }
}

/// A ticket text, trimmed: not empty, not too long, no control characters
/// but line breaks and tabs.
fn text(field: &str, v: &str, max: usize) -> Result<String, WebError> {
    let v = v.trim();
    if v.is_empty() {
        return Err(WebError::Invalid(format!("{field}: must not be empty")));
    }
    if v.chars().count() > max {
        return Err(WebError::Invalid(format!(
            "{field}: at most {max} characters"
        )));
    }
    if v.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(WebError::Invalid(format!(
            "{field}: contains control characters"
        )));
    }
    Ok(v.to_owned())
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct TicketPaging {
    /// The `next_cursor` of the previous page; absent for the newest.
    before: Option<String>,
    /// Rows per page, 1–100 (default 20).
    limit: Option<u32>,
    /// Staff list only: `open`, `answered` or `closed`; every status when absent.
    status: Option<String>,
}

impl TicketPaging {
    fn limit(&self) -> u32 {
        self.limit.unwrap_or(20).clamp(1, 100)
    }
}

/// The cursor of the next page: the last ticket's id, unless this page
/// came back short.
fn next_cursor(rows: &[TicketRow], limit: u32) -> Option<String> {
    (u32::try_from(rows.len()).unwrap_or(u32::MAX) >= limit)
        .then(|| rows.last().map(|t| t.id.clone()))
        .flatten()
}

/// A customer sends a complaint or a question. Subject and body are sealed
/// at rest; the answer shows in `GET /api/v1/portal/tickets`.
#[utoipa::path(post, path = "/api/v1/portal/tickets", tag = "portal", request_body = TicketIn,
    responses((status = 201, body = TicketStateOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_ticket(
    State(s): State<AppState>,
    caller: Caller,
    Body(b): Body<TicketIn>,
) -> Result<Response, WebError> {
    let customer = customer_of(&caller)?;
    if !matches!(b.kind.as_str(), "complaint" | "question") {
        return Err(WebError::Invalid(
            "kind: must be complaint or question".into(),
        ));
    }
    let subject = text("subject", &b.subject, MAX_SUBJECT_CHARS)?;
    let body = text("body", &b.body, MAX_TICKET_BODY_CHARS)?;
    let account = match b.account_id.as_deref().filter(|a| !a.is_empty()) {
        Some(id) => Some(own_account(&s, customer, id).await?.id),
        None => None,
    };
    let now = now_ms();
    let ticket = TicketRow {
        id: uuid::Uuid::now_v7().to_string(),
        organisation_id: caller.principal.organisation,
        customer_id: customer,
        account_id: account,
        kind: b.kind,
        subject,
        body,
        status: "open".into(),
        reply: None,
        replied_by: None,
        created_at_ms: now,
        updated_at_ms: now,
    };
    s.store.console().create_ticket(&ticket).await?;
    // The answer carries no ticket text: it would land in the audit log.
    Ok(AuditNote::target(format!("ticket:{}", ticket.id)).on((
        StatusCode::CREATED,
        Json(TicketStateOut {
            id: ticket.id,
            status: ticket.status,
        }),
    )))
}

/// The signed-in customer's own tickets with staff's answers, newest first.
#[utoipa::path(get, path = "/api/v1/portal/tickets", tag = "portal", params(TicketPaging),
    responses((status = 200, body = TicketsOut)))]
pub(crate) async fn my_tickets(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<TicketPaging>,
) -> Result<Json<TicketsOut>, WebError> {
    let customer = customer_of(&caller)?;
    let before = match &q.before {
        Some(id) => match s.store.console().get_ticket(id).await? {
            Some(t) if t.customer_id == customer => Some((t.created_at_ms, t.id)),
            _ => return Err(WebError::BadRequest("before: not a ticket of yours".into())),
        },
        None => None,
    };
    let rows = s
        .store
        .console()
        .customer_tickets(
            customer,
            before.as_ref().map(|(ms, id)| (*ms, id.as_str())),
            q.limit(),
        )
        .await?;
    let next_cursor = next_cursor(&rows, q.limit());
    Ok(Json(TicketsOut {
        items: rows.into_iter().map(ticket_out).collect(),
        next_cursor,
    }))
}

/// Customers' complaints and questions for customer service, newest first.
/// Site-scoped staff cannot use it (tickets span the organisation).
#[utoipa::path(get, path = "/api/v1/tickets", tag = "portal", params(TicketPaging),
    responses((status = 200, body = StaffTicketsOut), (status = 422, body = ErrorBody)))]
pub(crate) async fn list_tickets(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<TicketPaging>,
) -> Result<Json<StaffTicketsOut>, WebError> {
    let org = caller.principal.organisation;
    if let Some(status) = &q.status
        && !matches!(status.as_str(), "open" | "answered" | "closed")
    {
        return Err(WebError::Invalid(
            "status: must be open, answered or closed".into(),
        ));
    }
    let before = match &q.before {
        Some(id) => match s.store.console().get_ticket(id).await? {
            Some(t) if t.organisation_id == org => Some((t.created_at_ms, t.id)),
            _ => return Err(WebError::BadRequest("before: not a ticket here".into())),
        },
        None => None,
    };
    let rows = s
        .store
        .console()
        .list_tickets(
            org,
            q.status.as_deref(),
            before.as_ref().map(|(ms, id)| (*ms, id.as_str())),
            q.limit(),
        )
        .await?;
    let next_cursor = next_cursor(&rows, q.limit());
    Ok(Json(StaffTicketsOut {
        items: rows
            .into_iter()
            .map(|t| StaffTicketOut {
                customer_id: t.customer_id.to_string(),
                replied_by: t.replied_by.clone(),
                ticket: ticket_out(t),
            })
            .collect(),
        next_cursor,
    }))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplyIn {
    /// 1–2000 characters; the customer sees it in the portal.
    reply: String,
    /// Close the ticket with this answer (default: `answered`, still open
    /// for the customer to read and follow up).
    close: Option<bool>,
}

/// Customer service answers a ticket (sealed at rest like the ticket). A
/// later answer replaces the earlier one.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/reply", tag = "portal", request_body = ReplyIn,
    params(("id" = String, Path, description = "The ticket")),
    responses((status = 200, body = TicketStateOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn reply_ticket(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<ReplyIn>,
) -> Result<Response, WebError> {
    let Some(ticket) = s.store.console().get_ticket(&id).await? else {
        return Err(WebError::NotFound);
    };
    if ticket.organisation_id != caller.principal.organisation {
        return Err(WebError::NotFound);
    }
    let reply = text("reply", &b.reply, MAX_REPLY_CHARS)?;
    let status = if b.close == Some(true) {
        "closed"
    } else {
        "answered"
    };
    s.store
        .console()
        .answer_ticket(
            &id,
            &reply,
            &caller.principal.audit_name(),
            status,
            now_ms(),
        )
        .await?;
    Ok(AuditNote::change(
        format!("ticket:{id}"),
        Some(serde_json::json!({ "status": ticket.status })),
        Some(serde_json::json!({ "status": status })),
    )
    .on(Json(TicketStateOut {
        id,
        status: status.into(),
    })))
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_order))
        .routes(routes!(simulator_pay))
        .routes(routes!(create_ticket, my_tickets))
        .routes(routes!(list_tickets))
        .routes(routes!(reply_ticket))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_answers_parse_whole_and_chunked() {
        let whole = parse_http_answer(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
        )
        .unwrap();
        assert_eq!((whole.status, whole.body.as_slice()), (200, &b"{}"[..]));
        let chunked = parse_http_answer(
            b"HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            (chunked.status, chunked.body.as_slice()),
            (409, &b"abcde"[..])
        );
        assert!(parse_http_answer(b"garbage").is_err());
        assert!(parse_http_answer(b"HTTP/1.1 x\r\n\r\n").is_err());
    }

    #[test]
    fn ticket_text_is_trimmed_and_bounded() {
        assert_eq!(text("s", "  停电了 \n", 10).unwrap(), "停电了");
        assert!(text("s", "   ", 10).is_err());
        assert!(text("s", "一二三四五六七八九十一", 10).is_err());
        assert!(text("s", "a\u{0}b", 10).is_err());
        assert_eq!(text("s", "a\nb\tc", 10).unwrap(), "a\nb\tc");
    }
}
