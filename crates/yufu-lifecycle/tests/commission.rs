//! Automated commissioning end to end: a real SQLite store, the real writer
//! and dispatcher, the real DL/T 645 TCP gateway, and a simulated meter
//! (crate `yufu-sim`) dialling it over a real socket. A healthy meter passes
//! all five steps; a meter whose device never connects fails at the
//! reading; a device that answers reads but ignores relay commands fails at
//! the command round trip.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use yufu_domain::*;
use yufu_gateway::{Gateway, GatewayConfig, TcpListenerSpec};
use yufu_lifecycle::commission::{self, CommissionError, CommissionOptions, Step};
use yufu_sim::{Profile, SimMeter, Supply, TcpOptions, run_tcp_meter};
use yufu_store::Store;
use yufu_store_contract::TestDb;
use yufu_writer::Writer;

const ELECTRICITY: &str =
    include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");
const TARIFF: &str = "guangdong-residential-electricity";
/// Consumption speed of the simulated meters: several kWh per real second,
/// so a reading a second later always shows consumption.
const SPEED: u32 = 20_000;
/// The opening balance: far above any level, and enough for the run.
const OPENING_FEN: i64 = 100_000;

fn p<T: std::str::FromStr<Err = DomainError>>(s: &str) -> T {
    s.parse().expect("valid test value")
}

/// An organisation with one household and its electricity meter, installed
/// (unit, account, tariff) but not in service.
async fn household(store: &dyn Store, address: &str) -> (AccountId, Meter) {
    let org = store
        .create_organisation(&NewOrganisation {
            name: p("Commissioning"),
        })
        .await
        .expect("organisation");
    store
        .add_tariff_revision(&NewTariffRevision {
            organisation_id: org.id,
            code: p(TARIFF),
            utility: Utility::Electricity,
            name: "Residential".into(),
            source_toml: ELECTRICITY.to_owned(),
        })
        .await
        .expect("tariff");
    let site = store
        .create_site(&NewSite {
            organisation_id: org.id,
            code: p("S1"),
            name: p("Site"),
            city: p("广州"),
            timezone: TimeZoneName::shanghai(),
        })
        .await
        .expect("site");
    let building = store
        .create_building(&NewBuilding {
            site_id: site.id,
            code: p("A"),
            name: p("A"),
            floors: 1,
        })
        .await
        .expect("building");
    let unit = store
        .create_unit(&NewUnit {
            building_id: building.id,
            code: p("A-101"),
            floor: 1,
            kind: UnitKind::Residential,
            area: AreaCentiSqm::new(9000).expect("area"),
        })
        .await
        .expect("unit");
    let customer = store
        .create_customer(
            &NewCustomer::new(org.id, CustomerKind::Person, "陈伟", None, None, None)
                .expect("customer"),
        )
        .await
        .expect("customer");
    let account = store
        .create_account(&NewAccount {
            organisation_id: org.id,
            number: p("CM0001"),
            customer_id: customer.id,
            class: CustomerClass::Residential,
        })
        .await
        .expect("account");
    let meter = store
        .create_meter(&NewMeter {
            organisation_id: org.id,
            serial: p(&format!("E-{address}")),
            utility: Utility::Electricity,
            model: p("DDSY-666"),
            protocol: MeterProtocol::Dlt645_2007,
            comm_address: p(address),
            multiplier: Multiplier::new(1).expect("multiplier"),
        })
        .await
        .expect("meter");
    store
        .assign_meter(meter.id, Some(unit.id), Some(account.id))
        .await
        .expect("assign");
    store
        .set_meter_tariff(meter.id, Some(&p(TARIFF)))
        .await
        .expect("tariff assigned");
    store
        .set_meter_status(meter.id, MeterStatus::Installed)
        .await
        .expect("installed");
    (account.id, store.get_meter(meter.id).await.expect("meter"))
}

struct Platform {
    writer: Writer,
    gateway: Gateway,
    tcp: SocketAddr,
    dispatcher: tokio::task::JoinHandle<()>,
    task: yufu_writer::WriterTask,
}

/// The writer (meters loaded from the store), the TCP gateway and the
/// dispatcher, as `yufu serve` wires them. Meters are polled once when they
/// connect and then only when asked (the interval is an hour), so a reading
/// during the run comes from commissioning's read request.
async fn platform(store: Arc<dyn Store>, account: AccountId) -> Platform {
    let (writer, task) = yufu_writer::start(
        Arc::clone(&store),
        yufu_writer::WriterConfig {
            checkpoint_every: 0,
            checkpoint_on_shutdown: false,
            ..Default::default()
        },
    )
    .await
    .expect("writer");
    yufu_writer::sync::reconcile(store.as_ref(), &writer)
        .await
        .expect("reconcile");
    writer
        .recharge(yufu_engine::RechargeIn {
            account,
            amount: Fen(OPENING_FEN),
            channel: "counter".into(),
            reference: "opening".into(),
            key: "opening".into(),
        })
        .await
        .expect("opening balance");
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let tcp_addr = tcp.local_addr().expect("address");
    let gateway = Gateway::start(
        GatewayConfig {
            mqtt: None,
            broker: None,
            tcp: Some(TcpListenerSpec::new(tcp)),
            poll: yufu_gateway::tcp::PollConfig {
                interval: Duration::from_secs(3600),
                timeout: Duration::from_secs(1),
                ..Default::default()
            },
            offline_after: Duration::from_secs(60),
            command_timeout: Duration::from_secs(2),
        },
        Arc::clone(&store),
        writer.clone(),
    )
    .await
    .expect("gateway");
    let dispatcher = tokio::spawn(yufu_writer::dispatch::run(
        writer.clone(),
        Arc::new(gateway.delivery.clone()),
    ));
    Platform {
        writer,
        gateway,
        tcp: tcp_addr,
        dispatcher,
        task,
    }
}

impl Platform {
    async fn stop(self) {
        self.gateway.stop();
        self.dispatcher.abort();
        drop(self.writer);
        drop(self.gateway);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task.handle).await;
    }

    /// Until the meter's connect-time poll is stored, so the run's own
    /// reading must come from its read request.
    async fn wait_first_reading(&self, meter: MeterId) {
        for _ in 0..200 {
            let view = self.writer.meter(meter).await.expect("writer");
            if view.and_then(|v| v.readings_head).is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the simulated meter never connected and reported");
    }
}

fn sim(meter: &Meter) -> Arc<Mutex<SimMeter>> {
    let m = SimMeter::new(
        meter.serial.as_str(),
        meter.comm_address.as_str(),
        Profile::Residential,
        7,
        Timestamp::now(),
    )
    .expect("simulated meter");
    Arc::new(Mutex::new(m))
}

fn opts(run_key: &str, secs: u64) -> CommissionOptions {
    CommissionOptions {
        step_timeout: Duration::from_secs(secs),
        ..CommissionOptions::new(run_key)
    }
}

async fn adjustments(store: &dyn Store, writer: &Writer, account: AccountId) -> Vec<i64> {
    let head = writer
        .account(account)
        .await
        .expect("writer")
        .expect("account")
        .ledger_head
        .expect("entries");
    store
        .journal()
        .ledger_chain(head, 1000)
        .await
        .expect("ledger")
        .into_iter()
        .filter(|e| e.kind == "adjustment")
        .map(|e| e.amount_fen)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_meter_passes_every_step() {
    let db = TestDb::sqlite().await;
    let store = db.shared();
    let (account, meter) = household(store.as_ref(), "000000300001").await;
    let pf = platform(Arc::clone(&store), account).await;
    let (stop, rx) = watch::channel(false);
    let device = sim(&meter);
    let mut o = TcpOptions::new(rx);
    o.speed = SPEED;
    let line = tokio::spawn(run_tcp_meter(pf.tcp, Arc::clone(&device), o));
    pf.wait_first_reading(meter.id).await;

    let report = commission::run(store.as_ref(), &pf.writer, meter.id, &opts("run-1", 15))
        .await
        .expect("the meter is installed");
    assert!(report.passed(), "{report:#?}");
    assert_eq!(
        report.steps.iter().map(|s| s.step).collect::<Vec<_>>(),
        Step::ALL
    );
    assert!(report.failure().is_none() && report.not_run().is_empty());
    let detail = |step: Step| {
        report
            .steps
            .iter()
            .find(|s| s.step == step)
            .map(|s| s.detail.clone())
            .expect("step ran")
    };
    assert!(
        detail(Step::Reading).contains("reading recorded"),
        "{report:#?}"
    );
    assert!(
        detail(Step::Deduction).contains("consumption entry"),
        "{report:#?}"
    );
    assert!(
        detail(Step::Command).contains("acknowledged"),
        "{report:#?}"
    );

    // The test credit and its reversal are in the ledger and cancel out.
    let adj = adjustments(store.as_ref(), &pf.writer, account).await;
    assert_eq!(adj.len(), 2, "{adj:?}");
    assert_eq!(adj.iter().sum::<i64>(), 0);
    // Consumption was billed: the balance fell below the opening balance,
    // and the ledger is still exact.
    let a = pf
        .writer
        .account(account)
        .await
        .expect("writer")
        .expect("account");
    assert!(a.balance_fen < OPENING_FEN, "{a:?}");
    let totals = store.journal().ledger_totals().await.expect("totals");
    let t = totals
        .iter()
        .find(|t| t.account_id == account)
        .expect("ledger");
    assert_eq!(t.sum_fen, a.balance_fen);
    // The read requests and the close reached the device, which was
    // acknowledged; the relay stays closed.
    let commands = store
        .journal()
        .meter_commands(meter.id, 20)
        .await
        .expect("commands");
    assert!(
        commands
            .iter()
            .any(|c| c.kind == "close" && c.state == "acknowledged"),
        "{commands:?}"
    );
    assert!(
        commands
            .iter()
            .any(|c| c.kind == "read_now" && c.state == "acknowledged"),
        "{commands:?}"
    );
    assert_eq!(device.lock().expect("simulated meter").supply, Supply::On);

    // Running the same run again posts no second test credit.
    let again = commission::run(store.as_ref(), &pf.writer, meter.id, &opts("run-1", 15))
        .await
        .expect("the meter is installed");
    assert!(again.passed(), "{again:#?}");
    assert_eq!(adjustments(store.as_ref(), &pf.writer, account).await, adj);

    stop.send(true).expect("stop the meter");
    let _ = line.await;
    pf.stop().await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_meter_fails_at_the_reading() {
    let db = TestDb::sqlite().await;
    let store = db.shared();
    let (account, meter) = household(store.as_ref(), "000000300002").await;
    let pf = platform(Arc::clone(&store), account).await;
    // The meter reported once, an hour ago (e.g. on the installer's
    // bench); since then no device dials in. An old reading is not enough.
    let hour_ago = Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(1))
        .expect("an hour ago");
    let stored = pf
        .writer
        .ingest(vec![yufu_engine::ReadingIn {
            meter: meter.id,
            at: hour_ago,
            register: 1_000,
            rates: None,
        }])
        .await
        .expect("writer");
    assert!(
        matches!(stored[..], [yufu_engine::ReadingResult::Accepted(_)]),
        "{stored:?}"
    );
    let report = commission::run(
        store.as_ref(),
        &pf.writer,
        meter.id,
        &opts("run-offline", 3),
    )
    .await
    .expect("the meter is installed");
    assert!(!report.passed());
    assert_eq!(report.steps.len(), 1, "{report:#?}");
    let failed = report.failure().expect("a failed step");
    assert_eq!(failed.step, Step::Reading);
    assert!(
        failed
            .detail
            .starts_with("no reading arrived within 3 s after a read request"),
        "{failed:?}"
    );
    assert_eq!(
        report.not_run(),
        [
            Step::TestCredit,
            Step::Deduction,
            Step::Balance,
            Step::Command
        ]
    );
    // Nothing later ran: no test credit was posted.
    for key in [
        "commission:run-offline:test",
        "commission:run-offline:reverse",
    ] {
        let posted = yufu_writer::find_posted(store.as_ref(), account, key)
            .await
            .expect("store");
        assert!(posted.is_none(), "{posted:?}");
    }
    pf.stop().await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meter_not_installed_is_refused_before_any_step() {
    let db = TestDb::sqlite().await;
    let store = db.shared();
    let (account, meter) = household(store.as_ref(), "000000300003").await;
    let pf = platform(Arc::clone(&store), account).await;
    // Taken off its tariff in the store (not yet synced to the engine).
    store
        .set_meter_tariff(meter.id, None)
        .await
        .expect("tariff removed");
    let refused = commission::run(store.as_ref(), &pf.writer, meter.id, &opts("run-x", 3)).await;
    assert!(
        matches!(
            refused,
            Err(CommissionError::NotInstalled {
                missing: "tariff",
                ..
            })
        ),
        "{refused:?}"
    );
    let unknown = commission::run(
        store.as_ref(),
        &pf.writer,
        MeterId::new(),
        &opts("run-x", 3),
    )
    .await;
    assert!(
        matches!(unknown, Err(CommissionError::UnknownMeter(_))),
        "{unknown:?}"
    );
    let bad_key =
        commission::run(store.as_ref(), &pf.writer, meter.id, &opts("has space", 3)).await;
    assert!(
        matches!(bad_key, Err(CommissionError::BadRunKey(_))),
        "{bad_key:?}"
    );
    pf.stop().await;
    db.finish().await;
}

/// A DL/T 645 device whose line loses relay-control frames: the simulated
/// meter answers every other request (reads work), counting what it lost.
async fn deaf_to_commands(
    target: SocketAddr,
    meter: Arc<Mutex<SimMeter>>,
    lost: Arc<AtomicU32>,
    mut stop: watch::Receiver<bool>,
) {
    let mut stream = TcpStream::connect(target).await.expect("connect");
    let address = meter.lock().expect("simulated meter").address.clone();
    stream
        .write_all(address.as_bytes())
        .await
        .expect("registration");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        let n = tokio::select! {
            read = stream.read(&mut chunk) => read.expect("read"),
            _ = stop.changed() => return,
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match yufu_dlt645::decode(&buf) {
                Ok((frame, used)) => {
                    buf.drain(..used);
                    if frame.control().function == yufu_dlt645::Function::RelayControl {
                        lost.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let now = Timestamp::now();
                    let reply = {
                        let mut m = meter.lock().expect("simulated meter");
                        m.advance(now, SPEED);
                        yufu_sim::dlt645_meter::answer(&mut m, &frame, now)
                    };
                    if let Some(reply) = reply {
                        stream.write_all(&reply.encode()).await.expect("reply");
                    }
                }
                Err(e) if e.is_incomplete() => break,
                Err(_) => {
                    buf.remove(0);
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meter_ignoring_commands_fails_at_the_command() {
    let db = TestDb::sqlite().await;
    let store = db.shared();
    let (account, meter) = household(store.as_ref(), "000000300004").await;
    let pf = platform(Arc::clone(&store), account).await;
    let (stop, rx) = watch::channel(false);
    let lost = Arc::new(AtomicU32::new(0));
    let line = tokio::spawn(deaf_to_commands(pf.tcp, sim(&meter), Arc::clone(&lost), rx));
    pf.wait_first_reading(meter.id).await;
    let report = commission::run(store.as_ref(), &pf.writer, meter.id, &opts("run-deaf", 4))
        .await
        .expect("the meter is installed");
    assert!(!report.passed());
    assert_eq!(report.steps.len(), 5, "{report:#?}");
    assert!(report.steps[..4].iter().all(|s| s.passed), "{report:#?}");
    let failed = report.failure().expect("a failed step");
    assert_eq!(failed.step, Step::Command);
    assert!(
        failed
            .detail
            .starts_with("no acknowledgement of the close command within 4 s"),
        "{failed:?}"
    );
    // The close did reach the device's line, which lost it.
    assert!(lost.load(Ordering::Relaxed) >= 1);
    stop.send(true).expect("stop the meter");
    let _ = line.await;
    pf.stop().await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_that_disagrees_with_the_engine_fails_at_the_balance() {
    let db = TestDb::sqlite().await;
    let store = db.shared();
    let (account, meter) = household(store.as_ref(), "000000300005").await;
    let pf = platform(Arc::clone(&store), account).await;
    let (stop, rx) = watch::channel(false);
    let mut o = TcpOptions::new(rx);
    o.speed = SPEED;
    let line = tokio::spawn(run_tcp_meter(pf.tcp, sim(&meter), o));
    pf.wait_first_reading(meter.id).await;
    // A stored entry altered behind the engine's back: the opening
    // recharge now says one fen less than was credited.
    db.execute(&format!(
        "UPDATE ledger_entries SET amount_fen = amount_fen - 1 \
         WHERE account_id = '{account}' AND seq = 1"
    ))
    .await;
    let report = commission::run(
        store.as_ref(),
        &pf.writer,
        meter.id,
        &opts("run-ledger", 15),
    )
    .await
    .expect("the meter is installed");
    assert!(!report.passed());
    assert_eq!(report.steps.len(), 4, "{report:#?}");
    let failed = report.failure().expect("a failed step");
    assert_eq!(failed.step, Step::Balance);
    assert!(
        failed.detail.starts_with("ledger entry #1 says"),
        "{failed:?}"
    );
    assert_eq!(report.not_run(), [Step::Command]);
    stop.send(true).expect("stop the meter");
    let _ = line.await;
    pf.stop().await;
    db.finish().await;
}

/// The commissioning gate through the lifecycle service: a passing run
/// moves the device installed → commissioned → in service with the run in
/// its history; a device that is not installed is refused before any step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_puts_a_passing_meter_in_service_and_refuses_others() {
    use yufu_domain::lifecycle::DeviceState;
    use yufu_lifecycle::service::{self, Ctx, LifecycleError};
    use yufu_store::lifecycle::RunOutcome;

    let db = TestDb::sqlite().await;
    let store = db.shared();
    let (account, meter) = household(store.as_ref(), "000000300009").await;
    let pf = platform(Arc::clone(&store), account).await;
    let (stop, rx) = watch::channel(false);
    let device = sim(&meter);
    let mut o = TcpOptions::new(rx);
    o.speed = SPEED;
    let line = tokio::spawn(run_tcp_meter(pf.tcp, Arc::clone(&device), o));
    pf.wait_first_reading(meter.id).await;

    let now = Timestamp::now();
    let ctx = Ctx {
        store: store.as_ref(),
        writer: Some(&pf.writer),
        org: meter.organisation_id,
        actor: "user:wang.tech",
        role: "technician",
        now,
        today: jiff::tz::TimeZone::UTC.to_datetime(now).date(),
    };
    let run = service::commission_meter(&ctx, meter.id, Duration::from_secs(15))
        .await
        .expect("run");
    assert_eq!(run.outcome, RunOutcome::Passed, "{run:?}");
    let view = service::device_view(&ctx, meter.id).await.expect("view");
    assert_eq!(view.device.state, DeviceState::InService);
    let path: Vec<DeviceState> = view.history.iter().map(|e| e.to_state).collect();
    assert_eq!(path, [DeviceState::Commissioned, DeviceState::InService]);
    assert!(view.history.iter().all(|e| e.detail.contains(&run.id)));
    assert_eq!(
        store.get_meter(meter.id).await.expect("meter").status,
        MeterStatus::InService
    );
    // In service now: commissioning again is refused, no run is started.
    let again = service::commission_meter(&ctx, meter.id, Duration::from_secs(15)).await;
    assert!(
        matches!(again, Err(LifecycleError::Conflict(ref m)) if m.contains("from in_service")),
        "{again:?}"
    );
    assert_eq!(
        store.field().list_runs(meter.id).await.expect("runs").len(),
        1
    );

    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), line).await;
    pf.stop().await;
}
