//! The feeder: journal records in, one delivery per (event, subscribed
//! webhook) out, with the journal cursor moved in the same transaction.
//!
//! Why one transaction per page: a crash before the commit leaves neither
//! the deliveries nor the cursor, so the page is read again and queued
//! once; a crash after leaves both. No event is lost or queued twice.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use yufu_domain::OrganisationId;
use yufu_store::access::{DeliveryRow, WebhookRow};
use yufu_store::{Page, Store, StoreError, StoreResult};

use crate::derive::{Derived, Deriver};
use crate::{STATUS_PENDING, WebhooksConfig, new_id, now_ms, subscribes};

/// Pages read per round at most before the sender gets its turn.
const PAGES_PER_ROUND: usize = 20;

/// What one feed transaction did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedReport {
    /// Journal records read.
    pub records: usize,
    /// Deliveries queued.
    pub queued: usize,
    /// The journal position the cursor was moved to (unchanged when no
    /// record was read).
    pub cursor: i64,
}

/// The body every delivery POSTs (field order is the wire order).
#[derive(Serialize)]
struct Payload<'a> {
    id: &'a str,
    event: &'a str,
    organisation_id: String,
    occurred_at: String,
    journal_seq: i64,
    data: &'a serde_json::Value,
}

/// Reads the journal after the stored cursor and queues deliveries.
#[derive(Debug)]
pub struct Feeder {
    store: Arc<dyn Store>,
    page: u32,
    deriver: Deriver,
    /// Whether the skip-ahead check has run (once per feeder).
    started: bool,
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

/// Errors that reading the same record again cannot fix: the record is
/// skipped (loudly) instead of stopping every webhook behind it.
fn is_permanent(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::NotFound { .. } | StoreError::Corrupt { .. } | StoreError::Reference(_)
    )
}

impl Feeder {
    pub fn new(store: Arc<dyn Store>, config: &WebhooksConfig) -> Self {
        Self {
            store,
            page: config.feed_page.max(1),
            deriver: Deriver::default(),
            started: false,
        }
    }

    /// Feeds until the journal is read to its end (or a bounded number of
    /// pages, so the sender is not starved); errors are logged and retried
    /// next round.
    pub async fn catch_up(&mut self) {
        for _ in 0..PAGES_PER_ROUND {
            match self.feed().await {
                Ok(report) if report.records < usize::try_from(self.page).unwrap_or(usize::MAX) => {
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: feeding failed; retrying next round");
                    return;
                }
            }
        }
    }

    /// One page: reads up to `feed_page` records after the cursor and
    /// queues their deliveries together with the new cursor.
    pub async fn feed(&mut self) -> StoreResult<FeedReport> {
        if !self.started {
            self.skip_ahead_if_unsubscribed().await?;
            self.started = true;
        }
        let store = Arc::clone(&self.store);
        let cursor = store.access().webhook_cursor().await?;
        let records = store.journal().journal_after(cursor, self.page).await?;
        let Some(last) = records.last().map(|r| r.seq()) else {
            return Ok(FeedReport {
                cursor,
                ..FeedReport::default()
            });
        };
        let mut taken = HashSet::new();
        let mut hooks: HashMap<OrganisationId, Vec<WebhookRow>> = HashMap::new();
        let mut rows = Vec::new();
        let created_at_ms = now_ms();
        for record in &records {
            let derived = match self
                .deriver
                .derive(store.as_ref(), record, &mut taken)
                .await
            {
                Ok(d) => d,
                Err(e) if is_permanent(&e) => {
                    tracing::error!(seq = record.seq(), error = %e,
                        "webhooks: no event for this journal record");
                    continue;
                }
                Err(e) => return Err(e),
            };
            for event in derived {
                // Looked up once per page: a webhook created or switched
                // off is seen by the next page.
                let subscribers = match hooks.get(&event.organisation_id) {
                    Some(list) => list,
                    None => {
                        let list = store.access().list_webhooks(event.organisation_id).await?;
                        hooks.entry(event.organisation_id).or_insert(list)
                    }
                };
                for hook in subscribers {
                    // Events from before a webhook existed are not its
                    // business (the feeder may be behind when it is created).
                    if hook.active
                        && subscribes(hook, event.event)
                        && hook.created_at_ms <= event.occurred_at_ms
                    {
                        rows.push(delivery(hook, &event, created_at_ms)?);
                    }
                }
            }
        }
        store.access().enqueue_deliveries(&rows, Some(last)).await?;
        self.deriver.committed(taken);
        if !rows.is_empty() {
            tracing::debug!(
                queued = rows.len(),
                cursor = last,
                "webhooks: deliveries queued"
            );
        }
        Ok(FeedReport {
            records: records.len(),
            queued: rows.len(),
            cursor: last,
        })
    }

    /// With no webhook anywhere, nothing in the journal so far can be
    /// delivered (a webhook created later skips older events), so the
    /// cursor jumps to the journal's end instead of reading, say, a year
    /// of readings at first start. The tail is read before the webhooks:
    /// a webhook created after the check is younger than every record
    /// skipped.
    async fn skip_ahead_if_unsubscribed(&mut self) -> StoreResult<()> {
        let store = Arc::clone(&self.store);
        let tail = store.journal().tail().await?.seq;
        if tail <= store.access().webhook_cursor().await? {
            return Ok(());
        }
        let mut page = Page::first(Page::MAX_LIMIT);
        loop {
            let orgs = store.list_organisations(&page).await?;
            let Some(last) = orgs.last() else { break };
            page = Page::after(last.id, Page::MAX_LIMIT);
            for org in &orgs {
                if !store.access().list_webhooks(org.id).await?.is_empty() {
                    return Ok(());
                }
            }
        }
        store.access().enqueue_deliveries(&[], Some(tail)).await?;
        tracing::info!(
            cursor = tail,
            "webhooks: no webhook yet; the feeder starts at the journal's end"
        );
        Ok(())
    }
}

fn delivery(hook: &WebhookRow, event: &Derived, created_at_ms: i64) -> StoreResult<DeliveryRow> {
    let id = new_id();
    let payload = serde_json::to_string(&Payload {
        id: &id,
        event: event.event,
        organisation_id: event.organisation_id.to_string(),
        occurred_at: rfc3339(event.occurred_at_ms),
        journal_seq: event.journal_seq,
        data: &event.data,
    })
    .map_err(|e| StoreError::Backend(format!("webhook payload: {e}")))?;
    Ok(DeliveryRow {
        id,
        webhook_id: hook.id.clone(),
        event: event.event.to_owned(),
        payload,
        status: STATUS_PENDING.to_owned(),
        attempts: 0,
        next_attempt_at_ms: created_at_ms,
        last_status: None,
        last_error: None,
        created_at_ms,
        delivered_at_ms: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
