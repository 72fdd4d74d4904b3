#![doc = include_str!("../README.md")]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::task::JoinHandle;
use yufu_domain::OrganisationId;
use yufu_store::access::{DeliveryRow, WebhookRow};
use yufu_store::{Page, Store, StoreError};
use yufu_vault::{Vault, VaultError};

mod derive;
mod feeder;
mod sender;

pub use feeder::{FeedReport, Feeder};
pub use sender::Sender;

/// Every event a webhook can subscribe to. The names are a public contract:
/// subscribers switch on them, so a name is never changed or reused.
pub const EVENTS: &[&str] = &[
    EVENT_RECHARGE,
    EVENT_REFUND,
    EVENT_CUT_OFF,
    EVENT_RECONNECT,
    EVENT_ALARM_RAISED,
    EVENT_ALARM_CLEARED,
];

/// Money credited to an account (a recharge was posted to its ledger).
pub const EVENT_RECHARGE: &str = "recharge";
/// Money paid back to a customer (a refund entry was posted).
pub const EVENT_REFUND: &str = "refund";
/// A meter confirmed it cut the supply (relay tripped, valve closed).
pub const EVENT_CUT_OFF: &str = "cut_off";
/// A meter confirmed it restored the supply (relay closed, valve opened).
pub const EVENT_RECONNECT: &str = "reconnect";
/// The engine raised an alarm on a meter.
pub const EVENT_ALARM_RAISED: &str = "alarm_raised";
/// An open alarm was cleared.
pub const EVENT_ALARM_CLEARED: &str = "alarm_cleared";

/// The most characters a webhook URL may have.
pub const MAX_URL_LEN: usize = 2048;

/// Delivery states as stored in `webhook_deliveries.status`.
pub const STATUS_PENDING: &str = "pending";
pub const STATUS_DELIVERED: &str = "delivered";
pub const STATUS_FAILED: &str = "failed";

/// The request headers a subscriber receives.
pub const HEADER_EVENT: &str = "X-Yufu-Event";
pub const HEADER_DELIVERY: &str = "X-Yufu-Delivery";
pub const HEADER_TIMESTAMP: &str = yufu_payments::TIMESTAMP_HEADER;
pub const HEADER_SIGNATURE: &str = yufu_payments::SIGNATURE_HEADER;

/// The vault AAD a webhook's secret is sealed under: binding it to the
/// webhook id means a sealed secret copied onto another webhook row does
/// not open.
pub fn secret_aad(webhook_id: &str) -> String {
    format!("webhooks.secret:{webhook_id}")
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("invalid url: {0}")]
    InvalidUrl(String),
    #[error("invalid events: {0}")]
    InvalidEvents(String),
    #[error("delivery {0} not found")]
    DeliveryNotFound(String),
    #[error("cannot generate a secret: {0}")]
    Randomness(String),
    #[error("http client: {0}")]
    Client(String),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How the feeder and the sender run.
#[derive(Clone, Debug)]
pub struct WebhooksConfig {
    /// How often the journal and the delivery queue are looked at.
    pub poll: Duration,
    /// The whole request, connect to last body byte; longer counts as a
    /// failed attempt.
    pub timeout: Duration,
    /// The waits after failed attempts 1, 2, …: attempt `n + 1` follows
    /// failed attempt `n` after `retry[n - 1]`. A delivery whose attempt
    /// number `retry.len() + 1` fails is given up (`failed`).
    pub retry: Vec<Duration>,
    /// Journal records read per feeder transaction.
    pub feed_page: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            retry: default_retry(),
            feed_page: 5_000,
            concurrency: 16,
        }
    }
}

/// 10 s, 1 min, 5 min, 30 min, 2 h, 6 h, 12 h: eight attempts over about
/// 21 hours, so an endpoint down for most of a day still gets its events.
pub fn default_retry() -> Vec<Duration> {
    [10, 60, 300, 1_800, 7_200, 21_600, 43_200]
        .into_iter()
        .map(Duration::from_secs)
        .collect()
}

pub(crate) fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

/// Checks a subscriber URL: http or https, a host, no user name or password
/// (they would be stored and logged in the clear), at most
/// [`MAX_URL_LEN`] characters.
pub fn validate_url(url: &str) -> Result<(), WebhookError> {
    let bad = |why: &str| Err(WebhookError::InvalidUrl(why.to_owned()));
    if url.len() > MAX_URL_LEN {
        return bad("longer than 2048 characters");
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| WebhookError::InvalidUrl(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return bad("only http and https are allowed");
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return bad("a host is required");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return bad("credentials in the url are not allowed");
    }
    Ok(())
}

/// Checks an event list and returns it as stored: known names, each once,
/// in [`EVENTS`] order, separated by spaces.
pub fn normalize_events(events: &[String]) -> Result<String, WebhookError> {
    if events.is_empty() {
        return Err(WebhookError::InvalidEvents(
            "at least one event is required".to_owned(),
        ));
    }
    if let Some(unknown) = events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
        return Err(WebhookError::InvalidEvents(format!(
            "unknown event '{unknown}' (known: {})",
            EVENTS.join(", ")
        )));
    }
    let chosen: Vec<&str> = EVENTS
        .iter()
        .copied()
        .filter(|name| events.iter().any(|e| e == name))
        .collect();
    Ok(chosen.join(" "))
}

/// Whether a stored webhook subscribes to `event`.
pub fn subscribes(webhook: &WebhookRow, event: &str) -> bool {
    webhook.events.split(' ').any(|e| e == event)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Registers a webhook and returns it with its signing secret in the clear.
/// The secret is shown this once: only its sealed form is stored, so a
/// lost secret means a new webhook.
pub async fn create(
    store: &dyn Store,
    vault: &Vault,
    org: OrganisationId,
    url: &str,
    events: &[String],
    created_by: &str,
) -> Result<(WebhookRow, String), WebhookError> {
    validate_url(url)?;
    let events = normalize_events(events)?;
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| WebhookError::Randomness(e.to_string()))?;
    let secret = hex(&raw);
    let id = new_id();
    let row = WebhookRow {
        secret: vault.seal(&secret, &secret_aad(&id))?,
        id,
        organisation_id: org,
        url: url.to_owned(),
        events,
        active: true,
        created_by: created_by.to_owned(),
        created_at_ms: now_ms(),
    };
    store.access().create_webhook(&row).await?;
    Ok((row, secret))
}

/// Finds one delivery of a webhook. The store lists deliveries by keyset
/// only, so this starts just below `delivery_id`: every id between that key
/// and the delivery differs from it in the last hex digit only, so it is
/// among the first 16 rows.
pub async fn find_delivery(
    store: &dyn Store,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<DeliveryRow, WebhookError> {
    let not_found = || WebhookError::DeliveryNotFound(delivery_id.to_owned());
    let mut chars = delivery_id.chars();
    chars.next_back().ok_or_else(not_found)?;
    let rows = store
        .access()
        .list_deliveries(webhook_id, &Page::after(chars.as_str(), 17))
        .await?;
    rows.into_iter()
        .find(|d| d.id == delivery_id)
        .ok_or_else(not_found)
}

/// Sends a delivery again from the start of the retry schedule (after a
/// subscriber fixed its endpoint, or to replay a delivered event). The
/// payload and delivery id stay the same, so a subscriber that already has
/// it recognises it.
pub async fn redeliver(
    store: &dyn Store,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<DeliveryRow, WebhookError> {
    let mut row = find_delivery(store, webhook_id, delivery_id).await?;
    row.status = STATUS_PENDING.to_owned();
    row.attempts = 0;
    row.next_attempt_at_ms = now_ms();
    row.delivered_at_ms = None;
    store.access().update_delivery(&row).await?;
    Ok(row)
}

/// The running feeder and sender.
#[derive(Debug)]
pub struct Webhooks {
    handle: JoinHandle<()>,
}

impl Webhooks {
    /// Starts one task that feeds the delivery queue from the journal and
    /// sends what is due, every `config.poll`, until `shutdown` completes;
    /// then it waits for requests in flight (at most `config.timeout`).
    ///
    /// Run one per database: the journal cursor is moved without a
    /// compare-and-set, so two feeders would both queue every event.
    pub fn start(
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        config: WebhooksConfig,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Self, WebhookError> {
        let mut feeder = Feeder::new(Arc::clone(&store), &config);
        let mut sender = Sender::new(store, vault, config.clone())?;
        let handle = tokio::spawn(async move {
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    // Cancelling a round at shutdown is safe: an unfinished
                    // feed transaction rolls back, and requests already
                    // started run on in their own tasks.
                    () = async {
                        feeder.catch_up().await;
                        if let Err(e) = sender.send_due().await {
                            tracing::warn!(error = %e, "webhooks: cannot read due deliveries");
                        }
                    } => {}
                }
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(config.poll) => {}
                }
            }
            sender.settle().await;
            tracing::info!("webhooks stopped");
        });
        Ok(Self { handle })
    }

    /// Waits for the task to finish (after shutdown).
    pub async fn join(self) -> Result<(), tokio::task::JoinError> {
        self.handle.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for good in [
            "https://example.com/hook",
            "http://127.0.0.1:8080/x?y=1",
            "https://[::1]/",
        ] {
            assert!(validate_url(good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://user@example.com/",
            "not a url",
            "file:///etc/passwd",
            "mailto:a@example.com",
        ] {
            assert!(
                matches!(validate_url(bad), Err(WebhookError::InvalidUrl(_))),
                "{bad}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(matches!(
            validate_url(&long),
            Err(WebhookError::InvalidUrl(_))
        ));
        let edge = format!(
            "https://example.com/{}",
            "a".repeat(MAX_URL_LEN - "https://example.com/".len())
        );
        assert_eq!(edge.len(), MAX_URL_LEN);
        assert!(validate_url(&edge).is_ok());
    }

    #[test]
    fn events_are_checked_and_normalised() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            normalize_events(&s(&["alarm_raised", "recharge", "recharge"])).unwrap(),
            "recharge alarm_raised"
        );
        assert!(matches!(
            normalize_events(&[]),
            Err(WebhookError::InvalidEvents(_))
        ));
        assert!(matches!(
            normalize_events(&s(&["recharge", "work_order"])),
            Err(WebhookError::InvalidEvents(_))
        ));
        let all: Vec<String> = EVENTS.iter().map(|e| (*e).to_owned()).collect();
        assert_eq!(normalize_events(&all).unwrap(), EVENTS.join(" "));
    }

    #[test]
    fn subscription_matches_whole_names() {
        let row = WebhookRow {
            id: "w".into(),
            organisation_id: OrganisationId::new(),
            url: "https://example.com".into(),
            events: "recharge alarm_raised".into(),
            secret: String::new(),
            active: true,
            created_by: "t".into(),
            created_at_ms: 0,
        };
        assert!(subscribes(&row, "recharge"));
        assert!(subscribes(&row, "alarm_raised"));
        assert!(!subscribes(&row, "alarm"));
        assert!(!subscribes(&row, "cut_off"));
    }

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn default_schedule_is_the_documented_one() {
        let secs: Vec<u64> = default_retry().iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [10, 60, 300, 1_800, 7_200, 21_600, 43_200]);
    }
}
