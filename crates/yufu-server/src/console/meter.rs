//! The meter page (表计): what a meter is and where, whether it supplies
//! (relay or valve) and why we think so, whether it talks to us, its
//! consumption chart, readings, commands, alarms and who changed it.
//!
//! Everything shown is read by key: the meter's row, its unit, building and
//! site by id, the engine's in-memory view, and the reading chain walked
//! down from its head only as far as the chart's period or one table page
//! needs. Nothing here grows with the fleet.
//!
//! The buttons (trip/close, valve close/open, read now, lift a safety hold)
//! are forms that `console.js` posts to the API, which checks the
//! permission, the site and the command itself, and audits it.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use yufu_access::Permission;
use yufu_domain::balance::Supply;
use yufu_domain::command::{CommandKind, CommandState};
use yufu_domain::{Meter, MeterId, Utility};
use yufu_store::journal::{CommandRow, ReadingRow};

use super::chart::{self, Range};
use super::fmt::{self, Severity};
use super::{Ctx, Page, PageError};
use crate::{AppState, Caller, WebError};

/// This module's pages and who may open them.
pub(crate) const PAGES: &[(&str, Page)] = &[("/meters/{id}", Page::Staff(Permission::ReadFleet))];

/// This module's labels: (key, 简体中文, English).
pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("meter.title", "表计", "Meter"),
    (
        "meter.lifecycle",
        "设备台账与全生命周期记录",
        "Device lifecycle and history",
    ),
    ("meter.facts", "基本信息", "Details"),
    ("meter.serial", "表号", "Serial"),
    ("meter.utility", "类别", "Utility"),
    ("meter.model", "型号", "Model"),
    ("meter.protocol", "通信规约", "Protocol"),
    ("meter.address", "通信地址", "Comm. address"),
    ("meter.multiplier", "倍率", "Multiplier"),
    ("meter.tariff", "价格方案", "Tariff"),
    ("meter.no_tariff", "未设置", "Not set"),
    ("meter.status", "表计状态", "Status"),
    ("meter.site", "园区", "Site"),
    ("meter.building", "楼栋", "Building"),
    ("meter.unit", "房号", "Unit"),
    ("meter.account", "户号", "Account"),
    ("meter.not_installed", "未安装", "Not installed"),
    ("meter.no_account", "未开户", "No account"),
    ("meter.status.in_stock", "库存", "In stock"),
    ("meter.status.installed", "已安装", "Installed"),
    ("meter.status.in_service", "在用", "In service"),
    ("meter.status.faulty", "故障", "Faulty"),
    ("meter.status.removed", "已拆除", "Removed"),
    ("meter.status.retired", "已报废", "Retired"),
    ("meter.supply", "通断与通信", "Supply and connection"),
    ("meter.relay", "通断状态", "Supply switch"),
    (
        "meter.relay.on_electricity",
        "合闸（供电中）",
        "Relay closed (supplying)",
    ),
    (
        "meter.relay.off_electricity",
        "跳闸（已断电）",
        "Relay open (tripped)",
    ),
    ("meter.relay.on_valve", "阀门开启", "Valve open"),
    ("meter.relay.off_valve", "阀门关闭", "Valve closed"),
    ("meter.relay.cutting_electricity", "跳闸中…", "Tripping…"),
    (
        "meter.relay.cutting_valve",
        "关阀中…",
        "Shutting the valve…",
    ),
    (
        "meter.relay.restoring_electricity",
        "合闸中…",
        "Closing the relay…",
    ),
    (
        "meter.relay.restoring_valve",
        "开阀中…",
        "Opening the valve…",
    ),
    (
        "meter.relay.held",
        "安全关阀（锁定）",
        "Held shut for safety",
    ),
    ("meter.relay.unknown", "未知", "Unknown"),
    (
        "meter.relay.by_command",
        "表计已确认",
        "Confirmed by the meter",
    ),
    (
        "meter.relay.by_hold",
        "险情（如燃气泄漏）触发安全关阀，解除前不会开阀",
        "Shut by a safety event (such as a gas leak); stays shut until the hold is lifted",
    ),
    (
        "meter.relay.by_pending",
        "命令已排队或已下发，等待表计确认",
        "Command queued or sent, waiting for the meter",
    ),
    (
        "meter.relay.by_account",
        "依据账户供应状态（表计尚未确认）",
        "From the account's supply state (not confirmed by the meter)",
    ),
    (
        "meter.relay.cut_pending",
        "余额不足，保护时段结束后断供",
        "Out of credit: cut-off waits for the protected window to end",
    ),
    (
        "meter.relay.no_info",
        "尚无通断命令记录",
        "No switching command recorded yet",
    ),
    ("meter.conn", "通信", "Connection"),
    ("meter.conn.online", "在线", "Online"),
    ("meter.conn.offline", "离线", "Offline"),
    ("meter.conn.unknown", "未监测", "Not monitored"),
    ("meter.conn.last_seen", "最后通信", "Last heard"),
    ("meter.conn.via", "通信方式", "Via"),
    ("meter.via.mqtt", "MQTT 直连", "MQTT (direct)"),
    ("meter.via.mqtt_gateway", "MQTT 集中器", "MQTT gateway"),
    ("meter.via.dlt645", "DL/T 645（TCP）", "DL/T 645 (TCP)"),
    ("meter.via.cjt188", "CJ/T 188（TCP）", "CJ/T 188 (TCP)"),
    ("meter.via.http", "HTTP 接口", "HTTP API"),
    ("meter.last_reading", "最新读数", "Last reading"),
    ("meter.no_readings", "尚无读数", "No readings yet"),
    ("meter.operate", "远程操作", "Remote control"),
    ("meter.reason", "原因", "Reason"),
    (
        "meter.reason_default",
        "控制台人工操作",
        "Operator action from the console",
    ),
    ("meter.do.trip", "跳闸（断电）", "Trip (cut off)"),
    ("meter.do.close", "合闸（复电）", "Close (reconnect)"),
    ("meter.do.valve_close", "关阀", "Close the valve"),
    ("meter.do.valve_open", "开阀", "Open the valve"),
    ("meter.do.read_now", "立即抄表", "Read now"),
    ("meter.do.release", "解除安全锁定", "Lift the safety hold"),
    (
        "meter.confirm.trip",
        "确定要跳闸断电吗？表号",
        "Trip the relay and cut the supply of meter",
    ),
    (
        "meter.confirm.close",
        "确定要合闸复电吗？表号",
        "Close the relay and reconnect meter",
    ),
    (
        "meter.confirm.valve_close",
        "确定要关阀吗？表号",
        "Close the valve of meter",
    ),
    (
        "meter.confirm.valve_open",
        "确定要开阀吗？表号",
        "Open the valve of meter",
    ),
    (
        "meter.confirm.read_now",
        "确定要立即抄表吗？表号",
        "Read now: meter",
    ),
    (
        "meter.confirm.release",
        "确认险情已排除并解除安全锁定？表号",
        "The hazard is dealt with: lift the safety hold of meter",
    ),
    ("meter.chart", "用量", "Consumption"),
    ("meter.range.day", "日", "Day"),
    ("meter.range.week", "周", "Week"),
    ("meter.range.month", "月", "Month"),
    (
        "meter.chart.day",
        "最近 24 小时用量（按小时）",
        "Last 24 hours, by hour",
    ),
    (
        "meter.chart.week",
        "最近 7 天用量（按日）",
        "Last 7 days, by day",
    ),
    (
        "meter.chart.month",
        "最近 30 天用量（按日）",
        "Last 30 days, by day",
    ),
    ("meter.chart.total", "合计", "Total"),
    (
        "meter.chart.partial",
        "读数较多，图表只包含最近的部分读数。",
        "Many readings: the chart covers only the most recent of them.",
    ),
    ("meter.readings", "读数", "Readings"),
    ("meter.reading.at", "抄表时间", "Taken at"),
    ("meter.reading.register", "表码", "Register"),
    ("meter.reading.verdict", "处理结果", "Outcome"),
    ("meter.reading.quantity", "计费用量", "Billed use"),
    ("meter.reading.charge", "扣费（元）", "Charge (yuan)"),
    ("meter.reading.received", "接收时间", "Received"),
    ("meter.verdict.billed", "已计费", "Billed"),
    ("meter.verdict.opening", "起始读数", "Opening reading"),
    ("meter.verdict.duplicate", "重复", "Duplicate"),
    ("meter.verdict.conflict", "冲突", "Conflict"),
    ("meter.verdict.out_of_order", "时间倒序", "Out of order"),
    (
        "meter.verdict.negative_delta",
        "表码倒走",
        "Register went back",
    ),
    (
        "meter.verdict.implausible_jump",
        "用量异常跳变",
        "Implausible jump",
    ),
    (
        "meter.verdict.register_out_of_range",
        "表码超出范围",
        "Register out of range",
    ),
    ("meter.verdict.no_tariff", "无价格方案", "No tariff"),
    ("meter.verdict.gap_too_long", "间隔过长", "Gap too long"),
    ("meter.commands", "远程命令", "Commands"),
    ("meter.cmd.no", "编号", "No."),
    ("meter.cmd.kind", "命令", "Command"),
    ("meter.cmd.attempts", "次数", "Attempts"),
    ("meter.cmd.reason", "原因", "Reason"),
    ("meter.cmd.queued", "下发时间", "Queued"),
    ("meter.cmd.updated", "更新时间", "Updated"),
    ("meter.cmd.history", "状态变化", "State changes"),
    ("meter.cmd.trip", "跳闸", "Trip"),
    ("meter.cmd.close", "合闸", "Close"),
    ("meter.cmd.valve_close", "关阀", "Valve close"),
    ("meter.cmd.valve_open", "开阀", "Valve open"),
    ("meter.cmd.read_now", "立即抄表", "Read now"),
    ("meter.cmd.time_sync", "校时", "Time sync"),
    ("meter.state.queued", "排队中", "Queued"),
    ("meter.state.sent", "已下发", "Sent"),
    ("meter.state.acknowledged", "已确认", "Acknowledged"),
    ("meter.state.failed", "失败", "Failed"),
    ("meter.state.timed_out", "超时", "Timed out"),
    ("meter.state.superseded", "已取代", "Superseded"),
    ("meter.alarms", "告警", "Alarms"),
    ("meter.alarm.raised", "发生时间", "Raised"),
    ("meter.alarm.cleared", "恢复时间", "Cleared"),
    ("meter.alarm.open", "未恢复", "Open"),
    ("meter.alarm.all", "全部告警", "All alarms"),
    ("meter.alarm.comm_fault", "通信故障", "Communication fault"),
    ("meter.alarm.gas_leak", "燃气泄漏", "Gas leak"),
    ("meter.alarm.tamper", "窃电/破坏", "Tampering"),
    ("meter.alarm.cover_open", "开盖", "Cover opened"),
    ("meter.alarm.magnetic", "强磁干扰", "Magnetic interference"),
    ("meter.alarm.low_battery", "电池电量低", "Low battery"),
    ("meter.alarm.valve_fault", "阀门故障", "Valve fault"),
    ("meter.alarm.command_failed", "命令失败", "Command failed"),
    ("meter.alarm.apportionment", "公摊分摊", "Apportionment"),
    ("meter.history", "变更记录", "History"),
    ("meter.hist.actor", "操作人", "By"),
    ("meter.hist.action", "操作", "Action"),
    ("meter.hist.result", "结果", "Result"),
    ("meter.hist.meter", "表计信息", "Meter details"),
    (
        "meter.hist.assignment",
        "安装/开户关联",
        "Unit and account link",
    ),
    ("meter.hist.tariff", "价格方案", "Tariff"),
    ("meter.hist.commands", "远程命令", "Command"),
    ("meter.hist.sharing", "公摊设置", "Shared-meter settings"),
    ("meter.hist.device_token", "设备令牌", "Device token"),
    ("meter.hist.release", "解除安全锁定", "Safety hold lifted"),
    ("meter.hist.ok", "成功", "Done"),
    ("meter.hist.refused", "被拒绝", "Refused"),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/meters/{id}", get(page))
}

/// Readings per table page.
const READINGS_PAGE: u32 = 20;
/// Commands shown; the relay state looks further back for the last
/// confirmed switching command.
const COMMANDS_SHOWN: usize = 10;
const COMMANDS_READ: u32 = 30;
const ALARMS_SHOWN: u32 = 10;
const HISTORY_SHOWN: u32 = 10;
/// The most readings one chart walks (a month of 15-minute readings);
/// past it the chart says it is partial.
const CHART_READINGS: u32 = 3_000;

/// Alarm kinds with a label (others show their stored name).
const ALARM_LABELS: &[&str] = &[
    "comm_fault",
    "gas_leak",
    "tamper",
    "cover_open",
    "magnetic",
    "low_battery",
    "valve_fault",
    "command_failed",
    "apportionment",
];

/// A store or engine failure as a page error: a row that is not there is
/// "not found", not a server error.
pub(crate) fn page_err(c: &Ctx, e: impl Into<WebError>) -> PageError {
    let e = e.into();
    let e = match e {
        WebError::Store(yufu_store::StoreError::NotFound { .. }) => WebError::NotFound,
        other => other,
    };
    PageError::new(c, e)
}

/// The signed-in staff member (every staff page has one).
pub(crate) fn caller(c: &Ctx) -> Result<&Caller, PageError> {
    c.caller
        .as_ref()
        .ok_or_else(|| PageError::new(c, WebError::NotFound))
}

/// `?key=value` of a query string, percent-decoded, ignoring the rest (so a
/// stray or malformed parameter never fails a page).
pub(crate) fn query_param(query: &HashMap<String, String>, key: &str) -> Option<String> {
    query
        .get(key)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[derive(Debug)]
struct MeterInfo {
    id: String,
    serial: String,
    utility: &'static str,
    model: String,
    protocol: &'static str,
    address: String,
    multiplier: u32,
    tariff: Option<String>,
    status_key: String,
    status_class: &'static str,
}

/// A link in the meter's place: site → building → unit.
#[derive(Debug)]
struct Place {
    label: &'static str,
    name: String,
    href: String,
}

#[derive(Debug)]
struct Relay {
    key: String,
    class: &'static str,
    /// The label saying what the state is based on.
    source: &'static str,
    at: Option<String>,
    /// Why a safety hold keeps the valve shut.
    hold: Option<String>,
    /// Out of credit, but a protected window defers the cut-off.
    cut_pending: bool,
}

#[derive(Debug)]
struct Conn {
    key: &'static str,
    class: &'static str,
    last_seen: Option<String>,
    via: Option<String>,
}

#[derive(Debug)]
struct ReadingLine {
    at: String,
    received: String,
    register: String,
    verdict_key: String,
    verdict_class: &'static str,
    quantity: String,
    charge: String,
}

#[derive(Debug)]
struct TransitionLine {
    at: String,
    from_key: Option<String>,
    to_key: String,
    reason: String,
}

#[derive(Debug)]
struct CommandLine {
    no: i64,
    kind_key: String,
    state_key: String,
    state_class: &'static str,
    attempts: i64,
    reason: String,
    queued: String,
    updated: String,
    transitions: Vec<TransitionLine>,
}

#[derive(Debug)]
struct AlarmLine {
    kind: String,
    severity_key: String,
    severity_class: &'static str,
    detail: String,
    raised: String,
    cleared: Option<String>,
}

#[derive(Debug)]
struct HistoryLine {
    at: String,
    actor: String,
    action_key: &'static str,
    ok: bool,
}

/// A command button: the API's kind, its label, confirmation and test id.
#[derive(Debug)]
struct Button {
    kind: &'static str,
    label: String,
    confirm: String,
    testid: String,
    class: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/meter.html")]
struct MeterPage {
    c: Ctx,
    m: MeterInfo,
    places: Vec<Place>,
    account: Option<(String, String)>,
    relay: Relay,
    conn: Conn,
    last: Option<ReadingLine>,
    range: &'static str,
    ranges: [&'static str; 3],
    chart_svg: String,
    chart_total: String,
    chart_partial: bool,
    readings: Vec<ReadingLine>,
    readings_next: Option<String>,
    readings_paged: bool,
    commands: Vec<CommandLine>,
    live: bool,
    alarms: Vec<AlarmLine>,
    history: Option<Vec<HistoryLine>>,
    buttons: Vec<Button>,
    safety_hold: Option<String>,
}

impl MeterPage {
    fn unit_label(&self) -> String {
        self.c.t(&format!("unit.{}", self.m.utility)).to_owned()
    }

    fn utility_label(&self) -> &'static str {
        self.c.t(&format!("utility.{}", self.m.utility))
    }

    fn chart_label(&self) -> &'static str {
        self.c.t(&format!("meter.chart.{}", self.range))
    }

    fn range_href(&self, r: &str) -> String {
        format!("/meters/{}?range={r}#chart", self.m.id)
    }
}

async fn page(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<MeterPage, PageError> {
    let who = caller(&c)?;
    let id: MeterId = id
        .parse()
        .map_err(|_| PageError::new(&c, WebError::NotFound))?;
    let meter = s.store.get_meter(id).await.map_err(|e| page_err(&c, e))?;
    if meter.organisation_id != who.principal.organisation {
        return Err(PageError::new(&c, WebError::NotFound));
    }
    let range = Range::parse(query_param(&q, "range").as_deref());
    let before: Option<i64> = query_param(&q, "before").and_then(|v| v.parse().ok());
    let now = crate::auth::now_ms();

    let places = places(&s, &c, &meter).await?;
    let account = match meter.account_id {
        Some(a) => {
            let acc = s.store.get_account(a).await.map_err(|e| page_err(&c, e))?;
            Some((a.to_string(), acc.number.to_string()))
        }
        None => None,
    };
    let view = s.writer.meter(id).await.map_err(|e| page_err(&c, e))?;
    let supply = match meter.account_id {
        Some(a) => s
            .writer
            .account(a)
            .await
            .map_err(|e| page_err(&c, e))?
            .map(|v| v.supply),
        None => None,
    };
    let journal = s.store.journal();
    let rows = journal
        .meter_commands(id, COMMANDS_READ)
        .await
        .map_err(|e| page_err(&c, e))?;
    let relay = relay_state(meter.utility, view.as_ref(), &rows, supply);
    let mut commands = Vec::new();
    for r in rows.iter().take(COMMANDS_SHOWN) {
        let transitions = journal
            .command_transitions(r.no)
            .await
            .map_err(|e| page_err(&c, e))?;
        commands.push(command_line(r, transitions));
    }
    let live = view.as_ref().is_some_and(|v| !v.pending.is_empty())
        || rows
            .iter()
            .take(COMMANDS_SHOWN)
            .any(|r| r.state == "queued" || r.state == "sent");
    let conn = connectivity(&s, id);

    let head = view.as_ref().and_then(|v| v.readings_head);
    let since = range.since(now);
    let chain = match head {
        Some(h) => s
            .store
            .console()
            .reading_chain_since(h, since, CHART_READINGS)
            .await
            .map_err(|e| page_err(&c, e))?,
        None => Vec::new(),
    };
    let chain: Vec<ReadingRow> = chain.into_iter().filter(|r| r.meter_id == id).collect();
    let chart_partial = u32::try_from(chain.len()).unwrap_or(u32::MAX) >= CHART_READINGS
        && chain.last().is_some_and(|r| r.at_ms >= since);
    let mut buckets = chart::buckets(range, now);
    for (at, used) in consumption(&chain, meter.multiplier.get()) {
        chart::add(&mut buckets, at, used);
    }
    let total: i64 = buckets.iter().map(|b| b.value).sum();
    let utility = meter.utility;
    let unit = c.t(&format!("unit.{}", utility.as_str()));
    let chart_title = format!(
        "{} · {}",
        c.t("meter.chart"),
        c.t(&format!("meter.chart.{}", range.as_str()))
    );
    let chart_svg = chart::bars(&buckets, &chart_title, unit, |v| fmt::quantity(utility, v));
    let last = chain.first().map(|r| reading_line(utility, r));

    let (readings, readings_next) = match before.or(head) {
        Some(from) => {
            let rows = journal
                .reading_chain(from, READINGS_PAGE)
                .await
                .map_err(|e| page_err(&c, e))?;
            if rows.first().is_some_and(|r| r.meter_id != id) {
                // A `before` of another meter's chain: not this meter's page.
                return Err(PageError::new(&c, WebError::NotFound));
            }
            let next = if u32::try_from(rows.len()).unwrap_or(u32::MAX) >= READINGS_PAGE {
                rows.last()
                    .and_then(|r| r.prev_seq)
                    .map(|p| format!("/meters/{id}?range={}&before={p}#readings", range.as_str()))
            } else {
                None
            };
            (
                rows.iter().map(|r| reading_line(utility, r)).collect(),
                next,
            )
        }
        None => (Vec::new(), None),
    };

    let alarms = journal
        .meter_alarms(id, ALARMS_SHOWN)
        .await
        .map_err(|e| page_err(&c, e))?
        .into_iter()
        .map(|a| {
            let sev = Severity::of(&a.kind);
            AlarmLine {
                kind: if ALARM_LABELS.contains(&a.kind.as_str()) {
                    c.t(&format!("meter.alarm.{}", a.kind)).to_owned()
                } else if is_verdict(&a.kind) {
                    c.t(&format!("meter.verdict.{}", a.kind)).to_owned()
                } else {
                    a.kind.clone()
                },
                severity_key: format!("severity.{}", sev.as_str()),
                severity_class: sev.class(),
                detail: a.detail,
                raised: fmt::time(a.raised_at_ms),
                cleared: a.cleared_at_ms.map(fmt::time),
            }
        })
        .collect();

    let history = if c.can("read_audit") {
        let base = format!("/api/v1/meters/{id}");
        let targets: Vec<String> = std::iter::once(base.clone())
            .chain(
                HISTORY_ROUTES
                    .iter()
                    .map(|(suffix, _)| format!("{base}{suffix}")),
            )
            .collect();
        let rows = s
            .store
            .console()
            .audit_of_targets(&targets, HISTORY_SHOWN)
            .await
            .map_err(|e| page_err(&c, e))?;
        Some(
            rows.into_iter()
                .map(|e| {
                    let suffix = e.target.strip_prefix(&base).unwrap_or("");
                    HistoryLine {
                        at: fmt::time(e.at_ms),
                        actor: e.actor,
                        action_key: HISTORY_ROUTES
                            .iter()
                            .find(|(s, _)| *s == suffix)
                            .map_or("meter.hist.meter", |(_, k)| k),
                        ok: (200..400).contains(&e.status),
                    }
                })
                .collect(),
        )
    } else {
        None
    };

    let safety_hold = view.as_ref().and_then(|v| v.safety_hold.clone());
    let buttons = if c.can("operate_meters") {
        buttons(&c, utility)
    } else {
        Vec::new()
    };
    Ok(MeterPage {
        m: MeterInfo {
            id: id.to_string(),
            serial: meter.serial.to_string(),
            utility: utility.as_str(),
            model: meter.model.to_string(),
            protocol: protocol_name(meter.protocol),
            address: meter.comm_address.to_string(),
            multiplier: meter.multiplier.get(),
            tariff: meter.tariff_code.as_ref().map(ToString::to_string),
            status_key: format!("meter.status.{}", meter.status.as_str()),
            status_class: status_class(meter.status.as_str()),
        },
        places,
        account,
        relay,
        conn,
        last,
        range: range.as_str(),
        ranges: Range::ALL.map(Range::as_str),
        chart_svg,
        chart_total: format!("{} {unit}", fmt::quantity(utility, total)),
        chart_partial,
        readings,
        readings_next,
        readings_paged: before.is_some(),
        commands,
        live,
        alarms,
        history,
        buttons,
        safety_hold,
        c,
    })
}

/// The audited meter routes (after `/api/v1/meters/{id}`) and their labels.
const HISTORY_ROUTES: &[(&str, &str)] = &[
    ("/assignment", "meter.hist.assignment"),
    ("/tariff", "meter.hist.tariff"),
    ("/commands", "meter.hist.commands"),
    ("/sharing", "meter.hist.sharing"),
    ("/device-token", "meter.hist.device_token"),
    ("/safety-hold/release", "meter.hist.release"),
];

const VERDICTS: &[&str] = &[
    "billed",
    "opening",
    "duplicate",
    "conflict",
    "out_of_order",
    "negative_delta",
    "implausible_jump",
    "register_out_of_range",
    "no_tariff",
    "gap_too_long",
];

fn is_verdict(v: &str) -> bool {
    VERDICTS.contains(&v)
}

/// Site → building → unit of an installed meter, as links.
async fn places(s: &AppState, c: &Ctx, meter: &Meter) -> Result<Vec<Place>, PageError> {
    let Some(unit_id) = meter.unit_id else {
        return Ok(Vec::new());
    };
    let unit = s
        .store
        .get_unit(unit_id)
        .await
        .map_err(|e| page_err(c, e))?;
    let building = s
        .store
        .get_building(unit.building_id)
        .await
        .map_err(|e| page_err(c, e))?;
    let site = s
        .store
        .get_site(building.site_id)
        .await
        .map_err(|e| page_err(c, e))?;
    let site_href = format!("/sites/{}", site.id);
    let building_href = format!("{site_href}?building={}#b-{}", building.id, building.id);
    Ok(vec![
        Place {
            label: "meter.site",
            name: site.name.to_string(),
            href: site_href,
        },
        Place {
            label: "meter.building",
            name: building.name.to_string(),
            href: building_href.clone(),
        },
        Place {
            label: "meter.unit",
            name: unit.code.to_string(),
            href: building_href,
        },
    ])
}

/// The standards' own names (not translated).
fn protocol_name(p: yufu_domain::MeterProtocol) -> &'static str {
    use yufu_domain::MeterProtocol::*;
    match p {
        Dlt645_2007 => "DL/T 645-2007",
        Dlt645_1997 => "DL/T 645-1997",
        Cjt188 => "CJ/T 188",
        Mqtt => "MQTT",
    }
}

pub(crate) fn status_class(status: &str) -> &'static str {
    match status {
        "in_service" => "good",
        "faulty" => "bad",
        "removed" | "retired" => "warn",
        _ => "info",
    }
}

fn connectivity(s: &AppState, id: MeterId) -> Conn {
    match s.gateway.as_ref().and_then(|g| g.presence.view(id)) {
        Some(v) => Conn {
            key: if v.online {
                "meter.conn.online"
            } else {
                "meter.conn.offline"
            },
            class: if v.online { "good" } else { "bad" },
            last_seen: Some(fmt::time(v.last_seen_ms)),
            via: v.via.and_then(|t| {
                serde_json::to_value(t)
                    .ok()
                    .and_then(|j| j.as_str().map(|s| format!("meter.via.{s}")))
            }),
        },
        None => Conn {
            key: "meter.conn.unknown",
            class: "info",
            last_seen: None,
            via: None,
        },
    }
}

/// Whether the meter supplies, from the best evidence there is: a safety
/// hold, then a switching command still in play, then the last one the
/// meter confirmed, then what the account's balance says it should be.
fn relay_state(
    utility: Utility,
    view: Option<&yufu_writer::MeterView>,
    rows: &[CommandRow],
    supply: Option<Supply>,
) -> Relay {
    let kind = if utility == Utility::Electricity {
        "electricity"
    } else {
        "valve"
    };
    let cut = CommandKind::cutoff_for(utility);
    let restore = CommandKind::reconnect_for(utility);
    let on = (format!("meter.relay.on_{kind}"), "good");
    let off = (format!("meter.relay.off_{kind}"), "bad");
    let relay = |(key, class): (String, &'static str), source, at| Relay {
        key,
        class,
        source,
        at,
        hold: None,
        cut_pending: false,
    };
    if let Some(reason) = view.and_then(|v| v.safety_hold.clone()) {
        return Relay {
            hold: Some(reason),
            ..relay(
                ("meter.relay.held".to_owned(), "bad"),
                "meter.relay.by_hold",
                None,
            )
        };
    }
    // The latest switching command still in play decides where it is going.
    let pending = view.and_then(|v| {
        v.pending
            .iter()
            .filter(|c| c.state.is_pending() && (c.kind == cut || c.kind == restore))
            .max_by_key(|c| c.history.first().map(|t| t.at))
    });
    if let Some(p) = pending {
        let key = if p.kind == cut {
            format!("meter.relay.cutting_{kind}")
        } else {
            format!("meter.relay.restoring_{kind}")
        };
        return relay(
            (key, "warn"),
            "meter.relay.by_pending",
            p.history.first().map(|t| fmt::time(t.at.as_millisecond())),
        );
    }
    let confirmed = rows.iter().find(|r| {
        r.state == state_name(CommandState::Acknowledged)
            && (r.kind == cut.as_str() || r.kind == restore.as_str())
    });
    if let Some(r) = confirmed {
        let state = if r.kind == cut.as_str() { off } else { on };
        return relay(
            state,
            "meter.relay.by_command",
            Some(fmt::time(r.updated_at_ms)),
        );
    }
    match supply {
        Some(Supply::On) => relay(on, "meter.relay.by_account", None),
        Some(Supply::Off) => relay(off, "meter.relay.by_account", None),
        Some(Supply::CutPending { .. }) => Relay {
            cut_pending: true,
            ..relay(on, "meter.relay.by_account", None)
        },
        None => relay(
            ("meter.relay.unknown".to_owned(), "info"),
            "meter.relay.no_info",
            None,
        ),
    }
}

fn state_name(s: CommandState) -> &'static str {
    match s {
        CommandState::Queued => "queued",
        CommandState::Sent => "sent",
        CommandState::Acknowledged => "acknowledged",
        CommandState::Failed => "failed",
        CommandState::TimedOut => "timed_out",
        CommandState::Superseded => "superseded",
    }
}

fn state_class(state: &str) -> &'static str {
    match state {
        "acknowledged" => "good",
        "failed" | "timed_out" => "bad",
        "queued" | "sent" => "warn",
        _ => "info",
    }
}

fn command_line(
    r: &CommandRow,
    transitions: Vec<yufu_store::journal::TransitionRow>,
) -> CommandLine {
    CommandLine {
        no: r.no,
        kind_key: format!("meter.cmd.{}", r.kind),
        state_key: format!("meter.state.{}", r.state),
        state_class: state_class(&r.state),
        attempts: r.attempts,
        reason: r.reason.clone(),
        queued: fmt::time(r.queued_at_ms),
        updated: fmt::time(r.updated_at_ms),
        transitions: transitions
            .into_iter()
            .map(|t| TransitionLine {
                at: fmt::time(t.at_ms),
                from_key: t.from_state.map(|f| format!("meter.state.{f}")),
                to_key: format!("meter.state.{}", t.to_state),
                reason: t.reason,
            })
            .collect(),
    }
}

fn reading_line(utility: Utility, r: &ReadingRow) -> ReadingLine {
    let verdict_class = match r.verdict.as_str() {
        "billed" => "good",
        "opening" => "info",
        _ => "warn",
    };
    ReadingLine {
        at: fmt::time(r.at_ms),
        received: fmt::time(r.received_ms),
        register: fmt::quantity(utility, r.register),
        verdict_key: if is_verdict(&r.verdict) {
            format!("meter.verdict.{}", r.verdict)
        } else {
            "meter.relay.unknown".to_owned()
        },
        verdict_class,
        quantity: r
            .quantity
            .map_or_else(|| "—".to_owned(), |q| fmt::quantity(utility, q)),
        charge: r.charge_fen.map_or_else(|| "—".to_owned(), fmt::yuan),
    }
}

/// What the meter measured between consecutive stored readings (newest
/// first in, `(taken at, quantity)` out): the register's advance times the
/// multiplier, credited to the later reading's time. Advances the engine
/// flagged as impossible (the register went back, or jumped) are left out,
/// as they measure a replaced or faulty meter, not use.
fn consumption(chain: &[ReadingRow], multiplier: u32) -> Vec<(i64, i64)> {
    chain
        .windows(2)
        .filter(|w| !matches!(w[0].verdict.as_str(), "negative_delta" | "implausible_jump"))
        .filter_map(|w| {
            let advance = w[0].register.checked_sub(w[1].register)?;
            (advance > 0).then(|| (w[0].at_ms, advance.saturating_mul(i64::from(multiplier))))
        })
        .collect()
}

fn buttons(c: &Ctx, utility: Utility) -> Vec<Button> {
    let kinds: &[(&'static str, &'static str)] = if utility == Utility::Electricity {
        &[("trip", "danger"), ("close", ""), ("read_now", "secondary")]
    } else {
        &[
            ("valve_close", "danger"),
            ("valve_open", ""),
            ("read_now", "secondary"),
        ]
    };
    kinds
        .iter()
        .map(|(kind, class)| Button {
            kind,
            label: c.t(&format!("meter.do.{kind}")).to_owned(),
            confirm: c.t(&format!("meter.confirm.{kind}")).to_owned(),
            testid: format!("cmd-{}", kind.replace('_', "-")),
            class,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::Lang;

    fn reading(seq: i64, at_ms: i64, register: i64, verdict: &str) -> ReadingRow {
        ReadingRow {
            seq,
            meter_id: MeterId::new(),
            at_ms,
            register,
            rates: None,
            received_ms: at_ms,
            verdict: verdict.into(),
            quantity: None,
            charge_fen: None,
            prev_seq: Some(seq - 1),
        }
    }

    #[test]
    fn consumption_is_the_register_advance_times_the_multiplier() {
        // Newest first, as the chain walk returns them.
        let chain = [
            reading(5, 5_000, 1_300, "billed"),
            reading(4, 4_000, 1_000, "implausible_jump"),
            reading(3, 3_000, 400, "negative_delta"),
            reading(2, 2_000, 900, "no_tariff"),
            reading(1, 1_000, 850, "opening"),
        ];
        assert_eq!(
            consumption(&chain, 2),
            vec![(5_000, 600), (2_000, 100)],
            "jumps and backward registers are not use"
        );
        assert!(consumption(&chain[..1], 1).is_empty());
    }

    fn command(no: i64, kind: &str, state: &str) -> CommandRow {
        CommandRow {
            no,
            meter_id: MeterId::new(),
            kind: kind.into(),
            state: state.into(),
            attempts: 1,
            reason: "r".into(),
            queued_at_ms: no,
            updated_at_ms: no,
        }
    }

    #[test]
    fn relay_state_prefers_confirmed_commands_to_the_account() {
        let e = Utility::Electricity;
        let rows = [
            command(3, "read_now", "acknowledged"),
            command(2, "trip", "acknowledged"),
            command(1, "close", "acknowledged"),
        ];
        let r = relay_state(e, None, &rows, Some(Supply::On));
        assert_eq!(r.key, "meter.relay.off_electricity");
        assert_eq!(r.source, "meter.relay.by_command");
        let r = relay_state(e, None, &[command(1, "trip", "failed")], Some(Supply::On));
        assert_eq!(r.key, "meter.relay.on_electricity");
        assert_eq!(r.source, "meter.relay.by_account");
        let r = relay_state(Utility::Water, None, &[], Some(Supply::Off));
        assert_eq!(r.key, "meter.relay.off_valve");
        let r = relay_state(Utility::Gas, None, &[], None);
        assert_eq!(r.key, "meter.relay.unknown");
    }

    #[test]
    fn relay_state_shows_a_pending_switch_and_a_safety_hold() {
        let now = jiff::Timestamp::from_millisecond(1_000).unwrap();
        let mut view = yufu_writer::MeterView {
            meter_id: MeterId::new(),
            account_id: None,
            tariff: None,
            readings_head: None,
            pending: vec![
                yufu_domain::command::Command::queue(CommandKind::ReadNow, now, "r"),
                yufu_domain::command::Command::queue(CommandKind::Trip, now, "r"),
            ],
            safety_hold: None,
        };
        let rows = [command(1, "close", "acknowledged")];
        let r = relay_state(Utility::Electricity, Some(&view), &rows, Some(Supply::On));
        assert_eq!(r.key, "meter.relay.cutting_electricity");
        view.safety_hold = Some("gas leak".into());
        let r = relay_state(Utility::Gas, Some(&view), &rows, Some(Supply::On));
        assert_eq!(r.key, "meter.relay.held");
        assert_eq!(r.hold.as_deref(), Some("gas leak"));
    }

    /// Keys made at run time (not `t("…")` literals the catalogue test
    /// finds) exist in both languages.
    #[test]
    fn every_made_key_exists() {
        let mut keys: Vec<String> = Vec::new();
        for s in yufu_domain::MeterStatus::ALL {
            keys.push(format!("meter.status.{}", s.as_str()));
        }
        for k in [
            "trip",
            "close",
            "valve_close",
            "valve_open",
            "read_now",
            "time_sync",
        ] {
            keys.push(format!("meter.cmd.{k}"));
        }
        for k in ["trip", "close", "valve_close", "valve_open", "read_now"] {
            keys.push(format!("meter.do.{k}"));
            keys.push(format!("meter.confirm.{k}"));
        }
        for s in [
            CommandState::Queued,
            CommandState::Sent,
            CommandState::Acknowledged,
            CommandState::Failed,
            CommandState::TimedOut,
            CommandState::Superseded,
        ] {
            keys.push(format!("meter.state.{}", state_name(s)));
        }
        for v in VERDICTS {
            keys.push(format!("meter.verdict.{v}"));
        }
        for a in ALARM_LABELS {
            keys.push(format!("meter.alarm.{a}"));
        }
        for t in ["mqtt", "mqtt_gateway", "dlt645", "cjt188", "http"] {
            keys.push(format!("meter.via.{t}"));
        }
        for kind in ["electricity", "valve"] {
            for s in ["on", "off", "cutting", "restoring"] {
                keys.push(format!("meter.relay.{s}_{kind}"));
            }
        }
        for r in Range::ALL {
            keys.push(format!("meter.range.{}", r.as_str()));
            keys.push(format!("meter.chart.{}", r.as_str()));
        }
        keys.extend(HISTORY_ROUTES.iter().map(|(_, k)| (*k).to_owned()));
        for k in keys {
            for lang in [Lang::Zh, Lang::En] {
                assert_ne!(lang.t(&k), "?", "label {k} is missing");
            }
        }
        // Every transport the gateway knows has a label.
        for t in [
            yufu_gateway::Transport::Mqtt,
            yufu_gateway::Transport::MqttGateway,
            yufu_gateway::Transport::Dlt645,
            yufu_gateway::Transport::Cjt188,
            yufu_gateway::Transport::Http,
        ] {
            let name = serde_json::to_value(t).unwrap();
            let key = format!("meter.via.{}", name.as_str().unwrap());
            assert_ne!(Lang::En.t(&key), "?", "{key}");
        }
    }
}
