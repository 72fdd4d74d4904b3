//! What the device-lifecycle pages (issue 8) share: the service context
//! built for the signed-in person exactly as the API builds it, the
//! "organisation-wide" rule for site-scoped staff, and the labels of the
//! inventory states and moves, so that every page shows 在用 / In service
//! the same way.
//!
//! The pages read through the same `yufu_lifecycle::service` functions the
//! API answers with (device view, contract view, scorecard, rollout view,
//! replacement evaluation), so a page never shows a number the API would
//! compute differently.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use yufu_domain::OrganisationId;
use yufu_domain::lifecycle::{Action, DeviceState};
use yufu_lifecycle::service;

use super::{Ctx, Lang, PageError};
use crate::{AppState, Caller, WebError};

/// Labels shared by the lifecycle pages: the fourteen states, the moves,
/// and the section tabs.
pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("nav.devices", "设备", "Devices"),
    ("nav.procurement", "采购", "Procurement"),
    ("lc.tab.devices", "设备台账", "Device register"),
    ("lc.tab.installations", "安装计划", "Installations"),
    ("lc.tab.replacement", "更换计划", "Replacement"),
    ("lc.state.ordered", "已订购", "Ordered"),
    ("lc.state.received", "已到货", "Received"),
    ("lc.state.accepted", "验收合格", "Accepted"),
    ("lc.state.rejected", "验收不合格", "Rejected"),
    ("lc.state.returned", "已退货", "Returned"),
    ("lc.state.in_stock", "在库", "In stock"),
    ("lc.state.installed", "已安装", "Installed"),
    ("lc.state.commissioned", "已调试", "Commissioned"),
    ("lc.state.in_service", "在用", "In service"),
    ("lc.state.faulty", "故障", "Faulty"),
    ("lc.state.under_repair", "维修中", "Under repair"),
    ("lc.state.removed", "已拆除", "Removed"),
    ("lc.state.retired", "已退役", "Retired"),
    ("lc.state.scrapped", "已报废", "Scrapped"),
    ("lc.action.order", "订购（合同）", "Ordered (contract)"),
    ("lc.action.receive", "到货登记", "Received"),
    ("lc.action.accept", "验收合格", "Accepted"),
    ("lc.action.reject", "验收不合格", "Rejected"),
    (
        "lc.action.return_to_supplier",
        "退回供应商",
        "Returned to the supplier",
    ),
    ("lc.action.stock", "入库", "Put in stock"),
    ("lc.action.install", "安装", "Installed"),
    ("lc.action.commission", "调试通过", "Commissioned"),
    ("lc.action.put_in_service", "投入使用", "Put in service"),
    ("lc.action.report_fault", "报告故障", "Fault reported"),
    ("lc.action.start_repair", "开始维修", "Repair started"),
    ("lc.action.repair", "修复", "Repaired"),
    ("lc.action.remove", "拆除", "Removed"),
    ("lc.action.restock", "重新入库", "Back in stock"),
    ("lc.action.retire", "退役", "Retired"),
    ("lc.action.scrap", "报废", "Scrapped"),
    ("lc.install.planned", "已计划", "Planned"),
    ("lc.install.installed", "已安装", "Installed"),
    ("lc.install.cancelled", "已取消", "Cancelled"),
    ("lc.check.wiring", "接线", "Wiring"),
    ("lc.check.grounding", "接地", "Grounding"),
    ("lc.check.sealing", "铅封/密封", "Sealing"),
    ("lc.check.gas_tightness", "气密性", "Gas-tightness"),
    ("lc.pass", "合格", "Pass"),
    ("lc.fail", "不合格", "Fail"),
    ("lc.register_unit.electricity", "Wh", "Wh"),
    ("lc.register_unit.water", "升", "litres"),
    ("lc.register_unit.gas", "升", "litres"),
    // The lifecycle permissions on the users page's role table (its other
    // permissions are in users::TEXT).
    (
        "users.perm.manage_procurement",
        "设备采购（型号、供应商、合同草稿、到货、验收）",
        "Procurement (catalogue, suppliers, contract drafts, deliveries, acceptance)",
    ),
    (
        "users.perm.approve_procurement",
        "审批或取消他人起草的采购合同",
        "Approve or cancel others' purchase contracts",
    ),
    (
        "users.perm.manage_devices",
        "设备管理（安装计划、上岗证、更换计划、报废）",
        "Device management (installation plans, certifications, rollouts, scrapping)",
    ),
    (
        "users.perm.install_devices",
        "现场作业（安装、调试、换表、故障维修、拆除）",
        "Field work (install, commission, swap, faults and repairs, remove)",
    ),
];

/// The person behind a page, as the services record them (the same
/// names as the API: `user:NAME` / `token:NAME` and the role).
pub(crate) struct Who {
    actor: String,
    role: &'static str,
    org: OrganisationId,
}

impl Who {
    /// The signed-in staff member (every lifecycle page has one).
    pub(crate) fn of(c: &Ctx) -> Result<Who, PageError> {
        let caller = caller(c)?;
        Ok(Who {
            actor: caller.principal.audit_name(),
            role: caller.principal.actor.as_str(),
            org: caller.principal.organisation,
        })
    }

    pub(crate) fn org(&self) -> OrganisationId {
        self.org
    }

    /// The service context, as `lifecycle_api` builds it: now, and today in
    /// the organisation's zone.
    pub(crate) fn ctx<'a>(&'a self, s: &'a AppState) -> service::Ctx<'a> {
        let now = Timestamp::now();
        service::Ctx {
            store: s.store.as_ref(),
            writer: Some(&s.writer),
            org: self.org,
            actor: &self.actor,
            role: self.role,
            now,
            today: today(now),
        }
    }
}

/// The organisation's civil day at `now` (Asia/Shanghai; UTC+8, which it
/// has been since 1991, should the zone database lack it).
pub(crate) fn today(now: Timestamp) -> Date {
    let zone = TimeZone::get(crate::lifecycle_api::ORGANISATION_ZONE)
        .unwrap_or_else(|_| TimeZone::fixed(jiff::tz::offset(8)));
    now.to_zoned_datetime(zone).date()
}

fn caller(c: &Ctx) -> Result<&Caller, PageError> {
    c.caller
        .as_ref()
        .ok_or_else(|| PageError::new(c, WebError::NotFound))
}

/// Pages that span the organisation (the device register, procurement,
/// replacement) refuse site-scoped staff, as the API's gate does for the
/// routes behind them.
pub(crate) fn whole_org(c: &Ctx) -> Result<Who, PageError> {
    if caller(c)?.scoped() {
        return Err(PageError::new(
            c,
            WebError::Forbidden("the page spans the whole organisation".into()),
        ));
    }
    Who::of(c)
}

/// A service failure as a page error (a record of another organisation,
/// or none, is "not found").
pub(crate) fn lc_err(c: &Ctx, e: service::LifecycleError) -> PageError {
    PageError::new(c, WebError::from(e))
}

/// A store failure as a page error.
pub(crate) fn store_err(c: &Ctx, e: yufu_store::StoreError) -> PageError {
    super::meter::page_err(c, e)
}

/// An id in the path: one that does not parse is a page that does not exist.
pub(crate) fn path_id<T: std::str::FromStr>(c: &Ctx, id: &str) -> Result<T, PageError> {
    id.parse()
        .map_err(|_| PageError::new(c, WebError::NotFound))
}

/// A state's label.
pub(crate) fn state_label(lang: Lang, s: DeviceState) -> &'static str {
    lang.t(&format!("lc.state.{}", s.as_str()))
}

/// The history's first row of a delivered device: ordered on a contract
/// line (the store records it; it is no `Action` a person asks for).
const ORDER: &str = "order";

/// A move's label; one the catalogue does not know shows as stored.
pub(crate) fn action_label(lang: Lang, action: &str) -> String {
    if action == ORDER || Action::ALL.iter().any(|a| a.as_str() == action) {
        lang.t(&format!("lc.action.{action}")).to_owned()
    } else {
        action.to_owned()
    }
}

/// The badge colour of a state (console.css): healthy green, trouble red,
/// on its way out amber, the rest blue; final states plain.
pub(crate) fn state_class(s: DeviceState) -> &'static str {
    use DeviceState as S;
    match s {
        S::InService | S::Accepted => "good",
        S::Faulty | S::Rejected => "bad",
        S::UnderRepair | S::Removed => "warn",
        S::Returned | S::Retired | S::Scrapped => "",
        _ => "info",
    }
}

/// A state as its badge shows it.
#[derive(Clone, Debug)]
pub(crate) struct StateBadge {
    pub code: &'static str,
    pub label: &'static str,
    pub class: &'static str,
}

impl StateBadge {
    pub(crate) fn of(lang: Lang, s: DeviceState) -> StateBadge {
        StateBadge {
            code: s.as_str(),
            label: state_label(lang, s),
            class: state_class(s),
        }
    }
}

/// An installation plan's status label key and badge class.
pub(crate) fn install_status(
    s: yufu_store::lifecycle::InstallationStatus,
) -> (String, &'static str) {
    use yufu_store::lifecycle::InstallationStatus as I;
    let class = match s {
        I::Planned => "info",
        I::Installed => "good",
        I::Cancelled => "",
    };
    (format!("lc.install.{}", s.as_str()), class)
}

/// A civil date as `YYYY-MM-DD`.
pub(crate) fn date(d: Date) -> String {
    d.to_string()
}

/// "—" for what is not known.
pub(crate) fn or_dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "—".to_owned())
}

/// A permille as a percentage with one decimal: `955` → `95.5%`.
pub(crate) fn percent(permille: u32) -> String {
    format!("{}.{}%", permille / 10, permille % 10)
}

/// The person in an actor name, without the `user:` prefix people know
/// themselves by (tokens and the CLI keep theirs).
pub(crate) fn person(actor: &str) -> String {
    actor.strip_prefix("user:").unwrap_or(actor).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_and_move_has_a_label_in_both_languages() {
        for lang in [Lang::Zh, Lang::En] {
            for s in DeviceState::ALL {
                assert_ne!(state_label(lang, *s), "?", "{s}");
            }
            for a in Action::ALL {
                assert_ne!(action_label(lang, a.as_str()), "?", "{a}");
            }
        }
        assert_eq!(state_label(Lang::Zh, DeviceState::Scrapped), "已报废");
        assert_eq!(state_label(Lang::Zh, DeviceState::InService), "在用");
        assert_eq!(
            state_label(Lang::En, DeviceState::UnderRepair),
            "Under repair"
        );
        assert_eq!(action_label(Lang::En, "teleport"), "teleport");
        assert_eq!(action_label(Lang::Zh, ORDER), "订购（合同）");
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(percent(955), "95.5%");
        assert_eq!(percent(1000), "100.0%");
        assert_eq!(percent(7), "0.7%");
        assert_eq!(person("user:wang"), "wang");
        assert_eq!(person("token:ci"), "token:ci");
        assert_eq!(date(jiff::civil::date(2026, 3, 5)), "2026-03-05");
        // 2026-11-25 16:30 UTC is already the 26th in Shanghai.
        let t: Timestamp = "2026-11-25T16:30:00Z".parse().unwrap();
        assert_eq!(today(t), jiff::civil::date(2026, 11, 26));
    }
}
