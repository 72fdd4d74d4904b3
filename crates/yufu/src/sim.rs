//! `yufu sim` and the demo's live fleet: simulated meters (crate
//! `yufu-sim`) reporting to Yufu over real sockets — the MQTT device API
//! with access tokens, or DL/T 645 / CJ/T 188 over TCP.
//!
//! The fleet is the organisation's meters in service. Each simulated meter
//! starts from its last stored reading, so a restart never runs a register
//! backwards. MQTT tokens are issued once and kept in
//! `{data dir}/sim-tokens.json` (only their hashes are in the database).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;
use yufu_domain::{CustomerClass, Meter, MeterProtocol, MeterStatus, OrganisationId, Utility};
use yufu_sim::mqtt::{MqttOptions, run_mqtt_meter};
use yufu_sim::{FaultRates, Profile, SimMeter, TcpOptions, run_tcp_meter};
use yufu_store::Store;

/// How the simulated meters reach Yufu.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    /// The MQTT device API (ThingsBoard compatible).
    Mqtt,
    /// DL/T 645 (electricity) and CJ/T 188 (water, gas) over TCP.
    Dlt645,
}

/// What a simulation run needs besides the fleet.
#[derive(Clone, Debug)]
pub struct SimSettings {
    pub interval: Duration,
    pub speed: u32,
    pub faults: FaultRates,
    /// Prefix topics with `yufu/{token}/` (an external broker's mapping).
    pub mapped_topics: bool,
    /// Local source addresses to spread connections over (127.0.0.x).
    pub sources: Vec<IpAddr>,
}

/// A meter of the fleet and where its register stands.
#[derive(Clone, Debug)]
pub struct FleetMeter {
    pub meter: Meter,
    pub commercial: bool,
    pub register: u64,
}

/// The organisation's meters in service (all organisations if `None`), at
/// most `limit`.
pub async fn load_fleet(
    store: &dyn Store,
    org: Option<OrganisationId>,
    limit: usize,
) -> anyhow::Result<Vec<FleetMeter>> {
    let mut orgs = Vec::new();
    match org {
        Some(o) => orgs.push(o),
        None => {
            let mut page = yufu_store::Page::first(yufu_store::Page::MAX_LIMIT);
            loop {
                let found = store.list_organisations(&page).await?;
                let Some(last) = found.last() else { break };
                page = yufu_store::Page::after(last.id, yufu_store::Page::MAX_LIMIT);
                orgs.extend(found.iter().map(|o| o.id));
            }
        }
    }
    let mut classes: HashMap<yufu_domain::AccountId, bool> = HashMap::new();
    let mut fleet = Vec::new();
    for org in orgs {
        let filter = yufu_store::MeterFilter {
            status: Some(MeterStatus::InService),
            ..Default::default()
        };
        let mut page = yufu_store::Page::first(yufu_store::Page::MAX_LIMIT);
        loop {
            let meters = store.list_meters(org, &filter, &page).await?;
            let Some(last) = meters.last() else { break };
            page = yufu_store::Page::after(last.id, yufu_store::Page::MAX_LIMIT);
            for m in meters {
                if fleet.len() >= limit {
                    return Ok(fleet);
                }
                let commercial = match m.account_id {
                    Some(a) => match classes.get(&a) {
                        Some(c) => *c,
                        None => {
                            let c = matches!(
                                store.get_account(a).await?.class,
                                CustomerClass::Commercial | CustomerClass::Industrial
                            );
                            classes.insert(a, c);
                            c
                        }
                    },
                    None => false,
                };
                fleet.push(FleetMeter {
                    meter: m,
                    commercial,
                    register: 0,
                });
            }
        }
    }
    Ok(fleet)
}

/// Sets each meter's register to its last stored reading (in-process).
pub async fn continue_from_store(
    store: &dyn Store,
    writer: &yufu_writer::Writer,
    fleet: &mut [FleetMeter],
) -> anyhow::Result<()> {
    for f in fleet {
        if let Some(head) = writer
            .meter(f.meter.id)
            .await?
            .and_then(|v| v.readings_head)
        {
            let rows = store.journal().reading_chain(head, 1).await?;
            if let Some(r) = rows.first() {
                f.register = u64::try_from(r.register).unwrap_or(0);
            }
        }
    }
    Ok(())
}

/// Sets each meter's register to its last reading as the running server's
/// API reports it (`yufu sim` is a separate process).
pub async fn continue_from_api(api: SocketAddr, fleet: &mut [FleetMeter]) -> anyhow::Result<()> {
    for f in fleet {
        let path = format!("/api/v1/meters/{}/readings?limit=1", f.meter.id);
        let body = http_get(api, &path).await?;
        let v: serde_json::Value = serde_json::from_str(&body)
            .with_context(|| format!("unexpected answer from {api}{path}"))?;
        if let Some(r) = v
            .get("readings")
            .and_then(|r| r.get(0))
            .and_then(|r| r.get("register"))
            .and_then(serde_json::Value::as_u64)
        {
            f.register = r;
        }
    }
    Ok(())
}

/// A minimal HTTP/1.1 GET on loopback (no client library needed for one
/// call per meter at start-up).
async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| {
            format!("cannot reach Yufu's API at {addr} (is `yufu serve` running? set --api)")
        })?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") {
        anyhow::bail!("{path}: {}", head.lines().next().unwrap_or(""));
    }
    Ok(body.to_owned())
}

fn profile_for(f: &FleetMeter, i: usize) -> Profile {
    match f.meter.utility {
        Utility::Electricity if f.commercial => Profile::Commercial,
        Utility::Electricity => Profile::Residential,
        // One water meter in seven has a leak at night (a dripping tap).
        Utility::Water => Profile::Water {
            night_leak: i % 7 == 3,
        },
        Utility::Gas => Profile::Gas,
    }
}

fn sim_meter(f: &FleetMeter, i: usize) -> anyhow::Result<SimMeter> {
    let seed = yufu_sim::mix(u64::try_from(i).unwrap_or(0) ^ 0x5955_4655);
    let mut m = SimMeter::new(
        f.meter.serial.as_str(),
        f.meter.comm_address.as_str(),
        profile_for(f, i),
        seed,
        jiff::Timestamp::now(),
    )
    .map_err(|e| anyhow::anyhow!("meter {}: {e}", f.meter.serial))?;
    m.register = f.register;
    Ok(m)
}

/// Tokens kept between runs, by meter serial.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct TokenFile {
    tokens: HashMap<String, String>,
}

/// A valid token for every MQTT meter: reused from the file when the
/// database still knows it, issued (and saved) otherwise.
pub async fn tokens(
    store: &dyn Store,
    file: &Path,
    fleet: &[FleetMeter],
) -> anyhow::Result<HashMap<String, String>> {
    let mut kept: TokenFile = std::fs::read_to_string(file)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut changed = false;
    for f in fleet {
        let serial = f.meter.serial.as_str().to_owned();
        let valid = match kept.tokens.get(&serial) {
            Some(t) => store
                .find_device_token(&yufu_gateway::hash_token(t))
                .await?
                .is_some_and(|row| row.meter_id == Some(f.meter.id)),
            None => false,
        };
        if !valid {
            let t = yufu_gateway::issue_token(
                store,
                f.meter.organisation_id,
                Some(f.meter.id),
                &serial,
            )
            .await?;
            kept.tokens.insert(serial, t);
            changed = true;
        }
    }
    if changed {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).ok();
        }
        std::fs::write(file, serde_json::to_string_pretty(&kept)?)
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(kept.tokens)
}

/// The running simulation.
#[derive(Debug)]
pub struct Running {
    pub mqtt: usize,
    pub tcp: usize,
    pub meters: Vec<(String, Arc<Mutex<SimMeter>>)>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Tells every meter to stop and waits up to two seconds in all; the
    /// rest are aborted.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        for t in self.tasks {
            let abort = t.abort_handle();
            if tokio::time::timeout_at(deadline, t).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// Starts one task per meter: `mqtt` meters on the MQTT endpoint, the rest
/// on the TCP gateway.
pub fn start(
    fleet: &[FleetMeter],
    use_mqtt: impl Fn(&FleetMeter) -> bool,
    tokens: &HashMap<String, String>,
    mqtt_target: SocketAddr,
    tcp_target: SocketAddr,
    settings: &SimSettings,
) -> anyhow::Result<Running> {
    let (shutdown, rx) = watch::channel(false);
    let mut running = Running {
        mqtt: 0,
        tcp: 0,
        meters: Vec::new(),
        shutdown,
        tasks: Vec::new(),
    };
    for (i, f) in fleet.iter().enumerate() {
        let meter = Arc::new(Mutex::new(sim_meter(f, i)?));
        running
            .meters
            .push((f.meter.serial.as_str().to_owned(), Arc::clone(&meter)));
        let fault_seed = yufu_sim::mix(u64::try_from(i).unwrap_or(0).wrapping_add(77));
        // Behind current transformers the register sees 1/multiplier of
        // the premises' consumption.
        let speed = (settings.speed / f.meter.multiplier.get()).max(1);
        if use_mqtt(f) {
            let token = tokens
                .get(f.meter.serial.as_str())
                .cloned()
                .with_context(|| format!("no token for {}", f.meter.serial))?;
            let opts = MqttOptions {
                interval: settings.interval,
                speed,
                faults: settings.faults,
                fault_seed,
                qos: yufu_mqtt::QoS::AtLeastOnce,
                prefix: if settings.mapped_topics {
                    format!("yufu/{token}/")
                } else {
                    String::new()
                },
                source: (!settings.sources.is_empty())
                    .then(|| settings.sources[i % settings.sources.len()]),
                shutdown: rx.clone(),
            };
            let serial = f.meter.serial.as_str().to_owned();
            running.tasks.push(tokio::spawn(async move {
                let stats = run_mqtt_meter(mqtt_target, token, meter, opts).await;
                if stats.refused {
                    tracing::error!(%serial, "Yufu refused this meter's token");
                }
            }));
            running.mqtt += 1;
        } else {
            let mut opts = TcpOptions::new(rx.clone());
            opts.speed = speed;
            opts.faults = settings.faults;
            opts.fault_seed = fault_seed;
            let serial = f.meter.serial.as_str().to_owned();
            running.tasks.push(tokio::spawn(async move {
                if let Err(e) = run_tcp_meter(tcp_target, meter, opts).await {
                    tracing::error!(%serial, error = %e, "simulated meter stopped");
                }
            }));
            running.tcp += 1;
        }
    }
    Ok(running)
}

/// Only meters whose protocol the TCP gateway speaks can go over TCP.
pub fn speaks_tcp(f: &FleetMeter) -> bool {
    matches!(
        f.meter.protocol,
        MeterProtocol::Dlt645_2007 | MeterProtocol::Cjt188
    )
}

/// `yufu demo`'s live fleet: residential electricity and gas over MQTT,
/// commercial electricity (DL/T 645) and water (CJ/T 188) over TCP,
/// consuming a day in two minutes; and a demo cashier who tops up an
/// account that stayed cut off for a minute, so a newcomer sees readings,
/// falling balances, a cut-off and a reconnect within minutes.
pub async fn start_demo(
    store: Arc<dyn Store>,
    writer: yufu_writer::Writer,
    org: OrganisationId,
    data_dir: PathBuf,
    mqtt: SocketAddr,
    tcp: SocketAddr,
) -> anyhow::Result<Running> {
    let mut fleet = load_fleet(store.as_ref(), Some(org), usize::MAX).await?;
    continue_from_store(store.as_ref(), &writer, &mut fleet).await?;
    let over_mqtt =
        |f: &FleetMeter| !speaks_tcp(f) || (f.meter.utility != Utility::Water && !f.commercial);
    let mqtt_fleet: Vec<FleetMeter> = fleet.iter().filter(|f| over_mqtt(f)).cloned().collect();
    let tokens = tokens(
        store.as_ref(),
        &data_dir.join("sim-tokens.json"),
        &mqtt_fleet,
    )
    .await?;
    let settings = SimSettings {
        interval: Duration::from_secs(5),
        speed: DEMO_SPEED,
        faults: DEMO_FAULTS.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
        mapped_topics: false,
        sources: Vec::new(),
    };
    let mut running = start(&fleet, over_mqtt, &tokens, mqtt, tcp, &settings)?;
    let rx = running.shutdown.subscribe();
    running
        .tasks
        .push(tokio::spawn(demo_cashier(store, writer, org, rx)));
    Ok(running)
}

/// A day of consumption in two minutes.
pub const DEMO_SPEED: u32 = 720;
/// Faults the demo shows now and then.
pub const DEMO_FAULTS: &str =
    "drop=0.01,duplicate=0.01,out_of_order=0.005,late_burst=0.002,tamper=0.0005,gas_leak=0.0002";

async fn demo_cashier(
    store: Arc<dyn Store>,
    writer: yufu_writer::Writer,
    org: OrganisationId,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut off_since: HashMap<yufu_domain::AccountId, std::time::Instant> = HashMap::new();
    let mut topups: u64 = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            _ = shutdown.changed() => return,
        }
        let Ok(accounts) = store
            .list_accounts(org, &yufu_store::Page::first(yufu_store::Page::MAX_LIMIT))
            .await
        else {
            continue;
        };
        for a in accounts {
            let Ok(Some(view)) = writer.account(a.id).await else {
                continue;
            };
            if view.supply != yufu_domain::balance::Supply::Off {
                off_since.remove(&a.id);
                continue;
            }
            let since = *off_since
                .entry(a.id)
                .or_insert_with(std::time::Instant::now);
            if since.elapsed() < Duration::from_secs(60) {
                continue;
            }
            topups += 1;
            let amount = match a.class {
                CustomerClass::Commercial | CustomerClass::Industrial => 50_000,
                _ => 5_000,
            };
            let req = yufu_engine::RechargeIn {
                account: a.id,
                amount: yufu_domain::Fen(amount),
                channel: "demo".into(),
                reference: "demo cashier top-up".into(),
                key: format!("demo-topup-{}-{}", a.id, jiff::Timestamp::now().as_second()),
            };
            match writer.recharge(req).await {
                Ok(_) => {
                    tracing::info!(account = %a.number, topups, "demo cashier: top-up after a cut-off")
                }
                Err(e) => tracing::warn!(account = %a.number, error = %e, "demo top-up failed"),
            }
            off_since.remove(&a.id);
        }
    }
}

/// `yufu sim` arguments.
#[derive(Debug, Clone)]
pub struct SimArgs {
    pub meters: usize,
    pub via: Via,
    pub target: Option<String>,
    pub api: Option<SocketAddr>,
    pub interval: Duration,
    pub speed: u32,
    pub faults: String,
    pub mapped_topics: bool,
    pub duration: Option<Duration>,
}

/// `yufu sim`: the database's meters in service, reporting to a running
/// Yufu until Ctrl-C (or `--duration`).
#[allow(clippy::print_stdout)]
pub async fn command(config: crate::config::Config, args: SimArgs) -> anyhow::Result<()> {
    if args.meters == 0 {
        anyhow::bail!("--meters must be at least 1");
    }
    if args.speed == 0 {
        anyhow::bail!("--speed must be at least 1");
    }
    let faults: FaultRates = args
        .faults
        .parse()
        .map_err(|e| anyhow::anyhow!("--faults: {e}"))?;
    let store = crate::run::open_store(&config).await?;
    let mut fleet = load_fleet(store.as_ref(), None, args.meters).await?;
    if args.via == Via::Dlt645 {
        fleet.retain(speaks_tcp);
    }
    if fleet.is_empty() {
        anyhow::bail!(
            "no meters in service in {} to simulate (run `yufu demo` once to seed a fleet)",
            config.database
        );
    }
    let api = args.api.unwrap_or(config.http_addr);
    continue_from_api(api, &mut fleet).await?;
    let default_target = match args.via {
        Via::Mqtt => config.mqtt_addr,
        Via::Dlt645 => config.dlt645_addr,
    };
    let target: SocketAddr = match &args.target {
        Some(t) => tokio::net::lookup_host(t.as_str())
            .await
            .with_context(|| format!("--target {t}: not an address"))?
            .next()
            .with_context(|| format!("--target {t}: no address"))?,
        None => default_target,
    };
    let tokens = match args.via {
        Via::Mqtt => {
            tokens(
                store.as_ref(),
                &config.data_dir.join("sim-tokens.json"),
                &fleet,
            )
            .await?
        }
        Via::Dlt645 => HashMap::new(),
    };
    store.close().await;
    let settings = SimSettings {
        interval: args.interval,
        speed: args.speed,
        faults,
        mapped_topics: args.mapped_topics,
        sources: Vec::new(),
    };
    let via = args.via;
    let running = start(
        &fleet,
        |_| via == Via::Mqtt,
        &tokens,
        target,
        target,
        &settings,
    )?;
    println!(
        "simulating {} meters over {:?} to {target} (every {:?}, speed ×{}); Ctrl-C to stop",
        fleet.len(),
        args.via,
        args.interval,
        args.speed
    );
    match args.duration {
        Some(d) => tokio::time::sleep(d).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    running.stop().await;
    Ok(())
}

/// `yufu device token SERIAL`.
#[allow(clippy::print_stdout)]
pub async fn device_token(config: crate::config::Config, serial: &str) -> anyhow::Result<()> {
    let store = crate::run::open_store(&config).await?;
    let parsed: yufu_domain::MeterSerial = serial
        .parse()
        .map_err(|e: yufu_domain::DomainError| anyhow::anyhow!("{e}"))?;
    let mut found = None;
    let mut page = yufu_store::Page::first(yufu_store::Page::MAX_LIMIT);
    loop {
        let orgs = store.list_organisations(&page).await?;
        let Some(last) = orgs.last() else { break };
        page = yufu_store::Page::after(last.id, yufu_store::Page::MAX_LIMIT);
        for o in &orgs {
            if let Some(m) = store.find_meter_by_serial(o.id, &parsed).await? {
                found = Some(m);
            }
        }
    }
    let meter = found.with_context(|| format!("no meter with serial {serial}"))?;
    let token = yufu_gateway::issue_token(
        store.as_ref(),
        meter.organisation_id,
        Some(meter.id),
        serial,
    )
    .await?;
    store.close().await;
    println!("{token}");
    Ok(())
}

/// `yufu device gateway-token NAME`.
#[allow(clippy::print_stdout)]
pub async fn gateway_token(
    config: crate::config::Config,
    name: &str,
    organisation: Option<&str>,
) -> anyhow::Result<()> {
    let store = crate::run::open_store(&config).await?;
    let org = match organisation {
        Some(o) => o
            .parse::<OrganisationId>()
            .map_err(|e| anyhow::anyhow!("--organisation: {e}"))?,
        None => {
            let orgs = store
                .list_organisations(&yufu_store::Page::first(2))
                .await?;
            match orgs.as_slice() {
                [one] => one.id,
                [] => anyhow::bail!("no organisation yet"),
                _ => anyhow::bail!("several organisations: pass --organisation ID"),
            }
        }
    };
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        anyhow::bail!("the gateway name must be 1–100 characters");
    }
    let token = yufu_gateway::issue_token(store.as_ref(), org, None, name).await?;
    store.close().await;
    println!("{token}");
    Ok(())
}
