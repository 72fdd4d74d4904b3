//! The prepaid engine over HTTP: readings in, recharges, balances, ledgers,
//! a meter's readings and commands. Handlers only translate: the writer
//! (`yufu-writer`) does the work and answers after the commit.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt as _};
use utoipa_axum::routes;
use yufu_domain::{AccountId, Fen, MeterId};
use yufu_engine::{ReadingIn, ReadingResult, RechargeError, RechargeIn};
use yufu_store::journal::{CommandRow, EntryRow, ReadingRow};
use yufu_tariff::{RateRegisters, Verdict};
use yufu_writer::{RechargeFailure, WriterError};

use crate::api::Body;
use crate::error::ErrorBody;
use crate::{AppState, WebError};

/// Readings per request at most (a concentrator's upload is far smaller).
pub const MAX_READINGS_PER_REQUEST: usize = 10_000;
/// The header that makes a recharge idempotent.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

impl From<WriterError> for WebError {
    fn from(e: WriterError) -> Self {
        match e {
            WriterError::Store(s) => WebError::Store(s),
            WriterError::Invalid(m) => WebError::Invalid(m),
            WriterError::Stopped | WriterError::Replay(_) => {
                WebError::Unavailable("the engine is not running".into())
            }
        }
    }
}

pub(crate) fn parse<T: std::str::FromStr<Err = yufu_domain::DomainError>>(
    s: &str,
) -> Result<T, WebError> {
    s.parse().map_err(WebError::from)
}

pub(crate) fn ms_to_ts(v: i64) -> String {
    Timestamp::from_millisecond(v).map_or_else(|_| v.to_string(), |t| t.to_string())
}

// --- readings ------------------------------------------------------------------

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadingItem {
    meter_id: String,
    /// When the meter took the reading (RFC 3339 with offset).
    at: String,
    /// The cumulative register in base units (Wh, litres).
    register: u64,
    /// Per-rate registers (sharp, peak, flat, valley) for time-of-use meters.
    rates: Option<[u64; 4]>,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadingsIn {
    readings: Vec<ReadingItem>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ReadingResultOut {
    meter_id: String,
    at: String,
    /// `accepted`, `duplicate` or `rejected`.
    result: &'static str,
    /// For accepted readings: `billed`, `opening`, `negative_delta`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    charge_fen: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ReadingsOut {
    results: Vec<ReadingResultOut>,
}

/// Post a batch of readings. Each gets its own result; the answer comes
/// after every accepted reading is committed. Exactly once per (meter,
/// instant): a repeat is `duplicate` and charges nothing.
#[utoipa::path(post, path = "/api/v1/readings", tag = "engine", request_body = ReadingsIn,
    responses((status = 200, body = ReadingsOut), (status = 400, body = ErrorBody),
               (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn post_readings(
    State(s): State<AppState>,
    Body(b): Body<ReadingsIn>,
) -> Result<Json<ReadingsOut>, WebError> {
    if b.readings.len() > MAX_READINGS_PER_REQUEST {
        return Err(WebError::Invalid(format!(
            "at most {MAX_READINGS_PER_REQUEST} readings per request, got {}",
            b.readings.len()
        )));
    }
    // Items that do not parse are answered `rejected` in place; the rest go
    // to the engine in their order.
    let mut results: Vec<Option<ReadingResultOut>> = Vec::with_capacity(b.readings.len());
    let mut good = Vec::with_capacity(b.readings.len());
    for item in &b.readings {
        let parsed = item
            .meter_id
            .parse::<MeterId>()
            .map_err(|e| e.to_string())
            .and_then(|meter| {
                item.at
                    .parse::<Timestamp>()
                    .map_err(|e| format!("at: {e}"))
                    .map(|at| (meter, at))
            });
        match parsed {
            Ok((meter, at)) => {
                good.push(ReadingIn {
                    meter,
                    at,
                    register: item.register,
                    rates: item.rates.map(RateRegisters),
                });
                results.push(None);
            }
            Err(reason) => results.push(Some(ReadingResultOut {
                meter_id: item.meter_id.clone(),
                at: item.at.clone(),
                result: "rejected",
                verdict: None,
                charge_fen: None,
                reason: Some(reason),
            })),
        }
    }
    let answers = if good.is_empty() {
        Vec::new()
    } else {
        s.writer.ingest(good.clone()).await?
    };
    let mut answers = good.iter().zip(answers);
    let results = results
        .into_iter()
        .filter_map(|slot| match slot {
            Some(done) => Some(done),
            None => answers.next().map(|(r, answer)| {
                let (result, verdict, charge, reason) = match answer {
                    ReadingResult::Accepted(v) => {
                        let charge = match &v {
                            Verdict::Billed(c) => Some(c.total_fen),
                            _ => None,
                        };
                        (
                            "accepted",
                            Some(yufu_engine::verdict_name(&v).to_owned()),
                            charge,
                            None,
                        )
                    }
                    ReadingResult::Duplicate => ("duplicate", None, None, None),
                    ReadingResult::Rejected(why) => ("rejected", None, None, Some(why)),
                };
                ReadingResultOut {
                    meter_id: r.meter.to_string(),
                    at: r.at.to_string(),
                    result,
                    verdict,
                    charge_fen: charge,
                    reason,
                }
            }),
        })
        .collect();
    Ok(Json(ReadingsOut { results }))
}

// --- recharges -----------------------------------------------------------------

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RechargeBodyIn {
    /// Fen, at least 1.
    amount_fen: i64,
    /// Where the money came from, e.g. `counter`, `wechat`, `alipay`.
    channel: String,
    /// The channel's own reference (receipt or transaction number).
    reference: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct EntryOut {
    account_id: String,
    seq: i64,
    kind: String,
    amount_fen: i64,
    balance_after_fen: i64,
    idempotency_key: String,
    at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<serde_json::Value>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct RechargeOut {
    entry: EntryOut,
    /// True when this key was seen before: the original entry, nothing new credited.
    replay: bool,
}

/// Credit a recharge. The `Idempotency-Key` header is required: the same key
/// with the same body returns the original entry (200) and credits nothing
/// more; the same key with a different body is 409. A recharge that lifts
/// the balance above the cut-off level queues the reconnect in the same commit.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/recharges", tag = "engine",
    request_body = RechargeBodyIn,
    params(("Idempotency-Key" = String, Header, description = "A key unique to this payment (printable ASCII, ≤ 200)")),
    responses((status = 201, body = RechargeOut), (status = 200, body = RechargeOut, description = "A replay of an earlier request"),
               (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
               (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn post_recharge(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(b): Body<RechargeBodyIn>,
) -> Result<(StatusCode, Json<RechargeOut>), WebError> {
    let account: AccountId = parse(&id)?;
    let key = headers
        .get(IDEMPOTENCY_KEY)
        .ok_or_else(|| WebError::BadRequest(format!("the {IDEMPOTENCY_KEY} header is required")))?
        .to_str()
        .map_err(|_| WebError::BadRequest(format!("{IDEMPOTENCY_KEY} must be printable ASCII")))?
        .trim()
        .to_owned();
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|c| c.is_ascii_graphic()) {
        return Err(WebError::BadRequest(format!(
            "{IDEMPOTENCY_KEY} must be 1–200 printable ASCII characters without spaces"
        )));
    }
    if b.amount_fen <= 0 {
        return Err(WebError::Invalid("amount_fen must be at least 1".into()));
    }
    if b.channel.trim().is_empty() || b.reference.trim().is_empty() {
        return Err(WebError::Invalid(
            "channel and reference are required".into(),
        ));
    }
    let req = RechargeIn {
        account,
        amount: Fen(b.amount_fen),
        channel: b.channel,
        reference: b.reference,
        key,
    };
    match s.writer.recharge(req).await {
        Ok(answer) => {
            let status = if answer.replay {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let e = answer.entry;
            Ok((
                status,
                Json(RechargeOut {
                    entry: EntryOut {
                        account_id: e.account_id.to_string(),
                        seq: e.seq,
                        kind: e.kind,
                        amount_fen: e.amount_fen,
                        balance_after_fen: e.balance_after_fen,
                        idempotency_key: e.idempotency_key,
                        at: e.at.to_string(),
                        cause: None,
                    },
                    replay: answer.replay,
                }),
            ))
        }
        Err(RechargeFailure::Engine(RechargeError::KeyReused(k))) => Err(WebError::Conflict(
            format!("idempotency key '{k}' was already used for a different recharge"),
        )),
        Err(RechargeFailure::Engine(RechargeError::UnknownAccount(a))) => {
            // The account may exist without a billed meter yet.
            s.store.get_account(a).await?;
            Err(WebError::Invalid(format!(
                "account {a} has no billed meter yet: assign a meter and a tariff first"
            )))
        }
        Err(RechargeFailure::Engine(RechargeError::Invalid(e))) => Err(e.into()),
        Err(RechargeFailure::Writer(e)) => Err(e.into()),
    }
}

// --- balance and ledger --------------------------------------------------------

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct BalanceOut {
    account_id: String,
    balance_fen: i64,
    /// Entries posted so far (the last entry's sequence number).
    entries: u64,
    /// `{"state":"on"}`, `{"state":"cut_pending","at":…}` or `{"state":"cut"}`.
    #[schema(value_type = Object)]
    supply: serde_json::Value,
    #[schema(value_type = Object)]
    policy: serde_json::Value,
}

/// An account's balance, supply state and balance rules, as committed.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/balance", tag = "engine",
    responses((status = 200, body = BalanceOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_balance(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<BalanceOut>, WebError> {
    let account: AccountId = parse(&id)?;
    let Some(v) = s.writer.account(account).await? else {
        // Known to the store but not billed yet: an empty ledger.
        let a = s.store.get_account(account).await?;
        return Ok(Json(BalanceOut {
            account_id: a.id.to_string(),
            balance_fen: 0,
            entries: 0,
            supply: serde_json::json!({"state": "on"}),
            policy: serde_json::Value::Null,
        }));
    };
    Ok(Json(BalanceOut {
        account_id: v.account_id.to_string(),
        balance_fen: v.balance_fen,
        entries: v.last_seq,
        supply: serde_json::to_value(v.supply).unwrap_or_default(),
        policy: serde_json::to_value(&v.policy).unwrap_or_default(),
    }))
}

/// Chain paging: `?cursor=<next_cursor of the previous page>&limit=<1..500>`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChainPaging {
    /// Opaque: the `next_cursor` of the previous page; absent for the newest.
    cursor: Option<i64>,
    /// Rows per page, 1–500 (default 50).
    limit: Option<u32>,
}

impl ChainPaging {
    fn limit(&self) -> u32 {
        self.limit.unwrap_or(50).clamp(1, 500)
    }

    /// The cursor of the next (older) page: the last row's back-pointer,
    /// unless this page came back short (the chain ended).
    fn next_cursor(&self, rows: usize, last_prev: Option<i64>) -> Option<i64> {
        if u32::try_from(rows).unwrap_or(u32::MAX) < self.limit() {
            None
        } else {
            last_prev
        }
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct LedgerOut {
    /// Newest first.
    entries: Vec<EntryOut>,
    /// Pass as `cursor` for the next (older) page; absent at the end.
    next_cursor: Option<i64>,
}

fn entry_out(e: EntryRow) -> EntryOut {
    EntryOut {
        account_id: e.account_id.to_string(),
        seq: e.seq,
        kind: e.kind,
        amount_fen: e.amount_fen,
        balance_after_fen: e.balance_after_fen,
        idempotency_key: e.idempotency_key,
        at: ms_to_ts(e.at_ms),
        cause: serde_json::from_str(&e.cause).ok(),
    }
}

/// An account's ledger, newest entry first, paged.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/ledger", tag = "engine", params(ChainPaging),
    responses((status = 200, body = LedgerOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_ledger(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ChainPaging>,
) -> Result<Json<LedgerOut>, WebError> {
    let account: AccountId = parse(&id)?;
    let head = match s.writer.account(account).await? {
        Some(v) => v.ledger_head,
        None => {
            s.store.get_account(account).await?;
            None
        }
    };
    let Some(from) = q.cursor.or(head) else {
        return Ok(Json(LedgerOut {
            entries: Vec::new(),
            next_cursor: None,
        }));
    };
    let rows = s.store.journal().ledger_chain(from, q.limit()).await?;
    if rows.first().is_some_and(|r| r.account_id != account) {
        return Err(WebError::BadRequest(
            "cursor does not belong to this account".into(),
        ));
    }
    let next_cursor = q.next_cursor(rows.len(), rows.last().and_then(|r| r.prev_no));
    Ok(Json(LedgerOut {
        entries: rows.into_iter().map(entry_out).collect(),
        next_cursor,
    }))
}

// --- a meter's readings and commands --------------------------------------------

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct StoredReadingOut {
    at: String,
    register: i64,
    received_at: String,
    verdict: String,
    quantity: Option<i64>,
    charge_fen: Option<i64>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct MeterReadingsOut {
    /// Newest first (by arrival).
    readings: Vec<StoredReadingOut>,
    next_cursor: Option<i64>,
}

fn reading_out(r: ReadingRow) -> StoredReadingOut {
    StoredReadingOut {
        at: ms_to_ts(r.at_ms),
        register: r.register,
        received_at: ms_to_ts(r.received_ms),
        verdict: r.verdict,
        quantity: r.quantity,
        charge_fen: r.charge_fen,
    }
}

/// A meter's stored readings with their verdicts and charges, newest first, paged.
#[utoipa::path(get, path = "/api/v1/meters/{id}/readings", tag = "engine", params(ChainPaging),
    responses((status = 200, body = MeterReadingsOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_meter_readings(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ChainPaging>,
) -> Result<Json<MeterReadingsOut>, WebError> {
    let meter: MeterId = parse(&id)?;
    let head = match s.writer.meter(meter).await? {
        Some(v) => v.readings_head,
        None => {
            s.store.get_meter(meter).await?;
            None
        }
    };
    let Some(from) = q.cursor.or(head) else {
        return Ok(Json(MeterReadingsOut {
            readings: Vec::new(),
            next_cursor: None,
        }));
    };
    let rows = s.store.journal().reading_chain(from, q.limit()).await?;
    if rows.first().is_some_and(|r| r.meter_id != meter) {
        return Err(WebError::BadRequest(
            "cursor does not belong to this meter".into(),
        ));
    }
    let next_cursor = q.next_cursor(rows.len(), rows.last().and_then(|r| r.prev_seq));
    Ok(Json(MeterReadingsOut {
        readings: rows.into_iter().map(reading_out).collect(),
        next_cursor,
    }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct TransitionOut {
    from: Option<String>,
    to: String,
    reason: String,
    at: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct CommandOut {
    no: i64,
    /// trip, close, valve_close, valve_open, read_now, time_sync
    kind: String,
    /// queued, sent, acknowledged, failed, timed_out, superseded
    state: String,
    attempts: i64,
    reason: String,
    queued_at: String,
    updated_at: String,
    transitions: Vec<TransitionOut>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct CommandsOut {
    /// Newest first.
    commands: Vec<CommandOut>,
}

/// A meter's commands (newest first, at most 50) with every state change.
#[utoipa::path(get, path = "/api/v1/meters/{id}/commands", tag = "engine",
    responses((status = 200, body = CommandsOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_meter_commands(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CommandsOut>, WebError> {
    let meter: MeterId = parse(&id)?;
    let rows: Vec<CommandRow> = s.store.journal().meter_commands(meter, 50).await?;
    if rows.is_empty() {
        s.store.get_meter(meter).await?;
    }
    let mut commands = Vec::with_capacity(rows.len());
    for c in rows {
        let transitions = s
            .store
            .journal()
            .command_transitions(c.no)
            .await?
            .into_iter()
            .map(|t| TransitionOut {
                from: t.from_state,
                to: t.to_state,
                reason: t.reason,
                at: ms_to_ts(t.at_ms),
            })
            .collect();
        commands.push(CommandOut {
            no: c.no,
            kind: c.kind,
            state: c.state,
            attempts: c.attempts,
            reason: c.reason,
            queued_at: ms_to_ts(c.queued_at_ms),
            updated_at: ms_to_ts(c.updated_at_ms),
            transitions,
        });
    }
    Ok(Json(CommandsOut { commands }))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommandIn {
    /// trip, close (electricity); valve_close, valve_open (water, gas);
    /// read_now, time_sync (any).
    kind: String,
    /// Why (kept with the command's history).
    reason: String,
}

/// Queue a command for a meter (at most one pending per kind; a queued
/// opposite command is superseded). The dispatcher sends it; follow it with
/// `GET /api/v1/meters/{id}/commands`.
#[utoipa::path(post, path = "/api/v1/meters/{id}/commands", tag = "engine", request_body = CommandIn,
    responses((status = 202, body = CommandsOut, description = "Queued; the meter's commands, newest first"),
               (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn post_meter_command(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<CommandIn>,
) -> Result<(StatusCode, Json<CommandsOut>), WebError> {
    let meter: MeterId = parse(&id)?;
    let kind: yufu_domain::command::CommandKind =
        serde_json::from_value(serde_json::Value::String(b.kind.clone())).map_err(|_| {
            WebError::Invalid(format!(
                "kind '{}' is not one of trip, close, valve_close, valve_open, read_now, time_sync",
                b.kind
            ))
        })?;
    let reason = b.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(WebError::Invalid("reason must be 1–200 characters".into()));
    }
    s.store.get_meter(meter).await?;
    s.writer
        .queue_command(meter, kind, reason.to_owned())
        .await?;
    let Json(out) = get_meter_commands(State(s), Path(id)).await?;
    Ok((StatusCode::ACCEPTED, Json(out)))
}

// --- public-area (公摊) meters ------------------------------------------------

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShareMemberIo {
    account_id: String,
    /// Floor area in m² (up to two decimals); required for the `area` rule.
    area_sqm: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SharingIo {
    /// `area` (by floor area), `equal`, or `usage` (by each member's own
    /// metered consumption since the previous split).
    rule: String,
    members: Vec<ShareMemberIo>,
}

fn sharing_out(g: &yufu_domain::apportion::SharedGroup) -> SharingIo {
    let rule = serde_json::to_value(g.rule)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    SharingIo {
        members: g
            .members
            .iter()
            .map(|(a, w)| ShareMemberIo {
                account_id: a.to_string(),
                area_sqm: (g.rule == yufu_domain::apportion::ShareRule::Area)
                    .then(|| format!("{}.{:02}", w / 100, w % 100)),
            })
            .collect(),
        rule,
    }
}

/// A public-area meter's sharing group (404 `not_found` if the meter is an
/// ordinary one).
#[utoipa::path(get, path = "/api/v1/meters/{id}/sharing", tag = "engine",
    responses((status = 200, body = SharingIo), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_sharing(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SharingIo>, WebError> {
    let group = s
        .store
        .meter_sharing(parse(&id)?)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(Json(sharing_out(&group)))
}

/// Make a meter a public-area meter (公摊表): its charges are split over the
/// member accounts, exact to the fen, instead of going to its own account.
#[utoipa::path(put, path = "/api/v1/meters/{id}/sharing", tag = "engine", request_body = SharingIo,
    responses((status = 200, body = SharingIo), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn put_sharing(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<SharingIo>,
) -> Result<Json<SharingIo>, WebError> {
    use yufu_domain::apportion::{ShareRule, SharedGroup};
    let meter: MeterId = parse(&id)?;
    let rule: ShareRule = serde_json::from_value(serde_json::Value::String(b.rule.clone()))
        .map_err(|_| {
            WebError::Invalid(format!(
                "rule '{}' is not one of area, equal, usage",
                b.rule
            ))
        })?;
    if b.members.is_empty() || b.members.len() > 10_000 {
        return Err(WebError::Invalid("1 to 10 000 members".into()));
    }
    let mut members = Vec::with_capacity(b.members.len());
    for m in &b.members {
        let account: AccountId = parse(&m.account_id)?;
        if members.iter().any(|(a, _)| *a == account) {
            return Err(WebError::Invalid(format!(
                "account {account} is listed twice"
            )));
        }
        let weight = match (rule, &m.area_sqm) {
            (ShareRule::Area, Some(area)) => {
                u64::try_from(yufu_domain::AreaCentiSqm::parse_sqm(area)?.get()).unwrap_or(0)
            }
            (ShareRule::Area, None) => {
                return Err(WebError::Invalid(format!(
                    "the area rule needs area_sqm for account {account}"
                )));
            }
            _ => 1,
        };
        members.push((account, weight));
    }
    let group = SharedGroup { rule, members };
    s.store.set_meter_sharing(meter, Some(&group)).await?;
    yufu_writer::sync::sync_meter(s.store.as_ref(), &s.writer, meter).await?;
    Ok(Json(sharing_out(&group)))
}

/// Make a public-area meter an ordinary one again.
#[utoipa::path(delete, path = "/api/v1/meters/{id}/sharing", tag = "engine",
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_sharing(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, WebError> {
    let meter: MeterId = parse(&id)?;
    s.store.set_meter_sharing(meter, None).await?;
    yufu_writer::sync::sync_meter(s.store.as_ref(), &s.writer, meter).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- balance rules and protected windows -------------------------------------

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BalanceRulesIn {
    /// Warning levels in fen, highest first, each above the cut-off; each
    /// notifies the customer once when the balance falls below it.
    warnings_fen: Vec<i64>,
    /// At or below this balance the supply is cut (0 = at zero credit;
    /// negative = an overdraft allowance).
    cutoff_fen: i64,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct BalanceRulesOut {
    warnings_fen: Vec<i64>,
    cutoff_fen: i64,
    /// `account` (its own rules) or `class` (its customer class's default).
    source: &'static str,
}

async fn rules_out(s: &AppState, account: AccountId) -> Result<BalanceRulesOut, WebError> {
    let a = s.store.get_account(account).await?;
    let (policy, source) = match s.store.account_rules(account).await? {
        Some(own) => (own, "account"),
        None => (yufu_writer::event::default_policy(a.class), "class"),
    };
    Ok(BalanceRulesOut {
        warnings_fen: policy.warnings().iter().map(|f| f.0).collect(),
        cutoff_fen: policy.cutoff().0,
        source,
    })
}

/// An account's balance rules: its own, or its customer class's default.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/balance-rules", tag = "engine",
    responses((status = 200, body = BalanceRulesOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_balance_rules(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<BalanceRulesOut>, WebError> {
    Ok(Json(rules_out(&s, parse(&id)?).await?))
}

/// Give an account its own balance rules (warning levels, cut-off level).
/// They apply from the next reading or recharge on.
#[utoipa::path(put, path = "/api/v1/accounts/{id}/balance-rules", tag = "engine", request_body = BalanceRulesIn,
    responses((status = 200, body = BalanceRulesOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn put_balance_rules(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<BalanceRulesIn>,
) -> Result<Json<BalanceRulesOut>, WebError> {
    let account: AccountId = parse(&id)?;
    if b.warnings_fen.len() > 5 {
        return Err(WebError::Invalid("at most 5 warning levels".into()));
    }
    let policy = yufu_domain::balance::BalancePolicy::new(
        b.warnings_fen.into_iter().map(Fen).collect(),
        Fen(b.cutoff_fen),
    )?;
    s.store.set_account_rules(account, Some(&policy)).await?;
    yufu_writer::sync::sync_account(s.store.as_ref(), &s.writer, account).await?;
    Ok(Json(rules_out(&s, account).await?))
}

/// Return an account to its customer class's default balance rules.
#[utoipa::path(delete, path = "/api/v1/accounts/{id}/balance-rules", tag = "engine",
    responses((status = 200, body = BalanceRulesOut), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_balance_rules(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<BalanceRulesOut>, WebError> {
    let account: AccountId = parse(&id)?;
    s.store.set_account_rules(account, None).await?;
    yufu_writer::sync::sync_account(s.store.as_ref(), &s.writer, account).await?;
    Ok(Json(rules_out(&s, account).await?))
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NightlyIo {
    /// Local time the window opens, `HH:MM`.
    start: String,
    /// Local time it closes, `HH:MM` (before `start` = over midnight).
    end: String,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProtectedWindowsIo {
    /// Nightly hours during which no one is cut off, or null.
    nightly: Option<NightlyIo>,
    /// No cut-offs on Saturdays and Sundays.
    weekends: bool,
    /// Dates (`YYYY-MM-DD`, the site's local calendar) with no cut-offs.
    holidays: Vec<String>,
}

fn windows_out(w: &yufu_domain::balance::ProtectedWindows) -> ProtectedWindowsIo {
    ProtectedWindowsIo {
        nightly: w.nightly.map(|(a, b)| NightlyIo {
            start: a.strftime("%H:%M").to_string(),
            end: b.strftime("%H:%M").to_string(),
        }),
        weekends: w.weekends,
        holidays: w.holidays.iter().map(ToString::to_string).collect(),
    }
}

/// A site's protected windows (保电时段): when a cut-off waits.
#[utoipa::path(get, path = "/api/v1/sites/{id}/protected-windows", tag = "engine",
    responses((status = 200, body = ProtectedWindowsIo), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_protected_windows(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ProtectedWindowsIo>, WebError> {
    let w = s.store.site_windows(parse(&id)?).await?;
    Ok(Json(windows_out(&w)))
}

/// Set a site's protected windows: a cut-off that falls in one is deferred
/// to the next allowed time (a recharge meanwhile cancels it).
#[utoipa::path(put, path = "/api/v1/sites/{id}/protected-windows", tag = "engine", request_body = ProtectedWindowsIo,
    responses((status = 200, body = ProtectedWindowsIo), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn put_protected_windows(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<ProtectedWindowsIo>,
) -> Result<Json<ProtectedWindowsIo>, WebError> {
    let site_id: yufu_domain::SiteId = parse(&id)?;
    let time = |t: &str| {
        t.parse::<jiff::civil::Time>()
            .map_err(|e| WebError::Invalid(format!("nightly time '{t}': {e}")))
    };
    let nightly = match &b.nightly {
        Some(n) => {
            let (a, z) = (time(&n.start)?, time(&n.end)?);
            if a == z {
                return Err(WebError::Invalid(
                    "nightly start and end must differ".into(),
                ));
            }
            Some((a, z))
        }
        None => None,
    };
    if b.holidays.len() > 366 {
        return Err(WebError::Invalid("at most 366 holidays".into()));
    }
    let holidays = b
        .holidays
        .iter()
        .map(|d| {
            d.parse::<jiff::civil::Date>()
                .map_err(|e| WebError::Invalid(format!("holiday '{d}': {e}")))
        })
        .collect::<Result<_, _>>()?;
    let windows = yufu_domain::balance::ProtectedWindows {
        nightly,
        weekends: b.weekends,
        holidays,
    };
    let site = s.store.get_site(site_id).await?;
    s.store.set_site_windows(site_id, &windows).await?;
    s.writer
        .configure(vec![yufu_writer::ConfigChange::Site {
            key: yufu_writer::sync::site_key(site_id),
            windows: windows.clone(),
            tz: site.timezone.as_str().to_owned(),
        }])
        .await?;
    Ok(Json(windows_out(&windows)))
}

/// The engine routes with their OpenAPI description.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(
            routes!(post_readings).layer(axum::extract::DefaultBodyLimit::max(
                crate::MAX_BATCH_BODY_BYTES,
            )),
        )
        .routes(routes!(post_recharge))
        .routes(routes!(get_balance))
        .routes(routes!(get_ledger))
        .routes(routes!(get_meter_readings))
        .routes(routes!(get_meter_commands, post_meter_command))
        .routes(routes!(get_sharing, put_sharing, delete_sharing))
        .routes(routes!(
            get_balance_rules,
            put_balance_rules,
            delete_balance_rules
        ))
        .routes(routes!(get_protected_windows, put_protected_windows))
}
