//! The inventory state machine of a device (设备台账), from purchase order to
//! scrapyard, and the small rules around it: warranty end and the
//! installation checklist per utility. Pure: the lifecycle services apply
//! these and record every move with who, when and why.
//!
//! ```text
//! ordered → received → accepted → in_stock → installed → commissioned → in_service ⇄ faulty ⇄ under_repair
//!                    ↘ rejected → returned                                 ↓ (from installed, commissioned,
//!                                                       in_stock ← removed ←   in service, faulty, under repair)
//!                                                                   removed → retired | scrapped
//! ```
//!
//! `meters.status` (the coarse status the engine, dashboards and older
//! routes use) is a projection of this state: [`DeviceState::meter_status`].

use std::fmt;
use std::str::FromStr;

use crate::model::text_enum;
use crate::{DomainError, MeterStatus, Utility};

text_enum!(
    /// Where a device is in its life.
    DeviceState, "state" {
        /// 已订购: on a purchase contract, not yet delivered.
        Ordered = "ordered",
        /// 已到货: delivered, waiting for the acceptance check.
        Received = "received",
        /// 验收合格: passed the acceptance check.
        Accepted = "accepted",
        /// 验收不合格: failed the acceptance check; goes back to the supplier.
        Rejected = "rejected",
        /// 已退货: returned to the supplier (final).
        Returned = "returned",
        /// 在库: in the store room, ready to install.
        InStock = "in_stock",
        /// 已安装: fitted in a unit, not yet commissioned.
        Installed = "installed",
        /// 已调试: commissioning passed.
        Commissioned = "commissioned",
        /// 在用: in service, billing.
        InService = "in_service",
        /// 故障: reported faulty.
        Faulty = "faulty",
        /// 维修中: under repair.
        UnderRepair = "under_repair",
        /// 已拆除: taken out of its unit.
        Removed = "removed",
        /// 已退役: retired (final).
        Retired = "retired",
        /// 已报废: scrapped, with a disposal record (final).
        Scrapped = "scrapped",
    }
);

text_enum!(
    /// A move of the state machine, as asked for by a person or a service.
    Action, "action" {
        Receive = "receive",
        Accept = "accept",
        Reject = "reject",
        ReturnToSupplier = "return_to_supplier",
        Stock = "stock",
        Install = "install",
        Commission = "commission",
        PutInService = "put_in_service",
        ReportFault = "report_fault",
        StartRepair = "start_repair",
        Repair = "repair",
        Remove = "remove",
        Restock = "restock",
        Retire = "retire",
        Scrap = "scrap",
    }
);

/// Why a move was refused.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("a device that is {from} cannot {action}; from {from} it can {}", allowed_words(*.from))]
pub struct IllegalTransition {
    pub from: DeviceState,
    pub action: Action,
}

fn allowed_words(from: DeviceState) -> String {
    let allowed: Vec<&str> = Action::ALL
        .iter()
        .filter(|a| next(from, **a).is_ok())
        .map(|a| a.as_str())
        .collect();
    if allowed.is_empty() {
        "do nothing more: it is final".to_owned()
    } else {
        allowed.join(", ")
    }
}

/// The state `action` leads to from `from`, or why not.
pub fn next(from: DeviceState, action: Action) -> Result<DeviceState, IllegalTransition> {
    use Action as A;
    use DeviceState as S;
    let to = match (from, action) {
        (S::Ordered, A::Receive) => S::Received,
        (S::Received, A::Accept) => S::Accepted,
        (S::Received, A::Reject) => S::Rejected,
        (S::Rejected, A::ReturnToSupplier) => S::Returned,
        (S::Accepted, A::Stock) => S::InStock,
        (S::InStock, A::Install) => S::Installed,
        (S::Installed, A::Commission) => S::Commissioned,
        (S::Commissioned, A::PutInService) => S::InService,
        (S::InService, A::ReportFault) => S::Faulty,
        (S::Faulty, A::StartRepair) => S::UnderRepair,
        // A fault that cleared itself, or a finished repair.
        (S::Faulty | S::UnderRepair, A::Repair) => S::InService,
        (S::Installed | S::Commissioned | S::InService | S::Faulty | S::UnderRepair, A::Remove) => {
            S::Removed
        }
        // A healthy meter taken out of a vacated unit goes back on the shelf.
        (S::Removed, A::Restock) => S::InStock,
        (S::Removed, A::Retire) => S::Retired,
        (S::Removed, A::Scrap) => S::Scrapped,
        _ => return Err(IllegalTransition { from, action }),
    };
    Ok(to)
}

impl DeviceState {
    /// Whether nothing can happen to the device any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeviceState::Returned | DeviceState::Retired | DeviceState::Scrapped
        )
    }

    /// The coarse `meters.status` this state shows as to the engine,
    /// dashboards and the older meter routes.
    pub fn meter_status(self) -> MeterStatus {
        use DeviceState as S;
        match self {
            S::Ordered | S::Received | S::Accepted | S::Rejected | S::Returned | S::InStock => {
                MeterStatus::InStock
            }
            S::Installed | S::Commissioned => MeterStatus::Installed,
            S::InService => MeterStatus::InService,
            S::Faulty | S::UnderRepair => MeterStatus::Faulty,
            S::Removed => MeterStatus::Removed,
            S::Retired | S::Scrapped => MeterStatus::Retired,
        }
    }

    /// The state of a meter registered before it had a lifecycle record
    /// (through `POST /meters`, a CSV import or the demo).
    pub fn from_meter_status(status: MeterStatus) -> DeviceState {
        match status {
            MeterStatus::InStock => DeviceState::InStock,
            MeterStatus::Installed => DeviceState::Installed,
            MeterStatus::InService => DeviceState::InService,
            MeterStatus::Faulty => DeviceState::Faulty,
            MeterStatus::Removed => DeviceState::Removed,
            MeterStatus::Retired => DeviceState::Retired,
        }
    }

    /// Whether the device is counted as in the field (for fault rates per
    /// device-year).
    pub fn in_field(self) -> bool {
        matches!(
            self,
            DeviceState::InService | DeviceState::Faulty | DeviceState::UnderRepair
        )
    }
}

/// The last day of a device's warranty: `months` after `from` (the day it
/// was accepted), clamped to the month's end (31 Jan + 1 month = 28/29 Feb).
pub fn warranty_end(
    from: jiff::civil::Date,
    months: u16,
) -> Result<jiff::civil::Date, DomainError> {
    from.checked_add(jiff::Span::new().months(i64::from(months)))
        .map_err(|e| DomainError::invalid("warranty_months", e.to_string()))
}

text_enum!(
    /// An item of the installation checklist (安装检查表).
    CheckItem, "item" {
        /// 接线: phase and neutral on the right terminals, torque.
        Wiring = "wiring",
        /// 接地: the earth connection.
        Grounding = "grounding",
        /// 铅封/密封: seals on the meter and the pipe joints.
        Sealing = "sealing",
        /// 气密性: the gas-tightness test of the joints.
        GasTightness = "gas_tightness",
    }
);

/// What an installer must check and record for a meter of `utility`.
pub fn checklist(utility: Utility) -> &'static [CheckItem] {
    match utility {
        Utility::Electricity => &[CheckItem::Wiring, CheckItem::Grounding],
        Utility::Water => &[CheckItem::Sealing],
        Utility::Gas => &[CheckItem::GasTightness, CheckItem::Sealing],
    }
}

/// One checklist item as recorded.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct CheckResult {
    pub item: CheckItem,
    pub passed: bool,
    #[serde(default)]
    pub note: String,
}

/// How a recorded checklist compares with what the utility needs.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ChecklistVerdict {
    /// Every required item present and passed.
    Passed,
    /// Complete, but these items failed.
    Failed(Vec<CheckItem>),
}

/// Checks a recorded checklist: every item the utility needs exactly once,
/// nothing else; then passed or the items that failed.
pub fn judge_checklist(
    utility: Utility,
    results: &[CheckResult],
) -> Result<ChecklistVerdict, DomainError> {
    let needed = checklist(utility);
    for r in results {
        if !needed.contains(&r.item) {
            return Err(DomainError::invalid(
                "checklist",
                format!(
                    "{} is not on the {utility} checklist (it has: {})",
                    r.item,
                    words(needed)
                ),
            ));
        }
        if results.iter().filter(|o| o.item == r.item).count() > 1 {
            return Err(DomainError::invalid(
                "checklist",
                format!("{} is recorded twice", r.item),
            ));
        }
    }
    let missing: Vec<CheckItem> = needed
        .iter()
        .copied()
        .filter(|i| !results.iter().any(|r| r.item == *i))
        .collect();
    if !missing.is_empty() {
        return Err(DomainError::invalid(
            "checklist",
            format!("missing for {utility} meters: {}", words(&missing)),
        ));
    }
    let failed: Vec<CheckItem> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.item)
        .collect();
    if failed.is_empty() {
        Ok(ChecklistVerdict::Passed)
    } else {
        Ok(ChecklistVerdict::Failed(failed))
    }
}

fn words(items: &[CheckItem]) -> String {
    items
        .iter()
        .map(|i| i.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole life, contract to scrap, is one legal path.
    #[test]
    fn the_full_life_is_legal() {
        use Action as A;
        let mut s = DeviceState::Ordered;
        for a in [
            A::Receive,
            A::Accept,
            A::Stock,
            A::Install,
            A::Commission,
            A::PutInService,
            A::ReportFault,
            A::StartRepair,
            A::Repair,
            A::Remove,
            A::Scrap,
        ] {
            s = next(s, a).expect("legal");
        }
        assert_eq!(s, DeviceState::Scrapped);
        assert!(s.is_final());
    }

    #[test]
    fn illegal_moves_say_what_is_possible() {
        let e = next(DeviceState::InStock, Action::Commission).expect_err("illegal");
        assert_eq!(
            e.to_string(),
            "a device that is in_stock cannot commission; from in_stock it can install"
        );
        let e = next(DeviceState::Scrapped, Action::Stock).expect_err("final");
        assert!(
            e.to_string().ends_with("do nothing more: it is final"),
            "{e}"
        );
        let e = next(DeviceState::Received, Action::Install).expect_err("unchecked");
        assert!(e.to_string().contains("accept, reject"), "{e}");
    }

    /// Final states accept no action; every other state has a way on.
    #[test]
    fn only_final_states_are_dead_ends() {
        for s in DeviceState::ALL {
            let ways = Action::ALL.iter().filter(|a| next(*s, **a).is_ok()).count();
            assert_eq!(ways == 0, s.is_final(), "{s}");
        }
    }

    #[test]
    fn projection_round_trips_for_old_statuses() {
        for m in MeterStatus::ALL {
            assert_eq!(DeviceState::from_meter_status(*m).meter_status(), *m);
            // The store's device filter relies on the same names
            // (`COALESCE(devices.state, meters.status)`).
            assert_eq!(DeviceState::from_meter_status(*m).as_str(), m.as_str());
        }
    }

    #[test]
    fn warranty_clamps_to_month_end() {
        let d = jiff::civil::date(2026, 1, 31);
        assert_eq!(
            warranty_end(d, 1).expect("ok"),
            jiff::civil::date(2026, 2, 28)
        );
        assert_eq!(
            warranty_end(d, 24).expect("ok"),
            jiff::civil::date(2028, 1, 31)
        );
        assert_eq!(warranty_end(d, 0).expect("ok"), d);
    }

    #[test]
    fn checklists_are_judged_whole() {
        let ok = |item| CheckResult {
            item,
            passed: true,
            note: String::new(),
        };
        assert_eq!(
            judge_checklist(
                Utility::Electricity,
                &[ok(CheckItem::Wiring), ok(CheckItem::Grounding)]
            ),
            Ok(ChecklistVerdict::Passed)
        );
        let e =
            judge_checklist(Utility::Electricity, &[ok(CheckItem::Wiring)]).expect_err("missing");
        assert_eq!(
            e.to_string(),
            "checklist: missing for electricity meters: grounding"
        );
        let e = judge_checklist(
            Utility::Water,
            &[ok(CheckItem::Sealing), ok(CheckItem::Wiring)],
        )
        .expect_err("foreign");
        assert!(
            e.to_string()
                .contains("wiring is not on the water checklist"),
            "{e}"
        );
        let bad = CheckResult {
            item: CheckItem::GasTightness,
            passed: false,
            note: "leak at inlet".into(),
        };
        assert_eq!(
            judge_checklist(Utility::Gas, &[bad, ok(CheckItem::Sealing)]),
            Ok(ChecklistVerdict::Failed(vec![CheckItem::GasTightness]))
        );
    }
}
