//! The lifecycle services: each applies the domain's rules
//! (`yufu_domain::lifecycle`, `yufu_domain::evaluation`) over the store and,
//! for installation, commissioning, swaps and removal, the engine's writer.
//! The HTTP handlers and the CLI call these and nothing else, so every gate
//! (state machine, second-role approval, certification, checklist,
//! commissioning, pilot approval) holds for both.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use yufu_domain::evaluation::{self, CostBenefit, CostBenefitIn, DueReason, ReplacementPolicy};
use yufu_domain::lifecycle::{
    self, Action, CheckResult, ChecklistVerdict, DeviceState, IllegalTransition,
};
use yufu_domain::{
    AccountId, CertificationId, CommAddress, ContractId, DeliveryId, DeviceModelId, Fen,
    InstallationId, MeterId, MeterProtocol, OrganisationId, RolloutId, SiteId, StaffUserId,
    SupplierId, TariffCode, UnitId, Utility,
};
use yufu_store::lifecycle::{
    AcceptanceCheck, Certification, CommissioningRun, Contract, ContractLine, ContractStatus,
    Delivery, DeviceEvent, DeviceFilter, DeviceModel, DeviceRecord, Disposal, GroupFactsRow,
    InstallationFilter, InstallationPlan, InstallationStatus, MeterSwap, NewDevice, Qualification,
    Rollout, RolloutMember, RunOutcome, Supplier, SupplierFactsRow, Transition,
};
use yufu_store::{Store, StoreError};
use yufu_writer::Writer;

use crate::serials::{SerialProblem, parse_serials};
use crate::{commission, swap};

/// Why a lifecycle request was refused. Each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// Bad input (422).
    #[error("{0}")]
    Invalid(String),
    /// A gate refused: certification, checklist, approval rules (422).
    #[error("{0}")]
    Refused(String),
    /// The device or record is not in a state that allows this (409).
    #[error("{0}")]
    Conflict(String),
    /// Not found, or of another organisation (404).
    #[error("{0} not found")]
    NotFound(String),
    /// The engine is needed (installation, commissioning, swaps) but this
    /// process runs without one (CLI): 503.
    #[error("this needs the running prepaid engine (yufu serve)")]
    NoEngine,
    #[error(transparent)]
    Store(StoreError),
    #[error("the engine: {0}")]
    Writer(#[from] yufu_writer::WriterError),
}

impl From<StoreError> for LifecycleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity, key } => {
                LifecycleError::NotFound(format!("{entity} {key}"))
            }
            StoreError::Conflict(m) => LifecycleError::Conflict(m),
            StoreError::Reference(m) => LifecycleError::Invalid(m),
            other => LifecycleError::Store(other),
        }
    }
}

impl From<IllegalTransition> for LifecycleError {
    fn from(e: IllegalTransition) -> Self {
        LifecycleError::Conflict(e.to_string())
    }
}

impl From<yufu_domain::DomainError> for LifecycleError {
    fn from(e: yufu_domain::DomainError) -> Self {
        LifecycleError::Invalid(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, LifecycleError>;

/// Who is acting, for whom, and when.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    pub store: &'a dyn Store,
    /// The engine's writer; `None` in the CLI (installation, commissioning,
    /// swaps and removal then answer [`LifecycleError::NoEngine`]).
    pub writer: Option<&'a Writer>,
    pub org: OrganisationId,
    /// As in the audit log: `user:NAME`, `token:NAME`, `cli:USER`.
    pub actor: &'a str,
    /// The acting staff member's role (`admin`, `manager`, …).
    pub role: &'a str,
    pub now: Timestamp,
    /// The organisation's civil day "today" (Asia/Shanghai by default).
    pub today: Date,
}

impl Ctx<'_> {
    fn now_ms(&self) -> i64 {
        self.now.as_millisecond()
    }

    fn writer(&self) -> Result<&Writer> {
        self.writer.ok_or(LifecycleError::NoEngine)
    }

    fn transition(
        &self,
        d: &DeviceRecord,
        action: Action,
        reason: &str,
        detail: String,
    ) -> Result<Transition> {
        let to = lifecycle::next(d.state, action)
            .map_err(|e| LifecycleError::Conflict(format!("{}: {e}", d.serial)))?;
        Ok(Transition {
            meter: d.meter_id,
            from: d.state,
            to,
            action,
            actor: self.actor.to_owned(),
            reason: reason.to_owned(),
            detail,
            at_ms: self.now_ms(),
        })
    }

    /// The device if it belongs to the caller's organisation (else 404).
    pub async fn device(&self, meter: MeterId) -> Result<DeviceRecord> {
        let d = self
            .store
            .procurement()
            .get_device(meter, self.now_ms())
            .await?;
        if d.organisation_id != self.org {
            return Err(LifecycleError::NotFound(format!("meter {meter}")));
        }
        Ok(d)
    }
}

fn text(field: &str, v: &str, max: usize) -> Result<String> {
    let v = v.trim();
    if v.is_empty() {
        return Err(LifecycleError::Invalid(format!(
            "{field} must not be blank"
        )));
    }
    if v.chars().count() > max {
        return Err(LifecycleError::Invalid(format!(
            "{field} must be at most {max} characters"
        )));
    }
    Ok(v.to_owned())
}

fn opt_text(field: &str, v: &str, max: usize) -> Result<String> {
    if v.trim().is_empty() {
        Ok(String::new())
    } else {
        text(field, v, max)
    }
}

fn money(field: &str, fen: i64) -> Result<Fen> {
    if fen < 0 {
        return Err(LifecycleError::Invalid(format!(
            "{field} must not be negative"
        )));
    }
    Ok(Fen(fen))
}

// --- catalogue and suppliers ---

/// A device model as submitted.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelIn {
    pub maker: String,
    pub model: String,
    pub utility: Utility,
    pub protocol: MeterProtocol,
    /// 1 or 3; water and gas meters 1. Default 1.
    #[serde(default = "one")]
    pub phases: u8,
    pub accuracy_class: String,
    pub service_life_years: u16,
    #[serde(default)]
    pub features: Vec<String>,
    pub list_price_fen: i64,
}

fn one() -> u8 {
    1
}

/// The features a model may list.
pub const FEATURES: &[&str] = &[
    "remote_switch",
    "remote_valve",
    "multi_rate",
    "prepaid_card",
    "load_profile",
    "tamper_detection",
];

pub async fn create_model(ctx: &Ctx<'_>, m: ModelIn) -> Result<DeviceModel> {
    if !m.protocol.serves(m.utility) {
        return Err(LifecycleError::Invalid(format!(
            "protocol: {} does not serve {} meters",
            m.protocol, m.utility
        )));
    }
    if !matches!(m.phases, 1 | 3) || (m.utility != Utility::Electricity && m.phases != 1) {
        return Err(LifecycleError::Invalid(
            "phases: 1 or 3 for electricity meters, 1 for water and gas".into(),
        ));
    }
    if !(1..=50).contains(&m.service_life_years) {
        return Err(LifecycleError::Invalid(
            "service_life_years must be 1–50".into(),
        ));
    }
    let mut features = BTreeSet::new();
    for f in &m.features {
        if !FEATURES.contains(&f.as_str()) {
            return Err(LifecycleError::Invalid(format!(
                "features: unknown '{f}', expected some of: {}",
                FEATURES.join(", ")
            )));
        }
        features.insert(f.clone());
    }
    let model = DeviceModel {
        id: DeviceModelId::new(),
        organisation_id: ctx.org,
        maker: text("maker", &m.maker, 100)?,
        model: text("model", &m.model, 100)?,
        utility: m.utility,
        protocol: m.protocol,
        phases: m.phases,
        accuracy_class: text("accuracy_class", &m.accuracy_class, 10)?,
        service_life_years: m.service_life_years,
        features: features.into_iter().collect(),
        list_price: money("list_price_fen", m.list_price_fen)?,
        created_at_ms: ctx.now_ms(),
    };
    ctx.store.procurement().create_model(&model).await?;
    Ok(model)
}

async fn model(ctx: &Ctx<'_>, id: DeviceModelId) -> Result<DeviceModel> {
    let m = ctx.store.procurement().get_model(id).await?;
    if m.organisation_id != ctx.org {
        return Err(LifecycleError::NotFound(format!("device model {id}")));
    }
    Ok(m)
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupplierIn {
    pub name: String,
    pub contact_name: String,
    pub contact_phone: String,
    #[serde(default)]
    pub address: String,
}

pub async fn create_supplier(ctx: &Ctx<'_>, s: SupplierIn) -> Result<Supplier> {
    let supplier = Supplier {
        id: SupplierId::new(),
        organisation_id: ctx.org,
        name: text("name", &s.name, 200)?,
        contact_name: text("contact_name", &s.contact_name, 100)?,
        contact_phone: text("contact_phone", &s.contact_phone, 40)?,
        address: opt_text("address", &s.address, 300)?,
        created_at_ms: ctx.now_ms(),
    };
    ctx.store.procurement().create_supplier(&supplier).await?;
    Ok(supplier)
}

async fn supplier(ctx: &Ctx<'_>, id: SupplierId) -> Result<Supplier> {
    let s = ctx.store.procurement().get_supplier(id).await?;
    if s.organisation_id != ctx.org {
        return Err(LifecycleError::NotFound(format!("supplier {id}")));
    }
    Ok(s)
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualificationIn {
    pub name: String,
    pub number: String,
    pub expires_on: Date,
}

pub async fn add_qualification(
    ctx: &Ctx<'_>,
    id: SupplierId,
    q: QualificationIn,
) -> Result<Qualification> {
    supplier(ctx, id).await?;
    let q = Qualification {
        id: MeterId::new().to_string(),
        supplier_id: id,
        name: text("name", &q.name, 100)?,
        number: text("number", &q.number, 100)?,
        expires_on: q.expires_on,
        created_at_ms: ctx.now_ms(),
    };
    ctx.store.procurement().add_qualification(&q).await?;
    Ok(q)
}

/// A qualification and whether it is still valid today.
#[derive(Clone, Debug, serde::Serialize)]
pub struct QualificationView {
    #[serde(flatten)]
    pub qualification: Qualification,
    pub valid: bool,
}

/// 供应商评分卡: the supplier, its qualifications, the facts and the score.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Scorecard {
    pub supplier: Supplier,
    pub qualifications: Vec<QualificationView>,
    pub facts: SupplierFactsRow,
    pub score: evaluation::SupplierScore,
}

pub async fn scorecard(ctx: &Ctx<'_>, id: SupplierId) -> Result<Scorecard> {
    let s = supplier(ctx, id).await?;
    let quals = ctx.store.procurement().qualifications(id).await?;
    let facts = ctx
        .store
        .procurement()
        .supplier_facts(id, ctx.now_ms())
        .await?;
    let score = evaluation::supplier_score(&evaluation::SupplierFacts {
        checked: facts.checked,
        passed: facts.passed,
        delivered: facts.delivered,
        delivered_on_time: facts.delivered_on_time,
        field_faults: facts.field_faults,
        device_days: facts.device_days,
    });
    Ok(Scorecard {
        supplier: s,
        qualifications: quals
            .into_iter()
            .map(|q| QualificationView {
                valid: q.expires_on >= ctx.today,
                qualification: q,
            })
            .collect(),
        facts,
        score,
    })
}

pub async fn scorecards(ctx: &Ctx<'_>) -> Result<Vec<Scorecard>> {
    let mut out = Vec::new();
    for s in ctx.store.procurement().list_suppliers(ctx.org).await? {
        out.push(scorecard(ctx, s.id).await?);
    }
    Ok(out)
}

// --- contracts ---

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineIn {
    pub model_id: DeviceModelId,
    pub quantity: u32,
    pub unit_price_fen: i64,
    pub delivery_due: Date,
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractIn {
    pub number: String,
    pub supplier_id: SupplierId,
    pub lines: Vec<LineIn>,
    #[serde(default)]
    pub transport_fen: i64,
    #[serde(default)]
    pub installation_fen: i64,
    #[serde(default)]
    pub commissioning_fen: i64,
    pub warranty_months: u16,
    #[serde(default)]
    pub after_sales: String,
}

/// A contract with its money and delivery progress.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ContractView {
    pub contract: Contract,
    pub supplier_name: String,
    pub lines: Vec<LineView>,
    /// Sum of quantity × unit price over the lines, in fen.
    pub goods_fen: i64,
    /// goods + transport + installation + commissioning, in fen.
    pub total_fen: i64,
    pub deliveries: Vec<Delivery>,
    /// Every line delivered and accepted in full.
    pub complete: bool,
}

/// 数量核对: a line's devices by where they are.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LineView {
    pub line: ContractLine,
    pub model: String,
    pub ordered: u32,
    /// Delivered and not rejected (received, accepted, in stock and on).
    pub delivered: u64,
    /// Waiting for the acceptance check.
    pub awaiting_check: u64,
    /// Accepted (and everything after acceptance).
    pub accepted: u64,
    pub rejected: u64,
    pub returned: u64,
    /// Still to come: ordered − delivered (never negative).
    pub outstanding: u64,
    pub amount_fen: i64,
}

pub async fn create_contract(ctx: &Ctx<'_>, c: ContractIn) -> Result<ContractView> {
    supplier(ctx, c.supplier_id).await?;
    if c.lines.is_empty() {
        return Err(LifecycleError::Invalid(
            "lines: a contract needs at least one line".into(),
        ));
    }
    if c.warranty_months > 240 {
        return Err(LifecycleError::Invalid(
            "warranty_months must be at most 240".into(),
        ));
    }
    let mut lines = Vec::new();
    for (i, l) in c.lines.iter().enumerate() {
        let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
        model(ctx, l.model_id).await.map_err(|_| {
            LifecycleError::Invalid(format!(
                "line {n}: device model {} is not in the catalogue",
                l.model_id
            ))
        })?;
        if l.quantity == 0 || l.quantity > 1_000_000 {
            return Err(LifecycleError::Invalid(format!(
                "line {n}: quantity must be 1–1000000"
            )));
        }
        lines.push(ContractLine {
            line_no: n,
            model_id: l.model_id,
            quantity: l.quantity,
            unit_price: money(&format!("line {n}: unit_price_fen"), l.unit_price_fen)?,
            delivery_due: l.delivery_due,
        });
    }
    let contract = Contract {
        id: ContractId::new(),
        organisation_id: ctx.org,
        number: text("number", &c.number, 64)?,
        supplier_id: c.supplier_id,
        status: ContractStatus::Draft,
        transport: money("transport_fen", c.transport_fen)?,
        installation: money("installation_fen", c.installation_fen)?,
        commissioning: money("commissioning_fen", c.commissioning_fen)?,
        warranty_months: c.warranty_months,
        after_sales: opt_text("after_sales", &c.after_sales, 2000)?,
        created_by: ctx.actor.to_owned(),
        created_by_role: ctx.role.to_owned(),
        created_at_ms: ctx.now_ms(),
        approved_by: None,
        approved_at_ms: None,
        lines,
    };
    totals(&contract)?;
    ctx.store.procurement().create_contract(&contract).await?;
    contract_view(ctx, contract.id).await
}

/// (goods, total) in fen, refusing an overflow.
fn totals(c: &Contract) -> Result<(i64, i64)> {
    let overflow = || LifecycleError::Invalid("the contract's total does not fit in fen".into());
    let mut goods: i64 = 0;
    for l in &c.lines {
        let amount = l
            .unit_price
            .0
            .checked_mul(i64::from(l.quantity))
            .ok_or_else(overflow)?;
        goods = goods.checked_add(amount).ok_or_else(overflow)?;
    }
    let total = [c.transport.0, c.installation.0, c.commissioning.0]
        .iter()
        .try_fold(goods, |a, b| a.checked_add(*b))
        .ok_or_else(overflow)?;
    Ok((goods, total))
}

async fn contract(ctx: &Ctx<'_>, id: ContractId) -> Result<Contract> {
    let c = ctx.store.procurement().get_contract(id).await?;
    if c.organisation_id != ctx.org {
        return Err(LifecycleError::NotFound(format!("contract {id}")));
    }
    Ok(c)
}

pub async fn contract_view(ctx: &Ctx<'_>, id: ContractId) -> Result<ContractView> {
    let c = contract(ctx, id).await?;
    let progress = ctx.store.procurement().contract_progress(id).await?;
    let supplier_name = supplier(ctx, c.supplier_id).await?.name;
    let mut lines = Vec::new();
    let mut complete = true;
    for l in &c.lines {
        let count = |f: &dyn Fn(DeviceState) -> bool| -> u64 {
            progress
                .iter()
                .filter(|p| p.line_no == l.line_no && f(p.state))
                .map(|p| p.devices)
                .sum()
        };
        let rejected = count(&|s| s == DeviceState::Rejected);
        let returned = count(&|s| s == DeviceState::Returned);
        let awaiting = count(&|s| s == DeviceState::Received);
        let all = count(&|_| true);
        let delivered = all - rejected - returned;
        let accepted = delivered - awaiting;
        let outstanding = u64::from(l.quantity).saturating_sub(delivered);
        complete &= outstanding == 0 && awaiting == 0;
        lines.push(LineView {
            model: model(ctx, l.model_id)
                .await
                .map(|m| format!("{} {}", m.maker, m.model))?,
            ordered: l.quantity,
            delivered,
            awaiting_check: awaiting,
            accepted,
            rejected,
            returned,
            outstanding,
            amount_fen: l.unit_price.0.saturating_mul(i64::from(l.quantity)),
            line: l.clone(),
        });
    }
    let (goods_fen, total_fen) = totals(&c)?;
    let deliveries = ctx.store.procurement().list_deliveries(id).await?;
    Ok(ContractView {
        contract: c,
        supplier_name,
        lines,
        goods_fen,
        total_fen,
        deliveries,
        complete,
    })
}

pub async fn list_contracts(ctx: &Ctx<'_>) -> Result<Vec<Contract>> {
    Ok(ctx.store.procurement().list_contracts(ctx.org).await?)
}

/// Approves a draft: only someone else, of another role, may (审批).
pub async fn approve_contract(ctx: &Ctx<'_>, id: ContractId) -> Result<ContractView> {
    let c = contract(ctx, id).await?;
    if c.created_by == ctx.actor {
        return Err(LifecycleError::Refused(format!(
            "contract {} was drafted by you ({}): another person must approve it",
            c.number, c.created_by
        )));
    }
    if c.created_by_role == ctx.role {
        return Err(LifecycleError::Refused(format!(
            "contract {} was drafted by a {} ({}): approval needs a second role, not another {}",
            c.number, c.created_by_role, c.created_by, ctx.role
        )));
    }
    ctx.store
        .procurement()
        .set_contract_status(id, ContractStatus::Approved, ctx.actor, ctx.now_ms())
        .await?;
    contract_view(ctx, id).await
}

pub async fn cancel_contract(ctx: &Ctx<'_>, id: ContractId) -> Result<ContractView> {
    contract(ctx, id).await?;
    ctx.store
        .procurement()
        .set_contract_status(id, ContractStatus::Cancelled, ctx.actor, ctx.now_ms())
        .await?;
    contract_view(ctx, id).await
}

// --- deliveries and acceptance ---

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryIn {
    pub note_number: String,
    pub delivered_on: Date,
}

pub async fn create_delivery(ctx: &Ctx<'_>, id: ContractId, d: DeliveryIn) -> Result<Delivery> {
    let c = contract(ctx, id).await?;
    if c.status != ContractStatus::Approved {
        return Err(LifecycleError::Conflict(format!(
            "contract {} is {}: deliveries are taken only against an approved contract",
            c.number, c.status
        )));
    }
    if d.delivered_on > ctx.today {
        return Err(LifecycleError::Invalid(
            "delivered_on is in the future".into(),
        ));
    }
    let delivery = Delivery {
        id: DeliveryId::new(),
        contract_id: id,
        note_number: text("note_number", &d.note_number, 64)?,
        delivered_on: d.delivered_on,
        received_by: ctx.actor.to_owned(),
        created_at_ms: ctx.now_ms(),
    };
    ctx.store.procurement().create_delivery(&delivery).await?;
    Ok(delivery)
}

/// A delivery, its contract's number and the devices it brought.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeliveryView {
    pub delivery: Delivery,
    pub contract_number: String,
    pub devices: Vec<DeviceRecord>,
}

pub async fn delivery_view(ctx: &Ctx<'_>, id: DeliveryId) -> Result<DeliveryView> {
    let d = ctx.store.procurement().get_delivery(id).await?;
    let c = contract(ctx, d.contract_id).await?;
    let filter = DeviceFilter {
        delivery_id: Some(id),
        ..DeviceFilter::default()
    };
    let mut devices = Vec::new();
    let mut after = None;
    loop {
        let page = ctx
            .store
            .procurement()
            .list_devices(ctx.org, &filter, after, 1000, ctx.now_ms())
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.meter_id);
        let full = page.len() == 1000;
        devices.extend(page);
        if !full {
            break;
        }
    }
    Ok(DeliveryView {
        delivery: d,
        contract_number: c.number,
        devices,
    })
}

/// What a serial import did, or would do (dry run).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImportReport {
    pub dry_run: bool,
    /// Data rows read (the header not counted).
    pub rows: usize,
    /// Devices created (or that would be, on a dry run): empty when there
    /// are problems, because an import is all or nothing.
    pub devices: Vec<ImportedDevice>,
    pub problems: Vec<SerialProblem>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ImportedDevice {
    pub line: u64,
    pub serial: String,
    pub contract_line: u32,
    pub meter_id: Option<MeterId>,
}

fn problem(line: u64, column: &str, value: &str, message: String) -> SerialProblem {
    SerialProblem {
        line,
        column: Some(column.to_owned()),
        value: Some(value.to_owned()),
        message,
    }
}

/// 到货序列号导入: checks the whole file against the contract (lines,
/// quantities left, addresses for the model's protocol, serials already
/// known) and reports every bad row; creates nothing unless all rows are
/// good and it is not a dry run.
pub async fn import_serials(
    ctx: &Ctx<'_>,
    id: DeliveryId,
    csv: &[u8],
    dry_run: bool,
) -> Result<ImportReport> {
    let delivery = ctx.store.procurement().get_delivery(id).await?;
    let view = contract_view(ctx, delivery.contract_id).await?;
    if view.contract.status != ContractStatus::Approved {
        return Err(LifecycleError::Conflict(format!(
            "contract {} is {}: serials are imported only against an approved contract",
            view.contract.number, view.contract.status
        )));
    }
    let rows = match parse_serials(csv) {
        Ok(rows) => rows,
        Err(problems) => {
            return Ok(ImportReport {
                dry_run,
                rows: 0,
                devices: vec![],
                problems,
            });
        }
    };
    let mut problems = Vec::new();
    let mut models: BTreeMap<u32, DeviceModel> = BTreeMap::new();
    for l in &view.lines {
        models.insert(l.line.line_no, model(ctx, l.line.model_id).await?);
    }
    let mut wanted: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    let mut devices = Vec::new();
    let mut news = Vec::new();
    for r in &rows {
        let line_no = match r.contract_line {
            Some(n) => n,
            None if view.lines.len() == 1 => view.lines[0].line.line_no,
            None => {
                problems.push(problem(
                    r.line,
                    "contract_line",
                    "",
                    format!("the contract has {} lines: say which one", view.lines.len()),
                ));
                continue;
            }
        };
        let Some(m) = models.get(&line_no) else {
            problems.push(problem(
                r.line,
                "contract_line",
                &line_no.to_string(),
                format!("contract {} has no line {line_no}", view.contract.number),
            ));
            continue;
        };
        let address = match &r.comm_address {
            Some(a) => a.clone(),
            None => match r.serial.as_str().parse::<CommAddress>() {
                Ok(a) => a,
                Err(e) => {
                    problems.push(problem(
                        r.line,
                        "comm_address",
                        "",
                        format!("blank, and the serial is no address: {e}"),
                    ));
                    continue;
                }
            },
        };
        if let Err(e) = address.check_for(m.protocol) {
            problems.push(problem(
                r.line,
                "comm_address",
                address.as_str(),
                format!("{e} (model {} speaks {})", m.model, m.protocol),
            ));
            continue;
        }
        wanted.entry(line_no).or_default().push(r.line);
        devices.push(ImportedDevice {
            line: r.line,
            serial: r.serial.as_str().to_owned(),
            contract_line: line_no,
            meter_id: None,
        });
        news.push(NewDevice {
            serial: r.serial.clone(),
            comm_address: address,
            line_no,
            model: m.clone(),
            note: r.note.clone(),
        });
    }
    for (line_no, file_lines) in &wanted {
        let left = view
            .lines
            .iter()
            .find(|l| l.line.line_no == *line_no)
            .map_or(0, |l| l.outstanding);
        if file_lines.len() as u64 > left {
            let first_extra = file_lines[usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(file_lines.len() - 1)];
            problems.push(SerialProblem {
                line: first_extra,
                column: Some("contract_line".into()),
                value: Some(line_no.to_string()),
                message: format!(
                    "line {line_no} has {left} devices left to deliver; this file brings {} (the first one too many is on line {first_extra})",
                    file_lines.len()
                ),
            });
        }
    }
    let serials: Vec<String> = news.iter().map(|n| n.serial.as_str().to_owned()).collect();
    let known: BTreeSet<String> = ctx
        .store
        .procurement()
        .existing_serials(ctx.org, &serials)
        .await?
        .into_iter()
        .collect();
    for d in &devices {
        if known.contains(&d.serial) {
            problems.push(problem(
                d.line,
                "serial",
                &d.serial,
                "a meter with this serial is already registered".into(),
            ));
        }
    }
    problems.sort_by_key(|p| p.line);
    let count = rows.len();
    if !problems.is_empty() {
        return Ok(ImportReport {
            dry_run,
            rows: count,
            devices: vec![],
            problems,
        });
    }
    if !dry_run {
        let ids = ctx
            .store
            .procurement()
            .receive_devices(&delivery, ctx.org, &news, ctx.actor, ctx.now_ms())
            .await?;
        for (d, id) in devices.iter_mut().zip(ids) {
            d.meter_id = Some(id);
        }
    }
    Ok(ImportReport {
        dry_run,
        rows: count,
        devices,
        problems,
    })
}

/// The acceptance check as submitted.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckIn {
    pub appearance_ok: bool,
    pub accessories_ok: bool,
    pub function_ok: bool,
    /// Required when any check failed: why it is rejected.
    #[serde(default)]
    pub reason: String,
}

/// 验收: records the check; all three pass → accepted (with its warranty
/// end), any fails → rejected with the reason.
pub async fn check_device(ctx: &Ctx<'_>, meter: MeterId, c: CheckIn) -> Result<DeviceRecord> {
    let d = ctx.device(meter).await?;
    let passed = c.appearance_ok && c.accessories_ok && c.function_ok;
    let reason = if passed {
        opt_text("reason", &c.reason, 500)?
    } else {
        text("reason", &c.reason, 500).map_err(|_| {
            LifecycleError::Invalid("reason: say why the device fails its acceptance check".into())
        })?
    };
    let action = if passed {
        Action::Accept
    } else {
        Action::Reject
    };
    let detail = serde_json::json!({
        "appearance_ok": c.appearance_ok, "accessories_ok": c.accessories_ok, "function_ok": c.function_ok,
    })
    .to_string();
    let why = if passed && reason.is_empty() {
        "acceptance check passed".to_owned()
    } else {
        reason.clone()
    };
    let t = ctx.transition(&d, action, &why, detail)?;
    let warranty = match (passed, d.contract_id) {
        (true, Some(c)) => {
            let months = contract(ctx, c).await?.warranty_months;
            Some(lifecycle::warranty_end(ctx.today, months)?)
        }
        _ => None,
    };
    let check = AcceptanceCheck {
        meter_id: meter,
        appearance_ok: c.appearance_ok,
        accessories_ok: c.accessories_ok,
        function_ok: c.function_ok,
        passed,
        reason,
        checked_by: ctx.actor.to_owned(),
        checked_at_ms: ctx.now_ms(),
    };
    ctx.store
        .procurement()
        .record_acceptance(&check, ctx.today, warranty, &t)
        .await?;
    ctx.device(meter).await
}

/// The moves that need nothing but a reason (the rest have their own
/// service: accept/reject, install, commission, remove, scrap).
pub const SIMPLE_ACTIONS: &[Action] = &[
    Action::ReturnToSupplier,
    Action::Stock,
    Action::ReportFault,
    Action::StartRepair,
    Action::Repair,
    Action::Restock,
    Action::Retire,
];

/// A move with a reason: return to supplier, stock, fault, repair, restock, retire.
pub async fn act(
    ctx: &Ctx<'_>,
    meter: MeterId,
    action: Action,
    reason: &str,
) -> Result<DeviceRecord> {
    if !SIMPLE_ACTIONS.contains(&action) {
        return Err(LifecycleError::Invalid(format!(
            "action: {action} has its own route; here: {}",
            SIMPLE_ACTIONS
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let d = ctx.device(meter).await?;
    let reason = text("reason", reason, 500)?;
    let t = ctx.transition(&d, action, &reason, "{}".into())?;
    ctx.store.procurement().move_device(&t).await?;
    ctx.device(meter).await
}

/// 拆除: takes the meter out of its unit — the engine stops billing it
/// (after its last reading) — and moves it to removed.
pub async fn remove(ctx: &Ctx<'_>, meter: MeterId, reason: &str) -> Result<DeviceRecord> {
    let d = ctx.device(meter).await?;
    let reason = text("reason", reason, 500)?;
    let t = ctx.transition(&d, Action::Remove, &reason, "{}".into())?;
    if d.unit_id.is_some() || d.account_id.is_some() {
        let writer = ctx.writer()?;
        ctx.store.assign_meter(meter, None, None).await?;
        ctx.store.set_meter_tariff(meter, None).await?;
        yufu_writer::sync::sync_meter(ctx.store, writer, meter).await?;
    }
    ctx.store.procurement().move_device(&t).await?;
    ctx.device(meter).await
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisposalIn {
    /// e.g. `recycler`, `returned_to_maker`, `destroyed`.
    pub method: String,
    pub reason: String,
    /// The recycler's certificate or disposal note number.
    pub record: String,
}

/// 报废: removed → scrapped with the disposal record.
pub async fn scrap(ctx: &Ctx<'_>, meter: MeterId, x: DisposalIn) -> Result<DeviceRecord> {
    let d = ctx.device(meter).await?;
    let disposal = Disposal {
        meter_id: meter,
        method: text("method", &x.method, 64)?,
        reason: text("reason", &x.reason, 500)?,
        record: text("record", &x.record, 200)?,
        disposed_by: ctx.actor.to_owned(),
        disposed_at_ms: ctx.now_ms(),
    };
    let detail =
        serde_json::json!({"method": disposal.method, "record": disposal.record}).to_string();
    let t = ctx.transition(&d, Action::Scrap, &disposal.reason, detail)?;
    ctx.store.field().record_disposal(&disposal, &t).await?;
    ctx.device(meter).await
}

/// Everything about one device (the device page).
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeviceView {
    pub device: DeviceRecord,
    pub history: Vec<DeviceEvent>,
    pub acceptance: Option<AcceptanceCheck>,
    /// Whether the warranty still runs today (None: no warranty known).
    pub under_warranty: Option<bool>,
    pub installations: Vec<InstallationPlan>,
    pub commissioning: Vec<CommissioningRun>,
    pub swaps: Vec<MeterSwap>,
    pub disposal: Option<Disposal>,
    /// The moves possible from here.
    pub next_actions: Vec<Action>,
}

pub async fn device_view(ctx: &Ctx<'_>, meter: MeterId) -> Result<DeviceView> {
    let device = ctx.device(meter).await?;
    let history = ctx.store.procurement().device_history(meter).await?;
    let acceptance = ctx.store.procurement().acceptance_check(meter).await?;
    let installations = ctx
        .store
        .field()
        .list_installations(
            ctx.org,
            &InstallationFilter {
                meter: Some(meter),
                ..InstallationFilter::default()
            },
        )
        .await?;
    let commissioning = ctx.store.field().list_runs(meter).await?;
    let swaps = ctx.store.field().swaps_of(meter).await?;
    let disposal = ctx.store.field().disposal(meter).await?;
    let next_actions = Action::ALL
        .iter()
        .copied()
        .filter(|a| lifecycle::next(device.state, *a).is_ok())
        .collect();
    Ok(DeviceView {
        under_warranty: device.warranty_ends_on.map(|w| w >= ctx.today),
        device,
        history,
        acceptance,
        installations,
        commissioning,
        swaps,
        disposal,
        next_actions,
    })
}

// --- certifications and installation ---

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificationIn {
    pub staff_user_id: StaffUserId,
    pub utility: Utility,
    pub number: String,
    pub issued_on: Date,
    pub expires_on: Date,
}

pub async fn add_certification(ctx: &Ctx<'_>, c: CertificationIn) -> Result<Certification> {
    let staff = ctx.store.access().get_staff_user(c.staff_user_id).await?;
    if staff.organisation_id != ctx.org {
        return Err(LifecycleError::NotFound(format!(
            "staff user {}",
            c.staff_user_id
        )));
    }
    if c.expires_on < c.issued_on {
        return Err(LifecycleError::Invalid(
            "expires_on is before issued_on".into(),
        ));
    }
    let cert = Certification {
        id: CertificationId::new(),
        organisation_id: ctx.org,
        staff_user_id: c.staff_user_id,
        utility: c.utility,
        number: text("number", &c.number, 64)?,
        issued_on: c.issued_on,
        expires_on: c.expires_on,
        revoked_at_ms: None,
        created_at_ms: ctx.now_ms(),
    };
    ctx.store.field().add_certification(&cert).await?;
    Ok(cert)
}

/// The certification gate (M2/M8): `installer` must hold a valid
/// certification for `utility` on `on`, and be an active staff member of
/// the organisation; else refused, saying what they do hold.
pub async fn require_certified(
    ctx: &Ctx<'_>,
    installer: StaffUserId,
    utility: Utility,
    on: Date,
) -> Result<Certification> {
    let staff = ctx
        .store
        .access()
        .get_staff_user(installer)
        .await
        .map_err(|_| {
            LifecycleError::Invalid(format!("installer: staff user {installer} does not exist"))
        })?;
    if staff.organisation_id != ctx.org || !staff.active {
        return Err(LifecycleError::Refused(format!(
            "installer {} is not an active staff member here",
            staff.username
        )));
    }
    if let Some(c) = ctx
        .store
        .field()
        .valid_certification(installer, utility, on)
        .await?
    {
        return Ok(c);
    }
    let held: Vec<String> = ctx
        .store
        .field()
        .list_certifications(ctx.org, Some(installer))
        .await?
        .iter()
        .map(|c| {
            let state = if c.revoked_at_ms.is_some() {
                "revoked".to_owned()
            } else if c.expires_on < on {
                format!("expired {}", c.expires_on)
            } else if c.issued_on > on {
                format!("valid from {}", c.issued_on)
            } else {
                format!("valid until {}", c.expires_on)
            };
            format!("{} {} ({state})", c.utility, c.number)
        })
        .collect();
    Err(LifecycleError::Refused(format!(
        "installer {} holds no valid {utility} certification on {on}; they hold: {}",
        staff.username,
        if held.is_empty() {
            "none".to_owned()
        } else {
            held.join(", ")
        }
    )))
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanIn {
    pub meter_id: MeterId,
    pub unit_id: UnitId,
    #[serde(default)]
    pub account_id: Option<AccountId>,
    #[serde(default)]
    pub tariff_code: Option<String>,
    pub scheduled_on: Date,
    pub installer_id: StaffUserId,
    #[serde(default)]
    pub note: String,
}

/// 安装计划: a device in stock into a unit, on a day, by a certified installer.
pub async fn plan_installation(ctx: &Ctx<'_>, p: PlanIn) -> Result<InstallationPlan> {
    let d = ctx.device(p.meter_id).await?;
    lifecycle::next(d.state, Action::Install)
        .map_err(|e| LifecycleError::Conflict(format!("{}: {e}", d.serial)))?;
    let unit = ctx.store.get_unit(p.unit_id).await?;
    let building = ctx.store.get_building(unit.building_id).await?;
    let site = ctx.store.get_site(building.site_id).await?;
    if site.organisation_id != ctx.org {
        return Err(LifecycleError::NotFound(format!("unit {}", p.unit_id)));
    }
    if let Some(a) = p.account_id {
        let acc = ctx.store.get_account(a).await?;
        if acc.organisation_id != ctx.org {
            return Err(LifecycleError::NotFound(format!("account {a}")));
        }
    }
    if let Some(code) = &p.tariff_code {
        let code: TariffCode = code.parse()?;
        if ctx.store.latest_tariff(ctx.org, &code).await?.is_none() {
            return Err(LifecycleError::Invalid(format!(
                "tariff_code: no tariff {code}"
            )));
        }
    }
    if p.scheduled_on < ctx.today {
        return Err(LifecycleError::Invalid(
            "scheduled_on is in the past".into(),
        ));
    }
    require_certified(ctx, p.installer_id, d.utility, p.scheduled_on).await?;
    let plan = InstallationPlan {
        id: InstallationId::new(),
        organisation_id: ctx.org,
        meter_id: p.meter_id,
        unit_id: p.unit_id,
        site_id: site.id,
        account_id: p.account_id,
        tariff_code: p.tariff_code,
        scheduled_on: p.scheduled_on,
        installer_id: p.installer_id,
        status: InstallationStatus::Planned,
        checklist: None,
        opening_reading: None,
        note: opt_text("note", &p.note, 500)?,
        created_by: ctx.actor.to_owned(),
        created_at_ms: ctx.now_ms(),
        completed_by: None,
        completed_at_ms: None,
    };
    ctx.store.field().create_installation(&plan).await?;
    Ok(plan)
}

pub async fn installation(ctx: &Ctx<'_>, id: InstallationId) -> Result<InstallationPlan> {
    let p = ctx.store.field().get_installation(id).await?;
    if p.organisation_id != ctx.org {
        return Err(LifecycleError::NotFound(format!("installation {id}")));
    }
    Ok(p)
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteIn {
    pub checklist: Vec<CheckResult>,
    /// The register as read on the new meter when fitted (base units:
    /// Wh for electricity, litres for water and gas).
    pub opening_reading: u64,
}

/// Completes an installation: the checklist must be whole and passed (a
/// failed one is recorded and refused), the installer still certified
/// today; then the meter goes on its unit (and account and tariff, so the
/// engine bills it from its opening reading) and moves to installed.
pub async fn complete_installation(
    ctx: &Ctx<'_>,
    id: InstallationId,
    c: CompleteIn,
) -> Result<InstallationPlan> {
    let plan = installation(ctx, id).await?;
    if plan.status != InstallationStatus::Planned {
        return Err(LifecycleError::Conflict(format!(
            "installation {id} is {}",
            plan.status
        )));
    }
    let d = ctx.device(plan.meter_id).await?;
    let t = ctx.transition(&d, Action::Install, "installed", String::new())?;
    let verdict = lifecycle::judge_checklist(d.utility, &c.checklist)?;
    let checklist =
        serde_json::to_string(&c.checklist).map_err(|e| LifecycleError::Invalid(e.to_string()))?;
    if let ChecklistVerdict::Failed(items) = verdict {
        ctx.store.field().record_checklist(id, &checklist).await?;
        let notes: Vec<String> = c
            .checklist
            .iter()
            .filter(|r| items.contains(&r.item))
            .map(|r| {
                if r.note.is_empty() {
                    r.item.to_string()
                } else {
                    format!("{} ({})", r.item, r.note)
                }
            })
            .collect();
        return Err(LifecycleError::Refused(format!(
            "the installation checklist failed: {}; it is recorded, the meter stays in stock — fix and record again",
            notes.join(", ")
        )));
    }
    require_certified(ctx, plan.installer_id, d.utility, ctx.today).await?;
    let opening = i64::try_from(c.opening_reading)
        .map_err(|_| LifecycleError::Invalid("opening_reading is too large".into()))?;
    let writer = ctx.writer()?;
    ctx.store
        .assign_meter(plan.meter_id, Some(plan.unit_id), plan.account_id)
        .await?;
    if let Some(code) = &plan.tariff_code {
        ctx.store
            .set_meter_tariff(plan.meter_id, Some(&code.parse()?))
            .await?;
    }
    yufu_writer::sync::sync_meter(ctx.store, writer, plan.meter_id).await?;
    if plan.account_id.is_some() && plan.tariff_code.is_some() {
        // The opening reading: the engine's start point for this meter.
        writer
            .ingest(vec![yufu_engine::ReadingIn {
                meter: plan.meter_id,
                at: ctx.now,
                register: c.opening_reading,
                rates: None,
            }])
            .await?;
    }
    let detail =
        serde_json::json!({"installation": id.to_string(), "unit": plan.unit_id.to_string(),
        "opening_reading": c.opening_reading, "checklist": c.checklist})
        .to_string();
    let t = Transition {
        detail,
        reason: format!("installation {id}"),
        ..t
    };
    Ok(ctx
        .store
        .field()
        .complete_installation(id, &checklist, opening, ctx.actor, ctx.now_ms(), &t)
        .await?)
}

// --- commissioning ---

/// 调试: runs the automated end-to-end test of an installed meter; passed →
/// commissioned → in service, failed → stays installed with the reason.
pub async fn commission_meter(
    ctx: &Ctx<'_>,
    meter: MeterId,
    step_timeout: std::time::Duration,
) -> Result<CommissioningRun> {
    let writer = ctx.writer()?;
    let d = ctx.device(meter).await?;
    lifecycle::next(d.state, Action::Commission)
        .map_err(|e| LifecycleError::Conflict(format!("{}: {e}", d.serial)))?;
    let run = CommissioningRun {
        id: MeterId::new().to_string(),
        meter_id: meter,
        outcome: RunOutcome::Running,
        steps: "[]".into(),
        reason: String::new(),
        started_by: ctx.actor.to_owned(),
        started_at_ms: ctx.now_ms(),
        finished_at_ms: None,
    };
    abandon_stale_runs(ctx, meter).await?;
    ctx.store.field().start_run(&run).await?;
    let mut opts = commission::CommissionOptions::new(format!("commission-{}", run.id));
    opts.step_timeout = step_timeout;
    let outcome = commission::run(ctx.store, writer, meter, &opts).await;
    let finished = Timestamp::now().as_millisecond();
    let (result, steps, reason, moves) = match outcome {
        Ok(report) => {
            let steps = serde_json::to_string(&report.steps).unwrap_or_else(|_| "[]".into());
            if report.passed() {
                let detail = serde_json::json!({"run": run.id}).to_string();
                let t1 = Transition {
                    meter,
                    from: DeviceState::Installed,
                    to: DeviceState::Commissioned,
                    action: Action::Commission,
                    actor: ctx.actor.to_owned(),
                    reason:
                        "commissioning passed: reading, test credit, deduction, balance, command"
                            .into(),
                    detail: detail.clone(),
                    at_ms: finished,
                };
                let t2 = Transition {
                    from: DeviceState::Commissioned,
                    to: DeviceState::InService,
                    action: Action::PutInService,
                    reason: "in service after commissioning".into(),
                    ..t1.clone()
                };
                (RunOutcome::Passed, steps, String::new(), vec![t1, t2])
            } else {
                let why = report
                    .failure()
                    .map(|f| format!("{}: {}", f.step.as_str(), f.detail))
                    .unwrap_or_else(|| "a step failed".into());
                (RunOutcome::Failed, steps, why, vec![])
            }
        }
        Err(e) => (RunOutcome::Failed, "[]".into(), e.to_string(), vec![]),
    };
    match ctx
        .store
        .field()
        .finish_run(&run.id, result, &steps, &reason, finished, &moves)
        .await
    {
        Ok(()) => {}
        // Someone moved the device while the run went on: the run is
        // recorded as failed, and the device stays where they put it.
        Err(StoreError::Conflict(why)) if !moves.is_empty() => {
            let reason = format!("all steps passed, but the device was moved meanwhile: {why}");
            ctx.store
                .field()
                .finish_run(&run.id, RunOutcome::Failed, &steps, &reason, finished, &[])
                .await?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(ctx.store.field().get_run(&run.id).await?)
}

/// A run still "running" long after any run could last (five steps of at
/// most a few minutes each) was cut off by a stop of the server: it is
/// closed as failed, so the meter can be commissioned again.
const STALE_RUN_MS: i64 = 15 * 60 * 1000;

async fn abandon_stale_runs(ctx: &Ctx<'_>, meter: MeterId) -> Result<()> {
    for r in ctx.store.field().list_runs(meter).await? {
        if r.outcome == RunOutcome::Running && ctx.now_ms() - r.started_at_ms > STALE_RUN_MS {
            ctx.store
                .field()
                .finish_run(
                    &r.id,
                    RunOutcome::Failed,
                    &r.steps,
                    "abandoned: the server stopped during the run",
                    ctx.now_ms(),
                    &[],
                )
                .await?;
        }
    }
    Ok(())
}

// --- swap ---

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwapIn {
    /// The replacement meter (in stock).
    pub new_meter_id: MeterId,
    /// The old meter's final register reading (billed).
    pub final_reading: u64,
    /// The new meter's own opening register reading.
    pub opening_reading: u64,
    /// When the readings were taken (RFC 3339); default now. Give them to
    /// make a retry of the same request recognise a swap already done.
    #[serde(default)]
    pub final_at: Option<Timestamp>,
    #[serde(default)]
    pub opening_at: Option<Timestamp>,
    pub reason: String,
}

/// 换表 with 数据迁移: bills the old meter's final reading, moves the unit,
/// account and tariff to the new meter from its opening reading, and records
/// both moves (old → removed, new → installed; commissioning puts the new
/// one in service). A meter in a rollout's later wave waits for the pilot's
/// approval.
pub async fn swap_meter(ctx: &Ctx<'_>, old: MeterId, s: SwapIn) -> Result<MeterSwap> {
    let writer = ctx.writer()?;
    let reason = text("reason", &s.reason, 500)?;
    let o = ctx.device(old).await?;
    let n = ctx.device(s.new_meter_id).await?;
    let t_old = ctx.transition(&o, Action::Remove, &reason, String::new())?;
    let t_new = ctx.transition(&n, Action::Install, &reason, String::new())?;
    let rollout = ctx.store.field().rollout_of(old).await?;
    if let Some((rid, wave)) = rollout {
        let r = ctx.store.field().get_rollout(rid).await?;
        if wave > 0 && r.pilot_approved_at_ms.is_none() {
            return Err(LifecycleError::Refused(format!(
                "meter {} is in wave {wave} of rollout '{}': its pilot group is not approved yet",
                o.serial, r.name
            )));
        }
    }
    let plan = swap::SwapPlan {
        old,
        new: s.new_meter_id,
        final_reading: s.final_reading,
        final_at: s.final_at.unwrap_or(ctx.now),
        final_rates: None,
        opening_reading: s.opening_reading,
        opening_at: s.opening_at.or(s.final_at).unwrap_or(ctx.now),
        opening_rates: None,
    };
    let out = swap::migrate(ctx.store, writer, &plan)
        .await
        .map_err(|e| match e {
            swap::SwapError::Store(s) => LifecycleError::from(s),
            swap::SwapError::Writer(w) => LifecycleError::Writer(w),
            other => LifecycleError::Refused(other.to_string()),
        })?;
    let at = Timestamp::now().as_millisecond();
    let record = MeterSwap {
        id: MeterId::new().to_string(),
        organisation_id: ctx.org,
        old_meter_id: old,
        new_meter_id: s.new_meter_id,
        account_id: out.account,
        unit_id: out.unit,
        final_reading: i64::try_from(s.final_reading).unwrap_or(i64::MAX),
        opening_reading: i64::try_from(s.opening_reading).unwrap_or(i64::MAX),
        final_charge: out.charged,
        rollout_id: rollout.map(|r| r.0),
        actor: ctx.actor.to_owned(),
        reason: reason.clone(),
        at_ms: at,
    };
    let detail = serde_json::json!({"swap": record.id, "old": o.serial, "new": n.serial,
        "final_reading": s.final_reading, "opening_reading": s.opening_reading,
        "final_charge_fen": out.charged.0, "balance_after_fen": out.balance_after.0})
    .to_string();
    let moves = [
        Transition {
            detail: detail.clone(),
            at_ms: at,
            reason: format!("swapped out for {}: {reason}", n.serial),
            ..t_old
        },
        Transition {
            detail,
            at_ms: at,
            reason: format!("swapped in for {}: {reason}", o.serial),
            ..t_new
        },
    ];
    ctx.store.field().record_swap(&record, &moves).await?;
    Ok(record)
}

// --- replacement ---

/// A device due for replacement and why.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DueDevice {
    pub meter_id: MeterId,
    pub serial: String,
    pub utility: Utility,
    pub model_id: DeviceModelId,
    pub site_id: Option<SiteId>,
    pub reasons: Vec<DueReason>,
}

/// 技术与寿命评估: every device in the field with a catalogue model, judged
/// on service life and fault rates (its own, and its model's against the
/// fleet's).
pub async fn due_for_replacement(
    ctx: &Ctx<'_>,
    policy: &ReplacementPolicy,
) -> Result<Vec<DueDevice>> {
    let facts = ctx
        .store
        .field()
        .model_fault_facts(ctx.org, ctx.now_ms())
        .await?;
    let by_model: BTreeMap<DeviceModelId, (u64, u64)> =
        facts.iter().map(|(m, f, d)| (*m, (*f, *d))).collect();
    let fleet_faults = facts.iter().map(|f| f.1).sum();
    let fleet_days = facts.iter().map(|f| f.2).sum();
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = ctx
            .store
            .field()
            .field_devices(ctx.org, after, 1000, ctx.now_ms())
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.meter_id);
        for d in &page {
            let (model_faults, model_days) = by_model.get(&d.model_id).copied().unwrap_or((0, 0));
            let start = Timestamp::from_millisecond(d.life_start_ms)
                .map(|t| jiff::tz::TimeZone::UTC.to_datetime(t).date())
                .unwrap_or(ctx.today);
            let reasons = evaluation::evaluate(
                &evaluation::DeviceFacts {
                    in_field_since: start,
                    service_life_years: d.service_life_years,
                    faults_last_365_days: d.faults_last_year,
                    model_faults,
                    model_device_days: model_days,
                    fleet_faults,
                    fleet_device_days: fleet_days,
                },
                ctx.today,
                policy,
            );
            if !reasons.is_empty() {
                out.push(DueDevice {
                    meter_id: d.meter_id,
                    serial: d.serial.clone(),
                    utility: d.utility,
                    model_id: d.model_id,
                    site_id: d.site_id,
                    reasons,
                });
            }
        }
        if page.len() < 1000 {
            break;
        }
    }
    Ok(out)
}

/// A cost–benefit question: replace `devices` meters with `model_id`.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostBenefitRequest {
    pub devices: u32,
    pub model_id: DeviceModelId,
    /// Per device; default: the model's list price.
    #[serde(default)]
    pub device_price_fen: Option<i64>,
    pub installation_fen: i64,
    pub commissioning_fen: i64,
    pub old_maintenance_per_year_fen: i64,
    pub new_maintenance_per_year_fen: i64,
    pub loss_saving_per_year_fen: i64,
    #[serde(default)]
    pub salvage_fen: i64,
}

pub async fn cost_benefit(ctx: &Ctx<'_>, r: CostBenefitRequest) -> Result<CostBenefit> {
    let m = model(ctx, r.model_id).await?;
    let input = CostBenefitIn {
        devices: r.devices,
        device_price: Fen(r.device_price_fen.unwrap_or(m.list_price.0)),
        installation: Fen(r.installation_fen),
        commissioning: Fen(r.commissioning_fen),
        old_maintenance_per_year: Fen(r.old_maintenance_per_year_fen),
        new_maintenance_per_year: Fen(r.new_maintenance_per_year_fen),
        loss_saving_per_year: Fen(r.loss_saving_per_year_fen),
        salvage: Fen(r.salvage_fen),
    };
    Ok(evaluation::cost_benefit(&input, m.service_life_years)?)
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutIn {
    pub name: String,
    /// The model the group is replaced with.
    pub model_id: DeviceModelId,
    /// The pilot group (试点).
    pub pilot: Vec<MeterId>,
    /// The waves after the pilot, in order.
    #[serde(default)]
    pub waves: Vec<Vec<MeterId>>,
}

pub async fn create_rollout(ctx: &Ctx<'_>, r: RolloutIn) -> Result<RolloutView> {
    model(ctx, r.model_id).await?;
    if r.pilot.is_empty() {
        return Err(LifecycleError::Invalid(
            "pilot: a rollout starts with a pilot group of at least one meter".into(),
        ));
    }
    let mut members = Vec::new();
    let mut seen = BTreeSet::new();
    for (wave, group) in std::iter::once(&r.pilot).chain(r.waves.iter()).enumerate() {
        for m in group {
            let d = ctx.device(*m).await?;
            if !seen.insert(*m) {
                return Err(LifecycleError::Invalid(format!(
                    "meter {} is listed twice",
                    d.serial
                )));
            }
            if !d.state.in_field() {
                return Err(LifecycleError::Invalid(format!(
                    "meter {} is {}, not in the field",
                    d.serial, d.state
                )));
            }
            members.push((*m, u32::try_from(wave).unwrap_or(u32::MAX)));
        }
    }
    let rollout = Rollout {
        id: RolloutId::new(),
        organisation_id: ctx.org,
        name: text("name", &r.name, 100)?,
        model_id: r.model_id,
        pilot_approved_by: None,
        pilot_approved_at_ms: None,
        created_by: ctx.actor.to_owned(),
        created_at_ms: ctx.now_ms(),
    };
    ctx.store.field().create_rollout(&rollout, &members).await?;
    rollout_view(ctx, rollout.id).await
}

/// A rollout: its members by wave and the pilot's results against the rest.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RolloutView {
    pub rollout: Rollout,
    pub members: Vec<RolloutMember>,
    /// Pilot members swapped / in the pilot.
    pub pilot_swapped: usize,
    pub pilot_size: usize,
    /// The new meters of the pilot since their swap, against the rest of
    /// the group (the meters not yet replaced), over the last 30 days.
    pub pilot_facts: GroupFactsRow,
    pub rest_facts: GroupFactsRow,
    pub comparison: evaluation::PilotComparison,
}

/// The window the pilot is judged over.
const PILOT_WINDOW_MS: i64 = 30 * 86_400_000;
/// The pilot needs this many device-days before it can be judged.
const PILOT_MIN_DEVICE_DAYS: u64 = 7;

pub async fn rollout_view(ctx: &Ctx<'_>, id: RolloutId) -> Result<RolloutView> {
    let rollout = ctx.store.field().get_rollout(id).await?;
    if rollout.organisation_id != ctx.org {
        return Err(LifecycleError::NotFound(format!("rollout {id}")));
    }
    let members = ctx.store.field().rollout_members(id).await?;
    let pilot: Vec<MeterId> = members
        .iter()
        .filter(|m| m.wave == 0)
        .filter_map(|m| m.new_meter_id)
        .collect();
    let rest: Vec<MeterId> = members
        .iter()
        .filter(|m| m.new_meter_id.is_none())
        .map(|m| m.meter_id)
        .collect();
    let to = ctx.now_ms();
    let from = to - PILOT_WINDOW_MS;
    let pilot_facts = ctx.store.field().group_facts(&pilot, from, to).await?;
    let rest_facts = ctx.store.field().group_facts(&rest, from, to).await?;
    let facts = |g: &GroupFactsRow| evaluation::GroupFacts {
        devices: g.devices,
        faults: g.faults,
        device_days: g.device_days,
        // One reading a day is the least a healthy meter sends.
        reads_expected: g.device_days,
        reads_received: g.reporting_days.min(g.device_days),
    };
    let comparison = evaluation::compare_pilot(
        &facts(&pilot_facts),
        &facts(&rest_facts),
        PILOT_MIN_DEVICE_DAYS,
    );
    Ok(RolloutView {
        pilot_swapped: pilot.len(),
        pilot_size: members.iter().filter(|m| m.wave == 0).count(),
        rollout,
        members,
        pilot_facts,
        rest_facts,
        comparison,
    })
}

/// Approves the pilot so the later waves may be swapped: only once every
/// pilot meter is swapped, and — when the comparison is not favourable —
/// only with an explicit override reason.
pub async fn approve_pilot(
    ctx: &Ctx<'_>,
    id: RolloutId,
    override_reason: Option<&str>,
) -> Result<RolloutView> {
    let view = rollout_view(ctx, id).await?;
    if view.pilot_swapped < view.pilot_size {
        return Err(LifecycleError::Refused(format!(
            "the pilot is not finished: {} of {} meters swapped",
            view.pilot_swapped, view.pilot_size
        )));
    }
    let favourable = matches!(
        view.comparison.verdict,
        evaluation::PilotVerdict::Better | evaluation::PilotVerdict::NoWorse
    );
    if !favourable && override_reason.map(str::trim).unwrap_or("").is_empty() {
        return Err(LifecycleError::Refused(format!(
            "the pilot's results do not support the next waves ({:?}); approve with an override reason if you must",
            view.comparison.verdict
        )));
    }
    if !ctx
        .store
        .field()
        .approve_pilot(id, ctx.actor, ctx.now_ms())
        .await?
    {
        return Err(LifecycleError::Conflict(
            "the pilot was already approved".into(),
        ));
    }
    rollout_view(ctx, id).await
}

// --- demand ---

/// 需求评估 for one site.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Demand {
    pub site_id: SiteId,
    pub lines: Vec<DemandLine>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DemandLine {
    pub utility: Utility,
    /// A catalogue model to buy, when one is known (the site's usual one,
    /// else the catalogue's first of the utility; for replacements, the
    /// same model).
    pub model_id: Option<DeviceModelId>,
    pub model: Option<String>,
    /// Units of the site without a meter of this utility.
    pub new_installations: u64,
    /// Devices at the site due for replacement.
    pub replacements: u64,
    pub total: u64,
}

pub async fn demand(ctx: &Ctx<'_>, site: SiteId, utilities: &[Utility]) -> Result<Demand> {
    let s = ctx.store.get_site(site).await?;
    if s.organisation_id != ctx.org {
        return Err(LifecycleError::NotFound(format!("site {site}")));
    }
    let coverage = ctx.store.field().site_coverage(site).await?;
    let catalogue = ctx.store.procurement().list_models(ctx.org).await?;
    let due = due_for_replacement(ctx, &ReplacementPolicy::default()).await?;
    let name = |id: DeviceModelId| {
        catalogue
            .iter()
            .find(|m| m.id == id)
            .map(|m| format!("{} {}", m.maker, m.model))
    };
    let mut lines: BTreeMap<(&'static str, Option<DeviceModelId>), (Utility, u64, u64)> =
        BTreeMap::new();
    for c in &coverage {
        if !utilities.contains(&c.utility) {
            continue;
        }
        let missing = c.units.saturating_sub(c.units_with_meter);
        if missing == 0 {
            continue;
        }
        let m = c.usual_model.or_else(|| {
            catalogue
                .iter()
                .find(|m| m.utility == c.utility)
                .map(|m| m.id)
        });
        lines
            .entry((c.utility.as_str(), m))
            .or_insert((c.utility, 0, 0))
            .1 += missing;
    }
    for d in due.iter().filter(|d| d.site_id == Some(site)) {
        lines
            .entry((d.utility.as_str(), Some(d.model_id)))
            .or_insert((d.utility, 0, 0))
            .2 += 1;
    }
    Ok(Demand {
        site_id: site,
        lines: lines
            .into_iter()
            .map(|((_, model_id), (utility, n, r))| DemandLine {
                utility,
                model: model_id.and_then(name),
                model_id,
                new_installations: n,
                replacements: r,
                total: n + r,
            })
            .collect(),
    })
}
