//! The cashier counter (收费柜台): find an account by its number, a meter
//! serial or the customer's phone; see its balance, supply and customer;
//! take a recharge (a form the console script sends to
//! `POST /api/v1/accounts/{id}/recharges` with an idempotency key made once
//! per page view, so a double click credits once); then the new balance,
//! the printable receipt, and the reconnect following live: a recharge
//! that lifts a cut-off account above its cut-off level queues the close /
//! valve-open command in the same commit, and the page re-reads the
//! commands every few seconds until the meter acknowledges.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use yufu_access::Permission;
use yufu_domain::{Account, AccountId, AccountNumber, MeterSerial};

use super::account::{CustomerView, SupplyView, engine_state, meters_of, page_error};
use super::fmt;
use super::{Ctx, Page, PageError};
use crate::auth::Caller;
use crate::{AppState, WebError};

pub(crate) const PAGES: &[(&str, Page)] = &[("/counter", Page::Staff(Permission::Recharge))];

pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("counter.title", "收费柜台", "Cashier counter"),
    (
        "counter.find",
        "户号、表号或电话",
        "Account no., meter serial or phone",
    ),
    ("counter.search", "查找", "Find"),
    (
        "counter.not_found",
        "没有找到匹配的账户。",
        "No account matches.",
    ),
    (
        "counter.matches",
        "找到多个账户，请选择：",
        "Several accounts match; pick one:",
    ),
    ("counter.balance", "当前余额（元）", "Balance now (yuan)"),
    ("counter.recharge", "充值", "Take a recharge"),
    ("counter.amount", "金额（元）", "Amount (yuan)"),
    (
        "counter.amount_invalid",
        "请输入金额，如 50 或 12.50",
        "Enter an amount such as 50 or 12.50",
    ),
    (
        "counter.submit",
        "确认收款并充值",
        "Take payment and credit",
    ),
    (
        "counter.confirm",
        "确认已收款，并为该账户充值？",
        "Payment received — credit it to this account?",
    ),
    ("counter.received", "已充值", "Credited"),
    (
        "counter.balance_after",
        "充值后余额（元）",
        "Balance after (yuan)",
    ),
    ("counter.receipt_no", "收据号", "Receipt no."),
    ("counter.print", "打印收据", "Print the receipt"),
    (
        "counter.receipt_missing",
        "找不到这笔充值。",
        "That recharge was not found.",
    ),
    ("counter.reconnect", "供应恢复情况", "Reconnection"),
    (
        "counter.reconnect_hint",
        "页面每 3 秒自动刷新，直到表计确认。",
        "This refreshes every 3 s until the meter confirms.",
    ),
    (
        "counter.no_switching",
        "无通断命令",
        "No switching commands",
    ),
    ("counter.sw.reconnecting", "正在恢复供应…", "Reconnecting…"),
    ("counter.sw.reconnected", "已恢复供应", "Reconnected"),
    (
        "counter.sw.reconnect_failed",
        "恢复供应失败",
        "Reconnect failed",
    ),
    ("counter.sw.cutting", "正在断供…", "Cutting off…"),
    ("counter.sw.cut", "已断供", "Cut off"),
    ("counter.sw.cut_failed", "断供未成功", "Cut-off failed"),
    ("counter.sw.superseded", "已被取代", "Superseded"),
    ("counter.cmd.trip", "拉闸", "Trip"),
    ("counter.cmd.close", "合闸", "Close"),
    ("counter.cmd.valve_close", "关阀", "Close valve"),
    ("counter.cmd.valve_open", "开阀", "Open valve"),
    ("counter.safety_hold", "安全锁定", "Safety hold"),
    (
        "counter.closed",
        "账户已销户，不能充值。",
        "This account is closed: no recharges.",
    ),
    ("counter.open_account", "账户详情", "Account page"),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/counter", get(page))
}

/// Accounts listed when a search matches several.
const MATCHES: usize = 10;
/// Meters whose switching is followed (an account has a handful).
const FOLLOWED_METERS: usize = 10;
/// Recent commands read per meter to find its latest switching one.
const COMMANDS_PER_METER: u32 = 10;

#[derive(serde::Deserialize, Debug, Default)]
struct CounterQuery {
    q: Option<String>,
    account: Option<String>,
    receipt: Option<String>,
}

struct Match {
    id: String,
    number: String,
    customer: String,
}

/// The latest switching command of one meter, as the cashier reads it.
struct Switching {
    meter_id: String,
    serial: String,
    /// Command label key (trip, close, …); empty when none.
    command: &'static str,
    /// Machine-readable outcome (`reconnected`, `reconnecting`, …) and its
    /// label key and badge class.
    state: &'static str,
    state_key: &'static str,
    class: &'static str,
    at: String,
    safety_hold: Option<String>,
}

struct Receipt {
    amount: String,
    balance_after: String,
    number: String,
    at: String,
    href: String,
}

struct Selected {
    id: String,
    number: String,
    closed: bool,
    customer: CustomerView,
    balance: String,
    supply: SupplyView,
    switching: Vec<Switching>,
    /// Something is still on its way: the page keeps refreshing.
    follow: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/counter.html")]
struct CounterPage {
    c: Ctx,
    q: String,
    searched: bool,
    matches: Vec<Match>,
    selected: Option<Selected>,
    receipt: Option<Receipt>,
    receipt_missing: bool,
    reference: String,
}

async fn page(
    State(s): State<AppState>,
    c: Ctx,
    Query(query): Query<CounterQuery>,
) -> Result<CounterPage, PageError> {
    let err = |e: WebError| page_error(&c, e);
    let Some(caller) = c.caller.clone() else {
        return Err(err(WebError::NotFound));
    };
    let q = query.q.as_deref().unwrap_or("").trim().to_owned();
    let mut matches = Vec::new();
    let mut selected_account = None;
    if let Some(id) = query.account.as_deref().filter(|v| !v.is_empty()) {
        let id: AccountId = id.parse().map_err(|_| err(WebError::NotFound))?;
        let a = s.store.get_account(id).await.map_err(|e| err(e.into()))?;
        if !visible(&s, &caller, &a).await.map_err(err)? {
            return Err(err(WebError::NotFound));
        }
        selected_account = Some(a);
    } else if !q.is_empty() {
        let found = search(&s, &caller, &q).await.map_err(err)?;
        if found.len() == 1 {
            selected_account = found.into_iter().next();
        } else {
            let full = c.can("read_personal");
            for a in found {
                let customer = s
                    .store
                    .get_customer(a.customer_id)
                    .await
                    .map_err(|e| err(e.into()))?;
                matches.push(Match {
                    id: a.id.to_string(),
                    number: a.number.to_string(),
                    customer: CustomerView::new(&customer, full).name,
                });
            }
        }
    }

    let mut receipt = None;
    let mut receipt_missing = false;
    let selected = match selected_account {
        Some(a) => {
            if let Some(key) = query.receipt.as_deref().filter(|k| !k.is_empty()) {
                match s
                    .store
                    .journal()
                    .find_recharge(a.id, key)
                    .await
                    .map_err(|e| err(e.into()))?
                {
                    Some((r, e)) => {
                        receipt = Some(Receipt {
                            amount: fmt::yuan(r.amount_fen),
                            balance_after: fmt::yuan(e.balance_after_fen),
                            number: format!("{}-{}", a.number, e.no),
                            at: fmt::time(r.at_ms),
                            href: format!(
                                "/api/v1/accounts/{}/recharges/{}/receipt?lang={}",
                                a.id,
                                fmt::url_encode(key),
                                c.lang.code()
                            ),
                        });
                    }
                    None => receipt_missing = true,
                }
            }
            Some(selected(&s, &c, &a).await.map_err(err)?)
        }
        None => None,
    };
    Ok(CounterPage {
        q,
        searched: query.q.is_some() && query.account.is_none(),
        matches,
        selected,
        receipt,
        receipt_missing,
        reference: c.who(),
        c,
    })
}

/// The account belongs to the caller's organisation and, for site-scoped
/// staff, to one of their sites.
async fn visible(s: &AppState, caller: &Caller, a: &Account) -> Result<bool, WebError> {
    if a.organisation_id != caller.principal.organisation {
        return Ok(false);
    }
    if !caller.scoped() {
        return Ok(true);
    }
    let sites = crate::auth::account_sites(s, a.id).await?;
    Ok(caller.any_site(&sites).is_ok())
}

/// Accounts matching a cashier's search: the account number, a meter's
/// serial, or the customer's phone number (at least 5 digits).
async fn search(s: &AppState, caller: &Caller, q: &str) -> Result<Vec<Account>, WebError> {
    let org = caller.principal.organisation;
    let mut found: Vec<Account> = Vec::new();
    if let Ok(number) = q.parse::<AccountNumber>()
        && let Some(a) = s.store.find_account_by_number(org, &number).await?
    {
        found.push(a);
    }
    if let Ok(serial) = q.parse::<MeterSerial>()
        && let Some(m) = s.store.find_meter_by_serial(org, &serial).await?
        && let Some(id) = m.account_id
        && !found.iter().any(|a| a.id == id)
    {
        found.push(s.store.get_account(id).await?);
    }
    if q.bytes().filter(u8::is_ascii_digit).count() >= 5 {
        for customer in s.store.find_customers_by_phone(org, q).await? {
            for a in s.store.access().accounts_of_customer(customer.id).await? {
                if found.len() >= MATCHES * 2 {
                    break;
                }
                if !found.iter().any(|x| x.id == a.id) {
                    found.push(a);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(found.len().min(MATCHES));
    for a in found {
        if out.len() >= MATCHES {
            break;
        }
        if visible(s, caller, &a).await? {
            out.push(a);
        }
    }
    Ok(out)
}

async fn selected(s: &AppState, c: &Ctx, a: &Account) -> Result<Selected, WebError> {
    let customer = s.store.get_customer(a.customer_id).await?;
    let engine = engine_state(s, a.id).await?;
    let supply = SupplyView::of(engine.supply);
    let meters = meters_of(s, a).await?;
    let mut switching = Vec::new();
    let mut follow = !supply.is_on() && engine.supply.is_some();
    for m in meters.iter().take(FOLLOWED_METERS) {
        let commands = s
            .store
            .journal()
            .meter_commands(m.id, COMMANDS_PER_METER)
            .await?;
        let safety_hold = s.writer.meter(m.id).await?.and_then(|v| v.safety_hold);
        let latest = commands.iter().find(|x| {
            matches!(
                x.kind.as_str(),
                "trip" | "close" | "valve_close" | "valve_open"
            )
        });
        let row = match latest {
            Some(x) => {
                let (state, class) = outcome(&x.kind, &x.state);
                if matches!(x.state.as_str(), "queued" | "sent") {
                    follow = true;
                }
                Switching {
                    meter_id: m.id.to_string(),
                    serial: m.serial.to_string(),
                    command: command_key(&x.kind),
                    state,
                    state_key: state_key(state),
                    class,
                    at: fmt::time(x.updated_at_ms),
                    safety_hold,
                }
            }
            None => Switching {
                meter_id: m.id.to_string(),
                serial: m.serial.to_string(),
                command: "",
                state: "none",
                state_key: "counter.no_switching",
                class: "info",
                at: String::new(),
                safety_hold,
            },
        };
        switching.push(row);
    }
    Ok(Selected {
        id: a.id.to_string(),
        number: a.number.to_string(),
        closed: a.status == yufu_domain::AccountStatus::Closed,
        customer: CustomerView::new(&customer, c.can("read_personal")),
        balance: fmt::yuan(engine.balance_fen),
        supply,
        switching,
        follow,
    })
}

fn command_key(kind: &str) -> &'static str {
    match kind {
        "trip" => "counter.cmd.trip",
        "close" => "counter.cmd.close",
        "valve_close" => "counter.cmd.valve_close",
        _ => "counter.cmd.valve_open",
    }
}

/// A switching command's kind and state as an outcome and a badge class.
fn outcome(kind: &str, state: &str) -> (&'static str, &'static str) {
    let reconnect = matches!(kind, "close" | "valve_open");
    match (reconnect, state) {
        (_, "superseded") => ("superseded", "info"),
        (true, "acknowledged") => ("reconnected", "good"),
        (true, "failed" | "timed_out") => ("reconnect_failed", "bad"),
        (true, _) => ("reconnecting", "warn"),
        (false, "acknowledged") => ("cut", "bad"),
        (false, "failed" | "timed_out") => ("cut_failed", "warn"),
        (false, _) => ("cutting", "warn"),
    }
}

fn state_key(state: &str) -> &'static str {
    match state {
        "reconnected" => "counter.sw.reconnected",
        "reconnect_failed" => "counter.sw.reconnect_failed",
        "reconnecting" => "counter.sw.reconnecting",
        "cut" => "counter.sw.cut",
        "cut_failed" => "counter.sw.cut_failed",
        "cutting" => "counter.sw.cutting",
        _ => "counter.sw.superseded",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switching_outcomes() {
        assert_eq!(outcome("close", "queued").0, "reconnecting");
        assert_eq!(outcome("valve_open", "acknowledged").0, "reconnected");
        assert_eq!(outcome("close", "timed_out").0, "reconnect_failed");
        assert_eq!(outcome("trip", "acknowledged").0, "cut");
        assert_eq!(outcome("valve_close", "sent").0, "cutting");
        assert_eq!(outcome("trip", "superseded").0, "superseded");
        for s in [
            "reconnected",
            "reconnect_failed",
            "reconnecting",
            "cut",
            "cut_failed",
            "cutting",
            "superseded",
        ] {
            assert!(
                TEXT.iter().any(|(k, _, _)| *k == state_key(s)),
                "{s} has a label"
            );
        }
    }
}
