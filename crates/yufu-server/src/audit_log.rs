//! The audit log writer: every mutation through the API becomes a
//! hash-chained row (`yufu_access::audit`), appended before the response
//! leaves. One task owns the chain's head; requests hand it rows over a
//! channel and wait for the commit, and rows that arrive together are
//! committed together (group commit), so auditing costs one transaction
//! per batch, not per request.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use tokio::sync::{mpsc, oneshot};
use yufu_access::audit::{AuditEntry, NewAuditEntry};

/// Keys whose values never enter the audit log (personal data and secrets):
/// the log is append-only, so anything written there stays.
const REDACTED_KEYS: &[&str] = &[
    "phone",
    "id_number",
    "address",
    "password",
    "new_password",
    "secret",
    "token",
    "customer_name",
    "csrf_token",
];

/// What a handler tells the audit log about its mutation (as a response
/// extension). Without one, the log records the route, the path and the
/// redacted JSON answer as `after`.
#[derive(Clone, Debug, Default)]
pub struct AuditNote {
    /// Overrides the actor (e.g. `provider:alipay` on a callback, or the
    /// user name tried on a failed login).
    pub actor: Option<String>,
    /// e.g. `account:0190…`; the request path when absent.
    pub target: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl AuditNote {
    pub fn target(target: impl Into<String>) -> Self {
        Self {
            target: Some(target.into()),
            ..Self::default()
        }
    }

    pub fn change(
        target: impl Into<String>,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Self {
        Self {
            target: Some(target.into()),
            before,
            after,
            actor: None,
        }
    }

    /// Attach to a response.
    pub fn on<R: axum::response::IntoResponse>(self, r: R) -> axum::response::Response {
        let mut r = r.into_response();
        r.extensions_mut().insert(self);
        r
    }
}

/// Replaces personal data and secrets in a JSON value with `"<redacted>"`.
/// On customer routes `name` is personal too.
pub fn redact(v: &mut serde_json::Value, customer_route: bool) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if REDACTED_KEYS.contains(&k.as_str()) || (customer_route && k == "name") {
                    if !val.is_null() {
                        *val = serde_json::Value::String("<redacted>".into());
                    }
                } else {
                    redact(val, customer_route);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|i| redact(i, customer_route)),
        _ => {}
    }
}

type Job = (NewAuditEntry, oneshot::Sender<bool>);

/// Hands rows to the task that owns the chain.
#[derive(Clone, Debug)]
pub struct AuditLog {
    tx: mpsc::Sender<Job>,
}

impl AuditLog {
    pub fn start(store: Arc<dyn yufu_store::Store>) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(4096);
        tokio::spawn(run(store, rx));
        Self { tx }
    }

    /// Appends one row and waits until it is committed. A failure is
    /// logged loudly (the mutation itself already happened).
    pub async fn append(&self, entry: NewAuditEntry) -> bool {
        let (done, wait) = oneshot::channel();
        if self.tx.send((entry, done)).await.is_err() {
            tracing::error!("audit log writer is gone: a mutation was not audited");
            return false;
        }
        wait.await.unwrap_or(false)
    }

    /// The gate's call: one row for a request.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn record(
        &self,
        actor: &str,
        source: &str,
        method: &Method,
        route: &str,
        path: &str,
        note: Option<AuditNote>,
        status: StatusCode,
    ) {
        let note = note.unwrap_or_default();
        let customer_route = route.contains("/customers") || route.contains("/portal");
        let clean = |v: Option<serde_json::Value>| {
            v.map(|mut v| {
                redact(&mut v, customer_route);
                v.to_string()
            })
        };
        let entry = NewAuditEntry {
            at_ms: crate::auth::now_ms(),
            actor: actor.to_owned(),
            source: source.to_owned(),
            action: format!("{method} {route}"),
            target: note.target.unwrap_or_else(|| path.to_owned()),
            before: clean(note.before),
            after: clean(note.after),
            status: i32::from(status.as_u16()),
        };
        self.append(entry).await;
    }
}

async fn run(store: Arc<dyn yufu_store::Store>, mut rx: mpsc::Receiver<Job>) {
    let mut head: Option<(i64, String)> = None;
    let mut loaded = false;
    let mut batch: Vec<Job> = Vec::new();
    while rx.recv_many(&mut batch, 512).await > 0 {
        // (Re-)read the head when unknown: at start, and after a failed
        // append (another process may have written; the chain must follow
        // the stored head, never a stale one).
        if !loaded {
            match store.access().audit_head().await {
                Ok(h) => {
                    head = h;
                    loaded = true;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the audit log head");
                    for (_, done) in batch.drain(..) {
                        let _ = done.send(false);
                    }
                    continue;
                }
            }
        }
        let mut rows: Vec<AuditEntry> = Vec::with_capacity(batch.len());
        for (entry, _) in &batch {
            let prev = rows
                .last()
                .map(|r| (r.seq, r.hash.as_str()))
                .or(head.as_ref().map(|(s, h)| (*s, h.as_str())));
            let row = entry.clone().chain(prev);
            rows.push(row);
        }
        let ok = match store.access().append_audit(&rows).await {
            Ok(()) => {
                if let Some(last) = rows.last() {
                    head = Some((last.seq, last.hash.clone()));
                }
                true
            }
            Err(e) => {
                tracing::error!(error = %e, rows = rows.len(), "audit rows not written");
                loaded = false;
                false
            }
        };
        for (_, done) in batch.drain(..) {
            let _ = done.send(ok);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_and_secrets_are_redacted() {
        let mut v = serde_json::json!({
            "name": "Chen", "phone": "13800138000",
            "nested": [{"id_number": "44010619900101123X", "amount_fen": 5}],
            "password": "x", "token": null
        });
        redact(&mut v, true);
        assert_eq!(v["name"], "<redacted>");
        assert_eq!(v["phone"], "<redacted>");
        assert_eq!(v["nested"][0]["id_number"], "<redacted>");
        assert_eq!(v["nested"][0]["amount_fen"], 5);
        assert_eq!(v["password"], "<redacted>");
        assert!(v["token"].is_null());
        let mut site = serde_json::json!({"name": "Tianhe Garden"});
        redact(&mut site, false);
        assert_eq!(site["name"], "Tianhe Garden");
    }
}
