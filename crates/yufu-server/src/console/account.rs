//! The account page (户): balance and supply as the engine holds them, the
//! balance rules (warning levels and cut-off), the ledger and the
//! recharges (each paged newest first), the meters it pays for, and the
//! customer — personal data masked unless the role may read it.
//!
//! Also the pieces the cashier counter shows of an account
//! ([`CustomerView`], [`SupplyView`], [`engine_state`]).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use yufu_access::Permission;
use yufu_domain::balance::{BalancePolicy, Supply};
use yufu_domain::ledger::Cause;
use yufu_domain::{Account, AccountId, Customer, Meter};
use yufu_store::{MeterFilter, Page as StorePage};

use super::fmt;
use super::{Ctx, Page, PageError};
use crate::{AppState, WebError};

pub(crate) const PAGES: &[(&str, Page)] = &[("/accounts/{id}", Page::Staff(Permission::ReadFleet))];

pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("account.title", "账户", "Account"),
    ("account.number", "户号", "Account no."),
    ("account.balance", "余额（元）", "Balance (yuan)"),
    ("account.supply", "供应状态", "Supply"),
    ("account.supply.on", "正常供应", "Supplied"),
    ("account.supply.cut_pending", "待断供", "Cut-off pending"),
    ("account.supply.off", "已断供", "Cut off"),
    ("account.supply.not_billed", "未计费", "Not billed yet"),
    ("account.cut_not_before", "最早断供时间", "Not cut before"),
    ("account.class", "用户类别", "Customer class"),
    ("account.class.residential", "居民", "Residential"),
    ("account.class.commercial", "商业", "Commercial"),
    ("account.class.industrial", "工业", "Industrial"),
    ("account.class.public", "公共", "Public"),
    ("account.status.active", "正常", "Active"),
    ("account.status.closed", "已销户", "Closed"),
    ("account.customer", "客户", "Customer"),
    ("account.customer.name", "姓名/名称", "Name"),
    ("account.customer.phone", "电话", "Phone"),
    ("account.customer.id_number", "证件号码", "ID number"),
    ("account.customer.address", "地址", "Address"),
    ("account.customer.kind", "客户类型", "Customer kind"),
    ("account.customer.person", "个人", "Person"),
    ("account.customer.company", "单位", "Company"),
    (
        "account.masked_note",
        "您的角色不能查看完整个人信息，已部分隐藏。",
        "Your role may not read personal data in full; it is partly hidden.",
    ),
    ("account.rules", "余额规则", "Balance rules"),
    (
        "account.warnings",
        "预警金额（元）",
        "Warning levels (yuan)",
    ),
    ("account.cutoff", "断供金额（元）", "Cut-off level (yuan)"),
    ("account.rules_source", "规则来源", "Rules from"),
    (
        "account.rules_source.account",
        "本账户单独设置",
        "This account's own",
    ),
    (
        "account.rules_source.class",
        "用户类别默认值",
        "The customer class's default",
    ),
    (
        "account.below_warning",
        "低于预警金额",
        "Below a warning level",
    ),
    ("account.meters", "关联表计", "Meters"),
    ("account.meter.serial", "表号", "Serial"),
    ("account.meter.utility", "品类", "Utility"),
    ("account.meter.tariff", "价格方案", "Tariff"),
    ("account.meter_status.in_stock", "库存", "In stock"),
    ("account.meter_status.installed", "已安装", "Installed"),
    ("account.meter_status.in_service", "在用", "In service"),
    ("account.meter_status.faulty", "故障", "Faulty"),
    ("account.meter_status.removed", "已拆除", "Removed"),
    ("account.meter_status.retired", "已报废", "Retired"),
    ("account.recharges", "充值记录", "Recharges"),
    ("account.channel", "渠道", "Channel"),
    ("account.channel.counter", "柜台", "Counter"),
    ("account.channel.wechat", "微信支付", "WeChat Pay"),
    ("account.channel.alipay", "支付宝", "Alipay"),
    ("account.reference", "凭证/经办", "Reference / by"),
    ("account.receipt", "收据", "Receipt"),
    ("account.ledger", "账本明细", "Ledger"),
    (
        "account.balance_after",
        "余额（元）",
        "Balance after (yuan)",
    ),
    ("account.kind.recharge", "充值", "Recharge"),
    ("account.kind.consumption", "用量扣费", "Consumption"),
    ("account.kind.fixed_charge", "固定费用", "Fixed charge"),
    ("account.kind.refund", "退费", "Refund"),
    ("account.kind.adjustment", "调账", "Adjustment"),
    ("account.kind.migration", "余额迁移", "Migration"),
    ("account.cause.reading", "抄表", "Reading at"),
    ("account.cause.operator", "操作员调整", "By an operator"),
    ("account.cause.schedule", "定期收费", "Scheduled"),
    (
        "account.to_counter",
        "去柜台充值",
        "Recharge at the counter",
    ),
    ("account.older", "更早的记录", "Older entries"),
    ("account.newest", "最新记录", "Newest entries"),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/accounts/{id}", get(page))
}

/// Rows of the ledger and of the recharges per page.
const LEDGER_ROWS: u32 = 20;
const RECHARGE_ROWS: u32 = 10;
/// Meters listed per account (an account pays for a handful at most).
const METER_ROWS: u32 = 50;

/// A failure as a page: a row that does not exist (an id of no one's, or
/// of another organisation) is the 404 page, not a server error.
pub(crate) fn page_error(c: &Ctx, e: impl Into<WebError>) -> PageError {
    match e.into() {
        WebError::Store(yufu_store::StoreError::NotFound { .. }) => {
            PageError::new(c, WebError::NotFound)
        }
        other => PageError::new(c, other),
    }
}

/// A customer as a page may show it: in full for roles that may read
/// personal data, masked the way the API masks it for the others.
#[derive(Clone, Debug)]
pub(crate) struct CustomerView {
    pub kind: &'static str,
    pub name: String,
    pub phone: Option<String>,
    pub id_number: Option<String>,
    pub address: Option<String>,
    pub masked: bool,
}

impl CustomerView {
    pub(crate) fn new(c: &Customer, full: bool) -> Self {
        use crate::api::mask;
        let kind = match c.kind {
            yufu_domain::CustomerKind::Person => "account.customer.person",
            yufu_domain::CustomerKind::Company => "account.customer.company",
        };
        if full {
            return CustomerView {
                kind,
                name: c.name.expose().clone(),
                phone: c.phone.as_ref().map(|p| p.expose().clone()),
                id_number: c.id_number.as_ref().map(|p| p.expose().clone()),
                address: c.address.as_ref().map(|p| p.expose().clone()),
                masked: false,
            };
        }
        CustomerView {
            kind,
            name: mask(c.name.expose(), 1, 0),
            phone: c.phone.as_ref().map(|p| mask(p.expose(), 3, 4)),
            id_number: c.id_number.as_ref().map(|p| mask(p.expose(), 4, 4)),
            address: c
                .address
                .as_ref()
                .map(|p| format!("{}…", p.expose().chars().take(6).collect::<String>())),
            masked: true,
        }
    }
}

/// The supply state as a label key, a badge class and (for a deferred
/// cut-off) the earliest time.
#[derive(Clone, Debug)]
pub(crate) struct SupplyView {
    pub key: &'static str,
    pub class: &'static str,
    pub not_before: Option<String>,
}

impl SupplyView {
    pub(crate) fn of(supply: Option<Supply>) -> Self {
        match supply {
            Some(Supply::On) => SupplyView {
                key: "account.supply.on",
                class: "good",
                not_before: None,
            },
            Some(Supply::CutPending { not_before }) => SupplyView {
                key: "account.supply.cut_pending",
                class: "warn",
                not_before: Some(fmt::time(not_before.as_millisecond())),
            },
            Some(Supply::Off) => SupplyView {
                key: "account.supply.off",
                class: "bad",
                not_before: None,
            },
            None => SupplyView {
                key: "account.supply.not_billed",
                class: "info",
                not_before: None,
            },
        }
    }

    pub(crate) fn is_on(&self) -> bool {
        self.key == "account.supply.on"
    }
}

/// What the engine holds about an account: balance, supply, the head of
/// its ledger. An account without a billed meter is unknown to the engine:
/// its ledger is empty.
pub(crate) struct EngineState {
    pub balance_fen: i64,
    pub supply: Option<Supply>,
    pub policy: Option<BalancePolicy>,
    pub ledger_head: Option<i64>,
}

pub(crate) async fn engine_state(s: &AppState, id: AccountId) -> Result<EngineState, WebError> {
    Ok(match s.writer.account(id).await? {
        Some(v) => EngineState {
            balance_fen: v.balance_fen,
            supply: Some(v.supply),
            policy: v.policy,
            ledger_head: v.ledger_head,
        },
        None => EngineState {
            balance_fen: 0,
            supply: None,
            policy: None,
            ledger_head: None,
        },
    })
}

/// A meter row of an account.
#[derive(Clone, Debug)]
pub(crate) struct MeterRow {
    pub id: String,
    pub serial: String,
    pub utility: &'static str,
    pub status: String,
    pub tariff: Option<String>,
}

impl MeterRow {
    pub(crate) fn of(m: &Meter) -> Self {
        MeterRow {
            id: m.id.to_string(),
            serial: m.serial.to_string(),
            utility: m.utility.as_str(),
            status: m.status.to_string(),
            tariff: m.tariff_code.as_ref().map(ToString::to_string),
        }
    }
}

/// The meters that bill to an account.
pub(crate) async fn meters_of(s: &AppState, a: &Account) -> Result<Vec<Meter>, WebError> {
    let filter = MeterFilter {
        account_id: Some(a.id),
        ..MeterFilter::default()
    };
    Ok(s.store
        .list_meters(a.organisation_id, &filter, &StorePage::first(METER_ROWS))
        .await?)
}

struct Rules {
    warnings: Vec<String>,
    cutoff: String,
    source: &'static str,
    /// The balance is below the highest warning level.
    warned: bool,
}

struct LedgerLine {
    at: String,
    kind: String,
    amount: String,
    negative: bool,
    balance_after: String,
    /// Label key and text of what caused it, and a link when it is a meter.
    cause_key: &'static str,
    cause_text: String,
    cause_href: Option<String>,
}

struct RechargeLine {
    at: String,
    amount: String,
    channel: String,
    reference: String,
    key: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/account.html")]
struct AccountPage {
    c: Ctx,
    id: String,
    number: String,
    class: String,
    status: String,
    balance: String,
    balance_class: &'static str,
    supply: SupplyView,
    customer: CustomerView,
    rules: Rules,
    meters: Vec<MeterRow>,
    recharges: Vec<RechargeLine>,
    recharges_next: Option<i64>,
    recharges_paged: bool,
    ledger: Vec<LedgerLine>,
    ledger_next: Option<i64>,
    ledger_paged: bool,
}

#[derive(serde::Deserialize, Debug, Default)]
struct AccountQuery {
    /// The ledger page starting at this entry (the previous page's last
    /// entry's predecessor).
    before: Option<String>,
    /// The recharges older than this ledger entry.
    rbefore: Option<String>,
}

fn cursor(c: &Ctx, v: Option<&str>) -> Result<Option<i64>, PageError> {
    v.filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| PageError::new(c, WebError::Invalid("bad cursor".into())))
        })
        .transpose()
}

async fn page(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
    Query(q): Query<AccountQuery>,
) -> Result<AccountPage, PageError> {
    let err = |e: WebError| page_error(&c, e);
    let id: AccountId = id.parse().map_err(|_| err(WebError::NotFound))?;
    let before = cursor(&c, q.before.as_deref())?;
    let rbefore = cursor(&c, q.rbefore.as_deref())?;
    let a = s.store.get_account(id).await.map_err(|e| err(e.into()))?;
    // Ids are global; an account of another organisation is no one's here.
    if c.caller
        .as_ref()
        .is_some_and(|x| x.principal.organisation != a.organisation_id)
    {
        return Err(err(WebError::NotFound));
    }
    let customer = s
        .store
        .get_customer(a.customer_id)
        .await
        .map_err(|e| err(e.into()))?;
    let engine = engine_state(&s, id).await.map_err(err)?;
    // The engine's policy is what it applies (the account's own rules or
    // its class default); the store says which of the two it is.
    let own = s.store.account_rules(id).await.map_err(|e| err(e.into()))?;
    let source = if own.is_some() {
        "account.rules_source.account"
    } else {
        "account.rules_source.class"
    };
    let policy = engine
        .policy
        .clone()
        .or(own)
        .unwrap_or_else(|| yufu_writer::event::default_policy(a.class));
    let warned = policy
        .warnings()
        .first()
        .is_some_and(|w| engine.balance_fen < w.0);
    let rules = Rules {
        warnings: policy.warnings().iter().map(|f| fmt::yuan(f.0)).collect(),
        cutoff: fmt::yuan(policy.cutoff().0),
        source,
        warned,
    };
    let supply = SupplyView::of(engine.supply);
    let balance_class = match supply.class {
        "bad" => "bad",
        _ if warned => "warn",
        _ => "good",
    };

    let meters = meters_of(&s, &a).await.map_err(err)?;

    // The ledger, newest first, walked down its chain.
    let mut ledger = Vec::new();
    let mut ledger_next = None;
    if let Some(from) = before.or(engine.ledger_head) {
        let rows = s
            .store
            .journal()
            .ledger_chain(from, LEDGER_ROWS)
            .await
            .map_err(|e| err(e.into()))?;
        if rows.first().is_some_and(|r| r.account_id != id) {
            // A cursor of another account's chain: nothing of this one.
            return Err(err(WebError::NotFound));
        }
        if u32::try_from(rows.len()).unwrap_or(u32::MAX) >= LEDGER_ROWS {
            ledger_next = rows.last().and_then(|r| r.prev_no);
        }
        ledger = rows.into_iter().map(|e| ledger_line(&c, e)).collect();
    }

    let recharge_rows = s
        .store
        .console()
        .account_recharges(id, rbefore, RECHARGE_ROWS)
        .await
        .map_err(|e| err(e.into()))?;
    let recharges_next = (u32::try_from(recharge_rows.len()).unwrap_or(u32::MAX) >= RECHARGE_ROWS)
        .then(|| recharge_rows.last().map(|r| r.entry_no))
        .flatten();
    let recharges = recharge_rows
        .into_iter()
        .map(|r| RechargeLine {
            at: fmt::time(r.at_ms),
            amount: fmt::yuan(r.amount_fen),
            channel: channel_label(&c, &r.channel),
            reference: r.reference,
            key: fmt::url_encode(&r.idempotency_key),
        })
        .collect();

    let full = c.can("read_personal");
    Ok(AccountPage {
        id: a.id.to_string(),
        number: a.number.to_string(),
        class: format!("account.class.{}", a.class),
        status: format!("account.status.{}", a.status),
        balance: fmt::yuan(engine.balance_fen),
        balance_class,
        supply,
        customer: CustomerView::new(&customer, full),
        rules,
        meters: meters.iter().map(MeterRow::of).collect(),
        recharges,
        recharges_next,
        recharges_paged: rbefore.is_some(),
        ledger,
        ledger_next,
        ledger_paged: before.is_some(),
        c,
    })
}

/// A payment channel for people: the well-known ones translated, others
/// (a provider's own name) as stored.
pub(crate) fn channel_label(c: &Ctx, channel: &str) -> String {
    match channel {
        "counter" => c.t("account.channel.counter").to_owned(),
        "wechat" => c.t("account.channel.wechat").to_owned(),
        "alipay" => c.t("account.channel.alipay").to_owned(),
        other => other.to_owned(),
    }
}

fn ledger_line(c: &Ctx, e: yufu_store::journal::EntryRow) -> LedgerLine {
    let (cause_key, cause_text, cause_href) = match serde_json::from_str::<Cause>(&e.cause) {
        Ok(Cause::Reading { meter_id, at }) => (
            "account.cause.reading",
            fmt::time(at.as_millisecond()),
            Some(format!("/meters/{meter_id}")),
        ),
        Ok(Cause::Payment { channel, reference }) => (
            "",
            format!("{} · {reference}", channel_label(c, &channel)),
            None,
        ),
        Ok(Cause::Operator { .. }) => ("account.cause.operator", String::new(), None),
        Ok(Cause::Schedule {
            charge,
            period_start,
        }) => (
            "account.cause.schedule",
            format!("{charge} · {period_start}"),
            None,
        ),
        Err(_) => ("", String::new(), None),
    };
    LedgerLine {
        at: fmt::time(e.at_ms),
        kind: format!("account.kind.{}", e.kind),
        amount: fmt::yuan(e.amount_fen),
        negative: e.amount_fen < 0,
        balance_after: fmt::yuan(e.balance_after_fen),
        cause_key,
        cause_text,
        cause_href,
    }
}
