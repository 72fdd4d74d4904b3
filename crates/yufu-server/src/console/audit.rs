//! The audit log page (审计日志): every change made through the API (and
//! the CLI), newest first, 50 a page, searched by actor, action, target
//! and time through the store's indexed audit search; and, on request, a
//! walk of the whole hash chain ([`crate::access_api::verify_audit`]) that
//! says whether any row was altered or removed.
//!
//! The log spans the organisation's whole history, so site-scoped staff
//! are refused it (as the audit API refuses them).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use yufu_access::Permission;
use yufu_store::access::AuditFilter;

use super::fmt;
use super::{Ctx, Page, PageError};
use crate::{AppState, WebError};

/// This module's pages and who may open them.
pub(crate) const PAGES: &[(&str, Page)] = &[("/audit", Page::Staff(Permission::ReadAudit))];

/// Rows shown per page.
const PAGE_SIZE: u32 = 50;
/// The longest before/after text shown in a row (the full row is in the
/// API and the export).
const CHANGE_CHARS: usize = 2_000;
/// China Standard Time, in which the date filters are read.
const CST: jiff::tz::Offset = jiff::tz::offset(8);

/// This module's labels: (key, 简体中文, English).
pub(crate) const TEXT: &[(&str, &str, &str)] = &[
    ("audit.title", "审计日志", "Audit log"),
    ("audit.actor", "操作人", "Actor"),
    (
        "audit.actor_hint",
        "登录名，或 token:名称",
        "User name, or token:NAME",
    ),
    ("audit.action", "操作", "Action"),
    (
        "audit.action_hint",
        "包含，如 acknowledge、recharges",
        "Contains, e.g. acknowledge, recharges",
    ),
    ("audit.target", "对象", "Target"),
    (
        "audit.target_hint",
        "开头为，如 alarm:、account:",
        "Starts with, e.g. alarm:, account:",
    ),
    ("audit.from", "起始日期", "From (date)"),
    ("audit.to", "截止日期（含）", "To (date, inclusive)"),
    ("audit.source", "来源地址", "Source"),
    ("audit.change", "变更", "Change"),
    ("audit.before", "变更前", "Before"),
    ("audit.after", "变更后", "After"),
    (
        "audit.empty",
        "没有符合条件的记录。",
        "No entries match these filters.",
    ),
    ("audit.verify", "校验哈希链", "Verify the chain"),
    (
        "audit.verify_hint",
        "逐条核对整条审计链，记录越多耗时越长。",
        "Checks every entry's link to the one before; takes longer the longer the log.",
    ),
    (
        "audit.intact",
        "审计链完整：未发现篡改或删除。",
        "The chain is intact: no entry was altered or removed.",
    ),
    (
        "audit.broken",
        "审计链断裂：以下序号处的记录被修改或删除。",
        "The chain is broken: the entry at this number was altered or removed.",
    ),
    ("audit.checked", "已核对", "Entries checked"),
    ("audit.head", "最新记录", "Last good entry"),
    ("audit.broken_at", "断裂位置", "Broken at"),
    ("audit.reason", "原因", "Reason"),
    (
        "audit.scoped",
        "审计日志涉及整个单位，仅限不限园区的员工查看。",
        "The audit log spans the whole organisation: only staff not limited to some sites may read it.",
    ),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/audit", get(page))
}

/// The page's query string (all text: a bad value gets the page's 400).
#[derive(serde::Deserialize, Default, Debug)]
pub(crate) struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    /// `YYYY-MM-DD`, China Standard Time.
    from: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    to: Option<String>,
    /// The last seq of the previous page.
    before: Option<String>,
    /// `1`: walk the chain.
    verify: Option<String>,
}

/// A set value: `None` when absent or blank.
fn given(v: Option<&String>) -> Option<&str> {
    v.map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// The start of a CST day, in ms; `days` later for an inclusive end.
fn day_ms(field: &str, v: &str, days: i64) -> Result<i64, WebError> {
    let date: jiff::civil::Date = v
        .parse()
        .map_err(|_| WebError::Invalid(format!("{field}: a date such as 2026-11-26")))?;
    let start = CST
        .to_timestamp(date.at(0, 0, 0, 0))
        .map_err(|e| WebError::Invalid(format!("{field}: {e}")))?
        .as_millisecond();
    Ok(start + days * 86_400_000)
}

/// The search the query asks for (limit one more than shown).
fn filter_of(q: &AuditQuery) -> Result<AuditFilter, WebError> {
    let text = |field: &str, v: Option<&String>| -> Result<Option<String>, WebError> {
        given(v)
            .map(|s| {
                if s.chars().count() <= 200 {
                    Ok(s.to_owned())
                } else {
                    Err(WebError::Invalid(format!(
                        "{field}: at most 200 characters"
                    )))
                }
            })
            .transpose()
    };
    Ok(AuditFilter {
        // People type a user name; rows say `user:NAME` (or `token:…`,
        // `cli:…`, `customer:…`, which are typed in full).
        actor: text("actor", q.actor.as_ref())?.map(|a| {
            if a.contains(':') || a == "anonymous" {
                a
            } else {
                format!("user:{}", a.to_lowercase())
            }
        }),
        target_prefix: text("target", q.target.as_ref())?,
        action_contains: text("action", q.action.as_ref())?,
        from_ms: given(q.from.as_ref())
            .map(|d| day_ms("from", d, 0))
            .transpose()?,
        to_ms: given(q.to.as_ref())
            .map(|d| day_ms("to", d, 1))
            .transpose()?,
        before_seq: given(q.before.as_ref())
            .map(|b| {
                b.parse::<i64>()
                    .map_err(|_| WebError::Invalid("bad page".into()))
            })
            .transpose()?,
        limit: PAGE_SIZE + 1,
    })
}

/// This page's address with the same filters (and another `before`).
fn href(q: &AuditQuery, before: Option<i64>) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("actor", &q.actor),
        ("action", &q.action),
        ("target", &q.target),
        ("from", &q.from),
        ("to", &q.to),
    ] {
        if let Some(v) = given(v.as_ref()) {
            parts.push(format!("{k}={}", fmt::url_encode(v)));
        }
    }
    if let Some(b) = before {
        parts.push(format!("before={b}"));
    }
    format!("/audit?{}", parts.join("&"))
}

fn clip(s: Option<String>) -> Option<String> {
    s.map(|t| {
        if t.chars().count() <= CHANGE_CHARS {
            t
        } else {
            let mut out: String = t.chars().take(CHANGE_CHARS).collect();
            out.push('…');
            out
        }
    })
}

pub(crate) struct AuditLine {
    seq: i64,
    time: String,
    actor: String,
    action: String,
    target: String,
    source: String,
    status: i32,
    status_class: &'static str,
    before: Option<String>,
    after: Option<String>,
}

pub(crate) struct VerifyLine {
    intact: bool,
    checked: u64,
    head_seq: i64,
    head_hash: String,
    broken_seq: Option<i64>,
    reason: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/audit.html")]
pub(crate) struct AuditPage {
    c: Ctx,
    scoped: bool,
    /// The filter form's values, as typed.
    actor: String,
    action: String,
    target: String,
    from: String,
    to: String,
    rows: Vec<AuditLine>,
    first_href: Option<String>,
    next_href: Option<String>,
    verify_href: String,
    verified: Option<VerifyLine>,
}

async fn page(
    State(s): State<AppState>,
    c: Ctx,
    Query(q): Query<AuditQuery>,
) -> Result<AuditPage, PageError> {
    let scoped = c.caller.as_ref().is_none_or(crate::auth::Caller::scoped);
    let filter = filter_of(&q).map_err(|e| PageError::new(&c, e))?;
    let value = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_owned();
    let mut page = AuditPage {
        scoped,
        actor: value(&q.actor),
        action: value(&q.action),
        target: value(&q.target),
        from: value(&q.from),
        to: value(&q.to),
        rows: Vec::new(),
        first_href: filter.before_seq.map(|_| href(&q, None)),
        next_href: None,
        verify_href: {
            let h = href(&q, filter.before_seq);
            format!(
                "{h}{}verify=1#verify",
                if h.ends_with('?') { "" } else { "&" }
            )
        },
        verified: None,
        c,
    };
    if scoped {
        return Ok(page);
    }
    let err = |e: yufu_store::StoreError| PageError {
        lang: page.c.lang,
        error: e.into(),
    };
    let mut rows = s.store.access().search_audit(&filter).await.map_err(err)?;
    if rows.len() > PAGE_SIZE as usize {
        rows.truncate(PAGE_SIZE as usize);
        page.next_href = rows.last().map(|r| href(&q, Some(r.seq)));
    }
    page.rows = rows
        .into_iter()
        .map(|r| AuditLine {
            seq: r.seq,
            time: fmt::time(r.at_ms),
            status_class: match r.status {
                0 | 200..=299 => "good",
                400..=499 => "warn",
                _ => "bad",
            },
            actor: r.actor,
            action: r.action,
            target: r.target,
            source: r.source,
            status: r.status,
            before: clip(r.before),
            after: clip(r.after),
        })
        .collect();
    if given(q.verify.as_ref()).is_some() {
        let v = crate::access_api::verify_audit(s.store.as_ref())
            .await
            .map_err(err)?;
        page.verified = Some(VerifyLine {
            intact: v.intact,
            checked: v.checked,
            head_seq: v.head_seq,
            head_hash: v.head_hash,
            broken_seq: v.broken_seq,
            reason: v.reason,
        });
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> AuditQuery {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        };
        AuditQuery {
            actor: get("actor"),
            action: get("action"),
            target: get("target"),
            from: get("from"),
            to: get("to"),
            before: get("before"),
            verify: get("verify"),
        }
    }

    #[test]
    fn filters_read_people_and_days() {
        let f = filter_of(&query(&[
            ("actor", "Admin"),
            ("from", "2026-11-26"),
            ("to", "2026-11-26"),
            ("action", " "),
        ]))
        .unwrap();
        assert_eq!(f.actor.as_deref(), Some("user:admin"));
        assert_eq!(f.action_contains, None);
        // 2026-11-26 00:00 in Guangzhou is 16:00 UTC the day before.
        assert_eq!(fmt::time(f.from_ms.unwrap()), "2026-11-26 00:00:00");
        assert_eq!(f.to_ms.unwrap() - f.from_ms.unwrap(), 86_400_000);
        let f = filter_of(&query(&[("actor", "token:billing")])).unwrap();
        assert_eq!(f.actor.as_deref(), Some("token:billing"));
        assert!(filter_of(&query(&[("from", "26/11/2026")])).is_err());
        assert!(filter_of(&query(&[("before", "x")])).is_err());
        assert_eq!(
            href(
                &query(&[("action", "alarms acknowledge"), ("before", "9")]),
                Some(4)
            ),
            "/audit?action=alarms%20acknowledge&before=4"
        );
    }
}
