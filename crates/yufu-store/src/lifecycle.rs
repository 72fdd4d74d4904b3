//! What the device lifecycle keeps (mission M1, M2, M4): the catalogue,
//! suppliers, purchase contracts, deliveries and acceptance checks, each
//! device's inventory state with its full history, staff certifications,
//! installation plans, commissioning runs, meter swaps, replacement
//! rollouts and disposals.
//!
//! Two traits, each implemented once in SQL for both backends:
//! [`Procurement`] (`procurement_sql.rs`: catalogue to stock, plus the
//! device record and its history) and [`Field`] (`field_sql.rs`: from
//! installation to the scrapyard). The rules (which move is legal, warranty,
//! checklists) are `yufu_domain::lifecycle`; the services that apply them
//! are in `yufu-lifecycle`. A store method that moves a device takes a
//! [`Transition`] and applies it in the same transaction as the rest of its
//! work, refusing it ([`StoreError::Conflict`](crate::StoreError)) when the
//! device is no longer in `from` — two people acting at once cannot both win.

use async_trait::async_trait;
use yufu_domain::lifecycle::{Action, DeviceState};
use yufu_domain::{
    AccountId, CertificationId, ContractId, DeliveryId, DeviceModelId, Fen, InstallationId,
    MeterId, MeterProtocol, MeterSerial, OrganisationId, RolloutId, SiteId, StaffUserId,
    SupplierId, UnitId, Utility,
};

use crate::StoreResult;

/// A small status stored as its snake_case text.
macro_rules! text_status {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} '{other}', expected one of: {}",
                        stringify!($name),
                        concat!($($text, " "),+).trim_end()
                    )),
                }
            }
        }
    };
}

// --- catalogue and suppliers ---

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct DeviceModel {
    pub id: DeviceModelId,
    pub organisation_id: OrganisationId,
    pub maker: String,
    pub model: String,
    pub utility: Utility,
    pub protocol: MeterProtocol,
    /// 1 or 3 (water and gas meters: 1).
    pub phases: u8,
    /// e.g. `1`, `2`, `B` (GB/T 17215, JJG 162).
    pub accuracy_class: String,
    pub service_life_years: u16,
    /// `remote_switch`, `remote_valve`, `multi_rate`, `prepaid_card`, …
    pub features: Vec<String>,
    pub list_price: Fen,
    pub created_at_ms: i64,
}

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Supplier {
    pub id: SupplierId,
    pub organisation_id: OrganisationId,
    pub name: String,
    pub contact_name: String,
    pub contact_phone: String,
    pub address: String,
    pub created_at_ms: i64,
}

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Qualification {
    pub id: String,
    pub supplier_id: SupplierId,
    /// e.g. 营业执照, 计量器具型式批准证书, ISO 9001.
    pub name: String,
    pub number: String,
    pub expires_on: jiff::civil::Date,
    pub created_at_ms: i64,
}

/// What a supplier's score is computed from (see
/// `yufu_domain::evaluation::supplier_score`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize)]
pub struct SupplierFactsRow {
    /// Acceptance checks of its devices, and how many passed.
    pub checked: u64,
    pub passed: u64,
    /// Devices delivered, and how many on or before their line's due day.
    pub delivered: u64,
    pub delivered_on_time: u64,
    /// Faults of its devices in the field, and the days they spent there.
    pub field_faults: u64,
    pub device_days: u64,
}

// --- contracts and deliveries ---

text_status!(
    /// A purchase contract's approval state.
    ContractStatus {
        Draft = "draft",
        Approved = "approved",
        Cancelled = "cancelled",
    }
);

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct ContractLine {
    pub line_no: u32,
    pub model_id: DeviceModelId,
    pub quantity: u32,
    pub unit_price: Fen,
    pub delivery_due: jiff::civil::Date,
}

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Contract {
    pub id: ContractId,
    pub organisation_id: OrganisationId,
    /// The operator's contract number, unique in the organisation.
    pub number: String,
    pub supplier_id: SupplierId,
    pub status: ContractStatus,
    pub transport: Fen,
    pub installation: Fen,
    pub commissioning: Fen,
    pub warranty_months: u16,
    pub after_sales: String,
    pub created_by: String,
    /// The creator's role: approval must come from another role.
    pub created_by_role: String,
    pub created_at_ms: i64,
    pub approved_by: Option<String>,
    pub approved_at_ms: Option<i64>,
    pub lines: Vec<ContractLine>,
}

/// Devices of one contract line by state: the delivery progress.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct LineProgress {
    pub line_no: u32,
    pub state: DeviceState,
    pub devices: u64,
}

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Delivery {
    pub id: DeliveryId,
    pub contract_id: ContractId,
    /// The supplier's delivery note (送货单) number.
    pub note_number: String,
    pub delivered_on: jiff::civil::Date,
    pub received_by: String,
    pub created_at_ms: i64,
}

// --- devices ---

/// A move of a device's state, with who, when and why; applied by the
/// store only if the device is still in `from`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transition {
    pub meter: MeterId,
    pub from: DeviceState,
    pub to: DeviceState,
    pub action: Action,
    /// As in the audit log: `user:NAME`, `token:NAME`, `cli:USER`, `system`.
    pub actor: String,
    pub reason: String,
    /// JSON behind the move (the check, checklist, commissioning steps, …).
    pub detail: String,
    pub at_ms: i64,
}

/// A device as the lifecycle sees it: the meter plus its lifecycle record.
/// A meter registered without one (older routes, imports, the demo) shows
/// the state of its `meters.status` and no procurement data.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct DeviceRecord {
    pub meter_id: MeterId,
    pub organisation_id: OrganisationId,
    pub serial: String,
    pub utility: Utility,
    pub protocol: MeterProtocol,
    pub comm_address: String,
    pub model_name: String,
    pub state: DeviceState,
    pub state_since_ms: Option<i64>,
    pub model_id: Option<DeviceModelId>,
    pub contract_id: Option<ContractId>,
    pub line_no: Option<u32>,
    pub delivery_id: Option<DeliveryId>,
    pub delivered_on: Option<jiff::civil::Date>,
    pub accepted_on: Option<jiff::civil::Date>,
    pub warranty_ends_on: Option<jiff::civil::Date>,
    pub unit_id: Option<UnitId>,
    pub account_id: Option<AccountId>,
    pub site_id: Option<SiteId>,
    /// Faults reported since it was registered.
    pub faults: u32,
    /// Days in the field (in service, faulty or under repair) up to `now`.
    pub field_days: u64,
    /// Whether it has a lifecycle record yet.
    pub tracked: bool,
}

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct DeviceEvent {
    pub id: String,
    pub meter_id: MeterId,
    pub from_state: Option<DeviceState>,
    pub to_state: DeviceState,
    pub action: String,
    pub actor: String,
    pub reason: String,
    pub detail: String,
    pub at_ms: i64,
}

/// A device delivered against a contract line (to be created `received`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewDevice {
    pub serial: MeterSerial,
    pub comm_address: yufu_domain::CommAddress,
    pub line_no: u32,
    pub model: DeviceModel,
    pub note: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DeviceFilter {
    pub state: Option<DeviceState>,
    pub model_id: Option<DeviceModelId>,
    pub contract_id: Option<ContractId>,
    pub delivery_id: Option<DeliveryId>,
    /// Serial prefix.
    pub serial: Option<String>,
}

/// 到货验收: the three checks and the verdict.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct AcceptanceCheck {
    pub meter_id: MeterId,
    pub appearance_ok: bool,
    pub accessories_ok: bool,
    pub function_ok: bool,
    pub passed: bool,
    pub reason: String,
    pub checked_by: String,
    pub checked_at_ms: i64,
}

#[async_trait]
pub trait Procurement: Send + Sync {
    // --- catalogue ---
    /// Conflict when the organisation already has this maker + model.
    async fn create_model(&self, m: &DeviceModel) -> StoreResult<()>;
    async fn get_model(&self, id: DeviceModelId) -> StoreResult<DeviceModel>;
    async fn list_models(&self, org: OrganisationId) -> StoreResult<Vec<DeviceModel>>;

    // --- suppliers ---
    /// Conflict when the organisation already has a supplier of this name.
    async fn create_supplier(&self, s: &Supplier) -> StoreResult<()>;
    async fn get_supplier(&self, id: SupplierId) -> StoreResult<Supplier>;
    async fn list_suppliers(&self, org: OrganisationId) -> StoreResult<Vec<Supplier>>;
    async fn add_qualification(&self, q: &Qualification) -> StoreResult<()>;
    async fn qualifications(&self, supplier: SupplierId) -> StoreResult<Vec<Qualification>>;
    /// The data behind the supplier's score, with time in the field counted
    /// up to `now_ms`.
    async fn supplier_facts(
        &self,
        supplier: SupplierId,
        now_ms: i64,
    ) -> StoreResult<SupplierFactsRow>;

    // --- contracts ---
    /// A contract with its lines, as a draft. Conflict on a number the
    /// organisation already used.
    async fn create_contract(&self, c: &Contract) -> StoreResult<()>;
    async fn get_contract(&self, id: ContractId) -> StoreResult<Contract>;
    async fn list_contracts(&self, org: OrganisationId) -> StoreResult<Vec<Contract>>;
    /// Draft → approved or cancelled, recording who (approval) and when.
    /// Conflict when it is no longer a draft.
    async fn set_contract_status(
        &self,
        id: ContractId,
        to: ContractStatus,
        by: &str,
        at_ms: i64,
    ) -> StoreResult<Contract>;
    /// Devices of each line by state.
    async fn contract_progress(&self, id: ContractId) -> StoreResult<Vec<LineProgress>>;

    // --- deliveries ---
    /// Conflict on a delivery note number already recorded for the contract.
    async fn create_delivery(&self, d: &Delivery) -> StoreResult<()>;
    async fn get_delivery(&self, id: DeliveryId) -> StoreResult<Delivery>;
    async fn list_deliveries(&self, contract: ContractId) -> StoreResult<Vec<Delivery>>;
    /// Which of `serials` the organisation already has a meter for.
    async fn existing_serials(
        &self,
        org: OrganisationId,
        serials: &[String],
    ) -> StoreResult<Vec<String>>;
    /// Creates the delivered devices, each a meter (`meters.status`
    /// in_stock) with a lifecycle record in state `received` and two history
    /// rows (ordered under the contract line; received with the delivery),
    /// all in one transaction. Conflict naming the serial when one exists.
    async fn receive_devices(
        &self,
        delivery: &Delivery,
        org: OrganisationId,
        devices: &[NewDevice],
        actor: &str,
        at_ms: i64,
    ) -> StoreResult<Vec<MeterId>>;
    /// Records the acceptance check and its move (received → accepted or
    /// rejected); an accepted device gets `accepted_on` and, with the
    /// contract's warranty, `warranty_ends_on`.
    async fn record_acceptance(
        &self,
        check: &AcceptanceCheck,
        accepted_on: jiff::civil::Date,
        warranty_ends_on: Option<jiff::civil::Date>,
        t: &Transition,
    ) -> StoreResult<()>;
    async fn acceptance_check(&self, meter: MeterId) -> StoreResult<Option<AcceptanceCheck>>;

    // --- devices ---
    /// The device's record at `now_ms` (field days counted up to then).
    async fn get_device(&self, meter: MeterId, now_ms: i64) -> StoreResult<DeviceRecord>;
    /// Devices of the organisation, by meter id after `after`.
    async fn list_devices(
        &self,
        org: OrganisationId,
        filter: &DeviceFilter,
        after: Option<MeterId>,
        limit: u32,
        now_ms: i64,
    ) -> StoreResult<Vec<DeviceRecord>>;
    /// The device's history, oldest first.
    async fn device_history(&self, meter: MeterId) -> StoreResult<Vec<DeviceEvent>>;
    /// Applies a move on its own (report fault, repair, return, stock,
    /// remove, retire, …). Creates the lifecycle record of an untracked
    /// meter first. Conflict when the device is not in `t.from`.
    async fn move_device(&self, t: &Transition) -> StoreResult<()>;
}

// --- the field: installation to scrapyard ---

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Certification {
    pub id: CertificationId,
    pub organisation_id: OrganisationId,
    pub staff_user_id: StaffUserId,
    pub utility: Utility,
    pub number: String,
    pub issued_on: jiff::civil::Date,
    pub expires_on: jiff::civil::Date,
    pub revoked_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

text_status!(
    InstallationStatus {
        Planned = "planned",
        Installed = "installed",
        Cancelled = "cancelled",
    }
);

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct InstallationPlan {
    pub id: InstallationId,
    pub organisation_id: OrganisationId,
    pub meter_id: MeterId,
    pub unit_id: UnitId,
    /// The unit's site (for scope checks and lists).
    pub site_id: SiteId,
    /// The account the meter will bill, and its tariff, if known at planning.
    pub account_id: Option<AccountId>,
    pub tariff_code: Option<String>,
    pub scheduled_on: jiff::civil::Date,
    pub installer_id: StaffUserId,
    pub status: InstallationStatus,
    /// JSON of the last recorded checklist, failed ones included.
    pub checklist: Option<String>,
    pub opening_reading: Option<i64>,
    pub note: String,
    pub created_by: String,
    pub created_at_ms: i64,
    pub completed_by: Option<String>,
    pub completed_at_ms: Option<i64>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct InstallationFilter {
    pub status: Option<InstallationStatus>,
    pub installer: Option<StaffUserId>,
    /// Only this meter's plans.
    pub meter: Option<MeterId>,
    /// Only these sites (a site-scoped caller); `None` for all.
    pub sites: Option<Vec<SiteId>>,
}

text_status!(
    RunOutcome {
        Running = "running",
        Passed = "passed",
        Failed = "failed",
    }
);

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct CommissioningRun {
    pub id: String,
    pub meter_id: MeterId,
    pub outcome: RunOutcome,
    /// JSON: each step's result.
    pub steps: String,
    pub reason: String,
    pub started_by: String,
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
}

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct MeterSwap {
    pub id: String,
    pub organisation_id: OrganisationId,
    pub old_meter_id: MeterId,
    pub new_meter_id: MeterId,
    pub account_id: AccountId,
    pub unit_id: UnitId,
    pub final_reading: i64,
    pub opening_reading: i64,
    pub final_charge: Fen,
    pub rollout_id: Option<RolloutId>,
    pub actor: String,
    pub reason: String,
    pub at_ms: i64,
}

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Rollout {
    pub id: RolloutId,
    pub organisation_id: OrganisationId,
    pub name: String,
    pub model_id: DeviceModelId,
    pub pilot_approved_by: Option<String>,
    pub pilot_approved_at_ms: Option<i64>,
    pub created_by: String,
    pub created_at_ms: i64,
}

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct RolloutMember {
    pub meter_id: MeterId,
    pub serial: String,
    pub wave: u32,
    pub state: DeviceState,
    pub new_meter_id: Option<MeterId>,
    pub swapped_at_ms: Option<i64>,
}

/// Faults, time in the field and daily reporting of a set of meters over a
/// window: what a rollout's pilot is compared on.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize)]
pub struct GroupFactsRow {
    pub devices: u64,
    /// Moves into `faulty` within the window.
    pub faults: u64,
    /// Days in the field within the window (from the devices' records).
    pub device_days: u64,
    /// Meter-days with at least one reading within the window.
    pub reporting_days: u64,
}

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Disposal {
    pub meter_id: MeterId,
    /// e.g. `recycler`, `returned_to_maker`, `destroyed`.
    pub method: String,
    pub reason: String,
    /// The recycler's certificate or disposal note number.
    pub record: String,
    pub disposed_by: String,
    pub disposed_at_ms: i64,
}

/// A device in the field with what replacement evaluation needs.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct FieldDevice {
    pub meter_id: MeterId,
    pub serial: String,
    pub utility: Utility,
    pub state: DeviceState,
    pub model_id: DeviceModelId,
    pub site_id: Option<SiteId>,
    /// The day it was accepted (or first went into service, if earlier
    /// data is missing): the start of its service life.
    pub life_start_ms: i64,
    pub service_life_years: u16,
    /// Faults in the 365 days before `now`.
    pub faults_last_year: u32,
}

/// Per site and utility: units, and units with a meter of that utility
/// fitted (installed, in service or faulty).
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct SiteCoverage {
    pub utility: Utility,
    pub units: u64,
    pub units_with_meter: u64,
    /// The model most used for this utility at the site, if any.
    pub usual_model: Option<DeviceModelId>,
}

#[async_trait]
pub trait Field: Send + Sync {
    // --- certifications ---
    async fn add_certification(&self, c: &Certification) -> StoreResult<()>;
    async fn list_certifications(
        &self,
        org: OrganisationId,
        staff: Option<StaffUserId>,
    ) -> StoreResult<Vec<Certification>>;
    /// A certification of `staff` for `utility` valid on `on` (issued on or
    /// before, expiring on or after, not revoked), the longest-lasting.
    async fn valid_certification(
        &self,
        staff: StaffUserId,
        utility: Utility,
        on: jiff::civil::Date,
    ) -> StoreResult<Option<Certification>>;
    /// `false` when already revoked.
    async fn revoke_certification(&self, id: CertificationId, at_ms: i64) -> StoreResult<bool>;

    // --- installation ---
    /// Conflict when the meter already has a planned installation.
    async fn create_installation(&self, p: &InstallationPlan) -> StoreResult<()>;
    async fn get_installation(&self, id: InstallationId) -> StoreResult<InstallationPlan>;
    /// At most 1 000 plans, by scheduled day then id.
    async fn list_installations(
        &self,
        org: OrganisationId,
        filter: &InstallationFilter,
    ) -> StoreResult<Vec<InstallationPlan>>;
    /// Records a checklist that failed: the plan stays planned.
    async fn record_checklist(&self, id: InstallationId, checklist: &str) -> StoreResult<()>;
    /// Planned → installed with the checklist and the opening reading, and
    /// the device's move (in_stock → installed), in one transaction. The
    /// meter's unit, account and tariff are set by the service before.
    async fn complete_installation(
        &self,
        id: InstallationId,
        checklist: &str,
        opening_reading: i64,
        by: &str,
        at_ms: i64,
        t: &Transition,
    ) -> StoreResult<InstallationPlan>;
    /// Planned → cancelled. Conflict when it is no longer planned.
    async fn cancel_installation(
        &self,
        id: InstallationId,
        by: &str,
        at_ms: i64,
    ) -> StoreResult<()>;

    // --- commissioning ---
    /// Starts a run. Conflict when the meter has one running.
    async fn start_run(&self, run: &CommissioningRun) -> StoreResult<()>;
    /// Finishes a run with its steps, and applies the moves (passed:
    /// installed → commissioned → in_service) in the same transaction.
    async fn finish_run(
        &self,
        id: &str,
        outcome: RunOutcome,
        steps: &str,
        reason: &str,
        at_ms: i64,
        moves: &[Transition],
    ) -> StoreResult<()>;
    async fn get_run(&self, id: &str) -> StoreResult<CommissioningRun>;
    async fn list_runs(&self, meter: MeterId) -> StoreResult<Vec<CommissioningRun>>;

    // --- swap, replacement, retirement ---
    /// Records a finished swap with its moves (old → removed, new →
    /// installed) and, when part of a rollout, marks the member swapped.
    async fn record_swap(&self, s: &MeterSwap, moves: &[Transition]) -> StoreResult<()>;
    /// Swaps the meter took part in, old or new side, newest first.
    async fn swaps_of(&self, meter: MeterId) -> StoreResult<Vec<MeterSwap>>;
    /// Devices of `org` in the field with a catalogue model, by meter id
    /// after `after`; fault counts over the 365 days before `now_ms`.
    async fn field_devices(
        &self,
        org: OrganisationId,
        after: Option<MeterId>,
        limit: u32,
        now_ms: i64,
    ) -> StoreResult<Vec<FieldDevice>>;
    /// Per model of `org`: faults ever and days in the field up to `now_ms`.
    async fn model_fault_facts(
        &self,
        org: OrganisationId,
        now_ms: i64,
    ) -> StoreResult<Vec<(DeviceModelId, u64, u64)>>;
    /// Units of the site and how many have a meter fitted, per utility.
    async fn site_coverage(&self, site: SiteId) -> StoreResult<Vec<SiteCoverage>>;
    /// A rollout with its members (wave 0 is the pilot). Conflict on a
    /// name in use, or a meter already in another rollout.
    async fn create_rollout(&self, r: &Rollout, members: &[(MeterId, u32)]) -> StoreResult<()>;
    async fn get_rollout(&self, id: RolloutId) -> StoreResult<Rollout>;
    async fn list_rollouts(&self, org: OrganisationId) -> StoreResult<Vec<Rollout>>;
    async fn rollout_members(&self, id: RolloutId) -> StoreResult<Vec<RolloutMember>>;
    /// The rollout (with wave) `meter` belongs to, if any.
    async fn rollout_of(&self, meter: MeterId) -> StoreResult<Option<(RolloutId, u32)>>;
    /// `false` when the pilot was already approved.
    async fn approve_pilot(&self, id: RolloutId, by: &str, at_ms: i64) -> StoreResult<bool>;
    /// Faults, field days and reporting days of `meters` within
    /// [`from_ms`, `to_ms`).
    async fn group_facts(
        &self,
        meters: &[MeterId],
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<GroupFactsRow>;
    /// Records the disposal with the move removed → scrapped.
    async fn record_disposal(&self, d: &Disposal, t: &Transition) -> StoreResult<()>;
    async fn disposal(&self, meter: MeterId) -> StoreResult<Option<Disposal>>;
}
