//! One funnel from every transport into the prepaid engine: readings are
//! gathered into large batches (the writer's group commit is cheapest per
//! reading in big batches), device events become alarms, a gas leak shuts
//! the valve, and every report marks the meter as heard from. QoS 1
//! publishes are acknowledged only after their batch is committed, in the
//! order they arrived.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use yufu_devapi::{DeviceEvent, MeterReport};
use yufu_domain::MeterId;
use yufu_engine::{ReadingIn, ReadingResult};
use yufu_store::journal::{AlarmClear, AlarmRow};
use yufu_tariff::RateRegisters;
use yufu_writer::Writer;

use crate::presence::{Presence, Transport};
use crate::registry::MeterInfo;

/// Items gathered into one batch at most.
const MAX_BATCH: usize = 8192;
/// Batches handed to the writer and not yet answered.
const IN_FLIGHT: usize = 4;

/// Where to send an acknowledgement once the report is durable.
#[derive(Debug)]
pub struct AckTo {
    pub conn: mpsc::UnboundedSender<crate::mqtt::Outbound>,
    pub pkid: u16,
}

#[derive(Debug)]
enum Msg {
    Report {
        meter: Arc<MeterInfo>,
        via: Transport,
        report: MeterReport,
        received_ms: i64,
        ack: Option<AckTo>,
    },
    /// Contact without data (a poll answered, a connect).
    Seen { meter: MeterId, via: Transport },
    /// A publish that carried nothing to store still needs its ack, in order.
    Ack(AckTo),
}

/// The sending side, cloned into every connection.
#[derive(Clone, Debug)]
pub struct Ingest {
    tx: mpsc::Sender<Msg>,
}

impl Ingest {
    /// Starts the funnel; it runs until every `Ingest` clone is dropped or
    /// `shutdown` turns true (then it lets go of the writer, so the writer
    /// can drain and stop; reports not yet committed are not acknowledged,
    /// and devices send them again).
    pub fn start(writer: Writer, presence: Arc<Presence>, shutdown: watch::Receiver<bool>) -> Self {
        let (tx, rx) = mpsc::channel(65_536);
        tokio::spawn(run(rx, writer, presence, shutdown));
        Self { tx }
    }

    /// Queues a report; waits only when the funnel is full (back-pressure
    /// reaches the devices' sockets, not memory).
    pub async fn report(
        &self,
        meter: Arc<MeterInfo>,
        via: Transport,
        report: MeterReport,
        ack: Option<AckTo>,
    ) {
        let received_ms = jiff::Timestamp::now().as_millisecond();
        let _ = self
            .tx
            .send(Msg::Report {
                meter,
                via,
                report,
                received_ms,
                ack,
            })
            .await;
    }

    pub async fn seen(&self, meter: MeterId, via: Transport) {
        let _ = self.tx.send(Msg::Seen { meter, via }).await;
    }

    pub async fn ack(&self, ack: AckTo) {
        let _ = self.tx.send(Msg::Ack(ack)).await;
    }
}

struct Batch {
    results: oneshot::Receiver<Result<Vec<ReadingResult>, String>>,
    acks: Vec<AckTo>,
}

async fn run(
    mut rx: mpsc::Receiver<Msg>,
    writer: Writer,
    presence: Arc<Presence>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (done_tx, done_rx) = mpsc::channel::<Batch>(IN_FLIGHT);
    tokio::spawn(acknowledge(done_rx));
    // Events already raised and not cleared, so a meter repeating
    // `gas_leak: true` in every report raises one alarm, not hundreds.
    let mut active: HashSet<(MeterId, DeviceEvent)> = HashSet::new();
    let mut buf = Vec::with_capacity(MAX_BATCH);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut buf, MAX_BATCH) => if n == 0 { return },
            _ = shutdown.changed() => return,
        }
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let mut readings = Vec::with_capacity(buf.len());
        let mut acks = Vec::new();
        let mut contact = Vec::with_capacity(buf.len());
        let mut raise = Vec::new();
        let mut clear = Vec::new();
        let mut leaks = Vec::new();
        for msg in buf.drain(..) {
            match msg {
                Msg::Seen { meter, via } => contact.push((meter, via)),
                Msg::Ack(a) => acks.push(a),
                Msg::Report {
                    meter,
                    via,
                    report,
                    received_ms,
                    ack,
                } => {
                    contact.push((meter.id, via));
                    if let Some(register) = report.register {
                        let at = report
                            .ts_ms
                            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                            .unwrap_or_else(|| {
                                jiff::Timestamp::from_millisecond(received_ms)
                                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
                            });
                        readings.push(ReadingIn {
                            meter: meter.id,
                            at,
                            register,
                            rates: report.rates.map(RateRegisters),
                        });
                    }
                    for (event, on) in &report.events {
                        let key = (meter.id, *event);
                        if *on && active.insert(key) {
                            metrics::counter!("yufu_device_events_total", "event" => event.as_str())
                                .increment(1);
                            raise.push(AlarmRow {
                                meter_id: meter.id,
                                kind: event.as_str().to_owned(),
                                detail: format!("reported by the meter over {via:?}"),
                                raised_at_ms: received_ms,
                            });
                            if *event == DeviceEvent::GasLeak {
                                leaks.push(meter.id);
                            }
                        } else if !*on && active.remove(&key) {
                            clear.push(AlarmClear {
                                meter_id: meter.id,
                                kind: event.as_str().to_owned(),
                                cleared_at_ms: received_ms,
                            });
                        }
                    }
                    if let Some(a) = ack {
                        acks.push(a);
                    }
                }
            }
        }
        clear.extend(presence.seen(&contact, now_ms));
        // Safety first: the valve close is queued before the readings of
        // this batch are even priced.
        for meter in leaks {
            tracing::warn!(%meter, "gas leak reported: closing the valve");
            if let Err(e) = writer.safety_shutoff(meter, "gas_leak".into()).await {
                tracing::error!(%meter, error = %e, "could not queue the safety shut-off");
            }
        }
        if (!raise.is_empty() || !clear.is_empty())
            && let Err(e) = writer.alarms(raise, clear).await
        {
            tracing::error!(error = %e, "could not store alarms");
        }
        let (tx, results) = oneshot::channel();
        if readings.is_empty() {
            let _ = tx.send(Ok(Vec::new()));
        } else {
            // Queued here, in order; only the answer is awaited elsewhere.
            match writer.ingest_queued(readings).await {
                Ok(answer) => {
                    tokio::spawn(async move {
                        let r = answer
                            .await
                            .map_err(|_| "the writer stopped before answering".to_owned());
                        let _ = tx.send(r);
                    });
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                }
            }
        }
        if done_tx.send(Batch { results, acks }).await.is_err() {
            return;
        }
    }
}

/// Sends acknowledgements batch by batch, in arrival order.
async fn acknowledge(mut rx: mpsc::Receiver<Batch>) {
    while let Some(batch) = rx.recv().await {
        let stored = match batch.results.await {
            Ok(Ok(results)) => {
                count(&results);
                // A failed commit answers every reading "not stored": the
                // devices must send them again.
                !results.iter().any(
                    |r| matches!(r, ReadingResult::Rejected(why) if why.starts_with("not stored")),
                )
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "readings not stored");
                false
            }
            Err(_) => false,
        };
        for ack in batch.acks {
            let out = if stored {
                crate::mqtt::Outbound::PubAck(ack.pkid)
            } else {
                // No ack: closing makes the device resend on reconnect.
                crate::mqtt::Outbound::Close
            };
            let _ = ack.conn.send(out);
        }
    }
}

fn count(results: &[ReadingResult]) {
    let (mut accepted, mut duplicate, mut rejected) = (0u64, 0u64, 0u64);
    for r in results {
        match r {
            ReadingResult::Accepted(_) => accepted += 1,
            ReadingResult::Duplicate => duplicate += 1,
            ReadingResult::Rejected(why) => {
                rejected += 1;
                tracing::debug!(reason = %why, "reading refused");
            }
        }
    }
    metrics::counter!("yufu_device_readings_total", "result" => "accepted").increment(accepted);
    metrics::counter!("yufu_device_readings_total", "result" => "duplicate").increment(duplicate);
    metrics::counter!("yufu_device_readings_total", "result" => "rejected").increment(rejected);
}
