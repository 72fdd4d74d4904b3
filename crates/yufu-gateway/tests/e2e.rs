//! End to end through real sockets: simulated meters (crate `yufu-sim`)
//! report over the embedded MQTT endpoint, over the machine's Mosquitto
//! (external broker, shared subscription), and over DL/T 645 / CJ/T 188 on
//! TCP. Readings are billed, the balance reaches the cut-off level, the
//! trip is delivered and acknowledged, the simulated relay opens, and a
//! recharge closes it again. Also: a gas leak shuts a valve in credit, a
//! silent meter raises `comm_fault` that clears when it reports again, an
//! unknown token is refused and a malformed payload keeps the connection.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use yufu_domain::*;
use yufu_gateway::{Gateway, GatewayConfig, TcpListenerSpec};
use yufu_sim::mqtt::{MqttOptions, run_mqtt_meter};
use yufu_sim::{FaultRates, Profile, SimMeter, Supply, TcpOptions, run_tcp_meter};
use yufu_store::Store;
use yufu_store_contract::TestDb;
use yufu_writer::Writer;

const ELECTRICITY: &str =
    include_str!("../../../examples/tariffs/guangdong-residential-electricity.toml");
const WATER: &str = include_str!("../../../examples/tariffs/guangzhou-residential-water.toml");
const GAS: &str = include_str!("../../../examples/tariffs/guangzhou-residential-gas.toml");

fn p<T: std::str::FromStr<Err = DomainError>>(s: &str) -> T {
    s.parse().unwrap()
}

/// One household with an electricity, a water and a gas meter.
struct Fleet {
    account: Account,
    electricity: Meter,
    water: Meter,
    gas: Meter,
}

async fn fleet(
    store: &dyn Store,
    tag: &str,
    protocol_e: MeterProtocol,
    protocol_wg: MeterProtocol,
) -> Fleet {
    let org = store
        .create_organisation(&NewOrganisation {
            name: p(&format!("E2E {tag}")),
        })
        .await
        .unwrap();
    for text in [ELECTRICITY, WATER, GAS] {
        let t = yufu_tariff::parse_tariff("t", text).unwrap();
        store
            .add_tariff_revision(&NewTariffRevision {
                organisation_id: org.id,
                code: p(&t.id),
                utility: t.utility,
                name: t.name.clone(),
                source_toml: text.to_owned(),
            })
            .await
            .unwrap();
    }
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
            number: p(&format!("E2E{tag}")),
            customer_id: customer.id,
            class: CustomerClass::Residential,
        })
        .await
        .unwrap();
    // Addresses unique per test (the TCP gateway looks meters up by them).
    let n: u64 = u64::from(std::process::id() % 100_000) * 100
        + u64::from(tag.bytes().map(u32::from).sum::<u32>() % 100);
    let make = async |utility: Utility, protocol: MeterProtocol, address: String, tariff: &str| {
        let m = store
            .create_meter(&NewMeter {
                organisation_id: org.id,
                serial: p(&format!("{}-{tag}", utility.to_string().to_uppercase())),
                utility,
                model: p("model"),
                protocol,
                comm_address: p(&address),
                multiplier: Multiplier::new(1).unwrap(),
            })
            .await
            .unwrap();
        store
            .assign_meter(m.id, Some(unit.id), Some(account.id))
            .await
            .unwrap();
        store
            .set_meter_tariff(m.id, Some(&p(tariff)))
            .await
            .unwrap();
        store
            .set_meter_status(m.id, MeterStatus::InService)
            .await
            .unwrap();
        store.get_meter(m.id).await.unwrap()
    };
    let electricity = make(
        Utility::Electricity,
        protocol_e,
        format!("{:012}", 100_000_000 + n),
        "guangdong-residential-electricity",
    )
    .await;
    let water = make(
        Utility::Water,
        protocol_wg,
        format!("{:014}", 20_000_000_000 + n),
        "guangzhou-residential-water",
    )
    .await;
    let gas = make(
        Utility::Gas,
        protocol_wg,
        format!("{:014}", 30_000_000_000 + n),
        "guangzhou-residential-gas",
    )
    .await;
    Fleet {
        account,
        electricity,
        water,
        gas,
    }
}

struct Platform {
    writer: Writer,
    gateway: Gateway,
    mqtt: SocketAddr,
    tcp: SocketAddr,
    dispatcher: tokio::task::JoinHandle<()>,
    task: yufu_writer::WriterTask,
}

async fn platform(
    store: Arc<dyn Store>,
    broker: Option<yufu_gateway::external::BrokerConfig>,
) -> Platform {
    let (writer, task) = yufu_writer::start(
        Arc::clone(&store),
        yufu_writer::WriterConfig {
            checkpoint_every: 0,
            checkpoint_on_shutdown: false,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    yufu_writer::sync::reconcile(store.as_ref(), &writer)
        .await
        .unwrap();
    let mqtt = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (mqtt_addr, tcp_addr) = (mqtt.local_addr().unwrap(), tcp.local_addr().unwrap());
    let gateway = Gateway::start(
        GatewayConfig {
            mqtt: Some(TcpListenerSpec::new(mqtt)),
            broker,
            tcp: Some(TcpListenerSpec::new(tcp)),
            poll: yufu_gateway::tcp::PollConfig {
                interval: Duration::from_millis(300),
                timeout: Duration::from_secs(2),
                ..Default::default()
            },
            offline_after: Duration::from_secs(2),
            command_timeout: Duration::from_secs(5),
        },
        Arc::clone(&store),
        writer.clone(),
    )
    .await
    .unwrap();
    let dispatcher = tokio::spawn(yufu_writer::dispatch::run(
        writer.clone(),
        Arc::new(gateway.delivery.clone()),
    ));
    Platform {
        writer,
        gateway,
        mqtt: mqtt_addr,
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

    async fn recharge(&self, account: AccountId, fen: i64, key: &str) {
        self.writer
            .recharge(yufu_engine::RechargeIn {
                account,
                amount: Fen(fen),
                channel: "counter".into(),
                reference: key.into(),
                key: key.into(),
            })
            .await
            .unwrap();
    }
}

fn sim(meter: &Meter, profile: Profile) -> Arc<Mutex<SimMeter>> {
    let m = SimMeter::new(
        meter.serial.as_str(),
        meter.comm_address.as_str(),
        profile,
        7,
        jiff::Timestamp::now(),
    )
    .unwrap();
    Arc::new(Mutex::new(m))
}

fn supply(m: &Mutex<SimMeter>) -> Supply {
    m.lock().unwrap().supply
}

async fn wait_for(what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..secs * 10 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The prepaid cycle for one simulated electricity meter: readings billed
/// to below zero, the trip reaches the meter, a recharge closes it.
async fn prepaid_cycle(
    store: &dyn Store,
    pf: &Platform,
    fleet: &Fleet,
    meter: &Arc<Mutex<SimMeter>>,
) {
    let account = fleet.account.id;
    wait_for("readings to be billed", 30, async || {
        pf.writer
            .account(account)
            .await
            .unwrap()
            .is_some_and(|a| a.balance_fen < 300)
    })
    .await;
    wait_for("the trip to open the simulated relay", 30, async || {
        supply(meter) == Supply::Off
    })
    .await;
    wait_for("the trip to be acknowledged", 10, async || {
        let cmds = store
            .journal()
            .meter_commands(fleet.electricity.id, 10)
            .await
            .unwrap();
        cmds.iter()
            .any(|c| c.kind == "trip" && c.state == "acknowledged")
    })
    .await;
    // No consumption while cut: the register stands still.
    let before = meter.lock().unwrap().register;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(meter.lock().unwrap().register, before);
    pf.recharge(account, 100_000, "e2e-topup").await;
    wait_for("the close to reach the meter", 30, async || {
        supply(meter) == Supply::On
    })
    .await;
    let a = pf.writer.account(account).await.unwrap().unwrap();
    assert_eq!(a.supply, yufu_domain::balance::Supply::On);
    // Money is exact: the balance is the sum of the ledger.
    let totals = store.journal().ledger_totals().await.unwrap();
    let t = totals.iter().find(|t| t.account_id == account).unwrap();
    assert_eq!(t.sum_fen, a.balance_fen);
}

fn mqtt_opts(shutdown: &watch::Receiver<bool>, prefix: String) -> MqttOptions {
    MqttOptions {
        interval: Duration::from_millis(200),
        speed: 200_000,
        faults: FaultRates::NONE,
        fault_seed: 1,
        qos: yufu_mqtt::QoS::AtLeastOnce,
        prefix,
        source: None,
        shutdown: shutdown.clone(),
    }
}

async fn over_embedded_mqtt(db: TestDb) {
    let store = db.shared();
    let f = fleet(
        store.as_ref(),
        "mq",
        MeterProtocol::Mqtt,
        MeterProtocol::Mqtt,
    )
    .await;
    let pf = platform(Arc::clone(&store), None).await;
    pf.recharge(f.account.id, 500, "e2e-open").await;
    let token = yufu_gateway::issue_token(
        store.as_ref(),
        f.account.organisation_id,
        Some(f.electricity.id),
        "E",
    )
    .await
    .unwrap();
    let (stop, rx) = watch::channel(false);
    let meter = sim(&f.electricity, Profile::Residential);
    let runner = tokio::spawn(run_mqtt_meter(
        pf.mqtt,
        token,
        Arc::clone(&meter),
        mqtt_opts(&rx, String::new()),
    ));
    prepaid_cycle(store.as_ref(), &pf, &f, &meter).await;

    // A silent meter goes offline with an alarm, and comes back.
    stop.send(true).unwrap();
    let stats = runner.await.unwrap();
    assert!(stats.reports > 0 && stats.commands >= 2, "{stats:?}");
    wait_for("a comm_fault alarm", 15, async || {
        store
            .journal()
            .meter_alarms(f.electricity.id, 10)
            .await
            .unwrap()
            .iter()
            .any(|a| a.kind == "comm_fault" && a.cleared_at_ms.is_none())
    })
    .await;
    assert!(!pf.gateway.presence.view(f.electricity.id).unwrap().online);
    let (stop2, rx2) = watch::channel(false);
    let token2 = yufu_gateway::issue_token(
        store.as_ref(),
        f.account.organisation_id,
        Some(f.electricity.id),
        "E",
    )
    .await
    .unwrap();
    let runner = tokio::spawn(run_mqtt_meter(
        pf.mqtt,
        token2,
        Arc::clone(&meter),
        mqtt_opts(&rx2, String::new()),
    ));
    wait_for("the comm_fault to clear", 15, async || {
        store
            .journal()
            .meter_alarms(f.electricity.id, 10)
            .await
            .unwrap()
            .iter()
            .all(|a| a.kind != "comm_fault" || a.cleared_at_ms.is_some())
    })
    .await;

    // A gas leak closes the valve although the account is in credit.
    let gas_token = yufu_gateway::issue_token(
        store.as_ref(),
        f.account.organisation_id,
        Some(f.gas.id),
        "G",
    )
    .await
    .unwrap();
    let gas = sim(&f.gas, Profile::Gas);
    gas.lock().unwrap().inject(yufu_sim::DeviceEvent::GasLeak);
    // (The simulated meter also locks its own valve, as real ones do; what
    // is checked here is the platform's side: alarm, command, hold.)
    let gas_runner = tokio::spawn(run_mqtt_meter(
        pf.mqtt,
        gas_token,
        Arc::clone(&gas),
        mqtt_opts(&rx2, String::new()),
    ));
    wait_for("a gas_leak alarm and the valve shut-off", 20, async || {
        let alarms = store.journal().meter_alarms(f.gas.id, 10).await.unwrap();
        let cmds = store.journal().meter_commands(f.gas.id, 10).await.unwrap();
        alarms.iter().any(|a| a.kind == "gas_leak")
            && cmds
                .iter()
                .any(|c| c.kind == "valve_close" && c.state == "acknowledged")
    })
    .await;
    let view = pf.writer.meter(f.gas.id).await.unwrap().unwrap();
    assert_eq!(view.safety_hold.as_deref(), Some("gas_leak"));
    assert!(
        pf.writer
            .account(f.account.id)
            .await
            .unwrap()
            .unwrap()
            .balance_fen
            > 0
    );

    stop2.send(true).unwrap();
    runner.await.unwrap();
    gas_runner.await.unwrap();
    pf.stop().await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepaid_cycle_over_the_embedded_mqtt_endpoint_sqlite() {
    over_embedded_mqtt(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepaid_cycle_over_the_embedded_mqtt_endpoint_postgres() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!(
            "!!! SKIPPED: YUFU_TEST_DATABASE_URL is not set; the PostgreSQL half did not run"
        );
        return;
    };
    over_embedded_mqtt(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepaid_cycle_over_dlt645_and_cjt188_tcp() {
    let db = TestDb::sqlite().await;
    let store = db.shared();
    let f = fleet(
        store.as_ref(),
        "tcp",
        MeterProtocol::Dlt645_2007,
        MeterProtocol::Cjt188,
    )
    .await;
    let pf = platform(Arc::clone(&store), None).await;
    pf.recharge(f.account.id, 500, "e2e-open").await;
    let (stop, rx) = watch::channel(false);
    let meter = sim(&f.electricity, Profile::Residential);
    let water = sim(&f.water, Profile::Water { night_leak: false });
    let mut opts = TcpOptions::new(rx.clone());
    opts.speed = 200_000;
    let e = tokio::spawn(run_tcp_meter(pf.tcp, Arc::clone(&meter), opts.clone()));
    // The water meter sends no registration packet: found by read-address.
    let mut wopts = TcpOptions::new(rx.clone());
    wopts.register = false;
    wopts.speed = 200_000;
    let w = tokio::spawn(run_tcp_meter(pf.tcp, Arc::clone(&water), wopts));
    prepaid_cycle(store.as_ref(), &pf, &f, &meter).await;
    // The water meter was polled and billed, and its valve followed the
    // cut-off and the reconnect.
    let cmds = store
        .journal()
        .meter_commands(f.water.id, 10)
        .await
        .unwrap();
    assert!(cmds.iter().any(|c| c.kind == "valve_close"), "{cmds:?}");
    wait_for("the water valve to reopen", 30, async || {
        supply(&water) == Supply::On
    })
    .await;
    stop.send(true).unwrap();
    let _ = e.await;
    let _ = w.await;
    pf.stop().await;
    db.finish().await;
}

/// Mosquitto on 127.0.0.1:1883 (CI starts it); skipped loudly otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepaid_cycle_over_an_external_mosquitto() {
    let broker = std::env::var("YUFU_TEST_MQTT_BROKER").unwrap_or_else(|_| "127.0.0.1:1883".into());
    let Ok(addr) = broker.parse::<SocketAddr>() else {
        panic!("YUFU_TEST_MQTT_BROKER '{broker}' is not host:port");
    };
    if TcpStream::connect(addr).await.is_err() {
        eprintln!("!!! SKIPPED: no MQTT broker on {broker}; the external-broker test did not run");
        return;
    }
    let db = TestDb::sqlite().await;
    let store = db.shared();
    let f = fleet(
        store.as_ref(),
        "ext",
        MeterProtocol::Mqtt,
        MeterProtocol::Mqtt,
    )
    .await;
    let group = format!("yufu-test-{}", std::process::id());
    let pf = platform(
        Arc::clone(&store),
        Some(yufu_gateway::external::BrokerConfig {
            addr: broker.clone(),
            client_id: group.clone(),
            username: None,
            password: None,
            group,
        }),
    )
    .await;
    // Let the subscription settle before devices publish.
    tokio::time::sleep(Duration::from_millis(500)).await;
    pf.recharge(f.account.id, 500, "e2e-open").await;
    let token = yufu_gateway::issue_token(
        store.as_ref(),
        f.account.organisation_id,
        Some(f.electricity.id),
        "E",
    )
    .await
    .unwrap();
    let (stop, rx) = watch::channel(false);
    let meter = sim(&f.electricity, Profile::Residential);
    let runner = tokio::spawn(run_mqtt_meter(
        addr,
        token.clone(),
        Arc::clone(&meter),
        mqtt_opts(&rx, format!("yufu/{token}/")),
    ));
    prepaid_cycle(store.as_ref(), &pf, &f, &meter).await;
    stop.send(true).unwrap();
    runner.await.unwrap();
    pf.stop().await;
    db.finish().await;
}

async fn mqtt_packet(stream: &mut TcpStream, buf: &mut BytesMut) -> yufu_mqtt::Packet {
    loop {
        if let Some(p) = yufu_mqtt::decode(buf, 1 << 16).unwrap() {
            return p;
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read_buf(buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed");
    }
}

async fn send(stream: &mut TcpStream, p: yufu_mqtt::Packet) {
    let mut out = BytesMut::new();
    yufu_mqtt::encode(&p, &mut out).unwrap();
    stream.write_all(&out).await.unwrap();
}

fn connect_packet(token: &str) -> yufu_mqtt::Packet {
    yufu_mqtt::Packet::Connect(yufu_mqtt::Connect {
        protocol: yufu_mqtt::Protocol::V311,
        client_id: "t".into(),
        keep_alive: 30,
        clean_session: true,
        username: Some(token.into()),
        password: None,
        will: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tokens_are_refused_and_bad_payloads_dropped_keeping_the_connection() {
    use yufu_mqtt::{ConnectReturnCode, Packet, Publish, QoS};
    let db = TestDb::sqlite().await;
    let store = db.shared();
    let f = fleet(
        store.as_ref(),
        "bad",
        MeterProtocol::Mqtt,
        MeterProtocol::Mqtt,
    )
    .await;
    let pf = platform(Arc::clone(&store), None).await;

    let mut s = TcpStream::connect(pf.mqtt).await.unwrap();
    let mut buf = BytesMut::new();
    send(&mut s, connect_packet("no-such-token")).await;
    match mqtt_packet(&mut s, &mut buf).await {
        Packet::ConnAck(a) => assert_eq!(a.code, ConnectReturnCode::NotAuthorized),
        other => panic!("{other:?}"),
    }
    let mut s = TcpStream::connect(pf.mqtt).await.unwrap();
    let mut buf = BytesMut::new();
    send(&mut s, connect_packet("")).await;
    match mqtt_packet(&mut s, &mut buf).await {
        Packet::ConnAck(a) => assert_eq!(a.code, ConnectReturnCode::BadUsernameOrPassword),
        other => panic!("{other:?}"),
    }

    let token = yufu_gateway::issue_token(
        store.as_ref(),
        f.account.organisation_id,
        Some(f.electricity.id),
        "E",
    )
    .await
    .unwrap();
    let mut s = TcpStream::connect(pf.mqtt).await.unwrap();
    let mut buf = BytesMut::new();
    send(&mut s, connect_packet(&token)).await;
    match mqtt_packet(&mut s, &mut buf).await {
        Packet::ConnAck(a) => assert_eq!(a.code, ConnectReturnCode::Accepted),
        other => panic!("{other:?}"),
    }
    let publish = |pkid: u16, payload: &str| {
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "v1/devices/me/telemetry".into(),
            pkid,
            payload: payload.as_bytes().to_vec().into(),
        })
    };
    // Not JSON, a bad value, then a good reading: all acknowledged in
    // order, the connection stays, and only the good one is stored.
    send(&mut s, publish(1, "{not json")).await;
    send(&mut s, publish(2, r#"{"energy_kwh": -3}"#)).await;
    send(
        &mut s,
        publish(
            3,
            r#"{"ts": 1767225600000, "values": {"energy_kwh": "12.345"}}"#,
        ),
    )
    .await;
    for want in 1..=3u16 {
        match mqtt_packet(&mut s, &mut buf).await {
            Packet::PubAck(id) => assert_eq!(id, want),
            other => panic!("{other:?}"),
        }
    }
    send(&mut s, Packet::PingReq).await;
    assert_eq!(mqtt_packet(&mut s, &mut buf).await, Packet::PingResp);
    let head = pf
        .writer
        .meter(f.electricity.id)
        .await
        .unwrap()
        .unwrap()
        .readings_head
        .unwrap();
    let rows = store.journal().reading_chain(head, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].register, 12_345);
    // Revoked (as the API does it): the next connection is refused.
    store
        .revoke_device_tokens(f.electricity.id, jiff::Timestamp::now().as_millisecond())
        .await
        .unwrap();
    pf.gateway.registry.forget_meter(f.electricity.id);
    let mut s2 = TcpStream::connect(pf.mqtt).await.unwrap();
    let mut buf2 = BytesMut::new();
    send(&mut s2, connect_packet(&token)).await;
    match mqtt_packet(&mut s2, &mut buf2).await {
        Packet::ConnAck(a) => assert_eq!(a.code, ConnectReturnCode::NotAuthorized),
        other => panic!("{other:?}"),
    }
    pf.stop().await;
    db.finish().await;
}

/// A concentrator on the gateway API: connects a meter by serial, uploads
/// its telemetry, and carries a trip to it and the answer back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_reports_for_its_meters_and_carries_their_commands() {
    use yufu_mqtt::{Packet, Publish, QoS, Subscribe};
    let db = TestDb::sqlite().await;
    let store = db.shared();
    let f = fleet(
        store.as_ref(),
        "gw",
        MeterProtocol::Mqtt,
        MeterProtocol::Mqtt,
    )
    .await;
    let pf = platform(Arc::clone(&store), None).await;
    pf.recharge(f.account.id, 100_000, "e2e-open").await;
    let token = yufu_gateway::issue_token(store.as_ref(), f.account.organisation_id, None, "DTU-1")
        .await
        .unwrap();
    let mut s = TcpStream::connect(pf.mqtt).await.unwrap();
    let mut buf = BytesMut::new();
    send(&mut s, connect_packet(&token)).await;
    assert!(matches!(
        mqtt_packet(&mut s, &mut buf).await,
        Packet::ConnAck(_)
    ));
    send(
        &mut s,
        Packet::Subscribe(Subscribe {
            pkid: 1,
            filters: vec![("v1/gateway/rpc".into(), QoS::AtLeastOnce)],
        }),
    )
    .await;
    assert!(matches!(
        mqtt_packet(&mut s, &mut buf).await,
        Packet::SubAck(_)
    ));
    let serial = f.electricity.serial.as_str().to_owned();
    let publish = |pkid: u16, topic: &str, payload: String| {
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: topic.into(),
            pkid,
            payload: payload.into_bytes().into(),
        })
    };
    send(
        &mut s,
        publish(
            2,
            "v1/gateway/connect",
            format!(r#"{{"device":"{serial}"}}"#),
        ),
    )
    .await;
    let now = jiff::Timestamp::now().as_millisecond();
    send(
        &mut s,
        publish(
            3,
            "v1/gateway/telemetry",
            format!(
                r#"{{"{serial}":[{{"ts":{},"values":{{"energy_kwh":"10.000"}}}},{{"ts":{now},"values":{{"energy_kwh":"12.500"}}}}],"NO-SUCH-METER":{{"energy_kwh":1}}}}"#,
                now - 3_600_000
            ),
        ),
    )
    .await;
    for want in [2u16, 3] {
        assert_eq!(mqtt_packet(&mut s, &mut buf).await, Packet::PubAck(want));
    }
    let head = pf
        .writer
        .meter(f.electricity.id)
        .await
        .unwrap()
        .unwrap()
        .readings_head
        .unwrap();
    let rows = store.journal().reading_chain(head, 10).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.register).collect::<Vec<_>>(),
        vec![12_500, 10_000]
    );
    assert_eq!(rows[0].verdict, "billed");
    // A trip goes through the gateway and its answer comes back.
    pf.writer
        .queue_command(
            f.electricity.id,
            yufu_domain::command::CommandKind::Trip,
            "operator".into(),
        )
        .await
        .unwrap();
    let request = loop {
        match mqtt_packet(&mut s, &mut buf).await {
            Packet::Publish(p) if p.topic == "v1/gateway/rpc" => break p,
            _ => {}
        }
    };
    let (device, rpc) = yufu_devapi::RpcRequest::parse_gateway(&request.payload).unwrap();
    assert_eq!(device, serial);
    assert_eq!(
        yufu_devapi::MeterCommand::from_request(&rpc).unwrap(),
        yufu_devapi::MeterCommand::TRIP
    );
    send(
        &mut s,
        publish(
            4,
            "v1/gateway/rpc",
            format!(
                r#"{{"device":"{serial}","id":{},"data":{{"ok":true}}}}"#,
                rpc.id
            ),
        ),
    )
    .await;
    wait_for(
        "the trip to be acknowledged through the gateway",
        10,
        async || {
            store
                .journal()
                .meter_commands(f.electricity.id, 5)
                .await
                .unwrap()
                .iter()
                .any(|c| c.kind == "trip" && c.state == "acknowledged")
        },
    )
    .await;
    let c = pf.gateway.presence.view(f.electricity.id).unwrap();
    assert_eq!(c.via, Some(yufu_gateway::Transport::MqttGateway));
    pf.stop().await;
    db.finish().await;
}
