//! The dashboard (总览): meters online/offline by utility, open alarms by
//! severity, today's and this month's consumption and revenue, accounts in
//! warning / cut off / in arrears, commands pending or failed; kept live by
//! server-sent events (`/events`).
//!
//! The figures come from aggregate queries that grow with the fleet, so
//! they are computed off the request path: a page or event reads the latest
//! snapshot, and a snapshot older than [`FRESH`] is recomputed in the
//! background (stale-while-revalidate). Only the very first request waits.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use tokio_stream::Stream;
use yufu_access::Permission;
use yufu_domain::Utility;

use super::fmt::{self, Severity};
use super::{Ctx, Page, PageError};
use crate::AppState;

pub(crate) const PAGES: &[(&str, Page)] = &[
    ("/", Page::Staff(Permission::ReadFleet)),
    ("/events", Page::Staff(Permission::ReadFleet)),
];

pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("dash.title", "总览", "Dashboard"),
    ("dash.meters", "表计在线情况", "Meters online"),
    ("dash.in_service", "在用", "In service"),
    ("dash.online", "在线", "Online"),
    ("dash.offline", "离线", "Offline"),
    ("dash.alarms", "未处理告警", "Open alarms"),
    ("dash.today", "今日", "Today"),
    ("dash.month", "本月", "This month"),
    ("dash.consumption", "用量", "Consumption"),
    ("dash.revenue", "充值收入（元）", "Revenue (yuan)"),
    ("dash.billed", "扣费（元）", "Billed (yuan)"),
    ("dash.accounts", "账户状况", "Accounts"),
    ("dash.accounts_total", "账户总数", "All accounts"),
    ("dash.warning", "余额预警", "Low balance"),
    ("dash.cut_off", "已断供", "Cut off"),
    ("dash.cut_pending", "待断供", "Cut-off pending"),
    ("dash.arrears", "欠费", "In arrears"),
    ("dash.commands", "远程命令", "Remote commands"),
    ("dash.pending", "执行中", "Pending"),
    ("dash.failed", "失败/超时", "Failed or timed out"),
    ("dash.updated", "更新于", "Updated"),
    ("dash.live", "实时更新", "Live"),
    (
        "dash.scoped",
        "总览数据涵盖全部园区，仅对不限园区的员工显示。请从园区列表进入您负责的园区。",
        "The dashboard's figures cover every site, so they are shown only to staff not limited to some sites. Open your sites from the site list.",
    ),
    ("severity.critical", "紧急", "Critical"),
    ("severity.major", "重要", "Major"),
    ("severity.minor", "一般", "Minor"),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/events", get(events))
}

/// How long a snapshot is served before it is recomputed.
const FRESH: Duration = Duration::from_secs(5);

/// The console's per-server state (shared by all its pages).
#[derive(Clone, Default, Debug)]
pub struct ConsoleState(Arc<Inner>);

#[derive(Default, Debug)]
struct Inner {
    snapshot: Mutex<Option<(Instant, Arc<Snapshot>)>>,
    refreshing: AtomicBool,
    first: tokio::sync::Mutex<()>,
}

/// The dashboard's figures, already formatted, by key (the same keys the
/// template's `data-k` attributes and the event stream use).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub(crate) struct Snapshot(BTreeMap<String, String>);

impl Snapshot {
    pub fn v(&self, key: &str) -> &str {
        self.0.get(key).map_or("—", String::as_str)
    }
}

async fn compute(s: &AppState) -> Result<Snapshot, crate::WebError> {
    let now = crate::auth::now_ms();
    let mut out = BTreeMap::new();
    let mut put = |k: String, v: String| {
        out.insert(k, v);
    };
    let counts = s.store.fleet_counts().await?;
    let console = s.store.console();
    let offline = console.offline_by_utility().await?;
    for u in Utility::ALL {
        let in_service: i64 = counts
            .meters
            .iter()
            .filter(|(mu, st, _)| mu == u && st.as_str() == "in_service")
            .map(|(_, _, n)| *n)
            .sum();
        let off = offline
            .iter()
            .find(|(name, _)| name == u.as_str())
            .map_or(0, |(_, n)| *n)
            .min(in_service);
        put(
            format!("meters.{}.in_service", u.as_str()),
            in_service.to_string(),
        );
        put(
            format!("meters.{}.online", u.as_str()),
            (in_service - off).to_string(),
        );
        put(format!("meters.{}.offline", u.as_str()), off.to_string());
    }
    let mut by_severity = [0i64; 3];
    for (kind, n) in console.open_alarm_counts().await? {
        let i = Severity::ALL
            .iter()
            .position(|s| *s == Severity::of(&kind))
            .unwrap_or(2);
        by_severity[i] += n;
    }
    for (sev, n) in Severity::ALL.iter().zip(by_severity) {
        put(format!("alarms.{}", sev.as_str()), n.to_string());
    }
    for (period, since) in [
        ("today", fmt::day_start(now)),
        ("month", fmt::month_start(now)),
    ] {
        let sums = console.ledger_sums_since(since).await?;
        let revenue: i64 = sums
            .iter()
            .filter(|l| l.kind == "recharge")
            .map(|l| l.amount_fen)
            .sum();
        let billed: i64 = sums
            .iter()
            .filter(|l| l.kind == "consumption" || l.kind == "fixed_charge")
            .map(|l| -l.amount_fen)
            .sum();
        put(format!("{period}.revenue"), fmt::yuan(revenue));
        put(format!("{period}.billed"), fmt::yuan(billed));
        let used = console.consumption_since(since).await?;
        for u in Utility::ALL {
            let q = used
                .iter()
                .find(|(name, _)| name == u.as_str())
                .map_or(0, |(_, q)| *q);
            put(format!("{period}.use.{}", u.as_str()), fmt::quantity(*u, q));
        }
    }
    let acc = s.writer.account_summary().await?;
    put("accounts.total".into(), acc.total.to_string());
    put("accounts.warning".into(), acc.warning.to_string());
    put("accounts.cut_off".into(), acc.cut_off.to_string());
    put("accounts.cut_pending".into(), acc.cut_pending.to_string());
    put("accounts.arrears".into(), acc.in_arrears.to_string());
    let mut pending = 0;
    let mut failed = 0;
    for (state, n) in console.command_state_counts().await? {
        match state.as_str() {
            "queued" | "sent" => pending += n,
            "failed" | "timed_out" => failed += n,
            _ => {}
        }
    }
    put("commands.pending".into(), pending.to_string());
    put("commands.failed".into(), failed.to_string());
    put("updated".into(), fmt::time(now));
    Ok(Snapshot(out))
}

impl ConsoleState {
    /// The latest snapshot; recomputed in the background when stale.
    pub(crate) async fn dashboard(&self, s: &AppState) -> Result<Arc<Snapshot>, crate::WebError> {
        let cached = self.0.snapshot.lock().ok().and_then(|g| g.clone());
        match cached {
            Some((at, snap)) => {
                if at.elapsed() >= FRESH && !self.0.refreshing.swap(true, Ordering::AcqRel) {
                    let me = self.clone();
                    let s = s.clone();
                    tokio::spawn(async move {
                        me.refresh(&s).await;
                        me.0.refreshing.store(false, Ordering::Release);
                    });
                }
                Ok(snap)
            }
            None => {
                // Single flight for the first one: others wait for it.
                let _first = self.0.first.lock().await;
                if let Some((_, snap)) = self.0.snapshot.lock().ok().and_then(|g| g.clone()) {
                    return Ok(snap);
                }
                let snap = Arc::new(compute(s).await?);
                if let Ok(mut g) = self.0.snapshot.lock() {
                    *g = Some((Instant::now(), snap.clone()));
                }
                Ok(snap)
            }
        }
    }

    async fn refresh(&self, s: &AppState) {
        match compute(s).await {
            Ok(snap) => {
                if let Ok(mut g) = self.0.snapshot.lock() {
                    *g = Some((Instant::now(), Arc::new(snap)));
                }
            }
            Err(e) => tracing::warn!(error = %e, "dashboard figures could not be refreshed"),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    c: Ctx,
    s: Arc<Snapshot>,
    scoped: bool,
    utilities: [&'static str; 3],
    severities: [(&'static str, &'static str); 3],
}

async fn page(State(state): State<AppState>, c: Ctx) -> Result<DashboardPage, PageError> {
    let scoped = c.caller.as_ref().is_some_and(crate::auth::Caller::scoped);
    let s = if scoped {
        Arc::new(Snapshot::default())
    } else {
        state
            .console
            .dashboard(&state)
            .await
            .map_err(|e| PageError::new(&c, e))?
    };
    Ok(DashboardPage {
        c,
        s,
        scoped,
        utilities: ["electricity", "water", "gas"],
        severities: Severity::ALL.map(|s| (s.as_str(), s.class())),
    })
}

/// The dashboard's figures every few seconds, as server-sent events whose
/// data is the snapshot's JSON object.
async fn events(
    State(state): State<AppState>,
    c: Ctx,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    if c.caller.as_ref().is_some_and(crate::auth::Caller::scoped) {
        return Err(PageError::new(&c, crate::WebError::NotFound));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Event, Infallible>>(2);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FRESH);
        loop {
            tick.tick().await;
            let Ok(snap) = state.console.dashboard(&state).await else {
                continue;
            };
            let data = serde_json::to_string(&*snap).unwrap_or_else(|_| "{}".into());
            // A closed stream (the page went away) ends the task.
            if tx.send(Ok(Event::default().data(data))).await.is_err() {
                break;
            }
        }
    });
    Ok(Sse::new(tokio_stream::wrappers::ReceiverStream::new(rx)).keep_alive(KeepAlive::default()))
}
