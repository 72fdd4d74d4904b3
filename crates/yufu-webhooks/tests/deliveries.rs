//! Webhooks end to end: real journal records from the real writer, real
//! HTTP to an axum receiver on 127.0.0.1 that checks signatures, on SQLite
//! and (when `YUFU_TEST_DATABASE_URL` is set) PostgreSQL.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use tokio::net::TcpListener;
use yufu_domain::command::{CommandKind, RetryPolicy};
use yufu_domain::*;
use yufu_engine::{ReadingIn, RechargeIn};
use yufu_store::access::DeliveryRow;
use yufu_store::{Page, Store};
use yufu_store_contract::TestDb;
use yufu_vault::Vault;
use yufu_webhooks::{Feeder, Sender, Webhooks, WebhooksConfig};
use yufu_writer::{CommandEvent, Writer, WriterTask};

const ELECTRICITY: &str =
    include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");

fn p<T: std::str::FromStr<Err = DomainError>>(s: &str) -> T {
    s.parse().unwrap()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// One household with an electricity meter, loaded into a running writer.
struct Env {
    db: TestDb,
    store: Arc<dyn Store>,
    writer: Writer,
    task: WriterTask,
    vault: Arc<Vault>,
    org: OrganisationId,
    account: Account,
    meter: Meter,
}

async fn env(db: TestDb) -> Env {
    let store = db.shared();
    let org = store
        .create_organisation(&NewOrganisation {
            name: p("Webhook Org"),
        })
        .await
        .unwrap();
    let t = yufu_tariff::parse_tariff("t", ELECTRICITY).unwrap();
    store
        .add_tariff_revision(&NewTariffRevision {
            organisation_id: org.id,
            code: p(&t.id),
            utility: t.utility,
            name: t.name.clone(),
            source_toml: ELECTRICITY.to_owned(),
        })
        .await
        .unwrap();
    let site = store
        .create_site(&NewSite {
            organisation_id: org.id,
            code: p("S1"),
            name: p("Site"),
            city: p("广州"),
            timezone: TimeZoneName::shanghai(),
        })
        .await
        .unwrap();
    let building = store
        .create_building(&NewBuilding {
            site_id: site.id,
            code: p("A"),
            name: p("A"),
            floors: 1,
        })
        .await
        .unwrap();
    let unit = store
        .create_unit(&NewUnit {
            building_id: building.id,
            code: p("A-101"),
            floor: 1,
            kind: UnitKind::Residential,
            area: AreaCentiSqm::new(9000).unwrap(),
        })
        .await
        .unwrap();
    let customer = store
        .create_customer(
            &NewCustomer::new(org.id, CustomerKind::Person, "陈伟", None, None, None).unwrap(),
        )
        .await
        .unwrap();
    let account = store
        .create_account(&NewAccount {
            organisation_id: org.id,
            number: p("WH001"),
            customer_id: customer.id,
            class: CustomerClass::Residential,
        })
        .await
        .unwrap();
    let meter = store
        .create_meter(&NewMeter {
            organisation_id: org.id,
            serial: p("E-WH-1"),
            utility: Utility::Electricity,
            model: p("model"),
            protocol: MeterProtocol::Mqtt,
            comm_address: p("000000000001"),
            multiplier: Multiplier::new(1).unwrap(),
        })
        .await
        .unwrap();
    store
        .assign_meter(meter.id, Some(unit.id), Some(account.id))
        .await
        .unwrap();
    store
        .set_meter_tariff(meter.id, Some(&p("guangdong-residential-electricity")))
        .await
        .unwrap();
    store
        .set_meter_status(meter.id, MeterStatus::InService)
        .await
        .unwrap();
    let meter = store.get_meter(meter.id).await.unwrap();
    let (writer, task) = yufu_writer::start(
        Arc::clone(&store),
        yufu_writer::WriterConfig {
            checkpoint_every: 0,
            checkpoint_on_shutdown: false,
            // One send per command: a rejection fails it at once.
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    yufu_writer::sync::reconcile(store.as_ref(), &writer)
        .await
        .unwrap();
    let vault = Arc::new(Vault::from_key_text(&Vault::generate_key_line("k1").unwrap()).unwrap());
    Env {
        db,
        store,
        writer,
        task,
        vault,
        org: org.id,
        account,
        meter,
    }
}

impl Env {
    async fn recharge(&self, amount: i64, key: &str) -> yufu_writer::RechargeAnswer {
        self.writer
            .recharge(RechargeIn {
                account: self.account.id,
                amount: Fen(amount),
                channel: "counter".into(),
                reference: format!("ref-{key}"),
                key: key.into(),
            })
            .await
            .unwrap()
    }

    async fn webhook(&self, url: &str, events: &[&str]) -> (String, String) {
        let (row, secret) = yufu_webhooks::create(
            self.store.as_ref(),
            &self.vault,
            self.org,
            url,
            &strings(events),
            "tester",
        )
        .await
        .unwrap();
        (row.id, secret)
    }

    async fn deliveries(&self, webhook: &str) -> Vec<DeliveryRow> {
        self.store
            .access()
            .list_deliveries(webhook, &Page::first(100))
            .await
            .unwrap()
    }

    async fn finish(self) {
        drop(self.writer);
        self.task.handle.await.unwrap();
        drop(self.store);
        self.db.finish().await;
    }
}

/// What the receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// Checks the signature the way a subscriber would.
    fn verify(&self, secret: &str) -> Result<(), yufu_payments::CallbackError> {
        yufu_payments::verify(
            secret.as_bytes(),
            self.headers
                .get("x-yufu-timestamp")
                .and_then(|v| v.to_str().ok()),
            self.headers
                .get("x-yufu-signature")
                .and_then(|v| v.to_str().ok()),
            self.body.as_bytes(),
            jiff::Timestamp::now().as_second(),
            yufu_payments::DEFAULT_TOLERANCE_S,
        )
    }
}

/// An HTTP endpoint that records every request and answers with the next
/// scripted status (200 once the script is used up).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    async fn start(script: &[u16]) -> (String, Receiver) {
        let receiver = Receiver::default();
        receiver.script.lock().unwrap().extend(script);
        let app = axum::Router::new()
            .route("/hook", post(hook))
            .with_state(receiver.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (format!("http://{addr}/hook"), receiver)
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: String) -> (StatusCode, String) {
    r.got.lock().unwrap().push(Received { headers, body });
    let code = r.script.lock().unwrap().pop_front().unwrap_or(200);
    let status = StatusCode::from_u16(code).unwrap();
    let text = if status.is_success() { "" } else { "not today" };
    (status, text.to_owned())
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn fast(retry_ms: &[u64]) -> WebhooksConfig {
    WebhooksConfig {
        poll: Duration::from_millis(30),
        timeout: Duration::from_secs(5),
        retry: retry_ms
            .iter()
            .copied()
            .map(Duration::from_millis)
            .collect(),
        ..WebhooksConfig::default()
    }
}

fn start(e: &Env, config: WebhooksConfig) -> (Webhooks, tokio::sync::oneshot::Sender<()>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let hooks = Webhooks::start(Arc::clone(&e.store), Arc::clone(&e.vault), config, async {
        let _ = stopped.await;
    })
    .unwrap();
    (hooks, stop)
}

/// A recharge through the writer arrives once, signed, at the webhook that
/// subscribed to it, and nowhere else.
async fn signed_recharge_reaches_only_subscribers(db: TestDb) {
    let e = env(db).await;
    let (url_a, rec_a) = Receiver::start(&[]).await;
    let (url_b, rec_b) = Receiver::start(&[]).await;
    let (hook_a, secret_a) = e.webhook(&url_a, &["recharge"]).await;
    let (hook_b, secret_b) = e.webhook(&url_b, &["cut_off", "alarm_raised"]).await;
    assert_ne!(secret_a, secret_b);
    assert_eq!(secret_a.len(), 64);
    assert!(secret_a.bytes().all(|b| b.is_ascii_hexdigit()));
    // Only the sealed secret is stored.
    let stored = e.store.access().get_webhook(&hook_a).await.unwrap();
    assert!(!stored.secret.contains(&secret_a));
    assert_eq!(stored.events, "recharge");

    let (hooks, stop) = start(&e, fast(&[1_000]));
    let answer = e.recharge(5_000, "k1").await;
    wait_for("the recharge delivery", || async {
        !rec_a.got().is_empty()
    })
    .await;
    wait_for("the delivery to be recorded", || async {
        e.deliveries(&hook_a).await[0].status == "delivered"
    })
    .await;

    let got = rec_a.got();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.header("content-type"), "application/json");
    assert_eq!(req.header("x-yufu-event"), "recharge");
    req.verify(&secret_a).unwrap();
    assert!(matches!(
        req.verify(&secret_b),
        Err(yufu_payments::CallbackError::BadSignature)
    ));
    let rows = e.deliveries(&hook_a).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(req.header("x-yufu-delivery"), row.id);
    assert_eq!(req.body, row.payload);
    assert_eq!((row.attempts, row.last_status), (1, Some(200)));
    assert!(row.delivered_at_ms.is_some());
    assert_eq!(row.last_error, None);

    let body = req.json();
    assert_eq!(body["id"], row.id.as_str());
    assert_eq!(body["event"], "recharge");
    assert_eq!(body["organisation_id"], e.org.to_string());
    let occurred: jiff::Timestamp = body["occurred_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(occurred, answer.entry.at);
    assert!(body["journal_seq"].as_i64().unwrap() > 0);
    let data = &body["data"];
    assert_eq!(data["account_id"], e.account.id.to_string());
    assert_eq!(data["amount_fen"], 5_000);
    assert_eq!(data["balance_after_fen"], answer.entry.balance_after_fen);
    assert_eq!(data["channel"], "counter");
    assert_eq!(data["reference"], "ref-k1");
    assert_eq!(data["ledger_seq"], answer.entry.seq);

    // Not subscribed to `recharge`: nothing queued, nothing received. The
    // feeder queues a page's deliveries together, so B's would exist by now.
    assert!(e.deliveries(&hook_b).await.is_empty());
    assert!(rec_b.got().is_empty());

    stop.send(()).unwrap();
    hooks.join().await.unwrap();
    e.finish().await;
}

/// 500, 500, then 200: delivered on attempt 3, each attempt after the
/// back-off, the history on the row; then a redelivery sends it again.
async fn retries_until_delivered(db: TestDb) {
    let e = env(db).await;
    let (url, rec) = Receiver::start(&[500, 500]).await;
    let (hook, secret) = e.webhook(&url, &["recharge"]).await;
    let config = fast(&[300, 300, 300]);
    let mut feeder = Feeder::new(Arc::clone(&e.store), &config);
    let mut sender = Sender::new(Arc::clone(&e.store), Arc::clone(&e.vault), config).unwrap();
    e.recharge(1_234, "k-retry").await;
    let fed = feeder.feed().await.unwrap();
    assert_eq!(fed.queued, 1);
    assert_eq!(fed.cursor, e.store.access().webhook_cursor().await.unwrap());
    // Nothing new: nothing queued again.
    assert_eq!(feeder.feed().await.unwrap().queued, 0);

    let before = jiff::Timestamp::now().as_millisecond();
    assert_eq!(sender.send_due().await.unwrap(), 1);
    sender.settle().await;
    let row = e.deliveries(&hook).await.remove(0);
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    assert_eq!(row.last_status, Some(500));
    assert_eq!(row.last_error.as_deref(), Some("HTTP 500: not today"));
    assert!(row.next_attempt_at_ms >= before + 300);
    // Not due yet: the back-off holds it.
    assert_eq!(sender.send_due().await.unwrap(), 0);
    assert_eq!(rec.got().len(), 1);

    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(sender.send_due().await.unwrap(), 1);
    sender.settle().await;
    let row = e.deliveries(&hook).await.remove(0);
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 2));
    assert_eq!(row.last_status, Some(500));

    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(sender.send_due().await.unwrap(), 1);
    sender.settle().await;
    let row = e.deliveries(&hook).await.remove(0);
    assert_eq!((row.status.as_str(), row.attempts), ("delivered", 3));
    assert_eq!(row.last_status, Some(200));
    assert_eq!(row.last_error, None);
    assert!(row.delivered_at_ms.is_some());

    let got = rec.got();
    assert_eq!(got.len(), 3);
    for req in &got {
        assert_eq!(req.header("x-yufu-delivery"), row.id);
        assert_eq!(req.body, row.payload);
        req.verify(&secret).unwrap();
    }
    assert_eq!(sender.send_due().await.unwrap(), 0);

    // Redelivery: same id and body, from the start of the schedule.
    let again = yufu_webhooks::redeliver(e.store.as_ref(), &hook, &row.id)
        .await
        .unwrap();
    assert_eq!((again.status.as_str(), again.attempts), ("pending", 0));
    assert_eq!(sender.send_due().await.unwrap(), 1);
    sender.settle().await;
    let got = rec.got();
    assert_eq!(got.len(), 4);
    assert_eq!(got[3].header("x-yufu-delivery"), row.id);
    assert_eq!(got[3].body, row.payload);
    let row = e.deliveries(&hook).await.remove(0);
    assert_eq!((row.status.as_str(), row.attempts), ("delivered", 1));
    assert!(matches!(
        yufu_webhooks::redeliver(
            e.store.as_ref(),
            &hook,
            "0190a0a0-0000-7000-8000-000000000000"
        )
        .await,
        Err(yufu_webhooks::WebhookError::DeliveryNotFound(_))
    ));
    e.finish().await;
}

/// An endpoint nobody listens on: every attempt of the schedule fails, then
/// the delivery is given up. A deactivated webhook's delivery is failed
/// without a request; one deactivated before its event gets nothing.
async fn unreachable_gives_up(db: TestDb) {
    let e = env(db).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (dead, _) = e
        .webhook(&format!("http://127.0.0.1:{port}/hook"), &["recharge"])
        .await;
    let (url, rec) = Receiver::start(&[]).await;
    let (switched_off, _) = e.webhook(&url, &["recharge"]).await;
    let (off_before, _) = e.webhook(&url, &["recharge"]).await;
    e.store
        .access()
        .set_webhook_active(&off_before, false)
        .await
        .unwrap();
    let config = fast(&[100, 100]);
    let mut feeder = Feeder::new(Arc::clone(&e.store), &config);
    let mut sender = Sender::new(Arc::clone(&e.store), Arc::clone(&e.vault), config).unwrap();
    e.recharge(100, "k-dead").await;
    assert_eq!(feeder.feed().await.unwrap().queued, 2);
    assert!(e.deliveries(&off_before).await.is_empty());
    e.store
        .access()
        .set_webhook_active(&switched_off, false)
        .await
        .unwrap();

    assert_eq!(sender.send_due().await.unwrap(), 2);
    sender.settle().await;
    let row = e.deliveries(&dead).await.remove(0);
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    let off = e.deliveries(&switched_off).await.remove(0);
    assert_eq!((off.status.as_str(), off.attempts), ("failed", 0));
    assert_eq!(off.last_error.as_deref(), Some("webhook deactivated"));
    assert!(rec.got().is_empty());

    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(sender.send_due().await.unwrap(), 1);
        sender.settle().await;
    }
    let row = e.deliveries(&dead).await.remove(0);
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 3));
    assert_eq!(row.last_status, None);
    let error = row.last_error.unwrap();
    assert!(error.contains("connect"), "{error}");
    assert!(
        !error.contains(&port.to_string()),
        "the url stays out: {error}"
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(sender.send_due().await.unwrap(), 0);
    e.finish().await;
}

/// A second instance on the same store starts at the stored cursor: what
/// was delivered is not sent again, and new events still flow.
async fn restart_does_not_resend(db: TestDb) {
    let e = env(db).await;
    let (url, rec) = Receiver::start(&[]).await;
    let (hook, secret) = e.webhook(&url, &["recharge"]).await;

    let (first, stop) = start(&e, fast(&[1_000]));
    e.recharge(111, "k-first").await;
    wait_for("the first delivery", || async {
        e.deliveries(&hook)
            .await
            .first()
            .is_some_and(|d| d.status == "delivered")
    })
    .await;
    stop.send(()).unwrap();
    first.join().await.unwrap();
    let cursor = e.store.access().webhook_cursor().await.unwrap();
    assert!(cursor > 0);
    assert_eq!(rec.got().len(), 1);

    let (second, stop) = start(&e, fast(&[1_000]));
    // Many polls of the second instance.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rec.got().len(), 1);
    assert_eq!(e.deliveries(&hook).await.len(), 1);
    assert_eq!(e.store.access().webhook_cursor().await.unwrap(), cursor);

    e.recharge(222, "k-second").await;
    wait_for("the second delivery", || async { rec.got().len() >= 2 }).await;
    wait_for("both recorded", || async {
        e.deliveries(&hook)
            .await
            .iter()
            .all(|d| d.status == "delivered")
    })
    .await;
    stop.send(()).unwrap();
    second.join().await.unwrap();

    let got = rec.got();
    assert_eq!(got.len(), 2);
    assert_ne!(
        got[0].header("x-yufu-delivery"),
        got[1].header("x-yufu-delivery")
    );
    assert_eq!(got[0].json()["data"]["amount_fen"], 111);
    assert_eq!(got[1].json()["data"]["amount_fen"], 222);
    got[1].verify(&secret).unwrap();
    assert_eq!(e.deliveries(&hook).await.len(), 2);
    e.finish().await;
}

/// Confirmed trips and closes, a flagged reading and a failed command
/// become `cut_off`, `reconnect` and `alarm_raised`; a journal older than
/// every webhook is skipped without being read.
async fn commands_and_alarms_become_events(db: TestDb) {
    let e = env(db).await;
    e.recharge(10_000, "k-before").await;
    let config = fast(&[1_000]);
    let mut feeder = Feeder::new(Arc::clone(&e.store), &config);
    let fed = feeder.feed().await.unwrap();
    assert_eq!(fed.records, 0, "no webhook yet: skipped to the end");
    assert_eq!(fed.cursor, e.store.journal().tail().await.unwrap().seq);

    let (url, _rec) = Receiver::start(&[]).await;
    let (hook, _) = e
        .webhook(&url, &["cut_off", "reconnect", "alarm_raised"])
        .await;
    e.recharge(500, "k-after").await;

    let now = jiff::Timestamp::now();
    let reading = |minutes_ago: i64, register: u64| ReadingIn {
        meter: e.meter.id,
        at: now - jiff::SignedDuration::from_mins(minutes_ago),
        register,
        rates: None,
    };
    let results = e
        .writer
        .ingest(vec![reading(60, 100_000), reading(45, 50_000)])
        .await
        .unwrap();
    assert_eq!(results.len(), 2);

    let meter = e.meter.id;
    let command = async |kind: CommandKind, last: CommandEvent| {
        e.writer
            .queue_command(meter, kind, "test".into())
            .await
            .unwrap();
        assert!(
            e.writer
                .command(CommandEvent::Sent { meter, kind })
                .await
                .unwrap()
        );
        assert!(e.writer.command(last).await.unwrap());
    };
    command(
        CommandKind::Trip,
        CommandEvent::Acknowledged {
            meter,
            kind: CommandKind::Trip,
        },
    )
    .await;
    command(
        CommandKind::Close,
        CommandEvent::Acknowledged {
            meter,
            kind: CommandKind::Close,
        },
    )
    .await;
    command(
        CommandKind::Trip,
        CommandEvent::Rejected {
            meter,
            kind: CommandKind::Trip,
            reason: "relay stuck".into(),
        },
    )
    .await;

    let fed = feeder.feed().await.unwrap();
    assert_eq!(fed.queued, 4);
    let rows = e.deliveries(&hook).await;
    let events: Vec<&str> = rows.iter().map(|d| d.event.as_str()).collect();
    assert_eq!(
        events,
        ["alarm_raised", "cut_off", "reconnect", "alarm_raised"]
    );
    let payloads: Vec<Value> = rows
        .iter()
        .map(|d| serde_json::from_str(&d.payload).unwrap())
        .collect();
    for (row, body) in rows.iter().zip(&payloads) {
        assert_eq!(body["id"], row.id.as_str());
        assert_eq!(body["event"], row.event.as_str());
        assert_eq!(body["organisation_id"], e.org.to_string());
        assert_eq!(body["data"]["meter_id"], meter.to_string());
        assert_eq!(body["data"]["meter_serial"], "E-WH-1");
    }
    let alarms = e.store.journal().meter_alarms(meter, 10).await.unwrap();
    let stored = |kind: &str| alarms.iter().find(|a| a.kind == kind).unwrap().clone();
    let negative = stored("negative_delta");
    assert_eq!(payloads[0]["data"]["kind"], "negative_delta");
    assert_eq!(payloads[0]["data"]["alarm_id"], negative.id);
    assert_eq!(payloads[0]["data"]["detail"], negative.detail.as_str());
    assert_eq!(payloads[1]["data"]["command"], "trip");
    assert_eq!(payloads[1]["data"]["account_id"], e.account.id.to_string());
    assert_eq!(payloads[2]["data"]["command"], "close");
    let failed = stored("command_failed");
    assert_eq!(payloads[3]["data"]["kind"], "command_failed");
    assert_eq!(payloads[3]["data"]["alarm_id"], failed.id);
    assert!(failed.detail.starts_with("Trip"), "{}", failed.detail);
    e.finish().await;
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::TestDb::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres().await else {
                        eprintln!("SKIPPED {} on PostgreSQL: YUFU_TEST_DATABASE_URL is not set", stringify!($name));
                        return;
                    };
                    super::$name(db).await;
                }
            )*
        }
    };
}

on_both!(
    signed_recharge_reaches_only_subscribers,
    retries_until_delivered,
    unreachable_gives_up,
    restart_does_not_resend,
    commands_and_alarms_become_events,
);
