//! Procurement (设备采购): the overview of contracts, suppliers and the
//! catalogue; a contract with its money and delivery progress (数量核对);
//! a delivery with its devices and the serial import (到货序列号导入, with a
//! dry run and every bad row reported); a supplier's scorecard (供应商评分卡)
//! with the facts behind each part of the score.
//!
//! Every figure comes from the service the API answers with
//! (`contract_view`, `delivery_view`, `scorecard(s)`); the overview adds
//! each contract's progress from the store's per-line counts, the same
//! counts `contract_view` reads. Changes are forms posted by `console.js`
//! to `/api/v1/…` (permission, second-role approval, audit there).
//! Procurement spans the organisation: site-scoped staff are refused, as
//! at the API.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use yufu_access::Permission;
use yufu_domain::evaluation::{self, ScoreFactor};
use yufu_domain::lifecycle::DeviceState;
use yufu_domain::{ContractId, DeliveryId, MeterProtocol, SupplierId, Utility};
use yufu_lifecycle::service::{self, Scorecard};
use yufu_store::lifecycle::{Contract, ContractStatus, LineProgress};

use super::devices::{DeviceLine, protocol_name};
use super::fmt;
use super::lifecycle::{
    date, lc_err, or_dash, path_id, percent, person, store_err, today, whole_org,
};
use super::{Ctx, Lang, Page, PageError};
use crate::AppState;

/// This module's pages and who may open them.
pub(crate) const PAGES: &[(&str, Page)] = &[
    ("/procurement", Page::Staff(Permission::ReadFleet)),
    (
        "/procurement/contracts/{id}",
        Page::Staff(Permission::ReadFleet),
    ),
    (
        "/procurement/deliveries/{id}",
        Page::Staff(Permission::ReadFleet),
    ),
    (
        "/procurement/suppliers/{id}",
        Page::Staff(Permission::ReadFleet),
    ),
];

/// This module's labels: (key, 简体中文, English).
pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("proc.title", "设备采购", "Procurement"),
    ("proc.contracts", "采购合同", "Purchase contracts"),
    ("proc.contract", "采购合同", "Purchase contract"),
    ("proc.number", "合同编号", "Contract no."),
    ("proc.supplier", "供应商", "Supplier"),
    ("proc.status", "状态", "Status"),
    ("proc.total", "合同总额（元）", "Total (yuan)"),
    (
        "proc.progress",
        "到货进度（已到/订购）",
        "Delivered / ordered",
    ),
    ("proc.status.draft", "草稿", "Draft"),
    ("proc.status.approved", "已审批", "Approved"),
    ("proc.status.cancelled", "已取消", "Cancelled"),
    ("proc.suppliers", "供应商", "Suppliers"),
    ("proc.score", "评分", "Score"),
    ("proc.contact", "联系人", "Contact"),
    ("proc.phone", "电话", "Phone"),
    ("proc.address", "地址", "Address"),
    ("proc.catalogue", "设备型号目录", "Device catalogue"),
    ("proc.maker", "厂家", "Maker"),
    ("proc.model", "型号", "Model"),
    ("proc.utility", "类别", "Utility"),
    ("proc.protocol", "通信规约", "Protocol"),
    ("proc.phases", "相数", "Phases"),
    ("proc.accuracy", "准确度等级", "Accuracy class"),
    ("proc.life", "使用寿命（年）", "Service life (years)"),
    ("proc.features", "功能", "Features"),
    ("proc.list_price", "目录价（元）", "List price (yuan)"),
    ("proc.none", "暂无记录", "None yet"),
    ("proc.add_model", "新增型号", "Add a model"),
    (
        "proc.features_hint",
        "JSON 数组，可选：",
        "A JSON array, any of:",
    ),
    ("proc.add_supplier", "新增供应商", "Add a supplier"),
    ("proc.name", "名称", "Name"),
    (
        "proc.draft_contract",
        "起草采购合同",
        "Draft a purchase contract",
    ),
    ("proc.lines", "合同明细", "Lines"),
    (
        "proc.lines_hint",
        "JSON 数组，每行：model_id（型号 ID）、quantity（数量）、unit_price_fen（单价，分）、delivery_due（交货日期 YYYY-MM-DD）。",
        "A JSON array; each line: model_id, quantity, unit_price_fen (fen), delivery_due (YYYY-MM-DD).",
    ),
    ("proc.transport", "运输费（元）", "Transport (yuan)"),
    ("proc.installation", "安装费（元）", "Installation (yuan)"),
    ("proc.commissioning", "调试费（元）", "Commissioning (yuan)"),
    ("proc.goods", "货款（元）", "Goods (yuan)"),
    ("proc.warranty", "质保期（月）", "Warranty (months)"),
    ("proc.after_sales", "售后条款", "After-sales terms"),
    ("proc.save", "保存", "Save"),
    ("proc.facts", "合同信息", "Contract"),
    ("proc.drafted_by", "起草人", "Drafted by"),
    ("proc.approved_by", "审批人", "Approved by"),
    ("proc.totals", "金额", "Money"),
    ("proc.line_no", "行号", "Line"),
    ("proc.unit_price", "单价（元）", "Unit price (yuan)"),
    ("proc.amount", "金额（元）", "Amount (yuan)"),
    ("proc.due", "交货日期", "Due"),
    ("proc.ordered", "订购", "Ordered"),
    ("proc.delivered", "已到货", "Delivered"),
    ("proc.awaiting", "待验收", "Awaiting check"),
    ("proc.accepted", "验收合格", "Accepted"),
    ("proc.rejected", "验收不合格", "Rejected"),
    ("proc.returned", "已退货", "Returned"),
    ("proc.outstanding", "未到货", "Outstanding"),
    (
        "proc.complete",
        "全部到货并验收完毕",
        "Delivered and checked in full",
    ),
    (
        "proc.incomplete",
        "尚未全部到货或验收",
        "Not yet delivered and checked in full",
    ),
    ("proc.deliveries", "到货批次", "Deliveries"),
    ("proc.note_number", "送货单号", "Delivery note no."),
    ("proc.delivered_on", "到货日期", "Delivered on"),
    ("proc.received_by", "接收人", "Received by"),
    (
        "proc.devices_of",
        "查看此合同的设备",
        "Devices of this contract",
    ),
    ("proc.approve", "审批通过", "Approve"),
    (
        "proc.approve_confirm",
        "审批通过此合同？起草人本人及同一角色不能审批。合同",
        "Approve this contract? Its drafter, and anyone of the drafter's role, may not. Contract",
    ),
    ("proc.cancel", "取消合同", "Cancel the contract"),
    (
        "proc.cancel_confirm",
        "取消此合同草稿？合同",
        "Cancel this draft contract? Contract",
    ),
    ("proc.new_delivery", "登记到货", "Record a delivery"),
    ("proc.delivery", "到货批次", "Delivery"),
    ("proc.devices", "本批设备", "Devices in this delivery"),
    (
        "proc.import",
        "导入序列号（CSV）",
        "Import serial numbers (CSV)",
    ),
    (
        "proc.import_hint",
        "CSV 文件须有表头；列：serial（必填）、comm_address（空则同表号）、contract_line（合同有多行时必填）、note。整个文件全部无误才会导入。",
        "A CSV file with a header; columns: serial (required), comm_address (blank: the serial), contract_line (required when the contract has several lines), note. Nothing is imported unless every row is good.",
    ),
    ("proc.file", "CSV 文件", "CSV file"),
    ("proc.choose_file", "请选择 CSV 文件", "Choose a CSV file"),
    (
        "proc.dry_run",
        "仅检查，不导入（试运行）",
        "Check only, import nothing (dry run)",
    ),
    ("proc.import_submit", "上传", "Upload"),
    ("proc.report", "导入结果", "Import report"),
    ("proc.report.rows", "数据行", "Data rows"),
    ("proc.report.dry_run", "试运行", "Dry run"),
    (
        "proc.report.devices",
        "设备（将）登记",
        "Devices (to be) registered",
    ),
    ("proc.report.problems", "问题", "Problems"),
    (
        "proc.report.failed",
        "文件有问题，未导入任何设备。请按下表逐行修正后重新上传。",
        "The file has problems: nothing was imported. Correct each row below and upload again.",
    ),
    ("proc.report.ok", "文件无误。", "The file is good."),
    ("proc.report.line", "行", "Line"),
    ("proc.report.column", "列", "Column"),
    ("proc.report.value", "值", "Value"),
    ("proc.report.message", "问题", "Problem"),
    ("proc.report.serial", "表号", "Serial"),
    ("proc.report.meter", "表计", "Meter"),
    (
        "proc.import_closed",
        "合同未审批或已取消，不能导入序列号。",
        "The contract is not approved (or cancelled): serials cannot be imported.",
    ),
    ("proc.scorecard", "供应商评分卡", "Supplier scorecard"),
    ("proc.no_score", "尚无数据", "No data yet"),
    ("proc.factor", "评分项", "Factor"),
    ("proc.weight", "权重", "Weight"),
    ("proc.points", "得分率", "Points"),
    ("proc.facts_behind", "依据", "From"),
    (
        "proc.factor.acceptance_pass_rate",
        "验收合格率",
        "Acceptance pass rate",
    ),
    (
        "proc.factor.on_time_delivery",
        "准时交货率",
        "On-time delivery",
    ),
    (
        "proc.factor.field_reliability",
        "现场可靠性",
        "Field reliability",
    ),
    (
        "proc.fact.acceptance",
        "{checked} 次验收中 {passed} 次合格",
        "{passed} of {checked} acceptance checks passed",
    ),
    (
        "proc.fact.on_time",
        "{delivered} 台到货中 {on_time} 台按期",
        "{on_time} of {delivered} devices delivered on time",
    ),
    (
        "proc.fact.faults",
        "{faults} 次故障 / {days} 设备·天 = 每千设备·年 {rate} 次",
        "{faults} faults in {days} device-days = {rate} per 1000 device-years",
    ),
    (
        "proc.fact.no_field",
        "尚无现场运行数据",
        "No days in the field yet",
    ),
    (
        "proc.score_rule",
        "评分 = 各项得分率按权重（验收 40%、准时 30%、可靠性 30%）加权平均；无数据的项不计，其余按比例计。可靠性：每千设备·年 0 次故障为 100%，50 次及以上为 0。",
        "Score = the weighted mean of the factors' points (acceptance 40%, on time 30%, reliability 30%); a factor without data is left out and the others re-weighted. Reliability: 100% at 0 faults per 1000 device-years, 0 at 50 or more.",
    ),
    ("proc.weights_in_use", "计入的权重", "Weights in use"),
    ("proc.qualifications", "资质证书", "Qualifications"),
    ("proc.qual.number", "证书编号", "Number"),
    ("proc.qual.expires", "有效期至", "Expires on"),
    ("proc.qual.valid", "有效", "Valid"),
    ("proc.qual.expired", "已过期", "Expired"),
    ("proc.add_qualification", "新增资质", "Add a qualification"),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/procurement", get(overview))
        .route("/procurement/contracts/{id}", get(contract))
        .route("/procurement/deliveries/{id}", get(delivery))
        .route("/procurement/suppliers/{id}", get(supplier))
}

/// A contract's status: its label key and badge class.
fn status(s: ContractStatus) -> (String, &'static str) {
    let class = match s {
        ContractStatus::Draft => "warn",
        ContractStatus::Approved => "good",
        ContractStatus::Cancelled => "",
    };
    (format!("proc.status.{}", s.as_str()), class)
}

/// Goods (Σ quantity × unit price) and the total with transport,
/// installation and commissioning, in fen; saturating, as a page only
/// shows them (the service refuses a contract whose total overflows).
fn totals(c: &Contract) -> (i64, i64) {
    let goods = c.lines.iter().fold(0i64, |a, l| {
        a.saturating_add(l.unit_price.0.saturating_mul(i64::from(l.quantity)))
    });
    let total = goods
        .saturating_add(c.transport.0)
        .saturating_add(c.installation.0)
        .saturating_add(c.commissioning.0);
    (goods, total)
}

/// (delivered, ordered) as `contract_view` counts them: delivered is every
/// device of the contract but the rejected and returned ones.
fn progress(c: &Contract, rows: &[LineProgress]) -> (u64, u64) {
    let delivered = rows
        .iter()
        .filter(|p| !matches!(p.state, DeviceState::Rejected | DeviceState::Returned))
        .map(|p| p.devices)
        .sum();
    let ordered = c.lines.iter().map(|l| u64::from(l.quantity)).sum();
    (delivered, ordered)
}

struct ContractRow {
    id: String,
    number: String,
    supplier_id: String,
    supplier: String,
    status_key: String,
    status_class: &'static str,
    total: String,
    delivered: u64,
    ordered: u64,
}

struct SupplierRow {
    id: String,
    name: String,
    contact: String,
    score: String,
    expired: usize,
}

struct ModelRow {
    name: String,
    utility: &'static str,
    protocol: &'static str,
    phases: u8,
    accuracy: String,
    life: u16,
    features: String,
    price: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/procurement.html")]
struct OverviewPage {
    c: Ctx,
    contracts: Vec<ContractRow>,
    suppliers: Vec<SupplierRow>,
    models: Vec<ModelRow>,
    /// (id, name) for the contract form.
    supplier_choices: Vec<(String, String)>,
    utilities: Vec<(&'static str, &'static str)>,
    protocols: Vec<(&'static str, &'static str)>,
    features: String,
    /// A line to start the contract form from (JSON).
    lines_example: String,
}

fn score_text(s: &Scorecard) -> String {
    s.score
        .score
        .map_or_else(|| "—".to_owned(), |v| v.to_string())
}

async fn overview(State(s): State<AppState>, c: Ctx) -> Result<OverviewPage, PageError> {
    let who = whole_org(&c)?;
    let ctx = who.ctx(&s);
    let lang = c.lang;
    let cards = service::scorecards(&ctx).await.map_err(|e| lc_err(&c, e))?;
    let contracts = service::list_contracts(&ctx)
        .await
        .map_err(|e| lc_err(&c, e))?;
    let models = s
        .store
        .procurement()
        .list_models(who.org())
        .await
        .map_err(|e| store_err(&c, e))?;
    let mut rows = Vec::new();
    for k in &contracts {
        let p = s
            .store
            .procurement()
            .contract_progress(k.id)
            .await
            .map_err(|e| store_err(&c, e))?;
        let (delivered, ordered) = progress(k, &p);
        let (status_key, status_class) = status(k.status);
        rows.push(ContractRow {
            id: k.id.to_string(),
            number: k.number.clone(),
            supplier_id: k.supplier_id.to_string(),
            supplier: cards
                .iter()
                .find(|x| x.supplier.id == k.supplier_id)
                .map_or_else(|| k.supplier_id.to_string(), |x| x.supplier.name.clone()),
            status_key,
            status_class,
            total: fmt::yuan(totals(k).1),
            delivered,
            ordered,
        });
    }
    let due = today(jiff::Timestamp::now())
        .checked_add(jiff::Span::new().days(30))
        .map(date)
        .unwrap_or_default();
    let lines_example = serde_json::json!([{
        "model_id": models.first().map(|m| m.id.to_string()).unwrap_or_default(),
        "quantity": 100,
        "unit_price_fen": models.first().map_or(0, |m| m.list_price.0),
        "delivery_due": due,
    }])
    .to_string();
    Ok(OverviewPage {
        contracts: rows,
        suppliers: cards
            .iter()
            .map(|x| SupplierRow {
                id: x.supplier.id.to_string(),
                name: x.supplier.name.clone(),
                contact: format!("{} {}", x.supplier.contact_name, x.supplier.contact_phone),
                score: score_text(x),
                expired: x.qualifications.iter().filter(|q| !q.valid).count(),
            })
            .collect(),
        models: models
            .iter()
            .map(|m| ModelRow {
                name: format!("{} {}", m.maker, m.model),
                utility: lang.t(&format!("utility.{}", m.utility.as_str())),
                protocol: protocol_name(m.protocol),
                phases: m.phases,
                accuracy: m.accuracy_class.clone(),
                life: m.service_life_years,
                features: m.features.join(", "),
                price: fmt::yuan(m.list_price.0),
            })
            .collect(),
        supplier_choices: cards
            .iter()
            .map(|x| (x.supplier.id.to_string(), x.supplier.name.clone()))
            .collect(),
        utilities: Utility::ALL
            .iter()
            .map(|u| (u.as_str(), lang.t(&format!("utility.{}", u.as_str()))))
            .collect(),
        protocols: MeterProtocol::ALL
            .iter()
            .map(|p| (p.as_str(), protocol_name(*p)))
            .collect(),
        features: service::FEATURES.join(", "),
        lines_example,
        c,
    })
}

// --- a contract ---

struct LineRow {
    no: u32,
    model: String,
    unit_price: String,
    amount: String,
    due: String,
    ordered: u32,
    delivered: u64,
    awaiting: u64,
    accepted: u64,
    rejected: u64,
    returned: u64,
    outstanding: u64,
}

struct DeliveryRow {
    id: String,
    note: String,
    on: String,
    by: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/procurement_contract.html")]
struct ContractPage {
    c: Ctx,
    id: String,
    number: String,
    supplier_id: String,
    supplier: String,
    status_code: &'static str,
    status_key: String,
    status_class: &'static str,
    warranty_months: u16,
    after_sales: String,
    drafted: String,
    approved: String,
    goods: String,
    transport: String,
    installation: String,
    commissioning: String,
    total: String,
    lines: Vec<LineRow>,
    complete: bool,
    deliveries: Vec<DeliveryRow>,
    draft: bool,
    approved_now: bool,
    today: String,
}

async fn contract(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
) -> Result<ContractPage, PageError> {
    let who = whole_org(&c)?;
    let id: ContractId = path_id(&c, &id)?;
    let ctx = who.ctx(&s);
    let v = service::contract_view(&ctx, id)
        .await
        .map_err(|e| lc_err(&c, e))?;
    let k = &v.contract;
    let (status_key, status_class) = status(k.status);
    Ok(ContractPage {
        id: k.id.to_string(),
        number: k.number.clone(),
        supplier_id: k.supplier_id.to_string(),
        supplier: v.supplier_name.clone(),
        status_code: k.status.as_str(),
        status_key,
        status_class,
        warranty_months: k.warranty_months,
        after_sales: k.after_sales.clone(),
        drafted: format!(
            "{} ({}) · {}",
            person(&k.created_by),
            c.t(&format!("role.{}", k.created_by_role)),
            fmt::time(k.created_at_ms)
        ),
        approved: match (&k.approved_by, k.approved_at_ms) {
            (Some(by), Some(at)) => format!("{} · {}", person(by), fmt::time(at)),
            _ => "—".to_owned(),
        },
        goods: fmt::yuan(v.goods_fen),
        transport: fmt::yuan(k.transport.0),
        installation: fmt::yuan(k.installation.0),
        commissioning: fmt::yuan(k.commissioning.0),
        total: fmt::yuan(v.total_fen),
        lines: v
            .lines
            .iter()
            .map(|l| LineRow {
                no: l.line.line_no,
                model: l.model.clone(),
                unit_price: fmt::yuan(l.line.unit_price.0),
                amount: fmt::yuan(l.amount_fen),
                due: date(l.line.delivery_due),
                ordered: l.ordered,
                delivered: l.delivered,
                awaiting: l.awaiting_check,
                accepted: l.accepted,
                rejected: l.rejected,
                returned: l.returned,
                outstanding: l.outstanding,
            })
            .collect(),
        complete: v.complete,
        deliveries: v
            .deliveries
            .iter()
            .map(|d| DeliveryRow {
                id: d.id.to_string(),
                note: d.note_number.clone(),
                on: date(d.delivered_on),
                by: person(&d.received_by),
            })
            .collect(),
        draft: k.status == ContractStatus::Draft,
        approved_now: k.status == ContractStatus::Approved,
        today: date(ctx.today),
        c,
    })
}

// --- a delivery ---

/// One device of a delivery.
struct DeliveredDevice {
    d: DeviceLine,
    line: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/procurement_delivery.html")]
struct DeliveryPage {
    c: Ctx,
    id: String,
    note: String,
    contract_id: String,
    contract_number: String,
    on: String,
    by: String,
    devices: Vec<DeliveredDevice>,
    /// The contract is approved: serials may be imported.
    open: bool,
}

async fn delivery(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
) -> Result<DeliveryPage, PageError> {
    let who = whole_org(&c)?;
    let id: DeliveryId = path_id(&c, &id)?;
    let ctx = who.ctx(&s);
    let v = service::delivery_view(&ctx, id)
        .await
        .map_err(|e| lc_err(&c, e))?;
    let contract = s
        .store
        .procurement()
        .get_contract(v.delivery.contract_id)
        .await
        .map_err(|e| store_err(&c, e))?;
    let lang = c.lang;
    Ok(DeliveryPage {
        id: id.to_string(),
        note: v.delivery.note_number.clone(),
        contract_id: v.delivery.contract_id.to_string(),
        contract_number: v.contract_number.clone(),
        on: date(v.delivery.delivered_on),
        by: person(&v.delivery.received_by),
        devices: v
            .devices
            .iter()
            .map(|d| DeliveredDevice {
                d: DeviceLine::of(lang, d),
                line: or_dash(d.line_no.map(|n| n.to_string())),
            })
            .collect(),
        open: contract.status == ContractStatus::Approved,
        c,
    })
}

// --- a supplier ---

struct ComponentRow {
    label: &'static str,
    weight: u32,
    points: String,
    facts: String,
    has_data: bool,
}

struct QualRow {
    name: String,
    number: String,
    expires: String,
    valid: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/procurement_supplier.html")]
struct SupplierPage {
    c: Ctx,
    id: String,
    name: String,
    contact: String,
    phone: String,
    address: String,
    score: String,
    weights_in_use: u32,
    components: Vec<ComponentRow>,
    qualifications: Vec<QualRow>,
}

/// The parts of a score with the facts behind each, in the caller's language.
fn components(lang: Lang, card: &Scorecard) -> Vec<ComponentRow> {
    let f = &card.facts;
    let s = &card.score;
    card.score
        .components
        .iter()
        .map(|x| {
            let facts = match x.factor {
                ScoreFactor::AcceptancePassRate => lang
                    .t("proc.fact.acceptance")
                    .replace("{passed}", &f.passed.to_string())
                    .replace("{checked}", &f.checked.to_string()),
                ScoreFactor::OnTimeDelivery => lang
                    .t("proc.fact.on_time")
                    .replace("{on_time}", &f.delivered_on_time.to_string())
                    .replace("{delivered}", &f.delivered.to_string()),
                ScoreFactor::FieldReliability => match s.faults_per_1000_device_years_tenths {
                    Some(rate) => lang
                        .t("proc.fact.faults")
                        .replace("{faults}", &f.field_faults.to_string())
                        .replace("{days}", &f.device_days.to_string())
                        .replace("{rate}", &evaluation::tenths(rate)),
                    None => lang.t("proc.fact.no_field").to_owned(),
                },
            };
            ComponentRow {
                label: lang.t(&format!("proc.factor.{}", factor_name(x.factor))),
                weight: x.weight_percent,
                points: x
                    .points_permille
                    .map_or_else(|| lang.t("proc.no_score").to_owned(), percent),
                facts,
                has_data: x.points_permille.is_some(),
            }
        })
        .collect()
}

fn factor_name(f: ScoreFactor) -> &'static str {
    match f {
        ScoreFactor::AcceptancePassRate => "acceptance_pass_rate",
        ScoreFactor::OnTimeDelivery => "on_time_delivery",
        ScoreFactor::FieldReliability => "field_reliability",
    }
}

async fn supplier(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
) -> Result<SupplierPage, PageError> {
    let who = whole_org(&c)?;
    let id: SupplierId = path_id(&c, &id)?;
    let card = service::scorecard(&who.ctx(&s), id)
        .await
        .map_err(|e| lc_err(&c, e))?;
    let lang = c.lang;
    Ok(SupplierPage {
        id: id.to_string(),
        name: card.supplier.name.clone(),
        contact: card.supplier.contact_name.clone(),
        phone: card.supplier.contact_phone.clone(),
        address: card.supplier.address.clone(),
        score: score_text(&card),
        weights_in_use: card.score.weights_in_use_percent,
        components: components(lang, &card),
        qualifications: card
            .qualifications
            .iter()
            .map(|q| QualRow {
                name: q.qualification.name.clone(),
                number: q.qualification.number.clone(),
                expires: date(q.qualification.expires_on),
                valid: q.valid,
            })
            .collect(),
        c,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use yufu_domain::{DeviceModelId, Fen, OrganisationId};
    use yufu_store::lifecycle::{ContractLine, Supplier, SupplierFactsRow};

    fn contract() -> Contract {
        let line = |n, q, p| ContractLine {
            line_no: n,
            model_id: DeviceModelId::new(),
            quantity: q,
            unit_price: Fen(p),
            delivery_due: jiff::civil::date(2026, 6, 1),
        };
        Contract {
            id: ContractId::new(),
            organisation_id: OrganisationId::new(),
            number: "HT-1".into(),
            supplier_id: SupplierId::new(),
            status: ContractStatus::Draft,
            transport: Fen(50_000),
            installation: Fen(20_000),
            commissioning: Fen(5_000),
            warranty_months: 24,
            after_sales: String::new(),
            created_by: "user:a".into(),
            created_by_role: "manager".into(),
            created_at_ms: 0,
            approved_by: None,
            approved_at_ms: None,
            lines: vec![line(1, 100, 28_000), line(2, 10, 150_050)],
        }
    }

    #[test]
    fn totals_and_progress_count_as_the_contract_view_does() {
        let k = contract();
        // 100 × 280.00 + 10 × 1500.50 = 43 005.00; + 500 + 200 + 50.
        assert_eq!(totals(&k), (4_300_500, 4_375_500));
        let p = |line_no, state, devices| LineProgress {
            line_no,
            state,
            devices,
        };
        let rows = [
            p(1, DeviceState::Received, 5),
            p(1, DeviceState::InStock, 60),
            p(1, DeviceState::Rejected, 2),
            p(2, DeviceState::Returned, 1),
            p(2, DeviceState::InService, 3),
        ];
        assert_eq!(progress(&k, &rows), (68, 110));
        assert_eq!(progress(&k, &[]), (0, 110));
    }

    #[test]
    fn the_scorecard_shows_the_facts_behind_each_part() {
        let facts = SupplierFactsRow {
            checked: 200,
            passed: 190,
            delivered: 100,
            delivered_on_time: 87,
            field_faults: 3,
            device_days: 73_000,
        };
        let card = Scorecard {
            supplier: Supplier {
                id: SupplierId::new(),
                organisation_id: OrganisationId::new(),
                name: "S".into(),
                contact_name: "c".into(),
                contact_phone: "p".into(),
                address: String::new(),
                created_at_ms: 0,
            },
            qualifications: vec![],
            facts,
            score: evaluation::supplier_score(&evaluation::SupplierFacts {
                checked: facts.checked,
                passed: facts.passed,
                delivered: facts.delivered,
                delivered_on_time: facts.delivered_on_time,
                field_faults: facts.field_faults,
                device_days: facts.device_days,
            }),
        };
        assert_eq!(score_text(&card), "85");
        let rows = components(Lang::En, &card);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].label, "Acceptance pass rate");
        assert_eq!((rows[0].weight, rows[0].points.as_str()), (40, "95.0%"));
        assert_eq!(rows[0].facts, "190 of 200 acceptance checks passed");
        assert_eq!(rows[1].points, "87.0%");
        assert_eq!(rows[1].facts, "87 of 100 devices delivered on time");
        assert_eq!(rows[2].points, "70.0%");
        assert_eq!(
            rows[2].facts,
            "3 faults in 73000 device-days = 15.0 per 1000 device-years"
        );
        let zh = components(Lang::Zh, &card);
        assert_eq!(zh[0].facts, "200 次验收中 190 次合格");
    }

    #[test]
    fn every_made_key_exists() {
        let mut keys: Vec<String> = ContractStatus::ALL.iter().map(|s| status(*s).0).collect();
        for f in [
            ScoreFactor::AcceptancePassRate,
            ScoreFactor::OnTimeDelivery,
            ScoreFactor::FieldReliability,
        ] {
            keys.push(format!("proc.factor.{}", factor_name(f)));
        }
        for k in keys {
            for lang in [Lang::Zh, Lang::En] {
                assert_ne!(lang.t(&k), "?", "label {k} is missing");
            }
        }
    }
}
