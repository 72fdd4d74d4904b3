//! The numbers behind procurement and replacement decisions (issue 8 items
//! 1 and 8): the supplier score (供应商评分), the replacement evaluation that
//! flags devices due (更换评估), the cost–benefit of replacing a group and the
//! comparison of a rollout's pilot group with the rest of the fleet.
//!
//! Pure and integer-only, so that an operator can check every number by hand
//! from the facts shown beside it. Two conventions hold throughout:
//!
//! - **Half up**: a quotient is rounded to the nearest whole unit, and exactly
//!   half a unit goes up (`12.25` tenths → `12.3`; `98.5` points → `99`).
//! - **Rates per 1000 device-years, in tenths**: `faults × 365 × 1000 × 10 /
//!   device_days`, rounded half up. A year is 365 days. `125` reads as 12.5
//!   faults per 1000 device-years. A device-day is one device in the field for
//!   one day.

use std::fmt;

use jiff::civil::Date;

use crate::{DomainError, Fen};

/// Days in a device-year (leap days are not special).
pub const DAYS_PER_YEAR: u64 = 365;

/// `n / d` rounded half up. `d` must not be zero.
fn div_half_up(n: u128, d: u128) -> u128 {
    // (2n + d) / 2d = floor(n/d + 1/2): exactly half a unit goes up.
    (n * 2 + d) / (d * 2)
}

/// `part / whole` in permille (‰), rounded half up; `None` when `whole` is 0.
/// A `part` above `whole` (impossible for counts taken from the store) is
/// taken as `whole`, so the result is always within 0..=1000.
fn permille(part: u64, whole: u64) -> Option<u32> {
    if whole == 0 {
        return None;
    }
    let part = u128::from(part.min(whole));
    let value = div_half_up(part * 1000, u128::from(whole));
    // At most 1000 by the clamp above.
    Some(u32::try_from(value).unwrap_or(1000))
}

/// Faults per 1000 device-years in tenths, rounded half up; `None` when there
/// are no device-days. An absurdly large result saturates at `u64::MAX`.
pub fn faults_per_1000_device_years_tenths(faults: u64, device_days: u64) -> Option<u64> {
    if device_days == 0 {
        return None;
    }
    let numerator = u128::from(faults) * u128::from(DAYS_PER_YEAR) * 1000 * 10;
    let value = div_half_up(numerator, u128::from(device_days));
    Some(u64::try_from(value).unwrap_or(u64::MAX))
}

/// A number of tenths as a decimal with one place: `125` → `12.5`.
pub fn tenths(value: u64) -> String {
    format!("{}.{}", value / 10, value % 10)
}

// ---------------------------------------------------------------------------
// Supplier score
// ---------------------------------------------------------------------------

/// Weight of the acceptance pass rate in the supplier score, in percent.
pub const ACCEPTANCE_WEIGHT_PERCENT: u32 = 40;
/// Weight of on-time delivery in the supplier score, in percent.
pub const ON_TIME_WEIGHT_PERCENT: u32 = 30;
/// Weight of field reliability in the supplier score, in percent.
pub const RELIABILITY_WEIGHT_PERCENT: u32 = 30;
/// The field fault rate (tenths of faults per 1000 device-years) at which
/// reliability is worth nothing: 500 = 50.0 faults per 1000 device-years.
/// Reliability falls linearly from 1000‰ at 0 faults to 0‰ here, so each
/// tenth costs exactly 2‰.
pub const RELIABILITY_ZERO_AT_TENTHS: u64 = 500;

/// What the store counts for one supplier.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct SupplierFacts {
    /// Acceptance checks (到货验收) of its devices.
    pub checked: u64,
    /// Of those, the checks passed.
    pub passed: u64,
    /// Devices delivered.
    pub delivered: u64,
    /// Of those, devices delivered on or before their contract line's due date.
    pub delivered_on_time: u64,
    /// Faults reported for its devices in the field.
    pub field_faults: u64,
    /// Days its devices spent in the field (in service, faulty or under
    /// repair), added up over the devices.
    pub device_days: u64,
}

/// One of the three things a supplier is scored on.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreFactor {
    /// 验收合格率: passed ÷ checked.
    AcceptancePassRate,
    /// 准时交货率: delivered on time ÷ delivered.
    OnTimeDelivery,
    /// 现场可靠性: from the field fault rate per 1000 device-years.
    FieldReliability,
}

/// One factor of a supplier score, with its weight, so the weighting is
/// visible next to the score.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
pub struct ScoreComponent {
    pub factor: ScoreFactor,
    /// The nominal weight (40, 30 or 30).
    pub weight_percent: u32,
    /// The factor's value, 0..=1000‰; `None` when there are no data for it,
    /// in which case its weight is left out.
    pub points_permille: Option<u32>,
}

/// A supplier's scorecard: the three measured rates and the score they make.
///
/// **How the score is made** (check by hand):
/// 1. acceptance = `passed × 1000 / checked` ‰, on time =
///    `delivered_on_time × 1000 / delivered` ‰, both rounded half up;
/// 2. the field fault rate `r` in tenths per 1000 device-years (see the
///    module doc); reliability = `2 × (500 − min(r, 500))` ‰, i.e. 1000‰ at no
///    faults falling linearly to 0‰ at 50.0 faults per 1000 device-years;
/// 3. score = `Σ weightᵢ × pointsᵢ / (10 × Σ weightᵢ)` rounded half up, over
///    the factors that have data, with weights 40 (acceptance), 30 (on time),
///    30 (reliability). A factor without data (no checks, no deliveries, no
///    device-days) is left out and the others' weights re-normalised by
///    dividing by `weights_in_use_percent` instead of 100.
///
/// Example: 190 of 200 passed (950‰), 87 of 100 on time (870‰), 3 faults in
/// 73 000 device-days (15.0 per 1000 device-years, reliability 700‰):
/// `(40×950 + 30×870 + 30×700) / 1000 = 85.1` → 85.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct SupplierScore {
    pub acceptance_pass_permille: Option<u32>,
    pub on_time_permille: Option<u32>,
    /// e.g. 125 = 12.5 faults per 1000 device-years.
    pub faults_per_1000_device_years_tenths: Option<u64>,
    /// Reliability points, 0..=1000‰, from the fault rate.
    pub reliability_permille: Option<u32>,
    /// The sum of the weights of the factors that have data (0 to 100).
    pub weights_in_use_percent: u32,
    /// 0..=100; `None` when there are no data at all.
    pub score: Option<u32>,
    /// Acceptance, on time, reliability, in that order.
    pub components: Vec<ScoreComponent>,
}

/// Reliability points from a fault rate in tenths: 1000‰ at 0, falling by
/// 2‰ a tenth to 0‰ at [`RELIABILITY_ZERO_AT_TENTHS`] and beyond.
pub fn reliability_permille(rate_tenths: u64) -> u32 {
    let left = RELIABILITY_ZERO_AT_TENTHS - rate_tenths.min(RELIABILITY_ZERO_AT_TENTHS);
    let points = div_half_up(
        u128::from(left) * 1000,
        u128::from(RELIABILITY_ZERO_AT_TENTHS),
    );
    u32::try_from(points).unwrap_or(1000)
}

/// Scores a supplier from its counts; see [`SupplierScore`] for the rules.
pub fn supplier_score(f: &SupplierFacts) -> SupplierScore {
    let acceptance = permille(f.passed, f.checked);
    let on_time = permille(f.delivered_on_time, f.delivered);
    let rate = faults_per_1000_device_years_tenths(f.field_faults, f.device_days);
    let reliability = rate.map(reliability_permille);
    let components = vec![
        ScoreComponent {
            factor: ScoreFactor::AcceptancePassRate,
            weight_percent: ACCEPTANCE_WEIGHT_PERCENT,
            points_permille: acceptance,
        },
        ScoreComponent {
            factor: ScoreFactor::OnTimeDelivery,
            weight_percent: ON_TIME_WEIGHT_PERCENT,
            points_permille: on_time,
        },
        ScoreComponent {
            factor: ScoreFactor::FieldReliability,
            weight_percent: RELIABILITY_WEIGHT_PERCENT,
            points_permille: reliability,
        },
    ];
    let mut weights: u32 = 0;
    let mut weighted: u128 = 0;
    for c in &components {
        if let Some(points) = c.points_permille {
            weights += c.weight_percent;
            weighted += u128::from(c.weight_percent) * u128::from(points);
        }
    }
    let score = (weights > 0).then(|| {
        let value = div_half_up(weighted, u128::from(weights) * 10);
        // Each factor is at most 1000‰, so the mean is at most 100.
        u32::try_from(value).unwrap_or(100)
    });
    SupplierScore {
        acceptance_pass_permille: acceptance,
        on_time_permille: on_time,
        faults_per_1000_device_years_tenths: rate,
        reliability_permille: reliability,
        weights_in_use_percent: weights,
        score,
        components,
    }
}

// ---------------------------------------------------------------------------
// Replacement evaluation
// ---------------------------------------------------------------------------

/// When a device counts as due for replacement. Each rule is independent; a
/// device is due when any rule flags it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct ReplacementPolicy {
    /// Flag a device this many months before its service life ends (0: only
    /// once it has ended).
    pub near_life_months: u32,
    /// Flag a device with at least this many faults in the last 365 days
    /// (0: rule off).
    pub repeated_faults: u32,
    /// Flag a device whose model's fault rate is at least this percentage of
    /// the fleet's (200: twice the fleet's; 0: rule off).
    pub model_rate_factor_percent: u32,
    /// The model rule says nothing until the model has at least this many
    /// faults: a handful of faults on few devices is noise.
    pub model_min_faults: u64,
}

impl Default for ReplacementPolicy {
    /// 6 months, 3 faults in a year, 2× the fleet's rate, at least 5 faults.
    fn default() -> Self {
        Self {
            near_life_months: 6,
            repeated_faults: 3,
            model_rate_factor_percent: 200,
            model_min_faults: 5,
        }
    }
}

/// What the evaluation needs to know about one device.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct DeviceFacts {
    /// The day the device went into the field (its acceptance day where it
    /// has none): its service life counts from here.
    pub in_field_since: Date,
    /// Its model's rated service life; 0 = not recorded, the life rules are
    /// then skipped.
    pub service_life_years: u16,
    /// Faults of this device in the 365 days up to today.
    pub faults_last_365_days: u32,
    /// Faults and device-days of every device of its model in the field.
    pub model_faults: u64,
    pub model_device_days: u64,
    /// Faults and device-days of the whole fleet it is compared with (the
    /// devices of the same utility, its model included).
    pub fleet_faults: u64,
    pub fleet_device_days: u64,
}

/// Why a device is due for replacement.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DueReason {
    /// Its service life ended on `since` (in-field day + rated years; a
    /// 29 February start ends on 28 February).
    PastServiceLife { since: Date },
    /// Its service life ends on `ends`, within the policy's window.
    /// `months_left` counts whole calendar months from today (rounded down,
    /// 0 = less than a month).
    NearServiceLife { ends: Date, months_left: u32 },
    /// It had `faults` faults in the last 365 days.
    RepeatedFaults { faults: u32 },
    /// Its model's fault rate is at least the policy's multiple of the
    /// fleet's (both in tenths per 1000 device-years).
    ModelFaultRate {
        model_tenths: u64,
        fleet_tenths: u64,
    },
}

impl fmt::Display for DueReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DueReason::PastServiceLife { since } => {
                write!(f, "past its service life since {since}")
            }
            DueReason::NearServiceLife { ends, months_left } => write!(
                f,
                "service life ends on {ends} ({months_left} whole months left)"
            ),
            DueReason::RepeatedFaults { faults } => {
                write!(f, "{faults} faults in the last 365 days")
            }
            DueReason::ModelFaultRate {
                model_tenths,
                fleet_tenths,
            } => write!(
                f,
                "its model has {} faults per 1000 device-years against {} for the fleet",
                tenths(*model_tenths),
                tenths(*fleet_tenths)
            ),
        }
    }
}

/// The last day of a device's service life: `years` after `in_field_since`
/// (29 February clamps to 28 February); `None` if unknown (0 years) or past
/// the calendar's end.
pub fn service_life_end(in_field_since: Date, years: u16) -> Option<Date> {
    if years == 0 {
        return None;
    }
    in_field_since
        .checked_add(jiff::Span::new().years(i64::from(years)))
        .ok()
}

/// Every reason `f` is due for replacement on `today`; empty = not due.
///
/// - past service life: `today ≥ end` where `end` = [`service_life_end`];
/// - near service life: `today < end ≤ today + near_life_months` months;
/// - repeated faults: `faults_last_365_days ≥ repeated_faults`;
/// - model fault rate: the model has at least `model_min_faults` faults and
///   `model_rate × 100 ≥ fleet_rate × model_rate_factor_percent`, compared
///   exactly (cross-multiplied, not on the rounded tenths shown). A model
///   with faults in a fleet with none is flagged.
pub fn evaluate(f: &DeviceFacts, today: Date, p: &ReplacementPolicy) -> Vec<DueReason> {
    let mut due = Vec::new();
    if let Some(end) = service_life_end(f.in_field_since, f.service_life_years) {
        if today >= end {
            due.push(DueReason::PastServiceLife { since: end });
        } else if p.near_life_months > 0 {
            let window = today
                .checked_add(jiff::Span::new().months(i64::from(p.near_life_months)))
                .unwrap_or(Date::MAX);
            if end <= window {
                let months = today
                    .until((jiff::Unit::Month, end))
                    .map(|s| s.get_months())
                    .unwrap_or(0);
                due.push(DueReason::NearServiceLife {
                    ends: end,
                    months_left: u32::try_from(months).unwrap_or(0),
                });
            }
        }
    }
    if p.repeated_faults > 0 && f.faults_last_365_days >= p.repeated_faults {
        due.push(DueReason::RepeatedFaults {
            faults: f.faults_last_365_days,
        });
    }
    if p.model_rate_factor_percent > 0
        && f.model_faults > 0
        && f.model_faults >= p.model_min_faults
        && let (Some(model_tenths), Some(fleet_tenths)) = (
            faults_per_1000_device_years_tenths(f.model_faults, f.model_device_days),
            faults_per_1000_device_years_tenths(f.fleet_faults, f.fleet_device_days),
        )
    {
        // model_faults/model_days × 100 ≥ fleet_faults/fleet_days × factor,
        // with both sides multiplied by model_days × fleet_days. Two u64s fit
        // a u128; the third factor saturates only for counts no fleet has.
        let model =
            (u128::from(f.model_faults) * u128::from(f.fleet_device_days)).saturating_mul(100);
        let fleet = (u128::from(f.fleet_faults) * u128::from(f.model_device_days))
            .saturating_mul(u128::from(p.model_rate_factor_percent));
        if model >= fleet {
            due.push(DueReason::ModelFaultRate {
                model_tenths,
                fleet_tenths,
            });
        }
    }
    due
}

// ---------------------------------------------------------------------------
// Cost–benefit
// ---------------------------------------------------------------------------

/// The money side of replacing a group of devices. Every amount is per
/// device; none may be negative.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct CostBenefitIn {
    /// How many devices are replaced (at least 1).
    pub devices: u32,
    /// The new device's price.
    pub device_price: Fen,
    /// Fitting it.
    pub installation: Fen,
    /// Commissioning it.
    pub commissioning: Fen,
    /// What the old device costs to maintain a year.
    pub old_maintenance_per_year: Fen,
    /// What the new device costs to maintain a year.
    pub new_maintenance_per_year: Fen,
    /// Revenue a year no longer lost to metering error and outages.
    pub loss_saving_per_year: Fen,
    /// What an old device fetches (may be 0).
    pub salvage: Fen,
}

/// The result of [`cost_benefit`], every amount in fen, with the
/// intermediate sums so each can be checked by hand:
///
/// - `cost_per_device` = price + installation + commissioning;
/// - `gross_cost` = devices × cost_per_device; `salvage_total` = devices ×
///   salvage; `total_cost` = gross_cost − salvage_total;
/// - `saving_per_device_per_year` = old maintenance − new maintenance + loss
///   saving (negative when the new device costs more to keep);
///   `annual_saving` = devices × that;
/// - `payback_months` = ⌈total_cost × 12 ÷ annual_saving⌉ (a started month
///   counts as a month); 0 when total_cost ≤ 0 (nothing to pay back); `None`
///   when annual_saving ≤ 0 (it never pays back); saturates at `u32::MAX`;
/// - `net_over_life` = annual_saving × service_life_years − total_cost.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
pub struct CostBenefit {
    pub cost_per_device: Fen,
    pub gross_cost: Fen,
    pub salvage_total: Fen,
    pub total_cost: Fen,
    pub saving_per_device_per_year: Fen,
    pub annual_saving: Fen,
    pub payback_months: Option<u32>,
    /// The new device's service life the net is taken over.
    pub service_life_years: u16,
    pub net_over_life: Fen,
    /// Whether `payback_months` is within the service life.
    pub pays_back_within_life: bool,
}

/// Computes the cost–benefit of replacing `i.devices` devices whose
/// replacement lasts `service_life_years`. Refuses negative amounts, zero
/// devices or a zero life (naming the field), and totals beyond i64 fen.
pub fn cost_benefit(
    i: &CostBenefitIn,
    service_life_years: u16,
) -> Result<CostBenefit, DomainError> {
    if i.devices == 0 {
        return Err(DomainError::invalid("devices", "must be at least 1"));
    }
    if service_life_years == 0 {
        return Err(DomainError::invalid(
            "service_life_years",
            "must be at least 1",
        ));
    }
    for (field, amount) in [
        ("device_price", i.device_price),
        ("installation", i.installation),
        ("commissioning", i.commissioning),
        ("old_maintenance_per_year", i.old_maintenance_per_year),
        ("new_maintenance_per_year", i.new_maintenance_per_year),
        ("loss_saving_per_year", i.loss_saving_per_year),
        ("salvage", i.salvage),
    ] {
        if amount.0 < 0 {
            return Err(DomainError::invalid(
                field,
                format!("must not be negative, got {amount} yuan"),
            ));
        }
    }
    // i128: amounts are below 2^63 and devices below 2^32, so no product or
    // sum here can overflow; only the conversion back to fen can fail.
    let n = i128::from(i.devices);
    let f = |fen: Fen| i128::from(fen.0);
    let cost_per_device = f(i.device_price) + f(i.installation) + f(i.commissioning);
    let gross_cost = n * cost_per_device;
    let salvage_total = n * f(i.salvage);
    let total_cost = gross_cost - salvage_total;
    let saving_per_device =
        f(i.old_maintenance_per_year) - f(i.new_maintenance_per_year) + f(i.loss_saving_per_year);
    let annual_saving = n * saving_per_device;
    let net_over_life = annual_saving * i128::from(service_life_years) - total_cost;
    let payback_months = if total_cost <= 0 {
        Some(0)
    } else if annual_saving <= 0 {
        None
    } else {
        // Ceiling of a positive quotient.
        let months = (total_cost * 12 + annual_saving - 1) / annual_saving;
        Some(u32::try_from(months).unwrap_or(u32::MAX))
    };
    let pays_back_within_life =
        payback_months.is_some_and(|m| u64::from(m) <= u64::from(service_life_years) * 12);
    let fen = |value: i128, field: &'static str| {
        i64::try_from(value).map(Fen).map_err(|_| {
            DomainError::invalid(field, "too large to compute in fen; split the group")
        })
    };
    Ok(CostBenefit {
        cost_per_device: fen(cost_per_device, "cost_per_device")?,
        gross_cost: fen(gross_cost, "total_cost")?,
        salvage_total: fen(salvage_total, "salvage")?,
        total_cost: fen(total_cost, "total_cost")?,
        saving_per_device_per_year: fen(saving_per_device, "annual_saving")?,
        annual_saving: fen(annual_saving, "annual_saving")?,
        payback_months,
        service_life_years,
        net_over_life: fen(net_over_life, "net_over_life")?,
        pays_back_within_life,
    })
}

// ---------------------------------------------------------------------------
// Phased rollout: the pilot against the rest
// ---------------------------------------------------------------------------

/// How much lower the pilot's communication success may be than the rest's
/// before it counts as worse: 10‰ (one percentage point), for noise.
pub const COMM_TOLERANCE_PERMILLE: u32 = 10;

/// What the store counts for a group of devices over the comparison period.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct GroupFacts {
    pub devices: u64,
    /// Faults reported.
    pub faults: u64,
    /// Days the group's devices spent in the field, added up.
    pub device_days: u64,
    /// Readings the devices should have sent (one per device per reading
    /// interval).
    pub reads_expected: u64,
    /// Readings that arrived (counted at most once per expected reading; a
    /// count above `reads_expected` is taken as `reads_expected`).
    pub reads_received: u64,
}

/// A group's rates, as shown and as compared.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
pub struct GroupStats {
    pub devices: u64,
    pub faults: u64,
    pub device_days: u64,
    /// e.g. 125 = 12.5 faults per 1000 device-years; `None` without device-days.
    pub faults_per_1000_device_years_tenths: Option<u64>,
    /// received × 1000 ÷ expected, half up; `None` when nothing was expected.
    pub comm_success_permille: Option<u32>,
}

impl GroupStats {
    pub fn of(g: &GroupFacts) -> GroupStats {
        GroupStats {
            devices: g.devices,
            faults: g.faults,
            device_days: g.device_days,
            faults_per_1000_device_years_tenths: faults_per_1000_device_years_tenths(
                g.faults,
                g.device_days,
            ),
            comm_success_permille: permille(g.reads_received, g.reads_expected),
        }
    }
}

/// What the pilot says about going on with the waves.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PilotVerdict {
    /// Fewer faults (or better communication) and nothing worse.
    Better,
    /// Nothing worse beyond the tolerance, nothing clearly better.
    NoWorse,
    /// At least one measure worse; `why` lists each, separated by "; ".
    Worse { why: String },
    /// Too little data to judge.
    NotEnoughData { why: String },
}

/// The pilot group against the rest of the fleet.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct PilotComparison {
    pub pilot: GroupStats,
    pub rest: GroupStats,
    pub verdict: PilotVerdict,
}

/// Compares a rollout's pilot group with the rest. The rates are compared
/// **as shown** (rounded tenths and permille), so the verdict can be checked
/// from the page:
///
/// 1. *not enough data* when the pilot has fewer than
///    `min_pilot_device_days` device-days (or none), or the rest has none;
/// 2. *worse* when the pilot's fault rate is above the rest's, or (when both
///    groups expected readings) its communication success is lower than the
///    rest's by more than [`COMM_TOLERANCE_PERMILLE`];
/// 3. *better* when its fault rate is below the rest's and its communication
///    success not below, or its fault rate equal and its communication
///    success above (communication counts only when both groups have it);
/// 4. otherwise *no worse*.
pub fn compare_pilot(
    pilot: &GroupFacts,
    rest: &GroupFacts,
    min_pilot_device_days: u64,
) -> PilotComparison {
    let p = GroupStats::of(pilot);
    let r = GroupStats::of(rest);
    let verdict = verdict(&p, &r, min_pilot_device_days);
    PilotComparison {
        pilot: p,
        rest: r,
        verdict,
    }
}

fn verdict(p: &GroupStats, r: &GroupStats, min_days: u64) -> PilotVerdict {
    if p.device_days < min_days.max(1) {
        return PilotVerdict::NotEnoughData {
            why: format!(
                "the pilot has {} device-days in the field; at least {} are needed",
                p.device_days,
                min_days.max(1)
            ),
        };
    }
    let (Some(p_rate), Some(r_rate)) = (
        p.faults_per_1000_device_years_tenths,
        r.faults_per_1000_device_years_tenths,
    ) else {
        return PilotVerdict::NotEnoughData {
            why: "the rest of the fleet has no device-days in the field to compare with".into(),
        };
    };
    let comm = p.comm_success_permille.zip(r.comm_success_permille);
    let mut worse = Vec::new();
    if p_rate > r_rate {
        worse.push(format!(
            "faults: pilot {} against {} per 1000 device-years for the rest",
            tenths(p_rate),
            tenths(r_rate)
        ));
    }
    if let Some((pc, rc)) = comm
        && pc + COMM_TOLERANCE_PERMILLE < rc
    {
        worse.push(format!(
            "communication success: pilot {pc}‰ against {rc}‰ for the rest, lower by {}‰ (at most {COMM_TOLERANCE_PERMILLE}‰ is tolerated)",
            rc - pc
        ));
    }
    if !worse.is_empty() {
        return PilotVerdict::Worse {
            why: worse.join("; "),
        };
    }
    let comm_not_lower = comm.is_none_or(|(pc, rc)| pc >= rc);
    let comm_higher = comm.is_some_and(|(pc, rc)| pc > rc);
    if (p_rate < r_rate && comm_not_lower) || (p_rate == r_rate && comm_higher) {
        PilotVerdict::Better
    } else {
        PilotVerdict::NoWorse
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    #[test]
    fn rounding_is_half_up() {
        assert_eq!(div_half_up(5, 2), 3);
        assert_eq!(div_half_up(7, 2), 4);
        assert_eq!(div_half_up(4, 3), 1);
        assert_eq!(div_half_up(5, 3), 2);
        assert_eq!(permille(1, 3), Some(333));
        assert_eq!(permille(2, 3), Some(667));
        assert_eq!(permille(0, 0), None);
        assert_eq!(permille(5, 4), Some(1000), "clamped");
    }

    #[test]
    fn fault_rates_per_1000_device_years() {
        // 1 fault in one device-year = 1000 per 1000 device-years.
        assert_eq!(faults_per_1000_device_years_tenths(1, 365), Some(10_000));
        // 3 faults over 200 device-years = 15.0.
        assert_eq!(faults_per_1000_device_years_tenths(3, 73_000), Some(150));
        // 1 fault over 800 device-years = 1.25 → 1.3 (half up).
        assert_eq!(faults_per_1000_device_years_tenths(1, 292_000), Some(13));
        assert_eq!(faults_per_1000_device_years_tenths(0, 10), Some(0));
        assert_eq!(faults_per_1000_device_years_tenths(4, 0), None);
        assert_eq!(
            faults_per_1000_device_years_tenths(u64::MAX, 1),
            Some(u64::MAX)
        );
        assert_eq!(tenths(125), "12.5");
        assert_eq!(tenths(7), "0.7");
    }

    #[test]
    fn supplier_score_by_hand() {
        let s = supplier_score(&SupplierFacts {
            checked: 200,
            passed: 190,
            delivered: 100,
            delivered_on_time: 87,
            field_faults: 3,
            device_days: 73_000,
        });
        assert_eq!(s.acceptance_pass_permille, Some(950));
        assert_eq!(s.on_time_permille, Some(870));
        assert_eq!(s.faults_per_1000_device_years_tenths, Some(150));
        assert_eq!(s.reliability_permille, Some(700));
        assert_eq!(s.weights_in_use_percent, 100);
        // (40×950 + 30×870 + 30×700) / 1000 = 85.1
        assert_eq!(s.score, Some(85));
        assert_eq!(
            s.components
                .iter()
                .map(|c| (c.factor, c.weight_percent, c.points_permille))
                .collect::<Vec<_>>(),
            vec![
                (ScoreFactor::AcceptancePassRate, 40, Some(950)),
                (ScoreFactor::OnTimeDelivery, 30, Some(870)),
                (ScoreFactor::FieldReliability, 30, Some(700)),
            ]
        );
    }

    #[test]
    fn missing_factors_are_left_out_and_weights_renormalised() {
        // No field data: (40×1000 + 30×965) / 700 = 98.5 → 99 (half up).
        let s = supplier_score(&SupplierFacts {
            checked: 10,
            passed: 10,
            delivered: 200,
            delivered_on_time: 193,
            ..SupplierFacts::default()
        });
        assert_eq!(s.on_time_permille, Some(965));
        assert_eq!(s.reliability_permille, None);
        assert_eq!(s.weights_in_use_percent, 70);
        assert_eq!(s.score, Some(99));
        // Only field data: 55.0 per 1000 device-years is past the zero point.
        let s = supplier_score(&SupplierFacts {
            field_faults: 11,
            device_days: 73_000,
            ..SupplierFacts::default()
        });
        assert_eq!(s.faults_per_1000_device_years_tenths, Some(550));
        assert_eq!(s.score, Some(0));
        // Only field data, no faults: perfect.
        let s = supplier_score(&SupplierFacts {
            device_days: 1,
            ..SupplierFacts::default()
        });
        assert_eq!(s.score, Some(100));
        // Nothing known.
        let s = supplier_score(&SupplierFacts::default());
        assert_eq!(s.score, None);
        assert_eq!(s.weights_in_use_percent, 0);
    }

    #[test]
    fn reliability_is_linear() {
        assert_eq!(reliability_permille(0), 1000);
        assert_eq!(reliability_permille(1), 998);
        assert_eq!(reliability_permille(250), 500);
        assert_eq!(reliability_permille(499), 2);
        assert_eq!(reliability_permille(500), 0);
        assert_eq!(reliability_permille(u64::MAX), 0);
    }

    #[test]
    fn supplier_score_serialises_for_the_api() {
        let s = supplier_score(&SupplierFacts {
            checked: 4,
            passed: 3,
            ..SupplierFacts::default()
        });
        let json = serde_json::to_value(&s).expect("serialise");
        assert_eq!(json["score"], 75);
        assert_eq!(json["components"][0]["factor"], "acceptance_pass_rate");
        assert_eq!(
            json["components"][1]["points_permille"],
            serde_json::Value::Null
        );
    }

    fn facts() -> impl Strategy<Value = SupplierFacts> {
        (
            0u64..10_000,
            0u64..10_000,
            0u64..10_000,
            0u64..10_000,
            0u64..1_000,
            0u64..10_000_000,
        )
            .prop_map(|(checked, passed, delivered, on_time, faults, days)| {
                SupplierFacts {
                    checked,
                    passed: passed.min(checked),
                    delivered,
                    delivered_on_time: on_time.min(delivered),
                    field_faults: faults,
                    device_days: days,
                }
            })
    }

    proptest! {
        #[test]
        fn score_is_within_0_to_100(f in facts()) {
            let s = supplier_score(&f);
            let has_data = f.checked > 0 || f.delivered > 0 || f.device_days > 0;
            prop_assert_eq!(s.score.is_some(), has_data);
            if let Some(score) = s.score {
                prop_assert!(score <= 100);
            }
        }

        #[test]
        fn more_passes_never_lower_the_score(f in facts(), extra in 1u64..1_000) {
            let better = SupplierFacts { passed: (f.passed + extra).min(f.checked), ..f };
            prop_assert!(supplier_score(&better).score >= supplier_score(&f).score);
        }

        #[test]
        fn more_faults_never_raise_the_score(f in facts(), extra in 1u64..1_000) {
            let worse = SupplierFacts { field_faults: f.field_faults + extra, ..f };
            prop_assert!(supplier_score(&worse).score <= supplier_score(&f).score);
        }
    }

    fn device(since: Date, years: u16) -> DeviceFacts {
        DeviceFacts {
            in_field_since: since,
            service_life_years: years,
            faults_last_365_days: 0,
            model_faults: 0,
            model_device_days: 0,
            fleet_faults: 0,
            fleet_device_days: 0,
        }
    }

    #[test]
    fn service_life_rules() {
        let p = ReplacementPolicy::default();
        let d = device(date(2016, 3, 15), 10);
        assert_eq!(
            service_life_end(d.in_field_since, 10),
            Some(date(2026, 3, 15))
        );
        // More than 6 months before the end: not due.
        assert_eq!(evaluate(&d, date(2025, 9, 14), &p), vec![]);
        // Exactly 6 months before: near.
        assert_eq!(
            evaluate(&d, date(2025, 9, 15), &p),
            vec![DueReason::NearServiceLife {
                ends: date(2026, 3, 15),
                months_left: 6
            }]
        );
        // 5 months and 30 days: 5 whole months.
        assert_eq!(
            evaluate(&d, date(2025, 9, 16), &p),
            vec![DueReason::NearServiceLife {
                ends: date(2026, 3, 15),
                months_left: 5
            }]
        );
        assert_eq!(
            evaluate(&d, date(2026, 3, 14), &p),
            vec![DueReason::NearServiceLife {
                ends: date(2026, 3, 15),
                months_left: 0
            }]
        );
        // From the end day on: past.
        for today in [date(2026, 3, 15), date(2030, 1, 1)] {
            assert_eq!(
                evaluate(&d, today, &p),
                vec![DueReason::PastServiceLife {
                    since: date(2026, 3, 15)
                }]
            );
        }
        // A leap-day start ends on 28 February.
        assert_eq!(
            service_life_end(date(2016, 2, 29), 10),
            Some(date(2026, 2, 28))
        );
        // Unknown life: no life rule.
        assert_eq!(
            evaluate(&device(date(1990, 1, 1), 0), date(2026, 1, 1), &p),
            vec![]
        );
        // No near window: only past.
        let strict = ReplacementPolicy {
            near_life_months: 0,
            ..p
        };
        assert_eq!(evaluate(&d, date(2026, 3, 14), &strict), vec![]);
    }

    #[test]
    fn repeated_faults_rule() {
        let p = ReplacementPolicy::default();
        let mut d = device(date(2024, 1, 1), 10);
        d.faults_last_365_days = 2;
        assert_eq!(evaluate(&d, date(2025, 1, 1), &p), vec![]);
        d.faults_last_365_days = 3;
        assert_eq!(
            evaluate(&d, date(2025, 1, 1), &p),
            vec![DueReason::RepeatedFaults { faults: 3 }]
        );
        let off = ReplacementPolicy {
            repeated_faults: 0,
            ..p
        };
        assert_eq!(evaluate(&d, date(2025, 1, 1), &off), vec![]);
    }

    #[test]
    fn model_fault_rate_rule() {
        let p = ReplacementPolicy::default();
        let mut d = device(date(2024, 1, 1), 10);
        // Fleet: 20 faults over 1000 device-years = 20.0.
        d.fleet_faults = 20;
        d.fleet_device_days = 365_000;
        // Model: 8 faults over 200 device-years = 40.0 = exactly 2× → due.
        d.model_faults = 8;
        d.model_device_days = 73_000;
        assert_eq!(
            evaluate(&d, date(2025, 1, 1), &p),
            vec![DueReason::ModelFaultRate {
                model_tenths: 400,
                fleet_tenths: 200
            }]
        );
        // One more device-day for the model: just under 2× → not due.
        d.model_device_days = 73_001;
        assert_eq!(evaluate(&d, date(2025, 1, 1), &p), vec![]);
        // Too few faults say nothing, however high the rate.
        d.model_faults = 4;
        d.model_device_days = 365;
        assert_eq!(evaluate(&d, date(2025, 1, 1), &p), vec![]);
        // A faulty model in a fleet without faults is flagged.
        d.model_faults = 5;
        d.fleet_faults = 0;
        assert_eq!(
            evaluate(&d, date(2025, 1, 1), &p),
            vec![DueReason::ModelFaultRate {
                model_tenths: 50_000,
                fleet_tenths: 0
            }]
        );
        // No fleet device-days: nothing to compare with.
        d.fleet_device_days = 0;
        assert_eq!(evaluate(&d, date(2025, 1, 1), &p), vec![]);
    }

    #[test]
    fn reasons_accumulate_and_serialise_tagged() {
        let mut d = device(date(2010, 6, 1), 8);
        d.faults_last_365_days = 4;
        let due = evaluate(&d, date(2025, 1, 1), &ReplacementPolicy::default());
        assert_eq!(
            due,
            vec![
                DueReason::PastServiceLife {
                    since: date(2018, 6, 1)
                },
                DueReason::RepeatedFaults { faults: 4 },
            ]
        );
        let json = serde_json::to_value(&due).expect("serialise");
        assert_eq!(
            json,
            serde_json::json!([
                {"kind": "past_service_life", "since": "2018-06-01"},
                {"kind": "repeated_faults", "faults": 4},
            ])
        );
        assert_eq!(due[0].to_string(), "past its service life since 2018-06-01");
        let m = DueReason::ModelFaultRate {
            model_tenths: 405,
            fleet_tenths: 200,
        };
        assert_eq!(
            m.to_string(),
            "its model has 40.5 faults per 1000 device-years against 20.0 for the fleet"
        );
    }

    fn group() -> CostBenefitIn {
        CostBenefitIn {
            devices: 100,
            device_price: Fen(45_000),
            installation: Fen(8_000),
            commissioning: Fen(2_000),
            old_maintenance_per_year: Fen(6_000),
            new_maintenance_per_year: Fen(1_000),
            loss_saving_per_year: Fen(3_000),
            salvage: Fen(500),
        }
    }

    #[test]
    fn cost_benefit_by_hand() {
        let c = cost_benefit(&group(), 10).expect("valid");
        // 450 + 80 + 20 = 550.00 yuan a device; 100 devices less 5.00 salvage each.
        assert_eq!(c.cost_per_device, Fen(55_000));
        assert_eq!(c.gross_cost, Fen(5_500_000));
        assert_eq!(c.salvage_total, Fen(50_000));
        assert_eq!(c.total_cost, Fen(5_450_000));
        // 60 − 10 + 30 = 80.00 yuan a device a year.
        assert_eq!(c.saving_per_device_per_year, Fen(8_000));
        assert_eq!(c.annual_saving, Fen(800_000));
        // 5 450 000 × 12 / 800 000 = 81.75 → 82 months (a started month counts).
        assert_eq!(c.payback_months, Some(82));
        assert!(c.pays_back_within_life);
        // 800 000 × 10 − 5 450 000.
        assert_eq!(c.net_over_life, Fen(2_550_000));
        // A shorter life than the payback: the net is a loss.
        let c = cost_benefit(&group(), 6).expect("valid");
        assert_eq!(c.net_over_life, Fen(-650_000));
        assert!(!c.pays_back_within_life);
    }

    #[test]
    fn payback_edges() {
        // Exact months do not round up: 12 000 × 12 / 12 000 = 12.
        let exact = CostBenefitIn {
            devices: 1,
            device_price: Fen(12_000),
            installation: Fen::ZERO,
            commissioning: Fen::ZERO,
            old_maintenance_per_year: Fen(12_000),
            new_maintenance_per_year: Fen::ZERO,
            loss_saving_per_year: Fen::ZERO,
            salvage: Fen::ZERO,
        };
        assert_eq!(
            cost_benefit(&exact, 1).expect("valid").payback_months,
            Some(12)
        );
        // One fen more: a 13th month started.
        let over = CostBenefitIn {
            device_price: Fen(12_001),
            ..exact
        };
        assert_eq!(
            cost_benefit(&over, 1).expect("valid").payback_months,
            Some(13)
        );
        // New device dearer to keep than the old one saves: never pays back.
        let never = CostBenefitIn {
            new_maintenance_per_year: Fen(13_000),
            ..exact
        };
        let c = cost_benefit(&never, 10).expect("valid");
        assert_eq!(c.annual_saving, Fen(-1_000));
        assert_eq!(c.payback_months, None);
        assert!(!c.pays_back_within_life);
        // Salvage covers the cost: nothing to pay back.
        let free = CostBenefitIn {
            salvage: Fen(12_000),
            ..exact
        };
        assert_eq!(
            cost_benefit(&free, 1).expect("valid").payback_months,
            Some(0)
        );
    }

    #[test]
    fn cost_benefit_refuses_bad_input_by_name() {
        let e = cost_benefit(
            &CostBenefitIn {
                salvage: Fen(-1),
                ..group()
            },
            10,
        )
        .expect_err("negative");
        assert_eq!(
            e.to_string(),
            "salvage: must not be negative, got -0.01 yuan"
        );
        let e = cost_benefit(
            &CostBenefitIn {
                loss_saving_per_year: Fen(-500),
                ..group()
            },
            10,
        )
        .expect_err("negative");
        assert!(e.to_string().starts_with("loss_saving_per_year:"), "{e}");
        let e = cost_benefit(
            &CostBenefitIn {
                devices: 0,
                ..group()
            },
            10,
        )
        .expect_err("none");
        assert_eq!(e.to_string(), "devices: must be at least 1");
        let e = cost_benefit(&group(), 0).expect_err("no life");
        assert_eq!(e.to_string(), "service_life_years: must be at least 1");
        let e = cost_benefit(
            &CostBenefitIn {
                device_price: Fen(i64::MAX),
                ..group()
            },
            10,
        )
        .expect_err("overflow");
        assert!(e.to_string().contains("too large"), "{e}");
    }

    fn g(devices: u64, faults: u64, days: u64, expected: u64, received: u64) -> GroupFacts {
        GroupFacts {
            devices,
            faults,
            device_days: days,
            reads_expected: expected,
            reads_received: received,
        }
    }

    #[test]
    fn pilot_verdicts() {
        // Rest: 20 faults over 1000 device-years (20.0), 990‰ communication.
        let rest = g(1000, 20, 365_000, 100_000, 99_000);
        // Pilot: 1 fault over 100 device-years (10.0), 995‰: better.
        let c = compare_pilot(&g(100, 1, 36_500, 10_000, 9_950), &rest, 10_000);
        assert_eq!(c.pilot.faults_per_1000_device_years_tenths, Some(100));
        assert_eq!(c.pilot.comm_success_permille, Some(995));
        assert_eq!(c.rest.faults_per_1000_device_years_tenths, Some(200));
        assert_eq!(c.rest.comm_success_permille, Some(990));
        assert_eq!(c.verdict, PilotVerdict::Better);

        // Fewer faults but communication 985‰ (5‰ lower, tolerated): no worse.
        let c = compare_pilot(&g(100, 1, 36_500, 10_000, 9_850), &rest, 10_000);
        assert_eq!(c.verdict, PilotVerdict::NoWorse);

        // Same fault rate, same communication: no worse.
        let c = compare_pilot(&g(100, 2, 36_500, 10_000, 9_900), &rest, 10_000);
        assert_eq!(c.verdict, PilotVerdict::NoWorse);

        // Same fault rate, better communication: better.
        let c = compare_pilot(&g(100, 2, 36_500, 10_000, 9_990), &rest, 10_000);
        assert_eq!(c.verdict, PilotVerdict::Better);

        // 11‰ lower communication and more faults: worse, both reasons.
        let c = compare_pilot(&g(100, 3, 36_500, 10_000, 9_790), &rest, 10_000);
        assert_eq!(
            c.verdict,
            PilotVerdict::Worse {
                why: "faults: pilot 30.0 against 20.0 per 1000 device-years for the rest; \
                      communication success: pilot 979‰ against 990‰ for the rest, lower by 11‰ \
                      (at most 10‰ is tolerated)"
                    .into()
            }
        );

        // Exactly 10‰ lower is still tolerated.
        let c = compare_pilot(&g(100, 2, 36_500, 10_000, 9_800), &rest, 10_000);
        assert_eq!(c.verdict, PilotVerdict::NoWorse);

        // No readings expected anywhere: faults alone decide.
        let c = compare_pilot(&g(100, 1, 36_500, 0, 0), &rest, 10_000);
        assert_eq!(c.pilot.comm_success_permille, None);
        assert_eq!(c.verdict, PilotVerdict::Better);
    }

    #[test]
    fn pilot_needs_enough_data() {
        let rest = g(1000, 20, 365_000, 100_000, 99_000);
        let c = compare_pilot(&g(10, 0, 9_999, 100, 100), &rest, 10_000);
        assert_eq!(
            c.verdict,
            PilotVerdict::NotEnoughData {
                why: "the pilot has 9999 device-days in the field; at least 10000 are needed"
                    .into()
            }
        );
        let c = compare_pilot(&g(0, 0, 0, 0, 0), &rest, 0);
        assert!(matches!(c.verdict, PilotVerdict::NotEnoughData { .. }));
        let c = compare_pilot(&g(10, 0, 10_000, 100, 100), &g(0, 0, 0, 0, 0), 10_000);
        assert!(matches!(c.verdict, PilotVerdict::NotEnoughData { .. }));
        let json = serde_json::to_value(&c).expect("serialise");
        assert_eq!(json["verdict"]["kind"], "not_enough_data");
    }
}
