//! The customer portal (自助服务), phone first: sign-in with the account
//! number, then one page per account with the balance, the supply, how
//! many days the balance lasts at the recent rate, a 30-day chart of the
//! daily charges, online recharge, the ledger, the account's
//! notifications, and complaints and questions with staff's answers.
//!
//! Also the payment simulator's hosted page (`/paysim/{id}`), which plays
//! a payment provider in the demo and answers 404 unless the simulator is
//! switched on. Its "Pay" calls `POST /api/v1/paysim/{id}/pay`
//! ([`crate::portal_api`]); money is credited only by the provider
//! callback, as for a real provider.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use yufu_access::Identity;
use yufu_domain::balance::Supply;
use yufu_domain::{Account, AccountStatus, CustomerId};
use yufu_store::console::LedgerPoint;

use super::chart;
use super::fmt;
use super::{Ctx, Page, PageError};
use crate::portal_api::{SIMULATOR_PROVIDER, checkout_url, simulator_secret};
use crate::{AppState, WebError};

/// This module's pages and who may open them.
pub(crate) const PAGES: &[(&str, Page)] = &[
    ("/portal/login", Page::Public),
    ("/portal", Page::Customer),
    ("/portal/pay/{id}", Page::Customer),
    // The simulated provider's hosted page: anyone holding the order's
    // link, like a real provider's checkout.
    ("/paysim/{id}", Page::Public),
];

/// This module's labels: (key, 简体中文, English).
pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("portal.title", "自助服务", "Self-service"),
    ("portal.login_title", "客户登录", "Customer sign-in"),
    ("portal.account_number", "户号", "Account number"),
    ("portal.password", "密码", "Password"),
    ("portal.login_submit", "登录", "Sign in"),
    (
        "portal.login_hint",
        "密码由客服为您设置；忘记密码请联系客服。",
        "Customer service sets your password; ask them if you have forgotten it.",
    ),
    (
        "portal.staff_login",
        "员工请由此登录",
        "Staff: sign in here",
    ),
    ("portal.logout", "退出", "Sign out"),
    ("portal.accounts", "我的账户", "My accounts"),
    (
        "portal.no_accounts",
        "您的名下暂无账户，请联系客服。",
        "There is no account in your name; please contact customer service.",
    ),
    ("portal.closed", "此账户已销户", "This account is closed"),
    ("portal.balance", "余额（元）", "Balance (yuan)"),
    ("portal.supply", "供应状态", "Supply"),
    ("portal.supply_on", "正常供应", "On"),
    ("portal.supply_pending", "即将停供", "Cut-off pending"),
    ("portal.supply_off", "已停供", "Cut off"),
    ("portal.supply_unknown", "未开通", "Not started"),
    ("portal.cut_at", "最早停供时间", "Not cut before"),
    ("portal.days_left", "预计可用天数", "Days it will last"),
    ("portal.days_unit", "天", "days"),
    (
        "portal.days_basis",
        "按近 {n} 天平均每天 {yuan} 元估算",
        "At the last {n} days' average of {yuan} yuan a day",
    ),
    (
        "portal.days_rough",
        "用量记录不足 7 天，仅供参考",
        "Less than 7 days of use so far: a rough guess",
    ),
    (
        "portal.days_no_usage",
        "近 30 天没有用量扣费，无法估算",
        "No usage charges in the last 30 days to go by",
    ),
    (
        "portal.chart_title",
        "近 30 天每日用量扣费（元）",
        "Daily usage charges, last 30 days (yuan)",
    ),
    ("portal.yuan", "元", "yuan"),
    ("portal.recharge", "在线充值", "Recharge online"),
    ("portal.recharge_amount", "金额（元）", "Amount (yuan)"),
    ("portal.recharge_submit", "去支付", "Go to payment"),
    (
        "portal.recharge_invalid",
        "请输入金额，如 50 或 12.50",
        "Enter an amount such as 50 or 12.50",
    ),
    (
        "portal.recharge_unavailable",
        "暂未开通在线支付。请到收费柜台，或在缴费渠道用您的户号充值。",
        "Online payment is not available here. Pay at the counter, or in your payment app with your account number.",
    ),
    (
        "portal.paid",
        "支付成功：{amount} 元已到账。",
        "Payment received: {amount} yuan credited.",
    ),
    (
        "portal.paid_pending",
        "订单 {amount} 元尚未支付完成。",
        "The order of {amount} yuan is not paid yet.",
    ),
    ("portal.ledger", "收支明细", "Ledger"),
    ("portal.ledger_amount", "金额（元）", "Amount (yuan)"),
    ("portal.ledger_balance", "余额（元）", "Balance (yuan)"),
    ("portal.kind.recharge", "充值", "Recharge"),
    ("portal.kind.consumption", "用量扣费", "Usage"),
    ("portal.kind.fixed_charge", "固定费用", "Fixed charge"),
    ("portal.kind.refund", "退费", "Refund"),
    ("portal.kind.adjustment", "调账", "Adjustment"),
    ("portal.kind.migration", "余额结转", "Carried over"),
    ("portal.kind.other", "其他", "Other"),
    ("portal.notifications", "消息通知", "Notifications"),
    (
        "portal.note.low_balance",
        "余额已低于 {level} 元（当前 {balance} 元），请及时充值。",
        "Your balance is below {level} yuan (now {balance} yuan). Please recharge soon.",
    ),
    (
        "portal.note.cutoff_scheduled",
        "余额不足，最早将于 {at} 停止供应，请尽快充值。",
        "Your credit is used up: supply may stop from {at}. Please recharge.",
    ),
    (
        "portal.note.cutoff_cancelled",
        "停供已取消，恢复正常供应。",
        "The cut-off is cancelled: supply is back on.",
    ),
    (
        "portal.note.recharged",
        "充值 {amount} 元已到账，余额 {balance} 元。",
        "{amount} yuan credited; your balance is {balance} yuan.",
    ),
    ("portal.note.other", "账户通知", "Account notice"),
    ("portal.tickets", "投诉与咨询", "Complaints and questions"),
    ("portal.ticket_kind", "类型", "Kind"),
    ("portal.ticket.complaint", "投诉", "Complaint"),
    ("portal.ticket.question", "咨询", "Question"),
    ("portal.ticket_subject", "主题", "Subject"),
    ("portal.ticket_body", "内容", "Details"),
    ("portal.ticket_submit", "提交", "Send"),
    ("portal.ticket_reply", "客服回复", "Our answer"),
    ("portal.ticket_no_reply", "尚未回复", "No answer yet"),
    ("portal.ticket_status.open", "待处理", "Open"),
    ("portal.ticket_status.answered", "已回复", "Answered"),
    ("portal.ticket_status.closed", "已结束", "Closed"),
    ("portal.paysim_title", "模拟支付平台", "Payment simulator"),
    (
        "portal.paysim_note",
        "演示用的模拟支付平台，不会产生真实扣款。",
        "A simulated payment provider for the demo: no real money moves.",
    ),
    ("portal.paysim_merchant", "收款方", "Merchant"),
    ("portal.paysim_order", "订单号", "Order"),
    ("portal.paysim_for", "充值户号", "For account"),
    ("portal.paysim_amount", "支付金额（元）", "Amount (yuan)"),
    ("portal.paysim_pay", "支付", "Pay"),
    ("portal.paysim_cancel", "取消", "Cancel"),
    (
        "portal.paysim_paid",
        "此订单已支付。",
        "This order is paid.",
    ),
    (
        "portal.paysim_cancelled",
        "此订单已取消。",
        "This order was cancelled.",
    ),
    ("portal.back", "返回自助服务", "Back to self-service"),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal/login", get(login))
        .route("/portal", get(home))
        .route("/portal/pay/{id}", get(pay))
        .route("/paysim/{id}", get(paysim))
}

const DAY_MS: i64 = 86_400_000;
/// Ledger rows per page.
const LEDGER_ROWS: u32 = 20;
/// Tickets per page.
const TICKET_ROWS: u32 = 10;
/// Notifications shown (the newest).
const NOTE_ROWS: u32 = 10;
/// The most ledger entries the chart and the forecast read: a month of
/// quarter-hourly readings of one meter and then some.
const WINDOW_ENTRIES: u32 = 4_000;
/// The forecast's and the chart's history.
const WINDOW_DAYS: i64 = 30;
/// Below this much history the forecast is marked rough.
const SOLID_DAYS: i64 = 7;

// --- the forecast ----------------------------------------------------------------

/// How long the balance lasts at the recent rate of usage charges.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Forecast {
    /// Whole days the balance lasts; 0 when it is used up already.
    pub days: i64,
    /// Days of history the average is over (1 to 30).
    pub basis_days: i64,
    /// The average usage charge per day, in fen (rounded down).
    pub per_day_fen: i64,
}

impl Forecast {
    /// Less than [`SOLID_DAYS`] of history: say it is a rough guess.
    pub fn rough(&self) -> bool {
        self.basis_days < SOLID_DAYS
    }
}

/// The days `balance_fen` lasts at the average daily usage charge of the
/// last 30 days, from an account's ledger walked back from its newest
/// entry (`window`, newest first, as `Console::ledger_window` gives it:
/// ending with the first entry before the 30 days, if the account is
/// older). An account younger than 30 days is averaged over its own life,
/// never less than a day. `truncated`: the walk stopped at its row limit
/// before the 30 days (a meter read every few seconds), so the window's
/// own span is the history, however short. `None` without usage charges
/// in the window.
pub(crate) fn forecast(
    balance_fen: i64,
    window: &[LedgerPoint],
    truncated: bool,
    now_ms: i64,
) -> Option<Forecast> {
    let since = now_ms - WINDOW_DAYS * DAY_MS;
    // Where the history starts: 30 days back, or the account's first entry
    // when it is younger (the earliest time: a late reading can be posted
    // after a newer entry).
    let start = window
        .iter()
        .map(|p| p.at_ms)
        .min()
        .map_or(since, |first| first.max(since));
    let charged: i64 = window
        .iter()
        .filter(|p| p.kind == "consumption" && p.at_ms >= start && p.at_ms <= now_ms)
        .map(|p| -p.amount_fen)
        .filter(|fen| *fen > 0)
        .sum();
    if charged <= 0 {
        return None;
    }
    // A young account's first day counts as a whole day; a cut-off walk
    // knows only its own span.
    let shortest = if truncated { 60_000 } else { DAY_MS };
    let span_ms = (now_ms - start).clamp(shortest, WINDOW_DAYS * DAY_MS);
    // balance / (charged / span) in days, in integers: no floats for money.
    let days = if balance_fen <= 0 {
        0
    } else {
        i128::from(balance_fen) * i128::from(span_ms) / (i128::from(charged) * i128::from(DAY_MS))
    };
    Some(Forecast {
        days: i64::try_from(days).unwrap_or(i64::MAX),
        basis_days: (span_ms + DAY_MS - 1) / DAY_MS,
        per_day_fen: i64::try_from(i128::from(charged) * i128::from(DAY_MS) / i128::from(span_ms))
            .unwrap_or(i64::MAX),
    })
}

/// Daily usage charges (fen) of the last 30 days, one bucket per day.
fn daily_charges(window: &[LedgerPoint], now_ms: i64) -> Vec<chart::Bucket> {
    let mut days = chart::buckets(chart::Range::Month, now_ms);
    for p in window.iter().filter(|p| p.kind == "consumption") {
        chart::add(&mut days, p.at_ms, -p.amount_fen);
    }
    days
}

// --- sign-in -------------------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "console/portal_login.html")]
struct LoginPage {
    c: Ctx,
}

async fn login(c: Ctx) -> LoginPage {
    LoginPage { c }
}

// --- the home page ---------------------------------------------------------------------

#[derive(serde::Deserialize)]
struct HomeQuery {
    account: Option<String>,
    /// The ledger page: an entry number from the previous page.
    cursor: Option<String>,
    /// The ticket page: the last ticket id of the previous page.
    tickets: Option<String>,
    /// An order just paid (the payment page comes back here).
    paid: Option<String>,
}

struct AccountTab {
    id: String,
    number: String,
    here: bool,
}

struct LedgerLine {
    time: String,
    kind: &'static str,
    amount: String,
    balance: String,
    credit: bool,
}

struct Note {
    time: String,
    text: String,
    class: &'static str,
}

struct TicketLine {
    time: String,
    kind: &'static str,
    subject: String,
    body: String,
    status: &'static str,
    status_class: &'static str,
    reply: Option<String>,
}

/// What the page shows of the selected account.
struct Shown {
    id: String,
    number: String,
    closed: bool,
    balance: String,
    balance_class: &'static str,
    supply: &'static str,
    supply_class: &'static str,
    cut_at: Option<String>,
    days: String,
    days_hint: String,
    rough: bool,
    chart: String,
    ledger: Vec<LedgerLine>,
    ledger_older: Option<String>,
    ledger_newest: Option<String>,
    notes: Vec<Note>,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/portal.html")]
struct HomePage {
    c: Ctx,
    tabs: Vec<AccountTab>,
    account: Option<Shown>,
    /// The banner after a payment.
    paid: Option<(String, &'static str)>,
    checkout: bool,
    provider: &'static str,
    tickets: Vec<TicketLine>,
    tickets_older: Option<String>,
    tickets_newest: Option<String>,
}

fn customer_of(c: &Ctx) -> Result<CustomerId, WebError> {
    match c.caller.as_ref().map(|x| &x.principal.identity) {
        Some(Identity::Customer { customer }) => Ok(*customer),
        _ => Err(WebError::Forbidden("the portal is for customers".into())),
    }
}

async fn home(
    State(s): State<AppState>,
    c: Ctx,
    Query(q): Query<HomeQuery>,
) -> Result<HomePage, PageError> {
    let customer = customer_of(&c).map_err(|e| PageError::new(&c, e))?;
    let accounts = s
        .store
        .access()
        .accounts_of_customer(customer)
        .await
        .map_err(|e| PageError::new(&c, e))?;
    let paid_order = match q.paid.as_deref() {
        Some(id) => s
            .store
            .console()
            .get_payment_order(id)
            .await
            .map_err(|e| PageError::new(&c, e))?
            .filter(|o| o.customer_id == customer),
        None => None,
    };
    // The account asked for, else the paid order's, else the first.
    let wanted = q
        .account
        .clone()
        .or_else(|| paid_order.as_ref().map(|o| o.account_id.to_string()));
    let selected = wanted
        .and_then(|w| accounts.iter().find(|a| a.id.to_string() == w))
        .or_else(|| accounts.first())
        .cloned();
    let tabs = accounts
        .iter()
        .map(|a| AccountTab {
            id: a.id.to_string(),
            number: a.number.to_string(),
            here: selected.as_ref().is_some_and(|x| x.id == a.id),
        })
        .collect();
    let account = match &selected {
        Some(a) => Some(
            shown(&s, &c, a, &q)
                .await
                .map_err(|e| PageError::new(&c, e))?,
        ),
        None => None,
    };
    let paid = paid_order.map(|o| {
        let amount = fmt::yuan(o.amount_fen);
        if o.status == "paid" {
            (c.t("portal.paid").replace("{amount}", &amount), "ok")
        } else {
            (
                c.t("portal.paid_pending").replace("{amount}", &amount),
                "muted",
            )
        }
    });
    let (tickets, tickets_older) = tickets(&s, customer, q.tickets.as_deref())
        .await
        .map_err(|e| PageError::new(&c, e))?;
    let base = selected.as_ref().map_or_else(
        || "/portal?".to_owned(),
        |a| format!("/portal?account={}&", a.id),
    );
    Ok(HomePage {
        tickets_older: tickets_older.map(|id| format!("{base}tickets={id}#tickets")),
        tickets_newest: q
            .tickets
            .is_some()
            .then(|| format!("{}#tickets", base.trim_end_matches(['&', '?']))),
        checkout: simulator_secret(&s).is_some(),
        provider: SIMULATOR_PROVIDER,
        c,
        tabs,
        account,
        paid,
        tickets,
    })
}

/// The selected account's figures, chart, ledger page and notifications.
async fn shown(s: &AppState, c: &Ctx, a: &Account, q: &HomeQuery) -> Result<Shown, WebError> {
    let now = crate::auth::now_ms();
    let view = s.writer.account(a.id).await?;
    let balance_fen = view.as_ref().map_or(a.balance.0, |v| v.balance_fen);
    let (supply, supply_class, cut_at) = match view.as_ref().map(|v| v.supply) {
        Some(Supply::On) => ("portal.supply_on", "good", None),
        Some(Supply::CutPending { not_before }) => (
            "portal.supply_pending",
            "warn",
            Some(fmt::time(not_before.as_millisecond())),
        ),
        Some(Supply::Off) => ("portal.supply_off", "bad", None),
        None => ("portal.supply_unknown", "info", None),
    };
    let head = view.as_ref().and_then(|v| v.ledger_head);
    let window = match head {
        Some(h) => {
            s.store
                .console()
                .ledger_window(h, now - WINDOW_DAYS * DAY_MS, WINDOW_ENTRIES)
                .await?
        }
        None => Vec::new(),
    };
    let truncated = u32::try_from(window.len()).unwrap_or(u32::MAX) >= WINDOW_ENTRIES
        && window
            .last()
            .is_some_and(|p| p.at_ms >= now - WINDOW_DAYS * DAY_MS);
    let (days, days_hint, rough) = match forecast(balance_fen, &window, truncated, now) {
        Some(f) => (
            f.days.to_string(),
            c.t("portal.days_basis")
                .replace("{n}", &f.basis_days.to_string())
                .replace("{yuan}", &fmt::yuan(f.per_day_fen)),
            f.rough(),
        ),
        None => (
            "—".to_owned(),
            c.t("portal.days_no_usage").to_owned(),
            false,
        ),
    };
    let chart = chart::bars(
        &daily_charges(&window, now),
        c.t("portal.chart_title"),
        c.t("portal.yuan"),
        fmt::yuan,
    );
    // The ledger page: from the cursor (checked to be this account's) or
    // the newest entry.
    let cursor = q.cursor.as_deref().and_then(|v| v.parse::<i64>().ok());
    let rows = match cursor.or(head) {
        Some(from) => s.store.journal().ledger_chain(from, LEDGER_ROWS).await?,
        None => Vec::new(),
    };
    if rows.first().is_some_and(|r| r.account_id != a.id) {
        return Err(WebError::BadRequest(
            "cursor does not belong to this account".into(),
        ));
    }
    let ledger_older = (u32::try_from(rows.len()).unwrap_or(u32::MAX) >= LEDGER_ROWS)
        .then(|| rows.last().and_then(|r| r.prev_no))
        .flatten()
        .map(|no| format!("/portal?account={}&cursor={no}#ledger", a.id));
    let ledger = rows
        .into_iter()
        .map(|e| LedgerLine {
            time: fmt::time(e.at_ms),
            kind: kind_key(&e.kind),
            credit: e.amount_fen > 0,
            amount: fmt::yuan(e.amount_fen),
            balance: fmt::yuan(e.balance_after_fen),
        })
        .collect();
    let notes = s
        .store
        .console()
        .account_notifications(a.id, NOTE_ROWS)
        .await?
        .into_iter()
        .map(|n| note(c, &n.kind, &n.body, n.created_at_ms))
        .collect();
    Ok(Shown {
        id: a.id.to_string(),
        number: a.number.to_string(),
        closed: a.status != AccountStatus::Active,
        balance: fmt::yuan(balance_fen),
        balance_class: if balance_fen < 0 { "bad" } else { "good" },
        supply,
        supply_class,
        cut_at,
        days,
        days_hint,
        rough,
        chart,
        ledger,
        ledger_older,
        ledger_newest: cursor.map(|_| format!("/portal?account={}#ledger", a.id)),
        notes,
    })
}

fn kind_key(kind: &str) -> &'static str {
    match kind {
        "recharge" => "portal.kind.recharge",
        "consumption" => "portal.kind.consumption",
        "fixed_charge" => "portal.kind.fixed_charge",
        "refund" => "portal.kind.refund",
        "adjustment" => "portal.kind.adjustment",
        "migration" => "portal.kind.migration",
        _ => "portal.kind.other",
    }
}

/// A notification as a sentence in the page's language, from the engine's
/// JSON (`yufu_engine::Notification`: amounts in fen, instants RFC 3339).
fn note(c: &Ctx, kind: &str, body: &str, at_ms: i64) -> Note {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let yuan = |field: &str| v[field].as_i64().map_or_else(|| "—".to_owned(), fmt::yuan);
    let (text, class) = match kind {
        "low_balance" => (
            c.t("portal.note.low_balance")
                .replace("{level}", &yuan("level"))
                .replace("{balance}", &yuan("balance")),
            "warn",
        ),
        "cutoff_scheduled" => {
            let at = v["at"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map_or_else(|| "—".to_owned(), |t| fmt::time(t.as_millisecond()));
            (
                c.t("portal.note.cutoff_scheduled").replace("{at}", &at),
                "bad",
            )
        }
        "cutoff_cancelled" => (c.t("portal.note.cutoff_cancelled").to_owned(), "good"),
        "recharged" => (
            c.t("portal.note.recharged")
                .replace("{amount}", &yuan("amount"))
                .replace("{balance}", &yuan("balance")),
            "good",
        ),
        _ => (c.t("portal.note.other").to_owned(), "info"),
    };
    Note {
        time: fmt::time(at_ms),
        text,
        class,
    }
}

/// The customer's tickets, a page from `before` (a ticket id), and the id
/// to continue from when there are more.
async fn tickets(
    s: &AppState,
    customer: CustomerId,
    before: Option<&str>,
) -> Result<(Vec<TicketLine>, Option<String>), WebError> {
    let console = s.store.console();
    let cursor = match before {
        Some(id) => console
            .get_ticket(id)
            .await?
            .filter(|t| t.customer_id == customer)
            .map(|t| (t.created_at_ms, t.id)),
        None => None,
    };
    let rows = console
        .customer_tickets(
            customer,
            cursor.as_ref().map(|(ms, id)| (*ms, id.as_str())),
            TICKET_ROWS,
        )
        .await?;
    let older = (u32::try_from(rows.len()).unwrap_or(u32::MAX) >= TICKET_ROWS)
        .then(|| rows.last().map(|t| t.id.clone()))
        .flatten();
    let lines = rows
        .into_iter()
        .map(|t| {
            let (status, status_class) = match t.status.as_str() {
                "answered" => ("portal.ticket_status.answered", "good"),
                "closed" => ("portal.ticket_status.closed", "info"),
                _ => ("portal.ticket_status.open", "warn"),
            };
            TicketLine {
                time: fmt::time(t.created_at_ms),
                kind: if t.kind == "complaint" {
                    "portal.ticket.complaint"
                } else {
                    "portal.ticket.question"
                },
                subject: t.subject,
                body: t.body,
                status,
                status_class,
                reply: t.reply,
            }
        })
        .collect();
    Ok((lines, older))
}

// --- paying an order -------------------------------------------------------------------

/// After "Go to payment": the order's checkout (the provider's page), or
/// the portal when it is paid already.
async fn pay(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let customer = customer_of(&c).map_err(|e| PageError::new(&c, e))?;
    let order = s
        .store
        .console()
        .get_payment_order(&id)
        .await
        .map_err(|e| PageError::new(&c, e))?
        .filter(|o| o.customer_id == customer)
        .ok_or_else(|| PageError::new(&c, WebError::NotFound))?;
    if order.status != "pending" {
        return Ok(Redirect::to(&format!("/portal?paid={}", order.id)).into_response());
    }
    match checkout_url(&s, &order) {
        Some(url) => Ok(Redirect::to(&url).into_response()),
        None => Err(PageError::new(&c, WebError::NotFound)),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "console/paysim.html")]
struct PaysimPage {
    c: Ctx,
    order_id: String,
    merchant: String,
    account_number: String,
    amount: String,
    status: String,
}

/// The simulated provider's checkout for an order (404 unless the
/// simulator is on).
async fn paysim(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    if simulator_secret(&s).is_none() {
        return Ok(super::error_page(c.lang, StatusCode::NOT_FOUND));
    }
    let order = s
        .store
        .console()
        .get_payment_order(&id)
        .await
        .map_err(|e| PageError::new(&c, e))?
        .filter(|o| o.provider == SIMULATOR_PROVIDER)
        .ok_or_else(|| PageError::new(&c, WebError::NotFound))?;
    let org = s
        .store
        .get_organisation(order.organisation_id)
        .await
        .map_err(|e| PageError::new(&c, e))?;
    let account = s
        .store
        .get_account(order.account_id)
        .await
        .map_err(|e| PageError::new(&c, e))?;
    Ok(PaysimPage {
        c,
        order_id: order.id,
        merchant: org.name.to_string(),
        account_number: account.number.to_string(),
        amount: fmt::yuan(order.amount_fen),
        status: order.status,
    }
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_653_000_000;

    fn point(kind: &str, amount_fen: i64, days_ago: i64) -> LedgerPoint {
        LedgerPoint {
            kind: kind.into(),
            amount_fen,
            at_ms: NOW - days_ago * DAY_MS,
        }
    }

    #[test]
    fn a_month_of_use_averages_over_thirty_days() {
        // 3 yuan a day for months: the window holds days 0..30 and the
        // first entry before it (day 31) that ended the walk.
        let window: Vec<LedgerPoint> = (0..30)
            .chain([31])
            .map(|d| point("consumption", -300, d))
            .collect();
        let f = forecast(9_000, &window, false, NOW).unwrap();
        assert_eq!(f.basis_days, 30);
        assert_eq!(f.per_day_fen, 300);
        assert_eq!(f.days, 30);
        assert!(!f.rough());
        // Recharges and other kinds do not count as use.
        let mut with_recharge = window.clone();
        with_recharge.insert(0, point("recharge", 50_000, 0));
        with_recharge.insert(1, point("fixed_charge", -1_000, 1));
        assert_eq!(forecast(9_000, &with_recharge, false, NOW), Some(f));
    }

    #[test]
    fn a_young_account_averages_over_its_own_life() {
        // Opened 10 days ago with a recharge, 5 yuan of use a day since.
        let mut window: Vec<LedgerPoint> = (0..10).map(|d| point("consumption", -500, d)).collect();
        window.push(point("recharge", 10_000, 10));
        let f = forecast(10_000, &window, false, NOW).unwrap();
        assert_eq!((f.basis_days, f.per_day_fen, f.days), (10, 500, 20));
        assert!(!f.rough());
        // Three days old: a rough guess, still over its three days.
        let young = vec![
            point("consumption", -600, 1),
            point("consumption", -600, 2),
            point("recharge", 5_000, 3),
        ];
        let f = forecast(4_000, &young, false, NOW).unwrap();
        assert_eq!((f.basis_days, f.per_day_fen, f.days), (3, 400, 10));
        assert!(f.rough());
        // An hour old: averaged over a whole day, never less.
        let f = forecast(
            1_000,
            &[
                LedgerPoint {
                    kind: "consumption".into(),
                    amount_fen: -100,
                    at_ms: NOW - 1_000,
                },
                LedgerPoint {
                    kind: "recharge".into(),
                    amount_fen: 1_100,
                    at_ms: NOW - 3_600_000,
                },
            ],
            false,
            NOW,
        )
        .unwrap();
        assert_eq!((f.basis_days, f.per_day_fen, f.days), (1, 100, 10));
        // The same hour from a walk cut off by its row limit: an older
        // account using 100 fen an hour, 2,400 a day.
        let busy: Vec<LedgerPoint> = (0..6)
            .map(|h| LedgerPoint {
                kind: "consumption".into(),
                amount_fen: -100,
                at_ms: NOW - h * 3_600_000,
            })
            .collect();
        let f = forecast(24_000, &busy, true, NOW).unwrap();
        assert_eq!((f.basis_days, f.per_day_fen, f.days), (1, 2_880, 8));
        assert!(f.rough());
    }

    #[test]
    fn no_use_no_forecast_and_debt_lasts_no_days() {
        assert_eq!(forecast(5_000, &[], false, NOW), None);
        assert_eq!(
            forecast(5_000, &[point("recharge", 5_000, 3)], false, NOW),
            None
        );
        // Use only before the 30 days does not count.
        assert_eq!(
            forecast(5_000, &[point("consumption", -100, 31)], false, NOW),
            None
        );
        let window = vec![
            point("consumption", -100, 0),
            point("consumption", -100, 31),
        ];
        assert_eq!(forecast(-50, &window, false, NOW).unwrap().days, 0);
        assert_eq!(forecast(0, &window, false, NOW).unwrap().days, 0);
        // Days are whole days, rounded down: 299 fen at 100 a day is 2.
        let daily: Vec<LedgerPoint> = (0..30)
            .chain([31])
            .map(|d| point("consumption", -100, d))
            .collect();
        assert_eq!(forecast(299, &daily, false, NOW).unwrap().days, 2);
    }

    /// Keys made at run time (not literal label calls the catalogue
    /// test finds) exist in both languages.
    #[test]
    fn every_made_key_exists() {
        let mut keys: Vec<&str> = [
            "recharge",
            "consumption",
            "fixed_charge",
            "refund",
            "adjustment",
            "migration",
            "something new",
        ]
        .into_iter()
        .map(kind_key)
        .collect();
        keys.extend([
            "portal.supply_on",
            "portal.supply_pending",
            "portal.supply_off",
            "portal.supply_unknown",
            "portal.ticket.complaint",
            "portal.ticket.question",
            "portal.ticket_status.open",
            "portal.ticket_status.answered",
            "portal.ticket_status.closed",
        ]);
        for key in keys {
            for lang in [super::super::Lang::Zh, super::super::Lang::En] {
                assert_ne!(lang.t(key), "?", "{key}");
            }
        }
    }

    #[test]
    fn the_chart_buckets_usage_charges_by_day() {
        let window = vec![
            point("consumption", -300, 0),
            point("consumption", -200, 0),
            point("recharge", 5_000, 1),
            point("consumption", -100, 29),
            point("consumption", -999, 40),
        ];
        let days = daily_charges(&window, NOW);
        assert_eq!(days.len(), 30);
        assert_eq!(days[29].value, 500);
        assert_eq!(days[0].value, 100);
        assert_eq!(days.iter().map(|b| b.value).sum::<i64>(), 600);
    }
}
