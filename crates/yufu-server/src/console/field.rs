//! The field side of the device lifecycle: installation plans (安装计划)
//! with the installers' certifications, and the replacement plan (更换计划)
//! — the devices due and why, the cost–benefit of replacing a group, the
//! phased rollouts and one rollout's pilot against the rest.
//!
//! Installations are shown to site-scoped staff too, filtered to their
//! sites as `GET /api/v1/installations` filters them; certifications and
//! the replacement pages span the organisation and are for unscoped staff.
//! Completing an installation posts its checklist to the API, whose
//! certification and checklist gates answer with the reason shown in the
//! form.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use yufu_access::{Permission, SiteScope};
use yufu_domain::evaluation::{self, DueReason, GroupStats, PilotVerdict, ReplacementPolicy};
use yufu_domain::lifecycle::checklist;
use yufu_domain::{RolloutId, Utility};
use yufu_lifecycle::service;
use yufu_store::Page as StorePage;
use yufu_store::lifecycle::{InstallationFilter, InstallationStatus};

use super::fmt;
use super::lifecycle::{
    StateBadge, Who, date, install_status, lc_err, or_dash, path_id, percent, person, store_err,
    whole_org,
};
use super::{Ctx, Lang, Page, PageError};
use crate::{AppState, WebError};

/// This module's pages and who may open them.
pub(crate) const PAGES: &[(&str, Page)] = &[
    ("/installations", Page::Staff(Permission::ReadFleet)),
    ("/replacement", Page::Staff(Permission::ReadFleet)),
    (
        "/replacement/rollouts/{id}",
        Page::Staff(Permission::ReadFleet),
    ),
];

/// This module's labels: (key, 简体中文, English).
pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("inst.title", "安装计划", "Installation plans"),
    ("inst.status", "状态", "Status"),
    ("inst.all", "全部", "All"),
    ("inst.scheduled", "计划日期", "Scheduled"),
    ("inst.installer", "安装人员", "Installer"),
    ("inst.unit", "房号", "Unit"),
    ("inst.meter", "表计", "Meter"),
    ("inst.note", "备注", "Note"),
    (
        "inst.empty",
        "没有符合条件的安装计划。",
        "No installation plans match.",
    ),
    (
        "inst.more",
        "仅显示前 {n} 条。",
        "Showing the first {n} only.",
    ),
    (
        "inst.scoped",
        "仅显示您负责园区内的安装计划。",
        "Showing the plans in your sites only.",
    ),
    ("inst.complete", "完成安装", "Complete the installation"),
    (
        "inst.complete_hint",
        "逐项检查并勾选合格；不合格项须说明。检查表不合格或安装人员资质无效时将被拒绝。",
        "Check each item and tick it when it passes; say what is wrong with one that fails. A failed checklist, or an installer without a valid certification, is refused.",
    ),
    ("inst.passed", "合格", "Passed"),
    ("inst.item_note", "说明", "Note"),
    ("inst.opening", "新表起始读数", "Opening reading"),
    ("inst.cancel", "取消计划", "Cancel the plan"),
    (
        "inst.cancel_confirm",
        "取消此安装计划？表号",
        "Cancel this installation plan? Meter",
    ),
    ("inst.plan", "制定安装计划", "Plan an installation"),
    (
        "inst.meter_id",
        "设备（表计 ID，须在库）",
        "Device (meter id, in stock)",
    ),
    ("inst.unit_id", "房屋（Unit ID）", "Unit (unit id)"),
    (
        "inst.account_id",
        "户号 ID（可选）",
        "Account id (optional)",
    ),
    (
        "inst.tariff",
        "价格方案代码（可选）",
        "Tariff code (optional)",
    ),
    (
        "inst.plan_hint",
        "只能指派持有该类别有效上岗证的人员。",
        "Only staff holding a valid certification for the meter's utility can be assigned.",
    ),
    ("inst.save", "保存", "Save"),
    ("inst.certs", "上岗证", "Certifications"),
    ("inst.cert.staff", "人员", "Staff"),
    ("inst.cert.utility", "类别", "Utility"),
    ("inst.cert.number", "证书编号", "Number"),
    ("inst.cert.issued", "发证日期", "Issued on"),
    ("inst.cert.expires", "有效期至", "Expires on"),
    ("inst.cert.valid", "有效", "Valid"),
    ("inst.cert.expired", "已过期", "Expired"),
    ("inst.cert.not_yet", "未生效", "Not yet valid"),
    ("inst.cert.revoked", "已吊销", "Revoked"),
    ("inst.cert.add", "登记上岗证", "Add a certification"),
    ("inst.cert.revoke", "吊销", "Revoke"),
    (
        "inst.cert.revoke_confirm",
        "吊销此上岗证？证书",
        "Revoke this certification? Number",
    ),
    ("rep.title", "更换计划", "Replacement plan"),
    ("rep.due", "待更换设备", "Devices due for replacement"),
    (
        "rep.due_hint",
        "依据：使用寿命、近一年故障次数、型号故障率与全网对比。",
        "From service life, faults in the last year, and the model's fault rate against the fleet's.",
    ),
    (
        "rep.none_due",
        "目前没有需要更换的设备。",
        "No device is due for replacement.",
    ),
    ("rep.serial", "表号", "Serial"),
    ("rep.model", "型号", "Model"),
    ("rep.utility", "类别", "Utility"),
    ("rep.site", "园区", "Site"),
    ("rep.reasons", "原因", "Why"),
    (
        "rep.reason.past_service_life",
        "使用寿命已于 {since} 到期",
        "Past its service life since {since}",
    ),
    (
        "rep.reason.near_service_life",
        "使用寿命将于 {ends} 到期（剩 {months} 个整月）",
        "Service life ends on {ends} ({months} whole months left)",
    ),
    (
        "rep.reason.repeated_faults",
        "近 365 天故障 {faults} 次",
        "{faults} faults in the last 365 days",
    ),
    (
        "rep.reason.model_fault_rate",
        "该型号每千设备·年故障 {model} 次，全网为 {fleet} 次",
        "Its model has {model} faults per 1000 device-years against {fleet} for the fleet",
    ),
    ("rep.cb", "成本效益测算", "Cost–benefit"),
    ("rep.cb.devices", "更换数量", "Devices replaced"),
    ("rep.cb.model", "新型号", "New model"),
    (
        "rep.cb.price",
        "单台设备价（元，空则按目录价）",
        "Device price (yuan; blank: the list price)",
    ),
    (
        "rep.cb.installation",
        "单台安装费（元）",
        "Installation per device (yuan)",
    ),
    (
        "rep.cb.commissioning",
        "单台调试费（元）",
        "Commissioning per device (yuan)",
    ),
    (
        "rep.cb.old_maintenance",
        "旧表单台年维护费（元）",
        "Old meter's maintenance a year (yuan)",
    ),
    (
        "rep.cb.new_maintenance",
        "新表单台年维护费（元）",
        "New meter's maintenance a year (yuan)",
    ),
    (
        "rep.cb.loss_saving",
        "单台年减少损失（元）",
        "Losses avoided per device a year (yuan)",
    ),
    (
        "rep.cb.salvage",
        "旧表单台残值（元）",
        "Old meter's salvage (yuan)",
    ),
    ("rep.cb.submit", "测算", "Calculate"),
    ("rep.cb.result", "测算结果", "Result"),
    (
        "rep.cb.cost_per_device",
        "单台成本（元）",
        "Cost per device (yuan)",
    ),
    ("rep.cb.gross_cost", "总成本（元）", "Gross cost (yuan)"),
    ("rep.cb.salvage_total", "残值合计（元）", "Salvage (yuan)"),
    ("rep.cb.total_cost", "净投入（元）", "Net cost (yuan)"),
    (
        "rep.cb.saving_per_device",
        "单台年节省（元）",
        "Saving per device a year (yuan)",
    ),
    (
        "rep.cb.annual_saving",
        "年节省合计（元）",
        "Saving a year (yuan)",
    ),
    (
        "rep.cb.payback",
        "回收期（月；空表示无法回收）",
        "Payback (months; blank: never)",
    ),
    (
        "rep.cb.life",
        "新表使用寿命（年）",
        "New meter's service life (years)",
    ),
    (
        "rep.cb.net",
        "寿命期净收益（元）",
        "Net over its life (yuan)",
    ),
    (
        "rep.cb.within_life",
        "寿命期内可回收",
        "Pays back within its life",
    ),
    ("rep.rollouts", "分批更换计划", "Phased rollouts"),
    ("rep.rollout", "分批更换计划", "Rollout"),
    ("rep.rollout.name", "名称", "Name"),
    ("rep.rollout.pilot", "试点", "Pilot"),
    ("rep.rollout.approved", "试点已批准", "Pilot approved"),
    (
        "rep.rollout.pending",
        "试点待批准",
        "Pilot not yet approved",
    ),
    ("rep.rollout.created", "创建", "Created"),
    ("rep.rollout.none", "暂无分批更换计划。", "No rollouts yet."),
    ("rep.rollout.new", "新建分批更换计划", "New rollout"),
    (
        "rep.rollout.pilot_ids",
        "试点表计 ID（JSON 数组）",
        "Pilot meter ids (JSON array)",
    ),
    (
        "rep.rollout.waves_ids",
        "后续批次（JSON 数组的数组）",
        "Later waves (JSON array of arrays)",
    ),
    ("rep.rollout.members", "表计（按批次）", "Meters by wave"),
    ("rep.rollout.wave0", "试点（第 0 批）", "Pilot (wave 0)"),
    ("rep.rollout.wave", "第 {n} 批", "Wave {n}"),
    ("rep.rollout.swapped", "已换表", "Swapped"),
    ("rep.rollout.not_swapped", "未换表", "Not swapped yet"),
    ("rep.rollout.new_meter", "新表", "New meter"),
    (
        "rep.rollout.pilot_progress",
        "试点进度（已换/试点数）",
        "Pilot progress (swapped / in the pilot)",
    ),
    (
        "rep.cmp",
        "试点与其余对比（近 30 天）",
        "Pilot against the rest (last 30 days)",
    ),
    ("rep.cmp.group", "组别", "Group"),
    ("rep.cmp.pilot", "试点新表", "Pilot (new meters)"),
    ("rep.cmp.rest", "其余未更换", "The rest (not yet replaced)"),
    ("rep.cmp.devices", "设备数", "Devices"),
    ("rep.cmp.faults", "故障次数", "Faults"),
    ("rep.cmp.device_days", "设备·天", "Device-days"),
    (
        "rep.cmp.rate",
        "每千设备·年故障",
        "Faults per 1000 device-years",
    ),
    ("rep.cmp.comm", "通信成功率", "Communication success"),
    ("rep.verdict", "结论", "Verdict"),
    ("rep.verdict.better", "优于其余", "Better than the rest"),
    (
        "rep.verdict.no_worse",
        "不差于其余",
        "No worse than the rest",
    ),
    ("rep.verdict.worse", "差于其余", "Worse than the rest"),
    ("rep.verdict.not_enough_data", "数据不足", "Not enough data"),
    (
        "rep.approve",
        "批准试点，开始后续批次",
        "Approve the pilot: go on with the waves",
    ),
    (
        "rep.override",
        "特批理由（结论不理想时必填）",
        "Override reason (required when the verdict is not favourable)",
    ),
    (
        "rep.approve_confirm",
        "批准试点后，后续批次即可换表。计划",
        "Once the pilot is approved the later waves may be swapped. Rollout",
    ),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/installations", get(installations))
        .route("/replacement", get(replacement))
        .route("/replacement/rollouts/{id}", get(rollout))
}

/// Plans shown at most; a busy organisation filters by status.
const PLANS_SHOWN: usize = 200;

#[derive(serde::Deserialize, Default, Debug)]
pub(crate) struct InstallationsQuery {
    status: Option<String>,
    /// A meter id to start the plan form with (from the device page).
    meter: Option<String>,
}

/// The status filter: `None` for all; planned when not given.
fn status_filter(v: Option<&str>) -> Result<Option<InstallationStatus>, WebError> {
    match v.map(str::trim) {
        None | Some("") => Ok(Some(InstallationStatus::Planned)),
        Some("all") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| WebError::Invalid("unknown status".into())),
    }
}

/// One checklist item of a completion form.
struct ItemField {
    /// Its index in the JSON array (`checklist.{i}.…`).
    i: usize,
    code: &'static str,
    label: &'static str,
}

struct PlanRow {
    id: String,
    status_key: String,
    status_class: &'static str,
    planned: bool,
    scheduled: String,
    installer: String,
    unit: String,
    meter_id: String,
    serial: String,
    note: String,
    register_unit: &'static str,
    items: Vec<ItemField>,
}

struct CertRow {
    id: String,
    staff: String,
    utility: &'static str,
    number: String,
    issued: String,
    expires: String,
    state_key: &'static str,
    state_class: &'static str,
    revocable: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/installations.html")]
struct InstallationsPage {
    c: Ctx,
    rows: Vec<PlanRow>,
    more: bool,
    scoped: bool,
    statuses: Vec<(&'static str, &'static str, bool)>,
    /// (id, "username (role)") of active staff.
    staff: Vec<(String, String)>,
    certs: Option<Vec<CertRow>>,
    utilities: Vec<(&'static str, &'static str)>,
    meter: String,
    today: String,
}

impl InstallationsPage {
    fn more_text(&self) -> String {
        self.c
            .t("inst.more")
            .replace("{n}", &PLANS_SHOWN.to_string())
    }
}

/// A certification's state on `today`: label key and badge class.
fn cert_state(
    c: &yufu_store::lifecycle::Certification,
    today: jiff::civil::Date,
) -> (&'static str, &'static str) {
    if c.revoked_at_ms.is_some() {
        ("inst.cert.revoked", "bad")
    } else if c.expires_on < today {
        ("inst.cert.expired", "bad")
    } else if c.issued_on > today {
        ("inst.cert.not_yet", "warn")
    } else {
        ("inst.cert.valid", "good")
    }
}

async fn installations(
    State(s): State<AppState>,
    c: Ctx,
    Query(q): Query<InstallationsQuery>,
) -> Result<InstallationsPage, PageError> {
    let who = Who::of(&c)?;
    let caller = c
        .caller
        .clone()
        .ok_or_else(|| PageError::new(&c, WebError::NotFound))?;
    let status = status_filter(q.status.as_deref()).map_err(|e| PageError::new(&c, e))?;
    let filter = InstallationFilter {
        status,
        installer: None,
        meter: None,
        sites: match &caller.principal.sites {
            SiteScope::All => None,
            SiteScope::Only(set) => Some(set.iter().copied().collect()),
        },
    };
    let store = s.store.as_ref();
    let mut plans = store
        .field()
        .list_installations(who.org(), &filter)
        .await
        .map_err(|e| store_err(&c, e))?;
    let more = plans.len() > PLANS_SHOWN;
    plans.truncate(PLANS_SHOWN);
    let users = store
        .access()
        .list_staff_users(who.org(), &StorePage::first(StorePage::MAX_LIMIT))
        .await
        .map_err(|e| store_err(&c, e))?;
    let names: HashMap<String, String> = users
        .iter()
        .map(|u| (u.id.to_string(), u.username.to_string()))
        .collect();
    let lang = c.lang;
    let mut rows = Vec::new();
    for p in &plans {
        // Each plan names its meter and unit by id: one read by key each.
        let (serial, utility) = match store.get_meter(p.meter_id).await {
            Ok(m) => (m.serial.to_string(), m.utility),
            Err(_) => (p.meter_id.to_string(), Utility::Electricity),
        };
        let unit = match store.get_unit(p.unit_id).await {
            Ok(u) => u.code.to_string(),
            Err(_) => p.unit_id.to_string(),
        };
        let (status_key, status_class) = install_status(p.status);
        let installer = p.installer_id.to_string();
        rows.push(PlanRow {
            id: p.id.to_string(),
            status_key,
            status_class,
            planned: p.status == InstallationStatus::Planned,
            scheduled: date(p.scheduled_on),
            installer: names.get(&installer).cloned().unwrap_or(installer),
            unit,
            meter_id: p.meter_id.to_string(),
            serial,
            note: p.note.clone(),
            register_unit: lang.t(&format!("lc.register_unit.{}", utility.as_str())),
            items: checklist(utility)
                .iter()
                .enumerate()
                .map(|(i, item)| ItemField {
                    i,
                    code: item.as_str(),
                    label: lang.t(&format!("lc.check.{}", item.as_str())),
                })
                .collect(),
        });
    }
    let now = jiff::Timestamp::now();
    let today = super::lifecycle::today(now);
    // Certifications span the organisation, as at the API.
    let certs = if caller.scoped() {
        None
    } else {
        let list = store
            .field()
            .list_certifications(who.org(), None)
            .await
            .map_err(|e| store_err(&c, e))?;
        Some(
            list.iter()
                .map(|x| {
                    let (state_key, state_class) = cert_state(x, today);
                    let staff = x.staff_user_id.to_string();
                    CertRow {
                        id: x.id.to_string(),
                        staff: names.get(&staff).cloned().unwrap_or(staff),
                        utility: lang.t(&format!("utility.{}", x.utility.as_str())),
                        number: x.number.clone(),
                        issued: date(x.issued_on),
                        expires: date(x.expires_on),
                        state_key,
                        state_class,
                        revocable: x.revoked_at_ms.is_none(),
                    }
                })
                .collect(),
        )
    };
    let current = status.map_or("all", InstallationStatus::as_str);
    let mut statuses: Vec<(&'static str, &'static str, bool)> = InstallationStatus::ALL
        .iter()
        .map(|st| {
            (
                st.as_str(),
                lang.t(&format!("lc.install.{}", st.as_str())),
                st.as_str() == current,
            )
        })
        .collect();
    statuses.push(("all", lang.t("inst.all"), current == "all"));
    Ok(InstallationsPage {
        rows,
        more,
        scoped: caller.scoped(),
        statuses,
        staff: users
            .iter()
            .filter(|u| u.active)
            .map(|u| {
                (
                    u.id.to_string(),
                    format!(
                        "{} ({})",
                        u.username,
                        lang.t(&format!("role.{}", u.role.as_str()))
                    ),
                )
            })
            .collect(),
        certs,
        utilities: Utility::ALL
            .iter()
            .map(|u| (u.as_str(), lang.t(&format!("utility.{}", u.as_str()))))
            .collect(),
        meter: q
            .meter
            .as_deref()
            .map(str::trim)
            .filter(|m| m.parse::<yufu_domain::MeterId>().is_ok())
            .unwrap_or_default()
            .to_owned(),
        today: date(today),
        c,
    })
}

// --- replacement ---

/// A reason a device is due, in the caller's language.
fn reason_text(lang: Lang, r: &DueReason) -> String {
    match r {
        DueReason::PastServiceLife { since } => lang
            .t("rep.reason.past_service_life")
            .replace("{since}", &date(*since)),
        DueReason::NearServiceLife { ends, months_left } => lang
            .t("rep.reason.near_service_life")
            .replace("{ends}", &date(*ends))
            .replace("{months}", &months_left.to_string()),
        DueReason::RepeatedFaults { faults } => lang
            .t("rep.reason.repeated_faults")
            .replace("{faults}", &faults.to_string()),
        DueReason::ModelFaultRate {
            model_tenths,
            fleet_tenths,
        } => lang
            .t("rep.reason.model_fault_rate")
            .replace("{model}", &evaluation::tenths(*model_tenths))
            .replace("{fleet}", &evaluation::tenths(*fleet_tenths)),
    }
}

struct DueRow {
    id: String,
    serial: String,
    model: String,
    utility: &'static str,
    site: String,
    reasons: Vec<String>,
}

struct RolloutRow {
    id: String,
    name: String,
    model: String,
    approved: Option<String>,
    created: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/replacement.html")]
struct ReplacementPage {
    c: Ctx,
    due: Vec<DueRow>,
    rollouts: Vec<RolloutRow>,
    /// (id, name) of the catalogue's models.
    models: Vec<(String, String)>,
    /// The due devices' meter ids as a JSON array (a start for a pilot).
    due_ids: String,
}

async fn replacement(State(s): State<AppState>, c: Ctx) -> Result<ReplacementPage, PageError> {
    let who = whole_org(&c)?;
    let ctx = who.ctx(&s);
    let lang = c.lang;
    let due = service::due_for_replacement(&ctx, &ReplacementPolicy::default())
        .await
        .map_err(|e| lc_err(&c, e))?;
    let models = s
        .store
        .procurement()
        .list_models(who.org())
        .await
        .map_err(|e| store_err(&c, e))?;
    let model_name: HashMap<String, String> = models
        .iter()
        .map(|m| (m.id.to_string(), format!("{} {}", m.maker, m.model)))
        .collect();
    let mut sites: BTreeMap<String, String> = BTreeMap::new();
    let wanted: std::collections::BTreeSet<yufu_domain::SiteId> =
        due.iter().filter_map(|d| d.site_id).collect();
    for site in wanted {
        let name = match s.store.get_site(site).await {
            Ok(x) => x.name.to_string(),
            Err(_) => site.to_string(),
        };
        sites.insert(site.to_string(), name);
    }
    let rollouts = s
        .store
        .field()
        .list_rollouts(who.org())
        .await
        .map_err(|e| store_err(&c, e))?;
    let due_ids = serde_json::to_string(
        &due.iter()
            .map(|d| d.meter_id.to_string())
            .collect::<Vec<_>>(),
    )
    .unwrap_or_else(|_| "[]".to_owned());
    Ok(ReplacementPage {
        due: due
            .iter()
            .map(|d| DueRow {
                id: d.meter_id.to_string(),
                serial: d.serial.clone(),
                model: model_name
                    .get(&d.model_id.to_string())
                    .cloned()
                    .unwrap_or_else(|| d.model_id.to_string()),
                utility: lang.t(&format!("utility.{}", d.utility.as_str())),
                site: or_dash(d.site_id.and_then(|x| sites.get(&x.to_string()).cloned())),
                reasons: d.reasons.iter().map(|r| reason_text(lang, r)).collect(),
            })
            .collect(),
        rollouts: rollouts
            .iter()
            .map(|r| RolloutRow {
                id: r.id.to_string(),
                name: r.name.clone(),
                model: model_name
                    .get(&r.model_id.to_string())
                    .cloned()
                    .unwrap_or_else(|| r.model_id.to_string()),
                approved: match (&r.pilot_approved_by, r.pilot_approved_at_ms) {
                    (Some(by), Some(at)) => Some(format!("{} · {}", person(by), fmt::time(at))),
                    _ => None,
                },
                created: format!("{} · {}", person(&r.created_by), fmt::time(r.created_at_ms)),
            })
            .collect(),
        models: models
            .iter()
            .map(|m| (m.id.to_string(), format!("{} {}", m.maker, m.model)))
            .collect(),
        due_ids,
        c,
    })
}

// --- one rollout ---

struct MemberRow {
    meter_id: String,
    serial: String,
    state: StateBadge,
    new_meter: Option<String>,
    swapped_at: String,
}

struct WaveGroup {
    label: String,
    wave: u32,
    members: Vec<MemberRow>,
}

/// A group's figures as the comparison table shows them.
struct StatsRow {
    label: &'static str,
    devices: u64,
    faults: u64,
    device_days: u64,
    rate: String,
    comm: String,
}

fn stats_row(label: &'static str, g: &GroupStats) -> StatsRow {
    StatsRow {
        label,
        devices: g.devices,
        faults: g.faults,
        device_days: g.device_days,
        rate: or_dash(
            g.faults_per_1000_device_years_tenths
                .map(evaluation::tenths),
        ),
        comm: or_dash(g.comm_success_permille.map(percent)),
    }
}

/// The verdict's label key, badge class and explanation.
fn verdict(v: &PilotVerdict) -> (&'static str, &'static str, String) {
    match v {
        PilotVerdict::Better => ("rep.verdict.better", "good", String::new()),
        PilotVerdict::NoWorse => ("rep.verdict.no_worse", "good", String::new()),
        PilotVerdict::Worse { why } => ("rep.verdict.worse", "bad", why.clone()),
        PilotVerdict::NotEnoughData { why } => ("rep.verdict.not_enough_data", "warn", why.clone()),
    }
}

/// The members grouped by wave, the pilot (wave 0) first.
fn waves(lang: Lang, members: &[yufu_store::lifecycle::RolloutMember]) -> Vec<WaveGroup> {
    let mut by: BTreeMap<u32, Vec<MemberRow>> = BTreeMap::new();
    for m in members {
        by.entry(m.wave).or_default().push(MemberRow {
            meter_id: m.meter_id.to_string(),
            serial: m.serial.clone(),
            state: StateBadge::of(lang, m.state),
            new_meter: m.new_meter_id.map(|x| x.to_string()),
            swapped_at: or_dash(m.swapped_at_ms.map(fmt::time)),
        });
    }
    by.into_iter()
        .map(|(wave, members)| WaveGroup {
            label: if wave == 0 {
                lang.t("rep.rollout.wave0").to_owned()
            } else {
                lang.t("rep.rollout.wave").replace("{n}", &wave.to_string())
            },
            wave,
            members,
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "console/replacement_rollout.html")]
struct RolloutPage {
    c: Ctx,
    id: String,
    name: String,
    model: String,
    created: String,
    approved: Option<String>,
    pilot_swapped: usize,
    pilot_size: usize,
    stats: Vec<StatsRow>,
    verdict_key: &'static str,
    verdict_class: &'static str,
    verdict_why: String,
    waves: Vec<WaveGroup>,
}

async fn rollout(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
) -> Result<RolloutPage, PageError> {
    let who = whole_org(&c)?;
    let id: RolloutId = path_id(&c, &id)?;
    let v = service::rollout_view(&who.ctx(&s), id)
        .await
        .map_err(|e| lc_err(&c, e))?;
    let model = match s.store.procurement().get_model(v.rollout.model_id).await {
        Ok(m) => format!("{} {}", m.maker, m.model),
        Err(_) => v.rollout.model_id.to_string(),
    };
    let lang = c.lang;
    let (verdict_key, verdict_class, verdict_why) = verdict(&v.comparison.verdict);
    Ok(RolloutPage {
        id: id.to_string(),
        name: v.rollout.name.clone(),
        model,
        created: format!(
            "{} · {}",
            person(&v.rollout.created_by),
            fmt::time(v.rollout.created_at_ms)
        ),
        approved: match (&v.rollout.pilot_approved_by, v.rollout.pilot_approved_at_ms) {
            (Some(by), Some(at)) => Some(format!("{} · {}", person(by), fmt::time(at))),
            _ => None,
        },
        pilot_swapped: v.pilot_swapped,
        pilot_size: v.pilot_size,
        stats: vec![
            stats_row(lang.t("rep.cmp.pilot"), &v.comparison.pilot),
            stats_row(lang.t("rep.cmp.rest"), &v.comparison.rest),
        ],
        verdict_key,
        verdict_class,
        verdict_why,
        waves: waves(lang, &v.members),
        c,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use yufu_domain::MeterId;
    use yufu_domain::lifecycle::DeviceState;
    use yufu_store::lifecycle::RolloutMember;

    #[test]
    fn due_reasons_read_in_both_languages() {
        let d = jiff::civil::date(2026, 3, 1);
        let cases = [
            (
                DueReason::PastServiceLife { since: d },
                "使用寿命已于 2026-03-01 到期",
                "Past its service life since 2026-03-01",
            ),
            (
                DueReason::NearServiceLife {
                    ends: d,
                    months_left: 4,
                },
                "使用寿命将于 2026-03-01 到期（剩 4 个整月）",
                "Service life ends on 2026-03-01 (4 whole months left)",
            ),
            (
                DueReason::RepeatedFaults { faults: 3 },
                "近 365 天故障 3 次",
                "3 faults in the last 365 days",
            ),
            (
                DueReason::ModelFaultRate {
                    model_tenths: 125,
                    fleet_tenths: 40,
                },
                "该型号每千设备·年故障 12.5 次，全网为 4.0 次",
                "Its model has 12.5 faults per 1000 device-years against 4.0 for the fleet",
            ),
        ];
        for (r, zh, en) in cases {
            assert_eq!(reason_text(Lang::Zh, &r), zh);
            assert_eq!(reason_text(Lang::En, &r), en);
        }
    }

    #[test]
    fn members_group_by_wave_pilot_first() {
        let m = |serial: &str, wave, swapped: bool| RolloutMember {
            meter_id: MeterId::new(),
            serial: serial.into(),
            wave,
            state: DeviceState::InService,
            new_meter_id: swapped.then(MeterId::new),
            swapped_at_ms: swapped.then_some(1_795_653_000_000),
        };
        let groups = waves(
            Lang::En,
            &[
                m("E3", 2, false),
                m("E1", 0, true),
                m("E2", 1, false),
                m("E0", 0, false),
            ],
        );
        let labels: Vec<&str> = groups.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(labels, ["Pilot (wave 0)", "Wave 1", "Wave 2"]);
        assert_eq!(groups[0].members.len(), 2);
        assert!(groups[0].members[0].new_meter.is_some());
        assert_eq!(groups[0].members[0].swapped_at, "2026-11-26 08:30:00");
        assert_eq!(groups[0].members[1].swapped_at, "—");
        assert_eq!(waves(Lang::Zh, &[m("E", 3, false)])[0].label, "第 3 批");
    }

    #[test]
    fn statuses_and_verdicts() {
        assert_eq!(
            status_filter(None).unwrap(),
            Some(InstallationStatus::Planned)
        );
        assert_eq!(status_filter(Some("all")).unwrap(), None);
        assert_eq!(
            status_filter(Some("installed")).unwrap(),
            Some(InstallationStatus::Installed)
        );
        assert!(status_filter(Some("lost")).is_err());
        let (k, class, why) = verdict(&PilotVerdict::Worse {
            why: "more faults".into(),
        });
        assert_eq!(
            (k, class, why.as_str()),
            ("rep.verdict.worse", "bad", "more faults")
        );
        for v in [
            PilotVerdict::Better,
            PilotVerdict::NoWorse,
            PilotVerdict::Worse { why: String::new() },
            PilotVerdict::NotEnoughData { why: String::new() },
        ] {
            for lang in [Lang::Zh, Lang::En] {
                assert_ne!(lang.t(verdict(&v).0), "?");
            }
        }
        let g = GroupStats {
            devices: 10,
            faults: 1,
            device_days: 300,
            faults_per_1000_device_years_tenths: Some(12_167),
            comm_success_permille: Some(987),
        };
        let r = stats_row("x", &g);
        assert_eq!((r.rate.as_str(), r.comm.as_str()), ("1216.7", "98.7%"));
    }

    #[test]
    fn certification_states() {
        let today = jiff::civil::date(2026, 6, 1);
        let mut c = yufu_store::lifecycle::Certification {
            id: yufu_domain::CertificationId::new(),
            organisation_id: yufu_domain::OrganisationId::new(),
            staff_user_id: yufu_domain::StaffUserId::new(),
            utility: Utility::Gas,
            number: "G-1".into(),
            issued_on: jiff::civil::date(2026, 1, 1),
            expires_on: jiff::civil::date(2026, 6, 1),
            revoked_at_ms: None,
            created_at_ms: 0,
        };
        assert_eq!(cert_state(&c, today).0, "inst.cert.valid");
        c.expires_on = jiff::civil::date(2026, 5, 31);
        assert_eq!(cert_state(&c, today).0, "inst.cert.expired");
        c.revoked_at_ms = Some(1);
        assert_eq!(cert_state(&c, today).0, "inst.cert.revoked");
    }
}
