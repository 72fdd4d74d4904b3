//! The sender: POSTs due deliveries, signed, and records what happened.
//!
//! Delivery is at least once: a crash between a subscriber's 2xx and the
//! row update sends the same delivery (same id, same body) again, which is
//! why subscribers dedupe on `X-Yufu-Delivery`.

use std::collections::HashSet;
use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use yufu_store::access::DeliveryRow;
use yufu_store::{Store, StoreResult};
use yufu_vault::Vault;

use crate::{
    HEADER_DELIVERY, HEADER_EVENT, HEADER_SIGNATURE, HEADER_TIMESTAMP, STATUS_DELIVERED,
    STATUS_FAILED, WebhookError, WebhooksConfig, now_ms, secret_aad,
};

/// Characters of a failing response's body kept in `last_error`: enough to
/// show a subscriber what its endpoint said, never a whole page.
const ERROR_BODY_CHARS: usize = 200;

/// Sends due deliveries, at most `config.concurrency` at once.
#[derive(Debug)]
pub struct Sender {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    client: reqwest::Client,
    config: Arc<WebhooksConfig>,
    permits: Arc<Semaphore>,
    /// Deliveries being sent: they stay `pending` and due until their
    /// attempt is recorded, and must not be picked up twice meanwhile.
    in_flight: Arc<Mutex<HashSet<String>>>,
    tasks: JoinSet<()>,
}

/// The HTTP client: HTTP/1.1, rustls on ring with the webpki roots, no
/// redirects (a 3xx is the subscriber's answer, and following it would
/// send the signed body somewhere nobody registered).
fn client(config: &WebhooksConfig) -> Result<reqwest::Client, WebhookError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| WebhookError::Client(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Yufu-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| WebhookError::Client(e.to_string()))
}

/// An error with its causes ("error sending request: … Connection
/// refused"), without the URL, which may carry a subscriber's token in its
/// query string.
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out: "
    } else if e.is_connect() {
        "cannot connect: "
    } else {
        ""
    };
    let e = e.without_url();
    let mut text = format!("{kind}{e}");
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What one attempt came to.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Delivered(u16),
    Failed { status: Option<u16>, error: String },
}

/// The row after an attempt: delivered, or one more attempt and the next
/// one scheduled, or given up once the schedule is used up.
fn record(mut row: DeliveryRow, outcome: Outcome, now_ms: i64, retry: &[Duration]) -> DeliveryRow {
    row.attempts = row.attempts.saturating_add(1);
    match outcome {
        Outcome::Delivered(status) => {
            row.status = STATUS_DELIVERED.to_owned();
            row.last_status = Some(i32::from(status));
            row.last_error = None;
            row.delivered_at_ms = Some(now_ms);
        }
        Outcome::Failed { status, error } => {
            row.last_status = status.map(i32::from);
            row.last_error = Some(error);
            let wait = usize::try_from(row.attempts - 1)
                .ok()
                .and_then(|i| retry.get(i));
            match wait {
                Some(wait) => row.next_attempt_at_ms = now_ms.saturating_add(millis(*wait)),
                None => row.status = STATUS_FAILED.to_owned(),
            }
        }
    }
    row
}

impl Sender {
    pub fn new(
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        config: WebhooksConfig,
    ) -> Result<Self, WebhookError> {
        Ok(Self {
            client: client(&config)?,
            store,
            vault,
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            config: Arc::new(config),
            in_flight: Arc::new(Mutex::new(HashSet::new())),
            tasks: JoinSet::new(),
        })
    }

    fn flying(&self) -> HashSet<String> {
        self.in_flight
            .lock()
            .map(|set| set.clone())
            .unwrap_or_default()
    }

    /// Starts an attempt for every due delivery a permit is free for and
    /// returns how many it started; they finish in the background (see
    /// [`Sender::settle`]).
    pub async fn send_due(&mut self) -> StoreResult<usize> {
        while self.tasks.try_join_next().is_some() {}
        let flying = self.flying();
        let limit =
            u32::try_from(self.config.concurrency.saturating_add(flying.len())).unwrap_or(u32::MAX);
        let due = self.store.access().due_deliveries(now_ms(), limit).await?;
        let mut started = 0;
        for row in due {
            if flying.contains(&row.id) {
                continue;
            }
            let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
                break;
            };
            if let Ok(mut set) = self.in_flight.lock() {
                set.insert(row.id.clone());
            }
            let store = Arc::clone(&self.store);
            let vault = Arc::clone(&self.vault);
            let client = self.client.clone();
            let config = Arc::clone(&self.config);
            let in_flight = Arc::clone(&self.in_flight);
            self.tasks.spawn(async move {
                let id = row.id.clone();
                attempt(store.as_ref(), &vault, &client, &config, row).await;
                if let Ok(mut set) = in_flight.lock() {
                    set.remove(&id);
                }
                drop(permit);
            });
            started += 1;
        }
        Ok(started)
    }

    /// Waits for every attempt started so far to be recorded.
    pub async fn settle(&mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

/// One attempt of one delivery, recorded in the store.
async fn attempt(
    store: &dyn Store,
    vault: &Vault,
    client: &reqwest::Client,
    config: &WebhooksConfig,
    row: DeliveryRow,
) {
    let webhook = match store.access().get_webhook(&row.webhook_id).await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(delivery = %row.id, error = %e, "webhooks: cannot read the webhook; retrying later");
            return;
        }
    };
    let updated = if !webhook.active {
        // Switched off: not an attempt; `redeliver` revives it if wanted.
        let mut row = row;
        row.status = STATUS_FAILED.to_owned();
        row.last_error = Some("webhook deactivated".to_owned());
        row
    } else {
        let outcome = match vault.open(&webhook.secret, &secret_aad(&webhook.id)) {
            Ok(secret) => post(client, &webhook.url, &secret, &row).await,
            // The secret itself is never logged, only that it did not open.
            Err(e) => Outcome::Failed {
                status: None,
                error: format!("the webhook secret cannot be opened: {e}"),
            },
        };
        let now = now_ms();
        match &outcome {
            Outcome::Delivered(status) => {
                tracing::debug!(delivery = %row.id, webhook = %webhook.id, status, "webhooks: delivered");
            }
            Outcome::Failed { status, error } => {
                tracing::info!(delivery = %row.id, webhook = %webhook.id, attempt = row.attempts + 1,
                    status, error = %error, "webhooks: attempt failed");
            }
        }
        record(row, outcome, now, &config.retry)
    };
    if let Err(e) = store.access().update_delivery(&updated).await {
        // Left pending and due: it is sent again, which a subscriber
        // deduping on the delivery id absorbs.
        tracing::warn!(delivery = %updated.id, error = %e, "webhooks: cannot record an attempt");
    }
}

async fn post(client: &reqwest::Client, url: &str, secret: &str, row: &DeliveryRow) -> Outcome {
    // Signed at send time, not at queue time: a retry hours later must
    // still pass a receiver's freshness check on the timestamp.
    let timestamp = now_ms().div_euclid(1000);
    let signature = yufu_payments::sign(secret.as_bytes(), timestamp, row.payload.as_bytes());
    let sent = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(HEADER_EVENT, &row.event)
        .header(HEADER_DELIVERY, &row.id)
        .header(HEADER_TIMESTAMP, timestamp.to_string())
        .header(HEADER_SIGNATURE, signature)
        .body(row.payload.clone())
        .send()
        .await;
    let mut response = match sent {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Failed {
                status: None,
                error: describe(e),
            };
        }
    };
    let status = response.status();
    if status.is_success() {
        return Outcome::Delivered(status.as_u16());
    }
    // A little of the body helps a subscriber see why; read at most one
    // chunk past the limit (the client's timeout bounds the wait).
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_CHARS * 4 {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let text: String = String::from_utf8_lossy(&body)
        .chars()
        .take(ERROR_BODY_CHARS)
        .collect();
    let text = text.trim();
    Outcome::Failed {
        status: Some(status.as_u16()),
        error: if text.is_empty() {
            format!("HTTP {}", status.as_u16())
        } else {
            format!("HTTP {}: {text}", status.as_u16())
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> DeliveryRow {
        DeliveryRow {
            id: "d".into(),
            webhook_id: "w".into(),
            event: "recharge".into(),
            payload: "{}".into(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at_ms: 0,
            last_status: None,
            last_error: None,
            created_at_ms: 0,
            delivered_at_ms: None,
        }
    }

    fn failed(status: Option<u16>) -> Outcome {
        Outcome::Failed {
            status,
            error: "boom".into(),
        }
    }

    #[test]
    fn failures_follow_the_schedule_then_give_up() {
        let retry = [Duration::from_secs(10), Duration::from_secs(60)];
        let r = record(row(), failed(Some(500)), 1_000, &retry);
        assert_eq!((r.status.as_str(), r.attempts), ("pending", 1));
        assert_eq!(r.next_attempt_at_ms, 11_000);
        assert_eq!(r.last_status, Some(500));
        assert_eq!(r.last_error.as_deref(), Some("boom"));
        let r = record(r, failed(None), 20_000, &retry);
        assert_eq!((r.status.as_str(), r.attempts), ("pending", 2));
        assert_eq!(r.next_attempt_at_ms, 80_000);
        assert_eq!(r.last_status, None);
        let r = record(r, failed(Some(503)), 90_000, &retry);
        assert_eq!((r.status.as_str(), r.attempts), ("failed", 3));
        assert_eq!(r.delivered_at_ms, None);
    }

    #[test]
    fn success_records_status_and_time() {
        let mut start = row();
        start.attempts = 2;
        start.last_error = Some("earlier".into());
        let r = record(start, Outcome::Delivered(204), 5_000, &[]);
        assert_eq!(r.status, "delivered");
        assert_eq!(r.attempts, 3);
        assert_eq!(r.last_status, Some(204));
        assert_eq!(r.last_error, None);
        assert_eq!(r.delivered_at_ms, Some(5_000));
    }

    #[test]
    fn an_empty_schedule_gives_up_after_one_failure() {
        let r = record(row(), failed(Some(500)), 0, &[]);
        assert_eq!(r.status, "failed");
    }

    #[test]
    fn the_client_builds_without_a_global_crypto_provider() {
        assert!(client(&WebhooksConfig::default()).is_ok());
    }
}
