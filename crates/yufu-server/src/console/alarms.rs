//! The alarms page (告警): the organisation's alarms newest first, 50 a
//! page, filtered by severity, kind, state and meter serial; site-scoped
//! staff see only the alarms of meters in their sites. Staff who may
//! operate meters acknowledge an alarm and resolve it with a note; the
//! buttons are forms that `console.js` posts to `/api/v1/alarms/{id}/…`
//! (permission, site scope, the 409 when someone was first, the audit row).
//!
//! Every filter is a condition of one SQL query
//! ([`Console::search_alarms`](yufu_store::console::Console::search_alarms)),
//! which reads the alarms' indexes newest first and stops at the page: the
//! page costs the same at a million meters with years of alarms.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use yufu_access::{Permission, SiteScope};
use yufu_store::console::{AlarmRecord, AlarmSearch, AlarmState};

use super::fmt::{self, Severity};
use super::{Ctx, Lang, Page, PageError};
use crate::{AppState, WebError};

/// This module's pages and who may open them.
pub(crate) const PAGES: &[(&str, Page)] = &[("/alarms", Page::Staff(Permission::ReadFleet))];

/// Alarms shown per page.
const PAGE_SIZE: u32 = 50;

/// The alarm kinds the engine, the gateway and meters raise, in the order
/// the kind filter lists them (most urgent first). An unknown kind still
/// shows, under its own name.
pub(crate) const KINDS: &[&str] = &[
    "gas_leak",
    "tamper",
    "magnetic",
    "comm_fault",
    "command_failed",
    "valve_fault",
    "cover_open",
    "conflict",
    "low_battery",
    "negative_delta",
    "implausible_jump",
    "register_out_of_range",
    "no_tariff",
    "gap_too_long",
    "apportionment",
];

/// The states the filter offers, the first the default.
const STATES: &[(&str, AlarmState)] = &[
    ("open", AlarmState::Open),
    ("new", AlarmState::New),
    ("acknowledged", AlarmState::Acknowledged),
    ("resolved", AlarmState::Resolved),
    ("cleared", AlarmState::Cleared),
    ("all", AlarmState::All),
];

/// This module's labels: (key, 简体中文, English).
pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("alarms.title", "告警", "Alarms"),
    ("alarms.alarm", "告警", "Alarm"),
    ("alarms.severity", "级别", "Severity"),
    ("alarms.kind", "类型", "Kind"),
    ("alarms.state", "状态", "State"),
    ("alarms.serial", "表号", "Meter serial"),
    ("alarms.raised", "发生时间", "Raised"),
    ("alarms.meter", "表计", "Meter"),
    ("alarms.actions", "处理", "Handling"),
    ("alarms.clear_filters", "清除筛选", "Clear filters"),
    (
        "alarms.state.open",
        "未处理（含已确认）",
        "Open (incl. acknowledged)",
    ),
    ("alarms.state.new", "待确认", "Not yet acknowledged"),
    (
        "alarms.state.acknowledged",
        "已确认、未解决",
        "Acknowledged, not resolved",
    ),
    ("alarms.state.resolved", "已解决", "Resolved"),
    (
        "alarms.state.cleared",
        "已自动恢复（未解决）",
        "Cleared by the system (not resolved)",
    ),
    ("alarms.state.all", "全部", "All"),
    ("alarms.is.open", "待处理", "Open"),
    ("alarms.is.acknowledged", "已确认", "Acknowledged"),
    ("alarms.is.cleared", "已恢复", "Cleared"),
    ("alarms.is.resolved", "已解决", "Resolved"),
    ("alarms.acked_by", "确认", "Acknowledged by"),
    ("alarms.resolved_by", "解决", "Resolved by"),
    ("alarms.cleared_at", "恢复于", "Cleared at"),
    ("alarms.ack", "确认告警", "Acknowledge"),
    (
        "alarms.ack_confirm",
        "确认已收到此告警并安排处理？",
        "Acknowledge this alarm: you have seen it and someone is on it?",
    ),
    ("alarms.resolve", "解决", "Resolve"),
    ("alarms.note", "处理说明", "Resolution note"),
    (
        "alarms.note_placeholder",
        "发现了什么、做了什么",
        "What was found and done",
    ),
    (
        "alarms.empty",
        "没有符合条件的告警。",
        "No alarms match these filters.",
    ),
    (
        "alarms.scoped",
        "仅显示您负责园区内表计的告警。",
        "Showing the alarms of meters in your sites only.",
    ),
    ("alarms.kind.gas_leak", "燃气泄漏", "Gas leak"),
    ("alarms.kind.tamper", "窃电/破坏", "Tampering"),
    ("alarms.kind.magnetic", "强磁干扰", "Magnetic interference"),
    (
        "alarms.kind.comm_fault",
        "通信中断（离线）",
        "Offline (no data)",
    ),
    (
        "alarms.kind.command_failed",
        "远程命令失败",
        "Command failed",
    ),
    ("alarms.kind.valve_fault", "阀门故障", "Valve fault"),
    ("alarms.kind.cover_open", "开盖", "Cover opened"),
    ("alarms.kind.conflict", "读数冲突", "Conflicting reading"),
    ("alarms.kind.low_battery", "电池电量低", "Low battery"),
    (
        "alarms.kind.negative_delta",
        "读数倒走",
        "Register went backwards",
    ),
    (
        "alarms.kind.implausible_jump",
        "读数异常跳变",
        "Implausible jump in the register",
    ),
    (
        "alarms.kind.register_out_of_range",
        "读数超出量程",
        "Register out of range",
    ),
    (
        "alarms.kind.no_tariff",
        "未设置价格方案",
        "No tariff assigned",
    ),
    (
        "alarms.kind.gap_too_long",
        "读数间隔过长",
        "Gap between readings too long",
    ),
    (
        "alarms.kind.apportionment",
        "公摊分摊异常",
        "Public-area split problem",
    ),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/alarms", get(page))
}

/// An alarm kind for people: its label when known, else the kind itself.
pub(crate) fn kind_label(lang: Lang, kind: &str) -> String {
    if KINDS.contains(&kind) {
        lang.t(&format!("alarms.kind.{kind}")).to_owned()
    } else {
        kind.to_owned()
    }
}

/// The page's query string. Every field is text, so a hand-edited URL
/// gets the page's own 400 rather than an extractor's.
#[derive(serde::Deserialize, Default, Debug)]
pub(crate) struct AlarmsQuery {
    severity: Option<String>,
    kind: Option<String>,
    state: Option<String>,
    serial: Option<String>,
    before: Option<String>,
}

/// The filters, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Filter {
    severity: Option<Severity>,
    kind: Option<String>,
    state: &'static str,
    serial: Option<String>,
    before: Option<i64>,
}

/// A set value: `None` when absent or blank (an empty select or box).
fn given(v: Option<&String>) -> Option<&str> {
    v.map(|s| s.trim()).filter(|s| !s.is_empty())
}

impl Filter {
    fn parse(q: &AlarmsQuery) -> Result<Filter, WebError> {
        let bad = |what: &str| WebError::Invalid(format!("unknown {what}"));
        let severity = given(q.severity.as_ref())
            .map(|s| {
                Severity::ALL
                    .into_iter()
                    .find(|x| x.as_str() == s)
                    .ok_or_else(|| bad("severity"))
            })
            .transpose()?;
        let kind = given(q.kind.as_ref())
            .map(|k| {
                let ok = k.len() <= 64
                    && k.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if ok {
                    Ok(k.to_owned())
                } else {
                    Err(bad("kind"))
                }
            })
            .transpose()?;
        let state = match given(q.state.as_ref()) {
            None => STATES[0].0,
            Some(s) => {
                STATES
                    .iter()
                    .find(|(name, _)| *name == s)
                    .ok_or_else(|| bad("state"))?
                    .0
            }
        };
        let serial = given(q.serial.as_ref())
            .map(|s| {
                if s.chars().count() <= 64 {
                    Ok(s.to_owned())
                } else {
                    Err(WebError::Invalid(
                        "a meter serial has at most 64 characters".into(),
                    ))
                }
            })
            .transpose()?;
        let before = given(q.before.as_ref())
            .map(|b| b.parse::<i64>().map_err(|_| bad("page")))
            .transpose()?;
        Ok(Filter {
            severity,
            kind,
            state,
            serial,
            before,
        })
    }

    fn alarm_state(&self) -> AlarmState {
        STATES
            .iter()
            .find(|(name, _)| *name == self.state)
            .map_or(AlarmState::Open, |(_, s)| *s)
    }

    /// (only these kinds, none of these kinds) for the severity and kind
    /// filters; `None` when they contradict each other (no alarm matches).
    fn kinds(&self) -> Option<(Vec<String>, Vec<String>)> {
        if let Some(k) = &self.kind {
            return match self.severity {
                Some(s) if Severity::of(k) != s => None,
                _ => Some((vec![k.clone()], Vec::new())),
            };
        }
        let of = |s: Severity| -> Vec<String> {
            KINDS
                .iter()
                .filter(|k| Severity::of(k) == s)
                .map(|k| (*k).to_owned())
                .collect()
        };
        Some(match self.severity {
            None => (Vec::new(), Vec::new()),
            // Minor is "everything else", unknown kinds included.
            Some(Severity::Minor) => (Vec::new(), {
                let mut v = of(Severity::Critical);
                v.extend(of(Severity::Major));
                v
            }),
            Some(s) => (of(s), Vec::new()),
        })
    }

    /// This page's address with the same filters, on the page before `before`.
    fn href(&self, before: Option<i64>) -> String {
        let mut q = vec![format!("state={}", self.state)];
        if let Some(s) = self.severity {
            q.push(format!("severity={}", s.as_str()));
        }
        if let Some(k) = &self.kind {
            q.push(format!("kind={}", fmt::url_encode(k)));
        }
        if let Some(s) = &self.serial {
            q.push(format!("serial={}", fmt::url_encode(s)));
        }
        if let Some(b) = before {
            q.push(format!("before={b}"));
        }
        format!("/alarms?{}", q.join("&"))
    }
}

/// One alarm as its row shows it.
pub(crate) struct AlarmLine {
    id: i64,
    raised: String,
    severity: &'static str,
    severity_class: &'static str,
    kind: String,
    meter_id: String,
    serial: String,
    detail: String,
    /// `open`, `acknowledged`, `cleared` or `resolved`.
    state: &'static str,
    state_class: &'static str,
    /// "who · when", with the note when there is one.
    acked: Option<String>,
    resolved: Option<String>,
    cleared: Option<String>,
    can_ack: bool,
    can_resolve: bool,
}

/// "zhang · 2026-11-26 08:30:00 · note" (a person's `user:` prefix dropped).
fn handled(by: Option<&str>, at: Option<i64>, note: Option<&str>) -> Option<String> {
    let at = at?;
    let by = by.unwrap_or("?");
    let mut s = format!(
        "{} · {}",
        by.strip_prefix("user:").unwrap_or(by),
        fmt::time(at)
    );
    if let Some(n) = note {
        s.push_str(" · ");
        s.push_str(n);
    }
    Some(s)
}

impl AlarmLine {
    fn of(lang: Lang, a: AlarmRecord) -> Self {
        let severity = Severity::of(&a.kind);
        let state = crate::alarms_api::state_of(&a);
        AlarmLine {
            id: a.id,
            raised: fmt::time(a.raised_at_ms),
            severity: severity.as_str(),
            severity_class: severity.class(),
            kind: kind_label(lang, &a.kind),
            meter_id: a.meter_id.to_string(),
            serial: a.meter_serial,
            detail: a.detail,
            state,
            state_class: match state {
                "open" => "bad",
                "acknowledged" => "warn",
                "resolved" => "good",
                _ => "info",
            },
            acked: handled(a.acked_by.as_deref(), a.acked_at_ms, a.ack_note.as_deref()),
            resolved: handled(
                a.resolved_by.as_deref(),
                a.resolved_at_ms,
                a.resolution_note.as_deref(),
            ),
            cleared: a.cleared_at_ms.map(fmt::time),
            // Acknowledging says "someone is on it": only while nobody is.
            can_ack: a.acked_at_ms.is_none() && a.resolved_at_ms.is_none(),
            can_resolve: a.resolved_at_ms.is_none(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "console/alarms.html")]
pub(crate) struct AlarmsPage {
    c: Ctx,
    rows: Vec<AlarmLine>,
    scoped: bool,
    /// (value, label, selected) for each select.
    severities: Vec<(&'static str, &'static str, bool)>,
    kinds: Vec<(&'static str, String, bool)>,
    states: Vec<(&'static str, &'static str, bool)>,
    serial: String,
    /// Links to the first and the next page, when there are such pages.
    first_href: Option<String>,
    next_href: Option<String>,
}

async fn page(
    State(s): State<AppState>,
    c: Ctx,
    Query(q): Query<AlarmsQuery>,
) -> Result<AlarmsPage, PageError> {
    let f = Filter::parse(&q).map_err(|e| PageError::new(&c, e))?;
    let caller = c
        .caller
        .clone()
        .ok_or_else(|| PageError::new(&c, WebError::NotFound))?;
    let scoped = caller.scoped();
    let mut rows = match f.kinds() {
        None => Vec::new(),
        Some((kinds, not_kinds)) => {
            let search = AlarmSearch {
                organisation: caller.principal.organisation,
                sites: match &caller.principal.sites {
                    SiteScope::All => None,
                    SiteScope::Only(set) => Some(set.iter().copied().collect()),
                },
                state: f.alarm_state(),
                kinds,
                not_kinds,
                meter_serial: f.serial.clone(),
                before_id: f.before,
                // One more than shown: tells whether a next page exists.
                limit: PAGE_SIZE + 1,
            };
            s.store
                .console()
                .search_alarms(&search)
                .await
                .map_err(|e| PageError::new(&c, e))?
        }
    };
    let more = rows.len() > PAGE_SIZE as usize;
    rows.truncate(PAGE_SIZE as usize);
    let next_href = rows.last().filter(|_| more).map(|a| f.href(Some(a.id)));
    let lang = c.lang;
    Ok(AlarmsPage {
        rows: rows.into_iter().map(|a| AlarmLine::of(lang, a)).collect(),
        scoped,
        severities: Severity::ALL
            .iter()
            .map(|s| {
                (
                    s.as_str(),
                    lang.t(&format!("severity.{}", s.as_str())),
                    f.severity == Some(*s),
                )
            })
            .collect(),
        kinds: KINDS
            .iter()
            .map(|k| (*k, kind_label(lang, k), f.kind.as_deref() == Some(*k)))
            .collect(),
        states: STATES
            .iter()
            .map(|(name, _)| {
                (
                    *name,
                    lang.t(&format!("alarms.state.{name}")),
                    *name == f.state,
                )
            })
            .collect(),
        serial: f.serial.clone().unwrap_or_default(),
        first_href: f.before.map(|_| f.href(None)),
        next_href,
        c,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_and_state_has_a_label() {
        for lang in [Lang::Zh, Lang::En] {
            for k in KINDS {
                assert_ne!(kind_label(lang, k), "?", "{k}");
            }
            for (name, _) in STATES {
                assert_ne!(lang.t(&format!("alarms.state.{name}")), "?", "{name}");
            }
            for s in ["open", "acknowledged", "cleared", "resolved"] {
                assert_ne!(lang.t(&format!("alarms.is.{s}")), "?", "{s}");
            }
        }
        assert_eq!(kind_label(Lang::En, "something_new"), "something_new");
    }

    fn filter(q: &[(&str, &str)]) -> Result<Filter, WebError> {
        let get = |k: &str| {
            q.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        };
        Filter::parse(&AlarmsQuery {
            severity: get("severity"),
            kind: get("kind"),
            state: get("state"),
            serial: get("serial"),
            before: get("before"),
        })
    }

    #[test]
    fn filters_parse_and_map_to_kinds() {
        let f = filter(&[]).unwrap();
        assert_eq!((f.state, f.alarm_state()), ("open", AlarmState::Open));
        assert_eq!(f.kinds(), Some((vec![], vec![])));
        // Blank values are "any".
        assert_eq!(filter(&[("severity", ""), ("serial", " ")]).unwrap(), f);

        let critical = filter(&[("severity", "critical")]).unwrap();
        let (only, none) = critical.kinds().unwrap();
        assert!(none.is_empty());
        assert_eq!(only, vec!["gas_leak", "tamper", "magnetic"]);
        // Minor is everything that is neither critical nor major.
        let (only, none) = filter(&[("severity", "minor")]).unwrap().kinds().unwrap();
        assert!(only.is_empty());
        assert!(none.contains(&"gas_leak".to_owned()) && none.contains(&"comm_fault".to_owned()));
        assert!(!none.contains(&"low_battery".to_owned()));
        // A kind and a severity that disagree match nothing.
        assert_eq!(
            filter(&[("severity", "critical"), ("kind", "low_battery")])
                .unwrap()
                .kinds(),
            None
        );
        assert_eq!(
            filter(&[("kind", "tamper")]).unwrap().kinds(),
            Some((vec!["tamper".to_owned()], vec![]))
        );

        assert!(filter(&[("severity", "huge")]).is_err());
        assert!(filter(&[("state", "gone")]).is_err());
        assert!(filter(&[("kind", "DROP TABLE")]).is_err());
        assert!(filter(&[("before", "x")]).is_err());
        let paged = filter(&[("state", "all"), ("serial", "E 1"), ("before", "40")]).unwrap();
        assert_eq!(paged.alarm_state(), AlarmState::All);
        assert_eq!(
            paged.href(Some(7)),
            "/alarms?state=all&serial=E%201&before=7"
        );
        assert_eq!(paged.href(None), "/alarms?state=all&serial=E%201");
    }
}
