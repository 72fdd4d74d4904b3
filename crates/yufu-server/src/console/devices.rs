//! The device register (设备台账) and the device page: every device of the
//! organisation by state, model, contract and serial, and one device's
//! whole life — its facts, acceptance check, installations, commissioning
//! runs with each step, swaps, disposal and the full state history (who,
//! when, why). The moves the device's state allows are forms that
//! `console.js` posts to the lifecycle API (`/api/v1/meters/{id}/…`), which
//! checks the permission, the state machine and the site, and audits.
//!
//! The device page is addressed by the meter's id, so a site-scoped person
//! gets the same scope check as `GET /api/v1/meters/{id}/device`
//! (`console::SCOPED_PREFIXES`). The register spans the organisation and
//! refuses site-scoped staff, as `GET /api/v1/devices` does.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use yufu_access::Permission;
use yufu_domain::lifecycle::{Action, CheckResult, DeviceState};
use yufu_domain::{ContractId, DeviceModelId, MeterId, Utility};
use yufu_lifecycle::commission::StepResult;
use yufu_lifecycle::service::{self, DeviceView};
use yufu_store::lifecycle::{DeviceEvent, DeviceFilter, DeviceRecord, RunOutcome};

use super::fmt;
use super::lifecycle::{
    self as lc, StateBadge, Who, action_label, date, install_status, lc_err, or_dash, path_id,
    person, store_err, whole_org,
};
use super::{Ctx, Lang, Page, PageError};
use crate::{AppState, WebError};

/// This module's pages and who may open them.
pub(crate) const PAGES: &[(&str, Page)] = &[
    ("/devices", Page::Staff(Permission::ReadFleet)),
    ("/devices/{id}", Page::Staff(Permission::ReadFleet)),
];

/// This module's labels: (key, 简体中文, English).
pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("dev.title", "设备台账", "Device register"),
    ("dev.device", "设备", "Device"),
    ("dev.serial", "表号", "Serial"),
    ("dev.serial_prefix", "表号开头", "Serial starts with"),
    ("dev.model", "型号", "Model"),
    ("dev.utility", "类别", "Utility"),
    ("dev.state", "状态", "State"),
    ("dev.since", "状态起始", "Since"),
    ("dev.warranty_end", "保修截止", "Warranty ends"),
    ("dev.contract", "采购合同", "Contract"),
    ("dev.clear_filters", "清除筛选", "Clear filters"),
    (
        "dev.empty",
        "没有符合条件的设备。",
        "No devices match these filters.",
    ),
    ("dev.facts", "基本信息", "Details"),
    ("dev.protocol", "通信规约", "Protocol"),
    ("dev.address", "通信地址", "Comm. address"),
    ("dev.line", "合同行", "Contract line"),
    ("dev.delivery", "到货批次", "Delivery"),
    ("dev.delivered_on", "到货日期", "Delivered on"),
    ("dev.accepted_on", "验收日期", "Accepted on"),
    ("dev.under_warranty", "保修期内", "Under warranty"),
    ("dev.out_of_warranty", "已过保修期", "Out of warranty"),
    ("dev.site", "园区", "Site"),
    ("dev.unit", "房号", "Unit"),
    ("dev.account", "户号", "Account"),
    (
        "dev.meter_page",
        "表计页面（读数、命令）",
        "Meter page (readings, commands)",
    ),
    ("dev.faults", "故障次数", "Faults"),
    ("dev.field_days", "现场运行天数", "Days in the field"),
    (
        "dev.untracked",
        "此表计在设备台账建立前登记，无采购记录。",
        "Registered before the device register: no procurement record.",
    ),
    ("dev.acceptance", "到货验收", "Acceptance check"),
    ("dev.check.appearance", "外观", "Appearance"),
    ("dev.check.accessories", "配件", "Accessories"),
    ("dev.check.function", "功能测试", "Function test"),
    ("dev.check.result", "结论", "Verdict"),
    ("dev.check.reason", "原因", "Reason"),
    ("dev.by", "操作人", "By"),
    ("dev.at", "时间", "When"),
    ("dev.installations", "安装记录", "Installations"),
    ("dev.scheduled", "计划日期", "Scheduled"),
    ("dev.installer", "安装人员", "Installer"),
    ("dev.opening", "起始读数", "Opening reading"),
    ("dev.checklist", "安装检查", "Checklist"),
    ("dev.completed", "完成", "Completed"),
    ("dev.runs", "调试记录", "Commissioning runs"),
    ("dev.run.outcome", "结果", "Outcome"),
    ("dev.run.started", "开始", "Started"),
    ("dev.run.finished", "结束", "Finished"),
    ("dev.run.reason", "未通过原因", "Why it failed"),
    ("dev.run.step", "步骤", "Step"),
    ("dev.run.detail", "详情", "Detail"),
    ("dev.run.took", "耗时（毫秒）", "Took (ms)"),
    ("dev.run.running", "进行中", "Running"),
    ("dev.run.passed", "通过", "Passed"),
    ("dev.run.failed", "未通过", "Failed"),
    ("dev.step.reading", "读数上报", "A reading arrives"),
    (
        "dev.step.test_credit",
        "测试充值并冲正",
        "Test credit posted and reversed",
    ),
    ("dev.step.deduction", "计费扣款", "A deduction is priced"),
    ("dev.step.balance", "余额可查", "The balance is readable"),
    (
        "dev.step.command",
        "远程命令往返",
        "A remote command round-trips",
    ),
    ("dev.swaps", "换表记录", "Meter swaps"),
    ("dev.swap.role", "方向", "Direction"),
    ("dev.swap.out", "被换下（旧表）", "Swapped out (old meter)"),
    ("dev.swap.in", "换上（新表）", "Swapped in (new meter)"),
    ("dev.swap.other", "另一块表", "Other meter"),
    (
        "dev.swap.final",
        "旧表终止读数",
        "Old meter's final reading",
    ),
    (
        "dev.swap.opening",
        "新表起始读数",
        "New meter's opening reading",
    ),
    (
        "dev.swap.charge",
        "终止读数扣费（元）",
        "Final charge (yuan)",
    ),
    ("dev.disposal", "报废处置", "Disposal"),
    ("dev.disposal.method", "处置方式", "Method"),
    ("dev.disposal.record", "处置凭证号", "Record no."),
    ("dev.history", "状态历史", "State history"),
    ("dev.hist.move", "状态变化", "From → to"),
    ("dev.hist.action", "操作", "Action"),
    ("dev.hist.who", "操作人", "By"),
    ("dev.hist.when", "时间（北京时间）", "When (CST)"),
    ("dev.hist.why", "原因", "Why"),
    ("dev.hist.start", "登记", "Registered"),
    ("dev.actions", "可执行的操作", "What can be done now"),
    (
        "dev.no_actions",
        "当前状态下没有可执行的操作。",
        "Nothing can be done in this state.",
    ),
    ("dev.reason", "原因", "Reason"),
    ("dev.do.check", "提交验收结果", "Record the check"),
    (
        "dev.check_hint",
        "三项全部合格即验收合格；任一项不合格须填写原因，设备判为验收不合格。",
        "All three pass: accepted. Any fails: rejected, and say why.",
    ),
    ("dev.do.move", "执行", "Do it"),
    ("dev.move", "操作", "Move"),
    ("dev.do.remove", "拆除", "Remove"),
    (
        "dev.confirm.remove",
        "确定拆除此表？计费将在最后一次读数后停止。表号",
        "Remove this meter? Billing stops after its last reading. Meter",
    ),
    ("dev.do.commission", "开始自动调试", "Run commissioning"),
    (
        "dev.confirm.commission",
        "开始自动调试（读数、测试充值与冲正、扣费、余额、远程命令），最长约 100 秒。表号",
        "Run commissioning (reading, test credit and reversal, deduction, balance, command); it can take up to about 100 s. Meter",
    ),
    (
        "dev.commission_hint",
        "调试全部通过后设备自动转为在用；任一步失败则保持已安装并记录原因。",
        "If every step passes the meter goes in service; a failed step leaves it installed with the reason.",
    ),
    ("dev.do.swap", "换表", "Swap the meter"),
    (
        "dev.swap.new_meter",
        "新表（表计 ID，须在库）",
        "New meter (meter id, in stock)",
    ),
    (
        "dev.confirm.swap",
        "确定换表？旧表终止读数将计费，户号、余额和价格方案转到新表。旧表表号",
        "Swap the meter? The old meter's final reading is billed; account, balance and tariff move to the new meter. Old meter",
    ),
    ("dev.do.scrap", "报废", "Scrap"),
    (
        "dev.confirm.scrap",
        "确定报废此设备？此操作不可撤销。表号",
        "Scrap this device? This cannot be undone. Meter",
    ),
    ("dev.scrap.recycler", "交回收商", "To a recycler"),
    (
        "dev.scrap.returned_to_maker",
        "退回厂家",
        "Returned to the maker",
    ),
    ("dev.scrap.destroyed", "销毁", "Destroyed"),
    (
        "dev.plan_install",
        "安装：在“安装计划”中为此设备制定计划",
        "Install: plan it on the Installations page",
    ),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/devices", get(list))
        .route("/devices/{id}", get(device))
}

/// Devices shown per page.
const PAGE_SIZE: u32 = 50;

/// The query string of `/devices`. All text, so a hand-edited URL gets
/// the page's own 400.
#[derive(serde::Deserialize, Default, Debug)]
pub(crate) struct DevicesQuery {
    state: Option<String>,
    serial: Option<String>,
    contract: Option<String>,
    model: Option<String>,
    after: Option<String>,
}

/// The filters, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Filter {
    state: Option<DeviceState>,
    serial: Option<String>,
    contract: Option<ContractId>,
    model: Option<DeviceModelId>,
    after: Option<MeterId>,
}

fn given(v: Option<&String>) -> Option<&str> {
    v.map(|s| s.trim()).filter(|s| !s.is_empty())
}

impl Filter {
    fn parse(q: &DevicesQuery) -> Result<Filter, WebError> {
        let bad = |what: &str| WebError::Invalid(format!("unknown {what}"));
        let serial = given(q.serial.as_ref())
            .map(|s| {
                if s.chars().count() <= 64 {
                    Ok(s.to_owned())
                } else {
                    Err(WebError::Invalid(
                        "a serial has at most 64 characters".into(),
                    ))
                }
            })
            .transpose()?;
        Ok(Filter {
            state: given(q.state.as_ref())
                .map(|s| s.parse().map_err(|_| bad("state")))
                .transpose()?,
            serial,
            contract: given(q.contract.as_ref())
                .map(|s| s.parse().map_err(|_| bad("contract")))
                .transpose()?,
            model: given(q.model.as_ref())
                .map(|s| s.parse().map_err(|_| bad("model")))
                .transpose()?,
            after: given(q.after.as_ref())
                .map(|s| s.parse().map_err(|_| bad("page")))
                .transpose()?,
        })
    }

    fn store_filter(&self) -> DeviceFilter {
        DeviceFilter {
            state: self.state,
            model_id: self.model,
            contract_id: self.contract,
            delivery_id: None,
            serial: self.serial.clone(),
        }
    }

    /// This page's address with the same filters, from after `after`.
    fn href(&self, after: Option<MeterId>) -> String {
        let mut q = Vec::new();
        if let Some(s) = self.state {
            q.push(format!("state={}", s.as_str()));
        }
        if let Some(s) = &self.serial {
            q.push(format!("serial={}", fmt::url_encode(s)));
        }
        if let Some(c) = self.contract {
            q.push(format!("contract={c}"));
        }
        if let Some(m) = self.model {
            q.push(format!("model={m}"));
        }
        if let Some(a) = after {
            q.push(format!("after={a}"));
        }
        if q.is_empty() {
            "/devices".to_owned()
        } else {
            format!("/devices?{}", q.join("&"))
        }
    }
}

/// One device as its row in the register shows it.
#[derive(Debug)]
pub(crate) struct DeviceLine {
    pub id: String,
    pub serial: String,
    pub model: String,
    pub utility: &'static str,
    pub state: StateBadge,
    pub since: String,
    pub warranty: String,
}

impl DeviceLine {
    pub(crate) fn of(lang: Lang, d: &DeviceRecord) -> DeviceLine {
        DeviceLine {
            id: d.meter_id.to_string(),
            serial: d.serial.clone(),
            model: d.model_name.clone(),
            utility: lang.t(&format!("utility.{}", d.utility.as_str())),
            state: StateBadge::of(lang, d.state),
            since: or_dash(d.state_since_ms.map(fmt::time)),
            warranty: or_dash(d.warranty_ends_on.map(date)),
        }
    }
}

/// (value, label, selected) of a select's option.
type Choice = (String, String, bool);

#[derive(Template, WebTemplate)]
#[template(path = "console/devices.html")]
struct DevicesPage {
    c: Ctx,
    rows: Vec<DeviceLine>,
    states: Vec<Choice>,
    contracts: Vec<Choice>,
    models: Vec<Choice>,
    serial: String,
    first_href: Option<String>,
    next_href: Option<String>,
}

async fn list(
    State(s): State<AppState>,
    c: Ctx,
    Query(q): Query<DevicesQuery>,
) -> Result<DevicesPage, PageError> {
    let who = whole_org(&c)?;
    let f = Filter::parse(&q).map_err(|e| PageError::new(&c, e))?;
    let store = s.store.procurement();
    let now = crate::auth::now_ms();
    // One more than shown: tells whether a next page exists.
    let mut rows = store
        .list_devices(who.org(), &f.store_filter(), f.after, PAGE_SIZE + 1, now)
        .await
        .map_err(|e| store_err(&c, e))?;
    let more = rows.len() > PAGE_SIZE as usize;
    rows.truncate(PAGE_SIZE as usize);
    let next_href = rows
        .last()
        .filter(|_| more)
        .map(|d| f.href(Some(d.meter_id)));
    let contracts = store
        .list_contracts(who.org())
        .await
        .map_err(|e| store_err(&c, e))?;
    let models = store
        .list_models(who.org())
        .await
        .map_err(|e| store_err(&c, e))?;
    let lang = c.lang;
    Ok(DevicesPage {
        rows: rows.iter().map(|d| DeviceLine::of(lang, d)).collect(),
        states: DeviceState::ALL
            .iter()
            .map(|s| {
                (
                    s.as_str().to_owned(),
                    lc::state_label(lang, *s).to_owned(),
                    f.state == Some(*s),
                )
            })
            .collect(),
        contracts: contracts
            .iter()
            .map(|k| (k.id.to_string(), k.number.clone(), f.contract == Some(k.id)))
            .collect(),
        models: models
            .iter()
            .map(|m| {
                (
                    m.id.to_string(),
                    format!("{} {}", m.maker, m.model),
                    f.model == Some(m.id),
                )
            })
            .collect(),
        serial: f.serial.clone().unwrap_or_default(),
        first_href: f.after.map(|_| f.href(None)),
        next_href,
        c,
    })
}

// --- the device page ---

#[derive(Debug)]
struct Acceptance {
    appearance: bool,
    accessories: bool,
    function: bool,
    passed: bool,
    reason: String,
    by: String,
    at: String,
}

#[derive(Debug)]
struct CheckLine {
    label: String,
    passed: bool,
    note: String,
}

#[derive(Debug)]
struct InstallLine {
    status_key: String,
    status_class: &'static str,
    scheduled: String,
    installer: String,
    unit: String,
    opening: String,
    checklist: Vec<CheckLine>,
    completed: String,
}

#[derive(Debug, PartialEq, Eq)]
struct StepLine {
    label: String,
    passed: bool,
    detail: String,
    took_ms: i64,
}

#[derive(Debug)]
struct RunLine {
    outcome_key: String,
    outcome_class: &'static str,
    started: String,
    by: String,
    finished: String,
    reason: String,
    steps: Vec<StepLine>,
}

#[derive(Debug)]
struct SwapLine {
    /// This device was the old meter (swapped out) or the new one.
    out: bool,
    other_id: String,
    other_serial: String,
    final_reading: i64,
    opening_reading: i64,
    charge: String,
    by: String,
    at: String,
    reason: String,
}

#[derive(Debug)]
struct DisposalLine {
    method: String,
    reason: String,
    record: String,
    by: String,
    at: String,
}

/// One row of the state history.
#[derive(Debug)]
pub(crate) struct HistoryLine {
    at: String,
    from: Option<StateBadge>,
    to: StateBadge,
    action: String,
    who: String,
    why: String,
}

impl HistoryLine {
    fn of(lang: Lang, e: &DeviceEvent) -> HistoryLine {
        HistoryLine {
            at: fmt::time(e.at_ms),
            from: e.from_state.map(|s| StateBadge::of(lang, s)),
            to: StateBadge::of(lang, e.to_state),
            action: action_label(lang, &e.action),
            who: person(&e.actor),
            why: e.reason.clone(),
        }
    }
}

/// The forms the page offers: what the state allows and the caller may do.
#[derive(Debug, Default, PartialEq, Eq)]
struct Forms {
    check: bool,
    /// (action, label) of the moves that need only a reason.
    moves: Vec<(&'static str, String)>,
    remove: bool,
    commission: bool,
    swap: bool,
    scrap: bool,
    plan: bool,
}

impl Forms {
    fn any(&self) -> bool {
        self.check
            || !self.moves.is_empty()
            || self.remove
            || self.commission
            || self.swap
            || self.scrap
            || self.plan
    }
}

/// The permission each move needs at the API (lifecycle_api and policy);
/// `None` for the moves the services make themselves (receiving through a
/// serial import, going in service after commissioning).
fn permission_of(a: Action) -> Option<Permission> {
    Some(match a {
        Action::Accept | Action::Reject | Action::ReturnToSupplier | Action::Stock => {
            Permission::ManageProcurement
        }
        Action::ReportFault
        | Action::StartRepair
        | Action::Repair
        | Action::Remove
        | Action::Commission => Permission::InstallDevices,
        Action::Install | Action::Restock | Action::Retire | Action::Scrap => {
            Permission::ManageDevices
        }
        Action::Receive | Action::PutInService => return None,
    })
}

/// The forms for a device whose state allows `next`, for a caller holding
/// `can`. A swap takes the meter out of its unit, so it needs one.
fn forms(lang: Lang, next: &[Action], in_unit: bool, can: impl Fn(Permission) -> bool) -> Forms {
    let allowed = |a: Action| next.contains(&a) && permission_of(a).is_some_and(&can);
    Forms {
        check: allowed(Action::Accept) || allowed(Action::Reject),
        moves: service::SIMPLE_ACTIONS
            .iter()
            .copied()
            .filter(|a| allowed(*a))
            .map(|a| (a.as_str(), action_label(lang, a.as_str())))
            .collect(),
        remove: allowed(Action::Remove),
        commission: allowed(Action::Commission),
        swap: allowed(Action::Remove) && in_unit,
        scrap: allowed(Action::Scrap),
        plan: allowed(Action::Install),
    }
}

/// A commissioning run's steps as stored (JSON); an unreadable record
/// shows no steps rather than failing the page.
fn steps(lang: Lang, json: &str) -> Vec<StepLine> {
    let parsed: Vec<StepResult> = serde_json::from_str(json).unwrap_or_default();
    parsed
        .into_iter()
        .map(|s| StepLine {
            label: lang.t(&format!("dev.step.{}", s.step.as_str())).to_owned(),
            passed: s.passed,
            detail: s.detail,
            took_ms: s.took_ms,
        })
        .collect()
}

/// A recorded checklist (JSON) as lines.
fn checklist(lang: Lang, json: Option<&str>) -> Vec<CheckLine> {
    let parsed: Vec<CheckResult> = json
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    parsed
        .into_iter()
        .map(|r| CheckLine {
            label: lang.t(&format!("lc.check.{}", r.item.as_str())).to_owned(),
            passed: r.passed,
            note: r.note,
        })
        .collect()
}

fn outcome(o: RunOutcome) -> (String, &'static str) {
    let class = match o {
        RunOutcome::Running => "warn",
        RunOutcome::Passed => "good",
        RunOutcome::Failed => "bad",
    };
    (format!("dev.run.{}", o.as_str()), class)
}

/// The standards' own names (not translated).
pub(crate) fn protocol_name(p: yufu_domain::MeterProtocol) -> &'static str {
    use yufu_domain::MeterProtocol::*;
    match p {
        Dlt645_2007 => "DL/T 645-2007",
        Dlt645_1997 => "DL/T 645-1997",
        Cjt188 => "CJ/T 188",
        Mqtt => "MQTT",
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "console/devices_device.html")]
struct DevicePage {
    c: Ctx,
    id: String,
    serial: String,
    utility: Utility,
    model: String,
    protocol: &'static str,
    address: String,
    state: StateBadge,
    since: String,
    tracked: bool,
    /// (id, number, line no.)
    contract: Option<(String, String, String)>,
    /// (id, delivered on)
    delivery: Option<(String, String)>,
    accepted_on: String,
    warranty_end: String,
    under_warranty: Option<bool>,
    /// (id, name)
    site: Option<(String, String)>,
    unit: Option<String>,
    /// (id, number)
    account: Option<(String, String)>,
    faults: u32,
    field_days: u64,
    acceptance: Option<Acceptance>,
    installations: Vec<InstallLine>,
    runs: Vec<RunLine>,
    swaps: Vec<SwapLine>,
    disposal: Option<DisposalLine>,
    history: Vec<HistoryLine>,
    forms: Forms,
}

impl DevicePage {
    fn utility_label(&self) -> &'static str {
        self.c.t(&format!("utility.{}", self.utility.as_str()))
    }

    /// The unit registers are read in (the API takes base units).
    fn register_unit(&self) -> &'static str {
        self.c
            .t(&format!("lc.register_unit.{}", self.utility.as_str()))
    }
}

async fn device(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
) -> Result<DevicePage, PageError> {
    let id: MeterId = path_id(&c, &id)?;
    let who = Who::of(&c)?;
    let ctx = who.ctx(&s);
    let v: DeviceView = service::device_view(&ctx, id)
        .await
        .map_err(|e| lc_err(&c, e))?;
    let lang = c.lang;
    let d = &v.device;
    let store = s.store.as_ref();

    let contract = match d.contract_id {
        Some(k) => {
            let number = store
                .procurement()
                .get_contract(k)
                .await
                .map_err(|e| store_err(&c, e))?
                .number;
            Some((
                k.to_string(),
                number,
                d.line_no.map(|n| n.to_string()).unwrap_or_default(),
            ))
        }
        None => None,
    };
    let site = match d.site_id {
        Some(x) => {
            let site = store.get_site(x).await.map_err(|e| store_err(&c, e))?;
            Some((x.to_string(), site.name.to_string()))
        }
        None => None,
    };
    let unit = match d.unit_id {
        Some(u) => Some(
            store
                .get_unit(u)
                .await
                .map_err(|e| store_err(&c, e))?
                .code
                .to_string(),
        ),
        None => None,
    };
    let account = match d.account_id {
        Some(a) => {
            let acc = store.get_account(a).await.map_err(|e| store_err(&c, e))?;
            Some((a.to_string(), acc.number.to_string()))
        }
        None => None,
    };

    // Names of the installers and units the plans mention (a device has few).
    let mut names: HashMap<String, String> = HashMap::new();
    let mut installations = Vec::new();
    for p in &v.installations {
        let installer = p.installer_id.to_string();
        if let std::collections::hash_map::Entry::Vacant(e) = names.entry(installer.clone()) {
            let name = match store.access().get_staff_user(p.installer_id).await {
                Ok(u) => u.username.to_string(),
                Err(_) => installer.clone(),
            };
            e.insert(name);
        }
        let unit = match store.get_unit(p.unit_id).await {
            Ok(u) => u.code.to_string(),
            Err(_) => p.unit_id.to_string(),
        };
        let (status_key, status_class) = install_status(p.status);
        installations.push(InstallLine {
            status_key,
            status_class,
            scheduled: date(p.scheduled_on),
            installer: names.get(&installer).cloned().unwrap_or(installer),
            unit,
            opening: or_dash(p.opening_reading.map(|r| r.to_string())),
            checklist: checklist(lang, p.checklist.as_deref()),
            completed: match (&p.completed_by, p.completed_at_ms) {
                (Some(by), Some(at)) => format!("{} · {}", person(by), fmt::time(at)),
                _ => "—".to_owned(),
            },
        });
    }

    let runs = v
        .commissioning
        .iter()
        .map(|r| {
            let (outcome_key, outcome_class) = outcome(r.outcome);
            RunLine {
                outcome_key,
                outcome_class,
                started: fmt::time(r.started_at_ms),
                by: person(&r.started_by),
                finished: or_dash(r.finished_at_ms.map(fmt::time)),
                reason: r.reason.clone(),
                steps: steps(lang, &r.steps),
            }
        })
        .collect();

    let mut swaps = Vec::new();
    for x in &v.swaps {
        let out = x.old_meter_id == id;
        let other = if out { x.new_meter_id } else { x.old_meter_id };
        let other_serial = match store.get_meter(other).await {
            Ok(m) => m.serial.to_string(),
            Err(_) => other.to_string(),
        };
        swaps.push(SwapLine {
            out,
            other_id: other.to_string(),
            other_serial,
            final_reading: x.final_reading,
            opening_reading: x.opening_reading,
            charge: fmt::yuan(x.final_charge.0),
            by: person(&x.actor),
            at: fmt::time(x.at_ms),
            reason: x.reason.clone(),
        });
    }

    let caller = c.caller.as_ref();
    let forms = forms(lang, &v.next_actions, d.unit_id.is_some(), |p| {
        caller.is_some_and(|x| x.can(p))
    });

    Ok(DevicePage {
        id: id.to_string(),
        serial: d.serial.clone(),
        utility: d.utility,
        model: d.model_name.clone(),
        protocol: protocol_name(d.protocol),
        address: d.comm_address.clone(),
        state: StateBadge::of(lang, d.state),
        since: or_dash(d.state_since_ms.map(fmt::time)),
        tracked: d.tracked,
        contract,
        delivery: d
            .delivery_id
            .map(|x| (x.to_string(), or_dash(d.delivered_on.map(date)))),
        accepted_on: or_dash(d.accepted_on.map(date)),
        warranty_end: or_dash(d.warranty_ends_on.map(date)),
        under_warranty: v.under_warranty,
        site,
        unit,
        account,
        faults: d.faults,
        field_days: d.field_days,
        acceptance: v.acceptance.as_ref().map(|a| Acceptance {
            appearance: a.appearance_ok,
            accessories: a.accessories_ok,
            function: a.function_ok,
            passed: a.passed,
            reason: a.reason.clone(),
            by: person(&a.checked_by),
            at: fmt::time(a.checked_at_ms),
        }),
        installations,
        runs,
        swaps,
        disposal: v.disposal.as_ref().map(|x| DisposalLine {
            method: match x.method.as_str() {
                m @ ("recycler" | "returned_to_maker" | "destroyed") => {
                    lang.t(&format!("dev.scrap.{m}")).to_owned()
                }
                other => other.to_owned(),
            },
            reason: x.reason.clone(),
            record: x.record.clone(),
            by: person(&x.disposed_by),
            at: fmt::time(x.disposed_at_ms),
        }),
        history: v.history.iter().map(|e| HistoryLine::of(lang, e)).collect(),
        forms,
        c,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(q: &[(&str, &str)]) -> Result<Filter, WebError> {
        let get = |k: &str| {
            q.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        };
        Filter::parse(&DevicesQuery {
            state: get("state"),
            serial: get("serial"),
            contract: get("contract"),
            model: get("model"),
            after: get("after"),
        })
    }

    #[test]
    fn filters_parse_and_round_trip_into_links() {
        assert_eq!(filter(&[]).unwrap(), Filter::default());
        assert_eq!(
            filter(&[("state", ""), ("serial", "  ")]).unwrap(),
            Filter::default()
        );
        let m = MeterId::new();
        let f = filter(&[
            ("state", "in_stock"),
            ("serial", "E 9"),
            ("after", &m.to_string()),
        ])
        .unwrap();
        assert_eq!(f.state, Some(DeviceState::InStock));
        assert_eq!(f.store_filter().serial.as_deref(), Some("E 9"));
        assert_eq!(f.href(None), "/devices?state=in_stock&serial=E%209");
        assert_eq!(
            f.href(Some(m)),
            format!("/devices?state=in_stock&serial=E%209&after={m}")
        );
        assert_eq!(Filter::default().href(None), "/devices");
        assert!(filter(&[("state", "lost")]).is_err());
        assert!(filter(&[("contract", "x")]).is_err());
        assert!(filter(&[("model", "x")]).is_err());
        assert!(filter(&[("after", "x")]).is_err());
        assert!(filter(&[("serial", &"9".repeat(65))]).is_err());
    }

    /// Each state offers exactly the forms its moves need, and only to
    /// the roles the API lets do them.
    #[test]
    fn forms_follow_the_state_and_the_role() {
        let next = |s: DeviceState| -> Vec<Action> {
            Action::ALL
                .iter()
                .copied()
                .filter(|a| yufu_domain::lifecycle::next(s, *a).is_ok())
                .collect()
        };
        let all = |_: Permission| true;
        let received = forms(Lang::En, &next(DeviceState::Received), false, all);
        assert!(received.check && received.moves.is_empty() && !received.remove);

        let removed = forms(Lang::En, &next(DeviceState::Removed), false, all);
        let codes: Vec<&str> = removed.moves.iter().map(|m| m.0).collect();
        assert_eq!(codes, ["restock", "retire"]);
        assert!(removed.scrap && !removed.remove && !removed.swap);

        let serving = forms(Lang::En, &next(DeviceState::InService), true, all);
        let codes: Vec<&str> = serving.moves.iter().map(|m| m.0).collect();
        assert_eq!(codes, ["report_fault"]);
        assert!(serving.remove && serving.swap && !serving.commission);
        // Not in a unit: nothing to swap.
        assert!(!forms(Lang::En, &next(DeviceState::InService), false, all).swap);

        let installed = forms(Lang::En, &next(DeviceState::Installed), true, all);
        assert!(installed.commission && installed.remove);
        assert!(forms(Lang::En, &next(DeviceState::InStock), false, all).plan);

        // A technician may do field work, not procurement or scrapping.
        let tech = |p: Permission| {
            yufu_access::permissions_of(yufu_access::Actor::Staff(yufu_domain::Role::Technician))
                .contains(&p)
        };
        assert!(!forms(Lang::En, &next(DeviceState::Received), false, tech).any());
        assert!(forms(Lang::En, &next(DeviceState::Installed), true, tech).commission);
        assert!(!forms(Lang::En, &next(DeviceState::Removed), false, tech).scrap);
        // Final states offer nothing.
        for s in [
            DeviceState::Scrapped,
            DeviceState::Returned,
            DeviceState::Retired,
        ] {
            assert!(!forms(Lang::En, &next(s), true, all).any(), "{s}");
        }
    }

    #[test]
    fn runs_and_checklists_read_their_json() {
        let json = r#"[{"step":"reading","passed":true,"detail":"read 1.000 kWh","started_at_ms":1,"took_ms":20},
                       {"step":"test_credit","passed":false,"detail":"no answer","started_at_ms":2,"took_ms":5}]"#;
        let s = steps(Lang::Zh, json);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].label, "读数上报");
        assert!(s[0].passed && !s[1].passed);
        assert_eq!(s[1].detail, "no answer");
        assert!(steps(Lang::En, "not json").is_empty());
        let c = checklist(
            Lang::En,
            Some(
                r#"[{"item":"wiring","passed":true,"note":""},{"item":"grounding","passed":false,"note":"loose"}]"#,
            ),
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].label, "Grounding");
        assert_eq!(c[1].note, "loose");
        assert!(checklist(Lang::En, None).is_empty());
    }

    /// Keys made at run time exist in both languages.
    #[test]
    fn every_made_key_exists() {
        let mut keys: Vec<String> = Vec::new();
        for s in yufu_lifecycle::CommissionStep::ALL {
            keys.push(format!("dev.step.{}", s.as_str()));
        }
        for o in RunOutcome::ALL {
            keys.push(outcome(*o).0);
        }
        for i in yufu_domain::lifecycle::CheckItem::ALL {
            keys.push(format!("lc.check.{}", i.as_str()));
        }
        for st in yufu_store::lifecycle::InstallationStatus::ALL {
            keys.push(install_status(*st).0);
        }
        for m in ["recycler", "returned_to_maker", "destroyed"] {
            keys.push(format!("dev.scrap.{m}"));
        }
        for u in Utility::ALL {
            keys.push(format!("lc.register_unit.{}", u.as_str()));
        }
        for k in keys {
            for lang in [Lang::Zh, Lang::En] {
                assert_ne!(lang.t(&k), "?", "label {k} is missing");
            }
        }
    }
}
